//! A key's versions inside a commit: the primitives every versioned write is made of.
//!
//! A key's newest version, when it holds data, is its row in `objects` (the current
//! version); every other version — older ones, and delete markers, even the newest — is a
//! row of `versions`, newest first. So a key whose newest version is a delete marker has no
//! row in `objects`, and listings of current objects read `objects` alone, as fast as in an
//! unversioned bucket. Invariants kept by every write here:
//!
//! - a row in `objects` is newer than every row of its key in `versions`;
//! - without a row in `objects`, the key's newest version (if any) is a delete marker;
//! - at most one version of a key is `null` (not `versioned`), and while it is in
//!   `versions`, `null_versions` names it;
//! - versions increase per key in commit order (a write that would break this is given the
//!   next free version);
//! - each data version has its own layout and blobs: no two versions share a blob, so
//!   removing a version may reclaim its blobs;
//! - usage counts every data version (current and noncurrent), never delete markers.

use std::collections::HashSet;

use redb::ReadableTable;
use vmgw_tiering::DataId;

use super::apply::{ApplyError, Tables};
use super::records::{self, Layout, ObjectRecord};
use super::usage::UsageChange;
use super::{MetaError, VersionRef, keys};

fn corrupt(e: impl std::fmt::Display) -> ApplyError {
    ApplyError::Fatal(MetaError::Corrupt(e.to_string()))
}

/// Where a version of a key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    Current,
    Noncurrent,
}

impl Tables<'_> {
    /// A noncurrent version (or delete marker) of a key.
    pub(super) fn noncurrent(
        &self,
        bucket_id: u64,
        key: &str,
        version: u128,
    ) -> Result<Option<ObjectRecord>, ApplyError> {
        match self
            .versions
            .get(keys::version(bucket_id, key, version).as_slice())?
        {
            Some(raw) => records::decode(raw.value()).map(Some).map_err(corrupt),
            None => Ok(None),
        }
    }

    /// The newest row of a key in `versions`.
    pub(super) fn newest_noncurrent(
        &self,
        bucket_id: u64,
        key: &str,
    ) -> Result<Option<ObjectRecord>, ApplyError> {
        let start = keys::escaped_key(bucket_id, key);
        let end = keys::prefix_successor(&start).expect("an escaped key ends in 0x00");
        match self
            .versions
            .range(start.as_slice()..end.as_slice())?
            .next()
        {
            Some(entry) => {
                let (_, raw) = entry?;
                records::decode(raw.value()).map(Some).map_err(corrupt)
            }
            None => Ok(None),
        }
    }

    /// Every row of a key in `versions`, newest first.
    pub(super) fn other_versions(
        &self,
        bucket_id: u64,
        key: &str,
    ) -> Result<Vec<ObjectRecord>, ApplyError> {
        let start = keys::escaped_key(bucket_id, key);
        let end = keys::prefix_successor(&start).expect("an escaped key ends in 0x00");
        let mut out = Vec::new();
        for entry in self.versions.range(start.as_slice()..end.as_slice())? {
            let (_, raw) = entry?;
            out.push(records::decode(raw.value()).map_err(corrupt)?);
        }
        Ok(out)
    }

    /// Puts a version into `versions` (a current version being superseded, a delete marker).
    pub(super) fn insert_noncurrent(
        &mut self,
        bucket_id: u64,
        key: &str,
        record: &ObjectRecord,
    ) -> Result<(), ApplyError> {
        self.versions.insert(
            keys::version(bucket_id, key, record.version).as_slice(),
            records::encode(record).as_slice(),
        )?;
        if !record.versioned {
            self.null_versions
                .insert(keys::object(bucket_id, key).as_slice(), record.version)?;
        }
        Ok(())
    }

    /// Takes a version out of `versions`.
    pub(super) fn remove_noncurrent(
        &mut self,
        bucket_id: u64,
        key: &str,
        version: u128,
    ) -> Result<Option<ObjectRecord>, ApplyError> {
        let Some(raw) = self
            .versions
            .remove(keys::version(bucket_id, key, version).as_slice())?
        else {
            return Ok(None);
        };
        let record: ObjectRecord = records::decode(raw.value()).map_err(corrupt)?;
        drop(raw);
        if !record.versioned {
            let okey = keys::object(bucket_id, key);
            let indexed = self.null_versions.get(okey.as_slice())?.map(|v| v.value());
            if indexed == Some(version) {
                self.null_versions.remove(okey.as_slice())?;
            }
        }
        Ok(Some(record))
    }

    /// The key's `null` version and where it is, given its current version.
    pub(super) fn null_version(
        &self,
        bucket_id: u64,
        key: &str,
        current: Option<&ObjectRecord>,
    ) -> Result<Option<(Place, ObjectRecord)>, ApplyError> {
        if let Some(current) = current.filter(|c| !c.versioned) {
            return Ok(Some((Place::Current, current.clone())));
        }
        let indexed = self
            .null_versions
            .get(keys::object(bucket_id, key).as_slice())?
            .map(|v| v.value());
        match indexed {
            Some(version) => Ok(self
                .noncurrent(bucket_id, key, version)?
                .map(|r| (Place::Noncurrent, r))),
            None => Ok(None),
        }
    }

    /// The version a request names, and where it is. A `null` version is named only as
    /// `null`: its internal number is never shown, so an id naming it is no match.
    pub(super) fn find_version(
        &self,
        bucket_id: u64,
        key: &str,
        current: Option<&ObjectRecord>,
        version: VersionRef,
    ) -> Result<Option<(Place, ObjectRecord)>, ApplyError> {
        match version {
            VersionRef::Null => self.null_version(bucket_id, key, current),
            VersionRef::Id(id) => {
                if let Some(current) = current.filter(|c| c.version == id) {
                    return Ok(current.versioned.then(|| (Place::Current, current.clone())));
                }
                Ok(self
                    .noncurrent(bucket_id, key, id)?
                    .filter(|r| r.versioned)
                    .map(|r| (Place::Noncurrent, r)))
            }
        }
    }

    /// The version of a key's newest version, if it has any.
    fn newest_version(
        &self,
        bucket_id: u64,
        key: &str,
        current: Option<&ObjectRecord>,
    ) -> Result<Option<u128>, ApplyError> {
        if let Some(current) = current {
            return Ok(Some(current.version));
        }
        Ok(self.newest_noncurrent(bucket_id, key)?.map(|r| r.version))
    }

    /// Makes `version` newer than every version of the key: a write whose version was taken
    /// before another write to the key committed (or on a clock that went back) gets the next
    /// number no layout uses. A version that will have a layout (`with_layout`) must also not
    /// be one another object's layout has (versions are random in their low half, so this
    /// only guards against the improbable). Returns whether it changed.
    pub(super) fn order_after_newest(
        &self,
        bucket_id: u64,
        key: &str,
        current: Option<&ObjectRecord>,
        version: &mut u128,
        with_layout: bool,
    ) -> Result<bool, ApplyError> {
        let newest = self.newest_version(bucket_id, key, current)?;
        let taken = with_layout && self.layouts.get(*version)?.is_some();
        if !taken && newest.is_none_or(|newest| *version > newest) {
            return Ok(false);
        }
        let mut next = newest.map_or(*version, |n| n.max(*version)) + 1;
        while self.layouts.get(next)?.is_some() {
            next += 1;
        }
        *version = next;
        Ok(true)
    }

    /// Whether `layout` uses any blob of version `version`'s layout.
    pub(super) fn shares_blobs(&self, version: u128, layout: &Layout) -> Result<bool, ApplyError> {
        if matches!(layout, Layout::Inline { .. }) {
            return Ok(false);
        }
        let Some(raw) = self.layouts.get(version)? else {
            return Ok(false);
        };
        let old: Layout = records::decode(raw.value()).map_err(corrupt)?;
        let ids: HashSet<DataId> = old.blobs().map(|b| b.id).collect();
        Ok(layout.blobs().any(|b| ids.contains(&b.id)))
    }

    /// Removes the current version as an unversioned delete does: usage, layout (its blobs
    /// queued for reclamation), read mark, description queue and schedule entry go with it.
    pub(super) fn remove_current(
        &mut self,
        bucket_id: u64,
        key: &str,
    ) -> Result<Option<ObjectRecord>, ApplyError> {
        let okey = keys::object(bucket_id, key);
        let Some(raw) = self.objects.remove(okey.as_slice())? else {
            return Ok(None);
        };
        let old: ObjectRecord = records::decode(raw.value()).map_err(corrupt)?;
        drop(raw);
        self.charge(bucket_id, UsageChange::removed(&old))?;
        self.retire_layout(old.version, &HashSet::new())?;
        self.reads.remove(okey.as_slice())?;
        self.redescribe.remove(okey.as_slice())?;
        self.reschedule(bucket_id, key, None)?;
        Ok(Some(old))
    }

    /// Moves the current version into `versions`: it stays, with its layout and bytes, as a
    /// noncurrent version. The key's schedule entry is recomputed without a current version;
    /// the write that demotes it reschedules the key again once it is done.
    pub(super) fn demote_current(
        &mut self,
        bucket_id: u64,
        key: &str,
        current: &ObjectRecord,
    ) -> Result<(), ApplyError> {
        let okey = keys::object(bucket_id, key);
        self.objects.remove(okey.as_slice())?;
        self.insert_noncurrent(bucket_id, key, current)?;
        self.reschedule(bucket_id, key, None)?;
        Ok(())
    }

    /// Removes a version that is in `versions` for good: a data version's usage and blobs go.
    fn drop_noncurrent(
        &mut self,
        bucket_id: u64,
        key: &str,
        version: u128,
    ) -> Result<Option<ObjectRecord>, ApplyError> {
        let removed = self.remove_noncurrent(bucket_id, key, version)?;
        if let Some(old) = removed.as_ref().filter(|r| !r.delete_marker) {
            self.charge(bucket_id, UsageChange::removed(old))?;
            self.retire_layout(old.version, &HashSet::new())?;
        }
        Ok(removed)
    }

    /// With no current version left, the key's newest version becomes current if it holds
    /// data (the "undelete" when the delete marker on top goes; the previous version when
    /// the current one is deleted).
    fn promote(&mut self, bucket_id: u64, key: &str) -> Result<(), ApplyError> {
        let Some(newest) = self.newest_noncurrent(bucket_id, key)? else {
            return Ok(());
        };
        if newest.delete_marker {
            return Ok(());
        }
        self.remove_noncurrent(bucket_id, key, newest.version)?;
        let okey = keys::object(bucket_id, key);
        self.objects
            .insert(okey.as_slice(), records::encode(&newest).as_slice())?;
        self.reschedule(bucket_id, key, Some(&newest))?;
        Ok(())
    }

    /// Removes version `version` of a key for good, wherever it is; when it was the newest,
    /// the next newest becomes current as S3 has it. Returns the removed version.
    pub(super) fn remove_version(
        &mut self,
        bucket_id: u64,
        key: &str,
        place: Place,
        version: u128,
    ) -> Result<Option<ObjectRecord>, ApplyError> {
        let removed = match place {
            Place::Current => self.remove_current(bucket_id, key)?,
            Place::Noncurrent => self.drop_noncurrent(bucket_id, key, version)?,
        };
        if removed.is_some() && self.current(&keys::object(bucket_id, key))?.is_none() {
            self.promote(bucket_id, key)?;
        }
        // The key's other versions changed: their lifecycle moments may have.
        self.reschedule_key(bucket_id, key)?;
        Ok(removed)
    }

    /// Removes the key's `null` version `null` (as [`Self::null_version`] found it) for
    /// good, before a write that replaces it; its blobs in `kept` are handed to the new
    /// version instead of reclaimed. Returns whether any were.
    pub(super) fn remove_null(
        &mut self,
        bucket_id: u64,
        key: &str,
        null: Option<&(Place, ObjectRecord)>,
        kept: &HashSet<DataId>,
    ) -> Result<bool, ApplyError> {
        let Some((place, old)) = null else {
            return Ok(false);
        };
        match place {
            Place::Current => {
                self.objects
                    .remove(keys::object(bucket_id, key).as_slice())?;
            }
            Place::Noncurrent => {
                self.remove_noncurrent(bucket_id, key, old.version)?;
            }
        }
        if old.delete_marker {
            return Ok(false);
        }
        self.charge(bucket_id, UsageChange::removed(old))?;
        self.retire_layout(old.version, kept)
    }
}
