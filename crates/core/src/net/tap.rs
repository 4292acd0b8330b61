//! A transparent wrapper around the TLS stream that notices stream errors.
//!
//! tokio-xmpp's stanza stream logs a `<stream:error/>` received on an
//! established stream and reconnects, without telling its user which error it
//! was. Tern must tell "another client took over" (conflict) or "policy
//! violation" apart from a dropped connection, so this wrapper watches the
//! bytes the server sends for a complete `<stream:error>` element and parses
//! it. Stanza text can never contain a raw `<`, so a match is always markup
//! written by the server.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::stream_error::StreamError;

const OPEN: &[u8] = b"<stream:error";
const CLOSE: &[u8] = b"</stream:error>";
/// Longest stream error we bother to parse; real ones are a few hundred bytes.
const WINDOW: usize = 8 * 1024;

/// Shared slot holding the last stream error seen on a connection.
pub(crate) type StreamErrorSlot = Arc<Mutex<Option<StreamError>>>;

pub(crate) struct Tap<S> {
    inner: S,
    window: Vec<u8>,
    slot: StreamErrorSlot,
}

impl<S> Tap<S> {
    pub(crate) fn new(inner: S, slot: StreamErrorSlot) -> Self {
        Tap {
            inner,
            window: Vec::new(),
            slot,
        }
    }

    fn observe(&mut self, data: &[u8]) {
        self.window.extend_from_slice(data);
        if let Some(start) = find(&self.window, OPEN) {
            if let Some(rel_end) = find(&self.window[start..], CLOSE) {
                let end = start + rel_end + CLOSE.len();
                if let Some(err) = parse_stream_error(&self.window[start..end]) {
                    tracing::debug!("server sent stream error: {err}");
                    if let Ok(mut slot) = self.slot.lock() {
                        *slot = Some(err);
                    }
                }
                self.window.drain(..end);
            } else if self.window.len() - start > WINDOW {
                self.window.clear();
            } else if start > 0 {
                self.window.drain(..start);
            }
        } else {
            // Keep only a tail long enough to hold a split opening tag.
            let keep = OPEN.len() - 1;
            if self.window.len() > keep {
                let cut = self.window.len() - keep;
                self.window.drain(..cut);
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses `<stream:error>...</stream:error>` in isolation.
pub(crate) fn parse_stream_error(fragment: &[u8]) -> Option<StreamError> {
    let text = std::str::from_utf8(fragment).ok()?;
    let doc = format!(
        "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client'>{text}</stream:stream>"
    );
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
        let before = buf.filled().len();
        let res = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = res {
            let new = buf.filled()[before..].to_vec();
            if !new.is_empty() {
                tracing::trace!(target: "tern_core::xml", "RECV {}", String::from_utf8_lossy(&new));
                this.observe(&new);
            }
        }
        res
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

    fn feed(chunks: &[&str]) -> Option<StreamError> {
        let slot: StreamErrorSlot = Arc::new(Mutex::new(None));
        let mut tap = Tap::new((), slot.clone());
        for c in chunks {
            tap.observe(c.as_bytes());
        }
        let got = slot.lock().unwrap().take();
        got
    }

    #[test]
    fn conflict_split_across_reads() {
        let e = feed(&[
            "<message><body>hi &lt;stream:error&gt;</body></message><stream:er",
            "ror><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Replaced by new connection</text></stream:e",
            "rror></stream:stream>",
        ])
        .expect("stream error");
        assert_eq!(e.condition, DefinedCondition::Conflict);
        assert_eq!(
            e.get_best_text(vec!["en"]).map(|(_, t)| t.as_str()),
            Some("Replaced by new connection")
        );
    }

    #[test]
    fn see_other_host_keeps_target() {
        let e = feed(&["<stream:error><see-other-host xmlns='urn:ietf:params:xml:ns:xmpp-streams'>other.example:5222</see-other-host></stream:error>"]).unwrap();
        assert_eq!(
            e.condition,
            DefinedCondition::SeeOtherHost("other.example:5222".into())
        );
    }

    #[test]
    fn escaped_text_is_not_a_stream_error() {
        assert!(feed(&["<message><body>&lt;stream:error&gt;&lt;conflict/&gt;&lt;/stream:error&gt;</body></message>"]).is_none());
    }

    #[test]
    fn garbage_is_ignored() {
        assert!(feed(&["<stream:error><<<</stream:error>"]).is_none());
        let big = "x".repeat(100_000);
        assert!(feed(&["<stream:error>", &big]).is_none());
    }
}
