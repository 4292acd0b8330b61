//! Joining, creating and leaving rooms, and rejoining them after a new
//! session.

use std::time::Duration;

use tokio::sync::oneshot;
use tokio_xmpp::Stanza;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, FullJid, Jid};

use super::{info_to_json, Failure, Room};
use crate::account::AccountHandle;
use crate::events::{ClientEvent, RoomStatus, RoomView};
use crate::xep::muc::{self, JoinHistory, RoomKind};

/// How long a join waits for the room's answer.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Legacy history asked for when the room keeps no archive: what was said
/// since the newest message Tern has, else the last 50.
pub(crate) fn history_for(r: &Room) -> JoinHistory {
    if r.info.mam {
        JoinHistory::None
    } else {
        JoinHistory::MaxStanzas(50)
    }
}

/// The nickname to use in a room: the one chosen for it, else the
/// account's nickname, else the account's local part.
pub(crate) async fn default_nick(h: &AccountHandle) -> String {
    let ctx = h.ctx();
    if let Ok(p) = ctx.store.profile(&ctx.account, &ctx.account).await {
        if let Some(n) = p.nickname.filter(|n| !n.trim().is_empty()) {
            return n;
        }
    }
    ctx.own
        .node()
        .map(|n| n.to_string())
        .unwrap_or_else(|| "me".into())
}

/// What a join asks for.
#[derive(Debug, Default, Clone)]
pub(crate) struct JoinRequest {
    pub nick: Option<String>,
    pub password: Option<String>,
    /// Create the room with this kind and name.
    pub create: Option<(RoomKind, String)>,
    /// Wait for the outcome (else return once the request is out).
    pub wait: bool,
    /// Publish a bookmark once in (a room the user joins here).
    pub bookmark: bool,
}

/// Joins `room` (creating it when asked); with `wait`, returns once the
/// user is in or the room refused.
pub(crate) async fn join(
    h: &AccountHandle,
    room: &BareJid,
    req: JoinRequest,
) -> crate::Result<RoomView> {
    let ctx = h.ctx();
    tracing::debug!(%room, wait = req.wait, create = req.create.is_some(), "joining a room");
    if room.node().is_none() {
        return Err(crate::Error::Room {
            code: "not_a_room".into(),
            message: format!("“{room}” is not a group chat address (it looks like room@service)."),
        });
    }
    let stored = ctx.store.room(&ctx.account, room.as_str()).await?;
    let mut row = stored.unwrap_or_else(|| tern_store::RoomRow {
        jid: room.to_string(),
        autojoin: true,
        features: "{}".into(),
        ..Default::default()
    });
    if let Some(n) = req.nick.clone().filter(|n| !n.trim().is_empty()) {
        row.nick = Some(n.trim().to_string());
    }
    if req.password.is_some() {
        row.password = req.password.clone();
    }
    if let Some((kind, name)) = &req.create {
        row.name = Some(name.clone());
        row.kind = match kind {
            RoomKind::PrivateGroup => 1,
            RoomKind::PublicChannel => 2,
        };
    }
    // What the room is, when Tern does not know yet (archive, kind,
    // password): one round trip, before the join, so the join asks for the
    // right history. A known room is joined at once.
    if row.features == "{}" && req.create.is_none() {
        match h.request(muc::info_request(&Jid::from(room.clone()))).await {
            Ok(Iq::Result {
                payload: Some(p), ..
            }) => {
                if let Some(info) = muc::read_room_info(p) {
                    row.features = info_to_json(&info);
                    if row.name.is_none() {
                        row.name = info.name.clone();
                    }
                }
            }
            Ok(_) => {}
            Err(crate::Error::Stanza { condition, .. }) if condition == "item-not-found" => {
                return Err(super::presence::failure_error(Some(&Failure {
                    code: "not_found",
                    text: None,
                    by: None,
                })));
            }
            Err(e) => tracing::info!(%room, "room info unavailable: {e}"),
        }
    }
    let nick = match &row.nick {
        Some(n) => n.clone(),
        None => default_nick(h).await,
    };
    ctx.store.upsert_room(&ctx.account, &row).await?;
    ctx.rooms.ensure(room, row.clone(), nick.clone());
    let (tx, rx) = oneshot::channel();
    let presence = ctx.rooms.with_room(room, |r| {
        if req.wait {
            r.waiters.push(tx);
        }
        if r.status == RoomStatus::Joined && r.nick == nick {
            // Already in: answer at once.
            if let Some(w) = r.waiters.pop() {
                let _ = w.send(Ok(r.view(&ctx.account)));
            }
            return None;
        }
        r.status = RoomStatus::Joining;
        r.failure = None;
        r.nick = nick.clone();
        r.nick_attempts = 0;
        r.creating = req.create.clone();
        r.view_changed();
        let occupant = FullJid::new(&format!("{room}/{nick}")).ok()?;
        Some(muc::join(
            &occupant,
            r.row.password.as_deref(),
            history_for(r),
        ))
    });
    let Some(sent) = presence else {
        return Err(crate::Error::Room {
            code: "limit".into(),
            message: "Tern keeps at most 1,000 group chats per account.".into(),
        });
    };
    flush(h);
    match sent {
        Some(mut p) => {
            // The room sees the user as their contacts do (away, busy, …).
            let own = h.own_presence();
            p.show = own.show;
            p.statuses = own.statuses;
            if let Err(e) = h.send(Stanza::Presence(p)).await {
                ctx.rooms.with_room(room, |r| {
                    r.status = RoomStatus::Left;
                    r.waiters.clear();
                });
                flush(h);
                return Err(e);
            }
        }
        None if !req.wait => {}
        None => {}
    }
    if req.bookmark {
        let h2 = h.clone();
        let room2 = room.clone();
        tokio::spawn(async move {
            if let Err(e) = super::bookmarks::save(&h2, &room2, true).await {
                tracing::info!(room = %room2, "bookmark not saved: {e}");
            }
        });
    }
    if !req.wait {
        return ctx
            .rooms
            .view(&ctx.account, room)
            .ok_or(crate::Error::Internal("a room's view"));
    }
    match tokio::time::timeout(JOIN_TIMEOUT, rx).await {
        Ok(Ok(outcome)) => {
            // What the join changed is announced before the join answers
            // (the snapshot is never behind what `join_room` returned).
            flush(h);
            outcome
        }
        Ok(Err(_)) => Err(crate::Error::NotConnected(ctx.account.clone())),
        Err(_) => {
            ctx.rooms.with_room(room, |r| {
                if r.status == RoomStatus::Joining {
                    r.status = RoomStatus::Failed;
                    r.failure = Some(Failure {
                        code: "other",
                        text: Some("The group chat did not answer.".into()),
                        by: None,
                    });
                    r.view_changed();
                }
            });
            flush(h);
            Err(crate::Error::Timeout)
        }
    }
}

/// Announces what changed in the rooms now (outside the account task's
/// own flushes).
pub(crate) fn flush(h: &AccountHandle) {
    let ctx = h.ctx();
    ctx.rooms.flush_into(&ctx.account, &ctx.hub);
}

/// A room the user asked to create was created (locked): configure it as
/// the kind asked for, then tell the waiting join. A room created by a
/// join that meant an existing room is destroyed again.
pub(crate) async fn configure_new(
    h: &AccountHandle,
    room: BareJid,
    kind_name: Option<(RoomKind, String)>,
) {
    let ctx = h.ctx();
    let Some((kind, name)) = kind_name else {
        // Nobody wanted this room: leave it (an unconfigured room goes).
        let _ = h
            .request(muc::destroy(&room, None))
            .await
            .map_err(|e| tracing::info!(%room, "unwanted new room not destroyed: {e}"));
        if let Some(nick) = ctx.rooms.own_nick(&room) {
            if let Ok(occupant) = FullJid::new(&format!("{room}/{nick}")) {
                let _ = h.send(Stanza::Presence(muc::leave(&occupant, None))).await;
            }
        }
        flush(h);
        return;
    };
    let form = match h.request(muc::config_request(&room)).await {
        Ok(Iq::Result {
            payload: Some(p), ..
        }) => muc::read_config_form(p),
        _ => None,
    };
    let outcome = h
        .request(muc::config_submit(&room, kind, &name, form.as_ref()))
        .await;
    let info_after = refresh_info(h, &room).await;
    let result = match outcome {
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    };
    let waiters_result = ctx.rooms.with_room(&room, |r| {
        if let Some(info) = info_after {
            r.info = info;
        }
        if result.is_ok() {
            // The room accepted the form: it is of that kind, whatever a
            // disco answer sent a moment too early said.
            let private = kind == RoomKind::PrivateGroup;
            r.info.members_only = private;
            r.info.non_anonymous = private;
            r.info.is_room = true;
            if private {
                // Nobody else is a member of a room just made.
                r.members = Some(Default::default());
            }
        }
        r.row.features = info_to_json(&r.info);
        r.view_changed();
        let view = r.view(&ctx.account);
        let out = match &result {
            Ok(()) => Ok(view.clone()),
            Err(e) => Err(crate::Error::Room {
                code: "configure".into(),
                message: format!("The group chat was created but could not be set up: {e}"),
            }),
        };
        for w in r.waiters.drain(..) {
            let _ = w.send(match &out {
                Ok(v) => Ok(v.clone()),
                Err(crate::Error::Room { code, message }) => Err(crate::Error::Room {
                    code: code.clone(),
                    message: message.clone(),
                }),
                Err(_) => Err(crate::Error::Internal("room setup")),
            });
        }
        r.row.clone()
    });
    if let Some(row) = waiters_result {
        let _ = ctx.store.upsert_room(&ctx.account, &row).await;
    }
    flush(h);
    super::bookmarks::save(h, &room, true)
        .await
        .unwrap_or_else(|e| tracing::info!(%room, "bookmark not saved: {e}"));
}

/// Asks the room what it is now; keeps it in the store.
pub(crate) async fn refresh_info(h: &AccountHandle, room: &BareJid) -> Option<muc::RoomInfo> {
    match h.request(muc::info_request(&Jid::from(room.clone()))).await {
        Ok(Iq::Result {
            payload: Some(p), ..
        }) => muc::read_room_info(p),
        _ => None,
    }
}

/// The user is in a room: what it is now (disco, kept for next time), its
/// archive since the last message Tern has.
pub(crate) async fn after_join(h: &AccountHandle, room: BareJid) {
    let ctx = h.ctx();
    // The room is in the conversation list from now on, even before its
    // first message.
    match ctx
        .store
        .ensure_conversation(
            &ctx.account,
            room.as_str(),
            tern_store::ConversationKind::GroupChat,
            crate::account::ctx::now_ms(),
        )
        .await
    {
        Ok(true) => crate::inbound::emit_conversation(ctx, room.as_str()).await,
        Ok(false) => {}
        Err(e) => tracing::warn!(%room, "room not listed: {e}"),
    }
    if let Some(info) = refresh_info(h, &room).await {
        let row = ctx.rooms.with_room(&room, |r| {
            r.info = info.clone();
            if r.row.name.is_none() {
                r.row.name = info.name.clone();
            }
            r.row.kind = match info.kind() {
                Some(RoomKind::PrivateGroup) => 1,
                Some(RoomKind::PublicChannel) => 2,
                None => r.row.kind,
            };
            r.row.features = info_to_json(&info);
            r.view_changed();
            r.row.clone()
        });
        if let Some(row) = row {
            let _ = ctx.store.upsert_room(&ctx.account, &row).await;
        }
        flush(h);
    }
    // A private group's messages are encrypted for its members.
    let private = ctx
        .rooms
        .with_room(&room, |r| r.kind() == crate::events::RoomKind::PrivateGroup)
        .unwrap_or(false);
    if private {
        let _ = super::members::load(h, &room).await;
    }
    match super::history::catch_up(h, &room).await {
        Ok(n) => tracing::debug!(%room, fetched = n, "room history caught up"),
        Err(e) => tracing::info!(%room, "room history catch-up failed: {e}"),
    }
}

/// Leaves a room; `forget` also drops its bookmark and the room itself
/// (its conversation stays until the user deletes it).
pub(crate) async fn leave(h: &AccountHandle, room: &BareJid, forget: bool) -> crate::Result<()> {
    let ctx = h.ctx();
    let nick = ctx.rooms.own_nick(room);
    let joined = ctx
        .rooms
        .with_room(room, |r| {
            let was = matches!(r.status, RoomStatus::Joined | RoomStatus::Joining);
            r.status = RoomStatus::Left;
            r.failure = None;
            r.row.autojoin = false;
            r.clear_occupants();
            r.view_changed();
            was
        })
        .unwrap_or(false);
    if joined {
        if let Some(occupant) = nick.and_then(|n| FullJid::new(&format!("{room}/{n}")).ok()) {
            h.send(Stanza::Presence(muc::leave(&occupant, None)))
                .await?;
        }
    }
    if forget {
        ctx.rooms.remove(room);
        ctx.store.remove_room(&ctx.account, room.as_str()).await?;
        // Its messages go from this computer too.
        crate::services::chat::delete_conversation(ctx, room.as_str()).await?;
        ctx.hub.emit(ClientEvent::RoomRemoved {
            account: ctx.account.clone(),
            jid: room.to_string(),
        });
        if let Err(e) = super::bookmarks::remove(h, room).await {
            tracing::info!(%room, "bookmark not removed: {e}");
        }
    } else {
        if let Some(row) = ctx
            .rooms
            .with(|rooms| rooms.get(room).map(|r| r.row.clone()))
        {
            ctx.store.upsert_room(&ctx.account, &row).await?;
        }
        if let Err(e) = super::bookmarks::save(h, room, false).await {
            tracing::info!(%room, "bookmark not updated: {e}");
        }
    }
    flush(h);
    Ok(())
}

/// Changes the user's nickname in a room.
pub(crate) async fn change_nick(
    h: &AccountHandle,
    room: &BareJid,
    nick: &str,
) -> crate::Result<()> {
    let nick = nick.trim();
    let occupant = FullJid::new(&format!("{room}/{nick}")).map_err(|_| crate::Error::Room {
        code: "bad_nick".into(),
        message: format!("“{nick}” can't be used as a nickname."),
    })?;
    let ctx = h.ctx();
    let row = ctx.rooms.with_room(room, |r| {
        r.row.nick = Some(nick.to_string());
        r.row.clone()
    });
    if let Some(row) = row {
        ctx.store.upsert_room(&ctx.account, &row).await?;
    }
    h.send(Stanza::Presence(muc::change_nick(&occupant))).await
}

/// A new session: the rooms of the store are loaded (once), and those to
/// join (autojoin) are joined, all at once.
pub(crate) async fn rejoin(h: &AccountHandle) {
    let ctx = h.ctx();
    let rows = match ctx.store.rooms(&ctx.account).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(account = %ctx.account, "rooms not loaded: {e}");
            return;
        }
    };
    let account_nick = default_nick(h).await;
    for row in rows {
        let Ok(jid) = BareJid::new(&row.jid) else {
            continue;
        };
        let nick = row.nick.clone().unwrap_or_else(|| account_nick.clone());
        let autojoin = row.autojoin;
        ctx.rooms.ensure(&jid, row, nick);
        if autojoin {
            let h = h.clone();
            tokio::spawn(async move {
                let req = JoinRequest {
                    wait: false,
                    ..Default::default()
                };
                if let Err(e) = join(&h, &jid, req).await {
                    tracing::info!(room = %jid, "rejoin failed: {e}");
                }
            });
        }
    }
    ctx.rooms.set_loaded();
    ctx.rooms.mark_dirty();
    flush(h);
}

/// The protocol's kind for the kind a user picked.
pub(crate) fn kind_for(kind: crate::events::RoomKind) -> RoomKind {
    match kind {
        crate::events::RoomKind::PublicChannel => RoomKind::PublicChannel,
        _ => RoomKind::PrivateGroup,
    }
}

/// Which messages of a room notify (kept on this computer).
pub(crate) async fn set_notify(
    h: &AccountHandle,
    room: &BareJid,
    notify: crate::events::RoomNotify,
) -> crate::Result<RoomView> {
    let ctx = h.ctx();
    let value = match notify {
        crate::events::RoomNotify::All => 1,
        crate::events::RoomNotify::Mentions => 2,
        crate::events::RoomNotify::None => 3,
    };
    let row = ctx
        .rooms
        .with_room(room, |r| {
            r.row.notify = value;
            r.view_changed();
            r.row.clone()
        })
        .ok_or_else(not_a_room)?;
    ctx.store.upsert_room(&ctx.account, &row).await?;
    flush(h);
    ctx.rooms.view(&ctx.account, room).ok_or_else(not_a_room)
}

/// Whether a room is joined at each sign-in (its bookmark's autojoin).
pub(crate) async fn set_autojoin(
    h: &AccountHandle,
    room: &BareJid,
    autojoin: bool,
) -> crate::Result<RoomView> {
    let ctx = h.ctx();
    if !ctx.rooms.has(room) {
        return Err(not_a_room());
    }
    super::bookmarks::save(h, room, autojoin).await?;
    ctx.rooms.view(&ctx.account, room).ok_or_else(not_a_room)
}

fn not_a_room() -> crate::Error {
    crate::Error::Room {
        code: "unknown_room".into(),
        message: "Tern does not know this group chat; join it first.".into(),
    }
}

/// Sends the user's new presence (show, status) to every room the user is
/// in, as their occupant.
pub(crate) async fn send_presence(h: &AccountHandle, p: &xmpp_parsers::presence::Presence) {
    let ctx = h.ctx();
    let inside: Vec<String> = ctx.rooms.with(|rooms| {
        rooms
            .values()
            .filter(|r| r.status == RoomStatus::Joined)
            .map(|r| format!("{}/{}", r.jid, r.nick))
            .collect()
    });
    for occupant in inside {
        let Ok(to) = Jid::new(&occupant) else {
            continue;
        };
        let mut directed = p.clone();
        directed.to = Some(to);
        if let Err(e) = h.send(Stanza::Presence(directed)).await {
            tracing::info!(%occupant, "presence not sent to the room: {e}");
        }
    }
}
