//! `vmgw vm add` output used as-is by the clients a guest runs: the `aws` config file with
//! aws-cli (v1 from PyPI reads `endpoint_url` from it; Debian's v2.9 predates that and gets
//! `--endpoint-url`), the `rclone` remote with rclone, the `env` lines with a shell.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use vmgw_tests::{
    Gateway, isolated_client, output_within, require_tool, run, succeed_within, vmgw_bin,
};

const LIMIT: Duration = Duration::from_secs(120);

fn vm_add(gw: &Gateway, name: &str, format: &str) -> String {
    run(Command::new(vmgw_bin())
        .args([
            "vm",
            "add",
            name,
            "--format",
            format,
            "--endpoint",
            &gw.endpoint,
        ])
        .arg("--data-dir")
        .arg(&gw.data_dir))
}

/// A client with only the test's configuration, and no shared credentials file either.
fn clean(program: &Path, home: &Path) -> Command {
    let mut cmd = isolated_client(program, home);
    cmd.env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"));
    cmd
}

fn succeed(cmd: &mut Command, what: &str) -> String {
    succeed_within(cmd, LIMIT, what)
}

#[test]
fn the_aws_config_works_with_aws_cli_v1_and_v2() {
    let gw = Gateway::start();
    let config = vm_add(&gw, "web01", "aws");
    let home = tempfile::tempdir().unwrap();
    let config_path = home.path().join("aws-config");
    std::fs::write(&config_path, &config).unwrap();
    let file = home.path().join("index.html");
    std::fs::write(&file, b"<h1>web01</h1>\n").unwrap();

    // v1 (PyPI): everything, endpoint included, from the file.
    let v1 = require_tool("aws");
    succeed(
        clean(&v1, home.path())
            .env("AWS_CONFIG_FILE", &config_path)
            .args(["s3", "cp"])
            .arg(&file)
            .arg("s3://web01/site/index.html"),
        "aws v1 cp",
    );
    let listed = succeed(
        clean(&v1, home.path())
            .env("AWS_CONFIG_FILE", &config_path)
            .args(["s3", "ls", "s3://web01/site/"]),
        "aws v1 ls",
    );
    assert!(listed.contains("index.html"), "{listed}");

    // v2 (Debian, 2.9): key and region from the file, the endpoint from the flag.
    let v2 = Path::new("/usr/bin/aws");
    assert!(
        v2.is_file(),
        "Debian's aws-cli v2 is missing; run scripts/install-test-deps"
    );
    let copy = home.path().join("copy.html");
    succeed(
        clean(v2, home.path())
            .env("AWS_CONFIG_FILE", &config_path)
            .args([
                "--endpoint-url",
                &gw.endpoint,
                "s3",
                "cp",
                "s3://web01/site/index.html",
            ])
            .arg(&copy),
        "aws v2 cp",
    );
    assert_eq!(std::fs::read(&copy).unwrap(), b"<h1>web01</h1>\n");

    // The key is the tenant's: it reaches no other bucket.
    let other = vm_add(&gw, "db01", "json");
    assert!(other.contains("\"bucket\": \"db01\""), "{other}");
    let out = output_within(
        clean(&v1, home.path())
            .env("AWS_CONFIG_FILE", &config_path)
            .args(["s3", "ls", "s3://db01/"]),
        LIMIT,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("AccessDenied"));
}

#[test]
fn the_rclone_remote_works_with_rclone() {
    let gw = Gateway::start();
    let remote = vm_add(&gw, "web01", "rclone");
    let home = tempfile::tempdir().unwrap();
    let conf = home.path().join("rclone.conf");
    std::fs::write(&conf, &remote).unwrap();
    let src = home.path().join("src");
    let names = vmgw_tests::write_tree(&src, 20, 7);
    let rclone = require_tool("rclone");
    let with_conf = |args: &[&str]| {
        let mut cmd = clean(&rclone, home.path());
        cmd.env("RCLONE_CONFIG", &conf)
            .env("RCLONE_CACHE_DIR", home.path().join("cache"))
            .args(args);
        cmd
    };
    succeed(
        &mut with_conf(&["copy", src.to_str().unwrap(), "vmgw:web01/tree"]),
        "rclone copy",
    );
    succeed(
        &mut with_conf(&["check", src.to_str().unwrap(), "vmgw:web01/tree"]),
        "rclone check",
    );
    let listed = succeed(
        &mut with_conf(&["lsf", "-R", "--files-only", "vmgw:web01/tree"]),
        "lsf",
    );
    let mut got: Vec<&str> = listed.lines().collect();
    got.sort_unstable();
    let mut want: Vec<&str> = names.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(got, want);
}

#[test]
fn the_env_lines_configure_aws_cli() {
    let gw = Gateway::start();
    let env = vm_add(&gw, "web01", "env");
    let home = tempfile::tempdir().unwrap();
    let script = format!(
        "set -e\n{env}echo hello > \"$HOME/hello.txt\"\naws s3 cp --only-show-errors \"$HOME/hello.txt\" \"s3://$VMGW_BUCKET/hello.txt\"\naws s3 cp \"s3://$VMGW_BUCKET/hello.txt\" -\n"
    );
    let aws_dir = require_tool("aws");
    let path = format!(
        "{}:{}",
        aws_dir.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = succeed(
        clean(Path::new("/bin/sh"), home.path())
            .env("PATH", path)
            .args(["-c", &script]),
        "env script",
    );
    assert_eq!(out, "hello\n");
}

#[test]
fn over_https_the_aws_config_trusts_the_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = vmgw_tests::tls::vmgw_self_signed(&dir.path().join("tls"));
    let gw = Gateway::start_with_config(
        dir.path(),
        &format!(
            "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
            cert.display().to_string(),
            key.display().to_string()
        ),
    );
    assert!(gw.endpoint.starts_with("https://"), "{}", gw.endpoint);
    // The guest keeps the CA where the configuration says (the operator, or cloud-init,
    // puts it there).
    let home = tempfile::tempdir().unwrap();
    let guest_ca = home.path().join("ca.pem");
    std::fs::copy(&cert, &guest_ca).unwrap();
    let guest_ca_path = guest_ca.display().to_string();
    let config = run(Command::new(vmgw_bin())
        .args(["vm", "add", "web01", "--format", "aws", "--ca-cert"])
        .arg(&cert)
        .args([
            "--guest-ca-path",
            &guest_ca_path,
            "--endpoint",
            &gw.endpoint,
        ])
        .arg("--data-dir")
        .arg(&gw.data_dir));
    assert!(
        config.contains(&format!("\nca_bundle = {guest_ca_path}\n")),
        "{config}"
    );
    let config_path = home.path().join("aws-config");
    std::fs::write(&config_path, &config).unwrap();
    let file = home.path().join("page.html");
    std::fs::write(&file, b"<h1>over TLS</h1>\n").unwrap();
    let v1 = require_tool("aws");
    succeed(
        clean(&v1, home.path())
            .env("AWS_CONFIG_FILE", &config_path)
            .args(["s3", "cp"])
            .arg(&file)
            .arg("s3://web01/page.html"),
        "aws v1 over HTTPS with the config's ca_bundle",
    );
    let copy = home.path().join("copy.html");
    succeed(
        clean(Path::new("/usr/bin/aws"), home.path())
            .env("AWS_CONFIG_FILE", &config_path)
            .args([
                "--endpoint-url",
                &gw.endpoint,
                "s3",
                "cp",
                "s3://web01/page.html",
            ])
            .arg(&copy),
        "aws v2 over HTTPS with the config's ca_bundle",
    );
    assert_eq!(std::fs::read(&copy).unwrap(), b"<h1>over TLS</h1>\n");

    // The same configuration without the CA line is refused by aws-cli: the line matters.
    let untrusting = home.path().join("aws-config-no-ca");
    std::fs::write(
        &untrusting,
        config.replace(&format!("ca_bundle = {guest_ca_path}\n"), ""),
    )
    .unwrap();
    let out = output_within(
        clean(&v1, home.path())
            .env("AWS_CONFIG_FILE", &untrusting)
            .args(["s3", "ls", "s3://web01/"]),
        LIMIT,
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("SSL"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
