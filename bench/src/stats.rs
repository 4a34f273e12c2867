//! Per-request latencies and the throughput of one measured run.

use std::time::Duration;

/// What a run of requests produced.
#[derive(Debug, Default)]
pub struct Sample {
    pub ops: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
}

impl Sample {
    /// Adds another worker's requests (elapsed is set by the caller, for the whole run).
    pub fn merge(&mut self, other: Self) {
        self.ops += other.ops;
        self.bytes += other.bytes;
        self.latencies.extend(other.latencies);
    }

    pub fn record(&mut self, latency: Duration, bytes: u64) {
        self.ops += 1;
        self.bytes += bytes;
        self.latencies.push(latency);
    }

    #[must_use]
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    #[must_use]
    pub fn mib_per_sec(&self) -> f64 {
        self.bytes as f64 / MIB / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// `(p50, p99)` in milliseconds.
    #[must_use]
    pub fn percentiles_ms(&self) -> (f64, f64) {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        (percentile_ms(&sorted, 0.50), percentile_ms(&sorted, 0.99))
    }
}

pub const MIB: f64 = 1024.0 * 1024.0;

/// Nearest-rank percentile of sorted latencies, in milliseconds (0 when empty).
fn percentile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert!((percentile_ms(&sorted, 0.50) - 50.0).abs() < 1e-9);
        assert!((percentile_ms(&sorted, 0.99) - 99.0).abs() < 1e-9);
        assert!((percentile_ms(&sorted[..1], 0.99) - 1.0).abs() < 1e-9);
        assert_eq!(percentile_ms(&[], 0.5), 0.0);
    }
}
