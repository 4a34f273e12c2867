//! vmgw-mount on vmgw uses the server's own paths where vmgw announces them: a rename is
//! one RenameObject (no copy, no delete), so a concurrent lister sees the file under
//! exactly one of its names at every moment; against moto (no announcement) the same
//! rename falls back to copy + delete.

use std::collections::BTreeMap;
use std::process::Command;

use vmgw_tests::{ACCESS_KEY, Gateway, Mount, MountTarget, SECRET_KEY, pattern, vmgw_bin};

const BUCKET: &str = "fast";

fn counts(gw: &Gateway) -> BTreeMap<String, u64> {
    let out = Command::new(vmgw_bin())
        .args(["requests", "--json", "--data-dir"])
        .arg(&gw.data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    all.as_object()
        .unwrap()
        .iter()
        .map(|(op, c)| (op.clone(), c["requests"].as_u64().unwrap()))
        .collect()
}

#[test]
fn renames_are_one_atomic_request_on_vmgw() {
    let gw = Gateway::start();
    let s3 = gw.sdk();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(s3.create_bucket().bucket(BUCKET).send())
        .unwrap();
    let target = MountTarget {
        endpoint: gw.endpoint.clone(),
        access_key: ACCESS_KEY.into(),
        secret_key: SECRET_KEY.into(),
        source: BUCKET.into(),
    };
    let mount = Mount::start(&target, &[]);
    let data = pattern(2_000_000, 3);
    std::fs::write(mount.path("a"), &data).unwrap();

    // A lister on the S3 API, racing 100 renames back and forth through the mount.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let lister = {
        let s3 = s3.clone();
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            let mut looks = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let listed = rt
                    .block_on(s3.list_objects_v2().bucket(BUCKET).send())
                    .unwrap();
                let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
                assert!(
                    keys == ["a"] || keys == ["b"],
                    "look {looks}: the file is listed as {keys:?}"
                );
                looks += 1;
            }
            looks
        })
    };
    let before = counts(&gw);
    for i in 0..100 {
        let (from, to) = if i % 2 == 0 { ("a", "b") } else { ("b", "a") };
        std::fs::rename(mount.path(from), mount.path(to)).unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let looks = lister.join().unwrap();
    assert!(looks > 10, "the lister looked only {looks} times");
    let after = counts(&gw);
    let delta = |op: &str| after.get(op).unwrap_or(&0) - before.get(op).unwrap_or(&0);
    assert_eq!(delta("RenameObject"), 100, "{after:?}");
    assert_eq!(delta("CopyObject"), 0, "{after:?}");
    assert_eq!(delta("DeleteObject"), 0, "{after:?}");
    assert_eq!(std::fs::read(mount.path("a")).unwrap(), data);
}
