//! Sending encrypted (OMEMO 0.3) through the engine, to an independent
//! implementation (slixmpp-omemo, python-oldmemo) and to another Tern, on
//! Prosody and ejabberd: a conversation with a contact who has devices is
//! encrypted without the user doing anything, replies and corrections stay
//! encrypted, the user's other device reads what this one sent, and a
//! message that cannot be encrypted waits with its reason and is never
//! sent plain unless the user chooses so.

use std::time::Duration;

use serde_json::Value;
use tern_core::{MessageState, MessageView};

use crate::omemo::{omemo_peer, published_device};
use crate::support::*;

const T: Duration = Duration::from_secs(30);

/// A peer's `omemo_message` event (a message it decrypted) with this id.
fn decrypted(id: &str) -> impl Fn(&Value) -> bool + Send + 'static {
    let id = id.to_string();
    move |e| e["event"] == "omemo_message" && e["id"] == id.as_str()
}

/// The peer's raw `message` event with this id (what went on the wire).
fn raw(id: &str) -> impl Fn(&Value) -> bool + Send + 'static {
    let id = id.to_string();
    move |e| e["event"] == "message" && e["id"] == id.as_str()
}

/// Whether any event the peer reported so far shows `text` (in a body,
/// decrypted or not).
async fn peer_saw(peer: &Peer, text: &str) -> bool {
    let text = text.to_string();
    let events = peer.run(|p| p.clear_events()).await;
    events.iter().any(|e| e.to_string().contains(&text))
}

/// A Tern signed in as a fresh user and a slixmpp-omemo peer as another:
/// (Tern, its account, the peer, the peer's bare JID).
async fn tern_and_omemo_peer(server: &Server) -> (TestClient, String, Peer, String) {
    let user = server.user();
    let (t, account, _) = tern(server).await;
    let peer = omemo_peer(server, user).await;
    let jid = peer.bare();
    (t, account, peer, jid)
}

/// Turns the peer's echo off and sends it `text` from Tern, once it
/// decrypted it: the sessions exist both ways from then on.
async fn quiet_encrypted_hello(
    t: &TestClient,
    peer: &Peer,
    account: &str,
    to: &str,
    text: &str,
) -> MessageView {
    peer.run(|p| p.set_omemo_echo(false).unwrap()).await;
    let hello = t
        .client
        .send_message(account, to, text, None)
        .await
        .unwrap();
    peer.event(decrypted(&hello.uid)).await;
    hello
}

/// Tern's message with this uid, once it is held (with its reason).
async fn held_reason(t: &mut TestClient, uid: &str) -> MessageView {
    wait_event(
        &mut t.events,
        T,
        "the message held with its reason",
        any_message(|m| m.uid == uid && m.held.is_some()),
    )
    .await
}

/// Tern's own message with this uid once it reaches `state`.
async fn own_state(t: &mut TestClient, uid: &str, state: MessageState) -> MessageView {
    wait_event(
        &mut t.events,
        T,
        "the message's state",
        any_message(|m| m.uid == uid && m.state == state),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tern_and_slixmpp_omemo_talk_encrypted() {
    talk_encrypted(Server::prosody()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tern_and_slixmpp_omemo_talk_encrypted_on_ejabberd() {
    talk_encrypted(Server::ejabberd().await).await;
}

/// The first message to a contact Tern never talked to: their keys are
/// fetched when it goes, it goes encrypted, the wire shows only the
/// fallback; the peer's encrypted answer is decrypted; the conversation is
/// encrypted from then on; a correction is encrypted too.
async fn talk_encrypted(server: Server) {
    init_tracing_at("tern_core=info,warn");
    let (mut t, alice, peer, bob) = tern_and_omemo_peer(&server).await;
    published_device(&peer, &alice).await;
    let before = t
        .client
        .conversation_encryption(&alice, &bob)
        .await
        .unwrap();
    assert_eq!(before.mode, "auto");

    let text = "the first secret ✓ <b>not markup</b>";
    let sent = t
        .client
        .send_message(&alice, &bob, text, None)
        .await
        .unwrap();
    let got = peer.event(decrypted(&sent.uid)).await;
    assert_eq!(got["body"], text, "{got}");
    let wire = peer.event(raw(&sent.uid)).await;
    assert_eq!(wire["encrypted"], true, "{wire}");
    assert!(!wire.to_string().contains("first secret"), "{wire}");
    let acked = own_state(&mut t, &sent.uid, MessageState::Acked).await;
    assert!(acked.encrypted && acked.held.is_none(), "{acked:?}");

    // The peer echoes it back, encrypted: decrypted here.
    let echo = wait_event(
        &mut t.events,
        T,
        "the peer's encrypted answer",
        message_where(&bob, |m| !m.outgoing && m.body == text),
    )
    .await;
    assert!(echo.encrypted && echo.decrypt_error.is_none(), "{echo:?}");

    let after = t
        .client
        .conversation_encryption(&alice, &bob)
        .await
        .unwrap();
    assert_eq!(after.mode, "omemo");
    assert_eq!(after.next_encrypted, Some(true));
    assert_eq!(after.contact_devices, 1, "{after:?}");
    assert!(after.problem.is_none(), "{after:?}");

    // The next one needs no fetching; then a correction of it.
    let second = t
        .client
        .send_message(&alice, &bob, "second, encrypted at once", None)
        .await
        .unwrap();
    let got = peer.event(decrypted(&second.uid)).await;
    assert_eq!(got["body"], "second, encrypted at once");
    own_state(&mut t, &second.uid, MessageState::Acked).await;
    t.client
        .correct_message(&alice, second.id, "second, corrected in secret")
        .await
        .unwrap();
    let fix = peer
        .event(|e| e["event"] == "message" && !e["replace_id"].is_null())
        .await;
    assert_eq!(fix["encrypted"], true, "{fix}");
    assert_eq!(fix["replace_id"], second.uid.as_str());
    let fix_id = fix["id"].as_str().unwrap().to_string();
    assert!(
        !fix.to_string().contains("in secret"),
        "plain on the wire: {fix}"
    );
    let got = peer.event(decrypted(&fix_id)).await;
    assert_eq!(got["body"], "second, corrected in secret");
}

/// A contact without OMEMO: an undecided conversation goes plain (their
/// device list is asked for once); once the user turns encryption on, a
/// message waits with the reason and nothing reaches the contact, until
/// the user chooses to send it unencrypted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keys_a_message_waits_and_goes_plain_only_when_chosen() {
    init_tracing_at("tern_core=info,warn");
    let server = Server::prosody();
    let (mut t, alice, _) = tern(&server).await;
    let peer = peer(&server).await;
    let bob = peer.bare();

    let plain = t
        .client
        .send_message(&alice, &bob, "hello without keys", None)
        .await
        .unwrap();
    let got = peer.event(raw(&plain.uid)).await;
    assert_eq!(got["body"], "hello without keys");
    assert_eq!(got["encrypted"], false);
    let view = t
        .client
        .conversation_encryption(&alice, &bob)
        .await
        .unwrap();
    assert_eq!((view.mode.as_str(), view.next_encrypted), ("auto", None));

    let view = t
        .client
        .set_conversation_encryption(&alice, &bob, true)
        .await
        .unwrap();
    assert_eq!(view.next_encrypted, Some(true));
    assert!(
        view.problem
            .as_deref()
            .is_some_and(|p| p.contains("not published")),
        "{view:?}"
    );
    let secret = "this must never go plain by accident";
    let held = t
        .client
        .send_message(&alice, &bob, secret, None)
        .await
        .unwrap();
    let waiting = held_reason(&mut t, &held.uid).await;
    assert_eq!(waiting.state, MessageState::Queued);
    let reason = waiting.held.unwrap();
    assert!(
        reason.contains("not published any encryption keys"),
        "{reason}"
    );
    // A later message waits behind it, in order.
    let after = t
        .client
        .send_message(&alice, &bob, "and this one after it", None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!peer_saw(&peer, secret).await, "sent plain by accident");
    assert!(!peer_saw(&peer, "after it").await, "overtook the held one");

    // A reconnect tries again; it still waits.
    t.client.set_enabled(&alice, false).await.unwrap();
    t.client.set_enabled(&alice, true).await.unwrap();
    wait_connected(&mut t, &alice).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !peer_saw(&peer, secret).await,
        "sent plain after a reconnect"
    );

    // The user's explicit choice, for that message only: the next one
    // then waits in its turn, for the same reason.
    t.client.send_unencrypted(&alice, held.id).await.unwrap();
    let got = peer.event(raw(&held.uid)).await;
    assert_eq!(got["body"], secret);
    assert_eq!(got["encrypted"], false);
    let _ = own_state(&mut t, &held.uid, MessageState::Acked).await;
    held_reason(&mut t, &after.uid).await;
    assert!(!peer_saw(&peer, "after it").await, "sent plain by accident");
    t.client.send_unencrypted(&alice, after.id).await.unwrap();
    let got = peer.event(raw(&after.uid)).await;
    assert_eq!(got["body"], "and this one after it");
}

/// Waits until `t`'s account knows `n` other devices of its own to
/// encrypt for (the other device's list reached it).
async fn knows_own_devices(t: &TestClient, account: &str, contact: &str, n: u32) {
    let start = std::time::Instant::now();
    loop {
        let v = t
            .client
            .conversation_encryption(account, contact)
            .await
            .unwrap();
        if v.own_devices == n {
            return;
        }
        assert!(start.elapsed() < T, "own devices never known: {v:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A message of the conversation with `peer` whose body is `body`, from
/// the account (`outgoing`) or to it.
async fn got(t: &mut TestClient, peer: &str, body: &str, outgoing: bool) -> MessageView {
    wait_event(
        &mut t.events,
        T,
        "the message, decrypted",
        message_where(peer, |m| m.body == body && m.outgoing == outgoing),
    )
    .await
}

/// On Prosody, with slixmpp-omemo: what one of the user's Tern devices
/// sends reaches the other one (a carbon) decrypted, and the contact's
/// answer is decrypted on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_other_device_reads_both_sides() {
    init_tracing_at("tern_core=info,warn");
    let server = Server::prosody();
    let (alice, pass) = server.user();
    let bob = server.user();
    let mut a1 = tern_as(&server, &alice, &pass).await;
    let peer = omemo_peer(&server, bob).await;
    let bob = peer.bare();
    let mut a2 = tern_as(&server, &alice, &pass).await;
    knows_own_devices(&a1, &alice, &bob, 1).await;

    let text = "from my laptop, readable on my desktop 🔐";
    let sent = a1
        .client
        .send_message(&alice, &bob, text, None)
        .await
        .unwrap();
    let got_peer = peer.event(decrypted(&sent.uid)).await;
    assert_eq!(got_peer["body"], text);
    let carbon = got(&mut a2, &bob, text, true).await;
    assert!(
        carbon.encrypted && carbon.decrypt_error.is_none(),
        "{carbon:?}"
    );
    assert_eq!(carbon.uid, sent.uid);

    // The peer's echo is encrypted for both of Alice's devices.
    let echo1 = got(&mut a1, &bob, text, false).await;
    let echo2 = got(&mut a2, &bob, text, false).await;
    assert!(echo1.encrypted && echo2.encrypted);
    assert!(echo1.decrypt_error.is_none() && echo2.decrypt_error.is_none());
}

/// On ejabberd, Tern to Tern: the first message (to an account with two
/// devices, both known published) and the answer decrypt, and the
/// answering account's other device reads both sides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tern_and_tern_talk_encrypted_on_ejabberd() {
    init_tracing_at("tern_core=info,warn");
    let server = Server::ejabberd().await;
    let (alice, apass) = server.user();
    let (bob, bpass) = server.user();
    let mut a1 = tern_as(&server, &alice, &apass).await;
    let mut b = tern_as(&server, &bob, &bpass).await;
    let mut a2 = tern_as(&server, &alice, &apass).await;
    // Alice's first device knows her second from the published list: both
    // are published (the first message must not race a publish).
    knows_own_devices(&a1, &alice, &bob, 1).await;

    let first = "Alice, only your two devices can read this";
    b.client
        .send_message(&bob, &alice, first, None)
        .await
        .unwrap();
    for t in [&mut a1, &mut a2] {
        let m = got(t, &bob, first, false).await;
        assert!(m.encrypted && m.decrypt_error.is_none(), "{m:?}");
    }
    let v = a1
        .client
        .conversation_encryption(&alice, &bob)
        .await
        .unwrap();
    assert_eq!(v.mode, "omemo", "an encrypted message decides it: {v:?}");

    let answer = "Bob, encrypted back (and my other device reads it)";
    let sent = a1
        .client
        .send_message(&alice, &bob, answer, None)
        .await
        .unwrap();
    let acked = own_state(&mut a1, &sent.uid, MessageState::Acked).await;
    assert!(acked.encrypted, "{acked:?}");
    let at_bob = got(&mut b, &alice, answer, false).await;
    assert!(
        at_bob.encrypted && at_bob.decrypt_error.is_none(),
        "{at_bob:?}"
    );
    let at_a2 = got(&mut a2, &bob, answer, true).await;
    assert!(
        at_a2.encrypted && at_a2.decrypt_error.is_none(),
        "{at_a2:?}"
    );
}

/// In an encrypted conversation with slixmpp-omemo: a file Tern sends is
/// encrypted before its upload and announced only inside the encrypted
/// message (the wire shows no link); the peer downloads and decrypts it
/// byte-equal. The peer's encrypted file comes back the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_in_an_encrypted_conversation_are_encrypted() {
    init_tracing_at("tern_core=info,warn");
    let server = Server::prosody();
    let (mut t, alice, peer, bob) = tern_and_omemo_peer(&server).await;
    quiet_encrypted_hello(&t, &peer, &alice, &bob, "hello").await;

    let dir = tempfile::tempdir().unwrap();
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let path = dir.path().join("plans.bin");
    std::fs::write(&path, &bytes).unwrap();
    let sent = t
        .client
        .send_files(&alice, &bob, &[path], None, None)
        .await
        .unwrap();
    let uid = sent[0].uid.clone();
    let got = peer.event(decrypted(&uid)).await;
    let url = got["body"].as_str().unwrap().to_string();
    assert!(url.starts_with("aesgcm://"), "{got}");
    let wire = peer.event(raw(&uid)).await;
    assert_eq!(wire["encrypted"], true);
    assert!(
        wire["oob_url"].is_null() && wire["file"].is_null(),
        "{wire}"
    );
    assert!(!wire.to_string().contains("aesgcm"), "{wire}");
    let target = dir.path().join("at-peer.bin");
    let t2 = target.clone();
    peer.run(move |p| p.download(&url, &t2).unwrap()).await;
    assert!(std::fs::read(&target).unwrap() == bytes, "not byte-equal");
    let acked = own_state(&mut t, &uid, MessageState::Acked).await;
    assert!(acked.encrypted, "{acked:?}");

    // The peer's encrypted file.
    let theirs: Vec<u8> = (0..120_000u32).map(|i| (i * 13 % 253) as u8).collect();
    let their_path = dir.path().join("reply.bin");
    std::fs::write(&their_path, &theirs).unwrap();
    let to = alice.clone();
    peer.run(move |p| {
        let opts = tern_testkit::UploadOptions {
            aesgcm_iv_len: Some(12),
            ..tern_testkit::UploadOptions::new("application/octet-stream")
        };
        p.upload_send_with(&to, &their_path, "their-file", &opts)
            .unwrap()
    })
    .await;
    let m = wait_event(
        &mut t.events,
        T,
        "the peer's encrypted file",
        message_where(&bob, |m| {
            !m.outgoing && m.file.as_ref().is_some_and(|f| f.encrypted)
        }),
    )
    .await;
    assert!(m.encrypted, "came in an encrypted message: {m:?}");
    t.client.download_file(&alice, m.id).await.unwrap();
    wait_event(
        &mut t.events,
        T,
        "downloaded",
        any_message(|x| {
            x.id == m.id
                && x.file
                    .as_ref()
                    .is_some_and(|f| f.state == tern_core::FileState::Local)
        }),
    )
    .await;
    let local = t.client.file_path(&alice, m.id).await.unwrap();
    assert!(std::fs::read(local).unwrap() == theirs, "not byte-equal");
}

/// A contact whose device list names a device without a bundle (a broken
/// or half-installed client): the message waits with the reason, and
/// nothing reaches the contact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_without_a_bundle_holds_the_message() {
    init_tracing_at("tern_core=info,warn");
    let server = Server::prosody();
    let (mut t, alice, _) = tern(&server).await;
    let peer = peer(&server).await;
    let bob = peer.bare();
    let publish = "<iq type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'>\
        <publish node='eu.siacs.conversations.axolotl.devicelist'><item id='current'>\
        <list xmlns='eu.siacs.conversations.axolotl'><device id='4242'/></list></item></publish>\
        <publish-options><x xmlns='jabber:x:data' type='submit'>\
        <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
        <field var='pubsub#access_model'><value>open</value></field></x></publish-options>\
        </pubsub></iq>";
    let answer = peer
        .run(move |p| p.iq(publish, Duration::from_secs(10)).unwrap())
        .await;
    assert_eq!(answer["type"], "result", "{answer}");

    let secret = "no bundle, no plain text";
    let sent = t
        .client
        .send_message(&alice, &bob, secret, None)
        .await
        .unwrap();
    let held = held_reason(&mut t, &sent.uid).await;
    let reason = held.held.unwrap();
    assert!(
        reason.contains("could not get the encryption keys"),
        "{reason}"
    );
    let view = t
        .client
        .conversation_encryption(&alice, &bob)
        .await
        .unwrap();
    assert_eq!(view.mode, "omemo", "the contact has a device: {view:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!peer_saw(&peer, secret).await, "sent plain by accident");
}

/// Waits for the end of an archive catch-up of the account that fetched
/// at least `at_least` results.
async fn caught_up(t: &mut TestClient, account: &str, at_least: u64, within: Duration) {
    wait_event(&mut t.events, within, "the catch-up's end", |ev| match ev {
        tern_core::ClientEvent::HistorySync {
            account: a,
            done: true,
            fetched,
            ..
        } if a == account && *fetched >= at_least => Some(()),
        _ => None,
    })
    .await;
}

/// `messages` are exactly `m-0` .. `m-(n-1)`, in order, each decrypted.
fn all_decrypted(messages: &[MessageView], n: usize) {
    let failed: Vec<_> = messages
        .iter()
        .filter(|m| !m.encrypted || m.decrypt_error.is_some())
        .map(|m| (m.body.clone(), m.decrypt_error.clone()))
        .take(5)
        .collect();
    assert!(failed.is_empty(), "not decrypted: {failed:?}");
    let bodies: Vec<&str> = messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies.len(), n);
    let expected: Vec<String> = (0..n).map(|i| format!("m-{i}")).collect();
    assert!(
        bodies.iter().zip(&expected).all(|(a, b)| *a == b.as_str()),
        "out of order or wrong: first {:?}",
        &bodies[..5.min(n)]
    );
}

/// Empties the server's offline store, so that what came while the user was
/// away comes from the archive.
fn purge_offline(server: &Server, at_least: usize) {
    let Server::Prosody(prosody) = server else {
        unreachable!("Prosody only")
    };
    let n = prosody.purge_offline().unwrap();
    assert!(n >= at_least as u64, "kept for offline delivery: {n}");
}

/// While Tern is away, slixmpp-omemo sends encrypted messages; the server's
/// offline store is emptied, so they come from the archive: each is
/// decrypted to its exact text, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_catch_up_decrypts_slixmpp_omemo_messages() {
    init_tracing_at("tern_core=info,warn");
    // The peer takes about 0.1 s per message; the 2,000-message run below
    // comes from another Tern.
    const N: usize = 60;
    let server = Server::prosody();
    let (mut t, alice, peer, bob) = tern_and_omemo_peer(&server).await;
    published_device(&peer, &alice).await;
    t.client.set_enabled(&alice, false).await.unwrap();
    let to = alice.clone();
    peer.run(move |p| {
        p.omemo_flood(&to, N, "m", Duration::from_secs(120))
            .unwrap()
    })
    .await;
    purge_offline(&server, N);
    t.client.set_enabled(&alice, true).await.unwrap();
    caught_up(&mut t, &alice, N as u64, Duration::from_secs(60)).await;
    let page = t
        .client
        .timeline(&alice, &bob, None, N as i64 + 10)
        .await
        .unwrap();
    all_decrypted(&page, N);
}

/// 2,000 encrypted messages from another Tern while the user's Tern is
/// away, caught up from the archive newest page first (250 a page): every
/// one decrypts, though the ratchet needs them oldest first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_catch_up_decrypts_2000_messages() {
    init_tracing_at("tern_core=info,warn");
    const N: usize = 2000;
    let server = Server::prosody();
    let (alice, apass) = server.user();
    let (bob, bpass) = server.user();
    let mut a = tern_as(&server, &alice, &apass).await;
    let mut b = tern_as(&server, &bob, &bpass).await;
    // One message each way first: Bob's device knows Alice's.
    b.client
        .send_message(&bob, &alice, "hello", None)
        .await
        .unwrap();
    got(&mut a, &bob, "hello", false).await;
    a.client.set_enabled(&alice, false).await.unwrap();
    let mut last = None;
    for i in 0..N {
        last = Some(
            b.client
                .send_message(&bob, &alice, &format!("m-{i}"), None)
                .await
                .unwrap(),
        );
    }
    let last = last.unwrap();
    let acked = wait_event(
        &mut b.events,
        Duration::from_secs(180),
        "the last message acknowledged",
        any_message(|m| m.uid == last.uid && m.state == MessageState::Acked),
    )
    .await;
    assert!(acked.encrypted);
    purge_offline(&server, N);
    a.client.set_enabled(&alice, true).await.unwrap();
    caught_up(&mut a, &alice, N as u64, Duration::from_secs(120)).await;
    let page = a
        .client
        .timeline(&alice, &bob, None, N as i64 + 10)
        .await
        .unwrap();
    assert_eq!(page.first().map(|m| m.body.as_str()), Some("hello"));
    all_decrypted(&page[1..], N);
}

/// With slixmpp-omemo on Prosody: the peer's encrypted correction replaces
/// the text of its encrypted message (still encrypted); its reaction to an
/// encrypted message lands on it; what it sends while Tern is closed is
/// decrypted, in order, when Tern opens again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrections_reactions_and_offline_messages_from_the_peer_decrypt() {
    init_tracing_at("tern_core=info,warn");
    let server = Server::prosody();
    let (mut t, alice, peer, bob) = tern_and_omemo_peer(&server).await;
    let hello = quiet_encrypted_hello(&t, &peer, &alice, &bob, "hello, encrypted").await;

    let to = alice.clone();
    peer.run(move |p| p.omemo_send(&to, "I am at the libary", "bob-1").unwrap())
        .await;
    let first = got(&mut t, &bob, "I am at the libary", false).await;
    assert!(
        first.encrypted && first.decrypt_error.is_none(),
        "{first:?}"
    );

    let to = alice.clone();
    peer.run(move |p| {
        p.omemo_correct(&to, "bob-1", "I am at the library", "bob-2")
            .unwrap()
    })
    .await;
    let fixed = wait_event(
        &mut t.events,
        T,
        "the encrypted correction",
        message_where(&bob, |m| {
            m.id == first.id && m.body == "I am at the library"
        }),
    )
    .await;
    assert!(
        fixed.edited && fixed.encrypted && fixed.decrypt_error.is_none(),
        "{fixed:?}"
    );

    // Reactions go in the clear (OMEMO 0.3 encrypts bodies only), on the
    // encrypted message they refer to.
    let (to, id) = (alice.clone(), hello.uid.clone());
    peer.run(move |p| p.react(&to, &id, &["👍"]).unwrap()).await;
    let reacted = wait_event(
        &mut t.events,
        T,
        "the reaction",
        message_where(&bob, |m| m.id == hello.id && !m.reactions.is_empty()),
    )
    .await;
    assert!(
        format!("{:?}", reacted.reactions).contains('👍'),
        "{reacted:?}"
    );
    // And Tern's reaction to the peer's encrypted message reaches it.
    t.client
        .react(&alice, first.id, &["🎉".to_string()])
        .await
        .unwrap();
    let theirs = peer
        .event(|e| e["event"] == "message" && e["reactions"]["id"] == "bob-1")
        .await;
    assert_eq!(theirs["reactions"]["emojis"][0], "🎉", "{theirs}");

    // Tern closed: the peer's encrypted messages wait on the server, and
    // are decrypted when Tern opens again.
    let t = reopen_closed(t, async {
        let to = alice.clone();
        peer.run(move |p| {
            for i in 0..3 {
                p.omemo_send(
                    &to,
                    &format!("while you were away {i}"),
                    &format!("away-{i}"),
                )
                .unwrap();
            }
        })
        .await;
        peer.event(|e| e["event"] == "sent" && e["id"] == "away-2")
            .await;
    })
    .await;
    // (Decrypted as Tern opens, before events can be followed: the store
    // tells.)
    let texts: Vec<String> = (0..3).map(|i| format!("while you were away {i}")).collect();
    let rows = stored_until(&t, &alice, &bob, |rows| {
        texts.iter().all(|x| rows.iter().any(|m| &m.body == x))
    })
    .await;
    for m in rows
        .iter()
        .filter(|m| m.body.starts_with("while you were away"))
    {
        assert!(m.encrypted && m.decrypt_error.is_none(), "{m:?}");
    }
    // The archive's copies of what came before (the correction among
    // them) changed nothing.
    let first = rows.iter().find(|m| m.uid == "bob-1").unwrap();
    assert_eq!(first.body, "I am at the library", "{rows:#?}");
    t.client.shutdown().await;
}

/// With slixmpp-omemo on Prosody: Tern loses its session with the peer's
/// device (as after restoring an old backup). The peer's next message
/// cannot be decrypted and says why; Tern rebuilds the session from the
/// peer's bundle and tells the peer with a key-transport message; what
/// the peer sends after decrypts, and so does Tern's answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_session_is_rebuilt() {
    use tern_omemo::Store as _;
    init_tracing_at("tern_core=info,warn");
    let server = Server::prosody();
    let (mut t, alice, peer, bob) = tern_and_omemo_peer(&server).await;
    quiet_encrypted_hello(&t, &peer, &alice, &bob, "hello before the break").await;
    let to = alice.clone();
    peer.run(move |p| p.omemo_send(&to, "one", "bob-1").unwrap())
        .await;
    got(&mut t, &bob, "one", false).await;

    // Tern's sessions with the peer are lost while it is closed.
    let (me, them) = (alice.clone(), bob.clone());
    let dir = t.dir.path().to_path_buf();
    let t = reopen_closed(t, async move {
        let store = tern_store::Store::open(&dir.join("tern.sqlite3"))
            .await
            .unwrap();
        let omemo = store.omemo(&me.parse().unwrap());
        let devices = omemo.load_devices(&them.parse().unwrap()).await.unwrap();
        assert!(!devices.is_empty());
        for d in devices {
            omemo.remove_session(&d.address).await.unwrap();
        }
        store.close().await;
    })
    .await;
    let mut t = t;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let to = alice.clone();
    peer.run(move |p| p.omemo_send(&to, "after the break", "bob-2").unwrap())
        .await;
    let rows = stored_until(&t, &alice, &bob, |rows| {
        rows.iter().any(|m| m.uid == "bob-2")
    })
    .await;
    let broken = rows.iter().find(|m| m.uid == "bob-2").unwrap();
    assert!(broken.decrypt_error.is_some(), "{broken:?}");
    assert_ne!(broken.body, "after the break");
    // The key-transport message reaches the peer (no text).
    let a = alice.clone();
    let kt = peer
        .event(move |e| {
            e["event"] == "omemo_message"
                && e["from"]
                    .as_str()
                    .is_some_and(|f| f.starts_with(a.as_str()))
                && e["body"].is_null()
        })
        .await;
    assert!(kt["device_id"].is_u64(), "{kt}");

    let to = alice.clone();
    peer.run(move |p| p.omemo_send(&to, "after the repair", "bob-3").unwrap())
        .await;
    let m = got(&mut t, &bob, "after the repair", false).await;
    assert!(m.encrypted && m.decrypt_error.is_none(), "{m:?}");
    let back = t
        .client
        .send_message(&alice, &bob, "and back, on the new session", None)
        .await
        .unwrap();
    let at_peer = peer.event(decrypted(&back.uid)).await;
    assert_eq!(at_peer["body"], "and back, on the new session");
    t.client.shutdown().await;
}

/// With slixmpp-omemo on Prosody: the user distrusts the contact's only
/// device. The next message waits, saying so, and never reaches the peer
/// in the clear; trusting the device again sends it, encrypted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_device_distrusted_the_message_waits() {
    init_tracing_at("tern_core=info,warn");
    let server = Server::prosody();
    let (mut t, alice, peer, bob) = tern_and_omemo_peer(&server).await;
    quiet_encrypted_hello(&t, &peer, &alice, &bob, "hello while trusted").await;
    let devices = t.client.encryption_devices(&alice, &bob).await.unwrap();
    assert_eq!(devices.len(), 1, "{devices:?}");
    let id = devices[0].device_id;
    t.client
        .set_device_trust(&alice, &bob, id, tern_core::DeviceTrust::Distrusted)
        .await
        .unwrap();
    let secret = "not for a distrusted device";
    let sent = t
        .client
        .send_message(&alice, &bob, secret, None)
        .await
        .unwrap();
    let held = held_reason(&mut t, &sent.uid).await;
    assert!(
        held.held.as_deref().unwrap().contains("distrusted"),
        "{held:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!peer_saw(&peer, secret).await, "the text reached the peer");

    t.client
        .set_device_trust(&alice, &bob, id, tern_core::DeviceTrust::Trusted)
        .await
        .unwrap();
    let got = peer.event(decrypted(&sent.uid)).await;
    assert_eq!(got["body"], secret);
    let acked = own_state(&mut t, &sent.uid, MessageState::Acked).await;
    assert!(acked.encrypted && acked.held.is_none(), "{acked:?}");
    t.client.shutdown().await;
}

/// Prosody refuses every OMEMO publish once the peer's keys are out: Tern
/// cannot publish its own device list and bundle, and slixmpp-omemo (like
/// other apps) refuses what an unpublished device encrypts. Tern says so
/// (the account's encryption view); its message waits with that reason,
/// never plain; once the server takes the keys again (a reconnect), it
/// goes encrypted and the peer reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_refusing_this_devices_keys_holds_messages() {
    init_tracing_at("tern_core=info,warn");
    let server = Server::prosody_with(tern_testkit::ProsodyOptions {
        admin_shell: true,
        ..Default::default()
    });
    let bob_user = server.user();
    let bob = bob_user.0.clone();
    let peer = omemo_peer(&server, bob_user).await;
    published_device(&peer, &bob).await;
    peer.run(|p| p.set_omemo_echo(false).unwrap()).await;
    let Server::Prosody(prosody) = &server else {
        unreachable!()
    };
    let hook = |on: bool| {
        format!(
            r#"> local host = prosody.hosts["localhost"]; local h = host.events; host.tern_refuse = host.tern_refuse or function(e) local p = e.stanza.tags[1] and e.stanza.tags[1]:get_child("publish"); if e.stanza.attr.type == "set" and p and p.attr.node and p.attr.node:find("axolotl", 1, true) then e.origin.send(require "util.stanza".error_reply(e.stanza, "auth", "forbidden")); return true end end; for _, k in ipairs({{"iq/self/", "iq-set/self/", "iq/bare/", "iq-set/bare/"}}) do if {on} then h.add_handler(k .. "http://jabber.org/protocol/pubsub:pubsub", host.tern_refuse, 1000) else h.remove_handler(k .. "http://jabber.org/protocol/pubsub:pubsub", host.tern_refuse) end end; return "refusing {on}""#
        )
    };
    let answer = prosody.shell(&hook(true)).unwrap();
    assert!(answer.contains("refusing true"), "{answer}");

    let (mut t, alice, _) = tern(&server).await;
    let own = wait_until(|| async {
        let v = t.client.own_encryption(&alice).await.ok()?;
        v.problem.is_some().then_some(v)
    })
    .await;
    assert!(own.problem.unwrap().contains("refused"));

    let text = "encrypted once my keys are published";
    let sent = t
        .client
        .send_message(&alice, &bob, text, None)
        .await
        .unwrap();
    let held = held_reason(&mut t, &sent.uid).await;
    assert!(
        held.held.as_deref().unwrap().contains("refused"),
        "{held:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!peer_saw(&peer, text).await, "the text reached the peer");

    // The server takes keys again; at the next session Tern publishes
    // them and the message goes.
    let answer = prosody.shell(&hook(false)).unwrap();
    assert!(answer.contains("refusing false"), "{answer}");
    t.client.set_enabled(&alice, false).await.unwrap();
    t.client.set_enabled(&alice, true).await.unwrap();
    let got = peer.event(decrypted(&sent.uid)).await;
    assert_eq!(got["body"], text);
    let acked = own_state(&mut t, &sent.uid, MessageState::Acked).await;
    assert!(acked.encrypted && acked.held.is_none(), "{acked:?}");
    assert!(t
        .client
        .own_encryption(&alice)
        .await
        .unwrap()
        .problem
        .is_none());
    t.client.shutdown().await;
}

/// Polls `f` until it gives something (30 s at most).
async fn wait_until<V, F: std::future::Future<Output = Option<V>>>(f: impl Fn() -> F) -> V {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "not in time");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
