//! Integration tests of tern-omemo, one module per feature.
#![allow(clippy::unwrap_used)]

mod accounts;
#[cfg(feature = "libomemo-c-interop")]
mod libomemo_c;
