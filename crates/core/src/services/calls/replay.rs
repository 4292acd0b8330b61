//! Replays of what Conversations and Dino send in a call
//! (`tests/fixtures/calls/`), delivered to the calls service through the
//! account's real handler table with no network ([`Wire`]), and a media
//! stack that only records what it is asked ([`FakeMedia`]). Each test
//! checks what Tern sends back (where, in which shape) and where the call
//! is; the hostile variants check that a peer's nonsense ends or leaves the
//! call with a clear state.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tern_media::{
    AudioIo, CallConfig, CallError, CallStats, Candidate, CandidateKind, Codec, EventSink,
    Fingerprint, MediaBackend, MediaDescription, MediaEvent, MediaSession, Setup,
};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::minidom::Element;

use super::{CallMedia, CallState, CallView, Calls};
use crate::account::wire::Wire;

const NS_JMI: &str = "urn:xmpp:jingle-message:0";
const NS_JINGLE: &str = "urn:xmpp:jingle:1";
const NS_ICE: &str = "urn:xmpp:jingle:transports:ice-udp:1";
const NS_DTLS: &str = "urn:xmpp:jingle:apps:dtls:0";
const NS_RTP: &str = "urn:xmpp:jingle:apps:rtp:1";
const NS_GROUP: &str = "urn:xmpp:jingle:apps:grouping:0";
const NS_RECEIPTS: &str = "urn:xmpp:receipts";

const ROMEO: &str = "romeo@montague.lit";
const CONVERSATIONS: &str = "romeo@montague.lit/Conversations.Xk3d";
const DINO: &str = "romeo@montague.lit/dino.5e7f1a2b";
const CONVERSATIONS_SID: &str = "kbPqM0UHsmqA1/3WlSmOAQ";
const DINO_SID: &str = "a73bd2b5-4e5c-4b8e-9a0e-5f3c7d2e1b94";
/// How long nothing more is sent before a step counts as done.
const QUIET: Duration = Duration::from_millis(150);

/// A fixture, with `{sid}` replaced by `sid`.
fn fixture(name: &str, sid: &str) -> String {
    let path = format!("{}/tests/fixtures/calls/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut xml = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .replace("{sid}", sid);
    // The notes at the top are for the reader, not the parser.
    while let Some(start) = xml.find("<!--") {
        let end = xml[start..].find("-->").expect("a closed comment") + start + 3;
        xml.replace_range(start..end, "");
    }
    xml
}

// ---------------------------------------------------------------------
// A media stack that records.

/// What the fake media stack was asked.
#[derive(Default)]
struct Asked {
    /// Configurations of the sessions started (offers and answers).
    configs: Vec<CallConfig>,
    /// The offers Tern made.
    offers: usize,
    /// The remote descriptions answered (callee).
    answered: Vec<MediaDescription>,
    /// The answers accepted (caller).
    accepted: Vec<MediaDescription>,
    /// Remote candidates handed to a session.
    candidates: Vec<Candidate>,
    /// Sessions closed.
    closed: usize,
    /// Where the last session reports.
    events: Option<EventSink>,
}

#[derive(Clone, Default)]
struct FakeMedia(Arc<Mutex<Asked>>);

impl FakeMedia {
    fn asked<R>(&self, f: impl FnOnce(&Asked) -> R) -> R {
        f(&self.0.lock().unwrap())
    }

    /// The running session reports `event`.
    fn report(&self, event: MediaEvent) {
        let sink = self.asked(|a| a.events.clone()).expect("a session");
        sink(event);
    }

    fn local(setup: Setup, payload_type: u8) -> MediaDescription {
        MediaDescription {
            ice_ufrag: "tErN".into(),
            ice_pwd: "ternternternternternte".into(),
            fingerprint: Fingerprint::from_digest("sha-256", &[0xA5; 32]),
            setup,
            codecs: vec![Codec::opus(payload_type)],
            ssrc: Some(305_419_896),
            rtcp_mux: true,
            candidates: vec![host("10.0.0.2:40000")],
        }
    }
}

fn host(addr: &str) -> Candidate {
    Candidate {
        foundation: "1a2b".into(),
        component: 1,
        protocol: "udp".into(),
        priority: 2_130_706_431,
        address: addr.parse().unwrap(),
        kind: CandidateKind::Host,
        related: None,
        generation: 0,
    }
}

struct FakeSession(FakeMedia);

impl MediaSession for FakeSession {
    fn accept_answer(&mut self, remote: &MediaDescription) -> Result<(), CallError> {
        if remote.setup == Setup::ActPass {
            return Err(CallError::Description(
                "an answer cannot say actpass".into(),
            ));
        }
        self.0 .0.lock().unwrap().accepted.push(remote.clone());
        Ok(())
    }
    fn add_remote_candidate(&mut self, candidate: Candidate) {
        self.0 .0.lock().unwrap().candidates.push(candidate);
    }
    fn set_muted(&mut self, _: bool) {}
    fn set_audio(&mut self, _: AudioIo) {}
    fn stats(&self) -> CallStats {
        CallStats::default()
    }
    fn close(&mut self) {
        self.0 .0.lock().unwrap().closed += 1;
    }
}

impl MediaBackend for FakeMedia {
    fn offer(
        &self,
        config: CallConfig,
        _: AudioIo,
        events: EventSink,
    ) -> Result<(Box<dyn MediaSession>, MediaDescription), CallError> {
        let mut a = self.0.lock().unwrap();
        a.configs.push(config);
        a.offers += 1;
        a.events = Some(events);
        Ok((
            Box::new(FakeSession(self.clone())),
            Self::local(Setup::ActPass, tern_media::call::OPUS_PAYLOAD_TYPE),
        ))
    }

    fn answer(
        &self,
        config: CallConfig,
        remote: &MediaDescription,
        _: AudioIo,
        events: EventSink,
    ) -> Result<(Box<dyn MediaSession>, MediaDescription), CallError> {
        let opus = remote
            .codecs
            .iter()
            .find(|c| c.is_opus())
            .ok_or(CallError::NoCommonCodec)?;
        let mut a = self.0.lock().unwrap();
        a.configs.push(config);
        a.answered.push(remote.clone());
        a.events = Some(events);
        Ok((
            Box::new(FakeSession(self.clone())),
            Self::local(Setup::Active, opus.payload_type),
        ))
    }
}

struct Silence;

impl tern_media::AudioSink for Silence {
    fn write(&mut self, _: &tern_media::Frame) {}
}

// ---------------------------------------------------------------------
// Tern, offline.

struct Tern {
    _dir: tempfile::TempDir,
    wire: Wire,
    media: FakeMedia,
}

impl Tern {
    /// juliet@capulet.lit with calls, Romeo in her roster.
    async fn new() -> Tern {
        let (dir, mut ctx) = crate::account::ctx::tests::ctx_with(&[]).await;
        let media = FakeMedia::default();
        ctx.calls = Arc::new(Calls::new(Some(CallMedia {
            backend: Arc::new(media.clone()),
            devices: Arc::new(|| {
                Ok(AudioIo {
                    source: Box::new(tern_media::ToneSource::new(440.0, 0.5)),
                    sink: Box::new(Silence),
                })
            }),
            bind: None,
            relay_only: false,
            lost_after: Duration::from_secs(4),
            audio_processing: false,
        })));
        ctx.store
            .upsert_roster_item(
                &ctx.account,
                &tern_store::RosterRow {
                    jid: ROMEO.into(),
                    name: Some("Romeo".into()),
                    subscription: "both".into(),
                    ask: false,
                    groups: Vec::new(),
                },
            )
            .await
            .unwrap();
        Tern {
            _dir: dir,
            wire: Wire::new(ctx),
            media,
        }
    }

    fn calls(&self) -> Arc<Calls> {
        self.wire.ctx().calls.clone()
    }

    /// The running (or last) call.
    fn call(&self) -> CallView {
        self.calls().views().into_iter().next().expect("a call")
    }

    /// Delivers a fixture; returns everything sent until Tern is quiet.
    async fn deliver(&mut self, name: &str, sid: &str) -> Vec<Element> {
        self.wire.deliver_xml(&fixture(name, sid)).await;
        self.sent().await
    }

    /// Everything sent until Tern is quiet.
    async fn sent(&mut self) -> Vec<Element> {
        self.wire.settle(QUIET).await.iter().map(element).collect()
    }

    /// Places a call to Romeo; its proposal and the call's id.
    async fn place(&mut self) -> (Vec<Element>, String) {
        let view = self
            .calls()
            .place(&self.wire.handle, &BareJid::new(ROMEO).unwrap(), Vec::new())
            .unwrap();
        (self.sent().await, view.id)
    }

    /// The stored timeline line of call `sid`.
    async fn record(&self, sid: &str) -> tern_store::MessageRow {
        for _ in 0..50 {
            let rows = self
                .wire
                .ctx()
                .store
                .timeline("juliet@capulet.lit", ROMEO, None, 20)
                .await
                .unwrap();
            if let Some(r) = rows.into_iter().find(|r| r.uid == format!("call-{sid}")) {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("call {sid} not recorded");
    }
}

fn element(s: &Stanza) -> Element {
    match s {
        Stanza::Iq(i) => i.clone().into(),
        Stanza::Message(m) => m.clone().into(),
        Stanza::Presence(p) => p.clone().into(),
    }
}

fn show(sent: &[Element]) -> String {
    sent.iter().map(String::from).collect::<Vec<_>>().join("\n")
}

/// The one stanza of `sent` that carries `child` (`name`, `ns`), at any
/// depth below the stanza's own children.
fn one<'a>(sent: &'a [Element], what: &str, pred: impl Fn(&Element) -> bool) -> &'a Element {
    let found: Vec<_> = sent.iter().filter(|e| pred(e)).collect();
    assert_eq!(found.len(), 1, "one {what} in:\n{}", show(sent));
    found[0]
}

fn jmi<'a>(m: &'a Element, name: &str) -> Option<&'a Element> {
    (m.name() == "message")
        .then(|| m.get_child(name, NS_JMI))
        .flatten()
}

fn jingle(iq: &Element, action: &str) -> Option<Element> {
    if iq.name() != "iq" || iq.attr("type") != Some("set") {
        return None;
    }
    iq.get_child("jingle", NS_JINGLE)
        .filter(|j| j.attr("action") == Some(action))
        .cloned()
}

/// The answer to the IQ `id` (a result or an error).
fn answer_to<'a>(sent: &'a [Element], id: &str) -> &'a Element {
    one(sent, &format!("answer to {id}"), |e| {
        e.name() == "iq"
            && e.attr("id") == Some(id)
            && matches!(e.attr("type"), Some("result" | "error"))
    })
}

fn is_result(iq: &Element) -> bool {
    iq.attr("type") == Some("result")
}

/// The conditions of an IQ error.
fn error_condition(iq: &Element) -> Option<String> {
    iq.get_child("error", "jabber:client")
        .and_then(|e| e.children().next())
        .map(|c| c.name().to_string())
}

/// The transports of a Jingle element's contents.
fn transports(j: &Element) -> Vec<&Element> {
    j.children()
        .filter(|c| c.is("content", NS_JINGLE))
        .filter_map(|c| c.get_child("transport", NS_ICE))
        .collect()
}

fn reason_of(j: &Element) -> Option<String> {
    j.get_child("reason", NS_JINGLE)
        .and_then(|r| r.children().find(|c| c.name() != "text"))
        .map(|c| c.name().to_string())
}

fn no_jingle_sent(sent: &[Element]) {
    assert!(
        !sent
            .iter()
            .any(|e| e.name() == "iq" && e.get_child("jingle", NS_JINGLE).is_some()),
        "no Jingle IQ: {}",
        show(sent)
    );
}

// ---------------------------------------------------------------------
// Tern is called.

#[tokio::test]
async fn conversations_calls_tern() {
    let mut t = Tern::new().await;
    let sid = CONVERSATIONS_SID;

    // The proposal rings: its receipt, then a ringing, both to the
    // caller's device; nothing of the network is revealed yet.
    let sent = t.deliver("conversations/incoming-1-propose.xml", sid).await;
    let receipt = one(&sent, "receipt", |e| {
        e.get_child("received", NS_RECEIPTS)
            .is_some_and(|r| r.attr("id") == Some(&*format!("jm-propose-{sid}")))
    });
    assert_eq!(receipt.attr("to"), Some(CONVERSATIONS));
    let ringing = one(&sent, "ringing", |e| jmi(e, "ringing").is_some());
    assert_eq!(ringing.attr("to"), Some(CONVERSATIONS));
    assert_eq!(jmi(ringing, "ringing").unwrap().attr("id"), Some(sid));
    no_jingle_sent(&sent);
    let view = t.call();
    assert_eq!(
        (
            view.id.as_str(),
            view.peer.as_str(),
            view.outgoing,
            view.state
        ),
        (sid, ROMEO, false, CallState::Ringing)
    );
    assert_eq!(t.media.asked(|a| a.configs.len()), 0, "no media yet");

    // Accepted: <accept/> to the user's own bare JID (the other devices
    // stop), <proceed/> to the caller's device.
    t.calls().accept(sid).unwrap();
    let sent = t.sent().await;
    let accept = one(&sent, "accept", |e| jmi(e, "accept").is_some());
    assert_eq!(accept.attr("to"), Some("juliet@capulet.lit"));
    let proceed = one(&sent, "proceed", |e| jmi(e, "proceed").is_some());
    assert_eq!(proceed.attr("to"), Some(CONVERSATIONS));
    assert_eq!(jmi(proceed, "proceed").unwrap().attr("id"), Some(sid));
    assert_eq!(t.call().state, CallState::Connecting);

    // A candidate that overtook the session-initiate waits for it.
    let sent = t
        .deliver("conversations/incoming-2-transport-info-early.xml", sid)
        .await;
    assert!(
        is_result(answer_to(&sent, "Jx2p8RkaT1Qe")),
        "{}",
        show(&sent)
    );
    assert_eq!(t.media.asked(|a| a.candidates.len()), 0);

    // The offer: answered with a session-accept, setup='active', the same
    // content name and creator, the BUNDLE group.
    let sent = t
        .deliver("conversations/incoming-3-session-initiate.xml", sid)
        .await;
    assert!(
        is_result(answer_to(&sent, "nD3Hq2Yx0tFb")),
        "{}",
        show(&sent)
    );
    let iq = one(&sent, "session-accept", |e| {
        jingle(e, "session-accept").is_some()
    });
    assert_eq!(iq.attr("to"), Some(CONVERSATIONS));
    let j = jingle(iq, "session-accept").unwrap();
    assert_eq!(j.attr("sid"), Some(sid));
    let contents: Vec<_> = j
        .children()
        .filter(|c| c.is("content", NS_JINGLE))
        .collect();
    assert_eq!(contents.len(), 1, "{}", String::from(&j));
    assert_eq!(
        (contents[0].attr("name"), contents[0].attr("creator")),
        (Some("0"), Some("initiator"))
    );
    let pt = contents[0]
        .get_child("description", NS_RTP)
        .and_then(|d| d.get_child("payload-type", NS_RTP))
        .expect("a payload type");
    assert_eq!(
        (pt.attr("id"), pt.attr("name")),
        (Some("111"), Some("opus"))
    );
    let fp = transports(&j)[0].get_child("fingerprint", NS_DTLS).unwrap();
    assert_eq!(fp.attr("setup"), Some("active"));
    assert_eq!(fp.attr("hash"), Some("sha-256"));
    let group = j.get_child("group", NS_GROUP).expect("BUNDLE");
    assert_eq!(group.attr("semantics"), Some("BUNDLE"));
    assert_eq!(
        group.children().map(|c| c.attr("name")).collect::<Vec<_>>(),
        vec![Some("0")]
    );
    // The media got the offer as it was: Opus 111 with its parameters,
    // the caller's SSRC and fingerprint, and the early candidate.
    let remote = t.media.asked(|a| a.answered[0].clone());
    let opus = remote.codecs.iter().find(|c| c.is_opus()).unwrap();
    assert_eq!(opus.payload_type, 111);
    assert!(opus
        .params
        .contains(&("useinbandfec".to_string(), "1".to_string())));
    assert_eq!(remote.ssrc, Some(2_467_389_155));
    assert_eq!(remote.setup, Setup::ActPass);
    assert_eq!(remote.fingerprint.value.len(), 95);
    assert_eq!(
        t.media
            .asked(|a| a.candidates.iter().map(|c| c.address).collect::<Vec<_>>()),
        vec!["192.168.1.23:48731".parse().unwrap()]
    );

    // A later candidate goes straight to the session.
    let sent = t
        .deliver("conversations/incoming-4-transport-info.xml", sid)
        .await;
    assert!(is_result(answer_to(&sent, "Vq7c0LmWn3Rs")));
    assert_eq!(t.media.asked(|a| a.candidates.len()), 2);
    assert_eq!(
        t.media.asked(|a| a.candidates[1].kind),
        CandidateKind::ServerReflexive
    );

    // Tern's own candidate found later: one transport-info, one candidate,
    // the content as the caller named it.
    t.media
        .report(MediaEvent::LocalCandidate(host("10.0.0.2:40002")));
    let sent = t.sent().await;
    let iq = one(&sent, "transport-info", |e| {
        jingle(e, "transport-info").is_some()
    });
    assert_eq!(iq.attr("to"), Some(CONVERSATIONS));
    let j = jingle(iq, "transport-info").unwrap();
    let content = j.get_child("content", NS_JINGLE).unwrap();
    assert_eq!(
        (content.attr("name"), content.attr("creator")),
        (Some("0"), Some("initiator"))
    );
    assert_eq!(
        transports(&j)[0]
            .children()
            .filter(|c| c.name() == "candidate")
            .count(),
        1
    );

    t.media.report(MediaEvent::Connected { relayed: false });
    t.sent().await;
    assert_eq!(t.call().state, CallState::Active);

    // The caller hangs up.
    let sent = t
        .deliver("conversations/incoming-5-session-terminate.xml", sid)
        .await;
    assert!(is_result(answer_to(&sent, "Tq0xW2mB7nLc")));
    no_jingle_sent(&sent);
    let view = t.call();
    assert_eq!(
        (view.state, view.ended.as_deref()),
        (CallState::Ended, Some("peer_hung_up"))
    );
    assert_eq!(t.media.asked(|a| a.closed), 1);
    let record = t.record(sid).await;
    assert!(record.body.starts_with("Incoming call · "), "{record:?}");
    assert!(record
        .call
        .as_deref()
        .is_some_and(|c| c.contains("\"peer_hung_up\"")));
}

#[tokio::test]
async fn dino_calls_tern_without_bundle() {
    let mut t = Tern::new().await;
    let sid = DINO_SID;

    // No receipt asked for: only the ringing goes back.
    let sent = t.deliver("dino/incoming-1-propose.xml", sid).await;
    assert!(
        !sent
            .iter()
            .any(|e| e.get_child("received", NS_RECEIPTS).is_some()),
        "{}",
        show(&sent)
    );
    let ringing = one(&sent, "ringing", |e| jmi(e, "ringing").is_some());
    assert_eq!(ringing.attr("to"), Some(DINO));
    assert_eq!(t.call().state, CallState::Ringing);

    t.calls().accept(sid).unwrap();
    let sent = t.sent().await;
    assert_eq!(
        one(&sent, "accept", |e| jmi(e, "accept").is_some()).attr("to"),
        Some("juliet@capulet.lit")
    );
    assert_eq!(
        one(&sent, "proceed", |e| jmi(e, "proceed").is_some()).attr("to"),
        Some(DINO)
    );

    // The offer without BUNDLE: answered with its own transport for the
    // content `audio`, no group; of the four inline candidates only the
    // two for component 1 reach the media.
    let sent = t.deliver("dino/incoming-2-session-initiate.xml", sid).await;
    assert!(is_result(answer_to(
        &sent,
        "5d1c8c1e-0b9a-4a55-9c51-7e2c2f0b8d4a"
    )));
    let iq = one(&sent, "session-accept", |e| {
        jingle(e, "session-accept").is_some()
    });
    assert_eq!(iq.attr("to"), Some(DINO));
    let j = jingle(iq, "session-accept").unwrap();
    assert!(
        j.get_child("group", NS_GROUP).is_none(),
        "{}",
        String::from(&j)
    );
    let content = j.get_child("content", NS_JINGLE).unwrap();
    assert_eq!(
        (
            content.attr("name"),
            content.attr("creator"),
            content.attr("senders").unwrap_or("both")
        ),
        (Some("audio"), Some("initiator"), "both")
    );
    assert_eq!(
        transports(&j)[0]
            .get_child("fingerprint", NS_DTLS)
            .and_then(|f| f.attr("setup")),
        Some("active")
    );
    let addrs = t
        .media
        .asked(|a| a.candidates.iter().map(|c| c.address).collect::<Vec<_>>());
    assert_eq!(
        addrs,
        vec![
            "192.168.1.42:51634".parse().unwrap(),
            "198.51.100.17:51634".parse().unwrap()
        ]
    );
    assert!(t.media.asked(|a| a.answered[0].ssrc.is_none()));

    // Its relayed candidates: the RTCP one is ignored, the RTP one taken.
    let sent = t
        .deliver("dino/incoming-3-transport-info-component-2.xml", sid)
        .await;
    assert!(is_result(answer_to(
        &sent,
        "c4e1a7b2-6d3f-4e90-8b15-9a2c7f0d3e68"
    )));
    assert_eq!(t.media.asked(|a| a.candidates.len()), 2);
    t.deliver("dino/incoming-4-transport-info-component-1.xml", sid)
        .await;
    assert_eq!(
        t.media.asked(|a| a.candidates.last().map(|c| c.address)),
        Some("203.0.113.200:61204".parse().unwrap())
    );

    t.media.report(MediaEvent::Connected { relayed: false });
    t.sent().await;
    t.deliver("dino/incoming-5-session-terminate.xml", sid)
        .await;
    assert_eq!(t.call().ended.as_deref(), Some("peer_hung_up"));
    assert_eq!(t.media.asked(|a| a.closed), 1);
}

/// A caller that gives up before an answer: a missed call, recorded.
#[tokio::test]
async fn a_retracted_call_is_missed() {
    for (propose, retract, sid) in [
        (
            "conversations/incoming-1-propose.xml",
            "conversations/incoming-retract.xml",
            CONVERSATIONS_SID,
        ),
        (
            "dino/incoming-1-propose.xml",
            "dino/incoming-retract.xml",
            DINO_SID,
        ),
    ] {
        let mut t = Tern::new().await;
        t.deliver(propose, sid).await;
        assert_eq!(t.call().state, CallState::Ringing);
        let sent = t.deliver(retract, sid).await;
        assert!(sent.is_empty(), "nothing to answer: {}", show(&sent));
        let view = t.call();
        assert_eq!(
            (view.state, view.ended.as_deref()),
            (CallState::Ended, Some("missed")),
            "{retract}"
        );
        let record = t.record(sid).await;
        assert_eq!(record.body, "Missed call");
        assert_eq!(t.media.asked(|a| a.configs.len()), 0);
    }
}

/// Declining sends a reject to the caller's device and to the user's
/// other devices.
#[tokio::test]
async fn declining_a_call_rejects_it_everywhere() {
    let mut t = Tern::new().await;
    t.deliver("conversations/incoming-1-propose.xml", CONVERSATIONS_SID)
        .await;
    t.calls().hang_up(CONVERSATIONS_SID).unwrap();
    let sent = t.sent().await;
    let mut to: Vec<_> = sent
        .iter()
        .filter(|e| jmi(e, "reject").is_some())
        .filter_map(|e| e.attr("to"))
        .collect();
    to.sort_unstable();
    assert_eq!(to, vec!["juliet@capulet.lit", CONVERSATIONS]);
    assert_eq!(t.call().ended.as_deref(), Some("declined"));
}

// ---------------------------------------------------------------------
// Tern calls.

/// Tern's offer: checked the way Conversations checks it (every content a
/// fingerprint with setup='actpass', an RTP description, ICE credentials).
fn check_offer(iq: &Element, to: &str, sid: &str) {
    assert_eq!(iq.attr("to"), Some(to));
    let j = jingle(iq, "session-initiate").unwrap();
    assert_eq!(j.attr("sid"), Some(sid));
    let contents: Vec<_> = j
        .children()
        .filter(|c| c.is("content", NS_JINGLE))
        .collect();
    assert!(!contents.is_empty());
    for c in &contents {
        let d = c.get_child("description", NS_RTP).expect("a description");
        assert_eq!(d.attr("media"), Some("audio"));
        assert!(d
            .children()
            .any(|p| p.name() == "payload-type" && p.attr("name") == Some("opus")));
        let t = c.get_child("transport", NS_ICE).expect("ICE-UDP");
        assert!(t.attr("ufrag").is_some() && t.attr("pwd").is_some());
        let fp = t.get_child("fingerprint", NS_DTLS).expect("a fingerprint");
        assert_eq!(
            (fp.attr("hash"), fp.attr("setup")),
            (Some("sha-256"), Some("actpass"))
        );
    }
    let group = j.get_child("group", NS_GROUP).expect("BUNDLE");
    assert_eq!(group.attr("semantics"), Some("BUNDLE"));
}

#[tokio::test]
async fn tern_calls_conversations() {
    let mut t = Tern::new().await;
    let (sent, sid) = t.place().await;
    // The proposal: to the bare JID (every device rings), id
    // jm-propose-<sid>, a receipt request and a store hint.
    let propose = one(&sent, "propose", |e| jmi(e, "propose").is_some());
    assert_eq!(propose.attr("to"), Some(ROMEO));
    assert_eq!(propose.attr("id"), Some(&*format!("jm-propose-{sid}")));
    assert!(propose.get_child("request", NS_RECEIPTS).is_some());
    assert!(propose.get_child("store", "urn:xmpp:hints").is_some());
    let p = jmi(propose, "propose").unwrap();
    assert_eq!(p.attr("id"), Some(&*sid));
    assert_eq!(
        p.get_child("description", NS_RTP)
            .and_then(|d| d.attr("media")),
        Some("audio")
    );
    assert_eq!(t.call().state, CallState::Calling);
    assert_eq!(t.media.asked(|a| a.offers), 0, "no media before proceed");

    // The receipt: a device rings.
    t.deliver("conversations/outgoing-1-receipt.xml", &sid)
        .await;
    assert_eq!(t.call().state, CallState::Ringing);
    // The contact's accept to its own devices changes nothing here.
    let sent = t
        .deliver("conversations/outgoing-2-accept-carbon.xml", &sid)
        .await;
    assert!(sent.is_empty(), "{}", show(&sent));
    assert_eq!(t.call().state, CallState::Ringing);

    // Its proceed: the session-initiate goes to that device.
    let sent = t
        .deliver("conversations/outgoing-3-proceed.xml", &sid)
        .await;
    let iq = one(&sent, "session-initiate", |e| {
        jingle(e, "session-initiate").is_some()
    });
    check_offer(iq, CONVERSATIONS, &sid);
    assert_eq!(t.call().state, CallState::Connecting);
    assert_eq!(t.media.asked(|a| a.offers), 1);

    // Candidates found later: one transport-info each.
    t.media
        .report(MediaEvent::LocalCandidate(host("10.0.0.2:40002")));
    t.media
        .report(MediaEvent::LocalCandidate(host("10.0.0.2:40004")));
    let sent = t.sent().await;
    let infos: Vec<_> = sent
        .iter()
        .filter_map(|e| jingle(e, "transport-info").map(|j| (e.attr("to"), j)))
        .collect();
    assert_eq!(infos.len(), 2, "{}", show(&sent));
    for (to, j) in &infos {
        assert_eq!(*to, Some(CONVERSATIONS));
        let ts = transports(j);
        assert_eq!(ts.len(), 1);
        assert_eq!(
            ts[0].children().filter(|c| c.name() == "candidate").count(),
            1
        );
    }

    // The answer goes to the media.
    let sent = t
        .deliver("conversations/outgoing-4-session-accept.xml", &sid)
        .await;
    assert!(is_result(answer_to(&sent, "Ry5wK0aP2mZc")));
    let accepted = t.media.asked(|a| a.accepted.clone());
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].setup, Setup::Active);
    assert_eq!(accepted[0].ssrc, Some(1_840_227_745));
    t.deliver("conversations/outgoing-5-transport-info.xml", &sid)
        .await;
    assert_eq!(t.media.asked(|a| a.candidates.len()), 1);
    t.media.report(MediaEvent::Connected { relayed: false });
    t.sent().await;
    assert_eq!(t.call().state, CallState::Active);

    // Tern hangs up: a session-terminate to the device and a finish to the
    // contact.
    t.calls().hang_up(&sid).unwrap();
    let sent = t.sent().await;
    let iq = one(&sent, "session-terminate", |e| {
        jingle(e, "session-terminate").is_some()
    });
    assert_eq!(iq.attr("to"), Some(CONVERSATIONS));
    assert_eq!(
        reason_of(&jingle(iq, "session-terminate").unwrap()).as_deref(),
        Some("success")
    );
    let finish = one(&sent, "finish", |e| jmi(e, "finish").is_some());
    assert_eq!(finish.attr("to"), Some(ROMEO));
    assert_eq!(t.call().ended.as_deref(), Some("hung_up"));
    let record = t.record(&sid).await;
    assert!(record.body.starts_with("Outgoing call · "), "{record:?}");
}

#[tokio::test]
async fn tern_calls_dino() {
    let mut t = Tern::new().await;
    let (_, sid) = t.place().await;
    // Dino proceeds without a receipt or ringing before.
    let sent = t.deliver("dino/outgoing-1-proceed.xml", &sid).await;
    let iq = one(&sent, "session-initiate", |e| {
        jingle(e, "session-initiate").is_some()
    });
    check_offer(iq, DINO, &sid);
    // Its answer: the RTCP candidate inline is ignored.
    t.deliver("dino/outgoing-2-session-accept.xml", &sid).await;
    assert_eq!(t.media.asked(|a| a.accepted.len()), 1);
    assert_eq!(
        t.media
            .asked(|a| a.candidates.iter().map(|c| c.address).collect::<Vec<_>>()),
        vec!["192.168.1.42:50112".parse().unwrap()]
    );
    t.media.report(MediaEvent::Connected { relayed: false });
    t.sent().await;
    t.deliver("dino/outgoing-3-session-terminate.xml", &sid)
        .await;
    let view = t.call();
    assert_eq!(
        (view.state, view.ended.as_deref()),
        (CallState::Ended, Some("peer_hung_up"))
    );
    assert_eq!(t.media.asked(|a| a.closed), 1);
}

/// A JMI finish from the contact (XEP-0353 0.7) ends a running call.
#[tokio::test]
async fn a_finish_from_the_contact_ends_the_call() {
    let mut t = Tern::new().await;
    let (_, sid) = t.place().await;
    t.deliver("conversations/outgoing-3-proceed.xml", &sid)
        .await;
    t.deliver("conversations/outgoing-4-session-accept.xml", &sid)
        .await;
    t.media.report(MediaEvent::Connected { relayed: false });
    t.sent().await;
    let sent = t.deliver("xep0353/finish.xml", &sid).await;
    assert!(sent.is_empty(), "{}", show(&sent));
    let view = t.call();
    assert_eq!(
        (view.state, view.ended.as_deref()),
        (CallState::Ended, Some("peer_hung_up"))
    );
    assert_eq!(t.media.asked(|a| a.closed), 1);
}

#[tokio::test]
async fn a_declined_call_ends_as_declined() {
    for reject in [
        "conversations/outgoing-reject.xml",
        "dino/outgoing-reject.xml",
    ] {
        let mut t = Tern::new().await;
        let (_, sid) = t.place().await;
        let sent = t.deliver(reject, &sid).await;
        no_jingle_sent(&sent);
        let view = t.call();
        assert_eq!(
            (view.state, view.ended.as_deref()),
            (CallState::Ended, Some("declined")),
            "{reject}"
        );
        assert_eq!(t.record(&sid).await.body, "Outgoing call · declined");
        assert_eq!(t.media.asked(|a| a.offers), 0);
    }
}

// ---------------------------------------------------------------------
// Hostile and malformed.

/// Tern accepted Conversations' call; `initiate` comes instead of a good
/// offer. Returns what Tern sent.
async fn accepted_then(initiate: &str) -> (Tern, Vec<Element>) {
    let mut t = Tern::new().await;
    t.deliver("conversations/incoming-1-propose.xml", CONVERSATIONS_SID)
        .await;
    t.calls().accept(CONVERSATIONS_SID).unwrap();
    t.sent().await;
    let sent = t.deliver(initiate, CONVERSATIONS_SID).await;
    (t, sent)
}

/// The call failed and the caller was told why, with `condition`.
fn failed_with(t: &Tern, sent: &[Element], condition: &str) {
    let view = t.call();
    assert_eq!(
        (view.state, view.ended.as_deref()),
        (CallState::Ended, Some("failed")),
        "{view:?}"
    );
    assert!(
        view.problem.as_deref().is_some_and(|p| !p.is_empty()),
        "{view:?}"
    );
    let iq = one(sent, "session-terminate", |e| {
        jingle(e, "session-terminate").is_some()
    });
    assert_eq!(iq.attr("to"), Some(CONVERSATIONS));
    assert_eq!(
        reason_of(&jingle(iq, "session-terminate").unwrap()).as_deref(),
        Some(condition),
        "{}",
        show(sent)
    );
    assert!(!sent.iter().any(|e| jingle(e, "session-accept").is_some()));
}

#[tokio::test]
async fn an_offer_without_actpass_is_refused_as_conversations_refuses_it() {
    let (t, sent) = accepted_then("hostile/initiate-setup-passive.xml").await;
    failed_with(&t, &sent, "security-error");
    assert!(t.call().problem.unwrap().contains("actpass"));
    assert_eq!(t.media.asked(|a| a.configs.len()), 0);
}

#[tokio::test]
async fn an_offer_without_a_fingerprint_is_refused() {
    let (t, sent) = accepted_then("hostile/initiate-no-fingerprint.xml").await;
    failed_with(&t, &sent, "security-error");
    assert_eq!(t.media.asked(|a| a.configs.len()), 0);
}

#[tokio::test]
async fn an_offer_without_opus_fails_with_the_reason() {
    let (t, sent) = accepted_then("hostile/initiate-no-opus.xml").await;
    failed_with(&t, &sent, "failed-application");
    assert!(t.call().problem.unwrap().contains("codec"));
}

#[tokio::test]
async fn an_offer_of_video_only_fails() {
    let (t, sent) = accepted_then("hostile/initiate-video-only.xml").await;
    failed_with(&t, &sent, "unsupported-applications");
}

/// Jingle that cannot be read is refused with an IQ error and leaves the
/// call as it was; so is Jingle from anyone but the call's device.
#[tokio::test]
async fn unreadable_or_foreign_jingle_is_refused_and_changes_nothing() {
    for (file, id, condition) in [
        ("hostile/jingle-no-sid.xml", "h1", "bad-request"),
        ("hostile/jingle-unknown-action.xml", "h2", "bad-request"),
        (
            "hostile/jingle-too-many-candidates.xml",
            "h3",
            "bad-request",
        ),
        (
            "hostile/initiate-from-other-resource.xml",
            "h4",
            "item-not-found",
        ),
        ("hostile/initiate-from-stranger.xml", "h5", "item-not-found"),
        ("hostile/initiate-unknown-sid.xml", "h6", "item-not-found"),
    ] {
        let (t, sent) = accepted_then(file).await;
        let answer = answer_to(&sent, id);
        assert_eq!(
            (answer.attr("type"), error_condition(answer).as_deref()),
            (Some("error"), Some(condition)),
            "{file}: {}",
            show(&sent)
        );
        no_jingle_sent(&sent);
        let view = t.call();
        assert_eq!(
            (view.state, view.ended.as_deref()),
            (CallState::Connecting, None),
            "{file}"
        );
        assert_eq!(t.media.asked(|a| a.configs.len()), 0, "{file}");
    }
}

/// JMI nonsense: a proposal without an id or from a bare JID does not
/// ring; a proceed, ringing, reject or finish from someone other than
/// the callee does not touch Tern's call.
#[tokio::test]
async fn jmi_from_the_wrong_party_changes_nothing() {
    let mut t = Tern::new().await;
    for file in [
        "hostile/propose-without-id.xml",
        "hostile/propose-from-bare-jid.xml",
    ] {
        let sent = t.deliver(file, "").await;
        assert!(sent.is_empty(), "{file}: {}", show(&sent));
        assert!(t.calls().views().is_empty(), "{file}");
    }
    let (_, sid) = t.place().await;
    for file in [
        "hostile/proceed-from-stranger.xml",
        "hostile/proceed-from-bare-jid.xml",
        "hostile/ringing-from-stranger.xml",
        "hostile/reject-from-stranger.xml",
        "hostile/finish-from-stranger.xml",
        "hostile/receipt-from-stranger.xml",
    ] {
        let sent = t.deliver(file, &sid).await;
        no_jingle_sent(&sent);
        let view = t.call();
        assert_eq!(
            (view.state, view.ended.as_deref()),
            (CallState::Calling, None),
            "{file}"
        );
    }
    assert_eq!(t.media.asked(|a| a.offers), 0);
}

/// An answer that says actpass (no DTLS role) ends Tern's call.
#[tokio::test]
async fn an_answer_without_a_dtls_role_ends_the_call() {
    let mut t = Tern::new().await;
    let (_, sid) = t.place().await;
    t.deliver("conversations/outgoing-3-proceed.xml", &sid)
        .await;
    let sent = t.deliver("hostile/accept-actpass.xml", &sid).await;
    let view = t.call();
    assert_eq!(
        (view.state, view.ended.as_deref()),
        (CallState::Ended, Some("failed"))
    );
    let iq = one(&sent, "session-terminate", |e| {
        jingle(e, "session-terminate").is_some()
    });
    assert_eq!(
        reason_of(&jingle(iq, "session-terminate").unwrap()).as_deref(),
        Some("failed-application")
    );
    assert_eq!(t.media.asked(|a| (a.accepted.len(), a.closed)), (0, 1));
}

/// The media failing (a refused TURN allocation, a lost connection) ends
/// the call with the reason, tells the peer, and records it.
#[tokio::test]
async fn a_media_failure_ends_the_call_and_tells_the_peer() {
    for (why, words) in [
        (
            "the TURN server 127.0.0.1:3478 refused the credentials (401 Unauthorized)",
            "relay",
        ),
        ("connection lost", "connection to the other side was lost"),
    ] {
        let mut t = Tern::new().await;
        let (_, sid) = t.place().await;
        t.deliver("conversations/outgoing-3-proceed.xml", &sid)
            .await;
        t.deliver("conversations/outgoing-4-session-accept.xml", &sid)
            .await;
        t.media.report(MediaEvent::Failed(why.into()));
        let sent = t.sent().await;
        let view = t.call();
        assert_eq!(view.ended.as_deref(), Some("failed"));
        assert!(
            view.problem.as_deref().is_some_and(|p| p.contains(words)),
            "{view:?}"
        );
        let iq = one(&sent, "session-terminate", |e| {
            jingle(e, "session-terminate").is_some()
        });
        assert_eq!(iq.attr("to"), Some(CONVERSATIONS));
        assert_eq!(
            reason_of(&jingle(iq, "session-terminate").unwrap()).as_deref(),
            Some("connectivity-error")
        );
        assert_eq!(t.record(&sid).await.body, "Call failed");
        // The peer's candidate crossed the terminate: acknowledged, so the
        // peer learns why from the terminate rather than from an error.
        let sent = t
            .deliver("conversations/outgoing-5-transport-info.xml", &sid)
            .await;
        assert!(
            is_result(answer_to(&sent, "Pw3nK8xQ1vZe")),
            "{}",
            show(&sent)
        );
        no_jingle_sent(&sent);
    }
}
