//! The object service: S3 semantics over the metadata store and the tiers, independent of
//! the wire protocol.
//!
//! Write protocol (PUT, copy, part upload): bytes go to a fresh blob id on a tier and are
//! made durable; then one metadata commit makes them the current version and, in the same
//! transaction, queues the replaced version's blobs for reclamation. A crash before the
//! commit leaves only an unreferenced blob, which the start-up sweep deletes; a crash after
//! it leaves the new version whole. Readers pin blobs (see [`pins`]) so that reclamation
//! never pulls data from under a GET in progress.

mod access;
mod activity;
mod append;
mod checksum;
mod conditions;
mod demote;
mod descriptor;
mod error;
mod fsck;
mod in_flight;
mod ingest;
mod intelligent_tiering;
mod lifecycle_batch;
mod lifecycle_config;
mod lifecycle_stats;
mod lifecycle_status;
mod lifecycle_versions;
mod lifecycle_wake;
mod lifecycle_worker;
mod md5_lanes;
mod metered;
mod move_queue;
mod move_stats;
mod moves;
mod multipart;
mod object_ops;
mod period;
mod pins;
mod placement;
mod quota;
mod read;
mod reclaim;
mod redescribe;
mod rename;
mod sweep;
mod tagging;
#[cfg(test)]
pub(crate) mod test_support;
mod tiers;
mod version_id;
mod versioning;
#[cfg(test)]
mod versioning_tests;
mod watermarks;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use vmgw_tiering::{DataId, Tier};

pub use checksum::Hasher;
pub use conditions::{ByteRange, Conditions, EtagMatch};
pub use demote::run_demoter;
pub use descriptor::{BlobDescriptor, DESCRIPTOR_VERSION};
pub use error::{BodyError, ObjectError, ObjectResult};
pub use fsck::{Finding, FindingKind, FsckOptions, FsckReport, Repair, RepairAction};
pub use ingest::ByteStream;
pub use lifecycle_stats::{BucketLifecycleStats, LagHistogram, LifecycleStats};
pub use lifecycle_status::{BucketLifecycleStatus, LifecycleStatus};
pub use lifecycle_worker::{lifecycle_round, run_lifecycle};
pub use move_queue::{MoveQueue, QueuedMove, run_move_queue};
pub use move_stats::MoveCounts;
pub use moves::MoveOutcome;
pub use multipart::{
    CompletePart, CompleteUpload, CreateUpload, PartsPage, UploadPart, UploadPartCopy,
    parse_upload_id,
};
pub use object_ops::{
    ChecksumInput, Copied, CopyObject, GetObject, GetOutcome, HeadOutcome, MetadataDirective,
    NewObjectMeta, PutObject, TaggingDirective, TrailerSource,
};
pub use period::Period;
pub use pins::Pins;
pub use placement::{BlobPlacement, ObjectPlacement, TierStatus};
pub use reclaim::run_reclaimer;
pub use redescribe::{Round as RedescribeRound, redescribe_round, run_redescriber};
pub use rename::RenameObject;
pub use sweep::{SweepMode, run_sweeper, sweep_orphans};
pub use tagging::parse_tagging_header;
pub use tiers::{STORAGE_CLASSES, Tiers, default_class_map};
pub use version_id::{parse_version_id, shown_version_id, version_id};
pub use versioning::{DeleteOutcome, Opened};
pub use watermarks::Watermarks;

use crate::auth::Principal;
use crate::meta::{
    BucketRecord, Layout, ListPage, ListQuery, MetaStore, ObjectRecord, UploadPage, UploadQuery,
    WriteOp, WriteOutcome,
};
use pins::PinGuard;

/// Limits S3 imposes, kept in one place.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Objects up to this size are stored inside the metadata store.
    pub inline_threshold: usize,
    /// Largest single PUT or part (S3: 5 GiB).
    pub max_put_size: u64,
    /// Smallest non-final multipart part (S3: 5 MiB).
    pub min_part_size: u64,
    /// Most bytes of user metadata (keys plus values) per object (S3: 2 KiB).
    pub max_user_metadata: usize,
    /// The length of a lifecycle "day" in milliseconds (shortened for tests and demos).
    pub lifecycle_day_ms: i64,
    /// Intelligent tiering's automatic steps.
    pub auto_tiering: vmgw_lifecycle::AutoTiering,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // Below this a separate file costs more (open, write, two fsyncs) than carrying
            // the bytes in the metadata commit that has to happen anyway.
            inline_threshold: 64 * 1024,
            max_put_size: 5 << 30,
            min_part_size: 5 << 20,
            max_user_metadata: 2048,
            lifecycle_day_ms: vmgw_lifecycle::DAY_MS,
            auto_tiering: vmgw_lifecycle::AutoTiering::default(),
        }
    }
}

pub struct ObjectService {
    meta: Arc<dyn MetaStore>,
    tiers: Tiers,
    pins: Arc<Pins>,
    /// Background moves, retried while their tier is unavailable.
    moves: Arc<MoveQueue>,
    /// Decoded lifecycle rules by bucket id (`None`: the bucket has none), so requests that
    /// report `x-amz-expiration` do not decode them every time.
    lifecycles:
        std::sync::Mutex<std::collections::HashMap<u64, Option<Arc<Vec<vmgw_lifecycle::Rule>>>>>,
    /// Decoded Intelligent-Tiering configurations by bucket id, for the worker.
    tierings:
        std::sync::Mutex<std::collections::HashMap<u64, Arc<Vec<vmgw_lifecycle::TieringConfig>>>>,
    /// Serialises edits of a bucket's Intelligent-Tiering configurations, which are stored
    /// as one list (read, change, write back).
    tiering_edits: tokio::sync::Mutex<()>,
    /// Blobs written but not yet committed, which the orphan sweep must leave alone.
    in_flight: Arc<in_flight::InFlight>,
    limits: Limits,
    md5: md5_lanes::Md5Engine,
    /// When clients were last served, for moves to give way.
    activity: Arc<activity::Activity>,
    /// MD5 for moves between tiers, on a low-priority thread of its own.
    background_md5: Arc<md5_lanes::Md5Engine>,
    access: access::AccessLog,
    /// What the lifecycle worker did, for `vmgw lifecycle status`.
    lifecycle_stats: lifecycle_stats::LifecycleStats,
    /// Moves between tiers, for metrics.
    move_stats: move_stats::MoveStats,
    /// Held while `vmgw fsck` runs: one at a time.
    fsck_lock: tokio::sync::Mutex<()>,
}

/// CPU priority of background moves (and their hashing): they take what requests leave.
pub(crate) const MOVE_NICE: i32 = 10;

pub fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// A fresh version: time-ordered high half (readable, sortable), random low half, and
/// larger than every version this process made before, so writes to one key taken one after
/// the other are ordered even within a millisecond or when the clock steps back. (The
/// commit orders racing writes and versions from earlier runs; see `meta::versions`.)
pub(crate) fn new_version() -> u128 {
    static LAST: std::sync::Mutex<u128> = std::sync::Mutex::new(0);
    let fresh = (u128::from(now_ms().unsigned_abs()) << 64) | u128::from(rand::random::<u64>());
    let mut last = LAST.lock().expect("version lock");
    *last = fresh.max(*last + 1);
    *last
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    hex_simd::encode_to_string(bytes, hex_simd::AsciiCase::Lower)
}

impl ObjectService {
    #[must_use]
    pub fn new(meta: Arc<dyn MetaStore>, tiers: Tiers, limits: Limits) -> Self {
        Self {
            meta,
            tiers,
            pins: Arc::new(Pins::default()),
            moves: Arc::new(MoveQueue::default()),
            lifecycles: std::sync::Mutex::default(),
            tierings: std::sync::Mutex::default(),
            tiering_edits: tokio::sync::Mutex::default(),
            in_flight: Arc::new(in_flight::InFlight::default()),
            limits,
            // One engine thread per two cores: each hashes up to eight uploads side by side.
            md5: md5_lanes::Md5Engine::new(
                std::thread::available_parallelism().map_or(1, |n| n.get() / 2),
            ),
            activity: Arc::default(),
            background_md5: Arc::new(md5_lanes::Md5Engine::with_nice(1, MOVE_NICE)),
            access: access::AccessLog::default(),
            lifecycle_stats: lifecycle_stats::LifecycleStats::default(),
            move_stats: move_stats::MoveStats::default(),
            fsck_lock: tokio::sync::Mutex::default(),
        }
    }

    /// Whether the metadata store answers a read. Blocking.
    pub fn metadata_answers(&self) -> ObjectResult<()> {
        self.meta.buckets()?;
        Ok(())
    }

    /// Moves between tiers since start, by target tier.
    #[must_use]
    pub fn move_counts(&self) -> std::collections::BTreeMap<String, MoveCounts> {
        self.move_stats.snapshot()
    }

    /// Writes the reads noted since the last flush to the metadata store; returns how many
    /// objects' times were written.
    pub async fn flush_reads(&self) -> ObjectResult<usize> {
        let reads = self.access.take();
        if reads.is_empty() {
            return Ok(0);
        }
        let count = reads.len();
        match self
            .meta
            .apply(WriteOp::RecordReads {
                reads: reads.clone(),
            })
            .await
        {
            Ok(_) => Ok(count),
            Err(e) => {
                self.access.restore(reads);
                Err(e.into())
            }
        }
    }

    #[must_use]
    pub fn move_queue(&self) -> &MoveQueue {
        &self.moves
    }

    #[must_use]
    pub fn lifecycle_stats(&self) -> &LifecycleStats {
        &self.lifecycle_stats
    }

    #[must_use]
    pub fn meta(&self) -> &Arc<dyn MetaStore> {
        &self.meta
    }

    #[must_use]
    pub fn tiers(&self) -> &Tiers {
        &self.tiers
    }

    #[must_use]
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub async fn create_bucket(
        &self,
        name: &str,
        region: &str,
        owner: &str,
    ) -> ObjectResult<BucketRecord> {
        let record = BucketRecord {
            id: 0,
            name: name.to_owned(),
            created_ms: now_ms(),
            region: region.to_owned(),
            owner: owner.to_owned(),
            versioning: crate::meta::Versioning::Unversioned,
        };
        match self.meta.apply(WriteOp::CreateBucket { record }).await {
            Ok(WriteOutcome::BucketCreated(record)) => Ok(record),
            Ok(other) => Err(ObjectError::Internal(format!(
                "unexpected outcome {other:?}"
            ))),
            Err(crate::meta::MetaError::BucketExists { owner: existing })
                if Principal::owning(&existing) == Principal::owning(owner) =>
            {
                Err(ObjectError::BucketAlreadyOwnedByYou(name.to_owned()))
            }
            Err(crate::meta::MetaError::BucketExists { .. }) => {
                Err(ObjectError::BucketAlreadyExists(name.to_owned()))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn bucket(&self, name: &str) -> ObjectResult<BucketRecord> {
        self.meta.bucket(name)?.ok_or(ObjectError::NoSuchBucket)
    }

    pub fn buckets(&self) -> ObjectResult<Vec<BucketRecord>> {
        Ok(self.meta.buckets()?)
    }

    pub async fn delete_bucket(&self, name: &str) -> ObjectResult<()> {
        self.meta
            .apply(WriteOp::DeleteBucket {
                name: name.to_owned(),
            })
            .await?;
        Ok(())
    }

    pub fn list_objects(&self, bucket: &str, mut query: ListQuery) -> ObjectResult<ListPage> {
        query.bucket_id = self.bucket(bucket)?.id;
        Ok(self.meta.list_objects(&query)?)
    }

    /// The user metadata of each of `keys` (empty for one deleted since it was listed).
    pub fn user_metadata_of(
        &self,
        bucket: &str,
        keys: &[String],
    ) -> ObjectResult<Vec<Vec<(String, String)>>> {
        let bucket_id = self.bucket(bucket)?.id;
        keys.iter()
            .map(|key| {
                Ok(self
                    .meta
                    .object(bucket_id, key)?
                    .map(|record| record.user_meta)
                    .unwrap_or_default())
            })
            .collect()
    }

    pub fn list_uploads(&self, bucket: &str, mut query: UploadQuery) -> ObjectResult<UploadPage> {
        query.bucket_id = self.bucket(bucket)?.id;
        Ok(self.meta.list_uploads(&query)?)
    }

    /// The current version of `key` with its layout, its blobs pinned for reading: they stay
    /// on their tiers until the guard drops, whatever writes or moves commit meanwhile.
    fn open_current(
        &self,
        bucket: &BucketRecord,
        key: &str,
    ) -> ObjectResult<(ObjectRecord, Layout, PinGuard)> {
        // Each retry means a writer replaced the object between lookup and pin; a handful of
        // rounds can only be exhausted by a key rewritten continuously.
        for _ in 0..16 {
            let (record, layout) = self
                .meta
                .object_with_layout(bucket.id, key)?
                .ok_or(ObjectError::NoSuchKey)?;
            let guard = self.pins.pin(layout.blobs().map(|b| b.id));
            if matches!(layout, Layout::Inline { .. }) {
                return Ok((record, layout, guard));
            }
            // Unchanged version *and* layout: a move between tiers keeps the version but
            // retires the old blobs, so the layout must be the one that was pinned.
            match self.meta.object_with_layout(bucket.id, key)? {
                Some((now, now_layout))
                    if now.version == record.version && now_layout == layout =>
                {
                    return Ok((record, layout, guard));
                }
                Some(_) => {}
                None => return Err(ObjectError::NoSuchKey),
            }
        }
        Err(ObjectError::Internal(format!(
            "object {key:?} kept changing while it was opened"
        )))
    }

    /// Version `version` of `key` (by its internal number, current or not) with its layout,
    /// pinned as [`Self::open_current`] pins; `None` when it no longer exists or is a delete
    /// marker. For repairs, which name versions by number.
    fn open_numbered(
        &self,
        bucket: &BucketRecord,
        key: &str,
        version: u128,
    ) -> ObjectResult<Option<(ObjectRecord, Layout, PinGuard)>> {
        for _ in 0..16 {
            let Some(found) = self.meta.version_numbered(bucket.id, key, version)? else {
                return Ok(None);
            };
            let Some(layout) = found.layout else {
                return Ok(None);
            };
            let guard = self.pins.pin(layout.blobs().map(|b| b.id));
            // A version keeps its number when its bytes move: the layout must be the one
            // that was pinned.
            match self.meta.version_numbered(bucket.id, key, version)? {
                Some(now) if now.layout.as_ref() == Some(&layout) => {
                    return Ok(Some((found.record, layout, guard)));
                }
                Some(_) => {}
                None => return Ok(None),
            }
        }
        Err(ObjectError::Internal(format!(
            "version {version:032x} of {key:?} kept changing while it was opened"
        )))
    }

    /// Deletes a blob that was written but never committed.
    async fn discard(&self, tier: &Arc<dyn Tier>, id: DataId) {
        let tier = Arc::clone(tier);
        let result = tokio::task::spawn_blocking(move || tier.remove(id)).await;
        if !matches!(result, Ok(Ok(()))) {
            tracing::warn!(blob = %id, "could not discard an uncommitted blob; the orphan sweep will remove it");
        }
    }
}
