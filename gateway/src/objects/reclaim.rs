//! Deleting blobs nobody references any more, and orphans left by crashes.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tracing::{debug, info, warn};
use vmgw_tiering::{DataId, Tier, TierError};

use super::ObjectService;
use crate::meta::WriteOp;

/// Blobs removed per round; bounds the work between checks for shutdown.
const BATCH: usize = 256;
/// How often the queue is looked at even without a notification (pinned blobs, errors).
const IDLE_RECHECK: Duration = Duration::from_secs(5);

/// Deletes queued blobs until `shutdown` turns true. Blobs being read (pinned) wait for a
/// later round.
pub async fn run_reclaimer(
    service: Arc<ObjectService>,
    ready: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let progressed = match reclaim_round(&service).await {
            Ok(n) => n > 0,
            Err(e) => {
                warn!(error = %e, "reclaiming unreferenced data failed; will retry");
                false
            }
        };
        if progressed {
            continue;
        }
        tokio::select! {
            () = ready.notified() => {}
            () = tokio::time::sleep(IDLE_RECHECK) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            break;
        }
    }
}

/// One round: deletes up to [`BATCH`] queued blobs and forgets them. Returns how many.
pub async fn reclaim_round(service: &Arc<ObjectService>) -> Result<usize, String> {
    let queued = service.meta.reclaimable(BATCH).map_err(|e| e.to_string())?;
    if queued.is_empty() {
        return Ok(0);
    }
    let removed = {
        let service = Arc::clone(service);
        tokio::task::spawn_blocking(move || {
            let mut removed = Vec::new();
            for (id, tier_name) in queued {
                let Some(tier) = service.tiers.get(&tier_name) else {
                    warn!(blob = %id, tier = %tier_name, "blob to reclaim is on a tier that is not configured; kept");
                    continue;
                };
                match service.pins.remove_unless_pinned(id, || tier.remove(id)) {
                    Some(Ok(())) => removed.push(id),
                    Some(Err(e)) => warn!(blob = %id, error = %e, "could not delete unreferenced blob"),
                    None => debug!(blob = %id, "blob still being read; reclaiming later"),
                }
            }
            removed
        })
        .await
        .map_err(|e| e.to_string())?
    };
    let count = removed.len();
    if count > 0 {
        service
            .meta
            .apply(WriteOp::ForgetBlobs { ids: removed })
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(count)
}

/// Deletes every blob on every tier that the metadata does not know: the remains of writes
/// interrupted by a crash. Only safe while no write is in flight (at start-up).
pub fn sweep_orphans(service: &ObjectService) -> Result<usize, String> {
    let mut removed = 0;
    for tier in service.tiers.iter() {
        match sweep_tier(service, tier.as_ref()) {
            Ok(n) => removed += n,
            // A remote tier that is down is swept at the next start; its orphans cost space,
            // not correctness, and must not keep the local tiers from serving.
            Err(SweepFailure::Tier(TierError::Unavailable { tier, reason })) => {
                warn!(%tier, %reason, "orphan sweep skipped a tier that is unavailable");
            }
            Err(SweepFailure::Tier(e)) => return Err(e.to_string()),
            Err(SweepFailure::Meta(e)) => return Err(e.to_string()),
        }
    }
    Ok(removed)
}

enum SweepFailure {
    Tier(TierError),
    Meta(crate::meta::MetaError),
}

impl From<TierError> for SweepFailure {
    fn from(e: TierError) -> Self {
        Self::Tier(e)
    }
}

fn sweep_tier(service: &ObjectService, tier: &dyn Tier) -> Result<usize, SweepFailure> {
    tier.abort_incomplete_uploads()?;
    let mut ids: Vec<DataId> = Vec::new();
    tier.for_each_id(&mut |id| ids.push(id))?;
    let mut removed = 0;
    for id in ids {
        if !service.meta.blob_known(id).map_err(SweepFailure::Meta)? {
            tier.remove(id)?;
            removed += 1;
        }
    }
    if removed > 0 {
        info!(
            tier = tier.name(),
            removed, "removed orphaned data left by an interrupted write"
        );
    }
    Ok(removed)
}
