//! The call peer (slixmpp + aiortc) calling itself through real servers:
//! JMI, Jingle RTP over ICE-UDP with DTLS-SRTP, bundled and not, relayed
//! by coturn, with the tones each side received analysed here.

use std::thread;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use tern_testkit::tone::{analyse, read_wav};
use tern_testkit::{
    BundlePolicy, CallEnded, CallOptions, CallPeer, Ejabberd, EjabberdOptions, ImpairOptions,
    JingleStyle, PeerOptions, Prosody, Result, SlixmppPeer, UdpImpairer,
};

const SETUP: Duration = Duration::from_secs(30);
const END: Duration = Duration::from_secs(20);
/// How long the tones play once both sides are connected.
const TALK: Duration = Duration::from_millis(2500);

struct Pair {
    caller: CallPeer,
    callee: CallPeer,
}

fn peer(jid: String, password: String, port: u16) -> Result<CallPeer> {
    CallPeer::start(PeerOptions::new(jid, password, "127.0.0.1", port))
}

fn prosody_pair(server: &Prosody) -> Result<Pair> {
    assert!(server.turn_running(), "coturn runs next to Prosody");
    let (a, pa) = server.create_user()?;
    let (b, pb) = server.create_user()?;
    let port = server.c2s_port();
    let domain = server.domain().to_owned();
    let callee = thread::spawn(move || peer(format!("{b}@{domain}"), pb, port));
    let caller = peer(format!("{a}@{}", server.domain()), pa, port)?;
    let callee = callee
        .join()
        .map_err(|_| anyhow!("starting the callee panicked"))??;
    Ok(Pair { caller, callee })
}

/// Checks that a recording holds `hz` cleanly.
fn assert_tone(ended: &CallEnded, hz: f64, who: &str) -> Result<()> {
    let path = ended
        .recording
        .as_ref()
        .unwrap_or_else(|| panic!("{who} recorded nothing: {ended:?}"));
    let (samples, rate) = read_wav(path)?;
    assert_eq!(rate, 48000);
    assert!(
        ended.recorded_seconds >= 1.5,
        "{who} recorded only {:.2} s",
        ended.recorded_seconds
    );
    // Leave out the first half second (Opus and the jitter buffer
    // settling) and the last 100 ms.
    let start = (rate as usize / 2).min(samples.len());
    let end = samples.len().saturating_sub(rate as usize / 10).max(start);
    let tone = analyse(&samples[start..end], rate)?;
    eprintln!("{who}: {tone:?} over {:.2} s", ended.recorded_seconds);
    assert!(
        (tone.freq_hz - hz).abs() <= 5.0,
        "{who} heard {:.1} Hz, not {hz} Hz ({tone:?})",
        tone.freq_hz
    );
    assert!(tone.snr_db >= 30.0, "{who}: SNR too low ({tone:?})");
    Ok(())
}

/// Calls, checks the nominated pairs with `check`, lets the tones play,
/// hangs up from the caller, and checks both recordings.
fn talk(
    pair: &Pair,
    caller_opts: &CallOptions,
    callee_opts: &CallOptions,
    check: impl Fn(&[tern_testkit::NominatedPair], &str),
) -> Result<()> {
    let started = Instant::now();
    pair.callee
        .accept_calls(callee_opts, Duration::from_millis(100))?;
    let sid = pair.caller.call(pair.callee.bare_jid(), caller_opts)?;
    for state in ["ringing", "proceeding", "initiated", "accepted"] {
        let e = pair.caller.wait_state(state, SETUP)?;
        assert_eq!(e["sid"], sid.as_str());
    }
    for state in ["ringing", "proceeding", "initiated", "accepted"] {
        let e = pair.callee.wait_state(state, SETUP)?;
        assert_eq!(e["sid"], sid.as_str());
        assert_eq!(e["role"], "callee");
    }
    let caller_pairs = pair.caller.wait_connected(SETUP)?;
    let callee_pairs = pair.callee.wait_connected(SETUP)?;
    eprintln!(
        "connected after {:?}: caller {caller_pairs:?}, callee {callee_pairs:?}",
        started.elapsed()
    );
    check(&caller_pairs, "caller");
    check(&callee_pairs, "callee");
    thread::sleep(TALK);
    pair.caller.hangup()?;
    let caller_end = pair.caller.wait_ended(END)?;
    let callee_end = pair.callee.wait_ended(END)?;
    assert_eq!(caller_end.reason, "success");
    assert!(caller_end.by_local);
    assert_eq!(callee_end.reason, "success");
    assert!(!callee_end.by_local);
    assert_eq!(callee_end.sid, sid);
    assert!(caller_end.sent_frames > 100, "{caller_end:?}");
    assert_tone(&caller_end, f64::from(callee_opts.tone_hz), "caller")?;
    assert_tone(&callee_end, f64::from(caller_opts.tone_hz), "callee")
}

fn one_pair(kind: &str) -> impl Fn(&[tern_testkit::NominatedPair], &str) + '_ {
    move |pairs, who| {
        assert_eq!(pairs.len(), 1, "{who}: one transport: {pairs:?}");
        assert_eq!(pairs[0].local.kind, kind, "{who}: {pairs:?}");
        assert!(is_like(&pairs[0].remote.kind, kind), "{who}: {pairs:?}");
    }
}

/// Whether a remote candidate is of `kind`, or peer-reflexive: a check can
/// arrive before the trickled candidate it comes from, and ICE then learns
/// that address as prflx (it is the same transport address).
fn is_like(remote: &str, kind: &str) -> bool {
    remote == kind || remote == "prflx"
}

/// Every Jingle action `peer` received, in order.
fn jingle_actions(peer: &CallPeer) -> Vec<String> {
    peer.events_so_far()
        .iter()
        .filter(|e| e["event"] == "jingle")
        .map(|e| e["action"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn bundled_call_over_host_candidates() {
    let server = Prosody::start().unwrap();
    let pair = prosody_pair(&server).unwrap();
    assert!(
        pair.caller
            .ice_servers()
            .iter()
            .any(|s| s.kind == "turn" && s.username.is_some()),
        "XEP-0215 TURN credentials: {:?}",
        pair.caller.ice_servers()
    );
    let caller = CallOptions {
        host_only: true,
        ..CallOptions::tone(440)
    };
    let callee = CallOptions {
        host_only: true,
        ..CallOptions::tone(660)
    };
    talk(&pair, &caller, &callee, one_pair("host")).unwrap();
    // Conversations' shape: a BUNDLE group, contents named "0", no
    // candidates in the offer, one candidate per transport-info.
    let offer = pair
        .callee
        .events_so_far()
        .into_iter()
        .find(|e| e["event"] == "jingle" && e["action"] == "session-initiate")
        .unwrap();
    assert_eq!(offer["summary"]["group"], serde_json::json!(["0"]));
    assert_eq!(offer["summary"]["contents"][0]["name"], "0");
    assert_eq!(
        offer["summary"]["contents"][0]["fingerprint"]["setup"],
        "actpass"
    );
    assert_eq!(
        offer["summary"]["contents"][0]["candidates"],
        serde_json::json!([])
    );
    let answer = pair
        .caller
        .events_so_far()
        .into_iter()
        .find(|e| e["event"] == "jingle" && e["action"] == "session-accept")
        .unwrap();
    assert_eq!(
        answer["summary"]["contents"][0]["fingerprint"]["setup"],
        "active"
    );
    let trickled: Vec<_> = pair
        .callee
        .events_so_far()
        .into_iter()
        .filter(|e| e["event"] == "jingle" && e["action"] == "transport-info")
        .collect();
    assert!(!trickled.is_empty());
    assert!(trickled
        .iter()
        .all(|e| e["summary"]["contents"][0]["candidates"]
            .as_array()
            .is_some_and(|c| c.len() == 1)));
    assert_eq!(
        jingle_actions(&pair.callee).last().map(String::as_str),
        Some("session-terminate")
    );
}

#[test]
fn unbundled_call_in_dinos_style() {
    let server = Prosody::start().unwrap();
    let pair = prosody_pair(&server).unwrap();
    let caller = CallOptions {
        bundle_policy: BundlePolicy::MaxCompat,
        ..CallOptions::tone(440)
    };
    let callee = CallOptions {
        bundle_policy: BundlePolicy::MaxCompat,
        ..CallOptions::tone(660)
    };
    talk(&pair, &caller, &callee, |pairs, who| {
        assert_eq!(pairs.len(), 1, "{who}: {pairs:?}");
        assert_eq!(pairs[0].content, "audio", "{who}: {pairs:?}");
    })
    .unwrap();
    let offer = pair
        .callee
        .events_so_far()
        .into_iter()
        .find(|e| e["event"] == "jingle" && e["action"] == "session-initiate")
        .unwrap();
    assert!(offer["summary"]["group"].is_null(), "{offer}");
    assert!(offer["summary"]["initiator"].is_string(), "{offer}");
    let content = &offer["summary"]["contents"][0];
    assert_eq!(content["name"], "audio");
    assert_eq!(content["senders"], "both");
    let candidates = content["candidates"].as_array().unwrap();
    assert!(candidates.iter().any(|c| c["component"] == 2), "{offer}");
    // The component-2 twins were ignored, on both sides.
    for peer in [&pair.caller, &pair.callee] {
        assert!(peer
            .events_so_far()
            .iter()
            .any(|e| e["event"] == "candidate_ignored" && e["component"] == 2));
    }
}

#[test]
fn relay_only_call_through_coturn() {
    let server = Prosody::start().unwrap();
    let pair = prosody_pair(&server).unwrap();
    let caller = CallOptions {
        relay_only: true,
        ..CallOptions::tone(440)
    };
    let callee = CallOptions {
        relay_only: true,
        ..CallOptions::tone(660)
    };
    // Both sides send from their relay: the path is relay to relay.
    talk(&pair, &caller, &callee, one_pair("relay")).unwrap();
}

/// The caller's TURN traffic crosses a [`UdpImpairer`] (delay, jitter,
/// a little loss) on its way to coturn: the tone still gets through.
#[test]
fn relay_only_call_through_an_impaired_path() {
    let server = Prosody::start().unwrap();
    let turn = ([127, 0, 0, 1], server.turn_port()).into();
    let impairer = UdpImpairer::start(
        turn,
        ImpairOptions {
            loss: 0.01,
            delay: Duration::from_millis(20),
            jitter: Duration::from_millis(5),
            seed: 42,
            ..ImpairOptions::default()
        },
    )
    .unwrap();
    let pair = prosody_pair(&server).unwrap();
    let caller = CallOptions {
        relay_only: true,
        turn_address: Some(impairer.addr()),
        style: Some(JingleStyle::Dino),
        ..CallOptions::tone(440)
    };
    let callee = CallOptions {
        relay_only: true,
        ..CallOptions::tone(660)
    };
    pair.callee
        .accept_calls(&callee, Duration::from_millis(100))
        .unwrap();
    pair.caller.call(pair.callee.bare_jid(), &caller).unwrap();
    let pairs = pair.caller.wait_connected(SETUP).unwrap();
    assert_eq!(pairs[0].local.kind, "relay", "{pairs:?}");
    pair.callee.wait_connected(SETUP).unwrap();
    thread::sleep(TALK);
    pair.callee.hangup().unwrap();
    let callee_end = pair.callee.wait_ended(END).unwrap();
    let caller_end = pair.caller.wait_ended(END).unwrap();
    assert!(!caller_end.by_local && caller_end.reason == "success");
    let stats = impairer.stats();
    assert!(stats.forwarded > 200, "{stats:?}");
    assert!(stats.lost > 0, "{stats:?}");
    // Loss concealment smears the spectrum a little: only the frequency
    // and a moderate SNR are required here.
    for (ended, hz, who) in [
        (&caller_end, 660.0, "caller"),
        (&callee_end, 440.0, "callee"),
    ] {
        let (samples, rate) = read_wav(ended.recording.as_ref().unwrap()).unwrap();
        let tone = analyse(&samples[rate as usize / 2..], rate).unwrap();
        eprintln!("{who} through the impairer: {tone:?}; {stats:?}");
        assert!((tone.freq_hz - hz).abs() <= 5.0, "{who}: {tone:?}");
        assert!(tone.snr_db >= 10.0, "{who}: {tone:?}");
    }
}

#[test]
fn call_on_ejabberd_with_its_turn_service() {
    let server = Ejabberd::start_with(EjabberdOptions {
        turn: true,
        upload: false,
        ..EjabberdOptions::default()
    })
    .unwrap();
    assert!(server.turn_running());
    let (a, pa) = server.create_user().unwrap();
    let (b, pb) = server.create_user().unwrap();
    let port = server.c2s_port();
    let domain = server.domain().to_owned();
    let pair = Pair {
        caller: peer(format!("{a}@{domain}"), pa, port).unwrap(),
        callee: peer(format!("{b}@{domain}"), pb, port).unwrap(),
    };
    assert!(
        pair.callee
            .ice_servers()
            .iter()
            .any(|s| s.kind == "turn" && s.username.is_some()),
        "mod_stun_disco hands out TURN credentials: {:?}",
        pair.callee.ice_servers()
    );
    let caller = CallOptions {
        relay_only: true,
        ..CallOptions::tone(440)
    };
    let callee = CallOptions::tone(660);
    talk(&pair, &caller, &callee, |pairs, who| {
        assert_eq!(pairs.len(), 1, "{who}: {pairs:?}");
        // The caller only has relay candidates, so every pair uses coturn.
        let kinds = [pairs[0].local.kind.as_str(), pairs[0].remote.kind.as_str()];
        assert!(kinds.contains(&"relay"), "{who}: {pairs:?}");
    })
    .unwrap();
}

#[test]
fn rejected_and_retracted_calls() {
    let server = Prosody::start().unwrap();
    let pair = prosody_pair(&server).unwrap();

    // Rejected: the callee refuses the next proposal.
    pair.callee.reject_next().unwrap();
    let sid = pair
        .caller
        .call(pair.callee.bare_jid(), &CallOptions::default())
        .unwrap();
    let caller_end = pair.caller.wait_ended(SETUP).unwrap();
    assert_eq!(caller_end.sid, sid);
    assert_eq!(caller_end.reason, "rejected");
    assert!(!caller_end.by_local);
    assert!(caller_end.recording.is_none());
    let callee_end = pair.callee.wait_ended(SETUP).unwrap();
    assert_eq!(
        (callee_end.reason.as_str(), callee_end.by_local),
        ("rejected", true)
    );
    assert!(jingle_actions(&pair.caller).is_empty(), "no Jingle session");

    // Retracted: the callee rings (by default it does not answer), then
    // the caller withdraws.
    pair.callee.ring_only().unwrap();
    let sid = pair
        .caller
        .call(pair.callee.bare_jid(), &CallOptions::default())
        .unwrap();
    pair.caller.wait_sid_state(&sid, "ringing", SETUP).unwrap();
    pair.callee.wait_sid_state(&sid, "ringing", SETUP).unwrap();
    pair.caller.retract().unwrap();
    let caller_end = pair.caller.wait_sid_ended(&sid, SETUP).unwrap();
    assert_eq!(
        (caller_end.reason.as_str(), caller_end.by_local),
        ("retracted", true)
    );
    let callee_end = pair.callee.wait_sid_ended(&sid, SETUP).unwrap();
    assert_eq!(callee_end.sid, sid);
    assert_eq!(
        (callee_end.reason.as_str(), callee_end.by_local),
        ("retracted", false)
    );
    let jmi: Vec<String> = pair
        .callee
        .events_so_far()
        .iter()
        .filter(|e| e["event"] == "jmi")
        .map(|e| e["action"].as_str().unwrap_or_default().to_owned())
        .collect();
    // The callee's reject also went to its own bare JID (for its other
    // devices), so it saw it too.
    assert_eq!(jmi, ["propose", "reject", "propose", "retract"], "{jmi:?}");
    assert!(jingle_actions(&pair.callee).is_empty(), "no Jingle session");
}

/// An offer whose fingerprint is not `setup='actpass'` is refused the way
/// Conversations refuses it: a result, then session-terminate with
/// security-error. The caller here is a plain slixmpp peer sending stanzas
/// by hand.
#[test]
fn an_offer_without_actpass_is_refused() {
    let server = Prosody::start().unwrap();
    let (a, pa) = server.create_user().unwrap();
    let (b, pb) = server.create_user().unwrap();
    let domain = server.domain().to_owned();
    let raw = SlixmppPeer::start(PeerOptions::new(
        format!("{a}@{domain}"),
        pa,
        "127.0.0.1",
        server.c2s_port(),
    ))
    .unwrap();
    let callee = peer(format!("{b}@{domain}"), pb, server.c2s_port()).unwrap();
    callee
        .accept_calls(&CallOptions::default(), Duration::ZERO)
        .unwrap();
    let sid = "kbPqM0UHsmqA1/3WlSmOAQ";
    raw.raw(&format!(
        "<message xmlns='jabber:client' type='chat' to='{to}' id='jm-propose-{sid}'>\
         <propose xmlns='urn:xmpp:jingle-message:0' id='{sid}'>\
         <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/></propose>\
         <request xmlns='urn:xmpp:receipts'/><store xmlns='urn:xmpp:hints'/></message>",
        to = callee.bare_jid()
    ))
    .unwrap();
    callee.wait_state("proceeding", SETUP).unwrap();
    let result = raw
        .iq(
            &format!(
                "<iq type='set' to='{to}'><jingle xmlns='urn:xmpp:jingle:1' \
                 action='session-initiate' sid='{sid}'><content creator='initiator' name='0'>\
                 <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>\
                 <payload-type id='111' name='opus' clockrate='48000' channels='2'/><rtcp-mux/>\
                 </description><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' \
                 ufrag='Qz8X' pwd='k2PB1Dq0hGfR8mUrWcqTnyu4'><fingerprint \
                 xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='active'>\
                 62:1F:B8:0A:5E:33:C9:47:90:D1:2A:7E:0C:B4:58:F3:16:8D:E2:49:75:AA:03:6B:CF:91:\
                 2E:D8:44:17:B0:6C</fingerprint></transport></content></jingle></iq>",
                to = callee.jid()
            ),
            SETUP,
        )
        .unwrap();
    assert_eq!(result["type"], "result", "{result}");
    let ended = callee.wait_ended(SETUP).unwrap();
    assert_eq!(ended.reason, "security-error");
    assert!(ended.by_local);
    assert!(ended.text.unwrap_or_default().contains("ACTPASS"));
    // The terminate reached the caller.
    let terminate = raw
        .wait_for(SETUP, |e| {
            e["event"] == "iq_request" && e["ns"] == "urn:xmpp:jingle:1"
        })
        .unwrap();
    assert_eq!(terminate["from"], callee.jid());
}
