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

use tern_app::notifications::{
    CallAction, Desktop, OpenConversation, MAX_WAITING, RATE_BURST, RATE_EVERY,
};

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

/// One notification server owns the bus name at a time: the tests take
/// turns.
static BUS: Mutex<()> = Mutex::new(());

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
        self.invoke(id, "default");
    }

    /// The user chose `action` on notification `id`.
    fn invoke(&mut self, id: u64, action: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "invoke {id} {action}").unwrap();
        stdin.flush().unwrap();
    }

    /// The ids of the notifications closed so far.
    fn closed(&self) -> Vec<u64> {
        let mut path = self.out.clone().into_os_string();
        path.push(".closed");
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["closed"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
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
    let _bus = BUS.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let mut notifyd = Notifyd::start(tmp.path());
    let clicks = Arc::new(Mutex::new(Vec::new()));
    let desktop = {
        let clicks = clicks.clone();
        Desktop::start(move |open| clicks.lock().unwrap().push(open), |_| {})
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

fn wait_until<T>(what: &str, f: impl Fn() -> Option<T>) -> T {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < until, "{what} did not happen");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_incoming_call_notification_answers_and_closes() {
    let _bus = BUS.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let mut notifyd = Notifyd::start(tmp.path());
    let actions = Arc::new(Mutex::new(Vec::new()));
    let desktop = {
        let actions = actions.clone();
        Desktop::start(|_| {}, move |a| actions.lock().unwrap().push(a))
    };
    // A message waiting for the rate cap does not hold the call back.
    for i in 0..(RATE_BURST as usize + 3) {
        desktop.show(format!("Sender {i}"), "hello".into(), conversation(i));
    }
    desktop.ring("sid-1".into(), "Incoming call".into(), "Juliet".into());
    let note = wait_until("the call's notification", || {
        notifyd
            .records()
            .into_iter()
            .find(|r| r["summary"] == "Incoming call")
    });
    assert_eq!(note["body"], "Juliet");
    assert_eq!(
        note["actions"],
        serde_json::json!(["default", "Open", "answer", "Answer", "decline", "Decline"])
    );
    let id = note["id"].as_u64().unwrap();
    notifyd.invoke(id, "answer");
    wait_until("the answer", || {
        (*actions.lock().unwrap() == vec![CallAction::Answer("sid-1".into())]).then_some(())
    });
    desktop.stop_ringing("sid-1".into());
    wait_until("the close", || notifyd.closed().contains(&id).then_some(()));

    // A second call, declined; a click on it only raises the window.
    desktop.ring("sid-2".into(), "Incoming call".into(), "Romeo".into());
    let note = wait_until("the second call's notification", || {
        notifyd.records().into_iter().find(|r| r["body"] == "Romeo")
    });
    let id2 = note["id"].as_u64().unwrap();
    assert_ne!(id2, id, "a new notification");
    notifyd.invoke(id2, "default");
    notifyd.invoke(id2, "decline");
    wait_until("the decline", || {
        (actions.lock().unwrap().len() == 3).then_some(())
    });
    assert_eq!(
        actions.lock().unwrap()[1..],
        [
            CallAction::Open("sid-2".into()),
            CallAction::Decline("sid-2".into())
        ]
    );
    desktop.stop_ringing("sid-2".into());
    wait_until("the second close", || {
        notifyd.closed().contains(&id2).then_some(())
    });
    // Closing what is closed already asks nothing of the service.
    desktop.stop_ringing("sid-2".into());
    // A call that stopped ringing before its notification went out (the
    // caller's name was still being looked up) gets none.
    desktop.stop_ringing("sid-3".into());
    desktop.ring("sid-3".into(), "Incoming call".into(), "Tybalt".into());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(notifyd.closed(), vec![id, id2]);
    assert!(!notifyd.records().iter().any(|r| r["body"] == "Tybalt"));
}
