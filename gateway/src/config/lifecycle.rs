//! `[lifecycle]`: how lifecycle rules count days.

use serde::Deserialize;

use super::{ConfigError, invalid};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecycleConfig {
    /// Seconds in a lifecycle "day": 86400, or less to watch rules act in tests and demos
    /// (like Ceph's `rgw_lc_debug_interval`). Dates in rules stay calendar dates.
    pub day_seconds: u64,
    /// How often the worker looks for due objects when idle, in milliseconds.
    pub scan_interval_ms: u64,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        Self {
            day_seconds: 86_400,
            scan_interval_ms: 1_000,
        }
    }
}

impl LifecycleConfig {
    /// The day in milliseconds, validated.
    pub(super) fn day_ms(&self) -> Result<i64, ConfigError> {
        if self.day_seconds == 0 || self.day_seconds > 86_400 {
            return Err(invalid(
                "lifecycle.day_seconds",
                self.day_seconds,
                "from 1 to 86400",
            ));
        }
        Ok(i64::try_from(self.day_seconds).expect("at most 86400") * 1000)
    }
}
