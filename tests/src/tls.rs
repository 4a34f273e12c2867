//! HTTPS helpers: certificates made by `vmgw cert self-signed`, test CAs and client
//! certificates (rcgen), and a rustls client that shows which certificate was served.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Runs `vmgw cert self-signed --out dir` for localhost and 127.0.0.1; returns the paths of
/// `cert.pem` and `key.pem`.
#[must_use]
pub fn vmgw_self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let out = crate::run(
        std::process::Command::new(crate::vmgw_bin())
            .args(["cert", "self-signed", "--out"])
            .arg(dir)
            .args(["--name", "localhost", "--ip", "127.0.0.1"]),
    );
    let paths: Vec<&str> = out.lines().collect();
    assert_eq!(paths.len(), 2, "vmgw cert self-signed printed {out:?}");
    (PathBuf::from(paths[0]), PathBuf::from(paths[1]))
}

/// The certificates of a PEM file, in order.
#[must_use]
pub fn pem_certs(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A client certificate chain and its key.
pub type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// A CA that signs client certificates.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pub cert_pem: String,
}

impl TestCa {
    #[must_use]
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A client certificate for `name`, signed by this CA.
    #[must_use]
    pub fn client(&self, name: &str) -> Identity {
        self.client_with_pem(name).0
    }

    /// A client certificate for `name` written as `dir/NAME.pem` and its key as
    /// `dir/NAME-key.pem`, for clients that read files.
    #[must_use]
    pub fn client_files(&self, name: &str, dir: &Path) -> (Identity, PathBuf, PathBuf) {
        let (identity, cert_pem, key_pem) = self.client_with_pem(name);
        let cert = dir.join(format!("{name}.pem"));
        let key = dir.join(format!("{name}-key.pem"));
        std::fs::write(&cert, cert_pem).expect("write the client certificate");
        std::fs::write(&key, key_pem).expect("write the client key");
        (identity, cert, key)
    }

    fn client_with_pem(&self, name: &str) -> (Identity, String, String) {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("client key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("client certificate");
        (
            (
                vec![cert.der().clone()],
                PrivateKeyDer::try_from(key.serialize_der()).expect("client key DER"),
            ),
            cert.pem(),
            key.serialize_pem(),
        )
    }
}

/// A rustls client (ring, TLS 1.2 and 1.3) trusting `roots`, presenting `identity` if any.
#[must_use]
pub fn client_config(
    roots: &[CertificateDer<'static>],
    identity: Option<Identity>,
) -> Arc<rustls::ClientConfig> {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).expect("trust anchor");
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(store);
    let config = match identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .expect("client certificate"),
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

/// Connects to `addr` (`127.0.0.1:PORT`) and completes the handshake, checking the server's
/// certificate for the address.
pub async fn connect(
    config: &Arc<rustls::ClientConfig>,
    addr: &str,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let ip: IpAddr = addr
        .rsplit_once(':')
        .and_then(|(ip, _)| ip.parse().ok())
        .expect("addr is IP:PORT");
    TlsConnector::from(Arc::clone(config))
        .connect(ServerName::IpAddress(ip.into()), tcp)
        .await
}

/// The end-entity certificate the server presented on `stream`.
#[must_use]
pub fn served_cert(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .expect("the server presented a certificate")
        .clone()
        .into_owned()
}
