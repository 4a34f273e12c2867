//! vmgw-mount: mounts an S3 bucket (or a prefix of it) as a directory, s3fs-style.
//!
//! It must work against any S3 endpoint, so it depends on no other vmgw crate.
//! - [`attrs`]: POSIX attributes stored as s3fs stores them in object metadata, so a bucket
//!   written by s3fs looks the same through vmgw-mount and the other way round;
//! - [`source`], [`options`], [`credentials`]: the command line's inputs;
//! - [`s3`]: one method per S3 request, and the capability seam for vmgw's fast paths;
//! - [`fs`]: POSIX operations in terms of those requests, over the [`inode`] table, the
//!   per-file [`file`] content states, [`readahead`], [`upload`], [`staging`] and
//!   [`append`];
//! - [`fuse`]: the adapter the kernel talks to.

pub mod append;
pub mod attrs;
pub mod credentials;
pub mod error;
pub mod file;
pub mod fs;
pub mod fuse;
pub mod inode;
pub mod options;
pub mod readahead;
pub mod s3;
pub mod source;
pub mod staging;
pub mod upload;
