//! Conversations' and Dino's draft "OMEMO DTLS-SRTP verification"
//! (`http://gultsch.de/xmpp/drafts/omemo/dlts-srtp-verification`, the
//! namespace's spelling included): a call's DTLS fingerprint travels
//! encrypted with the OMEMO session of the device in the call, so that a
//! server cannot replace it.
//!
//! - The callee's `<proceed/>` names its OMEMO device in a `<device id/>`
//!   of this namespace (`xep::jingle_message`).
//! - In the Jingle session, each transport's XEP-0320 `<fingerprint/>` is
//!   replaced by one in this namespace with the same `hash` and `setup`,
//!   whose only child is an OMEMO 0.3 `<encrypted/>` element: a normal
//!   message (header with `sid`, one `<key rid/>` for the peer's device,
//!   `<iv/>`) whose payload is the fingerprint's text, upper-case hex
//!   pairs joined by colons. No plain fingerprint stays beside it
//!   (Conversations' `OmemoVerifiedIceUdpTransportInfo.ensureNoPlaintextFingerprint`).
//!
//! As written by Conversations (`AxolotlService.encrypt(IceUdpTransportInfo,
//! XmppAxolotlSession)`) and Dino (`plugins/omemo/src/dtls_srtp_verification_draft.vala`,
//! `on_preprocess_outgoing_iq_set_get`). Only the element lives here; the
//! cryptography is `tern-omemo`'s.

use xmpp_parsers::legacy_omemo::Encrypted;
use xmpp_parsers::minidom::Element;

use super::jingle::{read_digest_text, Fingerprint, Setup};
use super::omemo::NS_OMEMO;
use super::with_attr;

/// The draft's namespace.
pub(crate) const NS: &str = super::jingle_message::NS_OMEMO_DTLS;

/// Longest hash name read.
const MAX_HASH_NAME: usize = 16;
/// Longest `<encrypted/>` element of a fingerprint read (its text: a
/// fingerprint's payload and one key are well under a kilobyte).
const MAX_ENCRYPTED_TEXT: usize = 16 * 1024;

/// A DTLS fingerprint encrypted with OMEMO.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct OmemoFingerprint {
    /// The hash function, lower case (`sha-256`).
    pub(crate) hash: String,
    /// The sender's DTLS role.
    pub(crate) setup: Setup,
    /// The fingerprint's text, encrypted.
    pub(crate) encrypted: Encrypted,
}

// `Encrypted` compares bytes and numbers only.
impl Eq for OmemoFingerprint {}

/// Reads `<fingerprint xmlns='…dlts-srtp-verification'/>`: `None` when it
/// is not one, or lacks a hash, a known setup or a readable `<encrypted/>`
/// element.
pub(crate) fn read(el: &Element) -> Option<OmemoFingerprint> {
    if !el.is("fingerprint", NS) {
        return None;
    }
    let hash = el
        .attr("hash")
        .map(str::trim)
        .filter(|h| !h.is_empty() && h.len() <= MAX_HASH_NAME)?
        .to_ascii_lowercase();
    let setup = Setup::from_name(el.attr("setup")?)?;
    let mut encrypted = el.children().filter(|c| c.is("encrypted", NS_OMEMO));
    let e = encrypted.next()?;
    // Conversations reads exactly one (`findChildEnsureSingle`).
    if encrypted.next().is_some() || text_len(e) > MAX_ENCRYPTED_TEXT {
        return None;
    }
    let encrypted = Encrypted::try_from(e.clone()).ok()?;
    Some(OmemoFingerprint {
        hash,
        setup,
        encrypted,
    })
}

/// All the text under `el`.
fn text_len(el: &Element) -> usize {
    el.texts().map(str::len).sum::<usize>() + el.children().map(text_len).sum::<usize>()
}

/// The element for `f`.
pub(crate) fn element(f: &OmemoFingerprint) -> Element {
    let b = with_attr(Element::builder("fingerprint", NS), "hash", &f.hash);
    with_attr(b, "setup", f.setup.as_str())
        .append(Element::from(f.encrypted.clone()))
        .build()
}

/// What is encrypted: the fingerprint's text as the plain element carries
/// it (upper-case hex pairs joined by colons).
pub(crate) fn plaintext(f: &Fingerprint) -> Vec<u8> {
    super::jingle::digest_text(&f.digest).into_bytes()
}

/// The fingerprint `w` carried, once its `plaintext` was decrypted: `None`
/// when the text is no digest of the hash's length.
pub(crate) fn opened(w: &OmemoFingerprint, plaintext: &[u8]) -> Option<Fingerprint> {
    let text = std::str::from_utf8(plaintext).ok()?;
    let digest = read_digest_text(&w.hash, text)?;
    Some(Fingerprint {
        hash: w.hash.clone(),
        setup: w.setup,
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::jingle::{read_iq, read_transport, transport_element, Action};
    use crate::xep::{el, wire};

    /// A session-initiate as Conversations sends it with OMEMO on in the
    /// chat (`JingleRtpConnection.sendSessionInitiate` through
    /// `AxolotlService.encrypt`): the transport's fingerprint replaced by
    /// the encrypted one, `setup` before `hash` as it writes them, the
    /// `<encrypted/>` of `XmppAxolotlMessage.toElement` (a pre-key message
    /// for the callee's device, 12-byte IV, payload).
    const CONVERSATIONS_INITIATE: &str = "<iq xmlns='jabber:client' type='set' id='Zk3W9jLxnT2c' from='juliet@example.com/Conversations.Xq4e' to='romeo@example.net/tern'>
<jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' sid='kpyNgQGJyK3J6VdQE4sGBw' initiator='juliet@example.com/Conversations.Xq4e'>
<content creator='initiator' name='0' senders='both'>
<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>
<payload-type id='111' name='opus' clockrate='48000' channels='2'><parameter name='useinbandfec' value='1'/><parameter name='minptime' value='10'/><rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='transport-cc'/></payload-type>
<rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='1' uri='urn:ietf:params:rtp-hdrext:ssrc-audio-level'/>
<source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='2306186417'><parameter name='cname' value='kqX0aSkWqQpW8Q9X'/><parameter name='msid' value='my-media-stream my-audio-track'/></source>
<rtcp-mux/>
</description>
<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='4Ayo' pwd='g8/jpF6BVhr3nXvdHWCuoHsE'>
<fingerprint xmlns='http://gultsch.de/xmpp/drafts/omemo/dlts-srtp-verification' setup='actpass' hash='sha-256'>
<encrypted xmlns='eu.siacs.conversations.axolotl'>
<header sid='1946293011'>
<key rid='1734502991' prekey='true'>M6q0L+8LA01UUtTRGsH14yQdwEqKc1QoK5dBxnWPIORx7u7KvmU6cLKaz/pqg66wRMYtIyJAM/0FTVKXvbkjxIzm0iMWoZwKpXYaCYxQX7KGUjKv7xeuzmuubcL1b6W2SpUJluGzdgoohqY9EZaULlhrCm/tYfWag4u8Pk5TC+kP4K7N1snSjpHKXiKGedQv/y3c3ASP9tjy85xypWQHyPxkBZEmtG10</key>
<iv>VR6RaQx2lBKt5Wox</iv>
</header>
<payload>Z5kYlxFpmSZZm1UEiCw/Bo/uL9lpZ3nx6J3cdNnaEKo9i/QP5MeJgnF9yh7XAkOJMtpYZBIOHRIk5AC1jNzG/XMxhzq9QsP0G/ZIF39tQvrYEOMdYpCnWah+wUN2+vY=</payload>
</encrypted>
</fingerprint>
<candidate component='1' foundation='3261838716' generation='0' id='b2e8a6c3-8b1f-4a7e-9d3a-5c3f1c0e8a41' ip='192.0.2.23' network='1' port='44651' priority='2122260223' protocol='udp' type='host'/>
</transport>
</content>
<group xmlns='urn:xmpp:jingle:apps:grouping:0' semantics='BUNDLE'><content name='0'/></group>
</jingle>
</iq>";

    /// Dino's session-accept, as `on_preprocess_outgoing_iq_set_get`
    /// rewrites it (no BUNDLE, `hash` before `setup`, a normal message for
    /// the caller's device: no `prekey`).
    const DINO_ACCEPT: &str = "<iq xmlns='jabber:client' type='set' id='a4f1' from='romeo@example.net/dino.7d6f' to='juliet@example.com/tern'>
<jingle xmlns='urn:xmpp:jingle:1' action='session-accept' sid='kpyNgQGJyK3J6VdQE4sGBw' responder='romeo@example.net/dino.7d6f'>
<content creator='initiator' name='audio' senders='both'>
<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>
<payload-type id='111' name='opus' clockrate='48000' channels='2'><parameter name='useinbandfec' value='1'/></payload-type>
<rtcp-mux/>
</description>
<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='Ey3p' pwd='d3yV7PsnvQp9Q3bG0u6jQZ'>
<fingerprint xmlns='http://gultsch.de/xmpp/drafts/omemo/dlts-srtp-verification' hash='sha-256' setup='active'><encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='883212'><key rid='1946293011'>M09ush7KTb1AIJ0PgHRnFTJzvv12uq+wmD+Wm6DNyCSFPYN8/WEyE/E5SBptIsRmeWqqAU48YSrHG1ttXl9KVVfzULYmPBmzTjVe9ZxkHGvPDUkv</key><iv>3dGfG/8d5k0zZyM2</iv></header><payload>G6fX64S97fWK3j1c4xWikPVND6rWVgZmRmUoaH7ryGih+/FLtDCmDFsA+9DAsGBi8nkg9XtYkKMdayGErjcmlNioz8zV+SPhivxVGCJRTq/aBaGhM1chrsWaAWhHTiA=</payload></encrypted></fingerprint>
</transport>
</content>
</jingle>
</iq>";

    fn transport_of(xml: &str) -> crate::xep::jingle::IceUdpTransport {
        let iq = xmpp_parsers::iq::Iq::try_from(el(xml)).expect("an IQ");
        let j = read_iq(&iq).expect("a Jingle IQ").expect("readable");
        assert!(matches!(
            j.action,
            Action::SessionInitiate | Action::SessionAccept
        ));
        j.contents[0].transport.clone().expect("a transport")
    }

    #[test]
    fn conversations_encrypted_fingerprint_is_read() {
        let t = transport_of(CONVERSATIONS_INITIATE);
        // No plain fingerprint: the offer needs the OMEMO one opened.
        assert_eq!(t.fingerprint, None);
        let w = t.omemo_fingerprint.expect("the encrypted fingerprint");
        assert_eq!(w.hash, "sha-256");
        assert_eq!(w.setup, Setup::Actpass);
        assert_eq!(w.encrypted.header.sid, 1946293011);
        assert_eq!(w.encrypted.header.keys.len(), 1);
        assert_eq!(w.encrypted.header.keys[0].rid, 1734502991);
        assert!(w.encrypted.header.keys[0].prekey);
        assert_eq!(w.encrypted.header.iv.data.len(), 12);
        assert!(w
            .encrypted
            .payload
            .as_ref()
            .is_some_and(|p| !p.data.is_empty()));
        // The rest of the transport is read as ever.
        assert_eq!(t.ufrag.as_deref(), Some("4Ayo"));
        assert_eq!(t.candidates.len(), 1);
    }

    #[test]
    fn dinos_encrypted_fingerprint_is_read() {
        let t = transport_of(DINO_ACCEPT);
        assert_eq!(t.fingerprint, None);
        let w = t.omemo_fingerprint.expect("the encrypted fingerprint");
        assert_eq!(w.setup, Setup::Active);
        assert_eq!(w.encrypted.header.sid, 883212);
        assert_eq!(w.encrypted.header.keys[0].rid, 1946293011);
        assert!(!w.encrypted.header.keys[0].prekey);
    }

    #[test]
    fn written_as_conversations_and_dino_read_it() {
        let w = read_transport(
            &transport_of(CONVERSATIONS_INITIATE)
                .omemo_fingerprint
                .map(|w| {
                    let mut t = crate::xep::jingle::IceUdpTransport {
                        ufrag: Some("u".into()),
                        pwd: Some("p".into()),
                        ..Default::default()
                    };
                    t.omemo_fingerprint = Some(w);
                    wire(transport_element(&t))
                })
                .expect("a transport"),
        )
        .expect("readable");
        let written = transport_element(&w);
        // Conversations: `transportInfo.hasChild("fingerprint", OMEMO_DTLS_SRTP_VERIFICATION)`,
        // then `findChildEnsureSingle("encrypted", "eu.siacs.conversations.axolotl")`;
        // Dino: `get_subnode("fingerprint", NS_URI)`, its `hash` and `setup`, then
        // `get_subnode("encrypted", Omemo.NS_URI)`.
        let f = written
            .get_child("fingerprint", NS)
            .expect("the draft's fingerprint");
        assert!(written
            .get_child("fingerprint", "urn:xmpp:jingle:apps:dtls:0")
            .is_none());
        assert_eq!(f.attr("hash"), Some("sha-256"));
        assert_eq!(f.attr("setup"), Some("actpass"));
        let e = f.get_child("encrypted", NS_OMEMO).expect("encrypted");
        let header = e.get_child("header", NS_OMEMO).expect("header");
        assert_eq!(header.attr("sid"), Some("1946293011"));
        let key = header.get_child("key", NS_OMEMO).expect("key");
        assert_eq!(key.attr("rid"), Some("1734502991"));
        assert_eq!(key.attr("prekey"), Some("true"));
        assert!(header.get_child("iv", NS_OMEMO).is_some());
        assert!(e.get_child("payload", NS_OMEMO).is_some());
    }

    #[test]
    fn the_plaintext_is_the_fingerprints_text() {
        let f = Fingerprint {
            hash: "sha-256".into(),
            setup: Setup::Actpass,
            digest: (0u8..32).collect(),
        };
        let text = plaintext(&f);
        assert_eq!(
            std::str::from_utf8(&text).unwrap(),
            "00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F"
        );
        let w = read(&el(&format!(
            "<fingerprint xmlns='{NS}' hash='sha-256' setup='active'><encrypted xmlns='{NS_OMEMO}'><header sid='1'><iv>AAAAAAAAAAAAAAAA</iv></header></encrypted></fingerprint>"
        )))
        .expect("readable");
        let back = opened(&w, &text).expect("a digest");
        assert_eq!(back.digest, f.digest);
        assert_eq!(back.setup, Setup::Active);
        // Lower case and surrounding space, as another client may write it.
        let lower = String::from_utf8(text.clone()).unwrap().to_lowercase();
        assert_eq!(
            opened(&w, format!(" {lower}\n").as_bytes()).unwrap().digest,
            f.digest
        );
        // Not a digest of the hash's length, not text: nothing.
        assert_eq!(opened(&w, b"00:01"), None);
        assert_eq!(opened(&w, &[0xff, 0xfe]), None);
        assert_eq!(opened(&w, b""), None);
    }

    #[test]
    fn unusable_encrypted_fingerprints_are_none() {
        let enc = format!("<encrypted xmlns='{NS_OMEMO}'><header sid='1'><key rid='2'>AAAA</key><iv>AAAAAAAAAAAAAAAA</iv></header><payload>AAAA</payload></encrypted>");
        let ok =
            format!("<fingerprint xmlns='{NS}' hash='sha-256' setup='actpass'>{enc}</fingerprint>");
        assert!(read(&el(&ok)).is_some());
        for bad in [
            format!("<fingerprint xmlns='{NS}' setup='actpass'>{enc}</fingerprint>"),
            format!("<fingerprint xmlns='{NS}' hash='sha-256'>{enc}</fingerprint>"),
            format!("<fingerprint xmlns='{NS}' hash='sha-256' setup='bogus'>{enc}</fingerprint>"),
            format!("<fingerprint xmlns='{NS}' hash='sha-256' setup='actpass'/>"),
            format!("<fingerprint xmlns='{NS}' hash='sha-256' setup='actpass'>{enc}{enc}</fingerprint>"),
            format!("<fingerprint xmlns='{NS}' hash='sha-256' setup='actpass'><encrypted xmlns='{NS_OMEMO}'/></fingerprint>"),
            format!("<fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='actpass'>{enc}</fingerprint>"),
            format!(
                "<fingerprint xmlns='{NS}' hash='sha-256' setup='actpass'><encrypted xmlns='{NS_OMEMO}'><header sid='1'><iv>AAAAAAAAAAAAAAAA</iv></header><payload>{}</payload></encrypted></fingerprint>",
                "A".repeat(MAX_ENCRYPTED_TEXT + 4)
            ),
        ] {
            assert_eq!(read(&el(&bad)), None, "{bad}");
        }
    }
}
