//! Moves between tiers: N large objects are PUT to tier `ssd`, then moved to tier `hdd`
//! through the admin API (`POST /v1/objects/move`: copy, read the copy back and check its
//! MD5, swap the layout in one commit). Reported in MiB/s of moved bytes; afterwards
//! `POST /v1/objects/where` must place every object on `hdd`, or the workload fails.

use std::time::Instant;

use futures::{StreamExt, TryStreamExt};

use crate::admin::Admin;
use crate::body::pattern;
use crate::cli::Plan;
use crate::error::{BenchError, Result};
use crate::report::Row;
use crate::server::Launch;
use crate::stats::Sample;

use super::tiered::{TierServer, check_placement, tier_toml};
use super::{BUCKET, row, size_label};

pub async fn run(launch: &Launch, plan: &Plan) -> Result<Vec<Row>> {
    let config = tier_toml("ssd", None, false) + &tier_toml("hdd", None, false);
    let mut tiered = TierServer::start(launch, plan, &config, &[]).await?;
    let result = measure(&mut tiered, plan).await;
    tiered.finish(result)
}

async fn measure(t: &mut TierServer, plan: &Plan) -> Result<Vec<Row>> {
    let size = plan.move_size;
    let label = size_label(size);
    let s3 = t.ctx.clients(1).remove(0);
    // Plain tiers store bytes as they come, so one shared body serves every object.
    let body = pattern(size as usize, 71);
    let mut rows = Vec::new();
    for &concurrency in &plan.move_concurrency {
        let keys: Vec<String> = (0..plan.move_objects)
            .map(|i| format!("move/c{concurrency}/{i}"))
            .collect();
        for key in &keys {
            s3.put(key, body.clone()).await?;
        }
        check_placement(&t.admin, &keys, "ssd", size).await?;
        t.ctx.settle().await?;

        let (sample, usage) = t
            .ctx
            .measure(move_all(&t.admin, &keys, "hdd", size, concurrency))
            .await?;
        check_placement(&t.admin, &keys, "hdd", size).await?;

        let mut r = row(
            format!("move-{label}-ssd-hdd-c{concurrency}"),
            if concurrency == 1 {
                format!("Move {label} ssd→hdd, 1 at a time")
            } else {
                format!("Move {label} ssd→hdd, {concurrency} in flight")
            },
            "MiB/s",
            sample.mib_per_sec(),
            &sample,
            usage,
        );
        r.note = format!(
            "{} objects via the admin API; copy + MD5 read-back + commit, fsync on; \
             verified on hdd afterwards",
            keys.len()
        );
        rows.push(r);

        // Free the disk before the next round (not measured).
        for key in &keys {
            s3.delete(key).await?;
        }
        t.ctx.settle().await?;
    }
    Ok(rows)
}

/// Moves every key to `tier`, `concurrency` at a time, recording each move's latency.
async fn move_all(
    admin: &Admin,
    keys: &[String],
    tier: &str,
    size: u64,
    concurrency: usize,
) -> Result<Sample> {
    let start = Instant::now();
    let moves: Vec<(std::time::Duration, u64)> = futures::stream::iter(keys)
        .map(|key| async move {
            let t0 = Instant::now();
            let moved = admin.move_object(BUCKET, key, tier).await?;
            if moved.bytes != size {
                return Err(BenchError::Check(format!(
                    "moving {key}: {} bytes copied, expected {size}",
                    moved.bytes
                )));
            }
            Ok((t0.elapsed(), moved.bytes))
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    let mut sample = Sample::default();
    for (latency, bytes) in moves {
        sample.record(latency, bytes);
    }
    sample.elapsed = start.elapsed();
    Ok(sample)
}
