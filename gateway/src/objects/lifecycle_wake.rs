//! When the lifecycle worker runs its next round. Idle, it looks again after its scan
//! interval, or at the schedule's first due moment if that comes sooner, so an action is
//! not up to a whole interval late. Working while clients are served, it leaves them time
//! between rounds.

use std::time::Duration;

use super::{ObjectService, now_ms};

/// How long to sleep; records the planned wake-up for the status report.
pub(super) fn idle_wait(service: &ObjectService, interval: Duration) -> Duration {
    let now = now_ms();
    let next_due = service
        .meta
        .schedule_summary()
        .ok()
        .and_then(|s| s.next_due_ms);
    let wait = match next_due {
        // A front entry already due that the round did not take (unreadable, say) must not
        // turn the wait into a busy loop: then the interval applies.
        Some(at) if at > now => {
            let until = Duration::from_millis(u64::try_from(at - now).unwrap_or(u64::MAX));
            until.min(interval)
        }
        _ => interval,
    };
    service
        .lifecycle_stats
        .next_round_at(now + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
    wait
}

/// How many times a working round's length the worker pauses while clients are served.
const BUSY_PAUSE_FACTOR: u32 = 3;

/// After a round that worked, while clients are being served: a pause of three times what
/// the round took, so the worker takes at most a quarter of its share of the machine and
/// foreground requests keep their latency. On two cores, back-to-back rounds of deletes
/// lifted GET p99 1.6–1.8×, and pausing as long as the round took was not enough. Idle,
/// the worker runs flat out.
pub(super) fn busy_pause(service: &ObjectService, round: Duration) -> Duration {
    if service.activity.busy() {
        round * BUSY_PAUSE_FACTOR
    } else {
        Duration::ZERO
    }
}
