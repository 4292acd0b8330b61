//! Stream errors count only when the server writes them: markup a contact
//! puts in a message (passed on by Prosody or ejabberd, or bytes injected
//! inside a stanza) never stops Tern reconnecting or sends it elsewhere.

use std::net::TcpListener;
use std::time::Duration;

use tern_core::{AccountState, ClientEvent, ConnectError};
use tern_testkit::{Ejabberd, PeerOptions, Prosody, SlixmppPeer, TcpProxy, TlsMitm};

use crate::support::*;

const T: Duration = Duration::from_secs(20);
const STREAMS: &str = "http://etherx.jabber.org/streams";
const XMPP_STREAMS: &str = "urn:ietf:params:xml:ns:xmpp-streams";

/// A listener standing for the host an attacker names in `see-other-host`:
/// Tern must never connect to it.
struct Decoy(TcpListener);

impl Decoy {
    fn new() -> Decoy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        Decoy(l)
    }

    fn port(&self) -> u16 {
        self.0.local_addr().unwrap().port()
    }

    fn was_contacted(&self) -> bool {
        self.0.accept().is_ok()
    }
}

/// Stream-error markup a contact can put in a message payload.
fn hostile_payloads(decoy: u16) -> Vec<(&'static str, String)> {
    vec![
        (
            "conflict with the stream prefix",
            format!("<stream:error xmlns:stream='{STREAMS}'><conflict xmlns='{XMPP_STREAMS}'/><text xmlns='{XMPP_STREAMS}'>Replaced by new connection</text></stream:error>"),
        ),
        (
            "see-other-host with the stream prefix",
            format!("<stream:error xmlns:stream='{STREAMS}'><see-other-host xmlns='{XMPP_STREAMS}'>127.0.0.1:{decoy}</see-other-host></stream:error>"),
        ),
        (
            "not-authorized in the stream namespace",
            format!("<error xmlns='{STREAMS}'><not-authorized xmlns='{XMPP_STREAMS}'/></error>"),
        ),
        (
            "policy-violation nested deeper",
            format!("<x xmlns='urn:example:wrap'><stream:error xmlns:stream='{STREAMS}'><policy-violation xmlns='{XMPP_STREAMS}'/></stream:error></x>"),
        ),
    ]
}

async fn wait_body(t: &mut TestClient, body: &str) {
    wait_event(&mut t.events, T, body, |ev| match ev {
        ClientEvent::Message { message } if message.body == body => Some(()),
        _ => None,
    })
    .await
}

/// After a connection cut, the account connects again by itself: no
/// `Failed`, and never to the decoy.
async fn reconnects_after_cut(t: &mut TestClient, jid: &str, cut: impl FnOnce(), what: &str) {
    cut();
    let state = wait_for(&mut t.events, jid, T, |s| {
        matches!(
            s,
            AccountState::Connected { .. } | AccountState::Failed { .. }
        )
    })
    .await;
    assert!(
        is_connected(&state),
        "after a message with {what}, the account stopped: {state:?}"
    );
}

/// A contact sends each hostile payload through the server; after each, the
/// connection is cut and Tern must reconnect.
async fn payloads_through_server(
    domain: &str,
    c2s: u16,
    alice: (String, String),
    mallory: (String, String),
) {
    let alice_jid = format!("{}@{domain}", alice.0);
    let mallory_jid = format!("{}@{domain}", mallory.0);
    let proxy = TcpProxy::start(([127, 0, 0, 1], c2s).into()).unwrap();
    let mut t = client().await;
    t.client
        .add_account(account(&alice_jid, &alice.1, loopback(proxy.port(), false)))
        .await
        .unwrap();
    wait_connected(&mut t, &alice_jid).await;
    let peer = blocking({
        let (j, p) = (mallory_jid.clone(), mallory.1.clone());
        move || SlixmppPeer::start(PeerOptions::new(j, p, "127.0.0.1", c2s)).unwrap()
    })
    .await;
    let decoy = Decoy::new();
    for (round, (what, payload)) in hostile_payloads(decoy.port()).into_iter().enumerate() {
        let body = format!("round {round}");
        peer.raw(&format!(
            "<message to='{alice_jid}' type='chat' id='hostile-{round}'><body>{body}</body>{payload}</message>"
        ))
        .unwrap();
        wait_body(&mut t, &body).await;
        reconnects_after_cut(&mut t, &alice_jid, || proxy.cut_all(), what).await;
        assert!(
            !decoy.was_contacted(),
            "{what}: Tern connected to the host the contact named"
        );
    }
    t.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_error_markup_from_a_contact_through_prosody() {
    let server = Prosody::start().unwrap();
    let alice = server.create_user().unwrap();
    let mallory = server.create_user().unwrap();
    payloads_through_server(server.domain(), server.c2s_port(), alice, mallory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_error_markup_from_a_contact_through_ejabberd() {
    let server = Ejabberd::start().unwrap();
    let alice = server.create_user().unwrap();
    let mallory = server.create_user().unwrap();
    payloads_through_server(server.domain(), server.c2s_port(), alice, mallory).await;
}

/// Bytes injected into the stream (by a proxy holding a trusted
/// certificate): stream-error markup inside a stanza, split at awkward
/// places, is ignored; a real stream error at depth 1 still counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_markup_counts_only_at_depth_one() {
    let server = Prosody::start().unwrap();
    let (user, pass) = server.create_user().unwrap();
    let jid = format!("{user}@{}", server.domain());
    let mitm = TlsMitm::start(
        ([127, 0, 0, 1], server.direct_tls_port()).into(),
        server.domain(),
    )
    .unwrap();
    let mut t = client().await;
    t.client
        .add_account(account(&jid, &pass, loopback(mitm.port(), true)))
        .await
        .unwrap();
    wait_connected(&mut t, &jid).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let decoy = Decoy::new();
    let inside = [
        format!("<message from='mallory@{}/x' to='{jid}' type='chat' id='inj-1'><body>injected 1</body><stream:er", server.domain()),
        format!("ror><see-other-host xmlns='{XMPP_STREAMS}'>127.0.0.1:{}</see-other-host></stream:e", decoy.port()),
        "rror></message>".to_owned(),
    ];
    for chunk in &inside {
        mitm.inject(chunk.as_bytes());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_body(&mut t, "injected 1").await;
    reconnects_after_cut(&mut t, &jid, || mitm.cut_all(), "injected see-other-host").await;
    assert!(
        !decoy.was_contacted(),
        "Tern followed a redirect from inside a stanza"
    );

    tokio::time::sleep(Duration::from_millis(300)).await;
    let deeper = format!(
        "<message from='mallory@{}/x' to='{jid}' type='chat' id='inj-2'><body>injected 2</body><x xmlns='urn:example'><stream:error><conflict xmlns='{XMPP_STREAMS}'/></stream:error></x></message>",
        server.domain()
    );
    let (a, b) = deeper.split_at(deeper.find("error>").unwrap() + 3);
    mitm.inject(a.as_bytes());
    tokio::time::sleep(Duration::from_millis(50)).await;
    mitm.inject(b.as_bytes());
    wait_body(&mut t, "injected 2").await;
    reconnects_after_cut(&mut t, &jid, || mitm.cut_all(), "injected conflict").await;

    // A real stream error, a direct child of the stream root, split too.
    tokio::time::sleep(Duration::from_millis(300)).await;
    mitm.inject(b"<stream:error><confl");
    tokio::time::sleep(Duration::from_millis(50)).await;
    mitm.inject(format!("ict xmlns='{XMPP_STREAMS}'/></stream:error>").as_bytes());
    let state = wait_for(&mut t.events, &jid, T, |s| {
        matches!(s, AccountState::Failed { .. })
    })
    .await;
    assert_eq!(
        state,
        AccountState::Failed {
            error: ConnectError::Conflict
        }
    );
    t.client.shutdown().await;
}

/// A 10 MB stanza and a 50,000-deep one, injected into the stream (a
/// malicious server, or a proxy holding a trusted certificate): each is
/// dropped whole, Tern neither crashes nor holds them, and the next message
/// arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_and_deeply_nested_stanzas_are_dropped() {
    let server = Prosody::start().unwrap();
    let (user, pass) = server.create_user().unwrap();
    let jid = format!("{user}@{}", server.domain());
    let mitm = TlsMitm::start(
        ([127, 0, 0, 1], server.direct_tls_port()).into(),
        server.domain(),
    )
    .unwrap();
    let mut t = client().await;
    t.client
        .add_account(account(&jid, &pass, loopback(mitm.port(), true)))
        .await
        .unwrap();
    wait_connected(&mut t, &jid).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let from = format!("mallory@{}/x", server.domain());
    let head = |id: &str| {
        format!("<message from='{from}' to='{jid}' type='chat' id='{id}'><body>{id}</body>")
    };
    let mut big = head("big").into_bytes();
    big.extend_from_slice(b"<x xmlns='urn:example'>");
    big.extend(std::iter::repeat_n(b'a', 10 * 1024 * 1024));
    big.extend_from_slice(b"</x></message>");
    mitm.inject(&big);
    drop(big);
    let depth = 50_000;
    let deep = format!(
        "{}{}{}</message>",
        head("deep"),
        "<a xmlns='urn:example'>".repeat(depth),
        "</a>".repeat(depth)
    );
    mitm.inject(deep.as_bytes());
    mitm.inject(format!("{}</message>", head("after")).as_bytes());

    let seen = wait_event(
        &mut t.events,
        Duration::from_secs(60),
        "the message after",
        |ev| match ev {
            ClientEvent::Message { message } => Some(message.body.clone()),
            _ => None,
        },
    )
    .await;
    assert_eq!(seen, "after", "a stanza over the limits got through");
    t.client.shutdown().await;
}
