//! Typed errors of the benchmark.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("server binary {path} not found{hint}")]
    MissingBinary { path: PathBuf, hint: String },

    #[error("cannot start {what}: {source}")]
    Spawn {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{what} did not become ready: {reason}; log: {log}")]
    NotReady {
        what: String,
        reason: String,
        log: PathBuf,
    },

    #[error("`cargo install s3s-fs` failed ({0})")]
    Install(String),

    #[error("reading /proc for pid {pid}: {source}")]
    Proc {
        pid: u32,
        #[source]
        source: std::io::Error,
    },

    #[error("S3 {op} failed: {message}")]
    S3 { op: &'static str, message: String },

    #[error("admin API {path} failed: {message}")]
    Admin { path: &'static str, message: String },

    #[error("tier: {0}")]
    Tier(#[from] vmgw_tiering::TierError),

    #[error("encryption key: {0}")]
    Key(#[from] vmgw_tiering::KeyError),

    #[error("{0}")]
    Check(String),

    /// A failure on a server a workload started itself, with the end of that server's log
    /// (the suite's own server gets its log attached by `main`).
    #[error("{source}\n{what} log tail:\n{log}")]
    WithLog {
        #[source]
        source: Box<BenchError>,
        what: String,
        log: String,
    },

    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),

    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl BenchError {
    /// Wraps an SDK error, keeping its full chain (the SDK's `Display` alone is terse).
    pub fn s3(op: &'static str, err: impl std::error::Error) -> Self {
        let mut message = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self::S3 { op, message }
    }
}

pub type Result<T, E = BenchError> = std::result::Result<T, E>;
