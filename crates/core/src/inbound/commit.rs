//! Stage 7: the changes of the whole batch, in one transaction. A failed
//! commit stores nothing of the batch (and is logged); the messages come
//! again with the next catch-up or resend.

use super::flow::Batch;
use crate::account::ctx::Ctx;

pub(crate) async fn run(ctx: &Ctx, batch: &mut Batch) {
    match ctx.store.commit(&batch.changes).await {
        Ok(done) => batch.committed = Some(done),
        Err(e) => {
            tracing::error!(account = %ctx.account, changes = batch.changes.len(), "could not store messages: {e}");
            batch.committed = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::ctx::tests::ctx_with;
    use tern_store::{Change, Direction, MessageState, NewMessage};

    fn new(uid: &str) -> Change {
        Change::Insert {
            message: NewMessage {
                account: "juliet@capulet.lit".into(),
                peer: "romeo@montague.lit".into(),
                direction: Direction::Incoming,
                sender: "romeo@montague.lit/orchard".into(),
                uid: uid.into(),
                msg_id: None,
                archive_id: None,
                archive_by: None,
                kind: Default::default(),
                body: format!("text {uid}"),
                timestamp_ms: 1000,
                state: MessageState::Received,
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
        }
    }

    #[tokio::test]
    async fn a_batch_is_stored_at_once() {
        let (_d, ctx) = ctx_with(&[]).await;
        let mut batch = Batch {
            changes: vec![new("a"), new("b"), new("a")],
            ..Batch::default()
        };
        run(&ctx, &mut batch).await;
        let done = batch.committed.expect("committed");
        assert_eq!((done.inserted, done.duplicates), (2, 1));
        assert_eq!(
            ctx.store
                .message_count("juliet@capulet.lit", "romeo@montague.lit")
                .await
                .unwrap(),
            2
        );
    }
}
