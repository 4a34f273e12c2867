//! Appending to an existing object without rewriting it, on servers that announce
//! write-offset appends: bytes written at the end of a file are kept here and sent as
//! `PutObject` with `x-amz-write-offset-bytes` = the size the server has, so `>>` onto a
//! large file sends only the new bytes and downloads nothing.

use bytes::BytesMut;

use crate::attrs::PosixAttrs;

/// Bytes kept before they are sent as one append while the file is still being written:
/// memory stays bounded for a large append, and each append is one part of the object on
/// the server (of at most 10,000), so 8 MiB pieces allow ~80 GB of streamed appends.
pub const APPEND_CHUNK: usize = 8 << 20;

/// A file whose only change since it was opened is bytes added at its end.
#[derive(Debug)]
pub struct Appending {
    /// The object's size on the server: where the next append goes.
    pub base: u64,
    /// Bytes written after `base`, not sent yet.
    pub pending: BytesMut,
    /// The attributes the object's metadata holds on the server. An append keeps the
    /// object's metadata, so when the file's attributes (its mtime above all) differ from
    /// these after an append, they are rewritten (a metadata-only copy on vmgw).
    pub stored: PosixAttrs,
}

impl Appending {
    #[must_use]
    pub fn new(base: u64, stored: PosixAttrs) -> Self {
        Self {
            base,
            pending: BytesMut::new(),
            stored,
        }
    }

    /// The file's size: the server's part plus what is pending.
    #[must_use]
    pub fn end(&self) -> u64 {
        self.base + self.pending.len() as u64
    }

    /// Enough is pending to send it before the file is closed.
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.pending.len() >= APPEND_CHUNK
    }
}
