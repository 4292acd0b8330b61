//! Tauri commands: each takes the [`Shell`] state, calls the engine and
//! returns a type from [`crate::boundary`]. No logic beyond that lives here.

use tauri::State;

use crate::boundary::{
    AccountRequest, ServerSettings, SignUpForm, SignUpValues, SnapshotView, UiError,
};
use crate::Shell;

type Reply<T = ()> = Result<T, UiError>;

/// The current state and the number of the last event it includes. (Async,
/// like every command here, so that nothing runs on the window's thread.)
#[tauri::command(rename_all = "snake_case")]
pub async fn snapshot(shell: State<'_, Shell>) -> Reply<SnapshotView> {
    shell.client()?;
    Ok(shell.snapshot_view())
}

/// Adds an account and connects it; returns its bare JID.
#[tauri::command(rename_all = "snake_case")]
pub async fn add_account(shell: State<'_, Shell>, account: AccountRequest) -> Reply<String> {
    Ok(shell.client()?.add_account(account.into()).await?)
}

/// Disconnects and forgets an account (it stays on the server).
#[tauri::command(rename_all = "snake_case")]
pub async fn remove_account(shell: State<'_, Shell>, jid: String) -> Reply {
    Ok(shell.client()?.remove_account(&jid).await?)
}

/// Connects (enabled) or disconnects (disabled) an account.
#[tauri::command(rename_all = "snake_case")]
pub async fn set_enabled(shell: State<'_, Shell>, jid: String, enabled: bool) -> Reply {
    Ok(shell.client()?.set_enabled(&jid, enabled).await?)
}

/// Stores a new password for an account (after "wrong password") and retries.
#[tauri::command(rename_all = "snake_case")]
pub async fn set_password(shell: State<'_, Shell>, jid: String, password: String) -> Reply {
    Ok(shell.client()?.set_password(&jid, &password).await?)
}

/// Trusts the certificate with this SHA-256 for the account and retries.
#[tauri::command(rename_all = "snake_case")]
pub async fn pin_certificate(shell: State<'_, Shell>, jid: String, sha256: String) -> Reply {
    Ok(shell.client()?.pin_certificate(&jid, &sha256).await?)
}

/// Retries now (skips a backoff wait or retries after a failure).
#[tauri::command(rename_all = "snake_case")]
pub async fn reconnect(shell: State<'_, Shell>, jid: String) -> Reply {
    Ok(shell.client()?.reconnect(&jid).await?)
}

/// Changes the password on the server, then in the keychain.
#[tauri::command(rename_all = "snake_case")]
pub async fn change_password(shell: State<'_, Shell>, jid: String, new_password: String) -> Reply {
    Ok(shell.client()?.change_password(&jid, &new_password).await?)
}

/// Deletes the account on its server, then removes it from Tern.
#[tauri::command(rename_all = "snake_case")]
pub async fn delete_account_on_server(shell: State<'_, Shell>, jid: String) -> Reply {
    Ok(shell.client()?.delete_account_on_server(&jid).await?)
}

/// Asks `domain` for its sign-up form and keeps the session open for
/// [`registration_submit`].
#[tauri::command(rename_all = "snake_case")]
pub async fn registration_start(
    shell: State<'_, Shell>,
    domain: String,
    server: ServerSettings,
) -> Reply<SignUpForm> {
    let registration = shell
        .client()?
        .start_registration(&domain, server.into())
        .await?;
    let form = SignUpForm::from(registration.form());
    *shell.registration.lock().await = Some(registration);
    Ok(form)
}

/// Sends the filled-in sign-up form. On success the account exists on the
/// server; the UI then adds it with [`add_account`].
#[tauri::command(rename_all = "snake_case")]
pub async fn registration_submit(shell: State<'_, Shell>, values: SignUpValues) -> Reply {
    let registration = shell.registration.lock().await.take().ok_or_else(|| {
        UiError::new(
            "registration_expired",
            "The sign-up form has expired. Load it again.",
        )
    })?;
    Ok(registration.submit(&values).await?)
}

/// Closes an open sign-up session.
#[tauri::command(rename_all = "snake_case")]
pub async fn registration_cancel(shell: State<'_, Shell>) -> Reply {
    shell.registration.lock().await.take();
    Ok(())
}
