//! Tenant isolation under load: one tenant ("victim") GETs 64 KiB objects at a steady
//! `--qos-victim-rate` (an open loop, as a guest serving its own users would: a closed loop
//! flat out would saturate both cores by itself, and its "idle" latency would already be
//! queueing) while another ("hammer") PUTs and GETs 8 MiB objects from
//! `--qos-hammer-clients` clients as fast as the gateway lets it. The victim's GET p99 is measured idle, during an unlimited hammer
//! (what a gateway without QoS gives), and during the same hammer with a request-rate and
//! bandwidth limit on its tenant (`vmgw qos set`). The goal: limited p99 ≤ 2× idle.
//!
//! Tenants are made with the real `vmgw vm add`; the hammer ignores its 503 SlowDown
//! refusals and keeps going, as a misbehaving guest would.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::body::pattern;
use crate::cli::Plan;
use crate::client::S3;
use crate::error::{BenchError, Result};
use crate::report::{Row, summary_row};
use crate::server::Launch;

use super::row;
use super::tiered::{TierServer, tier_toml};
use crate::stats::Sample;

const VICTIM_SIZE: usize = 64 << 10;
const VICTIM_OBJECTS: u64 = 64;
const HAMMER_SIZE: usize = 8 << 20;
const VICTIM_CLIENTS: usize = 2;

struct Tenant {
    access_key: String,
    secret_key: String,
}

fn vm_add(launch: &Launch, data_dir: &std::path::Path, name: &str) -> Result<Tenant> {
    let out = Command::new(&launch.bin)
        .args(["vm", "add", name, "--format", "json", "--data-dir"])
        .arg(data_dir)
        .output()
        .map_err(|e| BenchError::Check(format!("vmgw vm add: {e}")))?;
    if !out.status.success() {
        return Err(BenchError::Check(format!(
            "vmgw vm add {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| BenchError::Check(format!("vm add output: {e}")))?;
    let field = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    Ok(Tenant {
        access_key: field("access_key"),
        secret_key: field("secret_key"),
    })
}

fn qos_set(launch: &Launch, data_dir: &std::path::Path, args: &[String]) -> Result<()> {
    let out = Command::new(&launch.bin)
        .args(["qos", "set"])
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .map_err(|e| BenchError::Check(format!("vmgw qos set: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(BenchError::Check(format!(
            "vmgw qos set: {}",
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

pub async fn run(launch: &Launch, plan: &Plan) -> Result<Vec<Row>> {
    let config = tier_toml("ssd", None, false) + &tier_toml("hdd", None, false);
    let mut t = TierServer::start(launch, plan, &config, &[]).await?;
    let result = measure(launch, &mut t, plan).await;
    t.finish(result)
}

/// The hammer: PUT then GET of its own 8 MiB object per client, without pause, refusals
/// counted and ignored. It runs on a runtime (and threads) of its own, as another guest
/// would: on the victim's runtime its body copies would delay the victim's tasks in the
/// client, which no server can prevent.
struct Hammer {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    runtime: tokio::runtime::Runtime,
}

impl Hammer {
    fn start(clients: Vec<S3>) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("hammer")
            .enable_all()
            .build()
            .map_err(|e| BenchError::Check(format!("hammer runtime: {e}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let refused = Arc::new(AtomicU64::new(0));
        let body = pattern(HAMMER_SIZE, 17);
        let tasks = clients
            .into_iter()
            .enumerate()
            .map(|(w, s3)| {
                let (stop, done, refused, body) = (
                    Arc::clone(&stop),
                    Arc::clone(&done),
                    Arc::clone(&refused),
                    body.clone(),
                );
                runtime.spawn(async move {
                    let key = format!("hammer/{w}");
                    while !stop.load(Ordering::Relaxed) {
                        let ok =
                            s3.put(&key, body.clone()).await.is_ok() && s3.get(&key).await.is_ok();
                        let counter = if ok { &done } else { &refused };
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        Ok(Self {
            stop,
            done,
            refused,
            tasks,
            runtime,
        })
    }

    /// Stops at once: rounds still under way are abandoned, not waited for (a paced one
    /// could take seconds), so the counts cover the measured window only.
    async fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks {
            let _ = task.await;
        }
        let counts = (
            self.done.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        );
        // Dropping a runtime blocks: not on this runtime's threads.
        let runtime = self.runtime;
        let _ = tokio::task::spawn_blocking(move || drop(runtime)).await;
        counts
    }
}

async fn measure(launch: &Launch, t: &mut TierServer, plan: &Plan) -> Result<Vec<Row>> {
    let data_dir = t.server.data_dir.clone();
    let endpoint = t.server.endpoint.clone();
    let victim = vm_add(launch, &data_dir, "victim")?;
    let hammer = vm_add(launch, &data_dir, "hammer")?;
    let as_tenant = |tenant: &Tenant, bucket: &str| {
        S3::new_as(
            &endpoint,
            bucket,
            plan.client,
            &tenant.access_key,
            &tenant.secret_key,
        )
    };
    let victims: Vec<S3> = (0..VICTIM_CLIENTS)
        .map(|_| as_tenant(&victim, "victim"))
        .collect();
    let body = pattern(VICTIM_SIZE, 5);
    for i in 0..VICTIM_OBJECTS {
        victims[0].put(&format!("v/{i}"), body.clone()).await?;
    }
    let rate = plan.qos_victim_rate;
    let duration = plan.qos_duration;
    let victim_run = || paced_gets(victims.clone(), rate, duration);
    let hammer_clients = plan.qos_hammer_clients;
    let limits = [
        "hammer".to_owned(),
        "--rate".to_owned(),
        format!("{}/s", plan.qos_rate),
        "--bandwidth".to_owned(),
        format!("{}MiB/s", plan.qos_bandwidth_mib),
    ];

    let mut rows = Vec::new();
    t.ctx.settle().await?;
    let (idle, usage) = t.ctx.measure(victim_run()).await?;
    let idle_p99 = idle.percentiles_ms().1;
    let mut r = row(
        "qos-get-64KiB-p99-idle".into(),
        format!("Victim tenant GET 64 KiB at {rate}/s, alone: p99"),
        "ms",
        idle_p99,
        &idle,
        usage,
    );
    r.note = format!("{:.0} GET/s", idle.ops_per_sec());
    rows.push(r);

    let mut p99s = Vec::new();
    for limited in [false, true] {
        if limited {
            qos_set(launch, &data_dir, &limits)?;
        }
        let load = Hammer::start(
            (0..hammer_clients)
                .map(|_| as_tenant(&hammer, "hammer"))
                .collect(),
        )?;
        // Let the hammer reach full speed before the clock starts.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let measured = t.ctx.measure(victim_run()).await;
        let (rounds, refused) = load.stop().await;
        let (hammered, usage) = measured?;
        let p99 = hammered.percentiles_ms().1;
        let (id, label) = if limited {
            (
                "qos-get-64KiB-p99-hammer-limited",
                format!(
                    "Victim GET 64 KiB while another tenant hammers, limited to {}/s and {} MiB/s: p99",
                    plan.qos_rate, plan.qos_bandwidth_mib
                ),
            )
        } else {
            (
                "qos-get-64KiB-p99-hammer-unlimited",
                "Victim GET 64 KiB while another tenant hammers, no limits: p99".to_owned(),
            )
        };
        let secs = plan.qos_duration.as_secs_f64() + 0.3;
        let mut r = row(id.into(), label, "ms", p99, &hammered, usage);
        #[allow(clippy::cast_precision_loss)]
        let hammer_mib_s = (rounds * 2 * HAMMER_SIZE as u64) as f64 / crate::stats::MIB / secs;
        r.note = format!(
            "{:.0} victim GET/s; hammer ({hammer_clients} clients, PUT+GET of 8 MiB): {rounds} rounds done, ≥ {hammer_mib_s:.0} MiB/s both ways, {refused} refused",
            hammered.ops_per_sec()
        );
        rows.push(r);
        p99s.push(p99);
    }
    let ratio = |p: f64| if idle_p99 > 0.0 { p / idle_p99 } else { 0.0 };
    rows.push(summary_row(
        "qos-get-64KiB-p99-unlimited-vs-idle",
        "Victim GET p99, hammer without limits / alone",
        "×",
        ratio(p99s[0]),
    ));
    rows.push(summary_row(
        "qos-get-64KiB-p99-limited-vs-idle",
        "Victim GET p99, hammer limited / alone",
        "×",
        ratio(p99s[1]),
    ));
    Ok(rows)
}

/// GETs from every victim client at `rate` per second in all, each at its scheduled
/// moment (a late request does not shift the ones after it), for `duration`.
async fn paced_gets(clients: Vec<S3>, rate: u32, duration: Duration) -> Result<Sample> {
    let start = tokio::time::Instant::now();
    let per_client = f64::from(rate) / clients.len() as f64;
    let interval = Duration::from_secs_f64(1.0 / per_client);
    let mut tasks = Vec::new();
    for (w, s3) in clients.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut sample = Sample::default();
            // Clients offset by a fraction of the interval, so their requests interleave.
            let offset = interval.mul_f64(w as f64 / VICTIM_CLIENTS as f64);
            for i in 0u64.. {
                let at = start + offset + interval.mul_f64(i as f64);
                if at.duration_since(start) >= duration {
                    break;
                }
                tokio::time::sleep_until(at).await;
                let key = format!(
                    "v/{}",
                    (i * VICTIM_CLIENTS as u64 + w as u64) % VICTIM_OBJECTS
                );
                let t0 = std::time::Instant::now();
                let n = s3.get(&key).await?;
                if n != VICTIM_SIZE as u64 {
                    return Err(BenchError::Check(format!("GET {key}: {n} bytes")));
                }
                sample.record(t0.elapsed(), n);
            }
            Ok::<_, BenchError>(sample)
        }));
    }
    let mut merged = Sample::default();
    for task in tasks {
        merged.merge(
            task.await
                .map_err(|e| BenchError::Check(format!("victim panicked: {e}")))??,
        );
    }
    merged.elapsed = start.elapsed();
    Ok(merged)
}
