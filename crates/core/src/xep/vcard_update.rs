//! XEP-0153: vCard-Based Avatars. The hash of a contact's vCard photo, in
//! their presence; Tern uses it only for contacts without a XEP-0084
//! avatar.

use xmpp_parsers::minidom::Element;
use xmpp_parsers::ns;
use xmpp_parsers::vcard_update::VCardUpdate;

/// What a presence says of the sender's vCard photo.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Photo {
    /// No `<photo/>`: the sender is not ready to say (XEP-0153 §4.1), or
    /// said something unreadable.
    Unknown,
    /// An empty `<photo/>`: no photo.
    Nothing,
    /// The photo's SHA-1, lowercase hex.
    Sha1(String),
}

/// The vCard-update element among a presence's payloads.
pub(crate) fn find(payloads: &[Element]) -> Option<&Element> {
    payloads.iter().find(|p| p.is("x", ns::VCARD_UPDATE))
}

/// Reads a vCard-update element.
pub(crate) fn read(x: &Element) -> Photo {
    // The hex decoder slices its text by bytes: only ASCII reaches it.
    let ascii = x
        .get_child("photo", ns::VCARD_UPDATE)
        .is_none_or(|p| p.text().is_ascii());
    if !ascii {
        return Photo::Unknown;
    }
    match VCardUpdate::try_from(x.clone()) {
        Ok(VCardUpdate { photo: None }) | Err(_) => Photo::Unknown,
        Ok(VCardUpdate { photo: Some(photo) }) => match photo.data {
            None => Photo::Nothing,
            Some(sha1) => Photo::Sha1(hex::encode(sha1)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::el;

    #[test]
    fn reads_the_xep_examples() {
        // XEP-0153 §3.1, Example 3: the avatar hash in presence.
        let p = el(
            "<presence xmlns='jabber:client' from='juliet@capulet.com/balcony'>
  <x xmlns='vcard-temp:x:update'>
    <photo>01b87fcd030b72895ff8e88db57ec525450f000d</photo>
  </x>
</presence>",
        );
        let payloads: Vec<Element> = p.children().cloned().collect();
        assert_eq!(
            read(find(&payloads).unwrap()),
            Photo::Sha1("01b87fcd030b72895ff8e88db57ec525450f000d".into())
        );
        // XEP-0153 §4.1, Example 6: not ready to advertise an image.
        assert_eq!(
            read(&el("<x xmlns='vcard-temp:x:update'/>")),
            Photo::Unknown
        );
        // XEP-0153 §4.1, Example 7: no image to be advertised.
        assert_eq!(
            read(&el("<x xmlns='vcard-temp:x:update'><photo/></x>")),
            Photo::Nothing
        );
    }

    #[test]
    fn hostile_hashes_are_unknown() {
        for bad in [
            "<x xmlns='vcard-temp:x:update'><photo>../../etc/passwd</photo></x>",
            "<x xmlns='vcard-temp:x:update'><photo>01b87fcd</photo></x>",
            // 40 bytes, but not 40 ASCII digits: must not panic.
            "<x xmlns='vcard-temp:x:update'><photo>€€€€€€€€€€€€€a</photo></x>",
            "<x xmlns='vcard-temp:x:update'><photo>ééééééééééééééééééé</photo></x>",
        ] {
            assert_eq!(read(&el(bad)), Photo::Unknown, "{bad}");
        }
        assert_eq!(
            read(&el("<x xmlns='vcard-temp:x:update'><photo>01B87FCD030B72895FF8E88DB57EC525450F000D</photo></x>")),
            Photo::Sha1("01b87fcd030b72895ff8e88db57ec525450f000d".into()),
            "lowercase, whatever the sender wrote"
        );
        assert!(find(&[el("<x xmlns='jabber:x:data' type='form'/>")]).is_none());
    }
}
