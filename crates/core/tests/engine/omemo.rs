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

/// An OMEMO slixmpp peer signed in as a fresh user of `server`.
async fn omemo_peer(server: &Server) -> Peer {
    let (jid, pass) = server.user();
    let opts = PeerOptions::new(jid, pass, "127.0.0.1", server.port());
    Peer(Arc::new(
        blocking(move || SlixmppPeer::start_omemo(opts).unwrap()).await,
    ))
}

/// `node` of `owner`'s PEP as the peer reads it: the answer's XML, once it
/// is a result that `ready` accepts (the session start publishes a moment
/// after the account is connected).
async fn read_node(peer: &Peer, owner: &str, node: &str, ready: fn(&str) -> bool) -> String {
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
async fn published_device(peer: &Peer, owner: &str) -> u32 {
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
    let server = Server::prosody();
    let (mut t, alice, _) = tern(&server).await;
    let peer = omemo_peer(&server).await;
    let bob = peer.bare();
    let device = published_device(&peer, &alice).await;
    let peer_device = peer.0.omemo_device_id().unwrap();

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

/// On ejabberd: the device list and bundle are published and readable by
/// another user (its PEP differs from Prosody's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_is_published_on_ejabberd() {
    let server = Server::ejabberd().await;
    let (_t, alice, _) = tern(&server).await;
    let reader = peer(&server).await;
    published_device(&reader, &alice).await;
}
