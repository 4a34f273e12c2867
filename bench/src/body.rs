//! Request bodies: pre-generated buffers for the hot paths (cloned without copying), and a
//! streaming generator for big uploads so the client never holds a whole object.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};

use crate::text::TextGen;

/// Deterministic pseudo-random (incompressible) bytes.
#[must_use]
pub fn pattern(len: usize, seed: u64) -> Bytes {
    let mut state = random_state(seed);
    let mut out = Vec::with_capacity(len + 8);
    fill_random(&mut state, &mut out, len);
    Bytes::from(out)
}

fn random_state(seed: u64) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1
}

/// Appends `len` xorshift bytes to `out`, continuing from `state`.
fn fill_random(state: &mut u64, out: &mut Vec<u8>, len: usize) {
    let target = out.len() + len;
    while out.len() < target {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(target);
}

/// What generated data looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corpus {
    /// English-like text ([`TextGen`]), ≈ 3× with zstd level 3.
    Text,
    /// Pseudo-random bytes: incompressible.
    Random,
}

impl Corpus {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Random => "random",
        }
    }
}

/// A deterministic stream of `len` bytes of a corpus, produced 1 MiB at a time: the same
/// seed gives the same bytes, and no chunk repeats another. As a request body it lets a
/// client upload hundreds of MiB while holding one chunk.
#[derive(Debug)]
pub struct CorpusStream {
    text: Option<TextGen>,
    random: u64,
    remaining: u64,
}

impl CorpusStream {
    #[must_use]
    pub fn new(corpus: Corpus, seed: u64, len: u64) -> Self {
        Self {
            text: (corpus == Corpus::Text).then(|| TextGen::new(seed)),
            random: random_state(seed),
            remaining: len,
        }
    }

    /// The next chunk (at most 1 MiB), `None` at the end.
    pub fn next_chunk(&mut self) -> Option<Bytes> {
        if self.remaining == 0 {
            return None;
        }
        let n = (self.remaining as usize).min(CHUNK);
        let mut out = Vec::with_capacity(n + 8);
        match &mut self.text {
            Some(text) => text.fill(&mut out, n),
            None => fill_random(&mut self.random, &mut out, n),
        }
        self.remaining -= n as u64;
        Some(Bytes::from(out))
    }
}

impl Body for CorpusStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.next_chunk().map(|chunk| Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
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

    #[test]
    fn corpus_streams_are_deterministic_and_exact() {
        for corpus in [Corpus::Text, Corpus::Random] {
            let len = 2 * CHUNK as u64 + 3;
            let collect = |seed| {
                let mut stream = CorpusStream::new(corpus, seed, len);
                let mut all = Vec::new();
                while let Some(chunk) = stream.next_chunk() {
                    all.extend_from_slice(&chunk);
                }
                all
            };
            let a = collect(1);
            assert_eq!(a.len() as u64, len);
            assert_eq!(a, collect(1));
            assert_ne!(a, collect(2));
            assert_ne!(a[..CHUNK], a[CHUNK..2 * CHUNK]);
        }
        assert_eq!(pattern(1000, 3), pattern(1000, 3));
    }
}
