//! Bucket policies, end to end: a public-read bucket readable anonymously (raw requests
//! and `aws --no-sign-request`) and not writable; a read-only share to another tenant; an
//! explicit Deny beating an Allow, for other tenants and for the owner; conditions on the
//! client address (requests sent from 127.0.0.2), on `s3:prefix` and on
//! `aws:SecureTransport`; malformed documents refused with MalformedPolicy. Every refusal is
//! checked to have changed nothing.

mod common;

use std::net::SocketAddr;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use common::raw::{Payload, Request, Response, read_response};
use common::tenants::{Guest, vm_add};
use common::{client, client_with, ok};
use tokio::io::AsyncWriteExt;
use vmgw_tests::{Gateway, output_within, require_tool};

/// Counts the cases, so the suite proves how many it checked.
struct Cases(usize);

impl Cases {
    fn check(&mut self, passed: bool, what: &str) {
        assert!(passed, "case failed: {what}");
        self.0 += 1;
    }
}

fn code<T, E: ProvideErrorMetadata>(r: &Result<T, E>) -> Option<String> {
    r.as_ref().err().and_then(|e| e.code().map(str::to_owned))
}

fn denied<T, E: ProvideErrorMetadata>(r: &Result<T, E>) -> bool {
    code(r).as_deref() == Some("AccessDenied")
}

async fn put_policy(s3: &Client, bucket: &str, statements: &str) {
    ok(
        s3.put_bucket_policy()
            .bucket(bucket)
            .policy(format!(
                r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#
            ))
            .send()
            .await,
        "put bucket policy",
    );
}

async fn anonymous(gw: &Gateway, method: &str, target: &str, body: &[u8]) -> Response {
    Request::new(method, target)
        .body(body.to_vec())
        .send(&gw.addr)
        .await
}

/// A request signed by `guest`, sent from `source` (a loopback address other than the
/// gateway's own, so that address conditions see a different client).
async fn signed_from(
    gw: &Gateway,
    source: &str,
    guest: &Guest,
    method: &str,
    target: &str,
) -> Response {
    let request = Request::new(method, target).signed(
        &gw.addr,
        &guest.access_key,
        &guest.secret_key,
        Payload::Body,
    );
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(format!("{source}:0").parse::<SocketAddr>().unwrap())
        .unwrap();
    let mut stream = socket.connect(gw.addr.parse().unwrap()).await.unwrap();
    stream.write_all(&request.to_bytes(&gw.addr)).await.unwrap();
    read_response(&mut stream, method == "HEAD").await.unwrap()
}

async fn keys(s3: &Client, bucket: &str) -> Vec<String> {
    ok(s3.list_objects_v2().bucket(bucket).send().await, "list")
        .contents()
        .iter()
        .map(|o| o.key().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn public_read_share_deny_and_conditions() {
    let gw = Gateway::start();
    let admin = client(&gw);
    let alice = vm_add(&gw, "alice", &["--bucket", "alice-pub"]);
    let bob = vm_add(&gw, "bob", &[]);
    let carol = vm_add(&gw, "carol", &[]);
    let a = client_with(&gw, &alice.access_key, &alice.secret_key);
    let b = client_with(&gw, &bob.access_key, &bob.secret_key);
    let c = client_with(&gw, &carol.access_key, &carol.secret_key);
    ok(
        a.create_bucket().bucket("alice-share").send().await,
        "second bucket",
    );
    common::put(&a, "alice-pub", "index.html", b"<h1>public</h1>").await;
    common::put(&a, "alice-share", "doc.txt", b"shared with bob").await;
    common::put(&a, "alice-share", "keep/ledger", b"never delete").await;
    common::put(&a, "alice-share", "public/a", b"a").await;
    common::put(&b, "bob", "own.txt", b"bob's own").await;
    let mut cases = Cases(0);

    // --- No policy: nothing for anyone but the owner.
    let r = anonymous(&gw, "GET", "/alice-pub/index.html", b"").await;
    cases.check(r.status == 403, "anonymous GET without a policy");
    let r = b
        .get_object()
        .bucket("alice-share")
        .key("doc.txt")
        .send()
        .await;
    cases.check(denied(&r), "other tenant GET without a policy");
    let r = a.get_bucket_policy().bucket("alice-pub").send().await;
    cases.check(
        code(&r).as_deref() == Some("NoSuchBucketPolicy"),
        "GetBucketPolicy of none",
    );

    // --- Public read.
    let public = r#"{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::alice-pub/*"}"#;
    put_policy(&a, "alice-pub", public).await;
    let stored = ok(
        a.get_bucket_policy().bucket("alice-pub").send().await,
        "get policy",
    );
    let stored: serde_json::Value = serde_json::from_str(stored.policy().unwrap()).unwrap();
    cases.check(
        stored["Statement"][0]["Sid"] == "PublicRead",
        "GetBucketPolicy returns the document",
    );
    let r = anonymous(&gw, "GET", "/alice-pub/index.html", b"").await;
    cases.check(
        r.status == 200 && r.body == b"<h1>public</h1>",
        "anonymous GET of a public object",
    );
    let r = anonymous(&gw, "HEAD", "/alice-pub/index.html", b"").await;
    cases.check(r.status == 200, "anonymous HEAD of a public object");
    let r = anonymous(&gw, "PUT", "/alice-pub/defaced.html", b"pwned").await;
    cases.check(
        r.status == 403 && r.text().contains("AccessDenied"),
        "anonymous PUT refused",
    );
    let r = anonymous(&gw, "DELETE", "/alice-pub/index.html", b"").await;
    cases.check(r.status == 403, "anonymous DELETE refused");
    let r = anonymous(&gw, "GET", "/alice-pub?list-type=2", b"").await;
    cases.check(
        r.status == 403,
        "anonymous listing refused (only GetObject is public)",
    );
    let r = anonymous(&gw, "GET", "/alice-share/doc.txt", b"").await;
    cases.check(r.status == 403, "the policy opens only its own bucket");
    cases.check(
        keys(&a, "alice-pub").await == ["index.html"],
        "refused anonymous writes changed nothing",
    );
    // A real client, unsigned.
    let aws = require_tool("aws");
    let out = output_within(
        std::process::Command::new(&aws)
            .env_remove("AWS_CA_BUNDLE")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(["--endpoint-url", &gw.endpoint, "--region", "us-east-1"])
            .args([
                "s3",
                "cp",
                "--no-sign-request",
                "s3://alice-pub/index.html",
                "-",
            ]),
        std::time::Duration::from_secs(60),
    );
    cases.check(
        out.status.success() && out.stdout == b"<h1>public</h1>",
        "aws --no-sign-request reads the public object",
    );

    // --- Read-only share to bob.
    let share = r#"{"Sid":"BobReads","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::bob:root"},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::alice-share","arn:aws:s3:::alice-share/*"]}"#;
    put_policy(&a, "alice-share", share).await;
    cases.check(
        common::get(&b, "alice-share", "doc.txt").await == b"shared with bob",
        "bob reads the share",
    );
    cases.check(
        keys(&b, "alice-share").await.len() == 3,
        "bob lists the share",
    );
    let r = b
        .put_object()
        .bucket("alice-share")
        .key("doc.txt")
        .body(ByteStream::from_static(b"overwritten"))
        .send()
        .await;
    cases.check(denied(&r), "bob cannot write the share");
    let r = b
        .delete_object()
        .bucket("alice-share")
        .key("doc.txt")
        .send()
        .await;
    cases.check(denied(&r), "bob cannot delete from the share");
    let r = b
        .delete_objects()
        .bucket("alice-share")
        .delete(
            Delete::builder()
                .objects(ObjectIdentifier::builder().key("doc.txt").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await;
    cases.check(denied(&r), "bob cannot batch-delete from the share");
    let r = b
        .put_bucket_policy()
        .bucket("alice-share")
        .policy(share)
        .send()
        .await;
    cases.check(denied(&r), "bob cannot change the share's policy");
    let r = c
        .get_object()
        .bucket("alice-share")
        .key("doc.txt")
        .send()
        .await;
    cases.check(denied(&r), "carol is not in the share");
    let copied = b
        .copy_object()
        .bucket("bob")
        .key("copy-of-doc.txt")
        .copy_source("alice-share/doc.txt")
        .send()
        .await;
    cases.check(copied.is_ok(), "bob copies from the share into his bucket");
    cases.check(
        common::get(&b, "bob", "copy-of-doc.txt").await == b"shared with bob",
        "copy bytes",
    );
    let r = b
        .copy_object()
        .bucket("alice-share")
        .key("from-bob")
        .copy_source("bob/own.txt")
        .send()
        .await;
    cases.check(denied(&r), "bob cannot copy into the share");
    cases.check(
        common::get(&a, "alice-share", "doc.txt").await == b"shared with bob"
            && keys(&a, "alice-share").await == ["doc.txt", "keep/ledger", "public/a"],
        "the share is unchanged",
    );

    // --- An explicit Deny beats an Allow, whatever the order.
    let deny_keep = r#"{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::alice-share/keep/*"}"#;
    let bob_writes = r#"{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"s3:*","Resource":["arn:aws:s3:::alice-share","arn:aws:s3:::alice-share/*"]}"#;
    put_policy(&a, "alice-share", &format!("{deny_keep},{bob_writes}")).await;
    common::put(&b, "alice-share", "scratch", b"bob was here").await;
    cases.check(
        b.delete_object()
            .bucket("alice-share")
            .key("scratch")
            .send()
            .await
            .is_ok(),
        "allowed delete",
    );
    let r = b
        .delete_object()
        .bucket("alice-share")
        .key("keep/ledger")
        .send()
        .await;
    cases.check(denied(&r), "Deny beats bob's Allow");
    let r = a
        .delete_object()
        .bucket("alice-share")
        .key("keep/ledger")
        .send()
        .await;
    cases.check(denied(&r), "Deny applies to the owner too");
    let r = admin
        .delete_object()
        .bucket("alice-share")
        .key("keep/ledger")
        .send()
        .await;
    cases.check(r.is_ok(), "the admin is above bucket policies");
    common::put(&a, "alice-share", "keep/ledger", b"never delete").await;
    put_policy(&a, "alice-share", &format!("{bob_writes},{deny_keep}")).await;
    let r = b
        .delete_object()
        .bucket("alice-share")
        .key("keep/ledger")
        .send()
        .await;
    cases.check(denied(&r), "Deny wins listed last too");
    // The owner keeps the policy actions even when a Deny covers them.
    put_policy(
        &a,
        "alice-share",
        r#"{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::alice-share","arn:aws:s3:::alice-share/*"]}"#,
    )
    .await;
    let r = a
        .get_object()
        .bucket("alice-share")
        .key("doc.txt")
        .send()
        .await;
    cases.check(denied(&r), "a Deny-all locks the owner out of the data");
    cases.check(
        a.delete_bucket_policy()
            .bucket("alice-share")
            .send()
            .await
            .is_ok(),
        "but not out of the policy",
    );
    cases.check(
        common::get(&a, "alice-share", "doc.txt").await == b"shared with bob",
        "owner again",
    );
    cases.check(
        common::get(&a, "alice-share", "keep/ledger").await == b"never delete",
        "kept",
    );

    // --- Address conditions: requests from 127.0.0.2 and from 127.0.0.1.
    put_policy(
        &a,
        "alice-share",
        r#"{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::alice-share/*","Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.2/32"}}}"#,
    )
    .await;
    let r = signed_from(&gw, "127.0.0.2", &bob, "GET", "/alice-share/doc.txt").await;
    cases.check(
        r.status == 200 && r.body == b"shared with bob",
        "IpAddress matches 127.0.0.2",
    );
    let r = signed_from(&gw, "127.0.0.1", &bob, "GET", "/alice-share/doc.txt").await;
    cases.check(r.status == 403, "IpAddress refuses 127.0.0.1");
    put_policy(
        &a,
        "alice-share",
        &format!(
            "{bob_writes},{}",
            r#"{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::alice-share/*","Condition":{"NotIpAddress":{"aws:SourceIp":"127.0.0.1/32"}}}"#
        ),
    )
    .await;
    let r = signed_from(&gw, "127.0.0.3", &bob, "GET", "/alice-share/doc.txt").await;
    cases.check(r.status == 403, "NotIpAddress Deny refuses 127.0.0.3");
    let r = signed_from(&gw, "127.0.0.1", &bob, "GET", "/alice-share/doc.txt").await;
    cases.check(r.status == 200, "NotIpAddress Deny spares 127.0.0.1");

    // --- s3:prefix: bob may list only under public/.
    put_policy(
        &a,
        "alice-share",
        r#"{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::alice-share","Condition":{"StringLike":{"s3:prefix":"public/*"}}}"#,
    )
    .await;
    let r = b
        .list_objects_v2()
        .bucket("alice-share")
        .prefix("public/")
        .send()
        .await;
    cases.check(
        r.as_ref().is_ok_and(|o| o.contents().len() == 1),
        "listing under the allowed prefix",
    );
    let r = b.list_objects_v2().bucket("alice-share").send().await;
    cases.check(denied(&r), "listing without a prefix");
    let r = b
        .list_objects_v2()
        .bucket("alice-share")
        .prefix("keep/")
        .send()
        .await;
    cases.check(denied(&r), "listing under another prefix");

    // --- aws:SecureTransport: plain HTTP refused for everyone but the admin.
    put_policy(
        &a,
        "alice-share",
        &format!(
            "{bob_writes},{}",
            r#"{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::alice-share","arn:aws:s3:::alice-share/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#
        ),
    )
    .await;
    let r = b
        .get_object()
        .bucket("alice-share")
        .key("doc.txt")
        .send()
        .await;
    cases.check(denied(&r), "SecureTransport Deny refuses bob over HTTP");
    let r = a.list_objects_v2().bucket("alice-share").send().await;
    cases.check(denied(&r), "and the owner");
    cases.check(
        common::get(&admin, "alice-share", "doc.txt").await == b"shared with bob",
        "but not the admin",
    );
    cases.check(
        a.delete_bucket_policy()
            .bucket("alice-share")
            .send()
            .await
            .is_ok(),
        "reset",
    );

    // --- Malformed documents are refused and change nothing.
    put_policy(&a, "alice-pub", public).await;
    for (doc, what) in [
        ("{not json", "bad JSON"),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::alice-share/*"}]}"#,
            "a resource in another bucket",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::alice-pub/*","Condition":{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}}]}"#,
            "an unsupported condition operator",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Permit","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::alice-pub/*"}]}"#,
            "an invalid effect",
        ),
    ] {
        let r = a
            .put_bucket_policy()
            .bucket("alice-pub")
            .policy(doc)
            .send()
            .await;
        let status = r
            .as_ref()
            .err()
            .and_then(|e| e.raw_response())
            .map(|r| r.status().as_u16());
        cases.check(
            code(&r).as_deref() == Some("MalformedPolicy") && status == Some(400),
            what,
        );
    }
    let stored = ok(
        a.get_bucket_policy().bucket("alice-pub").send().await,
        "get policy",
    );
    cases.check(
        stored.policy().unwrap().contains("PublicRead"),
        "the old policy stays",
    );

    assert!(cases.0 >= 30, "only {} cases", cases.0);
}
