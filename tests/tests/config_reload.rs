//! Reloading the configuration of a running gateway (SIGHUP and `vmgw reload`): what may
//! change takes effect at once, and a change that needs a restart is refused as a whole,
//! naming each such setting, with nothing changed.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::tenants::admin_cmd;
use vmgw_tests::{Gateway, pattern, run};

const MIB: u64 = 1 << 20;

/// Two local tiers under `dir`, with the given `ssd` capacity, watermarks and demotion
/// check interval, and a connection limit.
fn config(dir: &std::path::Path, ssd: &str, check_ms: u64, max_connections: u32) -> String {
    format!(
        r#"[[tiers]]
name = "ssd"
path = "{ssd_path}"
{ssd}
[[tiers]]
name = "hdd"
path = "{hdd_path}"

[placement]
check_interval_ms = {check_ms}

[server]
max_connections = {max_connections}

[metrics]
listen = "127.0.0.1:0"
"#,
        ssd_path = dir.join("ssd").display(),
        hdd_path = dir.join("hdd").display(),
    )
}

fn tiers(gw: &Gateway) -> serde_json::Value {
    let out = run(&mut admin_cmd(gw, &["tier", "ls", "--json"]));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn tier<'a>(all: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    all.as_array()
        .expect("tier list")
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no tier {name} in {all}"))
}

fn tier_of(gw: &Gateway, key: &str) -> String {
    let out = run(&mut admin_cmd(
        gw,
        &["object", "where", "reload", key, "--json"],
    ));
    let placement: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    placement["blobs"][0]["tier"]
        .as_str()
        .expect("a blob")
        .to_owned()
}

/// Waits until every key is on `tier`.
fn wait_on_tier(gw: &Gateway, keys: &[&str], tier: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let placed: Vec<String> = keys.iter().map(|k| tier_of(gw, k)).collect();
        if placed.iter().all(|t| t == tier) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not all on {tier} within {limit:?}: {placed:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn scrape_reloads(gw: &Gateway, outcome: &str) -> f64 {
    let addr = gw
        .announced_url("metrics and probes listening on ")
        .trim_start_matches("http://")
        .to_owned();
    let response = common::raw::Request::new("GET", "/metrics")
        .send(&addr)
        .await;
    let wanted = format!("vmgw_config_reloads_total{{outcome=\"{outcome}\"}} ");
    response
        .text()
        .lines()
        .find_map(|l| l.strip_prefix(&wanted))
        .map_or(0.0, |v| v.parse().expect("a number"))
}

async fn put(gw: &Gateway, key: &str, len: usize) {
    gw.sdk()
        .put_object()
        .bucket("reload")
        .key(key)
        .body(ByteStream::from(pattern(len, 3)))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PUT {key}: {e:?}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_takes_over_capacities_intervals_and_connection_limits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("vmgw.toml");
    // An hour between demotion checks: nothing moves unless a reload shortens it.
    let roomy = "capacity = \"100MiB\"";
    let gw = Gateway::start_with_config(dir.path(), &config(dir.path(), roomy, 3_600_000, 1));
    gw.sdk()
        .create_bucket()
        .bucket("reload")
        .send()
        .await
        .unwrap();
    for key in ["a", "b", "c"] {
        put(&gw, key, MIB as usize).await;
    }
    let before = tiers(&gw);
    assert_eq!(tier(&before, "ssd")["total_bytes"], 100 * MIB, "{before}");
    assert_eq!(tier(&before, "ssd")["high_watermark"], 90, "{before}");

    // One connection slot, taken by an idle connection: a second client waits.
    let hog = tokio::net::TcpStream::connect(&gw.addr)
        .await
        .expect("connect");
    let addr = gw.addr.clone();
    let waiting = tokio::spawn(async move {
        let request = common::raw::Request::new("GET", "/reload");
        common::raw::send_bytes(&addr, &request.to_bytes(&addr), false, false).await
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !waiting.is_finished(),
        "a second connection was served beyond max_connections = 1"
    );

    // 2 MiB with marks at 50 % / 25 %: 3 MiB on ssd is far above; checks every 200 ms.
    let tight = "capacity = \"2MiB\"\nhigh_watermark = 50\nlow_watermark = 25";
    std::fs::write(&path, config(dir.path(), tight, 200, 4)).expect("rewrite config");
    gw.signal("HUP");
    gw.wait_for_log("configuration reloaded", 1, Duration::from_secs(10));

    let answered = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the waiting connection is served once the limit is raised")
        .expect("task")
        .expect("a response");
    assert_eq!(
        answered.status,
        403,
        "unsigned request: {}",
        answered.text()
    );
    drop(hog);

    let after = tiers(&gw);
    let ssd = tier(&after, "ssd");
    assert_eq!(ssd["total_bytes"], 2 * MIB, "{after}");
    assert_eq!(
        (
            ssd["high_watermark"].as_u64(),
            ssd["low_watermark"].as_u64()
        ),
        (Some(50), Some(25)),
        "{after}"
    );
    // Demotion to at most 512 KiB on ssd: all three objects go.
    wait_on_tier(&gw, &["a", "b", "c"], "hdd", Duration::from_secs(10));
    // The new check interval holds from then on: a later object over the mark moves too,
    // which an hourly check would not do within the test.
    put(&gw, "d", MIB as usize).await;
    wait_on_tier(&gw, &["d"], "hdd", Duration::from_secs(10));
    for key in ["a", "b", "c", "d"] {
        assert_eq!(
            vmgw_tests::get_bytes(&gw.sdk(), "reload", key).await,
            pattern(MIB as usize, 3),
            "{key} reads back after its move"
        );
    }
    assert_eq!(scrape_reloads(&gw, "applied").await, 1.0);
    assert_eq!(scrape_reloads(&gw, "refused").await, 0.0);
    let log = gw.log();
    assert!(
        log.contains("tiers.ssd:") && log.contains("placement.check_interval"),
        "the reload names what changed:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_needs_a_restart_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("vmgw.toml");
    let original = config(dir.path(), "capacity = \"100MiB\"", 10_000, 64);
    let gw = Gateway::start_with_config(dir.path(), &original);
    gw.sdk()
        .create_bucket()
        .bucket("reload")
        .send()
        .await
        .unwrap();

    // A capacity change (reloadable) next to a moved tier and a new region (not): refused
    // as a whole, both named, the capacity untouched.
    let moved = config(dir.path(), "capacity = \"50MiB\"", 10_000, 64).replace(
        &dir.path().join("hdd").display().to_string(),
        "/srv/elsewhere",
    );
    std::fs::write(&path, format!("region = \"eu-west-1\"\n{moved}")).expect("rewrite");
    let refused = admin_cmd(&gw, &["reload"])
        .output()
        .expect("run vmgw reload");
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success(),
        "a refusal is an error: {message}"
    );
    for named in [
        "need a restart",
        "nothing was changed",
        "tiers.hdd.path",
        "/srv/elsewhere",
        "region (\"us-east-1\" -> \"eu-west-1\")",
    ] {
        assert!(message.contains(named), "{named:?} missing from: {message}");
    }
    assert!(!message.contains("capacity"), "{message}");
    assert_eq!(tier(&tiers(&gw), "ssd")["total_bytes"], 100 * MIB);

    // The same by SIGHUP: logged, counted, nothing changed.
    gw.signal("HUP");
    gw.wait_for_log("need a restart: ", 2, Duration::from_secs(10));
    assert_eq!(scrape_reloads(&gw, "refused").await, 2.0);
    assert_eq!(tier(&tiers(&gw), "ssd")["total_bytes"], 100 * MIB);

    // A file that does not parse: refused too, with the parser's message.
    std::fs::write(&path, "[[tiers]\nname = ").expect("rewrite");
    let invalid = admin_cmd(&gw, &["reload"])
        .output()
        .expect("run vmgw reload");
    let message = String::from_utf8_lossy(&invalid.stderr);
    assert!(!invalid.status.success());
    assert!(
        message.contains("the configuration is invalid") && message.contains("vmgw.toml"),
        "{message}"
    );
    assert_eq!(scrape_reloads(&gw, "invalid").await, 1.0);

    // Still serving; and the reloadable change alone is then taken.
    put(&gw, "still-serving", 1000).await;
    std::fs::write(
        &path,
        config(dir.path(), "capacity = \"50MiB\"", 10_000, 64),
    )
    .expect("w");
    let applied = run(&mut admin_cmd(&gw, &["reload", "--json"]));
    let report: serde_json::Value = serde_json::from_str(&applied).expect("JSON report");
    assert_eq!(report["outcome"], "applied", "{report}");
    assert_eq!(
        report["details"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert_eq!(tier(&tiers(&gw), "ssd")["total_bytes"], 50 * MIB);
    // Reloading the same file again changes nothing, and says so.
    let again = run(&mut admin_cmd(&gw, &["reload"]));
    assert_eq!(again.trim(), "configuration reloaded: nothing changed");
}
