//! An object service on a temporary directory, for unit tests of the object layer.

use std::sync::Arc;

use bytes::Bytes;
use vmgw_tiering::{LocalTier, LocalTierOptions, Tier};

use super::{
    ByteStream, ChecksumInput, GetObject, Limits, NewObjectMeta, ObjectService, PutObject, Tiers,
};
use crate::meta::{MetaStore, Precondition, RedbOptions, RedbStore};

pub struct TestService {
    pub service: Arc<ObjectService>,
    /// The service's metadata store, for tests that need more than the trait.
    pub store: Arc<RedbStore>,
    /// Keeps the service's files alive for the test.
    _dir: Option<tempfile::TempDir>,
}

/// A service with local tiers `ssd` and `hdd` (or the given tiers) and a bucket `b`.
pub async fn service_with(tiers: Option<Vec<Arc<dyn Tier>>>) -> TestService {
    service_with_watermarks(tiers, &[]).await
}

/// [`service_with`], with capacity limits for some tiers.
pub async fn service_with_watermarks(
    tiers: Option<Vec<Arc<dyn Tier>>>,
    watermarks: &[(&str, super::Watermarks)],
) -> TestService {
    let dir = tempfile::tempdir().unwrap();
    let mut t = build(dir.path(), tiers, watermarks).await;
    t._dir = Some(dir);
    t
}

/// [`service_with`] keeping its files in `dir` (which outlives the service).
pub async fn service_on(dir: &std::path::Path) -> TestService {
    build(dir, None, &[]).await
}

async fn build(
    dir: &std::path::Path,
    tiers: Option<Vec<Arc<dyn Tier>>>,
    watermarks: &[(&str, super::Watermarks)],
) -> TestService {
    let meta = Arc::new(RedbStore::open(&dir.join("meta.redb"), &RedbOptions::default()).unwrap());
    let tiers = tiers.unwrap_or_else(|| {
        ["ssd", "hdd"]
            .into_iter()
            .map(|name| {
                Arc::new(
                    LocalTier::open(name, dir.join(name), LocalTierOptions::default()).unwrap(),
                ) as Arc<dyn Tier>
            })
            .collect()
    });
    let names: Vec<String> = tiers.iter().map(|t| t.name().to_owned()).collect();
    let watermarks = watermarks
        .iter()
        .map(|(name, w)| ((*name).to_owned(), *w))
        .collect();
    let tiers =
        Tiers::open(tiers, &super::default_class_map(&names), &watermarks).expect("open tiers");
    let service = Arc::new(ObjectService::new(
        Arc::clone(&meta) as Arc<dyn MetaStore>,
        tiers,
        Limits::default(),
    ));
    service.create_bucket("b", "us-east-1", "me").await.unwrap();
    TestService {
        service,
        store: meta,
        _dir: None,
    }
}

pub fn body(data: &[u8]) -> ByteStream {
    let frames: Vec<Result<Bytes, super::BodyError>> = data
        .chunks(100_000)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Box::pin(futures::stream::iter(frames))
}

pub async fn put(
    service: &ObjectService,
    key: &str,
    data: &[u8],
    class: Option<&str>,
) -> crate::meta::ObjectRecord {
    service
        .put_object(PutObject {
            bucket: "b".into(),
            key: key.into(),
            body: body(data),
            content_length: Some(data.len() as u64),
            content_md5: None,
            checksum: ChecksumInput::default(),
            meta: NewObjectMeta {
                storage_class: class.map(str::to_owned),
                ..NewObjectMeta::default()
            },
            owner: "me".into(),
            precondition: Precondition::None,
        })
        .await
        .unwrap()
}

pub async fn get(service: &ObjectService, key: &str) -> Vec<u8> {
    use futures::StreamExt;
    let mut out = service
        .get_object(GetObject {
            bucket: "b".into(),
            key: key.into(),
            version: None,
            conditions: super::Conditions::default(),
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
