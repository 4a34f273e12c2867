//! Errors of the file system layer and their errno, the one place that decides what a failed
//! S3 request or local I/O looks like to a POSIX caller.

use fuser::Errno;

use crate::s3::S3Error;

#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("no such file or directory")]
    NotFound,
    #[error("file exists")]
    Exists,
    #[error("directory not empty")]
    NotEmpty,
    #[error("not a directory")]
    NotDir,
    #[error("is a directory")]
    IsDir,
    #[error("read-only file system")]
    ReadOnly,
    #[error("invalid argument: {0}")]
    Invalid(&'static str),
    #[error("operation not supported: {0}")]
    Unsupported(&'static str),
    #[error("file name too long")]
    NameTooLong,
    #[error("unknown file handle")]
    BadHandle,
    #[error("an earlier upload of this file failed ({cause:?}); its unsaved content is lost")]
    Lost { cause: Errno },
    #[error(
        "the object changed on the server while bytes were being appended to it; the bytes not yet sent are dropped"
    )]
    AppendConflict,
    #[error(transparent)]
    S3(#[from] S3Error),
    #[error("local staging I/O: {0}")]
    Io(#[from] std::io::Error),
}

pub type FsResult<T> = Result<T, FsError>;

impl FsError {
    #[must_use]
    pub fn errno(&self) -> Errno {
        match self {
            Self::NotFound => Errno::ENOENT,
            Self::Exists => Errno::EEXIST,
            Self::NotEmpty => Errno::ENOTEMPTY,
            Self::NotDir => Errno::ENOTDIR,
            Self::IsDir => Errno::EISDIR,
            Self::ReadOnly => Errno::EROFS,
            Self::Invalid(_) => Errno::EINVAL,
            Self::Unsupported(_) => Errno::ENOSYS,
            Self::NameTooLong => Errno::ENAMETOOLONG,
            Self::BadHandle => Errno::EBADF,
            Self::Lost { cause } => *cause,
            Self::AppendConflict => Errno::EIO,
            Self::S3(e) => e.errno(),
            // A full staging disk is worth telling apart: the caller can free space and retry.
            Self::Io(e) if e.raw_os_error() == Some(Errno::ENOSPC.code()) => Errno::ENOSPC,
            Self::Io(_) => Errno::EIO,
        }
    }
}
