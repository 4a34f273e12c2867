//! `vmgw fsck` and `vmgw backup …`: admin API calls, printed as text or JSON.

use std::fmt::Write as _;

use http::Method;

use super::client::{AdminClientError, call};
use super::commands::to_json;
use crate::backup::BackupInfo;
use crate::cli::AdminArgs;
use crate::objects::{Finding, FsckOptions, FsckReport};

/// A time in ms since the epoch as UTC text.
pub(crate) fn utc(ms: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| ms.to_string())
}

fn finding_line(f: &Finding) -> String {
    let kind = serde_json::to_value(f.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut line = format!("{kind:<28}");
    if let Some(tier) = &f.tier {
        let _ = write!(line, " tier={tier}");
    }
    if let Some(blob) = &f.blob {
        let _ = write!(line, " blob={blob}");
    }
    match (&f.bucket, &f.key) {
        (Some(bucket), Some(key)) => {
            let _ = write!(line, " object={bucket}/{key}");
        }
        (Some(bucket), None) => {
            let _ = write!(line, " bucket={bucket}");
        }
        (None, Some(key)) => {
            let _ = write!(line, " key={key}");
        }
        (None, None) => {}
    }
    if let Some(upload) = &f.upload_id {
        let _ = write!(line, " upload={upload}");
    }
    let _ = write!(line, "\n    {}", f.detail);
    if let Some(repair) = &f.repair {
        let action = serde_json::to_value(repair.action)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let state = if repair.ok {
            "repaired"
        } else {
            "NOT repaired"
        };
        let _ = write!(line, "\n    {state}: {action}");
        if !repair.detail.is_empty() {
            let _ = write!(line, " ({})", repair.detail);
        }
    }
    line
}

/// The report as text.
#[must_use]
pub fn fsck_text(report: &FsckReport) -> String {
    let mut out = format!(
        "checked {} object(s), {} blob(s) in use on tier(s) {}{}\n",
        report.objects,
        report.blobs,
        report.tiers.join(", "),
        if report.deep {
            format!("; read and verified {} byte(s)", report.bytes_verified)
        } else {
            String::new()
        }
    );
    if report.findings.is_empty() {
        out.push_str("clean: no problems found\n");
        return out;
    }
    for finding in &report.findings {
        let _ = writeln!(out, "{}", finding_line(finding));
    }
    let unresolved = report.unresolved();
    let _ = writeln!(
        out,
        "{} problem(s) found, {} repaired, {unresolved} not repaired{}",
        report.findings.len(),
        report.findings.len() - unresolved,
        if report.repair || unresolved == 0 {
            ""
        } else {
            " (run with --repair to mend them)"
        }
    );
    out
}

/// Runs fsck on the gateway; returns the output and the report (whose unresolved findings
/// decide the exit status).
pub async fn fsck(
    args: &AdminArgs,
    options: FsckOptions,
) -> Result<(String, FsckReport), AdminClientError> {
    let report: FsckReport = call(args, Method::POST, "/v1/fsck", Some(&options)).await?;
    let text = if args.json {
        format!("{}\n", to_json(&report))
    } else {
        fsck_text(&report)
    };
    Ok((text, report))
}

pub async fn backup_now(args: &AdminArgs) -> Result<String, AdminClientError> {
    let taken: BackupInfo = call::<(), _>(args, Method::POST, "/v1/backups", None).await?;
    if args.json {
        return Ok(format!("{}\n", to_json(&taken)));
    }
    let mut out = format!(
        "took backup {} ({} bytes stored)\n",
        taken.name, taken.stored_bytes
    );
    if let Some(t) = &taken.taken {
        let _ = writeln!(
            out,
            "  {} rows of {} tables on tier {}, {}, host secrets {}",
            t.rows,
            t.tables,
            t.tier,
            if t.sealed {
                "sealed"
            } else {
                "NOT sealed (the tier does not encrypt)"
            },
            if t.host_secrets {
                "included"
            } else {
                "not included"
            }
        );
    }
    Ok(out)
}

pub async fn backup_ls(args: &AdminArgs) -> Result<String, AdminClientError> {
    let listed: Vec<BackupInfo> = call::<(), _>(args, Method::GET, "/v1/backups", None).await?;
    if args.json {
        return Ok(format!("{}\n", to_json(&listed)));
    }
    if listed.is_empty() {
        return Ok("no backups\n".into());
    }
    let mut out = format!("{:<50} {:<21} {:>12}\n", "NAME", "TAKEN", "STORED");
    for b in &listed {
        let _ = writeln!(
            out,
            "{:<50} {:<21} {:>12}",
            b.name,
            utc(i64::try_from(b.created_ms).unwrap_or(i64::MAX)),
            b.stored_bytes
        );
    }
    Ok(out)
}
