//! Helpers shared by the `sdk_*` conformance suites: a client with timeouts and no retries,
//! assertions on S3 errors, checksums and encodings computed independently of the gateway.
//!
//! Every test starts its own gateway (start-up takes milliseconds), so tests never share
//! state and run in parallel.

#![allow(dead_code)]

pub mod raw;
pub mod tenants;

use std::fmt::Debug;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use vmgw_tests::Gateway;

/// No request in these suites may take longer than this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// An SDK client for `gw` (default SDK behaviour otherwise) that gives up instead of hanging
/// and never retries, so every call is exactly one request.
#[must_use]
pub fn client(gw: &Gateway) -> Client {
    strict(&gw.sdk())
}

/// `client` with other credentials.
#[must_use]
pub fn client_with(gw: &Gateway, access_key: &str, secret_key: &str) -> Client {
    strict(&vmgw_tests::sdk_client(
        &gw.endpoint,
        access_key,
        secret_key,
    ))
}

fn strict(base: &Client) -> Client {
    let config = base
        .config()
        .to_builder()
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(REQUEST_TIMEOUT)
                .operation_timeout(REQUEST_TIMEOUT)
                .build(),
        )
        .retry_config(RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

/// Asserts that an SDK call failed with this HTTP status and S3 error code; returns the error.
pub fn expect_error<T: Debug, E>(
    result: Result<T, SdkError<E, HttpResponse>>,
    status: u16,
    code: &str,
    what: &str,
) -> SdkError<E, HttpResponse>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let err = match result {
        Ok(out) => panic!("{what}: expected HTTP {status} {code}, but the call succeeded: {out:?}"),
        Err(err) => err,
    };
    let got_status = err.raw_response().map(|r| r.status().as_u16());
    let got_code = err.code().map(str::to_owned);
    assert_eq!(
        (got_status, got_code.as_deref()),
        (Some(status), Some(code)),
        "{what}: wrong error (status, code); error: {}",
        DisplayErrorContext(&err)
    );
    err
}

/// Asserts that an SDK call failed with this HTTP status (for HEAD, whose errors have no
/// body and so no code).
pub fn expect_status<T: Debug, E>(
    result: Result<T, SdkError<E, HttpResponse>>,
    status: u16,
    what: &str,
) -> SdkError<E, HttpResponse>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let err = match result {
        Ok(out) => panic!("{what}: expected HTTP {status}, but the call succeeded: {out:?}"),
        Err(err) => err,
    };
    let got_status = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(
        got_status,
        Some(status),
        "{what}: wrong status; error: {}",
        DisplayErrorContext(&err)
    );
    err
}

/// Unwraps an SDK result, showing the full error chain on failure.
pub fn ok<T, E>(result: Result<T, SdkError<E, HttpResponse>>, what: &str) -> T
where
    E: std::error::Error + 'static,
{
    result.unwrap_or_else(|e| panic!("{what}: {}", DisplayErrorContext(&e)))
}

/// A one-line description of a failed call: status, code and message.
pub fn brief<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err.raw_response() {
        Some(r) => format!(
            "HTTP {} {} ({})",
            r.status().as_u16(),
            err.code().unwrap_or("<no code>"),
            err.message().unwrap_or("<no message>")
        ),
        None => format!("no response: {}", DisplayErrorContext(err)),
    }
}

/// A response header of a failed call.
pub fn error_header<E>(err: &SdkError<E, HttpResponse>, name: &str) -> Option<String> {
    err.raw_response()
        .and_then(|r| r.headers().get(name))
        .map(str::to_owned)
}

pub async fn create_bucket(s3: &Client, bucket: &str) {
    ok(
        s3.create_bucket().bucket(bucket).send().await,
        &format!("CreateBucket {bucket}"),
    );
}

/// PUT with SDK defaults; returns the ETag as sent (quoted).
pub async fn put(s3: &Client, bucket: &str, key: &str, data: &[u8]) -> String {
    let out = ok(
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(data.to_vec()))
            .send()
            .await,
        &format!("PutObject {bucket}/{key}"),
    );
    out.e_tag().expect("PutObject returns an ETag").to_owned()
}

/// The whole body of a GET.
pub async fn get(s3: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let out = ok(
        s3.get_object().bucket(bucket).key(key).send().await,
        &format!("GetObject {bucket}/{key}"),
    );
    body(out.body).await
}

pub async fn body(stream: ByteStream) -> Vec<u8> {
    stream
        .collect()
        .await
        .expect("reading the response body")
        .into_bytes()
        .to_vec()
}

/// `"<md5 hex>"`, the ETag of a single-part object.
#[must_use]
pub fn quoted_md5(data: &[u8]) -> String {
    format!("\"{}\"", vmgw_tests::md5_hex(data))
}

#[must_use]
pub fn md5_raw(data: &[u8]) -> [u8; 16] {
    use md5::Digest;
    md5::Md5::digest(data).into()
}

/// Content-MD5 header value.
#[must_use]
pub fn md5_b64(data: &[u8]) -> String {
    b64(&md5_raw(data))
}

/// The ETag S3 gives a multipart object: hex MD5 of the concatenated binary part MD5s,
/// a dash, and the number of parts (quoted).
#[must_use]
pub fn multipart_etag(parts: &[&[u8]]) -> String {
    let mut concat = Vec::new();
    for part in parts {
        concat.extend_from_slice(&md5_raw(part));
    }
    format!("\"{}-{}\"", vmgw_tests::md5_hex(&concat), parts.len())
}

#[must_use]
pub fn b64(bytes: &[u8]) -> String {
    base64_simd::STANDARD.encode_to_string(bytes)
}

#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    hex_simd::encode_to_string(bytes, hex_simd::AsciiCase::Lower)
}

#[must_use]
pub fn sha256(data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(data).to_vec()
}

#[must_use]
pub fn sha1(data: &[u8]) -> Vec<u8> {
    use sha1::Digest;
    sha1::Sha1::digest(data).to_vec()
}

#[must_use]
pub fn crc32(data: &[u8]) -> Vec<u8> {
    let v = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32IsoHdlc, data);
    u32::try_from(v).expect("32-bit CRC").to_be_bytes().to_vec()
}

#[must_use]
pub fn crc32c(data: &[u8]) -> Vec<u8> {
    let v = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, data);
    u32::try_from(v).expect("32-bit CRC").to_be_bytes().to_vec()
}

#[must_use]
pub fn crc64nvme(data: &[u8]) -> Vec<u8> {
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, data)
        .to_be_bytes()
        .to_vec()
}

/// Percent-encodes a key for a URL path (everything but unreserved characters and `/`).
#[must_use]
pub fn url_path(key: &str) -> String {
    let mut out = String::new();
    for &b in key.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes a query-string value (everything but unreserved characters).
#[must_use]
pub fn url_query(value: &str) -> String {
    url_path(value).replace('/', "%2F")
}

/// Decodes a value S3 returned with `encoding-type=url` (`%XX` escapes; `+` is a space, as in
/// form encoding, which some S3 implementations use for spaces).
#[must_use]
pub fn url_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii escape");
                out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("decoded key is UTF-8")
}

/// Soft assertions: collects every failed check of a table-driven test, then fails once
/// with all of them, so one gateway bug does not hide the others.
#[derive(Debug, Default)]
pub struct Checks(Vec<String>);

impl Checks {
    pub fn check(&mut self, passed: bool, message: impl FnOnce() -> String) {
        if !passed {
            self.0.push(message());
        }
    }

    pub fn fail(&mut self, message: String) {
        self.0.push(message);
    }

    #[track_caller]
    pub fn finish(self, what: &str) {
        assert!(
            self.0.is_empty(),
            "{what}: {} failed check(s):\n  - {}",
            self.0.len(),
            self.0.join("\n  - ")
        );
    }
}

/// Debian's aws-cli v2 against the gateway, JSON output.
#[must_use]
pub fn aws_v2(gw: &Gateway, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new("/usr/bin/aws");
    cmd.envs(gw.client_env())
        .args(["--endpoint-url", &gw.endpoint, "--output", "json"])
        .args(args);
    cmd
}
