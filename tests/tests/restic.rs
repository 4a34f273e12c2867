//! restic with an S3 repository on the gateway (`s3:http://ADDR/bucket/repo`): init, a backup,
//! an incremental backup, `check --read-data`, restores compared byte for byte with the
//! source, and `forget --prune` followed by another full check; and a repository on a bucket
//! with versioning that comes back whole after a client deleted every one of its files.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use aws_sdk_s3::types::{Delete, ObjectIdentifier};
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

/// Every key under `prefix`, by ListObjectsV2.
async fn keys_under(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .expect("ListObjectsV2");
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return keys;
        }
    }
}

/// Deletes `objects` with DeleteObjects, 1000 a request; asserts none failed.
async fn delete_all(s3: &aws_sdk_s3::Client, bucket: &str, objects: Vec<ObjectIdentifier>) {
    for chunk in objects.chunks(1000) {
        let out = s3
            .delete_objects()
            .bucket(bucket)
            .delete(
                Delete::builder()
                    .set_objects(Some(chunk.to_vec()))
                    .build()
                    .expect("delete"),
            )
            .send()
            .await
            .expect("DeleteObjects");
        assert!(out.errors().is_empty(), "DeleteObjects: {:?}", out.errors());
        assert_eq!(out.deleted().len(), chunk.len());
    }
}

/// The newest delete marker of every key under `prefix`, by ListObjectVersions.
async fn latest_delete_markers(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Vec<ObjectIdentifier> {
    let (mut markers, mut key_marker, mut version_marker) = (Vec::new(), None, None);
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .set_key_marker(key_marker)
            .set_version_id_marker(version_marker)
            .send()
            .await
            .expect("ListObjectVersions");
        for marker in page.delete_markers() {
            if marker.is_latest() == Some(true) {
                markers.push(
                    ObjectIdentifier::builder()
                        .key(marker.key().expect("key"))
                        .version_id(marker.version_id().expect("version id"))
                        .build()
                        .expect("identifier"),
                );
            }
        }
        if page.is_truncated() != Some(true) {
            return markers;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
    }
}

/// Ransomware's simplest move — delete every file of the repository with the client's own
/// keys — on a bucket with versioning: restic then finds no repository, and removing the
/// delete markers brings back every file, so the repository checks clean and restores.
#[test]
fn a_versioned_bucket_brings_back_a_repository_whose_files_were_all_deleted() {
    const BUCKET: &str = "restic-versioned";
    let gw = Gateway::start();
    let s3 = gw.sdk();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(vmgw_tests::create_versioned_bucket(&s3, BUCKET));
    let restic = Restic::new(&gw, BUCKET);
    let work = tempfile::tempdir().expect("temp dir");
    let out = restic.run(&["init"]);
    assert!(out.contains("created restic repository"), "{out}");
    let src = work.path().join("src");
    write_tree(&src, 200, 41);
    std::fs::write(src.join("disk.img"), pattern(8 << 20, 42)).unwrap();
    restic.run_in(Some(&src), &["backup", "."]);
    let snapshots = restic.snapshots();
    assert_eq!(snapshots.len(), 1);
    restic.check_read_data();

    let files = rt.block_on(keys_under(&s3, BUCKET, "repo/"));
    // config, keys, index, snapshot and data packs at least.
    assert!(files.len() >= 5, "repository files: {files:?}");
    let doomed = files
        .iter()
        .map(|key| {
            ObjectIdentifier::builder()
                .key(key)
                .build()
                .expect("identifier")
        })
        .collect();
    rt.block_on(delete_all(&s3, BUCKET, doomed));
    assert!(rt.block_on(keys_under(&s3, BUCKET, "repo/")).is_empty());
    let out = output_within(&mut restic.cmd(&["snapshots"]), LIMIT);
    assert!(
        !out.status.success(),
        "restic still sees a repository: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Removing the delete marker of each deleted file makes its last version current again.
    // (restic's own lock files, which it deletes after each command, have markers too: they
    // stay deleted.)
    let markers: Vec<ObjectIdentifier> = rt
        .block_on(latest_delete_markers(&s3, BUCKET, "repo/"))
        .into_iter()
        .filter(|marker| files.iter().any(|file| file == marker.key()))
        .collect();
    assert_eq!(markers.len(), files.len());
    rt.block_on(delete_all(&s3, BUCKET, markers));
    let mut back = rt.block_on(keys_under(&s3, BUCKET, "repo/"));
    back.sort();
    let mut expected = files.clone();
    expected.sort();
    assert_eq!(back, expected);
    assert_eq!(restic.snapshots(), snapshots);
    restic.check_read_data();
    let restored = work.path().join("restored");
    restic.restore("latest", &restored);
    assert_same_tree(&src, &restored);
}
