//! rclone with a remote defined only by environment variables (type s3, provider Other, the
//! gateway's endpoint and keys, `env_auth=false`) and default settings otherwise: copy, check,
//! sync with deletions, lsjson, and `rclone mount` (FUSE) writing and reading through the
//! gateway.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use vmgw_tests::{
    Gateway, assert_same_tree, list_tree, md5_hex, output_within, pattern, require_tool, write_tree,
};

/// No single rclone invocation may take longer than this.
const LIMIT: Duration = Duration::from_secs(120);

/// rclone pointed at one gateway as the remote `vmgw:`.
struct Rclone<'a> {
    gw: &'a Gateway,
    /// rclone's (nonexistent) config file and its cache directory.
    home: tempfile::TempDir,
}

impl<'a> Rclone<'a> {
    fn new(gw: &'a Gateway) -> Self {
        let _ = require_tool("rclone");
        Self {
            gw,
            home: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(require_tool("rclone"));
        // Nothing from the caller's environment may configure rclone or the AWS SDK inside
        // it (rclone 1.60 fails on AWS_CA_BUNDLE even over plain HTTP).
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if name.starts_with("AWS_") || name.starts_with("RCLONE_") {
                cmd.env_remove(name);
            }
        }
        cmd.env("RCLONE_CONFIG", self.home.path().join("no-rclone.conf"))
            .env("RCLONE_CACHE_DIR", self.home.path().join("cache"))
            .env("RCLONE_CONFIG_VMGW_TYPE", "s3")
            .env("RCLONE_CONFIG_VMGW_PROVIDER", "Other")
            .env("RCLONE_CONFIG_VMGW_ENV_AUTH", "false")
            .env("RCLONE_CONFIG_VMGW_ACCESS_KEY_ID", vmgw_tests::ACCESS_KEY)
            .env(
                "RCLONE_CONFIG_VMGW_SECRET_ACCESS_KEY",
                vmgw_tests::SECRET_KEY,
            )
            .env("RCLONE_CONFIG_VMGW_ENDPOINT", &self.gw.endpoint)
            .args(args);
        cmd
    }

    /// Runs and asserts exit 0; returns (stdout, stderr).
    fn run(&self, args: &[&str]) -> (String, String) {
        let mut cmd = self.cmd(args);
        let out = output_within(&mut cmd, LIMIT);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert!(
            out.status.success(),
            "{cmd:?} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}\ngateway log (tail):\n{}",
            out.status,
            vmgw_tests::log_tail(self.gw, 40)
        );
        (stdout, stderr)
    }

    /// `rclone lsjson -R --files-only`: (path, size) of every object, sorted.
    fn lsjson(&self, remote: &str) -> Vec<(String, u64)> {
        let (out, _) = self.run(&["lsjson", "-R", "--files-only", remote]);
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("lsjson: {e}: {out}"));
        let mut items: Vec<(String, u64)> = v
            .as_array()
            .expect("lsjson array")
            .iter()
            .map(|item| {
                assert_eq!(item["IsDir"], Value::Bool(false), "{item}");
                (
                    item["Path"].as_str().expect("Path").to_owned(),
                    item["Size"].as_u64().expect("Size"),
                )
            })
            .collect();
        items.sort();
        items
    }
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// (path, size) of every file in a local tree, sorted.
fn local_listing(root: &Path) -> Vec<(String, u64)> {
    list_tree(root)
        .into_iter()
        .map(|rel| {
            let len = std::fs::metadata(root.join(&rel)).expect("stat").len();
            (rel, len)
        })
        .collect()
}

/// Asserts `rclone check` found no differences and `files` matching files.
fn assert_check_clean(rclone: &Rclone, local: &Path, remote: &str, files: usize) {
    let (_, stderr) = rclone.run(&["check", s(local), remote]);
    assert!(
        stderr.contains("0 differences found"),
        "rclone check: {stderr}"
    );
    assert!(
        stderr.contains(&format!("{files} matching files")),
        "rclone check should report {files} matching files: {stderr}"
    );
}

#[test]
fn copy_check_sync_lsjson() {
    let gw = Gateway::start();
    let rclone = Rclone::new(&gw);
    let work = tempfile::tempdir().expect("temp dir");
    let src = work.path().join("src");
    let names = write_tree(&src, 300, 11);
    let remote = "vmgw:rclone-tree/backup";

    // copy creates the bucket and uploads everything.
    rclone.run(&["copy", s(&src), remote]);
    assert_eq!(rclone.lsjson(remote), local_listing(&src));
    // check compares sizes and MD5 hashes (the gateway's ETags) of all 300 files.
    assert_check_clean(&rclone, &src, remote, 300);

    // Change the source: delete 30 files, rewrite 10, add 5.
    let deleted: Vec<&String> = names.iter().step_by(10).collect();
    for name in &deleted {
        std::fs::remove_file(src.join(name)).unwrap();
    }
    let rewritten: Vec<&String> = names.iter().skip(1).step_by(30).collect();
    for (i, name) in rewritten.iter().enumerate() {
        std::fs::write(src.join(name), pattern(1000 + i * 333, 500 + i as u64)).unwrap();
    }
    for i in 0..5 {
        let path = src.join(format!("added/n{i}/file-{i}.bin"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, pattern(70_000 + i, 900 + i as u64)).unwrap();
    }
    rclone.run(&["sync", s(&src), remote]);

    let listing = rclone.lsjson(remote);
    assert_eq!(listing.len(), 300 - deleted.len() + 5);
    assert_eq!(listing, local_listing(&src));
    for name in &deleted {
        assert!(
            !listing.iter().any(|(p, _)| p == *name),
            "{name} was deleted locally but is still listed remotely"
        );
    }
    // And straight from the gateway: HEAD of each deleted key is a 404.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s3 = gw.sdk();
    for name in &deleted {
        let head = rt.block_on(
            s3.head_object()
                .bucket("rclone-tree")
                .key(format!("backup/{name}"))
                .send(),
        );
        let status = head
            .as_ref()
            .err()
            .and_then(|e| e.raw_response())
            .map(|r| r.status().as_u16());
        assert_eq!(status, Some(404), "{name} after sync deleted it: {head:?}");
    }
    assert_check_clean(&rclone, &src, remote, 275);

    // Download into a fresh directory: byte-identical to the source.
    let dst = work.path().join("dst");
    rclone.run(&["copy", remote, s(&dst)]);
    assert_same_tree(&src, &dst);
    // A rewritten file, read back directly.
    let out = output_within(
        &mut rclone.cmd(&["cat", &format!("{remote}/{}", rewritten[0])]),
        LIMIT,
    );
    assert!(out.status.success());
    assert!(
        out.stdout == pattern(1000, 500),
        "rclone cat of a rewritten file"
    );
}

// ------------------------------------------------------------------------- mount

/// A running `rclone mount`; unmounts and stops rclone when dropped.
struct Mount {
    child: Option<Child>,
    dir: PathBuf,
}

fn is_mounted(dir: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let dir = dir.to_string_lossy();
    mounts
        .lines()
        .any(|line| line.split_whitespace().nth(1) == Some(dir.as_ref()))
}

fn fusermount() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["fusermount3", "fusermount"] {
        for dir in std::env::split_paths(&path) {
            if dir.join(name).is_file() {
                return dir.join(name);
            }
        }
    }
    panic!("neither fusermount3 nor fusermount is installed; run scripts/install-test-deps")
}

impl Mount {
    fn start(rclone: &Rclone, remote: &str, dir: &Path) -> Self {
        assert!(
            Path::new("/dev/fuse").exists(),
            "/dev/fuse is missing: rclone mount cannot work"
        );
        let log = dir.with_extension("log");
        let mut cmd = rclone.cmd(&[
            "mount",
            remote,
            s(dir),
            "--vfs-cache-mode",
            "writes",
            "--log-file",
            s(&log),
            "-v",
        ]);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start rclone mount");
        let mut mount = Self {
            child: Some(child),
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !is_mounted(dir) {
            if let Some(status) = mount.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "rclone mount exited ({status}) before mounting; log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "rclone mount did not mount {} within 30 s; log:\n{}",
                dir.display(),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        mount
    }

    /// Unmounts with fusermount and waits for rclone to exit; returns its exit status.
    fn unmount(&mut self) -> std::process::ExitStatus {
        let out = output_within(
            Command::new(fusermount()).arg("-u").arg(&self.dir),
            Duration::from_secs(60),
        );
        assert!(
            out.status.success(),
            "fusermount -u {}: {}",
            self.dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut child = self.child.take().expect("rclone mount running");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("rclone mount did not exit within 60 s of the unmount");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if is_mounted(&self.dir) {
            let fm = fusermount();
            let ok = Command::new(&fm)
                .arg("-u")
                .arg(&self.dir)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                let _ = Command::new(&fm).arg("-uz").arg(&self.dir).status();
            }
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn mount_write_and_read_through_fuse() {
    let gw = Gateway::start();
    let rclone = Rclone::new(&gw);
    let work = tempfile::tempdir().expect("temp dir");
    let bucket = "rclone-mount";

    // Objects that exist before the mount.
    let pre = work.path().join("pre");
    let names = write_tree(&pre, 20, 21);
    rclone.run(&["copy", s(&pre), &format!("vmgw:{bucket}/pre")]);

    let dir = work.path().join("mnt");
    std::fs::create_dir(&dir).unwrap();
    let mut mount = Mount::start(&rclone, &format!("vmgw:{bucket}"), &dir);

    // Reads through the mount see the existing objects, byte for byte.
    let mut top: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, ["pre"]);
    assert_eq!(list_tree(&dir.join("pre")), list_tree(&pre));
    for name in &names {
        assert!(
            std::fs::read(dir.join("pre").join(name)).unwrap()
                == std::fs::read(pre.join(name)).unwrap(),
            "{name} read through the mount differs"
        );
    }

    // A new file written through the mount reads back the same.
    let data = pattern(3 << 20, 77);
    std::fs::create_dir_all(dir.join("new")).unwrap();
    let file = dir.join("new").join("written.bin");
    std::fs::write(&file, &data).unwrap();
    assert!(std::fs::read(&file).unwrap() == data, "read-back differs");

    // rclone uploads it after the file is closed (default write-back delay 5 s).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let listing = rclone.lsjson(&format!("vmgw:{bucket}/new"));
        if listing == [("written.bin".to_owned(), data.len() as u64)] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the file written through the mount did not reach the gateway in 60 s: {listing:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    let status = mount.unmount();
    assert!(status.success(), "rclone mount exited with {status}");
    assert!(!is_mounted(&dir));
    drop(mount);

    // The object, straight from the gateway.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let got = rt.block_on(async {
        let out = gw
            .sdk()
            .get_object()
            .bucket(bucket)
            .key("new/written.bin")
            .send()
            .await
            .expect("GetObject of the file written through the mount");
        let etag = out.e_tag().unwrap_or_default().to_owned();
        (etag, out.body.collect().await.unwrap().into_bytes())
    });
    assert_eq!(got.0, format!("\"{}\"", md5_hex(&data)));
    assert!(got.1.as_ref() == data.as_slice(), "object bytes differ");
    let (listing, _) = rclone.run(&["lsf", "-R", &format!("vmgw:{bucket}")]);
    assert!(listing.lines().any(|l| l == "new/written.bin"), "{listing}");
}
