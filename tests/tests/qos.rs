//! QoS per tenant: a request-rate limit answers what is over it with 503 SlowDown (and an
//! SDK client with its default retries still gets everything done), bandwidth limits pace
//! uploads and downloads without failing them, other tenants are untouched, and limits
//! change while the gateway runs.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use common::tenants::{admin_cmd, vm_add};
use common::{client_with, ok};
use vmgw_tests::{Gateway, pattern, run, sdk_client};

const MIB: usize = 1 << 20;

#[tokio::test]
async fn requests_over_the_rate_get_slow_down_and_others_are_untouched() {
    let gw = Gateway::start();
    let limited = vm_add(&gw, "limited", &["--rate", "20/s"]);
    let free = vm_add(&gw, "free", &[]);
    let s3 = client_with(&gw, &limited.access_key, &limited.secret_key);
    let other = client_with(&gw, &free.access_key, &free.secret_key);
    // vm add itself is not a request of the tenant: its bucket is there, its bucket full.
    common::put(&s3, "limited", "k", b"v").await;

    let started = Instant::now();
    let (mut served, mut slowed) = (0, 0);
    for _ in 0..100 {
        match s3.head_object().bucket("limited").key("k").send().await {
            Ok(_) => served += 1,
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                assert_eq!(status, Some(503), "{}", common::brief(&e));
                slowed += 1;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    // A one-second burst of 20 (less the PUT), then 20/s.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let most = 20 + (elapsed * 20.0).ceil() as usize + 1;
    assert!(
        (19..=most).contains(&served),
        "{served} of 100 served in {elapsed:.2}s at 20/s"
    );
    assert_eq!(served + slowed, 100);
    // The refusal is S3's SlowDown, as a GET with a body shows.
    let err = loop {
        match s3.get_object().bucket("limited").key("k").send().await {
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert_eq!(err.code(), Some("SlowDown"), "{}", common::brief(&err));

    // Another tenant is not limited at all.
    for _ in 0..100 {
        ok(other.list_buckets().send().await, "the free tenant");
    }
    // A client with the SDK's default retries gets all its requests done, just later.
    let patient = sdk_client(&gw.endpoint, &limited.access_key, &limited.secret_key);
    for i in 0..60 {
        ok(
            patient
                .head_object()
                .bucket("limited")
                .key("k")
                .send()
                .await,
            &format!("patient request {i}"),
        );
    }

    // Limits change at once while the gateway runs.
    run(&mut admin_cmd(&gw, &["qos", "set", "limited"]));
    for _ in 0..100 {
        ok(
            s3.head_object().bucket("limited").key("k").send().await,
            "no limit now",
        );
    }
}

#[tokio::test]
async fn bandwidth_limits_pace_bodies_without_failing_them() {
    let gw = Gateway::start();
    let slow = vm_add(&gw, "slow", &["--bandwidth", "4MiB/s"]);
    let fast = vm_add(&gw, "fast", &[]);
    let s3 = client_with(&gw, &slow.access_key, &slow.secret_key);
    let other = client_with(&gw, &fast.access_key, &fast.secret_key);
    let data = pattern(12 * MIB, 3);

    // 12 MiB at 4 MiB/s with a 4 MiB burst: about two seconds, each way.
    let started = Instant::now();
    ok(
        s3.put_object()
            .bucket("slow")
            .key("big")
            .body(ByteStream::from(data.clone()))
            .send()
            .await,
        "paced upload",
    );
    let up = started.elapsed();
    let started = Instant::now();
    let got = common::get(&s3, "slow", "big").await;
    let down = started.elapsed();
    assert_eq!(got, data, "paced, not damaged");
    for (what, took) in [("upload", up), ("download", down)] {
        assert!(
            (Duration::from_millis(1700)..Duration::from_secs(8)).contains(&took),
            "{what} of 12 MiB at 4 MiB/s took {took:?}"
        );
    }

    // Another tenant moves the same bytes unpaced.
    let started = Instant::now();
    ok(
        other
            .put_object()
            .bucket("fast")
            .key("big")
            .body(ByteStream::from(data.clone()))
            .send()
            .await,
        "unpaced upload",
    );
    assert_eq!(common::get(&other, "fast", "big").await, data);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );

    // Raised at runtime: the next transfer is faster.
    run(&mut admin_cmd(
        &gw,
        &["qos", "set", "slow", "--bandwidth", "64MiB/s"],
    ));
    let started = Instant::now();
    assert_eq!(common::get(&s3, "slow", "big").await, data);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}
