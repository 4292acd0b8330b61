//! Server-to-server federation on loopback.
//!
//! Each federating server gets its own random loopback address
//! (`127.x.y.z`) and listens for s2s on the default port 5269 there, so that
//! a peer finds it the way a real server would: there are no SRV records, so
//! it resolves the domain and connects to port 5269 of that address.
//!
//! Names resolve through each server's own static table rather than
//! `/etc/hosts`, so nothing global is changed and nothing is left behind when
//! a test process is killed:
//!
//! - Prosody resolves through libunbound (lua-unbound), whose `hoststxt`
//!   option accepts a path: `unbound = { hoststxt = "<dir>/hosts" }`.
//! - ejabberd 23.01 resolves with `getaddrinfo` (glibc: `/etc/hosts`, then
//!   DNS; Erlang's inetrc host table is not consulted), so its VM runs in a
//!   private mount namespace (`unshare --mount`) in which a copy of
//!   `/etc/hosts` with the peers added is bind-mounted over `/etc/hosts`.
//!   This needs root (CAP_SYS_ADMIN), like the rest of federation.
//!
//! SRV lookups get NXDOMAIN from the system resolver, so both fall back to
//! the domain's address and port 5269.
//!
//! Client-to-server, HTTP and the other listeners stay on 127.0.0.1.
//!
//! s2s links are encrypted (STARTTLS) and authenticated by certificates
//! verified against [`TestCa::global`]: dialback is not used. Prosody runs
//! with `s2s_secure_auth = true` and the CA as `cafile`; ejabberd with
//! `s2s_use_starttls: required`, the CA as `ca_file` and without
//! `mod_s2s_dialback`, so SASL EXTERNAL is the only way in.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use rand::Rng;

use crate::ca::TestCa;
use crate::ejabberd::{Ejabberd, EjabberdOptions};
use crate::process::{ports_owned_by, run_with_timeout, unique_name, ManagedChild};
use crate::prosody::{Prosody, ProsodyOptions};

/// The s2s port peers connect to when there is no SRV record (RFC 6120).
pub(crate) const S2S_PORT: u16 = 5269;

const START_ATTEMPTS: usize = 3;

/// How a server takes part in federation.
#[derive(Clone, Debug, Default)]
pub(crate) struct S2sSetup {
    /// Listen for s2s on this address, port 5269. `None`: 127.0.0.1 on a
    /// free port (no federation partner can find it, but it is reachable).
    pub(crate) listen: Option<Ipv4Addr>,
    /// Static name resolution for outgoing s2s: name and address.
    pub(crate) hosts: Vec<(String, Ipv4Addr)>,
    /// Require encrypted s2s authenticated by a certificate that verifies
    /// against the test CA.
    pub(crate) secure: bool,
}

impl S2sSetup {
    fn federating(own: Ipv4Addr, peers: &[(&str, Ipv4Addr)]) -> S2sSetup {
        S2sSetup {
            listen: Some(own),
            hosts: peers
                .iter()
                .flat_map(|(domain, ip)| host_names(domain).into_iter().map(move |n| (n, *ip)))
                .collect(),
            secure: true,
        }
    }

    /// The address the s2s listener binds, given the port otherwise chosen.
    pub(crate) fn listen_addr(&self, fallback_port: u16) -> SocketAddr {
        match self.listen {
            Some(ip) => SocketAddr::from((ip, S2S_PORT)),
            None => SocketAddr::from((Ipv4Addr::LOCALHOST, fallback_port)),
        }
    }

    /// Writes what the server configuration refers to into `dir`: the CA
    /// (`ca.pem`) when secure, the hosts table (`hosts`, in `/etc/hosts`
    /// format) when there are peers.
    pub(crate) fn write_files(&self, dir: &Path) -> Result<()> {
        if self.secure {
            fs::write(dir.join("ca.pem"), TestCa::global().ca_cert_pem())?;
        }
        if !self.hosts.is_empty() {
            let hosts: String = self
                .hosts
                .iter()
                .map(|(name, ip)| format!("{ip} {name}\n"))
                .collect();
            fs::write(dir.join("hosts"), hosts)?;
        }
        Ok(())
    }
}

/// A domain and the names of its services that a peer may address.
fn host_names(domain: &str) -> Vec<String> {
    vec![
        domain.to_owned(),
        format!("conference.{domain}"),
        format!("upload.{domain}"),
        format!("pubsub.{domain}"),
    ]
}

/// Waits until `addr` accepts connections and a process of `child` listens
/// on its port (listeners outside 127.0.0.1 are not covered by
/// `wait_until_listening`).
pub(crate) fn wait_for_listener(
    name: &str,
    child: &mut ManagedChild,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.exited() {
            bail!("{name} exited during start-up ({status})");
        }
        if !ports_owned_by(child.pid(), &[addr.port()]).is_empty()
            && TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("{name} did not listen on {addr} within {timeout:?}");
        }
        thread::sleep(Duration::from_millis(25));
    }
}

/// Checks once per process that a private mount namespace can be made,
/// which ejabberd's name resolution needs.
fn check_private_mounts() -> Result<()> {
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    CHECKED
        .get_or_init(|| {
            let mut cmd = Command::new("unshare");
            cmd.args(["--mount", "--propagation", "private", "--", "true"]);
            match run_with_timeout(cmd, Duration::from_secs(30)) {
                Ok(out) if out.status.success() => Ok(()),
                Ok(out) => Err(format!(
                    "`unshare --mount` failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
                Err(err) => Err(format!("running `unshare --mount`: {err:#}")),
            }
        })
        .clone()
        .map_err(|msg| {
            anyhow!(
                "federation with ejabberd needs a private mount namespace for its \
                 /etc/hosts (root with CAP_SYS_ADMIN): {msg}"
            )
        })
}

/// Picks `n` distinct random loopback addresses outside 127.0.0.0/24 on
/// which port 5269 is free.
fn loopback_addresses(n: usize) -> Result<Vec<Ipv4Addr>> {
    let mut rng = rand::thread_rng();
    let mut picked: Vec<Ipv4Addr> = Vec::with_capacity(n);
    for _ in 0..100 {
        if picked.len() == n {
            break;
        }
        let ip = Ipv4Addr::new(
            127,
            rng.gen_range(1..=254),
            rng.gen(),
            rng.gen_range(1..=254),
        );
        if !picked.contains(&ip) && TcpListener::bind((ip, S2S_PORT)).is_ok() {
            picked.push(ip);
        }
    }
    if picked.len() < n {
        bail!("no free loopback address for port {S2S_PORT}");
    }
    Ok(picked)
}

/// A fresh, unique domain under `tern.test`.
fn fresh_domain(prefix: &str) -> String {
    format!("{}.tern.test", unique_name(prefix))
}

/// Runs `start` up to three times: a random address may be taken between
/// the check and the server's bind.
fn with_retries<T>(what: &str, mut start: impl FnMut() -> Result<T>) -> Result<T> {
    let mut last = anyhow!("{what} was not started");
    for attempt in 1..=START_ATTEMPTS {
        match start() {
            Ok(v) => return Ok(v),
            Err(err) => {
                tracing::warn!(attempt, "starting {what} failed: {err:#}");
                last = err;
            }
        }
    }
    Err(last)
}

/// Prosody serving domain A and ejabberd serving domain B, federating over
/// a real s2s link: STARTTLS with certificates from [`TestCa::global`],
/// verified by both sides, authenticated with SASL EXTERNAL (no dialback).
///
/// Both domains are unique (`<name>.tern.test`), and each server listens for
/// s2s on port 5269 of its own random loopback address; c2s and the other
/// ports are on 127.0.0.1 as usual. Name resolution is private to the two
/// servers (see the module documentation): clients under test connect to
/// `127.0.0.1:c2s_port()` and use the domain for TLS and the stream header.
///
/// Dropping it stops both servers.
///
/// ```no_run
/// # fn main() -> tern_testkit::Result<()> {
/// let fed = tern_testkit::Federation::start()?;
/// let (alice, _) = fed.prosody.create_user()?;
/// let (bob, _) = fed.ejabberd.create_user()?;
/// let from = format!("{alice}@{}", fed.domain_a());
/// let to = format!("{bob}@{}", fed.domain_b());
/// # let _ = (from, to);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Federation {
    /// The Prosody server, domain A.
    pub prosody: Prosody,
    /// The ejabberd server, domain B.
    pub ejabberd: Ejabberd,
}

impl Federation {
    /// Starts Prosody (domain A) and ejabberd (domain B) in parallel, each
    /// resolving the other's domain to the other's s2s address. Takes as
    /// long as ejabberd's start-up (a few seconds).
    pub fn start() -> Result<Federation> {
        Self::start_with(ProsodyOptions::default(), EjabberdOptions::default())
    }

    /// Like [`Federation::start`], with these options for the two servers
    /// (e.g. `EjabberdOptions { upload: false, .. }` for a domain B without
    /// file upload). Their `domain` is replaced by a fresh one.
    pub fn start_with(prosody: ProsodyOptions, ejabberd: EjabberdOptions) -> Result<Federation> {
        check_private_mounts()?;
        with_retries("the federation", || {
            let ips = loopback_addresses(2)?;
            let (ip_a, ip_b) = (ips[0], ips[1]);
            let domain_a = fresh_domain("a");
            let domain_b = fresh_domain("b");
            let setup_a = S2sSetup::federating(ip_a, &[(&domain_b, ip_b)]);
            let setup_b = S2sSetup::federating(ip_b, &[(&domain_a, ip_a)]);
            let opts_a = ProsodyOptions {
                domain: domain_a,
                ..prosody.clone()
            };
            let opts_b = EjabberdOptions {
                domain: domain_b,
                ..ejabberd.clone()
            };
            let (prosody, ejabberd) = thread::scope(|s| {
                let e = s.spawn(|| Ejabberd::start_s2s(opts_b, setup_b));
                let p = Prosody::start_s2s(opts_a, setup_a);
                let e = e
                    .join()
                    .unwrap_or_else(|_| Err(anyhow!("starting ejabberd panicked")));
                (p, e)
            });
            Ok(Federation {
                prosody: prosody?,
                ejabberd: ejabberd?,
            })
        })
    }

    /// Domain A, served by [`Federation::prosody`].
    pub fn domain_a(&self) -> &str {
        self.prosody.domain()
    }

    /// Domain B, served by [`Federation::ejabberd`].
    pub fn domain_b(&self) -> &str {
        self.ejabberd.domain()
    }
}

/// Two Prosody servers federating like [`Federation`]: the first serves
/// domain A, the second domain C, each with s2s on port 5269 of its own
/// loopback address, certificates verified against [`TestCa::global`].
pub fn start_prosody_pair() -> Result<(Prosody, Prosody)> {
    start_prosody_pair_with(ProsodyOptions::default(), ProsodyOptions::default())
}

/// Like [`start_prosody_pair`], with options for the first (domain A) and
/// the second server (domain C), e.g. `ProsodyOptions { upload: false, .. }`
/// for a domain C without file upload. Their `domain` is replaced by a
/// fresh one.
pub fn start_prosody_pair_with(
    first: ProsodyOptions,
    second: ProsodyOptions,
) -> Result<(Prosody, Prosody)> {
    with_retries("the Prosody pair", || {
        let ips = loopback_addresses(2)?;
        let (ip_a, ip_c) = (ips[0], ips[1]);
        let domain_a = fresh_domain("a");
        let domain_c = fresh_domain("c");
        let setup_a = S2sSetup::federating(ip_a, &[(&domain_c, ip_c)]);
        let setup_c = S2sSetup::federating(ip_c, &[(&domain_a, ip_a)]);
        let a = Prosody::start_s2s(
            ProsodyOptions {
                domain: domain_a,
                ..first.clone()
            },
            setup_a,
        )?;
        let c = Prosody::start_s2s(
            ProsodyOptions {
                domain: domain_c,
                ..second.clone()
            },
            setup_c,
        )?;
        Ok((a, c))
    })
}
