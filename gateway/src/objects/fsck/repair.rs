//! The last step of fsck (`--repair`): mending each finding.
//!
//! Lost or damaged bytes are never silently destroyed. A blob is restored from an intact
//! copy when there is one; otherwise its object is quarantined: every blob of the object is
//! first kept in its tier's quarantine area (`lost+found`, with a note naming the object),
//! and only then is the object removed from the namespace, in one commit that checks it is
//! still the version and layout the finding was about. A crash in between leaves the object
//! as it was and a copy in `lost+found`; fsck simply finds it again.

use std::collections::HashSet;
use std::sync::Arc;

use vmgw_tiering::{DataId, Tier};

use super::inventory::Inventory;
use super::verify::{Verdict, hold, read_through};
use super::{Fix, Found, Owner, Repair, RepairAction};
use crate::meta::{Layout, MetaError, NewMarker, UploadId, WriteOp};
use crate::objects::ObjectService;
use crate::objects::descriptor::Describe;
use crate::objects::error::{ObjectError, ObjectResult};
use crate::objects::sweep::orphans_among;

fn done(action: RepairAction, detail: impl Into<String>) -> Repair {
    Repair {
        action,
        ok: true,
        detail: detail.into(),
    }
}

fn failed(action: RepairAction, detail: impl std::fmt::Display) -> Repair {
    Repair {
        action,
        ok: false,
        detail: detail.to_string(),
    }
}

fn superseded() -> Repair {
    done(
        RepairAction::Superseded,
        "changed while fsck ran; the finding no longer applies",
    )
}

/// Runs `work` on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> ObjectResult<T> + Send + 'static,
) -> ObjectResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ObjectError::Internal(format!("fsck repair task: {e}")))?
}

/// What has been mended already: object versions and uploads quarantined whole, so that a
/// second finding about another of their blobs is not mended twice.
#[derive(Default)]
struct Mended {
    objects: HashSet<(u64, String, u128)>,
    uploads: HashSet<UploadId>,
}

pub(super) async fn run(
    service: &Arc<ObjectService>,
    inventory: &Arc<Inventory>,
    found: &mut [Found],
) {
    let mut mended = Mended::default();
    for f in found.iter_mut() {
        let repair = mend(service, inventory, &f.fix, &mut mended).await;
        if !repair.ok {
            tracing::warn!(kind = ?f.finding.kind, detail = %repair.detail, "fsck could not repair a finding");
        }
        f.finding.repair = Some(repair);
    }
}

/// The delete marker a quarantined current version of a versioned bucket leaves on top
/// (see `WriteOp::DropObject`), written as by the bucket's owner.
fn marker_for(inventory: &Inventory, bucket_id: u64) -> NewMarker {
    NewMarker {
        version: crate::objects::new_version(),
        modified_ms: crate::objects::now_ms(),
        owner: inventory.buckets.get(&bucket_id).map_or_else(
            || "admin".to_owned(),
            |b| crate::auth::Principal::owning(&b.owner).display_name(),
        ),
    }
}

async fn apply(service: &ObjectService, action: RepairAction, op: WriteOp) -> Repair {
    match service.meta().apply(op).await {
        Ok(_) => done(action, ""),
        Err(MetaError::PreconditionFailed) => superseded(),
        Err(e) => failed(action, e),
    }
}

async fn mend(
    service: &Arc<ObjectService>,
    inventory: &Arc<Inventory>,
    fix: &Fix,
    mended: &mut Mended,
) -> Repair {
    match fix {
        Fix::Nothing => failed(
            RepairAction::NotRepairable,
            "fsck cannot mend this; see the finding",
        ),
        Fix::DeleteOrphan { tier, id } if !inventory.uses.contains_key(id) => {
            delete_orphan(service, tier, *id).await
        }
        Fix::DeleteOrphan { .. } => failed(RepairAction::Deleted, "the blob is in use"),
        Fix::Data { id } => mend_data(service, inventory, *id, mended).await,
        Fix::DropCachedCopy { tier, id } => match service.tiers.get(tier) {
            Some(tier) => {
                let id = *id;
                match blocking(move || {
                    tier.drop_cached_copy(id);
                    Ok(())
                })
                .await
                {
                    Ok(()) => done(
                        RepairAction::DroppedCachedCopy,
                        "the next reads go to the intact remote copy",
                    ),
                    Err(e) => failed(RepairAction::DroppedCachedCopy, e),
                }
            }
            None => failed(RepairAction::DroppedCachedCopy, "no such tier"),
        },
        Fix::Inline {
            bucket_id,
            key,
            version,
        } => quarantine_object(service, inventory, *bucket_id, key, *version, mended).await,
        Fix::DropObjectWithoutLayout {
            bucket_id,
            key,
            version,
        } => {
            let mut repair = apply(
                service,
                RepairAction::Quarantined,
                WriteOp::DropObject {
                    bucket_id: *bucket_id,
                    key: key.clone(),
                    version: *version,
                    layout: None,
                    marker: Some(marker_for(inventory, *bucket_id)),
                },
            )
            .await;
            if repair.action == RepairAction::Quarantined && repair.ok {
                repair.detail = "removed from the bucket; no bytes were known to keep".into();
            }
            repair
        }
        Fix::DropLayout { version, keep } => {
            apply(
                service,
                RepairAction::DroppedLayout,
                WriteOp::DropLayout {
                    version: *version,
                    keep: keep.clone(),
                },
            )
            .await
        }
        Fix::Reclaim { id, tier } => {
            apply(
                service,
                RepairAction::Reclaimed,
                WriteOp::ReclaimBlobs {
                    blobs: vec![(*id, tier.clone())],
                },
            )
            .await
        }
        Fix::SetRow { id, tier } => {
            apply(
                service,
                RepairAction::FixedBlobRow,
                WriteOp::SetBlobRows {
                    rows: vec![(*id, tier.clone())],
                },
            )
            .await
        }
        Fix::Keep {
            bucket_id,
            key,
            version,
            id,
        } => {
            apply(
                service,
                RepairAction::Unqueued,
                WriteOp::KeepBlob {
                    bucket_id: *bucket_id,
                    key: key.clone(),
                    version: *version,
                    id: *id,
                },
            )
            .await
        }
        Fix::Recount { bucket_id } => {
            apply(
                service,
                RepairAction::Recounted,
                WriteOp::RecountUsage {
                    bucket_id: *bucket_id,
                },
            )
            .await
        }
    }
}

async fn delete_orphan(service: &Arc<ObjectService>, tier: &str, id: DataId) -> Repair {
    let Some(tier) = service.tiers.get(tier) else {
        return failed(RepairAction::Deleted, "no such tier");
    };
    let service = Arc::clone(service);
    let outcome = blocking(move || {
        // Still an orphan by the sweep's rule now, not only when it was found.
        let still = orphans_among(&service, &[id])?;
        if still.is_empty() {
            return Ok(false);
        }
        tier.remove(id)?;
        Ok(true)
    })
    .await;
    match outcome {
        Ok(true) => done(RepairAction::Deleted, ""),
        Ok(false) => superseded(),
        Err(e) => failed(RepairAction::Deleted, e),
    }
}

/// Missing or damaged bytes of a blob in use.
async fn mend_data(
    service: &Arc<ObjectService>,
    inventory: &Arc<Inventory>,
    id: DataId,
    mended: &mut Mended,
) -> Repair {
    let Some(blob) = inventory.uses.get(&id) else {
        return failed(RepairAction::NotRepairable, "not in the inventory");
    };
    let Some(tier) = service.tiers.get(&blob.tier) else {
        return failed(RepairAction::NotRepairable, "no such tier");
    };
    let restored = {
        let (service, inventory, tier) = (
            Arc::clone(service),
            Arc::clone(inventory),
            Arc::clone(&tier),
        );
        blocking(move || restore_from_cache(&service, &inventory, tier.as_ref(), id)).await
    };
    match restored {
        Ok(Some(repair)) => return repair,
        Ok(None) => {}
        Err(e) => return failed(RepairAction::RestoredFromCache, e),
    }
    match &blob.owner {
        Owner::Object {
            bucket_id,
            key,
            version,
            ..
        } => quarantine_object(service, inventory, *bucket_id, key, *version, mended).await,
        Owner::Part { upload_id, .. } => abort_upload(service, *upload_id, mended).await,
    }
}

/// Writes blob `id` again from an intact cached copy, if the tier keeps one. `None` when
/// there is no intact copy. Blocking.
fn restore_from_cache(
    service: &ObjectService,
    inventory: &Inventory,
    tier: &dyn Tier,
    id: DataId,
) -> ObjectResult<Option<Repair>> {
    let blob = &inventory.uses[&id];
    let Some(held) = hold(service, inventory, id, blob)? else {
        return Ok(Some(superseded()));
    };
    let Some(copy) = tier.cached_copy(id) else {
        return Ok(None);
    };
    if !matches!(
        read_through(copy, blob.size, blob.md5.as_ref(), None),
        Verdict::Intact(_)
    ) {
        return Ok(None);
    }
    let Some(Ok(mut reader)) = tier.cached_copy(id) else {
        return Ok(None);
    };
    let mut writer = tier.create(id)?;
    let mut offset = 0;
    while offset < blob.size {
        let bytes = reader.read_at(offset, 1 << 20)?;
        writer.write(&bytes)?;
        offset += bytes.len() as u64;
    }
    if tier.keeps_descriptors()
        && let (Some(record), Some(bucket)) = (
            held.record.clone(),
            inventory.bucket_name(blob.owner.bucket_id()),
        )
    {
        writer.describe(
            Describe {
                bucket: bucket.to_owned(),
                key: blob.owner.key().to_owned(),
                record,
            }
            .blob(blob.part, blob.offset),
        );
    }
    writer.finish()?;
    // What will be served from now on is what is checked.
    match read_through(tier.open_uncached(id), blob.size, blob.md5.as_ref(), None) {
        Verdict::Intact(_) => Ok(Some(done(
            RepairAction::RestoredFromCache,
            "written again from the intact local cached copy",
        ))),
        other => Ok(Some(failed(
            RepairAction::RestoredFromCache,
            format!("the rewritten blob does not verify: {other:?}"),
        ))),
    }
}

/// What a quarantined blob's note says: which object (and which of its versions, by the id
/// S3 shows for it) it belonged to.
fn note(bucket: &str, key: &str, version_id: Option<&str>, why: &str) -> Vec<u8> {
    let mut note = serde_json::json!({
        "bucket": bucket,
        "key": key,
        "reason": why,
        "quarantined_ms": crate::objects::now_ms(),
    });
    if let Some(id) = version_id {
        note["version_id"] = serde_json::Value::from(id);
    }
    serde_json::to_vec_pretty(&note).unwrap_or_default()
}

/// Keeps an object version's bytes in `lost+found` and removes the version (for the
/// current one, the next newest becomes current, as if it had been deleted).
async fn quarantine_object(
    service: &Arc<ObjectService>,
    inventory: &Arc<Inventory>,
    bucket_id: u64,
    key: &str,
    version: u128,
    mended: &mut Mended,
) -> Repair {
    if mended
        .objects
        .contains(&(bucket_id, key.to_owned(), version))
    {
        return done(
            RepairAction::Quarantined,
            "quarantined with the rest of its object",
        );
    }
    let Some(bucket) = inventory.buckets.get(&bucket_id).cloned() else {
        return superseded();
    };
    let kept = {
        let (service, key) = (Arc::clone(service), key.to_owned());
        blocking(move || {
            // The version the finding is about, current or not.
            let Some((record, layout, pins)) = service.open_numbered(&bucket, &key, version)?
            else {
                return Ok(None);
            };
            let note = note(
                &bucket.name,
                &key,
                Some(&crate::objects::version_id(&record)),
                "fsck found its data missing or damaged",
            );
            let mut kept = Vec::new();
            match &layout {
                Layout::Inline { data, .. } => {
                    // Kept as a blob of the hottest tier, quarantined and removed again: the
                    // bytes land in lost+found like any other.
                    let tier = Arc::clone(service.tiers.for_class(None));
                    let id = DataId::random();
                    let _in_flight = service.in_flight.register(id);
                    let mut writer = tier.create(id)?;
                    writer.write(data)?;
                    writer.finish()?;
                    let quarantined = tier.quarantine(id, &note);
                    tier.remove(id)?;
                    if quarantined? {
                        kept.push(format!("{}:{id}", tier.name()));
                    }
                }
                _ => {
                    for blob in layout.blobs() {
                        let tier = service.tiers.get(&blob.tier).ok_or_else(|| {
                            ObjectError::Internal(format!("blob on unknown tier {}", blob.tier))
                        })?;
                        if tier.quarantine(blob.id, &note)? {
                            kept.push(format!("{}:{}", blob.tier, blob.id));
                        }
                    }
                }
            }
            drop(pins);
            Ok(Some((layout, kept)))
        })
        .await
    };
    let (layout, kept) = match kept {
        Ok(Some(kept)) => kept,
        Ok(None) => return superseded(),
        // Nothing is removed unless its bytes are kept first.
        Err(e) => {
            return failed(
                RepairAction::Quarantined,
                format!("could not keep its bytes: {e}"),
            );
        }
    };
    let repair = apply(
        service,
        RepairAction::Quarantined,
        WriteOp::DropObject {
            bucket_id,
            key: key.to_owned(),
            version,
            layout: Some(layout),
            marker: Some(marker_for(inventory, bucket_id)),
        },
    )
    .await;
    if repair.action != RepairAction::Quarantined || !repair.ok {
        return repair;
    }
    mended.objects.insert((bucket_id, key.to_owned(), version));
    let detail = if kept.is_empty() {
        "removed from the bucket; none of its bytes survived".to_owned()
    } else {
        format!(
            "removed from the bucket; its bytes are kept in lost+found as {}",
            kept.join(", ")
        )
    };
    done(RepairAction::Quarantined, detail)
}

/// Keeps an upload's parts in `lost+found` and aborts it: a completion could only produce
/// an object with a hole.
async fn abort_upload(
    service: &Arc<ObjectService>,
    upload_id: UploadId,
    mended: &mut Mended,
) -> Repair {
    if mended.uploads.contains(&upload_id) {
        return done(
            RepairAction::AbortedUpload,
            "aborted with the rest of its upload",
        );
    }
    let kept = {
        let service = Arc::clone(service);
        blocking(move || {
            let Some(upload) = service.meta().upload(&upload_id)? else {
                return Ok(None);
            };
            let bucket = service
                .buckets()?
                .into_iter()
                .find(|b| b.id == upload.bucket_id)
                .map_or_else(|| format!("(bucket id {})", upload.bucket_id), |b| b.name);
            let note = note(
                &bucket,
                &upload.key,
                None,
                &format!(
                    "a part of upload {} was missing or damaged; the upload was aborted",
                    crate::objects::hex(&upload_id)
                ),
            );
            let mut kept = 0;
            for (_, part) in service.meta().parts(&upload_id, 0, usize::MAX)? {
                if let Some(tier) = service.tiers.get(&part.blob.tier)
                    && tier.quarantine(part.blob.id, &note)?
                {
                    kept += 1;
                }
            }
            Ok(Some(kept))
        })
        .await
    };
    let kept = match kept {
        Ok(Some(kept)) => kept,
        Ok(None) => return superseded(),
        Err(e) => {
            return failed(
                RepairAction::AbortedUpload,
                format!("could not keep its parts: {e}"),
            );
        }
    };
    match service
        .meta()
        .apply(WriteOp::AbortUpload { upload_id })
        .await
    {
        Ok(_) => {
            mended.uploads.insert(upload_id);
            done(
                RepairAction::AbortedUpload,
                format!("{kept} surviving part(s) kept in lost+found"),
            )
        }
        Err(MetaError::NoSuchUpload) => superseded(),
        Err(e) => failed(RepairAction::AbortedUpload, e),
    }
}
