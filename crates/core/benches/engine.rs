//! Engine benchmarks: full-text search over 1,000,000 messages, memory with
//! 100,000 messages in 50 conversations, archive catch-up speed against
//! the rate the server serves the same pages, and group chats with
//! thousands of occupants (`rooms`), and photos and files (`files`: a
//! 200 MB upload and download, ten 12-megapixel photos prepared).
//!
//! Run: `scripts/bench` (release build; needs Prosody, like the tests).
//! Results go to stdout as a Markdown table; docs/benchmarks.md has the
//! numbers measured on the reference machine.

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use tern_core::{Client, ClientConfig, ClientEvent, Keychain, NewAccount, ServerOverride};
use tern_store::{Direction, MessageState, NewMessage, Store};

mod files;
mod mam_omemo;
mod new_device;
mod rooms;

const WORDS: &[&str] = &[
    "meeting", "tomorrow", "lunch", "train", "photo", "holiday", "project", "release", "coffee",
    "concert", "garden", "invoice", "birthday", "weather", "museum", "bicycle", "kitchen",
    "library", "mountain", "ticket", "dinner", "report", "island", "piano", "window", "forest",
    "market",
];

fn body(i: u64) -> String {
    let mut x = i
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut words = Vec::new();
    for _ in 0..8 {
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51afd7ed558ccd);
        words.push(WORDS[(x % WORDS.len() as u64) as usize]);
    }
    format!("{} #{i}", words.join(" "))
}

/// A disabled account row, for what the store keeps per account.
async fn add_account(store: &Store, jid: &str) {
    store
        .upsert_account(&tern_store::StoredAccount {
            jid: jid.into(),
            enabled: false,
            resource: None,
            host_override: None,
            port_override: None,
            direct_tls: false,
        })
        .await
        .unwrap();
}

async fn fill(store: &Store, account: &str, total: u64, conversations: u64) {
    add_account(store, account).await;
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..total {
        let peer = format!("contact{}@example.org", i % conversations);
        batch.push(NewMessage {
            account: account.into(),
            peer: peer.clone(),
            direction: if i % 3 == 0 {
                Direction::Outgoing
            } else {
                Direction::Incoming
            },
            sender: peer,
            uid: format!("uid-{i}"),
            msg_id: Some(format!("id-{i}")),
            archive_id: Some(format!("a-{i}")),
            archive_by: None,
            kind: Default::default(),
            body: body(i),
            timestamp_ms: 1_700_000_000_000 + i as i64 * 1000,
            state: MessageState::Received,
            reply_to: None,
            coarse_time: false,
            mention: false,
            occupant_id: None,
            file: None,
            encrypted: false,
            decrypt_error: None,
            omemo_retry: None,
            omemo_sender: None,
            call: None,
        });
        if batch.len() == 10_000 {
            store.import_messages(&batch).await.unwrap();
            batch.clear();
        }
    }
    store.import_messages(&batch).await.unwrap();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn search_bench() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in_dir(dir.path()).await.unwrap();
    let t = Instant::now();
    fill(&store, "me@example.org", 1_000_000, 200).await;
    println!(
        "| fill 1,000,000 messages | {:.1} s |",
        t.elapsed().as_secs_f64()
    );
    let queries = [
        "meeting",
        "coffee tomorrow",
        "piano",
        "mount",
        "holiday photo",
        "#4242",
        "xylophone",
        "report invoice garden",
    ];
    let mut times = Vec::new();
    for round in 0..25 {
        for q in queries {
            let t = Instant::now();
            let hits = store.search(q, None, 50).await.unwrap();
            times.push(t.elapsed());
            if round == 0 {
                println!("| search '{q}' | {} hits |", hits.len());
            }
        }
    }
    times.sort();
    println!(
        "| search over 1,000,000 messages (limit 50), {} queries | p50 {:.2} ms, p95 {:.2} ms |",
        times.len(),
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.95).as_secs_f64() * 1e3
    );
}

/// OMEMO sending as the engine does it, through the account's SQLite store
/// (devices and sessions read, sessions written back): one message
/// encrypted for 10 contacts with 3 devices each (and the user's own other
/// device), and one message to one contact with 3 devices.
async fn omemo_send_bench() {
    use tern_omemo::{BareJid, Config, MemoryStore, Omemo};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in_dir(dir.path()).await.unwrap();
    let me = "me@example.org";
    add_account(&store, me).await;
    let own: BareJid = me.parse().unwrap();
    let cfg = Config {
        pre_key_count: 5,
        ..Config::default()
    };
    let mut alice = Omemo::load_or_create(store.omemo(&own), own.clone(), Config::default(), 0)
        .await
        .unwrap();
    let mut contacts = Vec::new();
    // Ten contacts with three devices each, and a second device of the user.
    let mut peers: Vec<(BareJid, Omemo<MemoryStore>)> = Vec::new();
    for c in 0..10 {
        let jid: BareJid = format!("contact{c}@example.org").parse().unwrap();
        contacts.push(jid.clone());
        for _ in 0..3 {
            peers.push((
                jid.clone(),
                Omemo::load_or_create(MemoryStore::new(), jid.clone(), cfg.clone(), 0)
                    .await
                    .unwrap(),
            ));
        }
    }
    peers.push((
        own.clone(),
        Omemo::load_or_create(MemoryStore::new(), own.clone(), cfg.clone(), 0)
            .await
            .unwrap(),
    ));
    let mut lists: std::collections::BTreeMap<BareJid, Vec<u32>> = Default::default();
    for (jid, p) in &peers {
        lists
            .entry(jid.clone())
            .or_default()
            .push(p.own_device_id());
    }
    for (jid, ids) in &lists {
        let list = tern_omemo::legacy_omemo::DeviceList {
            devices: ids
                .iter()
                .map(|id| tern_omemo::legacy_omemo::Device { id: *id })
                .collect(),
        };
        alice.receive_device_list(jid, &list).await.unwrap();
    }
    for (jid, p) in &peers {
        let bundle = p.own_bundle().await.unwrap();
        alice
            .receive_bundle(jid, p.own_device_id(), &bundle)
            .await
            .unwrap();
    }
    let body = b"a typical chat message of some length, with an emoji or two";
    let mut cases = vec![("10 contacts, 30 devices (+1 own)", contacts.clone())];
    cases.push(("1 contact, 3 devices (+1 own)", contacts[..1].to_vec()));
    for (name, to) in cases {
        let mut times = Vec::new();
        for _ in 0..200 {
            let t = Instant::now();
            let out = alice.encrypt(&to, body).await.unwrap();
            let element = xmpp_parsers::minidom::Element::from(out.element);
            std::hint::black_box(String::from(&element));
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "| OMEMO: encrypt one message for {name}, SQLite store | p50 {:.2} ms, p95 {:.2} ms |",
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.95).as_secs_f64() * 1e3
        );
    }
}

async fn memory_bench() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open_in_dir(dir.path()).await.unwrap();
        fill(&store, "me@example.org", 100_000, 50).await;
        store.close().await;
    }
    let before = rss_kib();
    let keychain = Arc::new(Keychain::linux_kernel_keyring("im.tern.Tern.bench").unwrap());
    let client = Client::open(ClientConfig::new(dir.path().to_path_buf(), keychain))
        .await
        .unwrap();
    let (convs, _rx) = client.subscribe_conversations().await.unwrap();
    assert_eq!(convs.len(), 50);
    for c in &convs {
        let tl = client
            .timeline(&c.account, &c.peer, None, 200)
            .await
            .unwrap();
        assert_eq!(tl.len(), 200);
    }
    let hits = client.search("coffee", None, 100).await.unwrap();
    assert!(!hits.is_empty());
    println!(
        "| engine RSS, 100,000 messages in 50 conversations, list + 50 timelines + search loaded | {:.1} MB (process before opening: {:.1} MB) |",
        rss_kib() as f64 / 1024.0,
        before as f64 / 1024.0
    );
    client.shutdown().await;
}

async fn mam_bench() {
    const N: usize = 10_000;
    let server = tern_testkit::Prosody::start().unwrap();
    let (a_user, a_pass) = server.create_user().unwrap();
    let (b_user, b_pass) = server.create_user().unwrap();
    let alice = format!("{a_user}@localhost");
    let bob = format!("{b_user}@localhost");
    let over = ServerOverride {
        host: Some("127.0.0.1".into()),
        port: Some(server.c2s_port()),
        direct_tls: false,
    };
    let keychain = Arc::new(Keychain::linux_kernel_keyring("im.tern.Tern.bench").unwrap());
    let open = |dir: &std::path::Path| {
        let mut c = ClientConfig::new(dir.to_path_buf(), keychain.clone());
        c.extra_roots = vec![tern_testkit::TestCa::global().ca_cert_der()];
        c.first_sync_limit = 1_000_000;
        Client::open(c)
    };
    // alice fills bob's archive while bob is offline.
    let da = tempfile::tempdir().unwrap();
    let a = open(da.path()).await.unwrap();
    let mut events = a.subscribe().1;
    a.add_account(NewAccount {
        server: over.clone(),
        ..NewAccount::new(&alice, &a_pass)
    })
    .await
    .unwrap();
    let mut last = 0;
    for i in 0..N {
        last = a
            .send_message(&alice, &bob, &body(i as u64), None)
            .await
            .unwrap()
            .id;
    }
    loop {
        if let Ok(ClientEvent::Message { message }) = events.recv().await {
            if message.id == last && message.state == "acked" {
                break;
            }
        }
    }
    a.shutdown().await;
    // Bob's copies waiting for offline delivery go: the history is in the
    // archive only, so neither client below gets 10,000 offline messages
    // (and answers them with receipts, which the archive would keep).
    server.purge_offline().unwrap();

    // Raw: the same pages fetched by a client that parses and drops them.
    let dr = tempfile::tempdir().unwrap();
    let raw = open(dr.path()).await.unwrap();
    raw.add_account(NewAccount {
        server: over.clone(),
        enabled: false,
        ..NewAccount::new(&bob, &b_pass)
    })
    .await
    .unwrap();
    let (raw_n, raw_time) = raw.bench_fetch_archive(&bob).await.unwrap();
    raw.shutdown().await;

    // Tern: a fresh device catching up (parse, de-duplicate, store, emit).
    let db = tempfile::tempdir().unwrap();
    let b = open(db.path()).await.unwrap();
    let mut events = b.subscribe().1;
    let t = Instant::now();
    b.add_account(NewAccount {
        server: over,
        ..NewAccount::new(&bob, &b_pass)
    })
    .await
    .unwrap();
    let fetched = loop {
        if let Ok(ClientEvent::HistorySync {
            fetched,
            done: true,
            ..
        }) = events.recv().await
        {
            break fetched;
        }
    };
    let tern_time = t.elapsed();
    let raw_rate = raw_n as f64 / raw_time.as_secs_f64();
    let tern_rate = fetched as f64 / tern_time.as_secs_f64();
    println!(
        "| archive catch-up of {N} messages | Tern {tern_rate:.0} msg/s ({fetched} results in {:.2} s); raw page fetch {raw_rate:.0} msg/s ({raw_n} in {:.2} s); ratio {:.2} |",
        tern_time.as_secs_f64(),
        raw_time.as_secs_f64(),
        tern_rate / raw_rate
    );
    b.shutdown().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // Diagnosis: the engine's log on stderr when RUST_LOG is set.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    // Not a benchmark: the server of `scripts/bench newdevice`.
    if which.first().map(String::as_str) == Some("newdevice-server") {
        let args: Vec<String> = std::env::args().collect();
        let extra = args
            .iter()
            .position(|a| a == "--extra")
            .and_then(|i| args.get(i + 1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        new_device::serve(extra).await;
        return;
    }
    let run = |name: &str| which.is_empty() || which.iter().any(|w| w == name);
    println!("| benchmark | result |\n|---|---|");
    if run("search") {
        search_bench().await;
    }
    if run("memory") {
        memory_bench().await;
    }
    if run("mam") {
        mam_bench().await;
    }
    if which.iter().any(|w| w == "mam-omemo") {
        mam_omemo::bench().await;
    }
    if which.iter().any(|w| w == "omemo-send") {
        omemo_send_bench().await;
    }
    // Group chats: each part in its own process (`scripts/bench rooms`).
    if which.iter().any(|w| w == "rooms-join") {
        rooms::join_500().await;
    }
    if which.iter().any(|w| w == "rooms-big") {
        rooms::big_5000().await;
    }
    if which.iter().any(|w| w == "rooms-autojoin") {
        rooms::autojoin(100).await;
    }
    if which.iter().any(|w| w == "rooms-baseline") {
        rooms::autojoin(0).await;
    }
    // Photos and files: each part in its own process (`scripts/bench files`).
    if which.iter().any(|w| w == "files-upload") {
        files::upload().await;
    }
    if which.iter().any(|w| w == "files-download") {
        files::download().await;
    }
    if which.iter().any(|w| w == "files-photos") {
        files::photos().await;
    }
}
