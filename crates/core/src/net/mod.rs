//! Sockets and streams: resolve the server, open TCP, secure it with TLS,
//! authenticate, watch for stream errors, and decide when to reconnect; and
//! HTTPS file transfers.

pub(crate) mod connect;
// Used by file sharing (XEP-0363), which builds on it.
pub(crate) mod http;
pub(crate) mod reconnect;
pub mod register;
pub mod resolve;
pub(crate) mod sasl;
pub(crate) mod tap;
pub mod tls;
