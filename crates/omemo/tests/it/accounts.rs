//! Accounts talking through `Omemo` over in-memory stores: device lists, bundles, trust, key
//! transport, and every error a peer can provoke.

use tern_omemo::legacy_omemo::{DeviceList, Encrypted, Key};
use tern_omemo::{BareJid, Config, DeviceAddress, Error, Event, MemoryStore, Omemo, Store, Trust};

type Account = Omemo<MemoryStore>;

fn jid(s: &str) -> BareJid {
    s.parse().unwrap()
}

async fn account(name: &str) -> Account {
    Omemo::load_or_create(MemoryStore::new(), jid(name), Config::default(), 1_000_000)
        .await
        .unwrap()
}

/// What a device publishes: its account, id and bundle.
struct Card(BareJid, u32, tern_omemo::legacy_omemo::Bundle);

async fn card(d: &Account) -> Card {
    Card(
        d.own_jid().clone(),
        d.own_device_id(),
        d.own_bundle().await.unwrap(),
    )
}

/// Gives `viewer` the device list and bundles of `cards` (one account), building sessions.
async fn learn_cards(viewer: &mut Account, cards: Vec<Card>) {
    let owner = cards[0].0.clone();
    let list = DeviceList {
        devices: cards
            .iter()
            .map(|c| tern_omemo::legacy_omemo::Device { id: c.1 })
            .collect(),
    };
    viewer.receive_device_list(&owner, &list).await.unwrap();
    for Card(_, id, bundle) in cards {
        if owner == *viewer.own_jid() && id == viewer.own_device_id() {
            continue;
        }
        viewer.receive_bundle(&owner, id, &bundle).await.unwrap();
    }
}

async fn learn(viewer: &mut Account, devices: &[&Account]) {
    let mut cards = Vec::new();
    for d in devices {
        cards.push(card(d).await);
    }
    learn_cards(viewer, cards).await;
}

fn for_device(e: &Encrypted, id: u32) -> &Key {
    e.header.keys.iter().find(|k| k.rid == id).unwrap()
}

#[tokio::test]
async fn message_reaches_all_devices_of_both_accounts() {
    let mut alice1 = account("alice@example.org").await;
    let mut alice2 = account("alice@example.org").await;
    let mut bob1 = account("bob@example.org").await;
    let mut bob2 = account("bob@example.org").await;
    let (a1, a2, b1, b2) = (
        alice1.own_device_id(),
        alice2.own_device_id(),
        bob1.own_device_id(),
        bob2.own_device_id(),
    );
    learn(&mut alice1, &[&bob1, &bob2]).await;
    let cards = vec![card(&alice1).await, card(&alice2).await];
    learn_cards(&mut alice1, cards).await;
    let out = alice1
        .encrypt(&[jid("bob@example.org")], b"hello")
        .await
        .unwrap();
    assert_eq!(out.recipients.len(), 3);
    assert!(out.missing_bundles.is_empty() && out.undecided.is_empty());
    assert_eq!(out.element.header.sid, a1);
    assert!(out.element.header.keys.iter().all(|k| k.prekey));
    assert!(out.element.header.keys.iter().all(|k| k.rid != a1));
    for (acc, from) in [
        (&mut bob1, "alice@example.org"),
        (&mut bob2, "alice@example.org"),
        (&mut alice2, "alice@example.org"),
    ] {
        let d = acc.decrypt(&jid(from), &out.element).await.unwrap();
        assert_eq!(d.plaintext.as_deref(), Some(&b"hello"[..]));
        assert_eq!(d.sender_device, a1);
        assert_eq!(d.trust, Trust::Trusted, "blind trust before verification");
        assert!(d.should_answer);
        assert!(d.events.contains(&Event::BundleChanged), "pre-key refilled");
        assert!(
            d.events.iter().any(|e| matches!(e,
            Event::SessionEstablished { device, trust: Trust::Trusted } if device.device_id == a1))
        );
    }
    // The element is not for alice1 herself, and bob1 cannot decrypt it twice.
    assert!(matches!(
        alice1
            .decrypt(&jid("alice@example.org"), &out.element)
            .await,
        Err(Error::SentByThisDevice)
    ));
    assert!(matches!(
        bob1.decrypt(&jid("alice@example.org"), &out.element).await,
        Err(Error::DuplicateMessage { .. })
    ));
    // Bob answers with a key-transport element; Alice then stops sending pre-key messages.
    learn(&mut bob1, &[&alice1, &alice2]).await;
    let ack = bob1
        .encrypt_key_transport(&[jid("alice@example.org")])
        .await
        .unwrap();
    assert!(ack.element.payload.is_none());
    assert!(
        !for_device(&ack.element, a1).prekey,
        "bob1 has alice1's session from her message"
    );
    let d = alice1
        .decrypt(&jid("bob@example.org"), &ack.element)
        .await
        .unwrap();
    assert_eq!(d.plaintext, None);
    assert!(!d.should_answer);
    let out = alice1
        .encrypt(&[jid("bob@example.org")], b"second")
        .await
        .unwrap();
    assert!(!for_device(&out.element, b1).prekey);
    assert!(for_device(&out.element, b2).prekey);
    assert!(for_device(&out.element, a2).prekey);
    let d = bob1
        .decrypt(&jid("alice@example.org"), &out.element)
        .await
        .unwrap();
    assert_eq!(d.plaintext.as_deref(), Some(&b"second"[..]));
    assert!(d.events.is_empty());
}

#[tokio::test]
async fn device_lists_report_changes_and_missing_sessions() {
    let mut alice = account("alice@example.org").await;
    let bob = account("bob@example.org").await;
    let bob_jid = jid("bob@example.org");
    let list = DeviceList {
        devices: vec![
            tern_omemo::legacy_omemo::Device {
                id: bob.own_device_id(),
            },
            tern_omemo::legacy_omemo::Device { id: 77 },
        ],
    };
    let ev = alice.receive_device_list(&bob_jid, &list).await.unwrap();
    assert_eq!(ev.len(), 2);
    assert!(matches!(&ev[0], Event::NewDevice(_)));
    let missing = alice
        .missing_sessions(std::slice::from_ref(&bob_jid))
        .await
        .unwrap();
    assert_eq!(missing.len(), 2);
    assert!(matches!(
        alice.encrypt(std::slice::from_ref(&bob_jid), b"x").await,
        Err(Error::NoUsableDevices(_))
    ));
    alice
        .receive_bundle(
            &bob_jid,
            bob.own_device_id(),
            &bob.own_bundle().await.unwrap(),
        )
        .await
        .unwrap();
    let out = alice
        .encrypt(std::slice::from_ref(&bob_jid), b"x")
        .await
        .unwrap();
    assert_eq!(
        out.missing_bundles,
        vec![DeviceAddress::new(bob_jid.clone(), 77)]
    );
    // Device 77 leaves the list.
    let list = DeviceList {
        devices: vec![tern_omemo::legacy_omemo::Device {
            id: bob.own_device_id(),
        }],
    };
    let ev = alice.receive_device_list(&bob_jid, &list).await.unwrap();
    assert_eq!(
        ev,
        vec![Event::DeviceRemoved(DeviceAddress::new(
            bob_jid.clone(),
            77
        ))]
    );
    assert!(alice.missing_sessions(&[bob_jid]).await.unwrap().is_empty());
    // Our own list without this device asks to republish it.
    let own = jid("alice@example.org");
    let ev = alice
        .receive_device_list(
            &own,
            &DeviceList {
                devices: vec![tern_omemo::legacy_omemo::Device { id: 5 }],
            },
        )
        .await
        .unwrap();
    let Some(Event::PublishOwnDeviceList(l)) = ev.last() else {
        panic!("expected a republish request: {ev:?}")
    };
    assert!(l.devices.iter().any(|d| d.id == alice.own_device_id()));
    assert!(l.devices.iter().any(|d| d.id == 5));
    let too_many = DeviceList {
        devices: (1..=300)
            .map(|id| tern_omemo::legacy_omemo::Device { id })
            .collect(),
    };
    assert!(matches!(
        alice.receive_device_list(&own, &too_many).await,
        Err(Error::TooLarge { .. })
    ));
}

#[tokio::test]
async fn blind_trust_until_verification() {
    let mut alice = account("alice@example.org").await;
    let bob1 = account("bob@example.org").await;
    let mut bob2 = account("bob@example.org").await;
    let bob_jid = jid("bob@example.org");
    learn(&mut alice, &[&bob1]).await;
    let devices = alice.devices(&bob_jid).await.unwrap();
    assert_eq!(devices[0].trust, Trust::Trusted);
    let fp = devices[0].fingerprint.clone().unwrap();
    assert_eq!(fp, bob1.own_fingerprint());
    // A wrong fingerprint changes nothing; the right one verifies.
    let b1 = DeviceAddress::new(bob_jid.clone(), bob1.own_device_id());
    assert!(!alice
        .verify_fingerprint(&b1, &alice.own_fingerprint())
        .await
        .unwrap());
    assert!(alice.verify_fingerprint(&b1, &fp).await.unwrap());
    // After verifying one of Bob's devices, a new one is undecided and left out.
    learn(&mut alice, &[&bob1, &bob2]).await;
    let out = alice
        .encrypt(std::slice::from_ref(&bob_jid), b"x")
        .await
        .unwrap();
    assert_eq!(out.recipients, vec![b1.clone()]);
    let b2 = DeviceAddress::new(bob_jid.clone(), bob2.own_device_id());
    assert_eq!(out.undecided, vec![b2.clone()]);
    assert!(matches!(
        bob2.decrypt(&jid("alice@example.org"), &out.element).await,
        Err(Error::NotForThisDevice)
    ));
    alice.set_trust(&b2, Trust::Trusted).await.unwrap();
    let out = alice
        .encrypt(std::slice::from_ref(&bob_jid), b"x")
        .await
        .unwrap();
    assert_eq!(out.recipients.len(), 2);
    // Distrusting every device leaves nobody to encrypt for.
    alice.set_trust(&b1, Trust::Distrusted).await.unwrap();
    alice.set_trust(&b2, Trust::Distrusted).await.unwrap();
    assert!(matches!(
        alice.encrypt(std::slice::from_ref(&bob_jid), b"x").await,
        Err(Error::NoUsableDevices(_))
    ));
    // Trust of an unknown device cannot be set.
    assert!(alice
        .set_trust(&DeviceAddress::new(bob_jid, 1), Trust::Trusted)
        .await
        .is_err());
}

#[tokio::test]
async fn verification_uri_from_a_qr_code() {
    let mut alice = account("alice@example.org").await;
    let bob = account("bob@example.org").await;
    learn(&mut alice, &[&bob]).await;
    let uri = bob.own_trust_uri();
    assert!(uri.starts_with(&format!(
        "xmpp:bob@example.org?omemo-sid-{}=",
        bob.own_device_id()
    )));
    let (verified, mismatched) = alice.verify_uri(&uri).await.unwrap();
    assert_eq!(verified.len(), 1);
    assert!(mismatched.is_empty());
    let d = &alice.devices(&jid("bob@example.org")).await.unwrap()[0];
    assert_eq!(d.trust, Trust::Verified);
    // A URI with a different key for the same device is a mismatch, not a change.
    let forged = format!(
        "xmpp:bob@example.org?omemo-sid-{}={}",
        bob.own_device_id(),
        alice.own_fingerprint()
    );
    let (verified, mismatched) = alice.verify_uri(&forged).await.unwrap();
    assert!(verified.is_empty());
    assert_eq!(mismatched.len(), 1);
    assert!(alice
        .verify_uri("xmpp:bob@example.org?omemo-sid-1=zz")
        .await
        .is_err());
}

#[tokio::test]
async fn pre_keys_are_consumed_and_refilled() {
    let mut alice = account("alice@example.org").await;
    let mut bob = account("bob@example.org").await;
    let before: Vec<u32> = bob
        .store()
        .load_pre_keys()
        .await
        .unwrap()
        .iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(before.len(), 100);
    learn(&mut alice, &[&bob]).await;
    let out = alice
        .encrypt(&[jid("bob@example.org")], b"x")
        .await
        .unwrap();
    let used = tern_omemo::parse_key(for_device(&out.element, bob.own_device_id())).unwrap();
    let tern_omemo::message::CiphertextMessage::PreKey(m) = used else {
        panic!("expected a pre-key message")
    };
    let used_id = m.pre_key_id.unwrap();
    bob.decrypt(&jid("alice@example.org"), &out.element)
        .await
        .unwrap();
    let after: Vec<u32> = bob
        .store()
        .load_pre_keys()
        .await
        .unwrap()
        .iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(after.len(), 100);
    assert!(!after.contains(&used_id));
    assert!(after.contains(&101));
    let bundle = bob.own_bundle().await.unwrap();
    assert!(!bundle
        .prekeys
        .unwrap()
        .keys
        .iter()
        .any(|k| k.pre_key_id == used_id));
    // Bob loses the session; the same pre-key message now names a pre-key he no longer has.
    let addr = DeviceAddress::new(jid("alice@example.org"), alice.own_device_id());
    bob.store().remove_session(&addr).await.unwrap();
    assert!(matches!(
        bob.decrypt(&jid("alice@example.org"), &out.element).await,
        Err(Error::UnknownPreKey(id)) if id == used_id
    ));
}

#[tokio::test]
async fn signed_pre_key_rotation() {
    let mut bob = account("bob@example.org").await;
    let mut alice = account("alice@example.org").await;
    learn(&mut alice, &[&bob]).await;
    let in_flight = alice
        .encrypt(&[jid("bob@example.org")], b"old spk")
        .await
        .unwrap();
    assert!(bob
        .rotate_signed_pre_key_if_due(1_000_010)
        .await
        .unwrap()
        .is_empty());
    let week = 7 * 24 * 3600;
    assert_eq!(
        bob.rotate_signed_pre_key_if_due(1_000_000 + week)
            .await
            .unwrap(),
        vec![Event::BundleChanged]
    );
    let bundle = bob.own_bundle().await.unwrap();
    assert_eq!(
        bundle.signed_pre_key_public.unwrap().signed_pre_key_id,
        Some(2)
    );
    // Messages built on the previous signed pre-key still decrypt during the grace period.
    let d = bob
        .decrypt(&jid("alice@example.org"), &in_flight.element)
        .await
        .unwrap();
    assert_eq!(d.plaintext.as_deref(), Some(&b"old spk"[..]));
    // Much later, two rotations on, the first key is gone.
    bob.rotate_signed_pre_key_if_due(1_000_000 + 2 * week)
        .await
        .unwrap();
    bob.rotate_signed_pre_key_if_due(1_000_000 + 60 * 24 * 3600)
        .await
        .unwrap();
    let ids: Vec<u32> = bob
        .store()
        .load_signed_pre_keys()
        .await
        .unwrap()
        .iter()
        .map(|k| k.id)
        .collect();
    assert!(!ids.contains(&1), "{ids:?}");
}

#[tokio::test]
async fn hostile_input_is_an_error_not_a_panic() {
    let mut alice = account("alice@example.org").await;
    let mut bob = account("bob@example.org").await;
    let alice_jid = jid("alice@example.org");
    let bob_jid = jid("bob@example.org");
    learn(&mut alice, &[&bob]).await;
    let good = alice
        .encrypt(std::slice::from_ref(&bob_jid), b"x")
        .await
        .unwrap()
        .element;
    let bob_id = bob.own_device_id();

    let mut e = good.clone();
    e.header.keys.iter_mut().for_each(|k| k.data.truncate(10));
    assert!(bob.decrypt(&alice_jid, &e).await.is_err());

    let mut e = good.clone();
    e.header.keys.iter_mut().for_each(|k| k.prekey = false);
    assert!(matches!(
        bob.decrypt(&alice_jid, &e).await,
        Err(Error::NoSession { .. }) | Err(Error::Malformed(_))
    ));

    let mut e = good.clone();
    e.header.iv.data = vec![0; 7];
    assert!(matches!(
        bob.decrypt(&alice_jid, &e).await,
        Err(Error::Malformed(_))
    ));

    let mut e = good.clone();
    e.header.keys = (0..2000).map(|_| good.header.keys[0].clone()).collect();
    assert!(matches!(
        bob.decrypt(&alice_jid, &e).await,
        Err(Error::TooLarge { .. })
    ));

    let mut e = good.clone();
    e.header
        .keys
        .iter_mut()
        .for_each(|k| k.data = vec![0x33; 70_000]);
    assert!(matches!(
        bob.decrypt(&alice_jid, &e).await,
        Err(Error::TooLarge { .. })
    ));

    // A bad payload tag: the key decrypts, the payload does not.
    let mut e = good.clone();
    if let Some(p) = e.payload.as_mut() {
        p.data[0] ^= 1;
    }
    assert!(matches!(
        bob.decrypt(&alice_jid, &e).await,
        Err(Error::DecryptionFailed)
    ));

    // Another account claiming Alice's device id with a different identity key.
    let mallory = account("alice@example.org").await;
    let mut mallory_bundle = mallory.own_bundle().await.unwrap();
    assert!(bob
        .receive_bundle(
            &alice_jid,
            alice.own_device_id(),
            &alice.own_bundle().await.unwrap()
        )
        .await
        .is_ok());
    assert!(matches!(
        bob.receive_bundle(&alice_jid, alice.own_device_id(), &mallory_bundle)
            .await,
        Err(Error::IdentityMismatch { .. })
    ));
    // Bundles with missing or bad parts.
    let mut b = mallory_bundle.clone();
    b.identity_key = None;
    assert!(matches!(
        bob.receive_bundle(&alice_jid, 9, &b).await,
        Err(Error::InvalidBundle(_))
    ));
    if let Some(s) = mallory_bundle.signed_pre_key_signature.as_mut() {
        s.data[3] ^= 1;
    }
    assert!(matches!(
        bob.receive_bundle(&alice_jid, 9, &mallory_bundle).await,
        Err(Error::BadSignature)
    ));
    assert!(matches!(
        bob.receive_bundle(&bob_jid, bob_id, &bob.own_bundle().await.unwrap())
            .await,
        Err(Error::InvalidBundle(_))
    ));
}

#[tokio::test]
async fn a_batch_decrypts_in_order_and_writes_once_at_the_end() {
    let mut alice = account("alice@example.org").await;
    let mut bob = account("bob@example.org").await;
    let (a, b) = (alice.own_device_id(), bob.own_device_id());
    learn(&mut alice, &[&bob]).await;
    let from = jid("alice@example.org");
    let mut sent = Vec::new();
    for i in 0..40 {
        let text = format!("message {i}");
        let out = alice
            .encrypt(&[jid("bob@example.org")], text.as_bytes())
            .await
            .unwrap();
        assert!(for_device(&out.element, b).prekey, "bob never answered");
        sent.push((text, out.element));
    }
    let address = DeviceAddress::new(from.clone(), a);
    let pre_keys = bob.store().load_pre_keys().await.unwrap().len();

    // The batch skips at most 8: the message too far ahead fails and
    // changes nothing; the others come out in order.
    let mut batch = tern_omemo::DecryptBatch::default();
    assert!(matches!(
        bob.decrypt_in_batch(&mut batch, &from, &sent[20].1, 8)
            .await,
        Err(Error::TooFarInFuture { .. })
    ));
    for (i, (text, element)) in sent.iter().enumerate().take(20) {
        let d = bob
            .decrypt_in_batch(&mut batch, &from, element, 8)
            .await
            .unwrap();
        assert_eq!(d.plaintext.as_deref(), Some(text.as_bytes()), "message {i}");
        assert_eq!(
            d.events.len(),
            usize::from(i == 0),
            "the session is established once"
        );
    }
    assert!(matches!(
        bob.decrypt_in_batch(&mut batch, &from, &sent[3].1, 8).await,
        Err(Error::DuplicateMessage { .. })
    ));
    assert_eq!(batch.changed(), 1);
    assert!(
        bob.store().load_session(&address).await.unwrap().is_none(),
        "nothing is written before the batch is finished"
    );
    assert_eq!(bob.store().load_pre_keys().await.unwrap().len(), pre_keys);
    let events = bob.finish_batch(batch).await.unwrap();
    assert_eq!(
        events,
        vec![Event::BundleChanged],
        "the used pre-key replaced"
    );
    assert!(bob.store().load_session(&address).await.unwrap().is_some());

    // What the batch left on disk decrypts the rest, and not again.
    for (text, element) in &sent[20..] {
        let d = bob.decrypt(&from, element).await.unwrap();
        assert_eq!(d.plaintext.as_deref(), Some(text.as_bytes()));
    }
    assert!(matches!(
        bob.decrypt(&from, &sent[10].1).await,
        Err(Error::DuplicateMessage { .. })
    ));
}

/// A call's DTLS fingerprint is encrypted for the one device in the call
/// (as Conversations and Dino do it): only that device gets a key, a second
/// device of the same account gets none, and the answer comes back the
/// same way; the trust reported is the receiver's trust in the sender.
#[tokio::test]
async fn one_device_only_for_a_calls_fingerprint() {
    let mut alice = account("alice@example.org").await;
    let mut bob = account("bob@example.org").await;
    let bob2 = account("bob@example.org").await;
    learn(&mut alice, &[&bob, &bob2]).await;
    let bob_addr = DeviceAddress::new(bob.own_jid().clone(), bob.own_device_id());
    let text = b"62:1F:B8:0A:5E:33:C9:47:90:D1:2A:7E:0C:B4:58:F3:16:8D:E2:49:75:AA:03:6B:CF:91:2E:D8:44:17:B0:6C";
    let e = alice.encrypt_for_device(&bob_addr, text).await.unwrap();
    assert_eq!(e.header.sid, alice.own_device_id());
    assert_eq!(e.header.keys.len(), 1);
    assert_eq!(e.header.keys[0].rid, bob.own_device_id());
    assert!(
        e.header.keys[0].prekey,
        "the first message builds the session"
    );
    let got = bob.decrypt(alice.own_jid(), &e).await.unwrap();
    assert_eq!(got.plaintext.as_deref(), Some(&text[..]));
    assert_eq!(got.sender_device, alice.own_device_id());
    assert_eq!(got.trust, Trust::Trusted);

    // Bob answers to Alice's device with the session the offer built.
    let alice_addr = DeviceAddress::new(alice.own_jid().clone(), alice.own_device_id());
    let (fp, trust) = bob.device_trust(&alice_addr).await.unwrap().unwrap();
    assert_eq!(fp.len(), 64);
    assert_eq!(trust, Trust::Trusted);
    let answer = bob.encrypt_for_device(&alice_addr, b"AB:CD").await.unwrap();
    assert!(!answer.header.keys[0].prekey);
    let got = alice.decrypt(bob.own_jid(), &answer).await.unwrap();
    assert_eq!(got.plaintext.as_deref(), Some(&b"AB:CD"[..]));

    // No session, no fingerprint: an error, never a panic.
    let stranger = DeviceAddress::new(jid("eve@example.org"), 7);
    assert!(matches!(
        alice.encrypt_for_device(&stranger, text).await,
        Err(Error::NoSession { .. })
    ));
    // A tampered payload fails to decrypt, and leaves the session usable.
    let mut tampered = alice.encrypt_for_device(&bob_addr, text).await.unwrap();
    if let Some(p) = tampered.payload.as_mut() {
        p.data[0] ^= 1;
    }
    assert!(bob.decrypt(alice.own_jid(), &tampered).await.is_err());
    let again = alice.encrypt_for_device(&bob_addr, text).await.unwrap();
    assert!(bob.decrypt(alice.own_jid(), &again).await.is_ok());
}
