//! Stage 2: what the message is. Its conversation kind (one-to-one, group
//! chat, private message to a group-chat occupant), its direction, its
//! peer and sender, the time to file it under, and the archive id with
//! whose archive gave it.
//!
//! The time is never the sender's to choose: a `<delay/>` counts only when
//! the user's own server stamped it (offline delivery), an archive result
//! is filed at the archive's stamp, and nothing is filed later than it
//! arrived.

use tern_store::{ConversationKind, Direction};
use xmpp_parsers::jid::{BareJid, Jid};

use super::flow::{Classified, Flow, Step};
use crate::account::ctx::now_ms;
use crate::services::muc::Rooms;
use crate::xep::message::{parse_message, Source};

/// XEP-0045: a private message through a room carries `<x/>` of this
/// namespace.
const NS_MUC_USER: &str = "http://jabber.org/protocol/muc#user";

pub(crate) fn run(
    own: &BareJid,
    rooms: &Rooms,
    archive_of: Option<&BareJid>,
    flow: &mut Flow,
) -> Step {
    let Some(opened) = &flow.opened else {
        return Step::Drop("not opened");
    };
    let parsed = parse_message(&opened.message, own);
    let source = opened.source;
    if parsed.is_groupchat {
        return group_message(own, rooms, archive_of, flow, parsed);
    }
    // A private message through a room: only from (or, the user's own, to)
    // an occupant of one of the account's rooms; anyone else's `<x/>` does
    // not make a message a room's.
    let through_room =
        |j: Option<&Jid>| j.is_some_and(|j| j.resource().is_some() && rooms.has(&j.to_bare()));
    let kind = if parsed.is_groupchat {
        ConversationKind::GroupChat
    } else if opened
        .message
        .payloads
        .iter()
        .any(|p| p.is("x", NS_MUC_USER))
        && (through_room(parsed.from.as_ref()) || through_room(parsed.to.as_ref()))
    {
        ConversationKind::GroupChatPrivate
    } else {
        ConversationKind::Chat
    };
    // The peer of a one-to-one chat or a group chat is a bare JID; a
    // private message in a group chat is with one occupant (room/nick).
    let peer_of = |j: &Jid| match kind {
        ConversationKind::GroupChatPrivate => j.to_string(),
        _ => j.to_bare().to_string(),
    };
    let outgoing = match source {
        Source::Carbon => opened.sent_by_own_client,
        Source::Archive => parsed.from.as_ref().map(Jid::to_bare).as_ref() == Some(own),
        Source::Live => false,
    };
    let (direction, peer, sender) = if outgoing {
        let Some(to) = parsed.to.as_ref() else {
            return Step::Drop("an own message without a recipient");
        };
        let sender = parsed
            .from
            .as_ref()
            .map(|f| f.to_string())
            .unwrap_or_else(|| own.to_string());
        (Direction::Outgoing, peer_of(to), sender)
    } else {
        let Some(from) = parsed.from.as_ref() else {
            return Step::Drop("a message without a sender");
        };
        (Direction::Incoming, peer_of(from), from.to_string())
    };
    if peer == own.as_str() && source == Source::Live {
        // Our own server talking to us (or a loop): nothing for a chat.
        return Step::Drop("a message from the account to itself");
    }
    let (archive_id, archive_stamp) = match &opened.archive {
        Some((id, stamp)) => (Some(id.clone()), *stamp),
        None => (parsed.archive_id.clone(), None),
    };
    // Archive results and stanza-ids of `by = own` come from the user's own
    // server's archive.
    let archive_by = archive_id.as_ref().map(|_| own.to_string());
    // The time is the user's own server's word, never the sender's: the
    // archive's stamp, or the stamp of offline delivery (a `<delay/>` from
    // the account's domain or bare JID, which `parse_message` reads);
    // anything else is filed at arrival. Never later than arrival either:
    // a message from the future would stay on top of the list.
    let arrival = now_ms();
    let stamped = match source {
        Source::Archive => archive_stamp,
        Source::Live | Source::Carbon => parsed.delay_ms,
    };
    let timestamp_ms = flow.time.or(stamped).unwrap_or(arrival).min(arrival);
    let coarse_time = source == Source::Archive || stamped.is_some();
    flow.classified = Some(Classified {
        kind,
        parsed,
        source,
        direction,
        peer,
        sender,
        timestamp_ms,
        coarse_time,
        archive_id,
        archive_by,
        occupant_id: None,
        mention: false,
        encrypted: false,
        decrypt_error: None,
        omemo_retry: None,
        omemo_sender: None,
    });
    Step::Next
}

/// A group-chat message (`type='groupchat'`), live from a room the account
/// is in, or from a page of the room's own archive. Its peer is the room;
/// its sender the occupant (`room/nick`); it is the user's own when sent
/// under the user's occupant id (XEP-0421) or, without ids, nickname. Its
/// archive id is the room's stanza-id (XEP-0359 `by` the room), never
/// anyone else's.
fn group_message(
    own: &BareJid,
    rooms: &Rooms,
    archive_of: Option<&BareJid>,
    flow: &mut Flow,
    parsed: crate::xep::message::Parsed,
) -> Step {
    let Some(opened) = &flow.opened else {
        return Step::Drop("not opened");
    };
    let source = opened.source;
    let Some(from) = parsed.from.clone() else {
        return Step::Drop("a group-chat message without a sender");
    };
    let room = from.to_bare();
    match (source, archive_of) {
        (Source::Archive, Some(r)) if *r == room => {}
        (Source::Live, None) => {}
        _ => return Step::Drop("a group-chat message from elsewhere than its room"),
    }
    let Some(me) = rooms.me_in(&room) else {
        return Step::Drop("a group-chat message from a room the account is not in");
    };
    let nick = from.resource().map(|r| r.to_string());
    let occupant_id = if me.occupant_ids {
        crate::xep::muc::message_occupant_id(&opened.message)
    } else {
        None
    };
    let outgoing = match (&occupant_id, &me.occupant_id) {
        (Some(theirs), Some(mine)) => theirs == mine,
        _ => nick.as_deref() == Some(me.nick.as_str()),
    };
    let (archive_id, archive_stamp) = match &opened.archive {
        Some((id, stamp)) => (Some(id.clone()), *stamp),
        None => (
            crate::xep::muc::room_stanza_id(&opened.message, &room),
            None,
        ),
    };
    let arrival = now_ms();
    let stamped = match source {
        Source::Archive => archive_stamp,
        // Live group-chat messages are filed at arrival (a room's delay
        // is legacy history, which Tern does not ask for when the room
        // keeps an archive).
        _ => None,
    };
    let timestamp_ms = flow.time.or(stamped).unwrap_or(arrival).min(arrival);
    let mention = !outgoing
        && nick.is_some()
        && parsed
            .body
            .as_deref()
            .is_some_and(|b| crate::xep::muc::mentions(b, &me.nick));
    flow.classified = Some(Classified {
        kind: ConversationKind::GroupChat,
        direction: if outgoing {
            Direction::Outgoing
        } else {
            Direction::Incoming
        },
        peer: room.to_string(),
        sender: from.to_string(),
        timestamp_ms,
        coarse_time: stamped.is_some(),
        archive_by: archive_id.as_ref().map(|_| room.to_string()),
        archive_id,
        occupant_id,
        mention,
        source,
        parsed,
        encrypted: false,
        decrypt_error: None,
        omemo_retry: None,
        omemo_sender: None,
    });
    let _ = own;
    Step::Next
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::inbound::flow::Flow;
    use xmpp_parsers::message::Message;
    use xmpp_parsers::minidom::Element;

    pub(crate) fn own() -> BareJid {
        BareJid::new("juliet@capulet.lit").unwrap()
    }

    /// A flow opened and classified, as the stages after classify see it.
    pub(crate) fn classified(xml: &str, time: Option<i64>) -> Flow {
        let mut f = Flow::new(
            Message::try_from(xml.parse::<Element>().unwrap()).unwrap(),
            time,
        );
        assert_eq!(
            crate::inbound::unwrap::run(&own(), None, &mut f),
            Step::Next
        );
        assert_eq!(
            run(&own(), &Rooms::default(), None, &mut f),
            Step::Next,
            "{xml}"
        );
        f
    }

    #[test]
    fn a_chat_message_from_a_contact() {
        let f = classified("<message xmlns='jabber:client' from='romeo@montague.lit/orchard' to='juliet@capulet.lit/balcony' id='m1' type='chat'>
            <body>Art thou not Romeo?</body>
            <delay xmlns='urn:xmpp:delay' from='capulet.lit' stamp='2002-09-10T23:08:25Z'>Offline Storage</delay></message>", None);
        let c = f.classified.unwrap();
        assert_eq!(c.kind, ConversationKind::Chat);
        assert_eq!(c.direction, Direction::Incoming);
        assert_eq!(c.peer, "romeo@montague.lit");
        assert_eq!(c.sender, "romeo@montague.lit/orchard");
        assert_eq!(c.timestamp_ms, 1_031_699_305_000);
        assert_eq!((c.archive_id, c.archive_by), (None, None));
    }

    #[test]
    fn an_own_message_from_the_archive_is_outgoing_with_its_archive() {
        let f = classified("<message xmlns='jabber:client' to='juliet@capulet.lit/chamber'>
              <result xmlns='urn:xmpp:mam:2' queryid='f27' id='A1'>
                <forwarded xmlns='urn:xmpp:forward:0'>
                  <delay xmlns='urn:xmpp:delay' stamp='2010-07-10T23:08:25Z'/>
                  <message xmlns='jabber:client' from='juliet@capulet.lit/balcony' to='romeo@montague.lit' type='chat'><body>Romeo!</body></message>
                </forwarded></result></message>", Some(1_278_803_305_999));
        let c = f.classified.unwrap();
        assert_eq!(c.direction, Direction::Outgoing);
        assert_eq!(c.peer, "romeo@montague.lit");
        assert_eq!(c.source, Source::Archive);
        assert_eq!(c.archive_id.as_deref(), Some("A1"));
        assert_eq!(c.archive_by.as_deref(), Some("juliet@capulet.lit"));
        assert_eq!(
            c.timestamp_ms, 1_278_803_305_999,
            "the caller's filing time wins"
        );
    }

    /// Classifies a live message from Romeo carrying `delay`, and returns
    /// its time and whether it counts as coarse.
    fn filed_at(delay: &str) -> (i64, bool) {
        let c = classified(
            &format!(
                "<message xmlns='jabber:client' from='romeo@montague.lit/orchard' to='juliet@capulet.lit/balcony' id='d1' type='chat'>\
                 <body>when?</body>{delay}</message>"
            ),
            None,
        )
        .classified
        .unwrap();
        (c.timestamp_ms, c.coarse_time)
    }

    #[test]
    fn a_sender_does_not_choose_the_time_of_its_message() {
        let before = now_ms();
        for delay in [
            // Backdated by the sender: it would hide in old history.
            "<delay xmlns='urn:xmpp:delay' stamp='2002-09-10T23:08:25Z'/>",
            "<delay xmlns='urn:xmpp:delay' from='romeo@montague.lit/orchard' stamp='2002-09-10T23:08:25Z'/>",
            "<delay xmlns='urn:xmpp:delay' from='montague.lit' stamp='2002-09-10T23:08:25Z'/>",
            // Another of the user's clients is not the user's server.
            "<delay xmlns='urn:xmpp:delay' from='juliet@capulet.lit/balcony' stamp='2002-09-10T23:08:25Z'/>",
            // Future-dated: it would pin its conversation to the top.
            "<delay xmlns='urn:xmpp:delay' stamp='2999-01-01T00:00:00Z'/>",
        ] {
            let (at, coarse) = filed_at(delay);
            assert!(
                at >= before && at <= now_ms(),
                "{delay}: filed at {at}, arrival"
            );
            assert!(!coarse, "{delay}");
        }
    }

    #[test]
    fn the_own_server_vouches_for_offline_delivery_but_not_for_the_future() {
        for from in ["capulet.lit", "juliet@capulet.lit"] {
            let (at, coarse) = filed_at(&format!(
                "<delay xmlns='urn:xmpp:delay' from='{from}' stamp='2002-09-10T23:08:25Z'>Offline Storage</delay>"
            ));
            assert_eq!((at, coarse), (1_031_699_305_000, true), "{from}");
        }
        // The server's stamp wins over the sender's, whatever the order.
        let (at, _) = filed_at(
            "<delay xmlns='urn:xmpp:delay' stamp='1999-01-01T00:00:00Z'/>\
             <delay xmlns='urn:xmpp:delay' from='capulet.lit' stamp='2002-09-10T23:08:25Z'/>",
        );
        assert_eq!(at, 1_031_699_305_000);
        // A server clock ahead of ours: never later than arrival.
        let before = now_ms();
        let (at, _) = filed_at(
            "<delay xmlns='urn:xmpp:delay' from='capulet.lit' stamp='2999-01-01T00:00:00Z'/>",
        );
        assert!(at >= before && at <= now_ms(), "{at}");
    }

    #[test]
    fn archive_stamps_count_and_are_never_in_the_future() {
        let archived = |stamp: &str, inner_delay: &str| {
            classified(&format!("<message xmlns='jabber:client' to='juliet@capulet.lit/chamber'>
              <result xmlns='urn:xmpp:mam:2' queryid='f27' id='A1'>
                <forwarded xmlns='urn:xmpp:forward:0'>
                  <delay xmlns='urn:xmpp:delay' stamp='{stamp}'/>
                  <message xmlns='jabber:client' from='romeo@montague.lit/orchard' to='juliet@capulet.lit' type='chat'><body>then</body>{inner_delay}</message>
                </forwarded></result></message>"), None)
            .classified
            .unwrap()
        };
        // The archive's stamp, not the sender's delay inside.
        let c = archived(
            "2010-07-10T23:08:25Z",
            "<delay xmlns='urn:xmpp:delay' stamp='1999-01-01T00:00:00Z'/>",
        );
        assert_eq!((c.timestamp_ms, c.coarse_time), (1_278_803_305_000, true));
        let before = now_ms();
        let c = archived("2999-01-01T00:00:00Z", "");
        assert!(c.timestamp_ms >= before && c.timestamp_ms <= now_ms());
    }

    #[test]
    fn carbons_are_filed_at_arrival_unless_the_server_vouches() {
        let carbon = |delay: &str| {
            classified(&format!("<message xmlns='jabber:client' from='juliet@capulet.lit' to='juliet@capulet.lit/balcony' type='chat'>
              <received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>
                <message xmlns='jabber:client' from='romeo@montague.lit/garden' to='juliet@capulet.lit/home' type='chat'>
                  <body>copy</body>{delay}</message>
              </forwarded></received></message>"), None)
            .classified
            .unwrap()
            .timestamp_ms
        };
        let before = now_ms();
        let at = carbon("<delay xmlns='urn:xmpp:delay' stamp='2002-09-10T23:08:25Z'/>");
        assert!(at >= before && at <= now_ms());
        assert_eq!(
            carbon(
                "<delay xmlns='urn:xmpp:delay' from='capulet.lit' stamp='2002-09-10T23:08:25Z'/>"
            ),
            1_031_699_305_000
        );
    }

    #[test]
    fn group_chat_and_private_messages_have_their_kind() {
        let rooms = Rooms::default();
        let coven = BareJid::new("coven@chat.shakespeare.lit").unwrap();
        let classify = |rooms: &Rooms, xml: &str| {
            let mut f = Flow::new(
                Message::try_from(xml.parse::<Element>().unwrap()).unwrap(),
                None,
            );
            crate::inbound::unwrap::run(&own(), None, &mut f);
            (run(&own(), rooms, None, &mut f), f.classified)
        };
        // XEP-0045 §7.4, example 74.
        let ex74 = "<message xmlns='jabber:client' from='coven@chat.shakespeare.lit/thirdwitch' id='hysf1v37' to='crone1@shakespeare.lit/desktop' type='groupchat'>
            <body>Harpier cries: 'tis time, 'tis time.</body>
            <stanza-id xmlns='urn:xmpp:sid:0' by='coven@chat.shakespeare.lit' id='S1'/>
            <stanza-id xmlns='urn:xmpp:sid:0' by='mallory@evil.example' id='S2'/></message>";
        // From a room the account is not in: dropped.
        assert!(matches!(classify(&rooms, ex74).0, Step::Drop(_)));
        rooms.ensure(&coven, tern_store::RoomRow::default(), "secondwitch".into());
        let (step, c) = classify(&rooms, ex74);
        assert_eq!(step, Step::Next);
        let c = c.unwrap();
        assert_eq!(c.kind, ConversationKind::GroupChat);
        assert_eq!(c.direction, Direction::Incoming);
        assert_eq!(c.peer, "coven@chat.shakespeare.lit");
        assert_eq!(c.sender, "coven@chat.shakespeare.lit/thirdwitch");
        assert_eq!(
            c.archive_id.as_deref(),
            Some("S1"),
            "only the room's stanza-id"
        );
        assert_eq!(c.archive_by.as_deref(), Some("coven@chat.shakespeare.lit"));
        assert!(!c.mention);
        // The user's own nickname: the user's message; a mention of it.
        let (_, c) = classify(&rooms, "<message xmlns='jabber:client' from='coven@chat.shakespeare.lit/secondwitch' id='m2' type='groupchat'><body>Fillet of a fenny snake</body></message>");
        assert_eq!(c.unwrap().direction, Direction::Outgoing);
        let (_, c) = classify(&rooms, "<message xmlns='jabber:client' from='coven@chat.shakespeare.lit/firstwitch' id='m3' type='groupchat'><body>SecondWitch: thy turn</body></message>");
        let c = c.unwrap();
        assert!(c.mention && c.direction == Direction::Incoming);
        // A forged occupant-id counts only where the room gives them.
        let forged = "<message xmlns='jabber:client' from='coven@chat.shakespeare.lit/firstwitch' id='m4' type='groupchat'><body>x</body><occupant-id xmlns='urn:xmpp:occupant-id:0' id='o1'/></message>";
        assert_eq!(classify(&rooms, forged).1.unwrap().occupant_id, None);
        // XEP-0045 §7.5, example 80 (from a room of the account's).
        let (_, c) = classify(&rooms, "<message xmlns='jabber:client' from='coven@chat.shakespeare.lit/firstwitch' id='hgn27af1' to='wiccarocks@shakespeare.lit/laptop' type='chat'>
            <body>I'll give thee a wind.</body><x xmlns='http://jabber.org/protocol/muc#user' /></message>");
        let c = c.unwrap();
        assert_eq!(c.kind, ConversationKind::GroupChatPrivate);
        assert_eq!(c.peer, "coven@chat.shakespeare.lit/firstwitch");
    }

    #[test]
    fn messages_without_addresses_or_to_oneself_are_dropped() {
        let mut f = Flow::new(
            Message::try_from(
                "<message xmlns='jabber:client' type='chat'><body>who?</body></message>"
                    .parse::<Element>()
                    .unwrap(),
            )
            .unwrap(),
            None,
        );
        crate::inbound::unwrap::run(&own(), None, &mut f);
        assert!(matches!(
            run(&own(), &Rooms::default(), None, &mut f),
            Step::Drop(_)
        ));
        let mut f = Flow::new(
            Message::try_from(
                "<message xmlns='jabber:client' from='juliet@capulet.lit' type='chat'><body>me</body></message>"
                    .parse::<Element>()
                    .unwrap(),
            )
            .unwrap(),
            None,
        );
        crate::inbound::unwrap::run(&own(), None, &mut f);
        assert!(matches!(
            run(&own(), &Rooms::default(), None, &mut f),
            Step::Drop(_)
        ));
    }
}
