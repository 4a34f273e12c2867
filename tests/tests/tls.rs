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
    gw.wait_for_log("refused the new TLS files", 1, Duration::from_secs(10));
    let other = tempfile::tempdir().expect("temp dir");
    let (_, other_key) = vmgw_self_signed(other.path());
    std::fs::write(&cert, &second_pem).expect("restore the certificate");
    std::fs::copy(&other_key, &key).expect("replace the key");
    gw.signal("HUP");
    gw.wait_for_log("refused the new TLS files", 2, Duration::from_secs(10));
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

#[tokio::test]
async fn sighup_rereads_the_client_ca_and_refuses_a_broken_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = vmgw_self_signed(&dir.path().join("tls"));
    let server_cert = pem_certs(&cert).remove(0);
    let old_ca = TestCa::new("guests 2025");
    let new_ca = TestCa::new("guests 2026");
    let ca_path = dir.path().join("client-ca.pem");
    std::fs::write(&ca_path, &old_ca.cert_pem).expect("write the client CA");
    let gw = Gateway::start_with_config(dir.path(), &tls_config(&cert, &key, Some(&ca_path)));
    let host = gw.addr.clone();
    let by = |ca: &TestCa| Some(ca.client("guest-1"));

    assert_eq!(try_request(&server_cert, by(&old_ca), &host).await, Ok(200));
    assert!(try_request(&server_cert, by(&new_ca), &host).await.is_err());
    let mut open = connect(
        &client_config(std::slice::from_ref(&server_cert), by(&old_ca)),
        &host,
    )
    .await
    .expect("handshake with the old CA's certificate");
    assert_eq!(list_buckets(&mut open, &host).await, Ok(200));

    // The overlap of a rotation: both CAs.
    let both = [old_ca.cert_pem.as_str(), new_ca.cert_pem.as_str()].concat();
    std::fs::write(&ca_path, both).expect("write both CAs");
    gw.signal("HUP");
    gw.wait_for_log(
        "reloaded the TLS certificate and the client CA",
        1,
        Duration::from_secs(10),
    );
    assert_eq!(try_request(&server_cert, by(&old_ca), &host).await, Ok(200));
    assert_eq!(try_request(&server_cert, by(&new_ca), &host).await, Ok(200));

    // The old CA retired: its certificates fail the handshake, the open connection goes on.
    std::fs::write(&ca_path, &new_ca.cert_pem).expect("write the new CA");
    gw.signal("HUP");
    gw.wait_for_log(
        "reloaded the TLS certificate and the client CA",
        2,
        Duration::from_secs(10),
    );
    let retired = try_request(&server_cert, by(&old_ca), &host).await;
    assert!(
        retired.as_ref().is_err_and(|e| e.contains("alert")),
        "a certificate of the retired CA got {retired:?}"
    );
    assert_eq!(try_request(&server_cert, by(&new_ca), &host).await, Ok(200));
    assert_eq!(list_buckets(&mut open, &host).await, Ok(200));

    // A file without a certificate is refused; the new CA stays in force.
    std::fs::write(&ca_path, b"not a certificate\n").expect("break the CA file");
    gw.signal("HUP");
    gw.wait_for_log("refused the new TLS files", 1, Duration::from_secs(10));
    assert_eq!(try_request(&server_cert, by(&new_ca), &host).await, Ok(200));
    assert!(try_request(&server_cert, by(&old_ca), &host).await.is_err());
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

/// One request on a fresh TLS connection presenting `identity`; unsigned, or signed by
/// `signer`. Returns the status and the body.
async fn on_cert_connection(
    roots: &[rustls::pki_types::CertificateDer<'static>],
    identity: Option<Identity>,
    host: &str,
    signer: Option<&common::tenants::Guest>,
    (method, target, body): (&str, &str, &[u8]),
) -> (u16, String) {
    let mut stream = connect(&client_config(roots, identity), host)
        .await
        .expect("TLS handshake");
    let request = Request::new(method, target).body(body.to_vec());
    let request = match signer {
        Some(guest) => request.signed(
            host,
            &guest.access_key,
            &guest.secret_key,
            common::raw::Payload::Body,
        ),
        None => request,
    };
    stream
        .write_all(&request.to_bytes(host))
        .await
        .expect("send");
    stream.flush().await.expect("flush");
    let response = tokio::time::timeout(Duration::from_secs(30), read_response(&mut stream, false))
        .await
        .expect("a response within 30 s")
        .unwrap_or_else(|e| panic!("{method} {target}: {e}"));
    (response.status, response.text())
}

/// `openssl x509 -fingerprint -sha256` of a PEM certificate, as an operator would copy it.
fn openssl_fingerprint(cert: &Path) -> String {
    let out = run_within(
        Command::new(require_tool("openssl"))
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(cert),
        LIMIT,
    );
    out.trim().to_owned()
}

#[tokio::test]
async fn a_client_certificate_acts_as_its_tenant() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = vmgw_self_signed(&dir.path().join("tls"));
    let roots = pem_certs(&cert);
    let guests = TestCa::new("vmgw guests");
    let ca_path = dir.path().join("client-ca.pem");
    std::fs::write(&ca_path, &guests.cert_pem).expect("write the client CA");
    // Certificates optional: key-signing clients keep working beside certificate ones.
    let config = format!(
        "{}require_client_cert = false\n",
        tls_config(&cert, &key, Some(&ca_path))
    );
    let mut gw = Gateway::start_with_config(dir.path(), &config);
    let host = gw.addr.clone();
    let (web_id, web_cert, web_key) = guests.client_files("web01", dir.path());
    let web_cert_arg = web_cert.display().to_string();
    let web = common::tenants::vm_add(&gw, "web01", &["--client-cert", &web_cert_arg]);
    let db = common::tenants::vm_add(&gw, "db01", &[]);
    let web_tls = || Some((web_id.0.clone(), web_id.1.clone_key()));
    let stranger = || Some(guests.client("web01"));

    // Unsigned requests over web01's certificate act as web01, and only as web01.
    let as_web = |op| on_cert_connection(&roots, web_tls(), &host, None, op);
    assert_eq!(as_web(("PUT", "/web01/note", b"from web01")).await.0, 200);
    assert_eq!(
        as_web(("GET", "/web01/note", b"")).await,
        (200, "from web01".to_owned())
    );
    let (status, listing) = as_web(("GET", "/", b"")).await;
    assert_eq!(status, 200);
    assert!(
        listing.contains("<Name>web01</Name>") && !listing.contains("db01"),
        "{listing}"
    );
    let (status, body) = as_web(("PUT", "/db01/intrusion", b"x")).await;
    assert!(
        status == 403 && body.contains("AccessDenied"),
        "{status} {body}"
    );
    assert_eq!(as_web(("GET", "/db01", b"")).await.0, 403);

    // A certificate from the same CA with the same name but not bound: anonymous.
    let (status, body) =
        on_cert_connection(&roots, stranger(), &host, None, ("GET", "/web01/note", b"")).await;
    assert!(
        status == 403 && body.contains("AccessDenied"),
        "{status} {body}"
    );
    // No certificate: unsigned is anonymous, signed works as before.
    let no_cert = |signer, op| on_cert_connection(&roots, None, &host, signer, op);
    assert_eq!(no_cert(None, ("GET", "/web01/note", b"")).await.0, 403);
    assert_eq!(
        no_cert(Some(&web), ("GET", "/web01/note", b"")).await.0,
        200
    );
    // Over web01's certificate, another identity's signature is refused; its own is fine.
    let (status, body) =
        on_cert_connection(&roots, web_tls(), &host, Some(&db), ("GET", "/db01", b"")).await;
    assert!(
        status == 403 && body.contains("client certificate acts as tenant web01"),
        "{status} {body}"
    );
    let signed = on_cert_connection(
        &roots,
        web_tls(),
        &host,
        Some(&web),
        ("GET", "/web01/note", b""),
    );
    assert_eq!(signed.await.0, 200);

    // A real client: rclone with the certificate and no keys at all.
    let home = dir.path().join("rclone-home");
    std::fs::create_dir_all(&home).expect("rclone home");
    let local = home.join("upload.bin");
    let data = pattern(3 << 20, 11);
    std::fs::write(&local, &data).expect("write the upload");
    let rclone = |args: &[&str]| {
        let mut cmd = Command::new(require_tool("rclone"));
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if name.starts_with("AWS_") || name.starts_with("RCLONE_") {
                cmd.env_remove(name);
            }
        }
        cmd.env("RCLONE_CONFIG", home.join("no-rclone.conf"))
            .arg("--ca-cert")
            .arg(&cert)
            .arg("--client-cert")
            .arg(&web_cert)
            .arg("--client-key")
            .arg(&web_key)
            .args(["--s3-provider", "Other", "--s3-env-auth=false"])
            .args(["--s3-region", vmgw_tests::REGION])
            .arg("--s3-endpoint")
            .arg(&gw.endpoint)
            .args(args);
        cmd
    };
    run_within(
        &mut rclone(&[
            "copyto",
            &local.display().to_string(),
            ":s3:web01/by-rclone.bin",
        ]),
        LIMIT,
    );
    let copied = home.join("copied.bin");
    run_within(
        &mut rclone(&[
            "copyto",
            ":s3:web01/by-rclone.bin",
            &copied.display().to_string(),
        ]),
        LIMIT,
    );
    assert_eq!(
        md5_hex(&std::fs::read(&copied).expect("read the copy")),
        md5_hex(&data)
    );
    let listed = output_within(&mut rclone(&["lsf", ":s3:db01"]), LIMIT);
    assert!(!listed.status.success(), "rclone listed db01 as web01");

    // One certificate, one tenant; the binding is listed and survives a restart.
    let fingerprint = openssl_fingerprint(&web_cert);
    let taken = output_within(
        &mut common::tenants::admin_cmd(&gw, &["cert", "allow", "db01", &fingerprint]),
        LIMIT,
    );
    let stderr = String::from_utf8_lossy(&taken.stderr);
    assert!(
        !taken.status.success() && stderr.contains("already acts as tenant \"web01\""),
        "{stderr}"
    );
    let listed = vmgw_tests::run(&mut common::tenants::admin_cmd(
        &gw,
        &["vm", "ls", "--json"],
    ));
    let tenants: serde_json::Value = serde_json::from_str(&listed).expect("vm ls --json");
    let bound: Vec<String> = tenants
        .as_array()
        .expect("a list")
        .iter()
        .filter(|t| t["name"] == "web01")
        .flat_map(|t| t["client_certs"].as_array().cloned().unwrap_or_default())
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect();
    let expected = fingerprint
        .rsplit_once('=')
        .map_or(fingerprint.as_str(), |(_, hex)| hex)
        .replace(':', "")
        .to_lowercase();
    assert_eq!(bound, vec![expected]);
    gw.restart(true);
    let host = gw.addr.clone();
    let as_web = |op| on_cert_connection(&roots, web_tls(), &host, None, op);
    assert_eq!(
        as_web(("GET", "/web01/note", b"")).await,
        (200, "from web01".to_owned()),
        "after a restart"
    );

    // Revoked (by the fingerprint openssl prints): the certificate is anonymous again.
    vmgw_tests::run(&mut common::tenants::admin_cmd(
        &gw,
        &["cert", "revoke", "web01", &fingerprint],
    ));
    assert_eq!(as_web(("GET", "/web01/note", b"")).await.0, 403);
    let again = output_within(
        &mut common::tenants::admin_cmd(&gw, &["cert", "revoke", "web01", &web_cert_arg]),
        LIMIT,
    );
    assert!(
        !again.status.success(),
        "revoking an unbound certificate succeeded"
    );
}

/// `vmgw ARGS` against the admin API at `url` only: no data directory, so no socket to fall
/// back on.
fn remote_admin(url: &str, args: &[&str], extra: &[&str]) -> std::process::Output {
    let nowhere = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(vmgw_tests::vmgw_bin());
    for var in [
        "VMGW_ACCESS_KEY",
        "VMGW_SECRET_KEY",
        "VMGW_ADMIN_URL",
        "VMGW_DATA_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("VMGW_DATA_DIR", nowhere.path().join("none"))
        .args(args)
        .args(["--admin-url", url])
        .args(extra);
    output_within(&mut cmd, LIMIT)
}

#[tokio::test]
async fn the_admin_api_over_https_takes_only_admin_credentials() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = vmgw_self_signed(&dir.path().join("tls"));
    let config = format!(
        "{}[admin]\nlisten = \"127.0.0.1:0\"\n",
        tls_config(&cert, &key, None)
    );
    let gw = Gateway::start_with_config(dir.path(), &config);
    let url = gw.announced_url("admin API listening on ");
    let admin_addr = url.trim_start_matches("https://").to_owned();
    let ca = cert.display().to_string();
    let admin_pair = [
        "--ca-bundle",
        &ca,
        "--access-key",
        vmgw_tests::ACCESS_KEY,
        "--secret-key",
        vmgw_tests::SECRET_KEY,
    ];

    // With the admin pair, `vm add` works remotely and lands in the same gateway.
    let added = remote_admin(
        &url,
        &["vm", "add", "remote01", "--format", "json"],
        &admin_pair,
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let access: serde_json::Value =
        serde_json::from_slice(&added.stdout).expect("vm add prints JSON");
    assert_eq!(access["tenant"], "remote01");
    let local = vmgw_tests::run(&mut common::tenants::admin_cmd(
        &gw,
        &["vm", "ls", "--json"],
    ));
    assert!(local.contains("\"remote01\""), "{local}");
    let listed = remote_admin(&url, &["vm", "ls", "--json"], &admin_pair);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("\"remote01\""));

    // A wrong secret, a tenant's key pair, no credentials, plain http, an untrusted
    // certificate: all refused, and nothing changes.
    let tenant_key = access["access_key"]
        .as_str()
        .expect("access key")
        .to_owned();
    let tenant_secret = access["secret_key"]
        .as_str()
        .expect("secret key")
        .to_owned();
    let refusals: [(&str, Vec<&str>, &str, &str); 5] = [
        (
            "a wrong secret",
            vec![
                "--ca-bundle",
                &ca,
                "--access-key",
                vmgw_tests::ACCESS_KEY,
                "--secret-key",
                "wrong",
            ],
            &url,
            "admin access key and secret",
        ),
        (
            "a tenant's pair",
            vec![
                "--ca-bundle",
                &ca,
                "--access-key",
                &tenant_key,
                "--secret-key",
                &tenant_secret,
            ],
            &url,
            "admin access key and secret",
        ),
        (
            "no credentials",
            vec!["--ca-bundle", &ca],
            &url,
            "needs the admin credentials",
        ),
        (
            "plain http",
            admin_pair.to_vec(),
            &format!("http://{admin_addr}"),
            "never plain http",
        ),
        (
            "the system CAs only",
            vec![
                "--access-key",
                vmgw_tests::ACCESS_KEY,
                "--secret-key",
                vmgw_tests::SECRET_KEY,
            ],
            &url,
            "TLS",
        ),
    ];
    for (what, extra, target, message) in &refusals {
        let out = remote_admin(target, &["vm", "add", "intruder"], extra);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(message),
            "{what}: {stderr}"
        );
    }
    let local = vmgw_tests::run(&mut common::tenants::admin_cmd(
        &gw,
        &["vm", "ls", "--json"],
    ));
    assert!(!local.contains("intruder"), "{local}");

    // The server itself refuses a request without credentials (not only the client).
    let roots = pem_certs(&cert);
    let mut stream = connect(&client_config(&roots, None), &admin_addr)
        .await
        .expect("TLS handshake with the admin listener");
    stream
        .write_all(b"GET /v1/tenants HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n\r\n")
        .await
        .expect("send");
    let response = read_response(&mut stream, false).await.expect("an answer");
    assert_eq!(response.status, 401);
    assert_eq!(
        response.header("www-authenticate"),
        Some("Basic realm=\"vmgw-admin\"")
    );
    assert!(!response.text().contains("remote01"));
}

#[test]
fn an_admin_listener_without_tls_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("vmgw.toml");
    std::fs::write(&config, "[admin]\nlisten = \"127.0.0.1:0\"\n").expect("write config");
    let out = output_within(
        Command::new(vmgw_tests::vmgw_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path().join("data")),
        LIMIT,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("admin.listen") && stderr.contains("needs [tls]"),
        "{stderr}"
    );
}
