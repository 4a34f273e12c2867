//! A tier that keeps a running count of the bytes it holds, so that watermarks and write
//! admission know a tier's usage at any moment without walking its files.
//!
//! The count is of at-rest bytes (framing and compression included), taken from the
//! tier's own `stored_size` of each blob as it is finished and again as it is removed. It
//! starts from one walk of the tier when the gateway opens it; from then on every blob
//! that appears or disappears goes through this wrapper (ingest, moves, reclamation, the
//! orphan sweep), so the count stays exact.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use vmgw_tiering::{DataId, DataReader, DataWriter, Space, Tier, TierError};

use super::watermarks::{self, Watermarks};

/// Blobs a demotion has already replaced: still on the tier until the reclaimer gets to
/// them (a reader may hold them), but as good as gone for deciding whether to demote more.
#[derive(Default)]
struct Retiring {
    blobs: HashMap<DataId, u64>,
    bytes: u64,
}

struct Meter {
    used: AtomicU64,
    /// Also serializes removals with [`MeteredTier::retire`]: a blob's bytes are subtracted
    /// exactly once, however removals and retirements interleave.
    retiring: Mutex<Retiring>,
}

impl Meter {
    fn sub(&self, bytes: u64) {
        let _ = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(bytes))
            });
    }
}

pub struct MeteredTier {
    inner: Arc<dyn Tier>,
    meter: Arc<Meter>,
    /// Replaced as a whole by a configuration reload.
    watermarks: std::sync::RwLock<Watermarks>,
    /// Size of the filesystem under the tier (0: unknown): the capacity when none is
    /// configured. Filesystems rarely change size, so it is refreshed only now and then.
    fs_total: AtomicU64,
}

impl MeteredTier {
    /// Wraps `inner`, counting what it holds now. Blocking: walks the tier once.
    pub fn open(inner: Arc<dyn Tier>, watermarks: Watermarks) -> Result<Self, TierError> {
        let used = match inner.used_bytes() {
            Ok(used) => used,
            // A remote tier that is down must not keep the gateway from serving its local
            // tiers; its count starts from zero and only gates writes to it, which fail
            // anyway until it is back.
            Err(TierError::Unavailable { tier, reason }) => {
                tracing::warn!(%tier, %reason, "cannot count a tier's bytes at start; counting from zero");
                0
            }
            Err(e) => return Err(e),
        };
        let tier = Self {
            inner,
            meter: Arc::new(Meter {
                used: AtomicU64::new(used),
                retiring: Mutex::default(),
            }),
            watermarks: std::sync::RwLock::new(watermarks),
            fs_total: AtomicU64::new(0),
        };
        tier.refresh_space();
        Ok(tier)
    }

    #[must_use]
    pub fn watermarks(&self) -> Watermarks {
        *self.watermarks.read().expect("watermarks lock")
    }

    /// New capacity and watermarks (a configuration reload); the next check uses them.
    pub fn set_watermarks(&self, watermarks: Watermarks) {
        *self.watermarks.write().expect("watermarks lock") = watermarks;
    }

    /// At-rest bytes of the blobs on the tier.
    #[must_use]
    pub fn used(&self) -> u64 {
        self.meter.used.load(Ordering::Relaxed)
    }

    /// [`Self::used`] less the blobs demotions have replaced and reclamation will delete.
    #[must_use]
    pub fn settled_used(&self) -> u64 {
        let retiring = self.meter.retiring.lock().expect("meter lock");
        self.used().saturating_sub(retiring.bytes)
    }

    /// The configured capacity, else the filesystem's size, if known.
    #[must_use]
    pub fn capacity(&self) -> Option<u64> {
        self.watermarks()
            .capacity
            .or_else(|| Some(self.fs_total.load(Ordering::Relaxed)).filter(|n| *n > 0))
    }

    /// Re-reads the size of the filesystem under the tier. Blocking.
    pub fn refresh_space(&self) {
        if let Ok(Some(space)) = self.inner.space() {
            self.fs_total.store(space.total, Ordering::Relaxed);
        }
    }

    /// Whether a blob of `len` bytes (`None`: unknown) fits under the configured capacity
    /// and in the free space of the filesystem. Blocking (one `statvfs`).
    #[must_use]
    pub fn has_room(&self, len: Option<u64>) -> bool {
        if let Some(capacity) = self.watermarks().capacity
            && !watermarks::has_room(self.used(), capacity, len)
        {
            return false;
        }
        // Checked up front because running out of space half-way through a body cannot be
        // recovered from: the bytes already received are gone.
        match (len, self.inner.space()) {
            (Some(len), Ok(Some(space))) => len <= space.free,
            _ => true,
        }
    }

    /// Notes that blob `id`, replaced by a demotion, will soon be reclaimed. Blocking.
    pub fn retire(&self, id: DataId) {
        let mut retiring = self.meter.retiring.lock().expect("meter lock");
        if retiring.blobs.contains_key(&id) {
            return;
        }
        // Under the lock, so a concurrent removal either happened already (not found) or
        // will see the entry and take it out again.
        if let Ok(size) = self.inner.stored_size(id) {
            retiring.blobs.insert(id, size);
            retiring.bytes += size;
        }
    }
}

impl Tier for MeteredTier {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn create(&self, id: DataId) -> Result<Box<dyn DataWriter>, TierError> {
        Ok(Box::new(MeteredWriter {
            inner: self.inner.create(id)?,
            id,
            tier: Arc::clone(&self.inner),
            meter: Arc::clone(&self.meter),
        }))
    }

    fn open(&self, id: DataId) -> Result<Box<dyn DataReader>, TierError> {
        self.inner.open(id)
    }

    fn open_for_copy(&self, id: DataId) -> Result<Box<dyn DataReader>, TierError> {
        self.inner.open_for_copy(id)
    }

    fn remove(&self, id: DataId) -> Result<(), TierError> {
        let mut retiring = self.meter.retiring.lock().expect("meter lock");
        let size = match self.inner.stored_size(id) {
            Ok(size) => Some(size),
            Err(TierError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        self.inner.remove(id)?;
        if let Some(size) = size {
            self.meter.sub(size);
        }
        if let Some(size) = retiring.blobs.remove(&id) {
            retiring.bytes -= size;
        }
        Ok(())
    }

    fn for_each_id(&self, visit: &mut dyn FnMut(DataId)) -> Result<(), TierError> {
        self.inner.for_each_id(visit)
    }

    fn used_bytes(&self) -> Result<u64, TierError> {
        Ok(self.used())
    }

    fn stored_size(&self, id: DataId) -> Result<u64, TierError> {
        self.inner.stored_size(id)
    }

    fn space(&self) -> Result<Option<Space>, TierError> {
        self.inner.space()
    }

    fn keeps_descriptors(&self) -> bool {
        self.inner.keeps_descriptors()
    }

    fn is_remote(&self) -> bool {
        self.inner.is_remote()
    }

    fn probe(&self) -> Result<(), TierError> {
        self.inner.probe()
    }

    fn parallel_reads(&self) -> bool {
        self.inner.parallel_reads()
    }

    fn descriptor(&self, id: DataId) -> Result<Option<Vec<u8>>, TierError> {
        self.inner.descriptor(id)
    }

    fn abort_incomplete_uploads(&self) -> Result<u64, TierError> {
        self.inner.abort_incomplete_uploads()
    }

    fn redescribe(&self, id: DataId, descriptor: &[u8]) -> Result<(), TierError> {
        self.inner.redescribe(id, descriptor)
    }

    fn quarantine(&self, id: DataId, note: &[u8]) -> Result<bool, TierError> {
        // The quarantine area is not the tier's data: nothing to count.
        self.inner.quarantine(id, note)
    }

    fn open_uncached(&self, id: DataId) -> Result<Box<dyn DataReader>, TierError> {
        self.inner.open_uncached(id)
    }

    fn cached_copy(&self, id: DataId) -> Option<Result<Box<dyn DataReader>, TierError>> {
        self.inner.cached_copy(id)
    }

    fn drop_cached_copy(&self, id: DataId) {
        self.inner.drop_cached_copy(id);
    }
}

struct MeteredWriter {
    inner: Box<dyn DataWriter>,
    id: DataId,
    tier: Arc<dyn Tier>,
    meter: Arc<Meter>,
}

impl DataWriter for MeteredWriter {
    fn write(&mut self, data: &[u8]) -> Result<(), TierError> {
        self.inner.write(data)
    }

    fn describe(&mut self, descriptor: Vec<u8>) {
        self.inner.describe(descriptor);
    }

    fn finish(self: Box<Self>) -> Result<u64, TierError> {
        let len = self.inner.finish()?;
        // Unfinished blobs are not counted: dropping a writer deletes what it wrote.
        let size = self.tier.stored_size(self.id).unwrap_or(len);
        self.meter.used.fetch_add(size, Ordering::Relaxed);
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmgw_tiering::{LocalTier, LocalTierOptions};

    fn write(tier: &dyn Tier, len: usize) -> DataId {
        let id = DataId::random();
        let mut w = tier.create(id).unwrap();
        w.write(&vec![7u8; len]).unwrap();
        w.finish().unwrap();
        id
    }

    #[test]
    fn the_count_follows_finished_and_removed_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let local: Arc<dyn Tier> = Arc::new(
            LocalTier::open("ssd", dir.path().join("ssd"), LocalTierOptions::default()).unwrap(),
        );
        let before = write(local.as_ref(), 1000);
        let tier = MeteredTier::open(Arc::clone(&local), Watermarks::default()).unwrap();
        let first = tier.used();
        assert_eq!(first, local.stored_size(before).unwrap(), "counted at open");

        let id = write(&tier, 3_000_000);
        assert_eq!(tier.used(), first + local.stored_size(id).unwrap());
        assert_eq!(
            tier.used(),
            local.used_bytes().unwrap(),
            "agrees with a walk"
        );

        // An abandoned writer leaves nothing and counts nothing.
        let mut abandoned = tier.create(DataId::random()).unwrap();
        abandoned.write(&[1; 5000]).unwrap();
        drop(abandoned);
        assert_eq!(tier.used(), local.used_bytes().unwrap());

        // Retired bytes count as gone for demotion, and are subtracted once on removal.
        tier.retire(id);
        tier.retire(id);
        assert_eq!(tier.settled_used(), first);
        tier.remove(id).unwrap();
        tier.remove(id).unwrap();
        assert_eq!((tier.used(), tier.settled_used()), (first, first));
        tier.remove(before).unwrap();
        assert_eq!(tier.used(), 0);
        // Retiring a blob that is gone changes nothing.
        tier.retire(id);
        assert_eq!(tier.settled_used(), 0);
    }

    #[test]
    fn capacity_is_configured_or_the_filesystem() {
        let dir = tempfile::tempdir().unwrap();
        let local: Arc<dyn Tier> = Arc::new(
            LocalTier::open("ssd", dir.path().join("ssd"), LocalTierOptions::default()).unwrap(),
        );
        let fs = MeteredTier::open(Arc::clone(&local), Watermarks::default()).unwrap();
        assert_eq!(fs.capacity(), Some(local.space().unwrap().unwrap().total));
        let limited = MeteredTier::open(
            local,
            Watermarks {
                capacity: Some(10_000),
                ..Watermarks::default()
            },
        )
        .unwrap();
        assert_eq!(limited.capacity(), Some(10_000));
        assert!(limited.has_room(Some(9_000)));
        write(&limited, 9_000);
        assert!(!limited.has_room(Some(2_000)));
        assert!(limited.has_room(Some(100)));
    }
}
