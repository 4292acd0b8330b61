//! A transparent wrapper around the TLS stream that notices stream errors.
//!
//! tokio-xmpp's stanza stream logs a `<stream:error/>` received on an
//! established stream and reconnects, without telling its user which error it
//! was. Tern must tell "another client took over" (conflict) or "policy
//! violation" apart from a dropped connection, so this wrapper watches the
//! bytes the server sends for a stream error and parses it.
//!
//! Only the server writes a stream error, and it writes it as a direct child
//! of the stream root. Markup *inside* a stanza is the sender's: a contact can
//! put `<stream:error>…</stream:error>` (or `<error
//! xmlns='http://etherx.jabber.org/streams'>`) in a message payload, and the
//! server passes it on as markup, with or without the `stream:` prefix. So
//! the watcher follows the element depth of the stream with a small
//! incremental lexer (start, end and empty tags, attribute quotes, comments,
//! processing instructions, CDATA) and counts an element only at depth 1,
//! with its name resolved against the namespaces in scope: local name `error`
//! in `http://etherx.jabber.org/streams`. A new stream header at depth 1 (the
//! restart after SASL) starts a new root. Anything the watcher cannot
//! follow (an over-long tag, a capture over [`WINDOW`]) is not counted: a
//! missed stream error only looks like a lost connection, which is retried.
//!
//! The same depth tracking bounds what a peer (or server) can make Tern
//! parse: each direct child of the stream root (a stanza, or a nonza such as
//! `<stream:features/>`) is held here until it is complete, and passed on to
//! the XML parser only then. One that grows over [`MAX_STANZA`] bytes or
//! nests deeper than [`MAX_DEPTH`] elements is not passed on: a `<message/>`,
//! `<presence/>` or `<iq/>` is replaced by an empty one with the same start
//! tag (same `id`, so XEP-0198 counting stays right; a request is answered
//! with an error by the router), anything else ends the connection with an
//! error. Held bytes never exceed [`MAX_STANZA`], and the parser never sees
//! a deep tree (whose building or dropping could overflow the stack).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::stream_error::StreamError;

/// The stream namespace (RFC 6120).
const NS_STREAMS: &str = "http://etherx.jabber.org/streams";
/// Longest stream error we bother to parse; real ones are a few hundred bytes.
const WINDOW: usize = 8 * 1024;
/// Longest start tag of the root or of a depth-1 element that is read for its
/// name and namespaces (stanza headers are a few hundred bytes).
const TAG_LIMIT: usize = 4 * 1024;
/// Most namespace declarations kept from a stream header.
const MAX_DECLS: usize = 16;
/// Largest direct child of the stream root (stanza) passed to the parser.
/// Servers limit what their users send to far less (Prosody 0.12 and
/// ejabberd's default configuration: 256 KiB); what the server sends
/// itself (an archive page item, a vCard with a photo) stays well under it.
pub(crate) const MAX_STANZA: usize = 4 * 1024 * 1024;
/// Deepest element nesting passed to the parser, the stream root counted
/// as 1 (a forwarded message in an archive result is about 8 deep).
pub(crate) const MAX_DEPTH: usize = 128;

/// Shared slot holding the last stream error seen on a connection.
pub(crate) type StreamErrorSlot = Arc<Mutex<Option<StreamError>>>;

pub(crate) struct Tap<S> {
    inner: S,
    watch: Watcher,
    slot: StreamErrorSlot,
    /// Bytes read from `inner` and checked, not yet given to the reader.
    ready: Vec<u8>,
    /// Where the next byte of `ready` is.
    ready_at: usize,
    /// A limit was broken where nothing could be dropped: every read fails.
    broken: Option<String>,
}

impl<S> Tap<S> {
    pub(crate) fn new(inner: S, slot: StreamErrorSlot) -> Self {
        Tap {
            inner,
            watch: Watcher::default(),
            slot,
            ready: Vec::new(),
            ready_at: 0,
            broken: None,
        }
    }

    /// Checks `data` from the server; what may go on to the parser is
    /// appended to `ready`.
    fn observe(&mut self, data: &[u8]) {
        let mut out = std::mem::take(&mut self.ready);
        if self.ready_at >= out.len() {
            out.clear();
            self.ready_at = 0;
        }
        let fed = self.watch.feed(data, &mut out);
        self.ready = out;
        for err in fed.errors {
            tracing::debug!("server sent stream error: {err}");
            if let Ok(mut slot) = self.slot.lock() {
                *slot = Some(err);
            }
        }
        if let Some(why) = fed.broken {
            tracing::warn!("closing the connection: {why}");
            self.broken = Some(why);
        }
    }
}

/// Where the lexer is inside the markup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Lex {
    /// Character data (or nothing yet).
    #[default]
    Text,
    /// Just read `<`.
    Open,
    /// Inside a start tag, outside attribute values. `slash`: the previous
    /// byte was `/` (so `>` closes an empty element).
    Start { slash: bool },
    /// Inside an attribute value quoted with `quote`.
    Quoted { quote: u8 },
    /// Inside an end tag.
    End,
    /// Just read `<!`; `seen` bytes of `--` or `[CDATA[` matched so far.
    Bang { seen: u8 },
    /// Inside a comment; `dashes` trailing `-` read.
    Comment { dashes: u8 },
    /// Inside a CDATA section; `brackets` trailing `]` read.
    Cdata { brackets: u8 },
    /// Inside `<!DOCTYPE …>` or another declaration (not allowed in XMPP;
    /// skipped up to `>`).
    Decl,
    /// Inside a processing instruction (`<?xml …?>`); `question`: the
    /// previous byte was `?`.
    Pi { question: bool },
}

/// A namespace declaration of the stream header: prefix (empty for the
/// default namespace), raw value as written, and its quote character.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Decl {
    prefix: String,
    raw: String,
    quote: u8,
}

/// Follows the element depth of an inbound XMPP stream and collects stream
/// errors written as direct children of the stream root.
#[derive(Debug, Default)]
pub(crate) struct Watcher {
    lex: Lex,
    /// Open elements, the stream root included.
    depth: usize,
    /// The current start tag, when its name matters (depth 0 or 1).
    tag: Vec<u8>,
    /// Whether the current start tag is being kept in `tag`.
    keeping: bool,
    /// The current start tag grew over [`TAG_LIMIT`]: it is not read.
    overlong: bool,
    /// Namespace declarations of the current stream root, or `None` when the
    /// root could not be read (then nothing is counted until the next one).
    root: Option<Vec<Decl>>,
    /// A depth-1 stream error being read, from its `<`.
    capture: Option<Vec<u8>>,
    /// The direct child of the root being read (from its `<`), held until
    /// it is complete.
    hold: Option<Vec<u8>>,
    /// Its start tag, when it was short enough to keep.
    head: Option<Vec<u8>>,
    /// It broke a limit: its bytes are being skipped.
    over: bool,
}

/// What [`Watcher::feed`] found.
#[derive(Debug, Default)]
pub(crate) struct Fed {
    /// Stream errors the bytes completed.
    pub errors: Vec<StreamError>,
    /// A limit was broken by something that cannot be dropped: the
    /// connection must end.
    pub broken: Option<String>,
}

impl Watcher {
    /// Feeds the next bytes from the server, appending to `out` what may
    /// go on to the parser; returns the stream errors they complete.
    pub(crate) fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) -> Fed {
        let mut found = Vec::new();
        let mut broken = None;
        for &b in data {
            if broken.is_some() {
                break;
            }
            if self.depth == 1 && self.lex == Lex::Text && b == b'<' {
                self.hold = Some(Vec::new());
                self.head = None;
                self.over = false;
            }
            match self.hold.as_mut() {
                Some(held) if !self.over => {
                    held.push(b);
                    if held.len() > MAX_STANZA {
                        tracing::warn!("a stanza over {MAX_STANZA} bytes is dropped");
                        self.drop_held();
                    }
                }
                Some(_) => {}
                None => out.push(b),
            }
            if let Some(c) = self.capture.as_mut() {
                if c.len() >= WINDOW {
                    tracing::debug!("stream error too long, ignored");
                    self.capture = None;
                } else {
                    c.push(b);
                }
            }
            if self.keeping {
                if self.tag.len() >= TAG_LIMIT {
                    self.keeping = false;
                    self.overlong = true;
                    self.tag.clear();
                } else {
                    self.tag.push(b);
                }
            }
            self.lex = match self.lex {
                Lex::Text if b == b'<' => {
                    self.overlong = false;
                    self.tag.clear();
                    self.keeping = self.depth <= 1;
                    if self.keeping {
                        self.tag.push(b);
                    }
                    Lex::Open
                }
                Lex::Text => Lex::Text,
                Lex::Open => match b {
                    b'/' => Lex::End,
                    b'?' => Lex::Pi { question: false },
                    b'!' => Lex::Bang { seen: 0 },
                    b'>' => Lex::Text, // `<>`: not XML; ignored
                    _ => Lex::Start { slash: false },
                },
                Lex::Start { slash } => match b {
                    b'"' | b'\'' => Lex::Quoted { quote: b },
                    b'>' => {
                        if slash {
                            self.empty_element();
                        } else if let Some(err) = self.start_element() {
                            found.push(err);
                        }
                        Lex::Text
                    }
                    _ => Lex::Start { slash: b == b'/' },
                },
                Lex::Quoted { quote } if b == quote => Lex::Start { slash: false },
                Lex::Quoted { quote } => Lex::Quoted { quote },
                Lex::End if b == b'>' => {
                    self.keeping = false;
                    if let Some(err) = self.end_element() {
                        found.push(err);
                    }
                    Lex::Text
                }
                Lex::End => Lex::End,
                Lex::Bang { seen } => {
                    self.keeping = false;
                    const CDATA: &[u8] = b"[CDATA[";
                    match (seen, b) {
                        (0, b'-') => Lex::Bang { seen: 1 },
                        (1, b'-') => Lex::Comment { dashes: 0 },
                        (0, b'[') => Lex::Bang { seen: 11 },
                        (s @ 11..=16, b) if CDATA.get(usize::from(s - 10)) == Some(&b) => {
                            if s == 16 {
                                Lex::Cdata { brackets: 0 }
                            } else {
                                Lex::Bang { seen: s + 1 }
                            }
                        }
                        (_, b'>') => Lex::Text,
                        _ => Lex::Decl,
                    }
                }
                Lex::Comment { dashes } => match (dashes, b) {
                    (d, b'-') => Lex::Comment {
                        dashes: (d + 1).min(2),
                    },
                    (2, b'>') => Lex::Text,
                    _ => Lex::Comment { dashes: 0 },
                },
                Lex::Cdata { brackets } => match (brackets, b) {
                    (n, b']') => Lex::Cdata {
                        brackets: (n + 1).min(2),
                    },
                    (2, b'>') => Lex::Text,
                    _ => Lex::Cdata { brackets: 0 },
                },
                Lex::Decl if b == b'>' => Lex::Text,
                Lex::Decl => Lex::Decl,
                Lex::Pi { question } => {
                    self.keeping = false;
                    match b {
                        b'>' if question => Lex::Text,
                        _ => Lex::Pi {
                            question: b == b'?',
                        },
                    }
                }
            };
            if self.depth > MAX_DEPTH && self.hold.is_some() && !self.over {
                tracing::warn!("a stanza nested over {MAX_DEPTH} deep is dropped");
                self.drop_held();
            }
            if self.depth <= 1 && self.lex == Lex::Text {
                if let Some(held) = self.hold.take() {
                    if self.over {
                        match self.replacement() {
                            Some(r) => out.extend_from_slice(&r),
                            None => {
                                broken = Some(format!(
                                    "the server sent an element over the limits ({MAX_STANZA} bytes, {MAX_DEPTH} deep) that is not a stanza"
                                ));
                            }
                        }
                    } else {
                        out.extend_from_slice(&held);
                    }
                    self.over = false;
                    self.head = None;
                }
            }
        }
        Fed {
            errors: found,
            broken,
        }
    }

    /// Stops holding the current direct child: it broke a limit.
    fn drop_held(&mut self) {
        self.over = true;
        self.hold = Some(Vec::new());
        self.capture = None;
    }

    /// What stands for a dropped stanza: its start tag, empty (`<message
    /// …/>`); an `<iq/>` request gets a payload nobody handles (so it is
    /// answered with an error) and an error an undefined condition. `None`
    /// for anything but a stanza, or a start tag too long to keep.
    fn replacement(&self) -> Option<Vec<u8>> {
        let head = self.head.as_ref()?;
        let tag = parse_start_tag(head)?;
        let local = tag.name.rsplit(':').next()?;
        if !matches!(local, "message" | "presence" | "iq") {
            return None;
        }
        let text = std::str::from_utf8(head).ok()?;
        let open = text.strip_suffix('>')?;
        let kind = tag.attr("type");
        let inner = match (local, kind) {
            (_, Some("error")) => Some(
                "<error type='cancel'><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>",
            ),
            ("iq", Some("get" | "set")) => Some("<dropped xmlns='urn:xmpp:tern:dropped:0'/>"),
            _ => None,
        };
        Some(
            match inner {
                Some(inner) => format!("{open}>{inner}</{}>", tag.name),
                None => format!("{open}/>"),
            }
            .into_bytes(),
        )
    }

    /// A start tag ended with `>` (not `/>`).
    fn start_element(&mut self) -> Option<StreamError> {
        let kept = self.keeping && !self.overlong;
        let tag = if kept {
            parse_start_tag(&self.tag)
        } else {
            None
        };
        let head = (kept && self.depth == 1).then(|| self.tag.clone());
        self.keeping = false;
        match self.depth {
            0 => {
                // The stream root.
                self.root = tag.and_then(|t| t.decls);
                self.depth = 1;
            }
            1 => {
                self.head = head;
                let resolved = tag.as_ref().and_then(|t| self.resolve(t));
                match resolved {
                    // A new stream header (after SASL): a new root.
                    Some((ns, local)) if ns == NS_STREAMS && local == "stream" => {
                        self.root = tag.and_then(|t| t.decls);
                        self.capture = None;
                    }
                    Some((ns, local)) if ns == NS_STREAMS && local == "error" => {
                        self.capture = Some(std::mem::take(&mut self.tag));
                        self.depth = 2;
                    }
                    _ => self.depth = 2,
                }
            }
            _ => self.depth += 1,
        }
        None
    }

    /// An empty element (`<…/>`): the depth does not change. An empty
    /// stream error has no condition and is not one.
    fn empty_element(&mut self) {
        self.keeping = false;
    }

    /// An end tag.
    fn end_element(&mut self) -> Option<StreamError> {
        self.depth = self.depth.saturating_sub(1);
        if self.depth == 0 {
            // `</stream:stream>`.
            self.root = None;
            self.capture = None;
            return None;
        }
        if self.depth == 1 {
            let fragment = self.capture.take()?;
            return parse_stream_error(&fragment, self.root.as_deref()?);
        }
        None
    }

    /// The namespace and local name of a depth-1 start tag, from its own
    /// declarations and the root's.
    fn resolve(&self, tag: &StartTag) -> Option<(String, String)> {
        let root = self.root.as_ref()?;
        let (prefix, local) = match tag.name.split_once(':') {
            Some((p, l)) => (p, l),
            None => ("", tag.name.as_str()),
        };
        let own = tag.decls.as_ref()?;
        let decl = own
            .iter()
            .find(|d| d.prefix == prefix)
            .or_else(|| root.iter().find(|d| d.prefix == prefix))?;
        Some((unescape(&decl.raw)?, local.to_string()))
    }
}

/// A start tag's name and namespace declarations (`None` if there were more
/// than [`MAX_DECLS`]).
#[derive(Debug)]
struct StartTag {
    name: String,
    decls: Option<Vec<Decl>>,
    /// Every attribute, value as written.
    attrs: Vec<(String, String)>,
}

impl StartTag {
    /// The raw value of attribute `name`.
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads `<name attr='value' …>` (the whole tag, `<` to `>`).
fn parse_start_tag(tag: &[u8]) -> Option<StartTag> {
    let text = std::str::from_utf8(tag).ok()?;
    let inner = text.strip_prefix('<')?.strip_suffix('>')?;
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
    let name_end = inner.find(is_space).unwrap_or(inner.len());
    let name = &inner[..name_end];
    if name.is_empty() || name.contains(['/', '=', '"', '\'']) {
        return None;
    }
    let mut rest = &inner[name_end..];
    let mut decls = Vec::new();
    let mut attrs = Vec::new();
    loop {
        rest = rest.trim_start_matches(is_space);
        if rest.is_empty() {
            break;
        }
        let eq = rest.find('=')?;
        let attr = rest[..eq].trim_end_matches(is_space);
        rest = rest[eq + 1..].trim_start_matches(is_space);
        let quote = rest.chars().next()?;
        if quote != '"' && quote != '\'' {
            return None;
        }
        let close = rest[1..].find(quote)? + 1;
        let raw = &rest[1..close];
        rest = &rest[close + 1..];
        attrs.push((attr.to_string(), raw.to_string()));
        let prefix = if attr == "xmlns" {
            Some("")
        } else {
            attr.strip_prefix("xmlns:")
        };
        if let Some(prefix) = prefix {
            decls.push(Decl {
                prefix: prefix.to_string(),
                raw: raw.to_string(),
                quote: quote as u8,
            });
        }
    }
    Some(StartTag {
        name: name.to_string(),
        decls: (decls.len() <= MAX_DECLS).then_some(decls),
        attrs,
    })
}

/// Replaces the predefined entities and character references of an
/// attribute value; `None` for anything else.
fn unescape(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = rest[amp..].find(';')? + amp;
        let entity = &rest[amp + 1..semi];
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "apos" => '\'',
            "quot" => '"',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()?
                } else {
                    entity.strip_prefix('#')?.parse().ok()?
                };
                char::from_u32(code)?
            }
        };
        out.push(c);
        rest = &rest[semi + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// Parses a depth-1 `<…error>…</…error>` in the namespaces of its root.
fn parse_stream_error(fragment: &[u8], root: &[Decl]) -> Option<StreamError> {
    let text = std::str::from_utf8(fragment).ok()?;
    let mut doc = String::from("<root");
    for d in root {
        let q = d.quote as char;
        if d.prefix.is_empty() {
            doc.push_str(&format!(" xmlns={q}{}{q}", d.raw));
        } else {
            doc.push_str(&format!(" xmlns:{}={q}{}{q}", d.prefix, d.raw));
        }
    }
    doc.push('>');
    doc.push_str(text);
    doc.push_str("</root>");
    let root: Element = doc.parse().ok()?;
    let child = root.children().next()?.clone();
    StreamError::try_from(child).ok()
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.ready_at < this.ready.len() {
                let n = buf.remaining().min(this.ready.len() - this.ready_at);
                buf.put_slice(&this.ready[this.ready_at..this.ready_at + n]);
                this.ready_at += n;
                if this.ready_at == this.ready.len() {
                    this.ready.clear();
                    this.ready_at = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if let Some(why) = &this.broken {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, why.clone())));
            }
            let mut chunk = [0u8; 16 * 1024];
            let mut read = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.inner).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) => {
                    let new = read.filled();
                    if new.is_empty() {
                        // End of stream.
                        return Poll::Ready(Ok(()));
                    }
                    tracing::trace!(target: "tern_core::xml", "RECV {}", String::from_utf8_lossy(new));
                    this.observe(new);
                    // Everything read may be held: read on.
                }
                other => return other,
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.get_mut().inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = res {
            tracing::trace!(target: "tern_core::xml", "SEND {}", String::from_utf8_lossy(&buf[..n]));
        }
        res
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_parsers::stream_error::DefinedCondition;

    const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xml:lang='en' version='1.0' from='localhost' xmlns='jabber:client' id='x1'>";
    const FEATURES: &str = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>";
    const CONFLICT: &str = "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Replaced by new connection</text></stream:error>";

    fn feed(chunks: &[&str]) -> Vec<StreamError> {
        let mut w = Watcher::default();
        let mut all = Vec::new();
        for c in chunks {
            all.extend(w.feed(c.as_bytes(), &mut Vec::new()).errors);
        }
        all
    }

    /// Feeds and returns the errors and what was passed on.
    fn pass(w: &mut Watcher, data: &[u8]) -> (Vec<StreamError>, Vec<u8>) {
        let mut out = Vec::new();
        let fed = w.feed(data, &mut out);
        assert!(fed.broken.is_none(), "{:?}", fed.broken);
        (fed.errors, out)
    }

    /// Feeds `text` split at every position (and byte by byte) and checks
    /// that each way gives the same errors as feeding it whole.
    fn every_split(text: &str) -> Vec<StreamError> {
        let whole = feed(&[text]);
        let bytes = text.as_bytes();
        for at in 0..=bytes.len() {
            let mut w = Watcher::default();
            let (mut got, mut out) = pass(&mut w, &bytes[..at]);
            let (more, rest) = pass(&mut w, &bytes[at..]);
            got.extend(more);
            out.extend(rest);
            assert_eq!(got, whole, "split at {at}");
            // Under the limits, every byte goes on, unchanged, once the
            // element it belongs to is complete.
            assert!(bytes.starts_with(&out), "split at {at}");
        }
        let mut w = Watcher::default();
        let mut got = Vec::new();
        for b in bytes {
            got.extend(pass(&mut w, std::slice::from_ref(b)).0);
        }
        assert_eq!(got, whole, "byte by byte");
        whole
    }

    fn conditions(errs: &[StreamError]) -> Vec<DefinedCondition> {
        errs.iter().map(|e| e.condition.clone()).collect()
    }

    #[test]
    fn the_tap_keeps_the_last_error_in_its_slot() {
        let slot: StreamErrorSlot = Arc::new(Mutex::new(None));
        let mut tap = Tap::new((), slot.clone());
        tap.observe(HEADER.as_bytes());
        tap.observe(b"<message><stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></message>");
        assert!(slot.lock().unwrap().is_none());
        tap.observe(b"<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>");
        let got = slot.lock().unwrap().take().map(|e| e.condition);
        assert_eq!(got, Some(DefinedCondition::PolicyViolation));
    }

    #[test]
    fn conflict_split_across_reads() {
        let e = feed(&[
            HEADER,
            FEATURES,
            "<message><body>hi &lt;stream:error&gt;</body></message><stream:er",
            "ror><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Replaced by new connection</text></stream:e",
            "rror></stream:stream>",
        ]);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].condition, DefinedCondition::Conflict);
        assert_eq!(
            e[0].get_best_text(vec!["en"]).map(|(_, t)| t.as_str()),
            Some("Replaced by new connection")
        );
    }

    #[test]
    fn direct_child_is_found_at_every_split() {
        let text =
            format!("{HEADER}{FEATURES}<iq type='result' id='a'/>{CONFLICT}</stream:stream>");
        assert_eq!(
            conditions(&every_split(&text)),
            vec![DefinedCondition::Conflict]
        );
    }

    #[test]
    fn see_other_host_keeps_target() {
        let e = feed(&[HEADER, "<stream:error><see-other-host xmlns='urn:ietf:params:xml:ns:xmpp-streams'>other.example:5222</see-other-host></stream:error>"]);
        assert_eq!(
            conditions(&e),
            vec![DefinedCondition::SeeOtherHost("other.example:5222".into())]
        );
    }

    #[test]
    fn escaped_text_is_not_a_stream_error() {
        assert!(every_split(&format!("{HEADER}<message><body>&lt;stream:error&gt;&lt;conflict/&gt;&lt;/stream:error&gt;</body></message>")).is_empty());
    }

    #[test]
    fn a_payload_inside_a_stanza_is_not_a_stream_error() {
        // As ejabberd passes a payload on: prefix and declaration as sent.
        let prefixed = format!(
            "{HEADER}<message from='mallory@localhost/x' to='alice@localhost' type='chat'><stream:error xmlns:stream='http://etherx.jabber.org/streams'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error><body>hi</body></message>"
        );
        assert!(every_split(&prefixed).is_empty());
        // As Prosody writes it: the namespace on the element itself.
        let declared = format!(
            "{HEADER}<message from='mallory@localhost/x' type='chat'><error xmlns='http://etherx.jabber.org/streams'><see-other-host xmlns='urn:ietf:params:xml:ns:xmpp-streams'>evil.example:5222</see-other-host></error></message>"
        );
        assert!(every_split(&declared).is_empty());
        // Deeper still, with the stream prefix of the root in scope.
        let deep = format!(
            "{HEADER}<message><x xmlns='urn:example'><stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></x></message>"
        );
        assert!(every_split(&deep).is_empty());
        // And the stanza after it still works: a real error is found.
        let after = format!("{prefixed}{CONFLICT}");
        assert_eq!(
            conditions(&every_split(&after)),
            vec![DefinedCondition::Conflict]
        );
    }

    #[test]
    fn markup_in_attribute_values_comments_and_cdata_does_not_change_depth() {
        let text = format!(
            "{HEADER}<message a='x>y' b=\"'/>\"><!-- </message> --><body><![CDATA[</body></message><stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>]]></body><stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></message>"
        );
        assert!(every_split(&text).is_empty());
        // Empty elements keep the depth too.
        let empty = format!("{HEADER}<message><x/><y a='1'/><stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></message>");
        assert!(every_split(&empty).is_empty());
    }

    #[test]
    fn namespace_decides_not_the_prefix() {
        // The root binds `s` to the stream namespace: `<s:error>` counts.
        let other_prefix = "<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client'><s:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></s:error>";
        assert_eq!(
            conditions(&every_split(other_prefix)),
            vec![DefinedCondition::Conflict]
        );
        // An unprefixed error declaring the stream namespace counts too.
        let declared = format!("{HEADER}<error xmlns='http://etherx.jabber.org/streams'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></error>");
        assert_eq!(
            conditions(&every_split(&declared)),
            vec![DefinedCondition::Conflict]
        );
        // A depth-1 `stream:error` whose prefix is rebound elsewhere does not.
        let rebound = format!("{HEADER}<stream:error xmlns:stream='urn:example'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>");
        assert!(every_split(&rebound).is_empty());
        // Nor does an `error` in the client namespace.
        let client = format!(
            "{HEADER}<error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></error>"
        );
        assert!(every_split(&client).is_empty());
        // Nor a prefix nobody declared.
        let undeclared = "<stream xmlns='jabber:client'><stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>";
        assert!(every_split(undeclared).is_empty());
    }

    #[test]
    fn a_restarted_stream_is_followed() {
        // After SASL success the server opens a new stream without closing
        // the first one.
        let text = format!(
            "{HEADER}{FEATURES}<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>{HEADER}<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features><message><stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></message>{CONFLICT}"
        );
        assert_eq!(
            conditions(&every_split(&text)),
            vec![DefinedCondition::Conflict]
        );
    }

    #[test]
    fn garbage_is_ignored() {
        assert!(feed(&[HEADER, "<stream:error><<<</stream:error>"]).is_empty());
        let big = "x".repeat(100_000);
        assert!(feed(&[HEADER, "<stream:error>", &big, "</stream:error>"]).is_empty());
        // Without a stream header nothing counts.
        assert!(feed(&[CONFLICT]).is_empty());
        // An over-long stanza header is not read, and does not confuse the depth.
        let long = format!(
            "{HEADER}<message a='{}'><stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></message>{CONFLICT}",
            "y".repeat(10_000)
        );
        assert_eq!(
            conditions(&feed(&[&long])),
            vec![DefinedCondition::Conflict]
        );
    }

    #[test]
    fn an_element_goes_on_only_when_complete() {
        let mut w = Watcher::default();
        let (_, out) = pass(&mut w, format!("{HEADER}<message><body>hi").as_bytes());
        assert_eq!(out, HEADER.as_bytes());
        let (_, out) = pass(&mut w, b"</body></message> <r xmlns='urn:xmpp:sm:3'/><a");
        assert_eq!(
            out,
            b"<message><body>hi</body></message> <r xmlns='urn:xmpp:sm:3'/>"
        );
    }

    const NEXT: &str = "<message from='b@localhost/r' id='next'><body>ok</body></message>";

    #[test]
    fn a_huge_stanza_is_replaced_by_an_empty_one() {
        let mut w = Watcher::default();
        let mut out = Vec::new();
        let head = "<message from='m@localhost/x' to='a@localhost' type='chat' id='big'>";
        assert!(w
            .feed(format!("{HEADER}{head}<body>").as_bytes(), &mut out)
            .broken
            .is_none());
        let chunk = vec![b'a'; 64 * 1024];
        // 10 MB: what is held never grows over the limit.
        for _ in 0..160 {
            assert!(w.feed(&chunk, &mut out).broken.is_none());
            assert!(w.hold.as_ref().map_or(0, Vec::capacity) <= 2 * MAX_STANZA);
        }
        assert!(w
            .feed(format!("</body></message>{NEXT}").as_bytes(), &mut out)
            .broken
            .is_none());
        let expected = format!(
            "{HEADER}<message from='m@localhost/x' to='a@localhost' type='chat' id='big'/>{NEXT}"
        );
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn deep_nesting_is_replaced_and_a_request_still_gets_an_answer() {
        let deep = 50_000;
        let nest = |head: &str, close: &str| {
            format!("{head}{}{}{close}", "<a>".repeat(deep), "</a>".repeat(deep))
        };
        let text = format!(
            "{HEADER}{}{}{}{NEXT}",
            nest("<message id='deep' type='chat'>", "</message>"),
            nest("<iq type='get' id='q1' from='m@localhost/x'>", "</iq>"),
            nest("<presence type='error' id='p1'>", "</presence>"),
        );
        let mut w = Watcher::default();
        let (_, out) = pass(&mut w, text.as_bytes());
        let expected = format!(
            "{HEADER}<message id='deep' type='chat'/><iq type='get' id='q1' from='m@localhost/x'><dropped xmlns='urn:xmpp:tern:dropped:0'/></iq><presence type='error' id='p1'><error type='cancel'><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>{NEXT}"
        );
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        // Just under the limit passes unchanged.
        let fine = format!(
            "{HEADER}<message>{}{}</message>",
            "<a>".repeat(MAX_DEPTH - 2),
            "</a>".repeat(MAX_DEPTH - 2)
        );
        let mut w = Watcher::default();
        assert_eq!(pass(&mut w, fine.as_bytes()).1, fine.as_bytes());
    }

    #[test]
    fn a_non_stanza_over_the_limits_ends_the_connection() {
        let mut w = Watcher::default();
        let text = format!("{HEADER}<stream:features>{}", "<a>".repeat(MAX_DEPTH + 1));
        let mut out = Vec::new();
        assert!(w.feed(text.as_bytes(), &mut out).broken.is_none());
        let fed = w.feed(b"</a></stream:features>", &mut Vec::new());
        assert!(fed.broken.is_none(), "still inside");
        let close = "</a>".repeat(MAX_DEPTH);
        assert!(w.feed(close.as_bytes(), &mut Vec::new()).broken.is_some());
        assert_eq!(out, HEADER.as_bytes());
    }

    #[tokio::test]
    async fn reading_through_the_tap() {
        use tokio::io::AsyncReadExt;
        let text = format!(
            "{HEADER}<message id='deep'>{}{}</message>{NEXT}{CONFLICT}",
            "<a>".repeat(50_000),
            "</a>".repeat(50_000)
        );
        let slot: StreamErrorSlot = Arc::new(Mutex::new(None));
        let mut tap = Tap::new(text.as_bytes(), slot.clone());
        let mut got = String::new();
        tap.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, format!("{HEADER}<message id='deep'/>{NEXT}{CONFLICT}"));
        assert!(slot.lock().unwrap().is_some());
        // Something that is not a stanza: the read fails after what was
        // fine.
        let bad = format!("{HEADER}<stream:features>{}", "<a>".repeat(200));
        let mut tap = Tap::new(bad.as_bytes(), slot);
        let mut got = Vec::new();
        // Unclosed: held, then end of stream.
        tap.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, HEADER.as_bytes());
    }

    #[test]
    fn entities_in_namespace_values() {
        assert_eq!(unescape("a&amp;b&#x41;&#66;").as_deref(), Some("a&bAB"));
        assert_eq!(unescape("a&nope;"), None);
        assert_eq!(unescape("a&amp"), None);
    }
}
