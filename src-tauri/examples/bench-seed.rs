//! Fills a data folder for the desktop app benchmark (`scripts/bench app`):
//! one account, disabled so nothing connects, with 50 conversations and
//! 100,000 messages, written through `Store::import_messages` like the
//! engine benchmarks. One conversation (`friend00@example.org`) holds a
//! fifth of the messages (20,000), enough to scroll back through 10,000;
//! the other 49 share the rest (about 1,630 each).
//!
//! Every body ends in `#N`, the message's number within its conversation
//! (1 is the oldest), so the benchmark can tell from the text on screen
//! how far back it has scrolled. Messages are 5 minutes apart, the newest
//! on 20 December 2025.
//!
//! Usage: `bench-seed DATA_DIR [MESSAGES]` (the folder must not hold a
//! database yet). Prints one JSON line: `{"account", "biggest",
//! "biggest_messages", "conversations", "messages"}`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use tern_store::{Direction, MessageState, NewMessage, Store, StoredAccount};

const ACCOUNT: &str = "me@example.org";
const CONVERSATIONS: u64 = 50;
const WORDS: &[&str] = &[
    "meeting", "tomorrow", "lunch", "train", "photo", "holiday", "project", "release", "coffee",
    "concert", "garden", "invoice", "birthday", "weather", "museum", "bicycle", "kitchen",
    "library", "mountain", "ticket", "dinner", "report", "island", "piano", "window", "forest",
    "market",
];

/// 4 to 23 words, picked by a fixed hash of `i`: short lines and a few
/// that wrap.
fn words(i: u64) -> String {
    let mut x = i
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    x ^= x >> 29;
    let n = 4 + (x % 20);
    let mut out = Vec::new();
    for _ in 0..n {
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51afd7ed558ccd);
        out.push(WORDS[(x % WORDS.len() as u64) as usize]);
    }
    out.join(" ")
}

fn peer(c: u64) -> String {
    format!("friend{c:02}@example.org")
}

/// Conversation of message `i`: every fifth goes to conversation 0.
fn conversation(i: u64) -> u64 {
    if i % 5 == 0 {
        0
    } else {
        1 + (i - i / 5 - 1) % (CONVERSATIONS - 1)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        bail!("usage: bench-seed DATA_DIR [MESSAGES]");
    };
    let total: u64 = match args.next() {
        Some(n) => n.to_string_lossy().parse().context("MESSAGES")?,
        None => 100_000,
    };
    if dir.join("tern.sqlite3").exists() {
        bail!("{} already holds a database", dir.display());
    }
    let started = Instant::now();
    let store = Store::open_in_dir(&dir).await?;
    store
        .upsert_account(&StoredAccount {
            jid: ACCOUNT.into(),
            enabled: false,
            resource: None,
            host_override: None,
            port_override: None,
            direct_tls: false,
        })
        .await?;

    let newest_ms: i64 = 1_766_232_000_000; // 2025-12-20 12:00 UTC
    let mut seq = vec![0u64; CONVERSATIONS as usize];
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..total {
        let c = conversation(i);
        seq[c as usize] += 1;
        let n = seq[c as usize];
        let outgoing = i % 3 == 0;
        batch.push(NewMessage {
            account: ACCOUNT.into(),
            peer: peer(c),
            direction: if outgoing {
                Direction::Outgoing
            } else {
                Direction::Incoming
            },
            sender: if outgoing { ACCOUNT.into() } else { peer(c) },
            uid: format!("bench-{i}"),
            msg_id: Some(format!("id-{i}")),
            archive_id: Some(format!("a-{i}")),
            archive_by: None,
            kind: Default::default(),
            body: format!("{} #{n}", words(i)),
            timestamp_ms: newest_ms - (total - 1 - i) as i64 * 300_000,
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
            store.import_messages(&batch).await?;
            batch.clear();
        }
    }
    store.import_messages(&batch).await?;
    store.close().await;
    eprintln!(
        "bench-seed: {total} messages in {CONVERSATIONS} conversations in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "{}",
        serde_json::json!({
            "account": ACCOUNT,
            "biggest": peer(0),
            "biggest_messages": seq[0],
            "conversations": CONVERSATIONS,
            "messages": total,
        })
    );
    Ok(())
}
