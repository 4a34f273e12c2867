//! Appends with `x-amz-write-offset-bytes` through aws-sdk-s3: each append stores only what
//! it sends, the object reads back as the concatenation, and a wrong offset is refused with
//! S3's InvalidWriteOffset without changing anything.

mod common;

use std::process::Command;

use aws_sdk_s3::primitives::ByteStream;
use common::raw::Request;
use common::{client, expect_error, ok};
use vmgw_tests::{Gateway, md5_hex, pattern, vmgw_bin};

const B: &str = "app";

async fn append(s3: &aws_sdk_s3::Client, key: &str, offset: i64, data: &[u8]) -> String {
    let out = ok(
        s3.put_object()
            .bucket(B)
            .key(key)
            .write_offset_bytes(offset)
            .body(ByteStream::from(data.to_vec()))
            .send()
            .await,
        "append",
    );
    out.e_tag().unwrap().to_owned()
}

async fn body(s3: &aws_sdk_s3::Client, key: &str) -> Vec<u8> {
    let out = ok(s3.get_object().bucket(B).key(key).send().await, "get");
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

#[tokio::test]
async fn appends_build_the_object_piece_by_piece() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    ok(s3.create_bucket().bucket(B).send().await, "create bucket");
    ok(
        s3.put_object()
            .bucket(B)
            .key("log")
            .content_type("text/plain")
            .metadata("mode", "33188")
            .body(ByteStream::from_static(b"first line\n"))
            .send()
            .await,
        "put",
    );
    let mut expected = b"first line\n".to_vec();
    let pieces = [
        pattern(100, 1),
        pattern(6_000_000, 2),
        pattern(1, 3),
        pattern(700_000, 4),
    ];
    let mut etags = Vec::new();
    for piece in &pieces {
        let offset = i64::try_from(expected.len()).unwrap();
        etags.push(append(&s3, "log", offset, piece).await);
        expected.extend_from_slice(piece);
    }
    assert_eq!(md5_hex(&body(&s3, "log").await), md5_hex(&expected));
    assert!(etags.last().unwrap().ends_with("-5\""), "{etags:?}");
    let head = ok(s3.head_object().bucket(B).key("log").send().await, "head");
    assert_eq!(
        head.content_length(),
        Some(i64::try_from(expected.len()).unwrap())
    );
    assert_eq!(
        head.content_type(),
        Some("text/plain"),
        "appends keep the metadata"
    );
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("mode"))
            .map(String::as_str),
        Some("33188")
    );
    // A range across the boundaries of appended parts.
    let mid = ok(
        s3.get_object()
            .bucket(B)
            .key("log")
            .range("bytes=100-6000200")
            .send()
            .await,
        "ranged get",
    );
    let mid = mid.body.collect().await.unwrap().into_bytes();
    assert_eq!(md5_hex(&mid), md5_hex(&expected[100..=6_000_200]));

    for wrong in [0, 5, i64::try_from(expected.len()).unwrap() + 1] {
        expect_error(
            s3.put_object()
                .bucket(B)
                .key("log")
                .write_offset_bytes(wrong)
                .body(ByteStream::from_static(b"nope"))
                .send()
                .await,
            400,
            "InvalidWriteOffset",
            "an offset other than the size",
        );
    }
    assert_eq!(md5_hex(&body(&s3, "log").await), md5_hex(&expected));

    // Offset 0 creates a missing object; any other offset on one is refused.
    expect_error(
        s3.put_object()
            .bucket(B)
            .key("fresh")
            .write_offset_bytes(3)
            .body(ByteStream::from_static(b"abc"))
            .send()
            .await,
        400,
        "InvalidWriteOffset",
        "an offset into a missing object",
    );
    append(&s3, "fresh", 0, b"abc").await;
    append(&s3, "fresh", 3, b"def").await;
    assert_eq!(body(&s3, "fresh").await, b"abcdef");
}

/// The bytes the first `requests` PutObject requests carried, from the gateway's request
/// counts (a request is counted once its response is sent, a moment after the client has
/// it).
async fn put_bytes_in(gw: &Gateway, requests: u64) -> u64 {
    for _ in 0..100 {
        let out = Command::new(vmgw_bin())
            .args(["requests", "--json", "--data-dir"])
            .arg(&gw.data_dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let counts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let put = &counts["PutObject"];
        if put["requests"].as_u64() == Some(requests) {
            return put["bytes_in"].as_u64().unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the gateway never counted {requests} PutObject requests");
}

#[tokio::test]
async fn an_append_sends_only_its_bytes_and_the_gateway_says_it_can() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    ok(s3.create_bucket().bucket(B).send().await, "create bucket");
    // Clients learn from any response that appends (and the rest) are safe to use here.
    let resp = Request::new("GET", "/")
        .signed_ok(&gw.addr)
        .send(&gw.addr)
        .await;
    let features = resp
        .header("x-vmgw-features")
        .unwrap_or_default()
        .to_owned();
    for feature in ["rename-object", "write-offset", "list-metadata"] {
        assert!(features.contains(feature), "{features:?}");
    }

    let big = pattern(8_000_000, 9);
    append(&s3, "big", 0, &big).await;
    let before = put_bytes_in(&gw, 1).await;
    assert!(
        before >= 8_000_000,
        "the first write carried the object: {before}"
    );
    append(&s3, "big", 8_000_000, b"0123456789").await;
    let sent = put_bytes_in(&gw, 2).await - before;
    assert!(sent < 4096, "an append of 10 bytes carried {sent} bytes");
    let mut whole = big;
    whole.extend_from_slice(b"0123456789");
    assert_eq!(md5_hex(&body(&s3, "big").await), md5_hex(&whole));
}
