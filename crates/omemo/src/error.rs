//! The error type of this crate.

/// Everything that can go wrong while handling OMEMO data.
///
/// Every variant is reachable from malformed or malicious input; none of them is a panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A public key was not 33 bytes starting with the Curve25519 type byte `0x05`.
    #[error("invalid public key encoding")]
    InvalidKey,
    /// An XEdDSA signature did not verify (for example a signed pre-key in a bundle).
    #[error("bad signature")]
    BadSignature,
    /// An input was larger than this crate accepts.
    #[error("{what} too large: {len} bytes, limit {limit}")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A message or record could not be decoded (truncated protobuf, missing field, ...).
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The message declares a protocol version other than 3.
    #[error("unsupported message version {0}")]
    UnsupportedVersion(u8),
    /// The message authentication code did not match.
    #[error("message authentication failed")]
    BadMac,
    /// A pre-key message names a one-time pre-key this device does not have (used or never
    /// published).
    #[error("unknown pre-key {0}")]
    UnknownPreKey(u32),
    /// A pre-key message names a signed pre-key this device does not have.
    #[error("unknown signed pre-key {0}")]
    UnknownSignedPreKey(u32),
    /// There is no session with the sending device and the message is not a pre-key message.
    #[error("no session with {jid} device {device_id}")]
    NoSession {
        /// The peer's bare JID.
        jid: String,
        /// The peer's device id.
        device_id: u32,
    },
    /// The message was already decrypted (replay), or is older than the kept skipped keys.
    #[error("duplicate or too old message (counter {counter})")]
    DuplicateMessage {
        /// The counter of the rejected message.
        counter: u32,
    },
    /// The message is further ahead in its chain than this crate is willing to skip.
    #[error("message {counter} is too far ahead of {expected} in its chain")]
    TooFarInFuture {
        /// The counter of the rejected message.
        counter: u32,
        /// The next counter this session expected.
        expected: u32,
    },
    /// The session cannot decrypt this message (no chain matches and none can be created).
    #[error("invalid message for this session: {0}")]
    InvalidMessage(&'static str),
    /// Symmetric decryption failed (bad padding or bad GCM tag).
    #[error("decryption failed")]
    DecryptionFailed,
    /// A device presented an identity key different from the one stored for it.
    #[error("identity key of {jid} device {device_id} changed")]
    IdentityMismatch {
        /// The peer's bare JID.
        jid: String,
        /// The peer's device id.
        device_id: u32,
    },
    /// A bundle was incomplete or invalid.
    #[error("invalid bundle: {0}")]
    InvalidBundle(&'static str),
    /// An encrypted element carries no key for this device.
    #[error("message is not encrypted for this device")]
    NotForThisDevice,
    /// The element was sent by this very device (a reflection or carbon of our own message).
    #[error("message was sent by this device")]
    SentByThisDevice,
    /// No device of a recipient could be encrypted for.
    #[error("no trusted device with a session for {0}")]
    NoUsableDevices(String),
    /// A trust URI or fingerprint could not be parsed.
    #[error("invalid fingerprint or trust URI")]
    InvalidFingerprint,
    /// The own identity has not been created yet (call `Omemo::load_or_create`).
    #[error("own identity not initialised")]
    NoIdentity,
    /// The store failed.
    #[error("store: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// Wraps a store implementation's error.
    pub fn store(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Store(Box::new(err))
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
