//! `vmgw lifecycle status`: the lifecycle worker's figures per bucket, as a table or JSON.

use std::fmt::Write as _;

use http::Method;

use super::client::{AdminClientError, call};
use super::commands::to_json;
use crate::cli::AdminArgs;
use crate::objects::{BucketLifecycleStatus, LifecycleStatus};

/// The admin route, with the bucket filter as a query (bucket names are URL-safe).
#[must_use]
pub fn status_path(bucket: Option<&str>) -> String {
    match bucket {
        Some(name) => format!("/v1/lifecycle?bucket={name}"),
        None => "/v1/lifecycle".to_owned(),
    }
}

/// `at_ms` as UTC time of day with milliseconds and its distance from `now_ms`: due
/// moments with short test days are seconds apart, so the date alone would say nothing.
fn moment(at_ms: Option<i64>, now_ms: i64) -> String {
    let Some(at_ms) = at_ms else {
        return "-".to_owned();
    };
    let format = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    let absolute = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| at_ms.to_string());
    #[allow(clippy::cast_precision_loss)]
    let secs = (at_ms - now_ms) as f64 / 1000.0;
    if secs >= 0.0 {
        format!("{absolute} (in {secs:.1} s)")
    } else {
        format!("{absolute} ({:.1} s ago)", -secs)
    }
}

fn bucket_table(out: &mut String, buckets: &[BucketLifecycleStatus], now_ms: i64) {
    let _ = writeln!(
        out,
        "{:<24} {:>9} {:>11} {:>11} {:>7} {:>8} {:<16} LAST ROUND",
        "BUCKET", "EXAMINED", "TRANSITIONS", "EXPIRATIONS", "ABORTED", "FAILURES", "BACKFILL"
    );
    for b in buckets {
        let backfill = if b.backfill_pending {
            format!("pending ({})", b.stats.backfill_reindexed)
        } else {
            "done".to_owned()
        };
        let _ = writeln!(
            out,
            "{:<24} {:>9} {:>11} {:>11} {:>7} {:>8} {:<16} {}",
            b.bucket,
            b.stats.objects_examined,
            b.stats.transitions,
            b.stats.expirations,
            b.stats.aborted_uploads,
            b.stats.failures,
            backfill,
            moment(b.stats.last_round_ms, now_ms)
        );
        if let Some(error) = &b.stats.last_error {
            let _ = writeln!(out, "  last error: {error}");
        }
    }
}

/// The report as the human-readable text `vmgw lifecycle status` prints.
#[must_use]
pub fn render(status: &LifecycleStatus) -> String {
    let now = status.now_ms;
    let mut out = String::new();
    let _ = writeln!(out, "last round:  {}", moment(status.last_round_ms, now));
    let next = match status.next_round_ms {
        Some(at) => moment(Some(at), now),
        None if status.last_round_ms.is_some() => "now (working)".to_owned(),
        None => "-".to_owned(),
    };
    let _ = writeln!(out, "next round:  {next}");
    let _ = writeln!(out, "scheduled:   {} object(s)", status.schedule_entries);
    let _ = writeln!(out, "next due:    {}", moment(status.next_due_ms, now));
    let _ = writeln!(
        out,
        "action lag:  max {} ms over {} action(s)",
        status.action_lag.max_ms, status.action_lag.count
    );
    if status.buckets.is_empty() {
        out.push_str("no bucket has lifecycle rules\n");
    } else {
        out.push('\n');
        bucket_table(&mut out, &status.buckets, now);
    }
    out
}

pub async fn lifecycle_status(
    args: &AdminArgs,
    bucket: Option<&str>,
) -> Result<String, AdminClientError> {
    let status: LifecycleStatus =
        call::<(), _>(args, Method::GET, &status_path(bucket), None).await?;
    if args.json {
        return Ok(to_json(&status));
    }
    Ok(render(&status))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::{BucketLifecycleStats, LagHistogram};

    #[test]
    fn the_table_names_each_bucket_with_its_counts_and_error() {
        let status = LifecycleStatus {
            now_ms: 10_000,
            rounds: 3,
            last_round_ms: Some(9_000),
            next_round_ms: Some(11_000),
            schedule_entries: 42,
            next_due_ms: None,
            action_lag: LagHistogram::default(),
            buckets: vec![BucketLifecycleStatus {
                bucket: "photos".into(),
                has_rules: true,
                backfill_pending: true,
                stats: BucketLifecycleStats {
                    transitions: 3,
                    expirations: 5,
                    failures: 1,
                    last_error: Some("tier hdd is unavailable".into()),
                    backfill_reindexed: 1000,
                    ..BucketLifecycleStats::default()
                },
            }],
        };
        let text = render(&status);
        assert!(text.contains("(1.0 s ago)"), "{text}");
        assert!(text.contains("(in 1.0 s)"), "{text}");
        assert!(text.contains("scheduled:   42 object(s)"), "{text}");
        let row = text.lines().find(|l| l.starts_with("photos")).unwrap();
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            &cells[..8],
            ["photos", "0", "3", "5", "0", "1", "pending", "(1000)"]
        );
        assert!(
            text.contains("last error: tier hdd is unavailable"),
            "{text}"
        );
    }
}
