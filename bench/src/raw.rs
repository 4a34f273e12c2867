//! A minimal S3 client for the hot path (PUT/GET/HEAD of one object, ListObjectsV2 pages):
//! hyper-util's legacy client over plain HTTP/1.1, requests signed with SigV4 and
//! `UNSIGNED-PAYLOAD`; listings are scanned for the few elements the walk needs instead of
//! being fully parsed.
//!
//! It exists because aws-sdk-s3 spends several times more CPU per small request than the
//! server does (its orchestrator, interceptors and endpoint resolution run per request); on a
//! 2-core machine shared by client and server that CPU comes out of the server's share.
//! Keys must be URL-path-safe (the workloads' keys are `[a-z0-9/]`).

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http::{Method, Request, Response, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::client::Page;
use crate::error::{BenchError, Result};
use crate::server::REGION;

#[derive(Clone)]
pub struct Raw {
    http: Client<HttpConnector, Full<Bytes>>,
    /// `http://host:port/bucket/`
    base: String,
    identity: Identity,
}

impl Raw {
    #[must_use]
    pub fn new_as(endpoint: &str, bucket: &str, access_key: &str, secret_key: &str) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Self {
            http: Client::builder(TokioExecutor::new()).build(connector),
            base: format!("{}/{bucket}/", endpoint.trim_end_matches('/')),
            identity: Credentials::new(access_key, secret_key, None, None, "vmgw-bench").into(),
        }
    }

    /// Sends a signed request for `path` (a key, or `?query` on the bucket) and fails on a
    /// non-2xx status.
    async fn send(
        &self,
        op: &'static str,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<Response<Incoming>> {
        let uri = format!("{}{path}", self.base);
        let mut builder = Request::builder().method(&method).uri(&uri);
        if method == Method::PUT {
            builder = builder.header(header::CONTENT_LENGTH, body.len());
        }
        let mut request = builder
            .body(Full::new(body))
            .map_err(|e| BenchError::s3(op, e))?;
        self.sign(&mut request, &uri).map_err(|e| BenchError::S3 {
            op,
            message: format!("signing: {e}"),
        })?;
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| BenchError::s3(op, e))?;
        if !response.status().is_success() {
            let status = response.status();
            let text = response
                .into_body()
                .collect()
                .await
                .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
                .unwrap_or_default();
            return Err(BenchError::S3 {
                op,
                message: format!("{status}: {text}"),
            });
        }
        Ok(response)
    }

    fn sign(
        &self,
        request: &mut Request<Full<Bytes>>,
        uri: &str,
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(REGION)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()?
            .into();
        let headers = request
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
        let signable = SignableRequest::new(
            request.method().as_str(),
            uri,
            headers,
            SignableBody::UnsignedPayload,
        )?;
        let (instructions, _) = sign(signable, &params)?.into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }

    pub async fn put(&self, key: &str, body: Bytes) -> Result<()> {
        let response = self.send("PutObject", Method::PUT, key, body).await?;
        drain(response, "PutObject").await.map(drop)
    }

    /// Reads the whole body and returns its length.
    pub async fn get(&self, key: &str) -> Result<u64> {
        let response = self
            .send("GetObject", Method::GET, key, Bytes::new())
            .await?;
        drain(response, "GetObject").await
    }

    /// Returns the object's Content-Length.
    pub async fn head(&self, key: &str) -> Result<u64> {
        let response = self
            .send("HeadObject", Method::HEAD, key, Bytes::new())
            .await?;
        Ok(response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(0))
    }
}

impl Raw {
    /// One ListObjectsV2 page of up to 1000 entries.
    pub async fn list_page(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        token: Option<&str>,
    ) -> Result<Page> {
        // Canonical (sorted) order, so the signed query is the sent one.
        let mut query = String::new();
        if let Some(token) = token {
            query += &format!("continuation-token={}&", encode(token));
        }
        if let Some(delimiter) = delimiter {
            query += &format!("delimiter={}&", encode(delimiter));
        }
        query += &format!("list-type=2&max-keys=1000&prefix={}", encode(prefix));
        let response = self
            .send(
                "ListObjectsV2",
                Method::GET,
                &format!("?{query}"),
                Bytes::new(),
            )
            .await?;
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| BenchError::s3("ListObjectsV2", e))?
            .to_bytes();
        let xml = std::str::from_utf8(&body).map_err(|e| BenchError::s3("ListObjectsV2", e))?;
        Ok(Page {
            keys: xml.matches("<Contents>").count() as u64,
            prefixes: xml
                .split("<CommonPrefixes>")
                .skip(1)
                .filter_map(|s| element(s, "Prefix"))
                .collect(),
            next: (element(xml, "IsTruncated").as_deref() == Some("true"))
                .then(|| element(xml, "NextContinuationToken"))
                .flatten(),
        })
    }
}

/// The text of the first `<name>` element in `xml`, unescaped.
fn element(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let len = xml[start..].find(&format!("</{name}>"))?;
    let text = &xml[start..start + len];
    Some(
        text.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// Percent-encodes a query value as SigV4 canonicalizes it (everything but unreserved).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Reads a response body to the end, frame by frame, and returns its length.
async fn drain(response: Response<Incoming>, op: &'static str) -> Result<u64> {
    let mut body = response.into_body();
    let mut len = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BenchError::s3(op, e))?;
        if let Some(data) = frame.data_ref() {
            len += data.len() as u64;
        }
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::{element, encode};

    #[test]
    fn encodes_query_values() {
        assert_eq!(encode("tree/d1/"), "tree%2Fd1%2F");
        assert_eq!(encode("a+b=c~"), "a%2Bb%3Dc~");
    }

    #[test]
    fn finds_elements() {
        let xml = "<R><IsTruncated>true</IsTruncated><CommonPrefixes><Prefix>a&amp;b/</Prefix>\
                   </CommonPrefixes><NextContinuationToken>x=</NextContinuationToken></R>";
        assert_eq!(element(xml, "IsTruncated").as_deref(), Some("true"));
        assert_eq!(element(xml, "Prefix").as_deref(), Some("a&b/"));
        assert_eq!(element(xml, "NextContinuationToken").as_deref(), Some("x="));
        assert_eq!(element(xml, "Missing"), None);
    }
}
