//! Group chats (XEP-0045 multi-user chat): the rooms an account is in,
//! who is in them, and what the user does there.
//!
//! - [`Rooms`]: the account's rooms and their occupants, in memory (what a
//!   room says about itself is also kept in the store, for restarts);
//! - `presence`: what a room's presences change (joins, leaves, nick
//!   changes, roles, the user's own presence and removals);
//! - `join`: joining, creating, leaving, rejoining after a new session;
//! - `bookmarks`: the user's rooms on the server (XEP-0402, XEP-0048 read),
//!   synced both ways, with autojoin;
//! - `invites`: invitations (XEP-0249 direct, XEP-0045 mediated);
//! - `admin`: moderation (roles, affiliations, subject, XEP-0425
//!   retraction of others' messages, destroy);
//! - `members`: a private group's members by affiliation (whom its
//!   encrypted messages are for);
//! - `history`: the room's own archive (XEP-0313 on the room's JID);
//! - `self_ping`: XEP-0410, to notice a membership the room dropped.
//!
//! Occupant changes reach the UI coalesced ([`Rooms::flush`]): a room of
//! thousands is one list at join and then diffs, never one event per
//! presence.

pub(crate) mod admin;
pub(crate) mod bookmarks;
pub(crate) mod history;
pub(crate) mod invites;
pub(crate) mod join;
pub(crate) mod members;
pub(crate) mod presence;
pub(crate) mod self_ping;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use tokio::sync::oneshot;
use xmpp_parsers::jid::BareJid;

use crate::events::{
    ClientEvent, OccupantView, Renamed, RoomKind, RoomNotify, RoomStatus, RoomView, Show,
};
use crate::xep::muc::{Affiliation, Role, RoomInfo};

/// Most occupants kept per room (a hostile room cannot grow Tern without
/// bound; the count shown stays right).
pub(crate) const MAX_OCCUPANTS: usize = 50_000;
/// Most rooms per account.
pub(crate) const MAX_ROOMS: usize = 1_000;

/// One occupant, compact (rooms of thousands).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Occupant {
    pub jid: Option<Box<str>>,
    pub role: Role,
    pub affiliation: Affiliation,
    pub show: Show,
    pub status: Option<Box<str>>,
    pub occupant_id: Option<Box<str>>,
    pub avatar: Option<Box<str>>,
}

/// What changed in a room's occupants since the last flush.
#[derive(Debug, Default)]
struct Pending {
    /// Replace the UI's list.
    reset: bool,
    upserted: BTreeSet<String>,
    removed: BTreeSet<String>,
    joined: Vec<String>,
    left: Vec<String>,
    renamed: Vec<Renamed>,
    /// Removed by a moderator.
    ejected: Vec<String>,
    /// The room's view changed (count, role, subject, status).
    view: bool,
}

/// Why the user is not in a room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    pub code: &'static str,
    pub text: Option<String>,
    /// Who did it (a moderator's nickname), when the room says.
    pub by: Option<String>,
}

/// A room of the account.
#[derive(Debug)]
pub(crate) struct Room {
    pub jid: BareJid,
    pub row: tern_store::RoomRow,
    /// The nickname in use (or asked for while joining).
    pub nick: String,
    pub status: RoomStatus,
    pub failure: Option<Failure>,
    pub role: Role,
    pub affiliation: Affiliation,
    pub info: RoomInfo,
    pub occupants: HashMap<String, Occupant>,
    /// More occupants than kept (see [`MAX_OCCUPANTS`]).
    pub overflow: u32,
    /// The user's own occupant id in the room (XEP-0421).
    pub own_occupant_id: Option<String>,
    /// Joins waiting for the outcome.
    pub waiters: Vec<oneshot::Sender<crate::Result<RoomView>>>,
    /// Conflicting nicknames tried so far in this join.
    pub nick_attempts: u8,
    /// The join asked to create the room with this kind and name.
    pub creating: Option<(crate::xep::muc::RoomKind, String)>,
    /// When a stanza from the room last arrived (ms).
    pub last_heard_ms: i64,
    /// The room's members by affiliation (owners, admins, members; bare
    /// JIDs), as far as known: whom a private group's encrypted messages
    /// are for. `None` until the room's lists were read in this session.
    pub members: Option<BTreeMap<String, Affiliation>>,
    /// The members changed since [`Room::take_members_changed`].
    members_changed: bool,
    pending: Pending,
}

impl Room {
    fn new(jid: BareJid, row: tern_store::RoomRow, nick: String) -> Room {
        let info = info_from_json(&row.features);
        Room {
            jid,
            row,
            nick,
            status: RoomStatus::Left,
            failure: None,
            role: Role::None,
            affiliation: Affiliation::None,
            info,
            occupants: HashMap::new(),
            overflow: 0,
            own_occupant_id: None,
            waiters: Vec::new(),
            nick_attempts: 0,
            creating: None,
            last_heard_ms: 0,
            members: None,
            members_changed: false,
            // A room new to this session is announced.
            pending: Pending {
                view: true,
                ..Pending::default()
            },
        }
    }

    /// The room's kind as users know it.
    pub(crate) fn kind(&self) -> RoomKind {
        match self.info.kind() {
            Some(crate::xep::muc::RoomKind::PrivateGroup) => RoomKind::PrivateGroup,
            Some(crate::xep::muc::RoomKind::PublicChannel) => RoomKind::PublicChannel,
            None => match self.row.kind {
                1 => RoomKind::PrivateGroup,
                2 => RoomKind::PublicChannel,
                _ => RoomKind::Other,
            },
        }
    }

    /// Which messages notify: the user's choice, else all in a private
    /// group and mentions elsewhere.
    pub(crate) fn notify(&self) -> RoomNotify {
        match self.row.notify {
            1 => RoomNotify::All,
            2 => RoomNotify::Mentions,
            3 => RoomNotify::None,
            _ => match self.kind() {
                RoomKind::PrivateGroup => RoomNotify::All,
                _ => RoomNotify::Mentions,
            },
        }
    }

    pub(crate) fn count(&self) -> u32 {
        self.occupants.len() as u32 + self.overflow
    }

    pub(crate) fn view(&self, account: &str) -> RoomView {
        RoomView {
            account: account.to_string(),
            jid: self.jid.to_string(),
            name: self.row.name.clone().or_else(|| self.info.name.clone()),
            kind: self.kind(),
            subject: self.row.subject.clone().filter(|s| !s.is_empty()),
            nick: self.nick.clone(),
            status: self.status,
            error: self.failure.as_ref().map(|f| f.code.to_string()),
            error_text: self.failure.as_ref().and_then(|f| f.text.clone()),
            error_by: self.failure.as_ref().and_then(|f| f.by.clone()),
            role: self.role.as_str().to_string(),
            affiliation: self.affiliation.as_str().to_string(),
            occupants: self.count(),
            bookmarked: self.row.bookmarked,
            autojoin: self.row.autojoin,
            notify: self.notify(),
            moderation: self.info.moderation.is_some(),
            private_messages: self.kind() != RoomKind::PrivateGroup || self.info.non_anonymous,
            password_protected: self.info.password_protected || self.row.password.is_some(),
        }
    }

    pub(crate) fn occupant_view(&self, nick: &str, o: &Occupant) -> OccupantView {
        OccupantView {
            nick: nick.to_string(),
            jid: o.jid.as_deref().map(str::to_string),
            role: o.role.as_str().to_string(),
            affiliation: o.affiliation.as_str().to_string(),
            show: o.show,
            status: o.status.as_deref().map(str::to_string),
            avatar: o.avatar.as_deref().map(str::to_string),
            is_self: nick == self.nick,
        }
    }

    /// The occupant list changed in a way the UI must see.
    pub(crate) fn touched(&mut self, nick: &str) {
        self.pending.removed.remove(nick);
        self.pending.upserted.insert(nick.to_string());
        self.pending.view = true;
    }

    pub(crate) fn gone(&mut self, nick: &str) {
        self.pending.upserted.remove(nick);
        self.pending.removed.insert(nick.to_string());
        self.pending.view = true;
    }

    /// Joins, leaves and renames after the user is in.
    pub(crate) fn activity(
        &mut self,
        joined: Option<&str>,
        left: Option<&str>,
        renamed: Option<Renamed>,
    ) {
        if self.status != RoomStatus::Joined {
            return;
        }
        // A flood folds into counts; names beyond these are not kept.
        const MAX: usize = 50;
        if let Some(j) = joined {
            if self.pending.joined.len() < MAX {
                self.pending.joined.push(j.to_string());
            }
        }
        if let Some(l) = left {
            if self.pending.left.len() < MAX {
                self.pending.left.push(l.to_string());
            }
        }
        if let Some(r) = renamed {
            if self.pending.renamed.len() < MAX {
                self.pending.renamed.push(r);
            }
        }
    }

    /// A moderator removed someone (after the user is in).
    pub(crate) fn removed_activity(&mut self, nick: &str) {
        if self.status == RoomStatus::Joined && self.pending.ejected.len() < 50 {
            self.pending.ejected.push(nick.to_string());
        }
    }

    /// The whole list goes to the UI at the next flush.
    pub(crate) fn reset_list(&mut self) {
        self.pending.reset = true;
        self.pending.upserted.clear();
        self.pending.removed.clear();
        self.pending.view = true;
    }

    pub(crate) fn view_changed(&mut self) {
        self.pending.view = true;
    }

    /// Drops the occupants (the user is out). The members are read
    /// again at the next join.
    pub(crate) fn clear_occupants(&mut self) {
        self.occupants.clear();
        self.overflow = 0;
        self.members = None;
        self.reset_list();
    }

    /// Someone's affiliation with the room, as the room said it (a
    /// presence, a list, a notice): owners, admins and members are
    /// members; anyone else is not.
    pub(crate) fn note_affiliation(&mut self, jid: &str, affiliation: Affiliation) {
        let Some(members) = self.members.as_mut() else {
            return;
        };
        let changed = match affiliation {
            Affiliation::Owner | Affiliation::Admin | Affiliation::Member => {
                members.insert(jid.to_string(), affiliation) != Some(affiliation)
            }
            Affiliation::None | Affiliation::Outcast => members.remove(jid).is_some(),
        };
        self.members_changed |= changed;
    }

    /// Whether the members changed since the last call.
    pub(crate) fn take_members_changed(&mut self) -> bool {
        std::mem::take(&mut self.members_changed)
    }

    /// The real JID (bare) of the occupant who sent a message: by
    /// occupant id when the room gives them, else by nickname.
    pub(crate) fn real_jid_of(
        &self,
        nick: Option<&str>,
        occupant_id: Option<&str>,
    ) -> Option<String> {
        if let Some(id) = occupant_id {
            if let Some(o) = self
                .occupants
                .values()
                .find(|o| o.occupant_id.as_deref() == Some(id))
            {
                return o.jid.as_deref().map(str::to_string);
            }
        }
        self.occupants
            .get(nick?)
            .and_then(|o| o.jid.as_deref())
            .map(str::to_string)
    }

    fn flush(&mut self, account: &str, now_ms: i64, out: &mut Vec<ClientEvent>) {
        // While joining, the list is incomplete: it goes whole once the
        // user's own presence (the last of the join) arrived. The room's
        // view (joining) goes now.
        if self.status == RoomStatus::Joining {
            if std::mem::take(&mut self.pending.view) {
                out.push(ClientEvent::Room {
                    room: self.view(account),
                });
            }
            return;
        }
        let p = std::mem::take(&mut self.pending);
        if p.reset || !p.upserted.is_empty() || !p.removed.is_empty() {
            let upserted = if p.reset {
                let mut all: Vec<OccupantView> = self
                    .occupants
                    .iter()
                    .map(|(n, o)| self.occupant_view(n, o))
                    .collect();
                all.sort_by(|a, b| a.nick.cmp(&b.nick));
                all
            } else {
                p.upserted
                    .iter()
                    .filter_map(|n| self.occupants.get(n).map(|o| self.occupant_view(n, o)))
                    .collect()
            };
            out.push(ClientEvent::Occupants {
                account: account.to_string(),
                room: self.jid.to_string(),
                count: self.count(),
                reset: p.reset,
                upserted,
                removed: if p.reset {
                    Vec::new()
                } else {
                    p.removed.into_iter().collect()
                },
            });
        }
        if !p.joined.is_empty()
            || !p.left.is_empty()
            || !p.renamed.is_empty()
            || !p.ejected.is_empty()
        {
            out.push(ClientEvent::RoomActivity {
                account: account.to_string(),
                room: self.jid.to_string(),
                joined: p.joined,
                left: p.left,
                renamed: p.renamed,
                removed: p.ejected,
                at_ms: now_ms,
            });
        }
        if p.view {
            out.push(ClientEvent::Room {
                room: self.view(account),
            });
        }
    }
}

/// The user in a room, as the pipeline sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Me {
    /// The user's nickname there.
    pub nick: String,
    /// The user's occupant id there (XEP-0421).
    pub occupant_id: Option<String>,
    /// The room gives occupant ids (and strips forged ones).
    pub occupant_ids: bool,
}

/// The rooms of one account. Locked briefly by the presence handler, the
/// pipeline's classify stage and the API; never across an await.
#[derive(Debug, Default)]
pub(crate) struct Rooms {
    inner: Mutex<HashMap<BareJid, Room>>,
    dirty: std::sync::atomic::AtomicBool,
    /// Held from a flush until its events are out (see [`Rooms::flush_into`]).
    emitting: Mutex<()>,
    /// Every room of the store is in (a session started): a JID that is
    /// not here is no room of the account.
    loaded: std::sync::atomic::AtomicBool,
}

impl Rooms {
    /// Runs `f` on the rooms.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut HashMap<BareJid, Room>) -> T) -> T {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }

    /// Runs `f` on one room, if the account has it; marks the rooms for the
    /// next flush.
    pub(crate) fn with_room<T>(&self, jid: &BareJid, f: impl FnOnce(&mut Room) -> T) -> Option<T> {
        let out = self.with(|rooms| rooms.get_mut(jid).map(f));
        if out.is_some() {
            self.dirty.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        out
    }

    /// The store's rooms are all here (see [`Rooms::has`]).
    pub(crate) fn set_loaded(&self) {
        self.loaded
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether every room of the store is here, so that [`Rooms::has`]
    /// answers for the account without asking the store.
    pub(crate) fn loaded(&self) -> bool {
        self.loaded.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether `jid` (bare) is one of the account's rooms.
    pub(crate) fn has(&self, jid: &BareJid) -> bool {
        self.with(|rooms| rooms.contains_key(jid))
    }

    /// Adds a room (from the store, a bookmark or a join); keeps an
    /// existing one's state and updates its settings.
    pub(crate) fn ensure(&self, jid: &BareJid, row: tern_store::RoomRow, nick: String) -> bool {
        self.with(|rooms| {
            if let Some(r) = rooms.get_mut(jid) {
                let subject = r.row.subject.take();
                r.row = row;
                if r.row.subject.is_none() {
                    r.row.subject = subject;
                }
                if r.status != RoomStatus::Joined && r.status != RoomStatus::Joining {
                    r.nick = nick;
                }
                r.info = merge_info(&r.info, &r.row.features);
                true
            } else if rooms.len() < MAX_ROOMS {
                rooms.insert(jid.clone(), Room::new(jid.clone(), row, nick));
                true
            } else {
                false
            }
        })
    }

    /// Forgets a room.
    pub(crate) fn remove(&self, jid: &BareJid) -> Option<Room> {
        self.with(|rooms| rooms.remove(jid))
    }

    /// The user's nickname in a room the account is in (or joining).
    pub(crate) fn own_nick(&self, jid: &BareJid) -> Option<String> {
        self.with(|rooms| rooms.get(jid).map(|r| r.nick.clone()))
    }

    /// What the pipeline needs to know of a room: the user's nickname and
    /// occupant id there (to recognise the user's own messages).
    pub(crate) fn me_in(&self, jid: &BareJid) -> Option<Me> {
        self.with(|rooms| {
            rooms.get(jid).map(|r| Me {
                nick: r.nick.clone(),
                occupant_id: r.own_occupant_id.clone(),
                occupant_ids: r.info.occupant_id,
            })
        })
    }

    /// A room's subject changed.
    pub(crate) fn set_subject(&self, jid: &BareJid, subject: &str) {
        self.with_room(jid, |r| {
            r.row.subject = Some(subject.to_string());
            r.view_changed();
        });
    }

    /// The view of one room.
    pub(crate) fn view(&self, account: &str, jid: &BareJid) -> Option<RoomView> {
        self.with(|rooms| rooms.get(jid).map(|r| r.view(account)))
    }

    /// The occupants of a room, sorted by nickname.
    pub(crate) fn occupants(&self, jid: &BareJid) -> Vec<OccupantView> {
        self.with(|rooms| {
            let Some(r) = rooms.get(jid) else {
                return Vec::new();
            };
            let mut v: Vec<OccupantView> = r
                .occupants
                .iter()
                .map(|(n, o)| r.occupant_view(n, o))
                .collect();
            v.sort_by(|a, b| a.nick.cmp(&b.nick));
            v
        })
    }

    /// The events for what changed since the last flush (occupant diffs,
    /// activity, room views). Cheap when nothing changed. To emit them, use
    /// [`Rooms::flush_into`], which keeps racing flushes in order.
    pub(crate) fn flush(&self, account: &str) -> Vec<ClientEvent> {
        if !self.dirty.swap(false, std::sync::atomic::Ordering::Relaxed) {
            return Vec::new();
        }
        let now = crate::account::ctx::now_ms();
        let mut out = Vec::new();
        self.with(|rooms| {
            for r in rooms.values_mut() {
                r.flush(account, now, &mut out);
                if r.status == RoomStatus::Joining {
                    // Its list goes later.
                    self.dirty.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
        out
    }

    /// Flushes and emits, with the rooms locked until the events are out:
    /// two flushes racing (the account task's and an API call's) cannot
    /// send an older view after a newer one.
    pub(crate) fn flush_into(&self, account: &str, hub: &crate::events::EventHub) {
        if !self.dirty.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let _serial = self.emitting.lock().unwrap_or_else(|e| e.into_inner());
        let events = self.flush(account);
        if !events.is_empty() {
            hub.emit_all(events);
        }
    }

    /// Marks the rooms for the next flush.
    pub(crate) fn mark_dirty(&self) {
        self.dirty.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// A new session: every room is left until rejoined; joins waiting get
    /// an error.
    pub(crate) fn session_lost(&self, account: &str) {
        self.with(|rooms| {
            for r in rooms.values_mut() {
                for w in r.waiters.drain(..) {
                    let _ = w.send(Err(crate::Error::NotConnected(account.to_string())));
                }
                if matches!(r.status, RoomStatus::Joined | RoomStatus::Joining) {
                    r.status = RoomStatus::Left;
                }
                r.clear_occupants();
            }
        });
        self.mark_dirty();
    }
}

/// The kept form of a room's disco#info.
pub(crate) fn info_to_json(i: &RoomInfo) -> String {
    serde_json::json!({
        "name": i.name,
        "description": i.description,
        "members_only": i.members_only,
        "non_anonymous": i.non_anonymous,
        "persistent": i.persistent,
        "password_protected": i.password_protected,
        "moderated": i.moderated,
        "public": i.public,
        "mam": i.mam,
        "occupant_id": i.occupant_id,
        "moderation": i.moderation.map(|m| m.ns()),
        "is_room": i.is_room,
    })
    .to_string()
}

/// Reads [`info_to_json`]'s output (damaged or empty: nothing known).
pub(crate) fn info_from_json(json: &str) -> RoomInfo {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    let b = |k: &str| v.get(k).and_then(|x| x.as_bool()).unwrap_or(false);
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    RoomInfo {
        name: s("name"),
        description: s("description"),
        members_only: b("members_only"),
        non_anonymous: b("non_anonymous"),
        persistent: b("persistent"),
        password_protected: b("password_protected"),
        moderated: b("moderated"),
        public: b("public"),
        mam: b("mam"),
        occupant_id: b("occupant_id"),
        moderation: s("moderation")
            .as_deref()
            .and_then(crate::xep::moderation::ModerationNs::from_feature),
        occupants: None,
        is_room: b("is_room"),
    }
}

fn merge_info(old: &RoomInfo, json: &str) -> RoomInfo {
    let new = info_from_json(json);
    if new.is_room {
        new
    } else {
        old.clone()
    }
}

/// A nickname to try after `nick` was taken: `nick_`, then `nick__`.
pub(crate) fn next_nick(nick: &str) -> String {
    format!("{nick}_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_info_survives_the_store() {
        let info = RoomInfo {
            name: Some("Coven".into()),
            members_only: true,
            non_anonymous: true,
            mam: true,
            moderation: Some(crate::xep::moderation::ModerationNs::V0),
            is_room: true,
            ..RoomInfo::default()
        };
        let back = info_from_json(&info_to_json(&info));
        assert_eq!(back, info);
        assert_eq!(info_from_json("not json"), RoomInfo::default());
    }

    #[test]
    fn occupant_changes_are_coalesced_until_the_join_completes() {
        let rooms = Rooms::default();
        let jid = BareJid::new("coven@chat.shakespeare.lit").unwrap();
        rooms.ensure(&jid, tern_store::RoomRow::default(), "thirdwitch".into());
        rooms.with_room(&jid, |r| {
            r.status = RoomStatus::Joining;
            for i in 0..1000 {
                let nick = format!("n{i}");
                r.occupants.insert(
                    nick.clone(),
                    Occupant {
                        jid: None,
                        role: Role::Participant,
                        affiliation: Affiliation::None,
                        show: Show::Available,
                        status: None,
                        occupant_id: None,
                        avatar: None,
                    },
                );
                r.touched(&nick);
            }
        });
        // While joining, the room's view goes (joining), not its list.
        assert!(
            rooms.flush("juliet@capulet.lit").iter().all(
                |e| matches!(e, ClientEvent::Room { room } if room.status == RoomStatus::Joining)
            ),
            "still joining"
        );
        rooms.with_room(&jid, |r| {
            r.status = RoomStatus::Joined;
            r.reset_list();
        });
        let events = rooms.flush("juliet@capulet.lit");
        let occupants: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                ClientEvent::Occupants {
                    count,
                    reset,
                    upserted,
                    ..
                } => Some((*count, *reset, upserted.len())),
                _ => None,
            })
            .collect();
        assert_eq!(
            occupants,
            vec![(1000, true, 1000)],
            "one list, not 1000 events"
        );
        assert!(rooms.flush("juliet@capulet.lit").is_empty(), "nothing new");
    }
}
