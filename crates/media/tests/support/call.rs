//! Two call media sessions in one process on 127.0.0.1: a recording sink that can be read
//! while the session owns it, the offer/answer/trickle dance, and a userspace UDP relay that
//! loses, delays and reorders datagrams between the two.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use tern_media::{
    AudioIo, AudioSink, AudioSource, CallConfig, Candidate, EventSink, Frame, MediaBackend,
    MediaDescription, MediaEvent, MediaSession, UdpBackend,
};

use super::Impairment;

/// What a sink has been given, shared with the test.
#[derive(Debug, Default)]
pub struct Recording {
    pub samples: Vec<f32>,
    /// When each frame was written.
    pub frame_times: Vec<Instant>,
    /// When the first frame with sound in it (any sample above 0.01) was written.
    pub first_sound: Option<Instant>,
}

/// A sink writing into a [`Recording`] the test keeps a handle on.
pub struct SharedSink(pub Arc<Mutex<Recording>>);

impl AudioSink for SharedSink {
    fn write(&mut self, frame: &Frame) {
        let mut r = self.0.lock().expect("recording");
        if r.first_sound.is_none() && frame.iter().any(|x| x.abs() > 0.01) {
            r.first_sound = Some(Instant::now());
        }
        r.samples.extend_from_slice(frame);
        r.frame_times.push(Instant::now());
    }
}

/// Audio devices for a session: `source` in, a fresh shared recording out.
pub fn audio(source: impl AudioSource + 'static) -> (AudioIo, Arc<Mutex<Recording>>) {
    let recording = Arc::new(Mutex::new(Recording::default()));
    let io = AudioIo {
        source: Box::new(source),
        sink: Box::new(SharedSink(recording.clone())),
    };
    (io, recording)
}

/// An event sink that queues into a channel.
pub fn events() -> (EventSink, Receiver<MediaEvent>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let sink: EventSink = Arc::new(move |e| {
        let _ = tx.lock().expect("events").send(e);
    });
    (sink, rx)
}

/// Host candidates on loopback only, and no audio processing: the tests analyse pure tones,
/// which noise suppression takes for noise (with it on, a steady 880 Hz tone arrives at
/// 10–15 dB SNR instead of 36–40).
pub fn loopback() -> CallConfig {
    CallConfig {
        bind: Some(Ipv4Addr::LOCALHOST.into()),
        connect_timeout: Duration::from_secs(8),
        audio_processing: false,
        ..CallConfig::default()
    }
}

/// One side of a call.
pub struct Side {
    pub session: Box<dyn MediaSession>,
    pub events: Receiver<MediaEvent>,
    /// Every event seen so far.
    pub seen: Vec<MediaEvent>,
    /// The description this side made (with its candidates).
    pub description: MediaDescription,
    pub recording: Arc<Mutex<Recording>>,
}

impl Side {
    pub fn connected(&self) -> bool {
        self.seen
            .iter()
            .any(|e| matches!(e, MediaEvent::Connected { .. }))
    }

    pub fn failure(&self) -> Option<&str> {
        self.seen.iter().find_map(|e| match e {
            MediaEvent::Failed(why) => Some(why.as_str()),
            _ => None,
        })
    }

    pub fn samples(&self) -> Vec<f32> {
        self.recording.lock().expect("recording").samples.clone()
    }

    pub fn first_sound(&self) -> Option<Instant> {
        self.recording.lock().expect("recording").first_sound
    }
}

/// How the two sides reach each other.
pub enum Route {
    /// Each side is given the other's host candidates, trickled.
    Direct,
    /// Each side is given only an address of the relay, trickled; the relay forwards to the
    /// real host candidates. The sessions see it as the peer (the callee learns the caller
    /// at the relay's second address as a peer-reflexive candidate, the way a NAT looks).
    Relay(Impairment),
    /// As `Relay`, and from the given RTP packet of the caller on, its packets reach the
    /// callee later by the given extra delay, for good (a sender whose clock fell behind).
    RelayStep(Impairment, u64, Duration),
}

/// Calls of one test binary run one at a time: each is real time, and several at once on a
/// shared two-core machine starve each other's 20 ms clocks.
static ONE_CALL_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A call between two sessions.
pub struct Call {
    pub caller: Side,
    pub callee: Side,
    /// When the caller accepted the answer: both descriptions known, connecting starts.
    pub accepted_at: Instant,
    pub relay: Option<Relay>,
    /// Last, so that it is released once the sessions are gone.
    _turn: MutexGuard<'static, ()>,
}

/// Offer, answer, accept; then candidates trickled (none travel in the descriptions, as
/// Conversations does it). `tweak_offer` and `tweak_answer` change what the other side is
/// given (to lie about a fingerprint, or look like Dino).
pub fn start_call(
    caller_source: impl AudioSource + 'static,
    callee_source: impl AudioSource + 'static,
    route: Route,
    tweak_offer: impl FnOnce(&mut MediaDescription),
    tweak_answer: impl FnOnce(&mut MediaDescription),
) -> Call {
    start_call_with(
        loopback(),
        caller_source,
        callee_source,
        route,
        tweak_offer,
        tweak_answer,
    )
}

/// [`start_call`] with both sides set up by `config`.
pub fn start_call_with(
    config: CallConfig,
    caller_source: impl AudioSource + 'static,
    callee_source: impl AudioSource + 'static,
    route: Route,
    tweak_offer: impl FnOnce(&mut MediaDescription),
    tweak_answer: impl FnOnce(&mut MediaDescription),
) -> Call {
    start_call_each(
        config.clone(),
        config,
        caller_source,
        callee_source,
        route,
        tweak_offer,
        tweak_answer,
    )
}

/// [`start_call`] with each side set up by its own configuration.
pub fn start_call_each(
    caller_config: CallConfig,
    config: CallConfig,
    caller_source: impl AudioSource + 'static,
    callee_source: impl AudioSource + 'static,
    route: Route,
    tweak_offer: impl FnOnce(&mut MediaDescription),
    tweak_answer: impl FnOnce(&mut MediaDescription),
) -> Call {
    let turn = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let backend = UdpBackend::new();
    let (caller_io, caller_rec) = audio(caller_source);
    let (caller_events, caller_rx) = events();
    let (caller_session, offer) = backend
        .offer(caller_config, caller_io, caller_events)
        .expect("offer");
    let mut sent_offer = offer.clone();
    sent_offer.candidates.clear();
    tweak_offer(&mut sent_offer);

    let (callee_io, callee_rec) = audio(callee_source);
    let (callee_events, callee_rx) = events();
    let (callee_session, answer) = backend
        .answer(config, &sent_offer, callee_io, callee_events)
        .expect("answer");
    let mut sent_answer = answer.clone();
    sent_answer.candidates.clear();
    tweak_answer(&mut sent_answer);

    let mut caller = Side {
        session: caller_session,
        events: caller_rx,
        seen: Vec::new(),
        description: offer,
        recording: caller_rec,
    };
    let mut callee = Side {
        session: callee_session,
        events: callee_rx,
        seen: Vec::new(),
        description: answer,
        recording: callee_rec,
    };
    caller
        .session
        .accept_answer(&sent_answer)
        .expect("accept answer");
    let accepted_at = Instant::now();

    let host = |d: &MediaDescription| d.candidates[0].address;
    let relay = match route {
        Route::Direct => {
            for c in callee.description.candidates.clone() {
                caller.session.add_remote_candidate(c);
            }
            for c in caller.description.candidates.clone() {
                callee.session.add_remote_candidate(c);
            }
            None
        }
        Route::Relay(_) | Route::RelayStep(..) => {
            let (impairment, step) = match route {
                Route::Relay(i) => (i, None),
                Route::RelayStep(i, after, extra) => (i, Some((after, extra))),
                Route::Direct => unreachable!(),
            };
            let relay = Relay::start(
                host(&caller.description),
                host(&callee.description),
                impairment,
                step,
            );
            let as_candidate = |address: SocketAddr, like: &Candidate| Candidate {
                address,
                foundation: "relay".into(),
                ..like.clone()
            };
            caller.session.add_remote_candidate(as_candidate(
                relay.caller_side,
                &callee.description.candidates[0],
            ));
            callee.session.add_remote_candidate(as_candidate(
                relay.callee_side,
                &caller.description.candidates[0],
            ));
            Some(relay)
        }
    };
    Call {
        caller,
        callee,
        accepted_at,
        relay,
        _turn: turn,
    }
}

impl Call {
    /// Collects events (forwarding trickled candidates) until `done` or `timeout`; whether
    /// `done` became true.
    pub fn pump(&mut self, timeout: Duration, done: impl Fn(&Call) -> bool) -> bool {
        let end = Instant::now() + timeout;
        loop {
            let to_callee = collect(&mut self.caller);
            let to_caller = collect(&mut self.callee);
            for c in to_callee {
                self.callee.session.add_remote_candidate(c);
            }
            for c in to_caller {
                self.caller.session.add_remote_candidate(c);
            }
            if done(self) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Both sides connected.
    pub fn wait_connected(&mut self, timeout: Duration) -> bool {
        self.pump(timeout, |c| c.caller.connected() && c.callee.connected())
    }

    /// Lets the call run for `d`, collecting events.
    pub fn run_for(&mut self, d: Duration) {
        self.pump(d, |_| false);
    }

    /// Closes both sides and collects the last events.
    pub fn close(&mut self) {
        self.caller.session.close();
        self.callee.session.close();
        self.pump(Duration::from_millis(50), |_| false);
    }
}

/// Takes a side's new events; returns the candidates it trickled.
fn collect(side: &mut Side) -> Vec<Candidate> {
    let mut forward = Vec::new();
    while let Ok(e) = side.events.try_recv() {
        if let MediaEvent::LocalCandidate(c) = &e {
            forward.push(c.clone());
        }
        side.seen.push(e);
    }
    forward
}

/// Counts of what the relay did.
#[derive(Debug, Default, Clone)]
pub struct RelayStats {
    pub forwarded: u64,
    pub dropped: u64,
    pub strangers: u64,
}

/// A datagram held by the relay: (due, order, out through the callee-side socket?,
/// destination, contents).
type Delayed = (Instant, u64, bool, SocketAddr, Vec<u8>);

/// A UDP relay between two fixed addresses, with loss and delay per datagram (both ways).
/// Delays are uniform in `[base, base + jitter]`, so datagrams overtake each other.
pub struct Relay {
    /// Where the caller sends to reach the callee.
    pub caller_side: SocketAddr,
    /// Where the callee sends to reach the caller.
    pub callee_side: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<RelayStats>>,
}

impl Relay {
    pub fn start(
        caller: SocketAddr,
        callee: SocketAddr,
        impairment: Impairment,
        step: Option<(u64, Duration)>,
    ) -> Self {
        let a = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("relay socket");
        let b = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("relay socket");
        a.set_nonblocking(true).expect("nonblocking");
        b.set_nonblocking(true).expect("nonblocking");
        let caller_side = a.local_addr().expect("addr");
        let callee_side = b.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut rng = StdRng::seed_from_u64(impairment.seed);
            let mut media_loss = [
                StdRng::seed_from_u64(impairment.seed ^ 0x5eed_0001),
                StdRng::seed_from_u64(impairment.seed ^ 0x5eed_0002),
            ];
            let jitter = impairment.jitter.as_secs_f64();
            let mut queue: BinaryHeap<Reverse<Delayed>> = BinaryHeap::new();
            let mut n = 0u64;
            let mut caller_rtp = 0u64;
            let mut stats = RelayStats::default();
            let mut buf = [0u8; 2048];
            while !stopping.load(Ordering::Relaxed) {
                let now = Instant::now();
                for (socket, from_caller) in [(&a, true), (&b, false)] {
                    loop {
                        let (len, from) = match socket.recv_from(&mut buf) {
                            Ok(r) => r,
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                            Err(_) => break,
                        };
                        let expected = if from_caller { caller } else { callee };
                        if from != expected {
                            stats.strangers += 1;
                            continue;
                        }
                        // RTP loses by a pattern of its own per direction, the same in
                        // every run (the n-th media packet of a direction is lost or not
                        // whatever came before it); the rest (STUN, DTLS, RTCP) by another.
                        let is_rtp = len >= 12
                            && (128..=191).contains(&buf[0])
                            && !(64..=95).contains(&(buf[1] & 0x7f));
                        let loss_rng = match (is_rtp, from_caller) {
                            (true, true) => &mut media_loss[0],
                            (true, false) => &mut media_loss[1],
                            (false, _) => &mut rng,
                        };
                        if loss_rng.gen::<f64>() * 100.0 < impairment.loss_percent {
                            stats.dropped += 1;
                            continue;
                        }
                        let mut delay = impairment.base_delay
                            + Duration::from_secs_f64(rng.gen::<f64>() * jitter);
                        if is_rtp && from_caller {
                            caller_rtp += 1;
                            if let Some((after, extra)) = step {
                                if caller_rtp >= after {
                                    delay += extra;
                                }
                            }
                        }
                        let to = if from_caller { callee } else { caller };
                        n += 1;
                        queue.push(Reverse((
                            now + delay,
                            n,
                            from_caller,
                            to,
                            buf[..len].to_vec(),
                        )));
                    }
                }
                while let Some(Reverse((due, ..))) = queue.peek() {
                    if *due > now {
                        break;
                    }
                    let Some(Reverse((_, _, via_b, to, data))) = queue.pop() else {
                        break;
                    };
                    let out = if via_b { &b } else { &a };
                    let _ = out.send_to(&data, to);
                    stats.forwarded += 1;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            stats
        });
        Self {
            caller_side,
            callee_side,
            stop,
            thread: Some(thread),
        }
    }

    pub fn stop(&mut self) -> RelayStats {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .map(|t| t.join().expect("relay thread"))
            .unwrap_or_default()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop();
    }
}

/// SNR of each half second of a recording, for diagnostics.
pub fn snr_by_half_second(samples: &[f32]) -> Vec<i32> {
    samples
        .chunks_exact(24_000)
        .map(|c| super::analyse(c, Duration::ZERO).snr_db.round() as i32)
        .collect()
}
