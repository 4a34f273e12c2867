//! The rule model and S3's validation rules for it.

use std::collections::HashSet;

/// S3 allows at most this many rules per bucket.
pub const MAX_RULES: usize = 1000;

/// When an action applies: a number of days after creation, or from a date on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Days(u32),
    /// Milliseconds since the Unix epoch; must be a midnight (in `day_ms` units).
    Date(i64),
}

/// Which objects a rule applies to. All present conditions must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub prefix: String,
    pub tags: Vec<(String, String)>,
    pub size_greater_than: Option<u64>,
    pub size_less_than: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub when: When,
    pub storage_class: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    pub enabled: bool,
    pub filter: Filter,
    pub expiration: Option<When>,
    pub transitions: Vec<Transition>,
    pub abort_incomplete_multipart_days: Option<u32>,
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
    #[error("rule {0:?} has no action")]
    NoAction(String),
}

fn check_when(rule: &Rule, when: When, day_ms: i64) -> Result<(), LifecycleError> {
    match when {
        When::Days(0) => Err(LifecycleError::ZeroDays(rule.id.clone())),
        When::Date(ms) if ms.rem_euclid(day_ms) != 0 => {
            Err(LifecycleError::DateNotMidnight(rule.id.clone()))
        }
        _ => Ok(()),
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
            && rule.transitions.is_empty()
            && rule.abort_incomplete_multipart_days.is_none()
        {
            return Err(LifecycleError::NoAction(rule.id.clone()));
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
            transitions: vec![],
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
