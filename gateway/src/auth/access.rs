//! The authorization hook s3s calls for every request once it knows the operation.
//!
//! It works out the request's [`Principal`] (put into the request's extensions for the
//! handlers: ListBuckets lists only the principal's buckets, CreateBucket records it as the
//! owner) and refuses, with `AccessDenied` and before anything is read or written, every
//! operation the [`Authorizer`] does not allow: the admin may do everything, a bucket's
//! owner whatever the bucket policy does not explicitly deny, anyone else — other tenants,
//! anonymous requests — only what the policy allows (the copy source of CopyObject and
//! UploadPartCopy and every key of DeleteObjects are checked too). A bucket that does not
//! exist is left to the handler, which answers `NoSuchBucket` as S3 does. The hook also
//! records which operation, bucket and key a request is about, for the request log.

use std::sync::{Arc, Mutex};

use s3s::access::{S3Access, S3AccessContext};
use s3s::dto::{CopyObjectInput, CopySource, DeleteObjectsInput, UploadPartCopyInput};
use s3s::path::S3Path;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Result};

use super::policies::Policies;
use super::policy::{Decision, RequestFacts};
use super::qos::{Qos, TenantQos};
use super::{Connection, Principal, Registry};
use crate::objects::{ObjectError, ObjectService};

/// What a request turned out to be, filled in by [`Access`] and read by the request log.
#[derive(Debug, Default)]
pub struct RequestInfo {
    inner: Mutex<Option<Operation>>,
    /// The limiters of the tenant the request is from, when its bandwidth is shaped: the
    /// server paces the request and response bodies with them.
    shaping: Mutex<Option<Arc<TenantQos>>>,
    /// Who the request is from, once the access hook knows.
    principal: Mutex<Option<Principal>>,
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

    #[must_use]
    pub fn shaping(&self) -> Option<Arc<TenantQos>> {
        self.shaping.lock().expect("request info lock").clone()
    }

    /// The principal as a metrics label: the tenant's name, `(admin)` or `(anonymous)`
    /// (parentheses cannot start a tenant name, so the labels never collide).
    #[must_use]
    pub fn tenant_label(&self) -> String {
        match &*self.principal.lock().expect("request info lock") {
            Some(Principal::Tenant(name)) => name.clone(),
            Some(Principal::Admin) => "(admin)".to_owned(),
            Some(Principal::Anonymous) | None => "(anonymous)".to_owned(),
        }
    }
}

/// Applies the tenant's request-rate limit, and hands its bandwidth limiters to the server.
fn apply_qos(qos: &Qos, principal: &Principal, extensions: &http::Extensions) -> S3Result<()> {
    let Principal::Tenant(name) = principal else {
        return Ok(());
    };
    let Some(limits) = qos.of(name) else {
        return Ok(());
    };
    if !limits.admit_request() {
        return Err(S3Error::with_message(
            S3ErrorCode::SlowDown,
            "Please reduce your request rate.",
        ));
    }
    if limits.shapes_bandwidth()
        && let Some(info) = extensions.get::<Arc<RequestInfo>>()
    {
        *info.shaping.lock().expect("request info lock") = Some(limits);
    }
    Ok(())
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

/// Works out and records the principal of a request signed with `access_key`, or unsigned.
///
/// A client certificate bound to a tenant makes the connection that tenant's: its unsigned
/// requests act as the tenant, and a request signed by anyone else (the admin included) is
/// refused, so a guest holding another identity's key cannot use it over its own connection.
fn identify(
    registry: &Registry,
    access_key: Option<&str>,
    extensions: &mut http::Extensions,
) -> S3Result<Principal> {
    let cert_tenant = extensions
        .get::<Connection>()
        .and_then(|c| c.client_cert)
        .and_then(|cert| registry.cert_tenant(&cert));
    let signer = access_key.map(|key| registry.principal(key));
    let principal = match (cert_tenant, signer) {
        (None, None) => Principal::Anonymous,
        (None, Some(signer)) => signer,
        (Some(tenant), None) => Principal::Tenant(tenant),
        (Some(tenant), Some(signer)) if signer == Principal::Tenant(tenant.clone()) => signer,
        (Some(tenant), Some(_)) => {
            return Err(S3Error::with_message(
                S3ErrorCode::AccessDenied,
                format!(
                    "This connection's client certificate acts as tenant {tenant}; requests on it must be unsigned or signed with that tenant's key"
                ),
            ));
        }
    };
    extensions.insert(principal.clone());
    Ok(principal)
}

/// The IAM action an S3 operation needs (`s3:` + the operation's name where IAM uses that).
#[must_use]
pub fn iam_action(operation: &str) -> String {
    let action = match operation {
        "GetObject" | "HeadObject" => "GetObject",
        "PutObject"
        | "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload"
        | "RenameObject" => "PutObject",
        "DeleteObject" | "DeleteObjects" => "DeleteObject",
        "ListObjects" | "ListObjectsV2" | "HeadBucket" => "ListBucket",
        "ListObjectVersions" => "ListBucketVersions",
        "ListParts" => "ListMultipartUploadParts",
        "ListMultipartUploads" => "ListBucketMultipartUploads",
        "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle" => "PutLifecycleConfiguration",
        "GetBucketLifecycleConfiguration" => "GetLifecycleConfiguration",
        "PutBucketIntelligentTieringConfiguration"
        | "DeleteBucketIntelligentTieringConfiguration" => "PutIntelligentTieringConfiguration",
        "GetBucketIntelligentTieringConfiguration"
        | "ListBucketIntelligentTieringConfigurations" => "GetIntelligentTieringConfiguration",
        other => other,
    };
    format!("s3:{}", action.to_ascii_lowercase())
}

/// The IAM action an S3 operation on one version of an object (`versionId`) needs, where
/// IAM has one of its own.
#[must_use]
pub fn iam_version_action(operation: &str) -> Option<&'static str> {
    match operation {
        "GetObject" | "HeadObject" => Some("s3:getobjectversion"),
        "DeleteObject" => Some("s3:deleteobjectversion"),
        "GetObjectTagging" => Some("s3:getobjectversiontagging"),
        "PutObjectTagging" => Some("s3:putobjectversiontagging"),
        "DeleteObjectTagging" => Some("s3:deleteobjectversiontagging"),
        _ => None,
    }
}

/// Whether a request's query names a version (`versionId`).
fn names_version(query: Option<&str>) -> bool {
    query.is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "versionId"))
}

/// One permission check: may `principal` do `action` on `bucket` (and `key`)?
pub struct Check<'a> {
    pub principal: &'a Principal,
    pub bucket: &'a str,
    pub key: Option<&'a str>,
    /// As [`iam_action`] gives it.
    pub action: &'a str,
    pub connection: Option<Connection>,
    /// The listing parameters conditions may test (`s3:prefix`, …).
    pub query: Option<&'a str>,
}

/// Policy actions the owner of a bucket keeps whatever its policy says, as an AWS account's
/// root user does, so a bad policy cannot lock the owner out for good.
const OWNER_KEEPS: &[&str] = &[
    "s3:getbucketpolicy",
    "s3:putbucketpolicy",
    "s3:deletebucketpolicy",
];

/// Decides checks: the admin may do everything; the owner everything its bucket's policy
/// does not explicitly deny; anyone else only what the policy allows and does not deny.
pub struct Authorizer {
    registry: Arc<Registry>,
    qos: Arc<Qos>,
    objects: Arc<ObjectService>,
    policies: Arc<Policies>,
}

fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    })
}

impl Authorizer {
    #[must_use]
    pub fn new(
        registry: Arc<Registry>,
        qos: Arc<Qos>,
        objects: Arc<ObjectService>,
        policies: Arc<Policies>,
    ) -> Self {
        Self {
            registry,
            qos,
            objects,
            policies,
        }
    }

    /// What every request goes through first: its principal is worked out and recorded in
    /// `extensions` (for the handlers), and a tenant's request rate is applied.
    pub fn admit(
        &self,
        access_key: Option<&str>,
        extensions: &mut http::Extensions,
    ) -> S3Result<Principal> {
        let principal = identify(&self.registry, access_key, extensions)?;
        if let Some(info) = extensions.get::<Arc<RequestInfo>>() {
            *info.principal.lock().expect("request info lock") = Some(principal.clone());
        }
        apply_qos(&self.qos, &principal, extensions)?;
        Ok(principal)
    }

    pub fn check(&self, c: &Check<'_>) -> S3Result<()> {
        let internal =
            |e: ObjectError| S3Error::with_message(S3ErrorCode::InternalError, e.to_string());
        let record = match self.objects.bucket(c.bucket) {
            Ok(record) => record,
            // The handler answers NoSuchBucket, as S3 does; an anonymous caller learns
            // nothing about which names exist.
            Err(ObjectError::NoSuchBucket) if *c.principal != Principal::Anonymous => {
                return Ok(());
            }
            Err(ObjectError::NoSuchBucket) => return Err(anonymous_denied()),
            Err(e) => return Err(internal(e)),
        };
        if *c.principal == Principal::Admin {
            return Ok(());
        }
        let owner = c.principal.may_use(&record.owner);
        let decision = match self.policies.of(&record).map_err(internal)? {
            None => Decision::Silent,
            Some(policy) => {
                let resource = match c.key {
                    Some(key) => format!("arn:aws:s3:::{}/{key}", c.bucket),
                    None => format!("arn:aws:s3:::{}", c.bucket),
                };
                policy.evaluate(&RequestFacts {
                    principal: c.principal,
                    action: c.action,
                    resource: &resource,
                    source_ip: c
                        .connection
                        .and_then(|conn| conn.peer)
                        .map(|p| p.ip().to_string()),
                    secure: c.connection.is_some_and(|conn| conn.secure),
                    prefix: query_value(c.query, "prefix"),
                    delimiter: query_value(c.query, "delimiter"),
                    max_keys: query_value(c.query, "max-keys"),
                })
            }
        };
        match decision {
            Decision::Deny if owner && OWNER_KEEPS.contains(&c.action) => Ok(()),
            Decision::Deny => Err(access_denied()),
            Decision::Allow => Ok(()),
            Decision::Silent if owner => Ok(()),
            Decision::Silent if *c.principal == Principal::Anonymous => Err(anonymous_denied()),
            Decision::Silent => Err(access_denied()),
        }
    }
}

pub struct Access {
    authorizer: Arc<Authorizer>,
}

impl Access {
    #[must_use]
    pub fn new(authorizer: Arc<Authorizer>) -> Self {
        Self { authorizer }
    }

    /// CopyObject and UploadPartCopy also read their source.
    fn authorize_source<T>(&self, req: &S3Request<T>, source: &CopySource) -> S3Result<()> {
        match source {
            CopySource::Bucket {
                bucket,
                key,
                version_id,
            } => self.authorizer.check(&Check {
                principal: &principal_of(&req.extensions),
                bucket,
                key: Some(key),
                action: if version_id.is_some() {
                    "s3:getobjectversion"
                } else {
                    "s3:getobject"
                },
                connection: req.extensions.get::<Connection>().copied(),
                query: None,
            }),
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
                key: key.clone(),
            });
        }
        let access_key = cx.credentials().map(|c| c.access_key.clone());
        let principal = self
            .authorizer
            .admit(access_key.as_deref(), cx.extensions_mut())?;
        match bucket {
            // CreateBucket on a taken name answers BucketAlreadyExists, as S3 does.
            Some(_) if name == "CreateBucket" && principal != Principal::Anonymous => Ok(()),
            // Each key is checked by `delete_objects`, once the body is parsed.
            Some(_) if name == "DeleteObjects" => Ok(()),
            Some(bucket) => {
                let connection = cx.extensions_mut().get::<Connection>().copied();
                let action = match iam_version_action(&name) {
                    Some(action) if names_version(cx.uri().query()) => action.to_owned(),
                    _ => iam_action(&name),
                };
                self.authorizer.check(&Check {
                    principal: &principal,
                    bucket: &bucket,
                    key: key.as_deref(),
                    action: &action,
                    connection,
                    query: cx.uri().query(),
                })
            }
            // ListBuckets: the handler lists only the principal's buckets.
            None if principal != Principal::Anonymous => Ok(()),
            _ => Err(anonymous_denied()),
        }
    }

    async fn delete_objects(&self, req: &mut S3Request<DeleteObjectsInput>) -> S3Result<()> {
        let principal = principal_of(&req.extensions);
        let connection = req.extensions.get::<Connection>().copied();
        // One key refused refuses the request: nothing is deleted (S3 would report the
        // refused keys one by one; refusing all is the stricter answer).
        for object in &req.input.delete.objects {
            self.authorizer.check(&Check {
                principal: &principal,
                bucket: &req.input.bucket,
                key: Some(&object.key),
                action: if object.version_id.is_some() {
                    "s3:deleteobjectversion"
                } else {
                    "s3:deleteobject"
                },
                connection,
                query: None,
            })?;
        }
        Ok(())
    }

    async fn copy_object(&self, req: &mut S3Request<CopyObjectInput>) -> S3Result<()> {
        self.authorize_source(req, &req.input.copy_source)
    }

    async fn upload_part_copy(&self, req: &mut S3Request<UploadPartCopyInput>) -> S3Result<()> {
        self.authorize_source(req, &req.input.copy_source)
    }
}
