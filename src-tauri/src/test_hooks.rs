//! Hooks for tests and the demo, compiled only with the `test-hooks`
//! feature. Never part of a release build.
//!
//! - `TERN_EXTRA_ROOT_PEM`: a PEM file of root certificates to trust
//!   besides the system's (a test server's CA);
//! - `TERN_DEMO_ACCOUNT`: JSON `{"jid", "password", "host", "port"}` of an
//!   account to add at start if Tern does not have it yet.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tern_core::Client;

use crate::boundary::{AccountRequest, ServerSettings};

/// A string only builds with test hooks contain: `scripts/no-test-hooks`
/// looks for it and refuses to package such a build. [`announce`] uses it,
/// so the linker keeps it.
pub const MARKER: &str = "tern-build-with-test-hooks-9c41e7b2d05a";

/// Says in the log that this build has test hooks (and so keeps
/// [`MARKER`] in the binary).
pub fn announce() {
    tracing::warn!(
        "this build has test hooks ({}): it is for tests, never for packages",
        std::hint::black_box(MARKER)
    );
}

/// Root certificates (DER) from `TERN_EXTRA_ROOT_PEM`.
pub fn extra_roots() -> Vec<Vec<u8>> {
    let Some(path) = std::env::var_os("TERN_EXTRA_ROOT_PEM") else {
        return Vec::new();
    };
    match CertificateDer::pem_file_iter(&path) {
        Ok(certs) => certs
            .filter_map(|c| c.ok())
            .map(|c| c.as_ref().to_vec())
            .collect(),
        Err(e) => {
            tracing::error!("TERN_EXTRA_ROOT_PEM: {e}");
            Vec::new()
        }
    }
}

#[derive(serde::Deserialize)]
struct DemoAccount {
    jid: String,
    password: String,
    host: Option<String>,
    port: Option<u16>,
}

/// Adds the account from `TERN_DEMO_ACCOUNT` unless it exists.
pub async fn add_demo_account(client: &Client) {
    let Ok(json) = std::env::var("TERN_DEMO_ACCOUNT") else {
        return;
    };
    let demo: DemoAccount = match serde_json::from_str(&json) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("TERN_DEMO_ACCOUNT: {e}");
            return;
        }
    };
    if client.snapshot().account(&demo.jid).is_some() {
        return;
    }
    let request = AccountRequest {
        jid: demo.jid,
        password: demo.password,
        server: ServerSettings {
            host: demo.host,
            port: demo.port,
            direct_tls: false,
        },
    };
    if let Err(e) = client.add_account(request.into()).await {
        tracing::error!("TERN_DEMO_ACCOUNT: {e}");
    }
}
