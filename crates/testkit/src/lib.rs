//! Test harness for Tern: starts real XMPP servers (Prosody, ejabberd,
//! coturn) as child processes on 127.0.0.1, plus a certificate authority, a
//! TCP proxy for fault injection and a scripted HTTPS server ([`web`]).
//!
//! Independent peers, each a Python program in a pinned virtualenv driven
//! by JSON lines: [`SlixmppPeer`] (messaging, group chats, uploads, OMEMO;
//! `peers/peer.py`) and [`CallPeer`] (1:1 voice calls; `peers/callpeer.py`).
//! The call peer is slixmpp plus aiortc with its own Jingle/SDP mapping: it
//! proposes, rings, proceeds, rejects and retracts with XEP-0353, runs a
//! Jingle RTP audio session over ICE-UDP with DTLS-SRTP and rtcp-mux (a
//! BUNDLE group or none, trickled or inline candidates, as Conversations
//! or Dino send them, [`JingleStyle`]), takes STUN/TURN from the server
//! (XEP-0215: Prosody's `mod_turn_external`, or ejabberd's
//! `mod_stun_disco` with [`EjabberdOptions::turn`], both in front of
//! coturn), sends a sine and records what it hears to a WAV file, which
//! [`tone::analyse`] checks (dominant frequency, SNR). [`UdpImpairer`]
//! adds loss, delay, jitter and reordering to a UDP path (for example a
//! call peer's way to TURN, [`CallOptions::turn_address`]).
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
