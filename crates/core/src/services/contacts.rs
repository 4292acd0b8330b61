//! What the user does with contacts and presence (RFC 6121): add, rename,
//! remove, answer subscription requests, set their own presence; and
//! reading the contact list with presence and profiles.

use tern_store::RosterRow;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::presence::{Presence, Show, Type as PresenceType};

use crate::account::ctx::Ctx;
use crate::account::AccountHandle;
use crate::error::{Error, Result};
use crate::events::{ClientEvent, ContactView, Snapshot};
use crate::services::roster::{contact_views, roster_remove, roster_set, subscription_presence};

fn not_a_contact(jid: &Jid) -> Error {
    Error::InvalidJid {
        input: jid.to_string(),
        detail: "not a contact address".into(),
    }
}

/// The contact list with presence (offline when `handle` is `None`) and
/// profiles; `only` picks one contact.
pub(crate) async fn list(
    ctx: &Ctx,
    handle: Option<&AccountHandle>,
    only: Option<&str>,
) -> Result<Vec<ContactView>> {
    let rows: Vec<RosterRow> = ctx
        .store
        .roster(&ctx.account)
        .await?
        .into_iter()
        .filter(|r| only.is_none_or(|j| r.jid == j))
        .collect();
    Ok(match handle {
        Some(h) => contact_views(ctx, h.presences(), rows).await,
        None => contact_views(ctx, &Default::default(), rows).await,
    })
}

/// Adds a contact and asks to see their presence, introducing the user by
/// their nickname if they chose one (XEP-0172).
pub(crate) async fn add(
    handle: &AccountHandle,
    to: Jid,
    name: Option<&str>,
    groups: &[String],
) -> Result<()> {
    let iq = roster_set(&to.to_string(), name, groups).ok_or_else(|| not_a_contact(&to))?;
    handle.request(iq).await?;
    let mut ask = Presence::new(PresenceType::Subscribe).with_to(to);
    let ctx = handle.ctx();
    if let Some(nick) = ctx
        .store
        .profile(&ctx.account, &ctx.account)
        .await?
        .nickname
    {
        ask.payloads
            .extend(crate::services::profile::nick_element(&nick));
    }
    handle.send(ask.into()).await
}

/// Renames a contact or changes its groups.
pub(crate) async fn rename(
    handle: &AccountHandle,
    to: Jid,
    name: Option<&str>,
    groups: &[String],
) -> Result<()> {
    let iq = roster_set(&to.to_string(), name, groups).ok_or_else(|| not_a_contact(&to))?;
    handle.request(iq).await.map(|_| ())
}

/// Removes a contact (and the subscriptions both ways).
pub(crate) async fn remove(handle: &AccountHandle, to: Jid) -> Result<()> {
    let iq = roster_remove(&to.to_string()).ok_or_else(|| not_a_contact(&to))?;
    handle.request(iq).await.map(|_| ())
}

/// What the user says about presence subscriptions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Let them see the user's presence.
    Approve,
    /// Refuse (or revoke) it.
    Deny,
    /// Stop seeing theirs.
    Cancel,
}

/// Sends the user's answer; an answered request leaves the list.
pub(crate) async fn answer(
    handle: &AccountHandle,
    snapshot: &Snapshot,
    to: Jid,
    answer: Answer,
) -> Result<()> {
    let type_ = match answer {
        Answer::Approve => PresenceType::Subscribed,
        Answer::Deny => PresenceType::Unsubscribed,
        Answer::Cancel => PresenceType::Unsubscribe,
    };
    handle.send(subscription_presence(&to, type_)).await?;
    if answer != Answer::Cancel {
        request_answered(handle.ctx(), snapshot, &to.to_string());
    }
    Ok(())
}

/// A request from `from` is answered (or blocked): it leaves the list.
pub(crate) fn request_answered(ctx: &Ctx, snapshot: &Snapshot, from: &str) {
    if snapshot.has_request(&ctx.account, from) {
        ctx.hub.emit(ClientEvent::SubscriptionRequestRemoved {
            account: ctx.account.clone(),
            from: from.to_string(),
        });
    }
}

/// Sets the user's own presence: `show` is `available`, `chat`, `away`,
/// `xa` or `dnd`; the status is kept to 1,024 characters.
pub(crate) async fn set_presence(
    handle: &AccountHandle,
    show: &str,
    status: Option<&str>,
) -> Result<()> {
    let mut p = Presence::available();
    p.show = match show {
        "available" => None,
        "chat" => Some(Show::Chat),
        "away" => Some(Show::Away),
        "xa" => Some(Show::Xa),
        "dnd" => Some(Show::Dnd),
        other => {
            return Err(Error::Stanza {
                condition: "bad-request".into(),
                text: Some(format!("unknown presence '{other}'")),
            })
        }
    };
    if let Some(s) = status.filter(|s| !s.is_empty()) {
        p.statuses.insert(
            xmpp_parsers::message::Lang::default(),
            s.chars().take(1024).collect(),
        );
    }
    handle.set_own_presence(p.clone()).await?;
    // The rooms the user is in see it too (presence to a room is directed).
    crate::services::muc::join::send_presence(handle, &p).await;
    Ok(())
}
