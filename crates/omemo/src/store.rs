//! What OMEMO keeps on disk, as a trait, and an in-memory implementation.
//!
//! The trait is async (methods return `Send` futures; implementations may write `async fn`),
//! because the SQLite store is async. All methods take `&self`: implementations use interior
//! mutability (a connection pool, a mutex). [`crate::Omemo`] takes `&mut self` for every
//! operation that changes sessions, so one `Omemo` never races with itself; sharing one store
//! between two `Omemo` values for the same account is not supported.
//!
//! Every implementation should pass [`crate::conformance`] (feature `conformance`).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Mutex, MutexGuard};

use xmpp_parsers::jid::BareJid;

use crate::keys::{KeyPair, PublicKey};
use crate::session::SessionRecord;
use crate::trust::Trust;

/// This device's long-term identity.
#[derive(Clone, Debug)]
pub struct OwnIdentity {
    /// The OMEMO device id (random, 1..2^31).
    pub device_id: u32,
    /// The libsignal registration id (informational in OMEMO).
    pub registration_id: u32,
    /// The identity key pair.
    pub identity: KeyPair,
    /// Id the next generated one-time pre-key gets.
    pub next_pre_key_id: u32,
    /// Id the next generated signed pre-key gets.
    pub next_signed_pre_key_id: u32,
}

/// A signed pre-key with its signature.
#[derive(Clone, Debug)]
pub struct SignedPreKeyRecord {
    /// Its id.
    pub id: u32,
    /// The key pair.
    pub key_pair: KeyPair,
    /// XEdDSA signature of the 0x05-prefixed public key by the identity key.
    pub signature: [u8; 64],
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
}

/// A one-time pre-key.
#[derive(Clone, Debug)]
pub struct PreKeyRecord {
    /// Its id.
    pub id: u32,
    /// The key pair.
    pub key_pair: KeyPair,
}

/// One device of one account.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceAddress {
    /// The account.
    pub jid: BareJid,
    /// The OMEMO device id.
    pub device_id: u32,
}

impl DeviceAddress {
    /// Builds an address.
    pub fn new(jid: BareJid, device_id: u32) -> Self {
        DeviceAddress { jid, device_id }
    }
}

impl std::fmt::Display for DeviceAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.jid, self.device_id)
    }
}

/// What is known about a peer device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRecord {
    /// The device.
    pub address: DeviceAddress,
    /// Its identity key, once learned from a bundle or a pre-key message.
    pub identity_key: Option<PublicKey>,
    /// The user's trust in that identity key.
    pub trust: Trust,
    /// Whether the device is in the account's latest device list.
    pub active: bool,
}

/// A store future: what every [`Store`] method returns.
pub trait StoreFuture<T, E>: Future<Output = Result<T, E>> + Send {}
impl<T, E, F: Future<Output = Result<T, E>> + Send> StoreFuture<T, E> for F {}

/// Persistent OMEMO state of one account.
pub trait Store: Send + Sync {
    /// The implementation's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// This device's identity, if created.
    fn load_own_identity(&self) -> impl StoreFuture<Option<OwnIdentity>, Self::Error>;
    /// Saves (replaces) this device's identity.
    fn store_own_identity(&self, identity: &OwnIdentity) -> impl StoreFuture<(), Self::Error>;

    /// All signed pre-keys kept.
    fn load_signed_pre_keys(&self) -> impl StoreFuture<Vec<SignedPreKeyRecord>, Self::Error>;
    /// Saves (inserts or replaces) a signed pre-key.
    fn store_signed_pre_key(&self, key: &SignedPreKeyRecord) -> impl StoreFuture<(), Self::Error>;
    /// Deletes a signed pre-key (no error if absent).
    fn remove_signed_pre_key(&self, id: u32) -> impl StoreFuture<(), Self::Error>;

    /// One one-time pre-key.
    fn load_pre_key(&self, id: u32) -> impl StoreFuture<Option<PreKeyRecord>, Self::Error>;
    /// All one-time pre-keys, ordered by id.
    fn load_pre_keys(&self) -> impl StoreFuture<Vec<PreKeyRecord>, Self::Error>;
    /// Saves (inserts or replaces) one-time pre-keys.
    fn store_pre_keys(&self, keys: &[PreKeyRecord]) -> impl StoreFuture<(), Self::Error>;
    /// Deletes a one-time pre-key (no error if absent).
    fn remove_pre_key(&self, id: u32) -> impl StoreFuture<(), Self::Error>;

    /// The session with a device.
    fn load_session(
        &self,
        address: &DeviceAddress,
    ) -> impl StoreFuture<Option<SessionRecord>, Self::Error>;
    /// Saves (replaces) the session with a device. Implementations persist
    /// [`SessionRecord::to_bytes`].
    fn store_session(
        &self,
        address: &DeviceAddress,
        session: &SessionRecord,
    ) -> impl StoreFuture<(), Self::Error>;
    /// Deletes the session with a device (no error if absent).
    fn remove_session(&self, address: &DeviceAddress) -> impl StoreFuture<(), Self::Error>;

    /// The sessions with several devices, one per address and in the same order:
    /// [`Store::load_session`] for each. A message is encrypted with the session of every
    /// recipient device, so a database implementation should read them in one query.
    fn load_sessions(
        &self,
        addresses: &[DeviceAddress],
    ) -> impl StoreFuture<Vec<Option<SessionRecord>>, Self::Error> {
        async move {
            let mut sessions = Vec::with_capacity(addresses.len());
            for address in addresses {
                sessions.push(self.load_session(address).await?);
            }
            Ok(sessions)
        }
    }
    /// Saves (replaces) the sessions with several devices: [`Store::store_session`] for each,
    /// in order. Encrypting advances every recipient's session, so a database implementation
    /// should write them in one transaction (which also keeps a failure from saving only some).
    fn store_sessions(
        &self,
        sessions: &[(DeviceAddress, SessionRecord)],
    ) -> impl StoreFuture<(), Self::Error> {
        async move {
            for (address, session) in sessions {
                self.store_session(address, session).await?;
            }
            Ok(())
        }
    }

    /// What is known about one device.
    fn load_device(
        &self,
        address: &DeviceAddress,
    ) -> impl StoreFuture<Option<DeviceRecord>, Self::Error>;
    /// All known devices of an account (active or not), ordered by device id.
    fn load_devices(&self, jid: &BareJid) -> impl StoreFuture<Vec<DeviceRecord>, Self::Error>;
    /// The known devices of several accounts, one list per account and in the same order:
    /// [`Store::load_devices`] for each. A message goes to the devices of every recipient and
    /// of our own account, so a database implementation should read them in one query.
    fn load_devices_of(
        &self,
        jids: &[BareJid],
    ) -> impl StoreFuture<Vec<Vec<DeviceRecord>>, Self::Error> {
        async move {
            let mut lists = Vec::with_capacity(jids.len());
            for jid in jids {
                lists.push(self.load_devices(jid).await?);
            }
            Ok(lists)
        }
    }
    /// Saves (inserts or replaces) a device.
    fn store_device(&self, device: &DeviceRecord) -> impl StoreFuture<(), Self::Error>;
}

/// The error of [`MemoryStore`]: a restored session that did not decode.
#[derive(Debug, thiserror::Error)]
#[error("memory store: {0}")]
pub struct MemoryStoreError(#[from] crate::Error);

#[derive(Default)]
struct Inner {
    identity: Option<OwnIdentity>,
    signed_pre_keys: BTreeMap<u32, SignedPreKeyRecord>,
    pre_keys: BTreeMap<u32, PreKeyRecord>,
    sessions: HashMap<DeviceAddress, Vec<u8>>,
    devices: BTreeMap<(BareJid, u32), DeviceRecord>,
}

/// A [`Store`] in memory. Sessions are kept serialised, as a database would keep them.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Store for MemoryStore {
    type Error = MemoryStoreError;

    async fn load_own_identity(&self) -> Result<Option<OwnIdentity>, Self::Error> {
        Ok(self.lock().identity.clone())
    }

    async fn store_own_identity(&self, identity: &OwnIdentity) -> Result<(), Self::Error> {
        self.lock().identity = Some(identity.clone());
        Ok(())
    }

    async fn load_signed_pre_keys(&self) -> Result<Vec<SignedPreKeyRecord>, Self::Error> {
        Ok(self.lock().signed_pre_keys.values().cloned().collect())
    }

    async fn store_signed_pre_key(&self, key: &SignedPreKeyRecord) -> Result<(), Self::Error> {
        self.lock().signed_pre_keys.insert(key.id, key.clone());
        Ok(())
    }

    async fn remove_signed_pre_key(&self, id: u32) -> Result<(), Self::Error> {
        self.lock().signed_pre_keys.remove(&id);
        Ok(())
    }

    async fn load_pre_key(&self, id: u32) -> Result<Option<PreKeyRecord>, Self::Error> {
        Ok(self.lock().pre_keys.get(&id).cloned())
    }

    async fn load_pre_keys(&self) -> Result<Vec<PreKeyRecord>, Self::Error> {
        Ok(self.lock().pre_keys.values().cloned().collect())
    }

    async fn store_pre_keys(&self, keys: &[PreKeyRecord]) -> Result<(), Self::Error> {
        let mut inner = self.lock();
        for k in keys {
            inner.pre_keys.insert(k.id, k.clone());
        }
        Ok(())
    }

    async fn remove_pre_key(&self, id: u32) -> Result<(), Self::Error> {
        self.lock().pre_keys.remove(&id);
        Ok(())
    }

    async fn load_session(
        &self,
        address: &DeviceAddress,
    ) -> Result<Option<SessionRecord>, Self::Error> {
        let bytes = self.lock().sessions.get(address).cloned();
        Ok(bytes.map(|b| SessionRecord::from_bytes(&b)).transpose()?)
    }

    async fn store_session(
        &self,
        address: &DeviceAddress,
        session: &SessionRecord,
    ) -> Result<(), Self::Error> {
        self.lock()
            .sessions
            .insert(address.clone(), session.to_bytes());
        Ok(())
    }

    async fn remove_session(&self, address: &DeviceAddress) -> Result<(), Self::Error> {
        self.lock().sessions.remove(address);
        Ok(())
    }

    async fn load_device(
        &self,
        address: &DeviceAddress,
    ) -> Result<Option<DeviceRecord>, Self::Error> {
        Ok(self
            .lock()
            .devices
            .get(&(address.jid.clone(), address.device_id))
            .cloned())
    }

    async fn load_devices(&self, jid: &BareJid) -> Result<Vec<DeviceRecord>, Self::Error> {
        Ok(self
            .lock()
            .devices
            .range((jid.clone(), 0)..=(jid.clone(), u32::MAX))
            .map(|(_, d)| d.clone())
            .collect())
    }

    async fn store_device(&self, device: &DeviceRecord) -> Result<(), Self::Error> {
        self.lock().devices.insert(
            (device.address.jid.clone(), device.address.device_id),
            device.clone(),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::MemoryStore;

    crate::store_conformance_tests!(tokio::test, async { MemoryStore::new() });
}
