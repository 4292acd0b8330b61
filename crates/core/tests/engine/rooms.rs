//! Group chats (XEP-0045) against Prosody and ejabberd, with a slixmpp
//! peer as the other occupant.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tern_core::{ClientEvent, RoomKind, RoomStatus, RoomView};
use tern_testkit::{
    ModerationVersion, PeerOptions, Prosody, ProsodyOptions, RoomConfig, SlixmppPeer, TcpProxy,
};

use crate::support::*;

const T: Duration = Duration::from_secs(20);

fn room_where<'a>(
    room: &'a str,
    pred: impl Fn(&RoomView) -> bool + 'a,
) -> impl FnMut(&ClientEvent) -> Option<RoomView> + 'a {
    move |ev| match ev {
        ClientEvent::Room { room: r } if r.jid == room && pred(r) => Some(r.clone()),
        _ => None,
    }
}

/// The stored messages of a conversation, read from Tern's database.
async fn stored(t: &TestClient, account: &str, peer: &str) -> Vec<tern_store::MessageRow> {
    let store = tern_store::Store::open(&t.dir.path().join("tern.sqlite3"))
        .await
        .unwrap();
    store.timeline(account, peer, None, 1000).await.unwrap()
}

/// How many stored messages of `room` have `body`.
async fn count_body(t: &TestClient, account: &str, room: &str, body: &str) -> usize {
    stored(t, account, room)
        .await
        .iter()
        .filter(|m| m.body == body)
        .count()
}

/// Tern creates a private group and a public channel; the peer joins the
/// group; both talk; Tern's own message is stored once, with the room's id;
/// a mention is flagged.
async fn create_talk_and_mention(server: &Server) {
    let (mut t, me, _) = tern(server).await;
    let p = peer(server).await;
    let bob = p.bare();

    let group = server.room("group");
    let view = t
        .client
        .create_room(&me, "Tern Group", Some(&group), RoomKind::PrivateGroup)
        .await
        .unwrap();
    assert_eq!(view.status, RoomStatus::Joined);
    assert_eq!(view.affiliation, "owner");
    let info = t.client.room_info(&me, &group).await.unwrap();
    assert_eq!(info.kind, RoomKind::PrivateGroup, "{info:?}");

    let channel = server.room("channel");
    let view = t
        .client
        .create_room(&me, "Tern Channel", Some(&channel), RoomKind::PublicChannel)
        .await
        .unwrap();
    assert_eq!(view.status, RoomStatus::Joined);
    let info = t.client.room_info(&me, &channel).await.unwrap();
    assert_eq!(info.kind, RoomKind::PublicChannel, "{info:?}");

    // A private group is for members: bob becomes one, then joins.
    t.client
        .set_affiliation(&me, &group, &bob, "member", None)
        .await
        .unwrap();
    let g = group.clone();
    let joined = p.run(move |p| p.muc_join(&g, "bob").unwrap()).await;
    assert_eq!(joined["affiliation"], "member");
    let my_nick = t
        .client
        .rooms()
        .await
        .into_iter()
        .find(|r| r.jid == group)
        .unwrap()
        .nick;

    // Tern -> room: the peer sees it once, as groupchat.
    let sent = t
        .client
        .send_message(&me, &group, "hello room", None)
        .await
        .unwrap();
    let g = group.clone();
    let at_peer = p
        .event(move |e| {
            e["event"] == "message"
                && e["body"] == "hello room"
                && e["from"].as_str().is_some_and(|f| f.starts_with(&g))
        })
        .await;
    assert_eq!(at_peer["type"], "groupchat");
    assert_eq!(at_peer["from"], format!("{group}/{my_nick}"));

    // The peer -> room: Tern has it from the peer's nick.
    let g = group.clone();
    p.run(move |p| p.muc_send(&g, "hi Tern", "bob-1").unwrap())
        .await;
    let got = wait_event(
        &mut t.events,
        T,
        "the peer's message",
        message_where(&group, |m| !m.outgoing && m.body == "hi Tern"),
    )
    .await;
    assert_eq!(got.sender, format!("{group}/bob"));
    assert!(!got.mention);

    // A mention of Tern's nickname.
    let g = group.clone();
    let text = format!("{my_nick}: are you there?");
    let body = text.clone();
    p.run(move |p| p.muc_send(&g, &body, "bob-2").unwrap())
        .await;
    let got = wait_event(
        &mut t.events,
        T,
        "the mention",
        message_where(&group, |m| m.body == text),
    )
    .await;
    assert!(got.mention, "{got:?}");
    let convs = t.client.subscribe_conversations().await.unwrap().0;
    let conv = convs.iter().find(|c| c.peer == group).unwrap();
    assert_eq!(conv.mentions, 1, "{conv:?}");
    assert_eq!(conv.unread, 2, "{conv:?}");

    // Tern's own message: stored once (its reflection is not a second
    // message), with the id the room gave it.
    let stanza_id = at_peer["stanza_id"].as_str().unwrap().to_string();
    let rows = stored(&t, &me, &group).await;
    let mine: Vec<_> = rows.iter().filter(|m| m.body == "hello room").collect();
    assert_eq!(mine.len(), 1, "{rows:#?}");
    assert_eq!(mine[0].id, sent.id);
    assert_eq!(
        mine[0].archive_id.as_deref(),
        Some(stanza_id.as_str()),
        "{:#?}",
        mine[0]
    );
    assert_eq!(
        stored(&t, &me, &group)
            .await
            .iter()
            .find(|m| m.id == sent.id)
            .unwrap()
            .state,
        tern_store::MessageState::Delivered,
        "the room's echo"
    );

    // The user goes away: the room's occupants see it.
    t.client
        .set_presence(&me, "away", Some("tea"))
        .await
        .unwrap();
    let nick = my_nick.clone();
    let seen = p
        .event(move |e| {
            e["event"] == "muc_presence" && e["nick"] == nick.as_str() && e["show"] == "away"
        })
        .await;
    assert_eq!(seen["status"], "tea");
    t.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_create_talk_and_mention_prosody() {
    create_talk_and_mention(&Server::prosody()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_create_talk_and_mention_ejabberd() {
    create_talk_and_mention(&Server::ejabberd().await).await;
}

/// Waits until Tern has every one of `bodies` in `room`; then checks that
/// each is stored exactly once.
async fn each_once(t: &TestClient, me: &str, room: &str, bodies: &[String]) {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let rows = stored(t, me, room).await;
        let missing: Vec<_> = bodies
            .iter()
            .filter(|b| !rows.iter().any(|m| &m.body == *b))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "missing {missing:?}; stored: {:#?}",
            rows.iter().map(|m| &m.body).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Late duplicates (a catch-up page after the live copy) get a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for b in bodies {
        let n = count_body(t, me, room, b).await;
        assert_eq!(n, 1, "{b:?} stored {n} times");
    }
}

/// The peer talks before Tern joins: Tern gets that from the room's
/// archive once; after Tern was away, it has what was said meanwhile, and
/// nothing twice.
async fn history_without_duplicates(server: &Server) {
    let proxy = TcpProxy::start(([127, 0, 0, 1], server.port()).into()).unwrap();
    let (me, pass) = server.user();
    let mut t = client().await;
    t.client
        .add_account(account(&me, &pass, loopback(proxy.port(), false)))
        .await
        .unwrap();
    wait_connected(&mut t, &me).await;
    let p = peer(server).await;
    let room = server.room("history");
    let r = room.clone();
    p.run(move |p| {
        p.muc_create(&r, "bob", &Default::default()).unwrap();
        for i in 0..3 {
            p.muc_send(&r, &format!("before {i}"), &format!("before-{i}"))
                .unwrap();
        }
        // The room has them (archived) before Tern comes.
        p.muc_history(&r, 10).unwrap()
    })
    .await;

    let view = t
        .client
        .join_room(&me, &room, Some("tern"), None)
        .await
        .unwrap();
    assert_eq!(view.status, RoomStatus::Joined);
    let mut bodies: Vec<String> = (0..3).map(|i| format!("before {i}")).collect();
    each_once(&t, &me, &room, &bodies).await;

    // Live, both ways.
    t.client
        .send_message(&me, &room, "tern live", None)
        .await
        .unwrap();
    let r = room.clone();
    p.run(move |p| p.muc_send(&r, "bob live", "live-1").unwrap())
        .await;
    bodies.extend(["tern live".into(), "bob live".into()]);
    each_once(&t, &me, &room, &bodies).await;

    // The connection drops; the peer talks meanwhile; the session
    // resumes (or starts anew) and Tern has it once.
    proxy.set_refusing(true);
    proxy.cut_all();
    let r = room.clone();
    p.run(move |p| {
        for i in 0..2 {
            p.muc_send(&r, &format!("cut {i}"), &format!("cut-{i}"))
                .unwrap();
        }
    })
    .await;
    proxy.set_refusing(false);
    wait_connected(&mut t, &me).await;
    bodies.extend((0..2).map(|i| format!("cut {i}")));
    each_once(&t, &me, &room, &bodies).await;

    // Away: the peer talks meanwhile; back, Tern has it once.
    t.client.set_enabled(&me, false).await.unwrap();
    let r = room.clone();
    p.run(move |p| {
        // Tern's leave is seen before the peer talks on.
        p.wait_for(T, |e| {
            e["event"] == "muc_presence" && e["nick"] == "tern" && e["type"] == "unavailable"
        })
        .unwrap();
        for i in 0..3 {
            p.muc_send(&r, &format!("away {i}"), &format!("away-{i}"))
                .unwrap();
        }
        p.muc_history(&r, 20).unwrap()
    })
    .await;
    t.client.set_enabled(&me, true).await.unwrap();
    wait_connected(&mut t, &me).await;
    bodies.extend((0..3).map(|i| format!("away {i}")));
    each_once(&t, &me, &room, &bodies).await;
    let rows = stored(&t, &me, &room).await;
    assert_eq!(rows.len(), bodies.len(), "{rows:#?}");
    t.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_history_without_duplicates_prosody() {
    history_without_duplicates(&Server::prosody()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_history_without_duplicates_ejabberd() {
    history_without_duplicates(&Server::ejabberd().await).await;
}

/// Tern's view of `room`, from the snapshot.
async fn room_view(t: &TestClient, room: &str) -> RoomView {
    t.client
        .rooms()
        .await
        .into_iter()
        .find(|r| r.jid == room)
        .expect("the room is known")
}

/// Waits until Tern's occupant list of `room` satisfies `pred`.
async fn occupants_until(
    t: &TestClient,
    me: &str,
    room: &str,
    pred: impl Fn(&[tern_core::OccupantView]) -> bool,
) -> Vec<tern_core::OccupantView> {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let list = t.client.room_occupants(me, room).await.unwrap();
        if pred(&list) {
            return list;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "occupants of {room} not as expected: {list:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Tern owns a channel: sees the peer in it, sets the subject, kicks the
/// peer, sees the peer's subject; the peer, made owner, removes Tern.
/// Where the server does message moderation (XEP-0425), each removes a
/// message of the other.
async fn occupants_and_moderation(server: &Server, moderation: bool) {
    let (mut t, me, _) = tern(server).await;
    let p = peer(server).await;
    let bob = p.bare();
    let room = server.room("channel");
    let view = t
        .client
        .create_room(&me, "Moderated", Some(&room), RoomKind::PublicChannel)
        .await
        .unwrap();
    let my_nick = view.nick.clone();
    assert_eq!(view.role, "moderator");
    let r = room.clone();
    p.run(move |p| p.muc_join(&r, "bob").unwrap()).await;
    let list = occupants_until(&t, &me, &room, |l| l.iter().any(|o| o.nick == "bob")).await;
    let b = list.iter().find(|o| o.nick == "bob").unwrap();
    assert_eq!(b.role, "participant");
    assert!(!b.is_self);
    let mine = list.iter().find(|o| o.is_self).expect("the user is listed");
    assert_eq!(mine.nick, my_nick);
    assert_eq!(mine.affiliation, "owner");

    // Tern sets the subject; the peer sees it.
    t.client
        .set_room_subject(&me, &room, "Tern's subject")
        .await
        .unwrap();
    let subject = p
        .event(|e| e["event"] == "muc_subject" && e["subject"] == "Tern's subject")
        .await;
    assert_eq!(subject["from"], format!("{room}/{my_nick}"));

    if moderation {
        // Tern removes the peer's message.
        let r = room.clone();
        p.run(move |p| p.muc_send(&r, "remove me", "bob-remove").unwrap())
            .await;
        let theirs = wait_event(
            &mut t.events,
            T,
            "the peer's message",
            message_where(&room, |m| m.body == "remove me"),
        )
        .await;
        let stanza_id = p
            .event(|e| e["event"] == "message" && e["body"] == "remove me")
            .await["stanza_id"]
            .as_str()
            .unwrap()
            .to_string();
        t.client
            .moderate_message(&me, theirs.id, Some("spam"))
            .await
            .unwrap();
        let moderated = p.event(|e| e["event"] == "muc_moderated").await;
        assert_eq!(moderated["stanza_id"], stanza_id.as_str());
        assert_eq!(moderated["reason"], "spam");
        let gone = wait_event(
            &mut t.events,
            T,
            "the peer's message removed",
            message_where(&room, |m| m.id == theirs.id && m.retracted),
        )
        .await;
        assert!(gone.moderated_by.is_some(), "{gone:?}");
        assert!(gone.body.is_empty(), "{gone:?}");
    }

    // Tern kicks the peer.
    t.client
        .kick_occupant(&me, &room, "bob", Some("out"))
        .await
        .unwrap();
    let kicked = p
        .event(|e| e["event"] == "muc_presence" && e["self"] == true && e["type"] == "unavailable")
        .await;
    assert!(
        kicked["codes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == 307 || c == "307"),
        "{kicked}"
    );
    occupants_until(&t, &me, &room, |l| !l.iter().any(|o| o.nick == "bob")).await;

    // The peer comes back as an owner and sets the subject.
    t.client
        .set_affiliation(&me, &room, &bob, "owner", None)
        .await
        .unwrap();
    let r = room.clone();
    let joined = p.run(move |p| p.muc_join(&r, "bob").unwrap()).await;
    assert_eq!(joined["affiliation"], "owner");
    let r = room.clone();
    p.run(move |p| p.muc_subject(&r, "The peer's subject").unwrap())
        .await;
    wait_event(
        &mut t.events,
        T,
        "the peer's subject",
        room_where(&room, |r| {
            r.subject.as_deref() == Some("The peer's subject")
        }),
    )
    .await;

    if moderation {
        // The peer removes Tern's message (XEP-0425 version 0).
        let sent = t
            .client
            .send_message(&me, &room, "my words", None)
            .await
            .unwrap();
        let stanza_id = p
            .event(|e| e["event"] == "message" && e["body"] == "my words")
            .await["stanza_id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = room.clone();
        p.run(move |p| {
            p.muc_moderate(&r, &stanza_id, Some("off topic"), ModerationVersion::V0)
                .unwrap()
        })
        .await;
        let gone = wait_event(
            &mut t.events,
            T,
            "Tern's message removed",
            message_where(&room, |m| m.id == sent.id && m.retracted),
        )
        .await;
        assert!(gone.moderated_by.is_some(), "{gone:?}");
        assert_eq!(gone.moderation_reason.as_deref(), Some("off topic"));
        assert!(gone.body.is_empty(), "{gone:?}");
    }

    // The peer takes Tern's ownership and kicks Tern.
    let (r, who, nick) = (room.clone(), me.clone(), my_nick.clone());
    p.run(move |p| {
        p.muc_affiliation(&r, &who, "none", None).unwrap();
        p.muc_role(&r, &nick, "none", Some("bye")).unwrap();
    })
    .await;
    let out = wait_event(
        &mut t.events,
        T,
        "Tern kicked",
        room_where(&room, |r| r.status == RoomStatus::Failed),
    )
    .await;
    assert_eq!(out.error.as_deref(), Some("kicked"), "{out:?}");
    assert_eq!(room_view(&t, &room).await.status, RoomStatus::Failed);
    t.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_occupants_and_moderation_prosody() {
    occupants_and_moderation(&Server::prosody(), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_occupants_and_moderation_ejabberd() {
    occupants_and_moderation(&Server::ejabberd().await, false).await;
}

/// The code of a join's refusal.
fn refusal(r: tern_core::Result<RoomView>) -> String {
    match r {
        Err(tern_core::Error::Room { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A members-only room refuses Tern; a taken nickname gets a suffix; a
/// ban refuses Tern.
async fn join_errors(server: &Server) {
    let (t, me, _) = tern(server).await;
    let p = peer(server).await;

    let closed = server.room("closed");
    let r = closed.clone();
    p.run(move |p| {
        let config = RoomConfig {
            members_only: true,
            ..Default::default()
        };
        p.muc_create(&r, "bob", &config).unwrap()
    })
    .await;
    let mut events = t.client.subscribe().1;
    let code = refusal(t.client.join_room(&me, &closed, Some("tern"), None).await);
    assert_eq!(code, "members_only");
    wait_event(
        &mut events,
        T,
        "joining",
        room_where(&closed, |r| r.status == RoomStatus::Joining),
    )
    .await;
    let view = wait_event(
        &mut events,
        T,
        "refused",
        room_where(&closed, |r| r.status != RoomStatus::Joining),
    )
    .await;
    assert_eq!(view.status, RoomStatus::Failed);
    assert_eq!(view.error.as_deref(), Some("members_only"));

    // The nickname is taken: Tern takes it with a suffix.
    let open = server.room("open");
    let r = open.clone();
    p.run(move |p| p.muc_create(&r, "bob", &Default::default()).unwrap())
        .await;
    let view = t
        .client
        .join_room(&me, &open, Some("bob"), None)
        .await
        .unwrap();
    assert_eq!(view.status, RoomStatus::Joined);
    assert_ne!(view.nick, "bob");
    assert!(view.nick.starts_with("bob"), "{view:?}");
    let nick = view.nick.clone();
    p.event(move |e| e["event"] == "muc_presence" && e["nick"] == nick.as_str())
        .await;

    // Banned: Tern is removed, and a new join is refused.
    let (r, who) = (open.clone(), me.clone());
    p.run(move |p| p.muc_affiliation(&r, &who, "outcast", Some("no")).unwrap())
        .await;
    let deadline = tokio::time::Instant::now() + T;
    while room_view(&t, &open).await.status == RoomStatus::Joined {
        assert!(tokio::time::Instant::now() < deadline, "still joined");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let view = room_view(&t, &open).await;
    assert_eq!(view.status, RoomStatus::Failed);
    assert_eq!(view.error.as_deref(), Some("banned"), "{view:?}");
    let code = refusal(t.client.join_room(&me, &open, Some("tern"), None).await);
    assert_eq!(code, "banned");
    t.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_join_errors_prosody() {
    join_errors(&Server::prosody()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_join_errors_ejabberd() {
    join_errors(&Server::ejabberd().await).await;
}

/// Bookmarks (XEP-0402) shared with another client of the same account: a
/// room it bookmarks with autojoin is joined; a room joined here is
/// bookmarked there.
async fn bookmarks_sync(server: &Server) {
    let (mut t, me, pass) = tern(server).await;
    let owner = peer(server).await;
    let other = peer_as(server, &me, &pass).await;

    let first = server.room("bookmarked");
    let r = first.clone();
    owner
        .run(move |p| p.muc_create(&r, "owner", &Default::default()).unwrap())
        .await;
    let r = first.clone();
    other
        .run(move |p| {
            p.bookmark_add(&r, Some("Bookmarked"), Some("from-bookmark"), true)
                .unwrap()
        })
        .await;
    let view = wait_event(
        &mut t.events,
        T,
        "joined from the bookmark",
        room_where(&first, |r| r.status == RoomStatus::Joined),
    )
    .await;
    assert_eq!(view.nick, "from-bookmark");
    assert!(view.bookmarked && view.autojoin, "{view:?}");
    owner
        .event(|e| e["event"] == "muc_presence" && e["nick"] == "from-bookmark")
        .await;

    // A room joined here is bookmarked for the other client.
    let second = server.room("joined-here");
    let r = second.clone();
    owner
        .run(move |p| p.muc_create(&r, "owner", &Default::default()).unwrap())
        .await;
    t.client
        .join_room(&me, &second, Some("here"), None)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + T;
    let mark = loop {
        let marks = other.run(|p| p.bookmarks().unwrap()).await;
        if let Some(m) = marks.iter().find(|m| m["room"] == second.as_str()) {
            // Both bookmarks are kept (the node holds more than one).
            assert!(
                marks.iter().any(|m| m["room"] == first.as_str()),
                "{marks:?}"
            );
            break m.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no bookmark of {second}: {marks:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(mark["autojoin"], true);
    assert_eq!(mark["nick"], "here");
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let view = room_view(&t, &second).await;
        if view.bookmarked && view.autojoin {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{view:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    t.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_bookmarks_sync_prosody() {
    bookmarks_sync(&Server::prosody()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_bookmarks_sync_ejabberd() {
    bookmarks_sync(&Server::ejabberd().await).await;
}

/// Invitations from a stranger, direct and through the room: shown, not
/// joined until accepted; Tern's own invitation reaches the peer.
async fn invitations(server: &Server) {
    let (mut t, me, _) = tern(server).await;
    let p = peer(server).await;
    let bob = p.bare();
    let direct = server.room("direct");
    let mediated = server.room("mediated");
    let (r1, r2, who) = (direct.clone(), mediated.clone(), me.clone());
    p.run(move |p| {
        p.muc_create(&r1, "bob", &Default::default()).unwrap();
        p.muc_create(
            &r2,
            "bob",
            &RoomConfig {
                members_only: true,
                ..Default::default()
            },
        )
        .unwrap();
        p.invite_direct(&who, &r1, Some("come in")).unwrap();
        p.invite_mediated(&r2, &who, Some("through the room"))
            .unwrap();
    })
    .await;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let inv = wait_event(&mut t.events, T, "invitations", |ev| match ev {
            ClientEvent::Invitation { invitation } => Some(invitation.clone()),
            _ => None,
        })
        .await;
        seen.push(inv);
    }
    for (room, reason) in [(&direct, "come in"), (&mediated, "through the room")] {
        let inv = seen
            .iter()
            .find(|i| &i.room == room)
            .unwrap_or_else(|| panic!("no invitation to {room}: {seen:#?}"));
        // A room that hides addresses names the inviter by nickname.
        assert!(
            inv.inviter == bob || inv.inviter == format!("{room}/bob"),
            "{seen:#?}"
        );
        assert_eq!(inv.reason.as_deref(), Some(reason));
        assert!(!inv.from_contact, "a stranger's: {inv:?}");
    }
    assert_eq!(t.client.invitations().await.len(), 2);
    // Nothing joined by itself.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !t.client
            .rooms()
            .await
            .iter()
            .any(|r| r.status == RoomStatus::Joined || r.status == RoomStatus::Joining),
        "{:#?}",
        t.client.rooms().await
    );

    // Accepting joins; declining forgets.
    let view = t.client.accept_invitation(&me, &direct).await.unwrap();
    assert_eq!(view.status, RoomStatus::Joined);
    p.event(|e| e["event"] == "muc_presence" && e["type"] != "unavailable" && e["self"] == false)
        .await;
    t.client.decline_invitation(&me, &mediated).await.unwrap();
    assert!(t.client.invitations().await.is_empty());

    // Tern invites the peer to a room of its own.
    let own = server.room("own");
    t.client
        .create_room(&me, "Own", Some(&own), RoomKind::PrivateGroup)
        .await
        .unwrap();
    t.client
        .invite_to_room(&me, &own, std::slice::from_ref(&bob), Some("join us"))
        .await
        .unwrap();
    let o = own.clone();
    let inv = p
        .event(move |e| e["event"] == "invitation" && e["room"] == o.as_str())
        .await;
    assert_eq!(inv["reason"], "join us");
    // Invited to a private group, the peer may come in.
    let o = own.clone();
    p.run(move |p| p.muc_join(&o, "bob").unwrap()).await;
    t.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_invitations_prosody() {
    invitations(&Server::prosody()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_invitations_ejabberd() {
    invitations(&Server::ejabberd().await).await;
}

/// The room forgets Tern without a word (as after a restart of the group
/// chat service): Tern's self-ping (XEP-0410) notices, and Tern joins
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_self_ping_rejoins_a_dropped_membership_prosody() {
    let prosody = Prosody::start_with(ProsodyOptions {
        admin_shell: true,
        ..Default::default()
    })
    .unwrap();
    let server = Server::Prosody(prosody);
    let (me, pass) = server.user();
    let mut t = client_configured(true, |c| c.room_ping_after = Duration::from_secs(1)).await;
    t.client
        .add_account(account(&me, &pass, loopback(server.port(), false)))
        .await
        .unwrap();
    wait_connected(&mut t, &me).await;
    let p = peer(&server).await;
    let room = server.room("dropped");
    let r = room.clone();
    p.run(move |p| p.muc_create(&r, "bob", &Default::default()).unwrap())
        .await;
    t.client
        .join_room(&me, &room, Some("tern"), None)
        .await
        .unwrap();
    p.event(|e| e["event"] == "muc_presence" && e["nick"] == "tern" && e["type"] != "unavailable")
        .await;

    // Silent rooms that still have Tern are left alone.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(room_view(&t, &room).await.status, RoomStatus::Joined);
    let stray: Vec<Value> = p
        .run(|p| p.clear_events())
        .await
        .into_iter()
        .filter(|e| e["event"] == "muc_presence" && e["nick"] == "tern")
        .collect();
    assert!(stray.is_empty(), "no rejoin while in: {stray:?}");

    // The room drops Tern without telling anyone.
    let Server::Prosody(prosody) = &server else {
        unreachable!()
    };
    let answer = prosody
        .shell(&format!(
            r#"> local room = prosody.hosts["{}"].modules.muc.get_room_from_jid("{room}"); local o = room:get_occupant_by_nick("{room}/tern"); o.role = nil; room:save_occupant(o); return room:get_occupant_by_nick("{room}/tern") == nil"#,
            server.muc()
        ))
        .unwrap();
    assert!(answer.contains("true"), "{answer}");

    // Tern notices and is back in.
    p.event(|e| e["event"] == "muc_presence" && e["nick"] == "tern" && e["type"] != "unavailable")
        .await;
    wait_event(
        &mut t.events,
        T,
        "joined again",
        room_where(&room, |r| r.status == RoomStatus::Joined),
    )
    .await;
    t.client
        .send_message(&me, &room, "back in", None)
        .await
        .unwrap();
    p.event(|e| e["event"] == "message" && e["body"] == "back in")
        .await;
    t.client.shutdown().await;
}

/// A user of one server in a room on the other, over server-to-server:
/// joins, talks both ways, its own message stored once.
async fn across_federation(room_on_ejabberd: bool) {
    let fed = blocking(|| tern_testkit::Federation::start().unwrap()).await;
    // Tern's server and the room's.
    let (tern_port, room_port, room_muc) = if room_on_ejabberd {
        (
            fed.prosody.c2s_port(),
            fed.ejabberd.c2s_port(),
            fed.ejabberd.muc_domain(),
        )
    } else {
        (
            fed.ejabberd.c2s_port(),
            fed.prosody.c2s_port(),
            fed.prosody.muc_domain(),
        )
    };
    let ((a_user, a_pass), a_domain, (b_user, b_pass), b_domain) = if room_on_ejabberd {
        (
            fed.prosody.create_user().unwrap(),
            fed.domain_a(),
            fed.ejabberd.create_user().unwrap(),
            fed.domain_b(),
        )
    } else {
        (
            fed.ejabberd.create_user().unwrap(),
            fed.domain_b(),
            fed.prosody.create_user().unwrap(),
            fed.domain_a(),
        )
    };
    let me = format!("{a_user}@{a_domain}");
    let bob = format!("{b_user}@{b_domain}");
    let mut t = client().await;
    t.client
        .add_account(account(&me, &a_pass, loopback(tern_port, false)))
        .await
        .unwrap();
    wait_connected(&mut t, &me).await;
    let opts = PeerOptions::new(bob, b_pass, "127.0.0.1", room_port);
    let p = Peer(Arc::new(
        blocking(move || SlixmppPeer::start(opts).unwrap()).await,
    ));
    let room = format!("federated-{}@{}", std::process::id(), room_muc);
    let r = room.clone();
    p.run(move |p| p.muc_create(&r, "bob", &Default::default()).unwrap())
        .await;

    // The first s2s link can take a while.
    let view = tokio::time::timeout(
        Duration::from_secs(60),
        t.client.join_room(&me, &room, Some("tern"), None),
    )
    .await
    .expect("joined within a minute")
    .unwrap();
    assert_eq!(view.status, RoomStatus::Joined);
    let list = occupants_until(&t, &me, &room, |l| l.iter().any(|o| o.nick == "bob")).await;
    assert_eq!(list.len(), 2, "{list:#?}");

    let sent = t
        .client
        .send_message(&me, &room, "from the other server", None)
        .await
        .unwrap();
    let at_peer = p
        .event(|e| e["event"] == "message" && e["body"] == "from the other server")
        .await;
    assert_eq!(at_peer["from"], format!("{room}/tern"));
    let r = room.clone();
    p.run(move |p| p.muc_send(&r, "welcome over", "fed-1").unwrap())
        .await;
    let got = wait_event(
        &mut t.events,
        T,
        "the peer's message",
        message_where(&room, |m| m.body == "welcome over"),
    )
    .await;
    assert_eq!(got.sender, format!("{room}/bob"));
    let bodies = ["from the other server".to_string(), "welcome over".into()];
    each_once(&t, &me, &room, &bodies).await;
    let rows = stored(&t, &me, &room).await;
    let mine = rows.iter().find(|m| m.id == sent.id).unwrap();
    assert_eq!(
        mine.archive_id.as_deref(),
        at_peer["stanza_id"].as_str(),
        "{mine:#?}"
    );
    t.client.shutdown().await;
}

/// A Prosody user in a room on ejabberd.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_across_federation() {
    across_federation(true).await;
}

/// The other way round: an ejabberd user in a room on Prosody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_across_federation_the_other_way() {
    across_federation(false).await;
}

/// The owner turns a public channel into a private group and renames it;
/// leaving and forgetting a room takes it, its conversation and its
/// bookmark away.
async fn settings_and_forget(server: &Server) {
    let (mut t, me, pass) = tern(server).await;
    let room = server.room("settings");
    t.client
        .create_room(&me, "Open House", Some(&room), RoomKind::PublicChannel)
        .await
        .unwrap();
    let info = t.client.room_info(&me, &room).await.unwrap();
    assert_eq!(info.kind, RoomKind::PublicChannel, "{info:?}");
    let view = t
        .client
        .configure_room(&me, &room, "Closed House", RoomKind::PrivateGroup)
        .await
        .unwrap();
    assert_eq!(view.name.as_deref(), Some("Closed House"));
    assert_eq!(view.kind, RoomKind::PrivateGroup, "{view:?}");
    let info = t.client.room_info(&me, &room).await.unwrap();
    assert_eq!(info.kind, RoomKind::PrivateGroup, "{info:?}");
    assert_eq!(info.name.as_deref(), Some("Closed House"));
    // Who belongs: the owner, a member added by address, someone banned.
    let friend = format!("friend@{}", server.domain());
    t.client
        .set_affiliation(&me, &room, &friend, "member", None)
        .await
        .unwrap();
    t.client
        .ban_user(&me, &room, "mallory@evil.example", Some("spam"))
        .await
        .unwrap();
    let members = t.client.room_members(&me, &room).await.unwrap();
    let got: Vec<(&str, &str)> = members
        .iter()
        .map(|m| (m.jid.as_str(), m.affiliation.as_str()))
        .collect();
    assert!(got.contains(&(me.as_str(), "owner")), "{got:?}");
    assert!(got.contains(&(friend.as_str(), "member")), "{got:?}");
    assert!(
        got.contains(&("mallory@evil.example", "outcast")),
        "{got:?}"
    );

    t.client
        .send_message(&me, &room, "before forgetting", None)
        .await
        .unwrap();
    // The room's echo: the message reached it.
    wait_event(
        &mut t.events,
        T,
        "the message delivered to the room",
        message_where(&room, |m| {
            m.body == "before forgetting" && m.state == tern_core::MessageState::Delivered
        }),
    )
    .await;
    // Another client of the user sees the bookmark, then sees it go.
    let other = peer_as(server, &me, &pass).await;
    let mut marks = Vec::new();
    for _ in 0..50 {
        marks = other.run(|p| p.bookmarks().unwrap()).await;
        if marks.iter().any(|b| b["room"] == room.as_str()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        marks.iter().any(|b| b["room"] == room.as_str()),
        "{marks:?}"
    );
    t.client.leave_room(&me, &room, true).await.unwrap();
    wait_event(&mut t.events, T, "the room forgotten", |ev| match ev {
        ClientEvent::RoomRemoved { jid, .. } if *jid == room => Some(()),
        _ => None,
    })
    .await;
    assert!(stored(&t, &me, &room).await.is_empty(), "messages deleted");
    assert!(t.client.rooms().await.iter().all(|r| r.jid != room));
    let marks = other.run(|p| p.bookmarks().unwrap()).await;
    assert!(
        marks.iter().all(|b| b["room"] != room.as_str()),
        "{marks:?}"
    );
    t.client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_settings_and_forget_prosody() {
    settings_and_forget(&Server::prosody()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_settings_and_forget_ejabberd() {
    settings_and_forget(&Server::ejabberd().await).await;
}
