//! Keys for sealed (encrypted) tiers.
//!
//! Each key has a numeric id stored in the header of every blob it seals, so keys can
//! rotate: new blobs are sealed with the active key, older blobs stay readable as long as
//! their key is in the ring, and moving a blob (or rewriting it) re-seals it with the active
//! key.

use std::collections::HashMap;
use std::fmt;

use ring::aead::{AES_256_GCM, LessSafeKey, UnboundKey};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key {id} must be 32 bytes (64 hex digits), got {len} bytes")]
    Length { id: u32, len: usize },
    #[error("key {0} is not hex")]
    NotHex(u32),
    #[error("the active key {0} is not in the key ring")]
    NoActiveKey(u32),
}

/// The AES-256-GCM keys of a tier, by id, and the one new blobs are sealed with.
pub struct Keyring {
    active: u32,
    keys: HashMap<u32, LessSafeKey>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        let mut ids: Vec<u32> = self.keys.keys().copied().collect();
        ids.sort_unstable();
        f.debug_struct("Keyring")
            .field("active", &self.active)
            .field("ids", &ids)
            .finish()
    }
}

/// Decodes a key written as 64 hex digits (surrounding whitespace ignored).
pub fn parse_hex_key(id: u32, text: &str) -> Result<Vec<u8>, KeyError> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(KeyError::NotHex(id));
    }
    let bytes: Vec<u8> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|_| KeyError::NotHex(id)))
        .collect::<Result<_, _>>()?;
    if bytes.len() != 32 {
        return Err(KeyError::Length {
            id,
            len: bytes.len(),
        });
    }
    Ok(bytes)
}

impl Keyring {
    /// A ring from `(id, 32-byte key)` pairs; `active` seals new blobs.
    pub fn new(
        active: u32,
        keys: impl IntoIterator<Item = (u32, Vec<u8>)>,
    ) -> Result<Self, KeyError> {
        let mut ring = HashMap::new();
        for (id, bytes) in keys {
            let unbound = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| KeyError::Length {
                id,
                len: bytes.len(),
            })?;
            ring.insert(id, LessSafeKey::new(unbound));
        }
        if !ring.contains_key(&active) {
            return Err(KeyError::NoActiveKey(active));
        }
        Ok(Self { active, keys: ring })
    }

    #[must_use]
    pub fn active_id(&self) -> u32 {
        self.active
    }

    pub(crate) fn active(&self) -> &LessSafeKey {
        &self.keys[&self.active]
    }

    pub(crate) fn get(&self, id: u32) -> Option<&LessSafeKey> {
        self.keys.get(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_ring_checks_active() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let key = parse_hex_key(1, &format!(" {hex}\n")).unwrap();
        assert_eq!(key.len(), 32);
        assert_eq!(
            parse_hex_key(1, "abcd"),
            Err(KeyError::Length { id: 1, len: 2 })
        );
        assert_eq!(parse_hex_key(1, "zz"), Err(KeyError::NotHex(1)));
        assert!(Keyring::new(2, [(1, key.clone())]).is_err());
        let ring = Keyring::new(1, [(1, key)]).unwrap();
        assert_eq!(ring.active_id(), 1);
        assert!(!format!("{ring:?}").contains("0011"));
    }
}
