//! Appends with `x-amz-write-offset-bytes` through aws-sdk-s3: each append stores only what
//! it sends, the object reads back as the concatenation, and a wrong offset is refused with
//! S3's InvalidWriteOffset without changing anything.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use common::{client, expect_error, ok};
use vmgw_tests::{Gateway, md5_hex, pattern};

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
