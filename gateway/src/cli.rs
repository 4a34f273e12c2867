//! Command-line interface.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::admin::guest_config::GuestFormat;

/// vmgw: an S3-compatible object gateway for virtualization hosts.
///
/// Guests and host tools talk S3 to it; it keeps objects on local and remote storage tiers.
/// `vmgw serve` with no arguments listens on 127.0.0.1:9000 and keeps everything under
/// $XDG_DATA_HOME/vmgw (or ~/.local/share/vmgw).
#[derive(Debug, Parser)]
#[command(name = "vmgw", version, about, long_about)]
pub struct Cli {
    /// Log level: error, warn, info, debug (one line per request) or trace; or a tracing
    /// filter such as "vmgw_gateway=debug,info".
    #[arg(long, global = true, env = "VMGW_LOG", default_value = "info")]
    pub log_level: String,

    /// Log format.
    #[arg(long, global = true, env = "VMGW_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve(ServeArgs),
    /// Storage tiers of a running gateway.
    #[command(subcommand)]
    Tier(TierCommand),
    /// Objects of a running gateway.
    #[command(subcommand)]
    Object(ObjectCommand),
    /// The lifecycle worker of a running gateway.
    #[command(subcommand)]
    Lifecycle(LifecycleCommand),
    /// Guests (tenants) of a running gateway: one command gives a VM its key, bucket and
    /// client configuration.
    #[command(subcommand)]
    Vm(VmCommand),
    /// Access keys of tenants.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Storage quotas of tenants and buckets.
    #[command(subcommand)]
    Quota(QuotaCommand),
    /// Request-rate and bandwidth limits of tenants.
    #[command(subcommand)]
    Qos(QosCommand),
    /// Requests a running gateway has served since it started, by S3 operation.
    Requests {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Reload a running gateway's configuration file (as SIGHUP does): capacities and
    /// watermarks, background intervals, connection limits and the TLS certificate change
    /// at once; a change to anything else is refused as a whole, naming what needs a
    /// restart.
    Reload {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Certificates for HTTPS (`[tls]`).
    #[command(subcommand)]
    Cert(CertCommand),
    /// Check that a running gateway's metadata and every tier agree: orphans, missing data,
    /// bookkeeping (and with --deep, every byte); --repair mends what it finds. Exits
    /// non-zero while problems remain.
    Fsck {
        /// Read every blob in use and verify every chunk (checksums, GCM tags) and its MD5.
        #[arg(long)]
        deep: bool,
        /// Delete orphans, restore damaged data from an intact copy, otherwise quarantine
        /// the object (its bytes kept in the tier's lost+found) and remove it.
        #[arg(long)]
        repair: bool,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Metadata backups of a running gateway, kept on its remote tier.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Rebuild a lost host's namespace from its remote tier into a fresh data directory
    /// (offline: no gateway may run on it). Then `vmgw serve` serves it.
    Recover(RecoverArgs),
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Take a metadata backup now.
    Now {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// The backups on the remote tier, oldest first.
    Ls {
        #[command(flatten)]
        admin: AdminArgs,
    },
}

#[derive(Debug, clap::Args)]
pub struct RecoverArgs {
    /// Recover from the remote tier (the only source there is: the lost host's disks are
    /// gone).
    #[arg(long, required = true)]
    pub from_remote: bool,
    /// The lost host's configuration: its remote tier, and the key files of `[encryption]`.
    #[arg(long, short, env = "VMGW_CONFIG")]
    pub config: PathBuf,
    /// The new data directory; must not hold a metadata store.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The remote tier holding the backups. Default: `[backup] tier`, else the coldest
    /// remote tier.
    #[arg(long)]
    pub tier: Option<String>,
    /// A backup by name (see `vmgw backup ls`). Default: the newest.
    #[arg(long)]
    pub backup: Option<String>,
    /// A copy of the lost host's secrets.key kept off-host, for tenants' keys (needed when
    /// the backup does not carry it: an unsealed backup, or `[backup] secrets = "never"`).
    #[arg(long)]
    pub secrets_key: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Write a self-signed certificate (cert.pem) and its key (key.pem, mode 0600) into a
    /// directory, replacing any there; clients trust cert.pem itself. A running gateway
    /// picks up new files on SIGHUP.
    SelfSigned {
        /// Directory to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// DNS name the certificate is for (repeatable). With neither --name nor --ip:
        /// localhost, 127.0.0.1 and ::1.
        #[arg(long = "name")]
        names: Vec<String>,
        /// IP address the certificate is for (repeatable).
        #[arg(long = "ip")]
        ips: Vec<std::net::IpAddr>,
    },
    /// Let a client certificate act as a tenant: requests over a TLS connection that
    /// presented it are the tenant's when unsigned (needs `[tls] client_ca_file`, the CA that
    /// issued it).
    Allow {
        tenant: String,
        /// PEM file (its first certificate) or SHA-256 fingerprint.
        #[arg(value_parser = crate::auth::client_cert::parse_arg)]
        cert: crate::auth::client_cert::Fingerprint,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Stop a client certificate acting as a tenant; new connections with it are anonymous.
    Revoke {
        tenant: String,
        /// PEM file (its first certificate) or SHA-256 fingerprint.
        #[arg(value_parser = crate::auth::client_cert::parse_arg)]
        cert: crate::auth::client_cert::Fingerprint,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

/// How the admin commands find the running gateway.
#[derive(Debug, clap::Args)]
pub struct AdminArgs {
    /// The gateway's data directory (its admin socket is `admin.sock` in it).
    #[arg(long, env = "VMGW_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// The admin socket, when it is not in the data directory.
    #[arg(long, env = "VMGW_ADMIN_SOCKET")]
    pub admin_socket: Option<PathBuf>,

    /// The admin API over HTTPS (`[admin] listen` of the gateway), e.g. https://host:9443,
    /// instead of the socket; needs the admin credentials.
    #[arg(long, env = "VMGW_ADMIN_URL")]
    pub admin_url: Option<String>,

    /// PEM CA certificates to trust for --admin-url (e.g. the gateway's self-signed
    /// cert.pem). Default: the system's CAs.
    #[arg(long, env = "VMGW_ADMIN_CA_BUNDLE")]
    pub ca_bundle: Option<PathBuf>,

    /// Admin access key, for --admin-url.
    #[arg(long, env = "VMGW_ACCESS_KEY")]
    pub access_key: Option<String>,

    /// Admin secret key, for --admin-url.
    #[arg(long, env = "VMGW_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum TierCommand {
    /// Per tier: blobs, bytes stored, capacity and usage.
    Ls {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Move the bytes of an object to another tier.
    Move {
        bucket: String,
        key: String,
        tier: String,
        /// Also change the object's storage class.
        #[arg(long)]
        storage_class: Option<String>,
        /// Queue the move in the background (retried while the tier is unavailable)
        /// instead of waiting for it.
        #[arg(long)]
        queue: bool,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Moves waiting in the background queue.
    Queue {
        #[command(flatten)]
        admin: AdminArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum VmCommand {
    /// Create a tenant with an access key and a bucket, and print the guest's
    /// configuration (the secret is shown only here).
    Add {
        /// Tenant name, usually the VM's name.
        name: String,
        /// The bucket to create for it. Default: the tenant's name.
        #[arg(long, conflicts_with = "no_bucket")]
        bucket: Option<String>,
        /// Create no bucket.
        #[arg(long)]
        no_bucket: bool,
        /// Most bytes all its buckets may hold together, e.g. 50GiB.
        #[arg(long, value_parser = crate::byte_size::parse_arg)]
        quota: Option<u64>,
        /// Most objects all its buckets may hold together.
        #[arg(long)]
        max_objects: Option<u64>,
        #[command(flatten)]
        limits: RateArgs,
        /// A client certificate (PEM file or SHA-256 fingerprint) that acts as the tenant
        /// over mTLS, without an access key (repeatable).
        #[arg(long = "client-cert", value_parser = crate::auth::client_cert::parse_arg)]
        client_certs: Vec<crate::auth::client_cert::Fingerprint>,
        /// The endpoint URL the guest reaches the gateway at (e.g. the libvirt bridge
        /// address). Default: the gateway's first listen address.
        #[arg(long)]
        endpoint: Option<String>,
        #[arg(long, value_enum, default_value_t = GuestFormat::Env)]
        format: GuestFormat,
        #[command(flatten)]
        guest_ca: GuestCaArgs,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Tenants, their access keys and buckets.
    Ls {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Remove a tenant, its keys and its buckets; refused while a bucket holds objects,
    /// unless --purge.
    Rm {
        name: String,
        /// Delete the objects of its buckets too.
        #[arg(long)]
        purge: bool,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

/// The CA a guest must trust for an HTTPS endpoint with a private certificate.
#[derive(Debug, clap::Args)]
pub struct GuestCaArgs {
    /// PEM CA certificate for the guest to trust (e.g. the gateway's self-signed cert.pem):
    /// the configurations name it, and cloud-init user-data installs it.
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// Where the guest keeps that certificate.
    #[arg(long, default_value = crate::admin::guest_config::DEFAULT_GUEST_CA_PATH, requires = "ca_cert")]
    pub guest_ca_path: String,
}

impl GuestCaArgs {
    /// The certificate, read and checked.
    pub fn load(&self) -> Result<Option<crate::admin::guest_config::GuestCa>, String> {
        self.ca_cert
            .as_deref()
            .map(|file| crate::admin::guest_config::guest_ca(file, &self.guest_ca_path))
            .transpose()
    }
}

/// A tenant's request-rate and bandwidth limits, as `vm add` and `qos set` take them.
#[derive(Debug, clap::Args)]
pub struct RateArgs {
    /// Most requests per second, e.g. 200/s; more are answered 503 SlowDown.
    #[arg(long, value_parser = crate::byte_size::parse_per_sec_arg)]
    pub rate: Option<u32>,
    /// Most bytes per second each way, e.g. 100MiB/s; bodies are paced, not failed.
    #[arg(long, value_parser = crate::byte_size::parse_rate_arg)]
    pub bandwidth: Option<u64>,
}

impl RateArgs {
    #[must_use]
    pub fn limits(&self) -> crate::meta::RateLimits {
        crate::meta::RateLimits {
            requests_per_sec: self.rate,
            bytes_per_sec: self.bandwidth,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum QosCommand {
    /// Set (or with neither, remove) a tenant's request-rate and bandwidth limits.
    Set {
        name: String,
        #[command(flatten)]
        limits: RateArgs,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuotaCommand {
    /// Set (or with neither limit, remove) the quota of a tenant or of a bucket. Writes over
    /// it are refused with 403 QuotaExceeded; lowering it under the current usage removes
    /// nothing.
    Set {
        #[arg(long, required_unless_present = "bucket", conflicts_with = "bucket")]
        tenant: Option<String>,
        #[arg(long)]
        bucket: Option<String>,
        /// Most bytes, e.g. 50GiB.
        #[arg(long, value_parser = crate::byte_size::parse_arg)]
        bytes: Option<u64>,
        /// Most objects.
        #[arg(long)]
        objects: Option<u64>,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Issue a new key for a tenant and revoke its old ones at once; prints the new
    /// configuration.
    Rotate {
        name: String,
        #[arg(long)]
        endpoint: Option<String>,
        #[arg(long, value_enum, default_value_t = GuestFormat::Env)]
        format: GuestFormat,
        #[command(flatten)]
        guest_ca: GuestCaArgs,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ObjectCommand {
    /// Which tier holds an object, its at-rest size and compression ratio.
    Where {
        bucket: String,
        key: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum LifecycleCommand {
    /// Last and next worker round, the schedule, and per bucket the objects examined,
    /// actions taken, failures and backfill progress since the gateway started.
    Status {
        /// Only this bucket.
        #[arg(long)]
        bucket: Option<String>,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file. Flags and environment variables override its values.
    #[arg(long, short, env = "VMGW_CONFIG")]
    pub config: Option<PathBuf>,

    /// Address to listen on (repeatable): IP:PORT, HTTPS when the config has [tls]; or
    /// unix:PATH for a Unix-domain socket (plain HTTP). Default: 127.0.0.1:9000.
    #[arg(long, env = "VMGW_LISTEN", value_delimiter = ',')]
    pub listen: Vec<String>,

    /// Directory for metadata, data tiers and generated credentials.
    /// Default: $XDG_DATA_HOME/vmgw, else ~/.local/share/vmgw.
    #[arg(long, env = "VMGW_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Access key clients sign with (needs --secret-key). Without any configured key, a pair
    /// is generated on first start, printed once and stored in the data directory.
    #[arg(long, env = "VMGW_ACCESS_KEY")]
    pub access_key: Option<String>,

    /// Secret key for --access-key.
    #[arg(long, env = "VMGW_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// Region reported to clients. Default: us-east-1.
    #[arg(long, env = "VMGW_REGION")]
    pub region: Option<String>,

    /// Domain for virtual-host-style requests, e.g. s3.local for bucket.s3.local
    /// (repeatable).
    #[arg(long = "domain", env = "VMGW_DOMAINS", value_delimiter = ',')]
    pub domains: Vec<String>,
}
