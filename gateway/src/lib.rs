//! The vmgw gateway: S3 front end, object service and metadata.
//!
//! - [`s3`]: the thin `impl s3s::S3`, the one place that speaks S3 DTOs and error codes.
//! - [`objects`]: the object service (S3 semantics over metadata and tiers).
//! - [`meta`]: the metadata store seam and its embedded implementation.
//! - [`server`], [`app`]: listeners, request logging, assembly, shutdown.
//! - [`backup`], [`recover`]: metadata backups to a remote tier, and rebuilding a lost host
//!   from them.

pub mod admin;
pub mod app;
pub mod atomic_file;
pub mod auth;
pub mod backup;
pub mod byte_size;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod faults;
pub mod meta;
pub mod metrics;
pub mod objects;
pub mod recover;
pub mod reload;
pub mod s3;
pub mod server;
