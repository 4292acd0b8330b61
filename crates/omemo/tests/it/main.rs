//! Integration tests of tern-omemo, one module per feature.
#![allow(clippy::unwrap_used)]

mod accounts;
mod decoders;
mod properties;

pub(crate) use properties::pair as properties_pair;
#[cfg(feature = "libomemo-c-interop")]
mod libomemo_c;
