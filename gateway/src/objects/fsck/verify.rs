//! Reading a blob end to end through a verified reader (`--deep`), and holding a blob in
//! use while it is looked at.

use md5::Digest;
use vmgw_tiering::{DataId, DataReader, TierError};

use super::inventory::Inventory;
use super::{BlobUse, Owner};
use crate::meta::ObjectRecord;
use crate::objects::ObjectService;
use crate::objects::activity::Activity;
use crate::objects::error::ObjectResult;
use crate::objects::pins::PinGuard;

/// Bytes read per step: one chunk of the at-rest format.
const STEP: usize = 1 << 20;

/// What reading a blob found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Every byte verified; this many.
    Intact(u64),
    /// A chunk failed its checksum or tag, or the length or MD5 is not what was written.
    Damaged(String),
    /// Sealed with a key the tier lacks.
    KeyMissing(String),
    Missing,
    /// The tier cannot be reached now.
    Unavailable(String),
}

fn verdict_of(e: TierError) -> Verdict {
    match e {
        TierError::NotFound(_) => Verdict::Missing,
        TierError::KeyUnavailable { .. } => Verdict::KeyMissing(e.to_string()),
        TierError::Unavailable { reason, .. } => Verdict::Unavailable(reason),
        // Corrupt, out of range, and I/O errors reading the bytes back all mean the tier
        // does not give back what was written.
        other => Verdict::Damaged(other.to_string()),
    }
}

/// Reads everything `opened` holds, checking its length against `size` and its MD5
/// against `md5`. With `activity`, it gives way to requests being served as moves do (small
/// steps at a modest pace while clients are busy): a deep check reads everything, and must
/// not take the host's disks and cores from its guests. Blocking.
pub(super) fn read_through(
    opened: Result<Box<dyn DataReader>, TierError>,
    size: u64,
    md5: Option<&[u8; 16]>,
    activity: Option<&Activity>,
) -> Verdict {
    let mut reader = match opened {
        Ok(reader) => reader,
        Err(e) => return verdict_of(e),
    };
    if reader.len() != size {
        return Verdict::Damaged(format!(
            "holds {} bytes, the metadata says {size}",
            reader.len()
        ));
    }
    let mut digest = md5.map(|_| md5::Md5::new());
    let mut offset = 0;
    while offset < size {
        let step = activity.map_or(STEP, Activity::move_step);
        match reader.read_at(offset, step) {
            Ok(bytes) => {
                if let Some(digest) = digest.as_mut() {
                    digest.update(&bytes);
                }
                offset += bytes.len() as u64;
                if let Some(activity) = activity {
                    activity.pace(bytes.len());
                }
            }
            Err(e) => return verdict_of(e),
        }
    }
    if let (Some(digest), Some(expected)) = (digest, md5) {
        let got = digest.finalize();
        if got.as_slice() != expected {
            return Verdict::Damaged(format!(
                "every chunk verifies but the MD5 is {}, not the ETag's {}",
                crate::objects::hex(&got),
                crate::objects::hex(expected)
            ));
        }
    }
    Verdict::Intact(size)
}

/// While held, the blob stays on its tier (reclamation waits for the pin).
pub(super) struct Held {
    pub _pin: PinGuard,
    /// The record of the object version the blob belongs to, if it belongs to one.
    pub record: Option<ObjectRecord>,
}

/// Pins blob `id` if its user still uses it now; `None` when the object or upload changed
/// since the snapshot (the blob may be gone for a good reason). Blocking.
pub(super) fn hold(
    service: &ObjectService,
    inventory: &Inventory,
    id: DataId,
    blob: &BlobUse,
) -> ObjectResult<Option<Held>> {
    match &blob.owner {
        Owner::Object {
            bucket_id,
            key,
            version,
            ..
        } => {
            let Some(bucket) = inventory.buckets.get(bucket_id) else {
                return Ok(None);
            };
            // The version the snapshot saw, current or not.
            match service.open_numbered(bucket, key, *version)? {
                Some((record, layout, pin)) if layout.blobs().any(|b| b.id == id) => {
                    Ok(Some(Held {
                        _pin: pin,
                        record: Some(record),
                    }))
                }
                _ => Ok(None),
            }
        }
        Owner::Part {
            upload_id, number, ..
        } => {
            // Pinned first, then looked up: a part still there after the pin stays.
            let pin = service.pins.pin([id]);
            let parts = service.meta().parts(upload_id, number - 1, 1)?;
            let current = parts
                .first()
                .is_some_and(|(n, part)| n == number && part.blob.id == id);
            Ok(current.then_some(Held {
                _pin: pin,
                record: None,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmgw_tiering::{LocalTier, LocalTierOptions, Tier};

    #[test]
    fn verdicts_for_intact_damaged_and_missing_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let tier = LocalTier::open("ssd", dir.path(), LocalTierOptions::default()).unwrap();
        let data = vec![3u8; 2_500_000];
        let id = DataId::random();
        let mut w = tier.create(id).unwrap();
        w.write(&data).unwrap();
        w.finish().unwrap();
        let md5: [u8; 16] = md5::Md5::digest(&data).into();
        let size = data.len() as u64;
        assert_eq!(
            read_through(tier.open(id), size, Some(&md5), None),
            Verdict::Intact(size)
        );
        assert!(matches!(
            read_through(tier.open(id), size, Some(&[0; 16]), None),
            Verdict::Damaged(reason) if reason.contains("MD5")
        ));
        assert!(matches!(
            read_through(tier.open(id), 5, None, None),
            Verdict::Damaged(_)
        ));
        let path = tier.path_of(id);
        let mut stored = std::fs::read(&path).unwrap();
        stored[1_500_000] ^= 1;
        std::fs::write(&path, stored).unwrap();
        assert!(matches!(
            read_through(tier.open(id), size, None, None),
            Verdict::Damaged(reason) if reason.contains("checksum")
        ));
        tier.remove(id).unwrap();
        assert_eq!(
            read_through(tier.open(id), size, None, None),
            Verdict::Missing
        );
    }
}
