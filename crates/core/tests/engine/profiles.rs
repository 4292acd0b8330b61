//! Entity caps and disco cache, avatars, nicknames and vCards between two
//! Tern clients on a real Prosody.

use std::io::Cursor;
use std::time::Duration;

use sha1::{Digest, Sha1};
use tern_core::{ClientEvent, ContactView};
use tern_testkit::Prosody;

use crate::messaging::friends;
use crate::support::*;

const T: Duration = Duration::from_secs(20);

fn picture(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, 90])
    });
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg)
        .unwrap();
    out
}

fn contact_where<'a>(
    jid: &'a str,
    pred: impl Fn(&ContactView) -> bool + 'a,
) -> impl FnMut(&ClientEvent) -> Option<ContactView> + 'a {
    move |ev| match ev {
        ClientEvent::Contact { contact } if contact.jid == jid && pred(contact) => {
            Some(contact.clone())
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_avatar_and_nickname_reach_the_contact_and_survive_a_restart() {
    let server = Prosody::start().unwrap();
    let (mut a, alice, b, bob) = friends(&server).await;

    // Entity caps: alice learns which client bob's resource runs, and what
    // it supports, from one verified disco#info answer.
    let seen = wait_event(
        &mut a.events,
        T,
        "bob's client from caps",
        contact_where(&bob, |c| {
            c.presence
                .first()
                .is_some_and(|p| p.client.as_deref() == Some("Tern"))
        }),
    )
    .await;
    let full = format!("{bob}/{}", seen.presence[0].resource);
    let info = a
        .client
        .resource_info(&alice, &full)
        .await
        .unwrap()
        .expect("caps known");
    assert!(
        info.features.iter().any(|f| f == "urn:xmpp:receipts"),
        "{info:?}"
    );
    assert!(info
        .features
        .iter()
        .any(|f| f == "urn:xmpp:avatar:metadata+notify"));
    // The server's features are known too (and kept for offline use).
    let server_features = a.client.server_features(&alice).await.unwrap();
    assert!(
        server_features.iter().any(|f| f == "urn:xmpp:blocking"),
        "{server_features:?}"
    );

    // Avatar: bob picks a 600x300 JPEG and its middle square; Tern
    // publishes it as a 256x256 PNG.
    let hash = b
        .client
        .set_avatar(
            &bob,
            Some(picture(600, 300)),
            Some(tern_core::Crop {
                left: 0.25,
                top: 0.0,
                width: 0.5,
                height: 1.0,
            }),
        )
        .await
        .unwrap()
        .expect("a hash");
    let c = wait_event(
        &mut a.events,
        T,
        "bob's avatar",
        contact_where(&bob, |c| c.avatar.is_some()),
    )
    .await;
    assert_eq!(c.avatar.as_deref(), Some(hash.as_str()));
    let file = a.client.avatar_file(&hash).expect("avatar cached on disk");
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(hex::encode(Sha1::digest(&bytes)), hash);
    let img = image::load_from_memory(&bytes).unwrap();
    assert_eq!((img.width(), img.height()), (256, 256));
    assert_eq!(
        b.client
            .profile(&bob, &bob)
            .await
            .unwrap()
            .avatar
            .as_deref(),
        Some(hash.as_str())
    );

    // Nickname (XEP-0172).
    b.client
        .set_nickname(&bob, Some("Bobby <b>"))
        .await
        .unwrap();
    wait_event(
        &mut a.events,
        T,
        "bob's nickname",
        contact_where(&bob, |c| c.nickname.as_deref() == Some("Bobby <b>")),
    )
    .await;

    let one = a
        .client
        .contact(&alice, &bob)
        .await
        .unwrap()
        .expect("bob is a contact");
    assert_eq!(one.nickname.as_deref(), Some("Bobby <b>"));
    assert!(a
        .client
        .contact(&alice, "nobody@localhost")
        .await
        .unwrap()
        .is_none());

    // A picture that is not one is refused with a reason, nothing published.
    let err = b
        .client
        .set_avatar(&bob, Some(b"GIF89a broken".to_vec()), None)
        .await
        .unwrap_err();
    assert!(matches!(err, tern_core::Error::InvalidImage(_)), "{err}");

    // Restart alice: nickname and avatar come from disk, and bob's caps are
    // resolved from the disk cache the moment his presence arrives (no
    // presence event without the client name).
    let mut a = reopen(a).await;
    let (roster, _) = a.client.subscribe_roster(&alice).await.unwrap();
    let stored = roster.iter().find(|c| c.jid == bob).unwrap();
    assert_eq!(stored.nickname.as_deref(), Some("Bobby <b>"));
    assert_eq!(stored.avatar.as_deref(), Some(hash.as_str()));
    let first = wait_event(
        &mut a.events,
        T,
        "bob online after restart",
        contact_where(&bob, |c| !c.presence.is_empty()),
    )
    .await;
    assert_eq!(
        first.presence[0].client.as_deref(),
        Some("Tern"),
        "caps came from the cache"
    );

    // Removing the avatar reaches alice.
    b.client.set_avatar(&bob, None, None).await.unwrap();
    wait_event(
        &mut a.events,
        T,
        "bob's avatar removed",
        contact_where(&bob, |c| c.avatar.is_none()),
    )
    .await;
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vcard_is_read_and_its_photo_becomes_the_avatar() {
    let server = Prosody::start().unwrap();
    let (mut a, alice, b, bob) = friends(&server).await;
    let photo = {
        let img = image::RgbImage::from_fn(64, 64, |x, _| image::Rgb([x as u8 * 3, 20, 200]));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    };
    let hash = hex::encode(Sha1::digest(&photo));
    use base64::Engine as _;
    let vcard: xmpp_parsers::minidom::Element = format!(
        "<vCard xmlns='vcard-temp'><FN>Bob Builder</FN><NICKNAME>&lt;script&gt;alert(1)&lt;/script&gt;</NICKNAME>\
           <EMAIL><INTERNET/><USERID>bob@example.org</USERID></EMAIL>\
           <PHOTO><TYPE>image/png</TYPE><BINVAL>{}</BINVAL></PHOTO></vCard>",
        base64::engine::general_purpose::STANDARD.encode(&photo)
    )
    .parse()
    .unwrap();
    let set = xmpp_parsers::iq::Iq::Set {
        from: None,
        to: None,
        id: String::new(),
        payload: vcard,
    };
    b.client.request(&bob, set).await.unwrap();

    let card = a.client.vcard(&alice, &bob).await.unwrap();
    assert_eq!(card.full_name.as_deref(), Some("Bob Builder"));
    assert_eq!(card.emails, vec!["bob@example.org".to_string()]);
    assert_eq!(card.nickname.as_deref(), Some("<script>alert(1)</script>"));
    assert_eq!(card.photo.as_deref(), Some(hash.as_str()));
    assert_eq!(
        std::fs::read(a.client.avatar_file(&hash).unwrap()).unwrap(),
        photo
    );
    // bob's own vCard reads the same.
    assert_eq!(
        b.client
            .vcard(&bob, &bob)
            .await
            .unwrap()
            .full_name
            .as_deref(),
        Some("Bob Builder")
    );
    // Someone without a vCard has an empty one, not an error.
    let (carol, _) = server.create_user().unwrap();
    let carol = format!("{carol}@{}", server.domain());
    assert_eq!(
        a.client.vcard(&alice, &carol).await.unwrap(),
        Default::default()
    );

    // bob announces the photo in presence (XEP-0153): alice shows it.
    let presence: xmpp_parsers::minidom::Element = format!(
        "<presence xmlns='jabber:client'><x xmlns='vcard-temp:x:update'><photo>{hash}</photo></x></presence>"
    )
    .parse()
    .unwrap();
    b.client
        .send_stanza(
            &bob,
            tokio_xmpp::Stanza::Presence(presence.try_into().unwrap()),
        )
        .await
        .unwrap();
    wait_event(
        &mut a.events,
        T,
        "bob's vCard photo as avatar",
        contact_where(&bob, |c| c.avatar.as_deref() == Some(hash.as_str())),
    )
    .await;
}
