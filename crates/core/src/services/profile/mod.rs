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

mod cache;
mod own;
mod pep;
mod vcards;

pub use cache::is_avatar_hash;
pub(crate) use cache::*;
pub use own::Crop;
pub(crate) use own::*;
pub(crate) use pep::*;
pub use vcards::VCardView;
pub(crate) use vcards::*;

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

/// What is stored of `jid`'s avatar and nickname.
pub(crate) async fn stored_profile(ctx: &Ctx, jid: &str) -> Result<ProfileView> {
    let row = ctx.store.profile(&ctx.account, jid).await?;
    Ok(ProfileView {
        avatar: row.avatar,
        nickname: row.nickname,
    })
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
