//! Storage tiers for vmgw.
//!
//! A *tier* stores immutable blobs of object data under internal [`DataId`]s. The gateway
//! never names data by user keys: a blob is written once under a fresh id, made durable,
//! and only then referenced from metadata. Overwrites are therefore atomic at the metadata
//! level, and any key (unicode, `../`, 1024 bytes, trailing slashes) is safe on disk.
//!
//! The traits are blocking on purpose: the gateway drives them from its blocking pool so
//! that hashing, checksumming and syscalls stay off the async reactor. A remote tier can
//! still implement them by blocking on its own runtime handle.
//!
//! Every blob carries per-chunk CRC32C checksums (see [`format`]) that are verified on
//! every read; corruption is reported as [`TierError::Corrupt`], never returned as bytes.

mod blob;
mod cache;
mod chunk_buf;
mod codec;
mod error;
pub mod format;
mod id;
mod keys;
mod local;
mod remote;
mod tier;

#[cfg(feature = "testing")]
pub mod conformance;
#[cfg(feature = "testing")]
mod mem;

pub use cache::{CacheOptions, CachedTier, PromotionPolicy};
pub use codec::CodecOptions;
pub use error::TierError;
pub use id::DataId;
pub use keys::{KeyError, Keyring, parse_hex_key};
pub use local::{LocalTier, LocalTierOptions, QUARANTINE_DIR};
pub use remote::{
    BACKUP_AREA, BackupName, QUARANTINE_AREA, RemoteTier, RemoteTierOptions, RequestObserver,
    StoredBackup,
};
pub use tier::{DataReader, DataWriter, Space, Tier};

#[cfg(feature = "testing")]
pub use mem::MemTier;
