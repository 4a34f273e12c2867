//! What a blob on a self-describing (remote) tier says about itself: the object it belongs
//! to, with every field of its record, so that the remote bucket alone is enough to rebuild
//! the namespace of everything it holds. Serialized as JSON (readable with any tool once
//! unsealed) and handed to the tier, which seals it when it seals data.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::hex;
use crate::meta::{ChecksumAlgorithm, ChecksumKind, ObjectRecord, StoredChecksum};

pub const DESCRIPTOR_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobDescriptor {
    pub format: u32,
    pub bucket: String,
    pub key: String,
    /// The object's record, when the blob belongs to a committed (or committing) object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectRecord>,
    /// Set for a part of a multipart object or upload: its number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<u32>,
    /// Where this blob's bytes start in the object.
    pub offset: u64,
    /// Set for the part of an upload not yet completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
}

impl BlobDescriptor {
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("descriptors serialize")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// Facts about a blob known only once its bytes are all in.
#[derive(Debug, Clone)]
pub struct BlobFacts {
    pub size: u64,
    pub md5: [u8; 16],
    /// Base64 digest in the requested additional algorithm.
    pub checksum: Option<String>,
}

/// Builds a blob's descriptor from its facts; given to an ingest whose tier keeps
/// descriptors.
#[derive(Clone)]
pub struct Describer(Arc<DescribeFn>);

type DescribeFn = dyn Fn(&BlobFacts) -> Vec<u8> + Send + Sync;

impl std::fmt::Debug for Describer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Describer")
    }
}

impl Describer {
    pub fn describe(&self, facts: &BlobFacts) -> Vec<u8> {
        (self.0)(facts)
    }

    /// For the single blob of an object whose record is `draft` until the facts fill it in
    /// (the same way the committed record is filled, see [`complete_record`]).
    pub fn for_object(
        bucket: &str,
        key: &str,
        draft: ObjectRecord,
        algorithm: Option<ChecksumAlgorithm>,
    ) -> Self {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        Self(Arc::new(move |facts| {
            BlobDescriptor {
                format: DESCRIPTOR_VERSION,
                bucket: bucket.clone(),
                key: key.clone(),
                object: Some(complete_record(draft.clone(), facts, algorithm)),
                part: None,
                offset: 0,
                upload_id: None,
            }
            .encode()
        }))
    }

    /// For the bytes appended to an object at `offset` (its part `part`).
    pub fn for_appended(bucket: &str, key: &str, part: u32, offset: u64) -> Self {
        let descriptor = BlobDescriptor {
            format: DESCRIPTOR_VERSION,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            object: None,
            part: Some(part),
            offset,
            upload_id: None,
        }
        .encode();
        Self(Arc::new(move |_| descriptor.clone()))
    }

    /// For a part of a multipart upload.
    pub fn for_part(bucket: &str, key: &str, upload_id: &str, part: u32) -> Self {
        let descriptor = BlobDescriptor {
            format: DESCRIPTOR_VERSION,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            object: None,
            part: Some(part),
            offset: 0,
            upload_id: Some(upload_id.to_owned()),
        }
        .encode();
        Self(Arc::new(move |_| descriptor.clone()))
    }
}

/// The record of a single-blob object: the draft with the size, ETag and checksum of the
/// bytes actually stored.
#[must_use]
pub fn complete_record(
    mut draft: ObjectRecord,
    facts: &BlobFacts,
    algorithm: Option<ChecksumAlgorithm>,
) -> ObjectRecord {
    draft.size = facts.size;
    draft.etag = hex(&facts.md5);
    draft.parts = None;
    draft.checksum = algorithm
        .zip(facts.checksum.clone())
        .map(|(algorithm, value)| StoredChecksum {
            algorithm,
            kind: ChecksumKind::FullObject,
            value,
        });
    draft
}

/// What the copies of an object's blobs say about themselves on a self-describing tier.
pub(super) struct Describe {
    pub bucket: String,
    pub key: String,
    pub record: ObjectRecord,
}

impl Describe {
    pub fn blob(&self, part: Option<u32>, offset: u64) -> Vec<u8> {
        BlobDescriptor {
            format: DESCRIPTOR_VERSION,
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            object: Some(self.record.clone()),
            part,
            offset,
            upload_id: None,
        }
        .encode()
    }
}
