//! GET of large objects from a plain tier and from a compressed and sealed one (zstd level 3
//! and AES-256-GCM), one client, for English-like text and for random data. Each corpus is
//! stored twice with the same bytes: on tier `ssd` (plain) and, through storage class
//! `STANDARD_IA` mapped to it, on tier `sealed`. The four objects are read in turn, round
//! after round, so drift on a shared machine affects both tiers alike. Reported: MiB/s per
//! object and the sealed figure in % of the plain one.
use std::time::Instant;

use aws_sdk_s3::types::StorageClass;

use crate::body::Corpus;
use crate::cli::Plan;
use crate::error::{BenchError, Result};
use crate::report::{Row, summary_row};
use crate::server::Launch;
use crate::stats::Sample;

use super::tiered::{BENCH_KEY_HEX, TierServer, check_placement, tier_toml};
use super::{Usage, row, size_label};

/// One object of the workload and what reading it measured.
struct Target {
    corpus: Corpus,
    sealed: bool,
    key: String,
    sample: Sample,
    usage: Usage,
    /// Logical over at-rest size, as the gateway reports it.
    ratio: f64,
}

impl Target {
    fn tier(&self) -> &'static str {
        if self.sealed { "sealed" } else { "ssd" }
    }
}

pub async fn run(launch: &Launch, plan: &Plan) -> Result<Vec<Row>> {
    let config = tier_toml("ssd", None, false)
        + &tier_toml("sealed", Some(3), true)
        + "[storage_classes]\nSTANDARD_IA = \"sealed\"\n";
    let env = [("VMGW_ENCRYPTION_KEY".to_owned(), BENCH_KEY_HEX.to_owned())];
    let mut tiered = TierServer::start(launch, plan, &config, &env).await?;
    let result = measure(&mut tiered, plan).await;
    tiered.finish(result)
}

async fn measure(t: &mut TierServer, plan: &Plan) -> Result<Vec<Row>> {
    let size = plan.tier_get_size;
    let label = size_label(size);
    let s3 = t.ctx.clients(1).remove(0);

    let mut targets = Vec::new();
    for (seed, corpus) in [(11, Corpus::Text), (12, Corpus::Random)] {
        for sealed in [false, true] {
            let mut target = Target {
                corpus,
                sealed,
                key: format!(
                    "get/{}/{}",
                    corpus.name(),
                    if sealed { "sealed" } else { "plain" }
                ),
                sample: Sample::default(),
                usage: Usage::default(),
                ratio: 0.0,
            };
            let class = sealed.then_some(StorageClass::StandardIa);
            // Same seed on both tiers: the same bytes, stored two ways.
            let secs = t
                .put_generated(&s3, &target.key, corpus, seed, size, class)
                .await?;
            let placement = check_placement(
                &t.admin,
                std::slice::from_ref(&target.key),
                target.tier(),
                size,
            )
            .await?;
            target.ratio = placement[0].compression_ratio;
            eprintln!(
                "[vmgw]   PUT {} on {} in {secs:.1} s, stored at {:.2}x",
                target.key,
                target.tier(),
                target.ratio
            );
            targets.push(target);
        }
    }
    t.ctx.settle().await?;

    for _ in 0..plan.tier_get_rounds {
        for target in &mut targets {
            let key = target.key.clone();
            let ((latency, n), usage) = t
                .ctx
                .measure(async {
                    let t0 = Instant::now();
                    let n = s3.get(&key).await?;
                    Ok((t0.elapsed(), n))
                })
                .await?;
            if n != size {
                return Err(BenchError::Check(format!(
                    "GET {key}: {n} bytes, expected {size}"
                )));
            }
            target.sample.record(latency, n);
            target.usage.add(usage);
        }
    }

    let mut rows = Vec::new();
    for corpus in [Corpus::Text, Corpus::Random] {
        let mut mib_s = [0.0; 2];
        for target in targets.iter_mut().filter(|t| t.corpus == corpus) {
            // Time spent in the GETs only (not in the pauses between them).
            target.sample.elapsed = target.sample.latencies.iter().sum();
            let speed = target.sample.mib_per_sec();
            mib_s[usize::from(target.sealed)] = speed;
            let (variant, tier) = if target.sealed {
                ("sealed", "zstd-3 + AES tier")
            } else {
                ("plain", "plain tier")
            };
            let mut r = row(
                format!("get-{label}-{}-{variant}-c1", corpus.name()),
                format!("GET {label} {}, {tier}, 1 client", corpus.name()),
                "MiB/s",
                speed,
                &target.sample,
                target.usage,
            );
            r.note = format!(
                "stored at {:.2}x; {} GETs, alternating with the other tier",
                target.ratio, target.sample.ops
            );
            rows.push(r);
        }
        let [plain, sealed] = mib_s;
        rows.push(summary_row(
            &format!("get-{label}-{}-sealed-vs-plain", corpus.name()),
            &format!("GET {label} {}, zstd-3 + AES in % of plain", corpus.name()),
            "%",
            if plain > 0.0 {
                sealed * 100.0 / plain
            } else {
                0.0
            },
        ));
    }
    Ok(rows)
}
