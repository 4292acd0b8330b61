//! Test harness for Tern: starts real XMPP servers (Prosody, ejabberd,
//! coturn) as child processes on 127.0.0.1, plus a certificate authority, a
//! TCP proxy for fault injection and a scripted HTTPS server ([`web`]).
//!
//! Every server runs in a fresh temporary directory on freshly picked ports,
//! so many test processes can run in parallel. Servers are stopped when
//! their handle is dropped; if the test process dies (panic, SIGKILL), the
//! kernel kills them via `PR_SET_PDEATHSIG` (children are forked from one
//! long-lived thread, so a server outlives the test thread that started it).
//! Directories left behind by a killed test process are removed by the next
//! process that starts a server. Linux only.
//!
//! Servers present a leaf certificate issued by [`TestCa::global`]; clients
//! under test should trust [`TestCa::ca_cert_der`] (or pin
//! [`Leaf::sha256_fingerprint`]).
//!
//! ```no_run
//! use tern_testkit::{Prosody, TcpProxy, TestCa};
//! # fn main() -> tern_testkit::Result<()> {
//! let server = Prosody::start()?;
//! let (user, password) = server.create_user()?;
//! let jid = format!("{user}@{}", server.domain());
//! let ca = TestCa::global().ca_cert_der();
//! // Connect the client through a proxy to inject network faults.
//! let proxy = TcpProxy::start(([127, 0, 0, 1], server.c2s_port()).into())?;
//! // ... sign in as `jid` with `password` via 127.0.0.1:proxy.port() ...
//! proxy.cut_all();
//! # let _ = (jid, password, ca);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]
// Process control (prctl, kill, flock) needs libc calls; the unsafe blocks
// are confined to this crate, which is only used by tests.
#![allow(unsafe_code)]

mod bigroom;
mod ca;
mod callpeer;
mod coturn;
mod ejabberd;
mod federation;
mod impair;
mod install;
mod mitm;
mod peer;
mod process;
mod prosody;
mod proxy;
pub mod tone;
pub mod web;

pub use bigroom::{process_cpu, self_cpu, BigRoom};
pub use ca::{Leaf, TestCa};
pub use callpeer::{
    ensure_call_venv, BundlePolicy, CallEnded, CallOptions, CallPeer, IceServer, JingleStyle,
    NominatedPair, PairEnd,
};
pub use ejabberd::{Ejabberd, EjabberdOptions};
pub use federation::{start_prosody_pair, start_prosody_pair_with, Federation};
pub use impair::{ImpairOptions, ImpairStats, UdpImpairer};
pub use install::ensure_installed;
pub use mitm::{FakeSasl, TlsMitm};
pub use peer::{
    ensure_peer_venv, ModerationVersion, PeerOptions, RoomConfig, SlixmppPeer, UploadOptions,
};
pub use process::{closed_port, pid_is_alive};
pub use prosody::{ComponentAccess, Prosody, ProsodyOptions};
pub use proxy::TcpProxy;

/// Result type of this crate.
pub type Result<T, E = anyhow::Error> = std::result::Result<T, E>;
