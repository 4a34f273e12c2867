//! A gateway started as the chart's pod would start it, on one node's disk, and the S3,
//! HTTP and file-system probes the tests run against it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vmgw_tests::{pattern, vmgw_bin};

use crate::fixture::{case, container, strs, toml};

/// A gateway started as the pod would start it, on one node.
pub(crate) struct PodGateway {
    child: Child,
    log: PathBuf,
    /// The node's copy of the pod's files (see `node_disk`).
    root: String,
    pub(crate) s3: String,
    pub(crate) metrics: String,
    pub(crate) admin: Option<String>,
}

impl PodGateway {
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, as a node losing power or the kubelet killing the container: no clean
    /// shutdown is recorded, so the next start sweeps for orphans.
    pub(crate) fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL");
        let status = self.child.wait().expect("wait");
        assert_eq!(status.signal(), Some(9), "{status}");
    }
}

impl Drop for PodGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Moves the pod's paths under `root` and its listeners to loopback ports (and a remote
/// tier's endpoint to `remote`); everything else stays as rendered.
fn rewrite_config(
    text: &str,
    root: &str,
    ports: &BTreeMap<u64, u16>,
    remote: Option<(&str, &str)>,
) -> String {
    let mut out = text
        .replace("\"/var/lib/vmgw/", &format!("\"{root}/var/lib/vmgw/"))
        .replace("\"/etc/vmgw/", &format!("\"{root}/etc/vmgw/"));
    for (pod_port, local) in ports {
        out = out.replace(
            &format!("\"0.0.0.0:{pod_port}\""),
            &format!("\"127.0.0.1:{local}\""),
        );
    }
    if let Some((from, to)) = remote {
        out = out.replace(
            &format!("endpoint = \"{from}\""),
            &format!("endpoint = \"{to}\""),
        );
    }
    assert!(!out.contains("0.0.0.0"), "a listener was not moved:\n{out}");
    assert_eq!(
        out.matches("\"/").count(),
        out.matches(&format!("\"{root}/")).count(),
        "a path outside the pod's mounts:\n{out}"
    );
    out
}

/// The node's copy of the files render_and_validate.py laid out for the pod (ConfigMap and
/// Secret files, empty volume directories): the kubelet lays the same volumes out on every
/// node, each on that node's own disks, so two gateways of one DaemonSet share nothing
/// local. Made on first use; a gateway restarted on the node finds what it left there.
pub(crate) fn node_disk(name: &str, node: &str) -> String {
    let template = PathBuf::from(case(name)["pod"]["root"].as_str().unwrap());
    let root = template
        .parent()
        .and_then(Path::parent)
        .expect("the work directory")
        .join("nodes")
        .join(name)
        .join(node);
    if !root.exists() {
        copy_tree(&template, &root);
    }
    root.to_str().expect("a UTF-8 path").to_owned()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a directory");
    for entry in std::fs::read_dir(from).expect("read a directory") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            // Keeps the mode: the Secrets' files are 0440, as the kubelet projects them.
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

/// The pod's command on `node`'s disk: the image's entrypoint, the container's args and env
/// (`node` for `spec.nodeName`, as the downward API gives it; None leaves the variable out),
/// and the rendered vmgw.toml moved to this machine. Returns the command and the loopback
/// address of each named container port.
pub(crate) fn pod_command(
    name: &str,
    node: Option<&str>,
    root: &str,
    remote_endpoint: Option<&str>,
) -> (Command, BTreeMap<String, String>) {
    let pod = &case(name)["pod"];
    let c = container(name);
    let mut ports = BTreeMap::new();
    let mut by_name = BTreeMap::new();
    for port in c["ports"].as_array().unwrap() {
        let local = free_port();
        ports.insert(port["containerPort"].as_u64().unwrap(), local);
        by_name.insert(
            port["name"].as_str().unwrap().to_owned(),
            format!("127.0.0.1:{local}"),
        );
    }
    let rendered = case(name)["vmgw_toml"].as_str().unwrap();
    let remote = remote_endpoint.map(|to| {
        let from = toml(name)["tiers"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|t| t["endpoint"].as_str())
            .expect("a remote tier with an endpoint");
        (from, to)
    });
    let config_path = format!("{root}/etc/vmgw/vmgw.toml");
    std::fs::write(&config_path, rewrite_config(rendered, root, &ports, remote))
        .expect("write vmgw.toml");

    // The image's entrypoint, then the container's args with their paths moved too.
    let mut cmd = Command::new(vmgw_bin());
    cmd.arg("serve");
    for arg in strs(&c["args"]) {
        cmd.arg(
            if arg.starts_with("/etc/vmgw/") || arg.starts_with("/var/lib/vmgw/") {
                format!("{root}{arg}")
            } else {
                arg.to_owned()
            },
        );
    }
    for (var, _) in std::env::vars_os() {
        let var = var.to_string_lossy().into_owned();
        if var.starts_with("VMGW_") || var.starts_with("AWS_") {
            cmd.env_remove(var);
        }
    }
    for (var, value) in pod["env"].as_object().unwrap() {
        cmd.env(var, value.as_str().unwrap());
    }
    for (var, field) in pod["field_refs"].as_object().unwrap() {
        match field.as_str().unwrap() {
            "spec.nodeName" => {
                if let Some(node) = node {
                    cmd.env(var, node);
                }
            }
            other => panic!(
                "{name}: env {var} from the downward API's {other}, which the test does not give"
            ),
        }
    }
    cmd.stdin(Stdio::null());
    (cmd, by_name)
}

/// Starts the pod's gateway on `node` (its own disk, see `node_disk`) and waits until it is
/// ready.
pub(crate) fn start_pod(name: &str, node: &str, remote_endpoint: Option<&str>) -> PodGateway {
    let root = node_disk(name, node);
    let (mut cmd, by_name) = pod_command(name, Some(node), &root, remote_endpoint);
    let log = PathBuf::from(format!("{root}.log"));
    let log_file = std::fs::File::create(&log).expect("log file");
    let child = cmd
        .stdout(log_file.try_clone().expect("log file"))
        .stderr(log_file)
        .spawn()
        .expect("start vmgw");
    let mut gw = PodGateway {
        child,
        log,
        root,
        s3: by_name["s3"].clone(),
        metrics: by_name["metrics"].clone(),
        admin: by_name.get("admin").cloned(),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some((200, body)) = http_get(&gw.metrics, "/readyz") {
            assert!(body.contains("\"status\":\"ready\""), "{name}: {body}");
            break;
        }
        if let Ok(Some(status)) = gw.child.try_wait() {
            panic!(
                "{name} on {node}: vmgw exited ({status}) with the rendered config:\n{}",
                gw.log()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{name} on {node}: not ready in 60 s:\n{}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    gw
}

/// A plain HTTP/1.1 GET: (status, body).
fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

/// The admin pair the pod gets: from its env (a Secret), else the one the gateway
/// generated in its data directory (on its node's disk).
fn admin_pair(name: &str, gw: &PodGateway) -> (String, String) {
    let env = &case(name)["pod"]["env"];
    if let (Some(a), Some(s)) = (
        env["VMGW_ACCESS_KEY"].as_str(),
        env["VMGW_SECRET_KEY"].as_str(),
    ) {
        return (a.to_owned(), s.to_owned());
    }
    let data_dir = toml(name)["data_dir"].as_str().unwrap();
    let stored = std::fs::read_to_string(format!("{}{data_dir}/credentials.toml", gw.root))
        .expect("generated credentials.toml");
    let field = |key: &str| {
        stored
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key} = ")))
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap_or_else(|| panic!("{key} in credentials.toml: {stored}"))
    };
    (field("access_key"), field("secret_key"))
}

pub(crate) fn s3_client(name: &str, gw: &PodGateway) -> aws_sdk_s3::Client {
    let (access, secret) = admin_pair(name, gw);
    let region = toml(name)["region"].as_str().unwrap().to_owned();
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(region))
        .endpoint_url(format!("http://{}", gw.s3))
        .force_path_style(true)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            access,
            secret,
            None,
            None,
            "helm-chart",
        ))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Files under `dir`, with their contents.
pub(crate) fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(data) = std::fs::read(&path) {
            out.push((path, data));
        }
    }
    out
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// PUTs an object of `class`, reads it back, and returns its bytes.
pub(crate) async fn put_and_get(
    s3: &aws_sdk_s3::Client,
    key: &str,
    class: &str,
    seed: u64,
) -> Vec<u8> {
    let body = pattern(300 << 10, seed);
    s3.put_object()
        .bucket("chart-probe")
        .key(key)
        .storage_class(class.into())
        .body(body.clone().into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("PUT {key} ({class}): {e:?}"));
    let got = vmgw_tests::get_bytes(s3, "chart-probe", key).await;
    assert!(got == body, "{key}: read back other bytes");
    body
}

/// The metric families of a scrape: names as queried (`_total` for counters,
/// `_bucket`/`_sum`/`_count` for histograms).
pub(crate) fn exported_metrics(metrics_addr: &str) -> BTreeSet<String> {
    let (status, body) = http_get(metrics_addr, "/metrics").expect("scrape");
    assert_eq!(status, 200);
    let mut names = BTreeSet::new();
    for line in body.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (family, kind) = rest.split_once(' ').expect("# TYPE name kind");
        match kind.trim() {
            "counter" => {
                names.insert(format!("{family}_total"));
            }
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{family}{suffix}"));
                }
            }
            _ => {
                names.insert(family.to_owned());
            }
        }
    }
    names
}

/// The directory of the `tier`th tier (a local one) on the gateway's node.
pub(crate) fn tier_dir(name: &str, gw: &PodGateway, tier: usize) -> PathBuf {
    let path = toml(name)["tiers"][tier]["path"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: tier {tier} is not local"));
    PathBuf::from(format!("{}{path}", gw.root))
}
