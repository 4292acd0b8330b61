//! The send queue: what the user sends is stored first, as an intent, and
//! becomes a stanza only when its turn comes (so a later stage can encrypt
//! it or fill in an upload's URL).
//!
//! - [`intent`]: what can be queued, and how it becomes a stanza;
//! - [`queue`]: the account task's queue, one message in flight at a time;
//! - [`queue_message`] and [`requeue_failed`]: how messages enter it.

pub(crate) mod intent;
pub(crate) mod queue;

use tern_store::{Direction, MessageRow, MessageState, NewMessage, Stored};

use crate::account::ctx::{now_ms, Ctx};
use crate::events::{ClientEvent, MessageView};
use crate::inbound::emit_conversation;
use crate::xep::message::new_id;
use intent::Intent;

/// Stores an outgoing chat message with its intent in the send queue (one
/// transaction) and announces it. The account task sends it in its turn.
/// `file`: the id the message must have and its file's JSON.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn queue_message(
    ctx: &Ctx,
    peer: &str,
    body: &str,
    reply_to: Option<&str>,
    kind: tern_store::ConversationKind,
    sender: Option<&str>,
    intent: &Intent,
    file: Option<(String, String)>,
) -> crate::Result<MessageRow> {
    // A file's message has the id its folder was named after.
    let (id, file) = match file {
        Some((uid, json)) => (uid, Some(json)),
        None => (new_id(), None),
    };
    let new = NewMessage {
        account: ctx.account.clone(),
        peer: peer.to_string(),
        direction: Direction::Outgoing,
        sender: sender
            .map(str::to_string)
            .unwrap_or_else(|| ctx.own.to_string()),
        uid: id.clone(),
        msg_id: Some(id),
        archive_id: None,
        archive_by: None,
        kind,
        body: body.to_string(),
        timestamp_ms: now_ms(),
        state: MessageState::Queued,
        reply_to: reply_to.map(str::to_string),
        coarse_time: false,
        mention: false,
        occupant_id: None,
        file,
        encrypted: false,
        decrypt_error: None,
        omemo_retry: None,
        omemo_sender: None,
        call: None,
    };
    let row = match ctx
        .store
        .insert_message(&new, Some(&intent.to_json()), false)
        .await?
    {
        Stored::Inserted(r) | Stored::Duplicate(r) => r,
        // The store never refuses a message going to the send queue.
        Stored::Deleted => return Err(crate::Error::Internal("a new message")),
    };
    ctx.hub.emit(ClientEvent::Message {
        message: MessageView::from(row.clone()),
    });
    emit_conversation(ctx, peer).await;
    Ok(row)
}

/// Puts a failed outgoing message back in the send queue with its own id
/// (a recipient that got the first attempt after all drops the copy).
/// `None` when the message is not a failed one.
pub(crate) async fn requeue_failed(
    ctx: &Ctx,
    m: &MessageRow,
    intent: &Intent,
) -> crate::Result<Option<MessageRow>> {
    let Some(row) = ctx.store.requeue_message(m.id, &intent.to_json()).await? else {
        return Ok(None);
    };
    ctx.hub.emit(ClientEvent::Message {
        message: MessageView::from(row.clone()),
    });
    emit_conversation(ctx, &row.peer).await;
    Ok(Some(row))
}
