//! Sans-I/O OMEMO 0.3 (`eu.siacs.conversations.axolotl`) for Tern.
//!
//! Push in what arrives (device lists, bundles, `<encrypted/>` elements), pull out elements to
//! send and [`Event`]s to act on; persistence goes through the [`Store`] trait. No network.
//!
//! Layers, bottom up:
//! - [`keys`], [`crypto`]: Curve25519 keys, X25519, XEdDSA, HKDF/HMAC-SHA256, AES-CBC/GCM.
//! - [`message`]: libsignal v3 `SignalMessage` / `PreKeySignalMessage` wire format.
//! - [`session`]: X3DH and the Double Ratchet as libsignal does them.
//! - [`payload`]: OMEMO 0.3 AES-128-GCM payloads and key transport.
//! - [`trust`]: fingerprints, trust states, `xmpp:` verification URIs.
//! - [`store`]: the [`Store`] trait and [`MemoryStore`].
//! - [`Omemo`]: the account-level state machine over `xmpp_parsers::legacy_omemo` elements.

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod crypto;
pub mod error;
pub mod keys;
pub mod message;
mod omemo;
pub mod payload;
mod proto;
pub mod session;
pub mod store;
pub mod trust;

pub use error::{Error, Result};
pub use omemo::{
    parse_bundle, parse_key, Config, DecryptBatch, Decrypted, DeviceInfo, EncryptOutput, Event,
    Omemo, MAX_DEVICES_PER_LIST, MAX_KEYS_PER_ELEMENT, MAX_PRE_KEYS_PER_BUNDLE,
};
pub use store::{DeviceAddress, DeviceRecord, MemoryStore, Store};
pub use trust::{Trust, TrustUri};
pub use xmpp_parsers::jid::BareJid;
pub use xmpp_parsers::legacy_omemo;
