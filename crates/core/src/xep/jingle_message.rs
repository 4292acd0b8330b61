//! XEP-0353: Jingle Message Initiation (`urn:xmpp:jingle-message:0`), the
//! chat messages that ring every device of a contact before the Jingle
//! session itself ([`super::jingle`]) starts on the one that answers.
//!
//! Read by hand, not through xmpp-parsers' `JingleMI`: that type holds one
//! description (a video call proposes two), knows neither `ringing` nor
//! `finish`, and has no place for the `<reason/>`, `<tie-break/>` and OMEMO
//! `<device/>` children other clients put in. Unknown children are
//! skipped.
//!
//! What other clients send and read:
//!
//! - Conversations 2.12.8 of August 2023 (`MessageGenerator.java`,
//!   `JingleConnectionManager.java`, `JingleRtpConnection.java`,
//!   `AbstractJingleConnection.java`, `MessageParser.java`,
//!   `stanzas/Propose.java`, `stanzas/Proceed.java`) proposes with a
//!   `type='chat'` message to the contact's bare JID whose id is
//!   `jm-propose-<sid>`, holding `<propose id='<sid>'>` with one
//!   `<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio|video'/>`
//!   per medium, a receipt request (`urn:xmpp:receipts`) and
//!   `<store xmlns='urn:xmpp:hints'/>`. Its sid is 16 random bytes in
//!   unpadded base64 (22 characters, `+` and `/` included). The receipt for
//!   that id (or an XEP-0333 `received` marker) is what makes it show the
//!   callee's device as found and ringing; an error reply to that id ends
//!   the attempt. As callee it answers that request with `<received/>` and
//!   a store hint ([`receipt_for_propose`]).
//! - Conversations answers a call with `<accept/>` to its own bare JID,
//!   then `<proceed/>` to the caller's full JID (the propose's `from`) in a
//!   message whose id is `jm-proceed-<sid>` (an error reply to it ends the
//!   call). With OMEMO on in that chat, the proceed holds
//!   `<device xmlns='http://gultsch.de/xmpp/drafts/omemo/dlts-srtp-verification' id='…'/>`,
//!   and a caller that sees it encrypts its DTLS fingerprints with OMEMO,
//!   which Tern does not read: Tern never sends it. It refuses with
//!   `<reject/>` to the caller and withdraws with `<retract/>` to the
//!   callee's bare JID, neither with a reason; the reject it sends when
//!   busy on every device and the retract of an unanswered proposal hold
//!   an empty RTP `<description/>`. Every message is `type='chat'` with a
//!   store hint. It reads only `propose`, `proceed`, `accept`, `reject`
//!   and `retract` (no `ringing`, no `finish`), ignores a proposal with
//!   any description that is not RTP audio or video, and of two crossing
//!   proposals keeps the one with the lower sid.
//! - Dino's main branch after 0.5
//!   (`xmpp-vala/src/module/xep/0353_jingle_message_initiation.vala`,
//!   `libdino/src/service/call_peer_state.vala`, `calls.vala`) proposes to
//!   the bare JID without receipt request or store hint, with a random
//!   UUID as sid; accepts with `<accept/>` to its own bare JID and
//!   `<proceed/>` to the caller's full JID; rejects with `<reject/>` to
//!   both; retracts with `<retract/>`. Its elements carry only the id. It
//!   reads `accept` and `proceed` alike, takes a proposal that names audio
//!   or video, and ignores JMI in group chats and in archive results.
//! - Monal (`MLCall.m`) also sends `<ringing/>`, `<reject/>` with a reason
//!   (`busy`, or `expired` and `<tie-break/>`), `<retract/>` with `cancel`,
//!   and `<finish/>` with a reason, as XEP-0353 0.7 does; each with a store
//!   hint.

use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Id, Message, MessageType};
use xmpp_parsers::minidom::Element;

use super::jingle::{read_reason, reason_element, Media, ReadError, Reason, NS_JINGLE, NS_RTP};
use super::{bounded_id, hints, receipts, with_attr};

/// XEP-0353: the namespace of Jingle Message Initiation.
pub(crate) const NS_JMI: &str = "urn:xmpp:jingle-message:0";
/// How Conversations starts the id of the message that proposes session
/// `sid` (a receipt or error for that message id is about the session).
pub(crate) const PROPOSE_ID_PREFIX: &str = "jm-propose-";
/// How Conversations starts the id of the message that proceeds.
pub(crate) const PROCEED_ID_PREFIX: &str = "jm-proceed-";
/// The namespace of Conversations' OMEMO verification of DTLS
/// fingerprints (the `<device/>` in a proceed).
pub(crate) const NS_OMEMO_DTLS: &str = "http://gultsch.de/xmpp/drafts/omemo/dlts-srtp-verification";
/// Most descriptions read from one proposal.
pub(crate) const MAX_DESCRIPTIONS: usize = 16;

/// One JMI message's element: what happens to proposed session `sid`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Jmi {
    /// The session id (the later Jingle `sid`).
    pub(crate) sid: String,
    /// What the message says.
    pub(crate) kind: JmiKind,
}

/// What a JMI message says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum JmiKind {
    /// A call is proposed.
    Propose {
        /// The media proposed, each once, in order (at least one).
        media: Vec<Media>,
        /// The proposal also names something Tern does not take: another
        /// application, or another medium (Conversations ignores such a
        /// proposal; Dino takes its audio and video).
        unsupported: bool,
    },
    /// A device of the callee rings.
    Ringing,
    /// The callee takes the call on the sending device.
    Proceed {
        /// The OMEMO device id of Conversations' fingerprint verification.
        omemo_device: Option<u32>,
    },
    /// The callee took the call (sent to the callee's own other devices).
    Accept,
    /// The callee refuses the call.
    Reject {
        /// Why (XEP-0353 0.7: `busy`, or `expired` in a tie-break).
        reason: Option<Reason>,
        /// The refusal settles two crossing proposals.
        tie_break: bool,
    },
    /// The caller withdraws the proposal.
    Retract {
        /// Why (XEP-0353 0.7: `cancel`).
        reason: Option<Reason>,
        /// The withdrawal settles two crossing proposals.
        tie_break: bool,
    },
    /// The call is over.
    Finish {
        /// Why (`success`, `expired`, `connectivity-error`).
        reason: Option<Reason>,
        /// The session that continues this one.
        migrated_to: Option<String>,
    },
}

impl JmiKind {
    /// The element's name.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Propose { .. } => "propose",
            Self::Ringing => "ringing",
            Self::Proceed { .. } => "proceed",
            Self::Accept => "accept",
            Self::Reject { .. } => "reject",
            Self::Retract { .. } => "retract",
            Self::Finish { .. } => "finish",
        }
    }
}

/// A JMI element: `None` for an element in another namespace, an error
/// for one Tern cannot use (no usable id, an unknown name, a proposal
/// without audio or video, too many descriptions).
pub(crate) fn read(el: &Element) -> Option<Result<Jmi, ReadError>> {
    el.has_ns(NS_JMI).then(|| read_element(el))
}

fn read_element(el: &Element) -> Result<Jmi, ReadError> {
    let reason = || el.get_child("reason", NS_JINGLE).and_then(read_reason);
    let tie_break = || el.has_child("tie-break", NS_JMI);
    let kind = match el.name() {
        "propose" => read_proposal(el)?,
        "ringing" => JmiKind::Ringing,
        "proceed" => JmiKind::Proceed {
            omemo_device: el
                .get_child("device", NS_OMEMO_DTLS)
                .and_then(|d| d.attr("id")?.parse().ok()),
        },
        "accept" => JmiKind::Accept,
        "reject" => JmiKind::Reject {
            reason: reason(),
            tie_break: tie_break(),
        },
        "retract" => JmiKind::Retract {
            reason: reason(),
            tie_break: tie_break(),
        },
        "finish" => JmiKind::Finish {
            reason: reason(),
            migrated_to: el
                .get_child("migrated", NS_JMI)
                .and_then(|m| bounded_id(m.attr("to")?)),
        },
        _ => return Err(ReadError::NoAction),
    };
    let sid = el.attr("id").and_then(bounded_id).ok_or(ReadError::NoSid)?;
    Ok(Jmi { sid, kind })
}

fn read_proposal(el: &Element) -> Result<JmiKind, ReadError> {
    let mut media = Vec::new();
    let mut unsupported = false;
    let descriptions = el.children().filter(|c| c.name() == "description");
    for (i, d) in descriptions.enumerate() {
        if i >= MAX_DESCRIPTIONS {
            return Err(ReadError::TooMany {
                what: "descriptions",
                max: MAX_DESCRIPTIONS,
            });
        }
        let m = d
            .has_ns(NS_RTP)
            .then(|| d.attr("media").and_then(Media::read))
            .flatten();
        match m {
            Some(m) if !media.contains(&m) => media.push(m),
            Some(_) => {}
            None => unsupported = true,
        }
    }
    if media.is_empty() {
        return Err(ReadError::NoMedia);
    }
    Ok(JmiKind::Propose { media, unsupported })
}

/// The JMI element of a message: `None` when it has none (or only JMI
/// elements Tern does not know), or is a group chat or error message
/// (JMI is between two people; Conversations and Dino ignore it in group
/// chats).
pub(crate) fn read_message(msg: &Message) -> Option<Result<Jmi, ReadError>> {
    if matches!(msg.type_, MessageType::Groupchat | MessageType::Error) {
        return None;
    }
    msg.payloads
        .iter()
        .filter_map(read)
        .find(|r| *r != Err(ReadError::NoAction))
}

/// The element for `j`.
pub(crate) fn jmi_element(j: &Jmi) -> Element {
    let mut b = with_attr(Element::builder(j.kind.name(), NS_JMI), "id", &j.sid);
    let reason = |b: xmpp_parsers::minidom::ElementBuilder, r: &Option<Reason>| match r {
        Some(r) => b.append(reason_element(r)),
        None => b,
    };
    let tie_break = |b: xmpp_parsers::minidom::ElementBuilder, t: bool| {
        if t {
            b.append(Element::builder("tie-break", NS_JMI).build())
        } else {
            b
        }
    };
    match &j.kind {
        JmiKind::Propose { media, .. } => {
            b = b.append_all(media.iter().map(|m| {
                with_attr(Element::builder("description", NS_RTP), "media", m.as_str()).build()
            }));
        }
        JmiKind::Ringing | JmiKind::Accept => {}
        JmiKind::Proceed { omemo_device } => {
            if let Some(d) = omemo_device {
                b = b.append(
                    with_attr(
                        Element::builder("device", NS_OMEMO_DTLS),
                        "id",
                        &d.to_string(),
                    )
                    .build(),
                );
            }
        }
        JmiKind::Reject {
            reason: r,
            tie_break: t,
        }
        | JmiKind::Retract {
            reason: r,
            tie_break: t,
        } => {
            b = tie_break(reason(b, r), *t);
        }
        JmiKind::Finish {
            reason: r,
            migrated_to,
        } => {
            b = reason(b, r);
            if let Some(to) = migrated_to {
                b = b.append(with_attr(Element::builder("migrated", NS_JMI), "to", to).build());
            }
        }
    }
    b.build()
}

/// The message carrying `j` to `to`: `type='chat'` (so that carbons copy
/// it to the user's other devices) with a store hint (so that archives
/// keep it), as every client sends it. A proposal also asks for a receipt
/// and has the id `jm-propose-<sid>`, and a proceed the id
/// `jm-proceed-<sid>`: Conversations matches receipts and errors by those
/// ids. Where it goes is the caller's choice: a proposal, reject, retract
/// and finish to the peer's bare JID, a proceed to the caller's full JID,
/// an accept to the user's own bare JID.
pub(crate) fn message(to: Jid, j: &Jmi) -> Message {
    let mut m = Message::chat(to);
    let id = match j.kind {
        JmiKind::Propose { .. } => format!("{PROPOSE_ID_PREFIX}{}", j.sid),
        JmiKind::Proceed { .. } => format!("{PROCEED_ID_PREFIX}{}", j.sid),
        _ => super::message::new_id(),
    };
    m.id = Some(Id(super::xml_text(&id)));
    m.payloads.push(jmi_element(j));
    if matches!(j.kind, JmiKind::Propose { .. }) {
        m.payloads.push(receipts::request().into());
    }
    m.payloads.push(hints::store().into());
    m
}

/// The receipt that answers a proposal asking for one (XEP-0184), as
/// Conversations expects it before it shows the call ringing: a chat
/// message to the proposal's sender with `<received id='<its id>'/>` and a
/// store hint. `None` when `msg` is no proposal, asks for no receipt, or
/// has no id or sender.
pub(crate) fn receipt_for_propose(msg: &Message) -> Option<Message> {
    let proposes = msg.payloads.iter().any(|p| p.is("propose", NS_JMI));
    let asks = msg.payloads.iter().any(receipts::is_request);
    if !proposes || !asks {
        return None;
    }
    let id = bounded_id(&msg.id.as_ref()?.0)?;
    let mut m = Message::chat(msg.from.clone()?);
    m.payloads.push(receipts::received(&id).into());
    m.payloads.push(hints::store().into());
    Some(m)
}

/// The session whose proposal a message id names (`jm-propose-<sid>`).
pub(crate) fn proposal_sid(message_id: &str) -> Option<&str> {
    message_id
        .strip_prefix(PROPOSE_ID_PREFIX)
        .filter(|s| bounded_id(s).is_some())
}

/// The session whose proceed a message id names (`jm-proceed-<sid>`).
pub(crate) fn proceed_sid(message_id: &str) -> Option<&str> {
    message_id
        .strip_prefix(PROCEED_ID_PREFIX)
        .filter(|s| bounded_id(s).is_some())
}

/// The session a receipt says a device of the callee received the
/// proposal of (a receipt for `jm-propose-<sid>`): the callee's device
/// rings.
pub(crate) fn receipt_proposal_sid(msg: &Message) -> Option<String> {
    msg.payloads
        .iter()
        .filter_map(receipts::read_received)
        .find_map(|id| proposal_sid(&id).map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::jingle::Condition;
    use crate::xep::{el, wire, MAX_ID_LEN};

    fn msg(xml: &str) -> Message {
        Message::try_from(el(xml)).expect("a message")
    }

    fn read_xml(xml: &str) -> Result<Jmi, ReadError> {
        read_message(&msg(xml)).expect("a JMI message")
    }

    fn jmi(sid: &str, kind: JmiKind) -> Jmi {
        Jmi {
            sid: sid.into(),
            kind,
        }
    }

    const SID: &str = "kbPqM0UHsmqA1/3WlSmOAQ";

    /// Conversations proposes: to the bare JID, its id prefixed, a
    /// receipt request and a store hint.
    const CONVERSATIONS_PROPOSE: &str =
        "<message xmlns='jabber:client' type='chat' id='jm-propose-kbPqM0UHsmqA1/3WlSmOAQ'
    from='juliet@capulet.example/Conversations.Xk3d' to='romeo@montague.example'>
  <propose xmlns='urn:xmpp:jingle-message:0' id='kbPqM0UHsmqA1/3WlSmOAQ'>
    <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/>
  </propose>
  <request xmlns='urn:xmpp:receipts'/>
  <store xmlns='urn:xmpp:hints'/>
</message>";

    /// A video call: one description per medium.
    const CONVERSATIONS_PROPOSE_VIDEO: &str =
        "<message xmlns='jabber:client' type='chat' id='jm-propose-Rk2lYb9wQe0Hc5sN3tVx1A'
    from='juliet@capulet.example/Conversations.Xk3d' to='romeo@montague.example'>
  <propose xmlns='urn:xmpp:jingle-message:0' id='Rk2lYb9wQe0Hc5sN3tVx1A'>
    <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='video'/>
    <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/>
  </propose>
  <request xmlns='urn:xmpp:receipts'/>
  <store xmlns='urn:xmpp:hints'/>
</message>";

    /// Conversations, as callee, tells the user's other devices that it
    /// took the call...
    const CONVERSATIONS_ACCEPT: &str = "<message xmlns='jabber:client' type='chat'
    from='romeo@montague.example/Conversations.Pq7z' to='romeo@montague.example'>
  <accept xmlns='urn:xmpp:jingle-message:0' id='kbPqM0UHsmqA1/3WlSmOAQ'/>
  <store xmlns='urn:xmpp:hints'/>
</message>";

    /// ...and the caller's device that called, with its OMEMO device when
    /// OMEMO is on in the chat.
    const CONVERSATIONS_PROCEED: &str =
        "<message xmlns='jabber:client' type='chat' id='jm-proceed-kbPqM0UHsmqA1/3WlSmOAQ'
    from='romeo@montague.example/Conversations.Pq7z' to='juliet@capulet.example/tern.8f3a'>
  <proceed xmlns='urn:xmpp:jingle-message:0' id='kbPqM0UHsmqA1/3WlSmOAQ'>
    <device xmlns='http://gultsch.de/xmpp/drafts/omemo/dlts-srtp-verification' id='1734502991'/>
  </proceed>
  <store xmlns='urn:xmpp:hints'/>
</message>";

    /// Conversations refuses and withdraws with an empty description and
    /// no reason.
    const CONVERSATIONS_REJECT: &str = "<message xmlns='jabber:client' type='chat'
    from='romeo@montague.example/Conversations.Pq7z' to='juliet@capulet.example/tern.8f3a'>
  <reject xmlns='urn:xmpp:jingle-message:0' id='kbPqM0UHsmqA1/3WlSmOAQ'>
    <description xmlns='urn:xmpp:jingle:apps:rtp:1'/>
  </reject>
  <store xmlns='urn:xmpp:hints'/>
</message>";
    const CONVERSATIONS_RETRACT: &str = "<message xmlns='jabber:client' type='chat'
    from='juliet@capulet.example/Conversations.Xk3d' to='romeo@montague.example'>
  <retract xmlns='urn:xmpp:jingle-message:0' id='kbPqM0UHsmqA1/3WlSmOAQ'>
    <description xmlns='urn:xmpp:jingle:apps:rtp:1'/>
  </retract>
  <store xmlns='urn:xmpp:hints'/>
</message>";

    /// Conversations' receipt for Tern's proposal: a device got it and
    /// rings.
    const CONVERSATIONS_RECEIPT: &str = "<message xmlns='jabber:client' type='chat'
    from='juliet@capulet.example/Conversations.Xk3d' to='romeo@montague.example/tern.8f3a'>
  <received xmlns='urn:xmpp:receipts' id='jm-propose-c2f0e9b4-1d7a-4a36-8f25-6b3e9d0c7a18'/>
  <store xmlns='urn:xmpp:hints'/>
</message>";

    /// Dino proposes with neither receipt request nor store hint.
    const DINO_PROPOSE: &str =
        "<message xmlns='jabber:client' type='chat' id='3f0c9a2e-6b1d-4e58-a7c4-0d9e2b6f1a73'
    from='romeo@montague.example/dino.5e7f1a2b' to='juliet@capulet.example'>
  <propose xmlns='urn:xmpp:jingle-message:0' id='a73bd2b5-4e5c-4b8e-9a0e-5f3c7d2e1b94'>
    <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/>
  </propose>
</message>";
    const DINO_PROCEED: &str =
        "<message xmlns='jabber:client' type='chat' id='8d2e4f6a-0b1c-4d3e-9f5a-7b6c8d0e2f41'
    from='juliet@capulet.example/dino.77aa01bc' to='romeo@montague.example/tern.8f3a'>
  <proceed xmlns='urn:xmpp:jingle-message:0' id='c2f0e9b4-1d7a-4a36-8f25-6b3e9d0c7a18'/>
</message>";
    const DINO_REJECT: &str =
        "<message xmlns='jabber:client' type='chat' id='1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d'
    from='juliet@capulet.example/dino.77aa01bc' to='romeo@montague.example/tern.8f3a'>
  <reject xmlns='urn:xmpp:jingle-message:0' id='c2f0e9b4-1d7a-4a36-8f25-6b3e9d0c7a18'/>
</message>";

    /// Monal rings, refuses with a reason, breaks ties and finishes.
    const MONAL_RINGING: &str =
        "<message xmlns='jabber:client' type='chat' id='5B1E2C3D-4F5A-4B6C-8D7E-9F0A1B2C3D4E'
    from='juliet@capulet.example/Monal-iOS.1f2e3d4c' to='romeo@montague.example/tern.8f3a'>
  <ringing xmlns='urn:xmpp:jingle-message:0' id='c2f0e9b4-1d7a-4a36-8f25-6b3e9d0c7a18'/>
  <store xmlns='urn:xmpp:hints'/>
</message>";
    const MONAL_REJECT_TIE_BREAK: &str =
        "<message xmlns='jabber:client' type='chat' id='6C2F3D4E-5A6B-4C7D-9E8F-0A1B2C3D4E5F'
    from='juliet@capulet.example/Monal-iOS.1f2e3d4c' to='romeo@montague.example/tern.8f3a'>
  <reject xmlns='urn:xmpp:jingle-message:0' id='c2f0e9b4-1d7a-4a36-8f25-6b3e9d0c7a18'>
    <reason xmlns='urn:xmpp:jingle:1'><expired/></reason>
    <tie-break/>
  </reject>
  <store xmlns='urn:xmpp:hints'/>
</message>";
    const MONAL_FINISH: &str =
        "<message xmlns='jabber:client' type='chat' id='7D3A4E5F-6B7C-4D8E-AF90-1B2C3D4E5F60'
    from='juliet@capulet.example/Monal-iOS.1f2e3d4c' to='romeo@montague.example/tern.8f3a'>
  <finish xmlns='urn:xmpp:jingle-message:0' id='c2f0e9b4-1d7a-4a36-8f25-6b3e9d0c7a18'>
    <reason xmlns='urn:xmpp:jingle:1'><success/></reason>
  </finish>
  <store xmlns='urn:xmpp:hints'/>
</message>";

    #[test]
    fn reads_conversations_messages() {
        assert_eq!(
            read_xml(CONVERSATIONS_PROPOSE),
            Ok(jmi(
                SID,
                JmiKind::Propose {
                    media: vec![Media::Audio],
                    unsupported: false,
                }
            ))
        );
        assert_eq!(
            read_xml(CONVERSATIONS_PROPOSE_VIDEO),
            Ok(jmi(
                "Rk2lYb9wQe0Hc5sN3tVx1A",
                JmiKind::Propose {
                    media: vec![Media::Video, Media::Audio],
                    unsupported: false,
                }
            ))
        );
        assert_eq!(
            read_xml(CONVERSATIONS_ACCEPT),
            Ok(jmi(SID, JmiKind::Accept))
        );
        assert_eq!(
            read_xml(CONVERSATIONS_PROCEED),
            Ok(jmi(
                SID,
                JmiKind::Proceed {
                    omemo_device: Some(1734502991),
                }
            ))
        );
        assert_eq!(
            read_xml(CONVERSATIONS_REJECT),
            Ok(jmi(
                SID,
                JmiKind::Reject {
                    reason: None,
                    tie_break: false,
                }
            ))
        );
        assert_eq!(
            read_xml(CONVERSATIONS_RETRACT),
            Ok(jmi(
                SID,
                JmiKind::Retract {
                    reason: None,
                    tie_break: false,
                }
            ))
        );
        // The proposal's message id names the session, as its receipt
        // and any error reply do.
        let m = msg(CONVERSATIONS_PROPOSE);
        let id = &m.id.as_ref().unwrap().0;
        assert_eq!(proposal_sid(id), Some(SID));
        assert_eq!(proceed_sid(id), None);
        let m = msg(CONVERSATIONS_PROCEED);
        assert_eq!(proceed_sid(&m.id.as_ref().unwrap().0), Some(SID));
        assert_eq!(
            receipt_proposal_sid(&msg(CONVERSATIONS_RECEIPT)).as_deref(),
            Some("c2f0e9b4-1d7a-4a36-8f25-6b3e9d0c7a18")
        );
        assert_eq!(receipt_proposal_sid(&msg(CONVERSATIONS_ACCEPT)), None);
    }

    #[test]
    fn answers_the_receipt_conversations_waits_for() {
        let receipt = wire(receipt_for_propose(&msg(CONVERSATIONS_PROPOSE)).unwrap());
        let receipt = Message::try_from(receipt).unwrap();
        assert_eq!(receipt.type_, MessageType::Chat);
        assert_eq!(
            receipt.to,
            Some(Jid::new("juliet@capulet.example/Conversations.Xk3d").unwrap())
        );
        let received = receipt
            .payloads
            .iter()
            .find_map(receipts::read_received)
            .unwrap();
        assert_eq!(received, format!("{PROPOSE_ID_PREFIX}{SID}"));
        assert!(receipt
            .payloads
            .iter()
            .any(|p| p.is("store", "urn:xmpp:hints")));
        // What Conversations reads from it.
        assert_eq!(receipt_proposal_sid(&receipt).as_deref(), Some(SID));
        // Dino asks for none; other JMI messages are not answered here.
        assert!(receipt_for_propose(&msg(DINO_PROPOSE)).is_none());
        assert!(receipt_for_propose(&msg(CONVERSATIONS_PROCEED)).is_none());
        let no_from =
            CONVERSATIONS_PROPOSE.replace("from='juliet@capulet.example/Conversations.Xk3d'", "");
        assert!(receipt_for_propose(&msg(&no_from)).is_none());
    }

    #[test]
    fn reads_dino_messages() {
        assert_eq!(
            read_xml(DINO_PROPOSE),
            Ok(jmi(
                "a73bd2b5-4e5c-4b8e-9a0e-5f3c7d2e1b94",
                JmiKind::Propose {
                    media: vec![Media::Audio],
                    unsupported: false,
                }
            ))
        );
        let sid = "c2f0e9b4-1d7a-4a36-8f25-6b3e9d0c7a18";
        assert_eq!(
            read_xml(DINO_PROCEED),
            Ok(jmi(sid, JmiKind::Proceed { omemo_device: None }))
        );
        assert_eq!(
            read_xml(DINO_REJECT),
            Ok(jmi(
                sid,
                JmiKind::Reject {
                    reason: None,
                    tie_break: false,
                }
            ))
        );
    }

    #[test]
    fn reads_monal_and_the_xep_examples() {
        let sid = "c2f0e9b4-1d7a-4a36-8f25-6b3e9d0c7a18";
        assert_eq!(read_xml(MONAL_RINGING), Ok(jmi(sid, JmiKind::Ringing)));
        assert_eq!(
            read_xml(MONAL_REJECT_TIE_BREAK),
            Ok(jmi(
                sid,
                JmiKind::Reject {
                    reason: Some(Reason::new(Condition::Expired)),
                    tie_break: true,
                }
            ))
        );
        assert_eq!(
            read_xml(MONAL_FINISH),
            Ok(jmi(
                sid,
                JmiKind::Finish {
                    reason: Some(Reason::new(Condition::Success)),
                    migrated_to: None,
                }
            ))
        );
        // XEP-0353 §3.3: a retraction with a reason and text.
        let retract = read_xml(
            "<message from='romeo@montague.example/orchard'
         to='juliet@capulet.example'
         type='chat' xmlns='jabber:client'>
  <retract xmlns='urn:xmpp:jingle-message:0' id='ca3cf894-5325-482f-a412-a6e9f832298d'>
    <reason xmlns=\"urn:xmpp:jingle:1\">
      <cancel/>
      <text>Retracted</text>
    </reason>
  </retract>
  <store xmlns=\"urn:xmpp:hints\"/>
</message>",
        )
        .unwrap();
        assert_eq!(
            retract.kind,
            JmiKind::Retract {
                reason: Some(Reason {
                    condition: Some(Condition::Cancel),
                    text: Some("Retracted".into()),
                }),
                tie_break: false,
            }
        );
        // XEP-0353 §4.2: a finish pointing to the session that goes on.
        let finish = read_xml(
            "<message from='romeo@montague.example/orchard'
         to='juliet@capulet.example'
         type='chat' xmlns='jabber:client'>
  <finish xmlns='urn:xmpp:jingle-message:0' id='ca3cf894-5325-482f-a412-a6e9f832298d'>
    <reason xmlns=\"urn:xmpp:jingle:1\">
      <expired/>
      <text>Session migrated</text>
    </reason>
    <migrated to='989a46a6-f202-4910-a7c3-83c6ba3f3947'/>
  </finish>
  <store xmlns=\"urn:xmpp:hints\"/>
</message>",
        )
        .unwrap();
        let JmiKind::Finish {
            reason,
            migrated_to,
        } = finish.kind
        else {
            panic!("a finish")
        };
        assert_eq!(reason.unwrap().condition, Some(Condition::Expired));
        assert_eq!(
            migrated_to.as_deref(),
            Some("989a46a6-f202-4910-a7c3-83c6ba3f3947")
        );
    }

    #[test]
    fn builders_round_trip() {
        let to = Jid::new("juliet@capulet.example").unwrap();
        let sid = "c2f0e9b4-1d7a-4a36-8f25-6b3e9d0c7a18";
        let all = [
            JmiKind::Propose {
                media: vec![Media::Audio, Media::Video],
                unsupported: false,
            },
            JmiKind::Ringing,
            JmiKind::Proceed { omemo_device: None },
            JmiKind::Proceed {
                omemo_device: Some(42),
            },
            JmiKind::Accept,
            JmiKind::Reject {
                reason: Some(Reason::new(Condition::Busy)),
                tie_break: false,
            },
            JmiKind::Reject {
                reason: Some(Reason {
                    condition: Some(Condition::Expired),
                    text: Some("Tie-Break".into()),
                }),
                tie_break: true,
            },
            JmiKind::Retract {
                reason: Some(Reason::new(Condition::Cancel)),
                tie_break: false,
            },
            JmiKind::Retract {
                reason: None,
                tie_break: true,
            },
            JmiKind::Finish {
                reason: Some(Reason::new(Condition::Success)),
                migrated_to: None,
            },
            JmiKind::Finish {
                reason: Some(Reason::new(Condition::Expired)),
                migrated_to: Some("989a46a6-f202-4910-a7c3-83c6ba3f3947".into()),
            },
        ];
        for kind in all {
            let j = jmi(sid, kind);
            let m = Message::try_from(wire(message(to.clone(), &j))).unwrap();
            assert_eq!(read_message(&m), Some(Ok(j.clone())), "{j:?}");
            // Every JMI message is a chat message archives keep.
            assert_eq!(m.type_, MessageType::Chat);
            assert_eq!(m.to.as_ref(), Some(&to));
            assert!(m.payloads.iter().any(|p| p.is("store", "urn:xmpp:hints")));
            let id = &m.id.as_ref().unwrap().0;
            let asks = m.payloads.iter().any(receipts::is_request);
            match j.kind {
                JmiKind::Propose { .. } => {
                    assert_eq!(proposal_sid(id), Some(sid));
                    assert!(asks, "a proposal asks for a receipt");
                }
                JmiKind::Proceed { .. } => {
                    assert_eq!(proceed_sid(id), Some(sid));
                    assert!(!asks);
                }
                _ => {
                    assert_eq!((proposal_sid(id), proceed_sid(id)), (None, None));
                    assert!(!asks);
                }
            }
        }
        // The proposal as Conversations and Dino read it.
        let built = wire(jmi_element(&jmi(
            sid,
            JmiKind::Propose {
                media: vec![Media::Audio],
                unsupported: false,
            },
        )));
        assert_eq!(
            built,
            crate::xep::tight(
                "<propose xmlns='urn:xmpp:jingle-message:0' id='c2f0e9b4-1d7a-4a36-8f25-6b3e9d0c7a18'>
  <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/>
</propose>"
            )
        );
    }

    #[test]
    fn unusable_messages_are_refused() {
        let propose = |attrs: &str, body: &str| {
            read(&el(&format!(
                "<propose xmlns='urn:xmpp:jingle-message:0' {attrs}>{body}</propose>"
            )))
            .expect("a JMI element")
        };
        let audio = "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/>";
        assert_eq!(propose("", audio), Err(ReadError::NoSid));
        assert_eq!(propose("id=''", audio), Err(ReadError::NoSid));
        let long = "x".repeat(MAX_ID_LEN + 1);
        assert_eq!(
            propose(&format!("id='{long}'"), audio),
            Err(ReadError::NoSid)
        );
        assert_eq!(propose("id='a'", ""), Err(ReadError::NoMedia));
        assert_eq!(
            propose(
                "id='a'",
                "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='application'/>\
                 <description xmlns='urn:xmpp:jingle:apps:file-transfer:5'/>"
            ),
            Err(ReadError::NoMedia)
        );
        assert_eq!(
            propose(
                "id='a'",
                "<description xmlns='urn:xmpp:jingle:apps:rtp:1'/>"
            ),
            Err(ReadError::NoMedia)
        );
        assert_eq!(
            propose("id='a'", &audio.repeat(MAX_DESCRIPTIONS + 1)),
            Err(ReadError::TooMany {
                what: "descriptions",
                max: MAX_DESCRIPTIONS,
            })
        );
        // Audio twice, and something Tern does not take beside it.
        assert_eq!(
            propose(
                "id='a'",
                &format!(
                    "{audio}{audio}<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='text'/>"
                )
            ),
            Ok(jmi(
                "a",
                JmiKind::Propose {
                    media: vec![Media::Audio],
                    unsupported: true,
                }
            ))
        );
        // Unknown children are skipped; an unusable OMEMO device is none.
        assert_eq!(
            read(&el("<proceed xmlns='urn:xmpp:jingle-message:0' id='a'>
  <device xmlns='http://gultsch.de/xmpp/drafts/omemo/dlts-srtp-verification' id='many'/>
  <future xmlns='urn:example:future'/>
</proceed>")),
            Some(Ok(jmi("a", JmiKind::Proceed { omemo_device: None })))
        );
        let long_migration = format!(
            "<finish xmlns='urn:xmpp:jingle-message:0' id='a'><migrated to='{long}'/></finish>"
        );
        assert_eq!(
            read(&el(&long_migration)),
            Some(Ok(jmi(
                "a",
                JmiKind::Finish {
                    reason: None,
                    migrated_to: None,
                }
            )))
        );
        // Unknown JMI elements and other namespaces.
        assert_eq!(
            read(&el("<hangup xmlns='urn:xmpp:jingle-message:0' id='a'/>")),
            Some(Err(ReadError::NoAction))
        );
        assert_eq!(
            read(&el("<propose xmlns='urn:xmpp:jingle-message:1' id='a'/>")),
            None
        );
        let unknown_only = msg(
            "<message xmlns='jabber:client' type='chat' from='a@example.com/r'>
  <hangup xmlns='urn:xmpp:jingle-message:0' id='a'/>
</message>",
        );
        assert_eq!(read_message(&unknown_only), None);
        // JMI is not read in group chats or errors.
        for type_ in ["groupchat", "error"] {
            let m = DINO_PROPOSE.replace("type='chat'", &format!("type='{type_}'"));
            assert_eq!(read_message(&msg(&m)), None, "{type_}");
        }
        // A message without a type is a normal message: read.
        let m = DINO_PROPOSE.replace("type='chat'", "");
        assert!(matches!(read_message(&msg(&m)), Some(Ok(_))));
        // A huge reason text is cut.
        let text = "x".repeat(1_000_000);
        let m = msg(&format!(
            "<message xmlns='jabber:client' type='chat' from='a@example.com/r'>
  <reject xmlns='urn:xmpp:jingle-message:0' id='a'>
    <reason xmlns='urn:xmpp:jingle:1'><busy/><text>{text}</text></reason>
  </reject>
</message>"
        ));
        let Some(Ok(Jmi {
            kind: JmiKind::Reject {
                reason: Some(r), ..
            },
            ..
        })) = read_message(&m)
        else {
            panic!("a reject with a reason")
        };
        assert_eq!(r.text.unwrap().chars().count(), 1000);
        // Message ids that name no session.
        assert_eq!(proposal_sid("jm-propose-"), None);
        assert_eq!(proposal_sid("propose-a"), None);
        assert_eq!(proceed_sid(&format!("jm-proceed-{long}")), None);
    }
}
