//! `engine newdevice-server [--extra N]`: a Prosody on loopback holding
//! the data set of the new-device benchmark (`scripts/bench newdevice`,
//! docs/benchmarks.md), the same one the engine test
//! `tests/engine/new_device.rs` builds:
//!
//! - a user with 20 contacts in the roster (`--extra N` adds N more, with
//!   no history, for the soak's 50 senders), whose archive holds 4,900
//!   messages from the 20 (245 + 1 each) while the user was away;
//! - the user's other device then answered 18 of them ("thanks, read it
//!   all"), marked the second contact's last message displayed, and went
//!   away again; then 3 + 1 more came from the first contact and 2 + 1
//!   from the second: 4,945 messages, of which 253 are unread (4 after the
//!   first contact's answer, 3 after the marker, all 246 of the contact
//!   never answered);
//! - the server's offline store is emptied, so the history is in the
//!   archive only (as for an account whose other device received it all);
//! - a slixmpp contact (`peer_jid`) allowed to see the user's presence.
//!
//! Prints one JSON line: `{"domain", "host", "port", "jid", "password",
//! "ca_pem", "peer_jid", "contacts", "newest", "messages", "unread"}`
//! (`newest`: for each of the 20 contacts the uid of the newest message of
//! its conversation and whether it is the user's own), then serves until
//! stdin closes. Everything the slixmpp contact sees is printed as
//! `{"peer_event": ..., "t": UNIX_SECONDS}` (`t` taken when it reached this
//! process). Stdin lines:
//!
//! - `{"cmd": ...}`: a command for the slixmpp contact (peer.py);
//! - `{"soak": {"messages": N, "seconds": S, "senders": K}}`: N messages
//!   from the first K contacts in turn, evenly spread over S seconds, each
//!   asking for a receipt and markable, as other clients send them (bodies
//!   end with `#soak-I`); prints `{"soak": "progress", "sent": n, "t"}`
//!   every 500 and `{"soak": "done", ...}`.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tern_core::{
    AccountState, Client, ClientConfig, ClientEvent, NewAccount, PasswordError, PasswordStore,
    ServerOverride, Timeouts,
};
use tern_testkit::{PeerOptions, Prosody, SlixmppPeer, TestCa};
use tokio::sync::broadcast;

const CONTACTS: usize = 20;
const EACH: usize = 245;
const WAIT: Duration = Duration::from_secs(120);

/// Passwords of the helper clients, kept in memory only.
#[derive(Debug, Default)]
struct Passwords(Mutex<HashMap<String, String>>);

impl PasswordStore for Passwords {
    fn get(&self, jid: &str) -> Result<Option<String>, PasswordError> {
        Ok(self.0.lock().unwrap().get(jid).cloned())
    }
    fn set(&self, jid: &str, password: &str) -> Result<(), PasswordError> {
        self.0.lock().unwrap().insert(jid.into(), password.into());
        Ok(())
    }
    fn delete(&self, jid: &str) -> Result<(), PasswordError> {
        self.0.lock().unwrap().remove(jid);
        Ok(())
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn print(line: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn note(what: &str, since: Instant) {
    eprintln!(
        "newdevice-server: {what} ({:.1} s)",
        since.elapsed().as_secs_f64()
    );
}

struct Helper {
    client: Client,
    events: broadcast::Receiver<ClientEvent>,
    _dir: tempfile::TempDir,
}

async fn helper(first_sync_limit: u64) -> Helper {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ClientConfig::new(dir.path().to_path_buf(), Arc::new(Passwords::default()));
    config.extra_roots = vec![TestCa::global().ca_cert_der()];
    config.timeouts = Timeouts {
        read_timeout: Duration::from_secs(60),
        response_timeout: Duration::from_secs(20),
    };
    config.first_sync_limit = first_sync_limit;
    let client = Client::open(config).await.unwrap();
    let events = client.subscribe().1;
    Helper {
        client,
        events,
        _dir: dir,
    }
}

fn account(jid: &str, password: &str, port: u16) -> NewAccount {
    NewAccount {
        server: ServerOverride {
            host: Some("127.0.0.1".into()),
            port: Some(port),
            direct_tls: false,
        },
        ..NewAccount::new(jid, password)
    }
}

async fn wait_event<T>(
    events: &mut broadcast::Receiver<ClientEvent>,
    what: &str,
    mut pick: impl FnMut(&ClientEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
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

async fn wait_connected(h: &mut Helper, who: &str) {
    wait_event(&mut h.events, "sign-in", |ev| match ev {
        ClientEvent::AccountState {
            jid,
            state: AccountState::Connected { .. },
        } if jid == who => Some(()),
        _ => None,
    })
    .await
}

fn stanza(xml: &str) -> tokio_xmpp::Stanza {
    tokio_xmpp::Stanza::Message(
        xmpp_parsers::message::Message::try_from(
            xml.parse::<xmpp_parsers::minidom::Element>().unwrap(),
        )
        .unwrap(),
    )
}

/// Each of `from` sends `n` plain messages to `to`, then one through the
/// send queue, and waits for the server's acknowledgement of that one (so
/// it has the others). Returns the uid of each sender's last message.
async fn send_from_each(
    c: &Client,
    from: &[String],
    to: &str,
    n: usize,
    tag: &str,
) -> HashMap<String, String> {
    let mut last = HashMap::new();
    for (k, f) in from.iter().enumerate() {
        for i in 0..n {
            let id = format!("{tag}-{k}-{i}");
            let xml = format!(
                "<message xmlns='jabber:client' type='chat' to='{to}' id='{id}'>\
                 <body>{tag} {i} from {f}: {}</body><origin-id xmlns='urn:xmpp:sid:0' id='{id}'/></message>",
                super::body((k * 1000 + i) as u64)
            );
            c.send_stanza(f, stanza(&xml)).await.unwrap();
        }
        let m = c
            .send_message(f, to, &format!("{tag} last from {f}"), None)
            .await
            .unwrap();
        last.insert(f.clone(), m.uid.clone());
        let deadline = Instant::now() + WAIT;
        loop {
            let sent = c.timeline(f, to, None, 1).await.unwrap();
            if sent
                .iter()
                .any(|s| s.id == m.id && s.state != "queued" && s.state != "sent")
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the server never took {f}'s messages"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    last
}

/// N messages from the first `senders` contacts in turn, over `seconds`.
async fn soak(
    c: &Client,
    contacts: &[String],
    to: &str,
    messages: usize,
    seconds: f64,
    senders: usize,
) {
    let senders = &contacts[..senders.clamp(1, contacts.len())];
    let start = tokio::time::Instant::now();
    let t0 = now();
    let step = Duration::from_secs_f64(seconds / messages.max(1) as f64);
    let mut late = Duration::ZERO;
    for i in 0..messages {
        let at = start + step * i as u32;
        let now_i = tokio::time::Instant::now();
        if now_i < at {
            tokio::time::sleep_until(at).await;
        } else {
            late = late.max(now_i - at);
        }
        let f = &senders[i % senders.len()];
        let id = format!("soak-{i}");
        let xml = format!(
            "<message xmlns='jabber:client' type='chat' to='{to}' id='{id}'>\
             <body>{} #soak-{i}</body><request xmlns='urn:xmpp:receipts'/>\
             <markable xmlns='urn:xmpp:chat-markers:0'/><active xmlns='http://jabber.org/protocol/chatstates'/>\
             <origin-id xmlns='urn:xmpp:sid:0' id='{id}'/></message>",
            super::body(1_000_000 + i as u64)
        );
        if let Err(e) = c.send_stanza(f, stanza(&xml)).await {
            eprintln!("newdevice-server: soak message {i} from {f}: {e}");
        }
        if (i + 1) % 500 == 0 {
            print(&serde_json::json!({"soak": "progress", "sent": i + 1, "t": now()}));
        }
    }
    print(&serde_json::json!({
        "soak": "done", "sent": messages, "started": t0, "t": now(),
        "senders": senders.len(), "most_late_ms": late.as_millis() as u64,
    }));
}

/// Builds the data set and serves it (see the module's documentation).
pub async fn serve(extra: usize) {
    let start = Instant::now();
    let server = Prosody::start().unwrap();
    let port = server.c2s_port();
    let domain = server.domain().to_string();
    // The accounts: the user, the peer, then the contacts.
    let mut users: Vec<(String, String)> = (0..CONTACTS + extra + 2)
        .map(|_| {
            let (u, p) = server.create_user().unwrap();
            (format!("{u}@{domain}"), p)
        })
        .collect();
    let (me, me_pass) = users.remove(0);
    let (peer_jid, peer_pass) = users.remove(0);
    note("users created", start);

    // The contacts, all in one client; they fetch no history of their own.
    let mut cs = helper(1).await;
    let mut contacts = Vec::new();
    for (jid, pass) in users {
        cs.client
            .add_account(account(&jid, &pass, port))
            .await
            .unwrap();
        contacts.push(jid);
    }
    let mut waiting: HashSet<String> = contacts.iter().cloned().collect();
    wait_event(&mut cs.events, "every contact signed in", |ev| {
        if let ClientEvent::AccountState {
            jid,
            state: AccountState::Connected { .. },
        } = ev
        {
            waiting.remove(jid);
        }
        waiting.is_empty().then_some(())
    })
    .await;
    note("contacts signed in", start);

    // The user's other device; the slixmpp contact may see the user.
    let mut a = helper(1).await;
    a.client
        .add_account(account(&me, &me_pass, port))
        .await
        .unwrap();
    wait_connected(&mut a, &me).await;
    let peer = tokio::task::spawn_blocking({
        let (j, p) = (peer_jid.clone(), peer_pass.clone());
        move || SlixmppPeer::start(PeerOptions::new(j, p, "127.0.0.1", port)).unwrap()
    })
    .await
    .unwrap();
    let peer = Arc::new(peer);
    peer.subscribe(&me).unwrap();
    wait_event(&mut a.events, "the peer's request", |ev| match ev {
        ClientEvent::SubscriptionRequest { from, .. } if *from == peer_jid => Some(()),
        _ => None,
    })
    .await;
    a.client.approve_subscription(&me, &peer_jid).await.unwrap();
    for c in &contacts {
        a.client.add_contact(&me, c, None, &[]).await.unwrap();
    }
    a.client.set_enabled(&me, false).await.unwrap();
    note("roster set", start);

    let with_history = &contacts[..CONTACTS];
    let last_bulk = send_from_each(&cs.client, with_history, &me, EACH, "bulk").await;
    server.purge_offline().unwrap();
    note("archive filled", start);
    tokio::time::sleep(Duration::from_millis(1100)).await;

    a.client.set_enabled(&me, true).await.unwrap();
    wait_connected(&mut a, &me).await;
    let mut newest: HashMap<String, (String, bool)> = last_bulk
        .iter()
        .map(|(c, uid)| (c.clone(), (uid.clone(), false)))
        .collect();
    for (i, c) in with_history.iter().enumerate() {
        if i == 1 || i == 2 {
            continue;
        }
        let m = a
            .client
            .send_message(&me, c, "thanks, read it all", None)
            .await
            .unwrap();
        newest.insert(c.clone(), (m.uid.clone(), true));
    }
    let marker = format!(
        "<message xmlns='jabber:client' to='{}' type='chat' id='mark-1'>\
         <displayed xmlns='urn:xmpp:chat-markers:0' id='{}'/></message>",
        with_history[1], last_bulk[&with_history[1]]
    );
    a.client.send_stanza(&me, stanza(&marker)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    a.client.set_enabled(&me, false).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for (c, uid) in send_from_each(&cs.client, &with_history[0..1], &me, 3, "later").await {
        newest.insert(c, (uid, false));
    }
    for (c, uid) in send_from_each(&cs.client, &with_history[1..2], &me, 2, "later").await {
        newest.insert(c, (uid, false));
    }
    server.purge_offline().unwrap();
    a.client.shutdown().await;
    note("data set ready", start);

    let answered = CONTACTS - 2;
    let messages = CONTACTS * (EACH + 1) + answered + (3 + 1) + (2 + 1);
    let ca_pem = server.dir().join("tern-test-ca.pem");
    std::fs::write(&ca_pem, TestCa::global().ca_cert_pem()).unwrap();
    peer.clear_events();
    print(&serde_json::json!({
        "domain": domain,
        "host": "127.0.0.1",
        "port": port,
        "jid": me,
        "password": me_pass,
        "ca_pem": ca_pem,
        "peer_jid": peer_jid,
        "contacts": contacts,
        "newest": with_history.iter().map(|c| serde_json::json!({
            "peer": c, "uid": newest[c].0, "outgoing": newest[c].1,
        })).collect::<Vec<_>>(),
        "messages": messages,
        "unread": 4 + 3 + EACH + 1,
    }));

    let events = Arc::clone(&peer);
    std::thread::spawn(move || loop {
        match events.next_event(Duration::from_secs(3600)) {
            Ok(event) => print(&serde_json::json!({ "peer_event": event, "t": now() })),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    });
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if let Ok(v) = serde_json::from_str(&line) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        }
    });
    while let Some(cmd) = rx.recv().await {
        if let Some(s) = cmd.get("soak") {
            let n = s["messages"].as_u64().unwrap_or(10_000) as usize;
            let secs = s["seconds"].as_f64().unwrap_or(3600.0);
            let k = s["senders"].as_u64().unwrap_or(50) as usize;
            let (c, contacts, me) = (cs.client.clone(), contacts.clone(), me.clone());
            tokio::spawn(async move { soak(&c, &contacts, &me, n, secs, k).await });
        } else if cmd.get("cmd").is_some() {
            if let Err(e) = peer.send(cmd) {
                eprintln!("newdevice-server: peer command failed: {e}");
            }
        }
    }
    cs.client.shutdown().await;
    drop(peer);
    drop(server);
}
