//! Limits against abusive clients, each ending only the bad connection: a request head that
//! never completes (slowloris), a head that is too big, and a request body that stalls.
//! Raw TCP sockets against the real binary, with short limits set in its config.

mod common;

use std::time::{Duration, Instant};

use common::raw::{Payload, Request, read_response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vmgw_tests::Gateway;

const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
const BODY_TIMEOUT: Duration = Duration::from_secs(2);

fn gateway(dir: &std::path::Path) -> Gateway {
    Gateway::start_with_config(
        dir,
        &format!(
            "[server]\nheader_read_timeout_secs = {}\nbody_idle_timeout_secs = {}\nmax_header_bytes = \"8KiB\"\n",
            HEADER_TIMEOUT.as_secs(),
            BODY_TIMEOUT.as_secs()
        ),
    )
}

/// Reads until the server closes the connection; returns what arrived and when the close
/// came. Fails the test if the connection is still open after `limit`.
async fn until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Instant) {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(limit, read_all)
        .await
        .unwrap_or_else(|_| panic!("the connection was still open after {limit:?}"));
    (received, Instant::now())
}

/// Asserts that `elapsed` is the timeout give or take the scheduling slack: not an early
/// close for another reason, not a hang.
fn assert_cut_after(elapsed: Duration, timeout: Duration, what: &str) {
    assert!(
        elapsed >= timeout - Duration::from_millis(300)
            && elapsed <= timeout + Duration::from_secs(3),
        "{what}: closed after {elapsed:?}, the limit is {timeout:?}"
    );
}

#[tokio::test]
async fn a_half_sent_header_is_cut_off_while_other_clients_are_served() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gw = gateway(dir.path());
    let s3 = common::client(&gw);
    common::create_bucket(&s3, "limits").await;

    let mut idle = TcpStream::connect(&gw.addr).await.expect("connect");
    idle.write_all(b"GET /limits HTTP/1.1\r\nhost: x\r\n")
        .await
        .expect("half a head");
    let idle_started = Instant::now();
    // A slowloris: one header byte every 200 ms keeps the socket busy, never finishing.
    let mut trickle = TcpStream::connect(&gw.addr).await.expect("connect");
    trickle
        .write_all(b"GET /limits HTTP/1.1\r\n")
        .await
        .expect("request line");
    let trickle_started = Instant::now();
    let trickling = tokio::spawn(async move {
        for byte in b"x-slow: ".iter().cycle() {
            if trickle.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        trickle_started.elapsed()
    });

    // Meanwhile another client works normally.
    let data = vmgw_tests::pattern(256 << 10, 5);
    common::put(&s3, "limits", "meanwhile", &data).await;
    assert!(common::get(&s3, "limits", "meanwhile").await == data);
    assert!(
        idle_started.elapsed() < HEADER_TIMEOUT,
        "the normal requests took too long to prove anything"
    );

    let (_, closed) = until_closed(&mut idle, HEADER_TIMEOUT + Duration::from_secs(5)).await;
    assert_cut_after(closed - idle_started, HEADER_TIMEOUT, "half a header");
    let trickled = tokio::time::timeout(Duration::from_secs(10), trickling)
        .await
        .expect("the trickling client was cut off")
        .expect("trickle task");
    // Writes fail only once the close is noticed: up to a write interval (and a reset) late.
    assert!(
        trickled >= HEADER_TIMEOUT - Duration::from_millis(300)
            && trickled <= HEADER_TIMEOUT + Duration::from_secs(4),
        "slowloris cut off after {trickled:?}"
    );
    // And the gateway still serves.
    assert!(common::get(&s3, "limits", "meanwhile").await == data);
}

#[tokio::test]
async fn an_oversized_header_gets_431_and_a_closed_connection() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gw = gateway(dir.path());
    let host = gw.addr.clone();

    // Within the limit (8 KiB): an ordinary answer (here 403 for an unsigned request).
    let fits = Request::new("GET", "/").header("x-filler", &"a".repeat(4 << 10));
    let mut stream = TcpStream::connect(&host).await.expect("connect");
    stream
        .write_all(&fits.to_bytes_with(&host, false))
        .await
        .expect("send");
    let response = read_response(&mut stream, false).await.expect("a response");
    assert_eq!(response.status, 403, "a 4 KiB header");

    for size in [12 << 10, 2 << 20] {
        let big = Request::new("GET", "/").header("x-filler", &"a".repeat(size));
        let mut stream = TcpStream::connect(&host).await.expect("connect");
        // The server may close before taking all of it.
        let _ = stream.write_all(&big.to_bytes_with(&host, false)).await;
        let (received, _) = until_closed(&mut stream, Duration::from_secs(10)).await;
        let text = String::from_utf8_lossy(&received);
        assert!(
            text.starts_with("HTTP/1.1 431"),
            "a {size}-byte header got {:?}",
            text.lines().next()
        );
    }
}

#[tokio::test]
async fn a_stalled_request_body_is_cut_off() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gw = gateway(dir.path());
    let host = gw.addr.clone();
    let s3 = common::client(&gw);
    common::create_bucket(&s3, "limits").await;

    // Signed with UNSIGNED-PAYLOAD so the gateway accepts the head and starts on the body.
    let body = vmgw_tests::pattern(100_000, 9);
    let request = Request::new("PUT", "/limits/stalled")
        .body(body.clone())
        .signed(
            &host,
            vmgw_tests::ACCESS_KEY,
            vmgw_tests::SECRET_KEY,
            Payload::Unsigned,
        );
    let bytes = request.to_bytes_with(&host, false);
    let head_end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head")
        + 4;
    let mut stream = TcpStream::connect(&host).await.expect("connect");
    stream
        .write_all(&bytes[..head_end + 1000])
        .await
        .expect("head and some body");
    let started = Instant::now();

    // Other requests go on meanwhile.
    common::put(&s3, "limits", "other", b"fine").await;

    let (received, closed) = until_closed(&mut stream, BODY_TIMEOUT + Duration::from_secs(5)).await;
    assert_cut_after(closed - started, BODY_TIMEOUT, "a stalled body");
    let text = String::from_utf8_lossy(&received);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 4") || text.starts_with("HTTP/1.1 5"),
        "a stalled body got {text:?}"
    );
    gw.wait_for_log(
        "ending a request whose body stalled",
        1,
        Duration::from_secs(5),
    );
    common::expect_error(
        s3.get_object().bucket("limits").key("stalled").send().await,
        404,
        "NoSuchKey",
        "the stalled upload stored nothing",
    );

    // The same upload sent in full works: the limit is on silence, not on the body.
    let mut stream = TcpStream::connect(&host).await.expect("connect");
    stream
        .write_all(&bytes[..head_end + 1000])
        .await
        .expect("first part");
    tokio::time::sleep(BODY_TIMEOUT / 2).await;
    stream
        .write_all(&bytes[head_end + 1000..])
        .await
        .expect("the rest");
    let response = read_response(&mut stream, false).await.expect("a response");
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert!(common::get(&s3, "limits", "stalled").await == body);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gw = gateway(dir.path());
    let host = gw.addr.clone();
    let mut stream = TcpStream::connect(&host).await.expect("connect");
    let request = Request::new("GET", "/").to_bytes_with(&host, false);
    stream.write_all(&request).await.expect("send");
    let response = read_response(&mut stream, false).await.expect("a response");
    assert_eq!(response.status, 403);
    let idle_from = Instant::now();
    let (received, closed) =
        until_closed(&mut stream, HEADER_TIMEOUT + Duration::from_secs(5)).await;
    assert!(
        received.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&received)
    );
    assert_cut_after(
        closed - idle_from,
        HEADER_TIMEOUT,
        "an idle keep-alive connection",
    );
}

#[tokio::test]
async fn clients_beyond_max_connections_wait_for_a_free_slot() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gw = Gateway::start_with_config(
        dir.path(),
        &format!(
            "[server]\nmax_connections = 2\nheader_read_timeout_secs = {}\n",
            HEADER_TIMEOUT.as_secs()
        ),
    );
    let host = gw.addr.clone();
    // Two connections that never finish a request hold both slots.
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(&host).await.expect("connect");
        stream
            .write_all(b"GET / HTTP/1.1\r\n")
            .await
            .expect("half a head");
        holders.push(stream);
    }
    let started = Instant::now();
    // The kernel completes the third connection, but the gateway takes it only once the
    // header timeout has freed a slot.
    let request = Request::new("GET", "/");
    let response = request.send(&host).await;
    assert_eq!(response.status, 403);
    assert_cut_after(started.elapsed(), HEADER_TIMEOUT, "the third client's wait");
    for mut holder in holders {
        let (received, _) = until_closed(&mut holder, Duration::from_secs(5)).await;
        assert!(received.is_empty() || received.starts_with(b"HTTP/1.1 408"));
    }
}
