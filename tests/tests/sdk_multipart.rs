//! Conformance (aws-sdk-s3): multipart uploads — create, upload part, upload part copy
//! (with x-amz-copy-source-range), complete (ETag `md5-of-part-md5s-N`), abort, list parts,
//! list uploads, GET/HEAD by partNumber, and the completion errors (InvalidPartOrder,
//! InvalidPart, EntityTooSmall, NoSuchUpload, MalformedXML).

mod common;

use std::collections::BTreeSet;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::raw::Request;
use common::{
    body, client, create_bucket, expect_error, expect_status, get, md5_b64, multipart_etag, ok,
    put, quoted_md5,
};
use vmgw_tests::{Gateway, pattern};

const B: &str = "multipart";
const MIB: usize = 1 << 20;

async fn create(s3: &Client, key: &str) -> String {
    ok(
        s3.create_multipart_upload().bucket(B).key(key).send().await,
        &format!("CreateMultipartUpload {key}"),
    )
    .upload_id()
    .expect("UploadId")
    .to_owned()
}

async fn upload(s3: &Client, key: &str, id: &str, n: i32, data: &[u8]) -> String {
    let out = ok(
        s3.upload_part()
            .bucket(B)
            .key(key)
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(data.to_vec()))
            .send()
            .await,
        &format!("UploadPart {key} #{n}"),
    );
    out.e_tag().expect("part ETag").to_owned()
}

fn parts(list: &[(i32, &str)]) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(
            list.iter()
                .map(|(n, etag)| {
                    CompletedPart::builder()
                        .part_number(*n)
                        .e_tag(*etag)
                        .build()
                })
                .collect(),
        ))
        .build()
}

#[tokio::test]
async fn upload_complete_and_read_back_by_part() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    let key = "big/object.bin";
    let created = ok(
        s3.create_multipart_upload()
            .bucket(B)
            .key(key)
            .content_type("application/x-test")
            .metadata("purpose", "multipart")
            .send()
            .await,
        "CreateMultipartUpload",
    );
    assert_eq!(created.bucket(), Some(B));
    assert_eq!(created.key(), Some(key));
    let id = created.upload_id().unwrap().to_owned();

    let data = [
        pattern(5 * MIB, 1),
        pattern(5 * MIB + 3, 2),
        pattern(1234, 3),
    ];
    let mut etags = Vec::new();
    for (i, d) in data.iter().enumerate() {
        let etag = upload(&s3, key, &id, i as i32 + 1, d).await;
        assert_eq!(etag, quoted_md5(d), "ETag of part {}", i + 1);
        etags.push(etag);
    }
    // Re-uploading a part replaces it.
    let replaced = pattern(5 * MIB + 3, 99);
    let stale = etags[1].clone();
    etags[1] = upload(&s3, key, &id, 2, &replaced).await;
    let data = [data[0].clone(), replaced, data[2].clone()];

    // Completing with the replaced part's old ETag fails.
    expect_error(
        s3.complete_multipart_upload()
            .bucket(B)
            .key(key)
            .upload_id(&id)
            .multipart_upload(parts(&[(1, &etags[0]), (2, &stale), (3, &etags[2])]))
            .send()
            .await,
        400,
        "InvalidPart",
        "Complete naming the replaced ETag of part 2",
    );

    let done = ok(
        s3.complete_multipart_upload()
            .bucket(B)
            .key(key)
            .upload_id(&id)
            .multipart_upload(parts(&[(1, &etags[0]), (2, &etags[1]), (3, &etags[2])]))
            .send()
            .await,
        "CompleteMultipartUpload",
    );
    let refs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
    let want_etag = multipart_etag(&refs);
    assert_eq!(
        done.e_tag(),
        Some(want_etag.as_str()),
        "ETag of the completed object"
    );
    assert_eq!(done.bucket(), Some(B));
    assert_eq!(done.key(), Some(key));
    assert!(done.location().is_some(), "Complete returns a Location");

    let whole = data.concat();
    let got = ok(s3.get_object().bucket(B).key(key).send().await, "GET");
    assert_eq!(got.e_tag(), Some(want_etag.as_str()));
    assert_eq!(got.content_length(), Some(whole.len() as i64));
    assert_eq!(got.content_type(), Some("application/x-test"));
    assert_eq!(
        got.metadata()
            .and_then(|m| m.get("purpose"))
            .map(String::as_str),
        Some("multipart")
    );
    assert!(
        body(got.body).await == whole,
        "bytes of the completed object"
    );

    // The upload is gone.
    expect_error(
        s3.list_parts()
            .bucket(B)
            .key(key)
            .upload_id(&id)
            .send()
            .await,
        404,
        "NoSuchUpload",
        "ListParts after Complete",
    );
    let uploads = ok(
        s3.list_multipart_uploads().bucket(B).send().await,
        "ListMultipartUploads",
    );
    assert!(
        uploads.uploads().is_empty(),
        "no upload left after Complete"
    );

    // partNumber: the part's bytes, Content-Range and the parts count.
    let mut offset = 0usize;
    for (i, d) in data.iter().enumerate() {
        let n = i as i32 + 1;
        let out = ok(
            s3.get_object()
                .bucket(B)
                .key(key)
                .part_number(n)
                .send()
                .await,
            &format!("GET partNumber={n}"),
        );
        assert_eq!(out.parts_count(), Some(3), "PartsCount for part {n}");
        assert_eq!(
            out.content_length(),
            Some(d.len() as i64),
            "length of part {n}"
        );
        assert_eq!(
            out.content_range(),
            Some(format!("bytes {offset}-{}/{}", offset + d.len() - 1, whole.len()).as_str()),
            "Content-Range of part {n}"
        );
        assert_eq!(
            out.e_tag(),
            Some(want_etag.as_str()),
            "ETag with partNumber"
        );
        assert!(body(out.body).await == *d, "bytes of part {n}");
        let head = ok(
            s3.head_object()
                .bucket(B)
                .key(key)
                .part_number(n)
                .send()
                .await,
            &format!("HEAD partNumber={n}"),
        );
        assert_eq!(head.parts_count(), Some(3));
        assert_eq!(head.content_length(), Some(d.len() as i64));
        offset += d.len();
    }
    expect_error(
        s3.get_object()
            .bucket(B)
            .key(key)
            .part_number(4)
            .send()
            .await,
        416,
        "InvalidPartNumber",
        "GET partNumber beyond the parts count",
    );
    expect_status(
        s3.head_object()
            .bucket(B)
            .key(key)
            .part_number(4)
            .send()
            .await,
        416,
        "HEAD partNumber beyond the parts count",
    );
    // On a single-part object, part 1 is the whole object.
    let single = pattern(1000, 5);
    put(&s3, B, "single", &single).await;
    let out = ok(
        s3.get_object()
            .bucket(B)
            .key("single")
            .part_number(1)
            .send()
            .await,
        "GET partNumber=1 of a single-part object",
    );
    assert!(body(out.body).await == single);
    expect_error(
        s3.get_object()
            .bucket(B)
            .key("single")
            .part_number(2)
            .send()
            .await,
        416,
        "InvalidPartNumber",
        "GET partNumber=2 of a single-part object",
    );
    // partNumber and Range cannot be combined.
    expect_error(
        s3.get_object()
            .bucket(B)
            .key(key)
            .part_number(1)
            .range("bytes=0-9")
            .send()
            .await,
        400,
        "InvalidRequest",
        "GET with both partNumber and Range",
    );
    expect_status(
        s3.head_object()
            .bucket(B)
            .key(key)
            .part_number(1)
            .range("bytes=0-9")
            .send()
            .await,
        400,
        "HEAD with both partNumber and Range",
    );
}

#[tokio::test]
async fn upload_part_copy_with_ranges() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    create_bucket(&s3, "mp-source").await;
    let src = pattern(6 * MIB + 100, 7);
    put(&s3, "mp-source", "src", &src).await;
    let key = "assembled";
    let id = create(&s3, key).await;
    let first = 5 * MIB;

    let p1 = ok(
        s3.upload_part_copy()
            .bucket(B)
            .key(key)
            .upload_id(&id)
            .part_number(1)
            .copy_source("mp-source/src")
            .copy_source_range(format!("bytes=0-{}", first - 1))
            .send()
            .await,
        "UploadPartCopy bytes=0-(5 MiB - 1)",
    );
    let e1 = p1
        .copy_part_result()
        .and_then(|r| r.e_tag())
        .expect("CopyPartResult ETag")
        .to_owned();
    assert_eq!(e1, quoted_md5(&src[..first]));
    assert!(p1.copy_part_result().unwrap().last_modified().is_some());
    // A whole-object part copy, without a range, from the same bucket.
    let middle = pattern(5 * MIB, 8);
    put(&s3, B, "middle", &middle).await;
    let p2 = ok(
        s3.upload_part_copy()
            .bucket(B)
            .key(key)
            .upload_id(&id)
            .part_number(2)
            .copy_source(format!("{B}/middle"))
            .send()
            .await,
        "UploadPartCopy without a range",
    );
    let e2 = p2.copy_part_result().unwrap().e_tag().unwrap().to_owned();
    assert_eq!(e2, quoted_md5(&middle));
    let p3 = ok(
        s3.upload_part_copy()
            .bucket(B)
            .key(key)
            .upload_id(&id)
            .part_number(3)
            .copy_source("mp-source/src")
            .copy_source_range(format!("bytes={first}-{}", src.len() - 1))
            .send()
            .await,
        "UploadPartCopy of the rest",
    );
    let e3 = p3.copy_part_result().unwrap().e_tag().unwrap().to_owned();
    assert_eq!(e3, quoted_md5(&src[first..]));

    // Ranges outside the source are refused.
    for range in [
        format!("bytes=0-{}", src.len()),
        format!("bytes={}-{}", src.len(), src.len() + 10),
        "bytes=10-5".to_owned(),
    ] {
        expect_error(
            s3.upload_part_copy()
                .bucket(B)
                .key(key)
                .upload_id(&id)
                .part_number(4)
                .copy_source("mp-source/src")
                .copy_source_range(&range)
                .send()
                .await,
            400,
            "InvalidArgument",
            &format!("UploadPartCopy with x-amz-copy-source-range {range}"),
        );
    }
    // Copy-source conditions apply.
    expect_error(
        s3.upload_part_copy()
            .bucket(B)
            .key(key)
            .upload_id(&id)
            .part_number(4)
            .copy_source("mp-source/src")
            .copy_source_if_match("\"0123456789abcdef0123456789abcdef\"")
            .send()
            .await,
        412,
        "PreconditionFailed",
        "UploadPartCopy with a failing x-amz-copy-source-if-match",
    );
    expect_error(
        s3.upload_part_copy()
            .bucket(B)
            .key(key)
            .upload_id(&id)
            .part_number(4)
            .copy_source("mp-source/missing")
            .send()
            .await,
        404,
        "NoSuchKey",
        "UploadPartCopy from a missing key",
    );

    let done = ok(
        s3.complete_multipart_upload()
            .bucket(B)
            .key(key)
            .upload_id(&id)
            .multipart_upload(parts(&[(1, &e1), (2, &e2), (3, &e3)]))
            .send()
            .await,
        "Complete after UploadPartCopy",
    );
    let want = [&src[..first], middle.as_slice(), &src[first..]];
    assert_eq!(done.e_tag(), Some(multipart_etag(&want).as_str()));
    assert!(
        get(&s3, B, key).await == want.concat(),
        "bytes of the assembled object"
    );
}

#[tokio::test]
async fn completion_errors() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    let key = "errors";
    let id = create(&s3, key).await;
    let big1 = pattern(5 * MIB, 1);
    let big2 = pattern(5 * MIB, 2);
    let e1 = upload(&s3, key, &id, 1, &big1).await;
    let e2 = upload(&s3, key, &id, 2, &big2).await;
    let e3 = upload(&s3, key, &id, 3, b"last").await;
    let complete = |list: CompletedMultipartUpload| {
        s3.complete_multipart_upload()
            .bucket(B)
            .key(key)
            .upload_id(&id)
            .multipart_upload(list)
            .send()
    };

    expect_error(
        complete(parts(&[(2, &e2), (1, &e1), (3, &e3)])).await,
        400,
        "InvalidPartOrder",
        "parts out of order",
    );
    expect_error(
        complete(parts(&[(1, &e1), (1, &e1), (3, &e3)])).await,
        400,
        "InvalidPartOrder",
        "a part named twice",
    );
    expect_error(
        complete(parts(&[(1, &e1), (2, &e3), (3, &e3)])).await,
        400,
        "InvalidPart",
        "wrong ETag for part 2",
    );
    expect_error(
        complete(parts(&[
            (1, &e1),
            (2, &e2),
            (4, "\"0123456789abcdef0123456789abcdef\""),
        ]))
        .await,
        400,
        "InvalidPart",
        "part 4 was never uploaded",
    );
    expect_error(
        complete(CompletedMultipartUpload::builder().build()).await,
        400,
        "MalformedXML",
        "no parts at all",
    );
    // A failed completion leaves the upload usable.
    let listed = ok(
        s3.list_parts()
            .bucket(B)
            .key(key)
            .upload_id(&id)
            .send()
            .await,
        "ListParts after failed completions",
    );
    assert_eq!(listed.parts().len(), 3);

    // Non-final parts below 5 MiB.
    let small_key = "too-small";
    let small_id = create(&s3, small_key).await;
    let s1 = upload(&s3, small_key, &small_id, 1, &pattern(MIB, 1)).await;
    let s2 = upload(&s3, small_key, &small_id, 2, &pattern(MIB, 2)).await;
    expect_error(
        s3.complete_multipart_upload()
            .bucket(B)
            .key(small_key)
            .upload_id(&small_id)
            .multipart_upload(parts(&[(1, &s1), (2, &s2)]))
            .send()
            .await,
        400,
        "EntityTooSmall",
        "a 1 MiB non-final part",
    );
    // Using only the small part as the last (only) part is fine.
    ok(
        s3.complete_multipart_upload()
            .bucket(B)
            .key(small_key)
            .upload_id(&small_id)
            .multipart_upload(parts(&[(2, &s2)]))
            .send()
            .await,
        "Complete with a subset of the parts",
    );
    assert!(get(&s3, B, small_key).await == pattern(MIB, 2));

    // A subset of parts: 1 and 3 (gaps are allowed); ETags may be given without quotes.
    let done = ok(
        complete(parts(&[(1, e1.trim_matches('"')), (3, &e3)])).await,
        "Complete with parts 1 and 3, the first ETag unquoted",
    );
    assert_eq!(
        done.e_tag(),
        Some(multipart_etag(&[&big1, b"last"]).as_str())
    );
    assert!(get(&s3, B, key).await == [big1.as_slice(), b"last"].concat());

    // Part numbers must be 1..=10000; bad Content-MD5 on a part is refused.
    let id = create(&s3, "bad-parts").await;
    for n in [0, 10_001] {
        expect_error(
            s3.upload_part()
                .bucket(B)
                .key("bad-parts")
                .upload_id(&id)
                .part_number(n)
                .body(ByteStream::from_static(b"x"))
                .send()
                .await,
            400,
            "InvalidArgument",
            &format!("UploadPart number {n}"),
        );
    }
    expect_error(
        s3.upload_part()
            .bucket(B)
            .key("bad-parts")
            .upload_id(&id)
            .part_number(1)
            .content_md5(md5_b64(b"something else"))
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        400,
        "BadDigest",
        "UploadPart with a wrong Content-MD5",
    );
    // An upload id of another key is not found.
    expect_error(
        s3.upload_part()
            .bucket(B)
            .key("other-key")
            .upload_id(&id)
            .part_number(1)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        404,
        "NoSuchUpload",
        "UploadPart with the upload id of another key",
    );
    expect_error(
        s3.upload_part()
            .bucket(B)
            .key("bad-parts")
            .upload_id("not-an-upload-id")
            .part_number(1)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        404,
        "NoSuchUpload",
        "UploadPart with a garbage upload id",
    );
}

#[tokio::test]
async fn malformed_complete_xml() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    let id = create(&s3, "xml").await;
    let etag = upload(&s3, "xml", &id, 1, b"part one").await;
    let target = format!("/{B}/xml?uploadId={id}");
    for bad in [
        "this is not xml".to_owned(),
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>".to_owned(),
        format!(
            "<CompleteMultipartUpload><Part><PartNumber>one</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
        ),
        "<Unexpected/>".to_owned(),
    ] {
        let resp = Request::new("POST", &target)
            .header("content-type", "application/xml")
            .body(bad.clone())
            .signed_ok(&gw.addr)
            .send(&gw.addr)
            .await;
        resp.assert_code(400, "MalformedXML", &format!("Complete with body {bad:?}"));
    }
    // The upload survives and completes with a well-formed document.
    let good = format!(
        "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
    );
    let resp = Request::new("POST", &target)
        .body(good)
        .signed_ok(&gw.addr)
        .send(&gw.addr)
        .await;
    assert_eq!(resp.status, 200, "Complete with good XML: {}", resp.text());
    assert_eq!(
        resp.xml("ETag").map(|e| e.replace("&quot;", "\"")),
        Some(multipart_etag(&[b"part one"]))
    );
    assert_eq!(get(&s3, B, "xml").await, b"part one");
}

#[tokio::test]
async fn abort_then_no_such_upload() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    let id = create(&s3, "aborted").await;
    let etag = upload(&s3, "aborted", &id, 1, b"doomed").await;
    ok(
        s3.abort_multipart_upload()
            .bucket(B)
            .key("aborted")
            .upload_id(&id)
            .send()
            .await,
        "AbortMultipartUpload",
    );
    expect_error(
        s3.list_parts()
            .bucket(B)
            .key("aborted")
            .upload_id(&id)
            .send()
            .await,
        404,
        "NoSuchUpload",
        "ListParts after Abort",
    );
    expect_error(
        s3.upload_part()
            .bucket(B)
            .key("aborted")
            .upload_id(&id)
            .part_number(2)
            .body(ByteStream::from_static(b"late"))
            .send()
            .await,
        404,
        "NoSuchUpload",
        "UploadPart after Abort",
    );
    expect_error(
        s3.complete_multipart_upload()
            .bucket(B)
            .key("aborted")
            .upload_id(&id)
            .multipart_upload(parts(&[(1, &etag)]))
            .send()
            .await,
        404,
        "NoSuchUpload",
        "Complete after Abort",
    );
    expect_error(
        s3.abort_multipart_upload()
            .bucket(B)
            .key("aborted")
            .upload_id(&id)
            .send()
            .await,
        404,
        "NoSuchUpload",
        "Abort twice",
    );
    expect_error(
        s3.get_object().bucket(B).key("aborted").send().await,
        404,
        "NoSuchKey",
        "an aborted upload creates no object",
    );
    let uploads = ok(
        s3.list_multipart_uploads().bucket(B).send().await,
        "ListMultipartUploads after Abort",
    );
    assert!(uploads.uploads().is_empty());
    // The bucket holds nothing and can be deleted.
    ok(s3.delete_bucket().bucket(B).send().await, "DeleteBucket");
}

#[tokio::test]
async fn list_parts_pagination() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    let key = "many-parts";
    let id = create(&s3, key).await;
    let mut expected = Vec::new();
    for n in [1, 2, 3, 5, 8, 13, 21] {
        let data = pattern(100 + n as usize, n as u64);
        let etag = upload(&s3, key, &id, n, &data).await;
        expected.push((n, etag, data.len() as i64));
    }
    let all = ok(
        s3.list_parts()
            .bucket(B)
            .key(key)
            .upload_id(&id)
            .send()
            .await,
        "ListParts",
    );
    assert_eq!(all.bucket(), Some(B));
    assert_eq!(all.key(), Some(key));
    assert_eq!(all.upload_id(), Some(id.as_str()));
    assert_eq!(all.is_truncated(), Some(false));
    let got: Vec<(i32, String, i64)> = all
        .parts()
        .iter()
        .map(|p| {
            assert!(p.last_modified().is_some());
            (
                p.part_number().unwrap(),
                p.e_tag().unwrap().to_owned(),
                p.size().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expected, "ListParts: numbers, ETags and sizes");

    // Pages of 3 by part-number-marker.
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        let out = ok(
            s3.list_parts()
                .bucket(B)
                .key(key)
                .upload_id(&id)
                .max_parts(3)
                .set_part_number_marker(marker.clone())
                .send()
                .await,
            "ListParts page",
        );
        pages += 1;
        assert_eq!(out.max_parts(), Some(3));
        assert!(out.parts().len() <= 3);
        seen.extend(out.parts().iter().map(|p| p.part_number().unwrap()));
        if out.is_truncated() != Some(true) {
            break;
        }
        marker = Some(
            out.next_part_number_marker()
                .expect("a truncated ListParts has NextPartNumberMarker")
                .to_owned(),
        );
        assert!(pages < 10);
    }
    assert_eq!(seen, [1, 2, 3, 5, 8, 13, 21], "union of ListParts pages");
    assert_eq!(pages, 3);
    let out = ok(
        s3.list_parts()
            .bucket(B)
            .key(key)
            .upload_id(&id)
            .part_number_marker("5")
            .send()
            .await,
        "ListParts after part 5",
    );
    let numbers: Vec<i32> = out.parts().iter().filter_map(|p| p.part_number()).collect();
    assert_eq!(numbers, [8, 13, 21]);
    expect_error(
        s3.list_parts()
            .bucket(B)
            .key(key)
            .upload_id("00000000000000000000000000000000")
            .send()
            .await,
        404,
        "NoSuchUpload",
        "ListParts of an unknown upload id",
    );
}

#[tokio::test]
async fn list_multipart_uploads() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    let mut ids = Vec::new();
    for key in ["up/a", "up/b", "up/b", "up/c/d", "other/x", "zeta"] {
        let id = create(&s3, key).await;
        ids.push((key.to_owned(), id));
    }
    let all = ok(
        s3.list_multipart_uploads().bucket(B).send().await,
        "ListMultipartUploads",
    );
    assert_eq!(all.bucket(), Some(B));
    assert_eq!(all.is_truncated(), Some(false));
    let got: Vec<(String, String)> = all
        .uploads()
        .iter()
        .map(|u| {
            assert!(u.initiated().is_some(), "Initiated of {:?}", u.key());
            (
                u.key().unwrap().to_owned(),
                u.upload_id().unwrap().to_owned(),
            )
        })
        .collect();
    let keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["other/x", "up/a", "up/b", "up/b", "up/c/d", "zeta"],
        "uploads sorted by key"
    );
    let got_set: BTreeSet<(String, String)> = got.iter().cloned().collect();
    let want_set: BTreeSet<(String, String)> = ids.iter().cloned().collect();
    assert_eq!(got_set, want_set, "every upload is listed once with its id");

    // Prefix and delimiter.
    let out = ok(
        s3.list_multipart_uploads()
            .bucket(B)
            .prefix("up/")
            .send()
            .await,
        "ListMultipartUploads prefix up/",
    );
    let keys: Vec<&str> = out.uploads().iter().filter_map(|u| u.key()).collect();
    assert_eq!(keys, ["up/a", "up/b", "up/b", "up/c/d"]);
    let out = ok(
        s3.list_multipart_uploads()
            .bucket(B)
            .prefix("up/")
            .delimiter("/")
            .send()
            .await,
        "ListMultipartUploads prefix up/ delimiter /",
    );
    let keys: Vec<&str> = out.uploads().iter().filter_map(|u| u.key()).collect();
    assert_eq!(keys, ["up/a", "up/b", "up/b"]);
    let prefixes: Vec<&str> = out
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, ["up/c/"]);

    // Pagination, one upload per page, by key-marker and upload-id-marker.
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut markers: (Option<String>, Option<String>) = (None, None);
    for _ in 0..20 {
        let out = ok(
            s3.list_multipart_uploads()
                .bucket(B)
                .max_uploads(1)
                .set_key_marker(markers.0.clone())
                .set_upload_id_marker(markers.1.clone())
                .send()
                .await,
            "ListMultipartUploads page",
        );
        assert!(out.uploads().len() <= 1);
        seen.extend(out.uploads().iter().map(|u| {
            (
                u.key().unwrap().to_owned(),
                u.upload_id().unwrap().to_owned(),
            )
        }));
        if out.is_truncated() != Some(true) {
            break;
        }
        markers = (
            out.next_key_marker().map(str::to_owned),
            out.next_upload_id_marker().map(str::to_owned),
        );
        assert!(markers.0.is_some(), "a truncated page has NextKeyMarker");
    }
    assert_eq!(
        seen, got,
        "paginated ListMultipartUploads equals the full listing"
    );

    // key-marker alone skips every upload of that key.
    let out = ok(
        s3.list_multipart_uploads()
            .bucket(B)
            .key_marker("up/b")
            .send()
            .await,
        "ListMultipartUploads key-marker up/b",
    );
    let keys: Vec<&str> = out.uploads().iter().filter_map(|u| u.key()).collect();
    assert_eq!(keys, ["up/c/d", "zeta"]);
}
