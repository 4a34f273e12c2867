//! RenameObject (`PUT /{key}?renameObject`, `x-amz-rename-source`), as S3 defines it for
//! directory buckets, on every vmgw bucket: what lets a mounted bucket `mv` atomically.

use hyper::HeaderMap;
use percent_encoding::percent_decode_str;
use s3s::dto::{ETagCondition, Timestamp, TimestampFormat};
use s3s::{Body, S3Error, S3ErrorCode, S3Response, S3Result};

use super::convert::conditions;
use super::errors::to_s3;
use super::extensions::{ExtensionRoutes, Target};
use crate::objects::{Conditions, RenameObject};

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn invalid(message: String) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, message)
}

fn etag(headers: &HeaderMap, name: &str) -> S3Result<Option<ETagCondition>> {
    header(headers, name)
        .map(|v| {
            ETagCondition::parse_http_header(v.as_bytes())
                .map_err(|_| invalid(format!("{name} is not a valid entity tag: {v:?}")))
        })
        .transpose()
}

fn date(headers: &HeaderMap, name: &str) -> S3Result<Option<Timestamp>> {
    header(headers, name)
        .map(|v| {
            Timestamp::parse(TimestampFormat::HttpDate, v)
                .map_err(|_| invalid(format!("{name} is not an HTTP date: {v:?}")))
        })
        .transpose()
}

/// The four conditional headers under `prefix` (`if-` or `x-amz-rename-source-if-`).
fn conditions_under(headers: &HeaderMap, prefix: &str) -> S3Result<Conditions> {
    Ok(conditions(
        etag(headers, &format!("{prefix}match"))?,
        etag(headers, &format!("{prefix}none-match"))?,
        date(headers, &format!("{prefix}modified-since"))?,
        date(headers, &format!("{prefix}unmodified-since"))?,
    ))
}

/// The source key from `x-amz-rename-source`: URL-encoded, `[/]bucket/key` like a copy
/// source, naming the request's own bucket (S3 renames only within a bucket).
fn source_key(value: &str, bucket: &str) -> S3Result<String> {
    let decoded = percent_decode_str(value)
        .decode_utf8()
        .map_err(|_| invalid("x-amz-rename-source is not UTF-8".to_owned()))?;
    let path = decoded.strip_prefix('/').unwrap_or(&decoded);
    match path.split_once('/') {
        Some((b, key)) if b == bucket && !key.is_empty() => Ok(key.to_owned()),
        Some((b, _)) if b != bucket => Err(invalid(format!(
            "x-amz-rename-source names bucket {b:?}; an object can only be renamed within its bucket {bucket:?}"
        ))),
        _ => Err(invalid(format!(
            "x-amz-rename-source must be BUCKET/KEY, not {value:?}"
        ))),
    }
}

impl ExtensionRoutes {
    pub(super) async fn rename(
        &self,
        target: Target,
        headers: &HeaderMap,
    ) -> S3Result<S3Response<Body>> {
        let source = header(headers, "x-amz-rename-source").ok_or_else(|| {
            invalid("RenameObject needs the x-amz-rename-source header".to_owned())
        })?;
        let rename = RenameObject {
            source_key: source_key(source, &target.bucket)?,
            source_conditions: conditions_under(headers, "x-amz-rename-source-if-")?,
            destination_conditions: conditions_under(headers, "if-")?,
            bucket: target.bucket,
            key: target.key,
        };
        self.objects.rename_object(rename).await.map_err(to_s3)?;
        Ok(S3Response::new(Body::empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_sources_name_a_key_in_the_same_bucket() {
        assert_eq!(source_key("/b/dir/a%20b", "b").unwrap(), "dir/a b");
        assert_eq!(source_key("b/k", "b").unwrap(), "k");
        assert!(source_key("other/k", "b").is_err());
        assert!(source_key("b/", "b").is_err());
        assert!(source_key("k", "b").is_err());
    }
}
