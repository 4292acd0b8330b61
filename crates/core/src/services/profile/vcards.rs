//! vCards (XEP-0054).

use super::*;

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
