//! aws-cli v2 (Debian's, `/usr/bin/aws`) and v1 (PyPI's, `python3 -m awscli`) with default
//! settings — only the endpoint and the credentials are given — against the real gateway:
//! high-level `s3` commands (mb, cp, ls, sync, rm, rb, presign) and `s3api` calls, asserting
//! the bytes, names and counts that come back.
//!
//! Each test starts its own gateway. Both CLI versions run every scenario.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use vmgw_tests::{
    Gateway, assert_same_tree, md5_hex, output_within, pattern, require_tool, run_within,
    write_tree,
};

/// Where the installer puts aws-cli v2 (Debian's `awscli`).
const AWS_V2: &str = "/usr/bin/aws";
/// No single CLI invocation may take longer than this.
const LIMIT: Duration = Duration::from_secs(120);
/// A `sync` of the 500-file tree takes a few seconds; a minute means requests stalled (e.g.
/// on botocore's 60 s read timeout after a connection got stuck).
const SYNC_LIMIT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// One aws-cli installation pointed at one gateway, isolated from any profile or config file.
struct Aws<'a> {
    version: Version,
    gw: &'a Gateway,
    /// Holds the (nonexistent) config and credentials file paths.
    home: tempfile::TempDir,
}

impl<'a> Aws<'a> {
    fn new(gw: &'a Gateway, version: Version) -> Self {
        let aws = Self {
            version,
            gw,
            home: tempfile::tempdir().expect("temp dir"),
        };
        let out = run_within(aws.base().arg("--version"), LIMIT);
        let want = match version {
            Version::V1 => "aws-cli/1.",
            Version::V2 => "aws-cli/2.",
        };
        assert!(
            out.starts_with(want),
            "{version:?}: `aws --version` says {out:?}; run scripts/install-test-deps"
        );
        aws
    }

    /// The CLI with its environment but without endpoint flags.
    fn base(&self) -> Command {
        let mut cmd = match self.version {
            Version::V2 => {
                assert!(
                    Path::new(AWS_V2).is_file(),
                    "aws-cli v2 is not installed at {AWS_V2}; run scripts/install-test-deps"
                );
                Command::new(AWS_V2)
            }
            Version::V1 => {
                let mut cmd = Command::new(require_tool("python3"));
                cmd.args(["-m", "awscli"]);
                cmd
            }
        };
        for var in [
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
        ] {
            cmd.env_remove(var);
        }
        cmd.envs(self.gw.client_env())
            .env("AWS_CONFIG_FILE", self.home.path().join("no-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.home.path().join("no-credentials"),
            )
            // Output only: v2 would otherwise pipe output through `less` on a terminal.
            .env("AWS_PAGER", "");
        cmd
    }

    /// `aws --endpoint-url <gateway> ARGS...` (aws-cli 2.9 ignores AWS_ENDPOINT_URL).
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.base();
        cmd.arg("--endpoint-url").arg(&self.gw.endpoint).args(args);
        cmd
    }

    /// Runs and asserts success; returns stdout.
    fn run(&self, args: &[&str]) -> String {
        self.run_limited(args, LIMIT)
    }

    fn run_limited(&self, args: &[&str], limit: Duration) -> String {
        let mut cmd = self.cmd(args);
        let out = output_within(&mut cmd, limit);
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

    /// Runs an `s3api` call and parses its JSON output.
    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        if out.trim().is_empty() {
            return Value::Null;
        }
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: bad JSON ({e}): {out}"))
    }

    fn bucket(&self, stem: &str) -> String {
        let v = match self.version {
            Version::V1 => "v1",
            Version::V2 => "v2",
        };
        format!("{stem}-{v}")
    }
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// The lines of `aws s3 ls` output as (kind, name): ("PRE", "dir/") or ("OBJ", "key").
fn ls_entries(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields[0] == "PRE" {
                ("PRE".to_owned(), fields[1].to_owned())
            } else {
                assert!(fields.len() >= 4, "unexpected ls line {line:?}");
                ("OBJ".to_owned(), fields[3..].join(" "))
            }
        })
        .collect()
}

fn entries(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// Lines of a transfer command's output that start with `verb:` (progress lines are
/// carriage-return separated and never start with a verb).
fn transfers(out: &str, verb: &str) -> usize {
    out.split(['\n', '\r'])
        .filter(|l| l.trim_start().starts_with(&format!("{verb}:")))
        .count()
}

fn str_field<'v>(v: &'v Value, field: &str) -> &'v str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("no string {field:?} in {v}"))
}

fn keys_of(list: &Value, field: &str, name: &str) -> Vec<String> {
    list[field]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| str_field(item, name).to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// All keys in a bucket, through `s3api list-objects-v2` (the CLI follows the pages).
fn all_keys(aws: &Aws, bucket: &str, prefix: &str) -> Vec<String> {
    let v = aws.json(&[
        "s3api",
        "list-objects-v2",
        "--bucket",
        bucket,
        "--prefix",
        prefix,
    ]);
    keys_of(&v, "Contents", "Key")
}

/// GET `url` with curl: (HTTP status, body).
fn curl(url: &str) -> (u16, Vec<u8>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let body = dir.path().join("body");
    let out = run_within(
        Command::new(require_tool("curl"))
            .args(["-sS", "-o"])
            .arg(&body)
            .args(["-w", "%{http_code}", "--"])
            .arg(url),
        LIMIT,
    );
    let status = out.trim().parse().expect("curl status code");
    (status, std::fs::read(&body).unwrap_or_default())
}

// ------------------------------------------------------------------------- basic operations

fn basic_operations(version: Version) {
    let gw = Gateway::start();
    let aws = Aws::new(&gw, version);
    let work = tempfile::tempdir().expect("temp dir");
    let bucket = aws.bucket("basic");
    let b = format!("s3://{bucket}");

    // mb, and the bucket shows in the bucket list.
    let out = aws.run(&["s3", "mb", &b]);
    assert_eq!(out.trim(), format!("make_bucket: {bucket}"));
    let out = aws.run(&["s3", "ls"]);
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().last() == Some(&bucket)),
        "bucket list lacks {bucket}: {out}"
    );

    // cp of a small file up, down, and to stdout.
    let small = pattern(10_000, 1);
    let small_path = work.path().join("hello.bin");
    std::fs::write(&small_path, &small).unwrap();
    let out = aws.run(&["s3", "cp", s(&small_path), &format!("{b}/docs/hello.bin")]);
    assert_eq!(transfers(&out, "upload"), 1, "{out}");
    let back = work.path().join("hello.back");
    aws.run(&["s3", "cp", &format!("{b}/docs/hello.bin"), s(&back)]);
    assert!(
        std::fs::read(&back).unwrap() == small,
        "downloaded bytes differ"
    );
    let raw = output_within(
        &mut aws.cmd(&["s3", "cp", &format!("{b}/docs/hello.bin"), "-"]),
        LIMIT,
    );
    assert!(raw.status.success());
    assert!(raw.stdout == small, "`cp s3://… -` wrote other bytes");

    // ls with prefixes.
    let small_tree = work.path().join("small-tree");
    for key in [
        "docs/a.txt",
        "docs/sub/b.txt",
        "logs/2024/x.log",
        "root.txt",
    ] {
        let path = small_tree.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, key.as_bytes()).unwrap();
    }
    let out = aws.run(&["s3", "cp", "--recursive", s(&small_tree), &format!("{b}/")]);
    assert_eq!(transfers(&out, "upload"), 4, "{out}");
    let top = ls_entries(&aws.run(&["s3", "ls", &format!("{b}/")]));
    assert_eq!(
        top,
        entries(&[("PRE", "docs/"), ("PRE", "logs/"), ("OBJ", "root.txt")])
    );
    let docs = ls_entries(&aws.run(&["s3", "ls", &format!("{b}/docs/")]));
    assert_eq!(
        docs,
        entries(&[("PRE", "sub/"), ("OBJ", "a.txt"), ("OBJ", "hello.bin")])
    );
    let partial = ls_entries(&aws.run(&["s3", "ls", &format!("{b}/do")]));
    assert_eq!(partial, entries(&[("PRE", "docs/")]));
    let recursive = ls_entries(&aws.run(&["s3", "ls", "--recursive", &format!("{b}/logs/")]));
    assert_eq!(recursive, entries(&[("OBJ", "logs/2024/x.log")]));
    let everything = ls_entries(&aws.run(&["s3", "ls", "--recursive", &b]));
    assert_eq!(
        everything,
        entries(&[
            ("OBJ", "docs/a.txt"),
            ("OBJ", "docs/hello.bin"),
            ("OBJ", "docs/sub/b.txt"),
            ("OBJ", "logs/2024/x.log"),
            ("OBJ", "root.txt"),
        ])
    );

    // User metadata and content type, through head-object.
    let meta_data = pattern(5000, 2);
    let meta_path = work.path().join("meta.bin");
    std::fs::write(&meta_path, &meta_data).unwrap();
    aws.run(&[
        "s3",
        "cp",
        s(&meta_path),
        &format!("{b}/meta/obj"),
        "--metadata",
        "color=blue,shape=round",
        "--content-type",
        "application/x-vmgw-test",
    ]);
    let head = aws.json(&[
        "s3api",
        "head-object",
        "--bucket",
        &bucket,
        "--key",
        "meta/obj",
    ]);
    assert_eq!(str_field(&head, "ContentType"), "application/x-vmgw-test");
    assert_eq!(head["ContentLength"].as_u64(), Some(5000), "{head}");
    assert_eq!(
        str_field(&head, "ETag"),
        format!("\"{}\"", md5_hex(&meta_data))
    );
    assert_eq!(
        head["Metadata"],
        serde_json::json!({"color": "blue", "shape": "round"}),
        "{head}"
    );

    // Ranged GETs.
    for (range, want, content_range) in [
        (
            "bytes=1000-1999",
            &meta_data[1000..2000],
            "bytes 1000-1999/5000",
        ),
        ("bytes=-100", &meta_data[4900..], "bytes 4900-4999/5000"),
    ] {
        let out = work.path().join("range.out");
        let v = aws.json(&[
            "s3api",
            "get-object",
            "--bucket",
            &bucket,
            "--key",
            "meta/obj",
            "--range",
            range,
            s(&out),
        ]);
        let got = std::fs::read(&out).unwrap();
        assert!(
            got == want,
            "{range}: got {} bytes, want {}",
            got.len(),
            want.len()
        );
        assert_eq!(str_field(&v, "ContentRange"), content_range, "{range}: {v}");
        assert_eq!(v["ContentLength"].as_u64(), Some(want.len() as u64), "{v}");
    }

    // copy-object: metadata copied by default, replaced with REPLACE.
    let copied = aws.json(&[
        "s3api",
        "copy-object",
        "--bucket",
        &bucket,
        "--key",
        "meta/copy",
        "--copy-source",
        &format!("{bucket}/meta/obj"),
    ]);
    assert_eq!(
        str_field(&copied["CopyObjectResult"], "ETag"),
        format!("\"{}\"", md5_hex(&meta_data)),
        "{copied}"
    );
    let head = aws.json(&[
        "s3api",
        "head-object",
        "--bucket",
        &bucket,
        "--key",
        "meta/copy",
    ]);
    assert_eq!(str_field(&head, "ContentType"), "application/x-vmgw-test");
    assert_eq!(
        head["Metadata"],
        serde_json::json!({"color": "blue", "shape": "round"})
    );
    let copy_path = work.path().join("copy.out");
    aws.run(&["s3", "cp", &format!("{b}/meta/copy"), s(&copy_path)]);
    assert!(
        std::fs::read(&copy_path).unwrap() == meta_data,
        "copy bytes"
    );
    aws.json(&[
        "s3api",
        "copy-object",
        "--bucket",
        &bucket,
        "--key",
        "meta/replaced",
        "--copy-source",
        &format!("{bucket}/meta/obj"),
        "--metadata-directive",
        "REPLACE",
        "--metadata",
        "color=red",
        "--content-type",
        "text/plain",
    ]);
    let head = aws.json(&[
        "s3api",
        "head-object",
        "--bucket",
        &bucket,
        "--key",
        "meta/replaced",
    ]);
    assert_eq!(str_field(&head, "ContentType"), "text/plain");
    assert_eq!(head["Metadata"], serde_json::json!({"color": "red"}));
    assert_eq!(head["ContentLength"].as_u64(), Some(5000));

    // list-objects-v2 with a delimiter, in pages.
    let mut want_keys = Vec::new();
    let mut want_prefixes = Vec::new();
    for i in 0..5 {
        want_keys.push(format!("list/k{i}"));
        want_prefixes.push(format!("list/d{i}/"));
    }
    let list_tree = work.path().join("list-tree");
    for i in 0..5 {
        for key in [format!("k{i}"), format!("d{i}/x0"), format!("d{i}/x1")] {
            let path = list_tree.join(key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, b"x").unwrap();
        }
    }
    aws.run(&[
        "s3",
        "cp",
        "--recursive",
        s(&list_tree),
        &format!("{b}/list/"),
    ]);
    // One through s3api put-object too.
    aws.json(&[
        "s3api",
        "put-object",
        "--bucket",
        &bucket,
        "--key",
        "list/k4",
        "--body",
        s(&meta_path),
    ]);
    // The CLI follows every page (2 entries a page) and merges them.
    let v = aws.json(&[
        "s3api",
        "list-objects-v2",
        "--bucket",
        &bucket,
        "--prefix",
        "list/",
        "--delimiter",
        "/",
        "--page-size",
        "2",
    ]);
    assert_eq!(keys_of(&v, "Contents", "Key"), want_keys, "{v}");
    assert_eq!(
        keys_of(&v, "CommonPrefixes", "Prefix"),
        want_prefixes,
        "{v}"
    );
    // And by hand, three items at a time with --starting-token.
    let mut got_keys = Vec::new();
    let mut got_prefixes = BTreeSet::new();
    let mut token: Option<String> = None;
    let mut calls = 0;
    loop {
        let mut args = vec![
            "s3api",
            "list-objects-v2",
            "--bucket",
            &bucket,
            "--prefix",
            "list/",
            "--delimiter",
            "/",
            "--page-size",
            "2",
            "--max-items",
            "3",
        ];
        if let Some(t) = &token {
            args.extend(["--starting-token", t.as_str()]);
        }
        let v = aws.json(&args);
        calls += 1;
        assert!(calls <= 10, "pagination does not end: {v}");
        got_keys.extend(keys_of(&v, "Contents", "Key"));
        got_prefixes.extend(keys_of(&v, "CommonPrefixes", "Prefix"));
        match v["NextToken"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    assert!(calls >= 2, "--max-items 3 returned everything in one call");
    assert_eq!(got_keys, want_keys);
    assert_eq!(
        got_prefixes.into_iter().collect::<Vec<_>>(),
        want_prefixes,
        "CommonPrefixes over pages"
    );

    // delete-objects.
    let v = aws.json(&[
        "s3api",
        "delete-objects",
        "--bucket",
        &bucket,
        "--delete",
        r#"{"Objects":[{"Key":"list/k0"},{"Key":"list/d0/x0"},{"Key":"list/never-existed"}]}"#,
    ]);
    let mut deleted = keys_of(&v, "Deleted", "Key");
    deleted.sort();
    assert_eq!(
        deleted,
        ["list/d0/x0", "list/k0", "list/never-existed"],
        "{v}"
    );
    assert!(v.get("Errors").is_none(), "{v}");
    let left = all_keys(&aws, &bucket, "list/");
    assert_eq!(left.len(), 13, "{left:?}");
    assert!(!left.contains(&"list/k0".to_owned()) && !left.contains(&"list/d0/x0".to_owned()));

    // rm --recursive empties the bucket; rb removes it.
    let out = aws.run(&["s3", "rm", "--recursive", &b]);
    let total = 5 + 3 + 13; // docs+logs+root+hello, meta/*, list/*
    assert_eq!(transfers(&out, "delete"), total, "{out}");
    let v = aws.json(&[
        "s3api",
        "list-objects-v2",
        "--bucket",
        &bucket,
        "--no-paginate",
    ]);
    assert!(v.get("Contents").is_none(), "objects left: {v}");
    assert_eq!(v["KeyCount"].as_u64(), Some(0), "{v}");
    let ls = output_within(&mut aws.cmd(&["s3", "ls", "--recursive", &b]), LIMIT);
    assert!(
        ls.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&ls.stdout)
    );
    let out = aws.run(&["s3", "rb", &b]);
    assert_eq!(out.trim(), format!("remove_bucket: {bucket}"));
    let out = aws.run(&["s3", "ls"]);
    assert!(
        !out.lines()
            .any(|l| l.split_whitespace().last() == Some(&bucket)),
        "bucket still listed: {out}"
    );
}

#[test]
fn v2_basic_operations() {
    basic_operations(Version::V2);
}

#[test]
fn v1_basic_operations() {
    basic_operations(Version::V1);
}

// ------------------------------------------------------------------------- multipart cp

const BIG_CHUNK: usize = 8 << 20;
const BIG_CHUNKS: usize = 25; // 200 MiB

fn write_big(path: &Path, seed: u64) {
    let mut f = File::create(path).expect("create big file");
    for i in 0..BIG_CHUNKS {
        f.write_all(&pattern(BIG_CHUNK, seed * 1000 + i as u64))
            .expect("write big file");
    }
    f.sync_all().ok();
}

fn assert_same_file(a: &Path, b: &Path) {
    let (la, lb) = (
        std::fs::metadata(a).unwrap().len(),
        std::fs::metadata(b).unwrap().len(),
    );
    assert_eq!(la, lb, "sizes of {} and {}", a.display(), b.display());
    let (mut fa, mut fb) = (File::open(a).unwrap(), File::open(b).unwrap());
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    let mut offset = 0u64;
    loop {
        let n = fa.read(&mut ba).unwrap();
        if n == 0 {
            break;
        }
        fb.read_exact(&mut bb[..n]).unwrap();
        assert!(
            ba[..n] == bb[..n],
            "{} and {} differ in the MiB at offset {offset}",
            a.display(),
            b.display()
        );
        offset += n as u64;
    }
}

fn multipart_cp(version: Version) {
    let gw = Gateway::start();
    let aws = Aws::new(&gw, version);
    let work = tempfile::tempdir().expect("temp dir");
    let bucket = aws.bucket("big");
    aws.run(&["s3", "mb", &format!("s3://{bucket}")]);
    let src = work.path().join("big.src");
    write_big(&src, version as u64 + 7);
    let url = format!("s3://{bucket}/images/disk.img");

    let out = aws.run(&["s3", "cp", s(&src), &url]);
    assert_eq!(transfers(&out, "upload"), 1, "{out}");

    // aws-cli's default 8 MiB parts: the ETag is a multipart one, of 25 parts.
    let head = aws.json(&[
        "s3api",
        "head-object",
        "--bucket",
        &bucket,
        "--key",
        "images/disk.img",
    ]);
    assert_eq!(
        head["ContentLength"].as_u64(),
        Some((BIG_CHUNK * BIG_CHUNKS) as u64)
    );
    let etag = str_field(&head, "ETag");
    assert!(
        etag.ends_with(&format!("-{BIG_CHUNKS}\"")),
        "not a 25-part ETag: {etag}"
    );

    let back = work.path().join("big.back");
    let out = aws.run(&["s3", "cp", &url, s(&back)]);
    assert_eq!(transfers(&out, "download"), 1, "{out}");
    assert_same_file(&src, &back);

    // One ranged read across a part boundary.
    let out = work.path().join("range.out");
    let start = BIG_CHUNK - 10;
    aws.json(&[
        "s3api",
        "get-object",
        "--bucket",
        &bucket,
        "--key",
        "images/disk.img",
        "--range",
        &format!("bytes={start}-{}", start + 19),
        s(&out),
    ]);
    let mut want = pattern(BIG_CHUNK, (version as u64 + 7) * 1000)[start..].to_vec();
    want.extend_from_slice(&pattern(10, (version as u64 + 7) * 1000 + 1));
    assert!(std::fs::read(&out).unwrap() == want, "range across parts");
}

#[test]
fn v2_multipart_cp_200_mib() {
    multipart_cp(Version::V2);
}

#[test]
fn v1_multipart_cp_200_mib() {
    multipart_cp(Version::V1);
}

// ------------------------------------------------------------------------- sync

fn sync_tree(version: Version) {
    let gw = Gateway::start();
    let aws = Aws::new(&gw, version);
    let work = tempfile::tempdir().expect("temp dir");
    let bucket = aws.bucket("sync");
    let remote = format!("s3://{bucket}/tree/");
    aws.run(&["s3", "mb", &format!("s3://{bucket}")]);

    // The tree has empty files (every tenth). aws-cli sends them, like every upload, with
    // `Expect: 100-continue`; a server that answers such a request without an interim
    // `100 Continue` and keeps the connection open leaves botocore's pooled connection in a
    // state where the next upload on it waits for its 60 s read timeout (boto/botocore#3755).
    // The gateway must not let the default aws-cli stall on trees with empty files (answering
    // such requests with `Connection: close` avoids it).
    let src = work.path().join("src");
    let names = write_tree(&src, 500, version as u64);
    let out = aws.run_limited(&["s3", "sync", s(&src), &remote], SYNC_LIMIT);
    assert_eq!(transfers(&out, "upload"), 500, "{out}");
    let mut listed: Vec<String> = ls_entries(&aws.run(&["s3", "ls", "--recursive", &remote]))
        .into_iter()
        .map(|(_, k)| k)
        .collect();
    listed.sort();
    let mut want: Vec<String> = names.iter().map(|n| format!("tree/{n}")).collect();
    want.sort();
    assert_eq!(listed, want);

    let dst = work.path().join("dst");
    std::fs::create_dir(&dst).unwrap();
    let out = aws.run_limited(&["s3", "sync", &remote, s(&dst)], SYNC_LIMIT);
    assert_eq!(transfers(&out, "download"), 500, "{out}");
    assert_same_tree(&src, &dst);

    // Nothing changed: a second sync in either direction transfers nothing.
    let out = aws.run_limited(&["s3", "sync", s(&src), &remote], SYNC_LIMIT);
    assert_eq!(transfers(&out, "upload"), 0, "{out}");
    let out = aws.run_limited(&["s3", "sync", &remote, s(&dst)], SYNC_LIMIT);
    assert_eq!(transfers(&out, "download"), 0, "{out}");

    // Deletions propagate with --delete.
    for name in names.iter().take(10) {
        std::fs::remove_file(src.join(name)).unwrap();
    }
    let out = aws.run_limited(&["s3", "sync", "--delete", s(&src), &remote], SYNC_LIMIT);
    assert_eq!(transfers(&out, "delete"), 10, "{out}");
    let keys = all_keys(&aws, &bucket, "tree/");
    assert_eq!(keys.len(), 490);
    for name in names.iter().take(10) {
        assert!(
            !keys.contains(&format!("tree/{name}")),
            "{name} not deleted"
        );
    }
    let out = aws.run_limited(&["s3", "sync", "--delete", &remote, s(&dst)], SYNC_LIMIT);
    assert_eq!(transfers(&out, "delete"), 10, "{out}");
    assert_same_tree(&src, &dst);
}

#[test]
fn v2_sync_tree_of_500_files() {
    sync_tree(Version::V2);
}

#[test]
fn v1_sync_tree_of_500_files() {
    sync_tree(Version::V1);
}

// ------------------------------------------------------------------------- presign

fn error_code(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.split("<Code>")
        .nth(1)
        .and_then(|rest| rest.split("</Code>").next())
        .unwrap_or_else(|| panic!("no <Code> in error body {text:?}"))
        .to_owned()
}

fn presign(version: Version) {
    let gw = Gateway::start();
    let aws = Aws::new(&gw, version);
    let work = tempfile::tempdir().expect("temp dir");
    let bucket = aws.bucket("presign");
    aws.run(&["s3", "mb", &format!("s3://{bucket}")]);
    let data = pattern(123_457, 9);
    let path: PathBuf = work.path().join("obj");
    std::fs::write(&path, &data).unwrap();
    let url = format!("s3://{bucket}/shared/obj file+x.bin");
    aws.run(&["s3", "cp", s(&path), &url]);

    let signed = aws.run(&["s3", "presign", &url]);
    let signed = signed.trim();
    match version {
        // aws-cli v1 presigns with SigV2 in us-east-1; v2 with SigV4.
        Version::V1 => assert!(signed.contains("Signature="), "{signed}"),
        Version::V2 => assert!(signed.contains("X-Amz-Signature="), "{signed}"),
    }
    let (status, body) = curl(signed);
    assert_eq!(status, 200, "{signed}: {}", String::from_utf8_lossy(&body));
    assert!(body == data, "presigned GET returned other bytes");

    // A tampered signature is refused.
    let tampered = match version {
        // The v1 URL ends with Expires=…; change the start of the signature instead.
        Version::V1 => signed.replacen("Signature=", "Signature=AAAA", 1),
        // The v2 URL ends with the hex signature; change its last digit.
        Version::V2 => {
            let (head, last) = signed.split_at(signed.len() - 1);
            format!("{head}{}", if last == "0" { "1" } else { "0" })
        }
    };
    let (status, body) = curl(&tampered);
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    assert_eq!(error_code(&body), "SignatureDoesNotMatch");

    // An expired one is refused with AccessDenied.
    let short = aws.run(&["s3", "presign", &url, "--expires-in", "1"]);
    std::thread::sleep(Duration::from_secs(3));
    let (status, body) = curl(short.trim());
    assert_eq!(
        status,
        403,
        "expired presign: {}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(error_code(&body), "AccessDenied");
}

#[test]
fn v2_presign() {
    presign(Version::V2);
}

#[test]
fn v1_presign_sigv2() {
    presign(Version::V1);
}
