//! History sync (XEP-0313) and delivery guarantees under failures.

use std::collections::HashSet;
use std::time::Duration;

use rand::Rng;
use tern_core::ClientEvent;
use tern_testkit::{Prosody, TcpProxy};

use crate::support::*;

async fn history_synced(t: &mut TestClient, jid: &str) -> u64 {
    wait_event(
        &mut t.events,
        Duration::from_secs(120),
        "history sync",
        |ev| match ev {
            ClientEvent::HistorySync {
                account,
                fetched,
                done: true,
                ..
            } if account == jid => Some(*fetched),
            _ => None,
        },
    )
    .await
}

/// Sends `n` numbered messages and waits until the server acknowledged all.
async fn send_acked(t: &mut TestClient, from: &str, to: &str, n: usize) {
    // History as such: plain (a new device could not read older encrypted
    // messages; the encrypted catch-up is tested in omemo_send).
    t.client
        .set_conversation_encryption(from, to, false)
        .await
        .unwrap();
    let mut ids = HashSet::new();
    for i in 0..n {
        let m = t
            .client
            .send_message(from, to, &format!("m{i}"), None)
            .await
            .unwrap();
        ids.insert(m.id);
    }
    let mut acked = HashSet::new();
    wait_event(&mut t.events, Duration::from_secs(120), "all acked", |ev| {
        if let ClientEvent::Message { message } = ev {
            if message.outgoing
                && ids.contains(&message.id)
                && message.state != "queued"
                && message.state != "sent"
            {
                acked.insert(message.id);
            }
        }
        (acked.len() == ids.len()).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_messages_arrive_once_and_scroll_back_pages() {
    const N: usize = 2000;
    let server = Prosody::start().unwrap();
    let (mut b, bob) = signed_in(&server).await;
    history_synced(&mut b, &bob).await;
    b.client.set_enabled(&bob, false).await.unwrap();
    let (mut a, alice) = signed_in(&server).await;
    send_acked(&mut a, &alice, &bob, N).await;

    // bob comes back: he is online at once, so the server delivers what it
    // kept for him while the archive brings the same, newest page first;
    // everything arrives, once.
    b.client.set_enabled(&bob, true).await.unwrap();
    let mut seen = HashSet::new();
    wait_event(
        &mut b.events,
        Duration::from_secs(180),
        "all messages",
        |ev| {
            if let ClientEvent::Message { message } = ev {
                if !message.outgoing {
                    seen.insert(message.uid.clone());
                }
            }
            (seen.len() == N).then_some(())
        },
    )
    .await;
    history_synced(&mut b, &bob).await;
    // Offline copies delivered after the initial presence are duplicates.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = b.client.timeline(&bob, &alice, None, 5000).await.unwrap();
    assert_eq!(all.len(), N, "each message exactly once");
    let uids: HashSet<_> = all.iter().map(|m| &m.uid).collect();
    assert_eq!(uids.len(), N);
    let conv = b.client.subscribe_conversations().await.unwrap().0;
    assert_eq!(conv[0].unread, N as i64);
    assert_eq!(conv[0].last.as_ref().unwrap().body, "m1999");

    // A new device with a small first sync: the newest 100, then scroll-back.
    let mut fresh = client_configured(true, |c| c.first_sync_limit = 100).await;
    b.client.shutdown().await;
    let password = keychain_password(&bob);
    fresh
        .client
        .add_account(account(&bob, &password, loopback(server.c2s_port(), false)))
        .await
        .unwrap();
    history_synced(&mut fresh, &bob).await;
    let recent = fresh
        .client
        .timeline(&bob, &alice, None, 5000)
        .await
        .unwrap();
    assert_eq!(recent.len(), 100);
    assert_eq!(recent.first().unwrap().body, "m1900");
    let older = fresh
        .client
        .load_older(&bob, &alice, Some(recent[0].id), 100)
        .await
        .unwrap();
    assert_eq!(older.len(), 100);
    assert_eq!(older.first().unwrap().body, "m1800");
    assert_eq!(older.last().unwrap().body, "m1899");
    // And back down from the oldest loaded one, as a UI that keeps only a
    // window of the history does.
    let newer = fresh
        .client
        .load_newer(&bob, &alice, older[0].id, 150)
        .await
        .unwrap();
    let bodies: Vec<_> = newer.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies.len(), 150);
    assert_eq!(bodies[0], "m1801");
    assert_eq!(bodies[149], "m1950");
    assert!(fresh
        .client
        .load_newer(&bob, &alice, recent.last().unwrap().id, 10)
        .await
        .unwrap()
        .is_empty());
    a.client.shutdown().await;
    fresh.client.shutdown().await;
}

fn keychain_password(jid: &str) -> String {
    use tern_core::PasswordStore;
    keychain().get(jid).unwrap().expect("password in keychain")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_message_lost_or_doubled_while_the_connection_is_cut_ten_times() {
    const N: usize = 1000;
    let server = Prosody::start().unwrap();
    let (mut b, bob) = signed_in(&server).await;
    let proxy = TcpProxy::start(([127, 0, 0, 1], server.c2s_port()).into()).unwrap();
    let (user, pass) = server.create_user().unwrap();
    let alice = format!("{user}@{}", server.domain());
    let mut a = client().await;
    a.client
        .add_account(account(&alice, &pass, loopback(proxy.port(), false)))
        .await
        .unwrap();
    wait_connected(&mut a, &alice).await;

    // Ten cuts, each of a live connection, at random moments.
    let proxy = std::sync::Arc::new(proxy);
    let cutter = {
        let p = proxy.clone();
        tokio::spawn(async move {
            let mut cuts = 0;
            while cuts < 10 {
                while p.active_connections() == 0 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                let wait = rand::thread_rng().gen_range(50..500);
                tokio::time::sleep(Duration::from_millis(wait)).await;
                if p.active_connections() > 0 {
                    p.cut_all();
                    cuts += 1;
                }
            }
            cuts
        })
    };
    for i in 0..N {
        a.client
            .send_message(&alice, &bob, &format!("n{i}"), None)
            .await
            .unwrap();
        if i % 25 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert_eq!(cutter.await.unwrap(), 10);
    assert!(proxy.connection_count() >= 10);

    let mut seen = HashSet::new();
    let log_on_fail = PrintLogOnPanic(&server);
    wait_event(&mut b.events, Duration::from_secs(40), "all 1000", |ev| {
        if let ClientEvent::Message { message } = ev {
            if !message.outgoing {
                seen.insert(message.body.clone());
            }
        }
        (seen.len() == N).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received = b.client.timeline(&bob, &alice, None, 5000).await.unwrap();
    let bodies: Vec<String> = received.iter().map(|m| m.body.clone()).collect();
    let expected: Vec<String> = (0..N).map(|i| format!("n{i}")).collect();
    if bodies != expected {
        let mut counts = std::collections::BTreeMap::new();
        for b in &bodies {
            *counts.entry(b.clone()).or_insert(0) += 1;
        }
        let doubled: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
        let missing: Vec<_> = expected
            .iter()
            .filter(|e| !counts.contains_key(*e))
            .collect();
        let first_diff = bodies.iter().zip(&expected).position(|(a, b)| a != b);
        let around = first_diff.map(|i| {
            received[i.saturating_sub(3)..(i + 5).min(received.len())]
                .iter()
                .map(|m| format!("{}@{}#{}", m.body, m.timestamp_ms, m.id))
                .collect::<Vec<_>>()
        });
        panic!("received {} messages; doubled {doubled:?}; missing {missing:?}; first difference at {first_diff:?}: {around:?}", bodies.len());
    }
    std::mem::forget(log_on_fail);
    let sent = a.client.timeline(&alice, &bob, None, 5000).await.unwrap();
    assert_eq!(
        sent.iter().map(|m| &m.uid).collect::<Vec<_>>(),
        received.iter().map(|m| &m.uid).collect::<Vec<_>>(),
        "both stores agree"
    );
    a.client.shutdown().await;
    b.client.shutdown().await;
}

/// Prints the server's log if the test fails while it is alive.
struct PrintLogOnPanic<'a>(&'a Prosody);

impl Drop for PrintLogOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.0.log();
            let tail: Vec<&str> = log
                .lines()
                .filter(|l| !l.contains("\tdebug\t"))
                .rev()
                .take(80)
                .collect();
            eprintln!("--- server log (last 80 lines) ---");
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

/// The sending process of the SIGKILL test. Runs only when the parent test
/// starts this binary with `TERN_CHILD_SENDER` set; otherwise does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_sender_process() {
    let Ok(spec) = std::env::var("TERN_CHILD_SENDER") else {
        return;
    };
    // spec: data_dir|jid|password|port|peer|count
    let parts: Vec<&str> = spec.split('|').collect();
    let (dir, jid, password, port, peer, count) = (
        parts[0],
        parts[1],
        parts[2],
        parts[3].parse::<u16>().unwrap(),
        parts[4],
        parts[5].parse::<usize>().unwrap(),
    );
    let mut config = tern_core::ClientConfig::new(dir.into(), keychain());
    // The parent's test CA (each process would otherwise make its own).
    let ca = std::env::var("TERN_CHILD_CA").unwrap();
    config.extra_roots = vec![(0..ca.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&ca[i..i + 2], 16).unwrap())
        .collect()];
    let client = tern_core::Client::open(config).await.unwrap();
    if client.snapshot().account(jid).is_none() {
        client
            .add_account(account(jid, password, loopback(port, false)))
            .await
            .unwrap();
    }
    let have: HashSet<String> = client
        .timeline(jid, peer, None, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.body)
        .collect();
    for i in 0..count {
        let body = format!("k{i}");
        if !have.contains(&body) {
            client.send_message(jid, peer, &body, None).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // Keep delivering until the parent kills this process.
    tokio::time::sleep(Duration::from_secs(600)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_killed_mid_burst_resumes_after_restart_without_doubles() {
    const N: usize = 400;
    let server = Prosody::start().unwrap();
    let (mut b, bob) = signed_in(&server).await;
    let (user, pass) = server.create_user().unwrap();
    let alice = format!("{user}@{}", server.domain());
    let dir = tempfile::tempdir().unwrap();
    let service = format!("im.tern.Tern.test.kill.{}", std::process::id());
    let spec = format!(
        "{}|{alice}|{pass}|{}|{bob}|{N}",
        dir.path().display(),
        server.c2s_port()
    );
    let spawn = || {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "history::child_sender_process", "--nocapture"])
            .env("TERN_CHILD_SENDER", &spec)
            .env("TERN_TEST_KEYCHAIN_SERVICE", &service)
            .env(
                "TERN_CHILD_CA",
                tern_testkit::TestCa::global()
                    .ca_cert_der()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>(),
            )
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut seen: Vec<String> = Vec::new();
    let mut first = spawn();
    wait_event(
        &mut b.events,
        Duration::from_secs(60),
        "first messages",
        |ev| {
            if let ClientEvent::Message { message } = ev {
                if !message.outgoing {
                    seen.push(message.body.clone());
                }
            }
            (seen.len() >= 60).then_some(())
        },
    )
    .await;
    // SIGKILL mid-burst: no chance to flush or say goodbye.
    first.kill().unwrap();
    first.wait().unwrap();
    let mut second = spawn();
    let mut unique: HashSet<String> = seen.iter().cloned().collect();
    wait_event(&mut b.events, Duration::from_secs(120), "the rest", |ev| {
        if let ClientEvent::Message { message } = ev {
            if !message.outgoing {
                unique.insert(message.body.clone());
            }
        }
        (unique.len() == N).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    second.kill().unwrap();
    second.wait().unwrap();
    let received = b.client.timeline(&bob, &alice, None, 5000).await.unwrap();
    let bodies: Vec<String> = received.iter().map(|m| m.body.clone()).collect();
    let expected: Vec<String> = (0..N).map(|i| format!("k{i}")).collect();
    assert_eq!(bodies.len(), N, "none twice");
    assert_eq!(bodies, expected, "in order");
    b.client.shutdown().await;
}
