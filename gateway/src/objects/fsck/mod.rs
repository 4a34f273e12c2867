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

mod findings;
mod inventory;
mod repair;
#[cfg(test)]
mod tests;
mod tiers;
mod verify;

use std::sync::Arc;

use vmgw_tiering::DataId;

use super::ObjectService;
use super::error::{ObjectError, ObjectResult};
use crate::meta::UploadId;
pub use findings::{Finding, FindingKind, FsckOptions, FsckReport, Repair, RepairAction};

/// Who uses a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Owner {
    Object {
        bucket_id: u64,
        /// Shared by the parts of one object.
        key: Arc<str>,
        version: u128,
        /// Whether the version has an id of its own (else it is the key's `null` version).
        versioned: bool,
    },
    Part {
        bucket_id: u64,
        key: Arc<str>,
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

/// A blob in use, as the snapshot has it. fsck holds one per blob in use, so it is kept
/// small: tier names and keys are shared, the MD5 is its 16 bytes.
#[derive(Debug, Clone)]
pub(super) struct BlobUse {
    pub tier: Arc<str>,
    pub owner: Owner,
    /// Payload bytes.
    pub size: u64,
    /// The MD5 its bytes must have (the ETag of a single-blob object or of a part).
    pub md5: Option<[u8; 16]>,
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
        version: u128,
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
