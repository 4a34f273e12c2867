//! The file system against the in-memory store: no FUSE, no server, so these run in
//! milliseconds and can take thousands of random steps.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;

use super::{AttrChange, Fs, FsConfig};
use crate::attrs::{Defaults, FileKind};
use crate::error::FsError;
use crate::inode::ROOT;
use crate::s3::mem::MemStore;
use crate::s3::{Capabilities, ObjectStore};

fn setup(prefix: &str) -> (Fs, Arc<MemStore>, tempfile::TempDir) {
    setup_with(prefix, Capabilities::default(), Duration::from_secs(1))
}

/// What vmgw announces.
const VMGW: Capabilities = Capabilities {
    rename_object: true,
    append: true,
    list_metadata: true,
};

fn setup_with(
    prefix: &str,
    capabilities: Capabilities,
    ttl: Duration,
) -> (Fs, Arc<MemStore>, tempfile::TempDir) {
    let store = Arc::new(MemStore::with_capabilities(capabilities));
    let staging = tempfile::tempdir().unwrap();
    let fs = Fs::new(
        store.clone(),
        FsConfig {
            prefix: prefix.into(),
            ttl,
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
    assert_eq!(requests(&store, "append"), 0, "not announced, not used");
    // The test's own PUT, then the download and the whole upload.
    assert_eq!((requests(&store, "get"), requests(&store, "put")), (1, 2));
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
    let failure = fs.flush(attr.ino).await.unwrap_err().errno();
    store.failing.store(false, Ordering::SeqCst);
    let later = fs.flush(attr.ino).await.unwrap_err();
    assert!(matches!(later, FsError::Lost { .. }), "{later:?}");
    // Whoever flushes next learns the original failure, not a generic EIO.
    assert_eq!(later.errno(), failure);
    assert!(matches!(
        fs.write(attr.ino, fh, 6, b"x").await,
        Err(FsError::Lost { .. })
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
/// both what reads return and what the store holds after each flush; against a plain
/// store and one offering appends (writes at the end then take the append path).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_operations_match_the_model() {
    for (seed, capabilities) in (1..=6u64).flat_map(|s| [(s, Capabilities::default()), (s, VMGW)]) {
        let (fs, store, _s) = setup_with("m/", capabilities, Duration::from_secs(1));
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
                        "seed {seed} {capabilities:?} step {step}: store differs after flush"
                    );
                }
                7 => {
                    fs.release(ino, fh).await;
                    assert!(
                        store.body("m/f").unwrap() == model,
                        "seed {seed} {capabilities:?} step {step}"
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
                        "seed {seed} {capabilities:?} step {step}: read {offset}+{len} differs: got {} bytes, want {}, first difference at {:?}, store == model: {}",
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
            "seed {seed} {capabilities:?}: final content"
        );
        // Writes at the end of a reopened file took the append path where offered.
        assert_eq!(
            requests(&store, "append") > 0,
            capabilities.append,
            "seed {seed} {capabilities:?}"
        );
    }
}

/// O_WRONLY | O_APPEND.
const O_APPEND_WRONLY: i32 = 0o2001;

/// An existing object of `len` patterned bytes with s3fs metadata.
async fn existing(store: &MemStore, key: &str, len: usize) -> Vec<u8> {
    let data = pattern(len, 11);
    let meta = HashMap::from([
        ("mode".to_owned(), (0o100_600).to_string()),
        ("uid".to_owned(), "5".to_owned()),
        ("gid".to_owned(), "6".to_owned()),
        ("mtime".to_owned(), "1000".to_owned()),
    ]);
    store
        .put(key, Bytes::from(data.clone()), meta)
        .await
        .unwrap();
    data
}

fn now_secs() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_send_only_the_new_bytes() {
    let (fs, store, _s) = setup_with("", VMGW, Duration::from_secs(1));
    let mut model = existing(&store, "log", 100_000).await;
    let started = now_secs();
    let attr = fs.lookup(ROOT, name("log")).await.unwrap();
    let fh = fs.open(attr.ino, O_APPEND_WRONLY).await.unwrap();
    fs.write(attr.ino, fh, 100_000, b"line one\n")
        .await
        .unwrap();
    fs.write(attr.ino, fh, 100_009, b"line two\n")
        .await
        .unwrap();
    model.extend_from_slice(b"line one\nline two\n");
    // Read back before it is sent: the old bytes from the server, the new from memory.
    let got = fs.read(attr.ino, fh, 99_990, 100).await.unwrap();
    assert_eq!(&got[..], &model[99_990..]);
    fs.flush(attr.ino).await.unwrap();
    assert!(store.body("log").unwrap() == model);
    assert_eq!(store.appended_bytes.load(Ordering::SeqCst), 18);
    assert_eq!(
        (
            requests(&store, "append"),
            requests(&store, "get"),
            requests(&store, "put")
        ),
        (1, 1, 1),
        "one append; the only GET was the read of the old bytes, the PUT the test's own"
    );
    // The append kept the metadata; the new mtime was written once, the rest kept.
    let meta = store.metadata("log").unwrap();
    assert_eq!(requests(&store, "copy"), 1);
    assert!(meta["mtime"].parse::<i64>().unwrap() >= started, "{meta:?}");
    assert_eq!(meta["mode"], (0o100_600).to_string());
    assert_eq!((meta["uid"].as_str(), meta["gid"].as_str()), ("5", "6"));
    // Nothing new: a second flush sends nothing.
    fs.flush(attr.ino).await.unwrap();
    assert_eq!(requests(&store, "append") + requests(&store, "copy"), 2);
    fs.release(attr.ino, fh).await;

    // Every reopening with `>>` is one more append of just its bytes.
    for i in 0..5u8 {
        let fh = fs.open(attr.ino, O_APPEND_WRONLY).await.unwrap();
        let line = [b'a' + i; 10];
        fs.write(attr.ino, fh, model.len() as u64, &line)
            .await
            .unwrap();
        model.extend_from_slice(&line);
        fs.flush(attr.ino).await.unwrap();
        fs.release(attr.ino, fh).await;
        let shown = fs.getattr(attr.ino).await.unwrap().mtime;
        let shown = shown
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(store.metadata("log").unwrap()["mtime"], shown.to_string());
    }
    assert!(store.body("log").unwrap() == model);
    assert_eq!(requests(&store, "append"), 6);
    assert_eq!(store.appended_bytes.load(Ordering::SeqCst), 18 + 50);
    assert_eq!((requests(&store, "get"), requests(&store, "put")), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_append_streams_in_bounded_pieces() {
    let (fs, store, _s) = setup_with("", VMGW, Duration::from_secs(1));
    let mut model = existing(&store, "big", 1 << 20).await;
    let attr = fs.lookup(ROOT, name("big")).await.unwrap();
    let fh = fs.open(attr.ino, O_APPEND_WRONLY).await.unwrap();
    let tail = pattern(20 << 20, 12);
    for chunk in tail.chunks(1 << 20) {
        fs.write(attr.ino, fh, model.len() as u64, chunk)
            .await
            .unwrap();
        model.extend_from_slice(chunk);
    }
    // Two 8 MiB pieces left while it was written; 4 MiB wait for the close.
    assert_eq!(requests(&store, "append"), 2);
    assert_eq!(store.appended_bytes.load(Ordering::SeqCst), 16 << 20);
    let got = fs.read(attr.ino, fh, 16 << 20, 2 << 20).await;
    assert!(got.unwrap()[..] == model[16 << 20..18 << 20]);
    fs.flush(attr.ino).await.unwrap();
    fs.release(attr.ino, fh).await;
    assert_eq!(requests(&store, "append"), 3);
    assert_eq!(store.appended_bytes.load(Ordering::SeqCst), 20 << 20);
    assert_eq!(requests(&store, "put") + requests(&store, "upload_part"), 1);
    assert!(store.body("big").unwrap() == model);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_elsewhere_after_appending_stages_the_server_bytes_and_the_pending() {
    let (fs, store, _s) = setup_with("", VMGW, Duration::from_secs(1));
    let mut model = existing(&store, "f", 100_000).await;
    let attr = fs.lookup(ROOT, name("f")).await.unwrap();
    let fh = fs.open(attr.ino, 2).await.unwrap();
    let tail = pattern(5000, 13);
    fs.write(attr.ino, fh, 100_000, &tail).await.unwrap();
    model.extend_from_slice(&tail);
    fs.write(attr.ino, fh, 10, b"XY").await.unwrap();
    model[10..12].copy_from_slice(b"XY");
    assert_eq!(fs.read(attr.ino, fh, 0, 200_000).await.unwrap(), model);
    fs.flush(attr.ino).await.unwrap();
    assert!(store.body("f").unwrap() == model);
    assert_eq!(
        (
            requests(&store, "append"),
            requests(&store, "get"),
            requests(&store, "put")
        ),
        (0, 1, 2),
        "the initial put, the download, the whole upload"
    );
    fs.release(attr.ino, fh).await;

    // A piece already sent, more pending, then a truncation into the sent part.
    let fh = fs.open(attr.ino, 2).await.unwrap();
    let tail = pattern(9 << 20, 14);
    fs.write(attr.ino, fh, model.len() as u64, &tail)
        .await
        .unwrap();
    model.extend_from_slice(&tail);
    assert_eq!(requests(&store, "append"), 1, "a full piece left");
    fs.write(attr.ino, fh, model.len() as u64, b"pending")
        .await
        .unwrap();
    model.extend_from_slice(b"pending");
    let len = model.len() - 3000;
    fs.setattr(attr.ino, Some(len as u64), AttrChange::default())
        .await
        .unwrap();
    model.truncate(len);
    fs.flush(attr.ino).await.unwrap();
    fs.release(attr.ino, fh).await;
    assert!(store.body("f").unwrap() == model);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_to_an_object_changed_elsewhere_is_eio_not_a_rewrite() {
    let (fs, store, _s) = setup_with("", VMGW, Duration::from_secs(1));
    existing(&store, "f", 1000).await;
    let attr = fs.lookup(ROOT, name("f")).await.unwrap();
    let fh = fs.open(attr.ino, O_APPEND_WRONLY).await.unwrap();
    fs.write(attr.ino, fh, 1000, b"mine").await.unwrap();
    // Another writer replaces the object meanwhile.
    store
        .put("f", Bytes::from_static(b"theirs"), HashMap::new())
        .await
        .unwrap();
    let err = fs.flush(attr.ino).await.unwrap_err();
    assert!(matches!(err, FsError::AppendConflict), "{err:?}");
    assert_eq!(err.errno(), fuser::Errno::EIO);
    assert_eq!(store.body("f").unwrap(), Bytes::from_static(b"theirs"));
    // Reported until the last close, never silently dropped.
    assert!(matches!(
        fs.flush(attr.ino).await,
        Err(FsError::Lost { .. })
    ));
    assert!(matches!(
        fs.write(attr.ino, fh, 1004, b"x").await,
        Err(FsError::Lost { .. })
    ));
    fs.release(attr.ino, fh).await;
    assert_eq!(store.body("f").unwrap(), Bytes::from_static(b"theirs"));
    assert_eq!(
        requests(&store, "put"),
        2,
        "no rewrite over the other writer"
    );

    // The same when the pending bytes must be staged (a write elsewhere) and the object
    // is no longer the size this mount knew.
    let (fs, store, _s) = setup_with("", VMGW, Duration::from_secs(1));
    existing(&store, "g", 1000).await;
    let attr = fs.lookup(ROOT, name("g")).await.unwrap();
    let fh = fs.open(attr.ino, 2).await.unwrap();
    fs.write(attr.ino, fh, 1000, b"mine").await.unwrap();
    store
        .put("g", Bytes::from_static(b"theirs"), HashMap::new())
        .await
        .unwrap();
    let err = fs.write(attr.ino, fh, 0, b"x").await.unwrap_err();
    assert!(matches!(err, FsError::AppendConflict), "{err:?}");
    fs.release(attr.ino, fh).await;
    assert_eq!(store.body("g").unwrap(), Bytes::from_static(b"theirs"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_out_of_parts_is_rewritten_whole_then_appended_to_again() {
    let (fs, store, _s) = setup_with("", VMGW, Duration::from_secs(1));
    store.part_limit.store(2, Ordering::SeqCst);
    let mut model = existing(&store, "f", 50_000).await;
    let attr = fs.lookup(ROOT, name("f")).await.unwrap();
    for round in 0..3u8 {
        let fh = fs.open(attr.ino, O_APPEND_WRONLY).await.unwrap();
        let line = [b'0' + round; 100];
        fs.write(attr.ino, fh, model.len() as u64, &line)
            .await
            .unwrap();
        model.extend_from_slice(&line);
        fs.flush(attr.ino).await.unwrap();
        fs.release(attr.ino, fh).await;
        assert!(store.body("f").unwrap() == model, "round {round}");
    }
    // Round 0 appended (2 parts); round 1 was refused and rewrote the object (1 part);
    // round 2 appended again.
    assert_eq!(requests(&store, "append"), 3);
    assert_eq!((requests(&store, "get"), requests(&store, "put")), (1, 2));
    assert_eq!(
        store.metadata("f").unwrap()["mode"],
        (0o100_600).to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_whose_answer_was_lost_is_not_sent_twice() {
    let (fs, store, _s) = setup_with("", VMGW, Duration::from_secs(1));
    let mut model = existing(&store, "f", 4000).await;
    store.lose_append_reply.store(true, Ordering::SeqCst);
    let attr = fs.lookup(ROOT, name("f")).await.unwrap();
    let fh = fs.open(attr.ino, O_APPEND_WRONLY).await.unwrap();
    fs.write(attr.ino, fh, 4000, b"once").await.unwrap();
    model.extend_from_slice(b"once");
    fs.flush(attr.ino).await.unwrap();
    fs.release(attr.ino, fh).await;
    assert!(store.body("f").unwrap() == model);
    // Besides the lookup's HEAD, the check read back the object's size and only the
    // appended range.
    assert_eq!((requests(&store, "head"), requests(&store, "get")), (2, 1));
}

/// `ls -l` against a store listing with metadata: one LIST per 1000 names, no HEAD, the
/// attributes as stored; once they went stale, a walk re-lists a page per 1000 names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_with_metadata_answers_the_stat_walk() {
    const COUNT: usize = 2500;
    let ttl = Duration::from_millis(300);
    let (fs, store, _s) = setup_with("", VMGW, ttl);
    for i in 0..COUNT {
        let meta = match i % 3 {
            0 => HashMap::new(),
            1 => HashMap::from([
                ("mode".to_owned(), (0o100_640).to_string()),
                ("uid".to_owned(), i.to_string()),
                ("mtime".to_owned(), "1234".to_owned()),
            ]),
            _ => HashMap::from([("mode".to_owned(), (0o120_777).to_string())]),
        };
        store
            .put(&format!("f{i:04}"), Bytes::from(vec![b'x'; i % 50]), meta)
            .await
            .unwrap();
    }
    store
        .put("sub/inner", Bytes::new(), HashMap::new())
        .await
        .unwrap();
    let check = |i: usize, a: &super::Attr| {
        assert_eq!(a.size, (i % 50) as u64, "f{i:04}");
        match i % 3 {
            0 => assert_eq!((a.kind, a.perm, a.uid), (FileKind::File, 0o644, 0)),
            1 => {
                assert_eq!((a.kind, a.perm, a.uid), (FileKind::File, 0o640, i as u32));
                assert_eq!(a.mtime, std::time::UNIX_EPOCH + Duration::from_secs(1234));
            }
            _ => assert_eq!(a.kind, FileKind::Symlink),
        }
    };
    let fh = fs.opendir(ROOT).await.unwrap();
    let entries = fs.readdir(fh).unwrap();
    assert_eq!(entries.len(), COUNT + 3, ". .. sub and the files");
    assert_eq!(requests(&store, "list"), 3, "pages of 1000");
    for i in 0..COUNT {
        let a = fs.lookup(ROOT, name(&format!("f{i:04}"))).await.unwrap();
        check(i, &a);
    }
    assert_eq!(requests(&store, "head"), 0);
    assert_eq!(
        requests(&store, "list"),
        3,
        "lookups served from the listing"
    );
    fs.releasedir(fh);

    // Stale now: the walk lists one page per 1000 names again, still without a HEAD.
    tokio::time::sleep(ttl * 2).await;
    for i in 0..COUNT {
        let a = fs.lookup(ROOT, name(&format!("f{i:04}"))).await.unwrap();
        check(i, &a);
    }
    assert_eq!(requests(&store, "head"), 0);
    assert_eq!(requests(&store, "list"), 6);
    // A directory's attributes are not in a listing: its marker is asked for.
    let sub = fs.lookup(ROOT, name("sub")).await.unwrap();
    assert_eq!(sub.kind, FileKind::Directory);
    assert_eq!(requests(&store, "head"), 1);
    // A name deleted since is not served from the old listing.
    store.delete("f0001").await.unwrap();
    tokio::time::sleep(ttl * 2).await;
    assert!(matches!(
        fs.lookup(ROOT, name("f0001")).await,
        Err(FsError::NotFound)
    ));
}

/// The same walk against a plain store: one HEAD per name (fetched ahead, in parallel).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_listing_metadata_the_walk_heads_every_name() {
    let (fs, store, _s) = setup("");
    for i in 0..300 {
        store
            .put(
                &format!("f{i:03}"),
                Bytes::from(vec![1u8; i]),
                HashMap::new(),
            )
            .await
            .unwrap();
    }
    let fh = fs.opendir(ROOT).await.unwrap();
    for i in 0..300 {
        let a = fs.lookup(ROOT, name(&format!("f{i:03}"))).await.unwrap();
        assert_eq!(a.size, i as u64);
    }
    fs.releasedir(fh);
    assert_eq!(requests(&store, "list"), 1);
    assert_eq!(requests(&store, "head"), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_created_in_a_new_directory_cost_no_lookups() {
    let (fs, store, _s) = setup("");
    // The kernel looks a name up before mkdir and before each exclusive create.
    assert!(matches!(
        fs.lookup(ROOT, name("new")).await,
        Err(FsError::NotFound)
    ));
    let d = fs.mkdir(ROOT, name("new"), 0o755, 0, 0, 0).await.unwrap();
    let heads = requests(&store, "head");
    let lists = requests(&store, "list");
    for i in 0..20 {
        let file = format!("f{i}");
        assert!(matches!(
            fs.lookup(d.ino, name(&file)).await,
            Err(FsError::NotFound)
        ));
        let (attr, fh) = fs.create(d.ino, name(&file), 0o644, 0, 0, 0).await.unwrap();
        fs.write(attr.ino, fh, 0, file.as_bytes()).await.unwrap();
        fs.release(attr.ino, fh).await;
        // What this mount created is found at once.
        assert_eq!(fs.lookup(d.ino, name(&file)).await.unwrap().ino, attr.ino);
    }
    assert_eq!(
        requests(&store, "head"),
        heads,
        "no HEAD for names in a new directory"
    );
    assert_eq!(requests(&store, "list"), lists, "no LIST either");
    assert_eq!(store.body("new/f7").unwrap(), Bytes::from_static(b"f7"));

    // A name missed once is not asked for again within the TTL; after it, it is.
    assert!(fs.lookup(ROOT, name("gone")).await.is_err());
    let heads = requests(&store, "head");
    assert!(fs.lookup(ROOT, name("gone")).await.is_err());
    assert_eq!(requests(&store, "head"), heads);
    store
        .put("gone", Bytes::from_static(b"now here"), HashMap::new())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(fs.lookup(ROOT, name("gone")).await.unwrap().size, 8);
}
