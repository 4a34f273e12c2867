//! `vmgw fsck` against a running gateway with local tiers and a remote tier on moto: real
//! damage done to files on disk and to objects in moto's bucket is found (each kind exactly,
//! by tier, blob and object), repaired (orphans deleted, lost or damaged objects
//! quarantined with their bytes kept in lost+found, a damaged remote blob written again
//! from its intact cached copy, a damaged cached copy dropped), and a second fsck is clean.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::StorageClass;
use vmgw_tests::{Gateway, RemoteS3, get_bytes, pattern, three_tiers_config, vmgw_bin};

const REMOTE_BUCKET: &str = "vmgw-fsck";
const PREFIX: &str = "host1/";
const KEY_HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// A gateway with ssd, hdd and a compressed, sealed remote tier; `extra` config appended.
fn start_gateway(temp: &Path, remote: &RemoteS3, extra: &str) -> Gateway {
    let key_file = temp.join("tier.key");
    std::fs::write(&key_file, KEY_HEX).unwrap();
    let tiers = three_tiers_config(
        &remote.endpoint(),
        temp,
        REMOTE_BUCKET,
        &format!("prefix = \"{PREFIX}\"\ncompression = 3\nencrypt = true\n"),
    );
    Gateway::start_with_config(
        temp,
        &format!(
            "{tiers}\n[[encryption.keys]]\nid = 1\nfile = \"{}\"\n{extra}\n",
            key_file.display()
        ),
    )
}

fn vmgw(gw: &Gateway, args: &[&str]) -> Output {
    Command::new(vmgw_bin())
        .args(args)
        .arg("--data-dir")
        .arg(&gw.data_dir)
        .output()
        .unwrap()
}

/// Runs `vmgw fsck ARGS --json`; returns its exit success and the report.
fn fsck(gw: &Gateway, args: &[&str]) -> (bool, serde_json::Value) {
    let mut all = vec!["fsck", "--json"];
    all.extend_from_slice(args);
    let out = vmgw(gw, &all);
    let text = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "fsck {args:?} printed no report ({e}): {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), report)
}

/// (kind, tier, blob, bucket, key) of every finding.
type Found = (String, String, String, String, String);

fn findings(report: &serde_json::Value) -> BTreeSet<Found> {
    let field = |f: &serde_json::Value, name: &str| f[name].as_str().unwrap_or("").to_owned();
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                field(f, "kind"),
                field(f, "tier"),
                field(f, "blob"),
                field(f, "bucket"),
                field(f, "key"),
            )
        })
        .collect()
}

fn found(kind: &str, tier: &str, blob: &str, object: Option<&str>) -> Found {
    let (bucket, key) = object.map_or((String::new(), String::new()), |k| {
        ("fsck".to_owned(), k.to_owned())
    });
    (kind.into(), tier.into(), blob.into(), bucket, key)
}

/// The tier and blob id of a single-blob object.
fn blob_of(gw: &Gateway, key: &str) -> (String, String) {
    let out = vmgw(gw, &["object", "where", "fsck", key, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let placement: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let blob = &placement["blobs"][0];
    (
        blob["tier"].as_str().unwrap().to_owned(),
        blob["id"].as_str().unwrap().to_owned(),
    )
}

fn local_path(gw: &Gateway, tier: &str, id: &str) -> PathBuf {
    gw.data_dir.join("tiers").join(tier).join(&id[..2]).join(id)
}

fn random_id() -> String {
    let bytes: [u8; 16] = rand::random();
    hex_simd::encode_to_string(bytes, hex_simd::AsciiCase::Lower)
}

async fn put(s3: &aws_sdk_s3::Client, key: &str, data: &[u8], class: Option<StorageClass>) {
    s3.put_object()
        .bucket("fsck")
        .key(key)
        .set_storage_class(class)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap();
}

async fn exists(s3: &aws_sdk_s3::Client, key: &str) -> bool {
    match s3.head_object().bucket("fsck").key(key).send().await {
        Ok(_) => true,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => false,
        Err(e) => panic!("HEAD {key}: {e:?}"),
    }
}

async fn listed(s3: &aws_sdk_s3::Client) -> Vec<String> {
    let page = s3.list_objects_v2().bucket("fsck").send().await.unwrap();
    page.contents()
        .iter()
        .map(|o| o.key().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsck_finds_and_repairs_orphans_missing_data_and_corrupt_chunks() {
    let remote = RemoteS3::start_with_bucket(REMOTE_BUCKET).await;
    let temp = tempfile::tempdir().unwrap();
    let gw = start_gateway(temp.path(), &remote, "");
    let s3 = gw.sdk();
    s3.create_bucket().bucket("fsck").send().await.unwrap();
    let bodies = [
        ("hot/corrupt", pattern(3_000_000, 1), None),
        ("hot/intact", pattern(2_000_000, 2), None),
        (
            "warm/missing",
            pattern(2_000_000, 3),
            Some(StorageClass::StandardIa),
        ),
        (
            "cold/remote",
            pattern(2_500_000, 4),
            Some(StorageClass::Glacier),
        ),
        ("small", pattern(1_000, 5), None),
    ];
    for (key, data, class) in &bodies {
        put(&s3, key, data, class.clone()).await;
    }

    let (ok, clean) = fsck(&gw, &["--deep"]);
    assert!(ok, "{clean}");
    assert_eq!(clean["findings"].as_array().unwrap().len(), 0, "{clean}");
    assert_eq!(clean["objects"], 5);
    assert_eq!(clean["blobs"], 4, "the small object is inline");
    assert_eq!(clean["bytes_verified"], 9_500_000);

    // An orphan file on a local tier: a blob no metadata knows.
    let local_orphan = random_id();
    let orphan_path = local_path(&gw, "ssd", &local_orphan);
    std::fs::write(&orphan_path, b"the remains of an interrupted write").unwrap();
    // An orphan on the remote tier, in one of its shards.
    let remote_orphan = random_id();
    remote
        .sdk()
        .put_object()
        .bucket(REMOTE_BUCKET)
        .key(format!("{PREFIX}{}/{remote_orphan}", &remote_orphan[..2]))
        .body(ByteStream::from_static(b"left behind"))
        .send()
        .await
        .unwrap();
    // A missing data file.
    let (missing_tier, missing) = blob_of(&gw, "warm/missing");
    assert_eq!(missing_tier, "hdd");
    std::fs::remove_file(local_path(&gw, "hdd", &missing)).unwrap();
    // A corrupted chunk: one flipped bit in the middle of a 3 MB blob (its second chunk).
    let (_, corrupt) = blob_of(&gw, "hot/corrupt");
    let corrupt_path = local_path(&gw, "ssd", &corrupt);
    let mut damaged = std::fs::read(&corrupt_path).unwrap();
    damaged[1_500_000] ^= 0x04;
    std::fs::write(&corrupt_path, &damaged).unwrap();

    let expected: BTreeSet<Found> = [
        found("orphan", "ssd", &local_orphan, None),
        found("orphan", "remote", &remote_orphan, None),
        found("missing_data", "hdd", &missing, Some("warm/missing")),
    ]
    .into();
    let (ok, shallow) = fsck(&gw, &[]);
    assert!(!ok, "problems found: a non-zero exit");
    assert_eq!(findings(&shallow), expected, "{shallow:#}");

    let (ok, deep) = fsck(&gw, &["--deep"]);
    assert!(!ok);
    let mut expected_deep = expected.clone();
    expected_deep.insert(found(
        "checksum_mismatch",
        "ssd",
        &corrupt,
        Some("hot/corrupt"),
    ));
    assert_eq!(findings(&deep), expected_deep, "{deep:#}");
    let detail = deep["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "checksum_mismatch")
        .unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(detail.contains("chunk 1"), "{detail}");

    let (ok, repaired) = fsck(&gw, &["--deep", "--repair"]);
    assert!(ok, "every finding repaired: {repaired:#}");
    assert_eq!(findings(&repaired), expected_deep);
    let mut actions: Vec<(String, String, bool)> = repaired["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_owned(),
                f["repair"]["action"].as_str().unwrap().to_owned(),
                f["repair"]["ok"].as_bool().unwrap(),
            )
        })
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        vec![
            ("checksum_mismatch".into(), "quarantined".into(), true),
            ("missing_data".into(), "quarantined".into(), true),
            ("orphan".into(), "deleted".into(), true),
            ("orphan".into(), "deleted".into(), true),
        ]
    );

    // Orphans are gone, on disk and in the remote bucket.
    assert!(!orphan_path.exists());
    let remote_keys: Vec<String> = remote
        .objects(REMOTE_BUCKET)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(
        !remote_keys.iter().any(|k| k.contains(&remote_orphan)),
        "{remote_keys:?}"
    );
    // The quarantined objects are out of the namespace: no HEAD, no listing.
    assert!(!exists(&s3, "hot/corrupt").await);
    assert!(!exists(&s3, "warm/missing").await);
    assert_eq!(listed(&s3).await, ["cold/remote", "hot/intact", "small"]);
    // The damaged bytes are kept, exactly as they were, with a note naming the object.
    let lost_found = gw.data_dir.join("tiers/ssd/lost+found");
    assert_eq!(std::fs::read(lost_found.join(&corrupt)).unwrap(), damaged);
    let note = std::fs::read_to_string(lost_found.join(format!("{corrupt}.note"))).unwrap();
    assert!(
        note.contains("\"bucket\": \"fsck\"") && note.contains("\"key\": \"hot/corrupt\""),
        "{note}"
    );
    // Everything else reads back byte for byte.
    for (key, data, _) in &bodies {
        if ["hot/intact", "cold/remote", "small"].contains(key) {
            assert!(get_bytes(&s3, "fsck", key).await == *data, "{key}");
        }
    }

    let (ok, after) = fsck(&gw, &["--deep"]);
    assert!(ok, "{after:#}");
    assert_eq!(after["findings"].as_array().unwrap().len(), 0, "{after:#}");
    assert_eq!(after["objects"], 3);
    let text = vmgw(&gw, &["fsck"]);
    assert!(text.status.success());
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("clean: no problems found"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
}

/// The one file of the remote tier's local read cache.
fn cached_file(gw: &Gateway) -> Option<PathBuf> {
    let root = gw.data_dir.join("cache/remote");
    let mut files = Vec::new();
    for shard in std::fs::read_dir(&root).ok()? {
        for entry in std::fs::read_dir(shard.ok()?.path()).ok()? {
            files.push(entry.ok()?.path());
        }
    }
    assert!(files.len() <= 1, "{files:?}");
    files.pop()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_remote_blob_comes_back_from_its_cached_copy_and_a_damaged_copy_goes() {
    let remote = RemoteS3::start_with_bucket(REMOTE_BUCKET).await;
    let temp = tempfile::tempdir().unwrap();
    let gw = start_gateway(
        temp.path(),
        &remote,
        "[read_promotion]\npolicy = \"first-read\"\n",
    );
    let s3 = gw.sdk();
    s3.create_bucket().bucket("fsck").send().await.unwrap();
    let data = pattern(3_000_000, 9);
    put(&s3, "cold/cached", &data, Some(StorageClass::Glacier)).await;
    let (tier, blob) = blob_of(&gw, "cold/cached");
    assert_eq!(tier, "remote");
    // One read promotes it: a verified local copy appears in the cache.
    assert!(get_bytes(&s3, "fsck", "cold/cached").await == data);
    let deadline = Instant::now() + Duration::from_secs(20);
    let cached = loop {
        if let Some(file) = cached_file(&gw) {
            break file;
        }
        assert!(Instant::now() < deadline, "never cached");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // Damage the remote object (its metadata, the sealed descriptor, kept).
    let key = format!("{PREFIX}{}/{blob}", &blob[..2]);
    let head = remote
        .sdk()
        .head_object()
        .bucket(REMOTE_BUCKET)
        .key(&key)
        .send()
        .await
        .unwrap();
    let mut stored = remote.object(REMOTE_BUCKET, &key).await;
    let middle = stored.len() / 2;
    stored[middle] ^= 0x01;
    remote
        .sdk()
        .put_object()
        .bucket(REMOTE_BUCKET)
        .key(&key)
        .set_metadata(head.metadata().cloned())
        .body(ByteStream::from(stored.clone()))
        .send()
        .await
        .unwrap();

    let (ok, deep) = fsck(&gw, &["--deep"]);
    assert!(!ok);
    assert_eq!(
        findings(&deep),
        [found(
            "checksum_mismatch",
            "remote",
            &blob,
            Some("cold/cached")
        )]
        .into(),
        "{deep:#}"
    );
    let (ok, repaired) = fsck(&gw, &["--deep", "--repair"]);
    assert!(ok, "{repaired:#}");
    assert_eq!(
        repaired["findings"][0]["repair"]["action"],
        "restored_from_cache"
    );
    // The remote object verifies again: rewritten, not the damaged bytes.
    assert_ne!(remote.object(REMOTE_BUCKET, &key).await, stored);
    let (ok, clean) = fsck(&gw, &["--deep"]);
    assert!(ok, "{clean:#}");
    assert_eq!(clean["findings"].as_array().unwrap().len(), 0, "{clean:#}");

    // Now the cached copy is damaged while the remote is intact: the copy goes.
    let mut copy = std::fs::read(&cached).unwrap();
    let at = copy.len() / 2;
    copy[at] ^= 0x01;
    std::fs::write(&cached, &copy).unwrap();
    let (ok, deep) = fsck(&gw, &["--deep"]);
    assert!(!ok);
    assert_eq!(
        findings(&deep),
        [found(
            "damaged_cached_copy",
            "remote",
            &blob,
            Some("cold/cached")
        )]
        .into(),
        "{deep:#}"
    );
    let (ok, repaired) = fsck(&gw, &["--deep", "--repair"]);
    assert!(ok, "{repaired:#}");
    assert_eq!(
        repaired["findings"][0]["repair"]["action"],
        "dropped_cached_copy"
    );
    assert!(!cached.exists(), "the damaged copy is deleted");
    assert!(get_bytes(&s3, "fsck", "cold/cached").await == data);
    let (ok, clean) = fsck(&gw, &["--deep"]);
    assert!(ok, "{clean:#}");
}
