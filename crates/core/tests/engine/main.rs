//! Tern engine integration tests, against real servers on loopback.
//!
//! One test binary, one module per feature. Each test starts its own
//! server(s) and uses fresh users, so tests run in parallel.

#![allow(clippy::unwrap_used)]

mod accounts;
mod calls;
mod calls_omemo;
mod connect;
mod downgrade;
mod federation;
mod files;
mod history;
mod hostile;
mod interop;
mod messaging;
mod new_device;
mod omemo;
mod omemo_groups;
mod omemo_send;
mod omemo_trust;
mod profiles;
mod register;
mod rooms;
mod stream_errors;
mod support;
