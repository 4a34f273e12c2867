//! Reading a remote blob through ranged GETs. Sequential reads (a GET streaming the object,
//! a move) pull from one open response that runs to the end of the object, so a large
//! object costs one request, not one per chunk; a read elsewhere drops it and opens
//! another at the new offset. The tail (footer and frame index) is fetched once into its
//! own window.

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
const TAIL_WINDOW: u64 = 64 << 10;
/// Longest wait for the next piece of a response body.
const BODY_STALL: std::time::Duration = std::time::Duration::from_secs(30);

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
}

/// An open response body delivering the object from `position` on.
struct Stream {
    position: u64,
    body: aws_sdk_s3::primitives::ByteStream,
    /// Received but not yet consumed.
    pending: Bytes,
}

pub(super) struct RangeSource {
    remote: Arc<Remote>,
    id: DataId,
    key: String,
    len: u64,
    current: Window,
    tail: Option<Window>,
    stream: Option<Stream>,
}

impl RangeSource {
    /// Fetches the first window of the object at `key` (blob `id`'s, or a backup's), learning
    /// its length from the response.
    pub(super) fn open(remote: Arc<Remote>, id: DataId, key: String) -> Result<Self, TierError> {
        let (bytes, len) = remote.block_on(fetch(&remote, id, &key, 0, FIRST_WINDOW))?;
        Ok(Self {
            remote,
            id,
            key,
            len,
            current: Window { start: 0, bytes },
            tail: None,
            stream: None,
        })
    }

    /// Fills `buf` from the open stream, which must be at `offset`.
    fn read_stream(&mut self, buf: &mut [u8], offset: u64) -> Result<(), TierError> {
        let remote = Arc::clone(&self.remote);
        let stream = self.stream.as_mut().expect("a stream is open");
        debug_assert_eq!(stream.position, offset);
        let mut filled = 0;
        while filled < buf.len() {
            if stream.pending.is_empty() {
                // A server that stops sending mid-body must not hold the reader forever.
                let next = remote
                    .block_on(async {
                        tokio::time::timeout(BODY_STALL, stream.body.try_next()).await
                    })
                    .map_err(|_| remote.unavailable(format!("reading {}: stalled", self.key)))?
                    .map_err(|e| remote.unavailable(format!("reading {}: {e}", self.key)))?;
                match next {
                    Some(bytes) => stream.pending = bytes,
                    None => {
                        return Err(TierError::corrupt(
                            self.id,
                            "remote object is shorter than it was when opened",
                        ));
                    }
                }
            }
            let take = stream.pending.len().min(buf.len() - filled);
            buf[filled..filled + take].copy_from_slice(&stream.pending.split_to(take));
            filled += take;
        }
        stream.position += buf.len() as u64;
        Ok(())
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
        if offset + want > self.len {
            return Err(TierError::corrupt(
                self.id,
                format!(
                    "read of {want} bytes at {offset} past the remote object's {} bytes",
                    self.len
                ),
            ));
        }
        if self.stream.as_ref().is_some_and(|s| s.position == offset) {
            return self.read_stream(buf, offset);
        }
        if want <= TAIL_WINDOW && offset + want + TAIL_WINDOW >= self.len {
            let start = self.len.saturating_sub(TAIL_WINDOW);
            let (bytes, _) =
                self.remote
                    .block_on(fetch(&self.remote, self.id, &self.key, start, self.len))?;
            if (bytes.len() as u64) < self.len - start {
                return Err(TierError::corrupt(
                    self.id,
                    "remote object is shorter than it was when opened",
                ));
            }
            let window = Window { start, bytes };
            assert!(window.copy_if_covers(buf, offset), "window covers the read");
            self.tail = Some(window);
            return Ok(());
        }
        // Anywhere else: open a response from here to the end and read on from it.
        let remote = Arc::clone(&self.remote);
        let body = remote.block_on(open_stream(&remote, self.id, &self.key, offset))?;
        self.stream = Some(Stream {
            position: offset,
            body,
            pending: Bytes::new(),
        });
        self.read_stream(buf, offset)
    }
}

/// Starts a GET of everything from `start` to the end of the object.
async fn open_stream(
    remote: &Remote,
    id: DataId,
    key: &str,
    start: u64,
) -> Result<aws_sdk_s3::primitives::ByteStream, TierError> {
    let response = remote
        .client
        .get_object()
        .bucket(&remote.options.bucket)
        .key(key)
        .range(format!("bytes={start}-"))
        .send()
        .await
        .map_err(|e| classify(&remote.name, Some(id), &e))?;
    if start > 0 && response.content_range().is_none() {
        return Err(remote.unavailable("the server ignored a ranged GET"));
    }
    Ok(response.body)
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
