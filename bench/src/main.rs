//! vmgw-bench: starts each target server with a fresh data directory, runs the same S3
//! workloads against it over loopback, and prints the results as Markdown (and JSON).

mod admin;
mod body;
mod cli;
mod client;
mod error;
mod goals;
mod procfs;
mod raw;
mod report;
mod server;
mod stats;
mod text;
mod workloads;

use anyhow::Context as _;
use clap::Parser as _;

use crate::cli::Args;
use crate::report::Report;
use crate::server::{Launch, ServerKind};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let plan = args.plan();

    // Only vmgw runs the tier workloads: without a suite workload there is nothing for
    // another target to do.
    let suite = plan.workloads.iter().any(|w| w.uses_suite_server());
    let kinds: Vec<ServerKind> = args
        .target
        .iter()
        .copied()
        .filter(|&kind| suite || kind == ServerKind::Vmgw)
        .collect();
    anyhow::ensure!(
        !kinds.is_empty(),
        "the tier workloads run on vmgw only: add vmgw to --target"
    );

    // Locate every binary before running anything.
    let mut targets = Vec::new();
    for kind in kinds {
        let bin = match kind {
            ServerKind::Vmgw => {
                anyhow::ensure!(
                    args.vmgw.is_file(),
                    "vmgw binary {} not found: build it with `cargo build --release -p \
                     vmgw-gateway` or pass --vmgw PATH",
                    args.vmgw.display()
                );
                args.vmgw.clone()
            }
            ServerKind::S3sFs => {
                server::locate_s3s_fs(args.s3s_fs.as_deref(), args.install_s3s_fs)?
            }
        };
        targets.push((kind, bin));
    }

    let load_at_start = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let mut reports = Vec::new();
    for (kind, bin) in targets {
        let launch = Launch {
            kind,
            bin,
            work_dir: args.work_dir.clone(),
            env: args.server_env.clone(),
        };
        let server = if suite {
            let server = launch
                .start()
                .with_context(|| format!("starting {kind} ({})", launch.bin.display()))?;
            eprintln!(
                "[{kind}] {} at {} (pid {}, log {})",
                launch.bin.display(),
                server.endpoint,
                server.pid(),
                server.log_path.display()
            );
            Some(server)
        } else {
            None
        };
        let result = workloads::run_suite(&launch, server.as_ref(), &plan).await;
        let log = match (&result, &server) {
            (Err(_), Some(server)) => server.log_tail(40),
            _ => String::new(),
        };
        if let Some(server) = server {
            server.stop();
        }
        reports.push(result.with_context(|| {
            if log.is_empty() {
                format!("benchmarking {kind}")
            } else {
                format!("benchmarking {kind}; server log tail:\n{log}")
            }
        })?);
    }

    let report = Report {
        plan: &plan,
        cpus: std::thread::available_parallelism().map_or(0, usize::from),
        load_at_start,
        targets: &reports,
    };
    println!("{}", report.markdown());
    if let Some(path) = &args.json {
        report
            .write_json(path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
