//! Calls whose DTLS fingerprints are vouched for by OMEMO (the draft
//! Conversations and Dino speak): two Tern clients in an encrypted
//! conversation call each other, the fingerprints travel encrypted, the
//! side that verified the other's device shows the call verified, and the
//! audio flows; an encrypted fingerprint that does not open ends the call
//! with the reason.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tern_core::tern_media::{AudioIo, ToneSource, UdpBackend};
use tern_core::{CallMedia, CallState, CallVerification, MessageView};

use crate::calls::{assert_heard, call_state, Heard, LOST_AFTER};
use crate::support::*;

const ALICE_HZ: f64 = 440.0;
const BOB_HZ: f64 = 880.0;
const T: Duration = Duration::from_secs(20);

/// Tern with the media stack on loopback as `jid`, its microphone a tone
/// at `hz`, its speakers `heard`.
async fn tern_calling(
    server: &Server,
    jid: &str,
    pass: &str,
    hz: f64,
    heard: &Heard,
) -> TestClient {
    let sink = heard.clone();
    let media = CallMedia {
        backend: Arc::new(UdpBackend::new()),
        devices: Arc::new(move || {
            Ok(AudioIo {
                source: Box::new(ToneSource::new(hz, 0.5)),
                sink: Box::new(sink.clone()),
            })
        }),
        bind: Some("127.0.0.1".parse().unwrap()),
        relay_only: false,
        lost_after: LOST_AFTER,
        audio_processing: false,
    };
    let mut t = client_configured(true, move |c| c.calls = Some(media)).await;
    t.client
        .add_account(account(jid, pass, loopback(server.port(), false)))
        .await
        .unwrap();
    wait_connected(&mut t, jid).await;
    t
}

/// The message `body` from `peer`, once it arrived decrypted.
async fn got_encrypted(t: &mut TestClient, peer: &str, body: &str) -> MessageView {
    let m = wait_event(
        &mut t.events,
        T,
        "the encrypted message",
        message_where(peer, |m| m.body == body && !m.outgoing),
    )
    .await;
    assert!(m.encrypted && m.decrypt_error.is_none(), "{m:?}");
    m
}

/// Alice calls Bob with OMEMO on in their conversation; Bob verified
/// Alice's device, Alice trusts Bob's blindly: Bob's call is verified,
/// Alice's encrypted by an unverified device; both hear each other.
async fn vouched_call(server: Server) {
    init_tracing_at("tern_core=info,warn");
    let (alice, apass) = server.user();
    let (bob, bpass) = server.user();
    let (heard_a, heard_b) = (Heard::default(), Heard::default());
    let mut a = tern_calling(&server, &alice, &apass, ALICE_HZ, &heard_a).await;
    let mut b = tern_calling(&server, &bob, &bpass, BOB_HZ, &heard_b).await;
    // Calls from strangers do not ring.
    a.client.add_contact(&alice, &bob, None, &[]).await.unwrap();
    b.client.add_contact(&bob, &alice, None, &[]).await.unwrap();

    // An encrypted exchange: sessions both ways, both conversations
    // encrypted.
    b.client
        .send_message(&bob, &alice, "encrypted, as our call will be", None)
        .await
        .unwrap();
    got_encrypted(&mut a, &bob, "encrypted, as our call will be").await;
    a.client
        .send_message(&alice, &bob, "then call me", None)
        .await
        .unwrap();
    got_encrypted(&mut b, &alice, "then call me").await;

    // Bob compares Alice's fingerprint and verifies her device.
    let alice_own = a.client.own_encryption(&alice).await.unwrap();
    let bob_own = b.client.own_encryption(&bob).await.unwrap();
    assert!(b
        .client
        .verify_fingerprint(&bob, &alice, alice_own.device_id, &alice_own.fingerprint)
        .await
        .unwrap());

    let placed = a.client.place_call(&alice, &bob).await.unwrap();
    assert_eq!(placed.verification, CallVerification::None);
    let ringing = call_state(&mut b, CallState::Ringing).await;
    assert_eq!(ringing.id, placed.id);
    b.client.accept_call(&ringing.id).unwrap();

    let at_bob = call_state(&mut b, CallState::Active).await;
    let at_alice = call_state(&mut a, CallState::Active).await;
    assert_eq!(
        at_bob.verification,
        CallVerification::Verified,
        "{at_bob:?}"
    );
    assert_eq!(
        at_bob.omemo_fingerprint.as_deref(),
        Some(alice_own.fingerprint.as_str())
    );
    assert_eq!(
        at_alice.verification,
        CallVerification::Unverified,
        "{at_alice:?}"
    );
    assert_eq!(
        at_alice.omemo_fingerprint.as_deref(),
        Some(bob_own.fingerprint.as_str())
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;

    a.client.hang_up(&placed.id).unwrap();
    let ended = call_state(&mut b, CallState::Ended).await;
    assert_eq!(ended.ended.as_deref(), Some("peer_hung_up"));
    assert_eq!(ended.verification, CallVerification::Verified);
    assert_heard(&heard_a, BOB_HZ);
    assert_heard(&heard_b, ALICE_HZ);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_omemo_vouched_call_between_two_terns_on_prosody() {
    vouched_call(Server::prosody()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_omemo_vouched_call_between_two_terns_on_ejabberd() {
    vouched_call(Server::ejabberd().await).await;
}

/// A caller whose session-initiate carries an encrypted fingerprint that
/// does not decrypt (its key and payload tampered with): Tern never falls
/// back to anything else, the call fails with the reason and the caller
/// gets a `security-error`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_encrypted_fingerprint_fails_the_call() {
    let server = Server::prosody();
    let (me, pass) = server.user();
    let heard = Heard::default();
    let mut t = tern_calling(&server, &me, &pass, ALICE_HZ, &heard).await;
    let peer = peer(&server).await;
    let pj = peer.bare();
    let full = peer.0.jid().to_string();
    t.client.add_contact(&me, &pj, None, &[]).await.unwrap();
    let device = t.client.own_encryption(&me).await.unwrap().device_id;

    let sid = "tamperedFingerprint01";
    let propose = format!(
        "<message xmlns='jabber:client' to='{me}' type='chat' id='jm-propose-{sid}'>\
         <propose xmlns='urn:xmpp:jingle-message:0' id='{sid}'>\
         <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/></propose>\
         <request xmlns='urn:xmpp:receipts'/><store xmlns='urn:xmpp:hints'/></message>"
    );
    peer.run(move |p| p.raw(&propose)).await.unwrap();
    let ringing = call_state(&mut t, CallState::Ringing).await;
    assert_eq!(ringing.id, sid);
    t.client.accept_call(sid).unwrap();
    call_state(&mut t, CallState::Connecting).await;
    // Tern's device in the call: where its ringing and proceed came from.
    let mine = format!("{me}/");
    let ringing_from = peer
        .event(move |e: &Value| {
            (e["event"] == "message" || e["event"] == "receipt")
                && e["from"].as_str().is_some_and(|f| f.starts_with(&mine))
        })
        .await;
    let tern_full = ringing_from["from"].as_str().unwrap().to_string();

    // A Signal message of the right version whose MAC and payload are
    // garbage, for this very device.
    let key =
        "MwohBdrgQ0RKQ0pLTU5PUFFSU1RVVldYWVpbXF1eX2BhEAAYACIQAAECAwQFBgcICQoLDA0ODwABAgMEBQYH";
    let initiate = format!(
        "<iq xmlns='jabber:client' type='set' to='{tern_full}' id='si-tampered'>\
         <jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' sid='{sid}' initiator='{full}'>\
         <content creator='initiator' name='0' senders='both'>\
         <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>\
         <payload-type id='111' name='opus' clockrate='48000' channels='2'/><rtcp-mux/></description>\
         <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='Ab12' pwd='abcdefghijklmnopqrstuv'>\
         <fingerprint xmlns='http://gultsch.de/xmpp/drafts/omemo/dlts-srtp-verification' setup='actpass' hash='sha-256'>\
         <encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='424242'>\
         <key rid='{device}'>{key}</key><iv>AAECAwQFBgcICQoL</iv></header>\
         <payload>3q2+796tvu/erb7v3q2+796tvu/erb7v3q2+796tvu/erb7v3q2+796tvu/erb7v</payload></encrypted>\
         </fingerprint>\
         <candidate component='1' foundation='1' generation='0' id='c1' ip='127.0.0.1' network='0' port='9' priority='2122260223' protocol='udp' type='host'/>\
         </transport></content></jingle></iq>",
    );
    peer.run(move |p| p.raw(&initiate)).await.unwrap();

    let ended = call_state(&mut t, CallState::Ended).await;
    assert_eq!(ended.ended.as_deref(), Some("failed"));
    let problem = ended.problem.clone().unwrap_or_default();
    assert!(
        problem.contains("could not be checked with OMEMO"),
        "{problem}"
    );
    assert_eq!(ended.verification, CallVerification::None);
    // The caller is told (a session-terminate, with security-error).
    let from_tern = tern_full.clone();
    peer.event(move |e: &Value| {
        e["event"] == "iq_request"
            && e["ns"] == "urn:xmpp:jingle:1"
            && e["from"] == from_tern.as_str()
    })
    .await;
}

/// Tern calls a contact (slixmpp-omemo) in an encrypted conversation,
/// whose device answers the way an attacker between the two would have
/// to: the proceed names its OMEMO device, so Tern's offer goes with its
/// fingerprint encrypted for that device, and a session-accept with a
/// plain fingerprint (one the servers could have put there) ends the call
/// with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_answer_to_an_encrypted_offer_fails_the_call() {
    let server = Server::prosody();
    let (me, pass) = server.user();
    let heard = Heard::default();
    let mut t = tern_calling(&server, &me, &pass, ALICE_HZ, &heard).await;
    let peer = crate::omemo::omemo_peer(&server, server.user()).await;
    let pj = peer.bare();
    let full = peer.0.jid().to_string();
    let device = peer.0.omemo_device_id().expect("the peer's OMEMO device");

    // An encrypted message: a session with the peer's device, and the
    // conversation encrypted.
    let hello = t
        .client
        .send_message(&me, &pj, "encrypted before we talk", None)
        .await
        .unwrap();
    let uid = hello.uid.clone();
    peer.event(move |e: &Value| e["event"] == "omemo_message" && e["id"] == uid.as_str())
        .await;

    let placed = t.client.place_call(&me, &pj).await.unwrap();
    let sid = placed.id.clone();
    let propose_id = format!("jm-propose-{sid}");
    let propose = peer
        .event(move |e: &Value| e["event"] == "message" && e["id"] == propose_id.as_str())
        .await;
    let tern_full = propose["from"].as_str().unwrap().to_string();
    let proceed = format!(
        "<message xmlns='jabber:client' to='{tern_full}' type='chat' id='jm-proceed-{sid}'>\
         <proceed xmlns='urn:xmpp:jingle-message:0' id='{sid}'>\
         <device xmlns='http://gultsch.de/xmpp/drafts/omemo/dlts-srtp-verification' id='{device}'/>\
         </proceed><store xmlns='urn:xmpp:hints'/></message>"
    );
    peer.run(move |p| p.raw(&proceed)).await.unwrap();

    // Tern's session-initiate: answered, then a plain session-accept.
    let from_tern = tern_full.clone();
    let initiate = peer
        .event(move |e: &Value| {
            e["event"] == "iq_request"
                && e["ns"] == "urn:xmpp:jingle:1"
                && e["from"] == from_tern.as_str()
        })
        .await;
    let iq_id = initiate["id"].as_str().unwrap().to_string();
    let answer = format!("<iq xmlns='jabber:client' type='result' to='{tern_full}' id='{iq_id}'/>");
    peer.run(move |p| p.raw(&answer)).await.unwrap();
    let accept = format!(
        "<iq xmlns='jabber:client' type='set' to='{tern_full}' id='sa-plain'>\
         <jingle xmlns='urn:xmpp:jingle:1' action='session-accept' sid='{sid}' responder='{full}'>\
         <content creator='initiator' name='0' senders='both'>\
         <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>\
         <payload-type id='111' name='opus' clockrate='48000' channels='2'/><rtcp-mux/></description>\
         <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='Zz99' pwd='zyxwvutsrqponmlkjihgfe'>\
         <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='active'>\
         62:1F:B8:0A:5E:33:C9:47:90:D1:2A:7E:0C:B4:58:F3:16:8D:E2:49:75:AA:03:6B:CF:91:2E:D8:44:17:B0:6C</fingerprint>\
         </transport></content></jingle></iq>"
    );
    peer.run(move |p| p.raw(&accept)).await.unwrap();

    let ended = call_state(&mut t, CallState::Ended).await;
    assert_eq!(ended.ended.as_deref(), Some("failed"));
    let problem = ended.problem.clone().unwrap_or_default();
    assert!(
        problem.contains("could not be checked with OMEMO")
            && problem.contains("the answer's fingerprint did not"),
        "{problem}"
    );
    assert_eq!(ended.verification, CallVerification::None);
}
