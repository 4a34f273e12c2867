//! Errors of the object service. The S3 layer maps each to exactly one S3 error code.

use vmgw_tiering::TierError;

use crate::meta::MetaError;

/// Why a request body could not be read to its end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the payload's SHA-256 does not match x-amz-content-sha256")]
    Sha256Mismatch,
    #[error("a chunk signature of the streaming payload does not match")]
    SignatureMismatch,
    #[error("the request body ended early or is malformed: {0}")]
    Incomplete(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("the specified bucket does not exist")]
    NoSuchBucket,
    #[error("the specified key does not exist")]
    NoSuchKey,
    #[error("the specified multipart upload does not exist")]
    NoSuchUpload,
    #[error("the specified version does not exist")]
    NoSuchVersion,
    #[error("invalid version id specified")]
    InvalidVersionId,
    /// The key's newest version is a delete marker: absent, as S3 answers it (with the
    /// marker's id).
    #[error("the specified key does not exist")]
    DeletedKey { version_id: String },
    /// A request for a version that is a delete marker, which has no bytes or metadata.
    #[error("the specified method is not allowed against a delete marker")]
    DeleteMarkerVersion {
        version_id: String,
        modified_ms: i64,
    },
    #[error("bucket {0} already exists and is owned by you")]
    BucketAlreadyOwnedByYou(String),
    #[error("bucket {0} already exists")]
    BucketAlreadyExists(String),
    #[error("the bucket you tried to delete is not empty")]
    BucketNotEmpty,
    #[error("at least one of the preconditions you specified did not hold")]
    PreconditionFailed,
    /// The object was not modified; carries what a 304 response repeats.
    #[error("not modified")]
    NotModified { etag: String, modified_ms: i64 },
    #[error("the requested range is not satisfiable (object size {size})")]
    InvalidRange { size: u64 },
    #[error("the requested part number is not satisfiable")]
    InvalidPartNumber,
    #[error(
        "the XML you provided was not well-formed or did not validate against our published schema"
    )]
    MalformedXml,
    /// Malformed XML, with what exactly is wrong.
    #[error("{0}")]
    MalformedXmlDetail(String),
    #[error("{0}")]
    InvalidTag(String),
    #[error("the write offset {offset} does not match the object's size {size}")]
    InvalidWriteOffset { offset: u64, size: u64 },
    #[error("the lifecycle configuration does not exist")]
    NoSuchLifecycleConfiguration,
    #[error("the Intelligent-Tiering configuration {0:?} does not exist")]
    NoSuchTieringConfiguration(String),
    #[error("the Content-MD5 you specified did not match what we received")]
    BadDigest,
    #[error("the {algorithm} you specified did not match the calculated checksum")]
    ChecksumMismatch { algorithm: &'static str },
    #[error("the Content-MD5 you specified is not valid")]
    InvalidDigest,
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("your proposed upload exceeds the maximum allowed object size")]
    EntityTooLarge,
    #[error("your proposed upload is smaller than the minimum allowed object size")]
    EntityTooSmall,
    #[error(
        "one or more of the specified parts could not be found or its entity tag did not match: {0}"
    )]
    InvalidPart(String),
    #[error("the list of parts was not in ascending order")]
    InvalidPartOrder,
    #[error("your metadata headers exceed the maximum allowed metadata size")]
    MetadataTooLarge,
    #[error("you did not provide the number of bytes specified by the Content-Length header")]
    IncompleteBody,
    #[error("the provided x-amz-content-sha256 header does not match what was computed")]
    ContentSha256Mismatch,
    #[error("the request signature we calculated does not match the signature you provided")]
    SignatureDoesNotMatch,
    #[error("the storage class you specified is not valid")]
    InvalidStorageClass,
    #[error(
        "this copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes"
    )]
    InvalidCopyToSelf,
    #[error("no storage tier has room for this object")]
    StorageFull,
    #[error("the storage tier {tier} is unavailable; please retry later")]
    TierUnavailable { tier: String },
    #[error("{0}")]
    AccessDenied(String),
    #[error("{0}")]
    MalformedPolicy(String),
    #[error("{0}")]
    QuotaExceeded(String),
    #[error("the bucket policy does not exist")]
    NoSuchBucketPolicy,
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<MetaError> for ObjectError {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::NoSuchBucket => Self::NoSuchBucket,
            MetaError::NoSuchUpload => Self::NoSuchUpload,
            MetaError::BucketNotEmpty => Self::BucketNotEmpty,
            MetaError::PreconditionFailed => Self::PreconditionFailed,
            // Only a bucket created by a tenant that is being removed meets this.
            MetaError::NoSuchTenant => Self::AccessDenied("the tenant no longer exists".into()),
            MetaError::QuotaExceeded(message) => Self::QuotaExceeded(message),
            MetaError::VersionedBucket => Self::InvalidRequest(
                "this operation is not available on a bucket with versioning enabled or suspended"
                    .into(),
            ),
            MetaError::SharedBlobs => Self::InvalidRequest(
                "the bucket's versioning changed while the request ran; send it again".into(),
            ),
            MetaError::BucketExists { .. }
            | MetaError::PartsChanged
            | MetaError::TenantExists
            | MetaError::TenantOwnsBuckets(_) => Self::Internal(e.to_string()),
            MetaError::Storage(_) | MetaError::Corrupt(_) | MetaError::Closed => {
                Self::Internal(e.to_string())
            }
        }
    }
}

impl From<TierError> for ObjectError {
    fn from(e: TierError) -> Self {
        match e {
            TierError::Full => Self::StorageFull,
            TierError::Unavailable { tier, reason } => {
                // The reason (a connection error) is for the operator, not the client.
                tracing::warn!(%tier, %reason, "tier unavailable");
                Self::TierUnavailable { tier }
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<BodyError> for ObjectError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::Sha256Mismatch => Self::ContentSha256Mismatch,
            BodyError::SignatureMismatch => Self::SignatureDoesNotMatch,
            BodyError::Incomplete(_) => Self::IncompleteBody,
        }
    }
}

pub type ObjectResult<T> = Result<T, ObjectError>;
