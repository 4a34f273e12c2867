//! Lingering close: a connection is closed only after the client's unread bytes are read.
//!
//! A refusal sent before the request body (a quota refusal, a failed signature, a precondition)
//! leaves the rest of the body on the wire. Closing a socket with unread bytes makes the kernel
//! send a reset, and a reset that overtakes the refusal on its way to the client destroys it:
//! the client sees a broken connection instead of the error it should act on (a mount would
//! report EIO instead of ENOSPC). So when hyper is done with a connection, its write side is
//! already shut down (the client sees the end of the response), and what the client still sends
//! is read and dropped, bounded in time and bytes as web servers do, before the socket closes.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// How long a closing connection may keep sending, in all.
const LINGER_FOR: Duration = Duration::from_secs(5);
/// How long a closing connection may stay silent before it is closed.
const LINGER_IDLE: Duration = Duration::from_secs(1);
/// At most this much is read from a closing connection.
const LINGER_BYTES: u64 = 256 << 20;

/// Wraps a connection's I/O; when dropped after an answer was sent, the I/O lingers in a task
/// of its own. One that never got an answer (a stalled or trickling request head) has nothing
/// to protect and closes at once, or a slow client could hold it open longer.
pub struct Lingering<I: AsyncRead + AsyncWrite + Unpin + Send + 'static> {
    io: Option<I>,
    answered: bool,
}

impl<I: AsyncRead + AsyncWrite + Unpin + Send + 'static> Lingering<I> {
    pub fn new(io: I) -> Self {
        Self {
            io: Some(io),
            answered: false,
        }
    }

    fn io(&mut self) -> Pin<&mut I> {
        Pin::new(self.io.as_mut().expect("present until drop"))
    }
}

impl<I: AsyncRead + AsyncWrite + Unpin + Send + 'static> Drop for Lingering<I> {
    fn drop(&mut self) {
        let Some(io) = self.io.take() else { return };
        if !self.answered {
            return;
        }
        // Outside a runtime (never while serving) the socket just closes.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(linger(io));
        }
    }
}

/// Shuts the write side (again: harmless when hyper already did) and reads until the client
/// closes, goes quiet or has sent too much.
async fn linger<I: AsyncRead + AsyncWrite + Unpin>(mut io: I) {
    let _ = io.shutdown().await;
    let mut buf = vec![0u8; 64 << 10];
    let mut read = 0u64;
    let _ = tokio::time::timeout(LINGER_FOR, async {
        while read < LINGER_BYTES {
            match tokio::time::timeout(LINGER_IDLE, io.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => read += n as u64,
                _ => break,
            }
        }
    })
    .await;
}

impl<I: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncRead for Lingering<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.io().poll_read(cx, buf)
    }
}

impl<I: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncWrite for Lingering<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.answered = true;
        self.io().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.answered = true;
        self.io().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.as_ref().is_some_and(|io| io.is_write_vectored())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io().poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::{TcpListener, TcpStream};

    /// The scenario of an early refusal: the server answers and closes while the client is
    /// still sending; the client must still be able to finish and read the whole answer.
    #[tokio::test]
    async fn an_answer_sent_before_the_body_survives_the_close() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn = Lingering::new(stream);
            let mut head = [0u8; 16];
            conn.read_exact(&mut head).await.unwrap();
            conn.write_all(b"refused").await.unwrap();
            conn.shutdown().await.unwrap();
            // Dropped with megabytes of the client's body unread.
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        // Like a client that reads the answer only once its body is out.
        let sent = client.write_all(&vec![7u8; 32 << 20]).await;
        let mut answer = Vec::new();
        let read = client.read_to_end(&mut answer).await;
        assert!(sent.is_ok() && read.is_ok(), "{sent:?} {read:?}");
        server.await.unwrap();
        assert_eq!(answer, b"refused");
    }
}
