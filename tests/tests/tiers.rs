//! Storage classes land on their tiers: with the default ssd and hdd tiers, hot classes are
//! written to `tiers/ssd`, infrequent-access and archive classes to `tiers/hdd`, and HEAD,
//! GET and listings report the class the object has.

use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, StorageClass};
use vmgw_tests::{Gateway, md5_hex, pattern};

const B: &str = "classes";

fn blobs_on(data_dir: &Path, tier: &str) -> usize {
    let mut count = 0;
    for shard in std::fs::read_dir(data_dir.join("tiers").join(tier)).unwrap() {
        count += std::fs::read_dir(shard.unwrap().path()).unwrap().count();
    }
    count
}

/// Waits until the tiers hold exactly `ssd` and `hdd` blobs (reclamation runs in the
/// background).
async fn expect_blobs(gw: &Gateway, ssd: usize, hdd: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = (blobs_on(&gw.data_dir, "ssd"), blobs_on(&gw.data_dir, "hdd"));
        if now == (ssd, hdd) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: (ssd, hdd) blobs are {now:?}, expected {:?}",
            (ssd, hdd)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn classes_are_written_to_their_tiers_and_reported() {
    let gw = Gateway::start();
    let s3 = gw.sdk();
    s3.create_bucket().bucket(B).send().await.unwrap();
    expect_blobs(&gw, 0, 0, "empty").await;

    let data = pattern(300_000, 1);
    let cases = [
        (None, "ssd"),
        (Some(StorageClass::Standard), "ssd"),
        (Some(StorageClass::ReducedRedundancy), "ssd"),
        (Some(StorageClass::IntelligentTiering), "ssd"),
        (Some(StorageClass::StandardIa), "hdd"),
        (Some(StorageClass::OnezoneIa), "hdd"),
        (Some(StorageClass::GlacierIr), "hdd"),
        (Some(StorageClass::Glacier), "hdd"),
        (Some(StorageClass::DeepArchive), "hdd"),
    ];
    let (mut ssd, mut hdd) = (0, 0);
    for (i, (class, tier)) in cases.iter().enumerate() {
        let key = format!("obj-{i}");
        s3.put_object()
            .bucket(B)
            .key(&key)
            .set_storage_class(class.clone())
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        if *tier == "ssd" {
            ssd += 1
        } else {
            hdd += 1
        }
        expect_blobs(&gw, ssd, hdd, &format!("after PUT {key} as {class:?}")).await;

        let head = s3.head_object().bucket(B).key(&key).send().await.unwrap();
        let reported = head.storage_class().cloned();
        let expected = class.clone().filter(|c| *c != StorageClass::Standard);
        assert_eq!(reported, expected, "HEAD storage class of {key}");
        let got = s3.get_object().bucket(B).key(&key).send().await.unwrap();
        assert_eq!(
            got.storage_class().cloned(),
            expected,
            "GET storage class of {key}"
        );
        assert_eq!(
            md5_hex(&got.body.collect().await.unwrap().into_bytes()),
            md5_hex(&data)
        );
    }

    // Small objects of cold classes still get a blob on their tier (only hot ones are inline).
    s3.put_object()
        .bucket(B)
        .key("tiny-cold")
        .storage_class(StorageClass::Glacier)
        .body(ByteStream::from_static(b"cold"))
        .send()
        .await
        .unwrap();
    hdd += 1;
    expect_blobs(&gw, ssd, hdd, "tiny GLACIER object").await;
    s3.put_object()
        .bucket(B)
        .key("tiny-hot")
        .body(ByteStream::from_static(b"hot"))
        .send()
        .await
        .unwrap();
    expect_blobs(&gw, ssd, hdd, "tiny STANDARD object stays inline").await;

    // Listings report each object's class.
    let listing = s3.list_objects_v2().bucket(B).send().await.unwrap();
    for object in listing.contents() {
        let key = object.key().unwrap();
        let class = object.storage_class().unwrap().as_str().to_owned();
        let expected = match key
            .strip_prefix("obj-")
            .and_then(|i| i.parse::<usize>().ok())
        {
            Some(i) => cases[i]
                .0
                .clone()
                .map_or("STANDARD".to_owned(), |c| c.as_str().to_owned()),
            None if key == "tiny-cold" => "GLACIER".to_owned(),
            None => "STANDARD".to_owned(),
        };
        assert_eq!(class, expected, "listed class of {key}");
    }

    // Copying onto itself with another class moves the bytes to that class's tier.
    s3.copy_object()
        .bucket(B)
        .key("obj-0")
        .copy_source(format!("{B}/obj-0"))
        .storage_class(StorageClass::StandardIa)
        .send()
        .await
        .unwrap();
    ssd -= 1;
    hdd += 1;
    expect_blobs(&gw, ssd, hdd, "self-copy to STANDARD_IA").await;
    let got = s3.get_object().bucket(B).key("obj-0").send().await.unwrap();
    assert_eq!(got.storage_class(), Some(&StorageClass::StandardIa));
    assert_eq!(
        md5_hex(&got.body.collect().await.unwrap().into_bytes()),
        md5_hex(&data)
    );

    // Multipart uploads write their parts to the upload's class tier.
    let upload = s3
        .create_multipart_upload()
        .bucket(B)
        .key("mp")
        .storage_class(StorageClass::OnezoneIa)
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    let parts = [pattern(5 << 20, 2), pattern(1000, 3)];
    let mut done = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let n = i32::try_from(i + 1).unwrap();
        let out = s3
            .upload_part()
            .bucket(B)
            .key("mp")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(part.clone()))
            .send()
            .await
            .unwrap();
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .build(),
        );
    }
    hdd += 2;
    expect_blobs(&gw, ssd, hdd, "multipart parts of a ONEZONE_IA upload").await;
    s3.complete_multipart_upload()
        .bucket(B)
        .key("mp")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let head = s3.head_object().bucket(B).key("mp").send().await.unwrap();
    assert_eq!(head.storage_class(), Some(&StorageClass::OnezoneIa));

    // An unknown class is refused and nothing is stored.
    let err = s3
        .put_object()
        .bucket(B)
        .key("bad")
        .storage_class(StorageClass::from("COLDEST"))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.into_service_error().meta().code(),
        Some("InvalidStorageClass")
    );
    expect_blobs(&gw, ssd, hdd, "after a refused PUT").await;
}
