//! `vmgw requests`: the requests a running gateway has served, by S3 operation.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use http::Method;

use super::client::{AdminClientError, call};
use super::commands::to_json;
use crate::cli::AdminArgs;
use crate::server::OperationCount;

pub async fn requests(args: &AdminArgs) -> Result<String, AdminClientError> {
    let counts: BTreeMap<String, OperationCount> =
        call::<(), _>(args, Method::GET, "/v1/requests", None).await?;
    if args.json {
        return Ok(to_json(&counts));
    }
    let mut out = format!(
        "{:<40} {:>12} {:>16} {:>16}\n",
        "OPERATION", "REQUESTS", "BYTES IN", "BYTES OUT"
    );
    for (operation, count) in &counts {
        let _ = writeln!(
            out,
            "{operation:<40} {:>12} {:>16} {:>16}",
            count.requests, count.bytes_in, count.bytes_out
        );
    }
    Ok(out)
}

/// `vmgw reload`: the gateway reads its configuration again. A refusal is an error
/// (non-zero exit) carrying the gateway's explanation.
pub async fn reload(args: &AdminArgs) -> Result<String, AdminClientError> {
    let report: crate::reload::ReloadReport =
        call::<(), _>(args, Method::POST, "/v1/reload", None).await?;
    if args.json {
        return Ok(to_json(&report));
    }
    Ok(format!("{}\n", report.message()))
}
