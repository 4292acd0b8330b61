//! One-to-one voice calls: the signalling (XEP-0353 Jingle Message
//! Initiation, then a XEP-0166 Jingle session with an RTP audio content over
//! ICE-UDP and DTLS-SRTP) that drives the media stack the shell gives
//! ([`CallMedia`]: `tern_media`'s `MediaBackend` and the sound devices).
//! The media crate knows nothing of XMPP; `map` turns Jingle contents into
//! its descriptions and back.
//!
//! One call at a time, for all accounts ([`Calls`] is shared like the file
//! transfers). A call goes:
//!
//! - **outgoing**: a proposal to the contact's bare JID (every device of
//!   theirs rings; `calling`), `ringing` once a device says so (a
//!   `<ringing/>`, or the receipt Conversations sends), then the device
//!   that proceeds gets the session-initiate (`connecting`): Opus, the ICE
//!   credentials, the DTLS fingerprint with `setup='actpass'`, this
//!   device's candidates, and BUNDLE; its session-accept sets up the media;
//!   `active` once ICE and DTLS are up.
//! - **incoming**: a proposal from a contact (a stranger's is not rung: it
//!   is answered with a reject and recorded in their conversation as a
//!   `stranger` call, unread, for the user to add them) rings here (`ringing`; the receipt and a
//!   `<ringing/>` go back); accepting sends `<accept/>` to the user's other
//!   devices (they stop ringing) and `<proceed/>` to the caller's device,
//!   whose session-initiate is answered with a session-accept
//!   (`setup='active'`). Declining sends `<reject/>`. A proposal while
//!   another call runs gets a reject with `busy`.
//!
//! Candidates found later trickle, one per transport-info; the peer's
//! early ones wait for the session. Nothing of the network is revealed
//! before the user placed or accepted the call: the media stack (and its
//! candidates) starts at proceed, or at the session-initiate after the
//! user accepted. A call that fails (no common codec, a fingerprint that
//! does not match, ICE that never connects) ends with a session-terminate
//! that says why, and the call's view says it in words.
//!
//! In a conversation encrypted with OMEMO the fingerprints travel
//! encrypted with the session of the device in the call (`omemo`), so no
//! server can put itself in the middle; the view says whether the device
//! that vouched for the other side's fingerprint is verified.

mod map;
mod omemo;
#[cfg(test)]
mod replay;

pub use omemo::CallVerification;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tern_media::{AudioIo, CallConfig, MediaBackend, MediaDescription, MediaEvent, MediaSession};
use tokio::sync::mpsc;
use tokio_xmpp::Stanza;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::Message;
use xmpp_parsers::stanza_error::DefinedCondition;

use crate::account::router::{IqAnswer, IqRequest};
use crate::account::AccountHandle;
use crate::events::ClientEvent;
use crate::xep::jingle::{self, Action, Condition, Content, Creator, Group, JingleIq, Media};
use crate::xep::jingle_message::{self as jmi, Jmi, JmiKind};

/// What calls need from the shell: the media stack and the sound devices.
#[derive(Clone)]
pub struct CallMedia {
    /// ICE, DTLS-SRTP and RTP with Opus (`tern_media::UdpBackend`).
    pub backend: Arc<dyn MediaBackend>,
    /// Opens the sound devices for a call (the microphone and speakers the
    /// user chose; tests give a tone and a recording).
    pub devices: Arc<dyn Fn() -> Result<AudioIo, String> + Send + Sync>,
    /// Host candidates on this address only (loopback in tests); all
    /// interfaces when `None`.
    pub bind: Option<std::net::IpAddr>,
    /// Only relayed paths (through the user's server's TURN relay): the
    /// other side never learns this device's addresses.
    pub relay_only: bool,
    /// How long the media may take to connect, and stay cut off once
    /// connected, before the call fails (20 s in the app).
    pub lost_after: std::time::Duration,
    /// Echo cancellation, noise suppression and gain control on the
    /// microphone (`true` for real devices; tests sending a pure tone turn
    /// it off, as noise suppression removes steady tones).
    pub audio_processing: bool,
}

impl std::fmt::Debug for CallMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallMedia")
            .field("bind", &self.bind)
            .field("audio_processing", &self.audio_processing)
            .finish()
    }
}

/// Features a peer's client must announce for Tern to offer a call
/// (what Conversations checks before it shows its call button, too).
pub(crate) const CALL_FEATURES: &[&str] = &[
    jingle::NS_JINGLE,
    jingle::NS_RTP,
    "urn:xmpp:jingle:apps:rtp:audio",
    jingle::NS_ICE_UDP,
    jingle::NS_DTLS,
    jmi::NS_JMI,
];

/// Whether a client announcing `features` takes voice calls.
pub(crate) fn takes_calls(features: &[String]) -> bool {
    CALL_FEATURES
        .iter()
        .all(|f| features.iter().any(|g| g == f))
}

/// How long a call rings before it counts as missed (Conversations gives
/// up after 60 s too).
const RING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// How long a call may take from proceed to connected.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Most candidates of the peer kept before the session exists.
const MAX_EARLY: usize = 64;
/// Most calls kept in the list of ended ones (for the UI's last state).
const MAX_ENDED: usize = 16;
/// Most strangers remembered for [`STRANGER_EVERY`].
const MAX_STRANGERS: usize = 64;
/// A stranger's calls are recorded at most once in this while.
const STRANGER_EVERY: i64 = 60_000;

/// Where a call is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// Outgoing: proposed, no device of the contact said it rings yet.
    Calling,
    /// Outgoing: a device of the contact rings. Incoming: ringing here.
    Ringing,
    /// Accepted: the session and the media are being set up.
    Connecting,
    /// Audio flows.
    Active,
    /// Over (`CallView::ended` says how).
    Ended,
}

/// A call as the UI shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CallView {
    /// Account.
    pub account: String,
    /// The call's id (the Jingle session id).
    pub id: String,
    /// The contact (bare JID).
    pub peer: String,
    /// The user placed the call.
    pub outgoing: bool,
    /// Where it is.
    pub state: CallState,
    /// How it ended: `hung_up` (by the user), `peer_hung_up`, `declined`
    /// (by the user, or by the contact for an outgoing call), `busy`,
    /// `missed` (nobody answered, or the caller gave up), `cancelled` (the
    /// user gave up before an answer), `answered_elsewhere`,
    /// `declined_elsewhere` (on another device of the user's), `failed`
    /// (`problem` says why). (`stranger` is only a timeline record's
    /// outcome: such a call never becomes a `CallView` event.)
    pub ended: Option<String>,
    /// Why it failed, in words a person can act on.
    pub problem: Option<String>,
    /// The microphone is muted.
    pub muted: bool,
    /// The audio goes through a relay (TURN).
    pub relayed: bool,
    /// `good` or `poor` (packet loss above 5 %), once audio flows.
    pub quality: Option<String>,
    /// When it was placed or began to ring (ms since the epoch).
    pub started_ms: i64,
    /// When audio began to flow.
    pub connected_ms: Option<i64>,
    /// When it ended.
    pub ended_ms: Option<i64>,
    /// Whether the other side's DTLS fingerprint came encrypted with OMEMO,
    /// and by a device the user verified (the call bar's lock).
    pub verification: CallVerification,
    /// The key fingerprint of the contact's OMEMO device that vouched for
    /// it (8 groups of 8 hex characters), once one did.
    pub omemo_fingerprint: Option<String>,
}

impl CallView {
    /// A call placed or ringing now (the engine's, and the shell's tests').
    pub fn starting(
        account: String,
        id: String,
        peer: String,
        outgoing: bool,
        state: CallState,
    ) -> Self {
        CallView {
            account,
            id,
            peer,
            outgoing,
            state,
            ended: None,
            problem: None,
            muted: false,
            relayed: false,
            quality: None,
            started_ms: now_ms(),
            connected_ms: None,
            ended_ms: None,
            verification: CallVerification::None,
            omemo_fingerprint: None,
        }
    }
}

/// The calls of every account: the one running, and the last ones ended.
#[derive(Default)]
pub(crate) struct Calls {
    media: Option<CallMedia>,
    inner: Mutex<Inner>,
    /// Call signalling leaves in the order it was made (see [`Outbox`]).
    outbox: std::sync::OnceLock<mpsc::UnboundedSender<Outgoing>>,
}

impl std::fmt::Debug for Calls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Calls")
            .field("media", &self.media.is_some())
            .finish()
    }
}

#[derive(Default)]
struct Inner {
    current: Option<Call>,
    ended: VecDeque<CallView>,
    /// Strangers whose call was recorded lately, and when (at most
    /// [`MAX_STRANGERS`]): one who calls again and again leaves one line a
    /// minute, not one per proposal.
    strangers: VecDeque<(String, i64)>,
}

/// How long after a call ended a Jingle IQ of its session is still
/// acknowledged (it crossed the session-terminate).
const CROSSING: std::time::Duration = std::time::Duration::from_secs(10);

/// The running call.
struct Call {
    view: CallView,
    handle: AccountHandle,
    /// The contact's device in the call (the proposal's sender, or the
    /// device that proceeded).
    device: Option<Jid>,
    /// The media, once set up.
    session: Option<Box<dyn MediaSession>>,
    /// This side's description (for trickled candidates).
    local: Option<MediaDescription>,
    /// The audio content's name and creator.
    content: Option<(String, Creator)>,
    /// The peer's candidates that came before the session.
    early: Vec<tern_media::Candidate>,
    /// This side's trickled candidates held back while the answer is being
    /// encrypted (`None`: trickled at once), so none overtakes the answer.
    held: Option<Vec<JingleIq>>,
    /// The user accepted (incoming): a session-initiate is expected.
    accepted: bool,
    /// The STUN and TURN servers the user's server names (XEP-0215).
    ice_servers: Vec<tern_media::IceServer>,
    /// OMEMO in this call (`omemo`).
    omemo: CallOmemo,
}

/// What a call knows of OMEMO.
#[derive(Debug, Default)]
struct CallOmemo {
    /// Incoming, in an encrypted conversation: this device's id, named in
    /// the proceed.
    own_device: Option<u32>,
    /// The contact's device whose session carries the fingerprints (the
    /// one its proceed named, or the one that encrypted its offer).
    peer_device: Option<u32>,
    /// Tern's offer went encrypted: the answer must be too.
    sent_sealed: bool,
    /// The other side's fingerprints are being opened: candidates wait.
    opening: bool,
}

impl Calls {
    /// With the shell's media stack (`None`: calls are not offered, and
    /// proposals are not rung).
    pub(crate) fn new(media: Option<CallMedia>) -> Self {
        Calls {
            media,
            inner: Mutex::default(),
            outbox: std::sync::OnceLock::new(),
        }
    }

    /// Whether this client can make calls (and says so in disco).
    pub(crate) fn available(&self) -> bool {
        self.media.is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The running call and the last ended ones, newest first.
    pub(crate) fn views(&self) -> Vec<CallView> {
        let inner = self.lock();
        inner
            .current
            .iter()
            .map(|c| c.view.clone())
            .chain(inner.ended.iter().cloned())
            .collect()
    }
}

fn now_ms() -> i64 {
    crate::account::ctx::now_ms()
}

/// A new session id: 16 random bytes in unpadded base64, as Conversations
/// makes them (with `-` and `_` for `+` and `/`, which some peers mangle).
fn new_sid() -> String {
    use base64::Engine;
    let bytes: [u8; 16] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn call_error(code: &str, message: impl Into<String>) -> crate::Error {
    crate::Error::Call {
        code: code.to_string(),
        message: message.into(),
    }
}

/// What the call signalling sends, in order.
enum Outgoing {
    Stanzas(AccountHandle, Vec<Stanza>),
    Jingle {
        handle: AccountHandle,
        to: Jid,
        j: Box<JingleIq>,
        ends: bool,
    },
}

/// The queue every call stanza goes through. One task hands them to the
/// account task in the order they were made, so a trickled candidate or a
/// session-terminate never overtakes the session-initiate it follows (a
/// peer refuses a transport-info for a session it does not know yet).
/// IQ answers are awaited apart, so a slow answer holds nothing up.
fn outbox(calls: &Arc<Calls>) -> &mpsc::UnboundedSender<Outgoing> {
    calls.outbox.get_or_init(|| {
        let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
        let weak = Arc::downgrade(calls);
        tokio::spawn(async move {
            while let Some(out) = rx.recv().await {
                match out {
                    Outgoing::Stanzas(handle, stanzas) => {
                        for s in stanzas {
                            if let Err(e) = handle.send(s).await {
                                tracing::info!("call signalling not sent: {e}");
                            }
                        }
                    }
                    Outgoing::Jingle {
                        handle,
                        to,
                        j,
                        ends,
                    } => {
                        let answer = handle.request_queued(jingle::jingle_iq(to, &j)).await;
                        let Some(calls) = weak.upgrade() else {
                            continue;
                        };
                        tokio::spawn(async move {
                            let answer = match answer {
                                Ok(waiting) => waiting.await,
                                Err(e) => Err(e),
                            };
                            jingle_answered(&calls, &j, ends, answer);
                        });
                    }
                }
            }
        });
        tx
    })
}

/// Sends stanzas from outside the account task.
fn send_all(calls: &Arc<Calls>, handle: &AccountHandle, stanzas: Vec<Stanza>) {
    if stanzas.is_empty() {
        return;
    }
    let _ = outbox(calls).send(Outgoing::Stanzas(handle.clone(), stanzas));
}

/// Sends a Jingle IQ; a refusal (or no answer) ends the call with
/// `problem`.
fn send_jingle(calls: &Arc<Calls>, handle: &AccountHandle, to: Jid, j: JingleIq, ends: bool) {
    let _ = outbox(calls).send(Outgoing::Jingle {
        handle: handle.clone(),
        to,
        j: Box::new(j),
        ends,
    });
}

/// The answer to a Jingle IQ: a refusal (or none) of one that `ends` the
/// call when refused ends it.
fn jingle_answered(calls: &Arc<Calls>, j: &JingleIq, ends: bool, answer: crate::Result<Iq>) {
    let action = j.action;
    let sid = &j.sid;
    match answer {
        Ok(Iq::Error { error, .. }) if ends => {
            let why = format!(
                "The other side refused the call setup ({:?}).",
                error.defined_condition
            );
            end(calls, sid, "failed", Some(why), None);
        }
        Ok(_) => {}
        Err(e) if ends && !matches!(action, Action::SessionTerminate) => {
            end(
                calls,
                sid,
                "failed",
                Some(format!("The call could not be set up: {e}")),
                None,
            );
        }
        Err(e) => tracing::info!("{action:?} not answered: {e}"),
    }
}

fn emit(handle: &AccountHandle, view: &CallView) {
    handle
        .ctx()
        .hub
        .emit(ClientEvent::Call { call: view.clone() });
}

/// Ends the call `sid` (if it is the running one): the media stops, the
/// view says how, and `terminate` (a Jingle reason) goes to the peer.
fn end(
    calls: &Arc<Calls>,
    sid: &str,
    how: &str,
    problem: Option<String>,
    terminate: Option<(Condition, Option<String>)>,
) {
    let call = {
        let mut inner = calls.lock();
        match &inner.current {
            Some(c) if c.view.id == sid => inner.current.take(),
            _ => None,
        }
    };
    let Some(mut call) = call else { return };
    if let Some(mut s) = call.session.take() {
        s.close();
    }
    if let (Some((condition, text)), Some(device)) = (terminate, call.device.clone()) {
        let j = JingleIq::terminate(sid, condition, text.as_deref());
        send_jingle(calls, &call.handle, device, j, false);
    }
    call.view.state = CallState::Ended;
    call.view.ended = Some(how.to_string());
    call.view.problem = problem;
    call.view.ended_ms = Some(now_ms());
    tracing::info!(
        account = %call.view.account,
        sid,
        how,
        problem = ?call.view.problem,
        "call ended"
    );
    emit(&call.handle, &call.view);
    record(&call.handle, &call.view);
    let mut inner = calls.lock();
    inner.ended.push_front(call.view);
    inner.ended.truncate(MAX_ENDED);
}

/// How a call from someone not in the roster ends (`CallView::ended`,
/// `CallRecord::outcome`): refused to the caller and never rung, only
/// recorded in their conversation.
pub(crate) const STRANGER: &str = "stranger";

/// What the timeline says of an ended call, in words (the record's text
/// for search, previews and notifications).
pub(crate) fn summary(v: &CallView) -> String {
    let duration = match (v.connected_ms, v.ended_ms) {
        (Some(a), Some(b)) if b >= a => {
            let s = (b - a) / 1000;
            Some(format!("{}:{:02}", s / 60, s % 60))
        }
        _ => None,
    };
    let kind = if v.outgoing {
        "Outgoing call"
    } else {
        "Incoming call"
    };
    if let Some(d) = duration {
        return format!("{kind} · {d}");
    }
    match (v.ended.as_deref(), v.outgoing) {
        (Some("failed"), _) => "Call failed".into(),
        (Some("missed"), true) => "Outgoing call · no answer".into(),
        (Some("declined"), true) => "Outgoing call · declined".into(),
        (Some("busy"), true) => "Outgoing call · busy".into(),
        (Some("cancelled"), _) => "Cancelled call".into(),
        (Some("missed" | "busy"), false) => "Missed call".into(),
        (Some("declined" | "declined_elsewhere"), false) => "Declined call".into(),
        (Some("answered_elsewhere"), false) => "Answered on another device".into(),
        (Some(STRANGER), false) => format!(
            "Call from {} — add them to your contacts to take their calls",
            v.peer
        ),
        _ => kind.into(),
    }
}

/// Records an ended call in the conversation with the contact: a line of
/// the timeline (a missed call, and a stranger's, counts as unread).
fn record(handle: &AccountHandle, v: &CallView) {
    let ctx = handle.ctx().clone();
    let record = crate::events::CallRecord {
        outcome: v.ended.clone().unwrap_or_default(),
        duration_ms: match (v.connected_ms, v.ended_ms) {
            (Some(a), Some(b)) if b >= a => Some(b - a),
            _ => None,
        },
    };
    let missed = !v.outgoing && matches!(v.ended.as_deref(), Some("missed" | STRANGER));
    let m = tern_store::NewMessage {
        account: ctx.account.clone(),
        peer: v.peer.clone(),
        direction: if v.outgoing {
            tern_store::Direction::Outgoing
        } else {
            tern_store::Direction::Incoming
        },
        sender: if v.outgoing {
            ctx.account.clone()
        } else {
            v.peer.clone()
        },
        uid: format!("call-{}", v.id),
        msg_id: None,
        archive_id: None,
        archive_by: None,
        kind: tern_store::ConversationKind::Chat,
        body: summary(v),
        timestamp_ms: v.started_ms,
        state: if v.outgoing {
            tern_store::MessageState::Acked
        } else {
            tern_store::MessageState::Received
        },
        reply_to: None,
        coarse_time: false,
        mention: false,
        occupant_id: None,
        file: None,
        encrypted: false,
        decrypt_error: None,
        omemo_retry: None,
        omemo_sender: None,
        call: serde_json::to_string(&record).ok(),
    };
    tokio::spawn(async move {
        match ctx.store.insert_message(&m, None, missed).await {
            Ok(tern_store::Stored::Inserted(row)) => {
                ctx.hub.emit(ClientEvent::Message {
                    message: row.into(),
                });
                crate::inbound::emit_conversation(&ctx, &m.peer).await;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("the call was not recorded: {e}"),
        }
    });
}

/// Changes the running call `sid` (if it is the running one) and tells the
/// UI.
fn update(calls: &Calls, sid: &str, f: impl FnOnce(&mut Call)) {
    let mut inner = calls.lock();
    if let Some(c) = inner.current.as_mut().filter(|c| c.view.id == sid) {
        let before = c.view.clone();
        f(c);
        if c.view != before {
            emit(&c.handle, &c.view);
        }
    }
}

/// Ends the call when it still rings (or connects) after `after`.
fn end_if_still(
    calls: &Arc<Calls>,
    sid: &str,
    states: &'static [CallState],
    after: std::time::Duration,
) {
    let calls = calls.clone();
    let sid = sid.to_string();
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        let (state, outgoing) = {
            let inner = calls.lock();
            match &inner.current {
                Some(c) if c.view.id == sid => (c.view.state, c.view.outgoing),
                _ => return,
            }
        };
        if !states.contains(&state) {
            return;
        }
        match state {
            CallState::Calling | CallState::Ringing if outgoing => {
                retract(&calls, &sid);
                end(
                    &calls,
                    &sid,
                    "missed",
                    Some("Nobody answered.".into()),
                    None,
                );
            }
            CallState::Ringing => end(&calls, &sid, "missed", None, None),
            _ => end(
                &calls,
                &sid,
                "failed",
                Some("The call could not connect: no network path to the other side.".into()),
                Some((Condition::ConnectivityError, None)),
            ),
        }
    });
}

/// Sends a retract for the proposal `sid` (outgoing, unanswered).
fn retract(calls: &Arc<Calls>, sid: &str) {
    let inner = calls.lock();
    let Some(c) = inner.current.as_ref().filter(|c| c.view.id == sid) else {
        return;
    };
    let Ok(to) = BareJid::new(&c.view.peer) else {
        return;
    };
    let j = Jmi {
        sid: sid.to_string(),
        kind: JmiKind::Retract {
            reason: Some(jingle::Reason::new(Condition::Cancel)),
            tie_break: false,
        },
    };
    send_all(
        calls,
        &c.handle,
        vec![Stanza::Message(jmi::message(to.into(), &j))],
    );
}

/// The media configuration of a call.
fn config(media: &CallMedia, ice_servers: Vec<tern_media::IceServer>) -> CallConfig {
    CallConfig {
        bind: media.bind,
        relay_only: media.relay_only,
        connect_timeout: media.lost_after,
        ice_servers,
        audio_processing: media.audio_processing,
        ..CallConfig::default()
    }
}

/// How long the user's server may take to name its STUN and TURN servers.
const SERVICES_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The STUN and TURN servers (with credentials) the user's server names
/// (XEP-0215); none if it names none or does not answer in time. Must not
/// run inside the account task (it waits for an answer).
pub(crate) async fn ice_servers(handle: &AccountHandle) -> Vec<tern_media::IceServer> {
    let domain = handle.ctx().own.domain().to_string();
    let Ok(server) = Jid::new(&domain) else {
        return Vec::new();
    };
    let answer = tokio::time::timeout(
        SERVICES_TIMEOUT,
        handle.request(crate::xep::extdisco::request(server)),
    )
    .await;
    let services = match answer {
        Ok(Ok(Iq::Result {
            payload: Some(p), ..
        })) => crate::xep::extdisco::read(&p),
        Ok(Ok(_)) | Ok(Err(_)) | Err(_) => Vec::new(),
    };
    tracing::debug!(account = %handle.ctx().account, services = services.len(), "STUN and TURN servers");
    services
        .into_iter()
        .map(|s| tern_media::IceServer {
            stun: s.stun,
            host: s.host,
            port: s.port,
            username: s.username,
            password: s.password,
        })
        .collect()
}

/// What the media stack reports, handled on its own task.
fn media_events(calls: &Arc<Calls>, sid: &str) -> tern_media::EventSink {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let calls = calls.clone();
    let sid = sid.to_string();
    tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            on_media_event(&calls, &sid, event);
        }
    });
    Arc::new(move |e: MediaEvent| {
        let _ = tx.send(e);
    })
}

fn on_media_event(calls: &Arc<Calls>, sid: &str, event: MediaEvent) {
    match event {
        MediaEvent::LocalCandidate(c) => {
            let mut inner = calls.lock();
            let Some(call) = inner.current.as_mut().filter(|c| c.view.id == sid) else {
                return;
            };
            let (Some(device), Some(local), Some((name, creator))) = (
                call.device.clone(),
                call.local.as_ref(),
                call.content.clone(),
            ) else {
                return;
            };
            let j = JingleIq::transport_info(sid, &name, creator, map::trickle_of(local, &c));
            if let Some(held) = call.held.as_mut() {
                held.push(j);
                return;
            }
            let handle = call.handle.clone();
            drop(inner);
            send_jingle(calls, &handle, device, j, false);
        }
        MediaEvent::Connected { relayed } => update(calls, sid, |c| {
            c.view.state = CallState::Active;
            c.view.relayed = relayed;
            c.view.connected_ms.get_or_insert_with(now_ms);
        }),
        MediaEvent::Quality { loss_percent, .. } => update(calls, sid, |c| {
            c.view.quality = Some(if loss_percent > 5.0 { "poor" } else { "good" }.into());
        }),
        MediaEvent::Failed(why) => {
            let security = why.contains("certificate") || why.contains("fingerprint");
            let vouched =
                calls.lock().current.as_ref().is_some_and(|c| {
                    c.view.id == sid && c.view.verification != CallVerification::None
                });
            let (condition, text) = if security && vouched {
                (
                    Condition::SecurityError,
                    "The other side's encryption key did not match the one its OMEMO device vouched for: the call was stopped.".to_string(),
                )
            } else if security {
                (
                    Condition::SecurityError,
                    "The other side's encryption key did not match the one it announced: the call was stopped.".to_string(),
                )
            } else if why.contains("TURN server") {
                (
                    Condition::ConnectivityError,
                    format!("The call could not go through your server's relay: {why}."),
                )
            } else {
                (
                    Condition::ConnectivityError,
                    "The connection to the other side was lost.".to_string(),
                )
            };
            end(
                calls,
                sid,
                "failed",
                Some(text),
                Some((condition, Some(why))),
            );
        }
        MediaEvent::Ended => {}
    }
}

impl Calls {
    /// Places a call to `peer` from the account of `handle`.
    pub(crate) fn place(
        self: &Arc<Self>,
        handle: &AccountHandle,
        peer: &BareJid,
        ice_servers: Vec<tern_media::IceServer>,
    ) -> crate::Result<CallView> {
        if self.media.is_none() {
            return Err(call_error(
                "unavailable",
                "Calls are not available in this build of Tern.",
            ));
        }
        if *peer == handle.ctx().own {
            return Err(call_error(
                "own_account",
                "You cannot call your own account.",
            ));
        }
        let sid = new_sid();
        let view = CallView::starting(
            handle.ctx().account.clone(),
            sid.clone(),
            peer.to_string(),
            true,
            CallState::Calling,
        );
        {
            let mut inner = self.lock();
            if inner.current.is_some() {
                return Err(call_error("busy", "Another call is running: end it first."));
            }
            inner.current = Some(Call {
                view: view.clone(),
                handle: handle.clone(),
                device: None,
                session: None,
                local: None,
                content: None,
                early: Vec::new(),
                held: None,
                accepted: false,
                ice_servers,
                omemo: CallOmemo::default(),
            });
        }
        let j = Jmi {
            sid: sid.clone(),
            kind: JmiKind::Propose {
                media: vec![Media::Audio],
                unsupported: false,
            },
        };
        send_all(
            self,
            handle,
            vec![Stanza::Message(jmi::message(peer.clone().into(), &j))],
        );
        emit(handle, &view);
        end_if_still(
            self,
            &sid,
            &[CallState::Calling, CallState::Ringing],
            RING_TIMEOUT,
        );
        Ok(view)
    }

    /// Accepts the incoming call `sid`.
    pub(crate) fn accept(self: &Arc<Self>, sid: &str) -> crate::Result<()> {
        let mut inner = self.lock();
        let call = inner
            .current
            .as_mut()
            .filter(|c| c.view.id == sid && !c.view.outgoing && c.view.state == CallState::Ringing)
            .ok_or_else(|| call_error("no_call", "This call is no longer ringing."))?;
        let device = call
            .device
            .clone()
            .ok_or(crate::Error::Internal("a call without a caller"))?;
        call.accepted = true;
        call.view.state = CallState::Connecting;
        let own: Jid = call.handle.ctx().own.clone().into();
        let accept = Jmi {
            sid: sid.to_string(),
            kind: JmiKind::Accept,
        };
        let proceed = Jmi {
            sid: sid.to_string(),
            kind: JmiKind::Proceed {
                omemo_device: call.omemo.own_device,
            },
        };
        send_all(
            self,
            &call.handle,
            vec![
                Stanza::Message(jmi::message(own, &accept)),
                Stanza::Message(jmi::message(device, &proceed)),
            ],
        );
        emit(&call.handle, &call.view);
        drop(inner);
        end_if_still(self, sid, &[CallState::Connecting], CONNECT_TIMEOUT);
        Ok(())
    }

    /// Declines the incoming call `sid`, or ends the running one (a
    /// proposal not answered yet is withdrawn).
    pub(crate) fn hang_up(self: &Arc<Self>, sid: &str) -> crate::Result<()> {
        let (state, outgoing, handle, device, peer) = {
            let inner = self.lock();
            let c = inner
                .current
                .as_ref()
                .filter(|c| c.view.id == sid)
                .ok_or_else(|| call_error("no_call", "This call is over."))?;
            (
                c.view.state,
                c.view.outgoing,
                c.handle.clone(),
                c.device.clone(),
                c.view.peer.clone(),
            )
        };
        match (state, outgoing) {
            (CallState::Calling | CallState::Ringing, true) => {
                retract(self, sid);
                end(self, sid, "cancelled", None, None);
            }
            (CallState::Ringing, false) => {
                let reject = Jmi {
                    sid: sid.to_string(),
                    kind: JmiKind::Reject {
                        reason: Some(jingle::Reason::new(Condition::Decline)),
                        tie_break: false,
                    },
                };
                let own: Jid = handle.ctx().own.clone().into();
                let mut out = vec![Stanza::Message(jmi::message(own, &reject))];
                if let Some(d) = device {
                    out.push(Stanza::Message(jmi::message(d, &reject)));
                }
                send_all(self, &handle, out);
                end(self, sid, "declined", None, None);
            }
            _ => {
                let finish = Jmi {
                    sid: sid.to_string(),
                    kind: JmiKind::Finish {
                        reason: Some(jingle::Reason::new(Condition::Success)),
                        migrated_to: None,
                    },
                };
                if let Ok(p) = BareJid::new(&peer) {
                    send_all(
                        self,
                        &handle,
                        vec![Stanza::Message(jmi::message(p.into(), &finish))],
                    );
                }
                end(self, sid, "hung_up", None, Some((Condition::Success, None)));
            }
        }
        Ok(())
    }

    /// Mutes or unmutes the microphone in call `sid`.
    pub(crate) fn set_muted(&self, sid: &str, muted: bool) -> crate::Result<()> {
        let mut found = false;
        update(self, sid, |c| {
            found = true;
            c.view.muted = muted;
            if let Some(s) = c.session.as_mut() {
                s.set_muted(muted);
            }
        });
        if found {
            Ok(())
        } else {
            Err(call_error("no_call", "This call is over."))
        }
    }

    /// Opens the sound devices again (the user chose others) and hands
    /// them to the running call's media, which plays and records on them
    /// from the next 20 ms frame on. Nothing to do without a call whose
    /// media runs: the next call opens what is chosen then. Blocks while
    /// the devices open (up to a few seconds): call it off the runtime.
    pub(crate) fn reopen_devices(&self) -> crate::Result<()> {
        let Some(media) = &self.media else {
            return Err(call_error(
                "unavailable",
                "Calls are not available in this build of Tern.",
            ));
        };
        let running = |inner: &Inner| {
            inner
                .current
                .as_ref()
                .filter(|c| c.session.is_some())
                .map(|c| c.view.id.clone())
        };
        let Some(sid) = running(&self.lock()) else {
            return Ok(());
        };
        let audio = (media.devices)().map_err(|e| {
            call_error(
                "devices",
                format!("The microphone or speakers could not be opened: {e}"),
            )
        })?;
        let mut inner = self.lock();
        if running(&inner).as_deref() == Some(sid.as_str()) {
            if let Some(s) = inner.current.as_mut().and_then(|c| c.session.as_mut()) {
                s.set_audio(audio);
                tracing::info!(sid, "the call's sound devices changed");
            }
        }
        Ok(())
    }

    /// A JMI message (not from the archive, not a carbon) for the account
    /// of `handle`; returns what to send back.
    pub(crate) async fn on_jmi(
        self: &Arc<Self>,
        handle: &AccountHandle,
        m: &Message,
    ) -> Vec<Stanza> {
        let Some(Ok(j)) = jmi::read_message(m) else {
            return Vec::new();
        };
        let Some(from) = m.from.clone() else {
            return Vec::new();
        };
        let ctx = handle.ctx();
        let from_own = from.to_bare() == ctx.own;
        match j.kind {
            JmiKind::Propose { media, unsupported } if !from_own => {
                self.on_propose(handle, m, &from, &j.sid, &media, unsupported)
                    .await
            }
            JmiKind::Ringing if !from_own => {
                self.on_ringing(&j.sid, &from);
                Vec::new()
            }
            JmiKind::Proceed { omemo_device } if !from_own => {
                self.on_proceed(handle, &from, &j.sid, omemo_device).await;
                Vec::new()
            }
            JmiKind::Reject { reason, .. } if !from_own => {
                let busy = reason.and_then(|r| r.condition) == Some(Condition::Busy);
                if self.is_outgoing_unanswered(&j.sid) && self.is_peer(&j.sid, &from) {
                    end(
                        self,
                        &j.sid,
                        if busy { "busy" } else { "declined" },
                        None,
                        None,
                    );
                }
                Vec::new()
            }
            JmiKind::Retract { .. } if !from_own => {
                if self.is_incoming_ringing(&j.sid, &from) {
                    end(self, &j.sid, "missed", None, None);
                }
                Vec::new()
            }
            JmiKind::Finish { .. } if !from_own => {
                if self.is_peer(&j.sid, &from) {
                    end(self, &j.sid, "peer_hung_up", None, None);
                }
                Vec::new()
            }
            // The user's other device answered or declined the call ringing
            // here.
            JmiKind::Accept | JmiKind::Proceed { .. } if from_own => {
                if self.is_ringing_here(&j.sid) {
                    end(self, &j.sid, "answered_elsewhere", None, None);
                }
                Vec::new()
            }
            JmiKind::Reject { .. } if from_own => {
                if self.is_ringing_here(&j.sid) {
                    end(self, &j.sid, "declined_elsewhere", None, None);
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// The receipt Conversations sends for a proposal: its device rings.
    pub(crate) fn on_propose_receipt(&self, sid: &str, from: &Jid) {
        self.on_ringing(sid, from);
    }

    /// A device of the contact `from` rings for the outgoing call `sid`.
    fn on_ringing(&self, sid: &str, from: &Jid) {
        if !self.is_peer(sid, from) {
            return;
        }
        update(self, sid, |c| {
            if c.view.outgoing && c.view.state == CallState::Calling {
                c.view.state = CallState::Ringing;
            }
        });
    }

    /// Whether `from` is (a device of) the contact in call `sid`: only
    /// they may say it rings, decline it or end it.
    fn is_peer(&self, sid: &str, from: &Jid) -> bool {
        self.lock()
            .current
            .as_ref()
            .is_some_and(|c| c.view.id == sid && from.to_bare().as_str() == c.view.peer)
    }

    /// The STUN and TURN servers of call `sid`.
    fn servers_of(&self, sid: &str) -> Vec<tern_media::IceServer> {
        self.lock()
            .current
            .as_ref()
            .filter(|c| c.view.id == sid)
            .map(|c| c.ice_servers.clone())
            .unwrap_or_default()
    }

    /// Whether a call from the stranger `peer` of `account` at `now` is
    /// worth a line (none recorded in the last [`STRANGER_EVERY`]).
    fn stranger_news(&self, account: &str, peer: &str, now: i64) -> bool {
        let key = format!("{account} {peer}");
        let mut inner = self.lock();
        let list = &mut inner.strangers;
        list.retain(|(_, at)| now - *at < STRANGER_EVERY);
        if list.iter().any(|(k, _)| *k == key) {
            return false;
        }
        if list.len() >= MAX_STRANGERS {
            list.pop_front();
        }
        list.push_back((key, now));
        true
    }

    fn is_outgoing_unanswered(&self, sid: &str) -> bool {
        self.lock().current.as_ref().is_some_and(|c| {
            c.view.id == sid
                && c.view.outgoing
                && matches!(c.view.state, CallState::Calling | CallState::Ringing)
        })
    }

    fn is_ringing_here(&self, sid: &str) -> bool {
        self.lock().current.as_ref().is_some_and(|c| {
            c.view.id == sid && !c.view.outgoing && c.view.state == CallState::Ringing
        })
    }

    fn is_incoming_ringing(&self, sid: &str, from: &Jid) -> bool {
        self.lock().current.as_ref().is_some_and(|c| {
            c.view.id == sid
                && !c.view.outgoing
                && matches!(c.view.state, CallState::Ringing | CallState::Connecting)
                && c.device
                    .as_ref()
                    .is_none_or(|d| d.to_bare() == from.to_bare())
        })
    }

    async fn on_propose(
        self: &Arc<Self>,
        handle: &AccountHandle,
        m: &Message,
        from: &Jid,
        sid: &str,
        media: &[Media],
        unsupported: bool,
    ) -> Vec<Stanza> {
        let ctx = handle.ctx();
        let reject = |condition: Condition| {
            let j = Jmi {
                sid: sid.to_string(),
                kind: JmiKind::Reject {
                    reason: Some(jingle::Reason::new(condition)),
                    tie_break: false,
                },
            };
            Stanza::Message(jmi::message(from.clone(), &j))
        };
        if self.media.is_none() || from.resource().is_none() {
            return Vec::new();
        }
        if !ctx.knows(from.to_bare().as_str()).await {
            tracing::info!(account = %ctx.account, %from, "a call from a stranger was not rung");
            // Not rung, but not hidden: a line in their conversation says
            // who called and that adding them lets their calls through.
            let mut view = CallView::starting(
                ctx.account.clone(),
                sid.to_string(),
                from.to_bare().to_string(),
                false,
                CallState::Ended,
            );
            view.ended = Some(STRANGER.to_string());
            view.ended_ms = Some(view.started_ms);
            if self.stranger_news(&view.account, &view.peer, view.started_ms) {
                record(handle, &view);
            }
            return vec![reject(Condition::Decline)];
        }
        if !media.contains(&Media::Audio) || media.contains(&Media::Video) || unsupported {
            // Video is not there yet: Tern does not ring for what it
            // cannot answer (the caller's other clients may).
            return vec![reject(Condition::UnsupportedApplications)];
        }
        let view = CallView::starting(
            ctx.account.clone(),
            sid.to_string(),
            from.to_bare().to_string(),
            false,
            CallState::Ringing,
        );
        let own_device = omemo::own_device_for(ctx, &view.peer).await;
        {
            let mut inner = self.lock();
            match &inner.current {
                // The same proposal again (another copy): nothing new.
                Some(c) if c.view.id == sid => return Vec::new(),
                Some(_) => {
                    drop(inner);
                    tracing::info!(account = %ctx.account, %from, "a second call got busy");
                    return vec![reject(Condition::Busy)];
                }
                None => {}
            }
            inner.current = Some(Call {
                view: view.clone(),
                handle: handle.clone(),
                device: Some(from.clone()),
                session: None,
                local: None,
                content: None,
                early: Vec::new(),
                held: None,
                accepted: false,
                ice_servers: Vec::new(),
                omemo: CallOmemo {
                    own_device,
                    ..CallOmemo::default()
                },
            });
        }
        emit(handle, &view);
        end_if_still(self, sid, &[CallState::Ringing], RING_TIMEOUT);
        // The servers to reach the caller through, asked for while it rings
        // (not here: this runs in the account task, which answers).
        let calls = self.clone();
        let h = handle.clone();
        let s = sid.to_string();
        tokio::spawn(async move {
            let servers = ice_servers(&h).await;
            update(&calls, &s, |c| c.ice_servers = servers);
        });
        let ringing = Jmi {
            sid: sid.to_string(),
            kind: JmiKind::Ringing,
        };
        let mut out: Vec<Stanza> = jmi::receipt_for_propose(m)
            .map(Stanza::Message)
            .into_iter()
            .collect();
        out.push(Stanza::Message(jmi::message(from.clone(), &ringing)));
        out
    }

    /// The contact's device `from` takes the outgoing call `sid`: the
    /// session starts with it.
    async fn on_proceed(
        self: &Arc<Self>,
        handle: &AccountHandle,
        from: &Jid,
        sid: &str,
        omemo_device: Option<u32>,
    ) {
        let Some(media) = self.media.clone() else {
            return;
        };
        {
            let mut inner = self.lock();
            let Some(c) = inner.current.as_mut().filter(|c| {
                c.view.id == sid
                    && c.view.outgoing
                    && matches!(c.view.state, CallState::Calling | CallState::Ringing)
                    && from.to_bare().as_str() == c.view.peer
                    && from.resource().is_some()
            }) else {
                return;
            };
            c.device = Some(from.clone());
            c.view.state = CallState::Connecting;
            emit(&c.handle, &c.view);
        }
        let audio = match (media.devices)() {
            Ok(a) => a,
            Err(e) => {
                end(
                    self,
                    sid,
                    "failed",
                    Some(format!(
                        "The microphone or speakers could not be opened: {e}"
                    )),
                    Some((Condition::MediaError, None)),
                );
                return;
            }
        };
        let servers = self.servers_of(sid);
        let events = media_events(self, sid);
        let (session, local) = match media.backend.offer(config(&media, servers), audio, events) {
            Ok(x) => x,
            Err(e) => {
                end(
                    self,
                    sid,
                    "failed",
                    Some(format!("The call could not start: {e}")),
                    Some((Condition::FailedApplication, None)),
                );
                return;
            }
        };
        let name = "0".to_string();
        let mut j = JingleIq::new(Action::SessionInitiate, sid);
        j.contents.push(Content::new(
            &name,
            Some(map::rtp_of(&local)),
            Some(map::transport_of(&local)),
        ));
        j.group = Some(Group {
            semantics: "BUNDLE".into(),
            contents: vec![name.clone()],
        });
        // The callee named its OMEMO device and the conversation is
        // encrypted here too: the fingerprint goes encrypted for it. Without
        // a session with that device it goes plain, as Conversations falls
        // back; the callee then shows the call unverified.
        let peer = from.to_bare();
        let mut sealed = None;
        if let Some(device) = omemo_device {
            if omemo::own_device_for(handle.ctx(), peer.as_str())
                .await
                .is_some()
            {
                match omemo::seal(handle.ctx(), &peer, device, &mut j).await {
                    Ok(()) => sealed = Some(device),
                    Err(e) => tracing::info!(sid, device, "the call's fingerprint goes plain: {e}"),
                }
            }
        }
        let mut running = false;
        update(self, sid, |c| {
            running = true;
            c.session = Some(session);
            c.local = Some(local);
            c.content = Some((name, Creator::Initiator));
            if let Some(d) = sealed {
                c.omemo.peer_device = Some(d);
                c.omemo.sent_sealed = true;
            }
        });
        if !running {
            // Ended meanwhile (the media failed at once, and the peer was
            // told): no offer follows the session-terminate.
            return;
        }
        send_jingle(self, handle, from.clone(), j, true);
        end_if_still(self, sid, &[CallState::Connecting], CONNECT_TIMEOUT);
    }

    /// Whether `sid` is a call with `from`'s contact on this account that
    /// ended in the last [`CROSSING`] (a stanza of the peer's may cross the
    /// session-terminate on the way).
    fn just_ended(&self, handle: &AccountHandle, sid: &str, from: &Jid) -> bool {
        let now = now_ms();
        let account = handle.ctx().account.as_str();
        let peer = from.to_bare().to_string();
        self.lock().ended.iter().any(|v| {
            v.id == sid
                && v.account == account
                && v.peer == peer
                && v.ended_ms
                    .is_some_and(|t| now - t < CROSSING.as_millis() as i64)
        })
    }

    /// A Jingle IQ for the account of `handle`.
    pub(crate) fn on_jingle(self: &Arc<Self>, handle: &AccountHandle, req: IqRequest) -> IqAnswer {
        let j = match jingle::read_jingle(&req.payload) {
            Some(Ok(j)) => j,
            _ => return Err(DefinedCondition::BadRequest),
        };
        let Some(from) = req.from.clone() else {
            return Err(DefinedCondition::BadRequest);
        };
        let known = {
            let inner = self.lock();
            inner.current.as_ref().is_some_and(|c| {
                c.view.id == j.sid
                    && c.device.as_ref() == Some(&from)
                    && std::ptr::eq(c.handle.ctx(), handle.ctx())
            })
        };
        if !known {
            if self.just_ended(handle, &j.sid, &from) {
                // Crossed with the session-terminate Tern sent: acknowledged,
                // so the peer learns why from that terminate rather than
                // failing on an error first.
                return Ok(None);
            }
            // XEP-0166 §7.2: unknown-session (the router's error carries the
            // defined condition; the Jingle one is implied by it).
            return Err(DefinedCondition::ItemNotFound);
        }
        let must_open = match j.action {
            Action::SessionInitiate => omemo::is_sealed(&j),
            Action::SessionAccept => omemo::is_sealed(&j) || self.sent_sealed(&j.sid),
            _ => false,
        };
        if must_open {
            self.open_then(handle, from, j);
            return Ok(None);
        }
        match j.action {
            Action::SessionInitiate => self.on_initiate(handle, &from, &j),
            Action::SessionAccept => self.on_accept(&j),
            Action::TransportInfo => self.on_transport_info(&j),
            Action::SessionTerminate => {
                let condition = j.reason.as_ref().and_then(|r| r.condition);
                let (how, problem) = match condition {
                    Some(Condition::Success) | None => ("peer_hung_up", None),
                    Some(Condition::Decline) => ("declined", None),
                    Some(Condition::Busy) => ("busy", None),
                    Some(Condition::Cancel) | Some(Condition::Gone) => ("peer_hung_up", None),
                    Some(c) => (
                        "failed",
                        Some(match c {
                            Condition::SecurityError => {
                                "The other side refused this call's encryption.".to_string()
                            }
                            Condition::ConnectivityError | Condition::FailedTransport => {
                                "The other side could not connect.".to_string()
                            }
                            _ => format!(
                                "The other side ended the call: {}.",
                                j.reason
                                    .as_ref()
                                    .and_then(|r| r.text.clone())
                                    .unwrap_or_else(|| c.as_str().replace('-', " "))
                            ),
                        }),
                    ),
                };
                end(self, &j.sid, how, problem, None);
            }
            // Ringing, mute and hold notices: nothing to do.
            Action::SessionInfo => {}
            _ => return Err(DefinedCondition::FeatureNotImplemented),
        }
        Ok(None)
    }

    /// The caller's session-initiate, after the user accepted.
    fn on_initiate(self: &Arc<Self>, handle: &AccountHandle, from: &Jid, j: &JingleIq) {
        let Some(media) = self.media.clone() else {
            return;
        };
        let expected = {
            let inner = self.lock();
            inner.current.as_ref().is_some_and(|c| {
                c.view.id == j.sid && !c.view.outgoing && c.accepted && c.session.is_none()
            })
        };
        if !expected {
            return;
        }
        if let Err(p) = jingle::check_offer(j) {
            end(
                self,
                &j.sid,
                "failed",
                Some(format!(
                    "The caller's app offered a call Tern cannot take: {p}."
                )),
                Some((p.condition(), Some(p.to_string()))),
            );
            return;
        }
        let Some(content) = j.contents.iter().find(|c| {
            c.description
                .as_ref()
                .is_some_and(|d| d.media == Media::Audio)
        }) else {
            end(
                self,
                &j.sid,
                "failed",
                Some("The caller's app offered no audio.".into()),
                Some((Condition::UnsupportedApplications, None)),
            );
            return;
        };
        let remote = match map::description_of(content) {
            Ok(d) => d,
            Err(e) => {
                end(
                    self,
                    &j.sid,
                    "failed",
                    Some(format!(
                        "The caller's app offered a call Tern cannot take: {e}."
                    )),
                    Some((Condition::FailedApplication, Some(e))),
                );
                return;
            }
        };
        let audio = match (media.devices)() {
            Ok(a) => a,
            Err(e) => {
                end(
                    self,
                    &j.sid,
                    "failed",
                    Some(format!(
                        "The microphone or speakers could not be opened: {e}"
                    )),
                    Some((Condition::MediaError, None)),
                );
                return;
            }
        };
        let servers = self.servers_of(&j.sid);
        let events = media_events(self, &j.sid);
        let (mut session, local) =
            match media
                .backend
                .answer(config(&media, servers), &remote, audio, events)
            {
                Ok(x) => x,
                Err(e) => {
                    let condition = match e {
                        tern_media::CallError::NoCommonCodec => Condition::FailedApplication,
                        tern_media::CallError::Fingerprint(_) => Condition::SecurityError,
                        _ => Condition::GeneralError,
                    };
                    end(
                        self,
                        &j.sid,
                        "failed",
                        Some(format!("The call could not start: {e}")),
                        Some((condition, Some(e.to_string()))),
                    );
                    return;
                }
            };
        for c in &remote.candidates {
            session.add_remote_candidate(c.clone());
        }
        let mut accept = JingleIq::new(Action::SessionAccept, &j.sid);
        let mut answer = Content::new(
            &content.name,
            Some(map::rtp_of(&local)),
            Some(map::transport_of(&local)),
        );
        answer.creator = content.creator;
        answer.senders = content.senders;
        accept.contents.push(answer);
        // Other contents (video) are not answered: the caller's app
        // keeps them off.
        accept.group = j.group.clone().map(|mut g| {
            g.contents.retain(|n| *n == content.name);
            g
        });
        let mut running = false;
        let mut seal_for = None;
        update(self, &j.sid, |c| {
            running = true;
            for early in c.early.drain(..) {
                session.add_remote_candidate(early);
            }
            c.session = Some(session);
            c.local = Some(local);
            c.content = Some((content.name.clone(), content.creator));
            seal_for = c.omemo.peer_device;
            if seal_for.is_some() {
                c.held = Some(Vec::new());
            }
        });
        if !running {
            // Ended meanwhile: no answer follows the session-terminate.
            return;
        }
        let Some(device) = seal_for else {
            send_jingle(self, handle, from.clone(), accept, true);
            return;
        };
        // The offer came encrypted: so goes the answer, for the device that
        // encrypted it (never plain: the caller would refuse it).
        let calls = self.clone();
        let h = handle.clone();
        let to = from.clone();
        tokio::spawn(async move {
            let mut accept = accept;
            match omemo::seal(h.ctx(), &to.to_bare(), device, &mut accept).await {
                Ok(()) => {
                    // Queued under the call's lock, so no candidate trickled
                    // from now on can go before the answer.
                    let sid = accept.sid.clone();
                    update(&calls, &sid, |c| {
                        let held = c.held.take().unwrap_or_default();
                        send_jingle(&calls, &h, to.clone(), accept, true);
                        for j in held {
                            send_jingle(&calls, &h, to.clone(), j, false);
                        }
                    });
                }
                Err(e) => {
                    let sid = accept.sid.clone();
                    end(
                        &calls,
                        &sid,
                        "failed",
                        Some(format!(
                            "Tern could not encrypt its answer with OMEMO for the caller's device: {e}."
                        )),
                        Some((Condition::SecurityError, Some(e))),
                    );
                }
            }
        });
    }

    /// Whether Tern's offer in call `sid` went encrypted with OMEMO.
    fn sent_sealed(&self, sid: &str) -> bool {
        self.lock()
            .current
            .as_ref()
            .is_some_and(|c| c.view.id == sid && c.omemo.sent_sealed)
    }

    /// A session-initiate or session-accept whose fingerprints came (or
    /// had to come) encrypted with OMEMO: they are opened, then the IQ is
    /// handled as a plain one. One that cannot be opened ends the call.
    fn open_then(self: &Arc<Self>, handle: &AccountHandle, from: Jid, j: JingleIq) {
        let expected = {
            let mut inner = self.lock();
            let Some(c) = inner.current.as_mut().filter(|c| c.view.id == j.sid) else {
                return;
            };
            c.omemo.opening = true;
            c.omemo.peer_device
        };
        let calls = self.clone();
        let h = handle.clone();
        tokio::spawn(async move {
            let mut j = j;
            let peer = from.to_bare();
            let opened = if omemo::is_sealed(&j) {
                omemo::open(h.ctx(), &peer, &mut j, expected).await
            } else {
                Err(
                    "Tern's offer went encrypted with OMEMO, but the answer's fingerprint did not"
                        .into(),
                )
            };
            let opened =
                opened.and_then(|o| o.ok_or_else(|| "no encrypted fingerprint".to_string()));
            let opened = match opened {
                Ok(o) => o,
                Err(why) => {
                    tracing::warn!(sid = %j.sid, %from, "call fingerprint not vouched for: {why}");
                    end(
                        &calls,
                        &j.sid,
                        "failed",
                        Some(format!(
                            "The other side's encryption key could not be checked with OMEMO ({why}): the call was stopped."
                        )),
                        Some((Condition::SecurityError, Some(why))),
                    );
                    return;
                }
            };
            update(&calls, &j.sid, |c| {
                c.omemo.opening = false;
                c.omemo.peer_device = Some(opened.device);
                c.view.verification = opened.verification;
                c.view.omemo_fingerprint = opened.fingerprint.clone();
            });
            match j.action {
                Action::SessionInitiate => calls.on_initiate(&h, &from, &j),
                _ => calls.on_accept(&j),
            }
        });
    }

    /// The callee's session-accept.
    fn on_accept(self: &Arc<Self>, j: &JingleIq) {
        let problem = match jingle::check_answer(j) {
            Err(p) => Some((p.condition(), p.to_string())),
            Ok(()) => None,
        };
        let remote = j
            .contents
            .iter()
            .find(|c| {
                c.description
                    .as_ref()
                    .is_some_and(|d| d.media == Media::Audio)
            })
            .ok_or_else(|| "no audio in the answer".to_string())
            .and_then(map::description_of);
        let result = match (problem, remote) {
            (Some((condition, why)), _) => Err((condition, why)),
            (None, Err(e)) => Err((Condition::FailedApplication, e)),
            (None, Ok(remote)) => {
                let mut out = Ok(());
                update(self, &j.sid, |c| {
                    if let Some(s) = c.session.as_mut() {
                        match s.accept_answer(&remote) {
                            Ok(()) => {
                                for cand in c.early.drain(..).chain(remote.candidates.clone()) {
                                    s.add_remote_candidate(cand);
                                }
                            }
                            Err(e) => {
                                let condition = match e {
                                    tern_media::CallError::Fingerprint(_) => {
                                        Condition::SecurityError
                                    }
                                    _ => Condition::FailedApplication,
                                };
                                out = Err((condition, e.to_string()));
                            }
                        }
                    }
                });
                out
            }
        };
        if let Err((condition, why)) = result {
            end(
                self,
                &j.sid,
                "failed",
                Some(format!("The other side's answer could not be used: {why}.")),
                Some((condition, Some(why))),
            );
        }
    }

    /// Candidates trickled by the peer.
    fn on_transport_info(&self, j: &JingleIq) {
        let candidates: Vec<_> = j
            .contents
            .iter()
            .filter_map(|c| c.transport.as_ref())
            .flat_map(map::candidates_of)
            .collect();
        let mut inner = self.lock();
        let Some(c) = inner.current.as_mut().filter(|c| c.view.id == j.sid) else {
            return;
        };
        match c.session.as_mut().filter(|_| !c.omemo.opening) {
            Some(s) => {
                for cand in candidates {
                    s.add_remote_candidate(cand);
                }
            }
            None => {
                let room = MAX_EARLY.saturating_sub(c.early.len());
                c.early.extend(candidates.into_iter().take(room));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_takes_calls_when_it_announces_every_call_feature() {
        let all: Vec<String> = CALL_FEATURES.iter().map(|f| f.to_string()).collect();
        assert!(takes_calls(&all));
        for missing in CALL_FEATURES {
            let some: Vec<String> = all.iter().filter(|f| f != missing).cloned().collect();
            assert!(!takes_calls(&some), "without {missing}");
        }
    }

    #[test]
    fn ended_calls_are_said_in_words() {
        let v = |outgoing: bool, ended: &str, talked: Option<i64>| CallView {
            account: "a@x".into(),
            id: "s".into(),
            peer: "b@y".into(),
            outgoing,
            state: CallState::Ended,
            ended: Some(ended.into()),
            problem: None,
            muted: false,
            relayed: false,
            quality: None,
            started_ms: 1_000,
            connected_ms: talked.map(|_| 2_000),
            ended_ms: Some(2_000 + talked.unwrap_or(0)),
            verification: CallVerification::None,
            omemo_fingerprint: None,
        };
        assert_eq!(
            summary(&v(true, "hung_up", Some(151_000))),
            "Outgoing call · 2:31"
        );
        assert_eq!(
            summary(&v(false, "peer_hung_up", Some(9_500))),
            "Incoming call · 0:09"
        );
        assert_eq!(summary(&v(false, "missed", None)), "Missed call");
        assert_eq!(
            summary(&v(true, "missed", None)),
            "Outgoing call · no answer"
        );
        assert_eq!(
            summary(&v(true, "declined", None)),
            "Outgoing call · declined"
        );
        assert_eq!(summary(&v(false, "declined", None)), "Declined call");
        assert_eq!(summary(&v(true, "busy", None)), "Outgoing call · busy");
        assert_eq!(summary(&v(true, "cancelled", None)), "Cancelled call");
        assert_eq!(
            summary(&v(false, "answered_elsewhere", None)),
            "Answered on another device"
        );
        assert_eq!(summary(&v(true, "failed", None)), "Call failed");
        assert_eq!(
            summary(&v(false, STRANGER, None)),
            "Call from b@y — add them to your contacts to take their calls"
        );
    }

    #[test]
    fn session_ids_are_unique_and_safe() {
        let a = new_sid();
        assert_eq!(a.len(), 22);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a, new_sid());
    }
}
