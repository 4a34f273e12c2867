//! Versions and crashes: every acknowledged version (noncurrent ones and delete markers
//! included) survives a clean restart and a kill -9 in the middle of concurrent writes, with
//! its id and bytes; the tiers then hold exactly the blobs of the versions present (no
//! orphan, nothing lost), and `vmgw fsck --deep` counts noncurrent versions as in use. fsck
//! also finds and repairs a damaged noncurrent version alone (named by its version id),
//! and a damaged current one by leaving a delete marker on top, so that no older version is
//! served as current in its place.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use vmgw_tests::{Gateway, GatewayOptions, md5_hex, pattern, vmgw_bin};

const B: &str = "vcrash";
const PART: usize = 5 << 20;

/// What one version of a key is: its bytes' MD5 and the blobs it occupies, or a marker.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Held {
    Data { md5: String, blobs: usize },
    Marker,
}

/// A gateway that keeps objects up to 1 KiB inline, so the test knows which versions
/// occupy blobs.
fn start(dir: &Path) -> Gateway {
    let config = dir.join("vmgw.toml");
    std::fs::write(&config, "[storage]\ninline_threshold = 1024\n").unwrap();
    Gateway::start_with(GatewayOptions {
        data_dir: Some(dir.join("data")),
        args: vec!["--config".into(), config.display().to_string()],
        ..GatewayOptions::default()
    })
}

async fn enable(s3: &Client) {
    vmgw_tests::create_versioned_bucket(s3, B).await;
}

fn blobs_of(len: usize) -> usize {
    usize::from(len > 1024)
}

async fn put(s3: &Client, key: &str, data: Vec<u8>) -> Result<(String, Held), String> {
    let held = Held::Data {
        md5: md5_hex(&data),
        blobs: blobs_of(data.len()),
    };
    let out = s3
        .put_object()
        .bucket(B)
        .key(key)
        .body(ByteStream::from(data))
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok((out.version_id().unwrap().to_owned(), held))
}

async fn multipart(s3: &Client, key: &str, parts: Vec<Vec<u8>>) -> Result<(String, Held), String> {
    let held = Held::Data {
        md5: md5_hex(&parts.concat()),
        blobs: parts.len(),
    };
    let upload = s3
        .create_multipart_upload()
        .bucket(B)
        .key(key)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let id = upload.upload_id().unwrap().to_owned();
    let mut done = Vec::new();
    for (i, part) in parts.into_iter().enumerate() {
        let number = i32::try_from(i + 1).unwrap();
        let out = s3
            .upload_part()
            .bucket(B)
            .key(key)
            .upload_id(&id)
            .part_number(number)
            .body(ByteStream::from(part))
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        done.push(
            CompletedPart::builder()
                .part_number(number)
                .e_tag(out.e_tag().unwrap())
                .build(),
        );
    }
    let out = s3
        .complete_multipart_upload()
        .bucket(B)
        .key(key)
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok((out.version_id().unwrap().to_owned(), held))
}

async fn delete(s3: &Client, key: &str) -> String {
    let out = s3.delete_object().bucket(B).key(key).send().await.unwrap();
    assert_eq!(out.delete_marker(), Some(true));
    out.version_id().unwrap().to_owned()
}

/// Every version and marker the gateway lists, per key newest first: (id, is a marker).
async fn listed(s3: &Client) -> BTreeMap<String, Vec<(String, bool)>> {
    let mut out: BTreeMap<String, Vec<(String, bool, bool)>> = BTreeMap::new();
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = s3
            .list_object_versions()
            .bucket(B)
            .max_keys(50)
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .send()
            .await
            .unwrap();
        for v in page.versions() {
            out.entry(v.key().unwrap().to_owned()).or_default().push((
                v.version_id().unwrap().to_owned(),
                false,
                v.is_latest().unwrap(),
            ));
        }
        for m in page.delete_markers() {
            out.entry(m.key().unwrap().to_owned()).or_default().push((
                m.version_id().unwrap().to_owned(),
                true,
                m.is_latest().unwrap(),
            ));
        }
        if !page.is_truncated().unwrap() {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
    }
    out.into_iter()
        .map(|(key, mut versions)| {
            // Ids sort newest first as text; only the newest is the latest.
            versions.sort();
            for (i, (id, _, latest)) in versions.iter().enumerate() {
                assert_eq!(*latest, i == 0, "{key}@{id}: IsLatest");
            }
            let versions = versions.into_iter().map(|(id, m, _)| (id, m)).collect();
            (key, versions)
        })
        .collect()
}

/// The bytes of `key` at `version`.
async fn read(s3: &Client, key: &str, version: &str) -> Vec<u8> {
    s3.get_object()
        .bucket(B)
        .key(key)
        .version_id(version)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {key}@{version}: {e:?}"))
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes()
        .to_vec()
}

/// Data files (32 hex digits) under the tiers.
fn data_files(data_dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![data_dir.join("tiers")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().unwrap().is_dir() {
                if name != "lost+found" {
                    stack.push(entry.path());
                }
            } else if name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                found.push(entry.path());
            }
        }
    }
    found
}

fn vmgw(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(vmgw_bin())
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap()
}

/// `vmgw fsck --json ARGS` against the running gateway: (exit success, report).
fn fsck(gw: &Gateway, args: &[&str]) -> (bool, serde_json::Value) {
    let mut all = vec!["fsck", "--json"];
    all.extend_from_slice(args);
    let out = vmgw(&gw.data_dir, &all);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "fsck printed no report ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), report)
}

/// Checks the bucket against what was sent: every acknowledged version is listed and reads
/// back byte for byte; every listed version is one that was sent for its key; the tiers
/// hold exactly the blobs of the listed versions; fsck finds nothing. `sent` maps a key to
/// every version sent (acknowledged or not) by content; `acked` to the acknowledged ones by
/// id.
async fn check(
    gw: &Gateway,
    what: &str,
    sent: &BTreeMap<String, Vec<Held>>,
    acked: &BTreeMap<String, BTreeMap<String, Held>>,
    bodies: &BTreeMap<String, Vec<u8>>,
) {
    let s3 = gw.sdk();
    let listing = listed(&s3).await;
    let mut blobs = 0;
    for (key, versions) in &listing {
        let key_acked = acked.get(key);
        for (id, marker) in versions {
            if let Some(held) = key_acked.and_then(|a| a.get(id)) {
                assert_eq!(*marker, *held == Held::Marker, "{what}: {key}@{id}");
            }
            if *marker {
                continue;
            }
            let data = read(&s3, key, id).await;
            let md5 = md5_hex(&data);
            let held = sent
                .get(key)
                .and_then(|s| {
                    s.iter()
                        .find(|h| matches!(h, Held::Data { md5: m, .. } if *m == md5))
                })
                .unwrap_or_else(|| panic!("{what}: {key}@{id} holds bytes no client sent"));
            if let Some(Held::Data { md5: want, .. }) = key_acked.and_then(|a| a.get(id)) {
                assert_eq!(&md5, want, "{what}: {key}@{id} changed its bytes");
                assert_eq!(data, bodies[want], "{what}: {key}@{id}");
            }
            if let Held::Data { blobs: n, .. } = held {
                blobs += n;
            }
        }
    }
    for (key, versions) in acked {
        let present: HashSet<&String> = listing
            .get(key)
            .map(|v| v.iter().map(|(id, _)| id).collect())
            .unwrap_or_default();
        for id in versions.keys() {
            assert!(
                present.contains(id),
                "{what}: acknowledged version {key}@{id} was lost"
            );
        }
    }
    // Current objects are the newest versions that are not markers.
    let current: Vec<String> = listing
        .iter()
        .filter(|(_, v)| !v[0].1)
        .map(|(k, _)| k.clone())
        .collect();
    let v2 = s3
        .list_objects_v2()
        .bucket(B)
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .map(|o| o.key().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(v2, current, "{what}: ListObjectsV2");

    // Replaced blobs of writes cut off by the kill are reclaimed in the background.
    let mut files = data_files(&gw.data_dir);
    for _ in 0..150 {
        if files.len() == blobs {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        files = data_files(&gw.data_dir);
    }
    assert_eq!(
        files.len(),
        blobs,
        "{what}: data files on the tiers vs blobs of the versions present"
    );
    let (ok, report) = fsck(gw, &["--deep"]);
    assert!(ok, "{what}: {report:#}");
    assert_eq!(
        report["findings"],
        serde_json::json!([]),
        "{what}: {report:#}"
    );
    assert_eq!(report["blobs"], blobs, "{what}: {report:#}");
}

/// The write of `key` in round `round`: a multipart upload for one key in six, an inline
/// object for one, single PUTs of 0.3 to 6 MB for the rest.
fn body_for(round: u64, i: usize) -> Vec<Vec<u8>> {
    let seed = round * 1000 + i as u64;
    match i % 6 {
        0 => vec![pattern(PART, seed), pattern(300_000, seed + 1)],
        3 => vec![pattern(700, seed)],
        _ => vec![pattern(300_000 * (i + 1), seed)],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn versions_survive_restarts_and_kill_9_and_fsck_counts_them() {
    let temp = tempfile::tempdir().unwrap();
    let mut gw = start(temp.path());
    let s3 = gw.sdk();
    enable(&s3).await;
    let mut sent: BTreeMap<String, Vec<Held>> = BTreeMap::new();
    let mut acked: BTreeMap<String, BTreeMap<String, Held>> = BTreeMap::new();
    let mut bodies: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut note = |key: &str, id: String, held: Held, data: Option<Vec<u8>>| {
        if let (Held::Data { md5, .. }, Some(data)) = (&held, data) {
            bodies.insert(md5.clone(), data);
        }
        sent.entry(key.to_owned()).or_default().push(held.clone());
        acked.entry(key.to_owned()).or_default().insert(id, held);
    };

    // Three rounds of writes over six keys, a marker on k1, a marker then a write on k2,
    // and one of k4's versions deleted for good.
    for round in 0..3u64 {
        for i in 0..6 {
            let key = format!("k{i}");
            let parts = body_for(round, i);
            let whole = parts.concat();
            let (id, held) = if parts.len() > 1 {
                multipart(&s3, &key, parts).await.unwrap()
            } else {
                put(&s3, &key, whole.clone()).await.unwrap()
            };
            note(&key, id, held, Some(whole));
        }
    }
    note("k1", delete(&s3, "k1").await, Held::Marker, None);
    note("k2", delete(&s3, "k2").await, Held::Marker, None);
    let again = pattern(50_000, 77);
    let (id, held) = put(&s3, "k2", again.clone()).await.unwrap();
    note("k2", id, held, Some(again));
    let k4: Vec<String> = acked["k4"].keys().cloned().collect();
    s3.delete_object()
        .bucket(B)
        .key("k4")
        .version_id(&k4[1])
        .send()
        .await
        .unwrap();
    acked.get_mut("k4").unwrap().remove(&k4[1]);
    check(&gw, "before any restart", &sent, &acked, &bodies).await;

    gw.restart(false);
    check(&gw, "after a clean restart", &sent, &acked, &bodies).await;

    // Concurrent writes of new versions, killed once some are acknowledged.
    for round in 3..5u64 {
        let s3 = gw.sdk();
        let plans: Vec<(String, Vec<Vec<u8>>)> = (0..12)
            .map(|i| (format!("k{}", i % 6), body_for(round, i)))
            .collect();
        for (key, parts) in &plans {
            let whole = parts.concat();
            let held = Held::Data {
                md5: md5_hex(&whole),
                blobs: if parts.len() > 1 {
                    parts.len()
                } else {
                    blobs_of(whole.len())
                },
            };
            bodies.insert(md5_hex(&whole), whole);
            sent.entry(key.clone()).or_default().push(held);
        }
        let acks = Arc::new(AtomicUsize::new(0));
        let acked_now = Arc::new(tokio::sync::Notify::new());
        let mut tasks = Vec::new();
        for (key, parts) in plans {
            let (s3, acks, acked_now) = (s3.clone(), Arc::clone(&acks), Arc::clone(&acked_now));
            tasks.push((
                key.clone(),
                tokio::spawn(async move {
                    let result = if parts.len() > 1 {
                        multipart(&s3, &key, parts).await
                    } else {
                        put(&s3, &key, parts.concat()).await
                    };
                    if result.is_ok() {
                        acks.fetch_add(1, Ordering::SeqCst);
                        acked_now.notify_one();
                    }
                    result
                }),
            ));
        }
        let kill_after = 3 + 3 * usize::try_from(round - 3).unwrap();
        while acks.load(Ordering::SeqCst) < kill_after {
            acked_now.notified().await;
        }
        gw.kill();
        let mut finished = 0;
        for (key, task) in tasks {
            if let Ok((id, held)) = task.await.unwrap() {
                finished += 1;
                acked.entry(key).or_default().insert(id, held);
            }
        }
        eprintln!("round {round}: {finished} of 12 writes acknowledged before the kill");
        assert!(
            finished < 12,
            "round {round}: the kill came after every write"
        );
        gw.restart(false);
        // Uploads cut off before completion stay pending, as in S3; abort them.
        let s3 = gw.sdk();
        let pending = s3.list_multipart_uploads().bucket(B).send().await.unwrap();
        for upload in pending.uploads() {
            s3.abort_multipart_upload()
                .bucket(B)
                .key(upload.key().unwrap())
                .upload_id(upload.upload_id().unwrap())
                .send()
                .await
                .unwrap();
        }
        check(
            &gw,
            &format!("after the kill in round {round}"),
            &sent,
            &acked,
            &bodies,
        )
        .await;
    }
}

/// The tier and blob id of the current version of a single-blob object.
fn blob_of(gw: &Gateway, key: &str) -> (String, String) {
    let out = vmgw(&gw.data_dir, &["object", "where", B, key, "--json"]);
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

/// Flips one bit in the middle of a blob file.
fn damage(gw: &Gateway, tier: &str, id: &str) {
    let path = gw.data_dir.join("tiers").join(tier).join(&id[..2]).join(id);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
}

/// (kind, key, version id, repair action) of every finding.
fn findings(report: &serde_json::Value) -> Vec<(String, String, String, String)> {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                text(&f["kind"]),
                text(&f["key"]),
                text(&f["version_id"]),
                text(&f["repair"]["action"]),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsck_repairs_a_damaged_noncurrent_version_alone() {
    let temp = tempfile::tempdir().unwrap();
    let gw = start(temp.path());
    let s3 = gw.sdk();
    enable(&s3).await;
    let data: Vec<Vec<u8>> = (0..3).map(|i| pattern(2_000_000, 50 + i)).collect();
    let mut ids = Vec::new();
    let mut blobs = Vec::new();
    for d in &data {
        ids.push(put(&s3, "k", d.clone()).await.unwrap().0);
        // A version keeps its blob when a newer one makes it noncurrent.
        blobs.push(blob_of(&gw, "k"));
    }
    put(&s3, "other", pattern(100_000, 60)).await.unwrap();
    let (ok, clean) = fsck(&gw, &["--deep"]);
    assert!(ok, "{clean:#}");
    assert_eq!(clean["blobs"], 4, "noncurrent versions' blobs are in use");
    assert_eq!(clean["bytes_verified"], 6_100_000);

    // The middle version, noncurrent, is damaged: found by its version id, removed alone.
    damage(&gw, &blobs[1].0, &blobs[1].1);
    let (ok, found) = fsck(&gw, &["--deep"]);
    assert!(!ok);
    assert_eq!(
        findings(&found),
        [(
            "checksum_mismatch".to_owned(),
            "k".to_owned(),
            ids[1].clone(),
            String::new()
        )],
        "{found:#}"
    );
    let (ok, repaired) = fsck(&gw, &["--deep", "--repair"]);
    assert!(ok, "{repaired:#}");
    assert_eq!(
        findings(&repaired),
        [(
            "checksum_mismatch".to_owned(),
            "k".to_owned(),
            ids[1].clone(),
            "quarantined".to_owned()
        )]
    );
    let note = std::fs::read_to_string(
        gw.data_dir
            .join("tiers")
            .join(&blobs[1].0)
            .join("lost+found")
            .join(format!("{}.note", blobs[1].1)),
    )
    .unwrap();
    assert!(
        note.contains(&format!("\"version_id\": \"{}\"", ids[1])),
        "{note}"
    );
    assert_eq!(read(&s3, "k", &ids[0]).await, data[0]);
    assert_eq!(read(&s3, "k", &ids[2]).await, data[2]);
    let gone = s3
        .get_object()
        .bucket(B)
        .key("k")
        .version_id(&ids[1])
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        gone.into_service_error().meta().code(),
        Some("NoSuchVersion")
    );
    assert_eq!(
        listed(&s3).await["k"],
        [(ids[2].clone(), false), (ids[0].clone(), false)]
    );

    // The current version is damaged: it goes, and a delete marker on top keeps the older
    // version from being served as current.
    damage(&gw, &blobs[2].0, &blobs[2].1);
    let (ok, repaired) = fsck(&gw, &["--deep", "--repair"]);
    assert!(ok, "{repaired:#}");
    assert_eq!(findings(&repaired)[0].2, ids[2]);
    let hidden = s3.get_object().bucket(B).key("k").send().await.unwrap_err();
    let raw = hidden.raw_response().unwrap();
    assert_eq!(raw.status().as_u16(), 404);
    assert_eq!(raw.headers().get("x-amz-delete-marker"), Some("true"));
    let versions = &listed(&s3).await["k"];
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert!(versions[0].1, "a delete marker is the newest: {versions:?}");
    assert_eq!(versions[1], (ids[0].clone(), false));
    assert_eq!(read(&s3, "k", &ids[0]).await, data[0]);
    // Undeleting brings the intact older version back.
    s3.delete_object()
        .bucket(B)
        .key("k")
        .version_id(&versions[0].0)
        .send()
        .await
        .unwrap();
    let current = s3.get_object().bucket(B).key("k").send().await.unwrap();
    assert_eq!(current.version_id(), Some(ids[0].as_str()));
    let (ok, after) = fsck(&gw, &["--deep"]);
    assert!(ok, "{after:#}");
    assert_eq!(after["findings"], serde_json::json!([]), "{after:#}");
    assert_eq!(after["blobs"], 2);
}
