//! The S3 client of a remote tier and how its failures become [`TierError`]s.

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls;

use super::RemoteTierOptions;
use crate::{DataId, TierError};

pub(super) fn build(options: &RemoteTierOptions) -> aws_sdk_s3::Client {
    // rustls with ring: the gateway already links ring for sealing, and https_or_http lets
    // the same client reach plain-HTTP MinIO on a LAN and AWS over TLS.
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(options.region.clone()))
        .force_path_style(options.path_style)
        .credentials_provider(Credentials::new(
            options.access_key.clone(),
            options.secret_key.clone(),
            options.session_token.clone(),
            None,
            "vmgw-tier-config",
        ))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(options.max_attempts.max(1))
                .with_initial_backoff(std::time::Duration::from_millis(100)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(options.connect_timeout)
                .operation_attempt_timeout(options.attempt_timeout)
                .build(),
        )
        .http_client(http);
    if let Some(endpoint) = &options.endpoint {
        config = config.endpoint_url(endpoint);
    }
    if let Some(observer) = &options.observer {
        config = config.interceptor(super::observe::Observed(std::sync::Arc::clone(observer)));
    }
    aws_sdk_s3::Client::from_conf(config.build())
}

/// Maps a failed request: 404 means the blob is not there; anything else (refused
/// connection, timeout, 5xx, throttling, denied access) means the tier cannot serve now.
pub(super) fn classify<E, R>(tier: &str, id: Option<DataId>, error: &SdkError<E, R>) -> TierError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HasStatus,
{
    if let SdkError::ServiceError(context) = error {
        let code = context.err().code().unwrap_or("");
        if let Some(id) = id
            && matches!(code, "NoSuchKey" | "NotFound")
        {
            return TierError::NotFound(id);
        }
        return TierError::Unavailable {
            tier: tier.to_owned(),
            reason: format!(
                "HTTP {}: {} {}",
                context.raw().status_code(),
                if code.is_empty() { "error" } else { code },
                context.err().message().unwrap_or_default()
            ),
        };
    }
    TierError::Unavailable {
        tier: tier.to_owned(),
        reason: describe_chain(error),
    }
}

/// The error and its sources on one line: SDK errors say little at the top level
/// ("dispatch failure") and the cause (connection refused) is further down.
fn describe_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// 404 from HEAD has no error code in its body (HEAD responses have none).
pub(super) fn is_not_found<E, R>(error: &SdkError<E, R>) -> bool
where
    R: HasStatus,
{
    matches!(error, SdkError::ServiceError(context) if context.raw().status_code() == 404)
}

pub(super) trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// A 200 answer whose body the SDK could not parse. Some servers (moto, older Ceph) send a
/// CompleteMultipartUpload result under another XML root; S3 itself can send an error
/// document with status 200, which the SDK does parse (it has a code), so this is not that.
pub(super) fn is_unparsed_success<E, R>(error: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
    R: HasStatus,
{
    matches!(error, SdkError::ServiceError(context)
        if context.raw().status_code() == 200 && context.err().code().is_none())
}
