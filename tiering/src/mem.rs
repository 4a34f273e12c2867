//! An in-memory tier for unit tests of code above the tier seam.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::{DataId, DataReader, DataWriter, Tier, TierError};

/// Quarantined blobs: id → (stored bytes, note).
type Quarantined = HashMap<DataId, (Bytes, Vec<u8>)>;

#[derive(Debug, Default, Clone)]
pub struct MemTier {
    name: String,
    blobs: Arc<Mutex<HashMap<DataId, Bytes>>>,
    /// What [`Tier::quarantine`] kept: the bytes and the note.
    quarantined: Arc<Mutex<Quarantined>>,
}

impl MemTier {
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            blobs: Arc::default(),
            quarantined: Arc::default(),
        }
    }

    /// The quarantined blobs: id → (stored bytes, note).
    #[must_use]
    pub fn quarantined(&self) -> Quarantined {
        self.quarantined.lock().expect("lock").clone()
    }

    /// Number of finished blobs held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.blobs.lock().expect("lock").len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Tier for MemTier {
    fn name(&self) -> &str {
        &self.name
    }

    fn create(&self, id: DataId) -> Result<Box<dyn DataWriter>, TierError> {
        Ok(Box::new(MemWriter {
            id,
            buf: Vec::new(),
            blobs: Arc::clone(&self.blobs),
        }))
    }

    fn open(&self, id: DataId) -> Result<Box<dyn DataReader>, TierError> {
        let data = self
            .blobs
            .lock()
            .expect("lock")
            .get(&id)
            .cloned()
            .ok_or(TierError::NotFound(id))?;
        Ok(Box::new(MemReader { id, data }))
    }

    fn remove(&self, id: DataId) -> Result<(), TierError> {
        self.blobs.lock().expect("lock").remove(&id);
        Ok(())
    }

    fn quarantine(&self, id: DataId, note: &[u8]) -> Result<bool, TierError> {
        let Some(bytes) = self.blobs.lock().expect("lock").get(&id).cloned() else {
            return Ok(false);
        };
        self.quarantined
            .lock()
            .expect("lock")
            .insert(id, (bytes, note.to_vec()));
        Ok(true)
    }

    fn for_each_id(&self, visit: &mut dyn FnMut(DataId)) -> Result<(), TierError> {
        let ids: Vec<DataId> = self.blobs.lock().expect("lock").keys().copied().collect();
        ids.into_iter().for_each(visit);
        Ok(())
    }

    fn stored_size(&self, id: DataId) -> Result<u64, TierError> {
        self.blobs
            .lock()
            .expect("lock")
            .get(&id)
            .map(|b| b.len() as u64)
            .ok_or(TierError::NotFound(id))
    }

    fn space(&self) -> Result<Option<crate::Space>, TierError> {
        Ok(None)
    }

    fn used_bytes(&self) -> Result<u64, TierError> {
        Ok(self
            .blobs
            .lock()
            .expect("lock")
            .values()
            .map(|b| b.len() as u64)
            .sum())
    }
}

struct MemWriter {
    id: DataId,
    buf: Vec<u8>,
    blobs: Arc<Mutex<HashMap<DataId, Bytes>>>,
}

impl DataWriter for MemWriter {
    fn write(&mut self, data: &[u8]) -> Result<(), TierError> {
        self.buf.extend_from_slice(data);
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<u64, TierError> {
        let len = self.buf.len() as u64;
        self.blobs
            .lock()
            .expect("lock")
            .insert(self.id, Bytes::from(self.buf));
        Ok(len)
    }
}

struct MemReader {
    id: DataId,
    data: Bytes,
}

impl DataReader for MemReader {
    fn len(&self) -> u64 {
        self.data.len() as u64
    }

    fn read_at(&mut self, offset: u64, max: usize) -> Result<Bytes, TierError> {
        if max == 0 {
            return Ok(Bytes::new());
        }
        let len = self.data.len() as u64;
        if offset >= len {
            return Err(TierError::OutOfRange {
                id: self.id,
                offset,
                len,
            });
        }
        let start = usize::try_from(offset).expect("in memory");
        let end = self.data.len().min(start.saturating_add(max));
        Ok(self.data.slice(start..end))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn conformance() {
        crate::conformance::run_all(&super::MemTier::new("mem"), 4096);
    }
}
