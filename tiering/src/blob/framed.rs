//! Version 2 blobs: compressed and/or sealed frames found through an index (see
//! [`crate::codec`] and [`crate::format`]).

use std::sync::Arc;

use bytes::Bytes;

use super::{BlobSink, BlobSource};
use crate::codec::{FrameDecoder, FrameEncoder};
use crate::format::{Encoding, FOOTER2_LEN, Footer2, HEADER_LEN, Header};
use crate::keys::Keyring;
use crate::{DataId, DataReader, DataWriter, TierError};

pub(super) struct FramedWriter<S> {
    file: S,
    id: DataId,
    encoder: FrameEncoder,
    chunk_size: usize,
    /// Plaintext of the chunk being filled (a chunk is compressed and sealed as a whole).
    pending: Vec<u8>,
    frame: Vec<u8>,
    /// File offset of every frame written.
    index: Vec<u64>,
    payload_len: u64,
}

impl<S: BlobSink> FramedWriter<S> {
    pub(super) fn new(id: DataId, file: S, encoder: FrameEncoder, chunk_size: u32) -> Self {
        Self {
            file,
            id,
            encoder,
            chunk_size: chunk_size as usize,
            pending: Vec::new(),
            frame: Vec::new(),
            index: Vec::new(),
            payload_len: 0,
        }
    }

    fn flush_chunk(&mut self) -> Result<(), TierError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.frame.clear();
        self.encoder
            .encode(self.index.len() as u64, &self.pending, &mut self.frame)?;
        self.index.push(self.file.written());
        self.file.write_all(&self.frame)?;
        self.payload_len += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }
}

impl<S: BlobSink> DataWriter for FramedWriter<S> {
    fn write(&mut self, mut data: &[u8]) -> Result<(), TierError> {
        while !data.is_empty() {
            if self.pending.capacity() == 0 {
                self.pending.reserve_exact(self.chunk_size);
            }
            let take = (self.chunk_size - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() == self.chunk_size {
                self.flush_chunk()?;
            }
        }
        Ok(())
    }

    fn describe(&mut self, descriptor: Vec<u8>) {
        self.file.describe(descriptor);
    }

    fn finish(mut self: Box<Self>) -> Result<u64, TierError> {
        self.flush_chunk()?;
        let index_offset = self.file.written();
        let mut index = Vec::with_capacity(self.index.len() * 8);
        for offset in &self.index {
            index.extend_from_slice(&offset.to_le_bytes());
        }
        self.file.write_all(&index)?;
        let footer = Footer2 {
            payload_len: self.payload_len,
            index_offset,
            chunk_count: self.index.len() as u64,
        };
        self.file.write_all(&footer.encode(self.id))?;
        let payload_len = self.payload_len;
        self.file.finish()?;
        Ok(payload_len)
    }
}

pub(super) struct FramedReader<S> {
    id: DataId,
    source: S,
    decoder: FrameDecoder,
    chunk_size: u64,
    payload_len: u64,
    /// Frame offsets, then the index offset (the end of the last frame).
    bounds: Vec<u64>,
    /// The frame being decoded: grown to the largest frame read so far and reused, because
    /// a fresh zeroed buffer per 1 MiB chunk cost a memset and page faults on every chunk.
    frame: Vec<u8>,
}

impl<S: BlobSource> FramedReader<S> {
    pub(super) fn open(
        id: DataId,
        header: &Header,
        keyring: Option<&Arc<Keyring>>,
        mut source: S,
    ) -> Result<Self, TierError> {
        let file_len = source.len();
        let Encoding::Framed { compressed, key_id } = header.encoding else {
            return Err(TierError::corrupt(id, "not a framed blob"));
        };
        if file_len < HEADER_LEN + FOOTER2_LEN {
            return Err(TierError::corrupt(
                id,
                format!("blob is {file_len} bytes, shorter than its framing"),
            ));
        }
        let mut raw_footer = [0u8; FOOTER2_LEN as usize];
        source.read_exact_at(&mut raw_footer, file_len - FOOTER2_LEN)?;
        let footer = Footer2::decode(&raw_footer, id)?;
        let chunk_size = u64::from(header.chunk_size);
        let consistent = footer.chunk_count == footer.payload_len.div_ceil(chunk_size)
            && footer.index_offset >= HEADER_LEN
            && footer
                .index_offset
                .checked_add(footer.chunk_count * 8 + FOOTER2_LEN)
                == Some(file_len);
        if !consistent {
            return Err(TierError::corrupt(
                id,
                "footer does not match the blob's length",
            ));
        }
        let mut raw_index = vec![0u8; usize::try_from(footer.chunk_count * 8).expect("index fits")];
        source.read_exact_at(&mut raw_index, footer.index_offset)?;
        let mut bounds: Vec<u64> = raw_index
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect();
        bounds.push(footer.index_offset);
        if bounds.first().is_some_and(|&first| first != HEADER_LEN)
            || bounds.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(TierError::corrupt(id, "frame index is out of order"));
        }
        Ok(Self {
            id,
            source,
            decoder: FrameDecoder::new(id, compressed, key_id, keyring)?,
            chunk_size,
            payload_len: footer.payload_len,
            bounds,
            frame: Vec::new(),
        })
    }
}

impl<S: BlobSource> DataReader for FramedReader<S> {
    fn len(&self) -> u64 {
        self.payload_len
    }

    fn read_at(&mut self, offset: u64, max: usize) -> Result<Bytes, TierError> {
        if max == 0 {
            return Ok(Bytes::new());
        }
        if offset >= self.payload_len {
            return Err(TierError::OutOfRange {
                id: self.id,
                offset,
                len: self.payload_len,
            });
        }
        let index = offset / self.chunk_size;
        let i = usize::try_from(index).expect("chunk index fits");
        let (start, end) = (self.bounds[i], self.bounds[i + 1]);
        let frame_len = usize::try_from(end - start).expect("frame fits in memory");
        if self.frame.len() < frame_len {
            self.frame.resize(frame_len, 0);
        }
        let frame = &mut self.frame[..frame_len];
        self.source.read_exact_at(frame, start)?;
        let chunk = self.decoder.decode(index, frame)?;
        let expected = self
            .chunk_size
            .min(self.payload_len - index * self.chunk_size);
        if chunk.len() as u64 != expected {
            return Err(TierError::corrupt(
                self.id,
                format!("chunk {index} holds {} bytes, not {expected}", chunk.len()),
            ));
        }
        let from = usize::try_from(offset - index * self.chunk_size).expect("offset within chunk");
        let to = chunk.len().min(from.saturating_add(max));
        Ok(chunk.slice(from..to))
    }
}
