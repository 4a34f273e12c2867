//! The `vmgw` binary: argument parsing, logging and the runtime. Everything else lives in
//! the library.

use anyhow::Context;
use clap::Parser;
use tracing::info;
use tracing_subscriber::EnvFilter;

use vmgw_gateway::admin::client::AdminClientError;
use vmgw_gateway::admin::{AddTenantRequest, LimitsRequest, MoveRequest, QuotaRequest};
use vmgw_gateway::admin::{commands, vm};
use vmgw_gateway::cli::{
    BackupCommand, CertCommand, Cli, Command, KeyCommand, LifecycleCommand, LogFormat,
    ObjectCommand, QosCommand, QuotaCommand, RecoverArgs, ServeArgs, TierCommand, VmCommand,
};
use vmgw_gateway::config::{FileConfig, Overrides, Settings};
use vmgw_gateway::meta::Quota;

/// mimalloc instead of glibc malloc: glibc keeps a growing arena per thread that serves
/// requests (RSS grew by 30-60 MiB between benchmark phases with no data held), and hands
/// 1 MiB buffers back to the kernel after every use, so each new buffer is faulted in again.
/// mimalloc reuses freed segments per thread and keeps the footprint flat.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A bare level applies to vmgw's own crates; other crates log warnings only. s3s logs
/// every S3 error response (a 404 included) at error level and dumps request headers at
/// debug level, so it stays silent unless a full filter asks for it.
fn log_filter(level: &str) -> String {
    const LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];
    if LEVELS.contains(&level) {
        format!(
            "warn,s3s=off,vmgw={level},vmgw_gateway={level},vmgw_tiering={level},vmgw_lifecycle={level}"
        )
    } else {
        level.to_owned()
    }
}

fn init_logging(level: &str, format: LogFormat) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(log_filter(level))
        .with_context(|| format!("invalid --log-level {level:?}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    Ok(())
}

/// The file given with `--config`, under the flags and environment variables.
fn resolve_settings(args: ServeArgs) -> anyhow::Result<Settings> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let overrides = Overrides {
        listen: args.listen,
        data_dir: args.data_dir,
        region: args.region,
        domains: args.domains,
        access_key: args.access_key,
        secret_key: args.secret_key,
    };
    Ok(Settings::resolve(file, overrides)?)
}

struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn watch() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("cannot watch SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot watch SIGINT")?,
            hup: signal(SignalKind::hangup()).context("cannot watch SIGHUP")?,
        })
    }

    /// Serves SIGHUP (configuration and TLS reload) until SIGTERM or SIGINT arrives;
    /// returns which.
    async fn until_stop(&mut self, running: &vmgw_gateway::app::Running) -> &'static str {
        loop {
            tokio::select! {
                _ = self.term.recv() => return "SIGTERM",
                _ = self.int.recv() => return "SIGINT",
                _ = self.hup.recv() => {
                    info!(signal = "SIGHUP", "reloading");
                    // The outcome is logged by the reload itself.
                    let _ = running.reload();
                }
            }
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let settings = resolve_settings(args.clone())?;
    // Before anything is announced: SIGHUP's default action would end the process.
    let mut signals = Signals::watch()?;
    // A reload resolves the same file, flags and environment variables again.
    let source = Box::new(move || resolve_settings(args.clone()).map_err(|e| format!("{e:#}")));
    let running = vmgw_gateway::app::start(&settings, source).await?;
    if let Some(pair) = &running.generated_credentials {
        let stored = vmgw_gateway::credentials::stored_path(&settings.data_dir);
        // Shown once to a person at a terminal; afterwards they are only in the file. A
        // service's stderr is a journal or a log file that others may read, so there the
        // secret stays in the file (mode 0600).
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprintln!(
                "vmgw generated credentials (stored in {}):\n  access key: {}\n  secret key: {}",
                stored.display(),
                pair.access_key,
                pair.secret_key
            );
        } else {
            eprintln!(
                "vmgw generated credentials (stored in {}):\n  access key: {}\n  secret key: (in that file; not logged)",
                stored.display(),
                pair.access_key,
            );
        }
    }
    for endpoint in &running.endpoints {
        info!(%endpoint, data_dir = %settings.data_dir.display(), "vmgw listening on {endpoint}");
    }
    if let Some(endpoint) = &running.admin_endpoint {
        info!(%endpoint, "admin API listening on {endpoint}");
    }
    if let Some(endpoint) = &running.metrics_endpoint {
        info!(%endpoint, "metrics and probes listening on {endpoint}");
    }
    let signal = signals.until_stop(&running).await;
    info!(signal, "shutting down");
    running.stop().await;
    Ok(())
}

/// Runs fsck on the gateway and prints the report; fails (exit status 1) while problems
/// remain unrepaired.
async fn fsck(
    admin: &vmgw_gateway::cli::AdminArgs,
    deep: bool,
    repair: bool,
) -> anyhow::Result<()> {
    let options = vmgw_gateway::objects::FsckOptions { deep, repair };
    let (text, report) = vmgw_gateway::admin::dr::fsck(admin, options).await?;
    print!("{text}");
    match report.unresolved() {
        0 => Ok(()),
        n => anyhow::bail!("fsck: {n} problem(s) not repaired"),
    }
}

async fn recover(args: RecoverArgs) -> anyhow::Result<()> {
    let file = FileConfig::load(&args.config)?;
    let settings = Settings::resolve(
        file,
        Overrides {
            data_dir: Some(args.data_dir.clone()),
            ..Overrides::default()
        },
    )?;
    let report = vmgw_gateway::recover::recover(
        &settings,
        vmgw_gateway::recover::RecoverOptions {
            tier: args.tier,
            backup: args.backup,
            secrets_key: args.secrets_key,
        },
    )
    .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(())
}

fn print(result: Result<String, AdminClientError>) -> anyhow::Result<()> {
    print!("{}", result?);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(&cli.log_level, cli.log_format)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("vmgw")
        .build()
        .context("cannot start the async runtime")?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args)),
        Command::Tier(TierCommand::Ls { admin }) => {
            print(runtime.block_on(commands::tier_ls(&admin)))
        }
        Command::Tier(TierCommand::Move {
            bucket,
            key,
            tier,
            storage_class,
            queue,
            admin,
        }) => {
            let request = MoveRequest {
                bucket,
                key,
                tier,
                storage_class,
                queue,
            };
            print(runtime.block_on(commands::tier_move(&admin, &request)))
        }
        Command::Tier(TierCommand::Queue { admin }) => {
            print(runtime.block_on(commands::move_queue(&admin)))
        }
        Command::Object(ObjectCommand::Where { bucket, key, admin }) => {
            print(runtime.block_on(commands::object_where(&admin, &bucket, &key)))
        }
        Command::Lifecycle(LifecycleCommand::Status { bucket, admin }) => print(runtime.block_on(
            vmgw_gateway::admin::lifecycle::lifecycle_status(&admin, bucket.as_deref()),
        )),
        Command::Vm(VmCommand::Add {
            name,
            bucket,
            no_bucket,
            quota,
            max_objects,
            limits,
            client_certs,
            endpoint,
            format,
            guest_ca,
            admin,
        }) => {
            let ca = guest_ca.load().map_err(anyhow::Error::msg)?;
            let bucket = if no_bucket {
                None
            } else {
                Some(bucket.unwrap_or_else(|| name.clone()))
            };
            let request = AddTenantRequest {
                name,
                bucket,
                quota: Quota {
                    max_bytes: quota,
                    max_objects,
                },
                limits: limits.limits(),
                client_certs,
            };
            print(runtime.block_on(vm::add(
                &admin,
                &request,
                endpoint.as_deref(),
                format,
                ca.as_ref(),
            )))
        }
        Command::Vm(VmCommand::Ls { admin }) => print(runtime.block_on(vm::ls(&admin))),
        Command::Vm(VmCommand::Rm { name, purge, admin }) => {
            print(runtime.block_on(vm::rm(&admin, &name, purge)))
        }
        Command::Key(KeyCommand::Rotate {
            name,
            endpoint,
            format,
            guest_ca,
            admin,
        }) => {
            let ca = guest_ca.load().map_err(anyhow::Error::msg)?;
            print(runtime.block_on(vm::rotate(
                &admin,
                &name,
                endpoint.as_deref(),
                format,
                ca.as_ref(),
            )))
        }
        Command::Quota(QuotaCommand::Set {
            tenant,
            bucket,
            bytes,
            objects,
            admin,
        }) => {
            let request = QuotaRequest {
                tenant,
                bucket,
                quota: Quota {
                    max_bytes: bytes,
                    max_objects: objects,
                },
            };
            print(runtime.block_on(vm::set_quota(&admin, &request)))
        }
        Command::Qos(QosCommand::Set {
            name,
            limits,
            admin,
        }) => {
            let request = LimitsRequest {
                name,
                limits: limits.limits(),
            };
            print(runtime.block_on(vm::set_limits(&admin, &request)))
        }
        Command::Requests { admin } => {
            print(runtime.block_on(vmgw_gateway::admin::requests::requests(&admin)))
        }
        Command::Reload { admin } => {
            print(runtime.block_on(vmgw_gateway::admin::requests::reload(&admin)))
        }
        Command::Cert(CertCommand::SelfSigned { out, names, ips }) => {
            let (cert, key) = vmgw_gateway::server::cert::write_self_signed(&out, &names, &ips)?;
            println!("{}\n{}", cert.display(), key.display());
            Ok(())
        }
        Command::Cert(CertCommand::Allow {
            tenant,
            cert,
            admin,
        }) => print(runtime.block_on(vm::set_cert(&admin, &tenant, cert, true))),
        Command::Cert(CertCommand::Revoke {
            tenant,
            cert,
            admin,
        }) => print(runtime.block_on(vm::set_cert(&admin, &tenant, cert, false))),
        Command::Fsck {
            deep,
            repair,
            admin,
        } => runtime.block_on(fsck(&admin, deep, repair)),
        Command::Backup(BackupCommand::Now { admin }) => {
            print(runtime.block_on(vmgw_gateway::admin::dr::backup_now(&admin)))
        }
        Command::Backup(BackupCommand::Ls { admin }) => {
            print(runtime.block_on(vmgw_gateway::admin::dr::backup_ls(&admin)))
        }
        Command::Recover(args) => runtime.block_on(recover(args)),
    }
}
