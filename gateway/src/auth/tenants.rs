//! Tenants: create (with a key and, usually, a bucket), list, rotate keys, remove.
//!
//! Every change goes to the metadata store first and to the in-memory [`Registry`] after it
//! committed, so a key the gateway accepts always exists in the store and survives a
//! restart.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::client_cert::Fingerprint;
use super::qos::Qos;
use super::sealer::{SealError, SecretSealer};
use super::{Principal, Registry};
use crate::credentials::{generate_pair, validate_pair};
use crate::meta::{
    ConfigKind, MetaError, MetaStore, Quota, RateLimits, TenantKey, TenantRecord, Usage,
    VersionQuery, WriteOp, tenant_owner,
};
use crate::objects::{ObjectError, ObjectService, now_ms};

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error(
        "invalid tenant name {0:?}: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
    )]
    InvalidName(String),
    #[error(
        "invalid bucket name {0:?} (3 to 63 lowercase letters, digits, '.' and '-'); choose one with --bucket"
    )]
    InvalidBucketName(String),
    #[error("a tenant named {0:?} already exists")]
    Exists(String),
    #[error("no tenant is named {0:?}")]
    NotFound(String),
    #[error("bucket {0:?} already exists")]
    BucketTaken(String),
    #[error("client certificate {cert} already acts as tenant {tenant:?}")]
    CertTaken { cert: Fingerprint, tenant: String },
    #[error("client certificate {cert} does not act as tenant {tenant:?}")]
    CertNotBound { cert: Fingerprint, tenant: String },
    #[error("tenant {tenant:?} still has data in bucket(s) {buckets}; empty them or use --purge")]
    HoldsData { tenant: String, buckets: String },
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error("metadata: {0}")]
    Meta(#[from] MetaError),
    #[error("{0}")]
    Objects(#[from] ObjectError),
}

/// A key pair as handed to a guest (the only time the secret leaves the gateway).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedKey {
    pub access_key: String,
    pub secret_key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantSummary {
    pub name: String,
    pub created_ms: i64,
    pub access_keys: Vec<String>,
    pub buckets: Vec<BucketSummary>,
    pub quota: Quota,
    /// All its buckets together.
    pub usage: Usage,
    pub limits: RateLimits,
    /// Fingerprints of the client certificates that act as the tenant.
    #[serde(default)]
    pub client_certs: Vec<Fingerprint>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BucketSummary {
    pub name: String,
    pub quota: Quota,
    pub usage: Usage,
}

/// What removing a tenant took away.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Removal {
    pub buckets: Vec<String>,
    pub objects: u64,
}

pub struct Tenants {
    meta: Arc<dyn MetaStore>,
    objects: Arc<ObjectService>,
    registry: Arc<Registry>,
    qos: Arc<Qos>,
    sealer: SecretSealer,
    region: String,
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Tenants {
    /// Loads every tenant's keys into `registry`.
    pub fn open(
        meta: Arc<dyn MetaStore>,
        objects: Arc<ObjectService>,
        registry: Arc<Registry>,
        qos: Arc<Qos>,
        sealer: SecretSealer,
        region: String,
    ) -> Result<Self, TenantError> {
        for tenant in meta.tenants()? {
            qos.set(&tenant.name, tenant.limits);
            let mut keys = Vec::with_capacity(tenant.keys.len());
            for key in &tenant.keys {
                let secret = sealer.open(&key.access_key, &key.sealed_secret)?;
                keys.push((key.access_key.clone(), secret));
            }
            registry.set_tenant_keys(&tenant.name, keys);
            registry.set_tenant_certs(&tenant.name, &tenant.client_certs);
        }
        Ok(Self {
            meta,
            objects,
            registry,
            qos,
            sealer,
            region,
        })
    }

    fn new_key(&self) -> Result<(IssuedKey, TenantKey), TenantError> {
        let pair = loop {
            let pair = generate_pair();
            // 20 random characters never collide in practice; the check makes it never.
            if !self.registry.is_known(&pair.access_key) {
                break pair;
            }
        };
        debug_assert!(validate_pair(&pair.access_key, &pair.secret_key).is_ok());
        let stored = TenantKey {
            access_key: pair.access_key.clone(),
            sealed_secret: self.sealer.seal(&pair.access_key, &pair.secret_key)?,
            created_ms: now_ms(),
        };
        Ok((
            IssuedKey {
                access_key: pair.access_key,
                secret_key: pair.secret_key,
            },
            stored,
        ))
    }

    /// Creates tenant `name` with one key and, with `bucket`, a bucket it owns. When the
    /// bucket cannot be created the tenant is removed again: all or nothing.
    pub async fn add(
        &self,
        name: &str,
        bucket: Option<&str>,
        quota: Quota,
        limits: RateLimits,
        client_certs: &[Fingerprint],
    ) -> Result<IssuedKey, TenantError> {
        if !valid_name(name) {
            return Err(TenantError::InvalidName(name.to_owned()));
        }
        for cert in client_certs {
            self.check_cert_free(name, cert)?;
        }
        if let Some(bucket) = bucket {
            if !crate::s3::valid_bucket_name(bucket) {
                return Err(TenantError::InvalidBucketName(bucket.to_owned()));
            }
            if self.meta.bucket(bucket)?.is_some() {
                return Err(TenantError::BucketTaken(bucket.to_owned()));
            }
        }
        let (issued, stored) = self.new_key()?;
        let record = TenantRecord {
            name: name.to_owned(),
            created_ms: now_ms(),
            keys: vec![stored],
            quota,
            limits,
            client_certs: client_certs.to_vec(),
        };
        match self
            .meta
            .apply(WriteOp::PutTenant {
                record,
                create: true,
            })
            .await
        {
            Ok(_) => {}
            Err(MetaError::TenantExists) => return Err(TenantError::Exists(name.to_owned())),
            Err(e) => return Err(e.into()),
        }
        if let Some(bucket) = bucket {
            let owner = tenant_owner(name);
            if let Err(e) = self
                .objects
                .create_bucket(bucket, &self.region, &owner)
                .await
            {
                let _ = self
                    .meta
                    .apply(WriteOp::DeleteTenant {
                        name: name.to_owned(),
                    })
                    .await;
                return Err(match e {
                    ObjectError::BucketAlreadyExists(b)
                    | ObjectError::BucketAlreadyOwnedByYou(b) => TenantError::BucketTaken(b),
                    other => other.into(),
                });
            }
        }
        self.qos.set(name, limits);
        self.registry.set_tenant_keys(
            name,
            vec![(issued.access_key.clone(), issued.secret_key.clone())],
        );
        self.registry.set_tenant_certs(name, client_certs);
        tracing::info!(tenant = name, access_key = %issued.access_key, "tenant created");
        Ok(issued)
    }

    pub fn list(&self) -> Result<Vec<TenantSummary>, TenantError> {
        let buckets = self.meta.buckets()?;
        let mut out = Vec::new();
        for t in self.meta.tenants()? {
            let me = Principal::Tenant(t.name.clone());
            let mut owned = Vec::new();
            let mut usage = Usage::default();
            for b in buckets.iter().filter(|b| Principal::owning(&b.owner) == me) {
                let u = self.meta.usage(b.id)?;
                usage.bytes += u.bytes;
                usage.objects += u.objects;
                owned.push(BucketSummary {
                    name: b.name.clone(),
                    quota: self.bucket_quota(b.id)?,
                    usage: u,
                });
            }
            out.push(TenantSummary {
                access_keys: t.keys.iter().map(|k| k.access_key.clone()).collect(),
                created_ms: t.created_ms,
                buckets: owned,
                quota: t.quota,
                usage,
                limits: t.limits,
                client_certs: t.client_certs,
                name: t.name,
            });
        }
        Ok(out)
    }

    fn bucket_quota(&self, bucket_id: u64) -> Result<Quota, TenantError> {
        Ok(
            match self.meta.bucket_config(bucket_id, ConfigKind::Quota)? {
                Some(raw) => rmp_serde::from_slice(&raw)
                    .map_err(|e| MetaError::Corrupt(format!("bucket quota: {e}")))?,
                None => Quota::default(),
            },
        )
    }

    /// Replaces a tenant's quota. Lowering it under the current usage refuses further
    /// growth; nothing stored is removed.
    pub async fn set_quota(&self, name: &str, quota: Quota) -> Result<(), TenantError> {
        let mut record = self.record(name)?;
        record.quota = quota;
        self.replace_record(record).await
    }

    /// A certificate may act as one tenant only. Checked against the registry, which holds
    /// every stored binding; admin changes are rare and come from one operator, so two
    /// racing bindings of one certificate are not guarded against beyond this.
    fn check_cert_free(&self, name: &str, cert: &Fingerprint) -> Result<(), TenantError> {
        match self.registry.cert_tenant(cert) {
            Some(tenant) if tenant != name => Err(TenantError::CertTaken {
                cert: *cert,
                tenant,
            }),
            _ => Ok(()),
        }
    }

    /// Lets the client certificate `cert` act as tenant `name` (`allow`), or stops it.
    pub async fn set_cert(
        &self,
        name: &str,
        cert: Fingerprint,
        allow: bool,
    ) -> Result<(), TenantError> {
        if allow {
            self.check_cert_free(name, &cert)?;
        }
        let mut record = self.record(name)?;
        if !allow && !record.client_certs.contains(&cert) {
            return Err(TenantError::CertNotBound {
                cert,
                tenant: name.to_owned(),
            });
        }
        record.client_certs.retain(|c| *c != cert);
        if allow {
            record.client_certs.push(cert);
        }
        let certs = record.client_certs.clone();
        self.replace_record(record).await?;
        self.registry.set_tenant_certs(name, &certs);
        tracing::info!(tenant = name, %cert, allow, "client certificate binding changed");
        Ok(())
    }

    /// Replaces a tenant's request-rate and bandwidth limits; they apply at once.
    pub async fn set_limits(&self, name: &str, limits: RateLimits) -> Result<(), TenantError> {
        let mut record = self.record(name)?;
        record.limits = limits;
        self.replace_record(record).await?;
        self.qos.set(name, limits);
        Ok(())
    }

    pub async fn set_bucket_quota(&self, bucket: &str, quota: Quota) -> Result<(), TenantError> {
        let record = self
            .meta
            .bucket(bucket)?
            .ok_or(TenantError::Objects(ObjectError::NoSuchBucket))?;
        let value = (!quota.is_unlimited()).then(|| crate::meta::records::encode(&quota));
        self.meta
            .apply(WriteOp::SetBucketConfig {
                bucket: record.name,
                bucket_id: record.id,
                kind: ConfigKind::Quota,
                value,
            })
            .await?;
        Ok(())
    }

    /// Writes a changed record of an existing tenant.
    async fn replace_record(&self, record: TenantRecord) -> Result<(), TenantError> {
        let name = record.name.clone();
        match self
            .meta
            .apply(WriteOp::PutTenant {
                record,
                create: false,
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(MetaError::NoSuchTenant) => Err(TenantError::NotFound(name)),
            Err(e) => Err(e.into()),
        }
    }

    fn record(&self, name: &str) -> Result<TenantRecord, TenantError> {
        self.meta
            .tenant(name)?
            .ok_or_else(|| TenantError::NotFound(name.to_owned()))
    }

    /// The buckets `name` owns.
    pub fn buckets_of(&self, name: &str) -> Result<Vec<String>, TenantError> {
        let me = Principal::Tenant(name.to_owned());
        Ok(self
            .meta
            .buckets()?
            .into_iter()
            .filter(|b| Principal::owning(&b.owner) == me)
            .map(|b| b.name)
            .collect())
    }

    /// Replaces every key of the tenant with one new key: the old keys stop working at once.
    pub async fn rotate(&self, name: &str) -> Result<IssuedKey, TenantError> {
        let mut record = self.record(name)?;
        let (issued, stored) = self.new_key()?;
        record.keys = vec![stored];
        self.replace_record(record).await?;
        self.registry.set_tenant_keys(
            name,
            vec![(issued.access_key.clone(), issued.secret_key.clone())],
        );
        tracing::info!(tenant = name, access_key = %issued.access_key, "tenant key rotated");
        Ok(issued)
    }

    /// Removes the tenant and its buckets. Buckets holding objects are refused unless
    /// `purge`, which deletes their objects first.
    pub async fn remove(&self, name: &str, purge: bool) -> Result<Removal, TenantError> {
        self.record(name)?;
        let buckets = self.buckets_of(name)?;
        if !purge {
            let mut holding = Vec::new();
            for bucket in &buckets {
                if self.holds_objects(bucket)? {
                    holding.push(bucket.clone());
                }
            }
            if !holding.is_empty() {
                return Err(TenantError::HoldsData {
                    tenant: name.to_owned(),
                    buckets: holding.join(", "),
                });
            }
        }
        // The keys go first: nothing new is written while the buckets are emptied.
        self.registry.remove_tenant(name);
        self.qos.remove(name);
        let mut removal = Removal::default();
        for bucket in buckets {
            removal.objects += self.empty_bucket(&bucket).await?;
            match self.objects.delete_bucket(&bucket).await {
                Ok(()) | Err(ObjectError::NoSuchBucket) => removal.buckets.push(bucket),
                Err(e) => return Err(e.into()),
            }
        }
        match self
            .meta
            .apply(WriteOp::DeleteTenant {
                name: name.to_owned(),
            })
            .await
        {
            Ok(_) | Err(MetaError::NoSuchTenant) => {}
            Err(e) => return Err(e.into()),
        }
        tracing::info!(
            tenant = name,
            buckets = removal.buckets.len(),
            objects = removal.objects,
            "tenant removed"
        );
        Ok(removal)
    }

    /// Whether the bucket holds any version (or delete marker, which keeps a bucket alive
    /// as well).
    fn holds_objects(&self, bucket: &str) -> Result<bool, TenantError> {
        let page = self.objects.list_versions(
            bucket,
            VersionQuery {
                max_keys: 1,
                ..VersionQuery::default()
            },
        )?;
        Ok(!page.entries.is_empty())
    }

    /// Deletes every version of every object of the bucket; returns how many held data.
    async fn empty_bucket(&self, bucket: &str) -> Result<u64, TenantError> {
        Ok(self.objects.purge_versions(bucket).await?)
    }
}
