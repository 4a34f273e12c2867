//! The configured tiers, by name, in order from hottest to coldest, and which storage class
//! is written to which tier.

use std::collections::HashMap;
use std::sync::Arc;

use vmgw_tiering::Tier;

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
    /// of one of them (see [`default_class_map`]).
    #[must_use]
    pub fn new(ordered: Vec<Arc<dyn Tier>>, classes: &HashMap<String, String>) -> Self {
        assert!(!ordered.is_empty(), "at least one tier is required");
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
        Self { ordered, classes }
    }

    /// Tiers with the default class mapping.
    #[must_use]
    pub fn with_default_classes(ordered: Vec<Arc<dyn Tier>>) -> Self {
        let names: Vec<String> = ordered.iter().map(|t| t.name().to_owned()).collect();
        Self::new(ordered, &default_class_map(&names))
    }

    #[must_use]
    pub fn get(&self, name: &str) -> Option<Arc<dyn Tier>> {
        self.ordered.iter().find(|t| t.name() == name).cloned()
    }

    /// The tier objects of `class` (`None`: STANDARD) are written to.
    #[must_use]
    pub fn for_class(&self, class: Option<&str>) -> &Arc<dyn Tier> {
        let index = self
            .classes
            .get(class.unwrap_or(DEFAULT_CLASS))
            .copied()
            .unwrap_or(0);
        &self.ordered[index]
    }

    /// Whether `tier` is the hottest one, next to the metadata store, where small objects
    /// may be stored inline.
    #[must_use]
    pub fn is_hottest(&self, tier: &Arc<dyn Tier>) -> bool {
        Arc::ptr_eq(&self.ordered[0], tier)
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
}
