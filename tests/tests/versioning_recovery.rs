//! `vmgw recover --from-remote` on versioned buckets, against a real remote tier (moto):
//! noncurrent versions and delete markers come back from the backup, versions written after
//! it from the remote tier's self-descriptions (older ones as noncurrent versions), lost
//! versions are named with their ids, and without any backup the descriptors alone rebuild
//! each key's versions and turn versioning on again.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, StorageClass, VersioningConfiguration};
use vmgw_tests::{Gateway, GatewayOptions, RemoteS3, pattern, three_tiers_config, vmgw_bin};

const REMOTE_BUCKET: &str = "vmgw-vdr";
const KEY_HEX: &str = "6f1e2d3c4b5a69788c1f6d3b2a79e4c05f1e2d3c4b5a69788c1f6d3b2a79e4c0";

fn write_config(dir: &Path, remote: &RemoteS3) -> String {
    let key_file = dir.join("tier.key");
    std::fs::write(&key_file, KEY_HEX).unwrap();
    let tiers = three_tiers_config(
        &remote.endpoint(),
        dir,
        REMOTE_BUCKET,
        "prefix = \"host1/\"\nencrypt = true\n",
    );
    let config = format!(
        "{tiers}\n[[encryption.keys]]\nid = 1\nfile = \"{}\"\n\n[backup]\ninterval_secs = 0\n",
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

fn vmgw(args: &[&str], data_dir: &Path) -> String {
    let out = Command::new(vmgw_bin())
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
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

fn recovered(config: &str, data_dir: &Path) -> serde_json::Value {
    let out = vmgw(
        &["recover", "--from-remote", "--json", "--config", config],
        data_dir,
    );
    serde_json::from_str(&out).unwrap()
}

/// `bucket/key` or `bucket/key@version` of a list of names in the report.
fn names(list: &serde_json::Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let name = format!(
                "{}/{}",
                n["bucket"].as_str().unwrap(),
                n["key"].as_str().unwrap()
            );
            match n["version_id"].as_str() {
                Some(id) => format!("{name}@{id}"),
                None => name,
            }
        })
        .collect()
}

async fn enable(s3: &Client, bucket: &str) {
    vmgw_tests::create_versioned_bucket(s3, bucket).await;
}

/// PUT to the remote tier's class (GLACIER) or the local ssd; returns the version id.
async fn put(s3: &Client, bucket: &str, key: &str, data: &[u8], remote: bool) -> String {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .set_storage_class(remote.then_some(StorageClass::Glacier))
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap_or("null")
        .to_owned()
}

async fn get(s3: &Client, bucket: &str, key: &str, version: Option<&str>) -> Option<Vec<u8>> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version.map(str::to_owned))
        .send()
        .await
        .ok()?;
    Some(out.body.collect().await.unwrap().into_bytes().to_vec())
}

/// (version id, is a delete marker) of a key, newest first.
async fn versions(s3: &Client, bucket: &str, key: &str) -> Vec<(String, bool)> {
    let out = s3
        .list_object_versions()
        .bucket(bucket)
        .prefix(key)
        .send()
        .await
        .unwrap();
    let mut all: Vec<(String, bool)> = out
        .versions()
        .iter()
        .filter(|v| v.key() == Some(key))
        .map(|v| (v.version_id().unwrap().to_owned(), false))
        .chain(
            out.delete_markers()
                .iter()
                .filter(|m| m.key() == Some(key))
                .map(|m| (m.version_id().unwrap().to_owned(), true)),
        )
        .collect();
    // Version ids sort newest first as text.
    all.sort();
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_come_back_from_the_backup_and_the_remote_tier() {
    let remote = RemoteS3::start_with_bucket(REMOTE_BUCKET).await;
    let temp = tempfile::tempdir().unwrap();
    let config = write_config(temp.path(), &remote);
    let old_dir = temp.path().join("old");
    let mut gw = serve(&config, &old_dir);
    let s3 = gw.sdk();
    enable(&s3, "vbk").await;
    let body = |i: u64| pattern(100_000 + i as usize, i);
    // Before the backup:
    // k: v1 remote (noncurrent), v2 local (current);
    let k1 = put(&s3, "vbk", "k", &body(1), true).await;
    let k2 = put(&s3, "vbk", "k", &body(2), false).await;
    // m: v1 remote under a delete marker;
    let m1 = put(&s3, "vbk", "m", &body(3), true).await;
    let m_marker = s3
        .delete_object()
        .bucket("vbk")
        .key("m")
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    // n: v1 local (noncurrent), v2 remote (current).
    let n1 = put(&s3, "vbk", "n", &body(4), false).await;
    let n2 = put(&s3, "vbk", "n", &body(5), true).await;
    vmgw(&["backup", "now", "--json"], &old_dir);
    // After it: k gets v3 on the remote; p two remote versions.
    let k3 = put(&s3, "vbk", "k", &body(6), true).await;
    let p1 = put(&s3, "vbk", "p", &body(7), true).await;
    let p2 = put(&s3, "vbk", "p", &body(8), true).await;
    gw.kill();
    std::fs::remove_dir_all(&old_dir).unwrap();

    let new_dir = temp.path().join("new");
    let report = recovered(&config, &new_dir);
    assert_eq!(
        names(&report["lost"]),
        [format!("vbk/k@{k2}"), format!("vbk/n@{n1}")].into(),
        "{report:#}"
    );
    assert_eq!(names(&report["gone"]), BTreeSet::new(), "{report:#}");
    assert_eq!(
        names(&report["rebuilt"]),
        [
            "vbk/k".to_owned(),
            "vbk/p".to_owned(),
            format!("vbk/p@{p1}")
        ]
        .into(),
        "{report:#}"
    );
    assert_eq!(report["quarantined"], serde_json::json!([]), "{report:#}");

    let gw = serve(&config, &new_dir);
    let s3 = gw.sdk();
    let versioning = s3
        .get_bucket_versioning()
        .bucket("vbk")
        .send()
        .await
        .unwrap();
    assert_eq!(versioning.status(), Some(&BucketVersioningStatus::Enabled));
    assert_eq!(get(&s3, "vbk", "k", None).await, Some(body(6)));
    assert_eq!(get(&s3, "vbk", "k", Some(&k1)).await, Some(body(1)));
    assert_eq!(get(&s3, "vbk", "k", Some(&k2)).await, None, "lost");
    assert_eq!(
        versions(&s3, "vbk", "k").await,
        [(k3.clone(), false), (k1.clone(), false)]
    );
    // The delete marker came back from the backup.
    assert_eq!(get(&s3, "vbk", "m", None).await, None);
    assert_eq!(get(&s3, "vbk", "m", Some(&m1)).await, Some(body(3)));
    assert_eq!(
        versions(&s3, "vbk", "m").await,
        [(m_marker.clone(), true), (m1.clone(), false)]
    );
    assert_eq!(get(&s3, "vbk", "n", None).await, Some(body(5)));
    assert_eq!(versions(&s3, "vbk", "n").await, [(n2.clone(), false)]);
    assert_eq!(get(&s3, "vbk", "p", None).await, Some(body(8)));
    assert_eq!(get(&s3, "vbk", "p", Some(&p1)).await, Some(body(7)));
    assert_eq!(versions(&s3, "vbk", "p").await, [(p2, false), (p1, false)]);
    // And fsck finds nothing wrong with what came back.
    let fsck: serde_json::Value =
        serde_json::from_str(&vmgw(&["fsck", "--deep", "--json"], &new_dir)).unwrap();
    assert_eq!(fsck["findings"], serde_json::json!([]), "{fsck:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_backup_the_descriptors_rebuild_each_keys_versions() {
    let remote = RemoteS3::start_with_bucket(REMOTE_BUCKET).await;
    let temp = tempfile::tempdir().unwrap();
    let config = write_config(temp.path(), &remote);
    let old_dir = temp.path().join("old");
    let mut gw = serve(&config, &old_dir);
    let s3 = gw.sdk();
    s3.create_bucket().bucket("nbk").send().await.unwrap();
    let body = |i: u64| pattern(50_000 + i as usize, i);
    // A `null` version written before versioning, then two versions.
    assert_eq!(put(&s3, "nbk", "x", &body(1), true).await, "null");
    s3.put_bucket_versioning()
        .bucket("nbk")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let x1 = put(&s3, "nbk", "x", &body(2), true).await;
    let x2 = put(&s3, "nbk", "x", &body(3), true).await;
    // A key whose newest version is a delete marker: without a backup, the marker (which
    // has no bytes) does not come back.
    let y1 = put(&s3, "nbk", "y", &body(4), true).await;
    s3.delete_object()
        .bucket("nbk")
        .key("y")
        .send()
        .await
        .unwrap();
    gw.kill();
    std::fs::remove_dir_all(&old_dir).unwrap();

    let new_dir = temp.path().join("new");
    let report = recovered(&config, &new_dir);
    assert_eq!(report["backup"], serde_json::Value::Null);
    assert_eq!(
        names(&report["rebuilt"]),
        [
            "nbk/x".to_owned(),
            format!("nbk/x@{x1}"),
            "nbk/x@null".to_owned(),
            "nbk/y".to_owned()
        ]
        .into(),
        "{report:#}"
    );
    assert!(
        report["notes"]
            .to_string()
            .contains("nbk has versioning enabled"),
        "{report:#}"
    );
    let gw = serve(&config, &new_dir);
    let s3 = gw.sdk();
    let versioning = s3
        .get_bucket_versioning()
        .bucket("nbk")
        .send()
        .await
        .unwrap();
    assert_eq!(versioning.status(), Some(&BucketVersioningStatus::Enabled));
    assert_eq!(get(&s3, "nbk", "x", None).await, Some(body(3)));
    assert_eq!(get(&s3, "nbk", "x", Some(&x2)).await, Some(body(3)));
    assert_eq!(get(&s3, "nbk", "x", Some(&x1)).await, Some(body(2)));
    assert_eq!(get(&s3, "nbk", "x", Some("null")).await, Some(body(1)));
    assert_eq!(get(&s3, "nbk", "y", None).await, Some(body(4)));
    assert_eq!(get(&s3, "nbk", "y", Some(&y1)).await, Some(body(4)));
}
