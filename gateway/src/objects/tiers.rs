//! The configured tiers, by name, in order from hottest to coldest, and which storage class
//! is written to which tier.

use std::collections::HashMap;
use std::sync::Arc;

use vmgw_tiering::{Tier, TierError};

use super::metered::MeteredTier;
use super::watermarks::Watermarks;

/// The storage classes S3 defines.
pub const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "GLACIER_IR",
    "DEEP_ARCHIVE",
    "EXPRESS_ONEZONE",
];

/// The class of objects stored without one.
pub const DEFAULT_CLASS: &str = "STANDARD";

#[derive(Clone)]
pub struct Tiers {
    ordered: Vec<Arc<dyn Tier>>,
    /// The same tiers as `ordered`, with their usage.
    meters: Vec<Arc<MeteredTier>>,
    /// Storage class → index into `ordered`.
    classes: HashMap<String, usize>,
}

/// Which tier takes each class when the configuration does not say: hot classes the
/// hottest tier; infrequent-access classes the tier named `hdd`, else the coldest; archive
/// classes the coldest tier.
#[must_use]
pub fn default_class_map(tier_names: &[String]) -> HashMap<String, String> {
    let hottest = tier_names.first().cloned().unwrap_or_default();
    let coldest = tier_names.last().cloned().unwrap_or_default();
    let warm = tier_names
        .iter()
        .find(|n| *n == "hdd")
        .cloned()
        .unwrap_or_else(|| coldest.clone());
    STORAGE_CLASSES
        .iter()
        .map(|&class| {
            let tier = match class {
                "STANDARD_IA" | "ONEZONE_IA" => &warm,
                "GLACIER_IR" | "GLACIER" | "DEEP_ARCHIVE" => &coldest,
                _ => &hottest,
            };
            (class.to_owned(), tier.clone())
        })
        .collect()
}

impl Tiers {
    /// `ordered` must hold at least one tier; `classes` maps every storage class to the name
    /// of one of them (see [`default_class_map`]); `watermarks` gives the capacity limits of
    /// tiers that have any. Blocking: counts the bytes on every tier.
    pub fn open(
        ordered: Vec<Arc<dyn Tier>>,
        classes: &HashMap<String, String>,
        watermarks: &HashMap<String, Watermarks>,
    ) -> Result<Self, TierError> {
        assert!(!ordered.is_empty(), "at least one tier is required");
        let meters = ordered
            .into_iter()
            .map(|tier| {
                let limits = watermarks.get(tier.name()).copied().unwrap_or_default();
                MeteredTier::open(tier, limits).map(Arc::new)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let ordered: Vec<Arc<dyn Tier>> = meters
            .iter()
            .map(|m| Arc::clone(m) as Arc<dyn Tier>)
            .collect();
        let index = |name: &str| ordered.iter().position(|t| t.name() == name);
        let classes = classes
            .iter()
            .map(|(class, tier)| {
                (
                    class.clone(),
                    index(tier)
                        .unwrap_or_else(|| panic!("class {class} maps to unknown tier {tier}")),
                )
            })
            .collect();
        Ok(Self {
            ordered,
            meters,
            classes,
        })
    }

    #[must_use]
    pub fn get(&self, name: &str) -> Option<Arc<dyn Tier>> {
        self.ordered.iter().find(|t| t.name() == name).cloned()
    }

    fn class_index(&self, class: Option<&str>) -> usize {
        self.classes
            .get(class.unwrap_or(DEFAULT_CLASS))
            .copied()
            .unwrap_or(0)
    }

    /// The tier objects of `class` (`None`: STANDARD) are written to.
    #[must_use]
    pub fn for_class(&self, class: Option<&str>) -> &Arc<dyn Tier> {
        &self.ordered[self.class_index(class)]
    }

    /// Where a blob of `len` bytes (`None`: unknown) of `class` may be written, in order of
    /// preference: the class's tier, then each colder one, skipping those without room.
    /// Empty when every one of them is full. Blocking (a `statvfs` per tier).
    #[must_use]
    pub fn write_targets(&self, class: Option<&str>, len: Option<u64>) -> Vec<Arc<dyn Tier>> {
        let first = self.class_index(class);
        let targets: Vec<Arc<dyn Tier>> = (first..self.ordered.len())
            .filter(|&i| self.meters[i].has_room(len))
            .map(|i| Arc::clone(&self.ordered[i]))
            .collect();
        if targets.first().map(|t| t.name()) != Some(self.ordered[first].name()) {
            tracing::debug!(
                tier = self.ordered[first].name(),
                len,
                "tier has no room; writing to a colder one"
            );
        }
        targets
    }

    /// The first tier colder than the one at `index` with room for `len` bytes.
    #[must_use]
    pub fn colder_with_room(&self, index: usize, len: u64) -> Option<Arc<dyn Tier>> {
        (index + 1..self.ordered.len())
            .find(|&i| self.meters[i].has_room(Some(len)))
            .map(|i| Arc::clone(&self.ordered[i]))
    }

    /// Every tier with its usage, hottest first.
    pub(crate) fn meters(&self) -> impl Iterator<Item = &Arc<MeteredTier>> {
        self.meters.iter()
    }

    /// Takes over new capacities and watermarks (a configuration reload); tiers not named
    /// keep theirs.
    pub fn set_watermarks(&self, watermarks: &HashMap<String, Watermarks>) {
        for meter in &self.meters {
            if let Some(marks) = watermarks.get(meter.name()) {
                meter.set_watermarks(*marks);
            }
        }
    }

    /// Whether `tier` is the hottest one, next to the metadata store, where small objects
    /// may be stored inline.
    #[must_use]
    pub fn is_hottest(&self, tier: &Arc<dyn Tier>) -> bool {
        Arc::ptr_eq(&self.ordered[0], tier)
    }

    /// Every tier's name, whether it is remote, and whether it can be reached now. Blocking.
    #[must_use]
    pub fn probe_all(&self) -> Vec<(String, bool, Result<(), vmgw_tiering::TierError>)> {
        self.iter()
            .map(|t| (t.name().to_owned(), t.is_remote(), t.probe()))
            .collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Tier>> {
        self.ordered.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_mapping_by_temperature() {
        let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let map = default_class_map(&names(&["ssd", "hdd"]));
        assert_eq!(map["STANDARD"], "ssd");
        assert_eq!(map["INTELLIGENT_TIERING"], "ssd");
        assert_eq!(map["STANDARD_IA"], "hdd");
        assert_eq!(map["GLACIER"], "hdd");
        let map = default_class_map(&names(&["nvme", "hdd", "archive"]));
        assert_eq!(
            (map["ONEZONE_IA"].as_str(), map["DEEP_ARCHIVE"].as_str()),
            ("hdd", "archive")
        );
        let map = default_class_map(&names(&["only"]));
        assert!(map.values().all(|t| t == "only"));
        assert_eq!(map.len(), STORAGE_CLASSES.len());
    }

    #[test]
    fn writes_skip_tiers_without_room() {
        use vmgw_tiering::MemTier;
        let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let open = |limits: &[(&str, u64)]| {
            let ordered: Vec<Arc<dyn Tier>> =
                vec![Arc::new(MemTier::new("ssd")), Arc::new(MemTier::new("hdd"))];
            let limits = limits
                .iter()
                .map(|(name, capacity)| {
                    (
                        (*name).to_owned(),
                        Watermarks {
                            capacity: Some(*capacity),
                            ..Watermarks::default()
                        },
                    )
                })
                .collect();
            Tiers::open(
                ordered,
                &default_class_map(&names(&["ssd", "hdd"])),
                &limits,
            )
            .unwrap()
        };
        let targets = |tiers: &Tiers, class: Option<&str>, len: Option<u64>| {
            tiers
                .write_targets(class, len)
                .iter()
                .map(|t| t.name().to_owned())
                .collect::<Vec<_>>()
        };
        let tiers = open(&[("ssd", 1000)]);
        assert_eq!(targets(&tiers, None, Some(500)), ["ssd", "hdd"]);
        assert_eq!(targets(&tiers, None, Some(1000)), ["ssd", "hdd"]);
        assert_eq!(targets(&tiers, None, Some(1001)), ["hdd"]);
        assert_eq!(targets(&tiers, None, None), ["ssd", "hdd"]);
        // Colder classes never go to a hotter tier.
        assert_eq!(targets(&tiers, Some("GLACIER"), Some(10)), ["hdd"]);
        let tiers = open(&[("ssd", 1000), ("hdd", 100)]);
        assert!(targets(&tiers, None, Some(2000)).is_empty());
        assert_eq!(
            tiers.colder_with_room(0, 100).map(|t| t.name().to_owned()),
            Some("hdd".to_owned())
        );
        assert!(tiers.colder_with_room(0, 101).is_none());
        assert!(tiers.colder_with_room(1, 1).is_none());
    }
}
