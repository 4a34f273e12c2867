//! Operations s3s does not route, handled by vmgw itself after s3s has authenticated the
//! request: RenameObject (`PUT /{key}?renameObject`, newer than s3s's API model) and
//! ListObjectsV2 with user metadata (`metadata=true`, MinIO's extension).

use std::sync::Arc;

use hyper::http::Extensions;
use hyper::{HeaderMap, Method, Uri};
use percent_encoding::percent_decode_str;
use s3s::route::S3Route;
use s3s::{Body, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::host::VirtualHosts;
use super::listing_metadata::is_listing_with_metadata;
use crate::auth::Connection;
use crate::auth::access::{Authorizer, Check, Operation, RequestInfo};
use crate::objects::ObjectService;

/// The S3 path of a request: bucket and key.
pub(super) struct Target {
    pub bucket: String,
    pub key: String,
}

/// vmgw's own routes.
pub struct ExtensionRoutes {
    pub(super) objects: Arc<ObjectService>,
    authorizer: Arc<Authorizer>,
    hosts: Option<VirtualHosts>,
}

impl ExtensionRoutes {
    #[must_use]
    pub fn new(
        objects: Arc<ObjectService>,
        authorizer: Arc<Authorizer>,
        domains: &[String],
    ) -> Self {
        Self {
            objects,
            authorizer,
            hosts: (!domains.is_empty()).then(|| VirtualHosts::new(domains)),
        }
    }

    /// Bucket and key from the Host header (virtual-host style) or the path.
    fn target(&self, uri: &Uri, headers: &HeaderMap) -> S3Result<Target> {
        let path = percent_decode_str(uri.path())
            .decode_utf8()
            .map_err(|_| invalid_uri("the path is not UTF-8"))?;
        let path = path.strip_prefix('/').unwrap_or(&path);
        let host_bucket = self.hosts.as_ref().and_then(|hosts| {
            headers
                .get(hyper::header::HOST)
                .and_then(|h| h.to_str().ok())
                .and_then(|h| hosts.bucket_of(h))
        });
        let (bucket, key) = match host_bucket {
            Some(bucket) => (bucket, path.to_owned()),
            None => match path.split_once('/') {
                Some((bucket, key)) => (bucket.to_owned(), key.to_owned()),
                None => (path.to_owned(), String::new()),
            },
        };
        if bucket.is_empty() {
            return Err(invalid_uri("the request names no bucket"));
        }
        Ok(Target { bucket, key })
    }
}

fn invalid_uri(message: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidURI, message.to_owned())
}

fn has_query_flag(uri: &Uri, name: &str) -> bool {
    uri.query()
        .is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == name))
}

fn is_rename(method: &Method, uri: &Uri) -> bool {
    method == Method::PUT && has_query_flag(uri, "renameObject")
}

fn is_metadata_listing(method: &Method, uri: &Uri) -> bool {
    method == Method::GET && is_listing_with_metadata(uri)
}

#[async_trait::async_trait]
impl S3Route for ExtensionRoutes {
    fn is_match(
        &self,
        method: &Method,
        uri: &Uri,
        _headers: &HeaderMap,
        _extensions: &mut Extensions,
    ) -> bool {
        is_rename(method, uri) || is_metadata_listing(method, uri)
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        let target = self.target(&req.uri, &req.headers).ok();
        let bucket = target.as_ref().map(|t| t.bucket.clone());
        if let Some(info) = req.extensions.get::<Arc<RequestInfo>>() {
            let name = if is_rename(&req.method, &req.uri) {
                "RenameObject"
            } else {
                "ListObjectsV2"
            };
            info.set(Operation {
                name: name.to_owned(),
                bucket: bucket.clone(),
                key: target
                    .as_ref()
                    .map(|t| t.key.clone())
                    .filter(|k| !k.is_empty()),
            });
        }
        let access_key = req.credentials.as_ref().map(|c| c.access_key.clone());
        let principal = self
            .authorizer
            .admit(access_key.as_deref(), &mut req.extensions)?;
        let (action, key) = if is_rename(&req.method, &req.uri) {
            ("s3:putobject", target.as_ref().map(|t| t.key.as_str()))
        } else {
            ("s3:listbucket", None)
        };
        self.authorizer.check(&Check {
            principal: &principal,
            // A malformed path: `call` answers it, unless the request is anonymous.
            bucket: bucket.as_deref().unwrap_or(""),
            key,
            action,
            connection: req.extensions.get::<Connection>().copied(),
            query: req.uri.query(),
        })
    }

    async fn call(&self, req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let target = self.target(&req.uri, &req.headers)?;
        if is_rename(&req.method, &req.uri) {
            if target.key.is_empty() {
                return Err(invalid_uri("RenameObject needs a key"));
            }
            return self.rename(target, &req.headers).await;
        }
        if !target.key.is_empty() {
            return Err(invalid_uri("a listing names a bucket, not an object"));
        }
        self.list_with_metadata(target.bucket, &req.uri, &req.headers)
    }
}
