//! Files.

#[allow(dead_code, reason = "file sharing is not wired up yet")]
pub(crate) mod cipher;
