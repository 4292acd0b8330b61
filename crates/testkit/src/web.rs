//! A scripted HTTPS server on loopback for testing file transfers, able to
//! misbehave: lying about lengths, cutting or stalling bodies, redirecting
//! in circles, failing uploads half-way.
//!
//! Each path answers with a [`Reply`] set by [`WebServer::route`]; unknown
//! paths get `404`. Every answer closes its connection. Uploads (`PUT`) are
//! recorded byte for byte, also when cut short ([`WebServer::received`]).
//!
//! ```no_run
//! use tern_testkit::web::{Reply, WebServer};
//! # fn main() -> tern_testkit::Result<()> {
//! let server = WebServer::start()?;
//! server.route("/a.jpg", Reply::file(b"jpeg".to_vec(), "image/jpeg"));
//! server.route("/old", Reply::redirect(302, "/a.jpg"));
//! server.route("/slot", Reply::Accept { status: 201 });
//! let url = server.url("/old"); // https://127.0.0.1:PORT/old
//! // ... download `url`, upload to server.url("/slot") ...
//! let uploaded: Vec<u8> = server.received("/slot");
//! # let _ = (url, uploaded);
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};

use anyhow::{anyhow, Context};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::{Leaf, Result, TestCa};

/// The longest request head read.
const MAX_HEAD: usize = 64 * 1024;

/// How a path answers.
#[derive(Clone, Debug)]
pub enum Reply {
    /// `200` with the body and its true `Content-Length`.
    File {
        /// The body.
        body: Vec<u8>,
        /// The `Content-Type`, if any.
        content_type: Option<String>,
    },
    /// `200` declaring `declared` bytes but sending `body`, then closing
    /// the connection properly.
    LyingLength {
        /// The `Content-Length` sent.
        declared: u64,
        /// What is really sent.
        body: Vec<u8>,
    },
    /// `200` with chunked transfer encoding (no length declared).
    Chunked(Vec<u8>),
    /// `200` with the true length, but the connection is reset after the
    /// first `after` bytes of the body.
    Cut {
        /// The whole body.
        body: Vec<u8>,
        /// Bytes sent before the reset.
        after: usize,
    },
    /// `200` with the true length, then the first `after` bytes, then
    /// nothing while the connection stays open (until the server stops).
    Stall {
        /// The whole body.
        body: Vec<u8>,
        /// Bytes sent before the stall.
        after: usize,
    },
    /// A redirect (`status` 3xx) to `location`, sent as is.
    Redirect {
        /// The status, e.g. `302`.
        status: u16,
        /// The `Location` header.
        location: String,
    },
    /// This status with an empty body (an upload's body is not read).
    Status(u16),
    /// The n-th request to the path gets the n-th reply; the last one
    /// answers all later requests.
    Sequence(Vec<Reply>),
    /// Takes an upload (`PUT` with `Content-Length`), recording the body,
    /// and answers `status`.
    Accept {
        /// The answer once the body is read, e.g. `201`.
        status: u16,
    },
    /// Reads the first `after` bytes of an upload, then answers `status`
    /// without reading more (it keeps draining what arrives so the answer
    /// reaches the client, then closes).
    RejectAfter {
        /// Bytes read before answering.
        after: usize,
        /// The answer, e.g. `500` or `413`.
        status: u16,
    },
    /// Reads the first `after` bytes of an upload, then resets the
    /// connection.
    CutAfter {
        /// Bytes read before the reset.
        after: usize,
    },
    /// Reads the first `after` bytes of an upload, then stops reading while
    /// the connection stays open.
    StallAfter {
        /// Bytes read before the stall.
        after: usize,
    },
}

impl Reply {
    /// `200` with `body` and `content_type`.
    pub fn file(body: Vec<u8>, content_type: &str) -> Reply {
        Reply::File {
            body,
            content_type: Some(content_type.to_owned()),
        }
    }

    /// A redirect to `location`.
    pub fn redirect(status: u16, location: &str) -> Reply {
        Reply::Redirect {
            status,
            location: location.to_owned(),
        }
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenRequest {
    /// `GET`, `PUT`, ...
    pub method: String,
    /// The request target, e.g. `/a.jpg?x=1`.
    pub target: String,
    /// Headers in order, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl SeenRequest {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
struct Shared {
    routes: Mutex<HashMap<String, Reply>>,
    hits: Mutex<HashMap<String, usize>>,
    requests: Mutex<Vec<SeenRequest>>,
    received: Mutex<HashMap<String, Vec<u8>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A scripted HTTPS server on 127.0.0.1. See the module documentation.
/// Dropping it closes the listener and every connection.
#[derive(Debug)]
pub struct WebServer {
    port: u16,
    leaf: Leaf,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl WebServer {
    /// Starts a server presenting a leaf from [`TestCa::global`] for
    /// `localhost` (and 127.0.0.1).
    pub fn start() -> Result<WebServer> {
        let leaf = TestCa::global().try_issue_leaf(&["localhost"])?;
        WebServer::start_with_leaf(leaf)
    }

    /// Starts a server presenting `leaf` (with no chain), e.g. one from
    /// another CA.
    pub fn start_with_leaf(leaf: Leaf) -> Result<WebServer> {
        let config = server_config(&leaf)?;
        let shared = Arc::new(Shared::default());
        let s = Arc::clone(&shared);
        let (port, stop, thread) = serve_on_loopback("web", move |listener| async move {
            accept_loop(listener, TlsAcceptor::from(config), s).await
        })?;
        Ok(WebServer {
            port,
            leaf,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The port (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The certificate the server presents.
    pub fn leaf(&self) -> &Leaf {
        &self.leaf
    }

    /// `https://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// Like [`WebServer::url`] with host `localhost`.
    pub fn localhost_url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    /// Sets how `path` (without query) answers from now on, and resets its
    /// request count.
    pub fn route(&self, path: &str, reply: Reply) {
        lock(&self.shared.routes).insert(path.to_owned(), reply);
        lock(&self.shared.hits).remove(path);
    }

    /// The body of the last upload to `path`, as far as it was read (empty
    /// if none).
    pub fn received(&self, path: &str) -> Vec<u8> {
        lock(&self.shared.received)
            .get(path)
            .cloned()
            .unwrap_or_default()
    }

    /// How many requests `path` got since its route was set.
    pub fn hits(&self, path: &str) -> usize {
        lock(&self.shared.hits).get(path).copied().unwrap_or(0)
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<SeenRequest> {
        lock(&self.shared.requests).clone()
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The parts of a loopback server running on its own thread: its port,
/// what stops it, and the thread.
pub(crate) type Served = (u16, oneshot::Sender<()>, JoinHandle<()>);

/// Listens on a free port of 127.0.0.1 and runs `serve` on the listener in
/// a thread of its own (a current-thread runtime) until the returned
/// sender fires or is dropped; dropping the runtime ends every connection
/// task. `name` names the thread and the log lines.
pub(crate) fn serve_on_loopback<F, Fut>(name: &'static str, serve: F) -> Result<Served>
where
    F: FnOnce(TcpListener) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let std_listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .with_context(|| format!("binding the {name} listener"))?;
    std_listener.set_nonblocking(true)?;
    let port = std_listener.local_addr()?.port();
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = thread::Builder::new()
        .name(format!("{name}-{port}"))
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(err) => {
                    tracing::warn!(%err, name, "cannot start the server runtime");
                    return;
                }
            };
            rt.block_on(async move {
                let listener = match TcpListener::from_std(std_listener) {
                    Ok(l) => l,
                    Err(err) => {
                        tracing::warn!(%err, name, "server listener");
                        return;
                    }
                };
                tokio::select! {
                    _ = serve(listener) => {}
                    _ = stopped => {}
                }
            });
        })
        .with_context(|| format!("starting the {name} thread"))?;
    Ok((port, stop, thread))
}

fn server_config(leaf: &Leaf) -> Result<Arc<rustls::ServerConfig>> {
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes())
        .map_err(|e| anyhow!("leaf key: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(leaf.cert_der.clone())], key)?;
    Ok(Arc::new(config))
}

async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            // A client refusing the certificate ends the handshake here.
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            if let Err(err) = serve(tls, &shared).await {
                tracing::debug!("web server connection ended: {err:#}");
            }
        });
    }
}

/// Serves one request on `tls`, then closes it.
async fn serve(mut tls: TlsStream<TcpStream>, shared: &Shared) -> Result<()> {
    let (request, mut rest) = read_head(&mut tls).await?;
    let path = request
        .target
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();
    let content_length: usize = request
        .header("content-length")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    lock(&shared.requests).push(request);
    let hit = {
        let mut hits = lock(&shared.hits);
        let n = hits.entry(path.clone()).or_insert(0);
        *n += 1;
        *n - 1
    };
    let reply = match lock(&shared.routes).get(&path) {
        Some(Reply::Sequence(replies)) => replies
            .get(hit)
            .or(replies.last())
            .cloned()
            .unwrap_or(Reply::Status(404)),
        Some(reply) => reply.clone(),
        None => Reply::Status(404),
    };
    rest.truncate(content_length);
    match reply {
        Reply::File { body, content_type } => {
            let mut head = head(200, body.len() as u64);
            if let Some(ct) = content_type {
                head.push_str(&format!("Content-Type: {ct}\r\n"));
            }
            send(&mut tls, &head, &body).await?;
            close(tls).await
        }
        Reply::LyingLength { declared, body } => {
            send(&mut tls, &head(200, declared), &body).await?;
            close(tls).await
        }
        Reply::Chunked(body) => {
            let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n";
            tls.write_all(format!("{head}\r\n").as_bytes()).await?;
            for piece in body.chunks(16 * 1024) {
                tls.write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                    .await?;
                tls.write_all(piece).await?;
                tls.write_all(b"\r\n").await?;
            }
            tls.write_all(b"0\r\n\r\n").await?;
            close(tls).await
        }
        Reply::Cut { body, after } => {
            let part = body.get(..after).unwrap_or(&body);
            send(&mut tls, &head(200, body.len() as u64), part).await?;
            tls.flush().await?;
            reset(tls);
            Ok(())
        }
        Reply::Stall { body, after } => {
            let part = body.get(..after).unwrap_or(&body);
            send(&mut tls, &head(200, body.len() as u64), part).await?;
            tls.flush().await?;
            std::future::pending::<()>().await;
            Ok(())
        }
        Reply::Redirect { status, location } => {
            let head = format!("{}Location: {location}\r\n", head(status, 0));
            send(&mut tls, &head, b"").await?;
            close(tls).await
        }
        Reply::Status(status) => {
            send(&mut tls, &head(status, 0), b"").await?;
            close(tls).await
        }
        Reply::Sequence(_) => {
            send(&mut tls, &head(500, 0), b"").await?;
            close(tls).await
        }
        Reply::Accept { status } => {
            read_upload(&mut tls, shared, &path, rest, content_length).await?;
            send(&mut tls, &head(status, 0), b"").await?;
            close(tls).await
        }
        Reply::RejectAfter { after, status } => {
            read_upload(&mut tls, shared, &path, rest, after.min(content_length)).await?;
            send(&mut tls, &head(status, 0), b"").await?;
            tls.flush().await?;
            // Drain (without recording) so that closing does not reset the
            // connection before the client reads the answer.
            let mut buf = vec![0u8; 64 * 1024];
            let drain = async { while matches!(tls.read(&mut buf).await, Ok(n) if n > 0) {} };
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), drain).await;
            close(tls).await
        }
        Reply::CutAfter { after } => {
            read_upload(&mut tls, shared, &path, rest, after.min(content_length)).await?;
            reset(tls);
            Ok(())
        }
        Reply::StallAfter { after } => {
            read_upload(&mut tls, shared, &path, rest, after.min(content_length)).await?;
            std::future::pending::<()>().await;
            Ok(())
        }
    }
}

/// A response head without the final empty line.
fn head(status: u16, content_length: u64) -> String {
    let reason = match status {
        200 => "OK",
        201 => "Created",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        404 => "Not Found",
        413 => "Content Too Large",
        500 => "Internal Server Error",
        _ => "Whatever",
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {content_length}\r\nConnection: close\r\n"
    )
}

async fn send(tls: &mut TlsStream<TcpStream>, head: &str, body: &[u8]) -> Result<()> {
    tls.write_all(format!("{head}\r\n").as_bytes()).await?;
    tls.write_all(body).await?;
    Ok(())
}

/// Ends the connection properly (TLS close_notify, then FIN).
async fn close(mut tls: TlsStream<TcpStream>) -> Result<()> {
    tls.shutdown().await?;
    Ok(())
}

/// Ends the connection abruptly (TCP RST, no close_notify).
fn reset(tls: TlsStream<TcpStream>) {
    let (tcp, _) = tls.into_inner();
    let _ = tcp.set_zero_linger();
    drop(tcp);
}

/// Reads the request head; returns it and the body bytes read with it.
async fn read_head(tls: &mut TlsStream<TcpStream>) -> Result<(SeenRequest, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut piece = [0u8; 4096];
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if buf.len() > MAX_HEAD {
            return Err(anyhow!("request head too long"));
        }
        let n = tls.read(&mut piece).await?;
        if n == 0 {
            return Err(anyhow!("connection closed before the request head"));
        }
        buf.extend_from_slice(&piece[..n]);
    };
    let text = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut words = first.split(' ');
    let method = words.next().unwrap_or_default().to_owned();
    let target = words.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = buf[end + 4..].to_vec();
    Ok((
        SeenRequest {
            method,
            target,
            headers,
        },
        rest,
    ))
}

/// Records upload bytes for `path`; `fresh` starts a new upload.
fn record(shared: &Shared, path: &str, data: &[u8], fresh: bool) {
    let mut received = lock(&shared.received);
    let entry = received.entry(path.to_owned()).or_default();
    if fresh {
        entry.clear();
    }
    entry.extend_from_slice(data);
}

/// Reads an upload's body up to `limit` bytes, recording it as it comes.
async fn read_upload(
    tls: &mut TlsStream<TcpStream>,
    shared: &Shared,
    path: &str,
    mut first: Vec<u8>,
    limit: usize,
) -> Result<()> {
    first.truncate(limit);
    let mut got = first.len();
    record(shared, path, &first, true);
    let mut buf = vec![0u8; 64 * 1024];
    while got < limit {
        let want = (limit - got).min(buf.len());
        let n = tls.read(&mut buf[..want]).await?;
        if n == 0 {
            return Err(anyhow!("upload ended after {got} of {limit} bytes"));
        }
        record(shared, path, &buf[..n], false);
        got += n;
    }
    Ok(())
}
