//! Which objects a demotion round moves: the least recently read ones, just enough of them
//! to bring the tier down to its low watermark.
//!
//! A tier may hold millions of objects; only the chosen few are kept. Candidates stream
//! through a max-heap on recency that holds the least recently read objects covering the
//! bytes needed: whenever the most recent of them is not needed to cover the bytes any
//! more, it is dropped, and no later candidate can make it needed again.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::meta::Resident;

/// Orders residents from least to most recently read; ties fall back to bucket and key so
/// that a round's choice does not depend on scan order.
struct ByRecency(Resident);

impl ByRecency {
    fn key(&self) -> (i64, u64, &str) {
        (self.0.last_read_ms, self.0.bucket_id, self.0.key.as_str())
    }
}

impl PartialEq for ByRecency {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for ByRecency {}

impl PartialOrd for ByRecency {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ByRecency {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

pub struct Victims {
    /// Most recently read on top: the first to let go of.
    heap: BinaryHeap<ByRecency>,
    bytes: u64,
    need: u64,
}

impl Victims {
    /// Chooses objects totalling at least `need` bytes (all of them if there are fewer).
    #[must_use]
    pub fn new(need: u64) -> Self {
        Self {
            heap: BinaryHeap::new(),
            bytes: 0,
            need,
        }
    }

    pub fn offer(&mut self, resident: Resident) {
        self.bytes += resident.bytes;
        self.heap.push(ByRecency(resident));
        while let Some(top) = self.heap.peek() {
            if self.bytes - top.0.bytes < self.need {
                break;
            }
            self.bytes -= top.0.bytes;
            self.heap.pop();
        }
    }

    /// The chosen objects, least recently read first.
    #[must_use]
    pub fn into_sorted(self) -> Vec<Resident> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|r| r.0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resident(key: &str, last_read_ms: i64, bytes: u64) -> Resident {
        Resident {
            bucket_id: 1,
            key: key.into(),
            last_read_ms,
            bytes,
        }
    }

    fn choose(need: u64, residents: Vec<Resident>) -> Vec<String> {
        let mut victims = Victims::new(need);
        for r in residents {
            victims.offer(r);
        }
        victims.into_sorted().into_iter().map(|r| r.key).collect()
    }

    #[test]
    fn least_recently_read_first_and_only_as_many_as_needed() {
        let residents = vec![
            resident("read-recently", 900, 100),
            resident("never-read-old", 100, 100),
            resident("read-long-ago", 300, 100),
            resident("never-read-new", 800, 100),
            resident("middle", 500, 100),
        ];
        assert_eq!(
            choose(250, residents.clone()),
            ["never-read-old", "read-long-ago", "middle"]
        );
        assert_eq!(
            choose(200, residents.clone()),
            ["never-read-old", "read-long-ago"]
        );
        assert_eq!(choose(1, residents.clone()), ["never-read-old"]);
        assert!(choose(0, residents.clone()).is_empty());
        // More than there is: everything, still in order.
        assert_eq!(
            choose(10_000, residents),
            [
                "never-read-old",
                "read-long-ago",
                "middle",
                "never-read-new",
                "read-recently"
            ]
        );
    }

    #[test]
    fn order_of_arrival_does_not_matter() {
        let mut residents: Vec<Resident> = (0..200)
            .map(|i| resident(&format!("k{i:03}"), (i * 7919) % 1000, 10 + (i % 3) as u64))
            .collect();
        let forward = choose(500, residents.clone());
        residents.reverse();
        assert_eq!(choose(500, residents.clone()), forward);
        let mut sorted = residents.clone();
        sorted.sort_by_key(|r| (r.last_read_ms, r.key.clone()));
        let mut covered = 0;
        let expected: Vec<String> = sorted
            .iter()
            .take_while(|r| {
                let take = covered < 500;
                covered += r.bytes;
                take
            })
            .map(|r| r.key.clone())
            .collect();
        assert_eq!(forward, expected);
    }

    #[test]
    fn ties_are_broken_by_key_and_big_objects_count_fully() {
        let residents = vec![
            resident("b", 5, 10),
            resident("a", 5, 10),
            resident("huge", 1, 1_000),
        ];
        assert_eq!(choose(1, residents.clone()), ["huge"]);
        assert_eq!(choose(1_005, residents), ["huge", "a"]);
    }
}
