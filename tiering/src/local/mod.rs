//! A tier on a local directory (an SSD or HDD mount).
//!
//! Layout: `<root>/<first id byte as 2 hex digits>/<32 hex digit id>`. The 256 shard
//! directories are created once when the tier opens, so a write only ever adds a file to an
//! existing directory: one `fdatasync` for the file and one `fsync` for its directory make
//! it durable, and no parent-of-parent sync is needed.

mod blob_file;
mod framed;
mod raw;
#[cfg(test)]
mod tests;

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use tracing::warn;

use crate::codec::{CodecOptions, FrameEncoder};
use crate::format::{self, Encoding, HEADER_LEN, Header};
use crate::{DataId, DataReader, DataWriter, Tier, TierError};
use blob_file::BlobFile;

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
}

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
        let chunk_size = self.options.chunk_size;
        if self.options.codec.is_plain() {
            let header = Header {
                chunk_size,
                id,
                encoding: Encoding::Raw,
            };
            let file = BlobFile::create(
                self.path_of(id),
                self.shard_dir(id),
                &header.encode(),
                self.options.fsync,
            )?;
            return Ok(Box::new(raw::RawWriter::new(id, file, chunk_size)));
        }
        let encoder = FrameEncoder::new(id, &self.options.codec)?;
        let header = Header {
            chunk_size,
            id,
            encoding: Encoding::Framed {
                compressed: self.options.codec.zstd_level.is_some(),
                key_id: encoder.key_id(),
            },
        };
        let file = BlobFile::create(
            self.path_of(id),
            self.shard_dir(id),
            &header.encode(),
            self.options.fsync,
        )?;
        Ok(Box::new(framed::FramedWriter::new(
            id, file, encoder, chunk_size,
        )))
    }

    fn open(&self, id: DataId) -> Result<Box<dyn DataReader>, TierError> {
        let path = self.path_of(id);
        let file = File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => TierError::NotFound(id),
            _ => TierError::io(path.display(), e),
        })?;
        let io = |e| TierError::io(path.display(), e);
        let file_len = file.metadata().map_err(io)?.len();
        if file_len < HEADER_LEN {
            return Err(TierError::corrupt(
                id,
                format!("blob is {file_len} bytes, shorter than its header"),
            ));
        }
        let mut raw_header = [0u8; HEADER_LEN as usize];
        file.read_exact_at(&mut raw_header, 0).map_err(io)?;
        let header = Header::decode(&raw_header, id)?;
        // Whatever the tier writes now, a blob is read the way its own header says.
        Ok(match header.encoding {
            Encoding::Raw => Box::new(raw::RawReader::open(id, &header, file, file_len, &path)?),
            Encoding::Framed { .. } => Box::new(framed::FramedReader::open(
                id,
                &header,
                self.options.codec.keyring.as_ref(),
                file,
                file_len,
                &path,
            )?),
        })
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

    fn space(&self) -> Result<Option<crate::Space>, TierError> {
        let stat = rustix::fs::statvfs(&self.root)
            .map_err(|e| TierError::io(self.root.display(), e.into()))?;
        Ok(Some(crate::Space {
            total: stat.f_blocks * stat.f_frsize,
            free: stat.f_bavail * stat.f_frsize,
        }))
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
