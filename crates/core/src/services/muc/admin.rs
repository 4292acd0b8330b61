//! What moderators, admins and owners do: roles (kick, voice), affiliations
//! (ban, member, admin, owner), the subject, removing others' messages
//! (XEP-0425), destroying the room; and looking at rooms before joining
//! (disco info, the service's room list).

use tokio_xmpp::Stanza;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, Jid};

use crate::account::AccountHandle;
use crate::events::{MessageView, RoomInfoView, RoomKind, RoomListing};
use crate::xep::muc::{self, Affiliation, Role};

fn bad(code: &str, message: impl Into<String>) -> crate::Error {
    crate::Error::Room {
        code: code.into(),
        message: message.into(),
    }
}

/// A role by name.
pub(crate) fn role(name: &str) -> crate::Result<Role> {
    Role::from_name(name).ok_or_else(|| bad("bad_role", format!("“{name}” is not a role.")))
}

/// An affiliation by name.
pub(crate) fn affiliation(name: &str) -> crate::Result<Affiliation> {
    Affiliation::from_name(name).ok_or_else(|| {
        bad(
            "bad_affiliation",
            format!("“{name}” is not an affiliation."),
        )
    })
}

/// Sets an occupant's role (`none` kicks them out).
pub(crate) async fn set_role(
    h: &AccountHandle,
    room: &BareJid,
    nick: &str,
    role: Role,
    reason: Option<&str>,
) -> crate::Result<()> {
    h.request(muc::set_role(room, nick, role, reason))
        .await
        .map(|_| ())
        .map_err(refused)
}

/// Sets someone's affiliation (`outcast` bans them).
pub(crate) async fn set_affiliation(
    h: &AccountHandle,
    room: &BareJid,
    jid: &BareJid,
    affiliation: Affiliation,
    reason: Option<&str>,
) -> crate::Result<()> {
    h.request(muc::set_affiliation(room, jid, affiliation, reason))
        .await
        .map_err(refused)?;
    // The room tells its occupants too (a presence or a notice), but not
    // always before the user's next message: that one is encrypted for the
    // new member already.
    if *jid != h.ctx().own {
        let changed = h.ctx().rooms.with_room(room, |r| {
            r.note_affiliation(jid.as_str(), affiliation);
            r.take_members_changed()
        });
        if changed == Some(true) {
            super::members::changed(h, room);
        }
    }
    Ok(())
}

/// What the room said when it refused, in words.
fn refused(e: crate::Error) -> crate::Error {
    match e {
        crate::Error::Stanza { condition, text } => {
            let what = match condition.as_str() {
                "forbidden" | "not-allowed" => "You are not allowed to do that in this group chat.",
                "item-not-found" => "That person or message is not in this group chat.",
                "conflict" => "That would leave the group chat without an owner.",
                _ => "The group chat refused.",
            };
            bad(
                &condition,
                match text {
                    Some(t) if !t.is_empty() => format!("{what} ({t})"),
                    _ => what.to_string(),
                },
            )
        }
        e => e,
    }
}

/// Changes the room's subject.
pub(crate) async fn set_subject(
    h: &AccountHandle,
    room: &BareJid,
    subject: &str,
) -> crate::Result<()> {
    h.send(Stanza::Message(muc::subject(room, subject))).await
}

/// Removes someone's message for everyone (XEP-0425), with the version the
/// room announced.
pub(crate) async fn moderate(
    h: &AccountHandle,
    message_id: i64,
    reason: Option<&str>,
) -> crate::Result<MessageView> {
    let ctx = h.ctx();
    let Some(m) = ctx.store.message(message_id).await? else {
        return Err(bad("unknown_message", "That message is no longer here."));
    };
    if m.account != ctx.account {
        return Err(bad("unknown_message", "That message is no longer here."));
    }
    let room = BareJid::new(&m.peer)
        .map_err(|_| bad("not_a_room", "That message is not in a group chat."))?;
    let ns = ctx
        .rooms
        .with_room(&room, |r| r.info.moderation)
        .flatten()
        .ok_or_else(|| {
            bad(
                "no_moderation",
                "This group chat does not let moderators remove messages.",
            )
        })?;
    let Some(stanza_id) = m.archive_id.clone() else {
        return Err(bad(
            "no_stanza_id",
            "This message has no id in the group chat's archive, so it can't be removed.",
        ));
    };
    h.request(crate::xep::moderation::moderate(
        &room, &stanza_id, reason, ns,
    ))
    .await
    .map_err(refused)?;
    Ok(ctx
        .store
        .message(message_id)
        .await?
        .map(MessageView::from)
        .unwrap_or_else(|| MessageView::from(m)))
}

/// Destroys the room (owners).
pub(crate) async fn destroy(
    h: &AccountHandle,
    room: &BareJid,
    reason: Option<&str>,
) -> crate::Result<()> {
    h.request(muc::destroy(room, reason))
        .await
        .map(|_| ())
        .map_err(refused)
}

/// What a room says about itself.
pub(crate) async fn info(h: &AccountHandle, room: &BareJid) -> crate::Result<RoomInfoView> {
    let answer = h
        .request(muc::info_request(&Jid::from(room.clone())))
        .await
        .map_err(|e| match e {
            crate::Error::Stanza { condition, .. } if condition == "item-not-found" => {
                bad("not_found", "There is no group chat at this address.")
            }
            e => e,
        })?;
    let info = match answer {
        Iq::Result {
            payload: Some(p), ..
        } => muc::read_room_info(p),
        _ => None,
    }
    .filter(|i| i.is_room)
    .ok_or_else(|| bad("not_a_room", format!("{room} is not a group chat.")))?;
    Ok(RoomInfoView {
        jid: room.to_string(),
        kind: match info.kind() {
            Some(muc::RoomKind::PrivateGroup) => RoomKind::PrivateGroup,
            Some(muc::RoomKind::PublicChannel) => RoomKind::PublicChannel,
            None => RoomKind::Other,
        },
        name: info.name,
        description: info.description,
        occupants: info.occupants,
        password_protected: info.password_protected,
        moderated: info.moderated,
        public: info.public,
        archived: info.mam,
    })
}

/// The group-chat service of the user's server (the first item of the
/// server that is a `conference` service).
pub(crate) async fn muc_service(h: &AccountHandle) -> crate::Result<String> {
    let ctx = h.ctx();
    let domain = ctx.own.domain().to_string();
    let server = Jid::new(&domain).map_err(|_| crate::Error::Internal("the server's address"))?;
    let items = match h.request(muc::items_request(&server)).await? {
        Iq::Result {
            payload: Some(p), ..
        } => muc::read_items(p),
        _ => Vec::new(),
    };
    for (jid, _) in items.into_iter().take(50) {
        let Ok(j) = Jid::new(&jid) else { continue };
        if let Ok(Iq::Result {
            payload: Some(p), ..
        }) = h.request(muc::info_request(&j)).await
        {
            if muc::read_room_info(p).is_some_and(|i| i.is_room) && j.node().is_none() {
                return Ok(jid);
            }
        }
    }
    Err(bad(
        "no_service",
        format!("Your server {domain} offers no group chats."),
    ))
}

/// The rooms the user's server's group-chat service lists, with names and,
/// for the first ones, how many are in them.
pub(crate) async fn browse(h: &AccountHandle) -> crate::Result<Vec<RoomListing>> {
    let service = muc_service(h).await?;
    let to = Jid::new(&service).map_err(|_| crate::Error::Internal("the service's address"))?;
    let items = match h.request(muc::items_request(&to)).await? {
        Iq::Result {
            payload: Some(p), ..
        } => muc::read_items(p),
        _ => Vec::new(),
    };
    let mut out: Vec<RoomListing> = items
        .into_iter()
        .map(|(jid, name)| RoomListing {
            jid,
            name,
            occupants: None,
        })
        .collect();
    // Counts for the first rooms, asked all at once.
    let asks = out.iter().take(30).map(|l| {
        let h = h.clone();
        let jid = l.jid.clone();
        async move {
            let j = Jid::new(&jid).ok()?;
            match h.request(muc::info_request(&j)).await {
                Ok(Iq::Result {
                    payload: Some(p), ..
                }) => muc::read_room_info(p).and_then(|i| i.occupants),
                _ => None,
            }
        }
    });
    let counts = futures::future::join_all(asks).await;
    for (l, c) in out.iter_mut().zip(counts) {
        l.occupants = c;
    }
    Ok(out)
}

/// An address for a new room named `name`: its name made into a local
/// part, at the user's server's group-chat service.
pub(crate) async fn suggest_address(h: &AccountHandle, name: &str) -> crate::Result<String> {
    let service = muc_service(h).await?;
    let mut slug: String = name
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .collect();
    while slug.contains("--") {
        slug = slug.replace("--", "-");
    }
    let slug = slug.trim_matches('-').chars().take(60).collect::<String>();
    let slug = if slug.is_empty() {
        format!("group-{:06x}", rand::random::<u32>() & 0xff_ffff)
    } else {
        slug
    };
    Ok(format!("{slug}@{service}"))
}

/// Changes a room's name and kind (its owner): the room's form is fetched
/// and submitted with the settings of the kind (see
/// `xep::muc::config_submit`); what the room says afterwards is kept.
pub(crate) async fn configure(
    h: &AccountHandle,
    room: &BareJid,
    kind: muc::RoomKind,
    name: &str,
) -> crate::Result<crate::events::RoomView> {
    let ctx = h.ctx();
    let form = match h
        .request(muc::config_request(room))
        .await
        .map_err(refused)?
    {
        Iq::Result {
            payload: Some(p), ..
        } => muc::read_config_form(p),
        _ => None,
    };
    h.request(muc::config_submit(room, kind, name, form.as_ref()))
        .await
        .map_err(refused)?;
    let info = super::join::refresh_info(h, room).await;
    let row = ctx.rooms.with_room(room, |r| {
        r.row.name = Some(name.to_string());
        r.row.kind = match kind {
            muc::RoomKind::PrivateGroup => 1,
            muc::RoomKind::PublicChannel => 2,
        };
        if let Some(info) = info {
            r.info = info;
        }
        // The room accepted the form: it is of that kind now, whatever a
        // disco answer sent a moment too early said.
        let private = kind == muc::RoomKind::PrivateGroup;
        r.info.members_only = private;
        r.info.non_anonymous = private;
        r.row.features = super::info_to_json(&r.info);
        r.view_changed();
        r.row.clone()
    });
    if let Some(row) = row {
        ctx.store.upsert_room(&ctx.account, &row).await?;
    }
    super::join::flush(h);
    ctx.rooms.view(&ctx.account, room).ok_or_else(|| {
        bad(
            "unknown_room",
            "Tern does not know this group chat; join it first.",
        )
    })
}

/// What a room answered when asked for some of its affiliation lists.
pub(crate) struct AffiliationLists {
    /// Bare JID, affiliation and reserved nickname, list after list.
    pub items: Vec<(String, Affiliation, Option<String>)>,
    /// Some list was answered (perhaps empty).
    pub answered: bool,
    /// Why a list was refused, when one was.
    pub refusal: Option<crate::Error>,
}

/// Asks the room for the users with each of `lists`' affiliations, all at
/// once (XEP-0045 §9.5, §10.5).
pub(crate) async fn affiliation_lists(
    h: &AccountHandle,
    room: &BareJid,
    lists: &[Affiliation],
) -> AffiliationLists {
    let asks = lists
        .iter()
        .map(|a| h.request(muc::affiliation_list_request(room, *a)));
    let mut out = AffiliationLists {
        items: Vec::new(),
        answered: false,
        refusal: None,
    };
    for answer in futures::future::join_all(asks).await {
        match answer {
            Ok(Iq::Result {
                payload: Some(p), ..
            }) => {
                out.answered = true;
                out.items.extend(muc::read_affiliation_list(p));
            }
            Ok(_) => out.answered = true,
            Err(e) => out.refusal = Some(e),
        }
    }
    out
}

/// Everyone with an affiliation with the room (owners, admins, members,
/// the banned), as the room tells its admins; lists the user may not see
/// are left out.
pub(crate) async fn members(
    h: &AccountHandle,
    room: &BareJid,
) -> crate::Result<Vec<crate::events::RoomMember>> {
    let lists = [
        Affiliation::Owner,
        Affiliation::Admin,
        Affiliation::Member,
        Affiliation::Outcast,
    ];
    let AffiliationLists { items, refusal, .. } = affiliation_lists(h, room, &lists).await;
    let mut out: Vec<_> = items
        .into_iter()
        .map(|(jid, affiliation, nick)| crate::events::RoomMember {
            jid,
            affiliation: affiliation.as_str().to_string(),
            nick,
        })
        .collect();
    if out.is_empty() {
        if let Some(e) = refusal {
            return Err(refused(e));
        }
    }
    out.sort_by(|a, b| a.jid.cmp(&b.jid));
    out.dedup_by(|a, b| a.jid == b.jid);
    Ok(out)
}
