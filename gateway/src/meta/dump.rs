//! A portable dump of the metadata store: what a metadata backup holds.
//!
//! ```text
//! dump    magic "VMGWDUMP" | header | (table | row*)* | end
//! header  DumpHeader (MessagePack map)
//! table   Frame::Table { name }              starts the rows of one table
//! row     Frame::Row { key, value }          one entry, in the table's own key order
//! end     Frame::End { tables, rows }        counts of everything before it
//! ```
//!
//! Keys and values are the bytes redb itself stores for each table's types (fixed-width
//! little-endian integers, UTF-8 strings, raw bytes; the records inside are MessagePack with
//! named fields), so a dump is independent of redb's page layout and file format: restoring
//! it builds a fresh, compact store. A stream is read row by row and never held whole; the
//! end frame's counts prove that nothing was cut off, whatever carried the bytes.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

pub const DUMP_MAGIC: &[u8; 8] = b"VMGWDUMP";
/// Version of the dump layout; a reader refuses dumps newer than it understands.
pub const DUMP_FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error("not a vmgw metadata dump (bad magic)")]
    NotADump,
    #[error("the dump is of format {0}, newer than this vmgw understands ({DUMP_FORMAT})")]
    TooNew(u32),
    #[error("the dump is damaged: {0}")]
    Damaged(String),
    #[error("the dump ends before its end frame (truncated)")]
    Truncated,
    #[error("I/O error in the dump: {0}")]
    Io(#[from] std::io::Error),
}

/// What a dump says about itself.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DumpHeader {
    pub format: u32,
    /// When the snapshot was taken, ms since the epoch.
    pub created_ms: i64,
    /// The vmgw version that took it.
    pub vmgw_version: String,
    /// The host's own secrets, when the backup carries them (see `backup::secrets`).
    #[serde(default)]
    pub host_secrets: Option<HostSecrets>,
}

impl std::fmt::Debug for DumpHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DumpHeader")
            .field("format", &self.format)
            .field("created_ms", &self.created_ms)
            .field("vmgw_version", &self.vmgw_version)
            .field("host_secrets", &self.host_secrets.is_some())
            .finish()
    }
}

/// Files of the data directory that the metadata store needs but does not hold: the key
/// that seals tenants' secrets and the generated admin credentials. A host that died lost
/// them too.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSecrets {
    /// The text of `secrets.key`.
    #[serde(default)]
    pub secrets_key: Option<String>,
    /// The text of `credentials.toml`.
    #[serde(default)]
    pub credentials: Option<String>,
}

impl std::fmt::Debug for HostSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print them.
        f.debug_struct("HostSecrets")
            .field("secrets_key", &self.secrets_key.is_some())
            .field("credentials", &self.credentials.is_some())
            .finish()
    }
}

#[derive(Debug, Serialize, Deserialize)]
enum Frame {
    Table {
        name: String,
    },
    Row {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
    End {
        tables: u32,
        rows: u64,
    },
}

/// How much a dump holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DumpStats {
    pub tables: u32,
    pub rows: u64,
}

/// Serialising these frames cannot fail but for the sink: every error is the sink's I/O.
fn encode_error(e: rmp_serde::encode::Error) -> DumpError {
    DumpError::Io(std::io::Error::other(e.to_string()))
}

/// Writes a dump, table by table.
pub struct DumpWriter<W: Write> {
    out: W,
    stats: DumpStats,
}

impl<W: Write> DumpWriter<W> {
    pub fn new(mut out: W, header: &DumpHeader) -> Result<Self, DumpError> {
        out.write_all(DUMP_MAGIC)?;
        rmp_serde::encode::write_named(&mut out, header).map_err(encode_error)?;
        Ok(Self {
            out,
            stats: DumpStats::default(),
        })
    }

    fn frame(&mut self, frame: &Frame) -> Result<(), DumpError> {
        rmp_serde::encode::write(&mut self.out, frame).map_err(encode_error)
    }

    /// Starts the rows of table `name`.
    pub fn table(&mut self, name: &str) -> Result<(), DumpError> {
        self.stats.tables += 1;
        self.frame(&Frame::Table {
            name: name.to_owned(),
        })
    }

    pub fn row(&mut self, key: &[u8], value: &[u8]) -> Result<(), DumpError> {
        self.stats.rows += 1;
        self.frame(&Frame::Row {
            key: key.to_vec(),
            value: value.to_vec(),
        })
    }

    /// Writes the end frame; returns the sink and what was written.
    pub fn finish(mut self) -> Result<(W, DumpStats), DumpError> {
        let stats = self.stats;
        self.frame(&Frame::End {
            tables: stats.tables,
            rows: stats.rows,
        })?;
        self.out.flush()?;
        Ok((self.out, stats))
    }
}

/// One item of a dump, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum DumpItem {
    Table(String),
    Row { key: Vec<u8>, value: Vec<u8> },
}

/// Reads a dump item by item.
pub struct DumpReader<R: Read> {
    input: R,
    header: DumpHeader,
    seen: DumpStats,
    ended: bool,
}

fn decode_error(e: rmp_serde::decode::Error) -> DumpError {
    match e {
        rmp_serde::decode::Error::InvalidMarkerRead(e)
        | rmp_serde::decode::Error::InvalidDataRead(e)
            if e.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            DumpError::Truncated
        }
        rmp_serde::decode::Error::InvalidMarkerRead(e)
        | rmp_serde::decode::Error::InvalidDataRead(e) => DumpError::Io(e),
        other => DumpError::Damaged(other.to_string()),
    }
}

impl<R: Read> DumpReader<R> {
    /// Reads and checks the magic and the header.
    pub fn new(mut input: R) -> Result<Self, DumpError> {
        let mut magic = [0u8; 8];
        input.read_exact(&mut magic).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => DumpError::NotADump,
            _ => DumpError::Io(e),
        })?;
        if &magic != DUMP_MAGIC {
            return Err(DumpError::NotADump);
        }
        let header: DumpHeader = rmp_serde::decode::from_read(&mut input).map_err(decode_error)?;
        if header.format > DUMP_FORMAT {
            return Err(DumpError::TooNew(header.format));
        }
        Ok(Self {
            input,
            header,
            seen: DumpStats::default(),
            ended: false,
        })
    }

    #[must_use]
    pub fn header(&self) -> &DumpHeader {
        &self.header
    }

    /// The next item; `None` after the end frame, whose counts must match what was read.
    pub fn next_item(&mut self) -> Result<Option<DumpItem>, DumpError> {
        if self.ended {
            return Ok(None);
        }
        let frame: Frame = rmp_serde::decode::from_read(&mut self.input).map_err(decode_error)?;
        match frame {
            Frame::Table { name } => {
                self.seen.tables += 1;
                Ok(Some(DumpItem::Table(name)))
            }
            Frame::Row { key, value } => {
                if self.seen.tables == 0 {
                    return Err(DumpError::Damaged("a row before any table".into()));
                }
                self.seen.rows += 1;
                Ok(Some(DumpItem::Row { key, value }))
            }
            Frame::End { tables, rows } => {
                if (tables, rows) != (self.seen.tables, self.seen.rows) {
                    return Err(DumpError::Damaged(format!(
                        "the end frame counts {tables} tables and {rows} rows, the dump held {} and {}",
                        self.seen.tables, self.seen.rows
                    )));
                }
                self.ended = true;
                Ok(None)
            }
        }
    }

    /// What was read so far.
    #[must_use]
    pub fn stats(&self) -> DumpStats {
        self.seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> DumpHeader {
        DumpHeader {
            format: DUMP_FORMAT,
            created_ms: 1_700_000_000_000,
            vmgw_version: "0.1.0".into(),
            host_secrets: Some(HostSecrets {
                secrets_key: Some("ab".repeat(32)),
                credentials: None,
            }),
        }
    }

    fn sample() -> Vec<u8> {
        let mut w = DumpWriter::new(Vec::new(), &header()).unwrap();
        w.table("buckets").unwrap();
        w.row(b"b1", &[1, 2, 3]).unwrap();
        w.row(b"b2", &[]).unwrap();
        w.table("empty").unwrap();
        w.table("usage").unwrap();
        w.row(&7u64.to_le_bytes(), &[0; 16]).unwrap();
        let (bytes, stats) = w.finish().unwrap();
        assert_eq!(stats, DumpStats { tables: 3, rows: 3 });
        bytes
    }

    fn read_all(bytes: &[u8]) -> Result<(DumpHeader, Vec<DumpItem>), DumpError> {
        let mut r = DumpReader::new(bytes)?;
        let mut items = Vec::new();
        while let Some(item) = r.next_item()? {
            items.push(item);
        }
        Ok((r.header().clone(), items))
    }

    #[test]
    fn round_trips_item_by_item() {
        let (header_read, items) = read_all(&sample()).unwrap();
        assert_eq!(header_read, header());
        assert_eq!(
            items,
            vec![
                DumpItem::Table("buckets".into()),
                DumpItem::Row {
                    key: b"b1".to_vec(),
                    value: vec![1, 2, 3]
                },
                DumpItem::Row {
                    key: b"b2".to_vec(),
                    value: vec![]
                },
                DumpItem::Table("empty".into()),
                DumpItem::Table("usage".into()),
                DumpItem::Row {
                    key: 7u64.to_le_bytes().to_vec(),
                    value: vec![0; 16]
                },
            ]
        );
        assert!(
            !format!("{:?}", header()).contains("abab"),
            "no secret in Debug"
        );
    }

    #[test]
    fn truncation_damage_and_foreign_bytes_are_refused() {
        let bytes = sample();
        for cut in [bytes.len() - 1, bytes.len() - 10, 30] {
            assert!(
                matches!(
                    read_all(&bytes[..cut]),
                    Err(DumpError::Truncated | DumpError::Damaged(_))
                ),
                "cut at {cut}"
            );
        }
        assert!(matches!(
            read_all(b"PK\x03\x04 zip"),
            Err(DumpError::NotADump)
        ));
        assert!(matches!(read_all(b""), Err(DumpError::NotADump)));
        let mut newer = header();
        newer.format = DUMP_FORMAT + 1;
        let (bytes, _) = DumpWriter::new(Vec::new(), &newer)
            .unwrap()
            .finish()
            .unwrap();
        assert!(matches!(read_all(&bytes), Err(DumpError::TooNew(_))));
        // An end frame that does not match what came before it.
        let mut w = DumpWriter::new(Vec::new(), &header()).unwrap();
        w.table("t").unwrap();
        w.row(b"k", b"v").unwrap();
        w.stats.rows = 5;
        let (bytes, _) = w.finish().unwrap();
        assert!(matches!(read_all(&bytes), Err(DumpError::Damaged(_))));
    }
}
