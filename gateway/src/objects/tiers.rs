//! The configured tiers, by name, in order from hottest to coldest.

use std::sync::Arc;

use vmgw_tiering::Tier;

#[derive(Clone)]
pub struct Tiers {
    ordered: Vec<Arc<dyn Tier>>,
}

impl Tiers {
    /// `ordered` must hold at least one tier; the first receives new writes.
    #[must_use]
    pub fn new(ordered: Vec<Arc<dyn Tier>>) -> Self {
        assert!(!ordered.is_empty(), "at least one tier is required");
        Self { ordered }
    }

    #[must_use]
    pub fn get(&self, name: &str) -> Option<Arc<dyn Tier>> {
        self.ordered.iter().find(|t| t.name() == name).cloned()
    }

    /// The tier new objects are written to.
    #[must_use]
    pub fn write_tier(&self) -> &Arc<dyn Tier> {
        &self.ordered[0]
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Tier>> {
        self.ordered.iter()
    }
}
