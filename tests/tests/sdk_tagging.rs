//! Object tagging: x-amz-tagging on PUT, CreateMultipartUpload and CopyObject (with its
//! directive), Put/Get/DeleteObjectTagging, tag counts on GET and HEAD, and S3's limits.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Tag, Tagging, TaggingDirective};
use common::{client, expect_error, ok};
use vmgw_tests::Gateway;

const B: &str = "tags";

fn pairs(tags: &[Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn tags_of(s3: &aws_sdk_s3::Client, key: &str) -> Vec<(String, String)> {
    let got = ok(
        s3.get_object_tagging().bucket(B).key(key).send().await,
        "get tagging",
    );
    pairs(got.tag_set())
}

fn tagging(list: &[(&str, &str)]) -> Tagging {
    Tagging::builder()
        .set_tag_set(Some(
            list.iter()
                .map(|(k, v)| Tag::builder().key(*k).value(*v).build().unwrap())
                .collect(),
        ))
        .build()
        .unwrap()
}

#[tokio::test]
async fn tags_on_put_copy_multipart_and_their_api() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    ok(s3.create_bucket().bucket(B).send().await, "create bucket");

    ok(
        s3.put_object()
            .bucket(B)
            .key("a")
            .tagging("project=vmgw&team=storage%20core")
            .body(ByteStream::from_static(b"hello"))
            .send()
            .await,
        "put with tags",
    );
    assert_eq!(
        tags_of(&s3, "a").await,
        owned(&[("project", "vmgw"), ("team", "storage core")])
    );
    let got = ok(s3.get_object().bucket(B).key("a").send().await, "get");
    assert_eq!(got.tag_count(), Some(2));
    let head = ok(s3.head_object().bucket(B).key("a").send().await, "head");
    assert_eq!(head.tag_count(), Some(2));

    // Replace, then delete.
    ok(
        s3.put_object_tagging()
            .bucket(B)
            .key("a")
            .tagging(tagging(&[("stage", "cold")]))
            .send()
            .await,
        "put tagging",
    );
    assert_eq!(tags_of(&s3, "a").await, owned(&[("stage", "cold")]));
    // Tags do not change the object.
    let body = ok(s3.get_object().bucket(B).key("a").send().await, "get")
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(&body[..], b"hello");

    // CopyObject keeps tags by default and replaces them on request.
    ok(
        s3.copy_object()
            .bucket(B)
            .key("copied")
            .copy_source(format!("{B}/a"))
            .send()
            .await,
        "copy",
    );
    assert_eq!(tags_of(&s3, "copied").await, owned(&[("stage", "cold")]));
    ok(
        s3.copy_object()
            .bucket(B)
            .key("replaced")
            .copy_source(format!("{B}/a"))
            .tagging_directive(TaggingDirective::Replace)
            .tagging("fresh=1")
            .send()
            .await,
        "copy replace",
    );
    assert_eq!(tags_of(&s3, "replaced").await, owned(&[("fresh", "1")]));

    ok(
        s3.delete_object_tagging().bucket(B).key("a").send().await,
        "delete tagging",
    );
    assert!(tags_of(&s3, "a").await.is_empty());
    let got = ok(s3.get_object().bucket(B).key("a").send().await, "get");
    assert_eq!(got.tag_count(), None);

    // Multipart: the completed object gets the tags of the upload.
    let upload = ok(
        s3.create_multipart_upload()
            .bucket(B)
            .key("mp")
            .tagging("via=multipart")
            .send()
            .await,
        "create upload",
    );
    let part = ok(
        s3.upload_part()
            .bucket(B)
            .key("mp")
            .upload_id(upload.upload_id().unwrap())
            .part_number(1)
            .body(ByteStream::from_static(b"part"))
            .send()
            .await,
        "part",
    );
    ok(
        s3.complete_multipart_upload()
            .bucket(B)
            .key("mp")
            .upload_id(upload.upload_id().unwrap())
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .parts(
                        CompletedPart::builder()
                            .part_number(1)
                            .e_tag(part.e_tag().unwrap())
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await,
        "complete",
    );
    assert_eq!(tags_of(&s3, "mp").await, owned(&[("via", "multipart")]));

    // An overwrite without tags has none.
    ok(
        s3.put_object()
            .bucket(B)
            .key("replaced")
            .body(ByteStream::from_static(b"new"))
            .send()
            .await,
        "overwrite",
    );
    assert!(tags_of(&s3, "replaced").await.is_empty());
}

#[tokio::test]
async fn tag_limits_and_missing_objects() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    ok(s3.create_bucket().bucket(B).send().await, "create bucket");
    ok(
        s3.put_object()
            .bucket(B)
            .key("k")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        "put",
    );
    let eleven: Vec<(String, String)> = (0..11).map(|i| (format!("k{i}"), "v".into())).collect();
    let eleven_ref: Vec<(&str, &str)> = eleven
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let long_key = "k".repeat(129);
    let long_value = "v".repeat(257);
    for (what, tags) in [
        ("11 tags", eleven_ref.clone()),
        ("aws: prefix", vec![("aws:reserved", "v")]),
        ("key of 129", vec![(long_key.as_str(), "v")]),
        ("value of 257", vec![("k", long_value.as_str())]),
        ("duplicate keys", vec![("k", "1"), ("k", "2")]),
    ] {
        expect_error(
            s3.put_object_tagging()
                .bucket(B)
                .key("k")
                .tagging(tagging(&tags))
                .send()
                .await,
            400,
            "InvalidTag",
            what,
        );
    }
    expect_error(
        s3.put_object()
            .bucket(B)
            .key("k2")
            .tagging("aws:x=1")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        400,
        "InvalidTag",
        "PUT with a reserved tag",
    );
    expect_error(
        s3.head_object().bucket(B).key("k2").send().await,
        404,
        "NotFound",
        "a refused PUT stores nothing",
    );
    expect_error(
        s3.get_object_tagging()
            .bucket(B)
            .key("missing")
            .send()
            .await,
        404,
        "NoSuchKey",
        "tags of a missing object",
    );
    expect_error(
        s3.put_object_tagging()
            .bucket(B)
            .key("missing")
            .tagging(tagging(&[("a", "b")]))
            .send()
            .await,
        404,
        "NoSuchKey",
        "tagging a missing object",
    );
}
