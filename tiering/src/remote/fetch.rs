//! Reading a remote blob through ranged GETs. Sequential reads (a GET streaming the object)
//! fetch ever larger windows ahead, so a large object costs a few requests, not one per
//! chunk; the tail (footer and frame index) is fetched once into its own window so it does
//! not evict the data being streamed.

use std::sync::Arc;

use bytes::Bytes;

use super::Remote;
use super::client::classify;
use crate::blob::BlobSource;
use crate::format;
use crate::{DataId, TierError};

/// First request: the header and the first chunk with its checksum, which is all a small
/// object needs and where a GET starts anyway.
const FIRST_WINDOW: u64 = format::HEADER_LEN + format::DEFAULT_CHUNK_SIZE as u64 + 64;
const MAX_READAHEAD: u64 = 16 << 20;
const TAIL_WINDOW: u64 = 64 << 10;

struct Window {
    start: u64,
    bytes: Bytes,
}

impl Window {
    fn copy_if_covers(&self, buf: &mut [u8], offset: u64) -> bool {
        let end = self.start + self.bytes.len() as u64;
        if offset < self.start || offset + buf.len() as u64 > end {
            return false;
        }
        let from = usize::try_from(offset - self.start).expect("window offset");
        buf.copy_from_slice(&self.bytes[from..from + buf.len()]);
        true
    }

    fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }
}

pub(super) struct RangeSource {
    remote: Arc<Remote>,
    id: DataId,
    key: String,
    len: u64,
    current: Window,
    tail: Option<Window>,
    readahead: u64,
}

impl RangeSource {
    /// Fetches the first window, learning the blob's length from the response.
    pub(super) fn open(remote: Arc<Remote>, id: DataId) -> Result<Self, TierError> {
        let key = remote.key_of(id);
        let (bytes, len) = remote.block_on(fetch(&remote, id, &key, 0, FIRST_WINDOW))?;
        Ok(Self {
            remote,
            id,
            key,
            len,
            current: Window { start: 0, bytes },
            tail: None,
            readahead: FIRST_WINDOW,
        })
    }
}

impl BlobSource for RangeSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&mut self, buf: &mut [u8], offset: u64) -> Result<(), TierError> {
        if self.current.copy_if_covers(buf, offset)
            || self
                .tail
                .as_ref()
                .is_some_and(|t| t.copy_if_covers(buf, offset))
        {
            return Ok(());
        }
        let want = buf.len() as u64;
        let near_end = offset + want + TAIL_WINDOW >= self.len;
        let (start, end) = if near_end && want <= TAIL_WINDOW {
            (self.len.saturating_sub(TAIL_WINDOW), self.len)
        } else {
            if offset == self.current.end() {
                self.readahead = (self.readahead * 2).min(MAX_READAHEAD);
            } else {
                self.readahead = FIRST_WINDOW;
            }
            (offset, (offset + want.max(self.readahead)).min(self.len))
        };
        if offset + want > self.len {
            return Err(TierError::corrupt(
                self.id,
                format!(
                    "read of {want} bytes at {offset} past the remote object's {} bytes",
                    self.len
                ),
            ));
        }
        let (bytes, _) =
            self.remote
                .block_on(fetch(&self.remote, self.id, &self.key, start, end))?;
        if (bytes.len() as u64) < end - start {
            return Err(TierError::corrupt(
                self.id,
                "remote object is shorter than it was when opened",
            ));
        }
        let window = Window { start, bytes };
        assert!(window.copy_if_covers(buf, offset), "window covers the read");
        if near_end && want <= TAIL_WINDOW {
            self.tail = Some(window);
        } else {
            self.current = window;
        }
        Ok(())
    }
}

/// GETs bytes `[start, end)` (fewer at the object's end); returns them and the object's
/// total length.
async fn fetch(
    remote: &Remote,
    id: DataId,
    key: &str,
    start: u64,
    end: u64,
) -> Result<(Bytes, u64), TierError> {
    let response = remote
        .client
        .get_object()
        .bucket(&remote.options.bucket)
        .key(key)
        .range(format!("bytes={start}-{}", end - 1))
        .send()
        .await
        .map_err(|e| classify(&remote.name, Some(id), &e))?;
    let total = response
        .content_range()
        .and_then(|r| r.rsplit('/').next())
        .and_then(|t| t.parse::<u64>().ok())
        .or_else(|| {
            // A server that ignores Range sends the whole object.
            response
                .content_length()
                .and_then(|n| u64::try_from(n).ok())
                .filter(|_| start == 0)
        })
        .ok_or_else(|| TierError::Unavailable {
            tier: remote.name.clone(),
            reason: "ranged GET answered without Content-Range".into(),
        })?;
    let bytes = response
        .body
        .collect()
        .await
        .map_err(|e| TierError::Unavailable {
            tier: remote.name.clone(),
            reason: format!("reading {key}: {e}"),
        })?
        .into_bytes();
    // A server that ignored the range sent everything: keep only what was asked for.
    let bytes = if bytes.len() as u64 == total && total > end - start {
        let to = usize::try_from(end.min(total)).expect("window fits");
        bytes.slice(usize::try_from(start).expect("window fits")..to)
    } else {
        bytes
    };
    Ok((bytes, total))
}
