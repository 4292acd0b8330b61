//! Stage 4: end-to-end decryption of one-to-one messages (OMEMO 0.3,
//! XEP-0384), live, carbons, offline and from the archive. It runs after
//! the known stage, so a copy the store already has never reaches a
//! ratchet (a ratchet decrypts each message once), and before validation,
//! which checks the plaintext.
//!
//! - a payload becomes the message's body (what the later stages see and
//!   the store keeps), the message marked encrypted;
//! - a key-transport element (no payload) or an empty plaintext only moves
//!   the sessions on: no message comes of it (its other payloads, a
//!   receipt or a chat state, still count);
//! - a payload that cannot be decrypted keeps the message, marked with the
//!   reason in words, its body the sender's fallback text.
//!
//! The one write of this stage is the ratchet's: the OMEMO service
//! (`services::omemo`) keeps its sessions in its own tables and moves them
//! on as it decrypts, message by message, since the next message of the
//! same chain (in the same archive page) needs the state this one left.
//! That state is not the message's: the message itself is written by the
//! commit like any other.
//!
//! A conversation where an encrypted message arrives (or one of the user's
//! own, from another device) is encrypted from then on, unless the user
//! set it otherwise (`services::omemo::send::decide`). A live pre-key
//! message is answered at once with a key-transport message, so that the
//! sender's device stops sending pre-key messages (what Conversations and
//! Dino do).
//!
//! In a group chat, the sender is known by their real JID: from the
//! room's occupants for a live message (by occupant id, else nickname),
//! from the item the room stored with an archived one. A message whose
//! sender the room does not name cannot be decrypted (and says so).
//! Pre-key messages in a group are not answered: the user's next message
//! there moves the sessions on.
//!
//! A live message (not from the archive) that fails because the session
//! with its sender's device broke has that session rebuilt
//! (`services::omemo::send::repair`); the archive comes newest first, so
//! there a missing session only means the message waits for the ones
//! before it.

use tern_store::{ConversationKind, Direction};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::BareJid;

use super::flow::{Batch, Classified, Flow, Step};
use crate::account::ctx::Ctx;
use crate::xep::message::Source;

pub(crate) async fn run(ctx: &Ctx, batch: &mut Batch, flow: &mut Flow) -> Step {
    let Some(c) = flow.classified.as_ref() else {
        return Step::Next;
    };
    let group = c.kind == ConversationKind::GroupChat;
    if c.parsed.omemo.is_none() || c.kind == ConversationKind::GroupChatPrivate || c.parsed.is_error
    {
        return Step::Next;
    }
    let sender = match (c.direction, group) {
        (Direction::Incoming, false) => match c.parsed.from.as_ref() {
            Some(f) => f.to_bare(),
            None => return Step::Drop("an encrypted message without a sender"),
        },
        (Direction::Incoming, true) => match group_sender(ctx, flow) {
            Some(jid) => jid,
            None => {
                let reason = "Tern does not know who sent this message (the group did not say), \
                              so it cannot be decrypted.";
                if let Some(c) = flow.classified.as_mut() {
                    c.encrypted = true;
                    let fallback = c.parsed.body.take().filter(|b| !b.trim().is_empty());
                    if c.parsed.omemo == Some(true) {
                        c.parsed.body = Some(fallback.unwrap_or_else(|| reason.to_string()));
                        c.decrypt_error = Some(reason.to_string());
                    }
                }
                return Step::Next;
            }
        },
        // Sent by one of the user's other devices.
        (Direction::Outgoing, _) => ctx.own.clone(),
    };
    let element = match &flow.opened {
        Some(o) => crate::xep::omemo::read_encrypted(&o.message),
        None => None,
    };
    let mut retry = None;
    let outcome = match element {
        None => return Step::Next,
        Some(Err(e)) => {
            tracing::info!(%sender, "a malformed OMEMO element: {e}");
            Err(tern_omemo::Error::Malformed("encrypted element"))
        }
        // An archive read newest first: once a message of this device
        // waits for the ones before it, so do the older ones read after it
        // (they decrypt in order when the catch-up ends, with no failed
        // attempt each). A correction is still tried: one that cannot be
        // decrypted now is dropped.
        Some(Ok(element))
            if c.source == Source::Archive
                && c.parsed.omemo == Some(true)
                && c.parsed.replace.is_none()
                && ctx.omemo.archive_waits(&sender, element.header.sid) =>
        {
            let el = xmpp_parsers::minidom::Element::from(element);
            retry = Some(String::from(&el));
            Err(tern_omemo::Error::NoSession {
                jid: sender.to_string(),
                device_id: 0,
            })
        }
        Some(Ok(element)) => match ctx
            .omemo
            .decrypt(ctx, &sender, &element, c.source != Source::Archive)
            .await
        {
            Ok(d) => {
                let peer = c.peer.clone();
                let live = c.source == Source::Live && c.direction == Direction::Incoming && !group;
                crate::services::omemo::send::decide(ctx, &peer).await;
                if d.should_answer && live {
                    let answer = crate::services::omemo::send::key_transport(ctx, &sender).await;
                    batch.replies.extend(answer.map(Stanza::Message));
                }
                Ok(d.plaintext)
            }
            Err(e) => {
                // Only the archive comes out of order: anywhere else, a
                // missing session is a broken one.
                if may_decrypt_later(&e) && c.source == Source::Archive {
                    ctx.omemo.note_archive_waiting(&sender, element.header.sid);
                    let el = xmpp_parsers::minidom::Element::from(element);
                    retry = Some(String::from(&el));
                } else if c.source != Source::Archive && session_broke(&e) {
                    ctx.omemo.note_broken(tern_omemo::DeviceAddress {
                        jid: sender.clone(),
                        device_id: element.header.sid,
                    });
                }
                Err(e)
            }
        },
    };
    match &outcome {
        Err(_) if retry.is_some() => {
            tracing::debug!(%sender, "an archived OMEMO message waits for the ones before it");
        }
        Err(e) => tracing::info!(%sender, "an OMEMO message not decrypted: {e}"),
        Ok(_) => {}
    }
    if let Some(c) = flow.classified.as_mut() {
        c.omemo_retry = retry;
        if group && c.omemo_retry.is_some() {
            c.omemo_sender = Some(sender.to_string());
        }
    }
    match flow.classified.as_mut() {
        Some(c) => settle(c, &sender, outcome),
        None => Step::Next,
    }
}

/// The real JID of a group-chat message's sender (see the module's
/// comment).
fn group_sender(ctx: &Ctx, flow: &Flow) -> Option<BareJid> {
    let c = flow.classified.as_ref()?;
    let room = c.parsed.from.as_ref()?.to_bare();
    let stored = flow
        .opened
        .as_ref()
        .filter(|o| o.source == Source::Archive)
        .and_then(|o| crate::xep::muc::message_real_jid(&o.message));
    if stored.is_some() {
        return stored;
    }
    let nick = match c.source {
        // Nicknames change: an archived message is known by occupant id.
        Source::Archive => None,
        _ => c
            .parsed
            .from
            .as_ref()
            .and_then(|f| f.resource())
            .map(|r| r.to_string()),
    };
    let jid = ctx.rooms.with(|rooms| {
        rooms
            .get(&room)?
            .real_jid_of(nick.as_deref(), c.occupant_id.as_deref())
    })?;
    BareJid::new(&jid).ok()
}

/// Whether a message that failed with `e` shows the session with its
/// sender's device broke (rather than a replay, a message not meant for
/// this device, or a changed identity, which a new session must not paper
/// over).
fn session_broke(e: &tern_omemo::Error) -> bool {
    use tern_omemo::Error as E;
    matches!(
        e,
        E::NoSession { .. }
            | E::BadMac
            | E::DecryptionFailed
            | E::InvalidMessage(_)
            | E::UnknownPreKey(_)
            | E::UnknownSignedPreKey(_)
    )
}

/// Whether a message that failed with `e` may decrypt later: it came
/// before the message that starts its session (an archive is read newest
/// first), or too far ahead of the messages before it.
pub(crate) fn may_decrypt_later(e: &tern_omemo::Error) -> bool {
    matches!(
        e,
        tern_omemo::Error::NoSession { .. } | tern_omemo::Error::TooFarInFuture { .. }
    )
}

/// What the decryption's outcome makes of the message.
fn settle(
    c: &mut Classified,
    sender: &BareJid,
    outcome: Result<Option<Vec<u8>>, tern_omemo::Error>,
) -> Step {
    let has_payload = c.parsed.omemo == Some(true);
    c.encrypted = true;
    match outcome {
        Ok(Some(plaintext)) => {
            let text = String::from_utf8_lossy(&plaintext).into_owned();
            c.parsed.body = (!text.trim().is_empty()).then_some(text);
        }
        // Key transport: sessions only.
        Ok(None) => c.parsed.body = None,
        // A key-transport element that is not for this device (or a second
        // copy of one) is nothing to keep.
        Err(_) if !has_payload => c.parsed.body = None,
        // A correction that cannot be decrypted (a second copy from the
        // archive, once the ratchet moved past it) must not replace the
        // text it corrects with the fallback.
        Err(_) if c.parsed.replace.is_some() => {
            return Step::Drop("an encrypted correction that could not be decrypted")
        }
        Err(e) => {
            let reason = if c.omemo_retry.is_some() {
                crate::services::omemo::PENDING_REASON.to_string()
            } else {
                crate::services::omemo::reason(&e)
            };
            tracing::debug!(%sender, reason, "kept without its text");
            let fallback = c.parsed.body.take().filter(|b| !b.trim().is_empty());
            c.parsed.body = Some(fallback.unwrap_or_else(|| reason.clone()));
            c.decrypt_error = Some(reason);
        }
    }
    Step::Next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::classify::tests::classified;
    use tern_omemo::{Config, MemoryStore, Omemo};

    const FALLBACK: &str =
        "I sent you an OMEMO encrypted message but your client doesn't seem to support that.";

    fn encrypted_flow(payload: bool) -> Flow {
        let payload = if payload {
            "<payload>AAAA</payload>"
        } else {
            ""
        };
        let body = if payload.is_empty() {
            String::new()
        } else {
            format!("<body>{FALLBACK}</body>")
        };
        classified(&format!("<message xmlns='jabber:client' from='romeo@montague.lit/orchard' to='juliet@capulet.lit' id='e1' type='chat'>{body}<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'><key rid='2'>AAAA</key><iv>AAAAAAAAAAAAAAAA</iv></header>{payload}</encrypted></message>"), None)
    }

    fn romeo() -> BareJid {
        BareJid::new("romeo@montague.lit").unwrap()
    }

    #[test]
    fn the_plaintext_becomes_the_body() {
        let mut f = encrypted_flow(true);
        assert!(f.is_content(), "an encrypted payload is content");
        let c = f.classified.as_mut().unwrap();
        assert_eq!(
            settle(c, &romeo(), Ok(Some("Wherefore art thou?".into()))),
            Step::Next
        );
        assert_eq!(c.parsed.body.as_deref(), Some("Wherefore art thou?"));
        assert!(c.encrypted && c.decrypt_error.is_none());
        assert!(f.is_content());
    }

    #[test]
    fn key_transport_and_empty_messages_make_no_message() {
        for (payload, outcome) in [
            (false, Ok(None)),
            (false, Err(tern_omemo::Error::NotForThisDevice)),
            (true, Ok(Some(b"  ".to_vec()))),
        ] {
            let mut f = encrypted_flow(payload);
            let c = f.classified.as_mut().unwrap();
            assert_eq!(settle(c, &romeo(), outcome), Step::Next);
            assert_eq!(c.parsed.body, None);
            assert!(c.decrypt_error.is_none());
            assert!(!f.is_content());
        }
    }

    #[test]
    fn a_message_that_cannot_be_decrypted_is_kept_with_its_reason() {
        let mut f = encrypted_flow(true);
        let c = f.classified.as_mut().unwrap();
        settle(c, &romeo(), Err(tern_omemo::Error::NotForThisDevice));
        assert_eq!(c.parsed.body.as_deref(), Some(FALLBACK));
        assert!(c.encrypted);
        assert!(c
            .decrypt_error
            .as_deref()
            .is_some_and(|r| r.contains("not encrypted for this device")));
        assert!(f.is_content());
    }

    /// The archive's copy of an encrypted correction comes after the
    /// ratchet moved past it: it must not correct the text to the fallback.
    #[test]
    fn a_correction_that_cannot_be_decrypted_is_dropped() {
        let mut f = classified(&format!("<message xmlns='jabber:client' from='romeo@montague.lit/orchard' to='juliet@capulet.lit' id='e2' type='chat'><body>{FALLBACK}</body><replace xmlns='urn:xmpp:message-correct:0' id='e1'/><encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'><key rid='2'>AAAA</key><iv>AAAAAAAAAAAAAAAA</iv></header><payload>AAAA</payload></encrypted></message>"), None);
        let c = f.classified.as_mut().unwrap();
        assert!(c.parsed.replace.is_some());
        let step = settle(
            c,
            &romeo(),
            Err(tern_omemo::Error::DuplicateMessage { counter: 2 }),
        );
        assert!(matches!(step, Step::Drop(_)), "{step:?}");
    }

    #[tokio::test]
    async fn plain_messages_pass_unchanged() {
        let (_d, ctx) = crate::account::ctx::tests::ctx_with(&[]).await;
        let mut f = classified(
            "<message xmlns='jabber:client' from='romeo@montague.lit/orchard' type='chat'><body>hi</body></message>",
            None,
        );
        let before = f.classified.clone().map(|c| c.parsed);
        assert_eq!(run(&ctx, &mut Batch::default(), &mut f).await, Step::Next);
        assert_eq!(f.classified.as_ref().map(|c| c.parsed.clone()), before);
        assert!(!f.classified.unwrap().encrypted);
    }

    /// Romeo's device starts a session with the test account's (from its
    /// bundle) and sends `texts`; each comes through the whole pipeline.
    #[tokio::test]
    async fn messages_are_decrypted_and_stored_as_plaintext_once() {
        let (_d, ctx) = crate::account::ctx::tests::ctx_with(&[]).await;
        let (juliet_device, bundle) = {
            let engine = ctx.omemo.engine(&ctx).await.unwrap();
            (engine.own_device_id(), engine.own_bundle().await.unwrap())
        };
        let mut romeo_omemo =
            Omemo::load_or_create(MemoryStore::new(), romeo(), Config::default(), 0)
                .await
                .unwrap();
        let juliet = ctx.own.clone();
        romeo_omemo
            .receive_device_list(
                &juliet,
                &tern_omemo::legacy_omemo::DeviceList {
                    devices: vec![tern_omemo::legacy_omemo::Device { id: juliet_device }],
                },
            )
            .await
            .unwrap();
        romeo_omemo
            .receive_bundle(&juliet, juliet_device, &bundle)
            .await
            .unwrap();
        let message = |id: &str, element: tern_omemo::legacy_omemo::Encrypted| {
            let mut m = xmpp_parsers::message::Message::chat(Some(
                xmpp_parsers::jid::Jid::new("juliet@capulet.lit/balcony").unwrap(),
            ));
            m.from = Some(xmpp_parsers::jid::Jid::new("romeo@montague.lit/orchard").unwrap());
            m.id = Some(xmpp_parsers::message::Id(id.into()));
            m.bodies
                .insert(xmpp_parsers::message::Lang::new(), FALLBACK.into());
            m.payloads.push(element.into());
            m
        };
        let texts = ["Did my heart love till now? 💘", "Forswear it, sight!"];
        let mut sent = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            let out = romeo_omemo
                .encrypt(std::slice::from_ref(&juliet), text.as_bytes())
                .await
                .unwrap();
            sent.push(message(&format!("m{i}"), out.element));
        }
        // A message for another device only.
        let mut other = romeo_omemo
            .encrypt(std::slice::from_ref(&juliet), b"not for you")
            .await
            .unwrap()
            .element;
        for k in &mut other.header.keys {
            k.rid = k.rid.wrapping_add(1);
        }
        sent.push(message("m-other", other));
        crate::inbound::on_messages(&ctx, sent.clone()).await;
        // The same messages again (a carbon, the archive): known, never
        // decrypted twice.
        crate::inbound::on_messages(&ctx, sent).await;
        let rows = ctx
            .store
            .timeline(&ctx.account, "romeo@montague.lit", None, 10)
            .await
            .unwrap();
        let got: Vec<_> = rows
            .iter()
            .map(|m| (m.body.as_str(), m.encrypted, m.decrypt_error.is_some()))
            .collect();
        assert_eq!(
            got,
            vec![
                (texts[0], true, false),
                (texts[1], true, false),
                (FALLBACK, true, true),
            ]
        );
        // The pre-key message used a one-time pre-key: the bundle is to be
        // published again.
        assert!(ctx.omemo.take_pending().bundle);
    }

    /// A message the user sent from another device comes back as a carbon,
    /// encrypted for the user's own devices too: it is decrypted as the
    /// user's own, outgoing.
    #[tokio::test]
    async fn a_carbon_from_another_own_device_is_decrypted() {
        let (_d, ctx) = crate::account::ctx::tests::ctx_with(&[]).await;
        let juliet = ctx.own.clone();
        let (device, bundle) = {
            let engine = ctx.omemo.engine(&ctx).await.unwrap();
            (engine.own_device_id(), engine.own_bundle().await.unwrap())
        };
        let mut phone =
            Omemo::load_or_create(MemoryStore::new(), juliet.clone(), Config::default(), 0)
                .await
                .unwrap();
        let list = tern_omemo::legacy_omemo::DeviceList {
            devices: vec![tern_omemo::legacy_omemo::Device { id: device }],
        };
        phone.receive_device_list(&juliet, &list).await.unwrap();
        phone
            .receive_bundle(&juliet, device, &bundle)
            .await
            .unwrap();
        let out = phone
            .encrypt(&[], b"Good night, good night!")
            .await
            .unwrap();
        let encrypted = String::from(&xmpp_parsers::minidom::Element::from(out.element));
        let xml = format!(
            "<message xmlns='jabber:client' from='juliet@capulet.lit' to='juliet@capulet.lit/balcony' type='chat'>\
             <sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>\
             <message xmlns='jabber:client' from='juliet@capulet.lit/phone' to='romeo@montague.lit' type='chat' id='c1'>\
             <body>{FALLBACK}</body>{encrypted}</message></forwarded></sent></message>"
        );
        let m = xmpp_parsers::message::Message::try_from(
            xml.parse::<xmpp_parsers::minidom::Element>().unwrap(),
        )
        .unwrap();
        crate::inbound::on_message(&ctx, m).await;
        let rows = ctx
            .store
            .timeline(&ctx.account, "romeo@montague.lit", None, 10)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].body, "Good night, good night!");
        assert_eq!(rows[0].direction, Direction::Outgoing);
        assert!(rows[0].encrypted && rows[0].decrypt_error.is_none());
    }
}
