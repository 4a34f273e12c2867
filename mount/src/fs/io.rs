//! File content: open/create, read, write, truncate, flush/fsync/release, setattr.
//!
//! Durability: flush (every close), fsync and release upload unsaved content, and return
//! only once the server has acknowledged the object, so a successful `fsync` or `close`
//! means the bytes are on the server. Bytes added at the end of an existing file go up as
//! appends where the server offers them (`append`), everything else as whole objects.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use tokio::sync::Mutex;

use super::{Attr, Fs, new_stat, now_secs};
use crate::append::Appending;
use crate::attrs::{FileKind, PosixAttrs};
use crate::error::{FsError, FsResult};
use crate::file::{Content, FileCell, Handle};
use crate::inode::Stat;
use crate::readahead::Reader;
use crate::staging::Staging;
use crate::upload::{StreamUpload, upload_file};

/// What `setattr` changes besides the size.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttrChange {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub mtime: Option<SystemTime>,
}

impl AttrChange {
    fn is_empty(&self) -> bool {
        self.mode.is_none() && self.uid.is_none() && self.gid.is_none() && self.mtime.is_none()
    }
}

fn metadata(attrs: &PosixAttrs) -> HashMap<String, String> {
    attrs.to_metadata().into_iter().collect()
}

/// Open flags that matter here (Linux values, as the kernel passes them).
const O_ACCMODE: i32 = 0o3;
const O_TRUNC: i32 = 0o1000;

impl Fs {
    /// The content cell, key and current size of a regular file.
    fn file_parts(&self, ino: u64) -> FsResult<(Arc<FileCell>, String, Stat, u64)> {
        let table = self.table();
        let node = table.get(ino).ok_or(FsError::NotFound)?;
        match node.kind() {
            FileKind::Directory => return Err(FsError::IsDir),
            FileKind::Symlink => return Err(FsError::Invalid("not a regular file")),
            FileKind::File => {}
        }
        Ok((
            node.file.clone(),
            self.file_key(&node.path),
            node.stat,
            node.generation,
        ))
    }

    /// Records new content: size, mtime, dirty.
    fn mark_written(&self, ino: u64, size: u64) {
        let mut table = self.table();
        if let Some(node) = table.get_mut(ino) {
            node.stat.size = size;
            node.stat.attrs.mtime = now_secs();
            node.dirty = true;
            node.generation += 1;
        }
    }

    fn add_handle(&self, ino: u64, writable: bool) -> u64 {
        let fh = self.next_handle();
        let handle = Arc::new(Handle {
            ino,
            writable,
            reader: Mutex::new(Reader::default()),
        });
        self.handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(fh, handle);
        fh
    }

    fn handle(&self, fh: u64) -> FsResult<Arc<Handle>> {
        self.handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&fh)
            .cloned()
            .ok_or(FsError::BadHandle)
    }

    pub async fn open(&self, ino: u64, flags: i32) -> FsResult<u64> {
        let writable = flags & O_ACCMODE != 0;
        if writable {
            self.check_writable()?;
        }
        self.file_parts(ino)?;
        self.table().get_mut(ino).ok_or(FsError::NotFound)?.opens += 1;
        if writable
            && flags & O_TRUNC != 0
            && let Err(e) = self.truncate(ino, 0).await
        {
            self.release_node(ino).await;
            return Err(e);
        }
        Ok(self.add_handle(ino, writable))
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn create(
        &self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        uid: u32,
        gid: u32,
    ) -> FsResult<(Attr, u64)> {
        self.check_writable()?;
        let path = self.child_path(parent, name)?;
        let stat = new_stat(FileKind::File, mode & !umask & 0o7777, uid, gid, 0);
        self.absent().forget(&path);
        let (ino, cell) = {
            let mut table = self.table();
            let ino = table.create(&path, stat, Instant::now() + self.config.ttl);
            let node = table.get_mut(ino).expect("created node");
            node.lookups += 1;
            node.opens += 1;
            // The object appears on the server at the first flush, even when empty.
            node.dirty = true;
            (ino, node.file.clone())
        };
        *cell.lock().await = Content::Stream(StreamUpload::new());
        let fh = self.add_handle(ino, true);
        Ok((self.attr_of(ino, &stat), fh))
    }

    pub async fn read(&self, ino: u64, fh: u64, offset: u64, len: u32) -> FsResult<Bytes> {
        let len = u64::from(len);
        let (cell, key, _, _) = self.file_parts(ino)?;
        // Appending: bytes past the server's size come from memory, the rest from the
        // server's object as it is.
        let mut server_size = None;
        let mut pending = Bytes::new();
        {
            let mut content = cell.lock().await;
            match &mut *content {
                Content::Append(appending) => {
                    let (base, end) = (appending.base, appending.end());
                    let want_end = offset.saturating_add(len).min(end);
                    let from = offset.max(base);
                    if from < want_end {
                        let (from, to) = ((from - base) as usize, (want_end - base) as usize);
                        pending = Bytes::copy_from_slice(&appending.pending[from..to]);
                    }
                    if offset >= base {
                        return Ok(pending);
                    }
                    server_size = Some(base);
                }
                Content::Staged(staging) => return Ok(staging.read(offset, len).await?),
                Content::Stream(stream) => {
                    if let Some(buffer) = stream.buffered_all() {
                        let start = usize::try_from(offset)
                            .unwrap_or(usize::MAX)
                            .min(buffer.len());
                        let end = start.saturating_add(len as usize).min(buffer.len());
                        return Ok(Bytes::copy_from_slice(&buffer[start..end]));
                    }
                    // Reading back a large file still being written: make it whole on the
                    // server first.
                    self.save_locked(ino, &mut content).await?;
                }
                Content::Remote => {}
            }
        }
        let (_, _, stat, generation) = self.file_parts(ino)?;
        let handle = self.handle(fh)?;
        let mut reader = handle.reader.lock().await;
        let size = server_size.unwrap_or(stat.size);
        let data = reader
            .read(&self.client, &key, size, generation, offset, len)
            .await?;
        if pending.is_empty() {
            return Ok(data);
        }
        let mut joined = Vec::with_capacity(data.len() + pending.len());
        joined.extend_from_slice(&data);
        joined.extend_from_slice(&pending);
        Ok(Bytes::from(joined))
    }

    pub async fn write(&self, ino: u64, fh: u64, offset: u64, data: &[u8]) -> FsResult<u32> {
        self.check_writable()?;
        if !self.handle(fh)?.writable {
            return Err(FsError::BadHandle);
        }
        let (cell, key, stat, _) = self.file_parts(ino)?;
        let meta = metadata(&stat.attrs);
        let mut content = cell.lock().await;
        self.check_not_lost(ino)?;
        if matches!(*content, Content::Remote) {
            *content = if stat.size == 0 && offset == 0 {
                Content::Stream(StreamUpload::new())
            } else if self.starts_append(stat.size, offset) {
                Content::Append(Appending::new(stat.size, stat.attrs))
            } else if stat.size == 0 {
                Content::Staged(Staging::empty(&self.config.staging_dir)?)
            } else {
                Content::Staged(
                    Staging::download(&self.config.staging_dir, &self.client, &key).await?,
                )
            };
        }
        if let Content::Stream(stream) = &*content
            && stream.len() != offset
        {
            self.stream_to_staged(ino, &mut content, &key, &meta)
                .await?;
        }
        if let Content::Append(appending) = &*content
            && appending.end() != offset
        {
            self.append_to_staged(ino, &mut content, &key).await?;
        }
        let size = match &mut *content {
            Content::Stream(stream) => {
                stream.append(&self.client, &key, &meta, data).await?;
                stream.len()
            }
            Content::Append(_) => self.append_bytes(ino, &mut content, &key, data).await?,
            Content::Staged(staging) => {
                staging.write(offset, Bytes::copy_from_slice(data)).await?;
                staging.len()
            }
            Content::Remote => unreachable!("content was made local above"),
        };
        self.mark_written(ino, size);
        Ok(u32::try_from(data.len()).unwrap_or(u32::MAX))
    }

    /// A stream written out of order becomes a staging file.
    async fn stream_to_staged(
        &self,
        ino: u64,
        content: &mut Content,
        key: &str,
        meta: &HashMap<String, String>,
    ) -> FsResult<()> {
        let Content::Stream(stream) = std::mem::take(content) else {
            return Ok(());
        };
        let dir = &self.config.staging_dir;
        let staging = match stream.buffered_all() {
            Some(buffer) => Staging::from_bytes(dir, Bytes::copy_from_slice(buffer)).await?,
            None => {
                // Parts already left: complete the object, then continue from its copy.
                if let Err(e) = stream.finish(&self.client, key, meta).await {
                    return Err(self.mark_lost(ino, e.into()));
                }
                let mut staging = Staging::download(dir, &self.client, key).await?;
                staging.dirty = true;
                staging
            }
        };
        *content = Content::Staged(staging);
        Ok(())
    }

    pub async fn truncate(&self, ino: u64, len: u64) -> FsResult<()> {
        self.check_writable()?;
        let (cell, key, stat, _) = self.file_parts(ino)?;
        let meta = metadata(&stat.attrs);
        let mut content = cell.lock().await;
        match &mut *content {
            Content::Stream(stream) if stream.len() == len => {}
            Content::Append(appending) if appending.end() == len => {}
            Content::Remote | Content::Stream(_) | Content::Append(_) if len == 0 => {
                if let Content::Stream(old) = std::mem::take(&mut *content) {
                    old.abort(&self.client, &key).await;
                }
                *content = Content::Stream(StreamUpload::new());
            }
            Content::Append(_) => {
                self.append_to_staged(ino, &mut content, &key).await?;
                if let Content::Staged(staging) = &mut *content {
                    staging.set_len(len).await?;
                }
            }
            Content::Remote => {
                let mut staging = if stat.size == 0 {
                    Staging::empty(&self.config.staging_dir)?
                } else {
                    Staging::download(&self.config.staging_dir, &self.client, &key).await?
                };
                staging.set_len(len).await?;
                *content = Content::Staged(staging);
            }
            Content::Stream(_) => {
                self.stream_to_staged(ino, &mut content, &key, &meta)
                    .await?;
                if let Content::Staged(staging) = &mut *content {
                    staging.set_len(len).await?;
                }
            }
            Content::Staged(staging) => staging.set_len(len).await?,
        }
        self.mark_written(ino, len);
        if len == 0
            && let Some(node) = self.table().get_mut(ino)
        {
            // Whatever was lost is replaced by new, empty content.
            node.lost = None;
        }
        Ok(())
    }

    /// Records that the unsaved content of `ino` is gone because of `error`, which is
    /// returned.
    fn mark_lost(&self, ino: u64, error: FsError) -> FsError {
        if let Some(node) = self.table().get_mut(ino) {
            node.lost = Some(error.errno());
            node.dirty = false;
        }
        error
    }

    fn check_not_lost(&self, ino: u64) -> FsResult<()> {
        match self.table().get(ino).and_then(|n| n.lost) {
            Some(cause) => Err(FsError::Lost { cause }),
            None => Ok(()),
        }
    }

    /// Uploads unsaved content of `ino`, returning once the server holds it.
    pub async fn flush_ino(&self, ino: u64) -> FsResult<()> {
        let cell = {
            let table = self.table();
            let node = table.get(ino).ok_or(FsError::NotFound)?;
            if let Some(cause) = node.lost {
                return Err(FsError::Lost { cause });
            }
            if !node.dirty {
                return Ok(());
            }
            node.file.clone()
        };
        let mut content = cell.lock().await;
        self.check_not_lost(ino)?;
        self.save_locked(ino, &mut content).await
    }

    /// Saves `content` (its lock held) under the node's current key and metadata.
    async fn save_locked(&self, ino: u64, content: &mut Content) -> FsResult<()> {
        let (key, attrs, detached, dirty) = {
            let table = self.table();
            let node = table.get(ino).ok_or(FsError::NotFound)?;
            (
                self.file_key(&node.path),
                node.stat.attrs,
                node.detached,
                node.dirty,
            )
        };
        let meta = metadata(&attrs);
        if !dirty {
            return Ok(());
        }
        if !detached {
            // May turn the content into a staged whole (an append the server cannot take).
            self.send_pending(ino, content, &key).await?;
        }
        match std::mem::take(content) {
            Content::Remote => {}
            // Unlinked while open: the bytes not sent are dropped, as a stream's are.
            Content::Append(_) if detached => {}
            Content::Append(mut appending) => {
                let result = self.store_appended_attrs(&key, &mut appending, attrs).await;
                *content = Content::Append(appending);
                result?;
            }
            Content::Stream(stream) if detached => stream.abort(&self.client, &key).await,
            Content::Stream(stream) => {
                if let Err(e) = stream.finish(&self.client, &key, &meta).await {
                    // The parts are gone with the failed upload: say so on every later
                    // flush rather than reporting success for content that never arrived.
                    return Err(self.mark_lost(ino, e.into()));
                }
            }
            Content::Staged(mut staging) => {
                if staging.dirty && !detached {
                    let result =
                        upload_file(&self.client, &key, &meta, staging.file(), staging.len()).await;
                    if let Err(e) = result {
                        *content = Content::Staged(staging);
                        return Err(e.into());
                    }
                }
                staging.dirty = false;
                // Kept while the file is open: later reads and writes stay local.
                *content = Content::Staged(staging);
            }
        }
        let mut table = self.table();
        if let Some(node) = table.get_mut(ino) {
            node.dirty = false;
            node.generation += 1;
            node.valid_until = Instant::now() + self.config.ttl;
        }
        table.release_check(ino);
        Ok(())
    }

    pub async fn flush(&self, ino: u64) -> FsResult<()> {
        self.flush_ino(ino).await
    }

    pub async fn release(&self, ino: u64, fh: u64) {
        self.handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&fh);
        self.release_node(ino).await;
    }

    /// One open handle fewer; the last one saves what is left and frees the staging file.
    async fn release_node(&self, ino: u64) {
        let last = {
            let mut table = self.table();
            table.get_mut(ino).is_some_and(|node| {
                node.opens = node.opens.saturating_sub(1);
                node.opens == 0
            })
        };
        if !last {
            return;
        }
        if let Err(e) = self.flush_ino(ino).await {
            tracing::error!(ino, error = %e, "saving a file on its last close failed");
        }
        if let Some(node) = self.table().get_mut(ino) {
            // Reported to every flush while open; the next open starts from the server's
            // object.
            node.lost = None;
        }
        let cell = self.table().get(ino).map(|n| n.file.clone());
        if let Some(cell) = cell {
            let mut content = cell.lock().await;
            let still_closed = self
                .table()
                .get(ino)
                .is_some_and(|n| n.opens == 0 && !n.dirty);
            if still_closed && matches!(*content, Content::Staged(_) | Content::Append(_)) {
                *content = Content::Remote;
            }
        }
        self.table().release_check(ino);
    }

    pub async fn setattr(&self, ino: u64, size: Option<u64>, change: AttrChange) -> FsResult<Attr> {
        if size.is_some() || !change.is_empty() {
            self.check_writable()?;
        }
        if let Some(len) = size {
            self.truncate(ino, len).await?;
        }
        if !change.is_empty() {
            let (path, stat, persist_now) = {
                let mut table = self.table();
                let node = table.get_mut(ino).ok_or(FsError::NotFound)?;
                let attrs = &mut node.stat.attrs;
                if let Some(mode) = change.mode {
                    attrs.perm = mode & 0o7777;
                }
                attrs.uid = change.uid.unwrap_or(attrs.uid);
                attrs.gid = change.gid.unwrap_or(attrs.gid);
                if let Some(mtime) = change.mtime {
                    attrs.mtime = mtime
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
                }
                // Unsaved content carries the new attributes when it is uploaded.
                (node.path.clone(), node.stat, !node.dirty && !node.detached)
            };
            if persist_now {
                self.write_metadata(&path, &stat).await?;
                if let Some(node) = self.table().get_mut(ino) {
                    node.valid_until = Instant::now() + self.config.ttl;
                }
            }
        }
        let closed = self.table().get(ino).is_some_and(|n| n.opens == 0);
        if size.is_some() && closed {
            // truncate(2) on a path: no close will follow to save it.
            self.flush_ino(ino).await?;
        }
        self.current_attr(ino)
    }

    /// Rewrites the s3fs metadata of an object in place (a copy onto itself).
    async fn write_metadata(&self, path: &str, stat: &Stat) -> FsResult<()> {
        let meta = metadata(&stat.attrs);
        match stat.attrs.kind {
            // The mount root has no object of its own to carry attributes.
            FileKind::Directory if path.is_empty() => Ok(()),
            FileKind::Directory => Ok(self
                .client
                .put(&self.dir_prefix(path), Bytes::new(), meta)
                .await?),
            FileKind::File | FileKind::Symlink => {
                let key = self.file_key(path);
                Ok(self.client.copy(&key, &key, stat.size, Some(meta)).await?)
            }
        }
    }

    pub async fn readlink(&self, ino: u64) -> FsResult<Vec<u8>> {
        let (path, size) = {
            let table = self.table();
            let node = table.get(ino).ok_or(FsError::NotFound)?;
            if node.kind() != FileKind::Symlink {
                return Err(FsError::Invalid("not a symbolic link"));
            }
            if let Some(target) = &node.symlink {
                return Ok(target.clone().into_bytes());
            }
            (node.path.clone(), node.stat.size)
        };
        let body = self
            .client
            .get_range(&self.file_key(&path), 0, size.max(1))
            .await?;
        let target = String::from_utf8_lossy(&body).into_owned();
        if let Some(node) = self.table().get_mut(ino) {
            node.symlink = Some(target.clone());
        }
        Ok(target.into_bytes())
    }
}
