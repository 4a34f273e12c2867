//! The Kubernetes deployment: the Helm chart in helm/vmgw, its Grafana dashboard, and the
//! container image recipe in packaging/docker.
//!
//! tests/helm/render_and_validate.py lints and renders the chart with Helm's own engine
//! (helm-python-sdk binds Helm's Go SDK: no helm binary exists for this machine) for the
//! default values and every file in helm/vmgw/ci/, validates each manifest (Kubernetes 1.30
//! strict schemas; the ServiceMonitor against prometheus-operator's models), and lays out the
//! files the gateway container would see from its volumes. These tests assert on its report,
//! then start the real vmgw as the pod would (the image's entrypoint, the container's args
//! and env, `VMGW_NODE_NAME` as the downward API gives it, the rendered vmgw.toml) with only
//! mount paths, listen addresses and the remote endpoint moved to this machine, and check
//! that it gets ready and stores objects on the tiers the chart configured. For a remote tier
//! in DaemonSet mode, two such gateways (two nodes) share one bucket and must keep each
//! other's data through their orphan sweeps.
//!
//! No container engine exists here, so the Dockerfile is checked statically, not built.

mod dockerfile;
mod fixture;
mod monitoring;
mod nodes;
mod pod;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

use serde_json::Value;
use sha2::Digest;
use vmgw_tests::tls::{client_config, connect, pem_certs, served_cert};
use vmgw_tests::{RemoteS3, workspace_root};

use crate::fixture::{
    CASES, DAEMONSET_REMOTE_PREFIX, NODE_A, REJECTED, case, container, fixture, manifests, of_kind,
    pod_spec, strs, toml, volume, workload,
};
use crate::monitoring::dashboard_metrics;
use crate::nodes::nodes_share_a_remote_bucket;
use crate::pod::{
    contains, exported_metrics, files_under, put_and_get, s3_client, start_pod, tier_dir,
};

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
    assert_eq!(report["existing"]["validated"].as_array().unwrap().len(), 5);

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
        kinds("daemonset-remote"),
        [
            "ConfigMap",
            "DaemonSet",
            "Service",
            "ServiceAccount",
            "ServiceMonitor"
        ],
        "every secret is an existing one"
    );
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
    for name in [
        "default",
        "daemonset-hostnetwork",
        "tls-admin",
        "daemonset-remote",
    ] {
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
    // A remote tier is no volume of the pod: the nodes share it through the S3 endpoint.
    let names: Vec<&str> = pod_spec("daemonset-remote")["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"tier-remote"), "{names:?}");
    assert_eq!(
        volume("daemonset-remote", "tier-hdd")["hostPath"]["path"],
        "/mnt/disks/vmgw"
    );
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
        let expected: &[&str] = match name {
            "remote-tier-encrypted" => &["ssd", "remote"],
            "daemonset-remote" => &["ssd", "hdd", "remote"],
            _ => &["ssd", "hdd"],
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
    // The remote credentials of daemonset-remote come from an existing Secret, projected.
    let ds_remote = toml("daemonset-remote");
    assert_eq!(
        ds_remote["tiers"][2]["credentials_file"],
        "/etc/vmgw/remote/remote.toml"
    );
    assert_eq!(ds_remote["tiers"][2]["encrypt"], true);
    assert_eq!(
        ds_remote["encryption"]["keys"][0]["file"],
        "/etc/vmgw/keys/1.hex"
    );
}

/// In DaemonSet mode each node's gateway keeps its remote blobs under a prefix of its own:
/// the pod gets its node's name from the downward API, and the one ConfigMap every node
/// reads names it, for vmgw to expand at start.
#[test]
fn remote_tiers_get_a_prefix_per_node_in_daemonset_mode() {
    for (name, _) in CASES {
        // The variable, in every mode, from the downward API and nothing else.
        let env = container(name)["env"].as_array().unwrap();
        let node_vars: Vec<&Value> = env
            .iter()
            .filter(|e| e["name"] == "VMGW_NODE_NAME")
            .collect();
        assert_eq!(node_vars.len(), 1, "{name}: {env:?}");
        assert_eq!(
            node_vars[0]["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName",
            "{name}"
        );
        assert!(node_vars[0].get("value").is_none(), "{name}");
        assert_eq!(
            case(name)["pod"]["field_refs"],
            serde_json::json!({"VMGW_NODE_NAME": "spec.nodeName"}),
            "{name}"
        );

        let daemonset = workload(name)["kind"] == "DaemonSet";
        let text = case(name)["vmgw_toml"].as_str().unwrap();
        let remote_prefixes: Vec<&str> = toml(name)["tiers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["kind"] == "s3")
            .map(|t| t["prefix"].as_str().expect("a remote tier's prefix"))
            .collect();
        // The literal reference is in the file (vmgw expands it, not Helm) exactly when
        // there is a remote tier in DaemonSet mode.
        assert_eq!(
            text.contains("${VMGW_NODE_NAME}"),
            daemonset && !remote_prefixes.is_empty(),
            "{name}:\n{text}"
        );
        for prefix in remote_prefixes {
            if daemonset {
                assert!(prefix.ends_with("/${VMGW_NODE_NAME}/"), "{name}: {prefix}");
            } else {
                assert!(!prefix.contains('$'), "{name}: {prefix}");
            }
        }
    }
    // The configured prefixes: `vms/cluster1` gets its `/` before the node's name (vmgw would
    // add it too); StatefulSet mode keeps its prefix as given.
    assert_eq!(
        toml("daemonset-remote")["tiers"][2]["prefix"],
        format!("{DAEMONSET_REMOTE_PREFIX}${{VMGW_NODE_NAME}}/").as_str()
    );
    assert_eq!(
        toml("remote-tier-encrypted")["tiers"][1]["prefix"],
        "cluster1/"
    );
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
fn the_real_gateway_starts_with_every_rendered_config() {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("helm/vmgw/dashboards/vmgw.json")).unwrap(),
    )
    .unwrap();
    let charted = dashboard_metrics(&dashboard);
    for (name, _) in CASES {
        let started = Instant::now();
        let config = toml(name);
        match name {
            "tls-admin" => {
                let gw = start_pod(name, NODE_A, None);
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
                let gw = start_pod(name, NODE_A, Some(&moto.endpoint()));
                let s3 = s3_client(name, &gw);
                s3.create_bucket()
                    .bucket("chart-probe")
                    .send()
                    .await
                    .expect("create bucket");
                let hot = put_and_get(&s3, "hot.bin", "STANDARD", 1).await;
                let cold = put_and_get(&s3, "cold.bin", "GLACIER", 2).await;
                // The ssd tier holds a sealed blob: no plaintext on disk.
                let blobs = files_under(&tier_dir(name, &gw, 0));
                assert!(!blobs.is_empty(), "nothing on the ssd tier");
                assert!(blobs.iter().all(|(_, d)| !contains(d, &hot[..4096])));
                // GLACIER went to the remote bucket under the chart's prefix, as given (one
                // gateway: no node's name in it), sealed too.
                let remote = moto.objects(bucket).await;
                assert!(
                    remote
                        .iter()
                        .any(|(k, size)| k.starts_with(prefix) && *size > 0),
                    "{remote:?}"
                );
                assert!(
                    remote.iter().all(|(k, _)| !k.contains(NODE_A)),
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
            "daemonset-remote" => runtime.block_on(nodes_share_a_remote_bucket(name)),
            _ => runtime.block_on(async {
                let gw = start_pod(name, NODE_A, None);
                let s3 = s3_client(name, &gw);
                s3.create_bucket()
                    .bucket("chart-probe")
                    .send()
                    .await
                    .expect("create bucket");
                put_and_get(&s3, "hot.bin", "STANDARD", 3).await;
                assert!(
                    !files_under(&tier_dir(name, &gw, 0)).is_empty(),
                    "{name}: nothing on ssd"
                );
                if config["storage_classes"]["GLACIER"] == "hdd" {
                    put_and_get(&s3, "cold.bin", "GLACIER", 4).await;
                    assert!(
                        !files_under(&tier_dir(name, &gw, 1)).is_empty(),
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
