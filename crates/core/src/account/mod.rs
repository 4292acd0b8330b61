//! One account's connection: the reconnect policy and the task that owns
//! the XMPP stream.
//!
//! tokio-xmpp's stanza stream does resource binding and XEP-0198 (acks,
//! resumption, keepalive on idle via `<r/>` or XEP-0199 ping). Tern supplies
//! the "reconnector" it calls whenever it needs a fresh authenticated
//! stream; that is where Tern decides whether to retry (with jittered
//! backoff) or to stop and tell the user.

pub(crate) mod ctx;
pub(crate) mod session;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use rand::Rng;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;
use tokio_xmpp::stanzastream::{Connection, Event, StanzaStream, StreamEvent};
use tokio_xmpp::xmlstream::Timeouts;
use tokio_xmpp::Stanza;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::Presence;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

use crate::account::ctx::Ctx;
use crate::error::{ConnectError, Error};
use crate::events::{AccountState, ClientEvent, EventHub};
use crate::net::connect::{authenticate, identity, Target};
use crate::net::resolve::ServerOverride;
use crate::net::tap::StreamErrorSlot;
use crate::net::tls::TlsTrust;
use crate::passwords::PasswordStore;
use crate::services::roster::Presences;
use tern_store::Store;
use xmpp_parsers::message::Message;

/// How long one connection attempt (resolve + TLS + SASL) may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(45);
/// How long an IQ request waits for its answer.
pub(crate) const IQ_TIMEOUT: Duration = Duration::from_secs(30);
/// Backoff bounds.
const BACKOFF_BASE: Duration = Duration::from_millis(1000);
const BACKOFF_MAX: Duration = Duration::from_secs(120);

/// Connection settings of an account.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub jid: BareJid,
    pub resource: Option<String>,
    pub over: ServerOverride,
    pub trust: TlsTrust,
    pub timeouts: Timeouts,
    pub first_sync_limit: u64,
}

/// State shared between the account task and its reconnector.
struct Shared {
    jid: String,
    settings: Mutex<Settings>,
    passwords: Arc<dyn PasswordStore>,
    hub: Arc<EventHub>,
    /// Wakes a reconnector waiting for the user (or a backoff timer).
    retry: Notify,
    attempt: AtomicU32,
    stopped: AtomicBool,
    /// Stream-error slot of the current connection.
    stream_errors: Mutex<Option<StreamErrorSlot>>,
    /// Channel binding gave trouble with this server: do not use it again.
    use_channel_binding: AtomicBool,
    /// Store, events and identity for the services.
    ctx: Ctx,
    /// Contacts' presence.
    presences: Presences,
    /// The user's own presence, re-sent at each new session.
    own_presence: Mutex<Presence>,
}

impl Shared {
    fn emit(&self, state: AccountState) {
        if self.stopped.load(Ordering::SeqCst) {
            return;
        }
        self.hub.emit(ClientEvent::AccountState {
            jid: self.jid.clone(),
            state,
        });
    }

    fn take_stream_error(&self) -> Option<xmpp_parsers::stream_error::StreamError> {
        let slot = self.stream_errors.lock().ok()?.clone()?;
        let err = slot.lock().ok()?.take();
        err
    }
}

enum Command {
    Iq {
        iq: Box<Iq>,
        reply: oneshot::Sender<Result<Iq, Error>>,
    },
    Send(Box<Stanza>),
    /// A stored message: track its stanza until the server acknowledges it.
    SendTracked {
        message_id: i64,
        stanza: Box<Stanza>,
    },
    /// Queue every outbox entry again, in order, and accept new messages.
    FlushOutbox,
    /// Route archive results of this query id to `sink`.
    MamSink {
        query_id: String,
        sink: Option<mpsc::UnboundedSender<Message>>,
    },
    Shutdown(oneshot::Sender<()>),
}

/// A running (enabled) account.
pub(crate) struct Account {
    shared: Arc<Shared>,
    cmd_tx: mpsc::Sender<Command>,
    task: JoinHandle<()>,
}

impl Account {
    /// Starts connecting. Must run inside the tokio runtime.
    pub(crate) fn start(
        settings: Settings,
        passwords: Arc<dyn PasswordStore>,
        hub: Arc<EventHub>,
        store: Store,
        data_dir: std::path::PathBuf,
    ) -> Account {
        let ctx = Ctx {
            store,
            hub: hub.clone(),
            own: settings.jid.clone(),
            account: settings.jid.to_string(),
            first_sync_limit: settings.first_sync_limit,
            data_dir,
            discovery: Arc::default(),
            fetching: Arc::default(),
        };
        let shared = Arc::new(Shared {
            ctx,
            presences: Presences::default(),
            own_presence: Mutex::new(Presence::available()),
            jid: settings.jid.to_string(),
            settings: Mutex::new(settings),
            passwords,
            hub,
            retry: Notify::new(),
            attempt: AtomicU32::new(0),
            stopped: AtomicBool::new(false),
            stream_errors: Mutex::new(None),
            use_channel_binding: AtomicBool::new(true),
        });
        let for_reconnect = shared.clone();
        let stream = StanzaStream::new(
            Box::new(move |_preferred, slot| {
                tokio::spawn(reconnect(for_reconnect.clone(), slot));
            }),
            64,
        );
        let (cmd_tx, cmd_rx) = mpsc::channel(256);
        let handle = AccountHandle {
            shared: shared.clone(),
            cmd_tx: cmd_tx.clone(),
        };
        let task = tokio::spawn(run(shared.clone(), stream, cmd_rx, handle));
        Account {
            shared,
            cmd_tx,
            task,
        }
    }

    /// Retry now (after the user fixed something, or to skip a backoff).
    pub(crate) fn retry(&self) {
        self.shared.retry.notify_one();
    }

    /// Replaces the settings used by the next attempt.
    pub(crate) fn update_settings(&self, f: impl FnOnce(&mut Settings)) {
        if let Ok(mut s) = self.shared.settings.lock() {
            f(&mut s);
        }
    }

    /// A handle for requests that does not borrow the account.
    pub(crate) fn handle(&self) -> AccountHandle {
        AccountHandle {
            shared: self.shared.clone(),
            cmd_tx: self.cmd_tx.clone(),
        }
    }

    /// Closes the stream politely and stops all retries.
    pub(crate) async fn stop(self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.shared.retry.notify_one();
        let (done, wait) = oneshot::channel();
        if self.cmd_tx.send(Command::Shutdown(done)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
        }
        self.task.abort();
    }
}

/// Sends requests through an account's task.
#[derive(Clone)]
pub(crate) struct AccountHandle {
    shared: Arc<Shared>,
    cmd_tx: mpsc::Sender<Command>,
}

impl AccountHandle {
    /// The services' context.
    pub(crate) fn ctx(&self) -> &Ctx {
        &self.shared.ctx
    }

    /// Contacts' presence.
    pub(crate) fn presences(&self) -> &Presences {
        &self.shared.presences
    }

    /// The user's presence for new sessions.
    pub(crate) fn own_presence(&self) -> Presence {
        let p = self
            .shared
            .own_presence
            .lock()
            .map(|p| p.clone())
            .unwrap_or_else(|_| Presence::available());
        crate::services::caps::with_caps(p)
    }

    /// Changes the user's presence now and for later sessions.
    pub(crate) async fn set_own_presence(&self, p: Presence) -> Result<(), Error> {
        if let Ok(mut own) = self.shared.own_presence.lock() {
            *own = p.clone();
        }
        self.send(Stanza::Presence(crate::services::caps::with_caps(p)))
            .await
    }

    /// Sends a stored message's stanza and tracks its acknowledgement.
    pub(crate) async fn send_tracked(&self, message_id: i64, stanza: Stanza) -> Result<(), Error> {
        self.cmd_tx
            .send(Command::SendTracked {
                message_id,
                stanza: Box::new(stanza),
            })
            .await
            .map_err(|_| Error::NotConnected(self.shared.jid.clone()))
    }

    /// Re-sends the outbox (after a new session).
    pub(crate) async fn flush_outbox(&self) {
        let _ = self.cmd_tx.send(Command::FlushOutbox).await;
    }

    /// Starts or stops routing archive results of `query_id`.
    pub(crate) async fn mam_sink(
        &self,
        query_id: &str,
        sink: Option<mpsc::UnboundedSender<Message>>,
    ) {
        let _ = self
            .cmd_tx
            .send(Command::MamSink {
                query_id: query_id.to_string(),
                sink,
            })
            .await;
    }

    /// Sends an IQ and waits for its result (or error).
    pub(crate) async fn request(&self, iq: Iq) -> Result<Iq, Error> {
        let (reply, rx) = oneshot::channel();
        self.cmd_tx
            .send(Command::Iq {
                iq: Box::new(iq),
                reply,
            })
            .await
            .map_err(|_| Error::NotConnected(self.shared.jid.clone()))?;
        match tokio::time::timeout(IQ_TIMEOUT, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(Error::NotConnected(self.shared.jid.clone())),
            Err(_) => Err(Error::Timeout),
        }
    }

    /// Queues a stanza for sending (delivered after reconnecting if needed).
    pub(crate) async fn send(&self, stanza: Stanza) -> Result<(), Error> {
        self.cmd_tx
            .send(Command::Send(Box::new(stanza)))
            .await
            .map_err(|_| Error::NotConnected(self.shared.jid.clone()))
    }
}

/// Jittered exponential backoff: attempt 1 waits 0.5–1 s, doubling up to 2 min.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(10);
    let base = BACKOFF_BASE.saturating_mul(1 << exp).min(BACKOFF_MAX);
    let ms = base.as_millis() as u64;
    Duration::from_millis(rand::thread_rng().gen_range(ms / 2..=ms.max(1)))
}

/// Called by the stanza stream each time it needs a new connection.
async fn reconnect(shared: Arc<Shared>, mut slot: oneshot::Sender<Connection>) {
    let mut redirect: Option<String> = None;
    if let Some(err) = shared.take_stream_error() {
        let err = ConnectError::from_stream_error(&err);
        tracing::info!(account = %shared.jid, "stream ended by the server: {err}");
        match err {
            ConnectError::SeeOtherHost { host } => redirect = Some(host),
            e if !e.is_retryable() => {
                shared.emit(AccountState::Failed { error: e });
                tokio::select! {
                    _ = shared.retry.notified() => {}
                    _ = slot.closed() => return,
                }
            }
            _ => {}
        }
    }
    let mut redirects = 0;
    loop {
        if slot.is_closed() {
            return;
        }
        if shared.stopped.load(Ordering::SeqCst) {
            // Keep the slot until the stream lets go of it: dropping it
            // first would make tokio-xmpp's worker panic.
            slot.closed().await;
            return;
        }
        let attempt = shared.attempt.fetch_add(1, Ordering::SeqCst) + 1;
        shared.emit(AccountState::Connecting { attempt });
        let result = tokio::select! {
            r = tokio::time::timeout(ATTEMPT_TIMEOUT, attempt_once(&shared, redirect.take())) => {
                r.unwrap_or(Err(ConnectError::Timeout))
            }
            _ = slot.closed() => return,
        };
        match result {
            Ok(conn) => {
                shared.attempt.store(0, Ordering::SeqCst);
                let _ = slot.send(conn);
                return;
            }
            Err(ConnectError::SeeOtherHost { host }) if redirects < 3 => {
                redirects += 1;
                redirect = Some(host);
            }
            Err(error) if error.is_retryable() => {
                let delay = backoff(attempt);
                tracing::info!(account = %shared.jid, attempt, ?delay, "connection failed, will retry: {error}");
                shared.emit(AccountState::Reconnecting {
                    attempt,
                    retry_in_ms: delay.as_millis() as u64,
                    error,
                });
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shared.retry.notified() => {}
                    _ = slot.closed() => return,
                }
            }
            Err(error) => {
                tracing::info!(account = %shared.jid, "connection failed, waiting for the user: {error}");
                shared.emit(AccountState::Failed { error });
                tokio::select! {
                    _ = shared.retry.notified() => { shared.attempt.store(0, Ordering::SeqCst); }
                    _ = slot.closed() => return,
                }
            }
        }
    }
}

fn parse_redirect(host: &str, current: &ServerOverride) -> ServerOverride {
    let (h, p) = match host.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => match p.parse::<u16>() {
            Ok(port) => (
                h.trim_matches(|c| c == '[' || c == ']').to_string(),
                Some(port),
            ),
            Err(_) => (host.to_string(), None),
        },
        _ => (
            host.trim_matches(|c| c == '[' || c == ']').to_string(),
            None,
        ),
    };
    ServerOverride {
        host: Some(h),
        port: p.or(current.port),
        direct_tls: current.direct_tls,
    }
}

async fn attempt_once(
    shared: &Arc<Shared>,
    redirect: Option<String>,
) -> Result<Connection, ConnectError> {
    let settings =
        shared
            .settings
            .lock()
            .map(|s| s.clone())
            .map_err(|_| ConnectError::Protocol {
                detail: "internal state poisoned".into(),
            })?;
    let passwords = shared.passwords.clone();
    let jid = shared.jid.clone();
    let password = tokio::task::spawn_blocking(move || passwords.get(&jid))
        .await
        .map_err(|e| ConnectError::PasswordUnavailable {
            detail: e.to_string(),
        })?
        .map_err(|e| ConnectError::PasswordUnavailable {
            detail: e.to_string(),
        })?
        .ok_or_else(|| ConnectError::PasswordUnavailable {
            detail: "no password is stored for this account".into(),
        })?;
    let over = match redirect {
        Some(h) => parse_redirect(&h, &settings.over),
        None => settings.over.clone(),
    };
    let target = Target {
        domain: settings.jid.domain().to_string(),
        over,
        trust: settings.trust.clone(),
        timeouts: settings.timeouts,
    };
    let cb = shared.use_channel_binding.load(Ordering::SeqCst);
    let auth = authenticate(&target, &settings.jid, &password, cb).await?;
    if let Ok(mut s) = shared.stream_errors.lock() {
        *s = Some(auth.stream_errors.clone());
    }
    tracing::info!(account = %shared.jid, host = %auth.endpoint.host, port = auth.endpoint.port, direct_tls = auth.endpoint.direct_tls, "authenticated");
    Ok(Connection {
        stream: auth.stream.box_stream(),
        features: auth.features,
        identity: identity(&settings.jid, settings.resource.as_deref()),
    })
}

/// The account task: owns the stanza stream and runs the inbound pipeline,
/// one stanza at a time, in arrival order.
async fn run(
    shared: Arc<Shared>,
    mut stream: StanzaStream,
    mut cmd_rx: mpsc::Receiver<Command>,
    handle: AccountHandle,
) {
    let mut pending: HashMap<String, oneshot::Sender<Result<Iq, Error>>> = HashMap::new();
    let mut mam_sinks: HashMap<String, mpsc::UnboundedSender<Message>> = HashMap::new();
    let mut bound = String::new();
    let mut next_id: u64 = 0;
    let mut session: Option<JoinHandle<()>> = None;
    let mut outbox = Outbox::default();
    loop {
        if let Some((message_id, stanza)) = outbox.next_to_send() {
            let token = stream.send(stanza).await;
            outbox.in_flight = Some(InFlight {
                message_id,
                token,
                sent: false,
            });
        }
        tokio::select! {
            done = outbox.wait_in_flight() => {
                outbox.in_flight_done(&shared.ctx, done).await;
            }
            ev = stream.next() => match ev {
                None => break,
                Some(Event::Stream(StreamEvent::Reset { bound_jid, features })) => {
                    // A new session: requests sent on the old one will not be answered.
                    for (_, reply) in pending.drain() {
                        let _ = reply.send(Err(Error::NotConnected(shared.jid.clone())));
                    }
                    mam_sinks.clear();
                    outbox.reset(features.stream_management.is_some());
                    shared.ctx.discovery.clear_presences();
                    for jid in shared.presences.clear() {
                        crate::services::roster::emit_offline(&shared.ctx, &shared.presences, &jid).await;
                    }
                    bound = bound_jid.to_string();
                    shared.emit(AccountState::Connected { bound_jid: bound.clone(), resumed: false });
                    if let Some(old) = session.take() {
                        old.abort();
                    }
                    session = Some(tokio::spawn(crate::account::session::start(handle.clone())));
                }
                Some(Event::Stream(StreamEvent::Resumed)) => {
                    shared.emit(AccountState::Connected { bound_jid: bound.clone(), resumed: true });
                }
                Some(Event::Stream(StreamEvent::Suspended)) => {
                    tracing::info!(account = %shared.jid, "stream suspended");
                }
                Some(Event::Stanza(stanza)) => {
                    for reply in handle_stanza(&handle, stanza, &mut pending, &mut mam_sinks).await {
                        let _ = stream.send(Box::new(reply)).await;
                    }
                }
            },
            cmd = cmd_rx.recv() => match cmd {
                Some(Command::Iq { mut iq, reply }) => {
                    next_id += 1;
                    let id = format!("tern-{next_id}-{:08x}", rand::random::<u32>());
                    *iq.id_mut() = id.clone();
                    pending.insert(id, reply);
                    let _ = stream.send(Box::new((*iq).into())).await;
                }
                Some(Command::Send(stanza)) => {
                    let _ = stream.send(stanza).await;
                }
                Some(Command::SendTracked { message_id, stanza }) => {
                    outbox.push(message_id, stanza);
                }
                Some(Command::FlushOutbox) => {
                    outbox.flush(&shared.ctx).await;
                }
                Some(Command::MamSink { query_id, sink }) => match sink {
                    Some(sink) => { mam_sinks.insert(query_id, sink); }
                    None => { mam_sinks.remove(&query_id); }
                },
                Some(Command::Shutdown(done)) => {
                    if let Some(s) = session.take() {
                        s.abort();
                    }
                    stream.close().await;
                    shared.hub.emit(ClientEvent::AccountState { jid: shared.jid.clone(), state: AccountState::Disabled });
                    let _ = done.send(());
                    return;
                }
                None => break,
            },
        }
    }
    if let Some(s) = session.take() {
        s.abort();
    }
    stream.close().await;
}

/// The message currently handed to the stream.
struct InFlight {
    message_id: i64,
    token: tokio_xmpp::stanzastream::StanzaToken,
    sent: bool,
}

/// Outgoing chat messages, one at a time.
///
/// A message is handed to the stream only after the previous one was
/// acknowledged by the server (XEP-0198), or written when the server has no
/// stream management. So at any moment at most one message is between Tern
/// and the server, and a session lost without resumption can never let a
/// newer message overtake an older one: the outbox is sent again, in order,
/// before anything new. Chat is human-paced; one round trip per message is
/// plenty (about 1 ms on loopback, 1000 messages a second).
#[derive(Default)]
struct Outbox {
    queue: std::collections::VecDeque<(i64, Box<Stanza>)>,
    in_flight: Option<InFlight>,
    /// New messages wait until the outbox was re-sent after a new session.
    open: bool,
    /// The server acknowledges stanzas (XEP-0198).
    acks: bool,
}

impl Outbox {
    fn reset(&mut self, acks: bool) {
        self.queue.clear();
        self.in_flight = None;
        self.open = false;
        self.acks = acks;
    }

    fn push(&mut self, message_id: i64, stanza: Box<Stanza>) {
        if !self.open {
            // Stored already; the flush after the session starts sends it.
            return;
        }
        let known = self.queue.iter().any(|(id, _)| *id == message_id)
            || self.in_flight.as_ref().map(|f| f.message_id) == Some(message_id);
        if !known {
            self.queue.push_back((message_id, stanza));
        }
    }

    async fn flush(&mut self, ctx: &Ctx) {
        self.queue.clear();
        match ctx.store.outbox(&ctx.account).await {
            Ok(entries) => {
                for e in entries {
                    if self.in_flight.as_ref().map(|f| f.message_id) == Some(e.message_id) {
                        continue;
                    }
                    match crate::xep::message::stanza_from_xml(&e.stanza) {
                        Some(m) => self
                            .queue
                            .push_back((e.message_id, Box::new(Stanza::Message(m)))),
                        None => {
                            tracing::error!(id = e.message_id, "unreadable outbox entry dropped");
                            let _ = ctx.store.outbox_done(e.message_id).await;
                        }
                    }
                }
            }
            Err(e) => tracing::error!("outbox read failed: {e}"),
        }
        self.open = true;
    }

    fn next_to_send(&mut self) -> Option<(i64, Box<Stanza>)> {
        if self.in_flight.is_some() || !self.open {
            return None;
        }
        self.queue.pop_front()
    }

    /// Resolves when the in-flight message was acknowledged (or written, on
    /// servers without acks), or dropped with its session. Pending forever
    /// when nothing is in flight.
    async fn wait_in_flight(&mut self) -> (i64, Option<tokio_xmpp::stanzastream::StanzaState>) {
        use tokio_xmpp::stanzastream::StanzaStage;
        let Some(f) = self.in_flight.as_mut() else {
            return std::future::pending().await;
        };
        if !f.sent {
            let st = f.token.wait_for(StanzaStage::Sent).await;
            f.sent = true;
            if !self.acks || st.is_none() {
                return (f.message_id, st);
            }
            // Report "sent" on the way to "acked".
            return (
                f.message_id,
                st.map(|_| tokio_xmpp::stanzastream::StanzaState::Queued),
            );
        }
        (f.message_id, f.token.wait_for(StanzaStage::Acked).await)
    }

    async fn in_flight_done(
        &mut self,
        ctx: &Ctx,
        (message_id, state): (i64, Option<tokio_xmpp::stanzastream::StanzaState>),
    ) {
        use tern_store::MessageState;
        use tokio_xmpp::stanzastream::StanzaState;
        let advance = |s: MessageState| async move {
            if let Ok(Some(m)) = ctx.store.advance_state(message_id, s).await {
                ctx.hub.emit(ClientEvent::Message { message: m.into() });
            }
        };
        match state {
            // Written; the acknowledgement is still to come.
            Some(StanzaState::Queued) => advance(MessageState::Sent).await,
            Some(StanzaState::Sent { .. }) if !self.acks => {
                if let Err(e) = ctx.store.outbox_done(message_id).await {
                    tracing::warn!("outbox update failed: {e}");
                }
                advance(MessageState::Sent).await;
                self.in_flight = None;
            }
            Some(StanzaState::Acked { .. }) => {
                if let Err(e) = ctx.store.outbox_done(message_id).await {
                    tracing::warn!("outbox update failed: {e}");
                }
                advance(MessageState::Acked).await;
                self.in_flight = None;
            }
            Some(StanzaState::Sent { .. }) => {}
            Some(StanzaState::Failed { .. }) => {
                tracing::warn!(message_id, "message could not be sent");
                let _ = ctx.store.outbox_done(message_id).await;
                if let Ok(Some(m)) = ctx.store.fail_message(message_id, None, None).await {
                    let peer = m.peer.clone();
                    ctx.hub.emit(ClientEvent::Message { message: m.into() });
                    crate::inbound::emit_conversation(ctx, &peer).await;
                }
                self.in_flight = None;
            }
            // Dropped with the session: it stays in the outbox and goes
            // again, first, once the next session flushes.
            other => {
                tracing::debug!(message_id, ?other, "message not acknowledged; will resend");
                self.in_flight = None;
                self.open = false;
                self.queue.clear();
            }
        }
    }
}

/// Inbound stanza dispatch. Returns replies to send.
async fn handle_stanza(
    handle: &AccountHandle,
    stanza: Stanza,
    pending: &mut HashMap<String, oneshot::Sender<Result<Iq, Error>>>,
    mam_sinks: &mut HashMap<String, mpsc::UnboundedSender<Message>>,
) -> Vec<Stanza> {
    let shared = &*handle.shared;
    match stanza {
        Stanza::Iq(iq) => match iq {
            Iq::Result { ref id, .. } | Iq::Error { ref id, .. } => {
                let reply = pending.remove(id.as_str());
                match (reply, iq) {
                    (Some(reply), Iq::Error { error, .. }) => {
                        let _ = reply.send(Err(stanza_error(&error)));
                    }
                    (Some(reply), iq) => {
                        let _ = reply.send(Ok(iq));
                    }
                    (None, _) => {
                        tracing::debug!(account = %shared.jid, "ignoring unsolicited IQ response");
                    }
                }
                Vec::new()
            }
            Iq::Get {
                from, id, payload, ..
            } => answer_get(from, id, payload).into_iter().collect(),
            Iq::Set {
                from, id, payload, ..
            } => {
                if payload.ns() == "urn:xmpp:blocking" {
                    let own = from.as_ref().is_none_or(|f| f.to_bare() == shared.ctx.own);
                    if own {
                        if let Some(ev) = crate::services::blocking::on_push(&shared.jid, &payload)
                        {
                            shared.hub.emit(ev);
                            return vec![Iq::Result {
                                from: None,
                                to: from,
                                id,
                                payload: None,
                            }
                            .into()];
                        }
                    }
                    return vec![error_reply(from, id, DefinedCondition::BadRequest)];
                }
                if payload.is("query", "jabber:iq:roster") {
                    return vec![
                        crate::services::roster::on_roster_push(
                            &shared.ctx,
                            &shared.presences,
                            from,
                            id,
                            payload,
                        )
                        .await,
                    ];
                }
                tracing::debug!(account = %shared.jid, ns = payload.ns(), "unsupported IQ set");
                vec![error_reply(from, id, DefinedCondition::ServiceUnavailable)]
            }
        },
        Stanza::Message(msg) => {
            // Archive results go to the query that asked for them.
            if let Some(qid) = msg
                .payloads
                .iter()
                .find(|p| p.is("result", crate::xep::message::NS_MAM))
                .and_then(|p| p.attr("queryid"))
            {
                if let Some(sink) = mam_sinks.get(qid) {
                    let _ = sink.send(msg);
                } else {
                    tracing::debug!(account = %shared.jid, "archive result for no query ignored");
                }
                return Vec::new();
            }
            // Contacts' avatar and nickname changes (PEP, XEP-0163).
            if let (Some(from), Some(event)) = (
                msg.from.as_ref(),
                msg.payloads
                    .iter()
                    .find(|p| p.is("event", "http://jabber.org/protocol/pubsub#event")),
            ) {
                crate::services::profile::on_pep_event(handle, from, event).await;
                return Vec::new();
            }
            crate::inbound::on_message(&shared.ctx, &msg).await
        }
        Stanza::Presence(p) => {
            crate::services::roster::on_presence(handle, p).await;
            Vec::new()
        }
    }
}

fn answer_get(
    from: Option<xmpp_parsers::jid::Jid>,
    id: String,
    payload: Element,
) -> Option<Stanza> {
    let reply_to = |iq: Iq| match &from {
        Some(f) => iq.with_to(f.clone()),
        None => iq,
    };
    if payload.is("ping", "urn:xmpp:ping") {
        return Some(
            reply_to(Iq::Result {
                from: None,
                to: None,
                id,
                payload: None,
            })
            .into(),
        );
    }
    if payload.is("query", "http://jabber.org/protocol/disco#info") {
        let Some(info) = crate::services::caps::answer_info(&payload) else {
            return Some(error_reply(from, id, DefinedCondition::ItemNotFound));
        };
        return Some(
            reply_to(Iq::Result {
                from: None,
                to: None,
                id,
                payload: Some(info.into()),
            })
            .into(),
        );
    }
    Some(error_reply(from, id, DefinedCondition::ServiceUnavailable))
}

pub(crate) fn error_reply(
    from: Option<xmpp_parsers::jid::Jid>,
    id: String,
    condition: DefinedCondition,
) -> Stanza {
    let error = StanzaError::new(ErrorType::Cancel, condition, "en", "");
    let iq = Iq::Error {
        from: None,
        to: from,
        id,
        error,
        payload: None,
    };
    iq.into()
}

pub(crate) fn stanza_error(e: &StanzaError) -> Error {
    let condition = format!("{:?}", e.defined_condition);
    Error::Stanza {
        condition: crate::error::kebab(&condition),
        text: e.texts.values().next().cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_bounded() {
        for _ in 0..100 {
            let d1 = backoff(1);
            assert!(d1 >= Duration::from_millis(500) && d1 <= Duration::from_millis(1000));
            let d3 = backoff(3);
            assert!(d3 >= Duration::from_millis(2000) && d3 <= Duration::from_millis(4000));
            assert!(backoff(50) <= BACKOFF_MAX);
            assert!(backoff(50) >= BACKOFF_MAX / 2);
        }
    }

    #[test]
    fn redirect_targets() {
        let cur = ServerOverride::default();
        let o = parse_redirect("other.example:5333", &cur);
        assert_eq!(o.host.as_deref(), Some("other.example"));
        assert_eq!(o.port, Some(5333));
        let o = parse_redirect("other.example", &cur);
        assert_eq!(o.port, None);
        let o = parse_redirect("[::1]:5222", &cur);
        assert_eq!(o.host.as_deref(), Some("::1"));
        assert_eq!(o.port, Some(5222));
    }
}
