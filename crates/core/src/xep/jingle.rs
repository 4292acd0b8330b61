//! XEP-0166 Jingle sessions for voice and video calls: the session IQs
//! (`urn:xmpp:jingle:1`) with XEP-0167 RTP descriptions (XEP-0293 RTCP
//! feedback, XEP-0294 header extensions, XEP-0339 sources), XEP-0176
//! ICE-UDP transports carrying XEP-0320 DTLS fingerprints, XEP-0338
//! BUNDLE groups and XEP-0167 session-info. The messages that announce a
//! call (XEP-0353) are in [`super::jingle_message`].
//!
//! Everything is read by hand over `minidom`, not through xmpp-parsers'
//! Jingle types: those refuse a whole stanza for one value they do not know
//! (a `senders`, a `creator`, a reason condition such as Dino's, below) and
//! keep lists of any length. A reader here skips what it does not
//! understand, drops an unusable candidate or payload type rather than the
//! stanza, and refuses (with a [`ReadError`]) only what no call could use:
//! no session id, an unknown action, a content without a name, or more of
//! something than a call ever needs ([`MAX_CONTENTS`],
//! [`MAX_PAYLOAD_TYPES`], [`MAX_CANDIDATES`], …), so that a peer cannot
//! make Tern hold an unbounded list.
//!
//! # What Conversations and Dino send
//!
//! Read in Conversations 2.12.8 of August 2023 (`JingleRtpConnection.java`,
//! `RtpContentMap.java`, `SessionDescription.java`, `WebRTCWrapper.java`,
//! `stanzas/JinglePacket.java`, `stanzas/Content.java`,
//! `stanzas/RtpDescription.java`, `stanzas/IceUdpTransportInfo.java`,
//! `stanzas/Group.java`, `stanzas/Reason.java`) and in Dino's main branch
//! after 0.5 (`xmpp-vala/src/module/xep/0166_jingle/*.vala`,
//! `0167_jingle_rtp/*.vala`, `0176_jingle_ice_udp/*.vala`,
//! `plugins/rtp/src/module.vala`,
//! `plugins/ice/src/transport_parameters.vala`,
//! `libdino/src/service/call_peer_state.vala`):
//!
//! - Conversations turns WebRTC's SDP into Jingle. Its contents are named
//!   after the SDP `mid` (`0`, `1`), always with `creator='initiator'` (also
//!   in the responder's stanzas), `senders` left out when it is `both`, and
//!   the session carries `<group semantics='BUNDLE'>` naming them. A
//!   description holds the payload types (channels only when not 1, the
//!   `fmtp` parameters, `rtcp-fb` per payload type and `*` ones on the
//!   description), `rtp-hdrext`, `extmap-allow-mixed`, XEP-0339
//!   `source`/`ssrc-group` and `<rtcp-mux/>`. Audio is WebRTC's list: Opus
//!   111 at 48000/2 with `minptime=10`, `useinbandfec=1` and
//!   `transport-cc`, then red, G722, ILBC, PCMU, PCMA, CN,
//!   telephone-event. No `initiator` or `responder` attribute.
//! - Conversations' session-initiate and session-accept transports carry
//!   `ufrag`, `pwd` and the fingerprint (`sha-256`, setup `actpass` in the
//!   offer, WebRTC's `active` in the answer) but no candidate: every
//!   candidate follows in its own transport-info, one content with the
//!   transport's `ufrag` and `pwd` and one `<candidate>` (component,
//!   foundation, generation, a random UUID as id, ip, port, priority,
//!   protocol `udp`, type, rel-addr and rel-port when known; no `network`).
//!   TCP candidates are disabled. An ICE restart is a transport-info with
//!   new `ufrag` and `pwd` on every content and no candidate.
//! - Conversations refuses a session-initiate unless every content has an
//!   RTP description (`requireContentDescriptions`), an ICE-UDP transport
//!   (else `unsupported-applications` / `unsupported-transports`) and a
//!   DTLS fingerprint with a hash, a value and `setup='actpass'`
//!   (`requireDTLSFingerprint(true)`, else `security-error`): it answers
//!   the IQ with a result, then sends a session-terminate with that reason
//!   and a text. After a JMI proceed the offer's media must also be those
//!   proposed (else `security-error`). A session-accept needs a fingerprint
//!   whose setup is the same on every content and is not `actpass`. To
//!   build its SDP it also needs a non-empty `ufrag` and `pwd` without
//!   whitespace, numeric payload-type ids and a name on every payload
//!   type. See [`check_offer`] and [`check_answer`].
//! - Conversations ends a call with a session-terminate whose `<reason>`
//!   holds a condition and maybe a `<text>`; a busy callee answers a
//!   session-initiate with `busy`. It takes an unknown condition for a
//!   connectivity error. It answers session-info with an empty result and sends none.
//! - Dino names its contents `audio` and `video` (one per medium, no
//!   BUNDLE), writes `initiator` (its full JID), `creator='initiator'` and
//!   `senders='both'`. Its audio description always has `<rtcp-mux/>` and,
//!   of those its GStreamer can encode and decode, Opus 111 at 48000/2
//!   with the parameter `useinbandfec=1`, Speex 112/113/114, G722 9, PCMU
//!   0 and PCMA 8; video VP8 98 (VP9 97, H264 96 when built with them)
//!   with `goog-remb`, `ccm fir`, `nack`, `nack pli` and the
//!   `urn:3gpp:video-orientation` header extension. The initiator also adds
//!   XEP-0167 SDES keys (`<encryption><crypto/></encryption>`), which Tern
//!   ignores: it uses DTLS-SRTP.
//! - Dino's transport has two components (RTP and RTCP) even with
//!   rtcp-mux, a `sha-256` fingerprint in upper-case hex with colons, setup
//!   `actpass` when it initiates and `active` when it answers an offer that
//!   had a fingerprint (none at all otherwise). Candidates gathered before
//!   the stanza goes out are in it (generation 0, network 0, an 8-digit hex
//!   id); later ones come one per transport-info with `ufrag` and `pwd`
//!   and no fingerprint. Its session-accept has no `responder` and only
//!   the chosen payload type in each description.
//! - Dino's reason names `failed_application` and `failed_transport` (with
//!   an underscore, `reason_element.vala`), and it sends them: Tern reads
//!   both spellings. Its session-info `mute`/`unmute` name the content
//!   (`name`, `creator`); it also reads `active`, `hold`, `unhold` and
//!   `ringing`.
//! - Monal (`MLCall.m`) sends its session-initiate and transport-info
//!   without `initiator`.

use std::net::IpAddr;

use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;

use super::{bounded_id, clean_text, with_attr, xml_text};

/// XEP-0166: the namespace of Jingle.
pub(crate) const NS_JINGLE: &str = "urn:xmpp:jingle:1";
/// XEP-0167: the namespace of RTP descriptions.
pub(crate) const NS_RTP: &str = "urn:xmpp:jingle:apps:rtp:1";
/// XEP-0167 §7: the namespace of RTP session-info.
pub(crate) const NS_RTP_INFO: &str = "urn:xmpp:jingle:apps:rtp:info:1";
/// XEP-0293: the namespace of RTCP feedback.
pub(crate) const NS_RTCP_FB: &str = "urn:xmpp:jingle:apps:rtp:rtcp-fb:0";
/// XEP-0294: the namespace of RTP header extensions.
pub(crate) const NS_RTP_HDREXT: &str = "urn:xmpp:jingle:apps:rtp:rtp-hdrext:0";
/// XEP-0339: the namespace of source-specific media attributes.
pub(crate) const NS_SSMA: &str = "urn:xmpp:jingle:apps:rtp:ssma:0";
/// XEP-0176: the namespace of ICE-UDP transports.
pub(crate) const NS_ICE_UDP: &str = "urn:xmpp:jingle:transports:ice-udp:1";
/// XEP-0320: the namespace of DTLS fingerprints.
pub(crate) const NS_DTLS: &str = "urn:xmpp:jingle:apps:dtls:0";
/// XEP-0338: the namespace of content groups.
pub(crate) const NS_GROUPING: &str = "urn:xmpp:jingle:apps:grouping:0";
/// XEP-0338: the semantics of a group whose contents share one transport.
pub(crate) const BUNDLE: &str = "BUNDLE";

/// Most contents read from one stanza (a call has one or two).
pub(crate) const MAX_CONTENTS: usize = 16;
/// Most payload types read from one description (WebRTC offers about 20
/// for video).
pub(crate) const MAX_PAYLOAD_TYPES: usize = 64;
/// Most candidates read from one transport (one per transport-info from
/// Conversations, a few dozen at most from Dino).
pub(crate) const MAX_CANDIDATES: usize = 64;
/// Most parameters or feedback types read from one payload type.
pub(crate) const MAX_PARAMETERS: usize = 32;
/// Most header extensions, sources or source groups read from one
/// description.
pub(crate) const MAX_EXTENSIONS: usize = 32;
/// Most parameters of one source, or sources of one source group.
pub(crate) const MAX_SOURCE_ITEMS: usize = 16;
/// Longest name, id, token or value kept, in bytes (ICE allows 256 for a
/// `ufrag` or `pwd`).
pub(crate) const MAX_VALUE_LEN: usize = 256;
/// Longest header extension URI kept, in bytes.
pub(crate) const MAX_URI_LEN: usize = 1024;
/// Longest reason text kept, in characters.
pub(crate) const MAX_REASON_TEXT: usize = 1000;
/// Longest JID read from `initiator` or `responder`, in bytes (RFC 7622:
/// three parts of at most 1023).
const MAX_JID_LEN: usize = 3071;
/// Longest hash name of a fingerprint (`sha-256`).
const MAX_HASH_NAME: usize = 16;
/// Longest fingerprint digest, in bytes (SHA-512).
const MAX_DIGEST: usize = 64;

/// Why a Jingle stanza (or a JMI message, [`super::jingle_message`]) cannot
/// be used. The session is then answered with an error or ignored; the
/// text is for the log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ReadError {
    /// The session id (`sid`, or a JMI `id`) is missing, empty or longer
    /// than [`super::MAX_ID_LEN`].
    #[error("no usable session id")]
    NoSid,
    /// The action (or the JMI element) is missing or unknown.
    #[error("no known action")]
    NoAction,
    /// More of something than Tern reads.
    #[error("more than {max} {what}")]
    TooMany {
        /// What there were too many of.
        what: &'static str,
        /// The most Tern reads.
        max: usize,
    },
    /// A content has no usable name.
    #[error("a content without a usable name")]
    NoContentName,
    /// Two contents have the same name.
    #[error("two contents named {0:?}")]
    DuplicateContent(String),
    /// A JMI proposal names no audio or video.
    #[error("a proposal without audio or video")]
    NoMedia,
}

/// Implements the wire names of a plain enum: `ALL`, `as_str`, `from_name`.
macro_rules! wire_names {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The name on the wire.
            pub(crate) fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }

            /// The value a wire name names, if any.
            pub(crate) fn from_name(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == name)
            }
        }
    };
}

/// What a Jingle IQ does to its session (XEP-0166 §7.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Action {
    /// Accepts a content-add.
    ContentAccept,
    /// Adds a content (video to a voice call).
    ContentAdd,
    /// Changes who sends on a content.
    ContentModify,
    /// Refuses a content-add.
    ContentReject,
    /// Removes a content.
    ContentRemove,
    /// Changes a description.
    DescriptionInfo,
    /// Security parameters.
    SecurityInfo,
    /// The responder accepts the call.
    SessionAccept,
    /// Information on the call (ringing, mute, …) or a ping.
    SessionInfo,
    /// Offers the call.
    SessionInitiate,
    /// Ends the call (or refuses it).
    SessionTerminate,
    /// Accepts a transport-replace.
    TransportAccept,
    /// More transport information: a candidate, or an ICE restart.
    TransportInfo,
    /// Refuses a transport-replace.
    TransportReject,
    /// Offers another transport.
    TransportReplace,
}

wire_names!(Action {
    ContentAccept => "content-accept",
    ContentAdd => "content-add",
    ContentModify => "content-modify",
    ContentReject => "content-reject",
    ContentRemove => "content-remove",
    DescriptionInfo => "description-info",
    SecurityInfo => "security-info",
    SessionAccept => "session-accept",
    SessionInfo => "session-info",
    SessionInitiate => "session-initiate",
    SessionTerminate => "session-terminate",
    TransportAccept => "transport-accept",
    TransportInfo => "transport-info",
    TransportReject => "transport-reject",
    TransportReplace => "transport-replace",
});

/// Which party created a content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Creator {
    /// The party that sent the session-initiate.
    Initiator,
    /// The other party.
    Responder,
}

wire_names!(Creator {
    Initiator => "initiator",
    Responder => "responder",
});

/// Which parties send media on a content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Senders {
    /// Both (the default).
    Both,
    /// Only the initiator.
    Initiator,
    /// Only the responder.
    Responder,
    /// Neither (a content on hold).
    None,
}

wire_names!(Senders {
    Both => "both",
    Initiator => "initiator",
    Responder => "responder",
    None => "none",
});

/// The medium of an RTP description (or of a JMI proposal).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Media {
    /// Voice.
    Audio,
    /// Video.
    Video,
}

wire_names!(Media {
    Audio => "audio",
    Video => "video",
});

impl Media {
    /// The medium a `media` attribute names; case does not matter
    /// (Conversations reads it so).
    pub(crate) fn read(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|m| m.as_str().eq_ignore_ascii_case(name))
    }
}

/// Why a session ends (XEP-0166 §7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Condition {
    /// The peer has another session with us.
    AlternativeSession,
    /// The callee is in another call.
    Busy,
    /// The caller gave up.
    Cancel,
    /// The network failed.
    ConnectivityError,
    /// The callee refused.
    Decline,
    /// The session is over (JMI: a tie-break or a moved call).
    Expired,
    /// The application failed.
    FailedApplication,
    /// The transport failed.
    FailedTransport,
    /// Something else failed.
    GeneralError,
    /// The party is gone.
    Gone,
    /// The parameters do not fit.
    IncompatibleParameters,
    /// The media failed.
    MediaError,
    /// Security: a missing or wrong DTLS fingerprint.
    SecurityError,
    /// A call that ended normally.
    Success,
    /// Nobody answered in time.
    Timeout,
    /// No application in common.
    UnsupportedApplications,
    /// No transport in common.
    UnsupportedTransports,
}

wire_names!(Condition {
    AlternativeSession => "alternative-session",
    Busy => "busy",
    Cancel => "cancel",
    ConnectivityError => "connectivity-error",
    Decline => "decline",
    Expired => "expired",
    FailedApplication => "failed-application",
    FailedTransport => "failed-transport",
    GeneralError => "general-error",
    Gone => "gone",
    IncompatibleParameters => "incompatible-parameters",
    MediaError => "media-error",
    SecurityError => "security-error",
    Success => "success",
    Timeout => "timeout",
    UnsupportedApplications => "unsupported-applications",
    UnsupportedTransports => "unsupported-transports",
});

impl Condition {
    /// The condition an element name names, with Dino's spellings
    /// `failed_application` and `failed_transport`.
    pub(crate) fn read(name: &str) -> Option<Self> {
        match name {
            "failed_application" => Some(Self::FailedApplication),
            "failed_transport" => Some(Self::FailedTransport),
            _ => Self::from_name(name),
        }
    }
}

/// A `<reason/>` (XEP-0166 §7.4), in a session-terminate or in a JMI
/// message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reason {
    /// The condition; `None` when the element names none Tern knows.
    pub(crate) condition: Option<Condition>,
    /// The human-readable text, cleaned, at most [`MAX_REASON_TEXT`]
    /// characters.
    pub(crate) text: Option<String>,
}

impl Reason {
    /// A reason with `condition` and no text.
    pub(crate) fn new(condition: Condition) -> Self {
        Self {
            condition: Some(condition),
            text: None,
        }
    }
}

/// What a session-info says (XEP-0167 §7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SessionInfo {
    /// The call is active again.
    Active,
    /// The peer put the call on hold.
    Hold,
    /// The peer resumed the call.
    Unhold,
    /// The peer muted a content (all of them without a name).
    Mute {
        /// The content's name.
        name: Option<String>,
        /// The content's creator.
        creator: Option<Creator>,
    },
    /// The peer unmuted a content.
    Unmute {
        /// The content's name.
        name: Option<String>,
        /// The content's creator.
        creator: Option<Creator>,
    },
    /// The callee's device is ringing.
    Ringing,
}

/// The DTLS role of a party (RFC 4145 `a=setup`, XEP-0320).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Setup {
    /// Either: what an offer says.
    Actpass,
    /// Opens the DTLS connection (DTLS client).
    Active,
    /// Waits for it (DTLS server).
    Passive,
}

wire_names!(Setup {
    Actpass => "actpass",
    Active => "active",
    Passive => "passive",
});

/// The fingerprint of a party's DTLS certificate (XEP-0320).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    /// The hash function, lower case (`sha-256`).
    pub(crate) hash: String,
    /// The party's DTLS role.
    pub(crate) setup: Setup,
    /// The digest (at most 64 bytes; written as upper-case hex pairs
    /// joined by colons).
    pub(crate) digest: Vec<u8>,
}

/// The type of an ICE candidate (RFC 8445).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum CandidateType {
    /// A local address.
    Host,
    /// The address a STUN server saw.
    Srflx,
    /// An address learnt from a peer's check.
    Prflx,
    /// A TURN relay.
    Relay,
}

wire_names!(CandidateType {
    Host => "host",
    Srflx => "srflx",
    Prflx => "prflx",
    Relay => "relay",
});

/// An ICE candidate (XEP-0176 §5.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// The component: 1 for RTP, 2 for RTCP.
    pub(crate) component: u8,
    /// The foundation.
    pub(crate) foundation: String,
    /// The ICE generation (0 from Dino and WebRTC).
    pub(crate) generation: Option<u32>,
    /// The candidate's id (a UUID from Conversations).
    pub(crate) id: Option<String>,
    /// The address: an IP address, or an mDNS name ending in `.local`.
    pub(crate) ip: String,
    /// The port (never 0).
    pub(crate) port: u16,
    /// The priority.
    pub(crate) priority: u32,
    /// The protocol, lower case (`udp`; Conversations refuses others).
    pub(crate) protocol: String,
    /// The type.
    pub(crate) kind: CandidateType,
    /// The network interface index (0 from Dino).
    pub(crate) network: Option<u32>,
    /// The related address of a reflexive or relayed candidate.
    pub(crate) rel_addr: Option<String>,
    /// The related port.
    pub(crate) rel_port: Option<u16>,
}

/// An ICE-UDP transport (XEP-0176), with its DTLS fingerprint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct IceUdpTransport {
    /// The ICE username fragment.
    pub(crate) ufrag: Option<String>,
    /// The ICE password.
    pub(crate) pwd: Option<String>,
    /// The DTLS fingerprint (the first usable one).
    pub(crate) fingerprint: Option<Fingerprint>,
    /// The DTLS fingerprint encrypted with OMEMO (`xep::omemo_dtls`), in
    /// place of the plain one: the engine opens it into `fingerprint`.
    pub(crate) omemo_fingerprint: Option<super::omemo_dtls::OmemoFingerprint>,
    /// The candidates that are usable (at most [`MAX_CANDIDATES`] were
    /// read).
    pub(crate) candidates: Vec<Candidate>,
}

/// An RTCP feedback type (XEP-0293).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Feedback {
    /// The type (`nack`, `ccm`, `transport-cc`, …).
    pub(crate) kind: String,
    /// The subtype (`pli`, `fir`, …).
    pub(crate) subtype: Option<String>,
}

/// An RTP payload type (XEP-0167 §5): a codec and its settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PayloadType {
    /// The payload type number (0 to 127).
    pub(crate) id: u8,
    /// The codec's name (`opus`); static types may have none, but
    /// Conversations needs one.
    pub(crate) name: Option<String>,
    /// The clock rate, in Hz.
    pub(crate) clockrate: Option<u32>,
    /// The number of channels (1 when not given).
    pub(crate) channels: u8,
    /// The packet time, in milliseconds.
    pub(crate) ptime: Option<u32>,
    /// The longest packet time, in milliseconds.
    pub(crate) maxptime: Option<u32>,
    /// The format parameters (`useinbandfec` = `1`), in order.
    pub(crate) parameters: Vec<(String, String)>,
    /// The RTCP feedback this payload type uses.
    pub(crate) feedback: Vec<Feedback>,
}

impl PayloadType {
    /// A payload type without parameters or feedback.
    pub(crate) fn new(id: u8, name: &str, clockrate: u32, channels: u8) -> Self {
        Self {
            id,
            name: Some(name.to_string()),
            clockrate: Some(clockrate),
            channels,
            ptime: None,
            maxptime: None,
            parameters: Vec::new(),
            feedback: Vec::new(),
        }
    }
}

/// An RTP header extension (XEP-0294).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HeaderExtension {
    /// Its id in the RTP header (1 to 255).
    pub(crate) id: u8,
    /// What it is.
    pub(crate) uri: String,
    /// Who sends it.
    pub(crate) senders: Senders,
}

/// A media source (XEP-0339), with its `cname`, `msid`, … parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Source {
    /// The SSRC.
    pub(crate) ssrc: u32,
    /// The parameters, in order (a value may hold spaces: `msid`).
    pub(crate) parameters: Vec<(String, Option<String>)>,
}

/// A group of sources (XEP-0339: `FID` for retransmissions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SourceGroup {
    /// What ties them.
    pub(crate) semantics: String,
    /// The SSRCs.
    pub(crate) ssrcs: Vec<u32>,
}

/// An RTP description (XEP-0167 §5) of audio or video.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RtpDescription {
    /// The medium.
    pub(crate) media: Media,
    /// The codecs, the preferred first.
    pub(crate) payload_types: Vec<PayloadType>,
    /// RTCP feedback for every payload type (SDP's `rtcp-fb:*`).
    pub(crate) feedback: Vec<Feedback>,
    /// The header extensions.
    pub(crate) header_extensions: Vec<HeaderExtension>,
    /// Whether one- and two-byte header extensions may be mixed.
    pub(crate) extmap_allow_mixed: bool,
    /// Whether RTP and RTCP share one port (RFC 5761).
    pub(crate) rtcp_mux: bool,
    /// The media sources.
    pub(crate) sources: Vec<Source>,
    /// The groups of sources.
    pub(crate) source_groups: Vec<SourceGroup>,
}

impl RtpDescription {
    /// A description of `media` with these payload types and rtcp-mux.
    pub(crate) fn new(media: Media, payload_types: Vec<PayloadType>) -> Self {
        Self {
            media,
            payload_types,
            feedback: Vec::new(),
            header_extensions: Vec::new(),
            extmap_allow_mixed: false,
            rtcp_mux: true,
            sources: Vec::new(),
            source_groups: Vec::new(),
        }
    }
}

/// A content of a session: one medium with its transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Content {
    /// Its name (the SDP `mid`).
    pub(crate) name: String,
    /// Who created it (the initiator when not given, as Dino reads it).
    pub(crate) creator: Creator,
    /// Who sends media on it (both when not given).
    pub(crate) senders: Senders,
    /// Its RTP description, if it has one Tern reads.
    pub(crate) description: Option<RtpDescription>,
    /// Its ICE-UDP transport, if it has one.
    pub(crate) transport: Option<IceUdpTransport>,
    /// It has a description Tern does not read: another application than
    /// RTP, or another medium than audio or video.
    pub(crate) unsupported_description: bool,
    /// It has another transport than ICE-UDP.
    pub(crate) unsupported_transport: bool,
}

impl Content {
    /// A content created by the initiator and sent both ways.
    pub(crate) fn new(
        name: &str,
        description: Option<RtpDescription>,
        transport: Option<IceUdpTransport>,
    ) -> Self {
        Self {
            name: name.to_string(),
            creator: Creator::Initiator,
            senders: Senders::Both,
            description,
            transport,
            unsupported_description: false,
            unsupported_transport: false,
        }
    }
}

/// A group of contents (XEP-0338).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Group {
    /// What ties them ([`BUNDLE`]: one transport for all).
    pub(crate) semantics: String,
    /// The names of the contents.
    pub(crate) contents: Vec<String>,
}

/// A `<jingle/>` element: one step of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JingleIq {
    /// What the step does.
    pub(crate) action: Action,
    /// The session id.
    pub(crate) sid: String,
    /// The initiator's full JID, if given (Conversations and Monal do not).
    pub(crate) initiator: Option<Jid>,
    /// The responder's full JID, if given.
    pub(crate) responder: Option<Jid>,
    /// The contents, in order, with distinct names.
    pub(crate) contents: Vec<Content>,
    /// The BUNDLE group, if any.
    pub(crate) group: Option<Group>,
    /// Why the session ends (session-terminate).
    pub(crate) reason: Option<Reason>,
    /// What a session-info says; `None` for a ping or what Tern does not
    /// read.
    pub(crate) info: Option<SessionInfo>,
}

impl JingleIq {
    /// A step of session `sid` with nothing in it yet.
    pub(crate) fn new(action: Action, sid: &str) -> Self {
        Self {
            action,
            sid: sid.to_string(),
            initiator: None,
            responder: None,
            contents: Vec::new(),
            group: None,
            reason: None,
            info: None,
        }
    }

    /// Ends session `sid` for `condition`.
    pub(crate) fn terminate(sid: &str, condition: Condition, text: Option<&str>) -> Self {
        let mut j = Self::new(Action::SessionTerminate, sid);
        j.reason = Some(Reason {
            condition: Some(condition),
            text: text.map(str::to_string),
        });
        j
    }

    /// A transport-info for content `name`: what Conversations and Dino
    /// send for each new candidate (the transport with its `ufrag`, `pwd`
    /// and one candidate, no fingerprint).
    pub(crate) fn transport_info(
        sid: &str,
        name: &str,
        creator: Creator,
        transport: IceUdpTransport,
    ) -> Self {
        let mut j = Self::new(Action::TransportInfo, sid);
        let mut content = Content::new(name, None, Some(transport));
        content.creator = creator;
        j.contents.push(content);
        j
    }

    /// A session-info saying `info`.
    pub(crate) fn session_info(sid: &str, info: SessionInfo) -> Self {
        let mut j = Self::new(Action::SessionInfo, sid);
        j.info = Some(info);
        j
    }

    /// The media of the contents, each once, in order.
    pub(crate) fn media(&self) -> Vec<Media> {
        let mut media = Vec::new();
        for m in self
            .contents
            .iter()
            .filter_map(|c| Some(c.description.as_ref()?.media))
        {
            if !media.contains(&m) {
                media.push(m);
            }
        }
        media
    }
}

// ---------------------------------------------------------------------
// Reading.

/// `s` if it is a token: not empty, at most `max` bytes, without
/// whitespace or control characters.
fn token(s: &str, max: usize) -> Option<String> {
    (!s.is_empty() && s.len() <= max && !s.chars().any(|c| c.is_whitespace() || c.is_control()))
        .then(|| s.to_string())
}

/// `s` if it is a value: at most `max` bytes, without control characters.
fn value(s: &str, max: usize) -> Option<String> {
    (s.len() <= max && !s.chars().any(char::is_control)).then(|| s.to_string())
}

/// The token in attribute `name` of `el`.
fn attr_token(el: &Element, name: &str, max: usize) -> Option<String> {
    token(el.attr(name)?, max)
}

/// The number in attribute `name` of `el` (decimal digits only).
fn attr_num<T: std::str::FromStr>(el: &Element, name: &str) -> Option<T> {
    let s = el.attr(name)?;
    (s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Reads the children of `parent` named `name` in `ns` with `read`,
/// refusing more than `max` of them; children `read` finds unusable are
/// left out.
fn read_children<T>(
    parent: &Element,
    name: &str,
    ns: &str,
    max: usize,
    what: &'static str,
    read: impl Fn(&Element) -> Result<Option<T>, ReadError>,
) -> Result<Vec<T>, ReadError> {
    let mut out = Vec::new();
    for (i, child) in parent.children().filter(|c| c.is(name, ns)).enumerate() {
        if i >= max {
            return Err(ReadError::TooMany { what, max });
        }
        if let Some(v) = read(child)? {
            out.push(v);
        }
    }
    Ok(out)
}

/// The Jingle step in `iq`: `None` unless it is an `<iq type='set'/>` with
/// a `<jingle/>`.
pub(crate) fn read_iq(iq: &Iq) -> Option<Result<JingleIq, ReadError>> {
    match iq {
        Iq::Set { payload, .. } => read_jingle(payload),
        _ => None,
    }
}

/// A `<jingle/>` element: `None` for any other element, an error when it
/// cannot be used.
pub(crate) fn read_jingle(el: &Element) -> Option<Result<JingleIq, ReadError>> {
    el.is("jingle", NS_JINGLE).then(|| read_jingle_element(el))
}

fn read_jingle_element(el: &Element) -> Result<JingleIq, ReadError> {
    let sid = el
        .attr("sid")
        .and_then(bounded_id)
        .ok_or(ReadError::NoSid)?;
    let action = el
        .attr("action")
        .and_then(Action::from_name)
        .ok_or(ReadError::NoAction)?;
    let jid = |name: &str| {
        el.attr(name)
            .filter(|s| s.len() <= MAX_JID_LEN)
            .and_then(|s| Jid::new(s).ok())
    };
    let contents = read_children(el, "content", NS_JINGLE, MAX_CONTENTS, "contents", |c| {
        read_content(c).map(Some)
    })?;
    for (i, c) in contents.iter().enumerate() {
        if contents[..i].iter().any(|d| d.name == c.name) {
            return Err(ReadError::DuplicateContent(c.name.clone()));
        }
    }
    let group = match el.get_child("group", NS_GROUPING) {
        Some(g) => read_group(g)?,
        None => None,
    };
    let info = if action == Action::SessionInfo {
        el.children()
            .filter(|c| c.has_ns(NS_RTP_INFO))
            .find_map(read_session_info)
    } else {
        None
    };
    Ok(JingleIq {
        action,
        sid,
        initiator: jid("initiator"),
        responder: jid("responder"),
        contents,
        group,
        reason: el.get_child("reason", NS_JINGLE).and_then(read_reason),
        info,
    })
}

/// A `<content/>` of a `<jingle/>`.
pub(crate) fn read_content(el: &Element) -> Result<Content, ReadError> {
    let name = attr_token(el, "name", MAX_VALUE_LEN).ok_or(ReadError::NoContentName)?;
    let mut content = Content {
        name,
        creator: el
            .attr("creator")
            .and_then(Creator::from_name)
            .unwrap_or(Creator::Initiator),
        senders: el
            .attr("senders")
            .and_then(Senders::from_name)
            .unwrap_or(Senders::Both),
        description: None,
        transport: None,
        unsupported_description: false,
        unsupported_transport: false,
    };
    if let Some(d) = el.children().find(|c| c.name() == "description") {
        content.description = if d.has_ns(NS_RTP) {
            read_description(d)?
        } else {
            None
        };
        content.unsupported_description = content.description.is_none();
    }
    if let Some(t) = el.children().find(|c| c.name() == "transport") {
        if t.has_ns(NS_ICE_UDP) {
            content.transport = Some(read_transport(t)?);
        } else {
            content.unsupported_transport = true;
        }
    }
    Ok(content)
}

/// An RTP `<description/>`: `None` when its medium is not audio or video.
pub(crate) fn read_description(el: &Element) -> Result<Option<RtpDescription>, ReadError> {
    let Some(media) = el.attr("media").and_then(Media::read) else {
        return Ok(None);
    };
    Ok(Some(RtpDescription {
        media,
        payload_types: read_children(
            el,
            "payload-type",
            NS_RTP,
            MAX_PAYLOAD_TYPES,
            "payload types",
            read_payload_type,
        )?,
        feedback: read_children(
            el,
            "rtcp-fb",
            NS_RTCP_FB,
            MAX_PARAMETERS,
            "feedback types",
            |f| Ok(read_feedback(f)),
        )?,
        header_extensions: read_children(
            el,
            "rtp-hdrext",
            NS_RTP_HDREXT,
            MAX_EXTENSIONS,
            "header extensions",
            |h| Ok(read_header_extension(h)),
        )?,
        extmap_allow_mixed: el.has_child("extmap-allow-mixed", NS_RTP_HDREXT),
        rtcp_mux: el.has_child("rtcp-mux", NS_RTP),
        sources: read_children(
            el,
            "source",
            NS_SSMA,
            MAX_EXTENSIONS,
            "sources",
            read_source,
        )?,
        source_groups: read_children(
            el,
            "ssrc-group",
            NS_SSMA,
            MAX_EXTENSIONS,
            "source groups",
            read_source_group,
        )?,
    }))
}

fn read_payload_type(el: &Element) -> Result<Option<PayloadType>, ReadError> {
    let Some(id) = attr_num::<u8>(el, "id").filter(|id| *id <= 127) else {
        return Ok(None);
    };
    let parameters = read_children(el, "parameter", NS_RTP, MAX_PARAMETERS, "parameters", |p| {
        Ok(attr_token(p, "name", MAX_VALUE_LEN)
            .zip(p.attr("value").and_then(|v| value(v, MAX_VALUE_LEN))))
    })?;
    let feedback = read_children(
        el,
        "rtcp-fb",
        NS_RTCP_FB,
        MAX_PARAMETERS,
        "feedback types",
        |f| Ok(read_feedback(f)),
    )?;
    Ok(Some(PayloadType {
        id,
        name: attr_token(el, "name", MAX_VALUE_LEN),
        clockrate: attr_num(el, "clockrate"),
        channels: attr_num(el, "channels").filter(|c| *c > 0).unwrap_or(1),
        ptime: attr_num(el, "ptime"),
        maxptime: attr_num(el, "maxptime"),
        parameters,
        feedback,
    }))
}

fn read_feedback(el: &Element) -> Option<Feedback> {
    Some(Feedback {
        kind: attr_token(el, "type", MAX_VALUE_LEN)?,
        subtype: attr_token(el, "subtype", MAX_VALUE_LEN),
    })
}

fn read_header_extension(el: &Element) -> Option<HeaderExtension> {
    Some(HeaderExtension {
        id: attr_num::<u8>(el, "id").filter(|id| *id > 0)?,
        uri: attr_token(el, "uri", MAX_URI_LEN)?,
        senders: el
            .attr("senders")
            .and_then(Senders::from_name)
            .unwrap_or(Senders::Both),
    })
}

fn read_source(el: &Element) -> Result<Option<Source>, ReadError> {
    let Some(ssrc) = attr_num(el, "ssrc") else {
        return Ok(None);
    };
    let parameters = read_children(
        el,
        "parameter",
        NS_SSMA,
        MAX_SOURCE_ITEMS,
        "source parameters",
        |p| {
            Ok(attr_token(p, "name", MAX_VALUE_LEN)
                .map(|n| (n, p.attr("value").and_then(|v| value(v, MAX_VALUE_LEN)))))
        },
    )?;
    Ok(Some(Source { ssrc, parameters }))
}

fn read_source_group(el: &Element) -> Result<Option<SourceGroup>, ReadError> {
    let Some(semantics) = attr_token(el, "semantics", MAX_VALUE_LEN) else {
        return Ok(None);
    };
    let ssrcs = read_children(
        el,
        "source",
        NS_SSMA,
        MAX_SOURCE_ITEMS,
        "grouped sources",
        |s| Ok(attr_num(s, "ssrc")),
    )?;
    Ok((!ssrcs.is_empty()).then_some(SourceGroup { semantics, ssrcs }))
}

/// An ICE-UDP `<transport/>`.
pub(crate) fn read_transport(el: &Element) -> Result<IceUdpTransport, ReadError> {
    Ok(IceUdpTransport {
        ufrag: attr_token(el, "ufrag", MAX_VALUE_LEN),
        pwd: attr_token(el, "pwd", MAX_VALUE_LEN),
        fingerprint: el
            .children()
            .filter(|c| c.is("fingerprint", NS_DTLS))
            .find_map(read_fingerprint),
        omemo_fingerprint: el.children().find_map(super::omemo_dtls::read),
        candidates: read_children(
            el,
            "candidate",
            NS_ICE_UDP,
            MAX_CANDIDATES,
            "candidates",
            |c| Ok(read_candidate(c)),
        )?,
    })
}

/// An address of a candidate: an IP address, or an mDNS name (what
/// browsers put for a local address).
fn address(s: &str) -> Option<String> {
    if s.parse::<IpAddr>().is_ok() {
        return Some(s.to_string());
    }
    let mdns = s.len() <= 253
        && s.ends_with(".local")
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    mdns.then(|| s.to_string())
}

/// A `<candidate/>`: `None` when it lacks something ICE needs (component,
/// foundation, address, port, priority, protocol, a known type).
pub(crate) fn read_candidate(el: &Element) -> Option<Candidate> {
    if !el.is("candidate", NS_ICE_UDP) {
        return None;
    }
    Some(Candidate {
        component: attr_num::<u8>(el, "component").filter(|c| *c > 0)?,
        foundation: attr_token(el, "foundation", 32)?,
        generation: attr_num(el, "generation"),
        id: attr_token(el, "id", MAX_VALUE_LEN),
        ip: address(el.attr("ip")?)?,
        port: attr_num::<u16>(el, "port").filter(|p| *p > 0)?,
        priority: attr_num(el, "priority")?,
        protocol: attr_token(el, "protocol", 16)?.to_ascii_lowercase(),
        kind: CandidateType::from_name(el.attr("type")?)?,
        network: attr_num(el, "network"),
        rel_addr: el.attr("rel-addr").and_then(address),
        rel_port: attr_num::<u16>(el, "rel-port"),
    })
}

/// The length of a digest of `hash`, for the hash functions SDP names.
fn digest_len(hash: &str) -> Option<usize> {
    Some(match hash {
        "md2" | "md5" => 16,
        "sha-1" => 20,
        "sha-224" => 28,
        "sha-256" => 32,
        "sha-384" => 48,
        "sha-512" => 64,
        _ => return None,
    })
}

/// A digest written as hex pairs joined by colons (or without colons, as
/// Dino also reads it).
fn read_digest(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if s.is_empty() || s.len() > MAX_DIGEST * 3 {
        return None;
    }
    let pair = |p: &str| {
        (p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u8::from_str_radix(p, 16).ok())
            .flatten()
    };
    let digest: Option<Vec<u8>> = if s.contains(':') {
        s.split(':').map(pair).collect()
    } else if s.is_ascii() && s.len().is_multiple_of(2) {
        (0..s.len())
            .step_by(2)
            .map(|i| pair(&s[i..i + 2]))
            .collect()
    } else {
        None
    };
    digest.filter(|d| d.len() <= MAX_DIGEST)
}

/// The digest written in `text` (as [`digest_text`] writes it, or without
/// colons), if it has the length of a `hash` digest when Tern knows the
/// hash.
pub(crate) fn read_digest_text(hash: &str, text: &str) -> Option<Vec<u8>> {
    let digest = read_digest(text)?;
    if digest_len(hash).is_some_and(|n| n != digest.len()) {
        return None;
    }
    Some(digest)
}

/// A digest as a fingerprint's text: upper-case hex pairs joined by
/// colons, as SDP and both clients write it.
pub(crate) fn digest_text(digest: &[u8]) -> String {
    digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A DTLS `<fingerprint/>`: `None` without a hash name, a known setup
/// (XEP-0320 requires it; a DTLS role is needed to connect) or a digest
/// (of the hash's length, when Tern knows the hash).
pub(crate) fn read_fingerprint(el: &Element) -> Option<Fingerprint> {
    if !el.is("fingerprint", NS_DTLS) {
        return None;
    }
    let hash = attr_token(el, "hash", MAX_HASH_NAME)?.to_ascii_lowercase();
    let setup = Setup::from_name(el.attr("setup")?)?;
    // The digest is short; a long text is refused without copying it.
    let text_len: usize = el.texts().map(|t| t.len()).sum();
    if text_len > MAX_DIGEST * 3 + 64 {
        return None;
    }
    let digest = read_digest_text(&hash, &el.text())?;
    Some(Fingerprint {
        hash,
        setup,
        digest,
    })
}

/// A `<group/>` (XEP-0338): `None` without semantics or contents.
pub(crate) fn read_group(el: &Element) -> Result<Option<Group>, ReadError> {
    let Some(semantics) = attr_token(el, "semantics", MAX_VALUE_LEN) else {
        return Ok(None);
    };
    let contents = read_children(
        el,
        "content",
        NS_GROUPING,
        MAX_CONTENTS,
        "grouped contents",
        |c| Ok(attr_token(c, "name", MAX_VALUE_LEN)),
    )?;
    Ok((!contents.is_empty()).then_some(Group {
        semantics,
        contents,
    }))
}

/// A `<reason/>` (in the Jingle namespace): its first condition Tern knows
/// and its text.
pub(crate) fn read_reason(el: &Element) -> Option<Reason> {
    if !el.is("reason", NS_JINGLE) {
        return None;
    }
    let condition = el
        .children()
        .filter(|c| c.has_ns(NS_JINGLE) && c.name() != "text")
        .find_map(|c| Condition::read(c.name()));
    let text = el
        .get_child("text", NS_JINGLE)
        .and_then(|t| clean_text(&t.text(), MAX_REASON_TEXT));
    Some(Reason { condition, text })
}

/// A session-info payload (XEP-0167 §7).
pub(crate) fn read_session_info(el: &Element) -> Option<SessionInfo> {
    if !el.has_ns(NS_RTP_INFO) {
        return None;
    }
    let name = || attr_token(el, "name", MAX_VALUE_LEN);
    let creator = || el.attr("creator").and_then(Creator::from_name);
    Some(match el.name() {
        "active" => SessionInfo::Active,
        "hold" => SessionInfo::Hold,
        "unhold" => SessionInfo::Unhold,
        "ringing" => SessionInfo::Ringing,
        "mute" => SessionInfo::Mute {
            name: name(),
            creator: creator(),
        },
        "unmute" => SessionInfo::Unmute {
            name: name(),
            creator: creator(),
        },
        _ => return None,
    })
}

// ---------------------------------------------------------------------
// Building.

/// `<jingle/>` for `j`.
pub(crate) fn jingle_element(j: &JingleIq) -> Element {
    let mut b = Element::builder("jingle", NS_JINGLE);
    b = with_attr(b, "action", j.action.as_str());
    b = with_attr(b, "sid", &j.sid);
    if let Some(i) = &j.initiator {
        b = with_attr(b, "initiator", &i.to_string());
    }
    if let Some(r) = &j.responder {
        b = with_attr(b, "responder", &r.to_string());
    }
    b = b.append_all(j.contents.iter().map(content_element));
    if let Some(g) = &j.group {
        b = b.append(group_element(g));
    }
    if let Some(r) = &j.reason {
        b = b.append(reason_element(r));
    }
    if let Some(i) = &j.info {
        b = b.append(session_info_element(i));
    }
    b.build()
}

/// The `<iq type='set'/>` carrying `j` to `to`, with a fresh id.
pub(crate) fn jingle_iq(to: Jid, j: &JingleIq) -> Iq {
    Iq::Set {
        from: None,
        to: Some(to),
        id: super::message::new_id(),
        payload: jingle_element(j),
    }
}

/// `<content/>` for `c`. `creator` is always written (Conversations fails
/// on a content without one) and `senders` too (`both` is what Dino
/// writes; Conversations reads it).
pub(crate) fn content_element(c: &Content) -> Element {
    let mut b = Element::builder("content", NS_JINGLE);
    b = with_attr(b, "creator", c.creator.as_str());
    b = with_attr(b, "name", &c.name);
    b = with_attr(b, "senders", c.senders.as_str());
    if let Some(d) = &c.description {
        b = b.append(description_element(d));
    }
    if let Some(t) = &c.transport {
        b = b.append(transport_element(t));
    }
    b.build()
}

fn num(n: impl ToString) -> String {
    n.to_string()
}

fn feedback_element(f: &Feedback) -> Element {
    let mut b = with_attr(Element::builder("rtcp-fb", NS_RTCP_FB), "type", &f.kind);
    if let Some(s) = &f.subtype {
        b = with_attr(b, "subtype", s);
    }
    b.build()
}

fn payload_type_element(p: &PayloadType) -> Element {
    let mut b = with_attr(Element::builder("payload-type", NS_RTP), "id", &num(p.id));
    if let Some(n) = &p.name {
        b = with_attr(b, "name", n);
    }
    if let Some(c) = p.clockrate {
        b = with_attr(b, "clockrate", &num(c));
    }
    if p.channels != 1 {
        b = with_attr(b, "channels", &num(p.channels));
    }
    if let Some(t) = p.ptime {
        b = with_attr(b, "ptime", &num(t));
    }
    if let Some(t) = p.maxptime {
        b = with_attr(b, "maxptime", &num(t));
    }
    b = b.append_all(p.parameters.iter().map(|(n, v)| {
        let b = with_attr(Element::builder("parameter", NS_RTP), "name", n);
        with_attr(b, "value", v).build()
    }));
    b.append_all(p.feedback.iter().map(feedback_element))
        .build()
}

/// `<description xmlns='urn:xmpp:jingle:apps:rtp:1'/>` for `d`.
pub(crate) fn description_element(d: &RtpDescription) -> Element {
    let mut b = with_attr(
        Element::builder("description", NS_RTP),
        "media",
        d.media.as_str(),
    );
    b = b.append_all(d.payload_types.iter().map(payload_type_element));
    b = b.append_all(d.feedback.iter().map(feedback_element));
    b = b.append_all(d.header_extensions.iter().map(|h| {
        let mut b = with_attr(
            Element::builder("rtp-hdrext", NS_RTP_HDREXT),
            "id",
            &num(h.id),
        );
        b = with_attr(b, "uri", &h.uri);
        if h.senders != Senders::Both {
            b = with_attr(b, "senders", h.senders.as_str());
        }
        b.build()
    }));
    if d.extmap_allow_mixed {
        b = b.append(Element::builder("extmap-allow-mixed", NS_RTP_HDREXT).build());
    }
    b = b.append_all(d.source_groups.iter().map(|g| {
        let b = with_attr(
            Element::builder("ssrc-group", NS_SSMA),
            "semantics",
            &g.semantics,
        );
        b.append_all(
            g.ssrcs
                .iter()
                .map(|s| with_attr(Element::builder("source", NS_SSMA), "ssrc", &num(s)).build()),
        )
        .build()
    }));
    b = b.append_all(d.sources.iter().map(|s| {
        let b = with_attr(Element::builder("source", NS_SSMA), "ssrc", &num(s.ssrc));
        b.append_all(s.parameters.iter().map(|(n, v)| {
            let mut b = with_attr(Element::builder("parameter", NS_SSMA), "name", n);
            if let Some(v) = v {
                b = with_attr(b, "value", v);
            }
            b.build()
        }))
        .build()
    }));
    if d.rtcp_mux {
        b = b.append(Element::builder("rtcp-mux", NS_RTP).build());
    }
    b.build()
}

/// `<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1'/>` for `t`.
pub(crate) fn transport_element(t: &IceUdpTransport) -> Element {
    let mut b = Element::builder("transport", NS_ICE_UDP);
    if let Some(u) = &t.ufrag {
        b = with_attr(b, "ufrag", u);
    }
    if let Some(p) = &t.pwd {
        b = with_attr(b, "pwd", p);
    }
    if let Some(f) = &t.fingerprint {
        b = b.append(fingerprint_element(f));
    }
    if let Some(f) = &t.omemo_fingerprint {
        b = b.append(super::omemo_dtls::element(f));
    }
    b.append_all(t.candidates.iter().map(candidate_element))
        .build()
}

/// `<candidate/>` for `c`.
pub(crate) fn candidate_element(c: &Candidate) -> Element {
    let mut b = Element::builder("candidate", NS_ICE_UDP);
    b = with_attr(b, "component", &num(c.component));
    b = with_attr(b, "foundation", &c.foundation);
    if let Some(g) = c.generation {
        b = with_attr(b, "generation", &num(g));
    }
    if let Some(id) = &c.id {
        b = with_attr(b, "id", id);
    }
    b = with_attr(b, "ip", &c.ip);
    if let Some(n) = c.network {
        b = with_attr(b, "network", &num(n));
    }
    b = with_attr(b, "port", &num(c.port));
    b = with_attr(b, "priority", &num(c.priority));
    b = with_attr(b, "protocol", &c.protocol);
    if let Some(a) = &c.rel_addr {
        b = with_attr(b, "rel-addr", a);
    }
    if let Some(p) = c.rel_port {
        b = with_attr(b, "rel-port", &num(p));
    }
    with_attr(b, "type", c.kind.as_str()).build()
}

/// `<fingerprint/>` for `f`: the digest in upper-case hex pairs joined by
/// colons, as SDP and both clients write it.
pub(crate) fn fingerprint_element(f: &Fingerprint) -> Element {
    let digest = digest_text(&f.digest);
    let b = with_attr(Element::builder("fingerprint", NS_DTLS), "hash", &f.hash);
    with_attr(b, "setup", f.setup.as_str())
        .append(digest)
        .build()
}

/// `<group/>` for `g`.
pub(crate) fn group_element(g: &Group) -> Element {
    let b = with_attr(
        Element::builder("group", NS_GROUPING),
        "semantics",
        &g.semantics,
    );
    b.append_all(
        g.contents
            .iter()
            .map(|n| with_attr(Element::builder("content", NS_GROUPING), "name", n).build()),
    )
    .build()
}

/// `<reason/>` for `r` (in the Jingle namespace, also inside JMI
/// messages).
pub(crate) fn reason_element(r: &Reason) -> Element {
    let mut b = Element::builder("reason", NS_JINGLE);
    if let Some(c) = r.condition {
        b = b.append(Element::builder(c.as_str(), NS_JINGLE).build());
    }
    if let Some(t) = &r.text {
        b = b.append(
            Element::builder("text", NS_JINGLE)
                .append(xml_text(t))
                .build(),
        );
    }
    b.build()
}

/// The session-info payload for `i`.
pub(crate) fn session_info_element(i: &SessionInfo) -> Element {
    let (name, content, creator) = match i {
        SessionInfo::Active => ("active", None, None),
        SessionInfo::Hold => ("hold", None, None),
        SessionInfo::Unhold => ("unhold", None, None),
        SessionInfo::Ringing => ("ringing", None, None),
        SessionInfo::Mute { name, creator } => ("mute", name.as_deref(), *creator),
        SessionInfo::Unmute { name, creator } => ("unmute", name.as_deref(), *creator),
    };
    let mut b = Element::builder(name, NS_RTP_INFO);
    if let Some(c) = creator {
        b = with_attr(b, "creator", c.as_str());
    }
    if let Some(n) = content {
        b = with_attr(b, "name", n);
    }
    b.build()
}

// ---------------------------------------------------------------------
// What Conversations accepts.

/// Why Conversations would refuse an offer or an answer, and what it
/// terminates the session with ([`OfferProblem::condition`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OfferProblem {
    /// The stanza has no content.
    #[error("no content")]
    NoContents,
    /// A content has no description.
    #[error("content {0:?} has no description")]
    NoDescription(String),
    /// A content's description is not RTP audio or video.
    #[error("content {0:?} is not RTP audio or video")]
    UnsupportedApplication(String),
    /// A content's transport is missing or not ICE-UDP.
    #[error("content {0:?} has no ICE-UDP transport")]
    UnsupportedTransport(String),
    /// A content's transport lacks `ufrag` or `pwd`.
    #[error("content {0:?} has no ICE credentials")]
    NoCredentials(String),
    /// A payload type has no name (Conversations cannot write its SDP).
    #[error("content {0:?} has a payload type without a name")]
    UnnamedPayloadType(String),
    /// A content's transport has no DTLS fingerprint.
    #[error("content {0:?} has no DTLS fingerprint")]
    NoFingerprint(String),
    /// An offer's fingerprint is not `setup='actpass'`.
    #[error("content {0:?} does not offer setup actpass")]
    NotActpass(String),
    /// An answer's fingerprint is `actpass`, or its contents differ.
    #[error("the answer has no single DTLS role (active or passive)")]
    NoDtlsRole,
}

impl OfferProblem {
    /// The condition of the session-terminate Conversations answers with
    /// (`Reason.of`: a `SecurityException` is `security-error`, an
    /// unsupported application or transport is named, anything else is
    /// `failed-application`).
    pub(crate) fn condition(&self) -> Condition {
        match self {
            Self::UnsupportedApplication(_) => Condition::UnsupportedApplications,
            Self::UnsupportedTransport(_) => Condition::UnsupportedTransports,
            Self::NoFingerprint(_) | Self::NotActpass(_) => Condition::SecurityError,
            Self::NoContents
            | Self::NoDescription(_)
            | Self::NoCredentials(_)
            | Self::UnnamedPayloadType(_)
            | Self::NoDtlsRole => Condition::FailedApplication,
        }
    }
}

/// Checks what Conversations checks of every content of an offer or
/// answer, and returns each content's fingerprint.
fn check_contents(j: &JingleIq) -> Result<Vec<&Fingerprint>, OfferProblem> {
    if j.contents.is_empty() {
        return Err(OfferProblem::NoContents);
    }
    let mut fingerprints = Vec::with_capacity(j.contents.len());
    for c in &j.contents {
        let name = || c.name.clone();
        if c.unsupported_description {
            return Err(OfferProblem::UnsupportedApplication(name()));
        }
        let Some(transport) = &c.transport else {
            return Err(OfferProblem::UnsupportedTransport(name()));
        };
        let Some(description) = &c.description else {
            return Err(OfferProblem::NoDescription(name()));
        };
        let Some(fingerprint) = &transport.fingerprint else {
            return Err(OfferProblem::NoFingerprint(name()));
        };
        if transport.ufrag.is_none() || transport.pwd.is_none() {
            return Err(OfferProblem::NoCredentials(name()));
        }
        if description.payload_types.iter().any(|p| p.name.is_none()) {
            return Err(OfferProblem::UnnamedPayloadType(name()));
        }
        fingerprints.push(fingerprint);
    }
    Ok(fingerprints)
}

/// Whether Conversations accepts `j` as a session-initiate: every content
/// an RTP description of audio or video with named payload types, an
/// ICE-UDP transport with `ufrag`, `pwd` and a DTLS fingerprint with
/// `setup='actpass'` (`RtpContentMap.requireContentDescriptions`,
/// `requireDTLSFingerprint(true)`, `SessionDescription.of`). Tern holds
/// its own offers to it, and the offers it accepts: a call without DTLS
/// would carry its media unencrypted or with keys in the clear.
pub(crate) fn check_offer(j: &JingleIq) -> Result<(), OfferProblem> {
    for (c, f) in j.contents.iter().zip(check_contents(j)?) {
        if f.setup != Setup::Actpass {
            return Err(OfferProblem::NotActpass(c.name.clone()));
        }
    }
    Ok(())
}

/// Whether Conversations accepts `j` as a session-accept: the same as
/// [`check_offer`], but the fingerprints' setup must be one role, `active`
/// or `passive`, on every content (`RtpContentMap.getDtlsSetup`,
/// `storePeerDtlsSetup`).
pub(crate) fn check_answer(j: &JingleIq) -> Result<(), OfferProblem> {
    let fingerprints = check_contents(j)?;
    let Some(setup) = fingerprints.first().map(|f| f.setup) else {
        return Err(OfferProblem::NoContents);
    };
    if setup == Setup::Actpass || fingerprints.iter().any(|f| f.setup != setup) {
        return Err(OfferProblem::NoDtlsRole);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::{el, tight, wire, MAX_ID_LEN};

    /// The Jingle step of an IQ written out.
    fn read_xml(xml: &str) -> Result<JingleIq, ReadError> {
        let iq = Iq::try_from(el(xml)).expect("an IQ");
        read_iq(&iq).expect("a Jingle IQ")
    }

    /// `j` built, sent and read again.
    fn round_trip(j: &JingleIq) -> JingleIq {
        let to = Jid::new("juliet@capulet.example/phone").unwrap();
        let iq = Iq::try_from(wire(jingle_iq(to, j))).expect("an IQ");
        read_iq(&iq).expect("a Jingle IQ").expect("readable")
    }

    fn digest(hex: &str) -> Vec<u8> {
        read_digest(hex).expect("a digest")
    }

    const CONVERSATIONS_FP: &str =
        "62:1F:B8:0A:5E:33:C9:47:90:D1:2A:7E:0C:B4:58:F3:16:8D:E2:49:75:AA:03:6B:CF:91:2E:D8:44:17:B0:6C";
    const DINO_FP: &str =
        "3B:9A:71:0E:D4:25:8C:F6:A0:13:5D:E7:29:BC:48:91:6F:02:C3:D8:7A:E5:14:B9:80:4E:F1:26:6D:AB:39:C7";

    /// Conversations' audio offer: one content named after the SDP mid, a
    /// BUNDLE group, WebRTC's codecs and header extensions, rtcp-mux, a
    /// source, the transport's credentials and fingerprint but no
    /// candidate; no initiator attribute.
    const CONVERSATIONS_INITIATE: &str = "<iq xmlns='jabber:client' type='set' id='nD3Hq2Yx0tFb'
    from='juliet@capulet.example/Conversations.Xk3d' to='romeo@montague.example/tern.8f3a'>
  <jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' sid='kbPqM0UHsmqA1/3WlSmOAQ'>
    <group xmlns='urn:xmpp:jingle:apps:grouping:0' semantics='BUNDLE'>
      <content name='0'/>
    </group>
    <content creator='initiator' name='0'>
      <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>
        <payload-type id='111' name='opus' clockrate='48000' channels='2'>
          <parameter name='minptime' value='10'/>
          <parameter name='useinbandfec' value='1'/>
          <rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='transport-cc'/>
        </payload-type>
        <payload-type id='63' name='red' clockrate='48000' channels='2'/>
        <payload-type id='9' name='G722' clockrate='8000'/>
        <payload-type id='102' name='ILBC' clockrate='8000'/>
        <payload-type id='0' name='PCMU' clockrate='8000'/>
        <payload-type id='8' name='PCMA' clockrate='8000'/>
        <payload-type id='13' name='CN' clockrate='8000'/>
        <payload-type id='110' name='telephone-event' clockrate='48000'/>
        <payload-type id='126' name='telephone-event' clockrate='8000'/>
        <rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='1' uri='urn:ietf:params:rtp-hdrext:ssrc-audio-level'/>
        <rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='2' uri='http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time'/>
        <rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='3' uri='http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01'/>
        <rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='4' uri='urn:ietf:params:rtp-hdrext:sdes:mid'/>
        <extmap-allow-mixed xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0'/>
        <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='2467389155'>
          <parameter name='cname' value='pR5MRr8ftS4hQ6Qb'/>
          <parameter name='msid' value='my-media-stream my-audio-track'/>
        </source>
        <rtcp-mux/>
      </description>
      <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='Qz8X' pwd='k2PB1Dq0hGfR8mUrWcqTnyu4'>
        <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='actpass'>62:1F:B8:0A:5E:33:C9:47:90:D1:2A:7E:0C:B4:58:F3:16:8D:E2:49:75:AA:03:6B:CF:91:2E:D8:44:17:B0:6C</fingerprint>
      </transport>
    </content>
  </jingle>
</iq>";

    /// Conversations' candidates: one per transport-info, with the
    /// transport's credentials, a UUID as id and no network.
    const CONVERSATIONS_CANDIDATES: [&str; 2] = [
        "<iq xmlns='jabber:client' type='set' id='Jx2p8RkaT1Qe'
    from='juliet@capulet.example/Conversations.Xk3d' to='romeo@montague.example/tern.8f3a'>
  <jingle xmlns='urn:xmpp:jingle:1' action='transport-info' sid='kbPqM0UHsmqA1/3WlSmOAQ'>
    <content creator='initiator' name='0'>
      <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='Qz8X' pwd='k2PB1Dq0hGfR8mUrWcqTnyu4'>
        <candidate component='1' foundation='842163049' generation='0' id='1b9c2f4e-7a53-4d61-9e0f-3c8a5b7d2e16'
            ip='192.168.1.23' port='48731' priority='2122260223' protocol='udp' type='host'/>
      </transport>
    </content>
  </jingle>
</iq>",
        "<iq xmlns='jabber:client' type='set' id='Vq7c0LmWn3Rs'
    from='juliet@capulet.example/Conversations.Xk3d' to='romeo@montague.example/tern.8f3a'>
  <jingle xmlns='urn:xmpp:jingle:1' action='transport-info' sid='kbPqM0UHsmqA1/3WlSmOAQ'>
    <content creator='initiator' name='0'>
      <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='Qz8X' pwd='k2PB1Dq0hGfR8mUrWcqTnyu4'>
        <candidate component='1' foundation='3518792714' generation='0' id='8e0f6d3a-52c1-4b7e-a9d4-61f2c0e7b385'
            ip='203.0.113.45' port='48731' priority='1686052607' protocol='udp'
            rel-addr='192.168.1.23' rel-port='48731' type='srflx'/>
      </transport>
    </content>
  </jingle>
</iq>",
    ];

    /// Conversations answering Tern's offer: its content creator is
    /// `initiator` whoever created it, and WebRTC's answer is `active`.
    const CONVERSATIONS_ACCEPT: &str = "<iq xmlns='jabber:client' type='set' id='Ry5wK0aP2mZc'
    from='juliet@capulet.example/Conversations.Xk3d' to='romeo@montague.example/tern.8f3a'>
  <jingle xmlns='urn:xmpp:jingle:1' action='session-accept' sid='c2f0e9b4-1d7a-4a36-8f25-6b3e9d0c7a18'>
    <group xmlns='urn:xmpp:jingle:apps:grouping:0' semantics='BUNDLE'>
      <content name='0'/>
    </group>
    <content creator='initiator' name='0'>
      <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>
        <payload-type id='111' name='opus' clockrate='48000' channels='2'>
          <parameter name='minptime' value='10'/>
          <parameter name='useinbandfec' value='1'/>
        </payload-type>
        <rtcp-mux/>
      </description>
      <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='Lm2e' pwd='Y7tGq1sVb9xR3nKw0cZp5hJd'>
        <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='active'>62:1F:B8:0A:5E:33:C9:47:90:D1:2A:7E:0C:B4:58:F3:16:8D:E2:49:75:AA:03:6B:CF:91:2E:D8:44:17:B0:6C</fingerprint>
      </transport>
    </content>
  </jingle>
</iq>";

    /// Conversations refusing an offer without `setup='actpass'`.
    const CONVERSATIONS_REFUSAL: &str = "<iq xmlns='jabber:client' type='set' id='Gf4tN8sQ1bXe'
    from='juliet@capulet.example/Conversations.Xk3d' to='romeo@montague.example/tern.8f3a'>
  <jingle xmlns='urn:xmpp:jingle:1' action='session-terminate' sid='c2f0e9b4-1d7a-4a36-8f25-6b3e9d0c7a18'>
    <reason>
      <security-error/>
      <text>Initiator needs to offer ACTPASS as setup for DTLS-SRTP (XEP-0320)</text>
    </reason>
  </jingle>
</iq>";

    /// Dino's audio offer: `initiator`, one content named `audio` with
    /// `senders='both'`, its codecs with Opus 111 first, SDES keys,
    /// rtcp-mux, no BUNDLE; the transport has the fingerprint (`actpass`)
    /// and the candidates gathered so far, for two components.
    const DINO_INITIATE: &str = "<iq xmlns='jabber:client' type='set' id='5d1c8c1e-0b9a-4a55-9c51-7e2c2f0b8d4a'
    from='romeo@montague.example/dino.5e7f1a2b' to='juliet@capulet.example/tern.8f3a'>
  <jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' initiator='romeo@montague.example/dino.5e7f1a2b'
      sid='a73bd2b5-4e5c-4b8e-9a0e-5f3c7d2e1b94'>
    <content creator='initiator' name='audio' senders='both'>
      <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>
        <payload-type id='111' channels='2' clockrate='48000' name='opus'>
          <parameter name='useinbandfec' value='1'/>
        </payload-type>
        <payload-type id='112' clockrate='32000' name='speex'/>
        <payload-type id='113' clockrate='16000' name='speex'/>
        <payload-type id='114' clockrate='8000' name='speex'/>
        <payload-type id='9' clockrate='8000' name='G722'/>
        <payload-type id='0' clockrate='8000' name='PCMU'/>
        <payload-type id='8' clockrate='8000' name='PCMA'/>
        <encryption>
          <crypto crypto-suite='AES_CM_128_HMAC_SHA1_80' key-params='inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz' tag='1'/>
        </encryption>
        <rtcp-mux/>
      </description>
      <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='Zt3y' pwd='q8Nh5uR2pLk0vX7cWb4sJe'>
        <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='actpass'>3B:9A:71:0E:D4:25:8C:F6:A0:13:5D:E7:29:BC:48:91:6F:02:C3:D8:7A:E5:14:B9:80:4E:F1:26:6D:AB:39:C7</fingerprint>
        <candidate component='1' foundation='1' generation='0' id='4f1a9c2e' ip='192.168.1.42' network='0'
            port='51634' priority='2013266431' protocol='udp' type='host'/>
        <candidate component='2' foundation='1' generation='0' id='b73e05d1' ip='192.168.1.42' network='0'
            port='43018' priority='2013266430' protocol='udp' type='host'/>
        <candidate component='1' foundation='2' generation='0' id='09cd41f7' ip='198.51.100.17' network='0'
            port='51634' priority='1677721855' protocol='udp' rel-addr='192.168.1.42' rel-port='51634' type='srflx'/>
        <candidate component='2' foundation='2' generation='0' id='e2a86b30' ip='198.51.100.17' network='0'
            port='43018' priority='1677721854' protocol='udp' rel-addr='192.168.1.42' rel-port='43018' type='srflx'/>
      </transport>
    </content>
  </jingle>
</iq>";

    /// Dino answering Tern's offer: no responder, only the chosen payload
    /// type, `setup='active'`, its candidates so far.
    const DINO_ACCEPT: &str = "<iq xmlns='jabber:client' type='set' id='0e6b2d4f-93a1-4c7e-b5d8-2f1a9c3e7b60'
    from='romeo@montague.example/dino.5e7f1a2b' to='juliet@capulet.example/tern.8f3a'>
  <jingle xmlns='urn:xmpp:jingle:1' action='session-accept' sid='f81d4fae-7dec-41d0-a765-00a0c91e6bf6'>
    <content creator='initiator' name='audio' senders='both'>
      <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>
        <payload-type id='111' channels='2' clockrate='48000' name='opus'>
          <parameter name='useinbandfec' value='1'/>
        </payload-type>
        <rtcp-mux/>
      </description>
      <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='Wd6k' pwd='u3Fe9hTq2zNc7vLr1bYs0m'>
        <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='active'>3B:9A:71:0E:D4:25:8C:F6:A0:13:5D:E7:29:BC:48:91:6F:02:C3:D8:7A:E5:14:B9:80:4E:F1:26:6D:AB:39:C7</fingerprint>
        <candidate component='1' foundation='1' generation='0' id='6a0c3f81' ip='192.168.1.42' network='0'
            port='50112' priority='2013266431' protocol='udp' type='host'/>
      </transport>
    </content>
  </jingle>
</iq>";

    /// Dino's later candidates: one per transport-info, no fingerprint.
    const DINO_CANDIDATE: &str = "<iq xmlns='jabber:client' type='set' id='c4e1a7b2-6d3f-4e90-8b15-9a2c7f0d3e68'
    from='romeo@montague.example/dino.5e7f1a2b' to='juliet@capulet.example/tern.8f3a'>
  <jingle xmlns='urn:xmpp:jingle:1' action='transport-info' sid='a73bd2b5-4e5c-4b8e-9a0e-5f3c7d2e1b94'>
    <content creator='initiator' name='audio'>
      <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='Zt3y' pwd='q8Nh5uR2pLk0vX7cWb4sJe'>
        <candidate component='1' foundation='3' generation='0' id='7c5d2e90' ip='203.0.113.200' network='0'
            port='61204' priority='16777215' protocol='udp' rel-addr='198.51.100.17' rel-port='51634' type='relay'/>
      </transport>
    </content>
  </jingle>
</iq>";

    /// Dino ends a call whose transport failed, with its own spelling.
    const DINO_FAILED: &str = "<iq xmlns='jabber:client' type='set' id='2b7f9d1c-4a6e-4c38-9e05-7d1b3a8f6c24'
    from='romeo@montague.example/dino.5e7f1a2b' to='juliet@capulet.example/tern.8f3a'>
  <jingle xmlns='urn:xmpp:jingle:1' action='session-terminate' sid='a73bd2b5-4e5c-4b8e-9a0e-5f3c7d2e1b94'>
    <reason><failed_transport/></reason>
  </jingle>
</iq>";

    /// Dino tells that it muted its audio.
    const DINO_MUTE: &str = "<iq xmlns='jabber:client' type='set' id='9e3c5a7b-1f2d-4b6a-8c0e-4d7f2a9b1c35'
    from='romeo@montague.example/dino.5e7f1a2b' to='juliet@capulet.example/tern.8f3a'>
  <jingle xmlns='urn:xmpp:jingle:1' action='session-info' sid='a73bd2b5-4e5c-4b8e-9a0e-5f3c7d2e1b94'>
    <mute xmlns='urn:xmpp:jingle:apps:rtp:info:1' name='audio' creator='initiator'/>
  </jingle>
</iq>";

    /// XEP-0353 §3.5 (and XEP-0167 §3): the initiation after a proposal.
    const XEP_INITIATE: &str = "<iq from='romeo@montague.example/orchard'
    id='ih28sx61'
    to='juliet@capulet.example/phone'
    type='set' xmlns='jabber:client'>
  <jingle xmlns='urn:xmpp:jingle:1'
          action='session-initiate'
          initiator='romeo@montague.example/orchard'
          sid='ca3cf894-5325-482f-a412-a6e9f832298d'>
    <content creator='initiator' name='voice'>
      <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>
        <payload-type id='96' name='speex' clockrate='16000'/>
        <payload-type id='97' name='speex' clockrate='8000'/>
        <payload-type id='18' name='G729'/>
        <payload-type id='0' name='PCMU'/>
        <payload-type id='103' name='L16' clockrate='16000' channels='2'/>
        <payload-type id='98' name='x-ISAC' clockrate='8000'/>
      </description>
      <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1'
                 pwd='asd88fgpdd777uzjYhagZg'
                 ufrag='8hhy'>
        <candidate component='1'
                   foundation='1'
                   generation='0'
                   id='el0747fg11'
                   ip='10.0.1.1'
                   network='1'
                   port='8998'
                   priority='2130706431'
                   protocol='udp'
                   type='host'/>
        <candidate component='1'
                   foundation='2'
                   generation='0'
                   id='y3s2b30v3r'
                   ip='192.0.2.3'
                   network='1'
                   port='45664'
                   priority='1694498815'
                   protocol='udp'
                   rel-addr='10.0.1.1'
                   rel-port='8998'
                   type='srflx'/>
      </transport>
    </content>
  </jingle>
</iq>";

    fn conversations_opus() -> PayloadType {
        let mut opus = PayloadType::new(111, "opus", 48000, 2);
        opus.parameters = vec![
            ("minptime".into(), "10".into()),
            ("useinbandfec".into(), "1".into()),
        ];
        opus.feedback = vec![Feedback {
            kind: "transport-cc".into(),
            subtype: None,
        }];
        opus
    }

    fn dino_opus() -> PayloadType {
        let mut opus = PayloadType::new(111, "opus", 48000, 2);
        opus.parameters = vec![("useinbandfec".into(), "1".into())];
        opus
    }

    fn dino_candidate(
        component: u8,
        foundation: &str,
        id: &str,
        ip: &str,
        port: u16,
        priority: u32,
    ) -> Candidate {
        Candidate {
            component,
            foundation: foundation.into(),
            generation: Some(0),
            id: Some(id.into()),
            ip: ip.into(),
            port,
            priority,
            protocol: "udp".into(),
            kind: CandidateType::Host,
            network: Some(0),
            rel_addr: None,
            rel_port: None,
        }
    }

    #[test]
    fn reads_conversations_offer() {
        let j = read_xml(CONVERSATIONS_INITIATE).unwrap();
        assert_eq!(j.action, Action::SessionInitiate);
        assert_eq!(j.sid, "kbPqM0UHsmqA1/3WlSmOAQ");
        assert_eq!((j.initiator.as_ref(), j.responder.as_ref()), (None, None));
        assert_eq!(
            j.group,
            Some(Group {
                semantics: BUNDLE.into(),
                contents: vec!["0".into()],
            })
        );
        assert_eq!((j.reason.as_ref(), j.info.as_ref()), (None, None));
        let [c] = j.contents.as_slice() else {
            panic!("one content: {:?}", j.contents)
        };
        assert_eq!(
            (c.name.as_str(), c.creator, c.senders),
            ("0", Creator::Initiator, Senders::Both)
        );
        assert!(!c.unsupported_description && !c.unsupported_transport);
        let d = c.description.as_ref().unwrap();
        assert_eq!(d.media, Media::Audio);
        assert_eq!(d.payload_types.len(), 9);
        assert_eq!(d.payload_types[0], conversations_opus());
        assert_eq!(d.payload_types[1], PayloadType::new(63, "red", 48000, 2));
        assert_eq!(d.payload_types[4], PayloadType::new(0, "PCMU", 8000, 1));
        assert_eq!(
            d.payload_types.iter().map(|p| p.id).collect::<Vec<_>>(),
            [111, 63, 9, 102, 0, 8, 13, 110, 126]
        );
        assert_eq!(d.header_extensions.len(), 4);
        assert_eq!(
            d.header_extensions[3],
            HeaderExtension {
                id: 4,
                uri: "urn:ietf:params:rtp-hdrext:sdes:mid".into(),
                senders: Senders::Both,
            }
        );
        assert!(d.extmap_allow_mixed && d.rtcp_mux);
        assert!(d.feedback.is_empty() && d.source_groups.is_empty());
        assert_eq!(
            d.sources,
            [Source {
                ssrc: 2467389155,
                parameters: vec![
                    ("cname".into(), Some("pR5MRr8ftS4hQ6Qb".into())),
                    ("msid".into(), Some("my-media-stream my-audio-track".into())),
                ],
            }]
        );
        let t = c.transport.as_ref().unwrap();
        assert_eq!(t.ufrag.as_deref(), Some("Qz8X"));
        assert_eq!(t.pwd.as_deref(), Some("k2PB1Dq0hGfR8mUrWcqTnyu4"));
        assert!(t.candidates.is_empty(), "candidates come one by one");
        let f = t.fingerprint.as_ref().unwrap();
        assert_eq!((f.hash.as_str(), f.setup), ("sha-256", Setup::Actpass));
        assert_eq!(f.digest, digest(CONVERSATIONS_FP));
        assert_eq!(f.digest.len(), 32);
        assert_eq!(j.media(), [Media::Audio]);
        assert_eq!(check_offer(&j), Ok(()));
        assert_eq!(round_trip(&j), j);
    }

    #[test]
    fn reads_conversations_candidates_one_by_one() {
        let host = read_xml(CONVERSATIONS_CANDIDATES[0]).unwrap();
        assert_eq!(host.action, Action::TransportInfo);
        let [c] = host.contents.as_slice() else {
            panic!("one content")
        };
        assert_eq!(c.name, "0");
        assert!(c.description.is_none() && !c.unsupported_description);
        let t = c.transport.as_ref().unwrap();
        assert_eq!(t.ufrag.as_deref(), Some("Qz8X"));
        assert!(t.fingerprint.is_none());
        assert_eq!(
            t.candidates,
            [Candidate {
                component: 1,
                foundation: "842163049".into(),
                generation: Some(0),
                id: Some("1b9c2f4e-7a53-4d61-9e0f-3c8a5b7d2e16".into()),
                ip: "192.168.1.23".into(),
                port: 48731,
                priority: 2122260223,
                protocol: "udp".into(),
                kind: CandidateType::Host,
                network: None,
                rel_addr: None,
                rel_port: None,
            }]
        );
        assert_eq!(round_trip(&host), host);

        let srflx = read_xml(CONVERSATIONS_CANDIDATES[1]).unwrap();
        let c = &srflx.contents[0].transport.as_ref().unwrap().candidates[0];
        assert_eq!(c.kind, CandidateType::Srflx);
        assert_eq!((c.ip.as_str(), c.port), ("203.0.113.45", 48731));
        assert_eq!(
            (c.rel_addr.as_deref(), c.rel_port),
            (Some("192.168.1.23"), Some(48731))
        );
        assert_eq!(round_trip(&srflx), srflx);
    }

    #[test]
    fn reads_conversations_answer_and_refusal() {
        let j = read_xml(CONVERSATIONS_ACCEPT).unwrap();
        assert_eq!(j.action, Action::SessionAccept);
        assert_eq!(j.responder, None);
        let t = j.contents[0].transport.as_ref().unwrap();
        assert_eq!(t.fingerprint.as_ref().unwrap().setup, Setup::Active);
        assert_eq!(check_answer(&j), Ok(()));
        // An answer is no offer.
        assert_eq!(check_offer(&j), Err(OfferProblem::NotActpass("0".into())));
        assert_eq!(round_trip(&j), j);

        let t = read_xml(CONVERSATIONS_REFUSAL).unwrap();
        assert_eq!(t.action, Action::SessionTerminate);
        assert!(t.contents.is_empty());
        assert_eq!(
            t.reason,
            Some(Reason {
                condition: Some(Condition::SecurityError),
                text: Some(
                    "Initiator needs to offer ACTPASS as setup for DTLS-SRTP (XEP-0320)".into()
                ),
            })
        );
        assert_eq!(round_trip(&t), t);
    }

    #[test]
    fn reads_dino_offer() {
        let j = read_xml(DINO_INITIATE).unwrap();
        assert_eq!(j.action, Action::SessionInitiate);
        assert_eq!(j.sid, "a73bd2b5-4e5c-4b8e-9a0e-5f3c7d2e1b94");
        assert_eq!(
            j.initiator,
            Some(Jid::new("romeo@montague.example/dino.5e7f1a2b").unwrap())
        );
        assert_eq!(j.group, None, "no BUNDLE");
        let [c] = j.contents.as_slice() else {
            panic!("one content per medium")
        };
        assert_eq!(
            (c.name.as_str(), c.creator, c.senders),
            ("audio", Creator::Initiator, Senders::Both)
        );
        let d = c.description.as_ref().unwrap();
        assert_eq!(d.media, Media::Audio);
        assert!(d.rtcp_mux);
        assert_eq!(d.payload_types[0], dino_opus());
        assert_eq!(
            d.payload_types[1..],
            [
                PayloadType::new(112, "speex", 32000, 1),
                PayloadType::new(113, "speex", 16000, 1),
                PayloadType::new(114, "speex", 8000, 1),
                PayloadType::new(9, "G722", 8000, 1),
                PayloadType::new(0, "PCMU", 8000, 1),
                PayloadType::new(8, "PCMA", 8000, 1),
            ]
        );
        let t = c.transport.as_ref().unwrap();
        let f = t.fingerprint.as_ref().unwrap();
        assert_eq!((f.hash.as_str(), f.setup), ("sha-256", Setup::Actpass));
        assert_eq!(f.digest, digest(DINO_FP));
        assert_eq!(t.candidates.len(), 4);
        assert_eq!(
            t.candidates[..2],
            [
                dino_candidate(1, "1", "4f1a9c2e", "192.168.1.42", 51634, 2013266431),
                dino_candidate(2, "1", "b73e05d1", "192.168.1.42", 43018, 2013266430),
            ]
        );
        let mut srflx = dino_candidate(1, "2", "09cd41f7", "198.51.100.17", 51634, 1677721855);
        srflx.kind = CandidateType::Srflx;
        srflx.rel_addr = Some("192.168.1.42".into());
        srflx.rel_port = Some(51634);
        assert_eq!(t.candidates[2], srflx);
        assert_eq!(
            t.candidates.iter().map(|c| c.component).collect::<Vec<_>>(),
            [1, 2, 1, 2],
            "RTP and RTCP"
        );
        assert_eq!(check_offer(&j), Ok(()));
        // The SDES keys are not read; the rest goes back as it came.
        assert_eq!(round_trip(&j), j);
    }

    #[test]
    fn reads_dino_answer_candidates_and_ends() {
        let j = read_xml(DINO_ACCEPT).unwrap();
        assert_eq!(
            (j.action, j.responder.as_ref()),
            (Action::SessionAccept, None)
        );
        let d = j.contents[0].description.as_ref().unwrap();
        assert_eq!(d.payload_types, [dino_opus()], "only the chosen codec");
        let t = j.contents[0].transport.as_ref().unwrap();
        assert_eq!(t.fingerprint.as_ref().unwrap().setup, Setup::Active);
        assert_eq!(t.candidates.len(), 1);
        assert_eq!(check_answer(&j), Ok(()));
        assert_eq!(round_trip(&j), j);

        let info = read_xml(DINO_CANDIDATE).unwrap();
        let t = info.contents[0].transport.as_ref().unwrap();
        assert!(t.fingerprint.is_none());
        let [c] = t.candidates.as_slice() else {
            panic!("one candidate")
        };
        assert_eq!((c.kind, c.priority), (CandidateType::Relay, 16777215));
        assert_eq!(
            (c.rel_addr.as_deref(), c.rel_port),
            (Some("198.51.100.17"), Some(51634))
        );
        assert_eq!(round_trip(&info), info);

        // Dino's `failed_transport` reads as failed-transport; Tern writes
        // the XEP's spelling.
        let end = read_xml(DINO_FAILED).unwrap();
        assert_eq!(end.reason, Some(Reason::new(Condition::FailedTransport)));
        let built = wire(jingle_element(&end));
        let reason = built.get_child("reason", NS_JINGLE).unwrap();
        assert!(reason.has_child("failed-transport", NS_JINGLE));
        assert_eq!(round_trip(&end), end);

        let mute = read_xml(DINO_MUTE).unwrap();
        assert_eq!(
            mute.info,
            Some(SessionInfo::Mute {
                name: Some("audio".into()),
                creator: Some(Creator::Initiator),
            })
        );
        assert_eq!(round_trip(&mute), mute);
    }

    #[test]
    fn reads_the_xep_examples() {
        let j = read_xml(XEP_INITIATE).unwrap();
        assert_eq!(j.sid, "ca3cf894-5325-482f-a412-a6e9f832298d");
        let c = &j.contents[0];
        assert_eq!(c.name, "voice");
        let d = c.description.as_ref().unwrap();
        assert_eq!(d.payload_types.len(), 6);
        assert_eq!(d.payload_types[2].name.as_deref(), Some("G729"));
        assert_eq!(d.payload_types[2].clockrate, None);
        assert_eq!(d.payload_types[4], PayloadType::new(103, "L16", 16000, 2));
        assert!(!d.rtcp_mux);
        let t = c.transport.as_ref().unwrap();
        assert_eq!(t.candidates.len(), 2);
        assert_eq!(t.candidates[0].network, Some(1));
        assert_eq!(t.candidates[1].rel_port, Some(8998));
        // No DTLS: neither Conversations nor Tern takes it.
        assert_eq!(
            check_offer(&j),
            Err(OfferProblem::NoFingerprint("voice".into()))
        );
        assert_eq!(round_trip(&j), j);

        // XEP-0320 §3: the fingerprint in a transport.
        let t = read_transport(&el("<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' pwd='asd88fgpdd777uzjYhagZg' ufrag='8hhy'>
  <candidate component='1' foundation='1' generation='0' id='el0747fg11' ip='10.0.1.1' network='1' port='8998' priority='2130706431' protocol='udp' type='host'/>
  <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='actpass'>02:1A:CC:54:27:AB:EB:9C:53:3F:3E:4B:65:2E:7D:46:3F:54:42:CD:54:F1:7A:03:A2:7D:F9:B0:7F:46:19:B2</fingerprint>
</transport>")).unwrap();
        let f = t.fingerprint.unwrap();
        assert_eq!(f.digest[..4], [0x02, 0x1A, 0xCC, 0x54]);
        assert_eq!(f.digest.len(), 32);

        // XEP-0338 §3: two contents bundled.
        let g = read_group(&el(
            "<group xmlns='urn:xmpp:jingle:apps:grouping:0' semantics='BUNDLE'>
  <content name='voice'/>
  <content name='webcam'/>
</group>",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(g.contents, ["voice", "webcam"]);

        // XEP-0166 §6.7: a session-terminate with a reason and text.
        let r = read_reason(&el("<reason xmlns='urn:xmpp:jingle:1'>
  <success/>
  <text>Sorry, gotta go!</text>
</reason>"))
        .unwrap();
        assert_eq!(r.condition, Some(Condition::Success));
        assert_eq!(r.text.as_deref(), Some("Sorry, gotta go!"));

        // XEP-0167 §7: mute, ringing.
        let mute =
            el("<mute xmlns='urn:xmpp:jingle:apps:rtp:info:1' creator='responder' name='voice'/>");
        assert_eq!(
            read_session_info(&mute),
            Some(SessionInfo::Mute {
                name: Some("voice".into()),
                creator: Some(Creator::Responder),
            })
        );
        let ringing = el("<ringing xmlns='urn:xmpp:jingle:apps:rtp:info:1'/>");
        assert_eq!(read_session_info(&ringing), Some(SessionInfo::Ringing));
    }

    #[test]
    fn a_session_info_without_payload_is_a_ping() {
        let j = read_jingle(&el(
            "<jingle xmlns='urn:xmpp:jingle:1' action='session-info' sid='a1'/>",
        ))
        .unwrap()
        .unwrap();
        assert_eq!((j.action, j.info), (Action::SessionInfo, None));
        let other = read_jingle(&el(
            "<jingle xmlns='urn:xmpp:jingle:1' action='session-info' sid='a1'>
  <checksum xmlns='urn:xmpp:jingle:apps:file-transfer:5'/>
</jingle>",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(other.info, None);
    }

    /// A Tern offer like Conversations' own: BUNDLE, Opus, rtcp-mux,
    /// credentials and an actpass fingerprint.
    fn tern_offer() -> JingleIq {
        let mut j = JingleIq::new(
            Action::SessionInitiate,
            "c2f0e9b4-1d7a-4a36-8f25-6b3e9d0c7a18",
        );
        j.initiator = Some(Jid::new("romeo@montague.example/tern.8f3a").unwrap());
        let transport = IceUdpTransport {
            ufrag: Some("p3Kd".into()),
            pwd: Some("Hq8sV1xN4cR7bT0mZ2wL9fYe".into()),
            fingerprint: Some(Fingerprint {
                hash: "sha-256".into(),
                setup: Setup::Actpass,
                digest: digest(DINO_FP),
            }),
            omemo_fingerprint: None,
            candidates: Vec::new(),
        };
        let description = RtpDescription::new(Media::Audio, vec![dino_opus()]);
        j.contents
            .push(Content::new("0", Some(description), Some(transport)));
        j.group = Some(Group {
            semantics: BUNDLE.into(),
            contents: vec!["0".into()],
        });
        j
    }

    #[test]
    fn builds_what_conversations_and_dino_read() {
        let offer = tern_offer();
        assert_eq!(check_offer(&offer), Ok(()));
        let built = wire(jingle_iq(
            Jid::new("juliet@capulet.example/phone").unwrap(),
            &offer,
        ));
        assert_eq!(built.attr("type"), Some("set"));
        assert_eq!(built.attr("to"), Some("juliet@capulet.example/phone"));
        let jingle = built.get_child("jingle", NS_JINGLE).unwrap();
        assert_eq!(
            jingle,
            &tight(
                "<jingle xmlns='urn:xmpp:jingle:1' action='session-initiate'
    sid='c2f0e9b4-1d7a-4a36-8f25-6b3e9d0c7a18' initiator='romeo@montague.example/tern.8f3a'>
  <content creator='initiator' name='0' senders='both'>
    <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>
      <payload-type id='111' name='opus' clockrate='48000' channels='2'>
        <parameter name='useinbandfec' value='1'/>
      </payload-type>
      <rtcp-mux/>
    </description>
    <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='p3Kd' pwd='Hq8sV1xN4cR7bT0mZ2wL9fYe'>
      <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='actpass'>3B:9A:71:0E:D4:25:8C:F6:A0:13:5D:E7:29:BC:48:91:6F:02:C3:D8:7A:E5:14:B9:80:4E:F1:26:6D:AB:39:C7</fingerprint>
    </transport>
  </content>
  <group xmlns='urn:xmpp:jingle:apps:grouping:0' semantics='BUNDLE'>
    <content name='0'/>
  </group>
</jingle>"
            )
        );
        assert_eq!(round_trip(&offer), offer);

        // A candidate as Conversations and Dino send it: alone in a
        // transport-info with the credentials.
        let candidate = Candidate {
            rel_addr: Some("192.168.1.42".into()),
            rel_port: Some(51634),
            kind: CandidateType::Srflx,
            network: None,
            ..dino_candidate(1, "2", "09cd41f7", "198.51.100.17", 51634, 1677721855)
        };
        let transport = IceUdpTransport {
            ufrag: Some("p3Kd".into()),
            pwd: Some("Hq8sV1xN4cR7bT0mZ2wL9fYe".into()),
            fingerprint: None,
            omemo_fingerprint: None,
            candidates: vec![candidate],
        };
        let info = JingleIq::transport_info(&offer.sid, "0", Creator::Initiator, transport);
        assert_eq!(
            wire(jingle_element(&info)),
            tight(
                "<jingle xmlns='urn:xmpp:jingle:1' action='transport-info' sid='c2f0e9b4-1d7a-4a36-8f25-6b3e9d0c7a18'>
  <content creator='initiator' name='0' senders='both'>
    <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='p3Kd' pwd='Hq8sV1xN4cR7bT0mZ2wL9fYe'>
      <candidate component='1' foundation='2' generation='0' id='09cd41f7' ip='198.51.100.17' port='51634'
          priority='1677721855' protocol='udp' rel-addr='192.168.1.42' rel-port='51634' type='srflx'/>
    </transport>
  </content>
</jingle>"
            )
        );
        assert_eq!(round_trip(&info), info);

        let end = JingleIq::terminate(&offer.sid, Condition::Success, Some("Bye"));
        assert_eq!(
            wire(jingle_element(&end)),
            tight(
                "<jingle xmlns='urn:xmpp:jingle:1' action='session-terminate' sid='c2f0e9b4-1d7a-4a36-8f25-6b3e9d0c7a18'>
  <reason><success/><text>Bye</text></reason>
</jingle>"
            )
        );
        assert_eq!(round_trip(&end), end);

        for info in [
            SessionInfo::Active,
            SessionInfo::Hold,
            SessionInfo::Unhold,
            SessionInfo::Ringing,
            SessionInfo::Mute {
                name: Some("0".into()),
                creator: Some(Creator::Initiator),
            },
            SessionInfo::Unmute {
                name: None,
                creator: None,
            },
        ] {
            let j = JingleIq::session_info(&offer.sid, info);
            assert_eq!(round_trip(&j), j);
        }
    }

    #[test]
    fn every_field_round_trips() {
        let mut offer = tern_offer();
        offer.responder = Some(Jid::new("juliet@capulet.example/phone").unwrap());
        let d = offer.contents[0].description.as_mut().unwrap();
        d.payload_types.push(PayloadType {
            ptime: Some(20),
            maxptime: Some(120),
            feedback: vec![Feedback {
                kind: "nack".into(),
                subtype: Some("pli".into()),
            }],
            ..PayloadType::new(96, "VP8", 90000, 1)
        });
        d.feedback.push(Feedback {
            kind: "transport-cc".into(),
            subtype: None,
        });
        d.header_extensions.push(HeaderExtension {
            id: 14,
            uri: "urn:3gpp:video-orientation".into(),
            senders: Senders::Initiator,
        });
        d.extmap_allow_mixed = true;
        d.sources.push(Source {
            ssrc: 1,
            parameters: vec![("cname".into(), None)],
        });
        d.source_groups.push(SourceGroup {
            semantics: "FID".into(),
            ssrcs: vec![1, 2],
        });
        let mut video = offer.contents[0].clone();
        video.name = "1".into();
        video.senders = Senders::Responder;
        video.creator = Creator::Responder;
        video.description.as_mut().unwrap().media = Media::Video;
        video
            .transport
            .as_mut()
            .unwrap()
            .candidates
            .push(Candidate {
                ip: "2001:db8::17".into(),
                rel_addr: Some("fd00::1".into()),
                rel_port: Some(0),
                ..dino_candidate(2, "7", "x", "::1", 9, 1)
            });
        offer.contents.push(video);
        offer.reason = Some(Reason {
            condition: None,
            text: Some("a text alone".into()),
        });
        assert_eq!(round_trip(&offer), offer);
        assert_eq!(offer.media(), [Media::Audio, Media::Video]);
    }

    /// Something that makes an offer unacceptable.
    type Spoil = fn(&mut JingleIq);

    #[test]
    fn the_offer_conversations_accepts() {
        assert_eq!(check_offer(&tern_offer()), Ok(()));
        let cases: [(Spoil, OfferProblem, Condition); 8] = [
            (
                |j| j.contents.clear(),
                OfferProblem::NoContents,
                Condition::FailedApplication,
            ),
            (
                |j| j.contents[0].transport.as_mut().unwrap().fingerprint = None,
                OfferProblem::NoFingerprint("0".into()),
                Condition::SecurityError,
            ),
            (
                |j| {
                    let t = j.contents[0].transport.as_mut().unwrap();
                    t.fingerprint.as_mut().unwrap().setup = Setup::Passive;
                },
                OfferProblem::NotActpass("0".into()),
                Condition::SecurityError,
            ),
            (
                |j| j.contents[0].transport = None,
                OfferProblem::UnsupportedTransport("0".into()),
                Condition::UnsupportedTransports,
            ),
            (
                |j| {
                    j.contents[0].description = None;
                    j.contents[0].unsupported_description = true;
                },
                OfferProblem::UnsupportedApplication("0".into()),
                Condition::UnsupportedApplications,
            ),
            (
                |j| j.contents[0].description = None,
                OfferProblem::NoDescription("0".into()),
                Condition::FailedApplication,
            ),
            (
                |j| j.contents[0].transport.as_mut().unwrap().pwd = None,
                OfferProblem::NoCredentials("0".into()),
                Condition::FailedApplication,
            ),
            (
                |j| {
                    let d = j.contents[0].description.as_mut().unwrap();
                    d.payload_types[0].name = None;
                },
                OfferProblem::UnnamedPayloadType("0".into()),
                Condition::FailedApplication,
            ),
        ];
        for (spoil, problem, condition) in cases {
            let mut j = tern_offer();
            spoil(&mut j);
            assert_eq!(check_offer(&j), Err(problem.clone()));
            assert_eq!(problem.condition(), condition, "{problem}");
        }

        // Every content counts: a second one without actpass spoils it.
        let mut j = tern_offer();
        let mut second = j.contents[0].clone();
        second.name = "1".into();
        second
            .transport
            .as_mut()
            .unwrap()
            .fingerprint
            .as_mut()
            .unwrap()
            .setup = Setup::Active;
        j.contents.push(second);
        assert_eq!(check_offer(&j), Err(OfferProblem::NotActpass("1".into())));

        // Read from the wire: an unknown setup leaves no fingerprint, a
        // data channel is not a call.
        let unknown_setup = CONVERSATIONS_INITIATE.replace("setup='actpass'", "setup='holdconn'");
        let j = read_xml(&unknown_setup).unwrap();
        assert_eq!(
            check_offer(&j),
            Err(OfferProblem::NoFingerprint("0".into()))
        );
        let data = CONVERSATIONS_INITIATE.replace("media='audio'", "media='application'");
        let j = read_xml(&data).unwrap();
        assert!(j.contents[0].unsupported_description);
        assert_eq!(
            check_offer(&j),
            Err(OfferProblem::UnsupportedApplication("0".into()))
        );
        let s5b = DINO_INITIATE.replace(
            "urn:xmpp:jingle:transports:ice-udp:1",
            "urn:xmpp:jingle:transports:s5b:1",
        );
        let j = read_xml(&s5b).unwrap();
        assert!(j.contents[0].unsupported_transport && j.contents[0].transport.is_none());
        assert_eq!(
            check_offer(&j),
            Err(OfferProblem::UnsupportedTransport("audio".into()))
        );
    }

    #[test]
    fn the_answer_conversations_accepts() {
        let mut answer = tern_offer();
        answer.action = Action::SessionAccept;
        assert_eq!(check_answer(&answer), Err(OfferProblem::NoDtlsRole));
        let setup = |j: &mut JingleIq, i: usize, s: Setup| {
            let t = j.contents[i].transport.as_mut().unwrap();
            t.fingerprint.as_mut().unwrap().setup = s;
        };
        setup(&mut answer, 0, Setup::Passive);
        assert_eq!(check_answer(&answer), Ok(()));
        let mut second = answer.contents[0].clone();
        second.name = "1".into();
        answer.contents.push(second);
        assert_eq!(check_answer(&answer), Ok(()));
        setup(&mut answer, 1, Setup::Active);
        assert_eq!(check_answer(&answer), Err(OfferProblem::NoDtlsRole));
        assert_eq!(
            OfferProblem::NoDtlsRole.condition(),
            Condition::FailedApplication
        );
    }

    #[test]
    fn unusable_stanzas_are_refused() {
        let jingle = |attrs: &str, body: &str| {
            el(&format!(
                "<jingle xmlns='urn:xmpp:jingle:1' {attrs}>{body}</jingle>"
            ))
        };
        let read = |e: &Element| read_jingle(e).expect("a jingle element");
        assert_eq!(
            read(&jingle("action='session-initiate'", "")),
            Err(ReadError::NoSid)
        );
        assert_eq!(
            read(&jingle("action='session-initiate' sid=''", "")),
            Err(ReadError::NoSid)
        );
        let long = "s".repeat(MAX_ID_LEN + 1);
        assert_eq!(
            read(&jingle(
                &format!("action='session-initiate' sid='{long}'"),
                ""
            )),
            Err(ReadError::NoSid)
        );
        assert_eq!(read(&jingle("sid='a'", "")), Err(ReadError::NoAction));
        assert_eq!(
            read(&jingle("action='session-explode' sid='a'", "")),
            Err(ReadError::NoAction)
        );
        assert_eq!(
            read(&jingle(
                "action='session-initiate' sid='a'",
                "<content creator='initiator'/>"
            )),
            Err(ReadError::NoContentName)
        );
        assert_eq!(
            read(&jingle(
                "action='session-initiate' sid='a'",
                "<content name='a b'/>"
            )),
            Err(ReadError::NoContentName)
        );
        assert_eq!(
            read(&jingle(
                "action='session-initiate' sid='a'",
                "<content name='0'/><content name='0'/>"
            )),
            Err(ReadError::DuplicateContent("0".into()))
        );
        // Not Jingle at all.
        assert!(read_jingle(&el("<jingle xmlns='urn:xmpp:jingle:0' sid='a'/>")).is_none());
        let result = Iq::try_from(el(
            "<iq xmlns='jabber:client' type='result' id='a'><jingle xmlns='urn:xmpp:jingle:1' action='session-info' sid='a'/></iq>",
        ))
        .unwrap();
        assert!(read_iq(&result).is_none());
        // Missing optional parts are tolerated: no creator, no senders,
        // unknown senders, an invalid initiator.
        let j = read(&jingle(
            "action='session-initiate' sid='a' initiator='not a jid@@'",
            "<content name='0' senders='everyone'/>",
        ))
        .unwrap();
        assert_eq!(j.initiator, None);
        assert_eq!(
            (j.contents[0].creator, j.contents[0].senders),
            (Creator::Initiator, Senders::Both)
        );
    }

    #[test]
    fn hostile_counts_are_refused() {
        let candidate = "<candidate component='1' foundation='1' generation='0' id='c' ip='192.0.2.1' port='9' priority='1' protocol='udp' type='host'/>";
        let many = candidate.repeat(10_000);
        let xml = DINO_CANDIDATE.replace(
            "<candidate component='1' foundation='3'",
            &format!("{many}<candidate component='1' foundation='3'"),
        );
        assert_eq!(
            read_xml(&xml),
            Err(ReadError::TooMany {
                what: "candidates",
                max: MAX_CANDIDATES,
            })
        );
        // Exactly the bound is fine.
        let xml = DINO_CANDIDATE.replace(
            "<candidate component='1' foundation='3'",
            &format!(
                "{}<candidate component='1' foundation='3'",
                candidate.repeat(MAX_CANDIDATES - 1)
            ),
        );
        let j = read_xml(&xml).unwrap();
        assert_eq!(
            j.contents[0].transport.as_ref().unwrap().candidates.len(),
            MAX_CANDIDATES
        );

        let contents: String = (0..=MAX_CONTENTS)
            .map(|i| format!("<content name='{i}'/>"))
            .collect();
        assert_eq!(
            read_jingle(&el(&format!(
                "<jingle xmlns='urn:xmpp:jingle:1' action='content-add' sid='a'>{contents}</jingle>"
            )))
            .unwrap(),
            Err(ReadError::TooMany {
                what: "contents",
                max: MAX_CONTENTS,
            })
        );

        let payloads: String = (0..=MAX_PAYLOAD_TYPES)
            .map(|i| format!("<payload-type id='{}' name='x' clockrate='8000'/>", i % 128))
            .collect();
        let d = el(&format!(
            "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>{payloads}</description>"
        ));
        assert_eq!(
            read_description(&d),
            Err(ReadError::TooMany {
                what: "payload types",
                max: MAX_PAYLOAD_TYPES,
            })
        );
        let params: String = (0..=MAX_PARAMETERS)
            .map(|i| format!("<parameter name='p{i}' value='1'/>"))
            .collect();
        let d = el(&format!(
            "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'><payload-type id='96' name='x'>{params}</payload-type></description>"
        ));
        assert_eq!(
            read_description(&d),
            Err(ReadError::TooMany {
                what: "parameters",
                max: MAX_PARAMETERS,
            })
        );
        let group: String = (0..=MAX_CONTENTS)
            .map(|i| format!("<content name='{i}'/>"))
            .collect();
        assert_eq!(
            read_group(&el(&format!(
                "<group xmlns='urn:xmpp:jingle:apps:grouping:0' semantics='BUNDLE'>{group}</group>"
            ))),
            Err(ReadError::TooMany {
                what: "grouped contents",
                max: MAX_CONTENTS,
            })
        );
    }

    /// A candidate with attribute `attr` set to `value`, built rather
    /// than parsed: Tern's stream takes attribute values up to 256 KiB, the
    /// test parser only 8 KiB.
    fn candidate_with(attr: &'static str, value: &str) -> Option<Candidate> {
        let mut attrs = vec![
            ("component", "1"),
            ("foundation", "1"),
            ("generation", "0"),
            ("id", "c1"),
            ("ip", "192.0.2.1"),
            ("port", "3478"),
            ("priority", "2130706431"),
            ("protocol", "udp"),
            ("type", "host"),
        ];
        attrs.retain(|(a, _)| *a != attr);
        attrs.push((attr, value));
        let b = attrs
            .into_iter()
            .fold(Element::builder("candidate", NS_ICE_UDP), |b, (a, v)| {
                with_attr(b, a, v)
            });
        read_candidate(&b.build())
    }

    #[test]
    fn unusable_candidates_are_dropped() {
        assert!(candidate_with("port", "3478").is_some());
        for (attr, value) in [
            ("port", "0"),
            ("port", "65536"),
            ("port", "-1"),
            ("port", "80a"),
            ("port", ""),
            ("component", "0"),
            ("component", "256"),
            ("priority", "4294967296"),
            ("priority", "+1"),
            ("type", "turn"),
            ("type", "HOST"),
            ("ip", "192.0.2.300"),
            ("ip", "example.com"),
            ("ip", "<script>"),
            ("foundation", ""),
            ("foundation", "a b"),
            ("protocol", ""),
        ] {
            assert_eq!(candidate_with(attr, value), None, "{attr}={value}");
        }
        let huge = "9".repeat(250_000);
        assert_eq!(candidate_with("port", &huge), None);
        assert_eq!(candidate_with("ip", &huge), None);
        // Optional parts that are wrong are left out.
        let c = candidate_with("rel-port", "99999").unwrap();
        assert_eq!(c.rel_port, None);
        let c = candidate_with("id", &"i".repeat(250_000)).unwrap();
        assert_eq!(c.id, None);
        let c = candidate_with("protocol", "UDP").unwrap();
        assert_eq!(c.protocol, "udp");
        let c = candidate_with("ip", "a1b2c3d4-0e1f-4a5b-8c7d-9e0f1a2b3c4d.local").unwrap();
        assert!(c.ip.ends_with(".local"));

        // A bad candidate among good ones costs only itself.
        let xml = DINO_CANDIDATE.replace("port='61204'", "port='70000'");
        let j = read_xml(&xml).unwrap();
        assert!(j.contents[0]
            .transport
            .as_ref()
            .unwrap()
            .candidates
            .is_empty());
    }

    fn fingerprint_with(setup: &str, hash: &str, text: &str) -> Option<Fingerprint> {
        read_fingerprint(&el(&format!(
            "<fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='{hash}' setup='{setup}'>{text}</fingerprint>"
        )))
    }

    #[test]
    fn unusable_fingerprints_are_dropped() {
        assert!(fingerprint_with("actpass", "sha-256", DINO_FP).is_some());
        // Lower case, and no colons (Dino reads both).
        let lower = fingerprint_with("active", "SHA-256", &DINO_FP.to_lowercase()).unwrap();
        assert_eq!(
            (lower.hash.as_str(), lower.digest),
            ("sha-256", digest(DINO_FP))
        );
        let bare = fingerprint_with("passive", "sha-256", &DINO_FP.replace(':', "")).unwrap();
        assert_eq!(bare.digest, digest(DINO_FP));
        for setup in ["holdconn", "ACTPASS", ""] {
            assert_eq!(fingerprint_with(setup, "sha-256", DINO_FP), None, "{setup}");
        }
        assert_eq!(
            read_fingerprint(&el(&format!(
                "<fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256'>{DINO_FP}</fingerprint>"
            ))),
            None,
            "no setup"
        );
        for text in [
            "", "zz:9A", "3B:9A:", "3B::9A", "3B9", "3B:9A:7", "ÄÖ",
            // The wrong length for sha-256.
            "3B:9A:71",
        ] {
            assert_eq!(fingerprint_with("actpass", "sha-256", text), None, "{text}");
        }
        assert_eq!(fingerprint_with("actpass", "", DINO_FP), None);
        let huge = "AB:".repeat(100_000);
        assert_eq!(fingerprint_with("actpass", "sha-256", &huge), None);
        assert_eq!(fingerprint_with("actpass", "x-unknown", &huge), None);
        // An unknown hash is taken at any length up to SHA-512's.
        let other = fingerprint_with("actpass", "x-new", "01:02:03").unwrap();
        assert_eq!(other.digest, [1, 2, 3]);
        // Of several, the first usable one.
        let t = read_transport(&el(&format!(
            "<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1'>
  <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='bogus'>{CONVERSATIONS_FP}</fingerprint>
  <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='actpass'>{DINO_FP}</fingerprint>
</transport>"
        )))
        .unwrap();
        assert_eq!(t.fingerprint.unwrap().digest, digest(DINO_FP));
    }

    #[test]
    fn huge_strings_are_bounded() {
        // Attribute values as long as Tern's stream takes (256 KiB).
        let huge = "x".repeat(250_000);
        let t = Element::builder("transport", NS_ICE_UDP);
        let t = with_attr(with_attr(t, "ufrag", &huge), "pwd", &huge).build();
        let t = read_transport(&t).unwrap();
        assert_eq!((t.ufrag, t.pwd), (None, None));
        // Texts are not limited by the parser.
        let text = "x".repeat(1_000_000);
        let r = read_reason(&el(&format!(
            "<reason xmlns='urn:xmpp:jingle:1'><decline/><text>{text}</text></reason>"
        )))
        .unwrap();
        assert_eq!(r.condition, Some(Condition::Decline));
        assert_eq!(r.text.unwrap().chars().count(), MAX_REASON_TEXT);
        let p = with_attr(Element::builder("payload-type", NS_RTP), "id", "96");
        let p = with_attr(with_attr(p, "name", &huge), "clockrate", &huge);
        let param = with_attr(Element::builder("parameter", NS_RTP), "name", "a");
        let p = p.append(with_attr(param, "value", &huge).build()).build();
        let h = with_attr(Element::builder("rtp-hdrext", NS_RTP_HDREXT), "id", "1");
        let h = with_attr(h, "uri", &huge).build();
        let d = Element::builder("description", NS_RTP);
        let d = with_attr(d, "media", "audio")
            .append(p)
            .append(h)
            .append(el(
                "<payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='128' name='opus'/>",
            ));
        let d = d
            .append(el(
                "<payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' name='opus'/>",
            ))
            .append(el(
                "<rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='0' uri='urn:x'/>",
            ))
            .append(el(
                "<source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='4294967296'/>",
            ))
            .append(el(
                "<ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics='FID'/>",
            ))
            .build();
        let d = read_description(&d).unwrap().unwrap();
        let [p] = d.payload_types.as_slice() else {
            panic!(
                "only the payload type with a usable id: {:?}",
                d.payload_types
            )
        };
        assert_eq!((p.id, p.name.as_ref(), p.clockrate), (96, None, None));
        assert!(p.parameters.is_empty());
        assert!(d.header_extensions.is_empty());
        assert!(d.sources.is_empty() && d.source_groups.is_empty());
        let j = Element::builder("jingle", NS_JINGLE);
        let j = with_attr(with_attr(j, "action", "session-initiate"), "sid", "a");
        let j = with_attr(j, "initiator", &format!("{huge}@example.com/r")).build();
        let j = read_jingle(&j).unwrap().unwrap();
        assert_eq!(j.initiator, None);
        let j = Element::builder("jingle", NS_JINGLE);
        let j = with_attr(with_attr(j, "action", "session-initiate"), "sid", &huge).build();
        assert_eq!(read_jingle(&j).unwrap(), Err(ReadError::NoSid));
    }

    #[test]
    fn reasons_are_read_leniently() {
        for (name, condition) in [
            ("busy", Condition::Busy),
            ("cancel", Condition::Cancel),
            ("connectivity-error", Condition::ConnectivityError),
            ("decline", Condition::Decline),
            ("expired", Condition::Expired),
            ("failed-application", Condition::FailedApplication),
            ("failed_application", Condition::FailedApplication),
            ("failed-transport", Condition::FailedTransport),
            ("general-error", Condition::GeneralError),
            ("gone", Condition::Gone),
            ("incompatible-parameters", Condition::IncompatibleParameters),
            ("media-error", Condition::MediaError),
            ("security-error", Condition::SecurityError),
            ("success", Condition::Success),
            ("timeout", Condition::Timeout),
            (
                "unsupported-applications",
                Condition::UnsupportedApplications,
            ),
            ("unsupported-transports", Condition::UnsupportedTransports),
            ("alternative-session", Condition::AlternativeSession),
        ] {
            let r = read_reason(&el(&format!(
                "<reason xmlns='urn:xmpp:jingle:1'><{name}/></reason>"
            )))
            .unwrap();
            assert_eq!(r.condition, Some(condition), "{name}");
            let back = read_reason(&wire(reason_element(&r))).unwrap();
            assert_eq!(back, r);
        }
        // Unknown conditions, conditions in another namespace, nothing.
        for xml in [
            "<reason xmlns='urn:xmpp:jingle:1'><exploded/></reason>",
            "<reason xmlns='urn:xmpp:jingle:1'><busy xmlns='urn:xmpp:other'/></reason>",
            "<reason xmlns='urn:xmpp:jingle:1'/>",
        ] {
            assert_eq!(
                read_reason(&el(xml)),
                Some(Reason {
                    condition: None,
                    text: None,
                }),
                "{xml}"
            );
        }
        // The first known one counts; a text is cleaned.
        let r = read_reason(&el(
            "<reason xmlns='urn:xmpp:jingle:1'><exploded/><busy/><gone/><text>  Busy \t now </text></reason>",
        ))
        .unwrap();
        assert_eq!(r.condition, Some(Condition::Busy));
        assert_eq!(r.text.as_deref(), Some("Busy  now"));
        assert_eq!(
            read_reason(&el("<reason xmlns='urn:xmpp:jingle:0'/>")),
            None
        );
    }

    #[test]
    fn names_round_trip() {
        for a in Action::ALL {
            assert_eq!(Action::from_name(a.as_str()), Some(*a));
        }
        for c in Condition::ALL {
            assert_eq!(Condition::read(c.as_str()), Some(*c));
        }
        assert_eq!(Media::read("AUDIO"), Some(Media::Audio));
        assert_eq!(Media::read("application"), None);
        assert_eq!(Setup::from_name("actpass"), Some(Setup::Actpass));
    }
}
