//! The workloads, and the measurement around each: server and client CPU seconds before and
//! after, and the server's peak RSS (VmHWM reset before, sampled during, read after).

mod big;
mod codec;
mod driver;
mod large;
mod lifecycle;
mod lifecycle_probe;
mod list;
mod qos;
mod small;
mod tier_get;
mod tier_latency;
mod tier_move;
mod tiered;
mod versioning;

use std::future::Future;
use std::time::{Duration, Instant};

use crate::cli::{Plan, WorkloadKind};
use crate::client::{ClientKind, S3};
use crate::error::Result;
use crate::procfs::{Proc, RssSampler, machine_busy_seconds};
use crate::report::{Row, TargetReport};
use crate::server::{Launch, Server, ServerKind};
use crate::stats::{MIB, Sample};

pub use driver::{Budget, drive};

const BUCKET: &str = "bench";

/// What the workloads share: where to send requests and what to observe.
pub struct Ctx {
    endpoint: String,
    client_kind: ClientKind,
    server: Proc,
    client: Proc,
    sampler: RssSampler,
    peak_reset: bool,
}

/// Resources one measured run used.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub server_cpu_s: f64,
    pub client_cpu_s: f64,
    /// CPU the rest of the machine used meanwhile (other processes; noise).
    pub other_cpu_s: f64,
    pub server_peak_rss: u64,
}

impl Usage {
    /// Adds the resources of another run (CPU adds up, the peak is the larger one).
    pub fn add(&mut self, other: Self) {
        self.server_cpu_s += other.server_cpu_s;
        self.client_cpu_s += other.client_cpu_s;
        self.other_cpu_s += other.other_cpu_s;
        self.server_peak_rss = self.server_peak_rss.max(other.server_peak_rss);
    }
}

impl Ctx {
    /// Observes `server` (CPU, RSS) and sends requests to it with `client_kind`.
    #[must_use]
    pub fn new(server: &Server, client_kind: ClientKind) -> Self {
        let proc = Proc::new(server.pid());
        Self {
            endpoint: server.endpoint.clone(),
            client_kind,
            server: proc,
            client: Proc::current(),
            sampler: RssSampler::start(proc, Duration::from_millis(10)),
            peak_reset: true,
        }
    }

    /// `n` clients, each with its own connection pool.
    #[must_use]
    pub fn clients(&self, n: usize) -> Vec<S3> {
        self.clients_for(BUCKET, n)
    }

    /// `n` clients of another bucket.
    #[must_use]
    pub fn clients_for(&self, bucket: &str, n: usize) -> Vec<S3> {
        (0..n.max(1))
            .map(|_| S3::new(&self.endpoint, bucket, self.client_kind))
            .collect()
    }

    /// Runs `work` and measures the CPU both sides used and the server's peak RSS meanwhile.
    pub async fn measure<T>(
        &mut self,
        work: impl Future<Output = Result<T>>,
    ) -> Result<(T, Usage)> {
        self.peak_reset &= self.server.reset_peak();
        // Let the sampler pass once so a value read before the reset is discarded.
        tokio::time::sleep(Duration::from_millis(30)).await;
        self.sampler.take_peak();
        let cpu = |ctx: &Self| -> Result<[f64; 3]> {
            Ok([
                ctx.server.cpu_seconds()?,
                ctx.client.cpu_seconds()?,
                machine_busy_seconds()?,
            ])
        };
        let before = cpu(self)?;
        let out = work.await?;
        let after = cpu(self)?;
        let [server, client, machine] = [0, 1, 2].map(|i| after[i] - before[i]);
        let (_, hwm) = self.server.rss()?;
        let usage = Usage {
            server_cpu_s: server,
            client_cpu_s: client,
            other_cpu_s: (machine - server - client).max(0.0),
            server_peak_rss: self.sampler.take_peak().max(hwm),
        };
        Ok((out, usage))
    }

    /// Waits (up to 10 s) until the server is idle — e.g. done reclaiming deleted objects — so
    /// background work of one workload is not billed to the next.
    pub async fn settle(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last = self.server.cpu_seconds()?;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = self.server.cpu_seconds()?;
            if now - last < 0.01 {
                break;
            }
            last = now;
        }
        Ok(())
    }
}

/// Builds a result row from a sample and its usage; `value` is in `unit`.
#[must_use]
pub fn row(
    id: String,
    label: String,
    unit: &'static str,
    value: f64,
    sample: &Sample,
    usage: Usage,
) -> Row {
    let (p50_ms, p99_ms) = sample.percentiles_ms();
    Row {
        goal: crate::goals::lookup(&id),
        id,
        label,
        unit,
        value,
        ops: sample.ops,
        wall_s: sample.elapsed.as_secs_f64(),
        p50_ms,
        p99_ms,
        server_cpu_s: usage.server_cpu_s,
        client_cpu_s: usage.client_cpu_s,
        other_cpu_s: usage.other_cpu_s,
        server_peak_rss_mib: usage.server_peak_rss as f64 / MIB,
        note: String::new(),
    }
}

/// `64MiB`, `4KiB` or `1000B`: the size part of result ids and labels.
#[must_use]
pub fn size_label(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b.is_multiple_of(1 << 20) => format!("{}MiB", b >> 20),
        b if b >= 1 << 10 && b.is_multiple_of(1 << 10) => format!("{}KiB", b >> 10),
        b => format!("{b}B"),
    }
}

/// `1 client` or `N clients`.
#[must_use]
pub fn clients_label(n: usize) -> String {
    if n == 1 {
        "1 client".into()
    } else {
        format!("{n} clients")
    }
}

/// Runs the planned workloads: those of the suite on `server` (started by the caller from
/// `launch`, `None` when no planned workload uses it), the tier workloads on servers of
/// their own started from `launch` (vmgw only).
pub async fn run_suite(
    launch: &Launch,
    server: Option<&Server>,
    plan: &Plan,
) -> Result<TargetReport> {
    let target = launch.kind;
    let mut suite = match server {
        Some(server) => {
            let ctx = Ctx::new(server, plan.client);
            ctx.clients(1)[0].create_bucket().await?;
            Some(ctx)
        }
        None => None,
    };
    let mut rows = Vec::new();
    for &kind in &plan.workloads {
        if let Some(ctx) = &suite {
            // Also before a tier workload: the suite's server may still be reclaiming, and
            // would take CPU from the tier workload's server.
            ctx.settle().await?;
        }
        if !kind.uses_suite_server() && target != ServerKind::Vmgw {
            eprintln!("[{target}] {kind:?}: vmgw only, skipped");
            continue;
        }
        eprintln!("[{target}] {kind:?} ...");
        let new_rows = match (kind, suite.as_mut()) {
            (WorkloadKind::Large, Some(ctx)) => large::run(ctx, plan).await?,
            (WorkloadKind::Small, Some(ctx)) => small::run(ctx, plan).await?,
            (WorkloadKind::List, Some(ctx)) => list::run(ctx, plan).await?,
            (WorkloadKind::Big, Some(ctx)) => big::run(ctx, plan).await?,
            (WorkloadKind::TierMove, _) => tier_move::run(launch, plan).await?,
            (WorkloadKind::TierGet, _) => tier_get::run(launch, plan).await?,
            (WorkloadKind::Codec, _) => codec::run(launch, plan).await?,
            (WorkloadKind::TierLatency, _) => tier_latency::run(launch, plan).await?,
            (WorkloadKind::Lifecycle, _) => lifecycle::run(launch, plan).await?,
            (WorkloadKind::Qos, _) => qos::run(launch, plan).await?,
            (WorkloadKind::Versioning, _) => versioning::run(launch, plan).await?,
            // `Plan` expands the group into its members.
            (WorkloadKind::Tiers, _) => Vec::new(),
            (_, None) => {
                return Err(crate::error::BenchError::Check(format!(
                    "{kind:?} needs the suite's server, which was not started"
                )));
            }
        };
        for r in &new_rows {
            eprintln!(
                "[{target}]   {}: {} {}",
                r.label,
                crate::report::num(r.value),
                r.unit
            );
        }
        rows.extend(new_rows);
    }
    let mut report = TargetReport {
        target,
        rows,
        peak_reset: suite.as_ref().is_none_or(|ctx| ctx.peak_reset),
    };
    report.add_rss_summary();
    Ok(report)
}
