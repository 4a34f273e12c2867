//! A remote tier on a real S3 server that is not vmgw (moto): storage classes land on ssd,
//! hdd and the remote bucket; every read path works from every tier; moves go round
//! ssd → hdd → remote → ssd keeping everything; the remote copy is sealed and
//! self-describing; crashes during a move to the remote leave one copy; and an outage of the
//! remote keeps local objects working, answers 503 fast for remote ones, and queued moves
//! finish once it is back.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, StorageClass};
use rand::Rng;
use vmgw_tests::{
    CuttableLink, Gateway, RemoteS3, md5_hex, pattern, run, three_tiers_config, vmgw_bin,
};

const REMOTE_BUCKET: &str = "vmgw-cold";
const PREFIX: &str = "host1/";
const KEY_HEX: &str = "8c1f6d3b2a79e4c05f1e2d3c4b5a69788c1f6d3b2a79e4c05f1e2d3c4b5a6978";
const MARKER: &[u8] = b"KNOWN-PLAINTEXT-7f3a9c ";

/// A gateway with tiers ssd, hdd and `remote` on the S3 server at `remote_endpoint`; the
/// remote tier compresses and seals when `sealed`.
fn start_gateway(temp: &Path, remote_endpoint: &str, sealed: bool) -> Gateway {
    start_gateway_with(temp, remote_endpoint, sealed, "")
}

/// As [`start_gateway`], with `extra` appended to the config file.
fn start_gateway_with(temp: &Path, remote_endpoint: &str, sealed: bool, extra: &str) -> Gateway {
    let key_file = temp.join("tier.key");
    std::fs::write(&key_file, KEY_HEX).unwrap();
    let at_rest = if sealed {
        "compression = 3\nencrypt = true\n"
    } else {
        ""
    };
    let tiers = three_tiers_config(
        remote_endpoint,
        temp,
        REMOTE_BUCKET,
        &format!("prefix = \"{PREFIX}\"\n{at_rest}"),
    );
    Gateway::start_with_config(
        temp,
        &format!(
            "{tiers}\n[[encryption.keys]]\nid = 1\nfile = \"{}\"\n{extra}\n",
            key_file.display()
        ),
    )
}

async fn remote_with_bucket() -> RemoteS3 {
    RemoteS3::start_with_bucket(REMOTE_BUCKET).await
}

fn admin(gw: &Gateway, args: &[&str]) -> String {
    run(Command::new(vmgw_bin())
        .args(args)
        .arg("--data-dir")
        .arg(&gw.data_dir))
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The tiers holding `bucket/key`'s blobs.
fn tiers_of(gw: &Gateway, bucket: &str, key: &str) -> Vec<String> {
    let placement = json(&admin(gw, &["object", "where", bucket, key, "--json"]));
    placement["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["tier"].as_str().unwrap().to_owned())
        .collect()
}

fn local_blobs(data_dir: &Path, tier: &str) -> usize {
    let mut count = 0;
    for shard in std::fs::read_dir(data_dir.join("tiers").join(tier)).unwrap() {
        count += std::fs::read_dir(shard.unwrap().path()).unwrap().count();
    }
    count
}

/// Blob objects in the remote bucket (descriptor sidecars excluded).
async fn remote_blobs(remote: &RemoteS3) -> Vec<(String, u64)> {
    remote
        .objects(REMOTE_BUCKET)
        .await
        .into_iter()
        .filter(|(k, _)| !k.ends_with(".descriptor"))
        .collect()
}

/// Test data with a known plaintext marker every 4 KiB, otherwise incompressible.
fn marked(len: usize, seed: u64) -> Vec<u8> {
    let mut data = pattern(len, seed);
    for at in (0..len.saturating_sub(MARKER.len())).step_by(4096) {
        data[at..at + MARKER.len()].copy_from_slice(MARKER);
    }
    data
}

async fn get_all(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    vmgw_tests::get_bytes(s3, bucket, key).await
}

async fn get_range(s3: &aws_sdk_s3::Client, key: &str, first: usize, last: usize) -> Vec<u8> {
    s3.get_object()
        .bucket("bkt")
        .key(key)
        .range(format!("bytes={first}-{last}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {key} {first}-{last}: {e:?}"))
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classes_land_on_their_tiers_and_read_back_from_each() {
    let remote = remote_with_bucket().await;
    let temp = tempfile::tempdir().unwrap();
    let gw = start_gateway(temp.path(), &remote.endpoint(), true);
    let s3 = gw.sdk();
    s3.create_bucket().bucket("bkt").send().await.unwrap();

    let cases = [
        ("std", StorageClass::Standard, "ssd"),
        ("ia", StorageClass::StandardIa, "hdd"),
        ("glacier", StorageClass::Glacier, "remote"),
        ("deep", StorageClass::DeepArchive, "remote"),
    ];
    let mut bodies = Vec::new();
    for (i, (key, class, tier)) in cases.iter().enumerate() {
        // The GLACIER object is the source of a two-part UploadPartCopy below.
        let len = if *key == "glacier" {
            7_000_000
        } else {
            3_000_000 + i * 12_345
        };
        let data = marked(len, i as u64 + 1);
        s3.put_object()
            .bucket("bkt")
            .key(*key)
            .storage_class(class.clone())
            .content_type("application/x-test")
            .metadata("origin", "remote-tier-test")
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(tiers_of(&gw, "bkt", key), [*tier], "{key}");
        bodies.push(data);
    }
    // On disk and in the remote bucket: one blob each where expected.
    assert_eq!(local_blobs(&gw.data_dir, "ssd"), 1);
    assert_eq!(local_blobs(&gw.data_dir, "hdd"), 1);
    let stored = remote_blobs(&remote).await;
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(
        stored.iter().all(|(k, _)| k.starts_with(PREFIX)),
        "{stored:?}"
    );
    // The remote copies are compressed and sealed: the marker never appears.
    for (key, _) in &stored {
        let raw = remote.object(REMOTE_BUCKET, key).await;
        assert!(
            !raw.windows(MARKER.len()).any(|w| w == MARKER),
            "plaintext in remote object {key}"
        );
    }

    let mut rng = rand::rng();
    for ((key, class, _), data) in cases.iter().zip(&bodies) {
        assert_eq!(
            md5_hex(&get_all(&s3, "bkt", key).await),
            md5_hex(data),
            "{key}"
        );
        let head = s3
            .head_object()
            .bucket("bkt")
            .key(*key)
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_length(), Some(data.len() as i64));
        assert_eq!(head.content_type(), Some("application/x-test"));
        assert_eq!(
            head.metadata().unwrap().get("origin").map(String::as_str),
            Some("remote-tier-test")
        );
        if *class != StorageClass::Standard {
            assert_eq!(head.storage_class(), Some(class), "{key}");
        }
        // 1000 random ranges per tier, each against the source bytes.
        let ranges = if *key == "deep" { 0 } else { 1000 };
        for _ in 0..ranges {
            let first = rng.random_range(0..data.len());
            let last = (first + rng.random_range(0..300_000)).min(data.len() - 1);
            let got = get_range(&s3, key, first, last).await;
            assert!(got == data[first..=last], "{key} bytes={first}-{last}");
        }
    }

    // CopyObject and UploadPartCopy from a remote source.
    s3.copy_object()
        .bucket("bkt")
        .key("copied")
        .copy_source("bkt/glacier")
        .send()
        .await
        .unwrap();
    assert_eq!(tiers_of(&gw, "bkt", "copied"), ["ssd"]);
    assert_eq!(
        md5_hex(&get_all(&s3, "bkt", "copied").await),
        md5_hex(&bodies[2])
    );
    let upload = s3
        .create_multipart_upload()
        .bucket("bkt")
        .key("assembled")
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap();
    let data = &bodies[2];
    let split = 5_300_000;
    let mut parts = Vec::new();
    for (number, range) in [
        (1, format!("bytes=0-{}", split - 1)),
        (2, format!("bytes={split}-{}", data.len() - 1)),
    ] {
        let part = s3
            .upload_part_copy()
            .bucket("bkt")
            .key("assembled")
            .upload_id(upload_id)
            .part_number(number)
            .copy_source("bkt/glacier")
            .copy_source_range(range)
            .send()
            .await
            .unwrap();
        parts.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(number)
                .e_tag(part.copy_part_result().unwrap().e_tag().unwrap())
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket("bkt")
        .key("assembled")
        .upload_id(upload_id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        md5_hex(&get_all(&s3, "bkt", "assembled").await),
        md5_hex(data)
    );

    // Deleting a remote object frees its remote blob (the reclaimer runs in the background).
    s3.delete_object()
        .bucket("bkt")
        .key("deep")
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while remote_blobs(&remote).await.len() != 1 {
        assert!(
            Instant::now() < deadline,
            "remote blob of a deleted object not reclaimed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_go_round_through_the_remote_tier_keeping_everything() {
    let remote = remote_with_bucket().await;
    let temp = tempfile::tempdir().unwrap();
    // Unsealed here, so the test can read the descriptors the remote objects carry.
    let gw = start_gateway(temp.path(), &remote.endpoint(), false);
    let s3 = gw.sdk();
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    let single = pattern(7_000_000, 11);
    let put = s3
        .put_object()
        .bucket("bkt")
        .key("single")
        .content_type("text/x-vmgw")
        .metadata("color", "teal")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .body(ByteStream::from(single.clone()))
        .send()
        .await
        .unwrap();
    let (etag, crc) = (
        put.e_tag().unwrap().to_owned(),
        put.checksum_crc32().unwrap().to_owned(),
    );
    // A multipart object: its parts move as separate blobs.
    let multi = pattern(11 << 20, 12);
    let upload = s3
        .create_multipart_upload()
        .bucket("bkt")
        .key("multi")
        .send()
        .await
        .unwrap();
    let mut parts = Vec::new();
    for (i, chunk) in multi.chunks(5 << 20).enumerate() {
        let number = i as i32 + 1;
        let part = s3
            .upload_part()
            .bucket("bkt")
            .key("multi")
            .upload_id(upload.upload_id().unwrap())
            .part_number(number)
            .body(ByteStream::from(chunk.to_vec()))
            .send()
            .await
            .unwrap();
        parts.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(number)
                .e_tag(part.e_tag().unwrap())
                .build(),
        );
    }
    let multi_etag = s3
        .complete_multipart_upload()
        .bucket("bkt")
        .key("multi")
        .upload_id(upload.upload_id().unwrap())
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_owned();

    for tier in ["hdd", "remote", "ssd", "remote"] {
        for key in ["single", "multi"] {
            let out = admin(&gw, &["tier", "move", "bkt", key, tier]);
            assert!(out.contains("moved"), "{key} → {tier}: {out}");
            let tiers = tiers_of(&gw, "bkt", key);
            assert!(tiers.iter().all(|t| t == tier), "{key}: {tiers:?}");
        }
        let got = s3
            .get_object()
            .bucket("bkt")
            .key("single")
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(got.e_tag(), Some(etag.as_str()), "on {tier}");
        assert_eq!(got.checksum_crc32(), Some(crc.as_str()), "on {tier}");
        assert_eq!(got.content_type(), Some("text/x-vmgw"));
        assert_eq!(
            got.metadata().unwrap().get("color").map(String::as_str),
            Some("teal")
        );
        let body = got.body.collect().await.unwrap().into_bytes();
        assert_eq!(md5_hex(&body), md5_hex(&single), "on {tier}");
        let got = s3
            .get_object()
            .bucket("bkt")
            .key("multi")
            .send()
            .await
            .unwrap();
        assert_eq!(got.e_tag(), Some(multi_etag.as_str()), "on {tier}");
        let body = got.body.collect().await.unwrap().into_bytes();
        assert_eq!(md5_hex(&body), md5_hex(&multi), "on {tier}");
        // Sources are reclaimed: the object's bytes are on exactly one tier.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (ssd, hdd, far) = (
                local_blobs(&gw.data_dir, "ssd"),
                local_blobs(&gw.data_dir, "hdd"),
                remote_blobs(&remote).await.len(),
            );
            let expected = match tier {
                "ssd" => (4, 0, 0),
                "hdd" => (0, 4, 0),
                _ => (0, 0, 4),
            };
            if (ssd, hdd, far) == expected {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "on {tier}: blobs {:?}",
                (ssd, hdd, far)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // Every remote object names its object in its own metadata.
    let mut described = Vec::new();
    for (key, _) in remote_blobs(&remote).await {
        let head = remote
            .sdk()
            .head_object()
            .bucket(REMOTE_BUCKET)
            .key(&key)
            .send()
            .await
            .unwrap();
        let text = head.metadata().unwrap()["vmgw-descriptor"].clone();
        let raw = base64_simd::STANDARD.decode_to_vec(text).unwrap();
        assert_eq!(raw[0], b'P', "unsealed tier, plain descriptor");
        let descriptor = json(std::str::from_utf8(&raw[1..]).unwrap());
        assert_eq!(descriptor["bucket"], "bkt");
        described.push((
            descriptor["key"].as_str().unwrap().to_owned(),
            descriptor["part"].as_u64(),
            descriptor["offset"].as_u64().unwrap(),
            descriptor["object"]["etag"].as_str().unwrap().to_owned(),
        ));
    }
    described.sort();
    let single_etag = etag.trim_matches('"').to_owned();
    let multi_etag = multi_etag.trim_matches('"').to_owned();
    assert_eq!(
        described,
        vec![
            ("multi".into(), Some(1), 0, multi_etag.clone()),
            ("multi".into(), Some(2), 5 << 20, multi_etag.clone()),
            ("multi".into(), Some(3), 10 << 20, multi_etag),
            ("single".into(), None, 0, single_etag),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_a_move_to_the_remote_leaves_one_copy() {
    let remote = remote_with_bucket().await;
    for (point, expected) in [
        ("move:partial-copy", "ssd"),
        ("move:copied", "ssd"),
        ("move:committed", "remote"),
    ] {
        let temp = tempfile::tempdir().unwrap();
        let mut gw = start_gateway(temp.path(), &remote.endpoint(), true);
        let s3 = gw.sdk();
        s3.create_bucket().bucket("bkt").send().await.unwrap();
        let data = pattern(12 << 20, 21);
        s3.put_object()
            .bucket("bkt")
            .key("obj")
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        gw.set_env(vec![("VMGW_FAULT_CRASH_AT".into(), point.into())]);
        gw.restart(true);
        let moved = Command::new(vmgw_bin())
            .args(["tier", "move", "bkt", "obj", "remote", "--data-dir"])
            .arg(&gw.data_dir)
            .output()
            .unwrap();
        assert!(
            !moved.status.success(),
            "{point}: the move should have been cut off"
        );
        assert!(!gw.wait_exit(Duration::from_secs(60)).success(), "{point}");
        gw.set_env(Vec::new());
        gw.restart(true);
        let s3 = gw.sdk();
        assert_eq!(
            md5_hex(&get_all(&s3, "bkt", "obj").await),
            md5_hex(&data),
            "{point}"
        );
        assert_eq!(tiers_of(&gw, "bkt", "obj"), [expected], "{point}");
        // One whole copy: on the remote only if that is where the object now lives, and no
        // orphan anywhere (the reclaimer frees a committed move's source shortly).
        let want_remote = usize::from(expected == "remote");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let counts = (
                local_blobs(&gw.data_dir, "ssd"),
                local_blobs(&gw.data_dir, "hdd"),
                remote_blobs(&remote).await.len(),
            );
            if counts == (1 - want_remote, 0, want_remote) {
                break;
            }
            assert!(Instant::now() < deadline, "{point}: blobs {counts:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let uploads = remote
            .sdk()
            .list_multipart_uploads()
            .bucket(REMOTE_BUCKET)
            .send()
            .await
            .unwrap();
        assert!(
            uploads.uploads().is_empty(),
            "{point}: unfinished uploads left"
        );
        // Clean slate for the next case.
        s3.delete_object()
            .bucket("bkt")
            .key("obj")
            .send()
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !remote_blobs(&remote).await.is_empty() {
            assert!(Instant::now() < deadline, "{point}: remote not emptied");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_of_the_remote_is_survived() {
    let remote = remote_with_bucket().await;
    let link = CuttableLink::start(remote.endpoint().trim_start_matches("http://")).await;
    let temp = tempfile::tempdir().unwrap();
    let gw = start_gateway(temp.path(), &link.endpoint(), true);
    let s3 = gw.sdk();
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    let local = pattern(2_000_000, 31);
    let far = pattern(2_000_000, 32);
    s3.put_object()
        .bucket("bkt")
        .key("local")
        .body(ByteStream::from(local.clone()))
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("bkt")
        .key("far")
        .storage_class(StorageClass::Glacier)
        .body(ByteStream::from(far.clone()))
        .send()
        .await
        .unwrap();
    let later: Vec<Vec<u8>> = (0..3).map(|i| pattern(1_500_000, 40 + i)).collect();
    for (i, data) in later.iter().enumerate() {
        s3.put_object()
            .bucket("bkt")
            .key(format!("later-{i}"))
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
    }

    link.cut();
    // Local objects: reads and writes go on.
    assert_eq!(
        md5_hex(&get_all(&s3, "bkt", "local").await),
        md5_hex(&local)
    );
    s3.put_object()
        .bucket("bkt")
        .key("new")
        .body(ByteStream::from(local.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(md5_hex(&get_all(&s3, "bkt", "new").await), md5_hex(&local));
    // Metadata of remote objects is local too.
    let head = s3
        .head_object()
        .bucket("bkt")
        .key("far")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(far.len() as i64));
    // A remote-only object: 503 quickly, not a hang.
    let started = Instant::now();
    let err = s3
        .get_object()
        .bucket("bkt")
        .key("far")
        .send()
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    let service = err.as_service_error().expect("an S3 error response");
    assert_eq!(service.meta().code(), Some("ServiceUnavailable"), "{err:?}");
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 503);
    assert!(elapsed < Duration::from_secs(5), "503 took {elapsed:?}");
    // Moves to the remote are queued and wait.
    for i in 0..3 {
        let out = admin(
            &gw,
            &[
                "tier",
                "move",
                "bkt",
                &format!("later-{i}"),
                "remote",
                "--queue",
            ],
        );
        assert!(out.contains("queued"), "{out}");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let waiting = json(&admin(&gw, &["tier", "queue", "--json"]));
    assert_eq!(waiting.as_array().unwrap().len(), 3, "{waiting}");
    assert!(waiting[0]["failures"].as_u64().unwrap() >= 1, "{waiting}");
    for i in 0..3 {
        assert_eq!(tiers_of(&gw, "bkt", &format!("later-{i}")), ["ssd"]);
    }

    // The remote comes back: everything queued moves, nothing stored there was lost.
    link.restore().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let waiting = json(&admin(&gw, &["tier", "queue", "--json"]));
        if waiting.as_array().unwrap().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "queued moves never finished: {waiting}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for (i, data) in later.iter().enumerate() {
        let key = format!("later-{i}");
        assert_eq!(tiers_of(&gw, "bkt", &key), ["remote"], "{key}");
        assert_eq!(
            md5_hex(&get_all(&s3, "bkt", &key).await),
            md5_hex(data),
            "{key}"
        );
    }
    assert_eq!(
        md5_hex(&get_all(&s3, "bkt", "local").await),
        md5_hex(&local)
    );
    assert_eq!(md5_hex(&get_all(&s3, "bkt", "far").await), md5_hex(&far));
}

/// A random blob id as the tiers name them: 32 hex digits.
fn random_blob_name() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_sweep_removes_orphans_everywhere_but_spares_writes_in_flight() {
    let remote = remote_with_bucket().await;
    let temp = tempfile::tempdir().unwrap();
    let gw = start_gateway_with(
        temp.path(),
        &remote.endpoint(),
        false,
        "[storage]\norphan_sweep_secs = 1\n",
    );
    let s3 = gw.sdk();
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    let kept = pattern(1_000_000, 51);
    s3.put_object()
        .bucket("bkt")
        .key("kept-remote")
        .storage_class(StorageClass::Glacier)
        .body(ByteStream::from(kept.clone()))
        .send()
        .await
        .unwrap();

    // Orphans, as a crash or a failed delete would leave them: on the ssd tier and remotely.
    let local_orphan = random_blob_name();
    let shard_dir = gw.data_dir.join("tiers/ssd").join(&local_orphan[..2]);
    std::fs::write(shard_dir.join(&local_orphan), b"orphaned bytes").unwrap();
    let remote_id = random_blob_name();
    let remote_orphan = format!("{PREFIX}{}/{remote_id}", &remote_id[..2]);
    remote
        .sdk()
        .put_object()
        .bucket(REMOTE_BUCKET)
        .key(&remote_orphan)
        .body(ByteStream::from_static(b"orphaned remote bytes"))
        .send()
        .await
        .unwrap();

    // A slow upload spans several sweeps: its blob is on disk, not yet referenced.
    let body = temp.path().join("slow.bin");
    let slow = pattern(6_000_000, 52);
    std::fs::write(&body, &slow).unwrap();
    let port = gw.addr.rsplit(':').next().unwrap().to_owned();
    let started = Instant::now();
    let upload = std::thread::spawn(move || {
        Command::new(vmgw_tests::require_tool("curl"))
            .args([
                "-sS",
                "--fail-with-body",
                "--limit-rate",
                "1500K",
                "--aws-sigv4",
            ])
            .arg(format!("aws:amz:{}:s3", vmgw_tests::REGION))
            .arg("--user")
            .arg(format!(
                "{}:{}",
                vmgw_tests::ACCESS_KEY,
                vmgw_tests::SECRET_KEY
            ))
            .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "-T"])
            .arg(&body)
            .arg(format!("http://127.0.0.1:{port}/bkt/slow"))
            .output()
            .unwrap()
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let local_gone = !shard_dir.join(&local_orphan).exists();
        let remote_gone = !remote
            .objects(REMOTE_BUCKET)
            .await
            .iter()
            .any(|(k, _)| *k == remote_orphan);
        if local_gone && remote_gone {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "orphans not swept: local gone {local_gone}, remote gone {remote_gone}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let output = upload.join().unwrap();
    assert!(
        output.status.success(),
        "slow upload failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        started.elapsed() > Duration::from_secs(3),
        "the upload was meant to span sweeps"
    );
    assert_eq!(md5_hex(&get_all(&s3, "bkt", "slow").await), md5_hex(&slow));
    assert_eq!(
        md5_hex(&get_all(&s3, "bkt", "kept-remote").await),
        md5_hex(&kept)
    );
    assert!(
        gw.log().contains("removed orphaned data"),
        "the sweep should say what it removed"
    );
}

/// Files in the read cache of the remote tier (the promoted copies).
fn cached_copies(data_dir: &Path) -> usize {
    let root = data_dir.join("cache/remote");
    let Ok(shards) = std::fs::read_dir(root) else {
        return 0;
    };
    shards
        .map(|s| std::fs::read_dir(s.unwrap().path()).unwrap().count())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_read_twice_get_a_local_copy_that_serves_them_during_an_outage() {
    let remote = remote_with_bucket().await;
    let link = CuttableLink::start(remote.endpoint().trim_start_matches("http://")).await;
    let temp = tempfile::tempdir().unwrap();
    let gw = start_gateway_with(
        temp.path(),
        &link.endpoint(),
        true,
        "[read_promotion]\npolicy = \"after-reads\"\nreads = 2\nwindow_secs = 600\n",
    );
    let s3 = gw.sdk();
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    let hot = pattern(5_000_000, 61);
    let cold = pattern(1_000_000, 62);
    for (key, data) in [("hot", &hot), ("cold", &cold)] {
        s3.put_object()
            .bucket("bkt")
            .key(key)
            .storage_class(StorageClass::Glacier)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
    }
    // One read is not enough for the policy; moves do not count either.
    assert_eq!(md5_hex(&get_all(&s3, "bkt", "hot").await), md5_hex(&hot));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(cached_copies(&gw.data_dir), 0);
    // The second read promotes it.
    assert_eq!(get_range(&s3, "hot", 100, 200).await, &hot[100..=200]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while cached_copies(&gw.data_dir) != 1 {
        assert!(Instant::now() < deadline, "the hot object was never cached");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The object still lives on the remote tier; the copy is a cache.
    assert_eq!(tiers_of(&gw, "bkt", "hot"), ["remote"]);

    // With the remote gone, the cached object is served whole and in ranges; the other
    // remote object is not.
    link.cut();
    assert_eq!(md5_hex(&get_all(&s3, "bkt", "hot").await), md5_hex(&hot));
    assert_eq!(
        get_range(&s3, "hot", 4_000_000, 4_999_999).await,
        &hot[4_000_000..]
    );
    let err = s3
        .get_object()
        .bucket("bkt")
        .key("cold")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 503);
    link.restore().await;

    // An overwrite is a new blob: the old copy is never served for it.
    let newer = pattern(2_000_000, 63);
    s3.put_object()
        .bucket("bkt")
        .key("hot")
        .storage_class(StorageClass::Glacier)
        .body(ByteStream::from(newer.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(md5_hex(&get_all(&s3, "bkt", "hot").await), md5_hex(&newer));
}

/// The description a remote blob carries now: its sidecar when it has one (written later),
/// else its own metadata. Unsealed tier.
async fn remote_description(remote: &RemoteS3, key: &str) -> serde_json::Value {
    let sdk = remote.sdk();
    let text = match sdk
        .get_object()
        .bucket(REMOTE_BUCKET)
        .key(format!("{key}.descriptor"))
        .send()
        .await
    {
        Ok(out) => String::from_utf8(out.body.collect().await.unwrap().to_vec()).unwrap(),
        Err(_) => {
            let head = sdk
                .head_object()
                .bucket(REMOTE_BUCKET)
                .key(key)
                .send()
                .await
                .unwrap();
            head.metadata().unwrap()["vmgw-descriptor"].clone()
        }
    };
    let raw = base64_simd::STANDARD.decode_to_vec(text.trim()).unwrap();
    assert_eq!(raw[0], b'P', "unsealed tier, plain descriptor");
    json(std::str::from_utf8(&raw[1..]).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_objects_renamed_retagged_appended_or_completed_describe_themselves_again() {
    let remote = remote_with_bucket().await;
    let temp = tempfile::tempdir().unwrap();
    let gw = start_gateway(temp.path(), &remote.endpoint(), false);
    let s3 = gw.sdk();
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    let first = pattern(3_000_000, 21);
    s3.put_object()
        .bucket("bkt")
        .key("old/name")
        .storage_class(StorageClass::Glacier)
        .body(ByteStream::from(first.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(tiers_of(&gw, "bkt", "old/name"), ["remote"]);

    s3.rename_object()
        .bucket("bkt")
        .key("new/name")
        .rename_source("bkt/old/name")
        .send()
        .await
        .unwrap();
    s3.put_object_tagging()
        .bucket("bkt")
        .key("new/name")
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("k")
                        .value("v")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let tail = pattern(100_000, 22);
    s3.put_object()
        .bucket("bkt")
        .key("new/name")
        .write_offset_bytes(3_000_000)
        .body(ByteStream::from(tail.clone()))
        .send()
        .await
        .unwrap();
    let head = s3
        .head_object()
        .bucket("bkt")
        .key("new/name")
        .send()
        .await
        .unwrap();
    let etag = head.e_tag().unwrap().trim_matches('"').to_owned();
    // Parts uploaded straight to the remote name only their upload until completion.
    let upload = s3
        .create_multipart_upload()
        .bucket("bkt")
        .key("mpu")
        .storage_class(StorageClass::Glacier)
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap();
    let mut completed = Vec::new();
    for (number, len) in [(1, 5 << 20), (2, 1 << 20)] {
        let part = s3
            .upload_part()
            .bucket("bkt")
            .key("mpu")
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(pattern(
                len,
                30 + u64::try_from(number).unwrap(),
            )))
            .send()
            .await
            .unwrap();
        completed.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(number)
                .e_tag(part.e_tag().unwrap())
                .build(),
        );
    }
    let done = s3
        .complete_multipart_upload()
        .bucket("bkt")
        .key("mpu")
        .upload_id(upload_id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mpu_etag = done.e_tag().unwrap().trim_matches('"').to_owned();

    // Within a few seconds every remote blob describes the object as it is now.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut described = Vec::new();
        for (key, _) in remote_blobs(&remote).await {
            let d = remote_description(&remote, &key).await;
            described.push((
                d["key"].as_str().unwrap_or_default().to_owned(),
                d["part"].as_u64(),
                d["offset"].as_u64().unwrap_or_default(),
                d["object"]["etag"].as_str().unwrap_or_default().to_owned(),
                d["object"]["tags"].clone(),
            ));
        }
        described.sort_by(|a, b| (&a.0, a.2).cmp(&(&b.0, b.2)));
        let tags = serde_json::json!([["k", "v"]]);
        let none = serde_json::Value::Null;
        let want = vec![
            ("mpu".to_owned(), Some(1), 0, mpu_etag.clone(), none.clone()),
            ("mpu".to_owned(), Some(2), 5 << 20, mpu_etag.clone(), none),
            (
                "new/name".to_owned(),
                Some(1),
                0,
                etag.clone(),
                tags.clone(),
            ),
            (
                "new/name".to_owned(),
                Some(2),
                3_000_000,
                etag.clone(),
                tags,
            ),
        ];
        if described == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "descriptions {described:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut whole = first;
    whole.extend_from_slice(&tail);
    assert_eq!(get_all(&s3, "bkt", "new/name").await, whole);
}
