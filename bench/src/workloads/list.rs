//! Listings: a flat walk (ListObjectsV2, 1000 keys a page) over N keys, reported in keys/s;
//! and a walk with delimiter "/" over `tree/d{0..D}/f{0..F}`: the top level (which must yield
//! exactly D CommonPrefixes), then every prefix. The keys are created first (empty objects,
//! from concurrent clients; reported too, not a goal).

use std::time::Instant;

use bytes::Bytes;

use crate::cli::Plan;
use crate::client::S3;
use crate::error::{BenchError, Result};
use crate::report::Row;
use crate::stats::Sample;

use super::{Budget, Ctx, drive, row};

pub async fn run(ctx: &mut Ctx, plan: &Plan) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let tree_keys = plan.tree_dirs * plan.tree_files;
    let files = plan.tree_files.max(1);
    rows.push(
        populate(ctx, plan, "flat", plan.list_keys, |i| {
            format!("flat/k{i:06}")
        })
        .await?,
    );
    rows.push(
        populate(ctx, plan, "tree", tree_keys, move |i| {
            format!("tree/d{}/f{}", i / files, i % files)
        })
        .await?,
    );

    let s3 = ctx.clients(1).remove(0);
    ctx.settle().await?;
    let walks = plan.list_walks;
    let ((sample, keys), usage) = ctx
        .measure(async {
            let mut sample = Sample::default();
            let mut keys = 0;
            for _ in 0..walks {
                let (n, _) = walk(&s3, "flat/", None, &mut sample).await?;
                if n != plan.list_keys {
                    return Err(BenchError::Check(format!(
                        "flat walk saw {n} keys, expected {}",
                        plan.list_keys
                    )));
                }
                keys += n;
            }
            Ok((sample, keys))
        })
        .await?;
    let mut flat = row(
        "list-flat".into(),
        format!("List {} keys, flat", plan.list_keys),
        "keys/s",
        keys as f64 / sample.elapsed.as_secs_f64(),
        &sample,
        usage,
    );
    flat.note = format!("{walks} walk(s), 1000 keys/page; latency per page");
    rows.push(flat);

    ctx.settle().await?;
    let ((sample, top, keys), usage) = ctx
        .measure(async {
            let mut sample = Sample::default();
            let (_, top) = walk(&s3, "tree/", Some("/"), &mut sample).await?;
            let mut keys = 0;
            for prefix in &top {
                keys += walk(&s3, prefix, Some("/"), &mut sample).await?.0;
            }
            Ok((sample, top.len() as u64, keys))
        })
        .await?;
    if top != plan.tree_dirs || keys != tree_keys {
        return Err(BenchError::Check(format!(
            "delimiter walk saw {top} CommonPrefixes and {keys} keys, expected {} and {tree_keys}",
            plan.tree_dirs
        )));
    }
    let mut tree = row(
        "list-tree".into(),
        format!("List {tree_keys} keys, delimiter, {top} prefixes"),
        "s",
        sample.elapsed.as_secs_f64(),
        &sample,
        usage,
    );
    tree.note = format!(
        "{top} CommonPrefixes at top level, {keys} keys, {:.0} keys/s; latency per page",
        keys as f64 / sample.elapsed.as_secs_f64()
    );
    rows.push(tree);
    Ok(rows)
}

/// Creates `n` empty objects named by `key(i)`.
async fn populate(
    ctx: &mut Ctx,
    plan: &Plan,
    what: &str,
    n: u64,
    key: impl Fn(u64) -> String + Copy + Send + Sync + 'static,
) -> Result<Row> {
    let clients = plan.populate_clients;
    let workers = ctx.clients(clients);
    ctx.settle().await?;
    let (out, usage) = ctx
        .measure(drive(
            &workers,
            Budget::Total(n),
            move |s3, _, i| async move {
                s3.put(&key(i), Bytes::new()).await?;
                Ok(0)
            },
        ))
        .await?;
    let mut r = row(
        format!("populate-{what}"),
        format!("PUT 0 B ({n} {what} keys), {clients} clients"),
        "ops/s",
        out.sample.ops_per_sec(),
        &out.sample,
        usage,
    );
    r.note = "creates the listing's keys".into();
    Ok(r)
}

/// Lists everything under `prefix`, page by page (recording each page's latency). Returns the
/// number of keys and the CommonPrefixes.
pub(super) async fn walk(
    s3: &S3,
    prefix: &str,
    delimiter: Option<&str>,
    sample: &mut Sample,
) -> Result<(u64, Vec<String>)> {
    let start = Instant::now();
    let (mut keys, mut prefixes, mut token) = (0, Vec::new(), None);
    loop {
        let t0 = Instant::now();
        let page = s3.list_page(prefix, delimiter, token.take()).await?;
        sample.record(t0.elapsed(), 0);
        keys += page.keys;
        prefixes.extend(page.prefixes);
        match page.next {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    sample.elapsed += start.elapsed();
    Ok((keys, prefixes))
}
