//! Conformance (aws-sdk-s3): bucket operations — naming rules, create / head / list /
//! location / delete, and their errors.

mod common;

use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use common::{client, create_bucket, expect_error, expect_status, ok, put};
use vmgw_tests::Gateway;

#[tokio::test]
async fn invalid_bucket_names_are_rejected() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    let long = "a".repeat(64);
    for name in [
        "AB",
        "a",
        "ab",
        long.as_str(),
        "-abc",
        "abc-",
        "a..b",
        "192.168.1.1",
        "xn--abc",
        "Abc",
        "a_b",
        "sthree-abc",
        "abc-s3alias",
        "abc--ol-s3",
    ] {
        expect_error(
            s3.create_bucket().bucket(name).send().await,
            400,
            "InvalidBucketName",
            &format!("CreateBucket {name:?}"),
        );
    }
    // None of them exists.
    let listed = ok(s3.list_buckets().send().await, "ListBuckets");
    assert!(
        listed.buckets().is_empty(),
        "no bucket should have been created: {:?}",
        listed.buckets()
    );
    // Boundary cases that are valid.
    let max = format!("a{}z", "b".repeat(61));
    assert_eq!(max.len(), 63);
    for name in [
        "abc",
        max.as_str(),
        "a.b-c.1",
        "1bucket",
        "my-bucket.example",
    ] {
        ok(
            s3.create_bucket().bucket(name).send().await,
            &format!("CreateBucket {name:?}"),
        );
        ok(
            s3.head_bucket().bucket(name).send().await,
            &format!("HeadBucket {name:?}"),
        );
    }
}

#[tokio::test]
async fn create_head_list_locate_delete() {
    let gw = Gateway::start();
    let s3 = client(&gw);

    let created = ok(
        s3.create_bucket().bucket("alpha").send().await,
        "CreateBucket alpha",
    );
    assert_eq!(
        created.location(),
        Some("/alpha"),
        "Location of a new bucket"
    );
    for name in ["charlie", "bravo", "delta"] {
        create_bucket(&s3, name).await;
    }

    // Re-creating a bucket you own.
    expect_error(
        s3.create_bucket().bucket("alpha").send().await,
        409,
        "BucketAlreadyOwnedByYou",
        "CreateBucket on an existing bucket of the same owner",
    );

    let head = ok(s3.head_bucket().bucket("alpha").send().await, "HeadBucket");
    assert_eq!(head.bucket_region(), Some(vmgw_tests::REGION));
    expect_status(
        s3.head_bucket().bucket("missing-bucket").send().await,
        404,
        "HeadBucket on a missing bucket",
    );

    // ListBuckets: every bucket, sorted by name, with creation dates and an owner.
    let listed = ok(s3.list_buckets().send().await, "ListBuckets");
    let names: Vec<&str> = listed.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["alpha", "bravo", "charlie", "delta"]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for b in listed.buckets() {
        let created = b.creation_date().expect("CreationDate").secs();
        let created = u64::try_from(created).expect("creation date after 1970");
        assert!(
            created <= now + 5 && created + 600 >= now,
            "creation date of {:?} is {created}, now is {now}",
            b.name()
        );
    }
    assert!(
        listed
            .owner()
            .and_then(|o| o.id())
            .is_some_and(|id| !id.is_empty()),
        "ListBuckets names the owner"
    );

    // Paginated ListBuckets.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let page = ok(
            s3.list_buckets()
                .max_buckets(3)
                .set_continuation_token(token.clone())
                .send()
                .await,
            "ListBuckets page",
        );
        assert!(page.buckets().len() <= 3);
        seen.extend(
            page.buckets()
                .iter()
                .filter_map(|b| b.name())
                .map(str::to_owned),
        );
        token = page.continuation_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(
        seen,
        ["alpha", "bravo", "charlie", "delta"],
        "paginated ListBuckets"
    );
    let prefixed = ok(
        s3.list_buckets().prefix("b").send().await,
        "ListBuckets prefix",
    );
    let names: Vec<&str> = prefixed.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["bravo"], "ListBuckets with prefix b");

    // GetBucketLocation: us-east-1 is reported as an empty constraint.
    let location = ok(
        s3.get_bucket_location().bucket("alpha").send().await,
        "GetBucketLocation",
    );
    assert!(
        location
            .location_constraint()
            .is_none_or(|c| c.as_str().is_empty()),
        "us-east-1 has an empty LocationConstraint, got {:?}",
        location.location_constraint()
    );
    // A bucket created with a location constraint reports it.
    ok(
        s3.create_bucket()
            .bucket("in-europe")
            .create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::EuWest1)
                    .build(),
            )
            .send()
            .await,
        "CreateBucket with LocationConstraint eu-west-1",
    );
    let location = ok(
        s3.get_bucket_location().bucket("in-europe").send().await,
        "GetBucketLocation in-europe",
    );
    assert_eq!(
        location.location_constraint(),
        Some(&BucketLocationConstraint::EuWest1)
    );
    ok(
        s3.delete_bucket().bucket("in-europe").send().await,
        "DeleteBucket in-europe",
    );
    expect_error(
        s3.get_bucket_location()
            .bucket("missing-bucket")
            .send()
            .await,
        404,
        "NoSuchBucket",
        "GetBucketLocation on a missing bucket",
    );

    // DeleteBucket: refused while an object is in it, then allowed.
    put(&s3, "alpha", "obj", b"x").await;
    expect_error(
        s3.delete_bucket().bucket("alpha").send().await,
        409,
        "BucketNotEmpty",
        "DeleteBucket on a non-empty bucket",
    );
    ok(
        s3.head_bucket().bucket("alpha").send().await,
        "HeadBucket after refused delete",
    );
    ok(
        s3.delete_object().bucket("alpha").key("obj").send().await,
        "DeleteObject",
    );
    ok(
        s3.delete_bucket().bucket("alpha").send().await,
        "DeleteBucket",
    );
    expect_status(
        s3.head_bucket().bucket("alpha").send().await,
        404,
        "HeadBucket after DeleteBucket",
    );
    expect_error(
        s3.delete_bucket().bucket("alpha").send().await,
        404,
        "NoSuchBucket",
        "DeleteBucket twice",
    );
    expect_error(
        s3.delete_bucket().bucket("never-existed").send().await,
        404,
        "NoSuchBucket",
        "DeleteBucket on a bucket that never existed",
    );
    let listed = ok(s3.list_buckets().send().await, "ListBuckets after delete");
    let names: Vec<&str> = listed.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["bravo", "charlie", "delta"]);

    // A deleted bucket can be created again, empty.
    create_bucket(&s3, "alpha").await;
    let objects = ok(
        s3.list_objects_v2().bucket("alpha").send().await,
        "ListObjectsV2 on re-created bucket",
    );
    assert_eq!(objects.key_count(), Some(0));
    assert!(objects.contents().is_empty());
}

#[tokio::test]
async fn operations_on_a_missing_bucket() {
    let gw = Gateway::start();
    let s3 = client(&gw);
    let b = "no-such-bucket";
    expect_error(
        s3.put_object()
            .bucket(b)
            .key("k")
            .body(b"data".to_vec().into())
            .send()
            .await,
        404,
        "NoSuchBucket",
        "PutObject into a missing bucket",
    );
    expect_error(
        s3.get_object().bucket(b).key("k").send().await,
        404,
        "NoSuchBucket",
        "GetObject from a missing bucket",
    );
    expect_status(
        s3.head_object().bucket(b).key("k").send().await,
        404,
        "HeadObject in a missing bucket",
    );
    expect_error(
        s3.delete_object().bucket(b).key("k").send().await,
        404,
        "NoSuchBucket",
        "DeleteObject in a missing bucket",
    );
    expect_error(
        s3.list_objects_v2().bucket(b).send().await,
        404,
        "NoSuchBucket",
        "ListObjectsV2 on a missing bucket",
    );
    expect_error(
        s3.list_objects().bucket(b).send().await,
        404,
        "NoSuchBucket",
        "ListObjects on a missing bucket",
    );
    expect_error(
        s3.create_multipart_upload().bucket(b).key("k").send().await,
        404,
        "NoSuchBucket",
        "CreateMultipartUpload in a missing bucket",
    );
    expect_error(
        s3.list_multipart_uploads().bucket(b).send().await,
        404,
        "NoSuchBucket",
        "ListMultipartUploads on a missing bucket",
    );
}
