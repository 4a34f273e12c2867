//! Sealing tenants' secret keys for the metadata store.
//!
//! SigV4 needs each secret in the clear on the server, so secrets cannot be hashed; they are
//! sealed with AES-256-GCM under a key kept in its own file (`secrets.key` in the data
//! directory, mode 0600), so a copy of the metadata store — a backup, the snapshots shipped to
//! a remote tier — reveals no secret without that file. The access key is bound in as
//! associated data: a sealed secret copied onto another key does not open.
//!
//! ```text
//! sealed = version 1 (u8) | nonce (12 B) | ciphertext | tag (16 B)
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

const VERSION: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("cannot {action} the secrets key {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the secrets key {0} must hold 64 hex digits")]
    BadKeyFile(PathBuf),
    #[error("a stored secret key does not open with the secrets key (was secrets.key replaced?)")]
    Unsealable,
    #[error("no randomness available")]
    Random,
}

pub struct SecretSealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl SecretSealer {
    /// The file the sealing key is kept in.
    #[must_use]
    pub fn key_path(data_dir: &Path) -> PathBuf {
        data_dir.join("secrets.key")
    }

    /// Loads the key file, creating it with a fresh random key on first start.
    pub fn load_or_create(path: &Path) -> Result<Self, SealError> {
        let io = |action, source| SealError::Io {
            action,
            path: path.to_owned(),
            source,
        };
        let rng = SystemRandom::new();
        let bytes = match fs::read_to_string(path) {
            Ok(text) => {
                let text = text.trim();
                let mut key = [0u8; 32];
                if text.len() != 64
                    || hex_simd::decode(text.as_bytes(), hex_simd::Out::from_slice(&mut key))
                        .is_err()
                {
                    return Err(SealError::BadKeyFile(path.to_owned()));
                }
                key
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rng.fill(&mut key).map_err(|_| SealError::Random)?;
                let hex = hex_simd::encode_to_string(key, hex_simd::AsciiCase::Lower);
                // Whole or not at all: half a key would make every stored secret unreadable.
                crate::atomic_file::write_atomic(path, format!("{hex}\n").as_bytes(), 0o600)
                    .map_err(|(action, e)| io(action, e))?;
                key
            }
            Err(e) => return Err(io("read", e)),
        };
        Ok(Self::from_key(&bytes))
    }

    #[must_use]
    pub fn from_key(key: &[u8; 32]) -> Self {
        Self {
            key: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("32-byte key")),
            rng: SystemRandom::new(),
        }
    }

    pub fn seal(&self, access_key: &str, secret: &str) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| SealError::Random)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + secret.len() + 16);
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        let mut body = secret.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(access_key.as_bytes()),
                &mut body,
            )
            .map_err(|_| SealError::Unsealable)?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    pub fn open(&self, access_key: &str, sealed: &[u8]) -> Result<String, SealError> {
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != VERSION {
            return Err(SealError::Unsealable);
        }
        let nonce: [u8; NONCE_LEN] = sealed[1..=NONCE_LEN].try_into().expect("nonce length");
        let mut body = sealed[1 + NONCE_LEN..].to_vec();
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(access_key.as_bytes()),
                &mut body,
            )
            .map_err(|_| SealError::Unsealable)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError::Unsealable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_access_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = SecretSealer::key_path(dir.path());
        let sealer = SecretSealer::load_or_create(&path).unwrap();
        let sealed = sealer.seal("AK1", "the-secret-value").unwrap();
        assert!(
            !sealed.windows(16).any(|w| w == b"the-secret-value"),
            "the secret must not appear in the clear"
        );
        assert_eq!(sealer.open("AK1", &sealed).unwrap(), "the-secret-value");
        assert!(matches!(
            sealer.open("AK2", &sealed),
            Err(SealError::Unsealable)
        ));
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(matches!(
            sealer.open("AK1", &flipped),
            Err(SealError::Unsealable)
        ));

        // The same file gives the same key on the next start; another key does not open.
        let again = SecretSealer::load_or_create(&path).unwrap();
        assert_eq!(again.open("AK1", &sealed).unwrap(), "the-secret-value");
        let other = SecretSealer::from_key(&[7; 32]);
        assert!(matches!(
            other.open("AK1", &sealed),
            Err(SealError::Unsealable)
        ));
        let mode = std::fs::metadata(&path).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }

    #[test]
    fn a_damaged_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.key");
        std::fs::write(&path, "not hex").unwrap();
        assert!(matches!(
            SecretSealer::load_or_create(&path),
            Err(SealError::BadKeyFile(_))
        ));
    }
}
