//! The account task: the only owner of an account's stream and protocol
//! state. It processes inbound stanzas one at a time, in arrival order
//! (through the router), sends what it is asked to, keeps the send queue
//! (one message in flight), and runs archive queries, their pages
//! included, so that nothing else ever processes this account's messages.

use std::collections::HashMap;

use futures::{FutureExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_xmpp::stanzastream::{Event, StanzaStream, StreamEvent};
use tokio_xmpp::Stanza;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::message::Message;

use super::router::Router;
use super::{stanza_error, AccountHandle, Command};
use crate::error::Error;
use crate::events::{AccountState, ClientEvent};
use crate::outbound::queue::Queue;
use crate::services::archive::Run;
use crate::xep::mam::result_query_id;

/// What answers an IQ the task sent.
enum Pending {
    /// Someone waits for the answer.
    Request(oneshot::Sender<Result<Iq, Error>>),
    /// An archive query: its results are collected under this query id.
    Archive(String),
}

/// The task's state besides the stream.
#[derive(Default)]
struct State {
    pending: HashMap<String, Pending>,
    archive: HashMap<String, Run>,
    queue: Queue,
    next_id: u64,
    bound: String,
    session: Option<JoinHandle<()>>,
}

impl State {
    fn iq_id(&mut self) -> String {
        self.next_id += 1;
        format!("tern-{}-{:08x}", self.next_id, rand::random::<u32>())
    }

    /// A new session: requests sent on the old one will not be answered.
    fn drop_requests(&mut self, account: &str) {
        for (_, p) in self.pending.drain() {
            if let Pending::Request(reply) = p {
                let _ = reply.send(Err(Error::NotConnected(account.to_string())));
            }
        }
        for (_, run) in self.archive.drain() {
            run.abort(Error::NotConnected(account.to_string()));
        }
    }
}

pub(super) async fn run(
    handle: AccountHandle,
    mut stream: StanzaStream,
    mut cmd_rx: mpsc::Receiver<Command>,
) {
    let shared = handle.shared.clone();
    let ctx = &shared.ctx;
    let mut router = Router::default();
    crate::services::register(&mut router);
    let mut st = State::default();
    loop {
        if let Some((message_id, stanza)) = st.queue.next(ctx).await {
            let token = stream.send(Box::new(stanza)).await;
            st.queue.sending(message_id, token);
        }
        tokio::select! {
            fate = st.queue.wait_in_flight() => {
                st.queue.in_flight_done(ctx, fate).await;
            }
            ev = stream.next() => {
                let Some(ev) = ev else { break };
                // What else the stream has ready goes with it: consecutive
                // messages for the pipeline are processed as one batch (a
                // burst of offline messages is one transaction).
                let mut ready = vec![ev];
                while ready.len() < BURST {
                    match stream.next().now_or_never() {
                        Some(Some(ev)) => ready.push(ev),
                        _ => break,
                    }
                }
                let mut batch: Vec<Message> = Vec::new();
                for ev in ready {
                    match ev {
                        Event::Stanza(Stanza::Message(m))
                            if result_query_id(&m).is_none() && router.takes_as_other(&m) =>
                        {
                            batch.push(m);
                        }
                        ev => {
                            let msgs = std::mem::take(&mut batch);
                            for reply in crate::inbound::on_messages(ctx, msgs).await {
                                let _ = stream.send(Box::new(reply)).await;
                            }
                            on_event(&handle, &router, &mut st, ev, &mut stream).await;
                        }
                    }
                }
                for reply in crate::inbound::on_messages(ctx, batch).await {
                    let _ = stream.send(Box::new(reply)).await;
                }
            }
            cmd = cmd_rx.recv() => match cmd {
                Some(Command::Iq { mut iq, reply }) => {
                    let id = st.iq_id();
                    *iq.id_mut() = id.clone();
                    st.pending.insert(id, Pending::Request(reply));
                    let _ = stream.send(Box::new((*iq).into())).await;
                }
                Some(Command::Archive { query, reply }) => {
                    if let Some((run, mut iq)) = Run::start(*query, reply) {
                        let id = st.iq_id();
                        *iq.id_mut() = id.clone();
                        st.pending.insert(id, Pending::Archive(run.query_id().to_string()));
                        st.archive.insert(run.query_id().to_string(), run);
                        let _ = stream.send(Box::new(iq.into())).await;
                    }
                }
                Some(Command::Send(stanza)) => {
                    let _ = stream.send(stanza).await;
                }
                Some(Command::Queue { message_id, intent }) => st.queue.push(message_id, intent),
                Some(Command::FlushQueue) => st.queue.flush(ctx).await,
                Some(Command::Shutdown(done)) => {
                    if let Some(s) = st.session.take() {
                        s.abort();
                    }
                    stream.close().await;
                    ctx.hub.emit(ClientEvent::AccountState { jid: ctx.account.clone(), state: AccountState::Disabled });
                    let _ = done.send(());
                    return;
                }
                None => break,
            },
        }
    }
    if let Some(s) = st.session.take() {
        s.abort();
    }
    stream.close().await;
}

/// Most stream events taken together.
const BURST: usize = 250;

/// A stream event besides a message for the pipeline.
async fn on_event(
    handle: &AccountHandle,
    router: &Router,
    st: &mut State,
    ev: Event,
    stream: &mut StanzaStream,
) {
    let shared = &handle.shared;
    let (ctx, link) = (&shared.ctx, &shared.link);
    match ev {
        Event::Stream(StreamEvent::Reset {
            bound_jid,
            features,
        }) => {
            st.drop_requests(&ctx.account);
            st.queue.reset(features.stream_management.is_some());
            ctx.discovery.clear_presences();
            for jid in shared.presences.clear() {
                crate::services::roster::emit_offline(ctx, &shared.presences, &jid).await;
            }
            st.bound = bound_jid.to_string();
            link.emit(AccountState::Connected {
                bound_jid: st.bound.clone(),
                resumed: false,
            });
            if let Some(old) = st.session.take() {
                old.abort();
            }
            st.session = Some(tokio::spawn(super::session::start(handle.clone())));
        }
        Event::Stream(StreamEvent::Resumed) => {
            link.emit(AccountState::Connected {
                bound_jid: st.bound.clone(),
                resumed: true,
            });
        }
        Event::Stream(StreamEvent::Suspended) => {
            tracing::info!(account = %ctx.account, "stream suspended");
        }
        Event::Stanza(stanza) => {
            for reply in inbound(handle, router, st, stanza).await {
                let _ = stream.send(Box::new(reply)).await;
            }
        }
    }
}

/// One inbound stanza: answers to the task's own requests and archive
/// results stay here; everything else goes through the router.
async fn inbound(
    handle: &AccountHandle,
    router: &Router,
    st: &mut State,
    stanza: Stanza,
) -> Vec<Stanza> {
    let ctx = handle.ctx();
    match stanza {
        Stanza::Iq(Iq::Result { ref id, .. } | Iq::Error { ref id, .. }) => {
            let Some(pending) = st.pending.remove(id.as_str()) else {
                tracing::debug!(account = %ctx.account, "ignoring unsolicited IQ response");
                return Vec::new();
            };
            let Stanza::Iq(iq) = stanza else {
                return Vec::new();
            };
            let answer = match iq {
                Iq::Error { error, .. } => Err(stanza_error(&error)),
                iq => Ok(iq),
            };
            match pending {
                Pending::Request(reply) => {
                    let _ = reply.send(answer);
                }
                Pending::Archive(query_id) => {
                    if let Some(run) = st.archive.remove(&query_id) {
                        run.finish(ctx, answer).await;
                    }
                }
            }
            Vec::new()
        }
        Stanza::Message(msg) if result_query_id(&msg).is_some() => {
            // Results of the task's archive queries; any other is ignored
            // (a stranger's forged result must not pass as a message).
            let run = result_query_id(&msg).and_then(|q| st.archive.get_mut(q));
            match run {
                Some(run) => run.push(msg),
                None => {
                    tracing::debug!(account = %ctx.account, "archive result for no query ignored")
                }
            }
            Vec::new()
        }
        stanza => router.route(handle, stanza).await,
    }
}
