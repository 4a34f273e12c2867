//! vmgw-mount: mounts an S3 bucket (or a prefix of it) as a directory, s3fs-style.
//!
//! It must work against any S3 endpoint, so it depends on no other vmgw crate. This first
//! part holds the two contracts the FUSE layer builds on:
//! - [`attrs`]: POSIX attributes stored as s3fs stores them in object metadata, so a bucket
//!   written by s3fs looks the same through vmgw-mount and the other way round;
//! - [`source`] and [`options`]: the `BUCKET[:/PREFIX]` argument and s3fs-style `-o` options.

pub mod attrs;
pub mod options;
pub mod source;
