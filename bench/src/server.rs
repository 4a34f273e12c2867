//! Server process control: starts `vmgw` or `s3s-fs` on a free loopback port with a fresh
//! data directory, waits until it serves, and stops it.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::{BenchError, Result};

pub const ACCESS_KEY: &str = "vmgwbenchkey";
pub const SECRET_KEY: &str = "vmgwbenchsecret0123456789";
pub const REGION: &str = "us-east-1";

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Which server implementation to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerKind {
    Vmgw,
    #[value(name = "s3s-fs")]
    S3sFs,
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Vmgw => "vmgw",
            Self::S3sFs => "s3s-fs",
        })
    }
}

/// How to start a target: its binary, where its data directories go and the extra
/// environment of `--server-env`. Workloads that need a differently configured server (the
/// tier workloads) start their own from it.
#[derive(Debug, Clone)]
pub struct Launch {
    pub kind: ServerKind,
    pub bin: PathBuf,
    pub work_dir: Option<PathBuf>,
    pub env: Vec<(String, String)>,
}

impl Launch {
    /// The server with its defaults.
    pub fn start(&self) -> Result<Server> {
        Server::start(self, None, &[])
    }

    /// vmgw with `config` as its TOML config file and `env` added to `--server-env`.
    pub fn start_configured(&self, config: &str, env: &[(String, String)]) -> Result<Server> {
        Server::start(self, Some(config), env)
    }
}

/// A running server; killed on drop if not stopped.
pub struct Server {
    pub kind: ServerKind,
    pub endpoint: String,
    pub log_path: PathBuf,
    /// The server's data directory (vmgw's admin socket lives in it).
    pub data_dir: PathBuf,
    child: Option<Child>,
    /// Keeps the data directory for the server's life; deleted on drop.
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts `launch.bin` with a fresh data directory under `launch.work_dir` (system temp
    /// dir when `None`), `launch.env` and `extra_env` added to its environment and, for vmgw,
    /// `config` written to a file it is started with.
    fn start(
        launch: &Launch,
        config: Option<&str>,
        extra_env: &[(String, String)],
    ) -> Result<Self> {
        let (kind, bin) = (launch.kind, launch.bin.as_path());
        if config.is_some() && kind != ServerKind::Vmgw {
            return Err(BenchError::Check(format!("{kind} takes no config file")));
        }
        let prefix = format!("vmgw-bench-{kind}-");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix);
        let dir = match &launch.work_dir {
            Some(parent) => builder.tempdir_in(parent)?,
            None => builder.tempdir()?,
        };
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data)?;
        let log_path = dir.path().join("server.log");

        let mut cmd = Command::new(bin);
        let fixed_addr = match kind {
            ServerKind::Vmgw => {
                cmd.arg("serve")
                    .args(["--listen", "127.0.0.1:0", "--data-dir"])
                    .arg(&data)
                    .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                    .env_remove("VMGW_CONFIG")
                    .env_remove("VMGW_ENCRYPTION_KEY")
                    .env_remove("VMGW_LOG");
                if let Some(config) = config {
                    let path = dir.path().join("vmgw.toml");
                    std::fs::write(&path, config)?;
                    cmd.arg("--config").arg(path);
                }
                None
            }
            ServerKind::S3sFs => {
                let addr = free_port()?;
                cmd.args(["--host", "127.0.0.1", "--port", &addr.port().to_string()])
                    .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                    .arg(&data)
                    .env("RUST_LOG", "warn");
                Some(addr)
            }
        };
        cmd.envs(launch.env.iter().chain(extra_env).map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|source| BenchError::Spawn {
            what: bin.display().to_string(),
            source,
        })?;
        let announced = drain_log(&mut child, &log_path)?;

        let mut server = Self {
            kind,
            endpoint: String::new(),
            log_path,
            data_dir: data,
            child: Some(child),
            _dir: dir,
        };
        let addr = server.wait_ready(fixed_addr, &announced)?;
        server.endpoint = format!("http://{addr}");
        Ok(server)
    }

    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The last `lines` lines of the server's log.
    #[must_use]
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// vmgw announces its address on stderr; s3s-fs is probed until it accepts connections.
    fn wait_ready(
        &mut self,
        fixed: Option<SocketAddr>,
        announced: &mpsc::Receiver<String>,
    ) -> Result<String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match fixed {
                Some(addr)
                    if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() =>
                {
                    return Ok(addr.to_string());
                }
                Some(_) => std::thread::sleep(Duration::from_millis(50)),
                None => {
                    if let Ok(addr) = announced.recv_timeout(Duration::from_millis(100)) {
                        return Ok(addr);
                    }
                }
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(self.not_ready(format!("exited during start-up ({status})")));
            }
            if Instant::now() > deadline {
                return Err(self.not_ready(format!("no answer within {START_TIMEOUT:?}")));
            }
        }
    }

    fn not_ready(&self, reason: String) -> BenchError {
        BenchError::NotReady {
            what: self.kind.to_string(),
            reason,
            log: self.log_path.clone(),
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within 10 s.
    pub fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Copies the child's stderr to `log_path` for its whole life (so it never blocks on a full
/// pipe) and forwards the address of a `listening on http://ADDR` line.
fn drain_log(child: &mut Child, log_path: &Path) -> Result<mpsc::Receiver<String>> {
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| BenchError::Check("child stderr is not piped".into()))?;
    let mut log = File::create(log_path)?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = writeln!(log, "{line}");
            if let Some(rest) = line.split("listening on http://").nth(1)
                && let Some(addr) = rest.split_whitespace().next()
            {
                let _ = tx.send(addr.to_owned());
            }
        }
    });
    Ok(rx)
}

/// A loopback port nobody listens on right now.
fn free_port() -> Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Finds the `s3s-fs` binary: `explicit`, else on `PATH`, else `~/.cargo/bin`. With `install`,
/// runs `cargo install s3s-fs --version 0.14.1 --features binary --locked` when missing.
pub fn locate_s3s_fs(explicit: Option<&Path>, install: bool) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(BenchError::MissingBinary {
                path: path.to_path_buf(),
                hint: String::new(),
            })
        };
    }
    let find = || {
        let mut dirs: Vec<PathBuf> =
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).collect();
        if let Some(home) = std::env::var_os("HOME") {
            dirs.push(Path::new(&home).join(".cargo/bin"));
        }
        dirs.into_iter()
            .map(|d| d.join("s3s-fs"))
            .find(|p| p.is_file())
    };
    if let Some(path) = find() {
        return Ok(path);
    }
    if !install {
        return Err(BenchError::MissingBinary {
            path: "s3s-fs".into(),
            hint: " on PATH: install it with `cargo install s3s-fs --version 0.14.1 --features \
                   binary --locked`, pass --install-s3s-fs, or use --target vmgw"
                .into(),
        });
    }
    eprintln!("installing s3s-fs 0.14.1 (cargo install) ...");
    let status = Command::new("cargo")
        .args(["install", "s3s-fs", "--version", "0.14.1"])
        .args(["--features", "binary", "--locked"])
        .status()
        .map_err(|e| BenchError::Install(e.to_string()))?;
    if !status.success() {
        return Err(BenchError::Install(status.to_string()));
    }
    find().ok_or_else(|| BenchError::Install("installed, but s3s-fs is not on PATH".into()))
}
