//! Conformance (aws-sdk-s3): CopyObject — same and cross bucket, metadata directive COPY
//! vs REPLACE, copy-source conditions, copy onto itself, special characters in the source,
//! and destination conditions.

mod common;

use std::collections::HashMap;

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::MetadataDirective;
use common::{
    Checks, body, client, create_bucket, expect_error, get, ok, put, quoted_md5, url_path,
};
use vmgw_tests::{Gateway, pattern};

const SRC: &str = "copy-src";
const DST: &str = "copy-dst";

fn meta(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn put_with_meta(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, data: &[u8]) -> String {
    let out = ok(
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .content_type("text/x-source")
            .content_disposition("attachment")
            .cache_control("max-age=60")
            .metadata("origin", "source")
            .metadata("shared", "from-source")
            .body(ByteStream::from(data.to_vec()))
            .send()
            .await,
        &format!("PUT {bucket}/{key}"),
    );
    out.e_tag().unwrap().to_owned()
}

#[tokio::test]
async fn copy_same_and_cross_bucket_with_metadata_directives() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, SRC).await;
    create_bucket(&s3, DST).await;
    for (len, seed) in [(3000usize, 1u64), (2_500_000, 2)] {
        let data = pattern(len, seed);
        let src_key = format!("src-{len}");
        let src_etag = put_with_meta(&s3, SRC, &src_key, &data).await;
        let source = format!("{SRC}/{src_key}");

        // Same bucket, default directive (COPY): bytes, ETag and metadata carried over.
        let out = ok(
            s3.copy_object()
                .bucket(SRC)
                .key(format!("same-{len}"))
                .copy_source(&source)
                .send()
                .await,
            "CopyObject within the bucket",
        );
        let result = out.copy_object_result().expect("CopyObjectResult");
        assert_eq!(result.e_tag(), Some(src_etag.as_str()), "ETag of a copy");
        assert!(result.last_modified().is_some(), "LastModified of a copy");
        let got = ok(
            s3.get_object()
                .bucket(SRC)
                .key(format!("same-{len}"))
                .send()
                .await,
            "GET copy",
        );
        assert_eq!(got.content_type(), Some("text/x-source"));
        assert_eq!(got.content_disposition(), Some("attachment"));
        assert_eq!(got.cache_control(), Some("max-age=60"));
        assert_eq!(
            got.metadata(),
            Some(&meta(&[("origin", "source"), ("shared", "from-source")]))
        );
        assert_eq!(got.e_tag(), Some(src_etag.as_str()));
        assert!(body(got.body).await == data, "bytes of a same-bucket copy");

        // Cross bucket, explicit COPY; metadata given with COPY is ignored.
        ok(
            s3.copy_object()
                .bucket(DST)
                .key(format!("cross-{len}"))
                .copy_source(&source)
                .metadata_directive(MetadataDirective::Copy)
                .metadata("ignored", "yes")
                .send()
                .await,
            "CopyObject across buckets",
        );
        let got = ok(
            s3.get_object()
                .bucket(DST)
                .key(format!("cross-{len}"))
                .send()
                .await,
            "GET cross-bucket copy",
        );
        assert_eq!(got.content_type(), Some("text/x-source"));
        assert_eq!(
            got.metadata(),
            Some(&meta(&[("origin", "source"), ("shared", "from-source")])),
            "COPY keeps the source metadata and ignores request metadata"
        );
        assert!(body(got.body).await == data, "bytes of a cross-bucket copy");

        // REPLACE: only the request's metadata and content headers.
        ok(
            s3.copy_object()
                .bucket(DST)
                .key(format!("replaced-{len}"))
                .copy_source(&source)
                .metadata_directive(MetadataDirective::Replace)
                .content_type("application/x-replaced")
                .metadata("shared", "from-request")
                .metadata("new", "1")
                .send()
                .await,
            "CopyObject REPLACE",
        );
        let got = ok(
            s3.get_object()
                .bucket(DST)
                .key(format!("replaced-{len}"))
                .send()
                .await,
            "GET replaced copy",
        );
        assert_eq!(got.content_type(), Some("application/x-replaced"));
        assert_eq!(
            got.content_disposition(),
            None,
            "REPLACE drops source headers"
        );
        assert_eq!(got.cache_control(), None, "REPLACE drops source headers");
        assert_eq!(
            got.metadata(),
            Some(&meta(&[("shared", "from-request"), ("new", "1")]))
        );
        assert_eq!(got.e_tag(), Some(quoted_md5(&data).as_str()));
        assert!(body(got.body).await == data, "bytes of a REPLACE copy");

        // The source is untouched.
        assert!(get(&s3, SRC, &src_key).await == data);
    }

    // Source keys with special characters, URL-encoded in x-amz-copy-source.
    for key in ["dir/ü space+plus.txt", "a?b#c%d", "../dots/./x"] {
        put(&s3, SRC, key, key.as_bytes()).await;
        ok(
            s3.copy_object()
                .bucket(DST)
                .key(key)
                .copy_source(format!("{SRC}/{}", url_path(key)))
                .send()
                .await,
            &format!("CopyObject of {key:?}"),
        );
        assert_eq!(get(&s3, DST, key).await, key.as_bytes(), "copy of {key:?}");
    }

    // x-amz-copy-source may start with a slash.
    ok(
        s3.copy_object()
            .bucket(DST)
            .key("leading-slash")
            .copy_source(format!("/{SRC}/src-3000"))
            .send()
            .await,
        "CopyObject with x-amz-copy-source /bucket/key",
    );
    assert!(get(&s3, DST, "leading-slash").await == pattern(3000, 1));

    // Missing source.
    expect_error(
        s3.copy_object()
            .bucket(DST)
            .key("x")
            .copy_source(format!("{SRC}/missing"))
            .send()
            .await,
        404,
        "NoSuchKey",
        "CopyObject from a missing key",
    );
    expect_error(
        s3.copy_object()
            .bucket(DST)
            .key("x")
            .copy_source("no-such-bucket/k")
            .send()
            .await,
        404,
        "NoSuchBucket",
        "CopyObject from a missing bucket",
    );
    expect_error(
        s3.copy_object()
            .bucket("no-such-bucket")
            .key("x")
            .copy_source(format!("{SRC}/src-3000"))
            .send()
            .await,
        404,
        "NoSuchBucket",
        "CopyObject into a missing bucket",
    );
}

#[tokio::test]
async fn copy_onto_itself() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, SRC).await;
    let data = pattern(200_000, 9);
    let etag = put_with_meta(&s3, SRC, "self", &data).await;
    expect_error(
        s3.copy_object()
            .bucket(SRC)
            .key("self")
            .copy_source(format!("{SRC}/self"))
            .send()
            .await,
        400,
        "InvalidRequest",
        "copy onto itself without REPLACE",
    );
    expect_error(
        s3.copy_object()
            .bucket(SRC)
            .key("self")
            .copy_source(format!("{SRC}/self"))
            .metadata_directive(MetadataDirective::Copy)
            .send()
            .await,
        400,
        "InvalidRequest",
        "copy onto itself with COPY",
    );
    // REPLACE makes it a metadata update.
    ok(
        s3.copy_object()
            .bucket(SRC)
            .key("self")
            .copy_source(format!("{SRC}/self"))
            .metadata_directive(MetadataDirective::Replace)
            .content_type("text/updated")
            .metadata("rev", "2")
            .send()
            .await,
        "copy onto itself with REPLACE",
    );
    let got = ok(
        s3.get_object().bucket(SRC).key("self").send().await,
        "GET after self-copy",
    );
    assert_eq!(got.content_type(), Some("text/updated"));
    assert_eq!(got.metadata(), Some(&meta(&[("rev", "2")])));
    assert_eq!(
        got.e_tag(),
        Some(etag.as_str()),
        "a metadata update keeps the ETag"
    );
    assert!(
        body(got.body).await == data,
        "a metadata update keeps the bytes"
    );
}

#[tokio::test]
async fn copy_source_conditions() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, SRC).await;
    let etag = put(&s3, SRC, "cond", b"conditional source").await;
    let head = ok(
        s3.head_object().bucket(SRC).key("cond").send().await,
        "HEAD",
    );
    let modified = *head.last_modified().unwrap();
    let hour_before = DateTime::from_secs(modified.secs() - 3600);
    let other = "\"0123456789abcdef0123456789abcdef\"";
    let copy = |dst: &str| {
        s3.copy_object()
            .bucket(SRC)
            .key(dst)
            .copy_source(format!("{SRC}/cond"))
    };

    ok(
        copy("c1").copy_source_if_match(&etag).send().await,
        "if-match: current",
    );
    expect_error(
        copy("c2").copy_source_if_match(other).send().await,
        412,
        "PreconditionFailed",
        "x-amz-copy-source-if-match: other ETag",
    );
    ok(
        copy("c3").copy_source_if_none_match(other).send().await,
        "if-none-match: other",
    );
    expect_error(
        copy("c4").copy_source_if_none_match(&etag).send().await,
        412,
        "PreconditionFailed",
        "x-amz-copy-source-if-none-match: current ETag",
    );
    ok(
        copy("c5")
            .copy_source_if_modified_since(hour_before)
            .send()
            .await,
        "if-modified-since: an hour before",
    );
    expect_error(
        copy("c6")
            .copy_source_if_modified_since(modified)
            .send()
            .await,
        412,
        "PreconditionFailed",
        "x-amz-copy-source-if-modified-since: Last-Modified",
    );
    ok(
        copy("c7")
            .copy_source_if_unmodified_since(modified)
            .send()
            .await,
        "if-unmodified-since: Last-Modified",
    );
    expect_error(
        copy("c8")
            .copy_source_if_unmodified_since(hour_before)
            .send()
            .await,
        412,
        "PreconditionFailed",
        "x-amz-copy-source-if-unmodified-since: an hour before",
    );
    // S3's documented combinations: if-match true + if-unmodified-since false copies;
    // if-none-match false + if-modified-since true fails.
    ok(
        copy("c9")
            .copy_source_if_match(&etag)
            .copy_source_if_unmodified_since(hour_before)
            .send()
            .await,
        "if-match true + if-unmodified-since false",
    );
    expect_error(
        copy("c10")
            .copy_source_if_none_match(&etag)
            .copy_source_if_modified_since(hour_before)
            .send()
            .await,
        412,
        "PreconditionFailed",
        "if-none-match false + if-modified-since true",
    );
    // Only the successful copies exist.
    for (key, exists) in [
        ("c1", true),
        ("c2", false),
        ("c3", true),
        ("c4", false),
        ("c5", true),
        ("c6", false),
        ("c7", true),
        ("c8", false),
        ("c9", true),
        ("c10", false),
    ] {
        let got = s3.head_object().bucket(SRC).key(key).send().await;
        assert_eq!(got.is_ok(), exists, "{key} exists: {exists}");
    }
}

#[tokio::test]
async fn copy_destination_conditions() {
    // CopyObject takes If-None-Match: * (create-only) and If-Match (replace only that
    // version) for the destination, as PutObject does.
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, SRC).await;
    put(&s3, SRC, "src", b"copy me").await;
    let other = "\"0123456789abcdef0123456789abcdef\"";
    let copy = |dst: &str| {
        s3.copy_object()
            .bucket(SRC)
            .key(dst)
            .copy_source(format!("{SRC}/src"))
    };
    let mut checks = Checks::default();
    struct Case {
        key: &'static str,
        exists: bool,
        if_none_match: Option<&'static str>,
        /// `<current>` stands for the destination's current ETag.
        if_match: Option<&'static str>,
        should_copy: bool,
    }
    let case = |key, exists, if_none_match, if_match, should_copy| Case {
        key,
        exists,
        if_none_match,
        if_match,
        should_copy,
    };
    let cases = [
        case("inm-new", false, Some("*"), None, true),
        case("inm-existing", true, Some("*"), None, false),
        case("im-other", true, None, Some(other), false),
        case("im-current", true, None, Some("<current>"), true),
        case("im-missing", false, None, Some(other), false),
    ];
    for Case {
        key,
        exists,
        if_none_match,
        if_match,
        should_copy,
    } in cases
    {
        let current = if exists {
            Some(put(&s3, SRC, key, b"keep me").await)
        } else {
            None
        };
        let if_match = if_match.map(|m| {
            if m == "<current>" {
                current.clone().unwrap()
            } else {
                m.to_owned()
            }
        });
        let what = format!(
            "CopyObject onto {} key {key} with If-None-Match {if_none_match:?} If-Match {if_match:?}",
            if exists { "an existing" } else { "a new" }
        );
        let result = copy(key)
            .set_if_none_match(if_none_match.map(str::to_owned))
            .set_if_match(if_match)
            .send()
            .await;
        match (&result, should_copy) {
            (Ok(_), true) => {}
            (Ok(_), false) => checks.fail(format!("{what}: copied; want 412 PreconditionFailed")),
            (Err(e), true) => checks.fail(format!("{what}: {}", common::brief(e))),
            (Err(e), false) => {
                use aws_sdk_s3::error::ProvideErrorMetadata;
                let status = e.raw_response().map(|r| r.status().as_u16());
                // S3 answers 404 NoSuchKey to If-Match on a missing key.
                let good = matches!(
                    (status, e.code()),
                    (Some(412), Some("PreconditionFailed")) | (Some(404), Some("NoSuchKey"))
                );
                checks.check(good, || {
                    format!("{what}: {}; want 412 PreconditionFailed", common::brief(e))
                });
            }
        }
        let now = s3.get_object().bucket(SRC).key(key).send().await;
        let content = match now {
            Ok(out) => Some(body(out.body).await),
            Err(_) => None,
        };
        let want: Option<Vec<u8>> = if should_copy {
            Some(b"copy me".to_vec())
        } else if exists {
            Some(b"keep me".to_vec())
        } else {
            None
        };
        checks.check(content == want, || {
            format!(
                "{what}: the destination holds {:?}, want {:?}",
                content.as_deref().map(String::from_utf8_lossy),
                want.as_deref().map(String::from_utf8_lossy)
            )
        });
    }
    checks.finish("CopyObject destination conditions");
}
