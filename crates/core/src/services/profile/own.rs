//! The user's own avatar and nickname: the picture turned upright, cut
//! and scaled, and both published to the user's PEP.

use super::*;

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
pub(super) fn make_own_avatar(
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
pub(super) async fn publish_open(
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
