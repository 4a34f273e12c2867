//! Small objects: for each client count, PUT for a fixed time, then GET and HEAD the keys
//! that were written (round-robin) for the same time. Reported in requests per second.

use std::sync::Arc;

use crate::body::pattern;
use crate::cli::Plan;
use crate::error::{BenchError, Result};
use crate::report::Row;

use super::{Budget, Ctx, clients_label, drive, row, size_label};

pub async fn run(ctx: &mut Ctx, plan: &Plan) -> Result<Vec<Row>> {
    let size = plan.small_size as u64;
    let body = pattern(plan.small_size, 4);
    let label = size_label(size);
    let budget = Budget::For(plan.small_duration);
    let mut rows = Vec::new();
    for &clients in &plan.small_clients {
        let workers = ctx.clients(clients);
        let key = move |worker: usize, i: u64| format!("small/c{clients}/w{worker}/{i}");

        let put_body = body.clone();
        let (put, usage) = ctx
            .measure(drive(&workers, budget, move |s3, w, i| {
                let body = put_body.clone();
                async move {
                    s3.put(&key(w, i), body).await?;
                    Ok(size)
                }
            }))
            .await?;
        rows.push(row(
            format!("put-{label}-c{clients}"),
            format!("PUT {label}, {}", clients_label(clients)),
            "ops/s",
            put.sample.ops_per_sec(),
            &put.sample,
            usage,
        ));

        // Every key written, as (worker, index); readers walk it round-robin.
        let written: Arc<Vec<(usize, u64)>> = Arc::new(
            put.per_worker
                .iter()
                .enumerate()
                .flat_map(|(w, &n)| (0..n).map(move |i| (w, i)))
                .collect(),
        );
        let pick = move |written: &[(usize, u64)], w: usize, i: u64| {
            let (kw, ki) = written[((i as usize) * clients + w) % written.len()];
            key(kw, ki)
        };

        for head in [false, true] {
            ctx.settle().await?;
            let written = Arc::clone(&written);
            let (out, usage) = ctx
                .measure(drive(&workers, budget, move |s3, w, i| {
                    let k = pick(&written, w, i);
                    async move {
                        let n = if head {
                            s3.head(&k).await?
                        } else {
                            s3.get(&k).await?
                        };
                        if n != size {
                            return Err(BenchError::Check(format!(
                                "{k}: {n} bytes, expected {size}"
                            )));
                        }
                        Ok(if head { 0 } else { n })
                    }
                }))
                .await?;
            let op = if head { "head" } else { "get" };
            rows.push(row(
                format!("{op}-{label}-c{clients}"),
                format!("{} {label}, {}", op.to_uppercase(), clients_label(clients)),
                "ops/s",
                out.sample.ops_per_sec(),
                &out.sample,
                usage,
            ));
        }
        ctx.settle().await?;
    }
    Ok(rows)
}
