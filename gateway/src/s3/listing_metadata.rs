//! ListObjectsV2 with `metadata=true`: each listed object carries its user metadata, in
//! MinIO's shape (`<UserMetadata><X-Amz-Meta-Mode>…</X-Amz-Meta-Mode></UserMetadata>`), so
//! `ls -l` on a mounted bucket needs no HEAD per file. vmgw always writes the element when
//! asked (empty when an object has none), which tells a client the server supports it.

use hyper::{HeaderMap, Uri};
use s3s::dto::{EncodingType, ListObjectsV2Input, ListObjectsV2Output, Object};
use s3s::xml::{SerResult, Serialize, SerializeContent, Serializer};
use s3s::{Body, S3Error, S3ErrorCode, S3Response, S3Result};

use super::extensions::ExtensionRoutes;
use super::listing::list_v2;

const XMLNS_S3: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Whether a metadata key can be an XML element name as MinIO writes it; others are left
/// out rather than written as broken XML.
fn xml_name_safe(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// The header form of a user metadata key: `mode` → `X-Amz-Meta-Mode`.
fn element_name(key: &str) -> String {
    let mut out = String::from("X-Amz-Meta-");
    let mut upper = true;
    for c in key.chars() {
        if upper {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        upper = c == '-';
    }
    out
}

struct ListingWithMetadata {
    output: ListObjectsV2Output,
    /// Per listed object, in order: its user metadata.
    metadata: Vec<Vec<(String, String)>>,
}

struct Contents<'a> {
    object: &'a Object,
    metadata: &'a [(String, String)],
}

impl SerializeContent for Contents<'_> {
    fn serialize_content<W: std::io::Write>(&self, s: &mut Serializer<W>) -> SerResult {
        self.object.serialize_content(s)?;
        s.element("UserMetadata", |s| {
            for (key, value) in self.metadata.iter().filter(|(k, _)| xml_name_safe(k)) {
                s.content(&element_name(key), value)?;
            }
            Ok(())
        })
    }
}

impl SerializeContent for ListingWithMetadata {
    fn serialize_content<W: std::io::Write>(&self, s: &mut Serializer<W>) -> SerResult {
        // The order of ListObjectsV2's own serialisation, with Contents extended.
        let o = &self.output;
        if let Some(v) = &o.name {
            s.content("Name", v)?;
        }
        if let Some(v) = &o.prefix {
            s.content("Prefix", v)?;
        }
        if let Some(v) = &o.max_keys {
            s.content("MaxKeys", v)?;
        }
        if let Some(v) = &o.key_count {
            s.content("KeyCount", v)?;
        }
        if let Some(v) = &o.continuation_token {
            s.content("ContinuationToken", v)?;
        }
        if let Some(v) = &o.is_truncated {
            s.content("IsTruncated", v)?;
        }
        if let Some(v) = &o.next_continuation_token {
            s.content("NextContinuationToken", v)?;
        }
        for (object, metadata) in o.contents.iter().flatten().zip(&self.metadata) {
            s.content("Contents", &Contents { object, metadata })?;
        }
        if let Some(prefixes) = &o.common_prefixes {
            s.flattened_list("CommonPrefixes", prefixes)?;
        }
        if let Some(v) = &o.delimiter {
            s.content("Delimiter", v)?;
        }
        if let Some(v) = &o.encoding_type {
            s.content("EncodingType", v)?;
        }
        if let Some(v) = &o.start_after {
            s.content("StartAfter", v)?;
        }
        Ok(())
    }
}

impl Serialize for ListingWithMetadata {
    fn serialize<W: std::io::Write>(&self, s: &mut Serializer<W>) -> SerResult {
        s.content_with_ns("ListBucketResult", XMLNS_S3, self)
    }
}

fn invalid(message: String) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, message)
}

/// Whether a GET on a bucket asks for a ListObjectsV2 page with metadata.
pub(super) fn is_listing_with_metadata(uri: &Uri) -> bool {
    let Some(query) = uri.query() else {
        return false;
    };
    let mut v2 = false;
    let mut metadata = false;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match (&*k, &*v) {
            ("list-type", "2") => v2 = true,
            ("metadata", "true") => metadata = true,
            _ => {}
        }
    }
    v2 && metadata
}

fn input_from_query(bucket: String, uri: &Uri) -> S3Result<ListObjectsV2Input> {
    let mut input = ListObjectsV2Input {
        bucket,
        ..ListObjectsV2Input::default()
    };
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        let v = v.into_owned();
        match &*k {
            "prefix" => input.prefix = Some(v),
            "delimiter" => input.delimiter = Some(v),
            "continuation-token" => input.continuation_token = Some(v),
            "start-after" => input.start_after = Some(v),
            "encoding-type" => input.encoding_type = Some(EncodingType::from(v)),
            "fetch-owner" => input.fetch_owner = Some(v == "true"),
            "max-keys" => {
                input.max_keys = Some(
                    v.parse()
                        .map_err(|_| invalid(format!("max-keys must be an integer, not {v:?}")))?,
                );
            }
            _ => {}
        }
    }
    Ok(input)
}

impl ExtensionRoutes {
    pub(super) fn list_with_metadata(
        &self,
        bucket: String,
        uri: &Uri,
        _headers: &HeaderMap,
    ) -> S3Result<S3Response<Body>> {
        let input = input_from_query(bucket.clone(), uri)?;
        let (output, keys) = list_v2(&self.objects, input)?;
        let metadata = self
            .objects
            .user_metadata_of(&bucket, &keys)
            .map_err(super::errors::to_s3)?;
        let listing = ListingWithMetadata { output, metadata };
        let mut xml = Vec::with_capacity(4096);
        let mut ser = Serializer::new(&mut xml);
        ser.decl()
            .and_then(|()| listing.serialize(&mut ser))
            .map_err(|e| S3Error::with_message(S3ErrorCode::InternalError, e.to_string()))?;
        let mut response = S3Response::new(Body::from(xml));
        response.headers.insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/xml"),
        );
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_names_follow_header_case() {
        assert_eq!(element_name("mode"), "X-Amz-Meta-Mode");
        assert_eq!(element_name("file-owner"), "X-Amz-Meta-File-Owner");
        assert!(xml_name_safe("mtime"));
        assert!(!xml_name_safe("a:b"));
        assert!(!xml_name_safe(""));
    }

    #[test]
    fn only_v2_listings_with_metadata_match() {
        let uri = |q: &str| format!("/b?{q}").parse::<Uri>().unwrap();
        assert!(is_listing_with_metadata(&uri("list-type=2&metadata=true")));
        assert!(!is_listing_with_metadata(&uri("list-type=2")));
        assert!(!is_listing_with_metadata(&uri("metadata=true")));
    }
}
