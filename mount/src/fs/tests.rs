//! The file system against the in-memory store: no FUSE, no server, so these run in
//! milliseconds and can take thousands of random steps.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;

use super::{AttrChange, Fs, FsConfig};
use crate::attrs::Defaults;
use crate::error::FsError;
use crate::inode::ROOT;
use crate::s3::ObjectStore;
use crate::s3::mem::MemStore;

fn setup(prefix: &str) -> (Fs, Arc<MemStore>, tempfile::TempDir) {
    let store = Arc::new(MemStore::default());
    let staging = tempfile::tempdir().unwrap();
    let fs = Fs::new(
        store.clone(),
        FsConfig {
            prefix: prefix.into(),
            ttl: Duration::from_secs(1),
            defaults: Defaults {
                file_perm: 0o644,
                dir_perm: 0o755,
                uid: 0,
                gid: 0,
            },
            umask: None,
            read_only: false,
            staging_dir: staging.path().to_owned(),
        },
    );
    (fs, store, staging)
}

fn name(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn requests(store: &MemStore, kind: &str) -> u64 {
    store
        .requests
        .lock()
        .unwrap()
        .get(kind)
        .copied()
        .unwrap_or(0)
}

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_file_is_one_put_with_s3fs_metadata() {
    let (fs, store, _s) = setup("pre/");
    let (attr, fh) = fs
        .create(ROOT, name("f"), 0o640, 0o022, 7, 8)
        .await
        .unwrap();
    fs.write(attr.ino, fh, 0, b"hello").await.unwrap();
    fs.flush(attr.ino).await.unwrap();
    fs.release(attr.ino, fh).await;
    assert_eq!(store.body("pre/f").unwrap(), Bytes::from_static(b"hello"));
    assert_eq!(
        (
            requests(&store, "put"),
            requests(&store, "create_multipart")
        ),
        (1, 0)
    );
    let info = store.head("pre/f").await.unwrap().unwrap();
    let meta: HashMap<_, _> = info.metadata.into_iter().collect();
    assert_eq!(meta["mode"], (0o100_640).to_string());
    assert_eq!((meta["uid"].as_str(), meta["gid"].as_str()), ("7", "8"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequential_file_streams_in_parts_before_close() {
    let (fs, store, _s) = setup("");
    let (attr, fh) = fs.create(ROOT, name("big"), 0o644, 0, 0, 0).await.unwrap();
    let data = pattern(20 << 20, 3);
    for (i, chunk) in data.chunks(1 << 20).enumerate() {
        fs.write(attr.ino, fh, (i << 20) as u64, chunk)
            .await
            .unwrap();
    }
    // Two full 8 MiB parts left while the file was still being written.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(requests(&store, "upload_part"), 2);
    assert!(store.body("big").is_none(), "not visible before close");
    fs.flush(attr.ino).await.unwrap();
    assert_eq!(requests(&store, "upload_part"), 3);
    assert!(store.body("big").unwrap() == data);
    // Read back through the same handle: ranged GETs with read-ahead.
    let got = fs.read(attr.ino, fh, 9 << 20, 100_000).await.unwrap();
    assert_eq!(&got[..], &data[9 << 20..(9 << 20) + 100_000]);
    fs.release(attr.ino, fh).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overwrite_append_and_truncate_go_through_staging() {
    let (fs, store, _s) = setup("");
    store
        .put("f", Bytes::from(pattern(100_000, 1)), HashMap::new())
        .await
        .unwrap();
    let mut model = pattern(100_000, 1);
    let attr = fs.lookup(ROOT, name("f")).await.unwrap();
    let fh = fs.open(attr.ino, 2).await.unwrap();
    fs.write(attr.ino, fh, 500, b"middle").await.unwrap();
    model[500..506].copy_from_slice(b"middle");
    fs.write(attr.ino, fh, 100_000, b"tail").await.unwrap();
    model.extend_from_slice(b"tail");
    fs.setattr(attr.ino, Some(50_000), AttrChange::default())
        .await
        .unwrap();
    model.truncate(50_000);
    fs.flush(attr.ino).await.unwrap();
    assert!(store.body("f").unwrap() == model);
    fs.release(attr.ino, fh).await;
    // Truncate by path (no handle): saved at once.
    fs.setattr(attr.ino, Some(10), AttrChange::default())
        .await
        .unwrap();
    assert_eq!(store.body("f").unwrap().len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_upload_is_reported_until_the_last_close() {
    let (fs, store, _s) = setup("");
    let (attr, fh) = fs.create(ROOT, name("f"), 0o644, 0, 0, 0).await.unwrap();
    fs.write(attr.ino, fh, 0, b"doomed").await.unwrap();
    store.failing.store(true, Ordering::SeqCst);
    assert!(fs.flush(attr.ino).await.is_err());
    store.failing.store(false, Ordering::SeqCst);
    assert!(matches!(fs.flush(attr.ino).await, Err(FsError::Lost)));
    assert!(matches!(
        fs.write(attr.ino, fh, 6, b"x").await,
        Err(FsError::Lost)
    ));
    fs.release(attr.ino, fh).await;
    assert!(store.body("f").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directories_rmdir_and_a_paged_tree_rename() {
    let (fs, store, _s) = setup("");
    let d = fs.mkdir(ROOT, name("d"), 0o755, 0, 0, 0).await.unwrap();
    // More keys than one listing page.
    for i in 0..1500 {
        store
            .put(
                &format!("d/sub/f{i:04}"),
                Bytes::from(vec![1u8; i % 7]),
                HashMap::new(),
            )
            .await
            .unwrap();
    }
    assert!(matches!(
        fs.rmdir(ROOT, name("d")).await,
        Err(FsError::NotEmpty)
    ));
    let fh = fs.opendir(d.ino).await.unwrap();
    let names: Vec<String> = fs
        .readdir(fh)
        .unwrap()
        .iter()
        .map(|e| e.name.clone())
        .collect();
    assert_eq!(names, [".", "..", "sub"]);
    fs.releasedir(fh);
    fs.rename(ROOT, name("d"), ROOT, name("e"), 0)
        .await
        .unwrap();
    let keys = store.keys();
    assert_eq!(keys.len(), 1501, "the marker and 1500 files");
    assert!(keys.iter().all(|k| k.starts_with("e/")), "{:?}", &keys[..3]);
    assert_eq!(store.body("e/sub/f0006").unwrap().len(), 6);
    let sub = fs
        .lookup(fs.lookup(ROOT, name("e")).await.unwrap().ino, name("sub"))
        .await;
    let fh = fs.opendir(sub.unwrap().ino).await.unwrap();
    assert_eq!(fs.readdir(fh).unwrap().len(), 1502);
    assert!(matches!(
        fs.lookup(ROOT, name("d")).await,
        Err(FsError::NotFound)
    ));
}

/// Random writes, truncations, flushes, reopenings and reads against a model, checking
/// both what reads return and what the store holds after each flush.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_operations_match_the_model() {
    for seed in 1..=6u64 {
        let (fs, store, _s) = setup("m/");
        let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n.max(1)
        };
        let (attr, mut fh) = fs.create(ROOT, name("f"), 0o644, 0, 0, 0).await.unwrap();
        let ino = attr.ino;
        let mut model: Vec<u8> = Vec::new();
        for step in 0..400 {
            let op = next(10);
            if std::env::var_os("VMGW_MODEL_TRACE").is_some() {
                eprintln!("step {step} op {op} len {}", model.len());
            }
            match op {
                0..=4 => {
                    let offset = match next(3) {
                        0 => model.len() as u64,
                        1 => next(model.len() as u64 + 1),
                        _ => model.len() as u64 + next(20_000),
                    };
                    let len = if next(6) == 0 {
                        next(9 << 20)
                    } else {
                        next(40_000)
                    } as usize;
                    let data = pattern(len, next(u64::MAX));
                    if std::env::var_os("VMGW_MODEL_TRACE").is_some() {
                        eprintln!("  write {offset}+{len}");
                    }
                    fs.write(ino, fh, offset, &data).await.unwrap();
                    let end = offset as usize + len;
                    if model.len() < end {
                        model.resize(end, 0);
                    }
                    model[offset as usize..end].copy_from_slice(&data);
                }
                5 => {
                    let len = next(model.len() as u64 + 10_000);
                    fs.setattr(ino, Some(len), AttrChange::default())
                        .await
                        .unwrap();
                    model.resize(len as usize, 0);
                }
                6 => {
                    fs.flush(ino).await.unwrap();
                    assert!(
                        store.body("m/f").unwrap() == model,
                        "seed {seed} step {step}: store differs after flush"
                    );
                }
                7 => {
                    fs.release(ino, fh).await;
                    assert!(
                        store.body("m/f").unwrap() == model,
                        "seed {seed} step {step}"
                    );
                    // O_RDWR, sometimes with O_TRUNC.
                    let trunc = next(4) == 0;
                    fh = fs.open(ino, if trunc { 0o1002 } else { 2 }).await.unwrap();
                    if trunc {
                        model.clear();
                    } else if next(4) == 0 {
                        model.clear();
                        fs.setattr(ino, Some(0), AttrChange::default())
                            .await
                            .unwrap();
                    }
                }
                _ => {
                    let offset = next(model.len() as u64 + 1);
                    let len = next(3 << 20) as u32;
                    let got = fs.read(ino, fh, offset, len).await.unwrap();
                    let start = (offset as usize).min(model.len());
                    let end = (start + len as usize).min(model.len());
                    assert!(
                        got[..] == model[start..end],
                        "seed {seed} step {step}: read {offset}+{len} differs: got {} bytes, want {}, first difference at {:?}, store == model: {}",
                        got.len(),
                        end - start,
                        got.iter().zip(&model[start..end]).position(|(a, b)| a != b),
                        store.body("m/f").is_some_and(|b| b == model)
                    );
                }
            }
        }
        fs.release(ino, fh).await;
        assert!(
            store.body("m/f").unwrap() == model,
            "seed {seed}: final content"
        );
    }
}
