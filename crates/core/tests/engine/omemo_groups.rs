//! Encrypted private groups (OMEMO 0.3 in a members-only room that shows
//! real JIDs), through the engine, on Prosody and ejabberd: two Terns and
//! an independent implementation (slixmpp-omemo) as members. Every message
//! decrypts for every member; a member added later reads the messages sent
//! after; a removed member gets no key for the messages sent after; a
//! public channel is never encrypted.

use std::time::Duration;

use serde_json::Value;
use tern_core::{MessageState, MessageView, RoomKind, RoomStatus};

use crate::omemo::{omemo_peer, published_device};
use crate::support::*;

const T: Duration = Duration::from_secs(30);

/// Tern's copy of a group message with this text, once it is there.
async fn in_room(t: &mut TestClient, room: &str, body: &str, outgoing: bool) -> MessageView {
    wait_event(
        &mut t.events,
        T,
        "the group message, decrypted",
        message_where(room, |m| m.body == body && m.outgoing == outgoing),
    )
    .await
}

/// The peer decrypted the group message with this id: its event.
async fn peer_decrypted(peer: &Peer, room: &str, id: &str) -> Value {
    let (room, id) = (room.to_string(), id.to_string());
    peer.event(move |e| {
        e["event"] == "omemo_message" && e["room"] == room.as_str() && e["id"] == id.as_str()
    })
    .await
}

/// The device ids a message of the room's archive has keys for, as the
/// peer reads the archive.
fn rids_of(items: &[Value], id: &str) -> Vec<u64> {
    let item = items
        .iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in the archive: {items:#?}"));
    item["omemo_rids"]
        .as_array()
        .unwrap_or_else(|| panic!("not encrypted: {item}"))
        .iter()
        .filter_map(Value::as_u64)
        .collect()
}

async fn private_group(server: Server) {
    init_tracing_at("tern_core=info,warn");
    let (alice, apass) = server.user();
    let (bob, bpass) = server.user();
    let carol_user = server.user();
    let carol = carol_user.0.clone();
    let mut a = tern_as(&server, &alice, &apass).await;
    let mut b = tern_as(&server, &bob, &bpass).await;
    let p = omemo_peer(&server, carol_user).await;
    let carol_device = u64::from(published_device(&p, &carol).await);

    // Alice makes a private group; Carol (slixmpp-omemo) becomes a member
    // and comes in.
    let room = server.room("secret");
    let view = a
        .client
        .create_room(&alice, "Secret", Some(&room), RoomKind::PrivateGroup)
        .await
        .unwrap();
    assert_eq!(view.status, RoomStatus::Joined);
    a.client
        .set_affiliation(&alice, &room, &carol, "member", None)
        .await
        .unwrap();
    let r = room.clone();
    p.run(move |p| p.muc_join(&r, "carol").unwrap()).await;

    // Alice's first message is encrypted for Carol without anyone asking:
    // the wire shows the fallback only, Carol decrypts it.
    let first = "The meeting is at the old mill";
    let sent = a
        .client
        .send_message(&alice, &room, first, None)
        .await
        .unwrap();
    let at_carol = peer_decrypted(&p, &room, &sent.uid).await;
    assert_eq!(at_carol["body"], first, "{at_carol}");
    assert_eq!(at_carol["real_jid"], alice.as_str());
    let (r, id) = (room.clone(), sent.uid.clone());
    let wire = p
        .event(move |e| {
            e["event"] == "message"
                && e["id"] == id.as_str()
                && e["from"].as_str().is_some_and(|f| f.starts_with(&r))
        })
        .await;
    assert_eq!(wire["encrypted"], true, "{wire}");
    assert_ne!(wire["body"], first, "the text went in the clear: {wire}");
    let delivered = wait_event(
        &mut a.events,
        T,
        "the room's echo",
        any_message(|m| m.uid == sent.uid && m.state == MessageState::Delivered),
    )
    .await;
    assert!(delivered.encrypted, "{delivered:?}");
    let lock = a
        .client
        .conversation_encryption(&alice, &room)
        .await
        .unwrap();
    assert!(lock.group, "{lock:?}");
    assert_eq!(lock.mode, "omemo", "{lock:?}");
    assert_eq!(lock.members, Some(1), "{lock:?}");
    assert_eq!(lock.next_encrypted, Some(true), "{lock:?}");

    // Carol answers encrypted for Alice: Alice decrypts it.
    let r = room.clone();
    let to = alice.clone();
    p.run(move |p| {
        p.muc_omemo_send(&r, &[&to], "Noted, I will bring the map", "carol-1")
            .unwrap()
    })
    .await;
    let m = in_room(&mut a, &room, "Noted, I will bring the map", false).await;
    assert!(m.encrypted && m.decrypt_error.is_none(), "{m:?}");
    assert_eq!(m.sender, format!("{room}/carol"));

    // Bob joins later: he reads what is sent from then on, and what he
    // sends is read by both.
    a.client
        .set_affiliation(&alice, &room, &bob, "member", None)
        .await
        .unwrap();
    let joined = b
        .client
        .join_room(&bob, &room, Some("bob"), None)
        .await
        .unwrap();
    assert_eq!(joined.status, RoomStatus::Joined);
    let second = "Bob is with us now";
    let sent2 = a
        .client
        .send_message(&alice, &room, second, None)
        .await
        .unwrap();
    let m = in_room(&mut b, &room, second, false).await;
    assert!(m.encrypted && m.decrypt_error.is_none(), "{m:?}");
    let at_carol = peer_decrypted(&p, &room, &sent2.uid).await;
    assert_eq!(at_carol["body"], second);

    let from_bob = "Hello both, encrypted from Bob";
    let sent3 = b
        .client
        .send_message(&bob, &room, from_bob, None)
        .await
        .unwrap();
    let m = in_room(&mut a, &room, from_bob, false).await;
    assert!(m.encrypted && m.decrypt_error.is_none(), "{m:?}");
    let at_carol = peer_decrypted(&p, &room, &sent3.uid).await;
    assert_eq!(at_carol["body"], from_bob);
    assert_eq!(at_carol["real_jid"], bob.as_str());

    // Carol's message for both Alice and Bob.
    let r = room.clone();
    let (to_a, to_b) = (alice.clone(), bob.clone());
    p.run(move |p| {
        p.muc_omemo_send(&r, &[&to_a, &to_b], "Carol to both of you", "carol-2")
            .unwrap()
    })
    .await;
    for t in [&mut a, &mut b] {
        let m = in_room(t, &room, "Carol to both of you", false).await;
        assert!(m.encrypted && m.decrypt_error.is_none(), "{m:?}");
    }

    // Bob closes Tern; Carol writes to both. Bob's Tern, opened again,
    // rejoins and reads them from the room's archive, each decrypted under
    // the sender's real JID the room stored with it.
    let r = room.clone();
    let (to_a, to_b) = (alice.clone(), bob.clone());
    let b = reopen_closed(b, async {
        p.run(move |p| {
            for i in 0..3 {
                p.muc_omemo_send(
                    &r,
                    &[&to_a, &to_b],
                    &format!("Bob, while you were out {i}"),
                    &format!("carol-away-{i}"),
                )
                .unwrap();
            }
        })
        .await;
        p.event(|e| e["event"] == "sent" && e["id"] == "carol-away-2")
            .await;
    })
    .await;
    let texts: Vec<String> = (0..3)
        .map(|i| format!("Bob, while you were out {i}"))
        .collect();
    let rows = stored_until(&b, &bob, &room, |rows| {
        texts.iter().all(|x| rows.iter().any(|m| &m.body == x))
    })
    .await;
    for m in rows
        .iter()
        .filter(|m| m.body.starts_with("Bob, while you were out"))
    {
        assert!(m.encrypted && m.decrypt_error.is_none(), "{m:?}");
    }
    let mut b = b;

    // Carol is removed: what Alice sends after has no key for her device.
    a.client
        .set_affiliation(&alice, &room, &carol, "none", None)
        .await
        .unwrap();
    let r = room.clone();
    p.event(move |e| {
        e["event"] == "muc_presence"
            && e["room"] == r.as_str()
            && e["self"] == true
            && e["type"] == "unavailable"
    })
    .await;
    let after = "Only Bob and I read this";
    let sent4 = a
        .client
        .send_message(&alice, &room, after, None)
        .await
        .unwrap();
    let m = in_room(&mut b, &room, after, false).await;
    assert!(m.encrypted && m.decrypt_error.is_none(), "{m:?}");

    // Let back in, Carol reads the room's archive: the message sent while
    // she was out has keys for Bob's and Alice's other devices, not hers;
    // the earlier one had hers.
    a.client
        .set_affiliation(&alice, &room, &carol, "member", None)
        .await
        .unwrap();
    let r = room.clone();
    p.run(move |p| p.muc_join(&r, "carol").unwrap()).await;
    let r = room.clone();
    let items = p.run(move |p| p.muc_history(&r, 20).unwrap()).await;
    let before = rids_of(&items, &sent2.uid);
    assert!(before.contains(&carol_device), "{before:?}");
    let removed = rids_of(&items, &sent4.uid);
    assert!(
        !removed.contains(&carol_device),
        "{removed:?} has {carol_device}"
    );
    assert!(!removed.is_empty(), "keys for Bob");
    a.client.shutdown().await;
    b.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_group_is_encrypted_for_its_members() {
    private_group(Server::prosody()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_group_is_encrypted_for_its_members_on_ejabberd() {
    private_group(Server::ejabberd().await).await;
}

/// In an encrypted group, a member who cannot read encrypted messages
/// (a slixmpp peer without OMEMO) joins: the next message waits, naming
/// them, and never reaches them in the clear; once they are no longer a
/// member, it goes, encrypted for the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_without_keys_holds_messages_never_plain() {
    init_tracing_at("tern_core=info,warn");
    let server = Server::prosody();
    let (alice, apass) = server.user();
    let carol_user = server.user();
    let carol = carol_user.0.clone();
    let mut a = tern_as(&server, &alice, &apass).await;
    let p = omemo_peer(&server, carol_user).await;
    let dave_peer = peer(&server).await;
    let dave = dave_peer.bare();
    let room = server.room("mixed");
    a.client
        .create_room(&alice, "Mixed", Some(&room), RoomKind::PrivateGroup)
        .await
        .unwrap();
    a.client
        .set_affiliation(&alice, &room, &carol, "member", None)
        .await
        .unwrap();
    let r = room.clone();
    p.run(move |p| p.muc_join(&r, "carol").unwrap()).await;
    let first = a
        .client
        .send_message(&alice, &room, "encrypted from the start", None)
        .await
        .unwrap();
    peer_decrypted(&p, &room, &first.uid).await;

    a.client
        .set_affiliation(&alice, &room, &dave, "member", None)
        .await
        .unwrap();
    let r = room.clone();
    dave_peer
        .run(move |p| p.muc_join(&r, "dave").unwrap())
        .await;
    let secret = "Dave must not read this in the clear";
    let held = a
        .client
        .send_message(&alice, &room, secret, None)
        .await
        .unwrap();
    let waiting = wait_event(
        &mut a.events,
        T,
        "the message held with its reason",
        any_message(|m| m.uid == held.uid && m.held.is_some()),
    )
    .await;
    let why = waiting.held.unwrap();
    assert!(why.contains(&dave), "{why}");
    let lock = a
        .client
        .conversation_encryption(&alice, &room)
        .await
        .unwrap();
    assert!(
        lock.problem.as_deref().is_some_and(|p| p.contains(&dave)),
        "{lock:?}"
    );

    // Dave is no longer a member: the message goes, encrypted for Carol.
    a.client
        .set_affiliation(&alice, &room, &dave, "none", None)
        .await
        .unwrap();
    let at_carol = peer_decrypted(&p, &room, &held.uid).await;
    assert_eq!(at_carol["body"], secret);
    let events = dave_peer.run(|p| p.clear_events()).await;
    assert!(
        !events.iter().any(|e| e.to_string().contains(secret)),
        "the text reached Dave: {events:#?}"
    );
    a.client.shutdown().await;
}

/// A public channel is never encrypted, even with members who have keys;
/// turning encryption on there is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_channel_is_never_encrypted() {
    init_tracing_at("tern_core=info,warn");
    let server = Server::prosody();
    let (alice, apass) = server.user();
    let carol_user = server.user();
    let mut a = tern_as(&server, &alice, &apass).await;
    let p = omemo_peer(&server, carol_user).await;
    let room = server.room("open");
    a.client
        .create_room(&alice, "Open", Some(&room), RoomKind::PublicChannel)
        .await
        .unwrap();
    let r = room.clone();
    p.run(move |p| p.muc_join(&r, "carol").unwrap()).await;
    let text = "Anyone may read this";
    let sent = a
        .client
        .send_message(&alice, &room, text, None)
        .await
        .unwrap();
    let id = sent.uid.clone();
    let wire = p
        .event(move |e| e["event"] == "message" && e["id"] == id.as_str())
        .await;
    assert_eq!(wire["body"], text);
    assert_eq!(wire["encrypted"], false);
    let delivered = wait_event(
        &mut a.events,
        T,
        "the room's echo",
        any_message(|m| m.uid == sent.uid && m.state == MessageState::Delivered),
    )
    .await;
    assert!(!delivered.encrypted);
    let lock = a
        .client
        .conversation_encryption(&alice, &room)
        .await
        .unwrap();
    assert_eq!(lock.next_encrypted, Some(false), "{lock:?}");
    assert!(a
        .client
        .set_conversation_encryption(&alice, &room, true)
        .await
        .is_err());
    a.client.shutdown().await;
}
