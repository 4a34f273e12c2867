//! A remote blob's self-description, carried in the object's own metadata so that the remote
//! bucket alone names every object it holds. Sealed with the tier's key when the tier seals
//! data: a bucket listing must not leak object names or user metadata either.
//!
//! ```text
//! plain   'P' | descriptor
//! sealed  'S' | key id u32 LE | nonce (12 B) | AES-256-GCM(descriptor) + tag
//! ```
//! The whole is base64 in the `x-amz-meta-vmgw-descriptor` header. S3 caps user metadata at
//! 2 KiB, so a larger descriptor goes to a sidecar object next to the blob and the header
//! says `sidecar`.

use ring::aead::{Aad, NONCE_LEN, Nonce};
use ring::rand::{SecureRandom, SystemRandom};

use crate::keys::Keyring;
use crate::{DataId, TierError};

pub(super) const METADATA_KEY: &str = "vmgw-descriptor";
pub(super) const IN_SIDECAR: &str = "sidecar";
/// Largest encoded descriptor kept in the object's metadata.
pub(super) const INLINE_LIMIT: usize = 1800;

fn aad(id: DataId) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(b"vmgw-descriptor\0");
    out[16..].copy_from_slice(&id.to_bytes());
    out
}

/// Encodes (and seals, given a keyring) a descriptor as base64 text.
pub(super) fn encode(
    id: DataId,
    descriptor: &[u8],
    keyring: Option<&Keyring>,
) -> Result<String, TierError> {
    let mut out = Vec::with_capacity(descriptor.len() + 40);
    match keyring {
        None => {
            out.push(b'P');
            out.extend_from_slice(descriptor);
        }
        Some(ring) => {
            let mut nonce = [0u8; NONCE_LEN];
            SystemRandom::new()
                .fill(&mut nonce)
                .map_err(|_| TierError::corrupt(id, "no randomness for a nonce"))?;
            let mut sealed = descriptor.to_vec();
            ring.active()
                .seal_in_place_append_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(aad(id)),
                    &mut sealed,
                )
                .map_err(|_| TierError::corrupt(id, "sealing the descriptor failed"))?;
            out.push(b'S');
            out.extend_from_slice(&ring.active_id().to_le_bytes());
            out.extend_from_slice(&nonce);
            out.extend_from_slice(&sealed);
        }
    }
    Ok(base64_simd::STANDARD.encode_to_string(&out))
}

/// Decodes (and opens) what [`encode`] produced.
pub(super) fn decode(
    id: DataId,
    text: &str,
    keyring: Option<&Keyring>,
) -> Result<Vec<u8>, TierError> {
    let raw = base64_simd::STANDARD
        .decode_to_vec(text.trim())
        .map_err(|_| TierError::corrupt(id, "descriptor is not base64"))?;
    match raw.split_first() {
        Some((b'P', rest)) => Ok(rest.to_vec()),
        Some((b'S', rest)) if rest.len() >= 4 + NONCE_LEN + 16 => {
            let key_id = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes"));
            let key = keyring
                .and_then(|ring| ring.get(key_id))
                .ok_or(TierError::KeyUnavailable { id, key_id })?;
            let nonce: [u8; NONCE_LEN] = rest[4..4 + NONCE_LEN].try_into().expect("nonce");
            let mut sealed = rest[4 + NONCE_LEN..].to_vec();
            let plain = key
                .open_in_place(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(aad(id)),
                    &mut sealed,
                )
                .map_err(|_| TierError::corrupt(id, "descriptor fails authentication"))?;
            Ok(plain.to_vec())
        }
        _ => Err(TierError::corrupt(id, "descriptor has an unknown form")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Keyring {
        Keyring::new(3, [(3, vec![7u8; 32])]).unwrap()
    }

    #[test]
    fn plain_and_sealed_round_trip() {
        let id = DataId::random();
        let text = encode(id, b"{\"key\":\"a\"}", None).unwrap();
        assert_eq!(decode(id, &text, None).unwrap(), b"{\"key\":\"a\"}");
        let ring = ring();
        let text = encode(id, b"secret-name", Some(&ring)).unwrap();
        let raw = base64_simd::STANDARD.decode_to_vec(&text).unwrap();
        assert!(!raw.windows(11).any(|w| w == b"secret-name"));
        assert_eq!(decode(id, &text, Some(&ring)).unwrap(), b"secret-name");
        // Bound to its blob: another id cannot open it, nor can a missing key.
        assert!(decode(DataId::random(), &text, Some(&ring)).is_err());
        assert!(matches!(
            decode(id, &text, None),
            Err(TierError::KeyUnavailable { key_id: 3, .. })
        ));
    }
}
