//! OMEMO (XEP-0384, version 0.3) for one account: this device's identity
//! and sessions (`tern_omemo::Omemo` over the store's `OmemoStore`),
//! loaded or created when the account first needs it (the session start
//! does it at once), and what must be published because of what happened
//! since (`pep`: device list and bundle), and the user's trust in devices
//! (`trust`).
//!
//! One lock guards the state machine; it is never held across a request to
//! the server (the account task, which answers requests, takes the lock to
//! decrypt).

pub(crate) mod pep;
pub(crate) mod retry;
pub(crate) mod send;
pub(crate) mod trust;

use tern_omemo::legacy_omemo::{DeviceList, Encrypted};
use tern_omemo::{BareJid, Config, Decrypted, Event, Omemo};
use tern_store::OmemoStore;
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard, Notify};

use crate::account::ctx::Ctx;

/// The account's OMEMO state.
#[derive(Debug, Default)]
pub(crate) struct OmemoState {
    engine: Mutex<Option<Omemo<OmemoStore>>>,
    pending: std::sync::Mutex<Pending>,
    /// Wakes [`pep::maintain`] when something is to be published.
    wake: Notify,
    /// What sending learned this session (`send`).
    send: std::sync::Mutex<send::SendState>,
    /// Why the server refused to publish this device's keys, by node (the
    /// device list, the bundle), as last tried.
    publish_problem: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
    /// Devices with an archived message waiting for the ones before it
    /// (`retry`), since the waiting messages were last tried.
    archive_waiting: std::sync::Mutex<std::collections::HashSet<(BareJid, u32)>>,
}

/// What is to be published.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Pending {
    /// The bundle changed (pre-keys used and refilled, signed pre-key
    /// rotated).
    pub bundle: bool,
    /// The user's device list lacks this device (another client rewrote
    /// it): this list puts it back.
    pub device_list: Option<DeviceList>,
    /// Accounts whose devices changed (a device came or left, a key was
    /// learned): the UI is told to read them again.
    pub devices_changed: Vec<BareJid>,
    /// Devices whose session with this one broke (a live message could not
    /// be decrypted): rebuilt from their bundle, then told with a
    /// key-transport message (`send::repair`).
    pub repair: Vec<tern_omemo::DeviceAddress>,
}

/// Most accounts noted in [`Pending::devices_changed`] between two runs of
/// the publisher (more are left out: the UI misses a refresh, no more).
const MAX_DEVICES_CHANGED: usize = 256;

impl OmemoState {
    /// The state machine, loaded (or, on this device's first use, created)
    /// from the store.
    pub(crate) async fn engine(
        &self,
        ctx: &Ctx,
    ) -> tern_omemo::Result<MappedMutexGuard<'_, Omemo<OmemoStore>>> {
        let mut guard = self.engine.lock().await;
        if guard.is_none() {
            let store = ctx.store.omemo(&ctx.own);
            let omemo =
                Omemo::load_or_create(store, ctx.own.clone(), Config::default(), now_secs())
                    .await?;
            tracing::info!(
                account = %ctx.account,
                device = omemo.own_device_id(),
                "OMEMO device ready"
            );
            *guard = Some(omemo);
        }
        MutexGuard::try_map(guard, Option::as_mut).map_err(|_| tern_omemo::Error::NoIdentity)
    }

    /// Decrypts an `<encrypted/>` element `sender` sent (the account's own
    /// bare JID for the user's other devices). The ratchet state moves on
    /// in the OMEMO store at once: the next message of the same chain
    /// needs it, and decrypting the same message again is impossible by
    /// design (see `inbound::decrypt`). `in_order`: the message comes in
    /// its chain's order (live, a carbon, offline, or tried again oldest
    /// first), so it may skip as far as the protocol allows; otherwise (an
    /// archive read newest first) it skips at most [`ARCHIVE_MAX_SKIP`]
    /// messages, and one further ahead waits to be tried again in order
    /// (`retry`) rather than filling the session with skipped keys that
    /// every later message would read and write.
    pub(crate) async fn decrypt(
        &self,
        ctx: &Ctx,
        sender: &BareJid,
        element: &Encrypted,
        in_order: bool,
    ) -> tern_omemo::Result<Decrypted> {
        let max_skip = if in_order {
            tern_omemo::session::MAX_SKIP
        } else {
            ARCHIVE_MAX_SKIP
        };
        let decrypted = {
            let mut engine = self.engine(ctx).await?;
            engine.decrypt_skipping(sender, element, max_skip).await?
        };
        self.note(&decrypted.events);
        Ok(decrypted)
    }

    /// Whether an archived message of device `sid` of `sender` waits for
    /// the ones before it (see `inbound::decrypt`).
    pub(crate) fn archive_waits(&self, sender: &BareJid, sid: u32) -> bool {
        self.archive_waiting
            .lock()
            .is_ok_and(|w| w.contains(&(sender.clone(), sid)))
    }

    /// Notes that an archived message of device `sid` of `sender` waits.
    pub(crate) fn note_archive_waiting(&self, sender: &BareJid, sid: u32) {
        if let Ok(mut w) = self.archive_waiting.lock() {
            if w.len() < MAX_DEVICES_CHANGED {
                w.insert((sender.clone(), sid));
            }
        }
    }

    /// The waiting messages are tried again now (`retry`).
    pub(crate) fn clear_archive_waiting(&self) {
        if let Ok(mut w) = self.archive_waiting.lock() {
            w.clear();
        }
    }

    /// What sending learned this session.
    pub(crate) fn send_state(&self) -> std::sync::MutexGuard<'_, send::SendState> {
        self.send
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes in a device list from PEP (a contact's, or the user's own).
    pub(crate) async fn receive_device_list(
        &self,
        ctx: &Ctx,
        jid: &BareJid,
        list: &DeviceList,
    ) -> tern_omemo::Result<()> {
        let events = {
            let mut engine = self.engine(ctx).await?;
            engine.receive_device_list(jid, list).await?
        };
        self.send_state().list_changed(jid);
        self.note(&events);
        Ok(())
    }

    /// Records what `events` ask to publish, and wakes the publisher.
    pub(crate) fn note(&self, events: &[Event]) {
        let mut wake = false;
        if let Ok(mut p) = self.pending.lock() {
            for e in events {
                match e {
                    Event::BundleChanged => {
                        p.bundle = true;
                        wake = true;
                    }
                    Event::PublishOwnDeviceList(list) => {
                        p.device_list = Some(list.clone());
                        wake = true;
                    }
                    Event::NewDevice(d)
                    | Event::DeviceRemoved(d)
                    | Event::SessionEstablished { device: d, .. } => {
                        if !p.devices_changed.contains(&d.jid)
                            && p.devices_changed.len() < MAX_DEVICES_CHANGED
                        {
                            p.devices_changed.push(d.jid.clone());
                        }
                        wake = true;
                    }
                }
            }
        }
        if wake {
            self.wake.notify_one();
        }
    }

    /// A live message from `device` could not be decrypted because its
    /// session broke: the session is rebuilt, once per device and session
    /// of the account (a sender whose messages keep failing is not asked
    /// for its bundle with each one).
    pub(crate) fn note_broken(&self, device: tern_omemo::DeviceAddress) {
        if !self.send_state().note_repair(&device) {
            return;
        }
        if let Ok(mut p) = self.pending.lock() {
            if !p.repair.contains(&device) && p.repair.len() < MAX_DEVICES_CHANGED {
                p.repair.push(device);
            }
        }
        self.wake.notify_one();
    }

    /// Why this device's keys are not published (the server's refusal),
    /// if the server refused them.
    pub(crate) fn publish_problem(&self) -> Option<String> {
        self.publish_problem
            .lock()
            .ok()
            .and_then(|p| p.values().next().cloned())
    }

    /// Notes what publishing one of this device's nodes did; says whether
    /// that changed what the user is told.
    pub(crate) fn published(&self, node: &str, outcome: Result<(), String>) -> bool {
        let Ok(mut p) = self.publish_problem.lock() else {
            return false;
        };
        let before = p.values().next().cloned();
        match outcome {
            Ok(()) => p.remove(node),
            Err(why) => p.insert(node.to_string(), why),
        };
        before != p.values().next().cloned()
    }

    /// What is to be published, taken (it is then the caller's to publish).
    pub(crate) fn take_pending(&self) -> Pending {
        self.pending
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default()
    }
}

/// How many messages of a chain an archive message may skip (see
/// [`OmemoState::decrypt`]): an archive page holds its messages in order,
/// so a gap this large means the ones between are on a page not read yet.
pub(crate) const ARCHIVE_MAX_SKIP: u32 = 32;

/// What a message that may decrypt later shows meanwhile.
pub(crate) const PENDING_REASON: &str =
    "Tern decrypts this message once the messages sent before it are in.";

/// Why a message could not be decrypted, in words the UI shows in place of
/// its text.
pub(crate) fn reason(e: &tern_omemo::Error) -> String {
    use tern_omemo::Error as E;
    match e {
        E::NotForThisDevice => {
            "This message was not encrypted for this device: it was sent before \
             this device existed, or the sender's app does not know this device yet."
                .into()
        }
        E::SentByThisDevice => "Sent from this device; its text was not kept.".into(),
        E::NoSession { .. } => "The sender's encryption session with this device is missing \
             (it broke or was reset). Ask them to send it again."
            .into(),
        E::UnknownPreKey(_) | E::UnknownSignedPreKey(_) => "This message was encrypted with a key \
             this device no longer has. Ask the sender to send it again."
            .into(),
        E::DuplicateMessage { .. } => {
            "This message was already decrypted once and cannot be decrypted again.".into()
        }
        E::IdentityMismatch { .. } => "The sender's device presented a different identity key \
             than before; the message was not decrypted."
            .into(),
        E::Store(_) => "Tern could not read its encryption keys.".into(),
        E::TooLarge { .. } => "The encrypted message is too large.".into(),
        _ => "The message could not be decrypted: it is damaged, or the sender's encryption \
             session with this device broke. Ask them to send it again."
            .into(),
    }
}

/// Seconds since the epoch, now.
fn now_secs() -> u64 {
    u64::try_from(crate::account::ctx::now_ms() / 1000).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_omemo::legacy_omemo::Device;

    #[test]
    fn events_become_what_to_publish() {
        let state = OmemoState::default();
        state.note(&[]);
        assert_eq!(state.take_pending(), Pending::default());
        let list = DeviceList {
            devices: vec![Device { id: 7 }],
        };
        state.note(&[
            Event::BundleChanged,
            Event::PublishOwnDeviceList(list.clone()),
        ]);
        assert_eq!(
            state.take_pending(),
            Pending {
                bundle: true,
                device_list: Some(list),
                devices_changed: Vec::new(),
                repair: Vec::new(),
            }
        );
        let bob: BareJid = "bob@example.org".parse().unwrap();
        let device = |id| tern_omemo::DeviceAddress::new(bob.clone(), id);
        state.note(&[
            Event::NewDevice(device(1)),
            Event::DeviceRemoved(device(2)),
            Event::SessionEstablished {
                device: device(3),
                trust: tern_omemo::Trust::Trusted,
            },
        ]);
        assert_eq!(state.take_pending().devices_changed, vec![bob.clone()]);
        assert_eq!(state.take_pending(), Pending::default(), "taken once");
        // A broken session is rebuilt once per session of the account.
        state.note_broken(device(3));
        state.note_broken(device(3));
        assert_eq!(state.take_pending().repair, vec![device(3)]);
        state.note_broken(device(3));
        assert_eq!(state.take_pending(), Pending::default(), "not twice");
        state.send_state().reset();
        state.note_broken(device(3));
        assert_eq!(
            state.take_pending().repair,
            vec![device(3)],
            "a new session"
        );
    }

    #[test]
    fn every_failure_has_words() {
        for e in [
            tern_omemo::Error::NotForThisDevice,
            tern_omemo::Error::BadMac,
            tern_omemo::Error::UnknownPreKey(3),
            tern_omemo::Error::NoSession {
                jid: "romeo@montague.lit".into(),
                device_id: 1,
            },
        ] {
            let r = reason(&e);
            assert!(r.ends_with('.') && r.len() > 20, "{r}");
            assert!(!r.contains("  "), "{r}");
        }
    }

    #[tokio::test]
    async fn the_device_is_created_once_and_kept() {
        let (_d, ctx) = crate::account::ctx::tests::ctx_with(&[]).await;
        let id = ctx.omemo.engine(&ctx).await.unwrap().own_device_id();
        let again = OmemoState::default();
        assert_eq!(
            again.engine(&ctx).await.unwrap().own_device_id(),
            id,
            "loaded from the store"
        );
    }
}
