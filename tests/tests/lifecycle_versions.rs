//! Lifecycle rules on noncurrent versions, with one-second days, on a versioned bucket:
//! NoncurrentVersionExpiration removes exactly the versions older than the newest ones it
//! keeps and their blobs leave the tiers; NoncurrentVersionTransition moves single
//! noncurrent versions to STANDARD_IA's tier and then GLACIER's while the current version
//! stays where it is; ExpiredObjectDeleteMarker removes delete markers that are alone and
//! leaves those with versions under them; filters select versions by their own tags and
//! size. A crash in the middle of moving noncurrent versions is finished after a restart.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use vmgw_tests::{Gateway, md5_hex, pattern};

const BUCKET: &str = "lcv";

/// Three local tiers, so STANDARD_IA (`hdd`) and GLACIER (the coldest, `cold`) differ.
fn config() -> String {
    "[lifecycle]\nday_seconds = 1\nscan_interval_ms = 100\n\n\
     [[tiers]]\nname = \"ssd\"\npath = \"tiers/ssd\"\n\n\
     [[tiers]]\nname = \"hdd\"\npath = \"tiers/hdd\"\n\n\
     [[tiers]]\nname = \"cold\"\npath = \"tiers/cold\"\n"
        .to_owned()
}

/// Blob files on a tier's directory.
fn blobs_on(data_dir: &Path, tier: &str) -> usize {
    let Ok(shards) = std::fs::read_dir(data_dir.join("tiers").join(tier)) else {
        return 0;
    };
    shards
        .map(|shard| std::fs::read_dir(shard.unwrap().path()).unwrap().count())
        .sum()
}

async fn versioned_bucket(s3: &aws_sdk_s3::Client) {
    vmgw_tests::create_versioned_bucket(s3, BUCKET).await;
}

/// Puts a version; returns its version id.
async fn put(s3: &aws_sdk_s3::Client, key: &str, data: &[u8], tagging: Option<&str>) -> String {
    s3.put_object()
        .bucket(BUCKET)
        .key(key)
        .set_tagging(tagging.map(str::to_owned))
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned()
}

/// Deletes without a version id; returns the delete marker's version id.
async fn delete(s3: &aws_sdk_s3::Client, key: &str) -> String {
    s3.delete_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned()
}

async fn get_version(s3: &aws_sdk_s3::Client, key: &str, version: Option<&str>) -> Vec<u8> {
    s3.get_object()
        .bucket(BUCKET)
        .key(key)
        .set_version_id(version.map(str::to_owned))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {key} {version:?}: {e:?}"))
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes()
        .to_vec()
}

/// What ListObjectVersions shows of one key: data versions (id, storage class, latest) and
/// delete markers (id, latest), newest first.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Listed {
    versions: Vec<(String, String, bool)>,
    markers: Vec<(String, bool)>,
}

async fn listing(s3: &aws_sdk_s3::Client) -> BTreeMap<String, Listed> {
    let out = s3
        .list_object_versions()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    assert_eq!(out.is_truncated(), Some(false));
    let mut keys: BTreeMap<String, Listed> = BTreeMap::new();
    for v in out.versions() {
        keys.entry(v.key().unwrap().to_owned())
            .or_default()
            .versions
            .push((
                v.version_id().unwrap().to_owned(),
                v.storage_class()
                    .map_or("STANDARD".to_owned(), |c| c.as_str().to_owned()),
                v.is_latest().unwrap(),
            ));
    }
    for m in out.delete_markers() {
        keys.entry(m.key().unwrap().to_owned())
            .or_default()
            .markers
            .push((m.version_id().unwrap().to_owned(), m.is_latest().unwrap()));
    }
    keys
}

fn ids(listed: Option<&Listed>) -> Vec<&str> {
    listed.map_or_else(Vec::new, |l| {
        l.versions.iter().map(|(id, _, _)| id.as_str()).collect()
    })
}

/// Polls `done` until it holds or `limit` passes (then fails with what `describe` says).
async fn wait_until<F, Fut>(limit: Duration, mut done: F, describe: &str)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + limit;
    loop {
        match done().await {
            Ok(()) => return,
            Err(state) => assert!(Instant::now() < deadline, "{describe}: {state}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn rules_json() -> serde_json::Value {
    serde_json::json!({"Rules": [
        {
            "ID": "expire",
            "Filter": {"Prefix": "exp/"},
            "Status": "Enabled",
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 2}
        },
        {
            "ID": "cool",
            "Filter": {"Prefix": "cool/"},
            "Status": "Enabled",
            "NoncurrentVersionTransitions": [
                {"NoncurrentDays": 1, "StorageClass": "STANDARD_IA"},
                {"NoncurrentDays": 4, "StorageClass": "GLACIER"}
            ]
        },
        {
            "ID": "markers",
            "Filter": {"Prefix": "dm/"},
            "Status": "Enabled",
            "Expiration": {"ExpiredObjectDeleteMarker": true}
        },
        {
            "ID": "tagged",
            "Filter": {"And": {
                "Prefix": "tag/",
                "Tags": [{"Key": "k", "Value": "v"}],
                "ObjectSizeGreaterThan": 1000
            }},
            "Status": "Enabled",
            "NoncurrentVersionExpiration": {"NoncurrentDays": 2}
        }
    ]})
}

async fn put_rules(gw: &Gateway, rules: &serde_json::Value) {
    vmgw_tests::run(
        std::process::Command::new("/usr/bin/aws")
            .envs(gw.client_env())
            .args([
                "--endpoint-url",
                &gw.endpoint,
                "s3api",
                "put-bucket-lifecycle-configuration",
                "--bucket",
                BUCKET,
                "--lifecycle-configuration",
            ])
            .arg(rules.to_string()),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noncurrent_rules_expire_transition_and_clean_up_exactly() {
    let temp = tempfile::tempdir().unwrap();
    let gw = Gateway::start_with_config(temp.path(), &config());
    let s3 = gw.sdk();
    versioned_bucket(&s3).await;
    // Written before the rules exist: the rule change's backfill must find them.
    let big = |seed: u64| pattern(100_000, seed);
    let mut exp = Vec::new();
    for seed in 1..=5 {
        exp.push((put(&s3, "exp/a", &big(seed), None).await, big(seed)));
    }
    put_rules(&gw, &rules_json()).await;

    // exp/b: deleted over two versions, both kept by NewerNoncurrentVersions.
    let b1 = put(&s3, "exp/b", &big(11), None).await;
    let b2 = put(&s3, "exp/b", &big(12), None).await;
    let b_marker = delete(&s3, "exp/b").await;
    // cool/a: two noncurrent versions walk to hdd and then the cold tier.
    let mut cool = Vec::new();
    for seed in 21..=23 {
        cool.push((put(&s3, "cool/a", &big(seed), None).await, big(seed)));
    }
    // dm/keep: a marker over a version stays; dm/lone: its only version deleted by id,
    // the marker left alone goes; dm/never: a marker on a key that never existed goes.
    let keep_v = put(&s3, "dm/keep", &big(31), None).await;
    let keep_marker = delete(&s3, "dm/keep").await;
    let lone_v = put(&s3, "dm/lone", &big(32), None).await;
    delete(&s3, "dm/lone").await;
    s3.delete_object()
        .bucket(BUCKET)
        .key("dm/lone")
        .version_id(&lone_v)
        .send()
        .await
        .unwrap();
    delete(&s3, "dm/never").await;
    // tag/x: only the tagged version over 1000 bytes is selected.
    let tag_big = put(&s3, "tag/x", &pattern(2_000, 41), Some("k=v")).await;
    let tag_untagged = put(&s3, "tag/x", &pattern(2_000, 42), None).await;
    let tag_small = put(&s3, "tag/x", &pattern(500, 43), Some("k=v")).await;
    let tag_current = put(&s3, "tag/x", &pattern(700, 44), None).await;

    // The end state: versions and markers exactly as the rules leave them.
    let expected_exp: Vec<&str> = exp[2..].iter().rev().map(|(id, _)| id.as_str()).collect();
    let expected_cool: Vec<(String, String, bool)> = vec![
        (cool[2].0.clone(), "STANDARD".into(), true),
        (cool[1].0.clone(), "GLACIER".into(), false),
        (cool[0].0.clone(), "GLACIER".into(), false),
    ];
    let mut saw_ia = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let keys = listing(&s3).await;
        let cool_now = keys.get("cool/a").cloned().unwrap_or_default();
        // The intermediate stage: both noncurrent versions on hdd, the current one still
        // on ssd.
        let noncurrent = cool_now.versions.get(1..).unwrap_or_default();
        if noncurrent.len() == 2
            && noncurrent
                .iter()
                .all(|(_, class, _)| class == "STANDARD_IA")
            && blobs_on(&gw.data_dir, "hdd") == 2
        {
            saw_ia = true;
        }
        let done = ids(keys.get("exp/a")) == expected_exp
            && cool_now.versions == expected_cool
            && !keys.contains_key("dm/lone")
            && !keys.contains_key("dm/never")
            && ids(keys.get("tag/x")) == [&tag_current, &tag_small, &tag_untagged];
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rules did not reach their end state: {keys:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        saw_ia,
        "cool/a's noncurrent versions never showed on hdd first"
    );

    // What must not have changed, exactly.
    let keys = listing(&s3).await;
    assert_eq!(
        keys["exp/b"],
        Listed {
            versions: vec![
                (b2.clone(), "STANDARD".into(), false),
                (b1.clone(), "STANDARD".into(), false)
            ],
            markers: vec![(b_marker, true)],
        }
    );
    assert_eq!(
        keys["dm/keep"],
        Listed {
            versions: vec![(keep_v.clone(), "STANDARD".into(), false)],
            markers: vec![(keep_marker, true)],
        }
    );
    assert!(keys["exp/a"].markers.is_empty() && keys["exp/a"].versions[0].2);
    assert!(!ids(keys.get("tag/x")).contains(&tag_big.as_str()));

    // Current versions untouched; remaining versions byte-identical by id.
    assert_eq!(
        md5_hex(&get_version(&s3, "exp/a", None).await),
        md5_hex(&exp[4].1)
    );
    assert_eq!(
        md5_hex(&get_version(&s3, "cool/a", None).await),
        md5_hex(&cool[2].1)
    );
    for (id, data) in &exp[2..] {
        assert_eq!(
            md5_hex(&get_version(&s3, "exp/a", Some(id)).await),
            md5_hex(data)
        );
    }
    for (id, data) in &cool {
        assert_eq!(
            md5_hex(&get_version(&s3, "cool/a", Some(id)).await),
            md5_hex(data)
        );
    }
    assert_eq!(get_version(&s3, "exp/b", Some(&b1)).await, big(11));
    assert_eq!(get_version(&s3, "dm/keep", Some(&keep_v)).await, big(31));
    assert_eq!(get_version(&s3, "tag/x", None).await, pattern(700, 44));
    assert_eq!(
        get_version(&s3, "tag/x", Some(&tag_untagged)).await,
        pattern(2_000, 42)
    );
    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key("cool/a")
        .version_id(&cool[0].0)
        .send()
        .await
        .unwrap();
    assert_eq!(head.storage_class().map(|c| c.as_str()), Some("GLACIER"));

    // On disk: the two GLACIER versions on the cold tier, nothing left on hdd, and on ssd
    // exactly the blobs of the data versions that remain there (exp/a 3, exp/b 2, cool/a
    // 1, dm/keep 1; tag/x is small enough to live in the metadata store): the blobs of the
    // removed versions were reclaimed.
    wait_until(
        Duration::from_secs(20),
        || {
            let data_dir = gw.data_dir.clone();
            async move {
                let counts = [
                    blobs_on(&data_dir, "ssd"),
                    blobs_on(&data_dir, "hdd"),
                    blobs_on(&data_dir, "cold"),
                ];
                if counts == [7, 0, 2] {
                    Ok(())
                } else {
                    Err(format!("ssd, hdd, cold blobs: {counts:?}"))
                }
            }
        },
        "blobs on the tiers",
    )
    .await;
}

/// Killed while moving noncurrent versions (a crash point inside a move), the gateway
/// finishes after a restart: every noncurrent version moved exactly once, one whole copy
/// each, bytes intact, current versions where they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_while_moving_noncurrent_versions_is_finished_after_restart() {
    let temp = tempfile::tempdir().unwrap();
    let mut gw = Gateway::start_with_config(temp.path(), &config());
    let s3 = gw.sdk();
    versioned_bucket(&s3).await;
    let mut keys = Vec::new();
    for i in 0..10u64 {
        let key = format!("cold/{i:02}");
        let old = pattern(200_000, 100 + i);
        let old_id = put(&s3, &key, &old, None).await;
        let new = pattern(150_000, 200 + i);
        put(&s3, &key, &new, None).await;
        keys.push((key, old_id, old, new));
    }
    // Stop before the rules exist, then come back armed: the worker's first move dies.
    gw.set_env(vec![("VMGW_FAULT_CRASH_AT".into(), "move:copied".into())]);
    gw.restart(true);
    let rules = serde_json::json!({"Rules": [{
        "ID": "cool",
        "Filter": {"Prefix": "cold/"},
        "Status": "Enabled",
        "NoncurrentVersionTransitions": [{"NoncurrentDays": 1, "StorageClass": "STANDARD_IA"}]
    }]});
    put_rules(&gw, &rules).await;
    let status = gw.wait_exit(Duration::from_secs(60));
    assert!(
        !status.success(),
        "the crash point should have stopped the gateway"
    );
    assert!(
        gw.log().contains("crash point move:copied reached"),
        "{}",
        gw.log()
    );

    gw.set_env(Vec::new());
    gw.restart(true);
    let s3 = gw.sdk();
    wait_until(
        Duration::from_secs(60),
        || {
            let s3 = s3.clone();
            let data_dir = gw.data_dir.clone();
            async move {
                let listed = listing(&s3).await;
                let moved = listed
                    .values()
                    .filter(|l| l.versions.len() == 2 && l.versions[1].1 == "STANDARD_IA")
                    .count();
                let (ssd, hdd) = (blobs_on(&data_dir, "ssd"), blobs_on(&data_dir, "hdd"));
                if moved == 10 && ssd == 10 && hdd == 10 {
                    Ok(())
                } else {
                    Err(format!("{moved} moved, {ssd} blobs on ssd, {hdd} on hdd"))
                }
            }
        },
        "noncurrent versions after the restart",
    )
    .await;
    for (key, old_id, old, new) in &keys {
        assert_eq!(
            md5_hex(&get_version(&s3, key, Some(old_id)).await),
            md5_hex(old),
            "{key}"
        );
        assert_eq!(
            md5_hex(&get_version(&s3, key, None).await),
            md5_hex(new),
            "{key}"
        );
        let head = s3
            .head_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap();
        assert!(
            matches!(
                head.storage_class().map(|c| c.as_str()),
                None | Some("STANDARD")
            ),
            "{key}: the current version stays STANDARD"
        );
    }
}
