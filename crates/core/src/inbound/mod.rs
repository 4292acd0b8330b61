//! The inbound message pipeline and outgoing message actions.
//!
//! Every `<message/>` passes these stages, in this order:
//! 1. `unwrap`: carbons (XEP-0280) and archive results (XEP-0313) are opened,
//!    only when they come from the account's own server;
//! 2. `classify`: direction, peer, timestamp and ids (XEP-0359, XEP-0203);
//! 3. `validate`: size limits and sane addresses, else dropped with a log line;
//! 4. `apply`: retractions, corrections, reactions, receipts, markers, chat
//!    states change what is stored; a body becomes a new message, unless the
//!    store already knows it (de-duplication by uid and archive id);
//! 5. `emit`: events for the UI; 6. `reply`: receipts for live messages.

use std::collections::BTreeMap;

use tern_store::{Direction, MessageRow, MessageState, NewMessage, Stored};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::Message;

use crate::account::ctx::Ctx;
use crate::events::{ClientEvent, ConversationView, MessageView};
use crate::xep::message::{
    new_id, parse_message, unwrap_forwarded, Outgoing, Parsed, Source, MAX_BODY_BYTES,
};

pub(crate) use crate::account::ctx::now_ms;

/// Result of classifying a message.
struct Classified {
    parsed: Parsed,
    source: Source,
    direction: Direction,
    peer: BareJid,
    sender: String,
    timestamp_ms: i64,
    archive_id: Option<String>,
}

/// Stage 1+2: unwrap and classify. `None` means "not a 1:1 message for us".
fn classify(ctx: &Ctx, msg: &Message, time_override: Option<i64>) -> Option<Classified> {
    let (inner, source, sent_by_own, archive) = match unwrap_forwarded(msg, &ctx.own) {
        Some(u) => (u.message, u.source, u.sent_by_own_client, u.archive),
        None => {
            // A wrapper from someone else is dropped inside unwrap_forwarded;
            // make sure it does not pass as a plain message either.
            if msg.payloads.iter().any(|p| {
                p.is("received", crate::xep::message::NS_CARBONS)
                    || p.is("sent", crate::xep::message::NS_CARBONS)
                    || p.is("result", crate::xep::message::NS_MAM)
            }) {
                return None;
            }
            (msg.clone(), Source::Live, false, None)
        }
    };
    let parsed = parse_message(&inner, &ctx.own);
    if parsed.is_groupchat {
        return None;
    }
    let from_bare = parsed.from.as_ref().map(Jid::to_bare);
    let to_bare = parsed.to.as_ref().map(Jid::to_bare);
    let outgoing = match source {
        Source::Carbon => sent_by_own,
        Source::Archive => from_bare.as_ref() == Some(&ctx.own),
        Source::Live => false,
    };
    let (direction, peer, sender) = if outgoing {
        (
            Direction::Outgoing,
            to_bare?,
            parsed
                .from
                .as_ref()
                .map(|f| f.to_string())
                .unwrap_or_else(|| ctx.own.to_string()),
        )
    } else {
        let from = parsed.from.clone()?;
        (Direction::Incoming, from.to_bare(), from.to_string())
    };
    if peer == ctx.own && source == Source::Live {
        // Our own server talking to us (or a loop): nothing for a chat.
        return None;
    }
    let (archive_id, archive_stamp) = match archive {
        Some((id, stamp, _qid)) => (Some(id), stamp),
        None => (parsed.archive_id.clone(), None),
    };
    let timestamp_ms = time_override
        .or(parsed.delay_ms)
        .or(archive_stamp)
        .unwrap_or_else(now_ms);
    Some(Classified {
        parsed,
        source,
        direction,
        peer,
        sender,
        timestamp_ms,
        archive_id,
    })
}

/// Runs one message through the pipeline. Returns stanzas to send back.
pub(crate) async fn on_message(ctx: &Ctx, msg: &Message) -> Vec<Stanza> {
    on_message_at(ctx, msg, None).await
}

/// Like [`on_message`], with the time to file the message under (archive
/// stamps only have whole seconds; see `mam::Ordering`).
pub(crate) async fn on_message_at(ctx: &Ctx, msg: &Message, time: Option<i64>) -> Vec<Stanza> {
    let Some(c) = classify(ctx, msg, time) else {
        return Vec::new();
    };
    // Stage 3: validate.
    if let Some(body) = &c.parsed.body {
        if body.len() > MAX_BODY_BYTES {
            tracing::warn!(peer = %c.peer, len = body.len(), "dropping message with an oversized body");
            return Vec::new();
        }
    }
    match apply(ctx, &c).await {
        Ok(replies) => replies,
        Err(e) => {
            tracing::error!(peer = %c.peer, "could not store message: {e}");
            Vec::new()
        }
    }
}

async fn find(
    ctx: &Ctx,
    peer: &str,
    reference: &str,
    dir: Option<Direction>,
) -> tern_store::Result<Option<MessageRow>> {
    ctx.store
        .find_message(&ctx.account, peer, reference, dir)
        .await
}

fn emit_message(ctx: &Ctx, row: MessageRow) {
    ctx.hub.emit(ClientEvent::Message {
        message: MessageView::from(row),
    });
}

pub(crate) async fn emit_conversation(ctx: &Ctx, peer: &str) {
    match ctx.store.conversation(&ctx.account, peer).await {
        Ok(Some(c)) => ctx.hub.emit(ClientEvent::Conversation {
            conversation: ConversationView::from(c),
        }),
        Ok(None) => {}
        Err(e) => tracing::warn!("conversation lookup failed: {e}"),
    }
}

/// Stage 4-6.
async fn apply(ctx: &Ctx, c: &Classified) -> tern_store::Result<Vec<Stanza>> {
    let p = &c.parsed;
    let peer = c.peer.to_string();
    let mut replies = Vec::new();

    if p.is_error {
        if let Some(id) = &p.id {
            if let Some(m) = find(ctx, &peer, id, Some(Direction::Outgoing)).await? {
                let (condition, text) = match &p.error {
                    Some((c, t)) => (Some(c.as_str()), t.as_deref()),
                    None => (None, None),
                };
                if let Some(m) = ctx.store.fail_message(m.id, condition, text).await? {
                    emit_message(ctx, m);
                    // The list shows when its last message was not sent.
                    emit_conversation(ctx, &peer).await;
                }
            }
        }
        return Ok(replies);
    }

    // Retraction: only the original sender's side can retract.
    if let Some(target) = &p.retract {
        match find(ctx, &peer, target, Some(c.direction)).await? {
            Some(m) => {
                if let Some(m) = ctx.store.retract_message(m.id).await? {
                    emit_message(ctx, m);
                    emit_conversation(ctx, &peer).await;
                }
            }
            None => tracing::info!(%peer, target, "retraction of an unknown message ignored"),
        }
        return Ok(replies);
    }

    // Correction: same conversation, same direction (nobody edits others' words).
    if let (Some(target), Some(body)) = (&p.replace, &p.body) {
        match find(ctx, &peer, target, Some(c.direction)).await? {
            Some(m) if !m.retracted => {
                if let Some(m) = ctx.store.correct_message(m.id, body).await? {
                    emit_message(ctx, m);
                    emit_conversation(ctx, &peer).await;
                }
            }
            _ => {
                tracing::info!(%peer, target, "correction of an unknown or foreign message ignored")
            }
        }
        if c.source == Source::Live && p.receipt_request {
            replies.extend(receipt(&peer, p));
        }
        return Ok(replies);
    }

    // Reactions: replace this reactor's set on the referenced message.
    if let Some((target, emojis)) = &p.reactions {
        let reactor = match c.direction {
            Direction::Outgoing => ctx.own.to_string(),
            Direction::Incoming => peer.clone(),
        };
        match find(ctx, &peer, target, None).await? {
            Some(m) if !m.retracted => {
                let mut map: BTreeMap<String, Vec<String>> =
                    serde_json::from_str(&m.reactions).unwrap_or_default();
                if emojis.is_empty() {
                    map.remove(&reactor);
                } else {
                    map.insert(reactor, emojis.clone());
                }
                let json = serde_json::to_string(&map).unwrap_or_else(|_| "{}".into());
                if let Some(m) = ctx.store.set_reactions(m.id, &json).await? {
                    emit_message(ctx, m);
                }
            }
            _ => tracing::info!(%peer, target, "reaction to an unknown message ignored"),
        }
        return Ok(replies);
    }

    // Delivery receipt and displayed marker for our messages.
    if c.direction == Direction::Incoming {
        if let Some(id) = &p.received {
            if let Some(m) = find(ctx, &peer, id, Some(Direction::Outgoing)).await? {
                if let Some(m) = ctx
                    .store
                    .advance_state(m.id, MessageState::Delivered)
                    .await?
                {
                    emit_message(ctx, m);
                }
            }
        }
        if let Some(id) = &p.displayed {
            if let Some(m) = find(ctx, &peer, id, Some(Direction::Outgoing)).await? {
                if let Some(m) = ctx.store.advance_state(m.id, MessageState::Read).await? {
                    emit_message(ctx, m);
                }
            }
        }
    } else if p.displayed.is_some() && c.source == Source::Carbon {
        // The user read the conversation on another device.
        ctx.store.mark_read(&ctx.account, &peer).await?;
        emit_conversation(ctx, &peer).await;
    }

    if c.source == Source::Live && c.direction == Direction::Incoming {
        if let Some(state) = &p.chat_state {
            ctx.hub.emit(ClientEvent::ChatState {
                account: ctx.account.clone(),
                peer: peer.clone(),
                state: state.clone(),
            });
        }
    }

    let Some(body) = p.body.clone().filter(|b| !b.trim().is_empty()) else {
        return Ok(replies);
    };
    let Some(uid) = p.uid().or_else(|| c.archive_id.clone()) else {
        // Without any id there is no way to de-duplicate; still keep it,
        // keyed by content and time.
        let uid = format!("t{}-{}", c.timestamp_ms, body.len());
        return store_body(ctx, c, body, uid, &peer, replies).await;
    };
    store_body(ctx, c, body, uid, &peer, replies).await
}

async fn store_body(
    ctx: &Ctx,
    c: &Classified,
    body: String,
    uid: String,
    peer: &str,
    mut replies: Vec<Stanza>,
) -> tern_store::Result<Vec<Stanza>> {
    let p = &c.parsed;
    let state = match c.direction {
        Direction::Outgoing => MessageState::Acked,
        Direction::Incoming => MessageState::Received,
    };
    let new = NewMessage {
        account: ctx.account.clone(),
        peer: peer.to_string(),
        direction: c.direction,
        sender: c.sender.clone(),
        uid,
        msg_id: p.id.clone(),
        archive_id: c.archive_id.clone(),
        body,
        timestamp_ms: c.timestamp_ms,
        state,
        reply_to: p.reply_to.clone(),
        coarse_time: c.source == Source::Archive || p.delay_ms.is_some(),
    };
    match ctx.store.insert_message(&new, None, true).await? {
        Stored::Inserted(row) => {
            emit_message(ctx, row);
            emit_conversation(ctx, peer).await;
        }
        Stored::Duplicate(_) => {
            tracing::debug!(peer, "duplicate message ignored");
        }
        Stored::Deleted => {
            tracing::debug!(
                peer,
                "message from before the conversation was deleted ignored"
            );
        }
    }
    if c.source == Source::Live && c.direction == Direction::Incoming && p.receipt_request {
        replies.extend(receipt(peer, p));
    }
    Ok(replies)
}

fn receipt(peer: &str, p: &Parsed) -> Option<Stanza> {
    let id = p.id.as_deref()?;
    let to = p
        .from
        .as_ref()
        .map(|f| f.to_string())
        .unwrap_or_else(|| peer.to_string());
    let reply_id = new_id();
    Outgoing {
        to: &to,
        id: &reply_id,
        receipt_for: Some(id),
        ..Default::default()
    }
    .message()
    .map(Stanza::Message)
}

/// Stores an outgoing message with its stanza in the outbox (one
/// transaction) and returns the row and the stanza to send.
pub(crate) async fn queue_outgoing(
    ctx: &Ctx,
    peer: &BareJid,
    body: &str,
    reply_to: Option<&str>,
) -> crate::Result<(MessageRow, Message)> {
    let id = new_id();
    let peer_s = peer.to_string();
    let (xml, message) = chat_message(&peer_s, &id, body, reply_to)?;
    let new = NewMessage {
        account: ctx.account.clone(),
        peer: peer_s.clone(),
        direction: Direction::Outgoing,
        sender: ctx.own.to_string(),
        uid: id.clone(),
        msg_id: Some(id.clone()),
        archive_id: None,
        body: body.to_string(),
        timestamp_ms: now_ms(),
        state: MessageState::Queued,
        reply_to: reply_to.map(str::to_string),
        coarse_time: false,
    };
    let row = match ctx.store.insert_message(&new, Some(&xml), false).await? {
        Stored::Inserted(r) | Stored::Duplicate(r) => r,
        // The store never refuses a message with an outbox stanza.
        Stored::Deleted => return Err(crate::Error::Internal("a new message")),
    };
    emit_message(ctx, row.clone());
    emit_conversation(ctx, &peer_s).await;
    Ok((row, message))
}

/// A chat message's stanza, as XML for the outbox and parsed to send.
fn chat_message(
    peer: &str,
    id: &str,
    body: &str,
    reply_to: Option<&str>,
) -> crate::Result<(String, Message)> {
    let xml = Outgoing {
        to: peer,
        id,
        body: Some(body),
        reply: reply_to.map(|r| (peer, r)),
        content: true,
        ..Default::default()
    }
    .xml();
    let message =
        crate::xep::message::stanza_from_xml(&xml).ok_or(crate::Error::Internal("a message"))?;
    Ok((xml, message))
}

/// Puts a failed outgoing message back in the outbox with its own id (a
/// recipient that got the first attempt after all drops the copy) and
/// returns the row and the stanza to send, or `None` when the message is
/// not a failed one.
pub(crate) async fn requeue_failed(
    ctx: &Ctx,
    m: &MessageRow,
) -> crate::Result<Option<(MessageRow, Message)>> {
    let id = m.msg_id.clone().unwrap_or_else(|| m.uid.clone());
    let (xml, message) = chat_message(&m.peer, &id, &m.body, m.reply_to.as_deref())?;
    let Some(row) = ctx.store.requeue_message(m.id, &xml).await? else {
        return Ok(None);
    };
    emit_message(ctx, row.clone());
    emit_conversation(ctx, &row.peer).await;
    Ok(Some((row, message)))
}
