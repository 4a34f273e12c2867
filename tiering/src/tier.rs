//! The seam between the object service and where bytes live.

use bytes::Bytes;

use crate::{DataId, TierError};

/// A place that stores immutable blobs under [`DataId`]s.
///
/// All methods block; call them from a blocking thread.
pub trait Tier: Send + Sync + 'static {
    /// The tier's configured name (`ssd`, `hdd`, ...).
    fn name(&self) -> &str;

    /// Starts writing a new blob. Nothing is visible under `id` until
    /// [`DataWriter::finish`] returns; dropping the writer unfinished discards it.
    fn create(&self, id: DataId) -> Result<Box<dyn DataWriter>, TierError>;

    /// Opens a blob for verified reads.
    fn open(&self, id: DataId) -> Result<Box<dyn DataReader>, TierError>;

    /// Opens a blob to copy it (a move, a verification): like [`Tier::open`], but not a sign
    /// of interest in the object, so it does not count towards read promotion.
    fn open_for_copy(&self, id: DataId) -> Result<Box<dyn DataReader>, TierError> {
        self.open(id)
    }

    /// Removes a blob. Removing an absent blob succeeds, so deletion can be retried.
    fn remove(&self, id: DataId) -> Result<(), TierError>;

    /// Calls `visit` with every blob id present, including unfinished ones, for orphan sweeps.
    fn for_each_id(&self, visit: &mut dyn FnMut(DataId)) -> Result<(), TierError>;

    /// Bytes used on the tier's storage (at-rest size, including framing).
    fn used_bytes(&self) -> Result<u64, TierError>;

    /// At-rest size of one blob, framing included.
    fn stored_size(&self, id: DataId) -> Result<u64, TierError>;

    /// Size and free space of the storage under the tier, when it has such a notion.
    fn space(&self) -> Result<Option<Space>, TierError>;

    /// Whether the tier is a remote service (its outage degrades the gateway; a local tier's
    /// makes it unready).
    fn is_remote(&self) -> bool {
        false
    }

    /// Checks that the tier can be reached now, as a readiness probe does.
    fn probe(&self) -> Result<(), TierError> {
        self.space().map(|_| ())
    }

    /// Whether the tier keeps a self-description with each blob (see
    /// [`DataWriter::describe`]), so writers know it is worth building one.
    fn keeps_descriptors(&self) -> bool {
        false
    }

    /// Whether a long read goes faster split over two readers on two threads: true where
    /// reading costs CPU per chunk (decompression), false where it is a copy or where
    /// readers are sequential streams (a remote tier).
    fn parallel_reads(&self) -> bool {
        false
    }

    /// Discards uploads a crashed run left unfinished where the tier's storage keeps them
    /// outside the blobs [`Tier::for_each_id`] lists (multipart uploads of a remote tier).
    /// Only safe when nothing is being written. Returns how many it discarded.
    fn abort_incomplete_uploads(&self) -> Result<u64, TierError> {
        Ok(0)
    }

    /// The self-description stored with a blob, unsealed, if the tier keeps them.
    fn descriptor(&self, _id: DataId) -> Result<Option<Vec<u8>>, TierError> {
        Ok(None)
    }

    /// Replaces a blob's self-description, for an object whose name or metadata changed
    /// after its bytes were written (a rename, new tags, an append). Atomic: a reader sees
    /// the old description or the new one. A no-op where the tier keeps none.
    fn redescribe(&self, _id: DataId, _descriptor: &[u8]) -> Result<(), TierError> {
        Ok(())
    }

    /// Keeps the stored bytes of blob `id`, whatever state they are in, in the tier's
    /// quarantine area (`lost+found`), with `note` (what they belonged to) beside them. The
    /// blob itself stays where it is until it is removed, so quarantining first and then
    /// dropping the blob from the metadata never leaves a moment where the bytes are in
    /// neither place. Returns whether there was anything to keep. Blobs in the quarantine
    /// area are never listed by [`Tier::for_each_id`], so no sweep takes them.
    fn quarantine(&self, _id: DataId, _note: &[u8]) -> Result<bool, TierError> {
        Err(TierError::Io {
            path: self.name().to_owned(),
            source: std::io::Error::other("this tier has no quarantine area"),
        })
    }

    /// Opens a blob in the tier's own storage, never a cached copy of it: what an integrity
    /// check must read to know the tier still holds the blob intact.
    fn open_uncached(&self, id: DataId) -> Result<Box<dyn DataReader>, TierError> {
        self.open_for_copy(id)
    }

    /// A second, cached copy of blob `id` that the tier keeps elsewhere (read promotion of
    /// a remote blob), opened for verified reads, if it has one.
    fn cached_copy(&self, _id: DataId) -> Option<Result<Box<dyn DataReader>, TierError>> {
        None
    }

    /// Drops the cached copy of blob `id` (found damaged), keeping the blob itself.
    fn drop_cached_copy(&self, _id: DataId) {}
}

/// Capacity of the storage under a tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    pub total: u64,
    pub free: u64,
}

/// Streaming writer of one blob.
pub trait DataWriter: Send {
    /// Appends bytes.
    fn write(&mut self, data: &[u8]) -> Result<(), TierError>;

    /// Attaches a self-description (which object the blob belongs to), stored with the blob
    /// by tiers that keep one (sealed when the tier seals data) and ignored by others. Call
    /// before `finish`.
    fn describe(&mut self, _descriptor: Vec<u8>) {}

    /// Completes the blob and makes it durable (data and directory entry) before returning.
    /// Returns the number of payload bytes written.
    fn finish(self: Box<Self>) -> Result<u64, TierError>;
}

/// Verified random-access reader of one blob.
pub trait DataReader: Send {
    /// Payload length in bytes.
    fn len(&self) -> u64;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads verified bytes starting at `offset`, at most `max` of them. May return fewer
    /// (it stops at an internal chunk boundary) but never zero unless `max` is zero.
    fn read_at(&mut self, offset: u64, max: usize) -> Result<Bytes, TierError>;
}
