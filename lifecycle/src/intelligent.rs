//! S3 Intelligent-Tiering: objects of the `INTELLIGENT_TIERING` class move to colder access
//! tiers by how long they have gone unread, and back to the frequent tier when read.
//!
//! S3's automatic steps (infrequent after 30 days, archive instant after 90) apply to every
//! object of the class of at least [`MIN_AUTO_TIERING_SIZE`]; the opt-in archive steps come
//! from the bucket's configurations. Unlike lifecycle days, access days are counted from
//! the last access exactly (S3 speaks of "consecutive days without access"), with no
//! rounding to midnight.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::rule::Filter;

/// The storage class whose objects move by access.
pub const INTELLIGENT_TIERING: &str = "INTELLIGENT_TIERING";
/// S3 never moves smaller objects of the class out of the frequent tier.
pub const MIN_AUTO_TIERING_SIZE: u64 = 128 * 1024;
/// S3 allows at most this many Intelligent-Tiering configurations per bucket.
pub const MAX_TIERING_CONFIGS: usize = 1000;
/// The bounds S3 puts on the opt-in archive tiers' days.
pub const ARCHIVE_DAYS: std::ops::RangeInclusive<u32> = 90..=730;
pub const DEEP_ARCHIVE_DAYS: std::ops::RangeInclusive<u32> = 180..=730;

/// Where in the class an object is, warmest first (the order is used for comparisons).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum AccessTier {
    #[default]
    Frequent,
    Infrequent,
    ArchiveInstant,
    Archive,
    DeepArchive,
}

impl AccessTier {
    /// The storage class whose tier mapping holds objects of this access tier.
    #[must_use]
    pub fn placement_class(self) -> &'static str {
        match self {
            Self::Frequent => INTELLIGENT_TIERING,
            Self::Infrequent => "STANDARD_IA",
            Self::ArchiveInstant => "GLACIER_IR",
            Self::Archive => "GLACIER",
            Self::DeepArchive => "DEEP_ARCHIVE",
        }
    }

    /// What HeadObject reports in `x-amz-archive-status`: only the opt-in archive tiers.
    #[must_use]
    pub fn archive_status(self) -> Option<&'static str> {
        match self {
            Self::Archive => Some("ARCHIVE_ACCESS"),
            Self::DeepArchive => Some("DEEP_ARCHIVE_ACCESS"),
            _ => None,
        }
    }
}

/// The automatic steps, in days without access; the operator may change them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoTiering {
    pub infrequent_days: u32,
    pub archive_instant_days: u32,
}

impl Default for AutoTiering {
    fn default() -> Self {
        Self {
            infrequent_days: 30,
            archive_instant_days: 90,
        }
    }
}

/// One bucket Intelligent-Tiering configuration: which objects, and after how many days
/// without access they go to the archive tiers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TieringConfig {
    pub id: String,
    pub enabled: bool,
    /// Prefix and tags only (S3 has no size filter here).
    pub filter: Filter,
    pub archive_days: Option<u32>,
    pub deep_archive_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TieringError {
    #[error("an Intelligent-Tiering configuration needs an Id")]
    MissingId,
    #[error("the Id in the request ({0:?}) differs from the configuration's Id ({1:?})")]
    IdMismatch(String, String),
    #[error("configuration {0:?}: Id must be at most 64 characters")]
    IdTooLong(String),
    #[error("configuration {0:?}: at least one Tiering is required")]
    NoTierings(String),
    #[error("configuration {0:?}: access tier {1} is given more than once")]
    DuplicateTier(String, &'static str),
    #[error("configuration {0:?}: {1} days must be between {2} and {3}")]
    DaysOutOfRange(String, &'static str, u32, u32),
    #[error("configuration {0:?}: DEEP_ARCHIVE_ACCESS days must be more than ARCHIVE_ACCESS days")]
    DeepBeforeArchive(String),
    #[error("configuration {0:?}: tag keys must be unique in a filter")]
    DuplicateTagKey(String),
    #[error("configuration {0:?}: {1}")]
    Malformed(String, String),
    #[error("a bucket may have at most {MAX_TIERING_CONFIGS} Intelligent-Tiering configurations")]
    TooMany,
}

impl TieringError {
    /// Whether S3 reports this as MalformedXML (else InvalidArgument).
    #[must_use]
    pub fn is_malformed(&self) -> bool {
        matches!(self, Self::Malformed(..) | Self::NoTierings(_))
    }
}

/// Checks a configuration as S3 does.
///
/// # Errors
/// The first rule it breaks.
pub fn validate_tiering(config: &TieringConfig) -> Result<(), TieringError> {
    let id = &config.id;
    if id.is_empty() {
        return Err(TieringError::MissingId);
    }
    if id.chars().count() > 64 {
        return Err(TieringError::IdTooLong(id.clone()));
    }
    if config.archive_days.is_none() && config.deep_archive_days.is_none() {
        return Err(TieringError::NoTierings(id.clone()));
    }
    if let Some(days) = config.archive_days
        && !ARCHIVE_DAYS.contains(&days)
    {
        return Err(TieringError::DaysOutOfRange(
            id.clone(),
            "ARCHIVE_ACCESS",
            *ARCHIVE_DAYS.start(),
            *ARCHIVE_DAYS.end(),
        ));
    }
    if let Some(days) = config.deep_archive_days
        && !DEEP_ARCHIVE_DAYS.contains(&days)
    {
        return Err(TieringError::DaysOutOfRange(
            id.clone(),
            "DEEP_ARCHIVE_ACCESS",
            *DEEP_ARCHIVE_DAYS.start(),
            *DEEP_ARCHIVE_DAYS.end(),
        ));
    }
    if let (Some(archive), Some(deep)) = (config.archive_days, config.deep_archive_days)
        && deep <= archive
    {
        return Err(TieringError::DeepBeforeArchive(id.clone()));
    }
    let mut keys = HashSet::new();
    if !config.filter.tags.iter().all(|(k, _)| keys.insert(k)) {
        return Err(TieringError::DuplicateTagKey(id.clone()));
    }
    Ok(())
}

/// What the tiering decision needs to know about an object of the class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessFacts<'a> {
    pub key: &'a str,
    pub size: u64,
    pub tags: &'a [(String, String)],
    /// The last read or, if never read, the last write (ms since the epoch).
    pub last_access_ms: i64,
}

fn selects(config: &TieringConfig, object: &AccessFacts<'_>) -> bool {
    config.enabled
        && object.key.starts_with(&config.filter.prefix)
        && config
            .filter
            .tags
            .iter()
            .all(|tag| object.tags.contains(tag))
}

/// Each colder access tier the object would reach, with the moment it does if it stays
/// unread. Where several configurations select the object the earliest wins.
#[must_use]
pub fn access_steps(
    configs: &[TieringConfig],
    auto: AutoTiering,
    object: &AccessFacts<'_>,
    day_ms: i64,
) -> Vec<(i64, AccessTier)> {
    if object.size < MIN_AUTO_TIERING_SIZE {
        return Vec::new();
    }
    let at = |days: u32| object.last_access_ms + i64::from(days) * day_ms;
    let mut steps = vec![
        (at(auto.infrequent_days), AccessTier::Infrequent),
        (at(auto.archive_instant_days), AccessTier::ArchiveInstant),
    ];
    let selected: Vec<&TieringConfig> = configs.iter().filter(|c| selects(c, object)).collect();
    if let Some(days) = selected.iter().filter_map(|c| c.archive_days).min() {
        steps.push((at(days), AccessTier::Archive));
    }
    if let Some(days) = selected.iter().filter_map(|c| c.deep_archive_days).min() {
        steps.push((at(days), AccessTier::DeepArchive));
    }
    steps
}

/// The access tier the object belongs in at `now_ms`: the coldest step already reached.
#[must_use]
pub fn access_tier_at(
    configs: &[TieringConfig],
    auto: AutoTiering,
    object: &AccessFacts<'_>,
    now_ms: i64,
    day_ms: i64,
) -> AccessTier {
    access_steps(configs, auto, object, day_ms)
        .into_iter()
        .filter(|(at, _)| *at <= now_ms)
        .map(|(_, tier)| tier)
        .max()
        .unwrap_or_default()
}

/// When the object next has to move colder than `current`, if it stays unread: the moment
/// to index it under. [`access_tier_at`] at that moment is colder than `current`.
#[must_use]
pub fn next_access_step(
    configs: &[TieringConfig],
    auto: AutoTiering,
    object: &AccessFacts<'_>,
    current: AccessTier,
    day_ms: i64,
) -> Option<i64> {
    access_steps(configs, auto, object, day_ms)
        .into_iter()
        .filter(|(_, tier)| *tier > current)
        .map(|(at, _)| at)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DAY_MS;

    fn object(size: u64) -> AccessFacts<'static> {
        AccessFacts {
            key: "data/a",
            size,
            tags: &[],
            last_access_ms: 0,
        }
    }

    fn archive(days: Option<u32>, deep: Option<u32>) -> TieringConfig {
        TieringConfig {
            id: "arch".into(),
            enabled: true,
            filter: Filter::default(),
            archive_days: days,
            deep_archive_days: deep,
        }
    }

    #[test]
    fn unread_objects_walk_to_colder_tiers() {
        let configs = [archive(Some(90), Some(180))];
        let auto = AutoTiering::default();
        let o = object(1 << 20);
        let tier = |day: i64| access_tier_at(&configs, auto, &o, day * DAY_MS, DAY_MS);
        assert_eq!(tier(29), AccessTier::Frequent);
        assert_eq!(tier(30), AccessTier::Infrequent);
        assert_eq!(tier(89), AccessTier::Infrequent);
        // Archive instant and the configured archive fall due together: the colder wins.
        assert_eq!(tier(90), AccessTier::Archive);
        assert_eq!(tier(180), AccessTier::DeepArchive);
        let next = |current| next_access_step(&configs, auto, &o, current, DAY_MS);
        assert_eq!(next(AccessTier::Frequent), Some(30 * DAY_MS));
        assert_eq!(next(AccessTier::Infrequent), Some(90 * DAY_MS));
        assert_eq!(next(AccessTier::Archive), Some(180 * DAY_MS));
        assert_eq!(next(AccessTier::DeepArchive), None);
    }

    #[test]
    fn small_objects_and_unselected_ones_stay_put() {
        let auto = AutoTiering::default();
        let small = object(MIN_AUTO_TIERING_SIZE - 1);
        assert!(access_steps(&[], auto, &small, DAY_MS).is_empty());
        let mut other = archive(Some(90), None);
        other.filter.prefix = "logs/".into();
        let o = object(MIN_AUTO_TIERING_SIZE);
        assert_eq!(
            access_tier_at(&[other], auto, &o, 1000 * DAY_MS, DAY_MS),
            AccessTier::ArchiveInstant
        );
    }

    #[test]
    fn validation_follows_s3() {
        assert!(validate_tiering(&archive(Some(90), Some(180))).is_ok());
        assert!(matches!(
            validate_tiering(&archive(Some(89), None)),
            Err(TieringError::DaysOutOfRange(..))
        ));
        assert!(matches!(
            validate_tiering(&archive(None, Some(179))),
            Err(TieringError::DaysOutOfRange(..))
        ));
        assert!(matches!(
            validate_tiering(&archive(Some(200), Some(180))),
            Err(TieringError::DeepBeforeArchive(_))
        ));
        assert!(matches!(
            validate_tiering(&archive(None, None)),
            Err(TieringError::NoTierings(_))
        ));
        let mut no_id = archive(Some(90), None);
        no_id.id.clear();
        assert_eq!(validate_tiering(&no_id), Err(TieringError::MissingId));
    }
}
