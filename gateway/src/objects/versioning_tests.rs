//! Versioning through the object service: every version keeps its own bytes, and the
//! bookkeeping that guards bytes (fsck, the orphan sweep, reclamation, usage) sees
//! noncurrent versions as in use.

use std::sync::Arc;

use futures::StreamExt;
use vmgw_tiering::{LocalTier, LocalTierOptions, Tier};

use super::test_support::{body, get, put, service_with};
use super::{
    ChecksumInput, Conditions, CopyObject, FsckOptions, GetObject, MetadataDirective,
    NewObjectMeta, ObjectError, ObjectService, SweepMode, TaggingDirective, sweep_orphans,
};
use crate::meta::{Layout, Precondition, VersionRef, Versioning};

async fn enable(s: &ObjectService) {
    s.set_bucket_versioning("b", Versioning::Enabled)
        .await
        .unwrap();
}

async fn read(s: &ObjectService, key: &str, version: Option<VersionRef>) -> Vec<u8> {
    let mut out = s
        .get_object(GetObject {
            bucket: "b".into(),
            key: key.into(),
            version,
            conditions: Conditions::default(),
            range: None,
            part_number: None,
        })
        .await
        .unwrap();
    let mut data = Vec::new();
    while let Some(frame) = out.body.next().await {
        data.extend_from_slice(&frame.unwrap());
    }
    data
}

fn id(record: &crate::meta::ObjectRecord) -> Option<VersionRef> {
    Some(VersionRef::Id(record.version))
}

async fn reclaim_all(s: &Arc<ObjectService>) {
    while super::reclaim::reclaim_round(s).await.unwrap() > 0 {}
}

#[tokio::test]
async fn noncurrent_versions_keep_their_bytes_through_fsck_sweeps_and_reclamation() {
    let t = service_with(None).await;
    let s = &t.service;
    put(s, "k", b"written before versioning", None).await;
    enable(s).await;
    let big: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i; 300_000]).collect();
    let mut versions = Vec::new();
    for data in &big {
        versions.push(put(s, "k", data, None).await);
    }
    assert!(versions.iter().all(|v| v.versioned));
    let marker = s.delete_object("b", "k", "me").await.unwrap();
    assert!(marker.marker.as_ref().unwrap().delete_marker);
    reclaim_all(s).await;

    // Every version reads back, by id and (the null one) as `null`.
    for (record, data) in versions.iter().zip(&big) {
        assert_eq!(read(s, "k", id(record)).await, *data);
    }
    assert_eq!(
        read(s, "k", Some(VersionRef::Null)).await,
        b"written before versioning"
    );
    // Usage counts every version holding data, not the marker.
    let usage = s.meta().usage(s.bucket("b").unwrap().id).unwrap();
    assert_eq!((usage.bytes, usage.objects), (900_000 + 25, 4));
    // Nothing is an orphan, nothing is missing.
    assert_eq!(sweep_orphans(s, SweepMode::Background).unwrap(), 0);
    let report = s
        .fsck(FsckOptions {
            deep: true,
            repair: false,
        })
        .await
        .unwrap();
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert_eq!((report.objects, report.blobs), (4, 3));

    // Removing a version for good reclaims its bytes only.
    let gone = s
        .delete_version("b", "k", VersionRef::Id(versions[1].version))
        .await
        .unwrap();
    assert_eq!(gone.removed.unwrap().version, versions[1].version);
    reclaim_all(s).await;
    assert_eq!(read(s, "k", id(&versions[0])).await, big[0]);
    assert_eq!(read(s, "k", id(&versions[2])).await, big[2]);
    assert!(matches!(
        s.get_object(GetObject {
            bucket: "b".into(),
            key: "k".into(),
            version: id(&versions[1]),
            conditions: Conditions::default(),
            range: None,
            part_number: None,
        })
        .await,
        Err(ObjectError::NoSuchVersion)
    ));
    let report = s.fsck(FsckOptions::default()).await.unwrap();
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
}

#[tokio::test]
async fn a_self_copy_on_a_versioned_bucket_writes_bytes_of_its_own() {
    let t = service_with(None).await;
    let s = &t.service;
    enable(s).await;
    let data = vec![7u8; 300_000];
    let first = put(s, "k", &data, None).await;
    let copied = s
        .copy_object(CopyObject {
            tagging: TaggingDirective::Copy,
            src_bucket: "b".into(),
            src_key: "k".into(),
            src_version: None,
            dst_bucket: "b".into(),
            dst_key: "k".into(),
            conditions: Conditions::default(),
            directive: MetadataDirective::Replace(Box::new(NewObjectMeta {
                user_meta: vec![("new".into(), "meta".into())],
                ..NewObjectMeta::default()
            })),
            storage_class: None,
            checksum_algorithm: None,
            precondition: Precondition::None,
            owner: "me".into(),
        })
        .await
        .unwrap();
    assert_ne!(copied.record.version, first.version);
    let bucket = s.bucket("b").unwrap();
    let layout = |version| {
        s.meta()
            .version_numbered(bucket.id, "k", version)
            .unwrap()
            .unwrap()
            .layout
            .unwrap()
    };
    let blobs = |layout: Layout| layout.blobs().map(|b| b.id).collect::<Vec<_>>();
    let (old, new) = (
        blobs(layout(first.version)),
        blobs(layout(copied.record.version)),
    );
    assert!(old.iter().all(|b| !new.contains(b)), "{old:?} {new:?}");
    // The new version goes for good; the old one still reads.
    s.delete_version("b", "k", VersionRef::Id(copied.record.version))
        .await
        .unwrap();
    reclaim_all(s).await;
    assert_eq!(get(s, "k").await, data);
}

#[tokio::test]
async fn fsck_quarantines_one_damaged_version_and_hides_a_damaged_current_one() {
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
    enable(s).await;
    let bucket = s.bucket("b").unwrap();
    let data: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i; 200_000]).collect();
    let mut versions = Vec::new();
    for d in &data {
        versions.push(put(s, "k", d, None).await);
    }
    let blob_of = |version: u128| {
        s.meta()
            .version_numbered(bucket.id, "k", version)
            .unwrap()
            .unwrap()
            .layout
            .unwrap()
            .blobs()
            .next()
            .unwrap()
            .id
    };
    // The middle (noncurrent) version loses its bytes: it alone goes.
    locals[0].remove(blob_of(versions[1].version)).unwrap();
    let report = s
        .fsck(FsckOptions {
            deep: false,
            repair: true,
        })
        .await
        .unwrap();
    assert_eq!(report.findings.len(), 1, "{:#?}", report.findings);
    assert!(report.findings[0].repair.as_ref().unwrap().ok);
    // The finding names the version, not just its key.
    assert_eq!(
        report.findings[0].version_id,
        Some(crate::objects::version_id(&versions[1]))
    );
    assert_eq!(get(s, "k").await, data[2]);
    assert_eq!(read(s, "k", id(&versions[0])).await, data[0]);
    assert!(
        s.meta()
            .version_numbered(bucket.id, "k", versions[1].version)
            .unwrap()
            .is_none()
    );
    // The current one loses its bytes: it goes as if deleted, a delete marker on top, and
    // the older version stays noncurrent instead of being served as current.
    locals[0].remove(blob_of(versions[2].version)).unwrap();
    s.fsck(FsckOptions {
        deep: false,
        repair: true,
    })
    .await
    .unwrap();
    let marker = s.meta().latest_delete_marker(bucket.id, "k").unwrap();
    assert!(marker.is_some_and(|m| m.version > versions[2].version));
    assert_eq!(read(s, "k", id(&versions[0])).await, data[0]);
    let usage = s.meta().usage(bucket.id).unwrap();
    assert_eq!((usage.bytes, usage.objects), (200_000, 1));
    let clean = s.fsck(FsckOptions::default()).await.unwrap();
    assert!(clean.findings.is_empty(), "{:#?}", clean.findings);
}

#[tokio::test]
async fn appends_and_renames_are_refused_once_a_bucket_is_versioned() {
    let t = service_with(None).await;
    let s = &t.service;
    put(s, "a", b"abc", None).await;
    s.set_bucket_versioning("b", Versioning::Suspended)
        .await
        .unwrap();
    let append = s
        .append_object(
            super::PutObject {
                bucket: "b".into(),
                key: "a".into(),
                body: body(b"def"),
                content_length: Some(3),
                content_md5: None,
                checksum: ChecksumInput::default(),
                meta: NewObjectMeta::default(),
                owner: "me".into(),
                precondition: Precondition::None,
            },
            3,
        )
        .await;
    assert!(matches!(append, Err(ObjectError::InvalidRequest(_))));
    let rename = s
        .rename_object(super::RenameObject {
            bucket: "b".into(),
            key: "z".into(),
            source_key: "a".into(),
            ..super::RenameObject::default()
        })
        .await;
    assert!(matches!(rename, Err(ObjectError::InvalidRequest(_))));
    assert_eq!(get(s, "a").await, b"abc");
    // And versioning never goes back.
    assert!(
        s.set_bucket_versioning("b", Versioning::Unversioned)
            .await
            .is_err()
    );
}
