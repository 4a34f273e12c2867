//! The rendered report and the values cases it covers: the constants, the Secrets the values
//! files expect, and accessors into each case's manifests and vmgw.toml.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use vmgw_tests::tls::{TestCa, vmgw_self_signed};
use vmgw_tests::{MOTO_KEY, MOTO_SECRET, output_within, pattern, require_tool, workspace_root};

const KUBE_VERSION: &str = "1.30.0";
const LIMIT: Duration = Duration::from_secs(300);

/// (case, values file relative to the workspace; empty: the chart's defaults).
pub(crate) const CASES: [(&str, &str); 6] = [
    ("default", ""),
    (
        "daemonset-hostnetwork",
        "helm/vmgw/ci/daemonset-hostnetwork-values.yaml",
    ),
    (
        "daemonset-remote",
        "helm/vmgw/ci/daemonset-remote-values.yaml",
    ),
    ("statefulset", "helm/vmgw/ci/statefulset-values.yaml"),
    (
        "remote-tier-encrypted",
        "helm/vmgw/ci/remote-tier-encrypted-values.yaml",
    ),
    ("tls-admin", "helm/vmgw/ci/tls-admin-values.yaml"),
];

/// Values the chart must refuse: (case, file, what the error must say).
pub(crate) const REJECTED: [(&str, &str, &str); 4] = [
    (
        "typo-key",
        "tests/helm/bad-values/typo-key-values.yaml",
        "additional properties 'hostNetwrok' not allowed",
    ),
    (
        "wrong-type",
        "tests/helm/bad-values/wrong-type-values.yaml",
        "at '/hostNetwork': got string, want boolean",
    ),
    (
        "tier-field-typo",
        "tests/helm/bad-values/tier-field-typo-values.yaml",
        "additional properties 'high_watermak' not allowed",
    ),
    (
        "daemonset-node-name-override",
        "tests/helm/bad-values/daemonset-node-name-override-values.yaml",
        "extraEnv: VMGW_NODE_NAME is set by the chart to the pod's node name (spec.nodeName)",
    ),
];

/// What the chart renders before the node's name for daemonset-remote-values.yaml's remote
/// tier (the file says `vms/cluster1`; the chart adds the `/`), and the node names the test's
/// two gateways run as.
pub(crate) const DAEMONSET_REMOTE_PREFIX: &str = "vms/cluster1/";
pub(crate) const NODE_A: &str = "node-a";
pub(crate) const NODE_B: &str = "node-b";

/// The report, and the Secrets that the values files expect to exist already (as an
/// operator would have made them), written once for all tests.
pub(crate) struct Fixture {
    pub(crate) report: Value,
    pub(crate) tls_cert: PathBuf,
}

pub(crate) fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("helm_chart");
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(work.join("tls")).expect("work dir");
        let (cert, key) = vmgw_self_signed(&work.join("tls"));
        let existing = work.join("existing-secrets.yaml");
        std::fs::write(&existing, existing_secrets(&cert, &key)).expect("write the Secrets");

        let mut cmd = Command::new(require_tool("python3"));
        cmd.current_dir(workspace_root())
            .arg("tests/helm/render_and_validate.py")
            .args(["--chart", "helm/vmgw", "--kube-version", KUBE_VERSION])
            .arg("--report")
            .arg(work.join("report.json"))
            .arg("--root")
            .arg(work.join("pods"))
            .arg("--existing")
            .arg(&existing);
        for (case, file) in CASES {
            cmd.arg("--case").arg(format!("{case}={file}"));
        }
        for (case, file, _) in REJECTED {
            cmd.arg("--reject").arg(format!("{case}={file}"));
        }
        let started = Instant::now();
        let out = output_within(&mut cmd, LIMIT);
        assert!(
            out.status.success(),
            "render_and_validate.py failed ({}); scripts/install-test-deps installs its packages:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("rendered, linted and validated in {:?}", started.elapsed());
        let text = std::fs::read_to_string(work.join("report.json")).expect("the report");
        Fixture {
            report: serde_json::from_str(&text).expect("the report is JSON"),
            tls_cert: cert,
        }
    })
}

/// The Secrets the ci values files name as existingSecret, with keys made up now.
fn existing_secrets(cert: &Path, key: &Path) -> String {
    let b64 = |data: &[u8]| base64_simd::STANDARD.encode_to_string(data);
    let hex = |len: usize| {
        hex_simd::encode_to_string(
            pattern(len, rand::random::<u64>()),
            hex_simd::AsciiCase::Lower,
        )
    };
    let secret = |name: &str, kind: &str, data: &[(&str, Vec<u8>)]| {
        let data: serde_json::Map<String, Value> = data
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String(b64(v))))
            .collect();
        serde_json::json!({
            "apiVersion": "v1", "kind": "Secret", "type": kind,
            "metadata": {"name": name, "namespace": "storage"},
            "data": data,
        })
    };
    let docs = [
        secret(
            "vmgw-admin",
            "Opaque",
            &[
                ("access-key", b"k8sadmin".to_vec()),
                ("secret-key", hex(16).into_bytes()),
            ],
        ),
        secret(
            "vmgw-keys",
            "Opaque",
            &[
                ("hdd-key", hex(32).into_bytes()),
                ("remote-key", hex(32).into_bytes()),
            ],
        ),
        // A remote tier's credentials file; moto, which stands in for the remote, checks none.
        secret(
            "vmgw-remote",
            "Opaque",
            &[(
                "credentials.toml",
                format!("access_key = \"{MOTO_KEY}\"\nsecret_key = \"{MOTO_SECRET}\"\n")
                    .into_bytes(),
            )],
        ),
        secret(
            "vmgw-tls",
            "kubernetes.io/tls",
            &[
                ("tls.crt", std::fs::read(cert).expect("cert")),
                ("tls.key", std::fs::read(key).expect("key")),
            ],
        ),
        secret(
            "vmgw-client-ca",
            "Opaque",
            &[("ca.crt", TestCa::new("guests").cert_pem.into_bytes())],
        ),
    ];
    // JSON documents are YAML documents.
    docs.iter()
        .map(|d| format!("---\n{d}\n"))
        .collect::<String>()
}

pub(crate) fn case(name: &str) -> &'static Value {
    &fixture().report["cases"][name]
}

pub(crate) fn manifests(case_name: &str) -> &'static [Value] {
    case(case_name)["manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("{case_name}: no manifests"))
}

pub(crate) fn of_kind(case_name: &str, kind: &str) -> Vec<&'static Value> {
    manifests(case_name)
        .iter()
        .filter(|m| m["kind"] == kind)
        .collect()
}

pub(crate) fn workload(case_name: &str) -> &'static Value {
    let found: Vec<_> = manifests(case_name)
        .iter()
        .filter(|m| m["kind"] == "DaemonSet" || m["kind"] == "StatefulSet")
        .collect();
    assert_eq!(found.len(), 1, "{case_name}: one workload");
    found[0]
}

pub(crate) fn pod_spec(case_name: &str) -> &'static Value {
    &workload(case_name)["spec"]["template"]["spec"]
}

pub(crate) fn container(case_name: &str) -> &'static Value {
    let containers = pod_spec(case_name)["containers"]
        .as_array()
        .expect("containers");
    assert_eq!(containers.len(), 1, "{case_name}: one container");
    &containers[0]
}

pub(crate) fn volume(case_name: &str, name: &str) -> &'static Value {
    pod_spec(case_name)["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("{case_name}: no volume {name}"))
}

pub(crate) fn toml(case_name: &str) -> &'static Value {
    &case(case_name)["vmgw_toml_parsed"]
}

pub(crate) fn strs(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}
