//! The gateway's configuration: a TOML file (`--config`), overridden by flags and
//! environment variables, with defaults that need no file at all.
//!
//! Every field is optional in the file; unknown fields are errors, so a typo never goes
//! unnoticed. Validation messages name the field and the offending value.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod admin;
mod backup;
mod env_expand;
mod lifecycle;
mod listen;
mod promotion;
mod reload;
mod remote;
mod tls;
pub use backup::{BackupConfig, BackupSettings, SecretsPolicy};
pub use lifecycle::LifecycleConfig;
pub use listen::UNIX_PREFIX;
pub use promotion::{ReadPromotion, ReadPromotionConfig};
pub use reload::{RestartNeeded, Tunables, plan as plan_reload};
pub use remote::RemoteSettings;
pub use tls::{TlsConfig, TlsSettings};

use crate::byte_size::ByteSize;
use crate::objects::Watermarks;
use crate::server::ConnectionLimits;

/// Where the gateway listens when nothing else is configured.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9000";
pub const DEFAULT_REGION: &str = "us-east-1";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid value for {field}: {value:?}: {reason}")]
    Invalid {
        field: String,
        value: String,
        reason: String,
    },
}

fn invalid(field: &str, value: impl std::fmt::Display, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        field: field.to_owned(),
        value: value.to_string(),
        reason: reason.to_owned(),
    }
}

/// The config file, as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<Vec<String>>,
    pub data_dir: Option<PathBuf>,
    pub region: Option<String>,
    /// Domains for virtual-host-style requests (`bucket.s3.example.com`).
    pub domains: Option<Vec<String>>,
    pub credentials: Option<Vec<CredentialConfig>>,
    pub tiers: Option<Vec<TierConfig>>,
    pub encryption: Option<EncryptionConfig>,
    /// Storage class → tier name, overriding the default mapping.
    pub storage_classes: Option<std::collections::HashMap<String, String>>,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub placement: PlacementConfig,
    #[serde(default)]
    pub read_promotion: ReadPromotionConfig,
    #[serde(default)]
    pub lifecycle: LifecycleConfig,
    /// HTTPS on every TCP listener.
    pub tls: Option<TlsConfig>,
    #[serde(default)]
    pub admin: admin::AdminConfig,
    #[serde(default)]
    pub metrics: admin::MetricsConfig,
    /// Metadata backups to a remote tier; scheduled only when present.
    pub backup: Option<BackupConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfig {
    pub access_key: String,
    pub secret_key: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    pub name: String,
    #[serde(default)]
    pub kind: TierKind,
    /// Directory of a local tier; relative paths are under `data_dir`.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Remote tiers: endpoint URL (absent: AWS), region (absent: the gateway's), bucket,
    /// key prefix, path-style addressing (default: on when an endpoint is given), and a TOML
    /// file with `access_key` and `secret_key` (absent: `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY`).
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub bucket: Option<String>,
    pub prefix: Option<String>,
    pub path_style: Option<bool>,
    pub credentials_file: Option<PathBuf>,
    /// zstd level (1–22) for the tier's data; absent or 0 stores it uncompressed.
    #[serde(default)]
    pub compression: Option<i32>,
    /// Seal the tier's data with AES-256-GCM, using the keys of `[encryption]`.
    #[serde(default)]
    pub encrypt: bool,
    /// Bytes the tier may hold (`10GiB`, or a number); absent: its filesystem's size.
    #[serde(default)]
    pub capacity: Option<ByteSize>,
    /// Percent of capacity above which objects are demoted to the next tier (default 90).
    #[serde(default)]
    pub high_watermark: Option<i64>,
    /// Percent of capacity demotion brings usage down to (default 75).
    #[serde(default)]
    pub low_watermark: Option<i64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TierKind {
    /// A directory on a local disk.
    #[default]
    Local,
    /// A bucket on an S3-compatible server.
    S3,
}

impl TierConfig {
    /// A plain local tier.
    #[must_use]
    pub fn local(name: &str, path: &str) -> Self {
        Self {
            name: name.into(),
            kind: TierKind::Local,
            path: Some(path.into()),
            endpoint: None,
            region: None,
            bucket: None,
            prefix: None,
            path_style: None,
            credentials_file: None,
            compression: None,
            encrypt: false,
            capacity: None,
            high_watermark: None,
            low_watermark: None,
        }
    }
}

/// Keys for encrypted tiers. Each key file holds 64 hex digits. Without keys here,
/// `VMGW_ENCRYPTION_KEY` (64 hex digits) is used as key 1.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionConfig {
    /// The key new data is sealed with; defaults to the highest id.
    pub active_key: Option<u32>,
    #[serde(default)]
    pub keys: Vec<KeyConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    pub id: u32,
    pub file: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Objects up to this many bytes are kept inside the metadata store.
    pub inline_threshold: usize,
    /// Page cache of the metadata store, in MiB.
    pub metadata_cache_mib: usize,
    /// Sync data and metadata before acknowledging writes. Only benchmarks of the cost of
    /// durability turn this off.
    pub fsync: bool,
    /// Seconds between background sweeps for orphaned blobs on every tier; 0 turns them off
    /// (the start-up sweep after an unclean stop still runs).
    pub orphan_sweep_secs: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            inline_threshold: crate::objects::Limits::default().inline_threshold,
            metadata_cache_mib: 16,
            fsync: true,
            orphan_sweep_secs: 3600,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// How long a shutdown waits for requests in flight, in seconds.
    pub shutdown_grace_secs: u64,
    /// Most simultaneous connections per listener.
    pub max_connections: usize,
    /// Seconds a client has to send a complete request head (and, on HTTPS, to finish the
    /// handshake) before its connection is closed: a client that trickles a header byte by
    /// byte (slowloris) would otherwise hold a connection slot forever. hyper runs the same
    /// clock while a keep-alive connection waits for its next request, so idle connections
    /// close after it too.
    pub header_read_timeout_secs: u64,
    /// Largest request head (request line and headers) accepted; larger ones get 431. S3
    /// heads are a few KiB (user metadata is limited to 2 KiB).
    pub max_header_bytes: ByteSize,
    /// Seconds a request body may send nothing before the request fails and its connection
    /// closes: a stalled upload would otherwise hold its connection and its buffers forever.
    pub body_idle_timeout_secs: u64,
    /// File mode of Unix-socket listeners, octal.
    pub unix_socket_mode: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            shutdown_grace_secs: 30,
            max_connections: 4096,
            header_read_timeout_secs: 30,
            max_header_bytes: ByteSize::Text("64KiB".into()),
            body_idle_timeout_secs: 60,
            unix_socket_mode: "0660".into(),
        }
    }
}

/// Background placement of objects across tiers.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlacementConfig {
    /// How often tier usage is checked against the watermarks (and recorded reads are
    /// written to the metadata store), in milliseconds.
    pub check_interval_ms: u64,
}

impl Default for PlacementConfig {
    fn default() -> Self {
        Self {
            check_interval_ms: 10_000,
        }
    }
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let parse_error = |e: toml::de::Error| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        if !text.contains("${") {
            return toml::from_str(&text).map_err(parse_error);
        }
        // Through a value tree only when there is something to expand: parsing the text
        // directly keeps line and column in the messages of every other file.
        let mut value: toml::Value = toml::from_str(&text).map_err(parse_error)?;
        env_expand::expand(&mut value, "")?;
        value.try_into().map_err(parse_error)
    }
}

/// Overrides from flags and environment variables; they win over the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Vec<String>,
    pub data_dir: Option<PathBuf>,
    pub region: Option<String>,
    pub domains: Vec<String>,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
}

/// A tier, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierSettings {
    pub name: String,
    /// A local tier's directory; a remote tier's staging directory for uploads.
    pub path: PathBuf,
    /// Set for remote tiers.
    pub remote: Option<RemoteSettings>,
    pub compression: Option<i32>,
    pub encrypt: bool,
    pub watermarks: Watermarks,
}

/// The validated configuration the gateway runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// TCP listeners (HTTPS when `tls` is set).
    pub listen: Vec<SocketAddr>,
    /// Unix-domain socket listeners (always plain HTTP: the socket's mode guards it).
    pub listen_unix: Vec<PathBuf>,
    pub unix_socket_mode: u32,
    pub tls: Option<TlsSettings>,
    /// Where the admin API listens over HTTPS, besides its Unix socket.
    pub admin_listen: Option<SocketAddr>,
    /// Where `/metrics`, `/healthz` and `/readyz` are served in plain HTTP.
    pub metrics_listen: Option<SocketAddr>,
    pub limits: ConnectionLimits,
    pub data_dir: PathBuf,
    pub region: String,
    pub domains: Vec<String>,
    /// Explicit credentials; when empty, the gateway uses (or creates) its stored pair.
    pub credentials: Vec<CredentialConfig>,
    pub tiers: Vec<TierSettings>,
    /// Every storage class → the tier it is written to.
    pub storage_classes: std::collections::HashMap<String, String>,
    /// Encryption keys, when any tier encrypts.
    pub keys: Option<KeySettings>,
    pub storage: StorageConfig,
    pub server: ServerConfig,
    pub placement: PlacementConfig,
    /// Cached local copies of remote objects that are read; `None`: off.
    pub read_promotion: Option<ReadPromotion>,
    /// Milliseconds in a lifecycle day.
    pub lifecycle_day_ms: i64,
    /// Intelligent tiering's automatic steps.
    pub auto_tiering: vmgw_lifecycle::AutoTiering,
    pub lifecycle: LifecycleConfig,
    /// Metadata backups; `None` without a remote tier.
    pub backup: Option<BackupSettings>,
}

/// The data directory used when none is configured: `$XDG_DATA_HOME/vmgw`, else
/// `$HOME/.local/share/vmgw`, else `./vmgw-data`.
#[must_use]
pub fn default_data_dir() -> PathBuf {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("vmgw");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home).join(".local/share/vmgw");
    }
    PathBuf::from("vmgw-data")
}

/// Loaded encryption keys: `(id, 32 bytes)` pairs and the id new data is sealed with.
#[derive(Clone, PartialEq, Eq)]
pub struct KeySettings {
    pub active: u32,
    pub keys: Vec<(u32, Vec<u8>)>,
}

impl std::fmt::Debug for KeySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        let ids: Vec<u32> = self.keys.iter().map(|(id, _)| *id).collect();
        f.debug_struct("KeySettings")
            .field("active", &self.active)
            .field("ids", &ids)
            .finish()
    }
}

/// Reads the keys of `[encryption]` (or `VMGW_ENCRYPTION_KEY`) and picks the active one.
fn load_keys(config: EncryptionConfig) -> Result<KeySettings, ConfigError> {
    let mut keys = Vec::new();
    for key in &config.keys {
        let text = std::fs::read_to_string(&key.file).map_err(|e| {
            invalid(
                &format!("encryption.keys.{}.file", key.id),
                key.file.display(),
                &e.to_string(),
            )
        })?;
        let bytes = vmgw_tiering::parse_hex_key(key.id, &text).map_err(|e| {
            invalid(
                &format!("encryption.keys.{}.file", key.id),
                key.file.display(),
                &e.to_string(),
            )
        })?;
        keys.push((key.id, bytes));
    }
    if keys.is_empty()
        && let Ok(text) = std::env::var("VMGW_ENCRYPTION_KEY")
    {
        let bytes = vmgw_tiering::parse_hex_key(1, &text)
            .map_err(|e| invalid("VMGW_ENCRYPTION_KEY", "<hidden>", &e.to_string()))?;
        keys.push((1, bytes));
    }
    if keys.is_empty() {
        return Err(invalid(
            "encryption.keys",
            "[]",
            "a tier encrypts but no key is configured (key files, or VMGW_ENCRYPTION_KEY)",
        ));
    }
    let active = config
        .active_key
        .unwrap_or_else(|| keys.iter().map(|(id, _)| *id).max().unwrap_or(1));
    if !keys.iter().any(|(id, _)| *id == active) {
        return Err(invalid(
            "encryption.active_key",
            active,
            "no key has this id",
        ));
    }
    Ok(KeySettings { active, keys })
}

/// A tier's capacity and watermarks, validated: `0 ≤ low < high ≤ 100`.
fn tier_watermarks(tier: &TierConfig) -> Result<Watermarks, ConfigError> {
    let field = |name: &str| format!("tiers.{}.{name}", tier.name);
    let capacity = match &tier.capacity {
        Some(size) => {
            let bytes = size
                .bytes()
                .map_err(|reason| invalid(&field("capacity"), size, reason))?;
            if bytes == 0 {
                return Err(invalid(&field("capacity"), size, "must be more than 0"));
            }
            Some(bytes)
        }
        None => None,
    };
    let percent = |name: &str, value: Option<i64>, default: u8| match value {
        None => Ok(default),
        Some(v) => u8::try_from(v)
            .ok()
            .filter(|p| *p <= 100)
            .ok_or_else(|| invalid(&field(name), v, "a percentage from 0 to 100")),
    };
    let defaults = Watermarks::default();
    let high = percent("high_watermark", tier.high_watermark, defaults.high_percent)?;
    let low = percent("low_watermark", tier.low_watermark, defaults.low_percent)?;
    if low >= high {
        return Err(invalid(
            &field("low_watermark"),
            low,
            &format!("must be below high_watermark ({high})"),
        ));
    }
    Ok(Watermarks {
        capacity,
        high_percent: high,
        low_percent: low,
    })
}

/// `[server]`'s limits on each connection, validated.
fn connection_limits(server: &ServerConfig) -> Result<ConnectionLimits, ConfigError> {
    if server.max_connections == 0 {
        return Err(invalid("server.max_connections", 0, "must be at least 1"));
    }
    for (field, secs) in [
        (
            "server.header_read_timeout_secs",
            server.header_read_timeout_secs,
        ),
        (
            "server.body_idle_timeout_secs",
            server.body_idle_timeout_secs,
        ),
    ] {
        if secs == 0 {
            return Err(invalid(field, 0, "must be at least 1"));
        }
    }
    let header_bytes = server
        .max_header_bytes
        .bytes()
        .map_err(|reason| invalid("server.max_header_bytes", &server.max_header_bytes, reason))?;
    // Below 1 KiB even ordinary signed requests would be refused; above the read buffer
    // hyper could not hold the head anyway.
    let header_bytes = usize::try_from(header_bytes)
        .ok()
        .filter(|n| (1024..=ConnectionLimits::READ_BUFFER).contains(n))
        .ok_or_else(|| {
            invalid(
                "server.max_header_bytes",
                &server.max_header_bytes,
                "from 1KiB to 1MiB",
            )
        })?;
    Ok(ConnectionLimits {
        max_connections: server.max_connections,
        header_read_timeout: std::time::Duration::from_secs(server.header_read_timeout_secs),
        max_header_bytes: header_bytes,
        body_idle_timeout: std::time::Duration::from_secs(server.body_idle_timeout_secs),
    })
}

impl Settings {
    /// Resolves the file (if any) and the overrides into validated settings.
    pub fn resolve(file: FileConfig, overrides: Overrides) -> Result<Self, ConfigError> {
        let listen_text = if overrides.listen.is_empty() {
            file.listen
                .clone()
                .unwrap_or_else(|| vec![DEFAULT_LISTEN.to_owned()])
        } else {
            overrides.listen.clone()
        };
        let (listen, listen_unix) = listen::parse(&listen_text)?;
        let unix_socket_mode =
            listen::parse_mode("server.unix_socket_mode", &file.server.unix_socket_mode)?;
        let tls = tls::resolve(file.tls.clone())?;
        let admin_listen = admin::resolve(&file.admin, tls.as_ref())?;
        let metrics_listen = admin::resolve_metrics(&file.metrics)?;
        let limits = connection_limits(&file.server)?;

        let data_dir = overrides
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(default_data_dir);
        if data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "", "must not be empty"));
        }

        let region = overrides
            .region
            .or(file.region)
            .unwrap_or_else(|| DEFAULT_REGION.to_owned());
        let region_ok = !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            return Err(invalid(
                "region",
                &region,
                "use lowercase letters, digits and '-', e.g. us-east-1",
            ));
        }

        let domains = if overrides.domains.is_empty() {
            file.domains.unwrap_or_default()
        } else {
            overrides.domains
        };
        for domain in &domains {
            if s3s::host::SingleDomain::new(domain).is_err() {
                return Err(invalid("domains", domain, "not a valid domain name"));
            }
        }

        let credentials = match (overrides.access_key, overrides.secret_key) {
            (Some(access_key), Some(secret_key)) => vec![CredentialConfig {
                access_key,
                secret_key,
            }],
            (Some(_), None) => {
                return Err(invalid(
                    "secret_key",
                    "",
                    "an access key was given without a secret key",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "access_key",
                    "",
                    "a secret key was given without an access key",
                ));
            }
            (None, None) => file.credentials.unwrap_or_default(),
        };
        for c in &credentials {
            crate::credentials::validate_pair(&c.access_key, &c.secret_key)?;
        }

        let tiers = match file.tiers {
            Some(tiers) => tiers,
            None => vec![
                TierConfig::local("ssd", "tiers/ssd"),
                TierConfig::local("hdd", "tiers/hdd"),
            ],
        };
        if tiers.is_empty() {
            return Err(invalid("tiers", "[]", "at least one tier is needed"));
        }
        let mut resolved_tiers: Vec<TierSettings> = Vec::new();
        for tier in tiers {
            let name_ok = !tier.name.is_empty()
                && tier
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !name_ok {
                return Err(invalid(
                    "tiers.name",
                    &tier.name,
                    "use letters, digits, '-' and '_'",
                ));
            }
            if resolved_tiers.iter().any(|t| t.name == tier.name) {
                return Err(invalid(
                    "tiers.name",
                    &tier.name,
                    "tier names must be unique",
                ));
            }
            let watermarks = tier_watermarks(&tier)?;
            let (path, remote) = match tier.kind {
                TierKind::Local => {
                    if let Some(field) = remote::remote_only_fields(&tier) {
                        return Err(invalid(
                            &format!("tiers.{}.{field}", tier.name),
                            "",
                            "only remote tiers (kind = \"s3\") take this",
                        ));
                    }
                    let path = tier.path.clone().ok_or_else(|| {
                        invalid(
                            &format!("tiers.{}.path", tier.name),
                            "",
                            "a local tier needs a directory",
                        )
                    })?;
                    let path = if path.is_absolute() {
                        path
                    } else {
                        data_dir.join(path)
                    };
                    (path, None)
                }
                TierKind::S3 => {
                    let remote = remote::resolve(&tier, &region, &data_dir)?;
                    (data_dir.join("spool").join(&tier.name), Some(remote))
                }
            };
            if let Some(level) = tier.compression.filter(|l| !(0..=22).contains(l)) {
                return Err(invalid(
                    &format!("tiers.{}.compression", tier.name),
                    level,
                    "a zstd level from 1 to 22, or 0 for none",
                ));
            }
            resolved_tiers.push(TierSettings {
                watermarks,
                compression: tier.compression.filter(|l| *l > 0),
                encrypt: tier.encrypt,
                name: tier.name,
                path,
                remote,
            });
        }

        let tier_names: Vec<String> = resolved_tiers.iter().map(|t| t.name.clone()).collect();
        let mut storage_classes = crate::objects::default_class_map(&tier_names);
        for (class, tier) in file.storage_classes.unwrap_or_default() {
            if !crate::objects::STORAGE_CLASSES.contains(&class.as_str()) {
                return Err(invalid(
                    "storage_classes",
                    &class,
                    "not an S3 storage class",
                ));
            }
            if !tier_names.contains(&tier) {
                return Err(invalid(
                    &format!("storage_classes.{class}"),
                    &tier,
                    "no tier has this name",
                ));
            }
            storage_classes.insert(class, tier);
        }

        let keys = if resolved_tiers.iter().any(|t| t.encrypt) {
            Some(load_keys(file.encryption.unwrap_or_default())?)
        } else {
            None
        };

        if file.storage.inline_threshold > 1 << 20 {
            return Err(invalid(
                "storage.inline_threshold",
                file.storage.inline_threshold,
                "at most 1048576 bytes",
            ));
        }
        if file.storage.metadata_cache_mib == 0 {
            return Err(invalid(
                "storage.metadata_cache_mib",
                0,
                "must be at least 1",
            ));
        }
        if file.placement.check_interval_ms < 10 {
            return Err(invalid(
                "placement.check_interval_ms",
                file.placement.check_interval_ms,
                "must be at least 10",
            ));
        }

        let read_promotion = promotion::resolve(&file.read_promotion, &data_dir)?;
        let backup = backup::resolve(file.backup.as_ref(), &resolved_tiers)?;
        let lifecycle_day_ms = file.lifecycle.day_ms()?;
        let auto_tiering = file.lifecycle.auto_tiering()?;
        Ok(Self {
            listen,
            listen_unix,
            unix_socket_mode,
            tls,
            admin_listen,
            metrics_listen,
            limits,
            data_dir,
            region,
            domains,
            credentials,
            tiers: resolved_tiers,
            storage_classes,
            keys,
            storage: file.storage,
            server: file.server,
            placement: file.placement,
            read_promotion,
            lifecycle_day_ms,
            auto_tiering,
            lifecycle: file.lifecycle,
            backup,
        })
    }

    /// The metadata store's file.
    #[must_use]
    pub fn metadata_path(&self) -> PathBuf {
        self.data_dir.join("meta").join("vmgw.redb")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: "test".into(),
            message: e.to_string(),
        })?;
        Settings::resolve(file, Overrides::default())
    }

    #[test]
    fn defaults_need_no_file() {
        let s = Settings::resolve(FileConfig::default(), Overrides::default()).unwrap();
        assert_eq!(s.listen, vec!["127.0.0.1:9000".parse().unwrap()]);
        assert_eq!(s.region, "us-east-1");
        assert_eq!(
            s.tiers.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["ssd", "hdd"]
        );
        assert!(s.tiers[0].path.starts_with(&s.data_dir));
        assert!(s.storage.fsync);
    }

    #[test]
    fn file_values_and_overrides() {
        let file: FileConfig = toml::from_str(
            r#"
            listen = ["127.0.0.1:1234", "[::1]:1234"]
            data_dir = "/srv/vmgw"
            region = "eu-west-1"
            [[credentials]]
            access_key = "AKIAEXAMPLE1"
            secret_key = "secretsecretsecret"
            [[tiers]]
            name = "fast"
            path = "/mnt/nvme"
            "#,
        )
        .unwrap();
        let s = Settings::resolve(file.clone(), Overrides::default()).unwrap();
        assert_eq!(s.listen.len(), 2);
        assert_eq!(s.data_dir, PathBuf::from("/srv/vmgw"));
        assert_eq!(
            s.tiers,
            vec![TierSettings {
                name: "fast".into(),
                path: "/mnt/nvme".into(),
                remote: None,
                compression: None,
                encrypt: false,
                watermarks: Watermarks::default(),
            }]
        );
        assert_eq!(s.credentials.len(), 1);
        let s = Settings::resolve(
            file,
            Overrides {
                listen: vec!["0.0.0.0:9999".into()],
                region: Some("us-west-2".into()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(s.listen, vec!["0.0.0.0:9999".parse().unwrap()]);
        assert_eq!(s.region, "us-west-2");
    }

    #[test]
    fn storage_classes_map_to_tiers() {
        let s = parse("[storage_classes]\nGLACIER = \"ssd\"").unwrap();
        assert_eq!(s.storage_classes["GLACIER"], "ssd");
        assert_eq!(s.storage_classes["STANDARD_IA"], "hdd");
        let err = parse("[storage_classes]\nCOLD = \"hdd\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("storage_classes") && err.contains("COLD"),
            "{err}"
        );
        let err = parse("[storage_classes]\nGLACIER = \"tape\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("storage_classes.GLACIER") && err.contains("tape"),
            "{err}"
        );
    }

    #[test]
    fn errors_name_field_and_value() {
        let err = parse(r#"listen = ["localhost"]"#).unwrap_err().to_string();
        assert!(err.contains("listen") && err.contains("localhost"), "{err}");
        let err = parse(r#"region = "US EAST""#).unwrap_err().to_string();
        assert!(err.contains("region") && err.contains("US EAST"), "{err}");
        let err = parse("lisen = []").unwrap_err().to_string();
        assert!(err.contains("lisen"), "{err}");
        let err = parse(
            r#"
            [[tiers]]
            name = "a"
            path = "x"
            [[tiers]]
            name = "a"
            path = "y"
            "#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("tiers.name") && err.contains("\"a\""), "{err}");
        let err = parse("[storage]\ninline_threshold = 99999999")
            .unwrap_err()
            .to_string();
        assert!(err.contains("storage.inline_threshold"), "{err}");
    }

    #[test]
    fn unix_listeners_tls_and_connection_limits() {
        let s = parse(
            r#"
            listen = ["127.0.0.1:9443", "unix:/run/vmgw/s3.sock"]
            [tls]
            cert_file = "/etc/vmgw/cert.pem"
            key_file = "/etc/vmgw/key.pem"
            client_ca_file = "/etc/vmgw/clients.pem"
            [server]
            header_read_timeout_secs = 5
            max_header_bytes = "16KiB"
            body_idle_timeout_secs = 7
            unix_socket_mode = "0600"
            "#,
        )
        .unwrap();
        assert_eq!(s.listen, vec!["127.0.0.1:9443".parse().unwrap()]);
        assert_eq!(s.listen_unix, vec![PathBuf::from("/run/vmgw/s3.sock")]);
        assert_eq!(s.unix_socket_mode, 0o600);
        let tls = s.tls.unwrap();
        assert_eq!(tls.client_ca_file, Some("/etc/vmgw/clients.pem".into()));
        assert_eq!(
            s.limits,
            ConnectionLimits {
                max_connections: 4096,
                header_read_timeout: std::time::Duration::from_secs(5),
                max_header_bytes: 16 << 10,
                body_idle_timeout: std::time::Duration::from_secs(7),
            }
        );
        let defaults = parse("").unwrap();
        assert_eq!(defaults.limits, ConnectionLimits::default());
        assert_eq!(defaults.unix_socket_mode, 0o660);
        assert!(defaults.tls.is_none() && defaults.listen_unix.is_empty());

        for (text, field, value) in [
            (r#"listen = ["unix:"]"#, "listen", "unix:"),
            (r#"listen = ["s3.sock"]"#, "listen", "s3.sock"),
            (
                "[server]\nunix_socket_mode = \"rw\"",
                "server.unix_socket_mode",
                "rw",
            ),
            (
                "[server]\nunix_socket_mode = \"1777\"",
                "server.unix_socket_mode",
                "1777",
            ),
            (
                "[server]\nheader_read_timeout_secs = 0",
                "server.header_read_timeout_secs",
                "0",
            ),
            (
                "[server]\nbody_idle_timeout_secs = 0",
                "server.body_idle_timeout_secs",
                "0",
            ),
            (
                "[server]\nmax_header_bytes = 100",
                "server.max_header_bytes",
                "100",
            ),
            (
                "[server]\nmax_header_bytes = \"2MiB\"",
                "server.max_header_bytes",
                "2MiB",
            ),
            (
                "[tls]\ncert_file = \"\"\nkey_file = \"k\"",
                "tls.cert_file",
                "",
            ),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(field) && err.contains(value), "{text}: {err}");
        }
        let err = parse("[tls]\ncert_file = \"c\"").unwrap_err().to_string();
        assert!(err.contains("key_file"), "{err}");
    }

    #[test]
    fn capacity_and_watermarks() {
        let s = parse(
            r#"
            [[tiers]]
            name = "ssd"
            path = "ssd"
            capacity = "512MiB"
            high_watermark = 80
            low_watermark = 50
            [[tiers]]
            name = "hdd"
            path = "hdd"
            capacity = 1073741824
            [placement]
            check_interval_ms = 200
            "#,
        )
        .unwrap();
        assert_eq!(
            s.tiers[0].watermarks,
            Watermarks {
                capacity: Some(512 << 20),
                high_percent: 80,
                low_percent: 50
            }
        );
        assert_eq!(
            s.tiers[1].watermarks,
            Watermarks {
                capacity: Some(1 << 30),
                ..Watermarks::default()
            }
        );
        assert_eq!(s.placement.check_interval_ms, 200);
        let defaults = parse("").unwrap();
        assert_eq!(defaults.tiers[0].watermarks, Watermarks::default());
        assert_eq!(defaults.placement.check_interval_ms, 10_000);

        let tier = |extra: &str| format!("[[tiers]]\nname = \"ssd\"\npath = \"x\"\n{extra}");
        for (extra, field, value) in [
            (
                "capacity = \"10 parsecs\"",
                "tiers.ssd.capacity",
                "10 parsecs",
            ),
            ("capacity = -3", "tiers.ssd.capacity", "-3"),
            ("capacity = 0", "tiers.ssd.capacity", "0"),
            ("high_watermark = 101", "tiers.ssd.high_watermark", "101"),
            ("low_watermark = -1", "tiers.ssd.low_watermark", "-1"),
            (
                "high_watermark = 60\nlow_watermark = 60",
                "tiers.ssd.low_watermark",
                "60",
            ),
            ("low_watermark = 95", "tiers.ssd.low_watermark", "95"),
        ] {
            let err = parse(&tier(extra)).unwrap_err().to_string();
            assert!(err.contains(field) && err.contains(value), "{extra}: {err}");
        }
        let err = parse("[placement]\ncheck_interval_ms = 0")
            .unwrap_err()
            .to_string();
        assert!(err.contains("placement.check_interval_ms"), "{err}");
    }
}
