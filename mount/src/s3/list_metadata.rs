//! Listings that carry each object's user metadata (vmgw's and MinIO's ListObjectsV2 with
//! `metadata=true`): every `<Contents>` gains
//! `<UserMetadata><X-Amz-Meta-Mode>…</X-Amz-Meta-Mode>…</UserMetadata>`. aws-sdk-s3 models
//! neither the query parameter nor the element, so the request is amended before signing
//! and the raw body kept for the metadata, while the SDK still parses everything else.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_s3::config::http::HttpRequest;
use aws_sdk_s3::config::interceptors::AfterDeserializationInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use quick_xml::events::Event;

use super::S3Error;

/// User metadata by key, names without `x-amz-meta-` and in lower case (as HEAD gives them).
pub type MetadataByKey = HashMap<String, Vec<(String, String)>>;

/// Adds `metadata=true` to a ListObjectsV2 request (whose query always has `list-type=2`).
/// Runs before signing, so the parameter is signed like the others.
pub fn ask_for_metadata(request: &mut HttpRequest) {
    let separator = if request.uri().contains('?') {
        '&'
    } else {
        '?'
    };
    let uri = format!("{}{separator}metadata=true", request.uri());
    if let Err(e) = request.set_uri(uri) {
        tracing::warn!(error = %e, "could not ask for a listing with metadata");
    }
}

/// Keeps the raw body of the response it sees (already read into memory once the SDK has
/// deserialised a non-streaming answer), for one request.
#[derive(Debug, Clone, Default)]
pub struct RawBody(Arc<Mutex<Option<Vec<u8>>>>);

impl RawBody {
    #[must_use]
    pub fn take(&self) -> Option<Vec<u8>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl Intercept for RawBody {
    fn name(&self) -> &'static str {
        "vmgw-listing-body"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        let body = context.response().body().bytes().map(<[u8]>::to_vec);
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = body;
        Ok(())
    }
}

fn bad(e: impl std::fmt::Display) -> S3Error {
    S3Error::Body(format!("listing with metadata: {e}"))
}

/// The user metadata of every `<Contents>` that has a `<UserMetadata>` element; objects
/// without one are left out (their attributes are unknown, not empty).
pub fn parse(xml: &[u8]) -> Result<MetadataByKey, S3Error> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut out = MetadataByKey::new();
    loop {
        match reader.read_event().map_err(bad)? {
            Event::Start(e) if e.local_name().as_ref() == b"Contents" => {
                if let (Some(key), Some(meta)) = contents(&mut reader)? {
                    out.insert(key, meta);
                }
            }
            Event::Eof => return Ok(out),
            _ => {}
        }
    }
}

/// The text of a leaf element whose start tag was just read.
fn text(
    reader: &mut quick_xml::Reader<&[u8]>,
    name: quick_xml::name::QName<'_>,
) -> Result<String, S3Error> {
    let raw = reader.read_text(name).map_err(bad)?;
    let raw = raw.decode().map_err(bad)?;
    Ok(quick_xml::escape::unescape(&raw).map_err(bad)?.into_owned())
}

type Contents = (Option<String>, Option<Vec<(String, String)>>);

/// One `<Contents>` element (its start tag read): its key and user metadata.
fn contents(reader: &mut quick_xml::Reader<&[u8]>) -> Result<Contents, S3Error> {
    let (mut key, mut meta) = (None, None);
    loop {
        match reader.read_event().map_err(bad)? {
            Event::Start(e) => {
                let e = e.into_owned();
                match e.local_name().as_ref() {
                    b"Key" => key = Some(text(reader, e.name())?),
                    b"UserMetadata" => meta = Some(user_metadata(reader)?),
                    _ => {
                        reader.read_to_end(e.name()).map_err(bad)?;
                    }
                }
            }
            Event::Empty(e) if e.local_name().as_ref() == b"UserMetadata" => {
                meta = Some(Vec::new());
            }
            Event::End(e) if e.local_name().as_ref() == b"Contents" => return Ok((key, meta)),
            Event::Eof => return Err(bad("unterminated Contents")),
            _ => {}
        }
    }
}

/// The children of `<UserMetadata>` (its start tag read). Entries that are not
/// `X-Amz-Meta-*` (MinIO also lists system headers there) are skipped.
fn user_metadata(reader: &mut quick_xml::Reader<&[u8]>) -> Result<Vec<(String, String)>, S3Error> {
    const PREFIX: &str = "x-amz-meta-";
    let mut out = Vec::new();
    loop {
        match reader.read_event().map_err(bad)? {
            Event::Start(e) => {
                let e = e.into_owned();
                let name = String::from_utf8_lossy(e.local_name().as_ref()).to_ascii_lowercase();
                let value = text(reader, e.name())?;
                if let Some(short) = name.strip_prefix(PREFIX)
                    && !short.is_empty()
                {
                    out.push((short.to_owned(), value));
                }
            }
            Event::End(e) if e.local_name().as_ref() == b"UserMetadata" => return Ok(out),
            Event::Eof => return Err(bad("unterminated UserMetadata")),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_minio_shaped_metadata() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>
<Contents><Key>dir/a &amp; b</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>
<ETag>&quot;x&quot;</ETag><Size>4</Size><Owner><ID>o</ID></Owner>
<UserMetadata><X-Amz-Meta-Mode>33188</X-Amz-Meta-Mode><X-Amz-Meta-Mtime>1700000000</X-Amz-Meta-Mtime><content-type>text/plain</content-type></UserMetadata></Contents>
<Contents><Key>dir/plain</Key><Size>0</Size><UserMetadata/></Contents>
<Contents><Key>dir/unknown</Key><Size>1</Size></Contents>
<CommonPrefixes><Prefix>dir/sub/</Prefix></CommonPrefixes></ListBucketResult>"#;
        let parsed = parse(xml).unwrap();
        assert_eq!(
            parsed["dir/a & b"],
            [
                ("mode".to_owned(), "33188".to_owned()),
                ("mtime".to_owned(), "1700000000".to_owned())
            ]
        );
        assert!(parsed["dir/plain"].is_empty());
        assert!(!parsed.contains_key("dir/unknown"), "no element, no claim");
        assert_eq!(parsed.len(), 2);
        assert!(parse(b"<ListBucketResult><Contents><Key>x</Key>").is_err());
    }
}
