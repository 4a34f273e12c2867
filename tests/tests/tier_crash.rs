//! Crash safety of moves between tiers: the gateway is killed (a crash point aborts it) at
//! each step of a move — mid-copy, after the copy, after the commit — and restarted. Each
//! time the object reads back whole from exactly one tier and no orphan remains on any tier.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use vmgw_tests::{Gateway, md5_hex, pattern, vmgw_bin};

fn blobs_on(data_dir: &Path, tier: &str) -> usize {
    let mut count = 0;
    for shard in std::fs::read_dir(data_dir.join("tiers").join(tier)).unwrap() {
        count += std::fs::read_dir(shard.unwrap().path()).unwrap().count();
    }
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_any_step_of_a_move_leaves_one_whole_copy() {
    // (crash point, tier holding the object after the restart)
    let cases = [
        ("move:partial-copy", "ssd"),
        ("move:copied", "ssd"),
        ("move:committed", "hdd"),
    ];
    for (point, expected_tier) in cases {
        let mut gw = Gateway::start();
        let s3 = gw.sdk();
        s3.create_bucket().bucket("crash").send().await.unwrap();
        let data = pattern(6_000_000, 3);
        let etag = s3
            .put_object()
            .bucket("crash")
            .key("obj")
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap()
            .e_tag()
            .unwrap()
            .to_owned();

        // Restart armed with the crash point, then move: the gateway dies mid-move.
        gw.set_env(vec![("VMGW_FAULT_CRASH_AT".into(), point.into())]);
        gw.restart(true);
        let moved = Command::new(vmgw_bin())
            .args(["tier", "move", "crash", "obj", "hdd", "--data-dir"])
            .arg(&gw.data_dir)
            .output()
            .unwrap();
        assert!(
            !moved.status.success(),
            "{point}: the move should have been cut off"
        );
        let status = gw.wait_exit(Duration::from_secs(30));
        assert!(!status.success(), "{point}: gateway exit status {status}");
        assert!(
            gw.log().contains(&format!("crash point {point} reached")),
            "{point}: {}",
            gw.log()
        );

        // Restart normally: one whole copy, on the tier the crash point implies.
        gw.set_env(Vec::new());
        gw.restart(true);
        let s3 = gw.sdk();
        let got = s3
            .get_object()
            .bucket("crash")
            .key("obj")
            .send()
            .await
            .unwrap();
        assert_eq!(got.e_tag(), Some(etag.as_str()), "{point}");
        assert_eq!(
            md5_hex(&got.body.collect().await.unwrap().into_bytes()),
            md5_hex(&data),
            "{point}"
        );
        // The start-up sweep removes partial copies; reclamation removes retired sources.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let counts = (blobs_on(&gw.data_dir, "ssd"), blobs_on(&gw.data_dir, "hdd"));
            let expected = if expected_tier == "ssd" {
                (1, 0)
            } else {
                (0, 1)
            };
            if counts == expected {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{point}: (ssd, hdd) blobs {counts:?}, expected {expected:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // And the object can still move afterwards.
        let out = Command::new(vmgw_bin())
            .args(["tier", "move", "crash", "obj", "ssd", "--data-dir"])
            .arg(&gw.data_dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{point}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
