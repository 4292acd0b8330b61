//! [`Omemo`]: the sans-I/O OMEMO 0.3 state machine of one account.
//!
//! The caller pushes in what arrives (device lists, bundles, `<encrypted/>` elements) and gets
//! back elements to send and [`Event`]s telling it what to publish or fetch. Nothing here does
//! I/O except through the [`Store`].

use rand::rngs::OsRng;
use rand::RngCore;
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::legacy_omemo::{
    self, Bundle, Device, DeviceList, Encrypted, Header, IdentityKey, Key, Payload, PreKeyPublic,
    Prekeys, SignedPreKeyPublic, SignedPreKeySignature, IV,
};

use crate::error::{Error, Result};
use crate::keys::{KeyPair, PublicKey};
use crate::message::{CiphertextMessage, PreKeySignalMessage, SignalMessage, MAX_MESSAGE_LEN};
use crate::payload;
use crate::session::{PreKeyBundle, ResponderKeys, SessionRecord};
use crate::store::{
    DeviceAddress, DeviceRecord, OwnIdentity, PreKeyRecord, SignedPreKeyRecord, Store,
};
use crate::trust::{fingerprint, Trust, TrustUri};

/// Largest device id + 1: ids are 31-bit.
const DEVICE_ID_LIMIT: u32 = 1 << 31;
/// Pre-key ids wrap below libsignal's "medium" maximum.
const PRE_KEY_ID_MAX: u32 = 0x00ff_fffe;
/// Most devices accepted in one device list.
pub const MAX_DEVICES_PER_LIST: usize = 256;
/// Most `<key/>` elements accepted in one `<encrypted/>` element.
pub const MAX_KEYS_PER_ELEMENT: usize = 1024;
/// Most one-time pre-keys read from a bundle.
pub const MAX_PRE_KEYS_PER_BUNDLE: usize = 1024;

/// Tunables.
#[derive(Clone, Debug)]
pub struct Config {
    /// One-time pre-keys kept published (clients use 100).
    pub pre_key_count: u32,
    /// Age after which [`Omemo::rotate_signed_pre_key_if_due`] makes a new signed pre-key.
    pub signed_pre_key_rotation_secs: u64,
    /// How long a replaced signed pre-key is kept for messages still in flight.
    pub signed_pre_key_grace_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            pre_key_count: 100,
            signed_pre_key_rotation_secs: 7 * 24 * 3600,
            signed_pre_key_grace_secs: 30 * 24 * 3600,
        }
    }
}

/// Something the caller should know or act on.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A device appeared in an account's device list.
    NewDevice(DeviceAddress),
    /// A device left an account's device list (it is no longer encrypted for).
    DeviceRemoved(DeviceAddress),
    /// A session with a device was built (from its bundle or its pre-key message).
    SessionEstablished {
        /// The device.
        device: DeviceAddress,
        /// The trust its identity key got (blind trust before verification, or what the user
        /// set earlier).
        trust: Trust,
    },
    /// Our bundle changed (pre-keys consumed and refilled, signed pre-key rotated): publish
    /// [`Omemo::own_bundle`] again.
    BundleChanged,
    /// Our own device list lacks this device: publish the given list.
    PublishOwnDeviceList(DeviceList),
}

/// The result of [`Omemo::encrypt`].
#[derive(Debug)]
pub struct EncryptOutput {
    /// The element to put into the `<message/>`.
    pub element: Encrypted,
    /// The devices it was encrypted for.
    pub recipients: Vec<DeviceAddress>,
    /// Active devices without a session: fetch their bundles, call
    /// [`Omemo::receive_bundle`], and encrypt again to include them.
    pub missing_bundles: Vec<DeviceAddress>,
    /// Devices left out because their trust is undecided (ask the user).
    pub undecided: Vec<DeviceAddress>,
}

/// The result of [`Omemo::decrypt`].
#[derive(Debug)]
pub struct Decrypted {
    /// The plaintext; `None` for a key-transport element (no payload).
    pub plaintext: Option<Vec<u8>>,
    /// The sending device.
    pub sender_device: u32,
    /// Trust in the sending device's identity key (show a warning unless usable).
    pub trust: Trust,
    /// The message was a pre-key message: answer with [`Omemo::encrypt_key_transport`] soon so
    /// the sender stops sending pre-key messages.
    pub should_answer: bool,
    /// What changed.
    pub events: Vec<Event>,
}

/// Sessions and devices read once for several decryptions in a row, and
/// what they changed until it is written ([`Omemo::decrypt_in_batch`],
/// [`Omemo::finish_batch`]).
#[derive(Debug, Default)]
pub struct DecryptBatch {
    /// Sessions read (`None`: none in the store), as the batch moved them.
    sessions: std::collections::HashMap<DeviceAddress, Option<SessionRecord>>,
    /// Devices read.
    devices: std::collections::HashMap<DeviceAddress, Option<DeviceRecord>>,
    /// Sessions that moved on, in the order they first did.
    changed: Vec<DeviceAddress>,
    /// One-time pre-keys used, deleted when the batch is written.
    used_pre_keys: Vec<u32>,
    /// A pre-key message was decrypted (pre-keys are counted when the batch
    /// is written).
    pre_key_message: bool,
}

impl DecryptBatch {
    /// How many sessions moved on so far.
    pub fn changed(&self) -> usize {
        self.changed.len()
    }
}

/// A device as the UI lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The device.
    pub address: DeviceAddress,
    /// Its fingerprint, if its identity key is known.
    pub fingerprint: Option<String>,
    /// The trust in it.
    pub trust: Trust,
    /// Whether it is in the account's device list.
    pub active: bool,
    /// Whether a session exists.
    pub has_session: bool,
}

/// OMEMO 0.3 for one account, over a [`Store`].
pub struct Omemo<S: Store> {
    store: S,
    own_jid: BareJid,
    own: OwnIdentity,
    config: Config,
}

impl<S: Store> std::fmt::Debug for Omemo<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Omemo")
            .field("own_jid", &self.own_jid)
            .field("device_id", &self.own.device_id)
            .finish_non_exhaustive()
    }
}

fn store_err<E: std::error::Error + Send + Sync + 'static>(e: E) -> Error {
    Error::store(e)
}

impl<S: Store> Omemo<S> {
    /// Loads this device's identity from the store, creating it (device id, identity key,
    /// signed pre-key, one-time pre-keys) on first use. `now` is seconds since the Unix epoch.
    pub async fn load_or_create(
        store: S,
        own_jid: BareJid,
        config: Config,
        now: u64,
    ) -> Result<Self> {
        let own = match store.load_own_identity().await.map_err(store_err)? {
            Some(own) => own,
            None => {
                let own = OwnIdentity {
                    device_id: random_device_id(),
                    registration_id: OsRng.next_u32() % 16380 + 1,
                    identity: KeyPair::generate(&mut OsRng),
                    next_pre_key_id: 1,
                    next_signed_pre_key_id: 1,
                };
                store.store_own_identity(&own).await.map_err(store_err)?;
                own
            }
        };
        let mut omemo = Omemo {
            store,
            own_jid,
            own,
            config,
        };
        if omemo
            .store
            .load_signed_pre_keys()
            .await
            .map_err(store_err)?
            .is_empty()
        {
            omemo.new_signed_pre_key(now).await?;
        }
        omemo.refill_pre_keys().await?;
        Ok(omemo)
    }

    /// This device's id.
    pub fn own_device_id(&self) -> u32 {
        self.own.device_id
    }

    /// This account.
    pub fn own_jid(&self) -> &BareJid {
        &self.own_jid
    }

    /// This device's identity key.
    pub fn own_identity_key(&self) -> PublicKey {
        self.own.identity.public
    }

    /// This device's fingerprint (64 hex characters).
    pub fn own_fingerprint(&self) -> String {
        fingerprint(&self.own.identity.public)
    }

    /// A URI with this device's fingerprint, as shown in a QR code.
    pub fn own_trust_uri(&self) -> String {
        TrustUri {
            jid: self.own_jid.clone(),
            devices: vec![(self.own.device_id, self.own.identity.public)],
        }
        .to_uri()
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Gives the store back (everything is persisted in it already).
    pub fn into_store(self) -> S {
        self.store
    }

    async fn save_own(&self) -> Result<()> {
        self.store
            .store_own_identity(&self.own)
            .await
            .map_err(store_err)
    }

    async fn new_signed_pre_key(&mut self, now: u64) -> Result<()> {
        let id = self.own.next_signed_pre_key_id;
        self.own.next_signed_pre_key_id = if id >= PRE_KEY_ID_MAX { 1 } else { id + 1 };
        let key_pair = KeyPair::generate(&mut OsRng);
        let signature = self
            .own
            .identity
            .private
            .sign(&key_pair.public.serialize(), &mut OsRng);
        self.save_own().await?;
        self.store
            .store_signed_pre_key(&SignedPreKeyRecord {
                id,
                key_pair,
                signature,
                created_at: now,
            })
            .await
            .map_err(store_err)
    }

    /// Generates one-time pre-keys until [`Config::pre_key_count`] are stored. Returns whether
    /// any were made.
    async fn refill_pre_keys(&mut self) -> Result<bool> {
        let have = self.store.load_pre_keys().await.map_err(store_err)?.len();
        let want = self.config.pre_key_count as usize;
        if have >= want {
            return Ok(false);
        }
        let mut fresh = Vec::with_capacity(want - have);
        for _ in have..want {
            let id = self.own.next_pre_key_id;
            self.own.next_pre_key_id = if id >= PRE_KEY_ID_MAX { 1 } else { id + 1 };
            fresh.push(PreKeyRecord {
                id,
                key_pair: KeyPair::generate(&mut OsRng),
            });
        }
        self.save_own().await?;
        self.store.store_pre_keys(&fresh).await.map_err(store_err)?;
        Ok(true)
    }

    async fn current_signed_pre_key(&self) -> Result<SignedPreKeyRecord> {
        self.store
            .load_signed_pre_keys()
            .await
            .map_err(store_err)?
            .into_iter()
            .max_by_key(|k| (k.created_at, k.id))
            .ok_or(Error::NoIdentity)
    }

    /// Makes a new signed pre-key if the current one is older than
    /// [`Config::signed_pre_key_rotation_secs`], and drops replaced ones older than the grace
    /// period. Returns [`Event::BundleChanged`] if the bundle changed.
    pub async fn rotate_signed_pre_key_if_due(&mut self, now: u64) -> Result<Vec<Event>> {
        let current = self.current_signed_pre_key().await?;
        if now.saturating_sub(current.created_at) < self.config.signed_pre_key_rotation_secs {
            return Ok(Vec::new());
        }
        self.new_signed_pre_key(now).await?;
        for old in self.store.load_signed_pre_keys().await.map_err(store_err)? {
            if old.id != current.id
                && now.saturating_sub(old.created_at) >= self.config.signed_pre_key_grace_secs
                && old.created_at < now
            {
                self.store
                    .remove_signed_pre_key(old.id)
                    .await
                    .map_err(store_err)?;
            }
        }
        Ok(vec![Event::BundleChanged])
    }

    /// This device's bundle, to publish on `eu.siacs.conversations.axolotl.bundles:<id>`.
    pub async fn own_bundle(&self) -> Result<Bundle> {
        let signed = self.current_signed_pre_key().await?;
        let pre_keys = self.store.load_pre_keys().await.map_err(store_err)?;
        Ok(Bundle {
            signed_pre_key_public: Some(SignedPreKeyPublic {
                signed_pre_key_id: Some(signed.id),
                data: signed.key_pair.public.serialize().to_vec(),
            }),
            signed_pre_key_signature: Some(SignedPreKeySignature {
                data: signed.signature.to_vec(),
            }),
            identity_key: Some(IdentityKey {
                data: self.own.identity.public.serialize().to_vec(),
            }),
            prekeys: Some(Prekeys {
                keys: pre_keys
                    .iter()
                    .map(|k| PreKeyPublic {
                        pre_key_id: k.id,
                        data: k.key_pair.public.serialize().to_vec(),
                    })
                    .collect(),
            }),
        })
    }

    /// Our device list with this device added: publish it when [`Event::PublishOwnDeviceList`]
    /// asks, or at first start (`current` = what the server has, if anything).
    pub fn own_device_list(&self, current: Option<&DeviceList>) -> DeviceList {
        let mut list = current.cloned().unwrap_or(DeviceList {
            devices: Vec::new(),
        });
        if !list.devices.iter().any(|d| d.id == self.own.device_id) {
            list.devices.push(Device {
                id: self.own.device_id,
            });
        }
        list
    }

    /// Takes in an account's device list (from PEP). New devices are recorded, missing ones
    /// marked inactive. For our own account, asks to republish if this device is missing.
    pub async fn receive_device_list(
        &mut self,
        jid: &BareJid,
        list: &DeviceList,
    ) -> Result<Vec<Event>> {
        if list.devices.len() > MAX_DEVICES_PER_LIST {
            return Err(Error::TooLarge {
                what: "device list",
                len: list.devices.len(),
                limit: MAX_DEVICES_PER_LIST,
            });
        }
        let own = jid == &self.own_jid;
        let ids: Vec<u32> = list
            .devices
            .iter()
            .map(|d| d.id)
            .filter(|id| *id != 0 && !(own && *id == self.own.device_id))
            .collect();
        let mut events = Vec::new();
        let known = self.store.load_devices(jid).await.map_err(store_err)?;
        for mut d in known.iter().cloned() {
            let active = ids.contains(&d.address.device_id);
            if d.active != active {
                d.active = active;
                if !active {
                    events.push(Event::DeviceRemoved(d.address.clone()));
                }
                self.store.store_device(&d).await.map_err(store_err)?;
            }
        }
        for id in ids {
            if known.iter().any(|d| d.address.device_id == id) {
                continue;
            }
            let address = DeviceAddress::new(jid.clone(), id);
            self.store
                .store_device(&DeviceRecord {
                    address: address.clone(),
                    identity_key: None,
                    trust: Trust::Undecided,
                    active: true,
                })
                .await
                .map_err(store_err)?;
            events.push(Event::NewDevice(address));
        }
        if own && !list.devices.iter().any(|d| d.id == self.own.device_id) {
            events.push(Event::PublishOwnDeviceList(
                self.own_device_list(Some(list)),
            ));
        }
        Ok(events)
    }

    /// Active devices of `recipients` (and our other devices) that have no session yet and are
    /// not distrusted: fetch their bundles and pass them to [`Omemo::receive_bundle`].
    pub async fn missing_sessions(&self, recipients: &[BareJid]) -> Result<Vec<DeviceAddress>> {
        let jids = self.with_own(recipients);
        let mut missing = Vec::new();
        for (d, session) in self.recipient_devices(&jids).await?.into_iter().flatten() {
            if !session.is_some_and(|s| s.has_current_state()) {
                missing.push(d.address);
            }
        }
        Ok(missing)
    }

    /// The devices of `jids` a message goes to (active, not distrusted, not this device), one
    /// list per account in the order of `jids`, each device with its stored session if any.
    /// Two store calls however many accounts and devices (two queries in a database): a message
    /// to ten contacts, or to a group, must not cost a round trip per device.
    async fn recipient_devices(
        &self,
        jids: &[BareJid],
    ) -> Result<Vec<Vec<(DeviceRecord, Option<SessionRecord>)>>> {
        let mut lists = self
            .store
            .load_devices_of(jids)
            .await
            .map_err(store_err)?
            .into_iter();
        // One list per account even if the store returned fewer, so that no recipient skips
        // the checks made on its list.
        let lists: Vec<Vec<DeviceRecord>> = jids
            .iter()
            .map(|_| {
                let mut list = lists.next().unwrap_or_default();
                list.retain(|d| {
                    d.active && d.trust != Trust::Distrusted && !self.is_self(&d.address)
                });
                list
            })
            .collect();
        let addresses: Vec<DeviceAddress> =
            lists.iter().flatten().map(|d| d.address.clone()).collect();
        let mut sessions = self
            .store
            .load_sessions(&addresses)
            .await
            .map_err(store_err)?
            .into_iter();
        Ok(lists
            .into_iter()
            .map(|list| {
                list.into_iter()
                    .map(|d| (d, sessions.next().flatten()))
                    .collect()
            })
            .collect())
    }

    fn with_own(&self, recipients: &[BareJid]) -> Vec<BareJid> {
        let mut all: Vec<BareJid> = recipients.to_vec();
        if !all.contains(&self.own_jid) {
            all.push(self.own_jid.clone());
        }
        all.dedup();
        all
    }

    fn is_self(&self, a: &DeviceAddress) -> bool {
        a.jid == self.own_jid && a.device_id == self.own.device_id
    }

    /// Trust a newly learned identity key of `jid` gets: blind trust before verification, i.e.
    /// trusted unless the user has verified some device of that account.
    async fn default_trust(&self, jid: &BareJid) -> Result<Trust> {
        let devices = self.store.load_devices(jid).await.map_err(store_err)?;
        Ok(if devices.iter().any(|d| d.trust == Trust::Verified) {
            Trust::Undecided
        } else {
            Trust::Trusted
        })
    }

    /// Records a device's identity key. Fails if a different key is already recorded.
    async fn learn_identity(
        &self,
        address: &DeviceAddress,
        key: PublicKey,
    ) -> Result<DeviceRecord> {
        let existing = self.store.load_device(address).await.map_err(store_err)?;
        match existing {
            Some(d) if d.identity_key == Some(key) => Ok(d),
            Some(d) if d.identity_key.is_some() => Err(Error::IdentityMismatch {
                jid: address.jid.to_string(),
                device_id: address.device_id,
            }),
            existing => {
                let trust = self.default_trust(&address.jid).await?;
                let d = DeviceRecord {
                    address: address.clone(),
                    identity_key: Some(key),
                    trust,
                    active: existing.is_none_or(|d| d.active),
                };
                self.store.store_device(&d).await.map_err(store_err)?;
                Ok(d)
            }
        }
    }

    /// Builds a session with a device from its bundle (X3DH with a random one-time pre-key).
    /// Does nothing (no events) if a session already exists: call [`Omemo::reset_session`]
    /// first to replace a broken one.
    pub async fn receive_bundle(
        &mut self,
        jid: &BareJid,
        device_id: u32,
        bundle: &Bundle,
    ) -> Result<Vec<Event>> {
        let address = DeviceAddress::new(jid.clone(), device_id);
        if self.is_self(&address) {
            return Err(Error::InvalidBundle("own device"));
        }
        let parsed = parse_bundle(bundle, &mut OsRng)?;
        if let Some(d) = self.store.load_device(&address).await.map_err(store_err)? {
            if d.identity_key.is_some_and(|k| k != parsed.identity_key) {
                return Err(Error::IdentityMismatch {
                    jid: jid.to_string(),
                    device_id,
                });
            }
        }
        let mut record = self
            .store
            .load_session(&address)
            .await
            .map_err(store_err)?
            .unwrap_or_default();
        if record.has_current_state() {
            return Ok(Vec::new());
        }
        record.process_bundle(
            &parsed,
            &self.own.identity,
            self.own.registration_id,
            &mut OsRng,
        )?;
        let device = self.learn_identity(&address, parsed.identity_key).await?;
        self.store
            .store_session(&address, &record)
            .await
            .map_err(store_err)?;
        Ok(vec![Event::SessionEstablished {
            device: address,
            trust: device.trust,
        }])
    }

    /// Encrypts `plaintext` for every usable device of `recipients` and of our own account
    /// (except this device). Fails with [`Error::NoUsableDevices`] if some recipient other than
    /// ourselves would get no key at all.
    pub async fn encrypt(
        &mut self,
        recipients: &[BareJid],
        plaintext: &[u8],
    ) -> Result<EncryptOutput> {
        let sealed = payload::seal(plaintext, &mut OsRng)?;
        let mut out = self
            .encrypt_key_material(recipients, &sealed.key_material, &sealed.iv)
            .await?;
        out.element.payload = Some(Payload {
            data: sealed.ciphertext.clone(),
        });
        Ok(out)
    }

    /// Encrypts `plaintext` for one device only, with the session this device has with it,
    /// whatever the trust in it (the receiver decides what the trust means, as for the DTLS
    /// fingerprint of a call: Conversations' `AxolotlService.encrypt(RtpContentMap, …)` adds
    /// the one session with `ignoreSessionTrust`, Dino's `encrypt_key` the one device). Fails
    /// with [`Error::NoSession`] when there is no session with it.
    pub async fn encrypt_for_device(
        &mut self,
        address: &DeviceAddress,
        plaintext: &[u8],
    ) -> Result<Encrypted> {
        if self.is_self(address) {
            return Err(Error::SentByThisDevice);
        }
        let mut session = self
            .store
            .load_session(address)
            .await
            .map_err(store_err)?
            .filter(SessionRecord::has_current_state)
            .ok_or_else(|| Error::NoSession {
                jid: address.jid.to_string(),
                device_id: address.device_id,
            })?;
        let sealed = payload::seal(plaintext, &mut OsRng)?;
        let message = session.encrypt(&sealed.key_material)?;
        let key = Key {
            rid: address.device_id,
            prekey: message.is_pre_key(),
            data: message.serialized().to_vec(),
        };
        self.store
            .store_session(address, &session)
            .await
            .map_err(store_err)?;
        Ok(Encrypted {
            header: Header {
                sid: self.own.device_id,
                keys: vec![key],
                iv: IV {
                    data: sealed.iv.to_vec(),
                },
            },
            payload: Some(Payload {
                data: sealed.ciphertext.clone(),
            }),
        })
    }

    /// The identity key fingerprint of a device and the trust in it, when its key is known.
    pub async fn device_trust(&self, address: &DeviceAddress) -> Result<Option<(String, Trust)>> {
        Ok(self
            .store
            .load_device(address)
            .await
            .map_err(store_err)?
            .and_then(|d| Some((fingerprint(d.identity_key.as_ref()?), d.trust))))
    }

    /// A key-transport element (no payload) for `recipients`' usable devices: used to answer a
    /// pre-key message or to ratchet forward without a visible message.
    pub async fn encrypt_key_transport(&mut self, recipients: &[BareJid]) -> Result<EncryptOutput> {
        let material = payload::key_transport_material(&mut OsRng);
        let mut iv = [0u8; payload::IV_LEN];
        OsRng.fill_bytes(&mut iv);
        self.encrypt_key_material(recipients, &material, &iv).await
    }

    async fn encrypt_key_material(
        &mut self,
        recipients: &[BareJid],
        material: &[u8; 32],
        iv: &[u8],
    ) -> Result<EncryptOutput> {
        let mut keys = Vec::new();
        let mut updated = Vec::new();
        let mut out_recipients = Vec::new();
        let mut missing_bundles = Vec::new();
        let mut undecided = Vec::new();
        let jids = self.with_own(recipients);
        let targets = self.recipient_devices(&jids).await?;
        for (jid, devices) in jids.iter().zip(targets) {
            let before = out_recipients.len();
            for (d, session) in devices {
                let Some(mut session) = session.filter(SessionRecord::has_current_state) else {
                    missing_bundles.push(d.address);
                    continue;
                };
                if !d.trust.is_usable() {
                    undecided.push(d.address);
                    continue;
                }
                let message = session.encrypt(material)?;
                keys.push(Key {
                    rid: d.address.device_id,
                    prekey: message.is_pre_key(),
                    data: message.serialized().to_vec(),
                });
                out_recipients.push(d.address.clone());
                updated.push((d.address, session));
            }
            if *jid != self.own_jid && out_recipients.len() == before {
                return Err(Error::NoUsableDevices(jid.to_string()));
            }
        }
        // The advanced sessions in one write, once every recipient got its keys.
        self.store
            .store_sessions(&updated)
            .await
            .map_err(store_err)?;
        Ok(EncryptOutput {
            element: Encrypted {
                header: Header {
                    sid: self.own.device_id,
                    keys,
                    iv: IV { data: iv.to_vec() },
                },
                payload: None,
            },
            recipients: out_recipients,
            missing_bundles,
            undecided,
        })
    }

    /// Decrypts an `<encrypted/>` element from `sender`.
    pub async fn decrypt(&mut self, sender: &BareJid, element: &Encrypted) -> Result<Decrypted> {
        self.decrypt_skipping(sender, element, crate::session::MAX_SKIP)
            .await
    }

    /// [`Omemo::decrypt`], skipping at most `max_skip` messages of the
    /// sender's chain: a message further ahead fails with
    /// [`Error::TooFarInFuture`] and changes nothing, so that a caller
    /// reading an archive newest first can decrypt it later, in order,
    /// instead of filling the session with skipped keys.
    pub async fn decrypt_skipping(
        &mut self,
        sender: &BareJid,
        element: &Encrypted,
        max_skip: u32,
    ) -> Result<Decrypted> {
        let mut batch = DecryptBatch::default();
        let mut decrypted = self
            .decrypt_in_batch(&mut batch, sender, element, max_skip)
            .await?;
        decrypted.events.extend(self.finish_batch(batch).await?);
        Ok(decrypted)
    }

    /// Decrypts one of several messages taken in a row (an archive caught
    /// up in chain order), as [`Omemo::decrypt_skipping`] does, except that
    /// the sessions and devices involved are read once into `batch` and
    /// what changed stays there until [`Omemo::finish_batch`] writes it.
    /// Meanwhile nothing of the batch is on disk: a caller that stores the
    /// plaintexts should do so before finishing the batch, so that a crash
    /// in between leaves messages that can be decrypted again rather than
    /// sessions that moved past messages never stored.
    pub async fn decrypt_in_batch(
        &mut self,
        batch: &mut DecryptBatch,
        sender: &BareJid,
        element: &Encrypted,
        max_skip: u32,
    ) -> Result<Decrypted> {
        let header = &element.header;
        if header.keys.len() > MAX_KEYS_PER_ELEMENT {
            return Err(Error::TooLarge {
                what: "key list",
                len: header.keys.len(),
                limit: MAX_KEYS_PER_ELEMENT,
            });
        }
        let address = DeviceAddress::new(sender.clone(), header.sid);
        if self.is_self(&address) {
            return Err(Error::SentByThisDevice);
        }
        let key = header
            .keys
            .iter()
            .find(|k| k.rid == self.own.device_id)
            .ok_or(Error::NotForThisDevice)?;
        if key.data.len() > MAX_MESSAGE_LEN {
            return Err(Error::TooLarge {
                what: "key element",
                len: key.data.len(),
                limit: MAX_MESSAGE_LEN,
            });
        }
        if !matches!(header.iv.data.len(), 12 | 16) {
            return Err(Error::Malformed("payload IV"));
        }
        let mut events = Vec::new();
        let stored = self.batch_session(batch, &address).await?;
        let (material, record, device, should_answer) = if key.prekey {
            let message = PreKeySignalMessage::decode(&key.data)?;
            let known = self.batch_device(batch, &address).await?;
            if known
                .as_ref()
                .and_then(|d| d.identity_key)
                .is_some_and(|k| k != message.identity_key)
            {
                return Err(Error::IdentityMismatch {
                    jid: sender.to_string(),
                    device_id: header.sid,
                });
            }
            let mut record = stored.unwrap_or_default();
            let outcome = if record.has_state_for_base_key(&message.base_key) {
                record.decrypt_pre_key_skipping(&message, None, max_skip, &mut OsRng)?
            } else {
                let signed = self
                    .store
                    .load_signed_pre_keys()
                    .await
                    .map_err(store_err)?
                    .into_iter()
                    .find(|k| k.id == message.signed_pre_key_id)
                    .ok_or(Error::UnknownSignedPreKey(message.signed_pre_key_id))?;
                let one_time = match message.pre_key_id {
                    Some(id) if batch.used_pre_keys.contains(&id) => {
                        return Err(Error::UnknownPreKey(id))
                    }
                    Some(id) => Some(
                        self.store
                            .load_pre_key(id)
                            .await
                            .map_err(store_err)?
                            .ok_or(Error::UnknownPreKey(id))?,
                    ),
                    None => None,
                };
                let keys = ResponderKeys {
                    identity: &self.own.identity,
                    registration_id: self.own.registration_id,
                    signed_pre_key: &signed.key_pair,
                    one_time_pre_key: one_time.as_ref().map(|k| &k.key_pair),
                };
                record.decrypt_pre_key_skipping(&message, Some(keys), max_skip, &mut OsRng)?
            };
            let device = self
                .batch_learn_identity(batch, &address, message.identity_key)
                .await?;
            if outcome.new_session {
                events.push(Event::SessionEstablished {
                    device: address.clone(),
                    trust: device.trust,
                });
            }
            if let Some(id) = outcome.used_pre_key {
                batch.used_pre_keys.push(id);
            }
            batch.pre_key_message = true;
            (outcome.plaintext, record, device, true)
        } else {
            let message = SignalMessage::decode(&key.data)?;
            let mut record = stored
                .filter(SessionRecord::has_current_state)
                .ok_or_else(|| Error::NoSession {
                    jid: sender.to_string(),
                    device_id: header.sid,
                })?;
            let plaintext = record.decrypt_skipping(&message, max_skip, &mut OsRng)?;
            let device = match self.batch_device(batch, &address).await? {
                Some(d) => d,
                None => match record.remote_identity() {
                    Some(k) => self.batch_learn_identity(batch, &address, k).await?,
                    None => return Err(Error::InvalidMessage("session without identity")),
                },
            };
            (plaintext, record, device, false)
        };
        // The payload is opened before the session moves on: a message
        // whose payload fails leaves the session as it was.
        let plaintext = match &element.payload {
            None => None,
            Some(p) => Some(payload::open(&material, &header.iv.data, &p.data)?),
        };
        batch.sessions.insert(address.clone(), Some(record));
        if !batch.changed.contains(&address) {
            batch.changed.push(address);
        }
        Ok(Decrypted {
            plaintext,
            sender_device: header.sid,
            trust: device.trust,
            should_answer,
            events,
        })
    }

    /// Writes what a batch of decryptions changed: the sessions that moved
    /// on, the one-time pre-keys used (deleted), and fresh pre-keys if any
    /// were used (then [`Event::BundleChanged`] is among the events).
    pub async fn finish_batch(&mut self, batch: DecryptBatch) -> Result<Vec<Event>> {
        let DecryptBatch {
            mut sessions,
            changed,
            used_pre_keys,
            pre_key_message,
            ..
        } = batch;
        let updated: Vec<(DeviceAddress, SessionRecord)> = changed
            .into_iter()
            .filter_map(|a| {
                let record = sessions.remove(&a).flatten()?;
                Some((a, record))
            })
            .collect();
        match updated.as_slice() {
            [] => {}
            [(address, record)] => self
                .store
                .store_session(address, record)
                .await
                .map_err(store_err)?,
            _ => self
                .store
                .store_sessions(&updated)
                .await
                .map_err(store_err)?,
        }
        for id in used_pre_keys {
            self.store.remove_pre_key(id).await.map_err(store_err)?;
        }
        // Only a pre-key message uses a pre-key: counting them after every
        // message would read all of them each time.
        let mut events = Vec::new();
        if pre_key_message && self.refill_pre_keys().await? {
            events.push(Event::BundleChanged);
        }
        Ok(events)
    }

    /// The session with `address` as the batch has it (read once).
    async fn batch_session(
        &self,
        batch: &mut DecryptBatch,
        address: &DeviceAddress,
    ) -> Result<Option<SessionRecord>> {
        if let Some(s) = batch.sessions.get(address) {
            return Ok(s.clone());
        }
        let s = self.store.load_session(address).await.map_err(store_err)?;
        batch.sessions.insert(address.clone(), s.clone());
        Ok(s)
    }

    /// The device at `address` as the batch has it (read once).
    async fn batch_device(
        &self,
        batch: &mut DecryptBatch,
        address: &DeviceAddress,
    ) -> Result<Option<DeviceRecord>> {
        if let Some(d) = batch.devices.get(address) {
            return Ok(d.clone());
        }
        let d = self.store.load_device(address).await.map_err(store_err)?;
        batch.devices.insert(address.clone(), d.clone());
        Ok(d)
    }

    /// [`Omemo::learn_identity`] through the batch's devices.
    async fn batch_learn_identity(
        &self,
        batch: &mut DecryptBatch,
        address: &DeviceAddress,
        key: PublicKey,
    ) -> Result<DeviceRecord> {
        match self.batch_device(batch, address).await? {
            Some(d) if d.identity_key == Some(key) => Ok(d),
            _ => {
                let d = self.learn_identity(address, key).await?;
                batch.devices.insert(address.clone(), Some(d.clone()));
                Ok(d)
            }
        }
    }

    /// Forgets the session with a device (for example after it keeps failing); the next
    /// [`Omemo::receive_bundle`] builds a new one.
    pub async fn reset_session(&mut self, address: &DeviceAddress) -> Result<()> {
        self.store.remove_session(address).await.map_err(store_err)
    }

    /// The known devices of an account, for display.
    pub async fn devices(&self, jid: &BareJid) -> Result<Vec<DeviceInfo>> {
        let mut out = Vec::new();
        for d in self.store.load_devices(jid).await.map_err(store_err)? {
            let has_session = self
                .store
                .load_session(&d.address)
                .await
                .map_err(store_err)?
                .is_some_and(|s| s.has_current_state());
            out.push(DeviceInfo {
                fingerprint: d.identity_key.as_ref().map(fingerprint),
                address: d.address,
                trust: d.trust,
                active: d.active,
                has_session,
            });
        }
        Ok(out)
    }

    /// Sets the trust in a device whose identity key is known.
    pub async fn set_trust(&mut self, address: &DeviceAddress, trust: Trust) -> Result<()> {
        let mut d = self
            .store
            .load_device(address)
            .await
            .map_err(store_err)?
            .filter(|d| d.identity_key.is_some())
            .ok_or(Error::InvalidFingerprint)?;
        d.trust = trust;
        self.store.store_device(&d).await.map_err(store_err)
    }

    /// Marks a device verified if `fingerprint` (as the user read it) matches its identity key.
    /// Returns whether it matched; a mismatch changes nothing.
    pub async fn verify_fingerprint(
        &mut self,
        address: &DeviceAddress,
        fingerprint: &str,
    ) -> Result<bool> {
        let key = crate::trust::parse_fingerprint(fingerprint)?;
        let known = self.store.load_device(address).await.map_err(store_err)?;
        match known {
            Some(mut d) if d.identity_key == Some(key) => {
                d.trust = Trust::Verified;
                self.store.store_device(&d).await.map_err(store_err)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Applies a scanned `xmpp:` URI: every listed device whose known identity key matches is
    /// marked verified; a device not yet known is recorded with that key, verified. Returns the
    /// devices verified and those whose known key did not match (left unchanged).
    pub async fn verify_uri(
        &mut self,
        uri: &str,
    ) -> Result<(Vec<DeviceAddress>, Vec<DeviceAddress>)> {
        let uri = TrustUri::parse(uri)?;
        let mut verified = Vec::new();
        let mut mismatched = Vec::new();
        for (id, key) in uri.devices {
            let address = DeviceAddress::new(uri.jid.clone(), id);
            let known = self.store.load_device(&address).await.map_err(store_err)?;
            let d = match known {
                Some(d) if d.identity_key.is_some_and(|k| k != key) => {
                    mismatched.push(address);
                    continue;
                }
                Some(mut d) => {
                    d.identity_key = Some(key);
                    d.trust = Trust::Verified;
                    d
                }
                None => DeviceRecord {
                    address: address.clone(),
                    identity_key: Some(key),
                    trust: Trust::Verified,
                    active: false,
                },
            };
            self.store.store_device(&d).await.map_err(store_err)?;
            verified.push(address);
        }
        Ok((verified, mismatched))
    }
}

fn random_device_id() -> u32 {
    loop {
        let id = OsRng.next_u32() % DEVICE_ID_LIMIT;
        if id != 0 {
            return id;
        }
    }
}

/// Reads a published bundle into what X3DH needs, picking one of its one-time pre-keys at
/// random. Fails on missing or malformed parts; the signature is checked when the session is
/// built.
pub fn parse_bundle<R: RngCore>(bundle: &Bundle, rng: &mut R) -> Result<PreKeyBundle> {
    let spk = bundle
        .signed_pre_key_public
        .as_ref()
        .ok_or(Error::InvalidBundle("no signed pre-key"))?;
    let signed_pre_key_id = spk
        .signed_pre_key_id
        .ok_or(Error::InvalidBundle("no signed pre-key id"))?;
    let signature = bundle
        .signed_pre_key_signature
        .as_ref()
        .ok_or(Error::InvalidBundle("no signature"))?;
    if signature.data.len() != 64 {
        return Err(Error::InvalidBundle("signature length"));
    }
    let identity = bundle
        .identity_key
        .as_ref()
        .ok_or(Error::InvalidBundle("no identity key"))?;
    let pre_keys: &[legacy_omemo::PreKeyPublic] =
        bundle.prekeys.as_ref().map_or(&[], |p| p.keys.as_slice());
    if pre_keys.len() > MAX_PRE_KEYS_PER_BUNDLE {
        return Err(Error::TooLarge {
            what: "pre-key list",
            len: pre_keys.len(),
            limit: MAX_PRE_KEYS_PER_BUNDLE,
        });
    }
    let usable: Vec<(u32, PublicKey)> = pre_keys
        .iter()
        .filter_map(|k| Some((k.pre_key_id, PublicKey::decode_lenient(&k.data).ok()?)))
        .collect();
    let pre_key = if usable.is_empty() {
        None
    } else {
        usable.get(rng.next_u32() as usize % usable.len()).copied()
    };
    Ok(PreKeyBundle {
        registration_id: 0,
        pre_key,
        signed_pre_key_id,
        signed_pre_key: PublicKey::decode_lenient(&spk.data)
            .map_err(|_| Error::InvalidBundle("signed pre-key"))?,
        signed_pre_key_signature: signature.data.clone(),
        identity_key: PublicKey::decode_lenient(&identity.data)
            .map_err(|_| Error::InvalidBundle("identity key"))?,
    })
}

/// Parses the message carried in a `<key/>` element, as [`Omemo::decrypt`] does.
pub fn parse_key(key: &Key) -> Result<CiphertextMessage> {
    if key.prekey {
        PreKeySignalMessage::decode(&key.data).map(CiphertextMessage::PreKey)
    } else {
        SignalMessage::decode(&key.data).map(CiphertextMessage::Signal)
    }
}
