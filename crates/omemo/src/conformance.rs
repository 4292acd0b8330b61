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
use crate::message::{CiphertextMessage, PreKeySignalMessage, SignalMessage};
use crate::session::{PreKeyBundle, ResponderKeys, SessionRecord};
use crate::store::{
    DeviceAddress, DeviceRecord, OwnIdentity, PreKeyRecord, SignedPreKeyRecord, Store,
};
use crate::trust::Trust;
use crate::{Config, Omemo};

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
