//! Serving the admin API.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tracing::{debug, warn};

use super::basic_auth::AdminCredentials;
use super::{ErrorResponse, MoveRequest, MoveResponse, ObjectRef};
use crate::objects::{MoveOutcome, ObjectError, ObjectService, QueuedMove};
use crate::server::RequestCounters;

/// Admin requests are small JSON documents.
const MAX_REQUEST: usize = 64 * 1024;
/// A client that has not sent its request head (or finished its handshake) by then is cut
/// off: the HTTPS listener faces the network.
const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Binds the socket (replacing a stale one) with mode 0600.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    Ok(listener)
}

/// The admin API's HTTPS listener: TLS with the S3 listeners' certificate, and admin
/// credentials on every request.
pub struct HttpsListener {
    pub listener: TcpListener,
    pub tls: crate::server::tls::Tls,
    pub credentials: Arc<AdminCredentials>,
}

/// What every admin request is handled with.
pub struct AdminApi {
    pub objects: Arc<ObjectService>,
    pub guests: super::Guests,
    /// Metadata backups, when there is a remote tier to keep them on.
    pub backups: Option<Arc<crate::backup::Backups>>,
    pub requests: Arc<RequestCounters>,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub reloader: Arc<crate::reload::Reloader>,
}

impl AdminApi {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path();
        if crate::metrics::is_route(path) {
            crate::metrics::respond(&self.metrics, req.method(), path).await
        } else if path.starts_with("/v1/tenants") {
            super::tenant_routes::handle(&self.guests, req).await
        } else if super::dr_routes::is_route(path) {
            super::dr_routes::handle(&self.objects, self.backups.as_ref(), req).await
        } else if path == "/v1/reload" && req.method() == Method::POST {
            let report = self.reloader.reload();
            match report.outcome {
                crate::reload::ReloadOutcome::Applied => json(StatusCode::OK, &report),
                // The request was fine; the configuration it points at is not taken.
                _ => error(StatusCode::CONFLICT, report.message()),
            }
        } else {
            handle(&self.objects, &self.requests, req).await
        }
    }
}

/// Serves one admin connection; with `credentials`, each request must carry them.
async fn serve_connection<I>(api: Arc<AdminApi>, io: I, credentials: Option<Arc<AdminCredentials>>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let api = Arc::clone(&api);
        let credentials = credentials.clone();
        async move {
            let authorization = req
                .headers()
                .get(http::header::AUTHORIZATION)
                .map(http::HeaderValue::as_bytes);
            let refused = credentials
                .as_ref()
                .and_then(|c| c.check(authorization).err());
            let response = match refused {
                Some(refusal) => {
                    warn!(%refusal, path = req.uri().path(), "admin request refused");
                    unauthorized()
                }
                None => api.handle(req).await,
            };
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    if let Err(e) = http.serve_connection(TokioIo::new(io), service).await {
        debug!(error = %e, "admin connection ended with an error");
    }
}

fn unauthorized() -> Response<Full<Bytes>> {
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        "the admin API needs an admin access key and secret (HTTP Basic)",
    );
    response.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Basic realm=\"vmgw-admin\""),
    );
    response
}

/// Serves admin requests on the Unix socket (and on `https`, if given) until `shutdown`
/// turns true.
pub async fn serve(
    listener: UnixListener,
    https: Option<HttpsListener>,
    api: AdminApi,
    mut shutdown: watch::Receiver<bool>,
) {
    let api = Arc::new(api);
    let remote = https.map(|https| {
        let api = Arc::clone(&api);
        let shutdown = shutdown.clone();
        tokio::spawn(serve_https(https, api, shutdown))
    });
    accept_until(
        || listener.accept(),
        &mut shutdown,
        |(stream, _)| {
            tokio::spawn(serve_connection(Arc::clone(&api), stream, None));
        },
    )
    .await;
    if let Some(remote) = remote {
        let _ = remote.await;
    }
}

async fn serve_https(
    https: HttpsListener,
    api: Arc<AdminApi>,
    mut shutdown: watch::Receiver<bool>,
) {
    accept_until(
        || https.listener.accept(),
        &mut shutdown,
        |(stream, peer)| {
            let api = Arc::clone(&api);
            let tls = https.tls.clone();
            let credentials = Arc::clone(&https.credentials);
            tokio::spawn(async move {
                match tokio::time::timeout(HEADER_READ_TIMEOUT, tls.acceptor().accept(stream)).await
                {
                    Ok(Ok(stream)) => serve_connection(api, stream, Some(credentials)).await,
                    Ok(Err(e)) => debug!(%peer, error = %e, "admin TLS handshake failed"),
                    Err(_) => debug!(%peer, "admin TLS handshake timed out"),
                }
            });
        },
    )
    .await;
}

/// Accepts connections until `shutdown` turns true, handing each to `serve`. A failed
/// accept (out of file descriptors) waits a little instead of spinning.
pub(crate) async fn accept_until<S, Fut>(
    mut accept: impl FnMut() -> Fut,
    shutdown: &mut watch::Receiver<bool>,
    mut serve: impl FnMut(S),
) where
    Fut: std::future::Future<Output = std::io::Result<S>>,
{
    loop {
        tokio::select! {
            accepted = accept() => match accepted {
                Ok(accepted) => serve(accepted),
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
}

pub(super) fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts")
}

pub(super) fn error(status: StatusCode, message: impl Into<String>) -> Response<Full<Bytes>> {
    json(
        status,
        &ErrorResponse {
            error: message.into(),
        },
    )
}

fn object_error(e: &ObjectError) -> Response<Full<Bytes>> {
    let status = match e {
        ObjectError::NoSuchBucket | ObjectError::NoSuchKey => StatusCode::NOT_FOUND,
        ObjectError::InvalidArgument(_) => StatusCode::BAD_REQUEST,
        ObjectError::TierUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e.to_string())
}

pub(super) async fn read_json<T: serde::de::DeserializeOwned>(
    req: Request<Incoming>,
) -> Result<T, Response<Full<Bytes>>> {
    let limited = http_body_util::Limited::new(req.into_body(), MAX_REQUEST);
    let bytes = limited
        .collect()
        .await
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("cannot read request: {e}")))?
        .to_bytes();
    serde_json::from_slice(&bytes)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("invalid request: {e}")))
}

async fn handle(
    objects: &Arc<ObjectService>,
    requests: &RequestCounters,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    match (req.method().clone(), req.uri().path()) {
        (Method::GET, "/v1/tiers") => {
            let objects = Arc::clone(objects);
            match tokio::task::spawn_blocking(move || objects.tier_status()).await {
                Ok(Ok(status)) => json(StatusCode::OK, &status),
                Ok(Err(e)) => object_error(&e),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
        (Method::POST, "/v1/objects/where") => {
            let target: ObjectRef = match read_json(req).await {
                Ok(t) => t,
                Err(response) => return response,
            };
            // Blocking: asking a remote tier for sizes is a network round trip.
            let objects = Arc::clone(objects);
            match tokio::task::spawn_blocking(move || {
                objects.placement(&target.bucket, &target.key)
            })
            .await
            {
                Ok(Ok(placement)) => json(StatusCode::OK, &placement),
                Ok(Err(e)) => object_error(&e),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
        (Method::POST, "/v1/objects/move") => {
            let request: MoveRequest = match read_json(req).await {
                Ok(r) => r,
                Err(response) => return response,
            };
            if request.queue {
                if objects.tiers().get(&request.tier).is_none() {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("no tier is named {:?}", request.tier),
                    );
                }
                objects.move_queue().push(QueuedMove {
                    bucket: request.bucket,
                    key: request.key,
                    tier: request.tier,
                    storage_class: request.storage_class,
                    failures: 0,
                    last_error: None,
                });
                return json(
                    StatusCode::OK,
                    &MoveResponse {
                        outcome: "queued".into(),
                        bytes: 0,
                    },
                );
            }
            match objects
                .move_object(
                    &request.bucket,
                    &request.key,
                    &request.tier,
                    request.storage_class,
                )
                .await
            {
                Ok(outcome) => {
                    let (outcome, bytes) = match outcome {
                        MoveOutcome::Moved { bytes } => ("moved", bytes),
                        MoveOutcome::AlreadyThere => ("already-there", 0),
                        MoveOutcome::Abandoned => ("abandoned", 0),
                    };
                    json(
                        StatusCode::OK,
                        &MoveResponse {
                            outcome: outcome.to_owned(),
                            bytes,
                        },
                    )
                }
                Err(e) => object_error(&e),
            }
        }
        (Method::GET, "/v1/lifecycle") => {
            let bucket = req.uri().query().and_then(|q| {
                q.split('&')
                    .find_map(|pair| pair.strip_prefix("bucket="))
                    .map(str::to_owned)
            });
            let objects = Arc::clone(objects);
            match tokio::task::spawn_blocking(move || objects.lifecycle_status(bucket.as_deref()))
                .await
            {
                Ok(Ok(status)) => json(StatusCode::OK, &status),
                Ok(Err(e)) => object_error(&e),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
        (Method::GET, "/v1/requests") => json(StatusCode::OK, &requests.snapshot()),
        (Method::GET, "/v1/moves") => json(StatusCode::OK, &objects.move_queue().pending()),
        (_, path) => error(StatusCode::NOT_FOUND, format!("no admin route {path}")),
    }
}
