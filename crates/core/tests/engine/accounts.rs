//! Several accounts, enable/disable, removal, and where passwords live.

use std::time::Duration;

use tern_core::{AccountState, ClientEvent, Keychain, PasswordStore};
use tern_testkit::{Ejabberd, Prosody};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_accounts_on_two_servers_at_once() {
    let prosody = Prosody::start().unwrap();
    let ejabberd = Ejabberd::start().unwrap();
    let (a, apass) = prosody.create_user().unwrap();
    let (b, bpass) = ejabberd.create_user().unwrap();
    let ajid = format!("{a}@{}", prosody.domain());
    let bjid = format!("{b}@{}", ejabberd.domain());
    let t = client().await;
    t.client
        .add_account(account(&ajid, &apass, loopback(prosody.c2s_port(), false)))
        .await
        .unwrap();
    t.client
        .add_account(account(
            &bjid,
            &bpass,
            loopback(ejabberd.direct_tls_port(), true),
        ))
        .await
        .unwrap();
    let mut events = t.client.subscribe().1;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let snap = t.client.snapshot();
        let both = [&ajid, &bjid]
            .iter()
            .all(|j| is_connected(&snap.account(j).unwrap().state));
        if both {
            break;
        }
        tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("not both connected: {snap:#?}"))
            .unwrap();
    }
    t.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_enable_remove_and_restart_from_disk() {
    let server = Prosody::start().unwrap();
    let (user, pass) = server.create_user().unwrap();
    let jid = format!("{user}@{}", server.domain());
    let mut t = client().await;
    let (snapshot, _) = t.client.subscribe();
    assert!(snapshot.accounts.is_empty());
    t.client
        .add_account(account(&jid, &pass, loopback(server.c2s_port(), false)))
        .await
        .unwrap();
    wait_connected(&mut t, &jid).await;

    t.client.set_enabled(&jid, false).await.unwrap();
    wait_for(&mut t.events, &jid, Duration::from_secs(5), |s| {
        *s == AccountState::Disabled
    })
    .await;
    t.client.set_enabled(&jid, true).await.unwrap();
    wait_connected(&mut t, &jid).await;

    // Passwords are in the keychain, never in the database file.
    t.client.shutdown().await;
    let db = std::fs::read(t.dir.path().join("tern.sqlite3")).unwrap();
    assert!(
        !contains(&db, pass.as_bytes()),
        "password found in the database"
    );
    let wal = std::fs::read(t.dir.path().join("tern.sqlite3-wal")).unwrap_or_default();
    assert!(
        !contains(&wal, pass.as_bytes()),
        "password found in the WAL"
    );
    assert_eq!(
        keychain().get(&jid).unwrap().as_deref(),
        Some(pass.as_str())
    );

    // A new client on the same data folder reconnects the saved account.
    let mut config = tern_core::ClientConfig::new(t.dir.path().to_path_buf(), keychain());
    config.extra_roots = vec![tern_testkit::TestCa::global().ca_cert_der()];
    let client = tern_core::Client::open(config).await.unwrap();
    let (snap, mut events) = client.subscribe();
    assert_eq!(snap.accounts.len(), 1);
    wait_for(&mut events, &jid, Duration::from_secs(20), is_connected).await;

    client.remove_account(&jid).await.unwrap();
    assert!(client.snapshot().accounts.is_empty());
    assert_eq!(
        keychain().get(&jid).unwrap(),
        None,
        "password must leave the keychain"
    );
    loop {
        match events.try_recv() {
            Ok(ClientEvent::AccountRemoved { jid: j }) if j == jid => break,
            Ok(_) => continue,
            Err(e) => panic!("no AccountRemoved event: {e:?}"),
        }
    }
    client.shutdown().await;
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn kernel_keyring_round_trip() {
    let k =
        Keychain::linux_kernel_keyring(&format!("im.tern.Tern.rt.{}", std::process::id())).unwrap();
    let jid = "round@trip.example";
    assert_eq!(k.get(jid).unwrap(), None);
    k.set(jid, "s3cret ünïcode").unwrap();
    assert_eq!(k.get(jid).unwrap().as_deref(), Some("s3cret ünïcode"));
    k.set(jid, "changed").unwrap();
    assert_eq!(k.get(jid).unwrap().as_deref(), Some("changed"));
    k.delete(jid).unwrap();
    k.delete(jid).unwrap();
    assert_eq!(k.get(jid).unwrap(), None);
}

#[tokio::test]
async fn invalid_addresses_are_rejected() {
    let t = client().await;
    for bad in ["", "no-at-sign", "@example.org", "a@b@c", "user@"] {
        let err = t
            .client
            .add_account(account(bad, "pw", Default::default()))
            .await
            .expect_err(bad);
        assert!(
            matches!(err, tern_core::Error::InvalidJid { .. }),
            "{bad}: {err:?}"
        );
    }
    assert!(t.client.snapshot().accounts.is_empty());
}
