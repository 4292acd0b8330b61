//! Services, one per concern, each owning its state.

pub(crate) mod archive;
pub(crate) mod blocking;
pub(crate) mod caps;
pub(crate) mod profile;
pub(crate) mod roster;
