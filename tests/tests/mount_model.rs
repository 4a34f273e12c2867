//! Random file operations through vmgw-mount checked against an in-memory model: opens with
//! and without O_TRUNC, writes at the end (the streamed path), in the middle and past the
//! end (the staged path), truncation, fsync, close, reads, remount. Every content state and
//! every transition between them is reached; a seed names each run, so a failure replays.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;

use vmgw_tests::{ACCESS_KEY, Gateway, Mount, MountTarget, SECRET_KEY, pattern};

/// xorshift64: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const FILES: [&str; 3] = ["a", "dir/b", "c"];
/// Sizes straddle the 8 MiB part size, so streams that have sent parts are converted too.
const MAX_WRITE: u64 = 6 << 20;

fn run(seed: u64, steps: usize) {
    let gw = Gateway::start();
    let s3 = gw.sdk();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(s3.create_bucket().bucket("model").send())
        .unwrap();
    let target = MountTarget {
        endpoint: gw.endpoint.clone(),
        access_key: ACCESS_KEY.into(),
        secret_key: SECRET_KEY.into(),
        source: "model".into(),
    };
    let mut mount = Some(Mount::start(&target, &[]));
    std::fs::create_dir(mount.as_ref().unwrap().path("dir")).unwrap();
    let mut rng = Rng(seed | 1);
    let mut model: HashMap<&str, Vec<u8>> = HashMap::new();
    let mut open: HashMap<&str, File> = HashMap::new();
    let mut log = Vec::new();
    for step in 0..steps {
        let name = FILES[rng.below(FILES.len() as u64) as usize];
        let m = mount.as_ref().unwrap();
        let path = m.path(name);
        let op = rng.below(100);
        let context = |log: &Vec<String>| {
            format!("seed {seed}, step {step}; ops so far:\n{}", log.join("\n"))
        };
        match op {
            // Open (creating), sometimes truncating.
            0..=14 if !open.contains_key(name) => {
                let trunc = rng.below(3) == 0 || !model.contains_key(name);
                let f = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(trunc)
                    .open(&path)
                    .unwrap_or_else(|e| panic!("open {name}: {e}; {}", context(&log)));
                if trunc {
                    model.insert(name, Vec::new());
                    if rng.below(3) == 0 {
                        // A stream long enough to send parts before anything else happens.
                        let data = pattern((8 << 20) + rng.below(4 << 20) as usize, rng.next());
                        for (i, chunk) in data.chunks(1 << 20).enumerate() {
                            f.write_all_at(chunk, (i << 20) as u64).unwrap();
                        }
                        log.push(format!("stream {} bytes into {name}", data.len()));
                        model.insert(name, data);
                    }
                }
                model.entry(name).or_default();
                open.insert(name, f);
                log.push(format!("open {name} trunc={trunc}"));
            }
            // Write: at the end, in the middle or past the end.
            15..=59 if open.contains_key(name) => {
                let content = model.get_mut(name).unwrap();
                let len = content.len() as u64;
                let offset = match rng.below(4) {
                    0 | 1 => len,
                    2 => rng.below(len + 1),
                    _ => len + rng.below(100_000),
                };
                let size = if rng.below(4) == 0 {
                    rng.below(MAX_WRITE)
                } else {
                    rng.below(70_000)
                } as usize;
                let data = pattern(size, rng.next());
                open[name]
                    .write_all_at(&data, offset)
                    .unwrap_or_else(|e| panic!("write {name}: {e}; {}", context(&log)));
                let end = offset as usize + size;
                if content.len() < end {
                    content.resize(end, 0);
                }
                content[offset as usize..end].copy_from_slice(&data);
                log.push(format!("write {name} at {offset} len {size}"));
            }
            60..=67 if open.contains_key(name) => {
                let len = rng.below(model[name].len() as u64 + 50_000);
                open[name]
                    .set_len(len)
                    .unwrap_or_else(|e| panic!("truncate {name}: {e}; {}", context(&log)));
                model.get_mut(name).unwrap().resize(len as usize, 0);
                log.push(format!("truncate {name} to {len}"));
            }
            68..=74 if open.contains_key(name) => {
                open[name]
                    .sync_all()
                    .unwrap_or_else(|e| panic!("fsync {name}: {e}; {}", context(&log)));
                log.push(format!("fsync {name}"));
            }
            75..=84 if open.contains_key(name) => {
                open.remove(name);
                log.push(format!("close {name}"));
            }
            // Read back, through the open handle or by path.
            85..=96 if model.contains_key(name) => {
                let want = &model[name];
                let got = match open.get(name) {
                    Some(f) => {
                        let mut buf = vec![0u8; want.len() + 10];
                        let mut done = 0;
                        loop {
                            let n = f.read_at(&mut buf[done..], done as u64).unwrap();
                            if n == 0 {
                                break;
                            }
                            done += n;
                        }
                        buf.truncate(done);
                        buf
                    }
                    None => std::fs::read(&path).unwrap(),
                };
                log.push(format!("read {name}"));
                assert!(
                    got.len() == want.len() && got == *want,
                    "{name}: read {} bytes, model has {}; first difference at {:?}; {}",
                    got.len(),
                    want.len(),
                    got.iter().zip(want.iter()).position(|(a, b)| a != b),
                    context(&log)
                );
            }
            // Close everything and remount: all of it must have been saved.
            97..=99 => {
                open.clear();
                let mut old = mount.take().unwrap();
                assert!(old.stop().success());
                mount = Some(Mount::start(&target, &[]));
                log.push("remount".into());
            }
            _ => {}
        }
    }
    drop(open);
    // The run must have exercised what it is for.
    let count = |prefix: &str| log.iter().filter(|l| l.starts_with(prefix)).count();
    let largest = model.values().map(Vec::len).max().unwrap_or(0);
    eprintln!(
        "seed {seed}: {} streams, {} writes, {} reads, {} truncates, {} fsyncs, {} remounts, largest file {largest} bytes",
        count("stream"),
        count("write"),
        count("read"),
        count("truncate"),
        count("fsync"),
        count("remount")
    );
    assert!(count("write") >= 20 && count("read") >= 15 && count("truncate") >= 5);
    assert!(
        count("remount") >= 1 && count("stream") >= 1,
        "too tame a run"
    );
    let m = mount.as_ref().unwrap();
    for (name, want) in &model {
        let got = std::fs::read(m.path(name)).unwrap();
        assert!(got == *want, "{name} differs at the end (seed {seed})");
    }
}

#[test]
fn random_operations_match_the_model() {
    // VMGW_MODEL_SEED=N replays (or explores) one seed.
    let seeds = match std::env::var("VMGW_MODEL_SEED") {
        Ok(seed) => vec![seed.parse().expect("VMGW_MODEL_SEED is a number")],
        Err(_) => vec![1, 0xfeed, 0x5eed_0003],
    };
    for seed in seeds {
        run(seed, 250);
    }
}
