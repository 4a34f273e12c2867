//! The at-rest format of a blob: a header, checksummed chunks, and a footer.
//!
//! ```text
//! header (64 B)  magic "VMGWBLOB" | version u16 | flags u16 | chunk_size u32 | data id (16 B)
//!                | reserved (28 B, zero) | crc32c of the previous 60 bytes
//! chunk i        payload (chunk_size bytes, the last one shorter) | crc32c(data id | i | payload) u32
//! footer (16 B)  payload length u64 | crc32c(data id | length) u32 | magic "VEND"
//! ```
//!
//! Why this shape:
//! - Chunks have a fixed stride, so a ranged read seeks straight to the chunk it needs and
//!   verifies only that chunk; no index has to be read first.
//! - Each chunk's checksum covers the blob id and the chunk index as well as the payload, so
//!   a chunk that was swapped with another one, or copied in from another blob, fails
//!   verification exactly like a flipped bit does.
//! - The checksum follows its chunk, so a writer streams bytes to the file as they arrive and
//!   appends each checksum when its chunk is complete: no chunk is ever assembled in memory.
//! - The footer is written last and records the payload length, so a file truncated at a
//!   chunk boundary (a torn write the checksums alone cannot see) is rejected at open.
//!
//! Version 2 is the framed format of tiers that compress or seal (see [`crate::codec`]):
//!
//! ```text
//! header (64 B)  as above, version 2, flags bit 0 zstd / bit 1 sealed, key id u32 at 32
//! frames         one per chunk, variable length
//! index          chunk count × u64 offset of each frame
//! footer (32 B)  payload length u64 | index offset u64 | chunk count u64
//!                | crc32c(data id | the previous 24 bytes) u32 | magic "VEN2"
//! ```
//!
//! Frames vary in length, so a ranged read finds its chunk through the index, which the
//! reader loads once from the end of the blob.

use crate::{DataId, TierError};

pub const HEADER_LEN: u64 = 64;
pub const FOOTER_LEN: u64 = 16;
pub const CHUNK_CRC_LEN: u64 = 4;
/// 1 MiB: large enough that per-chunk costs (a syscall, a checksum finalisation) vanish
/// next to the copy, small enough that a ranged read of a few bytes reads at most 1 MiB.
pub const DEFAULT_CHUNK_SIZE: u32 = 1 << 20;

const MAGIC: &[u8; 8] = b"VMGWBLOB";
const FOOTER_MAGIC: &[u8; 4] = b"VEND";
const VERSION: u16 = 1;
const VERSION_FRAMED: u16 = 2;
const FOOTER2_MAGIC: &[u8; 4] = b"VEN2";
pub const FOOTER2_LEN: u64 = 32;

/// The footer of a framed blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer2 {
    pub payload_len: u64,
    pub index_offset: u64,
    pub chunk_count: u64,
}

impl Footer2 {
    #[must_use]
    pub fn encode(&self, id: DataId) -> [u8; FOOTER2_LEN as usize] {
        let mut buf = [0u8; FOOTER2_LEN as usize];
        buf[0..8].copy_from_slice(&self.payload_len.to_le_bytes());
        buf[8..16].copy_from_slice(&self.index_offset.to_le_bytes());
        buf[16..24].copy_from_slice(&self.chunk_count.to_le_bytes());
        let crc = footer2_crc(id, &buf[0..24]);
        buf[24..28].copy_from_slice(&crc.to_le_bytes());
        buf[28..32].copy_from_slice(FOOTER2_MAGIC);
        buf
    }

    pub fn decode(buf: &[u8; FOOTER2_LEN as usize], id: DataId) -> Result<Self, TierError> {
        if &buf[28..32] != FOOTER2_MAGIC {
            return Err(TierError::corrupt(id, "missing footer (truncated blob)"));
        }
        let stored = u32::from_le_bytes(buf[24..28].try_into().expect("4 bytes"));
        if footer2_crc(id, &buf[0..24]) != stored {
            return Err(TierError::corrupt(id, "footer checksum mismatch"));
        }
        let word = |at: usize| u64::from_le_bytes(buf[at..at + 8].try_into().expect("8 bytes"));
        Ok(Self {
            payload_len: word(0),
            index_offset: word(8),
            chunk_count: word(16),
        })
    }
}

fn footer2_crc(id: DataId, fields: &[u8]) -> u32 {
    let mut digest = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi);
    digest.update(&id.to_bytes());
    digest.update(fields);
    u32::try_from(digest.finalize()).expect("crc32 fits in u32")
}

/// How a blob's chunks are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Version 1: fixed-stride chunks, each followed by its CRC32C.
    Raw,
    /// Version 2: frames found through an index.
    Framed {
        compressed: bool,
        key_id: Option<u32>,
    },
}

/// Decoded header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub chunk_size: u32,
    pub id: DataId,
    pub encoding: Encoding,
}

const FLAG_ZSTD: u16 = 1;
const FLAG_SEALED: u16 = 2;

impl Header {
    #[must_use]
    pub fn encode(&self) -> [u8; HEADER_LEN as usize] {
        let mut buf = [0u8; HEADER_LEN as usize];
        buf[0..8].copy_from_slice(MAGIC);
        let (version, flags, key_id) = match self.encoding {
            Encoding::Raw => (VERSION, 0u16, 0u32),
            Encoding::Framed { compressed, key_id } => (
                VERSION_FRAMED,
                (u16::from(compressed) * FLAG_ZSTD) | (u16::from(key_id.is_some()) * FLAG_SEALED),
                key_id.unwrap_or(0),
            ),
        };
        buf[8..10].copy_from_slice(&version.to_le_bytes());
        buf[10..12].copy_from_slice(&flags.to_le_bytes());
        buf[12..16].copy_from_slice(&self.chunk_size.to_le_bytes());
        buf[16..32].copy_from_slice(&self.id.to_bytes());
        buf[32..36].copy_from_slice(&key_id.to_le_bytes());
        let crc = crc_fast::crc32_iscsi(&buf[0..60]);
        buf[60..64].copy_from_slice(&crc.to_le_bytes());
        buf
    }

    /// Parses and verifies a header that must belong to `expected`.
    pub fn decode(buf: &[u8; HEADER_LEN as usize], expected: DataId) -> Result<Self, TierError> {
        let corrupt = |reason: &str| TierError::corrupt(expected, reason);
        if &buf[0..8] != MAGIC {
            return Err(corrupt("bad header magic"));
        }
        let stored_crc = u32::from_le_bytes(buf[60..64].try_into().expect("4 bytes"));
        if crc_fast::crc32_iscsi(&buf[0..60]) != stored_crc {
            return Err(corrupt("header checksum mismatch"));
        }
        let version = u16::from_le_bytes([buf[8], buf[9]]);
        let flags = u16::from_le_bytes([buf[10], buf[11]]);
        let key_id = u32::from_le_bytes(buf[32..36].try_into().expect("4 bytes"));
        let encoding = match (version, flags) {
            (VERSION, 0) => Encoding::Raw,
            (VERSION_FRAMED, f) if f & !(FLAG_ZSTD | FLAG_SEALED) == 0 => Encoding::Framed {
                compressed: f & FLAG_ZSTD != 0,
                key_id: (f & FLAG_SEALED != 0).then_some(key_id),
            },
            _ => return Err(corrupt("unsupported format version or flags")),
        };
        let chunk_size = u32::from_le_bytes(buf[12..16].try_into().expect("4 bytes"));
        if chunk_size == 0 {
            return Err(corrupt("zero chunk size"));
        }
        let id = DataId::from_bytes(buf[16..32].try_into().expect("16 bytes"));
        if id != expected {
            return Err(corrupt("blob belongs to another id"));
        }
        Ok(Self {
            chunk_size,
            id,
            encoding,
        })
    }
}

/// Encodes the footer for a blob of `payload_len` bytes.
#[must_use]
pub fn encode_footer(id: DataId, payload_len: u64) -> [u8; FOOTER_LEN as usize] {
    let mut buf = [0u8; FOOTER_LEN as usize];
    buf[0..8].copy_from_slice(&payload_len.to_le_bytes());
    buf[8..12].copy_from_slice(&footer_crc(id, payload_len).to_le_bytes());
    buf[12..16].copy_from_slice(FOOTER_MAGIC);
    buf
}

/// Verifies a footer and returns the payload length it records.
pub fn decode_footer(buf: &[u8; FOOTER_LEN as usize], id: DataId) -> Result<u64, TierError> {
    if &buf[12..16] != FOOTER_MAGIC {
        return Err(TierError::corrupt(id, "missing footer (truncated blob)"));
    }
    let payload_len = u64::from_le_bytes(buf[0..8].try_into().expect("8 bytes"));
    let stored = u32::from_le_bytes(buf[8..12].try_into().expect("4 bytes"));
    if footer_crc(id, payload_len) != stored {
        return Err(TierError::corrupt(id, "footer checksum mismatch"));
    }
    Ok(payload_len)
}

fn footer_crc(id: DataId, payload_len: u64) -> u32 {
    let mut buf = [0u8; 24];
    buf[0..16].copy_from_slice(&id.to_bytes());
    buf[16..24].copy_from_slice(&payload_len.to_le_bytes());
    crc_fast::crc32_iscsi(&buf)
}

/// A running chunk checksum, already bound to its blob and position.
#[must_use]
pub fn chunk_digest(id: DataId, index: u64) -> crc_fast::Digest {
    let mut digest = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi);
    digest.update(&id.to_bytes());
    digest.update(&index.to_le_bytes());
    digest
}

/// The final value of a chunk digest.
#[must_use]
pub fn finish_chunk_digest(digest: &crc_fast::Digest) -> u32 {
    // The digest is 64-bit wide for every algorithm; CRC32C values fit in the low half.
    u32::try_from(digest.finalize()).expect("crc32 fits in u32")
}

/// Checksum of one chunk, bound to its blob and position.
#[must_use]
pub fn chunk_crc(id: DataId, index: u64, payload: &[u8]) -> u32 {
    let mut digest = chunk_digest(id, index);
    digest.update(payload);
    finish_chunk_digest(&digest)
}

/// Where chunks of a blob sit in its stored form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub chunk_size: u64,
    pub payload_len: u64,
}

impl Geometry {
    #[must_use]
    pub fn chunk_count(&self) -> u64 {
        self.payload_len.div_ceil(self.chunk_size)
    }

    /// Offset of chunk `index` (its payload, followed by its checksum) in the stored file.
    #[must_use]
    pub fn chunk_offset(&self, index: u64) -> u64 {
        HEADER_LEN + index * (CHUNK_CRC_LEN + self.chunk_size)
    }

    /// Payload length of chunk `index`.
    #[must_use]
    pub fn chunk_len(&self, index: u64) -> u64 {
        let start = index * self.chunk_size;
        self.chunk_size.min(self.payload_len.saturating_sub(start))
    }

    /// Total stored size, header and footer included.
    #[must_use]
    pub fn stored_len(&self) -> u64 {
        HEADER_LEN + self.chunk_count() * CHUNK_CRC_LEN + self.payload_len + FOOTER_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_rejections() {
        let id = DataId(42);
        let header = Header {
            chunk_size: 4096,
            id,
            encoding: Encoding::Raw,
        };
        let mut buf = header.encode();
        assert_eq!(Header::decode(&buf, id).unwrap(), header);
        assert!(matches!(
            Header::decode(&buf, DataId(43)),
            Err(TierError::Corrupt { .. })
        ));
        buf[20] ^= 1;
        assert!(matches!(
            Header::decode(&buf, id),
            Err(TierError::Corrupt { .. })
        ));
    }

    #[test]
    fn framed_header_and_footer_round_trip() {
        let id = DataId(9);
        for encoding in [
            Encoding::Framed {
                compressed: true,
                key_id: None,
            },
            Encoding::Framed {
                compressed: false,
                key_id: Some(7),
            },
            Encoding::Framed {
                compressed: true,
                key_id: Some(0),
            },
        ] {
            let header = Header {
                chunk_size: 1 << 20,
                id,
                encoding,
            };
            assert_eq!(Header::decode(&header.encode(), id).unwrap(), header);
        }
        let footer = Footer2 {
            payload_len: 5,
            index_offset: 99,
            chunk_count: 1,
        };
        let mut buf = footer.encode(id);
        assert_eq!(Footer2::decode(&buf, id).unwrap(), footer);
        assert!(Footer2::decode(&buf, DataId(10)).is_err());
        buf[3] ^= 1;
        assert!(Footer2::decode(&buf, id).is_err());
    }

    #[test]
    fn footer_round_trip_and_rejections() {
        let id = DataId(7);
        let buf = encode_footer(id, 123_456);
        assert_eq!(decode_footer(&buf, id).unwrap(), 123_456);
        assert!(decode_footer(&buf, DataId(8)).is_err());
        let mut bad = buf;
        bad[0] ^= 1;
        assert!(decode_footer(&bad, id).is_err());
    }

    #[test]
    fn chunk_crc_is_bound_to_id_and_index() {
        let payload = b"same bytes";
        let base = chunk_crc(DataId(1), 0, payload);
        assert_ne!(base, chunk_crc(DataId(2), 0, payload));
        assert_ne!(base, chunk_crc(DataId(1), 1, payload));
        assert_eq!(base, chunk_crc(DataId(1), 0, payload));
    }

    #[test]
    fn geometry() {
        let g = Geometry {
            chunk_size: 10,
            payload_len: 25,
        };
        assert_eq!(g.chunk_count(), 3);
        assert_eq!(g.chunk_len(0), 10);
        assert_eq!(g.chunk_len(2), 5);
        assert_eq!(g.chunk_offset(1), HEADER_LEN + 14);
        assert_eq!(g.stored_len(), HEADER_LEN + 3 * 4 + 25 + FOOTER_LEN);
        let empty = Geometry {
            chunk_size: 10,
            payload_len: 0,
        };
        assert_eq!(empty.chunk_count(), 0);
        assert_eq!(empty.stored_len(), HEADER_LEN + FOOTER_LEN);
    }
}
#[cfg(test)]
mod digest_tests {
    #[test]
    fn incremental_digest_matches_one_shot() {
        let id = crate::DataId(5);
        let data = vec![7u8; 10000];
        let mut d = super::chunk_digest(id, 0);
        d.update(&data[..3000]);
        d.update(&data[3000..]);
        assert_eq!(
            super::finish_chunk_digest(&d),
            super::chunk_crc(id, 0, &data)
        );
        let mut e = super::chunk_digest(id, 0);
        e.update(&data);
        assert_eq!(
            super::finish_chunk_digest(&e),
            super::chunk_crc(id, 0, &data)
        );
    }
}
