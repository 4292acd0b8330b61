//! 1:1 messages on the wire (RFC 6121 §5): reading what a `<message/>`
//! carries and building the ones Tern sends. Each payload is read and built
//! by its XEP's codec in `xep/`; this file puts them together.

use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::{Id, Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::ns;

use super::{
    bounded_id, carbons, chat_states, correction, delay, hints, mam, markers, reactions, receipts,
    reply, retraction, sid, xml_text,
};

pub(crate) const NS_CLIENT: &str = ns::JABBER_CLIENT;
pub(crate) const NS_SID: &str = ns::SID;
pub(crate) const NS_RECEIPTS: &str = ns::RECEIPTS;
pub(crate) const NS_MARKERS: &str = ns::DISPLAYED_MARKERS;
pub(crate) const NS_CHATSTATES: &str = ns::CHATSTATES;
pub(crate) const NS_CORRECT: &str = ns::MESSAGE_CORRECT;
pub(crate) const NS_RETRACT: &str = ns::MESSAGE_RETRACT;
pub(crate) const NS_REACTIONS: &str = ns::REACTIONS;
pub(crate) const NS_REPLY: &str = ns::REPLY;
#[allow(dead_code, reason = "one of the NS_* names callers may use")]
pub(crate) const NS_FALLBACK: &str = ns::FALLBACK;
pub(crate) const NS_DELAY: &str = ns::DELAY;
pub(crate) const NS_HINTS: &str = ns::HINTS;
pub(crate) const NS_STANZAS: &str = ns::XMPP_STANZAS;
/// Longest error text kept from a server, in characters.
const MAX_ERROR_TEXT: usize = 300;

/// Longest body Tern stores; longer ones are refused (and logged).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

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
    /// XEP-0203 stamp of a `<delay/>` the user's own server put on it
    /// (offline storage: `from` is the account's domain or bare JID). A
    /// stamp from anyone else is the sender's word and is not read.
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
    /// XEP-0066 out-of-band data (a link to a file).
    pub oob: Option<super::oob::Oob>,
    /// XEP-0447 stateless file sharing (a file with its metadata).
    pub shared: Option<super::sfs::Shared>,
    /// XEP-0447 sources for a file shared in an earlier message.
    pub attached: Option<super::sfs::AttachedSources>,
    /// XEP-0384: an OMEMO `<encrypted/>` element, and whether it has a
    /// payload (`false`: key transport only). Decrypted by the inbound
    /// decrypt stage, which then puts the plaintext in `body`.
    pub omemo: Option<bool>,
}

/// Reads a message. `own` is the account's bare JID (whose server's
/// stanza-id counts as the archive id).
pub(crate) fn parse_message(msg: &Message, own: &BareJid) -> Parsed {
    let mut p = Parsed {
        from: msg.from.clone(),
        to: msg.to.clone(),
        id: msg.id.as_ref().and_then(|i| bounded_id(&i.0)),
        is_error: msg.type_ == MessageType::Error,
        is_groupchat: msg.type_ == MessageType::Groupchat,
        body: msg
            .get_best_body_cloned(vec!["en", ""])
            .map(|(_, b)| b)
            .or_else(|| msg.bodies.values().next().cloned()),
        ..Default::default()
    };
    for el in &msg.payloads {
        let ns = el.ns();
        match (el.name(), ns.as_str()) {
            ("origin-id", NS_SID) => p.origin_id = sid::read_origin_id(el),
            ("stanza-id", NS_SID) => {
                if let Some(id) = sid::read_stanza_id(el, own) {
                    p.archive_id = Some(id);
                }
            }
            ("delay", NS_DELAY) => {
                if let Some((ms, Some(from))) = delay::read(el) {
                    if super::is_own_server(&from, own) {
                        p.delay_ms = p.delay_ms.or(Some(ms));
                    }
                }
            }
            ("replace", NS_CORRECT) => p.replace = correction::read(el),
            ("retract", NS_RETRACT) => p.retract = retraction::read(el),
            ("reply", NS_REPLY) => p.reply_to = reply::read(el),
            ("reactions", NS_REACTIONS) => {
                if let Some(r) = reactions::read(el) {
                    p.reactions = Some(r);
                }
            }
            ("request", NS_RECEIPTS) => p.receipt_request = receipts::is_request(el),
            ("received", NS_RECEIPTS) => p.received = receipts::read_received(el),
            ("displayed", NS_MARKERS) => p.displayed = markers::read_displayed(el),
            ("markable", NS_MARKERS) => p.markable = markers::is_markable(el),
            ("no-store", NS_HINTS) => p.no_store = hints::is_no_store(el),
            ("encrypted", super::omemo::NS_OMEMO) => p.omemo = super::omemo::payload_of(el),
            ("error", NS_CLIENT) if p.is_error => p.error = Some(error_of(el)),
            (_, NS_CHATSTATES) => {
                if let Some(state) = chat_states::read(el) {
                    p.chat_state = Some(state.to_string());
                }
            }
            _ => {}
        }
    }
    p.oob = super::oob::read(&msg.payloads);
    p.shared = super::sfs::read(&msg.payloads);
    if let Some(shared) = p.shared.as_mut() {
        // Thumbnails sent as Bits of Binary (XEP-0231) in the same
        // message become data: URIs like the others.
        for t in &mut shared.meta.thumbnails {
            if let Some((media, bytes)) = super::sfs::read_bob(&msg.payloads, &t.uri) {
                t.uri = super::sfs::data_uri(&media, &bytes);
            }
        }
    }
    p.attached = super::sfs::read_attached(&msg.payloads);
    if p.reply_to.is_some() {
        // The quote other clients put in front of a reply, marked as a
        // XEP-0428 fallback, is not part of what the sender wrote: Tern
        // shows the replied message itself.
        if let Some(body) = reply::body_without_fallback(msg) {
            p.body = Some(body.trim_start_matches('\n').to_string());
        }
    }
    p
}

/// The condition and text of a stanza `<error/>`; an unknown or missing
/// condition is `undefined-condition`. Read leniently from the element
/// (not as an xmpp-parsers `StanzaError`, which refuses a bounce without a
/// known condition): whatever a server bounces with, the user learns that
/// the message failed.
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
    let from_own = super::from_own_account(msg.from.as_ref(), own);
    for el in &msg.payloads {
        let source = if carbons::is_carbon(el) {
            Source::Carbon
        } else if mam::is_result(el) {
            Source::Archive
        } else {
            continue;
        };
        if !from_own {
            tracing::warn!(from = ?msg.from, "ignoring forwarded message not from the own account");
            return None;
        }
        let unwrapped = match source {
            Source::Archive => mam::read_result(el).map(|a| Unwrapped {
                message: a.message,
                source,
                sent_by_own_client: false,
                archive: Some((a.id, a.stamp_ms, a.query_id)),
            }),
            _ => carbons::read(el).map(|(message, sent)| Unwrapped {
                message,
                source,
                sent_by_own_client: sent,
                archive: None,
            }),
        };
        if unwrapped.is_none() {
            tracing::warn!("ignoring malformed forwarded message");
        }
        return unwrapped;
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
    /// To a group chat (`type='groupchat'`): no receipt request, no chat
    /// state (a room of thousands need not hear of every keystroke).
    pub groupchat: bool,
    /// A private message through a room (XEP-0045 §7.5: carries an empty
    /// `<x/>` of `muc#user`).
    pub room_private: bool,
}

impl Outgoing<'_> {
    /// The message; `None` when `to` is not a JID or `chat_state` names no
    /// XEP-0085 state. Payloads come in a fixed order: origin-id, receipt
    /// request and markable, correction, reply, retraction, reactions,
    /// receipt, marker, chat state.
    pub(crate) fn message(&self) -> Option<Message> {
        let to = Jid::new(self.to).ok()?;
        let chat_state = match (self.chat_state, self.content) {
            (Some(name), _) => Some(chat_states::from_name(name)?),
            (None, true) => Some(xmpp_parsers::chatstates::ChatState::Active),
            (None, false) => None,
        };
        let chat_state = if self.groupchat { None } else { chat_state };
        let mut m = if self.groupchat {
            Message::groupchat(to)
        } else {
            Message::chat(to)
        };
        m.id = Some(Id(xml_text(self.id)));
        if let Some(b) = self.body {
            m.bodies.insert(Lang::default(), xml_text(b));
        }
        let p = &mut m.payloads;
        p.push(sid::origin_id(self.id).into());
        if self.content && !self.groupchat {
            p.push(receipts::request().into());
        }
        if self.content {
            p.push(markers::markable().into());
        }
        if self.room_private {
            p.push(Element::builder("x", "http://jabber.org/protocol/muc#user").build());
        }
        if let Some(r) = self.replace {
            p.push(correction::replace(r).into());
        }
        if let Some((to, id)) = self.reply {
            p.push(reply::reply(to, id).into());
        }
        if let Some(r) = self.retract {
            p.extend(retraction::retraction(r));
        }
        if let Some((id, emojis)) = self.reactions {
            p.push(reactions::reactions(id, emojis).into());
            p.push(hints::store().into());
        }
        if let Some(r) = self.receipt_for {
            p.push(receipts::received(r).into());
        }
        if let Some(d) = self.displayed_for {
            p.push(markers::displayed(d).into());
        }
        if let Some(state) = chat_state {
            p.push(state.into());
        }
        Some(m)
    }

    /// The message as XML text; empty when it cannot be built (see
    /// [`Outgoing::message`]).
    #[cfg(test)]
    pub(crate) fn xml(&self) -> String {
        self.message().map(|m| to_xml(&m)).unwrap_or_default()
    }
}

/// A message as XML text.
#[cfg(test)]
pub(crate) fn to_xml(message: &Message) -> String {
    String::from(&Element::from(message.clone()))
}

/// Parses XML text into a message.
#[cfg(test)]
pub(crate) fn stanza_from_xml(xml: &str) -> Option<Message> {
    let el: Element = xml.parse().ok()?;
    Message::try_from(el).ok()
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
            <delay xmlns='urn:xmpp:delay' stamp='1999-09-10T23:08:25Z'/>
            <delay xmlns='urn:xmpp:delay' from='capulet.lit' stamp='2002-09-10T23:08:25Z'/>
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
        assert_eq!(
            p.delay_ms,
            Some(1_031_699_305_000),
            "only the own server's stamp counts"
        );
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
    fn another_client_of_the_account_cannot_forge_carbons_or_results() {
        // A full JID of the account is one of the user's other clients, not
        // the user's server (RFC 6121: the bare JID or no `from`).
        let inner = "<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='romeo@montague.example/home' to='juliet@capulet.lit/balcony' type='chat'><body>forged</body></message></forwarded>";
        for wrapper in [
            format!("<received xmlns='urn:xmpp:carbons:2'>{inner}</received>"),
            format!("<sent xmlns='urn:xmpp:carbons:2'>{inner}</sent>"),
            format!("<result xmlns='urn:xmpp:mam:2' id='A9'>{inner}</result>"),
        ] {
            let forged = msg(&format!("<message xmlns='jabber:client' from='juliet@capulet.lit/laptop' to='juliet@capulet.lit/balcony'>{wrapper}</message>"));
            assert!(unwrap_forwarded(&forged, &own()).is_none(), "{wrapper}");
            let from_server = msg(&format!("<message xmlns='jabber:client' from='juliet@capulet.lit' to='juliet@capulet.lit/balcony'>{wrapper}</message>"));
            assert!(
                unwrap_forwarded(&from_server, &own()).is_some(),
                "{wrapper}"
            );
        }
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

    /// How these messages were written before the codecs: text with
    /// escaped values. Kept to check that the wire did not change.
    fn as_text(o: &Outgoing) -> String {
        fn esc(s: &str) -> String {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
                .replace('\'', "&apos;")
        }
        let mut s = format!(
            "<message xmlns='{NS_CLIENT}' type='chat' to='{}' id='{}'>",
            esc(o.to),
            esc(o.id)
        );
        if let Some(b) = o.body {
            s += &format!("<body>{}</body>", esc(b));
        }
        s += &format!("<origin-id xmlns='{NS_SID}' id='{}'/>", esc(o.id));
        if o.content {
            s += &format!("<request xmlns='{NS_RECEIPTS}'/><markable xmlns='{NS_MARKERS}'/>");
        }
        if let Some(r) = o.replace {
            s += &format!("<replace xmlns='{NS_CORRECT}' id='{}'/>", esc(r));
        }
        if let Some((to, id)) = o.reply {
            s += &format!(
                "<reply xmlns='{NS_REPLY}' to='{}' id='{}'/>",
                esc(to),
                esc(id)
            );
        }
        if let Some(r) = o.retract {
            s += &format!(
                "<retract xmlns='{NS_RETRACT}' id='{}'/><fallback xmlns='{NS_FALLBACK}' for='{NS_RETRACT}'/><store xmlns='{NS_HINTS}'/>",
                esc(r)
            );
        }
        if let Some((id, emojis)) = o.reactions {
            s += &format!("<reactions xmlns='{NS_REACTIONS}' id='{}'>", esc(id));
            for e in emojis {
                s += &format!("<reaction>{}</reaction>", esc(e));
            }
            s += &format!("</reactions><store xmlns='{NS_HINTS}'/>");
        }
        if let Some(r) = o.receipt_for {
            s += &format!("<received xmlns='{NS_RECEIPTS}' id='{}'/>", esc(r));
        }
        if let Some(d) = o.displayed_for {
            s += &format!("<displayed xmlns='{NS_MARKERS}' id='{}'/>", esc(d));
        }
        if let Some(c) = o.chat_state {
            s += &format!("<{c} xmlns='{NS_CHATSTATES}'/>");
        } else if o.content {
            s += &format!("<active xmlns='{NS_CHATSTATES}'/>");
        }
        s + "</message>"
    }

    #[test]
    fn the_wire_is_what_it_was() {
        let emojis = vec!["👍".to_string(), "🐢".to_string()];
        let peer = "romeo@montague.lit";
        let cases = [
            Outgoing {
                to: peer,
                id: "m1",
                body: Some("a <b> & 'c' \"d\""),
                reply: Some((peer, "x1")),
                content: true,
                ..Default::default()
            },
            Outgoing {
                to: peer,
                id: "m2",
                body: Some("But soft, what light through yonder window breaks?"),
                replace: Some("bad1"),
                content: true,
                ..Default::default()
            },
            Outgoing {
                to: peer,
                id: "m3",
                body: Some("This person attempted to retract a previous message, but it's unsupported by your client."),
                retract: Some("origin-id-1"),
                ..Default::default()
            },
            Outgoing {
                to: peer,
                id: "m4",
                reactions: Some(("744f6e18", &emojis)),
                ..Default::default()
            },
            Outgoing {
                to: peer,
                id: "m5",
                reactions: Some(("744f6e18", &[])),
                ..Default::default()
            },
            Outgoing {
                to: "romeo@montague.lit/orchard",
                id: "m6",
                receipt_for: Some("richard2-4.1.247"),
                ..Default::default()
            },
            Outgoing {
                to: peer,
                id: "m7",
                displayed_for: Some("the-msg-1"),
                ..Default::default()
            },
            Outgoing {
                to: peer,
                id: "m8",
                chat_state: Some("composing"),
                ..Default::default()
            },
        ];
        for o in cases {
            let before: Element = as_text(&o).parse().unwrap();
            let now: Element = o.xml().parse().unwrap();
            assert_eq!(now, before, "{}", o.xml());
            assert_eq!(Element::from(o.message().unwrap()), before);
        }
    }

    #[test]
    fn built_messages_read_back_the_same() {
        let emojis = vec!["🐢".to_string(), "👍".to_string()];
        let o = Outgoing {
            to: "romeo@montague.lit",
            id: "abc",
            body: Some("hello"),
            replace: Some("r1"),
            reply: Some(("romeo@montague.lit", "x1")),
            retract: Some("t1"),
            reactions: Some(("x2", &emojis)),
            receipt_for: Some("c1"),
            displayed_for: Some("d1"),
            chat_state: Some("paused"),
            content: true,
            groupchat: false,
            room_private: false,
        };
        let m = stanza_from_xml(&o.xml()).unwrap();
        let p = parse_message(&m, &own());
        assert_eq!(
            p,
            Parsed {
                to: Some(Jid::new("romeo@montague.lit").unwrap()),
                id: Some("abc".into()),
                origin_id: Some("abc".into()),
                body: Some("hello".into()),
                replace: Some("r1".into()),
                retract: Some("t1".into()),
                reactions: Some(("x2".into(), emojis)),
                reply_to: Some("x1".into()),
                receipt_request: true,
                received: Some("c1".into()),
                displayed: Some("d1".into()),
                markable: true,
                chat_state: Some("paused".into()),
                ..Default::default()
            }
        );
        assert_eq!(m.type_, MessageType::Chat);
    }

    #[test]
    fn what_cannot_be_sent_is_not_built() {
        let bad_to = Outgoing {
            to: "not a jid@@",
            id: "a",
            body: Some("hi"),
            ..Default::default()
        };
        assert!(bad_to.message().is_none());
        assert_eq!(bad_to.xml(), "");
        assert!(stanza_from_xml(&bad_to.xml()).is_none());
        let bad_state = Outgoing {
            to: "romeo@montague.lit",
            id: "a",
            chat_state: Some("typing'/><evil/>"),
            ..Default::default()
        };
        assert!(bad_state.message().is_none());
        // Characters XML cannot carry are left out rather than breaking the
        // stream.
        let o = Outgoing {
            to: "romeo@montague.lit",
            id: "a\u{0}b",
            body: Some("bell\u{7} & form feed\u{c}"),
            content: true,
            ..Default::default()
        };
        let p = parse_message(&stanza_from_xml(&o.xml()).unwrap(), &own());
        assert_eq!(p.body.as_deref(), Some("bell & form feed"));
        assert_eq!(p.uid().as_deref(), Some("ab"));
    }

    #[test]
    fn hostile_messages_are_bounded() {
        let long = "x".repeat(crate::xep::MAX_ID_LEN + 1);
        let p = parse_message(
            &msg(&format!(
                "<message xmlns='jabber:client' id='{long}' type='chat'>
            <origin-id xmlns='urn:xmpp:sid:0' id='{long}'/>
            <stanza-id xmlns='urn:xmpp:sid:0' id='{long}' by='juliet@capulet.lit'/>
            <replace xmlns='urn:xmpp:message-correct:0' id='{long}'/>
            <retract xmlns='urn:xmpp:message-retract:1' id='{long}'/>
            <reply xmlns='urn:xmpp:reply:0' to='a@b' id='{long}'/>
            <reactions xmlns='urn:xmpp:reactions:0' id='{long}'><reaction>👍</reaction></reactions>
            <received xmlns='urn:xmpp:receipts' id='{long}'/>
            <displayed xmlns='urn:xmpp:chat-markers:0' id='{long}'/>
            <typing xmlns='http://jabber.org/protocol/chatstates'/>
            <delay xmlns='urn:xmpp:delay' stamp='later'/>
          </message>"
            )),
            &own(),
        );
        assert_eq!(
            p,
            Parsed {
                ..Default::default()
            }
        );
        // Namespaces a peer got wrong mean nothing.
        let p = parse_message(
            &msg("<message xmlns='jabber:client' id='m1' type='chat'>
            <replace xmlns='urn:xmpp:message-correct:1' id='a'/>
            <retract xmlns='urn:xmpp:message-retract:0' id='a'/>
            <request xmlns='urn:xmpp:receipt'/>
            <markable xmlns='urn:xmpp:chat-markers:1'/>
            <no-store xmlns='urn:xmpp:hint'/>
          </message>"),
            &own(),
        );
        assert_eq!(
            p,
            Parsed {
                id: Some("m1".into()),
                ..Default::default()
            }
        );
    }

    #[test]
    fn hostile_wrappers_are_refused() {
        // XEP-0280 §7, Example 11: Tybalt attempts a carbons impersonation
        // attack on Romeo.
        let romeo = BareJid::new("romeo@montague.example").unwrap();
        let forged = msg("<message xmlns='jabber:client'
         from='tybalt@capulet.example/home'
         to='romeo@montague.example'
         type='chat'>
  <received xmlns='urn:xmpp:carbons:2'>
    <forwarded xmlns='urn:xmpp:forward:0'>
      <message xmlns='jabber:client'
               from='juliet@capulet.example/balcony'
               to='romeo@montague.example/garden'
               type='chat'>
        <body>Thou shall meet me tonite, at our house's hall!</body>
      </message>
    </forwarded>
  </received>
</message>");
        assert!(unwrap_forwarded(&forged, &romeo).is_none());
        // A carbon or a result without a message in it, and a result whose
        // id is too long.
        for bad in [
            "<message xmlns='jabber:client' from='juliet@capulet.lit'><sent xmlns='urn:xmpp:carbons:2'/></message>".to_string(),
            "<message xmlns='jabber:client'><result xmlns='urn:xmpp:mam:2' id='a'><forwarded xmlns='urn:xmpp:forward:0'/></result></message>".to_string(),
            format!("<message xmlns='jabber:client'><result xmlns='urn:xmpp:mam:2' id='{}'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'/></forwarded></result></message>", "x".repeat(crate::xep::MAX_ID_LEN + 1)),
        ] {
            assert!(unwrap_forwarded(&msg(&bad), &own()).is_none(), "{bad}");
        }
        // A plain message is not wrapped.
        assert!(unwrap_forwarded(&msg("<message xmlns='jabber:client' from='romeo@montague.lit/orchard'><body>hi</body></message>"), &own()).is_none());
        // XEP-0280 §8, Example 13: a sent carbon.
        let sent = msg("<message xmlns='jabber:client'
        from='romeo@montague.example'
        to='romeo@montague.example/garden'
        type='chat'>
  <sent xmlns='urn:xmpp:carbons:2'>
    <forwarded xmlns='urn:xmpp:forward:0'>
      <message xmlns='jabber:client'
               to='juliet@capulet.example/balcony'
               from='romeo@montague.example/home'
               type='chat'>
        <body>Neither, fair saint, if either thee dislike.</body>
        <thread>0e3141cd80894871a68e6fe6b1ec56fa</thread>
      </message>
    </forwarded>
  </sent>
</message>");
        let u = unwrap_forwarded(&sent, &romeo).unwrap();
        assert_eq!(u.source, Source::Carbon);
        assert!(u.sent_by_own_client && u.archive.is_none());
    }
}
