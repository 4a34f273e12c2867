//! The pure evaluator: which action, if any, is due for an object.

use crate::rule::{Filter, Rule, When};

/// What the evaluator needs to know about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectFacts {
    pub key: String,
    pub size: u64,
    /// Creation (last write) time, milliseconds since the Unix epoch.
    pub created_ms: i64,
    pub tags: Vec<(String, String)>,
    /// The object's current storage class.
    pub storage_class: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Expire {
        rule_id: String,
    },
    Transition {
        rule_id: String,
        storage_class: String,
    },
}

fn matches(filter: &Filter, object: &ObjectFacts) -> bool {
    selects(filter, &object.key, object.size, &object.tags)
}

/// Whether a rule's filter takes a version of `key` of this size and with these tags.
pub(crate) fn selects(filter: &Filter, key: &str, size: u64, tags: &[(String, String)]) -> bool {
    key.starts_with(&filter.prefix)
        && filter.tags.iter().all(|tag| tags.contains(tag))
        && filter.size_greater_than.is_none_or(|gt| size > gt)
        && filter.size_less_than.is_none_or(|lt| size < lt)
}

/// The moment `when` is reached for an object created at `created_ms`: S3 adds the days to
/// the creation time and rounds up to the next midnight UTC (created 15 Jan 10:30 with
/// `Days: 3` → due 19 Jan 00:00).
#[must_use]
pub fn moment(when: When, created_ms: i64, day_ms: i64) -> i64 {
    match when {
        When::Days(days) => (created_ms.div_euclid(day_ms) + i64::from(days) + 1) * day_ms,
        When::Date(ms) => ms,
    }
}

/// How cold a storage class is, for S3's rule that when several transitions are due the
/// coldest wins, and that lifecycle never moves an object to a warmer class.
#[must_use]
pub fn coldness(storage_class: &str) -> u8 {
    match storage_class {
        "STANDARD_IA" | "ONEZONE_IA" | "INTELLIGENT_TIERING" => 1,
        "GLACIER_IR" => 2,
        "GLACIER" => 3,
        "DEEP_ARCHIVE" => 4,
        _ => 0,
    }
}

/// Every action the rules schedule for the object, with the moment it becomes due.
#[must_use]
pub fn due(rules: &[Rule], object: &ObjectFacts, day_ms: i64) -> Vec<(i64, Action)> {
    let mut out = Vec::new();
    for rule in rules
        .iter()
        .filter(|r| r.enabled && matches(&r.filter, object))
    {
        if let Some(when) = rule.expiration {
            out.push((
                moment(when, object.created_ms, day_ms),
                Action::Expire {
                    rule_id: rule.id.clone(),
                },
            ));
        }
        for t in &rule.transitions {
            out.push((
                moment(t.when, object.created_ms, day_ms),
                Action::Transition {
                    rule_id: rule.id.clone(),
                    storage_class: t.storage_class.clone(),
                },
            ));
        }
    }
    out
}

/// The first moment an action becomes due for the object: the time to index it under, so
/// that a worker finds it then without scanning. `None`: no rule will ever act on it.
/// [`evaluate`] at that moment returns an action, and before it returns none.
#[must_use]
pub fn next_due(rules: &[Rule], object: &ObjectFacts, day_ms: i64) -> Option<i64> {
    due(rules, object, day_ms)
        .into_iter()
        .filter(|(_, action)| changes(action, &object.storage_class))
        .map(|(at, _)| at)
        .min()
}

/// The action to take now, if any, with S3's precedence: an expiration wins over
/// transitions; among due transitions the coldest class wins; a transition to the object's
/// class or a warmer one is no action.
#[must_use]
pub fn evaluate(rules: &[Rule], object: &ObjectFacts, now_ms: i64, day_ms: i64) -> Option<Action> {
    let candidates: Vec<Action> = due(rules, object, day_ms)
        .into_iter()
        .filter(|(at, _)| *at <= now_ms)
        .map(|(_, action)| action)
        .collect();
    pick(candidates, &object.storage_class)
}

/// Whether an action scheduled for something of class `class` would change it: an
/// expiration always does, a transition only to a colder class.
pub(crate) fn changes(action: &Action, class: &str) -> bool {
    match action {
        Action::Expire { .. } => true,
        Action::Transition { storage_class, .. } => coldness(storage_class) > coldness(class),
    }
}

/// The one action to take among those due, with S3's precedence (see [`evaluate`]).
pub(crate) fn pick(candidates: Vec<Action>, class: &str) -> Option<Action> {
    if let Some(expire) = candidates
        .iter()
        .find(|a| matches!(a, Action::Expire { .. }))
    {
        return Some(expire.clone());
    }
    let current = coldness(class);
    candidates
        .into_iter()
        .filter_map(|action| match &action {
            Action::Transition { storage_class, .. } => Some((coldness(storage_class), action)),
            Action::Expire { .. } => None,
        })
        .filter(|(cold, _)| *cold > current)
        // The first of the coldest, so the choice does not depend on sort stability.
        .fold(
            None,
            |best: Option<(u8, Action)>, (cold, action)| match best {
                Some((b, _)) if b >= cold => best,
                _ => Some((cold, action)),
            },
        )
        .map(|(_, action)| action)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DAY_MS;
    use crate::rule::Transition;

    fn object(key: &str, created_ms: i64) -> ObjectFacts {
        ObjectFacts {
            key: key.into(),
            size: 100,
            created_ms,
            tags: vec![],
            storage_class: "STANDARD".into(),
        }
    }

    fn rule(prefix: &str, expire_days: Option<u32>, transitions: &[(u32, &str)]) -> Rule {
        Rule {
            id: format!("r-{prefix}"),
            enabled: true,
            filter: Filter {
                prefix: prefix.into(),
                ..Filter::default()
            },
            expiration: expire_days.map(When::Days),
            transitions: transitions
                .iter()
                .map(|(d, c)| Transition {
                    when: When::Days(*d),
                    storage_class: (*c).into(),
                })
                .collect(),
            abort_incomplete_multipart_days: None,
            ..Rule::default()
        }
    }

    #[test]
    fn days_are_added_then_rounded_up_to_midnight() {
        // The S3 documentation's example: created 15 Jan 2014 10:30 UTC, Days 3 → 19 Jan.
        let created = 1_389_781_800_000; // 2014-01-15T10:30:00Z
        let due_at = 1_390_089_600_000; // 2014-01-19T00:00:00Z
        let rules = [rule("", Some(3), &[])];
        let o = object("k", created);
        assert_eq!(evaluate(&rules, &o, due_at - 1, DAY_MS), None);
        assert_eq!(
            evaluate(&rules, &o, due_at, DAY_MS),
            Some(Action::Expire {
                rule_id: "r-".into()
            })
        );
    }

    #[test]
    fn filters_select_objects() {
        let rules = [rule("logs/", Some(1), &[])];
        assert!(evaluate(&rules, &object("logs/a", 0), 10 * DAY_MS, DAY_MS).is_some());
        assert!(evaluate(&rules, &object("data/a", 0), 10 * DAY_MS, DAY_MS).is_none());
        let mut sized = rule("", Some(1), &[]);
        sized.filter.size_greater_than = Some(100);
        assert!(evaluate(&[sized], &object("a", 0), 10 * DAY_MS, DAY_MS).is_none());
        let mut tagged = rule("", Some(1), &[]);
        tagged.filter.tags = vec![("k".into(), "v".into())];
        let mut o = object("a", 0);
        assert!(evaluate(std::slice::from_ref(&tagged), &o, 10 * DAY_MS, DAY_MS).is_none());
        o.tags.push(("k".into(), "v".into()));
        assert!(evaluate(&[tagged], &o, 10 * DAY_MS, DAY_MS).is_some());
    }

    #[test]
    fn transitions_walk_to_the_coldest_due_class_and_expiry_wins() {
        let rules = [rule("", Some(10), &[(1, "STANDARD_IA"), (3, "GLACIER")])];
        let o = object("k", 0);
        let class_at = |day: i64| match evaluate(&rules, &o, day * DAY_MS, DAY_MS) {
            Some(Action::Transition { storage_class, .. }) => storage_class,
            Some(Action::Expire { .. }) => "EXPIRE".into(),
            None => "-".into(),
        };
        assert_eq!(class_at(1), "-");
        assert_eq!(class_at(2), "STANDARD_IA");
        assert_eq!(class_at(4), "GLACIER");
        assert_eq!(class_at(11), "EXPIRE");
        let mut cold = o.clone();
        cold.storage_class = "GLACIER".into();
        assert_eq!(evaluate(&rules, &cold, 5 * DAY_MS, DAY_MS), None);
    }

    #[test]
    fn the_coldest_due_transition_wins_and_never_warmer() {
        // Two rules due at once: S3 picks GLACIER over STANDARD_IA.
        let rules = [
            rule("", None, &[(1, "GLACIER")]),
            rule("", None, &[(1, "STANDARD_IA")]),
        ];
        let picked = evaluate(&rules, &object("k", 0), 3 * DAY_MS, DAY_MS);
        assert!(
            matches!(picked, Some(Action::Transition { ref storage_class, .. }) if storage_class == "GLACIER"),
            "{picked:?}"
        );
        let mut archived = object("k", 0);
        archived.storage_class = "DEEP_ARCHIVE".into();
        assert_eq!(evaluate(&rules, &archived, 3 * DAY_MS, DAY_MS), None);
    }

    #[test]
    fn disabled_rules_do_nothing() {
        let mut r = rule("", Some(1), &[]);
        r.enabled = false;
        assert_eq!(evaluate(&[r], &object("k", 0), 100 * DAY_MS, DAY_MS), None);
    }
}
