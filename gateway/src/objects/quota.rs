//! Refusing a write that cannot fit its quotas before its body is received.
//!
//! The commit checks quotas authoritatively (see `meta::usage`); this early look saves
//! receiving, storing and throwing away a large body that was never going to fit. It reads
//! usage outside the commit, so it can only refuse writes that the commit would refuse too
//! (usage only grows through commits that passed the same check).

use super::ObjectService;
use super::error::{ObjectError, ObjectResult};
use crate::meta::{BucketRecord, ConfigKind, Quota, Usage, records};

fn refuse(what: &str, quota: &Quota, after: Usage) -> ObjectError {
    ObjectError::QuotaExceeded(format!(
        "The write would take {what} over its quota (it would hold {} bytes in {} objects; the limits are {} bytes, {} objects)",
        after.bytes,
        after.objects,
        quota
            .max_bytes
            .map_or_else(|| "no".to_owned(), |b| b.to_string()),
        quota
            .max_objects
            .map_or_else(|| "no".to_owned(), |o| o.to_string()),
    ))
}

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
        let bucket_quota: Quota = match self.meta.bucket_config(bucket.id, ConfigKind::Quota)? {
            Some(raw) => records::decode(&raw)
                .map_err(|e| ObjectError::Internal(format!("bucket quota: {e}")))?,
            None => Quota::default(),
        };
        let tenant = match bucket.owner.strip_prefix("tenant/") {
            Some(name) => self.meta.tenant(name)?,
            None => None,
        };
        let tenant_quota = tenant.as_ref().map(|t| t.quota).unwrap_or_default();
        if bucket_quota.is_unlimited() && tenant_quota.is_unlimited() {
            return Ok(());
        }
        let existing = self.meta.object(bucket.id, key)?;
        let grow = |usage: Usage| Usage {
            bytes: (usage.bytes + len).saturating_sub(existing.as_ref().map_or(0, |o| o.size)),
            objects: usage.objects + u64::from(existing.is_none()),
        };
        if !bucket_quota.is_unlimited() {
            let after = grow(self.meta.usage(bucket.id)?);
            if !bucket_quota.admits(after) {
                return Err(refuse(
                    &format!("bucket {}", bucket.name),
                    &bucket_quota,
                    after,
                ));
            }
        }
        if let Some(tenant) = tenant.filter(|t| !t.quota.is_unlimited()) {
            let mut total = Usage::default();
            for b in self.meta.buckets()? {
                if b.owner == bucket.owner {
                    let u = self.meta.usage(b.id)?;
                    total.bytes += u.bytes;
                    total.objects += u.objects;
                }
            }
            let after = grow(total);
            if !tenant.quota.admits(after) {
                return Err(refuse(
                    &format!("tenant {}", tenant.name),
                    &tenant.quota,
                    after,
                ));
            }
        }
        Ok(())
    }
}
