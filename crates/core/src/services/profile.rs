//! How people present themselves: avatars (XEP-0084, with the vCard photo
//! of XEP-0153 as fallback), nicknames (XEP-0172) and vCards (XEP-0054).
//!
//! Avatar images are kept once per image in `avatars/<sha1>` in the data
//! folder; the database only says whose avatar is which hash. An image is
//! written only after its SHA-1 matched the announced id and it decoded as
//! a picture of sane size, so the UI can show any cached file as it is.

use std::collections::HashSet;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use sha1::{Digest, Sha1};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::minidom::Element;

use crate::account::ctx::Ctx;
use crate::account::AccountHandle;
use crate::error::{Error, Result};
use crate::events::ClientEvent;
use crate::xep::avatar::{self, Announced};
use crate::xep::vcard_update::{self, Photo};
use crate::xep::{clean_text, nick, pubsub, vcard};

pub(crate) const NS_AVATAR_DATA: &str = xmpp_parsers::ns::AVATAR_DATA;
pub(crate) const NS_AVATAR_METADATA: &str = xmpp_parsers::ns::AVATAR_METADATA;
pub(crate) const NS_NICK: &str = xmpp_parsers::ns::NICK;

/// Largest avatar image accepted from others.
pub const MAX_AVATAR_BYTES: usize = 1024 * 1024;
/// Largest width or height of an avatar accepted from others.
const MAX_AVATAR_SIDE: u32 = 4096;
/// Largest picture the user may choose as their avatar (it is scaled down).
pub const MAX_SOURCE_IMAGE_BYTES: usize = 32 * 1024 * 1024;
/// Side of the square Tern scales the user's own avatar into.
const OWN_AVATAR_SIDE: u32 = 256;

/// The avatar and nickname of someone, as the UI shows them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ProfileView {
    /// SHA-1 (hex) of the avatar; the image is `avatars/<hash>` in the data
    /// folder.
    pub avatar: Option<String>,
    /// Nickname they chose.
    pub nickname: Option<String>,
}

/// What a vCard (XEP-0054) says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct VCardView {
    /// Full name (FN).
    pub full_name: Option<String>,
    /// Nickname.
    pub nickname: Option<String>,
    /// Given and family name (N).
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Email addresses.
    pub emails: Vec<String>,
    /// Phone numbers.
    pub phones: Vec<String>,
    /// Web address.
    pub url: Option<String>,
    /// Organisation.
    pub organisation: Option<String>,
    /// Job title.
    pub title: Option<String>,
    /// Birthday as written.
    pub birthday: Option<String>,
    /// Free text about them (DESC).
    pub description: Option<String>,
    /// SHA-1 of the photo, cached like avatars.
    pub photo: Option<String>,
}

/// Avatar downloads in progress for one account (by hash).
#[derive(Default, Debug)]
pub(crate) struct Fetching(Mutex<HashSet<String>>);

impl Fetching {
    fn start(&self, hash: &str) -> bool {
        match self.0.lock() {
            Ok(mut g) => g.insert(hash.to_string()),
            Err(p) => p.into_inner().insert(hash.to_string()),
        }
    }
    fn done(&self, hash: &str) {
        match self.0.lock() {
            Ok(mut g) => g.remove(hash),
            Err(p) => p.into_inner().remove(hash),
        };
    }
}

/// What is stored of `jid`'s avatar and nickname.
pub(crate) async fn stored_profile(ctx: &Ctx, jid: &str) -> Result<ProfileView> {
    let row = ctx.store.profile(&ctx.account, jid).await?;
    Ok(ProfileView {
        avatar: row.avatar,
        nickname: row.nickname,
    })
}

/// Whether `s` is a SHA-1 in lowercase hex (what names avatar files).
pub fn is_avatar_hash(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn sha1_hex(bytes: &[u8]) -> String {
    hex::encode(Sha1::digest(bytes))
}

/// The file an avatar is cached in.
pub(crate) fn avatar_path(data_dir: &Path, hash: &str) -> Option<PathBuf> {
    is_avatar_hash(hash).then(|| data_dir.join("avatars").join(hash))
}

/// Checks that `bytes` is a picture of sane size: (width, height, MIME type).
fn inspect(bytes: &[u8], max_bytes: usize) -> std::result::Result<(u32, u32, String), String> {
    if bytes.len() > max_bytes {
        return Err(format!("{} bytes is too large", bytes.len()));
    }
    let reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    let format = reader
        .format()
        .ok_or_else(|| "not a PNG, JPEG, GIF or WebP image".to_string())?;
    let (w, h) = reader.into_dimensions().map_err(|e| e.to_string())?;
    if w == 0 || h == 0 || w > MAX_AVATAR_SIDE || h > MAX_AVATAR_SIDE {
        return Err(format!("{w}x{h} pixels is not a usable size"));
    }
    Ok((w, h, format.to_mime_type().to_string()))
}

/// Writes a verified avatar to the cache. `false` (with a log line) when
/// the bytes are not the announced hash or not a usable image.
async fn save(ctx: &Ctx, hash: &str, bytes: Vec<u8>) -> bool {
    let Some(path) = avatar_path(&ctx.data_dir, hash) else {
        return false;
    };
    if sha1_hex(&bytes) != hash {
        tracing::warn!(hash, "avatar data does not match its hash; ignored");
        return false;
    }
    let checked = tokio::task::spawn_blocking(move || {
        inspect(&bytes, MAX_AVATAR_BYTES)?;
        write_atomically(&path, &bytes).map_err(|e| e.to_string())
    })
    .await;
    match checked {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(hash, "avatar ignored: {e}");
            false
        }
        Err(e) => {
            tracing::warn!(hash, "avatar check failed: {e}");
            false
        }
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{:08x}.part",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("avatar"),
        rand::random::<u32>()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn cached(ctx: &Ctx, hash: &str) -> bool {
    avatar_path(&ctx.data_dir, hash).is_some_and(|p| p.exists())
}

/// Tells the UI what is now known of `jid`.
pub(crate) async fn emit(handle: &AccountHandle, jid: &str) {
    let ctx = handle.ctx();
    let row = ctx
        .store
        .profile(&ctx.account, jid)
        .await
        .unwrap_or_default();
    ctx.hub.emit(ClientEvent::Profile {
        account: ctx.account.clone(),
        jid: jid.to_string(),
        profile: ProfileView {
            avatar: row.avatar,
            nickname: row.nickname,
        },
    });
    if jid != ctx.account {
        crate::services::roster::emit_if_contact(ctx, handle.presences(), jid).await;
    }
}

/// A PEP notification (XEP-0163) for avatar metadata or nickname. Returns
/// whether the message was one.
pub(crate) async fn on_pep_event(handle: &AccountHandle, from: &Jid, event: &Element) -> bool {
    if !pubsub::is_event(event) {
        return false;
    }
    // PEP notifications come from the owner's bare address.
    if from.resource().is_some() {
        tracing::debug!(%from, "PEP event from a full address ignored");
        return true;
    }
    let jid = from.to_bare().to_string();
    let Some(published) = pubsub::read_event(event) else {
        return true;
    };
    let payload = published.payload.as_ref();
    match published.node.as_str() {
        NS_AVATAR_METADATA => {
            let Some(meta) = payload.filter(|p| p.is("metadata", NS_AVATAR_METADATA)) else {
                return true;
            };
            on_avatar_metadata(handle, &jid, meta).await;
        }
        NS_NICK => {
            let nick = payload.and_then(nick::read);
            let ctx = handle.ctx();
            if let Err(e) = ctx
                .store
                .set_nickname(&ctx.account, &jid, nick.as_deref())
                .await
            {
                tracing::warn!("storing a nickname failed: {e}");
                return true;
            }
            emit(handle, &jid).await;
        }
        _ => {}
    }
    true
}

async fn on_avatar_metadata(handle: &AccountHandle, jid: &str, meta: &Element) {
    let ctx = handle.ctx();
    // XEP-0084 §4.2: an empty <metadata/> means "no avatar"; the PNG one is
    // the one every client can read and the one stored in the data node.
    let (hash, size) = match avatar::read_metadata(meta) {
        Announced::NoAvatar => {
            let _ = ctx
                .store
                .set_avatar(&ctx.account, jid, None, Some("pep"))
                .await;
            emit(handle, jid).await;
            return;
        }
        Announced::Image { sha1, bytes } => (sha1, usize::try_from(bytes).unwrap_or(usize::MAX)),
        Announced::Unusable => {
            tracing::info!(jid, "avatar metadata without a usable image ignored");
            return;
        }
    };
    if !is_avatar_hash(&hash) || size > MAX_AVATAR_BYTES {
        tracing::warn!(jid, "unusable avatar metadata ignored");
        return;
    }
    let current = ctx
        .store
        .profile(&ctx.account, jid)
        .await
        .unwrap_or_default();
    if current.avatar.as_deref() == Some(hash.as_str()) && cached(ctx, &hash) {
        return;
    }
    if cached(ctx, &hash) {
        let _ = ctx
            .store
            .set_avatar(&ctx.account, jid, Some(&hash), Some("pep"))
            .await;
        emit(handle, jid).await;
        return;
    }
    if !ctx.fetching.start(&hash) {
        return;
    }
    let handle = handle.clone();
    let jid = jid.to_string();
    tokio::spawn(async move {
        let ok = fetch_pep_avatar(&handle, &jid, &hash).await;
        let ctx = handle.ctx();
        ctx.fetching.done(&hash);
        if ok {
            let _ = ctx
                .store
                .set_avatar(&ctx.account, &jid, Some(&hash), Some("pep"))
                .await;
            emit(&handle, &jid).await;
        }
    });
}

async fn fetch_pep_avatar(handle: &AccountHandle, jid: &str, hash: &str) -> bool {
    let Ok(to) = Jid::new(jid) else {
        return false;
    };
    let answer = match handle
        .request(pubsub::item_request(to, NS_AVATAR_DATA, hash))
        .await
    {
        Ok(Iq::Result {
            payload: Some(p), ..
        }) => p,
        Ok(_) => return false,
        Err(e) => {
            tracing::info!(jid, "avatar download failed: {e}");
            return false;
        }
    };
    let Some(items) = pubsub::read_items(answer) else {
        tracing::info!(jid, "avatar data missing from the answer");
        return false;
    };
    match avatar::read_data(items, hash, MAX_AVATAR_BYTES) {
        Ok(bytes) => save(handle.ctx(), hash, bytes).await,
        Err(e @ avatar::DataError::Missing) => {
            tracing::info!(jid, "{e}");
            false
        }
        Err(e) => {
            tracing::warn!(jid, "{e}");
            false
        }
    }
}

/// A presence carried a vCard photo hash (XEP-0153): used only when the
/// contact has no PEP avatar.
pub(crate) async fn on_vcard_update(handle: &AccountHandle, from: &Jid, x: &Element) {
    let ctx = handle.ctx();
    let hash = match vcard_update::read(x) {
        // No <photo/>: the sender is not ready to say (XEP-0153 §3.2).
        Photo::Unknown => return,
        Photo::Nothing => String::new(),
        Photo::Sha1(hash) => hash,
    };
    let jid = from.to_bare().to_string();
    let current = ctx
        .store
        .profile(&ctx.account, &jid)
        .await
        .unwrap_or_default();
    if current.avatar_source.as_deref() == Some("pep") {
        return;
    }
    if hash.is_empty() {
        if current.avatar.is_some() {
            let _ = ctx
                .store
                .set_avatar(&ctx.account, &jid, None, Some("vcard"))
                .await;
            emit(handle, &jid).await;
        }
        return;
    }
    if !is_avatar_hash(&hash) || current.avatar.as_deref() == Some(hash.as_str()) {
        return;
    }
    if cached(ctx, &hash) {
        let _ = ctx
            .store
            .set_avatar(&ctx.account, &jid, Some(&hash), Some("vcard"))
            .await;
        emit(handle, &jid).await;
        return;
    }
    if !ctx.fetching.start(&hash) {
        return;
    }
    let handle = handle.clone();
    tokio::spawn(async move {
        let fetched = fetch_vcard(&handle, Some(&jid)).await;
        let ctx = handle.ctx();
        ctx.fetching.done(&hash);
        match fetched {
            Ok(card) if card.photo.as_deref() == Some(hash.as_str()) => {
                // The contact may have published a PEP avatar meanwhile.
                let now = ctx
                    .store
                    .profile(&ctx.account, &jid)
                    .await
                    .unwrap_or_default();
                if now.avatar_source.as_deref() != Some("pep") {
                    let _ = ctx
                        .store
                        .set_avatar(&ctx.account, &jid, Some(&hash), Some("vcard"))
                        .await;
                    emit(&handle, &jid).await;
                }
            }
            Ok(_) => tracing::info!(%jid, "vCard photo does not match the announced hash"),
            Err(e) => tracing::info!(%jid, "vCard download failed: {e}"),
        }
    });
}

/// Fetches and parses a vCard (`None` = the user's own), caching its photo.
pub(crate) async fn fetch_vcard(handle: &AccountHandle, jid: Option<&str>) -> Result<VCardView> {
    let to = match jid {
        Some(jid) => Some(Jid::from(BareJid::new(jid).map_err(|e| {
            Error::InvalidJid {
                input: jid.to_string(),
                detail: e.to_string(),
            }
        })?)),
        None => None,
    };
    let el = match handle.request(vcard::request(to)).await {
        Ok(Iq::Result {
            payload: Some(p), ..
        }) => p,
        Ok(_) => return Ok(VCardView::default()),
        // No vCard is not an error for the person asking.
        Err(Error::Stanza { condition, .. })
            if condition == "item-not-found" || condition == "service-unavailable" =>
        {
            return Ok(VCardView::default())
        }
        Err(e) => return Err(e),
    };
    let (mut card, photo) = parse_vcard(&el);
    if let Some(photo) = photo {
        let hash = sha1_hex(&photo);
        if cached(handle.ctx(), &hash) || save(handle.ctx(), &hash, photo).await {
            card.photo = Some(hash);
        }
    }
    Ok(card)
}

/// Reads a vCard element: its text fields, and its photo (at most
/// [`MAX_AVATAR_BYTES`]) still to be cached.
pub(crate) fn parse_vcard(el: &Element) -> (VCardView, Option<Vec<u8>>) {
    let card = vcard::read(el, MAX_AVATAR_BYTES);
    let view = VCardView {
        full_name: card.full_name,
        nickname: card.nickname,
        given_name: card.given_name,
        family_name: card.family_name,
        emails: card.emails,
        phones: card.phones,
        url: card.url,
        organisation: card.organisation,
        title: card.title,
        birthday: card.birthday,
        description: card.description,
        photo: None,
    };
    (view, card.photo)
}

/// The part of a picture to make the avatar of, as fractions (0 to 1) of
/// the picture's width and height as it is shown (EXIF orientation
/// applied). The UI keeps it square; `None` takes the largest centred square.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
pub struct Crop {
    /// Left edge, from the picture's left.
    pub left: f64,
    /// Top edge, from the picture's top.
    pub top: f64,
    /// Width, of the picture's width.
    pub width: f64,
    /// Height, of the picture's height.
    pub height: f64,
}

impl Crop {
    /// The crop in pixels of a `w`x`h` picture, inside it and at least one
    /// pixel; `None` when the numbers make no rectangle.
    fn pixels(&self, w: u32, h: u32) -> Option<(u32, u32, u32, u32)> {
        let ok = |v: f64| v.is_finite() && (0.0..=1.0).contains(&v);
        if ![self.left, self.top, self.width, self.height]
            .into_iter()
            .all(ok)
            || self.width == 0.0
            || self.height == 0.0
        {
            return None;
        }
        let px = |f: f64, n: u32| ((f * f64::from(n)).round() as u32).min(n);
        let (x, y) = (px(self.left, w).min(w - 1), px(self.top, h).min(h - 1));
        let cw = px(self.width, w).clamp(1, w - x);
        let ch = px(self.height, h).clamp(1, h - y);
        Some((x, y, cw, ch))
    }
}

/// Reads a picture the user chose and makes their avatar of it: turned
/// upright, cut to `crop` (or the centred square), scaled into 256x256 and
/// encoded as PNG. Returns (png, width, height).
fn make_own_avatar(
    bytes: &[u8],
    crop: Option<Crop>,
) -> std::result::Result<(Vec<u8>, u32, u32), String> {
    if bytes.len() > MAX_SOURCE_IMAGE_BYTES {
        return Err(format!(
            "the picture is {} MB; choose one under {} MB",
            bytes.len() / (1024 * 1024),
            MAX_SOURCE_IMAGE_BYTES / (1024 * 1024)
        ));
    }
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    if reader.format().is_none() {
        return Err("it is not a PNG, JPEG, GIF or WebP picture".into());
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(16_384);
    limits.max_image_height = Some(16_384);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let unreadable = |e: image::ImageError| format!("the picture could not be read ({e})");
    let mut decoder = reader.into_decoder().map_err(unreadable)?;
    let orientation = image::ImageDecoder::orientation(&mut decoder)
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    img.apply_orientation(orientation);
    let (w, h) = (img.width(), img.height());
    if w == 0 || h == 0 {
        return Err("the picture is empty".into());
    }
    let (x, y, cw, ch) = match crop {
        Some(c) => c
            .pixels(w, h)
            .ok_or("the part of the picture to use is not inside it")?,
        None => {
            let side = w.min(h);
            ((w - side) / 2, (h - side) / 2, side, side)
        }
    };
    let img = if (x, y, cw, ch) == (0, 0, w, h) {
        img
    } else {
        img.crop_imm(x, y, cw, ch)
    };
    let img = if img.width() > OWN_AVATAR_SIDE || img.height() > OWN_AVATAR_SIDE {
        img.resize(
            OWN_AVATAR_SIDE,
            OWN_AVATAR_SIDE,
            image::imageops::FilterType::Lanczos3,
        )
    } else {
        img
    };
    let mut png = Vec::new();
    img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    Ok((png, img.width(), img.height()))
}

/// Publishes to the user's PEP, readable by anyone (as avatars and
/// nicknames are meant to be); servers that refuse the option get a plain
/// publish.
async fn publish_open(
    handle: &AccountHandle,
    node: &str,
    item_id: Option<&str>,
    payload: Element,
) -> Result<()> {
    let open = pubsub::publish_iq(node, item_id, payload.clone(), true);
    match handle.request(open).await {
        Ok(_) => Ok(()),
        Err(Error::Stanza { condition, .. })
            if condition == "conflict"
                || condition == "not-acceptable"
                || condition == "bad-request" =>
        {
            tracing::info!(
                node,
                "publish-options refused ({condition}); publishing plainly"
            );
            let plain = pubsub::publish_iq(node, item_id, payload, false);
            handle.request(plain).await.map(|_| ())
        }
        Err(e) => Err(e),
    }
}

/// Makes `picture` the user's avatar (or removes it) and returns its hash.
pub(crate) async fn set_own_avatar(
    handle: &AccountHandle,
    picture: Option<Vec<u8>>,
    crop: Option<Crop>,
) -> Result<Option<String>> {
    let ctx = handle.ctx();
    let Some(picture) = picture else {
        publish_open(handle, NS_AVATAR_METADATA, None, avatar::no_avatar().into()).await?;
        ctx.store
            .set_avatar(&ctx.account, &ctx.account, None, Some("pep"))
            .await?;
        emit(handle, &ctx.account).await;
        return Ok(None);
    };
    let (png, w, h) = tokio::task::spawn_blocking(move || make_own_avatar(&picture, crop))
        .await
        .map_err(|e| Error::InvalidImage(e.to_string()))?
        .map_err(Error::InvalidImage)?;
    let hash = sha1_hex(&png);
    let metadata = u32::try_from(png.len())
        .ok()
        .and_then(|bytes| avatar::metadata(&hash, bytes, "image/png", w, h))
        .ok_or(Error::Internal("avatar metadata"))?;
    publish_open(
        handle,
        NS_AVATAR_DATA,
        Some(&hash),
        avatar::data(png.clone()).into(),
    )
    .await?;
    if !save(ctx, &hash, png).await {
        return Err(Error::InvalidImage("it could not be saved".into()));
    }
    publish_open(handle, NS_AVATAR_METADATA, Some(&hash), metadata.into()).await?;
    ctx.store
        .set_avatar(&ctx.account, &ctx.account, Some(&hash), Some("pep"))
        .await?;
    emit(handle, &ctx.account).await;
    Ok(Some(hash))
}

/// Publishes (or clears) the user's nickname.
pub(crate) async fn set_own_nickname(handle: &AccountHandle, nickname: Option<&str>) -> Result<()> {
    let ctx = handle.ctx();
    let nick = nickname.and_then(|n| clean_text(n, nick::MAX_NICK));
    let payload = nick::nick(nick.as_deref().unwrap_or_default());
    publish_open(handle, NS_NICK, Some("current"), payload.into()).await?;
    ctx.store
        .set_nickname(&ctx.account, &ctx.account, nick.as_deref())
        .await?;
    emit(handle, &ctx.account).await;
    Ok(())
}

/// The nickname in a subscription request (XEP-0172 §4.2).
pub(crate) fn nick_in(payloads: &[Element]) -> Option<String> {
    nick::find(payloads)
}

/// A `<nick/>` element for a subscription request.
pub(crate) fn nick_element(name: &str) -> Option<Element> {
    Some(nick::nick(name).into())
}

/// Finds the vCard-update element of a presence.
pub(crate) fn vcard_update_of(payloads: &[Element]) -> Option<&Element> {
    vcard_update::find(payloads)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 128]));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn own_avatar_is_scaled_into_a_png_square() {
        let (out, w, h) = make_own_avatar(&png(600, 300), None).unwrap();
        assert_eq!((w, h), (256, 256), "the centred square");
        assert_eq!(
            inspect(&out, MAX_AVATAR_BYTES).unwrap(),
            (256, 256, "image/png".into())
        );
        let (_, w, h) = make_own_avatar(&png(40, 30), None).unwrap();
        assert_eq!((w, h), (30, 30), "small pictures are not enlarged");
    }

    /// A picture whose left half is red and right half blue.
    fn halves(w: u32, h: u32) -> image::RgbImage {
        image::RgbImage::from_fn(w, h, |x, _| {
            if x < w / 2 {
                image::Rgb([255, 0, 0])
            } else {
                image::Rgb([0, 0, 255])
            }
        })
    }

    fn encode(img: &image::RgbImage) -> Vec<u8> {
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn the_chosen_part_becomes_the_avatar() {
        let pic = encode(&halves(400, 200));
        let right = Crop {
            left: 0.5,
            top: 0.0,
            width: 0.5,
            height: 1.0,
        };
        let (out, w, h) = make_own_avatar(&pic, Some(right)).unwrap();
        assert_eq!((w, h), (200, 200));
        let img = image::load_from_memory(&out).unwrap().to_rgb8();
        assert!(
            img.pixels().all(|p| p.0 == [0, 0, 255]),
            "only the blue half"
        );
        let left = Crop { left: 0.0, ..right };
        let (out, ..) = make_own_avatar(&pic, Some(left)).unwrap();
        let img = image::load_from_memory(&out).unwrap().to_rgb8();
        assert!(
            img.pixels().all(|p| p.0 == [255, 0, 0]),
            "only the red half"
        );

        // Numbers that make no rectangle are refused, not guessed at.
        for bad in [
            Crop {
                width: 0.0,
                ..right
            },
            Crop {
                left: -0.1,
                ..right
            },
            Crop {
                top: f64::NAN,
                ..right
            },
            Crop {
                height: 1.5,
                ..right
            },
            Crop {
                width: f64::INFINITY,
                ..right
            },
        ] {
            assert!(make_own_avatar(&pic, Some(bad)).is_err(), "{bad:?}");
        }
        // A crop reaching past the edge is cut at it.
        let (_, w, h) = make_own_avatar(
            &pic,
            Some(Crop {
                left: 0.9,
                top: 0.5,
                width: 0.5,
                height: 1.0,
            }),
        )
        .unwrap();
        assert_eq!((w, h), (40, 100));
    }

    #[test]
    fn a_sideways_photo_is_turned_upright_before_cropping() {
        // A 40x20 JPEG (red left, blue right) tagged "rotate 90° clockwise"
        // (EXIF orientation 6) is shown 20x40 with red on top.
        let mut jpeg = Vec::new();
        image::DynamicImage::ImageRgb8(halves(40, 20))
            .write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
            .unwrap();
        let exif: &[u8] = &[
            0xFF, 0xE1, 0x00, 0x22, b'E', b'x', b'i', b'f', 0, 0, // APP1, length 34
            b'M', b'M', 0x00, 0x2A, 0, 0, 0, 8, // big-endian TIFF, IFD at 8
            0x00, 0x01, // one entry
            0x01, 0x12, 0x00, 0x03, 0, 0, 0, 1, 0x00, 0x06, 0, 0, // Orientation = 6
            0, 0, 0, 0, // no next IFD
        ];
        let mut tagged = jpeg[..2].to_vec();
        tagged.extend_from_slice(exif);
        tagged.extend_from_slice(&jpeg[2..]);
        let top = Crop {
            left: 0.0,
            top: 0.0,
            width: 1.0,
            height: 0.5,
        };
        let (out, w, h) = make_own_avatar(&tagged, Some(top)).unwrap();
        assert_eq!((w, h), (20, 20));
        let img = image::load_from_memory(&out).unwrap().to_rgb8();
        let centre = img.get_pixel(10, 8).0;
        assert!(
            centre[0] > 200 && centre[2] < 60,
            "the top of the upright photo is red: {centre:?}"
        );
    }

    #[test]
    fn bad_pictures_are_refused_with_a_reason() {
        assert!(make_own_avatar(b"not a picture", None)
            .unwrap_err()
            .contains("PNG"));
        let mut broken = png(64, 64);
        broken.truncate(60);
        assert!(make_own_avatar(&broken, None).is_err());
        assert!(
            make_own_avatar(&vec![0u8; MAX_SOURCE_IMAGE_BYTES + 1], None)
                .unwrap_err()
                .contains("MB")
        );
        assert!(inspect(&png(64, 64), 10).is_err());
    }

    #[test]
    fn hashes_name_files_and_nothing_else() {
        assert!(is_avatar_hash("da39a3ee5e6b4b0d3255bfef95601890afd80709"));
        assert!(!is_avatar_hash("../../../../etc/passwd"));
        assert!(!is_avatar_hash("DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"));
        assert!(avatar_path(Path::new("/d"), "x/..").is_none());
    }

    #[test]
    fn vcard_fields_are_read_and_bounded() {
        let el: Element = format!(
            "<vCard xmlns='vcard-temp'><FN>Juliet Capulet</FN><NICKNAME>Jule</NICKNAME>\
             <N><FAMILY>Capulet</FAMILY><GIVEN>Juliet</GIVEN></N>\
             <EMAIL><INTERNET/><USERID>juliet@example.org</USERID></EMAIL>\
             <EMAIL><USERID>j@example.com</USERID></EMAIL>\
             <TEL><NUMBER>+1 555</NUMBER></TEL><ORG><ORGNAME>Capulet</ORGNAME></ORG>\
             <DESC>{}</DESC></vCard>",
            "x".repeat(5000)
        )
        .parse()
        .unwrap();
        let (v, _) = parse_vcard(&el);
        assert_eq!(v.full_name.as_deref(), Some("Juliet Capulet"));
        assert_eq!(v.nickname.as_deref(), Some("Jule"));
        assert_eq!(v.given_name.as_deref(), Some("Juliet"));
        assert_eq!(v.family_name.as_deref(), Some("Capulet"));
        assert_eq!(v.emails, vec!["juliet@example.org", "j@example.com"]);
        assert_eq!(v.phones, vec!["+1 555"]);
        assert_eq!(v.organisation.as_deref(), Some("Capulet"));
        assert_eq!(
            v.description.map(|d| d.chars().count()),
            Some(vcard::MAX_VCARD_FIELD)
        );
    }
}
