//! Versioning at scale, on a vmgw of its own: ListObjectsV2 over N keys that have V versions
//! each (a bucket with versioning enabled, every key written V times) against the same walk
//! over an unversioned bucket of N keys. vmgw keeps noncurrent versions out of the table
//! listings read, so the goal is that the versioned walk runs at least at 80 % of the
//! unversioned one's speed.
//!
//! 1. **Populate** both buckets with empty objects from 64 clients (reported, not a goal);
//!    the versioned bucket round by round, so each key's versions are spread over the whole
//!    population time, as with real overwrites.
//! 2. **ListObjectVersions** once over the versioned bucket, which must hold exactly N × V
//!    versions (a check that the population is what it claims; its rate is reported).
//! 3. **ListObjectsV2** walks (1000 keys a page), alternating between the two buckets so
//!    that drift in the machine's speed hits both alike; each must see exactly N keys.

use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use bytes::Bytes;

use crate::cli::Plan;
use crate::client::S3;
use crate::error::{BenchError, Result};
use crate::report::{Row, summary_row};
use crate::server::Launch;
use crate::stats::Sample;

use super::list::walk;
use super::tiered::TierServer;
use super::{BUCKET, Budget, Usage, clients_label, drive, row};

const VERSIONED: &str = "bench-versions";
const POPULATE_CLIENTS: usize = 64;

fn key(i: u64) -> String {
    format!("k/{i:07}")
}

pub async fn run(launch: &Launch, plan: &Plan) -> Result<Vec<Row>> {
    let mut server = TierServer::start(launch, plan, "", &[]).await?;
    let result = measure(&mut server, plan).await;
    server.finish(result)
}

/// Walks every version of the bucket (ListObjectVersions, 1000 a page); returns how many.
async fn walk_versions(s3: &S3, sample: &mut Sample) -> Result<u64> {
    let start = std::time::Instant::now();
    let (mut count, mut key_marker, mut version_marker) = (0, None, None);
    loop {
        let t0 = std::time::Instant::now();
        let page = s3
            .client
            .list_object_versions()
            .bucket(&*s3.bucket)
            .max_keys(1000)
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .send()
            .await
            .map_err(|e| BenchError::s3("ListObjectVersions", e))?;
        sample.record(t0.elapsed(), 0);
        count += (page.versions().len() + page.delete_markers().len()) as u64;
        if !page.is_truncated().unwrap_or(false) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
    }
    sample.elapsed += start.elapsed();
    Ok(count)
}

#[allow(clippy::cast_precision_loss)]
async fn measure(t: &mut TierServer, plan: &Plan) -> Result<Vec<Row>> {
    let (n, versions) = (plan.versioning_keys, plan.versioning_versions);
    let mut rows = Vec::new();
    let sdk = t.ctx.clients(1).remove(0).client;
    sdk.create_bucket()
        .bucket(VERSIONED)
        .send()
        .await
        .map_err(|e| BenchError::s3("CreateBucket", e))?;
    sdk.put_bucket_versioning()
        .bucket(VERSIONED)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .map_err(|e| BenchError::s3("PutBucketVersioning", e))?;

    // 1. Populate.
    for (bucket, total, label) in [
        (BUCKET, n, format!("PUT 0 B ({n} keys, unversioned)")),
        (
            VERSIONED,
            n * versions,
            format!("PUT 0 B ({n} keys × {versions} versions)"),
        ),
    ] {
        let writers = t.ctx.clients_for(bucket, POPULATE_CLIENTS);
        t.ctx.settle().await?;
        let (out, usage) = t
            .ctx
            .measure(drive(
                &writers,
                Budget::Total(total),
                move |s3, _, i| async move {
                    s3.put(&key(i % n), Bytes::new()).await?;
                    Ok(0)
                },
            ))
            .await?;
        let mut r = row(
            format!("ver-populate-{bucket}"),
            format!("{label}, {}", clients_label(POPULATE_CLIENTS)),
            "ops/s",
            out.sample.ops_per_sec(),
            &out.sample,
            usage,
        );
        r.note = "creates the listing's keys".into();
        rows.push(r);
    }

    // 2. Every version, once.
    let plain = t.ctx.clients_for(BUCKET, 1).remove(0);
    let versioned = t.ctx.clients_for(VERSIONED, 1).remove(0);
    t.ctx.settle().await?;
    let ((sample, count), usage) = t
        .ctx
        .measure(async {
            let mut sample = Sample::default();
            let count = walk_versions(&versioned, &mut sample).await?;
            Ok((sample, count))
        })
        .await?;
    if count != n * versions {
        return Err(BenchError::Check(format!(
            "ListObjectVersions saw {count} versions, expected {}",
            n * versions
        )));
    }
    let mut r = row(
        "ver-list-versions".into(),
        format!("ListObjectVersions, {count} versions of {n} keys"),
        "versions/s",
        count as f64 / sample.elapsed.as_secs_f64(),
        &sample,
        usage,
    );
    r.note = "1 walk, 1000 versions/page; latency per page".into();
    rows.push(r);

    // 3. ListObjectsV2, alternating.
    let mut samples = [Sample::default(), Sample::default()];
    let mut usages = [Usage::default(), Usage::default()];
    for _ in 0..plan.list_walks {
        for (i, s3) in [&plain, &versioned].into_iter().enumerate() {
            t.ctx.settle().await?;
            let ((sample, keys), usage) = t
                .ctx
                .measure(async {
                    let mut sample = Sample::default();
                    let (keys, _) = walk(s3, "", None, &mut sample).await?;
                    Ok((sample, keys))
                })
                .await?;
            if keys != n {
                return Err(BenchError::Check(format!(
                    "a ListObjectsV2 walk of {} saw {keys} keys, expected {n}",
                    s3.bucket
                )));
            }
            samples[i].elapsed += sample.elapsed;
            samples[i].merge(sample);
            usages[i].add(usage);
        }
    }
    let mut rates = [0.0; 2];
    for (i, (id, label)) in [
        (
            "ver-list-unversioned",
            format!("List {n} keys, unversioned"),
        ),
        (
            "ver-list-versioned",
            format!("List {n} keys × {versions} versions, versioning enabled"),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let keys = n * u64::from(plan.list_walks);
        rates[i] = keys as f64 / samples[i].elapsed.as_secs_f64();
        let mut r = row(id.into(), label, "keys/s", rates[i], &samples[i], usages[i]);
        r.note = format!(
            "{} walk(s), alternating with the other bucket, 1000 keys/page; latency per page",
            plan.list_walks
        );
        rows.push(r);
    }
    rows.push(summary_row(
        "ver-list-versioned-vs-unversioned",
        "ListObjectsV2: versioned bucket's keys/s in % of the unversioned one's",
        "%",
        100.0 * rates[1] / rates[0],
    ));
    Ok(rows)
}
