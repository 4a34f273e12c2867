//! The ServiceMonitor and the Grafana dashboard, and the metrics they query.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use vmgw_tests::workspace_root;

use crate::fixture::of_kind;

#[test]
fn servicemonitor_and_dashboard_are_wired_to_the_metrics() {
    for (name, interval) in [
        ("remote-tier-encrypted", "15s"),
        ("daemonset-remote", "30s"),
    ] {
        let monitor = &of_kind(name, "ServiceMonitor")[0];
        let endpoint = &monitor["spec"]["endpoints"][0];
        assert_eq!(endpoint["port"], "metrics", "{name}");
        assert_eq!(endpoint["path"], "/metrics", "{name}");
        assert_eq!(endpoint["interval"], interval, "{name}");
        assert_eq!(monitor["metadata"]["labels"]["release"], "prometheus");
        // Every node's gateway is a target of its own, labelled with its node.
        assert_eq!(endpoint["relabelings"][0]["targetLabel"], "node", "{name}");
        // It selects the Service that carries the metrics port.
        let service = &of_kind(name, "Service")[0];
        for (k, v) in monitor["spec"]["selector"]["matchLabels"]
            .as_object()
            .unwrap()
        {
            assert_eq!(&service["metadata"]["labels"][k], v, "{name}");
        }
        assert!(
            service["spec"]["ports"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "metrics"),
            "{name}"
        );
    }
    let name = "remote-tier-encrypted";

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
pub(crate) fn dashboard_metrics(dashboard: &Value) -> BTreeSet<String> {
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
