//! The account task: the only owner of an account's stream and protocol
//! state. It processes inbound stanzas one at a time, in arrival order
//! (through the router), sends what it is asked to, keeps the send queue
//! (one message in flight), and runs archive queries, their pages
//! included, so that nothing else ever processes this account's messages.

use std::collections::HashMap;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_xmpp::stanzastream::{Event, StanzaStream, StreamEvent};
use tokio_xmpp::Stanza;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::Message;

use super::router::Router;
use super::{stanza_error, AccountHandle, Command, IQ_TIMEOUT};
use crate::error::Error;
use crate::events::{AccountState, ClientEvent};
use crate::outbound::queue::Queue;
use crate::services::archive::Run;
use crate::xep::mam::result_query_id;

/// What waits for the answer to an IQ the task sent.
enum Waiting {
    /// Someone waits for the answer.
    Request(oneshot::Sender<Result<Iq, Error>>),
    /// An archive query: its results are collected under this query id.
    Archive(String),
}

/// An IQ the task sent and has no answer to yet.
struct Pending {
    /// Where it went (`None`: the account's own server).
    to: Option<Jid>,
    /// When it is given up (the asker stopped waiting by then).
    deadline: Instant,
    waiting: Waiting,
}

/// How often the task drops requests whose answer did not come in time.
const SWEEP: Duration = Duration::from_secs(5);

/// Whether an answer from `from` can answer a request sent to `to` by the
/// account `own`: the entity asked (RFC 6120 §8.1.2.1), where a request
/// without `to` went to the account's own server, which answers with no
/// `from`, the bare account JID or the domain.
fn answers(to: Option<&Jid>, from: Option<&Jid>, own: &BareJid) -> bool {
    let own_server = |j: Option<&Jid>| j.is_none_or(|j| crate::xep::is_own_server(j, own));
    if own_server(to) {
        own_server(from)
    } else {
        from == to
    }
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

    /// Remembers a request sent now, answered by `deadline` at the latest.
    fn expect(&mut self, id: String, to: Option<Jid>, within: Duration, waiting: Waiting) {
        self.pending.insert(
            id,
            Pending {
                to,
                deadline: Instant::now() + within,
                waiting,
            },
        );
    }

    /// Drops the requests whose time ran out by `now`: their askers get
    /// [`Error::Timeout`] (if still there), archive runs are aborted.
    fn expire(&mut self, now: Instant) {
        if self.pending.values().all(|p| p.deadline > now) {
            return;
        }
        let (late, kept) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(_, p)| p.deadline <= now);
        self.pending = kept;
        let late: HashMap<String, Pending> = late;
        for (_, p) in late {
            match p.waiting {
                Waiting::Request(reply) => {
                    let _ = reply.send(Err(Error::Timeout));
                }
                Waiting::Archive(query_id) => {
                    if let Some(run) = self.archive.remove(&query_id) {
                        run.abort(Error::Timeout);
                    }
                }
            }
        }
    }

    /// A new session: requests sent on the old one will not be answered.
    fn drop_requests(&mut self, account: &str) {
        for (_, p) in self.pending.drain() {
            if let Waiting::Request(reply) = p.waiting {
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
    let mut sweep = tokio::time::interval(SWEEP);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if let Some((message_id, stanza)) = st.queue.next(ctx).await {
            let token = stream.send(Box::new(stanza)).await;
            st.queue.sending(message_id, token);
        }
        for message_id in st.queue.take_uploads() {
            crate::services::files::upload::start(&handle, message_id);
        }
        for (message_id, peer, intent) in st.queue.take_key_fetches() {
            crate::services::omemo::send::start(&handle, message_id, peer, intent);
        }
        tokio::select! {
            _ = sweep.tick() => st.expire(Instant::now()),
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
                // Occupant changes of the burst, coalesced.
                ctx.rooms.flush_into(&ctx.account, &ctx.hub);
            }
            cmd = cmd_rx.recv() => match cmd {
                Some(Command::Iq { mut iq, reply }) => {
                    let id = st.iq_id();
                    *iq.id_mut() = id.clone();
                    st.expect(id, iq_to(&iq), IQ_TIMEOUT + SWEEP, Waiting::Request(reply));
                    let _ = stream.send(Box::new((*iq).into())).await;
                }
                Some(Command::Archive { query, reply }) => {
                    if let Some((run, mut iq)) = Run::start(*query, reply) {
                        let id = st.iq_id();
                        *iq.id_mut() = id.clone();
                        let waiting = Waiting::Archive(run.query_id().to_string());
                        st.expect(id, iq_to(&iq), IQ_TIMEOUT * 2, waiting);
                        st.archive.insert(run.query_id().to_string(), run);
                        let _ = stream.send(Box::new(iq.into())).await;
                    }
                }
                Some(Command::Send(stanza)) => {
                    let _ = stream.send(stanza).await;
                }
                Some(Command::Queue { message_id, intent }) => st.queue.push(message_id, intent),
                Some(Command::FlushQueue) => st.queue.flush(ctx).await,
                Some(Command::Unpark { message_id, intent }) => {
                    st.queue.unpark(message_id, intent)
                }
                Some(Command::ReleaseHeld { peer }) => st.queue.release_held(peer.as_deref()),
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

/// Where an IQ goes (`None`: the account's own server).
fn iq_to(iq: &Iq) -> Option<Jid> {
    match iq {
        Iq::Get { to, .. } | Iq::Set { to, .. } | Iq::Result { to, .. } | Iq::Error { to, .. } => {
            to.clone()
        }
    }
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
            ctx.rooms.session_lost(&ctx.account);
            st.queue.reset(features.stream_management.is_some());
            ctx.omemo.send_state().reset();
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
            for reply in inbound(handle, router, st, stanza, stream).await {
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
    stream: &mut StanzaStream,
) -> Vec<Stanza> {
    let ctx = handle.ctx();
    match stanza {
        Stanza::Iq(
            Iq::Result {
                ref id, ref from, ..
            }
            | Iq::Error {
                ref id, ref from, ..
            },
        ) => {
            let Some(pending) = st.pending.get(id.as_str()) else {
                tracing::debug!(account = %ctx.account, "ignoring unsolicited IQ response");
                return Vec::new();
            };
            if !answers(pending.to.as_ref(), from.as_ref(), &ctx.own) {
                // Someone else knows (or guessed) the id: the request stays
                // for the entity it went to.
                tracing::warn!(account = %ctx.account, ?from, "IQ response from another entity ignored");
                return Vec::new();
            }
            let Some(pending) = st.pending.remove(id.as_str()) else {
                return Vec::new();
            };
            let Stanza::Iq(iq) = stanza else {
                return Vec::new();
            };
            let answer = match iq {
                Iq::Error { error, .. } => Err(stanza_error(&error)),
                iq => Ok(iq),
            };
            match pending.waiting {
                Waiting::Request(reply) => {
                    let _ = reply.send(answer);
                }
                Waiting::Archive(query_id) => {
                    if let Some(run) = st.archive.remove(&query_id) {
                        // The next page of a chain is asked for before
                        // this one is stored.
                        if let Some((next, mut iq)) = run.ahead(ctx, &answer) {
                            let id = st.iq_id();
                            *iq.id_mut() = id.clone();
                            let waiting = Waiting::Archive(next.query_id().to_string());
                            st.expect(id, iq_to(&iq), IQ_TIMEOUT * 2, waiting);
                            st.archive.insert(next.query_id().to_string(), next);
                            let _ = stream.send(Box::new(iq.into())).await;
                        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(s: &str) -> Option<Jid> {
        Some(Jid::new(s).unwrap())
    }

    #[test]
    fn answers_come_from_whom_they_were_asked() {
        let own = BareJid::new("juliet@capulet.lit").unwrap();
        let ok = |to: Option<Jid>, from: Option<Jid>| answers(to.as_ref(), from.as_ref(), &own);
        // The account's own server: no `from`, the bare account or the domain.
        assert!(ok(None, None));
        assert!(ok(None, jid("juliet@capulet.lit")));
        assert!(ok(None, jid("capulet.lit")));
        assert!(ok(jid("juliet@capulet.lit"), None));
        assert!(ok(jid("capulet.lit"), jid("capulet.lit")));
        // Not another client of the account, a contact or another server.
        assert!(!ok(None, jid("juliet@capulet.lit/laptop")));
        assert!(!ok(None, jid("romeo@montague.lit/orchard")));
        assert!(!ok(None, jid("montague.lit")));
        // A request to someone is answered by that someone.
        let romeo = jid("romeo@montague.lit/orchard");
        assert!(ok(romeo.clone(), romeo.clone()));
        assert!(ok(jid("romeo@montague.lit"), jid("romeo@montague.lit")));
        assert!(!ok(romeo.clone(), jid("romeo@montague.lit/other")));
        assert!(!ok(romeo.clone(), jid("mallory@evil.example/x")));
        assert!(!ok(romeo.clone(), None));
        assert!(!ok(romeo.clone(), jid("capulet.lit")));
        assert!(!ok(romeo, jid("juliet@capulet.lit")));
        assert!(!ok(jid("pubsub.capulet.lit"), jid("capulet.lit")));
    }

    #[tokio::test]
    async fn requests_are_dropped_when_their_time_runs_out() {
        let mut st = State::default();
        let (tx, mut rx) = oneshot::channel();
        st.expect(
            "old".into(),
            None,
            Duration::from_secs(1),
            Waiting::Request(tx),
        );
        let (tx, mut fresh) = oneshot::channel();
        st.expect(
            "new".into(),
            None,
            Duration::from_secs(60),
            Waiting::Request(tx),
        );
        for i in 0..100_000 {
            let (tx, _) = oneshot::channel();
            st.expect(
                format!("lost-{i}"),
                None,
                Duration::from_secs(1),
                Waiting::Request(tx),
            );
        }
        st.expire(Instant::now() + Duration::from_secs(2));
        assert_eq!(st.pending.len(), 1, "only the request still in time");
        assert!(st.pending.contains_key("new"));
        assert!(matches!(rx.try_recv(), Ok(Err(Error::Timeout))));
        assert!(fresh.try_recv().is_err(), "still waiting");

        // An archive run is dropped with its request.
        let (tx, mut page) = oneshot::channel();
        let (run, _) = Run::start(
            crate::services::archive::ArchiveQuery::page(None, None, 50),
            tx,
        )
        .unwrap();
        let qid = run.query_id().to_string();
        st.archive.insert(qid.clone(), run);
        st.expect(
            "mam".into(),
            None,
            Duration::from_secs(1),
            Waiting::Archive(qid),
        );
        st.expire(Instant::now() + Duration::from_secs(2));
        assert!(st.archive.is_empty() && !st.pending.contains_key("mam"));
        assert!(matches!(page.try_recv(), Ok(Err(Error::Timeout))));
    }
}
