//! Backups of the gateway's metadata, kept in a reserved area of the tier's bucket
//! (`<prefix>vmgw-backups/`) beside the blobs.
//!
//! A backup is stored in exactly the at-rest format of the tier's blobs — checksummed
//! chunks, sealed with the tier's keyring when the tier seals — so it is as safe from the
//! remote server as the data it describes, and every byte is verified when it is read back.
//! It is always compressed (a metadata dump shrinks several times), whatever the tier's own
//! setting. The format binds every chunk to a blob id; a backup's id is part of its name, so
//! a chunk cannot be swapped in from another backup either.
//!
//! Names are `<creation time in ms, 16 digits>-<id>`: they sort by age in a listing.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use super::{BACKUP_AREA, RemoteTier, client, fetch, spool};
use crate::{CodecOptions, DataId, DataReader, DataWriter, TierError, blob};

/// zstd level for backups when the tier itself does not compress: zstd's default, which
/// shrinks MessagePack records several times at a few hundred MB/s.
const BACKUP_ZSTD_LEVEL: i32 = 3;

/// The name of one backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BackupName {
    /// When the backup was taken, ms since the epoch.
    pub created_ms: u64,
    /// The id its chunks are bound to.
    pub id: DataId,
}

impl BackupName {
    /// A fresh name for a backup taken at `created_ms`.
    #[must_use]
    pub fn new(created_ms: u64) -> Self {
        Self {
            created_ms,
            id: DataId::random(),
        }
    }
}

impl fmt::Display for BackupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016}-{}", self.created_ms, self.id)
    }
}

/// Error for a string that is not a backup name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a backup name: {0:?} (expected 16 digits, '-', 32 hex digits)")]
pub struct ParseBackupNameError(String);

impl FromStr for BackupName {
    type Err = ParseBackupNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseBackupNameError(s.to_owned());
        let (time, id) = s.split_once('-').ok_or_else(bad)?;
        if time.len() != 16 || !time.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        Ok(Self {
            created_ms: time.parse().map_err(|_| bad())?,
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

/// A backup as listed: its name and stored size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBackup {
    pub name: BackupName,
    pub stored_bytes: u64,
}

impl RemoteTier {
    /// Whether the tier seals what it stores (so a backup written to it is sealed too).
    #[must_use]
    pub fn seals(&self) -> bool {
        self.remote.options.codec.keyring.is_some()
    }

    fn backup_key(&self, name: &BackupName) -> String {
        format!("{}{BACKUP_AREA}{name}", self.remote.options.prefix)
    }

    /// Starts writing a backup. Nothing is visible under `name` until the writer finishes;
    /// dropping it unfinished uploads nothing.
    pub fn create_backup(&self, name: &BackupName) -> Result<Box<dyn DataWriter>, TierError> {
        let options = &self.remote.options;
        let codec = CodecOptions {
            zstd_level: Some(options.codec.zstd_level.unwrap_or(BACKUP_ZSTD_LEVEL)),
            keyring: options.codec.keyring.clone(),
        };
        let sink = spool::SpoolSink::new(Arc::clone(&self.remote), name.id, self.backup_key(name));
        blob::create(name.id, sink, options.chunk_size, &codec)
    }

    /// Opens a backup for verified reads.
    pub fn open_backup(&self, name: &BackupName) -> Result<Box<dyn DataReader>, TierError> {
        let source =
            fetch::RangeSource::open(Arc::clone(&self.remote), name.id, self.backup_key(name))?;
        blob::open(name.id, source, self.remote.options.codec.keyring.as_ref())
    }

    /// Every backup in the area, oldest first. Objects there with other names are ignored.
    pub fn list_backups(&self) -> Result<Vec<StoredBackup>, TierError> {
        let remote = &self.remote;
        let area = format!("{}{BACKUP_AREA}", remote.options.prefix);
        let mut out = Vec::new();
        remote.block_on(remote.list_under(&area, &mut |key, size| {
            if let Some(Ok(name)) = key.strip_prefix(&area).map(str::parse::<BackupName>) {
                out.push(StoredBackup {
                    name,
                    stored_bytes: size,
                });
            }
        }))?;
        out.sort_by_key(|b| b.name);
        Ok(out)
    }

    /// Deletes a backup (absent ones included, so retention can be retried).
    pub fn remove_backup(&self, name: &BackupName) -> Result<(), TierError> {
        let remote = &self.remote;
        let key = self.backup_key(name);
        remote.block_on(async {
            remote
                .client
                .delete_object()
                .bucket(&remote.options.bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| client::classify(&remote.name, None, &e))?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_by_age() {
        let older = BackupName::new(1_700_000_000_000);
        let newer = BackupName::new(1_700_000_000_001);
        let text = older.to_string();
        assert_eq!(text.len(), 16 + 1 + 32);
        assert_eq!(text.parse::<BackupName>().unwrap(), older);
        assert!(older < newer && older.to_string() < newer.to_string());
        for bad in [
            "",
            "123-abc",
            "1700000000000-0011",
            &format!("x{}", &text[1..]),
        ] {
            assert!(bad.parse::<BackupName>().is_err(), "{bad:?}");
        }
    }
}
