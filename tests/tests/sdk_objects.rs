//! Conformance (aws-sdk-s3): single objects — PUT / GET / HEAD / DELETE / DeleteObjects,
//! Content-MD5, content headers, user metadata, `response-*` overrides and key names.

mod common;

use std::collections::{BTreeSet, HashMap};

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use common::{
    Checks, body, client, create_bucket, expect_error, expect_status, get, md5_b64, ok, put,
    quoted_md5,
};
use vmgw_tests::{Gateway, pattern};

const B: &str = "objects";

#[tokio::test]
async fn put_get_head_round_trip() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    // Sizes around the inline threshold (64 KiB) and the 1 MiB chunk size.
    for (i, len) in [0usize, 1, 65_535, 65_536, 65_537, 1_048_576, 1_048_583]
        .into_iter()
        .enumerate()
    {
        let key = format!("size-{len}");
        let data = pattern(len, i as u64 + 1);
        let etag = put(&s3, B, &key, &data).await;
        assert_eq!(etag, quoted_md5(&data), "ETag of PUT {key}");

        let got = ok(
            s3.get_object().bucket(B).key(&key).send().await,
            &format!("GET {key}"),
        );
        assert_eq!(got.e_tag(), Some(etag.as_str()), "ETag of GET {key}");
        assert_eq!(
            got.content_length(),
            Some(len as i64),
            "Content-Length of GET {key}"
        );
        assert!(got.last_modified().is_some(), "GET {key} has Last-Modified");
        assert_eq!(
            got.accept_ranges(),
            Some("bytes"),
            "Accept-Ranges of GET {key}"
        );
        assert!(
            got.content_range().is_none(),
            "a whole-object GET has no Content-Range"
        );
        let bytes = body(got.body).await;
        assert_eq!(bytes.len(), len, "body length of {key}");
        assert!(bytes == data, "body of {key} differs from what was put");

        let head = ok(
            s3.head_object().bucket(B).key(&key).send().await,
            &format!("HEAD {key}"),
        );
        assert_eq!(head.e_tag(), Some(etag.as_str()), "ETag of HEAD {key}");
        assert_eq!(
            head.content_length(),
            Some(len as i64),
            "Content-Length of HEAD {key}"
        );
        assert!(head.last_modified().is_some());
    }

    // Overwriting replaces the content, the ETag and the length.
    let v1 = pattern(100_000, 7);
    let v2 = b"second version".to_vec();
    put(&s3, B, "overwrite", &v1).await;
    let etag2 = put(&s3, B, "overwrite", &v2).await;
    assert_eq!(get(&s3, B, "overwrite").await, v2);
    let head = ok(
        s3.head_object().bucket(B).key("overwrite").send().await,
        "HEAD after overwrite",
    );
    assert_eq!(head.e_tag(), Some(etag2.as_str()));
    assert_eq!(head.content_length(), Some(v2.len() as i64));

    // Missing keys.
    expect_error(
        s3.get_object().bucket(B).key("missing").send().await,
        404,
        "NoSuchKey",
        "GET of a missing key",
    );
    expect_status(
        s3.head_object().bucket(B).key("missing").send().await,
        404,
        "HEAD of a missing key",
    );
}

#[tokio::test]
async fn content_headers_and_user_metadata() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    let data = b"{\"hello\": \"world\"}".to_vec();
    let expires = DateTime::from_secs(2_000_000_000);
    ok(
        s3.put_object()
            .bucket(B)
            .key("doc.json")
            .body(ByteStream::from(data.clone()))
            .content_type("application/json; charset=utf-8")
            .content_encoding("identity")
            .content_disposition("attachment; filename=\"doc.json\"")
            .content_language("de-CH")
            .cache_control("max-age=3600, must-revalidate")
            .expires(expires)
            .metadata("color", "blue")
            .metadata("Mixed-Case-Key", "Some Value")
            .metadata("empty", "")
            .send()
            .await,
        "PUT with content headers and metadata",
    );
    let expected_meta: HashMap<String, String> = [
        ("color", "blue"),
        ("mixed-case-key", "Some Value"),
        ("empty", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let expires_text = "Wed, 18 May 2033 03:33:20 GMT";

    let got = ok(
        s3.get_object().bucket(B).key("doc.json").send().await,
        "GET doc.json",
    );
    assert_eq!(got.content_type(), Some("application/json; charset=utf-8"));
    assert_eq!(got.content_encoding(), Some("identity"));
    assert_eq!(
        got.content_disposition(),
        Some("attachment; filename=\"doc.json\"")
    );
    assert_eq!(got.content_language(), Some("de-CH"));
    assert_eq!(got.cache_control(), Some("max-age=3600, must-revalidate"));
    assert_eq!(got.expires_string(), Some(expires_text), "Expires on GET");
    assert_eq!(got.metadata(), Some(&expected_meta), "user metadata on GET");
    assert_eq!(body(got.body).await, data);

    let head = ok(
        s3.head_object().bucket(B).key("doc.json").send().await,
        "HEAD doc.json",
    );
    assert_eq!(head.content_type(), Some("application/json; charset=utf-8"));
    assert_eq!(head.content_encoding(), Some("identity"));
    assert_eq!(
        head.content_disposition(),
        Some("attachment; filename=\"doc.json\"")
    );
    assert_eq!(head.content_language(), Some("de-CH"));
    assert_eq!(head.cache_control(), Some("max-age=3600, must-revalidate"));
    assert_eq!(head.expires_string(), Some(expires_text), "Expires on HEAD");
    assert_eq!(
        head.metadata(),
        Some(&expected_meta),
        "user metadata on HEAD"
    );

    // response-* query parameters override the stored headers on GET (and HEAD).
    let over = ok(
        s3.get_object()
            .bucket(B)
            .key("doc.json")
            .response_content_type("text/plain")
            .response_content_disposition("inline")
            .response_content_encoding("gzip-not-really")
            .response_content_language("fr")
            .response_cache_control("no-store")
            .response_expires(DateTime::from_secs(1_000_000_000))
            .send()
            .await,
        "GET with response-* overrides",
    );
    assert_eq!(over.content_type(), Some("text/plain"));
    assert_eq!(over.content_disposition(), Some("inline"));
    assert_eq!(over.content_encoding(), Some("gzip-not-really"));
    assert_eq!(over.content_language(), Some("fr"));
    assert_eq!(over.cache_control(), Some("no-store"));
    assert_eq!(
        over.expires_string(),
        Some("Sun, 09 Sep 2001 01:46:40 GMT"),
        "response-expires"
    );
    assert_eq!(
        body(over.body).await,
        data,
        "overrides do not change the body"
    );
    let over = ok(
        s3.head_object()
            .bucket(B)
            .key("doc.json")
            .response_content_type("text/plain")
            .send()
            .await,
        "HEAD with response-content-type",
    );
    assert_eq!(over.content_type(), Some("text/plain"));
    // ... and do not change what is stored.
    let again = ok(
        s3.head_object().bucket(B).key("doc.json").send().await,
        "HEAD after overrides",
    );
    assert_eq!(
        again.content_type(),
        Some("application/json; charset=utf-8")
    );

    // Without Content-Type, S3 answers with a default (binary/octet-stream or
    // application/octet-stream), never nothing.
    ok(
        s3.put_object()
            .bucket(B)
            .key("untyped")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        "PUT without Content-Type",
    );
    let head = ok(
        s3.head_object().bucket(B).key("untyped").send().await,
        "HEAD untyped",
    );
    assert!(
        head.content_type().is_some_and(|t| !t.is_empty()),
        "an object stored without Content-Type is served with a default one, got {:?}",
        head.content_type()
    );
    assert!(
        head.metadata().is_none_or(HashMap::is_empty),
        "no user metadata was set: {:?}",
        head.metadata()
    );

    // User metadata is limited to 2 KiB.
    expect_error(
        s3.put_object()
            .bucket(B)
            .key("too-much-meta")
            .metadata("big", "v".repeat(2100))
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        400,
        "MetadataTooLarge",
        "PUT with 2.1 KB of user metadata",
    );
    expect_error(
        s3.get_object().bucket(B).key("too-much-meta").send().await,
        404,
        "NoSuchKey",
        "a refused PUT stores nothing",
    );
}

#[tokio::test]
async fn content_md5_is_verified() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    for (len, seed) in [(1000usize, 1u64), (300_000, 2)] {
        let data = pattern(len, seed);
        let key = format!("md5-{len}");
        let out = ok(
            s3.put_object()
                .bucket(B)
                .key(&key)
                .content_md5(md5_b64(&data))
                .body(ByteStream::from(data.clone()))
                .send()
                .await,
            &format!("PUT {key} with the right Content-MD5"),
        );
        assert_eq!(out.e_tag(), Some(quoted_md5(&data).as_str()));

        let wrong_key = format!("wrong-md5-{len}");
        expect_error(
            s3.put_object()
                .bucket(B)
                .key(&wrong_key)
                .content_md5(md5_b64(b"other bytes"))
                .body(ByteStream::from(data.clone()))
                .send()
                .await,
            400,
            "BadDigest",
            &format!("PUT {wrong_key} with the Content-MD5 of other bytes"),
        );
        expect_error(
            s3.get_object().bucket(B).key(&wrong_key).send().await,
            404,
            "NoSuchKey",
            "an object with a bad digest is not stored",
        );
    }
    for malformed in ["not base64!!", "AAAA", "dGhpcyBpcyAxNyBieXRlcyE="] {
        expect_error(
            s3.put_object()
                .bucket(B)
                .key("malformed-md5")
                .content_md5(malformed)
                .body(ByteStream::from_static(b"data"))
                .send()
                .await,
            400,
            "InvalidDigest",
            &format!("PUT with malformed Content-MD5 {malformed:?}"),
        );
    }
    // A BadDigest on an existing key keeps the old content.
    put(&s3, B, "keep", b"original").await;
    expect_error(
        s3.put_object()
            .bucket(B)
            .key("keep")
            .content_md5(md5_b64(b"x"))
            .body(ByteStream::from_static(b"replacement"))
            .send()
            .await,
        400,
        "BadDigest",
        "overwrite with a bad Content-MD5",
    );
    assert_eq!(get(&s3, B, "keep").await, b"original");
}

#[tokio::test]
async fn key_names() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    let long_ascii = "k".repeat(1024);
    let long_unicode = "é".repeat(512);
    assert_eq!(long_unicode.len(), 1024);
    let keys = [
        "ключ/ü 日本語 🚀.txt",
        "../escape",
        "a/../b",
        "./a/./b",
        "dir/../../x",
        "..",
        "folder/",
        "nested/folder/",
        "with space",
        "plus+sign",
        "percent%20literal",
        "query?x=1&y=2",
        "hash#fragment",
        "semi;colon,comma",
        "tilde~star*",
        "quote'dquote\"",
        "back\\slash",
        "a//double//slash",
        "<xml>&amp;",
        long_ascii.as_str(),
        long_unicode.as_str(),
    ];
    let mut checks = Checks::default();
    for (i, key) in keys.iter().enumerate() {
        let data = format!("object #{i}: {key}").into_bytes();
        let put = s3
            .put_object()
            .bucket(B)
            .key(*key)
            .body(ByteStream::from(data.clone()))
            .send()
            .await;
        if let Err(e) = put {
            checks.fail(format!("PUT {key:?}: {}", common::brief(&e)));
            continue;
        }
        match s3.get_object().bucket(B).key(*key).send().await {
            Ok(out) => {
                let got = body(out.body).await;
                checks.check(got == data, || format!("GET {key:?} returned other bytes"));
            }
            Err(e) => checks.fail(format!("GET {key:?}: {}", common::brief(&e))),
        }
        if let Err(e) = s3.head_object().bucket(B).key(*key).send().await {
            checks.fail(format!("HEAD {key:?}: {}", common::brief(&e)));
        }
    }
    // Listing returns each key exactly as it was written.
    let listed = ok(
        s3.list_objects_v2().bucket(B).send().await,
        "ListObjectsV2 of all keys",
    );
    let got: BTreeSet<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .map(str::to_owned)
        .collect();
    let want: BTreeSet<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    checks.check(got == want, || {
        format!(
            "listed keys differ: missing {:?}, unexpected {:?}",
            want.difference(&got).collect::<Vec<_>>(),
            got.difference(&want).collect::<Vec<_>>()
        )
    });
    checks.finish("key names");

    // 1025 bytes is one too many.
    for key in ["k".repeat(1025), format!("{long_unicode}x")] {
        expect_error(
            s3.put_object()
                .bucket(B)
                .key(&key)
                .body(ByteStream::from_static(b"x"))
                .send()
                .await,
            400,
            "KeyTooLongError",
            &format!("PUT with a {}-byte key", key.len()),
        );
    }
}

#[tokio::test]
async fn delete_object_and_delete_objects() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    put(&s3, B, "one", b"1").await;
    ok(
        s3.delete_object().bucket(B).key("one").send().await,
        "DELETE one",
    );
    expect_error(
        s3.get_object().bucket(B).key("one").send().await,
        404,
        "NoSuchKey",
        "GET after DELETE",
    );
    // Deleting again, or deleting a key that never existed, succeeds (204).
    ok(
        s3.delete_object().bucket(B).key("one").send().await,
        "DELETE twice",
    );
    ok(
        s3.delete_object()
            .bucket(B)
            .key("never-existed")
            .send()
            .await,
        "DELETE of a missing key",
    );
    // Deleting a "folder" key does not touch the keys below it.
    put(&s3, B, "dir/", b"").await;
    put(&s3, B, "dir/file", b"f").await;
    ok(
        s3.delete_object().bucket(B).key("dir/").send().await,
        "DELETE dir/",
    );
    assert_eq!(get(&s3, B, "dir/file").await, b"f");

    // DeleteObjects, verbose: every key is reported deleted, including absent ones.
    let mut keys: Vec<String> = vec!["batch/ü & <x> é".into(), "batch/a b+c%20".into()];
    keys.extend((0..8).map(|i| format!("batch/{i:02}")));
    for k in &keys {
        put(&s3, B, k, k.as_bytes()).await;
    }
    let mut ids: Vec<ObjectIdentifier> = keys[..6]
        .iter()
        .map(|k| ObjectIdentifier::builder().key(k).build().unwrap())
        .collect();
    ids.push(
        ObjectIdentifier::builder()
            .key("batch/absent")
            .build()
            .unwrap(),
    );
    let out = ok(
        s3.delete_objects()
            .bucket(B)
            .delete(Delete::builder().set_objects(Some(ids)).build().unwrap())
            .send()
            .await,
        "DeleteObjects",
    );
    let mut deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    deleted.sort_unstable();
    let mut want: Vec<&str> = keys[..6].iter().map(String::as_str).collect();
    want.push("batch/absent");
    want.sort_unstable();
    assert_eq!(deleted, want, "Deleted entries of a verbose DeleteObjects");
    assert!(out.errors().is_empty(), "errors: {:?}", out.errors());

    // Quiet mode reports no Deleted entries, but deletes.
    let ids: Vec<ObjectIdentifier> = keys[6..]
        .iter()
        .map(|k| ObjectIdentifier::builder().key(k).build().unwrap())
        .collect();
    let out = ok(
        s3.delete_objects()
            .bucket(B)
            .delete(
                Delete::builder()
                    .set_objects(Some(ids))
                    .quiet(true)
                    .build()
                    .unwrap(),
            )
            .send()
            .await,
        "DeleteObjects quiet",
    );
    assert!(
        out.deleted().is_empty(),
        "quiet DeleteObjects lists no Deleted entries: {:?}",
        out.deleted()
    );
    assert!(out.errors().is_empty(), "errors: {:?}", out.errors());
    let left = ok(
        s3.list_objects_v2().bucket(B).prefix("batch/").send().await,
        "list after DeleteObjects",
    );
    assert_eq!(left.key_count(), Some(0), "all batch keys are gone");
    assert!(left.contents().is_empty());

    // DeleteObjects on a missing bucket.
    expect_error(
        s3.delete_objects()
            .bucket("no-such-bucket")
            .delete(
                Delete::builder()
                    .objects(ObjectIdentifier::builder().key("k").build().unwrap())
                    .build()
                    .unwrap(),
            )
            .send()
            .await,
        404,
        "NoSuchBucket",
        "DeleteObjects on a missing bucket",
    );
}
