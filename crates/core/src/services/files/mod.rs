//! Files.

pub(crate) mod media;
