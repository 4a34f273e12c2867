//! The lifecycle worker: applies the actions lifecycle rules make due — transitions through
//! the tier engine's move, expirations as deletes — taking due keys from the schedule the
//! metadata store keeps (no bucket scans), and rebuilding that schedule incrementally after
//! a rule change. A due key may be due for its current version (here) or for its
//! noncurrent versions and lone delete marker (`lifecycle_versions`).
//!
//! Every action is idempotent and re-checked against the object when it runs: an object
//! overwritten since it was scheduled is rescheduled by its own write, a transition whose
//! tier is unreachable is retried later, and a crash at any point leaves the schedule
//! entry in place (it is removed in the same commit as the action), so the action is simply
//! taken again after a restart.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;
use tracing::{debug, info, warn};
use vmgw_lifecycle::{Action, ObjectFacts, When, evaluate, moment};

use super::error::{ObjectError, ObjectResult};
use super::lifecycle_stats::Taken;
use super::moves::MoveOutcome;
use super::{ObjectService, Period, new_version, now_ms};
use crate::meta::{
    BucketRecord, DueObject, MetaError, NewMarker, ObjectRecord, UploadQuery, WriteOp, WriteOutcome,
};

/// Objects taken from the schedule per round.
const DUE_BATCH: usize = 256;
/// Objects taken per round while clients are served: shorter rounds, so that with the
/// pause between them the worker's load comes in small steps rather than bursts.
const DUE_BATCH_BUSY: usize = 64;
/// Objects re-indexed per backfill commit.
const BACKFILL_BATCH: usize = 1000;
/// While clients are served: a backfill commit is one long step of the committer thread
/// that writes share, so it is kept short.
const BACKFILL_BATCH_BUSY: usize = 200;
/// When a transition could not run (its tier is down), the next try.
pub(super) const RETRY_AFTER_MS: i64 = 30_000;

/// Runs until `shutdown`: rounds back to back while there is work, else every `interval`.
pub async fn run_lifecycle(
    service: Arc<ObjectService>,
    mut interval: Period,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            break;
        }
        let started = std::time::Instant::now();
        let worked = match lifecycle_round(&service).await {
            Ok(worked) => worked,
            Err(e) => {
                warn!(error = %e, "lifecycle round failed; will retry");
                false
            }
        };
        if worked {
            let pause = super::lifecycle_wake::busy_pause(&service, started.elapsed());
            if !pause.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    _ = shutdown.changed() => {}
                }
            }
            continue;
        }
        let wait = super::lifecycle_wake::idle_wait(&service, interval.current());
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = interval.changed() => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// One round: a step of every pending backfill, then the due objects. Returns whether
/// there was anything to do.
pub async fn lifecycle_round(service: &ObjectService) -> ObjectResult<bool> {
    let mut worked = false;
    let stats = &service.lifecycle_stats;
    stats.round_started(now_ms());
    for bucket_id in service.meta.pending_backfills()? {
        stats.backfill_step_started(bucket_id);
        let outcome = service
            .meta
            .apply(WriteOp::LifecycleBackfill {
                bucket_id,
                limit: if service.activity.busy() {
                    BACKFILL_BATCH_BUSY
                } else {
                    BACKFILL_BATCH
                },
            })
            .await;
        match outcome {
            Ok(WriteOutcome::Backfilled { done, count }) => {
                stats.backfilled(bucket_id, count as u64, done);
            }
            other => {
                stats.backfill_step_ended(bucket_id);
                other?;
            }
        }
        worked = true;
    }
    let now = now_ms();
    let batch = if service.activity.busy() {
        DUE_BATCH_BUSY
    } else {
        DUE_BATCH
    };
    let due = service.meta.due_objects(now, batch)?;
    if !due.is_empty() {
        // Once per round, not per object: buckets are few, due objects may be many.
        let buckets: HashMap<u64, BucketRecord> =
            service.buckets()?.into_iter().map(|b| (b.id, b)).collect();
        let actions = due
            .iter()
            .map(|d| (d.bucket_id, act(service, &buckets, d, now)));
        super::lifecycle_batch::act_all(service, actions.collect()).await?;
        worked = true;
    }
    if abort_stale_uploads(service, now).await? > 0 {
        worked = true;
    }
    Ok(worked)
}

/// Aborts multipart uploads an AbortIncompleteMultipartUpload rule says are stale; their
/// parts are reclaimed like any unreferenced blob. Uploads are few and short-lived, so they
/// are looked at directly rather than scheduled.
async fn abort_stale_uploads(service: &ObjectService, now: i64) -> ObjectResult<usize> {
    let mut aborted = 0;
    for bucket in service.buckets()? {
        let Some(rules) = service.cached_rules(bucket.id)? else {
            continue;
        };
        let abort_rules: Vec<(&str, u32)> = rules
            .iter()
            .filter(|r| r.enabled)
            .filter_map(|r| {
                r.abort_incomplete_multipart_days
                    .map(|days| (r.filter.prefix.as_str(), days))
            })
            .collect();
        if abort_rules.is_empty() {
            continue;
        }
        let mut query = UploadQuery {
            bucket_id: bucket.id,
            max_uploads: 1000,
            ..UploadQuery::default()
        };
        loop {
            let page = service.meta.list_uploads(&query)?;
            for (key, upload_id, upload) in &page.uploads {
                let stale = abort_rules.iter().any(|(prefix, days)| {
                    key.starts_with(prefix)
                        && moment(
                            When::Days(*days),
                            upload.initiated_ms,
                            service.limits.lifecycle_day_ms,
                        ) <= now
                });
                if stale {
                    match service
                        .meta
                        .apply(WriteOp::AbortUpload {
                            upload_id: *upload_id,
                        })
                        .await
                    {
                        Ok(_) => {
                            info!(bucket = %bucket.name, %key, "lifecycle aborted a stale multipart upload");
                            service
                                .lifecycle_stats
                                .acted(bucket.id, Taken::AbortedUpload, None);
                            aborted += 1;
                        }
                        // Completed or aborted meanwhile.
                        Err(MetaError::NoSuchUpload) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            match (page.truncated, page.uploads.last()) {
                (true, Some((key, upload_id, _))) => {
                    query.key_marker = Some(key.clone());
                    query.upload_id_marker = Some(*upload_id);
                }
                _ => break,
            }
        }
    }
    Ok(aborted)
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

async fn act(
    service: &ObjectService,
    buckets: &HashMap<u64, BucketRecord>,
    due: &DueObject,
    now: i64,
) -> ObjectResult<()> {
    let Some(bucket) = buckets.get(&due.bucket_id).cloned() else {
        // The bucket is gone: drop the entry.
        return reschedule(service, due, None).await;
    };
    let (current, others) = service.meta.key_history(due.bucket_id, &due.key)?;
    // A bucket without rules still has Intelligent-Tiering steps.
    let rules = service.cached_rules(due.bucket_id)?.unwrap_or_default();
    if let Some(record) = &current {
        let class = record
            .storage_class
            .clone()
            .unwrap_or_else(|| super::tiers::DEFAULT_CLASS.to_owned());
        let facts = ObjectFacts {
            key: due.key.clone(),
            size: record.size,
            created_ms: record.modified_ms,
            tags: record.tags.clone(),
            storage_class: class,
        };
        if let Some(action) = evaluate(&rules, &facts, now, service.limits.lifecycle_day_ms) {
            // The key's other versions wait for the next round: this action's commit
            // reschedules the key, due at once if they are.
            return act_on_current(service, &bucket, due, record, action, now).await;
        }
    }
    let acted = super::lifecycle_versions::act_on_versions(
        service,
        &bucket,
        due,
        current.as_ref(),
        &others,
        &rules,
        now,
    )
    .await?;
    match &current {
        Some(record) if !acted => access_step(service, &bucket, due, record, now).await,
        Some(_) => Ok(()),
        // Nothing is left under the key, or nothing more is due: recompute the entry.
        None if !acted => reschedule(service, due, None).await,
        None => Ok(()),
    }
}

/// Takes a lifecycle action on the key's current version.
async fn act_on_current(
    service: &ObjectService,
    bucket: &BucketRecord,
    due: &DueObject,
    record: &ObjectRecord,
    action: Action,
    now: i64,
) -> ObjectResult<()> {
    match action {
        Action::Expire { rule_id } => {
            // As a DELETE without a version id: on a versioned bucket the current version
            // stays as a noncurrent one under a new delete marker, as S3 expires it.
            let op = WriteOp::ExpireObject {
                bucket: bucket.name.clone(),
                bucket_id: bucket.id,
                key: due.key.clone(),
                version: record.version,
                marker: NewMarker {
                    version: new_version(),
                    modified_ms: now,
                    owner: crate::auth::Principal::owning(&bucket.owner).display_name(),
                },
            };
            match service.meta.apply(op).await {
                Ok(_) => {
                    info!(bucket = %bucket.name, key = %due.key, rule = %rule_id, "lifecycle expired an object");
                    service
                        .lifecycle_stats
                        .acted(bucket.id, Taken::Expired, Some(due.at_ms));
                    Ok(())
                }
                // Overwritten meanwhile: the new version was scheduled by its own write.
                Err(MetaError::PreconditionFailed) => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
        Action::Transition {
            rule_id,
            storage_class,
        } => {
            let tier = service
                .tiers
                .for_class(Some(&storage_class))
                .name()
                .to_owned();
            match service
                .move_object(&bucket.name, &due.key, &tier, Some(storage_class.clone()))
                .await
            {
                Ok(MoveOutcome::Moved { bytes }) => {
                    info!(bucket = %bucket.name, key = %due.key, rule = %rule_id, class = %storage_class, %tier, bytes, "lifecycle transitioned an object");
                    service
                        .lifecycle_stats
                        .acted(bucket.id, Taken::Transitioned, Some(due.at_ms));
                    Ok(())
                }
                Ok(MoveOutcome::AlreadyThere) => reschedule(service, due, None).await,
                Ok(MoveOutcome::Abandoned) => Ok(()),
                Err(ObjectError::NoSuchKey | ObjectError::NoSuchBucket) => Ok(()),
                Err(e) => {
                    warn!(bucket = %bucket.name, key = %due.key, error = %e, "lifecycle transition failed; retrying later");
                    service.lifecycle_stats.failed(bucket.id, &e);
                    debug!(retry_in_ms = RETRY_AFTER_MS);
                    reschedule(service, due, Some(now + RETRY_AFTER_MS)).await
                }
            }
        }
    }
}

/// No lifecycle rule acts: the object may still be due an Intelligent-Tiering step.
async fn access_step(
    service: &ObjectService,
    bucket: &BucketRecord,
    due: &DueObject,
    record: &ObjectRecord,
    now: i64,
) -> ObjectResult<()> {
    let Some(step) = service.access_step(bucket.id, &due.key, record, now)? else {
        return reschedule(service, due, None).await;
    };
    match service
        .take_access_step(&bucket.name, &due.key, record, step)
        .await
    {
        Ok(MoveOutcome::Moved { bytes }) => {
            info!(bucket = %bucket.name, key = %due.key, access_tier = ?step, bytes, "intelligent tiering moved an object");
            // Counted with transitions: a move between tiers that a configuration made due.
            service
                .lifecycle_stats
                .acted(bucket.id, Taken::Transitioned, Some(due.at_ms));
            Ok(())
        }
        Ok(MoveOutcome::AlreadyThere) => reschedule(service, due, None).await,
        Ok(MoveOutcome::Abandoned) | Err(ObjectError::NoSuchKey | ObjectError::NoSuchBucket) => {
            Ok(())
        }
        Err(e) => {
            warn!(bucket = %bucket.name, key = %due.key, error = %e, "intelligent tiering step failed; retrying later");
            service.lifecycle_stats.failed(bucket.id, &e);
            reschedule(service, due, Some(now + RETRY_AFTER_MS)).await
        }
    }
}
