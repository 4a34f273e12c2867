//! The Debian package for KVM hosts (packaging/, issue 7): builds the .deb around the binary
//! under test, checks what it holds, installs it with `dpkg -i`, checks the unit with
//! `systemd-analyze`, runs the installed binary with the packaged config the way
//! vmgw.service does, drives it over S3, its admin socket and its metrics listener, and
//! purges the package again.
//!
//! It changes the machine (a package, the user vmgw, /var/lib/vmgw), so it needs root, as
//! CI has; it refuses to start when any of that already exists, and a guard removes what the
//! test created even when it fails midway.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use vmgw_tests::{get_bytes, pattern, require_tool, sdk_client, vmgw_bin, workspace_root};

const BIN: &str = "/usr/bin/vmgw";
const UNIT: &str = "/usr/lib/systemd/system/vmgw.service";
const ENABLED_LINK: &str = "/etc/systemd/system/multi-user.target.wants/vmgw.service";
const CONFIG: &str = "/etc/vmgw/vmgw.toml";
const DATA: &str = "/var/lib/vmgw";
/// The addresses of the packaged config. The test keeps them instead of overriding
/// `listen`, so the config runs exactly as shipped: the metrics listener has no flag
/// anyway, no other test listens on 9100, and the only other test on 9000 (cli.rs's
/// zero-config start) is in another test binary, which `cargo test` never runs alongside
/// this one. Both are checked to be free first.
const S3_ADDR: &str = "127.0.0.1:9000";
const METRICS_ADDR: &str = "127.0.0.1:9100";
/// Whatever a step might wait for; the whole test takes a few seconds.
const LIMIT: Duration = Duration::from_secs(60);

/// Runs `cmd`, failing the test (with its output) unless it exits 0.
fn ok(cmd: &mut Command) -> Output {
    let out = vmgw_tests::output_within(cmd, LIMIT);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `getent passwd|group NAME` split into its fields, `None` when there is no such entry.
fn getent(db: &str, name: &str) -> Option<Vec<String>> {
    let out = Command::new("getent")
        .args([db, name])
        .output()
        .expect("getent");
    out.status.success().then(|| {
        text(&out.stdout)
            .trim_end()
            .split(':')
            .map(str::to_owned)
            .collect()
    })
}

/// dpkg's state of the package vmgw: `ii` installed, `rc` removed with its config left,
/// `iF` failed to configure, ...; `None` when dpkg has no files of it (never installed or
/// purged).
fn package_state() -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f", "${db:Status-Abbrev}", "vmgw"])
        .output()
        .expect("dpkg-query");
    let state = text(&out.stdout).trim().to_owned();
    // The second letter is the state; `n` (not installed) is what a purge leaves behind.
    (out.status.success() && state.as_bytes().get(1) != Some(&b'n')).then_some(state)
}

/// What the test put on the machine; dropping it takes everything away again, so a failed
/// run leaves no package, user or data directory behind.
struct Machine {
    clean: bool,
}

impl Machine {
    /// Checks that the machine has none of what the package creates: the test must not
    /// delete an existing installation's data, and must see its own package's doing.
    fn untouched() -> Self {
        let uid = text(&ok(Command::new("id").arg("-u")).stdout);
        assert_eq!(
            uid.trim(),
            "0",
            "the package test needs root (dpkg -i, useradd)"
        );
        assert!(
            !Path::new("/run/systemd/system").exists(),
            "systemd runs on this machine: dpkg -i would start vmgw.service itself, which this \
             test does not expect (it is written for CI containers, where systemd is not PID 1)"
        );
        if let Some(state) = package_state() {
            panic!("the package vmgw is on this machine already ({state}); the test purges it");
        }
        for path in [BIN, UNIT, CONFIG, DATA, "/etc/vmgw"] {
            assert!(
                !Path::new(path).exists(),
                "{path} exists already; the test would remove it"
            );
        }
        assert!(
            getent("passwd", "vmgw").is_none(),
            "a user vmgw exists already"
        );
        assert!(
            getent("group", "vmgw").is_none(),
            "a group vmgw exists already"
        );
        for addr in [S3_ADDR, METRICS_ADDR] {
            TcpListener::bind(addr).unwrap_or_else(|e| {
                panic!("{addr} (in the packaged config) is taken on this machine: {e}")
            });
        }
        Self { clean: false }
    }

    /// Removes the data directory and the user, which a purge keeps by design.
    fn remove_leftovers() {
        let _ = std::fs::remove_dir_all(DATA);
        if getent("passwd", "vmgw").is_some() {
            let _ = Command::new("deluser")
                .args(["--quiet", "--system", "vmgw"])
                .output();
        }
        if getent("group", "vmgw").is_some() {
            let _ = Command::new("groupdel").arg("vmgw").output();
        }
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        if !self.clean {
            let _ = Command::new("dpkg").args(["--purge", "vmgw"]).output();
            Self::remove_leftovers();
        }
    }
}

/// `cargo deb` on a staging target directory that holds only the binary under test, so the
/// package carries exactly that binary (also when `VMGW_BIN` is not under target/), and
/// nothing is built: `--no-build`, as CI has built everything already.
fn build_deb(work: &Path) -> PathBuf {
    let _ = require_tool("cargo-deb");
    let stage = work.join("target");
    std::fs::create_dir_all(stage.join("ci")).expect("staging dir");
    std::fs::copy(vmgw_bin(), stage.join("ci/vmgw")).expect("stage the binary");
    let deb = work.join("vmgw.deb");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // --strip, as packaging/README.md builds it: the ci/release binary keeps line tables
    // (163 MB with them, 27 MB without). --fast: the package is thrown away, so xz's
    // slowest level would only cost CI time.
    ok(Command::new(cargo)
        .args(["deb", "-p", "vmgw-gateway", "--profile", "ci"])
        .args(["--no-build", "--strip", "--fast", "--locked", "--offline"])
        .arg("--output")
        .arg(&deb)
        .env("CARGO_TARGET_DIR", &stage)
        .current_dir(workspace_root()));
    deb
}

/// The control fields, the file list and the maintainer scripts of the .deb.
fn inspect_deb(deb: &Path, work: &Path) {
    let field =
        |name: &str| text(&ok(Command::new("dpkg-deb").arg("-f").arg(deb).arg(name)).stdout);
    assert_eq!(field("Package").trim(), "vmgw");
    assert_eq!(field("Section").trim(), "net");
    assert_eq!(field("Priority").trim(), "optional");
    let depends = field("Depends");
    // $auto found the C library the binary links; adduser is what postinst runs.
    assert!(
        depends.contains("libc6") && depends.contains("adduser"),
        "Depends: {depends}"
    );

    let listing = text(&ok(Command::new("dpkg-deb").arg("-c").arg(deb)).stdout);
    let entry = |path: &str| {
        listing
            .lines()
            .find(|l| l.ends_with(&format!(" .{path}")))
            .unwrap_or_else(|| panic!("{path} is not in the package:\n{listing}"))
            .to_owned()
    };
    for (path, mode) in [
        (BIN, "-rwxr-xr-x root/root"),
        (UNIT, "-rw-r--r-- root/root"),
        // root:root in the archive; postinst gives it group vmgw.
        (CONFIG, "-rw-r----- root/root"),
    ] {
        let line = entry(path).replace("0/0", "root/root");
        assert!(line.starts_with(mode), "{path}: {line}");
    }

    let control = work.join("control");
    ok(Command::new("dpkg-deb").arg("-e").arg(deb).arg(&control));
    let conffiles = std::fs::read_to_string(control.join("conffiles")).expect("conffiles");
    assert_eq!(conffiles.trim(), CONFIG, "conffiles");
    for script in ["postinst", "prerm", "postrm"] {
        let meta = std::fs::metadata(control.join(script))
            .unwrap_or_else(|e| panic!("no {script} in the package: {e}"));
        assert!(meta.mode() & 0o111 != 0, "{script} is not executable");
    }
    let postinst = std::fs::read_to_string(control.join("postinst")).expect("postinst");
    // Ours, and cargo-deb's systemd part at the #DEBHELPER# token.
    for needle in [
        "adduser --system",
        "deb-systemd-helper enable vmgw.service",
        "if [ -d /run/systemd/system ]; then",
    ] {
        assert!(
            postinst.contains(needle),
            "postinst lacks {needle:?}:\n{postinst}"
        );
    }
    assert!(!postinst.contains("#DEBHELPER#"), "token not replaced");
}

/// A `KEY=value` setting of the installed unit (the last one, as systemd takes it).
fn unit_setting(unit: &str, key: &str) -> String {
    unit.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .next_back()
        .unwrap_or_else(|| panic!("no {key}= in {UNIT}"))
        .to_owned()
}

/// What `dpkg -i` must have set up, before anything runs.
fn check_installation() {
    assert_eq!(
        package_state().as_deref(),
        Some("ii"),
        "dpkg's state of vmgw"
    );
    let user = getent("passwd", "vmgw").expect("postinst created no user vmgw");
    let group = getent("group", "vmgw").expect("postinst created no group vmgw");
    let uid: u32 = user[2].parse().expect("uid");
    // A system user (Debian's dynamic system range), in its own group, that cannot log in.
    assert!((100..1000).contains(&uid), "uid {uid} is not a system uid");
    assert_eq!(user[3], group[2], "primary group of vmgw");
    assert_eq!(user[5], DATA, "home of vmgw");
    assert_eq!(user[6], "/usr/sbin/nologin", "shell of vmgw");
    let gid: u32 = group[2].parse().expect("gid");

    let data = std::fs::metadata(DATA).expect("postinst created no /var/lib/vmgw");
    assert!(data.is_dir());
    assert_eq!((data.uid(), data.gid()), (uid, gid), "{DATA} owner");
    assert_eq!(data.mode() & 0o7777, 0o750, "{DATA} mode");
    let config = std::fs::metadata(CONFIG).expect("config");
    assert_eq!((config.uid(), config.gid()), (0, gid), "{CONFIG} owner");
    assert_eq!(config.mode() & 0o7777, 0o640, "{CONFIG} mode");

    // The files are the ones in the tree and the binary under test, unchanged.
    let repo = workspace_root().join("packaging");
    for (installed, source) in [
        (CONFIG, repo.join("deb/vmgw.toml")),
        (UNIT, repo.join("systemd/vmgw.service")),
    ] {
        assert!(
            std::fs::read(installed).expect("installed file")
                == std::fs::read(&source).expect("source file"),
            "{installed} differs from {}",
            source.display()
        );
    }
    // The binary is the one under test, stripped: the same GNU build ID, no debug sections.
    assert_eq!(
        build_id(Path::new(BIN)),
        build_id(&vmgw_bin()),
        "{BIN} is not the binary under test ({})",
        vmgw_bin().display()
    );
    let sections = text(&ok(Command::new("readelf").args(["-S", "-W", BIN])).stdout);
    assert!(!sections.contains(".debug_info"), "{BIN} is not stripped");
    // Enabled at boot, the way deb-systemd-helper does it without a running systemd.
    let link = std::fs::read_link(ENABLED_LINK).expect("vmgw.service is not enabled");
    assert!(
        link.ends_with("systemd/system/vmgw.service"),
        "{}",
        link.display()
    );
    assert!(
        running_vmgw().is_empty(),
        "something started {BIN} during dpkg -i: {:?}",
        running_vmgw()
    );
}

/// The GNU build ID of an ELF file, which `strip` keeps.
fn build_id(elf: &Path) -> String {
    let notes = text(&ok(Command::new(require_tool("readelf")).arg("-n").arg(elf)).stdout);
    notes
        .lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: "))
        .unwrap_or_else(|| panic!("{} has no build ID:\n{notes}", elf.display()))
        .to_owned()
}

/// Pids of processes running the installed binary.
fn running_vmgw() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == Path::new(BIN))
        })
        .collect()
}

/// `systemd-analyze verify` on the installed unit, and the hardening as
/// `systemd-analyze security` rates it.
fn verify_unit() {
    let analyze = require_tool("systemd-analyze");
    let out = ok(Command::new(&analyze).args(["verify", UNIT]));
    // verify prints nothing for a clean unit: every warning (unknown directive, bad value,
    // missing binary, a directive this systemd ignores) would show up here.
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "systemd-analyze verify complained:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    let out = ok(Command::new(&analyze).args(["security", "--offline=true", "--json=short", UNIT]));
    let checks: serde_json::Value = serde_json::from_slice(&out.stdout).expect("security JSON");
    let checks = checks.as_array().expect("a list of checks");
    assert!(checks.len() > 50, "only {} checks rated", checks.len());
    // The checks the unit fails on purpose, each for a reason given in vmgw.service or
    // packaging/README.md; any other failure is a hardening directive gone missing.
    let accepted = [
        "SystemCallFilter=~@resources", // setpriority() of the move threads
        "RootDirectory=/RootImage=",    // runs the host's /usr/bin/vmgw
        "RestrictAddressFamilies=~AF_UNIX", // admin.sock, unix: listeners
        "RestrictAddressFamilies=~AF_(INET|INET6)", // it is a network server
        "PrivateNetwork=",              // ditto
        "IPAddressDeny=",               // who may connect is the admin's choice
        "ProcSubset=",                  // mimalloc reads /proc/sys/vm
        "PrivateUsers=",                // would void CAP_NET_BIND_SERVICE drop-ins
        "DeviceAllow=",                 // char-rtc:r, which ProtectClock= grants
    ];
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| c["exposure"].as_str().is_some_and(|e| e != "0.0"))
        .map(|c| c["name"].as_str().unwrap_or("?"))
        .collect();
    let unexpected: Vec<&&str> = failed.iter().filter(|n| !accepted.contains(n)).collect();
    assert!(
        unexpected.is_empty(),
        "hardening checks failed: {unexpected:?}"
    );
    for name in [
        "NoNewPrivileges=",
        "ProtectSystem=",
        "ProtectHome=",
        "PrivateTmp=",
        "PrivateDevices=",
        "CapabilityBoundingSet=~CAP_SYS_ADMIN",
        "SystemCallArchitectures=",
        "SystemCallFilter=~@privileged",
        "MemoryDenyWriteExecute=",
        "RestrictNamespaces=~user",
        "User=/DynamicUser=",
        "UMask=",
    ] {
        let check = checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("systemd-analyze security did not rate {name}"));
        assert_eq!(check["set"], true, "{name} is not in effect: {check}");
    }
}

/// The installed binary, started with [`as_service`]: systemd is not PID 1 in the CI
/// container, so `systemctl start` cannot do it.
struct Service {
    child: Child,
    log: Arc<Mutex<String>>,
}

/// A command line of the unit (`ExecStart=`, `ExecReload=`) as the service runs it: as its
/// User=/Group=, with its UMask=, no capabilities and no_new_privs, in the environment
/// systemd gives a service.
fn as_service(unit: &str, command_line: &str) -> Command {
    let argv: Vec<&str> = command_line.split_whitespace().collect();
    let user = unit_setting(unit, "User");
    let group = unit_setting(unit, "Group");
    let mut cmd = Command::new(require_tool("setpriv"));
    cmd.arg(format!("--reuid={user}"))
        .arg(format!("--regid={group}"))
        .args(["--init-groups", "--no-new-privs"])
        .args(["--inh-caps=-all", "--bounding-set=-all", "--"])
        .args(["/bin/sh", "-c", "umask \"$0\" && exec \"$@\""])
        .arg(unit_setting(unit, "UMask"))
        .args(&argv)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("HOME", DATA)
        .env("USER", &user)
        .env("LOGNAME", &user)
        .env("SHELL", "/usr/sbin/nologin")
        .current_dir("/");
    cmd
}

impl Service {
    fn start(unit: &str) -> Self {
        let exec_start = unit_setting(unit, "ExecStart");
        assert!(
            exec_start.starts_with(&format!("{BIN} ")),
            "ExecStart runs another binary: {exec_start}"
        );
        let mut child = as_service(unit, &exec_start)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the installed vmgw");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().expect("log");
                log.push_str(&line);
                log.push('\n');
            }
        });
        Self { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + LIMIT;
        while !self.log().contains(needle) {
            if let Some(status) = self.child.try_wait().expect("wait") {
                panic!(
                    "vmgw exited ({status}) before logging {needle:?}:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, as `systemctl stop` sends it; the exit must come within TimeoutStopSec=.
    fn stop(&mut self, limit: Duration) -> std::process::ExitStatus {
        ok(Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string()));
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "vmgw did not exit within TimeoutStopSec ({limit:?}) of SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `field = "value"` of a flat TOML file.
fn toml_string(file: &str, field: &str) -> String {
    file.lines()
        .find_map(|l| {
            let (key, value) = l.split_once('=')?;
            (key.trim() == field).then(|| value.trim().trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| panic!("no {field} in:\n{file}"))
}

/// A plain HTTP/1.1 GET; returns the status code and the body.
fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream.set_read_timeout(Some(LIMIT)).expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_owned())
}

/// The admin CLI on the packaged install, run as `runuser -u USER` (root: directly).
fn admin_cli(user: &str, args: &[&str]) -> Output {
    let mut cmd = if user == "root" {
        Command::new(BIN)
    } else {
        let mut cmd = Command::new(require_tool("runuser"));
        cmd.args(["-u", user, "--", BIN]);
        cmd
    };
    cmd.args(args)
        .args(["--data-dir", DATA])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    vmgw_tests::output_within(&mut cmd, LIMIT)
}

#[tokio::test(flavor = "multi_thread")]
async fn deb_package_installs_serves_and_purges() {
    for tool in ["dpkg", "dpkg-deb", "dpkg-query", "deluser", "getent"] {
        let _ = require_tool(tool);
    }
    let work = tempfile::tempdir().expect("temp dir");
    let mut machine = Machine::untouched();
    let deb = build_deb(work.path());
    inspect_deb(&deb, work.path());

    ok(Command::new("dpkg").arg("-i").arg(&deb));
    check_installation();
    verify_unit();

    let unit = std::fs::read_to_string(UNIT).expect("installed unit");
    let mut service = Service::start(&unit);
    service.wait_for(&format!("listening on http://{S3_ADDR}"));
    service.wait_for(&format!(
        "metrics and probes listening on http://{METRICS_ADDR}"
    ));
    let status = std::fs::read_to_string(format!("/proc/{}/status", service.child.id()))
        .expect("process status");
    let uid = &getent("passwd", "vmgw").expect("user")[2];
    for (field, want) in [
        ("Uid", format!("{uid}\t{uid}\t{uid}\t{uid}")),
        ("NoNewPrivs", "1".to_owned()),
        ("CapEff", "0000000000000000".to_owned()),
        ("CapBnd", "0000000000000000".to_owned()),
    ] {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .unwrap_or_else(|| panic!("no {field} in /proc/PID/status"));
        assert_eq!(line.trim(), want, "{field} of the running gateway");
    }

    // First start: the gateway generated the admin pair into the data directory, private
    // to vmgw, and announced its access key (not its secret); that stored pair is what
    // clients sign with.
    let credentials_path = format!("{DATA}/credentials.toml");
    let credentials = std::fs::read_to_string(&credentials_path).expect("credentials.toml");
    let meta = std::fs::metadata(&credentials_path).expect("credentials.toml");
    assert_eq!(meta.uid().to_string(), *uid, "credentials.toml owner");
    assert_eq!(meta.mode() & 0o777, 0o600, "credentials.toml mode");
    let access_key = toml_string(&credentials, "access_key");
    let secret_key = toml_string(&credentials, "secret_key");
    assert!(
        service.log().contains(&format!("access key: {access_key}")),
        "the generated pair was not announced:\n{}",
        service.log()
    );
    // The journal is readable by more than vmgw: the secret stays in the file.
    assert!(
        !service.log().contains(&secret_key),
        "the secret key was logged:\n{}",
        service.log()
    );

    // An S3 round trip, larger than the inline threshold so it lands on a tier's disk.
    let s3 = sdk_client(&format!("http://{S3_ADDR}"), &access_key, &secret_key);
    let body = pattern((1 << 20) + 17, 7);
    s3.create_bucket()
        .bucket("packaged")
        .send()
        .await
        .expect("CreateBucket");
    s3.put_object()
        .bucket("packaged")
        .key("dir/object.bin")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("PutObject");
    assert!(
        get_bytes(&s3, "packaged", "dir/object.bin").await == body,
        "GET != PUT"
    );
    let listed = s3
        .list_objects_v2()
        .bucket("packaged")
        .send()
        .await
        .expect("List");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["dir/object.bin"]);

    // The admin socket: root and vmgw reach it with --data-dir, other users do not.
    for user in ["root", "vmgw"] {
        let out = admin_cli(user, &["tier", "ls"]);
        let table = text(&out.stdout);
        assert!(
            out.status.success() && table.contains("ssd") && table.contains("hdd"),
            "vmgw tier ls as {user}: {}\n{table}{}",
            out.status,
            text(&out.stderr)
        );
    }
    let out = admin_cli("nobody", &["tier", "ls"]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("admin socket"),
        "nobody reached the admin socket: {}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let out = admin_cli("root", &["vm", "add", "web01", "--format", "json"]);
    assert!(out.status.success(), "vm add: {}", text(&out.stderr));
    let guest: serde_json::Value = serde_json::from_slice(&out.stdout).expect("vm add JSON");
    let (Some(key), Some(secret)) = (guest["access_key"].as_str(), guest["secret_key"].as_str())
    else {
        panic!("no key pair in {guest}");
    };
    sdk_client(&format!("http://{S3_ADDR}"), key, secret)
        .put_object()
        .bucket("web01")
        .key("from-guest")
        .body(ByteStream::from_static(b"guest"))
        .send()
        .await
        .expect("PUT with the tenant's key into its bucket");

    let (code, body) = http_get(METRICS_ADDR, "/readyz");
    assert!(
        code == 200 && body.contains(r#""status":"ready""#),
        "/readyz: {code} {body}"
    );
    let (code, body) = http_get(METRICS_ADDR, "/metrics");
    assert!(
        code == 200 && body.contains("vmgw_requests_total"),
        "/metrics: {code}"
    );

    // `systemctl reload`: ExecReload= as the service user; the gateway reloads and serves on.
    let reload =
        unit_setting(&unit, "ExecReload").replace("$MAINPID", &service.child.id().to_string());
    ok(&mut as_service(&unit, &reload));
    service.wait_for("reloading");
    let (code, _) = http_get(METRICS_ADDR, "/readyz");
    assert_eq!(code, 200, "/readyz after the reload:\n{}", service.log());

    let grace = unit_setting(&unit, "TimeoutStopSec");
    let grace: u64 = grace
        .trim_end_matches('s')
        .parse()
        .expect("TimeoutStopSec in seconds");
    let status = service.stop(Duration::from_secs(grace));
    assert!(
        status.success(),
        "exit after SIGTERM: {status}\n{}",
        service.log()
    );
    assert!(service.log().contains("shutting down"), "{}", service.log());

    // Everything it wrote is the vmgw user's and, by UMask=0077 and its own modes, closed
    // to other users (looked at once it has stopped, so no file comes or goes meanwhile).
    let mut written = 0;
    let mut dirs = vec![PathBuf::from(DATA)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read data dir") {
            let path = entry.expect("entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("stat");
            assert_eq!(meta.uid().to_string(), *uid, "owner of {}", path.display());
            assert_eq!(
                meta.permissions().mode() & 0o007,
                0,
                "{} is open to others",
                path.display()
            );
            if meta.is_dir() {
                dirs.push(path);
            } else if meta.is_file() {
                written += 1;
            }
        }
    }
    assert!(written >= 3, "only {written} files under {DATA}");

    // Purge: binary, unit, config and enablement go; the data and the user stay (see
    // packaging/deb/postrm), and the purge says so.
    let out = ok(Command::new("dpkg").args(["--purge", "vmgw"]));
    assert!(
        text(&out.stderr).contains("purge keeps the data in /var/lib/vmgw"),
        "dpkg --purge: {}",
        text(&out.stderr)
    );
    assert_eq!(package_state(), None, "dpkg still has vmgw after the purge");
    for path in [BIN, UNIT, CONFIG, "/etc/vmgw", ENABLED_LINK] {
        assert!(
            std::fs::symlink_metadata(path).is_err(),
            "{path} is still there after dpkg --purge"
        );
    }
    assert!(
        Path::new(DATA).join("meta/vmgw.redb").is_file(),
        "purge deleted the data"
    );
    assert!(getent("passwd", "vmgw").is_some(), "purge deleted the user");

    // Leave the machine as it was found.
    Machine::remove_leftovers();
    machine.clean = true;
    assert!(!Path::new(DATA).exists(), "{DATA} could not be removed");
    assert!(getent("passwd", "vmgw").is_none() && getent("group", "vmgw").is_none());
}
