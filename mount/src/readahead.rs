//! Reads of an object through one open file handle, with adaptive sequential read-ahead.
//!
//! A read inside the window already queued, or continuing where the furthest read ended, is
//! sequential: it doubles the read-ahead window (from [`INITIAL_WINDOW`] up to
//! [`MAX_WINDOW`]), and the window is kept full with ranged GETs of whole parts (up to
//! [`MAX_PART`]) running in parallel ahead of the reader. A read anywhere else is a random
//! read: the window collapses and exactly the requested range is fetched, so random access
//! (databases, archives) never pays for data it does not use.
//!
//! Two details decide how many requests a sequential reader costs:
//! - The window is topped up in whole parts, only once a part's worth has been consumed.
//!   Topping it up to `end + window` after every kernel read would add one 128 KiB GET per
//!   128 KiB read once the window is full.
//! - The kernel has several reads of a file in flight and their answers may arrive out of
//!   order, so a read a little behind the furthest one is still sequential: the part it
//!   needs is kept until the reader is [`KEEP_BEHIND`] past it. Treating it as random
//!   dropped the whole window (and aborted its GETs) a few dozen times per GiB.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use tokio::task::JoinHandle;

use crate::s3::{S3Error, Store};

/// The first read-ahead of a sequential reader: four kernel reads (128 KiB each), so a small
/// file is one GET.
const INITIAL_WINDOW: u64 = 512 << 10;
/// The largest window: four parts in flight keep a link with tens of milliseconds of latency
/// busy at hundreds of MiB/s, and bound what one reader holds in memory.
const MAX_WINDOW: u64 = 32 << 20;
/// The largest single GET of the window: windows split into parts fetched in parallel.
const MAX_PART: u64 = 8 << 20;
/// How far behind the furthest read a part is kept, for reads answered out of order.
const KEEP_BEHIND: u64 = 1 << 20;
/// How far ahead of the furthest read a read still counts as sequential (two kernel reads:
/// the one in between is on its way).
const NEAR_AHEAD: u64 = 256 << 10;

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
    /// Contiguous parts, in order: `[front.start, back.end)` is queued.
    parts: VecDeque<Part>,
    window: u64,
    /// Where the furthest read so far ended: the next sequential read starts here.
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
        let queued = self
            .parts
            .front()
            .is_some_and(|p| p.start <= offset && offset < self.queued_end());
        // Near the furthest read so far: the kernel's reads of one stream, which may be
        // answered out of order.
        let near = offset + KEEP_BEHIND >= self.next && offset <= self.next + NEAR_AHEAD;
        if !(queued || near) {
            // Random access: no read-ahead, only the bytes asked for.
            self.parts.clear();
            self.window = INITIAL_WINDOW;
            self.next = end;
            return client.get_range(key, offset, len).await;
        }
        // Where an empty queue starts: a read a little ahead of the furthest one leaves a
        // gap that the read still on its way will want.
        let queue_from = offset.min(self.next);
        if end > self.next {
            self.window = (self.window * 2).min(MAX_WINDOW);
            self.next = end;
        }
        let keep_from = self.next.saturating_sub(KEEP_BEHIND).min(offset);
        while self.parts.front().is_some_and(|p| p.end <= keep_from) {
            self.parts.pop_front();
        }
        if self.parts.front().is_some_and(|p| p.start > offset) {
            // Behind what is kept: start over from here.
            self.parts.clear();
        }
        let from = if self.parts.is_empty() {
            queue_from
        } else {
            self.queued_end()
        };
        self.top_up(client, key, size, from);

        let mut out = BytesMut::new();
        let mut at = offset;
        for part in &mut self.parts {
            if part.end <= at {
                continue;
            }
            if part.start > at || at >= end {
                break;
            }
            let (p_start, p_end) = (part.start, part.end);
            let data = part.bytes().await?;
            let from = (at - p_start) as usize;
            let to = ((end.min(p_end) - p_start) as usize).min(data.len());
            if from >= to {
                break;
            }
            if out.is_empty() && at == offset && end <= p_end && to - from == len as usize {
                // The whole read lies in one part: hand out a slice, no copy.
                return Ok(data.slice(from..to));
            }
            out.extend_from_slice(&data[from..to]);
            at += (to - from) as u64;
        }
        if at < end {
            // A part came back short (the object shrank under us?): ask for the rest.
            let rest = client.get_range(key, at, end - at).await?;
            out.extend_from_slice(&rest);
        }
        Ok(out.freeze())
    }

    /// Queues whole parts from `from` until the window ahead of the reader is covered.
    /// Nothing is queued while less than one part's worth is missing, except to reach the
    /// object's end.
    fn top_up(&mut self, client: &Store, key: &str, size: u64, from: u64) {
        let part = MAX_PART.min(self.window);
        let target = (self.next + self.window).min(size);
        let missing = target.saturating_sub(from);
        if missing == 0 || (missing < part && target < size && !self.parts.is_empty()) {
            return;
        }
        let mut start = from;
        while start < target {
            let part_end = (start + part).min(size);
            self.parts
                .push_back(Self::fetch(client, key, start, part_end));
            start = part_end;
        }
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use super::*;
    use crate::s3::ObjectStore;
    use crate::s3::mem::MemStore;

    const KERNEL_READ: u64 = 128 << 10;

    async fn store_with(len: usize) -> (Arc<MemStore>, Store, Bytes) {
        let mem = Arc::new(MemStore::default());
        let body: Bytes = (0..len)
            .map(|i| (i * 7 % 251) as u8)
            .collect::<Vec<_>>()
            .into();
        mem.put("f", body.clone(), HashMap::new()).await.unwrap();
        mem.requests.lock().unwrap().clear();
        let store: Store = mem.clone();
        (mem, store, body)
    }

    fn gets(mem: &MemStore) -> u64 {
        mem.requests
            .lock()
            .unwrap()
            .get("get")
            .copied()
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn a_sequential_reader_costs_one_get_per_part() {
        let size = 64 << 20;
        let (mem, store, body) = store_with(size).await;
        let mut reader = Reader::default();
        let mut offset = 0;
        while offset < size as u64 {
            let got = reader
                .read(&store, "f", size as u64, 0, offset, KERNEL_READ)
                .await
                .unwrap();
            assert_eq!(
                got,
                body.slice(offset as usize..offset as usize + got.len())
            );
            offset += got.len() as u64;
        }
        // The window grows 1, 2, 4, 8 MiB, then whole 8 MiB parts: about size / 8 MiB GETs,
        // never one per kernel read (that would be 512).
        let n = gets(&mem);
        assert!((8..=16).contains(&n), "{n} GETs for 64 MiB");
    }

    #[tokio::test]
    async fn reads_answered_out_of_order_stay_sequential() {
        let size = 32 << 20;
        let (mem, store, body) = store_with(size).await;
        let mut reader = Reader::default();
        // Pairs of kernel reads served later one first, as FUSE may deliver them.
        let mut offset = 0;
        while offset + 2 * KERNEL_READ <= size as u64 {
            for at in [offset + KERNEL_READ, offset] {
                let got = reader
                    .read(&store, "f", size as u64, 0, at, KERNEL_READ)
                    .await
                    .unwrap();
                assert_eq!(got, body.slice(at as usize..(at + KERNEL_READ) as usize));
            }
            offset += 2 * KERNEL_READ;
        }
        let n = gets(&mem);
        assert!(
            n <= 10,
            "{n} GETs: reordered reads must not restart the window"
        );
    }

    #[tokio::test]
    async fn random_reads_fetch_exactly_what_they_ask_for() {
        let size = 16 << 20;
        let (mem, store, body) = store_with(size).await;
        let mut reader = Reader::default();
        for (i, at) in [9_000_000u64, 100, 5_000_000, 12_345_678, 1_000]
            .into_iter()
            .enumerate()
        {
            let got = reader
                .read(&store, "f", size as u64, 0, at, 4096)
                .await
                .unwrap();
            assert_eq!(got, body.slice(at as usize..at as usize + 4096));
            assert_eq!(gets(&mem), i as u64 + 1);
        }
    }

    #[tokio::test]
    async fn a_small_file_is_one_get_and_reads_end_at_its_end() {
        let (mem, store, body) = store_with(10_000).await;
        let mut reader = Reader::default();
        let first = reader
            .read(&store, "f", 10_000, 0, 0, KERNEL_READ)
            .await
            .unwrap();
        assert_eq!(first, body);
        let past = reader
            .read(&store, "f", 10_000, 0, 10_000, KERNEL_READ)
            .await
            .unwrap();
        assert!(past.is_empty());
        assert_eq!(gets(&mem), 1);
    }

    #[tokio::test]
    async fn a_new_generation_drops_what_was_read_ahead() {
        let (mem, store, _) = store_with(4 << 20).await;
        let mut reader = Reader::default();
        reader
            .read(&store, "f", 4 << 20, 0, 0, KERNEL_READ)
            .await
            .unwrap();
        let before = gets(&mem);
        let replacement = Bytes::from(vec![9u8; 4 << 20]);
        mem.put("f", replacement.clone(), HashMap::new())
            .await
            .unwrap();
        let got = reader
            .read(&store, "f", 4 << 20, 1, KERNEL_READ, KERNEL_READ)
            .await
            .unwrap();
        assert_eq!(
            got,
            replacement.slice(KERNEL_READ as usize..2 * KERNEL_READ as usize)
        );
        assert!(gets(&mem) > before);
    }
}
