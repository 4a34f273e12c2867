//! `vmgw vm …` and `vmgw key rotate`: onboarding guests through the admin API.

use std::fmt::Write as _;

use http::Method;

use super::client::{AdminClientError, call};
use super::commands::{socket, to_json};
use super::guest_config::{GuestFormat, render};
use super::{AddTenantRequest, GuestAccess, RemoveTenantRequest, TenantName};
use crate::auth::tenants::{Removal, TenantSummary};
use crate::cli::AdminArgs;

/// Creates a tenant (and its bucket) and prints its guest configuration; `endpoint`
/// replaces the gateway's own listen address (guests usually reach another one).
pub async fn add(
    args: &AdminArgs,
    request: &AddTenantRequest,
    endpoint: Option<&str>,
    format: GuestFormat,
) -> Result<String, AdminClientError> {
    let mut access: GuestAccess =
        call(&socket(args), Method::POST, "/v1/tenants", Some(request)).await?;
    if let Some(endpoint) = endpoint {
        endpoint.clone_into(&mut access.endpoint);
    }
    Ok(render(&access, format))
}

pub async fn ls(args: &AdminArgs) -> Result<String, AdminClientError> {
    let tenants: Vec<TenantSummary> =
        call::<(), _>(&socket(args), Method::GET, "/v1/tenants", None).await?;
    if args.json {
        return Ok(to_json(&tenants));
    }
    let mut out = format!("{:<24} {:<22} {}\n", "TENANT", "ACCESS KEY", "BUCKETS");
    for t in &tenants {
        let _ = writeln!(
            out,
            "{:<24} {:<22} {}",
            t.name,
            t.access_keys.join(","),
            t.buckets.join(",")
        );
    }
    Ok(out)
}

pub async fn rm(args: &AdminArgs, name: &str, purge: bool) -> Result<String, AdminClientError> {
    let removal: Removal = call(
        &socket(args),
        Method::POST,
        "/v1/tenants/remove",
        Some(&RemoveTenantRequest {
            name: name.to_owned(),
            purge,
        }),
    )
    .await?;
    if args.json {
        return Ok(to_json(&removal));
    }
    Ok(format!(
        "removed tenant {name}: {} bucket(s) ({}), {} object(s)\n",
        removal.buckets.len(),
        removal.buckets.join(", "),
        removal.objects
    ))
}

pub async fn rotate(
    args: &AdminArgs,
    name: &str,
    endpoint: Option<&str>,
    format: GuestFormat,
) -> Result<String, AdminClientError> {
    let mut access: GuestAccess = call(
        &socket(args),
        Method::POST,
        "/v1/tenants/rotate",
        Some(&TenantName {
            name: name.to_owned(),
        }),
    )
    .await?;
    if let Some(endpoint) = endpoint {
        endpoint.clone_into(&mut access.endpoint);
    }
    Ok(render(&access, format))
}
