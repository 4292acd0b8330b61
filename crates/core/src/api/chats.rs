//! The `Client` API for 1:1 conversations: send, correct, retract, react,
//! read markers, typing, timelines, history and search.

use tokio::sync::broadcast;
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::BareJid;

use crate::api::client::Client;
use crate::error::{Error, Result};
use crate::events::{ClientEvent, ConversationView, MessageView};
use crate::inbound::{emit_conversation, queue_outgoing};
use crate::xep::message::{new_id, Outgoing};

fn peer_jid(peer: &str) -> Result<BareJid> {
    BareJid::new(peer.trim()).map_err(|e| Error::InvalidJid {
        input: peer.to_string(),
        detail: e.to_string(),
    })
}

fn bad(detail: &str) -> Error {
    Error::Stanza {
        condition: "bad-request".into(),
        text: Some(detail.to_string()),
    }
}

impl Client {
    /// Conversations of all accounts, most recent first, plus the event
    /// stream that updates them (`Conversation` events are upserts).
    pub async fn subscribe_conversations(
        &self,
    ) -> Result<(Vec<ConversationView>, broadcast::Receiver<ClientEvent>)> {
        let rx = self.subscribe().1;
        let list = self.store().conversations(None).await?;
        Ok((list.into_iter().map(ConversationView::from).collect(), rx))
    }

    /// The newest `limit` messages of a conversation (oldest first), or those
    /// before the message `before`, plus the event stream (`Message` events
    /// for this account and peer are upserts by id).
    pub async fn subscribe_timeline(
        &self,
        account: &str,
        peer: &str,
        limit: i64,
    ) -> Result<(Vec<MessageView>, broadcast::Receiver<ClientEvent>)> {
        let rx = self.subscribe().1;
        let list = self.timeline(account, peer, None, limit).await?;
        Ok((list, rx))
    }

    /// Stored messages of a conversation, oldest first.
    pub async fn timeline(
        &self,
        account: &str,
        peer: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<MessageView>> {
        let ctx = self.ctx(account).await?;
        let peer = peer_jid(peer)?.to_string();
        let position = match before {
            Some(id) => self
                .store()
                .message(id)
                .await?
                .map(|m| (m.timestamp_ms, m.id)),
            None => None,
        };
        let rows = self
            .store()
            .timeline(&ctx.account, &peer, position, limit.clamp(1, 10_000))
            .await?;
        Ok(rows.into_iter().map(MessageView::from).collect())
    }

    /// Up to `limit` stored messages after the message `after`, oldest
    /// first (scrolling back down; newer messages are always stored).
    pub async fn load_newer(
        &self,
        account: &str,
        peer: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<MessageView>> {
        let ctx = self.ctx(account).await?;
        let peer = peer_jid(peer)?.to_string();
        let Some(m) = self.store().message(after).await? else {
            return Ok(Vec::new());
        };
        let rows = self
            .store()
            .timeline_after(
                &ctx.account,
                &peer,
                (m.timestamp_ms, m.id),
                limit.clamp(1, 10_000),
            )
            .await?;
        Ok(rows.into_iter().map(MessageView::from).collect())
    }

    /// Older messages for scroll-back: from the store, and from the server's
    /// archive (XEP-0313) when the store runs out.
    pub async fn load_older(
        &self,
        account: &str,
        peer: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<MessageView>> {
        let local = self.timeline(account, peer, before, limit).await?;
        if local.len() as i64 >= limit {
            return Ok(local);
        }
        let handle = match self.handle(account).await {
            Ok(h) => h,
            Err(_) => return Ok(local),
        };
        let peer_s = peer_jid(peer)?.to_string();
        // After the user deleted the conversation, only what came later.
        let cleared = self
            .store()
            .cleared_at(&handle.ctx().account, &peer_s)
            .await?;
        // Archives also hold receipts and markers: page until enough text
        // messages arrived or the archive has nothing older.
        let mut order = match self
            .store()
            .oldest_timestamp(&handle.ctx().account, &peer_s)
            .await?
        {
            Some(t) => crate::services::archive::Ordering::older_than(t),
            None => crate::services::archive::Ordering::default(),
        };
        let mut texts = 0;
        let mut cursor = self
            .store()
            .oldest_archive_id(&handle.ctx().account, &peer_s)
            .await?;
        for _ in 0..20 {
            let page = crate::services::archive::fetch_page(
                &handle,
                Some(&peer_s),
                cleared.map(|c| c + 1),
                cursor.as_deref(),
                (limit as usize).clamp(1, crate::services::archive::PAGE),
            )
            .await?;
            texts += crate::services::archive::ingest(handle.ctx(), &page, &mut order).await;
            if page.complete
                || page.messages.is_empty()
                || local.len() as i64 + texts as i64 >= limit
            {
                break;
            }
            match page.first {
                Some(f) => cursor = Some(f),
                None => break,
            }
        }
        self.timeline(account, peer, before, limit).await
    }

    /// Sends a message (XEP-0359 ids, asking for a receipt and a read marker).
    /// It is stored before it is sent and resent after reconnecting until
    /// the server acknowledges it.
    pub async fn send_message(
        &self,
        account: &str,
        peer: &str,
        body: &str,
        reply_to: Option<i64>,
    ) -> Result<MessageView> {
        if body.trim().is_empty() {
            return Err(bad("empty message"));
        }
        if body.len() > crate::xep::message::MAX_BODY_BYTES {
            return Err(bad("message too long"));
        }
        let ctx = self.ctx(account).await?;
        let peer = peer_jid(peer)?;
        let reply_ref = match reply_to {
            Some(id) => self.store().message(id).await?.map(|m| m.uid),
            None => None,
        };
        let (row, message) = queue_outgoing(&ctx, &peer, body, reply_ref.as_deref()).await?;
        if let Ok(handle) = self.handle(account).await {
            let _ = handle.send_tracked(row.id, Stanza::Message(message)).await;
        }
        Ok(MessageView::from(row))
    }

    async fn own_message(&self, account: &str, message_id: i64) -> Result<tern_store::MessageRow> {
        let ctx = self.ctx(account).await?;
        match self.store().message(message_id).await? {
            Some(m) if m.account == ctx.account => Ok(m),
            _ => Err(bad("no such message")),
        }
    }

    /// Deletes a conversation on this computer: its messages and its place
    /// in the list. The server's archive and the user's other devices keep
    /// theirs, but what they hold from before now is not fetched again;
    /// a new message starts the conversation anew.
    pub async fn delete_conversation(&self, account: &str, peer: &str) -> Result<()> {
        let ctx = self.ctx(account).await?;
        let peer = peer_jid(peer)?.to_string();
        self.store()
            .delete_conversation(&ctx.account, &peer, crate::inbound::now_ms())
            .await?;
        ctx.hub.emit(ClientEvent::ConversationDeleted {
            account: ctx.account.clone(),
            peer,
        });
        Ok(())
    }

    /// Sends a message that failed again, as it was (its id, body and reply),
    /// through the outbox like a new one. Only a failed outgoing message
    /// that was not retracted can go again.
    pub async fn resend_message(&self, account: &str, message_id: i64) -> Result<MessageView> {
        let m = self.own_message(account, message_id).await?;
        let ctx = self.ctx(account).await?;
        // The store checks, in the same transaction, that it is a failed
        // outgoing message that was not retracted.
        let (row, message) = crate::inbound::requeue_failed(&ctx, &m)
            .await?
            .ok_or_else(|| bad("only a message that could not be sent can be sent again"))?;
        if let Ok(handle) = self.handle(account).await {
            let _ = handle.send_tracked(row.id, Stanza::Message(message)).await;
        }
        Ok(MessageView::from(row))
    }

    /// Corrects one of the user's messages (XEP-0308).
    pub async fn correct_message(
        &self,
        account: &str,
        message_id: i64,
        body: &str,
    ) -> Result<MessageView> {
        let m = self.own_message(account, message_id).await?;
        if m.direction != tern_store::Direction::Outgoing || m.retracted {
            return Err(bad("only your own messages can be corrected"));
        }
        if m.state == tern_store::MessageState::Failed {
            // The recipient never got it: a correction would refer to nothing.
            return Err(bad("this message was not sent; send it again or delete it"));
        }
        if body.trim().is_empty() || body.len() > crate::xep::message::MAX_BODY_BYTES {
            return Err(bad("invalid correction"));
        }
        let id = new_id();
        let reference = m.msg_id.clone().unwrap_or_else(|| m.uid.clone());
        let stanza = Outgoing {
            to: &m.peer,
            id: &id,
            body: Some(body),
            replace: Some(&reference),
            content: true,
            ..Default::default()
        }
        .message()
        .ok_or_else(|| bad("correction could not be built"))?;
        self.handle(account)
            .await?
            .send(Stanza::Message(stanza))
            .await?;
        let updated = self
            .store()
            .correct_message(m.id, body)
            .await?
            .ok_or_else(|| bad("no such message"))?;
        let ctx = self.ctx(account).await?;
        ctx.hub.emit(ClientEvent::Message {
            message: updated.clone().into(),
        });
        emit_conversation(&ctx, &m.peer).await;
        Ok(updated.into())
    }

    /// Retracts one of the user's messages (XEP-0424).
    pub async fn retract_message(&self, account: &str, message_id: i64) -> Result<MessageView> {
        let m = self.own_message(account, message_id).await?;
        if m.direction != tern_store::Direction::Outgoing {
            return Err(bad("only your own messages can be retracted"));
        }
        let id = new_id();
        let stanza = Outgoing {
            to: &m.peer,
            id: &id,
            body: Some("This person attempted to retract a previous message, but it's unsupported by your client."),
            retract: Some(&m.uid),
            ..Default::default()
        }
        .message()
        .ok_or_else(|| bad("retraction could not be built"))?;
        self.handle(account)
            .await?
            .send(Stanza::Message(stanza))
            .await?;
        let updated = self
            .store()
            .retract_message(m.id)
            .await?
            .ok_or_else(|| bad("no such message"))?;
        let ctx = self.ctx(account).await?;
        ctx.hub.emit(ClientEvent::Message {
            message: updated.clone().into(),
        });
        emit_conversation(&ctx, &m.peer).await;
        Ok(updated.into())
    }

    /// Sets the user's reactions to a message (XEP-0444); empty removes them.
    pub async fn react(
        &self,
        account: &str,
        message_id: i64,
        emojis: &[String],
    ) -> Result<MessageView> {
        let m = self.own_message(account, message_id).await?;
        let ctx = self.ctx(account).await?;
        let mut emojis: Vec<String> = emojis
            .iter()
            .filter(|e| !e.is_empty() && e.len() <= 64)
            .cloned()
            .collect();
        emojis.sort();
        emojis.dedup();
        let reference = m.msg_id.clone().unwrap_or_else(|| m.uid.clone());
        let id = new_id();
        let stanza = Outgoing {
            to: &m.peer,
            id: &id,
            reactions: Some((&reference, &emojis)),
            ..Default::default()
        }
        .message()
        .ok_or_else(|| bad("reaction could not be built"))?;
        self.handle(account)
            .await?
            .send(Stanza::Message(stanza))
            .await?;
        let mut map: std::collections::BTreeMap<String, Vec<String>> =
            serde_json::from_str(&m.reactions).unwrap_or_default();
        if emojis.is_empty() {
            map.remove(&ctx.account);
        } else {
            map.insert(ctx.account.clone(), emojis);
        }
        let json = serde_json::to_string(&map).unwrap_or_else(|_| "{}".into());
        let updated = self
            .store()
            .set_reactions(m.id, &json)
            .await?
            .ok_or_else(|| bad("no such message"))?;
        ctx.hub.emit(ClientEvent::Message {
            message: updated.clone().into(),
        });
        Ok(updated.into())
    }

    /// Marks a conversation read, and tells the peer (XEP-0333) which
    /// message was displayed last.
    pub async fn mark_read(&self, account: &str, peer: &str) -> Result<()> {
        let ctx = self.ctx(account).await?;
        let peer = peer_jid(peer)?.to_string();
        let last_incoming = self
            .store()
            .timeline(&ctx.account, &peer, None, 50)
            .await?
            .into_iter()
            .rev()
            .find(|m| m.direction == tern_store::Direction::Incoming && !m.retracted);
        self.store().mark_read(&ctx.account, &peer).await?;
        emit_conversation(&ctx, &peer).await;
        if let (Some(m), Ok(handle)) = (last_incoming, self.handle(account).await) {
            if let Some(reference) = m.msg_id.clone() {
                let id = new_id();
                if let Some(stanza) = (Outgoing {
                    to: &peer,
                    id: &id,
                    displayed_for: Some(&reference),
                    ..Default::default()
                })
                .message()
                {
                    handle.send(Stanza::Message(stanza)).await?;
                }
            }
        }
        Ok(())
    }

    /// Tells the peer the user is typing (`composing`), stopped (`paused`),
    /// and so on (XEP-0085).
    pub async fn send_chat_state(&self, account: &str, peer: &str, state: &str) -> Result<()> {
        if !matches!(
            state,
            "active" | "composing" | "paused" | "inactive" | "gone"
        ) {
            return Err(bad("unknown chat state"));
        }
        let peer = peer_jid(peer)?.to_string();
        let id = new_id();
        let stanza = Outgoing {
            to: &peer,
            id: &id,
            chat_state: Some(state),
            ..Default::default()
        }
        .message()
        .ok_or_else(|| bad("chat state could not be built"))?;
        self.handle(account)
            .await?
            .send(Stanza::Message(stanza))
            .await
    }

    /// Benchmark helper: fetches the whole archive page by page, newest
    /// first, parsing but not storing it (the "raw" rate the server serves).
    /// Connects the account for the duration.
    #[doc(hidden)]
    pub async fn bench_fetch_archive(&self, account: &str) -> Result<(u64, std::time::Duration)> {
        self.set_enabled(account, true).await?;
        let mut events = self.subscribe().1;
        loop {
            if let Ok(ClientEvent::HistorySync { done: true, .. }) = events.recv().await {
                break;
            }
        }
        let handle = self.handle(account).await?;
        let start = std::time::Instant::now();
        let mut n = 0u64;
        let mut cursor: Option<String> = None;
        loop {
            let page = crate::services::archive::fetch_page(
                &handle,
                None,
                None,
                cursor.as_deref(),
                crate::services::archive::PAGE,
            )
            .await?;
            n += page.messages.len() as u64;
            if page.complete || page.messages.is_empty() {
                break;
            }
            match page.first {
                Some(f) => cursor = Some(f),
                None => break,
            }
        }
        Ok((n, start.elapsed()))
    }

    /// Full-text search over stored messages, most recently stored first.
    pub async fn search(
        &self,
        query: &str,
        account: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(MessageView, String)>> {
        let account = match account {
            Some(a) => Some(crate::api::client::parse_account_jid(a)?.to_string()),
            None => None,
        };
        let hits = self
            .store()
            .search(query, account.as_deref(), limit.clamp(1, 500))
            .await?;
        Ok(hits
            .into_iter()
            .map(|h| (MessageView::from(h.message), h.snippet))
            .collect())
    }
}
