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
use super::{MetaError, WriteOutcome, keys};

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

    /// Removes an object whose bytes are lost from the namespace, exactly as a delete
    /// would (usage, schedule, read marks; its blobs queued for reclamation), provided it is
    /// still `version` with `layout` (`None`: the object has no layout).
    pub(super) fn drop_object(
        &mut self,
        bucket_id: u64,
        key: &str,
        version: u128,
        layout: Option<&Layout>,
    ) -> Result<WriteOutcome, ApplyError> {
        let okey = keys::object(bucket_id, key);
        match self.current(&okey)? {
            Some(record) if record.version == version => {}
            _ => return Err(changed()),
        }
        if self.layout_of(version)?.as_ref() != layout {
            return Err(changed());
        }
        self.delete_object(bucket_id, key)
    }

    /// Sets a bucket's usage row to what its objects add up to.
    pub(super) fn recount_usage(&mut self, bucket_id: u64) -> Result<WriteOutcome, ApplyError> {
        let start = keys::object(bucket_id, "");
        let end = keys::bucket_end(bucket_id);
        let (mut bytes, mut objects) = (0u64, 0u64);
        for entry in self.objects.range(start.as_slice()..end.as_slice())? {
            let (_, raw) = entry?;
            let record: ObjectRecord = records::decode(raw.value()).map_err(corrupt)?;
            bytes += record.size;
            objects += 1;
        }
        if objects == 0 && !self.bucket_exists(bucket_id)? {
            // A usage row of a bucket that no longer exists.
            self.usage.remove(bucket_id)?;
        } else {
            self.usage.insert(bucket_id, (bytes, objects))?;
        }
        Ok(WriteOutcome::Done)
    }

    /// Whether a bucket has this id. Buckets are few; a scan is cheap enough for repairs.
    fn bucket_exists(&self, bucket_id: u64) -> Result<bool, ApplyError> {
        for entry in self.buckets.iter()? {
            let (_, raw) = entry?;
            let bucket: super::BucketRecord = records::decode(raw.value()).map_err(corrupt)?;
            if bucket.id == bucket_id {
                return Ok(true);
            }
        }
        Ok(false)
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

    /// Takes blob `id` off the reclamation queue, provided the current version of
    /// `bucket_id`/`key` still uses it: a queued blob in use would be deleted from under
    /// its object.
    pub(super) fn keep_blob(
        &mut self,
        bucket_id: u64,
        key: &str,
        id: DataId,
    ) -> Result<WriteOutcome, ApplyError> {
        let Some(record) = self.current(&keys::object(bucket_id, key))? else {
            return Err(changed());
        };
        let used = self
            .layout_of(record.version)?
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

    /// Recovery: makes `record` with `layout` the current version of `key`, unless the
    /// current version is as new or newer. No quota applies: the object existed before.
    pub(super) fn restore_object(
        &mut self,
        bucket_id: u64,
        key: &str,
        record: &ObjectRecord,
        layout: &Layout,
    ) -> Result<WriteOutcome, ApplyError> {
        let okey = keys::object(bucket_id, key);
        let replaced = self.current(&okey)?;
        if replaced
            .as_ref()
            .is_some_and(|r| r.version >= record.version)
        {
            return Err(changed());
        }
        if !self.bucket_exists(bucket_id)? {
            return Err(ApplyError::Rejected(MetaError::NoSuchBucket));
        }
        let change = UsageChange {
            bytes: i128::from(record.size) - replaced.as_ref().map_or(0, |r| i128::from(r.size)),
            objects: i64::from(replaced.is_none()),
        };
        self.charge(bucket_id, change)?;
        self.objects
            .insert(okey.as_slice(), records::encode(record).as_slice())?;
        self.layouts
            .insert(record.version, records::encode(layout).as_slice())?;
        self.reschedule(bucket_id, key, Some(record))?;
        for blob in layout.blobs() {
            self.blobs
                .insert(blob.id.to_bytes().as_slice(), blob.tier.as_str())?;
        }
        if let Some(old) = &replaced {
            let kept: HashSet<DataId> = layout.blobs().map(|b| b.id).collect();
            self.retire_layout(old.version, &kept)?;
            self.reads.remove(okey.as_slice())?;
        }
        Ok(WriteOutcome::ObjectPut {
            replaced: replaced.map(Box::new),
        })
    }
}
