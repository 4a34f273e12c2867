//! s3cmd with a generated config file (path-style host, plain HTTP, the gateway's keys), with
//! SigV4 (`signature_v2 = False`) and with `--signature-v2`: mb, put (single and multipart),
//! ls, get, info, sync of a small tree both ways, del, rb.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use vmgw_tests::{
    Gateway, assert_same_tree, md5_hex, output_within, pattern, require_tool, write_tree,
};

/// No single s3cmd invocation may take longer than this.
const LIMIT: Duration = Duration::from_secs(120);

struct S3cmd<'a> {
    gw: &'a Gateway,
    config: PathBuf,
    sigv2: bool,
    _dir: tempfile::TempDir,
}

impl<'a> S3cmd<'a> {
    fn new(gw: &'a Gateway, sigv2: bool) -> Self {
        let _ = require_tool("s3cmd");
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("s3cfg");
        std::fs::write(
            &config,
            format!(
                "[default]\n\
                 access_key = {}\n\
                 secret_key = {}\n\
                 host_base = {addr}\n\
                 host_bucket = {addr}\n\
                 use_https = False\n\
                 signature_v2 = False\n\
                 bucket_location = us-east-1\n",
                vmgw_tests::ACCESS_KEY,
                vmgw_tests::SECRET_KEY,
                addr = gw.addr
            ),
        )
        .unwrap();
        Self {
            gw,
            config,
            sigv2,
            _dir: dir,
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(require_tool("s3cmd"));
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if name.starts_with("AWS_") || name.starts_with("S3CMD") {
                cmd.env_remove(name);
            }
        }
        cmd.arg("-c").arg(&self.config);
        if self.sigv2 {
            cmd.arg("--signature-v2");
        }
        cmd.args(args);
        cmd
    }

    /// Runs and asserts exit 0; returns stdout.
    fn run(&self, args: &[&str]) -> String {
        let mut cmd = self.cmd(args);
        let out = output_within(&mut cmd, LIMIT);
        assert!(
            out.status.success(),
            "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}\ngateway log (tail):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            vmgw_tests::log_tail(self.gw, 40)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// The last field of each non-empty `s3cmd ls` line: the object URL or `DIR` prefix URL.
fn ls_urls(out: &str) -> Vec<String> {
    let mut urls: Vec<String> = out
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .map(str::to_owned)
        .collect();
    urls.sort();
    urls
}

fn round_trip(sigv2: bool) {
    let gw = Gateway::start();
    let s3cmd = S3cmd::new(&gw, sigv2);
    let work = tempfile::tempdir().expect("temp dir");
    let bucket = if sigv2 { "s3cmd-sigv2" } else { "s3cmd-sigv4" };
    let b = format!("s3://{bucket}");

    let out = s3cmd.run(&["mb", &b]);
    assert!(out.contains(&format!("Bucket '{b}/' created")), "{out}");
    let out = s3cmd.run(&["ls"]);
    assert_eq!(ls_urls(&out), std::slice::from_ref(&b));

    // put: a small file and a 20 MiB one (s3cmd's default 15 MiB chunks: 2 parts).
    let small = pattern(54_321, 41);
    let big = pattern(20 << 20, 42);
    let small_path = work.path().join("small.bin");
    let big_path = work.path().join("big.bin");
    std::fs::write(&small_path, &small).unwrap();
    std::fs::write(&big_path, &big).unwrap();
    let out = s3cmd.run(&["put", s(&small_path), &format!("{b}/dir/small.bin")]);
    assert!(out.contains("upload:"), "{out}");
    let out = s3cmd.run(&["put", s(&big_path), &format!("{b}/dir/sub/big.bin")]);
    assert!(out.contains("upload:"), "{out}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let head = rt
        .block_on(
            gw.sdk()
                .head_object()
                .bucket(bucket)
                .key("dir/sub/big.bin")
                .send(),
        )
        .expect("HeadObject of the s3cmd upload");
    assert_eq!(head.content_length(), Some(20 << 20));
    let etag = head.e_tag().unwrap_or_default();
    assert!(etag.ends_with("-2\""), "not a 2-part upload: ETag {etag}");

    // ls: one level, then recursive.
    let out = s3cmd.run(&["ls", &format!("{b}/")]);
    assert_eq!(ls_urls(&out), [format!("{b}/dir/")]);
    assert!(out.contains("DIR"), "{out}");
    let out = s3cmd.run(&["ls", &format!("{b}/dir/")]);
    assert_eq!(
        ls_urls(&out),
        [format!("{b}/dir/small.bin"), format!("{b}/dir/sub/")]
    );
    assert!(
        out.lines()
            .any(|l| l.contains("54321") && l.ends_with("/dir/small.bin")),
        "size of small.bin in: {out}"
    );
    let out = s3cmd.run(&["ls", "--recursive", &b]);
    assert_eq!(
        ls_urls(&out),
        [format!("{b}/dir/small.bin"), format!("{b}/dir/sub/big.bin")]
    );

    // info shows the MD5 of the single-part object.
    let out = s3cmd.run(&["info", &format!("{b}/dir/small.bin")]);
    assert!(out.contains(&md5_hex(&small)), "{out}");

    // get: both back, byte for byte.
    let small_back = work.path().join("small.back");
    let big_back = work.path().join("big.back");
    s3cmd.run(&["get", &format!("{b}/dir/small.bin"), s(&small_back)]);
    s3cmd.run(&["get", &format!("{b}/dir/sub/big.bin"), s(&big_back)]);
    assert!(std::fs::read(&small_back).unwrap() == small, "small.bin");
    assert!(std::fs::read(&big_back).unwrap() == big, "big.bin");

    // sync a small tree up and into a fresh directory.
    let tree = work.path().join("tree");
    write_tree(&tree, 40, if sigv2 { 43 } else { 44 });
    s3cmd.run(&["sync", &format!("{}/", s(&tree)), &format!("{b}/tree/")]);
    let dst = work.path().join("tree-back");
    std::fs::create_dir(&dst).unwrap();
    s3cmd.run(&["sync", &format!("{b}/tree/"), &format!("{}/", s(&dst))]);
    assert_same_tree(&tree, &dst);

    // del: gone from listings, and a get fails.
    let out = s3cmd.run(&["del", &format!("{b}/dir/small.bin")]);
    assert!(
        out.contains(&format!("delete: '{b}/dir/small.bin'")),
        "{out}"
    );
    let out = s3cmd.run(&["ls", "--recursive", &format!("{b}/dir/")]);
    assert_eq!(ls_urls(&out), [format!("{b}/dir/sub/big.bin")]);
    let gone = output_within(
        &mut s3cmd.cmd(&[
            "get",
            &format!("{b}/dir/small.bin"),
            s(&work.path().join("gone")),
        ]),
        LIMIT,
    );
    assert!(!gone.status.success(), "get of a deleted object succeeded");
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("does not exist"),
        "{}",
        String::from_utf8_lossy(&gone.stderr)
    );

    // Empty the bucket and remove it.
    s3cmd.run(&["del", "--recursive", "--force", &format!("{b}/")]);
    let out = s3cmd.run(&["ls", "--recursive", &b]);
    assert!(out.trim().is_empty(), "objects left: {out}");
    let out = s3cmd.run(&["rb", &b]);
    assert!(out.contains(&format!("Bucket '{b}/' removed")), "{out}");
    let out = s3cmd.run(&["ls"]);
    assert!(out.trim().is_empty(), "buckets left: {out}");
}

#[test]
fn sigv4_put_get_ls_del() {
    round_trip(false);
}

#[test]
fn sigv2_put_get_ls_del() {
    round_trip(true);
}
