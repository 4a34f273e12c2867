//! Appends on servers that announce write-offset appends (vmgw): a file whose only change
//! since it was opened is bytes added at its end sends just those bytes, as
//! `PutObject` + `x-amz-write-offset-bytes` = the size the server has.
//!
//! What happens when the server refuses one:
//! - `InvalidWriteOffset`: the object is no longer the size this mount appended to. If an
//!   earlier attempt of this same append got through (the SDK retried after a lost
//!   answer), the object ends with exactly these bytes and that is success. Otherwise
//!   another writer changed it; rewriting the whole object would need its content as it
//!   was and would discard the other writer's change, so it is not safe: the bytes not
//!   sent are dropped and reported (EIO) on every flush and write until the last close.
//! - any other refusal (vmgw: the object has 10,000 parts): the server checked the offset
//!   first, so the object is as this mount knows it; it is downloaded, the pending bytes
//!   written after it, and the whole uploaded again — a fresh object that takes appends.
//! - transport and server errors: the bytes stay pending and the next flush tries again.
//!
//! An append keeps the object's metadata, so its s3fs mtime is rewritten afterwards when
//! it changed ([`store_appended_attrs`](Fs::store_appended_attrs)). Deriving mtime from
//! LastModified instead would undo `touch -d` and `cp -p`, whose metadata copies move
//! LastModified too.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use fuser::Errno;

use super::Fs;
use crate::append::Appending;
use crate::attrs::PosixAttrs;
use crate::error::{FsError, FsResult};
use crate::file::Content;
use crate::s3::MAX_SINGLE_PUT;
use crate::staging::Staging;

impl Fs {
    /// Whether a first write at `offset` to a file of `size` bytes on the server appends.
    pub(super) fn starts_append(&self, size: u64, offset: u64) -> bool {
        self.client.capabilities().append && size > 0 && offset == size
    }

    /// Adds `data` at the end of an appending file; a full chunk leaves at once, so memory
    /// stays bounded. Returns the file's new size.
    pub(super) async fn append_bytes(
        &self,
        ino: u64,
        content: &mut Content,
        key: &str,
        data: &[u8],
    ) -> FsResult<u64> {
        let Content::Append(appending) = content else {
            return Err(FsError::Invalid("not appending"));
        };
        appending.pending.extend_from_slice(data);
        let end = appending.end();
        if appending.is_full() {
            self.send_pending(ino, content, key).await?;
        }
        Ok(end)
    }

    /// Sends what is pending as one append (see the module's notes for refusals). On a
    /// refusal that allows it, `content` becomes staged with the whole file.
    pub(super) async fn send_pending(
        &self,
        ino: u64,
        content: &mut Content,
        key: &str,
    ) -> FsResult<()> {
        let Content::Append(appending) = content else {
            return Ok(());
        };
        if appending.pending.is_empty() {
            return Ok(());
        }
        let body = std::mem::take(&mut appending.pending).freeze();
        let (base, len) = (appending.base, body.len() as u64);
        match self.client.append(key, base, body.clone()).await {
            Ok(size) => {
                if size != base + len {
                    tracing::warn!(
                        key,
                        size,
                        expected = base + len,
                        "append answered another size"
                    );
                }
                appending.base = base + len;
                Ok(())
            }
            Err(e) if e.is_invalid_write_offset() => {
                if self.already_appended(key, base, &body).await? {
                    appending.base = base + len;
                    return Ok(());
                }
                tracing::error!(key, base, error = %e, "append refused: the object changed");
                self.append_conflict(ino, content);
                Err(FsError::AppendConflict)
            }
            Err(e) if e.is_refusal() => {
                tracing::info!(key, error = %e, "append refused; rewriting the whole object");
                appending.pending = BytesMut::from(&body[..]);
                self.append_to_staged(ino, content, key).await
            }
            Err(e) => {
                appending.pending = BytesMut::from(&body[..]);
                Err(e.into())
            }
        }
    }

    /// After appends: the server kept the object's metadata, so the file's attributes
    /// (the new mtime, and any chmod/chown made meanwhile) are written when they differ
    /// from what it holds. One CopyObject onto itself, whatever the size: on vmgw that
    /// moves no bytes (a multipart copy would rewrite them all). A refusal leaves the
    /// stored attributes as they were rather than failing a close whose bytes are safe.
    pub(super) async fn store_appended_attrs(
        &self,
        key: &str,
        appending: &mut Appending,
        attrs: PosixAttrs,
    ) -> FsResult<()> {
        if appending.stored == attrs {
            return Ok(());
        }
        let meta = attrs.to_metadata().into_iter().collect();
        let single = appending.base.min(MAX_SINGLE_PUT);
        match self.client.copy(key, key, single, Some(meta)).await {
            Ok(()) => {}
            Err(e) if e.is_refusal() => {
                tracing::warn!(key, error = %e, "attributes not updated after an append");
            }
            Err(e) => return Err(e.into()),
        }
        appending.stored = attrs;
        Ok(())
    }

    /// Whether the object is `base` bytes followed by exactly `body`: an append whose
    /// answer was lost landed all the same. Reads back only the appended range.
    async fn already_appended(&self, key: &str, base: u64, body: &Bytes) -> FsResult<bool> {
        let len = body.len() as u64;
        match self.client.head(key).await? {
            Some(info) if info.size == base + len => {
                Ok(self.client.get_range(key, base, len).await? == *body)
            }
            _ => Ok(false),
        }
    }

    /// The pending bytes cannot reach the server: say so until the last close, and let the
    /// next open start from the server's object.
    fn append_conflict(&self, ino: u64, content: &mut Content) {
        *content = Content::Remote;
        if let Some(node) = self.table().get_mut(ino) {
            node.lost = Some(Errno::EIO);
            node.dirty = false;
            node.generation += 1;
            node.valid_until = Instant::now();
        }
    }

    /// An appending file becomes staged: the object downloaded, the pending bytes written
    /// after it. The object must still be `base` bytes long, or the pending bytes would
    /// land on someone else's content.
    pub(super) async fn append_to_staged(
        &self,
        ino: u64,
        content: &mut Content,
        key: &str,
    ) -> FsResult<()> {
        let Content::Append(appending) = content else {
            return Ok(());
        };
        let mut staging = Staging::download(&self.config.staging_dir, &self.client, key).await?;
        if !appending.pending.is_empty() {
            if staging.len() != appending.base {
                tracing::error!(
                    key,
                    base = appending.base,
                    found = staging.len(),
                    "the object changed while appending"
                );
                self.append_conflict(ino, content);
                return Err(FsError::AppendConflict);
            }
            let pending = std::mem::take(&mut appending.pending).freeze();
            if let Err(e) = staging.write(appending.base, pending.clone()).await {
                appending.pending = BytesMut::from(&pending[..]);
                return Err(e.into());
            }
        }
        // The file's attributes may differ from the object's too: the whole upload carries
        // them.
        staging.dirty = true;
        *content = Content::Staged(staging);
        Ok(())
    }
}
