//! `vmgw-mount` under test: mounts a bucket with the real binary (FUSE), and always
//! unmounts on drop so a failing test leaves no stale mount behind.
//!
//! The binary comes from `$VMGW_MOUNT_BIN`, else sits next to the `vmgw` binary under test
//! (`scripts/test-all` builds every binary with the same profile).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::{require_tool, vmgw_bin};

/// Path of the `vmgw-mount` binary under test.
#[must_use]
pub fn mount_bin() -> PathBuf {
    let bin = std::env::var_os("VMGW_MOUNT_BIN")
        .map_or_else(|| vmgw_bin().with_file_name("vmgw-mount"), PathBuf::from);
    assert!(
        bin.is_file(),
        "vmgw-mount binary not found at {}: build it with `cargo build --profile ci --bins` or set VMGW_MOUNT_BIN",
        bin.display()
    );
    bin
}

/// Where and as whom to mount.
#[derive(Debug, Clone)]
pub struct MountTarget {
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    /// `BUCKET` or `BUCKET:/PREFIX`.
    pub source: String,
}

impl MountTarget {
    /// A `vmgw-mount` command for this target on `dir`, credentials in the environment.
    #[must_use]
    pub fn command(&self, dir: &Path) -> Command {
        let mut cmd = Command::new(mount_bin());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("AWS_") {
                cmd.env_remove(name);
            }
        }
        cmd.arg(&self.source)
            .arg(dir)
            .arg("--endpoint")
            .arg(&self.endpoint)
            .env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_key)
            .env("HOME", "/nonexistent")
            .env(
                "VMGW_MOUNT_LOG",
                std::env::var("VMGW_TEST_LOG").unwrap_or_else(|_| "warn".to_owned()),
            );
        cmd
    }
}

/// Whether `dir` is a mount point now (per /proc/self/mountinfo).
#[must_use]
pub fn is_mounted(dir: &Path) -> bool {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    let dir = dir.to_string_lossy();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|line| line.split(' ').nth(4) == Some(&*dir))
}

/// A mount served by a `vmgw-mount --foreground` child process.
pub struct Mount {
    child: Option<Child>,
    dir: PathBuf,
    pub log_path: PathBuf,
    _temp: tempfile::TempDir,
}

impl Mount {
    /// Mounts `target` with extra `-o` options and waits until the mount is live.
    #[must_use]
    pub fn start(target: &MountTarget, options: &[&str]) -> Self {
        let _ = require_tool("fusermount3");
        let temp = tempfile::Builder::new()
            .prefix("vmgw-mount-test-")
            .tempdir()
            .expect("temp dir");
        let dir = temp.path().join("mnt");
        std::fs::create_dir(&dir).expect("mount point");
        let log_path = temp.path().join("vmgw-mount.log");
        let mut cmd = target.command(&dir);
        cmd.arg("--foreground");
        for o in options {
            cmd.arg("-o").arg(o);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).expect("log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", mount_bin().display()));
        let mut mount = Self {
            child: Some(child),
            dir,
            log_path,
            _temp: temp,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !is_mounted(&mount.dir) {
            if let Some(status) = mount
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "vmgw-mount exited before mounting ({status}); log:\n{}",
                    mount.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "vmgw-mount did not mount within 30 s; log:\n{}",
                mount.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        mount
    }

    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `rel` inside the mount.
    #[must_use]
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    #[must_use]
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// SIGTERM, as a service manager stops it: the process saves, unmounts and exits.
    /// Returns its exit status; the mount point must be unmounted afterwards.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("mount process running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let status = wait_exit(&mut child, Duration::from_secs(60)).unwrap_or_else(|| {
            panic!(
                "vmgw-mount did not exit within 60 s of SIGTERM; log:\n{}",
                self.log()
            )
        });
        assert!(
            !is_mounted(&self.dir),
            "still mounted after vmgw-mount exited; log:\n{}",
            self.log()
        );
        status
    }

    /// The serving process's pid.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("mount process running").id()
    }

    /// Waits for the process to exit after a signal sent from outside; the mount point must
    /// be unmounted afterwards.
    pub fn wait(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("mount process running");
        let status = wait_exit(&mut child, Duration::from_secs(60))
            .unwrap_or_else(|| panic!("vmgw-mount did not exit within 60 s; log:\n{}", self.log()));
        assert!(
            !is_mounted(&self.dir),
            "still mounted after exit; log:\n{}",
            self.log()
        );
        status
    }

    /// `fusermount3 -u` from outside; the process must notice and exit on its own.
    pub fn unmount_externally(&mut self) -> ExitStatus {
        crate::run(
            Command::new(require_tool("fusermount3"))
                .arg("-u")
                .arg(&self.dir),
        );
        let mut child = self.child.take().expect("mount process running");
        wait_exit(&mut child, Duration::from_secs(30)).unwrap_or_else(|| {
            panic!(
                "vmgw-mount did not exit within 30 s of fusermount3 -u; log:\n{}",
                self.log()
            )
        })
    }
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            if wait_exit(&mut child, Duration::from_secs(20)).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if is_mounted(&self.dir) {
            // The process died without unmounting: detach so nothing is left behind.
            let _ = Command::new("fusermount3")
                .arg("-u")
                .arg("-z")
                .arg(&self.dir)
                .status();
        }
    }
}
