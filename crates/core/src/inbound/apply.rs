//! Stage 6: what a message changes, as store [`Change`]s and events. Pure:
//! the commit stage resolves references and writes.
//!
//! - an error bounces the user's message with that id (its condition and
//!   text are kept);
//! - a retraction (XEP-0424) or correction (XEP-0308) changes a message of
//!   the same direction only: nobody retracts or edits others' words;
//! - reactions (XEP-0444) replace the reactor's set on the message;
//! - receipts (XEP-0184) and displayed markers (XEP-0333) move the user's
//!   messages forward; the user's own marker from another device marks the
//!   conversation read;
//! - chat states (XEP-0085) of live messages become events;
//! - a body becomes a new message.

use tern_store::{Change, ConversationKind, Direction, MessageState, NewMessage, Occupant};

use super::flow::{Flow, Step};
use crate::events::{ChatState, ClientEvent};
use crate::xep::message::Source;

pub(crate) fn run(account: &str, flow: &mut Flow) -> Step {
    let Some(c) = &flow.classified else {
        return Step::Drop("not classified");
    };
    let p = &c.parsed;
    let (account, peer) = (account.to_string(), c.peer.clone());
    let live_incoming = c.source == Source::Live && c.direction == Direction::Incoming;
    let receipt = || {
        let id = p.id.clone()?;
        let to = p
            .from
            .as_ref()
            .map(|f| f.to_string())
            .unwrap_or_else(|| c.peer.clone());
        Some((to, id))
    };

    if p.is_error {
        if let Some(id) = &p.id {
            let (condition, text) = match &p.error {
                Some((c, t)) => (Some(c.clone()), t.clone()),
                None => (None, None),
            };
            flow.changes.push(Change::Fail {
                account,
                peer,
                reference: id.clone(),
                condition,
                text,
            });
        }
        return Step::Next;
    }

    let group = c.kind == ConversationKind::GroupChat;
    // In a group chat, only the occupant who sent a message may change it.
    let occupant = (group && c.direction == Direction::Incoming).then(|| Occupant {
        sender: c.sender.clone(),
        occupant_id: c.occupant_id.clone(),
    });
    if group {
        let from_room = p.from.as_ref().is_some_and(|f| f.resource().is_none());
        if let Some(subject) = crate::xep::muc::read_subject(&flow.stanza_opened()) {
            if c.source == Source::Live && p.body.is_none() {
                flow.changes.push(Change::RoomSubject {
                    account,
                    room: peer,
                    subject,
                });
                return Step::Next;
            }
        }
        let opened = flow.stanza_opened();
        if from_room {
            if let Some(m) = crate::xep::moderation::read_moderated(&opened) {
                flow.changes.push(Change::Moderate {
                    account,
                    peer,
                    stanza_id: m.stanza_id,
                    by: m.by.map(|b| nick_of(&b)),
                    reason: m.reason,
                });
                return Step::Next;
            }
        }
        if let (Some((by, reason)), Some(id)) = (
            crate::xep::moderation::read_tombstone(&opened),
            c.archive_id.clone(),
        ) {
            flow.changes.push(Change::Moderate {
                account,
                peer,
                stanza_id: id,
                by: by.map(|b| nick_of(&b)),
                reason,
            });
            return Step::Next;
        }
    }

    if let Some(target) = &p.retract {
        flow.changes.push(Change::Retract {
            account,
            peer,
            reference: target.clone(),
            direction: c.direction,
            occupant,
        });
        return Step::Next;
    }

    // The link to a file shared in an earlier message (XEP-0447 sources
    // attached later): that message gets it; this one is no message of
    // its own.
    if let Some(attached) = &p.attached {
        if let Some(url) = attached.sources.first() {
            flow.changes.push(Change::AttachFile {
                account,
                peer,
                reference: attached.message_id.clone(),
                direction: c.direction,
                occupant,
                url: url.clone(),
            });
            return Step::Next;
        }
    }

    if let (Some(target), Some(body)) = (&p.replace, &p.body) {
        flow.changes.push(Change::Correct {
            account,
            peer,
            reference: target.clone(),
            direction: c.direction,
            occupant,
            body: body.clone(),
        });
        if live_incoming && p.receipt_request {
            flow.receipts.extend(receipt());
        }
        return Step::Next;
    }

    if let Some((target, emojis)) = &p.reactions {
        let reactor = match c.direction {
            Direction::Outgoing => account.clone(),
            // An occupant: by room JID (`room/nick`).
            Direction::Incoming if group => c.sender.clone(),
            Direction::Incoming => peer.clone(),
        };
        flow.changes.push(Change::React {
            account,
            peer,
            reference: target.clone(),
            reactor,
            emojis: emojis.clone(),
        });
        return Step::Next;
    }

    if group {
        // Receipts and markers in rooms are about everyone's messages.
    } else if c.direction == Direction::Incoming {
        for (reference, state) in [
            (&p.received, MessageState::Delivered),
            (&p.displayed, MessageState::Read),
        ] {
            if let Some(reference) = reference {
                flow.changes.push(Change::Advance {
                    account: account.clone(),
                    peer: peer.clone(),
                    reference: reference.clone(),
                    state,
                });
            }
        }
    } else if let Some(reference) = &p.displayed {
        match c.source {
            // The user read the conversation on another device.
            Source::Carbon => flow.changes.push(Change::MarkRead {
                account: account.clone(),
                peer: peer.clone(),
            }),
            // The user read it on another device some time ago: on a first
            // catch-up, what it marks is read.
            Source::Archive => flow.changes.push(Change::ReadMarker {
                account: account.clone(),
                peer: peer.clone(),
                reference: reference.clone(),
                at_ms: c.timestamp_ms,
            }),
            Source::Live => {}
        }
    }

    if live_incoming {
        if let Some(state) = p.chat_state.as_deref().and_then(ChatState::from_name) {
            flow.events.push(ClientEvent::ChatState {
                account: account.clone(),
                peer: peer.clone(),
                state,
            });
        }
    }

    // A shared file (XEP-0447, XEP-0066): its name is the text shown, or
    // the sender's caption when there is one.
    let (file, body) = match crate::services::files::download::incoming(p) {
        Some((info, caption)) => {
            let body = caption.unwrap_or_else(|| info.name.clone());
            (Some(info), body)
        }
        None => {
            let Some(body) = p.body.clone().filter(|b| !b.trim().is_empty()) else {
                return Step::Next;
            };
            (None, body)
        }
    };
    // Without any id there is no way to de-duplicate; still keep it,
    // keyed by content and time.
    let uid = c
        .uid()
        .unwrap_or_else(|| format!("t{}-{}", c.timestamp_ms, body.len()));
    let state = match c.direction {
        Direction::Outgoing => MessageState::Acked,
        Direction::Incoming => MessageState::Received,
    };
    flow.changes.push(Change::Insert {
        message: NewMessage {
            account,
            peer,
            direction: c.direction,
            sender: c.sender.clone(),
            uid,
            msg_id: p.id.clone(),
            archive_id: c.archive_id.clone(),
            archive_by: c.archive_by.clone(),
            kind: c.kind,
            body,
            timestamp_ms: c.timestamp_ms,
            state,
            reply_to: p.reply_to.clone(),
            coarse_time: c.coarse_time,
            mention: c.mention,
            occupant_id: c.occupant_id.clone(),
            file: file.map(|f| f.to_json()),
            encrypted: c.encrypted,
            decrypt_error: c.decrypt_error.clone(),
            omemo_retry: c.omemo_retry.clone(),
            omemo_sender: c.omemo_sender.clone(),
            call: None,
        },
        count_unread: true,
    });
    if live_incoming && p.receipt_request {
        flow.receipts.extend(receipt());
    }
    Step::Next
}

/// The nickname in an occupant's room JID (`room@service/nick`), else the
/// whole address.
fn nick_of(by: &str) -> String {
    match by.split_once('/') {
        Some((_, nick)) if !nick.is_empty() => nick.to_string(),
        _ => by.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::classify::tests::classified;

    const OWN: &str = "juliet@capulet.lit";
    const ROMEO: &str = "romeo@montague.lit";

    fn applied(xml: &str) -> Flow {
        let mut f = classified(xml, None);
        assert_eq!(run(OWN, &mut f), Step::Next);
        f
    }

    #[test]
    fn a_body_becomes_a_new_message_with_a_receipt() {
        let f = applied("<message xmlns='jabber:client' from='romeo@montague.lit/orchard' id='m1' type='chat'>
            <body>Wherefore art thou?</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/>
            <request xmlns='urn:xmpp:receipts'/><reply xmlns='urn:xmpp:reply:0' to='juliet@capulet.lit' id='prev'/></message>");
        let [Change::Insert {
            message,
            count_unread,
        }] = &f.changes[..]
        else {
            panic!("{:?}", f.changes)
        };
        assert!(count_unread);
        assert_eq!(message.body, "Wherefore art thou?");
        assert_eq!(message.uid, "o1");
        assert_eq!(message.msg_id.as_deref(), Some("m1"));
        assert_eq!(message.peer, ROMEO);
        assert_eq!(message.direction, Direction::Incoming);
        assert_eq!(message.state, MessageState::Received);
        assert_eq!(message.reply_to.as_deref(), Some("prev"));
        assert!(!message.coarse_time);
        assert!(f.is_content());
        assert_eq!(
            f.receipts,
            vec![("romeo@montague.lit/orchard".into(), "m1".into())]
        );
    }

    #[test]
    fn corrections_and_retractions_keep_to_their_direction() {
        // XEP-0308 §3, example 2.
        let f = applied("<message xmlns='jabber:client' from='romeo@montague.lit/orchard' id='good1' type='chat'>
            <body>But soft, what light through yonder window breaks?</body>
            <replace id='bad1' xmlns='urn:xmpp:message-correct:0'/></message>");
        assert!(
            matches!(&f.changes[..], [Change::Correct { reference, direction: Direction::Incoming, body, .. }]
            if reference == "bad1" && body.starts_with("But soft"))
        );
        assert!(!f.is_content(), "a correction is not a new text");
        // XEP-0424 §4, example 1.
        let f = applied("<message xmlns='jabber:client' from='romeo@montague.lit/orchard' type='chat' id='retract-message-1'>
            <retract id='origin-id-1' xmlns='urn:xmpp:message-retract:1'/>
            <fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'/>
            <body>/me retracted a previous message, but it's unsupported by your client.</body></message>");
        assert!(
            matches!(&f.changes[..], [Change::Retract { reference, direction: Direction::Incoming, .. }]
            if reference == "origin-id-1")
        );
    }

    #[test]
    fn reactions_belong_to_their_reactor() {
        // XEP-0444 §3, example 1 (sorted, no repeats).
        let f = applied(
            "<message xmlns='jabber:client' from='romeo@montague.lit/orchard' id='r1' type='chat'>
            <reactions id='744f6e18-a57a-11e9-a656-4889e7820c76' xmlns='urn:xmpp:reactions:0'>
              <reaction>👋</reaction><reaction>🐢</reaction></reactions>
            <store xmlns='urn:xmpp:hints'/></message>",
        );
        let [Change::React {
            reactor,
            emojis,
            reference,
            ..
        }] = &f.changes[..]
        else {
            panic!("{:?}", f.changes)
        };
        assert_eq!(reactor, ROMEO);
        assert_eq!(reference, "744f6e18-a57a-11e9-a656-4889e7820c76");
        assert_eq!(emojis, &vec!["🐢".to_string(), "👋".to_string()], "sorted");
    }

    #[test]
    fn receipts_markers_and_chat_states() {
        // XEP-0184 §5.1 and XEP-0333 §8.
        let f = applied("<message xmlns='jabber:client' from='romeo@montague.lit/orchard' id='bi29sg183b4v' type='chat'>
            <received xmlns='urn:xmpp:receipts' id='richard2-4.1.247'/>
            <displayed xmlns='urn:xmpp:chat-markers:0' id='message-1'/>
            <composing xmlns='http://jabber.org/protocol/chatstates'/></message>");
        assert!(matches!(&f.changes[..], [
            Change::Advance { reference: a, state: MessageState::Delivered, .. },
            Change::Advance { reference: b, state: MessageState::Read, .. },
        ] if a == "richard2-4.1.247" && b == "message-1"));
        assert!(
            matches!(&f.events[..], [ClientEvent::ChatState { state, peer, .. }] if *state == "composing" && peer == ROMEO)
        );
        assert!(f.receipts.is_empty());
    }

    #[test]
    fn the_users_marker_from_another_device_reads_the_conversation() {
        let f = applied("<message xmlns='jabber:client' from='juliet@capulet.lit' to='juliet@capulet.lit/balcony' type='chat'>
              <sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>
                <message xmlns='jabber:client' to='romeo@montague.lit' from='juliet@capulet.lit/phone' type='chat'>
                  <displayed xmlns='urn:xmpp:chat-markers:0' id='m7'/></message>
              </forwarded></sent></message>");
        assert!(matches!(&f.changes[..], [Change::MarkRead { peer, .. }] if peer == ROMEO));
    }

    #[test]
    fn a_bounce_fails_the_users_message() {
        let f = applied("<message xmlns='jabber:client' type='error' from='nobody@capulet.lit' id='m9'>
            <body>hello?</body><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>");
        assert!(
            matches!(&f.changes[..], [Change::Fail { reference, condition: Some(c), .. }]
            if reference == "m9" && c == "service-unavailable")
        );
        assert!(!f.is_content());
    }

    #[test]
    fn archived_messages_have_coarse_times_and_ask_nothing() {
        let f = applied("<message xmlns='jabber:client'>
            <result xmlns='urn:xmpp:mam:2' id='A1'><forwarded xmlns='urn:xmpp:forward:0'>
            <delay xmlns='urn:xmpp:delay' stamp='1970-01-01T00:00:01Z'/>
            <message xmlns='jabber:client' from='romeo@montague.lit/orchard' id='m1' type='chat'>
              <body>hi</body><request xmlns='urn:xmpp:receipts'/><composing xmlns='http://jabber.org/protocol/chatstates'/></message>
            </forwarded></result></message>");
        let [Change::Insert { message, .. }] = &f.changes[..] else {
            panic!()
        };
        assert!(message.coarse_time);
        assert_eq!(message.archive_id.as_deref(), Some("A1"));
        assert!(f.receipts.is_empty() && f.events.is_empty());
    }
}
