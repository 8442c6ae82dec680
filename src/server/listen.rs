//! Accepting connections: hyper's HTTP/1 server driven directly instead of `axum::serve`, for two
//! things `axum::serve` does not offer:
//! - a header-read timeout (`server.header_read_timeout_s`): a client that sends half a request
//!   head, or keeps an idle keep-alive connection open, is disconnected instead of holding a
//!   socket and a task for ever (slowloris);
//! - a larger read buffer, so that request heads up to [`READ_BUFFER`] reach
//!   [`limit_request_head`] and an oversized one gets a JSON 431 like every other error (hyper's
//!   own 431, for heads beyond the buffer, has no body; so has its 414 for a URL over 64 KiB,
//!   which the `http` crate cannot represent);
//! - a [`PeerWatch`] in every request's extensions, so a handler that sends nothing until its job
//!   ends (a non-streaming response) still notices a client that left, and drops its job within
//!   one decode step instead of at the next sentence boundary.
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt as _;

/// Largest request head (request line and headers) served; a larger one is answered 431.
pub const MAX_REQUEST_HEAD: usize = 32 * 1024;

/// hyper's read buffer per connection (its default is ~400 KB): heads up to this size are parsed
/// and reach [`limit_request_head`]; beyond it hyper answers a bodiless 431 itself.
pub const READ_BUFFER: usize = 2 * 1024 * 1024;

/// Refuses a request whose head is over [`MAX_REQUEST_HEAD`] with 431 (rendered as JSON by the
/// error layer), before authentication or any handler.
pub async fn limit_request_head(req: Request, next: Next) -> Response {
    let line = req.method().as_str().len() + req.uri().path_and_query().map_or(1, |p| p.as_str().len()) + 10;
    let size = line + req.headers().iter().map(|(n, v)| n.as_str().len() + v.len() + 4).sum::<usize>();
    if size > MAX_REQUEST_HEAD {
        let message = format!("the request head (URL and headers) is {size} bytes; at most {MAX_REQUEST_HEAD} are accepted");
        return (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, message).into_response();
    }
    next.run(req).await
}

/// How often a watch re-checks a connection that has unread bytes (a pipelined next request).
const RECHECK: Duration = Duration::from_millis(100);

/// Tells whether the client of a connection has gone away, without reading its bytes: it peeks at
/// a second descriptor of the same socket (hyper owns the reading).
#[derive(Clone)]
pub struct PeerWatch(Arc<TcpStream>);

impl PeerWatch {
    fn new(stream: &TcpStream) -> Option<PeerWatch> {
        use std::os::fd::AsFd;
        let fd = stream.as_fd().try_clone_to_owned().ok()?;
        let std_stream = std::net::TcpStream::from(fd);
        std_stream.set_nonblocking(true).ok()?;
        TcpStream::from_std(std_stream).ok().map(|s| PeerWatch(Arc::new(s)))
    }

    /// Resolves once the client has closed the connection (or it failed).
    pub async fn closed(&self) {
        let mut byte = [0u8; 1];
        loop {
            match self.0.peek(&mut byte).await {
                Ok(0) | Err(_) => return,
                // Bytes wait unread (hyper reads them after this response): the socket stays
                // readable, so look again later rather than spin.
                Ok(_) => tokio::time::sleep(RECHECK).await,
            }
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and waits for the
/// open connections to finish their requests (graceful shutdown).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    // Each connection task holds a receiver; `closed()` resolves when the last one ends.
    let (open_tx, open_rx) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors and the like: wait a little instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let peer = PeerWatch::new(&stream);
        let service = router.clone().map_request(move |req: Request<Incoming>| {
            let mut req = req.map(Body::new);
            if let Some(p) = &peer {
                req.extensions_mut().insert(p.clone());
            }
            req
        });
        let mut stop = stop_rx.clone();
        let open = open_rx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(header_read_timeout).max_buf_size(READ_BUFFER);
            let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)).with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!("connection ended: {e}");
                    }
                }
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(open);
        });
    }
    drop(listener);
    drop(open_rx);
    let _ = stop_tx.send(true);
    open_tx.closed().await;
    Ok(())
}
