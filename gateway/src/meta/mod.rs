//! The metadata store: buckets, objects, multipart uploads and blob bookkeeping.
//!
//! [`MetaStore`] is the seam; [`RedbStore`] is the embedded implementation. Reads are
//! synchronous point lookups and range scans on an MVCC snapshot. Writes are [`WriteOp`]s
//! that each validate and then mutate inside a transaction shared with other concurrent
//! writes (group commit), so every write is durable when `apply` returns while many small
//! writes share one `fsync`.
//!
//! Tables and keys (see [`keys`]):
//! - `buckets`: name → [`BucketRecord`]
//! - `objects`: bucket id + key → [`ObjectRecord`] of the current version, the only table a
//!   listing of objects reads.
//! - `versions`: bucket id + escaped key + complemented version → [`ObjectRecord`] of every
//!   noncurrent version and delete marker, so one ordered range is ListObjectVersions'
//!   order and listings of current objects never wade through old versions (see
//!   [`versions`] for the invariants between the two); `null_versions`: object key → the
//!   key's `null` version while it is noncurrent.
//! - `layouts`: version → [`Layout`], read only when bytes are needed.
//! - `uploads`: upload id → [`UploadRecord`]; `uploads_by_key`: bucket + key + upload id;
//!   `parts`: upload id + part number → [`PartRecord`].
//! - `blobs`: every blob that exists or may exist → tier name. A file on a tier whose id
//!   is not here is an orphan (a write that crashed before its commit).
//! - `reclaim`: blobs no longer referenced, to delete from their tier → tier name.
//! - `reads`: object key (as in `objects`) → when it was last read, written in batches
//!   (see `objects::access`); a row goes with its object's deletion.
//!
//! The whole store can be dumped from one snapshot while it serves ([`dump`],
//! `snapshot`) and restored into a fresh file ([`restore`]): metadata backups.

mod apply;
mod bucket_configs;
mod census;
#[cfg(test)]
pub(crate) mod damage;
pub mod dump;
mod fingerprint;
pub mod keys;
mod lifecycle_versions;
#[cfg(test)]
mod lifecycle_versions_tests;
mod list;
mod list_versions;
pub mod records;
mod redb_store;
mod repair;
mod residents;
mod schedule;
mod snapshot;
mod tenants;
mod usage;
mod versions;
#[cfg(test)]
mod versions_tests;

use async_trait::async_trait;
use vmgw_tiering::DataId;

pub use census::{Census, ObjectEntry, UploadEntry};
pub use fingerprint::{Fingerprint, InvalidFingerprint};
pub use records::*;
pub use redb_store::{RedbOptions, RedbStore};
pub use residents::Resident;
pub use schedule::version_facts;
pub use snapshot::restore;
pub use tenants::tenant_owner;
pub use usage::UsageChange;

/// An upload id: 8 bytes of initiation time (so uploads of one key list in initiation
/// order) and 8 random bytes.
pub type UploadId = [u8; 16];

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("no such bucket")]
    NoSuchBucket,
    #[error("bucket already exists (owner {owner})")]
    BucketExists { owner: String },
    #[error("bucket is not empty")]
    BucketNotEmpty,
    #[error("no such upload")]
    NoSuchUpload,
    #[error("precondition failed")]
    PreconditionFailed,
    /// A part named in a completion was replaced or removed while it was being completed.
    #[error("parts of the upload changed during completion")]
    PartsChanged,
    #[error("a tenant with this name already exists")]
    TenantExists,
    #[error("no such tenant")]
    NoSuchTenant,
    #[error("the tenant still owns buckets: {0}")]
    TenantOwnsBuckets(String),
    #[error("{0}")]
    QuotaExceeded(String),
    /// A write would hand blobs of a version that stays to a new version (a metadata-only
    /// copy or an append on a bucket whose versioning was turned on meanwhile).
    #[error("the version would share its bytes with a version that is kept")]
    SharedBlobs,
    /// The operation is not available on a bucket with versioning enabled or suspended.
    #[error("the bucket has versioning enabled or suspended")]
    VersionedBucket,
    #[error("metadata storage error: {0}")]
    Storage(String),
    #[error("metadata record is corrupt: {0}")]
    Corrupt(String),
    #[error("metadata store is shut down")]
    Closed,
}

/// A condition checked atomically with a write.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Precondition {
    #[default]
    None,
    /// `If-None-Match: *`: only create.
    IfAbsent,
    /// `If-Match`: only replace the object whose ETag is this.
    IfEtag(String),
    /// Only replace this exact version (metadata-only self copies).
    IfVersion(u128),
}

/// A version as a request names it: S3's `null`, or a version id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionRef {
    Null,
    Id(u128),
}

/// What a delete on a versioned bucket writes: its delete marker's version, time and owner.
/// On an unversioned bucket no marker is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMarker {
    pub version: u128,
    pub modified_ms: i64,
    pub owner: String,
}

/// A mutation, validated and applied atomically inside a group commit.
#[derive(Debug, Clone)]
pub enum WriteOp {
    CreateBucket {
        record: BucketRecord,
    },
    DeleteBucket {
        name: String,
    },
    PutObject {
        bucket: String,
        bucket_id: u64,
        key: String,
        record: ObjectRecord,
        layout: Layout,
        precondition: Precondition,
    },
    /// Deletes the key as S3 does without a version id: an unversioned bucket removes the
    /// current version, a versioned one adds `marker` (a `null` one when suspended).
    DeleteObject {
        bucket: String,
        bucket_id: u64,
        key: String,
        marker: NewMarker,
    },
    /// Removes one version of a key for good (DELETE with `versionId`); when it was the
    /// newest, the next newest becomes current.
    DeleteVersion {
        bucket_id: u64,
        key: String,
        version: VersionRef,
    },
    /// Sets a bucket's versioning state.
    SetVersioning {
        bucket: String,
        bucket_id: u64,
        versioning: Versioning,
    },
    /// The self-descriptions of an object's blobs were rewritten as of queue entry `seq`:
    /// the entry goes, unless a later change queued it again.
    Redescribed {
        bucket_id: u64,
        key: String,
        seq: u64,
    },
    /// Gives the current version of `from` the name `to` (S3's RenameObject): the record
    /// moves, the bytes stay. `from` must still be `source_version`; `to` must meet
    /// `destination`; an object at `to` is replaced.
    RenameObject {
        bucket: String,
        bucket_id: u64,
        from: String,
        to: String,
        source_version: u128,
        destination: Precondition,
    },
    CreateUpload {
        bucket: String,
        upload_id: UploadId,
        record: UploadRecord,
    },
    PutPart {
        upload_id: UploadId,
        number: u32,
        part: PartRecord,
    },
    /// Turns an upload into an object. `parts` names the chosen parts and the blobs they
    /// had when the caller built `layout`; a mismatch fails with [`MetaError::PartsChanged`].
    CompleteUpload {
        bucket: String,
        upload_id: UploadId,
        parts: Vec<(u32, DataId)>,
        record: ObjectRecord,
        layout: Layout,
        precondition: Precondition,
        /// Parts live where blobs describe themselves: queue the completed object so that
        /// they come to carry its record.
        redescribe: bool,
    },
    AbortUpload {
        upload_id: UploadId,
    },
    /// Replaces the layout of `version` of an object (a move between tiers), provided the
    /// version is still current (or with `noncurrent`, still a noncurrent data version) with
    /// layout `expected`. The old layout's blobs that the
    /// new one does not use are queued for reclamation in the same commit. With
    /// `storage_class`, the record's class changes too.
    SwapLayout {
        bucket_id: u64,
        key: String,
        version: u128,
        /// The version is a noncurrent one (a row of `versions`), not the current version.
        noncurrent: bool,
        expected: Layout,
        layout: Layout,
        class: Option<ClassChange>,
    },
    /// Blobs deleted from their tiers: drop them from `reclaim` and `blobs`.
    ForgetBlobs {
        ids: Vec<DataId>,
    },
    /// Replaces the tags of version `version` of an object (the current one, or a
    /// noncurrent one that is not a delete marker).
    SetObjectTags {
        bucket_id: u64,
        key: String,
        version: u128,
        tags: Vec<(String, String)>,
    },
    /// Sets (or with `None` removes) a configuration document of a bucket.
    SetBucketConfig {
        bucket: String,
        bucket_id: u64,
        kind: ConfigKind,
        value: Option<Vec<u8>>,
    },
    /// Re-indexes up to `limit` objects of a bucket whose lifecycle rules changed.
    LifecycleBackfill {
        bucket_id: u64,
        limit: usize,
    },
    /// Deletes an object for an expiration rule, provided its current version is still
    /// `version`: as [`WriteOp::DeleteObject`] does, so a versioned bucket gets `marker`.
    ExpireObject {
        bucket: String,
        bucket_id: u64,
        key: String,
        version: u128,
        marker: NewMarker,
    },
    /// Removes noncurrent version `version` of a key (or its lone delete marker) for a
    /// lifecycle rule, provided the rules still make that due at `now_ms` when the commit
    /// looks: the key's versions may have changed since the worker evaluated them.
    ExpireVersion {
        bucket_id: u64,
        key: String,
        version: u128,
        now_ms: i64,
    },
    /// Moves an object's due moment (a lifecycle action that must be retried later, or an
    /// entry that turned out to be early). `at_ms` `None`: recompute it from the rules.
    Reschedule {
        bucket_id: u64,
        key: String,
        at_ms: Option<i64>,
    },
    /// Creates a tenant (`create`: it must not exist yet) or replaces its record (it must
    /// exist): new keys, rotated keys.
    PutTenant {
        record: TenantRecord,
        create: bool,
    },
    /// Removes a tenant that owns no bucket.
    DeleteTenant {
        name: String,
    },
    /// Objects were read: record the times (a later time wins; objects deleted meanwhile
    /// are skipped).
    RecordReads {
        reads: Vec<ReadMark>,
    },
    /// Removes version `version` of an object, whose bytes are lost (fsck's quarantine,
    /// recovery's lost objects), provided it still has `layout` (`None`: it has none). The
    /// object disappears as if deleted: a current version of a bucket with versioning
    /// configured leaves `marker` (if given) on top, so no older version silently becomes
    /// current; otherwise the version just goes.
    DropObject {
        bucket_id: u64,
        key: String,
        version: u128,
        layout: Option<Layout>,
        marker: Option<NewMarker>,
    },
    /// Sets a bucket's usage to what its objects add up to.
    RecountUsage {
        bucket_id: u64,
    },
    /// Makes the blob table name these tiers for these blobs.
    SetBlobRows {
        rows: Vec<(DataId, String)>,
    },
    /// Queues blobs nothing references for reclamation.
    ReclaimBlobs {
        blobs: Vec<(DataId, String)>,
    },
    /// Takes `id` off the reclamation queue, provided version `version` of the object
    /// still uses it.
    KeepBlob {
        bucket_id: u64,
        key: String,
        version: u128,
        id: DataId,
    },
    /// Drops a layout no object refers to; its blobs but `keep` are queued for reclamation.
    DropLayout {
        version: u128,
        keep: Vec<DataId>,
    },
    /// Recovery: creates a bucket (a new id is given) without requiring its owner tenant to
    /// exist.
    RestoreBucket {
        record: BucketRecord,
    },
    /// Recovery: puts `record` with `layout` among the versions of `key` where its version
    /// places it (current when it is the newest), unless the key has that version already
    /// or a newer `null` one; no quota check (the object existed before).
    RestoreObject {
        bucket_id: u64,
        key: String,
        record: ObjectRecord,
        layout: Layout,
    },
}

/// A read of an object's current version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadMark {
    pub bucket_id: u64,
    pub key: String,
    /// Milliseconds since the epoch.
    pub at_ms: i64,
}

/// The per-bucket configuration documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigKind {
    Lifecycle,
    /// Every Intelligent-Tiering configuration of the bucket, as one list.
    IntelligentTiering,
    /// The bucket policy, as the JSON document the owner put.
    Policy,
    /// The bucket's [`Quota`], MessagePack.
    Quota,
}

impl ConfigKind {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Lifecycle => "lifecycle",
            Self::IntelligentTiering => "intelligent_tiering",
            Self::Policy => "policy",
            Self::Quota => "quota",
        }
    }
}

/// An object whose blobs' self-descriptions need rewriting, as queued at `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redescribe {
    pub bucket_id: u64,
    pub key: String,
    pub seq: u64,
}

/// The class an object takes with a layout swap: a lifecycle transition or an
/// Intelligent-Tiering step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassChange {
    pub storage_class: Option<String>,
    pub access_tier: Option<vmgw_lifecycle::AccessTier>,
}

/// What a successful [`WriteOp`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    BucketCreated(BucketRecord),
    Done,
    /// An object was written as `record` (its version and versioning as committed);
    /// `replaced` is the version it replaced for good, if any.
    ObjectPut {
        record: Box<ObjectRecord>,
        replaced: Option<Box<ObjectRecord>>,
    },
    /// A delete without a version: whether there was a current version, and the delete
    /// marker written (versioned buckets).
    ObjectDeleted {
        existed: bool,
        marker: Option<Box<ObjectRecord>>,
    },
    /// A version deleted for good, if it existed.
    VersionDeleted {
        removed: Option<Box<ObjectRecord>>,
    },
    Backfilled {
        done: bool,
        count: usize,
    },
}

/// An object the lifecycle schedule says is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueObject {
    pub at_ms: i64,
    pub bucket_id: u64,
    pub key: String,
}

/// The size and front of the lifecycle schedule, for status reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScheduleSummary {
    /// Objects indexed under a due moment.
    pub entries: u64,
    /// The earliest due moment, ms since the epoch.
    pub next_due_ms: Option<i64>,
}

/// A listing request over the `objects` table.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub bucket_id: u64,
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Resume strictly after this key or common prefix.
    pub start_after: Option<String>,
    pub max_keys: usize,
}

#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub objects: Vec<(String, ListedObject)>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    /// The last key or common prefix returned, to resume after.
    pub last: Option<String>,
}

/// A ListObjectVersions request.
#[derive(Debug, Clone, Default)]
pub struct VersionQuery {
    pub bucket_id: u64,
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Resume after this key (all its versions), or with `version_marker`, after that
    /// version of it.
    pub key_marker: Option<String>,
    pub version_marker: Option<VersionRef>,
    pub max_keys: usize,
}

/// One version (or delete marker) in a listing.
#[derive(Debug, Clone)]
pub struct VersionEntry {
    pub key: String,
    pub version: ListedVersion,
    pub is_latest: bool,
}

#[derive(Debug, Clone, Default)]
pub struct VersionPage {
    /// Versions and delete markers in S3's order: keys in binary order, newest first.
    pub entries: Vec<VersionEntry>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    /// The last entry or common prefix returned, to resume after.
    pub last: Option<VersionMarker>,
}

/// A position in a listing of versions: a key (or common prefix) and, for a version, which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionMarker {
    pub key: String,
    pub version: Option<VersionRef>,
}

/// A version found by [`MetaStore::version`].
#[derive(Debug, Clone)]
pub struct FoundVersion {
    pub record: ObjectRecord,
    /// `None` for a delete marker.
    pub layout: Option<Layout>,
    pub current: bool,
}

/// A listing request over multipart uploads.
#[derive(Debug, Clone, Default)]
pub struct UploadQuery {
    pub bucket_id: u64,
    pub prefix: String,
    pub delimiter: Option<String>,
    pub key_marker: Option<String>,
    pub upload_id_marker: Option<UploadId>,
    pub max_uploads: usize,
}

#[derive(Debug, Clone, Default)]
pub struct UploadPage {
    pub uploads: Vec<(String, UploadId, UploadRecord)>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
}

/// The metadata seam. Reads run on the caller's thread against a snapshot; writes are
/// queued for the group committer.
#[async_trait]
pub trait MetaStore: Send + Sync + 'static {
    fn bucket(&self, name: &str) -> Result<Option<BucketRecord>, MetaError>;
    fn tenants(&self) -> Result<Vec<TenantRecord>, MetaError>;
    fn tenant(&self, name: &str) -> Result<Option<TenantRecord>, MetaError>;
    /// What a bucket holds now.
    fn usage(&self, bucket_id: u64) -> Result<Usage, MetaError>;
    /// Whether a write changing the bucket's usage by `change` fits its and its tenant's
    /// quotas now (`QuotaExceeded` if not): the commit's own check, read outside a commit.
    fn admits(&self, bucket: &str, bucket_id: u64, change: UsageChange) -> Result<(), MetaError>;
    fn buckets(&self) -> Result<Vec<BucketRecord>, MetaError>;
    fn object(&self, bucket_id: u64, key: &str) -> Result<Option<ObjectRecord>, MetaError>;
    fn object_with_layout(
        &self,
        bucket_id: u64,
        key: &str,
    ) -> Result<Option<(ObjectRecord, Layout)>, MetaError>;
    fn list_objects(&self, query: &ListQuery) -> Result<ListPage, MetaError>;
    /// A version of an object, current or not, with its layout.
    fn version(
        &self,
        bucket_id: u64,
        key: &str,
        version: VersionRef,
    ) -> Result<Option<FoundVersion>, MetaError>;
    /// A version of an object by its internal number (`null` or not), for repairs.
    fn version_numbered(
        &self,
        bucket_id: u64,
        key: &str,
        version: u128,
    ) -> Result<Option<FoundVersion>, MetaError>;
    /// The delete marker that is the key's newest version, if it is one.
    fn latest_delete_marker(
        &self,
        bucket_id: u64,
        key: &str,
    ) -> Result<Option<ObjectRecord>, MetaError>;
    /// ListObjectVersions: current and noncurrent versions merged, streamed from two ordered
    /// ranges.
    fn list_versions(&self, query: &VersionQuery) -> Result<VersionPage, MetaError>;
    fn upload(&self, upload_id: &UploadId) -> Result<Option<UploadRecord>, MetaError>;
    /// Parts with numbers greater than `after`, at most `limit`.
    fn parts(
        &self,
        upload_id: &UploadId,
        after: u32,
        limit: usize,
    ) -> Result<Vec<(u32, PartRecord)>, MetaError>;
    fn list_uploads(&self, query: &UploadQuery) -> Result<UploadPage, MetaError>;
    /// Up to `limit` blobs waiting to be deleted, with their tiers.
    fn reclaimable(&self, limit: usize) -> Result<Vec<(DataId, String)>, MetaError>;
    /// Referenced blobs per tier (blobs queued for reclamation excluded).
    fn blob_census(&self) -> Result<std::collections::HashMap<String, u64>, MetaError>;
    /// Whether `id` is a known (referenced or reclaimable) blob.
    fn blob_known(&self, id: DataId) -> Result<bool, MetaError>;
    /// A key's current version (if any) and its other versions and delete markers, newest
    /// first, from one snapshot: what lifecycle rules on noncurrent versions look at.
    fn key_history(
        &self,
        bucket_id: u64,
        key: &str,
    ) -> Result<(Option<ObjectRecord>, Vec<ObjectRecord>), MetaError>;
    /// Objects due for a lifecycle action by `now_ms`, earliest first.
    fn due_objects(&self, now_ms: i64, limit: usize) -> Result<Vec<DueObject>, MetaError>;
    /// Buckets whose lifecycle schedule is being rebuilt after a rule change.
    fn pending_backfills(&self) -> Result<Vec<u64>, MetaError>;
    /// Objects whose remote self-descriptions are behind their records, oldest key first.
    fn redescribe_queue(&self, limit: usize) -> Result<Vec<Redescribe>, MetaError>;
    /// When the object was last read, as far as the batched read marks tell.
    fn last_read(&self, bucket_id: u64, key: &str) -> Result<Option<i64>, MetaError>;
    /// How many objects the lifecycle schedule holds and when the first is due; cheap
    /// (the count is kept by the store, the first entry is one lookup).
    fn schedule_summary(&self) -> Result<ScheduleSummary, MetaError>;
    /// A configuration document of a bucket, if set.
    fn bucket_config(&self, bucket_id: u64, kind: ConfigKind)
    -> Result<Option<Vec<u8>>, MetaError>;
    /// Calls `visit` with every object that has bytes on `tier`. A full scan: for the
    /// background demoter, not for requests.
    fn for_each_resident(
        &self,
        tier: &str,
        visit: &mut dyn FnMut(Resident),
    ) -> Result<(), MetaError>;

    /// Everything the store says about blobs as of one snapshot, visiting each version that
    /// holds data, current or not (for integrity checks and recovery). A full scan.
    fn census(&self, visit: &mut dyn FnMut(ObjectEntry)) -> Result<Census, MetaError>;

    /// Streams a consistent snapshot of the whole store as a dump starting with `header`
    /// (see [`dump`]), taken online. Blocking.
    fn dump(
        &self,
        out: &mut dyn std::io::Write,
        header: &dump::DumpHeader,
    ) -> Result<dump::DumpStats, MetaError>;

    async fn apply(&self, op: WriteOp) -> Result<WriteOutcome, MetaError>;

    /// Stops the committer after the queued writes; later writes fail with `Closed`.
    async fn close(&self);
}
