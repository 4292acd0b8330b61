//! Tern against an independent client: slixmpp (PyPI), driven by the test.

use std::time::Duration;

use tern_core::{ClientEvent, MessageView};
use tern_testkit::{PeerOptions, Prosody, SlixmppPeer};

use crate::support::*;

const T: Duration = Duration::from_secs(20);

fn incoming_from<'a>(
    peer: &'a str,
    pred: impl Fn(&MessageView) -> bool + 'a,
) -> impl FnMut(&ClientEvent) -> Option<MessageView> + 'a {
    move |ev| match ev {
        ClientEvent::Message { message } if message.peer == peer && pred(message) => {
            Some(message.clone())
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_receipts_and_corrections_with_slixmpp() {
    let server = Prosody::start().unwrap();
    let (mut t, alice) = signed_in(&server).await;
    let (user, pass) = server.create_user().unwrap();
    let bob = format!("{user}@{}", server.domain());
    let peer = blocking({
        let (bob, port) = (bob.clone(), server.c2s_port());
        move || SlixmppPeer::start(PeerOptions::new(bob, pass, "127.0.0.1", port)).unwrap()
    })
    .await;
    let peer = std::sync::Arc::new(peer);
    // bob is a contact: strangers get no receipts.
    t.client.add_contact(&alice, &bob, None, &[]).await.unwrap();

    // slixmpp -> Tern, with a receipt request: Tern answers it.
    peer.send_message(&alice, "hello from slixmpp", "slix-1")
        .unwrap();
    let got = wait_event(
        &mut t.events,
        T,
        "message from slixmpp",
        incoming_from(&bob, |m| !m.outgoing),
    )
    .await;
    assert_eq!(got.body, "hello from slixmpp");
    assert_eq!(got.uid, "slix-1");
    let p = peer.clone();
    let receipt = blocking(move || {
        p.wait_for(T, |e| e["event"] == "receipt" && e["id"] == "slix-1")
            .unwrap()
    })
    .await;
    assert_eq!(receipt["id"], "slix-1");

    // slixmpp corrects its message: Tern edits it in place.
    peer.correct(&alice, "slix-1", "hello from slixmpp, corrected", "slix-2")
        .unwrap();
    let fixed = wait_event(
        &mut t.events,
        T,
        "correction",
        incoming_from(&bob, |m| m.edited),
    )
    .await;
    assert_eq!(fixed.id, got.id);
    assert_eq!(fixed.body, "hello from slixmpp, corrected");

    // Tern -> slixmpp: body, origin-id, receipt request; slixmpp's receipt
    // moves the message to "delivered".
    let sent = t
        .client
        .send_message(&alice, &bob, "hello from Tern", None)
        .await
        .unwrap();
    let p = peer.clone();
    let uid = sent.uid.clone();
    let at_peer = blocking(move || {
        p.wait_for(T, |e| {
            e["event"] == "message" && e["body"] == "hello from Tern"
        })
        .unwrap()
    })
    .await;
    assert_eq!(at_peer["origin_id"], uid.as_str());
    assert_eq!(at_peer["receipt_request"], true);
    assert_eq!(at_peer["markable"], true);
    wait_event(
        &mut t.events,
        T,
        "delivered",
        incoming_from(&bob, |m| m.id == sent.id && m.state == "delivered"),
    )
    .await;

    // Tern corrects its message: slixmpp sees the replace id.
    t.client
        .correct_message(&alice, sent.id, "hello from Tern, corrected")
        .await
        .unwrap();
    let p = peer.clone();
    let corr = blocking(move || {
        p.wait_for(T, |e| {
            e["event"] == "message" && e["body"] == "hello from Tern, corrected"
        })
        .unwrap()
    })
    .await;
    assert_eq!(corr["replace_id"], sent.uid.as_str());

    // slixmpp reacts and marks it displayed.
    peer.react(&alice, &sent.uid, &["🎉"]).unwrap();
    peer.displayed(&alice, &sent.uid).unwrap();
    wait_event(
        &mut t.events,
        T,
        "read",
        incoming_from(&bob, |m| m.id == sent.id && m.state == "read"),
    )
    .await;
    let reacted = t.client.timeline(&alice, &bob, None, 10).await.unwrap();
    let mine = reacted.iter().find(|m| m.id == sent.id).unwrap();
    assert_eq!(mine.reactions.get(&bob), Some(&vec!["🎉".to_string()]));
    t.client.shutdown().await;
}
