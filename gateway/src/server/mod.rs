//! Listeners, connections and graceful shutdown.
//!
//! Each listener (TCP, HTTPS or a Unix socket) runs an accept loop bounded by a connection
//! limit. On shutdown the loops stop accepting, open connections finish the requests in
//! flight (bounded by a grace period) and are then closed.

pub mod cert;
mod counters;
mod error_doc;
mod limits;
mod linger;
mod live_limits;
mod log;
mod pacing;
pub mod tls;
pub mod unix;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use s3s::service::S3Service;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Semaphore, watch};
use tracing::{debug, info, warn};

use crate::auth::Connection;

pub use counters::{OperationCount, RequestCounters};
pub use limits::ConnectionLimits;
pub use live_limits::LiveLimits;
pub use log::Logged;

/// A bound listener.
pub enum Listener {
    /// Plain HTTP, or HTTPS.
    Tcp(TcpListener, Option<tls::Tls>),
    /// Plain HTTP on a Unix-domain socket.
    Unix(UnixListener),
}

/// Serves S3 on `listeners` until `shutdown` turns true, then drains. Returns whether every
/// connection finished within the grace period.
pub async fn serve(
    listeners: Vec<Listener>,
    service: S3Service,
    counters: Arc<RequestCounters>,
    limits: Arc<LiveLimits>,
    grace: Duration,
    shutdown: watch::Receiver<bool>,
) -> bool {
    let graceful = Arc::new(GracefulShutdown::new());
    let connections = Arc::new(Connections::new(service, counters, Arc::clone(&limits)));
    let mut loops = Vec::new();
    for listener in listeners {
        loops.push(tokio::spawn(accept_loop(
            listener,
            Arc::clone(&connections),
            limits.listener_slots(),
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

/// What every connection is served with.
struct Connections {
    service: S3Service,
    counters: Arc<RequestCounters>,
    limits: Arc<LiveLimits>,
}

impl Connections {
    fn new(service: S3Service, counters: Arc<RequestCounters>, limits: Arc<LiveLimits>) -> Self {
        Self {
            service,
            counters,
            limits,
        }
    }

    /// Serves one connection with the limits in force when it was accepted.
    async fn serve<I>(
        &self,
        io: I,
        connection: Connection,
        watcher: Watcher,
        limits: ConnectionLimits,
    ) where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        // HTTP/1.1 only: S3 clients do not speak cleartext HTTP/2, and hyper's HTTP/1 server
        // is the one with a limit on the size of a request head.
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_header_size(limits.max_header_bytes)
            .max_buf_size(ConnectionLimits::READ_BUFFER);
        let peer = connection.peer;
        let svc = Logged {
            inner: self.service.clone(),
            connection,
            counters: Arc::clone(&self.counters),
            body_idle_timeout: limits.body_idle_timeout,
        };
        let conn = http.serve_connection(TokioIo::new(linger::Lingering::new(io)), svc);
        if let Err(e) = watcher.watch(conn).await {
            debug!(?peer, error = %e, "connection ended with an error");
        }
    }
}

/// An accepted connection, before any TLS handshake.
enum Accepted {
    Tcp(tokio::net::TcpStream, SocketAddr),
    Unix(tokio::net::UnixStream),
}

impl Listener {
    async fn accept(&self) -> std::io::Result<Accepted> {
        match self {
            Self::Tcp(listener, _) => {
                let (stream, peer) = listener.accept().await?;
                let _ = stream.set_nodelay(true);
                Ok(Accepted::Tcp(stream, peer))
            }
            Self::Unix(listener) => Ok(Accepted::Unix(listener.accept().await?.0)),
        }
    }

    fn tls(&self) -> Option<tls::Tls> {
        match self {
            Self::Tcp(_, tls) => tls.clone(),
            Self::Unix(_) => None,
        }
    }
}

async fn accept_loop(
    listener: Listener,
    connections: Arc<Connections>,
    slots: Arc<Semaphore>,
    graceful: Arc<GracefulShutdown>,
    mut shutdown: watch::Receiver<bool>,
) {
    let tls = listener.tls();
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => permit.expect("semaphore never closes"),
            _ = shutdown.changed() => break,
        };
        let accepted = tokio::select! {
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
        // Taken now, so that a shutdown waits for connections still in their handshake.
        let watcher = graceful.watcher();
        let limits = connections.limits.get();
        let connections = Arc::clone(&connections);
        let tls = tls.clone();
        tokio::spawn(async move {
            match (accepted, tls) {
                (Accepted::Tcp(stream, peer), None) => {
                    let connection = Connection {
                        peer: Some(peer),
                        secure: false,
                        client_cert: None,
                    };
                    connections.serve(stream, connection, watcher, limits).await;
                }
                (Accepted::Tcp(stream, peer), Some(tls)) => {
                    // The handshake is part of the request head: a client that stalls in it
                    // holds a slot just the same.
                    match tokio::time::timeout(
                        limits.header_read_timeout,
                        tls.acceptor().accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(stream)) => {
                            let connection = Connection {
                                peer: Some(peer),
                                secure: true,
                                client_cert: tls::client_cert(&stream),
                            };
                            connections.serve(stream, connection, watcher, limits).await;
                        }
                        Ok(Err(e)) => debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => debug!(%peer, "TLS handshake timed out"),
                    }
                }
                (Accepted::Unix(stream), _) => {
                    let connection = Connection {
                        peer: None,
                        secure: false,
                        client_cert: None,
                    };
                    connections.serve(stream, connection, watcher, limits).await;
                }
            }
            drop(permit);
        });
    }
}
