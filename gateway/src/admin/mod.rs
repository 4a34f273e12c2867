//! The admin API: JSON over HTTP/1.1 on a Unix socket in the data directory.
//!
//! A Unix socket with mode 0600 means only the gateway's own user (and root) can reach it,
//! with no credentials to manage; the `vmgw` subcommands (`tier ls`, `tier move`,
//! `object where`) are its client. Routes:
//!
//! - `GET /v1/tiers` → `[TierStatus]`
//! - `POST /v1/objects/where` `{bucket, key}` → `ObjectPlacement`
//! - `POST /v1/objects/move` `{bucket, key, tier, storage_class?, queue?}` → `MoveResponse`;
//!   with `queue`, the move runs in the background and is retried while the tier is down
//! - `GET /v1/moves` → `[QueuedMove]` waiting in the background queue
//! - `GET /v1/lifecycle[?bucket=NAME]` → `LifecycleStatus`: the lifecycle worker's figures
//!
//! Errors are `{"error": "..."}` with a 4xx or 5xx status.

pub mod client;
pub mod commands;
pub mod lifecycle;
pub mod requests;
mod server;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use server::{bind, serve};

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
