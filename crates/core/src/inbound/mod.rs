//! The inbound pipeline: every `<message/>` the account receives, live or
//! from the archive, passes the same stages in one declared order,
//! [`ORDER`]. Each stage is a file of this folder:
//!
//! 1. [`unwrap`]: opens carbons (XEP-0280) and archive results (XEP-0313),
//!    only when they come from the account's own server;
//! 2. [`classify`]: conversation kind (one-to-one, group chat, private
//!    message in a group chat), direction, peer, time and ids;
//! 3. [`known`]: a message the store already has stops here, before any
//!    decryption, so a live copy, a carbon and an archive copy never reach
//!    a ratchet twice;
//! 4. [`decrypt`]: OMEMO-encrypted one-to-one messages (XEP-0384) become
//!    their plaintext;
//! 5. [`validate`]: size limits and what Tern can file, else dropped with a
//!    log line;
//! 6. [`apply`]: what the message changes, as store [`Change`]s and events
//!    (retractions, corrections, reactions, receipts, markers, chat states,
//!    a new message);
//! 7. [`commit`]: the changes of the whole batch in one transaction;
//! 8. [`emit`]: events for the UI, from what the commit changed;
//! 9. [`reply`]: receipts for live messages (to people the user knows).
//!
//! Stages 1–6 run for each message of a batch, 7–9 once per batch: a live
//! message is a batch of one, an archive page a batch of up to a page.
//! Stages return their effects in the [`Flow`] instead of writing anything
//! themselves, so each can be tested without a server or a store. The one
//! exception is the ratchet: decrypting moves the OMEMO sessions on in the
//! OMEMO service's own tables, message by message (see [`decrypt`]).

pub(crate) mod apply;
pub(crate) mod classify;
pub(crate) mod commit;
pub(crate) mod decrypt;
pub(crate) mod emit;
mod flow;
pub(crate) mod known;
pub(crate) mod reply;
pub(crate) mod unwrap;
pub(crate) mod validate;

use std::collections::HashSet;

use tern_store::Change;
use tokio_xmpp::Stanza;
use xmpp_parsers::message::Message;

use crate::account::ctx::Ctx;

pub(crate) use emit::emit_conversation;
pub(crate) use flow::{Batch, Flow, Step};

/// A stage of the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    Unwrap,
    Classify,
    Known,
    Decrypt,
    Validate,
    Apply,
    Commit,
    Emit,
    Reply,
}

/// The order the stages run in.
pub(crate) const ORDER: [Stage; 9] = [
    Stage::Unwrap,
    Stage::Classify,
    Stage::Known,
    Stage::Decrypt,
    Stage::Validate,
    Stage::Apply,
    Stage::Commit,
    Stage::Emit,
    Stage::Reply,
];

impl Stage {
    /// Whether the stage runs once per message (else once per batch).
    pub(crate) fn per_message(self) -> bool {
        !matches!(self, Stage::Commit | Stage::Emit | Stage::Reply)
    }

    async fn run_one(self, ctx: &Ctx, batch: &mut Batch, flow: &mut Flow) -> Step {
        match self {
            Stage::Unwrap => unwrap::run(&ctx.own, batch.archive_of.as_ref(), flow),
            Stage::Classify => classify::run(&ctx.own, &ctx.rooms, batch.archive_of.as_ref(), flow),
            Stage::Known => known::run(ctx, &mut batch.seen, flow).await,
            Stage::Decrypt => decrypt::run(ctx, batch, flow).await,
            Stage::Validate => validate::run(flow),
            Stage::Apply => apply::run(&ctx.account, flow),
            Stage::Commit | Stage::Emit | Stage::Reply => Step::Next,
        }
    }

    async fn run_batch(self, ctx: &Ctx, batch: &mut Batch) {
        match self {
            Stage::Commit => commit::run(ctx, batch).await,
            Stage::Emit => emit::run(ctx, batch).await,
            Stage::Reply => {
                let known = reply::known_peers(ctx, batch).await;
                reply::run(batch, &known)
            }
            _ => {}
        }
    }
}

/// How a batch is announced and counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mode {
    /// Each added or changed message becomes an event (live messages, and
    /// a reconnect's catch-up). A device's first catch-up announces only
    /// the conversations' list entries: the page reads what it shows from
    /// the store.
    pub announce_messages: bool,
    /// A device's first catch-up: what the user answered or marked
    /// displayed is read (see `tern_store::Change::SettleUnread`).
    pub settle_unread: bool,
}

impl Mode {
    /// Live messages, carbons, a reconnect's catch-up, scroll-back.
    pub(crate) const LIVE: Mode = Mode {
        announce_messages: true,
        settle_unread: false,
    };
    /// A device's first catch-up (and its background history).
    pub(crate) const FIRST_SYNC: Mode = Mode {
        announce_messages: false,
        settle_unread: true,
    };
}

/// What processing a batch did.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Stanzas to send back (receipts).
    pub replies: Vec<Stanza>,
    /// Messages with text among the batch, stored now or before (archives
    /// also hold receipts, markers, corrections and reactions).
    pub texts: u64,
    /// The time of the oldest message of the batch.
    pub oldest_ms: Option<i64>,
}

/// Runs messages through every stage, in [`ORDER`]. Each item carries the
/// time to file it under, when the caller knows better than the stanza
/// (archive stamps only have whole seconds; see `services::archive`).
pub(crate) async fn process(ctx: &Ctx, items: Vec<(Message, Option<i64>)>, mode: Mode) -> Outcome {
    process_from(ctx, items, mode, None).await
}

/// [`process`] for an archive page of a group chat's own archive
/// (`archive_of`: the room), whose results come from the room.
pub(crate) async fn process_from(
    ctx: &Ctx,
    items: Vec<(Message, Option<i64>)>,
    mode: Mode,
    archive_of: Option<&str>,
) -> Outcome {
    let mut batch = Batch {
        archive_of: archive_of.and_then(|r| xmpp_parsers::jid::BareJid::new(r).ok()),
        mode,
        flows: items
            .into_iter()
            .map(|(stanza, time)| Flow::new(stanza, time))
            .collect(),
        seen: HashSet::new(),
        ..Batch::default()
    };
    for stage in ORDER {
        if stage.per_message() {
            let mut flows = std::mem::take(&mut batch.flows);
            for flow in flows.iter_mut().filter(|f| f.dropped.is_none()) {
                if let Step::Drop(why) = stage.run_one(ctx, &mut batch, flow).await {
                    tracing::debug!(?stage, why, "inbound message dropped");
                    flow.dropped = Some((stage, why));
                }
            }
            batch.flows = flows;
        } else {
            if batch.changes.is_empty() {
                batch.changes = batch
                    .flows
                    .iter_mut()
                    .flat_map(|f| std::mem::take(&mut f.changes))
                    .collect::<Vec<Change>>();
                if mode.settle_unread {
                    let settle = settle_changes(&batch.changes);
                    batch.changes.extend(settle);
                }
            }
            stage.run_batch(ctx, &mut batch).await;
        }
    }
    Outcome {
        texts: batch.flows.iter().filter(|f| f.is_content()).count() as u64,
        oldest_ms: batch
            .flows
            .iter()
            .filter_map(|f| f.classified.as_ref().map(|c| c.timestamp_ms))
            .min(),
        replies: batch.replies,
    }
}

/// One settling of unread counts per conversation the changes touch.
fn settle_changes(changes: &[Change]) -> Vec<Change> {
    let mut seen: Vec<(String, String)> = Vec::new();
    for c in changes {
        let key = match c {
            Change::Insert { message, .. } => (message.account.clone(), message.peer.clone()),
            Change::ReadMarker { account, peer, .. } => (account.clone(), peer.clone()),
            _ => continue,
        };
        if !seen.contains(&key) {
            seen.push(key);
        }
    }
    seen.into_iter()
        .map(|(account, peer)| Change::SettleUnread { account, peer })
        .collect()
}

/// Runs live messages that came together through the pipeline as one
/// batch; returns what to send back.
pub(crate) async fn on_messages(ctx: &Ctx, msgs: Vec<Message>) -> Vec<Stanza> {
    if msgs.is_empty() {
        return Vec::new();
    }
    let items = msgs.into_iter().map(|m| (m, None)).collect();
    process(ctx, items, Mode::LIVE).await.replies
}

/// Runs one live message through the pipeline; returns what to send back.
pub(crate) async fn on_message(ctx: &Ctx, msg: Message) -> Vec<Stanza> {
    process(ctx, vec![(msg, None)], Mode::LIVE).await.replies
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::account::ctx::tests::ctx_with;
    use crate::events::ClientEvent;
    use xmpp_parsers::minidom::Element;

    fn archived(id: &str, inner: &str) -> Message {
        let xml = format!(
            "<message xmlns='jabber:client'><result xmlns='urn:xmpp:mam:2' id='{id}'>\
             <forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2026-01-01T10:00:00Z'/>\
             {inner}</forwarded></result></message>"
        );
        Message::try_from(xml.parse::<Element>().unwrap()).unwrap()
    }

    #[tokio::test]
    async fn a_page_is_stored_at_once_with_its_corrections_and_receipts() {
        let (_d, ctx) = ctx_with(&[]).await;
        let mut rx = ctx.hub.subscribe().1;
        let page = vec![
            archived("A1", "<message xmlns='jabber:client' from='romeo@montague.lit/o' to='juliet@capulet.lit' id='m1' type='chat'><body>helo</body></message>"),
            archived("A2", "<message xmlns='jabber:client' from='juliet@capulet.lit/b' to='romeo@montague.lit' id='m2' type='chat'><body>hi</body></message>"),
            archived("A3", "<message xmlns='jabber:client' from='romeo@montague.lit/o' to='juliet@capulet.lit' id='m3' type='chat'><body>hello</body><replace xmlns='urn:xmpp:message-correct:0' id='m1'/></message>"),
            archived("A4", "<message xmlns='jabber:client' from='romeo@montague.lit/o' to='juliet@capulet.lit' id='m4' type='chat'><received xmlns='urn:xmpp:receipts' id='m2'/></message>"),
        ];
        let items = page
            .into_iter()
            .enumerate()
            .map(|(i, m)| (m, Some(1_767_261_600_000 + i as i64)))
            .collect();
        let out = process(&ctx, items, Mode::LIVE).await;
        assert_eq!(
            out.texts, 2,
            "two messages with text; a correction and a receipt"
        );
        assert!(
            out.replies.is_empty(),
            "nothing is answered for the archive"
        );
        let rows = ctx
            .store
            .timeline(&ctx.account, "romeo@montague.lit", None, 10)
            .await
            .unwrap();
        let got: Vec<_> = rows
            .iter()
            .map(|m| (m.body.as_str(), m.edited, m.state, m.archive_id.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "hello",
                    true,
                    tern_store::MessageState::Received,
                    Some("A1")
                ),
                ("hi", false, tern_store::MessageState::Delivered, Some("A2")),
            ],
            "the correction and the receipt found messages of the same page"
        );
        let events: Vec<ClientEvent> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        let conversations = events
            .iter()
            .filter(|e| matches!(e, ClientEvent::Conversation { .. }))
            .count();
        assert_eq!(conversations, 1, "one list update for the page");
        // The same page again (a second catch-up): nothing new, no events
        // but the receipts' and corrections' (idempotent) re-application.
        let again = process(
            &ctx,
            vec![(archived("A1", "<message xmlns='jabber:client' from='romeo@montague.lit/o' to='juliet@capulet.lit' id='m1' type='chat'><body>helo</body></message>"), None)],
            Mode::LIVE,
        )
        .await;
        assert_eq!(again.texts, 1);
        assert_eq!(
            ctx.store
                .message_count(&ctx.account, "romeo@montague.lit")
                .await
                .unwrap(),
            2
        );
    }

    #[tokio::test]
    async fn replies_are_stored_without_the_quote_other_clients_add() {
        let (_d, ctx) = ctx_with(&[]).await;
        let live = |xml: &str| -> Message { xml.parse::<Element>().unwrap().try_into().unwrap() };
        on_message(&ctx, live("<message xmlns='jabber:client' from='romeo@montague.lit/o' id='q1' type='chat'><body>We should bake a cake</body></message>")).await;
        // Marked as a fallback (XEP-0428), as Dino and Conversations do.
        on_message(&ctx, live("<message xmlns='jabber:client' from='romeo@montague.lit/o' id='q2' type='chat'>
            <body>&gt; Romeo wrote:\n&gt; We should bake a cake\nGreat idea!</body>
            <reply xmlns='urn:xmpp:reply:0' to='romeo@montague.lit/o' id='q1'/>
            <fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='39'/></fallback></message>")).await;
        // Not marked: the quote matches the replied message.
        on_message(
            &ctx,
            live(
                "<message xmlns='jabber:client' from='romeo@montague.lit/o' id='q3' type='chat'>
            <body>&gt; We should bake a cake\nWith cherries</body>
            <reply xmlns='urn:xmpp:reply:0' to='romeo@montague.lit/o' id='q1'/></message>",
            ),
        )
        .await;
        let rows = ctx
            .store
            .timeline(&ctx.account, "romeo@montague.lit", None, 10)
            .await
            .unwrap();
        let bodies: Vec<&str> = rows.iter().map(|m| m.body.as_str()).collect();
        assert_eq!(
            bodies,
            vec!["We should bake a cake", "Great idea!", "With cherries"]
        );
        assert!(rows[1..]
            .iter()
            .all(|m| m.reply_to.as_deref() == Some("q1")));
    }

    #[tokio::test]
    async fn a_live_message_is_stored_and_answered() {
        let (_d, ctx) = ctx_with(&[]).await;
        contact(&ctx, "romeo@montague.lit", "both", false).await;
        let msg: Message = "<message xmlns='jabber:client' from='romeo@montague.lit/o' to='juliet@capulet.lit/b' id='x1' type='chat'><body>hi</body><request xmlns='urn:xmpp:receipts'/></message>"
            .parse::<Element>()
            .unwrap()
            .try_into()
            .unwrap();
        let replies = on_message(&ctx, msg.clone()).await;
        assert_eq!(replies.len(), 1, "a receipt");
        let again = on_message(&ctx, msg).await;
        assert_eq!(again.len(), 1, "a resent copy is answered too");
        assert_eq!(
            ctx.store
                .message_count(&ctx.account, "romeo@montague.lit")
                .await
                .unwrap(),
            1
        );
    }

    /// Puts `jid` in the roster of the test account.
    pub(crate) async fn contact(ctx: &Ctx, jid: &str, subscription: &str, ask: bool) {
        ctx.store
            .upsert_roster_item(
                &ctx.account,
                &tern_store::RosterRow {
                    jid: jid.into(),
                    name: None,
                    subscription: subscription.into(),
                    ask,
                    groups: Vec::new(),
                },
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn strangers_get_no_receipts_unless_the_user_chose() {
        let (_d, ctx) = ctx_with(&[]).await;
        contact(&ctx, "nurse@capulet.lit", "none", false).await;
        contact(&ctx, "friar@verona.lit", "none", true).await;
        contact(&ctx, "tybalt@capulet.lit", "from", false).await;
        let asking = |from: &str, id: &str| -> Message {
            format!("<message xmlns='jabber:client' from='{from}' to='juliet@capulet.lit/b' id='{id}' type='chat'><body>hi</body><request xmlns='urn:xmpp:receipts'/></message>")
                .parse::<Element>()
                .unwrap()
                .try_into()
                .unwrap()
        };
        let batch = |n: u32| {
            vec![
                // Not in the roster.
                asking("mallory@evil.example/x", &format!("s1-{n}")),
                // A private message through a room.
                asking("coven@chat.shakespeare.lit/witch", &format!("s2-{n}")),
                // In the roster, whatever the subscription.
                asking("nurse@capulet.lit/kitchen", &format!("k1-{n}")),
                asking("friar@verona.lit/cell", &format!("k2-{n}")),
                asking("tybalt@capulet.lit/street", &format!("k3-{n}")),
            ]
        };
        let answered = |replies: Vec<Stanza>| {
            let mut to: Vec<String> = replies
                .iter()
                .map(|r| match r {
                    Stanza::Message(m) => m.to.as_ref().unwrap().to_string(),
                    other => panic!("{other:?}"),
                })
                .collect();
            to.sort();
            to
        };
        assert_eq!(
            answered(on_messages(&ctx, batch(1)).await),
            [
                "friar@verona.lit/cell",
                "nurse@capulet.lit/kitchen",
                "tybalt@capulet.lit/street"
            ]
        );
        assert_eq!(
            ctx.store
                .message_count(&ctx.account, "mallory@evil.example")
                .await
                .unwrap(),
            1,
            "the message itself is kept"
        );
        // The user chose to send receipts to strangers too.
        ctx.privacy.set(crate::Privacy {
            receipts_to_strangers: true,
            ..crate::Privacy::default()
        });
        assert_eq!(answered(on_messages(&ctx, batch(2)).await).len(), 5);
    }

    #[tokio::test]
    async fn in_a_group_chat_only_the_sender_changes_a_message_and_only_the_room_removes_it() {
        let (_d, ctx) = ctx_with(&[]).await;
        let room = xmpp_parsers::jid::BareJid::new("coven@chat.shakespeare.lit").unwrap();
        ctx.rooms
            .ensure(&room, tern_store::RoomRow::default(), "juliet".into());
        let live = |xml: &str| -> Message { xml.parse::<Element>().unwrap().try_into().unwrap() };
        let m = |from: &str, id: &str, inner: &str| {
            live(&format!(
                "<message xmlns='jabber:client' from='coven@chat.shakespeare.lit{from}' id='{id}' type='groupchat'>{inner}</message>"
            ))
        };
        let sid = |id: &str| {
            format!("<stanza-id xmlns='urn:xmpp:sid:0' by='coven@chat.shakespeare.lit' id='{id}'/>")
        };
        on_messages(
            &ctx,
            vec![
                m("/firstwitch", "a1", &format!("<body>Thrice the brinded cat</body>{}", sid("S1"))),
                // Another occupant "corrects" it: ignored.
                m("/secondwitch", "b1", &format!("<body>forged</body><replace xmlns='urn:xmpp:message-correct:0' id='a1'/>{}", sid("S2"))),
                // Another occupant announces a moderation: ignored.
                m("/secondwitch", "b2", "<apply-to xmlns='urn:xmpp:fasten:0' id='S1'><moderated xmlns='urn:xmpp:message-moderate:0' by='coven@chat.shakespeare.lit/secondwitch'><retract xmlns='urn:xmpp:message-retract:0'/></moderated></apply-to>"),
                // A mention of the user.
                m("/secondwitch", "b3", &format!("<body>juliet, thrice and once</body>{}", sid("S3"))),
            ],
        )
        .await;
        let rows = ctx
            .store
            .timeline(&ctx.account, room.as_str(), None, 10)
            .await
            .unwrap();
        let got: Vec<_> = rows
            .iter()
            .map(|r| (r.body.as_str(), r.edited, r.retracted, r.mention))
            .collect();
        assert_eq!(
            got,
            vec![
                ("Thrice the brinded cat", false, false, false),
                ("juliet, thrice and once", false, false, true),
            ]
        );
        let conv = ctx
            .store
            .conversation(&ctx.account, room.as_str())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((conv.unread, conv.mentions), (2, 1));
        // The sender corrects; the room removes.
        on_messages(
            &ctx,
            vec![
                m("/firstwitch", "a2", &format!("<body>Thrice the brinded cat hath mewed</body><replace xmlns='urn:xmpp:message-correct:0' id='a1'/>{}", sid("S4"))),
                m("", "r1", "<apply-to xmlns='urn:xmpp:fasten:0' id='S3'><moderated xmlns='urn:xmpp:message-moderate:0' by='coven@chat.shakespeare.lit/hecate'><retract xmlns='urn:xmpp:message-retract:0'/><reason>spam</reason></moderated></apply-to>"),
                m("/hecate", "s1", "<subject>Fire burn and cauldron bubble</subject>"),
            ],
        )
        .await;
        let rows = ctx
            .store
            .timeline(&ctx.account, room.as_str(), None, 10)
            .await
            .unwrap();
        assert_eq!(rows[0].body, "Thrice the brinded cat hath mewed");
        assert!(rows[0].edited);
        assert!(rows[1].retracted && rows[1].body.is_empty());
        assert_eq!(
            (
                rows[1].moderated_by.as_deref(),
                rows[1].moderation_reason.as_deref()
            ),
            (Some("hecate"), Some("spam"))
        );
        assert_eq!(
            ctx.rooms
                .view(&ctx.account, &room)
                .unwrap()
                .subject
                .as_deref(),
            Some("Fire burn and cauldron bubble")
        );
        // A room the account is not in sends nothing that is kept.
        on_message(
            &ctx,
            live("<message xmlns='jabber:client' from='spam@chat.evil.example/x' id='z' type='groupchat'><body>buy</body></message>"),
        )
        .await;
        assert_eq!(
            ctx.store
                .message_count(&ctx.account, "spam@chat.evil.example")
                .await
                .unwrap(),
            0
        );
    }

    #[test]
    fn the_stages_run_in_the_declared_order() {
        assert_eq!(
            ORDER,
            [
                Stage::Unwrap,
                Stage::Classify,
                Stage::Known,
                Stage::Decrypt,
                Stage::Validate,
                Stage::Apply,
                Stage::Commit,
                Stage::Emit,
                Stage::Reply,
            ]
        );
        // De-duplication comes before decryption (a ratchet must never see
        // a message twice), validation after it (it checks the plaintext),
        // and nothing is written before every message was applied.
        let at = |s| ORDER.iter().position(|x| *x == s).unwrap_or(usize::MAX);
        assert!(at(Stage::Known) < at(Stage::Decrypt));
        assert!(at(Stage::Decrypt) < at(Stage::Validate));
        assert!(at(Stage::Validate) < at(Stage::Apply));
        assert!(ORDER.iter().take_while(|s| s.per_message()).count() == 6);
        assert!(ORDER.iter().skip(6).all(|s| !s.per_message()));
    }
}
