//! The `Client` API for group chats (XEP-0045): join, create, leave, who is
//! in, invitations, moderation, notifications. Each method checks its
//! arguments and calls the group-chat service.

use xmpp_parsers::jid::BareJid;

use crate::api::client::Client;
use crate::error::{Error, Result};
use crate::events::{
    InvitationView, MessageView, OccupantView, RoomInfoView, RoomKind, RoomListing, RoomMember,
    RoomNotify, RoomView,
};
use crate::services::muc::{admin, invites, join};

/// A room's address, from what the user typed or clicked: `room@service`,
/// or an `xmpp:room@service?join` link.
pub fn parse_room_address(input: &str) -> Result<BareJid> {
    let t = input.trim();
    let t = t.strip_prefix("xmpp:").unwrap_or(t);
    let t = t.split('?').next().unwrap_or(t);
    let decoded = percent_decode(t);
    let jid = BareJid::new(decoded.trim()).map_err(|e| Error::InvalidJid {
        input: input.to_string(),
        detail: e.to_string(),
    })?;
    if jid.node().is_none() {
        return Err(Error::Room {
            code: "not_a_room".into(),
            message: format!(
                "“{}” is not a group chat address; one looks like room@conference.example.org.",
                input.trim()
            ),
        });
    }
    Ok(jid)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn bare(jid: &str) -> Result<BareJid> {
    BareJid::new(jid.trim()).map_err(|e| Error::InvalidJid {
        input: jid.to_string(),
        detail: e.to_string(),
    })
}

/// A room's name as the user typed it, trimmed; refused when empty.
fn room_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::Room {
            code: "no_name".into(),
            message: "Give the group chat a name.".into(),
        });
    }
    Ok(name)
}

fn optional(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

impl Client {
    /// The group chats of every account.
    pub async fn rooms(&self) -> Vec<RoomView> {
        self.snapshot().rooms
    }

    /// Joins a room (`room@service` or an `xmpp:…?join` link) with an
    /// optional nickname (else the room's or the account's) and password.
    /// Returns once the user is in; a refusal is an [`Error::Room`] saying
    /// why (banned, members only, full, not found, nickname taken, …).
    pub async fn join_room(
        &self,
        account: &str,
        room: &str,
        nick: Option<&str>,
        password: Option<&str>,
    ) -> Result<RoomView> {
        let room = parse_room_address(room)?;
        let handle = self.handle(account).await?;
        join::join(
            &handle,
            &room,
            join::JoinRequest {
                nick: optional(nick).map(str::to_string),
                password: optional(password).map(str::to_string),
                wait: true,
                bookmark: true,
                create: None,
            },
        )
        .await
    }

    /// Creates a room named `name` of `kind` at `address` (else one made
    /// from the name on the user's server's group-chat service) and joins
    /// it; the room is configured through its form.
    pub async fn create_room(
        &self,
        account: &str,
        name: &str,
        address: Option<&str>,
        kind: RoomKind,
    ) -> Result<RoomView> {
        let name = room_name(name)?;
        let handle = self.handle(account).await?;
        let address = match optional(address) {
            Some(a) => a.to_string(),
            None => admin::suggest_address(&handle, name).await?,
        };
        let room = parse_room_address(&address)?;
        // An existing room is not taken over.
        if admin::info(&handle, &room).await.is_ok() {
            return Err(Error::Room {
                code: "exists".into(),
                message: format!("{room} already exists. Choose another address, or join it."),
            });
        }
        join::join(
            &handle,
            &room,
            join::JoinRequest {
                create: Some((join::kind_for(kind), name.to_string())),
                wait: true,
                bookmark: false,
                ..Default::default()
            },
        )
        .await
    }

    /// An address for a new room named `name` on the account's server.
    pub async fn suggest_room_address(&self, account: &str, name: &str) -> Result<String> {
        admin::suggest_address(&self.handle(account).await?, name).await
    }

    /// Leaves a room; `forget` also removes its bookmark (the conversation
    /// stays until deleted).
    pub async fn leave_room(&self, account: &str, room: &str, forget: bool) -> Result<()> {
        join::leave(&self.handle(account).await?, &bare(room)?, forget).await
    }

    /// Who is in a room, by nickname.
    pub async fn room_occupants(&self, account: &str, room: &str) -> Result<Vec<OccupantView>> {
        let ctx = self.ctx(account).await?;
        Ok(ctx.rooms.occupants(&bare(room)?))
    }

    /// What a room says about itself.
    pub async fn room_info(&self, account: &str, room: &str) -> Result<RoomInfoView> {
        admin::info(&self.handle(account).await?, &parse_room_address(room)?).await
    }

    /// The rooms the account's server lists.
    pub async fn browse_rooms(&self, account: &str) -> Result<Vec<RoomListing>> {
        admin::browse(&self.handle(account).await?).await
    }

    /// Changes the user's nickname in a room.
    pub async fn change_room_nick(&self, account: &str, room: &str, nick: &str) -> Result<()> {
        if nick.trim().is_empty() {
            return Err(Error::Room {
                code: "bad_nick".into(),
                message: "A nickname can't be empty.".into(),
            });
        }
        join::change_nick(&self.handle(account).await?, &bare(room)?, nick).await
    }

    /// Changes a room's subject.
    pub async fn set_room_subject(&self, account: &str, room: &str, subject: &str) -> Result<()> {
        admin::set_subject(&self.handle(account).await?, &bare(room)?, subject).await
    }

    /// Removes an occupant from a room (they may come back).
    pub async fn kick_occupant(
        &self,
        account: &str,
        room: &str,
        nick: &str,
        reason: Option<&str>,
    ) -> Result<()> {
        let h = self.handle(account).await?;
        admin::set_role(
            &h,
            &bare(room)?,
            nick,
            admin::role("none")?,
            optional(reason),
        )
        .await
    }

    /// Bans someone (by address) from a room.
    pub async fn ban_user(
        &self,
        account: &str,
        room: &str,
        jid: &str,
        reason: Option<&str>,
    ) -> Result<()> {
        let h = self.handle(account).await?;
        admin::set_affiliation(
            &h,
            &bare(room)?,
            &bare(jid)?,
            admin::affiliation("outcast")?,
            optional(reason),
        )
        .await
    }

    /// Sets an occupant's role: `participant` gives voice, `visitor` takes
    /// it, `moderator`.
    pub async fn set_occupant_role(
        &self,
        account: &str,
        room: &str,
        nick: &str,
        role: &str,
    ) -> Result<()> {
        let h = self.handle(account).await?;
        admin::set_role(&h, &bare(room)?, nick, admin::role(role)?, None).await
    }

    /// Sets someone's affiliation with a room: `owner`, `admin`, `member`,
    /// `none` (or `outcast`, a ban).
    pub async fn set_affiliation(
        &self,
        account: &str,
        room: &str,
        jid: &str,
        affiliation: &str,
        reason: Option<&str>,
    ) -> Result<()> {
        let h = self.handle(account).await?;
        admin::set_affiliation(
            &h,
            &bare(room)?,
            &bare(jid)?,
            admin::affiliation(affiliation)?,
            optional(reason),
        )
        .await
    }

    /// Removes someone's message from a room for everyone (XEP-0425).
    pub async fn moderate_message(
        &self,
        account: &str,
        message_id: i64,
        reason: Option<&str>,
    ) -> Result<MessageView> {
        admin::moderate(&self.handle(account).await?, message_id, optional(reason)).await
    }

    /// Renames a room and sets its kind (its owner): a private group or a
    /// public channel, configured through the room's form.
    pub async fn configure_room(
        &self,
        account: &str,
        room: &str,
        name: &str,
        kind: RoomKind,
    ) -> Result<RoomView> {
        let name = room_name(name)?;
        let h = self.handle(account).await?;
        admin::configure(&h, &bare(room)?, join::kind_for(kind), name).await
    }

    /// Everyone with an affiliation with a room (for its admins and owners).
    pub async fn room_members(&self, account: &str, room: &str) -> Result<Vec<RoomMember>> {
        admin::members(&self.handle(account).await?, &bare(room)?).await
    }

    /// Destroys a room (its owner).
    pub async fn destroy_room(
        &self,
        account: &str,
        room: &str,
        reason: Option<&str>,
    ) -> Result<()> {
        admin::destroy(&self.handle(account).await?, &bare(room)?, optional(reason)).await
    }

    /// Invites people to a room.
    pub async fn invite_to_room(
        &self,
        account: &str,
        room: &str,
        jids: &[String],
        reason: Option<&str>,
    ) -> Result<()> {
        let who = jids.iter().map(|j| bare(j)).collect::<Result<Vec<_>>>()?;
        invites::send(
            &self.handle(account).await?,
            &bare(room)?,
            &who,
            optional(reason),
        )
        .await
    }

    /// Invitations not answered yet, of every account.
    pub async fn invitations(&self) -> Vec<InvitationView> {
        self.snapshot().invitations
    }

    /// Accepts an invitation: joins the room.
    pub async fn accept_invitation(&self, account: &str, room: &str) -> Result<RoomView> {
        invites::accept(&self.handle(account).await?, &bare(room)?).await
    }

    /// Declines an invitation.
    pub async fn decline_invitation(&self, account: &str, room: &str) -> Result<()> {
        invites::decline(&self.handle(account).await?, &bare(room)?).await
    }

    /// Which messages of a room notify.
    pub async fn set_room_notify(
        &self,
        account: &str,
        room: &str,
        notify: RoomNotify,
    ) -> Result<RoomView> {
        join::set_notify(&self.handle(account).await?, &bare(room)?, notify).await
    }

    /// Whether a room is joined after each sign-in (its bookmark's
    /// autojoin, synced with the user's other clients).
    pub async fn set_room_autojoin(
        &self,
        account: &str,
        room: &str,
        autojoin: bool,
    ) -> Result<RoomView> {
        join::set_autojoin(&self.handle(account).await?, &bare(room)?, autojoin).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_addresses_from_links_and_text() {
        let ok = |s: &str| parse_room_address(s).map(|j| j.to_string()).ok();
        assert_eq!(
            ok(" coven@chat.shakespeare.lit "),
            Some("coven@chat.shakespeare.lit".into())
        );
        assert_eq!(
            ok("xmpp:coven@chat.shakespeare.lit?join"),
            Some("coven@chat.shakespeare.lit".into())
        );
        assert_eq!(
            ok("xmpp:caf%C3%A9@chat.example?join"),
            Some("café@chat.example".into())
        );
        assert_eq!(ok("chat.shakespeare.lit"), None);
        assert_eq!(ok("xmpp:?join"), None);
        assert_eq!(ok("%"), None);
    }
}
