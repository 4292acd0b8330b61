//! XEP-0425: Moderated Message Retraction, in both versions rooms speak:
//! version 0 (`urn:xmpp:message-moderate:0`, through XEP-0422 fastening, as
//! Prosody's mod_muc_moderation has long done) and version 1
//! (`urn:xmpp:message-moderate:1`). A moderator asks the room to retract
//! a message by its room stanza-id; the room announces it to everyone and
//! keeps a tombstone in its archive in place of the message.

use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::{Message, MessageType};
use xmpp_parsers::minidom::Element;

use super::{bounded_id, clean_text, with_attr, xml_text};

/// XEP-0422 Message Fastening, which version 0 moderation goes through.
const NS_FASTEN: &str = "urn:xmpp:fasten:0";
/// XEP-0424 version 0 retraction, used with moderation version 0.
const NS_RETRACT_0: &str = "urn:xmpp:message-retract:0";
/// XEP-0424 version 1 retraction, used with moderation version 1.
const NS_RETRACT_1: &str = "urn:xmpp:message-retract:1";
/// XEP-0421 occupant ids.
const NS_OCCUPANT_ID: &str = "urn:xmpp:occupant-id:0";
/// Longest reason shown, in characters.
const MAX_REASON: usize = 500;
/// Longest `by` kept, in bytes (a full JID is at most 3071 bytes).
const MAX_BY: usize = 3071;

/// The version of XEP-0425 a room speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ModerationNs {
    /// `urn:xmpp:message-moderate:0` (XEP-0425 0.2), as Prosody's
    /// mod_muc_moderation.
    V0,
    /// `urn:xmpp:message-moderate:1` (XEP-0425 0.3 and later).
    V1,
}

impl ModerationNs {
    /// The namespace (and disco#info feature) of this version.
    pub(crate) fn ns(self) -> &'static str {
        match self {
            ModerationNs::V0 => "urn:xmpp:message-moderate:0",
            ModerationNs::V1 => "urn:xmpp:message-moderate:1",
        }
    }

    /// The version a disco#info feature announces, if it is one.
    pub(crate) fn from_feature(f: &str) -> Option<Self> {
        [ModerationNs::V0, ModerationNs::V1]
            .into_iter()
            .find(|v| v.ns() == f)
    }
}

/// Asks `room` to retract the message it gave `stanza_id`, with a reason
/// shown to the room (the id is filled in when sent).
pub(crate) fn moderate(
    room: &BareJid,
    stanza_id: &str,
    reason: Option<&str>,
    ns: ModerationNs,
) -> Iq {
    let (retract_ns, mut moderate) = match ns {
        ModerationNs::V0 => (NS_RETRACT_0, Element::builder("moderate", ns.ns())),
        ModerationNs::V1 => (
            NS_RETRACT_1,
            with_attr(Element::builder("moderate", ns.ns()), "id", stanza_id),
        ),
    };
    moderate = moderate.append(Element::builder("retract", retract_ns).build());
    if let Some(r) = reason.map(xml_text).filter(|r| !r.trim().is_empty()) {
        moderate = moderate.append(Element::builder("reason", ns.ns()).append(r).build());
    }
    let payload = match ns {
        ModerationNs::V0 => with_attr(Element::builder("apply-to", NS_FASTEN), "id", stanza_id)
            .append(moderate.build())
            .build(),
        ModerationNs::V1 => moderate.build(),
    };
    Iq::Set {
        from: None,
        to: Some(Jid::from(room.clone())),
        id: String::new(),
        payload,
    }
}

/// A room's announcement that a message was moderated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Moderated {
    /// The room stanza-id of the moderated message.
    pub stanza_id: String,
    /// Who moderated it, as the room says (`room/nick` or a JID).
    pub by: Option<String>,
    /// The moderator's occupant-id (XEP-0421), if the room gives it.
    pub by_occupant_id: Option<String>,
    /// Why, as the moderator wrote it.
    pub reason: Option<String>,
}

/// A `by` attribute, if usable.
fn by_of(el: &Element) -> Option<String> {
    el.attr("by")
        .filter(|b| !b.is_empty() && b.len() <= MAX_BY)
        .map(str::to_string)
}

/// The id of an `<occupant-id/>` child of `el`, if there is one usable.
fn occupant_id_of(el: &Element) -> Option<String> {
    bounded_id(el.get_child("occupant-id", NS_OCCUPANT_ID)?.attr("id")?)
}

/// The text of a `<reason/>` child of `el` in `ns`, fit to show.
fn reason_of(el: &Element, ns: &str) -> Option<String> {
    clean_text(&el.get_child("reason", ns)?.text(), MAX_REASON)
}

/// Reads a version 0 announcement (an `<apply-to/>` fastening).
fn read_v0(apply_to: &Element) -> Option<Moderated> {
    let ns = ModerationNs::V0.ns();
    let moderated = apply_to.get_child("moderated", ns)?;
    moderated.get_child("retract", NS_RETRACT_0)?;
    Some(Moderated {
        stanza_id: bounded_id(apply_to.attr("id")?)?,
        by: by_of(moderated),
        by_occupant_id: occupant_id_of(moderated),
        reason: reason_of(moderated, ns),
    })
}

/// Reads a version 1 announcement (a `<retract/>` with `<moderated/>`).
fn read_v1(retract: &Element) -> Option<Moderated> {
    let moderated = retract.get_child("moderated", ModerationNs::V1.ns())?;
    Some(Moderated {
        stanza_id: bounded_id(retract.attr("id")?)?,
        by: by_of(moderated),
        by_occupant_id: occupant_id_of(moderated),
        reason: reason_of(retract, NS_RETRACT_1),
    })
}

/// A room's announcement that a message was moderated, in either version:
///
/// - V0 `<apply-to xmlns='urn:xmpp:fasten:0' id=SID><moderated by=..
///   xmlns='urn:xmpp:message-moderate:0'><retract
///   xmlns='urn:xmpp:message-retract:0'/><reason/></moderated></apply-to>`
/// - V1 `<retract id=SID xmlns='urn:xmpp:message-retract:1'><moderated
///   by=.. xmlns='urn:xmpp:message-moderate:1'><occupant-id
///   xmlns='urn:xmpp:occupant-id:0' id=../></moderated><reason/></retract>`
///
/// Rooms that speak both send both in one message (Prosody gives `by` in
/// the first and the occupant-id in the second): what one lacks is taken
/// from the other when both name the same message; if they name different
/// messages, the announcement is refused. Only for type=groupchat
/// messages; the caller checks that `from` is the bare room.
pub(crate) fn read_moderated(m: &Message) -> Option<Moderated> {
    if m.type_ != MessageType::Groupchat {
        return None;
    }
    let find = |name: &str, ns: &str| m.payloads.iter().find(|p| p.is(name, ns));
    let v0 = find("apply-to", NS_FASTEN).and_then(read_v0);
    let v1 = find("retract", NS_RETRACT_1).and_then(read_v1);
    match (v0, v1) {
        (Some(a), Some(b)) => (a.stanza_id == b.stanza_id).then(|| Moderated {
            stanza_id: b.stanza_id,
            by: b.by.or(a.by),
            by_occupant_id: b.by_occupant_id.or(a.by_occupant_id),
            reason: b.reason.or(a.reason),
        }),
        (a, b) => b.or(a),
    }
}

/// A tombstone a room's archive keeps in place of a moderated message:
/// `<moderated xmlns='urn:xmpp:message-moderate:0' by=..><retracted
/// xmlns='urn:xmpp:message-retract:0' stamp=../><reason/></moderated>` (V0)
/// or `<retracted xmlns='urn:xmpp:message-retract:1' stamp=..><moderated
/// xmlns='urn:xmpp:message-moderate:1' by=../><reason/></retracted>` (V1).
/// Returns who moderated it and why.
pub(crate) fn read_tombstone(m: &Message) -> Option<(Option<String>, Option<String>)> {
    let v1 = ModerationNs::V1.ns();
    if let Some(retracted) = m.payloads.iter().find(|p| p.is("retracted", NS_RETRACT_1)) {
        if let Some(moderated) = retracted.get_child("moderated", v1) {
            let reason = reason_of(retracted, NS_RETRACT_1).or_else(|| reason_of(moderated, v1));
            return Some((by_of(moderated), reason));
        }
    }
    let v0 = ModerationNs::V0.ns();
    let moderated = m.payloads.iter().find(|p| p.is("moderated", v0))?;
    moderated.get_child("retracted", NS_RETRACT_0)?;
    Some((by_of(moderated), reason_of(moderated, v0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::{el, tight, wire, MAX_ID_LEN};

    fn room() -> BareJid {
        BareJid::new("room@muc.example").unwrap()
    }

    fn msg(xml: &str) -> Message {
        Message::try_from(el(xml)).unwrap()
    }

    fn payload(iq: Iq) -> (Option<Jid>, Element) {
        match iq {
            Iq::Set { to, payload, .. } => (to, wire(payload)),
            _ => panic!("not a set"),
        }
    }

    #[test]
    fn features_name_the_versions() {
        assert_eq!(
            ModerationNs::from_feature("urn:xmpp:message-moderate:0"),
            Some(ModerationNs::V0)
        );
        assert_eq!(
            ModerationNs::from_feature("urn:xmpp:message-moderate:1"),
            Some(ModerationNs::V1)
        );
        assert_eq!(
            ModerationNs::from_feature("urn:xmpp:message-moderate:2"),
            None
        );
        assert_eq!(ModerationNs::from_feature(""), None);
    }

    #[test]
    fn asks_as_the_xep_shows() {
        // XEP-0425 0.2.1 §4, Example 2: a moderator retracts a message.
        let expected = tight(
            "<iq xmlns='jabber:client' type='set' to='room@muc.example' id='retract-request-1'>
  <apply-to id='stanza-id-1' xmlns='urn:xmpp:fasten:0'>
    <moderate xmlns='urn:xmpp:message-moderate:0'>
      <retract xmlns='urn:xmpp:message-retract:0'/>
      <reason>This message contains inappropriate content for this forum</reason>
    </moderate>
  </apply-to>
</iq>",
        );
        let (to, built) = payload(moderate(
            &room(),
            "stanza-id-1",
            Some("This message contains inappropriate content for this forum"),
            ModerationNs::V0,
        ));
        assert_eq!(to.unwrap().to_string(), "room@muc.example");
        assert_eq!(&built, expected.get_child("apply-to", NS_FASTEN).unwrap());

        // XEP-0425 0.3 §4, Example 2: the same in version 1.
        let expected = tight(
            "<iq xmlns='jabber:client' type='set' to='room@muc.example' id='retract-request-1'>
  <moderate id='stanza-id-1' xmlns='urn:xmpp:message-moderate:1'>
    <retract xmlns='urn:xmpp:message-retract:1'/>
    <reason>This message contains inappropriate content for this forum</reason>
  </moderate>
</iq>",
        );
        let (_, built) = payload(moderate(
            &room(),
            "stanza-id-1",
            Some("This message contains inappropriate content for this forum"),
            ModerationNs::V1,
        ));
        assert_eq!(
            &built,
            expected
                .get_child("moderate", "urn:xmpp:message-moderate:1")
                .unwrap()
        );
    }

    #[test]
    fn requests_build_from_hostile_text() {
        for ns in [ModerationNs::V0, ModerationNs::V1] {
            let (_, built) = payload(moderate(&room(), "id'\"<&\u{1}", Some("a\u{0}<b>&"), ns));
            let text = String::from(&built);
            assert!(!text.contains('\u{0}') && !text.contains('\u{1}'));
            // No reason element for an empty or blank reason.
            let (_, bare) = payload(moderate(&room(), "x", Some("  "), ns));
            assert!(!String::from(&bare).contains("reason"));
        }
    }

    #[test]
    fn reads_the_xep_announcements() {
        // XEP-0425 0.2.1 §4, Example 4: the room announces the retraction.
        let m = msg("<message xmlns='jabber:client' type='groupchat' from='room@muc.example' id='retraction-id-1'>
  <apply-to id='stanza-id-1' xmlns='urn:xmpp:fasten:0'>
    <moderated by='room@muc.example/macbeth' xmlns='urn:xmpp:message-moderate:0'>
      <retract xmlns='urn:xmpp:message-retract:0'/>
      <reason>This message contains inappropriate content for this forum</reason>
    </moderated>
  </apply-to>
</message>");
        assert_eq!(
            read_moderated(&m),
            Some(Moderated {
                stanza_id: "stanza-id-1".into(),
                by: Some("room@muc.example/macbeth".into()),
                by_occupant_id: None,
                reason: Some("This message contains inappropriate content for this forum".into()),
            })
        );
        // XEP-0425 0.3 §4, Example 4: the same in version 1.
        let m = msg("<message xmlns='jabber:client' type='groupchat' from='room@muc.example' id='retraction-id-1'>
  <retract id='stanza-id-1' xmlns='urn:xmpp:message-retract:1'>
    <moderated by='room@muc.example/macbeth' xmlns='urn:xmpp:message-moderate:1'>
      <occupant-id xmlns='urn:xmpp:occupant-id:0' id='dd72603deec90a38ba552f7c68cbcc61bca202cd'/>
    </moderated>
    <reason>This message contains inappropriate content for this forum</reason>
  </retract>
</message>");
        assert_eq!(
            read_moderated(&m),
            Some(Moderated {
                stanza_id: "stanza-id-1".into(),
                by: Some("room@muc.example/macbeth".into()),
                by_occupant_id: Some("dd72603deec90a38ba552f7c68cbcc61bca202cd".into()),
                reason: Some("This message contains inappropriate content for this forum".into()),
            })
        );
    }

    #[test]
    fn reads_both_versions_in_one_announcement() {
        // As Prosody's mod_muc_moderation sends it: `by` only in version 0,
        // the occupant-id in both.
        let m = msg(
            "<message xmlns='jabber:client' type='groupchat' from='room@muc.example' id='x'>
  <apply-to id='sid' xmlns='urn:xmpp:fasten:0'>
    <moderated by='room@muc.example/mod' xmlns='urn:xmpp:message-moderate:0'>
      <occupant-id xmlns='urn:xmpp:occupant-id:0' id='occ'/>
      <retract xmlns='urn:xmpp:message-retract:0'/>
      <reason>spam</reason>
    </moderated>
  </apply-to>
  <retract id='sid' xmlns='urn:xmpp:message-retract:1'>
    <moderated xmlns='urn:xmpp:message-moderate:1'>
      <occupant-id xmlns='urn:xmpp:occupant-id:0' id='occ'/>
    </moderated>
    <reason>spam</reason>
  </retract>
</message>",
        );
        assert_eq!(
            read_moderated(&m),
            Some(Moderated {
                stanza_id: "sid".into(),
                by: Some("room@muc.example/mod".into()),
                by_occupant_id: Some("occ".into()),
                reason: Some("spam".into()),
            })
        );
        // Two versions naming two messages: neither is believed.
        let m = msg("<message xmlns='jabber:client' type='groupchat' from='room@muc.example'>
  <apply-to id='a' xmlns='urn:xmpp:fasten:0'><moderated xmlns='urn:xmpp:message-moderate:0'><retract xmlns='urn:xmpp:message-retract:0'/></moderated></apply-to>
  <retract id='b' xmlns='urn:xmpp:message-retract:1'><moderated xmlns='urn:xmpp:message-moderate:1'/></retract>
</message>");
        assert_eq!(read_moderated(&m), None);
    }

    #[test]
    fn hostile_announcements_are_refused() {
        let long = "x".repeat(MAX_ID_LEN + 1);
        for bad in [
            // Not groupchat.
            "<message xmlns='jabber:client' type='chat' from='room@muc.example'><retract id='a' xmlns='urn:xmpp:message-retract:1'><moderated xmlns='urn:xmpp:message-moderate:1'/></retract></message>".to_string(),
            // A plain retraction (XEP-0424) is not a moderation.
            "<message xmlns='jabber:client' type='groupchat' from='room@muc.example'><retract id='a' xmlns='urn:xmpp:message-retract:1'/></message>".to_string(),
            // No id, an empty id, a long id.
            "<message xmlns='jabber:client' type='groupchat'><retract xmlns='urn:xmpp:message-retract:1'><moderated xmlns='urn:xmpp:message-moderate:1'/></retract></message>".to_string(),
            "<message xmlns='jabber:client' type='groupchat'><apply-to id='' xmlns='urn:xmpp:fasten:0'><moderated xmlns='urn:xmpp:message-moderate:0'><retract xmlns='urn:xmpp:message-retract:0'/></moderated></apply-to></message>".to_string(),
            format!("<message xmlns='jabber:client' type='groupchat'><retract id='{long}' xmlns='urn:xmpp:message-retract:1'><moderated xmlns='urn:xmpp:message-moderate:1'/></retract></message>"),
            // Version 0 without the retraction inside (some other moderation).
            "<message xmlns='jabber:client' type='groupchat'><apply-to id='a' xmlns='urn:xmpp:fasten:0'><moderated xmlns='urn:xmpp:message-moderate:0'/></apply-to></message>".to_string(),
            // Namespaces mixed up.
            "<message xmlns='jabber:client' type='groupchat'><retract id='a' xmlns='urn:xmpp:message-retract:1'><moderated xmlns='urn:xmpp:message-moderate:0'/></retract></message>".to_string(),
        ] {
            assert_eq!(read_moderated(&msg(&bad)), None, "{bad}");
        }
        // Long reasons are cut, control characters dropped, bad occupant
        // ids and `by` ignored.
        let m = msg(&format!(
            "<message xmlns='jabber:client' type='groupchat'><retract id='a' xmlns='urn:xmpp:message-retract:1'>\
               <moderated by='{}' xmlns='urn:xmpp:message-moderate:1'><occupant-id xmlns='urn:xmpp:occupant-id:0' id='{long}'/></moderated>\
               <reason>\u{9f}{}</reason></retract></message>",
            "b".repeat(MAX_BY + 1),
            "r".repeat(2000)
        ));
        let r = read_moderated(&m).unwrap();
        assert_eq!(r.by, None);
        assert_eq!(r.by_occupant_id, None);
        assert_eq!(r.reason.unwrap().chars().count(), MAX_REASON);
    }

    #[test]
    fn reads_the_xep_tombstones() {
        // XEP-0425 0.2.1 §5, Example 5: a tombstone in the room's archive.
        let m = msg("<message type='groupchat' from='room@muc.example/juliet' id='stanza-id-1' xmlns='jabber:client'>
  <moderated by='room@muc.example/macbeth' xmlns='urn:xmpp:message-moderate:0'>
    <retracted stamp='2019-09-20T23:09:32Z' xmlns='urn:xmpp:message-retract:0'/>
    <reason>This message contains inappropriate content for this forum</reason>
  </moderated>
</message>");
        assert_eq!(
            read_tombstone(&m),
            Some((
                Some("room@muc.example/macbeth".into()),
                Some("This message contains inappropriate content for this forum".into())
            ))
        );
        // XEP-0425 0.3 §5, Example 5: the same in version 1.
        let m = msg("<message type='groupchat' from='room@muc.example/juliet' id='stanza-id-1' xmlns='jabber:client'>
  <retracted stamp='2019-09-20T23:09:32Z' xmlns='urn:xmpp:message-retract:1'>
    <moderated by='room@muc.example/macbeth' xmlns='urn:xmpp:message-moderate:1'>
      <occupant-id xmlns='urn:xmpp:occupant-id:0' id='dd72603deec90a38ba552f7c68cbcc61bca202cd'/>
    </moderated>
    <reason>This message contains inappropriate content for this forum</reason>
  </retracted>
</message>");
        assert_eq!(
            read_tombstone(&m),
            Some((
                Some("room@muc.example/macbeth".into()),
                Some("This message contains inappropriate content for this forum".into())
            ))
        );
        // Without `by` or reason.
        let m = msg("<message xmlns='jabber:client' type='groupchat'><moderated xmlns='urn:xmpp:message-moderate:0'><retracted xmlns='urn:xmpp:message-retract:0'/></moderated></message>");
        assert_eq!(read_tombstone(&m), Some((None, None)));
        // A user's own retraction tombstone is not a moderation; nor is a
        // plain message.
        let m = msg("<message xmlns='jabber:client' type='groupchat'><retracted xmlns='urn:xmpp:message-retract:1' stamp='2019-09-20T23:09:32Z'/></message>");
        assert_eq!(read_tombstone(&m), None);
        let m = msg("<message xmlns='jabber:client' type='groupchat'><body>hi</body></message>");
        assert_eq!(read_tombstone(&m), None);
        let m = msg("<message xmlns='jabber:client' type='groupchat'><moderated xmlns='urn:xmpp:message-moderate:0'/></message>");
        assert_eq!(read_tombstone(&m), None);
    }
}
