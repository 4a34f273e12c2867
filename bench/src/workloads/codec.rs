//! The tier codecs on their own, through `vmgw-tiering` in this process (no server, no
//! network): a corpus is written as one blob to a `LocalTier` with each codec — plain, zstd
//! level 3, zstd level 3 + AES-256-GCM — read back, and its at-rest size taken. Reported:
//! write and read MiB/s, stored bytes in % of logical bytes, and for random data the extra
//! bytes zstd + AES stores over plain.
//!
//! fsync is off (`LocalTierOptions::fsync = false`): the figures are the codec's cost, not
//! the disk's; reads come from the page cache. Each corpus is a generated window written
//! over and over until the size is reached: the tier compresses and seals every 1 MiB chunk
//! on its own, so repeating the window changes no chunk's ratio, and no time is spent
//! generating data while the clock runs.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use vmgw_tiering::{
    CodecOptions, DataId, Keyring, LocalTier, LocalTierOptions, Tier, parse_hex_key,
};

use crate::body::{Corpus, CorpusStream};
use crate::cli::Plan;
use crate::error::{BenchError, Result};
use crate::procfs::{Proc, machine_busy_seconds};
use crate::report::{Row, summary_row};
use crate::server::Launch;
use crate::stats::Sample;

use super::tiered::BENCH_KEY_HEX;
use super::{Usage, row, size_label};

/// Bytes of each corpus generated before the clock starts.
const WINDOW: u64 = 32 << 20;
/// Bytes handed to the tier per call (its chunk size).
const STEP: usize = 1 << 20;

pub async fn run(launch: &Launch, plan: &Plan) -> Result<Vec<Row>> {
    let work_dir = launch.work_dir.clone();
    let size = plan.codec_size;
    // The tier API blocks, as the gateway drives it from its blocking pool.
    tokio::task::spawn_blocking(move || measure(work_dir.as_deref(), size))
        .await
        .map_err(|e| BenchError::Check(format!("codec worker panicked: {e}")))?
}

/// One codec under test: `id` goes into result ids, `name` into labels.
struct Codec {
    id: &'static str,
    name: &'static str,
    options: CodecOptions,
}

fn codecs() -> Result<Vec<Codec>> {
    let key = parse_hex_key(1, BENCH_KEY_HEX)?;
    let keyring = Arc::new(Keyring::new(1, [(1, key)])?);
    Ok(vec![
        Codec {
            id: "plain",
            name: "plain",
            options: CodecOptions::default(),
        },
        Codec {
            id: "zstd3",
            name: "zstd-3",
            options: CodecOptions {
                zstd_level: Some(3),
                keyring: None,
            },
        },
        Codec {
            id: "zstd3-aes",
            name: "zstd-3 + AES-256-GCM",
            options: CodecOptions {
                zstd_level: Some(3),
                keyring: Some(keyring),
            },
        },
    ])
}

fn measure(work_dir: Option<&Path>, size: u64) -> Result<Vec<Row>> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("vmgw-bench-codec-");
    let dir = match work_dir {
        Some(parent) => builder.tempdir_in(parent)?,
        None => builder.tempdir()?,
    };
    let label = size_label(size);
    let codecs = codecs()?;
    let mut rows = Vec::new();
    for (seed, corpus) in [(21, Corpus::Text), (22, Corpus::Random)] {
        let window = generate(corpus, seed, size.min(WINDOW));
        let mut stored = Vec::new();
        for codec in &codecs {
            let tier = LocalTier::open(
                codec.id,
                dir.path().join(codec.id),
                LocalTierOptions {
                    fsync: false,
                    codec: codec.options.clone(),
                    ..LocalTierOptions::default()
                },
            )?;
            let id = DataId::random();
            let (write, usage) = with_usage(|| write_blob(&tier, id, &window, size))?;
            let at_rest = tier.stored_size(id)?;
            stored.push(at_rest);
            let percent = at_rest as f64 * 100.0 / size as f64;
            let mut r = row(
                format!("codec-write-{label}-{}-{}", corpus.name(), codec.id),
                format!("Codec write {label} {}, {}", corpus.name(), codec.name),
                "MiB/s",
                write.mib_per_sec(),
                &write,
                usage,
            );
            r.note = format!(
                "in-process LocalTier, fsync off; stored {percent:.2} % of logical; \
                 latency per 1 MiB write; CPU in the client column"
            );
            rows.push(r);

            let (read, usage) = with_usage(|| read_blob(&tier, id, &window, size))?;
            let mut r = row(
                format!("codec-read-{label}-{}-{}", corpus.name(), codec.id),
                format!("Codec read {label} {}, {}", corpus.name(), codec.name),
                "MiB/s",
                read.mib_per_sec(),
                &read,
                usage,
            );
            r.note = "page cache; latency per 1 MiB read; CPU in the client column".into();
            rows.push(r);
            rows.push(summary_row(
                &format!("codec-stored-{label}-{}-{}", corpus.name(), codec.id),
                &format!("Codec stored {label} {}, {}", corpus.name(), codec.name),
                "% of logical",
                percent,
            ));
            tier.remove(id)?;
        }
        if corpus == Corpus::Random
            && let (Some(&plain), Some(&sealed)) = (stored.first(), stored.last())
        {
            rows.push(summary_row(
                &format!("codec-overhead-{label}-random-zstd3-aes"),
                &format!(
                    "Codec stored {label} random, zstd-3 + AES-256-GCM over plain ({:+} B)",
                    sealed as i64 - plain as i64
                ),
                "%",
                (sealed as f64 / plain as f64 - 1.0) * 100.0,
            ));
        }
    }
    Ok(rows)
}

/// `len` bytes of `corpus` as 1 MiB chunks.
fn generate(corpus: Corpus, seed: u64, len: u64) -> Vec<Bytes> {
    let mut stream = CorpusStream::new(corpus, seed, len);
    std::iter::from_fn(|| stream.next_chunk()).collect()
}

/// The window's chunks over and over until `size` bytes: the rest of the chunk `offset`
/// falls in.
fn chunk_at(window: &[Bytes], offset: u64, size: u64) -> &[u8] {
    let step = STEP as u64;
    let chunk = &window[(offset / step) as usize % window.len()];
    let from = (offset % step) as usize;
    let to = chunk.len().min(from + (size - offset) as usize);
    &chunk[from..to]
}

/// Writes `size` bytes as blob `id`; the sample times each write call, the finish is added
/// to the last one.
fn write_blob(tier: &LocalTier, id: DataId, window: &[Bytes], size: u64) -> Result<Sample> {
    let mut sample = Sample::default();
    let mut writer = tier.create(id)?;
    let mut offset = 0;
    while offset < size {
        let data = chunk_at(window, offset, size);
        let t0 = Instant::now();
        writer.write(data)?;
        sample.record(t0.elapsed(), data.len() as u64);
        offset += data.len() as u64;
    }
    let t0 = Instant::now();
    let written = writer.finish()?;
    if let Some(last) = sample.latencies.last_mut() {
        *last += t0.elapsed();
    }
    if written != size {
        return Err(BenchError::Check(format!(
            "codec: wrote {written} bytes, expected {size}"
        )));
    }
    sample.elapsed = sample.latencies.iter().sum();
    Ok(sample)
}

/// Reads blob `id` back in 1 MiB steps and compares it with what was written (outside the
/// timed calls).
fn read_blob(tier: &LocalTier, id: DataId, window: &[Bytes], size: u64) -> Result<Sample> {
    let mut sample = Sample::default();
    let mut reader = tier.open(id)?;
    if reader.len() != size {
        return Err(BenchError::Check(format!(
            "codec: blob holds {} bytes, expected {size}",
            reader.len()
        )));
    }
    let mut offset = 0;
    while offset < size {
        let t0 = Instant::now();
        let data = reader.read_at(offset, STEP)?;
        sample.record(t0.elapsed(), data.len() as u64);
        if data.is_empty() || *data != chunk_at(window, offset, size)[..data.len()] {
            return Err(BenchError::Check(format!(
                "codec: bytes read at {offset} differ from those written"
            )));
        }
        offset += data.len() as u64;
    }
    sample.elapsed = sample.latencies.iter().sum();
    Ok(sample)
}

/// Runs `work` and the CPU this process (the "client" column) and the rest of the machine
/// used meanwhile; there is no server.
fn with_usage<T>(work: impl FnOnce() -> Result<T>) -> Result<(T, Usage)> {
    let me = Proc::current();
    let (cpu0, busy0) = (me.cpu_seconds()?, machine_busy_seconds()?);
    let out = work()?;
    let (cpu1, busy1) = (me.cpu_seconds()?, machine_busy_seconds()?);
    let client = cpu1 - cpu0;
    Ok((
        out,
        Usage {
            client_cpu_s: client,
            other_cpu_s: (busy1 - busy0 - client).max(0.0),
            ..Usage::default()
        },
    ))
}
