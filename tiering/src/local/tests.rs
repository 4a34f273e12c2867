//! Tests of the local tier in both formats.

use std::fs::{self, OpenOptions};
use std::path::Path;

use super::*;
use crate::conformance::{self, pattern, read_range};
use crate::format::{CHUNK_CRC_LEN, Geometry, HEADER_LEN};

const CHUNK: u32 = 4096;

fn tier(dir: &Path) -> LocalTier {
    LocalTier::open(
        "ssd",
        dir,
        LocalTierOptions {
            chunk_size: CHUNK,
            ..LocalTierOptions::default()
        },
    )
    .unwrap()
}

fn put(tier: &LocalTier, data: &[u8]) -> DataId {
    let id = DataId::random();
    let mut w = tier.create(id).unwrap();
    w.write(data).unwrap();
    w.finish().unwrap();
    id
}

#[test]
fn conformance() {
    let dir = tempfile::tempdir().unwrap();
    conformance::run_all(&tier(dir.path()), CHUNK as usize);
}

#[test]
fn flipped_byte_is_detected_in_its_chunk_only() {
    let dir = tempfile::tempdir().unwrap();
    let tier = tier(dir.path());
    let data = pattern(3 * CHUNK as usize, 1);
    let id = put(&tier, &data);
    let path = tier.path_of(id);
    let mut raw = fs::read(&path).unwrap();
    let in_second_chunk = (HEADER_LEN + CHUNK_CRC_LEN + u64::from(CHUNK) + 100) as usize;
    raw[in_second_chunk] ^= 0x40;
    fs::write(&path, &raw).unwrap();

    let err = read_range(&tier, id, u64::from(CHUNK), 10).unwrap_err();
    assert!(matches!(err, TierError::Corrupt { .. }), "{err}");
    // Chunks that were not touched still read.
    assert_eq!(read_range(&tier, id, 0, 10).unwrap(), &data[..10]);
}

#[test]
fn swapped_chunks_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let tier = tier(dir.path());
    let data = pattern(2 * CHUNK as usize, 2);
    let id = put(&tier, &data);
    let path = tier.path_of(id);
    let mut raw = fs::read(&path).unwrap();
    let stride = (CHUNK_CRC_LEN + u64::from(CHUNK)) as usize;
    let first = HEADER_LEN as usize;
    let (a, b) = raw[first..first + 2 * stride].split_at_mut(stride);
    a.swap_with_slice(b);
    fs::write(&path, &raw).unwrap();
    assert!(matches!(
        read_range(&tier, id, 0, 1),
        Err(TierError::Corrupt { .. })
    ));
    assert!(matches!(
        read_range(&tier, id, u64::from(CHUNK), 1),
        Err(TierError::Corrupt { .. })
    ));
}

#[test]
fn truncation_is_detected_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let tier = tier(dir.path());
    let id = put(&tier, &pattern(2 * CHUNK as usize, 3));
    let path = tier.path_of(id);
    let full = fs::metadata(&path).unwrap().len();
    // Cut exactly at the end of the first chunk: every remaining chunk is intact.
    let cut = HEADER_LEN + CHUNK_CRC_LEN + u64::from(CHUNK);
    for len in [full - 1, cut, 10] {
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len).unwrap();
        assert!(
            matches!(tier.open(id), Err(TierError::Corrupt { .. })),
            "truncated to {len}"
        );
    }
}

#[test]
fn blob_renamed_to_another_id_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let tier = tier(dir.path());
    let id = put(&tier, b"hello");
    let other = DataId::random();
    fs::rename(tier.path_of(id), tier.path_of(other)).unwrap();
    assert!(matches!(tier.open(other), Err(TierError::Corrupt { .. })));
}

#[test]
fn stored_size_matches_geometry() {
    let dir = tempfile::tempdir().unwrap();
    let tier = tier(dir.path());
    let id = put(&tier, &pattern(10_000, 4));
    let expected = Geometry {
        chunk_size: u64::from(CHUNK),
        payload_len: 10_000,
    }
    .stored_len();
    assert_eq!(fs::metadata(tier.path_of(id)).unwrap().len(), expected);
    assert_eq!(tier.used_bytes().unwrap(), expected);
}

mod framed {
    use std::sync::Arc;

    use super::*;
    use crate::conformance::{self, pattern, read_range};
    use crate::{CodecOptions, Keyring};

    const CHUNK: u32 = 4096;
    const KEY1: [u8; 32] = [7; 32];
    const KEY2: [u8; 32] = [9; 32];

    fn ring(active: u32) -> Arc<Keyring> {
        Arc::new(Keyring::new(active, [(1, KEY1.to_vec()), (2, KEY2.to_vec())]).unwrap())
    }

    fn tier(dir: &Path, zstd_level: Option<i32>, keyring: Option<Arc<Keyring>>) -> LocalTier {
        LocalTier::open(
            "t",
            dir,
            LocalTierOptions {
                chunk_size: CHUNK,
                codec: CodecOptions {
                    zstd_level,
                    keyring,
                },
                ..LocalTierOptions::default()
            },
        )
        .unwrap()
    }

    fn put(tier: &LocalTier, data: &[u8]) -> DataId {
        let id = DataId::random();
        let mut w = tier.create(id).unwrap();
        w.write(data).unwrap();
        w.finish().unwrap();
        id
    }

    /// Text-like bytes that compress well.
    fn text(len: usize) -> Vec<u8> {
        b"the quick brown fox jumps over the lazy dog; "
            .iter()
            .copied()
            .cycle()
            .take(len)
            .collect()
    }

    #[test]
    fn conformance_for_every_codec() {
        for (zstd, seal) in [(Some(3), false), (None, true), (Some(3), true)] {
            let dir = tempfile::tempdir().unwrap();
            let keyring = seal.then(|| ring(1));
            conformance::run_all(&tier(dir.path(), zstd, keyring), CHUNK as usize);
        }
    }

    #[test]
    fn compressible_data_shrinks_and_random_data_is_stored_raw() {
        let dir = tempfile::tempdir().unwrap();
        let tier = tier(dir.path(), Some(3), None);
        let text = text(40 * CHUNK as usize);
        let id = put(&tier, &text);
        assert!(
            tier.stored_size(id).unwrap() < text.len() as u64 / 4,
            "text compresses"
        );
        assert_eq!(read_range(&tier, id, 0, text.len()).unwrap(), text);
        let random = pattern(40 * CHUNK as usize, 3);
        let id = put(&tier, &random);
        let overhead = tier.stored_size(id).unwrap() - random.len() as u64;
        // Per chunk: 9 bytes of frame head, a CRC and an index entry; plus header and footer.
        assert!(
            overhead <= 40 * (9 + 4 + 8) + 64 + 32,
            "random data stored raw, overhead {overhead}"
        );
        assert_eq!(
            read_range(&tier, id, 1000, 20_000).unwrap(),
            &random[1000..21_000]
        );
    }

    #[test]
    fn sealed_blobs_hold_no_plaintext_and_survive_key_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let secret = b"a very recognisable secret sentence ".repeat(200);
        let old = tier(dir.path(), Some(3), Some(ring(1)));
        let id = put(&old, &secret);
        let raw = fs::read(old.path_of(id)).unwrap();
        assert!(
            !raw.windows(20).any(|w| w == &secret[..20]),
            "plaintext visible on disk"
        );
        // The active key rotates to 2: old blobs still read, new ones use key 2.
        let rotated = tier(dir.path(), Some(3), Some(ring(2)));
        assert_eq!(read_range(&rotated, id, 0, secret.len()).unwrap(), secret);
        let newer = put(&rotated, b"fresh");
        // Without key 1, the old blob is refused, not misread.
        let only2 = Arc::new(Keyring::new(2, [(2, KEY2.to_vec())]).unwrap());
        let without_old = tier(dir.path(), Some(3), Some(only2));
        assert!(matches!(
            without_old.open(id),
            Err(TierError::KeyUnavailable { key_id: 1, .. })
        ));
        assert_eq!(read_range(&without_old, newer, 0, 5).unwrap(), b"fresh");
    }

    fn frames(tier: &LocalTier, id: DataId) -> Vec<(usize, usize)> {
        let raw = fs::read(tier.path_of(id)).unwrap();
        let footer: [u8; 32] = raw[raw.len() - 32..].try_into().unwrap();
        let footer = crate::format::Footer2::decode(&footer, id).unwrap();
        let at = footer.index_offset as usize;
        let mut bounds: Vec<usize> = raw[at..at + footer.chunk_count as usize * 8]
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize)
            .collect();
        bounds.push(at);
        bounds.windows(2).map(|w| (w[0], w[1])).collect()
    }

    #[test]
    fn flipped_truncated_and_swapped_chunks_are_detected() {
        let dir = tempfile::tempdir().unwrap();
        let tier = tier(dir.path(), Some(3), Some(ring(1)));
        // Random data: frames of equal length, so swapping them keeps the index valid.
        let data = pattern(3 * CHUNK as usize, 5);

        let id = put(&tier, &data);
        let path = tier.path_of(id);
        let (start, end) = frames(&tier, id)[1];
        let mut raw = fs::read(&path).unwrap();
        raw[(start + end) / 2] ^= 0x01;
        fs::write(&path, &raw).unwrap();
        assert!(matches!(
            read_range(&tier, id, u64::from(CHUNK), 1),
            Err(TierError::Corrupt { .. })
        ));
        assert_eq!(
            read_range(&tier, id, 0, 10).unwrap(),
            &data[..10],
            "other chunks still read"
        );

        let id = put(&tier, &data);
        let path = tier.path_of(id);
        let f = frames(&tier, id);
        let mut raw = fs::read(&path).unwrap();
        let (a, b) = (f[0], f[1]);
        assert_eq!(a.1 - a.0, b.1 - b.0);
        let first = raw[a.0..a.1].to_vec();
        raw.copy_within(b.0..b.1, a.0);
        raw[b.0..b.1].copy_from_slice(&first);
        fs::write(&path, &raw).unwrap();
        assert!(matches!(
            read_range(&tier, id, 0, 1),
            Err(TierError::Corrupt { .. })
        ));
        assert!(matches!(
            read_range(&tier, id, u64::from(CHUNK), 1),
            Err(TierError::Corrupt { .. })
        ));

        let id = put(&tier, &data);
        let path = tier.path_of(id);
        let f = frames(&tier, id);
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(f[1].0 as u64 + 10).unwrap();
        assert!(
            matches!(tier.open(id), Err(TierError::Corrupt { .. })),
            "truncated inside a frame"
        );
    }
}

#[test]
fn quarantine_keeps_the_bytes_apart_and_survives_removal() {
    let dir = tempfile::tempdir().unwrap();
    let tier = tier(dir.path());
    let id = put(&tier, &pattern(10_000, 9));
    let stored = fs::read(tier.path_of(id)).unwrap();
    assert!(tier.quarantine(id, b"bucket/key").unwrap());
    assert!(tier.quarantine(id, b"bucket/key").unwrap(), "repeatable");
    tier.remove(id).unwrap();
    let kept = tier.quarantine_dir().join(id.to_string());
    assert_eq!(fs::read(&kept).unwrap(), stored);
    assert_eq!(
        fs::read(tier.quarantine_dir().join(format!("{id}.note"))).unwrap(),
        b"bucket/key"
    );
    assert!(
        !tier.quarantine(id, b"gone").unwrap(),
        "nothing left to keep"
    );
    let mut ids = Vec::new();
    tier.for_each_id(&mut |id| ids.push(id)).unwrap();
    assert!(ids.is_empty(), "quarantined blobs are not listed: {ids:?}");
    assert_eq!(tier.used_bytes().unwrap(), 0);
}
