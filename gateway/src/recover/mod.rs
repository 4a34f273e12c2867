//! `vmgw recover --from-remote`: rebuilds a lost host's namespace in a fresh data directory
//! from its remote tier.
//!
//! Offline (no gateway runs on the new directory): with the remote tier's settings and keys
//! from the configuration,
//!
//! 1. the newest metadata backup (see [`crate::backup`]) is fetched and restored into a new
//!    metadata store, with the host secrets it carries (`secrets.key`, generated admin
//!    credentials) or the `--secrets-key` given;
//! 2. the store is reconciled with what the remote tier actually holds ([`plan`]): objects
//!    whose bytes were on the lost host's local tiers are lost and dropped (listed by name),
//!    objects whose remote bytes are gone are dropped, and remote blobs the backup does not
//!    know are rebuilt into objects from their descriptors — with no backup at all, the
//!    whole namespace comes from descriptors, buckets included;
//! 3. usage is counted again and tenants whose secrets cannot be opened lose their keys
//!    (so the gateway starts; `vmgw key rotate` gives them new ones).
//!
//! Every change goes through the store's own writes (deletes, restores), so schedules,
//! usage and blob bookkeeping stay consistent. Remote bytes recovery does not use are kept in
//! the tier's quarantine area, never deleted. The store is built under a temporary name and
//! moved into place last: a failed recovery leaves no half-recovered directory behind.

pub mod plan;
mod reconcile;
pub mod report;
mod versions;

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::runtime::Handle;
use tracing::{info, warn};
use vmgw_tiering::{RemoteTier, TierError};

use crate::auth::sealer::SecretSealer;
use crate::backup::stream::TierRead;
use crate::config::Settings;
use crate::meta::{MetaError, MetaStore, RedbStore};
use report::{BackupUsed, RecoveryReport};

#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error(
        "{0} already holds a metadata store; recover into a fresh data directory (no gateway may run on it)"
    )]
    NotFresh(PathBuf),
    #[error("the configuration has no remote tier (kind = \"s3\") to recover from")]
    NoRemoteTier,
    #[error("no remote tier is named {0:?}")]
    NoSuchTier(String),
    #[error("the remote tier holds no backup named {0:?}")]
    NoSuchBackup(String),
    #[error("remote tier: {0}")]
    Tier(#[from] TierError),
    #[error("metadata store: {0}")]
    Meta(#[from] MetaError),
    #[error("encryption keys: {0}")]
    Keys(String),
    #[error("--secrets-key {path}: {reason}")]
    SecretsKey { path: PathBuf, reason: String },
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("recovery task failed: {0}")]
    Task(String),
}

/// What `vmgw recover` was asked.
#[derive(Debug, Clone, Default)]
pub struct RecoverOptions {
    /// The remote tier holding the backups (default: `[backup] tier`, else the coldest
    /// remote tier).
    pub tier: Option<String>,
    /// A backup by name (default: the newest).
    pub backup: Option<String>,
    /// A copy of the lost host's `secrets.key`, kept off-host: used instead of the one in
    /// the backup (an unsealed backup carries none).
    pub secrets_key: Option<PathBuf>,
}

/// Recovers into `settings.data_dir`. Blocking work runs on the blocking pool.
pub async fn recover(
    settings: &Settings,
    options: RecoverOptions,
) -> Result<RecoveryReport, RecoverError> {
    let settings = settings.clone();
    let handle = Handle::current();
    tokio::task::spawn_blocking(move || run(&settings, &options, &handle))
        .await
        .map_err(|e| RecoverError::Task(e.to_string()))?
}

fn write_private(path: &Path, text: &str) -> Result<(), RecoverError> {
    crate::atomic_file::write_atomic(path, text.as_bytes(), 0o600).map_err(|(action, e)| {
        RecoverError::Write {
            path: path.to_owned(),
            reason: format!("{action}: {e}"),
        }
    })
}

/// The remote tiers of the configuration, opened directly (no cache, no metering).
fn open_remotes(settings: &Settings) -> Result<Vec<(String, Arc<RemoteTier>)>, RecoverError> {
    let keyring = match &settings.keys {
        Some(keys) => Some(Arc::new(
            vmgw_tiering::Keyring::new(keys.active, keys.keys.iter().cloned())
                .map_err(|e| RecoverError::Keys(e.to_string()))?,
        )),
        None => None,
    };
    let mut out = Vec::new();
    for tier in &settings.tiers {
        let Some(remote) = &tier.remote else { continue };
        let codec = vmgw_tiering::CodecOptions {
            zstd_level: tier.compression,
            keyring: keyring.clone().filter(|_| tier.encrypt),
        };
        // Offline: the request metrics go nowhere.
        let opened = crate::app::open_remote(
            &tier.name,
            &tier.path,
            remote,
            codec,
            &crate::metrics::RemoteMetrics::default(),
        )?;
        out.push((tier.name.clone(), Arc::new(opened)));
    }
    Ok(out)
}

/// A key file's text, checked: 64 hex digits.
fn secrets_key_text(path: &Path) -> Result<String, RecoverError> {
    let bad = |reason: String| RecoverError::SecretsKey {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let hex = text.trim();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("must hold 64 hex digits".into()));
    }
    Ok(format!("{hex}\n"))
}

/// The recovery proper. Blocking; metadata writes go through `handle`.
fn run(
    settings: &Settings,
    options: &RecoverOptions,
    handle: &Handle,
) -> Result<RecoveryReport, RecoverError> {
    let meta_path = settings.metadata_path();
    if meta_path.exists() {
        return Err(RecoverError::NotFresh(settings.data_dir.clone()));
    }
    let meta_dir = meta_path.parent().expect("the metadata path has a parent");
    std::fs::create_dir_all(meta_dir).map_err(|e| RecoverError::Write {
        path: meta_dir.to_owned(),
        reason: e.to_string(),
    })?;
    let remotes = open_remotes(settings)?;
    let tier_name = options
        .tier
        .clone()
        .or_else(|| settings.backup.as_ref().map(|b| b.tier.clone()))
        .or_else(|| remotes.last().map(|(name, _)| name.clone()))
        .ok_or(RecoverError::NoRemoteTier)?;
    let tier = remotes
        .iter()
        .find(|(name, _)| *name == tier_name)
        .map(|(_, t)| Arc::clone(t))
        .ok_or_else(|| RecoverError::NoSuchTier(tier_name.clone()))?;
    let mut report = RecoveryReport {
        data_dir: settings.data_dir.display().to_string(),
        tier: tier_name.clone(),
        ..RecoveryReport::default()
    };

    // 1. The backup, restored into a store under a working name.
    let working = meta_path.with_extension("recovering");
    let _ = std::fs::remove_file(&working);
    let backups = tier.list_backups()?;
    let chosen = match &options.backup {
        Some(name) => Some(
            backups
                .iter()
                .find(|b| b.name.to_string() == *name)
                .ok_or_else(|| RecoverError::NoSuchBackup(name.clone()))?,
        ),
        None => backups.last(),
    };
    let mut host_secrets = None;
    if let Some(chosen) = chosen {
        info!(backup = %chosen.name, "restoring the metadata backup");
        let reader =
            BufReader::with_capacity(1 << 20, TierRead::new(tier.open_backup(&chosen.name)?));
        let (header, stats) = crate::meta::restore(&working, reader)?;
        report.backup = Some(BackupUsed {
            name: chosen.name.to_string(),
            created_ms: header.created_ms,
            vmgw_version: header.vmgw_version.clone(),
            rows: stats.rows,
        });
        host_secrets = header.host_secrets;
    } else {
        warn!("no metadata backup on the remote tier; rebuilding from descriptors alone");
        report.notes.push(
            "there was no backup: tenants, bucket policies, lifecycle rules, quotas and objects kept only in the metadata store (small inline objects) could not be restored"
                .into(),
        );
    }

    // 2. Host secrets.
    let secrets_key = match &options.secrets_key {
        Some(path) => {
            report.secrets_key = format!("from {}", path.display());
            Some(secrets_key_text(path)?)
        }
        None => match host_secrets.as_ref().and_then(|s| s.secrets_key.clone()) {
            Some(text) => {
                report.secrets_key = "restored from the backup".into();
                Some(text)
            }
            None => {
                report.secrets_key = "not available (a new one is made at start)".into();
                None
            }
        },
    };
    if let Some(text) = &secrets_key {
        write_private(&SecretSealer::key_path(&settings.data_dir), text)?;
    }
    if settings.credentials.is_empty()
        && let Some(text) = host_secrets.as_ref().and_then(|s| s.credentials.clone())
    {
        write_private(&crate::credentials::stored_path(&settings.data_dir), &text)?;
        report.admin_credentials_restored = true;
    }

    let store = Arc::new(RedbStore::open(
        &working,
        &crate::app::metadata_options(settings),
    )?);
    let result = reconcile::reconcile(
        settings,
        handle,
        &store,
        &remotes,
        secrets_key.as_deref(),
        &mut report,
    );
    handle.block_on(store.close());
    drop(store);
    result?;
    std::fs::rename(&working, &meta_path).map_err(|e| RecoverError::Write {
        path: meta_path.clone(),
        reason: e.to_string(),
    })?;
    info!(
        lost = report.lost.len(),
        rebuilt = report.rebuilt.len(),
        "recovery finished"
    );
    Ok(report)
}
