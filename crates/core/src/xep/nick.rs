//! XEP-0172: User Nickname. Published to the user's PEP (read by contacts
//! through notifications) and put in subscription requests.

use xmpp_parsers::minidom::Element;
use xmpp_parsers::nick::Nick;

use super::{clean_text, xml_text};

/// Longest nickname kept, in characters.
pub(crate) const MAX_NICK: usize = 128;

/// A `<nick/>` element (empty: no nickname).
pub(crate) fn nick(name: &str) -> Nick {
    Nick(xml_text(name))
}

/// The nickname in a `<nick/>`, fit to show; `None` when empty.
pub(crate) fn read(el: &Element) -> Option<String> {
    let n = Nick::try_from(el.clone()).ok()?;
    clean_text(&n.0, MAX_NICK)
}

/// The nickname among a stanza's payloads (a subscription request's, XEP-0172
/// §4.1).
pub(crate) fn find(payloads: &[Element]) -> Option<String> {
    payloads
        .iter()
        .find(|p| p.is("nick", xmpp_parsers::ns::NICK))
        .and_then(read)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::{el, wire};

    #[test]
    fn reads_the_xep_examples() {
        // XEP-0172 §3, Example 1: a nickname.
        assert_eq!(
            read(&el(
                "<nick xmlns='http://jabber.org/protocol/nick'>Ishmael</nick>"
            ))
            .as_deref(),
            Some("Ishmael")
        );
        // XEP-0172 §4.1, Example 3: including a nickname with a
        // subscription request.
        let p = el("<presence xmlns='jabber:client' from='narrator@moby-dick.lit' to='starbuck@moby-dick.lit' type='subscribe'>
  <nick xmlns='http://jabber.org/protocol/nick'>Ishmael</nick>
</presence>");
        let payloads: Vec<Element> = p.children().cloned().collect();
        assert_eq!(find(&payloads).as_deref(), Some("Ishmael"));
    }

    #[test]
    fn hostile_nicknames_are_cleaned_and_bounded() {
        let long = "N".repeat(5000);
        let n = read(&el(&format!(
            "<nick xmlns='http://jabber.org/protocol/nick'>  {long}  </nick>"
        )))
        .unwrap();
        assert_eq!(n.chars().count(), MAX_NICK);
        assert_eq!(
            read(&el(
                "<nick xmlns='http://jabber.org/protocol/nick'>  </nick>"
            )),
            None
        );
        assert_eq!(
            read(&el("<nick xmlns='http://jabber.org/protocol/nick'/>")),
            None
        );
        assert_eq!(
            read(&el("<nick xmlns='urn:example:nick'>Ishmael</nick>")),
            None
        );
        assert_eq!(
            find(&[el("<nick xmlns='urn:example:nick'>Ishmael</nick>")]),
            None
        );
    }

    #[test]
    fn nick_round_trips_hostile_text() {
        let n = wire(nick("<b>&'\"]]>\u{1}"));
        assert!(n.is("nick", "http://jabber.org/protocol/nick"));
        assert_eq!(n.text(), "<b>&'\"]]>");
        assert_eq!(read(&n).as_deref(), Some("<b>&'\"]]>"));
        assert_eq!(wire(nick("")).text(), "");
    }

    #[test]
    fn the_wire_is_what_it_was() {
        // What profile publishing and subscription requests wrote as text
        // before the codecs.
        assert_eq!(
            wire(nick("Jule & <Co>")),
            el("<nick xmlns='http://jabber.org/protocol/nick'>Jule &amp; &lt;Co&gt;</nick>")
        );
        assert_eq!(
            wire(nick("")),
            el("<nick xmlns='http://jabber.org/protocol/nick'></nick>")
        );
    }
}
