//! Federation: alice on Prosody (domain A) and bob on ejabberd (domain B)
//! talk over a real server-to-server link.

use std::time::Duration;

use tern_core::ClientEvent;
use tern_testkit::Federation;

use crate::support::*;

// Generous: the first s2s connection (TLS both ways, certificate checks)
// can take a while when the machine is busy.
const T: Duration = Duration::from_secs(60);

/// When a test fails, prints the end of both servers' logs: a federation
/// test fails on the server-to-server link, which only the logs show.
struct LogsOnFailure<'a>(&'a Federation);

impl Drop for LogsOnFailure<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for (name, log) in [
                ("prosody.log", self.0.prosody.log()),
                ("ejabberd.log", self.0.ejabberd.log()),
            ] {
                let lines: Vec<&str> = log.lines().collect();
                let tail = lines[lines.len().saturating_sub(80)..].join("\n");
                eprintln!("--- the end of {name} ---\n{tail}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prosody_and_ejabberd_users_chat_across_servers() {
    let fed = blocking(|| Federation::start().unwrap()).await;
    let _logs = LogsOnFailure(&fed);
    let (a_user, a_pass) = fed.prosody.create_user().unwrap();
    let (b_user, b_pass) = fed.ejabberd.create_user().unwrap();
    let alice = format!("{a_user}@{}", fed.domain_a());
    let bob = format!("{b_user}@{}", fed.domain_b());
    let mut a = client().await;
    let mut b = client().await;
    a.client
        .add_account(account(
            &alice,
            &a_pass,
            loopback(fed.prosody.c2s_port(), false),
        ))
        .await
        .unwrap();
    b.client
        .add_account(account(
            &bob,
            &b_pass,
            loopback(fed.ejabberd.c2s_port(), false),
        ))
        .await
        .unwrap();
    wait_connected(&mut a, &alice).await;
    wait_connected(&mut b, &bob).await;
    // alice is bob's contact: strangers get no receipts.
    b.client.add_contact(&bob, &alice, None, &[]).await.unwrap();

    let sent = a
        .client
        .send_message(&alice, &bob, "across the federation", None)
        .await
        .unwrap();
    let got = wait_event(&mut b.events, T, "message at bob", |ev| match ev {
        ClientEvent::Message { message } if message.peer == alice && !message.outgoing => {
            Some(message.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(got.body, "across the federation");
    assert_eq!(got.uid, sent.uid);
    wait_event(&mut a.events, T, "receipt from bob", |ev| match ev {
        ClientEvent::Message { message }
            if message.id == sent.id && message.state == "delivered" =>
        {
            Some(())
        }
        _ => None,
    })
    .await;

    b.client
        .send_message(&bob, &alice, "and back", None)
        .await
        .unwrap();
    let back = wait_event(&mut a.events, T, "reply at alice", |ev| match ev {
        ClientEvent::Message { message } if message.peer == bob && !message.outgoing => {
            Some(message.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(back.body, "and back");
    a.client.shutdown().await;
    b.client.shutdown().await;
}
