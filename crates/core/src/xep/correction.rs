//! XEP-0308: Last Message Correction. A correction names the message it
//! replaces; the pipeline only applies it to the same sender's message.

use xmpp_parsers::message::Id;
use xmpp_parsers::message_correct::Replace;
use xmpp_parsers::minidom::Element;

use super::{bounded_id, xml_text};

/// `<replace/>`: this message corrects message `id`.
pub(crate) fn replace(id: &str) -> Replace {
    Replace {
        id: Id(xml_text(id)),
    }
}

/// The id of the message a correction replaces, if usable.
pub(crate) fn read(el: &Element) -> Option<String> {
    let r = Replace::try_from(el.clone()).ok()?;
    bounded_id(&r.id.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::{el, wire, MAX_ID_LEN};

    #[test]
    fn reads_the_xep_example() {
        // XEP-0308 §3, Example 4: user corrects the message and sends.
        let m = el(
            "<message xmlns='jabber:client' to='juliet@capulet.net/balcony' id='good1'>
  <body>But soft, what light through yonder window breaks?</body>
  <replace id='bad1' xmlns='urn:xmpp:message-correct:0'/>
</message>",
        );
        let r = m
            .get_child("replace", "urn:xmpp:message-correct:0")
            .unwrap();
        assert_eq!(read(r).as_deref(), Some("bad1"));
    }

    #[test]
    fn hostile_corrections_are_refused() {
        let long = "x".repeat(MAX_ID_LEN + 1);
        for bad in [
            format!("<replace xmlns='urn:xmpp:message-correct:0' id='{long}'/>"),
            "<replace xmlns='urn:xmpp:message-correct:0'/>".to_string(),
            "<replace xmlns='urn:xmpp:message-correct:0' id=''/>".to_string(),
            "<replace xmlns='urn:xmpp:message-correct:1' id='a'/>".to_string(),
        ] {
            assert_eq!(read(&el(&bad)), None, "{bad}");
        }
    }

    #[test]
    fn replace_round_trips() {
        let r = wire(replace("bad1"));
        assert!(r.is("replace", "urn:xmpp:message-correct:0"));
        assert_eq!(read(&r).as_deref(), Some("bad1"));
    }
}
