//! fsck on local tiers: every kind of damage it knows, found, mended, and found no more.

use std::collections::BTreeSet;
use std::sync::Arc;

use vmgw_tiering::{DataId, LocalTier, LocalTierOptions, Tier};

use super::{FindingKind, FsckOptions, FsckReport, RepairAction};
use crate::meta::{Layout, damage};
use crate::objects::test_support::{get, put, service_with};

fn kinds(report: &FsckReport) -> BTreeSet<(FindingKind, Option<String>)> {
    report
        .findings
        .iter()
        .map(|f| (f.kind, f.key.clone()))
        .collect()
}

fn blob_of(layout: &Layout) -> DataId {
    layout.blobs().next().unwrap().id
}

#[tokio::test]
async fn every_kind_of_damage_is_found_repaired_and_gone_after() {
    let dir = tempfile::tempdir().unwrap();
    let locals: Vec<Arc<LocalTier>> = ["ssd", "hdd"]
        .into_iter()
        .map(|name| {
            Arc::new(
                LocalTier::open(name, dir.path().join(name), LocalTierOptions::default()).unwrap(),
            )
        })
        .collect();
    let t = service_with(Some(
        locals
            .iter()
            .map(|t| Arc::clone(t) as Arc<dyn Tier>)
            .collect(),
    ))
    .await;
    let s = &t.service;
    let store = &t.store;
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    for key in ["corrupt", "queued", "rowless", "intact"] {
        put(s, key, &data, None).await;
    }
    put(s, "missing", &data, Some("STANDARD_IA")).await;
    put(s, "inline", b"a few bytes kept in the metadata store", None).await;
    let bucket = s.bucket("b").unwrap();
    let layout = |key: &str| {
        s.meta()
            .object_with_layout(bucket.id, key)
            .unwrap()
            .unwrap()
            .1
    };

    let clean = s
        .fsck(FsckOptions {
            deep: true,
            repair: false,
        })
        .await
        .unwrap();
    assert!(clean.findings.is_empty(), "{:?}", clean.findings);
    assert_eq!((clean.objects, clean.blobs), (6, 5));
    assert_eq!(clean.bytes_verified, 5 * data.len() as u64);

    // Damage on the tiers.
    let orphan = DataId::random();
    let mut w = locals[0].create(orphan).unwrap();
    w.write(b"left by a crash").unwrap();
    w.finish().unwrap();
    locals[1].remove(blob_of(&layout("missing"))).unwrap();
    let corrupt = blob_of(&layout("corrupt"));
    let path = locals[0].path_of(corrupt);
    let mut stored = std::fs::read(&path).unwrap();
    stored[2_000_000] ^= 0x10;
    std::fs::write(&path, &stored).unwrap();
    // Damage to the bookkeeping.
    damage::set_usage(store, bucket.id, 1, 1);
    damage::queue_reclaim(store, blob_of(&layout("queued")), "ssd");
    damage::set_blob_row(store, blob_of(&layout("rowless")), None);
    let stray = DataId::random();
    damage::set_blob_row(store, stray, Some("hdd"));
    let unused_version = 42;
    let unused_blob = DataId::random();
    damage::put_layout(
        store,
        unused_version,
        &Layout::Blob(crate::meta::BlobRef {
            id: unused_blob,
            tier: "ssd".into(),
            size: 1,
        }),
    );
    damage::set_blob_row(store, unused_blob, Some("ssd"));
    damage::flip_inline_byte(store, bucket.id, "inline");

    let shallow = s.fsck(FsckOptions::default()).await.unwrap();
    let k = |kind, key: Option<&str>| (kind, key.map(str::to_owned));
    let expected_shallow: BTreeSet<_> = [
        k(FindingKind::Orphan, None),
        k(FindingKind::MissingData, Some("missing")),
        k(FindingKind::UsageMismatch, None),
        k(FindingKind::ReclaimingReferencedBlob, Some("queued")),
        k(FindingKind::BlobRowMismatch, Some("rowless")),
        k(FindingKind::UnreferencedBlobRow, None),
        k(FindingKind::LayoutWithoutObject, None),
    ]
    .into();
    assert_eq!(kinds(&shallow), expected_shallow, "{:#?}", shallow.findings);
    assert_eq!(shallow.findings.len(), 7);
    assert_eq!(shallow.unresolved(), 7);
    let orphan_finding = shallow
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::Orphan)
        .unwrap();
    assert_eq!(
        (orphan_finding.tier.as_deref(), orphan_finding.blob.clone()),
        (Some("ssd"), Some(orphan.to_string()))
    );
    let missing = shallow
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::MissingData)
        .unwrap();
    assert_eq!(
        (missing.tier.as_deref(), missing.bucket.as_deref()),
        (Some("hdd"), Some("b"))
    );

    let deep = s
        .fsck(FsckOptions {
            deep: true,
            repair: false,
        })
        .await
        .unwrap();
    let mut expected_deep = expected_shallow.clone();
    expected_deep.insert(k(FindingKind::ChecksumMismatch, Some("corrupt")));
    expected_deep.insert(k(FindingKind::ChecksumMismatch, Some("inline")));
    assert_eq!(kinds(&deep), expected_deep, "{:#?}", deep.findings);

    let repaired = s
        .fsck(FsckOptions {
            deep: true,
            repair: true,
        })
        .await
        .unwrap();
    assert_eq!(repaired.unresolved(), 0, "{:#?}", repaired.findings);
    let action = |kind, key: Option<&str>| {
        repaired
            .findings
            .iter()
            .find(|f| f.kind == kind && f.key.as_deref() == key)
            .and_then(|f| f.repair.as_ref())
            .map(|r| r.action)
            .unwrap()
    };
    assert_eq!(action(FindingKind::Orphan, None), RepairAction::Deleted);
    assert_eq!(
        action(FindingKind::MissingData, Some("missing")),
        RepairAction::Quarantined
    );
    assert_eq!(
        action(FindingKind::ChecksumMismatch, Some("corrupt")),
        RepairAction::Quarantined
    );
    assert_eq!(
        action(FindingKind::ChecksumMismatch, Some("inline")),
        RepairAction::Quarantined
    );
    assert_eq!(
        action(FindingKind::UsageMismatch, None),
        RepairAction::Recounted
    );
    assert_eq!(
        action(FindingKind::ReclaimingReferencedBlob, Some("queued")),
        RepairAction::Unqueued
    );
    assert_eq!(
        action(FindingKind::BlobRowMismatch, Some("rowless")),
        RepairAction::FixedBlobRow
    );
    assert_eq!(
        action(FindingKind::UnreferencedBlobRow, None),
        RepairAction::Reclaimed
    );
    assert_eq!(
        action(FindingKind::LayoutWithoutObject, None),
        RepairAction::DroppedLayout
    );

    // The damaged object's bytes are kept in lost+found, exactly as they were.
    assert_eq!(
        std::fs::read(locals[0].quarantine_dir().join(corrupt.to_string())).unwrap(),
        stored
    );
    let note = std::fs::read_to_string(locals[0].quarantine_dir().join(format!("{corrupt}.note")))
        .unwrap();
    assert!(note.contains("\"key\": \"corrupt\""), "{note}");
    // Quarantined objects are gone from the bucket; the others read back.
    for key in ["missing", "corrupt", "inline"] {
        assert!(s.meta().object(bucket.id, key).unwrap().is_none(), "{key}");
    }
    for key in ["queued", "rowless", "intact"] {
        assert_eq!(get(s, key).await, data, "{key}");
    }
    assert!(!locals[0].path_of(orphan).exists());
    let usage = s.meta().usage(bucket.id).unwrap();
    assert_eq!((usage.bytes, usage.objects), (3 * data.len() as u64, 3));

    // Reclamation catches up with the queued blobs, and a second fsck is clean.
    while crate::objects::reclaim::reclaim_round(s).await.unwrap() > 0 {}
    let after = s
        .fsck(FsckOptions {
            deep: true,
            repair: false,
        })
        .await
        .unwrap();
    assert!(after.findings.is_empty(), "{:#?}", after.findings);
    assert_eq!(after.objects, 3);
}

#[tokio::test]
async fn one_fsck_at_a_time() {
    let t = service_with(None).await;
    let _running = t.service.fsck_lock.try_lock().unwrap();
    assert!(t.service.fsck(FsckOptions::default()).await.is_err());
}
