//! Metrics of the S3 requests served, recorded by the server as each response ends.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BucketLabels {
    bucket: String,
}

type Durations = Family<OperationLabels, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    // 100 µs to ~13 s: a cached GET to a multi-GiB upload over a slow link.
    Histogram::new(exponential_buckets(0.000_1, 2.0, 18))
}

/// One finished request, as the server saw it.
pub struct Served<'a> {
    pub operation: &'a str,
    pub status: u16,
    /// The tenant label: the tenant's name, `(admin)` or `(anonymous)`.
    pub tenant: &'a str,
    pub bucket: Option<&'a str>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub duration: Duration,
}

/// The request families; clones share them.
#[derive(Debug, Clone)]
pub struct RequestMetrics {
    requests: Family<RequestLabels, Counter>,
    durations: Durations,
    tenant_in: Family<TenantLabels, Counter>,
    tenant_out: Family<TenantLabels, Counter>,
    bucket_in: Family<BucketLabels, Counter>,
    bucket_out: Family<BucketLabels, Counter>,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            durations: Durations::new_with_constructor(duration_histogram),
            tenant_in: Family::default(),
            tenant_out: Family::default(),
            bucket_in: Family::default(),
            bucket_out: Family::default(),
        }
    }
}

impl RequestMetrics {
    pub fn record(&self, served: &Served<'_>) {
        let operation = served.operation.to_owned();
        self.requests
            .get_or_create(&RequestLabels {
                operation: operation.clone(),
                status: served.status.to_string(),
            })
            .inc();
        self.durations
            .get_or_create(&OperationLabels { operation })
            .observe(served.duration.as_secs_f64());
        let tenant = TenantLabels {
            tenant: served.tenant.to_owned(),
        };
        self.tenant_in
            .get_or_create(&tenant)
            .inc_by(served.bytes_in);
        self.tenant_out
            .get_or_create(&tenant)
            .inc_by(served.bytes_out);
        if let Some(bucket) = served.bucket {
            let bucket = BucketLabels {
                bucket: bucket.to_owned(),
            };
            self.bucket_in
                .get_or_create(&bucket)
                .inc_by(served.bytes_in);
            self.bucket_out
                .get_or_create(&bucket)
                .inc_by(served.bytes_out);
        }
    }

    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "vmgw_requests",
            "S3 requests served, by operation and HTTP status",
            self.requests.clone(),
        );
        registry.register_with_unit(
            "vmgw_request_duration",
            "Time from the request head to the end of the response body, by operation",
            Unit::Seconds,
            self.durations.clone(),
        );
        registry.register_with_unit(
            "vmgw_tenant_received",
            "Request body bytes received, by tenant",
            Unit::Bytes,
            self.tenant_in.clone(),
        );
        registry.register_with_unit(
            "vmgw_tenant_sent",
            "Response body bytes sent, by tenant",
            Unit::Bytes,
            self.tenant_out.clone(),
        );
        registry.register_with_unit(
            "vmgw_bucket_received",
            "Request body bytes received, by bucket",
            Unit::Bytes,
            self.bucket_in.clone(),
        );
        registry.register_with_unit(
            "vmgw_bucket_sent",
            "Response body bytes sent, by bucket",
            Unit::Bytes,
            self.bucket_out.clone(),
        );
    }
}
