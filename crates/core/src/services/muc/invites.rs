//! Invitations to rooms: direct (XEP-0249) and mediated by the room
//! (XEP-0045 §7.8.2), both ways. An invitation is kept until the user
//! answers it; nothing is ever joined by itself. One from someone outside
//! the user's contacts is shown as a request.

use tokio_xmpp::Stanza;
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::message::Message;

use crate::account::AccountHandle;
use crate::events::{ClientEvent, InvitationView, RoomView};
use crate::xep::invite;

/// Most invitations kept per account (a flood of them cannot grow Tern).
const MAX_INVITATIONS: i64 = 100;

/// Whether a message is an invitation.
pub(crate) fn is_invitation(m: &Message) -> bool {
    invite::read_invitation(m).is_some()
}

/// An invitation arrived: kept and shown.
pub(crate) async fn on_message(h: &AccountHandle, m: &Message) {
    let ctx = h.ctx();
    let Some(inv) = invite::read_invitation(m) else {
        return;
    };
    // A mediated invitation comes from the room; a direct one from the
    // inviter, whose address is what the message's sender is.
    let inviter = if inv.direct {
        match m.from.as_ref() {
            Some(f) => f.to_bare().to_string(),
            None => return,
        }
    } else {
        inv.inviter.clone()
    };
    if inviter == ctx.account {
        return;
    }
    let status = ctx.rooms.with_room(&inv.room, |r| r.status);
    if matches!(
        status,
        Some(crate::events::RoomStatus::Joined | crate::events::RoomStatus::Joining)
    ) {
        return;
    }
    let row = tern_store::InvitationRow {
        room: inv.room.to_string(),
        inviter: inviter.clone(),
        reason: inv.reason.clone(),
        password: inv.password.clone(),
        received_ms: crate::account::ctx::now_ms(),
    };
    if let Err(e) = ctx
        .store
        .add_invitation(&ctx.account, &row, MAX_INVITATIONS)
        .await
    {
        tracing::warn!("invitation not kept: {e}");
        return;
    }
    let from_contact = ctx.knows(&inviter).await;
    ctx.hub.emit(ClientEvent::Invitation {
        invitation: view(&ctx.account, row, from_contact),
    });
}

fn view(account: &str, row: tern_store::InvitationRow, from_contact: bool) -> InvitationView {
    InvitationView {
        account: account.to_string(),
        room: row.room,
        inviter: row.inviter,
        reason: row.reason,
        password: row.password,
        from_contact,
        received_ms: row.received_ms,
    }
}

/// The invitations of an account not answered yet.
pub(crate) async fn pending(ctx: &crate::account::ctx::Ctx) -> crate::Result<Vec<InvitationView>> {
    let rows = ctx.store.invitations(&ctx.account).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let known = ctx.knows(&row.inviter).await;
        out.push(view(&ctx.account, row, known));
    }
    Ok(out)
}

/// The user accepts: the room is joined (with the password it came with).
pub(crate) async fn accept(h: &AccountHandle, room: &BareJid) -> crate::Result<RoomView> {
    let ctx = h.ctx();
    let inv = ctx
        .store
        .take_invitation(&ctx.account, room.as_str())
        .await?;
    ctx.hub.emit(ClientEvent::InvitationRemoved {
        account: ctx.account.clone(),
        room: room.to_string(),
    });
    super::join::join(
        h,
        room,
        super::join::JoinRequest {
            password: inv.and_then(|i| i.password),
            wait: true,
            bookmark: true,
            ..Default::default()
        },
    )
    .await
}

/// The user declines: the inviter is told when the room mediated it.
pub(crate) async fn decline(h: &AccountHandle, room: &BareJid) -> crate::Result<()> {
    let ctx = h.ctx();
    let inv = ctx
        .store
        .take_invitation(&ctx.account, room.as_str())
        .await?;
    ctx.hub.emit(ClientEvent::InvitationRemoved {
        account: ctx.account.clone(),
        room: room.to_string(),
    });
    if let Some(inviter) = inv.and_then(|i| xmpp_parsers::jid::Jid::new(&i.inviter).ok()) {
        h.send(Stanza::Message(invite::decline(room, &inviter, None)))
            .await?;
    }
    Ok(())
}

/// Invites people to a room: directly (XEP-0249, which every client
/// reads), and through the room as well for a members-only room. In a
/// members-only room the user administers (a private group), the invitees
/// are made members first, as Conversations does, so that they can join.
pub(crate) async fn send(
    h: &AccountHandle,
    room: &BareJid,
    who: &[BareJid],
    reason: Option<&str>,
) -> crate::Result<()> {
    let ctx = h.ctx();
    let (password, members_only, admin) = ctx
        .rooms
        .with_room(room, |r| {
            (
                r.row.password.clone(),
                r.info.members_only,
                matches!(
                    r.affiliation,
                    crate::xep::muc::Affiliation::Owner | crate::xep::muc::Affiliation::Admin
                ),
            )
        })
        .unwrap_or((None, false, false));
    if members_only && admin {
        for to in who {
            let member = crate::xep::muc::Affiliation::Member;
            if let Err(e) = super::admin::set_affiliation(h, room, to, member, None).await {
                // The invitation still goes; the room may admit them.
                tracing::info!(%room, %to, "invitee not made a member: {e}");
            }
        }
    }
    for to in who {
        h.send(Stanza::Message(invite::direct(
            to,
            room,
            reason,
            password.as_deref(),
        )))
        .await?;
        if members_only {
            h.send(Stanza::Message(invite::mediated(room, to, reason)))
                .await?;
        }
    }
    Ok(())
}
