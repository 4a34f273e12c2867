//! Recycled buffers for the chunks a read hands out.
//!
//! A read returns each chunk as [`Bytes`] that the gateway sends and then drops on another
//! thread. A fresh 1 MiB allocation per chunk is a fresh mapping to the allocator, so every
//! chunk paid for the kernel zeroing and faulting in 256 pages, about a quarter of the
//! cost of decompressing it. Buffers handed back here are reused as they are: their bytes
//! are already initialised, so a reader overwrites them without zeroing them first.

use std::sync::Mutex;

use bytes::Bytes;

/// Idle buffers kept for reuse: enough for a few streams' read-ahead, small enough that an
/// idle gateway holds at most this many chunk sizes.
const KEEP: usize = 16;
/// Small buffers are cheap to allocate and not worth keeping; buffers much larger than a
/// chunk (an unusual chunk size) are not kept either.
const KEPT_SIZES: std::ops::RangeInclusive<usize> = (64 << 10)..=(4 << 20);

static IDLE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// A buffer with room for `capacity` bytes: a recycled one when one fits without wasting
/// more than half of it. Its length and contents are whatever the last user left; callers
/// resize or clear it.
pub(crate) fn take(capacity: usize) -> Vec<u8> {
    if !KEPT_SIZES.contains(&capacity) {
        return Vec::with_capacity(capacity);
    }
    let fits = |b: &Vec<u8>| (capacity..capacity.saturating_mul(2)).contains(&b.capacity());
    let recycled = IDLE
        .lock()
        .map(|mut idle| {
            let at = idle.iter().rposition(fits)?;
            Some(idle.swap_remove(at))
        })
        .ok()
        .flatten();
    recycled.unwrap_or_else(|| Vec::with_capacity(capacity))
}

/// `buf` as [`Bytes`]; the buffer comes back for reuse once the last clone is dropped.
pub(crate) fn into_bytes(buf: Vec<u8>) -> Bytes {
    Bytes::from_owner(Recycled(buf))
}

struct Recycled(Vec<u8>);

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.0);
        if !KEPT_SIZES.contains(&buf.capacity()) {
            return;
        }
        if let Ok(mut idle) = IDLE.lock()
            && idle.len() < KEEP
        {
            idle.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_chunk_is_handed_out_again_with_its_allocation() {
        // A capacity no other test asks for, so a parallel test cannot take it first.
        let capacity = 3_456_789;
        let mut buf = take(capacity);
        buf.resize(capacity, 7);
        let at = buf.as_ptr();
        let bytes = into_bytes(buf);
        let slice = bytes.slice(10..20);
        drop(bytes);
        assert_eq!(&slice[..], &[7; 10], "a slice keeps the buffer alive");
        drop(slice);
        let again = take(capacity);
        assert_eq!(again.as_ptr(), at, "the same allocation came back");
        assert_eq!(again.len(), capacity, "its initialised bytes are kept");
    }

    #[test]
    fn small_and_oversized_buffers_are_not_kept() {
        for capacity in [1000, *KEPT_SIZES.end() + 1] {
            drop(into_bytes(take(capacity)));
            let idle = IDLE.lock().expect("pool lock");
            assert!(idle.iter().all(|b| KEPT_SIZES.contains(&b.capacity())));
        }
    }

    #[test]
    fn a_small_read_does_not_take_a_large_buffer() {
        drop(into_bytes(take(2_700_000)));
        assert!(take(70_000).capacity() < 2_700_000);
    }
}
