//! A tier on a local directory (an SSD or HDD mount).
//!
//! Layout: `<root>/<first id byte as 2 hex digits>/<32 hex digit id>`. The 256 shard
//! directories are created once when the tier opens, so a write only ever adds a file to an
//! existing directory: one `fdatasync` for the file and one `fsync` for its directory make
//! it durable, and no parent-of-parent sync is needed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use tracing::warn;

use crate::format::{self, CHUNK_CRC_LEN, FOOTER_LEN, Geometry, HEADER_LEN, Header};
use crate::{DataId, DataReader, DataWriter, Tier, TierError};

/// Tunables of a local tier.
#[derive(Debug, Clone)]
pub struct LocalTierOptions {
    pub chunk_size: u32,
    /// Whether `finish` syncs data and directory to stable storage. Only benchmarks that
    /// measure the cost of durability turn this off.
    pub fsync: bool,
}

impl Default for LocalTierOptions {
    fn default() -> Self {
        Self {
            chunk_size: format::DEFAULT_CHUNK_SIZE,
            fsync: true,
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
        let path = self.path_of(id);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| TierError::io(path.display(), e))?;
        let header = Header {
            chunk_size: self.options.chunk_size,
            id,
        };
        if let Err(e) = file.write_all(&header.encode()) {
            let _ = fs::remove_file(&path);
            return Err(TierError::io(path.display(), e));
        }
        Ok(Box::new(LocalWriter {
            id,
            file,
            dir: self.shard_dir(id),
            path,
            chunk_size: u64::from(self.options.chunk_size),
            digest: format::chunk_digest(id, 0),
            filled: 0,
            chunk_index: 0,
            payload_len: 0,
            fsync: self.options.fsync,
            written_back: 0,
            flusher: None,
            finished: false,
        }))
    }

    fn open(&self, id: DataId) -> Result<Box<dyn DataReader>, TierError> {
        let path = self.path_of(id);
        let file = File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => TierError::NotFound(id),
            _ => TierError::io(path.display(), e),
        })?;
        Ok(Box::new(LocalReader::open(id, file, &path)?))
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

struct LocalWriter {
    id: DataId,
    file: File,
    path: PathBuf,
    dir: PathBuf,
    chunk_size: u64,
    /// Checksum of the current chunk so far, and how many of its bytes are written.
    digest: crc_fast::Digest,
    filled: u64,
    chunk_index: u64,
    payload_len: u64,
    fsync: bool,
    /// Payload length at the last early writeback.
    written_back: u64,
    /// The early writeback in progress, if any.
    flusher: Option<std::thread::JoinHandle<()>>,
    finished: bool,
}

/// How much a blob grows between early writebacks. The kernel only starts writing dirty
/// pages in the background once gigabytes are dirty, so without this every byte of a large
/// blob would wait for the final `fdatasync`; syncing behind the writer keeps the disk busy
/// while the body is still arriving, and the final sync has at most this much left to do.
const WRITEBACK_STEP: u64 = 16 << 20;

impl LocalWriter {
    /// Starts syncing what is written so far on a helper thread, unless one is still busy.
    fn write_back_early(&mut self) {
        if self.flusher.as_ref().is_some_and(|f| !f.is_finished()) {
            return;
        }
        let Ok(file) = self.file.try_clone() else {
            return;
        };
        if let Some(done) = self.flusher.take() {
            let _ = done.join();
        }
        self.written_back = self.payload_len;
        // Errors surface at the final sync, which covers the same data.
        self.flusher = std::thread::Builder::new()
            .name("vmgw-writeback".into())
            .spawn(move || drop(file.sync_data()))
            .ok();
    }

    fn io(&self, e: io::Error) -> TierError {
        TierError::io(self.path.display(), e)
    }

    /// Appends the current chunk's checksum and starts the next chunk.
    fn end_chunk(&mut self) -> Result<(), TierError> {
        let crc = format::finish_chunk_digest(&self.digest);
        self.file
            .write_all(&crc.to_le_bytes())
            .map_err(|e| self.io(e))?;
        self.chunk_index += 1;
        self.filled = 0;
        self.digest = format::chunk_digest(self.id, self.chunk_index);
        Ok(())
    }
}

impl DataWriter for LocalWriter {
    fn write(&mut self, mut data: &[u8]) -> Result<(), TierError> {
        while !data.is_empty() {
            let room = usize::try_from(self.chunk_size - self.filled).unwrap_or(usize::MAX);
            let (now, rest) = data.split_at(room.min(data.len()));
            // Bytes go to the file straight from the caller's buffer, while still in cache
            // from the hashing the caller just did.
            self.file.write_all(now).map_err(|e| self.io(e))?;
            self.digest.update(now);
            self.filled += now.len() as u64;
            self.payload_len += now.len() as u64;
            if self.filled == self.chunk_size {
                self.end_chunk()?;
            }
            data = rest;
        }
        if self.fsync && self.payload_len - self.written_back >= WRITEBACK_STEP {
            self.write_back_early();
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<u64, TierError> {
        if self.filled > 0 {
            self.end_chunk()?;
        }
        let footer = format::encode_footer(self.id, self.payload_len);
        self.file.write_all(&footer).map_err(|e| self.io(e))?;
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
        if self.fsync {
            self.file.sync_data().map_err(|e| self.io(e))?;
            sync_dir(&self.dir)?;
        }
        self.finished = true;
        Ok(self.payload_len)
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        if !self.finished
            && let Err(e) = fs::remove_file(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            warn!(path = %self.path.display(), error = %e, "could not discard unfinished blob; the orphan sweep will");
        }
    }
}

struct LocalReader {
    id: DataId,
    file: File,
    path: PathBuf,
    geometry: Geometry,
}

impl LocalReader {
    fn open(id: DataId, file: File, path: &Path) -> Result<Self, TierError> {
        let io_err = |e| TierError::io(path.display(), e);
        let file_len = file.metadata().map_err(io_err)?.len();
        if file_len < HEADER_LEN + FOOTER_LEN {
            return Err(TierError::corrupt(
                id,
                format!("blob is {file_len} bytes, shorter than its framing"),
            ));
        }
        let mut header = [0u8; HEADER_LEN as usize];
        file.read_exact_at(&mut header, 0).map_err(io_err)?;
        let header = Header::decode(&header, id)?;
        let mut footer = [0u8; FOOTER_LEN as usize];
        file.read_exact_at(&mut footer, file_len - FOOTER_LEN)
            .map_err(io_err)?;
        let payload_len = format::decode_footer(&footer, id)?;
        let geometry = Geometry {
            chunk_size: u64::from(header.chunk_size),
            payload_len,
        };
        if geometry.stored_len() != file_len {
            return Err(TierError::corrupt(
                id,
                format!(
                    "stored length {file_len} does not match {} expected for {payload_len} payload bytes",
                    geometry.stored_len()
                ),
            ));
        }
        Ok(Self {
            id,
            file,
            path: path.to_owned(),
            geometry,
        })
    }
}

impl DataReader for LocalReader {
    fn len(&self) -> u64 {
        self.geometry.payload_len
    }

    fn read_at(&mut self, offset: u64, max: usize) -> Result<Bytes, TierError> {
        if max == 0 {
            return Ok(Bytes::new());
        }
        if offset >= self.geometry.payload_len {
            return Err(TierError::OutOfRange {
                id: self.id,
                offset,
                len: self.geometry.payload_len,
            });
        }
        let index = offset / self.geometry.chunk_size;
        let chunk_len = self.geometry.chunk_len(index);
        let stored_len = usize::try_from(CHUNK_CRC_LEN + chunk_len).expect("chunk fits in memory");
        let mut buf = BytesMut::zeroed(stored_len);
        self.file
            .read_exact_at(&mut buf, self.geometry.chunk_offset(index))
            .map_err(|e| TierError::io(self.path.display(), e))?;
        // The payload comes first, its checksum after it.
        let payload_len = buf.len() - 4;
        let stored_crc = u32::from_le_bytes(buf[payload_len..].try_into().expect("4 bytes"));
        if format::chunk_crc(self.id, index, &buf[..payload_len]) != stored_crc {
            return Err(TierError::corrupt(
                self.id,
                format!("chunk {index} checksum mismatch"),
            ));
        }
        let chunk = buf.freeze().slice(..payload_len);
        let start = usize::try_from(offset - index * self.geometry.chunk_size)
            .expect("offset within chunk");
        let end = chunk.len().min(start.saturating_add(max));
        Ok(chunk.slice(start..end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{self, pattern, read_range};

    const CHUNK: u32 = 4096;

    fn tier(dir: &Path) -> LocalTier {
        LocalTier::open(
            "ssd",
            dir,
            LocalTierOptions {
                chunk_size: CHUNK,
                ..LocalTierOptions::default()
            },
        )
        .unwrap()
    }

    fn put(tier: &LocalTier, data: &[u8]) -> DataId {
        let id = DataId::random();
        let mut w = tier.create(id).unwrap();
        w.write(data).unwrap();
        w.finish().unwrap();
        id
    }

    #[test]
    fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        conformance::run_all(&tier(dir.path()), CHUNK as usize);
    }

    #[test]
    fn flipped_byte_is_detected_in_its_chunk_only() {
        let dir = tempfile::tempdir().unwrap();
        let tier = tier(dir.path());
        let data = pattern(3 * CHUNK as usize, 1);
        let id = put(&tier, &data);
        let path = tier.path_of(id);
        let mut raw = fs::read(&path).unwrap();
        let in_second_chunk = (HEADER_LEN + CHUNK_CRC_LEN + u64::from(CHUNK) + 100) as usize;
        raw[in_second_chunk] ^= 0x40;
        fs::write(&path, &raw).unwrap();

        let err = read_range(&tier, id, u64::from(CHUNK), 10).unwrap_err();
        assert!(matches!(err, TierError::Corrupt { .. }), "{err}");
        // Chunks that were not touched still read.
        assert_eq!(read_range(&tier, id, 0, 10).unwrap(), &data[..10]);
    }

    #[test]
    fn swapped_chunks_are_detected() {
        let dir = tempfile::tempdir().unwrap();
        let tier = tier(dir.path());
        let data = pattern(2 * CHUNK as usize, 2);
        let id = put(&tier, &data);
        let path = tier.path_of(id);
        let mut raw = fs::read(&path).unwrap();
        let stride = (CHUNK_CRC_LEN + u64::from(CHUNK)) as usize;
        let first = HEADER_LEN as usize;
        let (a, b) = raw[first..first + 2 * stride].split_at_mut(stride);
        a.swap_with_slice(b);
        fs::write(&path, &raw).unwrap();
        assert!(matches!(
            read_range(&tier, id, 0, 1),
            Err(TierError::Corrupt { .. })
        ));
        assert!(matches!(
            read_range(&tier, id, u64::from(CHUNK), 1),
            Err(TierError::Corrupt { .. })
        ));
    }

    #[test]
    fn truncation_is_detected_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let tier = tier(dir.path());
        let id = put(&tier, &pattern(2 * CHUNK as usize, 3));
        let path = tier.path_of(id);
        let full = fs::metadata(&path).unwrap().len();
        // Cut exactly at the end of the first chunk: every remaining chunk is intact.
        let cut = HEADER_LEN + CHUNK_CRC_LEN + u64::from(CHUNK);
        for len in [full - 1, cut, 10] {
            let f = OpenOptions::new().write(true).open(&path).unwrap();
            f.set_len(len).unwrap();
            assert!(
                matches!(tier.open(id), Err(TierError::Corrupt { .. })),
                "truncated to {len}"
            );
        }
    }

    #[test]
    fn blob_renamed_to_another_id_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let tier = tier(dir.path());
        let id = put(&tier, b"hello");
        let other = DataId::random();
        fs::rename(tier.path_of(id), tier.path_of(other)).unwrap();
        assert!(matches!(tier.open(other), Err(TierError::Corrupt { .. })));
    }

    #[test]
    fn stored_size_matches_geometry() {
        let dir = tempfile::tempdir().unwrap();
        let tier = tier(dir.path());
        let id = put(&tier, &pattern(10_000, 4));
        let expected = Geometry {
            chunk_size: u64::from(CHUNK),
            payload_len: 10_000,
        }
        .stored_len();
        assert_eq!(fs::metadata(tier.path_of(id)).unwrap().len(), expected);
        assert_eq!(tier.used_bytes().unwrap(), expected);
    }
}
