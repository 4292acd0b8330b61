//! Sans-I/O OMEMO 0.3 (`eu.siacs.conversations.axolotl`) for Tern.
//!
//! Layers, bottom up:
//! - [`keys`], [`crypto`]: Curve25519 keys, X25519, XEdDSA, HKDF/HMAC-SHA256, AES-CBC/GCM.
//! - [`message`]: libsignal v3 `SignalMessage` / `PreKeySignalMessage` wire format.
//! - [`session`]: X3DH and the Double Ratchet as libsignal does them.

pub mod crypto;
pub mod error;
pub mod keys;
pub mod message;
mod proto;
pub mod session;

pub use error::{Error, Result};
