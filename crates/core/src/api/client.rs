//! The engine's front door: one [`Client`] per app, holding every account.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use tern_store::{Store, StoredAccount};
use tokio::sync::{broadcast, Mutex};
use tokio_xmpp::xmlstream::Timeouts;

use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::BareJid;

use crate::account::{Account, Settings};
use crate::error::{Error, Result};
use crate::events::{AccountState, AccountView, ClientEvent, EventHub, Snapshot};
use crate::net::connect::Target;
use crate::net::register::{Registration, RegistrationError};
use crate::net::resolve::ServerOverride;
use crate::net::tls::{parse_fingerprint, Pin, Problems, TlsTrust};
use crate::passwords::PasswordStore;

/// How to build a [`Client`].
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Folder for the database and caches (see [`tern_store::default_data_dir`]).
    pub data_dir: PathBuf,
    /// Where passwords live.
    pub passwords: Arc<dyn PasswordStore>,
    /// Root certificates (DER) trusted besides the system's. Empty for normal use.
    pub extra_roots: Vec<Vec<u8>>,
    /// Stream keepalive: after `read_timeout` of silence Tern probes the
    /// server (XEP-0198 `<r/>` or XEP-0199 ping) and gives up on the
    /// connection after `response_timeout` more.
    pub timeouts: Timeouts,
    /// On an account's first history sync, fetch at most this many messages
    /// (newest first); older ones come on scroll-back.
    pub first_sync_limit: u64,
    /// What people outside the roster are told (default: nothing).
    pub privacy: Privacy,
    /// How long a group chat may stay silent before Tern checks the user
    /// is still in it (XEP-0410 self-ping; default 5 minutes).
    pub room_ping_after: std::time::Duration,
    /// The media stack and sound devices for voice calls; `None`: no calls
    /// (none offered, none rung).
    pub calls: Option<crate::services::calls::CallMedia>,
}

/// What Tern tells strangers: anyone outside the account's roster (who
/// neither the user added nor whose subscription the user accepted). The
/// user's server, the user's other clients and roster contacts are always
/// answered. Everything is off by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Privacy {
    /// Delivery receipts (XEP-0184) and read markers (XEP-0333): that the
    /// user's client got, or the user read, their message.
    pub receipts_to_strangers: bool,
    /// Typing notifications (XEP-0085).
    pub chat_states_to_strangers: bool,
    /// Answers to pings (XEP-0199) and service discovery (XEP-0030), which
    /// tell that the client is online and what it runs; without this a
    /// stranger gets `service-unavailable`, as from an offline resource.
    pub answer_strangers: bool,
}

impl ClientConfig {
    /// Defaults for `data_dir` with the given password store.
    pub fn new(data_dir: PathBuf, passwords: Arc<dyn PasswordStore>) -> Self {
        ClientConfig {
            data_dir,
            passwords,
            extra_roots: Vec::new(),
            timeouts: Timeouts {
                read_timeout: std::time::Duration::from_secs(90),
                response_timeout: std::time::Duration::from_secs(30),
            },
            first_sync_limit: 10_000,
            privacy: Privacy::default(),
            room_ping_after: std::time::Duration::from_secs(300),
            calls: None,
        }
    }
}

/// A new account to add. Its `Debug` leaves the password out.
#[derive(Clone)]
pub struct NewAccount {
    /// `user@server`.
    pub jid: String,
    /// Password (goes to the keychain).
    pub password: String,
    /// Manual host/port, if DNS should be skipped.
    pub server: ServerOverride,
    /// Connect right away.
    pub enabled: bool,
    /// Resource to bind; a random `tern.xxxxxx` when `None`.
    pub resource: Option<String>,
}

impl std::fmt::Debug for NewAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccount")
            .field("jid", &self.jid)
            .field("password", &"[redacted]")
            .field("server", &self.server)
            .field("enabled", &self.enabled)
            .field("resource", &self.resource)
            .finish()
    }
}

impl NewAccount {
    /// An enabled account with DNS lookup and a random resource.
    pub fn new(jid: &str, password: &str) -> Self {
        NewAccount {
            jid: jid.to_string(),
            password: password.to_string(),
            server: ServerOverride::default(),
            enabled: true,
            resource: None,
        }
    }
}

struct Inner {
    store: Store,
    passwords: Arc<dyn PasswordStore>,
    hub: Arc<EventHub>,
    running: Mutex<HashMap<String, Account>>,
    extra_roots: Vec<Vec<u8>>,
    timeouts: Timeouts,
    first_sync_limit: u64,
    room_ping_after: std::time::Duration,
    data_dir: PathBuf,
    /// When the user last scrolled or typed.
    activity: Arc<crate::account::ctx::Activity>,
    /// What strangers are told.
    privacy: Arc<crate::account::ctx::PrivacyChoice>,
    /// The user's file choices and the transfers running.
    files: Arc<crate::services::files::Files>,
    /// Voice calls.
    calls: Arc<crate::services::calls::Calls>,
}

/// The engine. Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("data", &self.inner.store.path())
            .finish()
    }
}

/// Parses and checks an account address.
pub fn parse_account_jid(input: &str) -> Result<BareJid> {
    let trimmed = input.trim();
    let jid = BareJid::new(trimmed).map_err(|e| Error::InvalidJid {
        input: input.to_string(),
        detail: e.to_string(),
    })?;
    if jid.node().is_none() {
        return Err(Error::InvalidJid {
            input: input.to_string(),
            detail: "an account address needs a user name: user@server".into(),
        });
    }
    Ok(jid)
}

fn stored_override(a: &StoredAccount) -> ServerOverride {
    ServerOverride {
        host: a.host_override.clone(),
        port: a.port_override,
        direct_tls: a.direct_tls,
    }
}

fn default_resource() -> String {
    format!("tern.{:06x}", rand::random::<u32>() & 0xff_ffff)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::result::Result<T, crate::passwords::PasswordError> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Keychain(crate::passwords::PasswordError::Unavailable(e.to_string())))?
        .map_err(Error::from)
}

impl Client {
    /// Opens the database and connects every enabled account.
    pub async fn open(config: ClientConfig) -> Result<Client> {
        let store = Store::open_in_dir(&config.data_dir).await?;
        let client = Client {
            inner: Arc::new(Inner {
                store,
                passwords: config.passwords,
                hub: Arc::new(EventHub::new()),
                running: Mutex::new(HashMap::new()),
                extra_roots: config.extra_roots,
                timeouts: config.timeouts,
                first_sync_limit: config.first_sync_limit,
                room_ping_after: config.room_ping_after,
                data_dir: config.data_dir.clone(),
                activity: Arc::default(),
                privacy: Arc::new(crate::account::ctx::PrivacyChoice::default()),
                files: Arc::default(),
                calls: Arc::new(crate::services::calls::Calls::new(config.calls)),
            }),
        };
        client.inner.privacy.set(config.privacy);
        crate::services::files::after_restart(&client.inner.store, &client.inner.data_dir).await;
        for a in client.inner.store.accounts().await? {
            client.inner.hub.emit(ClientEvent::AccountAdded {
                account: AccountView {
                    jid: a.jid.clone(),
                    enabled: a.enabled,
                    state: AccountState::Disabled,
                },
            });
            if a.enabled {
                client.start_account(&a).await?;
            }
        }
        Ok(client)
    }

    /// The current state plus every change from now on.
    pub fn subscribe(&self) -> (Snapshot, broadcast::Receiver<ClientEvent>) {
        self.inner.hub.subscribe()
    }

    /// What strangers are told, as chosen now.
    pub fn privacy(&self) -> Privacy {
        self.inner.privacy.get()
    }

    /// Changes what strangers are told, for every account at once.
    pub fn set_privacy(&self, privacy: Privacy) {
        self.inner.privacy.set(privacy);
    }

    /// The user's choices about files.
    pub fn file_prefs(&self) -> crate::FilePrefs {
        self.inner.files.prefs.get()
    }

    /// Changes the user's choices about files, for every account at once.
    pub fn set_file_prefs(&self, prefs: crate::FilePrefs) {
        self.inner.files.prefs.set(prefs);
    }

    /// The current state.
    pub fn snapshot(&self) -> Snapshot {
        self.inner.hub.snapshot()
    }

    async fn settings_for(&self, a: &StoredAccount) -> Result<Settings> {
        let jid = parse_account_jid(&a.jid)?;
        Ok(Settings {
            jid,
            resource: a.resource.clone(),
            over: stored_override(a),
            trust: TlsTrust {
                extra_roots: self.inner.extra_roots.clone(),
                pin: self.pin(&a.jid).await?,
            },
            timeouts: self.inner.timeouts,
            store: self.inner.store.clone(),
        })
    }

    async fn start_account(&self, a: &StoredAccount) -> Result<()> {
        let settings = self.settings_for(a).await?;
        let mut running = self.inner.running.lock().await;
        if running.contains_key(&a.jid) {
            return Ok(());
        }
        let account = Account::start(
            settings,
            self.inner.first_sync_limit,
            self.inner.room_ping_after,
            self.inner.activity.clone(),
            self.inner.privacy.clone(),
            self.inner.files.clone(),
            self.inner.calls.clone(),
            self.inner.passwords.clone(),
            self.inner.hub.clone(),
            self.inner.store.clone(),
            self.inner.data_dir.clone(),
        );
        running.insert(a.jid.clone(), account);
        Ok(())
    }

    async fn stop_account(&self, jid: &str) {
        let account = self.inner.running.lock().await.remove(jid);
        if let Some(account) = account {
            account.stop().await;
        }
        self.inner.hub.emit(ClientEvent::AccountState {
            jid: jid.to_string(),
            state: AccountState::Disabled,
        });
    }

    async fn stored(&self, jid: &str) -> Result<StoredAccount> {
        self.inner
            .store
            .accounts()
            .await?
            .into_iter()
            .find(|a| a.jid == jid)
            .ok_or_else(|| Error::UnknownAccount(jid.to_string()))
    }

    /// Adds an account: password to the keychain, settings to the database,
    /// and connects it if enabled.
    pub async fn add_account(&self, new: NewAccount) -> Result<String> {
        let jid = parse_account_jid(&new.jid)?.to_string();
        if self.stored(&jid).await.is_ok() {
            return Err(Error::AccountExists(jid));
        }
        let passwords = self.inner.passwords.clone();
        let (j, p) = (jid.clone(), new.password.clone());
        blocking(move || passwords.set(&j, &p)).await?;
        let stored = StoredAccount {
            jid: jid.clone(),
            enabled: new.enabled,
            resource: Some(new.resource.clone().unwrap_or_else(default_resource)),
            host_override: new.server.host.clone(),
            port_override: new.server.port,
            direct_tls: new.server.direct_tls,
        };
        self.inner.store.upsert_account(&stored).await?;
        self.inner.hub.emit(ClientEvent::AccountAdded {
            account: AccountView {
                jid: jid.clone(),
                enabled: new.enabled,
                state: AccountState::Disabled,
            },
        });
        if new.enabled {
            self.start_account(&stored).await?;
        }
        Ok(jid)
    }

    /// Disconnects and forgets an account (settings, pins and password).
    /// The account stays on the server; see [`Client::delete_account_on_server`].
    pub async fn remove_account(&self, jid: &str) -> Result<()> {
        let jid = parse_account_jid(jid)?.to_string();
        self.stored(&jid).await?;
        self.stop_account(&jid).await;
        let ctx = self.ctx(&jid).await?;
        let files = crate::services::files::of_account(&ctx).await?;
        self.inner.store.remove_account(&jid).await?;
        crate::services::files::download::remove_local(&ctx, &files).await;
        let passwords = self.inner.passwords.clone();
        let j = jid.clone();
        blocking(move || passwords.delete(&j)).await?;
        self.inner.hub.emit(ClientEvent::AccountRemoved { jid });
        Ok(())
    }

    /// Enables (connects) or disables (disconnects) an account.
    pub async fn set_enabled(&self, jid: &str, enabled: bool) -> Result<()> {
        let jid = parse_account_jid(jid)?.to_string();
        let mut stored = self.stored(&jid).await?;
        self.inner.store.set_account_enabled(&jid, enabled).await?;
        stored.enabled = enabled;
        self.inner.hub.emit(ClientEvent::AccountEnabled {
            jid: jid.clone(),
            enabled,
        });
        if enabled {
            self.start_account(&stored).await
        } else {
            self.stop_account(&jid).await;
            Ok(())
        }
    }

    /// Replaces the stored password (e.g. after "wrong password") and retries.
    pub async fn set_password(&self, jid: &str, password: &str) -> Result<()> {
        let jid = parse_account_jid(jid)?.to_string();
        self.stored(&jid).await?;
        let passwords = self.inner.passwords.clone();
        let (j, p) = (jid.clone(), password.to_string());
        blocking(move || passwords.set(&j, &p)).await?;
        self.reconnect(&jid).await
    }

    /// Trusts a certificate for this account (after the user compared the
    /// fingerprint from [`ConnectError::CertificateUntrusted`] or
    /// [`ConnectError::CertificateChanged`]) and retries.
    ///
    /// Only the certificate Tern refused last for this account can be
    /// pinned, and the pin accepts only the problems shown then (its
    /// `problems`): the same certificate is refused again if another problem
    /// appears (it expires). The pin replaces any earlier one.
    ///
    /// [`ConnectError::CertificateUntrusted`]: crate::ConnectError::CertificateUntrusted
    /// [`ConnectError::CertificateChanged`]: crate::ConnectError::CertificateChanged
    pub async fn pin_certificate(&self, jid: &str, sha256: &str) -> Result<()> {
        let jid = parse_account_jid(jid)?.to_string();
        self.stored(&jid).await?;
        let fp = parse_fingerprint(sha256)
            .ok_or_else(|| Error::InvalidFingerprint(sha256.to_string()))?;
        let record = self.inner.store.server_security(&jid).await?;
        if record.refused_certificate != Some(fp) {
            return Err(Error::NotRefusedCertificate(sha256.to_string()));
        }
        let accepts = record
            .refused_problems
            .unwrap_or_else(|| Problems::UNTRUSTED.to_list());
        self.inner
            .store
            .pin_certificate_accepting(&jid, &fp, &accepts)
            .await?;
        let pin = self.pin(&jid).await?;
        if let Some(a) = self.inner.running.lock().await.get(&jid) {
            a.update_settings(|s| s.trust.pin = pin);
            a.retry();
        }
        Ok(())
    }

    /// The certificate pinned for an account.
    async fn pin(&self, jid: &str) -> Result<Option<Pin>> {
        Ok(self
            .inner
            .store
            .pinned_certificate(jid)
            .await?
            .map(|p| Pin {
                sha256: p.sha256,
                accepts: Problems::from_list(&p.accepts),
            }))
    }

    /// Accepts the weaker sign-in Tern refused last for this account
    /// ([`ConnectError::SaslDowngrade`]: the server no longer offers the
    /// mechanism or channel binding it offered before), and retries. Tern
    /// remembers the weaker sign-in as the new minimum; a stronger one raises
    /// it again.
    ///
    /// [`ConnectError::SaslDowngrade`]: crate::ConnectError::SaslDowngrade
    pub async fn accept_weaker_sign_in(&self, jid: &str) -> Result<()> {
        let jid = parse_account_jid(jid)?.to_string();
        self.stored(&jid).await?;
        let record = self.inner.store.server_security(&jid).await?;
        let Some(weaker) = record.refused_sasl_mechanism else {
            return Err(Error::NoRefusedSignIn(jid));
        };
        let binding = record.refused_channel_binding;
        self.inner
            .store
            .update_server_security(&jid, |s| {
                s.sasl_mechanism = Some(weaker);
                s.channel_binding = binding;
                // The server's earlier XEP-0474 signatures no longer set
                // what is expected of it.
                s.sasl_ssdp = false;
                s.refused_sasl_mechanism = None;
                s.refused_channel_binding = false;
            })
            .await?;
        if let Some(a) = self.inner.running.lock().await.get(&jid) {
            a.retry();
        }
        Ok(())
    }

    /// Skips a backoff wait, or retries after a failure.
    pub async fn reconnect(&self, jid: &str) -> Result<()> {
        let jid = parse_account_jid(jid)?.to_string();
        match self.inner.running.lock().await.get(&jid) {
            Some(a) => {
                a.retry();
                Ok(())
            }
            None => Err(Error::NotConnected(jid)),
        }
    }

    /// The running account's handle.
    pub(crate) async fn handle(&self, jid: &str) -> Result<crate::account::AccountHandle> {
        let jid = parse_account_jid(jid)?.to_string();
        self.inner
            .running
            .lock()
            .await
            .get(&jid)
            .map(|a| a.handle())
            .ok_or(Error::NotConnected(jid))
    }

    /// A pipeline context for an account, running or not.
    pub(crate) async fn ctx(&self, jid: &str) -> Result<crate::account::ctx::Ctx> {
        let own = parse_account_jid(jid)?;
        let account = own.to_string();
        if let Ok(handle) = self.handle(&account).await {
            return Ok(handle.ctx().clone());
        }
        self.stored(&account).await?;
        Ok(crate::account::ctx::Ctx {
            store: self.inner.store.clone(),
            hub: self.inner.hub.clone(),
            own,
            account,
            first_sync_limit: self.inner.first_sync_limit,
            data_dir: self.inner.data_dir.clone(),
            discovery: Default::default(),
            fetching: Default::default(),
            activity: self.inner.activity.clone(),
            privacy: self.inner.privacy.clone(),
            rooms: Default::default(),
            room_ping_after: self.inner.room_ping_after,
            files: self.inner.files.clone(),
            upload: Default::default(),
            tls: Arc::new(std::sync::Mutex::new(crate::tls::TlsTrust {
                extra_roots: self.inner.extra_roots.clone(),
                pin: None,
            })),
            omemo: Default::default(),
            calls: self.inner.calls.clone(),
        })
    }

    /// The data folder.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.inner.data_dir
    }

    /// The database.
    pub(crate) fn calls(&self) -> &std::sync::Arc<crate::services::calls::Calls> {
        &self.inner.calls
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Sends an IQ from an account and returns the answer.
    pub async fn request(&self, jid: &str, iq: Iq) -> Result<Iq> {
        // Requests must not hold the accounts lock while waiting.
        let handle = self.handle(jid).await?;
        handle.request(iq).await
    }

    /// Sends a stanza from an account (queued while reconnecting; XEP-0198
    /// resends it if the connection drops before the server acknowledged it).
    pub async fn send_stanza(&self, jid: &str, stanza: tokio_xmpp::Stanza) -> Result<()> {
        let handle = self.handle(jid).await?;
        handle.send(stanza).await
    }

    /// The user is scrolling or typing: background history waits until they
    /// have been quiet for a moment.
    pub fn user_active(&self) {
        self.inner.activity.touch();
    }

    /// XEP-0352 client state indication hook: the app reports whether the
    /// user is looking at it. Recorded per client; servers are told once a
    /// nonza path exists on the stream (see ARCHITECTURE.md).
    pub fn set_client_active(&self, active: bool) {
        tracing::debug!(active, "client state indication");
    }

    /// Changes the account's password on the server (XEP-0077), then in the keychain.
    pub async fn change_password(&self, jid: &str, new_password: &str) -> Result<()> {
        let bare = parse_account_jid(jid)?;
        let jid = bare.to_string();
        crate::services::registration::change_password(
            &self.handle(&jid).await?,
            &bare,
            new_password,
        )
        .await?;
        let passwords = self.inner.passwords.clone();
        let (j, p) = (jid.clone(), new_password.to_string());
        blocking(move || passwords.set(&j, &p)).await
    }

    /// Deletes the account on the server (XEP-0077 `<remove/>`), then removes
    /// it from Tern. Users own their data.
    pub async fn delete_account_on_server(&self, jid: &str) -> Result<()> {
        let bare = parse_account_jid(jid)?;
        let jid = bare.to_string();
        match self.handle(&jid).await {
            Ok(handle) => crate::services::registration::remove(&handle, &bare).await?,
            Err(Error::NotConnected(_)) => {}
            Err(e) => return Err(e),
        }
        self.remove_account(&jid).await
    }

    /// Opens a registration session with `domain` (XEP-0077) and returns the
    /// server's form. Submit it with [`Registration::submit`].
    pub async fn start_registration(
        &self,
        domain: &str,
        server: ServerOverride,
    ) -> std::result::Result<Registration, RegistrationError> {
        let target = Target {
            domain: domain.trim().to_string(),
            over: server,
            trust: TlsTrust {
                extra_roots: self.inner.extra_roots.clone(),
                pin: None,
            },
            timeouts: self.inner.timeouts,
        };
        Registration::start(&target).await
    }

    /// Creates `jid` on its server with `password` (filling the `username`
    /// and `password` fields of the server's form), then adds it to Tern.
    pub async fn register_account(&self, new: NewAccount) -> Result<String> {
        let bare = parse_account_jid(&new.jid)?;
        let reg = self
            .start_registration(bare.domain().as_str(), new.server.clone())
            .await?;
        let mut values = HashMap::new();
        values.insert(
            "username".to_string(),
            bare.node().map(|n| n.to_string()).unwrap_or_default(),
        );
        values.insert("password".to_string(), new.password.clone());
        reg.submit(&values).await?;
        self.add_account(new).await
    }

    /// Disconnects every account politely.
    pub async fn shutdown(&self) {
        let accounts: Vec<_> = self.inner.running.lock().await.drain().collect();
        for (_, a) in accounts {
            a.stop().await;
        }
        self.inner.store.close().await;
    }
}
