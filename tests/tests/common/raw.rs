//! A minimal HTTP/1.1 client over a tokio `TcpStream`, for requests the SDK refuses to
//! produce (malformed XML, mismatched payload hashes, unsigned or presigned requests).
//! Requests are signed with `aws-sigv4` when asked to.

use std::time::SystemTime;

use aws_sdk_s3::config::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{REQUEST_TIMEOUT, hex, sha256};

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, already percent-encoded, e.g. `/bucket/key?uploads`.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What the signature says about the payload.
#[derive(Debug, Clone)]
pub enum Payload {
    /// The SHA-256 of the actual body.
    Body,
    /// The SHA-256 of these bytes instead of the body.
    HashOf(Vec<u8>),
    /// `UNSIGNED-PAYLOAD`.
    Unsigned,
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    #[must_use]
    pub fn new(method: &str, target: &str) -> Self {
        Self {
            method: method.to_owned(),
            target: target.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Replaces (or adds) a header after signing, e.g. to break what was signed.
    #[must_use]
    pub fn headers_replaced(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Signs the request (SigV4, headers) for `host` with the given keys.
    #[must_use]
    pub fn signed(
        mut self,
        host: &str,
        access_key: &str,
        secret_key: &str,
        payload: Payload,
    ) -> Self {
        self.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("host"));
        self.headers.push(("host".to_owned(), host.to_owned()));
        let identity = Credentials::new(access_key, secret_key, None, None, "raw").into();
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(vmgw_tests::REGION)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .expect("signing params")
            .into();
        let body = match &payload {
            Payload::Body => SignableBody::Bytes(&self.body),
            Payload::HashOf(other) => SignableBody::Precomputed(hex(&sha256(other))),
            Payload::Unsigned => SignableBody::UnsignedPayload,
        };
        let uri = format!("http://{host}{}", self.target);
        let signable = SignableRequest::new(
            &self.method,
            uri,
            self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            body,
        )
        .expect("signable request");
        let (instructions, _) = sign(signable, &params).expect("signing").into_parts();
        let added: Vec<(String, String)> = instructions
            .headers()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        self.headers.extend(added);
        self
    }

    /// Signed with the harness's keys, over the real body.
    #[must_use]
    pub fn signed_ok(self, host: &str) -> Self {
        self.signed(
            host,
            vmgw_tests::ACCESS_KEY,
            vmgw_tests::SECRET_KEY,
            Payload::Body,
        )
    }

    /// The request as bytes on the wire (`Connection: close`, `Content-Length` added unless
    /// a header already names the framing).
    #[must_use]
    pub fn to_bytes(&self, host: &str) -> Vec<u8> {
        self.to_bytes_with(host, true)
    }

    /// The request as bytes, with `Connection: close` or (when `close` is false) keep-alive.
    #[must_use]
    pub fn to_bytes_with(&self, host: &str, close: bool) -> Vec<u8> {
        let mut head = format!("{} {} HTTP/1.1\r\n", self.method, self.target);
        let has = |name: &str| {
            self.headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        if !has("host") {
            head.push_str(&format!("host: {host}\r\n"));
        }
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !has("content-length") && !has("transfer-encoding") {
            head.push_str(&format!("content-length: {}\r\n", self.body.len()));
        }
        if close {
            head.push_str("connection: close\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// Sends the request to `host` (`ip:port`) and reads the whole response.
    pub async fn send(&self, host: &str) -> Response {
        let head_only = self.method.eq_ignore_ascii_case("HEAD");
        send_bytes(host, &self.to_bytes(host), head_only, false)
            .await
            .unwrap_or_else(|e| panic!("{} {}: {e}", self.method, self.target))
    }

    /// Sends the request, then closes the sending half of the connection (as a client that
    /// dies mid-body would); the result says what came back, if anything.
    pub async fn send_and_close(&self, host: &str) -> Result<Response, String> {
        send_bytes(host, &self.to_bytes(host), false, true).await
    }
}

/// Sends raw bytes (optionally closing the sending half afterwards) and reads the response
/// until the server closes the connection.
pub async fn send_bytes(
    host: &str,
    bytes: &[u8],
    head_only: bool,
    close_write: bool,
) -> Result<Response, String> {
    let exchange = async {
        let mut stream = TcpStream::connect(host)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        // The server may answer (and close) before reading a body it rejects; the response
        // is still there to read.
        let _ = stream.write_all(bytes).await;
        let _ = stream.flush().await;
        if close_write {
            let _ = stream.shutdown().await;
        }
        read_response(&mut stream, head_only).await
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no complete response within {REQUEST_TIMEOUT:?}"))?
}

/// Reads one response from `stream`: up to the end of its body when it is framed, else to
/// the end of the connection.
pub async fn read_response<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    head_only: bool,
) -> Result<Response, String> {
    let mut received = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                received.extend_from_slice(&buf[..n]);
                // Stop at the end of the response (the server may keep the connection open).
                if let Ok(Some(resp)) = parse_complete(&received, head_only) {
                    return Ok(resp);
                }
            }
            Err(e) if received.is_empty() => return Err(format!("read: {e}")),
            Err(_) => break,
        }
    }
    parse_response(&received, head_only)
}

/// The response, if `raw` already holds all of it (framed by Content-Length, chunked
/// encoding, or having no body).
fn parse_complete(raw: &[u8], head_only: bool) -> Result<Option<Response>, String> {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let status_has_no_body = head
        .split_whitespace()
        .nth(1)
        .is_some_and(|s| s == "204" || s == "304" || s.starts_with('1'));
    let rest = &raw[end + 4..];
    let content_length = head.lines().find_map(|l| {
        l.strip_prefix("content-length:")
            .and_then(|v| v.trim().parse::<usize>().ok())
    });
    let chunked = head
        .lines()
        .any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"));
    let complete = if head_only || status_has_no_body {
        true
    } else if chunked {
        dechunk(rest).is_ok()
    } else if let Some(len) = content_length {
        rest.len() >= len
    } else {
        false
    };
    if complete {
        parse_response(raw, head_only).map(Some)
    } else {
        Ok(None)
    }
}

fn parse_response(raw: &[u8], head_only: bool) -> Result<Response, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            format!(
                "no complete response head in {} bytes: {:?}",
                raw.len(),
                String::from_utf8_lossy(raw)
            )
        })?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|e| format!("response head: {e}"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[end + 4..];
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let body = if head_only || status == 204 || status == 304 {
        Vec::new()
    } else if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)?
    } else if let Some(len) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        if rest.len() < len {
            return Err(format!(
                "body has {} of {len} bytes (status {status})",
                rest.len()
            ));
        }
        rest[..len].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk size line")?;
        let size_text = std::str::from_utf8(&data[..line_end]).map_err(|e| e.to_string())?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| format!("chunk size {size_text:?}: {e}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

impl Response {
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[must_use]
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The text of the first `<tag>` element of the body.
    #[must_use]
    pub fn xml(&self, tag: &str) -> Option<String> {
        xml_value(&self.text(), tag)
    }

    /// What is wrong with this response as an S3 error with this status and code: an XML
    /// `<Error>` document with the `Code`, a non-empty `Message`, and a `RequestId` equal to
    /// the `x-amz-request-id` header. Empty when nothing is.
    #[must_use]
    pub fn s3_error_problems(&self, status: u16, code: &str) -> Vec<String> {
        let text = self.text();
        let mut problems = Vec::new();
        if self.status != status {
            problems.push(format!("status {} instead of {status}", self.status));
        }
        if self.xml("Code").as_deref() != Some(code) {
            problems.push(format!("Code {:?} instead of {code:?}", self.xml("Code")));
        }
        if !text.contains("<Error>") {
            problems.push("the body is not an S3 <Error> document".into());
        }
        if !self
            .header("content-type")
            .is_some_and(|v| v.contains("xml"))
        {
            problems.push(format!(
                "Content-Type is {:?}, not XML",
                self.header("content-type")
            ));
        }
        if self.xml("Message").is_none_or(|m| m.trim().is_empty()) {
            problems.push("no <Message>".into());
        }
        let header_id = self.header("x-amz-request-id");
        if header_id.is_none_or(str::is_empty) {
            problems.push("no x-amz-request-id header".into());
        }
        if self.xml("RequestId").as_deref() != header_id {
            problems.push(format!(
                "<RequestId> {:?} differs from x-amz-request-id {header_id:?}",
                self.xml("RequestId")
            ));
        }
        if !problems.is_empty() {
            problems.push(format!("(body: {text})"));
        }
        problems
    }

    /// Asserts an S3 error response (see [`Self::s3_error_problems`]).
    #[track_caller]
    pub fn assert_s3_error(&self, status: u16, code: &str, what: &str) {
        let problems = self.s3_error_problems(status, code);
        assert!(problems.is_empty(), "{what}: {}", problems.join("; "));
    }

    /// Asserts the status and the error `Code` only.
    #[track_caller]
    pub fn assert_code(&self, status: u16, code: &str, what: &str) {
        assert_eq!(
            (self.status, self.xml("Code").as_deref()),
            (status, Some(code)),
            "{what}: status and code; body {}",
            self.text()
        );
    }
}

/// The text of the first `<tag>...</tag>` in `xml` (no entity decoding).
#[must_use]
pub fn xml_value(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&close)?;
    Some(xml[start..start + len].to_owned())
}

/// Splits a URL (`http://host/path?query`) into host and target.
#[must_use]
pub fn split_url(url: &str) -> (String, String) {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("not an http URL: {url}"));
    match rest.find('/') {
        Some(i) => (rest[..i].to_owned(), rest[i..].to_owned()),
        None => (rest.to_owned(), "/".to_owned()),
    }
}
