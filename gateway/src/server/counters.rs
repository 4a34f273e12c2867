//! Requests served, by S3 operation: how many, and the bytes they carried. What the admin
//! API shows at `GET /v1/requests`, so that a test (or an operator) can see which requests
//! a client really made — a mount listing a directory without a HEAD per file, an append
//! sending only its new bytes.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::metrics::{RequestMetrics, Served};

/// The figures of one operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationCount {
    pub requests: u64,
    /// Request bodies as declared by Content-Length (encoded size for aws-chunked uploads).
    pub bytes_in: u64,
    pub bytes_out: u64,
}

#[derive(Debug, Default)]
pub struct RequestCounters {
    by_operation: Mutex<BTreeMap<String, OperationCount>>,
    /// The same requests in more detail, for Prometheus.
    metrics: RequestMetrics,
}

impl RequestCounters {
    pub fn record(&self, served: &Served<'_>) {
        self.metrics.record(served);
        self.count(served.operation, served.bytes_in, served.bytes_out);
    }

    #[must_use]
    pub fn metrics(&self) -> &RequestMetrics {
        &self.metrics
    }

    fn count(&self, operation: &str, bytes_in: u64, bytes_out: u64) {
        let mut counts = self.by_operation.lock().expect("request counters lock");
        // The common case (a known operation) allocates nothing.
        let count = match counts.get_mut(operation) {
            Some(count) => count,
            None => counts.entry(operation.to_owned()).or_default(),
        };
        count.requests += 1;
        count.bytes_in += bytes_in;
        count.bytes_out += bytes_out;
    }

    #[must_use]
    pub fn snapshot(&self) -> BTreeMap<String, OperationCount> {
        self.by_operation
            .lock()
            .expect("request counters lock")
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_per_operation() {
        let counters = RequestCounters::default();
        counters.count("GetObject", 0, 10);
        counters.count("GetObject", 0, 5);
        counters.count("PutObject", 7, 0);
        let snapshot = counters.snapshot();
        assert_eq!(
            snapshot["GetObject"],
            OperationCount {
                requests: 2,
                bytes_in: 0,
                bytes_out: 15
            }
        );
        assert_eq!(snapshot["PutObject"].bytes_in, 7);
        assert_eq!(snapshot.len(), 2);
    }
}
