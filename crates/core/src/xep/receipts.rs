//! XEP-0184: Message Delivery Receipts. Tern asks for a receipt on every
//! message with text and answers requests for the messages it stores.

use xmpp_parsers::minidom::Element;
use xmpp_parsers::receipts::{Received, Request};

use super::{bounded_id, xml_text};

/// `<request/>`: asks the recipient for a receipt.
pub(crate) fn request() -> Request {
    Request
}

/// `<received/>`: the receipt for message `id`.
pub(crate) fn received(id: &str) -> Received {
    Received { id: xml_text(id) }
}

/// Whether `el` asks for a receipt.
pub(crate) fn is_request(el: &Element) -> bool {
    Request::try_from(el.clone()).is_ok()
}

/// The id a receipt acknowledges, if usable.
pub(crate) fn read_received(el: &Element) -> Option<String> {
    let r = Received::try_from(el.clone()).ok()?;
    bounded_id(&r.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::{el, wire, MAX_ID_LEN};

    #[test]
    fn reads_the_xep_examples() {
        // XEP-0184 §7, Example 3: a content message with receipt requested.
        let m = el("<message xmlns='jabber:client'
    from='northumberland@shakespeare.lit/westminster'
    id='richard2-4.1.247'
    to='kingrichard@royalty.england.lit/throne'>
  <body>My lord, dispatch; read o'er these articles.</body>
  <request xmlns='urn:xmpp:receipts'/>
</message>");
        assert!(is_request(
            m.get_child("request", "urn:xmpp:receipts").unwrap()
        ));
        // XEP-0184 §7, Example 4: a message delivery receipt.
        let m = el("<message xmlns='jabber:client'
    from='kingrichard@royalty.england.lit/throne'
    id='bi29sg183b4v'
    to='northumberland@shakespeare.lit/westminster'>
  <received xmlns='urn:xmpp:receipts' id='richard2-4.1.247'/>
</message>");
        assert_eq!(
            read_received(m.get_child("received", "urn:xmpp:receipts").unwrap()).as_deref(),
            Some("richard2-4.1.247")
        );
    }

    #[test]
    fn hostile_receipts_are_refused() {
        let long = "x".repeat(MAX_ID_LEN + 1);
        for bad in [
            format!("<received xmlns='urn:xmpp:receipts' id='{long}'/>"),
            // Version 1.0 receipts had no id: nothing to acknowledge.
            "<received xmlns='urn:xmpp:receipts'/>".to_string(),
            "<received xmlns='urn:xmpp:receipt' id='a'/>".to_string(),
        ] {
            assert_eq!(read_received(&el(&bad)), None, "{bad}");
        }
        assert!(!is_request(&el("<request xmlns='urn:xmpp:receipt'/>")));
    }

    #[test]
    fn builders_round_trip() {
        assert!(is_request(&wire(request())));
        let r = wire(received("richard2-4.1.247"));
        assert!(r.is("received", "urn:xmpp:receipts"));
        assert_eq!(read_received(&r).as_deref(), Some("richard2-4.1.247"));
    }
}
