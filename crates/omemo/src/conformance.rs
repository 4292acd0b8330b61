//! The shared conformance suite every [`Store`] implementation runs.
//!
//! From another crate (with the `conformance` feature of `tern-omemo` as a dev-dependency):
//!
//! ```ignore
//! tern_omemo::store_conformance_tests!(tokio::test, async { SqliteStore::open_in_memory().await.unwrap() });
//! ```
//!
//! The first argument is the async test attribute, the second an expression whose `.await`
//! gives a fresh, empty store (it is evaluated once per store a test needs). Each check is also
//! a public async function here, to call by hand. They panic on failure, like assertions.

use xmpp_parsers::jid::BareJid;

use crate::keys::KeyPair;
use crate::legacy_omemo::{Device, DeviceList};
use crate::message::{CiphertextMessage, PreKeySignalMessage, SignalMessage};
use crate::session::{PreKeyBundle, ResponderKeys, SessionRecord};
use crate::store::{
    DeviceAddress, DeviceRecord, OwnIdentity, PreKeyRecord, SignedPreKeyRecord, Store,
};
use crate::trust::Trust;
use crate::{Config, Error, MemoryStore, Omemo};

/// Generates one test per check for a store type. See the module documentation.
#[macro_export]
macro_rules! store_conformance_tests {
    ($test:meta, $make:expr) => {
        #[$test]
        async fn omemo_store_own_identity() {
            $crate::conformance::own_identity($make.await).await
        }
        #[$test]
        async fn omemo_store_signed_pre_keys() {
            $crate::conformance::signed_pre_keys($make.await).await
        }
        #[$test]
        async fn omemo_store_pre_keys() {
            $crate::conformance::pre_keys($make.await).await
        }
        #[$test]
        async fn omemo_store_sessions_survive_a_round_trip() {
            $crate::conformance::sessions($make.await).await
        }
        #[$test]
        async fn omemo_store_devices() {
            $crate::conformance::devices($make.await).await
        }
        #[$test]
        async fn omemo_store_batches() {
            $crate::conformance::batches($make.await).await
        }
        #[$test]
        async fn omemo_store_encrypt_for_many_devices() {
            $crate::conformance::encrypt_for_many_devices($make.await).await
        }
        #[$test]
        async fn omemo_store_two_accounts_talk() {
            $crate::conformance::two_accounts_talk($make.await, $make.await).await
        }
    };
}

fn pre_key(m: CiphertextMessage) -> PreKeySignalMessage {
    match m {
        CiphertextMessage::PreKey(m) => m,
        CiphertextMessage::Signal(_) => panic!("expected a pre-key message"),
    }
}

fn signal(m: CiphertextMessage) -> SignalMessage {
    match m {
        CiphertextMessage::Signal(m) => m,
        CiphertextMessage::PreKey(_) => panic!("expected a signal message"),
    }
}

fn jid(s: &str) -> BareJid {
    s.parse().expect("valid test JID")
}

/// Own identity: absent at first, then stored and replaced.
pub async fn own_identity<S: Store>(store: S) {
    assert!(store.load_own_identity().await.expect("load").is_none());
    let mut own = OwnIdentity {
        device_id: 123_456,
        registration_id: 42,
        identity: KeyPair::generate(&mut rand::rngs::OsRng),
        next_pre_key_id: 101,
        next_signed_pre_key_id: 2,
    };
    store.store_own_identity(&own).await.expect("store");
    let back = store
        .load_own_identity()
        .await
        .expect("load")
        .expect("some");
    assert_eq!(back.device_id, 123_456);
    assert_eq!(back.registration_id, 42);
    assert_eq!(back.identity.public, own.identity.public);
    assert_eq!(
        back.identity.private.to_bytes(),
        own.identity.private.to_bytes()
    );
    assert_eq!(
        (back.next_pre_key_id, back.next_signed_pre_key_id),
        (101, 2)
    );
    own.next_pre_key_id = 202;
    store.store_own_identity(&own).await.expect("replace");
    let back = store
        .load_own_identity()
        .await
        .expect("load")
        .expect("some");
    assert_eq!(back.next_pre_key_id, 202);
}

/// Signed pre-keys: insert, replace, list, remove.
pub async fn signed_pre_keys<S: Store>(store: S) {
    assert!(store.load_signed_pre_keys().await.expect("load").is_empty());
    let make = |id, created_at| SignedPreKeyRecord {
        id,
        key_pair: KeyPair::generate(&mut rand::rngs::OsRng),
        signature: [id as u8; 64],
        created_at,
    };
    let a = make(1, 1000);
    let b = make(2, 2000);
    store.store_signed_pre_key(&a).await.expect("store");
    store.store_signed_pre_key(&b).await.expect("store");
    let mut all = store.load_signed_pre_keys().await.expect("load");
    all.sort_by_key(|k| k.id);
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].key_pair.public, b.key_pair.public);
    assert_eq!(
        all[1].key_pair.private.to_bytes(),
        b.key_pair.private.to_bytes()
    );
    assert_eq!(all[1].signature, [2; 64]);
    assert_eq!(all[1].created_at, 2000);
    store.remove_signed_pre_key(1).await.expect("remove");
    store
        .remove_signed_pre_key(99)
        .await
        .expect("remove absent");
    let all = store.load_signed_pre_keys().await.expect("load");
    assert_eq!(all.iter().map(|k| k.id).collect::<Vec<_>>(), [2]);
}

/// One-time pre-keys: bulk insert, ordered listing, lookup, removal.
pub async fn pre_keys<S: Store>(store: S) {
    let keys: Vec<PreKeyRecord> = [5u32, 1, 3]
        .iter()
        .map(|&id| PreKeyRecord {
            id,
            key_pair: KeyPair::generate(&mut rand::rngs::OsRng),
        })
        .collect();
    store.store_pre_keys(&keys).await.expect("store");
    let all = store.load_pre_keys().await.expect("load");
    assert_eq!(all.iter().map(|k| k.id).collect::<Vec<_>>(), [1, 3, 5]);
    let three = store.load_pre_key(3).await.expect("load").expect("some");
    assert_eq!(three.key_pair.public, keys[2].key_pair.public);
    assert_eq!(
        three.key_pair.private.to_bytes(),
        keys[2].key_pair.private.to_bytes()
    );
    assert!(store.load_pre_key(4).await.expect("load").is_none());
    store.remove_pre_key(3).await.expect("remove");
    store.remove_pre_key(3).await.expect("remove absent");
    assert!(store.load_pre_key(3).await.expect("load").is_none());
    assert_eq!(store.load_pre_keys().await.expect("load").len(), 2);
}

/// Sessions: a stored session, loaded back, keeps decrypting and encrypting.
pub async fn sessions<S: Store>(store: S) {
    let rng = &mut rand::rngs::OsRng;
    let alice = KeyPair::generate(rng);
    let bob = KeyPair::generate(rng);
    let bob_signed = KeyPair::generate(rng);
    let bundle = PreKeyBundle {
        registration_id: 1,
        pre_key: None,
        signed_pre_key_id: 1,
        signed_pre_key: bob_signed.public,
        signed_pre_key_signature: bob
            .private
            .sign(&bob_signed.public.serialize(), rng)
            .to_vec(),
        identity_key: bob.public,
    };
    let mut a = SessionRecord::new();
    a.process_bundle(&bundle, &alice, 2, rng).expect("bundle");
    let first = pre_key(a.encrypt(b"first").expect("encrypt"));
    let mut b = SessionRecord::new();
    let keys = ResponderKeys {
        identity: &bob,
        registration_id: 1,
        signed_pre_key: &bob_signed,
        one_time_pre_key: None,
    };
    b.decrypt_pre_key(&first, Some(keys), rng).expect("decrypt");
    let address = DeviceAddress::new(jid("alice@example.org"), 7);
    let other = DeviceAddress::new(jid("alice@example.org"), 8);
    assert!(store.load_session(&address).await.expect("load").is_none());
    store.store_session(&address, &b).await.expect("store");
    drop(b);
    let pending = pre_key(a.encrypt(b"second").expect("encrypt"));
    let mut b = store
        .load_session(&address)
        .await
        .expect("load")
        .expect("some");
    assert!(store.load_session(&other).await.expect("load").is_none());
    let out = b
        .decrypt_pre_key(&pending, None, rng)
        .expect("decrypt after restore");
    assert_eq!(out.plaintext, b"second");
    let reply = signal(b.encrypt(b"reply").expect("encrypt"));
    store.store_session(&address, &b).await.expect("replace");
    assert_eq!(a.decrypt(&reply, rng).expect("decrypt"), b"reply");
    let next = signal(a.encrypt(b"third").expect("encrypt"));
    let mut b = store
        .load_session(&address)
        .await
        .expect("load")
        .expect("some");
    assert_eq!(b.decrypt(&next, rng).expect("decrypt"), b"third");
    store.remove_session(&address).await.expect("remove");
    store.remove_session(&address).await.expect("remove absent");
    assert!(store.load_session(&address).await.expect("load").is_none());
}

/// Devices: per-account listing ordered by id, replacement, lookup.
pub async fn devices<S: Store>(store: S) {
    let alice = jid("alice@example.org");
    let bob = jid("bob@example.org");
    let key = KeyPair::generate(&mut rand::rngs::OsRng).public;
    let mut d = DeviceRecord {
        address: DeviceAddress::new(alice.clone(), 9),
        identity_key: None,
        trust: Trust::Undecided,
        active: true,
    };
    store.store_device(&d).await.expect("store");
    for (j, id) in [(alice.clone(), 3), (bob.clone(), 1)] {
        store
            .store_device(&DeviceRecord {
                address: DeviceAddress::new(j, id),
                identity_key: Some(key),
                trust: Trust::Verified,
                active: false,
            })
            .await
            .expect("store");
    }
    let list = store.load_devices(&alice).await.expect("load");
    assert_eq!(
        list.iter().map(|d| d.address.device_id).collect::<Vec<_>>(),
        [3, 9]
    );
    assert_eq!(list[0].identity_key, Some(key));
    assert_eq!(list[0].trust, Trust::Verified);
    assert!(!list[0].active);
    d.identity_key = Some(key);
    d.trust = Trust::Distrusted;
    d.active = false;
    store.store_device(&d).await.expect("replace");
    assert_eq!(store.load_device(&d.address).await.expect("load"), Some(d));
    assert_eq!(store.load_devices(&bob).await.expect("load").len(), 1);
    assert!(store
        .load_devices(&jid("carol@example.org"))
        .await
        .expect("load")
        .is_empty());
    assert!(store
        .load_device(&DeviceAddress::new(bob, 2))
        .await
        .expect("load")
        .is_none());
}

/// A session with a new peer device (from a made-up bundle): something to store.
fn new_session() -> SessionRecord {
    let rng = &mut rand::rngs::OsRng;
    let (own, peer, peer_signed) = (
        KeyPair::generate(rng),
        KeyPair::generate(rng),
        KeyPair::generate(rng),
    );
    let bundle = PreKeyBundle {
        registration_id: 1,
        pre_key: None,
        signed_pre_key_id: 1,
        signed_pre_key: peer_signed.public,
        signed_pre_key_signature: peer
            .private
            .sign(&peer_signed.public.serialize(), rng)
            .to_vec(),
        identity_key: peer.public,
    };
    let mut session = SessionRecord::new();
    session
        .process_bundle(&bundle, &own, 2, rng)
        .expect("bundle");
    session
}

/// The batch methods give what the per-item ones give: device lists and sessions in the order
/// asked (repeats and unknown ones included), and sessions written several at a time.
pub async fn batches<S: Store>(store: S) {
    let (alice, bob, carol) = (
        jid("alice@example.org"),
        jid("bob@example.org"),
        jid("carol@example.org"),
    );
    for (j, id, active) in [
        (alice.clone(), 9, true),
        (bob.clone(), 1, false),
        (alice.clone(), 3, true),
    ] {
        store
            .store_device(&DeviceRecord {
                address: DeviceAddress::new(j, id),
                identity_key: None,
                trust: Trust::Undecided,
                active,
            })
            .await
            .expect("store");
    }
    assert!(store.load_devices_of(&[]).await.expect("load").is_empty());
    let lists = store
        .load_devices_of(&[bob.clone(), carol.clone(), alice.clone(), bob.clone()])
        .await
        .expect("load");
    let (bob_list, alice_list) = (
        store.load_devices(&bob).await.expect("load"),
        store.load_devices(&alice).await.expect("load"),
    );
    assert_eq!(alice_list.len(), 2);
    assert_eq!(lists, [bob_list.clone(), Vec::new(), alice_list, bob_list]);

    let (a3, a9, b1) = (
        DeviceAddress::new(alice.clone(), 3),
        DeviceAddress::new(alice.clone(), 9),
        DeviceAddress::new(bob.clone(), 1),
    );
    let (first, second, third) = (new_session(), new_session(), new_session());
    store.store_session(&a9, &first).await.expect("store");
    assert!(store.load_sessions(&[]).await.expect("load").is_empty());
    store.store_sessions(&[]).await.expect("store none");
    let bytes = |s: &Option<SessionRecord>| s.as_ref().map(SessionRecord::to_bytes);
    let loaded = store
        .load_sessions(&[b1.clone(), a9.clone(), a3.clone(), a9.clone()])
        .await
        .expect("load");
    assert_eq!(
        loaded.iter().map(bytes).collect::<Vec<_>>(),
        [None, Some(first.to_bytes()), None, Some(first.to_bytes())]
    );
    // One replaced, two new.
    store
        .store_sessions(&[
            (a9.clone(), second.clone()),
            (a3.clone(), third.clone()),
            (b1.clone(), first.clone()),
        ])
        .await
        .expect("store");
    for (address, session) in [(&a9, &second), (&a3, &third), (&b1, &first)] {
        let back = store.load_session(address).await.expect("load");
        assert_eq!(bytes(&back), Some(session.to_bytes()), "{address}");
    }
    let loaded = store
        .load_sessions(&[a3, DeviceAddress::new(carol, 3), b1])
        .await
        .expect("load");
    assert_eq!(
        loaded.iter().map(bytes).collect::<Vec<_>>(),
        [Some(third.to_bytes()), None, Some(first.to_bytes())]
    );
}

/// The stored sessions with `addresses`, serialised (to compare).
async fn session_bytes<S: Store>(store: &S, addresses: &[DeviceAddress]) -> Vec<Option<Vec<u8>>> {
    let sessions = store.load_sessions(addresses).await.expect("load");
    sessions
        .iter()
        .map(|s| s.as_ref().map(SessionRecord::to_bytes))
        .collect()
}

fn device_list(ids: impl IntoIterator<Item = u32>) -> DeviceList {
    DeviceList {
        devices: ids.into_iter().map(|id| Device { id }).collect(),
    }
}

/// One message through [`Omemo`] for two contacts and the user's other device, each device in
/// its own state (a session, a distrusted one, one without a bundle, one no longer listed):
/// the right devices get keys, every one of them decrypts, and only their sessions were saved,
/// advanced. A recipient without devices fails the whole message, and no session is saved.
pub async fn encrypt_for_many_devices<S: Store>(store: S) {
    let (alice, bob, carol, dave) = (
        jid("alice@example.org"),
        jid("bob@example.org"),
        jid("carol@example.org"),
        jid("dave@example.org"),
    );
    let config = Config {
        pre_key_count: 5,
        ..Config::default()
    };
    let mut sender = Omemo::load_or_create(store, alice.clone(), config.clone(), 1000)
        .await
        .expect("sender");
    // Bob's devices 0 to 2, Carol's 3 and 4, and the user's other device 5.
    let mut peers = Vec::new();
    for j in [&bob, &bob, &bob, &carol, &carol, &alice] {
        let peer = Omemo::load_or_create(MemoryStore::new(), j.clone(), config.clone(), 1000)
            .await
            .expect("peer");
        peers.push(peer);
    }
    let devices: Vec<DeviceAddress> = peers
        .iter()
        .map(|p| DeviceAddress::new(p.own_jid().clone(), p.own_device_id()))
        .collect();
    for (j, of) in [(&bob, 0..3), (&carol, 3..5), (&alice, 5..6)] {
        let ids = devices[of.clone()].iter().map(|d| d.device_id);
        sender
            .receive_device_list(j, &device_list(ids))
            .await
            .expect("list");
        for p in &peers[of] {
            let bundle = p.own_bundle().await.expect("bundle");
            sender
                .receive_bundle(j, p.own_device_id(), &bundle)
                .await
                .expect("session");
        }
    }
    // Bob's device 2 leaves his list, Carol's 4 is distrusted, and she lists a device 77
    // without a bundle.
    let no_bundle = DeviceAddress::new(carol.clone(), 77);
    let bob_ids = [devices[0].device_id, devices[1].device_id];
    sender
        .receive_device_list(&bob, &device_list(bob_ids))
        .await
        .expect("list");
    let carol_ids = [devices[3].device_id, devices[4].device_id, 77];
    sender
        .receive_device_list(&carol, &device_list(carol_ids))
        .await
        .expect("list");
    sender
        .set_trust(&devices[4], Trust::Distrusted)
        .await
        .expect("distrust");

    let to = [bob.clone(), carol.clone()];
    assert_eq!(
        sender.missing_sessions(&to).await.expect("missing"),
        std::slice::from_ref(&no_bundle)
    );
    let before = session_bytes(sender.store(), &devices).await;
    assert!(before.iter().all(Option::is_some));
    let err = sender
        .encrypt(&[bob.clone(), dave.clone()], b"not sent")
        .await
        .expect_err("dave has no devices");
    assert!(
        matches!(&err, Error::NoUsableDevices(j) if *j == dave.to_string()),
        "{err}"
    );
    assert!(
        before == session_bytes(sender.store(), &devices).await,
        "a message that failed saved a session"
    );

    let mut expected = vec![devices[0].clone(), devices[1].clone()];
    expected.sort();
    expected.extend([devices[3].clone(), devices[5].clone()]);
    for text in [&b"first"[..], b"second"] {
        let out = sender.encrypt(&to, text).await.expect("encrypt");
        assert_eq!(out.recipients, expected);
        assert_eq!(out.missing_bundles, std::slice::from_ref(&no_bundle));
        assert!(out.undecided.is_empty());
        for i in [0, 1, 3, 5] {
            let got = peers[i]
                .decrypt(&alice, &out.element)
                .await
                .expect("decrypt");
            assert_eq!(got.plaintext.as_deref(), Some(text));
        }
    }
    let after = session_bytes(sender.store(), &devices).await;
    for (i, device) in devices.iter().enumerate() {
        assert_eq!(
            before[i] != after[i],
            expected.contains(device),
            "only the sessions encrypted with are saved, advanced ({device})"
        );
    }
}

/// Two accounts on two stores exchange messages through [`Omemo`], and the receiving side is
/// reloaded from its store in between.
pub async fn two_accounts_talk<S: Store>(alice_store: S, bob_store: S) {
    let alice_jid = jid("alice@example.org");
    let bob_jid = jid("bob@example.org");
    let mut alice = Omemo::load_or_create(alice_store, alice_jid.clone(), Config::default(), 1000)
        .await
        .expect("alice");
    let bob = Omemo::load_or_create(bob_store, bob_jid.clone(), Config::default(), 1000)
        .await
        .expect("bob");
    let bob_id = bob.own_device_id();
    let bundle = bob.own_bundle().await.expect("bundle");
    alice
        .receive_device_list(&bob_jid, &bob.own_device_list(None))
        .await
        .expect("list");
    alice
        .receive_bundle(&bob_jid, bob_id, &bundle)
        .await
        .expect("session");
    let out = alice
        .encrypt(std::slice::from_ref(&bob_jid), b"hello bob")
        .await
        .expect("encrypt");
    // Bob restarts: everything must come back from the store.
    let bob_store = bob.into_store();
    let mut bob = Omemo::load_or_create(bob_store, bob_jid.clone(), Config::default(), 1000)
        .await
        .expect("bob again");
    assert_eq!(bob.own_device_id(), bob_id);
    let got = bob
        .decrypt(&alice_jid, &out.element)
        .await
        .expect("decrypt");
    assert_eq!(got.plaintext.as_deref(), Some(&b"hello bob"[..]));
    let bob_store = bob.into_store();
    let mut bob = Omemo::load_or_create(bob_store, bob_jid.clone(), Config::default(), 1000)
        .await
        .expect("bob again");
    let reply = bob
        .encrypt(std::slice::from_ref(&alice_jid), b"hi alice")
        .await
        .expect("reply");
    let got = alice
        .decrypt(&bob_jid, &reply.element)
        .await
        .expect("decrypt");
    assert_eq!(got.plaintext.as_deref(), Some(&b"hi alice"[..]));
}
