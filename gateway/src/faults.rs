//! Crash points for fault-injection tests.
//!
//! `VMGW_FAULT_CRASH_AT=<point>` makes the process abort — no unwinding, no cleanup, like a
//! power cut as far as the process is concerned — when it reaches that point. The crash tests
//! use it to stop a multi-step operation (a move between tiers) between exactly the steps
//! whose interruption must leave one whole copy. Unset, a crash point costs one comparison.

use std::sync::OnceLock;

/// Aborts the process if `VMGW_FAULT_CRASH_AT` names `point`.
pub fn crash_point(point: &str) {
    static TARGET: OnceLock<Option<String>> = OnceLock::new();
    let target = TARGET.get_or_init(|| {
        std::env::var("VMGW_FAULT_CRASH_AT")
            .ok()
            .filter(|v| !v.is_empty())
    });
    if target.as_deref() == Some(point) {
        eprintln!("vmgw: crash point {point} reached; aborting");
        std::process::abort();
    }
}
