//! One-to-one chat: what the user does in a conversation (send, send
//! again, correct, retract, react, read, type) and reading its history.
//! Messages go through the send queue ([`crate::outbound`]); corrections,
//! retractions, reactions, read markers and chat states are signals built
//! in one place ([`crate::outbound::intent::signal`]).

use tern_store::{ConversationKind, Direction, MessageRow, MessageState};
use tokio_xmpp::Stanza;

use crate::account::ctx::{now_ms, Ctx};
use crate::account::AccountHandle;
use crate::error::{Error, Result};
use crate::events::ClientEvent;
use crate::inbound::emit_conversation;
use crate::outbound::intent::{signal, Encryption, Intent, Signal};
use crate::xep::message::MAX_BODY_BYTES;

/// A request the user can fix (an empty message, someone else's message).
pub(crate) fn bad(detail: &str) -> Error {
    Error::Stanza {
        condition: "bad-request".into(),
        text: Some(detail.to_string()),
    }
}

/// Chat states XEP-0085 defines.
const CHAT_STATES: &[&str] = &["active", "composing", "paused", "inactive", "gone"];

/// A message of this account (else "no such message").
pub(crate) async fn own_message(ctx: &Ctx, message_id: i64) -> Result<MessageRow> {
    match ctx.store.message(message_id).await? {
        Some(m) if m.account == ctx.account => Ok(m),
        _ => Err(bad("no such message")),
    }
}

/// The id other stanzas use to refer to a stored message. In a group
/// chat, replies, reactions and retractions name the room's stanza-id
/// (XEP-0461, XEP-0444, XEP-0424); corrections the message's own id.
fn reference(m: &MessageRow, kind: ConversationKind) -> String {
    if kind == ConversationKind::GroupChat {
        if let Some(a) = &m.archive_id {
            return a.clone();
        }
    }
    m.msg_id.clone().unwrap_or_else(|| m.uid.clone())
}

/// What a conversation is: a room of the account, a private message to one
/// of its occupants, or a one-to-one chat.
pub(crate) async fn kind_of(ctx: &Ctx, peer: &str) -> ConversationKind {
    let Ok(jid) = xmpp_parsers::jid::Jid::new(peer) else {
        return ConversationKind::Chat;
    };
    let bare = jid.to_bare();
    // A signed-in account has every room in memory; the store is asked
    // only for an account that is not.
    let is_room = ctx.rooms.has(&bare)
        || (!ctx.rooms.loaded()
            && matches!(
                ctx.store.room(&ctx.account, bare.as_str()).await,
                Ok(Some(_))
            ));
    match (is_room, jid.resource().is_some()) {
        (true, false) => ConversationKind::GroupChat,
        (true, true) => ConversationKind::GroupChatPrivate,
        _ => ConversationKind::Chat,
    }
}

async fn send_signal(handle: &AccountHandle, peer: &str, s: &Signal) -> Result<()> {
    send_signal_sealed(handle, peer, s, false).await
}

/// Sends a signal, its text encrypted when `encrypt` (a correction in an
/// encrypted conversation: never sent plain, an error instead).
async fn send_signal_sealed(
    handle: &AccountHandle,
    peer: &str,
    s: &Signal,
    encrypt: bool,
) -> Result<()> {
    let group = kind_of(handle.ctx(), peer).await == ConversationKind::GroupChat;
    let mut stanza = signal(peer, group, s).ok_or(Error::Internal("a chat signal"))?;
    if encrypt {
        stanza = crate::services::omemo::send::seal(handle.ctx(), peer, stanza)
            .await
            .map_err(|why| bad(&why))?;
    }
    handle.send(Stanza::Message(stanza)).await
}

/// The intent of a message to `peer`, by the kind of conversation and, in
/// a one-to-one conversation or a private group, its encryption.
pub(crate) async fn intent_for(
    ctx: &Ctx,
    peer: &str,
    kind: ConversationKind,
    file: bool,
) -> Intent {
    let encryption = match kind {
        ConversationKind::Chat | ConversationKind::GroupChat => {
            crate::services::omemo::send::encryption_for(ctx, peer).await
        }
        ConversationKind::GroupChatPrivate => Encryption::Plain,
    };
    Intent::for_kind(kind, file, encryption)
}

fn emit_message(ctx: &Ctx, m: &MessageRow) {
    ctx.hub.emit(ClientEvent::Message {
        message: m.clone().into(),
    });
}

/// Stores a new message in the send queue; the account task sends it
/// (now, or after reconnecting).
pub(crate) async fn send(
    ctx: &Ctx,
    handle: Option<&AccountHandle>,
    peer: &str,
    body: &str,
    reply_to: Option<i64>,
) -> Result<MessageRow> {
    if body.trim().is_empty() {
        return Err(bad("empty message"));
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(bad("message too long"));
    }
    let kind = kind_of(ctx, peer).await;
    let reply_ref = match reply_to {
        Some(id) => ctx.store.message(id).await?.map(|m| match kind {
            ConversationKind::GroupChat => m.archive_id.unwrap_or(m.uid),
            _ => m.uid,
        }),
        None => None,
    };
    let sender = sender_in(ctx, peer, kind)?;
    let intent = intent_for(ctx, peer, kind, false).await;
    let row = crate::outbound::queue_message(
        ctx,
        peer,
        body,
        reply_ref.as_deref(),
        kind,
        sender.as_deref(),
        &intent,
        None,
    )
    .await?;
    if let Some(handle) = handle {
        let _ = handle.queue(row.id, intent).await;
    }
    Ok(row)
}

/// Who the user is in a conversation: in a room, their occupant
/// (`room/nick`; an error when not in it); elsewhere the account (`None`).
pub(crate) fn sender_in(ctx: &Ctx, peer: &str, kind: ConversationKind) -> Result<Option<String>> {
    match kind {
        ConversationKind::GroupChat => {
            let bare = xmpp_parsers::jid::BareJid::new(peer).map_err(|_| bad("not a room"))?;
            let nick = ctx
                .rooms
                .own_nick(&bare)
                .ok_or_else(|| bad("not in this group chat"))?;
            Ok(Some(format!("{peer}/{nick}")))
        }
        _ => Ok(None),
    }
}

/// Sends a failed message again, as it was, through the send queue.
pub(crate) async fn resend(
    ctx: &Ctx,
    handle: Option<&AccountHandle>,
    message_id: i64,
) -> Result<MessageRow> {
    let m = own_message(ctx, message_id).await?;
    // The store checks, in the same transaction, that it is a failed
    // outgoing message that was not retracted.
    let kind = kind_of(ctx, &m.peer).await;
    let intent = intent_for(ctx, &m.peer, kind, m.file.is_some()).await;
    if m.file.is_some() {
        // A file whose upload failed starts again from its local copy.
        crate::services::files::upload::reset_for_retry(ctx, &m).await?;
    }
    let row = crate::outbound::requeue_failed(ctx, &m, &intent)
        .await?
        .ok_or_else(|| bad("only a message that could not be sent can be sent again"))?;
    if let Some(handle) = handle {
        let _ = handle.queue(row.id, intent).await;
    }
    Ok(row)
}

/// Corrects one of the user's messages (XEP-0308).
pub(crate) async fn correct(
    ctx: &Ctx,
    handle: &AccountHandle,
    message_id: i64,
    body: &str,
) -> Result<MessageRow> {
    let m = own_message(ctx, message_id).await?;
    if m.direction != Direction::Outgoing || m.retracted {
        return Err(bad("only your own messages can be corrected"));
    }
    if m.state == MessageState::Failed {
        // The recipient never got it: a correction would refer to nothing.
        return Err(bad("this message was not sent; send it again or delete it"));
    }
    if body.trim().is_empty() || body.len() > MAX_BODY_BYTES {
        return Err(bad("invalid correction"));
    }
    let s = Signal::Correction {
        reference: reference(&m, ConversationKind::Chat),
        body: body.to_string(),
    };
    // The correction of an encrypted message is encrypted too, as is any
    // in a conversation that is.
    let kind = kind_of(ctx, &m.peer).await;
    let encrypt = kind != ConversationKind::GroupChatPrivate
        && (m.encrypted
            || crate::services::omemo::send::encryption_for(ctx, &m.peer).await
                == Encryption::Omemo);
    send_signal_sealed(handle, &m.peer, &s, encrypt).await?;
    let updated = ctx
        .store
        .correct_message(m.id, body)
        .await?
        .ok_or_else(|| bad("no such message"))?;
    emit_message(ctx, &updated);
    emit_conversation(ctx, &m.peer).await;
    Ok(updated)
}

/// Retracts one of the user's messages (XEP-0424).
pub(crate) async fn retract(
    ctx: &Ctx,
    handle: &AccountHandle,
    message_id: i64,
) -> Result<MessageRow> {
    let m = own_message(ctx, message_id).await?;
    if m.direction != Direction::Outgoing {
        return Err(bad("only your own messages can be retracted"));
    }
    let s = Signal::Retraction {
        reference: match kind_of(ctx, &m.peer).await {
            ConversationKind::GroupChat => m.archive_id.clone().unwrap_or_else(|| m.uid.clone()),
            _ => m.uid.clone(),
        },
    };
    send_signal(handle, &m.peer, &s).await?;
    let updated = ctx
        .store
        .retract_message(m.id)
        .await?
        .ok_or_else(|| bad("no such message"))?;
    emit_message(ctx, &updated);
    emit_conversation(ctx, &m.peer).await;
    Ok(updated)
}

/// Sets the user's reactions to a message (XEP-0444); empty removes them.
pub(crate) async fn react(
    ctx: &Ctx,
    handle: &AccountHandle,
    message_id: i64,
    emojis: &[String],
) -> Result<MessageRow> {
    let m = own_message(ctx, message_id).await?;
    let mut emojis: Vec<String> = emojis
        .iter()
        .filter(|e| !e.is_empty() && e.len() <= 64)
        .cloned()
        .collect();
    emojis.sort();
    emojis.dedup();
    let s = Signal::Reactions {
        reference: reference(&m, kind_of(ctx, &m.peer).await),
        emojis: emojis.clone(),
    };
    send_signal(handle, &m.peer, &s).await?;
    let json = tern_store::merge_reactions(&m.reactions, &ctx.account, &emojis);
    let updated = ctx
        .store
        .set_reactions(m.id, &json)
        .await?
        .ok_or_else(|| bad("no such message"))?;
    emit_message(ctx, &updated);
    Ok(updated)
}

/// Marks a conversation read, and tells the peer (XEP-0333) which message
/// was displayed last, unless the peer is a stranger (`Ctx::may_tell`).
pub(crate) async fn mark_read(ctx: &Ctx, handle: Option<&AccountHandle>, peer: &str) -> Result<()> {
    let last_incoming = ctx
        .store
        .timeline(&ctx.account, peer, None, 50)
        .await?
        .into_iter()
        .rev()
        .find(|m| m.direction == Direction::Incoming && !m.retracted);
    ctx.store.mark_read(&ctx.account, peer).await?;
    emit_conversation(ctx, peer).await;
    // Rooms are not told (everyone there would get it).
    let room = kind_of(ctx, peer).await == ConversationKind::GroupChat;
    if let (Some(m), Some(handle), false) = (last_incoming, handle, room) {
        // A stranger does not learn when the user read the conversation.
        let tell = ctx.may_tell(peer, |p| p.receipts_to_strangers).await;
        if let (Some(reference), true) = (m.msg_id.clone(), tell) {
            send_signal(handle, peer, &Signal::Displayed { reference }).await?;
        }
    }
    Ok(())
}

/// Tells the peer the user is typing (`composing`), stopped (`paused`),
/// and so on (XEP-0085). Not to strangers unless the user chose so:
/// whether the user is at the keyboard is no stranger's business.
pub(crate) async fn chat_state(handle: &AccountHandle, peer: &str, state: &str) -> Result<()> {
    if !CHAT_STATES.contains(&state) {
        return Err(bad("unknown chat state"));
    }
    if kind_of(handle.ctx(), peer).await == ConversationKind::GroupChat {
        // A room of thousands need not hear of every keystroke.
        return Ok(());
    }
    if !handle
        .ctx()
        .may_tell(peer, |p| p.chat_states_to_strangers)
        .await
    {
        tracing::debug!(peer, "no chat state for a stranger");
        return Ok(());
    }
    send_signal(handle, peer, &Signal::ChatState(state.to_string())).await
}

/// Stored messages of a conversation, oldest first: the newest `limit`,
/// or those before the message `before`.
pub(crate) async fn timeline(
    ctx: &Ctx,
    peer: &str,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<MessageRow>> {
    let position = match before {
        Some(id) => ctx.store.message(id).await?.map(|m| (m.timestamp_ms, m.id)),
        None => None,
    };
    Ok(ctx
        .store
        .timeline(&ctx.account, peer, position, limit.clamp(1, 10_000))
        .await?)
}

/// Up to `limit` stored messages after the message `after`, oldest first.
pub(crate) async fn newer(
    ctx: &Ctx,
    peer: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<MessageRow>> {
    let Some(m) = ctx.store.message(after).await? else {
        return Ok(Vec::new());
    };
    Ok(ctx
        .store
        .timeline_after(
            &ctx.account,
            peer,
            (m.timestamp_ms, m.id),
            limit.clamp(1, 10_000),
        )
        .await?)
}

/// Older messages for scroll-back: from the store, and from the server's
/// archive when the store runs out.
pub(crate) async fn older(
    ctx: &Ctx,
    handle: Option<&AccountHandle>,
    peer: &str,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<MessageRow>> {
    let local = timeline(ctx, peer, before, limit).await?;
    if local.len() as i64 >= limit {
        return Ok(local);
    }
    let Some(handle) = handle else {
        return Ok(local);
    };
    let wanted = (limit - local.len() as i64).max(1) as u64;
    if kind_of(ctx, peer).await == ConversationKind::GroupChat {
        if let Ok(room) = xmpp_parsers::jid::BareJid::new(peer) {
            crate::services::muc::history::scroll_back(handle, &room, wanted).await?;
        }
        return timeline(ctx, peer, before, limit).await;
    }
    crate::services::archive::scroll_back(handle, peer, wanted).await?;
    timeline(ctx, peer, before, limit).await
}

/// Deletes a conversation on this computer (see `Client::delete_conversation`).
pub(crate) async fn delete_conversation(ctx: &Ctx, peer: &str) -> Result<()> {
    let files = ctx.store.conversation_files(&ctx.account, peer).await?;
    ctx.store
        .delete_conversation(&ctx.account, peer, now_ms())
        .await?;
    ctx.hub.emit(ClientEvent::ConversationDeleted {
        account: ctx.account.clone(),
        peer: peer.to_string(),
    });
    crate::services::files::download::remove_local(ctx, &files).await;
    Ok(())
}

/// Conversations of every account, most recent first.
pub(crate) async fn conversations(
    store: &tern_store::Store,
) -> Result<Vec<tern_store::Conversation>> {
    Ok(store.conversations(None).await?)
}
