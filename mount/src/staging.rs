//! A staging file: the whole content of one file in a local, already-unlinked temporary
//! file, for writes that are not a front-to-back stream (random writes, overwrites in place,
//! appends, truncation). It is uploaded as a whole on flush, fsync and close.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::s3::{S3Error, Store};

#[derive(Debug)]
pub struct Staging {
    file: Arc<std::fs::File>,
    len: u64,
    /// Differs from the object on the server.
    pub dirty: bool,
}

impl Staging {
    /// An empty staging file in `dir`.
    pub fn empty(dir: &Path) -> std::io::Result<Self> {
        Ok(Self {
            file: Arc::new(tempfile::tempfile_in(dir)?),
            len: 0,
            dirty: true,
        })
    }

    /// A staging file holding `data`.
    pub async fn from_bytes(dir: &Path, data: Bytes) -> std::io::Result<Self> {
        let mut staging = Self::empty(dir)?;
        staging.write(0, data).await?;
        Ok(staging)
    }

    /// A staging file holding the current object `key`.
    pub async fn download(dir: &Path, client: &Store, key: &str) -> Result<Self, S3Error> {
        let mut file = tokio::fs::File::from_std(tempfile::tempfile_in(dir)?);
        let len = client.get_to_file(key, &mut file).await?;
        Ok(Self {
            file: Arc::new(file.into_std().await),
            len,
            dirty: false,
        })
    }

    #[must_use]
    pub fn len(&self) -> u64 {
        self.len
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[must_use]
    pub fn file(&self) -> Arc<std::fs::File> {
        self.file.clone()
    }

    pub async fn write(&mut self, offset: u64, data: Bytes) -> std::io::Result<()> {
        let file = self.file.clone();
        let end = offset + data.len() as u64;
        blocking(move || file.write_all_at(&data, offset)).await?;
        self.len = self.len.max(end);
        self.dirty = true;
        Ok(())
    }

    pub async fn read(&self, offset: u64, len: u64) -> Result<Bytes, S3Error> {
        let len = len.min(self.len.saturating_sub(offset));
        crate::upload::read_range(self.file.clone(), offset, len).await
    }

    pub async fn set_len(&mut self, len: u64) -> std::io::Result<()> {
        let file = self.file.clone();
        blocking(move || file.set_len(len)).await?;
        self.len = len;
        self.dirty = true;
        Ok(())
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(std::io::Error::other)?
}
