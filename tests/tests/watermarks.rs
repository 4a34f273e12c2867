//! Capacity watermarks and full tiers: a tier filled past its high watermark is demoted,
//! least recently read objects first, down to its low watermark while reads go on; reads
//! are remembered across a restart; a write that does not fit its tier goes to a colder one,
//! and only when none has room is it refused.

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, StorageClass};
use vmgw_tests::{Gateway, GatewayOptions, log_tail, md5_hex, pattern, run, vmgw_bin};

const OBJECT: usize = 256 << 10;
const SSD_CAPACITY: u64 = 4 << 20;
/// 50 % of the ssd's capacity.
const SSD_LOW: u64 = SSD_CAPACITY / 2;

fn admin(gw: &Gateway, args: &[&str]) -> String {
    run(Command::new(vmgw_bin())
        .args(args)
        .arg("--data-dir")
        .arg(&gw.data_dir)
        .env_remove("VMGW_ADMIN_SOCKET"))
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The tier holding the bytes of `bucket/key` (`inline` for objects in the metadata).
fn tier_of(gw: &Gateway, bucket: &str, key: &str) -> String {
    let placement = json(&admin(gw, &["object", "where", bucket, key, "--json"]));
    if placement["inline"] == true {
        return "inline".into();
    }
    let tiers: Vec<&str> = placement["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["tier"].as_str().unwrap())
        .collect();
    assert!(
        tiers.windows(2).all(|w| w[0] == w[1]),
        "{bucket}/{key} is split over tiers: {placement}"
    );
    tiers[0].to_owned()
}

/// `tier ls --json` for one tier.
fn tier_status(gw: &Gateway, tier: &str) -> serde_json::Value {
    let all = json(&admin(gw, &["tier", "ls", "--json"]));
    all.as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == tier)
        .unwrap_or_else(|| panic!("no tier {tier} in {all}"))
        .clone()
}

/// Waits until the ssd holds at most its low watermark (demotion and reclamation done).
async fn ssd_down_to_low(gw: &Gateway, what: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stored = tier_status(gw, "ssd")["stored_bytes"].as_u64().unwrap();
        if stored <= SSD_LOW {
            return stored;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: ssd still holds {stored} bytes (low watermark {SSD_LOW}); log:\n{}",
            log_tail(gw, 40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the gateway has logged `needle`.
async fn wait_for_log(gw: &Gateway, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !gw.log().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "the gateway never logged {needle:?}; log:\n{}",
            log_tail(gw, 30)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn start(config: &str) -> (Gateway, tempfile::TempDir) {
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("vmgw.toml");
    std::fs::write(&path, config).unwrap();
    let gw = Gateway::start_with(GatewayOptions {
        data_dir: Some(temp.path().join("data")),
        args: vec!["--config".into(), path.display().to_string()],
        ..GatewayOptions::default()
    });
    (gw, temp)
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, data: &[u8]) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PUT {bucket}/{key}: {e:?}"));
}

async fn get(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    vmgw_tests::get_bytes(s3, bucket, key).await
}

/// Keys and their bytes, shared with the readers, which see objects added while they run.
type Listed = Arc<Mutex<Vec<(String, Arc<Vec<u8>>)>>>;

/// Readers that GET every listed object (whole and ranged) in a loop and check the bytes.
struct Readers {
    stop: Arc<AtomicBool>,
    reads: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Readers {
    fn start(s3: &aws_sdk_s3::Client, objects: &Listed) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let tasks = (0..2)
            .map(|reader| {
                let (s3, objects) = (s3.clone(), Arc::clone(objects));
                let (stop, reads, failures) =
                    (Arc::clone(&stop), Arc::clone(&reads), Arc::clone(&failures));
                tokio::spawn(async move {
                    let mut round = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        let list = objects.lock().unwrap().clone();
                        for (key, data) in list {
                            let ranged = (round + reader) % 2 == 1;
                            let mut request = s3.get_object().bucket("hot").key(&key);
                            let expected: &[u8] = if ranged {
                                request = request.range("bytes=1000-70999");
                                &data[1000..71_000]
                            } else {
                                &data
                            };
                            let outcome = match request.send().await {
                                Ok(out) => match out.body.collect().await.map(|b| b.into_bytes()) {
                                    Ok(body) if body.as_ref() == expected => Ok(()),
                                    Ok(_) => Err(format!("{key}: wrong bytes (ranged {ranged})")),
                                    Err(e) => Err(format!("{key}: body failed: {e}")),
                                },
                                Err(e) => Err(format!("{key}: {e:?}")),
                            };
                            match outcome {
                                Ok(()) => {
                                    reads.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(e) => failures.lock().unwrap().push(e),
                            }
                        }
                        round += 1;
                    }
                })
            })
            .collect();
        Self {
            stop,
            reads,
            failures,
            tasks,
        }
    }

    /// Stops the readers; returns how many reads succeeded and the failures.
    async fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        let failures = self.failures.lock().unwrap().clone();
        (self.reads.load(Ordering::Relaxed), failures)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demotion_moves_least_recently_read_objects_while_reads_go_on() {
    let (mut gw, _temp) = start(
        "[[tiers]]\nname = \"ssd\"\npath = \"tiers/ssd\"\ncapacity = \"4MiB\"\nhigh_watermark = 80\nlow_watermark = 50\n\n\
         [[tiers]]\nname = \"hdd\"\npath = \"tiers/hdd\"\n\n\
         [placement]\ncheck_interval_ms = 200\n",
    );
    let s3 = gw.sdk();
    for bucket in ["hot", "copies"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let data: HashMap<String, Arc<Vec<u8>>> = (0..13u64)
        .map(|i| (format!("o{i:02}"), Arc::new(pattern(OBJECT, i))))
        .collect();

    // Twelve objects of 256 KiB: 75 % of the ssd, under its high watermark of 80 %.
    for i in 0..12 {
        let key = format!("o{i:02}");
        put(&s3, "hot", &key, &data[&key]).await;
        // Distinct write times: never-read objects are ordered by them.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ssd = tier_status(&gw, "ssd");
    assert_eq!(ssd["total_bytes"], SSD_CAPACITY, "{ssd}");
    assert_eq!(ssd["capacity_configured"], true, "{ssd}");
    let percent = ssd["used_percent"].as_f64().unwrap();
    assert!((75.0..80.0).contains(&percent), "{ssd}");

    // The four oldest are read, each in another way.
    assert_eq!(get(&s3, "hot", "o00").await, *data["o00"]);
    let ranged = s3
        .get_object()
        .bucket("hot")
        .key("o01")
        .range("bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(
        ranged.body.collect().await.unwrap().into_bytes().as_ref(),
        &data["o01"][100..200]
    );
    s3.copy_object()
        .bucket("copies")
        .key("o02-copy")
        .copy_source("hot/o02")
        .storage_class(StorageClass::Glacier)
        .send()
        .await
        .unwrap();
    let upload = s3
        .create_multipart_upload()
        .bucket("copies")
        .key("o03-parts")
        .storage_class(StorageClass::Glacier)
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap();
    let part = s3
        .upload_part_copy()
        .bucket("copies")
        .key("o03-parts")
        .upload_id(upload_id)
        .part_number(1)
        .copy_source("hot/o03")
        .send()
        .await
        .unwrap();
    s3.complete_multipart_upload()
        .bucket("copies")
        .key("o03-parts")
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.copy_part_result().unwrap().e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    let head_before = s3
        .head_object()
        .bucket("hot")
        .key("o04")
        .send()
        .await
        .unwrap();

    // The reads must survive a restart: the order below comes from the metadata store.
    gw.restart(true);
    let s3 = gw.sdk();

    // One more object takes the ssd over its high watermark.
    tokio::time::sleep(Duration::from_millis(5)).await;
    put(&s3, "hot", "o12", &data["o12"]).await;
    let stored = ssd_down_to_low(&gw, "first demotion").await;
    assert!(stored > 0);

    // 13 objects down to 50 %: the six least recently read went, the read ones stayed.
    let placements: Vec<(String, String)> = (0..13)
        .map(|i| {
            let key = format!("o{i:02}");
            let tier = tier_of(&gw, "hot", &key);
            (key, tier)
        })
        .collect();
    let on = |tier: &str| -> Vec<&str> {
        placements
            .iter()
            .filter(|(_, t)| t == tier)
            .map(|(k, _)| k.as_str())
            .collect()
    };
    assert_eq!(
        on("hdd"),
        ["o04", "o05", "o06", "o07", "o08", "o09"],
        "placements: {placements:?}\nlog:\n{}",
        log_tail(&gw, 30)
    );
    assert_eq!(
        on("ssd"),
        ["o00", "o01", "o02", "o03", "o10", "o11", "o12"],
        "placements: {placements:?}"
    );
    for (key, bytes) in &data {
        assert_eq!(
            md5_hex(&get(&s3, "hot", key).await),
            md5_hex(bytes),
            "{key}"
        );
    }
    // Demotion is invisible to S3: same class (STANDARD), ETag and modification time.
    let head_after = s3
        .head_object()
        .bucket("hot")
        .key("o04")
        .send()
        .await
        .unwrap();
    assert_eq!(head_after.storage_class(), None);
    assert_eq!(head_after.e_tag(), head_before.e_tag());
    let etag = format!("\"{}\"", md5_hex(&data["o04"]));
    assert_eq!(head_after.e_tag(), Some(etag.as_str()));
    assert_eq!(head_after.last_modified(), head_before.last_modified());
    assert!(gw.log().contains("above its high watermark"));
    wait_for_log(&gw, "tier is down to its low watermark").await;

    // Second round, with readers hammering every object while the demoter moves some.
    let listed: Listed = Arc::new(Mutex::new(
        data.iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect(),
    ));
    let readers = Readers::start(&s3, &listed);
    // Back to twelve objects on the ssd (75 %), then a thirteenth crosses 80 % again.
    for i in 0..6u64 {
        let key = format!("p{i:02}");
        let bytes = Arc::new(pattern(OBJECT, 100 + i));
        put(&s3, "hot", &key, &bytes).await;
        listed.lock().unwrap().push((key, bytes));
    }
    ssd_down_to_low(&gw, "demotion during reads").await;
    let keys: Vec<String> = listed
        .lock()
        .unwrap()
        .iter()
        .map(|(k, _)| k.clone())
        .collect();
    let on_hdd = keys
        .iter()
        .filter(|k| tier_of(&gw, "hot", k) == "hdd")
        .count();
    let (reads, failures) = readers.finish().await;
    assert!(failures.is_empty(), "failed reads: {failures:?}");
    assert!(reads > keys.len() as u64, "only {reads} reads");
    assert_eq!(on_hdd, 12, "six more objects should have been demoted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_fall_through_full_tiers_and_fail_only_when_all_are_full() {
    let (gw, _temp) = start(
        "[[tiers]]\nname = \"ssd\"\npath = \"tiers/ssd\"\ncapacity = \"128KiB\"\n\n\
         [[tiers]]\nname = \"hdd\"\npath = \"tiers/hdd\"\ncapacity = \"2MiB\"\n\n\
         [placement]\ncheck_interval_ms = 200\n",
    );
    let s3 = gw.sdk();
    s3.create_bucket().bucket("full").send().await.unwrap();

    // Larger than the ssd's whole capacity: written to the hdd instead, and read back.
    let big = pattern(300_000, 1);
    put(&s3, "full", "big", &big).await;
    assert_eq!(tier_of(&gw, "full", "big"), "hdd");
    let head = s3
        .head_object()
        .bucket("full")
        .key("big")
        .send()
        .await
        .unwrap();
    assert_eq!(head.storage_class(), None, "still STANDARD");
    assert_eq!(md5_hex(&get(&s3, "full", "big").await), md5_hex(&big));

    // A multipart part and a copy fall through the same way.
    let upload = s3
        .create_multipart_upload()
        .bucket("full")
        .key("parts")
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap();
    let part_data = pattern(200_000, 2);
    let part = s3
        .upload_part()
        .bucket("full")
        .key("parts")
        .upload_id(upload_id)
        .part_number(1)
        .body(ByteStream::from(part_data.clone()))
        .send()
        .await
        .unwrap();
    s3.complete_multipart_upload()
        .bucket("full")
        .key("parts")
        .upload_id(upload_id)
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
        .await
        .unwrap();
    assert_eq!(tier_of(&gw, "full", "parts"), "hdd");
    assert_eq!(
        md5_hex(&get(&s3, "full", "parts").await),
        md5_hex(&part_data)
    );
    s3.copy_object()
        .bucket("full")
        .key("big-copy")
        .copy_source("full/big")
        .send()
        .await
        .unwrap();
    assert_eq!(tier_of(&gw, "full", "big-copy"), "hdd");
    assert_eq!(md5_hex(&get(&s3, "full", "big-copy").await), md5_hex(&big));

    // What fits still goes to the ssd.
    let fits = pattern(100_000, 3);
    put(&s3, "full", "fits", &fits).await;
    assert_eq!(tier_of(&gw, "full", "fits"), "ssd");

    // Fill the hdd past its high watermark: it is the coldest, so the gateway warns.
    let fill = pattern(1_200_000, 4);
    put(&s3, "full", "fill", &fill).await;
    assert_eq!(tier_of(&gw, "full", "fill"), "hdd");
    wait_for_log(&gw, "coldest tier is above its high watermark").await;

    // No tier has room for this one: refused as StorageFull (507), nothing is left behind.
    let no_retry = aws_sdk_s3::Client::from_conf(
        s3.config()
            .to_builder()
            .retry_config(RetryConfig::disabled())
            .build(),
    );
    let hdd_before = tier_status(&gw, "hdd")["stored_bytes"].as_u64().unwrap();
    let err = no_retry
        .put_object()
        .bucket("full")
        .key("too-big")
        .body(ByteStream::from(pattern(200_000, 5)))
        .send()
        .await
        .unwrap_err();
    let status = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(err.code(), Some("StorageFull"), "{err:?}");
    assert_eq!(status, Some(507), "{err:?}");
    assert!(
        s3.head_object()
            .bucket("full")
            .key("too-big")
            .send()
            .await
            .is_err()
    );
    assert_eq!(
        tier_status(&gw, "hdd")["stored_bytes"].as_u64().unwrap(),
        hdd_before
    );
    // Small objects live in the metadata store and are still accepted.
    put(&s3, "full", "tiny", b"still room for this").await;
    assert_eq!(get(&s3, "full", "tiny").await, b"still room for this");
}
