//! The `Client` API for files: whether an account can send them, sending
//! (photos prepared first), cancelling, downloading, where a local copy is,
//! and an account's files.

use std::path::PathBuf;

use serde::Serialize;

use crate::api::client::Client;
use crate::error::Result;
use crate::events::MessageView;
use crate::services::files;

/// Whether an account can send files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct UploadView {
    /// Account.
    pub account: String,
    /// The account's server (as the user knows it).
    pub domain: String,
    /// `true`: the server offers file sharing; `false`: it does not;
    /// `None`: not known (the account is not connected).
    pub available: Option<bool>,
    /// The largest file the server takes, in bytes, if it says.
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub max_bytes: Option<u64>,
}

/// Which image of a file the window asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaPart {
    /// The small preview (a JPEG or PNG Tern made).
    Preview,
    /// The file itself, when it is a raster image within Tern's limits.
    Full,
}

impl Client {
    /// Whether the account can send files and up to what size. Asks the
    /// server when this session has not yet.
    pub async fn upload_service(&self, account: &str) -> Result<UploadView> {
        let ctx = self.ctx(account).await?;
        let handle = self.handle(account).await.ok();
        files::upload::availability(&ctx, handle.as_ref()).await
    }

    /// Sends files to a conversation, one message each, then `caption` (if
    /// any) as a text message after them. Each file is checked (readable,
    /// within the server's limit) and copied into Tern's data folder before
    /// this returns; photos are turned upright, stripped of their metadata
    /// and made smaller unless `quality` (default: the user's choice in
    /// [`crate::FilePrefs`]) says original. The uploads then run in the
    /// send queue's order and survive a restart.
    pub async fn send_files(
        &self,
        account: &str,
        peer: &str,
        paths: &[PathBuf],
        caption: Option<&str>,
        quality: Option<crate::PhotoQuality>,
    ) -> Result<Vec<MessageView>> {
        let ctx = self.ctx(account).await?;
        let peer = super::chats::peer_of(&ctx, peer).await?;
        let handle = self.handle(account).await.ok();
        let rows = files::upload::send(&ctx, handle.as_ref(), &peer, paths, quality).await?;
        let mut out: Vec<MessageView> = rows.into_iter().map(MessageView::from).collect();
        if let Some(text) = caption.map(str::trim).filter(|t| !t.is_empty()) {
            out.push(self.send_message(account, &peer, text, None).await?);
        }
        Ok(out)
    }

    /// Stops a file's upload or download. An upload ends as a failed
    /// message the user can send again; a download can be started again.
    pub async fn cancel_transfer(&self, account: &str, message_id: i64) -> Result<()> {
        let ctx = self.ctx(account).await?;
        files::cancel(&ctx, message_id).await
    }

    /// Downloads a received file (again, after a failure or the cache's
    /// clean-up). Returns at once; the message's events tell how it goes.
    pub async fn download_file(&self, account: &str, message_id: i64) -> Result<MessageView> {
        let ctx = self.ctx(account).await?;
        let handle = self.handle(account).await.ok();
        Ok(files::download::request(&ctx, handle.as_ref(), message_id)
            .await?
            .into())
    }

    /// The local copy of a message's file, if it is on this computer (to
    /// open it, show it in its folder or save it elsewhere).
    pub async fn file_path(&self, account: &str, message_id: i64) -> Result<PathBuf> {
        let ctx = self.ctx(account).await?;
        files::local_file(&ctx, message_id).await
    }

    /// What the window may show of a message's file: the path of its
    /// preview or of the image itself, for the shell to serve. `None` for
    /// anything else (not an image, not here, unknown message).
    pub async fn media_file(&self, message_id: i64, part: MediaPart) -> Option<PathBuf> {
        files::media_path(self.store(), self.data_dir(), message_id, part).await
    }

    /// The account's files, sent and received, newest first: the `limit`
    /// before the message `before` (all from the newest without).
    pub async fn files(
        &self,
        account: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<MessageView>> {
        let ctx = self.ctx(account).await?;
        Ok(files::list(&ctx, before, limit)
            .await?
            .into_iter()
            .map(MessageView::from)
            .collect())
    }
}
