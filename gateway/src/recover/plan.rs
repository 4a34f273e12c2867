//! The pure part of recovery: what becomes of each object, given the backup's metadata and
//! what the surviving (remote) tiers hold.
//!
//! - An object of the backup whose every blob is on a surviving tier and there, or whose
//!   bytes are inline in the metadata, is kept.
//! - One with a blob on a tier that did not survive (the lost host's local disks) is lost.
//! - One whose blobs were all remote but are not all there any more is gone (deleted or
//!   overwritten after the backup).
//! - Remote blobs the backup does not know describe themselves: complete sets of them
//!   (every part of a multipart object, by the record's part count and contiguous
//!   offsets) are candidates to rebuild an object from — objects written to, or moved to,
//!   the remote tier after the backup, or everything when there is no backup at all.
//! - Per key, the newest version wins. A candidate at least as new as a lost or gone object
//!   replaces it (a move to the remote after the backup keeps the version: that object is
//!   not lost). A newer version that cannot be recovered is reported lost even when an older
//!   remote copy exists; the older copy is kept aside, never served as if it were current.
//! - Remote blobs that end up unused are fragments: kept in the quarantine area, never
//!   deleted by recovery.

use std::collections::{BTreeMap, HashSet};

use vmgw_tiering::DataId;

use crate::meta::{BlobRef, Layout, ObjectRecord, PartLayout};
use crate::objects::BlobDescriptor;

/// What becomes of an object of the backup on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Keep,
    /// Bytes on a tier that did not survive.
    Lost,
    /// Bytes all on surviving tiers, but not all there.
    Gone,
}

/// The fate of an object with `layout` (`None`: the backup has no layout for it).
pub fn fate_of(
    layout: Option<&Layout>,
    survives: &dyn Fn(&str) -> bool,
    present: &HashSet<DataId>,
) -> Fate {
    let Some(layout) = layout else {
        return Fate::Gone;
    };
    let mut fate = Fate::Keep;
    for blob in layout.blobs() {
        if !survives(&blob.tier) {
            return Fate::Lost;
        }
        if !present.contains(&blob.id) {
            fate = Fate::Gone;
        }
    }
    fate
}

/// A remote blob the backup does not know, with its self-description.
#[derive(Debug, Clone)]
pub struct Described {
    pub id: DataId,
    pub tier: String,
    /// `None`: it has no descriptor, or one that does not decode.
    pub descriptor: Option<BlobDescriptor>,
}

/// A complete set of remote blobs describing one version of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub bucket: String,
    pub key: String,
    pub record: ObjectRecord,
    /// For a single-blob object, one blob; for a multipart one, its parts in order.
    pub blobs: Vec<CandidateBlob>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateBlob {
    pub id: DataId,
    pub tier: String,
    pub part: Option<u32>,
    pub offset: u64,
    /// Payload bytes, from the offsets and the object's size.
    pub size: u64,
}

/// A remote blob recovery does not use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    pub id: DataId,
    pub tier: String,
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub reason: String,
}

impl Fragment {
    fn of(blob: &Described, reason: impl Into<String>) -> Self {
        let (bucket, key) = blob
            .descriptor
            .as_ref()
            .map(|d| (Some(d.bucket.clone()), Some(d.key.clone())))
            .unwrap_or_default();
        Self {
            id: blob.id,
            tier: blob.tier.clone(),
            bucket,
            key,
            reason: reason.into(),
        }
    }
}

/// Described blobs by (bucket, key), then by version.
type Groups = BTreeMap<(String, String), BTreeMap<u128, (ObjectRecord, Vec<Described>)>>;

/// What the described blobs add up to.
#[derive(Debug, Default)]
pub struct Assembled {
    /// The newest complete version of each key.
    pub candidates: Vec<Candidate>,
    /// The other complete versions, newest first per key: noncurrent versions of a
    /// versioned bucket, or leftovers of overwrites (see `reconcile`).
    pub older: Vec<Candidate>,
    /// Blobs that make no complete version.
    pub fragments: Vec<Fragment>,
}

/// Groups described blobs into complete objects; the rest are fragments. Of several
/// complete versions of one key, the newest is the candidate and the others are older.
pub fn assemble(described: Vec<Described>) -> Assembled {
    let mut fragments = Vec::new();
    let mut groups = Groups::new();
    for blob in described {
        let Some(descriptor) = &blob.descriptor else {
            fragments.push(Fragment::of(&blob, "it carries no readable descriptor"));
            continue;
        };
        if descriptor.upload_id.is_some() {
            fragments.push(Fragment::of(
                &blob,
                "a part of a multipart upload never completed",
            ));
            continue;
        }
        let Some(record) = descriptor.object.clone() else {
            fragments.push(Fragment::of(
                &blob,
                "appended bytes whose object record was not yet written beside them",
            ));
            continue;
        };
        let key = (descriptor.bucket.clone(), descriptor.key.clone());
        groups
            .entry(key)
            .or_default()
            .entry(record.version)
            .or_insert_with(|| (record, Vec::new()))
            .1
            .push(blob);
    }
    let mut candidates = Vec::new();
    let mut older = Vec::new();
    for ((bucket, key), versions) in groups {
        let mut chosen = false;
        // Newest first: the first complete version is the candidate.
        for (_, (record, blobs)) in versions.into_iter().rev() {
            match complete(&record, &blobs) {
                Ok(parts) => {
                    let candidate = Candidate {
                        bucket: bucket.clone(),
                        key: key.clone(),
                        record,
                        blobs: parts,
                    };
                    if chosen {
                        older.push(candidate);
                    } else {
                        candidates.push(candidate);
                        chosen = true;
                    }
                }
                Err(reason) => {
                    for blob in &blobs {
                        fragments.push(Fragment::of(blob, reason.clone()));
                    }
                }
            }
        }
    }
    Assembled {
        candidates,
        older,
        fragments,
    }
}

impl Fragment {
    /// Every blob of a candidate recovery does not use, for `reason`.
    #[must_use]
    pub fn all_of(candidate: &Candidate, reason: &str) -> Vec<Self> {
        candidate
            .blobs
            .iter()
            .map(|b| Self {
                id: b.id,
                tier: b.tier.clone(),
                bucket: Some(candidate.bucket.clone()),
                key: Some(candidate.key.clone()),
                reason: reason.to_owned(),
            })
            .collect()
    }
}

/// The blobs of one version in order with their sizes, if they are the whole object.
fn complete(record: &ObjectRecord, blobs: &[Described]) -> Result<Vec<CandidateBlob>, String> {
    let mut placed: Vec<(u64, Option<u32>, &Described)> = blobs
        .iter()
        .map(|b| {
            let d = b
                .descriptor
                .as_ref()
                .expect("grouped blobs have descriptors");
            (d.offset, d.part, b)
        })
        .collect();
    placed.sort_by_key(|(offset, part, _)| (*offset, *part));
    let expected = record.parts.map_or(1, |n| n as usize);
    if placed.len() != expected {
        return Err(format!(
            "incomplete: {} of the object's {expected} blob(s) are on the remote tier",
            placed.len()
        ));
    }
    if record.parts.is_none() && (placed[0].0 != 0 || placed[0].1.is_some()) {
        return Err("a single-blob object's blob does not start at offset 0".into());
    }
    let mut out: Vec<CandidateBlob> = Vec::with_capacity(placed.len());
    for (i, (offset, part, blob)) in placed.iter().enumerate() {
        let end = placed.get(i + 1).map_or(record.size, |next| next.0);
        let ordered = match (out.last().and_then(|b| b.part), part) {
            (Some(previous), Some(part)) => *part > previous,
            _ => true,
        };
        if (i == 0 && *offset != 0)
            || end < *offset
            || !ordered
            || (record.parts.is_some() && part.is_none())
        {
            return Err("the parts' offsets do not cover the object".into());
        }
        out.push(CandidateBlob {
            id: blob.id,
            tier: blob.tier.clone(),
            part: *part,
            offset: *offset,
            size: end - offset,
        });
    }
    Ok(out)
}

/// The layout of a candidate; `part_md5s` (hex, in part order) for a multipart one.
#[must_use]
pub fn layout_of(candidate: &Candidate, part_md5s: &[String]) -> Layout {
    let blob = |b: &CandidateBlob| BlobRef {
        id: b.id,
        tier: b.tier.clone(),
        size: b.size,
    };
    if candidate.record.parts.is_none() {
        return Layout::Blob(blob(&candidate.blobs[0]));
    }
    Layout::Parts(
        candidate
            .blobs
            .iter()
            .zip(part_md5s)
            .map(|(b, md5)| PartLayout {
                number: b.part.unwrap_or_default(),
                blob: blob(b),
                etag: md5.clone(),
                // A part's own additional checksum is not in the descriptor.
                checksum: None,
            })
            .collect(),
    )
}

/// What to do with one key that has a candidate, given the backup's object for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The backup's object stays; the candidate's blobs are fragments.
    KeepBackup,
    /// The candidate becomes the object (replacing the backup's, if any, which is not
    /// reported: a newer copy exists).
    Restore,
    /// The backup's object is dropped and reported with its fate; the older candidate's
    /// blobs are fragments.
    DropBackup(Fate),
}

/// `backup`: the backup's version of the key and its fate, if the backup has the key.
#[must_use]
pub fn decide(backup: Option<(u128, Fate)>, candidate: u128) -> Decision {
    match backup {
        None => Decision::Restore,
        Some((version, Fate::Keep)) => {
            if candidate > version {
                Decision::Restore
            } else {
                Decision::KeepBackup
            }
        }
        Some((version, fate)) => {
            if candidate >= version {
                Decision::Restore
            } else {
                Decision::DropBackup(fate)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::DESCRIPTOR_VERSION;

    fn record(version: u128, size: u64, parts: Option<u32>) -> ObjectRecord {
        ObjectRecord {
            version,
            size,
            etag: "e".into(),
            modified_ms: 1,
            content: crate::meta::ContentHeaders::default(),
            user_meta: Vec::new(),
            storage_class: Some("GLACIER".into()),
            checksum: None,
            parts,
            owner: "tenant/web01".into(),
            tags: Vec::new(),
            access_tier: None,
            versioned: false,
            delete_marker: false,
        }
    }

    fn described(
        key: &str,
        record: Option<ObjectRecord>,
        part: Option<u32>,
        offset: u64,
    ) -> Described {
        Described {
            id: DataId::random(),
            tier: "remote".into(),
            descriptor: Some(BlobDescriptor {
                format: DESCRIPTOR_VERSION,
                bucket: "b".into(),
                key: key.into(),
                object: record,
                part,
                offset,
                upload_id: None,
            }),
        }
    }

    #[test]
    fn fates_follow_where_the_bytes_were() {
        let present: HashSet<DataId> = [DataId(1), DataId(2)].into();
        let survives = |tier: &str| tier == "remote";
        let blob = |id, tier: &str| BlobRef {
            id: DataId(id),
            tier: tier.into(),
            size: 1,
        };
        let parts = |blobs: Vec<BlobRef>| {
            Layout::Parts(
                blobs
                    .into_iter()
                    .enumerate()
                    .map(|(i, blob)| PartLayout {
                        number: i as u32 + 1,
                        blob,
                        etag: "e".into(),
                        checksum: None,
                    })
                    .collect(),
            )
        };
        let inline = Layout::Inline {
            data: vec![1],
            crc32c: 0,
        };
        assert_eq!(fate_of(Some(&inline), &survives, &present), Fate::Keep);
        assert_eq!(
            fate_of(Some(&Layout::Blob(blob(1, "remote"))), &survives, &present),
            Fate::Keep
        );
        assert_eq!(
            fate_of(Some(&Layout::Blob(blob(1, "ssd"))), &survives, &present),
            Fate::Lost
        );
        assert_eq!(
            fate_of(Some(&Layout::Blob(blob(3, "remote"))), &survives, &present),
            Fate::Gone
        );
        // A multipart object with one part left on a local disk is lost, even if the
        // other is gone too.
        let mixed = parts(vec![blob(3, "remote"), blob(2, "hdd")]);
        assert_eq!(fate_of(Some(&mixed), &survives, &present), Fate::Lost);
        let remote = parts(vec![blob(1, "remote"), blob(2, "remote")]);
        assert_eq!(fate_of(Some(&remote), &survives, &present), Fate::Keep);
        assert_eq!(fate_of(None, &survives, &present), Fate::Gone);
    }

    #[test]
    fn complete_sets_become_candidates_and_the_rest_fragments() {
        let single = described("single", Some(record(5, 100, None)), None, 0);
        let multi = record(7, 25, Some(3));
        let parts = [
            described("multi", Some(multi.clone()), Some(2), 10),
            described("multi", Some(multi.clone()), Some(1), 0),
            described("multi", Some(multi.clone()), Some(5), 20),
        ];
        let short = described("short", Some(record(8, 30, Some(2))), Some(1), 0);
        let appended = described("appended", None, Some(2), 10);
        let mut upload = described("upload", None, Some(1), 0);
        upload.descriptor.as_mut().unwrap().upload_id = Some("ab".repeat(16));
        let bare = Described {
            id: DataId::random(),
            tier: "remote".into(),
            descriptor: None,
        };
        let old = described("single", Some(record(4, 90, None)), None, 0);
        let mut all = vec![
            single.clone(),
            short.clone(),
            appended,
            upload,
            bare.clone(),
            old.clone(),
        ];
        all.extend(parts.iter().cloned());

        let Assembled {
            candidates,
            older,
            fragments,
        } = assemble(all);
        assert_eq!(candidates.len(), 2, "{candidates:?}");
        let m = candidates.iter().find(|c| c.key == "multi").unwrap();
        assert_eq!(
            m.blobs
                .iter()
                .map(|b| (b.id, b.part, b.offset, b.size))
                .collect::<Vec<_>>(),
            vec![
                (parts[1].id, Some(1), 0, 10),
                (parts[0].id, Some(2), 10, 10),
                (parts[2].id, Some(5), 20, 5)
            ]
        );
        let layout = layout_of(m, &["a".into(), "b".into(), "c".into()]);
        let Layout::Parts(laid) = &layout else {
            panic!("{layout:?}")
        };
        assert_eq!(
            laid.iter()
                .map(|p| (p.number, p.etag.as_str(), p.blob.size))
                .collect::<Vec<_>>(),
            vec![(1, "a", 10), (2, "b", 10), (5, "c", 5)]
        );
        let s = candidates.iter().find(|c| c.key == "single").unwrap();
        assert_eq!(s.record.version, 5, "the newest version wins");
        assert_eq!(
            layout_of(s, &[]),
            Layout::Blob(BlobRef {
                id: single.id,
                tier: "remote".into(),
                size: 100
            })
        );

        let mut reasons: Vec<(DataId, &str)> = fragments
            .iter()
            .map(|f| (f.id, f.reason.split(':').next().unwrap()))
            .collect();
        reasons.sort();
        let mut expected = vec![
            (short.id, "incomplete"),
            (bare.id, "it carries no readable descriptor"),
        ];
        expected.sort();
        let named: Vec<(DataId, &str)> = reasons
            .iter()
            .copied()
            .filter(|(id, _)| [short.id, bare.id, old.id].contains(id))
            .collect();
        assert_eq!(named, expected);
        assert_eq!(fragments.len(), 4, "{fragments:?}");
        // The older complete version of "single" is kept apart, for reconcile to judge.
        assert_eq!(older.len(), 1, "{older:?}");
        assert_eq!((older[0].record.version, older[0].blobs[0].id), (4, old.id));
    }

    #[test]
    fn gaps_and_stray_offsets_are_not_objects() {
        let r = record(9, 30, Some(2));
        let gap = vec![
            described("k", Some(r.clone()), Some(1), 5),
            described("k", Some(r.clone()), Some(2), 10),
        ];
        let assembled = assemble(gap);
        assert!(assembled.candidates.is_empty());
        assert_eq!(assembled.fragments.len(), 2);
        let assembled = assemble(vec![described("k", Some(record(9, 30, None)), None, 4)]);
        assert!(assembled.candidates.is_empty() && assembled.older.is_empty());
    }

    #[test]
    fn the_newest_recoverable_version_wins() {
        assert_eq!(decide(None, 5), Decision::Restore);
        assert_eq!(decide(Some((5, Fate::Keep)), 6), Decision::Restore);
        assert_eq!(decide(Some((5, Fate::Keep)), 5), Decision::KeepBackup);
        assert_eq!(decide(Some((5, Fate::Keep)), 4), Decision::KeepBackup);
        // Moved to the remote after the backup: same version, not lost.
        assert_eq!(decide(Some((5, Fate::Lost)), 5), Decision::Restore);
        assert_eq!(decide(Some((5, Fate::Gone)), 7), Decision::Restore);
        // The newest version is lost; an older remote copy is not served in its place.
        assert_eq!(
            decide(Some((5, Fate::Lost)), 4),
            Decision::DropBackup(Fate::Lost)
        );
        assert_eq!(
            decide(Some((5, Fate::Gone)), 4),
            Decision::DropBackup(Fate::Gone)
        );
    }
}
