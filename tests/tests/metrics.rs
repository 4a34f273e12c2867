//! Prometheus metrics and health probes, scraped from the real binary's `[metrics] listen`
//! address while a known workload runs: every counter must move by exactly what the
//! workload did, and readiness must follow the tiers (a local tier gone: unready; the remote
//! tier down: degraded, still serving).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::raw::{Payload, Request};
use common::tenants::{Guest, admin_cmd, vm_add};
use vmgw_tests::{Gateway, RemoteS3, pattern, run, three_tiers_config};

const REMOTE_BUCKET: &str = "vmgw-metrics";

/// The address of the metrics listener, from the start-up log.
fn metrics_addr(gw: &Gateway) -> String {
    gw.announced_url("metrics and probes listening on ")
        .trim_start_matches("http://")
        .to_owned()
}

/// Every sample of a scrape, by its name and labels as written (`name{a="b"}`).
async fn scrape(addr: &str) -> HashMap<String, f64> {
    let response = Request::new("GET", "/metrics").send(addr).await;
    assert_eq!(response.status, 200);
    assert!(
        response
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/openmetrics-text")),
        "{:?}",
        response.header("content-type")
    );
    let text = response.text();
    assert!(text.ends_with("# EOF\n"), "not OpenMetrics: {text}");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').expect("sample line");
            (name.to_owned(), value.parse().expect("sample value"))
        })
        .collect()
}

fn sample(samples: &HashMap<String, f64>, name: &str) -> f64 {
    samples.get(name).copied().unwrap_or(0.0)
}

async fn signed(
    gw: &Gateway,
    guest: &Guest,
    method: &str,
    target: &str,
    body: &[u8],
) -> (u16, usize) {
    let response = Request::new(method, target)
        .body(body.to_vec())
        .signed(
            &gw.addr,
            &guest.access_key,
            &guest.secret_key,
            Payload::Body,
        )
        .send(&gw.addr)
        .await;
    (response.status, response.body.len())
}

#[tokio::test]
async fn counters_move_exactly_as_the_workload_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gw = Gateway::start_with_config(dir.path(), "[metrics]\nlisten = \"127.0.0.1:0\"\n");
    let addr = metrics_addr(&gw);
    let web = vm_add(&gw, "web01", &[]);
    let before = scrape(&addr).await;

    // Five PUTs above the inline limit (each gets a blob on ssd), five GETs of them, two
    // GETs of a missing key.
    let sizes: Vec<usize> = (1..=5).map(|i| 100_000 + i * 1_000).collect();
    for (i, size) in sizes.iter().enumerate() {
        let body = pattern(*size, i as u64);
        let (status, _) = signed(&gw, &web, "PUT", &format!("/web01/obj-{i}"), &body).await;
        assert_eq!(status, 200);
    }
    let mut sent = 0;
    for (i, size) in sizes.iter().enumerate() {
        let (status, len) = signed(&gw, &web, "GET", &format!("/web01/obj-{i}"), b"").await;
        assert_eq!((status, len), (200, *size));
        sent += len;
    }
    for _ in 0..2 {
        let (status, len) = signed(&gw, &web, "GET", "/web01/missing", b"").await;
        assert_eq!(status, 404);
        sent += len;
    }
    let total: usize = sizes.iter().sum();

    let after = scrape(&addr).await;
    let delta = |name: &str| sample(&after, name) - sample(&before, name);
    assert_eq!(
        delta(r#"vmgw_requests_total{operation="PutObject",status="200"}"#),
        5.0
    );
    assert_eq!(
        delta(r#"vmgw_requests_total{operation="GetObject",status="200"}"#),
        5.0
    );
    assert_eq!(
        delta(r#"vmgw_requests_total{operation="GetObject",status="404"}"#),
        2.0
    );
    assert_eq!(
        delta(r#"vmgw_request_duration_seconds_count{operation="PutObject"}"#),
        5.0
    );
    assert_eq!(
        delta(r#"vmgw_request_duration_seconds_bucket{le="+Inf",operation="GetObject"}"#),
        7.0
    );
    assert!(delta(r#"vmgw_request_duration_seconds_sum{operation="PutObject"}"#) > 0.0);
    assert_eq!(
        delta(r#"vmgw_tenant_received_bytes_total{tenant="web01"}"#),
        total as f64
    );
    assert_eq!(
        delta(r#"vmgw_tenant_sent_bytes_total{tenant="web01"}"#),
        sent as f64
    );
    assert_eq!(
        delta(r#"vmgw_bucket_received_bytes_total{bucket="web01"}"#),
        total as f64
    );
    assert_eq!(
        delta(r#"vmgw_bucket_sent_bytes_total{bucket="web01"}"#),
        sent as f64
    );
    assert_eq!(sample(&after, r#"vmgw_tier_blobs{tier="ssd"}"#), 5.0);
    assert_eq!(sample(&after, r#"vmgw_tier_blobs{tier="hdd"}"#), 0.0);
    assert!(sample(&after, r#"vmgw_tier_stored_bytes{tier="ssd"}"#) >= total as f64);
    assert!(sample(&after, r#"vmgw_tier_capacity_bytes{tier="ssd"}"#) > 0.0);
    assert!(sample(&after, "vmgw_metadata_store_size_bytes") > 0.0);

    // Two moves to hdd, one of them of an object already there: the move counters and the
    // tier figures follow.
    for _ in 0..2 {
        run(&mut admin_cmd(
            &gw,
            &["tier", "move", "web01", "obj-2", "hdd"],
        ));
    }
    let moved = scrape(&addr).await;
    assert_eq!(
        sample(
            &moved,
            r#"vmgw_tier_moves_total{tier="hdd",outcome="moved"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &moved,
            r#"vmgw_tier_moves_total{tier="hdd",outcome="already_there"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(&moved, r#"vmgw_tier_moved_bytes_total{tier="hdd"}"#),
        sizes[2] as f64
    );
    assert_eq!(sample(&moved, r#"vmgw_tier_blobs{tier="ssd"}"#), 4.0);
    assert_eq!(sample(&moved, r#"vmgw_tier_blobs{tier="hdd"}"#), 1.0);

    // The admin socket serves the same routes.
    let mut socket = tokio::net::UnixStream::connect(gw.data_dir.join("admin.sock"))
        .await
        .expect("connect to the admin socket");
    tokio::io::AsyncWriteExt::write_all(
        &mut socket,
        b"GET /metrics HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n\r\n",
    )
    .await
    .expect("send");
    let response = common::raw::read_response(&mut socket, false)
        .await
        .expect("an answer");
    assert_eq!(response.status, 200);
    assert!(
        response
            .text()
            .contains(r#"vmgw_tier_moves_total{tier="hdd",outcome="moved"} 1"#),
        "{}",
        response.text()
    );

    // The idle lifecycle worker goes round every second (scan_interval_ms): its rounds
    // count up and the latest is recent.
    let first = scrape(&addr).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let later = scrape(&addr).await;
    let rounds = |s: &HashMap<String, f64>| sample(s, "vmgw_lifecycle_rounds_total");
    assert!(
        rounds(&later) >= rounds(&first) + 1.0,
        "{} -> {}",
        rounds(&first),
        rounds(&later)
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let last = sample(&later, "vmgw_lifecycle_last_round_timestamp_seconds");
    assert!((now - 5.0..=now + 1.0).contains(&last), "{last} vs {now}");
}

#[tokio::test]
async fn readiness_follows_the_tiers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut remote = RemoteS3::start_with_bucket(REMOTE_BUCKET).await;
    let tiers = three_tiers_config(&remote.endpoint(), dir.path(), REMOTE_BUCKET, "");
    let gw = Gateway::start_with_config(
        dir.path(),
        &format!("[metrics]\nlisten = \"127.0.0.1:0\"\n\n{tiers}"),
    );
    let addr = metrics_addr(&gw);
    let probe = |path: &'static str| {
        let addr = addr.clone();
        async move {
            let response = Request::new("GET", path).send(&addr).await;
            (response.status, response.text())
        }
    };
    assert_eq!(probe("/healthz").await, (200, "ok\n".to_owned()));
    let (status, body) = probe("/readyz").await;
    let ready: serde_json::Value = serde_json::from_str(&body).expect("readyz JSON");
    assert_eq!(status, 200, "{body}");
    assert_eq!(ready["status"], "ready", "{body}");
    for tier in ["ssd", "hdd", "remote"] {
        assert_eq!(ready["tiers"][tier], "ok", "{body}");
    }

    // The remote tier down: degraded, still 200 (local objects are served), and fast.
    remote.stop();
    let started = std::time::Instant::now();
    let (status, body) = probe("/readyz").await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let degraded: serde_json::Value = serde_json::from_str(&body).expect("readyz JSON");
    assert_eq!(
        (status, degraded["status"].as_str()),
        (200, Some("degraded")),
        "{body}"
    );
    assert_ne!(degraded["tiers"]["remote"], "ok", "{body}");
    assert_eq!(degraded["tiers"]["ssd"], "ok", "{body}");
    assert_eq!(probe("/healthz").await.0, 200);
    remote.resume();

    // A local tier's directory gone: unready (503) until it is back.
    let hdd = gw.data_dir.join("tiers/hdd");
    let aside = gw.data_dir.join("tiers/hdd-aside");
    std::fs::rename(&hdd, &aside).expect("move the hdd tier away");
    let (status, body) = probe("/readyz").await;
    assert_eq!(status, 503, "{body}");
    let unready: serde_json::Value = serde_json::from_str(&body).expect("readyz JSON");
    assert_eq!(unready["status"], "unready", "{body}");
    assert_ne!(unready["tiers"]["hdd"], "ok", "{body}");
    std::fs::rename(&aside, &hdd).expect("bring the hdd tier back");
    let (status, body) = probe("/readyz").await;
    assert_eq!(status, 200, "{body}");

    // Anything else on the metrics listener is 404, and only GET is served.
    assert_eq!(probe("/v1/tenants").await.0, 404);
    let post = Request::new("POST", "/metrics").send(&addr).await;
    assert_eq!(post.status, 405);
}

/// Requests to the remote tier are timed by operation, and failed ones counted.
#[tokio::test]
async fn remote_tier_requests_are_timed_and_failures_counted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut remote = RemoteS3::start_with_bucket(REMOTE_BUCKET).await;
    let tiers = three_tiers_config(&remote.endpoint(), dir.path(), REMOTE_BUCKET, "");
    let gw = Gateway::start_with_config(
        dir.path(),
        &format!("[metrics]\nlisten = \"127.0.0.1:0\"\n\n{tiers}"),
    );
    let addr = metrics_addr(&gw);
    let s3 = gw.sdk();
    s3.create_bucket().bucket("cold").send().await.unwrap();
    let count = |op: &str| {
        format!("vmgw_remote_request_duration_seconds_count{{tier=\"remote\",operation=\"{op}\"}}")
    };
    let errors = |op: &str| {
        format!("vmgw_remote_request_errors_total{{tier=\"remote\",operation=\"{op}\"}}")
    };

    let before = scrape(&addr).await;
    let data = pattern(300_000, 21);
    s3.put_object()
        .bucket("cold")
        .key("archived")
        .storage_class(aws_sdk_s3::types::StorageClass::Glacier)
        .body(aws_sdk_s3::primitives::ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(vmgw_tests::get_bytes(&s3, "cold", "archived").await, data);
    let after = scrape(&addr).await;
    // One blob under the part size: one upload, and at least one download.
    assert_eq!(
        sample(&after, &count("PutObject")) - sample(&before, &count("PutObject")),
        1.0
    );
    assert!(sample(&after, &count("GetObject")) > sample(&before, &count("GetObject")));
    for op in ["PutObject", "GetObject"] {
        assert_eq!(sample(&after, &errors(op)), 0.0, "{op}");
        let sum = format!(
            "vmgw_remote_request_duration_seconds_sum{{tier=\"remote\",operation=\"{op}\"}}"
        );
        assert!(sample(&after, &sum) > 0.0, "{op} took no time");
    }

    // The remote down: the GET fails fast with 503, and the failed requests are counted.
    remote.stop();
    let failed = s3.get_object().bucket("cold").key("archived").send().await;
    let status = failed
        .as_ref()
        .err()
        .and_then(|e| e.raw_response())
        .map(|r| r.status().as_u16());
    assert_eq!(status, Some(503), "{failed:?}");
    let down = scrape(&addr).await;
    assert!(
        sample(&down, &errors("GetObject")) >= 1.0,
        "failed GETs not counted: {:?}",
        down.iter()
            .filter(|(k, _)| k.starts_with("vmgw_remote_request_errors"))
            .collect::<Vec<_>>()
    );
    remote.resume();
}
