//! The admin API: JSON over HTTP/1.1 on a Unix socket in the data directory, and optionally
//! over HTTPS (`[admin] listen`).
//!
//! A Unix socket with mode 0600 means only the gateway's own user (and root) can reach it,
//! with no credentials to manage. The HTTPS listener serves remote administration; every
//! request there carries an admin key pair ([`basic_auth`]). The `vmgw` subcommands
//! (`tier ls`, `vm add`, …) are its client, on the socket unless given `--admin-url`. Routes:
//!
//! - `GET /v1/tiers` → `[TierStatus]`
//! - `POST /v1/objects/where` `{bucket, key}` → `ObjectPlacement`
//! - `POST /v1/objects/move` `{bucket, key, tier, storage_class?, queue?}` → `MoveResponse`;
//!   with `queue`, the move runs in the background and is retried while the tier is down
//! - `GET /v1/moves` → `[QueuedMove]` waiting in the background queue
//! - `GET /v1/lifecycle[?bucket=NAME]` → `LifecycleStatus`: the lifecycle worker's figures
//! - `GET /v1/tenants` → `[TenantSummary]`
//! - `POST /v1/tenants` `{name, bucket?}` → `GuestAccess`: a new tenant, its key and bucket
//! - `POST /v1/tenants/rotate` `{name}` → `GuestAccess` with the new key (old keys revoked)
//! - `POST /v1/tenants/remove` `{name, purge}` → `Removal`
//! - `POST /v1/tenants/limits` `{name, limits: {requests_per_sec?, bytes_per_sec?}}` → `{}`
//! - `POST /v1/tenants/certs` `{name, fingerprint, allow}` → `{}`: lets a client certificate
//!   (its SHA-256 fingerprint) act as the tenant over mTLS, or stops it
//! - `POST /v1/reload` → `ReloadReport`: reads the configuration again (as SIGHUP does);
//!   409 `{"error"}` when it is refused (a setting needs a restart) or invalid
//! - `GET /metrics` (OpenMetrics text), `GET /healthz`, `GET /readyz`: see [`crate::metrics`]
//! - `POST /v1/tenants/quota` `{tenant | bucket, quota: {max_bytes?, max_objects?}}` → `{}`
//! - `POST /v1/fsck` `{deep, repair}` → `FsckReport` (see `objects::fsck`)
//! - `GET /v1/backups` → `[BackupInfo]`; `POST /v1/backups` → `BackupInfo`: a metadata
//!   backup taken now (see [`crate::backup`])
//!
//! Errors are `{"error": "..."}` with a 4xx or 5xx status.

pub mod basic_auth;
pub mod client;
pub mod commands;
pub mod dr;
mod dr_routes;
pub mod guest_config;
pub mod lifecycle;
pub mod requests;
mod server;
mod tenant_routes;
pub mod vm;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub(crate) use server::accept_until;
pub use server::{AdminApi, HttpsListener, bind, serve};

use crate::auth::client_cert::Fingerprint;
use crate::auth::tenants::Tenants;
use crate::meta::{Quota, RateLimits};

/// What the admin API needs to onboard guests.
pub struct Guests {
    pub tenants: Arc<Tenants>,
    /// `http://ADDR` of every S3 listener; the first is the default endpoint handed out.
    pub endpoints: Vec<String>,
    pub region: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddTenantRequest {
    pub name: String,
    #[serde(default)]
    pub bucket: Option<String>,
    #[serde(default)]
    pub quota: Quota,
    #[serde(default)]
    pub limits: RateLimits,
    /// Client certificates that act as the tenant.
    #[serde(default)]
    pub client_certs: Vec<Fingerprint>,
}

/// Binds a client certificate to a tenant (`allow`) or unbinds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertRequest {
    pub name: String,
    pub fingerprint: Fingerprint,
    pub allow: bool,
}

/// Sets a tenant's request-rate and bandwidth limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LimitsRequest {
    pub name: String,
    pub limits: RateLimits,
}

/// Sets the quota of a tenant or of a bucket (exactly one of them).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuotaRequest {
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub bucket: Option<String>,
    pub quota: Quota,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantName {
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoveTenantRequest {
    pub name: String,
    #[serde(default)]
    pub purge: bool,
}

/// Everything a guest needs to reach its storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestAccess {
    pub tenant: String,
    pub access_key: String,
    pub secret_key: String,
    /// The tenant's (first) bucket, if it has one.
    pub bucket: Option<String>,
    pub endpoint: String,
    pub region: String,
}

/// The admin socket of a data directory.
#[must_use]
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin.sock")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MoveRequest {
    pub bucket: String,
    pub key: String,
    pub tier: String,
    #[serde(default)]
    pub storage_class: Option<String>,
    /// Queue the move instead of running it now.
    #[serde(default)]
    pub queue: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveResponse {
    /// `moved`, `already-there`, `abandoned` (the object changed during the move) or
    /// `queued`.
    pub outcome: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: String,
}
