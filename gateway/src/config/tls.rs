//! `[tls]`: HTTPS on every TCP listener, and optionally client certificates (mTLS).

use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, invalid};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM: the server certificate first, then any intermediates.
    pub cert_file: PathBuf,
    /// PEM: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// PEM: the CAs whose client certificates are accepted; a certificate from another CA
    /// fails the handshake.
    pub client_ca_file: Option<PathBuf>,
    /// With `client_ca_file`: whether a client must present a certificate (default), or may
    /// connect without one and sign its requests.
    #[serde(default = "yes")]
    pub require_client_cert: bool,
}

fn yes() -> bool {
    true
}

/// `[tls]`, resolved: the files exist when the gateway reads them, at start and on SIGHUP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client_ca_file: Option<PathBuf>,
    pub require_client_cert: bool,
}

pub(super) fn resolve(config: Option<TlsConfig>) -> Result<Option<TlsSettings>, ConfigError> {
    let Some(config) = config else {
        return Ok(None);
    };
    for (field, path) in [
        ("tls.cert_file", Some(&config.cert_file)),
        ("tls.key_file", Some(&config.key_file)),
        ("tls.client_ca_file", config.client_ca_file.as_ref()),
    ] {
        if path.is_some_and(|p| p.as_os_str().is_empty()) {
            return Err(invalid(field, "", "must not be empty"));
        }
    }
    Ok(Some(TlsSettings {
        cert_file: config.cert_file,
        key_file: config.key_file,
        client_ca_file: config.client_ca_file,
        require_client_cert: config.require_client_cert,
    }))
}
