//! XEP-0333: Displayed Markers. Tern marks its messages with text as
//! markable and tells the peer which of theirs was displayed last.

use xmpp_parsers::displayed_markers::{Displayed, Markable};
use xmpp_parsers::message::Id;
use xmpp_parsers::minidom::Element;

use super::{bounded_id, xml_text};

/// `<markable/>`: the sender would like to know when it is displayed.
pub(crate) fn markable() -> Markable {
    Markable
}

/// `<displayed/>`: message `id` (and those before it) was displayed.
pub(crate) fn displayed(id: &str) -> Displayed {
    Displayed {
        id: Id(xml_text(id)),
    }
}

/// Whether `el` marks its message as markable.
pub(crate) fn is_markable(el: &Element) -> bool {
    Markable::try_from(el.clone()).is_ok()
}

/// The id of the message a `<displayed/>` marker is for, if usable.
pub(crate) fn read_displayed(el: &Element) -> Option<String> {
    let d = Displayed::try_from(el.clone()).ok()?;
    bounded_id(&d.id.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::{el, wire, MAX_ID_LEN};

    const NS: &str = "urn:xmpp:chat-markers:0";

    #[test]
    fn reads_the_xep_examples() {
        // XEP-0333 §4.1, Example 3: Romeo sends a message to Juliet.
        let m = el("<message xmlns='jabber:client' to='juliet@capulet.lit' from='romeo@montegue.lit/orchard' id='the-msg-1'>
  <body>Hi. How are you?</body>
  <markable xmlns='urn:xmpp:chat-markers:0'/>
  <request xmlns='urn:xmpp:receipts'/>
</message>");
        assert!(is_markable(m.get_child("markable", NS).unwrap()));
        // XEP-0333 §4.2, Example 4: Juliet lets Romeo know she has
        // displayed the message.
        let m = el("<message xmlns='jabber:client' to='romeo@montegue.lit' from='juliet@capulet.let/balcony'>
   <displayed xmlns='urn:xmpp:chat-markers:0' id='the-msg-1'/>
</message>");
        assert_eq!(
            read_displayed(m.get_child("displayed", NS).unwrap()).as_deref(),
            Some("the-msg-1")
        );
    }

    #[test]
    fn hostile_markers_are_refused() {
        let long = "x".repeat(MAX_ID_LEN + 1);
        for bad in [
            format!("<displayed xmlns='urn:xmpp:chat-markers:0' id='{long}'/>"),
            "<displayed xmlns='urn:xmpp:chat-markers:0'/>".to_string(),
            "<displayed xmlns='urn:xmpp:chat-markers:1' id='a'/>".to_string(),
        ] {
            assert_eq!(read_displayed(&el(&bad)), None, "{bad}");
        }
        assert!(!is_markable(&el(
            "<markable xmlns='urn:xmpp:chat-markers:1'/>"
        )));
    }

    #[test]
    fn builders_round_trip() {
        assert!(is_markable(&wire(markable())));
        let d = wire(displayed("the-msg-1"));
        assert!(d.is("displayed", NS));
        assert_eq!(read_displayed(&d).as_deref(), Some("the-msg-1"));
    }
}
