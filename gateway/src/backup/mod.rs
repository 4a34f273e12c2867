//! Metadata backups: a consistent snapshot of the metadata store, taken online, shipped to
//! the remote tier.
//!
//! A backup is one dump of every table from a single read transaction (see
//! `meta::dump`), streamed through the remote tier's blob writer into its reserved
//! backup area: compressed, checksummed per chunk and sealed with the tier's keyring exactly
//! like the tier's data, and never seen by the orphan sweep, which lists only blobs. The
//! last `keep` backups are kept. With the descriptors every remote blob carries, the newest
//! backup is what `vmgw recover --from-remote` rebuilds a lost host from (see
//! `crate::recover`).
//!
//! What a host needs besides its metadata store: `secrets.key` (it seals tenants'
//! secrets) and `credentials.toml` (a generated admin pair). Both go into sealed backups;
//! an unsealed backup leaves them out unless `[backup] secrets = "always"` (see
//! [`crate::config::SecretsPolicy`]).

pub mod stream;

use std::io::{BufWriter, Write as _};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::{info, warn};
use vmgw_tiering::{BackupName, RemoteTier, TierError};

use crate::auth::sealer::SecretSealer;
use crate::config::{BackupSettings, SecretsPolicy};
use crate::meta::dump::{DUMP_FORMAT, DumpHeader, HostSecrets};
use crate::meta::{MetaError, MetaStore};
use stream::TierWrite;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("the remote tier: {0}")]
    Tier(#[from] TierError),
    #[error("the metadata store: {0}")]
    Meta(#[from] MetaError),
    #[error("cannot read {path}: {source}")]
    HostFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One backup, as `vmgw backup ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupInfo {
    pub name: String,
    pub created_ms: u64,
    pub stored_bytes: u64,
    /// Set for a backup just taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken: Option<Taken>,
}

/// What a backup just taken holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Taken {
    pub tier: String,
    pub tables: u32,
    pub rows: u64,
    /// Sealed with the tier's keyring.
    pub sealed: bool,
    /// Carries `secrets.key` (and `credentials.toml` when there is one).
    pub host_secrets: bool,
}

/// Takes, lists and prunes backups.
pub struct Backups {
    meta: Arc<dyn MetaStore>,
    tier: Arc<RemoteTier>,
    tier_name: String,
    data_dir: PathBuf,
    settings: BackupSettings,
    /// One backup at a time (the schedule and `vmgw backup now`).
    taking: Mutex<()>,
    stats: BackupStats,
}

/// What the metrics report of backups taken since the start.
#[derive(Debug, Default)]
struct BackupStats {
    taken: AtomicU64,
    failed: AtomicU64,
    /// Of the newest backup taken (0: none yet).
    last_created_ms: AtomicU64,
    last_stored_bytes: AtomicU64,
}

/// [`BackupStats`] as read at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupCounts {
    pub taken: u64,
    pub failed: u64,
    /// When the newest backup this process took was created, if any.
    pub last_created_ms: Option<u64>,
    pub last_stored_bytes: u64,
}

fn now_ms() -> u64 {
    crate::objects::now_ms().unsigned_abs()
}

fn read_optional(path: PathBuf) -> Result<Option<String>, BackupError> {
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(BackupError::HostFile { path, source }),
    }
}

impl Backups {
    #[must_use]
    pub fn new(
        meta: Arc<dyn MetaStore>,
        tier: Arc<RemoteTier>,
        data_dir: PathBuf,
        settings: BackupSettings,
    ) -> Self {
        Self {
            meta,
            tier_name: settings.tier.clone(),
            tier,
            data_dir,
            settings,
            taking: Mutex::new(()),
            stats: BackupStats::default(),
        }
    }

    /// Backups taken and failed since the start, for the metrics.
    #[must_use]
    pub fn counts(&self) -> BackupCounts {
        let last = self.stats.last_created_ms.load(Ordering::Relaxed);
        BackupCounts {
            taken: self.stats.taken.load(Ordering::Relaxed),
            failed: self.stats.failed.load(Ordering::Relaxed),
            last_created_ms: (last > 0).then_some(last),
            last_stored_bytes: self.stats.last_stored_bytes.load(Ordering::Relaxed),
        }
    }

    #[must_use]
    pub fn settings(&self) -> &BackupSettings {
        &self.settings
    }

    /// The host secrets this backup carries, by the configured policy.
    fn host_secrets(&self) -> Result<Option<HostSecrets>, BackupError> {
        let include = match self.settings.secrets {
            SecretsPolicy::IfSealed => self.tier.seals(),
            SecretsPolicy::Always => true,
            SecretsPolicy::Never => false,
        };
        if !include {
            return Ok(None);
        }
        Ok(Some(HostSecrets {
            secrets_key: read_optional(SecretSealer::key_path(&self.data_dir))?,
            credentials: read_optional(crate::credentials::stored_path(&self.data_dir))?,
        }))
    }

    /// Takes a backup now and prunes old ones, counting the outcome. Blocking.
    pub fn take(&self) -> Result<BackupInfo, BackupError> {
        let taken = self.take_and_prune();
        match &taken {
            Ok(info) => {
                self.stats.taken.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .last_created_ms
                    .store(info.created_ms, Ordering::Relaxed);
                self.stats
                    .last_stored_bytes
                    .store(info.stored_bytes, Ordering::Relaxed);
            }
            Err(_) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        taken
    }

    fn take_and_prune(&self) -> Result<BackupInfo, BackupError> {
        let _one = self.taking.lock().expect("backup lock");
        let created_ms = now_ms();
        let name = BackupName::new(created_ms);
        let secrets = self.host_secrets()?;
        let header = DumpHeader {
            format: DUMP_FORMAT,
            created_ms: i64::try_from(created_ms).unwrap_or(i64::MAX),
            vmgw_version: env!("CARGO_PKG_VERSION").to_owned(),
            host_secrets: secrets.clone(),
        };
        // Buffered: rows are a few dozen bytes each; the blob writer wants chunks.
        let mut out =
            BufWriter::with_capacity(1 << 20, TierWrite::new(self.tier.create_backup(&name)?));
        let stats = self.meta.dump(&mut out, &header)?;
        out.flush()
            .map_err(|e| MetaError::Storage(format!("writing the backup: {e}")))?;
        let writer = out
            .into_inner()
            .map_err(|e| MetaError::Storage(format!("writing the backup: {}", e.error())))?;
        writer.finish()?;
        let stored_bytes = self
            .tier
            .list_backups()?
            .into_iter()
            .find(|b| b.name == name)
            .map_or(0, |b| b.stored_bytes);
        info!(backup = %name, tier = %self.tier_name, rows = stats.rows, stored_bytes, "metadata backup taken");
        self.prune()?;
        Ok(BackupInfo {
            name: name.to_string(),
            created_ms,
            stored_bytes,
            taken: Some(Taken {
                tier: self.tier_name.clone(),
                tables: stats.tables,
                rows: stats.rows,
                sealed: self.tier.seals(),
                host_secrets: secrets.is_some(),
            }),
        })
    }

    /// Deletes all but the newest `keep` backups.
    fn prune(&self) -> Result<(), BackupError> {
        let listed = self.tier.list_backups()?;
        let excess = listed.len().saturating_sub(self.settings.keep);
        for old in &listed[..excess] {
            self.tier.remove_backup(&old.name)?;
            info!(backup = %old.name, "old metadata backup deleted");
        }
        Ok(())
    }

    /// The backups in the remote tier, oldest first. Blocking.
    pub fn list(&self) -> Result<Vec<BackupInfo>, BackupError> {
        Ok(self
            .tier
            .list_backups()?
            .into_iter()
            .map(|b| BackupInfo {
                name: b.name.to_string(),
                created_ms: b.name.created_ms,
                stored_bytes: b.stored_bytes,
                taken: None,
            })
            .collect())
    }
}

/// After a failed backup (the remote is down), the next try; at most the interval.
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// Takes a backup every `interval` until shutdown. The schedule follows the newest backup in
/// the bucket, so a restart neither takes an extra backup nor skips one.
pub async fn run_backups(
    backups: Arc<Backups>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let retry = RETRY_AFTER.min(interval);
    let newest = {
        let backups = Arc::clone(&backups);
        tokio::task::spawn_blocking(move || backups.list()).await
    };
    let mut wait = match newest {
        Ok(Ok(list)) => list.last().map_or(Duration::ZERO, |b| {
            let age = Duration::from_millis(now_ms().saturating_sub(b.created_ms));
            interval.saturating_sub(age)
        }),
        _ => Duration::ZERO,
    };
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            break;
        }
        let backups = Arc::clone(&backups);
        wait = match tokio::task::spawn_blocking(move || backups.take()).await {
            Ok(Ok(_)) => interval,
            Ok(Err(e)) => {
                warn!(error = %e, "metadata backup failed; will retry");
                retry
            }
            Err(e) => {
                warn!(error = %e, "metadata backup panicked; will retry");
                retry
            }
        };
    }
}
