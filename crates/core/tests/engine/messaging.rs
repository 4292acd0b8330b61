//! Contacts, presence and 1:1 messaging between two Tern clients.

use std::time::Duration;

use tern_core::{ClientEvent, MessageView};
use tern_testkit::Prosody;

use crate::support::*;

const T: Duration = Duration::from_secs(15);

/// `from` sends `body` to `to_jid`; waits until `to` has it.
async fn send_and_see(
    from: &TestClient,
    from_jid: &str,
    to: &mut TestClient,
    to_jid: &str,
    body: &str,
) -> MessageView {
    from.client
        .send_message(from_jid, to_jid, body, None)
        .await
        .unwrap();
    wait_event(
        &mut to.events,
        T,
        body,
        message_where(from_jid, |m| m.body == body),
    )
    .await
}

/// alice and bob, subscribed to each other's presence.
pub(crate) async fn friends(server: &Prosody) -> (TestClient, String, TestClient, String) {
    let (mut a, alice) = signed_in(server).await;
    let (mut b, bob) = signed_in(server).await;
    a.client
        .add_contact(&alice, &bob, Some("Bob"), &["Friends".into()])
        .await
        .unwrap();
    let from = wait_event(&mut b.events, T, "subscription request", |ev| match ev {
        ClientEvent::SubscriptionRequest { from, .. } => Some(from.clone()),
        _ => None,
    })
    .await;
    assert_eq!(from, alice);
    b.client.approve_subscription(&bob, &alice).await.unwrap();
    b.client.add_contact(&bob, &alice, None, &[]).await.unwrap();
    wait_event(&mut a.events, T, "bob's request", |ev| match ev {
        ClientEvent::SubscriptionRequest { from, .. } if *from == bob => Some(()),
        _ => None,
    })
    .await;
    a.client.approve_subscription(&alice, &bob).await.unwrap();
    // Both see a mutual subscription and each other online.
    for (t, me, other) in [(&mut a, &alice, &bob), (&mut b, &bob, &alice)] {
        wait_event(
            &mut t.events,
            T,
            "mutual subscription with presence",
            |ev| match ev {
                ClientEvent::Contact { contact }
                    if contact.jid == *other
                        && contact.subscription == "both"
                        && !contact.presence.is_empty() =>
                {
                    Some(())
                }
                _ => None,
            },
        )
        .await;
        let (roster, _) = t.client.subscribe_roster(me).await.unwrap();
        let c = roster
            .iter()
            .find(|c| c.jid == *other)
            .expect("contact in roster");
        assert_eq!(c.subscription, "both");
    }
    let (roster, _) = a.client.subscribe_roster(&alice).await.unwrap();
    let bob_item = roster.iter().find(|c| c.jid == bob).unwrap();
    assert_eq!(bob_item.name.as_deref(), Some("Bob"));
    assert_eq!(bob_item.groups, vec!["Friends".to_string()]);
    (a, alice, b, bob)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_presence_and_every_message_feature_both_ways() {
    let server = Prosody::start().unwrap();
    let (mut a, alice, mut b, bob) = friends(&server).await;

    // Presence changes are seen.
    b.client
        .set_presence(&bob, "away", Some("lunch"))
        .await
        .unwrap();
    wait_event(&mut a.events, T, "bob away", |ev| match ev {
        ClientEvent::Contact { contact } if contact.jid == bob => contact
            .presence
            .first()
            .filter(|p| p.show == "away" && p.status.as_deref() == Some("lunch"))
            .map(|_| ()),
        _ => None,
    })
    .await;

    // A message, its receipt and its read marker.
    let sent = a
        .client
        .send_message(&alice, &bob, "Hello Bob <b>&</b>", None)
        .await
        .unwrap();
    let got = wait_event(
        &mut b.events,
        T,
        "message at bob",
        message_where(&alice, |m| !m.outgoing),
    )
    .await;
    assert_eq!(got.body, "Hello Bob <b>&</b>");
    assert_eq!(got.uid, sent.uid);
    wait_event(
        &mut a.events,
        T,
        "delivery receipt",
        message_where(&bob, |m| m.id == sent.id && m.state == "delivered"),
    )
    .await;
    let conv = b.client.subscribe_conversations().await.unwrap().0;
    assert_eq!(conv.iter().find(|c| c.peer == alice).unwrap().unread, 1);
    b.client.mark_read(&bob, &alice).await.unwrap();
    wait_event(
        &mut a.events,
        T,
        "read marker",
        message_where(&bob, |m| m.id == sent.id && m.state == "read"),
    )
    .await;
    let conv = b.client.subscribe_conversations().await.unwrap().0;
    assert_eq!(conv.iter().find(|c| c.peer == alice).unwrap().unread, 0);

    // Typing.
    b.client
        .send_chat_state(&bob, &alice, "composing")
        .await
        .unwrap();
    wait_event(&mut a.events, T, "typing", |ev| match ev {
        ClientEvent::ChatState { peer, state, .. } if *peer == bob && state == "composing" => {
            Some(())
        }
        _ => None,
    })
    .await;

    // Correction.
    a.client
        .correct_message(&alice, sent.id, "Hello Bob, corrected")
        .await
        .unwrap();
    let fixed = wait_event(
        &mut b.events,
        T,
        "correction",
        message_where(&alice, |m| m.edited),
    )
    .await;
    assert_eq!(fixed.body, "Hello Bob, corrected");
    assert_eq!(
        fixed.id, got.id,
        "a correction changes the message, it does not add one"
    );

    // Reply, then a reaction to the reply.
    let reply = b
        .client
        .send_message(&bob, &alice, "/me waves back", Some(got.id))
        .await
        .unwrap();
    let reply_at_a = wait_event(
        &mut a.events,
        T,
        "reply",
        message_where(&bob, |m| !m.outgoing),
    )
    .await;
    assert_eq!(reply_at_a.reply_to.as_deref(), Some(sent.uid.as_str()));
    assert!(reply_at_a.me);
    assert_eq!(reply_at_a.uid, reply.uid);
    a.client
        .react(&alice, reply_at_a.id, &["👍".into()])
        .await
        .unwrap();
    let reacted = wait_event(
        &mut b.events,
        T,
        "reaction",
        message_where(&alice, |m| m.id == reply.id && !m.reactions.is_empty()),
    )
    .await;
    assert_eq!(reacted.reactions.get(&alice), Some(&vec!["👍".to_string()]));

    // Retraction.
    a.client.retract_message(&alice, sent.id).await.unwrap();
    let gone = wait_event(
        &mut b.events,
        T,
        "retraction",
        message_where(&alice, |m| m.retracted),
    )
    .await;
    assert_eq!(gone.id, got.id);
    assert!(gone.body.is_empty());

    // Search finds what is left, not what was retracted.
    let hits = b.client.search("waves", None, 10).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert!(b
        .client
        .search("corrected", None, 10)
        .await
        .unwrap()
        .is_empty());

    // Timelines agree on both sides.
    let ta = a.client.timeline(&alice, &bob, None, 50).await.unwrap();
    let tb = b.client.timeline(&bob, &alice, None, 50).await.unwrap();
    assert_eq!(ta.len(), 2);
    assert_eq!(tb.len(), 2);
    assert_eq!(
        ta.iter().map(|m| (&m.uid, m.retracted)).collect::<Vec<_>>(),
        tb.iter().map(|m| (&m.uid, m.retracted)).collect::<Vec<_>>()
    );
    a.client.shutdown().await;
    b.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carbons_bring_messages_sent_from_another_device() {
    let server = Prosody::start().unwrap();
    let (user, pass) = server.create_user().unwrap();
    let alice = format!("{user}@{}", server.domain());
    let (b, bob) = signed_in(&server).await;
    let mut desk = client().await;
    let mut phone = client().await;
    for (t, res) in [(&mut desk, "desk"), (&mut phone, "phone")] {
        let mut acc = account(&alice, &pass, loopback(server.c2s_port(), false));
        acc.resource = Some(res.into());
        t.client.add_account(acc).await.unwrap();
        wait_connected(t, &alice).await;
    }
    // Carbons are enabled shortly after the session starts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = phone
        .client
        .send_message(&alice, &bob, "sent from my phone", None)
        .await
        .unwrap();
    let copy = wait_event(
        &mut desk.events,
        T,
        "carbon of sent",
        message_where(&bob, |m| m.outgoing),
    )
    .await;
    assert_eq!(copy.body, "sent from my phone");
    assert_eq!(copy.uid, sent.uid);
    // And what bob sends reaches both of alice's devices, once each.
    b.client
        .send_message(&bob, &alice, "to all your devices", None)
        .await
        .unwrap();
    for t in [&mut desk, &mut phone] {
        wait_event(
            &mut t.events,
            T,
            "incoming",
            message_where(&bob, |m| !m.outgoing),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        desk.client
            .timeline(&alice, &bob, None, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        phone
            .client
            .timeline(&alice, &bob, None, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    for t in [desk, phone, b] {
        t.client.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_stanzas_are_ignored() {
    let server = Prosody::start().unwrap();
    let (mut a, alice, mut b, bob) = friends(&server).await;
    let original = b
        .client
        .send_message(&bob, &alice, "original", None)
        .await
        .unwrap();
    let at_a = wait_event(
        &mut a.events,
        T,
        "original",
        message_where(&bob, |m| !m.outgoing),
    )
    .await;
    // bob tries to correct and retract alice's message, react to an unknown
    // id, and sends a huge body: none of that changes alice's store.
    let mine = a
        .client
        .send_message(&alice, &bob, "alice's words", None)
        .await
        .unwrap();
    wait_event(
        &mut b.events,
        T,
        "alice's",
        message_where(&alice, |m| !m.outgoing),
    )
    .await;
    let bob_copy = b.client.timeline(&bob, &alice, None, 10).await.unwrap();
    let alices_at_b = bob_copy.iter().find(|m| !m.outgoing).unwrap();
    // bob can only correct his own messages through the API...
    assert!(b
        .client
        .correct_message(&bob, alices_at_b.id, "forged")
        .await
        .is_err());
    assert!(b
        .client
        .retract_message(&bob, alices_at_b.id)
        .await
        .is_err());
    // ...so forge raw stanzas from a second client of bob's account.
    let raw = [
        format!("<message xmlns='jabber:client' type='chat' to='{alice}' id='x1'><body>forged</body><replace xmlns='urn:xmpp:message-correct:0' id='{}'/></message>", mine.uid),
        format!("<message xmlns='jabber:client' type='chat' to='{alice}' id='x2'><retract xmlns='urn:xmpp:message-retract:1' id='{}'/></message>", mine.uid),
        format!("<message xmlns='jabber:client' type='chat' to='{alice}' id='x3'><reactions xmlns='urn:xmpp:reactions:0' id='no-such-id'><reaction>💥</reaction></reactions></message>"),
        format!("<message xmlns='jabber:client' type='chat' to='{alice}' id='x4'><body>{}</body></message>", "A".repeat(200_000)),
        format!("<message xmlns='jabber:client' type='chat' to='{alice}' id='x5'><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='{alice}/x' to='{bob}' type='chat'><body>forged carbon</body></message></forwarded></sent></message>"),
        format!("<message xmlns='jabber:client' type='chat' to='{alice}' id='x6'><unknown xmlns='urn:example:weird'><deep/></unknown></message>"),
        format!("<message xmlns='jabber:client' type='chat' to='{alice}' id='x7'><body>last</body></message>"),
    ];
    for xml in &raw {
        let el: tokio_xmpp::minidom::Element = xml.parse().unwrap();
        let msg = xmpp_parsers::message::Message::try_from(el).unwrap();
        b.client
            .send_stanza(&bob, tokio_xmpp::Stanza::Message(msg))
            .await
            .unwrap();
    }
    // "last" arrives after everything else (same stream, in order).
    wait_event(
        &mut a.events,
        T,
        "last",
        message_where(&bob, |m| m.body == "last"),
    )
    .await;
    let tl = a.client.timeline(&alice, &bob, None, 50).await.unwrap();
    let bodies: Vec<&str> = tl.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, vec!["original", "alice's words", "last"], "{tl:#?}");
    assert!(tl
        .iter()
        .all(|m| !m.edited && !m.retracted && m.reactions.is_empty()));
    assert_eq!(tl[0].id, at_a.id);
    assert_eq!(original.body, "original");
    // Still connected and working.
    send_and_see(&a, &alice, &mut b, &bob, "still here").await;
    a.client.shutdown().await;
    b.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_stops_messages_until_unblocked() {
    let server = Prosody::start().unwrap();
    let (mut a, alice, b, bob) = friends(&server).await;
    // The server's blocking as such: Bob's messages plain (encrypted, the
    // first one would wait for Alice's keys, which the block hides too).
    b.client
        .set_conversation_encryption(&bob, &alice, false)
        .await
        .unwrap();
    a.client.block(&alice, &bob).await.unwrap();
    wait_event(&mut a.events, T, "blocklist push", |ev| match ev {
        ClientEvent::Blocklist { blocked, .. } if blocked.contains(&bob) => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(a.client.blocked(&alice).await.unwrap(), vec![bob.clone()]);
    b.client
        .send_message(&bob, &alice, "you can't see this", None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(a
        .client
        .timeline(&alice, &bob, None, 10)
        .await
        .unwrap()
        .is_empty());
    a.client.unblock(&alice, &bob).await.unwrap();
    assert!(a.client.blocked(&alice).await.unwrap().is_empty());
    b.client
        .send_message(&bob, &alice, "now you can", None)
        .await
        .unwrap();
    let got = wait_event(
        &mut a.events,
        T,
        "after unblock",
        message_where(&bob, |m| !m.outgoing),
    )
    .await;
    assert_eq!(got.body, "now you can");
    a.client.shutdown().await;
    b.client.shutdown().await;
}

/// A message to an address nobody has yet bounces and is marked failed; it
/// can then be sent again as it was, and arrives once that person exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_message_can_be_sent_again() {
    let server = Prosody::start().unwrap();
    let (mut a, alice) = signed_in(&server).await;
    let name = format!("later{}", std::process::id());
    let later = format!("{name}@{}", server.domain());
    let sent = a
        .client
        .send_message(&alice, &later, "are you there yet?", None)
        .await
        .unwrap();
    let failed = wait_event(
        &mut a.events,
        T,
        "the bounce",
        message_where(&later, |m| m.id == sent.id && m.state == "failed"),
    )
    .await;
    assert_eq!(failed.body, "are you there yet?");
    // Prosody answers a message to an address nobody has with
    // <service-unavailable/>: the reason comes with the failure.
    assert_eq!(
        failed.failure.as_deref(),
        Some("service-unavailable"),
        "{failed:?}"
    );
    // The conversation list learns it too (its last message failed).
    wait_event(
        &mut a.events,
        T,
        "the list's last message failed",
        |ev| match ev {
            ClientEvent::Conversation { conversation: c }
                if c.peer == later && c.last.as_ref().is_some_and(|m| m.state == "failed") =>
            {
                Some(())
            }
            _ => None,
        },
    )
    .await;
    assert!(
        a.client
            .correct_message(&alice, sent.id, "are you there?")
            .await
            .is_err(),
        "a correction of a message nobody got is refused"
    );

    // Nothing else can be "sent again": not a message on its way, not a
    // retracted one, not another account's.
    let (b, bob) = signed_in(&server).await;
    let other = a
        .client
        .send_message(&alice, &bob, "on its way", None)
        .await
        .unwrap();
    let err = a.client.resend_message(&alice, other.id).await;
    assert!(err.is_err(), "a message on its way is not sent twice");
    assert!(b.client.resend_message(&bob, sent.id).await.is_err());
    a.client.retract_message(&alice, other.id).await.unwrap();
    b.client.shutdown().await;

    // Still nobody there: it fails again, and stays failed.
    a.client.resend_message(&alice, sent.id).await.unwrap();
    wait_event(
        &mut a.events,
        T,
        "queued again",
        message_where(&later, |m| m.id == sent.id && m.state == "queued"),
    )
    .await;
    wait_event(
        &mut a.events,
        T,
        "the second bounce",
        message_where(&later, |m| m.id == sent.id && m.state == "failed"),
    )
    .await;

    server.create_user_named(&name, "secret-later").unwrap();
    let mut l = client().await;
    l.client
        .add_account(account(
            &later,
            "secret-later",
            loopback(server.c2s_port(), false),
        ))
        .await
        .unwrap();
    wait_connected(&mut l, &later).await;
    let again = a.client.resend_message(&alice, sent.id).await.unwrap();
    assert_eq!((again.id, again.state.as_str()), (sent.id, "queued"));
    assert_eq!(again.failure, None, "the old reason goes with the retry");
    let got = wait_event(
        &mut l.events,
        T,
        "the message, at last",
        message_where(&alice, |m| !m.outgoing && m.body == "are you there yet?"),
    )
    .await;
    assert_eq!(got.body, "are you there yet?");
    wait_event(
        &mut a.events,
        T,
        "acknowledged this time",
        message_where(&later, |m| {
            m.id == sent.id && matches!(m.state.as_str(), "acked" | "delivered")
        }),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mine = a.client.timeline(&alice, &later, None, 10).await.unwrap();
    let row = mine.iter().find(|m| m.id == sent.id).unwrap();
    assert_ne!(row.state, "failed", "it stays sent");
    let theirs = l.client.timeline(&later, &alice, None, 10).await.unwrap();
    assert_eq!(
        theirs
            .iter()
            .filter(|m| m.body == "are you there yet?")
            .count(),
        1,
        "delivered once"
    );
    a.client.shutdown().await;
    l.client.shutdown().await;
}

/// Deleting a conversation removes it here for good: neither the archive
/// (scrolling back, or catching up after a restart) nor anything else
/// brings the old messages back, and a new message starts it anew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_conversation_does_not_come_back_from_the_archive() {
    let server = Prosody::start().unwrap();
    let (mut a, alice, b, bob) = friends(&server).await;
    for body in ["one", "two", "three"] {
        b.client
            .send_message(&bob, &alice, body, None)
            .await
            .unwrap();
        wait_event(
            &mut a.events,
            T,
            "bob's message",
            message_where(&bob, move |m| m.body == body),
        )
        .await;
    }
    a.client
        .send_message(&alice, &bob, "my answer", None)
        .await
        .unwrap();
    wait_event(
        &mut a.events,
        T,
        "answer on the server",
        message_where(&bob, |m| {
            m.outgoing && m.state != "queued" && m.state != "sent"
        }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(20)).await;

    a.client.delete_conversation(&alice, &bob).await.unwrap();
    wait_event(&mut a.events, T, "deleted", |ev| match ev {
        ClientEvent::ConversationDeleted { account, peer } if *account == alice && *peer == bob => {
            Some(())
        }
        _ => None,
    })
    .await;
    let empty = |t: &TestClient, alice: String, bob: String| {
        let client = t.client.clone();
        async move {
            assert!(client
                .timeline(&alice, &bob, None, 50)
                .await
                .unwrap()
                .is_empty());
            let older = client.load_older(&alice, &bob, None, 50).await.unwrap();
            assert!(
                older.is_empty(),
                "the archive's copies are not fetched again: {older:?}"
            );
            let (list, _) = client.subscribe_conversations().await.unwrap();
            assert!(list.iter().all(|c| c.peer != bob), "gone from the list");
        }
    };
    empty(&a, alice.clone(), bob.clone()).await;
    assert!(a
        .client
        .delete_conversation(&alice, "not a jid")
        .await
        .is_err());

    // A restart catches up with the archive: still nothing old.
    let mut a = reopen(a).await;
    wait_event(&mut a.events, T, "catch-up done", |ev| match ev {
        ClientEvent::HistorySync {
            account,
            done: true,
            ..
        } if *account == alice => Some(()),
        _ => None,
    })
    .await;
    empty(&a, alice.clone(), bob.clone()).await;

    // Bob writes again: the conversation starts anew with only that.
    send_and_see(&b, &bob, &mut a, &alice, "are you still there?").await;
    let now = a.client.load_older(&alice, &bob, None, 50).await.unwrap();
    assert_eq!(
        now.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["are you still there?"]
    );
    let (list, _) = a.client.subscribe_conversations().await.unwrap();
    let c = list
        .iter()
        .find(|c| c.peer == bob)
        .expect("back in the list");
    assert_eq!(c.unread, 1);
    a.client.shutdown().await;
    b.client.shutdown().await;
}
