//! The account task's send queue: one message in flight at a time.
//!
//! A message is handed to the stream only after the previous one was
//! acknowledged by the server (XEP-0198), or written when the server has no
//! stream management. So at any moment at most one message is between Tern
//! and the server, and a session lost without resumption can never let a
//! newer message overtake an older one: the queue is sent again, in order,
//! before anything new. Chat is human-paced; one round trip per message is
//! plenty (about 1 ms on loopback, 1000 messages a second).
//!
//! The queue holds intents, not stanzas: the stanza is built when the
//! message's turn comes ([`super::intent::prepare`]).

use std::collections::VecDeque;

use tern_store::MessageState;
use tokio_xmpp::stanzastream::{StanzaStage, StanzaState, StanzaToken};
use tokio_xmpp::Stanza;

use super::intent::{prepare, Intent, Prepared};
use crate::account::ctx::Ctx;
use crate::events::ClientEvent;
use crate::inbound::emit_conversation;

/// The message currently handed to the stream.
struct InFlight {
    message_id: i64,
    token: StanzaToken,
    sent: bool,
}

/// See the module documentation.
#[derive(Default)]
pub(crate) struct Queue {
    waiting: VecDeque<(i64, Intent)>,
    in_flight: Option<InFlight>,
    /// New messages wait until the queue was re-sent after a new session.
    open: bool,
    /// The server acknowledges stanzas (XEP-0198).
    acks: bool,
    /// Messages whose file must be uploaded before they can go: the
    /// account task starts the uploads ([`Queue::take_uploads`]); each
    /// comes back with [`Queue::upload_done`].
    uploads: Vec<i64>,
    /// Messages whose keys must be fetched before they can be encrypted:
    /// the account task starts the fetches ([`Queue::take_key_fetches`]);
    /// each comes back with [`Queue::unpark`].
    key_fetches: Vec<(i64, String, Intent)>,
    /// Messages whose keys were fetched for their current turn.
    keyed: std::collections::HashSet<i64>,
    /// Messages waiting for their file's upload, their keys, or until
    /// they can be encrypted, with their conversation: later messages to
    /// that conversation wait in `held` (in order), so that a caption or a
    /// reply never overtakes the message it follows.
    parked: Vec<(i64, String, Park)>,
    /// Messages held behind a parked one of their conversation.
    held: VecDeque<(i64, String, Intent)>,
}

/// Why a message is parked.
#[derive(Debug)]
enum Park {
    Upload,
    Keys,
    /// It cannot be encrypted (the reason is on the message): it goes
    /// again, with this intent, when [`Queue::release_held`] says so.
    Unencryptable(Intent),
}

/// How the in-flight message fared.
pub(crate) type Fate = (i64, Option<StanzaState>);

impl Queue {
    /// A new session: nothing in flight, closed until [`Queue::flush`].
    pub(crate) fn reset(&mut self, acks: bool) {
        self.waiting.clear();
        self.parked.clear();
        self.held.clear();
        self.key_fetches.clear();
        self.keyed.clear();
        self.in_flight = None;
        self.open = false;
        self.acks = acks;
    }

    /// A message just stored in the send queue.
    pub(crate) fn push(&mut self, message_id: i64, intent: Intent) {
        if !self.open {
            // Stored already; the flush after the session starts sends it.
            return;
        }
        if !self.knows(message_id) {
            self.waiting.push_back((message_id, intent));
        }
    }

    fn knows(&self, message_id: i64) -> bool {
        self.waiting.iter().any(|(id, _)| *id == message_id)
            || self.in_flight.as_ref().map(|f| f.message_id) == Some(message_id)
            || self.parked.iter().any(|(id, _, _)| *id == message_id)
            || self.held.iter().any(|(id, _, _)| *id == message_id)
    }

    /// Reads the stored queue again, in order, and accepts new messages.
    pub(crate) async fn flush(&mut self, ctx: &Ctx) {
        self.waiting.clear();
        self.parked.clear();
        self.held.clear();
        self.keyed.clear();
        match ctx.store.outbox(&ctx.account).await {
            Ok(entries) => {
                for e in entries {
                    if self.in_flight.as_ref().map(|f| f.message_id) == Some(e.message_id) {
                        continue;
                    }
                    match Intent::from_json(&e.intent) {
                        Some(intent) => self.waiting.push_back((e.message_id, intent)),
                        None => {
                            tracing::error!(id = e.message_id, "unreadable send-queue entry");
                            fail(ctx, e.message_id).await;
                        }
                    }
                }
            }
            Err(e) => tracing::error!("send queue read failed: {e}"),
        }
        self.open = true;
    }

    /// The next message to hand to the stream, built now.
    pub(crate) async fn next(&mut self, ctx: &Ctx) -> Option<(i64, Stanza)> {
        if self.in_flight.is_some() || !self.open {
            return None;
        }
        while let Some((message_id, intent)) = self.waiting.pop_front() {
            let row = match ctx.store.message(message_id).await {
                Ok(Some(row)) => row,
                // Deleted with its conversation meanwhile.
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!("send queue read failed: {e}");
                    self.waiting.push_front((message_id, intent));
                    return None;
                }
            };
            if self.parked.iter().any(|(_, peer, _)| *peer == row.peer) {
                // Its conversation waits for a file or keys: after it.
                self.held.push_back((message_id, row.peer, intent));
                continue;
            }
            let keyed = self.keyed.contains(&message_id);
            let prepared = prepare(ctx, &intent, &row, keyed).await;
            tracing::debug!(
                message_id,
                ?intent,
                keyed,
                outcome = prepared.name(),
                "queued message prepared"
            );
            match prepared {
                Prepared::Ready(m) => {
                    self.keyed.remove(&message_id);
                    return Some((message_id, Stanza::Message(*m)));
                }
                Prepared::Upload => {
                    self.parked.push((message_id, row.peer, Park::Upload));
                    if !self.uploads.contains(&message_id) {
                        self.uploads.push(message_id);
                    }
                }
                Prepared::Keys => {
                    self.keyed.insert(message_id);
                    self.parked.push((message_id, row.peer.clone(), Park::Keys));
                    self.key_fetches.push((message_id, row.peer, intent));
                }
                Prepared::Held(why) => {
                    tracing::info!(message_id, "message held: {why}");
                    hold(ctx, message_id, &why).await;
                    self.parked
                        .push((message_id, row.peer, Park::Unencryptable(intent)));
                }
                Prepared::Unsendable(why) => {
                    tracing::error!(message_id, why, "queued message cannot be sent");
                    fail(ctx, message_id).await;
                }
            }
        }
        None
    }

    /// Messages held because they could not be encrypted go again (to
    /// `peer`, or all with `None`): the contact's devices or the user's
    /// trust changed, or the user asked. Their keys are fetched again.
    pub(crate) fn release_held(&mut self, peer: Option<&str>) {
        let ids: Vec<(i64, Intent)> = self
            .parked
            .iter()
            .filter(|(_, p, _)| peer.is_none_or(|peer| p == peer))
            .filter_map(|(id, _, park)| match park {
                Park::Unencryptable(intent) => Some((*id, intent.clone())),
                _ => None,
            })
            .collect();
        for (id, intent) in ids {
            self.keyed.remove(&id);
            self.unpark(id, Some(intent));
        }
    }

    /// Messages whose keys must be fetched now: (message, peer, intent).
    pub(crate) fn take_key_fetches(&mut self) -> Vec<(i64, String, Intent)> {
        std::mem::take(&mut self.key_fetches)
    }

    /// A parked message may go on: with its intent when it has its link or
    /// keys (it goes next, then what was held behind it; a held message
    /// with the intent the user chose), without when it failed (what was
    /// held goes on without it).
    pub(crate) fn unpark(&mut self, message_id: i64, intent: Option<Intent>) {
        let Some(i) = self.parked.iter().position(|(id, _, _)| *id == message_id) else {
            // Not parked (a new session re-read the queue): the flush
            // finds it in the stored queue, with its link.
            if let (Some(intent), true) = (intent, self.open) {
                self.push(message_id, intent);
            }
            return;
        };
        let (_, peer, _) = self.parked.remove(i);
        let (mine, others): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|(_, p, _)| *p == peer);
        self.held = others;
        for (id, _, intent) in mine.into_iter().rev() {
            self.waiting.push_front((id, intent));
        }
        if let Some(intent) = intent {
            self.waiting.push_front((message_id, intent));
        }
    }

    /// Messages whose upload must start now.
    pub(crate) fn take_uploads(&mut self) -> Vec<i64> {
        std::mem::take(&mut self.uploads)
    }

    /// The message just handed to the stream.
    pub(crate) fn sending(&mut self, message_id: i64, token: StanzaToken) {
        self.in_flight = Some(InFlight {
            message_id,
            token,
            sent: false,
        });
    }

    /// Resolves when the in-flight message was acknowledged (or written, on
    /// servers without acks), or dropped with its session. Pending forever
    /// when nothing is in flight.
    pub(crate) async fn wait_in_flight(&mut self) -> Fate {
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
            return (f.message_id, st.map(|_| StanzaState::Queued));
        }
        (f.message_id, f.token.wait_for(StanzaStage::Acked).await)
    }

    /// Records how the in-flight message fared.
    pub(crate) async fn in_flight_done(&mut self, ctx: &Ctx, (message_id, state): Fate) {
        let advance = |s: MessageState| async move {
            if let Ok(Some(m)) = ctx.store.advance_state(message_id, s).await {
                ctx.hub.emit(ClientEvent::Message { message: m.into() });
            }
        };
        match state {
            // Written; the acknowledgement is still to come.
            Some(StanzaState::Queued) => advance(MessageState::Sent).await,
            Some(StanzaState::Sent { .. }) if !self.acks => {
                done(ctx, message_id).await;
                advance(MessageState::Sent).await;
                self.in_flight = None;
            }
            Some(StanzaState::Acked { .. }) => {
                done(ctx, message_id).await;
                advance(MessageState::Acked).await;
                self.in_flight = None;
            }
            Some(StanzaState::Sent { .. }) => {}
            Some(StanzaState::Failed { .. }) => {
                tracing::warn!(message_id, "message could not be sent");
                fail(ctx, message_id).await;
                self.in_flight = None;
            }
            // Dropped with the session: it stays in the queue and goes
            // again, first, once the next session flushes.
            other => {
                tracing::debug!(message_id, ?other, "message not acknowledged; will resend");
                self.in_flight = None;
                self.open = false;
                self.waiting.clear();
            }
        }
    }
}

/// Marks a queued message held, with why, and shows it.
async fn hold(ctx: &Ctx, message_id: i64, why: &str) {
    match ctx.store.set_held(message_id, Some(why)).await {
        Ok(Some(m)) => {
            let peer = m.peer.clone();
            ctx.hub.emit(ClientEvent::Message { message: m.into() });
            emit_conversation(ctx, &peer).await;
        }
        Ok(None) => {}
        Err(e) => tracing::warn!("held state not stored: {e}"),
    }
}

async fn done(ctx: &Ctx, message_id: i64) {
    if let Err(e) = ctx.store.outbox_done(message_id).await {
        tracing::warn!("send queue update failed: {e}");
    }
}

/// Takes a message out of the queue as failed (never reached a server).
async fn fail(ctx: &Ctx, message_id: i64) {
    done(ctx, message_id).await;
    if let Ok(Some(m)) = ctx.store.fail_message(message_id, None, None).await {
        let peer = m.peer.clone();
        ctx.hub.emit(ClientEvent::Message { message: m.into() });
        emit_conversation(ctx, &peer).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::ctx::tests::ctx_with;

    #[tokio::test]
    async fn the_stored_queue_goes_in_order_and_unknown_intents_fail() {
        let (_d, ctx) = ctx_with(&[]).await;
        let first = crate::outbound::queue_message(
            &ctx,
            "romeo@montague.lit",
            "one",
            None,
            Default::default(),
            None,
            &crate::outbound::intent::Intent::Message {
                encryption: Default::default(),
            },
            None,
        )
        .await
        .unwrap();
        let second = crate::outbound::queue_message(
            &ctx,
            "romeo@montague.lit",
            "two",
            None,
            Default::default(),
            None,
            &crate::outbound::intent::Intent::Message {
                encryption: Default::default(),
            },
            None,
        )
        .await
        .unwrap();
        // A newer Tern's intent (the store only requeues failed messages,
        // so write one the way a newer Tern would).
        ctx.store.fail_message(second.id, None, None).await.unwrap();
        ctx.store
            .requeue_message(second.id, r#"{"type":"hologram"}"#)
            .await
            .unwrap();
        let mut q = Queue::default();
        assert!(q.next(&ctx).await.is_none(), "closed before the flush");
        q.push(
            first.id,
            Intent::Message {
                encryption: Default::default(),
            },
        );
        q.flush(&ctx).await;
        let (id, Stanza::Message(m)) = q.next(&ctx).await.unwrap() else {
            panic!()
        };
        assert_eq!(id, first.id);
        assert_eq!(m.bodies.values().next().map(String::as_str), Some("one"));
        assert!(
            q.next(&ctx).await.is_none(),
            "the other one could not be read"
        );
        let failed = ctx.store.message(second.id).await.unwrap().unwrap();
        assert_eq!(
            failed.state,
            MessageState::Failed,
            "an unknown intent fails"
        );
        assert_eq!(ctx.store.outbox(&ctx.account).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_file_waiting_for_its_upload_holds_back_its_conversation_only() {
        use crate::outbound::intent::Via;
        use crate::services::files::{FileInfo, FileState};
        let (_d, ctx) = ctx_with(&[]).await;
        let q_msg = |peer: &'static str, body: &'static str| {
            let ctx = ctx.clone();
            async move {
                crate::outbound::queue_message(
                    &ctx,
                    peer,
                    body,
                    None,
                    Default::default(),
                    None,
                    &Intent::Message {
                        encryption: Default::default(),
                    },
                    None,
                )
                .await
                .unwrap()
            }
        };
        let info = FileInfo {
            name: "a.jpg".into(),
            state: FileState::Uploading,
            dir: Some("out-x".into()),
            ..Default::default()
        };
        let file_intent = Intent::File {
            via: Via::Chat,
            encryption: Default::default(),
        };
        let file = crate::outbound::queue_message(
            &ctx,
            "romeo@montague.lit",
            "a.jpg",
            None,
            Default::default(),
            None,
            &file_intent,
            Some(("fileuid".into(), info.to_json())),
        )
        .await
        .unwrap();
        let caption = q_msg("romeo@montague.lit", "the caption").await;
        let elsewhere = q_msg("mercutio@verona.lit", "meanwhile").await;
        let mut q = Queue::default();
        q.flush(&ctx).await;
        let (id, _) = q.next(&ctx).await.unwrap();
        assert_eq!(id, elsewhere.id, "another conversation goes on");
        assert_eq!(q.take_uploads(), vec![file.id]);
        assert!(
            q.next(&ctx).await.is_none(),
            "the caption waits for the file"
        );
        // (the in-flight message is done)
        q.in_flight = None;
        assert!(q.next(&ctx).await.is_none(), "still waiting");
        // The upload ends with a link.
        let uploaded = FileInfo {
            url: Some("https://h.example/a.jpg".into()),
            state: FileState::Uploaded,
            ..info
        };
        ctx.store
            .set_file(file.id, &uploaded.to_json(), None)
            .await
            .unwrap();
        q.unpark(file.id, Some(file_intent));
        let (id, Stanza::Message(m)) = q.next(&ctx).await.unwrap() else {
            panic!()
        };
        assert_eq!(id, file.id, "the file first");
        assert_eq!(
            m.bodies.values().next().map(String::as_str),
            Some("https://h.example/a.jpg")
        );
        q.in_flight = None;
        let (id, _) = q.next(&ctx).await.unwrap();
        assert_eq!(id, caption.id, "then its caption");
    }

    #[tokio::test]
    async fn what_waited_behind_a_failed_upload_goes_on() {
        use crate::outbound::intent::Via;
        use crate::services::files::{FileInfo, FileState};
        let (_d, ctx) = ctx_with(&[]).await;
        let info = FileInfo {
            name: "a.bin".into(),
            state: FileState::Uploading,
            ..Default::default()
        };
        let file = crate::outbound::queue_message(
            &ctx,
            "romeo@montague.lit",
            "a.bin",
            None,
            Default::default(),
            None,
            &Intent::File {
                via: Via::Chat,
                encryption: Default::default(),
            },
            Some(("fileuid".into(), info.to_json())),
        )
        .await
        .unwrap();
        let after = crate::outbound::queue_message(
            &ctx,
            "romeo@montague.lit",
            "after",
            None,
            Default::default(),
            None,
            &Intent::Message {
                encryption: Default::default(),
            },
            None,
        )
        .await
        .unwrap();
        let mut q = Queue::default();
        q.flush(&ctx).await;
        assert!(q.next(&ctx).await.is_none());
        q.unpark(file.id, None);
        let (id, _) = q.next(&ctx).await.unwrap();
        assert_eq!(id, after.id);
    }
}
