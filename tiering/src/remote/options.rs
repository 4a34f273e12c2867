//! Settings of a remote tier.

use std::path::PathBuf;
use std::time::Duration;

use crate::CodecOptions;
use crate::format;

/// Where a remote tier keeps its blobs and how it talks to the server.
#[derive(Debug, Clone)]
pub struct RemoteTierOptions {
    /// Endpoint URL (`http://127.0.0.1:9000`, `https://minio.example`); `None` uses AWS's
    /// regional endpoint.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    /// Prepended to every blob's key, so one bucket can hold several gateways' tiers.
    pub prefix: String,
    /// Path-style addressing (`endpoint/bucket/key`), which MinIO and most self-hosted
    /// servers need; AWS prefers virtual-host style.
    pub path_style: bool,
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
    pub chunk_size: u32,
    /// Compression and sealing, exactly as on a local tier.
    pub codec: CodecOptions,
    /// Blobs up to this size are uploaded in one request; larger ones in parts of this size.
    pub part_size: usize,
    /// Parts of one blob in flight at once.
    pub upload_concurrency: usize,
    /// Where blobs are staged until their upload (a local directory; files are unnamed and
    /// vanish with the process).
    pub spool_dir: PathBuf,
    pub connect_timeout: Duration,
    /// Bound on one attempt of one request (a part upload or a window download).
    pub attempt_timeout: Duration,
    /// Attempts per request, the first included; retries back off exponentially with jitter.
    pub max_attempts: u32,
    /// Told about every request (metrics).
    pub observer: Option<std::sync::Arc<dyn super::RequestObserver>>,
}

impl RemoteTierOptions {
    /// Options with the defaults for everything but the location and credentials.
    #[must_use]
    pub fn new(bucket: impl Into<String>, spool_dir: impl Into<PathBuf>) -> Self {
        Self {
            endpoint: None,
            region: "us-east-1".into(),
            bucket: bucket.into(),
            prefix: String::new(),
            path_style: false,
            access_key: String::new(),
            secret_key: String::new(),
            session_token: None,
            chunk_size: format::DEFAULT_CHUNK_SIZE,
            codec: CodecOptions::default(),
            part_size: 8 << 20,
            upload_concurrency: 4,
            spool_dir: spool_dir.into(),
            connect_timeout: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(60),
            max_attempts: 3,
            observer: None,
        }
    }
}
