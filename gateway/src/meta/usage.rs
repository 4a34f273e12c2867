//! Usage accounting and quotas, inside the commits that change objects.
//!
//! Every write that adds, replaces or removes a current object changes its bucket's usage
//! row in the same transaction, so usage is exact after any crash (a commit is all or
//! nothing). Quotas are checked there too, against usage that includes every write committed
//! before in the same serial order: racing uploads can never together pass a quota.

use redb::ReadableTable;

use super::apply::{ApplyError, Tables};
use super::records::{self, BucketRecord, ObjectRecord, Quota, TenantRecord, Usage};
use super::{ConfigKind, MetaError, keys};

/// How a write changes a bucket's usage.
#[derive(Debug, Clone, Copy)]
pub(super) struct UsageChange {
    pub bytes: i128,
    pub objects: i64,
}

impl UsageChange {
    /// `old` no longer counts.
    pub(super) fn removed(old: &ObjectRecord) -> Self {
        Self {
            bytes: -i128::from(old.size),
            objects: -1,
        }
    }
}

fn corrupt(e: impl std::fmt::Display) -> ApplyError {
    ApplyError::Fatal(MetaError::Corrupt(e.to_string()))
}

fn plus(usage: Usage, change: UsageChange) -> Usage {
    let clamp = |v: i128| u64::try_from(v.max(0)).unwrap_or(u64::MAX);
    Usage {
        bytes: clamp(i128::from(usage.bytes) + change.bytes),
        objects: clamp(i128::from(usage.objects) + i128::from(change.objects)),
    }
}

fn over(what: &str, quota: &Quota, after: Usage) -> ApplyError {
    let limit = match (quota.max_bytes, quota.max_objects) {
        (Some(b), _) if after.bytes > b => format!("{b} bytes"),
        (_, Some(o)) => format!("{o} objects"),
        _ => "its limit".to_owned(),
    };
    ApplyError::Rejected(MetaError::QuotaExceeded(format!(
        "The write would take {what} over its quota of {limit} (it would hold {} bytes in {} objects)",
        after.bytes, after.objects
    )))
}

impl Tables<'_> {
    pub(super) fn bucket_usage(&self, bucket_id: u64) -> Result<Usage, ApplyError> {
        Ok(self.usage.get(bucket_id)?.map_or_else(Usage::default, |v| {
            let (bytes, objects) = v.value();
            Usage { bytes, objects }
        }))
    }

    pub(super) fn charge(&mut self, bucket_id: u64, change: UsageChange) -> Result<(), ApplyError> {
        let after = plus(self.bucket_usage(bucket_id)?, change);
        self.usage.insert(bucket_id, (after.bytes, after.objects))?;
        Ok(())
    }

    /// Refuses a write that grows the bucket or its tenant past a quota.
    pub(super) fn admit(
        &self,
        bucket: &str,
        bucket_id: u64,
        change: UsageChange,
    ) -> Result<(), ApplyError> {
        if change.bytes <= 0 && change.objects <= 0 {
            // Shrinking is always allowed, even over quota (the way back under it).
            return Ok(());
        }
        if let Some(raw) = self
            .bucket_configs
            .get((bucket_id, ConfigKind::Quota.name()))?
        {
            let quota: Quota = records::decode(raw.value()).map_err(corrupt)?;
            let after = plus(self.bucket_usage(bucket_id)?, change);
            if !quota.admits(after) {
                return Err(over(&format!("bucket {bucket}"), &quota, after));
            }
        }
        let Some(raw) = self.buckets.get(bucket)? else {
            return Ok(());
        };
        let record: BucketRecord = records::decode(raw.value()).map_err(corrupt)?;
        drop(raw);
        let Some(tenant) = record.owner.strip_prefix("tenant/") else {
            return Ok(());
        };
        let Some(raw) = self.tenants.get(tenant)? else {
            return Ok(());
        };
        let tenant_record: TenantRecord = records::decode(raw.value()).map_err(corrupt)?;
        drop(raw);
        if tenant_record.quota.is_unlimited() {
            return Ok(());
        }
        let mut total = Usage::default();
        for entry in self.buckets.iter()? {
            let (_, raw) = entry?;
            let b: BucketRecord = records::decode(raw.value()).map_err(corrupt)?;
            if b.owner == record.owner {
                let u = self.bucket_usage(b.id)?;
                total.bytes += u.bytes;
                total.objects += u.objects;
            }
        }
        let after = plus(total, change);
        if tenant_record.quota.admits(after) {
            Ok(())
        } else {
            Err(over(
                &format!("tenant {tenant}"),
                &tenant_record.quota,
                after,
            ))
        }
    }

    /// Counts the usage of every bucket once, for a store written before usage was kept.
    pub(super) fn count_usage_once(&mut self) -> Result<(), ApplyError> {
        if self.sys.get("usage_counted")?.is_some() {
            return Ok(());
        }
        let mut counted: std::collections::BTreeMap<u64, Usage> = std::collections::BTreeMap::new();
        for entry in self.objects.iter()? {
            let (key, raw) = entry?;
            let Some((bucket_id, _)) = keys::split_object(key.value()) else {
                continue;
            };
            let record: ObjectRecord = records::decode(raw.value()).map_err(corrupt)?;
            let u = counted.entry(bucket_id).or_default();
            u.bytes += record.size;
            u.objects += 1;
        }
        for (bucket_id, u) in counted {
            self.usage.insert(bucket_id, (u.bytes, u.objects))?;
        }
        self.sys.insert("usage_counted", 1)?;
        Ok(())
    }
}
