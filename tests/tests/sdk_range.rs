//! Conformance (aws-sdk-s3): byte ranges on GET and HEAD — `bytes=a-b`, open `bytes=a-`,
//! suffix `bytes=-n`, clipping at the end, unsatisfiable ranges (416 InvalidRange with
//! `Content-Range: bytes */size`), on inline, blob and multipart objects.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::{Checks, body, client, create_bucket, error_header, expect_error, ok, put};
use vmgw_tests::{Gateway, pattern};

const B: &str = "ranges";

/// Expected (first, last) inclusive for a range spec on an object of `size` bytes.
fn resolve(spec: &str, size: u64) -> Option<(u64, u64)> {
    let spec = spec.strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 || size == 0 {
            return None;
        }
        return Some((size.saturating_sub(n), size - 1));
    }
    let first: u64 = a.parse().ok()?;
    if first >= size {
        return None;
    }
    let last = if b.is_empty() {
        size - 1
    } else {
        b.parse::<u64>().ok()?.min(size - 1)
    };
    (last >= first).then_some((first, last))
}

/// Checks every range spec with GET and HEAD against the expected bytes.
async fn check_ranges(s3: &aws_sdk_s3::Client, key: &str, data: &[u8], specs: &[String]) {
    let size = data.len() as u64;
    let mut checks = Checks::default();
    for spec in specs {
        let expected = resolve(spec, size);
        let got = s3.get_object().bucket(B).key(key).range(spec).send().await;
        let head = s3.head_object().bucket(B).key(key).range(spec).send().await;
        match (expected, got) {
            (Some((first, last)), Ok(out)) => {
                let status = out.content_length();
                checks.check(status == Some((last - first + 1) as i64), || {
                    format!(
                        "GET {key} {spec}: Content-Length {status:?}, want {}",
                        last - first + 1
                    )
                });
                let range = out.content_range().map(str::to_owned);
                let want_range = format!("bytes {first}-{last}/{size}");
                checks.check(range.as_deref() == Some(want_range.as_str()), || {
                    format!("GET {key} {spec}: Content-Range {range:?}, want {want_range:?}")
                });
                let bytes = body(out.body).await;
                let want = &data[first as usize..=last as usize];
                checks.check(bytes == want, || {
                    format!(
                        "GET {key} {spec}: {} bytes that differ from bytes {first}-{last}",
                        bytes.len()
                    )
                });
            }
            (Some(_), Err(e)) => checks.fail(format!("GET {key} {spec}: {}", common::brief(&e))),
            (None, Ok(out)) => checks.fail(format!(
                "GET {key} {spec}: expected 416 InvalidRange, got Content-Range {:?}",
                out.content_range()
            )),
            (None, Err(e)) => {
                use aws_sdk_s3::error::ProvideErrorMetadata;
                let status = e.raw_response().map(|r| r.status().as_u16());
                checks.check(
                    status == Some(416) && e.code() == Some("InvalidRange"),
                    || {
                        format!(
                            "GET {key} {spec}: expected 416 InvalidRange, got {status:?} {:?}",
                            e.code()
                        )
                    },
                );
                let content_range = error_header(&e, "content-range");
                let want = format!("bytes */{size}");
                checks.check(content_range.as_deref() == Some(want.as_str()), || {
                    format!(
                        "GET {key} {spec}: 416 with Content-Range {content_range:?}, want {want:?}"
                    )
                });
            }
        }
        // HEAD answers the same status and headers, without a body.
        match (expected, head) {
            (Some((first, last)), Ok(out)) => {
                let want_range = format!("bytes {first}-{last}/{size}");
                checks.check(
                    out.content_range() == Some(want_range.as_str())
                        && out.content_length() == Some((last - first + 1) as i64),
                    || {
                        format!(
                            "HEAD {key} {spec}: Content-Range {:?} Content-Length {:?}, want {want_range:?}",
                            out.content_range(),
                            out.content_length()
                        )
                    },
                );
            }
            (Some(_), Err(e)) => checks.fail(format!("HEAD {key} {spec}: {}", common::brief(&e))),
            (None, Ok(out)) => checks.fail(format!(
                "HEAD {key} {spec}: expected 416, got Content-Range {:?}",
                out.content_range()
            )),
            (None, Err(e)) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                checks.check(status == Some(416), || {
                    format!("HEAD {key} {spec}: expected 416, got {status:?}")
                });
            }
        }
    }
    checks.finish(&format!("ranges of {key} ({size} bytes)"));
}

fn specs(size: u64) -> Vec<String> {
    let s = size;
    vec![
        "bytes=0-0".into(),
        "bytes=0-9".into(),
        "bytes=10-19".into(),
        format!("bytes={}-{}", s - 10, s - 1),
        format!("bytes={}-{}", s - 5, s + 1000),
        format!("bytes=0-{}", s - 1),
        format!("bytes=0-{}", s * 10),
        "bytes=7-".into(),
        format!("bytes={}-", s - 1),
        "bytes=-1".into(),
        "bytes=-100".into(),
        format!("bytes=-{s}"),
        format!("bytes=-{}", s + 5000),
        // Unsatisfiable.
        format!("bytes={s}-"),
        format!("bytes={s}-{}", s + 10),
        format!("bytes={}-{}", s + 100, s + 200),
        "bytes=-0".into(),
    ]
}

#[tokio::test]
async fn ranges_on_small_and_large_objects() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    // Inline (below 64 KiB) and blob-backed (several 1 MiB chunks) objects.
    let small = pattern(1000, 1);
    put(&s3, B, "small", &small).await;
    check_ranges(&s3, "small", &small, &specs(1000)).await;

    let large = pattern(3_000_000, 2);
    put(&s3, B, "large", &large).await;
    let mut large_specs = specs(3_000_000);
    // Across chunk boundaries.
    large_specs.push("bytes=1048570-1048590".into());
    large_specs.push("bytes=1048576-2097152".into());
    large_specs.push("bytes=999999-2000001".into());
    check_ranges(&s3, "large", &large, &large_specs).await;

    // The status of a satisfied range is 206, of a whole GET 200.
    let raw = common::raw::Request::new("GET", &format!("/{B}/small"))
        .header("range", "bytes=1-2")
        .signed_ok(&gw.addr)
        .send(&gw.addr)
        .await;
    assert_eq!(raw.status, 206, "status of a range GET");
    assert_eq!(raw.body, &small[1..3]);
    assert_eq!(raw.header("content-range"), Some("bytes 1-2/1000"));
    let raw = common::raw::Request::new("GET", &format!("/{B}/small"))
        .signed_ok(&gw.addr)
        .send(&gw.addr)
        .await;
    assert_eq!(raw.status, 200, "status of a whole GET");

    // An empty object has no satisfiable range.
    put(&s3, B, "empty", b"").await;
    for spec in ["bytes=0-0", "bytes=0-", "bytes=-1"] {
        let err = expect_error(
            s3.get_object()
                .bucket(B)
                .key("empty")
                .range(spec)
                .send()
                .await,
            416,
            "InvalidRange",
            &format!("GET empty object {spec}"),
        );
        assert_eq!(
            error_header(&err, "content-range").as_deref(),
            Some("bytes */0"),
            "Content-Range of a 416 on an empty object"
        );
    }
}

#[tokio::test]
async fn ranges_across_multipart_parts() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    let parts = [pattern(5 << 20, 11), pattern(5 << 20, 12), pattern(777, 13)];
    let upload = ok(
        s3.create_multipart_upload()
            .bucket(B)
            .key("mp")
            .send()
            .await,
        "CreateMultipartUpload",
    );
    let id = upload.upload_id().unwrap();
    let mut completed = Vec::new();
    for (i, data) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let out = ok(
            s3.upload_part()
                .bucket(B)
                .key("mp")
                .upload_id(id)
                .part_number(n)
                .body(ByteStream::from(data.clone()))
                .send()
                .await,
            "UploadPart",
        );
        completed.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .build(),
        );
    }
    ok(
        s3.complete_multipart_upload()
            .bucket(B)
            .key("mp")
            .upload_id(id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            )
            .send()
            .await,
        "CompleteMultipartUpload",
    );
    let whole: Vec<u8> = parts.concat();
    let p = 5u64 << 20;
    let size = whole.len() as u64;
    let mut specs = specs(size);
    specs.extend([
        format!("bytes={}-{}", p - 3, p + 3),
        format!("bytes={}-{}", p, 2 * p - 1),
        format!("bytes={}-{}", p - 1, 2 * p),
        format!("bytes={}-", 2 * p - 10),
        "bytes=-800".to_owned(),
        format!("bytes=1-{}", size - 2),
    ]);
    check_ranges(&s3, "mp", &whole, &specs).await;
}

#[tokio::test]
async fn unparsable_ranges_get_a_clean_client_error() {
    // S3 ignores a Range header it cannot parse and answers 200 with the whole object. s3s
    // parses (and rejects) the header before the gateway sees the request, and the header is
    // usually signed, so it cannot be dropped either: vmgw answers 400 InvalidArgument with
    // a complete error document instead (docs/SEMANTICS.md lists this difference).
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    let data = pattern(1000, 4);
    put(&s3, B, "obj", &data).await;
    for spec in ["bytes=abc", "items=0-1", "bytes=5-1", "bytes=--3"] {
        let result = s3
            .get_object()
            .bucket(B)
            .key("obj")
            .range(spec)
            .send()
            .await;
        expect_error(
            result,
            400,
            "InvalidArgument",
            &format!("GET Range: {spec}"),
        );
    }
    // The object is untouched and a valid range still works.
    let out = s3
        .get_object()
        .bucket(B)
        .key("obj")
        .range("bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(body(out.body).await, data[..10]);
}
