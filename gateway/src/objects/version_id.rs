//! S3 version ids as clients see them.
//!
//! A version with an id of its own shows it as 32 lowercase hex digits of the bitwise
//! complement of its internal (time-ordered) version, so ids sort newest first as text too,
//! as they do in the `versions` table; they are opaque to clients all the same. A `null`
//! version shows as `null`, S3's name for it; its internal number is never shown.

use super::error::{ObjectError, ObjectResult};
use crate::meta::{ObjectRecord, VersionRef};

/// The version id of `record` as S3 shows it.
#[must_use]
pub fn version_id(record: &ObjectRecord) -> String {
    shown_version_id(record.version, record.versioned)
}

/// The id S3 shows for internal version `version`: its own id when `versioned`, else
/// `null`.
#[must_use]
pub fn shown_version_id(version: u128, versioned: bool) -> String {
    if versioned {
        format!("{:032x}", !version)
    } else {
        "null".to_owned()
    }
}

/// The version a `versionId` (or `version-id-marker`) names; `InvalidVersionId` for text
/// that no version id has.
pub fn parse_version_id(text: &str) -> ObjectResult<VersionRef> {
    if text == "null" {
        return Ok(VersionRef::Null);
    }
    if text.len() != 32 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(ObjectError::InvalidVersionId);
    }
    u128::from_str_radix(text, 16)
        .map(|complement| VersionRef::Id(!complement))
        .map_err(|_| ObjectError::InvalidVersionId)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(version: u128, versioned: bool) -> ObjectRecord {
        ObjectRecord::delete_marker(version, versioned, 0, "me".into())
    }

    #[test]
    fn ids_round_trip_and_sort_newest_first() {
        let older = record(1_700_000_000_000u128 << 64 | 5, true);
        let newer = record(1_700_000_000_001u128 << 64, true);
        let (a, b) = (version_id(&older), version_id(&newer));
        assert_eq!(a.len(), 32);
        assert!(b < a, "{b} sorts before {a}");
        assert_eq!(parse_version_id(&a).unwrap(), VersionRef::Id(older.version));
        assert_eq!(version_id(&record(9, false)), "null");
        assert_eq!(parse_version_id("null").unwrap(), VersionRef::Null);
        for bad in [
            "",
            "NULL",
            "Null",
            &a.to_uppercase(),
            &a[1..],
            &format!("{a}0"),
            "zz",
        ] {
            assert!(
                matches!(parse_version_id(bad), Err(ObjectError::InvalidVersionId)),
                "{bad:?}"
            );
        }
    }
}
