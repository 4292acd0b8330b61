//! Protocol codecs: pure, synchronous reading and building of stanzas, one
//! file per XEP, on xmpp-parsers types. Nothing here touches the store, the
//! event hub or the network.
//!
//! Readers take what the network sent and return plain values, bounded
//! (ids, texts, lists) so that nothing a peer sends can grow without limit;
//! a malformed element reads as absent. Builders return xmpp-parsers types,
//! so every stanza Tern sends is serialised by one XML writer.

/// XEP-0454: OMEMO Media sharing (the `aesgcm://` links)
pub(crate) mod aesgcm;
/// XEP-0084: User Avatar
pub(crate) mod avatar;
/// XEP-0191: Blocking Command
pub(crate) mod blocking;
/// XEP-0402: PEP Native Bookmarks (and XEP-0048 bookmarks, read)
pub(crate) mod bookmarks;
/// XEP-0115: Entity Capabilities
pub(crate) mod caps;
/// XEP-0280: Message Carbons
pub(crate) mod carbons;
/// XEP-0085: Chat State Notifications
pub(crate) mod chat_states;
/// XEP-0308: Last Message Correction
pub(crate) mod correction;
/// XEP-0203: Delayed Delivery
pub(crate) mod delay;
/// XEP-0030: Service Discovery (the parts about Tern's own answers)
pub(crate) mod disco;
/// XEP-0215: External Service Discovery (STUN and TURN for calls)
pub(crate) mod extdisco;
/// XEP-0428: Fallback Indication
pub(crate) mod fallback;
/// XEP-0297: Stanza Forwarding
pub(crate) mod forward;
/// XEP-0334: Message Processing Hints
pub(crate) mod hints;
/// XEP-0249: Direct MUC Invitations (and XEP-0045 mediated invitations)
pub(crate) mod invite;
/// XEP-0166: Jingle, for voice and video calls (with XEP-0167 RTP,
/// XEP-0176 ICE-UDP, XEP-0320 DTLS-SRTP and XEP-0338 BUNDLE)
#[allow(
    dead_code,
    reason = "codecs for voice calls, which the engine does not place yet"
)]
pub(crate) mod jingle;
/// XEP-0353: Jingle Message Initiation
#[allow(
    dead_code,
    reason = "codecs for voice calls, which the engine does not place yet"
)]
pub(crate) mod jingle_message;
/// XEP-0313: Message Archive Management (with the XEP-0059 result set and
/// XEP-0004 form of its queries)
pub(crate) mod mam;
/// XEP-0333: Displayed Markers
pub(crate) mod markers;
/// XEP-0425: Moderated Message Retraction
pub(crate) mod moderation;
/// XEP-0045: Multi-User Chat (with XEP-0421 occupant ids and XEP-0410
/// self-ping)
pub(crate) mod muc;
/// XEP-0172: User Nickname
pub(crate) mod nick;
/// XEP-0384: OMEMO Encryption, version 0.3 (the wire side)
pub(crate) mod omemo;
/// Conversations' and Dino's draft "OMEMO DTLS-SRTP verification": a
/// call's DTLS fingerprint encrypted with OMEMO
pub(crate) mod omemo_dtls;
/// XEP-0066: Out of Band Data
pub(crate) mod oob;
/// XEP-0060: Publish-Subscribe (publishing to and reading the user's PEP)
pub(crate) mod pubsub;
/// XEP-0444: Message Reactions
pub(crate) mod reactions;
/// XEP-0184: Message Delivery Receipts
pub(crate) mod receipts;
/// XEP-0461: Message Replies
pub(crate) mod reply;
/// XEP-0424: Message Retraction
pub(crate) mod retraction;
/// XEP-0447: Stateless File Sharing (with XEP-0446 file metadata, XEP-0264
/// thumbnails and XEP-0367 attached sources)
pub(crate) mod sfs;
/// XEP-0359: Unique and Stable Stanza IDs
pub(crate) mod sid;
/// XEP-0363: HTTP File Upload
pub(crate) mod upload;
/// XEP-0054: vcard-temp
pub(crate) mod vcard;
/// XEP-0153: vCard-Based Avatars
pub(crate) mod vcard_update;

/// RFC 6120/6121 `<message/>`: the whole-message reader and builder, on
/// the XEP codecs above.
pub(crate) mod message;

/// Whether a stanza with this `from` comes from the user's own account as
/// the server speaks for it: no `from`, or the bare account JID (RFC 6121
/// §2.1.6, XEP-0280 §11, XEP-0191). A full JID of the account is another
/// of the user's clients, which must not pass for the server.
pub(crate) fn from_own_account(
    from: Option<&xmpp_parsers::jid::Jid>,
    own: &xmpp_parsers::jid::BareJid,
) -> bool {
    match from {
        None => true,
        Some(f) => f.resource().is_none() && f.to_bare() == *own,
    }
}

/// Whether `from` is the user's own server speaking for the account: the
/// bare account JID or its domain (what stamps offline delivery).
pub(crate) fn is_own_server(
    from: &xmpp_parsers::jid::Jid,
    own: &xmpp_parsers::jid::BareJid,
) -> bool {
    from.resource().is_none()
        && (from.to_bare() == *own || (from.node().is_none() && from.domain() == own.domain()))
}

/// Longest id accepted in references (message ids, origin-ids, stanza-ids).
pub(crate) const MAX_ID_LEN: usize = 256;

/// An id from the network, if it is not empty and not longer than
/// [`MAX_ID_LEN`] bytes.
pub(crate) fn bounded_id(id: &str) -> Option<String> {
    (!id.is_empty() && id.len() <= MAX_ID_LEN).then(|| id.to_string())
}

/// `s` without the characters XML 1.0 cannot carry (control characters
/// other than tab, line feed and carriage return; U+FFFE and U+FFFF). Every
/// text or attribute value a builder takes from the user or the store goes
/// through it: the XML writer refuses those characters.
pub(crate) fn xml_text(s: &str) -> String {
    s.chars()
        .filter(|&c| match c {
            '\t' | '\n' | '\r' => true,
            '\u{FFFE}' | '\u{FFFF}' => false,
            c => c >= ' ',
        })
        .collect()
}

/// `builder` with the attribute `name` (a constant, valid XML name) set to
/// `value`, without the characters XML cannot carry (see [`xml_text`]):
/// for the elements xmpp-parsers has no type for.
pub(crate) fn with_attr(
    builder: xmpp_parsers::minidom::ElementBuilder,
    name: &'static str,
    value: &str,
) -> xmpp_parsers::minidom::ElementBuilder {
    match xmpp_parsers::minidom::rxml::NcName::try_from(name) {
        Ok(name) => builder.attr(name, xml_text(value)),
        Err(_) => builder,
    }
}

/// Text from the network fit to show: trimmed, without control characters,
/// at most `max` characters; `None` when nothing is left.
pub(crate) fn clean_text(s: &str, max: usize) -> Option<String> {
    let t: String = s
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect();
    (!t.is_empty()).then_some(t)
}

/// Parses an element (tests only: readers get elements from the stream).
#[cfg(test)]
pub(crate) fn el(xml: &str) -> xmpp_parsers::minidom::Element {
    xml.parse().expect("test XML parses")
}

/// Parses an element written over several lines, without the whitespace
/// between its tags (tests only: to compare with what a builder makes).
#[cfg(test)]
pub(crate) fn tight(xml: &str) -> xmpp_parsers::minidom::Element {
    let mut out = String::with_capacity(xml.len());
    let mut pending = String::new();
    let mut after_tag = false;
    for c in xml.chars() {
        if after_tag && c.is_whitespace() {
            pending.push(c);
            continue;
        }
        if c != '<' {
            out.push_str(&pending);
        }
        pending.clear();
        out.push(c);
        after_tag = c == '>';
    }
    el(&out)
}

/// Serialises an element and parses it again, as a peer would see it.
#[cfg(test)]
pub(crate) fn wire(
    el: impl Into<xmpp_parsers::minidom::Element>,
) -> xmpp_parsers::minidom::Element {
    let el: xmpp_parsers::minidom::Element = el.into();
    String::from(&el).parse().expect("serialised XML parses")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_bounded() {
        assert_eq!(bounded_id("abc").as_deref(), Some("abc"));
        assert_eq!(bounded_id(""), None);
        assert!(bounded_id(&"x".repeat(MAX_ID_LEN)).is_some());
        assert_eq!(bounded_id(&"x".repeat(MAX_ID_LEN + 1)), None);
    }

    #[test]
    fn text_loses_what_xml_cannot_carry() {
        assert_eq!(
            xml_text("a\u{1}b\tc\nd\re\u{FFFE}\u{FFFF}f 🐢"),
            "ab\tc\nd\ref 🐢"
        );
        // What is left serialises and reads back the same.
        let body = xml_text("<script>alert('x')</script> & \"q\" \u{1}\u{1b}");
        let el = wire(
            xmpp_parsers::minidom::Element::builder("body", "jabber:client")
                .append(body.as_str())
                .build(),
        );
        assert_eq!(el.text(), "<script>alert('x')</script> & \"q\" ");
    }

    #[test]
    fn shown_text_is_trimmed_cleaned_and_bounded() {
        assert_eq!(clean_text("  Jule\u{7} ", 10).as_deref(), Some("Jule"));
        assert_eq!(clean_text(" \n ", 10), None);
        assert_eq!(clean_text("abcdef", 3).as_deref(), Some("abc"));
    }
}
