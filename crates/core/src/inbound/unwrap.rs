//! Stage 1: open carbons (XEP-0280) and archive results (XEP-0313). Only
//! wrappers from the account's own server (or bare JID) are trusted; a
//! wrapper from anyone else is dropped, never read as a plain message. A
//! page of a group chat's own archive comes from the room: only its
//! archive results are opened there.

use xmpp_parsers::jid::BareJid;

use super::flow::{Flow, Opened, Step};
use crate::xep::message::{unwrap_forwarded, Source};

pub(crate) fn run(own: &BareJid, archive_of: Option<&BareJid>, flow: &mut Flow) -> Step {
    let msg = &flow.stanza;
    let opened = match archive_of {
        Some(room) => unwrap_forwarded(msg, room).filter(|u| u.source == Source::Archive),
        None => unwrap_forwarded(msg, own),
    };
    flow.opened = Some(match opened {
        Some(u) => Opened {
            message: u.message,
            source: u.source,
            sent_by_own_client: u.sent_by_own_client,
            archive: u.archive.map(|(id, stamp, _query)| (id, stamp)),
        },
        None => {
            let wrapper = msg
                .payloads
                .iter()
                .any(|p| crate::xep::carbons::is_carbon(p) || crate::xep::mam::is_result(p));
            if wrapper {
                return Step::Drop("a forwarded message not from the account's own server");
            }
            Opened {
                message: msg.clone(),
                source: Source::Live,
                sent_by_own_client: false,
                archive: None,
            }
        }
    });
    Step::Next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::flow::Flow;
    use xmpp_parsers::message::Message;
    use xmpp_parsers::minidom::Element;

    pub(crate) fn own() -> BareJid {
        BareJid::new("juliet@capulet.lit").unwrap()
    }

    fn flow(xml: &str) -> Flow {
        Flow::new(
            Message::try_from(xml.parse::<Element>().unwrap()).unwrap(),
            None,
        )
    }

    #[test]
    fn a_plain_message_is_live() {
        let mut f = flow("<message xmlns='jabber:client' from='romeo@montague.lit/orchard' type='chat'><body>hi</body></message>");
        assert_eq!(run(&own(), None, &mut f), Step::Next);
        let o = f.opened.unwrap();
        assert_eq!(o.source, Source::Live);
        assert!(o.archive.is_none());
    }

    #[test]
    fn a_carbon_from_the_own_account_is_opened() {
        // XEP-0280 §7, example 12 (a sent carbon).
        let mut f = flow("<message xmlns='jabber:client' from='juliet@capulet.lit' to='juliet@capulet.lit/balcony' type='chat'>
              <sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>
                <message xmlns='jabber:client' to='romeo@montague.lit/garden' from='juliet@capulet.lit/home' type='chat'>
                  <body>Neither, fair saint, if either thee dislike.</body></message>
              </forwarded></sent></message>");
        assert_eq!(run(&own(), None, &mut f), Step::Next);
        let o = f.opened.unwrap();
        assert_eq!(o.source, Source::Carbon);
        assert!(o.sent_by_own_client);
        assert_eq!(
            o.message.to.unwrap().to_string(),
            "romeo@montague.lit/garden"
        );
    }

    #[test]
    fn an_archive_result_keeps_its_id_and_stamp() {
        // XEP-0313 §4.2, example 3.
        let mut f = flow("<message xmlns='jabber:client' id='aeb213' to='juliet@capulet.lit/chamber'>
              <result xmlns='urn:xmpp:mam:2' queryid='f27' id='28482-98726-73623'>
                <forwarded xmlns='urn:xmpp:forward:0'>
                  <delay xmlns='urn:xmpp:delay' stamp='2010-07-10T23:08:25Z'/>
                  <message xmlns='jabber:client' to='juliet@capulet.lit/balcony' from='romeo@montague.lit/orchard' type='chat'>
                    <body>Call me but love, and I'll be new baptized; Henceforth I never will be Romeo.</body>
                  </message></forwarded></result></message>");
        assert_eq!(run(&own(), None, &mut f), Step::Next);
        let o = f.opened.unwrap();
        assert_eq!(o.source, Source::Archive);
        assert_eq!(
            o.archive,
            Some(("28482-98726-73623".to_string(), Some(1_278_803_305_000)))
        );
    }

    #[test]
    fn a_forged_wrapper_is_dropped() {
        let mut f = flow("<message xmlns='jabber:client' from='mallory@evil.example/x' type='chat'>
              <received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>
                <message xmlns='jabber:client' from='romeo@montague.lit/garden' type='chat'><body>forged</body></message>
              </forwarded></received></message>");
        assert!(matches!(run(&own(), None, &mut f), Step::Drop(_)));
        let mut f = flow("<message xmlns='jabber:client' from='mallory@evil.example/x'>
              <result xmlns='urn:xmpp:mam:2' id='x'><forwarded xmlns='urn:xmpp:forward:0'>
                <message xmlns='jabber:client' from='romeo@montague.lit/garden' type='chat'><body>forged</body></message>
              </forwarded></result></message>");
        assert!(matches!(run(&own(), None, &mut f), Step::Drop(_)));
    }
}
