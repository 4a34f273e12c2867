//! Client certificates as tenant identities (mTLS).
//!
//! A tenant may have client certificates bound to it, by the SHA-256 fingerprint of the DER
//! certificate (what `openssl x509 -noout -fingerprint -sha256` prints). The TLS handshake
//! proves the client holds the certificate's key and that the CA of `tls.client_ca_file`
//! issued it; the fingerprint then names the tenant, so a guest's unsigned requests act as
//! that tenant without an access key. Binding fingerprints, not subject names, means a CA
//! that issues a second certificate with the same name does not get it the same access.

pub use crate::meta::Fingerprint;

/// A certificate named on the command line: a PEM file (its first certificate) or a
/// fingerprint.
pub fn parse_arg(arg: &str) -> Result<Fingerprint, String> {
    let path = std::path::Path::new(arg);
    if !path.exists() {
        return Fingerprint::parse(arg)
            .map_err(|e| format!("{e} (or name a PEM certificate file that exists)"));
    }
    let chain = crate::server::tls::read_certs("certificate", path).map_err(|e| e.to_string())?;
    Ok(Fingerprint::of_der(&chain[0]))
}
