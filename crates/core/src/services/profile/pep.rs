//! Contacts' avatars and nicknames as their servers push them (PEP,
//! XEP-0163: XEP-0084 avatars, XEP-0172 nicknames), with the vCard photo
//! of XEP-0153 as fallback.

use super::*;

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
    // Avatars and nicknames are kept for the roster and the account only:
    // a stranger's events would grow the profiles and the avatar folder.
    if !handle.ctx().in_roster(&jid).await {
        tracing::debug!(%from, "PEP event from outside the roster ignored");
        return true;
    }
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

pub(super) async fn on_avatar_metadata(handle: &AccountHandle, jid: &str, meta: &Element) {
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
    if !ctx.fetching.start(jid, &hash) {
        return;
    }
    let handle = handle.clone();
    let jid = jid.to_string();
    tokio::spawn(async move {
        let ok = fetch_pep_avatar(&handle, &jid, &hash).await;
        let ctx = handle.ctx();
        ctx.fetching.done(&jid, &hash);
        if ok {
            let _ = ctx
                .store
                .set_avatar(&ctx.account, &jid, Some(&hash), Some("pep"))
                .await;
            emit(&handle, &jid).await;
        }
    });
}

pub(super) async fn fetch_pep_avatar(handle: &AccountHandle, jid: &str, hash: &str) -> bool {
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
/// contact has no PEP avatar. The caller checks that `from` is in the
/// roster (or the account itself).
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
    if !ctx.fetching.start(&jid, &hash) {
        return;
    }
    let handle = handle.clone();
    tokio::spawn(async move {
        let fetched = fetch_vcard(&handle, Some(&jid)).await;
        let ctx = handle.ctx();
        ctx.fetching.done(&jid, &hash);
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
