//! HTTPS end to end, against the real binary with a certificate from `vmgw cert
//! self-signed`: aws-cli v1 and v2 and rclone trusting it explicitly, SIGHUP reloading the
//! certificate while a connection stays open, client certificates (mTLS), and old protocol
//! versions refused.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::raw::{Request, read_response};
use tokio::io::AsyncWriteExt;
use vmgw_tests::tls::{
    Identity, TestCa, client_config, connect, pem_certs, served_cert, vmgw_self_signed,
};
use vmgw_tests::{Gateway, md5_hex, output_within, pattern, require_tool, run_within};

/// No single client invocation may take longer than this.
const LIMIT: Duration = Duration::from_secs(120);

fn tls_config(cert: &Path, key: &Path, client_ca: Option<&Path>) -> String {
    let mut text = format!(
        "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
        cert.display().to_string(),
        key.display().to_string()
    );
    if let Some(ca) = client_ca {
        text.push_str(&format!(
            "client_ca_file = {:?}\n",
            ca.display().to_string()
        ));
    }
    text
}

/// aws-cli v1 (`python3 -m awscli`) or v2 (`/usr/bin/aws`), trusting only `ca`.
fn aws(v2: bool, gw: &Gateway, ca: &Path, home: &Path, args: &[&str]) -> Command {
    let mut cmd = if v2 {
        assert!(
            Path::new("/usr/bin/aws").is_file(),
            "aws-cli v2 is not installed at /usr/bin/aws; run scripts/install-test-deps"
        );
        Command::new("/usr/bin/aws")
    } else {
        let mut cmd = Command::new(require_tool("python3"));
        cmd.args(["-m", "awscli"]);
        cmd
    };
    for var in ["AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"] {
        cmd.env_remove(var);
    }
    cmd.envs(gw.client_env())
        // The machine may point AWS_CA_BUNDLE at the system bundle, which lacks ours.
        .env("AWS_CA_BUNDLE", ca)
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_PAGER", "")
        .arg("--endpoint-url")
        .arg(&gw.endpoint)
        .arg("--ca-bundle")
        .arg(ca)
        .args(args);
    cmd
}

/// rclone with an on-the-fly remote `:s3:`, trusting only `ca`; nothing from the caller's
/// environment reaches it (rclone 1.60 fails on AWS_CA_BUNDLE).
fn rclone(gw: &Gateway, ca: &Path, home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(require_tool("rclone"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("AWS_") || name.starts_with("RCLONE_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("RCLONE_CONFIG", home.join("no-rclone.conf"))
        .env("RCLONE_CACHE_DIR", home.join("rclone-cache"))
        .arg("--ca-cert")
        .arg(ca)
        .args(["--s3-provider", "Other", "--s3-env-auth=false"])
        .args(["--s3-access-key-id", vmgw_tests::ACCESS_KEY])
        .args(["--s3-secret-access-key", vmgw_tests::SECRET_KEY])
        .args(["--s3-region", vmgw_tests::REGION])
        .arg("--s3-endpoint")
        .arg(&gw.endpoint)
        .args(args);
    cmd
}

#[test]
fn aws_cli_v1_v2_and_rclone_over_https() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = vmgw_self_signed(&dir.path().join("tls"));
    let gw = Gateway::start_with_config(dir.path(), &tls_config(&cert, &key, None));
    assert!(gw.endpoint.starts_with("https://"), "{}", gw.endpoint);
    let home = dir.path();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let data = pattern((3 << 20) + 17, 61);
    std::fs::write(path("upload.bin"), &data).expect("write upload");

    run_within(
        &mut aws(false, &gw, &cert, home, &["s3", "mb", "s3://tls-bucket"]),
        LIMIT,
    );
    run_within(
        &mut aws(
            false,
            &gw,
            &cert,
            home,
            &["s3", "cp", &path("upload.bin"), "s3://tls-bucket/v1.bin"],
        ),
        LIMIT,
    );
    run_within(
        &mut aws(
            true,
            &gw,
            &cert,
            home,
            &["s3", "cp", &path("upload.bin"), "s3://tls-bucket/v2.bin"],
        ),
        LIMIT,
    );
    for (v2, key) in [(true, "v1.bin"), (false, "v2.bin")] {
        let out = path(&format!("down-{v2}-{key}"));
        run_within(
            &mut aws(
                v2,
                &gw,
                &cert,
                home,
                &["s3", "cp", &format!("s3://tls-bucket/{key}"), &out],
            ),
            LIMIT,
        );
        let got = std::fs::read(&out).expect("downloaded file");
        assert!(
            got == data,
            "aws v2={v2} download of {key}: {} bytes, md5 {}",
            got.len(),
            md5_hex(&got)
        );
    }

    run_within(
        &mut rclone(
            &gw,
            &cert,
            home,
            &["copyto", &path("upload.bin"), ":s3:tls-bucket/rclone.bin"],
        ),
        LIMIT,
    );
    for key in ["rclone.bin", "v1.bin"] {
        let out = path(&format!("rclone-{key}"));
        run_within(
            &mut rclone(
                &gw,
                &cert,
                home,
                &["copyto", &format!(":s3:tls-bucket/{key}"), &out],
            ),
            LIMIT,
        );
        assert!(
            std::fs::read(&out).expect("rclone download") == data,
            "rclone download of {key}"
        );
    }

    // The certificate really is checked: trusting only the system's CAs fails.
    let system = Path::new("/etc/ssl/certs/ca-certificates.crt");
    let refused = output_within(
        &mut aws(true, &gw, system, home, &["s3", "ls", "s3://tls-bucket"]),
        LIMIT,
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("SSL"),
        "aws-cli accepted the self-signed certificate without it in its bundle: {stderr}"
    );
}

/// A signed ListBuckets over `stream`, keeping the connection open; returns the status.
async fn list_buckets<S>(stream: &mut S, host: &str) -> Result<u16, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let request = Request::new("GET", "/")
        .signed_ok(host)
        .to_bytes_with(host, false);
    stream
        .write_all(&request)
        .await
        .map_err(|e| format!("write: {e}"))?;
    stream.flush().await.map_err(|e| format!("flush: {e}"))?;
    let response = tokio::time::timeout(Duration::from_secs(30), read_response(stream, false))
        .await
        .map_err(|_| "no response within 30 s".to_owned())??;
    Ok(response.status)
}

#[tokio::test]
async fn sighup_reload_serves_the_new_certificate_and_keeps_open_connections() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tls_dir = dir.path().join("tls");
    let (cert, key) = vmgw_self_signed(&tls_dir);
    let first = pem_certs(&cert).remove(0);
    let gw = Gateway::start_with_config(dir.path(), &tls_config(&cert, &key, None));
    let host = gw.addr.clone();

    let mut open = connect(&client_config(std::slice::from_ref(&first), None), &host)
        .await
        .expect("handshake with the first certificate");
    assert!(served_cert(&open) == first);
    assert_eq!(list_buckets(&mut open, &host).await, Ok(200));

    // `vmgw cert self-signed` replaces both files in place.
    let _ = vmgw_self_signed(&tls_dir);
    let second = pem_certs(&cert).remove(0);
    let second_pem = std::fs::read(&cert).expect("read the second certificate");
    assert!(second != first, "a new certificate was written");
    gw.signal("HUP");
    gw.wait_for_log("reloaded the TLS certificate", 1, Duration::from_secs(10));

    let mut fresh = connect(&client_config(std::slice::from_ref(&second), None), &host)
        .await
        .expect("handshake with the second certificate");
    assert!(
        served_cert(&fresh) == second,
        "a new connection gets the new certificate"
    );
    assert_eq!(list_buckets(&mut fresh, &host).await, Ok(200));
    let stale = connect(&client_config(std::slice::from_ref(&first), None), &host).await;
    assert!(
        stale.is_err(),
        "a client trusting only the old certificate still connected"
    );

    // The connection opened before the reload carries on.
    assert_eq!(list_buckets(&mut open, &host).await, Ok(200));
    assert_eq!(list_buckets(&mut open, &host).await, Ok(200));

    // A broken certificate, then a key of another pair: both refused, the second stays.
    std::fs::write(
        &cert,
        b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
    )
    .expect("break the certificate");
    gw.signal("HUP");
    gw.wait_for_log(
        "refused the new TLS certificate",
        1,
        Duration::from_secs(10),
    );
    let other = tempfile::tempdir().expect("temp dir");
    let (_, other_key) = vmgw_self_signed(other.path());
    std::fs::write(&cert, &second_pem).expect("restore the certificate");
    std::fs::copy(&other_key, &key).expect("replace the key");
    gw.signal("HUP");
    gw.wait_for_log(
        "refused the new TLS certificate",
        2,
        Duration::from_secs(10),
    );
    let mut after = connect(&client_config(std::slice::from_ref(&second), None), &host)
        .await
        .expect("handshake after the refused reloads");
    assert!(
        served_cert(&after) == second,
        "the refused reloads kept the second certificate"
    );
    assert_eq!(list_buckets(&mut after, &host).await, Ok(200));
    assert_eq!(list_buckets(&mut open, &host).await, Ok(200));
}

/// Handshake and one request; `Err` when the server refused the client at any point.
async fn try_request(
    server_cert: &rustls::pki_types::CertificateDer<'static>,
    identity: Option<Identity>,
    host: &str,
) -> Result<u16, String> {
    let config = client_config(std::slice::from_ref(server_cert), identity);
    let mut stream = connect(&config, host)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    // In TLS 1.3 the server checks the client's certificate after the client considers the
    // handshake done: a refusal arrives as an alert on the first read.
    list_buckets(&mut stream, host).await
}

#[tokio::test]
async fn mtls_accepts_only_certificates_from_the_client_ca() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = vmgw_self_signed(&dir.path().join("tls"));
    let server_cert = pem_certs(&cert).remove(0);
    let clients = TestCa::new("vmgw guests");
    let strangers = TestCa::new("someone else");
    let ca_path = dir.path().join("client-ca.pem");
    std::fs::write(&ca_path, &clients.cert_pem).expect("write the client CA");
    let gw = Gateway::start_with_config(dir.path(), &tls_config(&cert, &key, Some(&ca_path)));
    let host = gw.addr.clone();

    assert_eq!(
        try_request(&server_cert, Some(clients.client("guest-1")), &host).await,
        Ok(200),
        "a client certificate from the configured CA"
    );
    let other = try_request(&server_cert, Some(strangers.client("guest-1")), &host).await;
    assert!(
        other.is_err(),
        "a certificate from another CA got {other:?}"
    );
    let none = try_request(&server_cert, None, &host).await;
    assert!(none.is_err(), "a client without a certificate got {none:?}");
    // Refused by TLS (an alert), not by an HTTP error.
    for refused in [&other, &none] {
        let message = refused.as_ref().unwrap_err();
        assert!(message.contains("alert"), "{message}");
    }
}

/// `openssl s_client` limited to one protocol version.
fn s_client(addr: &str, cert: &Path, version_flag: &str) -> (bool, String) {
    let out = output_within(
        Command::new(require_tool("openssl"))
            .args(["s_client", "-connect", addr, version_flag])
            // Level 0 lets the client offer TLS 1.1 at all: the server must be the one
            // refusing it.
            .args(["-cipher", "DEFAULT@SECLEVEL=0", "-CAfile"])
            .arg(cert),
        LIMIT,
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn tls_1_1_is_refused_and_1_2_and_1_3_are_served() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = vmgw_self_signed(&dir.path().join("tls"));
    let gw = Gateway::start_with_config(dir.path(), &tls_config(&cert, &key, None));

    for (flag, protocol) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let (ok, text) = s_client(&gw.addr, &cert, flag);
        assert!(
            ok && text.contains(&format!("New, {protocol}, Cipher is")),
            "{flag}: {text}"
        );
        assert!(
            text.contains("Verify return code: 0 (ok)"),
            "{flag}: {text}"
        );
    }
    let (ok, text) = s_client(&gw.addr, &cert, "-tls1_1");
    assert!(!ok, "TLS 1.1 was accepted: {text}");
    // The server answered the TLS 1.1 hello with an alert: the client did offer it.
    assert!(text.contains("alert"), "TLS 1.1: {text}");
    assert!(!text.contains("New, TLSv1.1"), "TLS 1.1: {text}");
}

#[tokio::test]
async fn a_client_stalling_in_the_handshake_is_cut_off() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = vmgw_self_signed(&dir.path().join("tls"));
    let config = format!(
        "{}[server]\nheader_read_timeout_secs = 2\n",
        tls_config(&cert, &key, None)
    );
    let gw = Gateway::start_with_config(dir.path(), &config);
    let mut silent = tokio::net::TcpStream::connect(&gw.addr)
        .await
        .expect("connect");
    let started = std::time::Instant::now();
    // Meanwhile a real client is served.
    let server_cert = pem_certs(&cert).remove(0);
    assert_eq!(try_request(&server_cert, None, &gw.addr).await, Ok(200));
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read(&mut silent, &mut buf),
    )
    .await
    .expect("the silent connection was still open after 10 s");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1700) && elapsed <= Duration::from_secs(5),
        "closed after {elapsed:?}, the limit is 2 s"
    );
}

/// One signed request on a fresh connection (`Connection: close`); returns the status.
async fn signed_on<S>(
    mut stream: S,
    host: &str,
    guest: &common::tenants::Guest,
    method: &str,
    target: &str,
    body: &[u8],
) -> u16
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let request = Request::new(method, target)
        .body(body.to_vec())
        .signed(
            host,
            &guest.access_key,
            &guest.secret_key,
            common::raw::Payload::Body,
        )
        .to_bytes(host);
    stream.write_all(&request).await.expect("send");
    stream.flush().await.expect("flush");
    tokio::time::timeout(Duration::from_secs(30), read_response(&mut stream, false))
        .await
        .expect("a response within 30 s")
        .unwrap_or_else(|e| panic!("{method} {target}: {e}"))
        .status
}

#[tokio::test]
async fn bucket_policies_see_https_as_secure_transport() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = vmgw_self_signed(&dir.path().join("tls"));
    let socket = dir.path().join("s3.sock");
    let config = dir.path().join("vmgw.toml");
    std::fs::write(&config, tls_config(&cert, &key, None)).expect("write config");
    // The harness adds a TCP listener; this adds a plain one beside it.
    let gw = Gateway::start_with(vmgw_tests::GatewayOptions {
        data_dir: Some(dir.path().join("data")),
        args: vec![
            "--config".into(),
            config.display().to_string(),
            "--listen".into(),
            format!("unix:{}", socket.display()),
        ],
        ..vmgw_tests::GatewayOptions::default()
    });
    let alice = common::tenants::vm_add(&gw, "alice", &[]);
    assert_eq!(
        alice.endpoint, gw.endpoint,
        "vm add hands out the HTTPS endpoint"
    );
    let tls = client_config(&pem_certs(&cert), None);
    let host = gw.addr.clone();
    let https = || async { connect(&tls, &host).await.expect("TLS handshake") };
    let plain = || async {
        tokio::net::UnixStream::connect(&socket)
            .await
            .expect("connect to the socket")
    };

    let put = signed_on(https().await, &host, &alice, "PUT", "/alice/doc", b"doc").await;
    assert_eq!(put, 200, "PUT over HTTPS");
    let get = signed_on(plain().await, "localhost", &alice, "GET", "/alice/doc", b"").await;
    assert_eq!(get, 200, "GET over the socket before the policy");

    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::alice","arn:aws:s3:::alice/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
    let status = signed_on(
        https().await,
        &host,
        &alice,
        "PUT",
        "/alice?policy",
        policy.as_bytes(),
    )
    .await;
    assert!(status == 200 || status == 204, "PutBucketPolicy: {status}");

    let get = signed_on(https().await, &host, &alice, "GET", "/alice/doc", b"").await;
    assert_eq!(get, 200, "GET over HTTPS is secure transport");
    let get = signed_on(plain().await, "localhost", &alice, "GET", "/alice/doc", b"").await;
    assert_eq!(get, 403, "GET over the plain socket is not");
}
