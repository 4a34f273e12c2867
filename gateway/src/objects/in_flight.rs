//! Blobs being written and not yet committed. The background orphan sweep must not take a
//! blob that is still being written (or whose metadata commit is on its way) for the
//! remains of a crash: every writer registers its blob id here before creating the blob and
//! keeps it registered until its metadata commit (or discard) is done.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use vmgw_tiering::DataId;

#[derive(Debug, Default)]
pub struct InFlight {
    ids: Mutex<HashSet<DataId>>,
}

/// Unregisters its blob when dropped.
#[derive(Debug)]
pub struct InFlightGuard {
    set: Arc<InFlight>,
    id: DataId,
}

impl InFlight {
    pub fn register(self: &Arc<Self>, id: DataId) -> InFlightGuard {
        self.ids.lock().expect("in-flight lock").insert(id);
        InFlightGuard {
            set: Arc::clone(self),
            id,
        }
    }

    pub fn contains(&self, id: DataId) -> bool {
        self.ids.lock().expect("in-flight lock").contains(&id)
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.set
            .ids
            .lock()
            .expect("in-flight lock")
            .remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_until_the_guard_drops() {
        let set = Arc::new(InFlight::default());
        let (a, b) = (DataId::random(), DataId::random());
        let guard_a = set.register(a);
        let guard_b = set.register(b);
        assert!(set.contains(a) && set.contains(b));
        drop(guard_a);
        assert!(!set.contains(a) && set.contains(b));
        drop(guard_b);
        assert!(!set.contains(b));
    }
}
