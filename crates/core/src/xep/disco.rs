//! XEP-0030: Service Discovery, the disco#info parts: asking what an entity
//! supports, and reading which node a query to Tern is about.

use xmpp_parsers::disco::DiscoInfoQuery;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;

/// Asks `to` what it supports, about `node` if given (the id is filled in
/// when sent).
pub(crate) fn info_request(to: Jid, node: Option<String>) -> Iq {
    Iq::from_get(String::new(), DiscoInfoQuery { node }).with_to(to)
}

/// The node a disco#info query asks about (`Some(None)`: the entity
/// itself); `None` if `el` is not a disco#info query.
pub(crate) fn requested_node(el: &Element) -> Option<Option<String>> {
    DiscoInfoQuery::try_from(el.clone()).ok().map(|q| q.node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::{el, wire};

    #[test]
    fn asks_and_reads_as_the_xeps_show() {
        // XEP-0030 §3.1, Example 1: querying for information.
        let q = el("<iq xmlns='jabber:client' type='get'
    from='romeo@montague.net/orchard'
    to='plays.shakespeare.lit'
    id='info1'>
  <query xmlns='http://jabber.org/protocol/disco#info'/>
</iq>");
        let query = q
            .get_child("query", "http://jabber.org/protocol/disco#info")
            .unwrap();
        assert_eq!(requested_node(query), Some(None));
        let Iq::Get { to, payload, .. } =
            info_request(Jid::new("plays.shakespeare.lit").unwrap(), None)
        else {
            panic!("not a get");
        };
        assert_eq!(
            to.map(|t| t.to_string()).as_deref(),
            Some("plays.shakespeare.lit")
        );
        assert_eq!(&wire(payload), query);

        // XEP-0115 §6.2, Example 3: a disco#info request for a caps node.
        let q = el("<iq xmlns='jabber:client' from='juliet@capulet.lit/balcony'
    id='disco1'
    to='romeo@montague.lit/orchard'
    type='get'>
  <query xmlns='http://jabber.org/protocol/disco#info'
         node='http://code.google.com/p/exodus#QgayPKawpkPSDYmwT/WM94uAlu0='/>
</iq>");
        let query = q
            .get_child("query", "http://jabber.org/protocol/disco#info")
            .unwrap();
        let node = "http://code.google.com/p/exodus#QgayPKawpkPSDYmwT/WM94uAlu0=";
        assert_eq!(requested_node(query), Some(Some(node.to_string())));
        let Iq::Get { payload, .. } = info_request(
            Jid::new("romeo@montague.lit/orchard").unwrap(),
            Some(node.into()),
        ) else {
            panic!("not a get");
        };
        assert_eq!(&wire(payload), query);
    }

    #[test]
    fn other_queries_are_not_disco_info() {
        assert_eq!(
            requested_node(&el(
                "<query xmlns='http://jabber.org/protocol/disco#items'/>"
            )),
            None
        );
        assert_eq!(requested_node(&el("<ping xmlns='urn:xmpp:ping'/>")), None);
    }
}
