//! vmgw-mount and s3fs on the same bucket: each sees what the other wrote, with the same
//! POSIX attributes (mode, mtime, symlinks, directories), since both store them in s3fs's
//! metadata encoding.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use vmgw_tests::{
    ACCESS_KEY, Gateway, Mount, MountTarget, SECRET_KEY, is_mounted, require_tool, run_within,
};

const LIMIT: Duration = Duration::from_secs(60);

/// An s3fs mount of a bucket of `gw`, unmounted on drop.
struct S3fs {
    dir: PathBuf,
    _temp: tempfile::TempDir,
}

impl S3fs {
    fn start(gw: &Gateway, bucket: &str) -> Self {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("s3fs");
        std::fs::create_dir(&dir).unwrap();
        let passwd = temp.path().join("passwd");
        std::fs::write(&passwd, format!("{ACCESS_KEY}:{SECRET_KEY}\n")).unwrap();
        std::fs::set_permissions(&passwd, std::fs::Permissions::from_mode(0o600)).unwrap();
        run_within(
            Command::new(require_tool("s3fs"))
                .arg(bucket)
                .arg(&dir)
                .arg("-o")
                .arg(format!(
                    "url={},use_path_request_style,endpoint=us-east-1,passwd_file={},stat_cache_expire=1",
                    gw.endpoint,
                    passwd.display()
                )),
            LIMIT,
        );
        let deadline = std::time::Instant::now() + LIMIT;
        while !is_mounted(&dir) {
            assert!(std::time::Instant::now() < deadline, "s3fs did not mount");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { dir, _temp: temp }
    }
}

impl Drop for S3fs {
    fn drop(&mut self) {
        let _ = Command::new("fusermount3")
            .arg("-u")
            .arg("-z")
            .arg(&self.dir)
            .status();
    }
}

fn touch(path: &Path, date: &str) {
    run_within(
        Command::new(require_tool("touch"))
            .arg("-d")
            .arg(date)
            .arg(path),
        LIMIT,
    );
}

fn assert_attrs(path: &Path, mode: u32, mtime: i64) {
    let st = std::fs::metadata(path).unwrap();
    assert_eq!(st.permissions().mode() & 0o7777, mode, "{}", path.display());
    assert_eq!(st.mtime(), mtime, "{}", path.display());
}

#[test]
fn s3fs_and_vmgw_mount_share_a_bucket() {
    let gw = Gateway::start();
    let s3 = gw.sdk();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(s3.create_bucket().bucket("shared").send())
        .unwrap();
    let theirs = S3fs::start(&gw, "shared");
    let ours = Mount::start(
        &MountTarget {
            endpoint: gw.endpoint.clone(),
            access_key: ACCESS_KEY.into(),
            secret_key: SECRET_KEY.into(),
            source: "shared".into(),
        },
        &[],
    );

    // Written by s3fs, read through vmgw-mount.
    let s = &theirs.dir;
    std::fs::write(s.join("from-s3fs.txt"), b"written by s3fs").unwrap();
    std::fs::set_permissions(s.join("from-s3fs.txt"), PermissionsExt::from_mode(0o600)).unwrap();
    touch(&s.join("from-s3fs.txt"), "2020-05-06 07:08:09 UTC");
    std::fs::create_dir(s.join("dir-s3fs")).unwrap();
    std::fs::write(s.join("dir-s3fs/inner"), b"inner").unwrap();
    std::os::unix::fs::symlink("from-s3fs.txt", s.join("link-s3fs")).unwrap();

    assert_eq!(
        std::fs::read(ours.path("from-s3fs.txt")).unwrap(),
        b"written by s3fs"
    );
    assert_attrs(&ours.path("from-s3fs.txt"), 0o600, 1_588_748_889);
    assert!(std::fs::metadata(ours.path("dir-s3fs")).unwrap().is_dir());
    assert_eq!(
        std::fs::read(ours.path("dir-s3fs/inner")).unwrap(),
        b"inner"
    );
    assert_eq!(
        std::fs::read_link(ours.path("link-s3fs")).unwrap(),
        Path::new("from-s3fs.txt")
    );

    // Written by vmgw-mount, read through s3fs.
    std::fs::write(ours.path("from-vmgw.txt"), b"written by vmgw-mount").unwrap();
    std::fs::set_permissions(ours.path("from-vmgw.txt"), PermissionsExt::from_mode(0o640)).unwrap();
    touch(&ours.path("from-vmgw.txt"), "2019-01-02 03:04:05 UTC");
    std::fs::create_dir(ours.path("dir-vmgw")).unwrap();
    std::fs::write(ours.path("dir-vmgw/inner"), b"inner too").unwrap();
    std::os::unix::fs::symlink("from-vmgw.txt", ours.path("link-vmgw")).unwrap();

    assert_eq!(
        std::fs::read(s.join("from-vmgw.txt")).unwrap(),
        b"written by vmgw-mount"
    );
    assert_attrs(&s.join("from-vmgw.txt"), 0o640, 1_546_398_245);
    assert!(std::fs::metadata(s.join("dir-vmgw")).unwrap().is_dir());
    assert_eq!(
        std::fs::read(s.join("dir-vmgw/inner")).unwrap(),
        b"inner too"
    );
    assert_eq!(
        std::fs::read_link(s.join("link-vmgw")).unwrap(),
        Path::new("from-vmgw.txt")
    );
    // And with aws-cli: the bytes, and the attributes in s3fs's metadata encoding.
    let aws = |args: &[&str]| -> serde_json::Value {
        let out = run_within(
            Command::new(require_tool("aws"))
                .envs(gw.client_env())
                .args(["--endpoint-url", &gw.endpoint, "--output", "json", "s3api"])
                .args(args),
            LIMIT,
        );
        serde_json::from_str(&out).unwrap()
    };
    let fetched = tempfile::tempdir().unwrap();
    let to = fetched.path().join("body");
    let to_arg = to.to_str().unwrap();
    for (key, body, mode) in [
        ("from-vmgw.txt", &b"written by vmgw-mount"[..], 0o100_640),
        ("dir-vmgw/inner", &b"inner too"[..], 0o100_644),
        ("link-vmgw", &b"from-vmgw.txt"[..], 0o120_777),
    ] {
        let answer = aws(&["get-object", "--bucket", "shared", "--key", key, to_arg]);
        assert_eq!(std::fs::read(&to).unwrap(), body, "aws-cli reads {key}");
        assert_eq!(
            answer["Metadata"]["mode"],
            mode.to_string(),
            "mode of {key}: {answer}"
        );
    }
    let answer = aws(&[
        "head-object",
        "--bucket",
        "shared",
        "--key",
        "from-vmgw.txt",
    ]);
    assert_eq!(answer["Metadata"]["mtime"], "1546398245", "{answer}");

    let mut names: Vec<String> = std::fs::read_dir(s)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut ours_names: Vec<String> = std::fs::read_dir(ours.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    ours_names.sort();
    assert_eq!(names, ours_names, "both list the same names");
    assert_eq!(names.len(), 6);
}
