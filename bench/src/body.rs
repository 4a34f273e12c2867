//! Request bodies: pre-generated buffers for the hot paths (cloned without copying), and a
//! streaming generator for big uploads so the client never holds a whole object.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};

/// Deterministic pseudo-random (incompressible) bytes.
#[must_use]
pub fn pattern(len: usize, seed: u64) -> Bytes {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = BytesMut::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out.freeze()
}

const CHUNK: usize = 1 << 20;

/// A body of `len` bytes produced 1 MiB at a time: a shared random block with the chunk's
/// number and the stream's seed stamped into its first 16 bytes, so no two chunks are equal.
#[derive(Debug)]
pub struct Generated {
    block: Bytes,
    seed: u64,
    chunk: u64,
    remaining: u64,
}

impl Generated {
    /// `block` must be at least 16 bytes; chunks are at most its length (and 1 MiB).
    #[must_use]
    pub fn new(block: Bytes, seed: u64, len: u64) -> Self {
        Self {
            block,
            seed,
            chunk: 0,
            remaining: len,
        }
    }
}

impl Body for Generated {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = (self.remaining as usize).min(CHUNK).min(self.block.len());
        let mut chunk = BytesMut::from(&self.block[..n]);
        let stamp = [self.seed.to_le_bytes(), self.chunk.to_le_bytes()].concat();
        let m = stamp.len().min(n);
        chunk[..m].copy_from_slice(&stamp[..m]);
        self.chunk += 1;
        self.remaining -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(chunk.freeze()))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn generated_body_has_exact_length() {
        let len = 3 * CHUNK as u64 + 5;
        let mut body = Generated::new(pattern(CHUNK, 1), 7, len);
        let mut total = 0;
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            total += frame.unwrap().into_data().unwrap().len() as u64;
        }
        assert_eq!(total, len);
    }
}
