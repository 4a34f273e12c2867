//! Intelligent-Tiering: the bucket configuration API through aws-cli (round trip and S3's
//! errors), and, with 100 ms days, objects of the INTELLIGENT_TIERING class walking
//! ssd → hdd → remote as they go unread while read ones stay on the ssd, and a read
//! bringing an archived object back.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::StorageClass;
use serde_json::{Value, json};
use vmgw_tests::{Gateway, RemoteS3, md5_hex, pattern, run, three_tiers_config, vmgw_bin};

const BUCKET: &str = "itb";
const REMOTE_BUCKET: &str = "vmgw-it";
/// One lifecycle day in the walk test: 30 days unread are 3 s, 90 are 9 s.
const DAY_SECONDS: f64 = 0.1;

/// Debian's aws-cli v2.
fn aws(gw: &Gateway, args: &[&str]) -> Command {
    common::aws_v2(gw, args)
}

fn put_config(gw: &Gateway, id: &str, config: &Value) -> std::process::Output {
    aws(
        gw,
        &[
            "s3api",
            "put-bucket-intelligent-tiering-configuration",
            "--bucket",
            BUCKET,
            "--id",
            id,
            "--intelligent-tiering-configuration",
            &config.to_string(),
        ],
    )
    .output()
    .unwrap()
}

fn get_config(gw: &Gateway, id: &str) -> std::process::Output {
    aws(
        gw,
        &[
            "s3api",
            "get-bucket-intelligent-tiering-configuration",
            "--bucket",
            BUCKET,
            "--id",
            id,
        ],
    )
    .output()
    .unwrap()
}

fn json_of(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn archive_config(id: &str, prefix: &str, archive: i64, deep: i64) -> Value {
    json!({
        "Id": id,
        "Filter": {"Prefix": prefix},
        "Status": "Enabled",
        "Tierings": [
            {"Days": archive, "AccessTier": "ARCHIVE_ACCESS"},
            {"Days": deep, "AccessTier": "DEEP_ARCHIVE_ACCESS"}
        ]
    })
}

#[test]
fn the_configuration_api_round_trips_with_aws_cli_and_refuses_what_s3_refuses() {
    let gw = Gateway::start();
    run(&mut aws(
        &gw,
        &["s3api", "create-bucket", "--bucket", BUCKET],
    ));

    let first = archive_config("archive-logs", "logs/", 90, 180);
    assert!(put_config(&gw, "archive-logs", &first).status.success());
    let tagged = json!({
        "Id": "deep-tagged",
        "Filter": {"And": {"Prefix": "data/", "Tags": [{"Key": "tier", "Value": "cold"}]}},
        "Status": "Disabled",
        "Tierings": [{"Days": 365, "AccessTier": "DEEP_ARCHIVE_ACCESS"}]
    });
    assert!(put_config(&gw, "deep-tagged", &tagged).status.success());

    let got = json_of(&get_config(&gw, "archive-logs"));
    assert_eq!(got["IntelligentTieringConfiguration"], first);
    let got = json_of(&get_config(&gw, "deep-tagged"));
    assert_eq!(got["IntelligentTieringConfiguration"], tagged);

    // Replacing by Id keeps one configuration per Id.
    let replaced = archive_config("archive-logs", "logs/", 120, 400);
    assert!(put_config(&gw, "archive-logs", &replaced).status.success());
    let listed = json_of(
        &aws(
            &gw,
            &[
                "s3api",
                "list-bucket-intelligent-tiering-configurations",
                "--bucket",
                BUCKET,
            ],
        )
        .output()
        .unwrap(),
    );
    assert_eq!(
        listed["IntelligentTieringConfigurationList"],
        json!([replaced, tagged])
    );
    assert_eq!(listed["IsTruncated"], json!(false));

    run(&mut aws(
        &gw,
        &[
            "s3api",
            "delete-bucket-intelligent-tiering-configuration",
            "--bucket",
            BUCKET,
            "--id",
            "archive-logs",
        ],
    ));
    let gone = get_config(&gw, "archive-logs");
    assert!(!gone.status.success());
    let stderr = String::from_utf8_lossy(&gone.stderr);
    assert!(stderr.contains("NoSuchConfiguration"), "{stderr}");

    // S3's refusals, each with its code.
    let cases: Vec<(&str, &str, Value)> = vec![
        (
            "archive under 90 days",
            "InvalidArgument",
            archive_config("a", "", 89, 180),
        ),
        (
            "deep archive under 180 days",
            "InvalidArgument",
            archive_config("a", "", 90, 179),
        ),
        (
            "archive over 730 days",
            "InvalidArgument",
            archive_config("a", "", 731, 732),
        ),
        (
            "deep archive not after archive",
            "InvalidArgument",
            archive_config("a", "", 300, 200),
        ),
        (
            "an access tier twice",
            "InvalidArgument",
            json!({"Id": "a", "Status": "Enabled", "Tierings": [
                {"Days": 90, "AccessTier": "ARCHIVE_ACCESS"},
                {"Days": 100, "AccessTier": "ARCHIVE_ACCESS"}]}),
        ),
        (
            "no tierings",
            "MalformedXML",
            json!({"Id": "a", "Status": "Enabled", "Tierings": []}),
        ),
        (
            "an unknown status",
            "MalformedXML",
            json!({"Id": "a", "Status": "Sometimes", "Tierings": [
                {"Days": 90, "AccessTier": "ARCHIVE_ACCESS"}]}),
        ),
        (
            "an Id differing from the request's",
            "InvalidArgument",
            archive_config("other", "", 90, 180),
        ),
    ];
    for (what, code, config) in cases {
        let out = put_config(&gw, "a", &config);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(code),
            "{what}: expected {code}, got {stderr}"
        );
    }
    let left = get_config(&gw, "a");
    assert!(!left.status.success(), "nothing invalid was stored");
}

/// The tiers holding the object's bytes (empty for an object kept inline).
fn tiers_of(gw: &Gateway, key: &str) -> Vec<String> {
    let out = Command::new(vmgw_bin())
        .args(["object", "where", BUCKET, key, "--json", "--data-dir"])
        .arg(&gw.data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "object where {key}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let placement: Value = serde_json::from_slice(&out.stdout).unwrap();
    placement["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["tier"].as_str().unwrap().to_owned())
        .collect()
}

/// What an observer sees of an object without reading it (HEAD and the admin socket do
/// not count as access): its tiers and archive status; its class must stay
/// INTELLIGENT_TIERING throughout.
async fn look(gw: &Gateway, s3: &aws_sdk_s3::Client, key: &str) -> (Vec<String>, Option<String>) {
    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.storage_class(),
        Some(&StorageClass::IntelligentTiering),
        "{key}"
    );
    let status = head.archive_status().map(|s| s.as_str().to_owned());
    (tiers_of(gw, key), status)
}

async fn get(s3: &aws_sdk_s3::Client, key: &str) -> Vec<u8> {
    let out = s3
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap();
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

fn start_with_remote(temp: &std::path::Path, remote: &RemoteS3) -> Gateway {
    let tiers = three_tiers_config(&remote.endpoint(), temp, REMOTE_BUCKET, "");
    Gateway::start_with_config(
        temp,
        &format!(
            "[lifecycle]\nday_seconds = {DAY_SECONDS}\nscan_interval_ms = 100\n\n\
             [placement]\ncheck_interval_ms = 100\n\n{tiers}"
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_objects_walk_down_the_tiers_and_a_read_brings_them_back() {
    let remote = RemoteS3::start_with_bucket(REMOTE_BUCKET).await;
    let temp = tempfile::tempdir().unwrap();
    let gw = start_with_remote(temp.path(), &remote);
    let s3 = gw.sdk();
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    assert!(
        put_config(&gw, "arch", &archive_config("arch", "arch/", 90, 180))
            .status
            .success()
    );

    let bodies: Vec<(&str, Vec<u8>, StorageClass)> = vec![
        // Unread, selected by the archive configuration: ssd → hdd → remote (archive).
        (
            "arch/cold",
            pattern(300_000, 1),
            StorageClass::IntelligentTiering,
        ),
        // Read all along: stays on the ssd.
        (
            "arch/hot",
            pattern(300_000, 2),
            StorageClass::IntelligentTiering,
        ),
        // Below S3's 128 KiB floor: never moves.
        (
            "arch/tiny",
            pattern(100_000, 3),
            StorageClass::IntelligentTiering,
        ),
        // Outside the configuration: only the automatic steps (hdd, then archive instant).
        (
            "other/cold",
            pattern(300_000, 4),
            StorageClass::IntelligentTiering,
        ),
        // Another class: not moved by access at all.
        ("arch/standard", pattern(300_000, 5), StorageClass::Standard),
    ];
    let written = Instant::now();
    for (key, body, class) in &bodies {
        s3.put_object()
            .bucket(BUCKET)
            .key(*key)
            .storage_class(class.clone())
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
    }
    let body_of = |key: &str| &bodies.iter().find(|(k, _, _)| *k == key).unwrap().1;

    // Watch for 21 lifecycle days past deep archive (180 days = 18 s), reading arch/hot
    // every 300 ms (a tenth of the 30 days that would cool it).
    type Stage = (Vec<String>, Option<String>);
    let mut cold: Vec<(Stage, Duration)> = Vec::new();
    let mut other: Vec<Stage> = Vec::new();
    let deadline = written + Duration::from_secs(21);
    while Instant::now() < deadline {
        assert_eq!(
            md5_hex(&get(&s3, "arch/hot").await),
            md5_hex(body_of("arch/hot"))
        );
        let seen = look(&gw, &s3, "arch/cold").await;
        if cold.last().map(|(s, _)| s) != Some(&seen) {
            cold.push((seen, written.elapsed()));
        }
        let seen = look(&gw, &s3, "other/cold").await;
        if other.last() != Some(&seen) {
            other.push(seen);
        }
        assert_eq!(
            look(&gw, &s3, "arch/hot").await,
            (vec!["ssd".to_owned()], None),
            "a read object stays on the ssd"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let stages: Vec<&Stage> = cold.iter().map(|(s, _)| s).collect();
    let stage =
        |tier: &str, status: Option<&str>| (vec![tier.to_owned()], status.map(str::to_owned));
    assert_eq!(
        stages,
        [
            &stage("ssd", None),
            &stage("hdd", None),
            &stage("remote", Some("ARCHIVE_ACCESS")),
            &stage("remote", Some("DEEP_ARCHIVE_ACCESS")),
        ],
        "arch/cold went {cold:?}"
    );
    // Never before its time: 30 days (3 s) unread for hdd, 90 (9 s) for the archive.
    assert!(cold[1].1 >= Duration::from_millis(2_900), "{cold:?}");
    assert!(cold[2].1 >= Duration::from_millis(8_900), "{cold:?}");
    assert_eq!(
        other,
        [
            stage("ssd", None),
            stage("hdd", None),
            stage("remote", None)
        ],
        "other/cold takes only the automatic steps"
    );
    assert_eq!(tiers_of(&gw, "arch/standard"), ["ssd"]);
    assert_eq!(look(&gw, &s3, "arch/tiny").await.1, None);

    // Every object reads back intact wherever it is, and the archived one, once read,
    // returns to the frequent tier.
    for (key, body, _) in &bodies {
        assert_eq!(md5_hex(&get(&s3, key).await), md5_hex(body), "{key}");
    }
    let back_by = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = look(&gw, &s3, "arch/cold").await;
        if seen == stage("ssd", None) {
            break;
        }
        assert!(
            Instant::now() < back_by,
            "arch/cold not back on ssd: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        md5_hex(&get(&s3, "arch/cold").await),
        md5_hex(body_of("arch/cold"))
    );
}
