//! [`ObjectClient`]: one method per S3 request the mount makes.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Region, RequestChecksumCalculation};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, MetadataDirective};
use aws_smithy_http_client::tls;
use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use super::error::{classify, is_unparsed_success};
use super::features::{self, FeatureSniffer};
use super::list_metadata::{self, RawBody};
use super::{Capabilities, MAX_SINGLE_PUT, S3Error};

/// The most a ranged GET reserves up front (read-ahead parts are 8 MiB).
const MAX_PREALLOCATE: usize = 16 << 20;

/// An access key pair (and session token, for temporary credentials).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    // The secret never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct S3Config {
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    /// Path-style requests (`endpoint/bucket/key`): what vmgw, MinIO and moto expect.
    pub path_style: bool,
    pub credentials: Credentials,
}

/// What HEAD says about one object.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    pub size: u64,
    /// Seconds since the epoch.
    pub last_modified: i64,
    /// User metadata, names without `x-amz-meta-`.
    pub metadata: Vec<(String, String)>,
}

/// One object of a listing page.
#[derive(Debug, Clone)]
pub struct ListedObject {
    pub key: String,
    pub size: u64,
    pub last_modified: i64,
    /// User metadata (as [`ObjectInfo::metadata`]) when the listing carried it (a server
    /// announcing `list-metadata`); `None` means unknown, not empty.
    pub metadata: Option<Vec<(String, String)>>,
}

/// What one listing request asks for.
#[derive(Debug, Clone, Default)]
pub struct ListRequest<'a> {
    pub prefix: &'a str,
    /// Group deeper keys into common prefixes (a directory listing), else every key below
    /// comes (a recursive walk).
    pub delimited: bool,
    pub token: Option<String>,
    /// Only keys after this one.
    pub start_after: Option<String>,
    pub max_keys: Option<i32>,
}

#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub objects: Vec<ListedObject>,
    /// Common prefixes (with their trailing `/`) when the listing was delimited.
    pub prefixes: Vec<String>,
    pub next_token: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ObjectClient {
    client: aws_sdk_s3::Client,
    bucket: String,
    capabilities: Capabilities,
}

/// Part size of server-side multipart copies: large enough to keep the part count low for
/// multi-GiB objects, and a multiple of 1 MiB as some servers prefer.
const COPY_PART: u64 = 512 << 20;

impl ObjectClient {
    #[must_use]
    pub fn new(config: &S3Config) -> Self {
        // A plain-HTTP endpoint (a gateway on the host bridge) gets a client without TLS:
        // the TLS one loads the system's root certificates and panics when there are none,
        // as in a minimal guest. TLS endpoints: rustls with ring, the workspace's stack.
        let http = if config.endpoint.starts_with("http://") {
            aws_smithy_http_client::Builder::new().build_http()
        } else {
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https()
        };
        let sdk = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .endpoint_url(&config.endpoint)
            .force_path_style(config.path_style)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                config.credentials.access_key.clone(),
                config.credentials.secret_key.clone(),
                config.credentials.session_token.clone(),
                None,
                "vmgw-mount",
            ))
            // Flexible checksums only where S3 demands them: older servers and moto reject
            // or mishandle the trailing-checksum encoding the SDK uses by default.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(4)
                    .with_initial_backoff(Duration::from_millis(100)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    // Generous: one attempt may carry a 64 MiB part over a slow link.
                    .operation_attempt_timeout(Duration::from_secs(300))
                    .build(),
            )
            .http_client(http)
            .build();
        Self {
            client: aws_sdk_s3::Client::from_conf(sdk),
            bucket: config.bucket.clone(),
            capabilities: Capabilities::default(),
        }
    }

    #[must_use]
    pub fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    /// Checks that the bucket exists and the credentials may use it, before mounting, and
    /// learns from the answer which of vmgw's fast paths the server offers.
    pub async fn check_bucket(&mut self) -> Result<(), S3Error> {
        let sniffer = FeatureSniffer::default();
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .customize()
            .interceptor(sniffer.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| match classify(e) {
                // HEAD answers carry no error code: name the likely cause.
                S3Error::NotFound => S3Error::Service {
                    status: 404,
                    code: "NoSuchBucket".into(),
                    message: "the bucket does not exist".into(),
                },
                other => other,
            })?;
        let announced = sniffer.0.lock().expect("feature sniffer lock").clone();
        self.capabilities = features::capabilities(announced.as_deref());
        tracing::debug!(capabilities = ?self.capabilities, "server features");
        Ok(())
    }

    pub async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, S3Error> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectInfo {
                size: out.content_length().map_or(0, |n| n.max(0).cast_unsigned()),
                last_modified: out.last_modified().map_or(0, |t| t.secs()),
                metadata: out
                    .metadata()
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
            })),
            Err(e) => match classify(e) {
                S3Error::NotFound => Ok(None),
                other => Err(other),
            },
        }
    }

    /// Bytes `[start, start + len)` of an object (fewer at its end).
    pub async fn get_range(&self, key: &str, start: u64, len: u64) -> Result<Bytes, S3Error> {
        if len == 0 {
            return Ok(Bytes::new());
        }
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes={start}-{}", start + len - 1))
            .send()
            .await
            .map_err(classify)?;
        // Into one buffer of the expected size as chunks arrive: collecting the body and
        // then joining its chunks held every part twice at its peak.
        let capacity = usize::try_from(len)
            .unwrap_or(usize::MAX)
            .min(MAX_PREALLOCATE);
        let mut data = bytes::BytesMut::with_capacity(capacity);
        let mut body = out.body;
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| S3Error::Body(e.to_string()))?
        {
            data.extend_from_slice(&chunk);
        }
        Ok(data.freeze())
    }

    /// Streams a whole object into `file` (from its current position); returns the length.
    /// The body goes through in chunks, so a large object never sits in memory.
    pub async fn get_to_file(&self, key: &str, file: &mut tokio::fs::File) -> Result<u64, S3Error> {
        let mut out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(classify)?;
        let mut total = 0u64;
        while let Some(chunk) = out
            .body
            .try_next()
            .await
            .map_err(|e| S3Error::Body(e.to_string()))?
        {
            file.write_all(&chunk).await?;
            total += chunk.len() as u64;
        }
        file.flush().await?;
        Ok(total)
    }

    pub async fn put(
        &self,
        key: &str,
        body: Bytes,
        metadata: HashMap<String, String>,
    ) -> Result<(), S3Error> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .set_metadata(Some(metadata))
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }

    /// One page of a listing. Where the server announced `list-metadata`, the page carries
    /// every object's user metadata too (one request instead of a HEAD per object).
    pub async fn list(&self, query: &ListRequest<'_>) -> Result<ListPage, S3Error> {
        let mut request = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(query.prefix)
            .set_continuation_token(query.token.clone())
            .set_start_after(query.start_after.clone())
            .set_max_keys(query.max_keys);
        if query.delimited {
            request = request.delimiter("/");
        }
        let with_metadata = self.capabilities.list_metadata;
        let raw = RawBody::default();
        let out = if with_metadata {
            request
                .customize()
                .mutate_request(list_metadata::ask_for_metadata)
                .interceptor(raw.clone())
                .send()
                .await
        } else {
            request.send().await
        }
        .map_err(classify)?;
        let mut metadata = match raw.take() {
            Some(body) => list_metadata::parse(&body)?,
            None => {
                if with_metadata {
                    tracing::debug!("listing body not kept; attributes come from HEAD");
                }
                list_metadata::MetadataByKey::new()
            }
        };
        let next_token = if out.is_truncated().unwrap_or(false) {
            out.next_continuation_token().map(str::to_owned)
        } else {
            None
        };
        Ok(ListPage {
            objects: out
                .contents()
                .iter()
                .map(|o| {
                    let key = o.key().unwrap_or_default().to_owned();
                    ListedObject {
                        metadata: metadata.remove(&key),
                        key,
                        size: o.size().map_or(0, |n| n.max(0).cast_unsigned()),
                        last_modified: o.last_modified().map_or(0, |t| t.secs()),
                    }
                })
                .collect(),
            prefixes: out
                .common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_owned))
                .collect(),
            next_token,
        })
    }

    /// Appends `body` to the object, whose size on the server must be `offset` (vmgw's
    /// write-offset PutObject: the body becomes one more part, nothing before it is sent
    /// again). Returns the object's new size. Refused unless the server announced it: a
    /// server that ignored the header would replace the object with `body`.
    pub async fn append(&self, key: &str, offset: u64, body: Bytes) -> Result<u64, S3Error> {
        if !self.capabilities.append {
            return Err(S3Error::Unsupported("write-offset appends"));
        }
        let len = body.len() as u64;
        let out = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .write_offset_bytes(i64::try_from(offset).unwrap_or(i64::MAX))
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(classify)?;
        Ok(out
            .size()
            .map_or(offset + len, |n| n.max(0).cast_unsigned()))
    }

    /// Server-side copy of `from` (of `size` bytes) to `to`. With `metadata`, the copy gets
    /// it instead of the source's (how chmod and utimens rewrite attributes in place).
    /// Objects over 5 GiB are copied part by part.
    pub async fn copy(
        &self,
        from: &str,
        to: &str,
        size: u64,
        metadata: Option<HashMap<String, String>>,
    ) -> Result<(), S3Error> {
        if size > MAX_SINGLE_PUT {
            return self.copy_multipart(from, to, size, metadata).await;
        }
        let mut request = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(copy_source(&self.bucket, from));
        if let Some(metadata) = metadata {
            request = request
                .metadata_directive(MetadataDirective::Replace)
                .set_metadata(Some(metadata));
        }
        request.send().await.map(|_| ()).map_err(classify)
    }

    async fn copy_multipart(
        &self,
        from: &str,
        to: &str,
        size: u64,
        metadata: Option<HashMap<String, String>>,
    ) -> Result<(), S3Error> {
        let metadata = match metadata {
            Some(m) => m,
            None => self
                .head(from)
                .await?
                .ok_or(S3Error::NotFound)?
                .metadata
                .into_iter()
                .collect(),
        };
        let upload = self.create_multipart(to, metadata).await?;
        let result = async {
            let mut parts = Vec::new();
            let mut start = 0u64;
            let mut number = 1i32;
            while start < size {
                let end = (start + COPY_PART).min(size);
                let out = self
                    .client
                    .upload_part_copy()
                    .bucket(&self.bucket)
                    .key(to)
                    .upload_id(&upload)
                    .part_number(number)
                    .copy_source(copy_source(&self.bucket, from))
                    .copy_source_range(format!("bytes={start}-{}", end - 1))
                    .send()
                    .await
                    .map_err(classify)?;
                let etag = out
                    .copy_part_result()
                    .and_then(|r| r.e_tag())
                    .unwrap_or_default()
                    .to_owned();
                parts.push((number, etag));
                start = end;
                number += 1;
            }
            self.complete_multipart(to, &upload, parts).await
        }
        .await;
        if result.is_err() {
            self.abort_multipart(to, &upload).await;
        }
        result
    }

    /// Moves one object of `size` bytes, replacing `to`. Plain S3 has no rename: a copy
    /// then a delete (a crash in between leaves both, never neither). vmgw's atomic
    /// RenameObject takes this place once `capabilities().rename_object` is detected.
    pub async fn rename(&self, from: &str, to: &str, size: u64) -> Result<(), S3Error> {
        if self.capabilities.rename_object {
            // One commit on the server: no moment where neither name exists, no bytes copied.
            return self
                .client
                .rename_object()
                .bucket(&self.bucket)
                .key(to)
                .rename_source(copy_source(&self.bucket, from))
                .send()
                .await
                .map(|_| ())
                .map_err(classify);
        }
        self.copy(from, to, size, None).await?;
        self.delete(from).await
    }

    pub async fn delete(&self, key: &str) -> Result<(), S3Error> {
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match classify(e) {
                // Deleting what is already gone is success (S3 itself answers 204).
                S3Error::NotFound => Ok(()),
                other => Err(other),
            },
        }
    }

    pub async fn create_multipart(
        &self,
        key: &str,
        metadata: HashMap<String, String>,
    ) -> Result<String, S3Error> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .set_metadata(Some(metadata))
            .send()
            .await
            .map_err(classify)?;
        out.upload_id()
            .map(str::to_owned)
            .ok_or_else(|| S3Error::Body("CreateMultipartUpload returned no upload id".into()))
    }

    /// Uploads one part; returns its ETag.
    pub async fn upload_part(
        &self,
        key: &str,
        upload: &str,
        number: i32,
        body: Bytes,
    ) -> Result<String, S3Error> {
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(classify)?;
        Ok(out.e_tag().unwrap_or_default().to_owned())
    }

    pub async fn complete_multipart(
        &self,
        key: &str,
        upload: &str,
        parts: Vec<(i32, String)>,
    ) -> Result<(), S3Error> {
        let parts = parts
            .into_iter()
            .map(|(n, etag)| CompletedPart::builder().part_number(n).e_tag(etag).build())
            .collect();
        match self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_unparsed_success(&e) => Ok(()),
            Err(e) => Err(classify(e)),
        }
    }

    /// Best effort: a failed abort leaves parts that a lifecycle rule reclaims.
    pub async fn abort_multipart(&self, key: &str, upload: &str) {
        if let Err(e) = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload)
            .send()
            .await
        {
            tracing::warn!(key, error = %classify(e), "abort of a multipart upload failed");
        }
    }
}

/// `bucket/key` for x-amz-copy-source, percent-encoded except for `/` as S3 expects.
fn copy_source(bucket: &str, key: &str) -> String {
    let mut out = String::with_capacity(bucket.len() + key.len() + 1);
    out.push_str(bucket);
    out.push('/');
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn copy_source_is_percent_encoded() {
        assert_eq!(
            super::copy_source("b", "dir/a b+c%ü"),
            "b/dir/a%20b%2Bc%25%C3%BC"
        );
    }
}
