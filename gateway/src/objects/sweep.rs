//! Orphans: blobs on a tier that no metadata references — the remains of writes cut short
//! by a crash, or of deletions that failed. Swept at start-up after an unclean stop and
//! then periodically in the background, on every tier, remote ones included.

use std::sync::Arc;

use tokio::sync::watch;
use tracing::{info, warn};
use vmgw_tiering::{DataId, Tier, TierError};

use super::{ObjectService, Period};

/// Whether nothing else runs: only then may unfinished multipart uploads on remote tiers be
/// aborted, since a running gateway may be in the middle of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepMode {
    StartUp,
    Background,
}

/// Deletes every blob on every tier that the metadata does not know and no writer is
/// still working on. Returns how many it deleted.
pub fn sweep_orphans(service: &ObjectService, mode: SweepMode) -> Result<usize, String> {
    let mut removed = 0;
    for tier in service.tiers.iter() {
        match sweep_tier(service, tier.as_ref(), mode) {
            Ok(n) => removed += n,
            // A remote tier that is down is swept next time; its orphans cost space, not
            // correctness, and must not keep the local tiers from serving.
            Err(SweepFailure::Tier(TierError::Unavailable { tier, reason })) => {
                warn!(%tier, %reason, "orphan sweep skipped a tier that is unavailable");
            }
            Err(SweepFailure::Tier(e)) => return Err(e.to_string()),
            Err(SweepFailure::Meta(e)) => return Err(e.to_string()),
        }
    }
    Ok(removed)
}

pub(super) enum SweepFailure {
    Tier(TierError),
    Meta(crate::meta::MetaError),
}

impl From<TierError> for SweepFailure {
    fn from(e: TierError) -> Self {
        Self::Tier(e)
    }
}

impl From<SweepFailure> for super::ObjectError {
    fn from(e: SweepFailure) -> Self {
        match e {
            SweepFailure::Tier(e) => e.into(),
            SweepFailure::Meta(e) => e.into(),
        }
    }
}

/// Of the blob ids `listed` on a tier, those that the metadata does not know and no writer
/// is still working on: the one definition of an orphan, shared by the sweep (which deletes
/// them) and `vmgw fsck` (which reports them). The listing must be taken before this is
/// called: a blob committed after the listing is known by the time it is looked up.
pub(super) fn orphans_among(
    service: &ObjectService,
    listed: &[DataId],
) -> Result<Vec<DataId>, SweepFailure> {
    let mut orphans = Vec::new();
    for &id in listed {
        // A writer registers its id before creating the blob and unregisters it only after
        // its commit (or its own cleanup): an id not in flight is either known or an orphan.
        if service.in_flight.contains(id) {
            continue;
        }
        if !service.meta.blob_known(id).map_err(SweepFailure::Meta)? {
            orphans.push(id);
        }
    }
    Ok(orphans)
}

fn sweep_tier(
    service: &ObjectService,
    tier: &dyn Tier,
    mode: SweepMode,
) -> Result<usize, SweepFailure> {
    if mode == SweepMode::StartUp {
        tier.abort_incomplete_uploads()?;
    }
    let mut listed: Vec<DataId> = Vec::new();
    tier.for_each_id(&mut |id| listed.push(id))?;
    let orphans = orphans_among(service, &listed)?;
    for &id in &orphans {
        tier.remove(id)?;
    }
    let removed = orphans.len();
    if removed > 0 {
        info!(
            tier = tier.name(),
            removed, "removed orphaned data left by an interrupted write"
        );
    }
    Ok(removed)
}

/// Sweeps every `interval` until shutdown.
pub async fn run_sweeper(
    service: Arc<ObjectService>,
    mut interval: Period,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let period = interval.current();
        // A zero period turns background sweeps off until a reload sets one.
        let sleep = async {
            if period.is_zero() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(period).await;
        };
        tokio::select! {
            () = sleep => {}
            () = interval.changed() => continue,
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            break;
        }
        let service = Arc::clone(&service);
        match tokio::task::spawn_blocking(move || sweep_orphans(&service, SweepMode::Background))
            .await
        {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => warn!(error = %e, "background orphan sweep failed; will retry"),
            Err(e) => warn!(error = %e, "background orphan sweep panicked"),
        }
    }
}
