//! What services and stages need of their account: the store, the event
//! hub, the account's address and folders, and per-session state.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tern_store::Store;
use xmpp_parsers::jid::BareJid;

use crate::events::EventHub;

/// What services and stages need of their account.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub store: Store,
    pub hub: Arc<EventHub>,
    pub own: BareJid,
    pub account: String,
    /// On the first history sync, fetch at most this many messages.
    pub first_sync_limit: u64,
    /// The data folder (avatars live in `avatars/` there).
    pub data_dir: std::path::PathBuf,
    /// What contacts' clients support (entity caps), this session.
    pub discovery: Arc<crate::services::caps::Discovery>,
    /// Avatar downloads in progress.
    pub fetching: Arc<crate::services::profile::Fetching>,
}

/// Milliseconds since the epoch, now.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
