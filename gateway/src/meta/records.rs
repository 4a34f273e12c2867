//! What the metadata store keeps, encoded as MessagePack maps with named fields so that
//! later versions can add fields (with `#[serde(default)]`) without migrating records.

use serde::{Deserialize, Serialize};
use vmgw_lifecycle::AccessTier;
use vmgw_tiering::DataId;

/// A bucket. Objects refer to buckets by `id`, never by name, so a bucket deleted and
/// created again under the same name can never see the old bucket's records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketRecord {
    pub id: u64,
    pub name: String,
    pub created_ms: i64,
    pub region: String,
    /// Who owns the bucket: `tenant/NAME` for a tenant's bucket; anything else (the access
    /// key of the admin that created it, in records older than tenants) is the admin's.
    pub owner: String,
    /// S3 versioning. Kept in the bucket's record because every write's commit reads that
    /// record anyway (to check the bucket still exists), so the commit decides how a write
    /// versions the key at no extra cost and atomically with a change of the state.
    #[serde(default, skip_serializing_if = "Versioning::is_unversioned")]
    pub versioning: Versioning,
}

/// A bucket's versioning state. A bucket that was once versioned can be suspended but never
/// unversioned again (S3's rule): its keys may hold several versions from then on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Versioning {
    /// Never versioned: every write replaces the key's only (`null`) version.
    #[default]
    Unversioned,
    /// Every write adds a version with an id of its own; deletes add delete markers.
    Enabled,
    /// Writes replace the key's `null` version and keep every other version; deletes add a
    /// `null` delete marker.
    Suspended,
}

impl Versioning {
    #[must_use]
    pub fn is_unversioned(&self) -> bool {
        *self == Self::Unversioned
    }

    /// Whether versions written now get an id of their own (not `null`).
    #[must_use]
    pub fn ids_versions(self) -> bool {
        self == Self::Enabled
    }
}

/// A tenant (usually one guest VM) and the access keys it signs with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRecord {
    pub name: String,
    pub created_ms: i64,
    pub keys: Vec<TenantKey>,
    /// Limits on everything the tenant's buckets hold together.
    #[serde(default)]
    pub quota: Quota,
    #[serde(default)]
    pub limits: RateLimits,
    /// The client certificates that act as the tenant (see `auth::client_cert`); stored as
    /// lowercase hex.
    #[serde(default)]
    pub client_certs: Vec<super::Fingerprint>,
}

/// A tenant's request rate and bandwidth limits; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimits {
    #[serde(default)]
    pub requests_per_sec: Option<u32>,
    /// Each direction (uploads and downloads) separately.
    #[serde(default)]
    pub bytes_per_sec: Option<u64>,
}

impl RateLimits {
    #[must_use]
    pub fn is_unlimited(&self) -> bool {
        self.requests_per_sec.is_none() && self.bytes_per_sec.is_none()
    }
}

/// Storage limits (of a tenant, or of one bucket); `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    #[serde(default)]
    pub max_bytes: Option<u64>,
    #[serde(default)]
    pub max_objects: Option<u64>,
}

impl Quota {
    #[must_use]
    pub fn is_unlimited(&self) -> bool {
        self.max_bytes.is_none() && self.max_objects.is_none()
    }

    /// Whether `usage` fits.
    #[must_use]
    pub fn admits(&self, usage: Usage) -> bool {
        self.max_bytes.is_none_or(|max| usage.bytes <= max)
            && self.max_objects.is_none_or(|max| usage.objects <= max)
    }
}

/// What a bucket (or a tenant) holds: the sizes and the number of object versions holding
/// data (current and noncurrent; delete markers hold nothing), kept in
/// the same commits as the objects themselves, so it is exact after any crash.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub bytes: u64,
    pub objects: u64,
}

/// One access key of a tenant. The secret is sealed (SigV4 needs it in the clear on the
/// server, so it cannot be hashed); see `auth::sealer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantKey {
    pub access_key: String,
    #[serde(with = "serde_bytes")]
    pub sealed_secret: Vec<u8>,
    pub created_ms: i64,
}

/// Standard HTTP representation headers S3 stores with an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContentHeaders {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// `Expires`, in milliseconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website_redirect_location: Option<String>,
}

/// S3 additional-checksum algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

/// Whether a checksum covers the whole object or is a checksum of part checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChecksumKind {
    FullObject,
    Composite,
}

/// An additional checksum as S3 reports it: base64 of the digest, plus `-N` for composite
/// multipart checksums.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredChecksum {
    pub algorithm: ChecksumAlgorithm,
    pub kind: ChecksumKind,
    pub value: String,
}

/// A version of an object: everything HEAD and LIST need. The bytes are described
/// separately by a [`Layout`] keyed by `version`. The current version lives in `objects`;
/// noncurrent versions and delete markers in `versions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRecord {
    /// Unique per write and increasing per key in commit order (the commit makes sure): it
    /// keys the layout, orders a key's versions, and is the S3 version id of a version that
    /// has one (see `versioned`).
    pub version: u128,
    pub size: u64,
    /// Hex MD5 of the body, or `md5-of-part-md5s-N` for multipart objects (no quotes).
    pub etag: String,
    pub modified_ms: i64,
    #[serde(default)]
    pub content: ContentHeaders,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_meta: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<StoredChecksum>,
    /// Number of parts for objects completed from a multipart upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<u32>,
    pub owner: String,
    /// Object tags (key, value), in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// For the INTELLIGENT_TIERING class, the access tier the object has moved to by not
    /// being read; `None` is the frequent tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_tier: Option<AccessTier>,
    /// Written while versioning was enabled: the version has an id of its own. Otherwise it
    /// is the key's `null` version (at most one per key), as every record written before
    /// versioning existed is.
    #[serde(default, skip_serializing_if = "is_false")]
    pub versioned: bool,
    /// A delete marker: a version without bytes (no layout) that makes its key absent while
    /// it is the newest version.
    #[serde(default, skip_serializing_if = "is_false")]
    pub delete_marker: bool,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `skip_serializing_if` passes a reference
fn is_false(value: &bool) -> bool {
    !*value
}

impl ObjectRecord {
    /// A delete marker written at `modified_ms` by `owner`.
    #[must_use]
    pub fn delete_marker(version: u128, versioned: bool, modified_ms: i64, owner: String) -> Self {
        Self {
            version,
            size: 0,
            etag: String::new(),
            modified_ms,
            content: ContentHeaders::default(),
            user_meta: Vec::new(),
            storage_class: None,
            checksum: None,
            parts: None,
            owner,
            tags: Vec::new(),
            access_tier: None,
            versioned,
            delete_marker: true,
        }
    }
}

/// The fields a listing needs; decoding into this skips the rest of the record cheaply.
#[derive(Debug, Clone, Deserialize)]
pub struct ListedObject {
    pub size: u64,
    pub etag: String,
    pub modified_ms: i64,
    #[serde(default)]
    pub storage_class: Option<String>,
    pub owner: String,
}

/// The fields a listing of versions needs.
#[derive(Debug, Clone, Deserialize)]
pub struct ListedVersion {
    pub version: u128,
    pub size: u64,
    pub etag: String,
    pub modified_ms: i64,
    #[serde(default)]
    pub storage_class: Option<String>,
    pub owner: String,
    #[serde(default)]
    pub versioned: bool,
    #[serde(default)]
    pub delete_marker: bool,
}

/// One stored blob that holds (part of) an object's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    #[serde(with = "data_id_bytes")]
    pub id: DataId,
    pub tier: String,
    pub size: u64,
}

/// One part of a multipart object, as completed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartLayout {
    pub number: u32,
    pub blob: BlobRef,
    /// Hex MD5 of the part.
    pub etag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

/// Where an object's bytes are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// Small objects live in the metadata store itself: one commit makes them durable, no
    /// file is opened or synced. `crc32c` guards the bytes like a chunk checksum does.
    Inline {
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
        crc32c: u32,
    },
    /// A single blob written by one PutObject or CopyObject.
    Blob(BlobRef),
    /// The parts of a completed multipart upload, in order.
    Parts(Vec<PartLayout>),
}

impl Layout {
    /// Every blob this layout references.
    pub fn blobs(&self) -> impl Iterator<Item = &BlobRef> {
        let (single, parts) = match self {
            Self::Inline { .. } => (None, &[][..]),
            Self::Blob(blob) => (Some(blob), &[][..]),
            Self::Parts(parts) => (None, parts.as_slice()),
        };
        single.into_iter().chain(parts.iter().map(|p| &p.blob))
    }
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    pub bucket_id: u64,
    pub key: String,
    pub initiated_ms: i64,
    #[serde(default)]
    pub content: ContentHeaders,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_meta: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_kind: Option<ChecksumKind>,
    pub owner: String,
    /// Tags the completed object gets (`x-amz-tagging` on CreateMultipartUpload).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
}

/// One uploaded part of an upload in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    pub blob: BlobRef,
    pub etag: String,
    pub modified_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

mod data_id_bytes {
    use serde::{Deserialize, Deserializer, Serializer};
    use vmgw_tiering::DataId;

    pub fn serialize<S: Serializer>(id: &DataId, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&id.to_bytes())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DataId, D::Error> {
        let bytes: serde_bytes::ByteBuf = Deserialize::deserialize(d)?;
        let array: [u8; 16] = bytes
            .as_ref()
            .try_into()
            .map_err(|_| serde::de::Error::invalid_length(bytes.len(), &"16 bytes"))?;
        Ok(DataId::from_bytes(array))
    }
}

/// Encodes a record for storage.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(value).expect("records always serialize")
}

/// Decodes a stored record.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, rmp_serde::decode::Error> {
    rmp_serde::from_slice(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ObjectRecord {
        ObjectRecord {
            version: 7,
            size: 42,
            etag: "abc".into(),
            modified_ms: 1_700_000_000_000,
            content: ContentHeaders {
                content_type: Some("text/plain".into()),
                ..ContentHeaders::default()
            },
            user_meta: vec![("k".into(), "v".into())],
            storage_class: None,
            checksum: Some(StoredChecksum {
                algorithm: ChecksumAlgorithm::Crc32,
                kind: ChecksumKind::FullObject,
                value: "AAAAAA==".into(),
            }),
            parts: None,
            owner: "me".into(),
            tags: vec![("k".into(), "v".into())],
            access_tier: None,
            versioned: false,
            delete_marker: false,
        }
    }

    #[test]
    fn object_record_round_trips_and_lists() {
        let record = sample();
        let bytes = encode(&record);
        assert_eq!(decode::<ObjectRecord>(&bytes).unwrap(), record);
        let listed: ListedObject = decode(&bytes).unwrap();
        assert_eq!(
            (listed.size, listed.etag.as_str(), listed.owner.as_str()),
            (42, "abc", "me")
        );
        // Records written before versioning existed are `null` versions, not markers.
        let version: ListedVersion = decode(&bytes).unwrap();
        assert!(!version.versioned && !version.delete_marker);
        assert!(!encode(&record).windows(9).any(|w| w == b"versioned"));
        let marker = ObjectRecord::delete_marker(9, true, 5, "me".into());
        let listed: ListedVersion = decode(&encode(&marker)).unwrap();
        assert!(listed.versioned && listed.delete_marker && listed.version == 9);
        assert_eq!(decode::<ObjectRecord>(&encode(&marker)).unwrap(), marker);
    }

    #[test]
    fn layout_round_trips() {
        let layout = Layout::Parts(vec![PartLayout {
            number: 1,
            blob: BlobRef {
                id: DataId(99),
                tier: "ssd".into(),
                size: 5,
            },
            etag: "e".into(),
            checksum: None,
        }]);
        assert_eq!(decode::<Layout>(&encode(&layout)).unwrap(), layout);
        assert_eq!(layout.blobs().count(), 1);
    }
}
