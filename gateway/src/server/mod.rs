//! Listeners, connections and graceful shutdown.
//!
//! Each listener runs an accept loop bounded by a connection limit. On shutdown the loops
//! stop accepting, open connections finish the requests in flight (bounded by a grace
//! period) and are then closed.

mod counters;
mod error_doc;
mod log;
mod pacing;

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use s3s::service::S3Service;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tracing::{debug, info, warn};

pub use counters::{OperationCount, RequestCounters};
pub use log::Logged;

/// Serves S3 on `listeners` until `shutdown` turns true, then drains. Returns whether every
/// connection finished within the grace period.
pub async fn serve(
    listeners: Vec<TcpListener>,
    service: S3Service,
    counters: Arc<RequestCounters>,
    max_connections: usize,
    grace: Duration,
    shutdown: watch::Receiver<bool>,
) -> bool {
    let graceful = Arc::new(GracefulShutdown::new());
    let mut loops = Vec::new();
    for listener in listeners {
        loops.push(tokio::spawn(accept_loop(
            listener,
            service.clone(),
            Arc::clone(&counters),
            Arc::new(Semaphore::new(max_connections)),
            Arc::clone(&graceful),
            shutdown.clone(),
        )));
    }
    for task in loops {
        let _ = task.await;
    }
    let graceful =
        Arc::try_unwrap(graceful).unwrap_or_else(|_| unreachable!("accept loops have ended"));
    info!(
        open = graceful.count(),
        "stopped accepting; waiting for requests in flight"
    );
    tokio::select! {
        () = graceful.shutdown() => {
            info!("all connections closed");
            true
        }
        () = tokio::time::sleep(grace) => {
            warn!(grace_secs = grace.as_secs(), "grace period over; closing remaining connections");
            false
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    service: S3Service,
    counters: Arc<RequestCounters>,
    slots: Arc<Semaphore>,
    graceful: Arc<GracefulShutdown>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    // Large request bodies arrive faster with bigger read buffers; hyper's default is 8 KiB.
    builder.http1().max_buf_size(1 << 20);
    let builder = Arc::new(builder);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => permit.expect("semaphore never closes"),
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Running out of file descriptors must not spin the loop.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let svc = Logged {
            inner: service.clone(),
            peer: Some(peer),
            secure: false,
            counters: Arc::clone(&counters),
        };
        let watcher = graceful.watcher();
        let builder = Arc::clone(&builder);
        tokio::spawn(async move {
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
}
