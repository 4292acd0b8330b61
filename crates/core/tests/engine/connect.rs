//! Signing in, and every way it can fail.

use std::time::{Duration, Instant};

use tern_core::{AccountState, ConnectError, ServerOverride};
use tern_testkit::{closed_port, Ejabberd, Prosody, TcpProxy};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_over_starttls_to_prosody() {
    let server = Prosody::start().unwrap();
    let (user, pass) = server.create_user().unwrap();
    let jid = format!("{user}@{}", server.domain());
    let mut t = client().await;
    t.client
        .add_account(account(&jid, &pass, loopback(server.c2s_port(), false)))
        .await
        .unwrap();
    match wait_connected(&mut t, &jid).await {
        AccountState::Connected { bound_jid, resumed } => {
            assert!(
                bound_jid.starts_with(&format!("{jid}/tern.")),
                "{bound_jid}"
            );
            assert!(!resumed);
        }
        other => panic!("{other:?}"),
    }
    // The snapshot agrees with the events.
    let snap = t.client.snapshot();
    assert!(is_connected(&snap.account(&jid).unwrap().state));
    t.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_over_direct_tls_to_prosody() {
    let server = Prosody::start().unwrap();
    let (user, pass) = server.create_user().unwrap();
    let jid = format!("{user}@{}", server.domain());
    let mut t = client().await;
    t.client
        .add_account(account(
            &jid,
            &pass,
            loopback(server.direct_tls_port(), true),
        ))
        .await
        .unwrap();
    wait_connected(&mut t, &jid).await;
    t.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_to_ejabberd() {
    let server = Ejabberd::start().unwrap();
    let (user, pass) = server.create_user().unwrap();
    let jid = format!("{user}@{}", server.domain());
    let mut t = client().await;
    t.client
        .add_account(account(&jid, &pass, loopback(server.c2s_port(), false)))
        .await
        .unwrap();
    wait_connected(&mut t, &jid).await;
    t.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_fails_fast_without_retrying() {
    let server = Prosody::start().unwrap();
    let (user, _pass) = server.create_user().unwrap();
    let jid = format!("{user}@{}", server.domain());
    let mut t = client().await;
    let started = Instant::now();
    t.client
        .add_account(account(
            &jid,
            "not-the-password",
            loopback(server.c2s_port(), false),
        ))
        .await
        .unwrap();
    let state = wait_for(&mut t.events, &jid, Duration::from_secs(5), |s| {
        matches!(s, AccountState::Failed { .. })
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    match state {
        AccountState::Failed {
            error: ConnectError::AuthenticationFailed { condition },
        } => assert_eq!(condition, "not-authorized"),
        other => panic!("{other:?}"),
    }
    // No retry storm: nothing happens until the user acts.
    let later = states_during(&mut t.events, &jid, Duration::from_secs(3)).await;
    assert!(later.is_empty(), "unexpected attempts: {later:?}");
    // Fixing the password signs in.
    let (_, real) = (user.clone(), _pass);
    t.client.set_password(&jid, &real).await.unwrap();
    wait_connected(&mut t, &jid).await;
    t.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_certificate_can_be_pinned_and_a_new_one_is_refused() {
    let mut server = Prosody::start().unwrap();
    let (user, pass) = server.create_user().unwrap();
    let jid = format!("{user}@{}", server.domain());
    // This client does not know the test CA: the certificate is untrusted.
    let mut t = client_with(false).await;
    t.client
        .add_account(account(&jid, &pass, loopback(server.c2s_port(), false)))
        .await
        .unwrap();
    let expected = server.leaf().sha256_fingerprint();
    let state = wait_for(&mut t.events, &jid, Duration::from_secs(10), |s| {
        matches!(s, AccountState::Failed { .. })
    })
    .await;
    let sha256 = match state {
        AccountState::Failed {
            error:
                ConnectError::CertificateUntrusted {
                    sha256,
                    fingerprint,
                    reason,
                    problems,
                },
        } => {
            assert_eq!(problems, vec!["untrusted".to_string()]);
            assert_eq!(sha256, hex(&expected));
            assert_eq!(fingerprint.replace(':', "").to_lowercase(), hex(&expected));
            assert!(reason.contains("unknown authority"), "{reason}");
            sha256
        }
        other => panic!("{other:?}"),
    };
    // Only the certificate refused last can be pinned, not any other
    // fingerprint.
    let other = "ab".repeat(32);
    assert!(matches!(
        t.client.pin_certificate(&jid, &other).await,
        Err(tern_core::Error::NotRefusedCertificate(_))
    ));
    // The user compares the fingerprint and pins it: sign-in proceeds.
    t.client.pin_certificate(&jid, &sha256).await.unwrap();
    wait_connected(&mut t, &jid).await;
    // The server now presents a different certificate: refused again, as a
    // change from the certificate of the last sign-in.
    let server = blocking(move || {
        server.restart_with_new_certificate().unwrap();
        server
    })
    .await;
    let new_fp = server.leaf().sha256_fingerprint();
    assert_ne!(new_fp, expected);
    let state = wait_for(&mut t.events, &jid, Duration::from_secs(30), |s| {
        matches!(s, AccountState::Failed { .. })
    })
    .await;
    match state {
        AccountState::Failed {
            error:
                ConnectError::CertificateChanged {
                    sha256,
                    previous_sha256,
                    ..
                },
        } => {
            assert_eq!(sha256, hex(&new_fp));
            assert_eq!(previous_sha256, hex(&expected));
        }
        other => panic!("{other:?}"),
    }
    // The old certificate is no longer what can be pinned; the new one is,
    // and its pin replaces the old one.
    assert!(matches!(
        t.client.pin_certificate(&jid, &hex(&expected)).await,
        Err(tern_core::Error::NotRefusedCertificate(_))
    ));
    t.client.pin_certificate(&jid, &hex(&new_fp)).await.unwrap();
    wait_connected(&mut t, &jid).await;
    t.client.shutdown().await;
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_port_is_unreachable() {
    let mut t = client().await;
    let jid = "someone@localhost";
    t.client
        .add_account(account(jid, "pw", loopback(closed_port(), false)))
        .await
        .unwrap();
    let state = wait_for(&mut t.events, jid, Duration::from_secs(10), |s| {
        matches!(s, AccountState::Reconnecting { .. })
    })
    .await;
    match state {
        AccountState::Reconnecting {
            error,
            retry_in_ms,
            attempt,
        } => {
            assert!(
                matches!(error, ConnectError::HostUnreachable { ref detail, .. } if detail.contains("refused")),
                "{error:?}"
            );
            assert_eq!(attempt, 1);
            assert!((500..=1000).contains(&retry_in_ms), "{retry_in_ms}");
        }
        other => panic!("{other:?}"),
    }
    t.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unresolvable_domain_is_a_dns_failure() {
    let mut t = client().await;
    let jid = "someone@no-such-host.invalid";
    t.client
        .add_account(account(jid, "pw", ServerOverride::default()))
        .await
        .unwrap();
    let state = wait_for(&mut t.events, jid, Duration::from_secs(20), |s| {
        matches!(
            s,
            AccountState::Reconnecting { .. } | AccountState::Failed { .. }
        )
    })
    .await;
    match state {
        AccountState::Reconnecting {
            error: ConnectError::DnsFailure { domain, .. },
            ..
        } => assert_eq!(domain, "no-such-host.invalid"),
        other => panic!("{other:?}"),
    }
    t.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_by_itself_after_server_restart() {
    let mut server = Prosody::start().unwrap();
    let (user, pass) = server.create_user().unwrap();
    let jid = format!("{user}@{}", server.domain());
    let mut t = client().await;
    t.client
        .add_account(account(&jid, &pass, loopback(server.c2s_port(), false)))
        .await
        .unwrap();
    wait_connected(&mut t, &jid).await;
    let _server = blocking(move || {
        server.restart().unwrap();
        server
    })
    .await;
    // The server lost the session: a new one is started, by itself.
    let state = wait_for(&mut t.events, &jid, Duration::from_secs(30), |s| {
        matches!(s, AccountState::Connected { resumed: false, .. })
    })
    .await;
    assert!(is_connected(&state));
    t.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_cut_resumes_the_stream() {
    let server = Prosody::start().unwrap();
    let (user, pass) = server.create_user().unwrap();
    let jid = format!("{user}@{}", server.domain());
    let proxy = TcpProxy::start(([127, 0, 0, 1], server.c2s_port()).into()).unwrap();
    let mut t = client().await;
    t.client
        .add_account(account(&jid, &pass, loopback(proxy.port(), false)))
        .await
        .unwrap();
    let first = match wait_connected(&mut t, &jid).await {
        AccountState::Connected { bound_jid, resumed } => {
            assert!(!resumed);
            bound_jid
        }
        other => panic!("{other:?}"),
    };
    // Make sure stream management is fully enabled before the cut.
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.cut_all();
    let state = wait_for(&mut t.events, &jid, Duration::from_secs(20), is_connected).await;
    assert_eq!(
        state,
        AccountState::Connected {
            bound_jid: first,
            resumed: true
        },
        "expected XEP-0198 resumption, not a new session"
    );
    assert!(proxy.connection_count() >= 2);
    t.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_conflict_is_reported_not_retried() {
    let server = Prosody::start().unwrap();
    let (user, pass) = server.create_user().unwrap();
    let jid = format!("{user}@{}", server.domain());
    let mut first = client().await;
    let mut second = client().await;
    let mut acc = account(&jid, &pass, loopback(server.c2s_port(), false));
    acc.resource = Some("desk".into());
    first.client.add_account(acc.clone()).await.unwrap();
    wait_connected(&mut first, &jid).await;
    // Prosody's default: the newer session replaces the older one.
    second.client.add_account(acc).await.unwrap();
    wait_connected(&mut second, &jid).await;
    let state = wait_for(&mut first.events, &jid, Duration::from_secs(10), |s| {
        matches!(s, AccountState::Failed { .. })
    })
    .await;
    assert_eq!(
        state,
        AccountState::Failed {
            error: ConnectError::Conflict
        }
    );
    let later = states_during(&mut first.events, &jid, Duration::from_secs(2)).await;
    assert!(
        later.is_empty(),
        "must not fight over the resource: {later:?}"
    );
    first.client.shutdown().await;
    second.client.shutdown().await;
}
