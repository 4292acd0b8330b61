//! HTTPS file transfers (XEP-0363 HTTP upload and the downloads of shared
//! files): a streaming `PUT` of a file on disk and a streaming `GET` into a
//! file or any [`Sink`].
//!
//! Every request opens its own HTTP/1.1 connection (hyper's connection-level
//! client, no pool): transfers are few and long, and one connection per
//! request keeps TLS policy and timeouts simple. TLS follows Tern's policy
//! ([`super::tls`]): the platform verifier plus the account's extra roots;
//! the account's pinned certificate counts only for the hosts in
//! `pin_hosts` (the account's own server), never for a third-party host a
//! link points to.
//!
//! Bodies are streamed in chunks of [`CHUNK`] bytes: neither direction ever
//! holds a whole file in memory. Only `https://` is spoken; a redirect to
//! anything else is refused.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::client::conn::http1;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;
use url::{Host, Url};

use super::tls::{self, TlsTrust};
use crate::error::ConnectError;

/// Size of the pieces a body is read, transformed and sent in.
pub(crate) const CHUNK: usize = 64 * 1024;

/// Redirects followed by a download before it gives up.
pub(crate) const MAX_REDIRECTS: usize = 5;

/// The `User-Agent` of every request.
const USER_AGENT: &str = concat!("Tern/", env!("CARGO_PKG_VERSION"));

/// The only headers an upload slot may ask for (XEP-0363 §5); any other
/// header of a slot is ignored.
const SLOT_HEADERS: [&str; 3] = ["authorization", "cookie", "expires"];

/// Why a transfer failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TransferError {
    /// The secure connection failed: an untrusted certificate (the text
    /// then says which problems and gives its SHA-256 fingerprint), or
    /// another handshake failure.
    Tls(String),
    /// The server could not be reached, or the connection broke off.
    Connect(String),
    /// The server did not answer in time, or stopped sending or receiving.
    Timeout,
    /// The server answered with this HTTP status.
    Status(u16),
    /// The file is larger than allowed. `size` is the size the server
    /// declared, when it did.
    TooLarge {
        /// The limit in bytes.
        limit: u64,
        /// The declared size, if known.
        size: Option<u64>,
    },
    /// The body was not as long as declared: cut short, or longer.
    SizeMismatch {
        /// Bytes declared (download) or to be sent (upload).
        expected: u64,
        /// Bytes received or sent.
        got: u64,
    },
    /// A redirect was refused (to a non-https address, a loop, too many).
    Redirect(String),
    /// The address is not a usable `https://` URL.
    Url(String),
    /// Cancelled by the user.
    Cancelled,
    /// Reading or writing the local file failed.
    Io(String),
}

impl TransferError {
    /// Whether trying again later may succeed: network failures, timeouts,
    /// a body cut short, server errors (5xx), and 408/429. Not: other 4xx,
    /// a file too large, certificate problems, refused redirects, bad
    /// addresses, local file errors, cancellation.
    pub(crate) fn retryable(&self) -> bool {
        match self {
            TransferError::Connect(_) | TransferError::Timeout => true,
            TransferError::SizeMismatch { .. } => true,
            TransferError::Status(code) => *code >= 500 || *code == 408 || *code == 429,
            TransferError::Tls(_)
            | TransferError::TooLarge { .. }
            | TransferError::Redirect(_)
            | TransferError::Url(_)
            | TransferError::Cancelled
            | TransferError::Io(_) => false,
        }
    }
}

impl std::fmt::Display for TransferError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransferError::Tls(detail) => write!(f, "secure connection failed: {detail}"),
            TransferError::Connect(detail) => {
                write!(f, "could not talk to the file server: {detail}")
            }
            TransferError::Timeout => write!(f, "the file server did not respond in time"),
            TransferError::Status(code) => {
                let words = hyper::StatusCode::from_u16(*code)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default();
                write!(f, "the file server answered with HTTP status {code}{words}")
            }
            TransferError::TooLarge {
                limit,
                size: Some(size),
            } => write!(
                f,
                "the file is too large ({size} bytes; the limit is {limit} bytes)"
            ),
            TransferError::TooLarge { limit, size: None } => write!(
                f,
                "the file is too large (more than the limit of {limit} bytes)"
            ),
            TransferError::SizeMismatch { expected, got } => write!(
                f,
                "the transfer was cut short or garbled: {got} bytes instead of {expected}"
            ),
            TransferError::Redirect(detail) => write!(f, "redirect refused: {detail}"),
            TransferError::Url(detail) => write!(f, "unusable file address: {detail}"),
            TransferError::Cancelled => write!(f, "the transfer was cancelled"),
            TransferError::Io(detail) => write!(f, "local file error: {detail}"),
        }
    }
}

impl std::error::Error for TransferError {}

/// How long a transfer waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeouts {
    /// For name resolution, TCP connect and the TLS handshake together.
    pub connect: Duration,
    /// For any progress once connected: the response head, each piece of a
    /// body, the server taking each piece of an upload.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(15),
            idle: Duration::from_secs(30),
        }
    }
}

/// What a download delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fetched {
    /// Bytes received.
    pub size: u64,
    /// The server's `Content-Type`, if any.
    pub content_type: Option<String>,
    /// SHA-256 of the bytes received (as sent by the server, before any
    /// processing by the sink).
    pub sha256: [u8; 32],
}

/// An upload: where to, what, and the file to send.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Upload<'a> {
    /// The slot's `PUT` URL (`https://` only).
    pub url: &'a str,
    /// The slot's headers; only `Authorization`, `Cookie` and `Expires` are
    /// sent (XEP-0363 §5), with any line break removed.
    pub headers: &'a [(String, String)],
    /// The `Content-Type` to send.
    pub content_type: &'a str,
    /// The file to send.
    pub path: &'a Path,
    /// Its size, as announced when the slot was requested; the file must
    /// still have exactly this size.
    pub size: u64,
}

/// Changes an upload's bytes on their way out, e.g. encrypts them.
///
/// Each chunk of the file passes through [`ChunkTransform::apply`] in order
/// and is changed in place; after the last, [`ChunkTransform::finish`]
/// returns bytes appended to the body (e.g. AES-GCM's 16-byte tag). The
/// body's length is the file's size plus [`ChunkTransform::trailer_len`].
pub(crate) trait ChunkTransform: Send {
    /// How many bytes [`ChunkTransform::finish`] returns.
    fn trailer_len(&self) -> u64;
    /// Changes one chunk in place.
    fn apply(&mut self, chunk: &mut [u8]);
    /// Called once after the last chunk: the bytes to append.
    fn finish(&mut self) -> Vec<u8>;
}

/// Where a download's bytes go, in order, as they arrive.
pub(crate) trait Sink: Send {
    /// Takes the next piece of the body. An error ends the download with it.
    fn write(&mut self, data: &[u8]) -> impl Future<Output = Result<(), TransferError>> + Send;
}

/// A [`Sink`] that writes to a file.
struct FileSink {
    file: tokio::fs::File,
    path: PathBuf,
}

impl Sink for FileSink {
    async fn write(&mut self, data: &[u8]) -> Result<(), TransferError> {
        self.file
            .write_all(data)
            .await
            .map_err(|e| TransferError::Io(format!("cannot write {}: {e}", self.path.display())))
    }
}

/// Removes a file when dropped, unless disarmed: a download that fails,
/// is cancelled or is dropped leaves no partial file behind.
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// An HTTPS client for file transfers under one account's TLS policy.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    trust: TlsTrust,
    pin_hosts: Vec<String>,
    timeouts: Timeouts,
}

/// The request body: nothing, or pieces handed over through a channel (the
/// connection needs a `'static` body; the pieces are produced by the
/// caller's task, which may borrow).
enum ReqBody {
    Empty,
    Stream {
        rx: mpsc::Receiver<Bytes>,
        remaining: u64,
    },
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            ReqBody::Empty => Poll::Ready(None),
            ReqBody::Stream { rx, remaining } => match rx.poll_recv(cx) {
                Poll::Ready(Some(bytes)) => {
                    *remaining = remaining.saturating_sub(bytes.len() as u64);
                    Poll::Ready(Some(Ok(Frame::data(bytes))))
                }
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Empty => true,
            ReqBody::Stream { remaining, .. } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReqBody::Empty => SizeHint::with_exact(0),
            ReqBody::Stream { remaining, .. } => SizeHint::with_exact(*remaining),
        }
    }
}

/// A connection ready for one request. Dropping it closes the connection.
struct Conn {
    sender: http1::SendRequest<ReqBody>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// When an upload last made progress, for its idle timeout.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Completes once nothing happened for `limit`.
    async fn idle(&self, limit: Duration) {
        loop {
            let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let deadline = self.start + last + limit;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// Why producing an upload's body stopped early.
enum Produce {
    /// The connection dropped the body: its own error says why.
    Closed,
    /// A local failure.
    Failed(TransferError),
}

impl HttpClient {
    /// A client trusting what `trust` says; its pin, if any, counts only
    /// for the hosts in `pin_hosts` (compared without case).
    pub(crate) fn new(trust: TlsTrust, pin_hosts: Vec<String>) -> HttpClient {
        HttpClient::with_timeouts(trust, pin_hosts, Timeouts::default())
    }

    /// Like [`HttpClient::new`], with other timeouts.
    pub(crate) fn with_timeouts(
        trust: TlsTrust,
        pin_hosts: Vec<String>,
        timeouts: Timeouts,
    ) -> HttpClient {
        let pin_hosts = pin_hosts.iter().map(|h| normalize_host(h)).collect();
        HttpClient {
            inner: Arc::new(Inner {
                trust,
                pin_hosts,
                timeouts,
            }),
        }
    }

    /// Uploads a file with `PUT`, streaming it from disk. `transform`, if
    /// given, changes each chunk in place before it is sent and appends its
    /// trailer (see [`ChunkTransform`]). `progress` gets the bytes handed to
    /// the connection so far. Success is a `200` or `201` answer.
    pub(crate) async fn put_file(
        &self,
        upload: &Upload<'_>,
        transform: Option<&mut dyn ChunkTransform>,
        progress: &(dyn Fn(u64) + Sync),
        cancel: &CancellationToken,
    ) -> Result<(), TransferError> {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => Err(TransferError::Cancelled),
            r = self.put_inner(upload, transform, progress) => r,
        }
    }

    async fn put_inner(
        &self,
        upload: &Upload<'_>,
        mut transform: Option<&mut dyn ChunkTransform>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<(), TransferError> {
        let url = parse_url(upload.url)?;
        let mut file = tokio::fs::File::open(upload.path)
            .await
            .map_err(|e| local(upload.path, "cannot open", &e))?;
        let on_disk = file
            .metadata()
            .await
            .map_err(|e| local(upload.path, "cannot read", &e))?
            .len();
        if on_disk != upload.size {
            return Err(TransferError::Io(format!(
                "{} changed: it has {on_disk} bytes, not {}",
                upload.path.display(),
                upload.size
            )));
        }
        let trailer_len = transform.as_ref().map_or(0, |t| t.trailer_len());
        let total = upload.size.saturating_add(trailer_len);

        let mut conn = self.connect(&url).await?;
        let (tx, rx) = mpsc::channel::<Bytes>(2);
        let mut request = request(&url, Method::PUT)?;
        {
            let h = request.headers_mut();
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(total));
            let ct = HeaderValue::from_str(upload.content_type)
                .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
            h.insert(header::CONTENT_TYPE, ct);
            for (name, value) in upload.headers {
                if let Some((name, value)) = slot_header(name, value) {
                    h.append(name, value);
                }
            }
        }
        let request = request.map(|()| ReqBody::Stream {
            rx,
            remaining: total,
        });

        let activity = Activity::new();
        let idle = self.inner.timeouts.idle;
        let send = conn.sender.send_request(request);
        let produce = async {
            let mut sent = 0u64;
            let mut remaining = upload.size;
            progress(0);
            while remaining > 0 {
                let n = usize::try_from(remaining).map_or(CHUNK, |r| r.min(CHUNK));
                let mut buf = vec![0u8; n];
                file.read_exact(&mut buf).await.map_err(|e| {
                    Produce::Failed(local(upload.path, "cannot read (did it change?)", &e))
                })?;
                if let Some(t) = transform.as_mut() {
                    t.apply(&mut buf);
                }
                tx.send(Bytes::from(buf))
                    .await
                    .map_err(|_| Produce::Closed)?;
                remaining -= n as u64;
                sent += n as u64;
                activity.touch();
                progress(sent);
            }
            if let Some(t) = transform.as_mut() {
                let trailer = t.finish();
                if trailer.len() as u64 != trailer_len {
                    return Err(Produce::Failed(TransferError::Io(format!(
                        "the transformed upload ended with {} bytes instead of {trailer_len}",
                        trailer.len()
                    ))));
                }
                if !trailer.is_empty() {
                    sent += trailer_len;
                    tx.send(Bytes::from(trailer))
                        .await
                        .map_err(|_| Produce::Closed)?;
                    activity.touch();
                    progress(sent);
                }
            }
            drop(tx);
            Ok::<u64, Produce>(sent)
        };
        tokio::pin!(send);
        tokio::pin!(produce);

        // Drive the body and wait for the answer; the server may answer
        // before it has read everything (an error, typically).
        let mut produced: Option<u64> = None;
        let response = loop {
            tokio::select! {
                r = &mut send => break r,
                p = &mut produce, if produced.is_none() => match p {
                    Ok(sent) => {
                        produced = Some(sent);
                        activity.touch();
                    }
                    Err(Produce::Failed(e)) => return Err(e),
                    // The connection gave up on the body; `send` says why.
                    Err(Produce::Closed) => produced = Some(0),
                },
                _ = activity.idle(idle) => return Err(TransferError::Timeout),
            }
        };
        let response =
            response.map_err(|e| TransferError::Connect(format!("the upload broke off: {e}")))?;
        let status = response.status().as_u16();
        if status != 200 && status != 201 {
            return Err(TransferError::Status(status));
        }
        // A success before the whole body was taken: finish sending, and
        // only then call it done.
        if produced.is_none() {
            let sent = tokio::select! {
                p = &mut produce => p,
                _ = activity.idle(idle) => return Err(TransferError::Timeout),
            };
            match sent {
                Ok(_) => {}
                Err(Produce::Failed(e)) => return Err(e),
                Err(Produce::Closed) => {
                    return Err(TransferError::Connect(
                        "the server answered before the upload was complete".into(),
                    ))
                }
            }
        }
        drop(conn);
        Ok(())
    }

    /// Downloads `url` into the file `dst` (created or truncated; give a
    /// temporary path and rename it once checked). On any failure,
    /// cancellation, or if this future is dropped, `dst` is removed. See
    /// [`HttpClient::get`] for the rest.
    pub(crate) async fn get_to_file(
        &self,
        url: &str,
        dst: &Path,
        max_bytes: u64,
        progress: &(dyn Fn(u64, Option<u64>) + Sync),
        cancel: &CancellationToken,
    ) -> Result<Fetched, TransferError> {
        let file = tokio::fs::File::create(dst)
            .await
            .map_err(|e| local(dst, "cannot create", &e))?;
        let mut guard = RemoveOnDrop(Some(dst.to_path_buf()));
        let mut sink = FileSink {
            file,
            path: dst.to_path_buf(),
        };
        let fetched = self
            .get(url, max_bytes, &mut sink, progress, cancel)
            .await?;
        let flushed = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(TransferError::Cancelled),
            r = sink.file.flush() => r,
        };
        flushed.map_err(|e| local(dst, "cannot write", &e))?;
        drop(sink);
        guard.0 = None;
        Ok(fetched)
    }

    /// Downloads `url` with `GET`, handing the body to `sink` as it
    /// arrives. Follows up to [`MAX_REDIRECTS`] redirects to `https://`
    /// addresses (never to anything else, never in a loop). Refuses a body
    /// longer than `max_bytes`: before reading it when the server declares
    /// its length, else as soon as it grows past. A body shorter or longer
    /// than declared is an error. `progress` gets the bytes received so far
    /// and the declared length.
    pub(crate) async fn get<S: Sink>(
        &self,
        url: &str,
        max_bytes: u64,
        sink: &mut S,
        progress: &(dyn Fn(u64, Option<u64>) + Sync),
        cancel: &CancellationToken,
    ) -> Result<Fetched, TransferError> {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => Err(TransferError::Cancelled),
            r = self.get_inner(url, max_bytes, sink, progress) => r,
        }
    }

    async fn get_inner<S: Sink>(
        &self,
        url: &str,
        max_bytes: u64,
        sink: &mut S,
        progress: &(dyn Fn(u64, Option<u64>) + Sync),
    ) -> Result<Fetched, TransferError> {
        let idle = self.inner.timeouts.idle;
        let mut current = parse_url(url)?;
        let mut seen = vec![current.clone()];
        let (_conn, response) = loop {
            let mut conn = self.connect(&current).await?;
            let request = request(&current, Method::GET)?.map(|()| ReqBody::Empty);
            let response = tokio::time::timeout(idle, conn.sender.send_request(request))
                .await
                .map_err(|_| TransferError::Timeout)?
                .map_err(|e| TransferError::Connect(format!("no answer: {e}")))?;
            let status = response.status().as_u16();
            if !matches!(status, 301 | 302 | 303 | 307 | 308) {
                break (conn, response);
            }
            current = redirect_target(&current, response.headers(), &seen)?;
            seen.push(current.clone());
        };
        let status = response.status().as_u16();
        if status != 200 {
            return Err(TransferError::Status(status));
        }
        let declared = content_length(response.headers())?;
        if let Some(size) = declared.filter(|s| *s > max_bytes) {
            return Err(TransferError::TooLarge {
                limit: max_bytes,
                size: Some(size),
            });
        }
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = response.into_body();
        let mut hasher = Sha256::new();
        let mut got = 0u64;
        progress(0, declared);
        loop {
            let frame = tokio::time::timeout(idle, next_frame(&mut body))
                .await
                .map_err(|_| TransferError::Timeout)?;
            let data = match frame {
                None => break,
                Some(Err(e)) => {
                    return Err(match declared {
                        Some(expected) => TransferError::SizeMismatch { expected, got },
                        None => TransferError::Connect(format!("the download broke off: {e}")),
                    })
                }
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    // Trailers carry nothing we use.
                    Err(_) => continue,
                },
            };
            let now = got.saturating_add(data.len() as u64);
            if now > max_bytes {
                return Err(TransferError::TooLarge {
                    limit: max_bytes,
                    size: declared,
                });
            }
            if let Some(expected) = declared.filter(|e| now > *e) {
                return Err(TransferError::SizeMismatch { expected, got: now });
            }
            hasher.update(&data);
            sink.write(&data).await?;
            got = now;
            progress(got, declared);
        }
        if let Some(expected) = declared.filter(|e| got != *e) {
            return Err(TransferError::SizeMismatch { expected, got });
        }
        Ok(Fetched {
            size: got,
            content_type,
            sha256: hasher.finalize().into(),
        })
    }

    /// Resolves, connects and secures a connection to `url`'s host, within
    /// the connect timeout.
    async fn connect(&self, url: &Url) -> Result<Conn, TransferError> {
        tokio::time::timeout(self.inner.timeouts.connect, self.connect_inner(url))
            .await
            .map_err(|_| TransferError::Timeout)?
    }

    async fn connect_inner(&self, url: &Url) -> Result<Conn, TransferError> {
        let port = url
            .port_or_known_default()
            .ok_or_else(|| TransferError::Url(format!("no port in {url}")))?;
        let (server_name, addrs, host) = match url.host() {
            Some(Host::Domain(d)) => {
                let addrs: Vec<_> = tokio::net::lookup_host((d, port))
                    .await
                    .map_err(|e| TransferError::Connect(format!("cannot find {d}: {e}")))?
                    .collect();
                let name = ServerName::try_from(d.to_owned())
                    .map_err(|e| TransferError::Url(format!("{d}: {e}")))?;
                (name, addrs, d.to_owned())
            }
            Some(Host::Ipv4(ip)) => (
                ServerName::IpAddress(std::net::IpAddr::V4(ip).into()),
                vec![(ip, port).into()],
                ip.to_string(),
            ),
            Some(Host::Ipv6(ip)) => (
                ServerName::IpAddress(std::net::IpAddr::V6(ip).into()),
                vec![(ip, port).into()],
                ip.to_string(),
            ),
            None => return Err(TransferError::Url(format!("no host in {url}"))),
        };
        let mut tcp = None;
        let mut last_error = None;
        for addr in &addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let Some(tcp) = tcp else {
            return Err(TransferError::Connect(match last_error {
                Some(e) => format!("cannot connect to {host} port {port}: {e}"),
                None => format!("{host} has no address"),
            }));
        };
        let _ = tcp.set_nodelay(true);

        let trust = if self.inner.pin_hosts.contains(&normalize_host(&host)) {
            self.inner.trust.clone()
        } else {
            TlsTrust {
                extra_roots: self.inner.trust.extra_roots.clone(),
                pin: None,
            }
        };
        let (config, failure) = tls::client_config(&trust, false).map_err(|e| match e {
            ConnectError::TlsFailure { detail } => TransferError::Tls(detail),
            other => TransferError::Tls(other.to_string()),
        })?;
        let mut config = Arc::unwrap_or_clone(config);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let stream = TlsConnector::from(Arc::new(config))
            .connect(server_name, tcp)
            .await
            .map_err(|e| {
                let refused = failure.lock().ok().and_then(|mut slot| slot.take());
                TransferError::Tls(match refused {
                    Some(f) => format!(
                        "the certificate of {host} is not trusted ({}); SHA-256 fingerprint {}",
                        f.problems.describe(),
                        tls::format_fingerprint(&f.sha256)
                    ),
                    None => format!("{host}: {e}"),
                })
            })?;
        let (sender, connection) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| TransferError::Connect(format!("with {host}: {e}")))?;
        let driver = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("file transfer connection ended: {e}");
            }
        });
        Ok(Conn { sender, driver })
    }
}

/// A request for `url` without body: origin-form target, `Host`,
/// `User-Agent`.
fn request(url: &Url, method: Method) -> Result<Request<()>, TransferError> {
    let target = &url[url::Position::BeforePath..url::Position::AfterQuery];
    let host = &url[url::Position::BeforeHost..url::Position::AfterPort];
    Request::builder()
        .method(method)
        .uri(target)
        .header(header::HOST, host)
        .header(header::USER_AGENT, USER_AGENT)
        .body(())
        .map_err(|e| TransferError::Url(format!("{url}: {e}")))
}

/// Parses an address to fetch or upload to: `https://` only; any fragment
/// is dropped (it never goes to the server).
fn parse_url(text: &str) -> Result<Url, TransferError> {
    let mut url =
        Url::parse(text.trim()).map_err(|e| TransferError::Url(format!("{text}: {e}")))?;
    if url.scheme() != "https" {
        return Err(TransferError::Url(format!(
            "{} is not an https:// address; Tern only transfers files over HTTPS",
            redact(&url)
        )));
    }
    url.set_fragment(None);
    Ok(url)
}

/// Where a redirect from `from` leads, if it may be followed.
fn redirect_target(from: &Url, headers: &HeaderMap, seen: &[Url]) -> Result<Url, TransferError> {
    let location = headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| TransferError::Redirect(format!("{} redirected nowhere", redact(from))))?;
    let mut next = from
        .join(location)
        .map_err(|e| TransferError::Redirect(format!("bad redirect address {location:?}: {e}")))?;
    next.set_fragment(None);
    if next.scheme() != "https" {
        return Err(TransferError::Redirect(format!(
            "{} redirected to {}, which is not an https:// address",
            redact(from),
            redact(&next)
        )));
    }
    if seen.contains(&next) {
        return Err(TransferError::Redirect(format!(
            "{} redirects in a loop",
            redact(from)
        )));
    }
    if seen.len() > MAX_REDIRECTS {
        return Err(TransferError::Redirect(format!(
            "more than {MAX_REDIRECTS} redirects"
        )));
    }
    Ok(next)
}

/// An address for messages: scheme, host and port only (paths of upload
/// services are capabilities, not for logs).
fn redact(url: &Url) -> String {
    match url.host_str() {
        Some(host) => match url.port() {
            Some(port) => format!("{}://{host}:{port}/…", url.scheme()),
            None => format!("{}://{host}/…", url.scheme()),
        },
        None => format!("{}:…", url.scheme()),
    }
}

/// The declared body length; two different values are an error.
fn content_length(headers: &HeaderMap) -> Result<Option<u64>, TransferError> {
    let mut found = None;
    for value in headers.get_all(header::CONTENT_LENGTH) {
        let n = value
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| TransferError::Connect("the server sent a bad Content-Length".into()))?;
        if found.is_some_and(|f| f != n) {
            return Err(TransferError::Connect(
                "the server sent conflicting Content-Lengths".into(),
            ));
        }
        found = Some(n);
    }
    Ok(found)
}

/// The next frame of a response body.
async fn next_frame(body: &mut Incoming) -> Option<Result<Frame<Bytes>, hyper::Error>> {
    std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await
}

/// A slot header that may be sent, cleaned (XEP-0363 §5).
fn slot_header(name: &str, value: &str) -> Option<(HeaderName, HeaderValue)> {
    let lower = name.trim().to_ascii_lowercase();
    if !SLOT_HEADERS.contains(&lower.as_str()) {
        tracing::debug!(header = %lower, "ignoring an upload slot header");
        return None;
    }
    let clean: String = value.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    let name = HeaderName::from_bytes(lower.as_bytes()).ok()?;
    let value = HeaderValue::from_str(&clean).ok()?;
    Some((name, value))
}

/// A host as compared with `pin_hosts`: lower case, no trailing dot, no
/// IPv6 brackets.
fn normalize_host(host: &str) -> String {
    host.trim()
        .trim_end_matches('.')
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// A local file error.
fn local(path: &Path, what: &str, e: &std::io::Error) -> TransferError {
    TransferError::Io(format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests;
