//! Writes that mend the store: `vmgw fsck --repair` and `vmgw recover` use them.
//!
//! Each checks, inside its commit, that what the caller saw in an earlier snapshot still
//! holds (the object is still that version with that layout, the blob is still used), so a
//! repair that races a client's write gives way to it instead of undoing it.

use std::collections::HashSet;

use redb::ReadableTable;
use vmgw_tiering::DataId;

use super::apply::{ApplyError, Tables};
use super::records::{self, Layout, ObjectRecord};
use super::usage::UsageChange;
use super::versions::Place;
use super::{MetaError, NewMarker, WriteOutcome, keys};

fn corrupt(e: rmp_serde::decode::Error) -> ApplyError {
    ApplyError::Fatal(MetaError::Corrupt(e.to_string()))
}

fn changed() -> ApplyError {
    ApplyError::Rejected(MetaError::PreconditionFailed)
}

impl Tables<'_> {
    fn layout_of(&self, version: u128) -> Result<Option<Layout>, ApplyError> {
        match self.layouts.get(version)? {
            Some(raw) => Ok(Some(records::decode(raw.value()).map_err(corrupt)?)),
            None => Ok(None),
        }
    }

    /// Removes version `version` of an object, whose bytes are lost (see
    /// [`super::WriteOp::DropObject`]), provided it still has `layout`.
    pub(super) fn drop_object(
        &mut self,
        bucket_id: u64,
        key: &str,
        version: u128,
        layout: Option<&Layout>,
        marker: Option<NewMarker>,
    ) -> Result<WriteOutcome, ApplyError> {
        let okey = keys::object(bucket_id, key);
        let current = self.current(&okey)?;
        let place = match &current {
            Some(record) if record.version == version => Place::Current,
            _ if self.noncurrent(bucket_id, key, version)?.is_some() => Place::Noncurrent,
            _ => return Err(changed()),
        };
        if self.layout_of(version)?.as_ref() != layout {
            return Err(changed());
        }
        let versioned = self
            .bucket_by_id(bucket_id)?
            .is_some_and(|b| !b.versioning.is_unversioned());
        let marker = marker.filter(|_| versioned && place == Place::Current);
        let Some(marker) = marker else {
            let removed = self.remove_version(bucket_id, key, place, version)?;
            return Ok(WriteOutcome::VersionDeleted {
                removed: removed.map(Box::new),
            });
        };
        let removed = self.remove_current(bucket_id, key)?;
        let mut marker =
            ObjectRecord::delete_marker(marker.version, true, marker.modified_ms, marker.owner);
        self.order_after_newest(bucket_id, key, None, &mut marker.version, false)?;
        self.insert_noncurrent(bucket_id, key, &marker)?;
        self.reschedule(bucket_id, key, None)?;
        Ok(WriteOutcome::VersionDeleted {
            removed: removed.map(Box::new),
        })
    }

    /// Sets a bucket's usage row to what its versions add up to.
    pub(super) fn recount_usage(&mut self, bucket_id: u64) -> Result<WriteOutcome, ApplyError> {
        let start = keys::object(bucket_id, "");
        let end = keys::bucket_end(bucket_id);
        let (mut bytes, mut objects) = (0u64, 0u64);
        for table in [&self.objects, &self.versions] {
            for entry in table.range(start.as_slice()..end.as_slice())? {
                let (_, raw) = entry?;
                let record: ObjectRecord = records::decode(raw.value()).map_err(corrupt)?;
                if !record.delete_marker {
                    bytes += record.size;
                    objects += 1;
                }
            }
        }
        if objects == 0 && !self.bucket_exists(bucket_id)? {
            // A usage row of a bucket that no longer exists.
            self.usage.remove(bucket_id)?;
        } else {
            self.usage.insert(bucket_id, (bytes, objects))?;
        }
        Ok(WriteOutcome::Done)
    }

    /// The bucket with this id. Buckets are few; a scan is cheap enough for repairs.
    fn bucket_by_id(&self, bucket_id: u64) -> Result<Option<super::BucketRecord>, ApplyError> {
        for entry in self.buckets.iter()? {
            let (_, raw) = entry?;
            let bucket: super::BucketRecord = records::decode(raw.value()).map_err(corrupt)?;
            if bucket.id == bucket_id {
                return Ok(Some(bucket));
            }
        }
        Ok(None)
    }

    fn bucket_exists(&self, bucket_id: u64) -> Result<bool, ApplyError> {
        Ok(self.bucket_by_id(bucket_id)?.is_some())
    }

    /// Makes the blob table name `tier` for each blob.
    pub(super) fn set_blob_rows(
        &mut self,
        rows: &[(DataId, String)],
    ) -> Result<WriteOutcome, ApplyError> {
        for (id, tier) in rows {
            self.blobs.insert(id.to_bytes().as_slice(), tier.as_str())?;
        }
        Ok(WriteOutcome::Done)
    }

    /// Queues blobs that nothing references for reclamation (the reclaimer deletes them
    /// from their tier, if there, and forgets them).
    pub(super) fn reclaim_blobs(
        &mut self,
        blobs: &[(DataId, String)],
    ) -> Result<WriteOutcome, ApplyError> {
        for (id, tier) in blobs {
            self.reclaim
                .insert(id.to_bytes().as_slice(), tier.as_str())?;
            self.reclaim_added = true;
        }
        Ok(WriteOutcome::Done)
    }

    /// Takes blob `id` off the reclamation queue, provided version `version` of
    /// `bucket_id`/`key` (current or not) still uses it: a queued blob in use would be
    /// deleted from under its object.
    pub(super) fn keep_blob(
        &mut self,
        bucket_id: u64,
        key: &str,
        version: u128,
        id: DataId,
    ) -> Result<WriteOutcome, ApplyError> {
        let exists = match self.current(&keys::object(bucket_id, key))? {
            Some(record) if record.version == version => true,
            _ => self.noncurrent(bucket_id, key, version)?.is_some(),
        };
        let used = exists
            && self
                .layout_of(version)?
                .is_some_and(|layout| layout.blobs().any(|b| b.id == id));
        if !used {
            return Err(changed());
        }
        self.reclaim.remove(id.to_bytes().as_slice())?;
        Ok(WriteOutcome::Done)
    }

    /// Drops a layout that no object refers to, queueing its blobs but `keep` (blobs some
    /// object does use) for reclamation. Versions are never reused, so a layout without
    /// an object can never gain one again.
    pub(super) fn drop_layout(
        &mut self,
        version: u128,
        keep: &[DataId],
    ) -> Result<WriteOutcome, ApplyError> {
        let keep: HashSet<DataId> = keep.iter().copied().collect();
        self.retire_layout(version, &keep)?;
        Ok(WriteOutcome::Done)
    }

    /// Recovery: creates a bucket named in the remote tier's descriptors, owned as its
    /// objects were, whether or not that tenant exists (yet): a tenant created again under
    /// its old name owns it again.
    pub(super) fn restore_bucket(
        &mut self,
        mut record: super::BucketRecord,
    ) -> Result<WriteOutcome, ApplyError> {
        if self.buckets.get(record.name.as_str())?.is_some() {
            return Err(changed());
        }
        let id = self.sys.get("next_bucket_id")?.map_or(1, |v| v.value());
        record.id = id;
        self.sys.insert("next_bucket_id", id + 1)?;
        self.buckets
            .insert(record.name.as_str(), records::encode(&record).as_slice())?;
        Ok(WriteOutcome::BucketCreated(record))
    }

    /// Recovery: puts `record` with `layout` among the versions of `key` (see
    /// [`super::WriteOp::RestoreObject`]). No quota applies: the object existed before.
    pub(super) fn restore_object(
        &mut self,
        bucket_id: u64,
        key: &str,
        record: &ObjectRecord,
        layout: &Layout,
    ) -> Result<WriteOutcome, ApplyError> {
        if !self.bucket_exists(bucket_id)? {
            return Err(ApplyError::Rejected(MetaError::NoSuchBucket));
        }
        let okey = keys::object(bucket_id, key);
        let current = self.current(&okey)?;
        if self.layouts.get(record.version)?.is_some()
            || self.noncurrent(bucket_id, key, record.version)?.is_some()
        {
            return Err(changed());
        }
        // At most one `null` version: the newer one stays.
        let replaced = if record.versioned {
            None
        } else {
            match self.null_version(bucket_id, key, current.as_ref())? {
                Some((_, null)) if null.version > record.version => return Err(changed()),
                other => other,
            }
        };
        let newest = current
            .as_ref()
            .filter(|_| !matches!(replaced, Some((Place::Current, _))))
            .map(|c| c.version)
            .max(self.newest_noncurrent(bucket_id, key)?.map(|r| r.version));
        self.remove_null(bucket_id, key, replaced.as_ref(), &HashSet::new())?;
        self.charge(bucket_id, UsageChange::added(record))?;
        self.layouts
            .insert(record.version, records::encode(layout).as_slice())?;
        for blob in layout.blobs() {
            self.blobs
                .insert(blob.id.to_bytes().as_slice(), blob.tier.as_str())?;
        }
        if newest.is_some_and(|n| n > record.version) {
            // An older version: it takes its place among the noncurrent ones.
            self.insert_noncurrent(bucket_id, key, record)?;
            self.reschedule_key(bucket_id, key)?;
        } else {
            if let Some(current) = self.current(&okey)? {
                self.demote_current(bucket_id, key, &current)?;
            }
            self.objects
                .insert(okey.as_slice(), records::encode(record).as_slice())?;
            self.reschedule(bucket_id, key, Some(record))?;
        }
        if matches!(replaced, Some((Place::Current, _))) {
            self.reads.remove(okey.as_slice())?;
        }
        Ok(WriteOutcome::ObjectPut {
            record: Box::new(record.clone()),
            replaced: replaced.map(|(_, r)| Box::new(r)),
        })
    }
}
