//! A tier's capacity and the two watermarks that drive demotion: above the high one the
//! demoter starts moving objects to a colder tier, and it keeps going until usage is down
//! to the low one. The gap between them keeps it from moving one object per check while
//! writes hover around a single threshold.

/// Capacity limits of one tier, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermarks {
    /// Bytes the tier may hold; `None`: the size of the filesystem under it.
    pub capacity: Option<u64>,
    /// Percent of capacity above which demotion starts.
    pub high_percent: u8,
    /// Percent of capacity demotion brings usage down to.
    pub low_percent: u8,
}

pub const DEFAULT_HIGH_PERCENT: u8 = 90;
pub const DEFAULT_LOW_PERCENT: u8 = 75;

impl Default for Watermarks {
    fn default() -> Self {
        Self {
            capacity: None,
            high_percent: DEFAULT_HIGH_PERCENT,
            low_percent: DEFAULT_LOW_PERCENT,
        }
    }
}

/// `percent` % of `capacity`, rounded down; exact for any u64 capacity.
fn share(capacity: u64, percent: u8) -> u64 {
    let bytes = u128::from(capacity) * u128::from(percent) / 100;
    u64::try_from(bytes).unwrap_or(u64::MAX)
}

impl Watermarks {
    #[must_use]
    pub fn high_bytes(&self, capacity: u64) -> u64 {
        share(capacity, self.high_percent)
    }

    #[must_use]
    pub fn low_bytes(&self, capacity: u64) -> u64 {
        share(capacity, self.low_percent)
    }

    /// Whether `used` bytes call for demotion to start.
    #[must_use]
    pub fn above_high(&self, used: u64, capacity: u64) -> bool {
        used > self.high_bytes(capacity)
    }

    /// Whether demotion has done its job.
    #[must_use]
    pub fn reached_low(&self, used: u64, capacity: u64) -> bool {
        used <= self.low_bytes(capacity)
    }

    /// Bytes to move away to get from `used` down to the low watermark.
    #[must_use]
    pub fn excess(&self, used: u64, capacity: u64) -> u64 {
        used.saturating_sub(self.low_bytes(capacity))
    }
}

/// Whether a tier holding `used` bytes of `capacity` takes `len` more (`None`: a body of
/// unknown length, which needs the tier not to be full already).
#[must_use]
pub fn has_room(used: u64, capacity: u64, len: Option<u64>) -> bool {
    match len {
        Some(len) => used.checked_add(len).is_some_and(|total| total <= capacity),
        None => used < capacity,
    }
}

/// Usage as a percentage of capacity, for display.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn percent(used: u64, capacity: u64) -> Option<f64> {
    (capacity > 0).then(|| used as f64 * 100.0 / capacity as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn marks(high: u8, low: u8) -> Watermarks {
        Watermarks {
            capacity: Some(4 * MIB),
            high_percent: high,
            low_percent: low,
        }
    }

    #[test]
    fn thresholds_are_shares_of_capacity() {
        let w = marks(80, 50);
        assert_eq!(w.high_bytes(4 * MIB), 3_355_443);
        assert_eq!(w.low_bytes(4 * MIB), 2 * MIB);
        // No overflow near u64::MAX.
        assert_eq!(marks(100, 50).high_bytes(u64::MAX), u64::MAX);
        assert_eq!(marks(100, 50).low_bytes(u64::MAX), u64::MAX / 2);
    }

    #[test]
    fn demotion_starts_above_high_and_stops_at_low() {
        let w = marks(80, 50);
        let cap = 4 * MIB;
        assert!(
            !w.above_high(3_355_443, cap),
            "exactly at high is not above"
        );
        assert!(w.above_high(3_355_444, cap));
        assert!(!w.reached_low(2 * MIB + 1, cap));
        assert!(w.reached_low(2 * MIB, cap));
        assert_eq!(w.excess(3 * MIB, cap), MIB);
        assert_eq!(w.excess(MIB, cap), 0);
        // Between the marks: not a reason to start, not a reason to stop.
        let between = 3 * MIB;
        assert!(!w.above_high(between, cap) && !w.reached_low(between, cap));
    }

    #[test]
    fn a_low_watermark_of_zero_empties_the_tier() {
        let w = marks(10, 0);
        assert_eq!(w.excess(12345, MIB), 12345);
        assert!(!w.reached_low(1, MIB));
        assert!(w.reached_low(0, MIB));
    }

    #[test]
    fn room_counts_the_new_bytes() {
        assert!(has_room(0, 100, Some(100)));
        assert!(!has_room(0, 100, Some(101)));
        assert!(!has_room(60, 100, Some(41)));
        assert!(has_room(99, 100, None));
        assert!(!has_room(100, 100, None));
        assert!(!has_room(u64::MAX, u64::MAX, Some(1)));
        assert_eq!(percent(1, 4), Some(25.0));
        assert_eq!(percent(1, 0), None);
    }
}
