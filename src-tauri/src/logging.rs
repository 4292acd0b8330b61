//! The log Tern writes to stderr, and what never goes into it.
//!
//! `RUST_LOG` chooses levels as usual (`info` when unset). Whatever it
//! says, the wire stays out: tokio-xmpp and the XML crates under it log
//! every stanza sent and received below `info` (tokio-xmpp's raw XML at
//! `trace`, stanzas it drops at `debug`), and the engine's stream tap
//! (`tern_core::xml`) logs the raw bytes. That is message text, and during
//! sign-in, sign-up and password changes, credentials: SASL PLAIN is the
//! user name and password in base64. Those targets are logged only at
//! `info` and above, unless [`CONTENT_OPT_IN`] is set.
//!
//! With the opt-in, tokio-xmpp's XML is logged (whole elements), with
//! credentials still redacted from every line ([`redact`]): SASL `<auth>`
//! and `<response>` payloads, `<password>` elements, and the values of
//! data-form fields named like a password or of type `text-private`. The
//! engine's tap stays out even then: it logs the bytes as they arrive, so
//! a credential can be cut across two lines where no redaction sees it,
//! and tokio-xmpp logs the same traffic anyway.

use std::borrow::Cow;
use std::io;

use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::filter::{filter_fn, EnvFilter, FilterExt, LevelFilter};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

/// Environment variable that lets the log hold what goes over the wire
/// (message text; credentials stay redacted): `TERN_LOG_CONTENT=1`.
pub const CONTENT_OPT_IN: &str = "TERN_LOG_CONTENT";

/// Log targets that write the wire: tokio-xmpp (raw XML at `trace`,
/// dropped stanzas at `debug`), the XML crates under it, the engine's
/// stream tap.
const WIRE: &[&str] = &[
    "tokio_xmpp",
    "xso",
    "rxml",
    "minidom",
    "xmpp_parsers",
    "sasl",
    TAP,
];

/// The engine's stream tap: raw bytes as they arrive, never logged.
const TAP: &str = "tern_core::xml";

/// What stands in for a credential.
pub const REDACTED: &str = "[redacted]";

/// Whether `target` is `prefix` or a module below it.
fn under(target: &str, prefix: &str) -> bool {
    target
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

/// Whether an event may be logged: everything at `info` and above; below
/// that, nothing from the wire targets unless `content` (and the tap never).
pub fn allowed(meta: &Metadata<'_>, content: bool) -> bool {
    if *meta.level() <= Level::INFO {
        return true;
    }
    let target = meta.target();
    if under(target, TAP) {
        return false;
    }
    content || !WIRE.iter().any(|w| under(target, w))
}

/// Whether the user asked for the wire in the log ([`CONTENT_OPT_IN`] set
/// to `1`, `true` or `yes`).
pub fn content_opt_in() -> bool {
    std::env::var(CONTENT_OPT_IN)
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

/// The app's subscriber: `directives` in `RUST_LOG` syntax (invalid ones
/// are skipped; none means `info`), the wire kept out unless `content`,
/// and every line written through [`Redacting`] to `writer`.
pub fn subscriber<W>(directives: &str, content: bool, writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let levels = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .parse_lossy(directives);
    let wire = filter_fn(move |meta| allowed(meta, content));
    tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_writer(Redacting(writer))
            .with_filter(levels.and(wire)),
    )
}

/// Starts logging to stderr: `RUST_LOG` and [`CONTENT_OPT_IN`] from the
/// environment. Records of the `log` crate (tokio-xmpp's) go through the
/// same filter.
pub fn init() {
    use tracing_subscriber::util::SubscriberInitExt;
    let directives = std::env::var("RUST_LOG").unwrap_or_default();
    let content = content_opt_in();
    subscriber(&directives, content, io::stderr).init();
    if content {
        tracing::warn!(
            "{CONTENT_OPT_IN} is set: the log holds the XML Tern sends and receives, message text included (credentials are redacted)"
        );
    }
}

/// A [`MakeWriter`] whose writers pass each line through [`redact`].
#[derive(Debug)]
pub struct Redacting<M>(pub M);

impl<'w, M: MakeWriter<'w>> MakeWriter<'w> for Redacting<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'w self) -> Self::Writer {
        RedactingWriter(self.0.make_writer())
    }
}

/// A writer that redacts credentials from what it is given (the formatter
/// hands it one whole event at a time).
#[derive(Debug)]
pub struct RedactingWriter<W>(W);

impl<W: io::Write> io::Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Elements whose text is a credential: SASL's `<auth>` (PLAIN is the user
/// name and password in base64) and `<response>`, and `<password>`
/// (XEP-0077 sign-up and password change, XEP-0078).
const SECRET_ELEMENTS: &[&str] = &["auth", "response", "password"];

/// The local name of a tag's element (`auth` for `<auth xmlns=…>`,
/// `</auth>` or `<sasl:auth>`) and whether it is a closing tag.
fn tag_name(tag: &str) -> (&str, bool) {
    let inner = tag.trim_start_matches('<');
    let (closing, inner) = match inner.strip_prefix('/') {
        Some(rest) => (true, rest),
        None => (false, inner),
    };
    let end = inner
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .unwrap_or(inner.len());
    let name = &inner[..end];
    (name.rsplit(':').next().unwrap_or(name), closing)
}

/// Whether a `<field …>` start tag is for a secret: `type='text-private'`
/// or a `var` that names a password.
fn secret_field(tag: &str) -> bool {
    let lower = tag.to_ascii_lowercase();
    lower.contains("text-private") || attribute(&lower, "var").is_some_and(|v| v.contains("pass"))
}

/// The value of attribute `name` in a start tag, quoted either way.
fn attribute<'t>(tag: &'t str, name: &str) -> Option<&'t str> {
    let mut rest = tag;
    while let Some(at) = rest.find(name) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + name.len()..].trim_start();
        rest = &rest[at + name.len()..];
        if !before.is_some_and(char::is_whitespace) {
            continue;
        }
        let Some(value) = after.strip_prefix('=') else {
            continue;
        };
        let value = value.trim_start();
        let quote = value.chars().next()?;
        if quote != '\'' && quote != '"' {
            continue;
        }
        let value = &value[1..];
        return Some(&value[..value.find(quote).unwrap_or(value.len())]);
    }
    None
}

/// Where the logged XML starts in a text run that begins a line: after
/// tokio-xmpp's `SEND ` / `RECV (…) ` (the rest of a credential cut off
/// in the line before would follow it), else the whole run.
fn payload_start(text: &str) -> usize {
    ["SEND ", "RECV (ok) "]
        .iter()
        .filter_map(|m| text.rfind(m).map(|at| at + m.len()))
        .chain(text.rfind(") ").map(|at| at + 2))
        .max()
        .unwrap_or(0)
}

/// `line` with every credential in XML replaced by [`REDACTED`]: the text
/// of `<auth>`, `<response>` and `<password>`, and the `<value>`s of
/// password and `text-private` form fields. A line cut inside one of these
/// loses the rest of it; text that ends such an element opened in an
/// earlier line is redacted too.
pub fn redact(line: &str) -> Cow<'_, str> {
    let suspicious = SECRET_ELEMENTS.iter().any(|e| line.contains(e)) || line.contains("<field");
    if !suspicious {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    // Inside the text of a secret element, or of a secret field's value.
    let mut secret = false;
    // Inside a secret form field.
    let mut field = false;
    let mut seen_tag = false;
    let mut changed = false;
    let mut rest = line;
    while !rest.is_empty() {
        let text_end = rest.find('<').unwrap_or(rest.len());
        let (text, after) = rest.split_at(text_end);
        if !text.is_empty() {
            // A closing tag right after this text, before any tag in the
            // line: the end of a credential whose start was logged before.
            let continued = !seen_tag && {
                let (name, closing) = tag_name(after);
                closing && SECRET_ELEMENTS.contains(&name)
            };
            if secret {
                out.push_str(REDACTED);
                changed = true;
            } else if continued {
                let start = payload_start(text);
                out.push_str(&text[..start]);
                if start < text.len() {
                    out.push_str(REDACTED);
                    changed = true;
                }
            } else {
                out.push_str(text);
            }
        }
        if after.is_empty() {
            break;
        }
        let tag_end = after.find('>').map_or(after.len(), |i| i + 1);
        let (tag, next) = after.split_at(tag_end);
        out.push_str(tag);
        seen_tag = true;
        let (name, closing) = tag_name(tag);
        let empty = tag.ends_with("/>");
        if closing {
            secret = false;
            if name == "field" {
                field = false;
            }
        } else if !empty {
            if SECRET_ELEMENTS.contains(&name) || (field && name == "value") {
                secret = true;
            } else if name == "field" {
                field = secret_field(tag);
            }
        }
        rest = next;
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer into memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Captured {
        type Writer = Captured;
        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    const PLAIN: &str = "AGp1bGlldABzM2NyZXQtcGxhaW4="; // "\0juliet\0s3cret-plain"
    const AUTH: &str = "SEND <auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABzM2NyZXQtcGxhaW4=</auth>";
    const CHANGE: &str = "SEND <iq type='set' id='c1'><query xmlns='jabber:iq:register'><username>juliet</username><password>n3w-s3cret</password></query></iq>";
    const SIGN_UP: &str = "SEND <iq type='set' id='r1'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>jabber:iq:register</value></field><field var='username'><value>juliet</value></field><field var=\"password\"><value>f0rm-s3cret</value></field><field type='text-private' var='pin'><value>4711</value></field></x></query></iq>";
    const MESSAGE: &str = "RECV (ok) <message from='romeo@example.net/x' type='chat'><body>meet me at the orchard</body></message>";
    const SECRETS: &[&str] = &[
        PLAIN,
        "n3w-s3cret",
        "f0rm-s3cret",
        "4711",
        "meet me at the orchard",
    ];

    /// Every kind of wire line, through the `log` crate as tokio-xmpp
    /// writes them and through `tracing` as the engine's tap does, plus
    /// ordinary lines.
    fn write_everything() {
        for line in [AUTH, CHANGE, SIGN_UP, MESSAGE] {
            log::trace!(target: "tokio_xmpp::xmlstream::capture", "{line}");
            tracing::trace!(target: "tern_core::xml", "{line}");
        }
        log::debug!(target: "tokio_xmpp::stanzastream::connected", "Ignoring data received on stream during local shutdown: {MESSAGE}");
        tracing::trace!(target: "tern_core::account", "an ordinary trace line");
        tracing::debug!(target: "tern_core::net::connect", "an ordinary debug line");
        log::info!(target: "tokio_xmpp::stanzastream", "tokio-xmpp at info");
    }

    fn logged(directives: &str, content: bool) -> String {
        // tokio-xmpp logs through the `log` crate: its records reach the
        // subscriber as the app's `init` sets it up.
        let _ = tracing_log::LogTracer::builder()
            .with_max_level(log::LevelFilter::Trace)
            .init();
        let out = Captured::default();
        tracing::subscriber::with_default(subscriber(directives, content, out.clone()), || {
            write_everything()
        });
        out.text()
    }

    #[test]
    fn the_wire_stays_out_of_the_log_whatever_rust_log_says() {
        for directives in [
            "",
            "trace",
            "debug",
            "tokio_xmpp=trace,tern_core=trace",
            "tern_core::xml=trace",
        ] {
            let log = logged(directives, false);
            for secret in SECRETS {
                assert!(
                    !log.contains(secret),
                    "RUST_LOG={directives:?} logged {secret:?}:\n{log}"
                );
            }
            // (Directives naming targets only turn the rest off.)
            if !directives.contains('=') {
                assert!(
                    log.contains("tokio-xmpp at info"),
                    "RUST_LOG={directives:?}: {log}"
                );
            }
            if directives.contains("trace") && !directives.contains('=') {
                assert!(log.contains("an ordinary trace line"), "{log}");
                assert!(log.contains("an ordinary debug line"), "{log}");
            }
        }
    }

    #[test]
    fn with_the_opt_in_message_text_is_logged_and_credentials_never() {
        let log = logged("trace", true);
        assert!(log.contains("meet me at the orchard"), "{log}");
        assert!(log.contains("<username>juliet</username>"), "{log}");
        assert!(
            log.contains(&format!("mechanism='PLAIN'>{REDACTED}</auth>")),
            "{log}"
        );
        for secret in &SECRETS[..4] {
            assert!(!log.contains(secret), "logged {secret:?}:\n{log}");
        }
        // The engine's tap (raw chunks, which can cut a credential in two)
        // stays out even so.
        assert!(!log.contains("tern_core::xml"), "{log}");
    }

    #[test]
    fn credentials_are_redacted_from_xml() {
        assert_eq!(
            redact(AUTH),
            format!("SEND <auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{REDACTED}</auth>")
        );
        let change = redact(CHANGE);
        assert!(
            change.contains(&format!("<password>{REDACTED}</password>")),
            "{change}"
        );
        assert!(change.contains("<username>juliet</username>"), "{change}");
        let form = redact(SIGN_UP);
        assert!(form.contains("<value>jabber:iq:register</value>"), "{form}");
        assert!(form.contains("<value>juliet</value>"), "{form}");
        assert!(
            !form.contains("f0rm-s3cret") && !form.contains("4711"),
            "{form}"
        );
        assert_eq!(redact(MESSAGE), MESSAGE);
        assert_eq!(redact("no xml here"), "no xml here");
        // SCRAM's answer, and an empty element.
        assert_eq!(
            redact("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>Yz1iaXdz</response><auth/>"),
            format!(
                "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{REDACTED}</response><auth/>"
            )
        );
        // Elements that only start with a secret name are not secrets.
        assert_eq!(redact("<authors>x</authors>"), "<authors>x</authors>");
    }

    #[test]
    fn a_credential_cut_across_two_lines_is_redacted_in_both() {
        let first = "TRACE tokio_xmpp::xmlstream::capture: SEND <auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGll";
        let second = "TRACE tokio_xmpp::xmlstream::capture: SEND dABzM2NyZXQtcGxhaW4=</auth>";
        assert!(!redact(first).contains("AGp1bGll"), "{}", redact(first));
        let r = redact(second);
        assert!(!r.contains("dABzM2Ny"), "{r}");
        assert!(r.contains("SEND [redacted]</auth>"), "{r}");
        // Cut inside the start tag: the next line starts in the tag.
        let r = redact("SEND th mechanism='PLAIN'>AGp1bGlldABz</auth>");
        assert!(!r.contains("AGp1bGlldABz"), "{r}");
        // Cut inside a password field's value.
        let r = redact("SEND <field var='password'><value>f0rm-s3");
        assert!(!r.contains("f0rm-s3"), "{r}");
    }

    #[test]
    fn wire_targets_are_matched_by_module() {
        assert!(under("tokio_xmpp", "tokio_xmpp"));
        assert!(under("tokio_xmpp::xmlstream::capture", "tokio_xmpp"));
        assert!(!under("tokio_xmpp_extra", "tokio_xmpp"));
        assert!(!under("tern_core::xmlish", TAP));
    }
}
