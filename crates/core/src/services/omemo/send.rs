//! Sending encrypted (OMEMO 0.3) messages: one-to-one, and in private
//! groups, where a message is encrypted for every member's devices
//! (`services::muc::members`); public channels are never encrypted.
//!
//! The send queue keeps the plain intent; when a message's turn comes,
//! `outbound::intent::prepare` asks here whether keys must be fetched first
//! ([`needs_keys`]), and then seals the stanza ([`seal`]): the body is
//! encrypted for every usable device of the contact and of the user's own
//! other devices, and replaced by a fallback text. A message that cannot
//! be encrypted is never sent plain: it waits in the queue with a reason
//! ([`why_not`]) until the contact's devices or the user's trust decisions
//! change, or the user chooses to send it unencrypted.
//!
//! Fetching keys ([`start`]) runs beside the account task, which answers
//! the requests: the contact's device list when none is known, and the
//! bundle of every device without a session. A device whose bundle cannot
//! be had is remembered as broken for the session, so that every message
//! does not ask again; a fetch that failed for the whole contact is the
//! reason a message then waits.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use tern_omemo::legacy_omemo::Bundle;
use tern_omemo::{BareJid, DeviceAddress, Trust};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::message::Message;

use crate::account::ctx::Ctx;
use crate::account::AccountHandle;
use crate::error::Error;
use crate::outbound::intent::{Encryption, Intent};
use crate::xep::omemo as codec;

/// What sending learned about contacts' keys during this session.
#[derive(Debug, Default)]
pub(crate) struct SendState {
    /// Devices whose bundle could not be fetched, and when: left out for
    /// [`RETRY_AFTER`] (or until their device list changes or a new
    /// session starts), so that every message does not ask again.
    broken: HashMap<DeviceAddress, Instant>,
    /// Contacts whose device list was asked for this session, with what
    /// went wrong when it could not be had.
    checked: HashMap<BareJid, Option<String>>,
    /// Conversations whose mode is known to be decided (no need to store
    /// it again).
    decided: HashSet<String>,
    /// Devices whose broken session was rebuilt this session.
    repaired: HashSet<DeviceAddress>,
}

impl SendState {
    /// A new session: everything may have changed.
    pub(crate) fn reset(&mut self) {
        self.broken.clear();
        self.checked.clear();
        self.repaired.clear();
    }

    /// Whether `device`'s session is to be rebuilt (not done yet this
    /// session); notes that it is.
    pub(crate) fn note_repair(&mut self, device: &DeviceAddress) -> bool {
        self.repaired.insert(device.clone())
    }

    /// What went wrong asking for `jid`'s device list this session.
    pub(crate) fn problem(&self, jid: &BareJid) -> Option<String> {
        self.checked.get(jid).cloned().flatten()
    }

    /// A contact's device list changed: try their devices again.
    pub(crate) fn list_changed(&mut self, jid: &BareJid) {
        self.broken.retain(|d, _| &d.jid != jid);
        self.checked.remove(jid);
    }

    /// The devices whose bundle is not to be asked for now.
    fn broken_now(&mut self) -> HashSet<DeviceAddress> {
        self.broken.retain(|_, at| at.elapsed() < RETRY_AFTER);
        self.broken.keys().cloned().collect()
    }
}

/// How long a device whose bundle could not be had is left out, and when
/// messages waiting for keys are tried again by themselves.
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// Whom a conversation's messages are encrypted for.
#[derive(Debug)]
enum Target {
    /// The contact of a one-to-one conversation.
    Contact(BareJid),
    /// A private group and its members (without the user); `None` while
    /// they are not known.
    Group(BareJid, Option<Vec<BareJid>>),
    /// Nothing: a public channel (never encrypted), a room that does not
    /// show real JIDs, a private message through a room.
    Nobody,
}

impl Target {
    /// The recipients, when known.
    fn recipients(&self) -> Option<Vec<BareJid>> {
        match self {
            Target::Contact(jid) => Some(vec![jid.clone()]),
            Target::Group(_, members) => members.clone(),
            Target::Nobody => None,
        }
    }
}

fn target(ctx: &Ctx, peer: &str) -> Target {
    let Ok(jid) = BareJid::new(peer) else {
        return Target::Nobody;
    };
    let private = ctx.rooms.with(|rooms| {
        rooms
            .get(&jid)
            .map(|r| r.kind() == crate::events::RoomKind::PrivateGroup)
    });
    match private {
        None => Target::Contact(jid),
        Some(true) => {
            let members = crate::services::muc::members::of(ctx, &jid);
            Target::Group(jid, members)
        }
        Some(false) => Target::Nobody,
    }
}

/// Whether `peer`'s messages can be encrypted at all: a one-to-one
/// conversation or a private group.
pub(crate) fn encryptable(ctx: &Ctx, peer: &str) -> bool {
    !matches!(target(ctx, peer), Target::Nobody)
}

/// Whether a message to `peer` must wait for keys to be fetched first:
/// the contact's device list was not asked for this session (pushes come
/// only from contacts with a presence subscription, and may have been
/// missed while offline), or a usable device (theirs or the user's) has no
/// session and was not found broken lately.
/// In a private group: its members are not known yet, or one of them was
/// not asked for.
pub(crate) async fn needs_keys(ctx: &Ctx, peer: &str) -> bool {
    let recipients = match target(ctx, peer) {
        Target::Nobody => return false,
        Target::Group(_, None) => return true,
        t => t.recipients().unwrap_or_default(),
    };
    let (checked, broken) = {
        let mut s = ctx.omemo.send_state();
        (
            recipients.iter().all(|j| s.checked.contains_key(j)),
            s.broken_now(),
        )
    };
    if !checked {
        return true;
    }
    let Ok(engine) = ctx.omemo.engine(ctx).await else {
        return false;
    };
    match engine.missing_sessions(&recipients).await {
        Ok(missing) => missing.iter().any(|d| !broken.contains(d)),
        Err(_) => false,
    }
}

/// Whether the contact has any device in their list; in a private group,
/// whether it has members and every one of them has (a group is encrypted
/// by itself once everyone in it can read encrypted messages; until then
/// only by the user's choice, as in Dino).
pub(crate) async fn has_devices(ctx: &Ctx, peer: &str) -> bool {
    let Some(recipients) = target(ctx, peer).recipients() else {
        return false;
    };
    if recipients.is_empty() {
        return false;
    }
    let Ok(engine) = ctx.omemo.engine(ctx).await else {
        return false;
    };
    for jid in &recipients {
        let has = engine
            .devices(jid)
            .await
            .is_ok_and(|d| d.iter().any(|d| d.active));
        if !has {
            return false;
        }
    }
    true
}

/// What fetching a contact's device list found.
#[derive(Debug, PartialEq, Eq)]
enum ListOutcome {
    /// They have devices.
    Devices,
    /// They have none (no list, an empty one, or no PEP at all): they do
    /// not use OMEMO.
    None,
    /// It could not be had (why, in words).
    Failed(String),
}

/// Fetches the keys a message to the contact `peer` needs, then gives the
/// message back to the queue: with its encryption decided when it was
/// `Auto` (encrypted when the contact has devices, plain when they have
/// none; still `Auto` when that could not be learned, and the message then
/// waits with the reason).
pub(crate) fn start(handle: &AccountHandle, message_id: i64, peer: String, intent: Intent) {
    let h = handle.clone();
    tokio::spawn(async move {
        let ctx = h.ctx();
        let (outcome, incomplete) = fetch_keys(&h, &peer).await;
        tracing::debug!(message_id, %peer, ?outcome, incomplete, "keys fetched");
        if incomplete || matches!(outcome, ListOutcome::Failed(_)) {
            // Some keys could not be had: if the message has to wait for
            // them, it is tried again later by itself.
            let (h, peer) = (h.clone(), peer.clone());
            tokio::spawn(async move {
                tokio::time::sleep(RETRY_AFTER).await;
                h.release_held(Some(peer)).await;
            });
        }
        let mut intent = intent;
        if intent.encryption() == Encryption::Auto {
            let decided = match outcome {
                ListOutcome::Devices => Some(Encryption::Omemo),
                ListOutcome::None => Some(Encryption::Plain),
                ListOutcome::Failed(_) => None,
            };
            if let Some(e) = decided {
                if e == Encryption::Omemo {
                    decide(ctx, &peer).await;
                }
                intent = intent.with_encryption(e);
                if let Err(e) = ctx
                    .store
                    .set_outbox_intent(message_id, &intent.to_json())
                    .await
                {
                    tracing::warn!("send queue update failed: {e}");
                }
            }
        }
        h.unpark(message_id, Some(intent)).await;
    });
}

/// Marks a conversation encrypted from now on, unless the user decided
/// otherwise before (the first encrypted message either way does it).
pub(crate) async fn decide(ctx: &Ctx, peer: &str) {
    if ctx.omemo.send_state().decided.contains(peer) {
        return;
    }
    match ctx
        .store
        .set_encryption_mode(&ctx.account, peer, Some(MODE_OMEMO), true)
        .await
    {
        Ok(changed) => {
            ctx.omemo.send_state().decided.insert(peer.to_string());
            if changed {
                crate::inbound::emit_conversation(ctx, peer).await;
            }
        }
        Err(e) => tracing::warn!("encryption mode not stored: {e}"),
    }
}

/// The stored mode of an encrypted conversation.
pub(crate) const MODE_OMEMO: &str = "omemo";
/// The stored mode of a conversation the user set to plain.
pub(crate) const MODE_PLAIN: &str = "plain";

/// How a new message to `peer` is to be encrypted: as the conversation was
/// decided, else encrypted when the contact is known to have devices, else
/// decided when its turn comes.
pub(crate) async fn encryption_for(ctx: &Ctx, peer: &str) -> Encryption {
    if !encryptable(ctx, peer) {
        return Encryption::Plain;
    }
    match ctx.store.encryption_mode(&ctx.account, peer).await {
        Ok(Some(m)) if m == MODE_PLAIN => Encryption::Plain,
        Ok(Some(_)) => Encryption::Omemo,
        Ok(None) if has_devices(ctx, peer).await => {
            decide(ctx, peer).await;
            Encryption::Omemo
        }
        Ok(None) => Encryption::Auto,
        // Unknown: never plain by accident.
        Err(_) => Encryption::Omemo,
    }
}

/// Fetches what a message to `peer` needs: their device list when none
/// is known, the bundles of devices without a session. Also says whether
/// some bundle could not be had.
async fn fetch_keys(h: &AccountHandle, peer: &str) -> (ListOutcome, bool) {
    let ctx = h.ctx();
    let mut t = target(ctx, peer);
    if let Target::Group(room, None) = &t {
        if let Err(why) = crate::services::muc::members::load(h, room).await {
            return (ListOutcome::Failed(why), false);
        }
        t = target(ctx, peer);
    }
    let Some(recipients) = t.recipients() else {
        return (ListOutcome::None, false);
    };
    let unchecked: Vec<BareJid> = {
        let s = ctx.omemo.send_state();
        recipients
            .iter()
            .filter(|j| !s.checked.contains_key(*j))
            .cloned()
            .collect()
    };
    // A group's members' lists are asked for eight at a time (a group of
    // thousands does not send thousands of requests at once).
    let mut lists = Vec::with_capacity(unchecked.len());
    for chunk in unchecked.chunks(8) {
        lists.extend(futures::future::join_all(chunk.iter().map(|j| fetch_list(h, j))).await);
    }
    let mut outcome = ListOutcome::None;
    for (jid, o) in unchecked.into_iter().zip(lists) {
        let problem = match &o {
            ListOutcome::Failed(why) => Some(why.clone()),
            _ => None,
        };
        ctx.omemo.send_state().checked.insert(jid, problem);
        outcome = match (outcome, o) {
            (ListOutcome::Failed(w), _) | (_, ListOutcome::Failed(w)) => ListOutcome::Failed(w),
            (ListOutcome::Devices, _) | (_, ListOutcome::Devices) => ListOutcome::Devices,
            _ => ListOutcome::None,
        };
    }
    let missing = match ctx.omemo.engine(ctx).await {
        Ok(engine) => engine
            .missing_sessions(&recipients)
            .await
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let broken = ctx.omemo.send_state().broken_now();
    let mut incomplete = false;
    for device in missing.into_iter().filter(|d| !broken.contains(d)) {
        if let Err(e) = build_session(h, &device).await {
            tracing::info!(jid = %device.jid, device = device.device_id, "no session built: {e}");
            ctx.omemo.send_state().broken.insert(device, Instant::now());
            incomplete = true;
        }
    }
    // Devices known from before (or from their messages) count too; in a
    // group, only everyone's (see [`has_devices`]).
    if has_devices(ctx, peer).await {
        outcome = ListOutcome::Devices;
    } else if matches!(t, Target::Group(..)) && outcome == ListOutcome::Devices {
        outcome = ListOutcome::None;
    }
    (outcome, incomplete)
}

async fn fetch_list(h: &AccountHandle, jid: &BareJid) -> ListOutcome {
    let ctx = h.ctx();
    let list = match h.request(codec::devicelist_request(Some(jid))).await {
        Ok(Iq::Result {
            payload: Some(p), ..
        }) => codec::read_devicelist_answer(p),
        Ok(_) => None,
        Err(Error::Stanza { condition, .. })
            if matches!(
                condition.as_str(),
                "item-not-found"
                    | "service-unavailable"
                    | "feature-not-implemented"
                    | "forbidden"
                    | "not-authorized"
                    | "not-allowed"
            ) =>
        {
            None
        }
        Err(e) => {
            return ListOutcome::Failed(format!(
                "Tern could not ask {jid}'s server for their encryption keys ({e})."
            ))
        }
    };
    let Some(list) = list.filter(|l| !l.devices.is_empty()) else {
        return ListOutcome::None;
    };
    if let Err(e) = ctx.omemo.receive_device_list(ctx, jid, &list).await {
        return ListOutcome::Failed(format!("{jid}'s device list was refused ({e})."));
    }
    ListOutcome::Devices
}

/// Builds a session with `device` from its published bundle.
async fn build_session(h: &AccountHandle, device: &DeviceAddress) -> Result<(), Error> {
    let bundle = fetch_bundle(h, device).await?;
    let ctx = h.ctx();
    let events = {
        let mut engine = ctx.omemo.engine(ctx).await.map_err(omemo_error)?;
        engine
            .receive_bundle(&device.jid, device.device_id, &bundle)
            .await
            .map_err(omemo_error)?
    };
    ctx.omemo.note(&events);
    Ok(())
}

/// A refusal of the OMEMO state machine, for the log and the reasons.
fn omemo_error(e: tern_omemo::Error) -> Error {
    Error::EncryptionKeys {
        code: "refused".into(),
        message: e.to_string(),
    }
}

async fn fetch_bundle(h: &AccountHandle, device: &DeviceAddress) -> Result<Bundle, Error> {
    let iq = codec::bundle_request(&device.jid, device.device_id);
    let answer = match h.request(iq).await? {
        Iq::Result {
            payload: Some(p), ..
        } => Some(p),
        _ => None,
    };
    answer
        .and_then(codec::read_bundle_answer)
        .ok_or_else(|| Error::EncryptionKeys {
            code: "no_bundle".into(),
            message: format!(
                "{}'s device {} published no usable encryption keys.",
                device.jid, device.device_id
            ),
        })
}

/// Encrypts the body of `stanza` for the contact `peer` and the user's
/// other devices. `Err` holds why it cannot be, in words.
pub(crate) async fn seal(ctx: &Ctx, peer: &str, mut stanza: Message) -> Result<Message, String> {
    let t = target(ctx, peer);
    let recipients = match &t {
        Target::Nobody => {
            return Err(
                "Only one-to-one conversations and private groups can be encrypted.".into(),
            )
        }
        Target::Group(_, None) => {
            return Err("Tern does not know this group's members yet, so it cannot encrypt                  for them. It tries again when it rejoins the group."
                .into())
        }
        t => t.recipients().unwrap_or_default(),
    };
    // Other apps refuse what a device whose keys are not published
    // encrypts (slixmpp-omemo does): it waits until they are.
    if let Some(e) = ctx.omemo.publish_problem() {
        return Err(format!(
            "Your server refused to publish this device's encryption keys ({e}), so other \
             apps cannot read what it encrypts. Tern tries again when you reconnect; or send \
             this message unencrypted."
        ));
    }
    let body = stanza.bodies.values().next().cloned().unwrap_or_default();
    let sealed = {
        let mut engine = ctx
            .omemo
            .engine(ctx)
            .await
            .map_err(|e| format!("Tern could not read its encryption keys ({e})."))?;
        engine.encrypt(&recipients, body.as_bytes()).await
    };
    match sealed {
        Ok(out) => {
            codec::seal(&mut stanza, out.element);
            decide(ctx, peer).await;
            Ok(stanza)
        }
        Err(tern_omemo::Error::NoUsableDevices(jid)) => {
            let why = match BareJid::new(&jid) {
                Ok(jid) => why_not(ctx, &jid).await,
                Err(_) => format!("Tern cannot encrypt for {jid}."),
            };
            Err(match t {
                Target::Group(..) => format!("In this group: {why}"),
                _ => why,
            })
        }
        Err(e) => {
            tracing::warn!(peer, "encryption failed: {e}");
            Err(format!(
                "Tern could not encrypt this message ({e}). It will try again; \
                 or send it unencrypted."
            ))
        }
    }
}

/// Why nothing can be encrypted for `jid`, and what the user can do.
pub(crate) async fn why_not(ctx: &Ctx, jid: &BareJid) -> String {
    let problem = ctx.omemo.send_state().checked.get(jid).cloned().flatten();
    let devices = match ctx.omemo.engine(ctx).await {
        Ok(engine) => engine.devices(jid).await.unwrap_or_default(),
        Err(e) => return format!("Tern could not read its encryption keys ({e})."),
    };
    let active: Vec<_> = devices.iter().filter(|d| d.active).collect();
    if active.is_empty() {
        if let Some(problem) = problem {
            return format!(
                "{problem} Tern tries again when you reconnect; or send this message unencrypted."
            );
        }
        return format!(
            "{jid} has not published any encryption keys: their app may not support \
             OMEMO encryption. Send this message unencrypted, or wait until they can \
             receive encrypted messages."
        );
    }
    if active
        .iter()
        .any(|d| d.trust == Trust::Undecided && d.fingerprint.is_some())
    {
        return format!(
            "{jid} has a device you have not decided to trust yet. Verify or trust it \
             in their encryption keys to send this message."
        );
    }
    if active.iter().all(|d| d.trust == Trust::Distrusted) {
        return format!(
            "You distrusted every device of {jid}. Trust one of them in their encryption \
             keys to send this message, or send it unencrypted."
        );
    }
    format!(
        "Tern could not get the encryption keys of {jid}'s devices (their server did not \
         give them). Tern tries again when their keys change or you reconnect; or send \
         this message unencrypted."
    )
}

/// A key-transport message for `jid` (no text): answers a pre-key message
/// so that the sender's device stops sending them, and moves the sessions
/// on. `None` when nothing could be encrypted.
pub(crate) async fn key_transport(ctx: &Ctx, jid: &BareJid) -> Option<Message> {
    let out = {
        let mut engine = ctx.omemo.engine(ctx).await.ok()?;
        engine
            .encrypt_key_transport(std::slice::from_ref(jid))
            .await
            .ok()?
    };
    Some(codec::key_transport_message(jid, out.element))
}

/// Rebuilds the session with `device` after one of its live messages could
/// not be decrypted (the session broke: this device lost it, or the two
/// sides no longer agree): the broken session is dropped, a new one built
/// from the device's bundle, and a key-transport message (a pre-key
/// message for that device) tells the sender to start over with it, as
/// Conversations does. The message that failed stays undecryptable; what
/// the sender sends next decrypts.
pub(crate) async fn repair(h: &AccountHandle, device: &DeviceAddress) {
    let ctx = h.ctx();
    if let Ok(mut engine) = ctx.omemo.engine(ctx).await {
        if let Err(e) = engine.reset_session(device).await {
            tracing::warn!(jid = %device.jid, device = device.device_id, "broken session not dropped: {e}");
            return;
        }
    }
    if let Err(e) = build_session(h, device).await {
        tracing::info!(jid = %device.jid, device = device.device_id, "broken session not rebuilt: {e}");
        return;
    }
    match key_transport(ctx, &device.jid).await {
        Some(m) => {
            let _ = h.send(tokio_xmpp::Stanza::Message(m)).await;
            tracing::info!(jid = %device.jid, device = device.device_id, "broken session rebuilt");
        }
        None => tracing::info!(jid = %device.jid, "no key-transport message for a rebuilt session"),
    }
}

/// A conversation's encryption as its lock shows it.
pub(crate) async fn view(ctx: &Ctx, peer: &str) -> crate::api::encryption::EncryptionView {
    let mode = match ctx.store.encryption_mode(&ctx.account, peer).await {
        Ok(Some(m)) => m,
        _ => "auto".to_string(),
    };
    let t = target(ctx, peer);
    let mut v = crate::api::encryption::EncryptionView {
        account: ctx.account.clone(),
        peer: peer.to_string(),
        mode: mode.clone(),
        group: matches!(t, Target::Group(..)),
        members: None,
        next_encrypted: Some(false),
        contact_devices: 0,
        own_devices: 0,
        undecided: 0,
        problem: None,
    };
    let recipients = match &t {
        Target::Nobody => return v,
        Target::Group(_, None) => {
            v.next_encrypted = match mode.as_str() {
                MODE_PLAIN => Some(false),
                MODE_OMEMO => Some(true),
                _ => None,
            };
            return v;
        }
        t => t.recipients().unwrap_or_default(),
    };
    if v.group {
        v.members = Some(recipients.len() as u32);
    }
    // Encrypted for: trusted devices, and devices whose key is not known
    // yet (it is fetched when a message goes, and trusted blindly unless
    // the user verified another device of that account).
    let undecided = |d: &tern_omemo::DeviceInfo| {
        d.active && d.trust == Trust::Undecided && d.fingerprint.is_some()
    };
    let usable =
        |d: &tern_omemo::DeviceInfo| d.active && d.trust != Trust::Distrusted && !undecided(d);
    let engine = match ctx.omemo.engine(ctx).await {
        Ok(engine) => engine,
        Err(e) => {
            v.problem = Some(format!("Tern could not read its encryption keys ({e})."));
            return v;
        }
    };
    // Whose devices give no key at all (a message then waits), and whether
    // anyone has devices.
    let mut unreachable = None;
    let mut anyone = false;
    for jid in &recipients {
        let theirs = engine.devices(jid).await.unwrap_or_default();
        anyone |= theirs.iter().any(|d| d.active);
        let n = theirs.iter().filter(|d| usable(d)).count() as u32;
        if n == 0 && unreachable.is_none() {
            unreachable = Some(jid.clone());
        }
        v.contact_devices += n;
        v.undecided += theirs.iter().filter(|d| undecided(d)).count() as u32;
    }
    let own = engine.devices(&ctx.own).await.unwrap_or_default();
    let own_id = engine.own_device_id();
    drop(engine);
    v.own_devices = own
        .iter()
        .filter(|d| usable(d) && d.address.device_id != own_id)
        .count() as u32;
    let encrypting = match mode.as_str() {
        MODE_PLAIN => false,
        MODE_OMEMO => true,
        _ if v.group => has_devices(ctx, peer).await,
        _ if anyone => true,
        _ => {
            v.next_encrypted = None;
            return v;
        }
    };
    v.next_encrypted = Some(encrypting);
    if let (true, Some(jid)) = (encrypting, unreachable) {
        let why = why_not(ctx, &jid).await;
        v.problem = Some(if v.group {
            format!("In this group: {why}")
        } else {
            why
        });
    }
    v
}

/// The user turns a conversation's encryption on or off (for the messages
/// sent from now on; held messages stay held until the user decides on
/// each). Turning it on tries held messages again.
pub(crate) async fn set_mode(ctx: &Ctx, peer: &str, encrypted: bool) -> crate::Result<()> {
    if !encryptable(ctx, peer) {
        return Err(crate::services::chat::bad(
            "only one-to-one conversations and private groups can be encrypted",
        ));
    }
    let mode = if encrypted { MODE_OMEMO } else { MODE_PLAIN };
    ctx.store
        .set_encryption_mode(&ctx.account, peer, Some(mode), false)
        .await?;
    ctx.omemo.send_state().decided.insert(peer.to_string());
    crate::inbound::emit_conversation(ctx, peer).await;
    Ok(())
}

/// A private group's members changed: their keys are fetched (so that
/// the lock counts them), the group's waiting messages tried again, and
/// the lock told.
pub(crate) async fn members_changed(h: &AccountHandle, room: &str) {
    let ctx = h.ctx();
    if !matches!(target(ctx, room), Target::Group(_, Some(_))) {
        return;
    }
    let (_, incomplete) = fetch_keys(h, room).await;
    tracing::debug!(room, incomplete, "group members' keys fetched");
    h.release_held(Some(room.to_string())).await;
    ctx.hub.emit(crate::events::ClientEvent::EncryptionDevices {
        account: ctx.account.clone(),
        jid: room.to_string(),
    });
}

/// The user chose to send a held message unencrypted.
pub(crate) async fn send_unencrypted(
    ctx: &Ctx,
    handle: Option<&AccountHandle>,
    message_id: i64,
) -> crate::Result<tern_store::MessageRow> {
    let m = ctx
        .store
        .message(message_id)
        .await?
        .filter(|m| m.account == ctx.account)
        .ok_or_else(|| crate::services::chat::bad("no such message"))?;
    let intent = ctx
        .store
        .outbox_intent(message_id)
        .await?
        .as_deref()
        .and_then(Intent::from_json)
        .filter(|i| i.encryption() != Encryption::Plain)
        .ok_or_else(|| {
            crate::services::chat::bad("only a message waiting to be encrypted can be sent plain")
        })?;
    let plain = intent.with_encryption(Encryption::Plain);
    ctx.store
        .set_outbox_intent(message_id, &plain.to_json())
        .await?;
    let row = ctx.store.set_held(message_id, None).await?.unwrap_or(m);
    ctx.hub.emit(crate::events::ClientEvent::Message {
        message: row.clone().into(),
    });
    if let Some(h) = handle {
        h.unpark(message_id, Some(plain)).await;
    }
    Ok(row)
}
