//! Whether clients are being served right now, so that background moves can give way.
//!
//! A move streams at disk speed and, on a small host, takes a core from the requests it
//! shares the machine with. While requests arrive, moves pace themselves to a modest rate;
//! when the gateway is idle they run at full speed.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use super::now_ms;

/// How recent the last request must be for the gateway to count as busy.
const BUSY_WINDOW_MS: i64 = 250;
/// The pace of a move while the gateway is busy.
const BUSY_MOVE_BYTES_PER_SEC: u64 = 64 << 20;

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
        let started = std::time::Instant::now();
        activity.pace(8 << 20);
        assert!(
            started.elapsed() < Duration::from_millis(50),
            "idle: no pause"
        );
        activity.touch();
        assert!(activity.busy());
        let started = std::time::Instant::now();
        activity.pace(8 << 20);
        assert!(
            started.elapsed() >= Duration::from_millis(120),
            "busy: paced"
        );
    }
}
