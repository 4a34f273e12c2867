//! `vmgw fsck`: checks that the metadata and every tier agree, and mends what does not.
//!
//! It runs inside the gateway, while it serves (the admin API's `POST /v1/fsck`):
//!
//! 1. [`inventory`]: one metadata snapshot gives every blob in use and who uses it, and
//!    the store's bookkeeping is checked against itself (blob rows, the reclaim queue,
//!    layouts without objects, usage counters, inline data).
//! 2. [`tiers`]: each tier is listed once; blobs no metadata knows are orphans, decided by
//!    the orphan sweep's own rule (writes in flight are spared); blobs in use that the
//!    listing lacks are missing, confirmed against the *current* metadata under a pin, so a
//!    blob deleted or written after the snapshot is never reported.
//! 3. [`verify`] (`--deep`): every blob in use is read through the tier's verified reader
//!    (chunk CRCs, GCM tags, the footer's length) and its MD5 compared with the ETag it was
//!    written under; a remote blob's cached local copy is verified too.
//! 4. [`repair`] (`--repair`): orphans are deleted; lost or damaged data is restored from an
//!    intact copy (a remote blob from its cached copy, or the cached copy dropped when the
//!    remote is intact); otherwise the object is quarantined — its bytes kept in the tier's
//!    `lost+found`, then the object removed from the namespace in one commit, as a delete
//!    would, so listings never show an unreadable object and usage stays exact.
//!
//! Every repair re-checks, in its commit, that the object is still the version and layout
//! the finding was about: a client's write during fsck wins.

mod inventory;
mod repair;
#[cfg(test)]
mod tests;
mod tiers;
mod verify;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use vmgw_tiering::DataId;

use super::ObjectService;
use super::error::{ObjectError, ObjectResult};
use crate::meta::UploadId;

/// What to do.
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

/// Who uses a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Owner {
    Object {
        bucket_id: u64,
        key: String,
        version: u128,
    },
    Part {
        bucket_id: u64,
        key: String,
        upload_id: UploadId,
        number: u32,
    },
}

impl Owner {
    fn bucket_id(&self) -> u64 {
        match self {
            Self::Object { bucket_id, .. } | Self::Part { bucket_id, .. } => *bucket_id,
        }
    }

    fn key(&self) -> &str {
        match self {
            Self::Object { key, .. } | Self::Part { key, .. } => key,
        }
    }
}

/// A blob in use, as the snapshot has it.
#[derive(Debug, Clone)]
pub(super) struct BlobUse {
    pub tier: String,
    pub owner: Owner,
    /// Payload bytes.
    pub size: u64,
    /// Hex MD5 its bytes must have (the ETag of a single-blob object or of a part).
    pub md5: Option<String>,
    /// Its part number in the object, if the object is multipart.
    pub part: Option<u32>,
    /// Where its bytes start in the object.
    pub offset: u64,
}

/// How a finding is mended.
#[derive(Debug, Clone)]
pub(super) enum Fix {
    DeleteOrphan {
        tier: String,
        id: DataId,
    },
    /// The blob's data is missing or damaged.
    Data {
        id: DataId,
    },
    DropCachedCopy {
        tier: String,
        id: DataId,
    },
    Inline {
        bucket_id: u64,
        key: String,
        version: u128,
    },
    DropObjectWithoutLayout {
        bucket_id: u64,
        key: String,
        version: u128,
    },
    DropLayout {
        version: u128,
        keep: Vec<DataId>,
    },
    Reclaim {
        id: DataId,
        tier: String,
    },
    SetRow {
        id: DataId,
        tier: String,
    },
    Keep {
        bucket_id: u64,
        key: String,
        id: DataId,
    },
    Recount {
        bucket_id: u64,
    },
    Nothing,
}

/// A finding and how to mend it.
#[derive(Debug, Clone)]
pub(super) struct Found {
    pub finding: Finding,
    pub fix: Fix,
}

impl Finding {
    pub(super) fn new(kind: FindingKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            tier: None,
            blob: None,
            bucket: None,
            key: None,
            upload_id: None,
            detail: detail.into(),
            repair: None,
        }
    }

    pub(super) fn tier(mut self, tier: &str) -> Self {
        self.tier = Some(tier.to_owned());
        self
    }

    pub(super) fn blob(mut self, id: DataId) -> Self {
        self.blob = Some(id.to_string());
        self
    }

    pub(super) fn object(mut self, bucket: Option<&str>, key: &str) -> Self {
        self.bucket = bucket.map(str::to_owned);
        self.key = Some(key.to_owned());
        self
    }

    pub(super) fn fix(self, fix: Fix) -> Found {
        Found { finding: self, fix }
    }
}

impl ObjectService {
    /// Checks (and with `repair`, mends) the metadata and every tier. One run at a time.
    pub async fn fsck(self: &Arc<Self>, options: FsckOptions) -> ObjectResult<FsckReport> {
        let _running = self.fsck_lock.try_lock().map_err(|_| {
            ObjectError::InvalidArgument("an fsck is already running on this gateway".into())
        })?;
        let service = Arc::clone(self);
        let blocking = |e: tokio::task::JoinError| ObjectError::Internal(format!("fsck task: {e}"));
        let (inventory, mut found) = tokio::task::spawn_blocking({
            let service = Arc::clone(&service);
            move || inventory::take(&service, options.deep)
        })
        .await
        .map_err(blocking)??;
        let mut report = FsckReport {
            deep: options.deep,
            repair: options.repair,
            objects: inventory.objects,
            blobs: inventory.uses.len() as u64,
            ..FsckReport::default()
        };
        let inventory = Arc::new(inventory);
        for tier in self.tiers.iter() {
            report.tiers.push(tier.name().to_owned());
            let (service, inventory, tier) = (
                Arc::clone(&service),
                Arc::clone(&inventory),
                Arc::clone(tier),
            );
            let (tier_found, verified) = tokio::task::spawn_blocking(move || {
                tiers::check(&service, &inventory, tier.as_ref(), options.deep)
            })
            .await
            .map_err(blocking)??;
            found.extend(tier_found);
            report.bytes_verified += verified;
        }
        if options.repair {
            repair::run(&service, &inventory, &mut found).await;
        }
        report.findings = found.into_iter().map(|f| f.finding).collect();
        tracing::info!(
            findings = report.findings.len(),
            unresolved = report.unresolved(),
            deep = options.deep,
            repair = options.repair,
            "fsck finished"
        );
        Ok(report)
    }
}
