//! Deleting blobs nobody references any more.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tracing::{debug, warn};

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
