//! Directories and names: listings, mkdir/rmdir, unlink, symlinks, rename.
//!
//! A directory is a `path/` marker object (explicit, what mkdir writes) or only the keys
//! below it (implicit, as other S3 tools leave them); both list and behave the same.
//! Renames are server-side copies then deletes (a directory: every key below it), the plain
//! S3 way; an atomic server rename plugs in behind [`crate::s3::Capabilities`].

use std::collections::HashSet;
use std::ffi::OsStr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use super::{Attr, Fs, new_stat, now_secs};
use crate::attrs::{FileKind, S_IFLNK};
use crate::error::{FsError, FsResult};
use crate::inode::{self, ROOT, Stat};
use crate::s3::{ListRequest, ListedObject};

/// Copies and deletes in flight while renaming a directory tree: enough to hide request
/// latency, few enough not to swamp a small gateway.
const TREE_OPS_IN_FLIGHT: usize = 8;

#[derive(Debug, Clone)]
pub struct DirEntry {
    pub ino: u64,
    pub kind: FileKind,
    pub name: String,
}

/// `renameat2` flags (Linux values).
const RENAME_NOREPLACE: u32 = 1;
const RENAME_EXCHANGE: u32 = 2;

impl Fs {
    fn dir_path(&self, ino: u64) -> FsResult<String> {
        let table = self.table();
        let node = table.get(ino).ok_or(FsError::NotFound)?;
        if node.kind() != FileKind::Directory {
            return Err(FsError::NotDir);
        }
        Ok(node.path.clone())
    }

    /// Every key below `prefix`, page by page.
    async fn list_all(
        &self,
        prefix: &str,
        delimited: bool,
    ) -> FsResult<(Vec<ListedObject>, Vec<String>)> {
        let (mut objects, mut prefixes, mut token) = (Vec::new(), Vec::new(), None);
        loop {
            let query = ListRequest {
                prefix,
                delimited,
                token,
                ..ListRequest::default()
            };
            let page = self.client.list(&query).await?;
            objects.extend(page.objects);
            prefixes.extend(page.prefixes);
            token = page.next_token;
            if token.is_none() {
                return Ok((objects, prefixes));
            }
        }
    }

    /// Reads the whole directory (all listing pages) into the handle; `readdir` then pages
    /// through it at the kernel's offsets. A listing with metadata puts every object's
    /// attributes in the cache, so the stat walk that usually follows (`ls -l`) asks the
    /// server nothing more.
    pub async fn opendir(&self, ino: u64) -> FsResult<u64> {
        let path = self.dir_path(ino)?;
        let prefix = self.dir_prefix(&path);
        let (objects, prefixes) = self.list_all(&prefix, true).await?;
        let now = Instant::now();
        let valid_until = now + self.config.ttl;
        let mut seen = HashSet::new();
        // With their keys, to be put in key order: the order a stat walk re-lists in.
        let mut listed: Vec<(String, DirEntry)> = Vec::new();
        let mut table = self.table();
        for p in &prefixes {
            let name = p[prefix.len()..].trim_end_matches('/');
            if name.is_empty() || name.contains('/') || !seen.insert(name.to_owned()) {
                continue;
            }
            let stat = self.implicit_dir(now_secs());
            let child = table.listed(&inode::join(&path, name), stat, now);
            let entry = DirEntry {
                ino: child,
                kind: FileKind::Directory,
                name: name.to_owned(),
            };
            listed.push((p.clone(), entry));
        }
        for o in &objects {
            let name = &o.key[prefix.len()..];
            // The directory's own marker, and keys that are no valid name here.
            if name.is_empty() || name.contains('/') || !seen.insert(name.to_owned()) {
                continue;
            }
            let child_path = inode::join(&path, name);
            let child = match &o.metadata {
                Some(meta) => {
                    let stat = self.stat_of(meta, false, o.last_modified, o.size);
                    table.listed_with_attrs(&child_path, stat, now, valid_until)
                }
                None => {
                    let stat = self.stat_of(&[], false, o.last_modified, o.size);
                    table.listed(&child_path, stat, now)
                }
            };
            let kind = table.get(child).map_or(FileKind::File, inode::Node::kind);
            let entry = DirEntry {
                ino: child,
                kind,
                name: name.to_owned(),
            };
            listed.push((o.key.clone(), entry));
        }
        listed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut entries = vec![
            DirEntry {
                ino,
                kind: FileKind::Directory,
                name: ".".into(),
            },
            DirEntry {
                ino: ROOT,
                kind: FileKind::Directory,
                name: "..".into(),
            },
        ];
        let mut keys = Vec::with_capacity(listed.len());
        for (key, entry) in listed {
            keys.push(key);
            entries.push(entry);
        }
        for (name, child, kind) in table.local_children(&path) {
            if seen.insert(name.clone()) {
                entries.push(DirEntry {
                    ino: child,
                    kind,
                    name,
                });
            }
        }
        drop(table);
        self.remember_listing(&path, &entries, keys);
        let fh = self.next_handle();
        self.dirs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(fh, Arc::new(entries));
        Ok(fh)
    }

    /// The entries of an open directory from `offset` on.
    pub fn readdir(&self, fh: u64) -> FsResult<Arc<Vec<DirEntry>>> {
        self.dirs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&fh)
            .cloned()
            .ok_or(FsError::BadHandle)
    }

    pub fn releasedir(&self, fh: u64) {
        self.dirs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&fh);
    }

    /// A new node for an object just written at `path`.
    fn created(&self, path: &str, stat: Stat, symlink: Option<String>) -> Attr {
        if stat.attrs.kind == FileKind::Directory {
            self.absent().note_new_dir(path, Instant::now());
        } else {
            self.absent().forget(path);
        }
        let mut table = self.table();
        let ino = table.create(path, stat, Instant::now() + self.config.ttl);
        let node = table.get_mut(ino).expect("created node");
        node.lookups += 1;
        node.symlink = symlink;
        self.attr_of(ino, &stat)
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn mkdir(
        &self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        uid: u32,
        gid: u32,
    ) -> FsResult<Attr> {
        self.check_writable()?;
        let path = self.child_path(parent, name)?;
        let stat = new_stat(FileKind::Directory, mode & !umask & 0o7777, uid, gid, 0);
        let meta = stat.attrs.to_metadata().into_iter().collect();
        self.client
            .put(&self.dir_prefix(&path), Bytes::new(), meta)
            .await?;
        Ok(self.created(&path, stat, None))
    }

    pub async fn symlink(
        &self,
        parent: u64,
        name: &OsStr,
        target: &std::path::Path,
        uid: u32,
        gid: u32,
    ) -> FsResult<Attr> {
        self.check_writable()?;
        let path = self.child_path(parent, name)?;
        let target = target
            .to_str()
            .ok_or(FsError::Invalid("link target is not UTF-8"))?
            .to_owned();
        let stat = new_stat(FileKind::Symlink, 0o777, uid, gid, target.len() as u64);
        let mut meta: std::collections::HashMap<_, _> =
            stat.attrs.to_metadata().into_iter().collect();
        meta.insert(
            crate::attrs::META_MODE.into(),
            (S_IFLNK | 0o777).to_string(),
        );
        self.client
            .put(&self.file_key(&path), Bytes::from(target.clone()), meta)
            .await?;
        Ok(self.created(&path, stat, Some(target)))
    }

    /// The kind of what `path` names now: the table when it knows, else S3.
    async fn kind_at(&self, path: &str) -> FsResult<Option<FileKind>> {
        let known = {
            let table = self.table();
            table.ino_of(path).and_then(|ino| {
                let node = table.get(ino)?;
                (node.pinned() || node.valid_until > Instant::now()).then(|| node.kind())
            })
        };
        match known {
            Some(kind) => Ok(Some(kind)),
            None => Ok(self.fetch_stat(path, None).await?.map(|s| s.attrs.kind)),
        }
    }

    pub async fn unlink(&self, parent: u64, name: &OsStr) -> FsResult<()> {
        self.check_writable()?;
        let path = self.child_path(parent, name)?;
        match self.kind_at(&path).await? {
            None => return Err(FsError::NotFound),
            Some(FileKind::Directory) => return Err(FsError::IsDir),
            Some(_) => {}
        }
        self.client.delete(&self.file_key(&path)).await?;
        self.table().detach(&path);
        Ok(())
    }

    /// Fails with ENOTEMPTY unless the directory at `path` holds nothing (its own marker
    /// aside), on the server or only locally.
    async fn ensure_empty(&self, path: &str) -> FsResult<()> {
        if !self.table().local_children(path).is_empty() {
            return Err(FsError::NotEmpty);
        }
        let prefix = self.dir_prefix(path);
        let query = ListRequest {
            prefix: &prefix,
            max_keys: Some(2),
            ..ListRequest::default()
        };
        let page = self.client.list(&query).await?;
        if page.objects.iter().any(|o| o.key != prefix) {
            return Err(FsError::NotEmpty);
        }
        Ok(())
    }

    pub async fn rmdir(&self, parent: u64, name: &OsStr) -> FsResult<()> {
        self.check_writable()?;
        let path = self.child_path(parent, name)?;
        match self.kind_at(&path).await? {
            None => return Err(FsError::NotFound),
            Some(FileKind::Directory) => {}
            Some(_) => return Err(FsError::NotDir),
        }
        self.ensure_empty(&path).await?;
        self.client.delete(&self.dir_prefix(&path)).await?;
        self.table().detach(&path);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn rename(
        &self,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
        flags: u32,
    ) -> FsResult<()> {
        self.check_writable()?;
        if flags & RENAME_EXCHANGE != 0 {
            return Err(FsError::Invalid("RENAME_EXCHANGE"));
        }
        let from = self.child_path(parent, name)?;
        let to = self.child_path(new_parent, new_name)?;
        if from == to {
            return Ok(());
        }
        let source = self.kind_at(&from).await?.ok_or(FsError::NotFound)?;
        let target = self.kind_at(&to).await?;
        if target.is_some() && flags & RENAME_NOREPLACE != 0 {
            return Err(FsError::Exists);
        }
        match (source, target) {
            (FileKind::Directory, Some(FileKind::Directory)) => {
                self.ensure_empty(&to).await?;
                self.client.delete(&self.dir_prefix(&to)).await?;
            }
            (FileKind::Directory, Some(_)) => return Err(FsError::NotDir),
            (_, Some(FileKind::Directory)) => return Err(FsError::IsDir),
            _ => {}
        }
        // Unsaved content first: the copy must carry it.
        let dirty = {
            let table = self.table();
            let mut dirty = table.dirty_below(&from);
            dirty.extend(
                table
                    .ino_of(&from)
                    .filter(|ino| table.get(*ino).is_some_and(|n| n.dirty)),
            );
            dirty
        };
        for ino in dirty {
            self.flush_ino(ino).await?;
        }
        if source == FileKind::Directory {
            self.rename_tree(&from, &to).await?;
        } else {
            let size = self
                .fetch_stat(&from, Some(source))
                .await?
                .ok_or(FsError::NotFound)?
                .size;
            self.client
                .rename(&self.file_key(&from), &self.file_key(&to), size)
                .await?;
        }
        self.absent().forget_tree(&to);
        self.table().rename_tree(&from, &to);
        Ok(())
    }

    /// Copies every key below directory `from` to `to`, then deletes the originals: a crash
    /// in between leaves both trees, never neither.
    async fn rename_tree(&self, from: &str, to: &str) -> FsResult<()> {
        let (old_prefix, new_prefix) = (self.dir_prefix(from), self.dir_prefix(to));
        let (objects, _) = self.list_all(&old_prefix, false).await?;
        // Futures gathered first: a stream mapping borrowed items through a closure trips
        // the compiler's Send check across the FUSE task boundary.
        let copies: Vec<_> = objects
            .iter()
            .map(|o| {
                let new_key = format!("{new_prefix}{}", &o.key[old_prefix.len()..]);
                let (client, key, size) = (self.client.clone(), o.key.clone(), o.size);
                async move { client.copy(&key, &new_key, size, None).await }
            })
            .collect();
        futures::stream::iter(copies)
            .buffer_unordered(TREE_OPS_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        let deletes: Vec<_> = objects
            .into_iter()
            .map(|o| {
                let client = self.client.clone();
                async move { client.delete(&o.key).await }
            })
            .collect();
        futures::stream::iter(deletes)
            .buffer_unordered(TREE_OPS_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }
}
