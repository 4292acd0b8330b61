//! libsignal v3 messages: [`SignalMessage`] and [`PreKeySignalMessage`].
//!
//! A serialised `SignalMessage` is `version || protobuf || mac[..8]`, where the version byte is
//! `0x33` and the MAC is HMAC-SHA256 under the message's MAC key over
//! `sender_identity || receiver_identity || version || protobuf` (identity keys 0x05-prefixed).
//! A serialised `PreKeySignalMessage` is `version || protobuf` and carries a whole
//! `SignalMessage` in its `message` field.

use prost::Message as _;
use subtle::ConstantTimeEq;

use crate::crypto::hmac_sha256;
use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::proto::{PreKeySignalMessageProto, SignalMessageProto};

/// The only protocol version OMEMO 0.3 speaks.
pub const CIPHERTEXT_VERSION: u8 = 3;
/// The version byte: the message version in the high nibble, the sender's current version in the
/// low nibble.
pub const VERSION_BYTE: u8 = (CIPHERTEXT_VERSION << 4) | CIPHERTEXT_VERSION;
/// Length of the truncated MAC.
pub const MAC_LEN: usize = 8;
/// The largest serialised message this crate decodes.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

fn check_version_and_size(data: &[u8], min: usize) -> Result<()> {
    if data.len() > MAX_MESSAGE_LEN {
        return Err(Error::TooLarge {
            what: "message",
            len: data.len(),
            limit: MAX_MESSAGE_LEN,
        });
    }
    let Some(&version) = data.first() else {
        return Err(Error::Malformed("empty message"));
    };
    if version >> 4 != CIPHERTEXT_VERSION {
        return Err(Error::UnsupportedVersion(version));
    }
    if data.len() < min {
        return Err(Error::Malformed("truncated message"));
    }
    Ok(())
}

/// A Double Ratchet message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalMessage {
    /// The sender's current ratchet key.
    pub ratchet_key: PublicKey,
    /// Index of this message in the sender's chain.
    pub counter: u32,
    /// Length of the sender's previous chain.
    pub previous_counter: u32,
    /// The AES-256-CBC encrypted body.
    pub ciphertext: Vec<u8>,
    serialized: Vec<u8>,
}

impl SignalMessage {
    /// Builds and MACs a message.
    pub(crate) fn new(
        mac_key: &[u8; 32],
        ratchet_key: PublicKey,
        counter: u32,
        previous_counter: u32,
        ciphertext: Vec<u8>,
        sender_identity: &PublicKey,
        receiver_identity: &PublicKey,
    ) -> Self {
        let proto = SignalMessageProto {
            ratchet_key: Some(ratchet_key.serialize().to_vec()),
            counter: Some(counter),
            previous_counter: Some(previous_counter),
            ciphertext: Some(ciphertext.clone()),
        };
        let mut serialized = Vec::with_capacity(1 + proto.encoded_len() + MAC_LEN);
        serialized.push(VERSION_BYTE);
        serialized.extend_from_slice(&proto.encode_to_vec());
        let mac = compute_mac(mac_key, sender_identity, receiver_identity, &serialized);
        serialized.extend_from_slice(&mac);
        SignalMessage {
            ratchet_key,
            counter,
            previous_counter,
            ciphertext,
            serialized,
        }
    }

    /// Parses a serialised message (without checking the MAC, which needs the session).
    pub fn decode(data: &[u8]) -> Result<Self> {
        check_version_and_size(data, 1 + MAC_LEN)?;
        let body = &data[1..data.len() - MAC_LEN];
        let proto =
            SignalMessageProto::decode(body).map_err(|_| Error::Malformed("SignalMessage"))?;
        let (Some(ratchet_key), Some(counter), Some(ciphertext)) =
            (proto.ratchet_key, proto.counter, proto.ciphertext)
        else {
            return Err(Error::Malformed("SignalMessage: missing field"));
        };
        Ok(SignalMessage {
            ratchet_key: PublicKey::decode(&ratchet_key)?,
            counter,
            previous_counter: proto.previous_counter.unwrap_or(0),
            ciphertext,
            serialized: data.to_vec(),
        })
    }

    /// Checks the truncated MAC in constant time.
    pub fn verify_mac(
        &self,
        mac_key: &[u8; 32],
        sender_identity: &PublicKey,
        receiver_identity: &PublicKey,
    ) -> Result<()> {
        let split = self.serialized.len() - MAC_LEN;
        let (signed, mac) = self.serialized.split_at(split);
        let expected = compute_mac(mac_key, sender_identity, receiver_identity, signed);
        if bool::from(expected.ct_eq(mac)) {
            Ok(())
        } else {
            Err(Error::BadMac)
        }
    }

    /// The serialised form.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }
}

fn compute_mac(
    mac_key: &[u8; 32],
    sender_identity: &PublicKey,
    receiver_identity: &PublicKey,
    data: &[u8],
) -> [u8; MAC_LEN] {
    let full = hmac_sha256(
        mac_key,
        &[
            &sender_identity.serialize(),
            &receiver_identity.serialize(),
            data,
        ],
    );
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(&full[..MAC_LEN]);
    out
}

/// The first messages of a session: a [`SignalMessage`] plus what the receiver needs to run
/// X3DH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeySignalMessage {
    /// The sender's libsignal registration id (informational).
    pub registration_id: u32,
    /// The receiver's one-time pre-key the sender used, if any.
    pub pre_key_id: Option<u32>,
    /// The receiver's signed pre-key the sender used.
    pub signed_pre_key_id: u32,
    /// The sender's ephemeral base key.
    pub base_key: PublicKey,
    /// The sender's identity key.
    pub identity_key: PublicKey,
    /// The inner message.
    pub message: SignalMessage,
    serialized: Vec<u8>,
}

impl PreKeySignalMessage {
    /// Builds a pre-key message around `message`.
    pub(crate) fn new(
        registration_id: u32,
        pre_key_id: Option<u32>,
        signed_pre_key_id: u32,
        base_key: PublicKey,
        identity_key: PublicKey,
        message: SignalMessage,
    ) -> Self {
        let proto = PreKeySignalMessageProto {
            pre_key_id,
            base_key: Some(base_key.serialize().to_vec()),
            identity_key: Some(identity_key.serialize().to_vec()),
            message: Some(message.serialized.clone()),
            registration_id: Some(registration_id),
            signed_pre_key_id: Some(signed_pre_key_id),
        };
        let mut serialized = Vec::with_capacity(1 + proto.encoded_len());
        serialized.push(VERSION_BYTE);
        serialized.extend_from_slice(&proto.encode_to_vec());
        PreKeySignalMessage {
            registration_id,
            pre_key_id,
            signed_pre_key_id,
            base_key,
            identity_key,
            message,
            serialized,
        }
    }

    /// Parses a serialised pre-key message, including its inner message.
    pub fn decode(data: &[u8]) -> Result<Self> {
        check_version_and_size(data, 1)?;
        let proto = PreKeySignalMessageProto::decode(&data[1..])
            .map_err(|_| Error::Malformed("PreKeySignalMessage"))?;
        let (Some(base_key), Some(identity_key), Some(message), Some(signed_pre_key_id)) = (
            proto.base_key,
            proto.identity_key,
            proto.message,
            proto.signed_pre_key_id,
        ) else {
            return Err(Error::Malformed("PreKeySignalMessage: missing field"));
        };
        Ok(PreKeySignalMessage {
            registration_id: proto.registration_id.unwrap_or(0),
            pre_key_id: proto.pre_key_id,
            signed_pre_key_id,
            base_key: PublicKey::decode(&base_key)?,
            identity_key: PublicKey::decode(&identity_key)?,
            message: SignalMessage::decode(&message)?,
            serialized: data.to_vec(),
        })
    }

    /// The serialised form.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }
}

/// Either kind of message, as carried in an OMEMO `<key/>` element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CiphertextMessage {
    /// A pre-key message (the `<key prekey="true"/>` case).
    PreKey(PreKeySignalMessage),
    /// A plain ratchet message.
    Signal(SignalMessage),
}

impl CiphertextMessage {
    /// The serialised form.
    pub fn serialized(&self) -> &[u8] {
        match self {
            CiphertextMessage::PreKey(m) => m.serialized(),
            CiphertextMessage::Signal(m) => m.serialized(),
        }
    }

    /// Whether this is a pre-key message.
    pub fn is_pre_key(&self) -> bool {
        matches!(self, CiphertextMessage::PreKey(_))
    }
}
