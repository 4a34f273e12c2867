//! Two DaemonSet nodes sharing one remote bucket, and the moto helpers that inspect it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;
use vmgw_tests::{RemoteS3, output_within, pattern};

use crate::fixture::{DAEMONSET_REMOTE_PREFIX, NODE_A, NODE_B, toml};
use crate::pod::{
    PodGateway, contains, files_under, node_disk, pod_command, put_and_get, s3_client, start_pod,
    tier_dir,
};

/// A remote tier shared by every node of a DaemonSet: two gateways started from the one
/// rendered config as two nodes (their own disks, their own `VMGW_NODE_NAME`) on one bucket
/// keep their blobs apart, and neither's orphan sweep touches the other's data.
///
/// The sweep run here is the start-up one, after an unclean stop (kill -9, then a start):
/// it runs before the gateway serves, so the test knows when it has finished (the log says
/// so, with what it removed), and it does all a sweep does to a remote tier: it deletes the
/// blobs under the prefix that the metadata does not know, and aborts the unfinished
/// multipart uploads under it. The periodic sweep (`storage.orphan_sweep_secs`) lists and
/// deletes the same way, without the aborts.
pub(crate) async fn nodes_share_a_remote_bucket(name: &str) {
    let bucket = toml(name)["tiers"][2]["bucket"].as_str().unwrap();
    let prefix_a = format!("{DAEMONSET_REMOTE_PREFIX}{NODE_A}/");
    let prefix_b = format!("{DAEMONSET_REMOTE_PREFIX}{NODE_B}/");
    let moto = RemoteS3::start_with_bucket(bucket).await;
    let endpoint = moto.endpoint();

    // Without the variable the config is refused, not expanded to nothing: every node would
    // then share `vms/cluster1//`.
    let root = node_disk(name, "no-node-name");
    let (mut cmd, _) = pod_command(name, None, &root, Some(&endpoint));
    // A refusal is immediate; a gateway that starts instead runs until this limit.
    let out = output_within(&mut cmd, Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "started without VMGW_NODE_NAME: {stderr}"
    );
    assert!(
        stderr.contains("prefix") && stderr.contains("VMGW_NODE_NAME is not set"),
        "{stderr}"
    );

    // node-a: a GLACIER object goes to the remote tier, under node-a's prefix and nowhere
    // else (sealed: the tier encrypts).
    let gw_a = start_pod(name, NODE_A, Some(&endpoint));
    let s3_a = s3_client(name, &gw_a);
    s3_a.create_bucket()
        .bucket("chart-probe")
        .send()
        .await
        .expect("create bucket on node-a");
    let hot_a = put_and_get(&s3_a, "hot-a.bin", "STANDARD", 5).await;
    let cold_a = put_and_get(&s3_a, "cold-a.bin", "GLACIER", 6).await;
    let remote = moto.objects(bucket).await;
    assert!(!remote.is_empty(), "nothing reached the bucket");
    for (key, size) in &remote {
        assert!(
            key.starts_with(&prefix_a) && *size > 0,
            "{key} is not under {prefix_a}: {remote:?}"
        );
    }
    let blobs_a = remote_under(&moto, bucket, &prefix_a).await;
    for (key, data) in &blobs_a {
        assert!(!contains(data, &cold_a[..4096]), "{key} holds plaintext");
    }
    assert!(
        !files_under(&tier_dir(name, &gw_a, 0)).is_empty(),
        "nothing on ssd"
    );
    assert!(
        files_under(&tier_dir(name, &gw_a, 1)).is_empty(),
        "the GLACIER object reached the hdd tier too"
    );

    // node-b, from the same rendered config on its own disk: its own prefix.
    let gw_b = start_pod(name, NODE_B, Some(&endpoint));
    let s3_b = s3_client(name, &gw_b);
    s3_b.create_bucket()
        .bucket("chart-probe")
        .send()
        .await
        .expect("create bucket on node-b");
    let cold_b = put_and_get(&s3_b, "cold-b.bin", "GLACIER", 7).await;
    let blobs_b = remote_under(&moto, bucket, &prefix_b).await;
    assert!(!blobs_b.is_empty(), "node-b wrote nothing under {prefix_b}");
    let all: BTreeSet<String> = moto
        .objects(bucket)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let expected: BTreeSet<String> = blobs_a.keys().chain(blobs_b.keys()).cloned().collect();
    assert_eq!(all, expected, "keys outside the two nodes' prefixes");

    // What node-b's sweep must remove, so that what it leaves is left by choice: an orphan
    // under its own prefix (a blob its metadata does not know, as a crash leaves one) and an
    // upload its crash left unfinished; and what it must leave: an upload node-a has in
    // flight under node-a's prefix.
    let orphan_b = plant_orphan(&moto, bucket, &prefix_b).await;
    let upload_a = start_upload(&moto, bucket, &prefix_a).await;
    let upload_b = start_upload(&moto, bucket, &prefix_b).await;
    assert_eq!(
        unfinished_uploads(&moto, bucket).await,
        BTreeSet::from([upload_a.clone(), upload_b])
    );

    gw_b.kill_9();
    let gw_b = start_pod(name, NODE_B, Some(&endpoint));
    assert_eq!(startup_sweep_removed(&gw_b), 1, "{}", gw_b.log());
    assert!(
        !remote_keys(&moto, bucket).await.contains(&orphan_b),
        "the orphan is still there"
    );
    assert_eq!(
        unfinished_uploads(&moto, bucket).await,
        BTreeSet::from([upload_a]),
        "node-b's sweep aborted node-a's upload, or left its own"
    );
    // node-a's data survived node-b's sweep: its blobs byte for byte, its objects through
    // node-a; and node-b kept its own.
    assert_eq!(remote_under(&moto, bucket, &prefix_a).await, blobs_a);
    assert!(vmgw_tests::get_bytes(&s3_a, "chart-probe", "cold-a.bin").await == cold_a);
    assert_eq!(remote_under(&moto, bucket, &prefix_b).await, blobs_b);
    let s3_b = s3_client(name, &gw_b);
    assert!(vmgw_tests::get_bytes(&s3_b, "chart-probe", "cold-b.bin").await == cold_b);

    // The other way round: node-a's start-up sweep removes its own orphan and aborts its own
    // unfinished upload, and keeps node-b's data. The read-promotion cache starts empty, so
    // node-a's reads now come from the bucket.
    let orphan_a = plant_orphan(&moto, bucket, &prefix_a).await;
    gw_a.kill_9();
    let gw_a = start_pod(name, NODE_A, Some(&endpoint));
    assert_eq!(startup_sweep_removed(&gw_a), 1, "{}", gw_a.log());
    assert!(
        !remote_keys(&moto, bucket).await.contains(&orphan_a),
        "the orphan is still there"
    );
    assert_eq!(unfinished_uploads(&moto, bucket).await, BTreeSet::new());
    assert_eq!(remote_under(&moto, bucket, &prefix_b).await, blobs_b);
    assert_eq!(remote_under(&moto, bucket, &prefix_a).await, blobs_a);
    let s3_a = s3_client(name, &gw_a);
    assert!(vmgw_tests::get_bytes(&s3_a, "chart-probe", "cold-a.bin").await == cold_a);
    assert!(vmgw_tests::get_bytes(&s3_a, "chart-probe", "hot-a.bin").await == hot_a);
    assert!(vmgw_tests::get_bytes(&s3_b, "chart-probe", "cold-b.bin").await == cold_b);
}

/// Every object in `bucket` under `prefix`, with its bytes.
async fn remote_under(moto: &RemoteS3, bucket: &str, prefix: &str) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for (key, _) in moto.objects(bucket).await {
        if key.starts_with(prefix) {
            let data = moto.object(bucket, &key).await;
            out.insert(key, data);
        }
    }
    out
}

async fn remote_keys(moto: &RemoteS3, bucket: &str) -> BTreeSet<String> {
    moto.objects(bucket)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

/// A key where a gateway whose tier prefix is `prefix` keeps a blob: `<shard>/<id>`, the id
/// 32 hex digits and the shard its first byte. Random, so no gateway's metadata knows it.
fn blob_key(prefix: &str) -> String {
    let id: u128 = rand::random();
    format!("{prefix}{:02x}/{id:032x}", id >> 120)
}

/// Puts a blob no metadata knows under `prefix`, as an interrupted write leaves one.
async fn plant_orphan(moto: &RemoteS3, bucket: &str, prefix: &str) -> String {
    let key = blob_key(prefix);
    moto.sdk()
        .put_object()
        .bucket(bucket)
        .key(&key)
        .body(pattern(4096, 8).into())
        .send()
        .await
        .expect("plant an orphan");
    key
}

/// Starts a multipart upload of a blob under `prefix`, as a gateway uploading a large blob
/// (or one that crashed while uploading it) has one.
async fn start_upload(moto: &RemoteS3, bucket: &str, prefix: &str) -> String {
    let key = blob_key(prefix);
    moto.sdk()
        .create_multipart_upload()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .expect("start a multipart upload");
    key
}

/// The keys of the multipart uploads in `bucket` that are neither completed nor aborted.
async fn unfinished_uploads(moto: &RemoteS3, bucket: &str) -> BTreeSet<String> {
    moto.sdk()
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .expect("list multipart uploads")
        .uploads()
        .iter()
        .filter_map(|u| u.key().map(str::to_owned))
        .collect()
}

/// How many orphans the gateway's start-up sweep removed, from its log (JSON lines, the
/// chart's default format); fails when no start-up sweep ran.
fn startup_sweep_removed(gw: &PodGateway) -> u64 {
    let log = gw.log();
    let line = log
        .lines()
        .find(|l| l.contains("start-up sweep after an unclean shutdown finished"))
        .unwrap_or_else(|| panic!("no start-up sweep ran:\n{log}"));
    let entry: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    entry["removed"]
        .as_u64()
        .unwrap_or_else(|| panic!("no count of removed blobs: {line}"))
}
