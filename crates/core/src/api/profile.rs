//! The `Client` API for avatars, nicknames and vCards.

use std::path::PathBuf;

use crate::error::Result;
use crate::services::profile::*;

impl crate::Client {
    /// Makes `picture` (PNG, JPEG, GIF or WebP) the account's avatar: the
    /// `crop` of it (else its centred square), scaled into 256x256 and
    /// published as PNG (XEP-0084); `None` removes it. Returns the new
    /// avatar's hash.
    pub async fn set_avatar(
        &self,
        account: &str,
        picture: Option<Vec<u8>>,
        crop: Option<Crop>,
    ) -> Result<Option<String>> {
        set_own_avatar(&self.handle(account).await?, picture, crop).await
    }

    /// Publishes the account's nickname (XEP-0172); `None` clears it.
    pub async fn set_nickname(&self, account: &str, nickname: Option<&str>) -> Result<()> {
        set_own_nickname(&self.handle(account).await?, nickname).await
    }

    /// What is stored of `jid`'s avatar and nickname (the account itself
    /// included), without asking the network.
    pub async fn profile(&self, account: &str, jid: &str) -> Result<ProfileView> {
        let ctx = self.ctx(account).await?;
        stored_profile(&ctx, jid).await
    }

    /// Fetches `jid`'s vCard (XEP-0054); the account's own when `jid` is
    /// the account. No vCard gives an empty one.
    pub async fn vcard(&self, account: &str, jid: &str) -> Result<VCardView> {
        let handle = self.handle(account).await?;
        let own = handle.ctx().account == jid;
        fetch_vcard(&handle, (!own).then_some(jid)).await
    }

    /// The cached image of an avatar hash, if it is there.
    pub fn avatar_file(&self, hash: &str) -> Option<PathBuf> {
        avatar_path(self.data_dir(), hash).filter(|p| p.is_file())
    }
}
