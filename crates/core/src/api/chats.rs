//! The `Client` API for 1:1 conversations: send, correct, retract, react,
//! read markers, typing, timelines, history and search. Each method checks
//! its arguments and calls the chat service.

use tokio::sync::broadcast;
use xmpp_parsers::jid::BareJid;

use crate::api::client::Client;
use crate::error::{Error, Result};
use crate::events::{ClientEvent, ConversationView, MessageView};
use crate::services::chat;

fn peer_jid(peer: &str) -> Result<String> {
    BareJid::new(peer.trim())
        .map(|j| j.to_string())
        .map_err(|e| Error::InvalidJid {
            input: peer.to_string(),
            detail: e.to_string(),
        })
}

/// A conversation's peer: a bare JID, or an occupant of one of the
/// account's rooms (`room@service/nick`, a private message in a room).
pub(super) async fn peer_of(ctx: &crate::account::ctx::Ctx, peer: &str) -> Result<String> {
    if let Ok(full) = xmpp_parsers::jid::FullJid::new(peer.trim()) {
        if chat::kind_of(ctx, full.as_str()).await == tern_store::ConversationKind::GroupChatPrivate
        {
            return Ok(full.to_string());
        }
    }
    peer_jid(peer)
}

fn views(rows: Vec<tern_store::MessageRow>) -> Vec<MessageView> {
    rows.into_iter().map(MessageView::from).collect()
}

impl Client {
    /// Conversations of all accounts, most recent first, plus the event
    /// stream that updates them (`Conversation` events are upserts).
    pub async fn subscribe_conversations(
        &self,
    ) -> Result<(Vec<ConversationView>, broadcast::Receiver<ClientEvent>)> {
        let rx = self.subscribe().1;
        let list = chat::conversations(self.store()).await?;
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
        Ok(views(
            chat::timeline(&ctx, &peer_of(&ctx, peer).await?, before, limit).await?,
        ))
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
        Ok(views(
            chat::newer(&ctx, &peer_of(&ctx, peer).await?, after, limit).await?,
        ))
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
        let ctx = self.ctx(account).await?;
        let handle = self.handle(account).await.ok();
        let rows = chat::older(
            &ctx,
            handle.as_ref(),
            &peer_of(&ctx, peer).await?,
            before,
            limit,
        )
        .await?;
        Ok(views(rows))
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
            return Err(chat::bad("empty message"));
        }
        let ctx = self.ctx(account).await?;
        let peer = peer_of(&ctx, peer).await?;
        let handle = self.handle(account).await.ok();
        Ok(chat::send(&ctx, handle.as_ref(), &peer, body, reply_to)
            .await?
            .into())
    }

    /// Deletes a conversation on this computer: its messages and its place
    /// in the list. The server's archive and the user's other devices keep
    /// theirs, but what they hold from before now is not fetched again;
    /// a new message starts the conversation anew.
    pub async fn delete_conversation(&self, account: &str, peer: &str) -> Result<()> {
        let ctx = self.ctx(account).await?;
        chat::delete_conversation(&ctx, &peer_of(&ctx, peer).await?).await
    }

    /// Sends a message that failed again, as it was (its id, body and reply),
    /// through the send queue like a new one. Only a failed outgoing message
    /// that was not retracted can go again.
    pub async fn resend_message(&self, account: &str, message_id: i64) -> Result<MessageView> {
        let ctx = self.ctx(account).await?;
        let handle = self.handle(account).await.ok();
        Ok(chat::resend(&ctx, handle.as_ref(), message_id)
            .await?
            .into())
    }

    /// Corrects one of the user's messages (XEP-0308).
    pub async fn correct_message(
        &self,
        account: &str,
        message_id: i64,
        body: &str,
    ) -> Result<MessageView> {
        let ctx = self.ctx(account).await?;
        chat::own_message(&ctx, message_id).await?;
        let handle = self.handle(account).await?;
        Ok(chat::correct(&ctx, &handle, message_id, body).await?.into())
    }

    /// Retracts one of the user's messages (XEP-0424).
    pub async fn retract_message(&self, account: &str, message_id: i64) -> Result<MessageView> {
        let ctx = self.ctx(account).await?;
        chat::own_message(&ctx, message_id).await?;
        let handle = self.handle(account).await?;
        Ok(chat::retract(&ctx, &handle, message_id).await?.into())
    }

    /// Sets the user's reactions to a message (XEP-0444); empty removes them.
    pub async fn react(
        &self,
        account: &str,
        message_id: i64,
        emojis: &[String],
    ) -> Result<MessageView> {
        let ctx = self.ctx(account).await?;
        chat::own_message(&ctx, message_id).await?;
        let handle = self.handle(account).await?;
        Ok(chat::react(&ctx, &handle, message_id, emojis).await?.into())
    }

    /// Marks a conversation read, and tells the peer (XEP-0333) which
    /// message was displayed last.
    pub async fn mark_read(&self, account: &str, peer: &str) -> Result<()> {
        let ctx = self.ctx(account).await?;
        let handle = self.handle(account).await.ok();
        chat::mark_read(&ctx, handle.as_ref(), &peer_of(&ctx, peer).await?).await
    }

    /// Tells the peer the user is typing (`composing`), stopped (`paused`),
    /// and so on (XEP-0085).
    pub async fn send_chat_state(&self, account: &str, peer: &str, state: &str) -> Result<()> {
        let peer = peer_jid(peer)?;
        chat::chat_state(&self.handle(account).await?, &peer, state).await
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
        let n = crate::services::archive::fetch_all_unstored(&handle).await?;
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
