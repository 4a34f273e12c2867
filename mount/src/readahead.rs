//! Reads of an object through one open file handle, with adaptive sequential read-ahead.
//!
//! A read that continues where the previous one ended doubles the read-ahead window (from
//! [`INITIAL_WINDOW`] up to [`MAX_WINDOW`]); the window is covered by ranged GETs of up to
//! [`MAX_PART`] each, running in parallel ahead of the reader. A read anywhere else is a
//! random read: the window collapses and exactly the requested range is fetched, so random
//! access (databases, archives) never pays for data it does not use.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use tokio::task::JoinHandle;

use crate::s3::{S3Error, Store};

/// The first read-ahead of a sequential reader: one more kernel read (128 KiB) and a bit,
/// so a small file is one GET.
const INITIAL_WINDOW: u64 = 256 << 10;
/// The largest window: a few tens of MiB keep a high-latency link full, and bound the
/// memory one reader holds.
const MAX_WINDOW: u64 = 64 << 20;
/// The largest single GET of the window: windows split into parts fetched in parallel.
const MAX_PART: u64 = 8 << 20;

#[derive(Debug)]
struct Part {
    start: u64,
    end: u64,
    task: Option<JoinHandle<Result<Bytes, S3Error>>>,
    data: Option<Bytes>,
}

impl Part {
    async fn bytes(&mut self) -> Result<&Bytes, S3Error> {
        if let Some(task) = self.task.take() {
            let data = task
                .await
                .map_err(|e| S3Error::Body(format!("read-ahead task: {e}")))??;
            self.data = Some(data);
        }
        self.data
            .as_ref()
            .ok_or_else(|| S3Error::Body("read-ahead part lost".into()))
    }
}

impl Drop for Part {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

#[derive(Debug)]
pub struct Reader {
    parts: VecDeque<Part>,
    window: u64,
    /// Where the next sequential read would start.
    next: u64,
    /// The object version (node generation) the parts belong to.
    generation: u64,
}

impl Default for Reader {
    fn default() -> Self {
        Self {
            parts: VecDeque::new(),
            window: INITIAL_WINDOW,
            next: 0,
            generation: 0,
        }
    }
}

impl Reader {
    /// Reads up to `len` bytes at `offset` of `key`, an object of `size` bytes at
    /// `generation` (a new generation drops what was read ahead of an older content).
    pub async fn read(
        &mut self,
        client: &Store,
        key: &str,
        size: u64,
        generation: u64,
        offset: u64,
        len: u64,
    ) -> Result<Bytes, S3Error> {
        if generation != self.generation {
            self.parts.clear();
            self.generation = generation;
        }
        let len = len.min(size.saturating_sub(offset));
        if len == 0 {
            return Ok(Bytes::new());
        }
        let end = offset + len;
        let covered = self
            .parts
            .front()
            .is_some_and(|p| p.start <= offset && offset < self.queued_end());
        if offset != self.next && !covered {
            // Random access: no read-ahead, only the bytes asked for.
            self.parts.clear();
            self.window = INITIAL_WINDOW;
            self.next = end;
            return client.get_range(key, offset, len).await;
        }
        self.window = (self.window * 2).min(MAX_WINDOW);
        self.next = end;
        while self.parts.front().is_some_and(|p| p.end <= offset) {
            self.parts.pop_front();
        }
        if self.parts.front().is_some_and(|p| p.start > offset) {
            self.parts.clear();
        }
        let mut start = self.parts.back().map_or(offset, |p| p.end);
        let target = (end + self.window).min(size);
        while start < target {
            let part_end = (start + MAX_PART.min(self.window)).min(target);
            self.parts
                .push_back(Self::fetch(client, key, start, part_end));
            start = part_end;
        }
        let mut out = BytesMut::new();
        for part in &mut self.parts {
            if part.start >= end {
                break;
            }
            let (p_start, p_end) = (part.start, part.end);
            let data = part.bytes().await?;
            let from = offset.max(p_start) - p_start;
            let to = (end.min(p_end) - p_start).min(data.len() as u64);
            if from >= to {
                break;
            }
            if out.is_empty() && end <= p_end {
                // The whole read lies in one part: hand out a slice, no copy.
                return Ok(data.slice(from as usize..to as usize));
            }
            out.extend_from_slice(&data[from as usize..to as usize]);
        }
        Ok(out.freeze())
    }

    fn queued_end(&self) -> u64 {
        self.parts.back().map_or(0, |p| p.end)
    }

    fn fetch(client: &Store, key: &str, start: u64, end: u64) -> Part {
        let (client, key) = (client.clone(), key.to_owned());
        Part {
            start,
            end,
            task: Some(tokio::spawn(async move {
                client.get_range(&key, start, end - start).await
            })),
            data: None,
        }
    }
}
