//! The kernel side: a `fuser::Filesystem` that hands every request to the async [`Fs`] on a
//! tokio runtime and replies from there. The FUSE reading thread never waits on S3, so slow
//! requests (a large upload on close) do not hold up others (lookups, reads elsewhere).

use std::ffi::OsStr;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fuser::{
    AccessFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, InitFlags, KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite,
    ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use tokio::runtime::Handle;

use crate::attrs::FileKind;
use crate::error::FsResult;
use crate::fs::{Attr, AttrChange, Fs};

pub struct FuseFs {
    fs: Arc<Fs>,
    runtime: Handle,
    ttl: Duration,
}

impl std::fmt::Debug for FuseFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FuseFs").finish_non_exhaustive()
    }
}

impl FuseFs {
    #[must_use]
    pub fn new(fs: Arc<Fs>, runtime: Handle) -> Self {
        let ttl = fs.config().ttl;
        Self { fs, runtime, ttl }
    }

    /// Runs `op` on the runtime; `done` sends its reply.
    fn spawn<T, F, Fut>(&self, op: F, done: impl FnOnce(FsResult<T>) + Send + 'static)
    where
        T: Send + 'static,
        F: FnOnce(Arc<Fs>) -> Fut + Send + 'static,
        Fut: Future<Output = FsResult<T>> + Send + 'static,
    {
        let fs = self.fs.clone();
        self.runtime.spawn(async move { done(op(fs).await) });
    }
}

fn file_type(kind: FileKind) -> FileType {
    match kind {
        FileKind::File => FileType::RegularFile,
        FileKind::Directory => FileType::Directory,
        FileKind::Symlink => FileType::Symlink,
    }
}

fn file_attr(a: &Attr) -> FileAttr {
    FileAttr {
        ino: INodeNo(a.ino),
        size: a.size,
        blocks: a.size.div_ceil(512),
        atime: a.mtime,
        mtime: a.mtime,
        ctime: a.mtime,
        crtime: a.mtime,
        kind: file_type(a.kind),
        perm: u16::try_from(a.perm & 0o7777).unwrap_or(0o644),
        nlink: if a.kind == FileKind::Directory { 2 } else { 1 },
        uid: a.uid,
        gid: a.gid,
        rdev: 0,
        flags: 0,
        // What `cp` and friends size their buffers by: one kernel write (128 KiB) or more.
        blksize: 128 << 10,
    }
}

/// What a negative lookup answer carries: node 0 means "no such name" to the kernel.
fn negative_entry() -> FileAttr {
    FileAttr {
        ino: INodeNo(0),
        size: 0,
        blocks: 0,
        atime: SystemTime::UNIX_EPOCH,
        mtime: SystemTime::UNIX_EPOCH,
        ctime: SystemTime::UNIX_EPOCH,
        crtime: SystemTime::UNIX_EPOCH,
        kind: FileType::RegularFile,
        perm: 0,
        nlink: 0,
        uid: 0,
        gid: 0,
        rdev: 0,
        flags: 0,
        blksize: 0,
    }
}

fn errno_of(e: &crate::error::FsError) -> Errno {
    let errno = e.errno();
    // Expected outcomes (a missing name) are not worth a log line; failures are.
    if errno != Errno::ENOENT && errno != Errno::ENOTEMPTY && errno != Errno::EEXIST {
        tracing::warn!(error = %e, "operation failed");
    }
    errno
}

fn time(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

impl Filesystem for FuseFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // O_TRUNC arrives with open, so an overwrite starts a fresh upload instead of a
        // separate truncate that would upload an empty object first.
        let _ = config.add_capabilities(InitFlags::FUSE_ATOMIC_O_TRUNC);
        // Kernel read-ahead is left as the kernel offers it (128 KiB here; fuser refuses
        // more): our own read-ahead, not the request size, is what keeps reads flowing.
        Ok(())
    }

    fn destroy(&mut self) {
        // Files still unsaved when the kernel lets go (a lazy unmount) are saved now. This
        // runs on the FUSE session thread, outside the runtime, so blocking on it is allowed.
        let fs = self.fs.clone();
        self.runtime.block_on(fs.flush_all());
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let (name, ttl) = (name.to_owned(), self.ttl);
        self.spawn(
            move |fs| async move { fs.lookup(parent.0, &name).await },
            move |r| match r {
                Ok(a) => reply.entry(&ttl, &file_attr(&a), Generation(0)),
                // A negative entry (node 0) that the kernel caches for the TTL, as positive
                // ones: an `open(O_CREAT)` looks its name up several times, and each miss
                // answered with a bare ENOENT cost another HEAD and LIST. The mount's own
                // create, mkdir, symlink and rename replace the cached entry, so its writes
                // stay visible at once; other writers' within the TTL, as for any entry.
                Err(e) => match errno_of(&e) {
                    Errno::ENOENT => reply.entry(&ttl, &negative_entry(), Generation(0)),
                    errno => reply.error(errno),
                },
            },
        );
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.fs.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let ttl = self.ttl;
        self.spawn(
            move |fs| async move { fs.getattr(ino.0).await },
            move |r| match r {
                Ok(a) => reply.attr(&ttl, &file_attr(&a)),
                Err(e) => reply.error(errno_of(&e)),
            },
        );
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let ttl = self.ttl;
        let change = AttrChange {
            mode,
            uid,
            gid,
            mtime: mtime.map(time),
        };
        self.spawn(
            move |fs| async move { fs.setattr(ino.0, size, change).await },
            move |r| match r {
                Ok(a) => reply.attr(&ttl, &file_attr(&a)),
                Err(e) => reply.error(errno_of(&e)),
            },
        );
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        self.spawn(
            move |fs| async move { fs.readlink(ino.0).await },
            move |r| match r {
                Ok(target) => reply.data(&target),
                Err(e) => reply.error(errno_of(&e)),
            },
        );
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let (name, ttl, uid, gid) = (name.to_owned(), self.ttl, req.uid(), req.gid());
        self.spawn(
            move |fs| async move { fs.mkdir(parent.0, &name, mode, umask, uid, gid).await },
            move |r| match r {
                Ok(a) => reply.entry(&ttl, &file_attr(&a), Generation(0)),
                Err(e) => reply.error(errno_of(&e)),
            },
        );
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let name = name.to_owned();
        self.spawn(
            move |fs| async move { fs.unlink(parent.0, &name).await },
            move |r| match r {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno_of(&e)),
            },
        );
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let name = name.to_owned();
        self.spawn(
            move |fs| async move { fs.rmdir(parent.0, &name).await },
            move |r| match r {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno_of(&e)),
            },
        );
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let (name, target) = (link_name.to_owned(), target.to_owned());
        let (ttl, uid, gid) = (self.ttl, req.uid(), req.gid());
        self.spawn(
            move |fs| async move { fs.symlink(parent.0, &name, &target, uid, gid).await },
            move |r| match r {
                Ok(a) => reply.entry(&ttl, &file_attr(&a), Generation(0)),
                Err(e) => reply.error(errno_of(&e)),
            },
        );
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let (name, newname, flags) = (name.to_owned(), newname.to_owned(), flags.bits());
        self.spawn(
            move |fs| async move {
                fs.rename(parent.0, &name, newparent.0, &newname, flags)
                    .await
            },
            move |r| match r {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno_of(&e)),
            },
        );
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        self.spawn(
            move |fs| async move { fs.open(ino.0, flags.0).await },
            move |r| match r {
                Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
                Err(e) => reply.error(errno_of(&e)),
            },
        );
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.spawn(
            move |fs| async move { fs.read(ino.0, fh.0, offset, size).await },
            move |r| match r {
                Ok(data) => reply.data(&data),
                Err(e) => reply.error(errno_of(&e)),
            },
        );
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let data = data.to_vec();
        self.spawn(
            move |fs| async move { fs.write(ino.0, fh.0, offset, &data).await },
            move |r| match r {
                Ok(n) => reply.written(n),
                Err(e) => reply.error(errno_of(&e)),
            },
        );
    }

    fn flush(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        self.spawn(
            move |fs| async move { fs.flush(ino.0).await },
            move |r| match r {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno_of(&e)),
            },
        );
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.spawn(
            move |fs| async move {
                fs.release(ino.0, fh.0).await;
                Ok(())
            },
            move |_: FsResult<()>| reply.ok(),
        );
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.spawn(
            move |fs| async move { fs.flush(ino.0).await },
            move |r| match r {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno_of(&e)),
            },
        );
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        self.spawn(
            move |fs| async move { fs.opendir(ino.0).await },
            move |r| match r {
                Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
                Err(e) => reply.error(errno_of(&e)),
            },
        );
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        match self.fs.readdir(fh.0) {
            Ok(entries) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX);
                for (i, e) in entries.iter().enumerate().skip(start) {
                    if reply.add(INodeNo(e.ino), i as u64 + 1, file_type(e.kind), &e.name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(e) => reply.error(errno_of(&e)),
        }
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.fs.releasedir(fh.0);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        // Directory changes are single requests, durable when they return.
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        // A bucket has no fixed size: report plenty of room (as s3fs does), so tools that
        // check free space before writing go ahead.
        const BLOCKS: u64 = 1 << 36;
        reply.statfs(BLOCKS, BLOCKS, BLOCKS, 1 << 32, 1 << 32, 4096, 255, 4096);
    }

    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: ReplyXattr,
    ) {
        // No extended attributes: ENOSYS makes the kernel stop asking for this mount.
        reply.error(Errno::ENOSYS);
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, _size: u32, reply: ReplyXattr) {
        reply.error(Errno::ENOSYS);
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        // Permissions are checked by the kernel (default_permissions).
        reply.ok();
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let (name, ttl, uid, gid) = (name.to_owned(), self.ttl, req.uid(), req.gid());
        self.spawn(
            move |fs| async move { fs.create(parent.0, &name, mode, umask, uid, gid).await },
            move |r| match r {
                Ok((a, fh)) => reply.created(
                    &ttl,
                    &file_attr(&a),
                    Generation(0),
                    FileHandle(fh),
                    FopenFlags::empty(),
                ),
                Err(e) => reply.error(errno_of(&e)),
            },
        );
    }
}
