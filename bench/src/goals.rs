//! The product's performance targets, by result id.

use serde::Serialize;

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    AtLeast(f64),
    Below(f64),
    AtMost(f64),
}

impl Goal {
    #[must_use]
    pub fn met(self, value: f64) -> bool {
        match self {
            Self::AtLeast(min) => value >= min,
            Self::Below(max) => value < max,
            Self::AtMost(max) => value <= max,
        }
    }
}

impl std::fmt::Display for Goal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AtLeast(v) => write!(f, "≥ {}", crate::report::num(*v)),
            Self::Below(v) => write!(f, "< {}", crate::report::num(*v)),
            Self::AtMost(v) => write!(f, "≤ {}", crate::report::num(*v)),
        }
    }
}

/// The target for a result id (ids name the object size, so non-default sizes get none).
#[must_use]
pub fn lookup(id: &str) -> Option<Goal> {
    use Goal::{AtLeast, AtMost, Below};
    Some(match id {
        "put-64MiB-c1" => AtLeast(340.0),
        "put-64MiB-c4" => AtLeast(600.0),
        "get-64MiB-c1" => AtLeast(1100.0),
        "get-64MiB-c4" => AtLeast(1700.0),
        "put-4KiB-c1" => AtLeast(1000.0),
        "put-4KiB-c16" => AtLeast(2000.0),
        "get-4KiB-c1" => AtLeast(1000.0),
        "get-4KiB-c16" => AtLeast(3000.0),
        "head-4KiB-c16" => AtLeast(7000.0),
        "list-flat" => AtLeast(150_000.0),
        "rss-workloads" => Below(100.0),
        "rss-big-upload" => Below(200.0),
        // Tiers: a move copies, verifies (MD5 of the copy read back) and commits.
        "move-64MiB-ssd-hdd-c1" => AtLeast(400.0),
        // GET from a zstd + AES-GCM tier, in % of the same GET from a plain tier.
        "get-256MiB-text-sealed-vs-plain" | "get-256MiB-random-sealed-vs-plain" => AtLeast(60.0),
        // Stored bytes of random data through zstd + AES over plain, in %.
        "codec-overhead-256MiB-random-zstd3-aes" => Below(5.0),
        // Foreground GET p99 while objects move, over the same p99 when idle.
        "get-4KiB-c4-p99-moving-vs-idle" | "get-1MiB-c4-p99-moving-vs-idle" => AtMost(2.0),
        // A tenant's GET p99 while another hammers under QoS limits, over its p99 alone.
        "qos-get-64KiB-p99-limited-vs-idle" => AtMost(2.0),
        // Lifecycle at 1,000,000 objects: see the workload `lifecycle`.
        "lc-backfill-rate" => AtLeast(50_000.0),
        "lc-due-lag-p99" | "lc-due-lag-max" => AtMost(1000.0),
        "lc-worker-rss-growth" => Below(64.0),
        "lc-get-4KiB-p99-worker-vs-idle" => Below(1.5),
        // ListObjectsV2 over keys with noncurrent versions, in % of an unversioned bucket's.
        "ver-list-versioned-vs-unversioned" => AtLeast(80.0),
        _ => return None,
    })
}
