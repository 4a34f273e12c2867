//! [`MetaStore`] on `redb`: an embedded, ordered, copy-on-write B-tree with MVCC reads and
//! checksummed, crash-safe commits.
//!
//! redb allows one writer at a time and each durable commit costs at least one `fsync`.
//! A dedicated committer thread therefore takes every queued [`WriteOp`], applies them all in
//! one transaction and commits once (group commit): under load, N concurrent writers share
//! one `fsync` instead of queueing behind N of them. Readers never wait for the committer.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{Notify, mpsc, oneshot};
use tracing::{debug, error, info};
use vmgw_lifecycle::AutoTiering;
use vmgw_tiering::DataId;

use super::apply::{ApplyError, Tables};
use super::records::{
    self, BucketRecord, Layout, ObjectRecord, PartRecord, TenantRecord, UploadRecord, Usage,
};
use super::{
    ConfigKind, DueObject, FoundVersion, ListPage, ListQuery, MetaError, MetaStore, Redescribe,
    UploadId, UploadPage, UploadQuery, UsageChange, VersionPage, VersionQuery, VersionRef, WriteOp,
    WriteOutcome, keys, list, list_versions,
};

pub(super) mod tables {
    use super::TableDefinition;

    pub const BUCKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("buckets");
    pub const OBJECTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("objects");
    /// Noncurrent versions and delete markers: `keys::version` (bucket id, escaped key,
    /// complemented version) → [`super::ObjectRecord`]; one ordered range is a key's
    /// versions newest first.
    pub const VERSIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("versions");
    /// Object key (as in `objects`) → the version of the key's `null` version, while that
    /// version is in `versions`: suspended writes replace it and `versionId=null` names it
    /// without walking the key's versions.
    pub const NULL_VERSIONS: TableDefinition<&[u8], u128> = TableDefinition::new("null_versions");
    pub const LAYOUTS: TableDefinition<u128, &[u8]> = TableDefinition::new("layouts");
    pub const UPLOADS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("uploads");
    pub const UPLOADS_BY_KEY: TableDefinition<&[u8], ()> = TableDefinition::new("uploads_by_key");
    pub const PARTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("parts");
    pub const BLOBS: TableDefinition<&[u8], &str> = TableDefinition::new("blobs");
    pub const RECLAIM: TableDefinition<&[u8], &str> = TableDefinition::new("reclaim");
    pub const SYS: TableDefinition<&str, u64> = TableDefinition::new("sys");
    /// Per-bucket configuration documents (lifecycle, ...) by (bucket id, kind).
    pub const BUCKET_CONFIGS: TableDefinition<(u64, &str), &[u8]> =
        TableDefinition::new("bucket_configs");
    /// The lifecycle schedule: (due moment, object key) → (), in time order.
    pub const LC_DUE: TableDefinition<&[u8], ()> = TableDefinition::new("lc_due");
    /// Object key → its moment in `lc_due`, to find the entry again.
    pub const LC_NEXT: TableDefinition<&[u8], i64> = TableDefinition::new("lc_next");
    /// Bucket id → the object key a rule-change backfill has reached (empty: not started).
    pub const LC_BACKFILL: TableDefinition<u64, &[u8]> = TableDefinition::new("lc_backfill");
    /// Object key (as in `objects`) → when it was last read, ms since the epoch.
    pub const READS: TableDefinition<&[u8], i64> = TableDefinition::new("reads");
    /// Object key → the queue sequence number of a change to the object's record that
    /// its blobs' self-descriptions on remote tiers do not show yet.
    pub const REDESCRIBE: TableDefinition<&[u8], u64> = TableDefinition::new("redescribe");
    /// Tenant name → [`super::TenantRecord`].
    pub const TENANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("tenants");
    /// Bucket id → (bytes, objects) of its current objects.
    pub const USAGE: TableDefinition<u64, (u64, u64)> = TableDefinition::new("usage");
}

/// Tunables of the embedded store.
#[derive(Debug, Clone)]
pub struct RedbOptions {
    /// redb's page cache. Its default (1 GiB) would dwarf the gateway's own footprint.
    pub cache_bytes: usize,
    /// Most ops committed together; bounds the latency one commit adds to its first op.
    pub max_batch: usize,
    /// Milliseconds in a lifecycle day, for the schedule.
    pub lifecycle_day_ms: i64,
    /// Intelligent tiering's automatic steps, for the schedule.
    pub auto_tiering: AutoTiering,
}

impl Default for RedbOptions {
    fn default() -> Self {
        Self {
            cache_bytes: 32 << 20,
            max_batch: 512,
            lifecycle_day_ms: vmgw_lifecycle::DAY_MS,
            auto_tiering: AutoTiering::default(),
        }
    }
}

struct Job {
    op: WriteOp,
    reply: oneshot::Sender<Result<WriteOutcome, MetaError>>,
}

enum Msg {
    Job(Box<Job>),
    Shutdown,
}

pub struct RedbStore {
    db: Arc<Database>,
    queue: mpsc::Sender<Msg>,
    committer: Mutex<Option<JoinHandle<()>>>,
    reclaim_ready: Arc<Notify>,
}

fn storage(e: impl std::fmt::Display) -> MetaError {
    MetaError::Storage(e.to_string())
}

fn corrupt(e: impl std::fmt::Display) -> MetaError {
    MetaError::Corrupt(e.to_string())
}

impl RedbStore {
    /// Opens or creates the store at `path`.
    pub fn open(path: &Path, options: &RedbOptions) -> Result<Self, MetaError> {
        let db = Database::builder()
            .set_cache_size(options.cache_bytes)
            .set_repair_callback(|session| {
                info!(
                    progress = session.progress(),
                    "repairing metadata store after an unclean shutdown"
                );
            })
            .create(path)
            .map_err(storage)?;
        {
            let txn = db.begin_write().map_err(storage)?;
            // Creating every table up front lets readers open them without special cases.
            let mut tables = Tables::open(&txn, options.lifecycle_day_ms, options.auto_tiering)
                .map_err(storage)?;
            tables.count_usage_once().map_err(|e| match e {
                ApplyError::Rejected(e) | ApplyError::Fatal(e) => e,
            })?;
            drop(tables);
            txn.commit().map_err(storage)?;
        }
        let db = Arc::new(db);
        let (queue, rx) = mpsc::channel(4 * options.max_batch);
        let reclaim_ready = Arc::new(Notify::new());
        let committer = {
            let db = Arc::clone(&db);
            let notify = Arc::clone(&reclaim_ready);
            let max_batch = options.max_batch;
            let day_ms = options.lifecycle_day_ms;
            let auto = options.auto_tiering;
            std::thread::Builder::new()
                .name("vmgw-meta-commit".into())
                .spawn(move || run_committer(&db, rx, &notify, max_batch, day_ms, auto))
                .map_err(storage)?
        };
        Ok(Self {
            db,
            queue,
            committer: Mutex::new(Some(committer)),
            reclaim_ready,
        })
    }

    /// Notified after a commit queued blobs for reclamation.
    #[must_use]
    pub fn reclaim_ready(&self) -> Arc<Notify> {
        Arc::clone(&self.reclaim_ready)
    }

    fn read(&self) -> Result<redb::ReadTransaction, MetaError> {
        self.db.begin_read().map_err(storage)
    }

    pub(super) fn db(&self) -> &Database {
        &self.db
    }
}

/// How [`RedbStore::find_version`] looks for a version.
#[derive(Clone, Copy)]
enum Lookup {
    /// As a request names it: a `null` version only as `null` (as the commit resolves it,
    /// see `Tables::find_version`).
    Named(VersionRef),
    /// By its internal number, `null` or not.
    Numbered(u128),
}

impl RedbStore {
    fn find_version(
        &self,
        bucket_id: u64,
        key: &str,
        lookup: Lookup,
    ) -> Result<Option<FoundVersion>, MetaError> {
        let txn = self.read()?;
        let objects = txn.open_table(tables::OBJECTS).map_err(storage)?;
        let okey = keys::object(bucket_id, key);
        let current: Option<ObjectRecord> = match objects.get(okey.as_slice()).map_err(storage)? {
            Some(raw) => Some(records::decode(raw.value()).map_err(corrupt)?),
            None => None,
        };
        let number = match (lookup, &current) {
            (Lookup::Named(VersionRef::Null), Some(c)) if !c.versioned => Some(c.version),
            (Lookup::Named(VersionRef::Null), _) => txn
                .open_table(tables::NULL_VERSIONS)
                .map_err(storage)?
                .get(okey.as_slice())
                .map_err(storage)?
                .map(|v| v.value()),
            (Lookup::Named(VersionRef::Id(id)) | Lookup::Numbered(id), _) => Some(id),
        };
        let Some(number) = number else {
            return Ok(None);
        };
        let found = match current {
            Some(c) if c.version == number => Some((c, true)),
            _ => {
                let versions = txn.open_table(tables::VERSIONS).map_err(storage)?;
                match versions
                    .get(keys::version(bucket_id, key, number).as_slice())
                    .map_err(storage)?
                {
                    Some(raw) => Some((
                        records::decode::<ObjectRecord>(raw.value()).map_err(corrupt)?,
                        false,
                    )),
                    None => None,
                }
            }
        };
        let Some((record, current)) = found else {
            return Ok(None);
        };
        if matches!(lookup, Lookup::Named(VersionRef::Id(_))) && !record.versioned {
            return Ok(None);
        }
        let layout = if record.delete_marker {
            None
        } else {
            let layouts = txn.open_table(tables::LAYOUTS).map_err(storage)?;
            let raw = layouts
                .get(record.version)
                .map_err(storage)?
                .ok_or_else(|| MetaError::Corrupt(format!("a version of {key:?} has no layout")))?;
            Some(records::decode(raw.value()).map_err(corrupt)?)
        };
        Ok(Some(FoundVersion {
            record,
            layout,
            current,
        }))
    }
}

fn run_committer(
    db: &Database,
    mut rx: mpsc::Receiver<Msg>,
    reclaim_ready: &Notify,
    max_batch: usize,
    day_ms: i64,
    auto: AutoTiering,
) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = Vec::new();
        let mut shutdown = false;
        match first {
            Msg::Job(job) => batch.push(*job),
            Msg::Shutdown => shutdown = true,
        }
        while !shutdown && batch.len() < max_batch {
            match rx.try_recv() {
                Ok(Msg::Job(job)) => batch.push(*job),
                Ok(Msg::Shutdown) => shutdown = true,
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            commit_batch(db, batch, reclaim_ready, day_ms, auto);
        }
        if shutdown {
            // Writes queued behind the shutdown are answered `Closed` when `rx` drops.
            break;
        }
    }
    debug!("metadata committer stopped");
}

fn commit_batch(
    db: &Database,
    batch: Vec<Job>,
    reclaim_ready: &Notify,
    day_ms: i64,
    auto: AutoTiering,
) {
    let size = batch.len();
    let (ops, replies): (Vec<WriteOp>, Vec<_>) =
        batch.into_iter().map(|job| (job.op, job.reply)).unzip();
    let fail_all = |replies: Vec<oneshot::Sender<_>>, err: &MetaError| {
        error!(error = %err, ops = size, "metadata commit failed");
        for reply in replies {
            let _ = reply.send(Err(MetaError::Storage(err.to_string())));
        }
    };
    let txn = match db.begin_write() {
        Ok(txn) => txn,
        Err(e) => return fail_all(replies, &storage(e)),
    };
    let mut outcomes = Vec::with_capacity(size);
    let reclaim_added;
    {
        let mut tables = match Tables::open(&txn, day_ms, auto) {
            Ok(tables) => tables,
            Err(e) => return fail_all(replies, &storage(e)),
        };
        for op in ops {
            match tables.apply(op) {
                Ok(outcome) => outcomes.push(Ok(outcome)),
                Err(ApplyError::Rejected(e)) => outcomes.push(Err(e)),
                Err(ApplyError::Fatal(e)) => {
                    drop(tables);
                    let _ = txn.abort();
                    return fail_all(replies, &e);
                }
            }
        }
        reclaim_added = tables.reclaim_added;
    }
    if let Err(e) = txn.commit() {
        return fail_all(replies, &storage(e));
    }
    for (reply, outcome) in replies.into_iter().zip(outcomes) {
        let _ = reply.send(outcome);
    }
    if reclaim_added {
        reclaim_ready.notify_one();
    }
}

#[async_trait]
impl MetaStore for RedbStore {
    fn bucket(&self, name: &str) -> Result<Option<BucketRecord>, MetaError> {
        let txn = self.read()?;
        let table = txn.open_table(tables::BUCKETS).map_err(storage)?;
        match table.get(name).map_err(storage)? {
            Some(raw) => records::decode(raw.value()).map(Some).map_err(corrupt),
            None => Ok(None),
        }
    }

    fn usage(&self, bucket_id: u64) -> Result<Usage, MetaError> {
        let txn = self.read()?;
        let table = txn.open_table(tables::USAGE).map_err(storage)?;
        Ok(table
            .get(bucket_id)
            .map_err(storage)?
            .map_or_else(Usage::default, |v| {
                let (bytes, objects) = v.value();
                Usage { bytes, objects }
            }))
    }

    fn admits(&self, bucket: &str, bucket_id: u64, change: UsageChange) -> Result<(), MetaError> {
        let txn = self.read()?;
        let open = |e| storage(e);
        super::usage::QuotaView {
            buckets: &txn.open_table(tables::BUCKETS).map_err(open)?,
            tenants: &txn.open_table(tables::TENANTS).map_err(open)?,
            usage: &txn.open_table(tables::USAGE).map_err(open)?,
            configs: &txn.open_table(tables::BUCKET_CONFIGS).map_err(open)?,
        }
        .admit(bucket, bucket_id, change)
    }

    fn tenant(&self, name: &str) -> Result<Option<TenantRecord>, MetaError> {
        let txn = self.read()?;
        let table = txn.open_table(tables::TENANTS).map_err(storage)?;
        match table.get(name).map_err(storage)? {
            Some(raw) => records::decode(raw.value()).map(Some).map_err(corrupt),
            None => Ok(None),
        }
    }

    fn tenants(&self) -> Result<Vec<TenantRecord>, MetaError> {
        let txn = self.read()?;
        let table = txn.open_table(tables::TENANTS).map_err(storage)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(storage)? {
            let (_, raw) = entry.map_err(storage)?;
            out.push(records::decode(raw.value()).map_err(corrupt)?);
        }
        Ok(out)
    }

    fn buckets(&self) -> Result<Vec<BucketRecord>, MetaError> {
        let txn = self.read()?;
        let table = txn.open_table(tables::BUCKETS).map_err(storage)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(storage)? {
            let (_, raw) = entry.map_err(storage)?;
            out.push(records::decode(raw.value()).map_err(corrupt)?);
        }
        Ok(out)
    }

    fn object(&self, bucket_id: u64, key: &str) -> Result<Option<ObjectRecord>, MetaError> {
        let txn = self.read()?;
        let table = txn.open_table(tables::OBJECTS).map_err(storage)?;
        match table
            .get(keys::object(bucket_id, key).as_slice())
            .map_err(storage)?
        {
            Some(raw) => records::decode(raw.value()).map(Some).map_err(corrupt),
            None => Ok(None),
        }
    }

    fn object_with_layout(
        &self,
        bucket_id: u64,
        key: &str,
    ) -> Result<Option<(ObjectRecord, Layout)>, MetaError> {
        let txn = self.read()?;
        let objects = txn.open_table(tables::OBJECTS).map_err(storage)?;
        let Some(raw) = objects
            .get(keys::object(bucket_id, key).as_slice())
            .map_err(storage)?
        else {
            return Ok(None);
        };
        let record: ObjectRecord = records::decode(raw.value()).map_err(corrupt)?;
        let layouts = txn.open_table(tables::LAYOUTS).map_err(storage)?;
        let raw = layouts
            .get(record.version)
            .map_err(storage)?
            .ok_or_else(|| MetaError::Corrupt(format!("object {key:?} has no layout")))?;
        let layout = records::decode(raw.value()).map_err(corrupt)?;
        Ok(Some((record, layout)))
    }

    fn list_objects(&self, query: &ListQuery) -> Result<ListPage, MetaError> {
        let txn = self.read()?;
        let table = txn.open_table(tables::OBJECTS).map_err(storage)?;
        list::list_objects(&table, query)
    }

    fn version(
        &self,
        bucket_id: u64,
        key: &str,
        version: VersionRef,
    ) -> Result<Option<FoundVersion>, MetaError> {
        self.find_version(bucket_id, key, Lookup::Named(version))
    }

    fn version_numbered(
        &self,
        bucket_id: u64,
        key: &str,
        version: u128,
    ) -> Result<Option<FoundVersion>, MetaError> {
        self.find_version(bucket_id, key, Lookup::Numbered(version))
    }

    fn latest_delete_marker(
        &self,
        bucket_id: u64,
        key: &str,
    ) -> Result<Option<ObjectRecord>, MetaError> {
        let txn = self.read()?;
        let objects = txn.open_table(tables::OBJECTS).map_err(storage)?;
        if objects
            .get(keys::object(bucket_id, key).as_slice())
            .map_err(storage)?
            .is_some()
        {
            return Ok(None);
        }
        let versions = txn.open_table(tables::VERSIONS).map_err(storage)?;
        let start = keys::escaped_key(bucket_id, key);
        let end = keys::prefix_successor(&start).expect("an escaped key ends in 0x00");
        let Some(entry) = versions
            .range(start.as_slice()..end.as_slice())
            .map_err(storage)?
            .next()
        else {
            return Ok(None);
        };
        let record: ObjectRecord =
            records::decode(entry.map_err(storage)?.1.value()).map_err(corrupt)?;
        Ok(record.delete_marker.then_some(record))
    }

    fn list_versions(&self, query: &VersionQuery) -> Result<VersionPage, MetaError> {
        let txn = self.read()?;
        list_versions::list_versions(
            &txn.open_table(tables::OBJECTS).map_err(storage)?,
            &txn.open_table(tables::VERSIONS).map_err(storage)?,
            &txn.open_table(tables::NULL_VERSIONS).map_err(storage)?,
            query,
        )
    }

    fn upload(&self, upload_id: &UploadId) -> Result<Option<UploadRecord>, MetaError> {
        let txn = self.read()?;
        let table = txn.open_table(tables::UPLOADS).map_err(storage)?;
        match table.get(upload_id.as_slice()).map_err(storage)? {
            Some(raw) => records::decode(raw.value()).map(Some).map_err(corrupt),
            None => Ok(None),
        }
    }

    fn parts(
        &self,
        upload_id: &UploadId,
        after: u32,
        limit: usize,
    ) -> Result<Vec<(u32, PartRecord)>, MetaError> {
        let txn = self.read()?;
        let table = txn.open_table(tables::PARTS).map_err(storage)?;
        let Some(first) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        let start = keys::part(upload_id, first);
        let end = keys::part(upload_id, u32::MAX);
        let mut out = Vec::new();
        for entry in table
            .range(start.as_slice()..=end.as_slice())
            .map_err(storage)?
        {
            if out.len() == limit {
                break;
            }
            let (k, v) = entry.map_err(storage)?;
            let number = u32::from_be_bytes(k.value()[16..20].try_into().map_err(corrupt)?);
            out.push((number, records::decode(v.value()).map_err(corrupt)?));
        }
        Ok(out)
    }

    fn list_uploads(&self, query: &UploadQuery) -> Result<UploadPage, MetaError> {
        let txn = self.read()?;
        let index = txn.open_table(tables::UPLOADS_BY_KEY).map_err(storage)?;
        let uploads = txn.open_table(tables::UPLOADS).map_err(storage)?;
        list::list_uploads(&index, &uploads, query)
    }

    fn reclaimable(&self, limit: usize) -> Result<Vec<(DataId, String)>, MetaError> {
        let txn = self.read()?;
        let table = txn.open_table(tables::RECLAIM).map_err(storage)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(storage)?.take(limit) {
            let (k, v) = entry.map_err(storage)?;
            let id: [u8; 16] = k.value().try_into().map_err(corrupt)?;
            out.push((DataId::from_bytes(id), v.value().to_owned()));
        }
        Ok(out)
    }

    fn blob_census(&self) -> Result<std::collections::HashMap<String, u64>, MetaError> {
        let txn = self.read()?;
        let mut counts = std::collections::HashMap::new();
        for entry in txn
            .open_table(tables::BLOBS)
            .map_err(storage)?
            .iter()
            .map_err(storage)?
        {
            let (_, tier) = entry.map_err(storage)?;
            *counts.entry(tier.value().to_owned()).or_insert(0u64) += 1;
        }
        for entry in txn
            .open_table(tables::RECLAIM)
            .map_err(storage)?
            .iter()
            .map_err(storage)?
        {
            let (_, tier) = entry.map_err(storage)?;
            if let Some(n) = counts.get_mut(tier.value()) {
                *n = n.saturating_sub(1);
            }
        }
        Ok(counts)
    }

    fn bucket_config(
        &self,
        bucket_id: u64,
        kind: ConfigKind,
    ) -> Result<Option<Vec<u8>>, MetaError> {
        let txn = self.read()?;
        let table = txn.open_table(tables::BUCKET_CONFIGS).map_err(storage)?;
        Ok(table
            .get((bucket_id, kind.name()))
            .map_err(storage)?
            .map(|v| v.value().to_vec()))
    }

    fn key_history(
        &self,
        bucket_id: u64,
        key: &str,
    ) -> Result<(Option<ObjectRecord>, Vec<ObjectRecord>), MetaError> {
        let txn = self.read()?;
        let objects = txn.open_table(tables::OBJECTS).map_err(storage)?;
        let current = match objects
            .get(keys::object(bucket_id, key).as_slice())
            .map_err(storage)?
        {
            Some(raw) => Some(records::decode(raw.value()).map_err(corrupt)?),
            None => None,
        };
        let versions = txn.open_table(tables::VERSIONS).map_err(storage)?;
        let start = keys::escaped_key(bucket_id, key);
        let end = keys::prefix_successor(&start).expect("an escaped key ends in 0x00");
        let mut others = Vec::new();
        for entry in versions
            .range(start.as_slice()..end.as_slice())
            .map_err(storage)?
        {
            let (_, raw) = entry.map_err(storage)?;
            others.push(records::decode(raw.value()).map_err(corrupt)?);
        }
        Ok((current, others))
    }

    fn due_objects(&self, now_ms: i64, limit: usize) -> Result<Vec<DueObject>, MetaError> {
        let txn = self.read()?;
        let table = txn.open_table(tables::LC_DUE).map_err(storage)?;
        let end = super::schedule::due_key(now_ms.saturating_add(1), &[]);
        let mut out = Vec::new();
        for entry in table.range(..end.as_slice()).map_err(storage)? {
            let (k, ()) = entry.map_err(storage).map(|(k, v)| (k, v.value()))?;
            let Some((at_ms, okey)) = super::schedule::split_due_key(k.value()) else {
                continue;
            };
            let Some((bucket_id, key)) = keys::split_object(okey) else {
                continue;
            };
            out.push(DueObject {
                at_ms,
                bucket_id,
                key,
            });
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    fn last_read(&self, bucket_id: u64, key: &str) -> Result<Option<i64>, MetaError> {
        let txn = self.read()?;
        let table = txn.open_table(tables::READS).map_err(storage)?;
        Ok(table
            .get(keys::object(bucket_id, key).as_slice())
            .map_err(storage)?
            .map(|v| v.value()))
    }

    fn redescribe_queue(&self, limit: usize) -> Result<Vec<Redescribe>, MetaError> {
        let txn = self.read()?;
        let table = txn.open_table(tables::REDESCRIBE).map_err(storage)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(storage)?.take(limit) {
            let (k, v) = entry.map_err(storage)?;
            if let Some((bucket_id, key)) = keys::split_object(k.value()) {
                out.push(Redescribe {
                    bucket_id,
                    key,
                    seq: v.value(),
                });
            }
        }
        Ok(out)
    }

    fn pending_backfills(&self) -> Result<Vec<u64>, MetaError> {
        let txn = self.read()?;
        let table = txn.open_table(tables::LC_BACKFILL).map_err(storage)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(storage)? {
            out.push(entry.map_err(storage)?.0.value());
        }
        Ok(out)
    }

    fn schedule_summary(&self) -> Result<super::ScheduleSummary, MetaError> {
        use redb::ReadableTableMetadata;
        let txn = self.read()?;
        let table = txn.open_table(tables::LC_DUE).map_err(storage)?;
        let entries = table.len().map_err(storage)?;
        let next_due_ms = match table.first().map_err(storage)? {
            Some((k, _)) => super::schedule::split_due_key(k.value()).map(|(at, _)| at),
            None => None,
        };
        Ok(super::ScheduleSummary {
            entries,
            next_due_ms,
        })
    }

    fn blob_known(&self, id: DataId) -> Result<bool, MetaError> {
        let txn = self.read()?;
        let table = txn.open_table(tables::BLOBS).map_err(storage)?;
        Ok(table
            .get(id.to_bytes().as_slice())
            .map_err(storage)?
            .is_some())
    }

    fn for_each_resident(
        &self,
        tier: &str,
        visit: &mut dyn FnMut(super::Resident),
    ) -> Result<(), MetaError> {
        super::residents::for_each_resident(&self.read()?, tier, visit)
    }

    fn census(
        &self,
        visit: &mut dyn FnMut(super::ObjectEntry),
    ) -> Result<super::Census, MetaError> {
        super::census::census(&self.read()?, visit)
    }

    fn dump(
        &self,
        out: &mut dyn std::io::Write,
        header: &super::dump::DumpHeader,
    ) -> Result<super::dump::DumpStats, MetaError> {
        self.dump_into(out, header)
    }

    async fn apply(&self, op: WriteOp) -> Result<WriteOutcome, MetaError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Msg::Job(Box::new(Job { op, reply })))
            .await
            .map_err(|_| MetaError::Closed)?;
        answer.await.map_err(|_| MetaError::Closed)?
    }

    async fn close(&self) {
        let _ = self.queue.send(Msg::Shutdown).await;
        let handle = self.committer.lock().expect("committer lock").take();
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }
}
