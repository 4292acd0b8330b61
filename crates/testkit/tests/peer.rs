//! The slixmpp peer against a real Prosody: proves that the peer sends and
//! reports what Tern's interop tests rely on.

use std::time::{Duration, Instant};

use serde_json::Value;
use tern_testkit::{Ejabberd, PeerOptions, Prosody, SlixmppPeer, TestCa};

const WAIT: Duration = Duration::from_secs(15);

fn options(server: &Prosody) -> PeerOptions {
    let (user, password) = server.create_user().expect("create user");
    PeerOptions::new(
        format!("{user}@{}", server.domain()),
        password,
        "127.0.0.1",
        server.c2s_port(),
    )
}

fn is(event: &Value, name: &str) -> bool {
    event["event"] == name
}

fn message_from<'a>(event: &'a Value, peer: &SlixmppPeer) -> Option<&'a Value> {
    (is(event, "message") && event["from"] == peer.jid()).then_some(event)
}

#[test]
fn two_peers_exchange_messages_receipts_corrections_reactions_and_chat_states() {
    let started = Instant::now();
    let server = Prosody::start().expect("start Prosody");
    let alice = SlixmppPeer::start(options(&server)).expect("start peer 1");
    let bob = SlixmppPeer::start(options(&server)).expect("start peer 2");
    assert!(alice.jid().contains('/'), "full JID: {}", alice.jid());
    assert_ne!(alice.bare_jid(), bob.bare_jid());

    // A message with receipt request, markable and origin-id.
    alice
        .send_message(bob.bare_jid(), "hello from slixmpp ✓", "msg-1")
        .expect("send");
    let sent = alice
        .wait_for(WAIT, |e| is(e, "sent") && e["id"] == "msg-1")
        .expect("sent event");
    assert_eq!(sent["cmd"], "send");
    let got = bob
        .wait_for(WAIT, |e| {
            message_from(e, &alice).is_some() && e["id"] == "msg-1"
        })
        .expect("message arrives");
    assert_eq!(got["body"], "hello from slixmpp ✓");
    assert_eq!(got["origin_id"], "msg-1");
    assert_eq!(got["type"], "chat");
    assert_eq!(got["receipt_request"], true);
    assert_eq!(got["markable"], true);
    assert!(got["replace_id"].is_null() && got["reactions"].is_null());
    // Prosody (mod_mam) stamps a server-assigned stanza-id.
    assert!(got["stanza_id"].is_string(), "stanza-id: {got}");

    // The automatic receipt comes back to the sender.
    let receipt = alice.wait_for(WAIT, |e| is(e, "receipt")).expect("receipt");
    assert_eq!(receipt["id"], "msg-1");
    assert_eq!(receipt["from"], bob.jid());

    // Displayed marker.
    bob.displayed(alice.bare_jid(), "msg-1").expect("displayed");
    let displayed = alice
        .wait_for(WAIT, |e| is(e, "displayed"))
        .expect("displayed marker");
    assert_eq!(displayed["id"], "msg-1");

    // Correction.
    alice
        .correct(bob.bare_jid(), "msg-1", "hello, corrected", "msg-2")
        .expect("correct");
    let corrected = bob
        .wait_for(WAIT, |e| {
            message_from(e, &alice).is_some() && e["id"] == "msg-2"
        })
        .expect("correction arrives");
    assert_eq!(corrected["replace_id"], "msg-1");
    assert_eq!(corrected["body"], "hello, corrected");
    assert_eq!(corrected["origin_id"], "msg-2");

    // Reaction.
    bob.react(alice.bare_jid(), "msg-1", &["👍", "🎉"])
        .expect("react");
    let reaction = alice
        .wait_for(WAIT, |e| {
            message_from(e, &bob).is_some() && !e["reactions"].is_null()
        })
        .expect("reaction arrives");
    assert_eq!(reaction["reactions"]["id"], "msg-1");
    assert_eq!(
        reaction["reactions"]["emojis"],
        serde_json::json!(["👍", "🎉"])
    );

    // Chat state.
    alice
        .chatstate(bob.bare_jid(), "composing")
        .expect("chatstate");
    let typing = bob
        .wait_for(WAIT, |e| {
            message_from(e, &alice).is_some() && e["chatstate"] == "composing"
        })
        .expect("chat state arrives");
    assert!(typing["body"].is_null());

    // Retraction, with a fallback body.
    alice.retract(bob.bare_jid(), "msg-1").expect("retract");
    let retraction = bob
        .wait_for(WAIT, |e| {
            message_from(e, &alice).is_some() && !e["retract_id"].is_null()
        })
        .expect("retraction arrives");
    assert_eq!(retraction["retract_id"], "msg-1");
    assert!(retraction["body"].is_string());

    // A reply (XEP-0461) through the generic command interface.
    bob.send(serde_json::json!({
        "cmd": "send", "to": alice.bare_jid(), "body": "a reply", "id": "reply-1",
        "reply_to": {"id": "msg-1", "to": alice.bare_jid()},
    }))
    .expect("send reply");
    let reply = alice
        .wait_for(WAIT, |e| {
            message_from(e, &bob).is_some() && e["id"] == "reply-1"
        })
        .expect("reply arrives");
    assert_eq!(reply["reply_to"]["id"], "msg-1");

    // A bad command is reported, and the peer carries on.
    bob.send(serde_json::json!({"cmd": "no-such-command"}))
        .expect("send bad command");
    let error = bob.wait_for(WAIT, |e| is(e, "error")).expect("error event");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("no-such-command")),
        "{error}"
    );

    // Raw XML goes out as written.
    let raw = format!(
        "<message to='{}' type='chat' id='raw-1'><body>raw &amp; unescaped?</body>\
         <unknown xmlns='urn:example:hostile'><deep/></unknown></message>",
        bob.bare_jid()
    );
    alice.raw(&raw).expect("raw");
    let raw_got = bob
        .wait_for(WAIT, |e| {
            message_from(e, &alice).is_some() && e["id"] == "raw-1"
        })
        .expect("raw message arrives");
    assert_eq!(raw_got["body"], "raw & unescaped?");
    assert!(raw_got["origin_id"].is_null());
    assert_eq!(raw_got["receipt_request"], false);

    eprintln!("message exchange took {:?}", started.elapsed());
    alice.quit().expect("peer 1 quits cleanly");
}

#[test]
fn presence_subscription_request_approve_and_presence_updates() {
    let server = Prosody::start().expect("start Prosody");
    let alice = SlixmppPeer::start(options(&server)).expect("start peer 1");
    let bob = SlixmppPeer::start(options(&server)).expect("start peer 2");

    alice.subscribe(bob.bare_jid()).expect("subscribe");
    let request = bob
        .wait_for(WAIT, |e| is(e, "subscribe_request"))
        .expect("subscription request");
    assert_eq!(request["from"], alice.bare_jid());

    bob.approve(alice.bare_jid()).expect("approve");
    let subscribed = alice
        .wait_for(WAIT, |e| {
            is(e, "presence") && e["type"] == "subscribed" && e["from"] == bob.bare_jid()
        })
        .expect("subscribed");
    assert!(subscribed["show"].is_null());

    // Once subscribed, alice receives bob's presence broadcasts.
    bob.presence(Some("away"), Some("out for lunch"))
        .expect("presence");
    let away = alice
        .wait_for(WAIT, |e| {
            is(e, "presence") && e["from"] == bob.jid() && e["show"] == "away"
        })
        .expect("presence update");
    assert_eq!(away["type"], "available");
    assert_eq!(away["status"], "out for lunch");

    // An answer to a query: the roster now holds bob.
    let roster = alice
        .iq(
            "<iq type='get'><query xmlns='jabber:iq:roster'/></iq>",
            WAIT,
        )
        .expect("roster query");
    assert_eq!(roster["type"], "result", "{roster}");
    assert!(
        roster["xml"]
            .as_str()
            .is_some_and(|x| x.contains(bob.bare_jid())),
        "{roster}"
    );
}

#[test]
fn no_auto_receipts_and_direct_tls() {
    let server = Prosody::start().expect("start Prosody");
    let mut opts = options(&server);
    opts.port = server.direct_tls_port();
    opts.direct_tls = true;
    opts.auto_receipts = false;
    let quiet = SlixmppPeer::start(opts).expect("start over direct TLS");
    let sender = SlixmppPeer::start(options(&server)).expect("start sender");

    sender
        .send_message(quiet.bare_jid(), "no receipt please", "m1")
        .expect("send");
    let got = quiet
        .wait_for(WAIT, |e| is(e, "message") && e["id"] == "m1")
        .expect("message arrives");
    assert_eq!(got["receipt_request"], true);
    let receipt = sender.wait_for(Duration::from_secs(2), |e| is(e, "receipt"));
    assert!(receipt.is_err(), "unexpected receipt: {receipt:?}");
}

#[test]
fn peer_rejects_a_server_certificate_from_another_ca() {
    let server = Prosody::start().expect("start Prosody");
    let other = TestCa::generate().expect("another CA");
    let err = SlixmppPeer::start_trusting(options(&server), &other.ca_cert_pem())
        .expect_err("the certificate must not be trusted");
    let text = format!("{err:#}");
    assert!(
        text.contains("certificate") || text.contains("CERTIFICATE"),
        "{text}"
    );
}

#[test]
fn peer_reports_a_wrong_password() {
    let server = Prosody::start().expect("start Prosody");
    let mut opts = options(&server);
    opts.password.push('x');
    let err = SlixmppPeer::start(opts).expect_err("sign-in must fail");
    assert!(
        format!("{err:#}").contains("authentication failed"),
        "{err:#}"
    );
}

#[test]
fn omemo_peer_publishes_its_device_list_and_bundle() {
    let server = Prosody::start().expect("start Prosody");
    let omemo = SlixmppPeer::start_omemo(options(&server)).expect("start OMEMO peer");
    let device = omemo.omemo_device_id().expect("device id");
    let observer = SlixmppPeer::start(options(&server)).expect("start observer");

    let list = observer
        .iq(
            &format!(
                "<iq type='get' to='{}'><pubsub xmlns='http://jabber.org/protocol/pubsub'>\
                 <items node='eu.siacs.conversations.axolotl.devicelist'/></pubsub></iq>",
                omemo.bare_jid()
            ),
            WAIT,
        )
        .expect("device list query");
    assert_eq!(list["type"], "result", "{list}");
    let xml = list["xml"].as_str().unwrap_or_default();
    assert!(xml.contains(&format!("id=\"{device}\"")), "{xml}");

    let bundle = observer
        .iq(
            &format!(
                "<iq type='get' to='{}'><pubsub xmlns='http://jabber.org/protocol/pubsub'>\
                 <items node='eu.siacs.conversations.axolotl.bundles:{device}'/></pubsub></iq>",
                omemo.bare_jid()
            ),
            WAIT,
        )
        .expect("bundle query");
    assert_eq!(bundle["type"], "result", "{bundle}");
    let xml = bundle["xml"].as_str().unwrap_or_default();
    assert!(
        xml.contains("identityKey") && xml.contains("preKeyPublic"),
        "{xml}"
    );
}

#[test]
fn omemo_peers_exchange_an_encrypted_message_and_its_echo() {
    let server = Prosody::start().expect("start Prosody");
    let sender = SlixmppPeer::start_omemo(options(&server)).expect("start OMEMO sender");
    sender.set_omemo_echo(false).expect("echo off");
    let echo = SlixmppPeer::start_omemo(options(&server)).expect("start OMEMO echo");

    sender
        .omemo_send(echo.bare_jid(), "secret 🔐", "enc-1")
        .expect("omemo send");
    let wire = echo
        .wait_for(WAIT, |e| is(e, "message") && e["id"] == "enc-1")
        .expect("encrypted message arrives");
    assert_eq!(wire["encrypted"], true);
    assert_ne!(wire["body"], "secret 🔐", "the body is a fallback");
    let decrypted = echo
        .wait_for(WAIT, |e| is(e, "omemo_message") && !e["body"].is_null())
        .expect("decrypted");
    assert_eq!(decrypted["body"], "secret 🔐");
    assert_eq!(decrypted["from"], sender.jid());

    let echoed = sender
        .wait_for(WAIT, |e| is(e, "omemo_message") && !e["body"].is_null())
        .expect("echo decrypted");
    assert_eq!(echoed["body"], "secret 🔐");
    assert_eq!(echoed["from"], echo.jid());
}

#[test]
fn peers_work_against_ejabberd_too() {
    let server = Ejabberd::start().expect("start ejabberd");
    let options = || {
        let (user, password) = server.create_user().expect("create user");
        PeerOptions::new(
            format!("{user}@{}", server.domain()),
            password,
            "127.0.0.1",
            server.c2s_port(),
        )
    };
    let alice = SlixmppPeer::start(options()).expect("start peer 1");
    let bob = SlixmppPeer::start(options()).expect("start peer 2");

    alice
        .send_message(bob.bare_jid(), "hello ejabberd", "e-1")
        .expect("send");
    let got = bob
        .wait_for(WAIT, |e| {
            message_from(e, &alice).is_some() && e["id"] == "e-1"
        })
        .expect("message arrives");
    assert_eq!(got["body"], "hello ejabberd");
    assert_eq!(got["origin_id"], "e-1");
    let receipt = alice.wait_for(WAIT, |e| is(e, "receipt")).expect("receipt");
    assert_eq!(receipt["id"], "e-1");
}
