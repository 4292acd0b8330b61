//! The value that passes the stages.

use std::collections::HashSet;

use tern_store::{Change, Committed, ConversationKind, Direction};
use tokio_xmpp::Stanza;
use xmpp_parsers::message::Message;

use crate::events::ClientEvent;
use crate::xep::message::{Parsed, Source};

use super::Stage;

/// What a stage says about a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// On to the next stage.
    Next,
    /// Nothing more to do with this message (why, for the log).
    Drop(&'static str),
}

/// The message as the unwrap stage found it.
#[derive(Clone, Debug)]
pub(crate) struct Opened {
    /// The message itself (inside a carbon or archive result, or as sent).
    pub message: Message,
    pub source: Source,
    /// For carbons: one of the user's other clients sent it.
    pub sent_by_own_client: bool,
    /// For archive results: the archive's id for it and its archived time.
    pub archive: Option<(String, Option<i64>)>,
}

/// What the classify stage found.
#[derive(Clone, Debug)]
pub(crate) struct Classified {
    pub kind: ConversationKind,
    pub parsed: Parsed,
    pub source: Source,
    pub direction: Direction,
    /// The conversation: a bare JID (or an occupant's room JID for a
    /// private message in a group chat).
    pub peer: String,
    /// Who sent it (full JID when known).
    pub sender: String,
    pub timestamp_ms: i64,
    /// Whether the time came from a server's stamp (whole seconds).
    pub coarse_time: bool,
    /// The id an archive gave it, and whose archive.
    pub archive_id: Option<String>,
    pub archive_by: Option<String>,
    /// In a group chat: the sender's occupant id (XEP-0421), when the
    /// room vouches for it.
    pub occupant_id: Option<String>,
    /// In a group chat: the message mentions the user.
    pub mention: bool,
    /// It came end-to-end encrypted (OMEMO); the decrypt stage put the
    /// plaintext in `parsed.body`.
    pub encrypted: bool,
    /// It came encrypted and could not be decrypted: why, in words.
    pub decrypt_error: Option<String>,
    /// It could not be decrypted yet but may be later: its `<encrypted/>`
    /// element, kept with it.
    pub omemo_retry: Option<String>,
    /// With `omemo_retry`, in a group chat: the sender's real JID.
    pub omemo_sender: Option<String>,
}

impl Classified {
    /// The message's identity in its conversation: the XEP-0359 origin-id
    /// or id attribute, else its archive id. Someone else's group-chat
    /// message is known by the room's stanza-id (occupants choose their
    /// ids, and one must not pass for another's message), else by sender
    /// and id.
    pub(crate) fn uid(&self) -> Option<String> {
        if self.kind == ConversationKind::GroupChat && self.direction == Direction::Incoming {
            return self.archive_id.clone().or_else(|| {
                self.parsed
                    .uid()
                    .map(|u| format!("{}\u{1f}{u}", self.sender))
            });
        }
        self.parsed.uid().or_else(|| self.archive_id.clone())
    }
}

/// One message on its way through the stages.
#[derive(Debug)]
pub(crate) struct Flow {
    /// As received.
    pub stanza: Message,
    /// The time to file it under, when the caller knows better.
    pub time: Option<i64>,
    pub opened: Option<Opened>,
    pub classified: Option<Classified>,
    /// What it changes in the store.
    pub changes: Vec<Change>,
    /// Events that are not about stored state (chat states).
    pub events: Vec<ClientEvent>,
    /// Receipts to send: (to, id of the message received).
    pub receipts: Vec<(String, String)>,
    /// Where and why it stopped early.
    pub dropped: Option<(Stage, &'static str)>,
}

impl Flow {
    /// The message as opened (inside its carbon or archive result).
    pub(crate) fn stanza_opened(&self) -> Message {
        match &self.opened {
            Some(o) => o.message.clone(),
            None => self.stanza.clone(),
        }
    }

    pub(crate) fn new(stanza: Message, time: Option<i64>) -> Flow {
        Flow {
            stanza,
            time,
            opened: None,
            classified: None,
            changes: Vec::new(),
            events: Vec::new(),
            receipts: Vec::new(),
            dropped: None,
        }
    }
}

impl Flow {
    /// Whether the message would become a stored message with text (not
    /// an error, a correction, a retraction or a reaction). An encrypted
    /// payload counts as text before it is decrypted, so that the known
    /// stage stops a second copy before it reaches the ratchet.
    pub(crate) fn is_content(&self) -> bool {
        self.classified.as_ref().is_some_and(|c| {
            let p = &c.parsed;
            !p.is_error
                && (p.body.as_deref().is_some_and(|b| !b.trim().is_empty())
                    || (p.omemo == Some(true) && !c.encrypted))
                && p.replace.is_none()
                && p.retract.is_none()
                && p.reactions.is_none()
        })
    }
}

/// Messages processed together: their changes are committed in one
/// transaction and their events go out together.
#[derive(Debug)]
pub(crate) struct Batch {
    pub mode: super::Mode,
    pub flows: Vec<Flow>,
    /// Messages of this batch that passed the known stage (peer, outgoing,
    /// uid): a second copy in the same batch is known too.
    pub seen: HashSet<(String, bool, String)>,
    /// The changes of every message, in order (gathered for the commit).
    pub changes: Vec<Change>,
    /// What the commit changed (`None` when it failed).
    pub committed: Option<Committed>,
    /// Stanzas to send back.
    pub replies: Vec<Stanza>,
    /// A page of this group chat's own archive (its results come from the
    /// room).
    pub archive_of: Option<xmpp_parsers::jid::BareJid>,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            archive_of: None,
            mode: super::Mode::LIVE,
            flows: Vec::new(),
            seen: HashSet::new(),
            changes: Vec::new(),
            committed: None,
            replies: Vec::new(),
        }
    }
}
