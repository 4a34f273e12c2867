//! S3 lifecycle rules for vmgw: the rule model, its validation, and a pure evaluator.
//!
//! The evaluator is a function of (rules, object facts, now) with S3's day semantics: the
//! days are added to the creation time and the result is rounded up to the next midnight
//! UTC, so a `Days: 1` rule acts at the second midnight after a PUT at noon. `Date` rules act from
//! midnight UTC of that date. `day_ms` shrinks a day for tests and demos (Ceph's debug
//! interval); production uses [`DAY_MS`].
//!
//! Noncurrent versions and lone delete markers are evaluated a key at a time
//! ([`evaluate_versions`]): whether one is acted on depends on the key's other versions.
//!
//! The worker that applies actions lives with the gateway (it needs the tier engine); this
//! crate stays free of I/O so that it can be tested exhaustively.

mod evaluate;
mod intelligent;
mod noncurrent;
mod rule;

pub use evaluate::{Action, ObjectFacts, coldness, due, evaluate, moment, next_due};
pub use intelligent::{
    ARCHIVE_DAYS, AccessFacts, AccessTier, AutoTiering, DEEP_ARCHIVE_DAYS, INTELLIGENT_TIERING,
    MAX_TIERING_CONFIGS, MIN_AUTO_TIERING_SIZE, TieringConfig, TieringError, access_steps,
    access_tier_at, next_access_step, validate_tiering,
};
pub use noncurrent::{
    KeyVersions, VersionFacts, acts_on_versions, evaluate_versions, versions_due, versions_next_due,
};
pub use rule::{
    ErrorKind, Filter, FilterForm, LifecycleError, MAX_RULES, NoncurrentExpiration,
    NoncurrentTransition, Rule, TRANSITION_CLASSES, Transition, When, validate,
};

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;
