//! The S3 client: aws-sdk-s3 configured like the test harness (plain HTTP via
//! `build_http()`, path-style), minus the client-side work that would hide server speed;
//! with `--client raw` (the default) PUT/GET/HEAD and ListObjectsV2 go through [`Raw`]
//! instead, which costs a fraction of the SDK's CPU per request.
//!
//! SDK choices (see the crate's README):
//! * request checksums only when an operation requires them (PUT/UploadPart send no CRC
//!   trailer, so the client does not checksum 64 MiB bodies); responses are not validated;
//! * PUT and UploadPart use `UNSIGNED-PAYLOAD` (`disable_payload_signing`): the SDK would
//!   otherwise SHA-256 every body before sending it (≈ 50 ms of client CPU per 64 MiB);
//! * every worker gets its own client, hence its own connection pool.

use std::sync::Arc;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use crate::error::{BenchError, Result};
use crate::raw::Raw;
use crate::server::{ACCESS_KEY, REGION, SECRET_KEY};

/// A new client for `endpoint` with its own connection pool, signing with this key pair.
#[must_use]
pub fn new_client_as(endpoint: &str, access_key: &str, secret_key: &str) -> Client {
    let http = aws_smithy_http_client::Builder::new().build_http();
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(Credentials::new(
            access_key,
            secret_key,
            None,
            None,
            "vmgw-bench",
        ))
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .http_client(http)
        .build();
    Client::from_conf(config)
}

/// Which client sends the hot-path requests (PUT, GET, HEAD of one object).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientKind {
    /// aws-sdk-s3 for every request.
    Sdk,
    /// hyper + aws-sigv4 for PUT/GET/HEAD; aws-sdk-s3 for the rest.
    Raw,
}

/// The requests of the workloads.
#[derive(Clone)]
pub struct S3 {
    pub client: Client,
    pub bucket: Arc<str>,
    raw: Option<Raw>,
}

impl S3 {
    #[must_use]
    pub fn new(endpoint: &str, bucket: &str, kind: ClientKind) -> Self {
        Self::new_as(endpoint, bucket, kind, ACCESS_KEY, SECRET_KEY)
    }

    /// [`S3::new`] signing with a tenant's key pair.
    #[must_use]
    pub fn new_as(
        endpoint: &str,
        bucket: &str,
        kind: ClientKind,
        access_key: &str,
        secret_key: &str,
    ) -> Self {
        Self {
            client: new_client_as(endpoint, access_key, secret_key),
            bucket: bucket.into(),
            raw: (kind == ClientKind::Raw)
                .then(|| Raw::new_as(endpoint, bucket, access_key, secret_key)),
        }
    }

    pub async fn create_bucket(&self) -> Result<()> {
        self.client
            .create_bucket()
            .bucket(&*self.bucket)
            .send()
            .await
            .map_err(|e| BenchError::s3("CreateBucket", e))?;
        Ok(())
    }

    pub async fn put(&self, key: &str, body: Bytes) -> Result<()> {
        if let Some(raw) = &self.raw {
            return raw.put(key, body).await;
        }
        let len = body.len() as i64;
        self.client
            .put_object()
            .bucket(&*self.bucket)
            .key(key)
            .content_length(len)
            .body(ByteStream::from(body))
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| BenchError::s3("PutObject", e))?;
        Ok(())
    }

    /// Reads the whole body (chunk by chunk, without collecting it) and returns its length.
    pub async fn get(&self, key: &str) -> Result<u64> {
        if let Some(raw) = &self.raw {
            return raw.get(key).await;
        }
        let out = self
            .client
            .get_object()
            .bucket(&*self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| BenchError::s3("GetObject", e))?;
        let mut body = out.body;
        let mut len = 0u64;
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| BenchError::s3("GetObject body", e))?
        {
            len += chunk.len() as u64;
        }
        Ok(len)
    }

    /// Returns the object's length.
    pub async fn head(&self, key: &str) -> Result<u64> {
        if let Some(raw) = &self.raw {
            return raw.head(key).await;
        }
        let out = self
            .client
            .head_object()
            .bucket(&*self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| BenchError::s3("HeadObject", e))?;
        Ok(out.content_length().unwrap_or(0).max(0) as u64)
    }

    /// One ListObjectsV2 page of up to 1000 entries.
    pub async fn list_page(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        token: Option<String>,
    ) -> Result<Page> {
        if let Some(raw) = &self.raw {
            return raw.list_page(prefix, delimiter, token.as_deref()).await;
        }
        let out = self
            .client
            .list_objects_v2()
            .bucket(&*self.bucket)
            .prefix(prefix)
            .set_delimiter(delimiter.map(str::to_owned))
            .max_keys(1000)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| BenchError::s3("ListObjectsV2", e))?;
        Ok(Page {
            keys: out.contents().len() as u64,
            prefixes: out
                .common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_owned))
                .collect(),
            next: out
                .is_truncated()
                .unwrap_or(false)
                .then(|| out.next_continuation_token().map(str::to_owned))
                .flatten(),
        })
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        self.client
            .delete_object()
            .bucket(&*self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| BenchError::s3("DeleteObject", e))?;
        Ok(())
    }
}

/// What one listing page held.
#[derive(Debug)]
pub struct Page {
    pub keys: u64,
    pub prefixes: Vec<String>,
    /// Continuation token when the listing is truncated.
    pub next: Option<String>,
}
