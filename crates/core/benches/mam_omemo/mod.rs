//! `mam-omemo`: archive (XEP-0313) catch-up of encrypted messages against
//! the same catch-up of plain ones, on one Prosody on loopback.
//!
//! Alice's Tern sends N messages (default 10,000; `TERN_BENCH_N`) to Bob,
//! encrypted (OMEMO: Bob's device published its keys at a first sign-in),
//! and N plain ones to Carol (that conversation set plain). Bob's and
//! Carol's devices, signed in once before and closed since, are opened
//! again: each catches up its archive (parse, de-duplicate, decrypt in
//! chain order for Bob, store, emit), timed from enabling until all N are
//! stored with their text. Every one of Bob's messages must come out
//! decrypted. The raw page fetch (parse and drop) of each archive is the
//! reference, as in `mam`.

use std::sync::Arc;
use std::time::Instant;

use tern_core::{Client, ClientConfig, ClientEvent, Keychain, NewAccount, ServerOverride};

/// A device that signed in once: its data folder, closed since.
struct Device {
    jid: String,
    dir: tempfile::TempDir,
}

fn config(keychain: &Arc<Keychain>, dir: &std::path::Path) -> ClientConfig {
    let mut c = ClientConfig::new(dir.to_path_buf(), keychain.clone());
    c.extra_roots = vec![tern_testkit::TestCa::global().ca_cert_der()];
    c.first_sync_limit = 1_000_000;
    c
}

async fn open(keychain: &Arc<Keychain>) -> (Client, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (
        Client::open(config(keychain, dir.path())).await.unwrap(),
        dir,
    )
}

/// Signs `jid` in once (its OMEMO device publishes its keys), then closes
/// it.
async fn sign_in_once(
    keychain: &Arc<Keychain>,
    over: &ServerOverride,
    jid: &str,
    pass: &str,
) -> Device {
    let (client, dir) = open(keychain).await;
    let mut events = client.subscribe().1;
    client
        .add_account(NewAccount {
            server: over.clone(),
            ..NewAccount::new(jid, pass)
        })
        .await
        .unwrap();
    // Until its first catch-up (of nothing) is done: the session is up and
    // its keys are published by then.
    loop {
        if let Ok(ClientEvent::HistorySync { done: true, .. }) = events.recv().await {
            break;
        }
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    client.shutdown().await;
    Device {
        jid: jid.to_string(),
        dir,
    }
}

/// Opens the device again and times its catch-up of `n` messages from
/// `peer` (signing in included): until all `n` are stored with their text
/// (decrypted, for an encrypted conversation), polled from the store
/// every 100 ms (a device that signed in before catches up as after any
/// reconnect, announcing each message, with no progress event to wait
/// for). (messages, seconds).
async fn catch_up(keychain: &Arc<Keychain>, d: &Device, peer: &str, n: usize) -> (usize, f64) {
    let t = Instant::now();
    let client = Client::open(config(keychain, d.dir.path())).await.unwrap();
    loop {
        let rows = client
            .timeline(&d.jid, peer, None, n as i64 + 10)
            .await
            .unwrap();
        let done = rows
            .iter()
            .filter(|m| m.decrypt_error.is_none() && !m.body.is_empty())
            .count();
        if done >= n {
            let secs = t.elapsed().as_secs_f64();
            client.shutdown().await;
            return (done, secs);
        }
        assert!(
            t.elapsed().as_secs() < 600,
            "{done} of {n} messages after 10 minutes"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

pub async fn bench() {
    let n: usize = std::env::var("TERN_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let server = tern_testkit::Prosody::start().unwrap();
    let over = ServerOverride {
        host: Some("127.0.0.1".into()),
        port: Some(server.c2s_port()),
        direct_tls: false,
    };
    // The Secret Service, as the desktop uses (scripts/with-keyring runs
    // one): passwords stay readable however long a device stays closed.
    let keychain = Arc::new(match std::env::var_os("DBUS_SESSION_BUS_ADDRESS") {
        Some(_) => Keychain::secret_service("im.tern.Tern.bench").unwrap(),
        None => Keychain::linux_kernel_keyring("im.tern.Tern.bench").unwrap(),
    });
    let user = || {
        let (u, p) = server.create_user().unwrap();
        (format!("{u}@localhost"), p)
    };
    let (alice, a_pass) = user();
    let (bob, b_pass) = user();
    let (carol, c_pass) = user();
    let b = sign_in_once(&keychain, &over, &bob, &b_pass).await;
    let c = sign_in_once(&keychain, &over, &carol, &c_pass).await;

    // Alice fills both archives.
    let (a, _da) = open(&keychain).await;
    let mut events = a.subscribe().1;
    a.add_account(NewAccount {
        server: over.clone(),
        ..NewAccount::new(&alice, &a_pass)
    })
    .await
    .unwrap();
    a.set_conversation_encryption(&alice, &carol, false)
        .await
        .unwrap();
    let t = Instant::now();
    let mut last = 0;
    for i in 0..n {
        a.send_message(
            &alice,
            &bob,
            &format!("secret {i}: {}", crate::body(i as u64)),
            None,
        )
        .await
        .unwrap();
        last = a
            .send_message(
                &alice,
                &carol,
                &format!("plain {i}: {}", crate::body(i as u64)),
                None,
            )
            .await
            .unwrap()
            .id;
    }
    let mut encrypted = 0;
    loop {
        if let Ok(ClientEvent::Message { message }) = events.recv().await {
            if message.peer == bob && message.state == "acked" && message.encrypted {
                encrypted += 1;
            }
            if message.id == last && message.state == "acked" {
                break;
            }
        }
    }
    eprintln!(
        "sent {n} encrypted and {n} plain in {:.1} s ({encrypted} encrypted acks seen)",
        t.elapsed().as_secs_f64()
    );
    a.shutdown().await;
    server.purge_offline().unwrap();

    // Raw page fetches of each archive.
    let raw = |jid: String, pass: String| {
        let (keychain, over) = (keychain.clone(), over.clone());
        async move {
            let (client, _d) = open(&keychain).await;
            client
                .add_account(NewAccount {
                    server: over,
                    enabled: false,
                    ..NewAccount::new(&jid, &pass)
                })
                .await
                .unwrap();
            let (count, time) = client.bench_fetch_archive(&jid).await.unwrap();
            client.shutdown().await;
            count as f64 / time.as_secs_f64()
        }
    };
    let raw_bob = raw(bob.clone(), b_pass.clone()).await;
    let raw_carol = raw(carol.clone(), c_pass.clone()).await;

    let (plain_n, plain_s) = catch_up(&keychain, &c, &alice, n).await;
    let (enc_n, enc_s) = catch_up(&keychain, &b, &alice, n).await;
    let reader = Client::open(config(&keychain, b.dir.path())).await.unwrap();
    let rows = reader
        .timeline(&bob, &alice, None, n as i64 + 10)
        .await
        .unwrap();
    let decrypted = rows
        .iter()
        .filter(|m| m.encrypted && m.decrypt_error.is_none())
        .count();
    let undecrypted = rows.iter().filter(|m| m.decrypt_error.is_some()).count();
    let plain_rate = plain_n as f64 / plain_s;
    let enc_rate = enc_n as f64 / enc_s;
    println!(
        "| archive catch-up of {n} plain messages | Tern {plain_rate:.0} msg/s ({plain_n} results in {plain_s:.2} s); raw page fetch {raw_carol:.0} msg/s; ratio {:.2} |",
        plain_rate / raw_carol
    );
    println!(
        "| archive catch-up of {n} encrypted messages | Tern {enc_rate:.0} msg/s ({enc_n} results in {enc_s:.2} s, {decrypted} stored decrypted, {undecrypted} not); raw page fetch {raw_bob:.0} msg/s; ratio {:.2} |",
        enc_rate / raw_bob
    );
    // The goal's measure: each catch-up against the raw fetch of the same
    // archive (the server takes longer over encrypted messages, which are
    // larger), encrypted against plain.
    println!(
        "| encrypted / plain archive ratio | {:.2} (catch-up rates alone: {:.2}) |",
        (enc_rate / raw_bob) / (plain_rate / raw_carol),
        enc_rate / plain_rate
    );
    reader.shutdown().await;
    assert_eq!(decrypted, n, "every encrypted message decrypted");
}
