//! The lifecycle schedule of noncurrent versions and lone delete markers in the metadata
//! store: which keys are indexed under which moment as versions come and go, that a
//! removal's commit re-checks the rules, keeps usage exact and queues the blobs, and that a
//! rule change's backfill finds keys that only `versions` holds.

use vmgw_lifecycle::{NoncurrentExpiration, Rule};
use vmgw_tiering::DataId;

use super::*;

/// Days of one second, as `[lifecycle] day_seconds = 1` gives.
const DAY: i64 = 1000;

async fn store(dir: &std::path::Path) -> RedbStore {
    let options = RedbOptions {
        lifecycle_day_ms: DAY,
        ..RedbOptions::default()
    };
    let store = RedbStore::open(&dir.join("meta.redb"), &options).unwrap();
    let record = BucketRecord {
        id: 0,
        name: "b".into(),
        created_ms: 0,
        region: "us-east-1".into(),
        owner: "admin".into(),
        versioning: Versioning::Unversioned,
    };
    store.apply(WriteOp::CreateBucket { record }).await.unwrap();
    store
        .apply(WriteOp::SetVersioning {
            bucket: "b".into(),
            bucket_id: 1,
            versioning: Versioning::Enabled,
        })
        .await
        .unwrap();
    store
}

async fn set_rules(store: &RedbStore, rules: &[Rule]) {
    store
        .apply(WriteOp::SetBucketConfig {
            bucket: "b".into(),
            bucket_id: 1,
            kind: ConfigKind::Lifecycle,
            value: Some(rmp_serde::to_vec_named(rules).unwrap()),
        })
        .await
        .unwrap();
}

fn noncurrent_rule(days: u32, newer: Option<u32>, markers: bool) -> Rule {
    Rule {
        id: "nc".into(),
        enabled: true,
        noncurrent_expiration: Some(NoncurrentExpiration {
            days,
            newer_versions: newer,
        }),
        expired_object_delete_marker: markers,
        ..Rule::default()
    }
}

/// Puts a version of `key` written at `at_ms`, its bytes in blob `version` on `ssd`.
async fn put(store: &RedbStore, key: &str, version: u128, at_ms: i64) {
    let mut record = ObjectRecord::delete_marker(version, true, at_ms, "me".into());
    record.delete_marker = false;
    record.size = 100;
    record.etag = "e".into();
    let layout = Layout::Blob(BlobRef {
        id: DataId(version),
        tier: "ssd".into(),
        size: 100,
    });
    store
        .apply(WriteOp::PutObject {
            bucket: "b".into(),
            bucket_id: 1,
            key: key.into(),
            record,
            layout,
            precondition: Precondition::None,
        })
        .await
        .unwrap();
}

async fn delete(store: &RedbStore, key: &str, version: u128, at_ms: i64) {
    store
        .apply(WriteOp::DeleteObject {
            bucket: "b".into(),
            bucket_id: 1,
            key: key.into(),
            marker: NewMarker {
                version,
                modified_ms: at_ms,
                owner: "me".into(),
            },
        })
        .await
        .unwrap();
}

async fn expire(store: &RedbStore, key: &str, version: u128, now_ms: i64) -> bool {
    match store
        .apply(WriteOp::ExpireVersion {
            bucket_id: 1,
            key: key.into(),
            version,
            now_ms,
        })
        .await
    {
        Ok(WriteOutcome::VersionDeleted { removed }) => removed.is_some(),
        Err(MetaError::PreconditionFailed) => false,
        other => panic!("{other:?}"),
    }
}

/// The schedule: (moment, key), earliest first.
fn schedule(store: &RedbStore) -> Vec<(i64, String)> {
    store
        .due_objects(i64::MAX / 2, 100)
        .unwrap()
        .into_iter()
        .map(|d| (d.at_ms, d.key))
        .collect()
}

fn versions_of(store: &RedbStore, key: &str) -> Vec<u128> {
    let (current, others) = store.key_history(1, key).unwrap();
    current.iter().chain(&others).map(|r| r.version).collect()
}

#[tokio::test]
async fn noncurrent_versions_and_lone_markers_fall_due_and_go_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path()).await;
    set_rules(&store, &[noncurrent_rule(1, Some(1), true)]).await;
    put(&store, "k", 1, 100).await;
    put(&store, "k", 2, 1_500).await;
    // Version 1 is the newest noncurrent version: kept whatever its age.
    assert_eq!(schedule(&store), []);
    put(&store, "k", 3, 2_500).await;
    // Now version 2 is kept, and version 1, noncurrent since 1.5 s, is due a day later
    // rounded up to the next day boundary: at 3 s.
    assert_eq!(schedule(&store), [(3_000, "k".to_owned())]);
    assert_eq!(store.usage(1).unwrap().objects, 3);

    // The commit re-checks: not yet due, and the kept version never.
    assert!(!expire(&store, "k", 1, 2_999).await);
    assert!(!expire(&store, "k", 2, 100_000).await);
    assert!(
        !expire(&store, "k", 3, 100_000).await,
        "the current version"
    );
    assert!(expire(&store, "k", 1, 3_000).await);
    assert!(!expire(&store, "k", 1, 3_000).await, "idempotent");
    assert_eq!(versions_of(&store, "k"), [3, 2]);
    assert_eq!(
        store.usage(1).unwrap(),
        Usage {
            bytes: 200,
            objects: 2
        }
    );
    assert!(
        store
            .reclaimable(10)
            .unwrap()
            .contains(&(DataId(1), "ssd".to_owned())),
        "the removed version's blob is queued"
    );
    assert_eq!(schedule(&store), [], "nothing more is due");

    // Deleted at 5 s: version 3 becomes the newest noncurrent (kept), version 2 is now
    // second and due one day after 3 was written: at 4 s.
    delete(&store, "k", 4, 5_000).await;
    assert_eq!(schedule(&store), [(4_000, "k".to_owned())]);
    assert!(expire(&store, "k", 2, 5_000).await);
    assert_eq!(schedule(&store), []);

    // The user removes the last data version: the marker is lone, due at the next day
    // boundary after it was written.
    store
        .apply(WriteOp::DeleteVersion {
            bucket_id: 1,
            key: "k".into(),
            version: VersionRef::Id(3),
        })
        .await
        .unwrap();
    assert_eq!(schedule(&store), [(6_000, "k".to_owned())]);
    // A new write meanwhile would make it noncurrent: then it is no longer removed as lone.
    put(&store, "k", 5, 5_500).await;
    assert!(!expire(&store, "k", 4, 6_000).await);
    store
        .apply(WriteOp::DeleteVersion {
            bucket_id: 1,
            key: "k".into(),
            version: VersionRef::Id(5),
        })
        .await
        .unwrap();
    assert!(expire(&store, "k", 4, 6_000).await);
    assert!(versions_of(&store, "k").is_empty());
    assert_eq!(schedule(&store), []);
    assert_eq!(store.usage(1).unwrap(), Usage::default());
    store.close().await;
}

#[tokio::test]
async fn a_rule_change_backfills_keys_that_only_versions_hold() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path()).await;
    // a: two versions; b: deleted (marker over a version); c: a single version; d: a lone
    // marker; e: two versions.
    put(&store, "a", 1, 100).await;
    put(&store, "a", 2, 200).await;
    put(&store, "b", 3, 100).await;
    delete(&store, "b", 4, 300).await;
    put(&store, "c", 5, 100).await;
    delete(&store, "d", 6, 100).await;
    put(&store, "e", 7, 100).await;
    put(&store, "e", 8, 400).await;
    assert_eq!(schedule(&store), [], "no rules yet");
    set_rules(&store, &[noncurrent_rule(2, None, true)]).await;
    let mut steps = 0;
    loop {
        steps += 1;
        let out = store
            .apply(WriteOp::LifecycleBackfill {
                bucket_id: 1,
                limit: 1,
            })
            .await
            .unwrap();
        if matches!(out, WriteOutcome::Backfilled { done: true, .. }) {
            break;
        }
        assert!(steps < 20, "the backfill does not end");
    }
    assert!(steps > 2, "resumed in small steps ({steps})");
    assert!(store.pending_backfills().unwrap().is_empty());
    assert_eq!(
        schedule(&store),
        [
            (1_000, "d".to_owned()),
            (3_000, "a".to_owned()),
            (3_000, "b".to_owned()),
            (3_000, "e".to_owned()),
        ]
    );
    store.close().await;
}
