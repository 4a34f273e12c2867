//! The operator's view of tiers through the `vmgw` admin subcommands, talking to a running
//! gateway over its admin socket: `tier ls`, `object where`, `tier move`.

use std::process::Command;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::StorageClass;
use vmgw_tests::{Gateway, md5_hex, pattern, run, vmgw_bin};

fn admin(gw: &Gateway, args: &[&str]) -> String {
    run(Command::new(vmgw_bin())
        .args(args)
        .arg("--data-dir")
        .arg(&gw.data_dir)
        .env_remove("VMGW_ADMIN_SOCKET"))
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn tiers_of(gw: &Gateway, key: &str) -> (Vec<String>, serde_json::Value) {
    let placement = json(&admin(gw, &["object", "where", "admin", key, "--json"]));
    let tiers = placement["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["tier"].as_str().unwrap().to_owned())
        .collect();
    (tiers, placement)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tier_ls_object_where_and_tier_move() {
    let gw = Gateway::start();
    let s3 = gw.sdk();
    s3.create_bucket().bucket("admin").send().await.unwrap();
    let data = pattern(5_000_000, 9);
    s3.put_object()
        .bucket("admin")
        .key("big")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("admin")
        .key("cold")
        .storage_class(StorageClass::Glacier)
        .body(ByteStream::from(pattern(200_000, 1)))
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("admin")
        .key("tiny")
        .body(ByteStream::from_static(b"tiny"))
        .send()
        .await
        .unwrap();

    let tiers = json(&admin(&gw, &["tier", "ls", "--json"]));
    let count = |name: &str| {
        tiers
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()["blobs"]
            .as_u64()
            .unwrap()
    };
    assert_eq!((count("ssd"), count("hdd")), (1, 1), "{tiers}");
    let ssd = tiers
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ssd")
        .unwrap();
    assert!(ssd["stored_bytes"].as_u64().unwrap() >= 5_000_000, "{ssd}");
    assert!(
        ssd["total_bytes"].as_u64().unwrap() > 0 && ssd["used_percent"].as_f64().is_some(),
        "{ssd}"
    );
    let table = admin(&gw, &["tier", "ls"]);
    assert!(
        table.contains("TIER") && table.contains("ssd") && table.contains("hdd"),
        "{table}"
    );

    let (where_big, placement) = tiers_of(&gw, "big");
    assert_eq!(where_big, ["ssd"]);
    assert_eq!(placement["size"], 5_000_000);
    assert!(
        placement["stored_bytes"].as_u64().unwrap() > 5_000_000,
        "framing is counted: {placement}"
    );
    let ratio = placement["compression_ratio"].as_f64().unwrap();
    assert!(ratio > 0.99 && ratio < 1.0, "uncompressed tier: {ratio}");
    assert_eq!(tiers_of(&gw, "cold").0, ["hdd"]);
    assert_eq!(
        json(&admin(&gw, &["object", "where", "admin", "tiny", "--json"]))["inline"],
        true
    );

    // ssd → hdd → ssd, bytes and ETag unchanged.
    let etag = s3
        .head_object()
        .bucket("admin")
        .key("big")
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_owned();
    for tier in ["hdd", "ssd", "hdd"] {
        let out = admin(&gw, &["tier", "move", "admin", "big", tier]);
        assert!(out.contains("moved"), "{out}");
        assert_eq!(tiers_of(&gw, "big").0, [tier]);
        let got = s3
            .get_object()
            .bucket("admin")
            .key("big")
            .send()
            .await
            .unwrap();
        assert_eq!(got.e_tag(), Some(etag.as_str()));
        assert_eq!(
            md5_hex(&got.body.collect().await.unwrap().into_bytes()),
            md5_hex(&data)
        );
    }
    let out = admin(&gw, &["tier", "move", "admin", "big", "hdd"]);
    assert!(out.contains("already on hdd"), "{out}");

    // A move that also changes the class (what a lifecycle transition does).
    let out = admin(
        &gw,
        &[
            "tier",
            "move",
            "admin",
            "tiny",
            "hdd",
            "--storage-class",
            "STANDARD_IA",
        ],
    );
    assert!(out.contains("moved"), "{out}");
    let head = s3
        .head_object()
        .bucket("admin")
        .key("tiny")
        .send()
        .await
        .unwrap();
    assert_eq!(head.storage_class(), Some(&StorageClass::StandardIa));
    assert_eq!(tiers_of(&gw, "tiny").0, ["hdd"]);

    // Errors are reported, not crashed on.
    let failed = Command::new(vmgw_bin())
        .args(["tier", "move", "admin", "big", "tape", "--data-dir"])
        .arg(&gw.data_dir)
        .output()
        .unwrap();
    assert!(!failed.status.success());
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("tape"),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );
    let failed = Command::new(vmgw_bin())
        .args(["object", "where", "admin", "nope", "--data-dir"])
        .arg(&gw.data_dir)
        .output()
        .unwrap();
    assert!(!failed.status.success());
    let stopped = Command::new(vmgw_bin())
        .args(["tier", "ls", "--data-dir", "/nonexistent"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&stopped.stderr).contains("admin socket"),
        "{}",
        String::from_utf8_lossy(&stopped.stderr)
    );
}
