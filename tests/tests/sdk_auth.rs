//! Conformance (aws-sdk-s3 and raw HTTP): authentication and error reporting —
//! SignatureDoesNotMatch, InvalidAccessKeyId, AccessDenied for anonymous and expired
//! presigned requests, working presigned GET/PUT, XAmzContentSHA256Mismatch, complete error
//! documents (Code, Message, RequestId = x-amz-request-id), and malformed input that must
//! get a 4xx (never a 500, never a hang).

mod common;

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use common::raw::{Payload, Request, Response, send_bytes, split_url};
use common::{
    Checks, client, client_with, create_bucket, expect_error, expect_status, get, md5_b64, ok, put,
};
use vmgw_tests::{ACCESS_KEY, Gateway, SECRET_KEY};

const B: &str = "auth";

#[tokio::test]
async fn wrong_credentials_are_refused() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    put(&s3, B, "obj", b"secret data").await;

    let wrong_secret = client_with(&gw, ACCESS_KEY, "not-the-secret-key-0123");
    expect_error(
        wrong_secret.list_buckets().send().await,
        403,
        "SignatureDoesNotMatch",
        "ListBuckets with a wrong secret",
    );
    expect_error(
        wrong_secret.get_object().bucket(B).key("obj").send().await,
        403,
        "SignatureDoesNotMatch",
        "GetObject with a wrong secret",
    );
    expect_status(
        wrong_secret.head_object().bucket(B).key("obj").send().await,
        403,
        "HeadObject with a wrong secret",
    );
    expect_error(
        wrong_secret
            .put_object()
            .bucket(B)
            .key("intruder")
            .body(ByteStream::from_static(b"should not land"))
            .send()
            .await,
        403,
        "SignatureDoesNotMatch",
        "PutObject with a wrong secret",
    );
    expect_error(
        wrong_secret
            .delete_object()
            .bucket(B)
            .key("obj")
            .send()
            .await,
        403,
        "SignatureDoesNotMatch",
        "DeleteObject with a wrong secret",
    );

    let unknown = client_with(&gw, "UNKNOWNACCESSKEY", SECRET_KEY);
    expect_error(
        unknown.list_buckets().send().await,
        403,
        "InvalidAccessKeyId",
        "ListBuckets with an unknown access key",
    );
    expect_error(
        unknown
            .put_object()
            .bucket(B)
            .key("intruder")
            .body(ByteStream::from_static(b"should not land"))
            .send()
            .await,
        403,
        "InvalidAccessKeyId",
        "PutObject with an unknown access key",
    );
    expect_error(
        unknown
            .create_bucket()
            .bucket("intruder-bucket")
            .send()
            .await,
        403,
        "InvalidAccessKeyId",
        "CreateBucket with an unknown access key",
    );

    // Anonymous requests are refused.
    let resp = Request::new("GET", &format!("/{B}/obj"))
        .send(&gw.addr)
        .await;
    resp.assert_code(403, "AccessDenied", "anonymous GET");
    let resp = Request::new("PUT", &format!("/{B}/anon"))
        .body("anonymous data")
        .send(&gw.addr)
        .await;
    resp.assert_code(403, "AccessDenied", "anonymous PUT");

    // A signed header changed after signing.
    let mut tampered = Request::new("PUT", &format!("/{B}/tampered"))
        .header("x-amz-meta-owner", "alice")
        .body("payload")
        .signed_ok(&gw.addr);
    for (name, value) in &mut tampered.headers {
        if name == "x-amz-meta-owner" {
            *value = "mallory".to_owned();
        }
    }
    tampered.send(&gw.addr).await.assert_code(
        403,
        "SignatureDoesNotMatch",
        "PUT with a header changed after signing",
    );

    // None of it changed anything.
    assert_eq!(get(&s3, B, "obj").await, b"secret data");
    let listed = ok(s3.list_objects_v2().bucket(B).send().await, "list");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["obj"], "refused writes stored nothing");
    let buckets = ok(s3.list_buckets().send().await, "ListBuckets");
    assert_eq!(buckets.buckets().len(), 1);
}

#[tokio::test]
async fn presigned_urls() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    let data = vmgw_tests::pattern(100_000, 5);
    put(&s3, B, "shared key.bin", &data).await;
    let minute = PresigningConfig::expires_in(Duration::from_secs(60)).unwrap();

    // GET
    let presigned = ok(
        s3.get_object()
            .bucket(B)
            .key("shared key.bin")
            .presigned(minute.clone())
            .await,
        "presign GET",
    );
    let (host, target) = split_url(presigned.uri());
    let mut req = Request::new(presigned.method(), &target);
    for (n, v) in presigned.headers() {
        req = req.header(n, v);
    }
    let resp = req.send(&host).await;
    assert_eq!(resp.status, 200, "presigned GET: {}", resp.text());
    assert!(resp.body == data, "presigned GET body");

    // A presigned URL for one key does not open another.
    let other = target.replace("shared%20key.bin", "other");
    assert_ne!(other, target);
    let resp = Request::new("GET", &other).send(&host).await;
    resp.assert_code(
        403,
        "SignatureDoesNotMatch",
        "presigned GET with the key changed",
    );

    // PUT
    let presigned = ok(
        s3.put_object()
            .bucket(B)
            .key("uploaded")
            .presigned(minute.clone())
            .await,
        "presign PUT",
    );
    let (host, target) = split_url(presigned.uri());
    let mut req = Request::new(presigned.method(), &target).body(b"via presigned PUT".to_vec());
    for (n, v) in presigned.headers() {
        req = req.header(n, v);
    }
    let resp = req.send(&host).await;
    assert_eq!(resp.status, 200, "presigned PUT: {}", resp.text());
    assert_eq!(get(&s3, B, "uploaded").await, b"via presigned PUT");

    // Expired: presigned for 1 s, used after it lapsed.
    let one_second = PresigningConfig::expires_in(Duration::from_secs(1)).unwrap();
    let presigned = ok(
        s3.get_object()
            .bucket(B)
            .key("shared key.bin")
            .presigned(one_second.clone())
            .await,
        "presign GET for 1 s",
    );
    let presigned_put = ok(
        s3.put_object()
            .bucket(B)
            .key("late")
            .presigned(one_second)
            .await,
        "presign PUT for 1 s",
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (host, target) = split_url(presigned.uri());
    let resp = Request::new("GET", &target).send(&host).await;
    resp.assert_s3_error(403, "AccessDenied", "expired presigned GET");
    let (host, target) = split_url(presigned_put.uri());
    let resp = Request::new("PUT", &target)
        .body("too late")
        .send(&host)
        .await;
    resp.assert_code(403, "AccessDenied", "expired presigned PUT");
    expect_error(
        s3.get_object().bucket(B).key("late").send().await,
        404,
        "NoSuchKey",
        "an expired presigned PUT stores nothing",
    );
}

#[tokio::test]
async fn payload_hash_must_match_the_body() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    for len in [5usize, 200_000, 3_000_000] {
        let body = vmgw_tests::pattern(len, 1);
        let key = format!("mismatch-{len}");
        let resp = Request::new("PUT", &format!("/{B}/{key}"))
            .body(body.clone())
            .signed(
                &gw.addr,
                ACCESS_KEY,
                SECRET_KEY,
                Payload::HashOf(b"different bytes".to_vec()),
            )
            .send(&gw.addr)
            .await;
        resp.assert_s3_error(
            400,
            "XAmzContentSHA256Mismatch",
            &format!("PUT of {len} bytes signed with the SHA-256 of other bytes"),
        );
        expect_error(
            s3.get_object().bucket(B).key(&key).send().await,
            404,
            "NoSuchKey",
            "a body with a mismatched payload hash is not stored",
        );
        // Signed properly, the same body is accepted.
        let resp = Request::new("PUT", &format!("/{B}/{key}"))
            .body(body.clone())
            .signed_ok(&gw.addr)
            .send(&gw.addr)
            .await;
        assert_eq!(
            resp.status,
            200,
            "signed PUT of {len} bytes: {}",
            resp.text()
        );
        assert!(get(&s3, B, &key).await == body);
    }
    // UNSIGNED-PAYLOAD is accepted as is.
    let resp = Request::new("PUT", &format!("/{B}/unsigned"))
        .body("unsigned payload")
        .signed(&gw.addr, ACCESS_KEY, SECRET_KEY, Payload::Unsigned)
        .send(&gw.addr)
        .await;
    assert_eq!(resp.status, 200, "UNSIGNED-PAYLOAD PUT: {}", resp.text());
    assert_eq!(get(&s3, B, "unsigned").await, b"unsigned payload");
}

/// (what, method, target, headers, body, expected status, expected code)
type ErrorCase<'a> = (
    &'a str,
    &'a str,
    String,
    Vec<(&'a str, &'a str)>,
    &'a [u8],
    u16,
    &'a str,
);

/// The raw response to a signed request.
async fn signed(
    gw: &Gateway,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut req = Request::new(method, target).body(body.to_vec());
    for (n, v) in headers {
        req = req.header(n, v);
    }
    req.signed_ok(&gw.addr).send(&gw.addr).await
}

#[tokio::test]
async fn error_documents_are_complete() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    put(&s3, B, "obj", b"0123456789").await;
    let upload = ok(
        s3.create_multipart_upload()
            .bucket(B)
            .key("mp")
            .send()
            .await,
        "CreateMultipartUpload",
    );
    let upload_id = upload.upload_id().unwrap();
    let long_key = "k".repeat(1025);
    let mut checks = Checks::default();
    let mut expect = |resp: Response, status: u16, code: &str, what: &str| {
        let problems = resp.s3_error_problems(status, code);
        checks.check(problems.is_empty(), || {
            format!("{what}: {}", problems.join("; "))
        });
    };

    // Signed requests that fail: (what, method, target, headers, body, status, code).
    let md5_other = md5_b64(b"other");
    let copy_self = format!("/{B}/obj");
    let meta = "v".repeat(2100);
    let bad_delete = b"<Delete><Object><Key>a</Key></Object>".as_slice();
    let md5_bad_delete = md5_b64(bad_delete);
    let unknown_upload = "00000000000000000000000000000000";
    let complete_xml = b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"x\"</ETag></Part></CompleteMultipartUpload>".as_slice();
    #[rustfmt::skip]
    let cases: Vec<ErrorCase> = vec![
        ("GET in a missing bucket", "GET", "/no-such-bucket/k".into(), vec![], b"", 404, "NoSuchBucket"),
        ("GET of a missing key", "GET", format!("/{B}/missing"), vec![], b"", 404, "NoSuchKey"),
        ("CreateBucket AB", "PUT", "/AB".into(), vec![], b"", 400, "InvalidBucketName"),
        ("CreateBucket a..b", "PUT", "/a..b".into(), vec![], b"", 400, "InvalidBucketName"),
        ("PUT with a 1025-byte key", "PUT", format!("/{B}/{long_key}"), vec![], b"x", 400, "KeyTooLongError"),
        ("CreateBucket again", "PUT", format!("/{B}"), vec![], b"", 409, "BucketAlreadyOwnedByYou"),
        ("DeleteBucket on a non-empty bucket", "DELETE", format!("/{B}"), vec![], b"", 409, "BucketNotEmpty"),
        ("GET with an unsatisfiable range", "GET", format!("/{B}/obj"), vec![("range", "bytes=100-200")], b"", 416, "InvalidRange"),
        ("GET If-Match other ETag", "GET", format!("/{B}/obj"), vec![("if-match", "\"0123456789abcdef0123456789abcdef\"")], b"", 412, "PreconditionFailed"),
        ("GET partNumber=5 of a single-part object", "GET", format!("/{B}/obj?partNumber=5"), vec![], b"", 416, "InvalidPartNumber"),
        ("GET partNumber=0", "GET", format!("/{B}/obj?partNumber=0"), vec![], b"", 400, "InvalidArgument"),
        ("PUT with a wrong Content-MD5", "PUT", format!("/{B}/md5"), vec![("content-md5", &md5_other)], b"data", 400, "BadDigest"),
        ("PUT with a malformed Content-MD5", "PUT", format!("/{B}/md5"), vec![("content-md5", "garbage")], b"data", 400, "InvalidDigest"),
        ("copy onto itself", "PUT", format!("/{B}/obj"), vec![("x-amz-copy-source", &copy_self)], b"", 400, "InvalidRequest"),
        ("PUT with an unknown storage class", "PUT", format!("/{B}/sc"), vec![("x-amz-storage-class", "BOGUS")], b"x", 400, "InvalidStorageClass"),
        ("PUT with 2.1 KB of metadata", "PUT", format!("/{B}/meta"), vec![("x-amz-meta-big", &meta)], b"x", 400, "MetadataTooLarge"),
        ("ListObjectsV2 max-keys=-1", "GET", format!("/{B}?list-type=2&max-keys=-1"), vec![], b"", 400, "InvalidArgument"),
        ("ListObjectsV2 encoding-type=bogus", "GET", format!("/{B}?list-type=2&encoding-type=bogus"), vec![], b"", 400, "InvalidArgument"),
        ("Complete with malformed XML", "POST", format!("/{B}/mp?uploadId={upload_id}"), vec![], b"<not-xml", 400, "MalformedXML"),
        ("Complete of an unknown upload", "POST", format!("/{B}/mp?uploadId={unknown_upload}"), vec![], complete_xml, 404, "NoSuchUpload"),
        ("UploadPart of an unknown upload", "PUT", format!("/{B}/mp?partNumber=1&uploadId={unknown_upload}"), vec![], b"x", 404, "NoSuchUpload"),
        ("DeleteObjects with malformed XML", "POST", format!("/{B}?delete"), vec![("content-md5", &md5_bad_delete)], bad_delete, 400, "MalformedXML"),
    ];
    for (what, method, target, headers, body, status, code) in cases {
        expect(
            signed(&gw, method, &target, &headers, body).await,
            status,
            code,
            what,
        );
    }
    expect(
        Request::new("GET", &format!("/{B}/obj"))
            .signed(
                &gw.addr,
                ACCESS_KEY,
                "wrong-secret-key-000000",
                Payload::Body,
            )
            .send(&gw.addr)
            .await,
        403,
        "SignatureDoesNotMatch",
        "GET with a wrong secret",
    );
    expect(
        Request::new("GET", &format!("/{B}/obj"))
            .signed(&gw.addr, "NOSUCHKEY", SECRET_KEY, Payload::Body)
            .send(&gw.addr)
            .await,
        403,
        "InvalidAccessKeyId",
        "GET with an unknown access key",
    );
    expect(
        Request::new("GET", &format!("/{B}/obj"))
            .send(&gw.addr)
            .await,
        403,
        "AccessDenied",
        "anonymous GET",
    );
    expect(
        Request::new("PUT", &format!("/{B}/hash"))
            .body("abc")
            .signed(
                &gw.addr,
                ACCESS_KEY,
                SECRET_KEY,
                Payload::HashOf(b"xyz".to_vec()),
            )
            .send(&gw.addr)
            .await,
        400,
        "XAmzContentSHA256Mismatch",
        "PUT with a mismatched payload hash",
    );

    // Errors without a body (HEAD, 304) still carry a request id.
    for (resp, status, what) in [
        (
            signed(&gw, "HEAD", &format!("/{B}/missing"), &[], b"").await,
            404,
            "HEAD of a missing key",
        ),
        (
            signed(
                &gw,
                "GET",
                &format!("/{B}/obj"),
                &[("if-none-match", "*")],
                b"",
            )
            .await,
            304,
            "GET If-None-Match: *",
        ),
    ] {
        checks.check(resp.status == status, || {
            format!("{what}: status {} instead of {status}", resp.status)
        });
        checks.check(
            resp.header("x-amz-request-id")
                .is_some_and(|v| !v.is_empty()),
            || format!("{what}: no x-amz-request-id header"),
        );
    }
    // Successful responses carry one too, different per request.
    let a = signed(&gw, "GET", &format!("/{B}/obj"), &[], b"").await;
    let b = signed(&gw, "GET", &format!("/{B}/obj"), &[], b"").await;
    checks.check(a.status == 200 && b.status == 200, || {
        "GETs of obj".to_owned()
    });
    checks.check(
        a.header("x-amz-request-id").is_some()
            && a.header("x-amz-request-id") != b.header("x-amz-request-id"),
        || {
            format!(
                "request ids {:?} and {:?}",
                a.header("x-amz-request-id"),
                b.header("x-amz-request-id")
            )
        },
    );
    checks.finish("error documents");
}

/// What the gateway answered to a malformed request: a status, or that it closed the
/// connection without answering.
fn describe(result: &Result<Response, String>) -> String {
    match result {
        Ok(resp) => format!(
            "{} {} {}",
            resp.status,
            resp.xml("Code").unwrap_or_default(),
            resp.text()
        ),
        Err(e) => format!("no response ({e})"),
    }
}

/// What is acceptable for a malformed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// A 4xx response.
    ClientError,
    /// Any response but a 5xx (S3 ignores some malformed headers and answers 200).
    NoServerError,
    /// A 4xx response, or the connection closed without one (the request was cut off or
    /// is not HTTP).
    ClientErrorOrClose,
}

#[tokio::test]
async fn malformed_requests_get_4xx_never_500_or_a_hang() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    put(&s3, B, "obj", b"0123456789").await;
    let host = gw.addr.clone();
    let mut checks = Checks::default();
    let mut cases: Vec<(String, Result<Response, String>, Want)> = Vec::new();

    let unsigned = |method: &str, target: &str| Request::new(method, target);
    let sign = |req: Request, payload: Payload| req.signed(&host, ACCESS_KEY, SECRET_KEY, payload);
    let send = |req: Request| {
        let host = host.clone();
        async move {
            let head_only = req.method == "HEAD";
            send_bytes(&host, &req.to_bytes(&host), head_only, false).await
        }
    };

    // Syntactically odd but harmless headers (S3 ignores an unparsable Range or date).
    for (name, value) in [
        ("range", "bytes=abc"),
        ("range", "bytes=5-1"),
        ("range", "items=0-1"),
        ("if-modified-since", "not a date"),
        ("if-unmodified-since", "Thu, 99 Foo 2020 99:99:99 GMT"),
        ("if-match", ""),
    ] {
        let resp = send(sign(
            unsigned("GET", &format!("/{B}/obj")).header(name, value),
            Payload::Body,
        ))
        .await;
        cases.push((
            format!("GET with {name}: {value:?}"),
            resp,
            Want::NoServerError,
        ));
    }
    // Bad query parameters.
    for (query, want) in [
        ("list-type=2&max-keys=abc", Want::ClientError),
        (
            "list-type=2&max-keys=99999999999999999999",
            Want::ClientError,
        ),
        ("list-type=2&continuation-token=%%%", Want::ClientError),
        ("list-type=2&prefix=%ZZ", Want::NoServerError),
        ("list-type=3", Want::NoServerError),
        ("uploads&max-uploads=-5", Want::ClientError),
        (
            "uploads&upload-id-marker=zz&key-marker=a",
            Want::ClientError,
        ),
    ] {
        let resp = send(sign(
            unsigned("GET", &format!("/{B}?{query}")),
            Payload::Body,
        ))
        .await;
        cases.push((format!("GET /{B}?{query}"), resp, want));
    }
    for target in [
        format!("/{B}/obj?partNumber=abc"),
        format!("/{B}/obj?partNumber=-1"),
        format!("/{B}/%ZZbad"),
        format!("/{B}/mp?uploadId=nothex&max-parts=abc"),
    ] {
        let resp = send(sign(unsigned("GET", &target), Payload::Body)).await;
        cases.push((format!("GET {target}"), resp, Want::ClientError));
    }
    // Bodies that end early: the client closes its side, the server must not wait forever.
    let resp = sign(
        unsigned("PUT", &format!("/{B}/short"))
            .header("content-length", "10")
            .body("12345"),
        Payload::Unsigned,
    )
    .send_and_close(&host)
    .await;
    cases.push((
        "PUT whose body is shorter than Content-Length".into(),
        resp,
        Want::ClientErrorOrClose,
    ));
    // A body larger than S3's 5 GiB limit is refused before it is sent.
    let resp = send(sign(
        unsigned("PUT", &format!("/{B}/huge")).header("content-length", "6442450944"),
        Payload::Unsigned,
    ))
    .await;
    match &resp {
        Ok(r) => {
            let problems = r.s3_error_problems(400, "EntityTooLarge");
            checks.check(problems.is_empty(), || {
                format!("PUT declaring 6 GiB: {}", problems.join("; "))
            });
        }
        Err(e) => checks.fail(format!(
            "PUT declaring 6 GiB: no response ({e}); want 400 EntityTooLarge"
        )),
    }
    let resp = send(
        sign(
            unsigned("PUT", &format!("/{B}/chunked"))
                .header("content-encoding", "aws-chunked")
                .header("x-amz-decoded-content-length", "5")
                .header("x-amz-trailer", "x-amz-checksum-crc32")
                .body("zz\r\nhello\r\n0\r\n\r\n"),
            Payload::HashOf(Vec::new()),
        )
        .headers_replaced("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
    )
    .await;
    cases.push((
        "aws-chunked body with a garbage chunk size".into(),
        resp,
        Want::ClientError,
    ));
    for (name, value, what) in [
        (
            "x-amz-checksum-crc32",
            "!!not base64!!",
            "a non-base64 x-amz-checksum-crc32",
        ),
        (
            "x-amz-checksum-crc32",
            "AAAAAAAAAAAA",
            "an x-amz-checksum-crc32 of the wrong length",
        ),
        (
            "x-amz-copy-source",
            "no-slash-here",
            "a malformed x-amz-copy-source",
        ),
        (
            "x-amz-metadata-directive",
            "SOMETIMES",
            "an unknown x-amz-metadata-directive",
        ),
    ] {
        let mut req = unsigned("PUT", &format!("/{B}/odd"))
            .header(name, value)
            .body("data");
        if name == "x-amz-metadata-directive" {
            req = req.header("x-amz-copy-source", &format!("{B}/obj"));
        }
        let resp = send(sign(req, Payload::Body)).await;
        cases.push((format!("PUT with {what}"), resp, Want::ClientError));
    }
    let resp = send(sign(
        unsigned(
            "PUT",
            &format!("/{B}/obj3?partNumber=1&uploadId=00000000000000000000000000000000"),
        )
        .header("x-amz-copy-source", &format!("{B}/obj"))
        .header("x-amz-copy-source-range", "bytes=zz"),
        Payload::Body,
    ))
    .await;
    cases.push((
        "UploadPartCopy with a malformed range".into(),
        resp,
        Want::ClientError,
    ));
    // Authentication garbage.
    for auth in [
        "AWS4-HMAC-SHA256 garbage",
        "AWS4-HMAC-SHA256 Credential=x, SignedHeaders=host, Signature=00",
        "Bearer token",
        "AWS vmgwtestkey:notbase64",
    ] {
        let resp = send(
            unsigned("GET", &format!("/{B}/obj"))
                .header("authorization", auth)
                .header("x-amz-date", "20260101T000000Z")
                .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
        )
        .await;
        cases.push((format!("Authorization: {auth}"), resp, Want::ClientError));
    }
    let resp = send(
        unsigned("GET", &format!("/{B}/obj"))
            .signed_ok(&host)
            .headers_replaced("x-amz-date", "yesterday"),
    )
    .await;
    cases.push((
        "signed request with x-amz-date: yesterday".into(),
        resp,
        Want::ClientError,
    ));
    let resp = send(
        sign(
            unsigned("PUT", &format!("/{B}/sha")).body("x"),
            Payload::Unsigned,
        )
        .headers_replaced("x-amz-content-sha256", "not-a-hash"),
    )
    .await;
    cases.push((
        "x-amz-content-sha256: not-a-hash".into(),
        resp,
        Want::ClientError,
    ));
    // Not HTTP at all, or broken HTTP.
    for raw in [
        b"HELLO\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nhost: x\r\ncontent-length: -1\r\n\r\n".to_vec(),
        b"PUT /auth/x HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n".to_vec(),
        format!(
            "GET /{B}/obj HTTP/1.1\r\nhost: x\r\nx-amz-meta-huge: {}\r\n\r\n",
            "h".repeat(200_000)
        )
        .into_bytes(),
    ] {
        let what = format!(
            "raw bytes {:?}",
            String::from_utf8_lossy(&raw[..raw.len().min(60)])
        );
        let resp = send_bytes(&host, &raw, false, false).await;
        cases.push((what, resp, Want::ClientErrorOrClose));
    }

    for (what, resp, want) in &cases {
        let passed = match (resp, want) {
            (Ok(r), Want::ClientError | Want::ClientErrorOrClose) => (400..500).contains(&r.status),
            (Ok(r), Want::NoServerError) => r.status < 500,
            (Err(e), Want::ClientErrorOrClose) => !e.contains("no complete response within"),
            (Err(_), _) => false,
        };
        checks.check(passed, || {
            format!("{what}: got {} (want {want:?})", describe(resp))
        });
    }

    // DeleteObjects with more than 1000 keys.
    let ids: Vec<ObjectIdentifier> = (0..1001)
        .map(|i| {
            ObjectIdentifier::builder()
                .key(format!("k{i}"))
                .build()
                .unwrap()
        })
        .collect();
    let result = s3
        .delete_objects()
        .bucket(B)
        .delete(Delete::builder().set_objects(Some(ids)).build().unwrap())
        .send()
        .await;
    match result {
        Ok(_) => checks.fail(
            "DeleteObjects with 1001 keys succeeded; S3 refuses it with 400 MalformedXML".into(),
        ),
        Err(e) => {
            use aws_sdk_s3::error::ProvideErrorMetadata;
            let status = e.raw_response().map(|r| r.status().as_u16());
            checks.check(
                status == Some(400) && e.code() == Some("MalformedXML"),
                || {
                    format!(
                        "DeleteObjects with 1001 keys: {status:?} {:?}, want 400 MalformedXML",
                        e.code()
                    )
                },
            );
        }
    }

    // The gateway is still up and intact.
    assert_eq!(
        get(&s3, B, "obj").await,
        b"0123456789",
        "the gateway still serves"
    );
    checks.finish("malformed requests");
}

#[tokio::test]
async fn early_error_responses_leave_the_connection_usable_or_close_it() {
    // A client that sends a large body on a keep-alive connection and gets an error before
    // the body is consumed must be told the connection is over (Connection: close), or the
    // server must read the rest of the body and keep serving the connection. Otherwise the
    // client's next request on that pooled connection fails.
    use tokio::io::AsyncWriteExt;
    let gw = Gateway::start();
    let s3 = client(&gw);
    create_bucket(&s3, B).await;
    put(&s3, B, "exists", b"x").await;
    let body = vmgw_tests::pattern(4_000_000, 3);
    let req = Request::new("PUT", &format!("/{B}/exists"))
        .header("if-none-match", "*")
        .header("content-length", &body.len().to_string())
        .signed(&gw.addr, ACCESS_KEY, SECRET_KEY, Payload::Unsigned);
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(&gw.addr)
            .await
            .map_err(|e| e.to_string())?;
        stream
            .write_all(&req.to_bytes_with(&gw.addr, false))
            .await
            .map_err(|e| e.to_string())?;
        stream
            .write_all(&body[..65_536])
            .await
            .map_err(|e| e.to_string())?;
        let first = common::raw::read_response(&mut stream, false).await?;
        if first.status != 412 {
            return Err(format!(
                "conditional PUT answered {}, want 412",
                first.status
            ));
        }
        if first
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            return Ok(());
        }
        // No Connection: close, so the connection must still work.
        stream.write_all(&body[65_536..]).await.map_err(|e| {
            format!(
                "the 412 (sent before the body was read) had no Connection: close, \
                 then sending the rest of the body failed: {e}"
            )
        })?;
        let next = Request::new("GET", &format!("/{B}/exists")).signed_ok(&gw.addr);
        stream
            .write_all(&next.to_bytes(&gw.addr))
            .await
            .map_err(|e| {
                format!(
                    "412 without Connection: close, then the next request could not be sent: {e}"
                )
            })?;
        let second = common::raw::read_response(&mut stream, false)
            .await
            .map_err(|e| {
                format!("412 without Connection: close, then no response to the next request: {e}")
            })?;
        if second.status == 200 && second.body == b"x" {
            Ok(())
        } else {
            Err(format!(
                "412 without Connection: close, then the next request got {} {}",
                second.status,
                second.text()
            ))
        }
    };
    let outcome = tokio::time::timeout(common::REQUEST_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| Err("timed out".into()));
    assert_eq!(
        outcome,
        Ok(()),
        "keep-alive after an early 412 on a 4 MB PUT"
    );
}
