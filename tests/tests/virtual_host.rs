//! Virtual-host-style addressing for a configured domain, driven with curl's SigV4 signer:
//! `bucket.domain:port` names the bucket, while path-style requests through any host name
//! (an IP, `localhost`) keep working.

use std::process::Command;

use vmgw_tests::{ACCESS_KEY, Gateway, GatewayOptions, REGION, SECRET_KEY, require_tool, run};

const DOMAIN: &str = "s3.vmgw.test";

fn curl(gw: &Gateway, host: &str, args: &[&str]) -> String {
    let port = gw.addr.rsplit(':').next().unwrap();
    let mut cmd = Command::new(require_tool("curl"));
    cmd.args(["-sS", "--fail-with-body", "--resolve"])
        .arg(format!("{host}:{port}:127.0.0.1"))
        .arg("--aws-sigv4")
        .arg(format!("aws:amz:{REGION}:s3"))
        .arg("--user")
        .arg(format!("{ACCESS_KEY}:{SECRET_KEY}"))
        .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"])
        .args(args);
    run(&mut cmd)
}

#[test]
fn buckets_addressed_by_host_name() {
    let gw = Gateway::start_with(GatewayOptions {
        args: vec!["--domain".into(), DOMAIN.into()],
        ..GatewayOptions::default()
    });
    let port = gw.addr.rsplit(':').next().unwrap().to_owned();
    let bucket_host = format!("vhost.{DOMAIN}");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), b"addressed by host").unwrap();

    curl(
        &gw,
        &bucket_host,
        &["-X", "PUT", &format!("http://{bucket_host}:{port}/")],
    );
    curl(
        &gw,
        &bucket_host,
        &[
            "-T",
            &file.path().display().to_string(),
            &format!("http://{bucket_host}:{port}/dir/file.txt"),
        ],
    );
    let body = curl(
        &gw,
        &bucket_host,
        &[&format!("http://{bucket_host}:{port}/dir/file.txt")],
    );
    assert_eq!(body, "addressed by host");

    let listing = curl(
        &gw,
        &bucket_host,
        &[&format!("http://{bucket_host}:{port}/?list-type=2")],
    );
    assert!(listing.contains("<Name>vhost</Name>"), "{listing}");
    assert!(listing.contains("<Key>dir/file.txt</Key>"), "{listing}");

    // The same object path-style, through the bare domain, localhost and the IP.
    for host in [DOMAIN, "localhost"] {
        let body = curl(
            &gw,
            host,
            &[&format!("http://{host}:{port}/vhost/dir/file.txt")],
        );
        assert_eq!(body, "addressed by host", "path style via {host}");
    }
    let body = curl(
        &gw,
        "127.0.0.1",
        &[&format!("http://127.0.0.1:{port}/vhost/dir/file.txt")],
    );
    assert_eq!(body, "addressed by host");
}
