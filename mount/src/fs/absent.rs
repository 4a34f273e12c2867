//! Names the mount knows do not exist, each for at most the metadata TTL from the moment
//! the server said so.
//!
//! The kernel asks again for a name it was just told is missing whenever it opens it with
//! `O_CREAT | O_EXCL` (its cached negative entry does not count for an exclusive create), so
//! `cp` of a new file looked its name up twice and `tar` once per file: a HEAD and a LIST
//! each time. Two kinds of knowledge answer those lookups without a request:
//! - a name whose lookup missed less than a TTL ago;
//! - any name in a directory this mount created (its lookup found nothing under it) less
//!   than a TTL after that lookup, so the files `tar` or `cp` put into a new directory cost
//!   no lookup at all.
//!
//! What this mount itself creates is in the inode table, which is consulted first, so its
//! own writes are visible at once; another writer's new names appear within the TTL, as
//! with every cached answer.

use std::collections::HashMap;
use std::time::Instant;

/// Entries kept at most; expired ones are dropped first, and beyond that everything (the
/// cost of forgetting is one lookup each).
const MAX_ENTRIES: usize = 16_384;

#[derive(Debug, Default)]
pub struct Absent {
    /// Path → until when it is known missing.
    names: HashMap<String, Instant>,
    /// Directory path → until when it is known to hold only what the inode table holds.
    empty_dirs: HashMap<String, Instant>,
}

impl Absent {
    /// `path` was looked up and is not there; the knowledge holds until `until`.
    pub fn note_missing(&mut self, path: &str, until: Instant) {
        Self::bound(&mut self.names);
        self.names.insert(path.to_owned(), until);
    }

    /// `path` was just created as a directory. It was empty when its lookup missed, so it
    /// is known empty for as long as that miss is known (nothing when no miss is known).
    pub fn note_new_dir(&mut self, path: &str, now: Instant) {
        if let Some(&until) = self.names.get(path).filter(|&&until| until > now) {
            Self::bound(&mut self.empty_dirs);
            self.empty_dirs.insert(path.to_owned(), until);
        }
        self.names.remove(path);
    }

    /// `path` now exists (created by this mount).
    pub fn forget(&mut self, path: &str) {
        self.names.remove(path);
        self.empty_dirs.remove(path);
    }

    /// `path` and everything below it may exist now (a rename there by this mount).
    pub fn forget_tree(&mut self, path: &str) {
        let below = format!("{path}/");
        let keep = |p: &String| p != path && !p.starts_with(&below);
        self.names.retain(|p, _| keep(p));
        self.empty_dirs.retain(|p, _| keep(p));
    }

    /// Whether `path` is known not to exist at `now` (apart from what the inode table has).
    #[must_use]
    pub fn knows_missing(&self, path: &str, now: Instant) -> bool {
        if self.names.get(path).is_some_and(|&until| until > now) {
            return true;
        }
        let parent = path.rsplit_once('/').map_or("", |(parent, _)| parent);
        !parent.is_empty()
            && self
                .empty_dirs
                .get(parent)
                .is_some_and(|&until| until > now)
    }

    fn bound(map: &mut HashMap<String, Instant>) {
        if map.len() >= MAX_ENTRIES {
            let now = Instant::now();
            map.retain(|_, until| *until > now);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn misses_and_new_directories_are_known_for_the_ttl_only() {
        let now = Instant::now();
        let ttl = Duration::from_secs(1);
        let mut absent = Absent::default();
        absent.note_missing("a/x", now + ttl);
        assert!(absent.knows_missing("a/x", now));
        assert!(!absent.knows_missing("a/y", now));
        assert!(!absent.knows_missing("a/x", now + ttl));

        // A new directory: empty for as long as its own miss is known.
        absent.note_missing("d", now + ttl);
        absent.note_new_dir("d", now);
        assert!(!absent.knows_missing("d", now), "it exists now");
        assert!(absent.knows_missing("d/anything", now));
        assert!(
            !absent.knows_missing("d/sub/deeper", now),
            "only direct children"
        );
        assert!(!absent.knows_missing("d/anything", now + ttl));

        // Without a known miss, no claim about the directory's contents.
        absent.note_new_dir("e", now);
        assert!(!absent.knows_missing("e/f", now));

        absent.forget("a/x");
        assert!(!absent.knows_missing("a/x", now));

        // A tree renamed into the new directory: nothing below it is known missing now.
        absent.note_missing("d/y", now + ttl);
        absent.forget_tree("d");
        assert!(!absent.knows_missing("d/y", now));
        assert!(!absent.knows_missing("d/anything", now));
    }
}
