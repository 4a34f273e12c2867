//! Limits that end one misbehaving connection without affecting the others: how long a
//! request head and a stalled request body may take, and how big a head may be.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// Per-connection limits (from `[server]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Simultaneous connections per listener.
    pub max_connections: usize,
    /// For the request head, and for the TLS handshake before it.
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
    /// Longest silence within a request body.
    pub body_idle_timeout: Duration,
}

impl ConnectionLimits {
    /// hyper's read buffer: large request bodies arrive faster with bigger reads than its
    /// 8 KiB default. It also caps a head that never ends, before `max_header_bytes` can be
    /// checked on a complete one.
    pub const READ_BUFFER: usize = 1 << 20;
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            header_read_timeout: Duration::from_secs(30),
            max_header_bytes: 64 << 10,
            body_idle_timeout: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body sent nothing for {} s", .0.as_secs())]
    Stalled(Duration),
    #[error(transparent)]
    Read(#[from] hyper::Error),
}

/// A request body that fails once it has sent nothing for `timeout` while being read.
pub struct IdleTimeout<B> {
    inner: B,
    timeout: Duration,
    timer: Pin<Box<Sleep>>,
    /// Whether `timer` runs: it starts when a read finds nothing and stops at the next
    /// frame, so time the service spends not reading (writing to a slow tier) never counts.
    armed: bool,
}

impl<B> IdleTimeout<B> {
    pub fn new(inner: B, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            timer: Box::pin(tokio::time::sleep(timeout)),
            armed: false,
        }
    }
}

impl<B> HttpBody for IdleTimeout<B>
where
    B: HttpBody<Data = Bytes, Error = hyper::Error> + Unpin,
{
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.armed = false;
                Poll::Ready(frame.map(|f| f.map_err(BodyError::from)))
            }
            Poll::Pending => {
                if !this.armed {
                    this.armed = true;
                    this.timer.as_mut().reset(Instant::now() + this.timeout);
                }
                match this.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.armed = false;
                        Poll::Ready(Some(Err(BodyError::Stalled(this.timeout))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A body that never sends anything.
    struct Silent;

    impl HttpBody for Silent {
        type Data = Bytes;
        type Error = hyper::Error;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
            Poll::Pending
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_body_fails_after_the_timeout() {
        let started = Instant::now();
        let mut body = IdleTimeout::new(Silent, Duration::from_secs(5));
        let err = body.frame().await.expect("a frame").unwrap_err();
        assert!(matches!(err, BodyError::Stalled(_)), "{err}");
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }
}
