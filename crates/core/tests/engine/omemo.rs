//! End-to-end encryption (OMEMO 0.3, XEP-0384) through the engine: Tern's
//! device list and bundle on PEP after sign-in, readable by anyone, and
//! messages from an independent implementation (slixmpp-omemo, python-
//! oldmemo) decrypted by the inbound pipeline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tern_core::{ClientEvent, MessageView};
use tern_testkit::{PeerOptions, SlixmppPeer};

use crate::support::*;

const T: Duration = Duration::from_secs(30);
const DEVICELIST: &str = "eu.siacs.conversations.axolotl.devicelist";

/// An OMEMO slixmpp peer signed in as `jid`.
pub(crate) async fn omemo_peer(server: &Server, (jid, pass): (String, String)) -> Peer {
    let opts = PeerOptions::new(jid, pass, "127.0.0.1", server.port());
    Peer(Arc::new(
        blocking(move || SlixmppPeer::start_omemo(opts).unwrap()).await,
    ))
}

/// `node` of `owner`'s PEP as the peer reads it: the answer's XML, once it
/// is a result that `ready` accepts (the session start publishes a moment
/// after the account is connected).
async fn read_node(peer: &Peer, owner: &str, node: &str, ready: impl Fn(&str) -> bool) -> String {
    let xml = format!(
        "<iq type='get' to='{owner}'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='{node}'/></pubsub></iq>"
    );
    let start = Instant::now();
    loop {
        let answer = peer
            .run({
                let xml = xml.clone();
                move |p| p.iq(&xml, Duration::from_secs(10)).unwrap()
            })
            .await;
        let text = answer["xml"].as_str().unwrap_or_default().to_string();
        if answer["type"] == "result" && ready(&text) {
            return text;
        }
        assert!(
            start.elapsed() < T,
            "{node} of {owner} not readable: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The pre-key ids of a bundle answer.
fn pre_key_ids(xml: &str) -> Vec<String> {
    xml.split("preKeyId=")
        .skip(1)
        .filter_map(|d| {
            let quote = d.chars().next()?;
            d[1..].split(quote).next().map(str::to_string)
        })
        .collect()
}

/// The device ids in a device list answer.
fn device_ids(xml: &str) -> Vec<u32> {
    xml.split("<device ")
        .skip(1)
        .filter_map(|d| {
            let rest = d.split("id=").nth(1)?;
            let quote = rest.chars().next()?;
            rest[1..].split(quote).next()?.parse().ok()
        })
        .collect()
}

/// Tern's own device on `owner`'s PEP, checked by someone else (the peer, no
/// subscription: the nodes must be open): the device list holds one device
/// and that device's bundle has its keys. Returns the device id.
pub(crate) async fn published_device(peer: &Peer, owner: &str) -> u32 {
    let list = read_node(peer, owner, DEVICELIST, |x| x.contains("<device")).await;
    let ids = device_ids(&list);
    assert_eq!(ids.len(), 1, "one device: {list}");
    let node = format!("eu.siacs.conversations.axolotl.bundles:{}", ids[0]);
    let bundle = read_node(peer, owner, &node, |x| x.contains("identityKey")).await;
    for part in [
        "signedPreKeyPublic",
        "signedPreKeySignature",
        "preKeyPublic",
    ] {
        assert!(bundle.contains(part), "{part} missing: {bundle}");
    }
    ids[0]
}

fn message_from<'a>(
    peer: &'a str,
    uid: &'a str,
) -> impl FnMut(&ClientEvent) -> Option<MessageView> + 'a {
    move |ev| match ev {
        ClientEvent::Message { message } if message.peer == peer && message.uid == uid => {
            Some(message.clone())
        }
        _ => None,
    }
}

/// On Prosody: Tern's device list and bundle are published and open; the
/// peer's first message (a pre-key message built from that bundle) and the
/// ones after it arrive decrypted to the exact text, marked encrypted; a
/// message encrypted for another device only is kept with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_from_slixmpp_omemo_arrive_decrypted() {
    init_tracing_at("tern_core=info,warn");
    let server = Server::prosody();
    let bob = server.user();
    let (mut t, alice, _) = tern(&server).await;
    let peer = omemo_peer(&server, bob).await;
    let bob = peer.bare();
    let device = published_device(&peer, &alice).await;
    let peer_device = peer.0.omemo_device_id().unwrap();
    let bundle_node = format!("eu.siacs.conversations.axolotl.bundles:{device}");
    let pre_keys = pre_key_ids(&read_node(&peer, &alice, &bundle_node, |_| true).await);
    assert_eq!(pre_keys.len(), 100, "a hundred one-time pre-keys");

    let texts = [
        "Hello Tern, this is slixmpp-omemo 👋 — the first, pre-key, message",
        "a reply: réponse n°2 ✓",
        "and a third, with <markup> & \"quotes\"",
    ];
    for (i, text) in texts.iter().enumerate() {
        let id = format!("o-{i}");
        peer.run({
            let (alice, text, id) = (alice.clone(), text.to_string(), id.clone());
            move |p| p.omemo_send(&alice, &text, &id).unwrap()
        })
        .await;
        let got = wait_event(
            &mut t.events,
            T,
            "a decrypted message",
            message_from(&bob, &id),
        )
        .await;
        assert_eq!(got.body, *text);
        assert!(got.encrypted && got.decrypt_error.is_none(), "{got:?}");
        assert!(!got.outgoing);
    }
    // The first message used one of the published pre-keys: the bundle is
    // published again, without it and refilled.
    let start = Instant::now();
    loop {
        let now = pre_key_ids(&read_node(&peer, &alice, &bundle_node, |_| true).await);
        if now != pre_keys {
            assert_eq!(now.len(), 100, "refilled");
            assert_eq!(
                pre_keys.iter().filter(|k| !now.contains(k)).count(),
                1,
                "one pre-key used"
            );
            break;
        }
        assert!(start.elapsed() < T, "the bundle was not published again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A message for another device of Tern's account only.
    let other = device.wrapping_add(1);
    let raw = format!(
        "<message xmlns='jabber:client' to='{alice}' type='chat' id='o-other'>\
         <body>I sent you an OMEMO encrypted message.</body>\
         <encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='{peer_device}'>\
         <key rid='{other}'>MwgBEiEFnWbuVUPz4NXJy9aQ0QFyLXvfUaBl+Yq3PZZgYR4gLEMaIQX0</key>\
         <iv>AAAAAAAAAAAAAAAA</iv></header><payload>AAAA</payload></encrypted></message>"
    );
    peer.run(move |p| p.raw(&raw).unwrap()).await;
    let got = wait_event(
        &mut t.events,
        T,
        "the undecryptable message",
        message_from(&bob, "o-other"),
    )
    .await;
    assert!(got.encrypted, "{got:?}");
    let reason = got.decrypt_error.expect("a reason");
    assert!(reason.contains("not encrypted for this device"), "{reason}");
    assert_eq!(got.body, "I sent you an OMEMO encrypted message.");

    // Stored as plaintext: the timeline reads the same.
    let page = t.client.timeline(&alice, &bob, None, 10).await.unwrap();
    let bodies: Vec<(&str, bool)> = page
        .iter()
        .map(|m| (m.body.as_str(), m.decrypt_error.is_some()))
        .collect();
    assert_eq!(
        bodies,
        vec![
            (texts[0], false),
            (texts[1], false),
            (texts[2], false),
            ("I sent you an OMEMO encrypted message.", true)
        ]
    );
}

/// Another client of the same account rewrites the device list without
/// Tern's device (as a client that forgets others does): the server pushes
/// it, and Tern publishes it again with both devices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_is_put_back_when_another_client_drops_it() {
    init_tracing_at("tern_core=info,warn");
    let server = Server::prosody();
    let (reader_jid, reader_pass) = server.user();
    let (_t, alice, pass) = tern(&server).await;
    let reader = peer_as(&server, &reader_jid, &reader_pass).await;
    let device = published_device(&reader, &alice).await;
    let other = peer_as(&server, &alice, &pass).await;
    let publish = format!(
        "<iq type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'>\
         <publish node='{DEVICELIST}'><item id='current'>\
         <list xmlns='eu.siacs.conversations.axolotl'><device id='4242'/></list></item></publish>\
         </pubsub></iq>"
    );
    let answer = other
        .run(move |p| p.iq(&publish, Duration::from_secs(10)).unwrap())
        .await;
    assert_eq!(answer["type"], "result", "{answer}");
    let list = read_node(&reader, &alice, DEVICELIST, move |x| {
        let ids = device_ids(x);
        ids.contains(&4242) && ids.contains(&device)
    })
    .await;
    assert_eq!(device_ids(&list).len(), 2, "{list}");
}

/// The device list node exists with another access model (another client
/// made it readable by contacts only): the server refuses Tern's
/// publish-options, so Tern publishes plainly and makes the node open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_another_access_model_is_made_open() {
    init_tracing_at("tern_core=info,warn");
    made_open(Server::prosody()).await;
}

/// The same on ejabberd.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_another_access_model_is_made_open_on_ejabberd() {
    init_tracing_at("tern_core=info,warn");
    made_open(Server::ejabberd().await).await;
}

async fn made_open(server: Server) {
    let (alice, pass) = server.user();
    let other = peer_as(&server, &alice, &pass).await;
    let publish = format!(
        "<iq type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'>\
         <publish node='{DEVICELIST}'><item id='current'>\
         <list xmlns='eu.siacs.conversations.axolotl'><device id='4242'/></list></item></publish>\
         <publish-options><x xmlns='jabber:x:data' type='submit'>\
         <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
         <field var='pubsub#access_model'><value>presence</value></field></x></publish-options>\
         </pubsub></iq>"
    );
    let answer = other
        .run(move |p| p.iq(&publish, Duration::from_secs(10)).unwrap())
        .await;
    assert_eq!(answer["type"], "result", "{answer}");
    let (reader_jid, reader_pass) = server.user();
    let _t = tern_as(&server, &alice, &pass).await;
    let reader = peer_as(&server, &reader_jid, &reader_pass).await;
    let list = read_node(&reader, &alice, DEVICELIST, |x| device_ids(x).len() == 2).await;
    assert!(device_ids(&list).contains(&4242), "{list}");
}

/// On ejabberd: the device list and bundle are published and readable by
/// another user (its PEP differs from Prosody's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_is_published_on_ejabberd() {
    init_tracing_at("tern_core=info,warn");
    let server = Server::ejabberd().await;
    let (reader_jid, reader_pass) = server.user();
    let (_t, alice, _) = tern(&server).await;
    let reader = peer_as(&server, &reader_jid, &reader_pass).await;
    published_device(&reader, &alice).await;
}
