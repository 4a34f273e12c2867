//! Usage accounting and quotas, inside the commits that change objects.
//!
//! Every write that adds, replaces or removes a version holding data (current or not: S3
//! bills noncurrent versions too; delete markers hold nothing) changes its bucket's usage
//! row in the same transaction, so usage is exact after any crash (a commit is all or
//! nothing). Quotas are checked there too, against usage that includes every write committed
//! before in the same serial order: racing uploads can never together pass a quota.

use redb::ReadableTable;

use super::apply::{ApplyError, Tables};
use super::records::{self, BucketRecord, ObjectRecord, Quota, TenantRecord, Usage};
use super::{ConfigKind, MetaError, keys};

/// How a write changes a bucket's usage.
#[derive(Debug, Clone, Copy)]
pub struct UsageChange {
    pub bytes: i128,
    pub objects: i64,
}

impl UsageChange {
    /// `new` counts from now on.
    pub(super) fn added(new: &ObjectRecord) -> Self {
        Self {
            bytes: i128::from(new.size),
            objects: 1,
        }
    }

    /// `old` no longer counts.
    pub(super) fn removed(old: &ObjectRecord) -> Self {
        Self {
            bytes: -i128::from(old.size),
            objects: -1,
        }
    }
}

fn corrupt(e: impl std::fmt::Display) -> MetaError {
    MetaError::Corrupt(e.to_string())
}

fn storage(e: impl std::fmt::Display) -> MetaError {
    MetaError::Storage(e.to_string())
}

fn plus(usage: Usage, change: UsageChange) -> Usage {
    let clamp = |v: i128| u64::try_from(v.max(0)).unwrap_or(u64::MAX);
    Usage {
        bytes: clamp(i128::from(usage.bytes) + change.bytes),
        objects: clamp(i128::from(usage.objects) + i128::from(change.objects)),
    }
}

fn over(what: &str, quota: &Quota, after: Usage) -> MetaError {
    let limit = match (quota.max_bytes, quota.max_objects) {
        (Some(b), _) if after.bytes > b => format!("{b} bytes"),
        (_, Some(o)) => format!("{o} objects"),
        _ => "its limit".to_owned(),
    };
    MetaError::QuotaExceeded(format!(
        "The write would take {what} over its quota of {limit} (it would hold {} bytes in {} objects)",
        after.bytes, after.objects
    ))
}

/// The tables a quota decision reads: the same for the commit (write transaction) and for the
/// early look before a body is received (read transaction).
pub(super) struct QuotaView<'a, B, T, U, C> {
    pub buckets: &'a B,
    pub tenants: &'a T,
    pub usage: &'a U,
    pub configs: &'a C,
}

impl<B, T, U, C> QuotaView<'_, B, T, U, C>
where
    B: ReadableTable<&'static str, &'static [u8]>,
    T: ReadableTable<&'static str, &'static [u8]>,
    U: ReadableTable<u64, (u64, u64)>,
    C: ReadableTable<(u64, &'static str), &'static [u8]>,
{
    pub(super) fn bucket_usage(&self, bucket_id: u64) -> Result<Usage, MetaError> {
        Ok(self
            .usage
            .get(bucket_id)
            .map_err(storage)?
            .map_or_else(Usage::default, |v| {
                let (bytes, objects) = v.value();
                Usage { bytes, objects }
            }))
    }

    /// Refuses (`QuotaExceeded`) a write that grows the bucket or its tenant past a quota.
    pub(super) fn admit(
        &self,
        bucket: &str,
        bucket_id: u64,
        change: UsageChange,
    ) -> Result<(), MetaError> {
        if change.bytes <= 0 && change.objects <= 0 {
            // Shrinking is always allowed, even over quota (the way back under it).
            return Ok(());
        }
        if let Some(raw) = self
            .configs
            .get((bucket_id, ConfigKind::Quota.name()))
            .map_err(storage)?
        {
            let quota: Quota = records::decode(raw.value()).map_err(corrupt)?;
            let after = plus(self.bucket_usage(bucket_id)?, change);
            if !quota.admits(after) {
                return Err(over(&format!("bucket {bucket}"), &quota, after));
            }
        }
        let Some(raw) = self.buckets.get(bucket).map_err(storage)? else {
            return Ok(());
        };
        let record: BucketRecord = records::decode(raw.value()).map_err(corrupt)?;
        drop(raw);
        let Some(tenant) = record.owner.strip_prefix("tenant/") else {
            return Ok(());
        };
        let Some(raw) = self.tenants.get(tenant).map_err(storage)? else {
            return Ok(());
        };
        let tenant_record: TenantRecord = records::decode(raw.value()).map_err(corrupt)?;
        drop(raw);
        if tenant_record.quota.is_unlimited() {
            return Ok(());
        }
        let mut total = Usage::default();
        for entry in self.buckets.iter().map_err(storage)? {
            let (_, raw) = entry.map_err(storage)?;
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
}

type ByName<'t> = redb::Table<'t, &'static str, &'static [u8]>;
/// The quota view of a write transaction's tables.
type CommitView<'a, 't> = QuotaView<
    'a,
    ByName<'t>,
    ByName<'t>,
    redb::Table<'t, u64, (u64, u64)>,
    redb::Table<'t, (u64, &'static str), &'static [u8]>,
>;

impl<'t> Tables<'t> {
    fn quota_view(&self) -> CommitView<'_, 't> {
        QuotaView {
            buckets: &self.buckets,
            tenants: &self.tenants,
            usage: &self.usage,
            configs: &self.bucket_configs,
        }
    }

    pub(super) fn charge(&mut self, bucket_id: u64, change: UsageChange) -> Result<(), ApplyError> {
        let after = plus(
            self.quota_view()
                .bucket_usage(bucket_id)
                .map_err(ApplyError::Fatal)?,
            change,
        );
        self.usage.insert(bucket_id, (after.bytes, after.objects))?;
        Ok(())
    }

    /// The commit's quota check: a refusal rejects this op only; a storage error, the batch.
    pub(super) fn admit(
        &self,
        bucket: &str,
        bucket_id: u64,
        change: UsageChange,
    ) -> Result<(), ApplyError> {
        self.quota_view()
            .admit(bucket, bucket_id, change)
            .map_err(|e| match e {
                e @ MetaError::QuotaExceeded(_) => ApplyError::Rejected(e),
                e => ApplyError::Fatal(e),
            })
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
            let record: ObjectRecord =
                records::decode(raw.value()).map_err(|e| ApplyError::Fatal(corrupt(e)))?;
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
