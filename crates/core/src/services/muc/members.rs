//! A private group's members: whom its encrypted messages are for.
//!
//! A private group (members-only, real JIDs shown) is encrypted for every
//! member's devices, present or not, as Conversations and Dino do: the
//! members are the room's owners, admins and members, read from its
//! affiliation lists when the user joins (XEP-0045 §9.5; a members-only
//! room that shows real JIDs lets its members read them), then followed
//! as the room tells of changes: occupants' presences carry their
//! affiliation, and a notice message names someone who became a member or
//! stopped being one while not in the room. A change fetches the new
//! members' keys and tries the group's waiting messages again.

use std::collections::BTreeMap;

use xmpp_parsers::jid::BareJid;
use xmpp_parsers::message::Message;

use crate::account::AccountHandle;
use crate::xep::muc::{self, Affiliation};

/// Reads a room's members from its affiliation lists (owners, admins,
/// members). Lists the room refuses are left out; if it refuses them all,
/// the members stay unknown and `Err` says why.
pub(crate) async fn load(h: &AccountHandle, room: &BareJid) -> Result<(), String> {
    let ctx = h.ctx();
    let lists = [Affiliation::Owner, Affiliation::Admin, Affiliation::Member];
    let answer = super::admin::affiliation_lists(h, room, &lists).await;
    if !answer.answered {
        let why = answer.refusal.map(|e| e.to_string()).unwrap_or_default();
        tracing::info!(%room, "members not read: {why}");
        return Err(format!(
            "The group did not tell Tern who its members are ({why}), so Tern cannot \
             encrypt for them."
        ));
    }
    let mut members: BTreeMap<String, Affiliation> = answer
        .items
        .into_iter()
        .map(|(jid, affiliation, _)| (jid, affiliation))
        .collect();
    // The user is no recipient of their own messages (their other devices
    // are, as in any encrypted conversation).
    members.remove(ctx.own.as_str());
    let changed = ctx
        .rooms
        .with_room(room, |r| {
            let changed = r.members.as_ref() != Some(&members);
            r.members = Some(members);
            changed
        })
        .unwrap_or(false);
    tracing::debug!(%room, changed, "members read");
    if changed {
        self::changed(h, room);
    }
    Ok(())
}

/// A room's notice that someone's affiliation changed while they were not
/// in it (see [`muc::read_affiliation_notice`]).
pub(crate) fn on_notice(h: &AccountHandle, m: &Message) {
    let notice = muc::read_affiliation_notice(m);
    let Some(room) = m.from.as_ref().map(|f| f.to_bare()) else {
        return;
    };
    if notice.is_empty() {
        return;
    }
    let own = h.ctx().own.to_string();
    let any = h.ctx().rooms.with_room(&room, |r| {
        for (jid, affiliation) in &notice {
            if *jid != own {
                r.note_affiliation(jid, *affiliation);
            }
        }
        r.take_members_changed()
    });
    if any == Some(true) {
        changed(h, &room);
    }
}

/// The members of `room` changed (see the module's comment).
pub(crate) fn changed(h: &AccountHandle, room: &BareJid) {
    let (h, room) = (h.clone(), room.clone());
    tokio::spawn(async move {
        crate::services::omemo::send::members_changed(&h, room.as_str()).await;
    });
}

/// The members of a private group, without the user; `None` when they
/// are not known yet (or the room is no private group).
pub(crate) fn of(ctx: &crate::account::ctx::Ctx, room: &BareJid) -> Option<Vec<BareJid>> {
    let own = ctx.own.as_str();
    ctx.rooms.with(|rooms| {
        let r = rooms.get(room)?;
        r.members.as_ref().map(|m| {
            m.keys()
                .filter(|j| j.as_str() != own)
                .filter_map(|j| BareJid::new(j).ok())
                .collect()
        })
    })
}
