//! XEP-0402: PEP Native Bookmarks, the rooms the user has joined (and
//! which to join on connecting), kept in the user's PEP node
//! `urn:xmpp:bookmarks:1`, one item per room. XEP-0048 bookmarks in
//! XEP-0049 private storage are read too, for accounts that still keep
//! their rooms there.

use xmpp_parsers::data_forms::{DataForm, DataFormType, Field};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::ns;
use xmpp_parsers::private::Query as PrivateQuery;
use xmpp_parsers::pubsub::owner::{Owner, Payload as OwnerPayload};
use xmpp_parsers::pubsub::pubsub::{Item, Items, Publish, PublishOptions, Retract};
use xmpp_parsers::pubsub::{ItemId, NodeName, PubSub};

use super::muc::nick_of;
use super::{clean_text, with_attr, xml_text};

/// The PEP node (and namespace) of bookmarks.
pub(crate) const NS_BOOKMARKS2: &str = "urn:xmpp:bookmarks:1";
/// The form type of publish options (XEP-0060 §16.4.4).
const PUBLISH_OPTIONS: &str = "http://jabber.org/protocol/pubsub#publish-options";
/// Most bookmarks read from one answer or notification.
const MAX_BOOKMARKS: usize = 1000;
/// Longest bookmark name shown, in characters.
const MAX_NAME: usize = 200;
/// Longest room password kept, in bytes.
const MAX_PASSWORD: usize = 1023;

/// One bookmarked room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bookmark {
    /// The room.
    pub room: BareJid,
    /// The name the user gave it.
    pub name: Option<String>,
    /// The nickname to join with.
    pub nick: Option<String>,
    /// The room's password.
    pub password: Option<String>,
    /// Join it on connecting.
    pub autojoin: bool,
    /// Other clients' `<extensions/>`, kept to write back unchanged.
    pub extensions: Option<Element>,
}

/// A room JID from the network: a bare JID with a node.
fn room_of(s: &str) -> Option<BareJid> {
    BareJid::new(s).ok().filter(|j| j.node().is_some())
}

/// A room password from the network, if usable.
fn password_of(el: Option<&Element>) -> Option<String> {
    let p = el?.text();
    (!p.is_empty() && p.len() <= MAX_PASSWORD).then_some(p)
}

/// Reads a `<conference/>` (of either version) for `room`.
fn read_conference(room: BareJid, c: &Element, ns: &str) -> Bookmark {
    Bookmark {
        room,
        name: c.attr("name").and_then(|n| clean_text(n, MAX_NAME)),
        nick: c
            .get_child("nick", ns)
            .and_then(|n| nick_of(n.text().trim())),
        password: password_of(c.get_child("password", ns)),
        autojoin: matches!(c.attr("autojoin"), Some("true" | "1")),
        extensions: c.get_child("extensions", ns).cloned(),
    }
}

/// Reads one pubsub item (of the answer or of a notification).
fn read_item(item: &Element) -> Option<Bookmark> {
    let room = room_of(item.attr("id")?)?;
    let c = item.get_child("conference", NS_BOOKMARKS2)?;
    Some(read_conference(room, c, NS_BOOKMARKS2))
}

/// Asks the user's PEP service for all bookmarks (XEP-0402 §3.1; the id
/// is filled in when sent).
pub(crate) fn request_all() -> Iq {
    Iq::from_get(String::new(), PubSub::Items(Items::new(NS_BOOKMARKS2)))
}

/// The bookmarks in an answer to [`request_all`]: items whose id is not a
/// room's bare JID, or without a `<conference/>`, are skipped; at most
/// 1000 are read.
pub(crate) fn read_items(answer: Element) -> Vec<Bookmark> {
    if !answer.is("pubsub", ns::PUBSUB) {
        return Vec::new();
    }
    let Some(items) = answer
        .get_child("items", ns::PUBSUB)
        .filter(|i| i.attr("node") == Some(NS_BOOKMARKS2))
    else {
        return Vec::new();
    };
    items
        .children()
        .filter(|c| c.is("item", ns::PUBSUB))
        .filter_map(read_item)
        .take(MAX_BOOKMARKS)
        .collect()
}

/// The `<conference/>` of a bookmark.
fn conference(b: &Bookmark) -> Element {
    let mut c = with_attr(
        Element::builder("conference", NS_BOOKMARKS2),
        "autojoin",
        if b.autojoin { "true" } else { "false" },
    );
    if let Some(name) = &b.name {
        c = with_attr(c, "name", name);
    }
    let text = |name: &str, value: &Option<String>| {
        value.as_deref().map(|v| {
            Element::builder(name, NS_BOOKMARKS2)
                .append(xml_text(v))
                .build()
        })
    };
    c.append_all(text("nick", &b.nick))
        .append_all(text("password", &b.password))
        .append_all(b.extensions.clone())
        .build()
}

/// Publishes (adds or replaces) a bookmark, with the publish options
/// XEP-0402 §3.3 asks for: kept, as many items as needed, not sent on
/// subscribing, readable by the user alone (the id is filled in when
/// sent).
pub(crate) fn publish(b: &Bookmark) -> Iq {
    publish_with(b, true)
}

/// Like [`publish`] with only the options every server with XEP-0402
/// takes (kept, readable by the user alone): for servers that refuse a
/// publish with options they do not know (ejabberd before 23.04 refuses
/// `pubsub#max_items`). The node's size is then configured apart
/// ([`configure_max_items`]).
pub(crate) fn publish_plain(b: &Bookmark) -> Iq {
    publish_with(b, false)
}

fn publish_with(b: &Bookmark, all_options: bool) -> Iq {
    let field = |var: &str, value: &str| Field::new(var, Default::default()).with_value(value);
    let mut fields = vec![field("pubsub#persist_items", "true")];
    if all_options {
        fields.push(field("pubsub#max_items", "max"));
        fields.push(field("pubsub#send_last_published_item", "never"));
    }
    fields.push(field("pubsub#access_model", "whitelist"));
    let options = DataForm::new(DataFormType::Submit, PUBLISH_OPTIONS, fields);
    Iq::from_set(
        String::new(),
        PubSub::Publish {
            publish: Publish {
                node: NodeName(NS_BOOKMARKS2.into()),
                items: vec![Item {
                    id: Some(ItemId(b.room.to_string())),
                    publisher: None,
                    payload: Some(conference(b)),
                }],
            },
            publish_options: Some(PublishOptions {
                form: Some(options),
            }),
        },
    )
}

/// Sets how many items the bookmarks node keeps (XEP-0060 §8.2, by its
/// owner; the id is filled in when sent): `max`, or a number for servers
/// that do not take `max`.
pub(crate) fn configure_max_items(value: &str) -> Iq {
    let form = DataForm::new(
        DataFormType::Submit,
        "http://jabber.org/protocol/pubsub#node_config",
        vec![Field::new("pubsub#max_items", Default::default()).with_value(value)],
    );
    Iq::from_set(
        String::new(),
        Owner {
            payload: OwnerPayload::Configure {
                node: Some(NodeName(NS_BOOKMARKS2.into())),
                form: Some(form),
            },
        },
    )
}

/// Removes the bookmark of `room`, notifying the user's other clients
/// (XEP-0402 §3.4; the id is filled in when sent).
pub(crate) fn retract(room: &BareJid) -> Iq {
    Iq::from_set(
        String::new(),
        PubSub::Retract(Retract {
            node: NodeName(NS_BOOKMARKS2.into()),
            notify: true,
            items: vec![Item {
                id: Some(ItemId(room.to_string())),
                publisher: None,
                payload: None,
            }],
        }),
    )
}

/// A change to the bookmarks, as the user's PEP service notifies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BookmarkEvent {
    /// These bookmarks were added or changed.
    Set(Vec<Bookmark>),
    /// The bookmarks of these rooms were removed.
    Removed(Vec<BareJid>),
    /// All bookmarks were removed (the node was purged or deleted).
    Purged,
}

/// Reads a pubsub notification (`<event/>`) of the bookmarks node; `None`
/// for any other node, or a notification with nothing usable in it.
pub(crate) fn read_event(event: &Element) -> Option<BookmarkEvent> {
    if !event.is("event", ns::PUBSUB_EVENT) {
        return None;
    }
    let ours = |c: &&Element| c.attr("node") == Some(NS_BOOKMARKS2);
    let payload = event
        .children()
        .filter(|c| c.ns() == ns::PUBSUB_EVENT)
        .find(ours)?;
    match payload.name() {
        "purge" | "delete" => Some(BookmarkEvent::Purged),
        "items" => {
            let set: Vec<Bookmark> = payload
                .children()
                .filter(|c| c.is("item", ns::PUBSUB_EVENT))
                .filter_map(read_item)
                .take(MAX_BOOKMARKS)
                .collect();
            if !set.is_empty() {
                return Some(BookmarkEvent::Set(set));
            }
            let removed: Vec<BareJid> = payload
                .children()
                .filter(|c| c.is("retract", ns::PUBSUB_EVENT))
                .filter_map(|r| room_of(r.attr("id")?))
                .take(MAX_BOOKMARKS)
                .collect();
            (!removed.is_empty()).then_some(BookmarkEvent::Removed(removed))
        }
        _ => None,
    }
}

/// Asks XEP-0049 private storage for XEP-0048 bookmarks (the id is filled
/// in when sent).
pub(crate) fn legacy_request() -> Iq {
    Iq::from_get(
        String::new(),
        PrivateQuery {
            storage: xmpp_parsers::bookmarks::Storage::new(),
        },
    )
}

/// The rooms in an answer to [`legacy_request`]: conferences whose `jid`
/// is not a room's bare JID are skipped; at most 1000 are read.
pub(crate) fn read_legacy(answer: Element) -> Vec<Bookmark> {
    if !answer.is("query", ns::PRIVATE) {
        return Vec::new();
    }
    let Some(storage) = answer.get_child("storage", ns::BOOKMARKS) else {
        return Vec::new();
    };
    storage
        .children()
        .filter(|c| c.is("conference", ns::BOOKMARKS))
        .filter_map(|c| {
            let room = room_of(c.attr("jid")?)?;
            Some(Bookmark {
                extensions: None,
                ..read_conference(room, c, ns::BOOKMARKS)
            })
        })
        .take(MAX_BOOKMARKS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::{el, tight, wire};

    fn payload(iq: Iq) -> Element {
        match iq {
            Iq::Get { to, payload, .. } | Iq::Set { to, payload, .. } => {
                assert_eq!(to, None, "to the user's own PEP service");
                wire(payload)
            }
            _ => panic!("not a request"),
        }
    }

    fn room(s: &str) -> BareJid {
        BareJid::new(s).unwrap()
    }

    fn the_play() -> Bookmark {
        Bookmark {
            room: room("theplay@conference.shakespeare.lit"),
            name: Some("The Play's the Thing".into()),
            nick: Some("JC".into()),
            password: None,
            autojoin: true,
            extensions: None,
        }
    }

    #[test]
    fn asks_and_reads_as_the_xep_shows() {
        // XEP-0402 §3.1, Example 3: retrieving all bookmarks.
        let expected = tight(
            "<iq xmlns='jabber:client' from='juliet@capulet.lit/balcony' type='get' id='retrieve1'>
  <pubsub xmlns='http://jabber.org/protocol/pubsub'>
    <items node='urn:xmpp:bookmarks:1'/>
  </pubsub>
</iq>",
        );
        assert_eq!(
            &payload(request_all()),
            expected.get_child("pubsub", ns::PUBSUB).unwrap()
        );
        // XEP-0402 §3.1, Example 4: the bookmarks.
        let answer = el("<pubsub xmlns='http://jabber.org/protocol/pubsub'>
    <items node='urn:xmpp:bookmarks:1'>
      <item id='theplay@conference.shakespeare.lit'>
        <conference xmlns='urn:xmpp:bookmarks:1'
                    name='The Play&apos;s the Thing'
                    autojoin='true'>
          <nick>JC</nick>
        </conference>
      </item>
      <item id='orchard@conference.shakespeare.lit'>
        <conference xmlns='urn:xmpp:bookmarks:1'
                    name='The Orchard'
                    autojoin='1'>
          <nick>JC</nick>
          <extensions>
            <state xmlns='http://myclient.example/bookmark/state' minimized='true'/>
          </extensions>
        </conference>
      </item>
    </items>
  </pubsub>");
        let read = read_items(answer);
        assert_eq!(read.len(), 2);
        assert_eq!(read[0], the_play());
        let orchard = &read[1];
        assert_eq!(orchard.room, room("orchard@conference.shakespeare.lit"));
        assert_eq!(orchard.name.as_deref(), Some("The Orchard"));
        assert!(orchard.autojoin);
        let ext = orchard.extensions.as_ref().unwrap();
        assert!(ext.is("extensions", NS_BOOKMARKS2));
        assert!(ext
            .get_child("state", "http://myclient.example/bookmark/state")
            .is_some());
    }

    #[test]
    fn publishes_and_retracts_as_the_xep_shows() {
        // XEP-0402 §3.3, Example 6: adding a bookmark.
        let expected = el(
            "<iq xmlns='jabber:client' from='juliet@capulet.lit/balcony' type='set' id='pip1'>
  <pubsub xmlns='http://jabber.org/protocol/pubsub'>
    <publish node='urn:xmpp:bookmarks:1'>
      <item id='theplay@conference.shakespeare.lit'>
        <conference xmlns='urn:xmpp:bookmarks:1'
                    name='The Play&apos;s the Thing'
                    autojoin='true'><nick>JC</nick></conference>
      </item>
    </publish>
    <publish-options>
      <x xmlns='jabber:x:data' type='submit'>
        <field var='FORM_TYPE' type='hidden'>
          <value>http://jabber.org/protocol/pubsub#publish-options</value>
        </field>
        <field var='pubsub#persist_items'>
          <value>true</value>
        </field>
        <field var='pubsub#max_items'>
          <value>max</value>
        </field>
        <field var='pubsub#send_last_published_item'>
          <value>never</value>
        </field>
        <field var='pubsub#access_model'>
          <value>whitelist</value>
        </field>
      </x>
    </publish-options>
  </pubsub>
</iq>",
        );
        let built = payload(publish(&the_play()));
        let expected = expected.get_child("pubsub", ns::PUBSUB).unwrap().clone();
        assert_eq!(
            PubSub::try_from(built.clone()).unwrap(),
            PubSub::try_from(expected).unwrap()
        );
        // It reads back as it was, extensions and all.
        let mut b = the_play();
        b.password = Some("pass'<&".into());
        b.autojoin = false;
        b.extensions = Some(el(
            "<extensions xmlns='urn:xmpp:bookmarks:1'><state xmlns='urn:example' x='1'/></extensions>",
        ));
        let built = payload(publish(&b));
        let item = built
            .get_child("publish", ns::PUBSUB)
            .unwrap()
            .get_child("item", ns::PUBSUB)
            .unwrap();
        assert_eq!(read_item(item), Some(b));

        // XEP-0402 §3.4, Example 8: removing a bookmark.
        let expected = tight(
            "<iq xmlns='jabber:client' from='juliet@capulet.lit/balcony' type='set' id='retract1'>
  <pubsub xmlns='http://jabber.org/protocol/pubsub'>
    <retract node='urn:xmpp:bookmarks:1' notify='true'>
      <item id='theplay@conference.shakespeare.lit'/>
    </retract>
  </pubsub>
</iq>",
        );
        let built = payload(retract(&room("theplay@conference.shakespeare.lit")));
        assert_eq!(
            PubSub::try_from(built.clone()).unwrap(),
            PubSub::try_from(expected.get_child("pubsub", ns::PUBSUB).unwrap().clone()).unwrap()
        );
        let r = built.get_child("retract", ns::PUBSUB).unwrap();
        assert!(matches!(r.attr("notify"), Some("true" | "1")));
    }

    #[test]
    fn reads_the_xep_notifications() {
        // XEP-0402 §3.3, Example 7: a bookmark was added.
        let m = el(
            "<message xmlns='jabber:client' from='juliet@capulet.lit' to='juliet@capulet.lit/balcony' type='headline' id='new-room1'>
  <event xmlns='http://jabber.org/protocol/pubsub#event'>
    <items node='urn:xmpp:bookmarks:1'>
      <item id='theplay@conference.shakespeare.lit'>
        <conference xmlns='urn:xmpp:bookmarks:1'
                    name='The Play&apos;s the Thing'
                    autojoin='true'>
          <nick>JC</nick>
        </conference>
      </item>
    </items>
  </event>
</message>",
        );
        let event = m.get_child("event", ns::PUBSUB_EVENT).unwrap();
        assert_eq!(
            read_event(event),
            Some(BookmarkEvent::Set(vec![the_play()]))
        );
        // XEP-0402 §3.4, Example 9: a bookmark was removed.
        let event = el("<event xmlns='http://jabber.org/protocol/pubsub#event'>
    <items node='urn:xmpp:bookmarks:1'>
      <retract id='theplay@conference.shakespeare.lit'/>
    </items>
  </event>");
        assert_eq!(
            read_event(&event),
            Some(BookmarkEvent::Removed(vec![room(
                "theplay@conference.shakespeare.lit"
            )]))
        );
        for purge in [
            "<event xmlns='http://jabber.org/protocol/pubsub#event'><purge node='urn:xmpp:bookmarks:1'/></event>",
            "<event xmlns='http://jabber.org/protocol/pubsub#event'><delete node='urn:xmpp:bookmarks:1'/></event>",
        ] {
            assert_eq!(read_event(&el(purge)), Some(BookmarkEvent::Purged));
        }
        // Other nodes, and nothing usable.
        for other in [
            "<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='urn:xmpp:avatar:metadata'><item id='a@b'/></items></event>",
            "<event xmlns='http://jabber.org/protocol/pubsub#event'><purge node='storage:bookmarks'/></event>",
            "<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='urn:xmpp:bookmarks:1'/></event>",
            "<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='urn:xmpp:bookmarks:1'><retract id='not a jid@@'/></items></event>",
            "<event xmlns='http://jabber.org/protocol/pubsub#event'><configuration node='urn:xmpp:bookmarks:1'/></event>",
            "<event xmlns='http://jabber.org/protocol/pubsub'><purge node='urn:xmpp:bookmarks:1'/></event>",
        ] {
            assert_eq!(read_event(&el(other)), None, "{other}");
        }
    }

    #[test]
    fn hostile_items_are_skipped() {
        let answer = el(&format!(
            "<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'>
               <item id='conference.shakespeare.lit'><conference xmlns='urn:xmpp:bookmarks:1'/></item>
               <item id='a@b/c'><conference xmlns='urn:xmpp:bookmarks:1'/></item>
               <item id='@@'><conference xmlns='urn:xmpp:bookmarks:1'/></item>
               <item><conference xmlns='urn:xmpp:bookmarks:1'/></item>
               <item id='a@b'/>
               <item id='a@b'><conference xmlns='urn:xmpp:bookmarks:0'/></item>
               <item id='ok@b'><conference xmlns='urn:xmpp:bookmarks:1' autojoin='yes' name='\u{9f}{}'>
                 <nick>{}</nick><password>{}</password></conference></item>
             </items></pubsub>",
            "n".repeat(1000),
            "x".repeat(2000),
            "p".repeat(MAX_PASSWORD + 1)
        ));
        let read = read_items(answer);
        assert_eq!(read.len(), 1);
        let b = &read[0];
        assert_eq!(b.room, room("ok@b"));
        assert!(!b.autojoin);
        assert_eq!(b.name.as_ref().unwrap().chars().count(), MAX_NAME);
        assert_eq!((&b.nick, &b.password), (&None, &None));
        // Another node's items are not bookmarks.
        assert!(read_items(el("<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='x'><item id='a@b'><conference xmlns='urn:xmpp:bookmarks:1'/></item></items></pubsub>")).is_empty());
        assert!(read_items(el("<query xmlns='jabber:iq:roster'/>")).is_empty());
        // Bounded.
        let many = format!(
            "<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'>{}</items></pubsub>",
            "<item id='a@b'><conference xmlns='urn:xmpp:bookmarks:1'/></item>".repeat(MAX_BOOKMARKS + 1)
        );
        assert_eq!(read_items(el(&many)).len(), MAX_BOOKMARKS);
    }

    #[test]
    fn reads_legacy_bookmarks() {
        // XEP-0049 §2.3, Example 3 (get), with XEP-0048 §3.3 Example 3's storage.
        let expected = tight(
            "<iq xmlns='jabber:client' type='get' id='1001'>
  <query xmlns='jabber:iq:private'>
    <storage xmlns='storage:bookmarks'/>
  </query>
</iq>",
        );
        assert_eq!(
            &payload(legacy_request()),
            expected.get_child("query", ns::PRIVATE).unwrap()
        );
        let answer = el("<query xmlns='jabber:iq:private'>
    <storage xmlns='storage:bookmarks'>
      <conference name='Council of Oberon'
                  autojoin='true'
                  jid='council@conference.underhill.org'>
        <nick>Puck</nick>
        <password>titania</password>
      </conference>
      <conference jid='other@conference.underhill.org' autojoin='1'/>
      <conference jid='conference.underhill.org'/>
      <conference name='no jid'/>
      <url name='Complete Works of Shakespeare' url='http://the-tech.mit.edu/Shakespeare/'/>
    </storage>
  </query>");
        assert_eq!(
            read_legacy(answer),
            vec![
                Bookmark {
                    room: room("council@conference.underhill.org"),
                    name: Some("Council of Oberon".into()),
                    nick: Some("Puck".into()),
                    password: Some("titania".into()),
                    autojoin: true,
                    extensions: None,
                },
                Bookmark {
                    room: room("other@conference.underhill.org"),
                    name: None,
                    nick: None,
                    password: None,
                    autojoin: true,
                    extensions: None,
                },
            ]
        );
        assert!(read_legacy(el("<query xmlns='jabber:iq:private'/>")).is_empty());
        assert!(read_legacy(el(
            "<query xmlns='jabber:iq:roster'><storage xmlns='storage:bookmarks'><conference jid='a@b'/></storage></query>"
        ))
        .is_empty());
    }
}
