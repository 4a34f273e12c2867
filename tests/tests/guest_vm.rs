//! A real guest: boots a minimal Linux VM under qemu (a Debian kernel and a static busybox
//! in an initramfs; KVM when it works, software emulation otherwise) with user-mode
//! networking, and inside it rclone — configured with exactly what `vmgw vm add --format
//! rclone` printed — and vmgw-mount reach the host's gateway at 10.0.2.2, write files and
//! read back a file the host wrote. The host then reads what the guest wrote.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::tenants::admin_cmd;
use vmgw_tests::{Gateway, md5_hex, mount_bin, output_within, require_tool, run};

const GUEST_DIR: &str = "/var/cache/vmgw-test/guest";
/// Kernel modules the guest needs (virtio networking, FUSE); their dependencies are added.
const MODULES: &[&str] = &["virtio_pci", "virtio_net", "fuse"];
const FROM_HOST: &[u8] = b"written on the host, read in the guest\n";

/// Every module file under `modules/kernel`, by name.
fn module_files(dir: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![dir.join("kernel")];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if let Some(stem) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".ko"))
            {
                out.insert(stem.replace('-', "_"), path);
            }
        }
    }
    out
}

/// A module's `depends=` list, from its `.modinfo` section (no modinfo binary needed).
fn depends(module: &Path) -> Vec<String> {
    let bytes = std::fs::read(module).unwrap();
    bytes
        .split(|&b| b == 0)
        .find_map(|field| field.strip_prefix(b"depends="))
        .map(|list| {
            String::from_utf8_lossy(list)
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.replace('-', "_"))
                .collect()
        })
        .unwrap_or_default()
}

/// The modules to load, dependencies first.
fn load_order(files: &BTreeMap<String, PathBuf>) -> Vec<String> {
    fn visit(
        name: &str,
        files: &BTreeMap<String, PathBuf>,
        done: &mut BTreeSet<String>,
        out: &mut Vec<String>,
    ) {
        if done.contains(name) {
            return;
        }
        done.insert(name.to_owned());
        let path = files
            .get(name)
            .unwrap_or_else(|| panic!("kernel module {name} not found (built in?)"));
        for dep in depends(path) {
            visit(&dep, files, done, out);
        }
        out.push(name.to_owned());
    }
    let (mut done, mut out) = (BTreeSet::new(), Vec::new());
    for m in MODULES {
        visit(m, files, &mut done, &mut out);
    }
    out
}

/// Copies `binary` (stripped: the guest's memory holds the initramfs) and the shared
/// libraries `ldd` names into the initramfs root.
fn install_binary(root: &Path, binary: &Path, as_name: &str) {
    run(Command::new(require_tool("strip"))
        .arg("-o")
        .arg(root.join("bin").join(as_name))
        .arg(binary));
    let ldd = run(Command::new("ldd").arg(binary));
    for line in ldd.lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
        let path = line
            .split("=>")
            .nth(1)
            .unwrap_or(line)
            .split_whitespace()
            .next()
            .unwrap_or_default();
        if path.starts_with('/') {
            let target = root.join(path.trim_start_matches('/'));
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(path, &target).unwrap();
        }
    }
}

fn init_script(modules: &[String], endpoint: &str) -> String {
    let insmods: String = modules
        .iter()
        .map(|m| format!("insmod /lib/modules/{m}.ko || echo \"GUEST-FAIL insmod {m}\"\n"))
        .collect();
    format!(
        r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /tmp /mnt/b /root
mount -t tmpfs tmp /tmp
export HOME=/root PATH=/bin
{insmods}ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
echo "GUEST-UP $(uname -r)"

R="rclone --config /etc/rclone.conf --low-level-retries 3 --retries 2"
echo "rclone wrote this in the guest" > /tmp/rclone.txt
if $R copyto /tmp/rclone.txt vmgw:guestvm/from-guest-rclone.txt; then echo GUEST-RCLONE-PUT-OK; fi
$R cat vmgw:guestvm/from-host.txt > /tmp/got.txt && echo "GUEST-RCLONE-GET $(md5sum < /tmp/got.txt)"

if RUST_BACKTRACE=1 vmgw-mount guestvm /mnt/b --endpoint {endpoint} -o passwd_file=/etc/passwd-s3fs --log-file /tmp/mount.log; then
    echo "vmgw-mount wrote this in the guest" > /mnt/b/from-guest-mount.txt && echo GUEST-MOUNT-WRITE-OK
    echo "GUEST-MOUNT-READ $(md5sum < /mnt/b/from-host.txt)"
    echo "GUEST-MOUNT-LS $(ls /mnt/b | tr '\n' ' ')"
    umount /mnt/b && echo GUEST-UMOUNT-OK
else
    cat /tmp/mount.log
fi
echo GUEST-DONE
poweroff -f
"#
    )
}

#[test]
fn a_guest_vm_reaches_the_gateway_with_rclone_and_vmgw_mount() {
    let qemu = require_tool("qemu-system-x86_64");
    let guest = Path::new(GUEST_DIR);
    assert!(
        guest.join("vmlinuz").is_file() && guest.join("busybox").is_file(),
        "{GUEST_DIR} lacks the guest kernel or busybox: run scripts/install-test-deps"
    );
    let rclone = require_tool("rclone");
    let fusermount = require_tool("fusermount3");

    let gw = Gateway::start();
    let port = gw.addr.rsplit(':').next().unwrap();
    // Under user-mode networking the guest reaches the host's loopback at 10.0.2.2.
    let endpoint = format!("http://10.0.2.2:{port}");
    let remote = run(&mut admin_cmd(
        &gw,
        &[
            "vm",
            "add",
            "guestvm",
            "--format",
            "rclone",
            "--endpoint",
            &endpoint,
        ],
    ));
    assert!(remote.contains("[vmgw]"), "{remote}");
    let access_key = remote
        .lines()
        .find_map(|l| l.strip_prefix("access_key_id = "))
        .unwrap()
        .to_owned();
    let secret_key = remote
        .lines()
        .find_map(|l| l.strip_prefix("secret_access_key = "))
        .unwrap()
        .to_owned();
    let s3 = common::client_with(&gw, &access_key, &secret_key);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(common::put(&s3, "guestvm", "from-host.txt", FROM_HOST));

    // The initramfs.
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    for d in ["bin", "etc", "proc", "sys", "dev", "lib/modules"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(guest.join("busybox"), root.join("bin/busybox")).unwrap();
    install_binary(&root, &rclone, "rclone");
    install_binary(&root, &mount_bin(), "vmgw-mount");
    install_binary(&root, &fusermount, "fusermount3");
    let files = module_files(&guest.join("modules"));
    let order = load_order(&files);
    for m in &order {
        std::fs::copy(&files[m], root.join(format!("lib/modules/{m}.ko"))).unwrap();
    }
    std::fs::write(root.join("etc/rclone.conf"), &remote).unwrap();
    std::fs::write(
        root.join("etc/passwd-s3fs"),
        format!("{access_key}:{secret_key}\n"),
    )
    .unwrap();
    std::fs::set_permissions(
        root.join("etc/passwd-s3fs"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    std::fs::write(root.join("init"), init_script(&order, &endpoint)).unwrap();
    std::fs::set_permissions(
        root.join("init"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let initrd = work.path().join("initrd.gz");
    run(Command::new("sh").arg("-c").arg(format!(
        "cd '{}' && find . | cpio -o -H newc --quiet | gzip -1 > '{}'",
        root.display(),
        initrd.display()
    )));

    // Boot. Software emulation: nested KVM is not dependable on CI machines (here it hung
    // before the kernel printed anything), and the guest's work is small.
    let out = output_within(
        Command::new(&qemu)
            .args(["-accel", "tcg", "-cpu", "max", "-m", "1024", "-smp", "1"])
            .arg("-kernel")
            .arg(guest.join("vmlinuz"))
            .arg("-initrd")
            .arg(&initrd)
            .args(["-append", "console=ttyS0 quiet panic=-1"])
            .args([
                "-nographic",
                "-no-reboot",
                "-nodefaults",
                "-serial",
                "stdio",
            ])
            .args([
                "-netdev",
                "user,id=n0",
                "-device",
                "virtio-net-pci,netdev=n0",
            ]),
        Duration::from_secs(600),
    );
    let console = String::from_utf8_lossy(&out.stdout).into_owned();
    // Lines may start with the terminal codes the firmware printed.
    let has = |marker: &str| console.lines().any(|l| l.contains(marker));
    let report = || {
        format!(
            "guest console:\n{console}\nqemu stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    };
    assert!(has("GUEST-DONE"), "the guest did not finish: {}", report());
    assert!(!console.contains("GUEST-FAIL"), "{}", report());
    let from_host_md5 = md5_hex(FROM_HOST);
    for marker in [
        "GUEST-UP".to_owned(),
        "GUEST-RCLONE-PUT-OK".to_owned(),
        format!("GUEST-RCLONE-GET {from_host_md5}"),
        "GUEST-MOUNT-WRITE-OK".to_owned(),
        format!("GUEST-MOUNT-READ {from_host_md5}"),
        "GUEST-UMOUNT-OK".to_owned(),
    ] {
        assert!(has(&marker), "no {marker:?}: {}", report());
    }
    assert!(
        console.contains("GUEST-MOUNT-LS") && console.contains("from-guest-rclone.txt"),
        "the mount lists what rclone wrote: {}",
        report()
    );

    // What the guest wrote, read on the host.
    rt.block_on(async {
        assert_eq!(
            common::get(&s3, "guestvm", "from-guest-rclone.txt").await,
            b"rclone wrote this in the guest\n"
        );
        assert_eq!(
            common::get(&s3, "guestvm", "from-guest-mount.txt").await,
            b"vmgw-mount wrote this in the guest\n"
        );
    });
}
