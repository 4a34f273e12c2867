//! `vmgw vm add --format cloud-init` used as-is: cloud-init's own schema check accepts the
//! user-data; the files it writes (into a directory standing in for the guest's root) work
//! with aws-cli and rclone; and its fstab entry, given to `mount`, mounts the tenant's
//! bucket with vmgw-mount (through `mount.fuse3`), so files written on either side show on
//! the other.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use vmgw_tests::{
    Gateway, is_mounted, isolated_client, mount_bin, output_within, require_tool, run,
    succeed_within, vmgw_bin,
};

const LIMIT: Duration = Duration::from_secs(120);

fn succeed(cmd: &mut Command, what: &str) -> String {
    succeed_within(cmd, LIMIT, what)
}

fn clean(program: &Path, home: &Path) -> Command {
    isolated_client(program, home)
}

/// Writes the user-data's `write_files` under `root` and returns its first `mounts` entry,
/// parsed by the YAML library cloud-init itself uses.
fn apply_user_data(user_data: &Path, root: &Path) -> Vec<String> {
    let script = r#"
import os, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
root = sys.argv[2]
for f in doc["write_files"]:
    path = root + f["path"]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as out:
        out.write(f["content"])
    os.chmod(path, int(f["permissions"], 8))
print("\t".join(doc["mounts"][0]))
"#;
    let out = succeed(
        Command::new("/usr/bin/python3")
            .arg("-c")
            .arg(script)
            .arg(user_data)
            .arg(root),
        "applying the user-data",
    );
    out.trim_end().split('\t').map(str::to_owned).collect()
}

#[test]
fn cloud_init_user_data_is_valid_and_its_files_and_fstab_entry_work() {
    let gw = Gateway::start();
    let work = tempfile::tempdir().unwrap();
    let user_data = work.path().join("user-data");
    let text = run(Command::new(vmgw_bin())
        .args([
            "vm",
            "add",
            "web01",
            "--format",
            "cloud-init",
            "--endpoint",
            &gw.endpoint,
        ])
        .arg("--data-dir")
        .arg(&gw.data_dir));
    std::fs::write(&user_data, &text).unwrap();
    assert!(text.starts_with("#cloud-config\n"), "{text}");

    // cloud-init's schema check (it also refuses a broken document: see below).
    let cloud_init = require_tool("cloud-init");
    let checked = succeed(
        Command::new(&cloud_init)
            .args(["schema", "--config-file"])
            .arg(&user_data),
        "cloud-init schema",
    );
    assert!(checked.contains("Valid cloud-config"), "{checked}");
    let broken = work.path().join("broken");
    std::fs::write(
        &broken,
        text.replace("write_files:", "write_files: 5\nx_files:"),
    )
    .unwrap();
    let refused = output_within(
        Command::new(&cloud_init)
            .args(["schema", "--config-file"])
            .arg(&broken),
        LIMIT,
    );
    assert!(
        !refused.status.success(),
        "the schema check must be able to fail"
    );

    // The files, written where the guest would have them.
    let root = work.path().join("guest");
    let fields = apply_user_data(&user_data, &root);
    assert_eq!(fields.len(), 6, "{fields:?}");
    let home = root.join("root");
    let aws = require_tool("aws");
    std::fs::write(work.path().join("hello.txt"), b"hello from cloud-init\n").unwrap();
    succeed(
        clean(&aws, &home)
            .args(["s3", "cp", "--only-show-errors"])
            .arg(work.path().join("hello.txt"))
            .arg("s3://web01/hello.txt"),
        "aws-cli with the written ~/.aws/config",
    );
    let rclone = require_tool("rclone");
    let listed = succeed(
        clean(&rclone, &home)
            .env("RCLONE_CONFIG", home.join(".config/rclone/rclone.conf"))
            .env("RCLONE_CACHE_DIR", work.path().join("rclone-cache"))
            .args(["lsf", "vmgw:web01"]),
        "rclone with the written rclone.conf",
    );
    assert_eq!(listed, "hello.txt\n");
    let passwd = root.join("etc/passwd-s3fs");
    let mode = std::fs::metadata(&passwd).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );

    // The fstab entry, with its paths under the stand-in root.
    assert_eq!(fields[2], "fuse.vmgw-mount");
    let mountpoint = root.join(fields[1].trim_start_matches('/'));
    std::fs::create_dir_all(&mountpoint).unwrap();
    let options = fields[3].replace(
        "passwd_file=/etc/passwd-s3fs",
        &format!("passwd_file={}", passwd.display()),
    );
    let fstab = work.path().join("fstab");
    std::fs::write(
        &fstab,
        format!(
            "{} {} {} {} {} {}\n",
            fields[0],
            mountpoint.display(),
            fields[2],
            options,
            fields[4],
            fields[5]
        ),
    )
    .unwrap();
    let _ = require_tool("mount.fuse3");
    install_mount_binary();
    succeed(
        clean(Path::new("/bin/mount"), &home)
            .arg("--fstab")
            .arg(&fstab)
            .arg(&mountpoint),
        "mount from the fstab entry",
    );
    let unmount = Unmount(mountpoint.clone());
    assert!(
        is_mounted(&mountpoint),
        "mount returned but nothing is mounted"
    );
    assert_eq!(
        std::fs::read(mountpoint.join("hello.txt")).unwrap(),
        b"hello from cloud-init\n"
    );
    std::fs::write(mountpoint.join("from-mount.txt"), b"written in the guest\n").unwrap();
    drop(unmount);
    assert!(!is_mounted(&mountpoint));
    let copy = work.path().join("copy.txt");
    succeed(
        clean(&aws, &home)
            .args([
                "s3",
                "cp",
                "--only-show-errors",
                "s3://web01/from-mount.txt",
            ])
            .arg(&copy),
        "reading the mount's file back",
    );
    assert_eq!(std::fs::read(&copy).unwrap(), b"written in the guest\n");
}

/// `mount.fuse3` runs the entry's `vmgw-mount` from the system's PATH (it does not keep the
/// caller's), as a guest whose package installed it would: link the binary under test there.
fn install_mount_binary() {
    let link = Path::new("/usr/local/bin/vmgw-mount");
    let target = mount_bin().canonicalize().expect("the vmgw-mount binary");
    match std::fs::symlink_metadata(link) {
        Ok(meta) if !meta.file_type().is_symlink() => panic!(
            "{} is an installed vmgw-mount, not the one under test; remove it to run this test",
            link.display()
        ),
        Ok(_) if std::fs::read_link(link).ok().as_deref() == Some(target.as_path()) => return,
        Ok(_) => std::fs::remove_file(link).expect("replace the old link"),
        Err(_) => {}
    }
    std::os::unix::fs::symlink(&target, link).expect("link vmgw-mount into /usr/local/bin");
}

/// Unmounts on drop, so a failed assertion leaves no mount behind.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        if is_mounted(&self.0) {
            let _ = Command::new("fusermount3").arg("-u").arg(&self.0).status();
            for _ in 0..100 {
                if !is_mounted(&self.0) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

#[test]
fn with_a_private_ca_the_user_data_installs_it() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _key) = vmgw_tests::tls::vmgw_self_signed(&dir.path().join("tls"));
    let gw = Gateway::start();
    let text = run(Command::new(vmgw_bin())
        .args(["vm", "add", "web02", "--format", "cloud-init"])
        .args(["--endpoint", "https://192.168.122.1:9443", "--ca-cert"])
        .arg(&cert)
        .arg("--data-dir")
        .arg(&gw.data_dir));
    let user_data = dir.path().join("user-data");
    std::fs::write(&user_data, &text).unwrap();
    let checked = succeed(
        Command::new(require_tool("cloud-init"))
            .args(["schema", "--config-file"])
            .arg(&user_data),
        "cloud-init schema with ca_certs",
    );
    assert!(checked.contains("Valid cloud-config"), "{checked}");
    // The certificate: a file for aws-cli's ca_bundle, and the system store (ca_certs).
    let pem = std::fs::read_to_string(&cert).unwrap();
    let root = dir.path().join("guest");
    apply_user_data(&user_data, &root);
    assert_eq!(
        std::fs::read_to_string(root.join("etc/vmgw/ca.pem")).unwrap(),
        pem
    );
    let aws_config = std::fs::read_to_string(root.join("root/.aws/config")).unwrap();
    assert!(
        aws_config.contains("\nca_bundle = /etc/vmgw/ca.pem\n"),
        "{aws_config}"
    );
    let script = r#"
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
sys.stdout.write(doc["ca_certs"]["trusted"][0])
"#;
    let trusted = succeed(
        Command::new("/usr/bin/python3")
            .arg("-c")
            .arg(script)
            .arg(&user_data),
        "reading ca_certs",
    );
    assert_eq!(trusted, pem);
}
