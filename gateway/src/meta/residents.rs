//! The objects whose bytes are on a given tier, with when each was last read: what the
//! demoter chooses from.
//!
//! One pass over `objects`, with a point lookup of each layout and of each last read. It
//! runs only while a tier is over its high watermark, on the demoter's task, and decodes
//! no more of each record than it needs (inline data is skipped, not copied).

use redb::{ReadTransaction, ReadableTable};
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::records::{self, BlobRef};
use super::redb_store::tables;
use super::{MetaError, keys};

/// An object with bytes on the tier asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resident {
    pub bucket_id: u64,
    pub key: String,
    /// When the object was last read, or written if later (ms since the epoch).
    pub last_read_ms: i64,
    /// Payload bytes of its blobs on the tier.
    pub bytes: u64,
}

/// The fields of an object record that locate its layout and date it.
#[derive(Deserialize)]
struct Dated {
    version: u128,
    modified_ms: i64,
}

/// A `Layout` as stored, decoded only as far as its blobs.
#[derive(Deserialize)]
enum LayoutBlobs {
    Inline(IgnoredAny),
    Blob(BlobRef),
    Parts(Vec<PartBlob>),
}

#[derive(Deserialize)]
struct PartBlob {
    blob: BlobRef,
}

fn storage(e: impl std::fmt::Display) -> MetaError {
    MetaError::Storage(e.to_string())
}

fn corrupt(e: impl std::fmt::Display) -> MetaError {
    MetaError::Corrupt(e.to_string())
}

/// Bytes of `layout` stored on `tier`.
fn bytes_on(layout: &LayoutBlobs, tier: &str) -> u64 {
    match layout {
        LayoutBlobs::Inline(_) => 0,
        LayoutBlobs::Blob(blob) => {
            if blob.tier == tier {
                blob.size
            } else {
                0
            }
        }
        LayoutBlobs::Parts(parts) => parts
            .iter()
            .filter(|p| p.blob.tier == tier)
            .map(|p| p.blob.size)
            .sum(),
    }
}

pub(super) fn for_each_resident(
    txn: &ReadTransaction,
    tier: &str,
    visit: &mut dyn FnMut(Resident),
) -> Result<(), MetaError> {
    let objects = txn.open_table(tables::OBJECTS).map_err(storage)?;
    let layouts = txn.open_table(tables::LAYOUTS).map_err(storage)?;
    let reads = txn.open_table(tables::READS).map_err(storage)?;
    for entry in objects.iter().map_err(storage)? {
        let (okey, raw) = entry.map_err(storage)?;
        let dated: Dated = records::decode(raw.value()).map_err(corrupt)?;
        let Some(raw_layout) = layouts.get(dated.version).map_err(storage)? else {
            continue;
        };
        let layout: LayoutBlobs = records::decode(raw_layout.value()).map_err(corrupt)?;
        let bytes = bytes_on(&layout, tier);
        if bytes == 0 {
            continue;
        }
        let okey = okey.value();
        let read = reads.get(okey).map_err(storage)?.map(|r| r.value());
        let bucket_id = u64::from_be_bytes(okey[..8].try_into().map_err(corrupt)?);
        let key = String::from_utf8_lossy(keys::object_name(okey)).into_owned();
        visit(Resident {
            bucket_id,
            key,
            // A write counts as a read: an object never read is as cold as its age.
            last_read_ms: read.map_or(dated.modified_ms, |r| r.max(dated.modified_ms)),
            bytes,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::{Layout, PartLayout};
    use vmgw_tiering::DataId;

    fn blob(tier: &str, size: u64) -> BlobRef {
        BlobRef {
            id: DataId::random(),
            tier: tier.into(),
            size,
        }
    }

    #[test]
    fn layouts_decode_as_far_as_their_blobs() {
        let decode =
            |layout: &Layout| -> LayoutBlobs { records::decode(&records::encode(layout)).unwrap() };
        let inline = Layout::Inline {
            data: vec![1; 1000],
            crc32c: 5,
        };
        assert_eq!(bytes_on(&decode(&inline), "ssd"), 0);
        let single = Layout::Blob(blob("ssd", 77));
        assert_eq!(bytes_on(&decode(&single), "ssd"), 77);
        assert_eq!(bytes_on(&decode(&single), "hdd"), 0);
        let parts = Layout::Parts(
            [("ssd", 10), ("hdd", 20), ("ssd", 30)]
                .into_iter()
                .enumerate()
                .map(|(i, (tier, size))| PartLayout {
                    number: i as u32 + 1,
                    blob: blob(tier, size),
                    etag: "e".into(),
                    checksum: Some("c".into()),
                })
                .collect(),
        );
        assert_eq!(bytes_on(&decode(&parts), "ssd"), 40);
        assert_eq!(bytes_on(&decode(&parts), "hdd"), 20);
    }
}
