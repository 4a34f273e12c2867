//! A tier on a local directory (an SSD or HDD mount).
//!
//! Layout: `<root>/<first id byte as 2 hex digits>/<32 hex digit id>`. The 256 shard
//! directories are created once when the tier opens, so a write only ever adds a file to an
//! existing directory: one `fdatasync` for the file and one `fsync` for its directory make
//! it durable, and no parent-of-parent sync is needed.

mod blob_file;
mod file_source;
#[cfg(test)]
mod tests;

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use tracing::warn;

use crate::codec::CodecOptions;
use crate::format;
use crate::{DataId, DataReader, DataWriter, Tier, TierError, blob};
use blob_file::BlobFile;
use file_source::FileSource;

/// Tunables of a local tier.
#[derive(Debug, Clone)]
pub struct LocalTierOptions {
    pub chunk_size: u32,
    /// Whether `finish` syncs data and directory to stable storage. Only benchmarks that
    /// measure the cost of durability turn this off.
    pub fsync: bool,
    /// Compression and sealing; plain tiers use the fixed-stride version 1 format.
    pub codec: CodecOptions,
}

impl Default for LocalTierOptions {
    fn default() -> Self {
        Self {
            chunk_size: format::DEFAULT_CHUNK_SIZE,
            fsync: true,
            codec: CodecOptions::default(),
        }
    }
}

#[derive(Debug)]
pub struct LocalTier {
    name: String,
    root: PathBuf,
    options: LocalTierOptions,
}

impl LocalTier {
    /// Opens (creating if needed) a tier rooted at `root`.
    pub fn open(
        name: impl Into<String>,
        root: impl Into<PathBuf>,
        options: LocalTierOptions,
    ) -> Result<Self, TierError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|e| TierError::io(root.display(), e))?;
        let mut created = false;
        for shard in 0..=255u8 {
            let dir = root.join(format!("{shard:02x}"));
            match fs::create_dir(&dir) {
                Ok(()) => created = true,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(TierError::io(dir.display(), e)),
            }
        }
        if created && options.fsync {
            sync_dir(&root)?;
        }
        Ok(Self {
            name: name.into(),
            root,
            options,
        })
    }

    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `id` lives on disk.
    #[must_use]
    pub fn path_of(&self, id: DataId) -> PathBuf {
        self.shard_dir(id).join(id.to_string())
    }

    fn shard_dir(&self, id: DataId) -> PathBuf {
        self.root.join(format!("{:02x}", id.shard()))
    }

    /// The quarantine area: blobs kept by [`Tier::quarantine`], beside the shard
    /// directories, so listings of blobs never see them.
    #[must_use]
    pub fn quarantine_dir(&self) -> PathBuf {
        self.root.join(QUARANTINE_DIR)
    }
}

/// The name of the quarantine directory under a tier's root. `+` never appears in a shard
/// name (two hex digits), so it cannot collide with one.
pub const QUARANTINE_DIR: &str = "lost+found";

fn sync_dir(dir: &Path) -> Result<(), TierError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| TierError::io(dir.display(), e))
}

impl Tier for LocalTier {
    fn name(&self) -> &str {
        &self.name
    }

    fn create(&self, id: DataId) -> Result<Box<dyn DataWriter>, TierError> {
        let file = BlobFile::create(self.path_of(id), self.shard_dir(id), self.options.fsync)?;
        blob::create(id, file, self.options.chunk_size, &self.options.codec)
    }

    fn open(&self, id: DataId) -> Result<Box<dyn DataReader>, TierError> {
        let path = self.path_of(id);
        let file = File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => TierError::NotFound(id),
            _ => TierError::io(path.display(), e),
        })?;
        let len = file
            .metadata()
            .map_err(|e| TierError::io(path.display(), e))?
            .len();
        blob::open(
            id,
            FileSource { file, len, path },
            self.options.codec.keyring.as_ref(),
        )
    }

    fn remove(&self, id: DataId) -> Result<(), TierError> {
        let path = self.path_of(id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(TierError::io(path.display(), e)),
        }
    }

    fn for_each_id(&self, visit: &mut dyn FnMut(DataId)) -> Result<(), TierError> {
        for shard in 0..=255u8 {
            let dir = self.root.join(format!("{shard:02x}"));
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(TierError::io(dir.display(), e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| TierError::io(dir.display(), e))?;
                let name = entry.file_name();
                match name.to_str().and_then(|n| n.parse::<DataId>().ok()) {
                    Some(id) => visit(id),
                    None => {
                        warn!(tier = %self.name, file = ?entry.path(), "foreign file in tier directory left alone")
                    }
                }
            }
        }
        Ok(())
    }

    fn stored_size(&self, id: DataId) -> Result<u64, TierError> {
        let path = self.path_of(id);
        fs::metadata(&path)
            .map(|m| m.len())
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => TierError::NotFound(id),
                _ => TierError::io(path.display(), e),
            })
    }

    fn parallel_reads(&self) -> bool {
        self.options.codec.zstd_level.is_some()
    }

    /// A hard link, not a copy: the bytes are kept exactly as they are (damage included)
    /// at no cost in space or time, and survive the blob's later removal.
    fn quarantine(&self, id: DataId, note: &[u8]) -> Result<bool, TierError> {
        let dir = self.quarantine_dir();
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(TierError::io(dir.display(), e)),
        }
        let kept = dir.join(id.to_string());
        match fs::hard_link(self.path_of(id), &kept) {
            Ok(()) => {}
            // Quarantined before (an interrupted repair being repeated).
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(TierError::io(kept.display(), e)),
        }
        let note_path = dir.join(format!("{id}.note"));
        fs::write(&note_path, note).map_err(|e| TierError::io(note_path.display(), e))?;
        if self.options.fsync {
            sync_dir(&dir)?;
        }
        Ok(true)
    }

    fn space(&self) -> Result<Option<crate::Space>, TierError> {
        let stat = rustix::fs::statvfs(&self.root)
            .map_err(|e| TierError::io(self.root.display(), e.into()))?;
        Ok(Some(crate::Space {
            total: stat.f_blocks * stat.f_frsize,
            free: stat.f_bavail * stat.f_frsize,
        }))
    }

    /// The directory must be there and writable: a tier on a disk that vanished or was
    /// remounted read-only cannot take writes.
    fn probe(&self) -> Result<(), TierError> {
        rustix::fs::access(&self.root, rustix::fs::Access::WRITE_OK)
            .map_err(|e| TierError::io(self.root.display(), e.into()))
    }

    fn used_bytes(&self) -> Result<u64, TierError> {
        let mut total = 0;
        let mut ids = Vec::new();
        self.for_each_id(&mut |id| ids.push(id))?;
        for id in ids {
            match fs::metadata(self.path_of(id)) {
                Ok(m) => total += m.len(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(TierError::io(self.path_of(id).display(), e)),
            }
        }
        Ok(total)
    }
}
