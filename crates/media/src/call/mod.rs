//! The network half of a call: ICE over UDP, DTLS-SRTP and RTP carrying the Opus pipeline.
//!
//! Signalling drives a [`MediaBackend`] with plain descriptions ([`MediaDescription`]: ICE
//! credentials, DTLS fingerprint and role, codecs, candidates), which map one to one onto a
//! Jingle content (XEP-0167 description, XEP-0176 transport, XEP-0320 fingerprint); this
//! module knows nothing of XMPP. [`UdpBackend`] is the real backend: each session runs its own
//! thread driving a [`str0m`] `Rtc` through its direct API (no SDP), over UDP sockets bound
//! on the local interfaces.
//!
//! ```text
//! caller                                   callee
//! offer() ──── MediaDescription ────────▶  answer(remote) ──▶ (session, answer)
//! accept_answer(answer) ◀── MediaDescription ──┘
//! MediaEvent::LocalCandidate ── trickled ──▶ add_remote_candidate (both ways)
//! MediaEvent::Connected: DTLS is up, SRTP keys exist, audio flows both ways
//! ```
//!
//! What a session guarantees:
//!
//! - **Encrypted only.** Audio goes out and comes in only after the DTLS handshake has
//!   finished with the certificate whose SHA-256 fingerprint the peer signalled; any other
//!   certificate fails the call with [`MediaEvent::Failed`]. There is no unencrypted RTP.
//! - **DTLS roles from `setup`.** An offer says `actpass`; an answer says `active` (Tern opens
//!   the DTLS connection, as WebRTC and Dino do when they answer). A caller whose peer answers
//!   `active` waits as DTLS server, one that answers `passive` connects. An answer saying
//!   `actpass` is refused.
//! - **One ICE component.** RTP and RTCP share one port (rtcp-mux, RFC 5761) and one ICE
//!   component: candidates for component 2 (Dino sends them, its streams have two components)
//!   are ignored, and none are ever sent. A peer that does not bundle (Dino) has one session
//!   per content; a bundling peer (Conversations) one session for the call.
//! - **The peer's SSRC is learnt.** Dino signals no SSRC and sends no MID header extension:
//!   the first Opus packet from an unknown SSRC opens a receive stream for it (at most
//!   [`MAX_LEARNT_SSRCS`] that have not authenticated, so forged packets cannot grow state),
//!   and SRTP authentication decides what is played. A signalled SSRC is expected from the
//!   start.
//! - **Errors are values.** Nothing a peer sends can panic the session thread; a failure is a
//!   [`MediaEvent::Failed`], after which the session holds no sockets.
//!
//! Local candidates: [`MediaBackend::offer`] and [`MediaBackend::answer`] return the host
//! candidates in the description they return (the sockets are bound before they return);
//! candidates found later (server-reflexive ones from STUN, relayed ones from TURN) come as
//! [`MediaEvent::LocalCandidate`] and are to be trickled.
//!
//! Relays: each TURN server of [`CallConfig::ice_servers`] with a user name and password
//! (XEP-0215 gives them; Prosody's are TURN REST API credentials, `expiry:user` and an
//! HMAC of it) gets one UDP allocation from a socket of its own: long-term credentials
//! (the 401 realm/nonce exchange, stale nonces followed), the relayed address added to str0m
//! as a relayed candidate and reported as [`MediaEvent::LocalCandidate`], a permission for
//! every remote candidate's address, a channel for every peer address str0m sends to (Send
//! indications until it is bound), refreshes before the allocation, permissions and
//! channels expire, and a zero-lifetime Refresh when the session ends. Only answers signed
//! with the key count; nothing the server sends can grow the client's state without bound.
//! With [`CallConfig::relay_only`] no host or server-reflexive candidate is gathered or
//! signalled (the description has no candidates, the relayed ones are trickled without a
//! related address), and when no allocation succeeds the session fails with the server's
//! reason ("… refused the credentials (401 Unauthorized)", "… did not answer"); otherwise a
//! TURN failure only means no relayed candidate. [`MediaEvent::Connected`] says `relayed`
//! when the nominated pair's local side is a relayed candidate.

mod net;
mod session;
mod turn;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::audio::{AudioSink, AudioSource};
use crate::jitter::{JitterConfig, JitterStats};

pub use session::UdpBackend;

/// The payload type Tern offers Opus with: the one every WebRTC peer and Dino use.
pub const OPUS_PAYLOAD_TYPE: u8 = 111;

/// Receive streams opened for SSRCs seen in packets but not yet authenticated.
pub const MAX_LEARNT_SSRCS: usize = 4;

/// The hash function of every fingerprint Tern sends and the only one it checks.
pub const FINGERPRINT_HASH: &str = "sha-256";

/// A DTLS certificate fingerprint (XEP-0320, RFC 8122).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// The hash function, lower case: `sha-256` is the only one accepted.
    pub hash: String,
    /// The digest as hex pairs joined by colons. Tern writes upper case
    /// (`AB:CD:…`, 32 pairs for SHA-256); either case is read.
    pub value: String,
}

impl Fingerprint {
    /// The digest's bytes, if `value` is colon-separated hex.
    pub fn digest(&self) -> Option<Vec<u8>> {
        self.value
            .split(':')
            .map(|pair| match pair.len() {
                1 | 2 => u8::from_str_radix(pair, 16).ok(),
                _ => None,
            })
            .collect()
    }

    /// A fingerprint from a hash name and digest, written the way Tern sends it.
    pub fn from_digest(hash: &str, digest: &[u8]) -> Self {
        let value = digest
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":");
        Self {
            hash: hash.to_ascii_lowercase(),
            value,
        }
    }
}

/// A party's DTLS role (RFC 4145 `setup`, XEP-0320 `setup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// Either role: what an offer says.
    ActPass,
    /// Opens the DTLS connection (DTLS client).
    Active,
    /// Waits for it (DTLS server).
    Passive,
}

/// The type of an ICE candidate (RFC 8445).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidateKind {
    /// An address of a local interface.
    Host,
    /// The address a STUN server saw.
    ServerReflexive,
    /// An address learnt from a peer's connectivity check.
    PeerReflexive,
    /// An address on a TURN relay.
    Relayed,
}

/// An ICE candidate (XEP-0176 §5.3), for component 1 (RTP, with RTCP muxed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The foundation: up to 32 ICE characters (letters, digits, `+`, `/`). Tern's are hex.
    pub foundation: String,
    /// The component: 1 for RTP. Tern sends only 1 and ignores 2 (RTCP is muxed).
    pub component: u8,
    /// The transport protocol, lower case: only `udp` is used.
    pub protocol: String,
    /// The priority (RFC 8445 §5.1.2: type preference << 24 | local preference << 8 |
    /// (256 − component)).
    pub priority: u32,
    /// The address and port.
    pub address: SocketAddr,
    /// The type.
    pub kind: CandidateKind,
    /// The related address (XEP-0176 `rel-addr`/`rel-port`): the base of a server-reflexive
    /// candidate, the address the TURN server saw for a relayed one (`None` in a relay-only
    /// session, which reveals no local or public address); `None` for a host candidate.
    pub related: Option<SocketAddr>,
    /// The ICE generation (0).
    pub generation: u32,
}

/// A codec as a payload type (XEP-0167 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    /// The RTP payload type number.
    pub payload_type: u8,
    /// The codec's name (`opus`).
    pub name: String,
    /// The RTP clock rate in Hz (48000 for Opus).
    pub clock_rate: u32,
    /// The channels in RTP terms (2 for Opus, RFC 7587, whatever the stream carries).
    pub channels: u8,
    /// The format parameters (`useinbandfec` = `1`), in order.
    pub params: Vec<(String, String)>,
}

impl Codec {
    /// Opus as Tern offers and answers it: `opus/48000/2`, `minptime=10;useinbandfec=1`.
    pub fn opus(payload_type: u8) -> Self {
        Self {
            payload_type,
            name: "opus".into(),
            clock_rate: 48_000,
            channels: 2,
            params: vec![
                ("minptime".into(), "10".into()),
                ("useinbandfec".into(), "1".into()),
            ],
        }
    }

    /// Whether this is Opus at 48 kHz (one or two channels in RTP terms).
    pub fn is_opus(&self) -> bool {
        self.name.eq_ignore_ascii_case("opus")
            && self.clock_rate == 48_000
            && matches!(self.channels, 1 | 2)
    }
}

/// One content's media as one side describes it: what a Jingle content carries in its RTP
/// description, ICE-UDP transport and DTLS fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// The ICE username fragment.
    pub ice_ufrag: String,
    /// The ICE password.
    pub ice_pwd: String,
    /// The DTLS certificate fingerprint.
    pub fingerprint: Fingerprint,
    /// The DTLS role.
    pub setup: Setup,
    /// The codecs: Tern offers Opus only and answers with the offer's Opus payload type.
    pub codecs: Vec<Codec>,
    /// The SSRC this side sends with (XEP-0339), if it says. Tern always says.
    pub ssrc: Option<u32>,
    /// Whether RTCP shares the RTP port (`<rtcp-mux/>`). Tern always muxes.
    pub rtcp_mux: bool,
    /// Candidates known when the description was made; more may be trickled.
    pub candidates: Vec<Candidate>,
}

/// A STUN or TURN server (from XEP-0215 external service discovery).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceServer {
    /// A STUN server if true, else a TURN server.
    pub stun: bool,
    /// The host name or address.
    pub host: String,
    /// The UDP port.
    pub port: u16,
    /// The TURN user name.
    pub username: Option<String>,
    /// The TURN password.
    pub password: Option<String>,
}

/// How a session finds its candidates and plays audio.
#[derive(Debug, Clone, PartialEq)]
pub struct CallConfig {
    /// STUN servers give server-reflexive candidates; TURN servers with a user name and
    /// password give relayed ones (an allocation per server, at most four servers).
    pub ice_servers: Vec<IceServer>,
    /// Only relayed candidates are gathered and signalled: no host or server-reflexive
    /// candidate, so the peer never learns the local or public addresses. Without a usable
    /// TURN server the session does not start ([`CallError::NoRelay`]); when no allocation
    /// succeeds (credentials refused, no answer) it fails with [`MediaEvent::Failed`].
    pub relay_only: bool,
    /// Host candidates on this address only (e.g. `127.0.0.1` in tests); all up interfaces
    /// but loopback and link-local when `None`.
    pub bind: Option<IpAddr>,
    /// The jitter buffer of the incoming audio: adaptive by default (a 20–200 ms target that
    /// follows the measured jitter); [`JitterConfig::fixed`] for a fixed delay.
    pub jitter: JitterConfig,
    /// How long ICE and DTLS may take, from the moment both descriptions are known, before
    /// the call fails; also how long a lost connection may stay lost.
    pub connect_timeout: Duration,
    /// Echo cancellation, noise suppression and automatic gain control on the outgoing audio
    /// ([`crate::processing`]), with what is played as the echo reference. On by default;
    /// off for sources that are not microphones (tests sending pure tones, which noise
    /// suppression takes for noise). Ignored in a build without the `processing` feature.
    pub audio_processing: bool,
}

impl Default for CallConfig {
    fn default() -> Self {
        Self {
            ice_servers: Vec::new(),
            relay_only: false,
            bind: None,
            jitter: JitterConfig::default(),
            connect_timeout: Duration::from_secs(20),
            audio_processing: true,
        }
    }
}

/// What a session reports, from its own thread.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    /// A local candidate found after the description was made: trickle it.
    LocalCandidate(Candidate),
    /// ICE and DTLS are up: audio flows. `relayed` when the path goes through a TURN relay.
    Connected {
        /// Whether the selected path is relayed.
        relayed: bool,
    },
    /// Every two seconds while connected: how the incoming audio fares.
    Quality {
        /// Frames lost in the last interval (recovered by FEC or concealed), in percent.
        loss_percent: f32,
        /// Round-trip time from RTCP, once known.
        rtt_ms: Option<u32>,
        /// Interarrival jitter of the incoming packets (RFC 3550 §6.4.1).
        jitter_ms: u32,
    },
    /// The call's media failed (no connection, a wrong DTLS certificate, a lost
    /// connection). The session has stopped; the text is for the log.
    Failed(String),
    /// The session stopped: the peer closed DTLS, or [`MediaSession::close`] was called.
    Ended,
}

/// Counters of a session so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallStats {
    /// Whether audio flows (ICE and DTLS up, not failed or closed).
    pub connected: bool,
    /// Whether the selected path is relayed.
    pub relayed: bool,
    /// RTP packets sent.
    pub packets_sent: u64,
    /// Authenticated RTP packets received.
    pub packets_received: u64,
    /// The SSRC the peer's audio comes with, once known.
    pub remote_ssrc: Option<u32>,
    /// What the jitter buffer did, and the target and playout delay it keeps now.
    pub jitter: JitterStats,
    /// Round-trip time from RTCP, once known.
    pub rtt_ms: Option<u32>,
    /// Interarrival jitter of the incoming packets, in milliseconds.
    pub jitter_ms: u32,
}

/// Why a session could not be made or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The remote description cannot be used (the text says why).
    #[error("unusable description: {0}")]
    Description(String),
    /// The peer offers no Opus at 48 kHz.
    #[error("no common codec (Opus 48000)")]
    NoCommonCodec,
    /// The fingerprint uses a hash other than SHA-256, or is not hex.
    #[error("unsupported fingerprint: {0}")]
    Fingerprint(String),
    /// Something asked for is not implemented.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A relay-only session was asked for without a TURN server that can be used (none
    /// with a user name and password).
    #[error("no relay: {0}")]
    NoRelay(String),
    /// No socket could be bound, or the audio codec could not start.
    #[error("cannot start: {0}")]
    Setup(String),
    /// The session has stopped (closed or failed).
    #[error("session has stopped")]
    Stopped,
}

/// The sound devices a session reads and plays.
pub struct AudioIo {
    /// Where outgoing audio comes from, pulled every 20 ms.
    pub source: Box<dyn AudioSource>,
    /// Where incoming audio goes, pushed every 20 ms once connected.
    pub sink: Box<dyn AudioSink>,
}

impl fmt::Debug for AudioIo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AudioIo").finish_non_exhaustive()
    }
}

/// Where a session's events go. Called on the session's thread: keep it short.
pub type EventSink = Arc<dyn Fn(MediaEvent) + Send + Sync>;

/// Makes call media sessions. The engine holds one and never knows what is behind it.
pub trait MediaBackend: Send + Sync + 'static {
    /// Caller side: binds sockets, starts gathering and returns the offer (setup `actpass`,
    /// Opus offered as [`OPUS_PAYLOAD_TYPE`], the host candidates).
    fn offer(
        &self,
        config: CallConfig,
        audio: AudioIo,
        events: EventSink,
    ) -> Result<(Box<dyn MediaSession>, MediaDescription), CallError>;

    /// Callee side: from the caller's offer, the session and the answer (setup `active`
    /// unless the offer said `active`, Opus with the offer's payload type, the host
    /// candidates). Connecting starts at once.
    fn answer(
        &self,
        config: CallConfig,
        remote: &MediaDescription,
        audio: AudioIo,
        events: EventSink,
    ) -> Result<(Box<dyn MediaSession>, MediaDescription), CallError>;
}

/// One running call media session. Dropping it closes it.
pub trait MediaSession: Send {
    /// Caller side: the callee's answer. Connecting starts.
    fn accept_answer(&mut self, remote: &MediaDescription) -> Result<(), CallError>;
    /// A trickled remote candidate. Component 2 and non-UDP candidates are ignored.
    fn add_remote_candidate(&mut self, candidate: Candidate);
    /// Sends silence (as DTX) instead of the source while muted; the source is still read.
    fn set_muted(&mut self, muted: bool);
    /// Switches sound devices mid-call.
    fn set_audio(&mut self, audio: AudioIo);
    /// Counters so far.
    fn stats(&self) -> CallStats;
    /// Stops the session: its thread ends and its sockets are closed before this returns.
    /// Idempotent.
    fn close(&mut self);
}

/// The Opus payload type in a peer's codecs, if any.
pub(crate) fn find_opus(codecs: &[Codec]) -> Option<&Codec> {
    codecs.iter().find(|c| c.is_opus())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_round_trip_and_reject_junk() {
        let f = Fingerprint::from_digest("SHA-256", &[0xab, 0x01, 0xff]);
        assert_eq!(f.hash, "sha-256");
        assert_eq!(f.value, "AB:01:FF");
        assert_eq!(f.digest(), Some(vec![0xab, 0x01, 0xff]));
        let lower = Fingerprint {
            hash: "sha-256".into(),
            value: "ab:01:ff".into(),
        };
        assert_eq!(lower.digest(), Some(vec![0xab, 0x01, 0xff]));
        for junk in ["", "AB::01", "ABC:01", "zz:01", "AB 01"] {
            let f = Fingerprint {
                hash: "sha-256".into(),
                value: junk.into(),
            };
            assert_eq!(f.digest(), None, "{junk}");
        }
    }

    #[test]
    fn opus_is_found_whatever_its_payload_type() {
        let mut pcmu = Codec::opus(0);
        pcmu.name = "PCMU".into();
        pcmu.clock_rate = 8000;
        let codecs = [pcmu, Codec::opus(96)];
        assert_eq!(find_opus(&codecs).map(|c| c.payload_type), Some(96));
        let mut opus8k = Codec::opus(97);
        opus8k.clock_rate = 8000;
        assert_eq!(find_opus(&[opus8k]), None);
    }
}
