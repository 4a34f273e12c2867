//! The first step of fsck: every blob in use and who uses it, from one metadata snapshot,
//! and the store's bookkeeping checked against itself.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use vmgw_tiering::DataId;

use super::{BlobUse, Finding, FindingKind, Fix, Found, Owner};
use crate::meta::{BucketRecord, Layout, ObjectEntry};
use crate::objects::ObjectService;
use crate::objects::error::ObjectResult;

/// Every blob in use, from the snapshot.
pub(in crate::objects) struct Inventory {
    pub buckets: HashMap<u64, BucketRecord>,
    pub uses: HashMap<DataId, BlobUse>,
    pub objects: u64,
}

impl Inventory {
    pub(super) fn bucket_name(&self, bucket_id: u64) -> Option<&str> {
        self.buckets.get(&bucket_id).map(|b| b.name.as_str())
    }

    /// A finding about blob `id` on its tier, naming who uses it.
    pub(super) fn about(
        &self,
        kind: FindingKind,
        id: DataId,
        detail: impl Into<String>,
    ) -> Finding {
        let mut finding = Finding::new(kind, detail).blob(id);
        if let Some(blob) = self.uses.get(&id) {
            finding = finding
                .tier(&blob.tier)
                .object(self.bucket_name(blob.owner.bucket_id()), blob.owner.key());
            if let Owner::Object {
                bucket_id,
                version,
                versioned,
                ..
            } = &blob.owner
            {
                finding = finding.version(self.buckets.get(bucket_id), *version, *versioned);
            }
            if let Owner::Part { upload_id, .. } = &blob.owner {
                finding.upload_id = Some(crate::objects::hex(upload_id));
            }
        }
        finding
    }
}

/// The MD5 a blob's bytes must have, when the ETag it was written under is one.
fn md5_of(etag: &str) -> Option<[u8; 16]> {
    if etag.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    hex_simd::decode(etag.as_bytes(), hex_simd::Out::from_slice(&mut out)).ok()?;
    Some(out)
}

/// One shared copy of each tier name.
#[derive(Default)]
struct Names(Vec<Arc<str>>);

impl Names {
    fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(known) = self.0.iter().find(|n| &***n == name) {
            return Arc::clone(known);
        }
        let name: Arc<str> = Arc::from(name);
        self.0.push(Arc::clone(&name));
        name
    }
}

/// The blobs of an object version's layout, as uses.
fn uses_of(entry: &ObjectEntry, layout: &Layout, tiers: &mut Names) -> Vec<(DataId, BlobUse)> {
    let owner = Owner::Object {
        bucket_id: entry.bucket_id,
        key: Arc::from(entry.key.as_str()),
        version: entry.record.version,
        versioned: entry.record.versioned,
    };
    match layout {
        Layout::Inline { .. } => Vec::new(),
        Layout::Blob(blob) => vec![(
            blob.id,
            BlobUse {
                tier: tiers.get(&blob.tier),
                owner,
                size: blob.size,
                md5: md5_of(&entry.record.etag),
                part: None,
                offset: 0,
            },
        )],
        Layout::Parts(parts) => {
            let mut offset = 0;
            parts
                .iter()
                .map(|part| {
                    let at = offset;
                    offset += part.blob.size;
                    (
                        part.blob.id,
                        BlobUse {
                            tier: tiers.get(&part.blob.tier),
                            owner: owner.clone(),
                            size: part.blob.size,
                            md5: md5_of(&part.etag),
                            part: Some(part.number),
                            offset: at,
                        },
                    )
                })
                .collect()
        }
    }
}

/// Takes the snapshot and checks the bookkeeping. Blocking.
pub(super) fn take(service: &ObjectService, deep: bool) -> ObjectResult<(Inventory, Vec<Found>)> {
    let mut uses: HashMap<DataId, BlobUse> = HashMap::new();
    let mut objects = 0u64;
    let mut without_layout = Vec::new();
    let mut bad_inline = Vec::new();
    let mut tiers = Names::default();
    let census = service.meta().census(&mut |entry| {
        objects += 1;
        match &entry.layout {
            None => without_layout.push((
                entry.bucket_id,
                entry.key.clone(),
                entry.record.version,
                entry.record.versioned,
            )),
            Some(Layout::Inline { data, crc32c }) => {
                if deep && crc_fast::crc32_iscsi(data) != *crc32c {
                    bad_inline.push((
                        entry.bucket_id,
                        entry.key.clone(),
                        entry.record.version,
                        entry.record.versioned,
                    ));
                }
            }
            Some(layout) => {
                for (id, blob) in uses_of(&entry, layout, &mut tiers) {
                    uses.entry(id).or_insert(blob);
                }
            }
        }
    })?;
    for upload in &census.uploads {
        for (number, part) in &upload.parts {
            uses.entry(part.blob.id).or_insert(BlobUse {
                tier: tiers.get(&part.blob.tier),
                owner: Owner::Part {
                    bucket_id: upload.record.bucket_id,
                    key: Arc::from(upload.record.key.as_str()),
                    upload_id: upload.upload_id,
                    number: *number,
                },
                size: part.blob.size,
                md5: md5_of(&part.etag),
                part: Some(*number),
                offset: 0,
            });
        }
    }
    let inventory = Inventory {
        buckets: census.buckets.iter().map(|b| (b.id, b.clone())).collect(),
        uses,
        objects,
    };
    let name = |bucket_id| inventory.bucket_name(bucket_id);
    let mut found = Vec::new();

    for (bucket_id, key, version, versioned) in without_layout {
        found.push(
            Finding::new(
                FindingKind::ObjectWithoutLayout,
                "the object's version has no layout: nothing says where its bytes are",
            )
            .object(name(bucket_id), &key)
            .version(inventory.buckets.get(&bucket_id), version, versioned)
            .fix(Fix::DropObjectWithoutLayout {
                bucket_id,
                key,
                version,
            }),
        );
    }
    for (bucket_id, key, version, versioned) in bad_inline {
        found.push(
            Finding::new(
                FindingKind::ChecksumMismatch,
                "the object's bytes, kept in the metadata store, fail their CRC32C",
            )
            .tier("inline")
            .object(name(bucket_id), &key)
            .version(inventory.buckets.get(&bucket_id), version, versioned)
            .fix(Fix::Inline {
                bucket_id,
                key,
                version,
            }),
        );
    }

    // Blobs of layouts nobody uses: their rows are accounted for (the layout's repair
    // queues them), and blobs that some object does use are kept.
    let mut in_orphan_layouts = HashSet::new();
    for (version, blobs) in &census.orphan_layouts {
        let keep: Vec<DataId> = blobs
            .iter()
            .map(|b| b.id)
            .filter(|id| inventory.uses.contains_key(id))
            .collect();
        in_orphan_layouts.extend(blobs.iter().map(|b| b.id));
        found.push(
            Finding::new(
                FindingKind::LayoutWithoutObject,
                format!(
                    "layout of version {version:032x} ({} blob(s)) belongs to no object",
                    blobs.len()
                ),
            )
            .fix(Fix::DropLayout {
                version: *version,
                keep,
            }),
        );
    }

    let mut sorted_uses: Vec<(&DataId, &BlobUse)> = inventory.uses.iter().collect();
    sorted_uses.sort_by_key(|(id, _)| **id);
    for (&id, blob) in sorted_uses {
        let problem = match census.blob_rows.get(&id) {
            None => Some("the blob table has no row for it".to_owned()),
            Some(tier) if **tier != *blob.tier => {
                Some(format!("the blob table says it is on tier {tier}"))
            }
            Some(_) => None,
        };
        if let Some(problem) = problem {
            found.push(
                inventory
                    .about(FindingKind::BlobRowMismatch, id, problem)
                    .fix(Fix::SetRow {
                        id,
                        tier: blob.tier.to_string(),
                    }),
            );
        }
        if census.reclaim.contains_key(&id) {
            let fix = match &blob.owner {
                Owner::Object {
                    bucket_id,
                    key,
                    version,
                    ..
                } => Fix::Keep {
                    bucket_id: *bucket_id,
                    key: key.to_string(),
                    version: *version,
                    id,
                },
                Owner::Part { .. } => Fix::Nothing,
            };
            found.push(
                inventory
                    .about(
                        FindingKind::ReclaimingReferencedBlob,
                        id,
                        "the blob is in use but queued for deletion",
                    )
                    .fix(fix),
            );
        }
    }
    let mut rows: Vec<(&DataId, &String)> = census.blob_rows.iter().collect();
    rows.sort();
    for (&id, tier) in rows {
        if inventory.uses.contains_key(&id)
            || census.reclaim.contains_key(&id)
            || in_orphan_layouts.contains(&id)
        {
            continue;
        }
        found.push(
            Finding::new(
                FindingKind::UnreferencedBlobRow,
                "the blob table lists a blob that nothing uses and nothing will delete",
            )
            .tier(tier)
            .blob(id)
            .fix(Fix::Reclaim {
                id,
                tier: tier.clone(),
            }),
        );
    }

    let bucket_ids: BTreeSet<u64> = inventory
        .buckets
        .keys()
        .chain(census.usage.keys())
        .copied()
        .collect();
    for bucket_id in bucket_ids {
        let stored = census.usage.get(&bucket_id).copied().unwrap_or_default();
        let counted = census.counted.get(&bucket_id).copied().unwrap_or_default();
        if stored != counted {
            let mut finding = Finding::new(
                FindingKind::UsageMismatch,
                format!(
                    "usage says {} bytes in {} objects; the objects add up to {} bytes in {}",
                    stored.bytes, stored.objects, counted.bytes, counted.objects
                ),
            );
            finding.bucket = name(bucket_id)
                .map(str::to_owned)
                .or_else(|| Some(format!("(deleted bucket {bucket_id})")));
            found.push(finding.fix(Fix::Recount { bucket_id }));
        }
    }
    Ok((inventory, found))
}
