//! Hand-written protobuf structures of libsignal's wire format (protocol version 3), as used by
//! OMEMO 0.3. Field numbers follow libsignal's `WhisperTextProtocol.proto`.

/// `SignalMessage` (historically `WhisperMessage`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SignalMessageProto {
    /// The sender's current ratchet public key, 0x05-prefixed.
    #[prost(bytes = "vec", optional, tag = "1")]
    pub ratchet_key: Option<Vec<u8>>,
    /// Index of the message key in the sending chain.
    #[prost(uint32, optional, tag = "2")]
    pub counter: Option<u32>,
    /// Length of the sender's previous sending chain.
    #[prost(uint32, optional, tag = "3")]
    pub previous_counter: Option<u32>,
    /// AES-256-CBC ciphertext.
    #[prost(bytes = "vec", optional, tag = "4")]
    pub ciphertext: Option<Vec<u8>>,
}

/// `PreKeySignalMessage` (historically `PreKeyWhisperMessage`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PreKeySignalMessageProto {
    /// The one-time pre-key used, if any.
    #[prost(uint32, optional, tag = "1")]
    pub pre_key_id: Option<u32>,
    /// The sender's ephemeral base key, 0x05-prefixed.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub base_key: Option<Vec<u8>>,
    /// The sender's identity key, 0x05-prefixed.
    #[prost(bytes = "vec", optional, tag = "3")]
    pub identity_key: Option<Vec<u8>>,
    /// The serialised inner `SignalMessage`.
    #[prost(bytes = "vec", optional, tag = "4")]
    pub message: Option<Vec<u8>>,
    /// The sender's libsignal registration id.
    #[prost(uint32, optional, tag = "5")]
    pub registration_id: Option<u32>,
    /// The signed pre-key used.
    #[prost(uint32, optional, tag = "6")]
    pub signed_pre_key_id: Option<u32>,
}
