//! Shared helpers: a client wired to the test CA and the kernel keyring, and
//! event waiting with deadlines.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tern_core::{
    AccountState, Client, ClientConfig, ClientEvent, Keychain, MessageView, NewAccount,
    ServerOverride, Timeouts,
};
use tern_testkit::{Ejabberd, PeerOptions, Prosody, SlixmppPeer, TestCa};
use tokio::sync::broadcast;

/// A client and its event stream.
pub struct TestClient {
    pub client: Client,
    pub events: broadcast::Receiver<ClientEvent>,
    pub dir: tempfile::TempDir,
}

/// Logging at `filter` unless `RUST_LOG` says otherwise (for tests whose
/// thousands of messages would drown the log at debug level). Must come
/// before anything else logs.
pub fn init_tracing_at(filter: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| filter.into()),
        )
        .with_test_writer()
        .try_init();
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "tern_core=debug,info".into()),
        )
        .with_test_writer()
        .try_init();
}

/// A real keychain under a service name unique to this process: the Secret
/// Service when a D-Bus session runs (the test command starts one with
/// gnome-keyring), else the Linux kernel keyring.
pub fn keychain() -> Arc<Keychain> {
    let service = std::env::var("TERN_TEST_KEYCHAIN_SERVICE")
        .unwrap_or_else(|_| format!("im.tern.Tern.test.{}", std::process::id()));
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() {
        Arc::new(Keychain::secret_service(&service).expect("Secret Service available"))
    } else {
        Arc::new(Keychain::linux_kernel_keyring(&service).expect("kernel keyring available"))
    }
}

pub async fn client_with(trust_test_ca: bool) -> TestClient {
    client_configured(trust_test_ca, |_| {}).await
}

pub async fn client_configured(
    trust_test_ca: bool,
    tweak: impl FnOnce(&mut ClientConfig),
) -> TestClient {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let mut config = ClientConfig::new(dir.path().to_path_buf(), keychain());
    if trust_test_ca {
        config.extra_roots = vec![TestCa::global().ca_cert_der()];
    }
    config.timeouts = Timeouts {
        read_timeout: Duration::from_secs(30),
        response_timeout: Duration::from_secs(10),
    };
    tweak(&mut config);
    let client = Client::open(config).await.expect("client opens");
    let (_snapshot, events) = client.subscribe();
    TestClient {
        client,
        events,
        dir,
    }
}

pub async fn client() -> TestClient {
    client_with(true).await
}

pub fn loopback(port: u16, direct_tls: bool) -> ServerOverride {
    ServerOverride {
        host: Some("127.0.0.1".into()),
        port: Some(port),
        direct_tls,
    }
}

pub fn account(jid: &str, password: &str, server: ServerOverride) -> NewAccount {
    NewAccount {
        server,
        ..NewAccount::new(jid, password)
    }
}

/// Waits until `jid` reaches a state matching `pred`; returns it.
pub async fn wait_for(
    events: &mut broadcast::Receiver<ClientEvent>,
    jid: &str,
    within: Duration,
    pred: impl Fn(&AccountState) -> bool,
) -> AccountState {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(ClientEvent::AccountState { jid: j, state })) if j == jid => {
                if pred(&state) {
                    return state;
                }
                seen.push(state);
            }
            Ok(Ok(_)) => {}
            Ok(Err(broadcast::error::RecvError::Lagged(n))) => panic!("lagged {n} events"),
            Ok(Err(e)) => panic!("event stream ended: {e}"),
            Err(_) => panic!("{jid}: expected state not reached within {within:?}; saw {seen:#?}"),
        }
    }
}

pub fn is_connected(s: &AccountState) -> bool {
    matches!(s, AccountState::Connected { .. })
}

pub async fn wait_connected(t: &mut TestClient, jid: &str) -> AccountState {
    wait_for(&mut t.events, jid, Duration::from_secs(20), is_connected).await
}

/// Collects every state of `jid` for `period`.
pub async fn states_during(
    events: &mut broadcast::Receiver<ClientEvent>,
    jid: &str,
    period: Duration,
) -> Vec<AccountState> {
    let deadline = tokio::time::Instant::now() + period;
    let mut out = Vec::new();
    while let Ok(ev) = tokio::time::timeout_at(deadline, events.recv()).await {
        match ev {
            Ok(ClientEvent::AccountState { jid: j, state }) if j == jid => out.push(state),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    out
}

/// Runs blocking harness calls (server restarts) off the async workers.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

/// Waits for an event matching `pred`, skipping others.
pub async fn wait_event<T>(
    events: &mut broadcast::Receiver<ClientEvent>,
    within: Duration,
    what: &str,
    mut pick: impl FnMut(&ClientEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(ev)) => {
                if let Some(t) = pick(&ev) {
                    return t;
                }
            }
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(e)) => panic!("event stream ended: {e}"),
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }
}

/// A connected account on `server` with a fresh user.
pub async fn signed_in(server: &tern_testkit::Prosody) -> (TestClient, String) {
    let (user, pass) = server.create_user().unwrap();
    let jid = format!("{user}@{}", server.domain());
    let mut t = client().await;
    t.client
        .add_account(account(&jid, &pass, loopback(server.c2s_port(), false)))
        .await
        .unwrap();
    wait_connected(&mut t, &jid).await;
    (t, jid)
}

/// Closes a client and opens its data folder again, as after a restart.
pub async fn reopen(t: TestClient) -> TestClient {
    t.client.shutdown().await;
    drop(t.client);
    let mut config = ClientConfig::new(t.dir.path().to_path_buf(), keychain());
    config.extra_roots = vec![TestCa::global().ca_cert_der()];
    config.timeouts = Timeouts {
        read_timeout: Duration::from_secs(30),
        response_timeout: Duration::from_secs(10),
    };
    let client = Client::open(config).await.expect("client reopens");
    let (_snapshot, events) = client.subscribe();
    TestClient {
        client,
        events,
        dir: t.dir,
    }
}

/// How long a peer event may take.
const PEER_WAIT: Duration = Duration::from_secs(20);

/// Either server, for test bodies shared between them.
pub enum Server {
    Prosody(Prosody),
    Ejabberd(Ejabberd),
}

impl Server {
    pub fn prosody() -> Server {
        Server::Prosody(Prosody::start().unwrap())
    }

    pub async fn ejabberd() -> Server {
        Server::Ejabberd(blocking(|| Ejabberd::start().unwrap()).await)
    }

    /// Prosody started with `opts`.
    pub fn prosody_with(opts: tern_testkit::ProsodyOptions) -> Server {
        Server::Prosody(Prosody::start_with(opts).unwrap())
    }

    /// ejabberd started with `opts`.
    pub async fn ejabberd_with(opts: tern_testkit::EjabberdOptions) -> Server {
        Server::Ejabberd(blocking(move || Ejabberd::start_with(opts).unwrap()).await)
    }

    pub fn domain(&self) -> String {
        match self {
            Server::Prosody(s) => s.domain().to_string(),
            Server::Ejabberd(s) => s.domain().to_string(),
        }
    }

    pub fn muc(&self) -> String {
        match self {
            Server::Prosody(s) => s.muc_domain(),
            Server::Ejabberd(s) => s.muc_domain(),
        }
    }

    pub fn port(&self) -> u16 {
        match self {
            Server::Prosody(s) => s.c2s_port(),
            Server::Ejabberd(s) => s.c2s_port(),
        }
    }

    /// A fresh user: (bare JID, password).
    pub fn user(&self) -> (String, String) {
        let (user, pass) = match self {
            Server::Prosody(s) => s.create_user().unwrap(),
            Server::Ejabberd(s) => s.create_user().unwrap(),
        };
        (format!("{user}@{}", self.domain()), pass)
    }

    /// A room address on the server's group-chat service, unique per call.
    pub fn room(&self, name: &str) -> String {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        format!("{name}-{}-{n}@{}", std::process::id(), self.muc())
    }
}

/// Tern signed in as a fresh user; returns the client, its JID and password.
pub async fn tern(server: &Server) -> (TestClient, String, String) {
    let (jid, pass) = server.user();
    let t = tern_as(server, &jid, &pass).await;
    (t, jid, pass)
}

pub async fn tern_as(server: &Server, jid: &str, pass: &str) -> TestClient {
    let mut t = client().await;
    t.client
        .add_account(account(jid, pass, loopback(server.port(), false)))
        .await
        .unwrap();
    wait_connected(&mut t, jid).await;
    t
}

/// A slixmpp peer signed in as `jid`.
pub async fn peer_as(server: &Server, jid: &str, pass: &str) -> Peer {
    let opts = PeerOptions::new(jid, pass, "127.0.0.1", server.port());
    Peer(Arc::new(
        blocking(move || SlixmppPeer::start(opts).unwrap()).await,
    ))
}

/// A slixmpp peer signed in as a fresh user.
pub async fn peer(server: &Server) -> Peer {
    let (jid, pass) = server.user();
    peer_as(server, &jid, &pass).await
}

/// A slixmpp peer whose blocking calls run off the async workers.
#[derive(Clone)]
pub struct Peer(pub Arc<SlixmppPeer>);

impl Peer {
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&SlixmppPeer) -> R + Send + 'static,
    ) -> R {
        let p = self.0.clone();
        blocking(move || f(&p)).await
    }

    /// Waits for a peer event matching `pred`.
    pub async fn event(&self, pred: impl Fn(&Value) -> bool + Send + 'static) -> Value {
        self.run(move |p| p.wait_for(PEER_WAIT, pred).unwrap())
            .await
    }

    pub fn bare(&self) -> String {
        self.0.bare_jid().to_string()
    }
}

/// For [`wait_event`]: a message (added or changed) that `pred` accepts.
pub fn any_message<'a>(
    pred: impl Fn(&MessageView) -> bool + 'a,
) -> impl FnMut(&ClientEvent) -> Option<MessageView> + 'a {
    move |ev| match ev {
        ClientEvent::Message { message } if pred(message) => Some(message.clone()),
        _ => None,
    }
}

/// For [`wait_event`]: a message of the conversation with `peer` that
/// `pred` accepts.
pub fn message_where<'a>(
    peer: &'a str,
    pred: impl Fn(&MessageView) -> bool + 'a,
) -> impl FnMut(&ClientEvent) -> Option<MessageView> + 'a {
    any_message(move |m| m.peer == peer && pred(m))
}

/// The conversation's stored messages, once `done` says they are all there.
pub async fn stored_until(
    t: &TestClient,
    account: &str,
    peer: &str,
    done: impl Fn(&[MessageView]) -> bool,
) -> Vec<MessageView> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let rows = t.client.timeline(account, peer, None, 100).await.unwrap();
        if done(&rows) {
            return rows;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not stored in time: {rows:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Shuts Tern down, runs `meanwhile`, and opens it again on the same data.
pub async fn reopen_closed(
    t: TestClient,
    meanwhile: impl std::future::Future<Output = ()>,
) -> TestClient {
    t.client.shutdown().await;
    meanwhile.await;
    reopen(t).await
}
