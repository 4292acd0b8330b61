//! A man in the middle whose certificate was accepted cannot weaken the
//! sign-in: once an account signed in with SCRAM (or with channel binding),
//! Tern refuses PLAIN (or no binding) until the user accepts it, and sends
//! nothing the attacker could use. The proxy sits between Tern and a real
//! Prosody or ejabberd.

use std::time::Duration;

use tern_core::{AccountState, ConnectError, Error};
use tern_testkit::{Ejabberd, FakeSasl, Prosody, TlsMitm};

use crate::support::*;

const T: Duration = Duration::from_secs(30);

async fn failed(t: &mut TestClient, jid: &str) -> ConnectError {
    match wait_for(&mut t.events, jid, T, |s| {
        matches!(
            s,
            AccountState::Failed { .. } | AccountState::Connected { .. }
        )
    })
    .await
    {
        AccountState::Failed { error } => error,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Signs in through the proxy, then the proxy offers only PLAIN.
async fn plain_after_scram_is_refused(domain: &str, direct_tls: u16, user: &str, pass: &str) {
    let jid = format!("{user}@{domain}");
    let mitm = TlsMitm::start(([127, 0, 0, 1], direct_tls).into(), domain).unwrap();
    let mut t = client().await;
    t.client
        .add_account(account(&jid, pass, loopback(mitm.port(), true)))
        .await
        .unwrap();
    wait_connected(&mut t, &jid).await;
    let used = mitm.client_mechanisms();
    assert!(
        used.last().is_some_and(|m| m.starts_with("SCRAM-")),
        "first sign-in: {used:?}"
    );
    // Nothing refused yet: nothing to accept.
    assert!(matches!(
        t.client.accept_weaker_sign_in(&jid).await,
        Err(Error::NoRefusedSignIn(_))
    ));

    mitm.offer_only(Some(&["PLAIN"]));
    mitm.cut_all();
    match failed(&mut t, &jid).await {
        ConnectError::SaslDowngrade { previous, offered } => {
            assert!(previous.starts_with("SCRAM-SHA-"), "{previous}");
            assert_eq!(offered, "PLAIN");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        !mitm.client_mechanisms().iter().any(|m| m == "PLAIN"),
        "the password went out in PLAIN: {:?}",
        mitm.client_mechanisms()
    );
    // It waits for the user: no retries.
    let later = states_during(&mut t.events, &jid, Duration::from_secs(3)).await;
    assert!(later.is_empty(), "unexpected attempts: {later:?}");
    // The user accepts the weaker sign-in: PLAIN is used, and remembered as
    // the new minimum.
    t.client.accept_weaker_sign_in(&jid).await.unwrap();
    wait_connected(&mut t, &jid).await;
    assert_eq!(
        mitm.client_mechanisms().last().map(String::as_str),
        Some("PLAIN")
    );
    // With SCRAM offered again, SCRAM is used again.
    mitm.offer_only(None);
    mitm.cut_all();
    wait_connected(&mut t, &jid).await;
    assert!(mitm
        .client_mechanisms()
        .last()
        .is_some_and(|m| m.starts_with("SCRAM-")));
    t.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_downgrade_to_plain_is_refused_with_prosody() {
    let server = Prosody::start().unwrap();
    let (user, pass) = server.create_user().unwrap();
    plain_after_scram_is_refused(server.domain(), server.direct_tls_port(), &user, &pass).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_downgrade_to_plain_is_refused_with_ejabberd() {
    let server = Ejabberd::start().unwrap();
    let (user, pass) = server.create_user().unwrap();
    plain_after_scram_is_refused(server.domain(), server.direct_tls_port(), &user, &pass).await;
}

/// The proxy answers SASL itself, with channel binding (the sign-in to
/// the real Prosody behind it is the proxy's own): once binding worked, a
/// list without `-PLUS`, or a server that suddenly rejects binding, is
/// refused; a list that does not match the server's XEP-0474 signature is
/// an interception.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_channel_binding_cannot_be_stripped() {
    let server = Prosody::start().unwrap();
    let (user, pass) = server.create_user().unwrap();
    let jid = format!("{user}@{}", server.domain());
    let mitm = TlsMitm::start(
        ([127, 0, 0, 1], server.direct_tls_port()).into(),
        server.domain(),
    )
    .unwrap();
    let full = ["SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "PLAIN"];
    mitm.fake_sasl(Some(FakeSasl::new(&user, &pass, &full)));
    let mut t = client().await;
    t.client
        .add_account(account(&jid, &pass, loopback(mitm.port(), true)))
        .await
        .unwrap();
    wait_connected(&mut t, &jid).await;
    assert_eq!(
        mitm.client_mechanisms().last().map(String::as_str),
        Some("SCRAM-SHA-256-PLUS")
    );

    // -PLUS no longer offered.
    mitm.fake_sasl(Some(FakeSasl::new(
        &user,
        &pass,
        &["SCRAM-SHA-256", "PLAIN"],
    )));
    mitm.cut_all();
    match failed(&mut t, &jid).await {
        ConnectError::SaslDowngrade { previous, offered } => {
            assert_eq!(previous, "SCRAM-SHA-256-PLUS");
            assert_eq!(offered, "SCRAM-SHA-256");
        }
        other => panic!("{other:?}"),
    }

    // Offered, but binding fails: no second attempt without it.
    let mut rejecting = FakeSasl::new(&user, &pass, &full);
    rejecting.accept_binding = false;
    mitm.fake_sasl(Some(rejecting));
    let attempts = mitm.client_mechanisms().len();
    t.client.reconnect(&jid).await.unwrap();
    match failed(&mut t, &jid).await {
        ConnectError::SaslDowngrade { previous, .. } => {
            assert_eq!(previous, "SCRAM-SHA-256-PLUS")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        mitm.client_mechanisms()[attempts..],
        ["SCRAM-SHA-256-PLUS".to_string()],
        "one attempt, with binding"
    );

    // The server's signed list (XEP-0474) names -PLUS, the list Tern got
    // does not: stopped before the proof.
    let mut forged = FakeSasl::new(&user, &pass, &["SCRAM-SHA-256"]);
    forged.ssdp = Some((full.iter().map(|s| (*s).to_string()).collect(), None));
    mitm.fake_sasl(Some(forged));
    t.client.accept_weaker_sign_in(&jid).await.unwrap();
    match failed(&mut t, &jid).await {
        ConnectError::SignInIntercepted { .. } => {}
        other => panic!("{other:?}"),
    }

    // Honest again: signs in with binding.
    mitm.fake_sasl(Some(FakeSasl::new(&user, &pass, &full)));
    t.client.reconnect(&jid).await.unwrap();
    wait_connected(&mut t, &jid).await;
    t.client.shutdown().await;
}
