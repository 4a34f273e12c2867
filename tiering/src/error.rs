//! The tiering crate's error type.

use std::io;

use crate::DataId;

#[derive(Debug, thiserror::Error)]
pub enum TierError {
    #[error("data {0} not found on tier")]
    NotFound(DataId),

    /// Stored bytes failed verification: a flipped bit, a truncated or reordered chunk, or a
    /// file that belongs to another id. Never served; callers report it as an I/O failure.
    #[error("data {id} is corrupt: {reason}")]
    Corrupt { id: DataId, reason: String },

    #[error("data {id} is sealed with key {key_id}, which this tier does not have")]
    KeyUnavailable { id: DataId, key_id: u32 },

    /// The tier's storage cannot be reached or refuses service (a remote tier that is down,
    /// throttles or denies access). Retryable; the gateway answers 503.
    #[error("tier {tier} is unavailable: {reason}")]
    Unavailable { tier: String, reason: String },

    #[error("tier is full")]
    Full,

    #[error("read past the end of data {id}: offset {offset}, length {len}")]
    OutOfRange { id: DataId, offset: u64, len: u64 },

    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

impl TierError {
    pub(crate) fn io(path: impl std::fmt::Display, source: io::Error) -> Self {
        if source.raw_os_error() == Some(28) {
            // ENOSPC: surfaced separately so the gateway can answer with a clean "full" error
            // instead of an internal one.
            return Self::Full;
        }
        Self::Io {
            path: path.to_string(),
            source,
        }
    }

    pub(crate) fn corrupt(id: DataId, reason: impl Into<String>) -> Self {
        Self::Corrupt {
            id,
            reason: reason.into(),
        }
    }
}
