//! XEP-0191: Blocking Command. The blocklist is the server's: Tern asks for
//! it, blocks and unblocks one address at a time, and follows the pushes
//! the server sends to all of the user's clients.

use xmpp_parsers::blocking::{Block, BlocklistRequest, BlocklistResult, Unblock};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;

/// Asks for the blocklist (which also subscribes to its pushes).
pub(crate) fn blocklist_request() -> Iq {
    Iq::from_get(String::new(), BlocklistRequest)
}

/// The addresses in an answer to [`blocklist_request`]; `None` if it is
/// not a blocklist.
pub(crate) fn read_blocklist(answer: Element) -> Option<Vec<String>> {
    let list = BlocklistResult::try_from(answer).ok()?;
    Some(list.items.iter().map(Jid::to_string).collect())
}

/// Blocks `who`.
pub(crate) fn block(who: Jid) -> Iq {
    Iq::from_set(String::new(), Block { items: vec![who] })
}

/// Unblocks `who`. (An `<unblock/>` without items unblocks everyone: this
/// never builds one.)
pub(crate) fn unblock(who: Jid) -> Iq {
    Iq::from_set(String::new(), Unblock { items: vec![who] })
}

/// A change pushed by the server.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Push {
    /// These addresses are now blocked.
    Blocked(Vec<String>),
    /// These addresses are no longer blocked.
    Unblocked(Vec<String>),
    /// Nobody is blocked any more.
    UnblockedAll,
}

/// Reads a blocklist push; `None` if `el` is none.
pub(crate) fn read_push(el: &Element) -> Option<Push> {
    if let Ok(b) = Block::try_from(el.clone()) {
        return Some(Push::Blocked(b.items.iter().map(Jid::to_string).collect()));
    }
    let u = Unblock::try_from(el.clone()).ok()?;
    Some(if u.items.is_empty() {
        Push::UnblockedAll
    } else {
        Push::Unblocked(u.items.iter().map(Jid::to_string).collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::{el, wire};

    const NS: &str = "urn:xmpp:blocking";

    fn payload(iq: Iq) -> Element {
        match iq {
            Iq::Get { payload, .. } | Iq::Set { payload, .. } => wire(payload),
            _ => panic!("not a request"),
        }
    }

    #[test]
    fn asks_as_the_xep_shows() {
        let romeo = || Jid::new("romeo@montague.net").unwrap();
        // XEP-0191 §3.2, Example 3: client requests blocklist.
        let expected = el("<iq xmlns='jabber:client' type='get' id='blocklist1'>
  <blocklist xmlns='urn:xmpp:blocking'/>
</iq>");
        assert_eq!(
            Some(&payload(blocklist_request())),
            expected.get_child("blocklist", NS)
        );
        // XEP-0191 §3.3, Example 6: block command.
        let expected = el(
            "<iq xmlns='jabber:client' from='juliet@capulet.com/chamber' type='set' id='block1'>
  <block xmlns='urn:xmpp:blocking'>
    <item jid='romeo@montague.net'/>
  </block>
</iq>",
        );
        assert_eq!(
            Block::try_from(payload(block(romeo()))).unwrap(),
            Block::try_from(expected.get_child("block", NS).unwrap().clone()).unwrap()
        );
        // XEP-0191 §3.4, Example 10: unblock JID command.
        let expected = el("<iq xmlns='jabber:client' type='set' id='unblock1'>
  <unblock xmlns='urn:xmpp:blocking'>
    <item jid='romeo@montague.net'/>
  </unblock>
</iq>");
        let built = payload(unblock(romeo()));
        assert_eq!(built.children().count(), 1, "never an unblock-all");
        assert_eq!(
            Unblock::try_from(built).unwrap(),
            Unblock::try_from(expected.get_child("unblock", NS).unwrap().clone()).unwrap()
        );
    }

    #[test]
    fn reads_the_xep_answers_and_pushes() {
        // XEP-0191 §3.2, Examples 4 and 5: server returns the blocklist.
        let list = el("<blocklist xmlns='urn:xmpp:blocking'>
    <item jid='romeo@montague.net'/>
    <item jid='iago@shakespeare.lit'/>
  </blocklist>");
        assert_eq!(
            read_blocklist(list),
            Some(vec![
                "romeo@montague.net".into(),
                "iago@shakespeare.lit".into()
            ])
        );
        assert_eq!(
            read_blocklist(el("<blocklist xmlns='urn:xmpp:blocking'/>")),
            Some(Vec::new())
        );
        assert_eq!(
            read_blocklist(el("<query xmlns='jabber:iq:roster'/>")),
            None
        );
        // XEP-0191 §3.3, Example 8: block push.
        assert_eq!(
            read_push(&el(
                "<block xmlns='urn:xmpp:blocking'><item jid='romeo@montague.net'/></block>"
            )),
            Some(Push::Blocked(vec!["romeo@montague.net".into()]))
        );
        // XEP-0191 §3.4, Example 12: unblock push.
        assert_eq!(
            read_push(&el(
                "<unblock xmlns='urn:xmpp:blocking'><item jid='romeo@montague.net'/></unblock>"
            )),
            Some(Push::Unblocked(vec!["romeo@montague.net".into()]))
        );
        // XEP-0191 §3.5, Example 15: unblock all push.
        assert_eq!(
            read_push(&el("<unblock xmlns='urn:xmpp:blocking'/>")),
            Some(Push::UnblockedAll)
        );
    }

    #[test]
    fn malformed_pushes_are_nothing() {
        assert_eq!(
            read_push(&el(
                "<block xmlns='urn:xmpp:blocking'><item jid='@@'/></block>"
            )),
            None
        );
        assert_eq!(
            read_push(&el("<block xmlns='urn:xmpp:blocking'><item/></block>")),
            None
        );
        assert_eq!(
            read_push(&el("<blocklist xmlns='urn:xmpp:blocking'/>")),
            None
        );
        assert_eq!(
            read_push(&el("<unblock xmlns='urn:xmpp:blocking:1'/>")),
            None
        );
    }
}
