"""New-device benchmark and soak of the real Tern app (release build with
test hooks, UI embedded) under Xvfb, against a Prosody on loopback filled
by the engine bench's `newdevice-server` (crates/core/benches/new_device):
a user with 20 contacts and 4,945 archived messages (answers and a
displayed marker from another device, the offline store purged) and a
slixmpp contact allowed to see the user's presence.

Usage (inside scripts/with-keyring; `scripts/bench newdevice` and
`scripts/bench soak` do all of it):

    python new_device.py APP SERVER [--runs N] [--json OUT]
    python new_device.py APP SERVER --soak [--soak-messages N]
                         [--soak-seconds S] [--senders K] [--json OUT]

SERVER is the engine bench binary (it serves with `newdevice-server`).

New device (each run; no WebDriver: the app is started as a user would,
with TERN_DEMO_ACCOUNT adding the account at start, on an empty data
folder):
  - presence: from the app's "authenticated" log line to the slixmpp
    contact seeing the user available (the time the contact's event
    reached the server process);
  - newest pages: from "authenticated" to the newest message of each of
    the 20 conversations being in the app's database (read-only SQLite,
    polled every 20 ms);
  - history: to the whole archive stored (`mam_complete`);
  - CPU: user + system time of the app and all its descendants (live ones
    from /proc/PID/stat, exited ones through cutime/cstime) in the first
    60 s after the process started;
  - PSS of the app and all its descendants 30 s after "authenticated";
  - unread: the sum over the database's conversations, and the window
    title ("Tern (N)", read from the X server) at 60 s.
Then the app is stopped (SIGTERM) and started again on the same folder
(the second start of the same device): presence, CPU, PSS, unread again.

Soak (WebDriver, as app.py): a new device with 50 contacts in the roster
syncs, the first contact's conversation is opened, then N messages from K
contacts come in over S seconds (with receipts and markers requested, as
other clients send them; a notification server records what Tern shows).
Every frame interval (requestAnimationFrame) goes to a histogram in the
page; PSS and CPU are sampled every minute; PSS before and after is taken
after a JavaScriptCore garbage collection, forced through `$vm.gc()`
(JSC_useDollarVM=1 in the app's environment) when the page has it.
"""

import argparse
import datetime
import json
import os
import queue
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from app import CLK_TCK, boot_epoch, descendants, find_app, pss, pss_summary, stat  # noqa: E402
from harness import free_display, free_port, wait_for_port  # noqa: E402

LIST_ITEM = 'nav[aria-label="Conversations"] [data-testid="conversation"]'
TIMELINE = '[role="log"][data-testid="timeline"]'
ANSI = re.compile(r"\x1b\[[0-9;]*m")
HERE = os.path.dirname(os.path.abspath(__file__))


def log(msg):
    print(msg, flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def wait_quiet(limit, max_wait):
    """Waits (up to max_wait s) until the 1-minute load is below limit."""
    deadline = time.time() + max_wait
    while loadavg()[0] > limit and time.time() < deadline:
        log(f"  load {loadavg()}: waiting for it to drop below {limit}")
        time.sleep(30)
    return loadavg()


# CPU ------------------------------------------------------------------------

def cpu_ticks(pid):
    """(name, utime + stime, cutime + cstime) of one process, in ticks."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    name = s[s.index("(") + 1:s.rindex(")")]
    rest = s[s.rindex(")") + 2:].split()
    return name, int(rest[11]) + int(rest[12]), int(rest[13]) + int(rest[14])


def cpu(app_pid):
    """CPU seconds of the app and all its descendants (exited children
    included through their parents' cutime/cstime), and by process name."""
    total, by = 0, {}
    for pid in [app_pid] + descendants(app_pid):
        try:
            name, own, children = cpu_ticks(pid)
        except (OSError, ValueError, IndexError):
            continue
        total += own + children
        by[name] = by.get(name, 0) + own + children
    return total / CLK_TCK, {k: v / CLK_TCK for k, v in by.items()}


# The server -----------------------------------------------------------------

class Server:
    def __init__(self, binary, extra=0):
        self.proc = subprocess.Popen([binary, "newdevice-server", "--extra", str(extra)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the server did not start")
        self.info = json.loads(line)
        self.cond = threading.Condition()
        self.presences = []  # (t, event)
        self.soak = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                v = json.loads(line)
            except ValueError:
                continue
            if "peer_event" in v:
                e = v["peer_event"]
                if e.get("event") == "presence":
                    with self.cond:
                        self.presences.append((v["t"], e))
                        self.cond.notify_all()
            elif "soak" in v:
                self.soak.put(v)

    def send(self, obj):
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def seen_available(self, after, timeout):
        """When the slixmpp contact first saw the user available after
        `after` (wall-clock seconds), or None."""
        prefix = self.info["jid"] + "/"
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for t, e in self.presences:
                    if t >= after and e.get("type") == "available" and (e.get("from") or "").startswith(prefix):
                        return t
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# The app's log and database -------------------------------------------------

class Log:
    def __init__(self, path):
        self.path = path
        self.pos = 0
        self.authenticated = []

    def poll(self):
        try:
            with open(self.path, errors="replace") as f:
                f.seek(self.pos)
                chunk = f.read()
        except OSError:
            return
        # Only whole lines.
        cut = chunk.rfind("\n") + 1
        self.pos += len(chunk[:cut].encode())
        for line in ANSI.sub("", chunk[:cut]).splitlines():
            if " authenticated" in line and "tern_core" in line:
                stamp = line.split()[0]
                self.authenticated.append(datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())


class Db:
    def __init__(self, data_dir, account):
        self.path = os.path.join(data_dir, "tern.sqlite3")
        self.account = account
        self.conn = None

    def _q(self, sql, args=()):
        if self.conn is None:
            if not os.path.exists(self.path):
                return None
            self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=1)
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.Error:
            self.conn.close()
            self.conn = None
            return None

    def have(self, newest):
        """How many of the newest messages (peer, uid, outgoing) are stored."""
        rows = self._q("SELECT peer, uid, outgoing FROM messages WHERE account_jid = ? AND uid IN (%s)"
                       % ",".join("?" * len(newest)), [self.account] + [n["uid"] for n in newest])
        if rows is None:
            return 0
        got = {(p, u, bool(o)) for p, u, o in rows}
        return sum(1 for n in newest if (n["peer"], n["uid"], n["outgoing"]) in got)

    def complete(self):
        rows = self._q("SELECT mam_complete FROM account_state WHERE account_jid = ?", [self.account])
        return bool(rows and rows[0][0])

    def count(self, like=None):
        if like:
            rows = self._q("SELECT count(*) FROM messages WHERE account_jid = ? AND body LIKE ?", [self.account, like])
        else:
            rows = self._q("SELECT count(*) FROM messages WHERE account_jid = ?", [self.account])
        return rows[0][0] if rows else None

    def unread(self):
        rows = self._q("SELECT coalesce(sum(unread), 0), count(*) FROM conversations WHERE account_jid = ?",
                       [self.account])
        return (rows[0][0], rows[0][1]) if rows else (None, None)

    def close(self):
        if self.conn is not None:
            self.conn.close()


def window_title(display):
    out = subprocess.run(["xwininfo", "-root", "-tree", "-display", f":{display}"],
                         capture_output=True, text=True).stdout
    titles = re.findall(r'"(Tern(?: \(\d+\))?)"', out)
    return titles[0] if titles else None


def mb(kb):
    return round(kb / 1024, 1)


def split(summary):
    return {k: mb(v) for k, v in sorted(summary["by_process_kb"].items())}


# New device -----------------------------------------------------------------

def app_env(base, display, data_dir, info):
    env = dict(base)
    env.update({
        "DISPLAY": f":{display}",
        "TERN_DATA_DIR": data_dir,
        "TERN_EXTRA_ROOT_PEM": info["ca_pem"],
        "TERN_DEMO_ACCOUNT": json.dumps({"jid": info["jid"], "password": info["password"],
                                         "host": info["host"], "port": info["port"]}),
        "RUST_LOG": base.get("RUST_LOG", "info"),
        "NO_COLOR": "1",
    })
    env.pop("WAYLAND_DISPLAY", None)
    return env


def stop(pid):
    """SIGTERM to the app, then SIGKILL to whatever of it is left."""
    family = [pid] + descendants(pid)
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        pass
    deadline = time.time() + 10
    while time.time() < deadline and any(os.path.exists(f"/proc/{p}") for p in family):
        time.sleep(0.1)
    for p in family:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def one_start(app, server, display, data_dir, log_path, label, args, first):
    info = server.info
    load = wait_quiet(args.quiet_load, args.quiet_wait)
    out = {"label": label, "load_at_start": load}
    env = app_env(os.environ, display, data_dir, info)
    logf = open(log_path, "w")
    launched = time.time()
    cmd = [app]
    if args.perf and first:
        # Diagnosis only: perf's own cost lands on the measured start.
        cmd = ["perf", "record", "-F", "999", "-o", os.path.join(args.perf, f"{label.split(',')[0].replace(' ', '')}.perf.data"),
               "--", app]
    proc = subprocess.Popen(cmd, env=env, stdout=logf, stderr=subprocess.STDOUT)
    pid = find_app(app, proc.pid) if args.perf and first else proc.pid
    spawned = boot_epoch() + stat(pid)[2] / CLK_TCK
    lg = Log(log_path)
    db = Db(data_dir, info["jid"])
    newest = info["newest"]
    auth = newest_at = complete_at = None
    pss_at = None
    try:
        while True:
            now = time.time()
            if auth is None:
                lg.poll()
                if lg.authenticated:
                    auth = lg.authenticated[0]
            if first and newest_at is None and now - launched > 0.3:
                if db.have(newest) == len(newest):
                    newest_at = time.time()
            if first and complete_at is None and newest_at is not None:
                if db.complete():
                    complete_at = time.time()
            if auth is not None and pss_at is None and now >= auth + 30:
                pss_at = pss_summary(pss(pid))
                out["pss_30s_after_auth"] = pss_at
            if now >= launched + 60 and "cpu_60s" not in out:
                # From the process's own start time.
                while time.time() < spawned + 60:
                    time.sleep(0.005)
                total, by = cpu(pid)
                out["cpu_60s"] = {"total": round(total, 2), "by_process": {k: round(v, 2) for k, v in by.items()}}
                out["title_60s"] = window_title(display)
                out["unread_60s"], out["conversations_60s"] = db.unread()
            done = "cpu_60s" in out and pss_at is not None and (not first or complete_at is not None)
            if done or now > launched + args.max_seconds:
                break
            if proc.poll() is not None:
                raise RuntimeError(f"the app exited ({proc.returncode}); see {log_path}")
            time.sleep(0.02 if (first and newest_at is None) or auth is None else 0.2)
        if auth is None:
            raise RuntimeError(f"no 'authenticated' line in {log_path}")
        seen = server.seen_available(launched, 5)
        out["spawn_to_auth_s"] = round(auth - spawned, 3)
        out["presence_s"] = round(seen - auth, 3) if seen else None
        if first:
            out["newest_pages_s"] = round(newest_at - auth, 3) if newest_at else None
            out["history_complete_s"] = round(complete_at - auth, 2) if complete_at else None
        out["messages_stored"] = db.count()
        out["title_end"] = window_title(display)
        out["unread_end"], _ = db.unread()
        out["load_at_end"] = loadavg()
    finally:
        stop(pid)
        proc.wait()
        logf.close()
        db.close()
    return out


def new_device(args):
    display = free_display()
    xvfb = subprocess.Popen(["Xvfb", f":{display}", "-screen", "0", "1100x800x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    work = tempfile.mkdtemp(prefix="tern-bench-newdevice-")
    logs = args.log_dir or work
    os.makedirs(logs, exist_ok=True)
    server = None
    results = {"machine_load_before": loadavg(), "runs": []}
    try:
        t0 = time.time()
        log("newdevice: building the data set (Prosody on loopback, 20 contacts, ~5,000 archived messages)")
        server = Server(args.server)
        info = server.info
        results["data_set"] = {"messages": info["messages"], "unread_expected": info["unread"],
                               "contacts": len(info["contacts"]), "built_in_s": round(time.time() - t0, 1)}
        log(f"newdevice: data set ready in {time.time() - t0:.0f} s: {info['messages']} messages, "
            f"{info['unread']} of them unread by design")
        for n in range(args.runs):
            data_dir = os.path.join(work, f"data{n}")
            os.makedirs(data_dir)
            run = {}
            r = one_start(args.app, server, display, data_dir, os.path.join(logs, f"run{n + 1}-new.log"),
                          f"run {n + 1}, new device", args, first=True)
            run["new"] = r
            log(f"run {n + 1}, new device: " + json.dumps(brief(r)))
            time.sleep(3)
            r = one_start(args.app, server, display, data_dir, os.path.join(logs, f"run{n + 1}-second.log"),
                          f"run {n + 1}, second start", args, first=False)
            run["second"] = r
            log(f"run {n + 1}, second start: " + json.dumps(brief(r)))
            results["runs"].append(run)
            shutil.rmtree(data_dir, ignore_errors=True)
            time.sleep(3)
    finally:
        if server:
            server.close()
        xvfb.terminate()
        xvfb.wait()
        if not args.log_dir:
            shutil.rmtree(work, ignore_errors=True)
    report(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def brief(r):
    out = {k: v for k, v in r.items() if k not in ("pss_30s_after_auth",)}
    if "pss_30s_after_auth" in r:
        out["pss_mb"] = mb(r["pss_30s_after_auth"]["total_kb"])
        out["pss_split_mb"] = split(r["pss_30s_after_auth"])
    return out


def report(results):
    rows = [
        ("presence seen by the contact after sign-in (s)", "presence_s"),
        ("newest page of every conversation stored (s)", "newest_pages_s"),
        ("whole archive stored (s after sign-in)", "history_complete_s"),
        ("sign-in after the process started (s)", "spawn_to_auth_s"),
    ]
    for kind in ("new", "second"):
        log(f"\n{'New device' if kind == 'new' else 'Second start'}:")
        log("| measure | " + " | ".join(f"run {i + 1}" for i in range(len(results["runs"]))) + " |")
        log("|---|" + "---|" * len(results["runs"]))
        rs = [run[kind] for run in results["runs"]]
        for label, key in rows:
            if any(key in r for r in rs):
                log(f"| {label} | " + " | ".join(str(r.get(key)) for r in rs) + " |")
        log("| CPU in the first 60 s (s) | " + " | ".join(
            f"{r['cpu_60s']['total']} ({', '.join(f'{k} {v}' for k, v in r['cpu_60s']['by_process'].items())})"
            for r in rs) + " |")
        log("| PSS 30 s after sign-in (MiB) | " + " | ".join(
            f"{mb(r['pss_30s_after_auth']['total_kb'])} ({', '.join(f'{k} {v}' for k, v in split(r['pss_30s_after_auth']).items())})"
            for r in rs) + " |")
        log("| unread in the database / window title (60 s) | " + " | ".join(
            f"{r.get('unread_60s')} / {r.get('title_60s')}" for r in rs) + " |")
        log("| load average at start | " + " | ".join(" ".join(str(x) for x in r["load_at_start"]) for r in rs) + " |")


# Soak -----------------------------------------------------------------------

FRAMES = """
const w = window.__ternSoak = { hist: new Array(1001).fill(0), frames: 0, over50: 0, max: 0, slow: [],
  last: null, mutations: 0, running: true, t0: performance.now() };
const mo = new MutationObserver((records) => { w.mutations += records.length; });
mo.observe(document.body, { childList: true, subtree: true, characterData: true });
let seenMut = 0;
function f(t) {
  if (w.last !== null) {
    const d = t - w.last;
    w.hist[Math.min(1000, Math.round(d))]++;
    if (d > 50) {
      w.over50++;
      if (w.slow.length < 500) w.slow.push([Math.round(t - w.t0), Math.round(d), w.mutations - seenMut]);
    }
    if (d > w.max) w.max = d;
  }
  seenMut = w.mutations;
  w.last = t;
  w.frames++;
  if (w.running) requestAnimationFrame(f);
}
requestAnimationFrame(f);
return true;
"""

FRAME_STATS = """
const w = window.__ternSoak;
return { hist: w.hist, frames: w.frames, over50: w.over50, max: w.max, slow: w.slow, mutations: w.mutations,
  ms: performance.now() - w.t0 };
"""

GC = """
if (typeof $vm !== 'undefined' && $vm.gc) { $vm.gc(); return 'vm'; }
return 'none';
"""

def hist_pct(hist, p):
    total = sum(hist)
    if not total:
        return None
    acc = 0
    for ms, n in enumerate(hist):
        acc += n
        if acc >= total * p:
            return ms
    return len(hist) - 1


def collect(d, pid):
    """Forces a garbage collection in the page if it can, lets the
    allocator settle, and measures PSS."""
    how = d.execute_script(GC)
    time.sleep(5)
    if how == "vm":
        d.execute_script(GC)
        time.sleep(5)
    return how, pss_summary(pss(pid))


def soak(args):
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.options import ArgOptions

    display = free_display()
    xvfb = subprocess.Popen(["Xvfb", f":{display}", "-screen", "0", "1100x800x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    work = tempfile.mkdtemp(prefix="tern-bench-soak-")
    logs = args.log_dir or work
    os.makedirs(logs, exist_ok=True)
    procs = []
    server = driver = None
    results = {"load_before": loadavg(), "messages": args.soak_messages, "seconds": args.soak_seconds,
               "senders": args.senders, "samples": []}
    try:
        log(f"soak: building the data set (20 contacts with history, {args.senders - 20} more in the roster)")
        server = Server(args.server, extra=max(0, args.senders - 20))
        info = server.info
        notes = os.path.join(work, "notifications.jsonl")
        notifyd = subprocess.Popen([sys.executable, os.path.join(HERE, "..", "e2e", "notifyd.py"), notes],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(notifyd)
        assert notifyd.stdout.readline().strip() == "ready", "the notification server did not start"
        data_dir = os.path.join(work, "data")
        os.makedirs(data_dir)
        env = app_env(os.environ, display, data_dir, info)
        env["JSC_useDollarVM"] = "1"
        port, native = free_port(), free_port()
        app_log = open(os.path.join(logs, "soak-app.log"), "w")
        driver_proc = subprocess.Popen(["tauri-driver", "--port", str(port), "--native-port", str(native)],
                                       env=env, stdout=app_log, stderr=subprocess.STDOUT)
        procs.append(driver_proc)
        wait_for_port(port, driver_proc)
        wait_for_port(native, driver_proc)
        options = ArgOptions()
        options.set_capability("browserName", "wry")
        options.set_capability("tauri:options", {"application": args.app})
        driver = webdriver.Remote(command_executor=f"http://127.0.0.1:{port}", options=options)
        d = driver
        pid = find_app(args.app, driver_proc.pid)
        db = Db(data_dir, info["jid"])
        deadline = time.time() + 300
        while not db.complete() and time.time() < deadline:
            time.sleep(1)
        log(f"soak: new device synced: {db.count()} messages stored; unread {db.unread()}")
        # The first contact's conversation, opened as a user would.
        local = info["contacts"][0].split("@")[0]
        deadline = time.time() + 60
        items = []
        while not items and time.time() < deadline:
            items = d.find_elements(By.CSS_SELECTOR, f'{LIST_ITEM}[aria-label="{local}"], '
                                                     f'{LIST_ITEM}[aria-label^="{local},"]')
            time.sleep(0.5)
        if not items:
            raise RuntimeError(f"{local} is not in the conversation list")
        items[0].click()
        deadline = time.time() + 30
        while time.time() < deadline and not d.find_elements(By.CSS_SELECTOR, TIMELINE):
            time.sleep(0.2)
        results["conversations_shown"] = len(d.find_elements(By.CSS_SELECTOR, LIST_ITEM))
        time.sleep(10)
        d.execute_script(FRAMES)
        how, before = collect(d, pid)
        results["gc"] = how
        results["pss_before"] = before
        cpu0, _ = cpu(pid)
        log(f"soak: garbage collection: {how}; PSS before {mb(before['total_kb'])} MiB {split(before)}")
        count0 = db.count("%#soak-%") or 0
        started = time.time()
        server.send({"soak": {"messages": args.soak_messages, "seconds": args.soak_seconds,
                              "senders": args.senders}})
        done = None
        next_sample = started + 60
        while done is None:
            try:
                v = server.soak.get(timeout=max(0.1, next_sample - time.time()))
                if v.get("soak") == "done":
                    done = v
            except queue.Empty:
                pass
            if time.time() >= next_sample or done is not None:
                p = pss_summary(pss(pid))
                c, by = cpu(pid)
                fs = d.execute_script(FRAME_STATS)
                sample = {"t": round(time.time() - started), "pss_mb": mb(p["total_kb"]), "split": split(p),
                          "cpu_s": round(c - cpu0, 1), "stored": (db.count("%#soak-%") or 0) - count0,
                          "frames": fs["frames"], "over50": fs["over50"], "max_ms": round(fs["max"]),
                          "load": loadavg()}
                results["samples"].append(sample)
                log("  " + json.dumps(sample))
                next_sample += 60
        results["server_done"] = done
        # Every message stored, then quiet.
        deadline = time.time() + 120
        while (db.count("%#soak-%") or 0) - count0 < args.soak_messages and time.time() < deadline:
            time.sleep(1)
        results["stored"] = (db.count("%#soak-%") or 0) - count0
        results["elapsed_s"] = round(time.time() - started)
        fs = d.execute_script(FRAME_STATS)
        results["frames"] = {"count": fs["frames"], "over_50": fs["over50"], "max_ms": round(fs["max"], 1),
                             "p50": hist_pct(fs["hist"], 0.5), "p95": hist_pct(fs["hist"], 0.95),
                             "p99": hist_pct(fs["hist"], 0.99), "slow": fs["slow"],
                             "seconds": round(fs["ms"] / 1000)}
        results["pss_end"] = pss_summary(pss(pid))
        time.sleep(30)
        how, after = collect(d, pid)
        results["pss_after"] = after
        results["cpu_s"] = round(cpu(pid)[0] - cpu0, 1)
        results["unread_end"] = db.unread()
        results["title_end"] = window_title(display)
        results["load_after"] = loadavg()
        with open(notes) as f:
            results["notifications"] = sum(1 for _ in f)
        db.close()
    finally:
        if driver:
            try:
                driver.quit()
            except Exception:  # noqa: BLE001
                pass
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        if server:
            server.close()
        xvfb.terminate()
        xvfb.wait()
        if not args.log_dir:
            shutil.rmtree(work, ignore_errors=True)
    b, a = results["pss_before"], results["pss_after"]
    f = results["frames"]
    log(f"\nSoak: {results['stored']} of {args.soak_messages} messages from {args.senders} contacts stored "
        f"in {results['elapsed_s']} s (planned {args.soak_seconds} s); GC: {results['gc']}")
    log(f"PSS after a collection: before {mb(b['total_kb'])} MiB {split(b)}; after {mb(a['total_kb'])} MiB "
        f"{split(a)}; growth {mb(a['total_kb'] - b['total_kb'])} MiB "
        f"(without a collection at the end: {mb(results['pss_end']['total_kb'])} MiB)")
    log(f"Frames: {f['count']} in {f['seconds']} s; p50 {f['p50']}, p95 {f['p95']}, p99 {f['p99']}, "
        f"max {f['max_ms']} ms; {f['over_50']} over 50 ms: {f['slow'][:30]}")
    log(f"CPU during the soak: {results['cpu_s']} s; notifications shown: {results['notifications']}; "
        f"unread at the end: {results['unread_end']}; title {results['title_end']}; "
        f"load before {results['load_before']}, after {results['load_after']}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("app")
    p.add_argument("server")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--max-seconds", type=float, default=180, help="longest a start is watched")
    p.add_argument("--quiet-load", type=float, default=2.0, help="wait before each start until the load is below")
    p.add_argument("--quiet-wait", type=float, default=600, help="seconds to wait for that at most")
    p.add_argument("--soak", action="store_true")
    p.add_argument("--soak-messages", type=int, default=10_000)
    p.add_argument("--soak-seconds", type=float, default=3600)
    p.add_argument("--senders", type=int, default=50)
    p.add_argument("--log-dir", help="keep the app's logs here")
    p.add_argument("--perf", help="record a CPU profile (perf record) of each new device's start into this folder;"
                                  " for diagnosis, not for the figures")
    p.add_argument("--json")
    args = p.parse_args()
    if args.soak:
        soak(args)
    else:
        new_device(args)


if __name__ == "__main__":
    sys.exit(main())
