//! XEP-0280: Message Carbons. Enabling them at session start, and reading
//! the copies the server sends of what the user's other clients sent and
//! received. Whether a carbon is believed (only from the user's own bare
//! JID) is decided by the caller, which knows the account.

use xmpp_parsers::carbons::{Enable, Received, Sent};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::message::Message;
use xmpp_parsers::minidom::Element;

/// The IQ that enables carbons for this session (the id is filled in when
/// sent).
pub(crate) fn enable() -> Iq {
    Iq::from_set(String::new(), Enable)
}

/// Whether `el` is a carbon wrapper (`<received/>` or `<sent/>`).
pub(crate) fn is_carbon(el: &Element) -> bool {
    el.ns() == xmpp_parsers::ns::CARBONS && matches!(el.name(), "received" | "sent")
}

/// The message a carbon carries, and whether the user's other client sent
/// it (`<sent/>`) rather than received it.
pub(crate) fn read(el: &Element) -> Option<(Message, bool)> {
    if let Ok(r) = Received::try_from(el.clone()) {
        return Some((r.forwarded.message, false));
    }
    let s = Sent::try_from(el.clone()).ok()?;
    Some((s.forwarded.message, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::{el, wire};

    const NS: &str = "urn:xmpp:carbons:2";

    #[test]
    fn enables_as_the_xep_shows() {
        // XEP-0280 §4, Example 3: client enables carbons.
        let expected = el("<iq xmlns='jabber:client'
    from='romeo@montague.example/garden'
    id='enable1'
    type='set'>
  <enable xmlns='urn:xmpp:carbons:2'/>
</iq>");
        let Iq::Set { payload, .. } = enable() else {
            panic!("not a set");
        };
        let payload = wire(payload);
        assert_eq!(Some(&payload), expected.get_child("enable", NS));
        // What the session start sends today, as text.
        assert_eq!(payload, el("<enable xmlns='urn:xmpp:carbons:2'/>"));
    }

    #[test]
    fn reads_the_xep_examples() {
        // XEP-0280 §7, Example 10: server sends carbon to Romeo's other
        // clients.
        let m = el("<message xmlns='jabber:client'
         from='romeo@montague.example'
         to='romeo@montague.example/home'
         type='chat'>
  <received xmlns='urn:xmpp:carbons:2'>
    <forwarded xmlns='urn:xmpp:forward:0'>
      <message xmlns='jabber:client'
               from='juliet@capulet.example/balcony'
               to='romeo@montague.example/garden'
               type='chat'>
        <body>What man art thou that, thus bescreen'd in night, so stumblest on my counsel?</body>
        <thread>0e3141cd80894871a68e6fe6b1ec56fa</thread>
      </message>
    </forwarded>
  </received>
</message>");
        let c = m.get_child("received", NS).unwrap();
        assert!(is_carbon(c));
        let (inner, sent) = read(c).unwrap();
        assert!(!sent);
        assert_eq!(
            inner.from.map(|f| f.to_string()).as_deref(),
            Some("juliet@capulet.example/balcony")
        );

        // XEP-0280 §8, Example 13: Romeo's other carbons-enabled clients
        // receive a copy.
        let m = el("<message xmlns='jabber:client'
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
        let c = m.get_child("sent", NS).unwrap();
        assert!(is_carbon(c));
        let (inner, sent) = read(c).unwrap();
        assert!(sent);
        assert_eq!(
            inner.bodies.values().next().map(String::as_str),
            Some("Neither, fair saint, if either thee dislike.")
        );
    }

    #[test]
    fn malformed_carbons_are_nothing() {
        assert!(read(&el("<received xmlns='urn:xmpp:carbons:2'/>")).is_none());
        assert!(read(&el(
            "<sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'/></sent>"
        ))
        .is_none());
        assert!(!is_carbon(&el("<private xmlns='urn:xmpp:carbons:2'/>")));
        assert!(!is_carbon(&el("<received xmlns='urn:xmpp:carbons:1'/>")));
    }
}
