//! The rule model and S3's validation rules for it.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// S3 allows at most this many rules per bucket.
pub const MAX_RULES: usize = 1000;

/// When an action applies: a number of days after creation, or from a date on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum When {
    Days(u32),
    /// Milliseconds since the Unix epoch; must be a midnight (in `day_ms` units).
    Date(i64),
}

/// Which objects a rule applies to. All present conditions must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Filter {
    pub prefix: String,
    pub tags: Vec<(String, String)>,
    pub size_greater_than: Option<u64>,
    pub size_less_than: Option<u64>,
    /// How the configuration spelled the filter, so that it is given back as it was put.
    pub form: FilterForm,
}

/// The XML shape a filter came in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum FilterForm {
    /// `<Filter></Filter>` (or `<Filter><Prefix></Prefix></Filter>`): every object.
    #[default]
    Empty,
    /// The deprecated rule-level `<Prefix>`.
    RulePrefix,
    Prefix,
    Tag,
    SizeGreaterThan,
    SizeLessThan,
    And,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub when: When,
    pub storage_class: String,
}

/// Acts on versions once they stop being current (with versioning).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoncurrentExpiration {
    pub days: u32,
    /// Keep this many newer noncurrent versions regardless of age.
    pub newer_versions: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoncurrentTransition {
    pub days: u32,
    pub newer_versions: Option<u32>,
    pub storage_class: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    pub enabled: bool,
    pub filter: Filter,
    pub expiration: Option<When>,
    #[serde(default)]
    pub expired_object_delete_marker: bool,
    pub transitions: Vec<Transition>,
    #[serde(default)]
    pub noncurrent_expiration: Option<NoncurrentExpiration>,
    #[serde(default)]
    pub noncurrent_transitions: Vec<NoncurrentTransition>,
    pub abort_incomplete_multipart_days: Option<u32>,
}

/// Which S3 error a validation failure is reported as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    MalformedXml,
    InvalidArgument,
    InvalidRequest,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("a lifecycle configuration may hold at most {MAX_RULES} rules, this one has {0}")]
    TooManyRules(usize),
    #[error("rule ID {0:?} is used more than once")]
    DuplicateId(String),
    #[error("rule {0:?}: ID must be at most 255 characters")]
    IdTooLong(String),
    #[error("rule {0:?}: 'Days' must be a positive integer")]
    ZeroDays(String),
    #[error("rule {0:?}: 'Date' must be at midnight UTC")]
    DateNotMidnight(String),
    #[error(
        "rule {0:?}: transitions must be in increasing order of days or dates, and use each storage class once"
    )]
    TransitionOrder(String),
    #[error("rule {0:?}: transitions may not mix Days and Date")]
    MixedTransitionKinds(String),
    #[error("rule {0:?}: an expiration must come after every transition")]
    ExpirationBeforeTransition(String),
    #[error("rule {0:?}: ObjectSizeGreaterThan must be less than ObjectSizeLessThan")]
    EmptySizeRange(String),
    #[error("rule {0:?}: at least one action needs to be specified in a rule")]
    NoAction(String),
    #[error("rule {0:?}: {1}")]
    Malformed(String, String),
    #[error("rule {0:?}: tag keys must be unique in a filter")]
    DuplicateTagKey(String),
    #[error("rule {0:?}: a tag filter cannot be used with {1}")]
    TagFilterWith(String, &'static str),
    #[error("rule {0:?}: 'NewerNoncurrentVersions' must be between 1 and 100")]
    NewerVersionsRange(String),
    #[error("rule {0:?}: {1:?} is not a storage class lifecycle can transition to")]
    InvalidStorageClass(String, String),
    #[error("a lifecycle configuration needs at least one rule")]
    NoRules,
}

impl LifecycleError {
    /// The S3 error code S3 answers this failure with.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Malformed(..) | Self::NoRules => ErrorKind::MalformedXml,
            Self::NoAction(_)
            | Self::TagFilterWith(..)
            | Self::DuplicateTagKey(_)
            | Self::MixedTransitionKinds(_)
            | Self::TransitionOrder(_)
            | Self::EmptySizeRange(_) => ErrorKind::InvalidRequest,
            _ => ErrorKind::InvalidArgument,
        }
    }
}

/// Storage classes a transition may name.
pub const TRANSITION_CLASSES: &[&str] = &[
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
];

fn check_when(rule: &Rule, when: When, day_ms: i64) -> Result<(), LifecycleError> {
    match when {
        When::Days(0) => Err(LifecycleError::ZeroDays(rule.id.clone())),
        When::Date(ms) if ms.rem_euclid(day_ms) != 0 => {
            Err(LifecycleError::DateNotMidnight(rule.id.clone()))
        }
        _ => Ok(()),
    }
}

fn check_noncurrent(rule: &Rule, days: u32, newer: Option<u32>) -> Result<(), LifecycleError> {
    if days == 0 {
        return Err(LifecycleError::ZeroDays(rule.id.clone()));
    }
    if newer.is_some_and(|n| !(1..=100).contains(&n)) {
        return Err(LifecycleError::NewerVersionsRange(rule.id.clone()));
    }
    Ok(())
}

fn check_class(rule: &Rule, class: &str) -> Result<(), LifecycleError> {
    if TRANSITION_CLASSES.contains(&class) {
        Ok(())
    } else {
        Err(LifecycleError::InvalidStorageClass(
            rule.id.clone(),
            class.to_owned(),
        ))
    }
}

/// A comparable position in time for ordering checks within one rule.
fn order_key(when: When) -> i64 {
    match when {
        When::Days(d) => i64::from(d),
        When::Date(ms) => ms,
    }
}

/// Validates a configuration as S3 does.
pub fn validate(rules: &[Rule], day_ms: i64) -> Result<(), LifecycleError> {
    if rules.is_empty() {
        return Err(LifecycleError::NoRules);
    }
    if rules.len() > MAX_RULES {
        return Err(LifecycleError::TooManyRules(rules.len()));
    }
    let mut ids = HashSet::new();
    for rule in rules {
        if rule.id.len() > 255 {
            return Err(LifecycleError::IdTooLong(rule.id.clone()));
        }
        if !rule.id.is_empty() && !ids.insert(rule.id.as_str()) {
            return Err(LifecycleError::DuplicateId(rule.id.clone()));
        }
        if rule.expiration.is_none()
            && !rule.expired_object_delete_marker
            && rule.transitions.is_empty()
            && rule.noncurrent_expiration.is_none()
            && rule.noncurrent_transitions.is_empty()
            && rule.abort_incomplete_multipart_days.is_none()
        {
            return Err(LifecycleError::NoAction(rule.id.clone()));
        }
        let mut tag_keys = HashSet::new();
        if !rule.filter.tags.iter().all(|(k, _)| tag_keys.insert(k)) {
            return Err(LifecycleError::DuplicateTagKey(rule.id.clone()));
        }
        if !rule.filter.tags.is_empty() {
            if rule.abort_incomplete_multipart_days.is_some() {
                return Err(LifecycleError::TagFilterWith(
                    rule.id.clone(),
                    "AbortIncompleteMultipartUpload",
                ));
            }
            if rule.expired_object_delete_marker {
                return Err(LifecycleError::TagFilterWith(
                    rule.id.clone(),
                    "ExpiredObjectDeleteMarker",
                ));
            }
        }
        if let Some(nc) = &rule.noncurrent_expiration {
            check_noncurrent(rule, nc.days, nc.newer_versions)?;
        }
        let mut nc_classes = HashSet::new();
        for nc in &rule.noncurrent_transitions {
            check_noncurrent(rule, nc.days, nc.newer_versions)?;
            check_class(rule, &nc.storage_class)?;
            if !nc_classes.insert(nc.storage_class.as_str()) {
                return Err(LifecycleError::TransitionOrder(rule.id.clone()));
            }
        }
        if let (Some(gt), Some(lt)) = (rule.filter.size_greater_than, rule.filter.size_less_than)
            && gt >= lt
        {
            return Err(LifecycleError::EmptySizeRange(rule.id.clone()));
        }
        if rule.abort_incomplete_multipart_days == Some(0) {
            return Err(LifecycleError::ZeroDays(rule.id.clone()));
        }
        if let Some(when) = rule.expiration {
            check_when(rule, when, day_ms)?;
        }
        let mut classes = HashSet::new();
        let mut previous: Option<When> = None;
        for t in &rule.transitions {
            check_when(rule, t.when, day_ms)?;
            check_class(rule, &t.storage_class)?;
            if !classes.insert(t.storage_class.as_str()) {
                return Err(LifecycleError::TransitionOrder(rule.id.clone()));
            }
            if let Some(prev) = previous {
                if std::mem::discriminant(&prev) != std::mem::discriminant(&t.when) {
                    return Err(LifecycleError::MixedTransitionKinds(rule.id.clone()));
                }
                if order_key(t.when) <= order_key(prev) {
                    return Err(LifecycleError::TransitionOrder(rule.id.clone()));
                }
            }
            previous = Some(t.when);
        }
        if let (Some(expiration), Some(last)) = (rule.expiration, previous)
            && std::mem::discriminant(&expiration) == std::mem::discriminant(&last)
            && order_key(expiration) <= order_key(last)
        {
            return Err(LifecycleError::ExpirationBeforeTransition(rule.id.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DAY_MS;

    fn rule(id: &str) -> Rule {
        Rule {
            id: id.into(),
            enabled: true,
            filter: Filter::default(),
            expiration: Some(When::Days(30)),
            expired_object_delete_marker: false,
            transitions: vec![],
            noncurrent_expiration: None,
            noncurrent_transitions: vec![],
            abort_incomplete_multipart_days: None,
        }
    }

    fn transition(days: u32, class: &str) -> Transition {
        Transition {
            when: When::Days(days),
            storage_class: class.into(),
        }
    }

    #[test]
    fn accepts_the_documentation_example() {
        let mut r = rule("archive");
        r.transitions = vec![transition(30, "STANDARD_IA"), transition(90, "GLACIER")];
        r.expiration = Some(When::Days(365));
        assert_eq!(validate(&[r], DAY_MS), Ok(()));
    }

    #[test]
    fn rejects_what_s3_rejects() {
        let mut zero = rule("z");
        zero.expiration = Some(When::Days(0));
        let mut noon = rule("n");
        noon.expiration = Some(When::Date(DAY_MS / 2));
        let mut order = rule("o");
        order.transitions = vec![transition(90, "GLACIER"), transition(30, "STANDARD_IA")];
        let mut early = rule("e");
        early.transitions = vec![transition(60, "GLACIER")];
        early.expiration = Some(When::Days(30));
        let mut none = rule("x");
        none.expiration = None;
        let mut sizes = rule("s");
        sizes.filter.size_greater_than = Some(10);
        sizes.filter.size_less_than = Some(10);
        let cases: Vec<(Vec<Rule>, LifecycleError)> = vec![
            (
                vec![rule("a"), rule("a")],
                LifecycleError::DuplicateId("a".into()),
            ),
            (vec![zero], LifecycleError::ZeroDays("z".into())),
            (vec![noon], LifecycleError::DateNotMidnight("n".into())),
            (vec![order], LifecycleError::TransitionOrder("o".into())),
            (
                vec![early],
                LifecycleError::ExpirationBeforeTransition("e".into()),
            ),
            (vec![none], LifecycleError::NoAction("x".into())),
            (vec![sizes], LifecycleError::EmptySizeRange("s".into())),
            (
                (0..=MAX_RULES).map(|i| rule(&i.to_string())).collect(),
                LifecycleError::TooManyRules(MAX_RULES + 1),
            ),
        ];
        for (rules, expected) in cases {
            assert_eq!(validate(&rules, DAY_MS), Err(expected));
        }
    }
}
