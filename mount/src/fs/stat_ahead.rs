//! Attributes ahead of a stat walk over a listed directory.
//!
//! `ls -l`, `find -ls`, `du` and `rsync` list a directory, then stat every entry one after
//! the other; without help each stat is a HEAD round trip in series.
//! - Where the server lists with metadata (vmgw), the listing itself filled the cache. A
//!   walk slower than the metadata TTL finds entries gone stale: a miss on a listed file
//!   lists again from that name on ([`refresh_from_listing`](Fs::refresh_from_listing)),
//!   one request for the next 1000 names' attributes, never a HEAD.
//! - Elsewhere, a miss on a name a fresh listing showed also fetches the attributes of the
//!   next [`STAT_AHEAD`] listed names, in parallel, so the stats that follow are answered
//!   from the cache. Directories (common prefixes carry no attributes) are always fetched
//!   this way. A lookup of a name in a directory nobody listed costs nothing extra.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;

use super::{DirEntry, Fs};
use crate::attrs::FileKind;
use crate::inode;
use crate::s3::ListRequest;

/// Names fetched ahead of a sequential stat walk: a few hundred milliseconds of work at
/// most, well inside the metadata TTL, so the entries are still fresh when asked for.
const STAT_AHEAD: usize = 64;
/// HEADs in flight at once while fetching ahead.
const STATS_IN_FLIGHT: usize = 16;
/// How long a listing with metadata guides re-listing after its attributes went stale: a
/// walk over a large directory can take longer than the TTL. Only the names' order is
/// used; attributes always come from a new request.
const GUIDE_LIFE: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct ListedName {
    path: String,
    kind: FileKind,
    /// The key (or common prefix) it was listed as; `None` for local, unsaved entries.
    key: Option<String>,
}

/// The last listing of one directory: names in listing (key) order.
#[derive(Debug)]
pub(super) struct Listing {
    at: Instant,
    /// The listing carried every object's metadata.
    with_metadata: bool,
    names: Vec<ListedName>,
    index: HashMap<String, usize>,
}

impl Listing {
    fn life(&self, ttl: Duration) -> Duration {
        if self.with_metadata {
            ttl.max(GUIDE_LIFE)
        } else {
            ttl
        }
    }
}

impl Fs {
    /// Remembers what `opendir` listed in directory `dir`: `entries` (`.` and `..` first),
    /// whose server-side ones come in order with their `keys`.
    pub(super) fn remember_listing(&self, dir: &str, entries: &[DirEntry], keys: Vec<String>) {
        let mut keys = keys.into_iter();
        let names: Vec<ListedName> = entries
            .iter()
            .filter(|e| e.name != "." && e.name != "..")
            .map(|e| ListedName {
                path: inode::join(dir, &e.name),
                kind: e.kind,
                key: keys.next(),
            })
            .collect();
        let index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.path.clone(), i))
            .collect();
        let listing = Listing {
            at: Instant::now(),
            with_metadata: self.client.capabilities().list_metadata,
            names,
            index,
        };
        let ttl = self.config.ttl;
        let mut listings = self.listings.lock().unwrap_or_else(|p| p.into_inner());
        // Listings of other directories that went stale are dropped on the way.
        listings.retain(|_, l| l.at.elapsed() < l.life(ttl));
        listings.insert(dir.to_owned(), Arc::new(listing));
    }

    /// The live listing of `path`'s directory and `path`'s place in it.
    fn listing_of(&self, path: &str) -> Option<(Arc<Listing>, usize)> {
        let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
        let listings = self.listings.lock().unwrap_or_else(|p| p.into_inner());
        let listing = listings.get(parent)?;
        if listing.at.elapsed() >= listing.life(self.config.ttl) {
            return None;
        }
        let at = *listing.index.get(path)?;
        Some((listing.clone(), at))
    }

    /// Lists `path`'s directory again with metadata, from `path` on (one page), when a
    /// listing with metadata showed it as a file: the attributes of `path` and the names
    /// after it go into the cache. Returns whether it did.
    pub(super) async fn refresh_from_listing(&self, path: &str) -> crate::error::FsResult<bool> {
        let Some((listing, at)) = self.listing_of(path) else {
            return Ok(false);
        };
        if !listing.with_metadata || listing.names[at].kind == FileKind::Directory {
            return Ok(false);
        }
        let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
        let prefix = self.dir_prefix(parent);
        let query = ListRequest {
            prefix: &prefix,
            delimited: true,
            // Exclusive: the name listed before `path` starts the page at `path`.
            start_after: at.checked_sub(1).and_then(|i| listing.names[i].key.clone()),
            ..ListRequest::default()
        };
        let page = self.client.list(&query).await?;
        let now = Instant::now();
        let valid_until = now + self.config.ttl;
        let mut table = self.table();
        for o in &page.objects {
            let name = &o.key[prefix.len()..];
            if name.is_empty() || name.contains('/') {
                continue;
            }
            if let Some(meta) = &o.metadata {
                let stat = self.stat_of(meta, false, o.last_modified, o.size);
                table.listed_with_attrs(&inode::join(parent, name), stat, now, valid_until);
            }
        }
        Ok(true)
    }

    /// Fetches the attributes of the names listed after `path` that are not cached yet
    /// (with a listing with metadata: only directories, the rest is re-listed).
    pub(super) async fn stat_ahead(&self, path: &str) {
        let Some((listing, at)) = self.listing_of(path) else {
            return;
        };
        if listing.at.elapsed() >= self.config.ttl {
            return;
        }
        let now = Instant::now();
        let todo: Vec<(String, FileKind)> = {
            let table = self.table();
            listing.names[at + 1..]
                .iter()
                .take(STAT_AHEAD)
                .filter(|n| !listing.with_metadata || n.kind == FileKind::Directory)
                .filter(|n| {
                    table
                        .ino_of(&n.path)
                        .and_then(|ino| table.get(ino))
                        .is_some_and(|node| !node.pinned() && node.valid_until <= now)
                })
                .map(|n| (n.path.clone(), n.kind))
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
