//! Pacing a body to a tenant's bandwidth limit: after each frame the body owes the
//! frame's size to the tenant's token bucket, and the next frame waits until that debt is
//! paid. The frame itself goes at once, so pacing adds no latency to small bodies while
//! the bucket has tokens.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::auth::qos::TokenBucket;

#[derive(Default)]
pub struct Pacer {
    wait: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Pacer {
    /// Ready once the previous frames are paid for.
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(wait) = &mut self.wait {
            if wait.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.wait = None;
        }
        Poll::Ready(())
    }

    /// Charges `n` bytes just sent or received.
    pub fn charge(&mut self, bucket: &TokenBucket, n: u64) {
        let wait = bucket.take(n);
        if !wait.is_zero() {
            self.wait = Some(Box::pin(tokio::time::sleep(wait)));
        }
    }
}
