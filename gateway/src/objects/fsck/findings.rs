//! What fsck reports: its findings, what each repair did, and the whole report.

use serde::{Deserialize, Serialize};
use vmgw_tiering::DataId;

use super::{Fix, Found};

/// What fsck is asked to do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsckOptions {
    /// Read and verify every byte of every blob in use.
    #[serde(default)]
    pub deep: bool,
    /// Mend what is found.
    #[serde(default)]
    pub repair: bool,
}

/// What kind of problem a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A blob on a tier that no metadata knows (the remains of an interrupted write).
    Orphan,
    /// A blob in use that its tier does not hold.
    MissingData,
    /// A blob in use whose bytes fail verification (a chunk checksum or GCM tag, its
    /// length, or its MD5 against the ETag); for inline objects, their CRC32C.
    ChecksumMismatch,
    /// A blob sealed with a key the tier is not configured with: unreadable, not damaged.
    KeyUnavailable,
    /// The local cached copy of a remote blob is damaged (the remote copy is intact).
    DamagedCachedCopy,
    /// A tier could not be reached, so it was not checked.
    TierUnavailable,
    /// An object whose version has no layout: nothing says where its bytes are.
    ObjectWithoutLayout,
    /// A layout no object uses (its blobs are held for nothing).
    LayoutWithoutObject,
    /// A row of the blob table that nothing uses and nothing will reclaim.
    UnreferencedBlobRow,
    /// A blob in use whose blob-table row is missing or names another tier.
    BlobRowMismatch,
    /// A blob in use that is queued for reclamation (it would be deleted from under its
    /// object).
    ReclaimingReferencedBlob,
    /// A bucket's usage counters differ from what its objects add up to.
    UsageMismatch,
}

/// What a repair did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepairAction {
    /// The orphan was deleted.
    Deleted,
    /// The blob was written again from its intact cached copy.
    RestoredFromCache,
    /// The damaged cached copy was dropped; the blob itself is intact.
    DroppedCachedCopy,
    /// The object's surviving bytes were kept in `lost+found` and the object removed.
    Quarantined,
    /// The upload's surviving parts were kept in `lost+found` and the upload aborted.
    AbortedUpload,
    /// Usage counted again from the objects.
    Recounted,
    /// The blob-table row was set to the blob's tier.
    FixedBlobRow,
    /// The unused blob was queued for reclamation.
    Reclaimed,
    /// The blob was taken off the reclamation queue.
    Unqueued,
    /// The unused layout was dropped and its unused blobs queued for reclamation.
    DroppedLayout,
    /// The object or blob changed while fsck ran: the finding no longer applies.
    Superseded,
    /// Nothing fsck can do (a missing key, an unreachable tier).
    NotRepairable,
}

/// The outcome of repairing one finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repair {
    pub action: RepairAction,
    /// Whether the problem is gone.
    pub ok: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// The blob's id (32 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The object version's S3 id (`null` included), on a bucket with versioning enabled or
    /// suspended, where the key alone does not say which of its versions is damaged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// For a part of an upload in progress: the upload's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    pub detail: String,
    /// Set with `--repair`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repair: Option<Repair>,
}

/// What fsck checked and found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsckReport {
    pub deep: bool,
    pub repair: bool,
    /// Current objects checked.
    pub objects: u64,
    /// Blobs in use (of objects and of uploads in progress).
    pub blobs: u64,
    /// Payload bytes read and verified (`--deep`).
    pub bytes_verified: u64,
    /// Tiers checked.
    pub tiers: Vec<String>,
    pub findings: Vec<Finding>,
}

impl FsckReport {
    /// Findings that are not repaired.
    #[must_use]
    pub fn unresolved(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| !f.repair.as_ref().is_some_and(|r| r.ok))
            .count()
    }
}

impl Finding {
    pub(in crate::objects) fn new(kind: FindingKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            tier: None,
            blob: None,
            bucket: None,
            key: None,
            version_id: None,
            upload_id: None,
            detail: detail.into(),
            repair: None,
        }
    }

    pub(in crate::objects) fn tier(mut self, tier: &str) -> Self {
        self.tier = Some(tier.to_owned());
        self
    }

    pub(in crate::objects) fn blob(mut self, id: DataId) -> Self {
        self.blob = Some(id.to_string());
        self
    }

    pub(in crate::objects) fn object(mut self, bucket: Option<&str>, key: &str) -> Self {
        self.bucket = bucket.map(str::to_owned);
        self.key = Some(key.to_owned());
        self
    }

    /// Names the version, when its bucket has versioning (`bucket` is None when the bucket
    /// is unknown).
    pub(in crate::objects) fn version(
        mut self,
        bucket: Option<&crate::meta::BucketRecord>,
        version: u128,
        versioned: bool,
    ) -> Self {
        if bucket.is_some_and(|b| b.versioning != crate::meta::Versioning::Unversioned) {
            self.version_id = Some(crate::objects::shown_version_id(version, versioned));
        }
        self
    }

    pub(in crate::objects) fn fix(self, fix: Fix) -> Found {
        Found { finding: self, fix }
    }
}
