//! Property test: Intelligent-Tiering's access-tier decision agrees with a reference model
//! written separately, in a different style (stepping day by day through the unread days,
//! S3's documented thresholds as a table), on many random configurations and objects; and
//! the schedule's next moment is exactly when the decision first turns colder.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vmgw_lifecycle::{
    AccessFacts, AccessTier, AutoTiering, Filter, TieringConfig, access_tier_at, next_access_step,
    validate_tiering,
};

const DAY: i64 = 1000;

mod reference {
    use super::*;

    fn applies(config: &TieringConfig, key: &str, tags: &[(String, String)]) -> bool {
        if !config.enabled || !key.starts_with(config.filter.prefix.as_str()) {
            return false;
        }
        config
            .filter
            .tags
            .iter()
            .all(|(k, v)| tags.iter().any(|(tk, tv)| tk == k && tv == v))
    }

    /// Walks the unread days one at a time; on each, an object reaching a threshold takes
    /// that tier if it is colder than where it is.
    pub fn tier(
        configs: &[TieringConfig],
        auto: AutoTiering,
        key: &str,
        size: u64,
        tags: &[(String, String)],
        last_access: i64,
        now: i64,
    ) -> AccessTier {
        if size < 128 * 1024 {
            return AccessTier::Frequent;
        }
        let mut thresholds: Vec<(i64, AccessTier)> = vec![
            (i64::from(auto.infrequent_days), AccessTier::Infrequent),
            (
                i64::from(auto.archive_instant_days),
                AccessTier::ArchiveInstant,
            ),
        ];
        for config in configs.iter().filter(|c| applies(c, key, tags)) {
            if let Some(d) = config.archive_days {
                thresholds.push((i64::from(d), AccessTier::Archive));
            }
            if let Some(d) = config.deep_archive_days {
                thresholds.push((i64::from(d), AccessTier::DeepArchive));
            }
        }
        let mut current = AccessTier::Frequent;
        let mut day = 0;
        while last_access + day * DAY <= now && day <= 800 {
            for (threshold, tier) in &thresholds {
                if *threshold == day && *tier > current {
                    current = *tier;
                }
            }
            day += 1;
        }
        current
    }
}

fn random_config(rng: &mut StdRng, id: usize) -> TieringConfig {
    loop {
        let mut filter = Filter::default();
        if rng.random_bool(0.5) {
            filter.prefix = ["a", "a/b", "b"][rng.random_range(0..3)].to_owned();
        }
        if rng.random_bool(0.3) {
            filter.tags = vec![(
                "t".to_owned(),
                ["x", "y"][rng.random_range(0..2)].to_owned(),
            )];
        }
        let config = TieringConfig {
            id: format!("c{id}"),
            enabled: rng.random_bool(0.85),
            filter,
            archive_days: rng.random_bool(0.7).then(|| rng.random_range(90..=300)),
            deep_archive_days: rng.random_bool(0.6).then(|| rng.random_range(180..=730)),
        };
        if validate_tiering(&config).is_ok() {
            return config;
        }
    }
}

#[test]
fn access_tiers_agree_with_the_reference_model() {
    let mut rng = StdRng::seed_from_u64(0x17_7e_51);
    let keys = ["a/b/c", "a/x", "b/y", "c"];
    for case in 0..20_000 {
        let configs: Vec<TieringConfig> = (0..rng.random_range(0..4))
            .map(|i| random_config(&mut rng, i))
            .collect();
        let infrequent_days = rng.random_range(1..60);
        let auto = AutoTiering {
            infrequent_days,
            archive_instant_days: rng.random_range(infrequent_days + 1..=200),
        };
        let key = keys[rng.random_range(0..keys.len())];
        let tags: Vec<(String, String)> = if rng.random_bool(0.5) {
            vec![("t".into(), ["x", "y"][rng.random_range(0..2)].into())]
        } else {
            Vec::new()
        };
        let size = [1_000, 128 * 1024 - 1, 128 * 1024, 10 << 20][rng.random_range(0..4)];
        let last_access = rng.random_range(0..100 * DAY);
        let facts = AccessFacts {
            key,
            size,
            tags: &tags,
            last_access_ms: last_access,
        };
        let now = last_access + rng.random_range(0..800 * DAY);
        let want = reference::tier(&configs, auto, key, size, &tags, last_access, now);
        let got = access_tier_at(&configs, auto, &facts, now, DAY);
        assert_eq!(
            got, want,
            "case {case}: {configs:?} {auto:?} {facts:?} now {now}"
        );

        // The schedule's moment: nothing colder before it, something colder at it.
        let current = access_tier_at(&configs, auto, &facts, now, DAY);
        match next_access_step(&configs, auto, &facts, current, DAY) {
            Some(at) => {
                assert!(at > now, "case {case}: the next step is in the future");
                assert_eq!(access_tier_at(&configs, auto, &facts, at - 1, DAY), current);
                assert!(access_tier_at(&configs, auto, &facts, at, DAY) > current);
            }
            None => assert_eq!(
                access_tier_at(&configs, auto, &facts, now + 1000 * DAY, DAY),
                current,
                "case {case}: no step means it never moves"
            ),
        }
    }
}
