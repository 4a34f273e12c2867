//! Internal identifiers of stored blobs.

use std::fmt;
use std::str::FromStr;

/// The internal name of one stored blob: 128 random bits, so ids never collide across
/// gateways that share a remote tier and never need a central counter.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DataId(pub u128);

impl DataId {
    /// A fresh random id.
    #[must_use]
    pub fn random() -> Self {
        Self(rand::random())
    }

    #[must_use]
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    #[must_use]
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(u128::from_be_bytes(bytes))
    }

    /// The first byte, used to spread blobs over 256 shard directories.
    #[must_use]
    pub fn shard(self) -> u8 {
        self.to_bytes()[0]
    }
}

impl fmt::Display for DataId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for DataId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataId({self})")
    }
}

/// Error for a string that is not 32 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a data id: {0:?}")]
pub struct ParseDataIdError(String);

impl FromStr for DataId {
    type Err = ParseDataIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid = s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !valid {
            return Err(ParseDataIdError(s.to_owned()));
        }
        u128::from_str_radix(s, 16)
            .map(DataId)
            .map_err(|_| ParseDataIdError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_parse_round_trip() {
        let id = DataId(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
        let text = id.to_string();
        assert_eq!(text, "0123456789abcdef0011223344556677");
        assert_eq!(text.parse::<DataId>().unwrap(), id);
        assert_eq!(DataId::from_bytes(id.to_bytes()), id);
        assert_eq!(id.shard(), 0x01);
    }

    #[test]
    fn rejects_malformed_ids() {
        for bad in [
            "",
            "xyz",
            "0123456789ABCDEF0011223344556677",
            "0123456789abcdef001122334455667",
        ] {
            assert!(bad.parse::<DataId>().is_err(), "{bad:?} parsed");
        }
    }
}
