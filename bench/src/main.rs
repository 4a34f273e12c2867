//! vmgw-bench: starts each target server with a fresh data directory, runs the same S3
//! workloads against it over loopback, and prints the results as Markdown (and JSON).

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
mod workloads;

use anyhow::Context as _;
use clap::Parser as _;

use crate::cli::Args;
use crate::report::Report;
use crate::server::{Server, ServerKind};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let plan = args.plan();

    // Locate every binary before running anything.
    let mut targets = Vec::new();
    for &kind in &args.target {
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
        let server = Server::start(kind, &bin, args.work_dir.as_deref(), &args.server_env)
            .with_context(|| format!("starting {kind} ({})", bin.display()))?;
        eprintln!(
            "[{kind}] {} at {} (pid {}, log {})",
            bin.display(),
            server.endpoint,
            server.pid(),
            server.log_path.display()
        );
        let result = workloads::run_suite(&server, &plan).await;
        let log = if result.is_err() {
            server.log_tail(40)
        } else {
            String::new()
        };
        server.stop();
        reports
            .push(result.with_context(|| format!("benchmarking {kind}; server log tail:\n{log}"))?);
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
