//! Evaluating rules on a key's noncurrent versions and its lone delete marker.
//!
//! The unit is a key, not a version: whether a noncurrent version is acted on depends on
//! its neighbours — it became noncurrent when its successor (the next newer version, data
//! or delete marker) was created, and `NewerNoncurrentVersions` keeps the newest noncurrent
//! versions regardless of age — and whether a delete marker is "expired" depends on there
//! being nothing else under the key. So the evaluator is given all of a key's versions.
//!
//! S3's semantics, as implemented:
//! - `NoncurrentVersionExpiration` / `NoncurrentVersionTransition`: `NoncurrentDays` count
//!   from the successor's creation and round up to the next day boundary, as `Days` do for
//!   current versions ([`moment`]). With `NewerNoncurrentVersions: N`, a noncurrent data
//!   version with fewer than `N` newer noncurrent data versions is kept whatever its age.
//! - Noncurrent delete markers hold nothing: NoncurrentVersionExpiration removes them by
//!   age alone (they neither count towards `N` nor are kept by it), and nothing transitions
//!   them.
//! - A delete marker that is the key's only version (an "expired object delete marker") is
//!   removed by a rule with `ExpiredObjectDeleteMarker` from the next day boundary after
//!   it was written, and by a rule with an `Expiration` once the marker is that old, as S3
//!   does when a configuration expires current versions.
//! - Filters select each version by its own size and tags; a delete marker has size 0 and
//!   no tags.
//! - Precedence per version as for current ones: an expiration wins; of due transitions the
//!   coldest; never to a warmer class.

use crate::evaluate::{Action, changes, moment, pick, selects};
use crate::rule::{Rule, When};

/// A version of a key other than its current one, as the evaluator needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionFacts {
    pub size: u64,
    /// When the version was written, ms since the Unix epoch.
    pub created_ms: i64,
    pub tags: Vec<(String, String)>,
    /// Its storage class (`STANDARD` when it has none); irrelevant for delete markers.
    pub storage_class: String,
    pub delete_marker: bool,
}

/// Every version of one key.
#[derive(Debug, Clone, Copy)]
pub struct KeyVersions<'a> {
    pub key: &'a str,
    /// The creation time of the key's current version, when it has one (a data version).
    pub current_created_ms: Option<i64>,
    /// Every other version, newest first. Without a current version the first is the key's
    /// latest version, a delete marker; every one after it is noncurrent.
    pub others: &'a [VersionFacts],
}

impl KeyVersions<'_> {
    /// The delete marker that is the key's only version, if that is what the key holds.
    fn lone_marker(&self) -> Option<&VersionFacts> {
        match self.others {
            [only] if self.current_created_ms.is_none() && only.delete_marker => Some(only),
            _ => None,
        }
    }
}

/// Whether any rule can act on versions other than current ones, so that a key's versions
/// need looking at.
#[must_use]
pub fn acts_on_versions(rules: &[Rule]) -> bool {
    rules.iter().any(|r| {
        r.enabled
            && (r.noncurrent_expiration.is_some()
                || !r.noncurrent_transitions.is_empty()
                || r.expired_object_delete_marker
                || r.expiration.is_some())
    })
}

/// Every action the rules schedule for the key's other versions: (index in
/// [`KeyVersions::others`], moment it becomes due, action).
#[must_use]
pub fn versions_due(
    rules: &[Rule],
    key: &KeyVersions<'_>,
    day_ms: i64,
) -> Vec<(usize, i64, Action)> {
    let enabled = || rules.iter().filter(|r| r.enabled);
    let mut out = Vec::new();
    if let Some(marker) = key.lone_marker() {
        for rule in enabled().filter(|r| selects(&r.filter, key.key, 0, &[])) {
            let expire = Action::Expire {
                rule_id: rule.id.clone(),
            };
            if rule.expired_object_delete_marker {
                out.push((
                    0,
                    moment(When::Days(0), marker.created_ms, day_ms),
                    expire.clone(),
                ));
            }
            if let Some(when) = rule.expiration {
                out.push((0, moment(when, marker.created_ms, day_ms), expire));
            }
        }
        return out;
    }
    // Without a current version the newest of `others` is the latest version, not a
    // noncurrent one.
    let first = usize::from(key.current_created_ms.is_none());
    // Noncurrent data versions newer than the one looked at.
    let mut newer = 0u32;
    for (i, version) in key.others.iter().enumerate().skip(first) {
        let since = match i.checked_sub(1) {
            Some(successor) => key.others[successor].created_ms,
            None => key.current_created_ms.unwrap_or(version.created_ms),
        };
        let kept = |n: Option<u32>| !version.delete_marker && newer < n.unwrap_or(0);
        for rule in enabled().filter(|r| selects(&r.filter, key.key, version.size, &version.tags)) {
            if let Some(nc) = &rule.noncurrent_expiration
                && !kept(nc.newer_versions)
            {
                out.push((
                    i,
                    moment(When::Days(nc.days), since, day_ms),
                    Action::Expire {
                        rule_id: rule.id.clone(),
                    },
                ));
            }
            if version.delete_marker {
                continue;
            }
            for t in rule
                .noncurrent_transitions
                .iter()
                .filter(|t| !kept(t.newer_versions))
            {
                out.push((
                    i,
                    moment(When::Days(t.days), since, day_ms),
                    Action::Transition {
                        rule_id: rule.id.clone(),
                        storage_class: t.storage_class.clone(),
                    },
                ));
            }
        }
        if !version.delete_marker {
            newer += 1;
        }
    }
    out
}

/// The first moment an action becomes due for any of the key's other versions (the time
/// to index the key under); `None` when no rule will ever act on them. At that moment
/// [`evaluate_versions`] returns an action, and before it returns none.
#[must_use]
pub fn versions_next_due(rules: &[Rule], key: &KeyVersions<'_>, day_ms: i64) -> Option<i64> {
    versions_due(rules, key, day_ms)
        .into_iter()
        .filter(|(i, _, action)| changes(action, &key.others[*i].storage_class))
        .map(|(_, at, _)| at)
        .min()
}

/// The actions to take now on the key's other versions, at most one per version, in the
/// order of [`KeyVersions::others`].
#[must_use]
pub fn evaluate_versions(
    rules: &[Rule],
    key: &KeyVersions<'_>,
    now_ms: i64,
    day_ms: i64,
) -> Vec<(usize, Action)> {
    let mut by_version: Vec<Vec<Action>> = vec![Vec::new(); key.others.len()];
    for (i, at, action) in versions_due(rules, key, day_ms) {
        if at <= now_ms {
            by_version[i].push(action);
        }
    }
    by_version
        .into_iter()
        .enumerate()
        .filter_map(|(i, candidates)| {
            pick(candidates, &key.others[i].storage_class).map(|action| (i, action))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DAY_MS;
    use crate::rule::{Filter, NoncurrentExpiration, NoncurrentTransition};

    fn version(created_day: i64, marker: bool) -> VersionFacts {
        VersionFacts {
            size: if marker { 0 } else { 100 },
            // Noon, so that rounding to the next day boundary shows.
            created_ms: created_day * DAY_MS + DAY_MS / 2,
            tags: vec![],
            storage_class: "STANDARD".into(),
            delete_marker: marker,
        }
    }

    fn rule(days: u32, newer: Option<u32>, transitions: &[(u32, &str)]) -> Rule {
        Rule {
            id: "nc".into(),
            enabled: true,
            noncurrent_expiration: (days > 0).then_some(NoncurrentExpiration {
                days,
                newer_versions: newer,
            }),
            noncurrent_transitions: transitions
                .iter()
                .map(|(d, c)| NoncurrentTransition {
                    days: *d,
                    newer_versions: newer,
                    storage_class: (*c).into(),
                })
                .collect(),
            ..Rule::default()
        }
    }

    fn key<'a>(current_day: Option<i64>, others: &'a [VersionFacts]) -> KeyVersions<'a> {
        KeyVersions {
            key: "k",
            current_created_ms: current_day.map(|d| d * DAY_MS + DAY_MS / 2),
            others,
        }
    }

    fn expired(rules: &[Rule], k: &KeyVersions<'_>, day: i64) -> Vec<usize> {
        evaluate_versions(rules, k, day * DAY_MS, DAY_MS)
            .into_iter()
            .filter(|(_, a)| matches!(a, Action::Expire { .. }))
            .map(|(i, _)| i)
            .collect()
    }

    #[test]
    fn noncurrent_days_count_from_the_successor_rounded_up() {
        // v0 written day 0, superseded by v1 on day 2 (noon), which the current version
        // superseded on day 5: v1 is noncurrent from day 5, v0 from day 2.
        let others = [version(2, false), version(0, false)];
        let k = key(Some(5), &others);
        let rules = [rule(1, None, &[])];
        // Days 1 from day 2 noon → day 4 00:00; from day 5 noon → day 7 00:00.
        assert_eq!(expired(&rules, &k, 3), Vec::<usize>::new());
        assert_eq!(expired(&rules, &k, 4), [1]);
        assert_eq!(expired(&rules, &k, 6), [1]);
        assert_eq!(expired(&rules, &k, 7), [0, 1]);
        assert_eq!(versions_next_due(&rules, &k, DAY_MS), Some(4 * DAY_MS));
        // Just before a moment nothing; at it, something.
        assert!(evaluate_versions(&rules, &k, 4 * DAY_MS - 1, DAY_MS).is_empty());
    }

    #[test]
    fn newer_noncurrent_versions_are_kept_whatever_their_age() {
        let others: Vec<VersionFacts> = (0..5).rev().map(|d| version(d, false)).collect();
        let k = key(Some(10), &others);
        let rules = [rule(1, Some(2), &[])];
        // The two newest noncurrent versions stay; the three older ones go.
        assert_eq!(expired(&rules, &k, 100), [2, 3, 4]);
        // A delete marker among them neither counts nor is kept.
        let mut with_marker = others.clone();
        with_marker.insert(1, version(4, true));
        let k = key(Some(10), &with_marker);
        assert_eq!(expired(&rules, &k, 100), [1, 3, 4, 5]);
        // Without a rank limit, all go.
        assert_eq!(expired(&[rule(1, None, &[])], &k, 100), [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn the_latest_delete_marker_is_not_noncurrent_but_its_predecessor_is() {
        // Key deleted on day 3 (marker newest, no current version); v0 noncurrent since.
        let others = [version(3, true), version(0, false)];
        let k = key(None, &others);
        let rules = [rule(1, None, &[])];
        assert_eq!(expired(&rules, &k, 4), Vec::<usize>::new());
        assert_eq!(expired(&rules, &k, 5), [1]);
        // Not lone: ExpiredObjectDeleteMarker leaves it.
        let eodm = Rule {
            id: "m".into(),
            enabled: true,
            expired_object_delete_marker: true,
            ..Rule::default()
        };
        assert_eq!(
            versions_next_due(std::slice::from_ref(&eodm), &k, DAY_MS),
            None
        );
        // Alone, it goes from the next day boundary after it was written.
        let lone = [version(3, true)];
        let k = key(None, &lone);
        assert_eq!(
            versions_next_due(std::slice::from_ref(&eodm), &k, DAY_MS),
            Some(4 * DAY_MS)
        );
        assert_eq!(expired(std::slice::from_ref(&eodm), &k, 4), [0]);
        // NoncurrentVersionExpiration alone does not remove a lone marker.
        assert_eq!(expired(&rules, &k, 100), Vec::<usize>::new());
        // An Expiration of current versions removes it once it is that old.
        let expiration = Rule {
            id: "e".into(),
            enabled: true,
            expiration: Some(When::Days(2)),
            ..Rule::default()
        };
        assert_eq!(
            versions_next_due(&[expiration], &k, DAY_MS),
            Some(6 * DAY_MS)
        );
    }

    #[test]
    fn transitions_walk_colder_and_expiry_wins_and_markers_stay_put() {
        let mut cold = version(0, false);
        cold.storage_class = "GLACIER".into();
        let others = [version(1, true), version(0, false), cold];
        let k = key(Some(2), &others);
        let rules = [rule(10, None, &[(1, "STANDARD_IA"), (3, "GLACIER")])];
        let at = |day: i64| evaluate_versions(&rules, &k, day * DAY_MS, DAY_MS);
        let transition = |class: &str| Action::Transition {
            rule_id: "nc".into(),
            storage_class: class.into(),
        };
        // Marker 0 is noncurrent since day 2, v1 since day 1, v2 (already GLACIER) too.
        assert_eq!(at(2), []);
        assert_eq!(at(3), [(1, transition("STANDARD_IA"))]);
        assert_eq!(at(5), [(1, transition("GLACIER"))]);
        let expire = Action::Expire {
            rule_id: "nc".into(),
        };
        assert_eq!(
            at(13),
            [(0, expire.clone()), (1, expire.clone()), (2, expire)]
        );
        // The GLACIER version is due nothing before its expiration.
        let only_cold = [version(1, false), others[2].clone()];
        let k = key(Some(1), &only_cold);
        let due: Vec<_> = versions_due(&rules, &k, DAY_MS)
            .into_iter()
            .filter(|(i, _, a)| *i == 1 && changes(a, &only_cold[1].storage_class))
            .collect();
        assert!(
            due.iter()
                .all(|(_, _, a)| matches!(a, Action::Expire { .. }))
        );
    }

    #[test]
    fn filters_select_each_version_by_its_own_size_and_tags() {
        let mut tagged = version(0, false);
        tagged.tags = vec![("k".into(), "v".into())];
        let others = [version(1, false), tagged, version(0, true)];
        let k = key(Some(2), &others);
        let mut r = rule(1, None, &[]);
        r.filter = Filter {
            tags: vec![("k".into(), "v".into())],
            ..Filter::default()
        };
        assert_eq!(expired(std::slice::from_ref(&r), &k, 100), [1]);
        r.filter = Filter {
            prefix: "other/".into(),
            ..Filter::default()
        };
        assert_eq!(
            expired(std::slice::from_ref(&r), &k, 100),
            Vec::<usize>::new()
        );
        let mut disabled = rule(1, None, &[]);
        disabled.enabled = false;
        assert_eq!(versions_next_due(&[disabled.clone()], &k, DAY_MS), None);
        assert!(!acts_on_versions(&[disabled]));
        assert!(acts_on_versions(&[rule(1, None, &[])]));
    }

    /// The schedule's promise, over many shapes of keys: at the moment `versions_next_due`
    /// gives, `evaluate_versions` acts, and a millisecond before it does not.
    #[test]
    fn next_due_and_evaluate_agree() {
        let rules = [
            rule(3, Some(1), &[(1, "STANDARD_IA"), (2, "GLACIER")]),
            Rule {
                id: "m".into(),
                enabled: true,
                expired_object_delete_marker: true,
                ..Rule::default()
            },
        ];
        for shape in 0u32..256 {
            let others: Vec<VersionFacts> = (0..5)
                .filter(|bit| shape & (1 << bit) != 0 || *bit == 0)
                .map(|bit| version(10 - i64::from(bit), shape & (1 << (bit + 4)) != 0))
                .collect();
            for current in [None, Some(11)] {
                if current.is_none() && !others[0].delete_marker {
                    continue;
                }
                let k = key(current, &others);
                let Some(at) = versions_next_due(&rules, &k, DAY_MS) else {
                    continue;
                };
                assert!(
                    evaluate_versions(&rules, &k, at - 1, DAY_MS).is_empty(),
                    "{k:?}"
                );
                assert!(
                    !evaluate_versions(&rules, &k, at, DAY_MS).is_empty(),
                    "{k:?}"
                );
            }
        }
    }
}
