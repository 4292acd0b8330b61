//! Trust in OMEMO devices through the engine, with slixmpp-omemo
//! (python-oldmemo) as the contact: the fingerprint Tern shows is the one
//! the contact's own client shows; its `xmpp:` trust URI verifies it, a
//! URI with another key is reported and changes nothing; after that a new
//! device of the contact comes in undecided; the decisions survive a
//! restart. On Prosody and on ejabberd.

use std::sync::Arc;
use std::time::Duration;

use tern_core::{ClientEvent, DeviceTrust, DeviceView, Subscription, UriVerification};
use tern_testkit::{PeerOptions, SlixmppPeer};

use crate::support::*;

const T: Duration = Duration::from_secs(30);

async fn omemo_peer(server: &Server, jid: &str, pass: &str) -> Peer {
    let opts = PeerOptions::new(jid, pass, "127.0.0.1", server.port());
    Peer(Arc::new(
        blocking(move || SlixmppPeer::start_omemo(opts).unwrap()).await,
    ))
}

/// `jid`'s devices as Tern lists them, once `ready` accepts them: read
/// again after each `EncryptionDevices` event for `jid`.
async fn devices_when(
    t: &mut TestClient,
    account: &str,
    jid: &str,
    what: &str,
    ready: impl Fn(&[DeviceView]) -> bool,
) -> Vec<DeviceView> {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let devices = t.client.encryption_devices(account, jid).await.unwrap();
        if ready(&devices) {
            return devices;
        }
        // The next change of `jid`'s devices (or the deadline).
        loop {
            match tokio::time::timeout_at(deadline, t.events.recv()).await {
                Ok(Ok(ClientEvent::EncryptionDevices { account: a, jid: j }))
                    if a == account && j == jid =>
                {
                    break
                }
                Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(e)) => panic!("event stream ended: {e}"),
                Err(_) => panic!("timed out waiting for {what}: {devices:?}"),
            }
        }
    }
}

fn device(devices: &[DeviceView], id: u32) -> &DeviceView {
    devices
        .iter()
        .find(|d| d.device_id == id)
        .unwrap_or_else(|| panic!("device {id} in {devices:?}"))
}

/// `peer` sends an encrypted message to `to`; Tern decrypts it. (Tried
/// again while the peer has not taken in Tern's device list yet: it
/// answers `NoEligibleDevices` then.)
async fn encrypted_message(t: &mut TestClient, peer: &Peer, to: &str, text: &str, id: &str) {
    let start = std::time::Instant::now();
    loop {
        peer.run({
            let (to, text, id) = (to.to_string(), text.to_string(), id.to_string());
            move |p| p.omemo_send(&to, &text, &id).unwrap()
        })
        .await;
        let sent = peer
            .event(|e| matches!(e["event"].as_str(), Some("sent" | "error")))
            .await;
        if sent["event"] == "sent" {
            break;
        }
        assert!(
            start.elapsed() < T,
            "the peer cannot encrypt: {sent}\n{}\n{:?}",
            peer.0.stderr_tail(),
            peer.0.clear_events()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let from = peer.bare();
    let got = wait_event(
        &mut t.events,
        T,
        "the encrypted message",
        message_where(&from, |m| m.uid == id),
    )
    .await;
    assert_eq!(got.body, text, "{got:?}");
    assert!(got.encrypted && got.decrypt_error.is_none(), "{got:?}");
}

/// `peer` becomes a contact: Tern sees its presence. (Not both ways:
/// with a mutual subscription slixmpp-omemo waits for device list
/// notifications, which Prosody sends only to clients whose entity caps it
/// knows, and the harness peer announces none.)
async fn befriend(t: &mut TestClient, me: &str, peer: &Peer) {
    let them = peer.bare();
    t.client.add_contact(me, &them, None, &[]).await.unwrap();
    peer.event({
        let me = me.to_string();
        move |e| e["event"] == "subscribe_request" && e["from"] == me.as_str()
    })
    .await;
    peer.run({
        let me = me.to_string();
        move |p| p.approve(&me).unwrap()
    })
    .await;
    wait_event(&mut t.events, T, "the subscription", |ev| match ev {
        ClientEvent::Contact { contact }
            if contact.jid == them && contact.subscription == Subscription::To =>
        {
            Some(())
        }
        _ => None,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_and_verification_with_slixmpp_omemo() {
    init_tracing_at("tern_core=info,warn");
    trust_and_verification(Server::prosody()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_and_verification_with_slixmpp_omemo_on_ejabberd() {
    init_tracing_at("tern_core=info,warn");
    trust_and_verification(Server::ejabberd().await).await;
}

async fn trust_and_verification(server: Server) {
    // Users first (see omemo.rs: Prosody's command line and a publishing
    // server share one SQLite file).
    let (bob, bob_pass) = server.user();
    let (mut t, alice, _) = tern(&server).await;
    let phone = omemo_peer(&server, &bob, &bob_pass).await;
    let phone_id = phone.0.omemo_device_id().unwrap();
    let phone_fp = phone.0.omemo_fingerprint().unwrap().to_string();
    befriend(&mut t, &alice, &phone).await;

    // Bob's first message teaches Tern the key of his phone: the
    // fingerprint is the one python-omemo shows for itself, trusted
    // blindly (nothing of bob's is verified yet).
    encrypted_message(&mut t, &phone, &alice, "hello from the phone", "p-1").await;
    let devices = devices_when(&mut t, &alice, &bob, "the phone's key", |d| {
        d.iter()
            .any(|d| d.device_id == phone_id && d.fingerprint.is_some())
    })
    .await;
    let shown = device(&devices, phone_id);
    assert_eq!(shown.fingerprint.as_deref(), Some(phone_fp.as_str()));
    assert_eq!(shown.trust, DeviceTrust::Trusted, "blind trust");
    assert!(shown.active && shown.has_session, "{shown:?}");

    // A code with another key for the phone: reported, nothing changes.
    let forged = format!("xmpp:{bob}?omemo-sid-{phone_id}={}", "5a".repeat(32));
    let outcome = t
        .client
        .verify_encryption_uri(&alice, &forged)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        UriVerification {
            jid: bob.clone(),
            verified: vec![],
            mismatched: vec![phone_id],
        }
    );
    let devices = t.client.encryption_devices(&alice, &bob).await.unwrap();
    assert_eq!(device(&devices, phone_id).trust, DeviceTrust::Trusted);
    assert_eq!(
        device(&devices, phone_id).fingerprint.as_deref(),
        Some(phone_fp.as_str())
    );
    // Text that is no trust URI at all.
    let e = t
        .client
        .verify_encryption_uri(&alice, "hello there")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, tern_core::Error::EncryptionKeys { code, .. } if code == "not_a_trust_uri"),
        "{e:?}"
    );

    // The phone's own code (as its QR code carries it) verifies it.
    let uri = format!(
        "xmpp:{bob}?omemo-sid-{phone_id}={}",
        phone_fp.replace(' ', "")
    );
    let outcome = t.client.verify_encryption_uri(&alice, &uri).await.unwrap();
    assert_eq!(outcome.verified, vec![phone_id]);
    assert!(outcome.mismatched.is_empty());
    let devices = devices_when(&mut t, &alice, &bob, "the phone verified", |d| {
        d.iter()
            .any(|d| d.device_id == phone_id && d.trust == DeviceTrust::Verified)
    })
    .await;
    assert_eq!(devices.len(), 1, "{devices:?}");

    // Bob signs in on a laptop and writes from it: its key is new next to
    // a verified device, so it is undecided.
    let laptop = omemo_peer(&server, &bob, &bob_pass).await;
    let laptop_id = laptop.0.omemo_device_id().unwrap();
    let laptop_fp = laptop.0.omemo_fingerprint().unwrap().to_string();
    assert_ne!(laptop_id, phone_id);
    encrypted_message(&mut t, &laptop, &alice, "hello from the laptop", "l-1").await;
    let devices = devices_when(&mut t, &alice, &bob, "the laptop's key", |d| {
        d.iter()
            .any(|d| d.device_id == laptop_id && d.fingerprint.is_some())
    })
    .await;
    let new = device(&devices, laptop_id);
    assert_eq!(new.fingerprint.as_deref(), Some(laptop_fp.as_str()));
    assert_eq!(new.trust, DeviceTrust::Undecided, "{new:?}");
    assert!(new.active);
    assert_eq!(device(&devices, phone_id).trust, DeviceTrust::Verified);

    // The user distrusts the laptop, then thinks again and trusts it; and
    // compares the phone's fingerprint by hand (spaces and case ignored).
    t.client
        .set_device_trust(&alice, &bob, laptop_id, DeviceTrust::Distrusted)
        .await
        .unwrap();
    assert_eq!(
        device(
            &t.client.encryption_devices(&alice, &bob).await.unwrap(),
            laptop_id
        )
        .trust,
        DeviceTrust::Distrusted
    );
    t.client
        .set_device_trust(&alice, &bob, laptop_id, DeviceTrust::Trusted)
        .await
        .unwrap();
    assert!(!t
        .client
        .verify_fingerprint(&alice, &bob, laptop_id, &phone_fp)
        .await
        .unwrap());
    assert!(t
        .client
        .verify_fingerprint(&alice, &bob, phone_id, &phone_fp.to_uppercase())
        .await
        .unwrap());

    // A restart keeps every decision and key.
    let mut t = reopen(t).await;
    wait_connected(&mut t, &alice).await;
    let devices = t.client.encryption_devices(&alice, &bob).await.unwrap();
    let summary: Vec<(u32, DeviceTrust, Option<&str>)> = devices
        .iter()
        .map(|d| (d.device_id, d.trust, d.fingerprint.as_deref()))
        .collect();
    let mut expected = vec![
        (phone_id, DeviceTrust::Verified, Some(phone_fp.as_str())),
        (laptop_id, DeviceTrust::Trusted, Some(laptop_fp.as_str())),
    ];
    expected.sort_by_key(|e| e.0);
    assert_eq!(summary, expected);
}

/// The account's own devices: this one with its fingerprint and code (the
/// code verifies it for another client of the user), another client of the
/// account listed, and removed from the published list on request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_devices_are_listed_and_a_stale_one_removed() {
    init_tracing_at("tern_core=info,warn");
    own_devices(Server::prosody()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_devices_are_listed_and_a_stale_one_removed_on_ejabberd() {
    init_tracing_at("tern_core=info,warn");
    own_devices(Server::ejabberd().await).await;
}

async fn own_devices(server: Server) {
    let (reader_jid, reader_pass) = server.user();
    let (mut t, alice, pass) = tern(&server).await;
    let reader = peer_as(&server, &reader_jid, &reader_pass).await;
    let own = t.client.own_encryption(&alice).await.unwrap();
    assert_eq!(own.account, alice);
    assert_eq!(
        own.uri,
        format!(
            "xmpp:{alice}?omemo-sid-{}={}",
            own.device_id,
            own.fingerprint.replace(' ', "")
        )
    );
    // Another client of the user's (slixmpp-omemo) signs in.
    let other = omemo_peer(&server, &alice, &pass).await;
    let other_id = other.0.omemo_device_id().unwrap();
    let other_fp = other.0.omemo_fingerprint().unwrap().to_string();
    devices_when(&mut t, &alice, &alice, "the other client", |d| {
        d.iter().any(|d| d.device_id == other_id && d.active)
    })
    .await;
    let own = t.client.own_encryption(&alice).await.unwrap();
    assert_eq!(own.devices.len(), 1, "{own:?}");
    assert_eq!(own.devices[0].device_id, other_id);
    // Its code verifies it, even before its key was seen.
    let uri = format!(
        "xmpp:{alice}?omemo-sid-{other_id}={}",
        other_fp.replace(' ', "")
    );
    let outcome = t.client.verify_encryption_uri(&alice, &uri).await.unwrap();
    assert_eq!(outcome.verified, vec![other_id]);
    let own = t.client.own_encryption(&alice).await.unwrap();
    assert_eq!(own.devices[0].trust, DeviceTrust::Verified);
    assert_eq!(
        own.devices[0].fingerprint.as_deref(),
        Some(other_fp.as_str())
    );
    // This device cannot remove itself.
    let e = t
        .client
        .remove_own_device(&alice, own.device_id)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, tern_core::Error::EncryptionKeys { code, .. } if code == "this_device"),
        "{e:?}"
    );
    // The other client is stopped and removed: the published list holds
    // this device only, and the list here marks the other one gone.
    blocking(move || Arc::try_unwrap(other.0).ok().unwrap().quit().unwrap()).await;
    t.client.remove_own_device(&alice, other_id).await.unwrap();
    let own = t.client.own_encryption(&alice).await.unwrap();
    assert!(!own.devices[0].active, "{own:?}");
    let xml = format!(
        "<iq type='get' to='{alice}'><pubsub xmlns='http://jabber.org/protocol/pubsub'>\
         <items node='eu.siacs.conversations.axolotl.devicelist'/></pubsub></iq>"
    );
    let answer = reader
        .run(move |p| p.iq(&xml, Duration::from_secs(10)).unwrap())
        .await;
    let text = answer["xml"].as_str().unwrap_or_default().to_string();
    assert!(
        text.contains(&format!("id=\"{}\"", own.device_id))
            || text.contains(&format!("id='{}'", own.device_id)),
        "{text}"
    );
    assert!(!text.contains(&other_id.to_string()), "{text}");
}
