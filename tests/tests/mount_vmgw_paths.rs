//! vmgw-mount on vmgw uses the server's own paths where vmgw announces them, proven by the
//! gateway's request counts:
//! - a rename is one RenameObject (no copy, no delete), so a concurrent lister sees the
//!   file under exactly one of its names at every moment;
//! - `ls -l` of 10,000 files is ten listings with metadata and not one HEAD;
//! - `>>` onto a 50 MiB file sends only the appended bytes (write-offset PUTs) and reads
//!   nothing back.
//!
//! Against moto (no announcement) the same operations take the plain-S3 paths and give the
//! same bytes.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;
use std::time::{Duration, Instant};

use vmgw_tests::{
    ACCESS_KEY, Gateway, MOTO_KEY, MOTO_SECRET, Mount, MountTarget, RemoteS3, SECRET_KEY, md5_hex,
    pattern, run_within, vmgw_bin,
};

const BUCKET: &str = "fast";
/// No single tool run may take longer than this.
const LIMIT: Duration = Duration::from_secs(180);

/// What the gateway counted for one S3 operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct OpCount {
    requests: u64,
    bytes_in: u64,
    bytes_out: u64,
}

fn read_counts(gw: &Gateway) -> BTreeMap<String, OpCount> {
    let out = Command::new(vmgw_bin())
        .args(["requests", "--json", "--data-dir"])
        .arg(&gw.data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    all.as_object()
        .unwrap()
        .iter()
        .map(|(op, c)| {
            let field = |name: &str| c[name].as_u64().unwrap_or(0);
            let count = OpCount {
                requests: field("requests"),
                bytes_in: field("bytes_in"),
                bytes_out: field("bytes_out"),
            };
            (op.clone(), count)
        })
        .collect()
}

/// The gateway's counts once they stopped moving (a request is counted once its response
/// has gone out, a moment after the client has it).
fn counts(gw: &Gateway) -> BTreeMap<String, OpCount> {
    let mut last = read_counts(gw);
    loop {
        std::thread::sleep(Duration::from_millis(150));
        let now = read_counts(gw);
        if now == last {
            return now;
        }
        last = now;
    }
}

/// `after - before` for one operation.
fn delta(
    before: &BTreeMap<String, OpCount>,
    after: &BTreeMap<String, OpCount>,
    op: &str,
) -> OpCount {
    let (b, a) = (
        before.get(op).copied().unwrap_or_default(),
        after.get(op).copied().unwrap_or_default(),
    );
    OpCount {
        requests: a.requests - b.requests,
        bytes_in: a.bytes_in - b.bytes_in,
        bytes_out: a.bytes_out - b.bytes_out,
    }
}

fn vmgw_target(gw: &Gateway) -> MountTarget {
    MountTarget {
        endpoint: gw.endpoint.clone(),
        access_key: ACCESS_KEY.into(),
        secret_key: SECRET_KEY.into(),
        source: BUCKET.into(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn sh(script: &str) -> String {
    run_within(Command::new("sh").arg("-c").arg(script), LIMIT)
}

#[test]
fn renames_are_one_atomic_request_on_vmgw() {
    let gw = Gateway::start();
    let s3 = gw.sdk();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(s3.create_bucket().bucket(BUCKET).send())
        .unwrap();
    let mount = Mount::start(&vmgw_target(&gw), &[]);
    let data = pattern(2_000_000, 3);
    std::fs::write(mount.path("a"), &data).unwrap();

    // A lister on the S3 API, racing 100 renames back and forth through the mount.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let lister = {
        let s3 = s3.clone();
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            let mut looks = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let listed = rt
                    .block_on(s3.list_objects_v2().bucket(BUCKET).send())
                    .unwrap();
                let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
                assert!(
                    keys == ["a"] || keys == ["b"],
                    "look {looks}: the file is listed as {keys:?}"
                );
                looks += 1;
            }
            looks
        })
    };
    // Not settled: the lister keeps its own count moving.
    let before = read_counts(&gw);
    for i in 0..100 {
        let (from, to) = if i % 2 == 0 { ("a", "b") } else { ("b", "a") };
        std::fs::rename(mount.path(from), mount.path(to)).unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let looks = lister.join().unwrap();
    assert!(looks > 10, "the lister looked only {looks} times");
    let after = counts(&gw);
    let delta = |op: &str| delta(&before, &after, op).requests;
    assert_eq!(delta("RenameObject"), 100, "{after:?}");
    assert_eq!(delta("CopyObject"), 0, "{after:?}");
    assert_eq!(delta("DeleteObject"), 0, "{after:?}");
    assert_eq!(std::fs::read(mount.path("a")).unwrap(), data);
}

/// What file `i` of the wide directory is: plain (no metadata), s3fs metadata, or an
/// s3fs symlink.
enum Wide {
    Plain { size: u64 },
    Owned { size: u64, mtime: i64 },
    Link { target: String },
}

fn wide(i: usize) -> Wide {
    if i % 100 == 7 {
        Wide::Link {
            target: format!("target-{i}"),
        }
    } else if i % 10 == 1 {
        Wide::Owned {
            size: (i % 100) as u64,
            mtime: 1_600_000_000 + i as i64,
        }
    } else {
        Wide::Plain {
            size: (i % 100) as u64,
        }
    }
}

/// `ls -l` of a 10,000-file directory, then a stat of every file: the listing carries
/// every object's metadata, so the gateway sees ten ListObjectsV2 pages (a few more if a
/// walk outlives the 1 s metadata TTL and re-lists) and not one HeadObject, and what is
/// shown is what was stored.
#[test]
fn ls_l_of_ten_thousand_files_makes_no_head_requests() {
    const COUNT: usize = 10_000;
    let gw = Gateway::start();
    let s3 = gw.sdk();
    let rt = runtime();
    rt.block_on(async {
        s3.create_bucket().bucket(BUCKET).send().await.unwrap();
        let mut puts = tokio::task::JoinSet::new();
        for i in 0..COUNT {
            if puts.len() >= 64 {
                puts.join_next().await.unwrap().unwrap();
            }
            let request = s3.put_object().bucket(BUCKET).key(format!("f{i:05}"));
            let request = match wide(i) {
                Wide::Plain { size } => request.body(vec![b'p'; size as usize].into()),
                Wide::Owned { size, mtime } => request
                    .metadata("mode", (0o100_600).to_string())
                    .metadata("uid", "1234")
                    .metadata("gid", "4321")
                    .metadata("mtime", mtime.to_string())
                    .body(vec![b'o'; size as usize].into()),
                Wide::Link { target } => request
                    .metadata("mode", (0o120_777).to_string())
                    .body(target.into_bytes().into()),
            };
            puts.spawn(async move { request.send().await.expect("put") });
        }
        while let Some(done) = puts.join_next().await {
            done.unwrap();
        }
    });
    let mount = Mount::start(&vmgw_target(&gw), &["uid=2000,gid=3000"]);
    let before = counts(&gw);

    let started = Instant::now();
    let listing = run_within(
        Command::new("ls")
            .args(["-l", "-n", "--time-style=+%s"])
            .arg(mount.dir())
            .env("LC_ALL", "C"),
        LIMIT,
    );
    let ls_time = started.elapsed();
    let lines: Vec<&str> = listing.lines().skip(1).collect();
    assert_eq!(lines.len(), COUNT, "ls -l lines");
    for (i, line) in lines.iter().enumerate() {
        // mode links uid gid size mtime name [-> target]
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f[6], format!("f{i:05}"), "{line}");
        match wide(i) {
            Wide::Plain { size } => {
                assert_eq!((f[0], f[2], f[3]), ("-rw-r--r--", "2000", "3000"), "{line}");
                assert_eq!(f[4], size.to_string(), "{line}");
            }
            Wide::Owned { size, mtime } => {
                assert_eq!((f[0], f[2], f[3]), ("-rw-------", "1234", "4321"), "{line}");
                assert_eq!((f[4], f[5]), (&*size.to_string(), &*mtime.to_string()));
            }
            Wide::Link { target } => {
                assert_eq!((f[0], f[7], f[8]), ("lrwxrwxrwx", "->", &*target), "{line}");
                assert_eq!(f[4], target.len().to_string(), "{line}");
            }
        }
    }

    let started = Instant::now();
    for i in 0..COUNT {
        let meta = std::fs::symlink_metadata(mount.path(&format!("f{i:05}"))).unwrap();
        match wide(i) {
            Wide::Plain { size } => {
                assert!(meta.file_type().is_file());
                assert_eq!(
                    (meta.len(), meta.permissions().mode() & 0o777),
                    (size, 0o644)
                );
                assert_eq!((meta.uid(), meta.gid()), (2000, 3000));
            }
            Wide::Owned { size, mtime } => {
                assert_eq!(
                    (meta.len(), meta.permissions().mode() & 0o777),
                    (size, 0o600)
                );
                assert_eq!((meta.uid(), meta.gid(), meta.mtime()), (1234, 4321, mtime));
            }
            Wide::Link { target } => {
                assert!(meta.file_type().is_symlink(), "f{i:05}");
                assert_eq!(meta.len(), target.len() as u64);
            }
        }
    }
    let stat_time = started.elapsed();
    let after = counts(&gw);
    let links = (0..COUNT)
        .filter(|i| matches!(wide(*i), Wide::Link { .. }))
        .count() as u64;
    let lists = delta(&before, &after, "ListObjectsV2").requests;
    eprintln!(
        "ls -l of {COUNT} files: {ls_time:?}; stat of each: {stat_time:?}; {lists} ListObjectsV2"
    );
    assert_eq!(
        delta(&before, &after, "HeadObject").requests,
        0,
        "{after:?}"
    );
    // Ten pages for the listing; a walk that outlives the TTL re-lists at most one page
    // per 1000 names it stats (two walks here).
    assert!(
        (10..=30).contains(&lists),
        "{lists} ListObjectsV2: {after:?}"
    );
    // The only other reads: ls -l shows each link's target.
    assert_eq!(
        delta(&before, &after, "GetObject").requests,
        links,
        "{after:?}"
    );
}

/// The bytes `>>` appended to `path` through a mount, in 100 appends of 1000 bytes and one
/// of 20 MiB; returns them and the two wall times.
fn append_through(mount: &Mount, name: &str) -> (Vec<u8>, Duration, Duration) {
    let scratch = tempfile::tempdir().unwrap();
    let mut appended = Vec::new();
    for i in 0..100u64 {
        let piece = pattern(1000, 100 + i);
        std::fs::write(scratch.path().join(format!("p{i:03}")), &piece).unwrap();
        appended.extend_from_slice(&piece);
    }
    let target = mount.path(name);
    let started = Instant::now();
    sh(&format!(
        "for f in {}/p*; do cat \"$f\" >> {}; done",
        scratch.path().display(),
        target.display()
    ));
    let small = started.elapsed();
    let big = pattern(20 << 20, 99);
    std::fs::write(scratch.path().join("big"), &big).unwrap();
    appended.extend_from_slice(&big);
    let started = Instant::now();
    sh(&format!(
        "cat {}/big >> {}",
        scratch.path().display(),
        target.display()
    ));
    (appended, small, started.elapsed())
}

async fn get_all(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

/// `>>` onto a 50 MiB file, 100 times 1000 bytes then 20 MiB at once: the gateway
/// receives the appended bytes and hardly more, sends nothing back, and the object is
/// exactly the old bytes followed by the new, its mode kept and its mtime refreshed.
#[test]
fn appends_are_write_offset_puts_of_only_the_new_bytes() {
    const BASE: usize = 50 << 20;
    let gw = Gateway::start();
    let s3 = gw.sdk();
    let rt = runtime();
    let mut expected = pattern(BASE, 5);
    rt.block_on(async {
        s3.create_bucket().bucket(BUCKET).send().await.unwrap();
        s3.put_object()
            .bucket(BUCKET)
            .key("app.log")
            .metadata("mode", (0o100_640).to_string())
            .metadata("mtime", "1600000000")
            .body(expected.clone().into())
            .send()
            .await
            .unwrap();
    });
    let mount = Mount::start(&vmgw_target(&gw), &[]);
    let before = counts(&gw);
    let started_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (appended, small, big) = append_through(&mount, "app.log");
    let after = counts(&gw);
    eprintln!("100 appends of 1000 bytes: {small:?}; one of 20 MiB: {big:?}");
    let put = delta(&before, &after, "PutObject");
    let get = delta(&before, &after, "GetObject");
    let sent = appended.len() as u64;
    eprintln!("PutObject {put:?}, GetObject {get:?}, appended {sent}");
    assert!(
        put.bytes_in >= sent && put.bytes_in < sent + (64 << 10),
        "PutObject received {} bytes for {sent} appended: {after:?}",
        put.bytes_in
    );
    // One append per `>>` and three 8 MiB-at-most pieces for the large one.
    assert_eq!(put.requests, 103, "{after:?}");
    assert_eq!(get.bytes_out, 0, "nothing was read back: {after:?}");
    assert_eq!(
        delta(&before, &after, "CompleteMultipartUpload").requests,
        0
    );

    expected.extend_from_slice(&appended);
    let stored = rt.block_on(get_all(&s3, BUCKET, "app.log"));
    assert_eq!(stored.len(), expected.len());
    assert_eq!(md5_hex(&stored), md5_hex(&expected));
    let meta = std::fs::metadata(mount.path("app.log")).unwrap();
    assert_eq!(meta.len(), expected.len() as u64);
    assert_eq!(meta.permissions().mode() & 0o777, 0o640, "mode kept");
    let head = rt
        .block_on(s3.head_object().bucket(BUCKET).key("app.log").send())
        .unwrap();
    let mtime: u64 = head.metadata().unwrap()["mtime"].parse().unwrap();
    assert!(
        mtime >= started_at,
        "mtime {mtime} not refreshed (start {started_at})"
    );
    assert_eq!(head.metadata().unwrap()["mode"], (0o100_640).to_string());
}

/// The same appends against moto, which announces nothing: the plain path (download,
/// whole upload) gives the same bytes.
#[test]
fn appends_against_plain_s3_rewrite_and_give_the_same_bytes() {
    let moto = RemoteS3::start();
    let s3 = moto.sdk();
    let rt = runtime();
    let mut expected = pattern(2 << 20, 6);
    rt.block_on(async {
        s3.create_bucket().bucket(BUCKET).send().await.unwrap();
        s3.put_object()
            .bucket(BUCKET)
            .key("app.log")
            .body(expected.clone().into())
            .send()
            .await
            .unwrap();
    });
    let target = MountTarget {
        endpoint: moto.endpoint(),
        access_key: MOTO_KEY.into(),
        secret_key: MOTO_SECRET.into(),
        source: BUCKET.into(),
    };
    let mount = Mount::start(&target, &[]);
    let (appended, small, big) = append_through(&mount, "app.log");
    eprintln!("moto: 100 appends of 1000 bytes: {small:?}; one of 20 MiB: {big:?}");
    expected.extend_from_slice(&appended);
    let stored = rt.block_on(get_all(&s3, BUCKET, "app.log"));
    assert_eq!(stored.len(), expected.len());
    assert_eq!(md5_hex(&stored), md5_hex(&expected));
}
