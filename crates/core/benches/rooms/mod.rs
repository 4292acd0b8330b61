//! Group chats (XEP-0045) on a Prosody on loopback, rooms filled
//! server-side with thousands of occupants (`tern_testkit::BigRoom`):
//!
//! - `rooms-join`: joining a room of 500 with 60 archived messages: until
//!   the join returns (the user's own presence), until a peer in the room
//!   sees the user, until the occupant list (501) and the last 50 messages
//!   are out;
//! - `rooms-big`: joining a room of 5,000 (in, list out, settled; CPU and
//!   RSS of this process), then 1,000 presence changes a second for 30 s
//!   in it (CPU, `Occupants` events, RSS);
//! - `rooms-autojoin`, `rooms-baseline`: signing in to an account with 100
//!   bookmarked rooms to join (small ones: their creator is in each), and
//!   to one with none, until all are joined (time, RSS).
//!
//! CPU is `getrusage` of this process (the engine's threads and the
//! harness's few; the servers and peers are other processes); RSS is this
//! process's. Each case runs in its own process (`scripts/bench rooms`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tern_core::{
    AccountState, Client, ClientConfig, ClientEvent, Keychain, NewAccount, RoomStatus,
    ServerOverride,
};
use tern_testkit::{
    self_cpu, BigRoom, PeerOptions, Prosody, ProsodyOptions, RoomConfig, SlixmppPeer,
};

use crate::rss_kib;

/// What the bench follows of the engine's events (counters only, so that
/// keeping them costs no memory while thousands arrive).
#[derive(Default)]
struct Seen {
    last_event: Option<Instant>,
    events: u64,
    lagged: u64,
    connected: Option<Instant>,
    /// Rooms by JID: when first seen joined.
    joined: HashMap<String, Instant>,
    /// `Occupants` events by room, and occupants they carried.
    occupant_events: HashMap<String, u64>,
    occupant_items: u64,
    /// The first full list of a room: when, and how many.
    reset: HashMap<String, (Instant, u32)>,
    /// Room messages: how many `Message` events, the last one's time.
    messages: HashMap<String, (u64, Instant)>,
    /// The highest `flood N` status seen, and when.
    flood_max: Option<(u64, Instant)>,
}

struct Tern {
    client: Client,
    account: String,
    seen: Arc<Mutex<Seen>>,
    _dir: tempfile::TempDir,
}

impl Tern {
    /// A fresh client signing in as `user`; returns once connected.
    async fn sign_in(server: &Prosody, user: &str, password: &str) -> Tern {
        let dir = tempfile::tempdir().unwrap();
        let keychain = Arc::new(Keychain::linux_kernel_keyring("im.tern.Tern.bench").unwrap());
        let mut config = ClientConfig::new(dir.path().to_path_buf(), keychain);
        config.extra_roots = vec![tern_testkit::TestCa::global().ca_cert_der()];
        let client = Client::open(config).await.unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let mut rx = client.subscribe().1;
        let s = seen.clone();
        tokio::spawn(async move {
            loop {
                let ev = match rx.recv().await {
                    Ok(ev) => ev,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        s.lock().unwrap().lagged += n;
                        continue;
                    }
                    Err(_) => break,
                };
                let now = Instant::now();
                let mut s = s.lock().unwrap();
                s.last_event = Some(now);
                s.events += 1;
                match ev {
                    ClientEvent::AccountState {
                        state: AccountState::Connected { .. },
                        ..
                    } => {
                        s.connected.get_or_insert(now);
                    }
                    ClientEvent::Room { room } if room.status == RoomStatus::Joined => {
                        s.joined.entry(room.jid).or_insert(now);
                    }
                    ClientEvent::Occupants {
                        room,
                        count,
                        reset,
                        upserted,
                        ..
                    } => {
                        s.occupant_items += upserted.len() as u64;
                        let flood = upserted
                            .iter()
                            .filter_map(|o| {
                                o.status.as_deref()?.strip_prefix("flood ")?.parse().ok()
                            })
                            .max();
                        if let Some(n) = flood {
                            if s.flood_max.is_none_or(|(m, _)| n > m) {
                                s.flood_max = Some((n, now));
                            }
                        }
                        if reset {
                            s.reset.entry(room.clone()).or_insert((now, count));
                        }
                        *s.occupant_events.entry(room).or_default() += 1;
                    }
                    ClientEvent::Message { message } => {
                        let e = s.messages.entry(message.peer).or_insert((0, now));
                        e.0 += 1;
                        e.1 = now;
                    }
                    _ => {}
                }
            }
        });
        let account = format!("{user}@{}", server.domain());
        client
            .add_account(NewAccount {
                server: ServerOverride {
                    host: Some("127.0.0.1".into()),
                    port: Some(server.c2s_port()),
                    direct_tls: false,
                },
                ..NewAccount::new(&account, password)
            })
            .await
            .unwrap();
        let tern = Tern {
            client,
            account,
            seen,
            _dir: dir,
        };
        tern.wait("signed in", Duration::from_secs(30), |s| {
            s.connected.is_some()
        })
        .await;
        tern
    }

    /// Waits until `done` holds (checked every 2 ms).
    async fn wait(&self, what: &str, within: Duration, done: impl Fn(&Seen) -> bool) {
        let deadline = Instant::now() + within;
        loop {
            if done(&self.seen.lock().unwrap()) {
                return;
            }
            assert!(Instant::now() < deadline, "not within {within:?}: {what}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Waits until no event came for `quiet`; returns when the last one
    /// came.
    async fn settle(&self, quiet: Duration) -> Instant {
        loop {
            let last = self.seen.lock().unwrap().last_event;
            match last {
                Some(t) if t.elapsed() >= quiet => return t,
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    fn with<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.seen.lock().unwrap())
    }
}

fn peer(server: &Prosody) -> SlixmppPeer {
    let (user, password) = server.create_user().unwrap();
    SlixmppPeer::start(PeerOptions::new(
        format!("{user}@{}", server.domain()),
        password,
        "127.0.0.1",
        server.c2s_port(),
    ))
    .unwrap()
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn mib(kib: i64) -> String {
    format!("{:+.1} MiB", kib as f64 / 1024.0)
}

/// 500 occupants, 60 archived messages.
pub async fn join_500() {
    const N: usize = 500;
    const ARCHIVED: usize = 60;
    let server = Prosody::start_with(ProsodyOptions::big_rooms()).unwrap();
    let room = format!("join500@{}", server.muc_domain());
    let big = BigRoom::fill(&server, &room, N).unwrap();
    // A peer in the room says what is archived and sees the user come in.
    let p = peer(&server);
    p.muc_join_with(&room, "peer", None, Some(0)).unwrap();
    for i in 0..ARCHIVED {
        p.muc_send(&room, &crate::body(i as u64), &format!("m{i}"))
            .unwrap();
    }
    let last = format!("m{}", ARCHIVED - 1);
    p.wait_for(Duration::from_secs(60), |e| {
        e["event"] == "message" && e["id"] == last.as_str()
    })
    .unwrap();
    p.clear_events();

    let (user, password) = server.create_user().unwrap();
    let tern = Tern::sign_in(&server, &user, &password).await;
    tern.settle(Duration::from_secs(1)).await;
    let (rss0, cpu0) = (rss_kib(), self_cpu());

    let seen_by_peer = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            p.wait_for(Duration::from_secs(60), |e| {
                e["event"] == "muc_presence" && e["nick"] == "tern" && e["type"] == "available"
            })
            .map(|_| Instant::now())
        });
        let rt = tokio::runtime::Handle::current();
        let (t0, joined) = tokio::task::block_in_place(|| {
            rt.block_on(async {
                let t0 = Instant::now();
                tern.client
                    .join_room(&tern.account, &room, Some("tern"), None)
                    .await
                    .unwrap();
                let joined = t0.elapsed();
                (t0, joined)
            })
        });
        (t0, joined, watcher.join().unwrap().unwrap())
    });
    let (t0, joined, peer_saw) = seen_by_peer;
    tern.wait("the occupant list", Duration::from_secs(60), |s| {
        s.reset.get(&room).is_some_and(|(_, n)| *n as usize > N)
    })
    .await;
    tern.wait("50 messages", Duration::from_secs(60), |s| {
        s.messages.get(&room).is_some_and(|(n, _)| *n >= 50)
    })
    .await;
    let settled = tern.settle(Duration::from_secs(2)).await;
    let cpu = self_cpu() - cpu0;
    let rss = rss_kib() as i64 - rss0 as i64;
    let (list_at, listed) = tern.with(|s| s.reset[&room]);
    let (msgs, msgs_at) = tern.with(|s| s.messages[&room]);
    let stored = tern
        .client
        .timeline(&tern.account, &room, None, 100)
        .await
        .unwrap()
        .len();
    println!("| join a room of {N} bots and a peer (60 archived messages): join returns (own presence) | {} |", secs(joined));
    println!(
        "| … a peer in the room sees the user | {} |",
        secs(peer_saw - t0)
    );
    println!(
        "| … occupant list out (`Occupants` reset, {listed}) | {} |",
        secs(list_at - t0)
    );
    println!(
        "| … last 50 messages out ({msgs} `Message` events, {stored} stored) | {} |",
        secs(msgs_at - t0)
    );
    println!("| … settled (last event) | {} |", secs(settled - t0));
    println!(
        "| … CPU of this process, join to settled + 2 s | {} |",
        secs(cpu)
    );
    println!("| … RSS growth | {} |", mib(rss));
    drop(big);
    tern.client.shutdown().await;
}

/// 5,000 occupants, then a flood of presence changes.
pub async fn big_5000() {
    // TERN_ROOMS_BIG="occupants,rate,seconds" for shorter trials.
    let knobs: Vec<f64> = std::env::var("TERN_ROOMS_BIG")
        .unwrap_or_default()
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let knob = |i: usize, default: f64| knobs.get(i).copied().unwrap_or(default);
    let n = knob(0, 5_000.0) as usize;
    let rate = knob(1, 1_000.0) as u32;
    let seconds = knob(2, 30.0);
    let server = Prosody::start_with(ProsodyOptions::big_rooms()).unwrap();
    let room = format!("big{n}@{}", server.muc_domain());
    let big = BigRoom::fill(&server, &room, n).unwrap();
    let (user, password) = server.create_user().unwrap();
    let tern = Tern::sign_in(&server, &user, &password).await;
    tern.settle(Duration::from_secs(1)).await;
    let (rss0, cpu0) = (rss_kib(), self_cpu());
    let server_cpu0 = tern_testkit::process_cpu(server.pid().unwrap()).unwrap();
    let t0 = Instant::now();
    tern.client
        .join_room(&tern.account, &room, Some("tern"), None)
        .await
        .unwrap();
    let joined = t0.elapsed();
    tern.wait("the occupant list", Duration::from_secs(60), |s| {
        s.reset.get(&room).is_some_and(|(_, c)| *c as usize > n)
    })
    .await;
    let settled = tern.settle(Duration::from_secs(2)).await;
    let cpu = self_cpu() - cpu0;
    let server_cpu = tern_testkit::process_cpu(server.pid().unwrap()).unwrap() - server_cpu0;
    let rss1 = rss_kib();
    let (list_at, listed) = tern.with(|s| s.reset[&room]);
    println!(
        "| join a room of {n}: join returns (own presence) | {} |",
        secs(joined)
    );
    println!(
        "| … occupant list out (`Occupants` reset, {listed}) | {} |",
        secs(list_at - t0)
    );
    println!("| … settled (last event) | {} |", secs(settled - t0));
    println!(
        "| … CPU of this process, join to settled + 2 s | {} (Prosody: {}) |",
        secs(cpu),
        secs(server_cpu)
    );
    println!(
        "| … RSS growth | {} (RSS {:.1} MiB) |",
        mib(rss1 as i64 - rss0 as i64),
        rss1 as f64 / 1024.0
    );

    // The flood, as the user in the room receives it.
    let (events0, items0) = tern.with(|s| (s.occupant_events[&room], s.occupant_items));
    let cpu1 = self_cpu();
    let prosody_cpu0 = tern_testkit::process_cpu(server.pid().unwrap()).unwrap();
    let t1 = Instant::now();
    let total = rate as f64 * seconds;
    let (sent, recipients) =
        tokio::task::block_in_place(|| big.flood_in_server(&server, rate, seconds)).unwrap();
    assert_eq!(recipients, 1, "only the user receives the flood");
    let last = sent - 1;
    let deadline = Instant::now() + Duration::from_secs(300);
    while !tern.with(|s| s.flood_max.is_some_and(|(n, _)| n >= last)) {
        assert!(
            Instant::now() < deadline,
            "the last presence change did not come: highest {:?}, {} events",
            tern.with(|s| s.flood_max.map(|(n, t)| (n, t - t1))),
            tern.with(|s| s.occupant_events[&room])
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let settled = tern.settle(Duration::from_secs(2)).await;
    let cpu = self_cpu() - cpu1;
    let prosody_cpu = tern_testkit::process_cpu(server.pid().unwrap()).unwrap() - prosody_cpu0;
    let rss2 = rss_kib();
    let (events, items, lagged, last_at) = tern.with(|s| {
        (
            s.occupant_events[&room] - events0,
            s.occupant_items - items0,
            s.lagged,
            s.flood_max.unwrap().1,
        )
    });
    println!("| flood of {total:.0} presence changes ({rate}/s for {seconds:.0} s) | last one out {} after the start; settled {} |", secs(last_at - t1), secs(settled - t1));
    println!(
        "| … CPU of this process | {} ({:.0} µs a change; Prosody {}) |",
        secs(cpu),
        cpu.as_secs_f64() * 1e6 / sent as f64,
        secs(prosody_cpu)
    );
    println!("| … `Occupants` events | {events} carrying {items} occupants (lagged: {lagged}) |");
    println!(
        "| … RSS growth | {} (RSS {:.1} MiB) |",
        mib(rss2 as i64 - rss1 as i64),
        rss2 as f64 / 1024.0
    );
    tern.client.shutdown().await;
}

/// Signing in to an account with `rooms` bookmarked rooms to join.
pub async fn autojoin(rooms: usize) {
    let server = Prosody::start_with(ProsodyOptions::default()).unwrap();
    let (user, password) = server.create_user().unwrap();
    let jid = format!("{user}@{}", server.domain());
    if rooms > 0 {
        // The creator stays in each; the user's other client bookmarks them.
        let creator = peer(&server);
        let other = SlixmppPeer::start(PeerOptions::new(
            jid.clone(),
            password.clone(),
            "127.0.0.1",
            server.c2s_port(),
        ))
        .unwrap();
        for i in 0..rooms {
            let room = format!("small{i}@{}", server.muc_domain());
            creator
                .muc_create(&room, "creator", &RoomConfig::default())
                .unwrap();
            other
                .bookmark_add(&room, Some(&format!("Room {i}")), None, true)
                .unwrap();
        }
        other.quit().unwrap();
    }
    let rss0 = rss_kib();
    let cpu0 = self_cpu();
    let t0 = Instant::now();
    let tern = Tern::sign_in(&server, &user, &password).await;
    let connected = t0.elapsed();
    tern.wait("all rooms joined", Duration::from_secs(120), |s| {
        s.joined.len() >= rooms
    })
    .await;
    let all_in = tern.with(|s| s.joined.values().max().map(|t| *t - t0));
    let settled = tern.settle(Duration::from_secs(3)).await;
    let cpu = self_cpu() - cpu0;
    let rss = rss_kib();
    println!(
        "| sign-in with {rooms} bookmarked rooms to join: connected | {} |",
        secs(connected)
    );
    if let Some(all_in) = all_in {
        println!("| … all {rooms} joined | {} |", secs(all_in));
    }
    println!("| … settled (last event) | {} |", secs(settled - t0));
    println!(
        "| … CPU of this process, sign-in to settled + 3 s | {} |",
        secs(cpu)
    );
    println!(
        "| … RSS, growth from before opening the client | {:.1} MiB ({}) |",
        rss as f64 / 1024.0,
        mib(rss as i64 - rss0 as i64)
    );
    tern.client.shutdown().await;
}
