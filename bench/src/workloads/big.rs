//! One big multipart upload whose parts stream from a generator (the client holds one 1 MiB
//! block per part in flight, never the object): the server's peak RSS meanwhile is the point.

use std::time::Instant;

use aws_sdk_s3::primitives::{ByteStream, SdkBody};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use futures::{StreamExt, TryStreamExt};

use crate::body::{Generated, pattern};
use crate::cli::Plan;
use crate::client::S3;
use crate::error::{BenchError, Result};
use crate::report::Row;
use crate::stats::Sample;

use super::{Ctx, row, size_label};

const KEY: &str = "big/object";

pub async fn run(ctx: &mut Ctx, plan: &Plan) -> Result<Vec<Row>> {
    let s3 = ctx.clients(1).remove(0);
    let (size, part) = (plan.big_size, plan.big_part);
    let (sample, usage) = ctx
        .measure(upload(&s3, size, part, plan.big_concurrency))
        .await?;

    let head = s3.head(KEY).await?;
    if head != size {
        return Err(BenchError::Check(format!(
            "{KEY}: {head} bytes after upload, expected {size}"
        )));
    }
    s3.delete(KEY).await?;

    let label = size_label(size);
    let mut r = row(
        "big-upload".into(),
        format!("Multipart PUT {label}"),
        "MiB/s",
        sample.mib_per_sec(),
        &sample,
        usage,
    );
    r.note = format!(
        "{} parts of {}, {} in flight; latency per part incl. Create/Complete",
        size.div_ceil(part),
        size_label(part),
        plan.big_concurrency
    );
    Ok(vec![r])
}

async fn upload(s3: &S3, size: u64, part: u64, concurrency: usize) -> Result<Sample> {
    let start = Instant::now();
    let mut sample = Sample::default();
    let t0 = Instant::now();
    let upload_id = s3
        .client
        .create_multipart_upload()
        .bucket(&*s3.bucket)
        .key(KEY)
        .send()
        .await
        .map_err(|e| BenchError::s3("CreateMultipartUpload", e))?
        .upload_id
        .ok_or_else(|| BenchError::Check("CreateMultipartUpload: no upload id".into()))?;
    sample.record(t0.elapsed(), 0);

    let block = pattern(1 << 20, 2048);
    let parts = size.div_ceil(part);
    let mut done: Vec<(CompletedPart, std::time::Duration, u64)> = futures::stream::iter(1..=parts)
        .map(|n| {
            let len = part.min(size - (n - 1) * part);
            let body = Generated::new(block.clone(), n, len);
            let (s3, upload_id) = (s3.clone(), upload_id.clone());
            async move {
                let t0 = Instant::now();
                let out = s3
                    .client
                    .upload_part()
                    .bucket(&*s3.bucket)
                    .key(KEY)
                    .upload_id(upload_id)
                    .part_number(n as i32)
                    .content_length(len as i64)
                    .body(ByteStream::new(SdkBody::from_body_1_x(body)))
                    .customize()
                    .disable_payload_signing()
                    .send()
                    .await
                    .map_err(|e| BenchError::s3("UploadPart", e))?;
                let done = CompletedPart::builder()
                    .part_number(n as i32)
                    .set_e_tag(out.e_tag)
                    .build();
                Ok::<_, BenchError>((done, t0.elapsed(), len))
            }
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    done.sort_by_key(|(p, _, _)| p.part_number);
    let mut completed = Vec::with_capacity(done.len());
    for (p, latency, len) in done {
        sample.record(latency, len);
        completed.push(p);
    }

    let t0 = Instant::now();
    s3.client
        .complete_multipart_upload()
        .bucket(&*s3.bucket)
        .key(KEY)
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .send()
        .await
        .map_err(|e| BenchError::s3("CompleteMultipartUpload", e))?;
    sample.record(t0.elapsed(), 0);
    sample.elapsed = start.elapsed();
    Ok(sample)
}
