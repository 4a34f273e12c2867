//! `vmgw vm …` and `vmgw key rotate`: onboarding guests through the admin API.

use std::fmt::Write as _;

use http::Method;

use super::client::{AdminClientError, call};
use super::commands::to_json;
use super::guest_config::{GuestCa, GuestFormat, render};
use super::{
    AddTenantRequest, CertRequest, GuestAccess, LimitsRequest, QuotaRequest, RemoveTenantRequest,
    TenantName,
};
use crate::auth::client_cert::Fingerprint;
use crate::auth::tenants::{Removal, TenantSummary};
use crate::cli::AdminArgs;

/// Creates a tenant (and its bucket) and prints its guest configuration; `endpoint`
/// replaces the gateway's own listen address (guests usually reach another one).
pub async fn add(
    args: &AdminArgs,
    request: &AddTenantRequest,
    endpoint: Option<&str>,
    format: GuestFormat,
    ca: Option<&GuestCa>,
) -> Result<String, AdminClientError> {
    let mut access: GuestAccess = call(args, Method::POST, "/v1/tenants", Some(request)).await?;
    if let Some(endpoint) = endpoint {
        endpoint.clone_into(&mut access.endpoint);
    }
    Ok(render(&access, format, ca))
}

pub async fn ls(args: &AdminArgs) -> Result<String, AdminClientError> {
    let tenants: Vec<TenantSummary> = call::<(), _>(args, Method::GET, "/v1/tenants", None).await?;
    if args.json {
        return Ok(to_json(&tenants));
    }
    let mut out = format!(
        "{:<24} {:<22} {:>14} {:>16} {:>10} {:>12}  {}\n",
        "TENANT", "ACCESS KEY", "BYTES", "QUOTA", "OBJECTS", "MAX OBJECTS", "BUCKETS"
    );
    let limit = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    for t in &tenants {
        let _ = writeln!(
            out,
            "{:<24} {:<22} {:>14} {:>16} {:>10} {:>12}  {}",
            t.name,
            t.access_keys.join(","),
            t.usage.bytes,
            limit(t.quota.max_bytes),
            t.usage.objects,
            limit(t.quota.max_objects),
            t.buckets
                .iter()
                .map(|b| b.name.as_str())
                .collect::<Vec<_>>()
                .join(",")
        );
    }
    Ok(out)
}

/// Sets a tenant's request-rate and bandwidth limits.
pub async fn set_limits(
    args: &AdminArgs,
    request: &LimitsRequest,
) -> Result<String, AdminClientError> {
    let _: serde_json::Value =
        call(args, Method::POST, "/v1/tenants/limits", Some(request)).await?;
    let rate = request
        .limits
        .requests_per_sec
        .map_or_else(|| "unlimited".to_owned(), |r| format!("{r}/s"));
    let bandwidth = request.limits.bytes_per_sec.map_or_else(
        || "unlimited".to_owned(),
        |b| format!("{b} bytes/s each way"),
    );
    Ok(format!(
        "limits of tenant {}: requests {rate}, bandwidth {bandwidth}\n",
        request.name
    ))
}

/// Binds a client certificate to a tenant (`allow`) or unbinds it.
pub async fn set_cert(
    args: &AdminArgs,
    tenant: &str,
    fingerprint: Fingerprint,
    allow: bool,
) -> Result<String, AdminClientError> {
    let request = CertRequest {
        name: tenant.to_owned(),
        fingerprint,
        allow,
    };
    let _: serde_json::Value =
        call(args, Method::POST, "/v1/tenants/certs", Some(&request)).await?;
    Ok(if allow {
        format!("client certificate {fingerprint} now acts as tenant {tenant}\n")
    } else {
        format!("client certificate {fingerprint} no longer acts as tenant {tenant}\n")
    })
}

/// Sets the quota of a tenant or of a bucket.
pub async fn set_quota(
    args: &AdminArgs,
    request: &QuotaRequest,
) -> Result<String, AdminClientError> {
    let _: serde_json::Value = call(args, Method::POST, "/v1/tenants/quota", Some(request)).await?;
    let whom = match (&request.tenant, &request.bucket) {
        (Some(t), _) => format!("tenant {t}"),
        (_, Some(b)) => format!("bucket {b}"),
        _ => String::new(),
    };
    let limit = |v: Option<u64>, unit: &str| {
        v.map_or_else(|| "unlimited".to_owned(), |v| format!("{v} {unit}"))
    };
    Ok(format!(
        "quota of {whom}: {}, {}\n",
        limit(request.quota.max_bytes, "bytes"),
        limit(request.quota.max_objects, "objects")
    ))
}

pub async fn rm(args: &AdminArgs, name: &str, purge: bool) -> Result<String, AdminClientError> {
    let removal: Removal = call(
        args,
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
    ca: Option<&GuestCa>,
) -> Result<String, AdminClientError> {
    let mut access: GuestAccess = call(
        args,
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
    Ok(render(&access, format, ca))
}
