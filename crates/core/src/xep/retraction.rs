//! XEP-0424: Message Retraction. A retraction names the message it removes
//! (its origin-id); the pipeline only applies it to the same sender's
//! message. It goes with a fallback body for clients without retractions,
//! marked as such (XEP-0428), and a `<store/>` hint (XEP-0334) so that
//! archives keep it for the user's other devices.

use xmpp_parsers::message_retract::Retract;
use xmpp_parsers::minidom::Element;

use super::{bounded_id, fallback, hints, xml_text};

/// The payloads retracting message `id`, in the order Tern sends them:
/// `<retract/>`, `<fallback/>` for the body, `<store/>`.
pub(crate) fn retraction(id: &str) -> [Element; 3] {
    [
        Retract { id: xml_text(id) }.into(),
        fallback::whole_message(xmpp_parsers::ns::MESSAGE_RETRACT).into(),
        hints::store().into(),
    ]
}

/// The id of the message a retraction removes, if usable.
pub(crate) fn read(el: &Element) -> Option<String> {
    let r = Retract::try_from(el.clone()).ok()?;
    bounded_id(&r.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::{el, wire, MAX_ID_LEN};

    const NS: &str = "urn:xmpp:message-retract:1";

    #[test]
    fn reads_the_xep_example() {
        // XEP-0424 §3, Example 4: the client sends out a retraction.
        let m = el("<message xmlns='jabber:client' type='chat' to='lord@capulet.example' id='retract-message-1'>
  <retract id=\"wrong-recipient-1\" xmlns='urn:xmpp:message-retract:1'/>
  <fallback xmlns=\"urn:xmpp:fallback:0\" for='urn:xmpp:message-retract:1'/>
  <body>/me retracted a previous message, but it's unsupported by your client.</body>
  <store xmlns=\"urn:xmpp:hints\"/>
</message>");
        assert_eq!(
            read(m.get_child("retract", NS).unwrap()).as_deref(),
            Some("wrong-recipient-1")
        );
    }

    #[test]
    fn hostile_retractions_are_refused() {
        let long = "x".repeat(MAX_ID_LEN + 1);
        for bad in [
            format!("<retract xmlns='urn:xmpp:message-retract:1' id='{long}'/>"),
            "<retract xmlns='urn:xmpp:message-retract:1'/>".to_string(),
            // Version 0 retracted through XEP-0422 fastening, by stanza id.
            "<retract xmlns='urn:xmpp:message-retract:0' id='a'/>".to_string(),
        ] {
            assert_eq!(read(&el(&bad)), None, "{bad}");
        }
    }

    #[test]
    fn builds_what_the_xep_shows() {
        let [retract, fallback, store] = retraction("wrong-recipient-1").map(wire);
        assert!(retract.is("retract", NS));
        assert_eq!(read(&retract).as_deref(), Some("wrong-recipient-1"));
        assert!(fallback.is("fallback", "urn:xmpp:fallback:0"));
        assert_eq!(fallback.attr("for"), Some(NS));
        assert_eq!(fallback.children().count(), 0, "the whole body");
        assert!(store.is("store", "urn:xmpp:hints"));
    }
}
