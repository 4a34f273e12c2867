//! S3's additional checksums (CRC32, CRC32C, CRC64NVME, SHA-1, SHA-256): computing them
//! while a body streams, and combining part checksums for multipart objects.

use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Sha1, Sha256};

use super::error::ObjectError;
use crate::meta::{ChecksumAlgorithm, ChecksumKind, StoredChecksum};

impl ChecksumAlgorithm {
    /// Parses S3's algorithm names (`CRC32`, `crc64nvme`, ...).
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "CRC32" => Some(Self::Crc32),
            "CRC32C" => Some(Self::Crc32c),
            "CRC64NVME" => Some(Self::Crc64Nvme),
            "SHA1" => Some(Self::Sha1),
            "SHA256" => Some(Self::Sha256),
            _ => None,
        }
    }

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    /// The header (or trailer) that carries this checksum.
    #[must_use]
    pub fn header(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// Whether parts can be combined into a checksum of the whole object (CRCs can; hashes
    /// only into a checksum of checksums).
    #[must_use]
    pub fn is_crc(self) -> bool {
        matches!(self, Self::Crc32 | Self::Crc32c | Self::Crc64Nvme)
    }

    fn crc_algorithm(self) -> Option<crc_fast::CrcAlgorithm> {
        match self {
            Self::Crc32 => Some(crc_fast::CrcAlgorithm::Crc32IsoHdlc),
            Self::Crc32c => Some(crc_fast::CrcAlgorithm::Crc32Iscsi),
            Self::Crc64Nvme => Some(crc_fast::CrcAlgorithm::Crc64Nvme),
            Self::Sha1 | Self::Sha256 => None,
        }
    }
}

/// A running checksum of one algorithm.
pub enum Hasher {
    Crc32(Crc32),
    Crc32c(Crc32c),
    Crc64Nvme(Crc64Nvme),
    Sha1(Sha1),
    Sha256(Sha256),
}

impl Hasher {
    #[must_use]
    pub fn new(algorithm: ChecksumAlgorithm) -> Self {
        match algorithm {
            ChecksumAlgorithm::Crc32 => Self::Crc32(Crc32::new()),
            ChecksumAlgorithm::Crc32c => Self::Crc32c(Crc32c::new()),
            ChecksumAlgorithm::Crc64Nvme => Self::Crc64Nvme(Crc64Nvme::new()),
            ChecksumAlgorithm::Sha1 => Self::Sha1(Sha1::new()),
            ChecksumAlgorithm::Sha256 => Self::Sha256(Sha256::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Self::Crc32(h) => h.update(data),
            Self::Crc32c(h) => h.update(data),
            Self::Crc64Nvme(h) => h.update(data),
            Self::Sha1(h) => h.update(data),
            Self::Sha256(h) => h.update(data),
        }
    }

    /// The digest, base64-encoded as S3 transmits it.
    #[must_use]
    pub fn finish(self) -> String {
        let raw: Vec<u8> = match self {
            Self::Crc32(h) => h.finalize().to_vec(),
            Self::Crc32c(h) => h.finalize().to_vec(),
            Self::Crc64Nvme(h) => h.finalize().to_vec(),
            Self::Sha1(h) => h.finalize().as_ref().to_vec(),
            Self::Sha256(h) => h.finalize().as_ref().to_vec(),
        };
        base64_simd::STANDARD.encode_to_string(raw)
    }
}

fn decode_b64(value: &str) -> Result<Vec<u8>, ObjectError> {
    base64_simd::STANDARD.decode_to_vec(value).map_err(|_| {
        ObjectError::InvalidRequest(format!("checksum value {value:?} is not valid base64"))
    })
}

/// Combines the checksums of a multipart object's parts.
///
/// `Composite`: the checksum of the concatenated binary part checksums, suffixed `-N`.
/// `FullObject` (CRCs only): the CRC of the whole object, computed from the part CRCs and
/// lengths without reading any data.
pub fn combine_parts(
    algorithm: ChecksumAlgorithm,
    kind: ChecksumKind,
    parts: &[(String, u64)],
) -> Result<StoredChecksum, ObjectError> {
    let value = match kind {
        ChecksumKind::Composite => {
            let mut hasher = Hasher::new(algorithm);
            for (value, _) in parts {
                hasher.update(&decode_b64(value)?);
            }
            format!("{}-{}", hasher.finish(), parts.len())
        }
        ChecksumKind::FullObject => {
            let crc = algorithm.crc_algorithm().ok_or_else(|| {
                ObjectError::InvalidRequest(format!(
                    "{} cannot be a full-object checksum",
                    algorithm.name()
                ))
            })?;
            let width = if algorithm == ChecksumAlgorithm::Crc64Nvme {
                8
            } else {
                4
            };
            let mut combined: Option<u64> = None;
            for (value, len) in parts {
                let raw = decode_b64(value)?;
                if raw.len() != width {
                    return Err(ObjectError::InvalidRequest(
                        "part checksum has the wrong length".into(),
                    ));
                }
                let part = raw.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
                combined = Some(match combined {
                    None => part,
                    Some(acc) => crc_fast::checksum_combine(crc, acc, part, *len),
                });
            }
            let combined = combined.unwrap_or(0);
            let bytes = combined.to_be_bytes();
            base64_simd::STANDARD.encode_to_string(&bytes[8 - width..])
        }
    };
    Ok(StoredChecksum {
        algorithm,
        kind,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checksum_of(algorithm: ChecksumAlgorithm, data: &[u8]) -> String {
        let mut h = Hasher::new(algorithm);
        h.update(data);
        h.finish()
    }

    #[test]
    fn known_vectors() {
        // Values from the AWS documentation / SDK test suites for "Hello world".
        assert_eq!(
            checksum_of(ChecksumAlgorithm::Crc32, b"Hello world"),
            "i9aeUg=="
        );
        assert_eq!(
            checksum_of(ChecksumAlgorithm::Crc32c, b"Hello world"),
            "crUfeA=="
        );
        assert_eq!(
            checksum_of(ChecksumAlgorithm::Sha1, b"Hello world"),
            "e1AsOh9IyGCa4hLN+2Od7jlnP14="
        );
        assert_eq!(
            checksum_of(ChecksumAlgorithm::Sha256, b"Hello world"),
            "ZOyIygCyaOW6GjVnihtTFtIS9PNmskdyMlNKiuyjfzw="
        );
    }

    #[test]
    fn full_object_crc_equals_crc_of_concatenation() {
        let a = vec![1u8; 5000];
        let b = vec![2u8; 3000];
        let whole: Vec<u8> = a.iter().chain(b.iter()).copied().collect();
        for algorithm in [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Crc64Nvme,
        ] {
            let parts = vec![
                (checksum_of(algorithm, &a), 5000),
                (checksum_of(algorithm, &b), 3000),
            ];
            let combined = combine_parts(algorithm, ChecksumKind::FullObject, &parts).unwrap();
            assert_eq!(
                combined.value,
                checksum_of(algorithm, &whole),
                "{algorithm:?}"
            );
        }
    }

    #[test]
    fn composite_is_checksum_of_checksums() {
        let parts = vec![
            (checksum_of(ChecksumAlgorithm::Sha256, b"a"), 1),
            (checksum_of(ChecksumAlgorithm::Sha256, b"b"), 1),
        ];
        let mut concat = Vec::new();
        for (v, _) in &parts {
            concat.extend(base64_simd::STANDARD.decode_to_vec(v).unwrap());
        }
        let expected = format!("{}-2", checksum_of(ChecksumAlgorithm::Sha256, &concat));
        assert_eq!(
            combine_parts(ChecksumAlgorithm::Sha256, ChecksumKind::Composite, &parts)
                .unwrap()
                .value,
            expected
        );
    }
}
