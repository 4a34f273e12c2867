//! Object tags: S3's limits, the `x-amz-tagging` header form, and tag updates.

use std::collections::HashSet;

use super::ObjectService;
use super::error::{ObjectError, ObjectResult};
use crate::meta::{MetaError, VersionRef, WriteOp};

const MAX_TAGS: usize = 10;
const MAX_KEY: usize = 128;
const MAX_VALUE: usize = 256;

/// Checks tags against S3's limits: at most 10, keys of 1–128 and values of at most 256
/// characters, unique keys, none in the reserved `aws:` namespace.
pub fn validate_tags(tags: &[(String, String)]) -> ObjectResult<()> {
    if tags.len() > MAX_TAGS {
        return Err(ObjectError::InvalidTag(format!(
            "Object tags cannot be greater than {MAX_TAGS}"
        )));
    }
    let mut keys = HashSet::new();
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > MAX_KEY {
            return Err(ObjectError::InvalidTag(format!(
                "The TagKey you have provided is invalid: {key:?} (1 to {MAX_KEY} characters)"
            )));
        }
        if value.chars().count() > MAX_VALUE {
            return Err(ObjectError::InvalidTag(format!(
                "The TagValue you have provided is invalid: at most {MAX_VALUE} characters"
            )));
        }
        if key.starts_with("aws:") {
            return Err(ObjectError::InvalidTag(
                "Your TagKey cannot be prefixed with aws:".into(),
            ));
        }
        if !keys.insert(key.as_str()) {
            return Err(ObjectError::InvalidTag(
                "Cannot provide multiple Tags with the same key".into(),
            ));
        }
    }
    Ok(())
}

/// Parses the `x-amz-tagging` header: URL-encoded `key=value` pairs joined by `&`.
pub fn parse_tagging_header(header: &str) -> ObjectResult<Vec<(String, String)>> {
    let tags: Vec<(String, String)> = url_pairs(header)?;
    validate_tags(&tags)?;
    Ok(tags)
}

fn url_pairs(text: &str) -> ObjectResult<Vec<(String, String)>> {
    let decode = |s: &str| -> ObjectResult<String> {
        let s = s.replace('+', " ");
        let mut out = Vec::with_capacity(s.len());
        let bytes = s.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        ObjectError::InvalidArgument(format!("invalid tagging header {text:?}"))
                    })?;
                out.push(hex);
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out)
            .map_err(|_| ObjectError::InvalidArgument(format!("invalid tagging header {text:?}")))
    };
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(key)?, decode(value)?))
        })
        .collect()
}

/// An object version's tags, and its `x-amz-version-id`.
pub type VersionTags = (Vec<(String, String)>, Option<String>);

impl ObjectService {
    /// The tags of an object's current version, or of `version`; with the version's
    /// `x-amz-version-id`.
    pub fn object_tags(
        &self,
        bucket: &str,
        key: &str,
        version: Option<VersionRef>,
    ) -> ObjectResult<VersionTags> {
        let bucket = self.bucket(bucket)?;
        let (record, _) = self.version_record(&bucket, key, version)?;
        let version_id = Self::version_header(&bucket, &record);
        Ok((record.tags, version_id))
    }

    /// Replaces the tags of the current version, or of `version` (an empty set deletes
    /// them); returns the version's `x-amz-version-id`.
    pub async fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        version: Option<VersionRef>,
        tags: Vec<(String, String)>,
    ) -> ObjectResult<Option<String>> {
        validate_tags(&tags)?;
        let bucket = self.bucket(bucket)?;
        // A concurrent overwrite makes the version check fail: retry on the new version,
        // as a request arriving after it would.
        for _ in 0..8 {
            let (record, _) = self.version_record(&bucket, key, version)?;
            let op = WriteOp::SetObjectTags {
                bucket_id: bucket.id,
                key: key.to_owned(),
                version: record.version,
                tags: tags.clone(),
            };
            match self.meta.apply(op).await {
                Ok(_) => return Ok(Self::version_header(&bucket, &record)),
                Err(MetaError::PreconditionFailed) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(ObjectError::Internal(
            "the object kept changing while its tags were set".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_form_and_limits() {
        assert_eq!(
            parse_tagging_header("a=1&b%20c=d%2Fe&empty=").unwrap(),
            vec![
                ("a".into(), "1".into()),
                ("b c".into(), "d/e".into()),
                ("empty".into(), String::new())
            ]
        );
        let eleven: Vec<_> = (0..11).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(matches!(
            validate_tags(&eleven),
            Err(ObjectError::InvalidTag(_))
        ));
        for bad in [
            vec![(String::new(), "v".into())],
            vec![("k".repeat(129), "v".into())],
            vec![("k".into(), "v".repeat(257))],
            vec![("aws:x".into(), "v".into())],
            vec![("k".into(), "1".into()), ("k".into(), "2".into())],
        ] {
            assert!(
                matches!(validate_tags(&bad), Err(ObjectError::InvalidTag(_))),
                "{bad:?}"
            );
        }
        assert!(parse_tagging_header("a=%zz").is_err());
    }
}
