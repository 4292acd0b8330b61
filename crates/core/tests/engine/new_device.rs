//! A new device: online at once, the newest of every conversation first,
//! the rest of the history in the background, nothing falsely unread; and
//! a restart in the middle of the background history resumes it.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use tern_core::{AccountState, ClientEvent};
use tern_testkit::{PeerOptions, Prosody, SlixmppPeer};

use crate::support::*;

const T: Duration = Duration::from_secs(60);

/// `n` fresh users: (bare JID, password).
fn users(server: &Prosody, n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|_| {
            let (user, pass) = server.create_user().unwrap();
            (format!("{user}@{}", server.domain()), pass)
        })
        .collect()
}

/// Contacts in one client, each signed in (with no history of their own to
/// catch up with).
async fn contacts(server: &Prosody, users: Vec<(String, String)>) -> (TestClient, Vec<String>) {
    let mut t = client_configured(true, |c| c.first_sync_limit = 1).await;
    let mut jids = Vec::new();
    for (jid, pass) in users {
        t.client
            .add_account(account(&jid, &pass, loopback(server.c2s_port(), false)))
            .await
            .unwrap();
        jids.push(jid);
    }
    let mut waiting: HashSet<String> = jids.iter().cloned().collect();
    wait_event(&mut t.events, T, "every contact signed in", |ev| {
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
    (t, jids)
}

/// Each of `from`, one after the other, sends `n` numbered messages to
/// `to` and then one more through the send queue; returns when the server
/// acknowledged that last one (so it has the others, which went before it
/// on the same stream), with the uid of each sender's last message. The
/// first `n` go as plain stanzas, as fast as the stream takes them.
async fn send_from_each(
    t: &mut TestClient,
    from: &[String],
    to: &str,
    n: usize,
    tag: &str,
) -> HashMap<String, String> {
    let mut last = HashMap::new();
    for (k, f) in from.iter().enumerate() {
        // History as such, as measured beside Dino: plain messages.
        t.client
            .set_conversation_encryption(f, to, false)
            .await
            .unwrap();
        for i in 0..n {
            let id = format!("{tag}-{k}-{i}");
            let xml = format!(
                "<message xmlns='jabber:client' type='chat' to='{to}' id='{id}'>\
                 <body>{tag} {i} from {f}</body><origin-id xmlns='urn:xmpp:sid:0' id='{id}'/></message>"
            );
            let m = xmpp_parsers::message::Message::try_from(
                xml.parse::<xmpp_parsers::minidom::Element>().unwrap(),
            )
            .unwrap();
            t.client
                .send_stanza(f, tokio_xmpp::Stanza::Message(m))
                .await
                .unwrap();
        }
        let m = t
            .client
            .send_message(f, to, &format!("{tag} last from {f}"), None)
            .await
            .unwrap();
        last.insert(f.clone(), m.uid.clone());
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            // (The archive's newest may come in beside it.)
            let sent = t.client.timeline(f, to, None, 10).await.unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_device_is_online_at_once_and_nothing_is_falsely_unread() {
    init_tracing_at("tern_core=info,warn");
    const CONTACTS: usize = 20;
    const EACH: usize = 245;
    let server = Prosody::start().unwrap();
    let mut people = users(&server, CONTACTS + 2);
    let (me, me_pass) = people.remove(0);
    let (peer_jid, peer_pass) = people.remove(0);
    let start = Instant::now();
    let (mut cs, contacts) = contacts(&server, people).await;
    eprintln!("contacts signed in: {:?}", start.elapsed());

    // The user's other device, there only briefly (its own first sync kept
    // tiny). A slixmpp contact is allowed to see the user's presence.
    let mut a = client_configured(true, |c| c.first_sync_limit = 1).await;
    a.client
        .add_account(account(&me, &me_pass, loopback(server.c2s_port(), false)))
        .await
        .unwrap();
    wait_connected(&mut a, &me).await;
    let peer = blocking({
        let (j, port) = (peer_jid.clone(), server.c2s_port());
        move || SlixmppPeer::start(PeerOptions::new(j, peer_pass, "127.0.0.1", port)).unwrap()
    })
    .await;
    let peer = std::sync::Arc::new(peer);
    peer.subscribe(&me).unwrap();
    wait_event(&mut a.events, T, "the peer's request", |ev| match ev {
        ClientEvent::SubscriptionRequest { from, .. } if *from == peer_jid => Some(()),
        _ => None,
    })
    .await;
    a.client.approve_subscription(&me, &peer_jid).await.unwrap();
    // The 20 are the user's contacts.
    for c in &contacts {
        a.client.add_contact(&me, c, None, &[]).await.unwrap();
    }
    a.client.set_enabled(&me, false).await.unwrap();

    // 4,900 messages from 20 contacts while the user is away.
    let last_bulk = send_from_each(&mut cs, &contacts, &me, EACH, "bulk").await;
    server.purge_offline().unwrap();
    eprintln!("archive filled: {:?}", start.elapsed());
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // The other device comes back: it answers c0 and c3..c19, and marks
    // c1's messages displayed; then c0 writes 3 more and c1 2 more.
    a.client.set_enabled(&me, true).await.unwrap();
    wait_connected(&mut a, &me).await;
    let answered: Vec<String> = contacts
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1 && *i != 2)
        .map(|(_, c)| c.clone())
        .collect();
    let mut answers = HashSet::new();
    for c in &answered {
        let m = a
            .client
            .send_message(&me, c, "thanks, read it all", None)
            .await
            .unwrap();
        answers.insert(m.id);
    }
    // The answers go encrypted (the contacts' keys fetched first): all of
    // them reach the server before this device leaves.
    wait_event(&mut a.events, T, "the answers acknowledged", |ev| {
        if let ClientEvent::Message { message } = ev {
            if message.state == "acked" {
                answers.remove(&message.id);
            }
        }
        answers.is_empty().then_some(())
    })
    .await;
    let marker = format!(
        "<message xmlns='jabber:client' to='{}' type='chat' id='mark-1'>\
         <displayed xmlns='urn:xmpp:chat-markers:0' id='{}'/></message>",
        contacts[1], last_bulk[&contacts[1]]
    );
    a.client
        .send_stanza(
            &me,
            tokio_xmpp::Stanza::Message(
                xmpp_parsers::message::Message::try_from(
                    marker.parse::<xmpp_parsers::minidom::Element>().unwrap(),
                )
                .unwrap(),
            ),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    a.client.set_enabled(&me, false).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let later0 = send_from_each(&mut cs, &contacts[0..1], &me, 3, "later").await;
    let later1 = send_from_each(&mut cs, &contacts[1..2], &me, 2, "later").await;
    server.purge_offline().unwrap();
    let mut newest = last_bulk.clone();
    newest.extend(later0);
    newest.extend(later1);
    // Each batch of n is followed by one more (see send_from_each).
    let total = CONTACTS * (EACH + 1) + answered.len() + (3 + 1) + (2 + 1);

    // A new device signs in.
    eprintln!("crafted: {:?}", start.elapsed());
    peer.clear_events();
    let mut b = client().await;
    let watcher = {
        let (p, me) = (peer.clone(), me.clone());
        tokio::task::spawn_blocking(move || {
            p.wait_for(T, |e| {
                e["event"] == "presence"
                    && e["type"] == "available"
                    && e["from"]
                        .as_str()
                        .is_some_and(|f| f.starts_with(&format!("{me}/")))
            })
            .unwrap();
            Instant::now()
        })
    };
    b.client
        .add_account(account(&me, &me_pass, loopback(server.c2s_port(), false)))
        .await
        .unwrap();
    wait_for(&mut b.events, &me, T, |s| {
        matches!(s, AccountState::Connected { .. })
    })
    .await;
    let signed_in = Instant::now();
    let seen_online = watcher.await.unwrap();
    let online_after = seen_online.saturating_duration_since(signed_in);
    assert!(
        online_after <= Duration::from_millis(300),
        "the contact saw the user online {online_after:?} after sign-in"
    );

    // The newest page of every conversation is stored within 2 s.
    let mut reported = false;
    let listed_by = loop {
        let mut all = true;
        for (c, uid) in &newest {
            let last = b.client.timeline(&me, c, None, 5).await.unwrap();
            let has = last.iter().any(|m| &m.uid == uid);
            if !has && !reported && signed_in.elapsed() > Duration::from_secs(2) {
                eprintln!(
                    "missing {c}'s {uid}; have {:?}",
                    last.iter().map(|m| (&m.uid, &m.body)).collect::<Vec<_>>()
                );
            }
            all &= has;
        }
        if signed_in.elapsed() > Duration::from_secs(2) {
            reported = true;
        }
        if all {
            break signed_in.elapsed();
        }
        assert!(
            signed_in.elapsed() < Duration::from_secs(30),
            "the conversations' newest messages never all came"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!("online after {online_after:?}, newest of every conversation after {listed_by:?}");
    assert!(
        listed_by <= Duration::from_secs(2),
        "the newest of every conversation took {listed_by:?}"
    );

    // Then everything, once.
    wait_event(
        &mut b.events,
        Duration::from_secs(180),
        "history done",
        |ev| match ev {
            ClientEvent::HistorySync {
                account,
                done: true,
                ..
            } if *account == me => Some(()),
            _ => None,
        },
    )
    .await;
    let mut stored = 0;
    let mut uids = HashSet::new();
    for c in &contacts {
        let all = b.client.timeline(&me, c, None, 10_000).await.unwrap();
        stored += all.len();
        uids.extend(all.into_iter().map(|m| (c.clone(), m.outgoing, m.uid)));
    }
    assert_eq!(stored, total, "every archived message stored");
    assert_eq!(uids.len(), total, "each once");

    // Unread: only what came after the user's answer and marker.
    let conversations = b.client.subscribe_conversations().await.unwrap().0;
    let unread: HashMap<&str, i64> = conversations
        .iter()
        .map(|c| (c.peer.as_str(), c.unread))
        .collect();
    assert_eq!(unread[contacts[0].as_str()], 4, "c0: four after the answer");
    assert_eq!(
        unread[contacts[1].as_str()],
        3,
        "c1: three after the marker"
    );
    assert_eq!(
        unread[contacts[2].as_str()],
        EACH as i64 + 1,
        "c2: never answered, all unread"
    );
    for c in &contacts[3..] {
        assert_eq!(unread[c.as_str()], 0, "{c}: answered");
    }
    assert_eq!(
        conversations.iter().map(|c| c.unread).sum::<i64>(),
        4 + 3 + EACH as i64 + 1
    );
    b.client.shutdown().await;
    a.client.shutdown().await;
    cs.client.shutdown().await;
    std::sync::Arc::try_unwrap(peer).ok().map(|p| p.quit());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_the_middle_of_the_history_resumes_where_it_stopped() {
    init_tracing_at("tern_core=info,warn");
    const N: usize = 1499;
    let server = Prosody::start().unwrap();
    let mut people = users(&server, 2);
    let (me, me_pass) = people.remove(0);
    let (mut cs, contacts) = contacts(&server, people).await;
    send_from_each(&mut cs, &contacts, &me, N, "m").await;
    server.purge_offline().unwrap();

    // First start: once the first page is in, the user is busy (scrolling,
    // typing), so the background history waits; then Tern quits.
    let mut b = client().await;
    b.client
        .add_account(account(&me, &me_pass, loopback(server.c2s_port(), false)))
        .await
        .unwrap();
    let mut first = 0;
    wait_event(&mut b.events, T, "the first page", |ev| match ev {
        ClientEvent::HistorySync {
            account, fetched, ..
        } if *account == me && *fetched > 0 => {
            first = *fetched;
            Some(())
        }
        _ => None,
    })
    .await;
    b.client.user_active();
    let busy = {
        let c = b.client.clone();
        tokio::spawn(async move {
            loop {
                c.user_active();
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    // Whatever was under way when the user became busy still comes.
    let mut fetched_before = first;
    let quiet = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Ok(Ok(ev)) = tokio::time::timeout_at(quiet, b.events.recv()).await {
        if let ClientEvent::HistorySync {
            account,
            fetched,
            done,
            ..
        } = ev
        {
            if account == me {
                assert!(!done, "the history must wait while the user is busy");
                fetched_before = fetched;
            }
        }
    }
    assert!(
        (fetched_before as usize) <= N,
        "paused before the end ({fetched_before} of {N})"
    );
    busy.abort();
    let dir = b.dir;
    b.client.shutdown().await;

    // Second start, same data: the rest, nothing twice.
    let mut config = tern_core::ClientConfig::new(dir.path().to_path_buf(), keychain());
    config.extra_roots = vec![tern_testkit::TestCa::global().ca_cert_der()];
    let again = tern_core::Client::open(config).await.unwrap();
    let mut events = again.subscribe().1;
    let fetched_after = wait_event(&mut events, T, "history done", |ev| match ev {
        ClientEvent::HistorySync {
            account,
            fetched,
            done: true,
            ..
        } if *account == me => Some(*fetched),
        _ => None,
    })
    .await;
    assert_eq!(
        (fetched_before + fetched_after) as usize,
        N + 1,
        "{fetched_before} before the restart and {fetched_after} after: each page once"
    );
    let all = again
        .timeline(&me, &contacts[0], None, 10_000)
        .await
        .unwrap();
    assert_eq!(all.len(), N + 1, "nothing lost");
    let uids: HashSet<_> = all.iter().map(|m| &m.uid).collect();
    assert_eq!(uids.len(), N + 1, "nothing twice");
    again.shutdown().await;
    cs.client.shutdown().await;
}
