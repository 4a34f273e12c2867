//! `vmgw cert self-signed`: a certificate and key for HTTPS without a CA. Clients trust the
//! certificate itself (aws-cli `--ca-bundle`, rclone `--ca-cert`, curl `--cacert`).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
    SerialNumber,
};

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("cannot make the certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Apple's limit for TLS server certificates; other clients accept it too.
const VALID_DAYS: i64 = 825;

/// A certificate and its key, both PEM.
#[derive(Debug)]
pub struct SelfSigned {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A self-signed ECDSA P-256 server certificate for `names` and `ips`; with neither, for
/// `localhost`, 127.0.0.1 and ::1.
pub fn self_signed(names: &[String], ips: &[IpAddr]) -> Result<SelfSigned, CertError> {
    let (names, ips) = if names.is_empty() && ips.is_empty() {
        (
            vec!["localhost".to_owned()],
            vec![
                IpAddr::from([127, 0, 0, 1]),
                IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            ],
        )
    } else {
        (names.to_vec(), ips.to_vec())
    };
    let mut params = CertificateParams::new(names.clone())?;
    params
        .subject_alt_names
        .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
    let common_name = names.first().cloned().unwrap_or_else(|| ips[0].to_string());
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "vmgw");
    // A leaf, not a CA: rustls-based clients refuse a CA certificate as a server's.
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // A random serial: clients that cache certificates by issuer and serial must see a new
    // one as new.
    let mut serial = rand::random::<[u8; 16]>();
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    let now = time::OffsetDateTime::now_utc();
    // An hour back: a guest whose clock is a little behind still accepts it.
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(VALID_DAYS);
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok(SelfSigned {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Writes `bytes` to `path` through a temporary file and a rename, so that a gateway
/// reloading on SIGHUP never reads half a file.
fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CertError> {
    crate::atomic_file::write_atomic(path, bytes, mode).map_err(|(_, source)| CertError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// Writes `cert.pem` (mode 0644) and `key.pem` (mode 0600) into `dir`; returns their paths.
pub fn write_self_signed(
    dir: &Path,
    names: &[String],
    ips: &[IpAddr],
) -> Result<(PathBuf, PathBuf), CertError> {
    let pair = self_signed(names, ips)?;
    std::fs::create_dir_all(dir).map_err(|source| CertError::Write {
        path: dir.display().to_string(),
        source,
    })?;
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    write_atomically(&key_path, pair.key_pem.as_bytes(), 0o600)?;
    write_atomically(&cert_path, pair.cert_pem.as_bytes(), 0o644)?;
    Ok((cert_path, key_path))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::config::TlsSettings;

    #[test]
    fn writes_a_pair_the_tls_listener_loads() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("tls");
        let (cert, key) = write_self_signed(
            &out,
            &["s3.host.lan".into()],
            &["192.0.2.7".parse().unwrap()],
        )
        .unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&key), 0o600);
        assert_eq!(mode(&cert), 0o644);
        let settings = TlsSettings {
            cert_file: cert.clone(),
            key_file: key,
            client_ca_file: None,
            require_client_cert: true,
        };
        crate::server::tls::Tls::load(&settings).expect("the pair loads");

        // A key of another pair is refused, naming the key file.
        let other = self_signed(&[], &[]).unwrap();
        let other_key = dir.path().join("other-key.pem");
        std::fs::write(&other_key, other.key_pem).unwrap();
        let err = crate::server::tls::Tls::load(&TlsSettings {
            key_file: other_key,
            ..settings
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("tls.key_file"), "{err}");
    }
}
