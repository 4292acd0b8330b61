//! The user's rooms on the server: PEP native bookmarks (XEP-0402), with
//! the older private-storage bookmarks (XEP-0048) read when there are
//! none. Synced both ways: a room joined here is bookmarked (autojoin), a
//! room left here loses autojoin, a room forgotten loses its bookmark; a
//! bookmark another client adds is joined when it says autojoin, one it
//! removes is left.

use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::minidom::Element;

use super::join::{join, JoinRequest};
use crate::account::AccountHandle;
use crate::events::RoomStatus;
use crate::xep::bookmarks::{self, Bookmark, BookmarkEvent};

/// The bookmark of a room as Tern knows it now.
fn bookmark_of(h: &AccountHandle, room: &BareJid, autojoin: bool) -> Option<Bookmark> {
    h.ctx().rooms.with_room(room, |r| Bookmark {
        room: room.clone(),
        name: r.row.name.clone(),
        nick: Some(r.nick.clone()),
        password: r.row.password.clone(),
        autojoin,
        extensions: None,
    })
}

/// Publishes the room's bookmark (with `autojoin`).
pub(crate) async fn save(h: &AccountHandle, room: &BareJid, autojoin: bool) -> crate::Result<()> {
    let Some(b) = bookmark_of(h, room, autojoin) else {
        return Ok(());
    };
    let ctx = h.ctx();
    publish(h, &b).await?;
    let row = ctx.rooms.with_room(room, |r| {
        r.row.bookmarked = true;
        r.row.autojoin = autojoin;
        r.view_changed();
        r.row.clone()
    });
    if let Some(row) = row {
        ctx.store.upsert_room(&ctx.account, &row).await?;
    }
    super::join::flush(h);
    Ok(())
}

/// Publishes a bookmark with the options XEP-0402 asks for; where the
/// server refuses options it does not know, with those it takes, then
/// makes the node keep more than one item.
async fn publish(h: &AccountHandle, b: &Bookmark) -> crate::Result<()> {
    let refused = match h.request(bookmarks::publish(b)).await {
        Ok(_) => return Ok(()),
        Err(crate::Error::Stanza { condition, text })
            if matches!(
                condition.as_str(),
                "precondition-not-met"
                    | "bad-request"
                    | "resource-constraint"
                    | "not-acceptable"
                    | "conflict"
            ) =>
        {
            (condition, text)
        }
        Err(e) => return Err(e),
    };
    tracing::info!(
        account = %h.ctx().account,
        "bookmark refused with publish options ({} {}); publishing with fewer",
        refused.0,
        refused.1.as_deref().unwrap_or_default()
    );
    // The node may keep only the newest item (ejabberd's default), and a
    // publish would then replace the other bookmarks: make it keep them
    // all first. A node that does not exist yet is made by the publish,
    // and configured after it.
    let sized = keep_all_items(h).await.is_ok();
    h.request(bookmarks::publish_plain(b)).await?;
    if !sized {
        keep_all_items(h).await?;
    }
    Ok(())
}

/// Configures the bookmarks node to keep every item ("max", else many).
async fn keep_all_items(h: &AccountHandle) -> crate::Result<()> {
    let mut outcome = Ok(());
    for value in ["max", "1000"] {
        match h.request(bookmarks::configure_max_items(value)).await {
            Ok(_) => return Ok(()),
            Err(e) => outcome = Err(e),
        }
    }
    outcome
}

/// Removes the room's bookmark.
pub(crate) async fn remove(h: &AccountHandle, room: &BareJid) -> crate::Result<()> {
    h.request(bookmarks::retract(room)).await?;
    Ok(())
}

/// Session start: reads the bookmarks (XEP-0402, else XEP-0048) and
/// takes each room in; returns the rooms to join.
pub(crate) async fn fetch(h: &AccountHandle) -> Vec<BareJid> {
    let mut list = match h.request(bookmarks::request_all()).await {
        Ok(Iq::Result {
            payload: Some(p), ..
        }) => bookmarks::read_items(p),
        Ok(_) => Vec::new(),
        Err(e) => {
            tracing::info!(account = %h.ctx().account, "bookmarks unavailable: {e}");
            Vec::new()
        }
    };
    if list.is_empty() {
        if let Ok(Iq::Result {
            payload: Some(p), ..
        }) = h.request(bookmarks::legacy_request()).await
        {
            list = bookmarks::read_legacy(p);
        }
    }
    let mut to_join = Vec::new();
    for b in list {
        if take_in(h, &b).await != Taken::Failed && b.autojoin {
            to_join.push(b.room.clone());
        }
    }
    to_join
}

/// What taking a bookmark in did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Taken {
    /// A room Tern did not have, or one it had without autojoin that now
    /// has it: the user (on another client) wants to be in it.
    Wanted,
    /// Known already, as it is (e.g. the echo of Tern's own publish).
    Same,
    /// Known, its settings changed.
    Changed,
    /// Not kept (the store failed).
    Failed,
}

/// Takes a bookmark into the rooms (and the store).
async fn take_in(h: &AccountHandle, b: &Bookmark) -> Taken {
    let ctx = h.ctx();
    let stored = ctx
        .store
        .room(&ctx.account, b.room.as_str())
        .await
        .ok()
        .flatten();
    let was_wanted = stored.as_ref().is_some_and(|r| r.autojoin);
    let mut row = stored.clone().unwrap_or_else(|| tern_store::RoomRow {
        jid: b.room.to_string(),
        features: "{}".into(),
        ..Default::default()
    });
    row.name = b.name.clone().or(row.name);
    row.nick = b.nick.clone().or(row.nick);
    row.password = b.password.clone().or(row.password);
    row.autojoin = b.autojoin;
    row.bookmarked = true;
    let taken = if stored.as_ref() == Some(&row) {
        Taken::Same
    } else if b.autojoin && !was_wanted {
        Taken::Wanted
    } else {
        Taken::Changed
    };
    if taken == Taken::Same {
        return taken;
    }
    if ctx.store.upsert_room(&ctx.account, &row).await.is_err() {
        return Taken::Failed;
    }
    let nick = match &row.nick {
        Some(n) => n.clone(),
        None => super::join::default_nick(h).await,
    };
    ctx.rooms.ensure(&b.room, row, nick);
    ctx.rooms.mark_dirty();
    taken
}

/// A PEP notification of the bookmarks node: another client of the user
/// added, changed or removed a bookmark.
pub(crate) async fn on_event(h: &AccountHandle, event: &Element) {
    let Some(ev) = bookmarks::read_event(event) else {
        return;
    };
    let ctx = h.ctx();
    match ev {
        BookmarkEvent::Set(list) => {
            for b in list {
                // Only a bookmark another client added (or turned autojoin
                // on for) joins: the echo of Tern's own publish must not
                // bring the user back into a room that just removed them.
                let taken = take_in(h, &b).await;
                let status = ctx.rooms.with_room(&b.room, |r| r.status);
                let inside = matches!(status, Some(RoomStatus::Joined | RoomStatus::Joining));
                if b.autojoin && !inside && taken == Taken::Wanted {
                    let h = h.clone();
                    tokio::spawn(async move {
                        let req = JoinRequest {
                            wait: false,
                            ..Default::default()
                        };
                        if let Err(e) = join(&h, &b.room, req).await {
                            tracing::info!(room = %b.room, "bookmarked room not joined: {e}");
                        }
                    });
                } else if !b.autojoin && inside && taken == Taken::Changed {
                    // Left on another device.
                    let _ = super::join::leave(h, &b.room, false).await;
                }
            }
        }
        BookmarkEvent::Removed(rooms) => {
            for room in rooms {
                let row = ctx.rooms.with_room(&room, |r| {
                    r.row.bookmarked = false;
                    r.row.autojoin = false;
                    r.view_changed();
                    (r.row.clone(), r.status)
                });
                if let Some((row, status)) = row {
                    let _ = ctx.store.upsert_room(&ctx.account, &row).await;
                    if matches!(status, RoomStatus::Joined | RoomStatus::Joining) {
                        if let Some(nick) = ctx.rooms.own_nick(&room) {
                            if let Ok(occupant) =
                                xmpp_parsers::jid::FullJid::new(&format!("{room}/{nick}"))
                            {
                                let _ = h
                                    .send(tokio_xmpp::Stanza::Presence(crate::xep::muc::leave(
                                        &occupant, None,
                                    )))
                                    .await;
                            }
                        }
                    }
                }
            }
        }
        BookmarkEvent::Purged => {}
    }
    super::join::flush(h);
}
