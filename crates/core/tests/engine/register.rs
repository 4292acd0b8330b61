//! XEP-0077: create, re-create (conflict), change password, delete.

use std::time::Duration;

use tern_core::{AccountState, ConnectError, Error, RegistrationError};
use tern_testkit::Prosody;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_sign_in_conflict_change_password_and_delete() {
    let server = Prosody::start().unwrap();
    let name = format!("new{}", std::process::id());
    let jid = format!("{name}@{}", server.domain());
    let over = loopback(server.c2s_port(), false);
    let mut t = client().await;

    // The form the server offers.
    let reg = t
        .client
        .start_registration(server.domain(), over.clone())
        .await
        .unwrap();
    let vars: Vec<_> = reg.form().fields.iter().map(|f| f.var.clone()).collect();
    assert!(vars.contains(&"username".to_string()), "{vars:?}");
    assert!(vars.contains(&"password".to_string()), "{vars:?}");
    drop(reg);

    // Create and sign in.
    t.client
        .register_account(account(&jid, "first-pass-1", over.clone()))
        .await
        .unwrap();
    wait_connected(&mut t, &jid).await;

    // The same name again: conflict, clearly.
    let other = client().await;
    let err = other
        .client
        .register_account(account(&jid, "whatever-2", over.clone()))
        .await
        .expect_err("name is taken");
    assert!(
        matches!(err, Error::Registration(RegistrationError::Conflict)),
        "{err:?}"
    );
    assert!(other.client.snapshot().accounts.is_empty());

    // Change the password on the server; a fresh client signs in with it.
    t.client
        .change_password(&jid, "second-pass-3")
        .await
        .unwrap();
    let mut fresh = client().await;
    fresh
        .client
        .add_account(account(&jid, "second-pass-3", over.clone()))
        .await
        .unwrap();
    wait_connected(&mut fresh, &jid).await;
    fresh.client.shutdown().await;

    // Delete the account on the server: it is gone from Tern and the server.
    t.client.delete_account_on_server(&jid).await.unwrap();
    assert!(t.client.snapshot().accounts.is_empty());
    let mut after = client().await;
    after
        .client
        .add_account(account(&jid, "second-pass-3", over))
        .await
        .unwrap();
    let state = wait_for(&mut after.events, &jid, Duration::from_secs(10), |s| {
        matches!(s, AccountState::Failed { .. })
    })
    .await;
    assert!(
        matches!(
            state,
            AccountState::Failed {
                error: ConnectError::AuthenticationFailed { .. }
            }
        ),
        "{state:?}"
    );
    after.client.shutdown().await;
    t.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_refused_when_server_disallows_it() {
    let server = Prosody::start_with(tern_testkit::ProsodyOptions {
        allow_registration: false,
        ..Default::default()
    })
    .unwrap();
    let t = client().await;
    let err = t
        .client
        .register_account(account(
            &format!("x@{}", server.domain()),
            "pw-123456",
            loopback(server.c2s_port(), false),
        ))
        .await
        .expect_err("registration is off");
    assert!(
        matches!(
            err,
            Error::Registration(RegistrationError::NotSupported { .. })
        ),
        "{err:?}"
    );
}
