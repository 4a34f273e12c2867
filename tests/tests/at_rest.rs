//! At-rest encoding of a tier configured with zstd and AES-256-GCM: objects on it are stored
//! compressed and sealed (no plaintext in its files), read back intact whole and in ranges,
//! and move to and from a plain tier.

use std::path::Path;
use std::process::Command;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::StorageClass;
use vmgw_tests::{Gateway, GatewayOptions, md5_hex, pattern, run, vmgw_bin};

const KEY: &str = "5f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for shard in std::fs::read_dir(dir).unwrap() {
        for f in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            out.push(f.unwrap().path());
        }
    }
    out
}

#[tokio::test]
async fn compressed_sealed_tier_round_trips_without_plaintext_on_disk() {
    let temp = tempfile::tempdir().unwrap();
    let key_file = temp.path().join("key1.hex");
    std::fs::write(&key_file, KEY).unwrap();
    let config = temp.path().join("vmgw.toml");
    std::fs::write(
        &config,
        format!(
            "[[tiers]]\nname = \"ssd\"\npath = \"tiers/ssd\"\n\n[[tiers]]\nname = \"hdd\"\npath = \"tiers/hdd\"\ncompression = 3\nencrypt = true\n\n[[encryption.keys]]\nid = 1\nfile = \"{}\"\n",
            key_file.display()
        ),
    )
    .unwrap();
    let gw = Gateway::start_with(GatewayOptions {
        data_dir: Some(temp.path().join("data")),
        args: vec!["--config".into(), config.display().to_string()],
        ..GatewayOptions::default()
    });
    let s3 = gw.sdk();
    s3.create_bucket().bucket("sealed").send().await.unwrap();
    let marker = b"KNOWN-PLAINTEXT-MARKER-0123456789";
    let mut text = Vec::new();
    while text.len() < 3_000_000 {
        text.extend_from_slice(marker);
        text.extend_from_slice(
            format!(" line {} of a compressible log file\n", text.len()).as_bytes(),
        );
    }
    s3.put_object()
        .bucket("sealed")
        .key("log")
        .storage_class(StorageClass::StandardIa)
        .body(ByteStream::from(text.clone()))
        .send()
        .await
        .unwrap();
    let random = pattern(2_000_000, 4);
    s3.put_object()
        .bucket("sealed")
        .key("random")
        .storage_class(StorageClass::StandardIa)
        .body(ByteStream::from(random.clone()))
        .send()
        .await
        .unwrap();

    let files = files_under(&gw.data_dir.join("tiers/hdd"));
    assert_eq!(files.len(), 2);
    for f in &files {
        let raw = std::fs::read(f).unwrap();
        assert!(
            !raw.windows(marker.len()).any(|w| w == marker),
            "plaintext in {}",
            f.display()
        );
    }

    let got = s3
        .get_object()
        .bucket("sealed")
        .key("log")
        .send()
        .await
        .unwrap();
    assert_eq!(
        md5_hex(&got.body.collect().await.unwrap().into_bytes()),
        md5_hex(&text)
    );
    for (start, end) in [
        (0usize, 99usize),
        (1_048_570, 1_048_600),
        (2_999_000, 2_999_999),
    ] {
        let got = s3
            .get_object()
            .bucket("sealed")
            .key("log")
            .range(format!("bytes={start}-{end}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            got.body.collect().await.unwrap().into_bytes().as_ref(),
            &text[start..=end]
        );
    }
    let got = s3
        .get_object()
        .bucket("sealed")
        .key("random")
        .range("bytes=1000-1999")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        &random[1000..2000]
    );

    let admin = |args: &[&str]| {
        run(Command::new(vmgw_bin())
            .args(args)
            .arg("--data-dir")
            .arg(&gw.data_dir))
    };
    let placement: serde_json::Value =
        serde_json::from_str(&admin(&["object", "where", "sealed", "log", "--json"])).unwrap();
    assert!(
        placement["compression_ratio"].as_f64().unwrap() > 3.0,
        "{placement}"
    );
    let placement: serde_json::Value =
        serde_json::from_str(&admin(&["object", "where", "sealed", "random", "--json"])).unwrap();
    let ratio = placement["compression_ratio"].as_f64().unwrap();
    assert!(
        ratio > 0.99 && ratio <= 1.0,
        "random data stored raw: {ratio}"
    );

    // To the plain tier and back: decoded, then re-encoded.
    for tier in ["ssd", "hdd"] {
        assert!(admin(&["tier", "move", "sealed", "log", tier]).contains("moved"));
        let got = s3
            .get_object()
            .bucket("sealed")
            .key("log")
            .send()
            .await
            .unwrap();
        assert_eq!(
            md5_hex(&got.body.collect().await.unwrap().into_bytes()),
            md5_hex(&text)
        );
    }
}

#[test]
fn an_encrypted_tier_without_keys_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("vmgw.toml");
    std::fs::write(
        &config,
        "[[tiers]]\nname = \"ssd\"\npath = \"ssd\"\nencrypt = true\n",
    )
    .unwrap();
    let out = Command::new(vmgw_bin())
        .args(["serve", "--data-dir"])
        .arg(temp.path().join("data"))
        .arg("--config")
        .arg(&config)
        .env_remove("VMGW_ENCRYPTION_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("encryption.keys"), "{stderr}");
}
