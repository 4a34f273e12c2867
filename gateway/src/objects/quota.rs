//! Refusing a write that cannot fit its quotas before its body is received.
//!
//! The commit checks quotas authoritatively (see `meta::usage`); this early look runs the
//! same check on a read snapshot, which saves receiving, storing and throwing away a large
//! body that was never going to fit. Usage only grows through commits that passed that
//! check, so the early look refuses only writes the commit would refuse too.

use super::ObjectService;
use super::error::ObjectResult;
use crate::meta::{BucketRecord, UsageChange, VersionRef};

impl ObjectService {
    /// Refuses a new version of `key` that will be `len` bytes when the bucket's or its
    /// tenant's quota cannot take it.
    pub(super) fn precheck_quota(
        &self,
        bucket: &BucketRecord,
        key: &str,
        len: Option<u64>,
    ) -> ObjectResult<()> {
        let Some(len) = len else {
            return Ok(());
        };
        // Most writes fit even as a new object of `len` bytes: only when that does not is
        // the object being replaced looked up, to count the difference.
        let as_new = UsageChange {
            bytes: i128::from(len),
            objects: 1,
        };
        if self.meta.admits(&bucket.name, bucket.id, as_new).is_ok() {
            return Ok(());
        }
        // What the write replaces for good: the key's `null` version, unless versioning is
        // enabled (then nothing: every version stays and counts).
        let existing = if bucket.versioning.ids_versions() {
            None
        } else {
            self.meta
                .version(bucket.id, key, VersionRef::Null)?
                .map(|found| found.record)
                .filter(|r| !r.delete_marker)
        };
        let change = UsageChange {
            bytes: i128::from(len) - existing.as_ref().map_or(0, |o| i128::from(o.size)),
            objects: i64::from(existing.is_none()),
        };
        Ok(self.meta.admits(&bucket.name, bucket.id, change)?)
    }
}
