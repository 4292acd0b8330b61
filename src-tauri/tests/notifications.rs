//! Desktop notifications under a flood, against the notification server of
//! the end-to-end test (tests/e2e/notifyd.py, which records every `Notify`)
//! on a private D-Bus session: run under `scripts/with-keyring`. Needs the
//! Python venv of `scripts/app-deps test` (dbus-next).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tern_app::notifications::{Desktop, OpenConversation, MAX_WAITING, RATE_BURST, RATE_EVERY};

/// The venv `scripts/app-deps test` makes for the end-to-end test.
fn python() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
    let python = cache.join("tern/e2e-venv/bin/python");
    assert!(
        python.exists(),
        "no {}: run scripts/app-deps test first",
        python.display()
    );
    python
}

/// notifyd.py on this test's session bus, killed when dropped.
struct Notifyd {
    child: Child,
    out: PathBuf,
}

impl Drop for Notifyd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Notifyd {
    fn start(dir: &Path) -> Notifyd {
        assert!(
            std::env::var_os("TERN_IN_KEYRING_SESSION").is_some(),
            "run under scripts/with-keyring (a private D-Bus session)"
        );
        let out = dir.join("notifications.jsonl");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/notifyd.py");
        let mut child = Command::new(python())
            .arg(&script)
            .arg(&out)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "the notification server did not start"
        );
        Notifyd { child, out }
    }

    /// Every `Notify` so far.
    fn records(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits until there are `n` records.
    fn wait_for(&self, n: usize) -> Vec<serde_json::Value> {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let r = self.records();
            if r.len() >= n {
                return r;
            }
            assert!(
                Instant::now() < until,
                "{} notifications, wanted {n}",
                r.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A click on notification `id`.
    fn click(&mut self, id: u64) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "invoke {id} default").unwrap();
        stdin.flush().unwrap();
    }
}

fn entries(dir: &str) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

fn threads() -> usize {
    entries("/proc/self/task")
}

fn fds() -> usize {
    entries("/proc/self/fd")
}

fn conversation(i: usize) -> OpenConversation {
    OpenConversation {
        account: "me@a.example".into(),
        peer: format!("sender{i}@b.example"),
    }
}

fn wait_click(clicks: &Mutex<Vec<OpenConversation>>, n: usize) -> Vec<OpenConversation> {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let c = clicks.lock().unwrap().clone();
        if c.len() >= n {
            return c;
        }
        assert!(Instant::now() < until, "the click did not arrive");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_flood_of_messages_costs_no_threads_or_connections() {
    let tmp = tempfile::tempdir().unwrap();
    let mut notifyd = Notifyd::start(tmp.path());
    let clicks = Arc::new(Mutex::new(Vec::new()));
    let desktop = {
        let clicks = clicks.clone();
        Desktop::start(move |open| clicks.lock().unwrap().push(open))
    };

    // One conversation: its second message replaces its notification.
    desktop.show("Sender 0".into(), "first".into(), conversation(0));
    let first = notifyd.wait_for(1)[0].clone();
    assert_eq!(first["replaces_id"], 0);
    assert_eq!(first["summary"], "Sender 0");
    assert_eq!(first["actions"], serde_json::json!(["default", "Open"]));
    desktop.show("Sender 0".into(), "second".into(), conversation(0));
    let second = notifyd.wait_for(2)[1].clone();
    assert_eq!(second["body"], "second");
    assert_eq!(second["replaces_id"], first["id"], "replaced in place");
    // A click opens the conversation.
    notifyd.click(first["id"].as_u64().unwrap());
    assert_eq!(wait_click(&clicks, 1), vec![conversation(0)]);

    // The connection is open: from here on, nothing may grow.
    let (threads_before, fds_before) = (threads(), fds());
    let shown_before = notifyd.records().len();
    let started = Instant::now();
    let (mut threads_max, mut fds_max) = (threads_before, fds_before);
    // 10,000 messages from 1,000 senders in ten seconds (a minute's
    // flood, faster).
    for i in 0..10_000 {
        let sender = i % 1000;
        desktop.show(
            format!("Sender {sender}"),
            format!("message {i}"),
            conversation(sender),
        );
        if i % 100 == 0 {
            std::thread::sleep(Duration::from_millis(100));
            threads_max = threads_max.max(threads());
            fds_max = fds_max.max(fds());
        }
    }
    let flood = started.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    threads_max = threads_max.max(threads());
    fds_max = fds_max.max(fds());
    let elapsed = started.elapsed();
    let stats = desktop.stats();
    let shown = notifyd.records().len() - shown_before;
    eprintln!(
        "flood of {flood:?}: threads {threads_before} -> max {threads_max}, fds {fds_before} -> max {fds_max}, \
         {shown} notifications shown in {elapsed:?}, {stats:?}"
    );
    assert!(
        threads_max <= threads_before + 1,
        "threads grew from {threads_before} to {threads_max}"
    );
    assert!(
        fds_max <= fds_before + 1,
        "file descriptors grew from {fds_before} to {fds_max}"
    );
    let cap = RATE_BURST as u128 + elapsed.as_millis() / RATE_EVERY.as_millis() + 1;
    assert!(shown as u128 <= cap, "{shown} notifications, at most {cap}");
    assert!(shown >= 1, "notifications go on during the flood");
    assert!(stats.waiting <= MAX_WAITING, "{stats:?}");
    assert!(stats.dropped > 0, "{stats:?}");

    // It keeps working: clicks still arrive, for the right conversation.
    let records = notifyd.records();
    let last = records.last().unwrap();
    notifyd.click(last["id"].as_u64().unwrap());
    let clicked = wait_click(&clicks, 2)[1].clone();
    assert_eq!(
        format!(
            "Sender {}",
            clicked
                .peer
                .trim_start_matches("sender")
                .trim_end_matches("@b.example")
        ),
        last["summary"].as_str().unwrap()
    );
}
