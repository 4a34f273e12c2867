//! A real S3 server that is not vmgw, for remote tiers: `moto_server` (PyPI `moto[server]`,
//! installed by scripts/install-test-deps). Started on a free loopback port, stoppable and
//! restartable on the same port to simulate outages, killed on drop.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::require_tool;

/// Credentials moto accepts (it checks none).
pub const MOTO_KEY: &str = "moto-access";
pub const MOTO_SECRET: &str = "moto-secret";

pub struct RemoteS3 {
    child: Option<Child>,
    port: u16,
}

impl RemoteS3 {
    #[must_use]
    pub fn start() -> Self {
        // The port is free when picked but not held until moto binds it, seconds later; a
        // process started meanwhile (a gateway of a parallel test) may take it. Then moto
        // exits, or the probe reaches the other server: pick another port.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .expect("free port")
                .local_addr()
                .expect("local addr")
                .port();
            let mut server = Self { child: None, port };
            if server.try_resume() {
                return server;
            }
        }
        panic!("moto_server did not start on any of 5 ports");
    }

    /// A server with `bucket` created, for a remote tier to use.
    pub async fn start_with_bucket(bucket: &str) -> Self {
        let remote = Self::start();
        remote
            .sdk()
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("create the remote bucket");
        remote
    }

    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A client for inspecting what the gateway stored remotely.
    #[must_use]
    pub fn sdk(&self) -> aws_sdk_s3::Client {
        crate::sdk_client(&self.endpoint(), MOTO_KEY, MOTO_SECRET)
    }

    /// Stops the server (its data is lost with it: moto keeps everything in memory, so
    /// tests that restart it only check what happens while it is away and after).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port.
    pub fn resume(&mut self) {
        assert!(
            self.try_resume(),
            "moto_server did not start on port {}",
            self.port
        );
    }

    /// Starts moto on its port; false (and nothing running) when the port turned out to be
    /// someone else's.
    fn try_resume(&mut self) -> bool {
        assert!(self.child.is_none(), "already running");
        let mut child = Command::new(require_tool("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if child.try_wait().ok().flatten().is_some() {
                return false;
            }
            if let Ok(stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                if is_moto(stream) {
                    self.child = Some(child);
                    return true;
                }
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every key in `bucket` with its size.
    pub async fn objects(&self, bucket: &str) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        let mut pages = self
            .sdk()
            .list_objects_v2()
            .bucket(bucket)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for o in page.expect("list remote bucket").contents() {
                out.push((
                    o.key().unwrap_or_default().to_owned(),
                    o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                ));
            }
        }
        out
    }

    /// The raw bytes of one remote object.
    pub async fn object(&self, bucket: &str, key: &str) -> Vec<u8> {
        let got = self
            .sdk()
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .expect("get remote object");
        got.body
            .collect()
            .await
            .expect("body")
            .into_bytes()
            .to_vec()
    }
}

impl Drop for RemoteS3 {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Config lines for three tiers — local `ssd` and `hdd`, and `remote` on the S3 server at
/// `endpoint` (its `bucket`) with `remote_extra` lines (prefix, at-rest options) in its table — writing
/// the credentials file the remote tier names into `dir`.
#[must_use]
pub fn three_tiers_config(endpoint: &str, dir: &Path, bucket: &str, remote_extra: &str) -> String {
    let credentials = dir.join("remote-credentials.toml");
    std::fs::write(
        &credentials,
        format!("access_key = \"{MOTO_KEY}\"\nsecret_key = \"{MOTO_SECRET}\"\n"),
    )
    .expect("write the remote credentials");
    format!(
        "[[tiers]]\nname = \"ssd\"\npath = \"tiers/ssd\"\n\n\
         [[tiers]]\nname = \"hdd\"\npath = \"tiers/hdd\"\n\n\
         [[tiers]]\nname = \"remote\"\nkind = \"s3\"\nendpoint = \"{}\"\nbucket = \"{bucket}\"\n\
         credentials_file = \"{}\"\n{remote_extra}\n",
        endpoint,
        credentials.display()
    )
}

/// Whether the server behind `stream` is moto rather than a vmgw (which names its features
/// in every response).
fn is_moto(mut stream: TcpStream) -> bool {
    use std::io::{Read, Write};
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    if stream
        .write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    head.starts_with("http/") && !head.contains("x-vmgw-features")
}
