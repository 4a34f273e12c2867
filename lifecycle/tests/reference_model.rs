//! Property test: the evaluator agrees with a reference model written separately, in a
//! different style (walking midnights one by one, explicit class ranks), on many thousands
//! of random valid rule sets, objects and instants.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vmgw_lifecycle::{
    Action, Filter, ObjectFacts, Rule, Transition, When, evaluate, next_due, validate,
};

const DAY: i64 = 1000;

mod reference {
    use super::*;

    /// Classes from warm to cold, as the S3 documentation's transition waterfall lists them.
    const WATERFALL: [&[&str]; 5] = [
        &["STANDARD", "REDUCED_REDUNDANCY", "EXPRESS_ONEZONE"],
        &["STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING"],
        &["GLACIER_IR"],
        &["GLACIER"],
        &["DEEP_ARCHIVE"],
    ];

    fn rank(class: &str) -> usize {
        WATERFALL
            .iter()
            .position(|level| level.contains(&class))
            .unwrap_or(0)
    }

    /// The instant `when` arrives: for `Days(n)`, the (n+1)-th midnight strictly after the
    /// creation time (created 15 Jan 10:30, 3 days: 16th, 17th, 18th, then the 19th).
    fn arrives(when: When, created: i64) -> i64 {
        match when {
            When::Date(at) => at,
            When::Days(n) => {
                let mut midnight = created - created.rem_euclid(DAY);
                let mut seen = 0;
                loop {
                    if midnight > created {
                        seen += 1;
                        if seen == n + 1 {
                            return midnight;
                        }
                    }
                    midnight += DAY;
                }
            }
        }
    }

    fn selects(filter: &Filter, o: &ObjectFacts) -> bool {
        if !o.key.starts_with(filter.prefix.as_str()) {
            return false;
        }
        for (k, v) in &filter.tags {
            if !o.tags.iter().any(|(ok, ov)| ok == k && ov == v) {
                return false;
            }
        }
        if let Some(gt) = filter.size_greater_than
            && o.size <= gt
        {
            return false;
        }
        if let Some(lt) = filter.size_less_than
            && o.size >= lt
        {
            return false;
        }
        true
    }

    pub fn action(rules: &[Rule], o: &ObjectFacts, now: i64) -> Option<Action> {
        let live: Vec<&Rule> = rules
            .iter()
            .filter(|r| r.enabled && selects(&r.filter, o))
            .collect();
        for rule in &live {
            if let Some(when) = rule.expiration
                && arrives(when, o.created_ms) <= now
            {
                return Some(Action::Expire {
                    rule_id: rule.id.clone(),
                });
            }
        }
        let mut best: Option<(usize, &Rule, &Transition)> = None;
        for rule in &live {
            for t in &rule.transitions {
                if arrives(t.when, o.created_ms) > now {
                    continue;
                }
                let r = rank(&t.storage_class);
                if r <= rank(&o.storage_class) {
                    continue;
                }
                if best.is_none_or(|(b, _, _)| r > b) {
                    best = Some((r, rule, t));
                }
            }
        }
        best.map(|(_, rule, t)| Action::Transition {
            rule_id: rule.id.clone(),
            storage_class: t.storage_class.clone(),
        })
    }
}

const CLASSES: [&str; 6] = [
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
];
const PREFIXES: [&str; 5] = ["", "a", "a/", "ab", "b/"];
const TAGS: [(&str, &str); 3] = [("t", "1"), ("t", "2"), ("u", "1")];

fn random_when(rng: &mut StdRng, dates: bool, floor: u32) -> When {
    if dates {
        When::Date(i64::from(rng.random_range(floor..floor + 20)) * DAY)
    } else {
        When::Days(rng.random_range(floor.max(1)..floor.max(1) + 20))
    }
}

fn random_rule(rng: &mut StdRng, id: usize) -> Rule {
    let dates = rng.random_bool(0.2);
    let mut transitions = Vec::new();
    let mut floor = 1;
    let mut classes: Vec<&str> = CLASSES.to_vec();
    for _ in 0..rng.random_range(0..3) {
        let when = random_when(rng, dates, floor);
        floor = match when {
            When::Days(d) => d + 1,
            When::Date(at) => u32::try_from(at / DAY).unwrap() + 1,
        };
        let class = classes.remove(rng.random_range(0..classes.len()));
        transitions.push(Transition {
            when,
            storage_class: class.into(),
        });
    }
    let expiration =
        (transitions.is_empty() || rng.random_bool(0.5)).then(|| random_when(rng, dates, floor));
    let size_greater_than = rng.random_bool(0.3).then(|| rng.random_range(0..500));
    let size_less_than = rng
        .random_bool(0.3)
        .then(|| size_greater_than.unwrap_or(0) + rng.random_range(1..500));
    Rule {
        id: format!("rule-{id}"),
        enabled: rng.random_bool(0.9),
        filter: Filter {
            prefix: PREFIXES[rng.random_range(0..PREFIXES.len())].into(),
            tags: TAGS
                .iter()
                .filter(|_| rng.random_bool(0.2))
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            size_greater_than,
            size_less_than,
            ..Filter::default()
        },
        expiration,
        transitions,
        abort_incomplete_multipart_days: None,
        ..Rule::default()
    }
}

fn random_object(rng: &mut StdRng) -> ObjectFacts {
    let keys = ["a", "a/x", "ab", "abc", "b/y", "c"];
    ObjectFacts {
        key: keys[rng.random_range(0..keys.len())].into(),
        size: rng.random_range(0..1000),
        created_ms: rng.random_range(0..10 * DAY),
        tags: TAGS
            .iter()
            .filter(|_| rng.random_bool(0.5))
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
        storage_class: ["STANDARD", "STANDARD_IA", "GLACIER"][rng.random_range(0..3)].into(),
    }
}

#[test]
fn evaluator_agrees_with_the_reference_model() {
    let mut rng = StdRng::seed_from_u64(0x5eed_11fe);
    let (mut compared, mut acted) = (0, 0);
    while compared < 50_000 {
        let rules: Vec<Rule> = (0..rng.random_range(1..5))
            .map(|i| random_rule(&mut rng, i))
            .collect();
        if validate(&rules, DAY).is_err() {
            continue;
        }
        for _ in 0..10 {
            let object = random_object(&mut rng);
            let now = rng.random_range(0..50 * DAY);
            let expected = reference::action(&rules, &object, now);
            let got = evaluate(&rules, &object, now, DAY);
            assert_eq!(
                got, expected,
                "rules {rules:#?}\nobject {object:#?}\nnow {now}"
            );
            acted += usize::from(expected.is_some());
            compared += 1;
            // The index time agrees with the evaluator: nothing before it, something at it.
            if let Some(at) = next_due(&rules, &object, DAY) {
                assert_eq!(evaluate(&rules, &object, at - 1, DAY), None, "before {at}");
                assert!(evaluate(&rules, &object, at, DAY).is_some(), "at {at}");
            } else {
                assert_eq!(evaluate(&rules, &object, i64::MAX / 2, DAY), None);
            }
        }
    }
    // The generator must exercise both outcomes, or the comparison proves little.
    assert!(
        acted > compared / 10 && acted < compared * 9 / 10,
        "{acted} of {compared} acted"
    );
}
