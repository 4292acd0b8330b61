//! The SQLite OMEMO store: the shared conformance suite, accounts sharing one
//! database, sessions that survive a restart, and damaged rows.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use sqlx::Connection;
use tern_omemo::keys::KeyPair;
use tern_omemo::store::{OwnIdentity, PreKeyRecord};
use tern_omemo::{BareJid, Config, DeviceAddress, Omemo, Store as _};
use tern_store::{OmemoStore, OmemoStoreError, Store, StoredAccount};

fn jid(s: &str) -> BareJid {
    s.parse().unwrap()
}

async fn add_account(store: &Store, account: &str) {
    store
        .upsert_account(&StoredAccount {
            jid: account.into(),
            enabled: true,
            resource: None,
            host_override: None,
            port_override: None,
            direct_tls: false,
        })
        .await
        .unwrap();
}

/// A fresh database in memory with one account, and that account's OMEMO store.
async fn fresh() -> OmemoStore {
    let store = Store::open_in_memory().await.unwrap();
    add_account(&store, "me@example.org").await;
    store.omemo(&jid("me@example.org"))
}

tern_omemo::store_conformance_tests!(tokio::test, fresh());

/// Both accounts in one database file, as in a profile with two accounts.
async fn two_accounts_in(path: &Path) -> (Store, OmemoStore, OmemoStore) {
    let store = Store::open(path).await.unwrap();
    add_account(&store, "alice@example.org").await;
    add_account(&store, "bob@example.org").await;
    let alice = store.omemo(&jid("alice@example.org"));
    let bob = store.omemo(&jid("bob@example.org"));
    (store, alice, bob)
}

#[tokio::test]
async fn two_accounts_talk_through_one_database() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, alice, bob) = two_accounts_in(&dir.path().join("tern.sqlite3")).await;
    tern_omemo::conformance::two_accounts_talk(alice, bob).await;
}

#[tokio::test]
async fn accounts_do_not_see_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let (store, alice, bob) = two_accounts_in(&dir.path().join("tern.sqlite3")).await;
    let a = Omemo::load_or_create(
        alice.clone(),
        jid("alice@example.org"),
        Config::default(),
        0,
    )
    .await
    .unwrap();
    assert_eq!(alice.load_pre_keys().await.unwrap().len(), 100);
    assert!(bob.load_own_identity().await.unwrap().is_none());
    assert!(bob.load_pre_keys().await.unwrap().is_empty());
    assert!(bob.load_signed_pre_keys().await.unwrap().is_empty());
    let b = Omemo::load_or_create(bob.clone(), jid("bob@example.org"), Config::default(), 0)
        .await
        .unwrap();
    assert_ne!(a.own_device_id(), b.own_device_id());
    assert_eq!(
        alice.load_own_identity().await.unwrap().unwrap().device_id,
        a.own_device_id()
    );
    // Removing an account removes its OMEMO state, and only its.
    assert!(store.remove_account("alice@example.org").await.unwrap());
    assert!(alice.load_own_identity().await.unwrap().is_none());
    assert!(alice.load_pre_keys().await.unwrap().is_empty());
    assert_eq!(bob.load_pre_keys().await.unwrap().len(), 100);
}

#[tokio::test]
async fn writing_for_an_unknown_account_is_an_error() {
    let store = Store::open_in_memory().await.unwrap();
    let omemo = store.omemo(&jid("nobody@example.org"));
    let own = OwnIdentity {
        device_id: 1,
        registration_id: 1,
        identity: KeyPair::generate(&mut rand::rngs::OsRng),
        next_pre_key_id: 1,
        next_signed_pre_key_id: 1,
    };
    let err = omemo.store_own_identity(&own).await.unwrap_err();
    assert!(matches!(err, OmemoStoreError::Database(_)), "{err}");
}

#[tokio::test]
async fn sessions_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tern.sqlite3");
    let (alice_jid, bob_jid) = (jid("alice@example.org"), jid("bob@example.org"));
    let (store, alice_store, bob_store) = two_accounts_in(&path).await;
    let mut alice = Omemo::load_or_create(alice_store, alice_jid.clone(), Config::default(), 0)
        .await
        .unwrap();
    let mut bob = Omemo::load_or_create(bob_store, bob_jid.clone(), Config::default(), 0)
        .await
        .unwrap();
    let (alice_id, bob_id) = (alice.own_device_id(), bob.own_device_id());
    let bob_fingerprint = bob.own_fingerprint();

    // A session in both directions: pre-key message, then a reply that
    // acknowledges it.
    alice
        .receive_device_list(&bob_jid, &bob.own_device_list(None))
        .await
        .unwrap();
    let bundle = bob.own_bundle().await.unwrap();
    alice
        .receive_bundle(&bob_jid, bob_id, &bundle)
        .await
        .unwrap();
    let first = alice
        .encrypt(std::slice::from_ref(&bob_jid), b"first")
        .await
        .unwrap();
    let got = bob.decrypt(&alice_jid, &first.element).await.unwrap();
    assert_eq!(got.plaintext.as_deref(), Some(&b"first"[..]));
    bob.receive_device_list(&alice_jid, &alice.own_device_list(None))
        .await
        .unwrap();
    let reply = bob
        .encrypt(std::slice::from_ref(&alice_jid), b"reply")
        .await
        .unwrap();
    let got = alice.decrypt(&bob_jid, &reply.element).await.unwrap();
    assert_eq!(got.plaintext.as_deref(), Some(&b"reply"[..]));
    // Sent before the restart, received after it.
    let in_flight = alice
        .encrypt(std::slice::from_ref(&bob_jid), b"in flight")
        .await
        .unwrap();

    // Restart: drop everything, close the database, open the file again.
    drop(alice);
    drop(bob);
    store.close().await;
    drop(store);
    let (_store, alice_store, bob_store) = two_accounts_in(&path).await;
    let mut alice = Omemo::load_or_create(alice_store, alice_jid.clone(), Config::default(), 0)
        .await
        .unwrap();
    let mut bob = Omemo::load_or_create(bob_store, bob_jid.clone(), Config::default(), 0)
        .await
        .unwrap();
    assert_eq!(
        (alice.own_device_id(), bob.own_device_id()),
        (alice_id, bob_id)
    );
    assert_eq!(bob.own_fingerprint(), bob_fingerprint);

    let got = bob.decrypt(&alice_jid, &in_flight.element).await.unwrap();
    assert_eq!(got.plaintext.as_deref(), Some(&b"in flight"[..]));
    // The acknowledged session continues with ordinary messages, both ways.
    let after = alice
        .encrypt(std::slice::from_ref(&bob_jid), b"after restart")
        .await
        .unwrap();
    let key = after
        .element
        .header
        .keys
        .iter()
        .find(|k| k.rid == bob_id)
        .unwrap();
    assert!(
        !key.prekey,
        "a restored session must not fall back to pre-keys"
    );
    let got = bob.decrypt(&alice_jid, &after.element).await.unwrap();
    assert_eq!(got.plaintext.as_deref(), Some(&b"after restart"[..]));
    let back = bob
        .encrypt(std::slice::from_ref(&alice_jid), b"back")
        .await
        .unwrap();
    let got = alice.decrypt(&bob_jid, &back.element).await.unwrap();
    assert_eq!(got.plaintext.as_deref(), Some(&b"back"[..]));
    // Replays are still refused after the restart.
    assert!(bob.decrypt(&alice_jid, &in_flight.element).await.is_err());
}

/// Runs one statement on the file through its own connection, as a damaged
/// disk or another program would.
async fn tamper(path: &Path, sql: &str) {
    let url = format!("sqlite://{}", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("PRAGMA ignore_check_constraints = ON")
        .execute(&mut conn)
        .await
        .unwrap();
    let done = sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    assert!(done.rows_affected() > 0, "{sql} changed nothing");
    conn.close().await.unwrap();
}

#[tokio::test]
async fn damaged_rows_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tern.sqlite3");
    let (alice_jid, bob_jid) = (jid("alice@example.org"), jid("bob@example.org"));
    let (store, alice_store, bob_store) = two_accounts_in(&path).await;
    let mut alice = Omemo::load_or_create(alice_store, alice_jid.clone(), Config::default(), 0)
        .await
        .unwrap();
    let mut bob = Omemo::load_or_create(bob_store.clone(), bob_jid.clone(), Config::default(), 0)
        .await
        .unwrap();
    alice
        .receive_device_list(&bob_jid, &bob.own_device_list(None))
        .await
        .unwrap();
    let bundle = bob.own_bundle().await.unwrap();
    alice
        .receive_bundle(&bob_jid, bob.own_device_id(), &bundle)
        .await
        .unwrap();
    let first = alice
        .encrypt(std::slice::from_ref(&bob_jid), b"first")
        .await
        .unwrap();
    bob.decrypt(&alice_jid, &first.element).await.unwrap();
    let next = alice
        .encrypt(std::slice::from_ref(&bob_jid), b"next")
        .await
        .unwrap();
    let alice_device = DeviceAddress::new(alice_jid.clone(), alice.own_device_id());

    // A session blob that is not a session record.
    tamper(
        &path,
        "UPDATE omemo_sessions SET record = x'01ffff0a03' WHERE account_jid = 'bob@example.org'",
    )
    .await;
    let err = bob_store.load_session(&alice_device).await.unwrap_err();
    assert!(
        matches!(
            err,
            OmemoStoreError::Corrupt {
                what: "session",
                ..
            }
        ),
        "{err}"
    );
    // Read with other sessions, likewise.
    let err = bob_store
        .load_sessions(&[DeviceAddress::new(alice_jid.clone(), 1), alice_device])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            OmemoStoreError::Corrupt {
                what: "session",
                ..
            }
        ),
        "{err}"
    );
    // Through `Omemo` it is a store error for this message, not a panic.
    let err = bob.decrypt(&alice_jid, &next.element).await.unwrap_err();
    assert!(matches!(err, tern_omemo::Error::Store(_)), "{err}");

    // A truncated private key.
    let some: PreKeyRecord = bob_store.load_pre_keys().await.unwrap().remove(0);
    tamper(
        &path,
        &format!(
            "UPDATE omemo_pre_keys SET private_key = x'0102' \
             WHERE account_jid = 'bob@example.org' AND id = {}",
            some.id
        ),
    )
    .await;
    let err = bob_store.load_pre_key(some.id).await.unwrap_err();
    assert!(
        matches!(
            err,
            OmemoStoreError::Corrupt {
                what: "pre-key",
                ..
            }
        ),
        "{err}"
    );
    assert!(bob_store.load_pre_keys().await.is_err());

    // An identity whose device id does not fit 32 bits.
    tamper(
        &path,
        "UPDATE omemo_identity SET device_id = 99999999999 WHERE account_jid = 'bob@example.org'",
    )
    .await;
    drop(bob);
    let err = Omemo::load_or_create(bob_store, bob_jid.clone(), Config::default(), 0)
        .await
        .unwrap_err();
    assert!(matches!(err, tern_omemo::Error::Store(_)), "{err}");

    // An unknown trust state.
    let bob_device = DeviceAddress::new(bob_jid.clone(), 0);
    let alice_store = alice.into_store();
    let known = alice_store.load_devices(&bob_jid).await.unwrap();
    assert_eq!(known.len(), 1);
    tamper(
        &path,
        "UPDATE omemo_devices SET trust = 'maybe' WHERE account_jid = 'alice@example.org'",
    )
    .await;
    let err = alice_store.load_devices(&bob_jid).await.unwrap_err();
    assert!(
        matches!(err, OmemoStoreError::Corrupt { what: "device", .. }),
        "{err}"
    );
    let err = alice_store
        .load_devices_of(&[alice_jid.clone(), bob_jid.clone()])
        .await
        .unwrap_err();
    assert!(
        matches!(err, OmemoStoreError::Corrupt { what: "device", .. }),
        "{err}"
    );
    // Sending to bob is then a store error too.
    let mut alice =
        Omemo::load_or_create(alice_store.clone(), alice_jid.clone(), Config::default(), 0)
            .await
            .unwrap();
    let err = alice
        .encrypt(std::slice::from_ref(&bob_jid), b"unsent")
        .await
        .unwrap_err();
    assert!(matches!(err, tern_omemo::Error::Store(_)), "{err}");
    assert!(alice_store
        .load_device(&DeviceAddress {
            device_id: known[0].address.device_id,
            ..bob_device
        })
        .await
        .is_err());
    // The other account's rows are untouched by all this.
    assert_eq!(alice_store.load_pre_keys().await.unwrap().len(), 100);
    store.close().await;
}
