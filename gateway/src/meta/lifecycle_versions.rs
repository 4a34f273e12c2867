//! Lifecycle's writes on versions other than the current one: removing a noncurrent
//! version or a lone delete marker, and swapping a noncurrent version's layout when it
//! moves between tiers.
//!
//! The worker decides from a snapshot; the commit decides again. A removal is permanent, so
//! its commit evaluates the key's versions as they are inside the transaction (a newer
//! noncurrent version deleted meanwhile may now protect this one under
//! `NewerNoncurrentVersions`; a new write may have made a lone marker no longer lone) and
//! refuses with `PreconditionFailed` when the removal is no longer due. The schedule entry
//! is recomputed in the same commit as the removal, so a crash either leaves both as they
//! were (the worker acts again) or neither needed.

use std::collections::HashSet;

use redb::ReadableTable;
use vmgw_lifecycle::{Action, KeyVersions, VersionFacts, evaluate_versions};
use vmgw_tiering::DataId;

use super::apply::{ApplyError, Tables};
use super::records::{self, Layout, ObjectRecord};
use super::schedule::version_facts;
use super::versions::Place;
use super::{ClassChange, MetaError, WriteOutcome, keys};

fn refused() -> ApplyError {
    ApplyError::Rejected(MetaError::PreconditionFailed)
}

impl Tables<'_> {
    /// [`super::WriteOp::ExpireVersion`].
    pub(super) fn expire_version(
        &mut self,
        bucket_id: u64,
        key: &str,
        version: u128,
        now_ms: i64,
    ) -> Result<WriteOutcome, ApplyError> {
        let Some(rules) = self.rules(bucket_id)? else {
            return Err(refused());
        };
        let okey = keys::object(bucket_id, key);
        let current = self.current(&okey)?;
        let others = self.other_versions(bucket_id, key)?;
        let Some(index) = others.iter().position(|r| r.version == version) else {
            return Err(refused());
        };
        let facts: Vec<VersionFacts> = others.iter().map(version_facts).collect();
        let versions = KeyVersions {
            key,
            current_created_ms: current.as_ref().map(|c| c.modified_ms),
            others: &facts,
        };
        let due = evaluate_versions(&rules, &versions, now_ms, self.day_ms)
            .into_iter()
            .any(|(i, action)| i == index && matches!(action, Action::Expire { .. }));
        if !due {
            return Err(refused());
        }
        if let Some(until) = self.removal_hold(bucket_id, key, &others[index])? {
            self.postpone(&okey, until)?;
            return Ok(WriteOutcome::VersionDeleted { removed: None });
        }
        let removed = self.remove_version(bucket_id, key, Place::Noncurrent, version)?;
        Ok(WriteOutcome::VersionDeleted {
            removed: removed.map(Box::new),
        })
    }

    /// Whether a version lifecycle would remove for good must be kept for now, and until
    /// when: the one place where object lock (retention periods and legal holds) will be
    /// checked, inside the commit that removes, so that a lock set meanwhile is seen. A held
    /// version is not removed and its key is put off until the returned moment (a legal
    /// hold has no end: a later look). Object lock is not implemented yet: nothing is held.
    #[allow(clippy::unused_self, clippy::unnecessary_wraps)] // the lock check will read tables
    fn removal_hold(
        &self,
        _bucket_id: u64,
        _key: &str,
        _version: &ObjectRecord,
    ) -> Result<Option<i64>, ApplyError> {
        Ok(None)
    }

    /// A move of noncurrent version `version` between tiers (see
    /// [`super::WriteOp::SwapLayout`]): the version's row takes the class, its old blobs
    /// not in `layout` are queued for reclamation, and the key is rescheduled.
    pub(super) fn swap_noncurrent_layout(
        &mut self,
        bucket_id: u64,
        key: &str,
        version: u128,
        expected: &Layout,
        layout: &Layout,
        class: Option<ClassChange>,
    ) -> Result<WriteOutcome, ApplyError> {
        let Some(mut record) = self
            .noncurrent(bucket_id, key, version)?
            .filter(|r| !r.delete_marker)
        else {
            return Err(refused());
        };
        let now: Layout = match self.layouts.get(version)? {
            Some(raw) => records::decode(raw.value())
                .map_err(|e| ApplyError::Fatal(MetaError::Corrupt(e.to_string())))?,
            None => return Err(refused()),
        };
        if now != *expected {
            return Err(refused());
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
            self.insert_noncurrent(bucket_id, key, &record)?;
            self.reschedule_key(bucket_id, key)?;
        }
        Ok(WriteOutcome::Done)
    }
}
