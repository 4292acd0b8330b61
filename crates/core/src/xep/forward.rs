//! XEP-0297: Stanza Forwarding. The wrapper carbons and archive results
//! put around a message, with the time it was first seen. The message
//! inside is read with its wrapper (`carbons`, `mam`).

use xmpp_parsers::minidom::Element;

use super::delay;

/// The stamp of a `<forwarded/>` (when the forwarded message was first
/// seen), in milliseconds since 1970, without reading the message.
pub(crate) fn read_stamp_ms(el: &Element) -> Option<i64> {
    if !el.is("forwarded", xmpp_parsers::ns::FORWARD) {
        return None;
    }
    delay::read_stamp_ms(el.get_child("delay", xmpp_parsers::ns::DELAY)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::el;

    /// XEP-0297 §3.1, Example 2: forwarding a message.
    const EXAMPLE: &str = "<message xmlns='jabber:client' to='mercutio@verona.lit' from='romeo@montague.lit/orchard' type='chat' id='28gs'>
  <body>A most courteous exposition!</body>
  <forwarded xmlns='urn:xmpp:forward:0'>
    <delay xmlns='urn:xmpp:delay' stamp='2010-07-10T23:08:25Z'/>
    <message from='juliet@capulet.lit/orchard'
             id='0202197'
             to='romeo@montague.lit'
             type='chat'
             xmlns='jabber:client'>
      <body>Yet I should kill thee with much cherishing.</body>
      <mood xmlns='http://jabber.org/protocol/mood'>
        <amorous/>
      </mood>
    </message>
  </forwarded>
</message>";

    #[test]
    fn reads_the_xep_example() {
        let m = el(EXAMPLE);
        let f = m.get_child("forwarded", "urn:xmpp:forward:0").unwrap();
        assert_eq!(read_stamp_ms(f), Some(1_278_803_305_000));
    }

    #[test]
    fn malformed_wrappers_have_no_stamp() {
        for bad in [
            "<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'/></forwarded>",
            "<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='soon'/></forwarded>",
            "<delay xmlns='urn:xmpp:delay' stamp='2010-07-10T23:08:25Z'/>",
            "<forwarded xmlns='urn:xmpp:forward:1'><delay xmlns='urn:xmpp:delay' stamp='2010-07-10T23:08:25Z'/></forwarded>",
        ] {
            assert_eq!(read_stamp_ms(&el(bad)), None, "{bad}");
        }
    }
}
