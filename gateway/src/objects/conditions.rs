//! Conditional requests (`If-Match`, `If-None-Match`, `If-Modified-Since`,
//! `If-Unmodified-Since`) and byte ranges, evaluated as S3 does (RFC 9110 order).

use std::ops::Range;

use super::error::ObjectError;
use crate::meta::ObjectRecord;

/// An entity-tag condition: `*` or a list of tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtagMatch {
    Any,
    Tags(Vec<String>),
}

impl EtagMatch {
    fn matches(&self, etag: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Tags(tags) => tags.iter().any(|t| t == etag),
        }
    }
}

/// The conditional headers of a GET, HEAD or copy source.
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    pub if_match: Option<EtagMatch>,
    pub if_none_match: Option<EtagMatch>,
    /// Seconds since the Unix epoch (HTTP dates have second precision).
    pub if_modified_since: Option<i64>,
    pub if_unmodified_since: Option<i64>,
}

impl Conditions {
    /// Checks the conditions against the current object. `not_modified_is_error` picks the
    /// copy-source behaviour, where S3 answers 412 instead of 304.
    pub fn check(
        &self,
        record: &ObjectRecord,
        not_modified_is_error: bool,
    ) -> Result<(), ObjectError> {
        let modified = record.modified_ms.div_euclid(1000);
        match &self.if_match {
            Some(m) if !m.matches(&record.etag) => return Err(ObjectError::PreconditionFailed),
            Some(_) => {}
            None => {
                if self
                    .if_unmodified_since
                    .is_some_and(|since| modified > since)
                {
                    return Err(ObjectError::PreconditionFailed);
                }
            }
        }
        let not_modified = match &self.if_none_match {
            Some(m) => m.matches(&record.etag),
            None => self
                .if_modified_since
                .is_some_and(|since| modified <= since),
        };
        if not_modified {
            if not_modified_is_error {
                return Err(ObjectError::PreconditionFailed);
            }
            return Err(ObjectError::NotModified {
                etag: record.etag.clone(),
                modified_ms: record.modified_ms,
            });
        }
        Ok(())
    }
}

/// A requested byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=first-` or `bytes=first-last` (inclusive).
    From { first: u64, last: Option<u64> },
    /// `bytes=-len`: the last `len` bytes.
    Suffix { len: u64 },
}

impl ByteRange {
    /// The byte range within an object of `size` bytes, or `InvalidRange`.
    pub fn resolve(self, size: u64) -> Result<Range<u64>, ObjectError> {
        let invalid = ObjectError::InvalidRange { size };
        match self {
            Self::From { first, last } => {
                if first >= size {
                    return Err(invalid);
                }
                let end = last.map_or(size, |last| last.saturating_add(1).min(size));
                if end <= first {
                    return Err(invalid);
                }
                Ok(first..end)
            }
            Self::Suffix { len } => {
                if len == 0 || size == 0 {
                    return Err(invalid);
                }
                Ok(size.saturating_sub(len)..size)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::ContentHeaders;

    fn record(etag: &str, modified_secs: i64) -> ObjectRecord {
        ObjectRecord {
            version: 1,
            size: 10,
            etag: etag.into(),
            modified_ms: modified_secs * 1000 + 500,
            content: ContentHeaders::default(),
            user_meta: vec![],
            storage_class: None,
            checksum: None,
            parts: None,
            owner: "o".into(),
            tags: Vec::new(),
            access_tier: None,
            versioned: false,
            delete_marker: false,
        }
    }

    fn tags(t: &[&str]) -> Option<EtagMatch> {
        Some(EtagMatch::Tags(t.iter().map(|s| (*s).to_owned()).collect()))
    }

    #[test]
    fn s3_precedence_rules() {
        let r = record("abc", 1000);
        let ok = |c: Conditions| c.check(&r, false);
        assert!(
            ok(Conditions {
                if_match: tags(&["abc"]),
                ..Default::default()
            })
            .is_ok()
        );
        assert!(matches!(
            ok(Conditions {
                if_match: tags(&["x"]),
                ..Default::default()
            }),
            Err(ObjectError::PreconditionFailed)
        ));
        // If-Match true wins over a failing If-Unmodified-Since.
        assert!(
            ok(Conditions {
                if_match: tags(&["abc"]),
                if_unmodified_since: Some(10),
                ..Default::default()
            })
            .is_ok()
        );
        assert!(matches!(
            ok(Conditions {
                if_unmodified_since: Some(999),
                ..Default::default()
            }),
            Err(ObjectError::PreconditionFailed)
        ));
        assert!(
            ok(Conditions {
                if_unmodified_since: Some(1000),
                ..Default::default()
            })
            .is_ok()
        );
        assert!(matches!(
            ok(Conditions {
                if_none_match: tags(&["abc"]),
                ..Default::default()
            }),
            Err(ObjectError::NotModified { .. })
        ));
        // If-None-Match false (tag differs) decides: 200 even though If-Modified-Since says 304.
        assert!(
            ok(Conditions {
                if_none_match: tags(&["zzz"]),
                if_modified_since: Some(2000),
                ..Default::default()
            })
            .is_ok()
        );
        assert!(matches!(
            ok(Conditions {
                if_modified_since: Some(1000),
                ..Default::default()
            }),
            Err(ObjectError::NotModified { .. })
        ));
        assert!(
            ok(Conditions {
                if_modified_since: Some(999),
                ..Default::default()
            })
            .is_ok()
        );
        assert!(matches!(
            Conditions {
                if_none_match: Some(EtagMatch::Any),
                ..Default::default()
            }
            .check(&r, true),
            Err(ObjectError::PreconditionFailed)
        ));
    }

    #[test]
    fn ranges() {
        let from = |first, last| ByteRange::From { first, last };
        assert_eq!(from(0, Some(0)).resolve(10).unwrap(), 0..1);
        assert_eq!(from(5, None).resolve(10).unwrap(), 5..10);
        assert_eq!(from(5, Some(100)).resolve(10).unwrap(), 5..10);
        assert_eq!(ByteRange::Suffix { len: 3 }.resolve(10).unwrap(), 7..10);
        assert_eq!(ByteRange::Suffix { len: 30 }.resolve(10).unwrap(), 0..10);
        assert!(from(10, None).resolve(10).is_err());
        assert!(from(0, None).resolve(0).is_err());
        assert!(ByteRange::Suffix { len: 0 }.resolve(10).is_err());
    }
}
