//! Big group chats filled inside Prosody ([`BigRoom`]): a client that joins
//! receives every occupant, and the occupants' presence changes reach it.

use std::time::{Duration, Instant};

use serde_json::Value;
use tern_testkit::{BigRoom, PeerOptions, Prosody, ProsodyOptions, SlixmppPeer};

fn peer(server: &Prosody) -> SlixmppPeer {
    let (user, password) = server.create_user().expect("create user");
    SlixmppPeer::start(PeerOptions::new(
        format!("{user}@{}", server.domain()),
        password,
        "127.0.0.1",
        server.c2s_port(),
    ))
    .expect("start peer")
}

fn occupant_presences(events: &[Value], room: &str) -> usize {
    events
        .iter()
        .filter(|e| e["event"] == "muc_presence" && e["room"] == room && e["type"] == "available")
        .count()
}

/// Fills a room with `n` occupants, has a peer join it and returns how long
/// the join took, after checking it received `n + 1` presences.
fn fill_and_join(server: &Prosody, n: usize) -> (BigRoom, SlixmppPeer, Duration) {
    let room = format!("big@{}", server.muc_domain());
    let big = BigRoom::fill(server, &room, n).expect("fill the room");
    assert_eq!(big.bots(), n);
    let alice = peer(server);
    let started = Instant::now();
    let joined = alice
        .muc_join_with(&room, "alice", None, Some(0))
        .expect("join the big room");
    let took = started.elapsed();
    assert_eq!(joined["role"], "participant", "{joined}");
    let events = alice.clear_events();
    // Every occupant and the self-presence, which comes last.
    assert_eq!(occupant_presences(&events, &room), n + 1);
    let bot = events
        .iter()
        .find(|e| e["event"] == "muc_presence" && e["nick"] == BigRoom::bot_nick(n))
        .expect("the last bot's presence");
    assert_eq!(bot["role"], "participant");
    (big, alice, took)
}

#[test]
fn big_room_of_500_is_filled_joined_and_flooded() {
    let server = Prosody::start_with(ProsodyOptions::big_rooms()).expect("start Prosody");
    let (big, alice, took) = fill_and_join(&server, 500);
    eprintln!(
        "500 occupants: filled in {:?} ({:?} of server CPU), joined in {took:?}",
        big.fill_elapsed(),
        big.fill_cpu()
    );

    // The room told every bot about the newcomer; the component took it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (received, _) = big.component_received().expect("stats");
        if received >= 500 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the component got {received} stanzas"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Presence changes of the bots reach the client.
    let sent = big.flood(200, 0.5).expect("flood");
    assert_eq!(sent, 100);
    let last = format!("flood {}", sent - 1);
    let change = alice
        .wait_for(Duration::from_secs(20), |e| {
            e["event"] == "muc_presence" && e["status"] == last.as_str()
        })
        .expect("the last presence change");
    assert_eq!(change["nick"], BigRoom::bot_nick(100));
    assert_eq!(change["show"], "away");

    // The room still works for messages.
    alice
        .muc_send(big.room(), "hello everyone", "big-1")
        .expect("send");
    let echo = alice
        .wait_for(Duration::from_secs(20), |e| {
            e["event"] == "message" && e["id"] == "big-1"
        })
        .expect("the reflection");
    assert!(echo["stanza_id"].is_string(), "{echo}");
}

/// 5,000 occupants: run by the benchmarks (`cargo test -p tern-testkit
/// --test bigroom -- --ignored`).
#[test]
#[ignore = "a benchmark: fills a room with 5,000 occupants"]
fn big_room_of_5000() {
    let n = std::env::var("TERN_BIG_ROOM_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let server = Prosody::start_with(ProsodyOptions::big_rooms()).expect("start Prosody");
    let (big, _alice, took) = fill_and_join(&server, n);
    eprintln!(
        "{n} occupants: filled in {:?} ({:?} of server CPU), joined in {took:?}",
        big.fill_elapsed(),
        big.fill_cpu()
    );
}
