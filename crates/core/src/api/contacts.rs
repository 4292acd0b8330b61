//! The `Client` API for contacts and presence: add, rename, remove,
//! subscription decisions, own presence.

use tokio::sync::broadcast;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::presence::{Presence, Show, Type as PresenceType};

use crate::api::client::Client;
use crate::error::{Error, Result};
use crate::events::{ClientEvent, ContactView};
use crate::services::roster::{contact_views, roster_remove, roster_set, subscription_presence};

fn contact_jid(jid: &str) -> Result<Jid> {
    BareJid::new(jid.trim())
        .map(Jid::from)
        .map_err(|e| Error::InvalidJid {
            input: jid.to_string(),
            detail: e.to_string(),
        })
}

impl Client {
    /// An account's contacts with their presence, plus the event stream
    /// (`Contact` upserts, `ContactRemoved`, `SubscriptionRequest`).
    pub async fn subscribe_roster(
        &self,
        account: &str,
    ) -> Result<(Vec<ContactView>, broadcast::Receiver<ClientEvent>)> {
        let rx = self.subscribe().1;
        let ctx = self.ctx(account).await?;
        let rows = self.store().roster(&ctx.account).await?;
        let list = match self.handle(account).await {
            Ok(h) => contact_views(&ctx, h.presences(), rows).await,
            Err(_) => contact_views(&ctx, &Default::default(), rows).await,
        };
        Ok((list, rx))
    }

    /// One contact of the roster with presence and profile (`None` if the
    /// address is not in the roster).
    pub async fn contact(&self, account: &str, jid: &str) -> Result<Option<ContactView>> {
        let ctx = self.ctx(account).await?;
        let Some(row) = self
            .store()
            .roster(&ctx.account)
            .await?
            .into_iter()
            .find(|r| r.jid == jid)
        else {
            return Ok(None);
        };
        let list = match self.handle(account).await {
            Ok(h) => contact_views(&ctx, h.presences(), vec![row]).await,
            Err(_) => contact_views(&ctx, &Default::default(), vec![row]).await,
        };
        Ok(list.into_iter().next())
    }

    /// Adds a contact and asks to see their presence.
    pub async fn add_contact(
        &self,
        account: &str,
        jid: &str,
        name: Option<&str>,
        groups: &[String],
    ) -> Result<()> {
        let to = contact_jid(jid)?;
        let handle = self.handle(account).await?;
        let iq = roster_set(&to.to_string(), name, groups).ok_or_else(|| Error::InvalidJid {
            input: jid.to_string(),
            detail: "not a contact address".into(),
        })?;
        handle.request(iq).await?;
        // Introduce the user by their nickname, if they chose one (XEP-0172).
        let mut ask = Presence::new(PresenceType::Subscribe).with_to(to);
        let own = handle.ctx().account.clone();
        if let Some(nick) = self.store().profile(&own, &own).await?.nickname {
            ask.payloads
                .extend(crate::services::profile::nick_element(&nick));
        }
        handle.send(ask.into()).await
    }

    /// Renames a contact or changes its groups.
    pub async fn rename_contact(
        &self,
        account: &str,
        jid: &str,
        name: Option<&str>,
        groups: &[String],
    ) -> Result<()> {
        let to = contact_jid(jid)?;
        let iq = roster_set(&to.to_string(), name, groups).ok_or_else(|| Error::InvalidJid {
            input: jid.to_string(),
            detail: "not a contact address".into(),
        })?;
        self.handle(account).await?.request(iq).await.map(|_| ())
    }

    /// Removes a contact (and the subscriptions both ways).
    pub async fn remove_contact(&self, account: &str, jid: &str) -> Result<()> {
        let to = contact_jid(jid)?;
        let iq = roster_remove(&to.to_string()).ok_or_else(|| Error::InvalidJid {
            input: jid.to_string(),
            detail: "not a contact address".into(),
        })?;
        self.handle(account).await?.request(iq).await.map(|_| ())
    }

    /// Lets `jid` see the user's presence (answers a request, or approves
    /// in advance when none came yet).
    pub async fn approve_subscription(&self, account: &str, jid: &str) -> Result<()> {
        self.send_subscription(account, jid, PresenceType::Subscribed)
            .await?;
        self.request_answered(account, jid).await
    }

    /// Refuses (or revokes) `jid`'s access to the user's presence.
    pub async fn deny_subscription(&self, account: &str, jid: &str) -> Result<()> {
        self.send_subscription(account, jid, PresenceType::Unsubscribed)
            .await?;
        self.request_answered(account, jid).await
    }

    /// The user answered `jid`'s request: it leaves the list.
    pub(crate) async fn request_answered(&self, account: &str, jid: &str) -> Result<()> {
        let ctx = self.ctx(account).await?;
        let from = contact_jid(jid)?.to_string();
        if self.snapshot().has_request(&ctx.account, &from) {
            ctx.hub.emit(ClientEvent::SubscriptionRequestRemoved {
                account: ctx.account.clone(),
                from,
            });
        }
        Ok(())
    }

    /// Stops seeing `jid`'s presence (cancels the user's own subscription).
    pub async fn cancel_subscription(&self, account: &str, jid: &str) -> Result<()> {
        self.send_subscription(account, jid, PresenceType::Unsubscribe)
            .await
    }

    async fn send_subscription(&self, account: &str, jid: &str, type_: PresenceType) -> Result<()> {
        let to = contact_jid(jid)?;
        self.handle(account)
            .await?
            .send(subscription_presence(&to, type_))
            .await
    }

    /// Sets the user's own presence: `show` is `available`, `chat`, `away`,
    /// `xa` or `dnd`.
    pub async fn set_presence(
        &self,
        account: &str,
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
        self.handle(account).await?.set_own_presence(p).await
    }
}
