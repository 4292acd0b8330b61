//! libsignal's session layer: X3DH (with the 0xFF discontinuity bytes and the "WhisperText"
//! KDF) and the Double Ratchet, bit-compatible with libsignal-protocol-java/-c version 3.
//!
//! A [`SessionRecord`] is everything one device keeps about its session with one peer device:
//! the current ratchet state and up to [`MAX_ARCHIVED_STATES`] older states (a peer that
//! rebuilt the session may still have messages in flight for an older one).

use std::collections::VecDeque;

use prost::Message as _;
use rand::{CryptoRng, RngCore};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::{aes256_cbc_decrypt, aes256_cbc_encrypt, hkdf_sha256, hmac_sha256};
use crate::error::{Error, Result};
use crate::keys::{KeyPair, PrivateKey, PublicKey};
use crate::message::{CiphertextMessage, PreKeySignalMessage, SignalMessage};

/// How many messages a peer may skip in one chain before we refuse (libsignal's limit).
pub const MAX_SKIP: u32 = 2000;
/// How many skipped message keys one session state keeps at most (oldest dropped first).
pub const MAX_SKIPPED_KEYS: usize = 2000;
/// How many receiving chains one state keeps (libsignal keeps 5).
pub const MAX_RECEIVER_CHAINS: usize = 5;
/// How many superseded states a record keeps (libsignal keeps 40).
pub const MAX_ARCHIVED_STATES: usize = 40;
/// The largest plaintext [`SessionRecord::encrypt`] accepts.
pub const MAX_PLAINTEXT_LEN: usize = 32 * 1024;

const MESSAGE_KEY_SEED: [u8; 1] = [0x01];
const CHAIN_KEY_SEED: [u8; 1] = [0x02];
const RECORD_FORMAT: u8 = 1;

/// A peer device's published keys, enough to start a session with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyBundle {
    /// The peer's libsignal registration id (OMEMO bundles do not carry it; use 0).
    pub registration_id: u32,
    /// A one-time pre-key (id, key), if the bundle offered one.
    pub pre_key: Option<(u32, PublicKey)>,
    /// Id of the signed pre-key.
    pub signed_pre_key_id: u32,
    /// The signed pre-key.
    pub signed_pre_key: PublicKey,
    /// XEdDSA signature of the 0x05-prefixed signed pre-key by the identity key.
    pub signed_pre_key_signature: Vec<u8>,
    /// The peer's identity key.
    pub identity_key: PublicKey,
}

/// Our own keys a pre-key message refers to, looked up by the caller before decrypting.
#[derive(Clone, Copy, Debug)]
pub struct ResponderKeys<'a> {
    /// Our identity key pair.
    pub identity: &'a KeyPair,
    /// Our libsignal registration id.
    pub registration_id: u32,
    /// The signed pre-key the message names.
    pub signed_pre_key: &'a KeyPair,
    /// The one-time pre-key the message names (`None` if it names none).
    pub one_time_pre_key: Option<&'a KeyPair>,
}

/// What decrypting a pre-key message did.
#[derive(Debug)]
pub struct PreKeyDecryption {
    /// The plaintext.
    pub plaintext: Vec<u8>,
    /// Whether a new session state was built (false when the message belongs to a session
    /// already built from the same base key).
    pub new_session: bool,
    /// The one-time pre-key that was consumed and must now be deleted.
    pub used_pre_key: Option<u32>,
}

#[derive(Clone, Zeroize, ZeroizeOnDrop)]
struct ChainKey {
    key: [u8; 32],
    index: u32,
}

#[derive(Clone, Zeroize, ZeroizeOnDrop)]
struct MessageKeys {
    cipher_key: [u8; 32],
    mac_key: [u8; 32],
    iv: [u8; 16],
    counter: u32,
}

impl ChainKey {
    fn next(&self) -> Result<ChainKey> {
        let index = self
            .index
            .checked_add(1)
            .ok_or(Error::InvalidMessage("chain exhausted"))?;
        Ok(ChainKey {
            key: hmac_sha256(&self.key, &[&CHAIN_KEY_SEED]),
            index,
        })
    }

    fn message_keys(&self) -> MessageKeys {
        let mut seed = hmac_sha256(&self.key, &[&MESSAGE_KEY_SEED]);
        let mut okm: [u8; 80] = hkdf_sha256(None, &seed, b"WhisperMessageKeys");
        let mut keys = MessageKeys {
            cipher_key: [0; 32],
            mac_key: [0; 32],
            iv: [0; 16],
            counter: self.index,
        };
        keys.cipher_key.copy_from_slice(&okm[..32]);
        keys.mac_key.copy_from_slice(&okm[32..64]);
        keys.iv.copy_from_slice(&okm[64..]);
        seed.zeroize();
        okm.zeroize();
        keys
    }
}

fn split64(mut okm: [u8; 64]) -> ([u8; 32], ChainKey) {
    let mut root = [0u8; 32];
    let mut chain = [0u8; 32];
    root.copy_from_slice(&okm[..32]);
    chain.copy_from_slice(&okm[32..]);
    okm.zeroize();
    (
        root,
        ChainKey {
            key: chain,
            index: 0,
        },
    )
}

/// RootKey.createChain: a DH ratchet step.
fn create_chain(root: &[u8; 32], their: &PublicKey, ours: &PrivateKey) -> ([u8; 32], ChainKey) {
    let mut shared = ours.agree(their);
    let okm: [u8; 64] = hkdf_sha256(Some(root), &shared, b"WhisperRatchet");
    shared.zeroize();
    split64(okm)
}

fn x3dh(parts: &[[u8; 32]]) -> ([u8; 32], ChainKey) {
    let mut secrets = Vec::with_capacity(32 * (parts.len() + 1));
    secrets.extend_from_slice(&[0xff; 32]);
    for p in parts {
        secrets.extend_from_slice(p);
    }
    let okm: [u8; 64] = hkdf_sha256(None, &secrets, b"WhisperText");
    secrets.zeroize();
    split64(okm)
}

#[derive(Clone)]
struct ReceiverChain {
    ratchet_key: PublicKey,
    chain_key: ChainKey,
}

#[derive(Clone)]
struct PendingPreKey {
    pre_key_id: Option<u32>,
    signed_pre_key_id: u32,
    base_key: PublicKey,
}

#[derive(Clone)]
struct SessionState {
    local_identity: PublicKey,
    remote_identity: PublicKey,
    root_key: [u8; 32],
    previous_counter: u32,
    sender_ratchet: KeyPair,
    sender_chain: ChainKey,
    receiver_chains: VecDeque<ReceiverChain>,
    skipped: VecDeque<(PublicKey, MessageKeys)>,
    pending_pre_key: Option<PendingPreKey>,
    local_registration_id: u32,
    remote_registration_id: u32,
    alice_base_key: PublicKey,
}

impl Drop for SessionState {
    fn drop(&mut self) {
        self.root_key.zeroize();
    }
}

impl SessionState {
    fn receiver_chain_mut(&mut self, ratchet_key: &PublicKey) -> Option<&mut ReceiverChain> {
        self.receiver_chains
            .iter_mut()
            .find(|c| &c.ratchet_key == ratchet_key)
    }

    fn add_receiver_chain(&mut self, ratchet_key: PublicKey, chain_key: ChainKey) {
        self.receiver_chains.push_back(ReceiverChain {
            ratchet_key,
            chain_key,
        });
        while self.receiver_chains.len() > MAX_RECEIVER_CHAINS {
            if let Some(old) = self.receiver_chains.pop_front() {
                self.skipped.retain(|(k, _)| k != &old.ratchet_key);
            }
        }
    }

    fn encrypt(&mut self, plaintext: &[u8]) -> Result<CiphertextMessage> {
        let keys = self.sender_chain.message_keys();
        let next = self.sender_chain.next()?;
        let body = aes256_cbc_encrypt(&keys.cipher_key, &keys.iv, plaintext);
        let message = SignalMessage::new(
            &keys.mac_key,
            self.sender_ratchet.public,
            keys.counter,
            self.previous_counter,
            body,
            &self.local_identity,
            &self.remote_identity,
        );
        self.sender_chain = next;
        Ok(match &self.pending_pre_key {
            Some(p) => CiphertextMessage::PreKey(PreKeySignalMessage::new(
                self.local_registration_id,
                p.pre_key_id,
                p.signed_pre_key_id,
                p.base_key,
                self.local_identity,
                message,
            )),
            None => CiphertextMessage::Signal(message),
        })
    }

    fn decrypt<R: RngCore + CryptoRng>(
        &mut self,
        message: &SignalMessage,
        max_skip: u32,
        rng: &mut R,
    ) -> Result<Vec<u8>> {
        let keys = self.message_keys_for(&message.ratchet_key, message.counter, max_skip, rng)?;
        message.verify_mac(&keys.mac_key, &self.remote_identity, &self.local_identity)?;
        let plaintext = aes256_cbc_decrypt(&keys.cipher_key, &keys.iv, &message.ciphertext)?;
        self.pending_pre_key = None;
        Ok(plaintext)
    }

    fn message_keys_for<R: RngCore + CryptoRng>(
        &mut self,
        their_ratchet: &PublicKey,
        counter: u32,
        max_skip: u32,
        rng: &mut R,
    ) -> Result<MessageKeys> {
        if self.receiver_chain_mut(their_ratchet).is_none() {
            // DH ratchet step.
            let (root, receiving) =
                create_chain(&self.root_key, their_ratchet, &self.sender_ratchet.private);
            let new_ratchet = KeyPair::generate(rng);
            let (root, sending) = create_chain(&root, their_ratchet, &new_ratchet.private);
            self.root_key = root;
            self.add_receiver_chain(*their_ratchet, receiving);
            self.previous_counter = self.sender_chain.index.saturating_sub(1);
            self.sender_ratchet = new_ratchet;
            self.sender_chain = sending;
        }
        let Some(chain) = self
            .receiver_chains
            .iter()
            .find(|c| &c.ratchet_key == their_ratchet)
        else {
            return Err(Error::InvalidMessage("no receiving chain"));
        };
        let mut chain_key = chain.chain_key.clone();
        if chain_key.index > counter {
            let pos = self
                .skipped
                .iter()
                .position(|(k, m)| k == their_ratchet && m.counter == counter)
                .ok_or(Error::DuplicateMessage { counter })?;
            return self
                .skipped
                .remove(pos)
                .map(|(_, m)| m)
                .ok_or(Error::DuplicateMessage { counter });
        }
        if counter - chain_key.index > max_skip.min(MAX_SKIP) {
            return Err(Error::TooFarInFuture {
                counter,
                expected: chain_key.index,
            });
        }
        while chain_key.index < counter {
            self.skipped
                .push_back((*their_ratchet, chain_key.message_keys()));
            if self.skipped.len() > MAX_SKIPPED_KEYS {
                self.skipped.pop_front();
            }
            chain_key = chain_key.next()?;
        }
        let keys = chain_key.message_keys();
        let next = chain_key.next()?;
        if let Some(chain) = self.receiver_chain_mut(their_ratchet) {
            chain.chain_key = next;
        }
        Ok(keys)
    }
}

/// All states of the session with one peer device. Serialise it with
/// [`SessionRecord::to_bytes`] to keep it across restarts.
#[derive(Clone, Default)]
pub struct SessionRecord {
    current: Option<SessionState>,
    previous: VecDeque<SessionState>,
}

impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("has_current", &self.current.is_some())
            .field("archived", &self.previous.len())
            .finish()
    }
}

impl SessionRecord {
    /// An empty record (no session yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the record holds a usable session.
    pub fn has_current_state(&self) -> bool {
        self.current.is_some()
    }

    /// The peer's identity key in the current state.
    pub fn remote_identity(&self) -> Option<PublicKey> {
        self.current.as_ref().map(|s| s.remote_identity)
    }

    /// Whether the current state still wraps outgoing messages in pre-key messages (no reply
    /// received yet).
    pub fn has_unacknowledged_pre_key(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|s| s.pending_pre_key.is_some())
    }

    /// Whether any state was built from this base key (a repeated pre-key message).
    pub fn has_state_for_base_key(&self, base_key: &PublicKey) -> bool {
        self.current
            .iter()
            .chain(self.previous.iter())
            .any(|s| &s.alice_base_key == base_key)
    }

    fn promote(&mut self, state: SessionState) {
        if let Some(old) = self.current.replace(state) {
            self.previous.push_front(old);
            self.previous.truncate(MAX_ARCHIVED_STATES);
        }
    }

    /// Starts a session from a peer's bundle (X3DH as initiator). The current state, if any, is
    /// archived. Fails with [`Error::BadSignature`] if the signed pre-key's signature is bad.
    pub fn process_bundle<R: RngCore + CryptoRng>(
        &mut self,
        bundle: &PreKeyBundle,
        identity: &KeyPair,
        registration_id: u32,
        rng: &mut R,
    ) -> Result<()> {
        bundle.identity_key.verify(
            &bundle.signed_pre_key.serialize(),
            &bundle.signed_pre_key_signature,
        )?;
        let base = KeyPair::generate(rng);
        let sending_ratchet = KeyPair::generate(rng);
        let mut parts = vec![
            identity.private.agree(&bundle.signed_pre_key),
            base.private.agree(&bundle.identity_key),
            base.private.agree(&bundle.signed_pre_key),
        ];
        if let Some((_, one_time)) = &bundle.pre_key {
            parts.push(base.private.agree(one_time));
        }
        let (root, receiving) = x3dh(&parts);
        parts.zeroize();
        let (root, sending) = create_chain(&root, &bundle.signed_pre_key, &sending_ratchet.private);
        let mut receiver_chains = VecDeque::new();
        receiver_chains.push_back(ReceiverChain {
            ratchet_key: bundle.signed_pre_key,
            chain_key: receiving,
        });
        self.promote(SessionState {
            local_identity: identity.public,
            remote_identity: bundle.identity_key,
            root_key: root,
            previous_counter: 0,
            sender_ratchet: sending_ratchet,
            sender_chain: sending,
            receiver_chains,
            skipped: VecDeque::new(),
            pending_pre_key: Some(PendingPreKey {
                pre_key_id: bundle.pre_key.map(|(id, _)| id),
                signed_pre_key_id: bundle.signed_pre_key_id,
                base_key: base.public,
            }),
            local_registration_id: registration_id,
            remote_registration_id: bundle.registration_id,
            alice_base_key: base.public,
        });
        Ok(())
    }

    /// Encrypts with the current state. Until the peer has answered, the result is a pre-key
    /// message.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<CiphertextMessage> {
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(Error::TooLarge {
                what: "plaintext",
                len: plaintext.len(),
                limit: MAX_PLAINTEXT_LEN,
            });
        }
        let state = self
            .current
            .as_mut()
            .ok_or(Error::InvalidMessage("no session state"))?;
        state.encrypt(plaintext)
    }

    /// Decrypts a ratchet message with the current state or, failing that, an archived one
    /// (which then becomes current). Nothing changes unless decryption succeeds.
    pub fn decrypt<R: RngCore + CryptoRng>(
        &mut self,
        message: &SignalMessage,
        rng: &mut R,
    ) -> Result<Vec<u8>> {
        self.decrypt_skipping(message, MAX_SKIP, rng)
    }

    /// [`SessionRecord::decrypt`], skipping at most `max_skip` messages of
    /// a chain (at most [`MAX_SKIP`]): a caller that reads messages out of
    /// order (an archive read newest first) keeps those too far ahead for
    /// later instead of filling the record with skipped keys.
    pub fn decrypt_skipping<R: RngCore + CryptoRng>(
        &mut self,
        message: &SignalMessage,
        max_skip: u32,
        rng: &mut R,
    ) -> Result<Vec<u8>> {
        let first_error = match &self.current {
            None => Error::InvalidMessage("no session state"),
            Some(current) => {
                let mut state = current.clone();
                match state.decrypt(message, max_skip, rng) {
                    Ok(plaintext) => {
                        self.current = Some(state);
                        return Ok(plaintext);
                    }
                    Err(e @ Error::DuplicateMessage { .. }) => return Err(e),
                    Err(e) => e,
                }
            }
        };
        for i in 0..self.previous.len() {
            let mut state = self.previous[i].clone();
            match state.decrypt(message, max_skip, rng) {
                Ok(plaintext) => {
                    self.previous.remove(i);
                    self.promote(state);
                    return Ok(plaintext);
                }
                Err(e @ Error::DuplicateMessage { .. }) => return Err(e),
                Err(_) => {}
            }
        }
        Err(first_error)
    }

    /// Decrypts a pre-key message: uses the state already built from its base key if there is
    /// one, otherwise runs X3DH as responder with `keys` and makes the new state current.
    /// Nothing changes unless decryption succeeds.
    pub fn decrypt_pre_key<R: RngCore + CryptoRng>(
        &mut self,
        message: &PreKeySignalMessage,
        keys: Option<ResponderKeys<'_>>,
        rng: &mut R,
    ) -> Result<PreKeyDecryption> {
        self.decrypt_pre_key_skipping(message, keys, MAX_SKIP, rng)
    }

    /// [`SessionRecord::decrypt_pre_key`], skipping at most `max_skip`
    /// messages (see [`SessionRecord::decrypt_skipping`]).
    pub fn decrypt_pre_key_skipping<R: RngCore + CryptoRng>(
        &mut self,
        message: &PreKeySignalMessage,
        keys: Option<ResponderKeys<'_>>,
        max_skip: u32,
        rng: &mut R,
    ) -> Result<PreKeyDecryption> {
        if self.has_state_for_base_key(&message.base_key) {
            let mut record = self.clone();
            if record
                .current
                .as_ref()
                .is_some_and(|s| s.alice_base_key != message.base_key)
            {
                if let Some(i) = record
                    .previous
                    .iter()
                    .position(|s| s.alice_base_key == message.base_key)
                {
                    if let Some(state) = record.previous.remove(i) {
                        record.promote(state);
                    }
                }
            }
            let plaintext = record.decrypt_skipping(&message.message, max_skip, rng)?;
            *self = record;
            return Ok(PreKeyDecryption {
                plaintext,
                new_session: false,
                used_pre_key: None,
            });
        }
        let keys = keys.ok_or(Error::UnknownSignedPreKey(message.signed_pre_key_id))?;
        if message.pre_key_id.is_some() != keys.one_time_pre_key.is_some() {
            return Err(Error::UnknownPreKey(message.pre_key_id.unwrap_or(0)));
        }
        let mut parts = vec![
            keys.signed_pre_key.private.agree(&message.identity_key),
            keys.identity.private.agree(&message.base_key),
            keys.signed_pre_key.private.agree(&message.base_key),
        ];
        if let Some(one_time) = keys.one_time_pre_key {
            parts.push(one_time.private.agree(&message.base_key));
        }
        let (root, sending) = x3dh(&parts);
        parts.zeroize();
        let mut state = SessionState {
            local_identity: keys.identity.public,
            remote_identity: message.identity_key,
            root_key: root,
            previous_counter: 0,
            sender_ratchet: keys.signed_pre_key.clone(),
            sender_chain: sending,
            receiver_chains: VecDeque::new(),
            skipped: VecDeque::new(),
            pending_pre_key: None,
            local_registration_id: keys.registration_id,
            remote_registration_id: message.registration_id,
            alice_base_key: message.base_key,
        };
        let plaintext = state.decrypt(&message.message, max_skip, rng)?;
        self.promote(state);
        Ok(PreKeyDecryption {
            plaintext,
            new_session: true,
            used_pre_key: message.pre_key_id,
        })
    }

    /// Serialises the record (format byte, then a protobuf).
    pub fn to_bytes(&self) -> Vec<u8> {
        let proto = RecordProto {
            current: self.current.as_ref().map(state_to_proto),
            previous: self.previous.iter().map(state_to_proto).collect(),
        };
        let mut out = vec![RECORD_FORMAT];
        out.extend_from_slice(&proto.encode_to_vec());
        out
    }

    /// Restores a record written by [`SessionRecord::to_bytes`].
    pub fn from_bytes(data: &[u8]) -> Result<Self> {
        match data.split_first() {
            Some((&RECORD_FORMAT, body)) => {
                let proto =
                    RecordProto::decode(body).map_err(|_| Error::Malformed("session record"))?;
                if proto.previous.len() > MAX_ARCHIVED_STATES {
                    return Err(Error::Malformed("session record"));
                }
                Ok(SessionRecord {
                    current: proto.current.map(state_from_proto).transpose()?,
                    previous: proto
                        .previous
                        .into_iter()
                        .map(state_from_proto)
                        .collect::<Result<_>>()?,
                })
            }
            _ => Err(Error::Malformed("session record")),
        }
    }
}

#[derive(Clone, PartialEq, prost::Message)]
struct RecordProto {
    #[prost(message, optional, tag = "1")]
    current: Option<StateProto>,
    #[prost(message, repeated, tag = "2")]
    previous: Vec<StateProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ChainProto {
    #[prost(bytes = "vec", tag = "1")]
    ratchet_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    key: Vec<u8>,
    #[prost(uint32, tag = "3")]
    index: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SkippedProto {
    #[prost(bytes = "vec", tag = "1")]
    ratchet_key: Vec<u8>,
    #[prost(uint32, tag = "2")]
    counter: u32,
    #[prost(bytes = "vec", tag = "3")]
    cipher_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    mac_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    iv: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct StateProto {
    #[prost(bytes = "vec", tag = "1")]
    local_identity: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    remote_identity: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    root_key: Vec<u8>,
    #[prost(uint32, tag = "4")]
    previous_counter: u32,
    #[prost(bytes = "vec", tag = "5")]
    sender_ratchet_private: Vec<u8>,
    #[prost(bytes = "vec", tag = "6")]
    sender_chain_key: Vec<u8>,
    #[prost(uint32, tag = "7")]
    sender_chain_index: u32,
    #[prost(message, repeated, tag = "8")]
    receiver_chains: Vec<ChainProto>,
    #[prost(message, repeated, tag = "9")]
    skipped: Vec<SkippedProto>,
    #[prost(uint32, optional, tag = "10")]
    pending_signed_pre_key_id: Option<u32>,
    #[prost(uint32, optional, tag = "11")]
    pending_pre_key_id: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "12")]
    pending_base_key: Option<Vec<u8>>,
    #[prost(uint32, tag = "13")]
    local_registration_id: u32,
    #[prost(uint32, tag = "14")]
    remote_registration_id: u32,
    #[prost(bytes = "vec", tag = "15")]
    alice_base_key: Vec<u8>,
    /// The public half of the sending ratchet key, so that loading a record
    /// costs no scalar multiplication (absent in older records).
    #[prost(bytes = "vec", optional, tag = "16")]
    sender_ratchet_public: Option<Vec<u8>>,
}

fn state_to_proto(s: &SessionState) -> StateProto {
    StateProto {
        local_identity: s.local_identity.as_bytes().to_vec(),
        remote_identity: s.remote_identity.as_bytes().to_vec(),
        root_key: s.root_key.to_vec(),
        previous_counter: s.previous_counter,
        sender_ratchet_private: s.sender_ratchet.private.to_bytes().to_vec(),
        sender_ratchet_public: Some(s.sender_ratchet.public.as_bytes().to_vec()),
        sender_chain_key: s.sender_chain.key.to_vec(),
        sender_chain_index: s.sender_chain.index,
        receiver_chains: s
            .receiver_chains
            .iter()
            .map(|c| ChainProto {
                ratchet_key: c.ratchet_key.as_bytes().to_vec(),
                key: c.chain_key.key.to_vec(),
                index: c.chain_key.index,
            })
            .collect(),
        skipped: s
            .skipped
            .iter()
            .map(|(k, m)| SkippedProto {
                ratchet_key: k.as_bytes().to_vec(),
                counter: m.counter,
                cipher_key: m.cipher_key.to_vec(),
                mac_key: m.mac_key.to_vec(),
                iv: m.iv.to_vec(),
            })
            .collect(),
        pending_signed_pre_key_id: s.pending_pre_key.as_ref().map(|p| p.signed_pre_key_id),
        pending_pre_key_id: s.pending_pre_key.as_ref().and_then(|p| p.pre_key_id),
        pending_base_key: s
            .pending_pre_key
            .as_ref()
            .map(|p| p.base_key.as_bytes().to_vec()),
        local_registration_id: s.local_registration_id,
        remote_registration_id: s.remote_registration_id,
        alice_base_key: s.alice_base_key.as_bytes().to_vec(),
    }
}

fn arr<const N: usize>(v: &[u8]) -> Result<[u8; N]> {
    v.try_into().map_err(|_| Error::Malformed("session record"))
}

fn key(v: &[u8]) -> Result<PublicKey> {
    arr::<32>(v).map(PublicKey::from_bytes)
}

fn state_from_proto(p: StateProto) -> Result<SessionState> {
    if p.receiver_chains.len() > MAX_RECEIVER_CHAINS || p.skipped.len() > MAX_SKIPPED_KEYS {
        return Err(Error::Malformed("session record"));
    }
    let pending_pre_key = match (p.pending_signed_pre_key_id, &p.pending_base_key) {
        (Some(signed_pre_key_id), Some(base)) => Some(PendingPreKey {
            pre_key_id: p.pending_pre_key_id,
            signed_pre_key_id,
            base_key: key(base)?,
        }),
        (None, None) => None,
        _ => return Err(Error::Malformed("session record")),
    };
    Ok(SessionState {
        local_identity: key(&p.local_identity)?,
        remote_identity: key(&p.remote_identity)?,
        root_key: arr(&p.root_key)?,
        previous_counter: p.previous_counter,
        sender_ratchet: {
            let private = PrivateKey::from_bytes(arr(&p.sender_ratchet_private)?);
            match &p.sender_ratchet_public {
                Some(public) => KeyPair {
                    public: key(public)?,
                    private,
                },
                None => KeyPair::from_private(private),
            }
        },
        sender_chain: ChainKey {
            key: arr(&p.sender_chain_key)?,
            index: p.sender_chain_index,
        },
        receiver_chains: p
            .receiver_chains
            .iter()
            .map(|c| {
                Ok(ReceiverChain {
                    ratchet_key: key(&c.ratchet_key)?,
                    chain_key: ChainKey {
                        key: arr(&c.key)?,
                        index: c.index,
                    },
                })
            })
            .collect::<Result<_>>()?,
        skipped: p
            .skipped
            .iter()
            .map(|s| {
                Ok((
                    key(&s.ratchet_key)?,
                    MessageKeys {
                        cipher_key: arr(&s.cipher_key)?,
                        mac_key: arr(&s.mac_key)?,
                        iv: arr(&s.iv)?,
                        counter: s.counter,
                    },
                ))
            })
            .collect::<Result<_>>()?,
        pending_pre_key,
        local_registration_id: p.local_registration_id,
        remote_registration_id: p.remote_registration_id,
        alice_base_key: key(&p.alice_base_key)?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    struct Device {
        identity: KeyPair,
        signed: KeyPair,
        one_time: KeyPair,
    }

    impl Device {
        fn new() -> Self {
            Device {
                identity: KeyPair::generate(&mut OsRng),
                signed: KeyPair::generate(&mut OsRng),
                one_time: KeyPair::generate(&mut OsRng),
            }
        }

        fn bundle(&self, with_one_time: bool) -> PreKeyBundle {
            PreKeyBundle {
                registration_id: 7,
                pre_key: with_one_time.then_some((31, self.one_time.public)),
                signed_pre_key_id: 3,
                signed_pre_key: self.signed.public,
                signed_pre_key_signature: self
                    .identity
                    .private
                    .sign(&self.signed.public.serialize(), &mut OsRng)
                    .to_vec(),
                identity_key: self.identity.public,
            }
        }

        fn keys(&self, with_one_time: bool) -> ResponderKeys<'_> {
            ResponderKeys {
                identity: &self.identity,
                registration_id: 9,
                signed_pre_key: &self.signed,
                one_time_pre_key: with_one_time.then_some(&self.one_time),
            }
        }
    }

    fn pre_key(m: CiphertextMessage) -> PreKeySignalMessage {
        match m {
            CiphertextMessage::PreKey(m) => m,
            CiphertextMessage::Signal(_) => panic!("expected a pre-key message"),
        }
    }

    fn signal(m: CiphertextMessage) -> SignalMessage {
        match m {
            CiphertextMessage::Signal(m) => m,
            CiphertextMessage::PreKey(_) => panic!("expected a signal message"),
        }
    }

    /// Alice starts, Bob answers: returns both records after one round trip.
    fn established(with_one_time: bool) -> (SessionRecord, SessionRecord, Device, Device) {
        let alice = Device::new();
        let bob = Device::new();
        let mut a = SessionRecord::new();
        a.process_bundle(&bob.bundle(with_one_time), &alice.identity, 1, &mut OsRng)
            .unwrap();
        let m = pre_key(a.encrypt(b"hi bob").unwrap());
        assert_eq!(m.pre_key_id, with_one_time.then_some(31));
        let mut b = SessionRecord::new();
        let out = b
            .decrypt_pre_key(&m, Some(bob.keys(with_one_time)), &mut OsRng)
            .unwrap();
        assert_eq!(out.plaintext, b"hi bob");
        assert!(out.new_session);
        let reply = signal(b.encrypt(b"hi alice").unwrap());
        assert_eq!(a.decrypt(&reply, &mut OsRng).unwrap(), b"hi alice");
        assert!(!a.has_unacknowledged_pre_key());
        (a, b, alice, bob)
    }

    #[test]
    fn x3dh_with_and_without_one_time_pre_key() {
        established(true);
        established(false);
    }

    #[test]
    fn pre_key_messages_repeat_until_answered_and_reuse_the_state() {
        let alice = Device::new();
        let bob = Device::new();
        let mut a = SessionRecord::new();
        a.process_bundle(&bob.bundle(true), &alice.identity, 1, &mut OsRng)
            .unwrap();
        let m1 = pre_key(a.encrypt(b"one").unwrap());
        let m2 = pre_key(a.encrypt(b"two").unwrap());
        assert_eq!(m1.base_key, m2.base_key);
        let mut b = SessionRecord::new();
        // The second arrives first; the one-time key is then gone for the first.
        let out = b
            .decrypt_pre_key(&m2, Some(bob.keys(true)), &mut OsRng)
            .unwrap();
        assert_eq!(
            (out.plaintext.as_slice(), out.new_session),
            (&b"two"[..], true)
        );
        assert!(b.has_state_for_base_key(&m1.base_key));
        let out = b.decrypt_pre_key(&m1, None, &mut OsRng).unwrap();
        assert_eq!(
            (out.plaintext.as_slice(), out.new_session),
            (&b"one"[..], false)
        );
        assert_eq!(out.used_pre_key, None);
        // Replaying a pre-key message is a duplicate.
        assert!(matches!(
            b.decrypt_pre_key(&m1, None, &mut OsRng),
            Err(Error::DuplicateMessage { counter: 0 })
        ));
    }

    #[test]
    fn ratchet_steps_over_many_round_trips() {
        let (mut a, mut b, ..) = established(true);
        for round in 0..10u32 {
            for i in 0..=round % 3 {
                let text = format!("a{round}.{i}");
                let m = signal(a.encrypt(text.as_bytes()).unwrap());
                assert_eq!(b.decrypt(&m, &mut OsRng).unwrap(), text.as_bytes());
            }
            let text = format!("b{round}");
            let m = signal(b.encrypt(text.as_bytes()).unwrap());
            assert_eq!(a.decrypt(&m, &mut OsRng).unwrap(), text.as_bytes());
        }
    }

    #[test]
    fn out_of_order_across_chains() {
        let (mut a, mut b, ..) = established(true);
        let early: Vec<_> = (0..3).map(|i| signal(a.encrypt(&[i]).unwrap())).collect();
        // Bob answers after seeing only the last one; Alice ratchets; older ones arrive later.
        assert_eq!(b.decrypt(&early[2], &mut OsRng).unwrap(), [2]);
        let r = signal(b.encrypt(b"r").unwrap());
        a.decrypt(&r, &mut OsRng).unwrap();
        let late = signal(a.encrypt(b"late").unwrap());
        assert_eq!(b.decrypt(&late, &mut OsRng).unwrap(), b"late");
        assert_eq!(b.decrypt(&early[0], &mut OsRng).unwrap(), [0]);
        assert_eq!(b.decrypt(&early[1], &mut OsRng).unwrap(), [1]);
        assert!(matches!(
            b.decrypt(&early[1], &mut OsRng),
            Err(Error::DuplicateMessage { counter: 1 })
        ));
    }

    #[test]
    fn refuses_to_skip_too_far() {
        let (mut a, mut b, ..) = established(true);
        let mut last = None;
        for _ in 0..=MAX_SKIP + 1 {
            last = Some(signal(a.encrypt(b"x").unwrap()));
        }
        let last = last.unwrap();
        assert!(matches!(
            b.decrypt(&last, &mut OsRng),
            Err(Error::TooFarInFuture { .. })
        ));
        // Exactly MAX_SKIP ahead is fine.
        let (mut a, mut b, ..) = established(true);
        for _ in 0..MAX_SKIP {
            a.encrypt(b"x").unwrap();
        }
        let m = signal(a.encrypt(b"ok").unwrap());
        assert_eq!(b.decrypt(&m, &mut OsRng).unwrap(), b"ok");
    }

    /// Read newest first (an archive), a message too far ahead for the
    /// caller's limit fails and changes nothing; read again in order, all
    /// decrypt, and no skipped key was kept along the way.
    #[test]
    fn a_caller_limit_keeps_far_messages_for_later() {
        let (mut a, mut b, ..) = established(true);
        let msgs: Vec<_> = (0..10u8)
            .map(|i| signal(a.encrypt(&[i]).unwrap()))
            .collect();
        let before = b.clone();
        assert!(matches!(
            b.decrypt_skipping(&msgs[9], 3, &mut OsRng),
            Err(Error::TooFarInFuture { counter: 9, .. })
        ));
        assert!(b.to_bytes() == before.to_bytes(), "nothing changed");
        // Within the limit, it skips as usual.
        assert_eq!(b.decrypt_skipping(&msgs[2], 3, &mut OsRng).unwrap(), [2]);
        for i in [0usize, 1, 3, 4, 5, 6, 7, 8, 9] {
            assert_eq!(
                b.decrypt_skipping(&msgs[i], 3, &mut OsRng).unwrap(),
                [i as u8]
            );
        }
        assert!(b.current.as_ref().unwrap().skipped.is_empty());
    }

    #[test]
    fn bad_mac_leaves_the_session_untouched() {
        let (mut a, mut b, ..) = established(true);
        let m = signal(a.encrypt(b"secret").unwrap());
        let mut bytes = m.serialized().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let forged = SignalMessage::decode(&bytes).unwrap();
        let before = b.to_bytes();
        assert!(matches!(b.decrypt(&forged, &mut OsRng), Err(Error::BadMac)));
        assert_eq!(b.to_bytes(), before);
        assert_eq!(b.decrypt(&m, &mut OsRng).unwrap(), b"secret");
    }

    #[test]
    fn wrong_identity_in_mac_fails() {
        let (mut a, _b, _alice, bob) = established(true);
        let m = signal(a.encrypt(b"x").unwrap());
        // A third party with a session state of its own cannot authenticate it.
        let (_, mut c, ..) = established(true);
        assert!(c.decrypt(&m, &mut OsRng).is_err());
        let _ = bob;
    }

    #[test]
    fn bundle_with_bad_signature_is_rejected() {
        let alice = Device::new();
        let bob = Device::new();
        let mut bundle = bob.bundle(true);
        bundle.signed_pre_key_signature[0] ^= 1;
        let mut a = SessionRecord::new();
        assert!(matches!(
            a.process_bundle(&bundle, &alice.identity, 1, &mut OsRng),
            Err(Error::BadSignature)
        ));
        assert!(!a.has_current_state());
    }

    #[test]
    fn pre_key_message_needs_the_named_keys() {
        let alice = Device::new();
        let bob = Device::new();
        let mut a = SessionRecord::new();
        a.process_bundle(&bob.bundle(true), &alice.identity, 1, &mut OsRng)
            .unwrap();
        let m = pre_key(a.encrypt(b"x").unwrap());
        let mut b = SessionRecord::new();
        assert!(matches!(
            b.decrypt_pre_key(&m, Some(bob.keys(false)), &mut OsRng),
            Err(Error::UnknownPreKey(31))
        ));
        assert!(matches!(
            b.decrypt_pre_key(&m, None, &mut OsRng),
            Err(Error::UnknownSignedPreKey(3))
        ));
        // Wrong signed pre-key: the MAC fails and nothing is stored.
        let other = Device::new();
        let keys = ResponderKeys {
            signed_pre_key: &other.signed,
            ..bob.keys(true)
        };
        assert!(matches!(
            b.decrypt_pre_key(&m, Some(keys), &mut OsRng),
            Err(Error::BadMac)
        ));
        assert!(!b.has_current_state());
    }

    #[test]
    fn no_state_errors() {
        let mut r = SessionRecord::new();
        assert!(r.encrypt(b"x").is_err());
        let (mut a, ..) = established(true);
        let m = signal(a.encrypt(b"x").unwrap());
        assert!(matches!(
            r.decrypt(&m, &mut OsRng),
            Err(Error::InvalidMessage(_))
        ));
        assert!(matches!(
            r.encrypt(&vec![0; MAX_PLAINTEXT_LEN + 1]),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn rebuilt_session_archives_the_old_state() {
        let (mut a, mut b, alice, bob) = established(true);
        let in_flight = signal(b.encrypt(b"old session").unwrap());
        // Alice rebuilds from a fresh bundle (as after a broken session).
        a.process_bundle(&bob.bundle(false), &alice.identity, 1, &mut OsRng)
            .unwrap();
        let m = pre_key(a.encrypt(b"new").unwrap());
        let out = b
            .decrypt_pre_key(&m, Some(bob.keys(false)), &mut OsRng)
            .unwrap();
        assert!(out.new_session);
        // Alice still decrypts what Bob sent on the old session.
        assert_eq!(a.decrypt(&in_flight, &mut OsRng).unwrap(), b"old session");
    }

    #[test]
    fn serialized_session_keeps_decrypting() {
        let (mut a, b, ..) = established(true);
        let skipped = signal(a.encrypt(b"skipped").unwrap());
        let next = signal(a.encrypt(b"next").unwrap());
        let mut b = SessionRecord::from_bytes(&b.to_bytes()).unwrap();
        assert_eq!(b.decrypt(&next, &mut OsRng).unwrap(), b"next");
        let bytes = b.to_bytes();
        drop(b);
        let mut b = SessionRecord::from_bytes(&bytes).unwrap();
        assert_eq!(b.decrypt(&skipped, &mut OsRng).unwrap(), b"skipped");
        let reply = signal(b.encrypt(b"reply").unwrap());
        let mut a = SessionRecord::from_bytes(&a.to_bytes()).unwrap();
        assert_eq!(a.decrypt(&reply, &mut OsRng).unwrap(), b"reply");
    }

    #[test]
    fn records_without_the_stored_ratchet_public_key_still_load() {
        let (a, mut b, ..) = established(true);
        let current = b.current.as_ref().unwrap().sender_ratchet.public;
        // A record as written before the public half was stored.
        let mut proto = RecordProto::decode(&b.to_bytes()[1..]).unwrap();
        for s in proto.current.iter_mut().chain(proto.previous.iter_mut()) {
            assert!(s.sender_ratchet_public.is_some());
            s.sender_ratchet_public = None;
        }
        let mut old = vec![RECORD_FORMAT];
        old.extend_from_slice(&proto.encode_to_vec());
        let mut restored = SessionRecord::from_bytes(&old).unwrap();
        assert_eq!(
            restored.current.as_ref().unwrap().sender_ratchet.public,
            current
        );
        let msg = signal(restored.encrypt(b"still works").unwrap());
        let mut a = SessionRecord::from_bytes(&a.to_bytes()).unwrap();
        assert_eq!(a.decrypt(&msg, &mut OsRng).unwrap(), b"still works");
        // A stored public key of the wrong length is a corrupt record.
        proto.current.as_mut().unwrap().sender_ratchet_public = Some(vec![1, 2, 3]);
        let mut bad = vec![RECORD_FORMAT];
        bad.extend_from_slice(&proto.encode_to_vec());
        assert!(SessionRecord::from_bytes(&bad).is_err());
        let _ = b.encrypt(b"x");
    }

    #[test]
    fn corrupt_records_are_errors() {
        let (a, ..) = established(true);
        let bytes = a.to_bytes();
        assert!(SessionRecord::from_bytes(&[]).is_err());
        assert!(SessionRecord::from_bytes(&[9]).is_err());
        for cut in [5, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                SessionRecord::from_bytes(&bytes[..cut]).is_err(),
                "cut {cut}"
            );
        }
        assert!(SessionRecord::from_bytes(&[1])
            .unwrap()
            .encrypt(b"x")
            .is_err());
    }
}
