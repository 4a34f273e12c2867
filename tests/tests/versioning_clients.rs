//! Versioning with real clients and their default settings: aws-cli v2 (`/usr/bin/aws`) and
//! v1 (`python3 -m awscli`) turn versioning on, list versions with `s3api
//! list-object-versions` (all pages, and page by page with a small `--max-items`), read and
//! delete versions, and restore an older version by copying it onto its key; rclone lists old
//! versions with `--s3-versions` and restores a past state of a bucket with
//! `--s3-version-at`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use vmgw_tests::{Gateway, output_within, require_tool};

const LIMIT: Duration = Duration::from_secs(120);

/// Runs and asserts exit 0; returns stdout.
fn run(gw: &Gateway, mut cmd: Command) -> String {
    let out = output_within(&mut cmd, LIMIT);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}\ngateway log (tail):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        vmgw_tests::log_tail(gw, 40)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// aws-cli (v2 when `v2`, else v1) with nothing but the endpoint and keys configured.
fn aws(gw: &Gateway, v2: bool, home: &Path, args: &[&str]) -> Command {
    let mut cmd = if v2 {
        Command::new("/usr/bin/aws")
    } else {
        let mut cmd = Command::new(require_tool("python3"));
        cmd.args(["-m", "awscli"]);
        cmd
    };
    for var in ["AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"] {
        cmd.env_remove(var);
    }
    cmd.envs(gw.client_env())
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_PAGER", "")
        .arg("--endpoint-url")
        .arg(&gw.endpoint)
        .args(args);
    cmd
}

fn json(text: &str) -> Value {
    if text.trim().is_empty() {
        return Value::Null;
    }
    serde_json::from_str(text).unwrap_or_else(|e| panic!("bad JSON ({e}): {text}"))
}

/// (key, version id, IsLatest) of `field` (`Versions` or `DeleteMarkers`), in order.
fn entries(listing: &Value, field: &str) -> Vec<(String, String, bool)> {
    listing[field]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|v| {
                    (
                        v["Key"].as_str().unwrap().to_owned(),
                        v["VersionId"].as_str().unwrap().to_owned(),
                        v["IsLatest"].as_bool().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn versioning_with_aws_cli(v2: bool) {
    let gw = Gateway::start();
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bucket = if v2 { "cli-v2" } else { "cli-v1" };
    let cli = |args: &[&str]| run(&gw, aws(&gw, v2, home.path(), args));
    let api = |args: &[&str]| {
        let mut all = vec!["s3api"];
        all.extend_from_slice(args);
        json(&cli(&all))
    };
    cli(&["s3", "mb", &format!("s3://{bucket}")]);
    let never = api(&["get-bucket-versioning", "--bucket", bucket]);
    assert!(
        never.get("Status").is_none(),
        "a bucket never versioned has no status: {never}"
    );
    api(&[
        "put-bucket-versioning",
        "--bucket",
        bucket,
        "--versioning-configuration",
        "Status=Enabled",
    ]);
    assert_eq!(
        api(&["get-bucket-versioning", "--bucket", bucket])["Status"],
        "Enabled"
    );
    // Three versions of one key, then a delete marker.
    let mut ids = Vec::new();
    for (i, text) in ["first", "second", "third"].iter().enumerate() {
        let file = dir.path().join(format!("v{i}"));
        std::fs::write(&file, text).unwrap();
        let out = api(&[
            "put-object",
            "--bucket",
            bucket,
            "--key",
            "doc.txt",
            "--body",
            file.to_str().unwrap(),
        ]);
        ids.push(out["VersionId"].as_str().unwrap().to_owned());
    }
    cli(&[
        "s3",
        "cp",
        &format!("s3://{bucket}/doc.txt"),
        dir.path().join("latest").to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(dir.path().join("latest")).unwrap(), b"third");
    let deleted = api(&["delete-object", "--bucket", bucket, "--key", "doc.txt"]);
    assert_eq!(deleted["DeleteMarker"], true);
    let marker = deleted["VersionId"].as_str().unwrap().to_owned();
    let listing = api(&["list-object-versions", "--bucket", bucket]);
    let doc = |id: &String, latest| ("doc.txt".to_owned(), id.clone(), latest);
    assert_eq!(
        entries(&listing, "Versions"),
        [
            doc(&ids[2], false),
            doc(&ids[1], false),
            doc(&ids[0], false)
        ]
    );
    assert_eq!(entries(&listing, "DeleteMarkers"), [doc(&marker, true)]);
    // Page by page: the CLI follows NextKeyMarker/NextVersionIdMarker itself.
    let paged = api(&[
        "list-object-versions",
        "--bucket",
        bucket,
        "--page-size",
        "1",
    ]);
    assert_eq!(entries(&paged, "Versions"), entries(&listing, "Versions"));
    assert_eq!(
        entries(&paged, "DeleteMarkers"),
        entries(&listing, "DeleteMarkers")
    );
    // A version reads back by its id.
    let old = dir.path().join("old");
    let got = api(&[
        "get-object",
        "--bucket",
        bucket,
        "--key",
        "doc.txt",
        "--version-id",
        &ids[0],
        old.to_str().unwrap(),
    ]);
    assert_eq!(got["VersionId"], ids[0].as_str());
    assert_eq!(std::fs::read(&old).unwrap(), b"first");
    // Restoring the first version: a copy of it onto its own key.
    let restored = api(&[
        "copy-object",
        "--bucket",
        bucket,
        "--key",
        "doc.txt",
        "--copy-source",
        &format!("{bucket}/doc.txt?versionId={}", ids[0]),
    ]);
    assert_eq!(restored["CopySourceVersionId"], ids[0].as_str());
    let restored_id = restored["VersionId"].as_str().unwrap().to_owned();
    cli(&[
        "s3",
        "cp",
        &format!("s3://{bucket}/doc.txt"),
        dir.path().join("now").to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(dir.path().join("now")).unwrap(), b"first");
    let listing = api(&["list-object-versions", "--bucket", bucket]);
    assert_eq!(
        entries(&listing, "Versions"),
        [
            doc(&restored_id, true),
            doc(&ids[2], false),
            doc(&ids[1], false),
            doc(&ids[0], false)
        ]
    );
    assert_eq!(entries(&listing, "DeleteMarkers"), [doc(&marker, false)]);
    // Every version and marker deleted by id leaves an empty bucket `rb` can remove.
    for id in ids.iter().chain([&marker, &restored_id]) {
        let out = api(&[
            "delete-object",
            "--bucket",
            bucket,
            "--key",
            "doc.txt",
            "--version-id",
            id,
        ]);
        assert_eq!(out["VersionId"], id.as_str());
    }
    assert_eq!(
        api(&["list-object-versions", "--bucket", bucket]).get("Versions"),
        None
    );
    cli(&["s3", "rb", &format!("s3://{bucket}")]);
}

#[test]
fn aws_cli_v2_lists_versions_and_restores_an_older_one() {
    versioning_with_aws_cli(true);
}

#[test]
fn aws_cli_v1_lists_versions_and_restores_an_older_one() {
    versioning_with_aws_cli(false);
}

/// rclone with the gateway as remote `vmgw:`, from the environment only.
fn rclone(gw: &Gateway, home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(require_tool("rclone"));
    // rclone's AWS SDK fails on AWS_CA_BUNDLE even over plain HTTP.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("AWS_") || name.starts_with("RCLONE_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("RCLONE_CONFIG", home.join("no-rclone.conf"))
        .env("RCLONE_CACHE_DIR", home.join("cache"))
        .env("RCLONE_CONFIG_VMGW_TYPE", "s3")
        .env("RCLONE_CONFIG_VMGW_PROVIDER", "Other")
        .env("RCLONE_CONFIG_VMGW_ENV_AUTH", "false")
        .env("RCLONE_CONFIG_VMGW_ACCESS_KEY_ID", vmgw_tests::ACCESS_KEY)
        .env(
            "RCLONE_CONFIG_VMGW_SECRET_ACCESS_KEY",
            vmgw_tests::SECRET_KEY,
        )
        .env("RCLONE_CONFIG_VMGW_ENDPOINT", &gw.endpoint)
        .args(args);
    cmd
}

/// (path, size) of every object rclone lists, sorted.
fn lsjson(gw: &Gateway, home: &Path, extra: &[&str], remote: &str) -> Vec<(String, u64)> {
    let mut args = vec!["lsjson", "-R", "--files-only"];
    args.extend_from_slice(extra);
    args.push(remote);
    let out = json(&run(gw, rclone(gw, home, &args)));
    let mut items: Vec<(String, u64)> = out
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["Path"].as_str().unwrap().to_owned(),
                i["Size"].as_u64().unwrap(),
            )
        })
        .collect();
    items.sort();
    items
}

fn local(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = vmgw_tests::list_tree(root)
        .into_iter()
        .map(|rel| {
            let data = std::fs::read(root.join(&rel)).unwrap();
            (rel, data)
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rclone_lists_old_versions_and_restores_a_past_state() {
    let gw = Gateway::start();
    let s3 = gw.sdk();
    s3.create_bucket().bucket("rcv").send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket("rcv")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let h = home.path();
    let write = |rel: &str, text: &str| {
        let path = work.path().join("src").join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    let src = work.path().join("src");
    let src = src.to_str().unwrap();

    // The past state: a.txt "one", dir/c.txt "sea".
    write("a.txt", "one");
    write("dir/c.txt", "sea");
    run(&gw, rclone(&gw, h, &["sync", src, "vmgw:rcv"]));
    // rclone names times to the second: the past moment lies a second after the writes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let at = run(&gw, {
        let mut date = Command::new("date");
        date.args(["-u", "+%Y-%m-%dT%H:%M:%SZ"]);
        date
    })
    .trim()
    .to_owned();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Now: a.txt "two!", b.txt added, dir/c.txt deleted.
    write("a.txt", "two!");
    write("b.txt", "bee");
    std::fs::remove_file(work.path().join("src/dir/c.txt")).unwrap();
    run(&gw, rclone(&gw, h, &["sync", src, "vmgw:rcv"]));

    assert_eq!(
        lsjson(&gw, h, &[], "vmgw:rcv"),
        [("a.txt".to_owned(), 4), ("b.txt".to_owned(), 3)]
    );
    // Old versions appear with their time in the name; the deleted file's last version too.
    let with_versions = lsjson(&gw, h, &["--s3-versions"], "vmgw:rcv");
    let names: Vec<&str> = with_versions.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(with_versions.len(), 4, "{with_versions:?}");
    assert!(
        names.contains(&"a.txt") && names.contains(&"b.txt"),
        "{names:?}"
    );
    let old_a = with_versions
        .iter()
        .find(|(p, _)| p.starts_with("a-v") && p.ends_with(".txt"))
        .unwrap_or_else(|| panic!("no old version of a.txt in {names:?}"));
    assert_eq!(old_a.1, 3);
    assert!(
        with_versions
            .iter()
            .any(|(p, s)| p.starts_with("dir/c-v") && p.ends_with(".txt") && *s == 3),
        "{names:?}"
    );

    // The bucket as it was: listed, then copied out, then made current again.
    assert_eq!(
        lsjson(&gw, h, &["--s3-version-at", &at], "vmgw:rcv"),
        [("a.txt".to_owned(), 3), ("dir/c.txt".to_owned(), 3)]
    );
    let restored = work.path().join("restored");
    run(
        &gw,
        rclone(
            &gw,
            h,
            &[
                "copy",
                "--s3-version-at",
                &at,
                "vmgw:rcv",
                restored.to_str().unwrap(),
            ],
        ),
    );
    assert_eq!(
        local(&restored),
        [
            ("a.txt".to_owned(), b"one".to_vec()),
            ("dir/c.txt".to_owned(), b"sea".to_vec())
        ]
    );
    run(
        &gw,
        rclone(&gw, h, &["sync", restored.to_str().unwrap(), "vmgw:rcv"]),
    );
    assert_eq!(
        lsjson(&gw, h, &[], "vmgw:rcv"),
        [("a.txt".to_owned(), 3), ("dir/c.txt".to_owned(), 3)]
    );
    let back = work.path().join("back");
    run(
        &gw,
        rclone(&gw, h, &["copy", "vmgw:rcv", back.to_str().unwrap()]),
    );
    assert_eq!(local(&back), local(&restored));
    // Nothing was lost on the way: every write is still a version.
    let versions = s3
        .list_object_versions()
        .bucket("rcv")
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 6, "{versions:?}");
    assert_eq!(versions.delete_markers().len(), 2, "{versions:?}");
}
