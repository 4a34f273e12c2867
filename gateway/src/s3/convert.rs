//! Conversions between s3s DTO fields and the object service's types.

use futures::StreamExt;
use s3s::dto::{self, ETagCondition, Metadata, StreamingBlob, Timestamp};
use s3s::{S3Error, S3ErrorCode, TrailingHeaders};
use time::OffsetDateTime;

use crate::meta::{ChecksumAlgorithm, ChecksumKind, ContentHeaders, StoredChecksum};
use crate::objects::{
    BodyError, ByteRange, ByteStream, ChecksumInput, Conditions, EtagMatch, TrailerSource,
};

pub fn datetime(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub fn timestamp(ms: i64) -> Timestamp {
    Timestamp::from(datetime(ms))
}

pub fn millis(ts: Timestamp) -> i64 {
    let dt: OffsetDateTime = ts.into();
    i64::try_from(dt.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn seconds(ts: Timestamp) -> i64 {
    let dt: OffsetDateTime = ts.into();
    dt.unix_timestamp()
}

/// An HTTP date (RFC 9110 IMF-fixdate), as `Last-Modified` carries it.
pub fn http_date(ms: i64) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    // Formatting a valid date with a fixed description cannot fail.
    datetime(ms).format(&format).unwrap_or_default()
}

/// User metadata in a stable order (S3 reports it as headers, where order is not kept).
pub fn user_meta(metadata: Option<Metadata>) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = metadata
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    pairs.sort();
    pairs
}

pub fn metadata_map(pairs: &[(String, String)]) -> Option<Metadata> {
    if pairs.is_empty() {
        return None;
    }
    Some(pairs.iter().cloned().collect())
}

pub fn content_headers(
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    expires: Option<Timestamp>,
    website_redirect_location: Option<String>,
) -> ContentHeaders {
    ContentHeaders {
        content_type,
        content_encoding,
        content_disposition,
        content_language,
        cache_control,
        expires_ms: expires.map(millis),
        website_redirect_location,
    }
}

fn etag_match(condition: Option<ETagCondition>) -> Option<EtagMatch> {
    condition.map(|c| match c {
        ETagCondition::Any => EtagMatch::Any,
        ETagCondition::ETag(etag) => EtagMatch::Tags(vec![etag.value().to_owned()]),
    })
}

pub fn conditions(
    if_match: Option<ETagCondition>,
    if_none_match: Option<ETagCondition>,
    if_modified_since: Option<Timestamp>,
    if_unmodified_since: Option<Timestamp>,
) -> Conditions {
    Conditions {
        if_match: etag_match(if_match),
        if_none_match: etag_match(if_none_match),
        if_modified_since: if_modified_since.map(seconds),
        if_unmodified_since: if_unmodified_since.map(seconds),
    }
}

pub fn byte_range(range: Option<dto::Range>) -> Option<ByteRange> {
    range.map(|r| match r {
        dto::Range::Int { first, last } => ByteRange::From { first, last },
        dto::Range::Suffix { length } => ByteRange::Suffix { len: length },
    })
}

/// Parses `x-amz-copy-source-range: bytes=first-last`.
pub fn copy_source_range(value: Option<&str>) -> Result<Option<ByteRange>, S3Error> {
    let Some(value) = value else { return Ok(None) };
    let invalid = || {
        S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last",
        )
    };
    let spec = value.trim().strip_prefix("bytes=").ok_or_else(invalid)?;
    let (first, last) = spec.split_once('-').ok_or_else(invalid)?;
    let first: u64 = first.trim().parse().map_err(|_| invalid())?;
    let last: u64 = last.trim().parse().map_err(|_| invalid())?;
    Ok(Some(ByteRange::From {
        first,
        last: Some(last),
    }))
}

struct Trailers(TrailingHeaders);

impl TrailerSource for Trailers {
    fn trailer(&self, name: &str) -> Option<String> {
        self.0
            .read(|headers| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            })
            .flatten()
    }
}

fn unsupported_algorithm(name: &str) -> S3Error {
    S3Error::with_message(
        S3ErrorCode::InvalidRequest,
        format!("Unsupported checksum algorithm {name:?}"),
    )
}

/// An `x-amz-checksum-algorithm` / `x-amz-sdk-checksum-algorithm` value.
pub fn checksum_algorithm(
    value: Option<&dto::ChecksumAlgorithm>,
) -> Result<Option<ChecksumAlgorithm>, S3Error> {
    value
        .map(|a| {
            ChecksumAlgorithm::parse(a.as_str()).ok_or_else(|| unsupported_algorithm(a.as_str()))
        })
        .transpose()
}

pub fn checksum_algorithm_dto(
    algorithm: Option<ChecksumAlgorithm>,
) -> Option<dto::ChecksumAlgorithm> {
    algorithm.map(|a| dto::ChecksumAlgorithm::from(a.name().to_owned()))
}

pub fn checksum_kind_dto(kind: Option<ChecksumKind>) -> Option<dto::ChecksumType> {
    kind.map(|k| {
        dto::ChecksumType::from(
            match k {
                ChecksumKind::FullObject => dto::ChecksumType::FULL_OBJECT,
                ChecksumKind::Composite => dto::ChecksumType::COMPOSITE,
            }
            .to_owned(),
        )
    })
}

/// A `partNumber` query parameter: a positive integer.
pub fn part_number(value: Option<i32>) -> Result<Option<u32>, S3Error> {
    value
        .map(|n| {
            u32::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| {
                S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "partNumber must be a positive integer",
                )
            })
        })
        .transpose()
}

/// Works out which additional checksum a request carries and how.
#[allow(clippy::too_many_arguments)]
pub fn checksum_input(
    sdk_algorithm: Option<&dto::ChecksumAlgorithm>,
    crc32: Option<String>,
    crc32c: Option<String>,
    crc64nvme: Option<String>,
    sha1: Option<String>,
    sha256: Option<String>,
    headers: &http::HeaderMap,
    trailers: Option<TrailingHeaders>,
) -> Result<ChecksumInput, S3Error> {
    let sent: Vec<(ChecksumAlgorithm, String)> = [
        (ChecksumAlgorithm::Crc32, crc32),
        (ChecksumAlgorithm::Crc32c, crc32c),
        (ChecksumAlgorithm::Crc64Nvme, crc64nvme),
        (ChecksumAlgorithm::Sha1, sha1),
        (ChecksumAlgorithm::Sha256, sha256),
    ]
    .into_iter()
    .filter_map(|(a, v)| v.map(|v| (a, v)))
    .collect();
    if sent.len() > 1 {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "Expecting a single x-amz-checksum- header",
        ));
    }
    let declared = checksum_algorithm(sdk_algorithm)?;
    let trailer_algorithm = headers
        .get("x-amz-trailer")
        .and_then(|v| v.to_str().ok())
        .and_then(|name| name.trim().strip_prefix("x-amz-checksum-"))
        .map(|name| ChecksumAlgorithm::parse(name).ok_or_else(|| unsupported_algorithm(name)))
        .transpose()?;
    let (algorithm, value) = match sent.into_iter().next() {
        Some((algorithm, value)) => (Some(algorithm), Some(value)),
        None => (trailer_algorithm.or(declared), None),
    };
    Ok(ChecksumInput {
        algorithm,
        value,
        trailers: trailers.map(|t| Box::new(Trailers(t)) as Box<dyn TrailerSource>),
    })
}

/// The fields S3 uses to report an additional checksum.
#[derive(Default)]
pub struct ChecksumFields {
    pub crc32: Option<String>,
    pub crc32c: Option<String>,
    pub crc64nvme: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub kind: Option<dto::ChecksumType>,
}

pub fn checksum_fields(checksum: Option<&StoredChecksum>) -> ChecksumFields {
    let mut out = ChecksumFields::default();
    let Some(c) = checksum else { return out };
    let value = Some(c.value.clone());
    match c.algorithm {
        ChecksumAlgorithm::Crc32 => out.crc32 = value,
        ChecksumAlgorithm::Crc32c => out.crc32c = value,
        ChecksumAlgorithm::Crc64Nvme => out.crc64nvme = value,
        ChecksumAlgorithm::Sha1 => out.sha1 = value,
        ChecksumAlgorithm::Sha256 => out.sha256 = value,
    }
    out.kind = checksum_kind_dto(Some(c.kind));
    out
}

/// Adapts an s3s body to the object service's stream, classifying failures.
pub fn body_stream(blob: Option<StreamingBlob>) -> ByteStream {
    match blob {
        Some(blob) => Box::pin(blob.map(|frame| frame.map_err(|e| classify_body_error(&*e)))),
        None => Box::pin(futures::stream::empty()),
    }
}

/// s3s reports payload verification failures as opaque stream errors; their display
/// text names the failure.
fn classify_body_error(e: &(dyn std::error::Error + Send + Sync)) -> BodyError {
    let text = e.to_string();
    if text.contains("Sha256Mismatch") {
        BodyError::Sha256Mismatch
    } else if text.contains("SignatureMismatch") {
        BodyError::SignatureMismatch
    } else {
        BodyError::Incomplete(text)
    }
}

/// Wraps an object-service stream as an s3s body with a known length.
pub fn blob(stream: ByteStream, len: u64) -> StreamingBlob {
    let stream = stream
        .map(|frame| frame.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>));
    StreamingBlob::new(SizedStream {
        inner: stream,
        remaining: len,
    })
}

/// A byte stream that knows its exact length, so responses carry Content-Length.
struct SizedStream<S> {
    inner: S,
    remaining: u64,
}

impl<S> futures::Stream for SizedStream<S>
where
    S: futures::Stream<Item = Result<bytes::Bytes, s3s::StdError>> + Unpin,
{
    type Item = Result<bytes::Bytes, s3s::StdError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let polled = self.inner.poll_next_unpin(cx);
        if let std::task::Poll::Ready(Some(Ok(bytes))) = &polled {
            self.remaining = self.remaining.saturating_sub(bytes.len() as u64);
        }
        polled
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, None)
    }
}

impl<S> s3s::stream::ByteStream for SizedStream<S>
where
    S: futures::Stream<Item = Result<bytes::Bytes, s3s::StdError>> + Unpin,
{
    fn remaining_length(&self) -> s3s::stream::RemainingLength {
        usize::try_from(self.remaining).map_or_else(
            |_| s3s::stream::RemainingLength::unknown(),
            s3s::stream::RemainingLength::new_exact,
        )
    }
}

pub fn owner(id: &str) -> dto::Owner {
    dto::Owner {
        display_name: Some(id.to_owned()),
        id: Some(id.to_owned()),
    }
}

/// Percent-encodes a key for `encoding-type=url` responses (as S3 does: everything but
/// unreserved characters and `/`).
pub fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A tag of a filter in a bucket configuration: its key (required, non-empty) and value.
pub fn tag_pair(tag: &dto::Tag) -> Option<(String, String)> {
    match (&tag.key, &tag.value) {
        (Some(k), v) if !k.is_empty() => Some((k.clone(), v.clone().unwrap_or_default())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_are_imf_fixdate() {
        assert_eq!(http_date(784_111_777_000), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn url_encoding_keeps_slashes() {
        assert_eq!(url_encode("a b/ü+%"), "a%20b/%C3%BC%2B%25");
    }

    #[test]
    fn copy_range_parsing() {
        assert_eq!(
            copy_source_range(Some("bytes=0-9")).unwrap(),
            Some(ByteRange::From {
                first: 0,
                last: Some(9)
            })
        );
        assert!(copy_source_range(Some("0-9")).is_err());
        assert!(copy_source_range(Some("bytes=5-")).is_err());
    }
}
