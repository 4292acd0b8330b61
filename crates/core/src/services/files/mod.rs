//! Files.

pub(crate) mod cipher;
