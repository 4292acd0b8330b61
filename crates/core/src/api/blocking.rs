//! The `Client` API for the blocklist (XEP-0191).

use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;

use crate::api::client::Client;
use crate::error::{Error, Result};
use crate::xep::blocking;

fn jid(s: &str) -> Result<Jid> {
    Jid::new(s.trim()).map_err(|e| Error::InvalidJid {
        input: s.to_string(),
        detail: e.to_string(),
    })
}

impl Client {
    /// The addresses this account blocks.
    pub async fn blocked(&self, account: &str) -> Result<Vec<String>> {
        let answer = self
            .handle(account)
            .await?
            .request(blocking::blocklist_request())
            .await?;
        match answer {
            Iq::Result {
                payload: Some(p), ..
            } => Ok(blocking::read_blocklist(p).unwrap_or_default()),
            _ => Ok(Vec::new()),
        }
    }

    /// Blocks an address: the server drops its messages, presence and requests.
    pub async fn block(&self, account: &str, who: &str) -> Result<()> {
        let iq = blocking::block(jid(who)?);
        self.handle(account).await?.request(iq).await?;
        // A blocked address's subscription request is answered too.
        self.request_answered(account, who).await
    }

    /// Unblocks an address.
    pub async fn unblock(&self, account: &str, who: &str) -> Result<()> {
        // An empty <unblock/> means "unblock everyone": this builds none.
        let iq = blocking::unblock(jid(who)?);
        self.handle(account).await?.request(iq).await.map(|_| ())
    }
}
