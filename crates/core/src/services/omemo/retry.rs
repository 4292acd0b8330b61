//! Encrypted messages that could not be decrypted when they came but may
//! be later (`inbound::decrypt::may_decrypt_later`): kept with their
//! `<encrypted/>` element and tried again, oldest first, after the archive
//! catch-up (which reads newest first, while a ratchet needs its messages
//! in order: a message sent before the one that starts its session, or one
//! too far ahead of the messages before it, decrypts once those are in).

use std::str::FromStr;

use tern_omemo::legacy_omemo::Encrypted;
use tern_omemo::BareJid;
use tern_store::Direction;
use xmpp_parsers::minidom::Element;

use crate::account::ctx::Ctx;
use crate::events::ClientEvent;
use crate::inbound::decrypt::may_decrypt_later;

/// Tries the account's waiting messages again; returns how many were
/// decrypted.
pub(crate) async fn run(ctx: &Ctx) -> usize {
    let pending = match ctx.store.omemo_pending(&ctx.account).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!("messages to decrypt again not read: {e}");
            return 0;
        }
    };
    if pending.is_empty() {
        return 0;
    }
    let mut decrypted = 0;
    let mut peers = std::collections::BTreeSet::new();
    // A sender's device whose message still cannot be decrypted blocks its
    // later ones in this pass: they come after it in its chain, so they
    // cannot be decrypted either (trying would cost a ratchet read and a
    // write each, for every waiting message, at every pass).
    let mut blocked: std::collections::HashSet<(BareJid, u32)> = Default::default();
    for (row, xml, real_sender) in pending {
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
        let element = match Element::from_str(&xml) {
            Ok(e) => Encrypted::try_from(e)
                .map_err(|e| tracing::debug!(id = row.id, "waiting element refused: {e}"))
                .ok(),
            Err(e) => {
                tracing::debug!(id = row.id, "waiting element unreadable: {e}");
                None
            }
        };
        let (Some(sender), Some(element)) = (sender, element) else {
            let _ = ctx
                .store
                .omemo_retried(
                    row.id,
                    Err(&crate::services::omemo::reason(
                        &tern_omemo::Error::Malformed("encrypted element"),
                    )),
                    false,
                )
                .await;
            continue;
        };
        let device = (sender.clone(), element.header.sid);
        if blocked.contains(&device) {
            continue;
        }
        let result = match ctx.omemo.decrypt(ctx, &sender, &element, true).await {
            Ok(d) => match d.plaintext {
                Some(p) => {
                    let text = String::from_utf8_lossy(&p).into_owned();
                    ctx.store.omemo_retried(row.id, Ok(&text), false).await
                }
                None => {
                    let none = "This message carried no text.";
                    ctx.store.omemo_retried(row.id, Err(none), false).await
                }
            },
            Err(e) => {
                tracing::debug!(id = row.id, "still not decrypted: {e}");
                let keep = may_decrypt_later(&e);
                if keep {
                    blocked.insert(device);
                }
                let reason = crate::services::omemo::reason(&e);
                ctx.store.omemo_retried(row.id, Err(&reason), keep).await
            }
        };
        match result {
            Ok(Some(m)) => {
                if !m.encrypted || m.decrypt_error.is_none() {
                    decrypted += 1;
                }
                peers.insert(m.peer.clone());
                ctx.hub.emit(ClientEvent::Message { message: m.into() });
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("decrypted message not stored: {e}"),
        }
    }
    for peer in peers {
        crate::inbound::emit_conversation(ctx, &peer).await;
    }
    tracing::info!(account = %ctx.account, decrypted, "waiting encrypted messages tried again");
    decrypted
}
