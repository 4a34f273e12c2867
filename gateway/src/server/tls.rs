//! HTTPS: rustls with the ring provider, TLS 1.2 and 1.3 only, a certificate (and client CA)
//! that SIGHUP swaps without touching open connections, and optional client certificates
//! (mTLS).

use std::path::Path;
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::auth::client_cert::Fingerprint;
use crate::config::TlsSettings;

/// TLS 1.0 and 1.1 are deprecated (RFC 8996); every client vmgw serves speaks 1.2.
pub const VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {field} {path}: {source}")]
    Pem {
        field: &'static str,
        path: String,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("{field} {path}: {reason}")]
    Invalid {
        field: &'static str,
        path: String,
        reason: String,
    },
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn pem_error(
    field: &'static str,
    path: &Path,
) -> impl FnOnce(rustls::pki_types::pem::Error) -> TlsError {
    move |source| TlsError::Pem {
        field,
        path: path.display().to_string(),
        source,
    }
}

fn invalid(field: &'static str, path: &Path, reason: impl std::fmt::Display) -> TlsError {
    TlsError::Invalid {
        field,
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

pub(crate) fn read_certs(
    field: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(pem_error(field, path))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error(field, path))?;
    if certs.is_empty() {
        return Err(invalid(field, path, "no CERTIFICATE in the file"));
    }
    Ok(certs)
}

/// Reads the certificate chain and key, and checks that they belong together.
pub fn load_certified_key(settings: &TlsSettings) -> Result<CertifiedKey, TlsError> {
    let chain = read_certs("tls.cert_file", &settings.cert_file)?;
    let key = PrivateKeyDer::from_pem_file(&settings.key_file)
        .map_err(pem_error("tls.key_file", &settings.key_file))?;
    // Also parses the end-entity certificate: one rustls cannot read is refused here rather
    // than failing every handshake.
    CertifiedKey::from_der(chain, key, &provider()).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => invalid(
            "tls.key_file",
            &settings.key_file,
            "not the key of the certificate in tls.cert_file",
        ),
        other => invalid("tls.cert_file", &settings.cert_file, other),
    })
}

/// Hands every new handshake the current certificate. Connections keep the one they
/// started with: rustls resolves the certificate once, during the handshake.
#[derive(Debug)]
pub struct ReloadableCert {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadableCert {
    fn new(key: CertifiedKey) -> Self {
        Self {
            current: RwLock::new(Arc::new(key)),
        }
    }

    fn swap(&self, key: CertifiedKey) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(key);
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ))
    }
}

/// The TLS side of the HTTPS listeners. Cheap to clone: every clone sees reloads.
#[derive(Debug, Clone)]
pub struct Tls {
    settings: Arc<TlsSettings>,
    cert: Arc<ReloadableCert>,
    /// Rebuilt by a reload when the client CA is reread; each handshake takes the current
    /// one, open connections keep theirs.
    config: Arc<RwLock<Arc<ServerConfig>>>,
}

impl Tls {
    pub fn load(settings: &TlsSettings) -> Result<Self, TlsError> {
        let cert = Arc::new(ReloadableCert::new(load_certified_key(settings)?));
        let config = server_config(settings, &cert)?;
        Ok(Self {
            settings: Arc::new(settings.clone()),
            cert,
            config: Arc::new(RwLock::new(Arc::new(config))),
        })
    }

    /// Reads the certificate, key and client CA files again; new handshakes use them from
    /// now on. On an error nothing changes: the files are all read and checked before any
    /// is taken.
    pub fn reload(&self) -> Result<(), TlsError> {
        let key = load_certified_key(&self.settings)?;
        let config = server_config(&self.settings, &self.cert)?;
        self.cert.swap(key);
        *self
            .config
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(config);
        Ok(())
    }

    /// Whether client certificates are checked against a CA (which a reload rereads too).
    #[must_use]
    pub fn has_client_ca(&self) -> bool {
        self.settings.client_ca_file.is_some()
    }

    /// An acceptor for one new connection, with the configuration current now.
    #[must_use]
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(Arc::clone(
            &self
                .config
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ))
    }
}

/// A server configuration serving `cert`'s current certificate, checking client
/// certificates against the client CA file when there is one.
fn server_config(
    settings: &TlsSettings,
    cert: &Arc<ReloadableCert>,
) -> Result<ServerConfig, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(|e| invalid("tls", &settings.cert_file, e))?;
    let builder = match &settings.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for ca in read_certs("tls.client_ca_file", path)? {
                roots
                    .add(ca)
                    .map_err(|e| invalid("tls.client_ca_file", path, e))?;
            }
            let mut verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
            if !settings.require_client_cert {
                // Clients without a certificate sign their requests as usual.
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier
                .build()
                .map_err(|e| invalid("tls.client_ca_file", path, e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(Arc::clone(cert) as Arc<dyn ResolvesServerCert>);
    // The server speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The verified client certificate of a TLS connection (its end-entity certificate).
#[must_use]
pub fn client_cert<IO>(stream: &tokio_rustls::server::TlsStream<IO>) -> Option<Fingerprint> {
    let (_, session) = stream.get_ref();
    session
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|cert| Fingerprint::of_der(cert))
}
