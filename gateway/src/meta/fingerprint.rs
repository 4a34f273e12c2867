//! The SHA-256 fingerprint of a certificate, as tenant records store it (see
//! `auth::client_cert` for what it is used for).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The SHA-256 fingerprint of a DER certificate.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub [u8; 32]);

#[derive(Debug, thiserror::Error)]
#[error(
    "invalid certificate fingerprint {0:?}: give the SHA-256 fingerprint as 64 hex digits, colons allowed"
)]
pub struct InvalidFingerprint(pub String);

impl Fingerprint {
    #[must_use]
    pub fn of_der(der: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, der);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        Self(bytes)
    }

    /// Reads 64 hex digits, optionally in colon-separated pairs and with a `sha256:` or
    /// `SHA256 Fingerprint=` prefix, in either case.
    pub fn parse(text: &str) -> Result<Self, InvalidFingerprint> {
        let invalid = || InvalidFingerprint(text.to_owned());
        let trimmed = text.trim();
        let digits = trimmed
            .rsplit_once('=')
            .or_else(|| trimmed.rsplit_once("sha256:"))
            .map_or(trimmed, |(_, rest)| rest);
        let hex: String = digits.chars().filter(|c| *c != ':').collect();
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(invalid());
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| invalid())?;
        }
        Ok(Self(bytes))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_read_as_openssl_and_people_write_them() {
        let fp = Fingerprint::of_der(b"not really a certificate");
        let hex = fp.to_string();
        assert_eq!(hex.len(), 64);
        let colons =
            fp.0.iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":");
        for text in [
            hex.clone(),
            hex.to_uppercase(),
            colons.clone(),
            format!("sha256 Fingerprint={colons}\n"),
            format!("sha256:{hex}"),
        ] {
            assert_eq!(Fingerprint::parse(&text).unwrap(), fp, "{text}");
        }
        let non_ascii = format!("{}é", &hex[..62]);
        for bad in [
            "",
            "abc",
            &hex[..62],
            &format!("{}zz", &hex[..62]),
            &non_ascii,
        ] {
            assert!(Fingerprint::parse(bad).is_err(), "{bad}");
        }
        let json = serde_json::to_string(&fp).unwrap();
        assert_eq!(serde_json::from_str::<Fingerprint>(&json).unwrap(), fp);
    }
}
