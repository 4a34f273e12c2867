//! The Kubernetes deployment: the Helm chart in helm/vmgw, its Grafana dashboard, and the
//! container image recipe in packaging/docker.
//!
//! tests/helm/render_and_validate.py lints and renders the chart with Helm's own engine
//! (helm-python-sdk binds Helm's Go SDK: no helm binary exists for this machine) for the
//! default values and every file in helm/vmgw/ci/, validates each manifest (Kubernetes 1.30
//! strict schemas; the ServiceMonitor against prometheus-operator's models), and lays out the
//! files the gateway container would see from its volumes. These tests assert on its report,
//! then start the real vmgw as the pod would (the image's entrypoint, the container's args
//! and env, the rendered vmgw.toml) with only mount paths, listen addresses and the remote
//! endpoint moved to this machine, and check that it gets ready and stores objects on the
//! tiers the chart configured.
//!
//! No container engine exists here, so the Dockerfile is checked statically, not built.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::Digest;
use vmgw_tests::tls::{TestCa, client_config, connect, pem_certs, served_cert, vmgw_self_signed};
use vmgw_tests::{RemoteS3, output_within, pattern, require_tool, vmgw_bin, workspace_root};

const KUBE_VERSION: &str = "1.30.0";
const LIMIT: Duration = Duration::from_secs(300);

/// (case, values file relative to the workspace; empty: the chart's defaults).
const CASES: [(&str, &str); 5] = [
    ("default", ""),
    (
        "daemonset-hostnetwork",
        "helm/vmgw/ci/daemonset-hostnetwork-values.yaml",
    ),
    ("statefulset", "helm/vmgw/ci/statefulset-values.yaml"),
    (
        "remote-tier-encrypted",
        "helm/vmgw/ci/remote-tier-encrypted-values.yaml",
    ),
    ("tls-admin", "helm/vmgw/ci/tls-admin-values.yaml"),
];

/// Values the chart must refuse: (case, file, what the error must say).
const REJECTED: [(&str, &str, &str); 4] = [
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
        "daemonset-remote-tier",
        "tests/helm/bad-values/daemonset-remote-tier-values.yaml",
        "tiers[remote]: in DaemonSet mode every node's gateway would share this bucket",
    ),
];

/// The report, and the Secrets that the values files expect to exist already (as an
/// operator would have made them), written once for all tests.
struct Fixture {
    report: Value,
    tls_cert: PathBuf,
}

fn fixture() -> &'static Fixture {
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
        secret("vmgw-keys", "Opaque", &[("hdd-key", hex(32).into_bytes())]),
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

fn case(name: &str) -> &'static Value {
    &fixture().report["cases"][name]
}

fn manifests(case_name: &str) -> &'static [Value] {
    case(case_name)["manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("{case_name}: no manifests"))
}

fn of_kind(case_name: &str, kind: &str) -> Vec<&'static Value> {
    manifests(case_name)
        .iter()
        .filter(|m| m["kind"] == kind)
        .collect()
}

fn workload(case_name: &str) -> &'static Value {
    let found: Vec<_> = manifests(case_name)
        .iter()
        .filter(|m| m["kind"] == "DaemonSet" || m["kind"] == "StatefulSet")
        .collect();
    assert_eq!(found.len(), 1, "{case_name}: one workload");
    found[0]
}

fn pod_spec(case_name: &str) -> &'static Value {
    &workload(case_name)["spec"]["template"]["spec"]
}

fn container(case_name: &str) -> &'static Value {
    let containers = pod_spec(case_name)["containers"]
        .as_array()
        .expect("containers");
    assert_eq!(containers.len(), 1, "{case_name}: one container");
    &containers[0]
}

fn volume(case_name: &str, name: &str) -> &'static Value {
    pod_spec(case_name)["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("{case_name}: no volume {name}"))
}

fn toml(case_name: &str) -> &'static Value {
    &case(case_name)["vmgw_toml_parsed"]
}

fn strs(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn chart_lints_and_every_manifest_validates() {
    let report = &fixture().report;
    eprintln!(
        "Helm {} (helm-python-sdk {}), kubernetes-validate {}",
        report["helm_sdk_version"],
        report["helm_python_sdk_version"],
        report["kubernetes_validate_version"]
    );
    assert!(
        report["helm_sdk_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("v4.")),
        "{}",
        report["helm_sdk_version"]
    );
    // Every values file in ci/ is one of the cases (a new one cannot be left out).
    let ci: BTreeSet<String> = std::fs::read_dir(workspace_root().join("helm/vmgw/ci"))
        .expect("helm/vmgw/ci")
        .map(|e| {
            format!(
                "helm/vmgw/ci/{}",
                e.expect("entry").file_name().to_string_lossy()
            )
        })
        .collect();
    let listed: BTreeSet<String> = CASES
        .iter()
        .filter(|(_, f)| !f.is_empty())
        .map(|(_, f)| (*f).to_owned())
        .collect();
    assert_eq!(ci, listed);
    assert!(ci.len() >= 3);

    assert_eq!(
        report["existing"]["validation_errors"],
        serde_json::json!([])
    );
    assert_eq!(report["existing"]["validated"].as_array().unwrap().len(), 4);

    for (name, _) in CASES {
        let c = case(name);
        // Lint: no errors or warnings; the only note allowed is the icon Helm recommends
        // (the project has no logo to point at).
        assert_eq!(c["lint"]["errors"], serde_json::json!([]), "{name}");
        for message in c["lint"]["messages"].as_array().expect("messages") {
            assert!(
                message["severity"] == 1 && message["error"] == "icon is recommended",
                "{name}: lint says {message}"
            );
        }
        assert_eq!(
            c["validation_errors"],
            serde_json::json!([]),
            "{name}: invalid manifests"
        );
        let validated = c["validated"].as_array().expect("validated");
        assert_eq!(validated.len(), manifests(name).len(), "{name}");
        for v in validated {
            let schema = v["schema"].as_str().unwrap();
            assert!(
                schema == "kubernetes 1.30 (strict)"
                    || (v["object"].as_str().unwrap().starts_with("ServiceMonitor/")
                        && schema.starts_with("prometheus-operator ServiceMonitor")),
                "{name}: {v}"
            );
        }
        // The validators can fail: a misspelt field is refused by each.
        let canaries = c["canaries"].as_object().expect("canaries");
        assert!(!canaries.is_empty(), "{name}");
        for (kind, error) in canaries {
            let error = error
                .as_str()
                .unwrap_or_else(|| panic!("{name}: a {kind} with a misspelt field was accepted"));
            assert!(
                error.contains("imagePullPolicyy") || error.contains("scrapeIntervall"),
                "{name}: {kind}: {error}"
            );
        }
    }
}

#[test]
fn each_values_file_renders_the_expected_objects() {
    let kinds = |name: &str| -> Vec<String> {
        let mut k: Vec<String> = manifests(name)
            .iter()
            .map(|m| m["kind"].as_str().unwrap().to_owned())
            .collect();
        k.sort();
        k
    };
    let base = ["ConfigMap", "DaemonSet", "Service", "ServiceAccount"];
    assert_eq!(kinds("default"), base);
    assert_eq!(kinds("daemonset-hostnetwork"), base);
    assert_eq!(kinds("tls-admin"), base, "every secret is an existing one");
    assert_eq!(
        kinds("statefulset"),
        [
            "ConfigMap",
            "Secret",
            "Service",
            "Service",
            "ServiceAccount",
            "StatefulSet"
        ]
    );
    assert_eq!(
        kinds("remote-tier-encrypted"),
        [
            "ConfigMap",
            "ConfigMap",
            "Secret",
            "Service",
            "Service",
            "ServiceAccount",
            "ServiceMonitor",
            "StatefulSet"
        ]
    );

    // DaemonSet mode: one gateway per node on the node's own disks, clients kept on their
    // node's gateway.
    for name in ["default", "daemonset-hostnetwork", "tls-admin"] {
        let services = of_kind(name, "Service");
        assert_eq!(
            services[0]["spec"]["internalTrafficPolicy"], "Local",
            "{name}"
        );
        assert!(workload(name)["spec"].get("volumeClaimTemplates").is_none());
        for volume_name in ["data", "tier-ssd", "tier-hdd"] {
            assert_eq!(
                volume(name, volume_name)["hostPath"]["type"],
                "DirectoryOrCreate",
                "{name}: {volume_name}"
            );
        }
    }
    let ds = "daemonset-hostnetwork";
    assert_eq!(pod_spec(ds)["hostNetwork"], true);
    assert_eq!(pod_spec(ds)["dnsPolicy"], "ClusterFirstWithHostNet");
    assert_eq!(volume(ds, "data")["hostPath"]["path"], "/var/lib/vmgw/data");
    assert_eq!(volume(ds, "tier-ssd")["hostPath"]["path"], "/mnt/nvme/vmgw");
    assert_eq!(
        volume(ds, "tier-hdd")["hostPath"]["path"],
        "/mnt/disks/vmgw"
    );
    assert_eq!(
        workload(ds)["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"],
        2
    );
    assert!(pod_spec("default").get("hostNetwork").is_none());
    // Without hostNetwork, the tls-admin file publishes the S3 port on the node instead.
    let ports = container("tls-admin")["ports"].as_array().unwrap();
    assert_eq!(ports[0]["name"], "s3");
    assert_eq!(ports[0]["hostPort"], 443);
    assert_eq!(ports[0]["containerPort"], 9443);

    // StatefulSet mode: one replica whose data and tiers are claims of its own.
    for name in ["statefulset", "remote-tier-encrypted"] {
        let sts = workload(name);
        assert_eq!(sts["spec"]["replicas"], 1, "{name}");
        let headless = format!("{}-headless", sts["metadata"]["name"].as_str().unwrap());
        assert_eq!(sts["spec"]["serviceName"], headless.as_str());
        assert!(
            of_kind(name, "Service")
                .iter()
                .any(|s| s["metadata"]["name"] == headless.as_str()
                    && s["spec"]["clusterIP"] == "None"),
            "{name}: the governing headless Service"
        );
        let names: Vec<&str> = pod_spec(name)["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        assert!(
            !names.contains(&"data") && !names.contains(&"tier-ssd"),
            "{names:?}"
        );
    }
    let claims = |name: &str| -> BTreeMap<String, (String, String)> {
        workload(name)["spec"]["volumeClaimTemplates"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: volumeClaimTemplates"))
            .iter()
            .map(|c| {
                (
                    c["metadata"]["name"].as_str().unwrap().to_owned(),
                    (
                        c["spec"]["resources"]["requests"]["storage"]
                            .as_str()
                            .unwrap()
                            .to_owned(),
                        c["spec"]["storageClassName"]
                            .as_str()
                            .unwrap_or("")
                            .to_owned(),
                    ),
                )
            })
            .collect()
    };
    let sts = claims("statefulset");
    assert_eq!(
        sts.keys().collect::<Vec<_>>(),
        ["data", "tier-hdd", "tier-ssd"]
    );
    assert_eq!(sts["tier-ssd"], ("100Gi".into(), "local-nvme".into()));
    assert_eq!(sts["tier-hdd"], ("1Ti".into(), "local-hdd".into()));
    let remote = claims("remote-tier-encrypted");
    assert_eq!(
        remote.keys().collect::<Vec<_>>(),
        ["data", "tier-ssd"],
        "the remote tier has no volume"
    );
    let service = &of_kind("statefulset", "Service")[0];
    assert_eq!(service["spec"]["type"], "NodePort");
    assert_eq!(service["spec"]["ports"][0]["nodePort"], 30900);
    assert_eq!(service["spec"]["internalTrafficPolicy"], "Cluster");

    // Inline secrets land in the chart's Secret, never in the ConfigMap.
    let secret = &of_kind("remote-tier-encrypted", "Secret")[0];
    let keys: Vec<&String> = secret["data"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["key-1", "key-2", "remote-remote.toml"]);
    let config = case("remote-tier-encrypted")["vmgw_toml"].as_str().unwrap();
    assert!(!config.contains("minio-secret-key-for-ci") && !config.contains("00112233"));
}

#[test]
fn pods_are_locked_down_and_probed_on_the_metrics_listener() {
    for (name, _) in CASES {
        let pod = pod_spec(name);
        let c = container(name);
        let security = &pod["securityContext"];
        assert_eq!(security["runAsNonRoot"], true, "{name}");
        assert!(security["runAsUser"].as_u64().unwrap() > 0, "{name}");
        assert!(security["fsGroup"].as_u64().is_some(), "{name}");
        assert_eq!(security["seccompProfile"]["type"], "RuntimeDefault");
        let security = &c["securityContext"];
        assert_eq!(security["readOnlyRootFilesystem"], true, "{name}");
        assert_eq!(security["runAsNonRoot"], true, "{name}");
        assert_eq!(security["allowPrivilegeEscalation"], false, "{name}");
        assert_eq!(strs(&security["capabilities"]["drop"]), ["ALL"], "{name}");
        assert_eq!(security["seccompProfile"]["type"], "RuntimeDefault");
        assert!(c["resources"]["requests"]["cpu"].is_string(), "{name}");
        assert!(c["resources"]["requests"]["memory"].is_string(), "{name}");
        assert_eq!(pod["automountServiceAccountToken"], false, "{name}");

        // Probes: on the plain-HTTP metrics listener that vmgw.toml configures.
        let metrics_port = c["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "metrics")
            .expect("a metrics port")["containerPort"]
            .as_u64()
            .unwrap();
        let listen = toml(name)["metrics"]["listen"].as_str().unwrap();
        assert_eq!(listen, format!("0.0.0.0:{metrics_port}"), "{name}");
        for (probe, path) in [
            ("livenessProbe", "/healthz"),
            ("readinessProbe", "/readyz"),
            ("startupProbe", "/healthz"),
        ] {
            assert_eq!(c[probe]["httpGet"]["path"], path, "{name}: {probe}");
            assert_eq!(c[probe]["httpGet"]["port"], "metrics", "{name}: {probe}");
        }
        // The image's entrypoint (`vmgw serve`) runs; the chart gives only its arguments.
        assert!(c.get("command").is_none(), "{name}");
        assert_eq!(strs(&c["args"]), ["--config", "/etc/vmgw/vmgw.toml"]);

        // A config change rolls the pods: the annotation is the config's hash.
        let config_map = of_kind(name, "ConfigMap")
            .into_iter()
            .find(|m| m["data"]["vmgw.toml"].is_string())
            .unwrap();
        let text = config_map["data"]["vmgw.toml"].as_str().unwrap();
        let hash = hex_simd::encode_to_string(
            sha2::Sha256::digest(text.strip_suffix('\n').unwrap_or(text)),
            hex_simd::AsciiCase::Lower,
        );
        let annotations = &workload(name)["spec"]["template"]["metadata"]["annotations"];
        assert_eq!(annotations["checksum/config"], hash.as_str(), "{name}");
        assert!(annotations["checksum/secret"].is_string(), "{name}");
    }
}

#[test]
fn every_path_in_the_config_is_a_volume_of_the_pod() {
    for (name, _) in CASES {
        let mounts: Vec<(String, String, bool)> = case(name)["pod"]["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["path"].as_str().unwrap().to_owned(),
                    m["kind"].as_str().unwrap().to_owned(),
                    m["readOnly"].as_bool().unwrap(),
                )
            })
            .collect();
        let mount_of = |path: &str| {
            mounts
                .iter()
                .filter(|(m, _, _)| path == m || path.starts_with(&format!("{m}/")))
                .max_by_key(|(m, _, _)| m.len())
                .unwrap_or_else(|| panic!("{name}: {path} is on the read-only root filesystem"))
        };
        let config = toml(name);
        // What vmgw writes: the data directory and the local tiers.
        let mut writable = vec![config["data_dir"].as_str().unwrap().to_owned()];
        let mut secret_files = Vec::new();
        for tier in config["tiers"].as_array().unwrap() {
            if let Some(path) = tier["path"].as_str() {
                writable.push(path.to_owned());
            }
            if let Some(file) = tier["credentials_file"].as_str() {
                secret_files.push(file.to_owned());
            }
        }
        for key in config["encryption"]["keys"]
            .as_array()
            .into_iter()
            .flatten()
        {
            secret_files.push(key["file"].as_str().unwrap().to_owned());
        }
        for field in ["cert_file", "key_file", "client_ca_file"] {
            if let Some(file) = config["tls"][field].as_str() {
                secret_files.push(file.to_owned());
            }
        }
        for path in &writable {
            let (_, kind, read_only) = mount_of(path);
            assert!(
                !read_only && kind != "secret" && kind != "configMap",
                "{name}: {path}"
            );
        }
        for file in &secret_files {
            let (_, kind, read_only) = mount_of(file);
            assert!(
                *read_only && (kind == "secret" || kind == "projected"),
                "{name}: {file} is on a {kind} volume"
            );
            let on_disk = format!("{}{file}", case(name)["pod"]["root"].as_str().unwrap());
            assert!(
                Path::new(&on_disk).is_file(),
                "{name}: {file} was not projected"
            );
        }
        // Tier names are the chart's tier names, in order.
        let tiers: Vec<&str> = config["tiers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        let expected: &[&str] = if name == "remote-tier-encrypted" {
            &["ssd", "remote"]
        } else {
            &["ssd", "hdd"]
        };
        assert_eq!(tiers, expected, "{name}");
    }
    let remote = toml("remote-tier-encrypted");
    assert_eq!(remote["tiers"][1]["kind"], "s3");
    assert_eq!(remote["tiers"][1]["encrypt"], true);
    assert_eq!(remote["encryption"]["active_key"], 2);
    assert_eq!(remote["lifecycle"]["day_seconds"], 0.5);
    let tls = toml("tls-admin");
    assert_eq!(tls["tls"]["require_client_cert"], false);
    assert_eq!(tls["admin"]["listen"], "0.0.0.0:9444");
    assert_eq!(tls["encryption"]["keys"][0]["id"], 7);
}

#[test]
fn servicemonitor_and_dashboard_are_wired_to_the_metrics() {
    let name = "remote-tier-encrypted";
    let monitor = &of_kind(name, "ServiceMonitor")[0];
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], "metrics");
    assert_eq!(endpoint["path"], "/metrics");
    assert_eq!(endpoint["interval"], "15s");
    assert_eq!(monitor["metadata"]["labels"]["release"], "prometheus");
    assert_eq!(endpoint["relabelings"][0]["targetLabel"], "node");
    // It selects the Service that carries the metrics port.
    let service = &of_kind(name, "Service")[0];
    for (k, v) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(&service["metadata"]["labels"][k], v);
    }
    assert!(
        service["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "metrics")
    );

    let dashboard_map = of_kind(name, "ConfigMap")
        .into_iter()
        .find(|m| m["data"]["vmgw.json"].is_string())
        .expect("the dashboard ConfigMap");
    assert_eq!(
        dashboard_map["metadata"]["labels"]["grafana_dashboard"],
        "1"
    );
    assert_eq!(
        dashboard_map["metadata"]["annotations"]["grafana_folder"],
        "Storage"
    );
    let file = std::fs::read_to_string(workspace_root().join("helm/vmgw/dashboards/vmgw.json"))
        .expect("the dashboard file");
    assert_eq!(
        dashboard_map["data"]["vmgw.json"]
            .as_str()
            .unwrap()
            .trim_end(),
        file.trim_end()
    );

    let dashboard: Value = serde_json::from_str(&file).expect("the dashboard is JSON");
    let variables: BTreeMap<&str, &Value> = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap(), v))
        .collect();
    assert_eq!(variables["datasource"]["type"], "datasource");
    assert_eq!(variables["datasource"]["query"], "prometheus");
    for var in ["node", "instance"] {
        assert_eq!(variables[var]["type"], "query");
        assert_eq!(variables[var]["includeAll"], true);
    }
    let exprs = dashboard_exprs(&dashboard);
    assert!(exprs.len() >= 20, "{} queries", exprs.len());
    for expr in &exprs {
        assert!(
            expr.contains("node=~\"$node\"") && expr.contains("instance=~\"$instance\""),
            "not filtered by node and instance: {expr}"
        );
    }
    // Every metric the issue names is charted.
    let used = dashboard_metrics(&dashboard);
    for metric in [
        "vmgw_requests_total",
        "vmgw_request_duration_seconds_bucket",
        "vmgw_tenant_received_bytes_total",
        "vmgw_tenant_sent_bytes_total",
        "vmgw_bucket_received_bytes_total",
        "vmgw_bucket_sent_bytes_total",
        "vmgw_tier_blobs",
        "vmgw_tier_stored_bytes",
        "vmgw_tier_capacity_bytes",
        "vmgw_tier_free_bytes",
        "vmgw_tier_moves_total",
        "vmgw_tier_moved_bytes_total",
        "vmgw_tier_queued_moves",
        "vmgw_lifecycle_actions_total",
        "vmgw_lifecycle_failures_total",
        "vmgw_lifecycle_objects_examined_total",
        "vmgw_lifecycle_scheduled_objects",
        "vmgw_metadata_store_size_bytes",
        "vmgw_remote_request_duration_seconds_bucket",
        "vmgw_remote_request_errors_total",
    ] {
        assert!(
            used.contains(metric),
            "the dashboard does not chart {metric}"
        );
    }
    // Panels query through the templated data source.
    for panel in dashboard["panels"].as_array().unwrap() {
        if panel["type"] != "row" {
            assert_eq!(
                panel["datasource"]["uid"], "${datasource}",
                "{}",
                panel["title"]
            );
        }
    }
}

fn dashboard_exprs(dashboard: &Value) -> Vec<String> {
    dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .map(|t| t["expr"].as_str().unwrap().to_owned())
        .collect()
}

/// Every `vmgw_...` name in the dashboard's queries.
fn dashboard_metrics(dashboard: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for expr in dashboard_exprs(dashboard) {
        let mut rest = expr.as_str();
        while let Some(at) = rest.find("vmgw_") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            names.insert(tail[..end].to_owned());
            rest = &tail[end..];
        }
    }
    names
}

#[test]
fn values_that_break_the_schema_or_the_chart_are_refused() {
    for (name, _, expected) in REJECTED {
        let outcome = &fixture().report["rejected"][name];
        let error = outcome["render_error"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: rendered without error"));
        assert!(error.contains(expected), "{name}: {error}");
        // Schema violations fail lint as well (a chart's `fail` is lenient under lint).
        if error.starts_with("HelmValuesError") {
            let lint_errors = outcome["lint"]["errors"].as_array().unwrap();
            assert!(
                lint_errors
                    .iter()
                    .any(|e| e.as_str().unwrap().contains(expected)),
                "{name}: lint did not report it: {lint_errors:?}"
            );
        }
    }
}

#[test]
fn dockerfile_builds_what_the_chart_runs() {
    let root = workspace_root();
    let dockerfile = std::fs::read_to_string(root.join("packaging/docker/Dockerfile"))
        .expect("packaging/docker/Dockerfile");
    let instructions = dockerfile_instructions(&dockerfile);
    let of = |op: &str| -> Vec<&str> {
        instructions
            .iter()
            .filter(|(o, _)| o == op)
            .map(|(_, a)| a.as_str())
            .collect()
    };
    let stages = of("FROM");
    assert_eq!(
        stages.len(),
        2,
        "a build stage and a runtime stage: {stages:?}"
    );
    assert!(
        stages[0].starts_with("rust:1.95-slim-bookworm AS build"),
        "{stages:?}"
    );
    assert_eq!(stages[1], "gcr.io/distroless/cc-debian12:nonroot");

    // The binaries it builds are the workspace's, built as locked.
    let run = of("RUN").join(" ");
    assert!(run.contains("cargo build --release --locked"), "{run}");
    let workspace_bins = workspace_bin_names(&root);
    for bin in ["vmgw", "vmgw-mount"] {
        assert!(run.contains(&format!("--bin {bin} ")), "{run}");
        assert!(
            workspace_bins.contains(bin),
            "{bin} is not a workspace binary"
        );
        assert!(run.contains(&format!("target/release/{bin} /out/usr/local/bin/{bin}")));
    }
    assert!(of("COPY").contains(&"--from=build /out/usr/local/bin/ /usr/local/bin/"));

    // Runs as a numeric non-root user, the one the chart runs as.
    let user = of("USER");
    assert_eq!(user.len(), 1);
    let uid: u64 = user[0]
        .split(':')
        .next()
        .unwrap()
        .parse()
        .expect("numeric UID");
    assert_ne!(uid, 0);
    let chart_uid = &fixture().report["default_values"]["securityContext"]["runAsUser"];
    assert_eq!(chart_uid.as_u64(), Some(uid));

    // The entrypoint is `vmgw serve`, which the chart's args follow.
    let entrypoint: Vec<String> =
        serde_json::from_str(of("ENTRYPOINT")[0]).expect("ENTRYPOINT in exec form");
    assert_eq!(entrypoint, ["/usr/local/bin/vmgw", "serve"]);

    // The image name and version the chart pulls by default.
    let chart = &fixture().report["chart"];
    let image = &fixture().report["default_values"]["image"];
    let app_version = chart["appVersion"].as_str().unwrap();
    let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(
        cargo.contains(&format!("\nversion = \"{app_version}\"\n")),
        "appVersion {app_version} is not the workspace version"
    );
    assert_eq!(image["tag"], "", "the tag defaults to appVersion");
    let repository = image["repository"].as_str().unwrap();
    assert!(dockerfile.contains(&format!(
        "docker build -f packaging/docker/Dockerfile -t {repository}:{app_version} ."
    )));
    let labels = of("LABEL").join(" ");
    assert!(labels.contains(&format!("org.opencontainers.image.title=\"{repository}\"")));
    assert!(labels.contains(&format!(
        "org.opencontainers.image.version=\"{app_version}\""
    )));

    let ignore = std::fs::read_to_string(root.join(".dockerignore")).expect(".dockerignore");
    assert!(ignore.lines().any(|l| l.trim() == "target/"), "{ignore}");
}

/// (instruction, arguments) with continuation lines joined and comments dropped.
fn dockerfile_instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(part) = line.strip_suffix('\\') {
            current.push_str(part.trim());
            current.push(' ');
            continue;
        }
        current.push_str(line);
        let (op, args) = current.split_once(' ').unwrap_or((&current, ""));
        out.push((op.to_ascii_uppercase(), args.trim().to_owned()));
        current.clear();
    }
    out
}

/// `[[bin]]` names of the workspace members.
fn workspace_bin_names(root: &Path) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for member in ["gateway", "mount", "bench"] {
        let manifest = std::fs::read_to_string(root.join(member).join("Cargo.toml")).unwrap();
        for section in manifest.split("[[bin]]").skip(1) {
            let name = section
                .lines()
                .find_map(|l| l.trim().strip_prefix("name = "))
                .expect("a [[bin]] name");
            names.insert(name.trim_matches('"').to_owned());
        }
    }
    names
}

/// A gateway started as the pod would start it.
struct PodGateway {
    child: Child,
    log: PathBuf,
    s3: String,
    metrics: String,
    admin: Option<String>,
}

impl PodGateway {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
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

fn start_pod(name: &str, remote_endpoint: Option<&str>) -> PodGateway {
    let pod = &case(name)["pod"];
    let root = pod["root"].as_str().unwrap();
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
    let log = PathBuf::from(format!("{root}.log"));
    let log_file = std::fs::File::create(&log).expect("log file");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log file"))
        .stderr(log_file)
        .spawn()
        .expect("start vmgw");
    let mut gw = PodGateway {
        child,
        log,
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
                "{name}: vmgw exited ({status}) with the rendered config:\n{}",
                gw.log()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{name}: not ready in 60 s:\n{}",
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
/// generated in its data directory.
fn admin_pair(name: &str) -> (String, String) {
    let env = &case(name)["pod"]["env"];
    if let (Some(a), Some(s)) = (
        env["VMGW_ACCESS_KEY"].as_str(),
        env["VMGW_SECRET_KEY"].as_str(),
    ) {
        return (a.to_owned(), s.to_owned());
    }
    let root = case(name)["pod"]["root"].as_str().unwrap();
    let data_dir = toml(name)["data_dir"].as_str().unwrap();
    let stored = std::fs::read_to_string(format!("{root}{data_dir}/credentials.toml"))
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

fn s3_client(name: &str, gw: &PodGateway) -> aws_sdk_s3::Client {
    let (access, secret) = admin_pair(name);
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
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
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

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// PUTs an object of `class`, reads it back, and returns its bytes.
async fn put_and_get(s3: &aws_sdk_s3::Client, key: &str, class: &str, seed: u64) -> Vec<u8> {
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
fn exported_metrics(metrics_addr: &str) -> BTreeSet<String> {
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

#[test]
fn the_real_gateway_starts_with_every_rendered_config() {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("helm/vmgw/dashboards/vmgw.json")).unwrap(),
    )
    .unwrap();
    let charted = dashboard_metrics(&dashboard);
    for (name, _) in CASES {
        let started = Instant::now();
        let root = case(name)["pod"]["root"].as_str().unwrap().to_owned();
        let config = toml(name);
        let tier_dir = |tier: usize| {
            PathBuf::from(format!(
                "{root}{}",
                config["tiers"][tier]["path"].as_str().unwrap()
            ))
        };
        match name {
            "tls-admin" => {
                let gw = start_pod(name, None);
                assert!(gw.log().contains("listening on https://"), "{}", gw.log());
                // HTTPS on the S3 and admin listeners with the certificate from the Secret.
                let expected = pem_certs(&fixture().tls_cert)[0].clone();
                let tls = client_config(std::slice::from_ref(&expected), None);
                runtime.block_on(async {
                    for addr in [gw.s3.as_str(), gw.admin.as_deref().expect("admin port")] {
                        let stream = connect(&tls, addr)
                            .await
                            .unwrap_or_else(|e| panic!("TLS handshake with {addr}: {e}"));
                        assert_eq!(served_cert(&stream), expected);
                    }
                });
            }
            "remote-tier-encrypted" => runtime.block_on(async {
                let bucket = config["tiers"][1]["bucket"].as_str().unwrap();
                let prefix = config["tiers"][1]["prefix"].as_str().unwrap();
                let moto = RemoteS3::start_with_bucket(bucket).await;
                let gw = start_pod(name, Some(&moto.endpoint()));
                let s3 = s3_client(name, &gw);
                s3.create_bucket()
                    .bucket("chart-probe")
                    .send()
                    .await
                    .expect("create bucket");
                let hot = put_and_get(&s3, "hot.bin", "STANDARD", 1).await;
                let cold = put_and_get(&s3, "cold.bin", "GLACIER", 2).await;
                // The ssd tier holds a sealed blob: no plaintext on disk.
                let blobs = files_under(&tier_dir(0));
                assert!(!blobs.is_empty(), "nothing on the ssd tier");
                assert!(blobs.iter().all(|(_, d)| !contains(d, &hot[..4096])));
                // GLACIER went to the remote bucket under the chart's prefix, sealed too.
                let remote = moto.objects(bucket).await;
                assert!(
                    remote
                        .iter()
                        .any(|(k, size)| k.starts_with(prefix) && *size > 0),
                    "{remote:?}"
                );
                for (key, _) in &remote {
                    let data = vmgw_tests::get_bytes(&moto.sdk(), bucket, key).await;
                    assert!(!contains(&data, &cold[..4096]), "{key} holds plaintext");
                }
                let exported = exported_metrics(&gw.metrics);
                for metric in &charted {
                    assert!(
                        exported.contains(metric),
                        "the dashboard charts {metric}, which vmgw does not export: {exported:?}"
                    );
                }
            }),
            _ => runtime.block_on(async {
                let gw = start_pod(name, None);
                let s3 = s3_client(name, &gw);
                s3.create_bucket()
                    .bucket("chart-probe")
                    .send()
                    .await
                    .expect("create bucket");
                put_and_get(&s3, "hot.bin", "STANDARD", 3).await;
                assert!(
                    !files_under(&tier_dir(0)).is_empty(),
                    "{name}: nothing on ssd"
                );
                if config["storage_classes"]["GLACIER"] == "hdd" {
                    put_and_get(&s3, "cold.bin", "GLACIER", 4).await;
                    assert!(
                        !files_under(&tier_dir(1)).is_empty(),
                        "{name}: nothing on hdd"
                    );
                }
            }),
        }
        eprintln!(
            "{name}: the gateway ran with the rendered config ({:?})",
            started.elapsed()
        );
    }
}
