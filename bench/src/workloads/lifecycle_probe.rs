//! Due-to-action latency of the lifecycle worker, measured from outside: probe objects are
//! written one after another under a prefix whose rule expires them after one (one-second)
//! day, and each is watched with HEAD from just before its due moment until it is gone.
//!
//! The due moment is exact without asking the gateway: with S3's day semantics it is
//! `(created / day + days + 1) * day`, and with whole-second days `created / day` only
//! needs the creation time's whole seconds, which Last-Modified gives. A probe that
//! disappears before its computed moment fails the run (the formula or the worker is
//! wrong).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

use crate::error::{BenchError, Result};

use super::BUCKET;

/// Key prefix of the probes; the probe rule selects it.
pub const PROBE_PREFIX: &str = "probe/";
/// Between two probes: spreads their due moments over the second.
const PROBE_SPACING: Duration = Duration::from_millis(230);
/// How often a probe is looked at once it is nearly due; the lag's resolution.
const POLL: Duration = Duration::from_millis(5);
/// Looking starts this long before the due moment, to catch an early action.
const LEAD: Duration = Duration::from_millis(50);

fn epoch_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// Writes `count` probes and returns each one's lag (action seen − due moment) in ms.
/// `day_s` is the gateway's `day_seconds`, `days` the probe rule's expiration days.
pub async fn measure(s3: &Client, count: u64, day_s: i64, days: i64) -> Result<Vec<f64>> {
    let mut watchers = Vec::new();
    for i in 0..count {
        let key = format!("{PROBE_PREFIX}{i}");
        s3.put_object()
            .bucket(BUCKET)
            .key(&key)
            .body(ByteStream::from_static(b"probe"))
            .send()
            .await
            .map_err(|e| BenchError::s3("PutObject", e))?;
        let head = s3
            .head_object()
            .bucket(BUCKET)
            .key(&key)
            .send()
            .await
            .map_err(|e| BenchError::s3("HeadObject", e))?;
        let created_s = head
            .last_modified()
            .ok_or_else(|| BenchError::Check(format!("{key}: no Last-Modified")))?
            .secs();
        let day_ms = day_s * 1000;
        let due_ms = (created_s.div_euclid(day_s) + days + 1) * day_ms;
        watchers.push(tokio::spawn(watch(s3.clone(), key, due_ms)));
        tokio::time::sleep(PROBE_SPACING).await;
    }
    let mut lags = Vec::with_capacity(watchers.len());
    for w in watchers {
        lags.push(
            w.await
                .map_err(|e| BenchError::Check(format!("probe watcher panicked: {e}")))??,
        );
    }
    Ok(lags)
}

async fn watch(s3: Client, key: String, due_ms: i64) -> Result<f64> {
    let start_ms = due_ms - i64::try_from(LEAD.as_millis()).unwrap_or(0);
    let wait = u64::try_from(start_ms - epoch_ms()).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(wait)).await;
    // Ten seconds late is ten times the target: give up rather than watch forever.
    let give_up = due_ms + 10_000;
    loop {
        let looked_ms = epoch_ms();
        match s3.head_object().bucket(BUCKET).key(&key).send().await {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
                if looked_ms < due_ms {
                    return Err(BenchError::Check(format!(
                        "{key} was expired {} ms before its due moment {due_ms}",
                        due_ms - looked_ms
                    )));
                }
                // The HEAD that saw it gone was sent at `looked_ms`: the action came before.
                #[allow(clippy::cast_precision_loss)]
                return Ok((looked_ms - due_ms) as f64);
            }
            Err(e) => return Err(BenchError::s3("HeadObject", e)),
        }
        if looked_ms > give_up {
            return Err(BenchError::Check(format!(
                "{key} still there 10 s after its due moment {due_ms}"
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The `q` quantile (0..=1) of `values`, nearest rank.
#[must_use]
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
