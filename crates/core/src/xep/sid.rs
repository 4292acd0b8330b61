//! XEP-0359: Unique and Stable Stanza IDs. The origin-id a sender puts on
//! its message (Tern's own are the message id) and the stanza-id an
//! archive gives it; only the user's own server's stanza-id is believed.

use xmpp_parsers::jid::BareJid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::stanza_id::{OriginId, StanzaId};

use super::{bounded_id, xml_text};

/// The `<origin-id/>` of a message Tern sends.
pub(crate) fn origin_id(id: &str) -> OriginId {
    OriginId { id: xml_text(id) }
}

/// The id of an `<origin-id/>`, if usable.
pub(crate) fn read_origin_id(el: &Element) -> Option<String> {
    let o = OriginId::try_from(el.clone()).ok()?;
    bounded_id(&o.id)
}

/// The id of a `<stanza-id/>` given by `archive` (a bare JID); `None` for
/// any other `by`, which anyone could have written.
pub(crate) fn read_stanza_id(el: &Element, archive: &BareJid) -> Option<String> {
    let s = StanzaId::try_from(el.clone()).ok()?;
    if s.by.resource().is_some() || s.by.to_bare() != *archive {
        return None;
    }
    bounded_id(&s.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::{el, wire, MAX_ID_LEN};

    fn room() -> BareJid {
        BareJid::new("room@muc.example.com").unwrap()
    }

    #[test]
    fn reads_the_xep_examples() {
        // XEP-0359 §2.2, Example 3: a message stanza with the stanza ID
        // extension (and an origin-id).
        let m = el("<message xmlns='jabber:client'
         to='room@muc.example.com'
         type='groupchat'>
  <body>Typical body text</body>
  <stanza-id xmlns='urn:xmpp:sid:0'
             id='5f3dbc5e-e1d3-4077-a492-693f3769c7ad'
             by='room@muc.example.com'/>
  <origin-id xmlns='urn:xmpp:sid:0' id='de305d54-75b4-431b-adb2-eb6b9e546013'/>
</message>");
        let stanza_id = m.get_child("stanza-id", "urn:xmpp:sid:0").unwrap();
        assert_eq!(
            read_stanza_id(stanza_id, &room()).as_deref(),
            Some("5f3dbc5e-e1d3-4077-a492-693f3769c7ad")
        );
        let origin = m.get_child("origin-id", "urn:xmpp:sid:0").unwrap();
        assert_eq!(
            read_origin_id(origin).as_deref(),
            Some("de305d54-75b4-431b-adb2-eb6b9e546013")
        );
    }

    #[test]
    fn only_the_named_archive_counts() {
        // XEP-0359 §2.1, Example 1, read by someone else's archive.
        let s = el("<stanza-id xmlns='urn:xmpp:sid:0'
           id='de305d54-75b4-431b-adb2-eb6b9e546013'
           by='room@muc.example.com'/>");
        let other = BareJid::new("juliet@capulet.lit").unwrap();
        assert_eq!(read_stanza_id(&s, &other), None);
        // A full JID is not the archive either.
        let s = el("<stanza-id xmlns='urn:xmpp:sid:0' id='x' by='room@muc.example.com/nick'/>");
        assert_eq!(read_stanza_id(&s, &room()), None);
    }

    #[test]
    fn hostile_ids_are_refused() {
        let long = "x".repeat(MAX_ID_LEN + 1);
        for bad in [
            format!("<origin-id xmlns='urn:xmpp:sid:0' id='{long}'/>"),
            "<origin-id xmlns='urn:xmpp:sid:0' id=''/>".to_string(),
            "<origin-id xmlns='urn:xmpp:sid:0'/>".to_string(),
            "<origin-id xmlns='urn:xmpp:sid:1' id='a'/>".to_string(),
        ] {
            assert_eq!(read_origin_id(&el(&bad)), None, "{bad}");
        }
        for bad in [
            format!("<stanza-id xmlns='urn:xmpp:sid:0' id='{long}' by='room@muc.example.com'/>"),
            "<stanza-id xmlns='urn:xmpp:sid:0' id='a'/>".to_string(),
            "<stanza-id xmlns='urn:xmpp:sid:0' by='room@muc.example.com'/>".to_string(),
            "<stanza-id xmlns='urn:xmpp:sid:0' id='a' by='@@'/>".to_string(),
        ] {
            assert_eq!(read_stanza_id(&el(&bad), &room()), None, "{bad}");
        }
    }

    #[test]
    fn origin_id_round_trips() {
        let o = wire(origin_id("abc\u{1}"));
        assert!(o.is("origin-id", "urn:xmpp:sid:0"));
        assert_eq!(read_origin_id(&o).as_deref(), Some("abc"));
    }
}
