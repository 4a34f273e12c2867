//! `vmgw-mount BUCKET[:/PREFIX] MOUNTPOINT --endpoint URL [-o OPTIONS]...`
//!
//! Without `--foreground` the command starts itself again in the foreground as a detached
//! child and exits once that child reports the mount ready (status 0) or failed (its error
//! and a non-zero status), so scripts and fstab see mount errors in the exit status. The
//! child serves until SIGTERM/SIGINT (it saves open files, then unmounts) or until the file
//! system is unmounted from outside (`fusermount3 -u`, `umount`).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use fuser::{Config, MountOption, SessionACL};
use vmgw_mount::attrs::Defaults;
use vmgw_mount::credentials::Lookup;
use vmgw_mount::fs::{Fs, FsConfig};
use vmgw_mount::fuse::FuseFs;
use vmgw_mount::options::MountOptions;
use vmgw_mount::s3::{ObjectClient, S3Config};
use vmgw_mount::source::Source;

/// Set in the detached child: report readiness on stdout.
const NOTIFY_ENV: &str = "VMGW_MOUNT_NOTIFY";
const READY: &str = "ready";

#[derive(Debug, Parser)]
#[command(
    name = "vmgw-mount",
    version,
    about = "Mount an S3 bucket (or a prefix of it) as a directory"
)]
struct Args {
    /// BUCKET or BUCKET:/PREFIX
    source: String,
    /// Where to mount it.
    mountpoint: PathBuf,
    /// The S3 endpoint, e.g. http://192.168.122.1:9000 (or `-o url=`, as in fstab).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint: Option<String>,
    /// s3fs-style options: ro, allow_other, uid=, gid=, umask=, file_mode=, dir_mode=,
    /// cache=DIR, cache_size_mb=, stat_cache_expire=SECONDS, passwd_file=FILE, url=URL,
    /// endpoint=REGION.
    #[arg(short = 'o', value_name = "OPTIONS")]
    options: Vec<String>,
    /// Stay in the foreground (logs go to stderr).
    #[arg(short = 'f', long)]
    foreground: bool,
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    region: String,
    /// Profile of ~/.aws/credentials to use.
    #[arg(long)]
    profile: Option<String>,
    /// Virtual-host-style requests (bucket.endpoint) instead of path-style.
    #[arg(long)]
    virtual_host: bool,
    /// Where the background process logs (default: nowhere).
    #[arg(long)]
    log_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = if args.foreground || std::env::var_os(NOTIFY_ENV).is_some() {
        serve(&args)
    } else {
        daemonize(&args)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let text = format!("vmgw-mount: {e:#}");
            if std::env::var_os(NOTIFY_ENV).is_some() {
                // The parent is waiting on our stdout for the verdict.
                println!("{text}");
            }
            eprintln!("{text}");
            ExitCode::FAILURE
        }
    }
}

/// Starts the serving child and waits for its first line: "ready" or an error.
fn daemonize(args: &Args) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating own executable")?;
    let stderr = match &args.log_file {
        Some(path) => Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening log file {}", path.display()))?,
        ),
        None => Stdio::null(),
    };
    let mut child = std::os::unix::process::CommandExt::process_group(
        Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env(NOTIFY_ENV, "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr),
        // Its own process group: a Ctrl-C meant for the shell that mounted does not reach it.
        0,
    )
    .spawn()
    .context("starting the mount process")?;
    let stdout = child.stdout.take().context("child stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    if line.trim() == READY {
        return Ok(());
    }
    let status = child.wait()?;
    let message = line.trim().trim_start_matches("vmgw-mount: ");
    if message.is_empty() {
        bail!("the mount process exited ({status}) without reporting");
    }
    bail!("{message}")
}

fn init_logging(args: &Args) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VMGW_MOUNT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // In the background child stderr is the log file (or nothing) the parent chose.
    let _ = args;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

fn serve(args: &Args) -> anyhow::Result<()> {
    init_logging(args);
    let source = Source::parse(&args.source)?;
    let mut options = MountOptions::default();
    for list in &args.options {
        options.apply(list)?;
    }
    let credentials = Lookup {
        bucket: source.bucket.clone(),
        passwd_file: options.passwd_file.clone(),
        profile: args.profile.clone(),
        env: std::env::vars().collect(),
    }
    .resolve()?;
    let mountpoint = args
        .mountpoint
        .canonicalize()
        .with_context(|| format!("mount point {}", args.mountpoint.display()))?;
    if !mountpoint.is_dir() {
        bail!("mount point {} is not a directory", mountpoint.display());
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("vmgw-mount")
        .build()?;
    // `-o url=` wins: an fstab entry says exactly where its bucket is.
    let endpoint = options
        .url
        .clone()
        .or_else(|| args.endpoint.clone())
        .context("no S3 endpoint: give --endpoint URL or -o url=URL")?;
    let mut client = ObjectClient::new(&S3Config {
        endpoint: endpoint.clone(),
        region: options
            .region
            .clone()
            .unwrap_or_else(|| args.region.clone()),
        bucket: source.bucket.clone(),
        path_style: !args.virtual_host,
        credentials,
    });
    runtime
        .block_on(client.check_bucket())
        .with_context(|| format!("bucket {:?} at {endpoint}", source.bucket))?;

    // Staging files are unlinked as soon as they are made; the directory only says where.
    let staging_dir = options.cache_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&staging_dir)
        .with_context(|| format!("staging directory {}", staging_dir.display()))?;
    let fs = Arc::new(Fs::new(
        Arc::new(client),
        FsConfig {
            prefix: source.prefix.clone(),
            ttl: options.metadata_ttl,
            defaults: defaults(&options),
            umask: options.umask,
            read_only: options.read_only,
            staging_dir,
        },
    ));

    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::FSName(format!("vmgw-mount:{}", args.source)),
        MountOption::Subtype("vmgw".into()),
        MountOption::DefaultPermissions,
        MountOption::NoDev,
        MountOption::NoSuid,
        if options.read_only {
            MountOption::RO
        } else {
            MountOption::RW
        },
    ];
    if options.allow_other {
        config.acl = SessionACL::All;
    }
    let mut session = fuser::Session::new(
        FuseFs::new(fs.clone(), runtime.handle().clone()),
        &mountpoint,
        &config,
    )
    .with_context(|| format!("mounting on {}", mountpoint.display()))?;
    tracing::info!(mountpoint = %mountpoint.display(), "mounted");
    if std::env::var_os(NOTIFY_ENV).is_some() {
        let mut out = std::io::stdout();
        writeln!(out, "{READY}")?;
        out.flush()?;
    }

    let mut unmounter = session.unmount_callable();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let session_thread = std::thread::Builder::new()
        .name("fuse-session".into())
        .spawn(move || {
            let result = session.run();
            let _ = done_tx.send(());
            result
        })?;

    let signalled = runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let signalled = tokio::select! {
            _ = term.recv() => true,
            _ = int.recv() => true,
            _ = done_rx => false,
        };
        if signalled {
            tracing::info!("signal received: saving open files, then unmounting");
            fs.flush_all().await;
        }
        Ok::<_, std::io::Error>(signalled)
    })?;
    if signalled && let Err(e) = unmounter.unmount() {
        // Busy (a process has a file open or its cwd there): detach it lazily, as
        // `umount -l` does; the kernel finishes once the last user lets go.
        tracing::warn!(error = %e, "unmount failed; detaching lazily");
        lazy_unmount(&mountpoint);
    }
    match session_thread.join() {
        Ok(result) => result.context("FUSE session")?,
        Err(_) => bail!("the FUSE session thread panicked"),
    }
    // Whatever is still unsaved (nothing, normally: every close saved its file).
    runtime.block_on(fs.flush_all());
    runtime.shutdown_timeout(Duration::from_secs(5));
    Ok(())
}

fn lazy_unmount(mountpoint: &Path) {
    let status = Command::new("fusermount3")
        .arg("-u")
        .arg("-z")
        .arg(mountpoint)
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        tracing::error!(?status, "lazy unmount failed");
    }
}

/// Attributes for objects that carry none: the mount options, else the mounting user and
/// the usual 0644/0755 (masked by `umask`).
fn defaults(options: &MountOptions) -> Defaults {
    let umask = options.umask.unwrap_or(0o022);
    Defaults {
        file_perm: options.file_mode.unwrap_or(0o666 & !umask),
        dir_perm: options.dir_mode.unwrap_or(0o777 & !umask),
        uid: options
            .uid
            .unwrap_or_else(|| rustix::process::getuid().as_raw()),
        gid: options
            .gid
            .unwrap_or_else(|| rustix::process::getgid().as_raw()),
    }
}
