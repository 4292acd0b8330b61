//! 1:1 messages on the wire: reading what a `<message/>` carries and
//! building the ones Tern sends.
//!
//! XEPs, one helper each: 0359 (origin-id, stanza-id), 0184 (receipts),
//! 0333 (displayed markers), 0085 (chat states), 0308 (corrections), 0424
//! (retractions), 0461 (replies), 0444 (reactions), 0280 (carbons),
//! 0313 (archive results), 0203 (delay).

use std::str::FromStr;

use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::{Message, MessageType};
use xmpp_parsers::minidom::Element;

use crate::xep::xml::{esc, parse};

pub(crate) const NS_CLIENT: &str = "jabber:client";
pub(crate) const NS_SID: &str = "urn:xmpp:sid:0";
pub(crate) const NS_RECEIPTS: &str = "urn:xmpp:receipts";
pub(crate) const NS_MARKERS: &str = "urn:xmpp:chat-markers:0";
pub(crate) const NS_CHATSTATES: &str = "http://jabber.org/protocol/chatstates";
pub(crate) const NS_CORRECT: &str = "urn:xmpp:message-correct:0";
pub(crate) const NS_RETRACT: &str = "urn:xmpp:message-retract:1";
pub(crate) const NS_REACTIONS: &str = "urn:xmpp:reactions:0";
pub(crate) const NS_REPLY: &str = "urn:xmpp:reply:0";
pub(crate) const NS_FALLBACK: &str = "urn:xmpp:fallback:0";
pub(crate) const NS_CARBONS: &str = "urn:xmpp:carbons:2";
pub(crate) const NS_FORWARD: &str = "urn:xmpp:forward:0";
pub(crate) const NS_DELAY: &str = "urn:xmpp:delay";
pub(crate) const NS_MAM: &str = "urn:xmpp:mam:2";
pub(crate) const NS_HINTS: &str = "urn:xmpp:hints";
pub(crate) const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// Longest error text kept from a server, in characters.
const MAX_ERROR_TEXT: usize = 300;

/// Longest body Tern stores; longer ones are refused (and logged).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Most reactions accepted on one message from one sender.
const MAX_REACTIONS: usize = 32;
/// Longest id accepted in references.
const MAX_ID_LEN: usize = 256;

/// Where a message came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// Directly from the peer (or from the server).
    Live,
    /// A copy of something one of the user's other clients sent or received.
    Carbon,
    /// The user's archive.
    Archive,
}

/// What a 1:1 `<message/>` carries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub from: Option<Jid>,
    pub to: Option<Jid>,
    pub id: Option<String>,
    pub origin_id: Option<String>,
    /// XEP-0359 stanza-id assigned by the user's own server.
    pub archive_id: Option<String>,
    pub body: Option<String>,
    pub delay_ms: Option<i64>,
    pub is_error: bool,
    /// For an error: its condition (RFC 6120 §8.3.3) and text, if given.
    pub error: Option<(String, Option<String>)>,
    pub is_groupchat: bool,
    pub replace: Option<String>,
    pub retract: Option<String>,
    pub reactions: Option<(String, Vec<String>)>,
    pub reply_to: Option<String>,
    pub receipt_request: bool,
    pub received: Option<String>,
    pub displayed: Option<String>,
    pub markable: bool,
    pub chat_state: Option<String>,
    pub no_store: bool,
}

fn bounded(s: Option<&str>) -> Option<String> {
    s.filter(|v| !v.is_empty() && v.len() <= MAX_ID_LEN)
        .map(str::to_string)
}

fn stamp_ms(el: &Element) -> Option<i64> {
    let stamp = el.attr("stamp")?;
    xmpp_parsers::date::DateTime::from_str(stamp)
        .ok()
        .map(|d| d.0.timestamp_millis())
}

/// Reads a message. `own` is the account's bare JID (whose server's
/// stanza-id counts as the archive id).
pub(crate) fn parse_message(msg: &Message, own: &BareJid) -> Parsed {
    let mut p = Parsed {
        from: msg.from.clone(),
        to: msg.to.clone(),
        id: msg.id.as_ref().and_then(|i| bounded(Some(i.0.as_str()))),
        is_error: msg.type_ == MessageType::Error,
        is_groupchat: msg.type_ == MessageType::Groupchat,
        body: msg
            .get_best_body_cloned(vec!["en", ""])
            .map(|(_, b)| b)
            .or_else(|| msg.bodies.values().next().cloned()),
        ..Default::default()
    };
    let own_str = own.to_string();
    for el in &msg.payloads {
        let ns = el.ns();
        match (el.name(), ns.as_str()) {
            ("origin-id", NS_SID) => p.origin_id = bounded(el.attr("id")),
            ("stanza-id", NS_SID) if el.attr("by") == Some(own_str.as_str()) => {
                p.archive_id = bounded(el.attr("id"));
            }
            ("delay", NS_DELAY) => p.delay_ms = p.delay_ms.or(stamp_ms(el)),
            ("replace", NS_CORRECT) => p.replace = bounded(el.attr("id")),
            ("retract", NS_RETRACT) => p.retract = bounded(el.attr("id")),
            ("reply", NS_REPLY) => p.reply_to = bounded(el.attr("id")),
            ("reactions", NS_REACTIONS) => {
                if let Some(id) = bounded(el.attr("id")) {
                    let mut emojis: Vec<String> = el
                        .children()
                        .filter(|c| c.is("reaction", NS_REACTIONS))
                        .map(|c| c.text())
                        .filter(|t| !t.is_empty() && t.len() <= 64)
                        .take(MAX_REACTIONS)
                        .collect();
                    emojis.sort();
                    emojis.dedup();
                    p.reactions = Some((id, emojis));
                }
            }
            ("request", NS_RECEIPTS) => p.receipt_request = true,
            ("received", NS_RECEIPTS) => p.received = bounded(el.attr("id")),
            ("displayed", NS_MARKERS) => p.displayed = bounded(el.attr("id")),
            ("markable", NS_MARKERS) => p.markable = true,
            ("no-store", NS_HINTS) => p.no_store = true,
            ("error", NS_CLIENT) if p.is_error => p.error = Some(error_of(el)),
            (name, NS_CHATSTATES) => {
                if matches!(
                    name,
                    "active" | "composing" | "paused" | "inactive" | "gone"
                ) {
                    p.chat_state = Some(name.to_string());
                }
            }
            _ => {}
        }
    }
    p
}

/// The condition and text of a stanza `<error/>`; an unknown or missing
/// condition is `undefined-condition`.
fn error_of(el: &Element) -> (String, Option<String>) {
    let mut condition = None;
    let mut text = None;
    for c in el.children().filter(|c| c.ns() == NS_STANZAS) {
        if c.name() == "text" {
            let t: String = c.text().trim().chars().take(MAX_ERROR_TEXT).collect();
            text = text.or((!t.is_empty()).then_some(t));
        } else if condition.is_none() && c.name().len() <= 40 {
            condition = Some(c.name().to_string());
        }
    }
    (
        condition.unwrap_or_else(|| "undefined-condition".into()),
        text,
    )
}

impl Parsed {
    /// The id that identifies this message across devices and the archive.
    pub(crate) fn uid(&self) -> Option<String> {
        self.origin_id.clone().or_else(|| self.id.clone())
    }
}

/// A message unwrapped from a carbon or an archive result.
pub(crate) struct Unwrapped {
    pub message: Message,
    pub source: Source,
    /// For carbons: whether the user's other client sent it.
    pub sent_by_own_client: bool,
    /// For archive results: the result id and the archived time.
    pub archive: Option<(String, Option<i64>, Option<String>)>,
}

/// If `msg` is a carbon (from the user's own bare JID) or an archive result,
/// returns the message inside. Wrappers from anyone else are not trusted.
pub(crate) fn unwrap_forwarded(msg: &Message, own: &BareJid) -> Option<Unwrapped> {
    let from_own = match &msg.from {
        None => true,
        Some(f) => f.to_bare() == *own,
    };
    for el in &msg.payloads {
        let ns = el.ns();
        let (source, sent) = match (el.name(), ns.as_str()) {
            ("received", NS_CARBONS) => (Source::Carbon, false),
            ("sent", NS_CARBONS) => (Source::Carbon, true),
            ("result", NS_MAM) => (Source::Archive, false),
            _ => continue,
        };
        if !from_own {
            tracing::warn!(from = ?msg.from, "ignoring forwarded message not from the own account");
            return None;
        }
        let forwarded = el.get_child("forwarded", NS_FORWARD)?;
        let inner = forwarded.get_child("message", NS_CLIENT)?;
        let message = match Message::try_from(inner.clone()) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("ignoring malformed forwarded message: {e}");
                return None;
            }
        };
        let archive = if source == Source::Archive {
            let stamp = forwarded.get_child("delay", NS_DELAY).and_then(stamp_ms);
            Some((
                el.attr("id")?.to_string(),
                stamp,
                el.attr("queryid").map(str::to_string),
            ))
        } else {
            None
        };
        return Some(Unwrapped {
            message,
            source,
            sent_by_own_client: sent,
            archive,
        });
    }
    None
}

/// A fresh random id for a stanza.
pub(crate) fn new_id() -> String {
    let a: u64 = rand::random();
    let b: u64 = rand::random();
    format!("{a:016x}{b:016x}")
}

/// Builds an outgoing chat message.
#[derive(Debug, Default)]
pub(crate) struct Outgoing<'a> {
    pub to: &'a str,
    pub id: &'a str,
    pub body: Option<&'a str>,
    pub replace: Option<&'a str>,
    pub reply: Option<(&'a str, &'a str)>,
    pub retract: Option<&'a str>,
    pub reactions: Option<(&'a str, &'a [String])>,
    pub receipt_for: Option<&'a str>,
    pub displayed_for: Option<&'a str>,
    pub chat_state: Option<&'a str>,
    /// A content message: asks for receipts and markers.
    pub content: bool,
}

impl Outgoing<'_> {
    pub(crate) fn xml(&self) -> String {
        let mut s = format!(
            "<message xmlns='{NS_CLIENT}' type='chat' to='{}' id='{}'>",
            esc(self.to),
            esc(self.id)
        );
        if let Some(b) = self.body {
            s += &format!("<body>{}</body>", esc(b));
        }
        s += &format!("<origin-id xmlns='{NS_SID}' id='{}'/>", esc(self.id));
        if self.content {
            s += &format!("<request xmlns='{NS_RECEIPTS}'/><markable xmlns='{NS_MARKERS}'/>");
        }
        if let Some(r) = self.replace {
            s += &format!("<replace xmlns='{NS_CORRECT}' id='{}'/>", esc(r));
        }
        if let Some((to, id)) = self.reply {
            s += &format!(
                "<reply xmlns='{NS_REPLY}' to='{}' id='{}'/>",
                esc(to),
                esc(id)
            );
        }
        if let Some(r) = self.retract {
            s += &format!(
                "<retract xmlns='{NS_RETRACT}' id='{}'/><fallback xmlns='{NS_FALLBACK}' for='{NS_RETRACT}'/><store xmlns='{NS_HINTS}'/>",
                esc(r)
            );
        }
        if let Some((id, emojis)) = self.reactions {
            s += &format!("<reactions xmlns='{NS_REACTIONS}' id='{}'>", esc(id));
            for e in emojis {
                s += &format!("<reaction>{}</reaction>", esc(e));
            }
            s += "</reactions><store xmlns='urn:xmpp:hints'/>";
        }
        if let Some(r) = self.receipt_for {
            s += &format!("<received xmlns='{NS_RECEIPTS}' id='{}'/>", esc(r));
        }
        if let Some(d) = self.displayed_for {
            s += &format!("<displayed xmlns='{NS_MARKERS}' id='{}'/>", esc(d));
        }
        if let Some(c) = self.chat_state {
            s += &format!("<{c} xmlns='{NS_CHATSTATES}'/>");
        } else if self.content {
            s += &format!("<active xmlns='{NS_CHATSTATES}'/>");
        }
        s += "</message>";
        s
    }

    pub(crate) fn message(&self) -> Option<Message> {
        stanza_from_xml(&self.xml())
    }
}

/// Parses a stored stanza back into a message.
pub(crate) fn stanza_from_xml(xml: &str) -> Option<Message> {
    parse(xml).and_then(|el| Message::try_from(el).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> BareJid {
        BareJid::new("juliet@capulet.lit").unwrap()
    }

    fn msg(xml: &str) -> Message {
        Message::try_from(xml.parse::<Element>().unwrap()).unwrap()
    }

    #[test]
    fn reads_a_full_message() {
        let m = msg("<message xmlns='jabber:client' from='romeo@montague.lit/orchard' to='juliet@capulet.lit/balcony' id='m1' type='chat'>
            <body>Wherefore art thou?</body>
            <origin-id xmlns='urn:xmpp:sid:0' id='o1'/>
            <stanza-id xmlns='urn:xmpp:sid:0' id='s1' by='juliet@capulet.lit'/>
            <stanza-id xmlns='urn:xmpp:sid:0' id='evil' by='romeo@montague.lit'/>
            <request xmlns='urn:xmpp:receipts'/>
            <markable xmlns='urn:xmpp:chat-markers:0'/>
            <active xmlns='http://jabber.org/protocol/chatstates'/>
            <reply xmlns='urn:xmpp:reply:0' to='juliet@capulet.lit/balcony' id='prev'/>
            <delay xmlns='urn:xmpp:delay' stamp='2002-09-10T23:08:25Z'/>
          </message>");
        let p = parse_message(&m, &own());
        assert_eq!(p.body.as_deref(), Some("Wherefore art thou?"));
        assert_eq!(p.uid().as_deref(), Some("o1"));
        assert_eq!(
            p.archive_id.as_deref(),
            Some("s1"),
            "only our server's stanza-id counts"
        );
        assert!(p.receipt_request && p.markable);
        assert_eq!(p.chat_state.as_deref(), Some("active"));
        assert_eq!(p.reply_to.as_deref(), Some("prev"));
        assert_eq!(p.delay_ms, Some(1_031_699_305_000));
    }

    #[test]
    fn reads_why_a_message_bounced() {
        let p = parse_message(&msg("<message xmlns='jabber:client' type='error' from='nobody@capulet.lit' id='m9'>
            <body>hello?</body>
            <error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
              <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>  No such user <b>here</b>  </text></error>
          </message>"), &own());
        assert!(p.is_error);
        assert_eq!(
            p.error,
            Some(("service-unavailable".into(), Some("No such user".into()))),
            "text only, no markup"
        );
        // No condition at all, a hostile one, an endless text.
        let long = "x".repeat(5000);
        let p = parse_message(
            &msg(&format!(
                "<message xmlns='jabber:client' type='error' id='m9'>
            <error type='cancel'><{long} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
              <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>{long}</text></error></message>"
            )),
            &own(),
        );
        let (condition, text) = p.error.unwrap();
        assert_eq!(condition, "undefined-condition");
        assert_eq!(text.unwrap().chars().count(), MAX_ERROR_TEXT);
        let p = parse_message(
            &msg("<message xmlns='jabber:client' type='error' id='m9'/>"),
            &own(),
        );
        assert!(p.is_error && p.error.is_none());
        // An <error/> in a message that is not an error means nothing.
        let p = parse_message(&msg("<message xmlns='jabber:client' type='chat' id='m9'><body>x</body><error type='cancel'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"), &own());
        assert!(p.error.is_none());
    }

    #[test]
    fn reads_corrections_retractions_reactions_receipts() {
        let p = parse_message(&msg("<message xmlns='jabber:client' to='juliet@capulet.lit' id='bad1'><body>But soft, what light through yonder window breaks?</body><replace id='bad0' xmlns='urn:xmpp:message-correct:0'/></message>"), &own());
        assert_eq!(p.replace.as_deref(), Some("bad0"));
        let p = parse_message(&msg("<message xmlns='jabber:client' type='chat' to='lord@capulet.example' id='retract-message-1'><retract id='origin-id-1' xmlns='urn:xmpp:message-retract:1'/><fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'/><body>This person attempted to retract a previous message, but it's unsupported by your client.</body></message>"), &own());
        assert_eq!(p.retract.as_deref(), Some("origin-id-1"));
        let p = parse_message(&msg("<message xmlns='jabber:client' to='romeo@capulet.net/orchard' id='96d73204-a57a-11e9-88b8-4889e7820c76' type='chat'><reactions id='744f6e18-a57a-11e9-a656-4889e7820c76' xmlns='urn:xmpp:reactions:0'><reaction>👋</reaction><reaction>🐢</reaction><reaction>🐢</reaction></reactions><store xmlns='urn:xmpp:hints'/></message>"), &own());
        assert_eq!(
            p.reactions,
            Some((
                "744f6e18-a57a-11e9-a656-4889e7820c76".into(),
                vec!["🐢".into(), "👋".into()]
            ))
        );
        let p = parse_message(&msg("<message xmlns='jabber:client' from='kingrichard@royalty.england.lit/throne' id='bi29sg183b4v' to='northumberland@shakespeare.lit/westminster'><received xmlns='urn:xmpp:receipts' id='richard2-4.1.247'/></message>"), &own());
        assert_eq!(p.received.as_deref(), Some("richard2-4.1.247"));
        let p = parse_message(&msg("<message xmlns='jabber:client' from='northumberland@shakespeare.lit/westminster' to='kingrichard@royalty.england.lit/throne'><displayed xmlns='urn:xmpp:chat-markers:0' id='message-1'/></message>"), &own());
        assert_eq!(p.displayed.as_deref(), Some("message-1"));
    }

    #[test]
    fn carbons_only_from_own_account() {
        let inner = "<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='romeo@montague.example/home' to='juliet@capulet.lit/balcony' type='chat'><body>Neither, fair saint</body></message></forwarded>";
        let good = msg(&format!("<message xmlns='jabber:client' from='juliet@capulet.lit' to='juliet@capulet.lit/balcony'><received xmlns='urn:xmpp:carbons:2'>{inner}</received></message>"));
        let u = unwrap_forwarded(&good, &own()).unwrap();
        assert_eq!(u.source, Source::Carbon);
        assert!(!u.sent_by_own_client);
        let forged = msg(&format!("<message xmlns='jabber:client' from='mallory@evil.example' to='juliet@capulet.lit/balcony'><sent xmlns='urn:xmpp:carbons:2'>{inner}</sent></message>"));
        assert!(unwrap_forwarded(&forged, &own()).is_none());
    }

    #[test]
    fn archive_results_keep_id_and_time() {
        let m = msg("<message xmlns='jabber:client' to='juliet@capulet.lit/balcony' id='aeb213'><result xmlns='urn:xmpp:mam:2' queryid='f27' id='28482-98726-73623'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2010-07-10T23:08:25Z'/><message xmlns='jabber:client' to='juliet@capulet.lit/balcony' from='romeo@montague.lit/orchard' type='chat'><body>Call me but love, and I'll be new baptized; Henceforth I never will be Romeo.</body></message></forwarded></result></message>");
        let u = unwrap_forwarded(&m, &own()).unwrap();
        let (id, stamp, qid) = u.archive.unwrap();
        assert_eq!(id, "28482-98726-73623");
        assert_eq!(qid.as_deref(), Some("f27"));
        assert_eq!(stamp, Some(1_278_803_305_000));
    }

    #[test]
    fn builds_parseable_messages() {
        let emojis = vec!["👍".to_string()];
        let o = Outgoing {
            to: "romeo@montague.lit",
            id: "abc",
            body: Some("a <b> & 'c'"),
            reply: Some(("romeo@montague.lit", "x1")),
            reactions: Some(("x2", &emojis)),
            content: true,
            ..Default::default()
        };
        let m = o.message().unwrap();
        let p = parse_message(&m, &own());
        assert_eq!(p.body.as_deref(), Some("a <b> & 'c'"));
        assert_eq!(p.origin_id.as_deref(), Some("abc"));
        assert_eq!(p.reply_to.as_deref(), Some("x1"));
        assert!(p.receipt_request && p.markable);
        assert_eq!(p.reactions.unwrap().1, emojis);
    }
}
