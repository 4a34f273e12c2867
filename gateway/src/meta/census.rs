//! Everything the metadata says about blobs, as of one read transaction: what `vmgw fsck`
//! checks the tiers and the store's own bookkeeping against, and what recovery reconciles
//! with a remote tier.
//!
//! Objects are handed to a visitor one at a time (their inline bytes included, so a deep
//! check can verify them) rather than collected; only the bookkeeping tables, which hold a
//! few dozen bytes per blob, are returned whole.

use std::collections::{BTreeMap, HashMap, HashSet};

use redb::{ReadTransaction, ReadableTable};
use vmgw_tiering::DataId;

use super::records::{
    self, BlobRef, BucketRecord, Layout, ObjectRecord, PartRecord, UploadRecord, Usage,
};
use super::redb_store::tables;
use super::{MetaError, UploadId, keys};

/// One version of an object holding data, current or not, as the snapshot has it (delete
/// markers hold no bytes and are not visited).
#[derive(Debug, Clone)]
pub struct ObjectEntry {
    pub bucket_id: u64,
    pub key: String,
    pub record: ObjectRecord,
    /// `None` when the store has no layout for the object's version (damage).
    pub layout: Option<Layout>,
    /// Whether this is the key's current version (else a noncurrent one).
    pub current: bool,
}

/// A multipart upload in progress with its parts.
#[derive(Debug, Clone)]
pub struct UploadEntry {
    pub upload_id: UploadId,
    pub record: UploadRecord,
    pub parts: Vec<(u32, PartRecord)>,
}

/// The store's bookkeeping, from the same snapshot as the objects visited.
#[derive(Debug, Clone, Default)]
pub struct Census {
    pub buckets: Vec<BucketRecord>,
    /// Usage rows as stored, by bucket id.
    pub usage: BTreeMap<u64, Usage>,
    /// Usage counted from the objects, by bucket id.
    pub counted: BTreeMap<u64, Usage>,
    /// The `blobs` table: every blob that exists or may exist → its tier.
    pub blob_rows: HashMap<DataId, String>,
    /// The `reclaim` table: blobs queued for deletion → their tier.
    pub reclaim: HashMap<DataId, String>,
    /// Layouts whose version no object has, with their blobs.
    pub orphan_layouts: Vec<(u128, Vec<BlobRef>)>,
    pub uploads: Vec<UploadEntry>,
}

fn storage(e: impl std::fmt::Display) -> MetaError {
    MetaError::Storage(e.to_string())
}

fn corrupt(e: impl std::fmt::Display) -> MetaError {
    MetaError::Corrupt(e.to_string())
}

fn id_of(raw: &[u8]) -> Result<DataId, MetaError> {
    let bytes: [u8; 16] = raw.try_into().map_err(corrupt)?;
    Ok(DataId::from_bytes(bytes))
}

pub(super) fn census(
    txn: &ReadTransaction,
    visit: &mut dyn FnMut(ObjectEntry),
) -> Result<Census, MetaError> {
    let mut census = Census::default();
    for entry in txn
        .open_table(tables::BUCKETS)
        .map_err(storage)?
        .iter()
        .map_err(storage)?
    {
        let (_, raw) = entry.map_err(storage)?;
        census
            .buckets
            .push(records::decode(raw.value()).map_err(corrupt)?);
    }
    for entry in txn
        .open_table(tables::USAGE)
        .map_err(storage)?
        .iter()
        .map_err(storage)?
    {
        let (bucket_id, value) = entry.map_err(storage)?;
        let (bytes, objects) = value.value();
        census
            .usage
            .insert(bucket_id.value(), Usage { bytes, objects });
    }

    // Versions holding data, current and noncurrent, with the layouts they use (to find
    // layouts nobody uses).
    let mut versions = HashSet::new();
    let layouts = txn.open_table(tables::LAYOUTS).map_err(storage)?;
    for (table, current) in [(tables::OBJECTS, true), (tables::VERSIONS, false)] {
        for entry in txn
            .open_table(table)
            .map_err(storage)?
            .iter()
            .map_err(storage)?
        {
            let (raw_key, raw) = entry.map_err(storage)?;
            let split = if current {
                keys::split_object(raw_key.value())
            } else {
                let bucket = raw_key
                    .value()
                    .get(..8)
                    .map(|b| u64::from_be_bytes(b.try_into().expect("eight bytes")));
                bucket.zip(keys::split_version(raw_key.value()).map(|(key, _)| key))
            };
            let Some((bucket_id, key)) = split else {
                return Err(MetaError::Corrupt("an object key is not UTF-8".into()));
            };
            let record: ObjectRecord = records::decode(raw.value()).map_err(corrupt)?;
            if record.delete_marker {
                continue;
            }
            let layout = match layouts.get(record.version).map_err(storage)? {
                Some(raw) => Some(records::decode(raw.value()).map_err(corrupt)?),
                None => None,
            };
            versions.insert(record.version);
            let counted = census.counted.entry(bucket_id).or_default();
            counted.bytes += record.size;
            counted.objects += 1;
            visit(ObjectEntry {
                bucket_id,
                key,
                record,
                layout,
                current,
            });
        }
    }
    for entry in layouts.iter().map_err(storage)? {
        let (version, raw) = entry.map_err(storage)?;
        if versions.contains(&version.value()) {
            continue;
        }
        let layout: Layout = records::decode(raw.value()).map_err(corrupt)?;
        census
            .orphan_layouts
            .push((version.value(), layout.blobs().cloned().collect()));
    }
    drop(versions);

    for (table, into) in [
        (tables::BLOBS, &mut census.blob_rows),
        (tables::RECLAIM, &mut census.reclaim),
    ] {
        for entry in txn
            .open_table(table)
            .map_err(storage)?
            .iter()
            .map_err(storage)?
        {
            let (id, tier) = entry.map_err(storage)?;
            into.insert(id_of(id.value())?, tier.value().to_owned());
        }
    }

    let parts = txn.open_table(tables::PARTS).map_err(storage)?;
    for entry in txn
        .open_table(tables::UPLOADS)
        .map_err(storage)?
        .iter()
        .map_err(storage)?
    {
        let (id, raw) = entry.map_err(storage)?;
        let upload_id: UploadId = id.value().try_into().map_err(corrupt)?;
        let record: UploadRecord = records::decode(raw.value()).map_err(corrupt)?;
        let mut upload = UploadEntry {
            upload_id,
            record,
            parts: Vec::new(),
        };
        let (start, end) = (keys::part(&upload_id, 0), keys::part(&upload_id, u32::MAX));
        for part in parts
            .range(start.as_slice()..=end.as_slice())
            .map_err(storage)?
        {
            let (k, v) = part.map_err(storage)?;
            let number = u32::from_be_bytes(k.value()[16..20].try_into().map_err(corrupt)?);
            upload
                .parts
                .push((number, records::decode(v.value()).map_err(corrupt)?));
        }
        census.uploads.push(upload);
    }
    Ok(census)
}
