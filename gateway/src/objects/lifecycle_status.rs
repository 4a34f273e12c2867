//! The lifecycle status report (`GET /v1/lifecycle`, `vmgw lifecycle status`): the worker's
//! in-memory figures joined with what the metadata store knows durably (the schedule's
//! size and front, pending backfills), by bucket name.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::error::{ObjectError, ObjectResult};
use super::lifecycle_stats::{BucketLifecycleStats, LagHistogram};
use super::{ObjectService, now_ms};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketLifecycleStatus {
    pub bucket: String,
    /// Whether the bucket has a lifecycle configuration.
    pub has_rules: bool,
    /// A rule change is still being indexed (this survives restarts).
    pub backfill_pending: bool,
    #[serde(flatten)]
    pub stats: BucketLifecycleStats,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleStatus {
    /// When this report was made, ms since the epoch (the other times are absolute too).
    pub now_ms: i64,
    /// Worker rounds since the gateway started.
    #[serde(default)]
    pub rounds: u64,
    pub last_round_ms: Option<i64>,
    /// When the idle worker looks again; `None` while it is working back to back.
    pub next_round_ms: Option<i64>,
    /// Objects indexed in the schedule.
    pub schedule_entries: u64,
    /// The earliest due moment in the schedule.
    pub next_due_ms: Option<i64>,
    /// How long after their due moment scheduled actions were taken.
    pub action_lag: LagHistogram,
    pub buckets: Vec<BucketLifecycleStatus>,
}

impl ObjectService {
    /// The lifecycle status of every bucket with rules or worker activity, or of `only`.
    pub fn lifecycle_status(&self, only: Option<&str>) -> ObjectResult<LifecycleStatus> {
        // The store first, the figures second: a backfill step that commits its end in
        // between is then still marked in flight in the figures (it is marked before its
        // commit and cleared with its counts), so "done" never shows without the count.
        let pending: HashSet<u64> = self.meta.pending_backfills()?.into_iter().collect();
        let summary = self.meta.schedule_summary()?;
        let snapshot = self.lifecycle_stats.snapshot();
        let buckets = match only {
            Some(name) => vec![self.meta.bucket(name)?.ok_or(ObjectError::NoSuchBucket)?],
            None => self.meta.buckets()?,
        };
        let mut out = Vec::new();
        for bucket in buckets {
            let has_rules = self.cached_rules(bucket.id)?.is_some();
            let stats = snapshot.buckets.get(&bucket.id).cloned();
            let backfill_pending =
                pending.contains(&bucket.id) || snapshot.backfill_step_in_flight(bucket.id);
            if only.is_none() && !has_rules && stats.is_none() && !backfill_pending {
                continue;
            }
            out.push(BucketLifecycleStatus {
                bucket: bucket.name,
                has_rules,
                backfill_pending,
                stats: stats.unwrap_or_default(),
            });
        }
        Ok(LifecycleStatus {
            now_ms: now_ms(),
            rounds: snapshot.rounds,
            last_round_ms: snapshot.last_round_ms,
            next_round_ms: snapshot.next_round_ms,
            schedule_entries: summary.entries,
            next_due_ms: summary.next_due_ms,
            action_lag: snapshot.lag,
            buckets: out,
        })
    }
}
