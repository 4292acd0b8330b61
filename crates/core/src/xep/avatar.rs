//! XEP-0084: User Avatar. The image goes to the data node as base64, its
//! description (hash, size, type) to the metadata node, whose notifications
//! tell contacts to fetch it. Tern reads the PNG entry (every client can
//! show it) or else the first one hosted in PEP.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use xmpp_parsers::avatar::{Data, Info, Metadata};
use xmpp_parsers::hashes::Sha1HexAttribute;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::ns;
use xmpp_parsers::pubsub::pubsub::Item;

/// The data node item carrying `image`.
pub(crate) fn data(image: Vec<u8>) -> Data {
    Data { data: image }
}

/// Metadata announcing one image: its SHA-1 (hex, which is also the data
/// item's id), size, MIME type and dimensions; `None` if `sha1` is not a
/// SHA-1 in hex.
pub(crate) fn metadata(
    sha1: &str,
    bytes: u32,
    type_: &str,
    width: u32,
    height: u32,
) -> Option<Metadata> {
    Some(Metadata {
        infos: vec![Info {
            bytes,
            width: u16::try_from(width).ok(),
            height: u16::try_from(height).ok(),
            id: Sha1HexAttribute::from_str(sha1).ok()?,
            type_: type_.to_string(),
            url: None,
        }],
    })
}

/// Empty metadata: the user has no avatar (XEP-0084 §3.5).
pub(crate) fn no_avatar() -> Metadata {
    Metadata { infos: Vec::new() }
}

/// What a metadata item announces.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Announced {
    /// No avatar (empty metadata).
    NoAvatar,
    /// The image to fetch from the data node.
    Image {
        /// Its SHA-1, lowercase hex; also its item id in the data node.
        sha1: String,
        /// Its size as announced.
        bytes: u32,
    },
    /// Nothing Tern can use: malformed, or only images hosted elsewhere.
    Unusable,
}

/// Reads a `<metadata/>` item.
pub(crate) fn read_metadata(el: &Element) -> Announced {
    if !el.is("metadata", ns::AVATAR_METADATA) {
        return Announced::Unusable;
    }
    // XEP-0084 §4.2: only an element without any child means "no avatar".
    if el.children().next().is_none() {
        return Announced::NoAvatar;
    }
    let Ok(meta) = Metadata::try_from(el.clone()) else {
        return Announced::Unusable;
    };
    let in_pep: Vec<&Info> = meta.infos.iter().filter(|i| i.url.is_none()).collect();
    let chosen = in_pep
        .iter()
        .find(|i| i.type_ == "image/png")
        .or(in_pep.first());
    match chosen {
        Some(i) => Announced::Image {
            sha1: i.id.to_hex().to_ascii_lowercase(),
            bytes: i.bytes,
        },
        None => Announced::Unusable,
    }
}

/// Why no image came out of a data node answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DataError {
    /// No item with the image's id, or no `<data/>` in it.
    Missing,
    /// Not base64, or larger than allowed.
    Unreadable,
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DataError::Missing => "avatar data missing from the answer",
            DataError::Unreadable => "avatar data is not valid base64 or too large",
        })
    }
}

/// The image with SHA-1 `sha1` among the `items` of a data node, at most
/// `max` bytes (whether it really has that hash is for the caller to
/// check).
pub(crate) fn read_data(items: Vec<Item>, sha1: &str, max: usize) -> Result<Vec<u8>, DataError> {
    let data = items
        .into_iter()
        .find(|i| {
            i.id.as_ref()
                .is_none_or(|id| id.0.eq_ignore_ascii_case(sha1))
        })
        .and_then(|i| i.payload)
        .filter(|p| p.is("data", ns::AVATAR_DATA))
        .ok_or(DataError::Missing)?;
    decode_base64(&data.text(), max).ok_or(DataError::Unreadable)
}

/// Decodes base64 (line breaks and spaces allowed), refusing before any
/// work a text too long to give at most `max` bytes.
pub(crate) fn decode_base64(text: &str, max: usize) -> Option<Vec<u8>> {
    if text.len() > max / 3 * 4 + max / 19 + 64 {
        return None;
    }
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()?;
    (bytes.len() <= max).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::{el, pubsub, wire};

    const HASH: &str = "111f4b3c50d7b0df729d299bc6f8e9ef9066971f";

    #[test]
    fn reads_the_xep_metadata() {
        // XEP-0084 §3.3, Example 5: subscribers receive avatar metadata
        // notification.
        let m = el(
            "<message xmlns='jabber:client' to='romeo@montague.lit/home' from='juliet@capulet.lit'>
  <event xmlns='http://jabber.org/protocol/pubsub#event'>
    <items node='urn:xmpp:avatar:metadata'>
      <item id='111f4b3c50d7b0df729d299bc6f8e9ef9066971f'>
        <metadata xmlns='urn:xmpp:avatar:metadata'>
          <info bytes='12345'
                height='64'
                id='111f4b3c50d7b0df729d299bc6f8e9ef9066971f'
                type='image/png'
                width='64'/>
        </metadata>
      </item>
    </items>
  </event>
  <addresses xmlns='http://jabber.org/protocol/address'>
    <address type='replyto' jid='juliet@capulet.lit/chamber'/>
  </addresses>
</message>",
        );
        let p = pubsub::read_event(m.get_child("event", ns::PUBSUB_EVENT).unwrap()).unwrap();
        assert_eq!(p.node, ns::AVATAR_METADATA);
        assert_eq!(
            read_metadata(&p.payload.unwrap()),
            Announced::Image {
                sha1: HASH.into(),
                bytes: 12345
            }
        );

        // XEP-0084 §3.5, Example 9: avatar publishing disabled.
        let m = el(
            "<message xmlns='jabber:client' to='romeo@montague.lit/home' from='juliet@capulet.lit'>
  <event xmlns='http://jabber.org/protocol/pubsub#event'>
    <items node='urn:xmpp:avatar:metadata'>
      <item>
        <metadata xmlns='urn:xmpp:avatar:metadata'/>
      </item>
    </items>
  </event>
</message>",
        );
        let p = pubsub::read_event(m.get_child("event", ns::PUBSUB_EVENT).unwrap()).unwrap();
        assert_eq!(read_metadata(&p.payload.unwrap()), Announced::NoAvatar);
    }

    #[test]
    fn prefers_png_and_skips_hosted_images() {
        // XEP-0084 §4.2.1 lists several <info/>, one hosted on the web
        // (as in §3.2, Example 4).
        let meta = el("<metadata xmlns='urn:xmpp:avatar:metadata'>
  <info bytes='23456' height='64' id='357a8123a30844a3aa99861b6349264ba67a5694'
        type='image/gif' url='http://avatars.example.org/happy.gif' width='64'/>
  <info bytes='78912' height='64' id='03a179fe37bd5d6bf9c2e1e592a14ae7814e31da'
        type='image/jpeg' width='64'/>
  <info bytes='12345' height='64' id='111F4B3C50D7B0DF729D299BC6F8E9EF9066971F'
        type='image/png' width='64'/>
</metadata>");
        assert_eq!(
            read_metadata(&meta),
            Announced::Image {
                sha1: HASH.into(),
                bytes: 12345
            },
            "the PNG, its hash in lowercase"
        );
        let hosted_only = el("<metadata xmlns='urn:xmpp:avatar:metadata'>
  <info bytes='23456' id='357a8123a30844a3aa99861b6349264ba67a5694'
        type='image/gif' url='http://avatars.example.org/happy.gif'/></metadata>");
        assert_eq!(read_metadata(&hosted_only), Announced::Unusable);
    }

    #[test]
    fn hostile_metadata_is_unusable() {
        for bad in [
            "<metadata xmlns='urn:xmpp:avatar:metadata'><info bytes='1' id='../../etc/passwd' type='image/png'/></metadata>",
            "<metadata xmlns='urn:xmpp:avatar:metadata'><info bytes='-1' id='111f4b3c50d7b0df729d299bc6f8e9ef9066971f' type='image/png'/></metadata>",
            "<metadata xmlns='urn:xmpp:avatar:metadata'><info id='111f4b3c50d7b0df729d299bc6f8e9ef9066971f' type='image/png'/></metadata>",
            "<metadata xmlns='urn:xmpp:avatar:metadata'><pointer/></metadata>",
            "<metadata xmlns='urn:xmpp:avatar:data'/>",
        ] {
            assert_eq!(read_metadata(&el(bad)), Announced::Unusable, "{bad}");
        }
    }

    #[test]
    fn publishes_as_the_xep_shows() {
        // XEP-0084 §3.2, Example 3: publishing avatar metadata.
        let expected = el("<metadata xmlns='urn:xmpp:avatar:metadata'>
          <info bytes='12345'
                id='111f4b3c50d7b0df729d299bc6f8e9ef9066971f'
                height='64'
                type='image/png'
                width='64'/>
        </metadata>");
        let built = wire(metadata(HASH, 12345, "image/png", 64, 64).unwrap());
        assert_eq!(
            Metadata::try_from(built.clone()).unwrap(),
            Metadata::try_from(expected).unwrap()
        );
        assert_eq!(
            read_metadata(&built),
            Announced::Image {
                sha1: HASH.into(),
                bytes: 12345
            }
        );
        assert!(metadata("not a hash", 1, "image/png", 1, 1).is_none());
        // XEP-0084 §3.5, Example 8: no avatar.
        let none = wire(no_avatar());
        assert!(none.is("metadata", ns::AVATAR_METADATA));
        assert_eq!(none.children().count(), 0);
        assert_eq!(read_metadata(&none), Announced::NoAvatar);
    }

    #[test]
    fn image_data_round_trips() {
        let image = b"\x89PNG\r\n\x1a\n not really".to_vec();
        let built = wire(data(image.clone()));
        assert!(built.is("data", ns::AVATAR_DATA));
        // As the XEP's answer (§3.4, Example 7), with the text wrapped.
        let wrapped: String = built
            .text()
            .as_bytes()
            .chunks(8)
            .map(|c| format!("\n          {}", std::str::from_utf8(c).unwrap()))
            .collect();
        let answer = el(&format!(
            "<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:avatar:data'>
               <item id='{}'><data xmlns='urn:xmpp:avatar:data'>{wrapped}</data></item></items></pubsub>",
            HASH.to_uppercase()
        ));
        let items = pubsub::read_items(answer).unwrap();
        assert_eq!(read_data(items.clone(), HASH, 1024), Ok(image));
        assert_eq!(
            read_data(items.clone(), HASH, 4),
            Err(DataError::Unreadable)
        );
        assert_eq!(
            read_data(items, "03a179fe37bd5d6bf9c2e1e592a14ae7814e31da", 1024),
            Err(DataError::Missing)
        );
    }

    #[test]
    fn base64_is_bounded() {
        assert_eq!(decode_base64("aGVs\n bG8=", 100).unwrap(), b"hello");
        assert!(decode_base64(&"A".repeat(1000), 100).is_none());
        assert!(decode_base64("!!!", 100).is_none());
    }

    #[test]
    fn the_wire_is_what_it_was() {
        // What profile publishing wrote as text before the codecs.
        let image = b"\x89PNG".to_vec();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&image);
        assert_eq!(
            wire(data(image)),
            el(&format!("<data xmlns='urn:xmpp:avatar:data'>{b64}</data>"))
        );
        assert_eq!(
            wire(metadata(HASH, 4, "image/png", 256, 200).unwrap()),
            el(&format!("<metadata xmlns='urn:xmpp:avatar:metadata'><info bytes='4' id='{HASH}' type='image/png' width='256' height='200'/></metadata>"))
        );
        assert_eq!(
            wire(no_avatar()),
            el("<metadata xmlns='urn:xmpp:avatar:metadata'/>")
        );
    }
}
