//! Sockets and streams: resolve the server, open TCP, secure it with TLS,
//! authenticate, watch for stream errors, and decide when to reconnect.

pub(crate) mod connect;
pub(crate) mod reconnect;
pub mod register;
pub mod resolve;
pub(crate) mod sasl;
pub(crate) mod tap;
pub mod tls;
