//! Contacts and presence (RFC 6121): the roster with versioning, roster
//! pushes, presence per resource, and subscription requests.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use tern_store::{ProfileRow, RosterRow};
use tokio_xmpp::Stanza;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::presence::{Presence, Show, Type as PresenceType};
use xmpp_parsers::roster::{Ask, Item, Roster, Subscription};

use crate::account::ctx::Ctx;
use crate::account::router::IqAnswer;
use crate::account::AccountHandle;
use crate::events::{ClientEvent, ContactView, ResourcePresence};
use xmpp_parsers::stanza_error::DefinedCondition;

/// Most resources remembered per contact (a hostile contact could send many).
const MAX_RESOURCES: usize = 32;
/// Longest status message kept.
const MAX_STATUS: usize = 1024;

/// Most JIDs outside the roster whose presence is kept (anyone can send a
/// directed presence); the least recently heard from is forgotten first.
pub(crate) const MAX_STRANGERS: usize = 256;

/// Online resources of every contact of one account, and of at most
/// [`MAX_STRANGERS`] others.
#[derive(Default, Debug)]
pub(crate) struct Presences {
    by_jid: Mutex<Online>,
}

#[derive(Default, Debug)]
struct Online {
    by_jid: HashMap<String, BTreeMap<String, ResourcePresence>>,
    /// The JIDs of `by_jid` outside the roster, least recently heard from
    /// first.
    strangers: VecDeque<String>,
}

impl Presences {
    fn lock(&self) -> std::sync::MutexGuard<'_, Online> {
        match self.by_jid.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        }
    }

    /// How many JIDs have a resource online (contacts and others).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().by_jid.len()
    }

    pub(crate) fn of(&self, jid: &str) -> Vec<ResourcePresence> {
        let map = self.lock();
        let mut v: Vec<ResourcePresence> = map
            .by_jid
            .get(jid)
            .map(|r| r.values().cloned().collect())
            .unwrap_or_default();
        v.sort_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then(a.resource.cmp(&b.resource))
        });
        v
    }

    /// Sets (or, with `None`, removes) the presence of `jid`'s `resource`.
    /// `contact`: `jid` is in the roster (or the account itself); others
    /// are kept up to [`MAX_STRANGERS`]. Returns the JIDs forgotten to make
    /// room, with their resources.
    pub(crate) fn set(
        &self,
        jid: &str,
        p: Option<ResourcePresence>,
        resource: &str,
        contact: bool,
    ) -> Vec<(String, Vec<String>)> {
        let mut online = self.lock();
        let Online { by_jid, strangers } = &mut *online;
        let mut forgotten = Vec::new();
        // Someone who became a contact is no longer counted as a stranger.
        let was_stranger = strangers.iter().position(|s| s == jid);
        if let Some(i) = was_stranger {
            strangers.remove(i);
        }
        match p {
            Some(p) => {
                if !contact {
                    if was_stranger.is_none() {
                        while strangers.len() >= MAX_STRANGERS {
                            let Some(old) = strangers.pop_front() else {
                                break;
                            };
                            if let Some(resources) = by_jid.remove(&old) {
                                forgotten.push((old, resources.into_keys().collect()));
                            }
                        }
                    }
                    strangers.push_back(jid.to_string());
                }
                let entry = by_jid.entry(jid.to_string()).or_default();
                if entry.len() < MAX_RESOURCES || entry.contains_key(resource) {
                    entry.insert(resource.to_string(), p);
                }
            }
            None => {
                if let Some(entry) = by_jid.get_mut(jid) {
                    entry.remove(resource);
                    if entry.is_empty() {
                        by_jid.remove(jid);
                    } else if was_stranger.is_some() {
                        strangers.push_back(jid.to_string());
                    }
                }
            }
        }
        forgotten
    }

    /// Everyone is offline (our stream ended without resumption).
    pub(crate) fn clear(&self) -> Vec<String> {
        let mut online = self.lock();
        online.strangers.clear();
        online.by_jid.drain().map(|(k, _)| k).collect()
    }
}

fn row_from_item(item: &Item) -> RosterRow {
    RosterRow {
        jid: item.jid.to_string(),
        name: item.name.clone().filter(|n| !n.is_empty()),
        subscription: match item.subscription {
            Subscription::None => "none",
            Subscription::From => "from",
            Subscription::To => "to",
            Subscription::Both => "both",
            Subscription::Remove => "remove",
        }
        .to_string(),
        ask: item.ask == Ask::Subscribe,
        groups: item.groups.iter().map(|g| g.0.clone()).collect(),
    }
}

pub(crate) fn contact_view(
    ctx: &Ctx,
    presences: &Presences,
    row: RosterRow,
    profile: ProfileRow,
) -> ContactView {
    let mut presence = presences.of(&row.jid);
    for p in &mut presence {
        let info = ctx.discovery.of(&format!("{}/{}", row.jid, p.resource));
        p.client = info.as_ref().and_then(|i| i.client.clone());
        p.calls = info.is_some_and(|i| crate::services::calls::takes_calls(&i.features));
    }
    ContactView {
        account: ctx.account.clone(),
        presence,
        jid: row.jid,
        name: row.name,
        subscription: crate::events::Subscription::from_name(&row.subscription)
            .unwrap_or(crate::events::Subscription::None),
        ask: row.ask,
        groups: row.groups,
        avatar: profile.avatar,
        nickname: profile.nickname,
    }
}

/// Every contact of an account, with presence and profile.
pub(crate) async fn contact_views(
    ctx: &Ctx,
    presences: &Presences,
    rows: Vec<RosterRow>,
) -> Vec<ContactView> {
    let mut profiles: HashMap<String, ProfileRow> = ctx
        .store
        .profiles(&ctx.account)
        .await
        .unwrap_or_default()
        .into_iter()
        .collect();
    rows.into_iter()
        .map(|row| {
            let profile = profiles.remove(&row.jid).unwrap_or_default();
            contact_view(ctx, presences, row, profile)
        })
        .collect()
}

/// A contact went offline because our own session ended.
pub(crate) async fn emit_offline(ctx: &Ctx, presences: &Presences, jid: &str) {
    emit_contact(ctx, presences, jid).await
}

/// Re-announces `jid` if it is in the roster (its profile changed).
pub(crate) async fn emit_if_contact(ctx: &Ctx, presences: &Presences, jid: &str) {
    if let Ok(rows) = ctx.store.roster(&ctx.account).await {
        if let Some(row) = rows.into_iter().find(|r| r.jid == jid) {
            let profile = ctx
                .store
                .profile(&ctx.account, jid)
                .await
                .unwrap_or_default();
            ctx.hub.emit(ClientEvent::Contact {
                contact: contact_view(ctx, presences, row, profile),
            });
        }
    }
}

pub(crate) async fn emit_contact(ctx: &Ctx, presences: &Presences, jid: &str) {
    let row = match ctx.store.roster_item(&ctx.account, jid).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("roster read failed: {e}");
            return;
        }
    };
    let profile = ctx
        .store
        .profile(&ctx.account, jid)
        .await
        .unwrap_or_default();
    let row = row.unwrap_or_else(|| not_in_roster(jid));
    ctx.hub.emit(ClientEvent::Contact {
        contact: contact_view(ctx, presences, row, profile),
    });
}

/// The roster row of someone outside the roster.
fn not_in_roster(jid: &str) -> RosterRow {
    RosterRow {
        jid: jid.to_string(),
        name: None,
        subscription: "none".into(),
        ask: false,
        groups: Vec::new(),
    }
}

/// [`emit_contact`] for `jid` when `contact` says whether it is in the
/// roster: for a stranger nothing is read from the store (no roster row,
/// no profile is kept for them), so a flood of their presences costs no
/// queries.
async fn emit_presence(ctx: &Ctx, presences: &Presences, jid: &str, contact: bool) {
    if contact {
        return emit_contact(ctx, presences, jid).await;
    }
    ctx.hub.emit(ClientEvent::Contact {
        contact: contact_view(ctx, presences, not_in_roster(jid), ProfileRow::default()),
    });
}

/// The roster request for this session: with the stored version, so an
/// up-to-date roster costs one empty result (XEP-0237 style versioning).
pub(crate) async fn roster_request(ctx: &Ctx) -> Iq {
    let ver = ctx
        .store
        .account_sync_state(&ctx.account)
        .await
        .ok()
        .and_then(|s| s.0)
        .unwrap_or_default();
    Iq::from_get(
        "roster",
        Roster {
            ver: Some(ver),
            items: Vec::new(),
        },
    )
}

/// Applies the answer to [`roster_request`].
pub(crate) async fn on_roster_result(ctx: &Ctx, presences: &Presences, iq: Iq) {
    let payload = match iq {
        Iq::Result { payload, .. } => payload,
        _ => return,
    };
    let Some(payload) = payload else {
        tracing::debug!(account = %ctx.account, "roster is up to date");
        return;
    };
    let roster = match Roster::try_from(payload) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("malformed roster ignored: {e}");
            return;
        }
    };
    let rows: Vec<RosterRow> = roster
        .items
        .iter()
        .filter(|i| i.subscription != Subscription::Remove)
        .map(row_from_item)
        .collect();
    let old = ctx.store.roster(&ctx.account).await.unwrap_or_default();
    if let Err(e) = ctx
        .store
        .replace_roster(&ctx.account, &rows, roster.ver.as_deref())
        .await
    {
        tracing::error!("storing the roster failed: {e}");
        return;
    }
    for gone in old.iter().filter(|o| !rows.iter().any(|r| r.jid == o.jid)) {
        ctx.hub.emit(ClientEvent::ContactRemoved {
            account: ctx.account.clone(),
            jid: gone.jid.clone(),
        });
    }
    for contact in contact_views(ctx, presences, rows).await {
        ctx.hub.emit(ClientEvent::Contact { contact });
    }
}

/// A roster push (IQ set from our own server).
pub(crate) async fn on_roster_push(
    ctx: &Ctx,
    presences: &Presences,
    from: Option<Jid>,
    payload: xmpp_parsers::minidom::Element,
) -> IqAnswer {
    if !crate::xep::from_own_account(from.as_ref(), &ctx.own) {
        tracing::warn!(?from, "roster push from a stranger ignored");
        return Err(DefinedCondition::Forbidden);
    }
    let roster = match Roster::try_from(payload) {
        Ok(r) if r.items.len() == 1 => r,
        _ => return Err(DefinedCondition::BadRequest),
    };
    for item in &roster.items {
        let jid = item.jid.to_string();
        let result = if item.subscription == Subscription::Remove {
            ctx.store.remove_roster_item(&ctx.account, &jid).await
        } else {
            ctx.store
                .upsert_roster_item(&ctx.account, &row_from_item(item))
                .await
        };
        if let Err(e) = result {
            tracing::error!("storing a roster push failed: {e}");
            continue;
        }
        if item.subscription == Subscription::Remove {
            ctx.hub.emit(ClientEvent::ContactRemoved {
                account: ctx.account.clone(),
                jid,
            });
        } else {
            emit_contact(ctx, presences, &jid).await;
        }
    }
    if let Some(ver) = &roster.ver {
        let _ = ctx.store.set_roster_version(&ctx.account, Some(ver)).await;
    }
    Ok(None)
}

/// An incoming presence.
pub(crate) async fn on_presence(handle: &AccountHandle, p: Presence) {
    let ctx = handle.ctx();
    let presences = handle.presences();
    let Some(from) = p.from.clone() else {
        return;
    };
    let bare = from.to_bare().to_string();
    let resource = from.resource().map(|r| r.to_string()).unwrap_or_default();
    match p.type_ {
        PresenceType::Subscribe => {
            ctx.hub.emit(ClientEvent::SubscriptionRequest {
                account: ctx.account.clone(),
                from: bare,
                nick: crate::services::profile::nick_in(&p.payloads),
            });
        }
        PresenceType::None => {
            if from.to_bare() == ctx.own && from.resource().is_none() {
                return;
            }
            use crate::events::Show as Seen;
            let show = match p.show {
                None => Seen::Available,
                Some(Show::Away) => Seen::Away,
                Some(Show::Chat) => Seen::Chat,
                Some(Show::Dnd) => Seen::Dnd,
                Some(Show::Xa) => Seen::Xa,
            };
            let status = p
                .statuses
                .values()
                .next()
                .map(|s| s.chars().take(MAX_STATUS).collect::<String>());
            // Contacts (and the user's other clients) first: anyone else's
            // presence, capabilities and avatar are bounded or ignored.
            let contact = ctx.in_roster(&bare).await;
            let forgotten = presences.set(
                &bare,
                Some(ResourcePresence {
                    resource: resource.clone(),
                    show,
                    status,
                    priority: p.priority.0,
                    client: None,
                    calls: false,
                }),
                &resource,
                contact,
            );
            for (jid, resources) in forgotten {
                for r in resources {
                    ctx.discovery.forget(&format!("{jid}/{r}"));
                }
                emit_presence(ctx, presences, &jid, false).await;
            }
            if let Some(caps) = p
                .payloads
                .iter()
                .find(|e| e.is("c", xmpp_parsers::ns::CAPS))
                .and_then(|e| xmpp_parsers::caps::Caps::try_from(e.clone()).ok())
            {
                let later = handle.clone();
                let jid = bare.clone();
                crate::services::caps::on_caps(handle, &from, caps, contact, move || {
                    Box::pin(async move {
                        emit_contact(later.ctx(), later.presences(), &jid).await;
                    })
                })
                .await;
            }
            emit_presence(ctx, presences, &bare, contact).await;
            if let Some(x) = crate::services::profile::vcard_update_of(&p.payloads) {
                if contact {
                    crate::services::profile::on_vcard_update(handle, &from, x).await;
                }
            }
        }
        PresenceType::Unavailable | PresenceType::Error => {
            if presences.of(&bare).is_empty() {
                // Nobody online there: nothing changes (and a flood of
                // such presences costs nothing).
                return;
            }
            presences.set(&bare, None, &resource, false);
            ctx.discovery.forget(&from.to_string());
            emit_contact(ctx, presences, &bare).await;
        }
        _ => {}
    }
}

/// Roster set adding or changing a contact.
pub(crate) fn roster_set(jid: &str, name: Option<&str>, groups: &[String]) -> Option<Iq> {
    let item = Item {
        jid: xmpp_parsers::jid::BareJid::new(jid).ok()?,
        name: name.map(str::to_string),
        subscription: Subscription::None,
        ask: Ask::None,
        groups: groups
            .iter()
            .map(|g| xmpp_parsers::roster::Group(g.clone()))
            .collect(),
        approved: None,
    };
    Some(Iq::from_set(
        "roster-set",
        Roster {
            ver: None,
            items: vec![item],
        },
    ))
}

/// Roster set removing a contact (also cancels subscriptions both ways).
pub(crate) fn roster_remove(jid: &str) -> Option<Iq> {
    let mut iq = roster_set(jid, None, &[])?;
    if let Iq::Set { payload, .. } = &mut iq {
        if let Ok(mut roster) = Roster::try_from(payload.clone()) {
            for i in &mut roster.items {
                i.subscription = Subscription::Remove;
            }
            *payload = roster.into();
        }
    }
    Some(iq)
}

/// A directed presence of the given type (subscribe, subscribed, ...).
pub(crate) fn subscription_presence(to: &Jid, type_: PresenceType) -> Stanza {
    Presence::new(type_).with_to(to.clone()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::ctx::tests::ctx_with;
    use xmpp_parsers::minidom::Element;

    fn push(jid: &str) -> Element {
        format!("<query xmlns='jabber:iq:roster' ver='v2'><item jid='{jid}' subscription='both'/></query>")
            .parse()
            .unwrap()
    }

    fn online(resource: &str) -> Option<ResourcePresence> {
        Some(ResourcePresence {
            resource: resource.into(),
            show: crate::events::Show::Available,
            status: None,
            priority: 0,
            client: None,
            calls: false,
        })
    }

    #[test]
    fn presences_of_strangers_are_bounded_and_contacts_are_kept() {
        let p = Presences::default();
        for i in 0..1000 {
            p.set(&format!("contact{i}@capulet.lit"), online("r"), "r", true);
        }
        let mut forgotten = 0;
        for i in 0..100_000 {
            let jid = format!("stranger{i}@evil.example");
            forgotten += p
                .set(&jid, online(&format!("r{i}")), &format!("r{i}"), false)
                .len();
        }
        assert_eq!(p.len(), 1000 + MAX_STRANGERS);
        assert_eq!(forgotten, 100_000 - MAX_STRANGERS);
        assert_eq!(p.of("contact0@capulet.lit").len(), 1, "contacts stay");
        assert_eq!(
            p.of("stranger99999@evil.example").len(),
            1,
            "the latest stay"
        );
        assert!(p.of("stranger0@evil.example").is_empty());
        // One stranger's many resources are bounded too.
        for i in 0..100_000 {
            p.set(
                "mallory@evil.example",
                online(&format!("r{i}")),
                &format!("r{i}"),
                false,
            );
        }
        assert_eq!(p.of("mallory@evil.example").len(), MAX_RESOURCES);
        assert_eq!(p.len(), 1000 + MAX_STRANGERS);
        // Heard from again: the least recent goes first, not it.
        // (mallory took the place of stranger99744.)
        assert!(p.of("stranger99744@evil.example").is_empty());
        p.set("stranger99745@evil.example", online("x"), "x", false);
        p.set("new@evil.example", online("r"), "r", false);
        assert_eq!(p.of("stranger99745@evil.example").len(), 2);
        assert!(p.of("stranger99746@evil.example").is_empty());
        // Gone offline: no longer counted.
        p.set("new@evil.example", None, "r", false);
        assert_eq!(p.len(), 1000 + MAX_STRANGERS - 1);
        assert_eq!(p.clear().len(), 1000 + MAX_STRANGERS - 1);
        assert_eq!(p.len(), 0);
    }

    #[tokio::test]
    async fn roster_pushes_come_from_the_bare_account_or_nobody() {
        let (_d, ctx) = ctx_with(&[]).await;
        let p = Presences::default();
        for from in [
            "juliet@capulet.lit/laptop",
            "romeo@montague.lit",
            "capulet.lit",
        ] {
            let answer =
                on_roster_push(&ctx, &p, Jid::new(from).ok(), push("mallory@evil.example")).await;
            assert_eq!(answer, Err(DefinedCondition::Forbidden), "{from}");
        }
        assert!(ctx.store.roster(&ctx.account).await.unwrap().is_empty());
        for (from, jid) in [
            (None, "romeo@montague.lit"),
            (Jid::new("juliet@capulet.lit").ok(), "nurse@capulet.lit"),
        ] {
            assert_eq!(on_roster_push(&ctx, &p, from, push(jid)).await, Ok(None));
        }
        assert_eq!(ctx.store.roster(&ctx.account).await.unwrap().len(), 2);
    }
}
