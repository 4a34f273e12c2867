//! The binary as an operator meets it: zero-config start with generated credentials, config
//! validation messages, `--help`, and graceful shutdown on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use vmgw_tests::{Gateway, pattern, sdk_client, vmgw_bin};

/// Reads stderr lines until one contains `needle`; returns all lines read.
fn read_until(reader: &mut impl BufRead, needle: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let done = line.contains(needle);
        lines.push(line);
        if done {
            return lines;
        }
    }
    panic!("never saw {needle:?}; got:\n{}", lines.concat());
}

#[tokio::test]
async fn zero_config_start_generates_credentials_once() {
    let home = tempfile::tempdir().unwrap();
    let start = || {
        Command::new(vmgw_bin())
            .arg("serve")
            .env_clear()
            .env("HOME", home.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut first = start();
    let mut stderr = BufReader::new(first.stderr.take().unwrap());
    let lines = read_until(&mut stderr, "listening on http://127.0.0.1:9000");
    let text = lines.concat();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
            .trim()
            .to_owned()
    };
    let access = field("access key:");
    // stderr is a pipe here, as under a service manager: the secret is not logged, only
    // where it is stored.
    assert_eq!(field("secret key:"), "(in that file; not logged)");
    let data_dir = home.path().join(".local/share/vmgw");
    let stored = std::fs::read_to_string(data_dir.join("credentials.toml")).unwrap();
    let stored_field = |name: &str| {
        stored
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().trim_matches('"').to_owned())
            .unwrap_or_else(|| panic!("no {name} in credentials.toml:\n{stored}"))
    };
    assert_eq!(stored_field("access_key = "), access);
    let secret = stored_field("secret_key = ");
    assert!(!text.contains(&secret), "the secret was logged:\n{text}");

    let s3 = sdk_client("http://127.0.0.1:9000", &access, &secret);
    s3.create_bucket().bucket("zero").send().await.unwrap();
    s3.put_object()
        .bucket("zero")
        .key("k")
        .body(ByteStream::from_static(b"v"))
        .send()
        .await
        .unwrap();
    assert!(data_dir.join("meta/vmgw.redb").exists());
    assert!(data_dir.join("tiers/ssd").is_dir() && data_dir.join("tiers/hdd").is_dir());

    Command::new("kill")
        .arg("-TERM")
        .arg(first.id().to_string())
        .status()
        .unwrap();
    assert!(first.wait().unwrap().success());

    // A second start reuses the stored pair and does not print it again.
    let mut second = start();
    let mut stderr = BufReader::new(second.stderr.take().unwrap());
    let lines = read_until(&mut stderr, "listening on http://127.0.0.1:9000");
    assert!(
        !lines.concat().contains("secret key"),
        "credentials printed twice"
    );
    let got = s3
        .get_object()
        .bucket("zero")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"v"
    );
    Command::new("kill")
        .arg("-TERM")
        .arg(second.id().to_string())
        .status()
        .unwrap();
    assert!(second.wait().unwrap().success());
}

fn serve_with_config(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vmgw.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(vmgw_bin())
        .args(["serve", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn invalid_configs_are_refused_with_the_field_and_value() {
    let cases = [
        ("listen = [\"nowhere\"]", "listen", "nowhere"),
        ("region = \"Mars 1\"", "region", "Mars 1"),
        ("lsten = [\"127.0.0.1:1\"]", "lsten", "lsten"),
        (
            "[storage]\nmetadata_cache_mib = 0",
            "storage.metadata_cache_mib",
            "0",
        ),
        (
            "[[credentials]]\naccess_key = \"k\"\nsecret_key = \"longenough\"",
            "access_key",
            "k",
        ),
        ("listen = 5", "listen", "integer"),
        (
            "[[tiers]]\nname = \"ssd\"\npath = \"s\"\nhigh_watermark = 70\nlow_watermark = 80",
            "tiers.ssd.low_watermark",
            "80",
        ),
        (
            "[[tiers]]\nname = \"ssd\"\npath = \"s\"\ncapacity = \"lots\"",
            "tiers.ssd.capacity",
            "lots",
        ),
        (
            "[[tiers]]\nname = \"ssd\"\npath = \"${VMGW_TEST_SURELY_UNSET}/ssd\"",
            "tiers[0].path",
            "VMGW_TEST_SURELY_UNSET is not set",
        ),
    ];
    for (config, field, value) in cases {
        let (ok, stderr) = serve_with_config(config);
        assert!(!ok, "{config:?} was accepted");
        assert!(
            stderr.contains(field) && stderr.contains(value),
            "{config:?}: message lacks {field}/{value}: {stderr}"
        );
    }
}

#[test]
fn help_documents_every_flag() {
    let out = Command::new(vmgw_bin())
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--config",
        "--listen",
        "--data-dir",
        "--access-key",
        "--secret-key",
        "--region",
        "--domain",
        "--log-level",
        "--log-format",
    ] {
        assert!(
            help.contains(flag),
            "serve --help does not mention {flag}:\n{help}"
        );
    }
    assert!(
        help.contains("127.0.0.1:9000"),
        "default listen address is documented"
    );
    let out = Command::new(vmgw_bin()).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("serve"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_requests_in_flight_then_exits_cleanly() {
    let mut gw = Gateway::start();
    let s3 = gw.sdk();
    s3.create_bucket().bucket("drain").send().await.unwrap();
    let data = pattern(300 << 20, 7);
    let expected = vmgw_tests::md5_hex(&data);
    let upload = {
        let s3 = s3.clone();
        tokio::spawn(async move {
            s3.put_object()
                .bucket("drain")
                .key("big")
                .body(ByteStream::from(data))
                .send()
                .await
        })
    };
    // Signal once the upload is under way (its blob is being written).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !vmgw_tests_has_blob(&gw.data_dir) {
        assert!(Instant::now() < deadline, "upload never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let pid = gw.pid();
    Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    let put = upload
        .await
        .unwrap()
        .expect("the upload in flight at SIGTERM completes");
    assert_eq!(put.e_tag().unwrap().trim_matches('"'), expected);
    let status = gw.stop();
    assert!(status.success(), "exit status {status}");
    assert!(gw.log().contains("shut down cleanly"), "{}", gw.log());

    // After a clean shutdown the next start does not need a sweep, and the object is there.
    gw.restart(false);
    assert!(
        !gw.log().contains("start-up sweep"),
        "clean restart swept: {}",
        gw.log()
    );
    let head = gw
        .sdk()
        .head_object()
        .bucket("drain")
        .key("big")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(300 << 20));
}

/// Whether any blob file exists under the data directory's tiers.
fn vmgw_tests_has_blob(data_dir: &std::path::Path) -> bool {
    let Ok(shards) = std::fs::read_dir(data_dir.join("tiers/ssd")) else {
        return false;
    };
    shards
        .flatten()
        .any(|shard| std::fs::read_dir(shard.path()).is_ok_and(|mut d| d.next().is_some()))
}

/// `${NAME}` in string values reads the environment (one ConfigMap for every node of a
/// DaemonSet, each gateway with its own paths or remote prefix).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_references_in_the_config_are_expanded() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vmgw.toml");
    std::fs::write(
        &config,
        "[[tiers]]\nname = \"ssd\"\npath = \"${VMGW_TEST_TIERS}/${VMGW_TEST_NODE}-ssd\"\n\
         [[tiers]]\nname = \"hdd\"\npath = \"${VMGW_TEST_TIERS}/$${literal}\"\n",
    )
    .unwrap();
    let tiers = dir.path().join("tiers");
    let gw = vmgw_tests::Gateway::start_with(vmgw_tests::GatewayOptions {
        data_dir: Some(dir.path().join("data")),
        args: vec!["--config".into(), config.display().to_string()],
        env: vec![
            ("VMGW_TEST_TIERS".into(), tiers.display().to_string()),
            ("VMGW_TEST_NODE".into(), "node-7".into()),
        ],
        ..vmgw_tests::GatewayOptions::default()
    });
    let s3 = gw.sdk();
    s3.create_bucket().bucket("env").send().await.unwrap();
    for (key, class) in [("hot", "STANDARD"), ("cold", "STANDARD_IA")] {
        s3.put_object()
            .bucket("env")
            .key(key)
            .storage_class(class.into())
            .body(vmgw_tests::pattern(300_000, 5).into())
            .send()
            .await
            .unwrap();
    }
    let files = |dir: &std::path::Path| walk(dir).into_iter().filter(|p| p.is_file()).count();
    assert_eq!(
        files(&tiers.join("node-7-ssd")),
        1,
        "the hot blob under the expanded path"
    );
    assert_eq!(
        files(&tiers.join("${literal}")),
        1,
        "a doubled dollar is a literal one"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}
