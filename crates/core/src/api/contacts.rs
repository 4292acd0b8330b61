//! The `Client` API for contacts and presence: add, rename, remove,
//! subscription decisions, own presence.

use tokio::sync::broadcast;
use xmpp_parsers::jid::{BareJid, Jid};

use crate::api::client::Client;
use crate::error::{Error, Result};
use crate::events::{ClientEvent, ContactView};
use crate::services::contacts::{self, Answer};

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
        let handle = self.handle(account).await.ok();
        Ok((contacts::list(&ctx, handle.as_ref(), None).await?, rx))
    }

    /// One contact of the roster with presence and profile (`None` if the
    /// address is not in the roster).
    pub async fn contact(&self, account: &str, jid: &str) -> Result<Option<ContactView>> {
        let ctx = self.ctx(account).await?;
        let handle = self.handle(account).await.ok();
        let list = contacts::list(&ctx, handle.as_ref(), Some(jid)).await?;
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
        contacts::add(&self.handle(account).await?, to, name, groups).await
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
        contacts::rename(&self.handle(account).await?, to, name, groups).await
    }

    /// Removes a contact (and the subscriptions both ways).
    pub async fn remove_contact(&self, account: &str, jid: &str) -> Result<()> {
        let to = contact_jid(jid)?;
        contacts::remove(&self.handle(account).await?, to).await
    }

    /// Lets `jid` see the user's presence (answers a request, or approves
    /// in advance when none came yet).
    pub async fn approve_subscription(&self, account: &str, jid: &str) -> Result<()> {
        self.answer(account, jid, Answer::Approve).await
    }

    /// Refuses (or revokes) `jid`'s access to the user's presence.
    pub async fn deny_subscription(&self, account: &str, jid: &str) -> Result<()> {
        self.answer(account, jid, Answer::Deny).await
    }

    /// Stops seeing `jid`'s presence (cancels the user's own subscription).
    pub async fn cancel_subscription(&self, account: &str, jid: &str) -> Result<()> {
        self.answer(account, jid, Answer::Cancel).await
    }

    async fn answer(&self, account: &str, jid: &str, answer: Answer) -> Result<()> {
        let to = contact_jid(jid)?;
        let handle = self.handle(account).await?;
        contacts::answer(&handle, &self.snapshot(), to, answer).await
    }

    /// Sets the user's own presence: `show` is `available`, `chat`, `away`,
    /// `xa` or `dnd`.
    pub async fn set_presence(
        &self,
        account: &str,
        show: &str,
        status: Option<&str>,
    ) -> Result<()> {
        contacts::set_presence(&self.handle(account).await?, show, status).await
    }
}
