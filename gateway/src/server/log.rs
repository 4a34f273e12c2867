//! Per-request bookkeeping around the S3 service: a request id on every response (header
//! and error body), and one structured log line per request at debug level once its body
//! has been sent.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
use tracing::{debug, warn};

use super::limits::{BodyError, IdleTimeout};

use super::pacing::Pacer;
use crate::auth::access::RequestInfo;
use crate::auth::qos::TenantQos;

/// Error bodies are small XML documents; anything bigger is passed through untouched.
const MAX_ERROR_BODY: usize = 64 * 1024;

#[derive(Clone)]
pub struct Logged {
    pub inner: S3Service,
    /// Who is on the other end; handed to every request's extensions (`aws:SecureTransport`
    /// and `aws:SourceIp` in bucket policies, a client certificate's tenant).
    pub connection: crate::auth::Connection,
    pub counters: Arc<super::RequestCounters>,
    /// See [`super::limits::IdleTimeout`].
    pub body_idle_timeout: std::time::Duration,
}

/// What vmgw offers beyond S3 on every bucket, announced on every response so that a client
/// (vmgw-mount) uses it only where the server is known to have it: another server would
/// ignore `x-amz-write-offset-bytes` and overwrite the object instead of appending.
const FEATURES: &str = "rename-object, write-offset, list-metadata";

fn request_id() -> String {
    format!("{:016X}", rand::random::<u64>())
}

impl hyper::service::Service<Request<Incoming>> for Logged {
    type Response = Response<LoggedBody>;
    type Error = HttpError;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let id = request_id();
        let info = Arc::new(RequestInfo::default());
        let has_body = request_has_body(&req);
        let expects_continue = req
            .headers()
            .get(http::header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        let body_done = Arc::new(AtomicBool::new(false));
        let mut req = req.map(|body| {
            Body::http_body_unsync(TrackedBody {
                inner: IdleTimeout::new(body, self.body_idle_timeout),
                done: Arc::clone(&body_done),
                peer: self.connection.peer,
                info: Arc::clone(&info),
                shaping: None,
                pacer: Pacer::default(),
            })
        });
        req.extensions_mut().insert(Arc::clone(&info));
        req.extensions_mut().insert(self.connection);
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
            peer: self.connection.peer,
            started: Instant::now(),
            info,
            status: 0,
            counters: Arc::clone(&self.counters),
        };
        let service = self.inner.clone();
        Box::pin(async move {
            let response = service.call(req).await?;
            let (mut parts, mut body) = response.into_parts();
            if let Ok(value) = HeaderValue::from_str(&id) {
                parts.headers.insert("x-amz-request-id", value.clone());
                parts.headers.insert("x-amz-id-2", value);
            }
            parts
                .headers
                .insert("x-vmgw-features", HeaderValue::from_static(FEATURES));
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
                    Ok(xml) => match super::error_doc::complete(&xml, &id) {
                        Some(patched) => {
                            parts.headers.remove(http::header::CONTENT_LENGTH);
                            Body::from(patched)
                        }
                        None => Body::from(xml),
                    },
                    Err(_) => Body::empty(),
                };
            }
            let body_unread = has_body && !body_done.load(Ordering::Acquire);
            // An empty body never triggers hyper's `100 Continue`, and botocore (aws-cli v1
            // and v2) then misreads the next response on that connection
            // (boto/botocore#3755); a fresh connection avoids that.
            let continue_never_sent = expects_continue && !has_body;
            if body_unread || continue_never_sent {
                // Answered before the body was read (an early error): the rest of the body
                // is still on the wire, so the connection cannot carry another request.
                parts
                    .headers
                    .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
            }
            let mut record = record;
            record.status = parts.status.as_u16();
            let shaping = record.info.shaping();
            Ok(Response::from_parts(
                parts,
                LoggedBody {
                    inner: body,
                    bytes_out: 0,
                    record: Some(record),
                    shaping,
                    pacer: Pacer::default(),
                    unsent: None,
                },
            ))
        })
    }
}

fn request_has_body(req: &Request<Incoming>) -> bool {
    let headers = req.headers();
    headers.contains_key(http::header::TRANSFER_ENCODING)
        || headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > 0)
}

/// The request body, remembering whether it was read to its end, paced to the tenant's
/// bandwidth limit (known once the access hook has run, before the handler reads).
struct TrackedBody {
    inner: IdleTimeout<Incoming>,
    done: Arc<AtomicBool>,
    peer: Option<SocketAddr>,
    info: Arc<RequestInfo>,
    /// The tenant's limiters, looked up once, at the first data frame: the access hook has
    /// run by then (the handler reads the body only after it).
    shaping: Option<Option<Arc<TenantQos>>>,
    pacer: Pacer,
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if self.pacer.poll_ready(cx).is_pending() {
            return Poll::Pending;
        }
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.done.store(true, Ordering::Release);
        }
        if let Poll::Ready(Some(Err(e @ BodyError::Stalled(_)))) = &polled {
            warn!(peer = ?self.peer, error = %e, "ending a request whose body stalled");
        }
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            let this = &mut *self;
            let info = &this.info;
            let shaping = this.shaping.get_or_insert_with(|| info.shaping());
            if let Some(ingress) = shaping.as_ref().and_then(|s| s.ingress.as_ref()) {
                this.pacer.charge(ingress, data.len() as u64);
            }
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

struct LogRecord {
    id: String,
    method: String,
    path: String,
    bytes_in: u64,
    peer: Option<SocketAddr>,
    started: Instant,
    info: Arc<RequestInfo>,
    status: u16,
    counters: Arc<super::RequestCounters>,
}

impl LogRecord {
    fn emit(self, bytes_out: u64, complete: bool) {
        let op = self.info.get().unwrap_or_default();
        let tenant = self.info.tenant_label();
        self.counters.record(&crate::metrics::Served {
            operation: if op.name.is_empty() { "-" } else { &op.name },
            status: self.status,
            tenant: &tenant,
            bucket: op.bucket.as_deref(),
            bytes_in: self.bytes_in,
            bytes_out,
            duration: self.started.elapsed(),
        });
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
    /// The tenant's limiters when its bandwidth is shaped.
    shaping: Option<Arc<TenantQos>>,
    pacer: Pacer,
    /// The rest of a frame being sent in paced slices.
    unsent: Option<Bytes>,
}

/// A shaped response goes out in slices of this size: a whole 1 MiB frame written at once is
/// a burst of copying that other tenants' requests wait behind on a busy host, even when
/// the average rate is low.
const PACED_SLICE: usize = 64 << 10;

/// The next paced slice of `data`, keeping the rest in `unsent` for the next poll.
fn slice(unsent: &mut Option<Bytes>, mut data: Bytes) -> Bytes {
    if data.len() > PACED_SLICE {
        *unsent = Some(data.split_off(PACED_SLICE));
    }
    data
}

impl HttpBody for LoggedBody {
    type Data = Bytes;
    type Error = s3s::StdError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if self.pacer.poll_ready(cx).is_pending() {
            return Poll::Pending;
        }
        let this = &mut *self;
        let shaping = this.shaping.clone();
        let egress = shaping.as_ref().and_then(|s| s.egress.as_ref());
        if let (Some(egress), Some(rest)) = (egress, this.unsent.take()) {
            let slice = slice(&mut this.unsent, rest);
            this.bytes_out += slice.len() as u64;
            this.pacer.charge(egress, slice.len() as u64);
            return Poll::Ready(Some(Ok(Frame::data(slice))));
        }
        let mut polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &mut polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_mut() {
                    if let Some(egress) = egress {
                        let whole = std::mem::take(data);
                        *data = slice(&mut this.unsent, whole);
                        this.pacer.charge(egress, data.len() as u64);
                    }
                    this.bytes_out += data.len() as u64;
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
        self.unsent.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let mut hint = self.inner.size_hint();
        if let Some(unsent) = &self.unsent {
            let n = unsent.len() as u64;
            hint.set_lower(hint.lower() + n);
            if let Some(upper) = hint.upper() {
                hint.set_upper(upper + n);
            }
        }
        hint
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
