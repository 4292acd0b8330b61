//! What a room's presences change: occupants joining, leaving, changing
//! nickname, role or affiliation; the user's own presence completing a
//! join; errors refusing it; the user being removed.

use tokio_xmpp::Stanza;
use xmpp_parsers::jid::{FullJid, Jid};
use xmpp_parsers::presence::{Presence, Type as PresenceType};

use super::{next_nick, Failure, Occupant, Room, MAX_OCCUPANTS};
use crate::account::AccountHandle;
use crate::events::{Renamed, RoomStatus, Show};
use crate::xep::muc::{self, JoinError, OccupantPresence, Removal};

/// Whether a presence comes from one of the account's rooms.
pub(crate) fn from_room(h: &AccountHandle, p: &Presence) -> bool {
    p.from
        .as_ref()
        .is_some_and(|f| h.ctx().rooms.has(&f.to_bare()))
}

/// Handles a presence from a room; returns what to send (a join with
/// another nickname after a conflict).
pub(crate) async fn on_presence(h: &AccountHandle, p: Presence) -> Vec<Stanza> {
    let ctx = h.ctx();
    let Some(from) = p.from.clone() else {
        return Vec::new();
    };
    let room = from.to_bare();
    let now = crate::account::ctx::now_ms();
    if p.type_ == PresenceType::Error {
        let Some((error, text)) = muc::read_join_error(&p) else {
            return Vec::new();
        };
        let (retry, created) = ctx
            .rooms
            .with_room(&room, |r| join_error(r, error, text))
            .unwrap_or((None, None));
        if let Some(view) = created {
            ctx.hub
                .emit(crate::events::ClientEvent::Room { room: view });
        }
        return retry.map(|p| vec![Stanza::Presence(p)]).unwrap_or_default();
    }
    let Some(op) = muc::read_presence(&p) else {
        return Vec::new();
    };
    let account = ctx.account.clone();
    let (outcome, members_changed) = ctx
        .rooms
        .with_room(&room, |r| {
            r.last_heard_ms = now;
            let outcome = apply(r, &account, op);
            (Some(outcome), r.take_members_changed())
        })
        .unwrap_or((None, false));
    if members_changed {
        super::members::changed(h, &room);
    }
    match outcome {
        Some(Outcome::Joined { created, kind_name }) => {
            if created {
                // A room the user asked to create: configure it. A room
                // that did not exist when the user meant to join one is
                // refused (joining it created a locked room nobody wants).
                let h = h.clone();
                tokio::spawn(async move {
                    super::join::configure_new(&h, room, kind_name).await;
                });
            } else {
                let h = h.clone();
                tokio::spawn(async move {
                    super::join::after_join(&h, room).await;
                });
            }
        }
        Some(Outcome::Removed) | Some(Outcome::Other) | None => {}
    }
    Vec::new()
}

enum Outcome {
    Joined {
        created: bool,
        kind_name: Option<(muc::RoomKind, String)>,
    },
    Removed,
    Other,
}

fn show_of(op: &OccupantPresence) -> Show {
    op.show
        .as_deref()
        .and_then(Show::from_name)
        .unwrap_or(Show::Available)
}

fn apply(r: &mut Room, account: &str, op: OccupantPresence) -> Outcome {
    let is_self = op.is_self || (op.nick == r.nick && r.status == RoomStatus::Joined);
    if is_self {
        return apply_self(r, account, op);
    }
    // In a room that shows real JIDs, every presence tells the occupant's
    // affiliation: a private group's members follow it.
    if let Some(jid) = op.jid.as_deref().and_then(|j| Jid::new(j).ok()) {
        r.note_affiliation(jid.to_bare().as_str(), op.affiliation);
    }
    if !op.available {
        if let Some(new) = op.new_nick.clone() {
            // A nick change: the next presence brings the new nick.
            if let Some(o) = r.occupants.remove(&op.nick) {
                r.gone(&op.nick);
                r.occupants.insert(new.clone(), o);
                r.touched(&new);
            }
            r.activity(
                None,
                None,
                Some(Renamed {
                    from: op.nick,
                    to: new,
                }),
            );
            return Outcome::Other;
        }
        if r.occupants.remove(&op.nick).is_some() {
            r.gone(&op.nick);
            match op.removal {
                Some(Removal::Kicked | Removal::Banned) => r.removed_activity(&op.nick),
                _ => r.activity(None, Some(&op.nick), None),
            }
        } else if r.overflow > 0 {
            r.overflow -= 1;
            r.view_changed();
        }
        return Outcome::Other;
    }
    let occupant = Occupant {
        jid: op
            .jid
            .as_deref()
            .and_then(|j| Jid::new(j).ok())
            .map(|j| j.to_bare().to_string().into_boxed_str()),
        role: op.role,
        affiliation: op.affiliation,
        show: show_of(&op),
        status: op.status.clone().map(String::into_boxed_str),
        occupant_id: op.occupant_id.clone().map(String::into_boxed_str),
        avatar: op.avatar_hash.clone().map(String::into_boxed_str),
    };
    match r.occupants.get_mut(&op.nick) {
        Some(o) if *o == occupant => {}
        Some(o) => {
            *o = occupant;
            r.touched(&op.nick);
        }
        None => {
            if r.occupants.len() >= MAX_OCCUPANTS {
                r.overflow = r.overflow.saturating_add(1);
                r.view_changed();
                return Outcome::Other;
            }
            r.occupants.insert(op.nick.clone(), occupant);
            r.touched(&op.nick);
            r.activity(Some(&op.nick), None, None);
        }
    }
    Outcome::Other
}

fn apply_self(r: &mut Room, account: &str, op: OccupantPresence) -> Outcome {
    tracing::debug!(room = %r.jid, nick = %op.nick, available = op.available, status = ?r.status, removal = ?op.removal, "own presence in a room");
    if !op.available {
        if let Some(new) = op.new_nick {
            // The user's nick change went through.
            r.occupants.remove(&op.nick);
            r.gone(&op.nick);
            r.nick = new;
            r.view_changed();
            return Outcome::Other;
        }
        let failure = op.removal.as_ref().map(|removal| {
            let (code, text) = match removal {
                Removal::Kicked => ("kicked", op.reason.clone()),
                Removal::Banned => ("banned", op.reason.clone()),
                Removal::AffiliationChanged => ("removed_affiliation", op.reason.clone()),
                Removal::MembersOnly => ("removed_members_only", op.reason.clone()),
                Removal::Shutdown => ("shutdown", op.reason.clone()),
                Removal::Error => ("lost", op.reason.clone()),
                Removal::Destroyed { reason, .. } => ("destroyed", reason.clone()),
            };
            Failure {
                code,
                text,
                by: op.actor.clone(),
            }
        });
        r.status = if failure.is_some() {
            RoomStatus::Failed
        } else {
            RoomStatus::Left
        };
        r.failure = failure;
        r.role = muc::Role::None;
        r.clear_occupants();
        r.view_changed();
        let err = r.failure.clone();
        for w in r.waiters.drain(..) {
            let _ = w.send(Err(failure_error(err.as_ref())));
        }
        return Outcome::Removed;
    }
    // The user is in: the room's own presence is the last of the join.
    let was = r.status;
    if op.nick != r.nick {
        // The room changed the nickname (XEP-0045 §7.2.9, code 210).
        r.occupants.remove(&r.nick.clone());
        r.nick = op.nick.clone();
    }
    r.role = op.role;
    r.affiliation = op.affiliation;
    if op.occupant_id.is_some() {
        r.own_occupant_id = op.occupant_id.clone();
    }
    if op.non_anonymous {
        r.info.non_anonymous = true;
    }
    r.occupants.insert(
        op.nick.clone(),
        Occupant {
            jid: None,
            role: op.role,
            affiliation: op.affiliation,
            show: show_of(&op),
            status: op.status.clone().map(String::into_boxed_str),
            occupant_id: op.occupant_id.clone().map(String::into_boxed_str),
            avatar: None,
        },
    );
    r.failure = None;
    r.nick_attempts = 0;
    if was == RoomStatus::Joined {
        // A role or affiliation change of the user.
        r.touched(&op.nick);
        return Outcome::Other;
    }
    r.status = RoomStatus::Joined;
    r.reset_list();
    let creating = r.creating.take();
    if op.created && creating.is_none() {
        // Nobody asked to create it: the join found no room.
        r.status = RoomStatus::Failed;
        r.failure = Some(Failure {
            code: "not_found",
            text: None,
            by: None,
        });
        r.clear_occupants();
        let err = r.failure.clone();
        for w in r.waiters.drain(..) {
            let _ = w.send(Err(failure_error(err.as_ref())));
        }
        return Outcome::Joined {
            created: true,
            kind_name: None,
        };
    }
    let view = r.view(account);
    if !op.created {
        for w in r.waiters.drain(..) {
            let _ = w.send(Ok(view.clone()));
        }
    }
    Outcome::Joined {
        created: op.created,
        kind_name: creating,
    }
}

/// A join refused: tries another nickname after a first conflict, else
/// fails the join. Returns the presence to send for a retry, and the view
/// to announce.
fn join_error(
    r: &mut Room,
    error: JoinError,
    text: Option<String>,
) -> (Option<Presence>, Option<crate::events::RoomView>) {
    tracing::debug!(room = %r.jid, ?error, status = ?r.status, "a room refused");
    if r.status != RoomStatus::Joining {
        return (None, None);
    }
    if error == JoinError::NickConflict && r.nick_attempts < 2 {
        r.nick_attempts += 1;
        r.nick = next_nick(&r.nick);
        let Ok(occupant) = FullJid::new(&format!("{}/{}", r.jid, r.nick)) else {
            return (None, None);
        };
        let history = super::join::history_for(r);
        return (
            Some(muc::join(&occupant, r.row.password.as_deref(), history)),
            None,
        );
    }
    let code = match error {
        JoinError::NickConflict => "nick_conflict",
        JoinError::PasswordRequired => "password_required",
        JoinError::Banned => "banned",
        JoinError::MembersOnly => "members_only",
        JoinError::Full => "full",
        JoinError::NotFound => "not_found",
        JoinError::NickReserved => "nick_reserved",
        JoinError::CreationRestricted => "creation_restricted",
        JoinError::Other(_) => "other",
    };
    r.status = RoomStatus::Failed;
    r.failure = Some(Failure {
        code,
        text,
        by: None,
    });
    r.view_changed();
    let err = r.failure.clone();
    for w in r.waiters.drain(..) {
        let _ = w.send(Err(failure_error(err.as_ref())));
    }
    (None, None)
}

/// The error a join (or the user in the room) ended with, in words a
/// person can act on.
pub(crate) fn failure_error(f: Option<&Failure>) -> crate::Error {
    let code = f.map(|f| f.code).unwrap_or("other");
    let what = match code {
        "nick_conflict" => {
            "Someone in this group chat already uses that nickname. Choose another one."
        }
        "password_required" => "This group chat needs a password.",
        "banned" => "You are banned from this group chat.",
        "members_only" => "This group is for members only. Ask an admin to invite you.",
        "full" => "This group chat is full.",
        "not_found" => "There is no group chat at this address.",
        "nick_reserved" => "That nickname is reserved in this group chat. Choose another one.",
        "creation_restricted" => "Your server does not let you create group chats here.",
        "kicked" => "You were removed from this group chat.",
        "removed_affiliation" | "removed_members_only" => {
            "You are no longer a member of this group chat."
        }
        "destroyed" => "This group chat was closed.",
        "shutdown" => "The group chat service shut down.",
        "lost" => "The connection to this group chat was lost.",
        _ => "Could not join the group chat.",
    };
    let text = f.and_then(|f| f.text.clone());
    crate::Error::Room {
        code: code.to_string(),
        message: match text {
            Some(t) => format!("{what} ({t})"),
            None => what.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_parsers::jid::BareJid;
    use xmpp_parsers::minidom::Element;

    const ACCOUNT: &str = "crone1@shakespeare.lit";

    fn room() -> Room {
        let mut r = Room::new(
            BareJid::new("coven@chat.shakespeare.lit").unwrap(),
            tern_store::RoomRow::default(),
            "thirdwitch".into(),
        );
        r.status = RoomStatus::Joining;
        r
    }

    fn presence(xml: &str) -> OccupantPresence {
        let p = Presence::try_from(xml.parse::<Element>().unwrap()).unwrap();
        muc::read_presence(&p).expect("an occupant presence")
    }

    fn occupant(nick: &str, role: &str) -> OccupantPresence {
        presence(&format!(
            "<presence xmlns='jabber:client' from='coven@chat.shakespeare.lit/{nick}'>
               <x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='{role}'/></x></presence>"
        ))
    }

    fn own(codes: &str) -> OccupantPresence {
        presence(&format!(
            "<presence xmlns='jabber:client' from='coven@chat.shakespeare.lit/thirdwitch'>
               <x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='participant'/>{codes}</x></presence>"
        ))
    }

    #[test]
    fn a_join_completes_with_the_users_own_presence() {
        let mut r = room();
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        r.waiters.push(tx);
        apply(&mut r, ACCOUNT, occupant("firstwitch", "moderator"));
        assert_eq!(r.status, RoomStatus::Joining);
        apply(&mut r, ACCOUNT, own("<status code='110'/>"));
        assert_eq!(r.status, RoomStatus::Joined);
        assert_eq!(r.count(), 2);
        let view = rx.try_recv().expect("answered").expect("joined");
        assert_eq!(
            (view.status, view.role.as_str()),
            (RoomStatus::Joined, "participant")
        );
    }

    #[test]
    fn a_flood_of_presences_is_bounded_and_counted() {
        let mut r = room();
        apply(&mut r, ACCOUNT, own("<status code='110'/>"));
        for i in 0..(MAX_OCCUPANTS + 500) {
            apply(&mut r, ACCOUNT, occupant(&format!("bot{i}"), "participant"));
        }
        assert_eq!(r.occupants.len(), MAX_OCCUPANTS, "kept");
        assert_eq!(r.count() as usize, MAX_OCCUPANTS + 501, "counted");
        // Activity lines keep a bounded list of names.
        assert!(r.pending.joined.len() <= 50);
        // The same presence again changes nothing.
        let before = r.pending.upserted.len();
        r.pending.upserted.clear();
        apply(&mut r, ACCOUNT, occupant("bot1", "participant"));
        assert!(r.pending.upserted.is_empty(), "{before} then nothing new");
    }

    #[test]
    fn nick_changes_move_the_occupant() {
        let mut r = room();
        apply(&mut r, ACCOUNT, own("<status code='110'/>"));
        apply(&mut r, ACCOUNT, occupant("firstwitch", "participant"));
        apply(
            &mut r,
            ACCOUNT,
            presence(
                "<presence xmlns='jabber:client' type='unavailable' from='coven@chat.shakespeare.lit/firstwitch'>
                   <x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant' nick='oldhag'/><status code='303'/></x></presence>",
            ),
        );
        assert!(!r.occupants.contains_key("firstwitch"));
        assert!(r.occupants.contains_key("oldhag"));
        assert_eq!(r.pending.renamed.len(), 1);
    }

    #[test]
    fn a_kick_leaves_the_room_failed_with_who_and_why() {
        let mut r = room();
        apply(&mut r, ACCOUNT, own("<status code='110'/>"));
        apply(
            &mut r,
            ACCOUNT,
            presence(
                "<presence xmlns='jabber:client' type='unavailable' from='coven@chat.shakespeare.lit/thirdwitch'>
                   <x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'>
                   <actor nick='Fluellen'/><reason>Avaunt, you cullion!</reason></item>
                   <status code='110'/><status code='307'/></x></presence>",
            ),
        );
        assert_eq!(r.status, RoomStatus::Failed);
        let f = r.failure.clone().unwrap();
        assert_eq!((f.code, f.by.as_deref()), ("kicked", Some("Fluellen")));
        assert_eq!(f.text.as_deref(), Some("Avaunt, you cullion!"));
        assert!(r.occupants.is_empty());
    }

    #[test]
    fn a_taken_nickname_is_retried_with_a_suffix_then_refused() {
        let mut r = room();
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        r.waiters.push(tx);
        for expected in ["thirdwitch_", "thirdwitch__"] {
            let (retry, _) = join_error(&mut r, JoinError::NickConflict, None);
            let retry = retry.expect("another try");
            assert_eq!(
                retry.to.unwrap().to_string(),
                format!("coven@chat.shakespeare.lit/{expected}")
            );
        }
        let (retry, _) = join_error(&mut r, JoinError::NickConflict, None);
        assert!(retry.is_none());
        assert_eq!(r.status, RoomStatus::Failed);
        match rx.try_recv() {
            Ok(Err(crate::Error::Room { code, .. })) => assert_eq!(code, "nick_conflict"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_room_that_did_not_exist_is_not_joined() {
        let mut r = room();
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        r.waiters.push(tx);
        apply(
            &mut r,
            ACCOUNT,
            own("<status code='110'/><status code='201'/>"),
        );
        assert_eq!(r.status, RoomStatus::Failed);
        assert!(
            matches!(rx.try_recv(), Ok(Err(crate::Error::Room { code, .. })) if code == "not_found")
        );
    }
}
