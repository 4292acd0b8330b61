//! Tern's engine: accounts, secure connections and the typed event API.
//!
//! This crate knows nothing about windows or webviews. The desktop shell
//! calls [`Client`] methods and forwards [`ClientEvent`]s to the UI; tests
//! drive it headless against real servers.
//!
//! Layout, one concept per module:
//! - [`client`]: the [`Client`] and its account management;
//! - `account`: one account's connection task and reconnect policy;
//! - `connect`: resolve, TCP, STARTTLS / direct TLS (XEP-0368), SASL;
//! - [`resolve`]: DNS SRV lookup and the manual host/port override;
//! - [`tls`]: the platform verifier plus per-account certificate pinning;
//! - [`register`]: XEP-0077 in-band registration;
//! - [`passwords`]: the OS keychain;
//! - [`events`]: snapshot + change stream for the UI;
//! - `roster`: contacts, presence, subscriptions (RFC 6121);
//! - `chat`: reading and building 1:1 messages (one helper per XEP);
//! - `messaging`: the ordered inbound pipeline and outgoing messages;
//! - `mam`: archive catch-up and scroll-back (XEP-0313);
//! - `session`: what a new session does first;
//! - `blocking`: XEP-0191 blocklist;
//! - `caps`: service discovery and entity capabilities (XEP-0030/0115);
//! - `profile`: avatars, nicknames, vCards (XEP-0084/0153/0172/0054).

#![warn(missing_docs)]

mod account;
mod api;
pub mod error;
pub mod events;
mod inbound;
mod net;
mod outbound;
pub mod passwords;
mod services;
mod xep;

pub use api::client;
pub use api::encryption::EncryptionView;
pub use api::files::{MediaPart, UploadView};
pub use api::rooms::parse_room_address;
pub use client::{parse_account_jid, Client, ClientConfig, NewAccount, Privacy};
pub use error::{ConnectError, Error, Result};
pub use events::{
    AccountState, AccountView, CallRecord, ChatState, ClientEvent, ContactView, ConversationKind,
    ConversationView, FileState, FileView, InvitationView, MessageState, MessageView, OccupantView,
    Renamed, ResourcePresence, RoomInfoView, RoomKind, RoomListing, RoomMember, RoomNotify,
    RoomStatus, RoomView, Show, Snapshot, Subscription, SubscriptionRequest,
};
pub use net::{register, resolve, tls};
pub use passwords::{Keychain, PasswordError, PasswordStore};
pub use register::{Registration, RegistrationError, RegistrationField, RegistrationForm};
pub use resolve::ServerOverride;
pub use services::calls::{CallMedia, CallState, CallVerification, CallView};
pub use services::caps::PeerInfo;
pub use services::files::{FilePrefs, PhotoQuality};
pub use services::omemo::trust::{DeviceTrust, DeviceView, OwnEncryptionView, UriVerification};
pub use services::profile::{is_avatar_hash, Crop, ProfileView, VCardView};
pub use tern_media;
pub use tls::TlsTrust;
pub use tokio_xmpp::xmlstream::Timeouts;

/// XEPs and RFCs this crate implements, checked against `tern.doap` by a test.
pub const SUPPORTED_XEPS: &[(&str, &str)] = &[
    ("0030", "partial"),
    ("0045", "partial"),
    ("0048", "partial"),
    ("0054", "partial"),
    ("0066", "partial"),
    ("0077", "complete"),
    ("0084", "complete"),
    ("0085", "complete"),
    ("0115", "complete"),
    ("0153", "partial"),
    ("0163", "partial"),
    ("0166", "partial"),
    ("0167", "partial"),
    ("0172", "complete"),
    ("0176", "partial"),
    ("0184", "complete"),
    ("0191", "complete"),
    ("0198", "complete"),
    ("0199", "complete"),
    ("0203", "partial"),
    ("0215", "partial"),
    ("0231", "partial"),
    ("0245", "complete"),
    ("0249", "complete"),
    ("0264", "partial"),
    ("0280", "complete"),
    ("0300", "partial"),
    ("0308", "complete"),
    ("0313", "partial"),
    ("0320", "complete"),
    ("0333", "partial"),
    ("0338", "partial"),
    ("0339", "partial"),
    ("0352", "partial"),
    ("0353", "complete"),
    ("0359", "complete"),
    ("0363", "complete"),
    ("0368", "complete"),
    ("0380", "partial"),
    ("0384", "partial"),
    ("0402", "complete"),
    ("0410", "complete"),
    ("0421", "partial"),
    ("0424", "complete"),
    ("0425", "partial"),
    ("0428", "partial"),
    ("0444", "complete"),
    ("0446", "complete"),
    ("0447", "partial"),
    ("0454", "partial"),
    ("0461", "partial"),
    ("0474", "partial"),
];
