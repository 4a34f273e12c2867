//! Command line, and the plan (sizes, counts, durations) it resolves to.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::client::ClientKind;
use crate::server::ServerKind;

/// Benchmarks S3 servers over loopback: starts each target with a fresh data directory, runs
/// the same workloads against it and prints a Markdown table.
#[derive(Debug, Parser)]
#[command(name = "vmgw-bench", version)]
pub struct Args {
    /// Servers to run, in order.
    #[arg(long, value_delimiter = ',', default_value = "vmgw,s3s-fs")]
    pub target: Vec<ServerKind>,

    /// The vmgw binary.
    #[arg(long, default_value = "target/release/vmgw")]
    pub vmgw: PathBuf,

    /// The s3s-fs binary (default: found on PATH or in ~/.cargo/bin).
    #[arg(long)]
    pub s3s_fs: Option<PathBuf>,

    /// Extra environment for the servers, KEY=VALUE (repeatable), e.g. MALLOC_ARENA_MAX=2.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_env)]
    pub server_env: Vec<(String, String)>,

    /// Run `cargo install s3s-fs --version 0.14.1 --features binary --locked` if it is missing.
    #[arg(long)]
    pub install_s3s_fs: bool,

    /// Client for the hot-path requests (PUT/GET/HEAD): `raw` is hyper + aws-sigv4, `sdk` is
    /// aws-sdk-s3 (listing and multipart always use aws-sdk-s3).
    #[arg(long, value_enum, default_value = "raw")]
    pub client: ClientKind,

    /// Workloads to run, in this order (`tiers` stands for tier-move, tier-get, codec and
    /// tier-latency; they run on vmgw only, each on a vmgw of its own configured with tiers).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "large,small,list,big,tiers"
    )]
    pub workloads: Vec<WorkloadKind>,

    /// Small counts and short runs for a smoke test (under a minute for both targets).
    #[arg(long)]
    pub quick: bool,

    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Directory for the servers' temporary data directories (default: the system temp dir).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,

    /// Large-object size in MiB.
    #[arg(long, default_value_t = 64)]
    pub large_mib: usize,

    /// Large objects each client PUTs and then GETs [default: 16, quick: 2].
    #[arg(long)]
    pub large_objects: Option<u64>,

    /// Client counts for the large-object runs.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    pub large_clients: Vec<usize>,

    /// Small-object size in bytes.
    #[arg(long, default_value_t = 4096)]
    pub small_bytes: usize,

    /// Seconds each small-object run (PUT, GET, HEAD × client count) lasts [default: 10,
    /// quick: 1].
    #[arg(long)]
    pub small_secs: Option<f64>,

    /// Client counts for the small-object runs.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    pub small_clients: Vec<usize>,

    /// Keys in the flat listing [default: 20000, quick: 2000].
    #[arg(long)]
    pub list_keys: Option<u64>,

    /// How many times the flat listing is walked [default: 3, quick: 1].
    #[arg(long)]
    pub list_walks: Option<u32>,

    /// Top-level prefixes of the nested listing (dN/).
    #[arg(long, default_value_t = 100)]
    pub tree_dirs: u64,

    /// Keys under each nested prefix (dN/fM) [default: 1000, quick: 10].
    #[arg(long)]
    pub tree_files: Option<u64>,

    /// Concurrent clients that create the listing's keys.
    #[arg(long, default_value_t = 16)]
    pub populate_clients: usize,

    /// Size of the multipart upload whose peak server RSS is measured, in MiB [default: 2048,
    /// quick: 256].
    #[arg(long)]
    pub big_mib: Option<u64>,

    /// Part size of that upload, in MiB.
    #[arg(long, default_value_t = 64)]
    pub big_part_mib: u64,

    /// Parts of that upload in flight at once.
    #[arg(long, default_value_t = 4)]
    pub big_concurrency: usize,

    /// Size of the objects moved between tiers (tier-move, and the background moves of
    /// tier-latency), in MiB.
    #[arg(long, default_value_t = 64)]
    pub move_mib: u64,

    /// Objects moved ssd→hdd by tier-move [default: 8, quick: 2].
    #[arg(long)]
    pub move_objects: Option<u64>,

    /// Moves in flight at once in tier-move (one measured run per value).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub move_concurrency: Vec<usize>,

    /// Size of the objects tier-get reads from the plain and the sealed tier, in MiB
    /// [default: 256, quick: 64].
    #[arg(long)]
    pub tier_get_mib: Option<u64>,

    /// How many times tier-get reads each object [default: 4, quick: 1].
    #[arg(long)]
    pub tier_get_rounds: Option<u32>,

    /// Bytes of each corpus (text, random) the codec workload writes per codec, in MiB
    /// [default: 256, quick: 32].
    #[arg(long)]
    pub codec_mib: Option<u64>,

    /// Seconds of each foreground GET run of tier-latency (idle, then during moves, per
    /// object size) [default: 10, quick: 2].
    #[arg(long)]
    pub tier_latency_secs: Option<f64>,

    /// Foreground clients of tier-latency.
    #[arg(long, default_value_t = 4)]
    pub tier_latency_clients: usize,

    /// Seconds of each victim run of the qos workload [default: 10, quick: 2].
    #[arg(long)]
    pub qos_secs: Option<f64>,

    /// GET requests per second of the victim tenant in the qos workload (two clients).
    #[arg(long, default_value_t = 400)]
    pub qos_victim_rate: u32,

    /// Clients of the hammering tenant in the qos workload.
    #[arg(long, default_value_t = 8)]
    pub qos_hammer_clients: usize,

    /// Request-rate limit put on the hammering tenant (requests per second).
    #[arg(long, default_value_t = 100)]
    pub qos_rate: u32,

    /// Bandwidth limit put on the hammering tenant (MiB/s each way).
    #[arg(long, default_value_t = 8)]
    pub qos_bandwidth_mib: u64,

    /// Objects the lifecycle workload creates and indexes (default 1,000,000; 20,000 with
    /// --quick).
    #[arg(long)]
    pub lifecycle_objects: Option<u64>,

    /// Probe objects whose due-to-action latency the lifecycle workload measures.
    #[arg(long)]
    pub lifecycle_probes: Option<u64>,

    /// Keys of each bucket of the versioning workload [default: 100,000, quick: 2,000].
    #[arg(long)]
    pub versioning_keys: Option<u64>,

    /// Versions of each key in the versioned bucket [default: 10, quick: 3].
    #[arg(long)]
    pub versioning_versions: Option<u64>,
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadKind {
    /// PUT and GET of large objects.
    Large,
    /// PUT, GET and HEAD of small objects.
    Small,
    /// ListObjectsV2 walks, flat and nested with a delimiter.
    List,
    /// One big multipart upload (peak server RSS).
    Big,
    /// All four tier workloads below.
    Tiers,
    /// Moves of large objects ssd→hdd through the admin API.
    TierMove,
    /// GET of large objects from a plain and a compressed+sealed tier.
    TierGet,
    /// The tier codecs (plain, zstd, zstd+AES) directly through `vmgw-tiering`, no server.
    Codec,
    /// Foreground GET latency, idle and while objects move between tiers.
    TierLatency,
    /// The lifecycle worker at scale (vmgw only; not in the default run: ~5 min).
    Lifecycle,
    /// One tenant's GET latency while another hammers, without and with QoS limits (vmgw
    /// only; not in the default run).
    Qos,
    /// ListObjectsV2 over keys with many versions against an unversioned bucket (vmgw only;
    /// not in the default run: ~2 min).
    Versioning,
}

impl WorkloadKind {
    /// Whether the workload runs on the suite's server (the tier workloads start their own
    /// vmgw, or none).
    #[must_use]
    pub fn uses_suite_server(self) -> bool {
        matches!(self, Self::Large | Self::Small | Self::List | Self::Big)
    }
}

/// Everything a run needs, defaults resolved.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Plan {
    pub client: ClientKind,
    pub workloads: Vec<WorkloadKind>,
    pub large_size: usize,
    pub large_objects: u64,
    pub large_clients: Vec<usize>,
    pub small_size: usize,
    pub small_duration: Duration,
    pub small_clients: Vec<usize>,
    pub list_keys: u64,
    pub list_walks: u32,
    pub tree_dirs: u64,
    pub tree_files: u64,
    pub populate_clients: usize,
    pub big_size: u64,
    pub big_part: u64,
    pub big_concurrency: usize,
    pub move_size: u64,
    pub move_objects: u64,
    pub move_concurrency: Vec<usize>,
    pub tier_get_size: u64,
    pub tier_get_rounds: u32,
    pub codec_size: u64,
    pub tier_latency_duration: Duration,
    pub tier_latency_clients: usize,
    pub lifecycle_objects: u64,
    pub lifecycle_probes: u64,
    pub qos_duration: Duration,
    pub qos_victim_rate: u32,
    pub qos_hammer_clients: usize,
    pub qos_rate: u32,
    pub qos_bandwidth_mib: u64,
    pub versioning_keys: u64,
    pub versioning_versions: u64,
}

impl Args {
    #[must_use]
    pub fn plan(&self) -> Plan {
        const MIB: u64 = 1024 * 1024;
        let quick = self.quick;
        fn pick<T>(quick: bool, full: T, smoke: T) -> T {
            if quick { smoke } else { full }
        }
        Plan {
            client: self.client,
            workloads: expand(&self.workloads),
            large_size: self.large_mib << 20,
            large_objects: self.large_objects.unwrap_or(pick(quick, 16, 2)),
            large_clients: self.large_clients.clone(),
            small_size: self.small_bytes,
            small_duration: Duration::from_secs_f64(
                self.small_secs.unwrap_or(pick(quick, 10.0, 1.0)),
            ),
            small_clients: self.small_clients.clone(),
            list_keys: self.list_keys.unwrap_or(pick(quick, 20_000, 2_000)),
            list_walks: self.list_walks.unwrap_or(pick(quick, 3, 1)).max(1),
            tree_dirs: self.tree_dirs,
            tree_files: self.tree_files.unwrap_or(pick(quick, 1000, 10)),
            populate_clients: self.populate_clients.max(1),
            big_size: self.big_mib.unwrap_or(pick(quick, 2048, 256)) * MIB,
            big_part: self.big_part_mib.max(5) * MIB,
            big_concurrency: self.big_concurrency.max(1),
            move_size: self.move_mib.max(1) * MIB,
            move_objects: self.move_objects.unwrap_or(pick(quick, 8, 2)).max(1),
            move_concurrency: self.move_concurrency.iter().map(|&n| n.max(1)).collect(),
            tier_get_size: self.tier_get_mib.unwrap_or(pick(quick, 256, 64)).max(1) * MIB,
            tier_get_rounds: self.tier_get_rounds.unwrap_or(pick(quick, 4, 1)).max(1),
            codec_size: self.codec_mib.unwrap_or(pick(quick, 256, 32)).max(1) * MIB,
            tier_latency_duration: Duration::from_secs_f64(
                self.tier_latency_secs.unwrap_or(pick(quick, 10.0, 2.0)),
            ),
            tier_latency_clients: self.tier_latency_clients.max(1),
            lifecycle_objects: self
                .lifecycle_objects
                .unwrap_or(pick(quick, 1_000_000, 20_000))
                .max(1),
            lifecycle_probes: self.lifecycle_probes.unwrap_or(pick(quick, 40, 5)).max(1),
            qos_duration: Duration::from_secs_f64(self.qos_secs.unwrap_or(pick(quick, 10.0, 2.0))),
            qos_victim_rate: self.qos_victim_rate.max(1),
            qos_hammer_clients: self.qos_hammer_clients.max(1),
            qos_rate: self.qos_rate.max(1),
            qos_bandwidth_mib: self.qos_bandwidth_mib.max(1),
            versioning_keys: self
                .versioning_keys
                .unwrap_or(pick(quick, 100_000, 2_000))
                .max(1),
            versioning_versions: self
                .versioning_versions
                .unwrap_or(pick(quick, 10, 3))
                .max(1),
        }
    }
}

/// Replaces `tiers` by the tier workloads, keeping the order and dropping repeats.
fn expand(kinds: &[WorkloadKind]) -> Vec<WorkloadKind> {
    use WorkloadKind::{Codec, TierGet, TierLatency, TierMove, Tiers};
    let mut out = Vec::new();
    for &kind in kinds {
        let group: &[WorkloadKind] = if kind == Tiers {
            &[TierMove, TierGet, Codec, TierLatency]
        } else {
            &[kind]
        };
        for &k in group {
            if !out.contains(&k) {
                out.push(k);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::WorkloadKind::*;
    use super::expand;

    #[test]
    fn tiers_expands_to_the_tier_workloads() {
        assert_eq!(
            expand(&[Large, Tiers, Codec]),
            [Large, TierMove, TierGet, Codec, TierLatency]
        );
    }
}
