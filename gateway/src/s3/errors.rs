//! The one place where domain errors become S3 error codes.

use http::{HeaderMap, HeaderValue, StatusCode};
use s3s::{S3Error, S3ErrorCode};
use tracing::error;

use super::convert::http_date;
use crate::objects::ObjectError;

fn custom(code: &'static str, status: StatusCode, message: String) -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::Custom(code.into()), message);
    e.set_status_code(status);
    e
}

/// `x-amz-delete-marker: true` and the marker's `x-amz-version-id` (and `Last-Modified`),
/// which S3 sends with errors about delete markers. Setting headers on an error replaces
/// the response's own, so the XML body's type goes back in.
fn delete_marker_headers(version_id: &str, modified_ms: Option<i64>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("x-amz-delete-marker", HeaderValue::from_static("true"));
    if let Ok(v) = HeaderValue::from_str(version_id) {
        headers.insert("x-amz-version-id", v);
    }
    if let Some(ms) = modified_ms
        && let Ok(v) = HeaderValue::from_str(&http_date(ms))
    {
        headers.insert(http::header::LAST_MODIFIED, v);
    }
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    headers
}

/// Maps an object-service error to its S3 error.
pub fn to_s3(e: ObjectError) -> S3Error {
    use S3ErrorCode as C;
    let message = e.to_string();
    let with = |code: C| S3Error::with_message(code, message.clone());
    match e {
        ObjectError::NoSuchBucket => with(C::NoSuchBucket),
        ObjectError::NoSuchKey => with(C::NoSuchKey),
        ObjectError::NoSuchVersion => with(C::NoSuchVersion),
        ObjectError::InvalidVersionId => {
            S3Error::with_message(C::InvalidArgument, "Invalid version id specified")
        }
        // S3 names the delete marker that hides the key.
        ObjectError::DeletedKey { version_id } => {
            let mut err = with(C::NoSuchKey);
            err.set_headers(delete_marker_headers(&version_id, None));
            err
        }
        ObjectError::DeleteMarkerVersion {
            version_id,
            modified_ms,
        } => {
            let mut err = with(C::MethodNotAllowed);
            err.set_headers(delete_marker_headers(&version_id, Some(modified_ms)));
            err
        }
        ObjectError::NoSuchUpload => with(C::NoSuchUpload),
        ObjectError::BucketAlreadyOwnedByYou(_) => with(C::BucketAlreadyOwnedByYou),
        ObjectError::BucketAlreadyExists(_) => with(C::BucketAlreadyExists),
        ObjectError::BucketNotEmpty => with(C::BucketNotEmpty),
        ObjectError::PreconditionFailed => with(C::PreconditionFailed),
        ObjectError::NotModified { etag, modified_ms } => {
            let mut err = S3Error::new(C::NotModified);
            let mut headers = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
                headers.insert(http::header::ETAG, v);
            }
            if let Ok(v) = HeaderValue::from_str(&http_date(modified_ms)) {
                headers.insert(http::header::LAST_MODIFIED, v);
            }
            err.set_headers(headers);
            err
        }
        ObjectError::InvalidRange { size } => {
            let mut err = with(C::InvalidRange);
            let mut headers = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                headers.insert(http::header::CONTENT_RANGE, v);
            }
            // These headers replace the response's own, so the XML body needs its type back.
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml"),
            );
            err.set_headers(headers);
            err
        }
        ObjectError::InvalidPartNumber => custom(
            "InvalidPartNumber",
            StatusCode::RANGE_NOT_SATISFIABLE,
            message,
        ),
        ObjectError::MalformedXml | ObjectError::MalformedXmlDetail(_) => with(C::MalformedXML),
        ObjectError::InvalidTag(_) => with(C::InvalidTag),
        ObjectError::NoSuchLifecycleConfiguration => with(C::NoSuchLifecycleConfiguration),
        ObjectError::InvalidWriteOffset { .. } => {
            custom("InvalidWriteOffset", StatusCode::BAD_REQUEST, message)
        }
        ObjectError::NoSuchTieringConfiguration(_) => {
            custom("NoSuchConfiguration", StatusCode::NOT_FOUND, message)
        }
        ObjectError::BadDigest | ObjectError::ChecksumMismatch { .. } => with(C::BadDigest),
        ObjectError::InvalidDigest => with(C::InvalidDigest),
        ObjectError::InvalidArgument(_) => with(C::InvalidArgument),
        ObjectError::InvalidRequest(_) | ObjectError::InvalidCopyToSelf => with(C::InvalidRequest),
        ObjectError::EntityTooLarge => with(C::EntityTooLarge),
        ObjectError::EntityTooSmall => with(C::EntityTooSmall),
        ObjectError::InvalidPart(_) => with(C::InvalidPart),
        ObjectError::InvalidPartOrder => with(C::InvalidPartOrder),
        ObjectError::MetadataTooLarge => with(C::MetadataTooLarge),
        ObjectError::IncompleteBody => with(C::IncompleteBody),
        ObjectError::ContentSha256Mismatch => custom(
            "XAmzContentSHA256Mismatch",
            StatusCode::BAD_REQUEST,
            message,
        ),
        ObjectError::SignatureDoesNotMatch => with(C::SignatureDoesNotMatch),
        ObjectError::InvalidStorageClass => with(C::InvalidStorageClass),
        // 507 says "the server is out of space" without suggesting a retry would help.
        ObjectError::StorageFull => {
            custom("StorageFull", StatusCode::INSUFFICIENT_STORAGE, message)
        }
        ObjectError::TierUnavailable { .. } => with(C::ServiceUnavailable),
        ObjectError::AccessDenied(_) => with(C::AccessDenied),
        ObjectError::MalformedPolicy(_) => with(C::MalformedPolicy),
        // S3 has no quotas; Ceph RGW's code and status, which S3 clients already meet.
        ObjectError::QuotaExceeded(_) => {
            let mut err = with(C::Custom("QuotaExceeded".into()));
            err.set_status_code(http::StatusCode::FORBIDDEN);
            err
        }
        ObjectError::NoSuchBucketPolicy => with(C::NoSuchBucketPolicy),
        ObjectError::Internal(detail) => {
            error!(error = %detail, "internal error");
            S3Error::with_message(
                C::InternalError,
                "We encountered an internal error. Please try again.",
            )
        }
    }
}
