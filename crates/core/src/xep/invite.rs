//! Invitations to rooms: XEP-0249 direct invitations (from the inviter to
//! the invitee) and XEP-0045 §7.8.2 mediated ones (through the room, which
//! can then admit the invitee to a members-only room), and declining the
//! latter.

use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::{Id, Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::muc::user::{Decline, Invite};
use xmpp_parsers::muc::MucUser;

use super::message::new_id;
use super::muc::NS_MUC_USER;
use super::{clean_text, with_attr, xml_text};

/// The namespace of XEP-0249 direct invitations.
const NS_CONFERENCE: &str = "jabber:x:conference";
/// Longest reason shown, in characters.
const MAX_REASON: usize = 500;
/// Longest room password kept, in bytes.
const MAX_PASSWORD: usize = 1023;

/// An invitation to a room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Invitation {
    /// The room.
    pub room: BareJid,
    /// Who invites, as a bare JID: the sender of a direct invitation, the
    /// `from` the room gives for a mediated one.
    pub inviter: String,
    /// The inviter's words.
    pub reason: Option<String>,
    /// The room's password.
    pub password: Option<String>,
    /// A direct (XEP-0249) invitation rather than a mediated one.
    pub direct: bool,
}

/// A room JID from the network: a bare JID with a node.
fn room_of(s: &str) -> Option<BareJid> {
    BareJid::new(s).ok().filter(|j| j.node().is_some())
}

/// A room password from the network, if usable.
fn password_of(p: &str) -> Option<String> {
    (!p.is_empty() && p.len() <= MAX_PASSWORD).then(|| p.to_string())
}

/// Reads a XEP-0249 `<x xmlns='jabber:x:conference'/>` sent by `from`.
fn read_direct(x: &Element, from: &Jid) -> Option<Invitation> {
    Some(Invitation {
        room: room_of(x.attr("jid")?)?,
        inviter: from.to_bare().to_string(),
        reason: x.attr("reason").and_then(|r| clean_text(r, MAX_REASON)),
        password: x.attr("password").and_then(password_of),
        direct: true,
    })
}

/// Reads a mediated invitation: a muc#user `<x/>` with an `<invite/>`,
/// sent by the room `from`.
fn read_mediated(x: &Element, from: &Jid) -> Option<Invitation> {
    if from.resource().is_some() {
        return None;
    }
    let room = room_of(&from.to_string())?;
    let invite = x.get_child("invite", NS_MUC_USER)?;
    let from_jid = Jid::new(invite.attr("from")?).ok()?;
    // A room that hides real addresses names the inviter by the occupant
    // address (`room/nick`, Prosody): kept whole, the nickname is all
    // there is to show.
    let inviter = if from_jid.to_bare() == room && from_jid.resource().is_some() {
        from_jid.to_string()
    } else {
        from_jid.to_bare().to_string()
    };
    Some(Invitation {
        room,
        inviter,
        reason: invite
            .get_child("reason", NS_MUC_USER)
            .and_then(|r| clean_text(&r.text(), MAX_REASON)),
        password: x
            .get_child("password", NS_MUC_USER)
            .and_then(|p| password_of(&p.text())),
        direct: false,
    })
}

/// Reads an invitation, direct (`<x xmlns='jabber:x:conference' jid=..
/// reason=.. password=../>`) or mediated (from a bare room JID, with
/// `<x xmlns='http://jabber.org/protocol/muc#user'><invite from=..>
/// <reason/></invite><password/></x>`). `None` when the room is not a
/// bare JID with a node, and for errors and groupchat messages (an
/// occupant could dress a room message up as one).
pub(crate) fn read_invitation(m: &Message) -> Option<Invitation> {
    if matches!(m.type_, MessageType::Error | MessageType::Groupchat) {
        return None;
    }
    let from = m.from.as_ref()?;
    let find = |name: &str, ns: &str| m.payloads.iter().find(|p| p.is(name, ns));
    // A room passing an invitation on may add a XEP-0249 `<x/>` for
    // clients that read only those (Prosody, ejabberd): the inviter is the
    // one its muc#user `<invite/>` names, not the room.
    find("x", NS_MUC_USER)
        .and_then(|x| read_mediated(x, from))
        .or_else(|| find("x", NS_CONFERENCE).and_then(|x| read_direct(x, from)))
}

/// A reason to send, if there is one.
fn reason(r: Option<&str>) -> Option<String> {
    r.map(xml_text).filter(|r| !r.trim().is_empty())
}

/// A message with a fresh id.
fn message(type_: MessageType, to: &BareJid) -> Message {
    let mut m = Message::new_with_type(type_, Some(Jid::from(to.clone())));
    m.id = Some(Id(new_id()));
    m
}

/// Invites `to` to `room` directly (XEP-0249 §2), with the room's
/// password if it has one.
pub(crate) fn direct(
    to: &BareJid,
    room: &BareJid,
    reason: Option<&str>,
    password: Option<&str>,
) -> Message {
    let mut x = with_attr(
        Element::builder("x", NS_CONFERENCE),
        "jid",
        &room.to_string(),
    );
    if let Some(p) = password.map(xml_text).filter(|p| !p.is_empty()) {
        x = with_attr(x, "password", &p);
    }
    if let Some(r) = self::reason(reason) {
        x = with_attr(x, "reason", &r);
    }
    let mut m = message(MessageType::Normal, to);
    m.payloads.push(x.build());
    m
}

/// Invites `to` to `room` through the room (XEP-0045 §7.8.2).
pub(crate) fn mediated(room: &BareJid, to: &BareJid, reason: Option<&str>) -> Message {
    let invite = Invite {
        from: None,
        to: Some(Jid::from(to.clone())),
        reason: self::reason(reason),
    };
    let x = MucUser {
        invite: Some(invite),
        ..MucUser::new()
    };
    message(MessageType::Normal, room).with_payload(x)
}

/// Declines a mediated invitation to `room` from `inviter` (XEP-0045
/// §7.8.2); `inviter` is a bare JID, or the inviter's address in the room.
pub(crate) fn decline(room: &BareJid, inviter: &Jid, reason: Option<&str>) -> Message {
    let decline = Decline {
        from: None,
        to: Some(inviter.clone()),
        reason: self::reason(reason),
    };
    let x = MucUser {
        decline: Some(decline),
        ..MucUser::new()
    };
    message(MessageType::Normal, room).with_payload(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::{el, tight, wire};

    fn msg(xml: &str) -> Message {
        Message::try_from(el(xml)).unwrap()
    }

    fn bare(s: &str) -> BareJid {
        BareJid::new(s).unwrap()
    }

    #[test]
    fn reads_the_xeps_invitations() {
        // XEP-0249 §2, Example 1: a direct invitation.
        let m = msg("<message xmlns='jabber:client' from='crone1@shakespeare.lit/desktop' to='hecate@shakespeare.lit'>
  <x xmlns='jabber:x:conference'
     jid='darkcave@macbeth.shakespeare.lit'
     password='cauldronburn'
     reason='Hey Hecate, this is the place for all good witches!'/>
</message>");
        assert_eq!(
            read_invitation(&m),
            Some(Invitation {
                room: bare("darkcave@macbeth.shakespeare.lit"),
                inviter: "crone1@shakespeare.lit".into(),
                reason: Some("Hey Hecate, this is the place for all good witches!".into()),
                password: Some("cauldronburn".into()),
                direct: true,
            })
        );
        // XEP-0045 §7.8.2, Example 58 (with Example 59's password): a
        // mediated invitation, as the room passes it on.
        let m = msg("<message xmlns='jabber:client' from='coven@chat.shakespeare.lit' id='nzd143v8' to='hecate@shakespeare.lit'>
  <x xmlns='http://jabber.org/protocol/muc#user'>
    <invite from='crone1@shakespeare.lit/desktop'>
      <reason>Hey Hecate, this is the place for all good witches!</reason>
    </invite>
    <password>cauldronburn</password>
  </x>
</message>");
        assert_eq!(
            read_invitation(&m),
            Some(Invitation {
                room: bare("coven@chat.shakespeare.lit"),
                inviter: "crone1@shakespeare.lit".into(),
                reason: Some("Hey Hecate, this is the place for all good witches!".into()),
                password: Some("cauldronburn".into()),
                direct: false,
            })
        );
    }

    #[test]
    fn a_mediated_invitation_with_a_direct_one_inside_names_the_inviter() {
        // As Prosody and ejabberd pass a mediated invitation on.
        let m = msg("<message xmlns='jabber:client' from='coven@chat.shakespeare.lit' to='hecate@shakespeare.lit'>
  <x xmlns='http://jabber.org/protocol/muc#user'>
    <invite from='crone1@shakespeare.lit/desktop'><reason>Come</reason></invite>
  </x>
  <x xmlns='jabber:x:conference' jid='coven@chat.shakespeare.lit' reason='Come'/>
</message>");
        let inv = read_invitation(&m).unwrap();
        assert_eq!(inv.inviter, "crone1@shakespeare.lit");
        assert_eq!(inv.room, bare("coven@chat.shakespeare.lit"));
        assert!(!inv.direct);
        // A room hiding real addresses names the inviter by nickname.
        let m = msg("<message xmlns='jabber:client' from='coven@chat.shakespeare.lit' to='hecate@shakespeare.lit'>
  <x xmlns='http://jabber.org/protocol/muc#user'>
    <invite from='coven@chat.shakespeare.lit/crone1'/>
  </x>
</message>");
        let inv = read_invitation(&m).unwrap();
        assert_eq!(inv.inviter, "coven@chat.shakespeare.lit/crone1");
    }

    #[test]
    fn hostile_invitations_are_refused() {
        for bad in [
            // Direct: the room is not a room's bare JID.
            "<message xmlns='jabber:client' from='a@b/c'><x xmlns='jabber:x:conference' jid='macbeth.shakespeare.lit'/></message>",
            "<message xmlns='jabber:client' from='a@b/c'><x xmlns='jabber:x:conference' jid='darkcave@macbeth.shakespeare.lit/nick'/></message>",
            "<message xmlns='jabber:client' from='a@b/c'><x xmlns='jabber:x:conference' jid='@@'/></message>",
            "<message xmlns='jabber:client' from='a@b/c'><x xmlns='jabber:x:conference'/></message>",
            // No sender.
            "<message xmlns='jabber:client'><x xmlns='jabber:x:conference' jid='r@s'/></message>",
            // Groupchat and errors.
            "<message xmlns='jabber:client' type='groupchat' from='r@s/n'><x xmlns='jabber:x:conference' jid='r@s'/></message>",
            "<message xmlns='jabber:client' type='error' from='a@b/c'><x xmlns='jabber:x:conference' jid='r@s'/></message>",
            // Mediated: not from a bare room JID, no inviter, no invite.
            "<message xmlns='jabber:client' from='coven@chat.shakespeare.lit/crone'><x xmlns='http://jabber.org/protocol/muc#user'><invite from='a@b'/></x></message>",
            "<message xmlns='jabber:client' from='chat.shakespeare.lit'><x xmlns='http://jabber.org/protocol/muc#user'><invite from='a@b'/></x></message>",
            "<message xmlns='jabber:client' from='coven@chat.shakespeare.lit'><x xmlns='http://jabber.org/protocol/muc#user'><invite/></x></message>",
            "<message xmlns='jabber:client' from='coven@chat.shakespeare.lit'><x xmlns='http://jabber.org/protocol/muc#user'><invite from='@@'/></x></message>",
            "<message xmlns='jabber:client' from='coven@chat.shakespeare.lit'><x xmlns='http://jabber.org/protocol/muc#user'><decline from='a@b'/></x></message>",
            "<message xmlns='jabber:client' from='coven@chat.shakespeare.lit'><body>hi</body></message>",
        ] {
            assert_eq!(read_invitation(&msg(bad)), None, "{bad}");
        }
        // Overlong reasons are cut, overlong passwords dropped, unknown
        // children ignored.
        let m = msg(&format!(
            "<message xmlns='jabber:client' from='coven@chat.shakespeare.lit'><x xmlns='http://jabber.org/protocol/muc#user'>
               <status code='999'/><invite from='a@b'><reason>\u{9f}{}</reason></invite><password>{}</password></x></message>",
            "r".repeat(2000),
            "p".repeat(MAX_PASSWORD + 1)
        ));
        let i = read_invitation(&m).unwrap();
        assert_eq!(i.reason.unwrap().chars().count(), MAX_REASON);
        assert_eq!(i.password, None);
    }

    #[test]
    fn invites_and_declines_as_the_xeps_show() {
        let room = bare("darkcave@macbeth.shakespeare.lit");
        let hecate = bare("hecate@shakespeare.lit");
        // XEP-0249 §2, Example 1.
        let m = direct(
            &hecate,
            &room,
            Some("Hey Hecate, this is the place for all good witches!"),
            Some("cauldronburn"),
        );
        assert!(m.id.as_ref().is_some_and(|i| !i.0.is_empty()));
        let m = wire(m);
        assert_eq!(m.attr("to"), Some("hecate@shakespeare.lit"));
        assert_eq!(
            m.get_child("x", NS_CONFERENCE).unwrap(),
            &el("<x xmlns='jabber:x:conference'
     jid='darkcave@macbeth.shakespeare.lit'
     password='cauldronburn'
     reason='Hey Hecate, this is the place for all good witches!'/>")
        );
        // Read back by the invitee.
        let mut back = Message::try_from(m).unwrap();
        back.from = Some(Jid::new("crone1@shakespeare.lit/desktop").unwrap());
        let i = read_invitation(&back).unwrap();
        assert_eq!((i.room, i.direct), (room.clone(), true));
        // Nothing to say: only the room.
        let m = wire(direct(&hecate, &room, Some(" "), Some("")));
        assert_eq!(
            m.get_child("x", NS_CONFERENCE).unwrap(),
            &el("<x xmlns='jabber:x:conference' jid='darkcave@macbeth.shakespeare.lit'/>")
        );

        // XEP-0045 §7.8.2, Example 57: a mediated invitation.
        let coven = bare("coven@chat.shakespeare.lit");
        let m = wire(mediated(
            &coven,
            &hecate,
            Some("Hey Hecate, this is the place for all good witches!"),
        ));
        assert_eq!(m.attr("to"), Some("coven@chat.shakespeare.lit"));
        assert_eq!(
            m.get_child("x", NS_MUC_USER).unwrap(),
            tight(
                "<message xmlns='jabber:client' from='crone1@shakespeare.lit/desktop' id='nzd143v8' to='coven@chat.shakespeare.lit'>
  <x xmlns='http://jabber.org/protocol/muc#user'>
    <invite to='hecate@shakespeare.lit'>
      <reason>Hey Hecate, this is the place for all good witches!</reason>
    </invite>
  </x>
</message>"
            )
            .get_child("x", NS_MUC_USER)
            .unwrap()
        );
        // XEP-0045 §7.8.2, Example 62: declining.
        let m = wire(decline(
            &coven,
            &Jid::from(bare("crone1@shakespeare.lit")),
            Some("Sorry, I'm too busy right now."),
        ));
        assert_eq!(m.attr("to"), Some("coven@chat.shakespeare.lit"));
        assert_eq!(
            m.get_child("x", NS_MUC_USER).unwrap(),
            tight(
                "<message xmlns='jabber:client' from='hecate@shakespeare.lit/broom' id='jk2vs61v' to='coven@chat.shakespeare.lit'>
  <x xmlns='http://jabber.org/protocol/muc#user'>
    <decline to='crone1@shakespeare.lit'>
      <reason>Sorry, I'm too busy right now.</reason>
    </decline>
  </x>
</message>"
            )
            .get_child("x", NS_MUC_USER)
            .unwrap()
        );
        // Hostile text is written safely.
        let m = wire(direct(&hecate, &room, Some("'\"<&\u{0}"), Some("\u{1}p'")));
        let x = m.get_child("x", NS_CONFERENCE).unwrap();
        assert_eq!(x.attr("reason"), Some("'\"<&"));
        assert_eq!(x.attr("password"), Some("p'"));
    }
}
