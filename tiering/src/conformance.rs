//! One behavioural suite that every [`Tier`] implementation must pass.
//!
//! Each implementation's tests call [`run_all`] with a fresh, empty tier. `chunk_size` is the
//! tier's internal chunking, so that sizes around chunk boundaries get exercised.

use std::collections::HashSet;

use crate::{DataId, Tier, TierError};

/// Runs every check against `tier`.
pub fn run_all(tier: &dyn Tier, chunk_size: usize) {
    round_trips_at_boundaries(tier, chunk_size);
    ranged_reads_match_source(tier, chunk_size);
    write_granularity_does_not_matter(tier, chunk_size);
    unfinished_writes_are_invisible(tier);
    remove_is_idempotent(tier);
    lists_finished_blobs(tier);
}

/// Deterministic test bytes: position-dependent so misplaced ranges show up.
#[must_use]
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Reads `[offset, offset+len)` through the reader, following short reads.
pub fn read_range(
    tier: &dyn Tier,
    id: DataId,
    offset: u64,
    len: usize,
) -> Result<Vec<u8>, TierError> {
    let mut reader = tier.open(id)?;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let bytes = reader.read_at(offset + out.len() as u64, len - out.len())?;
        assert!(!bytes.is_empty(), "read_at returned nothing before the end");
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

fn put(tier: &dyn Tier, data: &[u8]) -> DataId {
    let id = DataId::random();
    let mut writer = tier.create(id).expect("create");
    writer.write(data).expect("write");
    assert_eq!(writer.finish().expect("finish"), data.len() as u64);
    id
}

fn round_trips_at_boundaries(tier: &dyn Tier, chunk: usize) {
    for (i, len) in [0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk + chunk / 2]
        .into_iter()
        .enumerate()
    {
        let data = pattern(len, i as u64);
        let id = put(tier, &data);
        let reader = tier.open(id).expect("open");
        assert_eq!(reader.len(), len as u64, "length of {len}-byte blob");
        assert_eq!(
            read_range(tier, id, 0, len).expect("read"),
            data,
            "content of {len}-byte blob"
        );
        assert!(
            tier.stored_size(id).expect("stored size") >= len as u64,
            "stored size of {len}-byte blob"
        );
        tier.remove(id).expect("remove");
    }
}

fn ranged_reads_match_source(tier: &dyn Tier, chunk: usize) {
    let len = 4 * chunk + 17;
    let data = pattern(len, 99);
    let id = put(tier, &data);
    let mut state = 12345u64;
    for _ in 0..200 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        let start = (state >> 33) as usize % len;
        let max_len = len - start;
        let want = 1 + (state >> 7) as usize % max_len;
        let got = read_range(tier, id, start as u64, want).expect("ranged read");
        assert_eq!(got, &data[start..start + want], "range {start}+{want}");
    }
    let mut reader = tier.open(id).expect("open");
    assert!(matches!(
        reader.read_at(len as u64, 1),
        Err(TierError::OutOfRange { .. })
    ));
    assert!(reader.read_at(0, 0).expect("empty read").is_empty());
    tier.remove(id).expect("remove");
}

fn write_granularity_does_not_matter(tier: &dyn Tier, chunk: usize) {
    let data = pattern(2 * chunk + 3, 5);
    let id = DataId::random();
    let mut writer = tier.create(id).expect("create");
    for piece in data.chunks(chunk / 3 + 1) {
        writer.write(piece).expect("write");
    }
    writer.finish().expect("finish");
    assert_eq!(read_range(tier, id, 0, data.len()).expect("read"), data);
    tier.remove(id).expect("remove");
}

fn unfinished_writes_are_invisible(tier: &dyn Tier) {
    let id = DataId::random();
    let mut writer = tier.create(id).expect("create");
    writer.write(b"abandoned").expect("write");
    drop(writer);
    assert!(matches!(tier.open(id), Err(TierError::NotFound(_))));
    let mut seen = false;
    tier.for_each_id(&mut |found| seen |= found == id)
        .expect("list");
    assert!(!seen, "an abandoned write left a blob behind");
}

fn remove_is_idempotent(tier: &dyn Tier) {
    let id = put(tier, b"short-lived");
    tier.remove(id).expect("first remove");
    tier.remove(id).expect("second remove");
    assert!(matches!(tier.open(id), Err(TierError::NotFound(_))));
    assert!(matches!(tier.stored_size(id), Err(TierError::NotFound(_))));
}

fn lists_finished_blobs(tier: &dyn Tier) {
    let ids: HashSet<DataId> = (0..20).map(|i| put(tier, &pattern(10, i))).collect();
    let mut listed = HashSet::new();
    tier.for_each_id(&mut |id| {
        listed.insert(id);
    })
    .expect("list");
    assert!(ids.is_subset(&listed), "every finished blob is listed");
    for id in ids {
        tier.remove(id).expect("remove");
    }
}
