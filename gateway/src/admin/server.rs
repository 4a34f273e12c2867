//! Serving the admin API.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::UnixListener;
use tokio::sync::watch;
use tracing::{debug, warn};

use super::{ErrorResponse, MoveRequest, MoveResponse, ObjectRef};
use crate::objects::{MoveOutcome, ObjectError, ObjectService, QueuedMove};
use crate::server::RequestCounters;

/// Admin requests are small JSON documents.
const MAX_REQUEST: usize = 64 * 1024;

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

/// Serves admin requests until `shutdown` turns true.
pub async fn serve(
    listener: UnixListener,
    objects: Arc<ObjectService>,
    guests: super::Guests,
    requests: Arc<RequestCounters>,
    mut shutdown: watch::Receiver<bool>,
) {
    let guests = Arc::new(guests);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let objects = Arc::clone(&objects);
        let requests = Arc::clone(&requests);
        let guests = Arc::clone(&guests);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let objects = Arc::clone(&objects);
                let requests = Arc::clone(&requests);
                let guests = Arc::clone(&guests);
                async move {
                    let response = if req.uri().path().starts_with("/v1/tenants") {
                        super::tenant_routes::handle(&guests, req).await
                    } else {
                        handle(&objects, &requests, req).await
                    };
                    Ok::<_, std::convert::Infallible>(response)
                }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                debug!(error = %e, "admin connection ended with an error");
            }
        });
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
