//! The identity a request acts as, and which buckets that identity owns.

use crate::meta::tenant_owner;

/// Who signed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The gateway's own key pairs: every bucket, every operation.
    Admin,
    /// A tenant, by name: its own buckets only.
    Tenant(String),
    /// An unsigned request.
    Anonymous,
}

/// What bucket records store as the admin's owner tag.
const ADMIN_OWNER: &str = "admin";

impl Principal {
    /// The owner tag a bucket this principal creates is recorded with.
    #[must_use]
    pub fn owner_tag(&self) -> String {
        match self {
            Self::Admin => ADMIN_OWNER.to_owned(),
            Self::Tenant(name) => tenant_owner(name),
            Self::Anonymous => "anonymous".to_owned(),
        }
    }

    /// The owner of a bucket recorded with `owner`: a tenant's tag, else the admin (bucket
    /// records older than tenants hold the admin's access key).
    #[must_use]
    pub fn owning(owner: &str) -> Self {
        match owner.strip_prefix("tenant/") {
            Some(name) => Self::Tenant(name.to_owned()),
            None => Self::Admin,
        }
    }

    /// Whether this principal may act on a bucket recorded with `owner`.
    #[must_use]
    pub fn may_use(&self, owner: &str) -> bool {
        match self {
            Self::Admin => true,
            Self::Tenant(_) => Self::owning(owner) == *self,
            Self::Anonymous => false,
        }
    }

    /// The owner id S3 responses report.
    #[must_use]
    pub fn display_name(&self) -> String {
        match self {
            Self::Admin => ADMIN_OWNER.to_owned(),
            Self::Tenant(name) => name.clone(),
            Self::Anonymous => "anonymous".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_use_only_their_own_buckets_and_the_admin_every_bucket() {
        let alice = Principal::Tenant("alice".into());
        let bob = Principal::Tenant("bob".into());
        let alices = alice.owner_tag();
        assert!(alice.may_use(&alices));
        assert!(!bob.may_use(&alices));
        assert!(Principal::Admin.may_use(&alices));
        // A record older than tenants holds the admin's access key.
        assert!(!alice.may_use("VMGWABCDEF"));
        assert!(Principal::Admin.may_use("VMGWABCDEF"));
        assert_eq!(Principal::owning("VMGWABCDEF"), Principal::Admin);
        assert!(!Principal::Anonymous.may_use(&alices));
        // A tenant named like a prefix of another is still another tenant.
        assert!(!Principal::Tenant("ali".into()).may_use(&alices));
    }
}
