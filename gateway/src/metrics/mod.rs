//! Prometheus metrics (`GET /metrics`, OpenMetrics text) and health probes (`/healthz`,
//! `/readyz`), served on the admin socket, the admin HTTPS listener and the optional plain
//! `[metrics] listen` address that scrapers and kubelet probes use.

mod probes;
mod remote;
mod requests;
mod routes;
mod state;

use std::sync::Arc;

use prometheus_client::registry::Registry;

pub use probes::{Readiness, readiness};
pub use remote::RemoteMetrics;
pub use requests::{RequestMetrics, Served};
pub use routes::{is_route, respond, serve};
pub use state::StateCollector;

use crate::objects::ObjectService;

/// Everything `/metrics` reports.
pub struct Metrics {
    registry: Registry,
    objects: Arc<ObjectService>,
}

impl Metrics {
    #[must_use]
    pub fn new(
        requests: &RequestMetrics,
        remote: &RemoteMetrics,
        reloader: &crate::reload::Reloader,
        state: StateCollector,
    ) -> Self {
        let objects = Arc::clone(&state.objects);
        let mut registry = Registry::default();
        requests.register(&mut registry);
        remote.register(&mut registry);
        reloader.register_metrics(&mut registry);
        registry.register_collector(Box::new(state));
        Self { registry, objects }
    }

    /// The OpenMetrics text of every metric. Blocking: the state collector reads the
    /// metadata store.
    #[must_use]
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::warn!(error = %e, "encoding metrics failed");
        }
        text
    }

    #[must_use]
    pub fn objects(&self) -> &Arc<ObjectService> {
        &self.objects
    }
}
