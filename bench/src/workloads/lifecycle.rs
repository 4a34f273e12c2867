//! The lifecycle worker at scale, on a vmgw of its own with one-second lifecycle days:
//!
//! 1. **Populate**: `lifecycle_objects` tiny objects over nine prefixes, 64 clients
//!    (reported, not a target).
//! 2. **Backfill**: ten rules — nine expire their prefix in a million days, so every object
//!    enters the schedule without falling due; the tenth expires probes after one day. The
//!    rate is objects re-indexed per second from the first progress the admin API shows to
//!    the end (the wait for the idle worker's next look is left out and noted).
//! 3. **Due-to-action latency**: probes fall due while the whole population sits in the
//!    schedule (see [`lifecycle_probe`](super::lifecycle_probe)).
//! 4. **Foreground GETs**: 4 KiB GETs for a fixed time with the worker idle, then while it
//!    works through a rule change that makes one prefix (a ninth of the objects) due at
//!    once — re-indexing every object and expiring that prefix.
//!
//! Worker memory is the server's peak RSS during phases 2 and 4 minus its RSS before the
//! rules existed.

use std::time::{Duration, Instant};

use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter,
};
use bytes::Bytes;

use crate::admin::{Admin, LifecycleStatus};
use crate::body::pattern;
use crate::cli::Plan;
use crate::error::{BenchError, Result};
use crate::report::{Row, summary_row};
use crate::server::Launch;
use crate::stats::MIB;

use super::lifecycle_probe::{self, PROBE_PREFIX, quantile};
use super::tiered::TierServer;
use super::{BUCKET, Budget, clients_label, drive, row};

/// One-second days: probes fall due within two seconds of their PUT.
const DAY_SECONDS: i64 = 1;
/// Far enough that nothing of the population falls due during the run.
const FAR_DAYS: i32 = 1_000_000;
const PREFIXES: u64 = 9;
const POPULATE_CLIENTS: usize = 64;
const FOREGROUND_OBJECTS: u64 = 256;
const FOREGROUND_SIZE: usize = 4096;

fn object_key(i: u64) -> String {
    format!("p{}/{i:07}", i % PREFIXES)
}

fn expire_rule(id: &str, prefix: &str, days: i32) -> Result<LifecycleRule> {
    LifecycleRule::builder()
        .id(id)
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
        .status(ExpirationStatus::Enabled)
        .expiration(LifecycleExpiration::builder().days(days).build())
        .build()
        .map_err(|e| BenchError::Check(e.to_string()))
}

/// The ten rules; with `batch_due`, the first prefix's rule expires after one day instead.
fn rules(batch_due: bool) -> Result<BucketLifecycleConfiguration> {
    let mut config = BucketLifecycleConfiguration::builder();
    for d in 0..PREFIXES {
        let days = if batch_due && d == 0 { 1 } else { FAR_DAYS };
        config = config.rules(expire_rule(&format!("far-{d}"), &format!("p{d}/"), days)?);
    }
    config = config.rules(expire_rule("probe", PROBE_PREFIX, 1)?);
    config.build().map_err(|e| BenchError::Check(e.to_string()))
}

pub async fn run(launch: &Launch, plan: &Plan) -> Result<Vec<Row>> {
    let config = format!("[lifecycle]\nday_seconds = {DAY_SECONDS}\n");
    let mut server = TierServer::start(launch, plan, &config, &[]).await?;
    let result = measure(&mut server, plan).await;
    server.finish(result)
}

async fn status(admin: &Admin) -> Result<LifecycleStatus> {
    admin.lifecycle_status().await
}

/// Polls until the bucket's backfill is over; returns (objects re-indexed per second from
/// the first progress seen, seconds from `since` until that first progress).
async fn wait_backfill(admin: &Admin, since: Instant, limit: Duration) -> Result<(f64, f64)> {
    let mut first: Option<(Instant, u64)> = None;
    loop {
        let s = status(admin).await?;
        let b = s.bucket(BUCKET)?;
        let now = Instant::now();
        if first.is_none() && (b.backfill_reindexed > 0 || !b.backfill_pending) {
            first = Some((now, b.backfill_reindexed));
        }
        if !b.backfill_pending {
            let (t0, n0) = first.unwrap_or((now, 0));
            let secs = now.duration_since(t0).as_secs_f64().max(1e-3);
            #[allow(clippy::cast_precision_loss)]
            let rate = (b.backfill_reindexed - n0) as f64 / secs;
            return Ok((rate, t0.duration_since(since).as_secs_f64()));
        }
        if now.duration_since(since) > limit {
            return Err(BenchError::Check(format!(
                "backfill not done after {limit:?}: {b:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[allow(clippy::too_many_lines, clippy::cast_precision_loss)]
async fn measure(t: &mut TierServer, plan: &Plan) -> Result<Vec<Row>> {
    let n = plan.lifecycle_objects;
    let mut rows = Vec::new();

    // 1. Populate.
    let body = Bytes::from_static(b"lifecycle-bench!");
    let writers = t.ctx.clients(POPULATE_CLIENTS);
    let (put, usage) = t
        .ctx
        .measure(drive(&writers, Budget::Total(n), move |s3, _, i| {
            let body = body.clone();
            async move {
                s3.put(&object_key(i), body).await?;
                Ok(16)
            }
        }))
        .await?;
    drop(writers);
    rows.push(row(
        "lc-populate".into(),
        format!(
            "PUT {n} objects of 16 B, {}",
            clients_label(POPULATE_CLIENTS)
        ),
        "ops/s",
        put.sample.ops_per_sec(),
        &put.sample,
        usage,
    ));
    let fg = t.ctx.clients(plan.tier_latency_clients);
    let fg_body = pattern(FOREGROUND_SIZE, 5);
    for i in 0..FOREGROUND_OBJECTS {
        fg[0].put(&format!("fg/{i}"), fg_body.clone()).await?;
    }
    t.ctx.settle().await?;

    // 2. Backfill.
    let (rss_before, _) = t.ctx.server.rss()?;
    let sdk = fg[0].client.clone();
    let admin = t.admin.clone();
    let ((rate, startup_s), usage_backfill) = t
        .ctx
        .measure(async {
            sdk.put_bucket_lifecycle_configuration()
                .bucket(BUCKET)
                .lifecycle_configuration(rules(false)?)
                .send()
                .await
                .map_err(|e| BenchError::s3("PutBucketLifecycleConfiguration", e))?;
            wait_backfill(&admin, Instant::now(), Duration::from_secs(600)).await
        })
        .await?;
    let indexed = status(&t.admin).await?;
    if indexed.schedule_entries != n {
        return Err(BenchError::Check(format!(
            "{} objects scheduled after the backfill, expected {n}",
            indexed.schedule_entries
        )));
    }
    let mut r = summary_row(
        "lc-backfill-rate",
        &format!("Backfill after a rule change, {n} objects, 10 rules"),
        "objects/s",
        rate,
    );
    r.server_cpu_s = usage_backfill.server_cpu_s;
    r.server_peak_rss_mib = usage_backfill.server_peak_rss as f64 / MIB;
    r.note =
        format!("from the first progress seen; the idle worker took {startup_s:.2} s to start it");
    rows.push(r);

    // 3. Due-to-action latency with the population in the schedule.
    t.ctx.settle().await?;
    let lags = lifecycle_probe::measure(&sdk, plan.lifecycle_probes, DAY_SECONDS, 1).await?;
    let after_probes = status(&t.admin).await?;
    let scheduled = after_probes.schedule_entries;
    for (id, label, value) in [
        ("lc-due-lag-p50", "p50", quantile(&lags, 0.5)),
        ("lc-due-lag-p99", "p99", quantile(&lags, 0.99)),
        ("lc-due-lag-max", "max", quantile(&lags, 1.0)),
    ] {
        let mut r = summary_row(
            id,
            &format!(
                "Due to action, {} probes, {scheduled} scheduled: {label}",
                lags.len()
            ),
            "ms",
            value,
        );
        r.note = format!(
            "HEAD every 5 ms from 50 ms before the due moment; the gateway's own count: {} \
             actions, max lag {} ms",
            after_probes.action_lag.count, after_probes.action_lag.max_ms
        );
        rows.push(r);
    }

    // 4. Foreground GETs, idle then during a batch.
    let get = move |s3: crate::client::S3, w: usize, i: u64| {
        let k = format!("fg/{}", (i * 7 + w as u64) % FOREGROUND_OBJECTS);
        async move {
            match s3.get(&k).await? {
                n if n == FOREGROUND_SIZE as u64 => Ok(n),
                n => Err(BenchError::Check(format!("GET {k}: {n} bytes"))),
            }
        }
    };
    let budget = Budget::For(plan.tier_latency_duration);
    t.ctx.settle().await?;
    let (idle, usage) = t.ctx.measure(drive(&fg, budget, get)).await?;
    let idle_p99 = idle.sample.percentiles_ms().1;
    rows.push(row(
        "lc-get-4KiB-p99-idle".into(),
        format!("GET 4KiB, {}, worker idle: p99", clients_label(fg.len())),
        "ms",
        idle_p99,
        &idle.sample,
        usage,
    ));

    let batch = n.div_ceil(PREFIXES);
    let changed = Instant::now();
    sdk.put_bucket_lifecycle_configuration()
        .bucket(BUCKET)
        .lifecycle_configuration(rules(true)?)
        .send()
        .await
        .map_err(|e| BenchError::s3("PutBucketLifecycleConfiguration", e))?;
    // The clock starts once the worker has picked the change up.
    loop {
        let s = status(&t.admin).await?;
        if s.bucket(BUCKET)?.backfill_reindexed > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let before = status(&t.admin).await?;
    let (busy, usage_busy) = t.ctx.measure(drive(&fg, budget, get)).await?;
    let after = status(&t.admin).await?;
    let (b0, b1) = (before.bucket(BUCKET)?, after.bucket(BUCKET)?);
    let still_working = b1.backfill_pending || b1.expirations - b0.expirations < batch;
    let busy_p99 = busy.sample.percentiles_ms().1;
    let mut r = row(
        "lc-get-4KiB-p99-worker".into(),
        format!("GET 4KiB, {}, worker busy: p99", clients_label(fg.len())),
        "ms",
        busy_p99,
        &busy.sample,
        usage_busy,
    );
    r.note = format!(
        "meanwhile the worker expired {} objects{}; {}",
        b1.expirations - b0.expirations,
        if b0.backfill_pending {
            " and re-indexed the bucket"
        } else {
            ""
        },
        if still_working {
            "it was still working when the GETs stopped"
        } else {
            "it finished before the GETs stopped"
        }
    );
    rows.push(r);
    rows.push(summary_row(
        "lc-get-4KiB-p99-worker-vs-idle",
        "GET 4KiB: p99 with the worker busy / idle",
        "×",
        if idle_p99 > 0.0 {
            busy_p99 / idle_p99
        } else {
            0.0
        },
    ));

    // The batch to its end: the expiration rate, and nothing else expired.
    let deadline = Instant::now() + Duration::from_secs(1200);
    let done = loop {
        let s = status(&t.admin).await?;
        let b = s.bucket(BUCKET)?;
        if !b.backfill_pending && b.expirations >= batch + plan.lifecycle_probes {
            break s;
        }
        if Instant::now() > deadline {
            return Err(BenchError::Check(format!("batch not expired: {b:?}")));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let b = done.bucket(BUCKET)?;
    if b.expirations != batch + plan.lifecycle_probes || b.failures != 0 {
        return Err(BenchError::Check(format!(
            "expected {} expirations and no failures: {b:?}",
            batch + plan.lifecycle_probes
        )));
    }
    let secs = changed.elapsed().as_secs_f64();
    let mut r = summary_row(
        "lc-batch-expire-rate",
        &format!("Expire {batch} objects due at once (rule change to done)"),
        "objects/s",
        batch as f64 / secs,
    );
    r.note = format!("{secs:.1} s, re-indexing {n} objects on the way");
    rows.push(r);

    let peak = usage_backfill
        .server_peak_rss
        .max(usage_busy.server_peak_rss);
    rows.push(summary_row(
        "lc-worker-rss-growth",
        "Worker memory: server peak RSS during backfill and batch minus before",
        "MiB",
        peak.saturating_sub(rss_before) as f64 / MIB,
    ));
    let mut r = summary_row(
        "lc-server-rss-peak",
        "Server peak RSS during backfill and batch",
        "MiB",
        peak as f64 / MIB,
    );
    r.note = format!("{:.1} MiB before the rules", rss_before as f64 / MIB);
    rows.push(r);
    Ok(rows)
}
