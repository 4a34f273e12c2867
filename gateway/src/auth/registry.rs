//! The keys the gateway accepts signatures from and whom each belongs to.
//!
//! s3s asks [`Registry`] for the secret of every signed request, so lookups are an
//! in-memory map; the tenant service keeps it equal to the metadata store (it changes the
//! store first, then the map).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Error, S3ErrorCode, S3Result};

use super::Principal;
use super::client_cert::Fingerprint;
use crate::config::CredentialConfig;

struct TenantKey {
    tenant: String,
    secret: SecretKey,
}

pub struct Registry {
    admin: HashMap<String, SecretKey>,
    tenants: RwLock<HashMap<String, TenantKey>>,
    /// Client certificate → the tenant it acts as.
    certs: RwLock<HashMap<Fingerprint, String>>,
}

impl Registry {
    #[must_use]
    pub fn new(admin: &[CredentialConfig]) -> Self {
        Self {
            admin: admin
                .iter()
                .map(|p| (p.access_key.clone(), SecretKey::from(p.secret_key.clone())))
                .collect(),
            tenants: RwLock::new(HashMap::new()),
            certs: RwLock::new(HashMap::new()),
        }
    }

    /// Who signs with `access_key` (an unknown key never gets this far: s3s refused it).
    #[must_use]
    pub fn principal(&self, access_key: &str) -> Principal {
        if self.admin.contains_key(access_key) {
            return Principal::Admin;
        }
        match self.tenants.read().expect("registry lock").get(access_key) {
            Some(key) => Principal::Tenant(key.tenant.clone()),
            None => Principal::Anonymous,
        }
    }

    /// Whether `access_key` is taken, by the admin or by any tenant.
    #[must_use]
    pub fn is_known(&self, access_key: &str) -> bool {
        self.admin.contains_key(access_key)
            || self
                .tenants
                .read()
                .expect("registry lock")
                .contains_key(access_key)
    }

    /// Makes `keys` (access key, secret) the keys of `tenant`, replacing the ones it had.
    pub fn set_tenant_keys(&self, tenant: &str, keys: Vec<(String, String)>) {
        let mut map = self.tenants.write().expect("registry lock");
        map.retain(|_, k| k.tenant != tenant);
        for (access_key, secret) in keys {
            map.insert(
                access_key,
                TenantKey {
                    tenant: tenant.to_owned(),
                    secret: SecretKey::from(secret),
                },
            );
        }
    }

    pub fn remove_tenant(&self, tenant: &str) {
        self.tenants
            .write()
            .expect("registry lock")
            .retain(|_, k| k.tenant != tenant);
        self.set_tenant_certs(tenant, &[]);
    }

    /// Makes `certs` the client certificates that act as `tenant`.
    pub fn set_tenant_certs(&self, tenant: &str, certs: &[Fingerprint]) {
        let mut map = self.certs.write().expect("registry lock");
        map.retain(|_, t| t != tenant);
        for cert in certs {
            map.insert(*cert, tenant.to_owned());
        }
    }

    /// The tenant a client certificate acts as.
    #[must_use]
    pub fn cert_tenant(&self, cert: &Fingerprint) -> Option<String> {
        self.certs.read().expect("registry lock").get(cert).cloned()
    }
}

impl Registry {
    /// The secret of `access_key`, for checking a signature.
    pub fn secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if let Some(secret) = self.admin.get(access_key) {
            return Ok(secret.clone());
        }
        if let Some(key) = self.tenants.read().expect("registry lock").get(access_key) {
            return Ok(key.secret.clone());
        }
        Err(S3Error::with_message(
            S3ErrorCode::InvalidAccessKeyId,
            "The AWS Access Key Id you provided does not exist in our records.",
        ))
    }
}

/// The registry as s3s's signature checker (s3s owns its auth provider; the gateway shares
/// the registry with the access hook and the tenant service).
pub struct Authenticator(pub Arc<Registry>);

#[async_trait::async_trait]
impl S3Auth for Authenticator {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        self.0.secret_key(access_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_keys_are_replaced_and_removed() {
        let registry = Registry::new(&[CredentialConfig {
            access_key: "ADMIN".into(),
            secret_key: "admin-secret".into(),
        }]);
        assert_eq!(registry.principal("ADMIN"), Principal::Admin);
        registry.set_tenant_keys("web01", vec![("K1".into(), "secret-1".into())]);
        assert_eq!(registry.principal("K1"), Principal::Tenant("web01".into()));
        assert_eq!(registry.secret_key("K1").unwrap().expose(), "secret-1");
        registry.set_tenant_keys("web01", vec![("K2".into(), "secret-2".into())]);
        assert!(registry.secret_key("K1").is_err());
        assert!(registry.is_known("K2") && !registry.is_known("K1"));
        let cert = Fingerprint([7; 32]);
        registry.set_tenant_certs("web01", &[cert]);
        assert_eq!(registry.cert_tenant(&cert).as_deref(), Some("web01"));
        registry.remove_tenant("web01");
        assert_eq!(registry.cert_tenant(&cert), None);
        assert!(registry.secret_key("K2").is_err());
        assert_eq!(registry.principal("K2"), Principal::Anonymous);
    }
}
