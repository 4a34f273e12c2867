//! Metrics read at scrape time from the gateway's state: tiers, moves, the lifecycle worker,
//! the metadata store. Nothing here is counted on the request path.

use std::path::PathBuf;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

use crate::objects::{ObjectService, TierStatus};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TierLabels {
    tier: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MoveLabels {
    tier: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: &'static str,
}

pub struct StateCollector {
    pub objects: Arc<ObjectService>,
    pub meta_path: PathBuf,
    /// Metadata backups, when a remote tier takes them.
    pub backups: Option<Arc<crate::backup::Backups>>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

impl std::fmt::Debug for StateCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateCollector")
            .field("meta_path", &self.meta_path)
            .finish_non_exhaustive()
    }
}

fn gauge(n: u64) -> ConstGauge {
    ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX))
}

/// One metric with a value per label set.
fn family<L: EncodeLabelSet, M: EncodeMetric>(
    encoder: &mut DescriptorEncoder<'_>,
    (name, help, unit): (&str, &str, Option<&Unit>),
    kind: MetricType,
    samples: impl IntoIterator<Item = (L, M)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, unit, kind)?;
    for (labels, value) in samples {
        value.encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

/// One metric without labels.
fn single<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder<'_>,
    (name, help, unit): (&str, &str, Option<&Unit>),
    kind: MetricType,
    value: M,
) -> Result<(), std::fmt::Error> {
    value.encode(encoder.encode_descriptor(name, help, unit, kind)?)
}

impl Collector for StateCollector {
    /// Called from a blocking thread: reading the census and lifecycle status touches the
    /// metadata store, and a tier's free space the filesystem.
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        match self.objects.tier_status() {
            Ok(tiers) => {
                type Reading = fn(&TierStatus) -> Option<u64>;
                let gauges: [(&str, &str, Option<&Unit>, Reading); 4] = [
                    (
                        "vmgw_tier_blobs",
                        "Blobs on the tier referenced by objects and uploads",
                        None,
                        |t| Some(t.blobs),
                    ),
                    (
                        "vmgw_tier_stored",
                        "Bytes the tier's blobs take, framing included",
                        Some(&Unit::Bytes),
                        |t| Some(t.stored_bytes),
                    ),
                    (
                        "vmgw_tier_capacity",
                        "The tier's configured capacity, else its filesystem's size",
                        Some(&Unit::Bytes),
                        |t| t.total_bytes,
                    ),
                    (
                        "vmgw_tier_free",
                        "Room left on the tier",
                        Some(&Unit::Bytes),
                        |t| t.free_bytes,
                    ),
                ];
                for (name, help, unit, read) in gauges {
                    family(
                        &mut encoder,
                        (name, help, unit),
                        MetricType::Gauge,
                        tiers.iter().filter_map(|t| {
                            read(t).map(|n| {
                                let labels = TierLabels {
                                    tier: t.name.clone(),
                                };
                                (labels, gauge(n))
                            })
                        }),
                    )?;
                }
            }
            Err(e) => tracing::warn!(error = %e, "metrics: tier status unavailable"),
        }

        let moves = self.objects.move_counts();
        family(
            &mut encoder,
            (
                "vmgw_tier_moves",
                "Moves of objects to a tier, by outcome",
                None,
            ),
            MetricType::Counter,
            moves.iter().flat_map(|(tier, c)| {
                [
                    ("moved", c.moved),
                    ("already_there", c.already_there),
                    ("abandoned", c.abandoned),
                    ("failed", c.failed),
                ]
                .into_iter()
                .map(move |(outcome, n)| {
                    (
                        MoveLabels {
                            tier: tier.clone(),
                            outcome,
                        },
                        ConstCounter::new(n),
                    )
                })
            }),
        )?;
        family(
            &mut encoder,
            (
                "vmgw_tier_moved",
                "Bytes copied by completed moves to a tier",
                Some(&Unit::Bytes),
            ),
            MetricType::Counter,
            moves.iter().map(|(tier, c)| {
                (
                    TierLabels { tier: tier.clone() },
                    ConstCounter::new(c.bytes),
                )
            }),
        )?;
        single(
            &mut encoder,
            (
                "vmgw_tier_queued_moves",
                "Moves waiting in the background queue",
                None,
            ),
            MetricType::Gauge,
            gauge(self.objects.move_queue().pending().len() as u64),
        )?;

        match self.objects.lifecycle_status(None) {
            Ok(status) => {
                let (mut transitions, mut expirations, mut aborted, mut failures, mut examined) =
                    (0, 0, 0, 0, 0);
                for bucket in &status.buckets {
                    transitions += bucket.stats.transitions;
                    expirations += bucket.stats.expirations;
                    aborted += bucket.stats.aborted_uploads;
                    failures += bucket.stats.failures;
                    examined += bucket.stats.objects_examined;
                }
                family(
                    &mut encoder,
                    (
                        "vmgw_lifecycle_actions",
                        "Lifecycle actions taken, by kind",
                        None,
                    ),
                    MetricType::Counter,
                    [
                        ("transition", transitions),
                        ("expiration", expirations),
                        ("abort_upload", aborted),
                    ]
                    .map(|(action, n)| (ActionLabels { action }, ConstCounter::new(n))),
                )?;
                single(
                    &mut encoder,
                    (
                        "vmgw_lifecycle_failures",
                        "Lifecycle actions that failed",
                        None,
                    ),
                    MetricType::Counter,
                    ConstCounter::new(failures),
                )?;
                single(
                    &mut encoder,
                    (
                        "vmgw_lifecycle_objects_examined",
                        "Objects the lifecycle worker examined",
                        None,
                    ),
                    MetricType::Counter,
                    ConstCounter::new(examined),
                )?;
                single(
                    &mut encoder,
                    (
                        "vmgw_lifecycle_scheduled_objects",
                        "Objects in the lifecycle schedule",
                        None,
                    ),
                    MetricType::Gauge,
                    gauge(status.schedule_entries),
                )?;
                single(
                    &mut encoder,
                    (
                        "vmgw_lifecycle_rounds",
                        "Rounds of the lifecycle worker (one looks at what is due, acts, sleeps)",
                        None,
                    ),
                    MetricType::Counter,
                    ConstCounter::new(status.rounds),
                )?;
                if let Some(at_ms) = status.last_round_ms {
                    // A worker that stopped going round shows as an old timestamp.
                    #[allow(clippy::cast_precision_loss)]
                    let at = at_ms as f64 / 1000.0;
                    single(
                        &mut encoder,
                        (
                            "vmgw_lifecycle_last_round_timestamp",
                            "When the lifecycle worker's latest round began",
                            Some(&Unit::Seconds),
                        ),
                        MetricType::Gauge,
                        ConstGauge::new(at),
                    )?;
                }
            }
            Err(e) => tracing::warn!(error = %e, "metrics: lifecycle status unavailable"),
        }

        if let Some(backups) = &self.backups {
            let counts = backups.counts();
            family(
                &mut encoder,
                (
                    "vmgw_metadata_backups",
                    "Metadata backups this process took or failed to take, by outcome",
                    None,
                ),
                MetricType::Counter,
                [("taken", counts.taken), ("failed", counts.failed)]
                    .map(|(outcome, n)| (OutcomeLabels { outcome }, ConstCounter::new(n))),
            )?;
            if let Some(created_ms) = counts.last_created_ms {
                // Seconds since the epoch: alerts compare it with time().
                #[allow(clippy::cast_precision_loss)]
                let at = created_ms as f64 / 1000.0;
                single(
                    &mut encoder,
                    (
                        "vmgw_metadata_backup_last_success_timestamp",
                        "When the newest metadata backup this process took was made",
                        Some(&Unit::Seconds),
                    ),
                    MetricType::Gauge,
                    ConstGauge::new(at),
                )?;
                single(
                    &mut encoder,
                    (
                        "vmgw_metadata_backup_last_stored",
                        "Size of that backup on the remote tier",
                        Some(&Unit::Bytes),
                    ),
                    MetricType::Gauge,
                    gauge(counts.last_stored_bytes),
                )?;
            }
        }

        if let Ok(meta) = std::fs::metadata(&self.meta_path) {
            single(
                &mut encoder,
                (
                    "vmgw_metadata_store_size",
                    "Size of the metadata store's file",
                    Some(&Unit::Bytes),
                ),
                MetricType::Gauge,
                gauge(meta.len()),
            )?;
        }
        Ok(())
    }
}
