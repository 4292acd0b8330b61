//! Voice calls between Tern (the engine with the real media stack:
//! `tern_media::UdpBackend`, ICE on loopback, DTLS-SRTP, Opus) and an
//! independent peer (slixmpp + aiortc: `tern_testkit::CallPeer`), through
//! Prosody and ejabberd: each side sends a tone, and what each received is
//! analysed (frequency and SNR). Tern's sound devices are a tone source and
//! a recording, through the same `AudioSource`/`AudioSink` traits the
//! sound card implementations satisfy.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tern_core::tern_media::{self, AudioIo, AudioSink, ToneSource, UdpBackend};
use tern_core::{CallMedia, CallState, CallView, ClientEvent};
use tern_testkit::tone::{analyse, read_wav};
use tern_testkit::{BundlePolicy, CallEnded, CallOptions, CallPeer, JingleStyle, PeerOptions};

use crate::support::*;

/// Tern's tone, and the peer's.
const TERN_HZ: f64 = 440.0;
const PEER_HZ: u32 = 880;
pub(crate) const SETUP: Duration = Duration::from_secs(30);
/// How long a cut-off call may stay cut off before it fails.
pub(crate) const LOST_AFTER: Duration = Duration::from_secs(4);
/// How long both tones play once audio flows.
const TALK: Duration = Duration::from_millis(3000);

/// What Tern's "speakers" heard, shared with the test, and how many times
/// the sound devices were opened.
#[derive(Clone, Default)]
pub(crate) struct Heard(Arc<Mutex<Vec<f32>>>, Arc<std::sync::atomic::AtomicUsize>);

impl AudioSink for Heard {
    fn write(&mut self, frame: &tern_media::Frame) {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(frame);
        }
    }
}

impl Heard {
    fn samples(&self) -> Vec<f32> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// The devices are opened (for a call, or again during one).
    fn opening(&self) -> Self {
        self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.clone()
    }

    fn opened(&self) -> usize {
        self.1.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Tern with the real media stack on loopback, its microphone a tone.
async fn tern_caller(server: &Server, heard: &Heard) -> (TestClient, String) {
    tern_with_media(server, heard, false).await
}

/// [`tern_caller`], through the server's TURN relay only with `relay_only`.
async fn tern_with_media(server: &Server, heard: &Heard, relay_only: bool) -> (TestClient, String) {
    let (jid, pass) = server.user();
    let sink = heard.clone();
    let media = CallMedia {
        backend: Arc::new(UdpBackend::new()),
        devices: Arc::new(move || {
            Ok(AudioIo {
                source: Box::new(ToneSource::new(TERN_HZ, 0.5)),
                sink: Box::new(sink.opening()),
            })
        }),
        bind: Some("127.0.0.1".parse().unwrap()),
        relay_only,
        lost_after: LOST_AFTER,
        // The peer analyses the pure tone, which noise suppression would take for noise.
        audio_processing: false,
    };
    let mut t = client_configured(true, move |c| c.calls = Some(media)).await;
    t.client
        .add_account(account(&jid, &pass, loopback(server.port(), false)))
        .await
        .unwrap();
    wait_connected(&mut t, &jid).await;
    (t, jid)
}

async fn call_peer(server: &Server) -> Arc<CallPeer> {
    let (jid, pass) = server.user();
    let opts = PeerOptions::new(&jid, &pass, "127.0.0.1", server.port());
    Arc::new(blocking(move || CallPeer::start(opts).unwrap()).await)
}

async fn on_peer<R: Send + 'static>(
    p: &Arc<CallPeer>,
    f: impl FnOnce(&CallPeer) -> R + Send + 'static,
) -> R {
    let p = p.clone();
    blocking(move || f(&p)).await
}

/// Waits for Tern's view of a call to reach `state`.
pub(crate) async fn call_state(t: &mut TestClient, state: CallState) -> CallView {
    let what = format!("the call to be {state:?}");
    wait_event(&mut t.events, SETUP, &what, |e| match e {
        ClientEvent::Call { call } if call.state == state => Some(call.clone()),
        _ => None,
    })
    .await
}

/// The timeline's record of call `id` with `peer`, once it is stored.
async fn call_record(
    t: &TestClient,
    account: &str,
    peer: &str,
    id: &str,
) -> tern_core::MessageView {
    let deadline = tokio::time::Instant::now() + SETUP;
    loop {
        let rows = t.client.timeline(account, peer, None, 50).await.unwrap();
        if let Some(m) = rows.into_iter().find(|m| m.uid == format!("call-{id}")) {
            return m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "call {id} not recorded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Checks that `pcm` (after its first second: Opus and the jitter buffer
/// settling) holds `hz` cleanly: in half-second windows, every window at
/// the right frequency and the median at >= 30 dB SNR (a window where the
/// loaded test machine starved the 20 ms audio clock does not decide the
/// call's quality, but it must still carry the tone).
fn assert_tone(pcm: &[i16], rate: u32, hz: f64, who: &str) {
    assert_tone_at(pcm, rate, hz, who, 30.0);
}

/// [`assert_tone`] with a median SNR of at least `min_db`.
fn assert_tone_at(pcm: &[i16], rate: u32, hz: f64, who: &str, min_db: f64) {
    let rate = rate as usize;
    assert!(
        pcm.len() >= rate * 2,
        "{who} heard only {:.2} s",
        pcm.len() as f64 / rate as f64
    );
    let end = pcm.len().saturating_sub(rate / 10);
    let mut snrs = Vec::new();
    for w in pcm[rate..end].chunks_exact(rate / 2) {
        let tone = analyse(w, rate as u32).unwrap();
        assert!(
            (tone.freq_hz - hz).abs() <= 5.0,
            "{who} heard {:.1} Hz, not {hz} Hz",
            tone.freq_hz
        );
        snrs.push(tone.snr_db);
    }
    assert!(!snrs.is_empty(), "{who}: nothing to analyse");
    let mut sorted = snrs.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    assert!(
        median >= min_db,
        "{who} heard the tone at a median {median:.1} dB (windows: {snrs:.1?})"
    );
}

/// Checks what Tern heard: the peer's tone, cleanly.
pub(crate) fn assert_heard(heard: &Heard, hz: f64) {
    let pcm: Vec<i16> = heard
        .samples()
        .iter()
        .map(|s| (s.clamp(-1.0, 1.0) * 32767.0) as i16)
        .collect();
    assert_tone(&pcm, 48_000, hz, "Tern");
}

/// Checks what the peer recorded: Tern's tone, cleanly.
fn assert_peer_heard(ended: &CallEnded, hz: f64) {
    let path = ended
        .recording
        .as_ref()
        .unwrap_or_else(|| panic!("the peer recorded nothing: {ended:?}"));
    let (samples, rate) = read_wav(path).unwrap();
    assert_tone(&samples, rate, hz, "the peer");
}

fn peer_options(style: JingleStyle, bundle: BundlePolicy) -> CallOptions {
    CallOptions {
        style: Some(style),
        bundle_policy: bundle,
        host_only: true,
        ..CallOptions::tone(PEER_HZ)
    }
}

/// Tern calls the peer, who answers; both hear each other; Tern hangs up.
async fn tern_calls(server: Server, style: JingleStyle, bundle: BundlePolicy) {
    let heard = Heard::default();
    let (mut t, me) = tern_caller(&server, &heard).await;
    let peer = call_peer(&server).await;
    let pj = peer.bare_jid().to_string();
    let opts = peer_options(style, bundle);
    on_peer(&peer, move |p| {
        p.accept_calls(&opts, Duration::from_millis(300))
    })
    .await
    .unwrap();

    let placed = t.client.place_call(&me, &pj).await.unwrap();
    assert!(placed.outgoing);
    assert_eq!(placed.state, CallState::Calling);
    call_state(&mut t, CallState::Ringing).await;
    let active = call_state(&mut t, CallState::Active).await;
    assert_eq!(active.id, placed.id);
    assert!(active.connected_ms.is_some());
    on_peer(&peer, |p| p.wait_connected(SETUP)).await.unwrap();
    tokio::time::sleep(TALK).await;

    t.client.hang_up(&placed.id).unwrap();
    let ended = call_state(&mut t, CallState::Ended).await;
    assert_eq!(ended.ended.as_deref(), Some("hung_up"));
    let peer_end = on_peer(&peer, |p| p.wait_ended(SETUP)).await.unwrap();
    assert!(
        !peer_end.by_local,
        "the peer saw Tern hang up: {peer_end:?}"
    );
    assert_heard(&heard, f64::from(PEER_HZ));
    assert_peer_heard(&peer_end, TERN_HZ);
    assert_eq!(t.client.calls_now()[0].state, CallState::Ended);
    // The conversation records the call and how long it lasted.
    let record = call_record(&t, &me, &pj, &placed.id).await;
    let call = record.call.expect("a call record");
    assert_eq!(call.outcome, "hung_up");
    let lasted = call.duration_ms.expect("a duration");
    assert!((2_500..20_000).contains(&lasted), "lasted {lasted} ms");
    assert!(
        record.outgoing && record.body.starts_with("Outgoing call · 0:0"),
        "{}",
        record.body
    );
}

/// The peer calls Tern, which rings, is answered, hears the tone; the
/// peer hangs up.
async fn peer_calls(server: Server, style: JingleStyle, bundle: BundlePolicy) {
    let heard = Heard::default();
    let (mut t, me) = tern_caller(&server, &heard).await;
    let peer = call_peer(&server).await;
    let pj = peer.bare_jid().to_string();
    // A stranger's call is not rung: the peer is a contact.
    t.client.add_contact(&me, &pj, None, &[]).await.unwrap();
    // Other devices chosen with no call running: nothing to open yet.
    t.client.reopen_call_devices().await.unwrap();
    assert_eq!(heard.opened(), 0);

    let opts = peer_options(style, bundle);
    let to = me.clone();
    let sid = on_peer(&peer, move |p| p.call(&to, &opts)).await.unwrap();
    let ringing = call_state(&mut t, CallState::Ringing).await;
    assert!(!ringing.outgoing);
    assert_eq!(ringing.peer, pj);
    assert_eq!(ringing.id, sid);
    let s = sid.clone();
    on_peer(&peer, move |p| p.wait_sid_state(&s, "ringing", SETUP))
        .await
        .unwrap();

    t.client.accept_call(&ringing.id).unwrap();
    call_state(&mut t, CallState::Active).await;
    on_peer(&peer, |p| p.wait_connected(SETUP)).await.unwrap();
    tokio::time::sleep(TALK / 2).await;
    // The user picks other devices mid-call: they are opened and the call
    // goes on on them (the tones below are analysed across the switch).
    assert_eq!(heard.opened(), 1);
    t.client.reopen_call_devices().await.unwrap();
    assert_eq!(heard.opened(), 2);
    assert_eq!(t.client.calls_now()[0].state, CallState::Active);
    tokio::time::sleep(TALK / 2).await;

    on_peer(&peer, |p| p.hangup()).await.unwrap();
    let ended = call_state(&mut t, CallState::Ended).await;
    assert_eq!(ended.ended.as_deref(), Some("peer_hung_up"));
    let peer_end = on_peer(&peer, |p| p.wait_ended(SETUP)).await.unwrap();
    assert_heard(&heard, f64::from(PEER_HZ));
    assert_peer_heard(&peer_end, TERN_HZ);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tern_calls_a_conversations_like_peer_on_prosody() {
    tern_calls(
        Server::prosody(),
        JingleStyle::Conversations,
        BundlePolicy::Balanced,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dino_like_peer_calls_tern_on_prosody() {
    peer_calls(
        Server::prosody(),
        JingleStyle::Dino,
        BundlePolicy::MaxCompat,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_both_ways_on_ejabberd() {
    let server = Server::ejabberd().await;
    tern_calls(server, JingleStyle::Dino, BundlePolicy::MaxCompat).await;
    let server = Server::ejabberd().await;
    peer_calls(server, JingleStyle::Conversations, BundlePolicy::Balanced).await;
}

/// Tern with the media stack as `jid` (another device of an account, or a
/// fresh one), its microphone a tone.
async fn tern_as_with_media(server: &Server, jid: &str, pass: &str) -> TestClient {
    let heard = Heard::default();
    let media = CallMedia {
        backend: Arc::new(UdpBackend::new()),
        devices: Arc::new(move || {
            Ok(AudioIo {
                source: Box::new(ToneSource::new(TERN_HZ, 0.5)),
                sink: Box::new(heard.clone()),
            })
        }),
        bind: Some("127.0.0.1".parse().unwrap()),
        relay_only: false,
        lost_after: LOST_AFTER,
        audio_processing: false,
    };
    let mut t = client_configured(true, move |c| c.calls = Some(media)).await;
    t.client
        .add_account(account(jid, pass, loopback(server.port(), false)))
        .await
        .unwrap();
    wait_connected(&mut t, jid).await;
    t
}

/// The call peer, not in the roster of `jid`, calls Tern: the caller is told
/// no, nothing rings, and the conversation gets one unread line saying who
/// called, however often they call within a minute.
async fn stranger_call_is_refused_and_recorded(
    t: &mut TestClient,
    jid: &str,
    peer: &Arc<CallPeer>,
) {
    let jid = jid.to_string();
    let pj = peer.bare_jid().to_string();
    // A stranger's call does not ring: the caller is told no, and their
    // conversation gets an unread line saying who called (no call event:
    // nothing rang, so no prompt, ringtone or call notification).
    let to = jid.clone();
    let sid = on_peer(peer, move |p| p.call(&to, &CallOptions::tone(PEER_HZ)))
        .await
        .unwrap();
    let s = sid.clone();
    let end = on_peer(peer, move |p| p.wait_sid_ended(&s, SETUP))
        .await
        .unwrap();
    assert_eq!(end.reason, "rejected", "{end:?}");
    let uid = format!("call-{sid}");
    let line = wait_event(
        &mut t.events,
        SETUP,
        "the stranger's call recorded",
        |e| match e {
            ClientEvent::Call { call } => panic!("a stranger's call made a call event: {call:?}"),
            ClientEvent::Message { message } if message.uid == uid => Some(message.clone()),
            _ => None,
        },
    )
    .await;
    assert!(
        t.client.calls_now().is_empty(),
        "nothing rang: {:?}",
        t.client.calls_now()
    );
    let record = call_record(t, &jid, &pj, &sid).await;
    assert_eq!(record, line);
    assert_eq!(
        (
            record.body.as_str(),
            record.outgoing,
            record.state.as_str(),
            record
                .call
                .as_ref()
                .map(|c| (c.outcome.as_str(), c.duration_ms)),
        ),
        (
            format!("Call from {pj} — add them to your contacts to take their calls").as_str(),
            false,
            "received",
            Some(("stranger", None)),
        )
    );
    let conv = t.client.subscribe_conversations().await.unwrap().0;
    let c = conv
        .iter()
        .find(|c| c.peer == pj)
        .expect("their conversation");
    assert_eq!(c.unread, 1, "counted like a missed call");
    // Calling again at once adds no second line (one a minute at most).
    let to = jid.clone();
    let again = on_peer(peer, move |p| p.call(&to, &CallOptions::tone(PEER_HZ)))
        .await
        .unwrap();
    let s = again.clone();
    on_peer(peer, move |p| p.wait_sid_ended(&s, SETUP))
        .await
        .unwrap();
    let rows = t.client.timeline(&jid, &pj, None, 50).await.unwrap();
    assert_eq!(
        rows.iter().filter(|m| m.call.is_some()).count(),
        1,
        "{rows:?}"
    );
}

/// Declined, withdrawn, busy, a stranger, answered on another device: each
/// ends with the right state on both sides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_that_never_connect_end_with_the_right_state() {
    let server = Server::prosody();
    let (jid, pass) = server.user();
    let mut t = tern_as_with_media(&server, &jid, &pass).await;
    let peer = call_peer(&server).await;
    let pj = peer.bare_jid().to_string();

    stranger_call_is_refused_and_recorded(&mut t, &jid, &peer).await;
    t.client.mark_read(&jid, &pj).await.unwrap();
    t.client.add_contact(&jid, &pj, None, &[]).await.unwrap();

    // The contact declines Tern's call.
    on_peer(&peer, |p| p.reject_next()).await.unwrap();
    let placed = t.client.place_call(&jid, &pj).await.unwrap();
    let ended = call_state(&mut t, CallState::Ended).await;
    assert_eq!(
        (ended.id.as_str(), ended.ended.as_deref()),
        (placed.id.as_str(), Some("declined"))
    );

    // Tern gives up on a call that rings: the contact's device stops.
    on_peer(&peer, |p| p.ring_only()).await.unwrap();
    let placed = t.client.place_call(&jid, &pj).await.unwrap();
    call_state(&mut t, CallState::Ringing).await;
    t.client.hang_up(&placed.id).unwrap();
    let ended = call_state(&mut t, CallState::Ended).await;
    assert_eq!(ended.ended.as_deref(), Some("cancelled"));
    let s = placed.id.clone();
    let end = on_peer(&peer, move |p| p.wait_sid_ended(&s, SETUP))
        .await
        .unwrap();
    assert_eq!((end.reason.as_str(), end.by_local), ("retracted", false));

    // The contact calls and gives up: missed.
    let to = jid.clone();
    let sid = on_peer(&peer, move |p| p.call(&to, &CallOptions::tone(PEER_HZ)))
        .await
        .unwrap();
    let ringing = call_state(&mut t, CallState::Ringing).await;
    assert_eq!(ringing.id, sid);
    on_peer(&peer, |p| p.retract()).await.unwrap();
    let ended = call_state(&mut t, CallState::Ended).await;
    assert_eq!(ended.ended.as_deref(), Some("missed"));
    let record = call_record(&t, &jid, &pj, &sid).await;
    assert_eq!(
        (
            record.body.as_str(),
            record.outgoing,
            record.call.map(|c| c.outcome)
        ),
        ("Missed call", false, Some("missed".to_string()))
    );

    // The contact calls, Tern declines.
    let to = jid.clone();
    let sid = on_peer(&peer, move |p| p.call(&to, &CallOptions::tone(PEER_HZ)))
        .await
        .unwrap();
    call_state(&mut t, CallState::Ringing).await;
    t.client.hang_up(&sid).unwrap();
    let ended = call_state(&mut t, CallState::Ended).await;
    assert_eq!(ended.ended.as_deref(), Some("declined"));
    let s = sid.clone();
    let end = on_peer(&peer, move |p| p.wait_sid_ended(&s, SETUP))
        .await
        .unwrap();
    assert_eq!((end.reason.as_str(), end.by_local), ("rejected", false));

    // While one call rings, a second caller is told busy, and the first
    // call goes on.
    let second = call_peer(&server).await;
    t.client
        .add_contact(&jid, second.bare_jid(), None, &[])
        .await
        .unwrap();
    let to = jid.clone();
    let first = on_peer(&peer, move |p| p.call(&to, &CallOptions::tone(PEER_HZ)))
        .await
        .unwrap();
    call_state(&mut t, CallState::Ringing).await;
    let to = jid.clone();
    let busy = on_peer(&second, move |p| p.call(&to, &CallOptions::tone(PEER_HZ)))
        .await
        .unwrap();
    let end = on_peer(&second, move |p| p.wait_sid_ended(&busy, SETUP))
        .await
        .unwrap();
    assert_eq!(end.reason, "rejected", "{end:?}");
    let now = t.client.calls_now();
    assert_eq!(
        (now[0].id.as_str(), now[0].state),
        (first.as_str(), CallState::Ringing)
    );

    // Answered on the user's other device: this one stops ringing.
    let mut other = tern_as_with_media(&server, &jid, &pass).await;
    // Online (presence sent, carbons on) once its catch-up is done.
    wait_event(&mut other.events, SETUP, "the other device online", |e| {
        matches!(e, ClientEvent::HistorySync { done: true, .. }).then_some(())
    })
    .await;
    on_peer(&peer, |p| p.hangup()).await.unwrap();
    call_state(&mut t, CallState::Ended).await;
    let opts = peer_options(JingleStyle::Conversations, BundlePolicy::Balanced);
    let to = jid.clone();
    let sid = on_peer(&peer, move |p| p.call(&to, &opts)).await.unwrap();
    let here = call_state(&mut t, CallState::Ringing).await;
    let there = call_state(&mut other, CallState::Ringing).await;
    assert_eq!(
        (here.id.as_str(), there.id.as_str()),
        (sid.as_str(), sid.as_str())
    );
    other.client.accept_call(&sid).unwrap();
    let ended = call_state(&mut t, CallState::Ended).await;
    assert_eq!(ended.ended.as_deref(), Some("answered_elsewhere"));
    call_state(&mut other, CallState::Active).await;
    other.client.hang_up(&sid).unwrap();
    let s = sid.clone();
    let end = on_peer(&peer, move |p| p.wait_sid_ended(&s, SETUP))
        .await
        .unwrap();
    assert!(!end.by_local, "{end:?}");
}

/// A stranger's call on ejabberd: refused, never rung, recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_call_on_ejabberd_is_refused_and_recorded() {
    let server = Server::ejabberd().await;
    let (jid, pass) = server.user();
    let mut t = tern_as_with_media(&server, &jid, &pass).await;
    let peer = call_peer(&server).await;
    stranger_call_is_refused_and_recorded(&mut t, &jid, &peer).await;
}

/// Both sides relay-only (Tern through the TURN server its server names by
/// XEP-0215, the peer with aiortc's relay policy): the call goes through
/// the relay and both hear each other.
async fn relayed_call(server: Server) {
    let heard = Heard::default();
    let (mut t, me) = tern_with_media(&server, &heard, true).await;
    let peer = call_peer(&server).await;
    let pj = peer.bare_jid().to_string();
    let opts = CallOptions {
        relay_only: true,
        ..CallOptions::tone(PEER_HZ)
    };
    on_peer(&peer, move |p| {
        p.accept_calls(&opts, Duration::from_millis(300))
    })
    .await
    .unwrap();
    let placed = t.client.place_call(&me, &pj).await.unwrap();
    let active = call_state(&mut t, CallState::Active).await;
    assert!(
        active.relayed,
        "Tern's audio goes through the relay: {active:?}"
    );
    let pairs = on_peer(&peer, |p| p.wait_connected(SETUP)).await.unwrap();
    assert!(
        // (A check can come before the candidate it is from: the remote
        // side may show as peer-reflexive.)
        pairs
            .iter()
            .all(|p| p.local.kind == "relay" && matches!(p.remote.kind.as_str(), "relay" | "prflx")),
        "only relayed paths: {pairs:?}"
    );
    tokio::time::sleep(TALK).await;
    t.client.hang_up(&placed.id).unwrap();
    call_state(&mut t, CallState::Ended).await;
    let peer_end = on_peer(&peer, |p| p.wait_ended(SETUP)).await.unwrap();
    assert_heard(&heard, f64::from(PEER_HZ));
    assert_peer_heard(&peer_end, TERN_HZ);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_call_on_prosody() {
    relayed_call(Server::prosody()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_call_on_ejabberd() {
    let server = Server::ejabberd_with(tern_testkit::EjabberdOptions {
        turn: true,
        ..Default::default()
    })
    .await;
    relayed_call(server).await;
}

/// The network under a running call goes (the peer's process is killed,
/// so nothing says goodbye): the call ends as failed, with the reason, and
/// is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_network_goes_ends_with_the_reason() {
    let server = Server::prosody();
    let heard = Heard::default();
    let (mut t, me) = tern_caller(&server, &heard).await;
    let peer = call_peer(&server).await;
    let pj = peer.bare_jid().to_string();
    let opts = peer_options(JingleStyle::Conversations, BundlePolicy::Balanced);
    on_peer(&peer, move |p| {
        p.accept_calls(&opts, Duration::from_millis(300))
    })
    .await
    .unwrap();
    let placed = t.client.place_call(&me, &pj).await.unwrap();
    call_state(&mut t, CallState::Active).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Killed with its process group: no hang-up, no goodbye.
    let pid = peer.pid();
    for target in [format!("-{pid}"), pid.to_string()] {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &target])
            .status();
    }
    let cut = std::time::Instant::now();
    let ended = call_state(&mut t, CallState::Ended).await;
    assert_eq!(ended.ended.as_deref(), Some("failed"), "{ended:?}");
    assert!(
        ended
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("connection")),
        "{ended:?}"
    );
    assert!(
        cut.elapsed() < LOST_AFTER + Duration::from_secs(10),
        "{:?}",
        cut.elapsed()
    );
    let record = call_record(&t, &me, &pj, &placed.id).await;
    assert_eq!(record.call.map(|c| c.outcome).as_deref(), Some("failed"));
    assert!(t.client.calls_now()[0].state == CallState::Ended);
}

/// Tern calls a relay-only peer that reaches coturn through `impairer`;
/// returns once both sides are connected.
async fn call_through(
    server: &Server,
    impairer: &tern_testkit::UdpImpairer,
    heard: &Heard,
) -> (TestClient, String, Arc<CallPeer>, CallView) {
    let (mut t, me) = tern_caller(server, heard).await;
    let peer = call_peer(server).await;
    let pj = peer.bare_jid().to_string();
    let opts = CallOptions {
        relay_only: true,
        turn_address: Some(impairer.addr()),
        ..CallOptions::tone(PEER_HZ)
    };
    on_peer(&peer, move |p| {
        p.accept_calls(&opts, Duration::from_millis(300))
    })
    .await
    .unwrap();
    let placed = t.client.place_call(&me, &pj).await.unwrap();
    call_state(&mut t, CallState::Active).await;
    on_peer(&peer, |p| p.wait_connected(SETUP)).await.unwrap();
    (t, me, peer, placed)
}

/// An impaired path: the peer reaches Tern only through the TURN
/// relay, and a relay in front of coturn drops 5 % of the datagrams and
/// delays them by up to 40 ms more (so they overtake each other), both
/// ways. Tern still hears the peer's tone at >= 20 dB (its jitter buffer,
/// FEC and concealment at work); the peer's side (aiortc's own receiver)
/// must still hear Tern's tone at the right frequency.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_through_a_lossy_jittery_path() {
    let server = Server::prosody();
    let Server::Prosody(prosody) = &server else {
        unreachable!()
    };
    let turn = ([127, 0, 0, 1], prosody.turn_port()).into();
    let impairer = tern_testkit::UdpImpairer::start(
        turn,
        tern_testkit::ImpairOptions {
            loss: 0.05,
            delay: Duration::from_millis(10),
            jitter: Duration::from_millis(40),
            seed: 7,
            ..tern_testkit::ImpairOptions::default()
        },
    )
    .unwrap();
    let heard = Heard::default();
    let (mut t, _, peer, placed) = call_through(&server, &impairer, &heard).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    t.client.hang_up(&placed.id).unwrap();
    call_state(&mut t, CallState::Ended).await;
    let peer_end = on_peer(&peer, |p| p.wait_ended(SETUP)).await.unwrap();
    let stats = impairer.stats();
    assert!(stats.forwarded > 300 && stats.lost > 10, "{stats:?}");
    let pcm: Vec<i16> = heard
        .samples()
        .iter()
        .map(|s| (s.clamp(-1.0, 1.0) * 32767.0) as i16)
        .collect();
    assert_tone_at(&pcm, 48_000, f64::from(PEER_HZ), "Tern", 20.0);
    let (samples, rate) = read_wav(peer_end.recording.as_ref().expect("a recording")).unwrap();
    assert_tone_at(&samples, rate, TERN_HZ, "the peer", 10.0);
}

/// The user's server hands out TURN credentials its TURN server refuses
/// (XEP-0215 credentials signed with another secret than coturn checks):
/// a relay-only Tern cannot get a relay, so the call fails at once with
/// that reason on Tern's side, the peer is told (`connectivity-error`),
/// nothing keeps ringing or connecting, and the record says `failed`.
/// Tern places one call and takes one.
async fn turn_refused(server: Server, both_ways: bool) {
    let heard = Heard::default();
    let (mut t, me) = tern_with_media(&server, &heard, true).await;
    let peer = call_peer(&server).await;
    let pj = peer.bare_jid().to_string();
    t.client.add_contact(&me, &pj, None, &[]).await.unwrap();
    let opts = peer_options(JingleStyle::Conversations, BundlePolicy::Balanced);
    let o = opts.clone();
    on_peer(&peer, move |p| {
        p.accept_calls(&o, Duration::from_millis(300))
    })
    .await
    .unwrap();

    let check = |ended: &CallView, since: std::time::Instant| {
        assert_eq!(ended.ended.as_deref(), Some("failed"), "{ended:?}");
        assert!(
            ended
                .problem
                .as_deref()
                .is_some_and(|p| p.contains("relay") && p.contains("refused")),
            "the reason names the refused relay: {ended:?}"
        );
        assert!(ended.connected_ms.is_none(), "{ended:?}");
        // Well before the connect timeout: the refusal ends it.
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "{:?}",
            since.elapsed()
        );
    };

    // Tern calls.
    let placed = t.client.place_call(&me, &pj).await.unwrap();
    let since = std::time::Instant::now();
    let ended = call_state(&mut t, CallState::Ended).await;
    assert_eq!(ended.id, placed.id);
    check(&ended, since);
    let s = placed.id.clone();
    let end = on_peer(&peer, move |p| p.wait_sid_ended(&s, SETUP))
        .await
        .unwrap();
    assert_eq!(
        (end.reason.as_str(), end.by_local),
        ("connectivity-error", false),
        "{end:?}"
    );
    let record = call_record(&t, &me, &pj, &placed.id).await;
    let call = record.call.expect("a call record");
    assert_eq!((call.outcome.as_str(), call.duration_ms), ("failed", None));
    assert_eq!(record.body, "Call failed");
    assert!(t
        .client
        .calls_now()
        .iter()
        .all(|c| c.state == CallState::Ended));

    if !both_ways {
        return;
    }
    // The peer calls; Tern accepts and cannot get a relay either.
    let to = me.clone();
    let sid = on_peer(&peer, move |p| p.call(&to, &opts)).await.unwrap();
    call_state(&mut t, CallState::Ringing).await;
    t.client.accept_call(&sid).unwrap();
    let since = std::time::Instant::now();
    let ended = call_state(&mut t, CallState::Ended).await;
    assert_eq!(ended.id, sid);
    check(&ended, since);
    let s = sid.clone();
    let end = on_peer(&peer, move |p| p.wait_sid_ended(&s, SETUP))
        .await
        .unwrap();
    assert_eq!(
        (end.reason.as_str(), end.by_local),
        ("connectivity-error", false),
        "{end:?}"
    );
    let record = call_record(&t, &me, &pj, &sid).await;
    assert_eq!(
        record.call.map(|c| c.outcome).as_deref(),
        Some("failed"),
        "{}",
        record.body
    );
    assert!(t
        .client
        .calls_now()
        .iter()
        .all(|c| c.state == CallState::Ended));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_only_call_with_refused_turn_credentials_fails_cleanly_on_prosody() {
    let server = Server::prosody_with(tern_testkit::ProsodyOptions {
        turn_refuses: true,
        upload: false,
        ..Default::default()
    });
    turn_refused(server, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_only_call_with_refused_turn_credentials_fails_cleanly_on_ejabberd() {
    let server = Server::ejabberd_with(tern_testkit::EjabberdOptions {
        turn: true,
        turn_refuses: true,
        ..Default::default()
    })
    .await;
    turn_refused(server, false).await;
}

/// The network path under a running call is cut (every datagram dropped,
/// both ways, by the relay in front of coturn the peer's media goes
/// through) while both ends stay online: Tern ends the call as failed with
/// "connection lost" within `lost_after` of the last packet, tells the
/// peer over XMPP, and records the call with how long audio flowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_network_path_is_cut_ends_as_lost() {
    let server = Server::prosody();
    let Server::Prosody(prosody) = &server else {
        unreachable!()
    };
    let turn = ([127, 0, 0, 1], prosody.turn_port()).into();
    let impairer =
        tern_testkit::UdpImpairer::start(turn, tern_testkit::ImpairOptions::default()).unwrap();
    let heard = Heard::default();
    let (mut t, me, peer, placed) = call_through(&server, &impairer, &heard).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Audio flows through the impaired path before the cut.
    let before = impairer.stats();
    assert!(before.forwarded > 100, "{before:?}");
    assert_heard(&heard, f64::from(PEER_HZ));

    impairer.set_options(tern_testkit::ImpairOptions {
        loss: 1.0,
        ..tern_testkit::ImpairOptions::default()
    });
    let cut = std::time::Instant::now();
    let ended = call_state(&mut t, CallState::Ended).await;
    let took = cut.elapsed();
    assert_eq!(ended.ended.as_deref(), Some("failed"), "{ended:?}");
    assert!(
        ended
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("connection") && p.contains("lost")),
        "{ended:?}"
    );
    // Not before `lost_after` (a short gap is not a lost call), and not
    // much after it.
    assert!(
        took >= LOST_AFTER - Duration::from_millis(500)
            && took < LOST_AFTER + Duration::from_secs(3),
        "ended {took:?} after the cut"
    );
    let after = impairer.stats();
    assert!(after.lost > 0, "the cut dropped datagrams: {after:?}");
    // The path comes back once Tern gave up, so that the peer's own
    // teardown (aiortc releases its TURN allocation and waits for the
    // answer) does not take the test's time.
    impairer.set_options(tern_testkit::ImpairOptions::default());
    // Tern can still signal: the peer is told.
    let s = placed.id.clone();
    let end = on_peer(&peer, move |p| p.wait_sid_ended(&s, SETUP))
        .await
        .unwrap();
    assert_eq!(
        (end.reason.as_str(), end.by_local),
        ("connectivity-error", false),
        "{end:?}"
    );
    let record = call_record(&t, &me, peer.bare_jid(), &placed.id).await;
    let call = record.call.expect("a call record");
    assert_eq!(call.outcome, "failed");
    assert!(
        call.duration_ms.is_some_and(|d| d >= 2_000),
        "audio flowed before the cut: {call:?}"
    );
    assert_eq!(t.client.calls_now()[0].state, CallState::Ended);
}
