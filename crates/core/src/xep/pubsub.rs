//! XEP-0060: Publish-Subscribe, as the user's PEP service (XEP-0163) uses
//! it: publishing an item (readable by anyone, when the server accepts the
//! publish-options), asking a contact's node for an item, and reading the
//! notifications the server pushes.

use xmpp_parsers::data_forms::{DataForm, DataFormType, Field};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::ns;
use xmpp_parsers::pubsub::event::{Event, Payload};
use xmpp_parsers::pubsub::pubsub::{Item, Items, Publish, PublishOptions};
use xmpp_parsers::pubsub::{ItemId, NodeName, PubSub};

use super::xml_text;

/// The form type of publish options (XEP-0060 §16.4.4).
const PUBLISH_OPTIONS: &str = "http://jabber.org/protocol/pubsub#publish-options";

/// Publishes `payload` as item `item_id` (the server names it when `None`)
/// of `node`; with `open`, asks for an open access model, so that anyone
/// may read it (XEP-0060 §7.1.5).
pub(crate) fn publish(node: &str, item_id: Option<&str>, payload: Element, open: bool) -> PubSub {
    PubSub::Publish {
        publish: Publish {
            node: NodeName(xml_text(node)),
            items: vec![Item {
                id: item_id.map(|i| ItemId(xml_text(i))),
                publisher: None,
                payload: Some(payload),
            }],
        },
        publish_options: open.then(|| PublishOptions {
            form: Some(DataForm::new(
                DataFormType::Submit,
                PUBLISH_OPTIONS,
                vec![Field::text_single("pubsub#access_model", "open")],
            )),
        }),
    }
}

/// The IQ that publishes (see [`publish`]; the id is filled in when sent).
pub(crate) fn publish_iq(node: &str, item_id: Option<&str>, payload: Element, open: bool) -> Iq {
    Iq::from_set(String::new(), publish(node, item_id, payload, open))
}

/// Asks `owner`'s `node` for item `item_id` (XEP-0060 §6.5.8; the id is
/// filled in when sent).
pub(crate) fn item_request(owner: Jid, node: &str, item_id: &str) -> Iq {
    let mut items = Items::new(&xml_text(node));
    items.items.push(Item {
        id: Some(ItemId(xml_text(item_id))),
        publisher: None,
        payload: None,
    });
    Iq::from_get(String::new(), PubSub::Items(items)).with_to(owner)
}

/// The items of an answer to an items request; `None` if it is not one.
/// Only the `<items/>` child is read: ejabberd adds a result set
/// (XEP-0059 `<set/>`) beside it, which the parser would refuse.
pub(crate) fn read_items(answer: Element) -> Option<Vec<Item>> {
    if !answer.is("pubsub", ns::PUBSUB) {
        return None;
    }
    let items = answer.get_child("items", ns::PUBSUB)?.clone();
    let answer = Element::builder("pubsub", ns::PUBSUB).append(items).build();
    match PubSub::try_from(answer).ok()? {
        PubSub::Items(items) => Some(items.items),
        _ => None,
    }
}

/// Whether `el` is a pubsub notification.
pub(crate) fn is_event(el: &Element) -> bool {
    el.is("event", ns::PUBSUB_EVENT)
}

/// What a notification of published items says: the node and the payload
/// of its last item (`None` when the item has none).
#[derive(Debug, PartialEq)]
pub(crate) struct Published {
    pub node: String,
    pub payload: Option<Element>,
}

/// Reads a notification of published items; `None` for any other
/// notification (retractions, purges, configuration changes...).
pub(crate) fn read_event(el: &Element) -> Option<Published> {
    match Event::try_from(el.clone()).ok()?.payload {
        Payload::Items {
            node, published, ..
        } => Some(Published {
            node: node.0,
            payload: published.into_iter().last().and_then(|i| i.payload),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::{el, wire};

    const NICK: &str = "http://jabber.org/protocol/nick";

    #[test]
    fn publishes_as_the_xep_shows() {
        // XEP-0060 §7.1.5, Example 114: publishing with options (here the
        // open access model Tern asks for, and a nickname as payload).
        let expected = el("<pubsub xmlns='http://jabber.org/protocol/pubsub'>
    <publish node='http://jabber.org/protocol/nick'>
      <item id='current'><nick xmlns='http://jabber.org/protocol/nick'>Ishmael</nick></item>
    </publish>
    <publish-options>
      <x xmlns='jabber:x:data' type='submit'>
        <field var='FORM_TYPE' type='hidden'>
          <value>http://jabber.org/protocol/pubsub#publish-options</value>
        </field>
        <field var='pubsub#access_model'>
          <value>open</value>
        </field>
      </x>
    </publish-options>
  </pubsub>");
        let nick = el("<nick xmlns='http://jabber.org/protocol/nick'>Ishmael</nick>");
        let built = wire(publish(NICK, Some("current"), nick.clone(), true));
        assert_eq!(
            PubSub::try_from(built.clone()).unwrap(),
            PubSub::try_from(expected).unwrap()
        );
        let field = built
            .get_child("publish-options", ns::PUBSUB)
            .and_then(|o| o.get_child("x", ns::DATA_FORMS))
            .and_then(|x| {
                x.children()
                    .find(|f| f.attr("var") == Some("pubsub#access_model"))
            })
            .unwrap();
        assert_eq!(
            field.attr("type"),
            None,
            "text-single, as the XEP writes it"
        );

        // XEP-0172 §4.3, Example 5: a plain publish, no item id.
        let plain = wire(publish(NICK, None, nick, false));
        assert!(plain.get_child("publish-options", ns::PUBSUB).is_none());
        let item = plain
            .get_child("publish", ns::PUBSUB)
            .and_then(|p| p.get_child("item", ns::PUBSUB))
            .unwrap();
        assert_eq!(item.attr("id"), None);
        assert_eq!(item.get_child("nick", NICK).unwrap().text(), "Ishmael");
    }

    #[test]
    fn publish_requests_build_from_hostile_text() {
        // Whatever the text, the request is well-formed XML that reads
        // back as the same values.
        let nick =
            el("<nick xmlns='http://jabber.org/protocol/nick'>&lt;b&gt;&amp;'\"]]&gt;</nick>");
        for open in [true, false] {
            let Iq::Set { payload, .. } = publish_iq(NICK, Some("id'\"<&"), nick.clone(), open)
            else {
                panic!("not a set");
            };
            let el = wire(payload);
            let publish = el.get_child("publish", ns::PUBSUB).unwrap();
            assert_eq!(publish.attr("node"), Some(NICK));
            let item = publish.get_child("item", ns::PUBSUB).unwrap();
            assert_eq!(item.attr("id"), Some("id'\"<&"));
            assert_eq!(item.get_child("nick", NICK).unwrap().text(), "<b>&'\"]]>");
            assert_eq!(el.get_child("publish-options", ns::PUBSUB).is_some(), open);
        }
    }

    #[test]
    fn asks_for_an_item_as_the_xep_shows() {
        // XEP-0084 §3.4, Example 6: subscriber requests last item by ItemID.
        let expected = el("<iq xmlns='jabber:client' type='get'
    from='romeo@montague.lit/home'
    to='juliet@capulet.lit'
    id='retrieve1'>
  <pubsub xmlns='http://jabber.org/protocol/pubsub'>
    <items node='urn:xmpp:avatar:data'>
      <item id='111f4b3c50d7b0df729d299bc6f8e9ef9066971f'/>
    </items>
  </pubsub>
</iq>");
        let iq = item_request(
            Jid::new("juliet@capulet.lit").unwrap(),
            "urn:xmpp:avatar:data",
            "111f4b3c50d7b0df729d299bc6f8e9ef9066971f",
        );
        let Iq::Get { to, payload, .. } = iq else {
            panic!("not a get");
        };
        assert_eq!(
            to.map(|t| t.to_string()).as_deref(),
            Some("juliet@capulet.lit")
        );
        assert_eq!(
            PubSub::try_from(wire(payload)).unwrap(),
            PubSub::try_from(expected.get_child("pubsub", ns::PUBSUB).unwrap().clone()).unwrap()
        );
    }

    #[test]
    fn reads_the_xep_answers() {
        // XEP-0084 §3.4, Example 7: PEP service returns avatar data.
        let answer = el("<pubsub xmlns='http://jabber.org/protocol/pubsub'>
    <items node='urn:xmpp:avatar:data'>
      <item id='111f4b3c50d7b0df729d299bc6f8e9ef9066971f'>
        <data xmlns='urn:xmpp:avatar:data'>
          qANQR1DBwU4DX7jmYZnncm...
        </data>
      </item>
    </items>
  </pubsub>");
        let items = read_items(answer).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(
            items[0].id.as_ref().map(|i| i.0.as_str()),
            Some("111f4b3c50d7b0df729d299bc6f8e9ef9066971f")
        );
        assert!(items[0]
            .payload
            .as_ref()
            .unwrap()
            .is("data", "urn:xmpp:avatar:data"));
        assert!(read_items(el(
            "<pubsub xmlns='http://jabber.org/protocol/pubsub'><create node='x'/></pubsub>"
        ))
        .is_none());
        assert!(read_items(el("<query xmlns='jabber:iq:roster'/>")).is_none());
        // ejabberd's answer carries a result set beside the items.
        let answer = el("<pubsub xmlns='http://jabber.org/protocol/pubsub'>\
            <set xmlns='http://jabber.org/protocol/rsm'><count>1</count>\
            <first index='0'>2026-12-05T11:22:04.035187Z</first>\
            <last>2026-12-05T11:22:04.035187Z</last></set>\
            <items node='n'><item id='current'><x xmlns='urn:x'/></item></items></pubsub>");
        let items = read_items(answer).unwrap();
        assert_eq!(items.len(), 1);
        assert!(items[0].payload.as_ref().unwrap().is("x", "urn:x"));
    }

    #[test]
    fn reads_the_xep_notifications() {
        // XEP-0172 §4.3, Example 6: PEP node generates notifications.
        let m = el(
            "<message xmlns='jabber:client' from='narrator@moby-dick.lit'
         to='starbuck@moby-dick.lit'
         type='headline'
         id='foo'>
  <event xmlns='http://jabber.org/protocol/pubsub#event'>
    <items node='http://jabber.org/protocol/nick'>
      <item>
        <nick xmlns='http://jabber.org/protocol/nick'>CallMeIshmael</nick>
      </item>
    </items>
  </event>
  <addresses xmlns='http://jabber.org/protocol/address'>
    <address type='replyto' jid='narrator@moby-dick.lit/pda'/>
  </addresses>
</message>",
        );
        let event = m.get_child("event", ns::PUBSUB_EVENT).unwrap();
        assert!(is_event(event));
        let p = read_event(event).unwrap();
        assert_eq!(p.node, NICK);
        assert_eq!(p.payload.unwrap().text(), "CallMeIshmael");

        // The last of several items counts; a retraction has no payload.
        let p = read_event(&el("<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='n'>
            <item id='1'><a xmlns='urn:example'/></item><item id='2'><b xmlns='urn:example'/></item></items></event>"))
        .unwrap();
        assert!(p.payload.unwrap().is("b", "urn:example"));
        let p = read_event(&el("<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='n'><retract id='1'/></items></event>")).unwrap();
        assert_eq!((p.node.as_str(), p.payload), ("n", None));
        assert!(read_event(&el(
            "<event xmlns='http://jabber.org/protocol/pubsub#event'><purge node='n'/></event>"
        ))
        .is_none());
        assert!(read_event(&el(
            "<event xmlns='http://jabber.org/protocol/pubsub#event'><items/></event>"
        ))
        .is_none());
    }

    /// How profile publishing was written before the codecs (values here
    /// need no escaping). Kept to check that the wire did not change.
    fn as_text(node: &str, item_id: Option<&str>, payload: &str, open: bool) -> String {
        let id = item_id.map(|i| format!(" id='{i}'")).unwrap_or_default();
        let options = if open {
            "<publish-options><x xmlns='jabber:x:data' type='submit'>\
               <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
               <field var='pubsub#access_model'><value>open</value></field>\
             </x></publish-options>"
        } else {
            ""
        };
        format!(
            "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='{node}'><item{id}>{payload}</item></publish>{options}</pubsub>"
        )
    }

    #[test]
    fn the_wire_is_what_it_was() {
        let nick = "<nick xmlns='http://jabber.org/protocol/nick'>Ishmael</nick>";
        for (item_id, open) in [
            (Some("current"), true),
            (Some("current"), false),
            (None, true),
        ] {
            let before = el(&as_text(NICK, item_id, nick, open));
            assert_eq!(wire(publish(NICK, item_id, el(nick), open)), before);
        }
        let before = el("<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:avatar:data'><item id='111f4b3c50d7b0df729d299bc6f8e9ef9066971f'/></items></pubsub>");
        let Iq::Get { payload, .. } = item_request(
            Jid::new("juliet@capulet.lit").unwrap(),
            "urn:xmpp:avatar:data",
            "111f4b3c50d7b0df729d299bc6f8e9ef9066971f",
        ) else {
            panic!("not a get");
        };
        assert_eq!(wire(payload), before);
    }
}
