//! MD5 (the ETag) of concurrent uploads, computed side by side.
//!
//! Every PUT and part upload must hash its body with MD5, which runs at about 600 MiB/s on
//! one core: with several uploads in flight it is the gateway's largest CPU cost. Here each
//! upload hands its body frames (reference-counted, not copied) to an engine thread, which
//! compresses the blocks of up to [`lanes::LANES`] uploads in lockstep with the multi-lane
//! compression function; a lone upload is hashed with the scalar core. Besides saving CPU
//! under concurrency, hashing on the engine thread overlaps MD5 with the upload's own
//! writes to disk.
//!
//! Each stream keeps its unaligned tail (under 64 bytes) locally, so only whole blocks are
//! queued. A stream with more than [`QUEUE_LIMIT`] bytes queued waits, which bounds the
//! memory an upload can pin however fast it arrives.

mod lanes;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bytes::Bytes;

use lanes::LANES;

/// Bytes an upload may have waiting for the engine before it is made to wait.
const QUEUE_LIMIT: usize = 1 << 20;
/// Bytes of one upload hashed per round: a stream is ready once it has this much queued
/// (or is finishing), so that rounds run lanes over long common runs of blocks.
const ROUND_BYTES: usize = 256 << 10;
/// How long a round waits for more streams to become ready when only a few are.
const GATHER_WAIT: Duration = Duration::from_millis(2);
/// Fewest ready streams worth running in lanes; below that the scalar core is faster
/// (a 4-lane round costs about as much as two scalar ones).
const MIN_LANES: usize = 3;

/// A pool of MD5 engine threads.
pub struct Md5Engine {
    shards: Vec<Arc<Shard>>,
    next: AtomicUsize,
}

struct Shard {
    registry: Mutex<Registry>,
    work: Condvar,
    /// Give up the core after each round (background engines).
    yields: bool,
}

#[derive(Default)]
struct Registry {
    streams: Vec<Arc<StreamShared>>,
    /// Set whenever a stream becomes ready, so the engine never sleeps through new work.
    dirty: bool,
    shutdown: bool,
}

struct StreamShared {
    inner: Mutex<StreamInner>,
    progress: Condvar,
}

struct StreamInner {
    /// Segments of whole blocks waiting to be hashed.
    queue: VecDeque<Bytes>,
    queued: usize,
    /// The message is complete: hash what is queued without waiting for a full round.
    flush: bool,
    /// Blocks taken by the engine and not yet folded into `state`.
    in_flight: bool,
    state: [u32; 4],
}

impl StreamInner {
    fn ready(&self) -> bool {
        self.queued >= ROUND_BYTES || (self.flush && self.queued > 0)
    }
}

/// The MD5 of one upload.
pub struct Md5Stream {
    shared: Arc<StreamShared>,
    shard: Arc<Shard>,
    tail: Vec<u8>,
    total: u64,
}

impl Md5Engine {
    /// Starts `threads` engine threads (at least one).
    #[must_use]
    pub fn new(threads: usize) -> Self {
        Self::with_nice(threads, 0)
    }

    /// An engine whose threads run at `nice` (higher: lower CPU priority), for background
    /// work that must leave the cores to requests. A lowered engine also yields its core
    /// after every round: a lower nice value alone does not stop a running thread from
    /// finishing its time slice (up to a few milliseconds) before a woken request handler
    /// gets the core, and that wait is what a small GET's tail latency is made of.
    #[must_use]
    pub fn with_nice(threads: usize, nice: i32) -> Self {
        let shards = (0..threads.max(1))
            .map(|i| {
                let shard = Arc::new(Shard {
                    registry: Mutex::new(Registry::default()),
                    work: Condvar::new(),
                    yields: nice != 0,
                });
                let worker = Arc::clone(&shard);
                std::thread::Builder::new()
                    .name(format!("vmgw-md5-{i}"))
                    .spawn(move || {
                        if nice != 0 {
                            // Linux's nice value is per thread.
                            let _ = rustix::process::setpriority_process(None, nice);
                        }
                        run(&worker)
                    })
                    .expect("spawn MD5 engine thread");
                shard
            })
            .collect();
        Self {
            shards,
            next: AtomicUsize::new(0),
        }
    }

    /// A new stream, hashed by one of the engine threads.
    #[must_use]
    pub fn stream(&self) -> Md5Stream {
        let shard =
            Arc::clone(&self.shards[self.next.fetch_add(1, Ordering::Relaxed) % self.shards.len()]);
        let shared = Arc::new(StreamShared {
            inner: Mutex::new(StreamInner {
                queue: VecDeque::new(),
                queued: 0,
                flush: false,
                in_flight: false,
                state: lanes::INIT,
            }),
            progress: Condvar::new(),
        });
        shard
            .registry
            .lock()
            .expect("md5 registry")
            .streams
            .push(Arc::clone(&shared));
        Md5Stream {
            shared,
            shard,
            tail: Vec::with_capacity(64),
            total: 0,
        }
    }
}

impl Drop for Md5Engine {
    fn drop(&mut self) {
        for shard in &self.shards {
            shard.registry.lock().expect("md5 registry").shutdown = true;
            shard.work.notify_all();
        }
    }
}

impl Shard {
    fn wake(&self) {
        self.registry.lock().expect("md5 registry").dirty = true;
        self.work.notify_one();
    }
}

impl Md5Stream {
    /// Adds bytes to the message. Blocks while too much of this stream is still queued.
    pub fn update(&mut self, mut data: Bytes) {
        self.total += data.len() as u64;
        let mut segments = Vec::with_capacity(2);
        if !self.tail.is_empty() {
            let take = (64 - self.tail.len()).min(data.len());
            self.tail.extend_from_slice(&data.split_to(take));
            if self.tail.len() < 64 {
                return;
            }
            segments.push(Bytes::from(std::mem::take(&mut self.tail)));
            self.tail.reserve(64);
        }
        let whole = data.len() / 64 * 64;
        self.tail.extend_from_slice(&data.split_off(whole));
        if !data.is_empty() {
            segments.push(data);
        }
        if segments.is_empty() {
            return;
        }
        let became_ready = {
            let mut inner = self.shared.inner.lock().expect("md5 stream");
            while inner.queued > QUEUE_LIMIT {
                inner = self.shared.progress.wait(inner).expect("md5 stream");
            }
            let was_ready = inner.ready();
            for segment in segments {
                inner.queued += segment.len();
                inner.queue.push_back(segment);
            }
            !was_ready && inner.ready()
        };
        if became_ready {
            self.shard.wake();
        }
    }

    /// Waits for the queued bytes to be hashed and returns the digest.
    #[must_use]
    pub fn finish(self) -> [u8; 16] {
        self.shared.inner.lock().expect("md5 stream").flush = true;
        self.shard.wake();
        let state = {
            let mut inner = self.shared.inner.lock().expect("md5 stream");
            while inner.queued > 0 || inner.in_flight {
                inner = self.shared.progress.wait(inner).expect("md5 stream");
            }
            inner.state
        };
        lanes::finish(state, &self.tail, self.total)
    }
}

impl Drop for Md5Stream {
    fn drop(&mut self) {
        let mut registry = self.shard.registry.lock().expect("md5 registry");
        registry.streams.retain(|s| !Arc::ptr_eq(s, &self.shared));
    }
}

/// One lane's share of a round.
struct Taken {
    stream: Arc<StreamShared>,
    segments: Vec<Bytes>,
    len: usize,
    state: [u32; 4],
}

fn run(shard: &Shard) {
    let mut start = 0usize;
    loop {
        {
            let mut registry = shard.registry.lock().expect("md5 registry");
            while !registry.dirty && !registry.shutdown {
                registry = shard.work.wait(registry).expect("md5 registry");
            }
            if registry.shutdown {
                return;
            }
            registry.dirty = false;
        }
        // Rounds until no stream is ready; a stream becoming ready sets `dirty` again.
        loop {
            let streams = shard.registry.lock().expect("md5 registry").streams.clone();
            let (ready, pending) = readiness(&streams);
            if ready == 0 {
                break;
            }
            if ready < pending.min(LANES) {
                // Others are filling up: give them a moment to join this round in lanes.
                let registry = shard.registry.lock().expect("md5 registry");
                let _ = shard.work.wait_timeout(registry, GATHER_WAIT);
            }
            let taken = take_round(&streams, &mut start);
            if !taken.is_empty() {
                hash_round(taken);
                if shard.yields {
                    // Nearly free when nothing else wants the core.
                    rustix::thread::sched_yield();
                }
            }
        }
    }
}

/// How many streams are ready, and how many hold any data.
fn readiness(streams: &[Arc<StreamShared>]) -> (usize, usize) {
    streams.iter().fold((0, 0), |(ready, pending), s| {
        let inner = s.inner.lock().expect("md5 stream");
        (
            ready + usize::from(inner.ready()),
            pending + usize::from(inner.queued > 0),
        )
    })
}

/// Takes up to [`ROUND_BYTES`] from each of up to [`LANES`] ready streams, starting at a
/// rotating position so that no stream waits behind the others.
fn take_round(streams: &[Arc<StreamShared>], start: &mut usize) -> Vec<Taken> {
    let mut taken = Vec::with_capacity(LANES);
    let count = streams.len();
    for i in 0..count {
        if taken.len() == LANES {
            break;
        }
        let stream = &streams[(*start + i) % count];
        let mut inner = stream.inner.lock().expect("md5 stream");
        if !inner.ready() {
            continue;
        }
        let mut segments = Vec::new();
        let mut len = 0;
        while len < ROUND_BYTES {
            let Some(mut segment) = inner.queue.pop_front() else {
                break;
            };
            if len + segment.len() > ROUND_BYTES {
                let rest = segment.split_off(ROUND_BYTES - len);
                inner.queue.push_front(rest);
            }
            len += segment.len();
            segments.push(segment);
        }
        inner.queued -= len;
        inner.in_flight = true;
        taken.push(Taken {
            stream: Arc::clone(stream),
            segments,
            len,
            state: inner.state,
        });
    }
    *start = start.wrapping_add(1);
    taken
}

fn hash_round(mut taken: Vec<Taken>) {
    match taken.len() {
        0..MIN_LANES => {
            for t in &mut taken {
                for segment in &t.segments {
                    lanes::compress_one(&mut t.state, segment);
                }
                t.segments.clear();
            }
        }
        MIN_LANES..=4 => lockstep::<4>(&mut taken),
        _ => lockstep::<LANES>(&mut taken),
    }
    for t in taken {
        let mut inner = t.stream.inner.lock().expect("md5 stream");
        inner.state = t.state;
        // What the lanes did not cover goes back in front, for a later round.
        for segment in t.segments.into_iter().rev() {
            inner.queued += segment.len();
            inner.queue.push_front(segment);
        }
        inner.in_flight = false;
        drop(inner);
        t.stream.progress.notify_all();
    }
}

/// Hashes the blocks every lane has, in lockstep; leaves each lane's remainder in its
/// `segments`.
fn lockstep<const N: usize>(taken: &mut [Taken]) {
    let common = taken.iter().map(|t| t.len).min().unwrap_or(0) / 64;
    let mut state: lanes::State<N> = [[0; N]; 4];
    for (lane, t) in taken.iter().enumerate() {
        for (words, value) in state.iter_mut().zip(t.state) {
            words[lane] = value;
        }
    }
    // Per lane: segment index and offset of its next block.
    let mut cursor = [(0usize, 0usize); LANES];
    let mut block: [[u32; N]; 16] = [[0; N]; 16];
    for _ in 0..common {
        for (lane, t) in taken.iter().enumerate() {
            let (si, off) = &mut cursor[lane];
            let bytes = &t.segments[*si][*off..*off + 64];
            for (w, word) in bytes.chunks_exact(4).enumerate() {
                block[w][lane] = u32::from_le_bytes(word.try_into().expect("4 bytes"));
            }
            *off += 64;
            if *off == t.segments[*si].len() {
                *si += 1;
                *off = 0;
            }
        }
        lanes::compress(&mut state, &block);
    }
    for (lane, t) in taken.iter_mut().enumerate() {
        t.state = std::array::from_fn(|w| state[w][lane]);
        let (si, off) = cursor[lane];
        let mut rest: Vec<Bytes> = t.segments.drain(si..).collect();
        if let Some(first) = rest.first_mut() {
            *first = first.slice(off..);
        }
        rest.retain(|s| !s.is_empty());
        t.segments = rest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::Digest;

    fn message(len: usize, seed: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i.wrapping_mul(31) ^ seed.wrapping_mul(7919)) as u8)
            .collect()
    }

    #[test]
    fn single_streams_match_md5_for_any_framing() {
        let engine = Md5Engine::new(1);
        for (len, frame) in [
            (0, 1),
            (1, 1),
            (63, 10),
            (64, 64),
            (65, 7),
            (1000, 33),
            (300_000, 4093),
            (1 << 20, 65_536),
        ] {
            let data = message(len, len);
            let mut stream = engine.stream();
            for piece in data.chunks(frame) {
                stream.update(Bytes::copy_from_slice(piece));
            }
            assert_eq!(
                stream.finish(),
                <[u8; 16]>::from(md5::Md5::digest(&data)),
                "len {len} frame {frame}"
            );
        }
    }

    #[test]
    fn concurrent_streams_hashed_side_by_side_match_md5() {
        let engine = Arc::new(Md5Engine::new(1));
        let threads: Vec<_> = (0..12usize)
            .map(|i| {
                let engine = Arc::clone(&engine);
                std::thread::spawn(move || {
                    let data = message(2_000_000 + i * 977, i);
                    let mut stream = engine.stream();
                    // Different framings make the lanes run out of data at different times.
                    for piece in data.chunks(1000 + i * 5_003) {
                        stream.update(Bytes::copy_from_slice(piece));
                    }
                    assert_eq!(
                        stream.finish(),
                        <[u8; 16]>::from(md5::Md5::digest(&data)),
                        "stream {i}"
                    );
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    #[test]
    fn abandoned_streams_leave_the_engine_working() {
        let engine = Md5Engine::new(1);
        let mut abandoned = engine.stream();
        abandoned.update(Bytes::from(vec![1u8; 100_000]));
        drop(abandoned);
        let mut stream = engine.stream();
        stream.update(Bytes::from_static(b"hello"));
        assert_eq!(
            stream.finish(),
            <[u8; 16]>::from(md5::Md5::digest(b"hello"))
        );
    }
}
