//! [`UdpBackend`]: a session thread per call content driving a str0m `Rtc` over UDP sockets,
//! with the 20 ms media clock of the Opus pipeline.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use str0m::config::{DtlsVersion, Fingerprint as RtcFingerprint};
use str0m::format::{Codec as RtcCodec, FormatParams};
use str0m::media::{Frequency, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo, Ssrc};
use str0m::{Candidate as IceCandidate, CandidateKind as IceKind, Event, IceConnectionState};
use str0m::{IceCreds, Input, Output, Rtc, RtcConfig, RtcError};

use super::net::{self, Datagram, Sockets};
use super::turn::{Received, TurnClient, TurnEvent, MAX_PERMISSIONS};
use super::{
    find_opus, AudioIo, CallConfig, CallError, CallStats, Candidate, CandidateKind, Codec,
    EventSink, Fingerprint, MediaBackend, MediaDescription, MediaEvent, MediaSession, Setup,
    FINGERPRINT_HASH, MAX_LEARNT_SSRCS, OPUS_PAYLOAD_TYPE,
};
use crate::codec::{Decoder, Encoder, EncoderConfig, Packet};
use crate::jitter::{JitterBuffer, JitterStats};
use crate::processing::{AudioProcessor, ProcessingConfig};
use crate::{Frame, FRAME_MS, SILENCE};

/// One media tick.
const TICK: Duration = Duration::from_millis(FRAME_MS as u64);

/// How often [`MediaEvent::Quality`] is reported.
const QUALITY_EVERY: Duration = Duration::from_secs(2);

/// STUN Binding requests per server and socket, and the wait between them.
const STUN_TRIES: u32 = 3;
const STUN_RETRY: Duration = Duration::from_millis(500);

/// Packets in a row arriving after their turn after which playout starts again at the
/// stream's current position (200 ms): the peer's clock fell behind ours for good (a
/// stalled sender that dropped frames, drifting sound cards), and waiting would keep every
/// packet late.
const LATE_RUN_RESTART: u32 = 10;

/// How far behind the media clock may fall before it restarts instead of catching up (a
/// suspended machine). Below that, missed ticks are made up at once so that the packets
/// sent keep pace with real time.
const MAX_CATCH_UP: Duration = Duration::from_secs(1);

/// TURN servers used at most.
const MAX_TURN_SERVERS: usize = 4;

/// The longest ICE password or user fragment read (RFC 8839 allows 256).
const MAX_ICE_CREDENTIAL: usize = 256;

/// Call media over UDP: ICE (host, STUN server-reflexive and TURN relayed candidates), DTLS
/// 1.2 with SRTP (OpenSSL), RTP with rtcp-mux, Opus. Sessions need no runtime: each runs its
/// own thread plus one reader thread per local socket.
#[derive(Debug, Clone, Default)]
pub struct UdpBackend;

impl UdpBackend {
    /// The backend.
    pub fn new() -> Self {
        Self
    }
}

impl MediaBackend for UdpBackend {
    fn offer(
        &self,
        config: CallConfig,
        audio: AudioIo,
        events: EventSink,
    ) -> Result<(Box<dyn MediaSession>, MediaDescription), CallError> {
        let mut core = Core::new(config, audio, events, true, OPUS_PAYLOAD_TYPE)?;
        let description = core.local_description(Setup::ActPass);
        let handle = Handle::spawn(core, OPUS_PAYLOAD_TYPE, true)?;
        Ok((Box::new(handle), description))
    }

    fn answer(
        &self,
        config: CallConfig,
        remote: &MediaDescription,
        audio: AudioIo,
        events: EventSink,
    ) -> Result<(Box<dyn MediaSession>, MediaDescription), CallError> {
        let remote = Remote::read(remote)?;
        // The offerer picks: an offer that says `active` leaves us passive, anything else
        // (`actpass`, or a `passive` offerer) makes us the DTLS client.
        let setup = match remote.setup {
            Setup::Active => Setup::Passive,
            Setup::ActPass | Setup::Passive => Setup::Active,
        };
        let pt = remote.payload_type;
        let mut core = Core::new(config, audio, events, false, pt)?;
        let description = core.local_description(setup);
        let handle = Handle::spawn(core, pt, false)?;
        handle.send(Msg::Remote(remote, setup == Setup::Active));
        Ok((Box::new(handle), description))
    }
}

/// A peer's description, checked and in str0m's terms.
#[derive(Debug)]
struct Remote {
    creds: IceCreds,
    fingerprint: RtcFingerprint,
    setup: Setup,
    payload_type: u8,
    ssrc: Option<u32>,
    candidates: Vec<IceCandidate>,
}

impl Remote {
    fn read(d: &MediaDescription) -> Result<Self, CallError> {
        for (what, value) in [("ufrag", &d.ice_ufrag), ("pwd", &d.ice_pwd)] {
            if value.is_empty()
                || value.len() > MAX_ICE_CREDENTIAL
                || value.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(CallError::Description(format!("unusable ICE {what}")));
            }
        }
        if !d.fingerprint.hash.eq_ignore_ascii_case(FINGERPRINT_HASH) {
            return Err(CallError::Fingerprint(format!(
                "hash {:?} (only {FINGERPRINT_HASH})",
                d.fingerprint.hash
            )));
        }
        let bytes = d
            .fingerprint
            .digest()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| CallError::Fingerprint("not 32 hex pairs".into()))?;
        let opus = find_opus(&d.codecs).ok_or(CallError::NoCommonCodec)?;
        if opus.payload_type > 127 || (64..=95).contains(&opus.payload_type) {
            return Err(CallError::Description(format!(
                "Opus payload type {} clashes with RTCP",
                opus.payload_type
            )));
        }
        Ok(Self {
            creds: IceCreds {
                ufrag: d.ice_ufrag.clone(),
                pass: d.ice_pwd.clone(),
            },
            fingerprint: RtcFingerprint {
                hash_func: FINGERPRINT_HASH.into(),
                bytes,
            },
            setup: d.setup,
            payload_type: opus.payload_type,
            ssrc: d.ssrc,
            candidates: d.candidates.iter().filter_map(to_ice).collect(),
        })
    }
}

/// A signalled candidate in str0m's terms; `None` for what is not used (component 2, TCP,
/// an address str0m refuses).
fn to_ice(c: &Candidate) -> Option<IceCandidate> {
    if c.component != 1 || !c.protocol.eq_ignore_ascii_case("udp") {
        return None;
    }
    if c.address.port() == 0 || c.address.ip().is_unspecified() || c.address.ip().is_multicast() {
        return None;
    }
    let kind = match c.kind {
        CandidateKind::Host => IceKind::Host,
        CandidateKind::ServerReflexive => IceKind::ServerReflexive,
        CandidateKind::PeerReflexive => IceKind::PeerReflexive,
        CandidateKind::Relayed => IceKind::Relayed,
    };
    let foundation = if valid_foundation(&c.foundation) {
        c.foundation.clone()
    } else {
        // Only used to group candidates when pairing: a stand-in is harmless.
        format!("{:x}", c.priority)
    };
    let priority = c.priority.clamp(1, (1 << 31) - 1);
    Some(IceCandidate::from_parts(
        foundation,
        1,
        Protocol::Udp,
        priority,
        c.address,
        kind,
        c.related.filter(|_| kind != IceKind::Host),
        None,
        None,
    ))
}

fn valid_foundation(f: &str) -> bool {
    (1..=32).contains(&f.len())
        && f.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// A local str0m candidate as signalling sends it.
fn from_ice(c: &IceCandidate, base: Option<SocketAddr>) -> Candidate {
    // str0m computes the foundation but only shows it in the SDP line:
    // `candidate:<foundation> <component> udp <priority> <ip> <port> typ <type> …`.
    let sdp = c.to_sdp_string();
    let foundation = sdp
        .strip_prefix("candidate:")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or("1")
        .to_owned();
    let kind = match c.kind() {
        IceKind::Host => CandidateKind::Host,
        IceKind::ServerReflexive => CandidateKind::ServerReflexive,
        IceKind::PeerReflexive => CandidateKind::PeerReflexive,
        IceKind::Relayed => CandidateKind::Relayed,
    };
    Candidate {
        foundation,
        component: 1,
        protocol: "udp".into(),
        priority: c.prio(),
        address: c.addr(),
        kind,
        related: base.filter(|_| kind != CandidateKind::Host),
        generation: 0,
    }
}

/// What the session thread is told.
enum Msg {
    Net(Datagram),
    /// The peer's description, and whether we open DTLS.
    Remote(Remote, bool),
    Candidate(Candidate),
    Muted(bool),
    Audio(AudioIo),
    /// The STUN and TURN servers, resolved.
    Servers(Vec<SocketAddr>, Vec<TurnServer>),
    Close,
}

/// A TURN server with credentials, as configured and as resolved.
#[derive(Debug, Clone)]
struct TurnServer {
    name: String,
    addrs: Vec<SocketAddr>,
    username: String,
    password: String,
}

/// The engine's side of a session.
struct Handle {
    tx: Sender<Msg>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<Mutex<CallStats>>,
    payload_type: u8,
    /// Caller whose answer has not come yet.
    awaiting_answer: bool,
}

impl Handle {
    fn spawn(mut core: Core, payload_type: u8, caller: bool) -> Result<Self, CallError> {
        let (tx, rx) = mpsc::channel();
        core.sockets
            .start_readers(tx.clone(), Msg::Net)
            .map_err(|e| CallError::Setup(format!("socket reader: {e}")))?;
        let stats = core.stats.clone();
        let servers: Vec<(String, u16)> = core
            .config
            .ice_servers
            .iter()
            .filter(|s| s.stun && !core.config.relay_only)
            .map(|s| (s.host.clone(), s.port))
            .collect();
        let turn = turn_servers(&core.config);
        let thread = std::thread::Builder::new()
            .name("call-media".into())
            .spawn(move || core.run(rx))
            .map_err(|e| CallError::Setup(format!("thread: {e}")))?;
        if !servers.is_empty() || !turn.is_empty() {
            // DNS can block for seconds: not on the session thread.
            let to = tx.clone();
            let _ = std::thread::Builder::new()
                .name("call-ice-dns".into())
                .spawn(move || {
                    let addrs = servers
                        .iter()
                        .flat_map(|(host, port)| net::resolve(host, *port))
                        .collect();
                    let turn = turn
                        .into_iter()
                        .map(|(name, port, username, password)| TurnServer {
                            addrs: net::resolve(&name, port),
                            name,
                            username,
                            password,
                        })
                        .collect();
                    let _ = to.send(Msg::Servers(addrs, turn));
                });
        }
        Ok(Self {
            tx,
            thread: Some(thread),
            stats,
            payload_type,
            awaiting_answer: caller,
        })
    }

    fn send(&self, msg: Msg) {
        let _ = self.tx.send(msg);
    }
}

impl MediaSession for Handle {
    fn accept_answer(&mut self, remote: &MediaDescription) -> Result<(), CallError> {
        if self.thread.is_none() {
            return Err(CallError::Stopped);
        }
        if !self.awaiting_answer {
            return Err(CallError::Description("not waiting for an answer".into()));
        }
        let remote = Remote::read(remote)?;
        if remote.payload_type != self.payload_type {
            return Err(CallError::Description(format!(
                "answer has Opus as {}, offered as {}",
                remote.payload_type, self.payload_type
            )));
        }
        let active = match remote.setup {
            Setup::Active => false,
            Setup::Passive => true,
            Setup::ActPass => {
                return Err(CallError::Description("answer says setup actpass".into()))
            }
        };
        self.awaiting_answer = false;
        self.send(Msg::Remote(remote, active));
        Ok(())
    }

    fn add_remote_candidate(&mut self, candidate: Candidate) {
        self.send(Msg::Candidate(candidate));
    }

    fn set_muted(&mut self, muted: bool) {
        self.send(Msg::Muted(muted));
    }

    fn set_audio(&mut self, audio: AudioIo) {
        self.send(Msg::Audio(audio));
    }

    fn stats(&self) -> CallStats {
        lock(&self.stats).clone()
    }

    fn close(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.send(Msg::Close);
            let _ = thread.join();
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.close();
    }
}

/// The TURN servers of a configuration that can be used: with a user name and password.
fn turn_servers(config: &CallConfig) -> Vec<(String, u16, String, String)> {
    config
        .ice_servers
        .iter()
        .filter(|s| !s.stun)
        .filter_map(|s| {
            Some((
                s.host.clone(),
                s.port,
                s.username.clone().filter(|u| !u.is_empty())?,
                s.password.clone()?,
            ))
        })
        .collect()
}

fn lock(stats: &Mutex<CallStats>) -> MutexGuard<'_, CallStats> {
    stats.lock().unwrap_or_else(|e| e.into_inner())
}

/// A STUN Binding request in flight.
struct StunQuery {
    transaction: [u8; 12],
    base: SocketAddr,
    server: SocketAddr,
    next_at: Instant,
    tries: u32,
}

/// Why the session loop stops.
enum Stop {
    Closed,
    PeerClosed,
    Failed(String),
}

/// The session thread's state.
struct Core {
    rtc: Rtc,
    sockets: Sockets,
    /// The host candidates' sockets (none in a relay-only session).
    host: Vec<SocketAddr>,
    /// The sockets TURN servers are reached from.
    turn_bases: Vec<SocketAddr>,
    /// One client per TURN server.
    turn: Vec<TurnClient>,
    /// The relayed addresses allocated so far (str0m's relayed candidates).
    relayed: Vec<SocketAddr>,
    /// The addresses of the remote candidates (what TURN permissions are asked for).
    remote_ips: Vec<IpAddr>,
    /// The source of the last DTLS or RTP datagram sent: the local side of the nominated pair.
    media_source: Option<SocketAddr>,
    config: CallConfig,
    events: EventSink,
    stats: Arc<Mutex<CallStats>>,
    audio: AudioIo,
    /// Echo cancellation, noise suppression and gain control, when asked for and built in.
    processor: Option<AudioProcessor>,
    encoder: Encoder,
    decoder: Decoder,
    jitter: JitterBuffer,
    /// Counters of jitter buffers replaced by a playout restart.
    jitter_before: JitterStats,
    /// Packets in a row that came after their turn.
    late_run: u32,
    mid: Mid,
    pt: Pt,
    tx_ssrc: Ssrc,
    /// Extended sequence number of the next packet sent.
    next_seq: u64,
    muted: bool,
    /// DTLS and SRTP are up.
    connected: bool,
    /// When the connection has to be up by (from the remote description on).
    connect_by: Option<Instant>,
    /// When ICE lost the connection, while it is lost.
    lost_since: Option<Instant>,
    /// When the peer was last heard from (any datagram of its, directly or
    /// through the relay), once connected: a peer that sends nothing for
    /// the connect timeout is gone (Opus with DTX still sends a packet every
    /// 400 ms, and RTCP goes both ways), whatever ICE still believes.
    last_heard: Option<Instant>,
    /// SSRCs we opened a receive stream for, and whether one of their packets authenticated.
    ssrcs: Vec<(u32, bool)>,
    stun: Vec<StunQuery>,
    /// Interarrival jitter in 48 kHz units, and the previous arrival (instant, RTP time).
    arrival_jitter: f64,
    last_arrival: Option<(Instant, u32)>,
    next_quality: Instant,
    quality_base: JitterStats,
    rtt_ms: Option<u32>,
    packets_sent: u64,
    packets_received: u64,
}

impl Core {
    fn new(
        config: CallConfig,
        audio: AudioIo,
        events: EventSink,
        caller: bool,
        payload_type: u8,
    ) -> Result<Self, CallError> {
        let has_turn = !turn_servers(&config).is_empty();
        if config.relay_only && !has_turn {
            return Err(CallError::NoRelay(
                "a relay-only call needs a TURN server with a user name and password".into(),
            ));
        }
        let host_ips = if config.relay_only {
            Vec::new()
        } else {
            net::local_addresses(config.bind)
        };
        let mut sockets =
            Sockets::bind(&[]).map_err(|e| CallError::Setup(format!("no UDP socket: {e}")))?;
        let host = sockets
            .add(&host_ips)
            .map_err(|e| CallError::Setup(format!("no UDP socket: {e}")))?;
        // TURN servers are reached from sockets of their own, on any interface unless told.
        let turn_ips = match (has_turn, config.bind) {
            (false, _) => Vec::new(),
            (true, Some(ip)) => vec![ip],
            (true, None) => vec![Ipv4Addr::UNSPECIFIED.into(), Ipv6Addr::UNSPECIFIED.into()],
        };
        let turn_bases = match sockets.add(&turn_ips) {
            Ok(bases) => bases,
            Err(e) if config.relay_only => {
                return Err(CallError::Setup(format!("no UDP socket for TURN: {e}")))
            }
            Err(_) => Vec::new(),
        };

        let mut rtc_config = RtcConfig::new()
            .set_rtp_mode(true)
            .clear_codecs()
            // No header extension is negotiated in Jingle: send none.
            .clear_extension_map()
            .set_dtls_version(DtlsVersion::Dtls12)
            .set_stats_interval(Some(Duration::from_secs(1)));
        rtc_config.codec_config().add_config(
            payload_type.into(),
            None,
            RtcCodec::Opus,
            Frequency::FORTY_EIGHT_KHZ,
            Some(2),
            FormatParams {
                min_p_time: Some(10),
                use_inband_fec: Some(true),
                ..FormatParams::default()
            },
        );
        let now = Instant::now();
        let mut rtc = catch_unwind(AssertUnwindSafe(|| rtc_config.build(now)))
            .map_err(|_| CallError::Setup("transport did not start".into()))?;
        let mid = Mid::from("0");
        let tx_ssrc = {
            let mut api = rtc.direct_api();
            api.set_ice_controlling(caller);
            api.declare_media(mid, MediaKind::Audio);
            let ssrc = api.new_ssrc();
            api.declare_stream_tx(ssrc, None, mid, None);
            ssrc
        };
        for addr in &host {
            if let Ok(c) = IceCandidate::host(*addr, "udp") {
                rtc.add_local_candidate(c);
            }
        }

        let first_seq: u16 = rand::random::<u16>() & 0x7fff;
        let encoder = Encoder::new(&EncoderConfig {
            first_seq,
            first_timestamp: rand::random(),
            ..EncoderConfig::default()
        })
        .map_err(|e| CallError::Setup(e.to_string()))?;
        let decoder = Decoder::new().map_err(|e| CallError::Setup(e.to_string()))?;
        let jitter = JitterBuffer::new(config.jitter.clone());
        // A build without processing still calls, unprocessed.
        let processor = config
            .audio_processing
            .then(|| AudioProcessor::new(ProcessingConfig::default()).ok())
            .flatten();
        Ok(Self {
            rtc,
            sockets,
            host,
            turn_bases,
            turn: Vec::new(),
            relayed: Vec::new(),
            remote_ips: Vec::new(),
            media_source: None,
            config,
            events,
            stats: Arc::new(Mutex::new(CallStats::default())),
            audio,
            processor,
            encoder,
            decoder,
            jitter,
            jitter_before: JitterStats::default(),
            late_run: 0,
            mid,
            pt: payload_type.into(),
            tx_ssrc,
            next_seq: u64::from(first_seq),
            muted: false,
            connected: false,
            connect_by: None,
            lost_since: None,
            last_heard: None,
            ssrcs: Vec::new(),
            stun: Vec::new(),
            arrival_jitter: 0.0,
            last_arrival: None,
            next_quality: now,
            quality_base: JitterStats::default(),
            rtt_ms: None,
            packets_sent: 0,
            packets_received: 0,
        })
    }

    fn local_description(&mut self, setup: Setup) -> MediaDescription {
        let (creds, fingerprint) = {
            let api = self.rtc.direct_api();
            let f = api.local_dtls_fingerprint();
            (
                api.local_ice_credentials(),
                Fingerprint::from_digest(&f.hash_func, &f.bytes),
            )
        };
        let candidates = self
            .host
            .iter()
            .filter_map(|a| IceCandidate::host(*a, "udp").ok())
            .map(|c| from_ice(&c, None))
            .collect();
        MediaDescription {
            ice_ufrag: creds.ufrag,
            ice_pwd: creds.pass,
            fingerprint,
            setup,
            codecs: vec![Codec::opus(*self.pt)],
            ssrc: Some(*self.tx_ssrc),
            rtcp_mux: true,
            candidates,
        }
    }

    fn emit(&self, event: MediaEvent) {
        let events = self.events.clone();
        // A panicking event handler must not take the session down silently.
        let _ = catch_unwind(AssertUnwindSafe(|| events(event)));
    }

    /// The thread's body: runs until closed or failed, then frees everything.
    fn run(mut self, rx: Receiver<Msg>) {
        let stop = match catch_unwind(AssertUnwindSafe(|| self.run_loop(&rx))) {
            Ok(stop) => stop,
            Err(_) => Stop::Failed("internal error in the call media".into()),
        };
        self.connected = false;
        self.publish_stats();
        // Allocations are freed whatever ended the session.
        let now = Instant::now();
        for c in &mut self.turn {
            c.close(now);
        }
        let _ = self.after_turn();
        self.sockets.stop();
        match stop {
            Stop::Closed | Stop::PeerClosed => self.emit(MediaEvent::Ended),
            Stop::Failed(why) => self.emit(MediaEvent::Failed(why)),
        }
    }

    fn run_loop(&mut self, rx: &Receiver<Msg>) -> Stop {
        let mut next_tick = Instant::now() + TICK;
        let mut rtc_deadline = match self.drain() {
            Ok(t) => t,
            Err(stop) => return stop,
        };
        loop {
            let now = Instant::now();
            if let Some(stop) = self.check_timers(now) {
                return stop;
            }
            // One mutation of the Rtc per turn, then drain it (str0m's contract).
            if now >= next_tick {
                self.tick(now);
                next_tick += TICK;
                if now > next_tick + MAX_CATCH_UP {
                    next_tick = now + TICK;
                }
            } else if now >= rtc_deadline {
                if let Err(stop) = self.rtc_input(Input::Timeout(now)) {
                    return stop;
                }
            } else {
                let wait = next_tick
                    .min(rtc_deadline)
                    .min(self.stun_deadline())
                    .min(self.turn_deadline())
                    .saturating_duration_since(now);
                match rx.recv_timeout(wait) {
                    Ok(Msg::Close) => return self.close_rtc(),
                    Ok(msg) => {
                        if let Err(stop) = self.on_msg(msg) {
                            return stop;
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return self.close_rtc(),
                }
            }
            rtc_deadline = match self.drain() {
                Ok(t) => t,
                Err(stop) => return stop,
            };
        }
    }

    fn check_timers(&mut self, now: Instant) -> Option<Stop> {
        let limit = self.config.connect_timeout;
        if !self.connected && self.connect_by.is_some_and(|t| now >= t) {
            return Some(Stop::Failed(format!(
                "no connection within {} s",
                limit.as_secs()
            )));
        }
        if self.lost_since.is_some_and(|t| now >= t + limit) {
            return Some(Stop::Failed("connection lost".into()));
        }
        if self.connected && self.last_heard.is_some_and(|t| now >= t + limit) {
            return Some(Stop::Failed(format!(
                "connection lost: nothing heard from the other side for {} s",
                limit.as_secs()
            )));
        }
        self.retry_stun(now);
        for c in &mut self.turn {
            if c.deadline().is_some_and(|d| now >= d) {
                c.handle_timeout(now);
            }
        }
        if let Err(stop) = self.after_turn() {
            return Some(stop);
        }
        if self.connected && now >= self.next_quality {
            self.next_quality = now + QUALITY_EVERY;
            self.report_quality();
        }
        None
    }

    /// Feeds one input to the Rtc.
    fn rtc_input(&mut self, input: Input<'_>) -> Result<(), Stop> {
        match catch_unwind(AssertUnwindSafe(|| self.rtc.handle_input(input))) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Stop::Failed(describe(&e))),
            Err(_) => Err(Stop::Failed("internal error in the transport".into())),
        }
    }

    /// Sends and dispatches everything the Rtc has; returns its next deadline.
    fn drain(&mut self) -> Result<Instant, Stop> {
        loop {
            let out = match catch_unwind(AssertUnwindSafe(|| self.rtc.poll_output())) {
                Ok(Ok(out)) => out,
                Ok(Err(e)) => return Err(Stop::Failed(describe(&e))),
                Err(_) => return Err(Stop::Failed("internal error in the transport".into())),
            };
            match out {
                Output::Timeout(t) => return Ok(t),
                Output::Transmit(t) => self.transmit(t.source, t.destination, &t.contents),
                Output::Event(e) => self.on_event(e)?,
            }
        }
    }

    fn on_event(&mut self, event: Event) -> Result<(), Stop> {
        match event {
            Event::Connected => {
                self.connected = true;
                self.lost_since = None;
                self.last_heard.get_or_insert_with(Instant::now);
                self.next_quality = Instant::now() + QUALITY_EVERY;
                self.publish_stats();
                self.emit(MediaEvent::Connected {
                    relayed: self.path_relayed(),
                });
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected)
                if self.connect_by.is_some() && self.lost_since.is_none() =>
            {
                self.lost_since = Some(Instant::now());
            }
            Event::IceConnectionStateChange(
                IceConnectionState::Connected | IceConnectionState::Completed,
            ) => {
                self.lost_since = None;
            }
            Event::RtpPacket(p) => self.on_rtp(p),
            Event::PeerStats(s) => {
                if let Some(rtt) = s.rtt {
                    self.rtt_ms = Some(rtt.as_millis().min(u128::from(u32::MAX)) as u32);
                }
            }
            Event::MediaEgressStats(s) => {
                if let Some(rtt) = s.rtt {
                    self.rtt_ms = Some(rtt.as_millis().min(u128::from(u32::MAX)) as u32);
                }
            }
            Event::Closed => return Err(Stop::PeerClosed),
            _ => {}
        }
        Ok(())
    }

    fn on_rtp(&mut self, p: str0m::rtp::RtpPacket) {
        if p.header.payload_type != self.pt {
            return;
        }
        let ssrc = *p.header.ssrc;
        if let Some(entry) = self.ssrcs.iter_mut().find(|(s, _)| *s == ssrc) {
            entry.1 = true;
        }
        self.packets_received += 1;
        // RFC 3550 §6.4.1 interarrival jitter, in RTP clock units.
        if let Some((at, ts)) = self.last_arrival {
            let arrival = p.timestamp.saturating_duration_since(at).as_secs_f64() * 48_000.0;
            let sent = f64::from(p.header.timestamp.wrapping_sub(ts) as i32);
            let d = (arrival - sent).abs();
            self.arrival_jitter += (d - self.arrival_jitter) / 16.0;
        }
        self.last_arrival = Some((p.timestamp, p.header.timestamp));
        lock(&self.stats).remote_ssrc = Some(ssrc);
        let late_before = self.jitter.stats().late;
        self.jitter.push(
            Packet {
                seq: p.header.sequence_number,
                timestamp: p.header.timestamp,
                payload: p.payload.to_vec(),
            },
            p.timestamp,
        );
        if self.jitter.stats().late > late_before {
            self.late_run += 1;
            if self.late_run >= LATE_RUN_RESTART {
                self.restart_playout();
            }
        } else {
            self.late_run = 0;
        }
    }

    fn on_msg(&mut self, msg: Msg) -> Result<(), Stop> {
        match msg {
            Msg::Net(d) => self.on_datagram(d)?,
            Msg::Remote(remote, active) => {
                {
                    let mut api = self.rtc.direct_api();
                    api.set_remote_ice_credentials(remote.creds);
                    api.set_remote_fingerprint(remote.fingerprint);
                }
                if let Some(ssrc) = remote.ssrc {
                    self.expect_ssrc(ssrc);
                }
                let started = catch_unwind(AssertUnwindSafe(|| {
                    self.rtc.direct_api().start_dtls(active)
                }));
                match started {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(Stop::Failed(describe(&e))),
                    Err(_) => return Err(Stop::Failed("DTLS did not start".into())),
                }
                for c in remote.candidates {
                    self.note_remote(c.addr().ip());
                    self.rtc.add_remote_candidate(c);
                }
                self.after_turn()?;
                self.connect_by = Some(Instant::now() + self.config.connect_timeout);
            }
            Msg::Candidate(c) => {
                if let Some(c) = to_ice(&c) {
                    self.note_remote(c.addr().ip());
                    self.rtc.add_remote_candidate(c);
                    self.after_turn()?;
                }
            }
            Msg::Muted(m) => self.muted = m,
            Msg::Audio(audio) => self.audio = audio,
            Msg::Servers(stun, turn) => {
                if !self.config.relay_only {
                    self.start_stun(stun);
                }
                self.start_turn(turn)?;
            }
            Msg::Close => {}
        }
        Ok(())
    }

    fn on_datagram(&mut self, d: Datagram) -> Result<(), Stop> {
        if let Some(i) = self
            .turn
            .iter()
            .position(|c| c.server() == d.source && c.base() == d.destination)
        {
            let received = self.turn[i].receive(&d.contents, d.at);
            self.after_turn()?;
            return match (received, self.turn[i].relayed()) {
                (Received::Data { peer, data }, Some(relayed)) => {
                    self.deliver(d.at, peer, relayed, &data)
                }
                _ => Ok(()),
            };
        }
        if let Some((transaction, mapped)) = net::parse_binding_response(&d.contents) {
            if let Some(i) = self
                .stun
                .iter()
                .position(|q| q.transaction == transaction && q.server == d.source)
            {
                let query = self.stun.swap_remove(i);
                if let Some(mapped) = mapped {
                    self.add_reflexive(mapped, query.base);
                }
                return Ok(());
            }
        }
        self.deliver(d.at, d.source, d.destination, &d.contents)
    }

    /// A datagram from the peer (directly, or unwrapped from the relay) to str0m.
    fn deliver(
        &mut self,
        at: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        contents: &[u8],
    ) -> Result<(), Stop> {
        if let Some((pt, ssrc)) = net::rtp_pt_and_ssrc(contents) {
            if pt == *self.pt && !self.ssrcs.iter().any(|(s, _)| *s == ssrc) {
                // No SSRC signalling and no MID extension (Dino): learn it from the packet;
                // SRTP decides whether its packets are played.
                self.expect_ssrc(ssrc);
            }
        }
        let Ok(receive) = Receive::new(Protocol::Udp, source, destination, contents) else {
            return Ok(());
        };
        self.last_heard = Some(at);
        self.rtc_input(Input::Receive(at, receive))
    }

    /// Sends what str0m sends: from a relayed address through its TURN server, else from
    /// the socket itself.
    fn transmit(&mut self, source: SocketAddr, destination: SocketAddr, contents: &[u8]) {
        // DTLS (20–63) and RTP/RTCP (128–191) go over the nominated pair, STUN checks
        // over every pair.
        if matches!(contents.first(), Some(20..=63 | 128..=191)) {
            self.media_source = Some(source);
        }
        if !self.relayed.contains(&source) {
            self.sockets.send(source, destination, contents);
            return;
        }
        let now = Instant::now();
        let sockets = &self.sockets;
        if let Some(c) = self.turn.iter_mut().find(|c| c.relayed() == Some(source)) {
            if let Some(d) = c.send_to(destination, contents, now) {
                sockets.send(c.base(), c.server(), &d);
            }
            while let Some(d) = c.poll_transmit() {
                sockets.send(c.base(), c.server(), &d);
            }
        }
    }

    /// Whether the nominated pair's local side is a relayed candidate.
    fn path_relayed(&self) -> bool {
        self.media_source.is_some_and(|s| self.relayed.contains(&s))
    }

    /// Starts an allocation on each TURN server that resolved to an address a TURN socket
    /// can reach.
    fn start_turn(&mut self, servers: Vec<TurnServer>) -> Result<(), Stop> {
        let now = Instant::now();
        let mut unusable = Vec::new();
        for s in servers {
            let pick = s.addrs.iter().find_map(|a| {
                self.turn_bases
                    .iter()
                    .find(|b| b.is_ipv4() == a.is_ipv4())
                    .map(|b| (*a, *b))
            });
            let Some((server, base)) = pick else {
                unusable.push(s.name);
                continue;
            };
            if self.turn.len() >= MAX_TURN_SERVERS {
                break;
            }
            let mut client = TurnClient::new(server, base, &s.username, &s.password, now);
            for ip in &self.remote_ips {
                client.permit(*ip, now);
            }
            self.turn.push(client);
        }
        if self.config.relay_only && self.turn.is_empty() {
            return Err(Stop::Failed(format!(
                "no relay: the TURN server {} could not be resolved or reached",
                unusable.join(", ")
            )));
        }
        self.after_turn()
    }

    /// Sends what the TURN clients have for their servers and acts on their events.
    fn after_turn(&mut self) -> Result<(), Stop> {
        let sockets = &self.sockets;
        let mut events = Vec::new();
        for c in &mut self.turn {
            while let Some(d) = c.poll_transmit() {
                sockets.send(c.base(), c.server(), &d);
            }
            while let Some(e) = c.poll_event() {
                events.push((c.base(), e));
            }
        }
        for (base, event) in events {
            match event {
                TurnEvent::Allocated { relayed, mapped } => self.add_relayed(relayed, mapped, base),
                TurnEvent::Failed(why) => {
                    // Without a relay, a relay-only session cannot connect.
                    if self.config.relay_only && self.turn.iter().all(TurnClient::is_done) {
                        return Err(Stop::Failed(why));
                    }
                }
            }
        }
        Ok(())
    }

    fn add_relayed(&mut self, relayed: SocketAddr, mapped: Option<SocketAddr>, base: SocketAddr) {
        let Ok(c) = IceCandidate::relayed(relayed, base, "udp") else {
            return;
        };
        if !self.relayed.contains(&relayed) {
            self.relayed.push(relayed);
        }
        // The related address is where the server saw us: not told in a relay-only session.
        let related = mapped.filter(|_| !self.config.relay_only);
        let added = self
            .rtc
            .add_local_candidate(c)
            .map(|c| from_ice(c, related));
        if let Some(c) = added {
            self.emit(MediaEvent::LocalCandidate(c));
        }
    }

    /// Notes a remote candidate's address: TURN allocations let it in.
    fn note_remote(&mut self, ip: IpAddr) {
        if self.remote_ips.contains(&ip) || self.remote_ips.len() >= MAX_PERMISSIONS {
            return;
        }
        self.remote_ips.push(ip);
        let now = Instant::now();
        for c in &mut self.turn {
            c.permit(ip, now);
        }
    }

    fn turn_deadline(&self) -> Instant {
        self.turn
            .iter()
            .filter_map(TurnClient::deadline)
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))
    }

    /// Opens a receive stream for `ssrc`, dropping unauthenticated ones beyond the bound.
    fn expect_ssrc(&mut self, ssrc: u32) {
        if self.ssrcs.iter().any(|(s, _)| *s == ssrc) {
            return;
        }
        let unproven = self.ssrcs.iter().filter(|(_, ok)| !ok).count();
        if unproven >= MAX_LEARNT_SSRCS {
            let mut api = self.rtc.direct_api();
            self.ssrcs.retain(|(s, ok)| {
                if !ok {
                    api.remove_stream_rx((*s).into());
                }
                *ok
            });
        }
        self.rtc
            .direct_api()
            .expect_stream_rx(ssrc.into(), None, self.mid, None);
        self.ssrcs.push((ssrc, false));
    }

    fn start_stun(&mut self, servers: Vec<SocketAddr>) {
        let now = Instant::now();
        let bases = self.host.clone();
        for server in servers {
            for base in bases.iter().filter(|b| b.is_ipv4() == server.is_ipv4()) {
                self.stun.push(StunQuery {
                    transaction: rand::random(),
                    base: *base,
                    server,
                    next_at: now,
                    tries: 0,
                });
            }
        }
        self.retry_stun(now);
    }

    fn retry_stun(&mut self, now: Instant) {
        let sockets = &self.sockets;
        self.stun.retain_mut(|q| {
            if now < q.next_at {
                return true;
            }
            if q.tries >= STUN_TRIES {
                return false;
            }
            q.tries += 1;
            q.next_at = now + STUN_RETRY;
            sockets.send(q.base, q.server, &net::binding_request(q.transaction));
            true
        });
    }

    fn stun_deadline(&self) -> Instant {
        self.stun
            .iter()
            .map(|q| q.next_at)
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))
    }

    fn add_reflexive(&mut self, mapped: SocketAddr, base: SocketAddr) {
        let Ok(c) = IceCandidate::server_reflexive(mapped, base, "udp") else {
            return;
        };
        // str0m drops a candidate that is redundant with one it has (no NAT in the way).
        let added = self
            .rtc
            .add_local_candidate(c)
            .map(|c| from_ice(c, Some(base)));
        if let Some(c) = added {
            self.emit(MediaEvent::LocalCandidate(c));
        }
    }

    /// One 20 ms media tick: a frame out, a frame in.
    fn tick(&mut self, now: Instant) {
        let mut frame: Frame = SILENCE;
        // The source is read even before audio flows, so its clock keeps running; processing
        // starts with it, so noise and gain estimates are settled when the call connects.
        self.audio.source.read(&mut frame);
        if let Some(processor) = self.processor.as_mut() {
            processor.capture(&mut frame);
        }
        if !self.connected {
            return;
        }
        let send = if self.muted { &SILENCE } else { &frame };
        if let Ok(packet) = self.encoder.encode(send) {
            let seq = self.next_seq;
            self.next_seq += 1;
            let write = RtpWrite::new(
                self.pt,
                SeqNo::from(seq),
                packet.timestamp,
                now,
                packet.payload,
            );
            let tx_ssrc = self.tx_ssrc;
            let written = catch_unwind(AssertUnwindSafe(|| {
                if let Some(stream) = self.rtc.direct_api().stream_tx(&tx_ssrc) {
                    stream.write_rtp(write);
                    true
                } else {
                    false
                }
            }));
            if matches!(written, Ok(true)) {
                self.packets_sent += 1;
            }
        }
        let playout = self.jitter.pop(now);
        let mut out: Frame = SILENCE;
        self.decoder.decode(&playout, &mut out);
        // What the speaker plays is what the microphone will hear as echo.
        if let Some(processor) = self.processor.as_mut() {
            processor.render(&out);
        }
        self.audio.sink.write(&out);
        self.publish_stats();
    }

    /// A fresh jitter buffer: playout starts again from the next packet.
    fn restart_playout(&mut self) {
        let old = std::mem::replace(
            &mut self.jitter,
            JitterBuffer::new(self.config.jitter.clone()),
        );
        self.jitter_before = add_stats(&self.jitter_before, old.stats());
        self.jitter_before.resyncs += 1;
        self.late_run = 0;
    }

    /// Jitter buffer counters of the whole call.
    fn jitter_stats(&self) -> JitterStats {
        add_stats(&self.jitter_before, self.jitter.stats())
    }

    fn publish_stats(&self) {
        let mut stats = lock(&self.stats);
        stats.connected = self.connected;
        stats.relayed = self.connected && self.path_relayed();
        stats.packets_sent = self.packets_sent;
        stats.packets_received = self.packets_received;
        stats.jitter = self.jitter_stats();
        stats.rtt_ms = self.rtt_ms;
        stats.jitter_ms = self.jitter_ms();
    }

    fn jitter_ms(&self) -> u32 {
        (self.arrival_jitter / 48.0)
            .round()
            .clamp(0.0, f64::from(u32::MAX)) as u32
    }

    fn report_quality(&mut self) {
        let now = self.jitter_stats();
        let base = std::mem::replace(&mut self.quality_base, now.clone());
        let lost = (now.recovered + now.concealed).saturating_sub(base.recovered + base.concealed);
        let total = (now.played + now.recovered + now.concealed)
            .saturating_sub(base.played + base.recovered + base.concealed);
        let loss_percent = if total == 0 {
            0.0
        } else {
            (lost as f64 * 100.0 / total as f64) as f32
        };
        self.emit(MediaEvent::Quality {
            loss_percent,
            rtt_ms: self.rtt_ms,
            jitter_ms: self.jitter_ms(),
        });
    }

    /// Closes DTLS (close_notify) and sends what is left.
    fn close_rtc(&mut self) -> Stop {
        let closing = catch_unwind(AssertUnwindSafe(|| self.rtc.close()));
        if matches!(closing, Ok(Ok(()))) {
            for _ in 0..64 {
                match catch_unwind(AssertUnwindSafe(|| self.rtc.poll_output())) {
                    Ok(Ok(Output::Transmit(t))) => {
                        self.transmit(t.source, t.destination, &t.contents);
                    }
                    Ok(Ok(Output::Event(_))) => {}
                    _ => break,
                }
            }
        }
        Stop::Closed
    }
}

fn add_stats(a: &JitterStats, b: &JitterStats) -> JitterStats {
    JitterStats {
        received: a.received + b.received,
        duplicates: a.duplicates + b.duplicates,
        late: a.late + b.late,
        out_of_window: a.out_of_window + b.out_of_window,
        overflow: a.overflow + b.overflow,
        played: a.played + b.played,
        recovered: a.recovered + b.recovered,
        concealed: a.concealed + b.concealed,
        inserted: a.inserted + b.inserted,
        skipped: a.skipped + b.skipped,
        resyncs: a.resyncs + b.resyncs,
        // What the buffer in use keeps now.
        target_delay_ms: b.target_delay_ms,
        delay_ms: b.delay_ms,
    }
}

/// A transport error as the text of [`MediaEvent::Failed`].
fn describe(e: &RtcError) -> String {
    let text = e.to_string();
    if text.contains("fingerprint") {
        format!("DTLS certificate does not match the signalled fingerprint ({text})")
    } else {
        format!("transport: {text}")
    }
}
