//! Disaster recovery against a real remote tier (moto): a host whose lifecycle rules moved
//! part of its data to the remote tier takes a metadata backup, goes on working, and dies
//! with its data directory; `vmgw recover --from-remote` rebuilds it in a new directory, and
//! the new gateway serves every remote-backed object byte for byte, with its buckets,
//! tenants, policies and lifecycle rules, while the report names exactly the objects that
//! lived only on the lost local tiers. Without any backup the remote tier alone rebuilds
//! what it holds; scheduled backups keep their number and are never taken by the orphan
//! sweep.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, ExpirationStatus, LifecycleRule, LifecycleRuleFilter,
    StorageClass, Transition, TransitionStorageClass,
};
use vmgw_tests::{
    Gateway, GatewayOptions, RemoteS3, get_bytes, md5_hex, pattern, sdk_client, three_tiers_config,
    vmgw_bin,
};

const REMOTE_BUCKET: &str = "vmgw-dr";
const PREFIX: &str = "host1/";
const KEY_HEX: &str = "6f1e2d3c4b5a69788c1f6d3b2a79e4c05f1e2d3c4b5a69788c1f6d3b2a79e4c0";

/// Writes the host's configuration (tiers ssd, hdd and `remote` on moto, `remote_extra`
/// lines in the remote tier's table, `extra` appended) into `dir/vmgw.toml`. The
/// configuration and its key files are what an operator keeps off-host.
fn write_config(dir: &Path, remote: &RemoteS3, remote_extra: &str, extra: &str) -> String {
    let key_file = dir.join("tier.key");
    std::fs::write(&key_file, KEY_HEX).unwrap();
    let tiers = three_tiers_config(
        &remote.endpoint(),
        dir,
        REMOTE_BUCKET,
        &format!("prefix = \"{PREFIX}\"\n{remote_extra}"),
    );
    let config = format!(
        "{tiers}\n[[encryption.keys]]\nid = 1\nfile = \"{}\"\n{extra}\n",
        key_file.display()
    );
    let path = dir.join("vmgw.toml");
    std::fs::write(&path, config).unwrap();
    path.display().to_string()
}

fn serve(config: &str, data_dir: &Path) -> Gateway {
    Gateway::start_with(GatewayOptions {
        data_dir: Some(data_dir.to_owned()),
        args: vec!["--config".into(), config.into()],
        ..GatewayOptions::default()
    })
}

fn vmgw(gw: &Gateway, args: &[&str]) -> String {
    let out = Command::new(vmgw_bin())
        .args(args)
        .arg("--data-dir")
        .arg(&gw.data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "vmgw {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn recover(config: &str, data_dir: &Path) -> Output {
    Command::new(vmgw_bin())
        .args([
            "recover",
            "--from-remote",
            "--json",
            "--config",
            config,
            "--data-dir",
        ])
        .arg(data_dir)
        .output()
        .unwrap()
}

fn recovered(config: &str, data_dir: &Path) -> serde_json::Value {
    let out = recover(config, data_dir);
    assert!(
        out.status.success(),
        "recover: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    json(&String::from_utf8_lossy(&out.stdout))
}

/// `[bucket/key]` of a list of names in the report.
fn names(list: &serde_json::Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|n| {
            format!(
                "{}/{}",
                n["bucket"].as_str().unwrap(),
                n["key"].as_str().unwrap()
            )
        })
        .collect()
}

fn tiers_of(gw: &Gateway, bucket: &str, key: &str) -> Vec<String> {
    let placement = json(&vmgw(gw, &["object", "where", bucket, key, "--json"]));
    placement["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["tier"].as_str().unwrap().to_owned())
        .collect()
}

async fn put(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    data: &[u8],
    class: Option<StorageClass>,
) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/x-dr")
        .metadata("origin", key)
        .set_storage_class(class)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PUT {bucket}/{key}: {e:?}"));
}

/// A multipart object of `parts` parts of 5 MiB and a short last one.
async fn put_multipart(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, data: &[u8]) -> String {
    let upload = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    let mut parts = Vec::new();
    for (i, chunk) in data.chunks(5 << 20).enumerate() {
        let number = i as i32 + 1;
        let part = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
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
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
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
        .to_owned()
}

async fn missing(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> bool {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => false,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => true,
        Err(e) => panic!("HEAD {bucket}/{key}: {e:?}"),
    }
}

async fn keys(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let page = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    page.contents()
        .iter()
        .map(|o| o.key().unwrap().to_owned())
        .collect()
}

async fn remote_keys(remote: &RemoteS3) -> Vec<String> {
    remote
        .objects(REMOTE_BUCKET)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::web01-data/public/*"}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dr_drill_rebuilds_every_remote_backed_object_and_names_the_lost_ones() {
    let remote = RemoteS3::start_with_bucket(REMOTE_BUCKET).await;
    let temp = tempfile::tempdir().unwrap();
    let config = write_config(
        temp.path(),
        &remote,
        "compression = 3\nencrypt = true\n",
        "[lifecycle]\nday_seconds = 1\nscan_interval_ms = 100\n\n[backup]\ninterval_secs = 0\n",
    );
    let old_dir = temp.path().join("old");
    let mut gw = serve(&config, &old_dir);
    let s3 = gw.sdk();

    // A tenant with its own bucket, a policy and objects on the remote and on ssd.
    let tenant = json(&vmgw(
        &gw,
        &[
            "vm",
            "add",
            "web01",
            "--bucket",
            "web01-data",
            "--format",
            "json",
        ],
    ));
    let (tenant_key, tenant_secret) = (
        tenant["access_key"].as_str().unwrap().to_owned(),
        tenant["secret_key"].as_str().unwrap().to_owned(),
    );
    let guest = sdk_client(&gw.endpoint, &tenant_key, &tenant_secret);
    s3.put_bucket_policy()
        .bucket("web01-data")
        .policy(POLICY)
        .send()
        .await
        .unwrap();
    let mut bodies: Vec<(&str, &str, Vec<u8>)> = Vec::new();
    let doc = pattern(150_000, 1);
    put(
        &guest,
        "web01-data",
        "doc",
        &doc,
        Some(StorageClass::Glacier),
    )
    .await;
    bodies.push(("web01-data", "doc", doc));
    put(&guest, "web01-data", "local", &pattern(80_000, 2), None).await;

    // The admin's bucket: a lifecycle rule moves cold/ to the remote tier after a day (a
    // second here); hot/ and warm/ stay on the local tiers; a small object is inline.
    s3.create_bucket().bucket("drill").send().await.unwrap();
    let rule = LifecycleRule::builder()
        .id("to-remote")
        .filter(LifecycleRuleFilter::builder().prefix("cold/").build())
        .status(ExpirationStatus::Enabled)
        .transitions(
            Transition::builder()
                .days(1)
                .storage_class(TransitionStorageClass::Glacier)
                .build(),
        )
        .build()
        .unwrap();
    s3.put_bucket_lifecycle_configuration()
        .bucket("drill")
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(rule)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    for (key, len, seed) in [("cold/a", 300_000, 3), ("cold/b", 1_200_000, 4)] {
        let data = pattern(len, seed);
        put(&s3, "drill", key, &data, None).await;
        bodies.push(("drill", key, data));
    }
    let multipart = pattern(11 << 20, 5);
    let multipart_etag = put_multipart(&s3, "drill", "cold/mp", &multipart).await;
    bodies.push(("drill", "cold/mp", multipart));
    for (key, len, seed, class) in [
        ("hot/x", 200_000, 6, None),
        ("hot/y", 150_000, 7, None),
        ("warm/z", 100_000, 8, Some(StorageClass::StandardIa)),
        ("inline/t", 1_000, 9, None),
    ] {
        let data = pattern(len, seed);
        put(&s3, "drill", key, &data, class).await;
        // hot/x and warm/z live only on the local tiers: they will be lost.
        if !["hot/x", "warm/z"].contains(&key) {
            bodies.push(("drill", key, data));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for key in ["cold/a", "cold/b", "cold/mp"] {
        while tiers_of(&gw, "drill", key).iter().any(|t| t != "remote") {
            assert!(
                Instant::now() < deadline,
                "{key} never reached the remote tier"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(tiers_of(&gw, "drill", "hot/x"), ["ssd"]);
    assert_eq!(tiers_of(&gw, "drill", "warm/z"), ["hdd"]);

    // The backup.
    let taken = json(&vmgw(&gw, &["backup", "now", "--json"]));
    assert_eq!(taken["taken"]["sealed"], true);
    assert_eq!(
        taken["taken"]["host_secrets"], true,
        "a sealed backup carries secrets.key"
    );
    let listed = json(&vmgw(&gw, &["backup", "ls", "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], taken["name"]);

    // The host goes on after the backup: a move to the remote, new remote objects (one in
    // a new bucket), a new local-only object, and a deletion of a remote object.
    let moved = vmgw(&gw, &["tier", "move", "drill", "hot/y", "remote"]);
    assert!(moved.contains("moved"), "{moved}");
    let late = pattern(400_000, 10);
    put(
        &s3,
        "drill",
        "late/glacier",
        &late,
        Some(StorageClass::Glacier),
    )
    .await;
    bodies.push(("drill", "late/glacier", late));
    s3.create_bucket().bucket("after").send().await.unwrap();
    let g = pattern(90_000, 11);
    put(&s3, "after", "g", &g, Some(StorageClass::DeepArchive)).await;
    bodies.push(("after", "g", g));
    put(&s3, "drill", "late/local", &pattern(70_000, 12), None).await;
    let placement = json(&vmgw(
        &gw,
        &["object", "where", "drill", "cold/b", "--json"],
    ));
    let cold_b_blob = placement["blobs"][0]["id"].as_str().unwrap().to_owned();
    s3.delete_object()
        .bucket("drill")
        .key("cold/b")
        .send()
        .await
        .unwrap();
    bodies.retain(|(_, key, _)| *key != "cold/b");
    let deadline = Instant::now() + Duration::from_secs(20);
    while remote_keys(&remote)
        .await
        .iter()
        .any(|k| k.contains(&cold_b_blob))
    {
        assert!(
            Instant::now() < deadline,
            "cold/b's remote blob never reclaimed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The host dies, and its disks with it.
    gw.kill();
    std::fs::remove_dir_all(&old_dir).unwrap();

    let new_dir = temp.path().join("new");
    let report = recovered(&config, &new_dir);
    assert_eq!(report["backup"]["name"], taken["name"], "{report:#}");
    assert_eq!(
        names(&report["lost"]),
        ["drill/hot/x", "drill/warm/z", "web01-data/local"],
        "exactly the objects that lived only on the local tiers: {report:#}"
    );
    assert_eq!(names(&report["gone"]), ["drill/cold/b"], "{report:#}");
    assert_eq!(
        names(&report["rebuilt"]),
        ["after/g", "drill/hot/y", "drill/late/glacier"],
        "{report:#}"
    );
    assert_eq!(report["buckets_rebuilt"], serde_json::json!(["after"]));
    assert_eq!(
        report["restored"], 4,
        "cold/a, cold/mp, inline/t and doc: {report:#}"
    );
    assert_eq!(report["secrets_key"], "restored from the backup");
    assert_eq!(report["tenants"], 1);
    assert_eq!(report["tenant_keys_dropped"], serde_json::json!([]));
    assert_eq!(report["quarantined"], serde_json::json!([]), "{report:#}");
    // A recovered directory is not recovered into twice.
    let again = recover(&config, &new_dir);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a metadata store"));

    let gw = serve(&config, &new_dir);
    let s3 = gw.sdk();
    for (bucket, key, data) in &bodies {
        let got = get_bytes(&s3, bucket, key).await;
        assert!(
            got == *data,
            "{bucket}/{key}: {} bytes, md5 {}",
            got.len(),
            md5_hex(&got)
        );
    }
    let head = s3
        .head_object()
        .bucket("drill")
        .key("cold/mp")
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag(), Some(multipart_etag.as_str()));
    assert_eq!(head.storage_class(), Some(&StorageClass::Glacier));
    let head = s3
        .head_object()
        .bucket("drill")
        .key("hot/y")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("application/x-dr"));
    assert_eq!(
        head.metadata().unwrap().get("origin").map(String::as_str),
        Some("hot/y")
    );
    for (bucket, key) in [
        ("drill", "hot/x"),
        ("drill", "warm/z"),
        ("drill", "cold/b"),
        ("drill", "late/local"),
        ("web01-data", "local"),
    ] {
        assert!(missing(&s3, bucket, key).await, "{bucket}/{key}");
    }
    assert_eq!(
        keys(&s3, "drill").await,
        ["cold/a", "cold/mp", "hot/y", "inline/t", "late/glacier"]
    );
    // The tenant, its key, its policy, and the bucket's lifecycle rules are back.
    let guest = sdk_client(&gw.endpoint, &tenant_key, &tenant_secret);
    assert_eq!(keys(&guest, "web01-data").await, ["doc"]);
    let policy = s3
        .get_bucket_policy()
        .bucket("web01-data")
        .send()
        .await
        .unwrap();
    assert_eq!(
        json(policy.policy().unwrap()),
        json(POLICY),
        "the bucket policy"
    );
    let rules = s3
        .get_bucket_lifecycle_configuration()
        .bucket("drill")
        .send()
        .await
        .unwrap();
    assert_eq!(rules.rules()[0].id(), Some("to-remote"));
    let tenants = json(&vmgw(&gw, &["vm", "ls", "--json"]));
    let web01 = &tenants.as_array().unwrap()[0];
    assert_eq!(web01["usage"]["objects"], 1, "usage counted again: {web01}");
    assert_eq!(web01["usage"]["bytes"], 150_000);
    // And the recovered host is consistent, down to every byte.
    let (ok, fsck) = {
        let out = Command::new(vmgw_bin())
            .args(["fsck", "--deep", "--json", "--data-dir"])
            .arg(&gw.data_dir)
            .output()
            .unwrap();
        (
            out.status.success(),
            json(&String::from_utf8_lossy(&out.stdout)),
        )
    };
    assert!(ok, "{fsck:#}");
    assert_eq!(fsck["findings"], serde_json::json!([]), "{fsck:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_backup_the_remote_tier_alone_rebuilds_what_it_holds() {
    let remote = RemoteS3::start_with_bucket(REMOTE_BUCKET).await;
    let temp = tempfile::tempdir().unwrap();
    let config = write_config(temp.path(), &remote, "", "");
    let old_dir = temp.path().join("old");
    let mut gw = serve(&config, &old_dir);
    let s3 = gw.sdk();
    for bucket in ["bk1", "bk2"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let mut bodies = Vec::new();
    for (bucket, key, len, seed) in [("bk1", "x", 120_000, 1), ("bk2", "y/z", 2_000_000, 2)] {
        let data = pattern(len, seed);
        put(&s3, bucket, key, &data, Some(StorageClass::Glacier)).await;
        bodies.push((bucket, key, data));
    }
    let multipart = pattern(10 << 20, 3);
    let etag = put_multipart(&s3, "bk1", "mp", &multipart).await;
    assert!(vmgw(&gw, &["tier", "move", "bk1", "mp", "remote"]).contains("moved"));
    bodies.push(("bk1", "mp", multipart));
    put(&s3, "bk1", "local", &pattern(90_000, 4), None).await;
    // New tags after the bytes were written: the descriptor is rewritten (as a sidecar).
    let tags = aws_sdk_s3::types::Tagging::builder()
        .tag_set(
            aws_sdk_s3::types::Tag::builder()
                .key("team")
                .value("blue")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    s3.put_object_tagging()
        .bucket("bk1")
        .key("x")
        .tagging(tags)
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !remote_keys(&remote)
        .await
        .iter()
        .any(|k| k.ends_with(".descriptor"))
    {
        assert!(
            Instant::now() < deadline,
            "the descriptor was never rewritten"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    gw.kill();
    std::fs::remove_dir_all(&old_dir).unwrap();

    let new_dir = temp.path().join("new");
    let report = recovered(&config, &new_dir);
    assert_eq!(report["backup"], serde_json::Value::Null, "{report:#}");
    assert_eq!(
        names(&report["rebuilt"]),
        ["bk1/mp", "bk1/x", "bk2/y/z"],
        "{report:#}"
    );
    assert_eq!(report["buckets_rebuilt"], serde_json::json!(["bk1", "bk2"]));
    assert_eq!(
        names(&report["lost"]),
        Vec::<String>::new(),
        "without a backup nothing names the local objects"
    );
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("tenants") && notes.contains("policies"),
        "{notes}"
    );
    // The same as text, into another directory (recovery deletes nothing on the remote).
    let text = Command::new(vmgw_bin())
        .args([
            "recover",
            "--from-remote",
            "--config",
            &config,
            "--data-dir",
        ])
        .arg(temp.path().join("text"))
        .output()
        .unwrap();
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    for line in [
        "backup: none",
        "objects rebuilt from remote descriptors: 3",
        "  bk2/y/z",
        "LOST (their data was only on the lost host's local tiers): 0",
        "buckets rebuilt: bk1, bk2",
    ] {
        assert!(text.contains(line), "{line:?} not in:\n{text}");
    }

    let gw = serve(&config, &new_dir);
    let s3 = gw.sdk();
    for (bucket, key, data) in &bodies {
        assert!(get_bytes(&s3, bucket, key).await == *data, "{bucket}/{key}");
    }
    assert_eq!(keys(&s3, "bk1").await, ["mp", "x"]);
    let head = s3
        .head_object()
        .bucket("bk1")
        .key("mp")
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag(), Some(etag.as_str()));
    let tagging = s3
        .get_object_tagging()
        .bucket("bk1")
        .key("x")
        .send()
        .await
        .unwrap();
    assert_eq!(
        tagging
            .tag_set()
            .iter()
            .map(|t| (t.key(), t.value()))
            .collect::<Vec<_>>(),
        [("team", "blue")]
    );
    // The rebuilt multipart object moves and verifies like any other.
    assert!(vmgw(&gw, &["tier", "move", "bk1", "mp", "ssd"]).contains("moved"));
    assert!(get_bytes(&s3, "bk1", "mp").await == bodies[2].2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_keep_their_number_and_outlive_the_orphan_sweep() {
    let remote = RemoteS3::start_with_bucket(REMOTE_BUCKET).await;
    let temp = tempfile::tempdir().unwrap();
    // An unsealed remote tier: backups leave the host's secrets out by default.
    let config = write_config(
        temp.path(),
        &remote,
        "",
        "[backup]\ninterval_secs = 1\nkeep = 2\n\n[storage]\norphan_sweep_secs = 1\n",
    );
    let mut gw = serve(&config, &temp.path().join("data"));
    let s3 = gw.sdk();
    s3.create_bucket().bucket("sched").send().await.unwrap();
    put(&s3, "sched", "k", b"value", None).await;
    let taken = json(&vmgw(&gw, &["backup", "now", "--json"]));
    assert_eq!(taken["taken"]["sealed"], false);
    assert_eq!(
        taken["taken"]["host_secrets"], false,
        "never in clear text by default"
    );

    // An orphan in a remote shard: the sweep (every second) takes it, never a backup.
    let orphan = format!("{PREFIX}ab/ab{}", "0".repeat(30));
    remote
        .sdk()
        .put_object()
        .bucket(REMOTE_BUCKET)
        .key(&orphan)
        .body(ByteStream::from_static(b"orphan"))
        .send()
        .await
        .unwrap();
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let keys = remote_keys(&remote).await;
        let backups: Vec<&String> = keys
            .iter()
            .filter(|k| k.starts_with(&format!("{PREFIX}vmgw-backups/")))
            .collect();
        assert!(
            backups.len() <= 3,
            "two kept, one being written: {backups:?}"
        );
        seen.extend(backups.into_iter().cloned());
        if seen.len() >= 5 && !keys.contains(&orphan) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "backups seen {seen:?}, orphan still there: {}",
            keys.contains(&orphan)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The metrics count them, and say when the newest was taken (what an alert on stale
    // backups watches).
    let scraped = vmgw_tests::run(
        std::process::Command::new(vmgw_tests::require_tool("curl"))
            .arg("--silent")
            .arg("--fail")
            .arg("--unix-socket")
            .arg(gw.data_dir.join("admin.sock"))
            .arg("http://vmgw/metrics"),
    );
    let sample = |name: &str| -> f64 {
        scraped
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {name} in:\n{scraped}"))
            .parse()
            .expect("a number")
    };
    assert!(
        sample("vmgw_metadata_backups_total{outcome=\"taken\"}") >= 5.0,
        "{scraped}"
    );
    assert_eq!(
        sample("vmgw_metadata_backups_total{outcome=\"failed\"}"),
        0.0
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let last = sample("vmgw_metadata_backup_last_success_timestamp_seconds");
    assert!(
        (now - 30.0..=now + 1.0).contains(&last),
        "{last} vs now {now}"
    );
    assert!(sample("vmgw_metadata_backup_last_stored_bytes") > 0.0);
    gw.stop();
    let listed: Vec<String> = remote_keys(&remote)
        .await
        .into_iter()
        .filter(|k| k.starts_with(&format!("{PREFIX}vmgw-backups/")))
        .collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    // Names sort by age: the two kept are the newest of all that were ever taken.
    seen.extend(listed.iter().cloned());
    let newest: Vec<&String> = seen.iter().rev().take(2).collect();
    let mut kept: Vec<&String> = listed.iter().collect();
    kept.sort();
    kept.reverse();
    assert_eq!(kept, newest, "the newest two are kept");
}
