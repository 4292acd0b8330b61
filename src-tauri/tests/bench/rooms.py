"""Big group chat in the real Tern app (release build with test hooks, UI
embedded) under Xvfb, driven through tauri-driver + WebKitWebDriver like
the end-to-end test: what the UI does while a room of 5,000 occupants is
joined, and while a flood of presence changes arrives in it.

Usage (inside scripts/with-keyring; `scripts/bench approoms` does all of
it):

    python rooms.py APP TEST_SERVER [--runs N] [--occupants N] [--rate R]
                    [--seconds S] [--json OUT] [--log-dir DIR]
                    [--screenshots DIR]

TEST_SERVER is the `test-server` example, started with `--big-room=N`: a
Prosody on loopback whose room `big@conference.localhost` is filled
server-side with N occupants (`BigRoom::fill`). Each run has its own
server (so no bookmark from an earlier run brings the app into the room at
sign-in) and its own empty data folder; the account is added at start
(TERN_DEMO_ACCOUNT), as in the soak.

Per run:
  1. Join: once the app has signed in and settled, the user joins the room
     through the UI (the "+" menu, "Join a group chat…", the address, Join).
     In the page, every animation frame from then on is recorded, with
     what it coincided with (DOM mutations since the previous frame), and
     these moments, in ms after the Join click: the room view shows (its
     header), the People button counts N or more, the people panel (opened
     at the first frame with the room view, as a user would) shows
     occupant rows and counts N or more. Settled: all of those, and no DOM
     mutation for 2 s. Frame intervals (max, p95, over 50 ms) are those
     from the click to settled.
  2. Flood: with the people panel open, R presence changes a second for
     S seconds (`BigRoom::flood_in_server`: generated inside Prosody, sent
     from the room to the user as the room's broadcast would be; each of
     the N occupants changes in turn). Frame intervals from the flood's
     start until no DOM mutation for 2 s after its planned end; CPU of the
     app's processes meanwhile; PSS of the app and all its descendants
     (Rust and WebKit) before and after, each after a JavaScriptCore
     garbage collection (`$vm.gc()`, JSC_useDollarVM=1), and at the end
     without one.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.common.options import ArgOptions
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from app import find_app, pss, pss_summary  # noqa: E402
from harness import free_display, free_port, screenshot, wait_for_port  # noqa: E402
from new_device import GC, Log, app_env, cpu, loadavg, mb, split  # noqa: E402


def log(msg):
    print(msg, flush=True)


# In the page ----------------------------------------------------------------

RECORD = """
const want = arguments[0];
const w = window.__ternRooms = { frames: [], muts: 0, marks: {}, want, phase: 'idle', quietSince: null,
  clickAt: null };
const mo = new MutationObserver((records) => { w.muts += records.length; w.lastMut = performance.now(); });
mo.observe(document.body, { childList: true, subtree: true, characterData: true, attributes: true });
document.addEventListener('click', (e) => {
  if (w.clickAt === null && e.target.closest && e.target.closest('form button[type="submit"]')) {
    w.clickAt = performance.now();
    w.phase = 'join';
    w.frames = w.last === undefined ? [] : [[w.last, 0]];
  }
}, true);
const digits = (s) => Number((s || '').replace(/\\D/g, '')) || 0;
function marks(t) {
  const m = w.marks;
  if (m.room === undefined && document.querySelector('header.room-head h2')) m.room = t;
  const b = document.querySelector("button[aria-label^='People, ']");
  if (b) {
    if (m.count === undefined && digits(b.getAttribute('aria-label')) >= want) m.count = t;
    if (m.room !== undefined && m.opened === undefined && b.getAttribute('aria-pressed') !== 'true') {
      m.opened = t;
      b.click();
    }
  }
  const p = document.querySelector('[data-testid="occupant-panel"]');
  if (p) {
    if (m.rows === undefined && p.querySelector('[role="list"] button[aria-label^="bot"]')) m.rows = t;
    if (m.panelCount === undefined && digits(p.querySelector('h2 .muted')?.textContent) >= want) m.panelCount = t;
  }
}
let seen = 0;
function frame(t) {
  if (w.phase !== 'idle') {
    w.frames.push([t, w.muts - seen]);
    if (w.phase === 'join') marks(t);
  }
  seen = w.muts;
  w.last = t;
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);
return true;
"""

STATE = """
const w = window.__ternRooms;
return { clickAt: w.clickAt, marks: w.marks, frames: w.frames.length, muts: w.muts,
  lastMut: w.lastMut ?? null, now: performance.now() };
"""

FLOOD_START = """
const w = window.__ternRooms;
w.frames = w.last === undefined ? [] : [[w.last, 0]];
w.phase = 'flood';
w.floodAt = performance.now();
w.floodMuts = w.muts;
return w.floodAt;
"""

TAKE = """
const w = window.__ternRooms;
const out = { frames: w.frames, marks: w.marks, clickAt: w.clickAt, floodAt: w.floodAt ?? null,
  muts: w.muts - (w.floodMuts ?? 0), now: performance.now() };
return out;
"""

# For diagnosis (--trace): every IPC callback (engine event batches and
# command answers) is timed, with the Svelte update it caused (a microtask
# queued after it runs after Svelte's), and what it carried.
TRACE = """
const cbs = window.__TAURI_INTERNALS__.callbacks;
const w = window.__ternTrace = [];
const describe = (d) => {
  let p = d && d.payload !== undefined ? d.payload : d;
  // Engine batches come as JSON in a string.
  if (typeof p === 'string' && p.startsWith('{')) p = JSON.parse(p);
  if (p && Array.isArray(p.events)) {
    const kinds = {};
    let n = 0;
    for (const e of p.events) {
      const ev = e.event || e;
      kinds[ev.type] = (kinds[ev.type] || 0) + 1;
      if (ev.upserted) n += ev.upserted.length;
    }
    return JSON.stringify(kinds) + (n ? ` upserted ${n}` : '');
  }
  if (Array.isArray(p)) return `array ${p.length}`;
  if (p && Array.isArray(p.data)) return `data array ${p.data.length}`;
  return typeof p === 'object' && p ? Object.keys(p).slice(0, 6).join(',') : String(p).slice(0, 40);
};
const wrap = (fn) => (d) => {
  const t = performance.now();
  fn(d);
  const ran = performance.now() - t;
  const what = describe(d);
  queueMicrotask(() => w.push([Math.round(t), Math.round(ran), Math.round(performance.now() - t), what]));
};
for (const [id, fn] of [...cbs]) cbs.set(id, wrap(fn));
const set = cbs.set.bind(cbs);
cbs.set = (id, fn) => set(id, wrap(fn));
return true;
"""

# What the panel's drawn rows show (a sanity check that the flood reached
# the UI: each row of a bot that changed has its status, "flood I").
PANEL = """
const p = document.querySelector('[data-testid="occupant-panel"]');
if (!p) return null;
const rows = [...p.querySelectorAll('[role="list"] button[aria-label^="bot"]')];
return { rows: rows.length, flood: rows.filter((r) => r.textContent.includes('flood ')).length,
  count: p.querySelector('h2 .muted')?.textContent ?? null,
  first: rows.slice(0, 3).map((r) => r.getAttribute('aria-label')) };
"""


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, round((len(s) - 1) * p))] if s else None


def frame_stats(frames, t0, end=None):
    """Intervals of the frames from the last one before t0 (page ms) to
    the first one after end: each interval that overlaps [t0, end]."""
    first = max([i for i, f in enumerate(frames) if f[0] <= t0] or [0])
    last = min([i for i, f in enumerate(frames) if end is not None and f[0] >= end] or [len(frames) - 1])
    ts = frames[first:last + 1]
    iv = [(b[0] - a[0], b) for a, b in zip(ts, ts[1:])]
    ms = [d for d, _ in iv]
    if not ms:
        return {"frames": len(ts)}
    return {
        "frames": len(ts),
        "seconds": round((ts[-1][0] - ts[0][0]) / 1000, 1),
        "p50": round(pct(ms, 0.5), 1),
        "p95": round(pct(ms, 0.95), 1),
        "p99": round(pct(ms, 0.99), 1),
        "max": round(max(ms), 1),
        "over_50": sum(1 for d in ms if d > 50),
        "over_33": sum(1 for d in ms if d > 33.4),
        # [ms after t0, interval, DOM mutations in that frame]
        "slow": [[round(f[0] - t0), round(d), f[1]] for d, f in iv if d > 50][:50],
    }


# One run --------------------------------------------------------------------

class Server:
    def __init__(self, binary, occupants, log_path):
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen([binary, f"--big-room={occupants}"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True, bufsize=1)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the test server did not start; see {log_path}")
        self.info = json.loads(line)
        self.floods = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                v = json.loads(line)
            except ValueError:
                continue
            if "flood" in v:
                with self.cond:
                    self.floods.append(v["flood"])
                    self.cond.notify_all()

    def flood(self, rate, seconds):
        self.proc.stdin.write(json.dumps({"cmd": "flood", "rate": rate, "seconds": seconds}) + "\n")
        self.proc.stdin.flush()
        with self.cond:
            self.cond.wait_for(lambda: self.floods, timeout=60)
            if not self.floods:
                raise RuntimeError("the server did not start the flood")
            return self.floods.pop(0)

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def collect(d, pid):
    """PSS after a JavaScriptCore garbage collection (when the page can
    force one) and 5 s for the allocator to settle."""
    how = d.execute_script(GC)
    time.sleep(5)
    if how == "vm":
        d.execute_script(GC)
        time.sleep(5)
    return how, pss_summary(pss(pid))


def wait_quiet(d, quiet_ms, limit_s, ready=lambda s: True):
    """Polls the page until `ready(state)` and no DOM mutation for quiet_ms;
    returns the last state and whether it timed out."""
    deadline = time.time() + limit_s
    while True:
        s = d.execute_script(STATE)
        last = s["lastMut"] if s["lastMut"] is not None else 0
        if ready(s) and s["now"] - last >= quiet_ms:
            return s, False
        if time.time() > deadline:
            return s, True
        time.sleep(0.25)


def join(d, room):
    wait = WebDriverWait(d, 30)
    d.find_element(By.ID, "nav-home").click()
    wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "button[aria-label='New group chat']"))).click()
    wait.until(EC.element_to_be_clickable(
        (By.XPATH, "//*[@role='menu']//button[normalize-space()='Join a group chat…']"))).click()
    address = wait.until(EC.element_to_be_clickable((By.ID, "join-address")))
    address.send_keys(room)
    nick = d.find_element(By.XPATH, "//label[span[normalize-space()='Nickname']]/input")
    nick.send_keys(Keys.CONTROL, "a")
    nick.send_keys("benchuser")
    d.find_element(By.XPATH, "//form//button[@type='submit' and normalize-space()='Join']").click()


def one_run(args, n, display, work, logs):
    out = {"run": n + 1, "load_at_start": loadavg()}
    server = Server(args.test_server, args.occupants, os.path.join(logs, f"run{n + 1}-server.log"))
    info = server.info
    out["fill_s"] = round(info["fill_s"], 2)
    log(f"run {n + 1}: {info['room']} filled with {info['room_occupants']} occupants in {info['fill_s']:.1f} s")
    data_dir = os.path.join(work, f"data{n}")
    os.makedirs(data_dir)
    env = app_env(os.environ, display, data_dir, info)
    env["JSC_useDollarVM"] = "1"
    app_log_path = os.path.join(logs, f"run{n + 1}-app.log")
    app_log = open(app_log_path, "w")
    port, native = free_port(), free_port()
    driver_proc = subprocess.Popen(["tauri-driver", "--port", str(port), "--native-port", str(native)],
                                   env=env, stdout=app_log, stderr=subprocess.STDOUT)
    driver = None
    try:
        wait_for_port(port, driver_proc)
        wait_for_port(native, driver_proc)
        options = ArgOptions()
        options.set_capability("browserName", "wry")
        options.set_capability("tauri:options", {"application": args.app})
        driver = webdriver.Remote(command_executor=f"http://127.0.0.1:{port}", options=options)
        d = driver
        pid = find_app(args.app, driver_proc.pid)
        lg = Log(app_log_path)
        deadline = time.time() + 60
        while not lg.authenticated and time.time() < deadline:
            lg.poll()
            time.sleep(0.2)
        if not lg.authenticated:
            raise RuntimeError(f"the app did not sign in; see {app_log_path}")
        WebDriverWait(d, 30).until(EC.element_to_be_clickable((By.ID, "nav-home")))
        time.sleep(args.settle)
        out["pss_signed_in"] = pss_summary(pss(pid))

        # 1. Join.
        d.execute_script(RECORD, args.occupants)
        if args.trace:
            d.execute_script(TRACE)
        cpu0, by0 = cpu(pid)
        join(d, info["room"])
        want = ("room", "count", "rows", "panelCount")
        s, timed_out = wait_quiet(d, 2000, args.join_limit,
                                  lambda s: s["clickAt"] is not None and all(k in s["marks"] for k in want))
        cpu1, by1 = cpu(pid)
        taken = d.execute_script(TAKE)
        click = taken["clickAt"]
        settled = (s["lastMut"] or s["now"])
        marks = {k: round(v - click) for k, v in taken["marks"].items()}
        out["join"] = {
            "marks_ms": marks,
            "settled_ms": round(settled - click),
            "timed_out": timed_out,
            "frames": frame_stats(taken["frames"], click, settled),
            "cpu_s": round(cpu1 - cpu0, 2),
            "cpu_by_process": {k: round(v - by0.get(k, 0), 2) for k, v in by1.items()},
            "panel": d.execute_script(PANEL),
        }
        log(f"run {n + 1}, join: " + json.dumps(out["join"]))
        if args.trace:
            for t, ran, upd, what in d.execute_script("return window.__ternTrace.splice(0)"):
                if t >= click:
                    log(f"  +{t - click:.0f} ms: callback {ran} ms, with its update {upd} ms: {what}")
        if args.screenshots:
            screenshot(display, os.path.join(args.screenshots, f"approoms-run{n + 1}-joined.png"))
        out["pss_joined"] = pss_summary(pss(pid))

        # 2. Flood.
        time.sleep(3)
        how, before = collect(d, pid)
        out["gc"] = how
        out["pss_before_flood"] = before
        log(f"run {n + 1}: PSS before the flood {mb(before['total_kb'])} MiB {split(before)} (collection: {how})")
        page_t0 = d.execute_script(FLOOD_START)
        cpu0, by0 = cpu(pid)
        started = time.time()
        fl = server.flood(args.rate, args.seconds)
        log(f"run {n + 1}: flood of {fl['changes']} changes to {fl['recipients']} occupant(s) started")
        time.sleep(max(0, started + args.seconds - time.time()))
        s, timed_out = wait_quiet(d, 2000, 60)
        cpu1, by1 = cpu(pid)
        taken = d.execute_script(TAKE)
        end = s["lastMut"] or s["now"]
        out["flood"] = {
            "changes": fl["changes"],
            "recipients": fl["recipients"],
            "settled_after_start_s": round((end - page_t0) / 1000, 1),
            "timed_out": timed_out,
            "frames": frame_stats(taken["frames"], page_t0, end),
            "mutations": taken["muts"],
            "cpu_s": round(cpu1 - cpu0, 2),
            "cpu_by_process": {k: round(v - by0.get(k, 0), 2) for k, v in by1.items()},
            "panel": d.execute_script(PANEL),
        }
        out["pss_end_of_flood"] = pss_summary(pss(pid))
        log(f"run {n + 1}, flood: " + json.dumps(out["flood"]))
        if args.screenshots:
            screenshot(display, os.path.join(args.screenshots, f"approoms-run{n + 1}-flood.png"))
        how, after = collect(d, pid)
        out["pss_after_flood"] = after
        log(f"run {n + 1}: PSS after the flood {mb(after['total_kb'])} MiB {split(after)} "
            f"({mb(out['pss_end_of_flood']['total_kb'])} MiB before the collection)")
        out["load_at_end"] = loadavg()
    finally:
        if driver:
            try:
                driver.quit()
            except Exception:  # noqa: BLE001
                pass
        driver_proc.terminate()
        try:
            driver_proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            driver_proc.kill()
        app_log.close()
        server.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    return out


def report(results):
    runs = results["runs"]
    cols = " | ".join(f"run {r['run']}" for r in runs)
    log(f"\n| measure | {cols} |")
    log("|---|" + "---|" * len(runs))

    def row(label, f):
        log(f"| {label} | " + " | ".join(str(f(r)) for r in runs) + " |")

    occ = results["occupants"]
    row("room filled server-side (s)", lambda r: r["fill_s"])
    row("Join click → room view shows (ms)", lambda r: r["join"]["marks_ms"].get("room"))
    row(f"… People button counts {occ:,}+ (ms)", lambda r: r["join"]["marks_ms"].get("count"))
    row("… people panel shows occupants (ms)", lambda r: r["join"]["marks_ms"].get("rows"))
    row(f"… panel counts {occ:,}+ (ms)", lambda r: r["join"]["marks_ms"].get("panelCount"))
    row("… settled (no DOM change for 2 s after that; ms)", lambda r: r["join"]["settled_ms"])

    def frames(k):
        def f(r):
            x = r[k]["frames"]
            return f"{x.get('frames')} frames, p95 {x.get('p95')}, max {x.get('max')} ms, {x.get('over_50')} over 50 ms"
        return f

    row("join frames (click → settled)", frames("join"))
    row("join CPU of the app (s)", lambda r: f"{r['join']['cpu_s']} {r['join']['cpu_by_process']}")
    row("flood: changes / settled after the start (s)",
        lambda r: f"{r['flood']['changes']} / {r['flood']['settled_after_start_s']}")
    row("flood frames", frames("flood"))
    row("flood CPU of the app (s)", lambda r: f"{r['flood']['cpu_s']} {r['flood']['cpu_by_process']}")
    row("PSS signed in / joined (MiB)",
        lambda r: f"{mb(r['pss_signed_in']['total_kb'])} / {mb(r['pss_joined']['total_kb'])}")
    row("PSS before / after the flood, collected (MiB)",
        lambda r: f"{mb(r['pss_before_flood']['total_kb'])} {split(r['pss_before_flood'])} / "
                  f"{mb(r['pss_after_flood']['total_kb'])} {split(r['pss_after_flood'])}")
    row("PSS at the flood's end, not collected (MiB)", lambda r: mb(r["pss_end_of_flood"]["total_kb"]))
    row("load average at start / end", lambda r: f"{r['load_at_start']} / {r.get('load_at_end')}")
    for r in runs:
        for k in ("join", "flood"):
            slow = r[k]["frames"].get("slow")
            if slow:
                log(f"run {r['run']}, {k}: frames over 50 ms [ms after start, interval, DOM mutations]: {slow}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("app")
    p.add_argument("test_server")
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--occupants", type=int, default=5_000)
    p.add_argument("--rate", type=int, default=1_000)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--settle", type=float, default=5, help="seconds after sign-in before the join")
    p.add_argument("--join-limit", type=float, default=120, help="longest the join is watched (s)")
    p.add_argument("--log-dir", help="keep the server's and the app's logs here")
    p.add_argument("--screenshots", help="screenshots of the room after the join and the flood")
    p.add_argument("--trace", action="store_true", help="time the page's IPC callbacks (diagnosis only)")
    p.add_argument("--json")
    args = p.parse_args()
    display = free_display()
    xvfb = subprocess.Popen(["Xvfb", f":{display}", "-screen", "0", "1100x800x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if os.path.exists(f"/tmp/.X11-unix/X{display}"):
            break
        time.sleep(0.05)
    work = tempfile.mkdtemp(prefix="tern-bench-approoms-")
    logs = args.log_dir or work
    os.makedirs(logs, exist_ok=True)
    if args.screenshots:
        os.makedirs(args.screenshots, exist_ok=True)
    results = {"occupants": args.occupants, "rate": args.rate, "seconds": args.seconds, "runs": []}
    try:
        for n in range(args.runs):
            results["runs"].append(one_run(args, n, display, work, logs))
            if args.json:
                with open(args.json, "w") as f:
                    json.dump(results, f, indent=1)
    finally:
        xvfb.terminate()
        xvfb.wait()
        if not args.log_dir:
            shutil.rmtree(work, ignore_errors=True)
    report(results)


if __name__ == "__main__":
    sys.exit(main())
