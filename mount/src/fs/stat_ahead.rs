//! Attribute read-ahead for listed directories.
//!
//! `ls -l`, `find -ls`, `du` and `rsync` list a directory, then stat every entry one after
//! the other; without help each stat is a HEAD round trip in series. When a lookup misses
//! the cache for a name a fresh listing showed, the attributes of the next
//! [`STAT_AHEAD`] listed names are fetched too, in parallel, so the stats that follow are
//! answered from the cache. A lookup of a name in a directory nobody listed costs nothing
//! extra. (vmgw's listings with metadata will make this one request per page.)

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;

use super::{DirEntry, Fs};
use crate::attrs::FileKind;
use crate::inode;

/// Names fetched ahead of a sequential stat walk: a few hundred milliseconds of work at
/// most, well inside the metadata TTL, so the entries are still fresh when asked for.
const STAT_AHEAD: usize = 64;
/// HEADs in flight at once while fetching ahead.
const STATS_IN_FLIGHT: usize = 16;

/// The last listing of one directory, in listing order.
#[derive(Debug, Default)]
pub(super) struct Listing {
    at: Option<Instant>,
    paths: Vec<(String, FileKind)>,
    index: HashMap<String, usize>,
}

impl Fs {
    /// Remembers what `opendir` listed in directory `dir`.
    pub(super) fn remember_listing(&self, dir: &str, entries: &[DirEntry]) {
        let paths: Vec<(String, FileKind)> = entries
            .iter()
            .filter(|e| e.name != "." && e.name != "..")
            .map(|e| (inode::join(dir, &e.name), e.kind))
            .collect();
        let index = paths
            .iter()
            .enumerate()
            .map(|(i, (p, _))| (p.clone(), i))
            .collect();
        let listing = Listing {
            at: Some(Instant::now()),
            paths,
            index,
        };
        let mut listings = self.listings.lock().unwrap_or_else(|p| p.into_inner());
        // Listings of other directories that went stale are dropped on the way.
        listings.retain(|_, l| l.at.is_some_and(|at| at.elapsed() < self.config.ttl));
        listings.insert(dir.to_owned(), Arc::new(listing));
    }

    /// Fetches the attributes of the names listed after `path` that are not cached yet.
    pub(super) async fn stat_ahead(&self, path: &str) {
        let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
        let listing = {
            let listings = self.listings.lock().unwrap_or_else(|p| p.into_inner());
            match listings.get(parent) {
                Some(l) if l.at.is_some_and(|at| at.elapsed() < self.config.ttl) => l.clone(),
                _ => return,
            }
        };
        let Some(&at) = listing.index.get(path) else {
            return;
        };
        let now = Instant::now();
        let todo: Vec<(String, FileKind)> = {
            let table = self.table();
            listing.paths[at + 1..]
                .iter()
                .take(STAT_AHEAD)
                .filter(|(p, _)| {
                    table
                        .ino_of(p)
                        .and_then(|ino| table.get(ino))
                        .is_some_and(|n| !n.pinned() && n.valid_until <= now)
                })
                .cloned()
                .collect()
        };
        let fetches: Vec<_> = todo
            .into_iter()
            .map(|(p, kind)| async move {
                let stat = self.fetch_stat(&p, Some(kind)).await;
                (p, stat)
            })
            .collect();
        let results: Vec<_> = futures::stream::iter(fetches)
            .buffer_unordered(STATS_IN_FLIGHT)
            .collect()
            .await;
        let mut table = self.table();
        let valid_until = Instant::now() + self.config.ttl;
        for (p, stat) in results {
            // Failures and vanished names are left for their own lookup to report.
            if let Ok(Some(stat)) = stat {
                table.upsert(&p, stat, valid_until);
            }
        }
    }
}
