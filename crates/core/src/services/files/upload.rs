//! Sending files (XEP-0363 HTTP File Upload).
//!
//! 1. [`send`]: each file is checked and copied into Tern's data folder
//!    (a photo is prepared there: turned upright, stripped of metadata,
//!    made smaller if the user chose so), then stored as a message with a
//!    file intent in the send queue — before this returns, so nothing is
//!    lost if Tern quits now.
//! 2. When the send queue reaches the message and its file has no link
//!    yet, the account task starts [`start`]: a slot from the user's
//!    server's upload service, the file streamed to it over HTTPS (with
//!    automatic retries after network failures), and the link stored.
//! 3. The message comes back to the queue and goes out with the link as
//!    its body, XEP-0066 out-of-band data, and XEP-0447 file sharing with
//!    the XEP-0446 metadata and a XEP-0264 thumbnail, as Conversations,
//!    Dino and Gajim read them ([`announcement`]).
//!
//! A restart in the middle of an upload starts it again from the local
//! copy with a new slot; the message itself goes once, in its turn.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use tern_store::MessageRow;
use xmpp_parsers::disco::DiscoInfoResult;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;

use super::{error, files_dir, media, safe_name, FileInfo, FileState, UploadService};
use crate::account::ctx::Ctx;
use crate::account::AccountHandle;
use crate::api::files::UploadView;
use crate::events::{ClientEvent, MessageView};
use crate::inbound::emit_conversation;
use crate::net::http::TransferError;
use crate::outbound::intent::{Intent, Prepared, Via};
use crate::xep::message::{new_id, Outgoing};

/// How many times an upload is tried after network failures.
const ATTEMPTS: u32 = 4;
/// How long to wait before each retry.
const BACKOFF: [Duration; 3] = [
    Duration::from_secs(2),
    Duration::from_secs(8),
    Duration::from_secs(30),
];
/// The preview's longest side, pixels.
pub(crate) const PREVIEW_SIDE: u32 = 480;

/// Finds the upload service of the user's server: the server itself or
/// one of the services it lists (XEP-0030), the first that announces
/// `urn:xmpp:http:upload:0`. Remembered for the session.
pub(crate) async fn discover(h: &AccountHandle) -> crate::Result<Option<UploadService>> {
    let ctx = h.ctx();
    let domain = ctx.own.domain().to_string();
    let server = Jid::new(&domain).map_err(|_| crate::Error::Internal("the server's address"))?;
    let mut candidates = vec![domain.clone()];
    if let Iq::Result {
        payload: Some(p), ..
    } = h.request(crate::xep::muc::items_request(&server)).await?
    {
        candidates.extend(
            crate::xep::muc::read_items(p)
                .into_iter()
                .map(|(jid, _)| jid)
                .take(40),
        );
    }
    let mut found = None;
    for jid in candidates {
        let Ok(to) = Jid::new(&jid) else { continue };
        let Ok(Iq::Result {
            payload: Some(p), ..
        }) = h.request(crate::xep::disco::info_request(to, None)).await
        else {
            continue;
        };
        let Ok(info) = DiscoInfoResult::try_from(p) else {
            continue;
        };
        if let Some(s) = crate::xep::upload::service_from_disco(&jid, &info) {
            found = Some(UploadService {
                jid: s.jid,
                max_size: s.max_size,
            });
            break;
        }
    }
    ctx.upload.set(Some(found.clone()));
    Ok(found)
}

/// The upload service as known this session, else asked for now (when
/// connected). `None`: not known.
async fn service(ctx: &Ctx, handle: Option<&AccountHandle>) -> Option<Option<UploadService>> {
    if let Some(known) = ctx.upload.get() {
        return Some(known);
    }
    match handle {
        Some(h) => match discover(h).await {
            Ok(found) => Some(found),
            Err(e) => {
                tracing::info!(account = %ctx.account, "upload service not found: {e}");
                None
            }
        },
        None => None,
    }
}

/// Whether the account can send files.
pub(crate) async fn availability(
    ctx: &Ctx,
    handle: Option<&AccountHandle>,
) -> crate::Result<UploadView> {
    let known = service(ctx, handle).await;
    Ok(UploadView {
        account: ctx.account.clone(),
        domain: ctx.own.domain().to_string(),
        available: known.as_ref().map(Option::is_some),
        max_bytes: known.flatten().and_then(|s| s.max_size),
    })
}

/// Sizes as people read them: "1.5 MB", "820 KB", "12 bytes".
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} bytes");
    }
    let mut v = bytes as f64 / 1000.0;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if v < 10.0 {
        format!("{v:.1} {}", UNITS[unit])
    } else {
        format!("{v:.0} {}", UNITS[unit])
    }
}

fn too_large(size: u64, max: u64) -> crate::Error {
    error(
        "too_large",
        format!(
            "This file is {}; your server takes files up to {}.",
            human_size(size),
            human_size(max)
        ),
    )
}

fn no_service(ctx: &Ctx) -> crate::Error {
    error(
        "no_service",
        format!(
            "Your server {} does not offer file sharing, so you can't send files from this account. You can still receive them.",
            ctx.own.domain()
        ),
    )
}

/// Stores files to send, one message each, in the send queue.
pub(crate) async fn send(
    ctx: &Ctx,
    handle: Option<&AccountHandle>,
    peer: &str,
    paths: &[PathBuf],
    quality: Option<super::PhotoQuality>,
) -> crate::Result<Vec<MessageRow>> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let kind = crate::services::chat::kind_of(ctx, peer).await;
    let sender = crate::services::chat::sender_in(ctx, peer, kind)?;
    // Unknown (not connected): the files wait in the queue; the upload
    // finds the service when the account is back.
    let max = match service(ctx, handle).await {
        Some(None) => return Err(no_service(ctx)),
        Some(Some(s)) => s.max_size,
        None => None,
    };
    // Every file is checked before any is stored.
    let mut sources = Vec::with_capacity(paths.len());
    for path in paths {
        let meta = tokio::fs::metadata(path).await.map_err(|e| {
            error(
                "unreadable",
                format!("Tern could not read {}: {e}.", path.display()),
            )
        })?;
        if !meta.is_file() {
            return Err(error(
                "unreadable",
                format!("{} is not a file.", path.display()),
            ));
        }
        sources.push((path.clone(), meta.len()));
    }
    let quality = quality.unwrap_or(ctx.files.prefs.get().photo_quality);
    let mut rows = Vec::with_capacity(sources.len());
    for (path, size) in sources {
        let uid = new_id();
        let dir = format!("out-{uid}");
        let folder = files_dir(&ctx.data_dir).join(&dir);
        let original = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let folder2 = folder.clone();
        let prepared = tokio::task::spawn_blocking(move || {
            prepare(&path, &folder2, &original, size, quality, max)
        })
        .await
        .map_err(|_| crate::Error::Internal("preparing a file"))?;
        let mut info = match prepared {
            Ok(info) => info,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&folder);
                return Err(e);
            }
        };
        info.dir = Some(dir);
        let intent = crate::services::chat::intent_for(ctx, peer, kind, true).await;
        info.encrypt = intent.encryption() == crate::outbound::intent::Encryption::Omemo;
        let row = crate::outbound::queue_message(
            ctx,
            peer,
            &info.name,
            None,
            kind,
            sender.as_deref(),
            &intent,
            Some((uid, info.to_json())),
        )
        .await?;
        if let Some(h) = handle {
            let _ = h.queue(row.id, intent).await;
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Copies (or, for a photo, prepares) one file into its folder; blocking.
fn prepare(
    src: &Path,
    folder: &Path,
    original_name: &str,
    size: u64,
    quality: super::PhotoQuality,
    max: Option<u64>,
) -> crate::Result<FileInfo> {
    let unreadable = |e: &dyn std::fmt::Display| {
        error(
            "unreadable",
            format!("Tern could not read {}: {e}.", src.display()),
        )
    };
    std::fs::create_dir_all(folder).map_err(|e| unreadable(&e))?;
    let limits = media::Limits::DEFAULT;
    let name = safe_name(original_name);
    let mut info = FileInfo {
        state: FileState::Uploading,
        wanted: true,
        ..FileInfo::default()
    };
    let photo = media::probe(src, &limits)
        .ok()
        .filter(|p| !p.animated)
        .map(|_| ());
    let prepared_photo = photo.and_then(|()| {
        let q = match quality {
            super::PhotoQuality::Smaller => media::Quality::Smaller,
            super::PhotoQuality::Original => media::Quality::Original,
        };
        let tmp = folder.join(".photo");
        match media::prepare_photo(src, &tmp, q, &limits) {
            Ok(p) => Some((tmp, p)),
            Err(e) => {
                tracing::info!("sent as a file, not as a photo: {e}");
                let _ = std::fs::remove_file(&tmp);
                None
            }
        }
    });
    let dst = if let Some((tmp, p)) = prepared_photo {
        let stem = Path::new(&name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "photo".into());
        let name = safe_name(&format!("{stem}.{}", p.name_ext));
        let dst = folder.join(&name);
        std::fs::rename(&tmp, &dst).map_err(|e| unreadable(&e))?;
        info.name = name;
        info.media_type = Some(p.media_type.to_string());
        info.size = Some(p.size);
        info.width = Some(p.width);
        info.height = Some(p.height);
        info.sha256 = Some(base64::engine::general_purpose::STANDARD.encode(p.sha256));
        info.image = true;
        dst
    } else {
        if let Some(max) = max.filter(|m| size > *m) {
            return Err(too_large(size, max));
        }
        let dst = folder.join(&name);
        let (copied, sha) = copy_hashing(src, &dst).map_err(|e| unreadable(&e))?;
        info.name = name;
        info.size = Some(copied);
        info.sha256 = Some(base64::engine::general_purpose::STANDARD.encode(sha));
        if let Ok(p) = media::probe(&dst, &limits) {
            info.media_type = Some(p.media_type.to_string());
            info.width = Some(p.width);
            info.height = Some(p.height);
            info.image = true;
            info.animated = p.animated;
        } else {
            info.media_type = Some(media_type_of(&info.name).to_string());
        }
        dst
    };
    if let (Some(max), Some(size)) = (max, info.size) {
        if size > max {
            return Err(too_large(size, max));
        }
    }
    if info.image {
        write_previews(&dst, folder, &mut info, true);
    }
    Ok(info)
}

/// Writes the preview next to a local image, and (for sending) keeps a
/// tiny thumbnail for the message. Failures leave the file without one.
pub(crate) fn write_previews(image: &Path, folder: &Path, info: &mut FileInfo, tiny: bool) {
    let limits = media::Limits::DEFAULT;
    match media::thumbnail(image, PREVIEW_SIDE, &limits) {
        Ok(t) => {
            let name = if t.media_type == "image/png" {
                super::PREVIEW_PNG
            } else {
                super::PREVIEW_JPEG
            };
            if std::fs::write(folder.join(name), &t.bytes).is_ok() {
                info.preview = Some(name.to_string());
            }
        }
        Err(e) => tracing::info!("no preview: {e}"),
    }
    if tiny {
        // From the preview when there is one: a few pixels need no second
        // decoding of a large photo.
        let source = info
            .preview
            .as_deref()
            .map(|p| folder.join(p))
            .unwrap_or_else(|| image.to_path_buf());
        if let Ok(t) = media::tiny_thumbnail(&source, &limits) {
            info.thumbnail = Some(crate::xep::sfs::data_uri(t.media_type, &t.bytes));
        }
    }
}

/// Copies a file, streaming, and returns its size and SHA-256.
fn copy_hashing(src: &Path, dst: &Path) -> std::io::Result<(u64, [u8; 32])> {
    use std::io::{Read, Write};
    let mut input = std::fs::File::open(src)?;
    let mut output = std::io::BufWriter::new(std::fs::File::create(dst)?);
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        output.write_all(&buf[..n])?;
        total += n as u64;
    }
    output.flush()?;
    output.get_ref().sync_all()?;
    Ok((total, hash.finalize().into()))
}

/// A media type from a file name's extension (for files that are not
/// images Tern reads); `application/octet-stream` when unknown.
pub(crate) fn media_type_of(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "zip" => "application/zip",
        "mp3" => "audio/mpeg",
        "ogg" | "oga" | "opus" => "audio/ogg",
        "m4a" => "audio/mp4",
        "mp4" | "m4v" => "video/mp4",
        "webm" => "video/webm",
        "mov" => "video/quicktime",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "odt" => "application/vnd.oasis.opendocument.text",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ods" => "application/vnd.oasis.opendocument.spreadsheet",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        _ => "application/octet-stream",
    }
}

/// The stanza announcing an uploaded file; `Upload` while it has no link.
/// `encrypted`: the announcement is to be encrypted (the caller does it),
/// so the file is encrypted before its upload and the stanza carries the
/// link as its body only (XEP-0454: what Conversations and Dino send; the
/// metadata elements would show the link to the servers in plain).
pub(crate) async fn announcement(
    ctx: &Ctx,
    via: Via,
    row: &MessageRow,
    encrypted: bool,
) -> Prepared {
    let Some(mut info) = FileInfo::from_json(row.file.as_deref()) else {
        return Prepared::Unsendable("the file's record is damaged");
    };
    let Some(url) = info
        .url
        .clone()
        .filter(|_| info.state == FileState::Uploaded)
    else {
        if encrypted && !info.encrypt {
            info.encrypt = true;
            if let Err(e) = ctx.store.set_file(row.id, &info.to_json(), None).await {
                tracing::warn!("file record not updated: {e}");
                return Prepared::Held("Tern could not prepare the file for encryption.".into());
            }
        }
        return Prepared::Upload;
    };
    let id = row.msg_id.clone().unwrap_or_else(|| row.uid.clone());
    // A caption sent with the file would be the body; Tern sends captions
    // as their own message, so the body is the link (what clients without
    // file sharing show, and what Conversations requires of OOB).
    let stanza = Outgoing {
        to: &row.peer,
        id: &id,
        body: Some(&url),
        content: true,
        groupchat: via == Via::Group,
        room_private: via == Via::RoomPrivate,
        ..Default::default()
    }
    .message();
    let Some(mut m) = stanza else {
        return Prepared::Unsendable("the message could not be built");
    };
    if !encrypted {
        m.payloads.push(crate::xep::oob::element(&url, None));
        m.payloads.push(crate::xep::sfs::file_sharing(
            &metadata(&info),
            &[url],
            Some(&row.uid),
        ));
    }
    Prepared::Ready(Box::new(m))
}

/// The XEP-0446 metadata of a file Tern sends.
fn metadata(info: &FileInfo) -> crate::xep::sfs::FileMeta {
    let sha256 = info
        .sha256
        .as_deref()
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|v| <[u8; 32]>::try_from(v).ok());
    let thumbnails = info
        .thumbnail
        .iter()
        .filter_map(|uri| {
            let (media_type, _) = crate::xep::sfs::read_data_uri(uri)?;
            Some(crate::xep::sfs::Thumbnail {
                uri: uri.clone(),
                media_type: Some(media_type),
                width: None,
                height: None,
            })
        })
        .collect();
    crate::xep::sfs::FileMeta {
        name: Some(info.name.clone()),
        media_type: info.media_type.clone(),
        size: info.size,
        width: info.width,
        height: info.height,
        sha256,
        desc: None,
        thumbnails,
    }
}

/// Starts a message's upload in the background, unless it runs already.
pub(crate) fn start(handle: &AccountHandle, message_id: i64) {
    let h = handle.clone();
    tokio::spawn(async move {
        let files = h.ctx().files.clone();
        let Some(running) = files.transfers.start(message_id) else {
            return;
        };
        let _turn = tokio::select! {
            p = files.uploads.acquire() => p.ok(),
            _ = running.token.cancelled() => None,
        };
        let ctx = h.ctx();
        match upload(&h, message_id, &running.token).await {
            // Back to the queue with its link (a new session's flush
            // finds it in the stored queue anyway).
            Ok(intent) => h.unpark(message_id, intent).await,
            Err((code, text)) => {
                fail(ctx, message_id, &code, &text).await;
                h.unpark(message_id, None).await;
            }
        }
        drop(running);
    });
}

/// One upload, with its retries; the message's intent once it has its
/// link, `None` when the message is gone.
async fn upload(
    h: &AccountHandle,
    message_id: i64,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<Option<Intent>, (String, String)> {
    let ctx = h.ctx();
    let mut attempt = 0;
    loop {
        let Some(row) = ctx.store.message(message_id).await.ok().flatten() else {
            return Ok(None);
        };
        let Some(mut info) = FileInfo::from_json(row.file.as_deref()) else {
            return Err(("damaged".into(), "The file's record is damaged.".into()));
        };
        // As it was queued (its encryption too).
        let stored = ctx.store.outbox_intent(message_id).await.ok().flatten();
        let intent = match stored.as_deref().and_then(Intent::from_json) {
            Some(intent) => intent,
            None => {
                let kind = crate::services::chat::kind_of(ctx, &row.peer).await;
                crate::services::chat::intent_for(ctx, &row.peer, kind, true).await
            }
        };
        if info.state == FileState::Uploaded && info.url.is_some() {
            return Ok(Some(intent));
        }
        let Some(path) = info.local_path(&ctx.data_dir) else {
            return Err((
                "missing".into(),
                "The copy of this file in Tern's data folder is gone; send it again.".into(),
            ));
        };
        match upload_once(h, message_id, &info, &path, cancel).await {
            Ok(url) => {
                info.url = Some(url);
                info.state = FileState::Uploaded;
                info.error = None;
                info.error_text = None;
                if let Ok(Some(m)) = ctx.store.set_file(message_id, &info.to_json(), None).await {
                    ctx.hub.emit(ClientEvent::Message {
                        message: MessageView::from(m),
                    });
                }
                return Ok(Some(intent));
            }
            Err(Failure::Final(code, text)) => return Err((code, text)),
            Err(Failure::Retry(code, text)) => {
                if attempt + 1 >= ATTEMPTS {
                    return Err((code, text));
                }
                let wait = BACKOFF[(attempt as usize).min(BACKOFF.len() - 1)];
                tracing::info!(message_id, ?wait, "upload failed ({text}); trying again");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = cancel.cancelled() => return Err(cancelled()),
                }
                attempt += 1;
            }
        }
    }
}

fn cancelled() -> (String, String) {
    ("cancelled".into(), "You cancelled the upload.".into())
}

/// Why one upload attempt failed.
enum Failure {
    /// Trying again may work (network, server busy).
    Retry(String, String),
    /// It will not.
    Final(String, String),
}

async fn upload_once(
    h: &AccountHandle,
    message_id: i64,
    info: &FileInfo,
    path: &Path,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<String, Failure> {
    let ctx = h.ctx();
    let not_connected = || {
        Failure::Retry(
            "network".into(),
            "Tern is not connected to your server.".into(),
        )
    };
    let service = match ctx.upload.get() {
        Some(known) => known,
        None => discover(h).await.map_err(|_| not_connected())?,
    };
    let Some(service) = service else {
        let e = no_service(ctx);
        return Err(Failure::Final("no_service".into(), e.to_string()));
    };
    let size = std::fs::metadata(path).map(|m| m.len()).map_err(|e| {
        Failure::Final(
            "missing".into(),
            format!("Tern could not read the file: {e}."),
        )
    })?;
    if let Some(max) = service.max_size.filter(|m| size > *m) {
        let e = too_large(size, max);
        return Err(Failure::Final("too_large".into(), e.to_string()));
    }
    let content_type = info
        .media_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".into());
    let to = Jid::new(&service.jid).map_err(|_| {
        Failure::Final(
            "no_service".into(),
            "The upload service's address is not valid.".into(),
        )
    })?;
    // An encrypted file is sent with its tag: 16 bytes more.
    let sent_size = if info.encrypt { size + 16 } else { size };
    let iq = crate::xep::upload::slot_request(
        &to,
        &new_id(),
        &info.name,
        sent_size,
        Some(&content_type),
    );
    let slot = match h.request(iq).await {
        Ok(Iq::Result {
            payload: Some(p), ..
        }) => crate::xep::upload::parse_slot(&p).ok_or_else(|| {
            Failure::Final(
                "refused".into(),
                "Your server's upload service gave an unusable answer.".into(),
            )
        })?,
        Ok(_) => {
            return Err(Failure::Final(
                "refused".into(),
                "Your server's upload service gave no upload address.".into(),
            ))
        }
        Err(crate::Error::Stanza { condition, text }) => {
            return Err(slot_refused(&condition, text.as_deref()))
        }
        Err(crate::Error::Timeout) | Err(crate::Error::NotConnected(_)) => {
            return Err(not_connected())
        }
        Err(e) => return Err(Failure::Retry("network".into(), e.to_string())),
    };
    let client = ctx.http_client();
    let progress = super::Progress::new(ctx, message_id);
    let progress = |done: u64| progress.report(done, Some(size));
    let upload = crate::net::http::Upload {
        url: &slot.put_url,
        headers: &slot.put_headers,
        content_type: &content_type,
        path,
        size,
    };
    let mut encrypting = info.encrypt.then(Encrypting::new);
    let transform = encrypting
        .as_mut()
        .map(|e| e as &mut dyn crate::net::http::ChunkTransform);
    match client.put_file(&upload, transform, &progress, cancel).await {
        Ok(()) => Ok(match encrypting {
            Some(e) => e.link(slot.get_url).to_url(),
            None => slot.get_url,
        }),
        Err(TransferError::Cancelled) => {
            let (c, t) = cancelled();
            Err(Failure::Final(c, t))
        }
        Err(e) if e.retryable() => Err(Failure::Retry("network".into(), e.to_string())),
        Err(e) => Err(Failure::Final(transfer_code(&e).into(), e.to_string())),
    }
}

/// Encrypts a file as it is uploaded (XEP-0454: AES-256-GCM with a fresh
/// key and a 12-byte IV, the tag appended).
struct Encrypting {
    key: [u8; 32],
    iv: [u8; 12],
    cipher: Option<super::cipher::Encryptor>,
}

impl Encrypting {
    fn new() -> Encrypting {
        let key: [u8; 32] = rand::random();
        let iv: [u8; 12] = rand::random();
        Encrypting {
            cipher: super::cipher::Encryptor::new(&key, &iv),
            key,
            iv,
        }
    }

    /// The `aesgcm://` link of the uploaded file.
    fn link(&self, https_url: String) -> crate::xep::aesgcm::AesGcmLink {
        crate::xep::aesgcm::AesGcmLink {
            https_url,
            iv: self.iv.to_vec(),
            key: self.key,
        }
    }
}

impl crate::net::http::ChunkTransform for Encrypting {
    fn trailer_len(&self) -> u64 {
        16
    }

    fn apply(&mut self, chunk: &mut [u8]) {
        if let Some(c) = self.cipher.as_mut() {
            // Files beyond GCM's limit (64 GiB) are far above any
            // server's; should one come, its tag is missing and the
            // upload fails.
            if c.update(chunk).is_err() {
                self.cipher = None;
            }
        }
    }

    fn finish(&mut self) -> Vec<u8> {
        self.cipher
            .take()
            .map(|c| c.finish().to_vec())
            .unwrap_or_default()
    }
}

/// The short code of a transfer failure.
pub(crate) fn transfer_code(e: &TransferError) -> &'static str {
    match e {
        TransferError::Tls(_) => "tls",
        TransferError::TooLarge { .. } => "too_large",
        TransferError::Status(404 | 410) => "not_found",
        TransferError::Status(401 | 403) => "not_allowed",
        TransferError::Status(413) => "too_large",
        TransferError::Cancelled => "cancelled",
        TransferError::SizeMismatch { .. } => "corrupt",
        _ => "network",
    }
}

fn slot_refused(condition: &str, text: Option<&str>) -> Failure {
    let said = text
        .filter(|t| !t.is_empty())
        .map(|t| format!(" It said: {t}"))
        .unwrap_or_default();
    match condition {
        "not-acceptable" | "policy-violation" => Failure::Final(
            "too_large".into(),
            format!("Your server refused this file: it is too large or of a kind it does not take.{said}"),
        ),
        "resource-constraint" => Failure::Retry(
            "refused".into(),
            format!("Your server's upload service is busy or your quota is used up.{said}"),
        ),
        "forbidden" | "not-allowed" => Failure::Final(
            "not_allowed".into(),
            format!("Your server does not let this account upload files.{said}"),
        ),
        _ => Failure::Final(
            "refused".into(),
            format!("Your server refused the upload ({condition}).{said}"),
        ),
    }
}

/// Marks a file's upload failed: the message leaves the send queue as
/// failed, with the reason; the user may send it again.
async fn fail(ctx: &Ctx, message_id: i64, code: &str, text: &str) {
    tracing::info!(message_id, code, "upload failed: {text}");
    let Ok(Some(row)) = ctx.store.message(message_id).await else {
        return;
    };
    if let Some(mut info) = FileInfo::from_json(row.file.as_deref()) {
        info.state = FileState::Failed;
        info.error = Some(code.to_string());
        info.error_text = Some(text.to_string());
        let _ = ctx.store.set_file(message_id, &info.to_json(), None).await;
    }
    let _ = ctx.store.outbox_done(message_id).await;
    if let Ok(Some(m)) = ctx
        .store
        .fail_message(message_id, Some(code), Some(text))
        .await
    {
        let peer = m.peer.clone();
        ctx.hub.emit(ClientEvent::Message { message: m.into() });
        emit_conversation(ctx, &peer).await;
    }
}

/// Makes a failed upload ready to run again (its state back to upload).
pub(crate) async fn reset_for_retry(ctx: &Ctx, m: &MessageRow) -> crate::Result<()> {
    let Some(mut info) = FileInfo::from_json(m.file.as_deref()) else {
        return Ok(());
    };
    if info.state == FileState::Failed {
        info.state = if info.url.is_some() {
            FileState::Uploaded
        } else {
            FileState::Uploading
        };
        info.error = None;
        info.error_text = None;
        ctx.store.set_file(m.id, &info.to_json(), None).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_say_them() {
        assert_eq!(human_size(12), "12 bytes");
        assert_eq!(human_size(1_500), "1.5 KB");
        assert_eq!(human_size(10 * 1024 * 1024), "10 MB");
        assert_eq!(human_size(12_300_000), "12 MB");
        assert_eq!(human_size(200_000_000), "200 MB");
        assert_eq!(human_size(3_000_000_000), "3.0 GB");
    }

    #[tokio::test]
    async fn an_encrypted_upload_decrypts_to_the_file() {
        use tern_testkit::web::{Reply, WebServer};
        let web = WebServer::start().unwrap();
        web.route("/up", Reply::Accept { status: 201 });
        let dir = tempfile::tempdir().unwrap();
        let plain: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let path = dir.path().join("f");
        std::fs::write(&path, &plain).unwrap();
        let trust = crate::tls::TlsTrust {
            extra_roots: vec![tern_testkit::TestCa::global().ca_cert_der()],
            pin: None,
        };
        let client = crate::net::http::HttpClient::new(trust, Vec::new());
        let url = web.url("/up");
        let upload = crate::net::http::Upload {
            url: &url,
            headers: &[],
            content_type: "application/octet-stream",
            path: &path,
            size: plain.len() as u64,
        };
        let mut enc = Encrypting::new();
        client
            .put_file(
                &upload,
                Some(&mut enc),
                &|_| {},
                &tokio_util::sync::CancellationToken::new(),
            )
            .await
            .unwrap();
        let link = enc.link("https://h.example/f".into()).to_url();
        assert!(link.starts_with("aesgcm://h.example/f#"), "{link}");
        let link = crate::xep::aesgcm::parse(&link).unwrap();
        let mut body = web.received("/up");
        assert_eq!(body.len(), plain.len() + 16, "the tag is appended");
        assert_ne!(&body[..100], &plain[..100]);
        let tag: [u8; 16] = body.split_off(plain.len()).try_into().unwrap();
        let mut dec = crate::services::files::cipher::Decryptor::new(&link.key, &link.iv).unwrap();
        dec.update(&mut body).unwrap();
        dec.finish(&tag).unwrap();
        assert_eq!(body, plain);
    }
}
