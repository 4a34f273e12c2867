//! The file system: POSIX operations in terms of S3 requests. Each operation is an async
//! method returning [`FsResult`]; [`crate::fuse`] adapts them to the kernel.
//!
//! - [`lookup`](self): names, attributes and their cache;
//! - `dir`: listings, mkdir/rmdir, unlink, symlinks, rename;
//! - `stat_ahead`: attributes ahead of a stat walk over a listing;
//! - `io`: open/create, read, write, flush/fsync/release, setattr;
//! - `append`: bytes added at the end of a file, sent as appends where the server can.

mod absent;
mod append;
mod dir;
mod io;
mod stat_ahead;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use crate::attrs::{Defaults, FileKind, PosixAttrs};
use crate::error::{FsError, FsResult};
use crate::file::Handle;
use crate::inode::{self, Inodes, ROOT, Stat};
use crate::s3::{ListRequest, ObjectInfo, Store};

pub use dir::DirEntry;
pub use io::AttrChange;

#[derive(Debug, Clone)]
pub struct FsConfig {
    /// The mounted key prefix: `""` or ending in `/`.
    pub prefix: String,
    /// How long attributes and names from S3 are trusted (and cached by the kernel).
    pub ttl: Duration,
    /// Attributes of objects written by tools that store none.
    pub defaults: Defaults,
    /// Mask applied to every permission shown (the `umask` option).
    pub umask: Option<u32>,
    pub read_only: bool,
    /// Where staging files live.
    pub staging_dir: PathBuf,
}

/// Attributes as the kernel sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    pub ino: u64,
    pub kind: FileKind,
    pub size: u64,
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: SystemTime,
}

pub struct Fs {
    client: Store,
    config: FsConfig,
    inodes: Mutex<Inodes>,
    handles: Mutex<HashMap<u64, Arc<Handle>>>,
    dirs: Mutex<HashMap<u64, Arc<Vec<DirEntry>>>>,
    listings: Mutex<HashMap<String, Arc<stat_ahead::Listing>>>,
    absent: Mutex<absent::Absent>,
    next_fh: AtomicU64,
}

impl std::fmt::Debug for Fs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fs")
            .field("prefix", &self.config.prefix)
            .finish_non_exhaustive()
    }
}

/// Longest file name (the usual NAME_MAX); S3 keys allow 1024 bytes in all.
const NAME_MAX: usize = 255;

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The attributes of a node created now.
fn new_stat(kind: FileKind, perm: u32, uid: u32, gid: u32, size: u64) -> Stat {
    Stat {
        attrs: PosixAttrs {
            kind,
            perm,
            uid,
            gid,
            mtime: now_secs(),
        },
        size,
    }
}

impl Fs {
    #[must_use]
    pub fn new(client: Store, config: FsConfig) -> Self {
        let root = new_stat(
            FileKind::Directory,
            config.defaults.dir_perm,
            config.defaults.uid,
            config.defaults.gid,
            0,
        );
        Self {
            client,
            config,
            inodes: Mutex::new(Inodes::new(root)),
            handles: Mutex::default(),
            dirs: Mutex::default(),
            listings: Mutex::default(),
            absent: Mutex::default(),
            next_fh: AtomicU64::new(1),
        }
    }

    #[must_use]
    pub fn config(&self) -> &FsConfig {
        &self.config
    }

    fn table(&self) -> MutexGuard<'_, Inodes> {
        // A panic elsewhere must not wedge the mount: the table stays usable.
        self.inodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn absent(&self) -> MutexGuard<'_, absent::Absent> {
        self.absent.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn next_handle(&self) -> u64 {
        self.next_fh.fetch_add(1, Ordering::Relaxed)
    }

    /// The key of a file or symlink at `path`.
    fn file_key(&self, path: &str) -> String {
        format!("{}{path}", self.config.prefix)
    }

    /// The key prefix of the directory at `path` (its marker object's key).
    fn dir_prefix(&self, path: &str) -> String {
        if path.is_empty() {
            self.config.prefix.clone()
        } else {
            format!("{}{path}/", self.config.prefix)
        }
    }

    fn check_writable(&self) -> FsResult<()> {
        if self.config.read_only {
            Err(FsError::ReadOnly)
        } else {
            Ok(())
        }
    }

    fn attr_of(&self, ino: u64, stat: &Stat) -> Attr {
        let mut perm = stat.attrs.perm;
        if let Some(umask) = self.config.umask {
            perm &= !umask;
        }
        Attr {
            ino,
            kind: stat.attrs.kind,
            size: stat.size,
            perm,
            uid: stat.attrs.uid,
            gid: stat.attrs.gid,
            mtime: SystemTime::UNIX_EPOCH
                + Duration::from_secs(u64::try_from(stat.attrs.mtime).unwrap_or(0)),
        }
    }

    /// The path of `name` in directory `parent`.
    fn child_path(&self, parent: u64, name: &std::ffi::OsStr) -> FsResult<String> {
        let name = name
            .to_str()
            .ok_or(FsError::Invalid("file name is not UTF-8"))?;
        if name.len() > NAME_MAX {
            return Err(FsError::NameTooLong);
        }
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(FsError::Invalid("file name"));
        }
        let table = self.table();
        let node = table.get(parent).ok_or(FsError::NotFound)?;
        if node.kind() != FileKind::Directory {
            return Err(FsError::NotDir);
        }
        Ok(inode::join(&node.path, name))
    }

    /// Attributes of an object from its user metadata, S3 timestamp and size.
    fn stat_of(
        &self,
        metadata: &[(String, String)],
        is_dir_key: bool,
        last_modified: i64,
        size: u64,
    ) -> Stat {
        let attrs =
            PosixAttrs::from_metadata(metadata, is_dir_key, last_modified, self.config.defaults);
        let size = if attrs.kind == FileKind::Directory {
            0
        } else {
            size
        };
        Stat { attrs, size }
    }

    fn stat_from(&self, info: &ObjectInfo, is_dir_key: bool) -> Stat {
        self.stat_of(&info.metadata, is_dir_key, info.last_modified, info.size)
    }

    fn implicit_dir(&self, mtime: i64) -> Stat {
        Stat {
            attrs: PosixAttrs::from_metadata(&[], true, mtime, self.config.defaults),
            size: 0,
        }
    }

    /// What S3 holds at `path`: a file (or symlink) object, a directory (marker object or
    /// only keys below it), or nothing. `hint` is the kind a recent listing showed, which
    /// spares the requests that tell files from directories.
    async fn fetch_stat(&self, path: &str, hint: Option<FileKind>) -> FsResult<Option<Stat>> {
        let key = self.file_key(path);
        let dir = self.dir_prefix(path);
        match hint {
            Some(FileKind::Directory) => {
                return Ok(Some(match self.client.head(&dir).await? {
                    Some(info) => self.stat_from(&info, true),
                    None => self.implicit_dir(now_secs()),
                }));
            }
            Some(_) => {
                if let Some(info) = self.client.head(&key).await? {
                    return Ok(Some(self.stat_from(&info, false)));
                }
            }
            None => {}
        }
        let query = ListRequest {
            prefix: &dir,
            max_keys: Some(1),
            ..ListRequest::default()
        };
        let (head, list) = tokio::join!(self.client.head(&key), self.client.list(&query));
        if let Some(info) = head? {
            return Ok(Some(self.stat_from(&info, false)));
        }
        let page = list?;
        let Some(first) = page.objects.first() else {
            return Ok(None);
        };
        if first.key == dir {
            if let Some(meta) = &first.metadata {
                return Ok(Some(self.stat_of(meta, true, first.last_modified, 0)));
            }
            if let Some(info) = self.client.head(&dir).await? {
                return Ok(Some(self.stat_from(&info, true)));
            }
        }
        Ok(Some(self.implicit_dir(first.last_modified)))
    }

    /// The cached attributes of `path` if they may be trusted now (counted as a kernel
    /// reference), else the kind a recent listing showed there, if any.
    fn cached_lookup(&self, path: &str) -> Result<Attr, Option<FileKind>> {
        let now = Instant::now();
        let mut table = self.table();
        let Some(ino) = table.ino_of(path) else {
            return Err(None);
        };
        let node = table.get_mut(ino).expect("indexed node");
        if node.pinned() || node.valid_until > now {
            node.lookups += 1;
            let stat = node.stat;
            return Ok(self.attr_of(ino, &stat));
        }
        Err(node
            .listed
            .filter(|(at, _)| now.duration_since(*at) < self.config.ttl)
            .map(|(_, kind)| kind))
    }

    pub async fn lookup(&self, parent: u64, name: &std::ffi::OsStr) -> FsResult<Attr> {
        let path = self.child_path(parent, name)?;
        let mut hint = match self.cached_lookup(&path) {
            Ok(attr) => return Ok(attr),
            Err(hint) => hint,
        };
        if hint.is_none() && self.absent().knows_missing(&path, Instant::now()) {
            return Err(FsError::NotFound);
        }
        if self.refresh_from_listing(&path).await? {
            match self.cached_lookup(&path) {
                Ok(attr) => return Ok(attr),
                // Not in the new page: gone, or no longer a file; ask as if unlisted.
                Err(_) => hint = None,
            }
        }
        let (stat, ()) = if hint.is_some() {
            // Listed a moment ago: likely the start of a stat walk over the listing.
            tokio::join!(self.fetch_stat(&path, hint), self.stat_ahead(&path))
        } else {
            (self.fetch_stat(&path, hint).await, ())
        };
        let Some(stat) = stat? else {
            let mut table = self.table();
            if let Some(ino) = table.ino_of(&path)
                && !table.get(ino).is_some_and(inode::Node::pinned)
            {
                table.detach(&path);
            }
            drop(table);
            self.absent()
                .note_missing(&path, Instant::now() + self.config.ttl);
            return Err(FsError::NotFound);
        };
        let mut table = self.table();
        let ino = table.upsert(&path, stat, Instant::now() + self.config.ttl);
        let node = table.get_mut(ino).expect("upserted node");
        node.lookups += 1;
        let stat = node.stat;
        Ok(self.attr_of(ino, &stat))
    }

    pub fn forget(&self, ino: u64, n: u64) {
        self.table().forget(ino, n);
    }

    pub async fn getattr(&self, ino: u64) -> FsResult<Attr> {
        let (path, kind) = {
            let table = self.table();
            let node = table.get(ino).ok_or(FsError::NotFound)?;
            if ino == ROOT || node.pinned() || node.detached || node.valid_until > Instant::now() {
                return Ok(self.attr_of(ino, &node.stat));
            }
            (node.path.clone(), node.kind())
        };
        if self.refresh_from_listing(&path).await? {
            let table = self.table();
            if let Some(node) = table.get(ino)
                && node.valid_until > Instant::now()
            {
                return Ok(self.attr_of(ino, &node.stat));
            }
        }
        let stat = self
            .fetch_stat(&path, Some(kind))
            .await?
            .ok_or(FsError::NotFound)?;
        let mut table = self.table();
        let ino = table.upsert(&path, stat, Instant::now() + self.config.ttl);
        let stat = table.get(ino).expect("upserted node").stat;
        Ok(self.attr_of(ino, &stat))
    }

    /// Attributes of `ino` as they are now in the table.
    fn current_attr(&self, ino: u64) -> FsResult<Attr> {
        let table = self.table();
        let node = table.get(ino).ok_or(FsError::NotFound)?;
        Ok(self.attr_of(ino, &node.stat))
    }

    /// Uploads every unsaved file: called before unmounting.
    pub async fn flush_all(&self) {
        let dirty = self.table().all_dirty();
        for ino in dirty {
            if let Err(e) = self.flush_ino(ino).await {
                tracing::error!(ino, error = %e, "could not save a file before unmounting");
            }
        }
    }
}

#[cfg(test)]
mod tests;
