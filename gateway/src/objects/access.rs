//! When objects were last read, for demoting the least recently read first.
//!
//! A GET must not pay for a metadata commit, so reads are noted in memory (a hash map
//! update under a short lock) and written to the metadata store's `reads` table in one
//! batch per placement check, and once more at shutdown. A crash loses at most one
//! interval of reads, which only makes those objects look a little colder than they are.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::Notify;

use super::now_ms;
use crate::meta::ReadMark;

/// Reads noted before a flush is asked for early, bounding the memory the map takes when
/// many distinct objects are read between two checks.
const EARLY_FLUSH: usize = 100_000;

#[derive(Default)]
struct Pending {
    /// Bucket id → key → last read (ms since the epoch); nested so a repeated read of the
    /// same key allocates nothing.
    reads: HashMap<u64, HashMap<String, i64>>,
    len: usize,
}

#[derive(Default)]
pub struct AccessLog {
    pending: Mutex<Pending>,
    flush_wanted: Notify,
}

impl AccessLog {
    /// Notes that `key` was read now.
    pub fn record(&self, bucket_id: u64, key: &str) {
        self.record_at(bucket_id, key, now_ms());
    }

    fn record_at(&self, bucket_id: u64, key: &str, at_ms: i64) {
        let mut pending = self.pending.lock().expect("access lock");
        let bucket = pending.reads.entry(bucket_id).or_default();
        if let Some(last) = bucket.get_mut(key) {
            *last = (*last).max(at_ms);
            return;
        }
        bucket.insert(key.to_owned(), at_ms);
        pending.len += 1;
        if pending.len == EARLY_FLUSH {
            self.flush_wanted.notify_one();
        }
    }

    /// The read of `key` noted since the last flush, if any.
    pub fn pending(&self, bucket_id: u64, key: &str) -> Option<i64> {
        let pending = self.pending.lock().expect("access lock");
        pending.reads.get(&bucket_id)?.get(key).copied()
    }

    /// Takes every read noted so far.
    pub fn take(&self) -> Vec<ReadMark> {
        let pending = std::mem::take(&mut *self.pending.lock().expect("access lock"));
        let mut out = Vec::with_capacity(pending.len);
        for (bucket_id, keys) in pending.reads {
            out.extend(keys.into_iter().map(|(key, at_ms)| ReadMark {
                bucket_id,
                key,
                at_ms,
            }));
        }
        out
    }

    /// Puts back reads whose flush failed, to be written with the next batch.
    pub fn restore(&self, marks: Vec<ReadMark>) {
        for mark in marks {
            self.record_at(mark.bucket_id, &mark.key, mark.at_ms);
        }
    }

    /// Resolves when enough reads are pending that they should be flushed now.
    pub async fn flush_wanted(&self) {
        self.flush_wanted.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_read_per_object() {
        let log = AccessLog::default();
        log.record_at(1, "a", 10);
        log.record_at(1, "a", 30);
        log.record_at(1, "a", 20);
        log.record_at(2, "a", 5);
        let mut marks = log.take();
        marks.sort_by_key(|m| m.bucket_id);
        assert_eq!(
            marks,
            vec![
                ReadMark {
                    bucket_id: 1,
                    key: "a".into(),
                    at_ms: 30
                },
                ReadMark {
                    bucket_id: 2,
                    key: "a".into(),
                    at_ms: 5
                }
            ]
        );
        assert!(log.take().is_empty());
        log.record_at(1, "a", 40);
        log.restore(marks);
        let marks = log.take();
        assert_eq!(marks.len(), 2);
        assert!(marks.iter().any(|m| m.bucket_id == 1 && m.at_ms == 40));
    }
}
