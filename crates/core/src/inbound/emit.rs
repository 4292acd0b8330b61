//! Stage 8: events for the UI, from what the commit changed: the events
//! the stages made (chat states), then each added or changed message,
//! newest first (an archive page shows its newest messages first, as the
//! history comes newest first), then each conversation whose list entry
//! changed.

use super::flow::Batch;
use crate::account::ctx::Ctx;
use crate::events::{ClientEvent, ConversationView, MessageView};

pub(crate) async fn run(ctx: &Ctx, batch: &mut Batch) {
    let mut events: Vec<ClientEvent> = batch
        .flows
        .iter_mut()
        .flat_map(|f| std::mem::take(&mut f.events))
        .collect();
    if let Some(done) = &batch.committed {
        let announced = if batch.mode.announce_messages {
            &done.messages[..]
        } else {
            &[]
        };
        let mut messages: Vec<&tern_store::MessageRow> = announced.iter().collect();
        messages.sort_by_key(|m| std::cmp::Reverse((m.timestamp_ms, m.id)));
        events.extend(messages.into_iter().map(|m| ClientEvent::Message {
            message: MessageView::from(m.clone()),
        }));
        // Files: previews from the senders' thumbnails, and downloads the
        // user's rules allow (in the background).
        crate::services::files::download::arrived(ctx, &done.messages);
        for (account, peer) in &done.conversations {
            if let Some(ev) = conversation_event(ctx, account, peer).await {
                events.push(ev);
            }
        }
    }
    // Group chats' subjects: the room's view changes.
    for change in &batch.changes {
        if let tern_store::Change::RoomSubject { room, subject, .. } = change {
            if let Ok(room) = xmpp_parsers::jid::BareJid::new(room) {
                ctx.rooms.set_subject(&room, subject);
            }
        }
    }
    ctx.hub.emit_all(events);
    ctx.rooms.flush_into(&ctx.account, &ctx.hub);
}

async fn conversation_event(ctx: &Ctx, account: &str, peer: &str) -> Option<ClientEvent> {
    match ctx.store.conversation(account, peer).await {
        Ok(Some(c)) => Some(ClientEvent::Conversation {
            conversation: ConversationView::from(c),
        }),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!("conversation lookup failed: {e}");
            None
        }
    }
}

/// Announces a conversation's list entry as stored now.
pub(crate) async fn emit_conversation(ctx: &Ctx, peer: &str) {
    if let Some(ev) = conversation_event(ctx, &ctx.account, peer).await {
        ctx.hub.emit(ev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::ctx::tests::ctx_with;
    use crate::inbound::flow::Flow;
    use tern_store::Change;

    #[tokio::test]
    async fn chat_states_then_messages_then_conversations() {
        let (_d, ctx) = ctx_with(&[]).await;
        let mut rx = ctx.hub.subscribe().1;
        let mut flow = Flow::new(xmpp_parsers::message::Message::new(None), None);
        flow.events.push(ClientEvent::ChatState {
            account: ctx.account.clone(),
            peer: "romeo@montague.lit".into(),
            state: crate::events::ChatState::Active,
        });
        let mut batch = Batch {
            flows: vec![flow],
            ..Batch::default()
        };
        batch.changes = vec![Change::Insert {
            message: tern_store::NewMessage {
                account: ctx.account.clone(),
                peer: "romeo@montague.lit".into(),
                direction: tern_store::Direction::Incoming,
                sender: "romeo@montague.lit/orchard".into(),
                uid: "u1".into(),
                msg_id: None,
                archive_id: None,
                archive_by: None,
                kind: Default::default(),
                body: "hello".into(),
                timestamp_ms: 1000,
                state: tern_store::MessageState::Received,
                reply_to: None,
                coarse_time: false,
                mention: false,
                occupant_id: None,
                file: None,
                encrypted: false,
                decrypt_error: None,
                omemo_retry: None,
                omemo_sender: None,
                call: None,
            },
            count_unread: true,
        }];
        crate::inbound::commit::run(&ctx, &mut batch).await;
        run(&ctx, &mut batch).await;
        let kinds: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|e| match e {
                ClientEvent::ChatState { .. } => "chat_state".to_string(),
                ClientEvent::Message { message } => format!("message {}", message.body),
                ClientEvent::Conversation { conversation } => {
                    format!(
                        "conversation {} unread {}",
                        conversation.peer, conversation.unread
                    )
                }
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                "chat_state",
                "message hello",
                "conversation romeo@montague.lit unread 1"
            ]
        );
    }
}
