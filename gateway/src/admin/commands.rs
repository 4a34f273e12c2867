//! The `vmgw tier …` and `vmgw object …` subcommands: admin API calls, printed as tables
//! or JSON.

use std::fmt::Write as _;
use std::path::PathBuf;

use http::Method;

use super::client::{AdminClientError, call};
use super::{MoveRequest, MoveResponse, ObjectRef};
use crate::cli::AdminArgs;
use crate::objects::{ObjectPlacement, QueuedMove, TierStatus};

pub(super) fn socket(args: &AdminArgs) -> PathBuf {
    args.admin_socket.clone().unwrap_or_else(|| {
        super::socket_path(
            &args
                .data_dir
                .clone()
                .unwrap_or_else(crate::config::default_data_dir),
        )
    })
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    #[allow(clippy::cast_precision_loss)]
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

pub async fn tier_ls(args: &AdminArgs) -> Result<String, AdminClientError> {
    let tiers: Vec<TierStatus> = call::<(), _>(args, Method::GET, "/v1/tiers", None).await?;
    if args.json {
        return Ok(to_json(&tiers));
    }
    let mut out = format!(
        "{:<10} {:>10} {:>12} {:>16} {:>7} {:>10}\n",
        "TIER", "BLOBS", "STORED", "CAPACITY", "USED", "LOW/HIGH"
    );
    for t in &tiers {
        // A capacity that is the filesystem's size is marked, as usage then includes
        // whatever else is on that filesystem.
        let capacity = t.total_bytes.map_or_else(
            || "-".to_owned(),
            |n| {
                if t.capacity_configured {
                    bytes(n)
                } else {
                    format!("{} (fs)", bytes(n))
                }
            },
        );
        let _ = writeln!(
            out,
            "{:<10} {:>10} {:>12} {:>16} {:>7} {:>10}",
            t.name,
            t.blobs,
            bytes(t.stored_bytes),
            capacity,
            t.used_percent
                .map_or_else(|| "-".to_owned(), |p| format!("{p:.1}%")),
            format!("{}/{}%", t.low_watermark, t.high_watermark)
        );
    }
    Ok(out)
}

pub async fn object_where(
    args: &AdminArgs,
    bucket: &str,
    key: &str,
) -> Result<String, AdminClientError> {
    let target = ObjectRef {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
    };
    let placement: ObjectPlacement =
        call(args, Method::POST, "/v1/objects/where", Some(&target)).await?;
    if args.json {
        return Ok(to_json(&placement));
    }
    let tiers: Vec<&str> = if placement.inline {
        vec!["inline (metadata store)"]
    } else {
        let mut tiers: Vec<&str> = placement.blobs.iter().map(|b| b.tier.as_str()).collect();
        tiers.dedup();
        tiers
    };
    Ok(format!(
        "{bucket}/{key}\n  tier:          {}\n  storage class: {}\n  size:          {}\n  at rest:       {} in {} blob(s)\n  compression:   {:.2}x\n",
        tiers.join(", "),
        placement.storage_class,
        bytes(placement.size),
        bytes(placement.stored_bytes),
        placement.blobs.len(),
        placement.compression_ratio
    ))
}

pub async fn tier_move(
    args: &AdminArgs,
    request: &MoveRequest,
) -> Result<String, AdminClientError> {
    let answer: MoveResponse = call(args, Method::POST, "/v1/objects/move", Some(request)).await?;
    if args.json {
        return Ok(to_json(&answer));
    }
    Ok(match answer.outcome.as_str() {
        "moved" => format!(
            "moved {}/{} to {} ({} copied)\n",
            request.bucket,
            request.key,
            request.tier,
            bytes(answer.bytes)
        ),
        "queued" => format!(
            "queued the move of {}/{} to {}\n",
            request.bucket, request.key, request.tier
        ),
        "already-there" => format!(
            "{}/{} is already on {}\n",
            request.bucket, request.key, request.tier
        ),
        other => format!(
            "{}/{}: {other} (the object changed during the move; nothing was moved)\n",
            request.bucket, request.key
        ),
    })
}

pub async fn move_queue(args: &AdminArgs) -> Result<String, AdminClientError> {
    let pending: Vec<QueuedMove> = call::<(), _>(args, Method::GET, "/v1/moves", None).await?;
    if args.json {
        return Ok(to_json(&pending));
    }
    if pending.is_empty() {
        return Ok("no moves waiting\n".into());
    }
    let mut out = String::new();
    for job in pending {
        let _ = writeln!(
            out,
            "{}/{} -> {} ({} failed attempt(s){})",
            job.bucket,
            job.key,
            job.tier,
            job.failures,
            job.last_error.map(|e| format!(": {e}")).unwrap_or_default()
        );
    }
    Ok(out)
}
