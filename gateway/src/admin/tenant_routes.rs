//! The admin API's tenant routes (see the module list in [`super`]).

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

use super::server::{error, json, read_json};
use super::{
    AddTenantRequest, CertRequest, GuestAccess, Guests, LimitsRequest, QuotaRequest,
    RemoveTenantRequest, TenantName,
};
use crate::auth::tenants::{IssuedKey, TenantError};

fn tenant_error(e: &TenantError) -> Response<Full<Bytes>> {
    let status = match e {
        TenantError::InvalidName(_) | TenantError::InvalidBucketName(_) => StatusCode::BAD_REQUEST,
        TenantError::NotFound(_) | TenantError::CertNotBound { .. } => StatusCode::NOT_FOUND,
        TenantError::Exists(_)
        | TenantError::BucketTaken(_)
        | TenantError::HoldsData { .. }
        | TenantError::CertTaken { .. } => StatusCode::CONFLICT,
        TenantError::Seal(_) | TenantError::Meta(_) | TenantError::Objects(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    error(status, e.to_string())
}

fn access(guests: &Guests, tenant: &str, key: IssuedKey, bucket: Option<String>) -> GuestAccess {
    GuestAccess {
        tenant: tenant.to_owned(),
        access_key: key.access_key,
        secret_key: key.secret_key,
        bucket,
        endpoint: guests
            .endpoints
            .first()
            .cloned()
            .unwrap_or_else(|| "http://127.0.0.1:9000".to_owned()),
        region: guests.region.clone(),
    }
}

pub(super) async fn handle(guests: &Guests, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let tenants = &guests.tenants;
    match (req.method().clone(), req.uri().path()) {
        (Method::GET, "/v1/tenants") => match tenants.list() {
            Ok(list) => json(StatusCode::OK, &list),
            Err(e) => tenant_error(&e),
        },
        (Method::POST, "/v1/tenants") => {
            let request: AddTenantRequest = match read_json(req).await {
                Ok(r) => r,
                Err(response) => return response,
            };
            match tenants
                .add(
                    &request.name,
                    request.bucket.as_deref(),
                    request.quota,
                    request.limits,
                    &request.client_certs,
                )
                .await
            {
                Ok(key) => json(
                    StatusCode::OK,
                    &access(guests, &request.name, key, request.bucket),
                ),
                Err(e) => tenant_error(&e),
            }
        }
        (Method::POST, "/v1/tenants/rotate") => {
            let request: TenantName = match read_json(req).await {
                Ok(r) => r,
                Err(response) => return response,
            };
            match tenants.rotate(&request.name).await {
                Ok(key) => {
                    let bucket = tenants
                        .buckets_of(&request.name)
                        .ok()
                        .and_then(|b| b.into_iter().next());
                    json(StatusCode::OK, &access(guests, &request.name, key, bucket))
                }
                Err(e) => tenant_error(&e),
            }
        }
        (Method::POST, "/v1/tenants/remove") => {
            let request: RemoveTenantRequest = match read_json(req).await {
                Ok(r) => r,
                Err(response) => return response,
            };
            match tenants.remove(&request.name, request.purge).await {
                Ok(removal) => json(StatusCode::OK, &removal),
                Err(e) => tenant_error(&e),
            }
        }
        (Method::POST, "/v1/tenants/limits") => {
            let request: LimitsRequest = match read_json(req).await {
                Ok(r) => r,
                Err(response) => return response,
            };
            match tenants.set_limits(&request.name, request.limits).await {
                Ok(()) => json(StatusCode::OK, &serde_json::json!({})),
                Err(e) => tenant_error(&e),
            }
        }
        (Method::POST, "/v1/tenants/certs") => {
            let request: CertRequest = match read_json(req).await {
                Ok(r) => r,
                Err(response) => return response,
            };
            match tenants
                .set_cert(&request.name, request.fingerprint, request.allow)
                .await
            {
                Ok(()) => json(StatusCode::OK, &serde_json::json!({})),
                Err(e) => tenant_error(&e),
            }
        }
        (Method::POST, "/v1/tenants/quota") => {
            let request: QuotaRequest = match read_json(req).await {
                Ok(r) => r,
                Err(response) => return response,
            };
            let result = match (&request.tenant, &request.bucket) {
                (Some(tenant), None) => tenants.set_quota(tenant, request.quota).await,
                (None, Some(bucket)) => tenants.set_bucket_quota(bucket, request.quota).await,
                _ => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "name exactly one of a tenant and a bucket",
                    );
                }
            };
            match result {
                Ok(()) => json(StatusCode::OK, &serde_json::json!({})),
                Err(e) => tenant_error(&e),
            }
        }
        (_, path) => error(StatusCode::NOT_FOUND, format!("no admin route {path}")),
    }
}
