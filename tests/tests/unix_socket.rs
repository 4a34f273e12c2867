//! A Unix-domain socket listener, reached as a host would forward it into a guest:
//! `socat TCP-LISTEN:…,fork UNIX-CONNECT:…`, with aws-sdk-s3 and aws-cli on the TCP side.

mod common;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vmgw_tests::{Gateway, GatewayOptions, pattern, require_tool, run_within};

/// socat forwarding a loopback port to the socket; killed on drop.
struct Forward {
    child: Child,
    addr: String,
}

impl Forward {
    fn start(socket: &std::path::Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(require_tool("socat"))
            .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"))
            .arg(format!("UNIX-CONNECT:{}", socket.display()))
            .stdin(Stdio::null())
            .spawn()
            .expect("start socat");
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "socat did not listen on {addr}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, addr }
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn s3_clients_through_socat_to_the_unix_socket() {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("s3.sock");
    let private = dir.path().join("private.sock");
    let config = dir.path().join("vmgw.toml");
    std::fs::write(
        &config,
        format!("listen = [\"unix:{}\"]\n", private.display()),
    )
    .expect("write config");
    let gw = Gateway::start_with(GatewayOptions {
        data_dir: Some(dir.path().join("data")),
        // --listen replaces the file's list: the config's socket must not appear.
        args: vec!["--listen".into(), format!("unix:{}", socket.display())],
        ..GatewayOptions::default()
    });
    let mode = std::fs::metadata(&socket)
        .expect("the socket exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o660, "default socket mode");
    assert!(!private.exists());

    let forward = Forward::start(&socket);
    let endpoint = format!("http://{}", forward.addr);
    let s3 = vmgw_tests::sdk_client(&endpoint, vmgw_tests::ACCESS_KEY, vmgw_tests::SECRET_KEY);
    common::create_bucket(&s3, "via-socket").await;
    let data = pattern((2 << 20) + 3, 77);
    common::put(&s3, "via-socket", "blob", &data).await;
    assert!(
        common::get(&s3, "via-socket", "blob").await == data,
        "SDK GET through the socket"
    );
    // The TCP listener sees the same object.
    assert!(common::get(&gw.sdk(), "via-socket", "blob").await == data);

    let out = dir.path().join("blob.out");
    let mut cmd = Command::new("/usr/bin/aws");
    cmd.envs(gw.client_env())
        .env_remove("AWS_CA_BUNDLE")
        .env("AWS_CONFIG_FILE", dir.path().join("no-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.path().join("no-credentials"),
        )
        .args([
            "--endpoint-url",
            &endpoint,
            "s3",
            "cp",
            "s3://via-socket/blob",
        ])
        .arg(&out);
    run_within(&mut cmd, Duration::from_secs(120));
    assert!(
        std::fs::read(&out).expect("aws-cli download") == data,
        "aws-cli GET through the socket"
    );
}

#[test]
fn the_socket_mode_is_configurable_and_the_socket_removed_at_shutdown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("s3.sock");
    let config = dir.path().join("vmgw.toml");
    std::fs::write(&config, "[server]\nunix_socket_mode = \"0600\"\n").expect("write config");
    let mut gw = Gateway::start_with(GatewayOptions {
        data_dir: Some(dir.path().join("data")),
        args: vec![
            "--config".into(),
            config.display().to_string(),
            "--listen".into(),
            format!("unix:{}", socket.display()),
        ],
        ..GatewayOptions::default()
    });
    let mode = std::fs::metadata(&socket)
        .expect("the socket exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(gw.stop().success());
    assert!(!socket.exists(), "the socket outlived the gateway");
}
