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
    /// When the user last scrolled or typed (background work waits).
    pub activity: Arc<Activity>,
    /// What strangers are told (the user's choice).
    pub privacy: Arc<PrivacyChoice>,
    /// The account's group chats and who is in them.
    pub rooms: Arc<crate::services::muc::Rooms>,
    /// How long a room may stay silent before Tern checks the user is
    /// still in it (XEP-0410).
    pub room_ping_after: std::time::Duration,
    /// The user's file choices and the transfers running (shared by every
    /// account).
    pub files: Arc<crate::services::files::Files>,
    /// The account's upload service (XEP-0363), as found this session.
    pub upload: Arc<crate::services::files::UploadKnown>,
    /// What the account's TLS trusts (the same for HTTPS transfers).
    pub tls: Arc<std::sync::Mutex<crate::tls::TlsTrust>>,
    /// End-to-end encryption (OMEMO): this device's identity and sessions.
    pub omemo: Arc<crate::services::omemo::OmemoState>,
    /// Voice calls (shared by every account: one call at a time).
    pub calls: Arc<crate::services::calls::Calls>,
}

impl Ctx {
    /// An HTTPS client with the account's trust: its pinned certificate
    /// counts for the account's own server only.
    pub(crate) fn http_client(&self) -> crate::net::http::HttpClient {
        let trust = self.tls.lock().map(|t| t.clone()).unwrap_or_default();
        let domain = self.own.domain().to_string();
        let mut hosts = vec![domain.clone()];
        if let Some(Some(s)) = self.upload.get() {
            if let Ok(j) = xmpp_parsers::jid::Jid::new(&s.jid) {
                hosts.push(j.domain().to_string());
            }
        }
        crate::net::http::HttpClient::new(trust, hosts)
    }

    /// Whether `jid` (a bare JID) is in the account's roster, or is the
    /// account itself: whose presence, capabilities and avatars Tern keeps
    /// first (everyone else's are bounded).
    pub(crate) async fn in_roster(&self, jid: &str) -> bool {
        self.knows(jid).await
    }

    /// Whether `jid` (a bare JID) is someone the user knows: the account
    /// itself or anyone in its roster (the user added them, or accepted
    /// their subscription). Everyone else is a stranger, who gets no
    /// delivery receipts, read markers, chat states or answers to pings and
    /// disco unless the user chose so ([`crate::Privacy`]).
    pub(crate) async fn knows(&self, jid: &str) -> bool {
        if jid == self.account {
            return true;
        }
        match self.store.roster_item(&self.account, jid).await {
            Ok(row) => row.is_some(),
            Err(e) => {
                tracing::warn!("reading the roster failed: {e}");
                false
            }
        }
    }

    /// Whether `jid` (a bare JID) may be told `what` of the user: always
    /// when the user knows them, else as the user chose.
    pub(crate) async fn may_tell(&self, jid: &str, what: fn(&crate::Privacy) -> bool) -> bool {
        what(&self.privacy.get()) || self.knows(jid).await
    }
}

/// The user's choice of what strangers are told, shared by every account
/// and changed at run time.
#[derive(Debug, Default)]
pub(crate) struct PrivacyChoice(std::sync::Mutex<crate::Privacy>);

impl PrivacyChoice {
    pub(crate) fn get(&self) -> crate::Privacy {
        match self.0.lock() {
            Ok(g) => *g,
            Err(p) => *p.into_inner(),
        }
    }

    pub(crate) fn set(&self, privacy: crate::Privacy) {
        match self.0.lock() {
            Ok(mut g) => *g = privacy,
            Err(p) => *p.into_inner() = privacy,
        }
    }
}

/// When the user last scrolled or typed, shared by every account.
#[derive(Debug, Default)]
pub(crate) struct Activity(std::sync::atomic::AtomicI64);

impl Activity {
    /// The user is active now.
    pub(crate) fn touch(&self) {
        self.0.store(now_ms(), std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the user was active in the last `ms` milliseconds.
    pub(crate) fn active_within(&self, ms: i64) -> bool {
        now_ms() - self.0.load(std::sync::atomic::Ordering::Relaxed) < ms
    }
}

/// Milliseconds since the epoch, now.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tern_store::{NewMessage, StoredAccount};

    /// A context for juliet@capulet.lit on a fresh store holding `stored`.
    pub(crate) async fn ctx_with(stored: &[NewMessage]) -> (tempfile::TempDir, Ctx) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open_in_dir(dir.path()).await.expect("store");
        store
            .upsert_account(&StoredAccount {
                jid: "juliet@capulet.lit".into(),
                enabled: false,
                resource: None,
                host_override: None,
                port_override: None,
                direct_tls: false,
            })
            .await
            .expect("account");
        for m in stored {
            store.insert_message(m, None, true).await.expect("message");
        }
        let own = BareJid::new("juliet@capulet.lit").expect("jid");
        let ctx = Ctx {
            store,
            hub: Arc::new(EventHub::new()),
            account: own.to_string(),
            own,
            first_sync_limit: 10_000,
            data_dir: dir.path().to_path_buf(),
            discovery: Arc::default(),
            fetching: Arc::default(),
            activity: Arc::default(),
            privacy: Arc::default(),
            rooms: Arc::default(),
            room_ping_after: std::time::Duration::from_secs(300),
            files: Arc::default(),
            calls: Arc::default(),
            upload: Arc::default(),
            tls: Arc::default(),
            omemo: Arc::default(),
        };
        (dir, ctx)
    }
}
