//! How a failed S3 request becomes an [`S3Error`], and that error's errno.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use fuser::Errno;

#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("object not found")]
    NotFound,
    #[error("HTTP {status}: {code} {message}")]
    Service {
        status: u16,
        code: String,
        message: String,
    },
    #[error("request failed: {0}")]
    Transport(String),
    #[error("reading the response body: {0}")]
    Body(String),
    #[error("local file: {0}")]
    Io(#[from] std::io::Error),
    #[error("the server did not announce {0}")]
    Unsupported(&'static str),
}

impl S3Error {
    #[must_use]
    pub fn errno(&self) -> Errno {
        match self {
            Self::NotFound => Errno::ENOENT,
            // vmgw's (and Ceph RGW's) quota refusal: the file system is full for this user.
            Self::Service { code, .. } if code == "QuotaExceeded" => Errno::ENOSPC,
            Self::Service { status: 403, .. } => Errno::EACCES,
            Self::Service { code, .. } if code == "EntityTooLarge" => Errno::EFBIG,
            _ => Errno::EIO,
        }
    }

    /// An append refused because the object's size is not the offset sent: another writer
    /// changed it (or an earlier attempt of the same append already landed).
    #[must_use]
    pub fn is_invalid_write_offset(&self) -> bool {
        matches!(self, Self::Service { code, .. } if code == "InvalidWriteOffset")
    }

    /// The server understood the request and refused it as such (a 4xx other than a
    /// missing object or access): retrying the same request cannot succeed.
    #[must_use]
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::Service { status, .. } if (400..500).contains(status) && *status != 403)
    }
}

/// Maps an SDK error: 404 (or a NoSuchKey code) means the object is not there; anything else
/// keeps its status and code for the log, and becomes EIO or EACCES for the caller.
pub(crate) fn classify<E, R>(error: SdkError<E, R>) -> S3Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HasStatus,
{
    if let SdkError::ServiceError(context) = &error {
        let status = context.raw().status_code();
        let code = context.err().code().unwrap_or("").to_owned();
        if status == 404 || matches!(code.as_str(), "NoSuchKey" | "NotFound") {
            return S3Error::NotFound;
        }
        return S3Error::Service {
            status,
            code: if code.is_empty() {
                "error".into()
            } else {
                code
            },
            message: context.err().message().unwrap_or_default().to_owned(),
        };
    }
    // The SDK's top-level message ("dispatch failure") hides the cause further down.
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    S3Error::Transport(text)
}

/// The HTTP status of a raw response, whatever the SDK's response type.
pub(crate) trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// A 200 answer whose body the SDK could not parse: some servers (moto) answer
/// CompleteMultipartUpload under another XML root. A real S3 error document sent with 200
/// has a code, so it is not mistaken for this.
pub(crate) fn is_unparsed_success<E, R>(error: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
    R: HasStatus,
{
    matches!(error, SdkError::ServiceError(context)
        if context.raw().status_code() == 200 && context.err().code().is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_refusal_is_enospc() {
        let full = S3Error::Service {
            status: 403,
            code: "QuotaExceeded".into(),
            message: "over quota".into(),
        };
        assert_eq!(full.errno(), Errno::ENOSPC);
        // Not a refusal a rewrite could get round: an append over quota fails as it is.
        assert!(!full.is_refusal());
        let denied = S3Error::Service {
            status: 403,
            code: "AccessDenied".into(),
            message: String::new(),
        };
        assert_eq!(denied.errno(), Errno::EACCES);
    }
}
