//! What `vmgw recover` did, as JSON and as text.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// An object by name; a noncurrent version also by its version id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectName {
    pub bucket: String,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

/// The backup recovery started from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupUsed {
    pub name: String,
    pub created_ms: i64,
    pub vmgw_version: String,
    pub rows: u64,
}

/// A remote blob recovery did not use, kept in the tier's quarantine area.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptBlob {
    pub tier: String,
    pub blob: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryReport {
    pub data_dir: String,
    /// The remote tier backups were read from.
    pub tier: String,
    /// `None`: there was no backup; the namespace was rebuilt from descriptors alone.
    pub backup: Option<BackupUsed>,
    /// Objects of the backup that are whole again (remote or inline).
    pub restored: u64,
    /// Objects rebuilt from remote descriptors (written to or moved to the remote tier after
    /// the backup, or everything without a backup).
    pub rebuilt: Vec<ObjectName>,
    /// Objects whose bytes were on the lost host's local tiers: gone for good.
    pub lost: Vec<ObjectName>,
    /// Objects of the backup whose remote bytes are no longer there (deleted or replaced
    /// after the backup).
    pub gone: Vec<ObjectName>,
    /// Buckets created again from descriptors.
    pub buckets_rebuilt: Vec<String>,
    /// Multipart uploads in progress that could not continue (a part was lost).
    pub uploads_aborted: Vec<ObjectName>,
    /// Remote blobs not used, kept in the quarantine area.
    pub quarantined: Vec<KeptBlob>,
    pub tenants: u64,
    /// Tenants whose access keys could not be restored (no `secrets.key`): give them new
    /// ones with `vmgw key rotate`.
    pub tenant_keys_dropped: Vec<String>,
    /// Where `secrets.key` came from.
    pub secrets_key: String,
    /// Whether generated admin credentials were restored.
    pub admin_credentials_restored: bool,
    /// What could not be brought back, in words.
    pub notes: Vec<String>,
}

fn names(out: &mut String, title: &str, list: &[ObjectName]) {
    let _ = writeln!(out, "{title}: {}", list.len());
    for name in list {
        match &name.version_id {
            Some(id) => {
                let _ = writeln!(out, "  {}/{} (version {id})", name.bucket, name.key);
            }
            None => {
                let _ = writeln!(out, "  {}/{}", name.bucket, name.key);
            }
        }
    }
}

impl RecoveryReport {
    #[must_use]
    pub fn text(&self) -> String {
        let mut out = format!(
            "recovered into {} from remote tier {}\n",
            self.data_dir, self.tier
        );
        match &self.backup {
            Some(b) => {
                let _ = writeln!(
                    out,
                    "backup: {} (taken {} by vmgw {}, {} rows)",
                    b.name,
                    crate::admin::dr::utc(b.created_ms),
                    b.vmgw_version,
                    b.rows
                );
            }
            None => out.push_str("backup: none; the namespace was rebuilt from the remote tier's descriptors alone\n"),
        }
        let _ = writeln!(out, "objects restored from the backup: {}", self.restored);
        names(
            &mut out,
            "objects rebuilt from remote descriptors",
            &self.rebuilt,
        );
        names(
            &mut out,
            "LOST (their data was only on the lost host's local tiers)",
            &self.lost,
        );
        names(
            &mut out,
            "gone (their remote data was deleted after the backup)",
            &self.gone,
        );
        if !self.buckets_rebuilt.is_empty() {
            let _ = writeln!(out, "buckets rebuilt: {}", self.buckets_rebuilt.join(", "));
        }
        if !self.uploads_aborted.is_empty() {
            names(&mut out, "multipart uploads aborted", &self.uploads_aborted);
        }
        if !self.quarantined.is_empty() {
            let _ = writeln!(
                out,
                "remote blobs kept in lost+found: {}",
                self.quarantined.len()
            );
            for kept in &self.quarantined {
                let _ = writeln!(
                    out,
                    "  {}:{} {}/{}: {}",
                    kept.tier,
                    kept.blob,
                    kept.bucket.as_deref().unwrap_or("?"),
                    kept.key.as_deref().unwrap_or("?"),
                    kept.reason
                );
            }
        }
        let _ = writeln!(
            out,
            "tenants: {}; secrets.key: {}",
            self.tenants, self.secrets_key
        );
        if !self.tenant_keys_dropped.is_empty() {
            let _ = writeln!(
                out,
                "tenants without access keys (issue new ones with `vmgw key rotate NAME`): {}",
                self.tenant_keys_dropped.join(", ")
            );
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }
}
