//! Files shared in messages: photos and other files sent through the
//! user's server (XEP-0363) and links to files received (XEP-0066,
//! XEP-0447), with their local copies.
//!
//! - [`FileInfo`]: what Tern knows of a message's file, kept as JSON in the
//!   message's row (`messages.file`);
//! - `upload`: the upload service of the user's server, and sending (the
//!   file is copied into Tern's data folder first, then uploaded when the
//!   send queue reaches it, then announced);
//! - `download`: fetching received files (automatically for small images
//!   from contacts, else on request), previews, and the cache's limit;
//! - `media`: images read with limits checked before decoding;
//! - `cipher`: AES-256-GCM for encrypted files (XEP-0454), as a stream.
//!
//! Local copies live in `files/<folder>/<name>` under the data folder, one
//! folder per message, named by Tern (`out-<uid>` for what the user sends,
//! `in-<id>` for what arrives); nothing a peer sends becomes a path.

pub(crate) mod cipher;
pub(crate) mod download;
pub(crate) mod media;
pub(crate) mod upload;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::account::ctx::Ctx;

/// Where a message's file is: stored in its record as the UI sees it.
pub(crate) use crate::events::FileState;

/// What Tern knows of a message's file (stored as JSON in its row).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct FileInfo {
    /// The file's name (safe: no folders, no control characters).
    pub name: String,
    /// Its media type, as the sender said or as Tern found it.
    pub media_type: Option<String>,
    /// Its size in bytes, as the sender said or as Tern found it.
    pub size: Option<u64>,
    /// An image's width and height, upright.
    pub width: Option<u32>,
    /// See `width`.
    pub height: Option<u32>,
    /// SHA-256 of the file, base64 (XEP-0300).
    pub sha256: Option<String>,
    /// The link (`https://`, or `aesgcm://` for an encrypted file).
    pub url: Option<String>,
    /// The folder of the local copy under `files/` (Tern's own name).
    pub dir: Option<String>,
    /// Where the file is.
    pub state: FileState,
    /// Why the last transfer failed: a short code (`too_large`,
    /// `no_service`, `refused`, `network`, `cancelled`, `not_found`, ...).
    pub error: Option<String>,
    /// The failure in words a person can act on.
    pub error_text: Option<String>,
    /// A preview image (`preview.jpg` or `preview.png`) is in the folder.
    pub preview: Option<String>,
    /// The sender's small inline thumbnail (a `data:` URI), until Tern has
    /// checked it and written it as the preview.
    pub thumbnail: Option<String>,
    /// The local copy is a raster image within Tern's limits (shown as a
    /// photo; anything else is shown as a file).
    pub image: bool,
    /// An animated GIF or WebP.
    pub animated: bool,
    /// The user asked for it (or it qualified for automatic download).
    pub wanted: bool,
    /// The user's file is to be encrypted before its upload (XEP-0454);
    /// its link is then `aesgcm://`.
    pub encrypt: bool,
    /// When the local copy was last shown, ms (the cache's clean-up drops
    /// the least recently shown first).
    pub used_ms: i64,
}

impl FileInfo {
    /// Reads a row's JSON; `None` for none or a damaged one.
    pub(crate) fn from_json(json: Option<&str>) -> Option<FileInfo> {
        serde_json::from_str(json?).ok()
    }

    /// The JSON stored in the row.
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// The local copy's folder, when its name is one Tern made.
    pub(crate) fn folder(&self, data_dir: &Path) -> Option<PathBuf> {
        let dir = self.dir.as_deref()?;
        valid_folder(dir).then(|| files_dir(data_dir).join(dir))
    }

    /// The local copy, when there is one.
    pub(crate) fn local_path(&self, data_dir: &Path) -> Option<PathBuf> {
        if !matches!(
            self.state,
            FileState::Uploading | FileState::Uploaded | FileState::Local
        ) {
            return None;
        }
        let path = self.folder(data_dir)?.join(safe_name(&self.name));
        path.is_file().then_some(path)
    }

    /// The preview image, when there is one.
    pub(crate) fn preview_path(&self, data_dir: &Path) -> Option<PathBuf> {
        let name = self.preview.as_deref()?;
        if name != PREVIEW_JPEG && name != PREVIEW_PNG {
            return None;
        }
        let path = self.folder(data_dir)?.join(name);
        path.is_file().then_some(path)
    }

    /// An encrypted file (XEP-0454).
    pub(crate) fn encrypted(&self) -> bool {
        self.url
            .as_deref()
            .is_some_and(|u| u.starts_with("aesgcm://"))
    }
}

/// The preview's file name in a message's folder (opaque images).
pub(crate) const PREVIEW_JPEG: &str = "preview.jpg";
/// The preview's file name in a message's folder (with transparency).
pub(crate) const PREVIEW_PNG: &str = "preview.png";

/// Where local copies live.
pub(crate) fn files_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("files")
}

/// A folder name Tern made: `out-` or `in-` and then letters, digits, `-`
/// and `_` only.
pub(crate) fn valid_folder(dir: &str) -> bool {
    let rest = dir
        .strip_prefix("out-")
        .or_else(|| dir.strip_prefix("in-"))
        .unwrap_or_default();
    !rest.is_empty()
        && dir.len() <= 80
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A file name safe to create ([`crate::xep::sfs::file_name`]: no folders,
/// no control or direction characters, no leading dot, bounded), never
/// empty and never a preview's name.
pub(crate) fn safe_name(name: &str) -> String {
    match crate::xep::sfs::file_name(name) {
        None => "file".into(),
        Some(n) if n == PREVIEW_JPEG || n == PREVIEW_PNG => format!("file-{n}"),
        Some(n) => n,
    }
}

/// How photos are sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum PhotoQuality {
    /// Downscaled and re-encoded (long side at most 1920 pixels): quick to
    /// send and to receive on a phone.
    #[default]
    Smaller,
    /// As taken (only turned upright and stripped of metadata).
    Original,
}

/// The user's choices about files (the same for every account).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct FilePrefs {
    /// How photos are sent.
    pub photo_quality: PhotoQuality,
    /// Images from contacts up to this size (bytes) are downloaded when they
    /// arrive; 0 turns that off. Strangers' files never are.
    pub auto_download_bytes: u64,
    /// Received files kept on this computer, in bytes at most; the least
    /// recently shown go first (they can be downloaded again).
    pub cache_bytes: u64,
}

impl Default for FilePrefs {
    fn default() -> Self {
        FilePrefs {
            photo_quality: PhotoQuality::Smaller,
            auto_download_bytes: 5 * 1024 * 1024,
            cache_bytes: 2 * 1024 * 1024 * 1024,
        }
    }
}

/// The user's file choices, shared by every account.
#[derive(Debug, Default)]
pub(crate) struct PrefsChoice(Mutex<FilePrefs>);

impl PrefsChoice {
    /// The current choices.
    pub(crate) fn get(&self) -> FilePrefs {
        self.0.lock().map(|p| *p).unwrap_or_default()
    }

    /// Replaces them.
    pub(crate) fn set(&self, prefs: FilePrefs) {
        if let Ok(mut p) = self.0.lock() {
            *p = prefs;
        }
    }
}

/// Transfers in progress, by message id: how to cancel each.
#[derive(Debug, Default)]
pub(crate) struct Transfers(Mutex<HashMap<i64, tokio_util::sync::CancellationToken>>);

impl Transfers {
    /// Registers a transfer; `None` when one runs for that message already.
    pub(crate) fn start(&self, message_id: i64) -> Option<Running<'_>> {
        let mut map = self.0.lock().ok()?;
        if map.contains_key(&message_id) {
            return None;
        }
        let token = tokio_util::sync::CancellationToken::new();
        map.insert(message_id, token.clone());
        Some(Running {
            transfers: self,
            message_id,
            token,
        })
    }

    /// Cancels a message's transfer; whether one was running.
    pub(crate) fn cancel(&self, message_id: i64) -> bool {
        match self.0.lock().ok().and_then(|m| m.get(&message_id).cloned()) {
            Some(t) => {
                t.cancel();
                true
            }
            None => false,
        }
    }

    /// Whether a transfer runs for the message.
    pub(crate) fn running(&self, message_id: i64) -> bool {
        self.0
            .lock()
            .map(|m| m.contains_key(&message_id))
            .unwrap_or(false)
    }
}

/// A registered transfer; dropping it unregisters it.
pub(crate) struct Running<'a> {
    transfers: &'a Transfers,
    message_id: i64,
    /// Cancelled when the user cancels.
    pub token: tokio_util::sync::CancellationToken,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Ok(mut m) = self.transfers.0.lock() {
            m.remove(&self.message_id);
        }
    }
}

/// What every account's file service shares: the user's choices and the
/// transfers running.
#[derive(Debug)]
pub(crate) struct Files {
    /// The user's choices.
    pub prefs: PrefsChoice,
    /// Transfers in progress.
    pub transfers: Transfers,
    /// Uploads run two at a time (in the order the send queue reached
    /// them), so that twenty photos do not open twenty connections and
    /// arrive mostly in the order they were sent.
    pub uploads: tokio::sync::Semaphore,
    /// Downloads run three at a time.
    pub downloads: tokio::sync::Semaphore,
}

impl Default for Files {
    fn default() -> Self {
        Files {
            prefs: PrefsChoice::default(),
            transfers: Transfers::default(),
            uploads: tokio::sync::Semaphore::new(2),
            downloads: tokio::sync::Semaphore::new(3),
        }
    }
}

/// What is known of an account's upload service (XEP-0363) this session.
#[derive(Debug, Default)]
pub(crate) struct UploadKnown(Mutex<Option<Option<UploadService>>>);

/// The upload service of the user's server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UploadService {
    /// Its address.
    pub jid: String,
    /// The largest file it takes, if it says.
    pub max_size: Option<u64>,
}

impl UploadKnown {
    /// `None` until looked for this session; then the service or
    /// `Some(None)` when the server offers none.
    pub(crate) fn get(&self) -> Option<Option<UploadService>> {
        self.0.lock().ok().and_then(|k| k.clone())
    }

    /// Records what was found.
    pub(crate) fn set(&self, found: Option<Option<UploadService>>) {
        if let Ok(mut k) = self.0.lock() {
            *k = found;
        }
    }
}

/// Reports a transfer's progress as `Transfer` events, at most five a
/// second (and always the last).
pub(crate) struct Progress {
    hub: std::sync::Arc<crate::events::EventHub>,
    account: String,
    message_id: i64,
    last: Mutex<Option<std::time::Instant>>,
}

impl Progress {
    /// For a message's transfer.
    pub(crate) fn new(ctx: &Ctx, message_id: i64) -> Progress {
        Progress {
            hub: ctx.hub.clone(),
            account: ctx.account.clone(),
            message_id,
            last: Mutex::new(None),
        }
    }

    /// `done` bytes of `total` moved.
    pub(crate) fn report(&self, done: u64, total: Option<u64>) {
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        let due = last.is_none_or(|t| t.elapsed() >= std::time::Duration::from_millis(200));
        if due || Some(done) == total {
            *last = Some(std::time::Instant::now());
            self.hub.emit(crate::events::ClientEvent::Transfer {
                account: self.account.clone(),
                message_id: self.message_id,
                done,
                total,
            });
        }
    }
}

/// A file error for the UI.
pub(crate) fn error(code: &str, message: impl Into<String>) -> crate::Error {
    crate::Error::File {
        code: code.to_string(),
        message: message.into(),
    }
}

/// Stops a message's transfer.
pub(crate) async fn cancel(ctx: &Ctx, message_id: i64) -> crate::Result<()> {
    let m = ctx.store.message(message_id).await?;
    if m.is_none_or(|m| m.account != ctx.account) {
        return Err(error("not_found", "This file is not in Tern any more."));
    }
    ctx.files.transfers.cancel(message_id);
    Ok(())
}

/// The local copy of a message's file.
pub(crate) async fn local_file(ctx: &Ctx, message_id: i64) -> crate::Result<PathBuf> {
    let m = ctx
        .store
        .message(message_id)
        .await?
        .filter(|m| m.account == ctx.account);
    m.and_then(|m| FileInfo::from_json(m.file.as_deref()))
        .and_then(|f| f.local_path(&ctx.data_dir))
        .ok_or_else(|| {
            error(
                "not_here",
                "This file is not on this computer. Download it first.",
            )
        })
}

/// What the window may show of a message's file (see
/// `Client::media_file`).
pub(crate) async fn media_path(
    store: &tern_store::Store,
    data_dir: &Path,
    message_id: i64,
    part: crate::api::files::MediaPart,
) -> Option<PathBuf> {
    let row = store.message(message_id).await.ok()??;
    let info = FileInfo::from_json(row.file.as_deref())?;
    touch(store, message_id, &info).await;
    match part {
        crate::api::files::MediaPart::Preview => info.preview_path(data_dir),
        crate::api::files::MediaPart::Full if info.image => info.local_path(data_dir),
        crate::api::files::MediaPart::Full => None,
    }
}

/// An account's messages with files, newest first: the `limit` (at most
/// 500) before the message `before`.
pub(crate) async fn list(
    ctx: &Ctx,
    before: Option<i64>,
    limit: u32,
) -> crate::Result<Vec<tern_store::MessageRow>> {
    let position = match before {
        Some(id) => ctx.store.message(id).await?.map(|m| (m.timestamp_ms, m.id)),
        None => None,
    };
    Ok(ctx
        .store
        .files(&ctx.account, position, limit.min(500))
        .await?)
}

/// Downloads cut off by the last quit are not running: their files are
/// back to the server's copy (the user may download them again), their
/// part files gone.
pub(crate) async fn after_restart(store: &tern_store::Store, data_dir: &Path) {
    let Ok(rows) = store.files_where("state", "downloading").await else {
        return;
    };
    for m in rows {
        let Some(mut info) = FileInfo::from_json(m.file.as_deref()) else {
            continue;
        };
        if let Some(folder) = info.folder(data_dir) {
            let _ = tokio::fs::remove_file(folder.join(".part")).await;
        }
        info.state = FileState::Remote;
        if let Err(e) = store.set_file(m.id, &info.to_json(), None).await {
            tracing::warn!("could not reset an interrupted download: {e}");
        }
    }
}

/// The file records of all of an account's messages (to delete the local
/// copies with the account).
pub(crate) async fn of_account(ctx: &Ctx) -> crate::Result<Vec<String>> {
    Ok(ctx
        .store
        .files(&ctx.account, None, u32::MAX)
        .await?
        .into_iter()
        .filter_map(|m| m.file)
        .collect())
}

/// Notes that a file was shown now (the cache's clean-up keeps the most
/// recently shown), at most once a minute per file.
pub(crate) async fn touch(store: &tern_store::Store, message_id: i64, info: &FileInfo) {
    let now = crate::account::ctx::now_ms();
    if now - info.used_ms < 60_000 || info.state != FileState::Local {
        return;
    }
    if let Err(e) = store.touch_file(message_id, now).await {
        tracing::debug!("file use not recorded: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_peers_never_become_paths() {
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("C:\\Users\\x\\photo.jpg"), "photo.jpg");
        assert_eq!(safe_name(".bashrc"), "bashrc");
        assert_eq!(safe_name(""), "file");
        assert_eq!(safe_name(".."), "file");
        assert_eq!(safe_name("a\u{0}b\nc.txt"), "abc.txt");
        assert_eq!(safe_name("x\u{202E}gpj.exe"), "xgpj.exe");
        assert_eq!(safe_name("preview.jpg"), "file-preview.jpg");
        let long = format!("{}.png", "é".repeat(200));
        let s = safe_name(&long);
        assert!(
            s.len() <= crate::xep::sfs::MAX_NAME_BYTES && s.ends_with(".png"),
            "{s}"
        );
        assert!(valid_folder("out-abc_DEF-1"));
        assert!(valid_folder("in-42"));
        for bad in ["../x", "in-../x", "x-1", "in-a/b", "out-"] {
            assert!(!valid_folder(bad), "{bad}");
        }
    }

    #[test]
    fn file_info_round_trips_and_tolerates_damage() {
        let f = FileInfo {
            name: "a.jpg".into(),
            size: Some(3),
            state: FileState::Remote,
            ..Default::default()
        };
        assert_eq!(FileInfo::from_json(Some(&f.to_json())), Some(f));
        assert_eq!(FileInfo::from_json(Some("not json")), None);
        assert_eq!(
            FileInfo::from_json(Some(r#"{"name":"x","future":1}"#)).map(|f| f.name),
            Some("x".into())
        );
    }
}
