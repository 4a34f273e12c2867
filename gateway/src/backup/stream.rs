//! `std::io` over a tier's blob writer and reader, so a dump streams straight into (and out
//! of) the at-rest format without ever being held whole.

use std::io::{self, Read, Write};

use bytes::Bytes;
use vmgw_tiering::{DataReader, DataWriter, TierError};

fn io_error(e: TierError) -> io::Error {
    io::Error::other(e)
}

/// Writes into a blob; [`TierWrite::finish`] makes it durable.
pub struct TierWrite {
    inner: Box<dyn DataWriter>,
}

impl TierWrite {
    #[must_use]
    pub fn new(inner: Box<dyn DataWriter>) -> Self {
        Self { inner }
    }

    /// Completes the blob. Dropping a `TierWrite` unfinished discards it.
    pub fn finish(self) -> Result<u64, TierError> {
        self.inner.finish()
    }
}

impl Write for TierWrite {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).map_err(io_error)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads a blob from its start, verified chunk by chunk.
pub struct TierRead {
    inner: Box<dyn DataReader>,
    offset: u64,
    pending: Bytes,
}

/// Bytes asked of the reader at a time: one chunk of the at-rest format.
const STEP: usize = 1 << 20;

impl TierRead {
    #[must_use]
    pub fn new(inner: Box<dyn DataReader>) -> Self {
        Self {
            inner,
            offset: 0,
            pending: Bytes::new(),
        }
    }
}

impl Read for TierRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pending.is_empty() {
            if self.offset >= self.inner.len() || buf.is_empty() {
                return Ok(0);
            }
            self.pending = self.inner.read_at(self.offset, STEP).map_err(io_error)?;
            self.offset += self.pending.len() as u64;
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending.split_to(n));
        Ok(n)
    }
}
