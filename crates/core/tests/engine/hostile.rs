//! A hostile peer (slixmpp) through the real server: a sender choosing its
//! message times, another client of the account forging what only the
//! server may say, a stranger answering requests it was not asked, prying
//! or flooding. Each attack runs against Prosody and against ejabberd.

use std::sync::Arc;
use std::time::Duration;

use sha1::{Digest, Sha1};
use tern_core::{ClientEvent, Privacy};
use tern_testkit::{Ejabberd, PeerOptions, Prosody, SlixmppPeer};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;

use crate::support::*;

const T: Duration = Duration::from_secs(20);

/// The server under test.
enum Server {
    Prosody(Prosody),
    Ejabberd(Ejabberd),
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Prosody,
    Ejabberd,
}

impl Server {
    async fn start(kind: Kind) -> Server {
        blocking(move || match kind {
            Kind::Prosody => Server::Prosody(Prosody::start().unwrap()),
            Kind::Ejabberd => Server::Ejabberd(Ejabberd::start().unwrap()),
        })
        .await
    }

    fn domain(&self) -> String {
        match self {
            Server::Prosody(s) => s.domain().to_string(),
            Server::Ejabberd(s) => s.domain().to_string(),
        }
    }

    fn port(&self) -> u16 {
        match self {
            Server::Prosody(s) => s.c2s_port(),
            Server::Ejabberd(s) => s.c2s_port(),
        }
    }

    /// A fresh user: `(bare JID, password)`.
    fn user(&self) -> (String, String) {
        let create = || match self {
            Server::Prosody(s) => s.create_user(),
            Server::Ejabberd(s) => s.create_user(),
        };
        // ejabberd's first registrations may fail while it finishes
        // starting (an ets_cache exception): try again.
        let (user, pass) = create()
            .or_else(|_| {
                std::thread::sleep(Duration::from_secs(1));
                create()
            })
            .or_else(|_| {
                std::thread::sleep(Duration::from_secs(2));
                create()
            })
            .unwrap();
        (format!("{user}@{}", self.domain()), pass)
    }

    /// Tern signed in as a fresh user.
    async fn tern(&self) -> (TestClient, String) {
        let (jid, pass) = self.user();
        let mut t = client().await;
        t.client
            .add_account(account(&jid, &pass, loopback(self.port(), false)))
            .await
            .unwrap();
        wait_connected(&mut t, &jid).await;
        (t, jid)
    }

    /// A slixmpp peer signed in as `jid` (a fresh user when `None`).
    async fn peer(&self, login: Option<(String, String)>) -> Arc<SlixmppPeer> {
        let (jid, pass) = login.unwrap_or_else(|| self.user());
        let port = self.port();
        Arc::new(
            blocking(move || {
                SlixmppPeer::start(PeerOptions::new(jid, pass, "127.0.0.1", port)).unwrap()
            })
            .await,
        )
    }
}

/// Runs a blocking peer call off the async workers.
async fn on<T: Send + 'static>(
    peer: &Arc<SlixmppPeer>,
    f: impl FnOnce(&SlixmppPeer) -> T + Send + 'static,
) -> T {
    let p = peer.clone();
    blocking(move || f(&p)).await
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Waits for an incoming message from `peer` with `body`.
async fn incoming(t: &mut TestClient, peer: &str, body: &str) -> tern_core::MessageView {
    let (peer, body) = (peer.to_string(), body.to_string());
    wait_event(
        &mut t.events,
        T,
        &format!("message {body:?}"),
        move |ev| match ev {
            ClientEvent::Message { message }
                if message.peer == peer && message.body == body && !message.outgoing =>
            {
                Some(message.clone())
            }
            _ => None,
        },
    )
    .await
}

/// Tern's full JID, as a peer that got something from it saw it.
async fn tern_full_jid(t: &TestClient, me: &str, peer: &Arc<SlixmppPeer>) -> String {
    t.client
        .send_chat_state(me, peer.bare_jid(), "active")
        .await
        .ok();
    let to = peer.bare_jid().to_string();
    t.client.send_message(me, &to, "hello", None).await.unwrap();
    let got = on(peer, |p| {
        p.wait_for(T, |e| e["event"] == "message" && e["body"] == "hello")
            .unwrap()
    })
    .await;
    got["from"].as_str().unwrap().to_string()
}

// Finding 2: senders do not set message times.

async fn a_sender_does_not_choose_the_time_of_its_message(kind: Kind) {
    let server = Server::start(kind).await;
    let (mut t, me) = server.tern().await;
    let peer = server.peer(None).await;
    let them = peer.bare_jid().to_string();
    let before = now_ms();
    for (body, stamp) in [
        ("backdated", "2001-01-01T00:00:00Z"),
        ("from the future", "2999-01-01T00:00:00Z"),
    ] {
        // A delay without `from`, and one naming the sender's own server:
        // neither is the user's server vouching for the time.
        peer.raw(&format!(
            "<message to='{me}' type='chat' id='{body}'><body>{body}</body>\
             <delay xmlns='urn:xmpp:delay' stamp='{stamp}'/>\
             <delay xmlns='urn:xmpp:delay' from='{them}' stamp='{stamp}'/></message>"
        ))
        .unwrap();
        let got = incoming(&mut t, &them, body).await;
        assert!(
            got.timestamp_ms >= before - 1000 && got.timestamp_ms <= now_ms(),
            "{body}: filed at {}, not at arrival ({before}..)",
            got.timestamp_ms
        );
    }
    let list = t.client.timeline(&me, &them, None, 10).await.unwrap();
    assert!(list.iter().all(|m| m.timestamp_ms >= before - 1000));

    // Offline delivery: the user's own server stamps it, and that counts.
    t.client.set_enabled(&me, false).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sent_at = now_ms();
    peer.raw(&format!(
        "<message to='{me}' type='chat' id='off'><body>while you were away</body>\
         <delay xmlns='urn:xmpp:delay' stamp='2001-01-01T00:00:00Z'/></message>"
    ))
    .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    t.client.set_enabled(&me, true).await.unwrap();
    let got = incoming(&mut t, &them, "while you were away").await;
    assert!(
        got.timestamp_ms >= sent_at - 2000 && got.timestamp_ms <= sent_at + 3000,
        "filed at the server's stamp ({}), not the sender's or arrival ({sent_at})",
        got.timestamp_ms
    );
    t.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_message_times_prosody() {
    a_sender_does_not_choose_the_time_of_its_message(Kind::Prosody).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_message_times_ejabberd() {
    a_sender_does_not_choose_the_time_of_its_message(Kind::Ejabberd).await;
}

// Finding 8: only the bare account JID speaks for the account.

async fn another_client_of_the_account_cannot_speak_for_the_server(kind: Kind) {
    let server = Server::start(kind).await;
    let (jid, pass) = server.user();
    let mut t = client().await;
    t.client
        .add_account(account(&jid, &pass, loopback(server.port(), false)))
        .await
        .unwrap();
    wait_connected(&mut t, &jid).await;
    let me = jid.clone();
    // The same account, signed in elsewhere.
    let other = server.peer(Some((jid, pass))).await;
    let friend = server.peer(None).await;
    let full = tern_full_jid(&t, &me, &friend).await;

    // A carbon and an archive result forged by the other client.
    let inner = format!(
        "<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' \
         from='{}/x' to='{me}' type='chat' id='f1'><body>forged copy</body></message></forwarded>",
        friend.bare_jid()
    );
    for wrapper in [
        format!("<received xmlns='urn:xmpp:carbons:2'>{inner}</received>"),
        format!("<result xmlns='urn:xmpp:mam:2' id='A1'>{inner}</result>"),
    ] {
        other
            .raw(&format!(
                "<message to='{full}' type='chat'>{wrapper}</message>"
            ))
            .unwrap();
    }
    // A roster push and a blocklist push forged by the other client.
    let roster = on(&other, {
        let full = full.clone();
        move |p| {
            p.iq(
                &format!(
                    "<iq type='set' to='{full}'><query xmlns='jabber:iq:roster'>\
                     <item jid='mallory@evil.example' subscription='both'/></query></iq>"
                ),
                T,
            )
            .unwrap()
        }
    })
    .await;
    // Every forgery believed, listed at the end.
    let mut believed = Vec::new();
    if roster["type"] != "error" {
        believed.push(format!("roster push answered: {roster}"));
    }
    let block = on(&other, {
        let full = full.clone();
        move |p| {
            p.iq(
                &format!(
                    "<iq type='set' to='{full}'><block xmlns='urn:xmpp:blocking'>\
                     <item jid='friend@evil.example'/></block></iq>"
                ),
                T,
            )
            .unwrap()
        }
    })
    .await;
    if block["type"] != "error" {
        believed.push(format!("blocklist push answered: {block}"));
    }

    // Then a real message: whatever was forged would have come before it.
    friend.send_message(&me, "the real one", "real-1").unwrap();
    incoming(&mut t, friend.bare_jid(), "the real one").await;
    let list = t
        .client
        .timeline(&me, friend.bare_jid(), None, 10)
        .await
        .unwrap();
    let forged = list.iter().filter(|m| m.body == "forged copy").count();
    if forged > 0 {
        believed.push(format!("{forged} forged carbon or archive result stored"));
    }
    if t.client
        .contact(&me, "mallory@evil.example")
        .await
        .unwrap()
        .is_some()
    {
        believed.push("roster push stored".into());
    }
    if t.client
        .snapshot()
        .blocked
        .get(&me)
        .is_some_and(|b| b.contains("friend@evil.example"))
    {
        believed.push("blocklist push applied".into());
    }
    assert!(believed.is_empty(), "{believed:#?}");
    t.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_own_full_jid_prosody() {
    another_client_of_the_account_cannot_speak_for_the_server(Kind::Prosody).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_own_full_jid_ejabberd() {
    another_client_of_the_account_cannot_speak_for_the_server(Kind::Ejabberd).await;
}

// Finding 9: an IQ answer must come from the entity asked.

async fn an_answer_from_someone_else_is_ignored(kind: Kind) {
    let server = Server::start(kind).await;
    let (t, me) = server.tern().await;
    let asked = server.peer(None).await;
    let mallory = server.peer(None).await;
    asked.quiet_disco().unwrap();
    let to: Jid = asked.jid().parse().unwrap();
    let iq = Iq::from_get(
        "will-be-replaced",
        xmpp_parsers::disco::DiscoInfoQuery { node: None },
    )
    .with_to(to);
    let request = tokio::spawn({
        let (client, me) = (t.client.clone(), me.clone());
        async move { client.request(&me, iq).await }
    });
    // The asked peer sees the request (and its id), and stays quiet;
    // mallory, who learnt the id, answers first.
    let seen = on(&asked, |p| {
        p.wait_for(T, |e| {
            e["event"] == "iq_request" && e["ns"] == "http://jabber.org/protocol/disco#info"
        })
        .unwrap()
    })
    .await;
    let (id, tern) = (
        seen["id"].as_str().unwrap().to_string(),
        seen["from"].as_str().unwrap().to_string(),
    );
    mallory
        .raw(&format!(
            "<iq type='result' id='{id}' to='{tern}'><query xmlns='http://jabber.org/protocol/disco#info'>\
             <identity category='client' type='pc' name='forged'/><feature var='urn:forged'/></query></iq>"
        ))
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!request.is_finished(), "answered by mallory");
    asked
        .raw(&format!(
            "<iq type='result' id='{id}' to='{tern}'><query xmlns='http://jabber.org/protocol/disco#info'>\
             <identity category='client' type='pc' name='real'/><feature var='urn:real'/></query></iq>"
        ))
        .unwrap();
    let answer = tokio::time::timeout(T, request)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Iq::Result {
        from,
        payload: Some(p),
        ..
    } = answer
    else {
        panic!("{answer:?}")
    };
    assert_eq!(from.unwrap().to_string(), asked.jid());
    let features: Vec<&str> = p.children().filter_map(|c| c.attr("var")).collect();
    assert_eq!(features, ["urn:real"], "the answer of the entity asked");
    t.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_iq_sender_prosody() {
    an_answer_from_someone_else_is_ignored(Kind::Prosody).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_iq_sender_ejabberd() {
    an_answer_from_someone_else_is_ignored(Kind::Ejabberd).await;
}

// Finding 10: strangers learn nothing unless the user chose so.

/// What `peer` gets for a ping, a disco#info and a version query to `tern`.
async fn probes(peer: &Arc<SlixmppPeer>, tern: &str) -> Vec<String> {
    let mut out = Vec::new();
    for payload in [
        "<ping xmlns='urn:xmpp:ping'/>",
        "<query xmlns='http://jabber.org/protocol/disco#info'/>",
        "<query xmlns='jabber:iq:version'/>",
    ] {
        let xml = format!("<iq type='get' to='{tern}'>{payload}</iq>");
        let got = on(peer, move |p| p.iq(&xml, T).unwrap()).await;
        out.push(got["type"].as_str().unwrap_or_default().to_string());
    }
    out
}

/// Whether `peer` gets a receipt for a message it sends to `me` (`id`).
async fn receipt_for(t: &mut TestClient, me: &str, peer: &Arc<SlixmppPeer>, id: &str) -> bool {
    let body = format!("asking {id}");
    peer.send_message(me, &body, id).unwrap();
    incoming(t, peer.bare_jid(), &body).await;
    let id = id.to_string();
    on(peer, move |p| {
        p.wait_for(Duration::from_secs(3), |e| {
            e["event"] == "receipt" && e["id"] == id.as_str()
        })
        .is_ok()
    })
    .await
}

async fn strangers_learn_nothing_unless_the_user_chose(kind: Kind) {
    let server = Server::start(kind).await;
    let (mut t, me) = server.tern().await;
    let stranger = server.peer(None).await;
    let contact = server.peer(None).await;
    t.client
        .add_contact(&me, contact.bare_jid(), None, &[])
        .await
        .unwrap();
    let tern = tern_full_jid(&t, &me, &contact).await;

    // The contact is answered.
    assert!(receipt_for(&mut t, &me, &contact, "c1").await);
    assert_eq!(probes(&contact, &tern).await[..2], ["result", "result"]);

    // The stranger gets no receipt, no read marker, no typing, and
    // `service-unavailable` for ping and disco, as from an offline client.
    assert!(!receipt_for(&mut t, &me, &stranger, "s1").await);
    assert_eq!(probes(&stranger, &tern).await, ["error"; 3]);
    t.client.mark_read(&me, stranger.bare_jid()).await.unwrap();
    t.client
        .send_chat_state(&me, stranger.bare_jid(), "composing")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let told: Vec<_> = stranger
        .clear_events()
        .into_iter()
        .filter(|e| {
            e["event"] == "displayed" || (e["event"] == "message" && !e["chatstate"].is_null())
        })
        .collect();
    assert!(told.is_empty(), "{told:?}");

    // The user chooses to answer strangers.
    t.client.set_privacy(Privacy {
        receipts_to_strangers: true,
        chat_states_to_strangers: true,
        answer_strangers: true,
    });
    assert!(receipt_for(&mut t, &me, &stranger, "s2").await);
    assert_eq!(probes(&stranger, &tern).await[..2], ["result", "result"]);
    t.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_privacy_prosody() {
    strangers_learn_nothing_unless_the_user_chose(Kind::Prosody).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_privacy_ejabberd() {
    strangers_learn_nothing_unless_the_user_chose(Kind::Ejabberd).await;
}

// Finding 3: strangers cannot make Tern store without limit.

/// How many flooding presences; `TERN_FLOOD` overrides (scripts/bench runs
/// a bigger flood).
fn flood_size() -> usize {
    std::env::var("TERN_FLOOD")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000)
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Bytes under `dir`.
fn disk_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => disk_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn avatars(t: &TestClient) -> usize {
    std::fs::read_dir(t.dir.path().join("avatars"))
        .map(|d| d.count())
        .unwrap_or(0)
}

async fn a_flood_from_a_stranger_costs_bounded_memory_and_disk(kind: Kind) {
    init_tracing_at("tern_core=info,warn");
    let server = Server::start(kind).await;
    let (mut t, me) = server.tern().await;
    let stranger = server.peer(None).await;
    stranger.quiet_disco().unwrap();

    // A stranger with a real avatar: Tern does not fetch or keep it.
    let photo = {
        use std::io::Cursor;
        let img = image::RgbImage::from_fn(8, 8, |x, y| image::Rgb([x as u8, y as u8, 9]));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    };
    let hash = hex::encode(Sha1::digest(&photo));
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &photo);
    let published = on(&stranger, move |p| {
        p.iq(
            &format!(
                "<iq type='set'><vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE>\
                 <BINVAL>{b64}</BINVAL></PHOTO></vCard></iq>"
            ),
            T,
        )
        .unwrap()
    })
    .await;
    assert_eq!(published["type"], "result", "{published}");
    stranger
        .raw(&format!(
            "<presence to='{me}'><x xmlns='vcard-temp:x:update'><photo>{hash}</photo></x></presence>"
        ))
        .unwrap();

    let rss_before = rss_kib();
    let disk_before = disk_bytes(t.dir.path());
    let n = flood_size();
    let started = std::time::Instant::now();
    {
        let me = me.clone();
        on(&stranger, move |p| {
            p.flood(&me, n, Duration::from_secs(120)).unwrap()
        })
        .await;
    }
    let sent_in = started.elapsed();
    // Everything flooded has passed through Tern once a message sent
    // after it arrives.
    stranger
        .send_message(&me, "after the flood", "after")
        .unwrap();
    let body = "after the flood";
    // About 1,600 presences a second through Tern at idle priority.
    let within = Duration::from_secs(30 + n as u64 / 1000);
    wait_event(&mut t.events, within, body, |ev| match ev {
        ClientEvent::Message { message } if message.body == body => Some(()),
        _ => None,
    })
    .await;
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Connected at the end. (ejabberd itself may end the session during
    // the flood, "Too many unacked stanzas", when the flood outpaces the
    // client's acks past its max_ack_queue; Tern then signs in again at
    // once.)
    assert!(
        matches!(
            t.client.snapshot().account(&me).map(|a| &a.state),
            Some(tern_core::AccountState::Connected { .. })
        ),
        "connected after the flood"
    );
    let lookups = stranger
        .clear_events()
        .into_iter()
        .filter(|e| {
            e["event"] == "iq_request"
                && e["ns"] == "http://jabber.org/protocol/disco#info"
                && e["from"].as_str().is_some_and(|f| f.starts_with(&me))
        })
        .count();
    assert!(lookups <= 10, "{lookups} disco#info lookups for a stranger");
    assert_eq!(avatars(&t), 0, "a stranger's avatar was kept");
    let rss_growth = rss_kib().saturating_sub(rss_before);
    let disk_growth = disk_bytes(t.dir.path()).saturating_sub(disk_before);
    eprintln!(
        "flood of {n} presences ({kind:?}): sent in {sent_in:?}, through Tern in {took:?}, {lookups} lookups, \
         RSS +{rss_growth} KiB, disk +{disk_growth} B"
    );
    assert!(rss_growth < 64 * 1024, "RSS grew by {rss_growth} KiB");
    assert!(disk_growth < 8 << 20, "disk grew by {disk_growth} bytes");
    t.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_flood_prosody() {
    a_flood_from_a_stranger_costs_bounded_memory_and_disk(Kind::Prosody).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_flood_ejabberd() {
    a_flood_from_a_stranger_costs_bounded_memory_and_disk(Kind::Ejabberd).await;
}
