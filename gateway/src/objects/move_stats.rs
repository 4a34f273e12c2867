//! Moves between tiers since the gateway started, by target tier and outcome (for metrics).

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::error::ObjectResult;
use super::moves::MoveOutcome;

/// The moves to one tier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MoveCounts {
    pub moved: u64,
    pub already_there: u64,
    pub abandoned: u64,
    pub failed: u64,
    /// Bytes copied by the moves that completed.
    pub bytes: u64,
}

#[derive(Debug, Default)]
pub struct MoveStats {
    by_tier: Mutex<BTreeMap<String, MoveCounts>>,
}

impl MoveStats {
    pub fn record(&self, tier: &str, outcome: &ObjectResult<MoveOutcome>) {
        let mut map = self.by_tier.lock().unwrap_or_else(|p| p.into_inner());
        let counts = match map.get_mut(tier) {
            Some(counts) => counts,
            None => map.entry(tier.to_owned()).or_default(),
        };
        match outcome {
            Ok(MoveOutcome::Moved { bytes }) => {
                counts.moved += 1;
                counts.bytes += bytes;
            }
            Ok(MoveOutcome::AlreadyThere) => counts.already_there += 1,
            Ok(MoveOutcome::Abandoned) => counts.abandoned += 1,
            Err(_) => counts.failed += 1,
        }
    }

    #[must_use]
    pub fn snapshot(&self) -> BTreeMap<String, MoveCounts> {
        self.by_tier
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
