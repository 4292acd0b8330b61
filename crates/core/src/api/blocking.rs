//! The `Client` API for the blocklist (XEP-0191).

use xmpp_parsers::jid::Jid;

use crate::api::client::Client;
use crate::error::{Error, Result};
use crate::services::blocking;

fn jid(s: &str) -> Result<Jid> {
    Jid::new(s.trim()).map_err(|e| Error::InvalidJid {
        input: s.to_string(),
        detail: e.to_string(),
    })
}

impl Client {
    /// The addresses this account blocks.
    pub async fn blocked(&self, account: &str) -> Result<Vec<String>> {
        blocking::blocked(&self.handle(account).await?).await
    }

    /// Blocks an address: the server drops its messages, presence and requests.
    pub async fn block(&self, account: &str, who: &str) -> Result<()> {
        let who = jid(who)?;
        blocking::block(&self.handle(account).await?, &self.snapshot(), who).await
    }

    /// Unblocks an address.
    pub async fn unblock(&self, account: &str, who: &str) -> Result<()> {
        let who = jid(who)?;
        blocking::unblock(&self.handle(account).await?, who).await
    }
}
