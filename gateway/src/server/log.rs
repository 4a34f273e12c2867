//! Per-request bookkeeping around the S3 service: a request id on every response (header
//! and error body), and one structured log line per request at debug level once its body
//! has been sent.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderValue, Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use s3s::service::S3Service;
use s3s::{Body, HttpError};
use tracing::debug;

use crate::access::RequestInfo;

/// Error bodies are small XML documents; anything bigger is passed through untouched.
const MAX_ERROR_BODY: usize = 64 * 1024;

#[derive(Clone)]
pub struct Logged {
    pub inner: S3Service,
    pub peer: Option<SocketAddr>,
}

fn request_id() -> String {
    format!("{:016X}", rand::random::<u64>())
}

/// Adds `<RequestId>` to an S3 error document that lacks one (errors raised inside s3s
/// before our code runs carry none).
fn with_request_id(xml: &[u8], id: &str) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(xml).ok()?;
    if text.contains("<RequestId>") {
        return None;
    }
    let end = text.rfind("</Error>")?;
    Some(
        format!(
            "{}<RequestId>{id}</RequestId>{}",
            &text[..end],
            &text[end..]
        )
        .into_bytes(),
    )
}

impl hyper::service::Service<Request<Incoming>> for Logged {
    type Response = Response<LoggedBody>;
    type Error = HttpError;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let id = request_id();
        let info = Arc::new(RequestInfo::default());
        let mut req = req.map(Body::from);
        req.extensions_mut().insert(Arc::clone(&info));
        let record = LogRecord {
            id: id.clone(),
            method: req.method().to_string(),
            path: req.uri().path().to_owned(),
            bytes_in: req
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            peer: self.peer,
            started: Instant::now(),
            info,
            status: 0,
        };
        let service = self.inner.clone();
        Box::pin(async move {
            let response = service.call(req).await?;
            let (mut parts, mut body) = response.into_parts();
            if let Ok(value) = HeaderValue::from_str(&id) {
                parts.headers.insert("x-amz-request-id", value.clone());
                parts.headers.insert("x-amz-id-2", value);
            }
            let is_xml = parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"application/xml"));
            let failed = parts.status.is_client_error() || parts.status.is_server_error();
            if failed
                && is_xml
                && body
                    .size_hint()
                    .upper()
                    .is_some_and(|n| n <= MAX_ERROR_BODY as u64)
            {
                let collected = body
                    .collect()
                    .await
                    .map(http_body_util::Collected::to_bytes);
                body = match collected {
                    Ok(xml) => match with_request_id(&xml, &id) {
                        Some(patched) => {
                            parts.headers.remove(http::header::CONTENT_LENGTH);
                            Body::from(patched)
                        }
                        None => Body::from(xml),
                    },
                    Err(_) => Body::empty(),
                };
            }
            let mut record = record;
            record.status = parts.status.as_u16();
            Ok(Response::from_parts(
                parts,
                LoggedBody {
                    inner: body,
                    bytes_out: 0,
                    record: Some(record),
                },
            ))
        })
    }
}

struct LogRecord {
    id: String,
    method: String,
    path: String,
    bytes_in: u64,
    peer: Option<SocketAddr>,
    started: Instant,
    info: Arc<RequestInfo>,
    status: u16,
}

impl LogRecord {
    fn emit(self, bytes_out: u64, complete: bool) {
        let op = self.info.get().unwrap_or_default();
        debug!(
            request_id = %self.id,
            op = %if op.name.is_empty() { "-" } else { op.name.as_str() },
            bucket = op.bucket.as_deref().unwrap_or("-"),
            key = op.key.as_deref().unwrap_or("-"),
            method = %self.method,
            path = %self.path,
            status = self.status,
            bytes_in = self.bytes_in,
            bytes_out,
            complete,
            duration_ms = self.started.elapsed().as_secs_f64() * 1000.0,
            peer = ?self.peer,
            "request"
        );
    }
}

/// The response body, counting what is sent and logging the request when it ends.
pub struct LoggedBody {
    inner: Body,
    bytes_out: u64,
    record: Option<LogRecord>,
}

impl HttpBody for LoggedBody {
    type Data = Bytes;
    type Error = s3s::StdError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.bytes_out += data.len() as u64;
                }
            }
            Poll::Ready(None) => {
                if let Some(record) = self.record.take() {
                    record.emit(self.bytes_out, true);
                }
            }
            Poll::Ready(Some(Err(_))) | Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        // Bodies that were never polled to the end (HEAD, aborted downloads) log here.
        if let Some(record) = self.record.take() {
            record.emit(self.bytes_out, self.inner.is_end_stream());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_goes_into_error_documents_once() {
        let xml = b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code></Error>";
        let patched = String::from_utf8(with_request_id(xml, "ABC").unwrap()).unwrap();
        assert!(
            patched.ends_with("<Code>NoSuchKey</Code><RequestId>ABC</RequestId></Error>"),
            "{patched}"
        );
        assert!(with_request_id(patched.as_bytes(), "XYZ").is_none());
        assert!(with_request_id(b"not xml", "A").is_none());
    }
}
