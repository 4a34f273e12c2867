//! Quotas: a tenant's byte quota holds against racing uploads (exactly the uploads that fit
//! succeed, the others get 403 QuotaExceeded and leave no data on the tiers), multipart
//! completions and bucket object-count quotas are enforced, deleting frees room, and the
//! usage the gateway reports equals what the buckets list, also after kill -9 mid-write.

mod common;

use std::path::Path;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::raw::{Payload, Request};
use common::tenants::{admin_cmd, vm_add};
use common::{client_with, ok};
use vmgw_tests::{Gateway, pattern, run};

const MIB: u64 = 1 << 20;

/// (bytes, objects) the gateway reports for a tenant.
fn reported(gw: &Gateway, tenant: &str) -> (u64, u64) {
    let listed = run(&mut admin_cmd(gw, &["vm", "ls", "--json"]));
    let tenants: Vec<serde_json::Value> = serde_json::from_str(&listed).unwrap();
    let t = tenants
        .iter()
        .find(|t| t["name"] == tenant)
        .unwrap_or_else(|| panic!("no tenant {tenant} in {listed}"));
    (
        t["usage"]["bytes"].as_u64().unwrap(),
        t["usage"]["objects"].as_u64().unwrap(),
    )
}

/// (bytes, objects) the bucket lists.
async fn listed(s3: &Client, bucket: &str) -> (u64, u64) {
    let (mut bytes, mut objects) = (0, 0);
    let mut token = None;
    loop {
        let page = ok(
            s3.list_objects_v2()
                .bucket(bucket)
                .set_continuation_token(token)
                .send()
                .await,
            "list",
        );
        for o in page.contents() {
            bytes += u64::try_from(o.size().unwrap_or(0)).unwrap();
            objects += 1;
        }
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return (bytes, objects);
        }
    }
}

fn stored_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut dirs = vec![dir.to_owned()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                dirs.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}

fn quota_exceeded<T, E: ProvideErrorMetadata>(
    r: &Result<T, aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
) -> bool {
    r.as_ref().err().is_some_and(|e| {
        e.code() == Some("QuotaExceeded")
            && e.raw_response().map(|r| r.status().as_u16()) == Some(403)
    })
}

#[tokio::test]
async fn racing_uploads_never_pass_the_quota_and_leave_nothing_behind() {
    let gw = Gateway::start();
    let t = vm_add(&gw, "qt1", &["--quota", "10MiB"]);
    let s3 = client_with(&gw, &t.access_key, &t.secret_key);

    // Eight 3 MiB uploads at once against 10 MiB: exactly three fit.
    let mut tasks = Vec::new();
    for i in 0..8u64 {
        let s3 = s3.clone();
        tasks.push(tokio::spawn(async move {
            s3.put_object()
                .bucket("qt1")
                .key(format!("obj-{i}"))
                .body(ByteStream::from(pattern(3 * MIB as usize, i)))
                .send()
                .await
        }));
    }
    let (mut stored, mut refused) = (Vec::new(), 0);
    for (i, task) in tasks.into_iter().enumerate() {
        let r = task.await.unwrap();
        if r.is_ok() {
            stored.push(format!("obj-{i}"));
        } else {
            assert!(
                quota_exceeded(&r),
                "neither stored nor QuotaExceeded: {r:?}"
            );
            refused += 1;
        }
    }
    assert_eq!((stored.len(), refused), (3, 5));
    assert_eq!(listed(&s3, "qt1").await, (9 * MIB, 3));
    assert_eq!(reported(&gw, "qt1"), (9 * MIB, 3));
    // The refused uploads' bytes were thrown away, not kept on a tier.
    let on_disk = stored_bytes(&gw.data_dir.join("tiers"));
    assert!(
        (9 * MIB..9 * MIB + 256 * 1024).contains(&on_disk),
        "{on_disk} bytes on the tiers for 9 MiB of objects"
    );

    // A body that cannot fit is refused before it is sent: the answer to
    // `Expect: 100-continue` is the refusal, not "100 Continue".
    let started = std::time::Instant::now();
    let refused = Request::new("PUT", "/qt1/huge")
        .header("content-length", &(20 * MIB).to_string())
        .header("expect", "100-continue")
        .signed(&gw.addr, &t.access_key, &t.secret_key, Payload::Unsigned)
        .send(&gw.addr)
        .await;
    refused.assert_s3_error(403, "QuotaExceeded", "a 20 MiB PUT into 1 MiB of room");
    assert!(started.elapsed() < Duration::from_secs(10));
    // A client that sends the body anyway (no Expect) still reads the refusal: the gateway
    // answers before the body and closes only after reading what the client still sends.
    for round in 0..3 {
        let r = s3
            .put_object()
            .bucket("qt1")
            .key("huge")
            .body(ByteStream::from(pattern(48 * MIB as usize, round)))
            .send()
            .await;
        assert!(quota_exceeded(&r), "round {round}: {r:?}");
    }

    // Shrinking is allowed; then 1 MiB more fits and 2 MiB more does not.
    ok(
        s3.put_object()
            .bucket("qt1")
            .key("obj-small")
            .body(ByteStream::from(pattern(MIB as usize, 99)))
            .send()
            .await,
        "1 MiB more fits",
    );
    let r = s3
        .put_object()
        .bucket("qt1")
        .key("too-much")
        .body(ByteStream::from(pattern(2 * MIB as usize, 98)))
        .send()
        .await;
    assert!(quota_exceeded(&r), "{r:?}");
    // A multipart upload that would pass the quota fails at completion and stores nothing.
    let upload = ok(
        s3.create_multipart_upload()
            .bucket("qt1")
            .key("mp")
            .send()
            .await,
        "create",
    );
    let id = upload.upload_id().unwrap();
    let part = ok(
        s3.upload_part()
            .bucket("qt1")
            .key("mp")
            .upload_id(id)
            .part_number(1)
            .body(ByteStream::from(pattern(5 * MIB as usize, 7)))
            .send()
            .await,
        "part",
    );
    let r = s3
        .complete_multipart_upload()
        .bucket("qt1")
        .key("mp")
        .upload_id(id)
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
        .await;
    assert!(quota_exceeded(&r), "{r:?}");
    assert!(
        s3.head_object()
            .bucket("qt1")
            .key("mp")
            .send()
            .await
            .is_err()
    );
    assert_eq!(reported(&gw, "qt1"), (10 * MIB, 4));

    // Deleting frees room.
    for key in &stored[..2] {
        ok(
            s3.delete_object().bucket("qt1").key(key).send().await,
            "delete",
        );
    }
    ok(
        s3.put_object()
            .bucket("qt1")
            .key("after-delete")
            .body(ByteStream::from(pattern(5 * MIB as usize, 5)))
            .send()
            .await,
        "fits after deleting",
    );
    assert_eq!(reported(&gw, "qt1"), (9 * MIB, 3));
    assert_eq!(listed(&s3, "qt1").await, (9 * MIB, 3));

    // A bucket's object-count quota, next to the tenant's.
    run(&mut admin_cmd(
        &gw,
        &["quota", "set", "--bucket", "qt1", "--objects", "4"],
    ));
    common::put(&s3, "qt1", "fourth", b"x").await;
    let r = s3
        .put_object()
        .bucket("qt1")
        .key("fifth")
        .body(ByteStream::from_static(b"y"))
        .send()
        .await;
    assert!(quota_exceeded(&r), "{r:?}");
    // Overwriting an object adds none.
    common::put(&s3, "qt1", "fourth", b"x again").await;
    run(&mut admin_cmd(&gw, &["quota", "set", "--bucket", "qt1"]));
    common::put(&s3, "qt1", "fifth", b"y").await;
}

#[tokio::test]
async fn usage_is_exact_after_kill_9_mid_write() {
    let mut gw = Gateway::start();
    let t = vm_add(&gw, "busy", &["--quota", "1GiB"]);
    let s3 = client_with(&gw, &t.access_key, &t.secret_key);
    // Writers that put, overwrite and delete until the gateway dies under them.
    let mut writers = Vec::new();
    for w in 0..4u64 {
        let s3 = s3.clone();
        writers.push(tokio::spawn(async move {
            for i in 0u64.. {
                // Every fifth step deletes a key that earlier steps put (k0, k1, ... in turn).
                let index = if i % 5 == 4 { (i / 5) % 20 } else { i % 20 };
                let key = format!("w{w}/k{index}");
                let size = ((i * 7919 + w * 104_729) % 300_000) as usize;
                let failed = if i % 5 == 4 {
                    s3.delete_object()
                        .bucket("busy")
                        .key(&key)
                        .send()
                        .await
                        .is_err()
                } else {
                    s3.put_object()
                        .bucket("busy")
                        .key(&key)
                        .body(ByteStream::from(pattern(size, i)))
                        .send()
                        .await
                        .is_err()
                };
                if failed {
                    return i;
                }
            }
            unreachable!()
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    gw.kill();
    let mut total = 0;
    for w in writers {
        total += w.await.unwrap();
    }
    assert!(
        total > 40,
        "the writers did too little before the kill: {total}"
    );
    gw.restart(true);
    let s3 = client_with(&gw, &t.access_key, &t.secret_key);
    let (bytes, objects) = listed(&s3, "busy").await;
    assert!(objects > 0);
    assert_eq!(
        reported(&gw, "busy"),
        (bytes, objects),
        "usage after kill -9"
    );
    // And it keeps counting from there.
    common::put(&s3, "busy", "after", &[7u8; 1000]).await;
    assert_eq!(reported(&gw, "busy"), (bytes + 1000, objects + 1));
}

/// Every version holding data counts, as S3 bills noncurrent versions; delete markers count
/// nothing and are never refused; deleting a version for good frees its room; a tenant's
/// purge removes every version.
#[tokio::test]
async fn every_version_counts_against_the_quota() {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    let gw = Gateway::start();
    let t = vm_add(&gw, "qver", &["--quota", "10MiB"]);
    let s3 = client_with(&gw, &t.access_key, &t.secret_key);
    ok(
        s3.put_bucket_versioning()
            .bucket("qver")
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await,
        "enable versioning",
    );
    let put = |i: u64| {
        s3.put_object()
            .bucket("qver")
            .key("k")
            .body(ByteStream::from(pattern(3 * MIB as usize, i)))
            .send()
    };
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(ok(put(i).await, "put").version_id().unwrap().to_owned());
    }
    // One key, three versions: 9 MiB in use, a fourth does not fit.
    assert_eq!(listed(&s3, "qver").await, (3 * MIB, 1));
    assert_eq!(reported(&gw, "qver"), (9 * MIB, 3));
    let r = put(3).await;
    assert!(quota_exceeded(&r), "{r:?}");
    // A delete marker frees nothing and is not refused.
    ok(
        s3.delete_object().bucket("qver").key("k").send().await,
        "delete marker over quota",
    );
    assert_eq!(reported(&gw, "qver"), (9 * MIB, 3));
    assert!(quota_exceeded(&put(4).await));
    // Deleting a version for good frees its room.
    ok(
        s3.delete_object()
            .bucket("qver")
            .key("k")
            .version_id(&ids[0])
            .send()
            .await,
        "delete a version",
    );
    assert_eq!(reported(&gw, "qver"), (6 * MIB, 2));
    ok(put(5).await, "fits again");
    assert_eq!(reported(&gw, "qver"), (9 * MIB, 3));
    // Removing the tenant with --purge removes every version and marker with the bucket.
    let removed = run(&mut common::tenants::admin_cmd(
        &gw,
        &["vm", "rm", "qver", "--purge"],
    ));
    assert!(
        removed.contains("1 bucket(s) (qver), 3 object(s)"),
        "{removed}"
    );
    let admin = gw.sdk();
    let buckets = ok(admin.list_buckets().send().await, "list buckets");
    assert!(buckets.buckets().iter().all(|b| b.name() != Some("qver")));
}

#[test]
fn a_mount_over_quota_reports_no_space() {
    let gw = Gateway::start();
    let t = vm_add(&gw, "mnt-quota", &["--quota", "4MiB"]);
    let mount = vmgw_tests::Mount::start(
        &vmgw_tests::MountTarget {
            endpoint: gw.endpoint.clone(),
            access_key: t.access_key.clone(),
            secret_key: t.secret_key.clone(),
            source: "mnt-quota".into(),
        },
        &[],
    );
    std::fs::write(mount.path("fits.bin"), pattern(MIB as usize, 1)).unwrap();
    // The writer's fsync meets the refusal itself, or a close of another descriptor of the
    // same file meets it first: the fsync says ENOSPC either way. The writer is a process of
    // its own, so that no child another test forks meanwhile inherits its descriptor (its
    // close at exec would flush a part of the file early, which then fits and stays).
    let writer = r#"
import os, sys
path, other_close_first = sys.argv[1], sys.argv[2] == "1"
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
try:
    chunk = bytes(range(256)) * 4096
    for _ in range(12):
        os.write(fd, chunk)
    if other_close_first:
        os.close(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
    os.fsync(fd)
    print(0)
except OSError as e:
    print(e.errno)
"#;
    for (name, other_close_first) in [("too-big.bin", "0"), ("too-big-2.bin", "1")] {
        let errno = vmgw_tests::run(
            std::process::Command::new(vmgw_tests::require_tool("python3"))
                .arg("-c")
                .arg(writer)
                .arg(mount.path(name))
                .arg(other_close_first),
        );
        assert_eq!(
            errno.trim(),
            "28",
            "{name}: ENOSPC, got errno {errno}; vmgw-mount's log:\n{}",
            mount.log()
        );
    }
    assert_eq!(
        std::fs::read(mount.path("fits.bin")).unwrap(),
        pattern(MIB as usize, 1)
    );
    assert_eq!(reported(&gw, "mnt-quota"), (MIB, 1));
}
