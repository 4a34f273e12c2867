//! Crash safety: kill -9 during concurrent PUTs and multipart uploads, restart, and check
//! that every key is absent or whole, that every acknowledged write survived, and that no
//! orphaned data or temporary file is left on the tiers.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use vmgw_tests::{Gateway, GatewayOptions, md5_hex, pattern};

const BUCKET: &str = "crash";
const PART: usize = 5 << 20;

/// What the client sent for one write.
#[derive(Clone)]
struct Sent {
    md5: String,
    etag: String,
    /// Blobs the object occupies when stored (one per part; zero when inline).
    blobs: usize,
}

fn multipart_etag(parts: &[Vec<u8>]) -> String {
    let mut concat = Vec::new();
    for p in parts {
        concat.extend(hex_simd::decode_to_vec(md5_hex(p)).unwrap());
    }
    format!("{}-{}", md5_hex(&concat), parts.len())
}

async fn single_put(
    s3: aws_sdk_s3::Client,
    key: String,
    data: Vec<u8>,
    blobs: usize,
) -> Result<Sent, String> {
    let sent = Sent {
        md5: md5_hex(&data),
        etag: md5_hex(&data),
        blobs,
    };
    s3.put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from(data))
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(sent)
}

async fn multipart_put(
    s3: aws_sdk_s3::Client,
    key: String,
    parts: Vec<Vec<u8>>,
) -> Result<Sent, String> {
    let whole: Vec<u8> = parts.concat();
    let sent = Sent {
        md5: md5_hex(&whole),
        etag: multipart_etag(&parts),
        blobs: parts.len(),
    };
    let upload = s3
        .create_multipart_upload()
        .bucket(BUCKET)
        .key(&key)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let id = upload.upload_id().unwrap().to_owned();
    let mut done = Vec::new();
    for (i, part) in parts.into_iter().enumerate() {
        let n = i32::try_from(i + 1).unwrap();
        let out = s3
            .upload_part()
            .bucket(BUCKET)
            .key(&key)
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(part))
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket(BUCKET)
        .key(&key)
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(sent)
}

/// Every file under the tier directories: (data files, anything else).
fn tier_files(data_dir: &Path) -> (Vec<String>, Vec<String>) {
    let mut data = Vec::new();
    let mut other = Vec::new();
    let mut stack = vec![data_dir.join("tiers")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                data.push(name);
            } else {
                other.push(path.display().to_string());
            }
        }
    }
    (data, other)
}

fn any_temp_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else if entry.file_name().to_string_lossy().ends_with(".tmp") {
                found.push(entry.path().display().to_string());
            }
        }
    }
    found
}

enum Payload {
    Single(Vec<u8>, usize),
    Multipart(Vec<Vec<u8>>),
}

impl Payload {
    fn sent(&self) -> Sent {
        match self {
            Self::Single(data, blobs) => Sent {
                md5: md5_hex(data),
                etag: md5_hex(data),
                blobs: *blobs,
            },
            Self::Multipart(parts) => Sent {
                md5: md5_hex(&parts.concat()),
                etag: multipart_etag(parts),
                blobs: parts.len(),
            },
        }
    }
}

/// The write of key `k{i}` in `round`: multipart for two keys in ten, inline-sized for one,
/// single PUTs of 0.4 to 40 MB for the rest (spread so that writes end at different times).
fn plan(round: u64, i: usize) -> (String, Payload) {
    let seed = round * 100 + i as u64;
    let payload = match i % 10 {
        0 | 5 => Payload::Multipart(vec![
            pattern(PART, seed),
            pattern(PART, seed + 1),
            pattern(777_777, seed + 2),
        ]),
        3 => Payload::Single(pattern(500, seed), 0),
        _ => Payload::Single(pattern(100_000 * (i + 1) * (i + 1), seed), 1),
    };
    (format!("k{i}"), payload)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_during_concurrent_puts_leaves_whole_objects_and_no_orphans() {
    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("vmgw.toml");
    // Inline objects up to 1 KiB, so the test knows which objects occupy blobs.
    std::fs::write(&config, "[storage]\ninline_threshold = 1024\n").unwrap();
    let options = GatewayOptions {
        data_dir: Some(temp.path().join("data")),
        args: vec!["--config".into(), config.display().to_string()],
        ..GatewayOptions::default()
    };
    let mut gw = Gateway::start_with(options);
    gw.sdk()
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();

    // Every version ever sent per key, and the acknowledged ones.
    let mut sent: HashMap<String, Vec<Sent>> = HashMap::new();
    let mut acknowledged: HashMap<String, Sent> = HashMap::new();

    // Older versions that the crashing round overwrites.
    for i in 0..10 {
        let key = format!("k{i}");
        let v = single_put(
            gw.sdk(),
            key.clone(),
            pattern(300_000 + i * 1000, 1000 + i as u64),
            1,
        )
        .await
        .unwrap();
        sent.entry(key.clone()).or_default().push(v.clone());
        acknowledged.insert(key, v);
    }

    for round in 0..3u64 {
        let s3 = gw.sdk();
        // Generated before any request starts, so all writes are in flight together.
        let plans: Vec<(String, Payload)> = (0..20).map(|i| plan(round, i)).collect();
        let mut tasks = Vec::new();
        let acks = Arc::new(AtomicUsize::new(0));
        // Woken directly by the writers: a timer-driven poll could be starved while the
        // runtime's workers are busy sending bodies.
        let acked = Arc::new(tokio::sync::Notify::new());
        // Digests first: hashing hundreds of MB between spawns would stagger the writes.
        for (key, payload) in &plans {
            let expected = payload.sent();
            let versions = sent.entry(key.clone()).or_default();
            if !versions.iter().any(|v| v.md5 == expected.md5) {
                versions.push(expected);
            }
        }
        for (key, payload) in plans {
            let s3 = s3.clone();
            let acks = Arc::clone(&acks);
            let acked = Arc::clone(&acked);
            let task_key = key.clone();
            tasks.push((
                key,
                tokio::spawn(async move {
                    let result = match payload {
                        Payload::Multipart(parts) => multipart_put(s3, task_key, parts).await,
                        Payload::Single(data, blobs) => single_put(s3, task_key, data, blobs).await,
                    };
                    if result.is_ok() {
                        acks.fetch_add(1, Ordering::SeqCst);
                        acked.notify_one();
                    }
                    result
                }),
            ));
        }
        // Pull the plug once a few writes (more each round) are acknowledged and the rest
        // are still in flight.
        let kill_after = 2 + 5 * usize::try_from(round).unwrap();
        while acks.load(Ordering::SeqCst) < kill_after {
            acked.notified().await;
        }
        gw.kill();
        let mut finished = 0;
        for (key, task) in tasks {
            if let Ok(v) = task.await.unwrap() {
                finished += 1;
                acknowledged.insert(key, v);
            }
        }
        eprintln!("round {round}: {finished} of 20 writes acknowledged before the kill");
        assert!(
            finished < 20,
            "round {round}: the kill came after every write finished"
        );

        gw.restart(false);
        let s3 = gw.sdk();
        // Uploads cut off before completion stay pending, as in S3; abort them.
        let pending = s3
            .list_multipart_uploads()
            .bucket(BUCKET)
            .send()
            .await
            .unwrap();
        for upload in pending.uploads() {
            s3.abort_multipart_upload()
                .bucket(BUCKET)
                .key(upload.key().unwrap())
                .upload_id(upload.upload_id().unwrap())
                .send()
                .await
                .unwrap();
        }

        // Every key is absent or exactly one of the versions sent; acknowledged ones exist.
        let mut expected_blobs = 0;
        let mut present = HashSet::new();
        for (key, versions) in &sent {
            match s3.get_object().bucket(BUCKET).key(key).send().await {
                Ok(out) => {
                    let etag = out.e_tag().unwrap().trim_matches('"').to_owned();
                    let body = out.body.collect().await.unwrap().into_bytes();
                    let md5 = md5_hex(&body);
                    let version = versions.iter().find(|v| v.md5 == md5).unwrap_or_else(|| {
                        panic!(
                            "round {round}: {key} holds bytes no client sent ({} bytes)",
                            body.len()
                        )
                    });
                    assert_eq!(etag, version.etag, "round {round}: ETag of {key}");
                    expected_blobs += version.blobs;
                    present.insert(key.clone());
                }
                Err(e) => {
                    let code = e.into_service_error().meta().code().map(str::to_owned);
                    assert_eq!(code.as_deref(), Some("NoSuchKey"), "round {round}: {key}");
                }
            }
        }
        for key in acknowledged.keys() {
            assert!(
                present.contains(key),
                "round {round}: acknowledged object {key} was lost"
            );
        }

        // No orphans: once reclamation of replaced versions has run, the tiers hold exactly
        // the blobs of the objects present.
        let mut files = tier_files(&gw.data_dir);
        for _ in 0..100 {
            if files.0.len() == expected_blobs {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            files = tier_files(&gw.data_dir);
        }
        assert_eq!(
            files.0.len(),
            expected_blobs,
            "round {round}: data files on the tiers vs blobs of live objects"
        );
        assert!(
            files.1.is_empty(),
            "round {round}: unexpected files on the tiers: {:?}",
            files.1
        );
        let temps = any_temp_files(&gw.data_dir);
        assert!(
            temps.is_empty(),
            "round {round}: temporary files left: {temps:?}"
        );
    }
}
