//! coturn, started next to Prosody for XEP-0215 (external services).

use std::net::{Ipv4Addr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::install::which;
use crate::process::{wait_until_listening, ManagedChild};

/// Relay ports are taken from this range, in blocks per instance. It lies
/// above Linux's default ephemeral range (32768–60999).
const RELAY_RANGE: (u16, u16) = (61000, 65000);
const RELAY_BLOCK: u16 = 16;

/// A running coturn child.
#[derive(Debug)]
pub(crate) struct Coturn {
    child: ManagedChild,
}

impl Coturn {
    /// Starts turnserver listening on `port` (UDP and TCP) with `secret`.
    pub(crate) fn start(dir: &Path, port: u16, secret: &str) -> Result<Coturn> {
        let bin = which("turnserver").context("turnserver not found")?;
        let (min, max) = relay_block();
        let log = dir.join("turnserver.log");
        let out = dir.join("turnserver.out");
        let mut cmd = Command::new(bin);
        cmd.arg("-n")
            .arg("--listening-ip=127.0.0.1")
            .arg("--relay-ip=127.0.0.1")
            .arg(format!("--listening-port={port}"))
            .arg(format!("--min-port={min}"))
            .arg(format!("--max-port={max}"))
            .arg("--use-auth-secret")
            .arg(format!("--static-auth-secret={secret}"))
            .arg("--realm=localhost")
            .arg("--no-tls")
            .arg("--no-dtls")
            .arg("--no-cli")
            .arg("--allow-loopback-peers")
            .arg(format!(
                "--pidfile={}",
                dir.join("turnserver.pid").display()
            ))
            .arg(format!("--userdb={}", dir.join("turndb").display()))
            .arg(format!("--log-file={}", log.display()))
            .arg("--simple-log")
            .arg("--no-stdout-log")
            .current_dir(dir);
        let mut child = ManagedChild::spawn(cmd, "turnserver", &out)?;
        wait_until_listening(
            &mut child,
            &[port],
            Duration::from_secs(5),
            &[log, out],
            &|_| None,
        )?;
        Ok(Coturn { child })
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.pid()
    }
}

/// Picks a block of relay ports, preferring one whose first port is free.
fn relay_block() -> (u16, u16) {
    use rand::Rng;
    let blocks = (RELAY_RANGE.1 - RELAY_RANGE.0) / RELAY_BLOCK;
    let mut rng = rand::thread_rng();
    let mut pick = 0;
    for _ in 0..8 {
        pick = rng.gen_range(0..blocks);
        let min = RELAY_RANGE.0 + pick * RELAY_BLOCK;
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, min)).is_ok() {
            break;
        }
    }
    let min = RELAY_RANGE.0 + pick * RELAY_BLOCK;
    (min, min + RELAY_BLOCK - 1)
}
