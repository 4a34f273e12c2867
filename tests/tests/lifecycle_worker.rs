//! The lifecycle worker with one-second days: objects walk ssd → hdd → remote at the ages
//! their rules give and are then deleted, reading back intact at every stage; expiration
//! takes exactly the objects its filters select; objects written before the rules exist are
//! found by the backfill.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use vmgw_tests::{Gateway, RemoteS3, md5_hex, pattern, run, three_tiers_config, vmgw_bin};

const REMOTE_BUCKET: &str = "vmgw-lc";

/// The tiers holding the object's bytes; empty once the object is gone (the worker may
/// expire it between two looks).
fn tiers_of(gw: &Gateway, key: &str) -> Vec<String> {
    let out = Command::new(vmgw_bin())
        .args(["object", "where", "lcb", key, "--json", "--data-dir"])
        .arg(&gw.data_dir)
        .output()
        .unwrap();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("does not exist"),
            "object where {key}: {stderr}"
        );
        return Vec::new();
    }
    let placement: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    placement["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["tier"].as_str().unwrap().to_owned())
        .collect()
}

async fn put(s3: &aws_sdk_s3::Client, key: &str, data: &[u8], tagging: Option<&str>) {
    s3.put_object()
        .bucket("lcb")
        .key(key)
        .set_tagging(tagging.map(str::to_owned))
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap();
}

async fn get(s3: &aws_sdk_s3::Client, key: &str) -> Option<Vec<u8>> {
    match s3.get_object().bucket("lcb").key(key).send().await {
        Ok(out) => Some(out.body.collect().await.unwrap().into_bytes().to_vec()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => None,
        Err(e) => panic!("GET {key}: {e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_walk_objects_through_the_tiers_and_expire_exactly_what_they_select() {
    let remote = RemoteS3::start_with_bucket(REMOTE_BUCKET).await;
    let temp = tempfile::tempdir().unwrap();
    let tiers = three_tiers_config(&remote.endpoint(), temp.path(), REMOTE_BUCKET, "");
    let gw = Gateway::start_with_config(
        temp.path(),
        &format!("[lifecycle]\nday_seconds = 1\nscan_interval_ms = 100\n\n{tiers}"),
    );
    let s3 = gw.sdk();
    s3.create_bucket().bucket("lcb").send().await.unwrap();

    // Written before the rules exist: found by the backfill the rule change starts.
    let late = pattern(2_000, 1);
    put(&s3, "late/x", &late, None).await;

    run(Command::new("/usr/bin/aws")
        .envs(gw.client_env())
        .args([
            "--endpoint-url",
            &gw.endpoint,
            "s3api",
            "put-bucket-lifecycle-configuration",
            "--bucket",
            "lcb",
            "--lifecycle-configuration",
        ])
        .arg(lifecycle_json()));

    let walk = pattern(300_000, 2);
    put(&s3, "walk/a", &walk, None).await;
    let big = pattern(1_000, 3);
    let small = pattern(50, 4);
    put(&s3, "exp/match", &big, Some("k=v")).await;
    put(&s3, "exp/small", &small, Some("k=v")).await;
    put(&s3, "exp/untagged", &big, None).await;
    put(&s3, "exp/othertag", &big, Some("k=w")).await;
    put(&s3, "other/x", &big, Some("k=v")).await;

    // Watch walk/a: record every (class, tier) it shows, checking its bytes each time.
    let mut seen: Vec<(String, Vec<String>)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let head = s3.head_object().bucket("lcb").key("walk/a").send().await;
        let Ok(head) = head else { break };
        let class = head
            .storage_class()
            .map_or("STANDARD".to_owned(), |c| c.as_str().to_owned());
        let tiers = tiers_of(&gw, "walk/a");
        match get(&s3, "walk/a").await {
            Some(bytes) => assert_eq!(md5_hex(&bytes), md5_hex(&walk), "at {class}"),
            None => break,
        }
        if seen.last() != Some(&(class.clone(), tiers.clone())) {
            seen.push((class, tiers));
        }
        assert!(Instant::now() < deadline, "walk/a never expired: {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stages: Vec<(String, Vec<String>)> =
        seen.into_iter().filter(|(_, t)| !t.is_empty()).collect();
    let expected = vec![
        ("STANDARD".to_owned(), vec!["ssd".to_owned()]),
        ("STANDARD_IA".to_owned(), vec!["hdd".to_owned()]),
        ("GLACIER".to_owned(), vec!["remote".to_owned()]),
    ];
    // Every stage in order (a poll may fall between the class change and the next look).
    let mut it = stages.iter();
    for want in &expected {
        assert!(
            it.any(|s| s == want),
            "walk/a stages {stages:?} miss {want:?}"
        );
    }
    assert_eq!(get(&s3, "walk/a").await, None, "expired");

    // Expiration took exactly what the And filter selects; the rest is intact.
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(&s3, "exp/match").await.is_some() || get(&s3, "late/x").await.is_some() {
        assert!(Instant::now() < deadline, "exp/match or late/x not expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut left = BTreeMap::new();
    for (key, data) in [
        ("exp/small", &small),
        ("exp/untagged", &big),
        ("exp/othertag", &big),
        ("other/x", &big),
    ] {
        left.insert(key, get(&s3, key).await.map(|b| md5_hex(&b)));
        assert_eq!(left[key], Some(md5_hex(data)), "{key} must stay");
    }
}

/// The rules: a walk through the tiers, an And filter, and one for objects older than the
/// rules.
fn lifecycle_json() -> String {
    serde_json::json!({"Rules": [
        {
            "ID": "walk",
            "Filter": {"Prefix": "walk/"},
            "Status": "Enabled",
            "Transitions": [
                {"Days": 1, "StorageClass": "STANDARD_IA"},
                {"Days": 3, "StorageClass": "GLACIER"}
            ],
            "Expiration": {"Days": 6}
        },
        {
            "ID": "sized",
            "Filter": {"And": {
                "Prefix": "exp/",
                "Tags": [{"Key": "k", "Value": "v"}],
                "ObjectSizeGreaterThan": 100
            }},
            "Status": "Enabled",
            "Expiration": {"Days": 1}
        },
        {
            "ID": "late",
            "Filter": {"Prefix": "late/"},
            "Status": "Enabled",
            "Expiration": {"Days": 1}
        }
    ]})
    .to_string()
}

/// A gateway on local tiers whose lifecycle days last one second.
fn start_with_short_days(temp: &std::path::Path) -> Gateway {
    Gateway::start_with_config(
        temp,
        "[lifecycle]\nday_seconds = 1\nscan_interval_ms = 100\n",
    )
}

fn blobs_on(data_dir: &std::path::Path, tier: &str) -> usize {
    std::fs::read_dir(data_dir.join("tiers").join(tier))
        .unwrap()
        .map(|shard| std::fs::read_dir(shard.unwrap().path()).unwrap().count())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_multipart_uploads_are_aborted_and_their_parts_removed() {
    let temp = tempfile::tempdir().unwrap();
    let gw = start_with_short_days(temp.path());
    let s3 = gw.sdk();
    s3.create_bucket().bucket("lcb").send().await.unwrap();
    let rules = aws_sdk_s3::types::BucketLifecycleConfiguration::builder()
        .rules(
            aws_sdk_s3::types::LifecycleRule::builder()
                .id("abort-mpu")
                .filter(
                    aws_sdk_s3::types::LifecycleRuleFilter::builder()
                        .prefix("mpu/")
                        .build(),
                )
                .status(aws_sdk_s3::types::ExpirationStatus::Enabled)
                .abort_incomplete_multipart_upload(
                    aws_sdk_s3::types::AbortIncompleteMultipartUpload::builder()
                        .days_after_initiation(1)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    s3.put_bucket_lifecycle_configuration()
        .bucket("lcb")
        .lifecycle_configuration(rules)
        .send()
        .await
        .unwrap();
    for key in ["mpu/stale", "keep/this"] {
        let upload = s3
            .create_multipart_upload()
            .bucket("lcb")
            .key(key)
            .send()
            .await
            .unwrap();
        s3.upload_part()
            .bucket("lcb")
            .key(key)
            .upload_id(upload.upload_id().unwrap())
            .part_number(1)
            .body(ByteStream::from(pattern(200_000, 7)))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(blobs_on(&gw.data_dir, "ssd"), 2);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let listed = s3
            .list_multipart_uploads()
            .bucket("lcb")
            .send()
            .await
            .unwrap();
        let keys: Vec<&str> = listed.uploads().iter().filter_map(|u| u.key()).collect();
        if keys == ["keep/this"] && blobs_on(&gw.data_dir, "ssd") == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "uploads {keys:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Killed in the middle of a lifecycle run (a crash point inside a transition's move), the
/// gateway finishes the run after a restart: every object transitioned exactly once, one
/// whole copy each, bytes intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_a_lifecycle_run_is_finished_after_restart() {
    let temp = tempfile::tempdir().unwrap();
    let mut gw = start_with_short_days(temp.path());
    let s3 = gw.sdk();
    s3.create_bucket().bucket("lcb").send().await.unwrap();
    let bodies: Vec<Vec<u8>> = (0..20).map(|i| pattern(300_000, 100 + i)).collect();
    for (i, body) in bodies.iter().enumerate() {
        put(&s3, &format!("cold/{i:02}"), body, None).await;
    }
    // Stop before the rules exist, then come back armed: the worker's first move dies.
    gw.set_env(vec![("VMGW_FAULT_CRASH_AT".into(), "move:copied".into())]);
    gw.restart(true);
    let s3 = gw.sdk();
    let rules = aws_sdk_s3::types::BucketLifecycleConfiguration::builder()
        .rules(
            aws_sdk_s3::types::LifecycleRule::builder()
                .id("cool")
                .filter(
                    aws_sdk_s3::types::LifecycleRuleFilter::builder()
                        .prefix("cold/")
                        .build(),
                )
                .status(aws_sdk_s3::types::ExpirationStatus::Enabled)
                .transitions(
                    aws_sdk_s3::types::Transition::builder()
                        .days(1)
                        .storage_class(aws_sdk_s3::types::TransitionStorageClass::StandardIa)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    s3.put_bucket_lifecycle_configuration()
        .bucket("lcb")
        .lifecycle_configuration(rules)
        .send()
        .await
        .unwrap();
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
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut on_hdd = 0;
        for i in 0..bodies.len() {
            if tiers_of(&gw, &format!("cold/{i:02}")) == ["hdd"] {
                on_hdd += 1;
            }
        }
        if on_hdd == bodies.len() && blobs_on(&gw.data_dir, "ssd") == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{on_hdd} of {} on hdd, {} blobs left on ssd",
            bodies.len(),
            blobs_on(&gw.data_dir, "ssd")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(blobs_on(&gw.data_dir, "hdd"), bodies.len(), "one copy each");
    for (i, body) in bodies.iter().enumerate() {
        let key = format!("cold/{i:02}");
        let head = s3
            .head_object()
            .bucket("lcb")
            .key(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.storage_class().map(|c| c.as_str()),
            Some("STANDARD_IA")
        );
        assert_eq!(
            md5_hex(&get(&s3, &key).await.unwrap()),
            md5_hex(body),
            "{key}"
        );
    }
}

/// On a versioned bucket, Expiration of a current version adds a delete marker (the version
/// stays, noncurrent and readable by its id), as S3 does; on a suspended one a `null`
/// marker that replaces the `null` version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiration_on_a_versioned_bucket_adds_a_delete_marker() {
    use aws_sdk_s3::types::{
        BucketLifecycleConfiguration, BucketVersioningStatus, ExpirationStatus,
        LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, VersioningConfiguration,
    };
    let temp = tempfile::tempdir().unwrap();
    let gw = start_with_short_days(temp.path());
    let s3 = gw.sdk();
    let versioning = |bucket: &'static str, status| {
        s3.put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(VersioningConfiguration::builder().status(status).build())
            .send()
    };
    for (bucket, status) in [
        ("lcb", BucketVersioningStatus::Enabled),
        ("lcs", BucketVersioningStatus::Suspended),
    ] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
        versioning(bucket, status).await.unwrap();
        s3.put_bucket_lifecycle_configuration()
            .bucket(bucket)
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder()
                    .rules(
                        LifecycleRule::builder()
                            .id("expire")
                            .filter(LifecycleRuleFilter::builder().prefix("exp/").build())
                            .status(ExpirationStatus::Enabled)
                            .expiration(LifecycleExpiration::builder().days(1).build())
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    let data = pattern(5_000, 9);
    let version = s3
        .put_object()
        .bucket("lcb")
        .key("exp/a")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    s3.put_object()
        .bucket("lcs")
        .key("exp/a")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("lcb")
        .key("keep")
        .body(ByteStream::from_static(b"kept"))
        .send()
        .await
        .unwrap();

    // Both expire within a few (one-second) days.
    let deadline = Instant::now() + Duration::from_secs(30);
    for bucket in ["lcb", "lcs"] {
        loop {
            let head = s3.head_object().bucket(bucket).key("exp/a").send().await;
            if head.is_err() {
                break;
            }
            assert!(Instant::now() < deadline, "{bucket}/exp/a never expired");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let listing = s3
        .list_object_versions()
        .bucket("lcb")
        .prefix("exp/")
        .send()
        .await
        .unwrap();
    let versions: Vec<(&str, bool)> = listing
        .versions()
        .iter()
        .map(|v| (v.version_id().unwrap(), v.is_latest().unwrap()))
        .collect();
    assert_eq!(versions, [(version.as_str(), false)]);
    assert_eq!(listing.delete_markers().len(), 1);
    assert_eq!(listing.delete_markers()[0].is_latest(), Some(true));
    let old = s3
        .get_object()
        .bucket("lcb")
        .key("exp/a")
        .version_id(&version)
        .send()
        .await
        .unwrap();
    assert_eq!(
        old.body.collect().await.unwrap().into_bytes().to_vec(),
        data
    );
    // Suspended: the marker is `null` and took the `null` version's place. Alone under its
    // key, it is an expired object delete marker, which a configuration that expires
    // current versions removes too once it is a day old (as S3 does): it may already be.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listing = s3
            .list_object_versions()
            .bucket("lcs")
            .send()
            .await
            .unwrap();
        assert!(listing.versions().is_empty(), "{listing:?}");
        let markers: Vec<(&str, bool)> = listing
            .delete_markers()
            .iter()
            .map(|m| (m.version_id().unwrap(), m.is_latest().unwrap()))
            .collect();
        match markers.as_slice() {
            [] => break,
            [("null", true)] => {}
            other => panic!("lcs markers {other:?}"),
        }
        assert!(Instant::now() < deadline, "the lone null marker stays");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The enabled bucket's marker has a version under it: it stays.
    let listing = s3
        .list_object_versions()
        .bucket("lcb")
        .prefix("exp/")
        .send()
        .await
        .unwrap();
    assert_eq!(listing.delete_markers().len(), 1, "{listing:?}");
    assert_eq!(listing.versions().len(), 1, "{listing:?}");
    assert_eq!(get(&s3, "keep").await.as_deref(), Some(&b"kept"[..]));
}
