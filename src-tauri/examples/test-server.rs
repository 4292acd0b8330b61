//! Starts a Prosody on loopback with a test CA and one user, for the
//! end-to-end test and `scripts/run --demo`. Prints one JSON line:
//! `{"domain", "host", "port", "jid", "password", "ca_pem"}` (`ca_pem` is a
//! file to pass as `TERN_EXTRA_ROOT_PEM`), then runs until stdin closes.

use std::io::{BufRead, Write};

use tern_testkit::{Prosody, TestCa};

fn main() -> anyhow::Result<()> {
    let prosody = Prosody::start()?;
    let (user, password) = prosody.create_user()?;
    let ca_pem = prosody.dir().join("tern-test-ca.pem");
    std::fs::write(&ca_pem, TestCa::global().ca_cert_pem())?;
    let info = serde_json::json!({
        "domain": prosody.domain(),
        "host": "127.0.0.1",
        "port": prosody.c2s_port(),
        "jid": format!("{user}@{}", prosody.domain()),
        "password": password,
        "ca_pem": ca_pem,
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{info}")?;
    out.flush()?;
    drop(out);
    // Serve until whoever started us closes our stdin (or dies).
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
    }
    drop(prosody);
    Ok(())
}
