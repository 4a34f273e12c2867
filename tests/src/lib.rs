//! Harness for end-to-end tests: starts the real `vmgw` binary on a free loopback port with
//! a fresh data directory, and hands out configured clients (aws-sdk-s3, and environments
//! for CLI tools).
//!
//! The binary comes from `$VMGW_BIN`, else `target/{ci,release,debug}/vmgw`
//! (the README's test command builds it first). A missing binary or tool is a test failure,
//! never a skip.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod moto;
mod mount;
mod outage;
pub mod tls;
pub use moto::{MOTO_KEY, MOTO_SECRET, RemoteS3, three_tiers_config};
pub use mount::{Mount, MountTarget, is_mounted, mount_bin};
pub use outage::CuttableLink;

pub const ACCESS_KEY: &str = "vmgwtestkey";
pub const SECRET_KEY: &str = "vmgwtestsecret0123456789";
pub const REGION: &str = "us-east-1";

/// The workspace root (the parent of this crate).
#[must_use]
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Path of the `vmgw` binary under test.
#[must_use]
pub fn vmgw_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("VMGW_BIN") {
        return PathBuf::from(bin);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from);
    for profile in ["ci", "release", "debug"] {
        let candidate = target.join(profile).join("vmgw");
        if candidate.exists() {
            return candidate;
        }
    }
    panic!(
        "vmgw binary not found: build it with `cargo build --release -p vmgw-gateway` or set VMGW_BIN"
    );
}

/// The path of a tool the tests need; fails the test with a clear message when missing.
#[must_use]
pub fn require_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "required tool {name:?} is not installed; run scripts/install-test-deps (the README's test command does)"
    );
}

/// Options for starting a gateway.
#[derive(Debug, Clone, Default)]
pub struct GatewayOptions {
    /// Reuse this data directory (e.g. after a crash) instead of a fresh one.
    pub data_dir: Option<PathBuf>,
    /// Extra arguments after `vmgw serve`.
    pub args: Vec<String>,
    /// Listen on this exact address instead of an ephemeral port.
    pub listen: Option<String>,
    /// Extra environment for the process (e.g. `VMGW_FAULT_CRASH_AT`).
    pub env: Vec<(String, String)>,
}

/// A running gateway process.
pub struct Gateway {
    child: Option<Child>,
    pub endpoint: String,
    pub addr: String,
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
    options: GatewayOptions,
    _temp: Option<Arc<tempfile::TempDir>>,
}

impl Gateway {
    /// Starts a gateway with a fresh data directory.
    #[must_use]
    pub fn start() -> Self {
        Self::start_with(GatewayOptions::default())
    }

    /// A gateway whose config file (written to `dir/vmgw.toml`) is `config`, with its data
    /// in `dir/data`.
    #[must_use]
    pub fn start_with_config(dir: &Path, config: &str) -> Self {
        let path = dir.join("vmgw.toml");
        std::fs::write(&path, config).expect("write the config file");
        Self::start_with(GatewayOptions {
            data_dir: Some(dir.join("data")),
            args: vec!["--config".into(), path.display().to_string()],
            ..GatewayOptions::default()
        })
    }

    #[must_use]
    pub fn start_with(options: GatewayOptions) -> Self {
        let (temp, data_dir) = match &options.data_dir {
            Some(dir) => (None, dir.clone()),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("vmgw-test-")
                    .tempdir()
                    .expect("temp dir");
                let dir = temp.path().join("data");
                (Some(Arc::new(temp)), dir)
            }
        };
        let log_dir = data_dir.parent().unwrap_or(&data_dir).to_path_buf();
        let mut gateway = Self {
            child: None,
            endpoint: String::new(),
            addr: String::new(),
            log_path: log_dir.join(format!("vmgw-{}.log", std::process::id())),
            data_dir,
            options,
            _temp: temp,
        };
        gateway.spawn();
        gateway
    }

    fn spawn(&mut self) {
        let listen = self
            .options
            .listen
            .clone()
            .unwrap_or_else(|| "127.0.0.1:0".to_owned());
        let mut cmd = Command::new(vmgw_bin());
        cmd.arg("serve")
            .arg("--listen")
            .arg(&listen)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--access-key")
            .arg(ACCESS_KEY)
            .arg("--secret-key")
            .arg(SECRET_KEY)
            .args(&self.options.args)
            .env(
                "VMGW_LOG",
                std::env::var("VMGW_TEST_LOG").unwrap_or_else(|_| "info".to_owned()),
            )
            .env_remove("VMGW_CONFIG")
            .env_remove("VMGW_FAULT_CRASH_AT")
            .envs(self.options.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", vmgw_bin().display()));
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel::<(&'static str, String)>();
        let log_path = self.log_path.clone();
        // Keeps draining stderr for the life of the process so it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut log = File::options()
                .create(true)
                .append(true)
                .open(&log_path)
                .ok();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(log) = &mut log {
                    let _ = writeln!(log, "{line}");
                }
                // The first TCP listener is the endpoint: HTTPS when the config has [tls].
                for scheme in ["http", "https"] {
                    if let Some(rest) = line.split(&format!("listening on {scheme}://")).nth(1) {
                        let addr = rest.split_whitespace().next().unwrap_or_default();
                        let _ = tx.send((scheme, addr.to_owned()));
                    }
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let (scheme, addr) = loop {
            if let Ok(found) = rx.recv_timeout(Duration::from_millis(100)) {
                break found;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "vmgw exited during start-up ({status}); log:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "vmgw did not start within 60 s; log:\n{}",
                self.log()
            );
        };
        self.endpoint = format!("{scheme}://{addr}");
        self.addr = addr;
        self.child = Some(child);
    }

    /// The gateway's log so far.
    #[must_use]
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(&self.log_path) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends a signal (`"HUP"`, `"TERM"`, ...) to the process.
    pub fn signal(&self, name: &str) {
        run(Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string()));
    }

    /// The URL the log announces after `announcement` (e.g. "admin API listening on "),
    /// waiting for it to appear.
    #[must_use]
    pub fn announced_url(&self, announcement: &str) -> String {
        self.wait_for_log(announcement, 1, Duration::from_secs(10));
        self.log()
            .split(announcement)
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no URL after {announcement:?} in the log"))
            .to_owned()
    }

    /// Waits until the log holds `needle` at least `count` times; fails the test after
    /// `limit`.
    pub fn wait_for_log(&self, needle: &str, count: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.log().matches(needle).count() < count {
            assert!(
                Instant::now() < deadline,
                "{needle:?} not logged {count} time(s) within {limit:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: the process dies without any chance to clean up.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("gateway is running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "vmgw did not exit within 60 s of SIGTERM; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the process again on the same data directory. With `same_port`, it listens on
    /// the address it had before (clients keep their endpoint).
    pub fn restart(&mut self, same_port: bool) {
        if self.child.is_some() {
            self.stop();
        }
        if same_port {
            self.options.listen = Some(self.addr.clone());
        }
        self.spawn();
    }

    /// Environment for CLI clients (aws-cli, rclone, restic, s3cmd).
    #[must_use]
    pub fn client_env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), SECRET_KEY.into()),
            ("AWS_DEFAULT_REGION".into(), REGION.into()),
            ("AWS_REGION".into(), REGION.into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("AWS_ENDPOINT_URL".into(), self.endpoint.clone()),
        ]
    }

    /// An aws-sdk-s3 client with default settings, path-style, pointed at this gateway.
    #[must_use]
    pub fn sdk(&self) -> aws_sdk_s3::Client {
        sdk_client(&self.endpoint, ACCESS_KEY, SECRET_KEY)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An aws-sdk-s3 client for `endpoint` with the given keys (plain HTTP, path-style).
#[must_use]
pub fn sdk_client(endpoint: &str, access_key: &str, secret_key: &str) -> aws_sdk_s3::Client {
    let http = aws_smithy_http_client::Builder::new().build_http();
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(REGION))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            access_key,
            secret_key,
            None,
            None,
            "vmgw-tests",
        ))
        .http_client(http)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Runs a command, panicking with its output if it fails; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        output.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Deterministic pseudo-random bytes.
#[must_use]
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Hex MD5, as a non-multipart ETag.
#[must_use]
pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex_simd::encode_to_string(md5::Md5::digest(data), hex_simd::AsciiCase::Lower)
}

/// Shared lock for tests that must not run alongside others (heavy I/O, timing).
pub static EXCLUSIVE: Mutex<()> = Mutex::new(());

/// Runs a command with stdout and stderr captured, killing it and failing the test if it has
/// not finished within `limit` (a hung client must fail the test, not hang the suite).
/// Unlike [`run`], it does not check the exit status.
pub fn output_within(cmd: &mut Command, limit: Duration) -> std::process::Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("stdout file"))
        .stderr(File::create(&err_path).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not finish within {limit:?}:\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&std::fs::read(&out_path).unwrap_or_default()),
                String::from_utf8_lossy(&std::fs::read(&err_path).unwrap_or_default())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::process::Output {
        status,
        stdout: std::fs::read(&out_path).expect("read stdout"),
        stderr: std::fs::read(&err_path).expect("read stderr"),
    }
}

/// [`output_within`] that also fails the test unless the command exits 0; returns stdout.
pub fn run_within(cmd: &mut Command, limit: Duration) -> String {
    let output = output_within(cmd, limit);
    assert!(
        output.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Writes `count` files of varied sizes (0 bytes to 256 KiB, content from `seed`) into
/// nested directories under `root`, and returns their paths relative to `root` in `/` form.
pub fn write_tree(root: &Path, count: usize, seed: u64) -> Vec<String> {
    let mut names = Vec::with_capacity(count);
    for i in 0..count {
        let rel = match i % 4 {
            0 => format!("top-{i:04}.bin"),
            1 => format!("d{}/f-{i:04}.dat", i % 7),
            2 => format!("d{}/e{}/f-{i:04}.txt", i % 7, i % 3),
            _ => format!("d{}/e{}/g{}/f-{i:04}", i % 5, i % 3, i % 2),
        };
        let len = match i % 10 {
            0 => 0,
            1 => 256 << 10,
            2..=4 => (i * 7919) % 65_536,
            _ => (i * 131) % 4096,
        };
        let path = root.join(&rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create dirs");
        std::fs::write(&path, pattern(len, seed.wrapping_mul(1_000_003) ^ i as u64))
            .expect("write tree file");
        names.push(rel);
    }
    names
}

/// The regular files under `root`, as `/`-separated paths relative to `root`, sorted.
#[must_use]
pub fn list_tree(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let entry = entry.expect("dir entry");
            let kind = entry.file_type().expect("file type");
            if kind.is_dir() {
                walk(root, &entry.path(), out);
            } else {
                let rel = entry
                    .path()
                    .strip_prefix(root)
                    .expect("under root")
                    .to_owned();
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(parts.join("/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Asserts that two directory trees hold the same regular files with the same bytes.
pub fn assert_same_tree(expected: &Path, actual: &Path) {
    let want = list_tree(expected);
    let got = list_tree(actual);
    assert!(
        want == got,
        "file lists differ between {} ({} files) and {} ({} files): missing {:?}, extra {:?}",
        expected.display(),
        want.len(),
        actual.display(),
        got.len(),
        want.iter()
            .filter(|p| !got.contains(p))
            .take(10)
            .collect::<Vec<_>>(),
        got.iter()
            .filter(|p| !want.contains(p))
            .take(10)
            .collect::<Vec<_>>()
    );
    for rel in &want {
        let a = std::fs::read(expected.join(rel)).expect("read expected file");
        let b = std::fs::read(actual.join(rel)).expect("read actual file");
        assert!(
            a == b,
            "{rel}: content differs ({} vs {} bytes, md5 {} vs {})",
            a.len(),
            b.len(),
            md5_hex(&a),
            md5_hex(&b)
        );
    }
}

/// The last `lines` lines of a gateway's log, for failure messages (the log file itself goes
/// away with the gateway's temporary directory).
#[must_use]
pub fn log_tail(gw: &Gateway, lines: usize) -> String {
    let log = gw.log();
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl Gateway {
    /// Sets the environment the process gets on its next (re)start.
    pub fn set_env(&mut self, env: Vec<(String, String)>) {
        self.options.env = env;
    }

    /// Waits for the process to exit on its own (a crash point), returning its status.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("gateway is running");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("vmgw did not exit within {limit:?}; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The whole body of `bucket/key`, panicking with the error when the GET fails.
pub async fn get_bytes(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {bucket}/{key}: {e:?}"))
        .body
        .collect()
        .await
        .expect("the whole body")
        .into_bytes()
        .to_vec()
}

/// Creates `bucket` and enables versioning on it, panicking when either request fails.
pub async fn create_versioned_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateBucket {bucket}: {e:?}"));
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutBucketVersioning {bucket}: {e:?}"));
}

/// A command for a client program (aws-cli, rclone, a shell) with none of the caller's
/// `AWS_*` or `RCLONE_*` variables, `HOME` at `home`: it sees only the configuration the
/// test gives it (the machine may set `AWS_CA_BUNDLE`, which breaks rclone even over HTTP).
#[must_use]
pub fn isolated_client(program: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(program);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("AWS_") || name.starts_with("RCLONE_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("HOME", home)
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

/// Runs `cmd` (within `limit`), asserts that it succeeded and returns its stdout.
pub fn succeed_within(cmd: &mut Command, limit: Duration, what: &str) -> String {
    let out = output_within(cmd, limit);
    assert!(
        out.status.success(),
        "{what} failed ({}): {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
