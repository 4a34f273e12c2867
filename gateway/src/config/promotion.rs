//! `[read_promotion]`: when remote objects that are read get a cached local copy.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use vmgw_tiering::PromotionPolicy;

use super::{ConfigError, invalid};
use crate::byte_size::ByteSize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadPromotionConfig {
    /// `off`, `first-read`, or `after-reads` (`reads` reads within `window_secs`).
    pub policy: String,
    pub reads: u32,
    pub window_secs: u64,
    /// Bytes of cached copies per remote tier; the least recently read are evicted.
    pub cache_capacity: ByteSize,
    /// Where the copies live (default `<data_dir>/cache`); emptied at start.
    pub path: Option<PathBuf>,
}

impl Default for ReadPromotionConfig {
    fn default() -> Self {
        Self {
            policy: "after-reads".into(),
            reads: 2,
            window_secs: 3600,
            cache_capacity: ByteSize::Text("1GiB".into()),
            path: None,
        }
    }
}

/// Read promotion, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPromotion {
    pub policy: PromotionPolicy,
    pub capacity: u64,
    pub dir: PathBuf,
}

/// `None` when promotion is off.
pub(super) fn resolve(
    config: &ReadPromotionConfig,
    data_dir: &Path,
) -> Result<Option<ReadPromotion>, ConfigError> {
    let policy = match config.policy.as_str() {
        "off" => return Ok(None),
        "first-read" => PromotionPolicy::FirstRead,
        "after-reads" => {
            if config.reads == 0 {
                return Err(invalid("read_promotion.reads", 0, "must be at least 1"));
            }
            if config.window_secs == 0 {
                return Err(invalid(
                    "read_promotion.window_secs",
                    0,
                    "must be at least 1",
                ));
            }
            PromotionPolicy::AfterReads {
                reads: config.reads,
                window: Duration::from_secs(config.window_secs),
            }
        }
        other => {
            return Err(invalid(
                "read_promotion.policy",
                other,
                "one of off, first-read, after-reads",
            ));
        }
    };
    let capacity = config.cache_capacity.bytes().map_err(|reason| {
        invalid(
            "read_promotion.cache_capacity",
            &config.cache_capacity,
            reason,
        )
    })?;
    let dir = match &config.path {
        Some(path) if path.is_absolute() => path.clone(),
        Some(path) => data_dir.join(path),
        None => data_dir.join("cache"),
    };
    Ok(Some(ReadPromotion {
        policy,
        capacity,
        dir,
    }))
}
