//! Applying tenant writes: records keyed by tenant name, validated in the same commit as
//! the buckets they own, so "a tenant with buckets cannot be removed" and "a bucket's owner
//! exists" hold whatever runs concurrently.

use redb::ReadableTable;

use super::apply::{ApplyError, Tables};
use super::records::{self, BucketRecord, TenantRecord};
use super::{MetaError, WriteOutcome};

/// The owner tag of a tenant's buckets (see [`BucketRecord::owner`]).
#[must_use]
pub fn tenant_owner(name: &str) -> String {
    format!("tenant/{name}")
}

impl Tables<'_> {
    pub(super) fn put_tenant(
        &mut self,
        record: &TenantRecord,
        create: bool,
    ) -> Result<WriteOutcome, ApplyError> {
        let exists = self.tenants.get(record.name.as_str())?.is_some();
        match (create, exists) {
            (true, true) => return Err(ApplyError::Rejected(MetaError::TenantExists)),
            (false, false) => return Err(ApplyError::Rejected(MetaError::NoSuchTenant)),
            _ => {}
        }
        self.tenants
            .insert(record.name.as_str(), records::encode(record).as_slice())?;
        Ok(WriteOutcome::Done)
    }

    pub(super) fn delete_tenant(&mut self, name: &str) -> Result<WriteOutcome, ApplyError> {
        if self.tenants.get(name)?.is_none() {
            return Err(ApplyError::Rejected(MetaError::NoSuchTenant));
        }
        let owner = tenant_owner(name);
        let mut owned = Vec::new();
        for entry in self.buckets.iter()? {
            let (_, raw) = entry?;
            let bucket: BucketRecord = records::decode(raw.value())
                .map_err(|e| ApplyError::Fatal(MetaError::Corrupt(e.to_string())))?;
            if bucket.owner == owner {
                owned.push(bucket.name);
            }
        }
        if !owned.is_empty() {
            return Err(ApplyError::Rejected(MetaError::TenantOwnsBuckets(
                owned.join(", "),
            )));
        }
        self.tenants.remove(name)?;
        Ok(WriteOutcome::Done)
    }

    /// A bucket's owner must be the admin or an existing tenant.
    pub(super) fn require_owner(&self, owner: &str) -> Result<(), ApplyError> {
        match owner.strip_prefix("tenant/") {
            Some(name) if self.tenants.get(name)?.is_none() => {
                Err(ApplyError::Rejected(MetaError::NoSuchTenant))
            }
            _ => Ok(()),
        }
    }
}
