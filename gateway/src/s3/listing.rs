//! ListObjects (v1) and ListObjectsV2.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::Gateway;
use super::convert::{owner, timestamp, url_encode};
use super::errors::to_s3;
use crate::meta::{ListPage, ListQuery};
use crate::objects::ObjectService;

/// S3 returns at most 1000 keys per page.
const MAX_KEYS: i32 = 1000;

fn max_keys(value: Option<i32>) -> S3Result<usize> {
    match value {
        Some(n) if n < 0 => Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "max-keys must be a non-negative integer",
        )),
        Some(n) => Ok(usize::try_from(n.min(MAX_KEYS)).unwrap_or(0)),
        None => Ok(MAX_KEYS as usize),
    }
}

fn url_encoding(encoding: Option<&EncodingType>) -> S3Result<bool> {
    match encoding.map(EncodingType::as_str) {
        None => Ok(false),
        Some(EncodingType::URL) => Ok(true),
        Some(other) => Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            format!("Invalid Encoding Method specified in Request: {other:?}"),
        )),
    }
}

/// Applies `encoding-type=url` to a value that S3 encodes.
fn enc(value: String, encode: bool) -> String {
    if encode { url_encode(&value) } else { value }
}

fn contents(page: &ListPage, encode: bool, with_owner: bool) -> Vec<Object> {
    page.objects
        .iter()
        .map(|(key, o)| Object {
            key: Some(enc(key.clone(), encode)),
            e_tag: Some(ETag::Strong(o.etag.clone())),
            last_modified: Some(timestamp(o.modified_ms)),
            size: Some(i64::try_from(o.size).unwrap_or(i64::MAX)),
            storage_class: Some(ObjectStorageClass::from(
                o.storage_class
                    .clone()
                    .unwrap_or_else(|| "STANDARD".to_owned()),
            )),
            owner: with_owner.then(|| owner(&o.owner)),
            ..Object::default()
        })
        .collect()
}

fn common_prefixes(page: &ListPage, encode: bool) -> Vec<CommonPrefix> {
    page.common_prefixes
        .iter()
        .map(|p| CommonPrefix {
            prefix: Some(enc(p.clone(), encode)),
        })
        .collect()
}

/// Continuation tokens are opaque to clients: the resume point, base64-encoded.
fn encode_token(marker: &str) -> String {
    base64_simd::URL_SAFE_NO_PAD.encode_to_string(marker.as_bytes())
}

fn decode_token(token: &str) -> S3Result<String> {
    base64_simd::URL_SAFE_NO_PAD
        .decode_to_vec(token)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "The continuation token provided is incorrect",
            )
        })
}

impl Gateway {
    pub(super) async fn do_list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let encode = url_encoding(input.encoding_type.as_ref())?;
        let max = max_keys(input.max_keys)?;
        let query = ListQuery {
            bucket_id: 0,
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone(),
            start_after: input.marker.clone().filter(|m| !m.is_empty()),
            max_keys: max,
        };
        let page = self
            .objects
            .list_objects(&input.bucket, query)
            .map_err(to_s3)?;
        let next_marker = if page.truncated {
            page.last.clone().map(|m| enc(m, encode))
        } else {
            None
        };
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(enc(input.prefix.unwrap_or_default(), encode)),
            marker: Some(enc(input.marker.unwrap_or_default(), encode)),
            max_keys: Some(i32::try_from(max).unwrap_or(MAX_KEYS)),
            is_truncated: Some(page.truncated),
            contents: Some(contents(&page, encode, true)),
            common_prefixes: Some(common_prefixes(&page, encode)),
            delimiter: input.delimiter.map(|d| enc(d, encode)),
            next_marker,
            encoding_type: input.encoding_type,
            request_charged: None,
        }))
    }

    pub(super) async fn do_list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let (output, _) = list_v2(&self.objects, req.input)?;
        Ok(S3Response::new(output))
    }
}

/// A ListObjectsV2 page, and the (unencoded) keys of its objects in order.
pub(super) fn list_v2(
    objects: &ObjectService,
    input: ListObjectsV2Input,
) -> S3Result<(ListObjectsV2Output, Vec<String>)> {
    let encode = url_encoding(input.encoding_type.as_ref())?;
    let max = max_keys(input.max_keys)?;
    let start_after = match &input.continuation_token {
        Some(token) => Some(decode_token(token)?),
        None => input.start_after.clone().filter(|s| !s.is_empty()),
    };
    let query = ListQuery {
        bucket_id: 0,
        prefix: input.prefix.clone().unwrap_or_default(),
        delimiter: input.delimiter.clone(),
        start_after,
        max_keys: max,
    };
    let page = objects.list_objects(&input.bucket, query).map_err(to_s3)?;
    let with_owner = input.fetch_owner.unwrap_or(false);
    let contents = contents(&page, encode, with_owner);
    let prefixes = common_prefixes(&page, encode);
    let key_count = i32::try_from(contents.len() + prefixes.len()).unwrap_or(MAX_KEYS);
    let next_continuation_token = if page.truncated {
        page.last.as_deref().map(encode_token)
    } else {
        None
    };
    let keys = page.objects.into_iter().map(|(key, _)| key).collect();
    let output = ListObjectsV2Output {
        name: Some(input.bucket),
        prefix: Some(enc(input.prefix.unwrap_or_default(), encode)),
        max_keys: Some(i32::try_from(max).unwrap_or(MAX_KEYS)),
        key_count: Some(key_count),
        continuation_token: input.continuation_token,
        is_truncated: Some(page.truncated),
        next_continuation_token,
        contents: Some(contents),
        common_prefixes: Some(prefixes),
        delimiter: input.delimiter.map(|d| enc(d, encode)),
        encoding_type: input.encoding_type,
        start_after: input.start_after.map(|s| enc(s, encode)),
        request_charged: None,
    };
    Ok((output, keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        for marker in ["", "a/b/", "ключ ü", "x".repeat(1024).as_str()] {
            assert_eq!(decode_token(&encode_token(marker)).unwrap(), marker);
        }
        assert!(decode_token("***").is_err());
    }
}
