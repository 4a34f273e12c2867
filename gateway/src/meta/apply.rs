//! Applying [`WriteOp`]s inside a write transaction.
//!
//! Every op validates first and mutates after, so a rejected op leaves the shared
//! transaction exactly as it found it and the other ops of the batch still commit.

use std::collections::HashSet;

use redb::{ReadableTable, Table, WriteTransaction};
use vmgw_tiering::DataId;

use super::keys;
use super::records::{
    self, BucketRecord, Layout, ObjectRecord, PartRecord, UploadRecord, Versioning,
};
use super::redb_store::tables;
use super::usage::UsageChange;
use super::versions::Place;
use super::{
    ClassChange, MetaError, NewMarker, Precondition, UploadId, VersionRef, WriteOp, WriteOutcome,
};

/// Why an op did not apply.
pub(super) enum ApplyError {
    /// The op was refused before it changed anything.
    Rejected(MetaError),
    /// Storage failed part-way: the whole batch must be abandoned.
    Fatal(MetaError),
}

impl From<redb::StorageError> for ApplyError {
    fn from(e: redb::StorageError) -> Self {
        Self::Fatal(MetaError::Storage(e.to_string()))
    }
}

fn corrupt(e: rmp_serde::decode::Error) -> ApplyError {
    ApplyError::Fatal(MetaError::Corrupt(e.to_string()))
}

use ApplyError::Rejected;

pub(super) struct Tables<'txn> {
    pub(super) buckets: Table<'txn, &'static str, &'static [u8]>,
    pub(super) tenants: Table<'txn, &'static str, &'static [u8]>,
    pub(super) usage: Table<'txn, u64, (u64, u64)>,
    pub(super) objects: Table<'txn, &'static [u8], &'static [u8]>,
    pub(super) versions: Table<'txn, &'static [u8], &'static [u8]>,
    pub(super) null_versions: Table<'txn, &'static [u8], u128>,
    pub(super) layouts: Table<'txn, u128, &'static [u8]>,
    uploads: Table<'txn, &'static [u8], &'static [u8]>,
    uploads_by_key: Table<'txn, &'static [u8], ()>,
    parts: Table<'txn, &'static [u8], &'static [u8]>,
    pub(super) blobs: Table<'txn, &'static [u8], &'static str>,
    pub(super) reclaim: Table<'txn, &'static [u8], &'static str>,
    pub(super) sys: Table<'txn, &'static str, u64>,
    pub(super) bucket_configs: Table<'txn, (u64, &'static str), &'static [u8]>,
    pub(super) lc_due: Table<'txn, &'static [u8], ()>,
    pub(super) lc_next: Table<'txn, &'static [u8], i64>,
    pub(super) lc_backfill: Table<'txn, u64, &'static [u8]>,
    /// Lifecycle rules decoded in this batch, by bucket.
    pub(super) rules_cache:
        std::collections::HashMap<u64, Option<std::sync::Arc<Vec<vmgw_lifecycle::Rule>>>>,
    /// Intelligent-Tiering configurations decoded in this batch, by bucket.
    pub(super) tiering_cache:
        std::collections::HashMap<u64, std::sync::Arc<Vec<vmgw_lifecycle::TieringConfig>>>,
    pub(super) day_ms: i64,
    pub(super) auto_tiering: vmgw_lifecycle::AutoTiering,
    pub(super) reads: Table<'txn, &'static [u8], i64>,
    pub(super) redescribe: Table<'txn, &'static [u8], u64>,
    /// Whether this batch queued blobs for reclamation.
    pub reclaim_added: bool,
}

impl<'txn> Tables<'txn> {
    pub fn open(
        txn: &'txn WriteTransaction,
        day_ms: i64,
        auto_tiering: vmgw_lifecycle::AutoTiering,
    ) -> Result<Self, redb::TableError> {
        Ok(Self {
            buckets: txn.open_table(tables::BUCKETS)?,
            tenants: txn.open_table(tables::TENANTS)?,
            usage: txn.open_table(tables::USAGE)?,
            objects: txn.open_table(tables::OBJECTS)?,
            versions: txn.open_table(tables::VERSIONS)?,
            null_versions: txn.open_table(tables::NULL_VERSIONS)?,
            layouts: txn.open_table(tables::LAYOUTS)?,
            uploads: txn.open_table(tables::UPLOADS)?,
            uploads_by_key: txn.open_table(tables::UPLOADS_BY_KEY)?,
            parts: txn.open_table(tables::PARTS)?,
            blobs: txn.open_table(tables::BLOBS)?,
            reclaim: txn.open_table(tables::RECLAIM)?,
            sys: txn.open_table(tables::SYS)?,
            bucket_configs: txn.open_table(tables::BUCKET_CONFIGS)?,
            lc_due: txn.open_table(tables::LC_DUE)?,
            lc_next: txn.open_table(tables::LC_NEXT)?,
            lc_backfill: txn.open_table(tables::LC_BACKFILL)?,
            rules_cache: std::collections::HashMap::new(),
            tiering_cache: std::collections::HashMap::new(),
            day_ms,
            auto_tiering,
            reads: txn.open_table(tables::READS)?,
            redescribe: txn.open_table(tables::REDESCRIBE)?,
            reclaim_added: false,
        })
    }

    pub fn apply(&mut self, op: WriteOp) -> Result<WriteOutcome, ApplyError> {
        match op {
            WriteOp::CreateBucket { record } => self.create_bucket(record),
            WriteOp::DeleteBucket { name } => self.delete_bucket(&name),
            WriteOp::PutTenant { record, create } => self.put_tenant(&record, create),
            WriteOp::DeleteTenant { name } => self.delete_tenant(&name),
            WriteOp::LifecycleBackfill { bucket_id, limit } => self.backfill(bucket_id, limit),
            WriteOp::ExpireObject {
                bucket,
                bucket_id,
                key,
                version,
                marker,
            } => {
                let okey = keys::object(bucket_id, &key);
                match self.current(&okey)? {
                    Some(record) if record.version == version => {
                        self.delete_object(&bucket, bucket_id, &key, marker)
                    }
                    _ => Err(Rejected(MetaError::PreconditionFailed)),
                }
            }
            WriteOp::ExpireVersion {
                bucket_id,
                key,
                version,
                now_ms,
            } => self.expire_version(bucket_id, &key, version, now_ms),
            WriteOp::Reschedule {
                bucket_id,
                key,
                at_ms,
            } => {
                let okey = keys::object(bucket_id, &key);
                self.reschedule_key(bucket_id, &key)?;
                // Only a key something is still due for is put off; one whose versions the
                // rules no longer act on stays out of the schedule.
                if let Some(at) = at_ms
                    && self.lc_next.get(okey.as_slice())?.is_some()
                {
                    self.postpone(&okey, at)?;
                }
                Ok(WriteOutcome::Done)
            }
            WriteOp::SetObjectTags {
                bucket_id,
                key,
                version,
                tags,
            } => self.set_object_tags(bucket_id, &key, version, tags),
            WriteOp::SetBucketConfig {
                bucket,
                bucket_id,
                kind,
                value,
            } => {
                self.require_bucket(&bucket, bucket_id)?;
                self.set_bucket_config(bucket_id, kind, value.as_deref())
            }
            WriteOp::PutObject {
                bucket,
                bucket_id,
                key,
                record,
                layout,
                precondition,
            } => self.put_object(&bucket, bucket_id, &key, record, &layout, &precondition),
            WriteOp::DeleteObject {
                bucket,
                bucket_id,
                key,
                marker,
            } => self.delete_object(&bucket, bucket_id, &key, marker),
            WriteOp::DeleteVersion {
                bucket_id,
                key,
                version,
            } => self.delete_version(bucket_id, &key, version),
            WriteOp::SetVersioning {
                bucket,
                bucket_id,
                versioning,
            } => self.set_versioning(&bucket, bucket_id, versioning),
            WriteOp::Redescribed {
                bucket_id,
                key,
                seq,
            } => {
                let okey = keys::object(bucket_id, &key);
                let current = self.redescribe.get(okey.as_slice())?.map(|v| v.value());
                if current == Some(seq) {
                    self.redescribe.remove(okey.as_slice())?;
                }
                Ok(WriteOutcome::Done)
            }
            WriteOp::RenameObject {
                bucket,
                bucket_id,
                from,
                to,
                source_version,
                destination,
            } => {
                // Renaming moves a record without writing versions: S3 has it only where
                // there is no versioning, and so does vmgw.
                if !self
                    .require_bucket(&bucket, bucket_id)?
                    .versioning
                    .is_unversioned()
                {
                    return Err(Rejected(MetaError::VersionedBucket));
                }
                self.rename_object(bucket_id, &from, &to, source_version, &destination)
            }
            WriteOp::CreateUpload {
                bucket,
                upload_id,
                record,
            } => self.create_upload(&bucket, &upload_id, &record),
            WriteOp::PutPart {
                upload_id,
                number,
                part,
            } => self.put_part(&upload_id, number, &part),
            WriteOp::CompleteUpload {
                bucket,
                upload_id,
                parts,
                record,
                layout,
                precondition,
                redescribe,
            } => {
                let described = if redescribe {
                    let upload = self.upload(&upload_id)?;
                    Some(keys::object(upload.bucket_id, &upload.key))
                } else {
                    None
                };
                let outcome = self.complete_upload(
                    &bucket,
                    &upload_id,
                    &parts,
                    record,
                    &layout,
                    &precondition,
                )?;
                if let Some(okey) = described {
                    self.queue_redescribe(&okey)?;
                }
                Ok(outcome)
            }
            WriteOp::AbortUpload { upload_id } => {
                let upload = self.upload(&upload_id)?;
                self.drop_upload(&upload_id, &upload, &HashSet::new())?;
                Ok(WriteOutcome::Done)
            }
            WriteOp::SwapLayout {
                bucket_id,
                key,
                version,
                noncurrent,
                expected,
                layout,
                class,
            } => {
                if noncurrent {
                    self.swap_noncurrent_layout(bucket_id, &key, version, &expected, &layout, class)
                } else {
                    self.swap_layout(bucket_id, &key, version, &expected, &layout, class)
                }
            }
            WriteOp::ForgetBlobs { ids } => {
                for id in ids {
                    self.reclaim.remove(id.to_bytes().as_slice())?;
                    self.blobs.remove(id.to_bytes().as_slice())?;
                }
                Ok(WriteOutcome::Done)
            }
            WriteOp::DropObject {
                bucket_id,
                key,
                version,
                layout,
                marker,
            } => self.drop_object(bucket_id, &key, version, layout.as_ref(), marker),
            WriteOp::RecountUsage { bucket_id } => self.recount_usage(bucket_id),
            WriteOp::SetBlobRows { rows } => self.set_blob_rows(&rows),
            WriteOp::ReclaimBlobs { blobs } => self.reclaim_blobs(&blobs),
            WriteOp::KeepBlob {
                bucket_id,
                key,
                version,
                id,
            } => self.keep_blob(bucket_id, &key, version, id),
            WriteOp::DropLayout { version, keep } => self.drop_layout(version, &keep),
            WriteOp::RestoreBucket { record } => self.restore_bucket(record),
            WriteOp::RestoreObject {
                bucket_id,
                key,
                record,
                layout,
            } => self.restore_object(bucket_id, &key, &record, &layout),
            WriteOp::RecordReads { reads } => {
                for read in reads {
                    let okey = keys::object(read.bucket_id, &read.key);
                    self.note_read(&okey, read.at_ms)?;
                }
                Ok(WriteOutcome::Done)
            }
        }
    }

    fn bucket_by_name(&self, name: &str) -> Result<Option<BucketRecord>, ApplyError> {
        match self.buckets.get(name)? {
            Some(raw) => records::decode(raw.value()).map(Some).map_err(corrupt),
            None => Ok(None),
        }
    }

    /// The bucket named `name`, provided it is still the one with id `id`.
    pub(super) fn require_bucket(&self, name: &str, id: u64) -> Result<BucketRecord, ApplyError> {
        match self.bucket_by_name(name)? {
            Some(bucket) if bucket.id == id => Ok(bucket),
            _ => Err(Rejected(MetaError::NoSuchBucket)),
        }
    }

    fn set_versioning(
        &mut self,
        name: &str,
        id: u64,
        versioning: Versioning,
    ) -> Result<WriteOutcome, ApplyError> {
        let mut bucket = self.require_bucket(name, id)?;
        if versioning.is_unversioned() && !bucket.versioning.is_unversioned() {
            // S3: once versioned, a bucket can only be suspended.
            return Err(Rejected(MetaError::VersionedBucket));
        }
        bucket.versioning = versioning;
        self.buckets
            .insert(name, records::encode(&bucket).as_slice())?;
        Ok(WriteOutcome::Done)
    }

    fn create_bucket(&mut self, mut record: BucketRecord) -> Result<WriteOutcome, ApplyError> {
        if let Some(existing) = self.bucket_by_name(&record.name)? {
            return Err(Rejected(MetaError::BucketExists {
                owner: existing.owner,
            }));
        }
        // Checked in the same commit as the deletion of a tenant, so a tenant removed while
        // it creates a bucket cannot leave a bucket nobody but the admin can reach.
        self.require_owner(&record.owner)?;
        let id = self.sys.get("next_bucket_id")?.map_or(1, |v| v.value());
        record.id = id;
        self.sys.insert("next_bucket_id", id + 1)?;
        self.buckets
            .insert(record.name.as_str(), records::encode(&record).as_slice())?;
        Ok(WriteOutcome::BucketCreated(record))
    }

    fn delete_bucket(&mut self, name: &str) -> Result<WriteOutcome, ApplyError> {
        let bucket = self
            .bucket_by_name(name)?
            .ok_or(Rejected(MetaError::NoSuchBucket))?;
        let start = keys::object(bucket.id, "");
        let end = keys::bucket_end(bucket.id);
        // Noncurrent versions and delete markers keep a bucket alive too, as in S3.
        if self
            .objects
            .range(start.as_slice()..end.as_slice())?
            .next()
            .is_some()
            || self
                .versions
                .range(start.as_slice()..end.as_slice())?
                .next()
                .is_some()
        {
            return Err(Rejected(MetaError::BucketNotEmpty));
        }
        // Uploads in progress do not keep a bucket alive (nothing visible is lost); their
        // parts are reclaimed with the bucket.
        let mut upload_ids = Vec::new();
        for entry in self
            .uploads_by_key
            .range(start.as_slice()..end.as_slice())?
        {
            let (raw, _) = entry?;
            let raw = raw.value().to_vec();
            if let Some((_, id)) = keys::split_upload_index(&raw) {
                upload_ids.push(id);
            }
        }
        for id in upload_ids {
            if let Ok(upload) = self.upload(&id) {
                self.drop_upload(&id, &upload, &HashSet::new())?;
            }
        }
        self.drop_bucket_configs(bucket.id)?;
        self.usage.remove(bucket.id)?;
        self.buckets.remove(name)?;
        Ok(WriteOutcome::Done)
    }

    fn set_object_tags(
        &mut self,
        bucket_id: u64,
        key: &str,
        version: u128,
        tags: Vec<(String, String)>,
    ) -> Result<WriteOutcome, ApplyError> {
        let okey = keys::object(bucket_id, key);
        let mut record = match self.current(&okey)? {
            Some(record) if record.version == version => record,
            _ => {
                // A noncurrent version: its row in `versions` changes; the remote
                // descriptions follow current versions only.
                let mut record = match self.noncurrent(bucket_id, key, version)? {
                    Some(record) if !record.delete_marker => record,
                    _ => return Err(Rejected(MetaError::PreconditionFailed)),
                };
                record.tags = tags;
                self.insert_noncurrent(bucket_id, key, &record)?;
                // Tags select noncurrent versions for lifecycle rules too.
                self.reschedule_key(bucket_id, key)?;
                return Ok(WriteOutcome::Done);
            }
        };
        record.tags = tags;
        self.objects
            .insert(okey.as_slice(), records::encode(&record).as_slice())?;
        self.reschedule(bucket_id, key, Some(&record))?;
        self.queue_redescribe(&okey)?;
        Ok(WriteOutcome::Done)
    }

    pub(super) fn current(&self, okey: &[u8]) -> Result<Option<ObjectRecord>, ApplyError> {
        match self.objects.get(okey)? {
            Some(raw) => records::decode(raw.value()).map(Some).map_err(corrupt),
            None => Ok(None),
        }
    }

    fn check(
        precondition: &Precondition,
        current: Option<&ObjectRecord>,
    ) -> Result<(), ApplyError> {
        let ok = match (precondition, current) {
            (Precondition::None, _) => true,
            (Precondition::IfAbsent, current) => current.is_none(),
            (Precondition::IfEtag(etag), Some(current)) => current.etag == *etag,
            (Precondition::IfVersion(version), Some(current)) => current.version == *version,
            (Precondition::IfEtag(_) | Precondition::IfVersion(_), None) => false,
        };
        if ok {
            Ok(())
        } else {
            Err(Rejected(MetaError::PreconditionFailed))
        }
    }

    /// Writes a new version of `key`: on an unversioned or suspended bucket it replaces the
    /// key's `null` version, on an enabled one it gets an id of its own; a current version
    /// that is not replaced stays as a noncurrent one.
    fn put_object(
        &mut self,
        bucket: &str,
        bucket_id: u64,
        key: &str,
        mut record: ObjectRecord,
        layout: &Layout,
        precondition: &Precondition,
    ) -> Result<WriteOutcome, ApplyError> {
        let versioning = self.require_bucket(bucket, bucket_id)?.versioning;
        let okey = keys::object(bucket_id, key);
        let current = self.current(&okey)?;
        Self::check(precondition, current.as_ref())?;
        // The caller described the blobs with what it expected; the commit decides.
        let described_as = (record.version, record.versioned);
        record.versioned = versioning.ids_versions();
        record.delete_marker = false;
        let replaced = if record.versioned {
            None
        } else {
            self.null_version(bucket_id, key, current.as_ref())?
        };
        let kept = current.filter(|_| !matches!(replaced, Some((Place::Current, _))));
        if let Some(kept) = &kept
            && self.shares_blobs(kept.version, layout)?
        {
            return Err(Rejected(MetaError::SharedBlobs));
        }
        self.order_after_newest(bucket_id, key, kept.as_ref(), &mut record.version, true)?;
        let gone = replaced
            .as_ref()
            .map(|(_, r)| r)
            .filter(|r| !r.delete_marker);
        let change = UsageChange {
            bytes: i128::from(record.size) - gone.map_or(0, |r| i128::from(r.size)),
            objects: 1 - i64::from(gone.is_some()),
        };
        self.admit(bucket, bucket_id, change)?;

        let handed: HashSet<DataId> = layout.blobs().map(|b| b.id).collect();
        // A metadata-only self copy or an append hands the replaced version's blobs on: keep
        // those, and have their self-descriptions brought up to date.
        let handed_on = self.remove_null(bucket_id, key, replaced.as_ref(), &handed)?;
        if let Some(kept) = &kept {
            self.demote_current(bucket_id, key, kept)?;
        }
        self.charge(bucket_id, UsageChange::added(&record))?;
        self.objects
            .insert(okey.as_slice(), records::encode(&record).as_slice())?;
        self.layouts
            .insert(record.version, records::encode(layout).as_slice())?;
        self.reschedule(bucket_id, key, Some(&record))?;
        for blob in layout.blobs() {
            self.blobs
                .insert(blob.id.to_bytes().as_slice(), blob.tier.as_str())?;
        }
        if handed_on || described_as != (record.version, record.versioned) {
            self.queue_redescribe(&okey)?;
        }
        Ok(WriteOutcome::ObjectPut {
            record: Box::new(record),
            replaced: replaced.map(|(_, r)| Box::new(r)),
        })
    }

    fn swap_layout(
        &mut self,
        bucket_id: u64,
        key: &str,
        version: u128,
        expected: &Layout,
        layout: &Layout,
        class: Option<ClassChange>,
    ) -> Result<WriteOutcome, ApplyError> {
        let okey = keys::object(bucket_id, key);
        let Some(mut record) = self.current(&okey)? else {
            return Err(Rejected(MetaError::PreconditionFailed));
        };
        if record.version != version {
            return Err(Rejected(MetaError::PreconditionFailed));
        }
        let current: Layout = match self.layouts.get(version)? {
            Some(raw) => records::decode(raw.value()).map_err(corrupt)?,
            None => return Err(Rejected(MetaError::PreconditionFailed)),
        };
        if current != *expected {
            return Err(Rejected(MetaError::PreconditionFailed));
        }
        let kept: HashSet<DataId> = layout.blobs().map(|b| b.id).collect();
        self.retire_layout(version, &kept)?;
        self.layouts
            .insert(version, records::encode(layout).as_slice())?;
        for blob in layout.blobs() {
            self.blobs
                .insert(blob.id.to_bytes().as_slice(), blob.tier.as_str())?;
        }
        if let Some(class) = class {
            record.storage_class = class.storage_class;
            record.access_tier = class.access_tier;
            self.objects
                .insert(okey.as_slice(), records::encode(&record).as_slice())?;
            self.reschedule(bucket_id, key, Some(&record))?;
            self.queue_redescribe(&okey)?;
        }
        Ok(WriteOutcome::Done)
    }

    fn rename_object(
        &mut self,
        bucket_id: u64,
        from: &str,
        to: &str,
        source_version: u128,
        destination: &Precondition,
    ) -> Result<WriteOutcome, ApplyError> {
        let from_key = keys::object(bucket_id, from);
        let to_key = keys::object(bucket_id, to);
        let source = match self.current(&from_key)? {
            Some(record) if record.version == source_version => record,
            _ => return Err(Rejected(MetaError::PreconditionFailed)),
        };
        if from == to {
            return Ok(WriteOutcome::ObjectPut {
                record: Box::new(source),
                replaced: None,
            });
        }
        let replaced = self.current(&to_key)?;
        Self::check(destination, replaced.as_ref())?;

        if let Some(old) = &replaced {
            // The bucket holds one object fewer: the one the rename replaced.
            self.charge(bucket_id, UsageChange::removed(old))?;
        }
        self.objects.remove(from_key.as_slice())?;
        self.objects
            .insert(to_key.as_slice(), records::encode(&source).as_slice())?;
        // The read history travels with the object (it decides demotion and tiering).
        let read = self.reads.remove(from_key.as_slice())?.map(|v| v.value());
        match read {
            Some(at) => {
                self.reads.insert(to_key.as_slice(), at)?;
            }
            None => {
                self.reads.remove(to_key.as_slice())?;
            }
        }
        self.reschedule(bucket_id, from, None)?;
        self.reschedule(bucket_id, to, Some(&source))?;
        self.redescribe.remove(from_key.as_slice())?;
        self.queue_redescribe(&to_key)?;
        if let Some(old) = &replaced {
            self.retire_layout(old.version, &HashSet::new())?;
        }
        Ok(WriteOutcome::ObjectPut {
            record: Box::new(source),
            replaced: replaced.map(Box::new),
        })
    }

    /// Removes a version's layout and queues its blobs, except `kept`, for reclamation.
    /// Returns whether any of the version's blobs were among `kept`.
    pub(super) fn retire_layout(
        &mut self,
        version: u128,
        kept: &HashSet<DataId>,
    ) -> Result<bool, ApplyError> {
        let Some(raw) = self.layouts.remove(version)? else {
            return Ok(false);
        };
        let layout: Layout = records::decode(raw.value()).map_err(corrupt)?;
        drop(raw);
        let mut handed_on = false;
        for blob in layout.blobs() {
            if kept.contains(&blob.id) {
                handed_on = true;
                continue;
            }
            self.reclaim
                .insert(blob.id.to_bytes().as_slice(), blob.tier.as_str())?;
            self.reclaim_added = true;
        }
        Ok(handed_on)
    }

    /// Queues the object for its remote self-descriptions to be rewritten.
    fn queue_redescribe(&mut self, okey: &[u8]) -> Result<(), ApplyError> {
        let seq = self.sys.get("redescribe_seq")?.map_or(0, |v| v.value()) + 1;
        self.sys.insert("redescribe_seq", seq)?;
        self.redescribe.insert(okey, seq)?;
        Ok(())
    }

    /// A delete without a version id (see [`WriteOp::DeleteObject`]).
    pub(super) fn delete_object(
        &mut self,
        bucket: &str,
        bucket_id: u64,
        key: &str,
        marker: NewMarker,
    ) -> Result<WriteOutcome, ApplyError> {
        let versioning = self.require_bucket(bucket, bucket_id)?.versioning;
        if versioning.is_unversioned() {
            let removed = self.remove_current(bucket_id, key)?;
            return Ok(WriteOutcome::ObjectDeleted {
                existed: removed.is_some(),
                marker: None,
            });
        }
        let okey = keys::object(bucket_id, key);
        let current = self.current(&okey)?;
        let mut marker = ObjectRecord::delete_marker(
            marker.version,
            versioning.ids_versions(),
            marker.modified_ms,
            marker.owner,
        );
        let replaced = if marker.versioned {
            None
        } else {
            self.null_version(bucket_id, key, current.as_ref())?
        };
        let kept = current
            .as_ref()
            .filter(|_| !matches!(replaced, Some((Place::Current, _))));
        self.order_after_newest(bucket_id, key, kept, &mut marker.version, false)?;
        if let Some((Place::Current, _)) = &replaced {
            self.remove_current(bucket_id, key)?;
        } else {
            self.remove_null(bucket_id, key, replaced.as_ref(), &HashSet::new())?;
        }
        if let Some(kept) = kept {
            self.demote_current(bucket_id, key, kept)?;
            self.reads.remove(okey.as_slice())?;
        }
        self.insert_noncurrent(bucket_id, key, &marker)?;
        // Versions became noncurrent (or a marker lone) now, under the new marker.
        self.reschedule(bucket_id, key, None)?;
        Ok(WriteOutcome::ObjectDeleted {
            existed: current.is_some(),
            marker: Some(Box::new(marker)),
        })
    }

    /// DELETE with a version id: that version goes for good.
    fn delete_version(
        &mut self,
        bucket_id: u64,
        key: &str,
        version: VersionRef,
    ) -> Result<WriteOutcome, ApplyError> {
        let current = self.current(&keys::object(bucket_id, key))?;
        let Some((place, found)) = self.find_version(bucket_id, key, current.as_ref(), version)?
        else {
            return Ok(WriteOutcome::VersionDeleted { removed: None });
        };
        let removed = self.remove_version(bucket_id, key, place, found.version)?;
        Ok(WriteOutcome::VersionDeleted {
            removed: removed.map(Box::new),
        })
    }

    fn upload(&self, upload_id: &UploadId) -> Result<UploadRecord, ApplyError> {
        let raw = self
            .uploads
            .get(upload_id.as_slice())?
            .ok_or(Rejected(MetaError::NoSuchUpload))?;
        records::decode(raw.value()).map_err(corrupt)
    }

    fn create_upload(
        &mut self,
        bucket: &str,
        upload_id: &UploadId,
        record: &UploadRecord,
    ) -> Result<WriteOutcome, ApplyError> {
        self.require_bucket(bucket, record.bucket_id)?;
        self.uploads
            .insert(upload_id.as_slice(), records::encode(record).as_slice())?;
        let index = keys::upload_index(record.bucket_id, &record.key, upload_id);
        self.uploads_by_key.insert(index.as_slice(), ())?;
        Ok(WriteOutcome::Done)
    }

    fn put_part(
        &mut self,
        upload_id: &UploadId,
        number: u32,
        part: &PartRecord,
    ) -> Result<WriteOutcome, ApplyError> {
        self.upload(upload_id)?;
        let pkey = keys::part(upload_id, number);
        let old = self
            .parts
            .insert(pkey.as_slice(), records::encode(part).as_slice())?;
        let old: Option<PartRecord> = match old {
            Some(raw) => Some(records::decode(raw.value()).map_err(corrupt)?),
            None => None,
        };
        self.blobs
            .insert(part.blob.id.to_bytes().as_slice(), part.blob.tier.as_str())?;
        if let Some(old) = old
            && old.blob.id != part.blob.id
        {
            self.reclaim
                .insert(old.blob.id.to_bytes().as_slice(), old.blob.tier.as_str())?;
            self.reclaim_added = true;
        }
        Ok(WriteOutcome::Done)
    }

    fn complete_upload(
        &mut self,
        bucket: &str,
        upload_id: &UploadId,
        chosen: &[(u32, DataId)],
        record: ObjectRecord,
        layout: &Layout,
        precondition: &Precondition,
    ) -> Result<WriteOutcome, ApplyError> {
        let upload = self.upload(upload_id)?;
        self.require_bucket(bucket, upload.bucket_id)?;
        for &(number, id) in chosen {
            let raw = self.parts.get(keys::part(upload_id, number).as_slice())?;
            let part: PartRecord = match raw {
                Some(raw) => records::decode(raw.value()).map_err(corrupt)?,
                None => return Err(Rejected(MetaError::PartsChanged)),
            };
            if part.blob.id != id {
                return Err(Rejected(MetaError::PartsChanged));
            }
        }
        let outcome = self.put_object(
            bucket,
            upload.bucket_id,
            &upload.key,
            record,
            layout,
            precondition,
        )?;
        let used: HashSet<DataId> = chosen.iter().map(|&(_, id)| id).collect();
        self.drop_upload(upload_id, &upload, &used)?;
        Ok(outcome)
    }

    /// Removes an upload and its parts, queueing the blobs of parts not in `used`.
    fn drop_upload(
        &mut self,
        upload_id: &UploadId,
        upload: &UploadRecord,
        used: &HashSet<DataId>,
    ) -> Result<(), ApplyError> {
        let start = keys::part(upload_id, 0);
        let end = keys::part(upload_id, u32::MAX);
        let mut part_keys = Vec::new();
        for entry in self.parts.range(start.as_slice()..=end.as_slice())? {
            let (k, v) = entry?;
            let part: PartRecord = records::decode(v.value()).map_err(corrupt)?;
            part_keys.push(k.value().to_vec());
            if !used.contains(&part.blob.id) {
                self.reclaim
                    .insert(part.blob.id.to_bytes().as_slice(), part.blob.tier.as_str())?;
                self.reclaim_added = true;
            }
        }
        for k in part_keys {
            self.parts.remove(k.as_slice())?;
        }
        self.uploads.remove(upload_id.as_slice())?;
        let index = keys::upload_index(upload.bucket_id, &upload.key, upload_id);
        self.uploads_by_key.remove(index.as_slice())?;
        Ok(())
    }
}
