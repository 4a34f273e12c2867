//! restic with an S3 repository on the gateway (`s3:http://ADDR/bucket/repo`): init, a backup,
//! an incremental backup, `check --read-data`, restores compared byte for byte with the
//! source, and `forget --prune` followed by another full check.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use vmgw_tests::{Gateway, assert_same_tree, output_within, pattern, require_tool, write_tree};

/// No single restic invocation may take longer than this.
const LIMIT: Duration = Duration::from_secs(180);
const PASSWORD: &str = "vmgw-restic-test-password";

struct Restic<'a> {
    gw: &'a Gateway,
    repo: String,
    cache: tempfile::TempDir,
}

impl<'a> Restic<'a> {
    fn new(gw: &'a Gateway, bucket: &str) -> Self {
        let _ = require_tool("restic");
        Self {
            gw,
            repo: format!("s3:{}/{bucket}/repo", gw.endpoint),
            cache: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(require_tool("restic"));
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if name.starts_with("AWS_") || name.starts_with("RESTIC_") {
                cmd.env_remove(name);
            }
        }
        cmd.env("AWS_ACCESS_KEY_ID", vmgw_tests::ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", vmgw_tests::SECRET_KEY)
            .env("RESTIC_REPOSITORY", &self.repo)
            .env("RESTIC_PASSWORD", PASSWORD)
            .env("RESTIC_CACHE_DIR", self.cache.path())
            .args(args);
        cmd
    }

    /// Runs and asserts exit 0; returns stdout + stderr.
    fn run(&self, args: &[&str]) -> String {
        self.run_in(None, args)
    }

    fn run_in(&self, dir: Option<&Path>, args: &[&str]) -> String {
        let mut cmd = self.cmd(args);
        if let Some(dir) = dir {
            cmd.current_dir(dir);
        }
        let out = output_within(&mut cmd, LIMIT);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "{cmd:?} failed ({}):\n{text}\ngateway log (tail):\n{}",
            out.status,
            vmgw_tests::log_tail(self.gw, 40)
        );
        text
    }

    /// Snapshot ids, oldest first.
    fn snapshots(&self) -> Vec<String> {
        let out = output_within(&mut self.cmd(&["snapshots", "--json"]), LIMIT);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("snapshots JSON");
        v.as_array()
            .expect("array")
            .iter()
            .map(|snap| snap["id"].as_str().expect("id").to_owned())
            .collect()
    }

    fn check_read_data(&self) {
        let out = self.run(&["check", "--read-data"]);
        assert!(out.contains("no errors were found"), "restic check: {out}");
    }

    fn restore(&self, snapshot: &str, target: &Path) {
        let out = self.run(&["restore", snapshot, "--target", s(target)]);
        assert!(out.contains("restoring"), "{out}");
    }
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
fn backup_check_restore_forget_prune() {
    let gw = Gateway::start();
    let restic = Restic::new(&gw, "restic-backups");
    let work = tempfile::tempdir().expect("temp dir");

    let out = restic.run(&["init"]);
    assert!(out.contains("created restic repository"), "{out}");

    // First backup: a generated tree plus one 20 MiB file (several packs).
    let src = work.path().join("src");
    let names = write_tree(&src, 400, 31);
    std::fs::write(src.join("big.img"), pattern(20 << 20, 32)).unwrap();
    let original = work.path().join("original");
    write_tree(&original, 400, 31);
    std::fs::write(original.join("big.img"), pattern(20 << 20, 32)).unwrap();
    restic.run_in(Some(&src), &["backup", "."]);
    assert_eq!(restic.snapshots().len(), 1);

    // Incremental: rewrite some files, delete some, add some.
    for name in names.iter().step_by(17) {
        std::fs::write(src.join(name), pattern(12_345, 33)).unwrap();
    }
    for name in names.iter().skip(5).step_by(40) {
        std::fs::remove_file(src.join(name)).unwrap();
    }
    for i in 0..10 {
        let path = src.join(format!("new/sub{}/n{i}.dat", i % 3));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, pattern(40_000 + i * 7, 34 + i as u64)).unwrap();
    }
    let out = restic.run_in(Some(&src), &["backup", "."]);
    // The unchanged files, including the big one, come from the parent snapshot.
    assert!(out.contains("using parent snapshot"), "{out}");
    let snapshots = restic.snapshots();
    assert_eq!(snapshots.len(), 2);

    restic.check_read_data();

    // The latest snapshot restores to the current source; the first to the original.
    let latest = work.path().join("restore-latest");
    restic.restore("latest", &latest);
    assert_same_tree(&src, &latest);
    let first = work.path().join("restore-first");
    restic.restore(&snapshots[0], &first);
    assert_same_tree(&original, &first);

    // forget the first snapshot and prune what only it referenced.
    let out = restic.run(&["forget", "--keep-last", "1", "--prune"]);
    assert!(out.contains("remove 1 snapshots"), "{out}");
    assert_eq!(restic.snapshots(), [snapshots[1].clone()]);
    restic.check_read_data();
    let again = work.path().join("restore-after-prune");
    restic.restore("latest", &again);
    assert_same_tree(&src, &again);
}
