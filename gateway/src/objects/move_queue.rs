//! Moves that run in the background and are retried while their tiers are unavailable: a
//! move to a remote tier that is down waits, with backoff, until it is back. The lifecycle
//! worker and the capacity policies queue their moves here; an operator can too.
//!
//! The queue is in memory: after a restart, the policies that queued a move derive it again
//! from the metadata (an object still due for a transition is still due).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use super::ObjectService;
use super::error::ObjectError;
use super::moves::MoveOutcome;

const FIRST_RETRY: Duration = Duration::from_millis(500);
const LONGEST_RETRY: Duration = Duration::from_secs(30);
/// Failures other than an unavailable tier are retried this often before the move is
/// dropped: they are not expected to go away by themselves.
const MAX_OTHER_FAILURES: u32 = 3;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedMove {
    pub bucket: String,
    pub key: String,
    pub tier: String,
    #[serde(default)]
    pub storage_class: Option<String>,
    /// Attempts that failed so far.
    #[serde(default)]
    pub failures: u32,
    #[serde(default)]
    pub last_error: Option<String>,
}

#[derive(Default)]
pub struct MoveQueue {
    /// Jobs not started yet, and the one running (first in `pending`, so that the queue
    /// only looks empty once every move has finished).
    waiting: Mutex<Waiting>,
    added: Notify,
}

#[derive(Default)]
struct Waiting {
    jobs: VecDeque<(Instant, QueuedMove)>,
    running: Option<QueuedMove>,
}

impl MoveQueue {
    pub fn push(&self, job: QueuedMove) {
        self.waiting
            .lock()
            .expect("move queue lock")
            .jobs
            .push_back((Instant::now(), job));
        self.added.notify_one();
    }

    /// The move running now, if any, then what is waiting, in order.
    pub fn pending(&self) -> Vec<QueuedMove> {
        let waiting = self.waiting.lock().expect("move queue lock");
        waiting
            .running
            .iter()
            .cloned()
            .chain(waiting.jobs.iter().map(|(_, job)| job.clone()))
            .collect()
    }

    /// The first job that is due, now counted as running, or when the next one will be.
    fn take_due(&self) -> Result<QueuedMove, Option<Instant>> {
        let mut waiting = self.waiting.lock().expect("move queue lock");
        let now = Instant::now();
        match waiting.jobs.iter().position(|(due, _)| *due <= now) {
            Some(i) => {
                let job = waiting.jobs.remove(i).expect("position is valid").1;
                waiting.running = Some(job.clone());
                Ok(job)
            }
            None => Err(waiting.jobs.iter().map(|(due, _)| *due).min()),
        }
    }

    /// The running job is over (done, dropped, or put back by `retry_later`).
    fn finished(&self) {
        self.waiting.lock().expect("move queue lock").running = None;
    }

    fn retry_later(&self, job: QueuedMove) {
        let backoff = FIRST_RETRY
            .saturating_mul(1 << job.failures.min(10))
            .min(LONGEST_RETRY);
        let mut waiting = self.waiting.lock().expect("move queue lock");
        waiting.running = None;
        waiting.jobs.push_back((Instant::now() + backoff, job));
    }
}

/// Runs queued moves one at a time (a move already streams at disk or network speed, and
/// foreground requests must keep their share) until shutdown.
pub async fn run_move_queue(service: Arc<ObjectService>, mut shutdown: watch::Receiver<bool>) {
    let queue = Arc::clone(&service.moves);
    loop {
        if *shutdown.borrow() {
            break;
        }
        let next_due = match queue.take_due() {
            Ok(job) => {
                run_one(&service, &queue, job).await;
                queue.finished();
                continue;
            }
            Err(next_due) => next_due,
        };
        let wait = next_due.map_or(Duration::from_secs(3600), |due| {
            due.saturating_duration_since(Instant::now())
        });
        tokio::select! {
            () = queue.added.notified() => {}
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
}

async fn run_one(service: &ObjectService, queue: &MoveQueue, mut job: QueuedMove) {
    let result = service
        .move_object(&job.bucket, &job.key, &job.tier, job.storage_class.clone())
        .await;
    match result {
        Ok(MoveOutcome::Moved { bytes }) => {
            info!(bucket = %job.bucket, key = %job.key, tier = %job.tier, bytes, "queued move done");
        }
        Ok(MoveOutcome::AlreadyThere | MoveOutcome::Abandoned) => {}
        // The object went away: nothing left to move.
        Err(ObjectError::NoSuchKey | ObjectError::NoSuchBucket) => {}
        Err(e @ ObjectError::TierUnavailable { .. }) => {
            job.failures += 1;
            job.last_error = Some(e.to_string());
            queue.retry_later(job);
        }
        Err(e) => {
            job.failures += 1;
            job.last_error = Some(e.to_string());
            if job.failures >= MAX_OTHER_FAILURES {
                warn!(bucket = %job.bucket, key = %job.key, tier = %job.tier, error = %e, "queued move dropped after repeated failures");
            } else {
                queue.retry_later(job);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(key: &str) -> QueuedMove {
        QueuedMove {
            bucket: "b".into(),
            key: key.into(),
            tier: "hdd".into(),
            storage_class: None,
            failures: 0,
            last_error: None,
        }
    }

    #[test]
    fn due_jobs_first_and_retries_back_off() {
        let queue = MoveQueue::default();
        queue.push(job("a"));
        queue.push(job("b"));
        assert_eq!(queue.take_due().unwrap().key, "a");
        // A running job still counts as pending until it is over.
        assert_eq!(queue.pending().len(), 2);
        queue.finished();
        assert_eq!(queue.pending().len(), 1);
        let mut failed = queue.take_due().unwrap();
        failed.failures = 3;
        queue.retry_later(failed);
        let next = queue.take_due().unwrap_err().expect("a retry is scheduled");
        let wait = next - Instant::now();
        assert!(
            wait > Duration::from_secs(3) && wait <= Duration::from_secs(4),
            "{wait:?}"
        );
        assert_eq!(queue.pending().len(), 1);
        let mut late = job("c");
        late.failures = 40;
        queue.retry_later(late);
        let waits: Vec<_> = queue
            .waiting
            .lock()
            .unwrap()
            .jobs
            .iter()
            .map(|(due, _)| *due - Instant::now())
            .collect();
        assert!(waits[1] <= LONGEST_RETRY, "{waits:?}");
    }
}
