//! The HTTP side of metrics and probes: the routes, and the plain listener for scrapers and
//! orchestrator probes (which speak plain HTTP without credentials).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Response, StatusCode, header};
use http_body_util::Full;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::debug;

use super::{Metrics, readiness};

/// The content type of the OpenMetrics text format, which Prometheus asks for and parses.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[must_use]
pub fn is_route(path: &str) -> bool {
    matches!(path, "/metrics" | "/healthz" | "/readyz")
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts")
}

/// Answers one of [`is_route`]'s paths.
pub async fn respond(metrics: &Arc<Metrics>, method: &Method, path: &str) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
    }
    match path {
        // Alive: the process answers. Nothing it depends on is asked.
        "/healthz" => text(StatusCode::OK, "text/plain", "ok\n".into()),
        "/readyz" => {
            let objects = Arc::clone(metrics.objects());
            match tokio::task::spawn_blocking(move || readiness(&objects)).await {
                Ok(ready) => {
                    let status = if ready.is_ready() {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    };
                    let mut body = serde_json::to_string(&ready).unwrap_or_default();
                    body.push('\n');
                    text(status, "application/json", body)
                }
                Err(e) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    format!("{e}\n"),
                ),
            }
        }
        _ => {
            let metrics = Arc::clone(metrics);
            match tokio::task::spawn_blocking(move || metrics.encode()).await {
                Ok(body) => text(StatusCode::OK, OPENMETRICS, body),
                Err(e) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    format!("{e}\n"),
                ),
            }
        }
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` in plain HTTP on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let accepted = |(stream, _): (tokio::net::TcpStream, std::net::SocketAddr)| {
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let metrics = Arc::clone(&metrics);
                    async move {
                        let path = req.uri().path().to_owned();
                        let response = if is_route(&path) {
                            respond(&metrics, req.method(), &path).await
                        } else {
                            text(
                                StatusCode::NOT_FOUND,
                                "text/plain",
                                "only /metrics, /healthz and /readyz here\n".into(),
                            )
                        };
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10));
            if let Err(e) = http.serve_connection(TokioIo::new(stream), service).await {
                debug!(error = %e, "metrics connection ended with an error");
            }
        });
    };
    crate::admin::accept_until(|| listener.accept(), &mut shutdown, accepted).await;
}
