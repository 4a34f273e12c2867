//! Versioning in the metadata store against a pure reference model: random sequences of
//! PUTs, deletes with and without version ids and versioning changes, after which the
//! store's ListObjectVersions (paged with every small page size, with and without a
//! delimiter), lookups by version, listing of current objects and usage must be exactly
//! what the model says S3 would show.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

/// One version in the model.
#[derive(Debug, Clone, PartialEq, Eq)]
struct V {
    version: u128,
    versioned: bool,
    marker: bool,
    size: u64,
}

/// What S3 would hold: each key's versions, newest first.
#[derive(Default)]
struct Model {
    versioning: Versioning,
    keys: BTreeMap<String, Vec<V>>,
}

impl Model {
    /// A write that replaces the `null` version is followed by one that adds a version, so
    /// the key never ends up without versions here.
    fn drop_null(&mut self, key: &str) {
        if let Some(versions) = self.keys.get_mut(key) {
            versions.retain(|v| v.versioned);
        }
    }

    fn put(&mut self, key: &str, v: V) {
        if !v.versioned {
            self.drop_null(key);
        }
        self.keys.entry(key.to_owned()).or_default().insert(0, v);
    }

    fn delete(&mut self, key: &str, marker: Option<V>) {
        match marker {
            None => {
                // Unversioned: the only version goes.
                self.keys.remove(key);
            }
            Some(marker) => self.put(key, marker),
        }
    }

    fn delete_version(&mut self, key: &str, named: VersionRef) {
        if let Some(versions) = self.keys.get_mut(key) {
            versions.retain(|v| match named {
                VersionRef::Null => v.versioned,
                VersionRef::Id(id) => !(v.versioned && v.version == id),
            });
            if versions.is_empty() {
                self.keys.remove(key);
            }
        }
    }

    fn find(&self, key: &str, named: VersionRef) -> Option<(&V, bool)> {
        let versions = self.keys.get(key)?;
        versions
            .iter()
            .enumerate()
            .find(|(_, v)| match named {
                VersionRef::Null => !v.versioned,
                VersionRef::Id(id) => v.versioned && v.version == id,
            })
            .map(|(i, v)| (v, i == 0 && !v.marker))
    }

    fn usage(&self) -> Usage {
        let mut usage = Usage::default();
        for v in self.keys.values().flatten().filter(|v| !v.marker) {
            usage.bytes += v.size;
            usage.objects += 1;
        }
        usage
    }

    /// What ListObjectVersions returns whole: versions (key, version, latest) and common
    /// prefixes, in order.
    fn listing(&self, prefix: &str, delimiter: Option<&str>) -> Vec<Item> {
        let mut out = Vec::new();
        for (key, versions) in &self.keys {
            let Some(rest) = key.strip_prefix(prefix) else {
                continue;
            };
            if let Some(d) = delimiter
                && let Some(pos) = rest.find(d)
            {
                let cp = format!("{prefix}{}", &rest[..pos + d.len()]);
                if out.last() != Some(&Item::Prefix(cp.clone())) {
                    out.push(Item::Prefix(cp));
                }
                continue;
            }
            for (i, v) in versions.iter().enumerate() {
                out.push(Item::Version {
                    key: key.clone(),
                    version: v.version,
                    versioned: v.versioned,
                    marker: v.marker,
                    latest: i == 0,
                });
            }
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Prefix(String),
    Version {
        key: String,
        version: u128,
        versioned: bool,
        marker: bool,
        latest: bool,
    },
}

const KEYS: &[&str] = &["a", "a/b", "a/c", "a\u{0}", "ab", "b", "b/x/y", "c"];

fn record(version: u128, size: u64) -> ObjectRecord {
    let mut record = ObjectRecord::delete_marker(version, false, 1, "me".into());
    record.delete_marker = false;
    record.size = size;
    record.etag = format!("{size:032x}");
    record
}

/// Walks the store's listing page by page, `max` entries at a time.
fn walk(store: &RedbStore, prefix: &str, delimiter: Option<&str>, max: usize) -> Vec<Item> {
    let mut out = Vec::new();
    let mut marker: Option<VersionMarker> = None;
    for _ in 0..10_000 {
        let page = store
            .list_versions(&VersionQuery {
                bucket_id: 1,
                prefix: prefix.to_owned(),
                delimiter: delimiter.map(str::to_owned),
                key_marker: marker.as_ref().map(|m| m.key.clone()),
                version_marker: marker.as_ref().and_then(|m| m.version),
                max_keys: max,
            })
            .unwrap();
        assert!(page.entries.len() + page.common_prefixes.len() <= max);
        // A page holds its prefixes and versions interleaved; put them back in order by
        // where they sort (a prefix sorts at its text, before the keys under it).
        let mut items: Vec<(String, u8, Item)> = page
            .entries
            .iter()
            .map(|e| {
                (
                    e.key.clone(),
                    1,
                    Item::Version {
                        key: e.key.clone(),
                        version: e.version.version,
                        versioned: e.version.versioned,
                        marker: e.version.delete_marker,
                        latest: e.is_latest,
                    },
                )
            })
            .collect();
        items.extend(
            page.common_prefixes
                .iter()
                .map(|p| (p.clone(), 0, Item::Prefix(p.clone()))),
        );
        // Stable: the versions of one key keep their order, newest first.
        items.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()).then(a.1.cmp(&b.1)));
        out.extend(items.into_iter().map(|(_, _, item)| item));
        if !page.truncated {
            return out;
        }
        marker = page.last;
        assert!(marker.is_some(), "a truncated page says where it ended");
    }
    panic!("the listing does not end");
}

async fn apply(store: &RedbStore, op: WriteOp) -> Result<WriteOutcome, MetaError> {
    store.apply(op).await
}

async fn run(seed: u64, steps: usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("meta.redb"), &RedbOptions::default()).unwrap();
    let bucket = BucketRecord {
        id: 0,
        name: "b".into(),
        created_ms: 0,
        region: "us-east-1".into(),
        owner: "admin".into(),
        versioning: Versioning::Unversioned,
    };
    apply(&store, WriteOp::CreateBucket { record: bucket })
        .await
        .unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut model = Model::default();
    let mut next = 1000u128 << 64;
    let mut log = Vec::new();
    for _ in 0..steps {
        let key = KEYS[rng.random_range(0..KEYS.len())];
        // Mostly fresh versions; sometimes one taken before another write committed.
        next += 1 + rng.random_range(0..3);
        let version = if rng.random_bool(0.1) {
            next - 50
        } else {
            next
        };
        match rng.random_range(0..100) {
            0..=44 => {
                let size = rng.random_range(0..1000);
                let out = apply(
                    &store,
                    WriteOp::PutObject {
                        bucket: "b".into(),
                        bucket_id: 1,
                        key: key.into(),
                        record: record(version, size),
                        layout: Layout::Inline {
                            data: Vec::new(),
                            crc32c: 0,
                        },
                        precondition: Precondition::None,
                    },
                )
                .await
                .unwrap();
                let WriteOutcome::ObjectPut { record, .. } = out else {
                    panic!("{out:?}")
                };
                assert_eq!(record.versioned, model.versioning == Versioning::Enabled);
                log.push(format!("put {key:?} {:x}", record.version));
                model.put(
                    key,
                    V {
                        version: record.version,
                        versioned: record.versioned,
                        marker: false,
                        size,
                    },
                );
            }
            45..=69 => {
                let out = apply(
                    &store,
                    WriteOp::DeleteObject {
                        bucket: "b".into(),
                        bucket_id: 1,
                        key: key.into(),
                        marker: NewMarker {
                            version,
                            modified_ms: 2,
                            owner: "me".into(),
                        },
                    },
                )
                .await
                .unwrap();
                let WriteOutcome::ObjectDeleted { marker, .. } = out else {
                    panic!("{out:?}")
                };
                log.push(format!("delete {key:?}"));
                model.delete(
                    key,
                    marker.map(|m| V {
                        version: m.version,
                        versioned: m.versioned,
                        marker: true,
                        size: 0,
                    }),
                );
            }
            70..=89 => {
                // An existing version, the null one, or one that does not exist.
                let existing: Vec<VersionRef> = model
                    .keys
                    .get(key)
                    .into_iter()
                    .flatten()
                    .map(|v| {
                        if v.versioned {
                            VersionRef::Id(v.version)
                        } else {
                            VersionRef::Null
                        }
                    })
                    .collect();
                let named = match rng.random_range(0..4) {
                    0 => VersionRef::Null,
                    1 => VersionRef::Id(next + 7),
                    _ if existing.is_empty() => VersionRef::Null,
                    _ => existing[rng.random_range(0..existing.len())],
                };
                let out = apply(
                    &store,
                    WriteOp::DeleteVersion {
                        bucket_id: 1,
                        key: key.into(),
                        version: named,
                    },
                )
                .await
                .unwrap();
                let WriteOutcome::VersionDeleted { removed } = out else {
                    panic!("{out:?}")
                };
                assert_eq!(
                    removed.is_some(),
                    model.find(key, named).is_some(),
                    "delete {named:?} of {key:?}"
                );
                log.push(format!("delete version {key:?} {named:?}"));
                model.delete_version(key, named);
            }
            _ => {
                let versioning = if rng.random_bool(0.6) {
                    Versioning::Enabled
                } else {
                    Versioning::Suspended
                };
                apply(
                    &store,
                    WriteOp::SetVersioning {
                        bucket: "b".into(),
                        bucket_id: 1,
                        versioning,
                    },
                )
                .await
                .unwrap();
                log.push(format!("versioning {versioning:?}"));
                model.versioning = versioning;
            }
        }
        check(&store, &model, &mut rng, &log);
    }
    store.close().await;
}

fn check(store: &RedbStore, model: &Model, rng: &mut StdRng, log: &[String]) {
    let context = || format!("after:\n{}", log.join("\n"));
    // Whole listings, one page size at random per step (all of them over the steps).
    let (prefix, delimiter) =
        [("", None), ("", Some("/")), ("a", Some("/")), ("b/", None)][rng.random_range(0..4)];
    let max = rng.random_range(1..=4);
    assert_eq!(
        walk(store, prefix, delimiter, max),
        model.listing(prefix, delimiter),
        "prefix {prefix:?} delimiter {delimiter:?} max {max}; {}",
        context()
    );
    // Current objects: exactly the keys whose newest version holds data.
    let page = store
        .list_objects(&ListQuery {
            bucket_id: 1,
            max_keys: 1000,
            ..ListQuery::default()
        })
        .unwrap();
    let listed: Vec<&str> = page.objects.iter().map(|(k, _)| k.as_str()).collect();
    let expected: Vec<&str> = model
        .keys
        .iter()
        .filter(|(_, v)| v.first().is_some_and(|v| !v.marker))
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(listed, expected, "{}", context());
    // Every version by its name, and the delete marker on top.
    for key in KEYS {
        let versions = model.keys.get(*key).cloned().unwrap_or_default();
        for v in &versions {
            let named = if v.versioned {
                VersionRef::Id(v.version)
            } else {
                VersionRef::Null
            };
            let found = store.version(1, key, named).unwrap().unwrap();
            let (_, current) = model.find(key, named).unwrap();
            assert_eq!(
                (
                    found.record.version,
                    found.record.delete_marker,
                    found.current
                ),
                (v.version, v.marker, current),
                "{key:?} {named:?}; {}",
                context()
            );
            assert_eq!(found.layout.is_some(), !v.marker);
        }
        if !versions.iter().any(|v| !v.versioned) {
            assert!(store.version(1, key, VersionRef::Null).unwrap().is_none());
        }
        let on_top = store.latest_delete_marker(1, key).unwrap();
        assert_eq!(
            on_top.map(|m| m.version),
            versions.first().filter(|v| v.marker).map(|v| v.version),
            "{key:?}; {}",
            context()
        );
    }
    assert_eq!(store.usage(1).unwrap(), model.usage(), "{}", context());
}

#[tokio::test]
async fn the_store_behaves_as_the_model_over_random_histories() {
    for seed in 0..24 {
        run(seed, 120).await;
    }
}

#[tokio::test]
async fn a_bucket_with_versions_is_not_empty_and_cannot_be_unversioned() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("meta.redb"), &RedbOptions::default()).unwrap();
    let record = BucketRecord {
        id: 0,
        name: "b".into(),
        created_ms: 0,
        region: "us-east-1".into(),
        owner: "admin".into(),
        versioning: Versioning::Unversioned,
    };
    store.apply(WriteOp::CreateBucket { record }).await.unwrap();
    let set = |versioning| WriteOp::SetVersioning {
        bucket: "b".into(),
        bucket_id: 1,
        versioning,
    };
    store.apply(set(Versioning::Enabled)).await.unwrap();
    assert!(matches!(
        store.apply(set(Versioning::Unversioned)).await,
        Err(MetaError::VersionedBucket)
    ));
    // A delete marker alone keeps the bucket.
    store
        .apply(WriteOp::DeleteObject {
            bucket: "b".into(),
            bucket_id: 1,
            key: "k".into(),
            marker: NewMarker {
                version: 5,
                modified_ms: 1,
                owner: "me".into(),
            },
        })
        .await
        .unwrap();
    assert!(matches!(
        store
            .apply(WriteOp::DeleteBucket { name: "b".into() })
            .await,
        Err(MetaError::BucketNotEmpty)
    ));
    store.close().await;
}
