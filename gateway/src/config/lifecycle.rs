//! `[lifecycle]`: how lifecycle rules and Intelligent-Tiering count days.

use serde::Deserialize;
use vmgw_lifecycle::AutoTiering;

use super::{ConfigError, invalid};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecycleConfig {
    /// Seconds in a lifecycle "day": 86400, or less to watch rules act in tests and demos
    /// (like Ceph's `rgw_lc_debug_interval`); fractions are allowed, down to a millisecond,
    /// so that rules counted in months can be watched in seconds. Dates in rules stay
    /// calendar dates.
    pub day_seconds: f64,
    /// How often the worker looks for due objects when idle, in milliseconds.
    pub scan_interval_ms: u64,
    pub intelligent_tiering: IntelligentTieringConfig,
}

/// `[lifecycle.intelligent_tiering]`: the automatic steps of the INTELLIGENT_TIERING class,
/// in days without access (S3's are 30 and 90).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntelligentTieringConfig {
    /// Days unread before an object leaves the frequent tier for the infrequent one.
    pub infrequent_days: u32,
    /// Days unread before it goes on to the archive-instant tier (GLACIER_IR's).
    pub archive_instant_days: u32,
}

impl Default for IntelligentTieringConfig {
    fn default() -> Self {
        let auto = AutoTiering::default();
        Self {
            infrequent_days: auto.infrequent_days,
            archive_instant_days: auto.archive_instant_days,
        }
    }
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        Self {
            day_seconds: 86_400.0,
            scan_interval_ms: 1_000,
            intelligent_tiering: IntelligentTieringConfig::default(),
        }
    }
}

impl LifecycleConfig {
    /// The day in milliseconds, validated.
    pub(super) fn day_ms(&self) -> Result<i64, ConfigError> {
        if !(0.001..=86_400.0).contains(&self.day_seconds) {
            return Err(invalid(
                "lifecycle.day_seconds",
                self.day_seconds,
                "from 0.001 to 86400",
            ));
        }
        #[allow(clippy::cast_possible_truncation)]
        Ok((self.day_seconds * 1000.0).round() as i64)
    }

    /// The automatic Intelligent-Tiering steps, validated.
    pub(super) fn auto_tiering(&self) -> Result<AutoTiering, ConfigError> {
        let it = &self.intelligent_tiering;
        if it.infrequent_days == 0 {
            return Err(invalid(
                "lifecycle.intelligent_tiering.infrequent_days",
                it.infrequent_days,
                "must be at least 1",
            ));
        }
        if it.archive_instant_days <= it.infrequent_days {
            return Err(invalid(
                "lifecycle.intelligent_tiering.archive_instant_days",
                it.archive_instant_days,
                "must be more than infrequent_days",
            ));
        }
        Ok(AutoTiering {
            infrequent_days: it.infrequent_days,
            archive_instant_days: it.archive_instant_days,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> LifecycleConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn days_may_be_whole_or_fractional_seconds() {
        assert_eq!(parse("").day_ms().unwrap(), 86_400_000);
        assert_eq!(parse("day_seconds = 1").day_ms().unwrap(), 1_000);
        assert_eq!(parse("day_seconds = 0.1").day_ms().unwrap(), 100);
        for bad in [
            "day_seconds = 0",
            "day_seconds = 0.0001",
            "day_seconds = 86401",
        ] {
            assert!(parse(bad).day_ms().is_err(), "{bad}");
        }
    }

    #[test]
    fn automatic_tiering_steps_are_checked() {
        assert_eq!(parse("").auto_tiering().unwrap(), AutoTiering::default());
        let custom = parse("[intelligent_tiering]\ninfrequent_days = 7\narchive_instant_days = 60");
        assert_eq!(
            custom.auto_tiering().unwrap(),
            AutoTiering {
                infrequent_days: 7,
                archive_instant_days: 60
            }
        );
        for bad in [
            "[intelligent_tiering]\ninfrequent_days = 0",
            "[intelligent_tiering]\ninfrequent_days = 90\narchive_instant_days = 90",
        ] {
            assert!(parse(bad).auto_tiering().is_err(), "{bad}");
        }
    }
}
