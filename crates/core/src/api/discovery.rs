//! The `Client` API for what peers and servers support.

use crate::services::caps::{server_info, PeerInfo};

impl crate::Client {
    /// What an online resource (`user@host/resource`) of a contact
    /// supports, when its client announced entity caps.
    pub async fn resource_info(
        &self,
        account: &str,
        full_jid: &str,
    ) -> crate::Result<Option<PeerInfo>> {
        let ctx = self.ctx(account).await?;
        Ok(ctx.discovery.of(full_jid).map(|i| (*i).clone()))
    }

    /// What the account's server supports: from this session, else as last
    /// seen (empty if never connected).
    pub async fn server_features(&self, account: &str) -> crate::Result<Vec<String>> {
        let ctx = self.ctx(account).await?;
        Ok(server_info(&ctx, &ctx.discovery)
            .await
            .map(|i| i.features)
            .unwrap_or_default())
    }
}
