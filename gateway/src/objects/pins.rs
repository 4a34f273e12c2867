//! Pins keep blobs alive while they are being read.
//!
//! An overwrite or delete queues the old blobs for reclamation as soon as it commits, but a
//! GET that looked the object up just before may still be about to open them. Readers pin
//! the blobs they will read; the reclaimer deletes a blob only while holding the pin lock and
//! only if nobody pinned it. A reader that pins and then finds the object unchanged knows
//! its blobs are not queued yet, so they stay until it unpins.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use vmgw_tiering::DataId;

#[derive(Debug, Default)]
pub struct Pins {
    counts: Mutex<HashMap<DataId, u32>>,
}

/// Unpins its blobs when dropped.
#[derive(Debug)]
pub struct PinGuard {
    pins: Arc<Pins>,
    ids: Vec<DataId>,
}

impl Pins {
    pub fn pin(self: &Arc<Self>, ids: impl IntoIterator<Item = DataId>) -> PinGuard {
        let ids: Vec<DataId> = ids.into_iter().collect();
        if !ids.is_empty() {
            let mut counts = self.counts.lock().expect("pin lock");
            for id in &ids {
                *counts.entry(*id).or_insert(0) += 1;
            }
        }
        PinGuard {
            pins: Arc::clone(self),
            ids,
        }
    }

    /// Runs `remove` for `id` unless it is pinned; returns `None` when pinned.
    pub fn remove_unless_pinned<T>(&self, id: DataId, remove: impl FnOnce() -> T) -> Option<T> {
        let counts = self.counts.lock().expect("pin lock");
        if counts.contains_key(&id) {
            return None;
        }
        // The lock is held across the removal so that no reader can pin in between.
        Some(remove())
    }

    #[cfg(test)]
    fn is_pinned(&self, id: DataId) -> bool {
        self.counts.lock().expect("pin lock").contains_key(&id)
    }
}

impl Drop for PinGuard {
    fn drop(&mut self) {
        if self.ids.is_empty() {
            return;
        }
        let mut counts = self.pins.counts.lock().expect("pin lock");
        for id in &self.ids {
            if let Some(count) = counts.get_mut(id) {
                *count -= 1;
                if *count == 0 {
                    counts.remove(id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_blobs_are_not_removed_until_every_guard_drops() {
        let pins = Arc::new(Pins::default());
        let id = DataId(1);
        let first = pins.pin([id]);
        let second = pins.pin([id]);
        assert_eq!(pins.remove_unless_pinned(id, || "removed"), None);
        drop(first);
        assert!(pins.is_pinned(id));
        drop(second);
        assert!(!pins.is_pinned(id));
        assert_eq!(pins.remove_unless_pinned(id, || "removed"), Some("removed"));
    }
}
