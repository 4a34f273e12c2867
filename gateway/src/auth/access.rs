//! The authorization hook s3s calls for every request once it knows the operation.
//!
//! It works out the request's [`Principal`] (put into the request's extensions for the
//! handlers: ListBuckets lists only the principal's buckets, CreateBucket records it as the
//! owner) and refuses, with `AccessDenied` and before anything is read or written, every
//! operation on a bucket the principal does not own — the copy source of CopyObject and
//! UploadPartCopy included. A bucket that does not exist is left to the handler, which
//! answers `NoSuchBucket` as S3 does. Anonymous requests are refused. The hook also records
//! which operation, bucket and key a request is about, for the request log.

use std::sync::{Arc, Mutex};

use s3s::access::{S3Access, S3AccessContext};
use s3s::dto::{CopyObjectInput, CopySource, UploadPartCopyInput};
use s3s::path::S3Path;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Result};

use super::{Principal, Registry};
use crate::objects::{ObjectError, ObjectService};

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

fn access_denied() -> S3Error {
    S3Error::with_message(S3ErrorCode::AccessDenied, "Access Denied")
}

fn anonymous_denied() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::AccessDenied,
        "Anonymous access is not allowed; sign the request",
    )
}

/// Who signed a request (as the access hook recorded it).
#[must_use]
pub fn principal_of(extensions: &http::Extensions) -> Principal {
    extensions
        .get::<Principal>()
        .cloned()
        .unwrap_or(Principal::Anonymous)
}

/// Works out and records the principal of a request signed with `access_key`.
pub fn identify(
    registry: &Registry,
    access_key: Option<&str>,
    extensions: &mut http::Extensions,
) -> Principal {
    let principal = access_key.map_or(Principal::Anonymous, |key| registry.principal(key));
    extensions.insert(principal.clone());
    principal
}

/// Whether `principal` may act on `bucket`; a missing bucket is the handler's to report.
pub fn authorize_bucket(
    objects: &ObjectService,
    principal: &Principal,
    bucket: &str,
) -> S3Result<()> {
    if *principal == Principal::Anonymous {
        return Err(anonymous_denied());
    }
    match objects.bucket(bucket) {
        Ok(record) if principal.may_use(&record.owner) => Ok(()),
        Ok(_) => Err(access_denied()),
        Err(ObjectError::NoSuchBucket) => Ok(()),
        Err(e) => Err(S3Error::with_message(
            S3ErrorCode::InternalError,
            e.to_string(),
        )),
    }
}

pub struct Access {
    registry: Arc<Registry>,
    objects: Arc<ObjectService>,
}

impl Access {
    #[must_use]
    pub fn new(registry: Arc<Registry>, objects: Arc<ObjectService>) -> Self {
        Self { registry, objects }
    }

    fn authorize_source<T>(&self, req: &S3Request<T>, source: &CopySource) -> S3Result<()> {
        match source {
            CopySource::Bucket { bucket, .. } => {
                authorize_bucket(&self.objects, &principal_of(&req.extensions), bucket)
            }
            // Access points and outposts are not served; the handler refuses them.
            _ => Ok(()),
        }
    }
}

#[async_trait::async_trait]
impl S3Access for Access {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => (None, None),
            S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
            S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
        };
        let name = cx.s3_op().name().to_owned();
        if let Some(info) = cx.extensions_mut().get::<Arc<RequestInfo>>() {
            info.set(Operation {
                name: name.clone(),
                bucket: bucket.clone(),
                key,
            });
        }
        let access_key = cx.credentials().map(|c| c.access_key.clone());
        let principal = identify(&self.registry, access_key.as_deref(), cx.extensions_mut());
        if principal == Principal::Anonymous {
            return Err(anonymous_denied());
        }
        match bucket {
            // CreateBucket on a taken name answers BucketAlreadyExists, as S3 does.
            Some(_) if name == "CreateBucket" => Ok(()),
            Some(bucket) => authorize_bucket(&self.objects, &principal, &bucket),
            // ListBuckets: the handler lists only the principal's buckets.
            None => Ok(()),
        }
    }

    async fn copy_object(&self, req: &mut S3Request<CopyObjectInput>) -> S3Result<()> {
        self.authorize_source(req, &req.input.copy_source)
    }

    async fn upload_part_copy(&self, req: &mut S3Request<UploadPartCopyInput>) -> S3Result<()> {
        self.authorize_source(req, &req.input.copy_source)
    }
}
