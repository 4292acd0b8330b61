//! A TLS-terminating proxy on loopback: a man in the middle whose
//! certificate the client accepted, for security tests.
//!
//! The client speaks direct TLS (XEP-0368) to the proxy, which presents a
//! certificate of the test's choosing; the proxy speaks direct TLS to the real
//! server and relays the plaintext in between. On the way it can:
//!
//! - rewrite the SASL mechanisms the server offers ([`TlsMitm::offer_only`]);
//! - answer SASL itself, as a fake server with its own mechanisms,
//!   tls-exporter channel binding and XEP-0474 hash ([`FakeSasl`]), then sign
//!   in to the real server with PLAIN and relay the rest of the stream;
//! - inject bytes into what the client receives ([`TlsMitm::inject`]);
//! - show everything the client sent ([`TlsMitm::client_sent`]), e.g. to
//!   check that a password never left in PLAIN.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::{digest, hmac, pbkdf2};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use crate::ca::{Leaf, TestCa};

const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
/// Most bytes read while looking for one element of the handshake.
const READ_LIMIT: usize = 64 * 1024;
const ITERATIONS: u32 = 4096;

/// SASL answered by the proxy instead of the server.
///
/// The proxy offers `offer` to the client and checks the client's
/// credentials against `username` and `password` itself (PLAIN,
/// SCRAM-SHA-1 and SCRAM-SHA-256, each with tls-exporter channel binding as
/// `-PLUS`). After a successful exchange it signs in to the real server with
/// PLAIN and the same credentials, and relays the rest of the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeSasl {
    /// The account's local part.
    pub username: String,
    /// The account's password.
    pub password: String,
    /// Mechanisms offered to the client.
    pub offer: Vec<String>,
    /// Channel-binding types announced with XEP-0440, if any.
    pub cb_types: Option<Vec<String>>,
    /// Whether a `-PLUS` attempt with correct tls-exporter data succeeds;
    /// when false it fails with "Invalid channel binding" (as ejabberd 23.01
    /// does).
    pub accept_binding: bool,
    /// XEP-0474: add `h` to the server-first message, hashed over these
    /// mechanisms and channel-binding types (normally `offer` and
    /// `cb_types`; other values simulate a list changed on the way).
    pub ssdp: Option<(Vec<String>, Option<Vec<String>>)>,
}

impl FakeSasl {
    /// Offers `offer` and accepts channel binding; no XEP-0440, no XEP-0474.
    pub fn new(username: &str, password: &str, offer: &[&str]) -> FakeSasl {
        FakeSasl {
            username: username.to_owned(),
            password: password.to_owned(),
            offer: offer.iter().map(|s| (*s).to_owned()).collect(),
            cb_types: None,
            accept_binding: true,
            ssdp: None,
        }
    }
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    domain: String,
    leaf: Mutex<Leaf>,
    offer_only: Mutex<Option<Vec<String>>>,
    fake: Mutex<Option<FakeSasl>>,
    client_sent: Mutex<Vec<u8>>,
    accepted: AtomicUsize,
    next_id: AtomicUsize,
    live: Mutex<Vec<Live>>,
}

#[derive(Debug)]
struct Live {
    id: usize,
    inject: mpsc::UnboundedSender<Vec<u8>>,
    abort: AbortHandle,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A TLS-terminating proxy to a server's direct TLS port. See the module
/// documentation. Dropping it closes the listener and every connection.
#[derive(Debug)]
pub struct TlsMitm {
    port: u16,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TlsMitm {
    /// Starts a proxy to `upstream` (a direct TLS port of a server for
    /// `domain`, whose certificate the test CA issued). It presents a new
    /// leaf from the test CA for `domain`: a client trusting the test CA
    /// accepts it.
    pub fn start(upstream: SocketAddr, domain: &str) -> Result<TlsMitm> {
        let leaf = TestCa::global().try_issue_leaf(&[domain])?;
        Self::start_with_leaf(upstream, domain, leaf)
    }

    /// Like [`TlsMitm::start`], presenting `leaf` (with no chain).
    pub fn start_with_leaf(upstream: SocketAddr, domain: &str, leaf: Leaf) -> Result<TlsMitm> {
        let shared = Arc::new(Shared {
            upstream,
            domain: domain.to_owned(),
            leaf: Mutex::new(leaf),
            offer_only: Mutex::new(None),
            fake: Mutex::new(None),
            client_sent: Mutex::new(Vec::new()),
            accepted: AtomicUsize::new(0),
            next_id: AtomicUsize::new(0),
            live: Mutex::new(Vec::new()),
        });
        let s = Arc::clone(&shared);
        let (port, stop, thread) =
            crate::web::serve_on_loopback("tls-mitm", move |listener| accept_loop(listener, s))?;
        Ok(TlsMitm {
            port,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The port the proxy listens on (127.0.0.1, direct TLS).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The certificate presented to new connections.
    pub fn leaf(&self) -> Leaf {
        lock(&self.shared.leaf).clone()
    }

    /// Presents `leaf` to new connections.
    pub fn set_leaf(&self, leaf: Leaf) {
        *lock(&self.shared.leaf) = leaf;
    }

    /// New connections see only these SASL mechanisms in the server's
    /// features (`None`: the server's own list). The exchange itself is
    /// relayed to the server.
    pub fn offer_only(&self, mechanisms: Option<&[&str]>) {
        *lock(&self.shared.offer_only) =
            mechanisms.map(|m| m.iter().map(|s| (*s).to_owned()).collect());
    }

    /// New connections get SASL from the proxy itself (`None`: relayed).
    pub fn fake_sasl(&self, fake: Option<FakeSasl>) {
        *lock(&self.shared.fake) = fake;
    }

    /// Writes `bytes` to every live client connection, between two writes
    /// of the server.
    pub fn inject(&self, bytes: &[u8]) {
        for l in lock(&self.shared.live).iter() {
            let _ = l.inject.send(bytes.to_vec());
        }
    }

    /// Everything clients sent so far, all connections, as text.
    pub fn client_sent(&self) -> String {
        String::from_utf8_lossy(&lock(&self.shared.client_sent)).into_owned()
    }

    /// The SASL mechanisms clients chose so far (`<auth mechanism='…'>`), in order.
    pub fn client_mechanisms(&self) -> Vec<String> {
        let sent = self.client_sent();
        let mut out = Vec::new();
        let mut rest = sent.as_str();
        while let Some(at) = rest.find("<auth ") {
            rest = &rest[at..];
            let end = rest.find('>').unwrap_or(rest.len());
            if let Some(m) = attribute(&rest[..end], "mechanism") {
                out.push(m);
            }
            rest = &rest[end..];
        }
        out
    }

    /// Connections accepted so far.
    pub fn connection_count(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections currently open.
    pub fn active_connections(&self) -> usize {
        lock(&self.shared.live).len()
    }

    /// Closes every live connection (new ones are still accepted).
    pub fn cut_all(&self) {
        for l in std::mem::take(&mut *lock(&self.shared.live)) {
            l.abort.abort();
        }
    }
}

impl Drop for TlsMitm {
    fn drop(&mut self) {
        self.cut_all();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        let _ = tcp.set_nodelay(true);
        let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = mpsc::unbounded_channel();
        let s = Arc::clone(&shared);
        // Register before the task can finish and forget itself.
        let mut live = lock(&shared.live);
        let task = tokio::spawn(async move {
            if let Err(err) = connection(tcp, &s, rx).await {
                tracing::debug!("proxy connection ended: {err:#}");
            }
            lock(&s.live).retain(|l| l.id != id);
        });
        live.push(Live {
            id,
            inject: tx,
            abort: task.abort_handle(),
        });
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_config(leaf: &Leaf) -> Result<Arc<rustls::ServerConfig>> {
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes())
        .map_err(|e| anyhow!("leaf key: {e}"))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(leaf.cert_der.clone())], key)?;
    config.alpn_protocols = vec![b"xmpp-client".to_vec()];
    Ok(Arc::new(config))
}

fn client_config() -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(TestCa::global().ca_cert_der()))?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"xmpp-client".to_vec()];
    Ok(Arc::new(config))
}

async fn connection(
    tcp: TcpStream,
    shared: &Arc<Shared>,
    inject: mpsc::UnboundedReceiver<Vec<u8>>,
) -> Result<()> {
    let leaf = lock(&shared.leaf).clone();
    let acceptor = tokio_rustls::TlsAcceptor::from(server_config(&leaf)?);
    let mut client = acceptor.accept(tcp).await.context("TLS with the client")?;
    let upstream = TcpStream::connect(shared.upstream)
        .await
        .context("connecting to the server")?;
    let _ = upstream.set_nodelay(true);
    let name = ServerName::try_from(shared.domain.clone())?;
    let mut server = tokio_rustls::TlsConnector::from(client_config()?)
        .connect(name, upstream)
        .await
        .context("TLS with the server")?;
    let fake = lock(&shared.fake).clone();
    let offer_only = lock(&shared.offer_only).clone();
    let mut from_client = Vec::new();
    let mut from_server = Vec::new();
    if let Some(fake) = &fake {
        let exporter = {
            let (_, conn) = client.get_ref();
            conn.export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None)
                .ok()
                .map(|out| out.to_vec())
        };
        let mut s = Sasl {
            client: &mut client,
            server: &mut server,
            from_client: &mut from_client,
            from_server: &mut from_server,
            shared,
            fake,
            exporter,
        };
        s.run().await?;
    }
    let offer = if fake.is_some() { None } else { offer_only };
    relay(
        client,
        server,
        from_client,
        from_server,
        offer,
        shared,
        inject,
    )
    .await;
    Ok(())
}

/// Relays both ways until either side closes. `offer` rewrites the first
/// mechanism list the server sends.
async fn relay<C, S>(
    client: C,
    server: S,
    pending_up: Vec<u8>,
    pending_down: Vec<u8>,
    mut offer: Option<Vec<String>>,
    shared: &Arc<Shared>,
    mut inject: mpsc::UnboundedReceiver<Vec<u8>>,
) where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut sr, mut sw) = tokio::io::split(server);
    let up = async {
        if !pending_up.is_empty() && sw.write_all(&pending_up).await.is_err() {
            return;
        }
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    lock(&shared.client_sent).extend_from_slice(&buf[..n]);
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = sw.shutdown().await;
    };
    let down = async {
        let mut held = pending_down;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            if let Some(list) = &offer {
                let text = String::from_utf8_lossy(&held).into_owned();
                if text.contains("</mechanisms>") {
                    if let Some(new) = replace_mechanisms(&text, list) {
                        held = new.into_bytes();
                    }
                    offer = None;
                } else if text.contains("</stream:features>") {
                    offer = None;
                }
            }
            if offer.is_none() && !held.is_empty() {
                if cw.write_all(&held).await.is_err() {
                    break;
                }
                held.clear();
            }
            tokio::select! {
                r = sr.read(&mut buf) => match r {
                    Ok(0) | Err(_) => break,
                    Ok(n) => held.extend_from_slice(&buf[..n]),
                },
                Some(bytes) = inject.recv() => {
                    if cw.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = cw.shutdown().await;
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

/// Replaces the content of `<mechanisms>` in `text`.
fn replace_mechanisms(text: &str, offer: &[String]) -> Option<String> {
    let start = text.find("<mechanisms")?;
    let open_end = start + text[start..].find('>')? + 1;
    let close = text.find("</mechanisms>")?;
    let list: String = offer
        .iter()
        .map(|m| format!("<mechanism>{m}</mechanism>"))
        .collect();
    Some(format!("{}{list}{}", &text[..open_end], &text[close..]))
}

/// The value of `name='…'` (or `"…"`) in a tag.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let at = tag.find(&format!(" {name}="))? + name.len() + 2;
    let quote = tag[at..].chars().next()?;
    let rest = &tag[at + 1..];
    Some(rest[..rest.find(quote)?].to_owned())
}

/// Reads from `r` into `buf` until `done` finds the end of what is wanted;
/// returns that prefix and leaves the rest in `buf`.
async fn read_until<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    record: Option<&Mutex<Vec<u8>>>,
    done: impl Fn(&str) -> Option<usize>,
) -> Result<String> {
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        if let Some(end) = done(&String::from_utf8_lossy(buf)) {
            let head: Vec<u8> = buf.drain(..end).collect();
            return Ok(String::from_utf8_lossy(&head).into_owned());
        }
        if buf.len() > READ_LIMIT {
            bail!("no complete element in {READ_LIMIT} bytes");
        }
        let n = r.read(&mut chunk).await?;
        if n == 0 {
            bail!("closed");
        }
        if let Some(rec) = record {
            lock(rec).extend_from_slice(&chunk[..n]);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The end of the stream header `<stream:stream …>` in `text`.
fn header_end(text: &str) -> Option<usize> {
    let start = text.find("<stream:stream")?;
    Some(start + text[start..].find('>')? + 1)
}

/// The end of the first complete `<name …/>` or `<name …>…</name>` in
/// `text`, for any of `names`.
fn element_end(text: &str, names: &[&str]) -> Option<usize> {
    let (start, name) = names
        .iter()
        .filter_map(|n| text.find(&format!("<{n}")).map(|at| (at, *n)))
        .min()?;
    let tag_end = start + text[start..].find('>')?;
    if text[..tag_end].ends_with('/') {
        return Some(tag_end + 1);
    }
    let close = format!("</{name}>");
    Some(start + text[start..].find(&close)? + close.len())
}

/// The text content of an element `<x …>content</x>` (empty for `<x/>`).
fn content(element: &str) -> &str {
    let Some(open_end) = element.find('>') else {
        return "";
    };
    if element[..open_end].ends_with('/') {
        return "";
    }
    let inner = &element[open_end + 1..];
    inner.rfind("</").map_or("", |close| inner[..close].trim())
}

#[derive(Clone, Copy)]
enum Hash {
    Sha1,
    Sha256,
}

impl Hash {
    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        let alg = match self {
            Hash::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Hash::Sha256 => hmac::HMAC_SHA256,
        };
        hmac::sign(&hmac::Key::new(alg, key), data)
            .as_ref()
            .to_vec()
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            Hash::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Hash::Sha256 => &digest::SHA256,
        };
        digest::digest(alg, data).as_ref().to_vec()
    }

    fn salted(self, password: &str, salt: &[u8]) -> Vec<u8> {
        let (alg, len) = match self {
            Hash::Sha1 => (pbkdf2::PBKDF2_HMAC_SHA1, 20),
            Hash::Sha256 => (pbkdf2::PBKDF2_HMAC_SHA256, 32),
        };
        let mut out = vec![0u8; len];
        let iterations = std::num::NonZeroU32::new(ITERATIONS).unwrap_or(std::num::NonZeroU32::MIN);
        pbkdf2::derive(alg, iterations, salt, password.as_bytes(), &mut out);
        out
    }
}

/// The XEP-0474 hash of mechanism and channel-binding lists.
pub(crate) fn ssdp_hash(hash: &str, mechanisms: &[String], cb_types: Option<&[String]>) -> String {
    let mut m: Vec<&str> = mechanisms.iter().map(String::as_str).collect();
    m.sort_unstable();
    let mut s = m.join("\u{1e}");
    if let Some(cb) = cb_types {
        let mut c: Vec<&str> = cb.iter().map(String::as_str).collect();
        c.sort_unstable();
        s.push('\u{1f}');
        s.push_str(&c.join("\u{1e}"));
    }
    let h = if hash == "SHA-1" {
        Hash::Sha1
    } else {
        Hash::Sha256
    };
    B64.encode(h.digest(s.as_bytes()))
}

struct Sasl<'a, C, S> {
    client: &'a mut C,
    server: &'a mut S,
    from_client: &'a mut Vec<u8>,
    from_server: &'a mut Vec<u8>,
    shared: &'a Arc<Shared>,
    fake: &'a FakeSasl,
    exporter: Option<Vec<u8>>,
}

impl<C, S> Sasl<'_, C, S>
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    async fn read_client(&mut self, done: impl Fn(&str) -> Option<usize>) -> Result<String> {
        read_until(
            self.client,
            self.from_client,
            Some(&self.shared.client_sent),
            done,
        )
        .await
    }

    async fn send_client(&mut self, text: &str) -> Result<()> {
        self.client.write_all(text.as_bytes()).await?;
        self.client.flush().await?;
        Ok(())
    }

    async fn fail<T>(&mut self, text: &str) -> Result<T> {
        self.send_client(&format!(
            "<failure xmlns='{NS_SASL}'><not-authorized/><text xml:lang='en'>{text}</text></failure>"
        ))
        .await?;
        bail!("SASL failed: {text}")
    }

    /// Takes the client through SASL, and signs in to the server.
    async fn run(&mut self) -> Result<()> {
        let header = self.read_client(header_end).await?;
        self.server.write_all(header.as_bytes()).await?;
        let features = read_until(self.server, self.from_server, None, |t| {
            t.find("</stream:features>")
                .map(|at| at + "</stream:features>".len())
        })
        .await?;
        let mut features = replace_mechanisms(&features, &self.fake.offer)
            .ok_or_else(|| anyhow!("the server offered no SASL mechanisms"))?;
        if let Some(types) = &self.fake.cb_types {
            let list: String = types
                .iter()
                .map(|t| format!("<channel-binding type='{t}'/>"))
                .collect();
            let at = features
                .rfind("</stream:features>")
                .unwrap_or(features.len());
            features.insert_str(
                at,
                &format!("<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>{list}</sasl-channel-binding>"),
            );
        }
        self.send_client(&features).await?;

        let auth = self.read_client(|t| element_end(t, &["auth"])).await?;
        let open = &auth[..auth.find('>').unwrap_or(auth.len())];
        let mechanism = attribute(open, "mechanism").unwrap_or_default();
        let initial = B64.decode(content(&auth)).unwrap_or_default();
        if !self.fake.offer.contains(&mechanism) {
            return self.fail("mechanism not offered").await;
        }
        let verifier = match mechanism.as_str() {
            "PLAIN" => {
                let expected = format!("\0{}\0{}", self.fake.username, self.fake.password);
                if initial != expected.as_bytes() {
                    return self.fail("wrong password").await;
                }
                String::new()
            }
            m if m.starts_with("SCRAM-SHA-") => self.scram(m, &initial).await?,
            _ => return self.fail("unsupported mechanism").await,
        };

        // Sign in to the real server with the same credentials.
        let plain = B64.encode(format!("\0{}\0{}", self.fake.username, self.fake.password));
        self.server
            .write_all(
                format!("<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{plain}</auth>").as_bytes(),
            )
            .await?;
        let answer = read_until(self.server, self.from_server, None, |t| {
            element_end(t, &["success", "failure"])
        })
        .await?;
        if !answer.trim_start().starts_with("<success") {
            bail!("the server refused the proxy's sign-in: {answer}");
        }
        let data = if verifier.is_empty() {
            String::new()
        } else {
            B64.encode(verifier)
        };
        self.send_client(&format!("<success xmlns='{NS_SASL}'>{data}</success>"))
            .await
    }

    /// Runs SCRAM as the server; returns the server-final message.
    async fn scram(&mut self, mechanism: &str, initial: &[u8]) -> Result<String> {
        let plus = mechanism.ends_with("-PLUS");
        let hash = if mechanism.starts_with("SCRAM-SHA-256") {
            Hash::Sha256
        } else {
            Hash::Sha1
        };
        let first = String::from_utf8_lossy(initial).into_owned();
        // gs2-header: cbind flag, authzid, then the bare message.
        let mut parts = first.splitn(3, ',');
        let flag = parts.next().unwrap_or_default().to_owned();
        let authzid = parts.next().unwrap_or_default().to_owned();
        let bare = parts.next().unwrap_or_default().to_owned();
        let gs2 = format!("{flag},{authzid},");
        let cb_data = match (plus, flag.as_str()) {
            (true, "p=tls-exporter") if self.fake.accept_binding => {
                self.exporter.clone().unwrap_or_default()
            }
            (true, _) => return self.fail("Invalid channel binding").await,
            (false, "n") => Vec::new(),
            (false, "y") => {
                if self.fake.offer.iter().any(|m| m.ends_with("-PLUS")) {
                    return self.fail("Channel binding downgrade").await;
                }
                Vec::new()
            }
            (false, _) => return self.fail("Invalid gs2 header").await,
        };
        let user = bare
            .split(',')
            .find_map(|a| a.strip_prefix("n="))
            .unwrap_or_default();
        let cnonce = bare
            .split(',')
            .find_map(|a| a.strip_prefix("r="))
            .unwrap_or_default()
            .to_owned();
        if user != self.fake.username {
            return self.fail("unknown user").await;
        }
        let snonce: String = (0..24)
            .map(|_| char::from(b'a' + rand::random::<u8>() % 26))
            .collect();
        let nonce = format!("{cnonce}{snonce}");
        let salt: [u8; 16] = rand::random();
        let mut server_first = format!("r={nonce},s={},i={ITERATIONS}", B64.encode(salt));
        if let Some((mechs, cbs)) = &self.fake.ssdp {
            let name = match hash {
                Hash::Sha1 => "SHA-1",
                Hash::Sha256 => "SHA-256",
            };
            server_first.push_str(&format!(",h={}", ssdp_hash(name, mechs, cbs.as_deref())));
        }
        self.send_client(&format!(
            "<challenge xmlns='{NS_SASL}'>{}</challenge>",
            B64.encode(&server_first)
        ))
        .await?;
        let response = self
            .read_client(|t| element_end(t, &["response", "abort"]))
            .await?;
        if response.trim_start().starts_with("<abort") {
            bail!("the client aborted");
        }
        let client_final = String::from_utf8(B64.decode(content(&response))?)?;
        let Some((without_proof, proof)) = client_final.rsplit_once(",p=") else {
            return self.fail("no proof").await;
        };
        let mut cb = gs2.into_bytes();
        cb.extend_from_slice(&cb_data);
        let expected_c = format!("c={}", B64.encode(&cb));
        if !without_proof.split(',').any(|a| a == expected_c) {
            return self.fail("Invalid channel binding").await;
        }
        if !without_proof.split(',').any(|a| a == format!("r={nonce}")) {
            return self.fail("wrong nonce").await;
        }
        let salted = hash.salted(&self.fake.password, &salt);
        let client_key = hash.hmac(&salted, b"Client Key");
        let stored_key = hash.digest(&client_key);
        let auth_message = format!("{bare},{server_first},{without_proof}");
        let signature = hash.hmac(&stored_key, auth_message.as_bytes());
        let expected: Vec<u8> = client_key
            .iter()
            .zip(signature.iter())
            .map(|(a, b)| a ^ b)
            .collect();
        if B64.decode(proof).ok().as_deref() != Some(expected.as_slice()) {
            return self.fail("wrong password").await;
        }
        let server_key = hash.hmac(&salted, b"Server Key");
        let server_signature = hash.hmac(&server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanisms_are_replaced() {
        let f = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism><mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>";
        assert_eq!(
            replace_mechanisms(f, &["PLAIN".to_owned()]).unwrap(),
            "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
        );
    }

    #[test]
    fn elements_are_found() {
        let t = "<?xml version='1.0'?><stream:stream to='x' xmlns='jabber:client'><auth mechanism='PLAIN'>AGEAYg==</auth><next/>";
        let h = header_end(t).unwrap();
        assert!(t[..h].ends_with("'jabber:client'>"));
        let rest = &t[h..];
        let e = element_end(rest, &["auth"]).unwrap();
        assert_eq!(content(&rest[..e]), "AGEAYg==");
        assert_eq!(attribute(&rest[..e], "mechanism").as_deref(), Some("PLAIN"));
        assert_eq!(
            element_end("<success xmlns='x'/>", &["success", "failure"]),
            Some(20)
        );
    }

    #[test]
    fn ssdp_hash_matches_the_xep_example() {
        // XEP-0474 §4.3: SHA-1 over
        // 'SCRAM-SHA-1\x1eSCRAM-SHA-1-PLUS\x1ftls-exporter\x1etls-server-end-point'.
        let h = ssdp_hash(
            "SHA-1",
            &["SCRAM-SHA-1-PLUS".into(), "SCRAM-SHA-1".into()],
            Some(&["tls-server-end-point".into(), "tls-exporter".into()]),
        );
        assert_eq!(h, "G6k/rBLDqgOhRRaCuuatSDFkJ08=");
    }
}
