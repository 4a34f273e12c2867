//! S3 versioning through aws-sdk-s3: Put/GetBucketVersioning, a version id on every write,
//! delete markers, `null` versions of unversioned and suspended buckets, GET/HEAD/DELETE/
//! CopyObject/UploadPartCopy/tagging by version id, DeleteObjects with version ids, and the
//! exact S3 errors and headers of each. Listings of versions: `sdk_versioning_list`.

mod common;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, Delete, MfaDelete,
    ObjectIdentifier, Tag, Tagging, VersioningConfiguration,
};
use common::raw::Request;
use common::{body, client, error_header, expect_error, expect_status, md5_b64, ok, quoted_md5};
use vmgw_tests::{Gateway, pattern};

const B: &str = "ver";

async fn set_versioning(s3: &Client, bucket: &str, status: BucketVersioningStatus) {
    ok(
        s3.put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(VersioningConfiguration::builder().status(status).build())
            .send()
            .await,
        "PutBucketVersioning",
    );
}

/// A gateway with bucket `B`, versioning enabled.
async fn versioned() -> (Gateway, Client) {
    let gw = Gateway::start();
    let s3 = client(&gw);
    ok(s3.create_bucket().bucket(B).send().await, "create bucket");
    set_versioning(&s3, B, BucketVersioningStatus::Enabled).await;
    (gw, s3)
}

/// PUT; returns the version id.
async fn put(s3: &Client, key: &str, data: &[u8]) -> Option<String> {
    let out = ok(
        s3.put_object()
            .bucket(B)
            .key(key)
            .body(ByteStream::from(data.to_vec()))
            .send()
            .await,
        &format!("put {key}"),
    );
    out.version_id().map(str::to_owned)
}

/// GET of a version (or the current one); returns the bytes and the version id header.
async fn get(s3: &Client, key: &str, version: Option<&str>) -> (Vec<u8>, Option<String>) {
    let out = ok(
        s3.get_object()
            .bucket(B)
            .key(key)
            .set_version_id(version.map(str::to_owned))
            .send()
            .await,
        &format!("get {key} {version:?}"),
    );
    let id = out.version_id().map(str::to_owned);
    (body(out.body).await, id)
}

fn is_version_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test]
async fn versioning_states_as_s3_has_them() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    ok(s3.create_bucket().bucket(B).send().await, "create bucket");
    let never = ok(
        s3.get_bucket_versioning().bucket(B).send().await,
        "get versioning",
    );
    assert_eq!(
        never.status(),
        None,
        "a bucket never versioned has no status"
    );
    assert_eq!(never.mfa_delete(), None);
    for status in [
        BucketVersioningStatus::Enabled,
        BucketVersioningStatus::Suspended,
        BucketVersioningStatus::Enabled,
    ] {
        set_versioning(&s3, B, status.clone()).await;
        let got = ok(
            s3.get_bucket_versioning().bucket(B).send().await,
            "get versioning",
        );
        assert_eq!(got.status(), Some(&status));
    }
    // A configuration without a status, or with one S3 does not know, does not validate.
    expect_error(
        s3.put_bucket_versioning()
            .bucket(B)
            .versioning_configuration(VersioningConfiguration::builder().build())
            .send()
            .await,
        400,
        "MalformedXML",
        "no status",
    );
    expect_error(
        s3.put_bucket_versioning()
            .bucket(B)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::from("Disabled"))
                    .build(),
            )
            .send()
            .await,
        400,
        "MalformedXML",
        "status Disabled",
    );
    // MFA delete: a state that does not exist makes the configuration illegal; vmgw has no
    // MFA devices, so enabling it is not implemented; `Disabled` is what every bucket has.
    expect_error(
        s3.put_bucket_versioning()
            .bucket(B)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Suspended)
                    .mfa_delete(MfaDelete::from("Sometimes"))
                    .build(),
            )
            .send()
            .await,
        400,
        "IllegalVersioningConfigurationException",
        "MfaDelete Sometimes",
    );
    expect_error(
        s3.put_bucket_versioning()
            .bucket(B)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Suspended)
                    .mfa_delete(MfaDelete::Enabled)
                    .build(),
            )
            .send()
            .await,
        501,
        "NotImplemented",
        "MfaDelete Enabled",
    );
    // None of the refused configurations changed anything.
    let got = ok(
        s3.get_bucket_versioning().bucket(B).send().await,
        "get versioning",
    );
    assert_eq!(got.status(), Some(&BucketVersioningStatus::Enabled));
    ok(
        s3.put_bucket_versioning()
            .bucket(B)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Suspended)
                    .mfa_delete(MfaDelete::Disabled)
                    .build(),
            )
            .send()
            .await,
        "MfaDelete Disabled",
    );
    let got = ok(
        s3.get_bucket_versioning().bucket(B).send().await,
        "get versioning",
    );
    assert_eq!(got.status(), Some(&BucketVersioningStatus::Suspended));
    // XML that is not well-formed, and an empty body: S3's XML error documents.
    for body in [
        &b"<VersioningConfiguration><Status>Enabled</Status>"[..],
        &b"Status=Enabled"[..],
    ] {
        Request::new("PUT", &format!("/{B}?versioning"))
            .header("content-md5", &md5_b64(body))
            .body(body)
            .signed_ok(&gw.addr)
            .send(&gw.addr)
            .await
            .assert_s3_error(400, "MalformedXML", "PutBucketVersioning, broken XML");
    }
    expect_error(
        s3.get_bucket_versioning().bucket("nope").send().await,
        404,
        "NoSuchBucket",
        "unknown bucket",
    );
    expect_error(
        s3.put_bucket_versioning()
            .bucket("nope")
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await,
        404,
        "NoSuchBucket",
        "PutBucketVersioning on an unknown bucket",
    );
}

#[tokio::test]
async fn every_write_gets_a_version_and_every_version_reads_back() {
    let (_gw, s3) = versioned().await;
    let bodies = [pattern(10, 1), pattern(200_000, 2), pattern(5, 3)];
    let mut ids = Vec::new();
    for data in &bodies {
        ids.push(put(&s3, "k", data).await.expect("a version id"));
    }
    assert!(ids.iter().all(|id| is_version_id(id)), "{ids:?}");
    assert!(ids[0] != ids[1] && ids[1] != ids[2]);
    let (latest, latest_id) = get(&s3, "k", None).await;
    assert_eq!(
        (latest, latest_id.as_deref()),
        (bodies[2].clone(), Some(ids[2].as_str()))
    );
    for (data, id) in bodies.iter().zip(&ids) {
        let (got, got_id) = get(&s3, "k", Some(id)).await;
        assert_eq!(got, *data);
        assert_eq!(got_id.as_deref(), Some(id.as_str()));
        let head = ok(
            s3.head_object()
                .bucket(B)
                .key("k")
                .version_id(id)
                .send()
                .await,
            "head version",
        );
        assert_eq!(head.version_id(), Some(id.as_str()));
        assert_eq!(head.e_tag(), Some(quoted_md5(data).as_str()));
        assert_eq!(head.content_length(), Some(data.len() as i64));
    }
    // Ranges and conditions apply to the version asked for.
    let ranged = ok(
        s3.get_object()
            .bucket(B)
            .key("k")
            .version_id(&ids[1])
            .range("bytes=100-199")
            .send()
            .await,
        "ranged get of a version",
    );
    assert_eq!(body(ranged.body).await, bodies[1][100..200]);
    expect_status(
        s3.get_object()
            .bucket(B)
            .key("k")
            .version_id(&ids[0])
            .if_match(quoted_md5(&bodies[2]))
            .send()
            .await,
        412,
        "If-Match against the version's own ETag",
    );
    // One key in the listing of objects, with the current version's size.
    let list = ok(s3.list_objects_v2().bucket(B).send().await, "list");
    let listed: Vec<(&str, Option<i64>)> = list
        .contents()
        .iter()
        .map(|o| (o.key().unwrap(), o.size()))
        .collect();
    assert_eq!(listed, [("k", Some(5))]);
    // Ids that name nothing, and text that is no id.
    let unknown = format!("{:032x}", 12345);
    expect_error(
        s3.get_object()
            .bucket(B)
            .key("k")
            .version_id(&unknown)
            .send()
            .await,
        404,
        "NoSuchVersion",
        "unknown version",
    );
    expect_status(
        s3.head_object()
            .bucket(B)
            .key("k")
            .version_id(&unknown)
            .send()
            .await,
        404,
        "HEAD of an unknown version",
    );
    let bad = expect_error(
        s3.get_object()
            .bucket(B)
            .key("k")
            .version_id("not-a-version")
            .send()
            .await,
        400,
        "InvalidArgument",
        "ill-formed version id",
    );
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::message(&bad),
        Some("Invalid version id specified")
    );
    expect_error(
        s3.get_object()
            .bucket(B)
            .key("k")
            .version_id("null")
            .send()
            .await,
        404,
        "NoSuchVersion",
        "a key written only while versioned has no null version",
    );
}

#[tokio::test]
async fn delete_markers_hide_keys_and_deleting_them_brings_the_key_back() {
    let (_gw, s3) = versioned().await;
    let v1 = put(&s3, "k", b"one").await.unwrap();
    let v2 = put(&s3, "k", b"two").await.unwrap();
    let deleted = ok(s3.delete_object().bucket(B).key("k").send().await, "delete");
    assert_eq!(deleted.delete_marker(), Some(true));
    let marker = deleted.version_id().unwrap().to_owned();
    assert!(is_version_id(&marker) && marker != v2);

    // The key is gone for GET, HEAD and listings; the marker is named.
    let err = expect_error(
        s3.get_object().bucket(B).key("k").send().await,
        404,
        "NoSuchKey",
        "GET under a delete marker",
    );
    assert_eq!(
        error_header(&err, "x-amz-delete-marker").as_deref(),
        Some("true")
    );
    assert_eq!(error_header(&err, "x-amz-version-id"), Some(marker.clone()));
    let err = expect_status(
        s3.head_object().bucket(B).key("k").send().await,
        404,
        "HEAD under a delete marker",
    );
    assert_eq!(
        error_header(&err, "x-amz-delete-marker").as_deref(),
        Some("true")
    );
    assert_eq!(error_header(&err, "x-amz-version-id"), Some(marker.clone()));
    let list = ok(s3.list_objects_v2().bucket(B).send().await, "list");
    assert!(list.contents().is_empty(), "{list:?}");
    let list = ok(s3.list_objects().bucket(B).send().await, "list v1");
    assert!(list.contents().is_empty(), "{list:?}");
    // The marker itself has no bytes: 405, with the marker's headers.
    let err = expect_error(
        s3.get_object()
            .bucket(B)
            .key("k")
            .version_id(&marker)
            .send()
            .await,
        405,
        "MethodNotAllowed",
        "GET of the marker",
    );
    assert_eq!(
        error_header(&err, "x-amz-delete-marker").as_deref(),
        Some("true")
    );
    assert_eq!(error_header(&err, "x-amz-version-id"), Some(marker.clone()));
    assert!(error_header(&err, "last-modified").is_some());
    expect_status(
        s3.head_object()
            .bucket(B)
            .key("k")
            .version_id(&marker)
            .send()
            .await,
        405,
        "HEAD of the marker",
    );
    // Older versions still read.
    assert_eq!(get(&s3, "k", Some(&v1)).await.0, b"one");
    // A second delete adds a second marker.
    let again = ok(
        s3.delete_object().bucket(B).key("k").send().await,
        "delete again",
    );
    let marker2 = again.version_id().unwrap().to_owned();
    assert_ne!(marker2, marker);

    // Deleting the newest marker by id leaves the older marker on top; deleting that one
    // too brings the key back ("undelete").
    for (id, still_hidden) in [(&marker2, true), (&marker, false)] {
        let out = ok(
            s3.delete_object()
                .bucket(B)
                .key("k")
                .version_id(id)
                .send()
                .await,
            "delete marker by id",
        );
        assert_eq!(out.delete_marker(), Some(true));
        assert_eq!(out.version_id(), Some(id.as_str()));
        let got = s3.get_object().bucket(B).key("k").send().await;
        assert_eq!(got.is_err(), still_hidden);
    }
    assert_eq!(
        get(&s3, "k", None).await,
        (b"two".to_vec(), Some(v2.clone()))
    );
    // A delete on a key that never existed writes a marker too, as in S3.
    let ghost = ok(
        s3.delete_object().bucket(B).key("ghost").send().await,
        "delete ghost",
    );
    assert_eq!(ghost.delete_marker(), Some(true));
    assert!(ghost.version_id().is_some_and(is_version_id));
}

#[tokio::test]
async fn deleting_a_version_for_good_makes_the_previous_one_current() {
    let (_gw, s3) = versioned().await;
    let v1 = put(&s3, "k", b"one").await.unwrap();
    let v2 = put(&s3, "k", b"two").await.unwrap();
    let v3 = put(&s3, "k", b"three").await.unwrap();
    // A noncurrent version: nothing else changes.
    let out = ok(
        s3.delete_object()
            .bucket(B)
            .key("k")
            .version_id(&v2)
            .send()
            .await,
        "delete v2",
    );
    assert_eq!(
        (out.version_id(), out.delete_marker()),
        (Some(v2.as_str()), None)
    );
    assert_eq!(get(&s3, "k", None).await.0, b"three");
    expect_error(
        s3.get_object()
            .bucket(B)
            .key("k")
            .version_id(&v2)
            .send()
            .await,
        404,
        "NoSuchVersion",
        "deleted version",
    );
    // The current one: the previous becomes current.
    ok(
        s3.delete_object()
            .bucket(B)
            .key("k")
            .version_id(&v3)
            .send()
            .await,
        "delete v3",
    );
    assert_eq!(
        get(&s3, "k", None).await,
        (b"one".to_vec(), Some(v1.clone()))
    );
    // A well-formed id of no version deletes nothing and succeeds; an ill-formed one fails.
    let unknown = format!("{:032x}", 999);
    let out = ok(
        s3.delete_object()
            .bucket(B)
            .key("k")
            .version_id(&unknown)
            .send()
            .await,
        "delete unknown version",
    );
    assert_eq!(out.version_id(), Some(unknown.as_str()));
    expect_error(
        s3.delete_object()
            .bucket(B)
            .key("k")
            .version_id("v1")
            .send()
            .await,
        400,
        "InvalidArgument",
        "ill-formed id",
    );
    // The last version: the key is gone, with no marker left behind.
    ok(
        s3.delete_object()
            .bucket(B)
            .key("k")
            .version_id(&v1)
            .send()
            .await,
        "delete v1",
    );
    let err = expect_error(
        s3.get_object().bucket(B).key("k").send().await,
        404,
        "NoSuchKey",
        "no versions left",
    );
    assert_eq!(error_header(&err, "x-amz-delete-marker"), None);
    let versions = ok(s3.list_object_versions().bucket(B).send().await, "versions");
    assert!(versions.versions().is_empty() && versions.delete_markers().is_empty());
}

#[tokio::test]
async fn null_versions_of_unversioned_and_suspended_writes() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    ok(s3.create_bucket().bucket(B).send().await, "create bucket");
    // Never versioned: no version id anywhere, but `null` names the object.
    assert_eq!(put(&s3, "k", b"original").await, None);
    assert_eq!(get(&s3, "k", None).await, (b"original".to_vec(), None));
    assert_eq!(get(&s3, "k", Some("null")).await.0, b"original");
    let plain = ok(
        s3.delete_object().bucket(B).key("gone").send().await,
        "delete",
    );
    assert_eq!((plain.delete_marker(), plain.version_id()), (None, None));

    set_versioning(&s3, B, BucketVersioningStatus::Enabled).await;
    // The object written before keeps its `null` id.
    assert_eq!(get(&s3, "k", None).await.1.as_deref(), Some("null"));
    let v1 = put(&s3, "k", b"versioned").await.unwrap();
    assert!(is_version_id(&v1));
    assert_eq!(get(&s3, "k", Some("null")).await.0, b"original");

    // Suspended: a write replaces the `null` version (wherever it is) and keeps the others.
    set_versioning(&s3, B, BucketVersioningStatus::Suspended).await;
    assert_eq!(
        put(&s3, "k", b"suspended write").await.as_deref(),
        Some("null")
    );
    assert_eq!(
        get(&s3, "k", None).await,
        (b"suspended write".to_vec(), Some("null".to_owned()))
    );
    assert_eq!(get(&s3, "k", Some("null")).await.0, b"suspended write");
    assert_eq!(get(&s3, "k", Some(&v1)).await.0, b"versioned");
    let ids = |out: &aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput| {
        let mut all: Vec<(String, bool, bool)> = out
            .versions()
            .iter()
            .map(|v| {
                (
                    v.version_id().unwrap().to_owned(),
                    v.is_latest().unwrap(),
                    false,
                )
            })
            .chain(out.delete_markers().iter().map(|m| {
                (
                    m.version_id().unwrap().to_owned(),
                    m.is_latest().unwrap(),
                    true,
                )
            }))
            .collect();
        all.sort_by_key(|(_, latest, _)| !latest);
        all
    };
    let listed = ok(s3.list_object_versions().bucket(B).send().await, "versions");
    assert_eq!(
        ids(&listed),
        [("null".to_owned(), true, false), (v1.clone(), false, false)]
    );
    // A delete adds a `null` delete marker, which replaces the `null` version.
    let out = ok(
        s3.delete_object().bucket(B).key("k").send().await,
        "suspended delete",
    );
    assert_eq!(
        (out.delete_marker(), out.version_id()),
        (Some(true), Some("null"))
    );
    let err = expect_error(
        s3.get_object().bucket(B).key("k").send().await,
        404,
        "NoSuchKey",
        "under a null marker",
    );
    assert_eq!(
        error_header(&err, "x-amz-version-id").as_deref(),
        Some("null")
    );
    let listed = ok(s3.list_object_versions().bucket(B).send().await, "versions");
    assert_eq!(
        ids(&listed),
        [("null".to_owned(), true, true), (v1.clone(), false, false)]
    );
    // Removing the `null` marker by its id brings back the versioned write.
    let out = ok(
        s3.delete_object()
            .bucket(B)
            .key("k")
            .version_id("null")
            .send()
            .await,
        "delete null marker",
    );
    assert_eq!(
        (out.delete_marker(), out.version_id()),
        (Some(true), Some("null"))
    );
    assert_eq!(
        get(&s3, "k", None).await,
        (b"versioned".to_vec(), Some(v1.clone()))
    );
    // Enabled again: new writes get ids, the versioned one stays.
    set_versioning(&s3, B, BucketVersioningStatus::Enabled).await;
    let v2 = put(&s3, "k", b"again").await.unwrap();
    assert!(is_version_id(&v2) && v2 != v1);
    assert_eq!(get(&s3, "k", Some(&v1)).await.0, b"versioned");
}

#[tokio::test]
async fn copies_of_versions_and_restoring_an_older_one() {
    let (_gw, s3) = versioned().await;
    let old = pattern(300_000, 5);
    let v1 = put(&s3, "k", &old).await.unwrap();
    let v2 = put(&s3, "k", b"newer").await.unwrap();
    // A copy of the older version to another key.
    let copy = ok(
        s3.copy_object()
            .bucket(B)
            .key("copy")
            .copy_source(format!("{B}/k?versionId={v1}"))
            .send()
            .await,
        "copy a version",
    );
    assert_eq!(copy.copy_source_version_id(), Some(v1.as_str()));
    let copy_id = copy.version_id().unwrap().to_owned();
    assert!(is_version_id(&copy_id));
    assert_eq!(
        copy.copy_object_result().unwrap().e_tag(),
        Some(quoted_md5(&old).as_str())
    );
    assert_eq!(get(&s3, "copy", None).await, (old.clone(), Some(copy_id)));
    // Restoring: the older version copied onto its own key becomes the newest version.
    let restored = ok(
        s3.copy_object()
            .bucket(B)
            .key("k")
            .copy_source(format!("{B}/k?versionId={v1}"))
            .send()
            .await,
        "restore by copy",
    );
    let v3 = restored.version_id().unwrap().to_owned();
    assert!(v3 != v1 && v3 != v2);
    assert_eq!(restored.copy_source_version_id(), Some(v1.as_str()));
    assert_eq!(get(&s3, "k", None).await, (old.clone(), Some(v3.clone())));
    assert_eq!(get(&s3, "k", Some(&v2)).await.0, b"newer");
    assert_eq!(get(&s3, "k", Some(&v1)).await.0, old);
    // A plain copy onto itself still needs a change.
    expect_error(
        s3.copy_object()
            .bucket(B)
            .key("k")
            .copy_source(format!("{B}/k"))
            .send()
            .await,
        400,
        "InvalidRequest",
        "self copy without change",
    );
    // A self copy replacing metadata is a new version; the old one keeps its bytes.
    let meta = ok(
        s3.copy_object()
            .bucket(B)
            .key("k")
            .copy_source(format!("{B}/k"))
            .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
            .metadata("m", "1")
            .send()
            .await,
        "self copy with new metadata",
    );
    let v4 = meta.version_id().unwrap().to_owned();
    ok(
        s3.delete_object()
            .bucket(B)
            .key("k")
            .version_id(&v4)
            .send()
            .await,
        "delete the self copy",
    );
    assert_eq!(get(&s3, "k", Some(&v3)).await.0, old);
    // Under a delete marker the source is absent; a marker named as source is refused.
    let marker = ok(s3.delete_object().bucket(B).key("k").send().await, "delete")
        .version_id()
        .unwrap()
        .to_owned();
    expect_error(
        s3.copy_object()
            .bucket(B)
            .key("x")
            .copy_source(format!("{B}/k"))
            .send()
            .await,
        404,
        "NoSuchKey",
        "copy of a deleted key",
    );
    expect_error(
        s3.copy_object()
            .bucket(B)
            .key("x")
            .copy_source(format!("{B}/k?versionId={marker}"))
            .send()
            .await,
        400,
        "InvalidRequest",
        "copy of a delete marker",
    );
    expect_error(
        s3.copy_object()
            .bucket(B)
            .key("x")
            .copy_source(format!("{B}/k?versionId=bogus"))
            .send()
            .await,
        400,
        "InvalidArgument",
        "copy of an ill-formed version",
    );
    // Restoring works from under a marker too.
    ok(
        s3.copy_object()
            .bucket(B)
            .key("k")
            .copy_source(format!("{B}/k?versionId={v2}"))
            .send()
            .await,
        "restore from under a marker",
    );
    assert_eq!(get(&s3, "k", None).await.0, b"newer");
}

#[tokio::test]
async fn multipart_uploads_write_versions_and_copy_parts_from_versions() {
    let (_gw, s3) = versioned().await;
    let part1 = pattern(5 << 20, 7);
    let v1 = put(&s3, "src", &part1).await.unwrap();
    put(&s3, "src", b"overwritten").await.unwrap();
    let before = put(&s3, "mp", b"before the upload").await.unwrap();
    let upload = ok(
        s3.create_multipart_upload()
            .bucket(B)
            .key("mp")
            .send()
            .await,
        "create upload",
    );
    let upload_id = upload.upload_id().unwrap();
    let copied = ok(
        s3.upload_part_copy()
            .bucket(B)
            .key("mp")
            .upload_id(upload_id)
            .part_number(1)
            .copy_source(format!("{B}/src?versionId={v1}"))
            .send()
            .await,
        "upload part copy of a version",
    );
    assert_eq!(copied.copy_source_version_id(), Some(v1.as_str()));
    let part2 = pattern(1000, 8);
    let uploaded = ok(
        s3.upload_part()
            .bucket(B)
            .key("mp")
            .upload_id(upload_id)
            .part_number(2)
            .body(ByteStream::from(part2.clone()))
            .send()
            .await,
        "upload part",
    );
    let done = ok(
        s3.complete_multipart_upload()
            .bucket(B)
            .key("mp")
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .parts(
                        CompletedPart::builder()
                            .part_number(1)
                            .e_tag(copied.copy_part_result().unwrap().e_tag().unwrap())
                            .build(),
                    )
                    .parts(
                        CompletedPart::builder()
                            .part_number(2)
                            .e_tag(uploaded.e_tag().unwrap())
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await,
        "complete",
    );
    let completed = done.version_id().unwrap().to_owned();
    assert!(is_version_id(&completed) && completed != before);
    let (data, id) = get(&s3, "mp", None).await;
    assert_eq!(id.as_deref(), Some(completed.as_str()));
    assert_eq!(data, [part1, part2].concat());
    assert_eq!(get(&s3, "mp", Some(&before)).await.0, b"before the upload");
}

fn tagging(pairs: &[(&str, &str)]) -> Tagging {
    Tagging::builder()
        .set_tag_set(Some(
            pairs
                .iter()
                .map(|(k, v)| Tag::builder().key(*k).value(*v).build().unwrap())
                .collect(),
        ))
        .build()
        .unwrap()
}

#[tokio::test]
async fn tags_belong_to_versions() {
    let (_gw, s3) = versioned().await;
    let v1 = put(&s3, "k", b"one").await.unwrap();
    let v2 = put(&s3, "k", b"two").await.unwrap();
    let put_tags = ok(
        s3.put_object_tagging()
            .bucket(B)
            .key("k")
            .version_id(&v1)
            .tagging(tagging(&[("gen", "one")]))
            .send()
            .await,
        "tag v1",
    );
    assert_eq!(put_tags.version_id(), Some(v1.as_str()));
    let current = ok(
        s3.put_object_tagging()
            .bucket(B)
            .key("k")
            .tagging(tagging(&[("gen", "two")]))
            .send()
            .await,
        "tag current",
    );
    assert_eq!(current.version_id(), Some(v2.as_str()));
    for (id, value) in [(&v1, "one"), (&v2, "two")] {
        let got = ok(
            s3.get_object_tagging()
                .bucket(B)
                .key("k")
                .version_id(id)
                .send()
                .await,
            "get tags",
        );
        assert_eq!(got.version_id(), Some(id.as_str()));
        let tags: Vec<(&str, &str)> = got.tag_set().iter().map(|t| (t.key(), t.value())).collect();
        assert_eq!(tags, [("gen", value)]);
    }
    let head = ok(
        s3.head_object()
            .bucket(B)
            .key("k")
            .version_id(&v1)
            .send()
            .await,
        "head v1",
    );
    assert_eq!(head.tag_count(), Some(1));
    let deleted = ok(
        s3.delete_object_tagging()
            .bucket(B)
            .key("k")
            .version_id(&v1)
            .send()
            .await,
        "delete tags of v1",
    );
    assert_eq!(deleted.version_id(), Some(v1.as_str()));
    let got = ok(
        s3.get_object_tagging()
            .bucket(B)
            .key("k")
            .version_id(&v1)
            .send()
            .await,
        "tags of v1",
    );
    assert!(got.tag_set().is_empty());
    // A delete marker has no tags.
    let marker = ok(s3.delete_object().bucket(B).key("k").send().await, "delete")
        .version_id()
        .unwrap()
        .to_owned();
    expect_error(
        s3.get_object_tagging()
            .bucket(B)
            .key("k")
            .version_id(&marker)
            .send()
            .await,
        405,
        "MethodNotAllowed",
        "tags of a marker",
    );
    expect_error(
        s3.get_object_tagging().bucket(B).key("k").send().await,
        404,
        "NoSuchKey",
        "tags of a deleted key",
    );
}

#[tokio::test]
async fn delete_objects_with_version_ids() {
    let (_gw, s3) = versioned().await;
    let a1 = put(&s3, "a", b"a1").await.unwrap();
    put(&s3, "a", b"a2").await.unwrap();
    put(&s3, "b", b"b1").await.unwrap();
    let c_marker = ok(
        s3.delete_object().bucket(B).key("c").send().await,
        "marker c",
    )
    .version_id()
    .unwrap()
    .to_owned();
    // e: a version under a delete marker, which the batch removes.
    let e1 = put(&s3, "e", b"e1").await.unwrap();
    let e_marker = ok(
        s3.delete_object().bucket(B).key("e").send().await,
        "marker e",
    )
    .version_id()
    .unwrap()
    .to_owned();
    let id = |key: &str, version: Option<&str>| {
        ObjectIdentifier::builder()
            .key(key)
            .set_version_id(version.map(str::to_owned))
            .build()
            .unwrap()
    };
    let out = ok(
        s3.delete_objects()
            .bucket(B)
            .delete(
                Delete::builder()
                    .objects(id("a", Some(&a1)))
                    .objects(id("b", None))
                    .objects(id("c", Some(&c_marker)))
                    .objects(id("d", Some("bogus")))
                    .objects(id("e", Some(&e_marker)))
                    .build()
                    .unwrap(),
            )
            .send()
            .await,
        "delete objects",
    );
    // (key, version id, delete marker, delete marker's version id)
    type Deleted = (String, Option<String>, Option<bool>, Option<String>);
    let mut deleted: Vec<Deleted> = out
        .deleted()
        .iter()
        .map(|d| {
            (
                d.key().unwrap().to_owned(),
                d.version_id().map(str::to_owned),
                d.delete_marker(),
                d.delete_marker_version_id().map(str::to_owned),
            )
        })
        .collect();
    deleted.sort();
    assert_eq!(deleted.len(), 4, "{deleted:?}");
    assert_eq!(deleted[0], ("a".into(), Some(a1.clone()), None, None));
    // A delete without an id wrote a marker, named by DeleteMarkerVersionId.
    assert_eq!((deleted[1].0.as_str(), deleted[1].1.as_ref()), ("b", None));
    assert_eq!(deleted[1].2, Some(true));
    assert!(deleted[1].3.as_deref().is_some_and(is_version_id));
    // A marker removed by its id.
    assert_eq!(
        deleted[2],
        (
            "c".into(),
            Some(c_marker.clone()),
            Some(true),
            Some(c_marker.clone())
        )
    );
    assert_eq!(
        deleted[3],
        (
            "e".into(),
            Some(e_marker.clone()),
            Some(true),
            Some(e_marker.clone())
        )
    );
    let errors: Vec<(&str, &str, Option<&str>)> = out
        .errors()
        .iter()
        .map(|e| (e.key().unwrap(), e.code().unwrap(), e.version_id()))
        .collect();
    assert_eq!(errors, [("d", "InvalidArgument", Some("bogus"))]);
    assert_eq!(get(&s3, "a", None).await.0, b"a2");
    expect_error(
        s3.get_object()
            .bucket(B)
            .key("a")
            .version_id(&a1)
            .send()
            .await,
        404,
        "NoSuchVersion",
        "a1 is gone",
    );
    expect_error(
        s3.get_object().bucket(B).key("b").send().await,
        404,
        "NoSuchKey",
        "b is under a marker",
    );
    // Removing e's marker brought its version back.
    assert_eq!(get(&s3, "e", None).await, (b"e1".to_vec(), Some(e1)));
    // c had nothing under its marker: gone from the listing of versions entirely.
    let versions = ok(s3.list_object_versions().bucket(B).send().await, "versions");
    let keys: Vec<(&str, bool)> = versions
        .versions()
        .iter()
        .map(|v| (v.key().unwrap(), false))
        .chain(
            versions
                .delete_markers()
                .iter()
                .map(|m| (m.key().unwrap(), true)),
        )
        .collect();
    assert_eq!(
        keys,
        [("a", false), ("b", false), ("e", false), ("b", true)]
    );
}

#[tokio::test]
async fn versions_keep_a_bucket_and_refuse_renames_and_appends() {
    let (_gw, s3) = versioned().await;
    let v1 = put(&s3, "k", b"data").await.unwrap();
    let marker = ok(s3.delete_object().bucket(B).key("k").send().await, "delete")
        .version_id()
        .unwrap()
        .to_owned();
    // Only a noncurrent version and a marker: not empty.
    expect_error(
        s3.delete_bucket().bucket(B).send().await,
        409,
        "BucketNotEmpty",
        "versions keep the bucket",
    );
    ok(
        s3.delete_object()
            .bucket(B)
            .key("k")
            .version_id(&v1)
            .send()
            .await,
        "delete v1",
    );
    expect_error(
        s3.delete_bucket().bucket(B).send().await,
        409,
        "BucketNotEmpty",
        "a marker keeps the bucket",
    );
    ok(
        s3.delete_object()
            .bucket(B)
            .key("k")
            .version_id(&marker)
            .send()
            .await,
        "delete the marker",
    );
    // vmgw's extensions that rewrite a version in place are not for versioned buckets.
    put(&s3, "log", b"line\n").await;
    expect_error(
        s3.put_object()
            .bucket(B)
            .key("log")
            .write_offset_bytes(5)
            .body(ByteStream::from_static(b"more\n"))
            .send()
            .await,
        400,
        "InvalidRequest",
        "append on a versioned bucket",
    );
    expect_error(
        s3.rename_object()
            .bucket(B)
            .key("renamed")
            .rename_source(format!("{B}/log"))
            .send()
            .await,
        400,
        "InvalidRequest",
        "rename on a versioned bucket",
    );
    assert_eq!(get(&s3, "log", None).await.0, b"line\n");
    let log_id = get(&s3, "log", None).await.1.unwrap();
    ok(
        s3.delete_object()
            .bucket(B)
            .key("log")
            .version_id(&log_id)
            .send()
            .await,
        "delete log",
    );
    ok(
        s3.delete_bucket().bucket(B).send().await,
        "delete the empty bucket",
    );
}

/// Every request that names a version answers an id of no version with `404 NoSuchVersion`
/// (DELETE: nothing to delete) and text that is no id with `400 InvalidArgument`, as S3
/// does, in S3's XML error documents; on a bucket never versioned too.
#[tokio::test]
async fn unknown_and_malformed_version_ids_wherever_a_version_is_named() {
    let (gw, s3) = versioned().await;
    let data = pattern(6 << 20, 11);
    let v1 = put(&s3, "k", &data).await.unwrap();
    let upload = ok(
        s3.create_multipart_upload()
            .bucket(B)
            .key("mp")
            .send()
            .await,
        "create upload",
    );
    let upload_id = upload.upload_id().unwrap();
    let unknown = format!("{:032x}", u128::MAX - 42);
    assert_ne!(unknown, v1);
    for (id, status, code) in [
        (unknown.as_str(), 404, "NoSuchVersion"),
        ("not-a-version", 400, "InvalidArgument"),
        ("0123", 400, "InvalidArgument"),
        (&v1.to_uppercase(), 400, "InvalidArgument"),
    ] {
        let what = |op: &str| format!("{op} of version {id:?}");
        expect_error(
            s3.get_object()
                .bucket(B)
                .key("k")
                .version_id(id)
                .send()
                .await,
            status,
            code,
            &what("GET"),
        );
        expect_status(
            s3.head_object()
                .bucket(B)
                .key("k")
                .version_id(id)
                .send()
                .await,
            status,
            &what("HEAD"),
        );
        expect_error(
            s3.copy_object()
                .bucket(B)
                .key("copy")
                .copy_source(format!("{B}/k?versionId={id}"))
                .send()
                .await,
            status,
            code,
            &what("CopyObject"),
        );
        expect_error(
            s3.upload_part_copy()
                .bucket(B)
                .key("mp")
                .upload_id(upload_id)
                .part_number(1)
                .copy_source(format!("{B}/k?versionId={id}"))
                .send()
                .await,
            status,
            code,
            &what("UploadPartCopy"),
        );
        expect_error(
            s3.get_object_tagging()
                .bucket(B)
                .key("k")
                .version_id(id)
                .send()
                .await,
            status,
            code,
            &what("GetObjectTagging"),
        );
        expect_error(
            s3.put_object_tagging()
                .bucket(B)
                .key("k")
                .version_id(id)
                .tagging(tagging(&[("a", "b")]))
                .send()
                .await,
            status,
            code,
            &what("PutObjectTagging"),
        );
        // The raw responses are S3 error documents with a request id.
        Request::new("GET", &format!("/{B}/k?versionId={id}"))
            .signed_ok(&gw.addr)
            .send(&gw.addr)
            .await
            .assert_s3_error(status, code, &what("raw GET"));
        if status == 404 {
            let out = ok(
                s3.delete_object()
                    .bucket(B)
                    .key("k")
                    .version_id(id)
                    .send()
                    .await,
                &what("DELETE"),
            );
            assert_eq!(out.version_id(), Some(id));
            assert_eq!(out.delete_marker(), None);
        } else {
            expect_error(
                s3.delete_object()
                    .bucket(B)
                    .key("k")
                    .version_id(id)
                    .send()
                    .await,
                status,
                code,
                &what("DELETE"),
            );
        }
    }
    // Nothing of that touched the key, and the upload still takes the real version.
    assert_eq!(get(&s3, "k", None).await, (data.clone(), Some(v1.clone())));
    assert_eq!(
        ok(s3.list_object_versions().bucket(B).send().await, "versions")
            .versions()
            .len(),
        1
    );
    let copied = ok(
        s3.upload_part_copy()
            .bucket(B)
            .key("mp")
            .upload_id(upload_id)
            .part_number(1)
            .copy_source(format!("{B}/k?versionId={v1}"))
            .copy_source_range("bytes=0-5242879")
            .send()
            .await,
        "UploadPartCopy of a range of a version",
    );
    assert_eq!(copied.copy_source_version_id(), Some(v1.as_str()));
    ok(
        s3.abort_multipart_upload()
            .bucket(B)
            .key("mp")
            .upload_id(upload_id)
            .send()
            .await,
        "abort",
    );

    // A bucket never versioned: `null` names its objects, any other id no version.
    ok(s3.create_bucket().bucket("plain").send().await, "create");
    ok(
        s3.put_object()
            .bucket("plain")
            .key("p")
            .body(ByteStream::from_static(b"plain"))
            .send()
            .await,
        "put",
    );
    let got = ok(
        s3.get_object()
            .bucket("plain")
            .key("p")
            .version_id("null")
            .send()
            .await,
        "GET versionId=null",
    );
    assert_eq!(body(got.body).await, b"plain");
    expect_error(
        s3.get_object()
            .bucket("plain")
            .key("p")
            .version_id(&v1)
            .send()
            .await,
        404,
        "NoSuchVersion",
        "an id on a bucket never versioned",
    );
    expect_error(
        s3.get_object()
            .bucket("plain")
            .key("p")
            .version_id("bogus")
            .send()
            .await,
        400,
        "InvalidArgument",
        "text that is no id on a bucket never versioned",
    );
    // Deleting the `null` version by its name deletes the object, leaving no marker.
    let out = ok(
        s3.delete_object()
            .bucket("plain")
            .key("p")
            .version_id("null")
            .send()
            .await,
        "DELETE versionId=null",
    );
    assert_eq!(
        (out.version_id(), out.delete_marker()),
        (Some("null"), None)
    );
    expect_error(
        s3.get_object().bucket("plain").key("p").send().await,
        404,
        "NoSuchKey",
        "deleted",
    );
}

/// GET and HEAD of a delete marker by its id, and GET under one, as raw responses: S3's
/// error document (GET) with the marker's headers, never a 500.
#[tokio::test]
async fn delete_marker_errors_on_the_wire() {
    let (gw, s3) = versioned().await;
    put(&s3, "k", b"data").await.unwrap();
    let marker = ok(s3.delete_object().bucket(B).key("k").send().await, "delete")
        .version_id()
        .unwrap()
        .to_owned();
    let current = Request::new("GET", &format!("/{B}/k"))
        .signed_ok(&gw.addr)
        .send(&gw.addr)
        .await;
    current.assert_s3_error(404, "NoSuchKey", "GET under a marker");
    assert_eq!(current.header("x-amz-delete-marker"), Some("true"));
    assert_eq!(current.header("x-amz-version-id"), Some(marker.as_str()));
    let by_id = Request::new("GET", &format!("/{B}/k?versionId={marker}"))
        .signed_ok(&gw.addr)
        .send(&gw.addr)
        .await;
    by_id.assert_s3_error(405, "MethodNotAllowed", "GET of the marker");
    assert_eq!(by_id.header("x-amz-delete-marker"), Some("true"));
    assert_eq!(by_id.header("x-amz-version-id"), Some(marker.as_str()));
    assert!(by_id.header("last-modified").is_some());
    let head = Request::new("HEAD", &format!("/{B}/k?versionId={marker}"))
        .signed_ok(&gw.addr)
        .send(&gw.addr)
        .await;
    assert_eq!(head.status, 405);
    assert_eq!(head.header("x-amz-delete-marker"), Some("true"));
    assert_eq!(head.header("x-amz-version-id"), Some(marker.as_str()));
}
