//! What the lifecycle worker has done since the gateway started, per bucket, for
//! `vmgw lifecycle status` (and, once they exist, metrics).
//!
//! The figures live in memory only: they describe this process's work, and the durable
//! state that matters after a restart (the schedule, pending backfills) is read from the
//! metadata store when a status is asked for. One mutex guards them; the worker takes it
//! a few times per object acted on, which is nothing next to the commit each action costs.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::now_ms;

/// Upper bounds (ms) of the due-to-action lag histogram, Prometheus-style: the worker is
/// meant to act within a second of the due moment, so the buckets are fine below that and
/// coarse above it.
pub const LAG_BOUNDS_MS: [i64; 12] = [
    1, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 10_000, 60_000,
];

/// An action the worker took on one object or upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    Transitioned,
    Expired,
    AbortedUpload,
}

/// One bucket's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketLifecycleStats {
    /// Start of the last worker round that did anything for the bucket, ms since the epoch.
    pub last_round_ms: Option<i64>,
    /// Due entries taken from the schedule plus objects re-indexed by backfills.
    pub objects_examined: u64,
    pub transitions: u64,
    pub expirations: u64,
    pub aborted_uploads: u64,
    pub failures: u64,
    pub last_error: Option<String>,
    /// Objects re-indexed by the current backfill, or by the last one once it finished.
    pub backfill_reindexed: u64,
}

/// How late actions were taken after their due moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LagHistogram {
    /// Upper bounds in ms; `counts` has one more slot, for lags above the last bound.
    pub bounds_ms: Vec<i64>,
    pub counts: Vec<u64>,
    pub count: u64,
    pub max_ms: i64,
}

impl Default for LagHistogram {
    fn default() -> Self {
        Self {
            bounds_ms: LAG_BOUNDS_MS.to_vec(),
            counts: vec![0; LAG_BOUNDS_MS.len() + 1],
            count: 0,
            max_ms: 0,
        }
    }
}

impl LagHistogram {
    fn record(&mut self, lag_ms: i64) {
        let lag_ms = lag_ms.max(0);
        let slot = LAG_BOUNDS_MS.partition_point(|&bound| bound < lag_ms);
        self.counts[slot] += 1;
        self.count += 1;
        self.max_ms = self.max_ms.max(lag_ms);
    }
}

/// A copy of the figures at one moment, keyed by bucket id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Worker rounds since the start.
    pub rounds: u64,
    pub last_round_ms: Option<i64>,
    pub next_round_ms: Option<i64>,
    pub lag: LagHistogram,
    pub buckets: HashMap<u64, BucketLifecycleStats>,
    /// Buckets with a backfill step seen since the last one that finished (the
    /// authoritative "pending" is in the metadata store, which survives restarts).
    backfills_running: HashSet<u64>,
    /// Buckets whose backfill step is being committed and not yet counted.
    steps_in_flight: HashSet<u64>,
}

impl StatsSnapshot {
    /// Whether a backfill step of `bucket_id` may have committed without being counted yet.
    #[must_use]
    pub fn backfill_step_in_flight(&self, bucket_id: u64) -> bool {
        self.steps_in_flight.contains(&bucket_id)
    }
}

#[derive(Debug, Default)]
pub struct LifecycleStats {
    inner: Mutex<StatsSnapshot>,
}

impl LifecycleStats {
    fn with<R>(&self, f: impl FnOnce(&mut StatsSnapshot) -> R) -> R {
        // A panic while the lock was held leaves plain counters, still worth reporting.
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut inner)
    }

    fn with_bucket<R>(&self, bucket_id: u64, f: impl FnOnce(&mut BucketLifecycleStats) -> R) -> R {
        self.with(|inner| {
            let round = inner.last_round_ms;
            let bucket = inner.buckets.entry(bucket_id).or_default();
            bucket.last_round_ms = round.or(bucket.last_round_ms);
            f(bucket)
        })
    }

    /// A worker round begins at `at_ms`.
    pub fn round_started(&self, at_ms: i64) {
        self.with(|inner| {
            inner.rounds += 1;
            inner.last_round_ms = Some(at_ms);
            inner.next_round_ms = None;
        });
    }

    /// The worker sleeps until `at_ms`.
    pub fn next_round_at(&self, at_ms: i64) {
        self.with(|inner| inner.next_round_ms = Some(at_ms));
    }

    /// Due entries of a bucket taken from the schedule.
    pub fn examined(&self, bucket_id: u64, count: u64) {
        self.with_bucket(bucket_id, |b| b.objects_examined += count);
    }

    /// A backfill step of `bucket_id` is about to commit.
    pub fn backfill_step_started(&self, bucket_id: u64) {
        self.with(|inner| inner.steps_in_flight.insert(bucket_id));
    }

    /// The step ended without counts (it failed).
    pub fn backfill_step_ended(&self, bucket_id: u64) {
        self.with(|inner| inner.steps_in_flight.remove(&bucket_id));
    }

    /// One backfill step re-indexed `count` objects; `done`: the backfill finished. Counted
    /// and no longer in flight at once, under one lock, so a status never sees one without
    /// the other.
    pub fn backfilled(&self, bucket_id: u64, count: u64, done: bool) {
        self.with(|inner| {
            let fresh = !inner.backfills_running.contains(&bucket_id);
            if done {
                inner.backfills_running.remove(&bucket_id);
            } else {
                inner.backfills_running.insert(bucket_id);
            }
            inner.steps_in_flight.remove(&bucket_id);
            let round = inner.last_round_ms;
            let b = inner.buckets.entry(bucket_id).or_default();
            b.last_round_ms = round.or(b.last_round_ms);
            if fresh {
                b.backfill_reindexed = 0;
            }
            b.backfill_reindexed += count;
            b.objects_examined += count;
        });
    }

    /// An action was taken; `due_ms`: when it was due, for the lag (uploads are not
    /// scheduled, so they have none).
    pub fn acted(&self, bucket_id: u64, taken: Taken, due_ms: Option<i64>) {
        let now = now_ms();
        self.with(|inner| {
            if let Some(due) = due_ms {
                inner.lag.record(now - due);
            }
        });
        self.with_bucket(bucket_id, |b| match taken {
            Taken::Transitioned => b.transitions += 1,
            Taken::Expired => b.expirations += 1,
            Taken::AbortedUpload => b.aborted_uploads += 1,
        });
    }

    /// An action failed (it will be retried).
    pub fn failed(&self, bucket_id: u64, error: &dyn std::fmt::Display) {
        let message = error.to_string();
        self.with_bucket(bucket_id, |b| {
            b.failures += 1;
            b.last_error = Some(message);
        });
    }

    #[must_use]
    pub fn snapshot(&self) -> StatsSnapshot {
        self.with(|inner| inner.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_land_in_their_bucket_with_the_round_that_did_them() {
        let stats = LifecycleStats::default();
        stats.round_started(1_000);
        stats.examined(1, 3);
        stats.acted(1, Taken::Expired, None);
        stats.acted(1, Taken::Expired, None);
        stats.acted(1, Taken::Transitioned, None);
        stats.round_started(2_000);
        stats.acted(2, Taken::AbortedUpload, None);
        stats.failed(2, &"tier hdd is unavailable");
        stats.next_round_at(3_000);

        let snap = stats.snapshot();
        assert_eq!(snap.last_round_ms, Some(2_000));
        assert_eq!(snap.next_round_ms, Some(3_000));
        let one = &snap.buckets[&1];
        assert_eq!(
            (one.objects_examined, one.expirations, one.transitions),
            (3, 2, 1)
        );
        assert_eq!((one.failures, one.last_round_ms), (0, Some(1_000)));
        let two = &snap.buckets[&2];
        assert_eq!((two.aborted_uploads, two.failures), (1, 1));
        assert_eq!(two.last_error.as_deref(), Some("tier hdd is unavailable"));
        assert_eq!(two.last_round_ms, Some(2_000));
        // A new round clears the planned next one until the worker decides again.
        stats.round_started(4_000);
        assert_eq!(stats.snapshot().next_round_ms, None);
    }

    #[test]
    fn a_new_backfill_restarts_its_count_but_examined_keeps_adding() {
        let stats = LifecycleStats::default();
        stats.backfilled(7, 1000, false);
        stats.backfilled(7, 500, true);
        assert_eq!(stats.snapshot().buckets[&7].backfill_reindexed, 1500);
        stats.backfilled(7, 200, true);
        let seven = &stats.snapshot().buckets[&7];
        assert_eq!(seven.backfill_reindexed, 200);
        assert_eq!(seven.objects_examined, 1700);
    }

    #[test]
    fn lags_fall_into_the_first_bound_that_holds_them() {
        let mut lag = LagHistogram::default();
        for ms in [-5, 0, 1, 2, 1_000, 1_001, 70_000] {
            lag.record(ms);
        }
        // -5 and 0 and 1 → ≤1; 2 → ≤5; 1000 → ≤1000; 1001 → ≤2500; 70000 → overflow.
        let mut want = vec![0; LAG_BOUNDS_MS.len() + 1];
        want[0] = 3;
        want[1] = 1;
        want[8] = 1;
        want[9] = 1;
        want[12] = 1;
        assert_eq!(lag.counts, want);
        assert_eq!((lag.count, lag.max_ms), (7, 70_000));
    }

    #[test]
    fn a_backfill_step_is_in_flight_until_it_is_counted() {
        let stats = LifecycleStats::default();
        stats.backfill_step_started(3);
        assert!(stats.snapshot().backfill_step_in_flight(3));
        stats.backfilled(3, 12, true);
        let snap = stats.snapshot();
        assert!(!snap.backfill_step_in_flight(3));
        assert_eq!(snap.buckets[&3].backfill_reindexed, 12);
        stats.backfill_step_started(4);
        stats.backfill_step_ended(4);
        assert!(!stats.snapshot().backfill_step_in_flight(4));
    }
}
