//! `vmgw lifecycle status` against a running gateway with one-second days: after the worker
//! has expired and transitioned what the rules select, the report counts exactly those
//! actions per bucket, the backfill of objects older than the rules, no failures, and an
//! empty schedule; the table names the bucket.

use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter, Transition, TransitionStorageClass,
};
use vmgw_tests::{Gateway, GatewayOptions, pattern, vmgw_bin};

const EXPIRING: usize = 6;
const COOLING: usize = 4;
/// Written before the rules exist, under the expiring prefix: found by the backfill.
const OLDER: usize = 2;

fn status(gw: &Gateway, extra: &[&str]) -> std::process::Output {
    Command::new(vmgw_bin())
        .args(["lifecycle", "status", "--data-dir"])
        .arg(&gw.data_dir)
        .args(extra)
        .output()
        .unwrap()
}

fn status_json(gw: &Gateway) -> serde_json::Value {
    let out = status(gw, &["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn bucket<'a>(status: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    status["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["bucket"] == name)
}

async fn put(s3: &aws_sdk_s3::Client, key: &str, len: usize) {
    s3.put_object()
        .bucket("lcstat")
        .key(key)
        .body(ByteStream::from(pattern(len, key.len() as u64)))
        .send()
        .await
        .unwrap();
}

fn rules() -> BucketLifecycleConfiguration {
    let expire = LifecycleRule::builder()
        .id("expire")
        .filter(LifecycleRuleFilter::builder().prefix("exp/").build())
        .status(ExpirationStatus::Enabled)
        .expiration(LifecycleExpiration::builder().days(1).build())
        .build()
        .unwrap();
    let cool = LifecycleRule::builder()
        .id("cool")
        .filter(LifecycleRuleFilter::builder().prefix("cold/").build())
        .status(ExpirationStatus::Enabled)
        .transitions(
            Transition::builder()
                .days(1)
                .storage_class(TransitionStorageClass::StandardIa)
                .build(),
        )
        .build()
        .unwrap();
    BucketLifecycleConfiguration::builder()
        .rules(expire)
        .rules(cool)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_counts_exactly_the_actions_the_rules_select() {
    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("vmgw.toml");
    std::fs::write(
        &config,
        "[lifecycle]\nday_seconds = 1\nscan_interval_ms = 100\n",
    )
    .unwrap();
    let gw = Gateway::start_with(GatewayOptions {
        data_dir: Some(temp.path().join("data")),
        args: vec!["--config".into(), config.display().to_string()],
        ..GatewayOptions::default()
    });
    let s3 = gw.sdk();
    s3.create_bucket().bucket("lcstat").send().await.unwrap();
    s3.create_bucket().bucket("quiet").send().await.unwrap();

    // Before any rule: nothing to report, and the quiet bucket is not listed.
    let empty = status_json(&gw);
    assert_eq!(empty["buckets"].as_array().unwrap().len(), 0, "{empty}");
    assert_eq!(empty["schedule_entries"], 0);

    for i in 0..OLDER {
        put(&s3, &format!("exp/older-{i}"), 1_000).await;
    }
    s3.put_bucket_lifecycle_configuration()
        .bucket("lcstat")
        .lifecycle_configuration(rules())
        .send()
        .await
        .unwrap();
    // The rule change's backfill indexes the objects already there, and only those.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let report = status_json(&gw);
        if let Some(b) = bucket(&report, "lcstat")
            && b["backfill_pending"] == false
        {
            assert_eq!(b["backfill_reindexed"], OLDER, "{b}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "backfill never finished: {report}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for i in 0..EXPIRING - OLDER {
        put(&s3, &format!("exp/{i}"), 1_000).await;
    }
    // Above the inline threshold, so a transition really moves bytes to another tier.
    for i in 0..COOLING {
        put(&s3, &format!("cold/{i}"), 100_000).await;
    }
    for i in 0..3 {
        put(&s3, &format!("keep/{i}"), 1_000).await;
    }

    // Wait for the objects themselves, not the report, to show the actions.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = s3.list_objects_v2().bucket("lcstat").send().await.unwrap();
        let expiring_left = listed
            .contents()
            .iter()
            .filter(|o| o.key().unwrap().starts_with("exp/"))
            .count();
        let cooled = listed
            .contents()
            .iter()
            .filter(|o| o.storage_class().map(|c| c.as_str()) == Some("STANDARD_IA"))
            .count();
        if expiring_left == 0 && cooled == COOLING {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{expiring_left} to expire, {cooled} cooled"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A few more rounds: nothing may be counted twice, nor anything else acted on.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let report = status_json(&gw);
    let b = bucket(&report, "lcstat").unwrap_or_else(|| panic!("no lcstat in {report}"));
    assert_eq!(b["expirations"], EXPIRING, "{b}");
    assert_eq!(b["transitions"], COOLING, "{b}");
    assert_eq!(b["aborted_uploads"], 0, "{b}");
    assert_eq!(b["failures"], 0, "{b}");
    assert_eq!(b["last_error"], serde_json::Value::Null, "{b}");
    assert_eq!(b["backfill_pending"], false, "{b}");
    assert_eq!(b["backfill_reindexed"], OLDER, "{b}");
    // Each acted-on object was taken from the schedule once, plus the backfilled ones.
    assert_eq!(b["objects_examined"], EXPIRING + COOLING + OLDER, "{b}");
    assert_eq!(b["has_rules"], true);
    assert!(bucket(&report, "quiet").is_none(), "{report}");
    // Only the keep/ objects are left and no rule selects them: the schedule is empty.
    assert_eq!(report["schedule_entries"], 0, "{report}");
    assert_eq!(report["next_due_ms"], serde_json::Value::Null);
    let now = report["now_ms"].as_i64().unwrap();
    let last_round = report["last_round_ms"].as_i64().unwrap();
    assert!(
        now - last_round < 5_000,
        "last round {last_round}, now {now}"
    );
    assert!(b["last_round_ms"].as_i64().unwrap() <= last_round);
    assert_eq!(report["action_lag"]["count"], EXPIRING + COOLING);

    // The table names the bucket with the same counts.
    let table = status(&gw, &[]);
    assert!(table.status.success());
    let text = String::from_utf8(table.stdout).unwrap();
    let row = text
        .lines()
        .find(|l| l.starts_with("lcstat "))
        .unwrap_or_else(|| panic!("no lcstat row in\n{text}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &cells[..7],
        ["lcstat", "12", "4", "6", "0", "0", "done"],
        "{text}"
    );
    assert!(text.contains("scheduled:   0 object(s)"), "{text}");

    // One bucket on request, even one without rules; an unknown one is an error.
    let quiet = status(&gw, &["--bucket", "quiet", "--json"]);
    let quiet: serde_json::Value = serde_json::from_slice(&quiet.stdout).unwrap();
    assert_eq!(quiet["buckets"].as_array().unwrap().len(), 1);
    assert_eq!(quiet["buckets"][0]["has_rules"], false);
    let missing = status(&gw, &["--bucket", "nosuch"]);
    assert!(!missing.status.success());
}
