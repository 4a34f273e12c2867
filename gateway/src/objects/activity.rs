//! Whether clients are being served right now, so that background moves can give way.
//!
//! A move streams at disk speed and, on a small host, takes a core from the requests it
//! shares the machine with. While requests arrive, moves pace themselves to a modest rate
//! in small steps, sleeping between them; when the gateway is idle they run at full speed
//! in large ones. The steps matter as much as the rate: a request handler woken while a
//! move thread runs waits for it to finish its step (the scheduler lets a running thread
//! keep the core for up to a few milliseconds whatever its nice value), so a 1 MiB step
//! (read, checksum, write into the page cache: ~1 ms here) showed up in the p99 of small
//! GETs, and a 128 KiB one hardly does.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use super::now_ms;

/// How recent the last request must be for the gateway to count as busy.
const BUSY_WINDOW_MS: i64 = 250;
/// The pace of a move while the gateway is busy.
const BUSY_MOVE_BYTES_PER_SEC: u64 = 64 << 20;
/// Bytes a move reads and writes per step: large when idle (fewer system calls), small
/// while requests are served (see the module header).
const IDLE_MOVE_STEP: usize = 1 << 20;
const BUSY_MOVE_STEP: usize = 128 << 10;

#[derive(Debug, Default)]
pub struct Activity {
    last_request_ms: AtomicI64,
}

impl Activity {
    /// Notes a request (one relaxed store: cheap enough for every GET).
    pub fn touch(&self) {
        self.last_request_ms.store(now_ms(), Ordering::Relaxed);
    }

    #[must_use]
    pub fn busy(&self) -> bool {
        now_ms() - self.last_request_ms.load(Ordering::Relaxed) < BUSY_WINDOW_MS
    }

    /// How many bytes a move should copy in its next step.
    #[must_use]
    pub fn move_step(&self) -> usize {
        if self.busy() {
            BUSY_MOVE_STEP
        } else {
            IDLE_MOVE_STEP
        }
    }

    /// Called by a move after copying `bytes`: waits as long as the busy pace asks.
    /// Blocking.
    pub fn pace(&self, bytes: usize) {
        if self.busy() {
            let nanos = bytes as u64 * 1_000_000_000 / BUSY_MOVE_BYTES_PER_SEC;
            std::thread::sleep(Duration::from_nanos(nanos));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_only_right_after_requests_and_paces_then() {
        let activity = Activity::default();
        assert!(!activity.busy());
        assert_eq!(activity.move_step(), IDLE_MOVE_STEP);
        let started = std::time::Instant::now();
        activity.pace(8 << 20);
        assert!(
            started.elapsed() < Duration::from_millis(50),
            "idle: no pause"
        );
        activity.touch();
        assert!(activity.busy());
        assert_eq!(activity.move_step(), BUSY_MOVE_STEP);
        let started = std::time::Instant::now();
        activity.pace(8 << 20);
        assert!(
            started.elapsed() >= Duration::from_millis(120),
            "busy: paced"
        );
    }
}
