//! Receiving files: a message's link (XEP-0066 out-of-band data, XEP-0447
//! stateless file sharing with XEP-0446 metadata) becomes the message's
//! file; the sender's small thumbnail (XEP-0264), once checked, becomes
//! its preview; the file itself is downloaded from wherever the sender's
//! server put it.
//!
//! Images from people the user knows are downloaded when they arrive, up
//! to the user's size limit; nothing from strangers or public channels is
//! fetched without a click. A download is written to a part file, checked
//! (size, hash, and for images the limits before decoding) and only then
//! becomes the local copy. Encrypted files (`aesgcm://`, XEP-0454) are
//! decrypted after the download, streaming, both IV sizes.

use std::path::Path;

use base64::Engine as _;
use tern_store::{Direction, MessageRow};

use super::{error, files_dir, media, safe_name, FileInfo, FileState};
use crate::account::ctx::{now_ms, Ctx};
use crate::account::AccountHandle;
use crate::events::{ClientEvent, MessageView, RoomKind};
use crate::net::http::TransferError;
use crate::xep::message::Parsed;

/// The largest file Tern downloads on request.
const MAX_DOWNLOAD: u64 = 4 * 1024 * 1024 * 1024;

/// The file a received message shares, and the text to store for it
/// (the file's name when the body is only the link, else the body as
/// a caption). `None` for a message without a usable link.
pub(crate) fn incoming(p: &Parsed) -> Option<(FileInfo, Option<String>)> {
    let shared = p.shared.as_ref();
    let body = p.body.as_deref().map(str::trim).unwrap_or_default();
    // An encrypted file's link alone as the body (XEP-0454, as OMEMO
    // clients send it, without out-of-band data).
    let aesgcm_body = (body.starts_with("aesgcm://")
        && !body.contains(char::is_whitespace)
        && crate::xep::aesgcm::parse(body).is_some())
    .then(|| body.to_string());
    let url = shared
        .and_then(|s| s.sources.first().cloned())
        .or_else(|| p.oob.as_ref().map(|o| o.url.clone()))
        .or(aesgcm_body);
    // Conversations requires the body to be the link; a different body
    // with out-of-band data only is a caption elsewhere, and an https link
    // alone is no file Tern should fetch (it may be any web page). A share
    // without a source gets its link in a later message.
    if shared.is_none() && url.as_deref() != Some(body) {
        return None;
    }
    let meta = shared.map(|s| &s.meta);
    let name = meta
        .and_then(|m| m.name.clone())
        .or_else(|| url.as_deref().and_then(name_from_url))
        .unwrap_or_else(|| "file".into());
    let name = safe_name(&name);
    let media_type = meta
        .and_then(|m| m.media_type.clone())
        .or_else(|| Some(super::upload::media_type_of(&name).to_string()));
    let info = FileInfo {
        name: name.clone(),
        media_type,
        size: meta.and_then(|m| m.size),
        width: meta.and_then(|m| m.width),
        height: meta.and_then(|m| m.height),
        sha256: meta
            .and_then(|m| m.sha256)
            .map(|h| base64::engine::general_purpose::STANDARD.encode(h)),
        thumbnail: meta.and_then(|m| {
            m.thumbnails
                .iter()
                .find(|t| t.uri.starts_with("data:"))
                .map(|t| t.uri.clone())
        }),
        url: url.clone(),
        state: FileState::Remote,
        ..FileInfo::default()
    };
    let caption = (!body.is_empty() && Some(body) != url.as_deref()).then(|| body.to_string());
    Some((info, caption))
}

/// The last path segment of a link, decoded, as a file name.
fn name_from_url(url: &str) -> Option<String> {
    let path = url.split(['#', '?']).next()?;
    let last = path.rsplit('/').next()?;
    let mut out = Vec::new();
    let bytes = last.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    let s = String::from_utf8_lossy(&out).into_owned();
    (!s.is_empty()).then_some(s)
}

/// New messages were stored: their previews are written from the
/// senders' thumbnails and, where the user's rules allow, their files
/// downloaded. Runs in the background.
pub(crate) fn arrived(ctx: &Ctx, rows: &[MessageRow]) {
    let fresh: Vec<MessageRow> = rows
        .iter()
        .filter(|m| {
            FileInfo::from_json(m.file.as_deref()).is_some_and(|f| {
                f.state == FileState::Remote && (f.url.is_some() || f.thumbnail.is_some())
            })
        })
        .cloned()
        .collect();
    if fresh.is_empty() {
        return;
    }
    let ctx = ctx.clone();
    tokio::spawn(async move {
        for m in fresh {
            let Some(mut info) = FileInfo::from_json(m.file.as_deref()) else {
                continue;
            };
            if let Some(uri) = info.thumbnail.take() {
                let folder = files_dir(&ctx.data_dir).join(format!("in-{}", m.id));
                let written = tokio::task::spawn_blocking({
                    let folder = folder.clone();
                    move || write_thumbnail(&uri, &folder)
                })
                .await
                .ok()
                .flatten();
                if let Some(name) = written {
                    info.dir = Some(format!("in-{}", m.id));
                    info.preview = Some(name.to_string());
                }
                if let Ok(Some(row)) = ctx.store.set_file(m.id, &info.to_json(), None).await {
                    ctx.hub.emit(ClientEvent::Message {
                        message: MessageView::from(row),
                    });
                }
            }
            if info.url.is_some() && wanted_automatically(&ctx, &m, &info).await {
                start(&ctx, m.id, false);
            }
        }
    });
}

/// Checks a sender's inline thumbnail and writes it, re-encoded, as the
/// preview; its file name.
fn write_thumbnail(uri: &str, folder: &Path) -> Option<&'static str> {
    let (_, bytes) = crate::xep::sfs::read_data_uri(uri)?;
    let thumb = media::decode_data_image(&bytes, &media::Limits::INLINE).ok()?;
    std::fs::create_dir_all(folder).ok()?;
    let name = if thumb.media_type == "image/png" {
        super::PREVIEW_PNG
    } else {
        super::PREVIEW_JPEG
    };
    std::fs::write(folder.join(name), &thumb.bytes).ok()?;
    Some(name)
}

/// Whether a received file is fetched without a click: an image, not
/// larger than the user's limit, from the user's own devices, a contact,
/// or a private group.
async fn wanted_automatically(ctx: &Ctx, m: &MessageRow, info: &FileInfo) -> bool {
    let limit = ctx.files.prefs.get().auto_download_bytes;
    if limit == 0 || info.size.is_some_and(|s| s > limit) {
        return false;
    }
    let image = info
        .media_type
        .as_deref()
        .is_some_and(|t| matches!(t, "image/jpeg" | "image/png" | "image/gif" | "image/webp"));
    if !image {
        return false;
    }
    if m.direction == Direction::Outgoing {
        return true;
    }
    let Ok(peer) = xmpp_parsers::jid::Jid::new(&m.peer) else {
        return false;
    };
    match crate::services::chat::kind_of(ctx, &m.peer).await {
        tern_store::ConversationKind::Chat => ctx.knows(&m.peer).await,
        tern_store::ConversationKind::GroupChat => ctx
            .rooms
            .view(&ctx.account, &peer.to_bare())
            .is_some_and(|r| r.kind == RoomKind::PrivateGroup),
        tern_store::ConversationKind::GroupChatPrivate => false,
    }
}

/// The user asks for a file: download it (again).
pub(crate) async fn request(
    ctx: &Ctx,
    _handle: Option<&AccountHandle>,
    message_id: i64,
) -> crate::Result<MessageRow> {
    let m = ctx
        .store
        .message(message_id)
        .await?
        .filter(|m| m.account == ctx.account)
        .ok_or_else(|| error("not_found", "This message is not in Tern any more."))?;
    let info = FileInfo::from_json(m.file.as_deref())
        .ok_or_else(|| error("not_found", "This message shares no file."))?;
    if info.url.is_none() {
        return Err(error(
            "not_found",
            "This file has no link to download it from.",
        ));
    }
    if info.local_path(&ctx.data_dir).is_some() {
        return Ok(m);
    }
    start(ctx, message_id, true);
    Ok(m)
}

/// Starts a download in the background unless one runs.
pub(crate) fn start(ctx: &Ctx, message_id: i64, asked: bool) {
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let files = ctx.files.clone();
        let Some(running) = files.transfers.start(message_id) else {
            return;
        };
        let _turn = tokio::select! {
            p = files.downloads.acquire() => p.ok(),
            _ = running.token.cancelled() => None,
        };
        let outcome = download(&ctx, message_id, asked, &running.token).await;
        if let Err((code, text, back_to_remote)) = outcome {
            tracing::info!(message_id, code, "download failed: {text}");
            update(&ctx, message_id, |f| {
                if back_to_remote {
                    f.state = FileState::Remote;
                    f.error = None;
                    f.error_text = None;
                } else {
                    f.state = FileState::Failed;
                    f.error = Some(code.clone());
                    f.error_text = Some(text.clone());
                }
            })
            .await;
        }
        drop(running);
        enforce_cache(&ctx).await;
    });
}

/// Changes a message's file record and announces the message.
async fn update(ctx: &Ctx, message_id: i64, f: impl FnOnce(&mut FileInfo)) -> Option<FileInfo> {
    let row = ctx.store.message(message_id).await.ok()??;
    let mut info = FileInfo::from_json(row.file.as_deref())?;
    f(&mut info);
    if let Ok(Some(row)) = ctx.store.set_file(message_id, &info.to_json(), None).await {
        ctx.hub.emit(ClientEvent::Message {
            message: MessageView::from(row),
        });
    }
    Some(info)
}

type Failure = (String, String, bool);

async fn download(
    ctx: &Ctx,
    message_id: i64,
    asked: bool,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<(), Failure> {
    let dir = format!("in-{message_id}");
    let Some(info) = update(ctx, message_id, |f| {
        f.state = FileState::Downloading;
        f.error = None;
        f.error_text = None;
        f.dir = Some(dir.clone());
        f.wanted = f.wanted || asked;
    })
    .await
    else {
        return Ok(());
    };
    let Some(url) = info.url.clone() else {
        return Err(fail(
            "not_found",
            "This file has no link to download it from.",
        ));
    };
    let folder = files_dir(&ctx.data_dir).join(&dir);
    tokio::fs::create_dir_all(&folder).await.map_err(|e| {
        fail(
            "storage",
            &format!("Tern could not write to its data folder: {e}."),
        )
    })?;
    let limit = if asked {
        MAX_DOWNLOAD
    } else {
        ctx.files.prefs.get().auto_download_bytes
    };
    let (https, key) = if url.starts_with("aesgcm://") {
        let link = crate::xep::aesgcm::parse(&url)
            .ok_or_else(|| fail("corrupt", "This encrypted file's link is damaged."))?;
        (link.https_url.clone(), Some(link))
    } else if url.starts_with("https://") {
        (url.clone(), None)
    } else {
        return Err(fail("insecure", "Tern downloads files over HTTPS only."));
    };
    let part = folder.join(".part");
    let progress = super::Progress::new(ctx, message_id);
    let progress = |done: u64, total: Option<u64>| progress.report(done, total);
    let client = ctx.http_client();
    // An encrypted file is decrypted as it arrives; its tag (16 bytes)
    // comes on top of its size.
    let fetched = match &key {
        None => client
            .get_to_file(&https, &part, limit, &progress, cancel)
            .await
            .map(|_| ()),
        Some(link) => {
            fetch_decrypting(&client, &https, &part, limit + 16, link, &progress, cancel).await
        }
    };
    if let Err(e) = fetched {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(match e {
            TransferError::TooLarge { .. } if !asked => (
                "too_large".into(),
                "Larger than your limit for automatic downloads.".into(),
                true,
            ),
            TransferError::Cancelled => (
                "cancelled".into(),
                "You cancelled the download.".into(),
                false,
            ),
            e => (
                super::upload::transfer_code(&e).into(),
                e.to_string(),
                false,
            ),
        });
    }
    let name = safe_name(&info.name);
    let target = folder.join(&name);
    let sha = info.sha256.clone();
    let finished = tokio::task::spawn_blocking(move || finish(&part, &target, sha.as_deref()))
        .await
        .map_err(|_| fail("internal", "Tern could not check the file."))?;
    let checked = finished?;
    update(ctx, message_id, |f| {
        f.state = FileState::Local;
        f.name = name;
        f.size = Some(checked.size);
        f.used_ms = now_ms();
        f.image = checked.image.is_some();
        if let Some((media_type, w, h, animated)) = checked.image {
            f.media_type = Some(media_type.to_string());
            f.width = Some(w);
            f.height = Some(h);
            f.animated = animated;
        } else if f
            .media_type
            .as_deref()
            .is_some_and(|t| t.starts_with("image/"))
        {
            // Not what it claimed to be (or beyond Tern's limits): a file.
            f.media_type = Some("application/octet-stream".into());
        }
        if let Some(p) = checked.preview {
            f.preview = Some(p.to_string());
        }
    })
    .await;
    Ok(())
}

fn fail(code: &str, text: &str) -> Failure {
    (code.to_string(), text.to_string(), false)
}

/// What the checks found of a downloaded file.
struct Checked {
    size: u64,
    image: Option<(&'static str, u32, u32, bool)>,
    preview: Option<&'static str>,
}

/// Checks the hash, moves the part file into place, and reads an
/// image's header and writes its preview; blocking.
fn finish(part: &Path, target: &Path, sha256: Option<&str>) -> Result<Checked, Failure> {
    let corrupt = |why: String| (String::from("corrupt"), why, false);
    if let Some(expected) = sha256 {
        let got = hash_file(part).map_err(|e| corrupt(e.to_string()))?;
        if base64::engine::general_purpose::STANDARD.encode(got) != expected {
            let _ = std::fs::remove_file(part);
            return Err(corrupt(
                "The file that arrived is not the one that was sent (its checksum differs).".into(),
            ));
        }
    }
    std::fs::rename(part, target).map_err(|e| corrupt(e.to_string()))?;
    let size = std::fs::metadata(target).map(|m| m.len()).unwrap_or(0);
    let limits = media::Limits::DEFAULT;
    let (image, preview) = match media::probe(target, &limits) {
        Ok(p) => {
            let mut info = FileInfo::default();
            let folder = target.parent().unwrap_or(Path::new("."));
            super::upload::write_previews(target, folder, &mut info, false);
            let preview = match info.preview.as_deref() {
                Some(super::PREVIEW_PNG) => Some(super::PREVIEW_PNG),
                Some(_) => Some(super::PREVIEW_JPEG),
                None => None,
            };
            // Shown as an image only when it decodes whole (the preview
            // is made from all of it); a damaged one is a file.
            match preview {
                Some(preview) => (
                    Some((p.media_type, p.width, p.height, p.animated)),
                    Some(preview),
                ),
                None => (None, None),
            }
        }
        Err(e) => {
            tracing::debug!("received file is not shown as an image: {e}");
            (None, None)
        }
    };
    Ok(Checked {
        size,
        image,
        preview,
    })
}

/// SHA-256 of a file, streaming.
fn hash_file(path: &Path) -> std::io::Result<[u8; 32]> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(h.finalize().into());
        }
        h.update(&buf[..n]);
    }
}

/// Downloads an encrypted file (XEP-0454: AES-256-GCM, the tag its last
/// 16 bytes) into `part`, decrypting as it arrives; fails when the tag
/// does not match.
async fn fetch_decrypting(
    client: &crate::net::http::HttpClient,
    url: &str,
    part: &Path,
    max_bytes: u64,
    link: &crate::xep::aesgcm::AesGcmLink,
    progress: &(dyn Fn(u64, Option<u64>) + Sync),
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<(), TransferError> {
    use tokio::io::AsyncWriteExt;
    let io = |e: std::io::Error| TransferError::Io(e.to_string());
    let dec = super::cipher::Decryptor::new(&link.key, &link.iv)
        .ok_or_else(|| TransferError::Io("the file's key is not usable".into()))?;
    let mut sink = Decrypting {
        file: tokio::io::BufWriter::new(tokio::fs::File::create(part).await.map_err(io)?),
        split: super::cipher::TagSplitter::new(dec),
    };
    client
        .get(url, max_bytes, &mut sink, progress, cancel)
        .await?;
    sink.file.flush().await.map_err(io)?;
    sink.split.finish().map_err(|_| {
        TransferError::Io("the encrypted file was damaged or changed on its way".into())
    })
}

/// Decrypts a download's bytes into a file as they arrive.
struct Decrypting {
    file: tokio::io::BufWriter<tokio::fs::File>,
    split: super::cipher::TagSplitter,
}

impl crate::net::http::Sink for Decrypting {
    async fn write(&mut self, data: &[u8]) -> Result<(), TransferError> {
        use tokio::io::AsyncWriteExt;
        let plain = self
            .split
            .update(data)
            .map_err(|_| TransferError::Io("the encrypted file is too large".into()))?;
        self.file
            .write_all(&plain)
            .await
            .map_err(|e| TransferError::Io(e.to_string()))
    }
}

/// Keeps received files within the user's cache size: the least recently
/// shown go first (their previews stay; they can be downloaded again).
pub(crate) async fn enforce_cache(ctx: &Ctx) {
    let limit = ctx.files.prefs.get().cache_bytes;
    let Ok(rows) = ctx.store.files_where("state", "local").await else {
        return;
    };
    let mut local: Vec<(i64, FileInfo)> = rows
        .into_iter()
        .filter(|m| m.direction == Direction::Incoming)
        .filter_map(|m| Some((m.id, FileInfo::from_json(m.file.as_deref())?)))
        .collect();
    let mut total: u64 = local.iter().filter_map(|(_, f)| f.size).sum();
    if total <= limit {
        return;
    }
    local.sort_by_key(|(id, f)| (f.used_ms, *id));
    for (id, f) in local {
        if total <= limit {
            break;
        }
        if ctx.files.transfers.running(id) {
            continue;
        }
        if let Some(path) = f.local_path(&ctx.data_dir) {
            let _ = tokio::fs::remove_file(&path).await;
        }
        total = total.saturating_sub(f.size.unwrap_or(0));
        let mut g = f.clone();
        g.state = FileState::Remote;
        g.image = false;
        g.wanted = false;
        if let Ok(Some(row)) = ctx.store.set_file(id, &g.to_json(), None).await {
            ctx.hub.emit(ClientEvent::Message {
                message: MessageView::from(row),
            });
        }
    }
}

/// Removes the local copies of a conversation's files (it is being
/// deleted).
pub(crate) async fn remove_local(ctx: &Ctx, files: &[String]) {
    for json in files {
        if let Some(folder) = FileInfo::from_json(Some(json)).and_then(|f| f.folder(&ctx.data_dir))
        {
            if let Err(e) = tokio::fs::remove_dir_all(&folder).await {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!("could not remove {}: {e}", folder.display());
                }
            }
        }
    }
}
