//! The demoter: keeps each tier under its capacity by moving the least recently read
//! objects to the next colder tier that has room.
//!
//! Every check interval it writes the reads noted in memory to the metadata store, then
//! looks at each tier's usage. A tier above its high watermark is demoted, one round per
//! check, until its usage is down to the low watermark. A round scans the objects on the
//! tier, chooses the least recently read ones covering the excess ([`victims`]) and moves
//! each with [`ObjectService::move_object`] — copy, verify, atomic swap — so reads of an
//! object go on while it moves. The storage class is left as it is: it records what the
//! client asked for, while demotion is the gateway's own capacity management.
//!
//! Moved blobs stay on the tier until the reclaimer deletes them (later still if a reader
//! holds them); they are marked as retiring so the next check does not demote more to make
//! up for bytes that are already on their way out.

mod victims;

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;
use tracing::{debug, info, warn};
use vmgw_tiering::{DataId, Tier};

use super::error::{ObjectError, ObjectResult};
use super::metered::MeteredTier;
use super::{MoveOutcome, ObjectService, Period};
use crate::meta::Resident;
use victims::Victims;

/// Where a tier stands between its watermarks.
#[derive(Debug, Clone, Copy, Default)]
struct TierState {
    /// Went above the high watermark and has not been brought down to the low one yet.
    demoting: bool,
    /// A warning that demotion is stuck was logged; not repeated every check.
    warned: bool,
}

/// Runs until `shutdown` turns true, checking every `interval`.
pub async fn run_demoter(
    service: Arc<ObjectService>,
    mut interval: Period,
    mut shutdown: watch::Receiver<bool>,
) {
    let meters: Vec<Arc<MeteredTier>> = service.tiers.meters().cloned().collect();
    let mut states = vec![TierState::default(); meters.len()];
    loop {
        let period = interval.current();
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            () = service.access.flush_wanted() => {}
            // A reload may have changed the watermarks too: check at once.
            () = interval.changed() => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            break;
        }
        match service.flush_reads().await {
            Ok(n) if n > 0 => debug!(objects = n, "recorded reads"),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "could not record reads; will retry"),
        }
        {
            let meters = meters.clone();
            let _ = tokio::task::spawn_blocking(move || {
                meters.iter().for_each(|m| m.refresh_space());
            })
            .await;
        }
        for (index, state) in states.iter_mut().enumerate() {
            if *shutdown.borrow() {
                break;
            }
            check_tier(&service, &meters, index, state, &shutdown).await;
        }
    }
    debug!("demoter stopped");
}

async fn check_tier(
    service: &Arc<ObjectService>,
    meters: &[Arc<MeteredTier>],
    index: usize,
    state: &mut TierState,
    shutdown: &watch::Receiver<bool>,
) {
    let meter = &meters[index];
    let tier = meter.name().to_owned();
    let Some(capacity) = meter.capacity() else {
        return;
    };
    let marks = meter.watermarks();
    let used = meter.settled_used();
    if !state.demoting {
        if !marks.above_high(used, capacity) {
            return;
        }
        state.demoting = true;
        info!(
            tier,
            used,
            capacity,
            high_watermark = marks.high_percent,
            "tier is above its high watermark; demoting the least recently read objects"
        );
    }
    if marks.reached_low(used, capacity) {
        *state = TierState::default();
        info!(
            tier,
            used,
            capacity,
            low_watermark = marks.low_percent,
            "tier is down to its low watermark"
        );
        return;
    }
    if index + 1 == meters.len() {
        if !state.warned {
            warn!(
                tier,
                used,
                capacity,
                high_watermark = marks.high_percent,
                "the coldest tier is above its high watermark and has no colder tier to demote to"
            );
            state.warned = true;
        }
        return;
    }
    let excess = marks.excess(used, capacity);
    let victims = match choose_victims(service, &tier, excess).await {
        Ok(victims) => victims,
        Err(e) => {
            warn!(tier, error = %e, "could not choose objects to demote; will retry");
            return;
        }
    };
    let buckets: HashMap<u64, String> = match service.meta.buckets() {
        Ok(buckets) => buckets.into_iter().map(|b| (b.id, b.name)).collect(),
        Err(e) => {
            warn!(tier, error = %e, "could not list buckets; will retry");
            return;
        }
    };
    let (mut moved, mut bytes) = (0u64, 0u64);
    for victim in victims {
        if *shutdown.borrow() {
            return;
        }
        let Some(bucket) = buckets.get(&victim.bucket_id) else {
            continue;
        };
        let Some(target) = service.tiers.colder_with_room(index, victim.bytes) else {
            if !state.warned {
                warn!(
                    tier,
                    bytes = victim.bytes,
                    "no colder tier has room for objects demoted from this tier"
                );
                state.warned = true;
            }
            break;
        };
        match demote_one(service, meter, bucket, &victim, target.name()).await {
            Ok(true) => {
                moved += 1;
                bytes += victim.bytes;
                state.warned = false;
                debug!(
                    tier,
                    bucket,
                    key = victim.key,
                    to = target.name(),
                    "demoted"
                );
            }
            Ok(false) => {}
            Err(e) => {
                warn!(tier, bucket, key = victim.key, to = target.name(), error = %e, "demotion of an object failed");
                if matches!(e, ObjectError::StorageFull) {
                    break;
                }
            }
        }
    }
    if moved > 0 {
        info!(
            tier,
            objects = moved,
            bytes,
            usage_before = used,
            low_watermark_bytes = marks.low_bytes(capacity),
            "demoted least recently read objects to colder tiers"
        );
    }
}

/// The least recently read objects on `tier` covering `excess` bytes. Scans the metadata
/// on a blocking thread.
async fn choose_victims(
    service: &Arc<ObjectService>,
    tier: &str,
    excess: u64,
) -> ObjectResult<Vec<Resident>> {
    let meta = Arc::clone(&service.meta);
    let tier = tier.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut victims = Victims::new(excess);
        meta.for_each_resident(&tier, &mut |r| victims.offer(r))?;
        Ok(victims.into_sorted())
    })
    .await
    .map_err(|e| ObjectError::Internal(format!("demotion scan failed: {e}")))?
}

/// The blobs of the current version of an object that are on `tier`.
fn blobs_on(
    service: &ObjectService,
    bucket_id: u64,
    key: &str,
    tier: &str,
) -> ObjectResult<Vec<DataId>> {
    Ok(service
        .meta
        .object_with_layout(bucket_id, key)?
        .map(|(_, layout)| {
            layout
                .blobs()
                .filter(|b| b.tier == tier)
                .map(|b| b.id)
                .collect()
        })
        .unwrap_or_default())
}

/// Moves one object to `target`; true when it moved.
async fn demote_one(
    service: &Arc<ObjectService>,
    meter: &Arc<MeteredTier>,
    bucket: &str,
    victim: &Resident,
    target: &str,
) -> ObjectResult<bool> {
    let before = blobs_on(service, victim.bucket_id, &victim.key, meter.name())?;
    let outcome = service
        .move_object(bucket, &victim.key, target, None)
        .await?;
    if !matches!(outcome, MoveOutcome::Moved { .. }) {
        return Ok(false);
    }
    // Whatever happened to the object meanwhile (this move, an overwrite, a delete), a blob
    // it no longer references is queued for reclamation.
    let after = blobs_on(service, victim.bucket_id, &victim.key, meter.name())?;
    let retired: Vec<DataId> = before
        .into_iter()
        .filter(|id| !after.contains(id))
        .collect();
    let meter = Arc::clone(meter);
    tokio::task::spawn_blocking(move || retired.into_iter().for_each(|id| meter.retire(id)))
        .await
        .map_err(|e| ObjectError::Internal(e.to_string()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::Layout;
    use crate::objects::Watermarks;
    use crate::objects::test_support::{get, put, service_with_watermarks};
    use std::time::Duration;

    fn tier_of(service: &ObjectService, key: &str) -> String {
        let bucket = service.bucket("b").unwrap();
        let (_, layout) = service
            .meta()
            .object_with_layout(bucket.id, key)
            .unwrap()
            .unwrap();
        match layout {
            Layout::Inline { .. } => "inline".into(),
            other => other.blobs().next().unwrap().tier.clone(),
        }
    }

    fn limits(capacity: u64, high: u8, low: u8) -> Watermarks {
        Watermarks {
            capacity: Some(capacity),
            high_percent: high,
            low_percent: low,
        }
    }

    fn data(i: u8) -> Vec<u8> {
        vec![i; 100_000]
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn demotes_the_least_recently_read_down_to_the_low_watermark() {
        // Room for all ten objects, but above the high watermark with them.
        const CAPACITY: u64 = 1_100_000;
        let t = service_with_watermarks(None, &[("ssd", limits(CAPACITY, 80, 50))]).await;
        let s = &t.service;
        for i in 0..10u8 {
            put(s, &format!("k{i}"), &data(i), None).await;
            // Distinct write times, so that age alone orders the objects never read.
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        // The two oldest are read, which makes them the most recently used.
        assert_eq!(get(s, "k0").await, data(0));
        assert_eq!(get(s, "k1").await, data(1));
        assert_eq!(s.flush_reads().await.unwrap(), 2);

        let meters: Vec<Arc<MeteredTier>> = s.tiers.meters().cloned().collect();
        let ssd = &meters[0];
        let marks = ssd.watermarks();
        assert_eq!(tier_of(s, "k9"), "ssd");
        assert!(marks.above_high(ssd.settled_used(), CAPACITY));
        let (_keep, shutdown) = watch::channel(false);
        let mut state = TierState::default();
        check_tier(s, &meters, 0, &mut state, &shutdown).await;

        // 10 × 100 kB (plus framing) down to 550 kB: the five least recently read go.
        let on_hdd: Vec<String> = (0..10)
            .map(|i| format!("k{i}"))
            .filter(|k| tier_of(s, k) == "hdd")
            .collect();
        assert_eq!(on_hdd, ["k2", "k3", "k4", "k5", "k6"]);
        assert!(state.demoting);
        assert!(marks.reached_low(ssd.settled_used(), CAPACITY));
        for i in 0..10u8 {
            assert_eq!(get(s, &format!("k{i}")).await, data(i));
        }
        // The next check sees the tier down to its low watermark and stops.
        check_tier(s, &meters, 0, &mut state, &shutdown).await;
        assert!(!state.demoting);
        assert_eq!(tier_of(s, "k8"), "ssd");
        // Once reclaimed, the bytes are really gone from the tier.
        while crate::objects::reclaim::reclaim_round(s).await.unwrap() > 0 {}
        assert!(marks.reached_low(ssd.used(), CAPACITY), "{}", ssd.used());
        assert_eq!(ssd.used(), ssd.settled_used());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_coldest_tier_has_nowhere_to_go() {
        let t = service_with_watermarks(None, &[("hdd", limits(150_000, 50, 10))]).await;
        let s = &t.service;
        put(s, "cold", &data(1), Some("GLACIER")).await;
        let meters: Vec<Arc<MeteredTier>> = s.tiers.meters().cloned().collect();
        let (_keep, shutdown) = watch::channel(false);
        let mut state = TierState::default();
        check_tier(s, &meters, 1, &mut state, &shutdown).await;
        assert!(state.demoting && state.warned);
        assert_eq!(tier_of(s, "cold"), "hdd");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_are_recorded_and_deleted_objects_forgotten() {
        let t = service_with_watermarks(None, &[]).await;
        let s = &t.service;
        let written = put(s, "read", &data(1), None).await;
        put(s, "unread", &data(2), None).await;
        put(s, "gone", &data(3), None).await;
        get(s, "read").await;
        get(s, "gone").await;
        s.delete_object("b", "gone", "me").await.unwrap();
        s.flush_reads().await.unwrap();
        let mut seen = Vec::new();
        s.meta()
            .for_each_resident("ssd", &mut |r| seen.push((r.key, r.last_read_ms)))
            .unwrap();
        assert_eq!(seen.len(), 2);
        let read = seen.iter().find(|(k, _)| k == "read").unwrap().1;
        assert!(read >= written.modified_ms);
        let unread = s
            .meta()
            .object(s.bucket("b").unwrap().id, "unread")
            .unwrap()
            .unwrap();
        assert_eq!(
            seen.iter().find(|(k, _)| k == "unread").unwrap().1,
            unread.modified_ms,
            "never read: as old as its write"
        );
    }
}
