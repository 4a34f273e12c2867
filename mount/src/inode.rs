//! The inode table: which path each inode number stands for, its attributes and how long
//! they may be trusted, and the local state that pins it (open handles, unsaved content).
//!
//! Paths are relative to the mounted prefix, without a trailing `/`; the root is `""`.
//! Inode numbers are handed out once per path and kept while the kernel remembers them, so
//! attributes refreshed from S3 keep the inode the kernel already knows.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use fuser::Errno;

use crate::attrs::{FileKind, PosixAttrs};
use crate::file::FileCell;

pub const ROOT: u64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub attrs: PosixAttrs,
    pub size: u64,
}

#[derive(Debug)]
pub struct Node {
    pub path: String,
    /// Unlinked or replaced: the path no longer leads here (open handles keep the node).
    pub detached: bool,
    pub stat: Stat,
    /// Attributes from S3 are trusted until then (the metadata TTL).
    pub valid_until: Instant,
    /// A listing saw this name (as this kind) at that time: a lookup then needs no LIST.
    pub listed: Option<(Instant, FileKind)>,
    /// Kernel references (lookup count), released by `forget`.
    pub lookups: u64,
    /// Open file handles.
    pub opens: u32,
    /// Content or attributes exist only here until the next upload.
    pub dirty: bool,
    /// An upload of streamed content failed and its bytes are gone: every later flush,
    /// fsync and write reports the failure's error number until the file is truncated or
    /// closed by all. The same number, not a generic EIO: a flush from another process's
    /// close (a fork inherits the descriptor) may have met the failure first, and the writer's
    /// own fsync must still learn that the disk was full.
    pub lost: Option<Errno>,
    /// Bumped whenever the object's content changes, so read-ahead of an older content is
    /// dropped.
    pub generation: u64,
    pub symlink: Option<String>,
    pub file: Arc<FileCell>,
}

impl Node {
    /// Local state is authoritative: no refresh from S3 may overwrite it.
    #[must_use]
    pub fn pinned(&self) -> bool {
        self.opens > 0 || self.dirty
    }

    #[must_use]
    pub fn kind(&self) -> FileKind {
        self.stat.attrs.kind
    }
}

#[derive(Debug)]
pub struct Inodes {
    nodes: HashMap<u64, Node>,
    by_path: HashMap<String, u64>,
    next: u64,
}

/// `parent/name` in the table's path form.
#[must_use]
pub fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

impl Inodes {
    #[must_use]
    pub fn new(root: Stat) -> Self {
        let mut table = Self {
            nodes: HashMap::new(),
            by_path: HashMap::new(),
            next: ROOT,
        };
        let ino = table.insert(String::new(), root, Instant::now());
        debug_assert_eq!(ino, ROOT);
        table
    }

    fn insert(&mut self, path: String, stat: Stat, valid_until: Instant) -> u64 {
        let ino = self.next;
        self.next += 1;
        self.by_path.insert(path.clone(), ino);
        self.nodes.insert(
            ino,
            Node {
                path,
                detached: false,
                stat,
                valid_until,
                listed: None,
                lookups: 0,
                opens: 0,
                dirty: false,
                lost: None,
                generation: 0,
                symlink: None,
                file: Arc::default(),
            },
        );
        ino
    }

    #[must_use]
    pub fn get(&self, ino: u64) -> Option<&Node> {
        self.nodes.get(&ino)
    }

    pub fn get_mut(&mut self, ino: u64) -> Option<&mut Node> {
        self.nodes.get_mut(&ino)
    }

    #[must_use]
    pub fn ino_of(&self, path: &str) -> Option<u64> {
        self.by_path.get(path).copied()
    }

    /// Records attributes fetched from S3 for `path` (valid until `valid_until`) and
    /// returns its inode. A pinned node keeps its local attributes; a node of another kind
    /// (a file replaced by a directory elsewhere) is detached and a new inode made.
    pub fn upsert(&mut self, path: &str, stat: Stat, valid_until: Instant) -> u64 {
        if let Some(ino) = self.ino_of(path) {
            let node = self.nodes.get_mut(&ino).expect("indexed node exists");
            if node.kind() == stat.attrs.kind {
                if !node.pinned() {
                    if node.stat.size != stat.size || node.stat.attrs.mtime != stat.attrs.mtime {
                        node.generation += 1;
                        node.symlink = None;
                    }
                    node.stat = stat;
                    node.valid_until = valid_until;
                }
                return ino;
            }
            self.detach(path);
        }
        self.insert(path.to_owned(), stat, valid_until)
    }

    /// Records that a listing at `at` showed `path` (with attributes as far as a listing
    /// tells them) and returns its inode. Attributes of a new node count as stale, so a
    /// lookup still asks S3, but the kind is known and spares a request.
    pub fn listed(&mut self, path: &str, stat: Stat, at: Instant) -> u64 {
        if let Some(ino) = self.ino_of(path) {
            let node = self.nodes.get_mut(&ino).expect("indexed node exists");
            if node.kind() == stat.attrs.kind || node.pinned() {
                node.listed = Some((at, node.kind()));
                return ino;
            }
            self.detach(path);
        }
        let ino = self.insert(path.to_owned(), stat, at);
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.listed = Some((at, stat.attrs.kind));
        }
        ino
    }

    /// Records that a listing at `at` showed `path` with all its attributes (a listing
    /// with metadata): as [`upsert`](Self::upsert), trusted until `valid_until`, and as
    /// [`listed`](Self::listed), known to the listing.
    pub fn listed_with_attrs(
        &mut self,
        path: &str,
        stat: Stat,
        at: Instant,
        valid_until: Instant,
    ) -> u64 {
        let ino = self.upsert(path, stat, valid_until);
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.listed = Some((at, node.kind()));
        }
        ino
    }

    /// A new local object (create, mkdir, symlink) at `path`, replacing whatever was there.
    pub fn create(&mut self, path: &str, stat: Stat, valid_until: Instant) -> u64 {
        self.detach(path);
        self.insert(path.to_owned(), stat, valid_until)
    }

    /// The path no longer leads to its node (unlink, rmdir, replaced by rename).
    pub fn detach(&mut self, path: &str) {
        if let Some(ino) = self.by_path.remove(path) {
            if let Some(node) = self.nodes.get_mut(&ino) {
                node.detached = true;
            }
            self.collect(ino);
        }
    }

    /// Drops a node nobody refers to any more.
    fn collect(&mut self, ino: u64) {
        if ino == ROOT {
            return;
        }
        let unused = self
            .nodes
            .get(&ino)
            .is_some_and(|n| n.lookups == 0 && !n.pinned() && n.detached);
        if unused {
            self.nodes.remove(&ino);
        }
    }

    /// The kernel dropped `n` references.
    pub fn forget(&mut self, ino: u64, n: u64) {
        let Some(node) = self.nodes.get_mut(&ino) else {
            return;
        };
        node.lookups = node.lookups.saturating_sub(n);
        if node.lookups == 0 && !node.pinned() && ino != ROOT {
            let path = node.path.clone();
            let detached = node.detached;
            self.nodes.remove(&ino);
            if !detached && self.by_path.get(&path) == Some(&ino) {
                self.by_path.remove(&path);
            }
        }
    }

    /// Called after a handle closes or an upload clears `dirty`.
    pub fn release_check(&mut self, ino: u64) {
        let drop_it = self
            .nodes
            .get(&ino)
            .is_some_and(|n| n.detached && n.lookups == 0 && !n.pinned());
        if drop_it {
            self.nodes.remove(&ino);
        }
    }

    /// Moves `from` and everything below it to `to` (after a rename on the server).
    pub fn rename_tree(&mut self, from: &str, to: &str) {
        self.detach(to);
        let below = format!("{from}/");
        let moved: Vec<(String, u64)> = self
            .by_path
            .iter()
            .filter(|(p, _)| p.as_str() == from || p.starts_with(&below))
            .map(|(p, ino)| (p.clone(), *ino))
            .collect();
        for (old, ino) in moved {
            self.by_path.remove(&old);
            let new = format!("{to}{}", &old[from.len()..]);
            if old != from {
                // A node left below the destination by an earlier tree is replaced.
                self.detach(&new);
            }
            if let Some(node) = self.nodes.get_mut(&ino) {
                node.path.clone_from(&new);
            }
            self.by_path.insert(new, ino);
        }
    }

    /// Nodes below `dir` (any depth) holding content not yet uploaded.
    #[must_use]
    pub fn dirty_below(&self, dir: &str) -> Vec<u64> {
        self.by_path
            .iter()
            .filter(|(p, _)| dir.is_empty() || p.starts_with(&format!("{dir}/")))
            .filter(|(_, ino)| self.nodes.get(ino).is_some_and(|n| n.dirty))
            .map(|(_, ino)| *ino)
            .collect()
    }

    /// Direct children of `dir` that exist only locally so far (created, not uploaded):
    /// listings include them.
    #[must_use]
    pub fn local_children(&self, dir: &str) -> Vec<(String, u64, FileKind)> {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        self.by_path
            .iter()
            .filter_map(|(p, ino)| {
                let name = p.strip_prefix(&prefix)?;
                let node = self.nodes.get(ino)?;
                (!name.is_empty() && !name.contains('/') && node.dirty)
                    .then(|| (name.to_owned(), *ino, node.kind()))
            })
            .collect()
    }

    /// Every node with content not yet uploaded (for a clean shutdown).
    #[must_use]
    pub fn all_dirty(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.dirty && !n.detached)
            .map(|(ino, _)| *ino)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::PosixAttrs;

    fn stat(kind: FileKind, size: u64) -> Stat {
        Stat {
            attrs: PosixAttrs {
                kind,
                perm: 0o644,
                uid: 0,
                gid: 0,
                mtime: 1,
            },
            size,
        }
    }

    #[test]
    fn inodes_are_stable_and_forgotten() {
        let now = Instant::now();
        let mut t = Inodes::new(stat(FileKind::Directory, 0));
        let a = t.upsert("a", stat(FileKind::File, 1), now);
        t.get_mut(a).unwrap().lookups += 1;
        // A refresh keeps the inode and bumps the generation when the content changed.
        assert_eq!(t.upsert("a", stat(FileKind::File, 2), now), a);
        assert_eq!(t.get(a).unwrap().generation, 1);
        // The same name now a directory: a new inode; the old one is detached.
        let d = t.upsert("a", stat(FileKind::Directory, 0), now);
        assert_ne!(d, a);
        assert!(t.get(a).unwrap().detached);
        t.forget(a, 1);
        assert!(t.get(a).is_none());
        assert_eq!(t.ino_of("a"), Some(d));
        // The root is never forgotten.
        t.forget(ROOT, 10);
        assert!(t.get(ROOT).is_some());
    }

    #[test]
    fn pinned_nodes_keep_local_attributes() {
        let now = Instant::now();
        let mut t = Inodes::new(stat(FileKind::Directory, 0));
        let f = t.create("f", stat(FileKind::File, 0), now);
        t.get_mut(f).unwrap().dirty = true;
        t.get_mut(f).unwrap().stat.size = 10;
        t.upsert("f", stat(FileKind::File, 3), now);
        assert_eq!(t.get(f).unwrap().stat.size, 10);
        assert_eq!(
            t.local_children(""),
            vec![("f".to_owned(), f, FileKind::File)]
        );
        assert_eq!(t.all_dirty(), vec![f]);
    }

    #[test]
    fn rename_moves_a_subtree_and_replaces_the_target() {
        let now = Instant::now();
        let mut t = Inodes::new(stat(FileKind::Directory, 0));
        let d = t.upsert("d", stat(FileKind::Directory, 0), now);
        let x = t.upsert("d/x", stat(FileKind::File, 1), now);
        let y = t.upsert("d/sub/y", stat(FileKind::File, 1), now);
        let other = t.upsert("dd", stat(FileKind::File, 1), now);
        let old = t.upsert("e", stat(FileKind::Directory, 0), now);
        t.get_mut(old).unwrap().lookups = 1;
        t.rename_tree("d", "e");
        assert_eq!(t.ino_of("e"), Some(d));
        assert_eq!(t.ino_of("e/x"), Some(x));
        assert_eq!(t.get(y).unwrap().path, "e/sub/y");
        assert_eq!(t.ino_of("d/x"), None);
        // A sibling sharing the prefix is not part of the tree.
        assert_eq!(t.ino_of("dd"), Some(other));
        assert!(t.get(old).unwrap().detached);
    }
}
