//! A room's own archive (XEP-0313 on the room's JID): after joining, what
//! was said since the newest message Tern has of it, newest page first;
//! scroll-back before the oldest. Messages are known by the room's
//! stanza-id, so a message seen live and in the archive is stored once.

use xmpp_parsers::jid::BareJid;

use crate::account::AccountHandle;
use crate::inbound::Mode;
use crate::services::archive::{ArchiveQuery, Ordering};

/// Messages per page of a room's archive (Prosody serves at most 50 at a
/// time, whatever is asked).
const PAGE: usize = 50;
/// At most this many pages on one catch-up (older ones come on
/// scroll-back).
const MAX_PAGES: usize = 20;

/// Fetches what the room archived since the newest message Tern has of it
/// (on a first join: the last page). Returns how many results came.
pub(crate) async fn catch_up(h: &AccountHandle, room: &BareJid) -> crate::Result<u64> {
    let ctx = h.ctx();
    let mam = ctx.rooms.with_room(room, |r| r.info.mam).unwrap_or(false);
    if !mam {
        return Ok(0);
    }
    let Some(row) = ctx.store.room(&ctx.account, room.as_str()).await? else {
        return Ok(0);
    };
    let known = row.mam_newest_id.clone();
    let mut cursor: Option<String> = None;
    let mut order = Ordering::default();
    let mut fetched = 0u64;
    let mut newest: Option<String> = None;
    let mut oldest: Option<String> = None;
    let mut complete = false;
    for _ in 0..MAX_PAGES {
        let page = h
            .archive_page(ArchiveQuery {
                room: Some(room.to_string()),
                order,
                mode: Mode::LIVE,
                ..ArchiveQuery::page(None, cursor.as_deref(), PAGE)
            })
            .await?;
        order = page.order;
        fetched += page.ids.len() as u64;
        if newest.is_none() {
            newest = page.ids.last().cloned();
        }
        if !page.ids.is_empty() {
            oldest = page.ids.first().cloned();
        }
        let reached = known
            .as_ref()
            .is_some_and(|k| page.ids.iter().any(|id| id == k));
        if page.complete {
            complete = true;
        }
        // A first join takes one page; a rejoin goes back to what it has.
        if known.is_none() || reached || page.complete || page.ids.is_empty() {
            break;
        }
        match page.first {
            Some(f) => cursor = Some(f),
            None => break,
        }
    }
    // The oldest position only moves on a first catch-up (a rejoin's pages
    // join what is stored).
    let oldest = if row.mam_oldest_id.is_none() {
        oldest
    } else {
        None
    };
    ctx.store
        .set_room_archive_state(
            &ctx.account,
            room.as_str(),
            newest.as_deref(),
            oldest.as_deref(),
            complete
                .then_some(true)
                .filter(|_| row.mam_oldest_id.is_none()),
        )
        .await?;
    Ok(fetched)
}

/// Scroll-back in a room beyond what is stored: pages of the room's
/// archive older than the oldest stored message, until `wanted` messages
/// with text came or the archive has nothing older.
pub(crate) async fn scroll_back(
    h: &AccountHandle,
    room: &BareJid,
    wanted: u64,
) -> crate::Result<()> {
    let ctx = h.ctx();
    let Some(row) = ctx.store.room(&ctx.account, room.as_str()).await? else {
        return Ok(());
    };
    if row.mam_complete {
        return Ok(());
    }
    let mut order = match ctx
        .store
        .oldest_timestamp(&ctx.account, room.as_str())
        .await?
    {
        Some(t) => Ordering::older_than(t),
        None => Ordering::default(),
    };
    let mut cursor = ctx
        .store
        .oldest_archive_id(&ctx.account, room.as_str())
        .await?
        .or(row.mam_oldest_id);
    let mut texts = 0;
    for _ in 0..MAX_PAGES {
        let page = h
            .archive_page(ArchiveQuery {
                room: Some(room.to_string()),
                order,
                ..ArchiveQuery::page(None, cursor.as_deref(), PAGE)
            })
            .await?;
        order = page.order;
        texts += page.texts;
        if let Some(first) = &page.first {
            ctx.store
                .set_room_archive_state(&ctx.account, room.as_str(), None, Some(first), None)
                .await?;
        }
        if page.complete || page.ids.is_empty() {
            ctx.store
                .set_room_archive_state(&ctx.account, room.as_str(), None, None, Some(true))
                .await?;
            break;
        }
        if texts >= wanted {
            break;
        }
        match page.first {
            Some(f) => cursor = Some(f),
            None => break,
        }
    }
    Ok(())
}
