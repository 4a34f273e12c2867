//! A blob file being written: the parts every on-disk format shares — creation with the
//! header, early writeback, durable completion, and removal if abandoned.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;

use tracing::warn;

use super::sync_dir;
use crate::TierError;
use crate::blob::BlobSink;

/// How much a blob grows between early writebacks. The kernel only starts writing dirty
/// pages in the background once gigabytes are dirty, so without this every byte of a large
/// blob would wait for the final `fdatasync`; syncing behind the writer keeps the disk busy
/// while the body is still arriving, and the final sync has at most this much left to do.
const WRITEBACK_STEP: u64 = 16 << 20;

pub(super) struct BlobFile {
    file: File,
    path: PathBuf,
    dir: PathBuf,
    fsync: bool,
    /// Bytes written to the file so far.
    written: u64,
    /// File length at the last early writeback.
    written_back: u64,
    /// The early writeback in progress, if any.
    flusher: Option<std::thread::JoinHandle<()>>,
    finished: bool,
}

impl BlobFile {
    /// Creates the file; it must not exist.
    pub(super) fn create(path: PathBuf, dir: PathBuf, fsync: bool) -> Result<Self, TierError> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| TierError::io(path.display(), e))?;
        Ok(Self {
            file,
            path,
            dir,
            fsync,
            written: 0,
            written_back: 0,
            flusher: None,
            finished: false,
        })
    }
}

impl BlobSink for BlobFile {
    fn written(&self) -> u64 {
        self.written
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TierError> {
        self.file
            .write_all(bytes)
            .map_err(|e| TierError::io(self.path.display(), e))?;
        self.written += bytes.len() as u64;
        if self.fsync && self.written - self.written_back >= WRITEBACK_STEP {
            self.write_back_early();
        }
        Ok(())
    }

    /// Makes the file and its directory entry durable. Nothing is removed after this.
    fn finish(mut self) -> Result<(), TierError> {
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
        if self.fsync {
            self.file
                .sync_data()
                .map_err(|e| TierError::io(self.path.display(), e))?;
            sync_dir(&self.dir)?;
        }
        self.finished = true;
        Ok(())
    }
}

impl BlobFile {
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
        self.written_back = self.written;
        // Errors surface at the final sync, which covers the same data.
        self.flusher = std::thread::Builder::new()
            .name("vmgw-writeback".into())
            .spawn(move || drop(file.sync_data()))
            .ok();
    }
}

impl Drop for BlobFile {
    fn drop(&mut self) {
        if !self.finished
            && let Err(e) = fs::remove_file(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            warn!(path = %self.path.display(), error = %e, "could not discard unfinished blob; the orphan sweep will");
        }
    }
}
