//! The product's performance targets, by result id.

use serde::Serialize;

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    AtLeast(f64),
    Below(f64),
}

impl Goal {
    #[must_use]
    pub fn met(self, value: f64) -> bool {
        match self {
            Self::AtLeast(min) => value >= min,
            Self::Below(max) => value < max,
        }
    }
}

impl std::fmt::Display for Goal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AtLeast(v) => write!(f, "≥ {}", crate::report::num(*v)),
            Self::Below(v) => write!(f, "< {}", crate::report::num(*v)),
        }
    }
}

/// The target for a result id (ids name the object size, so non-default sizes get none).
#[must_use]
pub fn lookup(id: &str) -> Option<Goal> {
    use Goal::{AtLeast, Below};
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
        _ => return None,
    })
}
