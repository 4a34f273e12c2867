//! The lifecycle worker's actions on a key's noncurrent versions and its lone delete
//! marker: NoncurrentVersionExpiration and ExpiredObjectDeleteMarker remove versions for
//! good (their blobs go through the reclaim queue), NoncurrentVersionTransition moves one
//! version's bytes to its class's tier.
//!
//! The worker evaluates the key's versions from one snapshot and takes every action due
//! now, each in its own commit. Each is re-checked there: a removal's commit evaluates the
//! rules again on the key as it is then (see `meta::lifecycle_versions`), a move's commit
//! requires the version to still be noncurrent with the layout that was copied. Every
//! commit that changes the key's versions recomputes its schedule entry, so whatever
//! happens meanwhile the key stays scheduled for what is left.

use tracing::{info, warn};
use vmgw_lifecycle::{
    Action, KeyVersions, Rule, VersionFacts, acts_on_versions, evaluate_versions,
};

use super::error::{ObjectError, ObjectResult};
use super::lifecycle_stats::Taken;
use super::moves::MoveOutcome;
use super::version_id::version_id;
use super::{ObjectService, lifecycle_worker::RETRY_AFTER_MS};
use crate::meta::{
    BucketRecord, DueObject, MetaError, ObjectRecord, WriteOp, WriteOutcome, version_facts,
};

/// Takes the actions due now on the key's versions other than `current` (`others`,
/// newest first). Returns whether any was due.
pub(super) async fn act_on_versions(
    service: &ObjectService,
    bucket: &BucketRecord,
    due: &DueObject,
    current: Option<&ObjectRecord>,
    others: &[ObjectRecord],
    rules: &[Rule],
    now: i64,
) -> ObjectResult<bool> {
    if others.is_empty() || !acts_on_versions(rules) {
        return Ok(false);
    }
    let facts: Vec<VersionFacts> = others.iter().map(version_facts).collect();
    let key = KeyVersions {
        key: &due.key,
        current_created_ms: current.map(|c| c.modified_ms),
        others: &facts,
    };
    let actions = evaluate_versions(rules, &key, now, service.limits.lifecycle_day_ms);
    if actions.is_empty() {
        return Ok(false);
    }
    let mut retry = false;
    for (index, action) in actions {
        let version = &others[index];
        match action {
            Action::Expire { rule_id } => {
                expire(service, bucket, due, version, &rule_id, now).await?;
            }
            Action::Transition {
                rule_id,
                storage_class,
            } => {
                retry |=
                    !transition(service, bucket, due, version, &rule_id, storage_class).await?;
            }
        }
    }
    if retry {
        reschedule(service, due, Some(now + RETRY_AFTER_MS)).await?;
    }
    Ok(true)
}

async fn reschedule(
    service: &ObjectService,
    due: &DueObject,
    at_ms: Option<i64>,
) -> ObjectResult<()> {
    service
        .meta
        .apply(WriteOp::Reschedule {
            bucket_id: due.bucket_id,
            key: due.key.clone(),
            at_ms,
        })
        .await?;
    Ok(())
}

/// Removes a noncurrent version or a lone delete marker for good.
async fn expire(
    service: &ObjectService,
    bucket: &BucketRecord,
    due: &DueObject,
    version: &ObjectRecord,
    rule_id: &str,
    now: i64,
) -> ObjectResult<()> {
    let op = WriteOp::ExpireVersion {
        bucket_id: bucket.id,
        key: due.key.clone(),
        version: version.version,
        now_ms: now,
    };
    match service.meta.apply(op).await {
        Ok(WriteOutcome::VersionDeleted { removed: Some(_) }) => {
            let what = if version.delete_marker {
                "delete marker"
            } else {
                "noncurrent version"
            };
            info!(bucket = %bucket.name, key = %due.key, version_id = %version_id(version), rule = %rule_id, "lifecycle removed a {what}");
            service
                .lifecycle_stats
                .acted(bucket.id, Taken::Expired, Some(due.at_ms));
            Ok(())
        }
        // Held (object lock, later): the commit put the key off.
        Ok(_) => Ok(()),
        // The key changed since the snapshot and the removal is no longer due; the change
        // rescheduled the key, and recomputing once more costs one small commit.
        Err(MetaError::PreconditionFailed) => reschedule(service, due, None).await,
        Err(e) => Err(e.into()),
    }
}

/// Moves a noncurrent version to its new class's tier. Returns `false` when it must be
/// tried again later.
async fn transition(
    service: &ObjectService,
    bucket: &BucketRecord,
    due: &DueObject,
    version: &ObjectRecord,
    rule_id: &str,
    storage_class: String,
) -> ObjectResult<bool> {
    let tier = service
        .tiers
        .for_class(Some(&storage_class))
        .name()
        .to_owned();
    let moved = service
        .move_noncurrent(
            &bucket.name,
            &due.key,
            version.version,
            &tier,
            storage_class.clone(),
        )
        .await;
    match moved {
        Ok(MoveOutcome::Moved { bytes }) => {
            info!(bucket = %bucket.name, key = %due.key, version_id = %version_id(version), rule = %rule_id, class = %storage_class, %tier, bytes, "lifecycle transitioned a noncurrent version");
            service
                .lifecycle_stats
                .acted(bucket.id, Taken::Transitioned, Some(due.at_ms));
            Ok(true)
        }
        // Gone, current again or moved by someone else: that change rescheduled the key.
        Ok(MoveOutcome::Abandoned) | Err(ObjectError::NoSuchKey | ObjectError::NoSuchBucket) => {
            Ok(true)
        }
        Ok(MoveOutcome::AlreadyThere) => {
            reschedule(service, due, None).await?;
            Ok(true)
        }
        Err(e) => {
            warn!(bucket = %bucket.name, key = %due.key, version_id = %version_id(version), error = %e, "lifecycle transition of a noncurrent version failed; retrying later");
            service.lifecycle_stats.failed(bucket.id, &e);
            Ok(false)
        }
    }
}
