//! Admin routes for integrity checks and metadata backups.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

use super::server::{error, json, read_json};
use crate::backup::{BackupError, Backups};
use crate::objects::{FsckOptions, ObjectError, ObjectService};

pub(super) fn is_route(path: &str) -> bool {
    matches!(path, "/v1/fsck" | "/v1/backups")
}

fn backup_error(e: &BackupError) -> Response<Full<Bytes>> {
    let status = match e {
        BackupError::Tier(vmgw_tiering::TierError::Unavailable { .. }) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e.to_string())
}

pub(super) async fn handle(
    objects: &Arc<ObjectService>,
    backups: Option<&Arc<Backups>>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    match (req.method().clone(), req.uri().path()) {
        (Method::POST, "/v1/fsck") => {
            let options: FsckOptions = match read_json(req).await {
                Ok(options) => options,
                Err(response) => return response,
            };
            match objects.fsck(options).await {
                Ok(report) => json(StatusCode::OK, &report),
                Err(ObjectError::InvalidArgument(message)) => error(StatusCode::CONFLICT, message),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
        (method, "/v1/backups") => {
            let Some(backups) = backups.cloned() else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "metadata backups need a remote tier (kind = \"s3\"); none is configured",
                );
            };
            let answer = match method {
                Method::GET => {
                    tokio::task::spawn_blocking(move || backups.list().map(serde_json::to_value))
                        .await
                }
                Method::POST => {
                    tokio::task::spawn_blocking(move || backups.take().map(serde_json::to_value))
                        .await
                }
                _ => return error(StatusCode::METHOD_NOT_ALLOWED, "GET or POST"),
            };
            match answer {
                Ok(Ok(Ok(value))) => json(StatusCode::OK, &value),
                Ok(Ok(Err(e))) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
                Ok(Err(e)) => backup_error(&e),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
        (_, path) => error(StatusCode::NOT_FOUND, format!("no admin route {path}")),
    }
}
