//! XEP-0045: Multi-User Chat, with XEP-0421 (occupant ids) and XEP-0410
//! (self-ping). Joining and leaving rooms, reading occupants' presences and
//! the errors of a failed join, configuring a new room as a private group
//! or a public channel, the owner's and moderators' requests, subjects,
//! what a room says of itself (disco#info), and what mentions the user.
//!
//! Presences are read from the `<x xmlns='http://jabber.org/protocol/muc#user'/>`
//! element by hand, not through xmpp-parsers' `MucUser`: that type refuses
//! the whole element for one status code it does not know, and a room's
//! presence must not be lost for a code Tern does not need.

use xmpp_parsers::data_forms::{DataForm, DataFormType, Field, FieldType};
use xmpp_parsers::date::DateTime;
use xmpp_parsers::disco::{DiscoInfoQuery, DiscoItemsQuery};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, FullJid, Jid, ResourcePart};
use xmpp_parsers::message::{Id, Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::muc::muc::{History, Muc};
use xmpp_parsers::muc::MucUser;
use xmpp_parsers::ns;
use xmpp_parsers::ping::Ping;
use xmpp_parsers::presence::{Presence, Show, Type as PresenceType};
use xmpp_parsers::stanza_error::DefinedCondition;

use super::moderation::ModerationNs;
use super::vcard_update::{self, Photo};
use super::{bounded_id, clean_text, mam, sid, with_attr, xml_text};

/// The namespace of joining a room.
#[allow(
    dead_code,
    reason = "the join element is built from xmpp-parsers types"
)]
pub(crate) const NS_MUC: &str = "http://jabber.org/protocol/muc";
/// The namespace of what a room says of its occupants.
pub(crate) const NS_MUC_USER: &str = "http://jabber.org/protocol/muc#user";
/// The namespace of moderators' and admins' requests.
pub(crate) const NS_MUC_ADMIN: &str = "http://jabber.org/protocol/muc#admin";
/// The namespace of owners' requests.
pub(crate) const NS_MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
/// XEP-0421: occupant ids.
pub(crate) const NS_OCCUPANT_ID: &str = "urn:xmpp:occupant-id:0";

/// The form type of a room configuration.
const ROOMCONFIG: &str = "http://jabber.org/protocol/muc#roomconfig";
/// The form type of a room's extended disco#info.
const ROOMINFO: &str = "http://jabber.org/protocol/muc#roominfo";
/// The namespace of stanza errors.
const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// Longest reason or status shown, in characters.
const MAX_REASON: usize = 500;
/// Longest room or item name shown, in characters.
const MAX_NAME: usize = 200;
/// Longest subject shown, in characters.
const MAX_SUBJECT: usize = 4000;
/// Longest nickname accepted, in bytes (a JID resource's limit).
const MAX_NICK: usize = 1023;
/// Most items read from a list (affiliations, disco#items).
const MAX_ITEMS: usize = 10_000;

/// An occupant's role in a room (XEP-0045 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Role {
    /// May kick, grant voice, moderate.
    Moderator,
    /// May speak.
    Participant,
    /// May only read (in a moderated room).
    Visitor,
    /// Not in the room.
    None,
}

impl Role {
    const ALL: [Role; 4] = [
        Role::Moderator,
        Role::Participant,
        Role::Visitor,
        Role::None,
    ];

    /// The name on the wire.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Moderator => "moderator",
            Role::Participant => "participant",
            Role::Visitor => "visitor",
            Role::None => "none",
        }
    }

    /// The role a wire name names, if any.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// A user's long-lived affiliation with a room (XEP-0045 §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Affiliation {
    /// Owns the room: configures and destroys it.
    Owner,
    /// Administers members and bans.
    Admin,
    /// A member (may enter a members-only room).
    Member,
    /// Banned.
    Outcast,
    /// No affiliation.
    None,
}

impl Affiliation {
    const ALL: [Affiliation; 5] = [
        Affiliation::Owner,
        Affiliation::Admin,
        Affiliation::Member,
        Affiliation::Outcast,
        Affiliation::None,
    ];

    /// The name on the wire.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Affiliation::Owner => "owner",
            Affiliation::Admin => "admin",
            Affiliation::Member => "member",
            Affiliation::Outcast => "outcast",
            Affiliation::None => "none",
        }
    }

    /// The affiliation a wire name names, if any.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// How much of a room's recent history to ask for when joining.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum JoinHistory {
    /// None (`<history maxstanzas='0'/>`): the archive provides it.
    None,
    /// What was said since this time (ms since 1970).
    #[allow(
        dead_code,
        reason = "rooms without an archive get the last 50 messages"
    )]
    Since(i64),
    /// At most this many messages.
    MaxStanzas(u32),
}

/// The `<history/>` of a join, if it can be written.
fn history(h: JoinHistory) -> Option<History> {
    match h {
        JoinHistory::None => Some(History::new().with_maxstanzas(0)),
        JoinHistory::MaxStanzas(n) => Some(History::new().with_maxstanzas(n)),
        JoinHistory::Since(ms) => mam::xep0082(ms)
            .parse::<DateTime>()
            .ok()
            .map(|t| History::new().with_since(t)),
    }
}

/// Joins a room as `occupant` (`room@service/nick`), with the room's
/// password if it has one, asking for `history` (XEP-0045 §7.2). A time
/// that cannot be written asks for the room's default history.
pub(crate) fn join(occupant: &FullJid, password: Option<&str>, history: JoinHistory) -> Presence {
    let muc = Muc {
        password: password.map(xml_text),
        history: self::history(history),
    };
    Presence::available()
        .with_to(occupant.clone())
        .with_payload(muc)
}

/// Leaves a room (XEP-0045 §7.14), with a status message if given.
pub(crate) fn leave(occupant: &FullJid, status: Option<&str>) -> Presence {
    let mut p = Presence::unavailable().with_to(occupant.clone());
    if let Some(s) = status.map(xml_text).filter(|s| !s.is_empty()) {
        p.statuses.insert(Lang::default(), s);
    }
    p
}

/// Changes the user's nickname in a room (XEP-0045 §7.6): an available
/// presence to the new occupant JID, without `<x/>`.
pub(crate) fn change_nick(new_occupant: &FullJid) -> Presence {
    Presence::available().with_to(new_occupant.clone())
}

/// Why an occupant left a room other than by leaving it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Removal {
    /// Kicked (307).
    Kicked,
    /// Banned (301).
    Banned,
    /// Removed by an affiliation change (321).
    AffiliationChanged,
    /// Removed because the room became members-only (322).
    MembersOnly,
    /// The service is shutting down (332).
    Shutdown,
    /// Removed after an error (333).
    Error,
    /// The room was destroyed (`<destroy/>`), maybe for an alternate room.
    Destroyed {
        reason: Option<String>,
        alternate: Option<String>,
    },
}

/// What a room says of one occupant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OccupantPresence {
    /// The occupant's nickname (the resource of `from`).
    pub nick: String,
    /// `false` for an unavailable presence (the occupant left).
    pub available: bool,
    /// away, xa, dnd or chat; `None`: available.
    pub show: Option<String>,
    /// The status message, fit to show.
    pub status: Option<String>,
    /// The occupant's role.
    pub role: Role,
    /// The occupant's affiliation.
    pub affiliation: Affiliation,
    /// The occupant's real JID, when the room shows it (full or bare, as
    /// sent).
    pub jid: Option<String>,
    /// The XEP-0421 occupant-id, if the presence has exactly one (whether
    /// the room vouches for it is the caller's to decide).
    pub occupant_id: Option<String>,
    /// This is the user's own presence (110).
    pub is_self: bool,
    /// The room was created by this join (201).
    pub created: bool,
    /// The room gave the user another nickname than asked for (210).
    pub nick_assigned: bool,
    /// The room shows real JIDs to everyone (100 or 172).
    pub non_anonymous: bool,
    /// The occupant's new nickname (303, with an unavailable presence).
    pub new_nick: Option<String>,
    /// Why the occupant was removed, for an unavailable presence.
    pub removal: Option<Removal>,
    /// Who kicked, banned or changed the occupant (nickname, else JID).
    pub actor: Option<String>,
    /// The reason given for it.
    pub reason: Option<String>,
    /// The SHA-1 of the occupant's vCard photo (XEP-0153), if announced.
    pub avatar_hash: Option<String>,
}

/// A nickname from the network, if it can be a JID resource (at most 1023
/// bytes, valid under resourceprep).
pub(crate) fn nick_of(s: &str) -> Option<String> {
    (!s.is_empty() && s.len() <= MAX_NICK && ResourcePart::new(s).is_ok()).then(|| s.to_string())
}

/// A JID from the network, normalised, if it is one.
fn jid_of(s: &str) -> Option<String> {
    Jid::new(s).ok().map(|j| j.to_string())
}

/// The only child of `payloads` called `name` in `ns`; `None` when there
/// is none or more than one (which one would count is anyone's guess).
fn only<'a>(payloads: &'a [Element], name: &str, ns: &str) -> Option<&'a Element> {
    let mut found = payloads.iter().filter(|p| p.is(name, ns));
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// The XEP-0421 occupant-id among `payloads`, if there is exactly one.
fn occupant_id_in(payloads: &[Element]) -> Option<String> {
    bounded_id(only(payloads, "occupant-id", NS_OCCUPANT_ID)?.attr("id")?)
}

/// The text in `texts` with no language, else the first one.
fn best_text(texts: &std::collections::BTreeMap<Lang, String>) -> Option<&String> {
    texts
        .get(&Lang::default())
        .or_else(|| texts.values().next())
}

/// Reads an occupant's presence from a room. `None` unless `from` is a
/// full JID and the presence carries the muc#user `<x/>` or is
/// unavailable; errors are read by [`read_join_error`].
pub(crate) fn read_presence(p: &Presence) -> Option<OccupantPresence> {
    let available = match p.type_ {
        PresenceType::None => true,
        PresenceType::Unavailable => false,
        _ => return None,
    };
    let from = p.from.as_ref()?;
    let nick = nick_of(from.resource()?.as_str())?;
    let x = p.payloads.iter().find(|e| e.is("x", NS_MUC_USER));
    if x.is_none() && available {
        return None;
    }
    let item = x.and_then(|x| x.get_child("item", NS_MUC_USER));
    let codes: Vec<u16> = x
        .into_iter()
        .flat_map(|x| x.children())
        .filter(|c| c.is("status", NS_MUC_USER))
        .filter_map(|c| c.attr("code")?.parse().ok())
        .collect();
    let has = |code: u16| codes.contains(&code);
    let destroy = x.and_then(|x| x.get_child("destroy", NS_MUC_USER));
    let removal = if available {
        None
    } else if let Some(d) = destroy {
        Some(Removal::Destroyed {
            reason: d
                .get_child("reason", NS_MUC_USER)
                .and_then(|r| clean_text(&r.text(), MAX_REASON)),
            alternate: d
                .attr("jid")
                .and_then(|j| BareJid::new(j).ok())
                .map(|j| j.to_string()),
        })
    } else {
        [
            (301, Removal::Banned),
            (307, Removal::Kicked),
            (321, Removal::AffiliationChanged),
            (322, Removal::MembersOnly),
            (332, Removal::Shutdown),
            (333, Removal::Error),
        ]
        .into_iter()
        .find(|(code, _)| has(*code))
        .map(|(_, r)| r)
    };
    let actor = item
        .and_then(|i| i.get_child("actor", NS_MUC_USER))
        .and_then(|a| {
            a.attr("nick")
                .and_then(nick_of)
                .or_else(|| a.attr("jid").and_then(jid_of))
        });
    Some(OccupantPresence {
        nick,
        available,
        show: p.show.as_ref().map(|s| {
            match s {
                Show::Away => "away",
                Show::Chat => "chat",
                Show::Dnd => "dnd",
                Show::Xa => "xa",
            }
            .to_string()
        }),
        status: best_text(&p.statuses).and_then(|s| clean_text(s, MAX_REASON)),
        role: item
            .and_then(|i| Role::from_name(i.attr("role")?))
            .unwrap_or(Role::None),
        affiliation: item
            .and_then(|i| Affiliation::from_name(i.attr("affiliation")?))
            .unwrap_or(Affiliation::None),
        jid: item.and_then(|i| jid_of(i.attr("jid")?)),
        occupant_id: occupant_id_in(&p.payloads),
        is_self: has(110),
        created: has(201),
        nick_assigned: has(210),
        non_anonymous: has(100) || has(172),
        new_nick: item
            .filter(|_| has(303))
            .and_then(|i| nick_of(i.attr("nick")?)),
        removal,
        actor,
        reason: item
            .and_then(|i| i.get_child("reason", NS_MUC_USER))
            .and_then(|r| clean_text(&r.text(), MAX_REASON)),
        avatar_hash: vcard_update::find(&p.payloads).and_then(|x| match vcard_update::read(x) {
            Photo::Sha1(h) => Some(h),
            Photo::Unknown | Photo::Nothing => None,
        }),
    })
}

/// Why a room refused the user (XEP-0045 §7.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum JoinError {
    /// The nickname is taken (`conflict`).
    NickConflict,
    /// The room needs a password (`not-authorized`).
    PasswordRequired,
    /// The user is banned (`forbidden`).
    Banned,
    /// The room is members-only (`registration-required`).
    MembersOnly,
    /// The room is full (`service-unavailable`).
    Full,
    /// No such room, and it cannot be created (`item-not-found`).
    NotFound,
    /// The nickname is reserved by someone else (`not-acceptable`).
    NickReserved,
    /// The user may not create rooms (`not-allowed`).
    CreationRestricted,
    /// Any other condition, by its name.
    Other(String),
}

/// The condition and text of a stanza `<error/>`, read leniently: an
/// unknown or missing condition is `undefined-condition`.
fn error_of(el: &Element) -> (String, Option<String>) {
    let mut condition = None;
    let mut text = None;
    for c in el.children().filter(|c| c.ns() == NS_STANZAS) {
        if c.name() == "text" {
            text = text.or_else(|| clean_text(&c.text(), MAX_REASON));
        } else if condition.is_none() && c.name().len() <= 40 {
            condition = Some(c.name().to_string());
        }
    }
    (
        condition.unwrap_or_else(|| "undefined-condition".into()),
        text,
    )
}

/// Why a join failed, with the server's text: only for type=error
/// presences.
pub(crate) fn read_join_error(p: &Presence) -> Option<(JoinError, Option<String>)> {
    if p.type_ != PresenceType::Error {
        return None;
    }
    let (condition, text) = p
        .payloads
        .iter()
        .find(|e| e.name() == "error")
        .map(error_of)
        .unwrap_or_else(|| ("undefined-condition".into(), None));
    let error = match condition.as_str() {
        "conflict" => JoinError::NickConflict,
        "not-authorized" => JoinError::PasswordRequired,
        "forbidden" => JoinError::Banned,
        "registration-required" => JoinError::MembersOnly,
        "service-unavailable" => JoinError::Full,
        "item-not-found" => JoinError::NotFound,
        "not-acceptable" => JoinError::NickReserved,
        "not-allowed" => JoinError::CreationRestricted,
        _ => JoinError::Other(condition),
    };
    Some((error, text))
}

/// What Tern makes of a room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RoomKind {
    /// Members only, real JIDs shown to all, not listed: a group of people
    /// who know each other.
    PrivateGroup,
    /// Open to anyone, real JIDs shown to moderators only, listed.
    PublicChannel,
}

/// An IQ to `room` with `payload` (the id is filled in when sent).
fn iq_to(room: &BareJid, set: bool, payload: Element) -> Iq {
    let (from, to, id) = (None, Some(Jid::from(room.clone())), String::new());
    if set {
        Iq::Set {
            from,
            to,
            id,
            payload,
        }
    } else {
        Iq::Get {
            from,
            to,
            id,
            payload,
        }
    }
}

/// Asks for a room's configuration form (XEP-0045 §10.2).
pub(crate) fn config_request(room: &BareJid) -> Iq {
    iq_to(room, false, Element::builder("query", NS_MUC_OWNER).build())
}

/// A setting of a new room's configuration.
enum Setting {
    /// A boolean field.
    Bool(bool),
    /// A text field, or a list field's option.
    Text(String),
    /// No private messages: `none` for a list, false for a boolean.
    NoPrivateMessages,
}

/// The settings of a new room of `kind` named `name`, by field name.
fn settings(kind: RoomKind, name: &str) -> Vec<(&'static str, Setting, bool)> {
    use Setting::{Bool, NoPrivateMessages, Text};
    let group = kind == RoomKind::PrivateGroup;
    // (field, value, registered in XEP-0045 §16.5.3)
    let mut s = vec![
        ("muc#roomconfig_roomname", Text(xml_text(name)), true),
        ("muc#roomconfig_persistentroom", Bool(true), true),
        ("muc#roomconfig_membersonly", Bool(group), true),
        (
            "muc#roomconfig_whois",
            Text(if group { "anyone" } else { "moderators" }.into()),
            true,
        ),
        ("muc#roomconfig_publicroom", Bool(!group), true),
        ("muc#roomconfig_changesubject", Bool(group), true),
        // Prosody's mod_muc_mam, and ejabberd.
        ("muc#roomconfig_enablearchiving", Bool(true), false),
        ("mam", Bool(true), false),
    ];
    if group {
        // Prosody, recent ejabberd; older ejabberd.
        s.push(("muc#roomconfig_allowpm", NoPrivateMessages, false));
        s.push(("allow_private_messages", NoPrivateMessages, false));
    } else {
        s.push(("muc#roomconfig_moderatedroom", Bool(false), true));
    }
    s
}

/// The value of `setting` for a field like `server` (the server's field,
/// if known); `None` when the server offers no fitting value.
fn value_for(setting: &Setting, server: Option<&Field>) -> Option<String> {
    let is_bool = server.is_some_and(|f| f.type_ == FieldType::Boolean);
    let offered = |v: &str| {
        server.is_none_or(|f| f.options.is_empty() || f.options.iter().any(|o| o.value == v))
    };
    match setting {
        Setting::Bool(b) => Some(if *b { "1" } else { "0" }.into()),
        Setting::Text(t) => offered(t).then(|| t.clone()),
        Setting::NoPrivateMessages if is_bool => Some("0".into()),
        Setting::NoPrivateMessages => offered("none").then(|| "none".into()),
    }
}

/// The submitted configuration for a new room of `kind` named `name`,
/// given the form the server returned: only fields the server's form has
/// are set, and the others are left at the server's value. Without the
/// server's form, only the fields XEP-0045 registers are sent.
///
/// - PrivateGroup: persistent, members-only, real JIDs shown to anyone,
///   not listed, archived, members may change the subject, no private
///   messages between occupants.
/// - PublicChannel: persistent, open, real JIDs shown to moderators,
///   listed, archived, not moderated, only moderators change the subject.
///
/// The archive is asked for through `muc#roomconfig_enablearchiving`
/// (Prosody) or `mam` (ejabberd), whichever the form has; the maximum
/// number of occupants is left alone.
pub(crate) fn config_submit(
    room: &BareJid,
    kind: RoomKind,
    name: &str,
    server_form: Option<&DataForm>,
) -> Iq {
    let mut fields = Vec::new();
    for (var, setting, registered) in settings(kind, name) {
        let value = match server_form {
            Some(form) => {
                let Some(server) = form.fields.iter().find(|f| f.var.as_deref() == Some(var))
                else {
                    continue;
                };
                value_for(&setting, Some(server))
            }
            None if registered => value_for(&setting, None),
            None => None,
        };
        if let Some(v) = value {
            fields.push(Field::text_single(var, &v));
        }
    }
    let form = DataForm::new(DataFormType::Submit, ROOMCONFIG, fields);
    let query = Element::builder("query", NS_MUC_OWNER)
        .append(Element::from(form))
        .build();
    iq_to(room, true, query)
}

/// The configuration form in an answer to [`config_request`]; `None` if
/// there is none or it does not read as a form.
pub(crate) fn read_config_form(answer: Element) -> Option<DataForm> {
    if !answer.is("query", NS_MUC_OWNER) {
        return None;
    }
    let x = answer.get_child("x", ns::DATA_FORMS)?;
    DataForm::try_from(x.clone())
        .ok()
        .filter(|f| f.type_ == DataFormType::Form)
}

/// A `<reason/>` in `ns` with `reason`, if there is one to give.
fn reason_el(ns: &str, reason: Option<&str>) -> Option<Element> {
    let r = xml_text(reason?);
    (!r.trim().is_empty()).then(|| Element::builder("reason", ns).append(r).build())
}

/// Destroys a room (XEP-0045 §10.9), with a reason shown to its
/// occupants.
pub(crate) fn destroy(room: &BareJid, reason: Option<&str>) -> Iq {
    let destroy = Element::builder("destroy", NS_MUC_OWNER)
        .append_all(reason_el(NS_MUC_OWNER, reason))
        .build();
    let query = Element::builder("query", NS_MUC_OWNER)
        .append(destroy)
        .build();
    iq_to(room, true, query)
}

/// A muc#admin query with one item.
fn admin_query(item: Element) -> Element {
    Element::builder("query", NS_MUC_ADMIN).append(item).build()
}

/// Gives the occupant `nick` a role (XEP-0045 §8: kick with
/// [`Role::None`], voice, moderator).
pub(crate) fn set_role(room: &BareJid, nick: &str, role: Role, reason: Option<&str>) -> Iq {
    let item = with_attr(Element::builder("item", NS_MUC_ADMIN), "nick", nick);
    let item = with_attr(item, "role", role.as_str())
        .append_all(reason_el(NS_MUC_ADMIN, reason))
        .build();
    iq_to(room, true, admin_query(item))
}

/// Gives `jid` an affiliation with a room (XEP-0045 §9, §10: ban with
/// [`Affiliation::Outcast`], membership, admin, owner).
pub(crate) fn set_affiliation(
    room: &BareJid,
    jid: &BareJid,
    affiliation: Affiliation,
    reason: Option<&str>,
) -> Iq {
    let item = with_attr(
        Element::builder("item", NS_MUC_ADMIN),
        "jid",
        &jid.to_string(),
    );
    let item = with_attr(item, "affiliation", affiliation.as_str())
        .append_all(reason_el(NS_MUC_ADMIN, reason))
        .build();
    iq_to(room, true, admin_query(item))
}

/// Asks for the users with `affiliation` (XEP-0045 §9.5, §10.5).
pub(crate) fn affiliation_list_request(room: &BareJid, affiliation: Affiliation) -> Iq {
    let item = with_attr(
        Element::builder("item", NS_MUC_ADMIN),
        "affiliation",
        affiliation.as_str(),
    )
    .build();
    iq_to(room, false, admin_query(item))
}

/// The users in an answer to [`affiliation_list_request`]: bare JID,
/// affiliation and reserved nickname. Items without a JID or a known
/// affiliation are skipped; at most 10 000 are read.
pub(crate) fn read_affiliation_list(answer: Element) -> Vec<(String, Affiliation, Option<String>)> {
    if !answer.is("query", NS_MUC_ADMIN) {
        return Vec::new();
    }
    answer
        .children()
        .filter(|c| c.is("item", NS_MUC_ADMIN))
        .filter_map(|i| {
            let jid = Jid::new(i.attr("jid")?).ok()?.to_bare().to_string();
            let affiliation = Affiliation::from_name(i.attr("affiliation")?)?;
            Some((jid, affiliation, i.attr("nick").and_then(nick_of)))
        })
        .take(MAX_ITEMS)
        .collect()
}

/// The affiliation changes a room announces by message (XEP-0045 §9.3,
/// §9.4, §10.6: someone who is not in the room became a member, or is
/// one no more): bare JID and new affiliation. Empty for any other
/// message; at most 10 000 items are read.
pub(crate) fn read_affiliation_notice(m: &Message) -> Vec<(String, Affiliation)> {
    let from_room = m.from.as_ref().is_some_and(|f| f.resource().is_none());
    if !from_room || !m.bodies.is_empty() {
        return Vec::new();
    }
    m.payloads
        .iter()
        .filter(|p| p.is("x", NS_MUC_USER))
        .flat_map(|x| x.children().filter(|c| c.is("item", NS_MUC_USER)))
        .filter_map(|i| {
            let jid = Jid::new(i.attr("jid")?).ok()?.to_bare().to_string();
            Some((jid, Affiliation::from_name(i.attr("affiliation")?)?))
        })
        .take(MAX_ITEMS)
        .collect()
}

/// The sender's real JID (bare) a room that shows them adds to the
/// messages of its archive (XEP-0045 §7.2.4's `<item jid/>`, which Prosody
/// and ejabberd store with each message of a non-anonymous room).
pub(crate) fn message_real_jid(m: &Message) -> Option<BareJid> {
    let item = m
        .payloads
        .iter()
        .find(|p| p.is("x", NS_MUC_USER))?
        .get_child("item", NS_MUC_USER)?;
    Some(Jid::new(item.attr("jid")?).ok()?.to_bare())
}

/// Sets a room's subject (XEP-0045 §8.1); an empty text clears it.
pub(crate) fn subject(room: &BareJid, text: &str) -> Message {
    let mut m = Message::groupchat(Some(Jid::from(room.clone())));
    m.subjects.insert(Lang::default(), xml_text(text));
    m
}

/// A room's subject, from a groupchat message with a `<subject/>` and no
/// `<body/>` (XEP-0045 §8.1): `Some("")` when it was cleared. Trimmed,
/// without control characters other than line feeds, at most 4000
/// characters.
pub(crate) fn read_subject(m: &Message) -> Option<String> {
    if m.type_ != MessageType::Groupchat || !m.bodies.is_empty() {
        return None;
    }
    let s = best_text(&m.subjects)?;
    Some(
        s.replace("\r\n", "\n")
            .trim()
            .chars()
            .map(|c| if c == '\t' || c == '\r' { ' ' } else { c })
            .filter(|&c| c == '\n' || !c.is_control())
            .take(MAX_SUBJECT)
            .collect(),
    )
}

/// What a room says of itself (disco#info, XEP-0045 §6.4).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RoomInfo {
    /// The room's name.
    pub name: Option<String>,
    /// The room's description.
    pub description: Option<String>,
    /// Only members may enter (`muc_membersonly`).
    pub members_only: bool,
    /// Real JIDs are shown to everyone (`muc_nonanonymous`).
    pub non_anonymous: bool,
    /// The room outlives its last occupant (`muc_persistent`).
    pub persistent: bool,
    /// Entering takes a password (`muc_passwordprotected`).
    pub password_protected: bool,
    /// Only those with voice may speak (`muc_moderated`).
    pub moderated: bool,
    /// The room is listed (`muc_public`).
    pub public: bool,
    /// The room keeps an archive (`urn:xmpp:mam:2`).
    pub mam: bool,
    /// The room gives occupant ids (`urn:xmpp:occupant-id:0`).
    pub occupant_id: bool,
    /// The XEP-0425 version the room speaks (version 1 if it speaks both).
    pub moderation: Option<ModerationNs>,
    /// How many occupants it has (`muc#roominfo_occupants`).
    pub occupants: Option<u32>,
    /// It is a room at all (`http://jabber.org/protocol/muc`).
    pub is_room: bool,
}

impl RoomInfo {
    /// What Tern makes of the room: members-only with real JIDs shown is a
    /// private group; open is a public channel; anything else is neither.
    pub(crate) fn kind(&self) -> Option<RoomKind> {
        if self.members_only && self.non_anonymous {
            Some(RoomKind::PrivateGroup)
        } else if !self.members_only {
            Some(RoomKind::PublicChannel)
        } else {
            None
        }
    }
}

/// The first value of the field `var` in the form `x`.
fn form_value(x: &Element, var: &str) -> Option<String> {
    x.children()
        .find(|f| f.is("field", ns::DATA_FORMS) && f.attr("var") == Some(var))?
        .get_child("value", ns::DATA_FORMS)
        .map(|v| v.text())
}

/// Reads what a room says of itself from a disco#info answer; `None` if
/// `answer` is not one.
pub(crate) fn read_room_info(answer: Element) -> Option<RoomInfo> {
    if !answer.is("query", ns::DISCO_INFO) {
        return None;
    }
    let mut info = RoomInfo::default();
    for c in answer.children() {
        if c.is("identity", ns::DISCO_INFO) {
            if c.attr("category") == Some("conference") && info.name.is_none() {
                info.name = c.attr("name").and_then(|n| clean_text(n, MAX_NAME));
            }
        } else if c.is("feature", ns::DISCO_INFO) {
            let Some(f) = c.attr("var") else { continue };
            match f {
                "http://jabber.org/protocol/muc" => info.is_room = true,
                "muc_membersonly" => info.members_only = true,
                "muc_nonanonymous" => info.non_anonymous = true,
                "muc_persistent" => info.persistent = true,
                "muc_passwordprotected" => info.password_protected = true,
                "muc_moderated" => info.moderated = true,
                "muc_public" => info.public = true,
                "urn:xmpp:mam:2" => info.mam = true,
                NS_OCCUPANT_ID => info.occupant_id = true,
                f => {
                    if let Some(v) = ModerationNs::from_feature(f) {
                        if info.moderation != Some(ModerationNs::V1) {
                            info.moderation = Some(v);
                        }
                    }
                }
            }
        } else if c.is("x", ns::DATA_FORMS)
            && form_value(c, "FORM_TYPE").as_deref() == Some(ROOMINFO)
        {
            if let Some(d) = form_value(c, "muc#roominfo_description") {
                info.description = clean_text(&d, MAX_REASON);
            }
            if let Some(n) = form_value(c, "muc#roominfo_occupants") {
                info.occupants = n.trim().parse().ok();
            }
            if info.name.is_none() {
                info.name =
                    form_value(c, "muc#roomconfig_roomname").and_then(|n| clean_text(&n, MAX_NAME));
            }
        }
    }
    Some(info)
}

/// Asks `to` (a service or a room) what it is (the id is filled in when
/// sent).
pub(crate) fn info_request(to: &Jid) -> Iq {
    Iq::from_get(String::new(), DiscoInfoQuery { node: None }).with_to(to.clone())
}

/// Asks `to` for its items: a service's rooms (XEP-0045 §6.3).
pub(crate) fn items_request(to: &Jid) -> Iq {
    Iq::from_get(
        String::new(),
        DiscoItemsQuery {
            node: None,
            rsm: None,
        },
    )
    .with_to(to.clone())
}

/// The items of a disco#items answer: JID and name. Items without a
/// usable JID are skipped; at most 10 000 are read.
pub(crate) fn read_items(answer: Element) -> Vec<(String, Option<String>)> {
    if !answer.is("query", ns::DISCO_ITEMS) {
        return Vec::new();
    }
    answer
        .children()
        .filter(|c| c.is("item", ns::DISCO_ITEMS))
        .filter_map(|i| {
            let jid = jid_of(i.attr("jid")?)?;
            Some((jid, i.attr("name").and_then(|n| clean_text(n, MAX_NAME))))
        })
        .take(MAX_ITEMS)
        .collect()
}

/// Pings the user's own occupant JID, to learn whether the user is still
/// in the room (XEP-0410).
pub(crate) fn self_ping(occupant: &FullJid) -> Iq {
    Iq::from_get(String::new(), Ping).with_to(Jid::from(occupant.clone()))
}

/// What a self-ping says of the user's presence in a room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SelfPing {
    /// Still in the room.
    Joined,
    /// No longer in the room: join again.
    NotJoined,
    /// The room could not be reached: try again later.
    Unknown,
}

/// Reads the answer to [`self_ping`] (XEP-0410 §3.1): a result (no
/// error), `service-unavailable` or `feature-not-implemented` (the user's
/// client does not answer pings), or `item-not-found` (the user's nickname
/// is changing) say the user is joined; `remote-server-not-found`,
/// `remote-server-timeout` and no answer at all leave it unknown; any
/// other error (`not-acceptable` first) says the user is not joined.
pub(crate) fn read_self_ping(error: Option<&DefinedCondition>, timed_out: bool) -> SelfPing {
    if timed_out {
        return SelfPing::Unknown;
    }
    match error {
        None
        | Some(DefinedCondition::ServiceUnavailable)
        | Some(DefinedCondition::FeatureNotImplemented)
        | Some(DefinedCondition::ItemNotFound) => SelfPing::Joined,
        Some(DefinedCondition::RemoteServerNotFound)
        | Some(DefinedCondition::RemoteServerTimeout) => SelfPing::Unknown,
        Some(_) => SelfPing::NotJoined,
    }
}

/// Whether a character can be part of a word, for [`mentions`].
fn is_word(c: char) -> bool {
    // Combining diacritical marks belong to the letter before them.
    c.is_alphanumeric() || c == '_' || ('\u{300}'..='\u{36f}').contains(&c)
}

/// Whether `body` mentions `nick`: case-insensitive, as a whole word (the
/// characters before and after are not alphanumeric or `_`), so also as
/// `@nick`. An empty nickname never matches.
pub(crate) fn mentions(body: &str, nick: &str) -> bool {
    let nick = nick.trim().to_lowercase();
    if nick.is_empty() {
        return false;
    }
    let body = body.to_lowercase();
    body.match_indices(&nick).any(|(at, m)| {
        let before = body[..at].chars().next_back();
        let after = body[at + m.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

/// The XEP-0421 occupant-id of a message from a room, if it has exactly
/// one.
pub(crate) fn message_occupant_id(m: &Message) -> Option<String> {
    occupant_id_in(&m.payloads)
}

/// A message's room stanza-id: the XEP-0359 `<stanza-id/>` given by
/// `room`.
pub(crate) fn room_stanza_id(m: &Message, room: &BareJid) -> Option<String> {
    m.payloads
        .iter()
        .filter(|p| p.is("stanza-id", ns::SID))
        .find_map(|p| sid::read_stanza_id(p, room))
}

/// A private message to an occupant through the room (XEP-0045 §7.5).
#[allow(
    dead_code,
    reason = "private messages are built by the send queue (xep::message::Outgoing)"
)]
pub(crate) fn private_message(to: &FullJid, id: &str, body: &str) -> Message {
    let mut m = Message::chat(Some(Jid::from(to.clone())));
    m.id = Some(Id(xml_text(id)));
    m.bodies.insert(Lang::default(), xml_text(body));
    m.with_payload(MucUser::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affiliation_notices_name_who_became_or_stopped_being_a_member() {
        let read = |xml: &str| {
            read_affiliation_notice(&Message::try_from(xml.parse::<Element>().unwrap()).unwrap())
        };
        assert_eq!(
            read("<message xmlns='jabber:client' from='group@muc.lit' to='juliet@capulet.lit'>\
                  <x xmlns='http://jabber.org/protocol/muc#user'>\
                  <item affiliation='member' jid='hag66@shakespeare.lit/pda'/>\
                  <item affiliation='none' jid='wiccarocks@shakespeare.lit'/>\
                  <item affiliation='member'/><item affiliation='witch' jid='x@y.lit'/></x></message>"),
            vec![
                ("hag66@shakespeare.lit".to_string(), Affiliation::Member),
                ("wiccarocks@shakespeare.lit".to_string(), Affiliation::None),
            ]
        );
        // Only the room itself says so, and not in a message with text.
        assert!(read("<message xmlns='jabber:client' from='group@muc.lit/mallory' to='juliet@capulet.lit'>\
                  <x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='owner' jid='mallory@evil.lit'/></x></message>").is_empty());
        assert!(read("<message xmlns='jabber:client' from='group@muc.lit' to='juliet@capulet.lit'><body>hi</body>\
                  <x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='owner' jid='mallory@evil.lit'/></x></message>").is_empty());
    }
    use crate::xep::{el, tight, wire, MAX_ID_LEN};

    fn presence(xml: &str) -> Presence {
        Presence::try_from(el(xml)).unwrap()
    }

    fn msg(xml: &str) -> Message {
        Message::try_from(el(xml)).unwrap()
    }

    fn occupant(s: &str) -> FullJid {
        FullJid::new(s).unwrap()
    }

    fn bare(s: &str) -> BareJid {
        BareJid::new(s).unwrap()
    }

    fn request(iq: Iq) -> (&'static str, Option<String>, Element) {
        match iq {
            Iq::Get { to, payload, .. } => ("get", to.map(|t| t.to_string()), wire(payload)),
            Iq::Set { to, payload, .. } => ("set", to.map(|t| t.to_string()), wire(payload)),
            _ => panic!("not a request"),
        }
    }

    /// The only element child of `iq` (written as the XEP shows it).
    fn child(iq: &str) -> Element {
        tight(iq).children().next().unwrap().clone()
    }

    #[test]
    fn names_read_back() {
        for r in Role::ALL {
            assert_eq!(Role::from_name(r.as_str()), Some(r));
        }
        for a in Affiliation::ALL {
            assert_eq!(Affiliation::from_name(a.as_str()), Some(a));
        }
        assert_eq!(Role::from_name("Moderator"), None);
        assert_eq!(Affiliation::from_name(""), None);
    }

    #[test]
    fn joins_and_leaves_as_the_xep_shows() {
        let me = occupant("coven@chat.shakespeare.lit/thirdwitch");
        // XEP-0045 §7.2.1, Example 18, with §7.2.6 Example 37's history.
        let p = wire(join(&me, None, JoinHistory::MaxStanzas(20)));
        assert_eq!(p.attr("to"), Some("coven@chat.shakespeare.lit/thirdwitch"));
        assert_eq!(p.attr("type"), None);
        assert_eq!(
            p.get_child("x", NS_MUC).unwrap(),
            &tight(
                "<x xmlns='http://jabber.org/protocol/muc'>
    <history maxstanzas='20'/>
  </x>"
            )
        );
        // XEP-0045 §7.2.6, Example 39: no history.
        let p = wire(join(&me, None, JoinHistory::None));
        let h = p
            .get_child("x", NS_MUC)
            .and_then(|x| x.get_child("history", NS_MUC))
            .unwrap();
        assert_eq!(h.attr("maxstanzas"), Some("0"));
        // XEP-0045 §7.2.6, Example 38: history since a time.
        let p = wire(join(&me, None, JoinHistory::Since(1_031_699_305_000)));
        let h = p
            .get_child("x", NS_MUC)
            .and_then(|x| x.get_child("history", NS_MUC))
            .unwrap();
        let since: DateTime = h.attr("since").unwrap().parse().unwrap();
        assert_eq!(since.0.timestamp_millis(), 1_031_699_305_000);
        // XEP-0045 §7.2.5, Example 33: with a password.
        let p = wire(join(&me, Some("cauldronburn"), JoinHistory::None));
        let x = p.get_child("x", NS_MUC).unwrap();
        assert_eq!(
            x.get_child("password", NS_MUC).unwrap().text(),
            "cauldronburn"
        );
        // A time that cannot be written: the room's default history.
        let p = wire(join(&me, Some("a\u{0}b"), JoinHistory::Since(i64::MAX)));
        let x = p.get_child("x", NS_MUC).unwrap();
        assert!(x.get_child("history", NS_MUC).is_none());
        assert_eq!(x.get_child("password", NS_MUC).unwrap().text(), "ab");

        // XEP-0045 §7.14, Example 80: leaving, with a status.
        let p = wire(leave(&me, Some("gone where the goblins go")));
        assert_eq!(p.attr("type"), Some("unavailable"));
        assert_eq!(p.attr("to"), Some("coven@chat.shakespeare.lit/thirdwitch"));
        assert_eq!(
            p.get_child("status", "jabber:client").unwrap().text(),
            "gone where the goblins go"
        );
        assert!(wire(leave(&me, None))
            .get_child("status", "jabber:client")
            .is_none());

        // XEP-0045 §7.6, Example 50: changing nickname.
        let p = wire(change_nick(&occupant("coven@chat.shakespeare.lit/oldhag")));
        assert_eq!(p.attr("to"), Some("coven@chat.shakespeare.lit/oldhag"));
        assert_eq!(p.attr("type"), None);
        assert!(
            p.children().all(|c| c.is("priority", "jabber:client")),
            "no <x/>"
        );
    }

    fn base(nick: &str) -> OccupantPresence {
        OccupantPresence {
            nick: nick.into(),
            available: true,
            show: None,
            status: None,
            role: Role::None,
            affiliation: Affiliation::None,
            jid: None,
            occupant_id: None,
            is_self: false,
            created: false,
            nick_assigned: false,
            non_anonymous: false,
            new_nick: None,
            removal: None,
            actor: None,
            reason: None,
            avatar_hash: None,
        }
    }

    #[test]
    fn reads_the_xep_presences() {
        // XEP-0045 §7.2.3, Example 21: another occupant's presence.
        let p = presence(
            "<presence xmlns='jabber:client' from='coven@chat.shakespeare.lit/firstwitch'
    id='3DCB0401-D7CF-4E31-BE05-EDF8D057BFBD' to='hag66@shakespeare.lit/pda'>
  <x xmlns='http://jabber.org/protocol/muc#user'>
    <item affiliation='owner' role='moderator'/>
  </x>
</presence>",
        );
        assert_eq!(
            read_presence(&p),
            Some(OccupantPresence {
                role: Role::Moderator,
                affiliation: Affiliation::Owner,
                ..base("firstwitch")
            })
        );
        // XEP-0045 §7.2.4, Example 24, with §7.2.9 Example 42's assigned
        // nickname: the user's own presence in a non-anonymous room.
        let p = presence(
            "<presence xmlns='jabber:client' from='coven@chat.shakespeare.lit/thirdwitch'
    id='n13mt3l' to='hag66@shakespeare.lit/pda'>
  <show>away</show>
  <status>brewing</status>
  <x xmlns='http://jabber.org/protocol/muc#user'>
    <item affiliation='member' jid='hag66@shakespeare.lit/pda' role='participant'/>
    <status code='100'/>
    <status code='110'/>
    <status code='210'/>
  </x>
  <occupant-id xmlns='urn:xmpp:occupant-id:0' id='dd72603deec90a38ba552f7c68cbcc61bca202cd'/>
  <x xmlns='vcard-temp:x:update'><photo>01b87fcd030b72895ff8e88db57ec525450f000d</photo></x>
</presence>",
        );
        assert_eq!(
            read_presence(&p),
            Some(OccupantPresence {
                show: Some("away".into()),
                status: Some("brewing".into()),
                role: Role::Participant,
                affiliation: Affiliation::Member,
                jid: Some("hag66@shakespeare.lit/pda".into()),
                occupant_id: Some("dd72603deec90a38ba552f7c68cbcc61bca202cd".into()),
                is_self: true,
                nick_assigned: true,
                non_anonymous: true,
                avatar_hash: Some("01b87fcd030b72895ff8e88db57ec525450f000d".into()),
                ..base("thirdwitch")
            })
        );
        // XEP-0045 §10.1.1, Example 155: a new room.
        let p = presence(
            "<presence xmlns='jabber:client' from='coven@chat.shakespeare.lit/firstwitch' to='crone1@shakespeare.lit/desktop'>
  <x xmlns='http://jabber.org/protocol/muc#user'>
    <item affiliation='owner' role='moderator'/>
    <status code='110'/>
    <status code='201'/>
  </x>
</presence>",
        );
        let o = read_presence(&p).unwrap();
        assert!(o.is_self && o.created && !o.non_anonymous);
        // XEP-0045 §7.6, Example 52: a nickname change.
        let p = presence(
            "<presence xmlns='jabber:client' from='coven@chat.shakespeare.lit/thirdwitch'
    id='5C8B3C4B-9A2D-4F3E-8B1C-0D2E3F4A5B6C' to='crone1@shakespeare.lit/desktop' type='unavailable'>
  <x xmlns='http://jabber.org/protocol/muc#user'>
    <item affiliation='member' jid='hag66@shakespeare.lit/pda' nick='oldhag' role='participant'/>
    <status code='303'/>
  </x>
</presence>",
        );
        assert_eq!(
            read_presence(&p),
            Some(OccupantPresence {
                available: false,
                role: Role::Participant,
                affiliation: Affiliation::Member,
                jid: Some("hag66@shakespeare.lit/pda".into()),
                new_nick: Some("oldhag".into()),
                ..base("thirdwitch")
            })
        );
    }

    #[test]
    fn reads_the_xep_removals() {
        // XEP-0045 §8.2, Example 109: kicked.
        let p = presence(
            "<presence xmlns='jabber:client' from='harfleur@chat.shakespeare.lit/pistol'
    to='pistol@shakespeare.lit/harfleur' type='unavailable'>
  <x xmlns='http://jabber.org/protocol/muc#user'>
    <item affiliation='none' role='none'>
      <actor nick='Fluellen'/>
      <reason>Avaunt, you cullion!</reason>
    </item>
    <status code='110'/>
    <status code='307'/>
  </x>
</presence>",
        );
        assert_eq!(
            read_presence(&p),
            Some(OccupantPresence {
                available: false,
                is_self: true,
                removal: Some(Removal::Kicked),
                actor: Some("Fluellen".into()),
                reason: Some("Avaunt, you cullion!".into()),
                ..base("pistol")
            })
        );
        // XEP-0045 §9.1, Example 117: banned.
        let p = presence(
            "<presence xmlns='jabber:client' from='southampton@chat.shakespeare.lit/cambridge'
    to='earlofcambridge@shakespeare.lit/stabber' type='unavailable'>
  <x xmlns='http://jabber.org/protocol/muc#user'>
    <item affiliation='outcast' role='none'>
      <actor jid='kinghenryv@shakespeare.lit/throne'/>
      <reason>Treason</reason>
    </item>
    <status code='301'/>
  </x>
</presence>",
        );
        let o = read_presence(&p).unwrap();
        assert_eq!(o.removal, Some(Removal::Banned));
        assert_eq!(o.affiliation, Affiliation::Outcast);
        assert_eq!(
            o.actor.as_deref(),
            Some("kinghenryv@shakespeare.lit/throne")
        );
        assert_eq!(o.reason.as_deref(), Some("Treason"));
        // XEP-0045 §10.9, Example 203: the room is destroyed.
        let p = presence(
            "<presence xmlns='jabber:client' from='heath@chat.shakespeare.lit/firstwitch'
    to='crone1@shakespeare.lit/desktop' type='unavailable'>
  <x xmlns='http://jabber.org/protocol/muc#user'>
    <item affiliation='none' role='none'/>
    <destroy jid='coven@chat.shakespeare.lit'>
      <reason>Macbeth doth come.</reason>
    </destroy>
  </x>
</presence>",
        );
        assert_eq!(
            read_presence(&p).unwrap().removal,
            Some(Removal::Destroyed {
                reason: Some("Macbeth doth come.".into()),
                alternate: Some("coven@chat.shakespeare.lit".into()),
            })
        );
        // The other codes.
        for (code, removal) in [
            (321, Removal::AffiliationChanged),
            (322, Removal::MembersOnly),
            (332, Removal::Shutdown),
            (333, Removal::Error),
        ] {
            let p = presence(&format!(
                "<presence xmlns='jabber:client' from='r@s/n' type='unavailable'>
                   <x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/><status code='{code}'/></x>
                 </presence>"
            ));
            assert_eq!(read_presence(&p).unwrap().removal, Some(removal), "{code}");
        }
        // A plain leave, even without <x/>, is no removal.
        let p = presence("<presence xmlns='jabber:client' from='r@s/n' type='unavailable'/>");
        assert_eq!(
            read_presence(&p),
            Some(OccupantPresence {
                available: false,
                ..base("n")
            })
        );
        // Removal codes on an available presence mean nothing.
        let p = presence(
            "<presence xmlns='jabber:client' from='r@s/n'><x xmlns='http://jabber.org/protocol/muc#user'><status code='307'/><destroy/></x></presence>",
        );
        assert_eq!(read_presence(&p).unwrap().removal, None);
    }

    #[test]
    fn reads_the_xep_join_errors() {
        // XEP-0045 §7.2.9, Example 44: nickname conflict.
        let p = presence(
            "<presence xmlns='jabber:client' from='coven@chat.shakespeare.lit/thirdwitch'
    id='n13mt3l' to='hag66@shakespeare.lit/pda' type='error'>
  <x xmlns='http://jabber.org/protocol/muc'/>
  <error by='coven@chat.shakespeare.lit' type='cancel'>
    <conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
  </error>
</presence>",
        );
        assert_eq!(read_join_error(&p), Some((JoinError::NickConflict, None)));
        assert_eq!(read_presence(&p), None);
        for (condition, error) in [
            ("not-authorized", JoinError::PasswordRequired),
            ("forbidden", JoinError::Banned),
            ("registration-required", JoinError::MembersOnly),
            ("service-unavailable", JoinError::Full),
            ("item-not-found", JoinError::NotFound),
            ("not-acceptable", JoinError::NickReserved),
            ("not-allowed", JoinError::CreationRestricted),
            ("jid-malformed", JoinError::Other("jid-malformed".into())),
            ("made-up", JoinError::Other("made-up".into())),
        ] {
            let p = presence(&format!(
                "<presence xmlns='jabber:client' from='r@s/n' type='error'>
                   <error type='auth'><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
                   <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'> Go \u{9f}away </text></error>
                 </presence>"
            ));
            assert_eq!(
                read_join_error(&p),
                Some((error, Some("Go away".into()))),
                "{condition}"
            );
        }
        // No error element at all.
        let p = presence("<presence xmlns='jabber:client' from='r@s/n' type='error'/>");
        assert_eq!(
            read_join_error(&p),
            Some((JoinError::Other("undefined-condition".into()), None))
        );
        // Not an error.
        let p = presence("<presence xmlns='jabber:client' from='r@s/n'/>");
        assert_eq!(read_join_error(&p), None);
    }

    #[test]
    fn hostile_presences_read_as_little_as_they_can() {
        // Not from an occupant JID, not a room's presence, not presence at all.
        for bad in [
            "<presence xmlns='jabber:client' from='coven@chat.shakespeare.lit'><x xmlns='http://jabber.org/protocol/muc#user'/></presence>",
            "<presence xmlns='jabber:client'><x xmlns='http://jabber.org/protocol/muc#user'/></presence>",
            "<presence xmlns='jabber:client' from='romeo@montague.lit/orchard'/>",
            "<presence xmlns='jabber:client' from='r@s/n' type='subscribe'><x xmlns='http://jabber.org/protocol/muc#user'/></presence>",
            "<presence xmlns='jabber:client' from='r@s/n'><x xmlns='http://jabber.org/protocol/muc'/></presence>",
        ] {
            assert_eq!(read_presence(&presence(bad)), None, "{bad}");
        }
        // Unknown status codes, roles and garbage are ignored, not fatal.
        let long = "x".repeat(MAX_ID_LEN + 1);
        let p = presence(&format!(
            "<presence xmlns='jabber:client' from='r@s/n'>
               <status>{}</status>
               <x xmlns='http://jabber.org/protocol/muc#user'>
                 <item affiliation='god' role='king' jid='@@' nick=''><actor nick=''/><reason>  </reason></item>
                 <status code='999'/><status code='abc'/><status/><status code='110'/><status code='303'/>
                 <unknown/>
               </x>
               <occupant-id xmlns='urn:xmpp:occupant-id:0' id='{long}'/>
               <x xmlns='vcard-temp:x:update'><photo>../../etc/passwd</photo></x>
             </presence>",
            "s".repeat(2000)
        ));
        let o = read_presence(&p).unwrap();
        assert!(o.is_self);
        assert_eq!((o.role, o.affiliation), (Role::None, Affiliation::None));
        assert_eq!(o.status.unwrap().chars().count(), MAX_REASON);
        assert_eq!(
            (
                o.jid,
                o.new_nick,
                o.actor,
                o.reason,
                o.occupant_id,
                o.avatar_hash
            ),
            (None, None, None, None, None, None)
        );
        // Two occupant-ids: which one the room gave is unknown.
        let p = presence(
            "<presence xmlns='jabber:client' from='r@s/n'><x xmlns='http://jabber.org/protocol/muc#user'/>
               <occupant-id xmlns='urn:xmpp:occupant-id:0' id='a'/><occupant-id xmlns='urn:xmpp:occupant-id:0' id='b'/></presence>",
        );
        assert_eq!(read_presence(&p).unwrap().occupant_id, None);
        // A new nickname that cannot be a resource is refused.
        let p = presence(&format!(
            "<presence xmlns='jabber:client' from='r@s/n' type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'>
               <item affiliation='none' role='none' nick='{}'/><status code='303'/></x></presence>",
            "n".repeat(MAX_NICK + 1)
        ));
        assert_eq!(read_presence(&p).unwrap().new_nick, None);
    }

    /// A configuration form as Prosody sends it (abridged), with the
    /// fields of XEP-0045 §10.1.3, Example 163.
    const PROSODY_FORM: &str = "<query xmlns='http://jabber.org/protocol/muc#owner'>
  <x xmlns='jabber:x:data' type='form'>
    <title>Configuration for coven@chat.shakespeare.lit</title>
    <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/muc#roomconfig</value></field>
    <field var='muc#roomconfig_roomname' type='text-single' label='Title'/>
    <field var='muc#roomconfig_roomdesc' type='text-single' label='Description'/>
    <field var='muc#roomconfig_persistentroom' type='boolean'><value>0</value></field>
    <field var='muc#roomconfig_publicroom' type='boolean'><value>1</value></field>
    <field var='muc#roomconfig_changesubject' type='boolean'><value>0</value></field>
    <field var='muc#roomconfig_allowpm' type='list-single'>
      <value>anyone</value>
      <option label='Everyone'><value>anyone</value></option>
      <option label='Moderators'><value>moderators</value></option>
      <option label='Nobody'><value>none</value></option>
    </field>
    <field var='muc#roomconfig_whois' type='list-single'>
      <value>moderators</value>
      <option label='Moderators only'><value>moderators</value></option>
      <option label='Anyone'><value>anyone</value></option>
    </field>
    <field var='muc#roomconfig_passwordprotectedroom' type='boolean'><value>0</value></field>
    <field var='muc#roomconfig_roomsecret' type='text-private'/>
    <field var='muc#roomconfig_moderatedroom' type='boolean'><value>0</value></field>
    <field var='muc#roomconfig_membersonly' type='boolean'><value>0</value></field>
    <field var='muc#roomconfig_historylength' type='text-single'><value>20</value></field>
    <field var='muc#roomconfig_enablearchiving' type='boolean'><value>1</value></field>
  </x>
</query>";

    fn submitted(iq: Iq) -> Vec<(String, String)> {
        let (kind, to, query) = request(iq);
        assert_eq!(
            (kind, to.as_deref()),
            ("set", Some("coven@chat.shakespeare.lit"))
        );
        assert!(query.is("query", NS_MUC_OWNER));
        let form =
            DataForm::try_from(query.get_child("x", ns::DATA_FORMS).unwrap().clone()).unwrap();
        assert_eq!(form.type_, DataFormType::Submit);
        assert_eq!(form.form_type(), Some(ROOMCONFIG));
        form.fields
            .into_iter()
            .filter(|f| f.var.as_deref() != Some("FORM_TYPE"))
            .map(|f| (f.var.unwrap(), f.values.join(",")))
            .collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn configures_rooms_from_the_servers_form() {
        let room = bare("coven@chat.shakespeare.lit");
        // XEP-0045 §10.1.3, Example 161: asking for the form.
        let (kind, to, query) = request(config_request(&room));
        assert_eq!(
            (kind, to.as_deref()),
            ("get", Some("coven@chat.shakespeare.lit"))
        );
        assert_eq!(
            query,
            el("<query xmlns='http://jabber.org/protocol/muc#owner'/>")
        );

        let form = read_config_form(el(PROSODY_FORM)).unwrap();
        assert_eq!(
            submitted(config_submit(
                &room,
                RoomKind::PrivateGroup,
                "The Coven",
                Some(&form)
            )),
            pairs(&[
                ("muc#roomconfig_roomname", "The Coven"),
                ("muc#roomconfig_persistentroom", "1"),
                ("muc#roomconfig_membersonly", "1"),
                ("muc#roomconfig_whois", "anyone"),
                ("muc#roomconfig_publicroom", "0"),
                ("muc#roomconfig_changesubject", "1"),
                ("muc#roomconfig_enablearchiving", "1"),
                ("muc#roomconfig_allowpm", "none"),
            ])
        );
        assert_eq!(
            submitted(config_submit(
                &room,
                RoomKind::PublicChannel,
                "Witches",
                Some(&form)
            )),
            pairs(&[
                ("muc#roomconfig_roomname", "Witches"),
                ("muc#roomconfig_persistentroom", "1"),
                ("muc#roomconfig_membersonly", "0"),
                ("muc#roomconfig_whois", "moderators"),
                ("muc#roomconfig_publicroom", "1"),
                ("muc#roomconfig_changesubject", "0"),
                ("muc#roomconfig_enablearchiving", "1"),
                ("muc#roomconfig_moderatedroom", "0"),
            ])
        );

        // ejabberd's names: `mam`, and a boolean for private messages; a
        // whois list without the wanted option is left alone.
        let form = read_config_form(el("<query xmlns='http://jabber.org/protocol/muc#owner'>
  <x xmlns='jabber:x:data' type='form'>
    <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/muc#roomconfig</value></field>
    <field var='mam' type='boolean'><value>0</value></field>
    <field var='allow_private_messages' type='boolean'><value>1</value></field>
    <field var='muc#roomconfig_whois' type='list-single'><value>moderators</value><option><value>moderators</value></option></field>
    <field var='muc#roomconfig_maxusers' type='list-single'><value>200</value><option><value>200</value></option></field>
  </x></query>"))
        .unwrap();
        assert_eq!(
            submitted(config_submit(
                &room,
                RoomKind::PrivateGroup,
                "g",
                Some(&form)
            )),
            pairs(&[("mam", "1"), ("allow_private_messages", "0")])
        );

        // Without the server's form: only the fields XEP-0045 registers.
        assert_eq!(
            submitted(config_submit(
                &room,
                RoomKind::PrivateGroup,
                "a\u{1}b",
                None
            )),
            pairs(&[
                ("muc#roomconfig_roomname", "ab"),
                ("muc#roomconfig_persistentroom", "1"),
                ("muc#roomconfig_membersonly", "1"),
                ("muc#roomconfig_whois", "anyone"),
                ("muc#roomconfig_publicroom", "0"),
                ("muc#roomconfig_changesubject", "1"),
            ])
        );

        // Not a form.
        assert!(
            read_config_form(el("<query xmlns='http://jabber.org/protocol/muc#owner'/>")).is_none()
        );
        assert!(read_config_form(el("<query xmlns='http://jabber.org/protocol/muc#admin'><x xmlns='jabber:x:data' type='form'/></query>")).is_none());
        assert!(read_config_form(el("<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='result'/></query>")).is_none());
        assert!(read_config_form(el("<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='form'><field type='bogus' var='a'/></x></query>")).is_none());
    }

    #[test]
    fn owner_and_admin_requests_are_as_the_xep_shows() {
        let room = bare("harfleur@chat.shakespeare.lit");
        // XEP-0045 §8.2, Example 104: kicking an occupant.
        let (kind, to, query) = request(set_role(
            &room,
            "pistol",
            Role::None,
            Some("Avaunt, you cullion!"),
        ));
        assert_eq!(
            (kind, to.as_deref()),
            ("set", Some("harfleur@chat.shakespeare.lit"))
        );
        assert_eq!(
            query,
            child(
                "<iq xmlns='jabber:client' from='fluellen@chat.shakespeare.lit/pda' id='kick1' to='harfleur@chat.shakespeare.lit' type='set'>
  <query xmlns='http://jabber.org/protocol/muc#admin'>
    <item nick='pistol' role='none'>
      <reason>Avaunt, you cullion!</reason>
    </item>
  </query>
</iq>"
            )
        );
        // XEP-0045 §9.1, Example 115: banning a user.
        let room = bare("southampton@chat.shakespeare.lit");
        let (kind, _, query) = request(set_affiliation(
            &room,
            &bare("earlofcambridge@shakespeare.lit"),
            Affiliation::Outcast,
            Some("Treason"),
        ));
        assert_eq!(kind, "set");
        assert_eq!(
            query,
            child(
                "<iq xmlns='jabber:client' from='kinghenryv@shakespeare.lit/throne' id='ban1' to='southampton@chat.shakespeare.lit' type='set'>
  <query xmlns='http://jabber.org/protocol/muc#admin'>
    <item affiliation='outcast' jid='earlofcambridge@shakespeare.lit'>
      <reason>Treason</reason>
    </item>
  </query>
</iq>"
            )
        );
        // XEP-0045 §9.3, Example 126: granting membership, no reason.
        let (_, _, query) = request(set_affiliation(
            &room,
            &bare("hag66@shakespeare.lit"),
            Affiliation::Member,
            Some(" "),
        ));
        assert_eq!(
            query,
            el("<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member' jid='hag66@shakespeare.lit'/></query>")
        );
        // XEP-0045 §9.5, Example 131: asking for the member list.
        let (kind, _, query) = request(affiliation_list_request(&room, Affiliation::Member));
        assert_eq!(kind, "get");
        assert_eq!(
            query,
            el("<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member'/></query>")
        );
        // XEP-0045 §10.9, Example 200: destroying a room.
        let (kind, _, query) = request(destroy(
            &bare("heath@chat.shakespeare.lit"),
            Some("Macbeth doth come."),
        ));
        assert_eq!(kind, "set");
        assert_eq!(
            query,
            tight(
                "<query xmlns='http://jabber.org/protocol/muc#owner'>
    <destroy>
      <reason>Macbeth doth come.</reason>
    </destroy>
  </query>"
            )
        );
        // Hostile text is written safely and reads back.
        let (_, _, query) = request(set_role(
            &room,
            "a'\"<&\u{0}",
            Role::Moderator,
            Some("<x/>&\u{1}"),
        ));
        let item = query.get_child("item", NS_MUC_ADMIN).unwrap();
        assert_eq!(item.attr("nick"), Some("a'\"<&"));
        assert_eq!(
            item.get_child("reason", NS_MUC_ADMIN).unwrap().text(),
            "<x/>&"
        );
    }

    #[test]
    fn reads_affiliation_lists() {
        // XEP-0045 §9.5, Example 132: the member list.
        let answer = el("<query xmlns='http://jabber.org/protocol/muc#admin'>
    <item affiliation='member' jid='hag66@shakespeare.lit' nick='thirdwitch' role='participant'/>
    <item affiliation='member' jid='crone1@shakespeare.lit/desktop'/>
    <item affiliation='member'/>
    <item affiliation='wizard' jid='a@b'/>
    <item affiliation='member' jid='@@'/>
    <item affiliation='member' jid='c@d' nick=''/>
  </query>");
        assert_eq!(
            read_affiliation_list(answer),
            vec![
                (
                    "hag66@shakespeare.lit".into(),
                    Affiliation::Member,
                    Some("thirdwitch".into())
                ),
                ("crone1@shakespeare.lit".into(), Affiliation::Member, None),
                ("c@d".into(), Affiliation::Member, None),
            ]
        );
        assert!(read_affiliation_list(el("<query xmlns='http://jabber.org/protocol/muc#owner'><item affiliation='member' jid='a@b'/></query>")).is_empty());
        // Bounded.
        let many = format!(
            "<query xmlns='http://jabber.org/protocol/muc#admin'>{}</query>",
            "<item affiliation='member' jid='a@b'/>".repeat(MAX_ITEMS + 5)
        );
        assert_eq!(read_affiliation_list(el(&many)).len(), MAX_ITEMS);
    }

    #[test]
    fn subjects_as_the_xep_shows() {
        // XEP-0045 §8.1, Example 96: a subject change.
        let m = msg(
            "<message xmlns='jabber:client' from='coven@chat.shakespeare.lit/secondwitch'
    id='F437C672-D438-4BD3-9BFF-091050D32EE2' to='crone1@shakespeare.lit/desktop' type='groupchat'>
  <subject>Fire Burn and Cauldron Bubble!</subject>
</message>",
        );
        assert_eq!(
            read_subject(&m).as_deref(),
            Some("Fire Burn and Cauldron Bubble!")
        );
        // Example 97: a cleared subject.
        let m = msg("<message xmlns='jabber:client' from='coven@chat.shakespeare.lit/secondwitch' type='groupchat'><subject></subject></message>");
        assert_eq!(read_subject(&m).as_deref(), Some(""));
        let m = msg("<message xmlns='jabber:client' from='coven@chat.shakespeare.lit' type='groupchat'><subject/></message>");
        assert_eq!(read_subject(&m).as_deref(), Some(""));
        // Lines are kept, control characters dropped, length bounded.
        let m = msg(&format!(
            "<message xmlns='jabber:client' type='groupchat'><subject>  one\r\ntwo\u{9f}\tthree {}</subject></message>",
            "x".repeat(5000)
        ));
        let s = read_subject(&m).unwrap();
        assert!(s.starts_with("one\ntwo three x"));
        assert_eq!(s.chars().count(), MAX_SUBJECT);
        // Not subject changes: with a body, or not groupchat, or no subject.
        for bad in [
            "<message xmlns='jabber:client' type='groupchat'><subject>s</subject><body>b</body></message>",
            "<message xmlns='jabber:client' type='chat'><subject>s</subject></message>",
            "<message xmlns='jabber:client' type='groupchat'><body>b</body></message>",
        ] {
            assert_eq!(read_subject(&msg(bad)), None, "{bad}");
        }
        // Example 95: setting it.
        let m = wire(subject(
            &bare("coven@chat.shakespeare.lit"),
            "Fire Burn and Cauldron Bubble!",
        ));
        assert_eq!(m.attr("type"), Some("groupchat"));
        assert_eq!(m.attr("to"), Some("coven@chat.shakespeare.lit"));
        assert_eq!(
            m.get_child("subject", "jabber:client").unwrap().text(),
            "Fire Burn and Cauldron Bubble!"
        );
        assert!(m.get_child("body", "jabber:client").is_none());
        let cleared =
            Message::try_from(wire(subject(&bare("coven@chat.shakespeare.lit"), ""))).unwrap();
        assert_eq!(read_subject(&cleared).as_deref(), Some(""));
    }

    #[test]
    fn reads_what_rooms_say_of_themselves() {
        // XEP-0045 §6.4, Examples 10 and 12 together.
        let info = read_room_info(el("<query xmlns='http://jabber.org/protocol/disco#info'>
    <identity category='conference' name='A Dark Cave' type='text'/>
    <feature var='http://jabber.org/protocol/muc'/>
    <feature var='muc_passwordprotected'/>
    <feature var='muc_hidden'/>
    <feature var='muc_temporary'/>
    <feature var='muc_open'/>
    <feature var='muc_unmoderated'/>
    <feature var='muc_nonanonymous'/>
    <x xmlns='jabber:x:data' type='result'>
      <field var='FORM_TYPE' type='hidden'>
        <value>http://jabber.org/protocol/muc#roominfo</value>
      </field>
      <field var='muc#roominfo_description' label='Description'>
        <value>The place for all good witches!</value>
      </field>
      <field var='muc#roominfo_changesubject' label='Whether Occupants May Change the Subject' type='boolean'>
        <value>true</value>
      </field>
      <field var='muc#roominfo_contactjid' label='Contact Addresses (normally, room owner or owners)'>
        <value>crone1@shakespeare.lit</value>
      </field>
      <field var='muc#roominfo_subject' label='Current Discussion Topic'>
        <value>Spells</value>
      </field>
      <field var='muc#roominfo_occupants' label='Number of occupants'>
        <value>3</value>
      </field>
      <field var='muc#roominfo_lang' label='Language of discussion'>
        <value>en</value>
      </field>
    </x>
  </query>")).unwrap();
        assert_eq!(
            info,
            RoomInfo {
                name: Some("A Dark Cave".into()),
                description: Some("The place for all good witches!".into()),
                non_anonymous: true,
                password_protected: true,
                occupants: Some(3),
                is_room: true,
                ..RoomInfo::default()
            }
        );
        assert_eq!(info.kind(), Some(RoomKind::PublicChannel));

        // A private group as Prosody describes it.
        let info = read_room_info(el("<query xmlns='http://jabber.org/protocol/disco#info'>
    <identity category='conference' type='text'/>
    <feature var='http://jabber.org/protocol/muc'/>
    <feature var='muc_membersonly'/><feature var='muc_nonanonymous'/><feature var='muc_persistent'/>
    <feature var='muc_moderated'/><feature var='muc_public'/><feature var='urn:xmpp:mam:2'/>
    <feature var='urn:xmpp:occupant-id:0'/>
    <feature var='urn:xmpp:message-moderate:1'/><feature var='urn:xmpp:message-moderate:0'/>
    <x xmlns='jabber:x:data' type='result'>
      <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/muc#roominfo</value></field>
      <field var='muc#roomconfig_roomname'><value>The Coven</value></field>
      <field var='muc#roominfo_occupants'><value>many</value></field>
    </x>
    <x xmlns='jabber:x:data' type='result'>
      <field var='FORM_TYPE' type='hidden'><value>urn:example:other</value></field>
      <field var='muc#roominfo_description'><value>not this</value></field>
    </x>
  </query>")).unwrap();
        assert_eq!(
            info,
            RoomInfo {
                name: Some("The Coven".into()),
                members_only: true,
                non_anonymous: true,
                persistent: true,
                moderated: true,
                public: true,
                mam: true,
                occupant_id: true,
                moderation: Some(ModerationNs::V1),
                is_room: true,
                ..RoomInfo::default()
            }
        );
        assert_eq!(info.kind(), Some(RoomKind::PrivateGroup));
        let semi = RoomInfo {
            members_only: true,
            ..RoomInfo::default()
        };
        assert_eq!(semi.kind(), None);
        let v0 = read_room_info(el("<query xmlns='http://jabber.org/protocol/disco#info'><feature var='urn:xmpp:message-moderate:0'/></query>")).unwrap();
        assert_eq!(v0.moderation, Some(ModerationNs::V0));
        assert!(!v0.is_room);
        assert!(read_room_info(el(
            "<query xmlns='http://jabber.org/protocol/disco#items'/>"
        ))
        .is_none());
        // Hostile names are cleaned and bounded.
        let info = read_room_info(el(&format!(
            "<query xmlns='http://jabber.org/protocol/disco#info'><identity category='conference' name='\u{9f}{}'/></query>",
            "n".repeat(1000)
        )))
        .unwrap();
        assert_eq!(info.name.unwrap().chars().count(), MAX_NAME);
    }

    #[test]
    fn discovers_rooms_as_the_xep_shows() {
        let service = Jid::new("chat.shakespeare.lit").unwrap();
        // XEP-0045 §6.3, Example 5: asking for the rooms.
        let (kind, to, query) = request(items_request(&service));
        assert_eq!((kind, to.as_deref()), ("get", Some("chat.shakespeare.lit")));
        assert_eq!(
            query,
            el("<query xmlns='http://jabber.org/protocol/disco#items'/>")
        );
        // XEP-0045 §6.4, Example 9: asking about a room.
        let (kind, to, query) = request(info_request(
            &Jid::new("coven@chat.shakespeare.lit").unwrap(),
        ));
        assert_eq!(
            (kind, to.as_deref()),
            ("get", Some("coven@chat.shakespeare.lit"))
        );
        assert_eq!(
            query,
            el("<query xmlns='http://jabber.org/protocol/disco#info'/>")
        );
        // XEP-0045 §6.3, Example 6: the rooms.
        let items = read_items(el("<query xmlns='http://jabber.org/protocol/disco#items'>
    <item jid='heath@chat.shakespeare.lit' name='A Lonely Heath'/>
    <item jid='coven@chat.shakespeare.lit' name='A Dark Cave'/>
    <item jid='forres@chat.shakespeare.lit' name='The Palace'/>
    <item jid='inverness@chat.shakespeare.lit' name='Macbeth&apos;s Castle'/>
    <item jid='@@' name='bad'/>
    <item name='no jid'/>
    <item jid='empty@chat.shakespeare.lit' name='  '/>
  </query>"));
        assert_eq!(
            items,
            vec![
                (
                    "heath@chat.shakespeare.lit".into(),
                    Some("A Lonely Heath".into())
                ),
                (
                    "coven@chat.shakespeare.lit".into(),
                    Some("A Dark Cave".into())
                ),
                (
                    "forres@chat.shakespeare.lit".into(),
                    Some("The Palace".into())
                ),
                (
                    "inverness@chat.shakespeare.lit".into(),
                    Some("Macbeth's Castle".into())
                ),
                ("empty@chat.shakespeare.lit".into(), None),
            ]
        );
        assert!(
            read_items(el("<query xmlns='http://jabber.org/protocol/disco#info'/>")).is_empty()
        );
        let many = format!(
            "<query xmlns='http://jabber.org/protocol/disco#items'>{}</query>",
            "<item jid='a@b'/>".repeat(MAX_ITEMS + 1)
        );
        assert_eq!(read_items(el(&many)).len(), MAX_ITEMS);
    }

    #[test]
    fn self_pings_as_the_xep_says() {
        // XEP-0410 §3, Example 1: the client pings its own occupant JID.
        let (kind, to, query) = request(self_ping(&occupant(
            "coven@chat.shakespeare.lit/thirdwitch",
        )));
        assert_eq!(
            (kind, to.as_deref()),
            ("get", Some("coven@chat.shakespeare.lit/thirdwitch"))
        );
        assert_eq!(query, el("<ping xmlns='urn:xmpp:ping'/>"));
        // XEP-0410 §3.1.
        use DefinedCondition as C;
        assert_eq!(read_self_ping(None, false), SelfPing::Joined);
        assert_eq!(
            read_self_ping(Some(&C::ServiceUnavailable), false),
            SelfPing::Joined
        );
        assert_eq!(
            read_self_ping(Some(&C::FeatureNotImplemented), false),
            SelfPing::Joined
        );
        assert_eq!(
            read_self_ping(Some(&C::ItemNotFound), false),
            SelfPing::Joined
        );
        assert_eq!(
            read_self_ping(Some(&C::NotAcceptable), false),
            SelfPing::NotJoined
        );
        assert_eq!(
            read_self_ping(Some(&C::BadRequest), false),
            SelfPing::NotJoined
        );
        assert_eq!(
            read_self_ping(Some(&C::RemoteServerNotFound), false),
            SelfPing::Unknown
        );
        assert_eq!(
            read_self_ping(Some(&C::RemoteServerTimeout), false),
            SelfPing::Unknown
        );
        assert_eq!(read_self_ping(None, true), SelfPing::Unknown);
    }

    #[test]
    fn mentions_are_whole_words() {
        assert!(mentions("thirdwitch: hail!", "thirdwitch"));
        assert!(mentions("Hail, ThirdWitch.", "thirdwitch"));
        assert!(mentions("hey @thirdwitch", "ThirdWitch"));
        assert!(mentions("thirdwitch", "thirdwitch"));
        assert!(mentions("ask Zoë!", "zoë"));
        assert!(mentions("ping [bot] now", "[bot]"));
        assert!(mentions("thirdwitches and thirdwitch", "thirdwitch"));
        assert!(!mentions("thirdwitches", "thirdwitch"));
        assert!(!mentions("the_thirdwitch", "thirdwitch"));
        assert!(!mentions("thirdwitch2", "thirdwitch"));
        assert!(!mentions("anything", ""));
        assert!(!mentions("anything", "  "));
        assert!(!mentions("", "a"));
        // Lowercasing that changes lengths does not break the boundaries.
        assert!(mentions("İ a", "a"));
        assert!(!mentions("İa", "a"));
    }

    #[test]
    fn reads_room_message_ids() {
        // XEP-0421 §4, Example 2, with a XEP-0359 stanza-id from the room.
        let m = msg("<message xmlns='jabber:client' from='room@muc.example.com/nick' type='groupchat'>
  <occupant-id xmlns='urn:xmpp:occupant-id:0' id='dd72603deec90a38ba552f7c68cbcc61bca202cd'/>
  <stanza-id xmlns='urn:xmpp:sid:0' id='forged' by='other@muc.example.com'/>
  <stanza-id xmlns='urn:xmpp:sid:0' id='5f3dbc5e-e1d3-4077-a492-693f3769c7ad' by='room@muc.example.com'/>
  <body>Hello</body>
</message>");
        assert_eq!(
            message_occupant_id(&m).as_deref(),
            Some("dd72603deec90a38ba552f7c68cbcc61bca202cd")
        );
        assert_eq!(
            room_stanza_id(&m, &bare("room@muc.example.com")).as_deref(),
            Some("5f3dbc5e-e1d3-4077-a492-693f3769c7ad")
        );
        assert_eq!(room_stanza_id(&m, &bare("juliet@capulet.lit")), None);
        let m = msg("<message xmlns='jabber:client' type='groupchat'>
  <occupant-id xmlns='urn:xmpp:occupant-id:0' id=''/></message>");
        assert_eq!(message_occupant_id(&m), None);
        let m = msg("<message xmlns='jabber:client' type='groupchat'>
  <occupant-id xmlns='urn:xmpp:occupant-id:0' id='a'/><occupant-id xmlns='urn:xmpp:occupant-id:0' id='b'/></message>");
        assert_eq!(message_occupant_id(&m), None);
    }

    #[test]
    fn private_messages_as_the_xep_shows() {
        // XEP-0045 §7.5, Example 47.
        let expected = tight("<message xmlns='jabber:client' id='hgn27af1' to='coven@chat.shakespeare.lit/firstwitch' type='chat'>
  <body>I'll give thee a wind.</body>
  <x xmlns='http://jabber.org/protocol/muc#user'/>
</message>");
        let built = wire(private_message(
            &occupant("coven@chat.shakespeare.lit/firstwitch"),
            "hgn27af1",
            "I'll give thee a wind.",
        ));
        assert_eq!(built, expected);
        let built = wire(private_message(&occupant("r@s/n"), "i\u{1}d", "<&\u{0}>"));
        assert_eq!(built.attr("id"), Some("id"));
        assert_eq!(
            built.get_child("body", "jabber:client").unwrap().text(),
            "<&>"
        );
    }
}
