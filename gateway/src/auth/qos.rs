//! Per-tenant quality of service: a request-rate limit (requests over it are answered
//! `503 SlowDown`, which every S3 client backs off from and retries) and bandwidth shaping
//! (bodies in either direction are paced, never failed), so one guest cannot starve the
//! others.
//!
//! Both are token buckets holding one second's worth: a tenant idle for a while may burst
//! for a second, then gets its rate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

pub use crate::meta::RateLimits as Limits;

/// A token bucket that may go into debt: taking always succeeds and says how long the taker
/// should wait for the debt to be paid.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    #[must_use]
    pub fn new(per_sec: f64) -> Self {
        Self {
            rate: per_sec,
            state: Mutex::new((per_sec, Instant::now())),
        }
    }

    fn refill(&self, state: &mut (f64, Instant), now: Instant) {
        let elapsed = now.saturating_duration_since(state.1).as_secs_f64();
        state.0 = (state.0 + elapsed * self.rate).min(self.rate);
        state.1 = now;
    }

    /// Takes one token if there is one.
    pub fn try_take(&self) -> bool {
        let mut state = self.state.lock().expect("token bucket");
        self.refill(&mut state, Instant::now());
        if state.0 >= 1.0 {
            state.0 -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes `n` tokens; the wait until the bucket is out of debt again.
    pub fn take(&self, n: u64) -> Duration {
        let mut state = self.state.lock().expect("token bucket");
        self.refill(&mut state, Instant::now());
        #[allow(clippy::cast_precision_loss)]
        let n = n as f64;
        state.0 -= n;
        if state.0 >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-state.0 / self.rate)
        }
    }
}

/// One tenant's live limiters.
#[derive(Debug)]
pub struct TenantQos {
    requests: Option<TokenBucket>,
    pub ingress: Option<TokenBucket>,
    pub egress: Option<TokenBucket>,
}

impl TenantQos {
    fn new(limits: Limits) -> Self {
        #[allow(clippy::cast_precision_loss)]
        let bytes = limits.bytes_per_sec.map(|b| TokenBucket::new(b as f64));
        Self {
            requests: limits
                .requests_per_sec
                .map(|r| TokenBucket::new(f64::from(r))),
            ingress: bytes.as_ref().map(|b| TokenBucket::new(b.rate)),
            egress: bytes,
        }
    }

    /// Whether one more request fits the rate limit now.
    #[must_use]
    pub fn admit_request(&self) -> bool {
        self.requests.as_ref().is_none_or(TokenBucket::try_take)
    }

    #[must_use]
    pub fn shapes_bandwidth(&self) -> bool {
        self.ingress.is_some()
    }
}

/// Every tenant's limiters, by tenant name.
#[derive(Debug, Default)]
pub struct Qos {
    tenants: RwLock<HashMap<String, Arc<TenantQos>>>,
}

impl Qos {
    /// Replaces a tenant's limiters (fresh buckets, full).
    pub fn set(&self, tenant: &str, limits: Limits) {
        let mut map = self.tenants.write().expect("qos lock");
        if limits.is_unlimited() {
            map.remove(tenant);
        } else {
            map.insert(tenant.to_owned(), Arc::new(TenantQos::new(limits)));
        }
    }

    pub fn remove(&self, tenant: &str) {
        self.tenants.write().expect("qos lock").remove(tenant);
    }

    #[must_use]
    pub fn of(&self, tenant: &str) -> Option<Arc<TenantQos>> {
        self.tenants.read().expect("qos lock").get(tenant).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_rate_allows_a_one_second_burst_then_refuses() {
        let qos = TenantQos::new(Limits {
            requests_per_sec: Some(10),
            bytes_per_sec: None,
        });
        let admitted = (0..50).filter(|_| qos.admit_request()).count();
        assert_eq!(admitted, 10, "a full bucket holds one second");
        std::thread::sleep(Duration::from_millis(250));
        let later = (0..50).filter(|_| qos.admit_request()).count();
        assert!((1..=4).contains(&later), "refilled at 10/s: {later}");
    }

    #[test]
    fn bandwidth_debt_becomes_a_wait() {
        let bucket = TokenBucket::new(1_000_000.0);
        assert_eq!(bucket.take(1_000_000), Duration::ZERO, "the burst");
        let wait = bucket.take(500_000);
        assert!(
            (Duration::from_millis(450)..=Duration::from_millis(510)).contains(&wait),
            "{wait:?}"
        );
    }
}
