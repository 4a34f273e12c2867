//! The blob formats (see [`crate::format`]), independent of where the bytes go: a local file
//! or a remote object. Writers append to a [`BlobSink`]; readers fetch byte ranges from a
//! [`BlobSource`]. Both tier kinds therefore store exactly the same bytes, and a blob can be
//! verified the same way wherever it lives.

mod framed;
mod raw;

use std::sync::Arc;

use crate::codec::{CodecOptions, FrameEncoder};
use crate::format::{Encoding, HEADER_LEN, Header};
use crate::keys::Keyring;
use crate::{DataId, DataReader, DataWriter, TierError};

/// Where a blob's bytes are appended, in order.
pub(crate) trait BlobSink: Send + 'static {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TierError>;

    /// Bytes appended so far.
    fn written(&self) -> u64;

    /// Self-description to store alongside the blob (see [`DataWriter::describe`]).
    fn describe(&mut self, _descriptor: Vec<u8>) {}

    /// Makes the blob durable and visible under its id.
    fn finish(self) -> Result<(), TierError>;
}

/// Random access to a stored blob's bytes.
pub(crate) trait BlobSource: Send + 'static {
    /// Total stored length.
    fn len(&self) -> u64;

    /// Fills `buf` from `offset`; fails when the range is not all there.
    fn read_exact_at(&mut self, buf: &mut [u8], offset: u64) -> Result<(), TierError>;
}

/// Starts a blob in the format `codec` calls for: version 1 when plain, else framed.
pub(crate) fn create<S: BlobSink>(
    id: DataId,
    mut sink: S,
    chunk_size: u32,
    codec: &CodecOptions,
) -> Result<Box<dyn DataWriter>, TierError> {
    if codec.is_plain() {
        let header = Header {
            chunk_size,
            id,
            encoding: Encoding::Raw,
        };
        sink.write_all(&header.encode())?;
        return Ok(Box::new(raw::RawWriter::new(id, sink, chunk_size)));
    }
    let encoder = FrameEncoder::new(id, codec)?;
    let header = Header {
        chunk_size,
        id,
        encoding: Encoding::Framed {
            compressed: codec.zstd_level.is_some(),
            key_id: encoder.key_id(),
        },
    };
    sink.write_all(&header.encode())?;
    Ok(Box::new(framed::FramedWriter::new(
        id, sink, encoder, chunk_size,
    )))
}

/// Opens a blob for verified reads, in whatever format its own header names (a tier may have
/// changed its codec since the blob was written).
pub(crate) fn open<S: BlobSource>(
    id: DataId,
    mut source: S,
    keyring: Option<&Arc<Keyring>>,
) -> Result<Box<dyn DataReader>, TierError> {
    let stored_len = source.len();
    if stored_len < HEADER_LEN {
        return Err(TierError::corrupt(
            id,
            format!("blob is {stored_len} bytes, shorter than its header"),
        ));
    }
    let mut raw_header = [0u8; HEADER_LEN as usize];
    source.read_exact_at(&mut raw_header, 0)?;
    let header = Header::decode(&raw_header, id)?;
    Ok(match header.encoding {
        Encoding::Raw => Box::new(raw::RawReader::open(id, &header, source)?),
        Encoding::Framed { .. } => {
            Box::new(framed::FramedReader::open(id, &header, keyring, source)?)
        }
    })
}
