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
const SETUP: Duration = Duration::from_secs(30);
/// How long both tones play once audio flows.
const TALK: Duration = Duration::from_millis(3000);

/// What Tern's "speakers" heard, shared with the test.
#[derive(Clone, Default)]
struct Heard(Arc<Mutex<Vec<f32>>>);

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
}

/// Tern with the real media stack on loopback, its microphone a tone.
async fn tern_caller(server: &Server, heard: &Heard) -> (TestClient, String) {
    let (jid, pass) = server.user();
    let sink = heard.clone();
    let media = CallMedia {
        backend: Arc::new(UdpBackend::new()),
        devices: Arc::new(move || {
            Ok(AudioIo {
                source: Box::new(ToneSource::new(TERN_HZ, 0.5)),
                sink: Box::new(sink.clone()),
            })
        }),
        bind: Some("127.0.0.1".parse().unwrap()),
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
async fn call_state(t: &mut TestClient, state: CallState) -> CallView {
    let what = format!("the call to be {state:?}");
    wait_event(&mut t.events, SETUP, &what, |e| match e {
        ClientEvent::Call { call } if call.state == state => Some(call.clone()),
        _ => None,
    })
    .await
}

/// Checks what Tern heard: the peer's tone, cleanly.
fn assert_heard(heard: &Heard, hz: f64) {
    let samples = heard.samples();
    assert!(
        samples.len() >= 48_000 * 2,
        "Tern heard only {:.2} s",
        samples.len() as f64 / 48_000.0
    );
    // Leave out the first second (Opus and the jitter buffer settling).
    let pcm: Vec<i16> = samples[48_000..]
        .iter()
        .map(|s| (s.clamp(-1.0, 1.0) * 32767.0) as i16)
        .collect();
    let tone = analyse(&pcm, 48_000).unwrap();
    assert!(
        (tone.freq_hz - hz).abs() <= 5.0,
        "Tern heard {:.1} Hz, not {hz} Hz",
        tone.freq_hz
    );
    assert!(
        tone.snr_db >= 30.0,
        "Tern heard the tone at {:.1} dB",
        tone.snr_db
    );
}

/// Checks what the peer recorded: Tern's tone, cleanly.
fn assert_peer_heard(ended: &CallEnded, hz: f64) {
    let path = ended
        .recording
        .as_ref()
        .unwrap_or_else(|| panic!("the peer recorded nothing: {ended:?}"));
    let (samples, rate) = read_wav(path).unwrap();
    assert!(
        samples.len() >= rate as usize * 2,
        "the peer recorded only {:.2} s",
        samples.len() as f64 / f64::from(rate)
    );
    let start = rate as usize;
    let end = samples.len().saturating_sub(rate as usize / 10).max(start);
    let tone = analyse(&samples[start..end], rate).unwrap();
    assert!(
        (tone.freq_hz - hz).abs() <= 5.0,
        "the peer heard {:.1} Hz, not {hz} Hz",
        tone.freq_hz
    );
    assert!(
        tone.snr_db >= 30.0,
        "the peer heard the tone at {:.1} dB",
        tone.snr_db
    );
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
    tokio::time::sleep(TALK).await;

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
