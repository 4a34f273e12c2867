//! The authorization hook s3s calls for every request once it knows the operation.
//!
//! For now every signed request with a known key may do everything and anonymous requests
//! are refused. The hook also records which operation, bucket and key a request is about,
//! for the request log.

use std::sync::{Arc, Mutex};

use s3s::access::{S3Access, S3AccessContext};
use s3s::path::S3Path;
use s3s::{S3Error, S3ErrorCode, S3Result};

/// What a request turned out to be, filled in by [`Access`] and read by the request log.
#[derive(Debug, Default)]
pub struct RequestInfo {
    inner: Mutex<Option<Operation>>,
}

#[derive(Debug, Clone, Default)]
pub struct Operation {
    pub name: String,
    pub bucket: Option<String>,
    pub key: Option<String>,
}

impl RequestInfo {
    #[must_use]
    pub fn get(&self) -> Option<Operation> {
        self.inner.lock().expect("request info lock").clone()
    }

    pub fn set(&self, op: Operation) {
        *self.inner.lock().expect("request info lock") = Some(op);
    }
}

pub struct Access;

#[async_trait::async_trait]
impl S3Access for Access {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => (None, None),
            S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
            S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
        };
        let op = Operation {
            name: cx.s3_op().name().to_owned(),
            bucket,
            key,
        };
        if let Some(info) = cx.extensions_mut().get::<Arc<RequestInfo>>() {
            info.set(op);
        }
        match cx.credentials() {
            Some(_) => Ok(()),
            None => Err(S3Error::with_message(
                S3ErrorCode::AccessDenied,
                "Anonymous access is not allowed; sign the request",
            )),
        }
    }
}
