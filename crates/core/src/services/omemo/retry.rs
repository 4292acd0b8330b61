//! Encrypted messages that could not be decrypted when they came but may
//! be later (`inbound::decrypt::may_decrypt_later`): kept with their
//! `<encrypted/>` element and tried again, oldest first, after the archive
//! catch-up (which reads newest first, while a ratchet needs its messages
//! in order: a message sent before the one that starts its session, or one
//! too far ahead of the messages before it, decrypts once those are in).

use std::collections::HashSet;
use std::str::FromStr;

use tern_omemo::legacy_omemo::Encrypted;
use tern_omemo::{BareJid, DecryptBatch};
use tern_store::{Direction, MessageRow};
use xmpp_parsers::minidom::Element;

use crate::account::ctx::Ctx;
use crate::events::ClientEvent;
use crate::inbound::decrypt::may_decrypt_later;

/// Waiting messages tried in one batch: their sessions are read once and
/// written once, after the batch's messages are stored.
const CHUNK: i64 = 500;

/// Tries the account's waiting messages again; returns how many were
/// decrypted.
pub(crate) async fn run(ctx: &Ctx) -> usize {
    // From here on, archive messages are tried again as they come (see
    // `OmemoState::archive_waits`).
    ctx.omemo.clear_archive_waiting();
    let mut decrypted = 0;
    let mut peers = std::collections::BTreeSet::new();
    // A sender's device whose message still cannot be decrypted blocks its
    // later ones in this pass: they come after it in its chain, so they
    // cannot be decrypted either (trying would cost a ratchet read and a
    // write each, for every waiting message, at every pass).
    let mut blocked: HashSet<(BareJid, u32)> = HashSet::new();
    let mut after = None;
    loop {
        let pending = match ctx
            .store
            .omemo_pending_page(&ctx.account, after, CHUNK)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("messages to decrypt again not read: {e}");
                break;
            }
        };
        let Some((last, _, _)) = pending.last() else {
            break;
        };
        after = Some((last.timestamp_ms, last.id));
        let full = pending.len() as i64 == CHUNK;
        decrypted += chunk(ctx, pending, &mut blocked, &mut peers).await;
        if !full {
            break;
        }
    }
    for peer in peers {
        crate::inbound::emit_conversation(ctx, &peer).await;
    }
    if decrypted > 0 || !blocked.is_empty() {
        tracing::info!(account = %ctx.account, decrypted, "waiting encrypted messages tried again");
    }
    decrypted
}

/// Tries one chunk of waiting messages, oldest first, in one batch;
/// returns how many were decrypted.
async fn chunk(
    ctx: &Ctx,
    pending: Vec<(MessageRow, String, Option<String>)>,
    blocked: &mut HashSet<(BareJid, u32)>,
    peers: &mut std::collections::BTreeSet<String>,
) -> usize {
    let mut engine = match ctx.omemo.engine(ctx).await {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!("waiting messages not tried: {e}");
            return 0;
        }
    };
    let mut batch = DecryptBatch::default();
    let mut outcomes: Vec<(i64, Result<String, String>, bool)> = Vec::new();
    let mut events = Vec::new();
    for (row, xml, real_sender) in pending {
        let Some((sender, element)) = read(ctx, &row, &xml, real_sender) else {
            let reason =
                crate::services::omemo::reason(&tern_omemo::Error::Malformed("encrypted element"));
            outcomes.push((row.id, Err(reason), false));
            continue;
        };
        let device = (sender.clone(), element.header.sid);
        if blocked.contains(&device) {
            continue;
        }
        let max = tern_omemo::session::MAX_SKIP;
        let outcome = match engine
            .decrypt_in_batch(&mut batch, &sender, &element, max)
            .await
        {
            Ok(d) => {
                events.extend(d.events);
                match d.plaintext {
                    Some(p) => (Ok(String::from_utf8_lossy(&p).into_owned()), false),
                    None => (Err("This message carried no text.".to_string()), false),
                }
            }
            Err(e) => {
                tracing::debug!(id = row.id, "still not decrypted: {e}");
                let keep = may_decrypt_later(&e);
                if keep {
                    blocked.insert(device);
                }
                (Err(crate::services::omemo::reason(&e)), keep)
            }
        };
        outcomes.push((row.id, outcome.0, outcome.1));
    }
    // The messages first, then the sessions that decrypted them: a crash
    // in between leaves sessions that can decrypt the messages again.
    let refs: Vec<(i64, Result<&str, &str>, bool)> = outcomes
        .iter()
        .map(|(id, o, keep)| (*id, o.as_deref().map_err(String::as_str), *keep))
        .collect();
    let stored = ctx.store.omemo_retried_many(&refs).await;
    let finished = match &stored {
        Ok(_) => engine.finish_batch(batch).await,
        // Not stored: the sessions stay where they were, so these messages
        // can be decrypted at the next try.
        Err(_) => Ok(Vec::new()),
    };
    drop(engine);
    match finished {
        Ok(more) => events.extend(more),
        Err(e) => tracing::warn!("sessions of decrypted messages not stored: {e}"),
    }
    ctx.omemo.note(&events);
    let rows = match stored {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!("decrypted messages not stored: {e}");
            return 0;
        }
    };
    let mut decrypted = 0;
    for m in rows.into_iter().flatten() {
        if !m.encrypted || m.decrypt_error.is_none() {
            decrypted += 1;
        }
        peers.insert(m.peer.clone());
        ctx.hub.emit(ClientEvent::Message { message: m.into() });
    }
    decrypted
}

/// The sender (a real JID in a group chat) and the `<encrypted/>` element
/// of a waiting message, if they can be read.
fn read(
    ctx: &Ctx,
    row: &MessageRow,
    xml: &str,
    real_sender: Option<String>,
) -> Option<(BareJid, Encrypted)> {
    let sender = match (row.direction, real_sender) {
        (Direction::Outgoing, _) => Some(ctx.own.clone()),
        // In a group chat, the sender's real JID.
        (Direction::Incoming, Some(jid)) => BareJid::from_str(&jid).ok(),
        (Direction::Incoming, None) => BareJid::from_str(
            row.sender
                .split_once('/')
                .map_or(row.sender.as_str(), |(b, _)| b),
        )
        .ok(),
    };
    let element = match Element::from_str(xml) {
        Ok(e) => Encrypted::try_from(e)
            .map_err(|e| tracing::debug!(id = row.id, "waiting element refused: {e}"))
            .ok(),
        Err(e) => {
            tracing::debug!(id = row.id, "waiting element unreadable: {e}");
            None
        }
    };
    Some((sender?, element?))
}
