//! Writing objects: a new file written front to back streams into a multipart upload part
//! by part ([`StreamUpload`]), so memory stays bounded whatever the file's size; a staged
//! file is uploaded from its local copy ([`upload_file`]).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};
use tokio::task::JoinSet;

use crate::s3::{MAX_PARTS, MIN_PART, S3Error, Store};

/// Part size of streamed uploads at the start: 8 MiB parts keep up to 80 GB within S3's
/// 10,000 parts before [`part_size`] starts growing them.
const BASE_PART: u64 = 8 << 20;
/// Parts in flight at once per upload: with 8 MiB parts, at most ~40 MiB of a file sits in
/// memory (the buffer plus these), while four parallel requests keep a LAN link busy.
const PARTS_IN_FLIGHT: usize = 4;
/// Objects up to this size go up in one PUT: below it multipart only adds round trips.
pub const SINGLE_PUT_LIMIT: u64 = BASE_PART;

/// The size of part `number` (1-based) of a stream whose total size is unknown: 8 MiB for
/// the first thousand parts, then one more 8 MiB step per thousand, which reaches ~440 GB at
/// part 10,000 while small files keep small parts.
#[must_use]
pub fn part_size(number: u64) -> u64 {
    BASE_PART * (1 + (number.saturating_sub(1)) / 1000)
}

/// A new object being written sequentially.
#[derive(Debug, Default)]
pub struct StreamUpload {
    buffer: BytesMut,
    len: u64,
    upload: Option<String>,
    next_part: i32,
    in_flight: JoinSet<Result<(i32, String), S3Error>>,
    done: Vec<(i32, String)>,
}

impl StreamUpload {
    #[must_use]
    pub fn new() -> Self {
        Self {
            next_part: 1,
            ..Self::default()
        }
    }

    /// Bytes accepted so far.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Everything written so far when no part has left yet (a small file), else `None`.
    #[must_use]
    pub fn buffered_all(&self) -> Option<&[u8]> {
        self.upload.is_none().then_some(&self.buffer[..])
    }

    /// Appends `data` at the end; full parts are sent in the background.
    pub async fn append(
        &mut self,
        client: &Store,
        key: &str,
        metadata: &HashMap<String, String>,
        data: &[u8],
    ) -> Result<(), S3Error> {
        self.buffer.extend_from_slice(data);
        self.len += data.len() as u64;
        loop {
            let size = part_size(self.next_part.unsigned_abs().into());
            if (self.buffer.len() as u64) < size {
                return Ok(());
            }
            let part = self.buffer.split_to(size as usize).freeze();
            self.send_part(client, key, metadata, part).await?;
        }
    }

    async fn send_part(
        &mut self,
        client: &Store,
        key: &str,
        metadata: &HashMap<String, String>,
        part: Bytes,
    ) -> Result<(), S3Error> {
        if u64::try_from(self.next_part).unwrap_or(u64::MAX) > MAX_PARTS {
            return Err(S3Error::Service {
                status: 400,
                code: "EntityTooLarge".into(),
                message: "more than 10,000 parts".into(),
            });
        }
        if self.upload.is_none() {
            self.upload = Some(client.create_multipart(key, metadata.clone()).await?);
        }
        while self.in_flight.len() >= PARTS_IN_FLIGHT {
            self.reap_one().await?;
        }
        let (client, key) = (client.clone(), key.to_owned());
        let upload = self.upload.clone().unwrap_or_default();
        let number = self.next_part;
        self.next_part += 1;
        self.in_flight.spawn(async move {
            let etag = client.upload_part(&key, &upload, number, part).await?;
            Ok((number, etag))
        });
        Ok(())
    }

    async fn reap_one(&mut self) -> Result<(), S3Error> {
        if let Some(joined) = self.in_flight.join_next().await {
            let part = joined.map_err(|e| S3Error::Body(format!("part upload task: {e}")))??;
            self.done.push(part);
        }
        Ok(())
    }

    /// Makes the object durable: one PUT for a small file, else the last part and
    /// CompleteMultipartUpload. On failure the multipart upload is aborted.
    pub async fn finish(
        mut self,
        client: &Store,
        key: &str,
        metadata: &HashMap<String, String>,
    ) -> Result<(), S3Error> {
        let Some(upload) = self.upload.clone() else {
            let body = std::mem::take(&mut self.buffer).freeze();
            return client.put(key, body, metadata.clone()).await;
        };
        let result = async {
            if !self.buffer.is_empty() {
                let last = std::mem::take(&mut self.buffer).freeze();
                self.send_part(client, key, metadata, last).await?;
            }
            while !self.in_flight.is_empty() {
                self.reap_one().await?;
            }
            let mut parts = std::mem::take(&mut self.done);
            parts.sort_unstable_by_key(|(n, _)| *n);
            client.complete_multipart(key, &upload, parts).await
        }
        .await;
        if result.is_err() {
            self.in_flight.abort_all();
            client.abort_multipart(key, &upload).await;
        }
        result
    }

    /// Drops the content; parts already sent are discarded on the server.
    pub async fn abort(mut self, client: &Store, key: &str) {
        self.in_flight.abort_all();
        if let Some(upload) = self.upload.take() {
            client.abort_multipart(key, &upload).await;
        }
    }
}

/// Uploads `len` bytes of a local file as `key`: one PUT when small, else a multipart upload
/// with a few parts in flight, each read from the file when its turn comes (memory stays at
/// a few parts, not the file).
pub async fn upload_file(
    client: &Store,
    key: &str,
    metadata: &HashMap<String, String>,
    file: Arc<std::fs::File>,
    len: u64,
) -> Result<(), S3Error> {
    if len <= SINGLE_PUT_LIMIT {
        let body = read_range(file, 0, len).await?;
        return client.put(key, body, metadata.clone()).await;
    }
    // Known size: the smallest part size (MiB-aligned) that fits S3's part count.
    let part = len
        .div_ceil(MAX_PARTS)
        .next_multiple_of(1 << 20)
        .max(BASE_PART)
        .max(MIN_PART);
    let upload = client.create_multipart(key, metadata.clone()).await?;
    let count = len.div_ceil(part);
    let result = futures::stream::iter(0..count)
        .map(|index| {
            let file = file.clone();
            let upload = upload.as_str();
            async move {
                let start = index * part;
                let body = read_range(file, start, part.min(len - start)).await?;
                let number = i32::try_from(index + 1).unwrap_or(i32::MAX);
                let etag = client.upload_part(key, upload, number, body).await?;
                Ok::<_, S3Error>((number, etag))
            }
        })
        .buffered(PARTS_IN_FLIGHT)
        .try_collect::<Vec<_>>()
        .await;
    let result = match result {
        Ok(parts) => client.complete_multipart(key, &upload, parts).await,
        Err(e) => Err(e),
    };
    if result.is_err() {
        client.abort_multipart(key, &upload).await;
    }
    result
}

/// Reads `[start, start + len)` of a local file off the async threads.
pub async fn read_range(file: Arc<std::fs::File>, start: u64, len: u64) -> Result<Bytes, S3Error> {
    tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
        let mut done = 0;
        while done < buf.len() {
            let n = file.read_at(&mut buf[done..], start + done as u64)?;
            if n == 0 {
                buf.truncate(done);
                break;
            }
            done += n;
        }
        Ok(Bytes::from(buf))
    })
    .await
    .map_err(|e| S3Error::Body(format!("read task: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_parts_grow_to_fit_large_files() {
        assert_eq!(part_size(1), 8 << 20);
        assert_eq!(part_size(1000), 8 << 20);
        assert_eq!(part_size(1001), 16 << 20);
        let total: u64 = (1..=MAX_PARTS).map(part_size).sum();
        assert!(total > 400 * (1 << 30), "10,000 parts hold {total} bytes");
    }
}
