//! Starts a Prosody on loopback with a test CA and one user, for the
//! end-to-end test and `scripts/run --demo`. Prints one JSON line:
//! `{"domain", "host", "port", "jid", "password", "ca_pem"}` (`ca_pem` is a
//! file to pass as `TERN_EXTRA_ROOT_PEM`), then runs until stdin closes.
//!
//! With `--peer`, a second user is signed in with an independent client
//! (slixmpp, [`SlixmppPeer`]); the first line also has `peer_jid`. Each
//! further stdin line is a command for that peer (see
//! `crates/testkit/peers/peer.py`), and everything it sees is printed as
//! `{"peer_event": ...}` lines.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::Duration;

use tern_testkit::{PeerOptions, Prosody, SlixmppPeer, TestCa};

fn print(line: &serde_json::Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let with_peer = std::env::args().any(|a| a == "--peer");
    let prosody = Prosody::start()?;
    let (user, password) = prosody.create_user()?;
    let ca_pem = prosody.dir().join("tern-test-ca.pem");
    std::fs::write(&ca_pem, TestCa::global().ca_cert_pem())?;
    let mut info = serde_json::json!({
        "domain": prosody.domain(),
        "host": "127.0.0.1",
        "port": prosody.c2s_port(),
        "jid": format!("{user}@{}", prosody.domain()),
        "password": password,
        "ca_pem": ca_pem,
    });
    let peer = if with_peer {
        let (name, secret) = prosody.create_user()?;
        let jid = format!("{name}@{}", prosody.domain());
        let peer = Arc::new(SlixmppPeer::start(PeerOptions::new(
            &jid,
            secret,
            "127.0.0.1",
            prosody.c2s_port(),
        ))?);
        info["peer_jid"] = jid.into();
        let events = Arc::clone(&peer);
        std::thread::spawn(move || loop {
            match events.next_event(Duration::from_secs(3600)) {
                Ok(event) => {
                    if print(&serde_json::json!({ "peer_event": event })).is_err() {
                        break;
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        });
        Some(peer)
    } else {
        None
    };
    print(&info)?;
    // Serve until whoever started us closes our stdin (or dies).
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if let (Some(peer), Ok(cmd)) = (&peer, serde_json::from_str(&line)) {
            peer.send(cmd)?;
        }
    }
    drop(peer);
    drop(prosody);
    Ok(())
}
