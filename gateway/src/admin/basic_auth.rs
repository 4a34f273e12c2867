//! Admin credentials on the admin API's HTTPS listener: HTTP Basic with an admin access key
//! and its secret, over TLS only.
//!
//! The Unix socket needs none (its mode admits only the gateway's user); a TCP listener can
//! be reached by anyone on the network, so every request there names an admin key pair.
//! Secrets are compared as HMAC tags under a key drawn at start, which `ring` checks in
//! constant time: a wrong guess takes as long whatever prefix it shares with the secret.

use std::collections::HashMap;

use ring::hmac;
use ring::rand::SystemRandom;

use crate::config::CredentialConfig;

pub struct AdminCredentials {
    key: hmac::Key,
    /// Access key → tag of its secret.
    secrets: HashMap<String, hmac::Tag>,
}

/// Why a request was refused (the answer says only "unauthorized"; the log says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no Basic credentials")]
    Missing,
    #[error("malformed Basic credentials")]
    Malformed,
    #[error("not an admin key, or a wrong secret")]
    Wrong,
}

impl AdminCredentials {
    /// # Panics
    /// When the system has no randomness to draw the comparison key from.
    #[must_use]
    pub fn new(admin: &[CredentialConfig]) -> Self {
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new())
            .expect("the system random source works");
        let secrets = admin
            .iter()
            .map(|c| {
                (
                    c.access_key.clone(),
                    hmac::sign(&key, c.secret_key.as_bytes()),
                )
            })
            .collect();
        Self { key, secrets }
    }

    /// Checks an `Authorization` header value.
    pub fn check(&self, authorization: Option<&[u8]>) -> Result<(), Refusal> {
        let value = authorization.ok_or(Refusal::Missing)?;
        let encoded = value
            .strip_prefix(b"Basic ")
            .ok_or(Refusal::Malformed)?
            .trim_ascii();
        let decoded = base64_simd::STANDARD
            .decode_to_vec(encoded)
            .map_err(|_| Refusal::Malformed)?;
        let colon = decoded
            .iter()
            .position(|b| *b == b':')
            .ok_or(Refusal::Malformed)?;
        let (access_key, secret) = (&decoded[..colon], &decoded[colon + 1..]);
        let access_key = std::str::from_utf8(access_key).map_err(|_| Refusal::Malformed)?;
        let tag = self.secrets.get(access_key).ok_or(Refusal::Wrong)?;
        hmac::verify(&self.key, secret, tag.as_ref()).map_err(|_| Refusal::Wrong)
    }
}

/// The header value a client sends for `access_key` and `secret_key`.
#[must_use]
pub fn header_value(access_key: &str, secret_key: &str) -> String {
    format!(
        "Basic {}",
        base64_simd::STANDARD.encode_to_string(format!("{access_key}:{secret_key}"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_admin_pair_passes() {
        let creds = AdminCredentials::new(&[CredentialConfig {
            access_key: "ADMINKEY".into(),
            secret_key: "admin:secret/with+chars".into(),
        }]);
        let check = |v: &str| creds.check(Some(v.as_bytes()));
        assert_eq!(
            check(&header_value("ADMINKEY", "admin:secret/with+chars")),
            Ok(())
        );
        assert_eq!(
            check(&header_value("ADMINKEY", "admin:secret/with+chart")),
            Err(Refusal::Wrong)
        );
        assert_eq!(
            check(&header_value("OTHER", "admin:secret/with+chars")),
            Err(Refusal::Wrong)
        );
        assert_eq!(check("Bearer x"), Err(Refusal::Malformed));
        assert_eq!(check("Basic !!!"), Err(Refusal::Malformed));
        assert_eq!(check("Basic bm9jb2xvbg=="), Err(Refusal::Malformed));
        assert_eq!(creds.check(None), Err(Refusal::Missing));
    }
}
