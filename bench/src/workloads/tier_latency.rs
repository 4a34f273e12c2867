//! Foreground GET latency while objects move between tiers. For each object size (4 KiB,
//! 1 MiB), 4 clients (`--tier-latency-clients`) GET objects on tier `ssd` round-robin for a fixed time with the gateway
//! otherwise idle, then for the same time while a background task moves large objects
//! ssd→hdd→ssd without pause through the admin API. Reported: p99 of both runs and their
//! ratio (moving / idle).
//!
//! The server runs with `inline_threshold = 0`: by default 4 KiB objects live inside the
//! metadata store and would never touch a tier, so their reads could not meet the moves on
//! the tier's disk.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::admin::Admin;
use crate::body::pattern;
use crate::cli::Plan;
use crate::error::{BenchError, Result};
use crate::report::{Row, summary_row};
use crate::server::Launch;

use super::tiered::{TierServer, check_placement, tier_toml};
use super::{BUCKET, Budget, clients_label, drive, row, size_label};

/// Foreground objects per size: `(size, count)`.
const FOREGROUND: [(u64, u64); 2] = [(4 << 10, 256), (1 << 20, 64)];
/// Large objects the background task keeps moving.
const MOVED_OBJECTS: u64 = 4;

pub async fn run(launch: &Launch, plan: &Plan) -> Result<Vec<Row>> {
    let config = tier_toml("ssd", None, false)
        + &tier_toml("hdd", None, false)
        + "[storage]\ninline_threshold = 0\n";
    let mut tiered = TierServer::start(launch, plan, &config, &[]).await?;
    let result = measure(&mut tiered, plan).await;
    tiered.finish(result)
}

fn key(size: u64, i: u64) -> String {
    format!("lat/{}/{i}", size_label(size))
}

async fn measure(t: &mut TierServer, plan: &Plan) -> Result<Vec<Row>> {
    let clients = plan.tier_latency_clients;
    let workers = t.ctx.clients(clients);
    let s3 = &workers[0];
    for (size, count) in FOREGROUND {
        let body = pattern(size as usize, size);
        for i in 0..count {
            s3.put(&key(size, i), body.clone()).await?;
        }
        check_placement(&t.admin, &[key(size, 0), key(size, count - 1)], "ssd", size).await?;
    }
    let big: Vec<String> = (0..MOVED_OBJECTS).map(|i| format!("lat/big/{i}")).collect();
    {
        let body = pattern(plan.move_size as usize, 91);
        for k in &big {
            s3.put(k, body.clone()).await?;
        }
    }
    check_placement(&t.admin, &big, "ssd", plan.move_size).await?;

    let budget = Budget::For(plan.tier_latency_duration);
    let mut positions = vec![false; big.len()];
    let mut rows = Vec::new();
    for (size, count) in FOREGROUND {
        let label = size_label(size);
        let get = move |s3: crate::client::S3, w: usize, i: u64| {
            let k = key(size, (i * clients as u64 + w as u64) % count);
            async move {
                match s3.get(&k).await? {
                    n if n == size => Ok(n),
                    n => Err(BenchError::Check(format!(
                        "GET {k}: {n} bytes, expected {size}"
                    ))),
                }
            }
        };

        t.ctx.settle().await?;
        let (idle, usage) = t.ctx.measure(drive(&workers, budget, get)).await?;
        let idle_p99 = idle.sample.percentiles_ms().1;
        let mut r = row(
            format!("get-{label}-c{clients}-p99-idle"),
            format!("GET {label} on ssd, {}, idle: p99", clients_label(clients)),
            "ms",
            idle_p99,
            &idle.sample,
            usage,
        );
        r.note = format!("{:.0} GET/s", idle.sample.ops_per_sec());
        rows.push(r);

        let mover = Mover::start(t.admin.clone(), big.clone(), positions);
        // Let the first copy get under way before the clock starts.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let measured = t.ctx.measure(drive(&workers, budget, get)).await;
        let (moved, returned) = mover.stop().await?;
        positions = returned;
        let (moving, usage) = measured?;
        if moved.moves == 0 {
            return Err(BenchError::Check(
                "no move completed while the foreground GETs ran".into(),
            ));
        }
        let moving_p99 = moving.sample.percentiles_ms().1;
        let mut r = row(
            format!("get-{label}-c{clients}-p99-moving"),
            format!(
                "GET {label} on ssd, {}, during moves: p99",
                clients_label(clients)
            ),
            "ms",
            moving_p99,
            &moving.sample,
            usage,
        );
        r.note = format!(
            "{:.0} GET/s; meanwhile {} moves of {} ssd↔hdd, {:.0} MiB/s; server CPU includes \
             the moves",
            moving.sample.ops_per_sec(),
            moved.moves,
            size_label(plan.move_size),
            moved.bytes as f64 / crate::stats::MIB / moved.elapsed.as_secs_f64().max(1e-9)
        );
        rows.push(r);
        rows.push(summary_row(
            &format!("get-{label}-c{clients}-p99-moving-vs-idle"),
            &format!(
                "GET {label}, {}: p99 during moves / idle",
                clients_label(clients)
            ),
            "×",
            if idle_p99 > 0.0 {
                moving_p99 / idle_p99
            } else {
                0.0
            },
        ));
    }
    Ok(rows)
}

/// What a background mover did.
#[derive(Debug, Default)]
struct Moved {
    moves: u64,
    bytes: u64,
    elapsed: Duration,
}

/// Moves objects ssd→hdd→ssd one at a time until stopped.
struct Mover {
    stop: Arc<AtomicBool>,
    task: JoinHandle<Result<(Moved, Vec<bool>)>>,
}

impl Mover {
    /// `on_hdd[i]` says where `keys[i]` is now; each move sends one object to the other tier,
    /// the objects in turn.
    fn start(admin: Admin, keys: Vec<String>, mut on_hdd: Vec<bool>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let mut moved = Moved::default();
            'run: loop {
                for (key, hdd) in keys.iter().zip(on_hdd.iter_mut()) {
                    if flag.load(Ordering::Relaxed) {
                        break 'run;
                    }
                    let to = if *hdd { "ssd" } else { "hdd" };
                    moved.bytes += admin.move_object(BUCKET, key, to).await?.bytes;
                    moved.moves += 1;
                    *hdd = !*hdd;
                }
            }
            moved.elapsed = start.elapsed();
            Ok((moved, on_hdd))
        });
        Self { stop, task }
    }

    /// Stops after the move in progress; returns what was done and where the objects are.
    async fn stop(self) -> Result<(Moved, Vec<bool>)> {
        self.stop.store(true, Ordering::Relaxed);
        self.task
            .await
            .map_err(|e| BenchError::Check(format!("mover panicked: {e}")))?
    }
}
