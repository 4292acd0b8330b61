//! Two call media sessions on 127.0.0.1 over real UDP sockets: ICE, DTLS-SRTP and RTP through
//! str0m, each side sending its own tone and recording the other's.

mod support;

use std::net::{Ipv4Addr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::call::{
    audio, events, loopback, snr_by_half_second, start_call, start_call_each, start_call_with,
    Call, Route, Side,
};
use support::turn::{turn_server, Coturn, JunkServer};
use support::{analyse, Impairment};
use tern_media::{
    CallConfig, CallError, CandidateKind, IceServer, MediaBackend, MediaEvent, Setup, ToneSource,
    UdpBackend,
};

/// Start-up skipped before analysis: the jitter buffer's start and Opus settling on the tone,
/// which takes about a second (the simulated path of `tone.rs` shows the same: 22 dB in the
/// first 0.5 s, 29 dB in the next, 36 dB from then on).
const SKIP: Duration = Duration::from_millis(1000);

/// The caller sends 440 Hz, the callee 880 Hz: two tones Opus at 32 kbit/s keeps clean once
/// settled (36–40 dB on the simulated path; 523, 660 and 1000 Hz stay near 26 dB there, a
/// property of the codec on pure tones, not of the network).
fn tones() -> (ToneSource, ToneSource) {
    (ToneSource::new(440.0, 0.5), ToneSource::new(880.0, 0.5))
}

#[test]
fn two_sessions_hear_each_other() {
    let (a, b) = tones();
    let mut call = start_call(a, b, Route::Direct, |_| {}, |_| {});
    assert!(call.wait_connected(Duration::from_secs(5)), "not connected");
    let connected_after = call.accepted_at.elapsed();
    call.run_for(Duration::from_secs(4));
    call.close();

    // The caller hears the callee's 880 Hz, the callee the caller's 440 Hz.
    for (side, expect) in [(&call.caller, 880.0), (&call.callee, 440.0)] {
        let samples = side.samples();
        let tone = analyse(&samples, SKIP);
        let stats = side.session.stats();
        println!(
            "heard {expect} Hz: {tone:?} {:?}; {} s recorded; {stats:?}",
            snr_by_half_second(&samples),
            samples.len() as f64 / 48_000.0
        );
        assert!((tone.frequency_hz - expect).abs() <= 2.0, "{tone:?}");
        assert!(tone.snr_db >= 30.0, "{tone:?}");
        assert!(stats.packets_received >= 100, "{stats:?}");
        assert!(stats.packets_sent >= 100, "{stats:?}");
        assert_eq!(stats.jitter.concealed, 0, "{stats:?}");
        assert!(!stats.connected, "closed: {stats:?}");
        assert!(side.seen.contains(&MediaEvent::Ended), "{:?}", side.seen);
        assert!(side.failure().is_none(), "{:?}", side.seen);
        assert!(
            side.seen.iter().any(
                |e| matches!(e, MediaEvent::Quality { loss_percent, .. } if *loss_percent < 1.0)
            ),
            "{:?}",
            side.seen
        );
    }
    // The remote SSRC is the one the description signalled.
    assert_eq!(
        call.callee.session.stats().remote_ssrc,
        call.caller.description.ssrc
    );
    let first = call.caller.first_sound().expect("sound");
    println!(
        "connected {connected_after:?} after accept, first sound at the caller {:?} after accept",
        first - call.accepted_at
    );
    assert!(first - call.accepted_at < Duration::from_secs(1));
}

#[test]
fn lossy_jittery_relay_keeps_the_tones() {
    let impairment = Impairment {
        seed: 11,
        loss_percent: 5.0,
        duplicate_percent: 0.0,
        base_delay: Duration::from_millis(10),
        jitter: Duration::from_millis(40),
    };
    // The relay adds 10–50 ms, and the harness its own scheduling delays on a loaded machine
    // (the relay thread polls every millisecond): the adaptive jitter buffer, starting at
    // 20 ms, has to grow to cover them. Each time it grows (or shrinks) by a frame in the
    // middle of the tone, the tone's phase jumps, which an analysis of the whole recording
    // counts as noise (one such jump takes 36 dB to about 17): so the tone is judged half a
    // second at a time, and the jumps are counted.
    let config = loopback();
    let (a, b) = tones();
    let mut call = start_call_with(config, a, b, Route::Relay(impairment), |_| {}, |_| {});
    assert!(call.wait_connected(Duration::from_secs(8)), "not connected");
    call.run_for(Duration::from_secs(6));
    call.close();
    let relay = call.relay.as_mut().expect("relay").stop();
    println!("relay: {relay:?}");
    assert!(relay.dropped > 0 && relay.forwarded > 450, "{relay:?}");
    assert_eq!(relay.strangers, 0, "everything went through the relay");

    for (side, expect) in [(&call.caller, 880.0), (&call.callee, 440.0)] {
        let samples = side.samples();
        let tone = analyse(&samples, SKIP);
        let stats = side.session.stats();
        let skip = (SKIP.as_secs_f64() * 48_000.0) as usize;
        let windows = snr_by_half_second(&samples[skip.min(samples.len())..]);
        println!("heard {expect} Hz through the relay: {tone:?} {windows:?}; {stats:?}");
        assert!((tone.frequency_hz - expect).abs() <= 2.0, "{tone:?}");
        // At least four half seconds in five at 20 dB or more.
        let clean = windows.iter().filter(|snr| **snr >= 20).count();
        assert!(
            windows.len() >= 8 && clean * 5 >= windows.len() * 4,
            "{windows:?}"
        );
        // The losses were there and were covered, mostly by FEC.
        let j = &stats.jitter;
        assert!(j.recovered + j.concealed > 0, "{stats:?}");
        assert!(j.recovered >= j.concealed, "{stats:?}");
        assert!(stats.jitter_ms > 0, "{stats:?}");
        // The buffer grew past its 20 ms start to cover the jitter, with few packets late and
        // few changes of delay.
        assert!(j.target_delay_ms >= 40, "{stats:?}");
        assert!(j.late * 20 <= j.received, "{stats:?}");
        assert!(j.inserted + j.skipped <= 4, "{stats:?}");
    }
}

#[test]
fn a_wrong_fingerprint_fails_the_call_and_no_audio_passes() {
    // Each side in turn is told a fingerprint that is not its peer's certificate's.
    for lie_to_callee in [true, false] {
        let lie = |d: &mut tern_media::MediaDescription| {
            let mut digest = d.fingerprint.digest().expect("digest");
            digest[7] ^= 0x55;
            d.fingerprint = tern_media::Fingerprint::from_digest("sha-256", &digest);
        };
        let (a, b) = tones();
        let mut call = if lie_to_callee {
            start_call(a, b, Route::Direct, lie, |_| {})
        } else {
            start_call(a, b, Route::Direct, |_| {}, lie)
        };
        let fooled_caller = !lie_to_callee;
        let done = call.pump(Duration::from_secs(6), |c| {
            let fooled = if fooled_caller { &c.caller } else { &c.callee };
            fooled.failure().is_some()
        });
        call.run_for(Duration::from_millis(500));
        call.close();
        let fooled = if fooled_caller {
            &call.caller
        } else {
            &call.callee
        };
        assert!(done, "no failure: {:?}", fooled.seen);
        let why = fooled.failure().expect("failed");
        println!("lie to the callee {lie_to_callee}: {why}");
        assert!(why.contains("fingerprint"), "{why}");
        // The side told the wrong fingerprint never sets up SRTP: nothing sent, nothing
        // received, nothing played.
        assert!(!fooled.connected(), "{:?}", fooled.seen);
        let stats = fooled.session.stats();
        assert_eq!(
            (stats.packets_sent, stats.packets_received),
            (0, 0),
            "{stats:?}"
        );
        assert!(fooled.samples().is_empty(), "nothing played");
        // Its peer completed its half of the handshake with the genuine certificate (the
        // check is made once the handshake is over) and may send, but never hears anything.
        let honest = if fooled_caller {
            &call.callee
        } else {
            &call.caller
        };
        let stats = honest.session.stats();
        assert_eq!(stats.packets_received, 0, "{stats:?}");
        assert!(honest.samples().iter().all(|x| *x == 0.0), "nothing heard");
        assert!(!fooled.seen.contains(&MediaEvent::Ended));
    }
}

#[test]
fn dino_like_peer_without_ssrc_and_with_component_2() {
    // Dino signals no SSRC, sends no MID extension, and its ICE streams have two components:
    // it trickles component-2 candidates too. They must never be used.
    let trap = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("trap");
    trap.set_read_timeout(Some(Duration::from_millis(10)))
        .expect("timeout");
    let trap_addr = trap.local_addr().expect("addr");
    let (a, b) = tones();
    let mut call = start_call(
        a,
        b,
        Route::Direct,
        |offer| offer.ssrc = None,
        |answer| answer.ssrc = None,
    );
    for side in [&mut call.caller, &mut call.callee] {
        assert!(side.description.candidates.iter().all(|c| c.component == 1));
        let mut rtcp = side.description.candidates[0].clone();
        rtcp.component = 2;
        rtcp.address = trap_addr;
        rtcp.priority = u32::MAX >> 1; // would be tried first if used at all
        side.session.add_remote_candidate(rtcp);
    }
    assert!(call.wait_connected(Duration::from_secs(5)), "not connected");
    call.run_for(Duration::from_secs(4));
    call.close();
    let mut buf = [0u8; 2048];
    assert!(trap.recv_from(&mut buf).is_err(), "component 2 was used");
    for (side, expect) in [(&call.caller, 880.0), (&call.callee, 440.0)] {
        let samples = side.samples();
        let tone = analyse(&samples, SKIP);
        let stats = side.session.stats();
        println!(
            "unsignalled SSRC, heard {expect} Hz: {tone:?} {:?}; {stats:?}",
            snr_by_half_second(&samples)
        );
        assert!((tone.frequency_hz - expect).abs() <= 2.0, "{tone:?}");
        assert!(tone.snr_db >= 30.0, "{tone:?}");
        assert!(stats.remote_ssrc.is_some());
    }
    assert_eq!(
        call.callee.session.stats().remote_ssrc,
        call.caller.description.ssrc,
        "learnt from the packets"
    );
}

#[test]
fn descriptions_are_what_jingle_needs() {
    let backend = UdpBackend::new();
    let (io, _) = audio(ToneSource::new(440.0, 0.1));
    let (sink, _rx) = events();
    let (mut caller, offer) = backend.offer(loopback(), io, sink).expect("offer");
    assert_eq!(offer.setup, Setup::ActPass);
    assert_eq!(offer.fingerprint.hash, "sha-256");
    assert_eq!(offer.fingerprint.digest().map(|d| d.len()), Some(32));
    assert!(offer
        .fingerprint
        .value
        .chars()
        .all(|c| c == ':' || c.is_ascii_digit() || c.is_ascii_uppercase()));
    assert!(offer.rtcp_mux && offer.ssrc.is_some());
    assert!(!offer.ice_ufrag.is_empty() && offer.ice_pwd.len() >= 22);
    let opus = &offer.codecs[0];
    assert_eq!(
        (
            opus.payload_type,
            opus.name.as_str(),
            opus.clock_rate,
            opus.channels
        ),
        (111, "opus", 48_000, 2)
    );
    assert!(opus.params.contains(&("useinbandfec".into(), "1".into())));
    assert_eq!(offer.candidates.len(), 1);
    let c = &offer.candidates[0];
    assert_eq!(
        (c.component, c.protocol.as_str(), c.kind, c.related),
        (1, "udp", CandidateKind::Host, None)
    );
    assert!(c.address.ip().is_loopback() && c.address.port() != 0);
    assert!(!c.foundation.is_empty() && c.priority > 0);

    // An offer with Opus as 96 and `active` is answered `passive` with 96.
    let mut odd = offer.clone();
    odd.setup = Setup::Active;
    odd.codecs[0].payload_type = 96;
    let (io, _) = audio(ToneSource::new(440.0, 0.1));
    let (sink, _rx2) = events();
    let (mut callee, answer) = backend.answer(loopback(), &odd, io, sink).expect("answer");
    assert_eq!(answer.setup, Setup::Passive);
    assert_eq!(answer.codecs[0].payload_type, 96);
    callee.close();

    // What cannot work is refused, not started.
    let mut bad = answer.clone();
    bad.setup = Setup::ActPass;
    assert!(matches!(
        caller.accept_answer(&bad),
        Err(CallError::Description(_))
    ));
    let mut sha1 = offer.clone();
    sha1.fingerprint.hash = "sha-1".into();
    let mut no_opus = offer.clone();
    no_opus.codecs[0].name = "PCMU".into();
    let mut spaced = offer.clone();
    spaced.ice_pwd = "has space".into();
    for (remote, want) in [
        (&sha1, "fingerprint"),
        (&no_opus, "codec"),
        (&spaced, "pwd"),
    ] {
        let (io, _) = audio(ToneSource::new(440.0, 0.1));
        let (sink, _rx) = events();
        let err = backend
            .answer(loopback(), remote, io, sink)
            .err()
            .expect("refused");
        assert!(err.to_string().contains(want), "{err}");
    }
    let (io, _) = audio(ToneSource::new(440.0, 0.1));
    let (sink, _rx) = events();
    let relay_only = CallConfig {
        relay_only: true,
        ..loopback()
    };
    // Relay-only without a TURN server that has credentials does not start.
    assert!(matches!(
        backend.offer(relay_only, io, sink).err(),
        Some(CallError::NoRelay(_))
    ));

    // close() is prompt and idempotent.
    let t = Instant::now();
    caller.close();
    caller.close();
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert!(matches!(
        caller.accept_answer(&answer),
        Err(CallError::Stopped)
    ));
}

#[test]
fn stun_gives_a_server_reflexive_candidate() {
    // A STUN server that says every client is at 192.0.2.77:(its port + 1000).
    let server = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("stun");
    server
        .set_read_timeout(Some(Duration::from_millis(20)))
        .expect("timeout");
    let server_addr = server.local_addr().expect("addr");
    let asked = Arc::new(Mutex::new(0u32));
    let counted = asked.clone();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopping = stop.clone();
    let thread = std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while !stopping.load(std::sync::atomic::Ordering::Relaxed) {
            let Ok((n, from)) = server.recv_from(&mut buf) else {
                continue;
            };
            if n < 20 || buf[0..2] != [0, 1] || buf[4..8] != [0x21, 0x12, 0xa4, 0x42] {
                continue;
            }
            *counted.lock().expect("count") += 1;
            let port = (from.port().wrapping_add(1000)) ^ 0x2112;
            let ip = u32::from(Ipv4Addr::new(192, 0, 2, 77)) ^ 0x2112_a442;
            let mut out = vec![0x01, 0x01, 0, 12, 0x21, 0x12, 0xa4, 0x42];
            out.extend_from_slice(&buf[8..20]);
            out.extend_from_slice(&[0, 0x20, 0, 8, 0, 1]);
            out.extend_from_slice(&port.to_be_bytes());
            out.extend_from_slice(&ip.to_be_bytes());
            let _ = server.send_to(&out, from);
        }
    });
    let config = CallConfig {
        ice_servers: vec![IceServer {
            stun: true,
            host: "127.0.0.1".into(),
            port: server_addr.port(),
            username: None,
            password: None,
        }],
        ..loopback()
    };
    let (io, _) = audio(ToneSource::new(440.0, 0.1));
    let (sink, rx) = events();
    let (mut session, offer) = UdpBackend::new().offer(config, io, sink).expect("offer");
    let host = offer.candidates[0].address;
    let event = rx
        .recv_timeout(Duration::from_secs(3))
        .expect("a candidate");
    session.close();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    thread.join().expect("stun thread");
    let MediaEvent::LocalCandidate(c) = event else {
        panic!("{event:?}")
    };
    assert_eq!(c.kind, CandidateKind::ServerReflexive);
    assert_eq!(
        c.address,
        (Ipv4Addr::new(192, 0, 2, 77), host.port().wrapping_add(1000)).into()
    );
    assert_eq!(c.related, Some(host));
    assert_eq!(c.component, 1);
    assert!(c.priority < offer.candidates[0].priority);
    assert_eq!(*asked.lock().expect("count"), 1, "answered at once");
}

/// Samples of the frames a recording got between `from` and `to`.
fn between(
    rec: &std::sync::Mutex<support::call::Recording>,
    from: Instant,
    to: Instant,
) -> Vec<f32> {
    let r = rec.lock().expect("recording");
    r.frame_times
        .iter()
        .enumerate()
        .filter(|(_, t)| **t >= from && **t < to)
        .flat_map(|(i, _)| r.samples[i * 960..(i + 1) * 960].iter().copied())
        .collect()
}

fn rms(samples: &[f32]) -> f32 {
    (samples.iter().map(|x| x * x).sum::<f32>() / samples.len().max(1) as f32).sqrt()
}

#[test]
fn mute_sends_silence_and_devices_switch_mid_call() {
    let (a, b) = tones();
    let mut call = start_call(a, b, Route::Direct, |_| {}, |_| {});
    assert!(call.wait_connected(Duration::from_secs(5)), "not connected");
    call.run_for(Duration::from_millis(1500));
    let muted_at = Instant::now();
    call.caller.session.set_muted(true);
    call.run_for(Duration::from_millis(1000));
    // New devices for the caller: a 220 Hz source and a fresh recording.
    let (io, new_rec) = audio(ToneSource::new(220.0, 0.5));
    let old_rec = call.caller.recording.clone();
    call.caller.session.set_audio(io);
    call.caller.session.set_muted(false);
    let unmuted_at = Instant::now();
    call.run_for(Duration::from_millis(2500));
    call.close();
    let end = Instant::now();

    let heard = &call.callee.recording;
    let before = between(heard, muted_at - Duration::from_millis(700), muted_at);
    let during = between(heard, muted_at + Duration::from_millis(300), unmuted_at);
    let after = between(heard, unmuted_at + Duration::from_millis(1000), end);
    println!(
        "callee hears rms {:.3} before, {:.4} muted, {:.3} after",
        rms(&before),
        rms(&during),
        rms(&after)
    );
    assert!(rms(&before) > 0.2);
    assert!(rms(&during) < 0.01, "muted: {}", rms(&during));
    let tone = analyse(&after, Duration::ZERO);
    assert!((tone.frequency_hz - 220.0).abs() <= 2.0, "{tone:?}");
    assert!(tone.snr_db >= 20.0, "{tone:?}");

    // The old sink stopped getting frames at the switch; the new one got the callee's tone.
    let old_last = *old_rec
        .lock()
        .expect("recording")
        .frame_times
        .last()
        .expect("frames");
    assert!(old_last <= unmuted_at + Duration::from_millis(40));
    let new_samples = new_rec.lock().expect("recording").samples.clone();
    assert!(new_samples.len() >= 48_000 * 2, "{}", new_samples.len());
    let tone = analyse(&new_samples, Duration::from_millis(500));
    assert!((tone.frequency_hz - 880.0).abs() <= 2.0, "{tone:?}");
}

#[test]
fn playout_follows_a_stream_that_falls_behind_for_good() {
    // After 100 packets (2 s), the caller's packets reach the callee 200 ms later than
    // before, for good: every one of them would come after its turn.
    let clean = Impairment {
        seed: 3,
        loss_percent: 0.0,
        duplicate_percent: 0.0,
        base_delay: Duration::from_millis(5),
        jitter: Duration::ZERO,
    };
    let step = Route::RelayStep(clean, 100, Duration::from_millis(200));
    let (a, b) = tones();
    let mut call = start_call(a, b, step, |_| {}, |_| {});
    assert!(call.wait_connected(Duration::from_secs(5)), "not connected");
    call.run_for(Duration::from_secs(5));
    call.close();
    let stats = call.callee.session.stats();
    let samples = call.callee.samples();
    println!("{:?}; {stats:?}", snr_by_half_second(&samples));
    let j = &stats.jitter;
    assert_eq!(j.resyncs, 1, "{stats:?}");
    assert!(j.late <= 20, "{stats:?}");
    // The last two seconds are the tone again.
    let tail = &samples[samples.len() - 96_000..];
    let tone = analyse(tail, Duration::ZERO);
    assert!((tone.frequency_hz - 440.0).abs() <= 2.0, "{tone:?}");
    assert!(tone.snr_db >= 30.0, "{tone:?}");
}

/// Every candidate a side gave the other: in its description and trickled.
fn signalled(side: &Side) -> Vec<tern_media::Candidate> {
    let mut all = side.description.candidates.clone();
    all.extend(side.seen.iter().filter_map(|e| match e {
        MediaEvent::LocalCandidate(c) => Some(c.clone()),
        _ => None,
    }));
    all
}

fn relay_only(servers: Vec<IceServer>) -> CallConfig {
    CallConfig {
        ice_servers: servers,
        relay_only: true,
        ..loopback()
    }
}

/// Runs a connected call for a while, closes it and checks each side heard the other's tone.
fn hear_both(call: &mut Call, what: &str) {
    call.run_for(Duration::from_secs(4));
    let relayed_while_up = (
        call.caller.session.stats().relayed,
        call.callee.session.stats().relayed,
    );
    println!("{what}: stats say relayed (caller, callee) = {relayed_while_up:?}");
    call.close();
    for (side, expect) in [(&call.caller, 880.0), (&call.callee, 440.0)] {
        let samples = side.samples();
        let tone = analyse(&samples, SKIP);
        let stats = side.session.stats();
        println!(
            "{what}, heard {expect} Hz: {tone:?} {:?}; {stats:?}",
            snr_by_half_second(&samples)
        );
        assert!((tone.frequency_hz - expect).abs() <= 2.0, "{tone:?}");
        assert!(tone.snr_db >= 30.0, "{tone:?}");
        assert!(stats.packets_received >= 100, "{stats:?}");
        assert!(side.failure().is_none(), "{:?}", side.seen);
        assert!(side.seen.contains(&MediaEvent::Ended), "{:?}", side.seen);
    }
}

#[test]
fn relay_only_on_both_sides_through_coturn() {
    let coturn = Coturn::start();
    let caller = relay_only(vec![coturn.ice_server("caller")]);
    let callee = relay_only(vec![coturn.ice_server("callee")]);
    let (a, b) = tones();
    let mut call = start_call_each(caller, callee, a, b, Route::Direct, |_| {}, |_| {});
    assert!(call.wait_connected(Duration::from_secs(8)), "not connected");
    let connected_after = call.accepted_at.elapsed();
    for side in [&call.caller, &call.callee] {
        assert!(
            side.seen.contains(&MediaEvent::Connected { relayed: true }),
            "{:?}",
            side.seen
        );
        // Nothing but relayed candidates went to the peer, and none tells a local address.
        assert!(side.description.candidates.is_empty());
        let all = signalled(side);
        assert!(!all.is_empty());
        for c in &all {
            assert_eq!(c.kind, CandidateKind::Relayed, "{c:?}");
            assert_eq!(c.related, None, "{c:?}");
            assert_eq!(c.address.ip(), coturn.addr.ip());
            assert_ne!(c.address.port(), coturn.addr.port());
        }
    }
    assert!(call.pump(Duration::from_secs(2), |c| c.caller.first_sound().is_some()));
    let first = call.caller.first_sound().expect("sound") - call.accepted_at;
    println!(
        "relay-only both sides: connected {connected_after:?}, first sound {first:?} after accept"
    );
    assert!(first < Duration::from_secs(2), "{first:?}");
    assert!(call.caller.session.stats().relayed);
    hear_both(&mut call, "relay-only both sides");
}

#[test]
fn relay_only_caller_and_a_host_callee() {
    let coturn = Coturn::start();
    let caller = relay_only(vec![coturn.ice_server("caller")]);
    // The callee's TURN server refuses its credentials: not fatal when relays are optional.
    let callee = CallConfig {
        ice_servers: vec![turn_server(coturn.addr, "1:callee", "wrong")],
        ..loopback()
    };
    let (a, b) = tones();
    let mut call = start_call_each(caller, callee, a, b, Route::Direct, |_| {}, |_| {});
    assert!(call.wait_connected(Duration::from_secs(8)), "not connected");
    assert!(
        call.caller
            .seen
            .contains(&MediaEvent::Connected { relayed: true }),
        "{:?}",
        call.caller.seen
    );
    assert!(
        call.callee
            .seen
            .contains(&MediaEvent::Connected { relayed: false }),
        "{:?}",
        call.callee.seen
    );
    assert!(signalled(&call.caller)
        .iter()
        .all(|c| c.kind == CandidateKind::Relayed));
    let callee_kinds: Vec<_> = signalled(&call.callee).iter().map(|c| c.kind).collect();
    assert_eq!(callee_kinds, vec![CandidateKind::Host]);
    hear_both(&mut call, "relay-only caller, host callee");
}

#[test]
fn wrong_turn_credentials_fail_a_relay_only_call_cleanly() {
    let coturn = Coturn::start();
    let (username, _) = coturn.credentials("caller");
    let caller = relay_only(vec![turn_server(coturn.addr, &username, "d3JvbmcK")]);
    let (a, b) = tones();
    let mut call = start_call_each(caller, loopback(), a, b, Route::Direct, |_| {}, |_| {});
    let failed = call.pump(Duration::from_secs(5), |c| c.caller.failure().is_some());
    let after = call.accepted_at.elapsed();
    call.run_for(Duration::from_millis(300));
    let why = call.caller.failure().map(str::to_owned);
    println!("wrong credentials: {why:?} after {after:?}");
    assert!(failed, "{:?}", call.caller.seen);
    let why = why.expect("failure");
    assert!(why.contains("refused the credentials"), "{why}");
    assert!(after < Duration::from_secs(2), "{after:?}");
    // Nothing was offered to the peer and nothing reached it.
    assert!(signalled(&call.caller).is_empty(), "{:?}", call.caller.seen);
    let caller_stats = call.caller.session.stats();
    assert_eq!(caller_stats.packets_sent, 0, "{caller_stats:?}");
    assert!(!call.caller.connected());
    let callee_stats = call.callee.session.stats();
    assert_eq!(callee_stats.packets_received, 0, "{callee_stats:?}");
    assert!(!call.callee.connected());
    // The failed session has stopped: closing is prompt, and nothing else comes.
    let t = Instant::now();
    call.close();
    assert!(t.elapsed() < Duration::from_millis(500));
    assert!(!call.caller.seen.contains(&MediaEvent::Ended));
}

#[test]
fn a_junk_answering_turn_server_fails_cleanly() {
    // Junk only: nothing counts as an answer, the allocation times out. STUN-looking junk:
    // the one readable answer is an error without a code, which ends it at once.
    for (stun_looking, within) in [
        (true, Duration::from_secs(2)),
        (false, Duration::from_secs(7)),
    ] {
        let mut server = JunkServer::start(stun_looking);
        let config = relay_only(vec![turn_server(server.addr, "1:user", "pass")]);
        let backend = UdpBackend::new();
        let (io, _) = audio(ToneSource::new(440.0, 0.1));
        let (sink, rx) = events();
        let started = Instant::now();
        let (mut session, offer) = backend.offer(config, io, sink).expect("offer");
        assert!(offer.candidates.is_empty());
        let event = rx.recv_timeout(within).expect("an event");
        let took = started.elapsed();
        session.close();
        let asked = server.stop();
        println!("junk (STUN-looking {stun_looking}): {event:?} after {took:?}, {asked} requests");
        let MediaEvent::Failed(why) = event else {
            panic!("{event:?}")
        };
        assert!(why.contains("TURN server"), "{why}");
        assert!(asked >= 1);
        assert!(rx.try_recv().is_err(), "nothing after the failure");
    }
}
