//! A client of vmgw's admin API (JSON over HTTP/1.1 on `<data_dir>/admin.sock`).
//!
//! The tier workloads call the API directly rather than through `vmgw tier move`, so that a
//! move's figure is the move and not the start-up of a CLI process. Only the fields the
//! workloads read are decoded; the gateway's answers carry more.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;

use crate::error::{BenchError, Result};

#[derive(Debug, Clone)]
pub struct Admin {
    socket: PathBuf,
}

/// Answer of `POST /v1/objects/move`.
#[derive(Debug, Clone, Deserialize)]
pub struct Moved {
    /// `moved`, `already-there` or `abandoned`.
    pub outcome: String,
    pub bytes: u64,
}

/// Answer of `POST /v1/objects/where`.
#[derive(Debug, Clone, Deserialize)]
pub struct Placement {
    pub size: u64,
    pub inline: bool,
    pub blobs: Vec<BlobPlacement>,
    pub compression_ratio: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BlobPlacement {
    pub tier: String,
}

impl Placement {
    /// Whether every byte of the object is in blobs on `tier`.
    #[must_use]
    pub fn all_on(&self, tier: &str) -> bool {
        !self.inline && !self.blobs.is_empty() && self.blobs.iter().all(|b| b.tier == tier)
    }
}

/// Answer of `GET /v1/lifecycle`.
#[derive(Debug, Clone, Deserialize)]
pub struct LifecycleStatus {
    pub schedule_entries: u64,
    pub action_lag: ActionLag,
    pub buckets: Vec<BucketLifecycle>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ActionLag {
    pub count: u64,
    pub max_ms: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BucketLifecycle {
    pub bucket: String,
    pub backfill_pending: bool,
    pub backfill_reindexed: u64,
    pub expirations: u64,
    pub failures: u64,
}

impl LifecycleStatus {
    /// The figures of `bucket`; an error if the gateway does not list it.
    pub fn bucket(&self, bucket: &str) -> Result<&BucketLifecycle> {
        self.buckets
            .iter()
            .find(|b| b.bucket == bucket)
            .ok_or_else(|| BenchError::Check(format!("no lifecycle status for {bucket}")))
    }
}

impl Admin {
    /// The admin API of the vmgw serving `data_dir`.
    #[must_use]
    pub fn new(data_dir: &Path) -> Self {
        Self {
            socket: data_dir.join("admin.sock"),
        }
    }

    /// Moves the object to `tier`; fails unless it was moved.
    pub async fn move_object(&self, bucket: &str, key: &str, tier: &str) -> Result<Moved> {
        let body = serde_json::json!({ "bucket": bucket, "key": key, "tier": tier });
        let moved: Moved = self.call(Method::POST, "/v1/objects/move", &body).await?;
        if moved.outcome != "moved" {
            return Err(BenchError::Check(format!(
                "moving {bucket}/{key} to {tier}: outcome {:?}, expected \"moved\"",
                moved.outcome
            )));
        }
        Ok(moved)
    }

    pub async fn placement(&self, bucket: &str, key: &str) -> Result<Placement> {
        let body = serde_json::json!({ "bucket": bucket, "key": key });
        self.call(Method::POST, "/v1/objects/where", &body).await
    }

    pub async fn lifecycle_status(&self) -> Result<LifecycleStatus> {
        self.call(Method::GET, "/v1/lifecycle", &serde_json::Value::Null)
            .await
    }

    /// One request on a fresh connection (a connect on a Unix socket costs microseconds).
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &'static str,
        body: &serde_json::Value,
    ) -> Result<T> {
        let err = |message: String| BenchError::Admin { path, message };
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|e| err(format!("connecting to {}: {e}", self.socket.display())))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| err(e.to_string()))?;
        tokio::spawn(connection);
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, "vmgw-admin")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(serde_json::to_vec(body)?)))
            .map_err(|e| err(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| err(e.to_string()))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| err(e.to_string()))?
            .to_bytes();
        if status != StatusCode::OK {
            return Err(err(format!(
                "{status}: {}",
                String::from_utf8_lossy(&bytes)
            )));
        }
        serde_json::from_slice(&bytes).map_err(|e| err(format!("invalid answer: {e}")))
    }
}
