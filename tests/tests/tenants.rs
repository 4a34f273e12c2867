//! Tenants: `vmgw vm add` creates a tenant, its key and its bucket; every S3 operation of
//! one tenant on another's bucket or objects is refused with AccessDenied and changes
//! nothing, while the owner and the admin may do it (the isolation matrix); ListBuckets
//! lists only a tenant's own buckets; keys rotate; tenants survive a restart and their
//! secrets are not stored in the clear; `vm rm` refuses while a bucket holds data.

mod common;

use std::collections::BTreeMap;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, CompletedMultipartUpload, CompletedPart, Delete,
    ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, ObjectIdentifier,
    Tag, Tagging,
};
use common::raw::{Payload, Request};
use common::tenants::{admin_cmd, vm_add};
use common::{client, client_with, ok};
use vmgw_tests::{Gateway, run};

const SEED: &[u8] = b"seed object of its owner";
const VICTIM: &[u8] = b"an object others try to delete";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Allowed,
    Denied,
    Failed(String),
}

fn outcome<T, E>(result: Result<T, SdkError<E, HttpResponse>>) -> Outcome
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => Outcome::Allowed,
        Err(err) => {
            let status = err.raw_response().map(|r| r.status().as_u16());
            // HEAD errors have no body, so no code: 403 is the denial.
            if err.code() == Some("AccessDenied") || (err.code().is_none() && status == Some(403)) {
                Outcome::Denied
            } else {
                Outcome::Failed(common::brief(&err))
            }
        }
    }
}

struct Actor {
    name: &'static str,
    s3: Client,
    access_key: String,
    secret_key: String,
    /// The bucket it owns, where it copies others' objects to.
    home: String,
    /// An upload in its home bucket, for UploadPartCopy from others' objects.
    home_upload: String,
}

/// The seeded resources of one bucket.
struct Target {
    bucket: String,
    owner: &'static str,
    upload: String,
}

const OPERATIONS: &[&str] = &[
    "HeadBucket",
    "GetBucketLocation",
    "ListObjects",
    "ListObjectsV2",
    "ListObjectsV2WithMetadata",
    "ListMultipartUploads",
    "GetObject",
    "HeadObject",
    "GetObjectTagging",
    "PutObject",
    "CopyObjectWithin",
    "CopyObjectOut",
    "UploadPartCopyOut",
    "PutObjectTagging",
    "DeleteObjectTagging",
    "PutBucketLifecycleConfiguration",
    "GetBucketLifecycleConfiguration",
    "DeleteBucketLifecycle",
    "ListBucketIntelligentTieringConfigurations",
    "CreateMultipartUpload",
    "UploadPart",
    "ListParts",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "RenameObject",
    "DeleteObject",
    "DeleteObjects",
    "DeleteBucket",
];

/// Runs one operation of `actor` on `target`. A denied actor aims at the owner's seeded
/// resources (the victim object, the seeded upload); an allowed one works on its own so
/// that the seeded state stays checkable.
async fn attempt(gw: &Gateway, op: &str, actor: &Actor, t: &Target, allowed: bool) -> Outcome {
    let s3 = &actor.s3;
    let b = t.bucket.as_str();
    let mine = format!("by-{}", actor.name);
    match op {
        "HeadBucket" => outcome(s3.head_bucket().bucket(b).send().await),
        "GetBucketLocation" => outcome(s3.get_bucket_location().bucket(b).send().await),
        "ListObjects" => outcome(s3.list_objects().bucket(b).send().await),
        "ListObjectsV2" => outcome(s3.list_objects_v2().bucket(b).send().await),
        "ListObjectsV2WithMetadata" => {
            let resp = Request::new("GET", &format!("/{b}?list-type=2&metadata=true"))
                .signed(
                    &gw.addr,
                    &actor.access_key,
                    &actor.secret_key,
                    Payload::Body,
                )
                .send(&gw.addr)
                .await;
            raw_outcome(resp.status, &resp.text())
        }
        "ListMultipartUploads" => outcome(s3.list_multipart_uploads().bucket(b).send().await),
        "GetObject" => outcome(s3.get_object().bucket(b).key("seed").send().await),
        "HeadObject" => outcome(s3.head_object().bucket(b).key("seed").send().await),
        "GetObjectTagging" => outcome(s3.get_object_tagging().bucket(b).key("seed").send().await),
        "PutObject" => outcome(
            s3.put_object()
                .bucket(b)
                .key(&mine)
                .body(ByteStream::from_static(b"written by another"))
                .send()
                .await,
        ),
        "CopyObjectWithin" => outcome(
            s3.copy_object()
                .bucket(b)
                .key(format!("copy-{mine}"))
                .copy_source(format!("{b}/seed"))
                .send()
                .await,
        ),
        // Reading another's object by copying it into one's own bucket.
        "CopyObjectOut" => outcome(
            s3.copy_object()
                .bucket(&actor.home)
                .key(format!("copied-from-{b}"))
                .copy_source(format!("{b}/seed"))
                .send()
                .await,
        ),
        "UploadPartCopyOut" => outcome(
            s3.upload_part_copy()
                .bucket(&actor.home)
                .key("home-upload")
                .upload_id(&actor.home_upload)
                .part_number(1)
                .copy_source(format!("{b}/seed"))
                .send()
                .await,
        ),
        "PutObjectTagging" => {
            let key = if allowed { mine.as_str() } else { "seed" };
            if allowed {
                ok(
                    s3.put_object()
                        .bucket(b)
                        .key(key)
                        .body(ByteStream::from_static(b"x"))
                        .send()
                        .await,
                    "own object to tag",
                );
            }
            outcome(
                s3.put_object_tagging()
                    .bucket(b)
                    .key(key)
                    .tagging(tagging(&[("by", actor.name)]))
                    .send()
                    .await,
            )
        }
        "DeleteObjectTagging" => {
            let key = if allowed { mine.as_str() } else { "seed" };
            outcome(s3.delete_object_tagging().bucket(b).key(key).send().await)
        }
        "PutBucketLifecycleConfiguration" => outcome(
            s3.put_bucket_lifecycle_configuration()
                .bucket(b)
                .lifecycle_configuration(
                    BucketLifecycleConfiguration::builder()
                        .rules(
                            LifecycleRule::builder()
                                .id("expire-everything")
                                .status(ExpirationStatus::Enabled)
                                .filter(LifecycleRuleFilter::builder().prefix("tmp/").build())
                                .expiration(LifecycleExpiration::builder().days(1).build())
                                .build()
                                .expect("rule"),
                        )
                        .build()
                        .expect("lifecycle"),
                )
                .send()
                .await,
        ),
        "GetBucketLifecycleConfiguration" => outcome(
            s3.get_bucket_lifecycle_configuration()
                .bucket(b)
                .send()
                .await,
        ),
        "DeleteBucketLifecycle" => outcome(s3.delete_bucket_lifecycle().bucket(b).send().await),
        "ListBucketIntelligentTieringConfigurations" => outcome(
            s3.list_bucket_intelligent_tiering_configurations()
                .bucket(b)
                .send()
                .await,
        ),
        "CreateMultipartUpload" => outcome(
            s3.create_multipart_upload()
                .bucket(b)
                .key(format!("mp-{mine}"))
                .send()
                .await,
        ),
        "UploadPart" | "ListParts" | "CompleteMultipartUpload" | "AbortMultipartUpload" => {
            let (key, upload) = if allowed {
                let key = format!("mp2-{mine}");
                let created = ok(
                    s3.create_multipart_upload()
                        .bucket(b)
                        .key(&key)
                        .send()
                        .await,
                    "own upload",
                );
                (key, created.upload_id().expect("upload id").to_owned())
            } else {
                ("seeded-upload".to_owned(), t.upload.clone())
            };
            match op {
                "UploadPart" => outcome(
                    s3.upload_part()
                        .bucket(b)
                        .key(&key)
                        .upload_id(&upload)
                        .part_number(2)
                        .body(ByteStream::from_static(b"part from another"))
                        .send()
                        .await,
                ),
                "ListParts" => outcome(
                    s3.list_parts()
                        .bucket(b)
                        .key(&key)
                        .upload_id(&upload)
                        .send()
                        .await,
                ),
                "CompleteMultipartUpload" => {
                    let part = if allowed {
                        ok(
                            s3.upload_part()
                                .bucket(b)
                                .key(&key)
                                .upload_id(&upload)
                                .part_number(1)
                                .body(ByteStream::from_static(b"only part"))
                                .send()
                                .await,
                            "own part",
                        )
                        .e_tag()
                        .expect("etag")
                        .to_owned()
                    } else {
                        common::quoted_md5(b"seeded part")
                    };
                    outcome(
                        s3.complete_multipart_upload()
                            .bucket(b)
                            .key(&key)
                            .upload_id(&upload)
                            .multipart_upload(
                                CompletedMultipartUpload::builder()
                                    .parts(
                                        CompletedPart::builder().part_number(1).e_tag(part).build(),
                                    )
                                    .build(),
                            )
                            .send()
                            .await,
                    )
                }
                _ => outcome(
                    s3.abort_multipart_upload()
                        .bucket(b)
                        .key(&key)
                        .upload_id(&upload)
                        .send()
                        .await,
                ),
            }
        }
        "RenameObject" => {
            let (from, to) = if allowed {
                ok(
                    s3.put_object()
                        .bucket(b)
                        .key(format!("ren-{mine}"))
                        .body(ByteStream::from_static(b"to rename"))
                        .send()
                        .await,
                    "own object to rename",
                );
                (format!("ren-{mine}"), format!("renamed-{mine}"))
            } else {
                ("victim".to_owned(), format!("stolen-{mine}"))
            };
            let resp = Request::new("PUT", &format!("/{b}/{to}?renameObject"))
                .header("x-amz-rename-source", &format!("/{b}/{from}"))
                .signed(
                    &gw.addr,
                    &actor.access_key,
                    &actor.secret_key,
                    Payload::Body,
                )
                .send(&gw.addr)
                .await;
            raw_outcome(resp.status, &resp.text())
        }
        "DeleteObject" => {
            let key = if allowed { mine.as_str() } else { "victim" };
            outcome(s3.delete_object().bucket(b).key(key).send().await)
        }
        "DeleteObjects" => {
            let key = if allowed {
                format!("copy-{mine}")
            } else {
                "victim".to_owned()
            };
            let result = s3
                .delete_objects()
                .bucket(b)
                .delete(
                    Delete::builder()
                        .objects(ObjectIdentifier::builder().key(key).build().expect("id"))
                        .build()
                        .expect("delete"),
                )
                .send()
                .await;
            match outcome(result) {
                Outcome::Allowed => Outcome::Allowed,
                other => other,
            }
        }
        // The bucket holds objects, so an allowed DeleteBucket answers BucketNotEmpty: what
        // matters is that it got past the access check.
        "DeleteBucket" => match outcome(s3.delete_bucket().bucket(b).send().await) {
            Outcome::Failed(msg) if msg.contains("BucketNotEmpty") => Outcome::Allowed,
            other => other,
        },
        other => panic!("unknown operation {other}"),
    }
}

fn raw_outcome(status: u16, body: &str) -> Outcome {
    match status {
        200..=299 => Outcome::Allowed,
        403 if body.contains("<Code>AccessDenied</Code>") => Outcome::Denied,
        _ => Outcome::Failed(format!("HTTP {status}: {body}")),
    }
}

fn tagging(tags: &[(&str, &str)]) -> Tagging {
    Tagging::builder()
        .set_tag_set(Some(
            tags.iter()
                .map(|(k, v)| Tag::builder().key(*k).value(*v).build().expect("tag"))
                .collect(),
        ))
        .build()
        .expect("tagging")
}

/// What a denied actor must not have changed: keys, seed and victim bytes, seed tags, no
/// lifecycle configuration, the seeded upload and its one part.
async fn snapshot(owner: &Client, bucket: &str, upload: &str) -> String {
    let listed = ok(owner.list_objects_v2().bucket(bucket).send().await, "list");
    let keys: Vec<String> = listed
        .contents()
        .iter()
        .map(|o| {
            format!(
                "{}:{}",
                o.key().unwrap_or_default(),
                o.e_tag().unwrap_or_default()
            )
        })
        .collect();
    let seed = common::get(owner, bucket, "seed").await;
    let victim = common::get(owner, bucket, "victim").await;
    let tags = ok(
        owner
            .get_object_tagging()
            .bucket(bucket)
            .key("seed")
            .send()
            .await,
        "tags",
    );
    let tags: BTreeMap<String, String> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    let lifecycle = owner
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
        .map(|_| "configured".to_owned())
        .unwrap_or_else(|e| e.code().unwrap_or("?").to_owned());
    let parts = ok(
        owner
            .list_parts()
            .bucket(bucket)
            .key("seeded-upload")
            .upload_id(upload)
            .send()
            .await,
        "seeded parts",
    );
    let parts: Vec<String> = parts
        .parts()
        .iter()
        .map(|p| {
            format!(
                "{}:{}",
                p.part_number().unwrap_or(0),
                p.e_tag().unwrap_or_default()
            )
        })
        .collect();
    let uploads = ok(
        owner.list_multipart_uploads().bucket(bucket).send().await,
        "uploads",
    );
    let uploads: Vec<String> = uploads
        .uploads()
        .iter()
        .map(|u| u.key().unwrap_or_default().to_owned())
        .collect();
    format!(
        "keys={keys:?} seed={} victim={} tags={tags:?} lifecycle={lifecycle} parts={parts:?} uploads={uploads:?}",
        String::from_utf8_lossy(&seed),
        String::from_utf8_lossy(&victim)
    )
}

async fn seed(owner: &Client, bucket: &str) -> String {
    common::put(owner, bucket, "seed", SEED).await;
    common::put(owner, bucket, "victim", VICTIM).await;
    ok(
        owner
            .put_object_tagging()
            .bucket(bucket)
            .key("seed")
            .tagging(tagging(&[("owner", bucket)]))
            .send()
            .await,
        "seed tags",
    );
    let upload = ok(
        owner
            .create_multipart_upload()
            .bucket(bucket)
            .key("seeded-upload")
            .send()
            .await,
        "seeded upload",
    )
    .upload_id()
    .expect("upload id")
    .to_owned();
    ok(
        owner
            .upload_part()
            .bucket(bucket)
            .key("seeded-upload")
            .upload_id(&upload)
            .part_number(1)
            .body(ByteStream::from_static(b"seeded part"))
            .send()
            .await,
        "seeded part",
    );
    upload
}

async fn actor(gw: &Gateway, name: &'static str, key: (String, String), home: &str) -> Actor {
    let s3 = client_with(gw, &key.0, &key.1);
    let home_upload = ok(
        s3.create_multipart_upload()
            .bucket(home)
            .key("home-upload")
            .send()
            .await,
        "home upload",
    )
    .upload_id()
    .expect("upload id")
    .to_owned();
    Actor {
        name,
        s3,
        access_key: key.0,
        secret_key: key.1,
        home: home.to_owned(),
        home_upload,
    }
}

#[tokio::test]
async fn every_operation_on_another_tenants_bucket_is_denied_and_changes_nothing() {
    let gw = Gateway::start();
    let admin_s3 = client(&gw);
    let alice = vm_add(&gw, "alice", &["--bucket", "alice-data"]);
    let bob = vm_add(&gw, "bob", &[]);
    assert_eq!(alice.bucket.as_deref(), Some("alice-data"));
    assert_eq!(
        bob.bucket.as_deref(),
        Some("bob"),
        "the default bucket is the tenant's name"
    );
    assert_eq!(
        alice.endpoint, gw.endpoint,
        "the default endpoint is the listen address"
    );
    assert_ne!(alice.access_key, bob.access_key);
    common::create_bucket(&admin_s3, "admin-data").await;

    let actors = [
        actor(
            &gw,
            "alice",
            (alice.access_key.clone(), alice.secret_key.clone()),
            "alice-data",
        )
        .await,
        actor(
            &gw,
            "bob",
            (bob.access_key.clone(), bob.secret_key.clone()),
            "bob",
        )
        .await,
        actor(
            &gw,
            "admin",
            (
                vmgw_tests::ACCESS_KEY.to_owned(),
                vmgw_tests::SECRET_KEY.to_owned(),
            ),
            "admin-data",
        )
        .await,
    ];
    let mut targets = Vec::new();
    for (bucket, owner) in [("alice-data", 0), ("bob", 1), ("admin-data", 2)] {
        let upload = seed(&actors[owner].s3, bucket).await;
        targets.push(Target {
            bucket: bucket.to_owned(),
            owner: actors[owner].name,
            upload,
        });
    }

    // ListBuckets: a tenant sees only its own, the admin every bucket.
    for (a, expected) in actors.iter().zip([
        vec!["alice-data"],
        vec!["bob"],
        vec!["admin-data", "alice-data", "bob"],
    ]) {
        let listed = ok(a.s3.list_buckets().send().await, "list buckets");
        let names: Vec<&str> = listed.buckets().iter().filter_map(|b| b.name()).collect();
        assert_eq!(names, expected, "ListBuckets of {}", a.name);
    }
    // Bucket names are unique on the host: another's name is taken.
    for a in &actors[..2] {
        let other = if a.name == "alice" {
            "bob"
        } else {
            "alice-data"
        };
        let err =
            a.s3.create_bucket()
                .bucket(other)
                .send()
                .await
                .expect_err("taken");
        assert_eq!(
            err.code(),
            Some("BucketAlreadyExists"),
            "{}",
            common::brief(&err)
        );
    }
    let err = actors[0]
        .s3
        .create_bucket()
        .bucket("alice-data")
        .send()
        .await
        .expect_err("own");
    assert_eq!(err.code(), Some("BucketAlreadyOwnedByYou"));

    let mut checked = 0;
    for t in &targets {
        let owner = actors.iter().find(|a| a.name == t.owner).expect("owner");
        let before = snapshot(&owner.s3, &t.bucket, &t.upload).await;
        let (denied, allowed): (Vec<&Actor>, Vec<&Actor>) = actors
            .iter()
            .partition(|a| a.name != t.owner && a.name != "admin");
        for a in &denied {
            for op in OPERATIONS {
                let got = attempt(&gw, op, a, t, false).await;
                assert_eq!(
                    got,
                    Outcome::Denied,
                    "{} {op} on {}'s bucket {}",
                    a.name,
                    t.owner,
                    t.bucket
                );
                checked += 1;
            }
        }
        let after = snapshot(&owner.s3, &t.bucket, &t.upload).await;
        assert_eq!(before, after, "denied operations changed {}", t.bucket);
        assert!(before.contains(&format!("seed={}", String::from_utf8_lossy(SEED))));
        for a in &allowed {
            for op in OPERATIONS {
                let got = attempt(&gw, op, a, t, true).await;
                assert_eq!(
                    got,
                    Outcome::Allowed,
                    "{} {op} on {}'s bucket {}",
                    a.name,
                    t.owner,
                    t.bucket
                );
                checked += 1;
            }
        }
    }
    // 3 buckets × 28 operations × (1 denied + 2 allowed actors).
    assert_eq!(checked, 3 * OPERATIONS.len() * 3);

    // Nothing another tenant tried ended up in its own bucket either.
    let home = ok(
        actors[1].s3.list_objects_v2().bucket("bob").send().await,
        "bob's objects",
    );
    assert!(
        home.contents()
            .iter()
            .all(|o| !o.key().unwrap_or_default().starts_with("copied-from-alice")),
        "bob copied alice's object"
    );
    // A nonexistent bucket is NoSuchBucket for everyone, as on S3.
    let err = actors[0]
        .s3
        .head_bucket()
        .bucket("nobody-has-this")
        .send()
        .await
        .expect_err("none");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(404));
    // Unsigned requests are refused.
    let anon = Request::new("GET", "/alice-data/seed").send(&gw.addr).await;
    anon.assert_s3_error(403, "AccessDenied", "anonymous GET");
}

#[tokio::test]
async fn keys_rotate_tenants_persist_and_secrets_are_sealed() {
    let mut gw = Gateway::start();
    let web = vm_add(&gw, "web01", &[]);
    let s3 = client_with(&gw, &web.access_key, &web.secret_key);
    common::put(&s3, "web01", "index.html", b"<h1>hello</h1>").await;

    // The secret is in no file of the data directory in the clear.
    gw.stop();
    let mut files = vec![gw.data_dir.clone()];
    let mut scanned = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if let Ok(bytes) = std::fs::read(&path) {
            scanned += 1;
            assert!(
                !bytes
                    .windows(web.secret_key.len())
                    .any(|w| w == web.secret_key.as_bytes()),
                "{} holds the tenant's secret in the clear",
                path.display()
            );
        }
    }
    assert!(
        scanned >= 2,
        "the data directory holds the metadata store and the key file"
    );

    // After a restart the key still works (the tenant came back from the metadata store).
    gw.restart(true);
    let s3 = client_with(&gw, &web.access_key, &web.secret_key);
    assert_eq!(
        common::get(&s3, "web01", "index.html").await,
        b"<h1>hello</h1>"
    );
    let listed = run(&mut admin_cmd(&gw, &["vm", "ls"]));
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("web01") && l.contains(&web.access_key) && l.contains("web01")),
        "vm ls: {listed}"
    );

    // Rotation: the new key works at once, the old one stops.
    let out = run(&mut admin_cmd(
        &gw,
        &["key", "rotate", "web01", "--format", "json"],
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let (new_ak, new_sk) = (
        v["access_key"].as_str().unwrap(),
        v["secret_key"].as_str().unwrap(),
    );
    assert_ne!(new_ak, web.access_key);
    assert_eq!(v["bucket"].as_str(), Some("web01"));
    let fresh = client_with(&gw, new_ak, new_sk);
    assert_eq!(
        common::get(&fresh, "web01", "index.html").await,
        b"<h1>hello</h1>"
    );
    let err = s3
        .list_objects_v2()
        .bucket("web01")
        .send()
        .await
        .expect_err("old key");
    assert_eq!(
        err.code(),
        Some("InvalidAccessKeyId"),
        "{}",
        common::brief(&err)
    );

    // Duplicate names and taken buckets are refused, and leave nothing behind.
    let dup = admin_cmd(&gw, &["vm", "add", "web01"]).output().unwrap();
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
    let taken = admin_cmd(&gw, &["vm", "add", "web02", "--bucket", "web01"])
        .output()
        .unwrap();
    assert!(!taken.status.success());
    assert!(String::from_utf8_lossy(&taken.stderr).contains("web01"));
    let bad = admin_cmd(&gw, &["vm", "add", "Web_02"]).output().unwrap();
    assert!(
        !bad.status.success(),
        "an invalid default bucket name is refused"
    );
    let listed = run(&mut admin_cmd(&gw, &["vm", "ls", "--json"]));
    let names: Vec<String> = serde_json::from_str::<Vec<serde_json::Value>>(&listed)
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["web01"], "failed adds left no tenant");

    // Removal refuses while the bucket holds data; --purge removes objects, bucket, keys.
    let refused = admin_cmd(&gw, &["vm", "rm", "web01"]).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--purge"));
    assert_eq!(
        common::get(&fresh, "web01", "index.html").await,
        b"<h1>hello</h1>"
    );
    let out = run(&mut admin_cmd(&gw, &["vm", "rm", "web01", "--purge"]));
    assert!(
        out.contains("1 bucket(s)") && out.contains("1 object(s)"),
        "{out}"
    );
    let err = fresh.list_buckets().send().await.expect_err("removed key");
    assert_eq!(err.code(), Some("InvalidAccessKeyId"));
    let all = ok(client(&gw).list_buckets().send().await, "admin list");
    assert!(all.buckets().is_empty(), "the bucket went with the tenant");

    // A tenant without data goes without --purge; the name can be used again.
    vm_add(&gw, "web01", &["--no-bucket"]);
    run(&mut admin_cmd(&gw, &["vm", "rm", "web01"]));
}
