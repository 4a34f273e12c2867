//! Every request a remote tier makes, reported to an observer (the gateway's metrics) by an
//! SDK interceptor, so that no call site has to time or count its own requests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

/// Told about each finished request of a remote tier.
pub trait RequestObserver: Send + Sync + std::fmt::Debug {
    /// `operation` is the S3 operation (`PutObject`, `GetObject`, …); `elapsed` runs from
    /// the call to the response head (a GET's body streams afterwards), retries included;
    /// `failed` is false for answers, a 404 included (a blob that is not there is an
    /// answer), and true for errors, timeouts and refused connections.
    fn finished(&self, operation: &str, elapsed: Duration, failed: bool);
}

#[derive(Debug)]
pub(super) struct Observed(pub(super) Arc<dyn RequestObserver>);

#[derive(Debug, Clone, Copy)]
struct Started(Instant);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

impl Intercept for Observed {
    fn name(&self) -> &'static str {
        "vmgw-remote-observer"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(Instant::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Started(started)) = cfg.load::<Started>().copied() else {
            return Ok(());
        };
        let operation = cfg.load::<Metadata>().map_or("unknown", Metadata::name);
        let answered_404 = context
            .response()
            .is_some_and(|r| r.status().as_u16() == 404);
        let failed = !answered_404 && !matches!(context.output_or_error(), Some(Ok(_)));
        self.0.finished(operation, started.elapsed(), failed);
        Ok(())
    }
}
