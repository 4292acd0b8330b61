//! Stage 3: stop a message the store already has, before any decryption.
//! A live copy, a carbon, an offline copy and the archive copy of one
//! message are one message: known by the same direction and uid (XEP-0359
//! origin-id, else the id attribute) in the conversation, or by the id the
//! same archive gave it. A copy that brings an archive id the stored one
//! lacks fills it in. A copy that asks for a receipt still gets one: the
//! sender resends until it hears back.

use std::collections::HashSet;

use tern_store::{Change, Direction};

use super::flow::{Flow, Step};
use crate::account::ctx::Ctx;
use crate::xep::message::Source;

pub(crate) async fn run(
    ctx: &Ctx,
    seen: &mut HashSet<(String, bool, String)>,
    flow: &mut Flow,
) -> Step {
    if !flow.is_content() {
        return Step::Next;
    }
    let Some(c) = &flow.classified else {
        return Step::Next;
    };
    let Some(uid) = c.uid() else {
        return Step::Next;
    };
    let outgoing = c.direction == Direction::Outgoing;
    let asks_receipt =
        c.source == Source::Live && c.direction == Direction::Incoming && c.parsed.receipt_request;
    let receipt = || {
        c.parsed.id.clone().map(|id| {
            let to = c
                .parsed
                .from
                .as_ref()
                .map(|f| f.to_string())
                .unwrap_or_else(|| c.peer.clone());
            (to, id)
        })
    };
    if !seen.insert((c.peer.clone(), outgoing, uid.clone())) {
        if asks_receipt {
            flow.receipts.extend(receipt());
        }
        return Step::Drop("a second copy in the same batch");
    }
    let archive = c.archive_by.as_deref().zip(c.archive_id.as_deref());
    let known = ctx
        .store
        .known_message(&ctx.account, &c.peer, c.direction, &uid, archive)
        .await;
    match known {
        Ok(Some(row)) => {
            if let (None, Some((by, id))) = (&row.archive_id, archive) {
                flow.changes.push(Change::NoteArchiveId {
                    id: row.id,
                    archive_id: id.to_string(),
                    archive_by: by.to_string(),
                });
            }
            // A room echoes the user's message to everyone in it, the user
            // included: it reached the room.
            if c.kind == tern_store::ConversationKind::GroupChat
                && outgoing
                && c.source == Source::Live
                && row.state < tern_store::MessageState::Delivered
            {
                flow.changes.push(Change::Advance {
                    account: ctx.account.clone(),
                    peer: c.peer.clone(),
                    reference: uid.clone(),
                    state: tern_store::MessageState::Delivered,
                });
            }
            if asks_receipt {
                flow.receipts.extend(receipt());
            }
            Step::Drop("already stored")
        }
        Ok(None) => Step::Next,
        Err(e) => {
            // The commit de-duplicates again; go on.
            tracing::warn!("looking for a stored copy failed: {e}");
            Step::Next
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::ctx::tests::ctx_with;
    use crate::inbound::classify::tests::classified;
    use tern_store::NewMessage;

    fn stored(uid: &str, archive_id: Option<&str>) -> NewMessage {
        NewMessage {
            account: "juliet@capulet.lit".into(),
            peer: "romeo@montague.lit".into(),
            direction: Direction::Incoming,
            sender: "romeo@montague.lit/orchard".into(),
            uid: uid.into(),
            msg_id: Some(uid.into()),
            archive_id: archive_id.map(str::to_string),
            archive_by: archive_id.map(|_| "juliet@capulet.lit".to_string()),
            kind: Default::default(),
            body: "hi".into(),
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
        }
    }

    const LIVE: &str =
        "<message xmlns='jabber:client' from='romeo@montague.lit/orchard' id='m1' type='chat'>
        <body>hi</body><request xmlns='urn:xmpp:receipts'/></message>";
    const ARCHIVED: &str = "<message xmlns='jabber:client'>
        <result xmlns='urn:xmpp:mam:2' id='A1'><forwarded xmlns='urn:xmpp:forward:0'>
        <delay xmlns='urn:xmpp:delay' stamp='1970-01-01T00:00:01Z'/>
        <message xmlns='jabber:client' from='romeo@montague.lit/orchard' id='m1' type='chat'><body>hi</body></message>
        </forwarded></result></message>";

    #[tokio::test]
    async fn a_new_message_goes_on() {
        let (_d, ctx) = ctx_with(&[]).await;
        let mut f = classified(LIVE, None);
        assert_eq!(run(&ctx, &mut HashSet::new(), &mut f).await, Step::Next);
        assert!(f.changes.is_empty() && f.receipts.is_empty());
    }

    #[tokio::test]
    async fn a_stored_message_stops_but_still_gets_its_receipt() {
        let (_d, ctx) = ctx_with(&[stored("m1", None)]).await;
        let mut f = classified(LIVE, None);
        assert!(matches!(
            run(&ctx, &mut HashSet::new(), &mut f).await,
            Step::Drop(_)
        ));
        assert_eq!(
            f.receipts,
            vec![("romeo@montague.lit/orchard".into(), "m1".into())]
        );
    }

    #[tokio::test]
    async fn the_archive_copy_fills_in_the_archive_id() {
        let (_d, ctx) = ctx_with(&[stored("m1", None)]).await;
        let mut f = classified(ARCHIVED, None);
        assert!(matches!(
            run(&ctx, &mut HashSet::new(), &mut f).await,
            Step::Drop(_)
        ));
        assert!(matches!(
            &f.changes[..],
            [Change::NoteArchiveId { archive_id, archive_by, .. }]
                if archive_id == "A1" && archive_by == "juliet@capulet.lit"
        ));
        assert!(f.receipts.is_empty(), "archive copies ask for nothing");
    }

    #[tokio::test]
    async fn known_by_archive_id_alone_and_once_per_batch() {
        let (_d, ctx) = ctx_with(&[stored("other-uid", Some("A1"))]).await;
        let mut f = classified(ARCHIVED, None);
        assert!(matches!(
            run(&ctx, &mut HashSet::new(), &mut f).await,
            Step::Drop(_)
        ));
        assert!(f.changes.is_empty());
        let (_d, ctx) = ctx_with(&[]).await;
        let mut seen = HashSet::new();
        let mut first = classified(LIVE, None);
        let mut second = classified(LIVE, None);
        assert_eq!(run(&ctx, &mut seen, &mut first).await, Step::Next);
        assert!(matches!(
            run(&ctx, &mut seen, &mut second).await,
            Step::Drop(_)
        ));
    }

    #[tokio::test]
    async fn receipts_markers_and_corrections_are_not_content() {
        let (_d, ctx) = ctx_with(&[stored("m1", None)]).await;
        let mut f = classified(
            "<message xmlns='jabber:client' from='romeo@montague.lit/orchard' id='m2' type='chat'>
            <body>fixed</body><replace xmlns='urn:xmpp:message-correct:0' id='m1'/></message>",
            None,
        );
        assert_eq!(run(&ctx, &mut HashSet::new(), &mut f).await, Step::Next);
    }
}
