//! Read promotion: a local cached copy of remote blobs that are read, so repeated reads of a
//! cold object are served at local speed (and survive a remote outage) while the remote
//! copy stays the one the metadata references.
//!
//! [`CachedTier`] wraps a (remote) tier. Blob ids are immutable — the bytes under an id
//! never change — so a cached copy can never be stale: when the object is overwritten,
//! deleted or moved, its blob id is simply never asked for again and the copy ages out of
//! the LRU. The cache is disposable: it lives in its own directory, is emptied at start,
//! and every copy is verified (read back and compared) before it is used.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use crate::{DataId, DataReader, DataWriter, LocalTier, LocalTierOptions, Space, Tier, TierError};

/// When a remote blob gets a cached copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromotionPolicy {
    /// On its first read.
    FirstRead,
    /// Once it has been read `reads` times within `window`.
    AfterReads { reads: u32, window: Duration },
}

#[derive(Debug, Clone)]
pub struct CacheOptions {
    pub policy: PromotionPolicy,
    /// The cache's directory; emptied when the cache opens.
    pub dir: PathBuf,
    /// Bytes of cached copies kept; the least recently read go first.
    pub capacity: u64,
}

struct Entry {
    local: DataId,
    size: u64,
    last_hit: u64,
}

#[derive(Default)]
struct Index {
    entries: HashMap<DataId, Entry>,
    bytes: u64,
    tick: u64,
    /// Reads of uncached blobs: count and when the counting window began.
    reads: HashMap<DataId, (u32, Instant)>,
}

/// Most uncached blobs whose reads are counted at once; beyond, counting starts over.
const MAX_COUNTED: usize = 100_000;

struct Shared {
    inner: Arc<dyn Tier>,
    store: LocalTier,
    options: CacheOptions,
    index: Mutex<Index>,
}

pub struct CachedTier {
    shared: Arc<Shared>,
    fills: SyncSender<DataId>,
}

impl std::fmt::Debug for CachedTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedTier")
            .field("tier", &self.shared.inner.name())
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl CachedTier {
    /// Wraps `inner`, with an empty cache in `options.dir`.
    pub fn new(inner: Arc<dyn Tier>, options: CacheOptions) -> Result<Self, TierError> {
        match std::fs::remove_dir_all(&options.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(TierError::io(options.dir.display(), e)),
        }
        // A cache copy that a crash cuts short is thrown away with the directory at the next
        // start, so it needs no sync.
        let store = LocalTier::open(
            format!("{}-cache", inner.name()),
            &options.dir,
            LocalTierOptions {
                fsync: false,
                ..LocalTierOptions::default()
            },
        )?;
        let shared = Arc::new(Shared {
            inner,
            store,
            options,
            index: Mutex::default(),
        });
        // Fills run one at a time on their own thread: a burst of cold reads must not turn
        // into a burst of parallel downloads competing with the reads themselves.
        let (fills, queue) = sync_channel::<DataId>(64);
        let filler = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("vmgw-cache-fill".into())
            .spawn(move || {
                while let Ok(id) = queue.recv() {
                    filler.fill(id);
                }
            })
            .map_err(|e| TierError::io("cache fill thread", e))?;
        Ok(Self { shared, fills })
    }

    /// Bytes of cached copies and how many there are.
    #[must_use]
    pub fn cached(&self) -> (u64, usize) {
        let index = self.shared.index.lock().expect("cache lock");
        (index.bytes, index.entries.len())
    }

    /// Whether blob `id` has a cached copy.
    #[must_use]
    pub fn is_cached(&self, id: DataId) -> bool {
        self.shared
            .index
            .lock()
            .expect("cache lock")
            .entries
            .contains_key(&id)
    }

    /// Counts a read of an uncached blob and queues a fill when the policy says so.
    fn count_read(&self, id: DataId) {
        let due = {
            let mut index = self.shared.index.lock().expect("cache lock");
            match self.shared.options.policy {
                PromotionPolicy::FirstRead => true,
                PromotionPolicy::AfterReads { reads, window } => {
                    if index.reads.len() >= MAX_COUNTED {
                        index.reads.clear();
                    }
                    let now = Instant::now();
                    let count = index.reads.entry(id).or_insert((0, now));
                    if now.duration_since(count.1) > window {
                        *count = (0, now);
                    }
                    count.0 += 1;
                    let due = count.0 >= reads;
                    if due {
                        index.reads.remove(&id);
                    }
                    due
                }
            }
        };
        if due {
            match self.fills.try_send(id) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => {}
                Err(TrySendError::Full(_)) => debug!(blob = %id, "cache fill queue full; skipped"),
            }
        }
    }

    fn open_cached(&self, id: DataId) -> Option<Box<dyn DataReader>> {
        let local = {
            let mut index = self.shared.index.lock().expect("cache lock");
            index.tick += 1;
            let tick = index.tick;
            let entry = index.entries.get_mut(&id)?;
            entry.last_hit = tick;
            entry.local
        };
        match self.shared.store.open(local) {
            Ok(reader) => Some(reader),
            Err(e) => {
                warn!(blob = %id, error = %e, "cached copy unusable; dropped");
                self.shared.forget(id);
                None
            }
        }
    }
}

impl Shared {
    fn forget(&self, id: DataId) {
        let removed = {
            let mut index = self.index.lock().expect("cache lock");
            let entry = index.entries.remove(&id);
            if let Some(entry) = &entry {
                index.bytes -= entry.size;
            }
            entry
        };
        if let Some(entry) = removed {
            let _ = self.store.remove(entry.local);
        }
    }

    /// Copies blob `id` into the cache, verifies the copy, and evicts down to capacity.
    fn fill(&self, id: DataId) {
        if self
            .index
            .lock()
            .expect("cache lock")
            .entries
            .contains_key(&id)
        {
            return;
        }
        let local = DataId::random();
        match self.copy(id, local) {
            Ok(size) if size <= self.options.capacity => {
                let mut index = self.index.lock().expect("cache lock");
                index.tick += 1;
                let last_hit = index.tick;
                index.bytes += size;
                index.entries.insert(
                    id,
                    Entry {
                        local,
                        size,
                        last_hit,
                    },
                );
                let evicted = evict(&mut index, self.options.capacity);
                drop(index);
                for victim in evicted {
                    let _ = self.store.remove(victim);
                }
                debug!(blob = %id, size, "cached a copy of a remote blob");
            }
            Ok(_) => {
                let _ = self.store.remove(local);
            }
            Err(e) => {
                let _ = self.store.remove(local);
                debug!(blob = %id, error = %e, "could not cache a remote blob");
            }
        }
    }

    /// Copies `id` from the remote tier to `local` in the cache; returns the payload size.
    fn copy(&self, id: DataId, local: DataId) -> Result<u64, TierError> {
        let mut reader = self.inner.open(id)?;
        let mut writer = self.store.create(local)?;
        let mut digest = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi);
        let mut offset = 0;
        while offset < reader.len() {
            let bytes = reader.read_at(offset, 1 << 20)?;
            digest.update(&bytes);
            writer.write(&bytes)?;
            offset += bytes.len() as u64;
        }
        writer.finish()?;
        // Read the copy back: what will be served instead of the remote is what is checked.
        let mut copy = self.store.open(local)?;
        let mut check = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi);
        let mut at = 0;
        while at < copy.len() {
            let bytes = copy.read_at(at, 1 << 20)?;
            check.update(&bytes);
            at += bytes.len() as u64;
        }
        if copy.len() != offset || check.finalize() != digest.finalize() {
            return Err(TierError::corrupt(
                local,
                "cached copy differs from the remote blob",
            ));
        }
        Ok(offset)
    }
}

/// Removes the least recently read entries until `capacity` holds; returns their copies.
fn evict(index: &mut Index, capacity: u64) -> Vec<DataId> {
    let mut victims = Vec::new();
    while index.bytes > capacity {
        let Some((&id, _)) = index.entries.iter().min_by_key(|(_, e)| e.last_hit) else {
            break;
        };
        let entry = index.entries.remove(&id).expect("just found");
        index.bytes -= entry.size;
        victims.push(entry.local);
    }
    victims
}

impl Tier for CachedTier {
    fn name(&self) -> &str {
        self.shared.inner.name()
    }

    fn create(&self, id: DataId) -> Result<Box<dyn DataWriter>, TierError> {
        self.shared.inner.create(id)
    }

    fn open(&self, id: DataId) -> Result<Box<dyn DataReader>, TierError> {
        if let Some(reader) = self.open_cached(id) {
            return Ok(reader);
        }
        let reader = self.shared.inner.open(id)?;
        self.count_read(id);
        Ok(reader)
    }

    fn open_for_copy(&self, id: DataId) -> Result<Box<dyn DataReader>, TierError> {
        // Moves and verifications read everything once; they are not interest in the object.
        match self.open_cached(id) {
            Some(reader) => Ok(reader),
            None => self.shared.inner.open(id),
        }
    }

    fn remove(&self, id: DataId) -> Result<(), TierError> {
        self.shared.inner.remove(id)?;
        self.shared.forget(id);
        Ok(())
    }

    fn for_each_id(&self, visit: &mut dyn FnMut(DataId)) -> Result<(), TierError> {
        self.shared.inner.for_each_id(visit)
    }

    fn used_bytes(&self) -> Result<u64, TierError> {
        self.shared.inner.used_bytes()
    }

    fn stored_size(&self, id: DataId) -> Result<u64, TierError> {
        self.shared.inner.stored_size(id)
    }

    fn space(&self) -> Result<Option<Space>, TierError> {
        self.shared.inner.space()
    }

    fn keeps_descriptors(&self) -> bool {
        self.shared.inner.keeps_descriptors()
    }

    fn is_remote(&self) -> bool {
        self.shared.inner.is_remote()
    }

    fn probe(&self) -> Result<(), TierError> {
        self.shared.inner.probe()
    }

    fn descriptor(&self, id: DataId) -> Result<Option<Vec<u8>>, TierError> {
        self.shared.inner.descriptor(id)
    }

    fn abort_incomplete_uploads(&self) -> Result<u64, TierError> {
        self.shared.inner.abort_incomplete_uploads()
    }

    fn redescribe(&self, id: DataId, descriptor: &[u8]) -> Result<(), TierError> {
        self.shared.inner.redescribe(id, descriptor)
    }

    fn quarantine(&self, id: DataId, note: &[u8]) -> Result<bool, TierError> {
        self.shared.inner.quarantine(id, note)
    }

    fn open_uncached(&self, id: DataId) -> Result<Box<dyn DataReader>, TierError> {
        self.shared.inner.open_uncached(id)
    }

    fn cached_copy(&self, id: DataId) -> Option<Result<Box<dyn DataReader>, TierError>> {
        let local = self
            .shared
            .index
            .lock()
            .expect("cache lock")
            .entries
            .get(&id)?
            .local;
        Some(self.shared.store.open(local))
    }

    fn drop_cached_copy(&self, id: DataId) {
        self.shared.forget(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemTier;
    use crate::conformance::{self, pattern, read_range};

    fn cached(policy: PromotionPolicy, capacity: u64) -> (MemTier, CachedTier, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let remote = MemTier::new("remote");
        let tier = CachedTier::new(
            Arc::new(remote.clone()),
            CacheOptions {
                policy,
                dir: dir.path().join("cache"),
                capacity,
            },
        )
        .unwrap();
        (remote, tier, dir)
    }

    fn put(tier: &dyn Tier, data: &[u8]) -> DataId {
        let id = DataId::random();
        let mut w = tier.create(id).unwrap();
        w.write(data).unwrap();
        w.finish().unwrap();
        id
    }

    fn wait_cached(tier: &CachedTier, id: DataId) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !tier.is_cached(id) {
            assert!(Instant::now() < deadline, "never cached");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn conformance_through_the_cache() {
        let (_, tier, _dir) = cached(PromotionPolicy::FirstRead, 1 << 30);
        conformance::run_all(&tier, crate::format::DEFAULT_CHUNK_SIZE as usize);
    }

    #[test]
    fn a_cached_copy_serves_reads_when_the_remote_loses_the_blob() {
        let (remote, tier, _dir) = cached(PromotionPolicy::FirstRead, 1 << 30);
        let data = pattern(3_000_000, 4);
        let id = put(&tier, &data);
        assert_eq!(read_range(&tier, id, 0, data.len()).unwrap(), data);
        wait_cached(&tier, id);
        // The remote copy vanishing proves reads come from the cache now.
        remote.remove(id).unwrap();
        assert_eq!(read_range(&tier, id, 0, data.len()).unwrap(), data);
        assert_eq!(
            read_range(&tier, id, 1_234_567, 1000).unwrap(),
            &data[1_234_567..1_235_567]
        );
        // Copies for moves do not count as interest.
        let other = put(&tier, &data[..1000]);
        drop(tier.open_for_copy(other).unwrap());
        std::thread::sleep(Duration::from_millis(100));
        assert!(!tier.is_cached(other));
    }

    #[test]
    fn after_reads_waits_for_the_count_and_lru_keeps_capacity() {
        let (_, tier, _dir) = cached(
            PromotionPolicy::AfterReads {
                reads: 3,
                window: Duration::from_secs(60),
            },
            2_500_000,
        );
        let a = put(&tier, &pattern(1_000_000, 1));
        let b = put(&tier, &pattern(1_000_000, 2));
        let c = put(&tier, &pattern(1_000_000, 3));
        for _ in 0..2 {
            drop(tier.open(a).unwrap());
        }
        std::thread::sleep(Duration::from_millis(100));
        assert!(!tier.is_cached(a), "two reads are not enough");
        drop(tier.open(a).unwrap());
        wait_cached(&tier, a);
        for id in [b, c] {
            for _ in 0..3 {
                drop(tier.open(id).unwrap());
            }
            wait_cached(&tier, id);
        }
        // Three 1 MB copies do not fit in 2.5 MB: the least recently read (a) went.
        assert!(!tier.is_cached(a) && tier.is_cached(b) && tier.is_cached(c));
        assert!(tier.cached().0 <= 2_500_000);
    }
}
