//! The admin API's client, used by the `vmgw` subcommands.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;

use super::ErrorResponse;

#[derive(Debug, thiserror::Error)]
pub enum AdminClientError {
    #[error(
        "cannot reach the gateway's admin socket {path}: {source} (is `vmgw serve` running on this data directory?)"
    )]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("admin request failed: {0}")]
    Transport(String),
    #[error("{0}")]
    Refused(String),
}

/// Sends one request and decodes the JSON answer.
pub async fn call<B: Serialize, T: DeserializeOwned>(
    socket: &Path,
    method: Method,
    path: &str,
    body: Option<&B>,
) -> Result<T, AdminClientError> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|source| AdminClientError::Connect {
            path: socket.to_owned(),
            source,
        })?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| AdminClientError::Transport(e.to_string()))?;
    tokio::spawn(connection);
    let payload = match body {
        Some(body) => {
            serde_json::to_vec(body).map_err(|e| AdminClientError::Transport(e.to_string()))?
        }
        None => Vec::new(),
    };
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, "vmgw-admin")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(payload)))
        .map_err(|e| AdminClientError::Transport(e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| AdminClientError::Transport(e.to_string()))?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| AdminClientError::Transport(e.to_string()))?
        .to_bytes();
    if status != StatusCode::OK {
        let message = serde_json::from_slice::<ErrorResponse>(&bytes)
            .map_or_else(|_| format!("HTTP {status}"), |e| e.error);
        return Err(AdminClientError::Refused(message));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| AdminClientError::Transport(format!("invalid answer: {e}")))
}
