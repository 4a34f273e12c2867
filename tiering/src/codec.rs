//! Compressed and sealed chunk frames, for tiers that store data compressed (zstd) and/or
//! encrypted (AES-256-GCM).
//!
//! ```text
//! frame   kind u8 (0 raw, 1 zstd) | plain_len u32 | stored_len u32
//!         | nonce (12 B, sealed blobs only) | stored bytes (+16 B GCM tag when sealed)
//!         | crc32c(blob id | chunk index | everything before) u32
//! ```
//!
//! Each chunk is compressed and sealed on its own, so a ranged read decodes only the chunks
//! it needs. The GCM nonce is random per chunk and the associated data binds the frame to
//! its blob id, chunk index, kind and length: a frame moved to another position or blob
//! fails authentication. The CRC catches damage before decryption is even tried, and guards
//! compressed frames of unsealed blobs.
//!
//! Incompressible data is detected and stored raw; after a run of incompressible chunks a
//! writer only probes every sixteenth chunk, so random data costs little over a plain tier.

use std::sync::Arc;

use bytes::Bytes;
use ring::aead::{Aad, NONCE_LEN, Nonce};
use ring::rand::{SecureRandom, SystemRandom};

use crate::chunk_buf;
use crate::format;
use crate::keys::Keyring;
use crate::{DataId, TierError};

const KIND_RAW: u8 = 0;
const KIND_ZSTD: u8 = 1;
const TAG_LEN: usize = 16;
const FRAME_HEAD: usize = 9;
/// A compressed chunk must save at least 1/32 of its size to be stored compressed.
const WORTHWHILE: usize = 32;
/// Incompressible chunks in a row after which compression is only probed now and then.
const GIVE_UP_AFTER: u32 = 4;
const PROBE_EVERY: u64 = 16;

/// How a tier encodes its chunks.
#[derive(Debug, Clone, Default)]
pub struct CodecOptions {
    /// zstd level (1–22; 3 is zstd's default); `None` stores chunks uncompressed.
    pub zstd_level: Option<i32>,
    /// Seals chunks with the ring's active key; `None` stores them in the clear.
    pub keyring: Option<Arc<Keyring>>,
}

impl CodecOptions {
    #[must_use]
    pub fn is_plain(&self) -> bool {
        self.zstd_level.is_none() && self.keyring.is_none()
    }
}

fn aad(id: DataId, index: u64, kind: u8, plain_len: u32) -> [u8; 29] {
    let mut out = [0u8; 29];
    out[..16].copy_from_slice(&id.to_bytes());
    out[16..24].copy_from_slice(&index.to_le_bytes());
    out[24] = kind;
    out[25..29].copy_from_slice(&plain_len.to_le_bytes());
    out
}

fn frame_crc(id: DataId, index: u64, bytes: &[u8]) -> u32 {
    let mut digest = format::chunk_digest(id, index);
    digest.update(bytes);
    format::finish_chunk_digest(&digest)
}

/// Levels up to this one use zstd's fast match finders, whose minimum match length is
/// raised for reading speed (see [`read_tuned_compressor`]).
const FAST_LEVELS: i32 = 4;
/// zstd's largest minimum match length.
const READ_TUNED_MIN_MATCH: u32 = 7;

/// A compressor at `level`, tuned for fast reads: at the fast levels matches shorter than
/// 7 bytes are left as literals. A tier is read far more often than written, and zstd's
/// decoding time goes mostly to executing sequences, so fewer, longer ones decode faster:
/// on English text, 14–17 % fewer instructions to decode for 2–3 % less compression
/// (level 3, 1 MiB chunks; see the README's tier benchmarks). Higher levels choose their
/// matches by cost already and keep zstd's own parameters.
fn read_tuned_compressor(level: i32) -> std::io::Result<zstd::bulk::Compressor<'static>> {
    let mut compressor = zstd::bulk::Compressor::new(level)?;
    if level <= FAST_LEVELS {
        compressor.set_parameter(zstd::zstd_safe::CParameter::MinMatch(READ_TUNED_MIN_MATCH))?;
    }
    Ok(compressor)
}

/// Encodes the chunks of one blob.
pub(crate) struct FrameEncoder {
    id: DataId,
    compressor: Option<zstd::bulk::Compressor<'static>>,
    keyring: Option<Arc<Keyring>>,
    rng: SystemRandom,
    incompressible_streak: u32,
    scratch: Vec<u8>,
}

impl FrameEncoder {
    pub(crate) fn new(id: DataId, options: &CodecOptions) -> Result<Self, TierError> {
        let compressor = options
            .zstd_level
            .map(read_tuned_compressor)
            .transpose()
            .map_err(|e| TierError::io("zstd", e))?;
        Ok(Self {
            id,
            compressor,
            keyring: options.keyring.clone(),
            rng: SystemRandom::new(),
            incompressible_streak: 0,
            scratch: Vec::new(),
        })
    }

    /// The key id recorded in the blob header.
    pub(crate) fn key_id(&self) -> Option<u32> {
        self.keyring.as_ref().map(|k| k.active_id())
    }

    /// Appends the frame of chunk `index` to `out`.
    pub(crate) fn encode(
        &mut self,
        index: u64,
        plain: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), TierError> {
        let plain_len = u32::try_from(plain.len())
            .map_err(|_| TierError::corrupt(self.id, "chunk too large"))?;
        let probe = self.incompressible_streak < GIVE_UP_AFTER || index.is_multiple_of(PROBE_EVERY);
        let mut kind = KIND_RAW;
        if let Some(compressor) = self.compressor.as_mut().filter(|_| probe) {
            self.scratch.clear();
            self.scratch
                .reserve(zstd::zstd_safe::compress_bound(plain.len()));
            compressor
                .compress_to_buffer(plain, &mut self.scratch)
                .map_err(|e| TierError::io("zstd", e))?;
            if self.scratch.len() + plain.len() / WORTHWHILE < plain.len() {
                kind = KIND_ZSTD;
                self.incompressible_streak = 0;
            } else {
                self.incompressible_streak += 1;
            }
        }
        let start = out.len();
        out.push(kind);
        out.extend_from_slice(&plain_len.to_le_bytes());
        let stored_len_at = out.len();
        out.extend_from_slice(&[0; 4]);
        let payload: &[u8] = if kind == KIND_ZSTD {
            &self.scratch
        } else {
            plain
        };
        match &self.keyring {
            Some(keyring) => {
                let mut nonce = [0u8; NONCE_LEN];
                self.rng.fill(&mut nonce).map_err(|_| {
                    TierError::io("random nonce", std::io::Error::other("no randomness"))
                })?;
                out.extend_from_slice(&nonce);
                let sealed_from = out.len();
                out.extend_from_slice(payload);
                let tag = keyring
                    .active()
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(aad(self.id, index, kind, plain_len)),
                        &mut out[sealed_from..],
                    )
                    .map_err(|_| TierError::corrupt(self.id, "sealing failed"))?;
                out.extend_from_slice(tag.as_ref());
                let stored = u32::try_from(payload.len() + TAG_LEN).expect("chunk fits");
                out[stored_len_at..stored_len_at + 4].copy_from_slice(&stored.to_le_bytes());
            }
            None => {
                out.extend_from_slice(payload);
                let stored = u32::try_from(payload.len()).expect("chunk fits");
                out[stored_len_at..stored_len_at + 4].copy_from_slice(&stored.to_le_bytes());
            }
        }
        let crc = frame_crc(self.id, index, &out[start..]);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(())
    }
}

/// Decodes the chunks of one blob.
pub(crate) struct FrameDecoder {
    id: DataId,
    decompressor: Option<zstd::bulk::Decompressor<'static>>,
    key: Option<(Arc<Keyring>, u32)>,
}

impl FrameDecoder {
    /// `key_id` comes from the blob header; `keyring` from the tier's configuration.
    pub(crate) fn new(
        id: DataId,
        compressed: bool,
        key_id: Option<u32>,
        keyring: Option<&Arc<Keyring>>,
    ) -> Result<Self, TierError> {
        let key = match key_id {
            None => None,
            Some(kid) => {
                let ring = keyring
                    .filter(|r| r.get(kid).is_some())
                    .ok_or(TierError::KeyUnavailable { id, key_id: kid })?;
                Some((Arc::clone(ring), kid))
            }
        };
        let decompressor = if compressed {
            Some(zstd::bulk::Decompressor::new().map_err(|e| TierError::io("zstd", e))?)
        } else {
            None
        };
        Ok(Self {
            id,
            decompressor,
            key,
        })
    }

    /// The plaintext of chunk `index` from its frame. The frame is decrypted in place, so
    /// the caller's buffer can be reused for the next frame without being zeroed again.
    pub(crate) fn decode(&mut self, index: u64, frame: &mut [u8]) -> Result<Bytes, TierError> {
        let corrupt = |reason: String| TierError::corrupt(self.id, reason);
        if frame.len() < FRAME_HEAD + 4 {
            return Err(corrupt(format!("chunk {index} frame is truncated")));
        }
        let body_len = frame.len() - 4;
        let stored_crc = u32::from_le_bytes(frame[body_len..].try_into().expect("4 bytes"));
        if frame_crc(self.id, index, &frame[..body_len]) != stored_crc {
            return Err(corrupt(format!("chunk {index} checksum mismatch")));
        }
        let kind = frame[0];
        let plain_len = u32::from_le_bytes(frame[1..5].try_into().expect("4 bytes"));
        let stored_len = u32::from_le_bytes(frame[5..9].try_into().expect("4 bytes")) as usize;
        let nonce_len = if self.key.is_some() { NONCE_LEN } else { 0 };
        if FRAME_HEAD + nonce_len + stored_len != body_len {
            return Err(corrupt(format!("chunk {index} frame length mismatch")));
        }
        let payload_at = FRAME_HEAD + nonce_len;
        let payload: &[u8] = match &self.key {
            Some((ring, kid)) => {
                let nonce: [u8; NONCE_LEN] =
                    frame[FRAME_HEAD..payload_at].try_into().expect("nonce");
                let key = ring.get(*kid).ok_or(TierError::KeyUnavailable {
                    id: self.id,
                    key_id: *kid,
                })?;
                key.open_in_place(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(aad(self.id, index, kind, plain_len)),
                    &mut frame[payload_at..body_len],
                )
                .map_err(|_| corrupt(format!("chunk {index} failed authentication")))?
            }
            None => &frame[payload_at..body_len],
        };
        let plain = match kind {
            KIND_RAW => {
                let mut out = chunk_buf::take(payload.len());
                out.clear();
                out.extend_from_slice(payload);
                chunk_buf::into_bytes(out)
            }
            KIND_ZSTD => {
                let decompressor = self.decompressor.as_mut().ok_or_else(|| {
                    corrupt(format!(
                        "chunk {index} is compressed in an uncompressed blob"
                    ))
                })?;
                let mut out = chunk_buf::take(plain_len as usize);
                out.clear();
                decompressor
                    .decompress_to_buffer(payload, &mut out)
                    .map_err(|e| corrupt(format!("chunk {index} does not decompress: {e}")))?;
                chunk_buf::into_bytes(out)
            }
            other => return Err(corrupt(format!("chunk {index} has unknown kind {other}"))),
        };
        if plain.len() != plain_len as usize {
            return Err(corrupt(format!(
                "chunk {index} decodes to {} bytes, not {plain_len}",
                plain.len()
            )));
        }
        Ok(plain)
    }
}
