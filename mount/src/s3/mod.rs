//! The S3 side of the mount: a thin client over aws-sdk-s3 that speaks in keys, byte ranges
//! and s3fs metadata, plus the [`Capabilities`] seam where vmgw's fast paths plug in.
//!
//! Every call here is one S3 request (or a bounded group of them for copies of large
//! objects); policies such as read-ahead, staging and multipart streaming live above it.

mod client;
mod error;
mod features;
mod list_metadata;
#[cfg(test)]
pub mod mem;
mod store;

pub use client::{
    Credentials, ListPage, ListRequest, ListedObject, ObjectClient, ObjectInfo, S3Config,
};
pub use error::S3Error;
pub use store::{ObjectStore, Store};

/// Server features beyond plain S3 that make file system operations cheaper. All are off
/// against a plain S3 server; each operation keeps a plain-S3 fallback (copy + delete for
/// rename, whole-object rewrite for appends, HEAD per entry for attributes), so turning one
/// on is an optimisation, never a change of meaning.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Atomic server-side rename of one object (vmgw RenameObject).
    pub rename_object: bool,
    /// Writes at an offset appending to an existing object (vmgw write-offset append).
    pub append: bool,
    /// Listings that carry each object's user metadata (vmgw listing-with-metadata).
    pub list_metadata: bool,
}

/// The largest object a single PUT or CopyObject may create (S3's limit).
pub const MAX_SINGLE_PUT: u64 = 5 << 30;
/// S3's cap on the number of parts of one multipart upload.
pub const MAX_PARTS: u64 = 10_000;
/// The smallest part S3 accepts (except the last).
pub const MIN_PART: u64 = 5 << 20;
