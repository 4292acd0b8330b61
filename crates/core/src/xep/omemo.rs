//! XEP-0384 OMEMO 0.3 (`eu.siacs.conversations.axolotl`) on the wire: the
//! `<encrypted/>` element of a message, the device list and bundle nodes
//! of PEP, and the requests that read and publish them. The cryptography is
//! `tern-omemo`'s; this file only reads and builds elements.

use xmpp_parsers::data_forms::{DataForm, DataFormType, Field};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::legacy_omemo::{Bundle, DeviceList, Encrypted};
use xmpp_parsers::message::Message;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::ns;
use xmpp_parsers::pubsub::owner::{Owner, Payload as OwnerPayload};
use xmpp_parsers::pubsub::pubsub::Items;
use xmpp_parsers::pubsub::{NodeName, PubSub};

use super::pubsub;

/// The OMEMO 0.3 namespace (the `<encrypted/>` element).
pub(crate) const NS_OMEMO: &str = ns::LEGACY_OMEMO;
/// The device list node.
pub(crate) const NODE_DEVICELIST: &str = ns::LEGACY_OMEMO_DEVICELIST;
/// What Tern announces so that servers push device lists (XEP-0163).
pub(crate) const DEVICELIST_NOTIFY: &str = "eu.siacs.conversations.axolotl.devicelist+notify";
/// The form type of node configuration (XEP-0060 §8.2).
const NODE_CONFIG: &str = "http://jabber.org/protocol/pubsub#node_config";

/// The node of a device's bundle.
pub(crate) fn bundle_node(device_id: u32) -> String {
    format!("{}:{device_id}", ns::LEGACY_OMEMO_BUNDLES)
}

/// What a message carries of OMEMO: `None` without an `<encrypted/>`
/// element, else whether it has a payload (a key-transport element has
/// none). Cheap: the element is read whole only by [`read_encrypted`].
pub(crate) fn payload_of(el: &Element) -> Option<bool> {
    el.is("encrypted", NS_OMEMO)
        .then(|| el.get_child("payload", NS_OMEMO).is_some())
}

/// The `<encrypted/>` element of a message: `None` without one, an error
/// (for the log and the reason shown) when it is malformed.
pub(crate) fn read_encrypted(msg: &Message) -> Option<Result<Encrypted, String>> {
    let el = msg.payloads.iter().find(|p| p.is("encrypted", NS_OMEMO))?;
    Some(Encrypted::try_from(el.clone()).map_err(|e| e.to_string()))
}

/// Asks `owner`'s device list (`None`: the account's own; XEP-0060 §6.5.2,
/// every item: a server keeps one, `current`).
pub(crate) fn devicelist_request(owner: Option<&BareJid>) -> Iq {
    let iq = Iq::from_get(String::new(), PubSub::Items(Items::new(NODE_DEVICELIST)));
    match owner {
        Some(o) => iq.with_to(Jid::from(o.clone())),
        None => iq,
    }
}

/// The device list in an answer to [`devicelist_request`] (the first item
/// that is one); `None` when the answer holds none.
pub(crate) fn read_devicelist_answer(answer: Element) -> Option<DeviceList> {
    pubsub::read_items(answer)?
        .into_iter()
        .filter_map(|i| i.payload)
        .find_map(|p| DeviceList::try_from(p).ok())
}

/// The device list a notification carries (XEP-0163); `None` for any
/// other node or payload.
pub(crate) fn read_devicelist_event(event: &Element) -> Option<DeviceList> {
    let published = pubsub::read_event(event)?;
    if published.node != NODE_DEVICELIST {
        return None;
    }
    DeviceList::try_from(published.payload?).ok()
}

/// Asks for a device's bundle (the newest item of its node, whatever its
/// id: clients name it differently).
pub(crate) fn bundle_request(owner: &BareJid, device_id: u32) -> Iq {
    let mut items = Items::new(&bundle_node(device_id));
    items.max_items = Some(1);
    Iq::from_get(String::new(), PubSub::Items(items)).with_to(Jid::from(owner.clone()))
}

/// The bundle in an answer to [`bundle_request`]; `None` when it holds
/// none (or a malformed one).
pub(crate) fn read_bundle_answer(answer: Element) -> Option<Bundle> {
    pubsub::read_items(answer)?
        .into_iter()
        .filter_map(|i| i.payload)
        .find_map(|p| Bundle::try_from(p).ok())
}

/// The body other clients show of an encrypted message (XEP-0380 names the
/// encryption for them too).
pub(crate) const FALLBACK_BODY: &str = "This message is encrypted with OMEMO, which your \
     chat app does not seem to support.";

/// Makes `m` an encrypted message: its body (the plaintext, already
/// encrypted into `encrypted`) replaced by the fallback text, with the
/// `<encrypted/>` element, the XEP-0380 encryption marker and a hint to
/// store it (XEP-0334: a message whose body is the fallback is still one
/// to keep).
pub(crate) fn seal(m: &mut Message, encrypted: Encrypted) {
    m.bodies.clear();
    m.bodies
        .insert(Default::default(), FALLBACK_BODY.to_string());
    m.payloads.push(encrypted.into());
    m.payloads.push(eme());
    m.payloads.push(super::hints::store().into());
}

/// The XEP-0380 marker naming OMEMO.
fn eme() -> Element {
    let b = Element::builder("encryption", "urn:xmpp:eme:0");
    let b = super::with_attr(b, "namespace", NS_OMEMO);
    super::with_attr(b, "name", "OMEMO").build()
}

/// A key-transport message (no body, no payload) to `to`.
pub(crate) fn key_transport_message(to: &BareJid, encrypted: Encrypted) -> Message {
    let mut m = Message::chat(Jid::from(to.clone()));
    m.id = Some(xmpp_parsers::message::Id(super::message::new_id()));
    m.payloads.push(encrypted.into());
    m.payloads.push(super::hints::store().into());
    m
}

/// Publishes the device list as item `current`, with `open` access when
/// asked (publish-options).
pub(crate) fn publish_devicelist(list: &DeviceList, open: bool) -> Iq {
    pubsub::publish_iq(NODE_DEVICELIST, Some("current"), list.clone().into(), open)
}

/// Publishes a device's bundle as item `current`.
pub(crate) fn publish_bundle(device_id: u32, bundle: &Bundle, open: bool) -> Iq {
    pubsub::publish_iq(
        &bundle_node(device_id),
        Some("current"),
        bundle.clone().into(),
        open,
    )
}

/// Sets the access model of one of the user's nodes to `open` (XEP-0060
/// §8.2.4): the fallback when a server refuses publish-options.
pub(crate) fn configure_open(node: &str) -> Iq {
    let form = DataForm::new(
        DataFormType::Submit,
        NODE_CONFIG,
        vec![Field::text_single("pubsub#access_model", "open")],
    );
    Iq::from_set(
        String::new(),
        Owner {
            payload: OwnerPayload::Configure {
                node: Some(NodeName(super::xml_text(node))),
                form: Some(form),
            },
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::{el, wire};
    use xmpp_parsers::legacy_omemo::Device;

    fn msg(xml: &str) -> Message {
        Message::try_from(el(xml)).unwrap()
    }

    #[test]
    fn reads_the_encrypted_element_as_the_xep_shows() {
        // XEP-0384 v0.3 §4.5, Example 9 (with real base64 for its
        // placeholders).
        let m = msg("<message xmlns='jabber:client' to='juliet@capulet.lit' from='romeo@montague.lit' id='send1'>
  <encrypted xmlns='eu.siacs.conversations.axolotl'>
    <header sid='27183'>
      <key rid='31415'>QkFTRTY0</key>
      <key prekey='true' rid='12321'>QkFTRTY0</key>
      <iv>QkFTRTY0</iv>
    </header>
    <payload>QkFTRTY0</payload>
  </encrypted>
  <store xmlns='urn:xmpp:hints'/>
</message>");
        let e = read_encrypted(&m).unwrap().unwrap();
        assert_eq!(e.header.sid, 27183);
        assert_eq!(e.header.keys.len(), 2);
        assert!(e.header.keys[1].prekey && !e.header.keys[0].prekey);
        assert!(e.payload.is_some());
        assert_eq!(payload_of(&m.payloads[0]), Some(true));
        assert_eq!(payload_of(&m.payloads[1]), None);
        // A key-transport element: no payload.
        let kt = msg("<message xmlns='jabber:client' from='romeo@montague.lit'><encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'><key rid='2'>AAAA</key><iv>AAAAAAAAAAAAAAAA</iv></header></encrypted></message>");
        assert_eq!(payload_of(&kt.payloads[0]), Some(false));
        assert!(read_encrypted(&kt).unwrap().unwrap().payload.is_none());
        // Malformed: an error, not a panic; none at all: nothing.
        let bad = msg("<message xmlns='jabber:client'><encrypted xmlns='eu.siacs.conversations.axolotl'><header/></encrypted></message>");
        assert!(read_encrypted(&bad).unwrap().is_err());
        assert!(read_encrypted(&msg(
            "<message xmlns='jabber:client'><body>x</body></message>"
        ))
        .is_none());
    }

    #[test]
    fn reads_device_lists_from_notifications_and_answers() {
        // XEP-0384 v0.3 §4.2, Example 2: a device list update.
        let event = el("<event xmlns='http://jabber.org/protocol/pubsub#event'>
    <items node='eu.siacs.conversations.axolotl.devicelist'>
      <item id='current'>
        <list xmlns='eu.siacs.conversations.axolotl'>
          <device id='12345' />
          <device id='4223' />
        </list>
      </item>
    </items>
  </event>");
        let list = read_devicelist_event(&event).unwrap();
        assert_eq!(
            list.devices.iter().map(|d| d.id).collect::<Vec<_>>(),
            [12345, 4223]
        );
        let other = el("<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='http://jabber.org/protocol/nick'><item id='current'><nick xmlns='http://jabber.org/protocol/nick'>x</nick></item></items></event>");
        assert!(read_devicelist_event(&other).is_none());
        let answer = el("<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='eu.siacs.conversations.axolotl.devicelist'><item id='current'><list xmlns='eu.siacs.conversations.axolotl'><device id='7'/></list></item></items></pubsub>");
        assert_eq!(read_devicelist_answer(answer).unwrap().devices[0].id, 7);
        let empty = el("<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='eu.siacs.conversations.axolotl.devicelist'/></pubsub>");
        assert!(read_devicelist_answer(empty).is_none());
    }

    #[test]
    fn publishes_and_configures_as_the_xeps_show() {
        let list = DeviceList {
            devices: vec![Device { id: 12345 }, Device { id: 4223 }],
        };
        let Iq::Set { payload, .. } = publish_devicelist(&list, true) else {
            panic!("not a set");
        };
        let el = wire(payload);
        let publish = el.get_child("publish", ns::PUBSUB).unwrap();
        assert_eq!(publish.attr("node"), Some(NODE_DEVICELIST));
        let item = publish.get_child("item", ns::PUBSUB).unwrap();
        assert_eq!(item.attr("id"), Some("current"));
        assert_eq!(
            DeviceList::try_from(item.get_child("list", NS_OMEMO).unwrap().clone()).unwrap(),
            list
        );
        assert!(el.get_child("publish-options", ns::PUBSUB).is_some());
        assert_eq!(
            bundle_node(31415),
            "eu.siacs.conversations.axolotl.bundles:31415"
        );
        // XEP-0060 §8.2.4, Example 130: a node configuration submitted.
        let Iq::Set { payload, .. } = configure_open(&bundle_node(31415)) else {
            panic!("not a set");
        };
        let el = wire(payload);
        assert!(el.is("pubsub", ns::PUBSUB_OWNER));
        let configure = el.get_child("configure", ns::PUBSUB_OWNER).unwrap();
        assert_eq!(
            configure.attr("node"),
            Some("eu.siacs.conversations.axolotl.bundles:31415")
        );
        let form =
            DataForm::try_from(configure.get_child("x", ns::DATA_FORMS).unwrap().clone()).unwrap();
        assert_eq!(form.form_type(), Some(NODE_CONFIG));
        assert!(form
            .fields
            .iter()
            .any(|f| f.var.as_deref() == Some("pubsub#access_model") && f.values == ["open"]));
    }
}
