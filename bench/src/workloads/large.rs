//! Large objects: every client PUTs a fixed number of objects (one shared pre-generated body),
//! then GETs them back, reading each body to the end. Reported in MiB/s.

use crate::body::pattern;
use crate::cli::Plan;
use crate::error::{BenchError, Result};
use crate::report::Row;

use super::{Budget, Ctx, clients_label, drive, row, size_label};

pub async fn run(ctx: &mut Ctx, plan: &Plan) -> Result<Vec<Row>> {
    let size = plan.large_size as u64;
    let body = pattern(plan.large_size, 64);
    let label = size_label(size);
    let mut rows = Vec::new();
    for &clients in &plan.large_clients {
        let workers = ctx.clients(clients);
        let key = move |worker: usize, i: u64| format!("large/c{clients}/w{worker}/{i}");
        let per_worker = Budget::PerWorker(plan.large_objects);

        let body = body.clone();
        let (put, usage) = ctx
            .measure(drive(&workers, per_worker, move |s3, w, i| {
                let body = body.clone();
                async move {
                    s3.put(&key(w, i), body).await?;
                    Ok(size)
                }
            }))
            .await?;
        rows.push(row(
            format!("put-{label}-c{clients}"),
            format!("PUT {label}, {}", clients_label(clients)),
            "MiB/s",
            put.sample.mib_per_sec(),
            &put.sample,
            usage,
        ));

        ctx.settle().await?;
        let (get, usage) = ctx
            .measure(drive(&workers, per_worker, move |s3, w, i| async move {
                let k = key(w, i);
                match s3.get(&k).await? {
                    n if n == size => Ok(n),
                    n => Err(BenchError::Check(format!(
                        "GET {k}: {n} bytes, expected {size}"
                    ))),
                }
            }))
            .await?;
        rows.push(row(
            format!("get-{label}-c{clients}"),
            format!("GET {label}, {}", clients_label(clients)),
            "MiB/s",
            get.sample.mib_per_sec(),
            &get.sample,
            usage,
        ));

        // Free the disk space before the next round (not measured).
        drive(&workers, per_worker, move |s3, w, i| async move {
            s3.delete(&key(w, i)).await?;
            Ok(0)
        })
        .await?;
        ctx.settle().await?;
    }
    Ok(rows)
}
