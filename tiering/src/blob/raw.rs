//! Version 1 blobs: fixed-stride chunks, each followed by its CRC32C (plain tiers).

use bytes::Bytes;

use super::{BlobSink, BlobSource};
use crate::chunk_buf;
use crate::format::{self, CHUNK_CRC_LEN, FOOTER_LEN, Geometry, HEADER_LEN, Header};
use crate::{DataId, DataReader, DataWriter, TierError};

pub(super) struct RawWriter<S> {
    id: DataId,
    file: S,
    chunk_size: u64,
    /// Checksum of the current chunk so far, and how many of its bytes are written.
    digest: crc_fast::Digest,
    filled: u64,
    chunk_index: u64,
    payload_len: u64,
}

impl<S: BlobSink> RawWriter<S> {
    pub(super) fn new(id: DataId, file: S, chunk_size: u32) -> Self {
        Self {
            id,
            file,
            chunk_size: u64::from(chunk_size),
            digest: format::chunk_digest(id, 0),
            filled: 0,
            chunk_index: 0,
            payload_len: 0,
        }
    }

    /// Appends the current chunk's checksum and starts the next chunk.
    fn end_chunk(&mut self) -> Result<(), TierError> {
        let crc = format::finish_chunk_digest(&self.digest);
        self.file.write_all(&crc.to_le_bytes())?;
        self.chunk_index += 1;
        self.filled = 0;
        self.digest = format::chunk_digest(self.id, self.chunk_index);
        Ok(())
    }
}

impl<S: BlobSink> DataWriter for RawWriter<S> {
    fn write(&mut self, mut data: &[u8]) -> Result<(), TierError> {
        while !data.is_empty() {
            let room = usize::try_from(self.chunk_size - self.filled).unwrap_or(usize::MAX);
            let (now, rest) = data.split_at(room.min(data.len()));
            // Bytes go to the file straight from the caller's buffer, while still in cache
            // from the hashing the caller just did.
            self.file.write_all(now)?;
            self.digest.update(now);
            self.filled += now.len() as u64;
            self.payload_len += now.len() as u64;
            if self.filled == self.chunk_size {
                self.end_chunk()?;
            }
            data = rest;
        }
        Ok(())
    }

    fn describe(&mut self, descriptor: Vec<u8>) {
        self.file.describe(descriptor);
    }

    fn finish(mut self: Box<Self>) -> Result<u64, TierError> {
        if self.filled > 0 {
            self.end_chunk()?;
        }
        let footer = format::encode_footer(self.id, self.payload_len);
        self.file.write_all(&footer)?;
        let payload_len = self.payload_len;
        self.file.finish()?;
        Ok(payload_len)
    }
}

pub(super) struct RawReader<S> {
    id: DataId,
    source: S,
    geometry: Geometry,
}

impl<S: BlobSource> RawReader<S> {
    pub(super) fn open(id: DataId, header: &Header, mut source: S) -> Result<Self, TierError> {
        let file_len = source.len();
        if file_len < HEADER_LEN + FOOTER_LEN {
            return Err(TierError::corrupt(
                id,
                format!("blob is {file_len} bytes, shorter than its framing"),
            ));
        }
        let mut footer = [0u8; FOOTER_LEN as usize];
        source.read_exact_at(&mut footer, file_len - FOOTER_LEN)?;
        let payload_len = format::decode_footer(&footer, id)?;
        let geometry = Geometry {
            chunk_size: u64::from(header.chunk_size),
            payload_len,
        };
        if geometry.stored_len() != file_len {
            return Err(TierError::corrupt(
                id,
                format!(
                    "stored length {file_len} does not match {} expected for {payload_len} payload bytes",
                    geometry.stored_len()
                ),
            ));
        }
        Ok(Self {
            id,
            source,
            geometry,
        })
    }
}

impl<S: BlobSource> DataReader for RawReader<S> {
    fn len(&self) -> u64 {
        self.geometry.payload_len
    }

    fn read_at(&mut self, offset: u64, max: usize) -> Result<Bytes, TierError> {
        if max == 0 {
            return Ok(Bytes::new());
        }
        if offset >= self.geometry.payload_len {
            return Err(TierError::OutOfRange {
                id: self.id,
                offset,
                len: self.geometry.payload_len,
            });
        }
        let index = offset / self.geometry.chunk_size;
        let chunk_len = self.geometry.chunk_len(index);
        let stored_len = usize::try_from(CHUNK_CRC_LEN + chunk_len).expect("chunk fits in memory");
        // A recycled buffer's bytes are initialised already: resizing it zeroes nothing.
        let mut buf = chunk_buf::take(stored_len);
        buf.resize(stored_len, 0);
        self.source
            .read_exact_at(&mut buf, self.geometry.chunk_offset(index))?;
        // The payload comes first, its checksum after it.
        let payload_len = buf.len() - 4;
        let stored_crc = u32::from_le_bytes(buf[payload_len..].try_into().expect("4 bytes"));
        if format::chunk_crc(self.id, index, &buf[..payload_len]) != stored_crc {
            return Err(TierError::corrupt(
                self.id,
                format!("chunk {index} checksum mismatch"),
            ));
        }
        let chunk = chunk_buf::into_bytes(buf).slice(..payload_len);
        let start = usize::try_from(offset - index * self.geometry.chunk_size)
            .expect("offset within chunk");
        let end = chunk.len().min(start.saturating_add(max));
        Ok(chunk.slice(start..end))
    }
}
