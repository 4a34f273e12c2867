//! Requests the gateway makes to remote tiers: latency by operation and failures, fed by
//! the tiers' request observer (see `vmgw_tiering::RequestObserver`).

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use vmgw_tiering::RequestObserver;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RemoteLabels {
    tier: String,
    operation: String,
}

type Durations = Family<RemoteLabels, Histogram, fn() -> Histogram>;

fn remote_histogram() -> Histogram {
    // 1 ms to ~33 s: a HEAD on a LAN to a retried part upload over a WAN.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

#[derive(Debug, Clone)]
pub struct RemoteMetrics {
    durations: Durations,
    failures: Family<RemoteLabels, Counter>,
}

impl Default for RemoteMetrics {
    fn default() -> Self {
        Self {
            durations: Durations::new_with_constructor(remote_histogram),
            failures: Family::default(),
        }
    }
}

impl RemoteMetrics {
    /// The observer to give the remote tier named `tier`.
    #[must_use]
    pub fn observer(&self, tier: &str) -> Arc<dyn RequestObserver> {
        Arc::new(TierObserver {
            tier: tier.to_owned(),
            metrics: self.clone(),
        })
    }

    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register_with_unit(
            "vmgw_remote_request_duration",
            "Requests to remote tiers, from the call to the response head (retries included), by tier and S3 operation",
            Unit::Seconds,
            self.durations.clone(),
        );
        registry.register(
            "vmgw_remote_request_errors",
            "Requests to remote tiers that failed (errors, timeouts, refused connections; a 404 is an answer), by tier and S3 operation",
            self.failures.clone(),
        );
    }
}

#[derive(Debug)]
struct TierObserver {
    tier: String,
    metrics: RemoteMetrics,
}

impl RequestObserver for TierObserver {
    fn finished(&self, operation: &str, elapsed: Duration, failed: bool) {
        let labels = RemoteLabels {
            tier: self.tier.clone(),
            operation: operation.to_owned(),
        };
        self.metrics
            .durations
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        // Created at the first request, failed or not, so that the error rate of an
        // operation reads 0 rather than nothing until its first failure.
        let failures = self.metrics.failures.get_or_create(&labels);
        if failed {
            failures.inc();
        }
    }
}
