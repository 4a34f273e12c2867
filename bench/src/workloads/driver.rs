//! Runs one request type from N concurrent workers, each with its own client, and records
//! every request's latency.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::client::S3;
use crate::error::{BenchError, Result};
use crate::stats::Sample;

/// How long the workers keep going.
#[derive(Debug, Clone, Copy)]
pub enum Budget {
    /// Each worker makes this many requests; the request index is per worker.
    PerWorker(u64),
    /// The workers share this many requests; the request index is global.
    Total(u64),
    /// Each worker starts requests until this much time has passed.
    For(Duration),
}

/// What the workers did: the merged sample and how many requests each worker completed.
#[derive(Debug)]
pub struct Outcome {
    pub sample: Sample,
    pub per_worker: Vec<u64>,
}

/// Runs `op(client, worker, index)` — which returns the bytes it moved — from every client in
/// `clients` concurrently until `budget` is spent.
pub async fn drive<F, Fut>(clients: &[S3], budget: Budget, op: F) -> Result<Outcome>
where
    F: Fn(S3, usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<u64>> + Send + 'static,
{
    let op = Arc::new(op);
    let shared = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start
        + if let Budget::For(d) = budget {
            d
        } else {
            Duration::ZERO
        };
    let mut tasks = Vec::with_capacity(clients.len());
    for (worker, client) in clients.iter().enumerate() {
        let (op, shared, client) = (Arc::clone(&op), Arc::clone(&shared), client.clone());
        tasks.push(tokio::spawn(async move {
            let mut sample = Sample::default();
            let mut own = 0u64;
            loop {
                let index = match budget {
                    Budget::PerWorker(n) if own < n => own,
                    Budget::Total(n) => match shared.fetch_add(1, Ordering::Relaxed) {
                        i if i < n => i,
                        _ => break,
                    },
                    Budget::For(_) if own == 0 || Instant::now() < deadline => own,
                    _ => break,
                };
                let t0 = Instant::now();
                let bytes = op(client.clone(), worker, index).await?;
                sample.record(t0.elapsed(), bytes);
                own += 1;
            }
            Ok::<_, BenchError>(sample)
        }));
    }
    let mut merged = Sample::default();
    let mut per_worker = Vec::with_capacity(tasks.len());
    for task in tasks {
        let sample = task
            .await
            .map_err(|e| BenchError::Check(format!("worker panicked: {e}")))??;
        per_worker.push(sample.ops);
        merged.merge(sample);
    }
    merged.elapsed = start.elapsed();
    Ok(Outcome {
        sample: merged,
        per_worker,
    })
}
