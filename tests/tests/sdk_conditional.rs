//! Conformance (aws-sdk-s3): conditional requests — If-Match, If-None-Match,
//! If-Modified-Since and If-Unmodified-Since on GET and HEAD (RFC 9110 precedence, as S3
//! applies it), and conditional writes (If-None-Match: * / If-Match on PUT and
//! CompleteMultipartUpload).

mod common;

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::{
    body, client, create_bucket, error_header, expect_error, expect_status, get, ok, put,
};
use vmgw_tests::{Gateway, pattern};

const B: &str = "cond";

fn shifted(t: &DateTime, secs: i64) -> DateTime {
    DateTime::from_secs(t.secs() + secs)
}

#[tokio::test]
async fn get_conditions() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    let data = pattern(5000, 3);
    let etag = put(&s3, B, "obj", &data).await;
    let head = ok(s3.head_object().bucket(B).key("obj").send().await, "HEAD");
    let modified = *head.last_modified().expect("Last-Modified");
    let hour_before = shifted(&modified, -3600);
    let get = || s3.get_object().bucket(B).key("obj");

    // If-Match
    let out = ok(get().if_match(&etag).send().await, "If-Match: current ETag");
    assert_eq!(body(out.body).await, data);
    ok(get().if_match("*").send().await, "If-Match: *");
    expect_error(
        get()
            .if_match("\"0123456789abcdef0123456789abcdef\"")
            .send()
            .await,
        412,
        "PreconditionFailed",
        "If-Match: other ETag",
    );

    // If-None-Match
    let err = expect_status(
        get().if_none_match(&etag).send().await,
        304,
        "If-None-Match: current ETag",
    );
    assert_eq!(
        error_header(&err, "etag").as_deref(),
        Some(etag.as_str()),
        "a 304 repeats the ETag"
    );
    assert!(
        error_header(&err, "last-modified").is_some(),
        "a 304 repeats Last-Modified"
    );
    expect_status(
        get().if_none_match("*").send().await,
        304,
        "If-None-Match: *",
    );
    let out = ok(
        get()
            .if_none_match("\"0123456789abcdef0123456789abcdef\"")
            .send()
            .await,
        "If-None-Match: other ETag",
    );
    assert_eq!(body(out.body).await, data);

    // If-Modified-Since
    expect_status(
        get().if_modified_since(modified).send().await,
        304,
        "If-Modified-Since: Last-Modified",
    );
    ok(
        get().if_modified_since(hour_before).send().await,
        "If-Modified-Since: an hour before",
    );

    // If-Unmodified-Since
    expect_error(
        get().if_unmodified_since(hour_before).send().await,
        412,
        "PreconditionFailed",
        "If-Unmodified-Since: an hour before",
    );
    ok(
        get().if_unmodified_since(modified).send().await,
        "If-Unmodified-Since: Last-Modified",
    );

    // Precedence: If-Match that holds makes S3 ignore a failing If-Unmodified-Since ...
    ok(
        get()
            .if_match(&etag)
            .if_unmodified_since(hour_before)
            .send()
            .await,
        "If-Match true + If-Unmodified-Since false",
    );
    // ... and If-None-Match that holds (ETag differs) makes it ignore If-Modified-Since.
    ok(
        get()
            .if_none_match("\"0123456789abcdef0123456789abcdef\"")
            .if_modified_since(modified)
            .send()
            .await,
        "If-None-Match true + If-Modified-Since false",
    );
    // If-None-Match that fails answers 304 even with a true If-Modified-Since.
    expect_status(
        get()
            .if_none_match(&etag)
            .if_modified_since(hour_before)
            .send()
            .await,
        304,
        "If-None-Match false + If-Modified-Since true",
    );
    // If-Match false wins over everything else.
    expect_error(
        get()
            .if_match("\"0123456789abcdef0123456789abcdef\"")
            .if_modified_since(hour_before)
            .send()
            .await,
        412,
        "PreconditionFailed",
        "If-Match false + If-Modified-Since true",
    );

    // Conditions on a missing key: the key is missing.
    expect_error(
        s3.get_object()
            .bucket(B)
            .key("missing")
            .if_match(&etag)
            .send()
            .await,
        404,
        "NoSuchKey",
        "If-Match on a missing key",
    );

    // After an overwrite the old ETag no longer matches.
    let etag2 = put(&s3, B, "obj", b"new content").await;
    assert_ne!(etag, etag2);
    expect_error(
        get().if_match(&etag).send().await,
        412,
        "PreconditionFailed",
        "If-Match: ETag of the replaced version",
    );
    ok(
        get().if_none_match(&etag).send().await,
        "If-None-Match: ETag of the replaced version",
    );
}

#[tokio::test]
async fn head_conditions() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    let etag = put(&s3, B, "obj", b"head me").await;
    let head = ok(s3.head_object().bucket(B).key("obj").send().await, "HEAD");
    let modified = *head.last_modified().expect("Last-Modified");
    let hour_before = shifted(&modified, -3600);
    let h = || s3.head_object().bucket(B).key("obj");

    ok(h().if_match(&etag).send().await, "HEAD If-Match: current");
    expect_status(
        h().if_match("\"0123456789abcdef0123456789abcdef\"")
            .send()
            .await,
        412,
        "HEAD If-Match: other",
    );
    expect_status(
        h().if_none_match(&etag).send().await,
        304,
        "HEAD If-None-Match: current",
    );
    ok(
        h().if_none_match("\"0123456789abcdef0123456789abcdef\"")
            .send()
            .await,
        "HEAD If-None-Match: other",
    );
    expect_status(
        h().if_modified_since(modified).send().await,
        304,
        "HEAD If-Modified-Since: Last-Modified",
    );
    ok(
        h().if_modified_since(hour_before).send().await,
        "HEAD If-Modified-Since: an hour before",
    );
    expect_status(
        h().if_unmodified_since(hour_before).send().await,
        412,
        "HEAD If-Unmodified-Since: an hour before",
    );
    ok(
        h().if_unmodified_since(modified).send().await,
        "HEAD If-Unmodified-Since: Last-Modified",
    );
    ok(
        h().if_match(&etag)
            .if_unmodified_since(hour_before)
            .send()
            .await,
        "HEAD If-Match true + If-Unmodified-Since false",
    );
}

#[tokio::test]
async fn conditional_put() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    let put_if_absent = |s3: &aws_sdk_s3::Client, key: &str, data: &[u8]| {
        s3.put_object()
            .bucket(B)
            .key(key)
            .if_none_match("*")
            .body(ByteStream::from(data.to_vec()))
            .send()
    };

    // If-None-Match: * creates once, then refuses.
    ok(
        put_if_absent(&s3, "create-once", b"first").await,
        "first conditional create",
    );
    expect_error(
        put_if_absent(&s3, "create-once", b"second").await,
        412,
        "PreconditionFailed",
        "second conditional create",
    );
    assert_eq!(get(&s3, B, "create-once").await, b"first");
    // Also for a large body (the precondition may be checked before or after receiving it).
    let big = pattern(2_000_000, 5);
    ok(
        put_if_absent(&s3, "big", &big).await,
        "conditional create of 2 MB",
    );
    expect_error(
        put_if_absent(&s3, "big", &pattern(2_000_000, 6)).await,
        412,
        "PreconditionFailed",
        "second conditional create of 2 MB",
    );
    // The gateway may answer that 412 before reading the 2 MB body and close the
    // connection; the SDK's pool can then hand the dead connection to the next request
    // (this client never retries), so continue on a fresh client.
    let s3 = client(&gw);
    assert!(
        get(&s3, B, "big").await == big,
        "the first 2 MB object is intact"
    );
    // After a delete the key is free again.
    ok(
        s3.delete_object().bucket(B).key("create-once").send().await,
        "DELETE",
    );
    ok(
        put_if_absent(&s3, "create-once", b"third").await,
        "conditional create after delete",
    );
    assert_eq!(get(&s3, B, "create-once").await, b"third");

    // Concurrent conditional creates: exactly one wins.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8u8 {
        let s3 = s3.clone();
        tasks.spawn(async move {
            s3.put_object()
                .bucket(B)
                .key("race")
                .if_none_match("*")
                .body(ByteStream::from(vec![i; 1000]))
                .send()
                .await
                .map(|_| i)
                .map_err(|e| e.raw_response().map(|r| r.status().as_u16()))
        });
    }
    let mut winners = Vec::new();
    while let Some(result) = tasks.join_next().await {
        match result.expect("task") {
            Ok(i) => winners.push(i),
            Err(status) => assert!(
                matches!(status, Some(412 | 409)),
                "a losing conditional create gets 412 (or 409), got {status:?}"
            ),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one concurrent create wins: {winners:?}"
    );
    assert_eq!(get(&s3, B, "race").await, vec![winners[0]; 1000]);

    // If-Match on PUT: replace only the version we know.
    let etag = put(&s3, B, "cas", b"v1").await;
    ok(
        s3.put_object()
            .bucket(B)
            .key("cas")
            .if_match(&etag)
            .body(ByteStream::from_static(b"v2"))
            .send()
            .await,
        "PUT If-Match: current ETag",
    );
    expect_error(
        s3.put_object()
            .bucket(B)
            .key("cas")
            .if_match(&etag)
            .body(ByteStream::from_static(b"v3"))
            .send()
            .await,
        412,
        "PreconditionFailed",
        "PUT If-Match: stale ETag",
    );
    assert_eq!(get(&s3, B, "cas").await, b"v2");
}

#[tokio::test]
async fn conditional_complete_multipart_upload() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    put(&s3, B, "exists", b"already here").await;
    for (key, expect_ok) in [("exists", false), ("fresh", true)] {
        let upload = ok(
            s3.create_multipart_upload().bucket(B).key(key).send().await,
            "CreateMultipartUpload",
        );
        let id = upload.upload_id().unwrap();
        let part = ok(
            s3.upload_part()
                .bucket(B)
                .key(key)
                .upload_id(id)
                .part_number(1)
                .body(ByteStream::from_static(b"multipart body"))
                .send()
                .await,
            "UploadPart",
        );
        let parts = CompletedMultipartUpload::builder()
            .parts(
                CompletedPart::builder()
                    .part_number(1)
                    .e_tag(part.e_tag().unwrap())
                    .build(),
            )
            .build();
        let result = s3
            .complete_multipart_upload()
            .bucket(B)
            .key(key)
            .upload_id(id)
            .if_none_match("*")
            .multipart_upload(parts)
            .send()
            .await;
        if expect_ok {
            ok(
                result,
                "CompleteMultipartUpload If-None-Match: * on a new key",
            );
            assert_eq!(get(&s3, B, key).await, b"multipart body");
        } else {
            expect_error(
                result,
                412,
                "PreconditionFailed",
                "CompleteMultipartUpload If-None-Match: * on an existing key",
            );
            assert_eq!(get(&s3, B, key).await, b"already here");
        }
    }
}
