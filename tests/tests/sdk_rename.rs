//! RenameObject through aws-sdk-s3: the object takes its new name in one commit, with its
//! bytes, ETag, metadata and tags, without a byte copied; S3's conditional headers on the
//! source and the destination; S3's errors.

mod common;

use std::process::Command;

use aws_sdk_s3::primitives::ByteStream;
use common::{client, expect_error, ok};
use vmgw_tests::{Gateway, md5_hex, pattern, vmgw_bin};

const B: &str = "ren";

async fn put(s3: &aws_sdk_s3::Client, key: &str, body: &[u8]) -> String {
    let out = ok(
        s3.put_object()
            .bucket(B)
            .key(key)
            .metadata("mode", "33188")
            .tagging("k=v")
            .content_type("text/x-test")
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await,
        "put",
    );
    out.e_tag().unwrap().to_owned()
}

async fn body(s3: &aws_sdk_s3::Client, key: &str) -> Vec<u8> {
    let out = ok(s3.get_object().bucket(B).key(key).send().await, "get");
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

/// The blob ids holding the object, from the admin socket.
fn blob_ids(gw: &Gateway, key: &str) -> Vec<String> {
    let out = Command::new(vmgw_bin())
        .args(["object", "where", B, key, "--json", "--data-dir"])
        .arg(&gw.data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let placement: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    placement["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn renaming_moves_the_name_not_the_bytes() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    ok(s3.create_bucket().bucket(B).send().await, "create bucket");
    let data = pattern(3_000_000, 7);
    let etag = put(&s3, "dir/a", &data).await;
    let blobs = blob_ids(&gw, "dir/a");
    assert_eq!(blobs.len(), 1, "a 3 MB object is one blob");
    let before = ok(s3.head_object().bucket(B).key("dir/a").send().await, "head");

    ok(
        s3.rename_object()
            .bucket(B)
            .key("other/b c")
            .rename_source(format!("{B}/dir/a"))
            .send()
            .await,
        "rename",
    );
    expect_error(
        s3.head_object().bucket(B).key("dir/a").send().await,
        404,
        "NotFound",
        "the old name is gone",
    );
    let after = ok(
        s3.head_object().bucket(B).key("other/b c").send().await,
        "head new name",
    );
    assert_eq!(after.e_tag(), Some(etag.as_str()));
    assert_eq!(after.content_type(), Some("text/x-test"));
    assert_eq!(after.last_modified(), before.last_modified());
    assert_eq!(
        after
            .metadata()
            .and_then(|m| m.get("mode"))
            .map(String::as_str),
        Some("33188")
    );
    assert_eq!(md5_hex(&body(&s3, "other/b c").await), md5_hex(&data));
    assert_eq!(blob_ids(&gw, "other/b c"), blobs, "no byte was copied");
    let tags = ok(
        s3.get_object_tagging()
            .bucket(B)
            .key("other/b c")
            .send()
            .await,
        "tags",
    );
    assert_eq!(tags.tag_set().len(), 1);
    let listed = ok(s3.list_objects_v2().bucket(B).send().await, "list");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["other/b c"]);
}

#[tokio::test]
async fn renaming_over_an_object_replaces_it_unless_conditions_say_otherwise() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    ok(s3.create_bucket().bucket(B).send().await, "create bucket");
    let etag_a = put(&s3, "a", b"new bytes").await;
    put(&s3, "b", b"old bytes").await;

    expect_error(
        s3.rename_object()
            .bucket(B)
            .key("b")
            .rename_source(format!("{B}/a"))
            .destination_if_none_match("*")
            .send()
            .await,
        412,
        "PreconditionFailed",
        "If-None-Match: * with the destination present",
    );
    expect_error(
        s3.rename_object()
            .bucket(B)
            .key("b")
            .rename_source(format!("{B}/a"))
            .source_if_match("\"0123456789abcdef0123456789abcdef\"")
            .send()
            .await,
        412,
        "PreconditionFailed",
        "a source ETag that does not match",
    );
    assert_eq!(
        body(&s3, "b").await,
        b"old bytes",
        "refused renames change nothing"
    );
    assert_eq!(body(&s3, "a").await, b"new bytes");

    ok(
        s3.rename_object()
            .bucket(B)
            .key("b")
            .rename_source(format!("{B}/a"))
            .source_if_match(etag_a)
            .send()
            .await,
        "rename over b",
    );
    assert_eq!(body(&s3, "b").await, b"new bytes");
    expect_error(
        s3.rename_object()
            .bucket(B)
            .key("c")
            .rename_source(format!("{B}/a"))
            .send()
            .await,
        404,
        "NoSuchKey",
        "renaming what is not there",
    );
    expect_error(
        s3.rename_object()
            .bucket(B)
            .key("c")
            .rename_source("another-bucket/b")
            .send()
            .await,
        400,
        "InvalidArgument",
        "renaming across buckets",
    );
    expect_error(
        s3.rename_object()
            .bucket("no-such-bucket")
            .key("c")
            .rename_source("no-such-bucket/b")
            .send()
            .await,
        404,
        "NoSuchBucket",
        "renaming in a missing bucket",
    );
}
