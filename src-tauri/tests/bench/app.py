"""Desktop app benchmark: cold start, memory and scrolling of the real Tern
app (release build with test hooks, UI embedded) under Xvfb, driven through
tauri-driver + WebKitWebDriver like the end-to-end test.

Usage (inside scripts/with-keyring; scripts/bench app does all of it):
    python app.py APP_BINARY SEEDED_DATA_DIR SEED_JSON [--starts N]
                  [--scroll MESSAGES] [--step PX] [--json OUT]

SEEDED_DATA_DIR is a data folder filled by the bench-seed example (50
conversations, 100,000 messages, one disabled account); SEED_JSON is the
line bench-seed printed. Each start gets a fresh copy of the folder.

Per start:
  - the app process's start time (from /proc), the first paint and first
    contentful paint of the window (Paint Timing), and the frame in which
    the conversation list first showed conversations (a MutationObserver
    installed as soon as WebDriver can run a script, then the next
    animation frame); all as milliseconds after the process started;
  - PSS of the app and all its descendants (WebKitWebProcess,
    WebKitNetworkProcess, ...) from /proc/PID/smaps_rollup, 3 s after the
    list showed.
On the last start it then opens the biggest conversation and scrolls the
timeline up by --step pixels every animation frame until --scroll messages
have gone past (older pages load as the app does for a user), records every
frame interval (requestAnimationFrame timestamps), and measures PSS again.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.options import ArgOptions

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from harness import free_display, free_port, wait_for_port  # noqa: E402

LIST_ITEM = 'nav[aria-label="Conversations"] [data-testid="conversation"]'
TIMELINE = '[role="log"][data-testid="timeline"]'
CLK_TCK = os.sysconf("SC_CLK_TCK")


# /proc ----------------------------------------------------------------------

def stat(pid):
    """(comm, ppid, start time in clock ticks after boot) of a process."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    comm = s[s.index("(") + 1:s.rindex(")")]
    rest = s[s.rindex(")") + 2:].split()
    return comm, int(rest[1]), int(rest[19])


def processes():
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                out[int(d)] = stat(d)
            except (OSError, ValueError):
                pass
    return out


def boot_epoch():
    with open("/proc/uptime") as f:
        up = float(f.read().split()[0])
    return time.time() - up


def find_app(app, under, timeout=30):
    """The app's process: a descendant of `under` running `app`."""
    real = os.path.realpath(app)
    deadline = time.time() + timeout
    while time.time() < deadline:
        procs = processes()
        for pid in descendants(under, procs):
            try:
                if os.path.realpath(f"/proc/{pid}/exe") == real:
                    return pid
            except OSError:
                pass
        time.sleep(0.02)
    raise RuntimeError("the app process did not appear")


def descendants(root, procs=None):
    procs = procs or processes()
    children = {}
    for pid, (_, ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def pss(app_pid):
    """[(pid, name, PSS kB, RSS kB)] of the app and its descendants."""
    rows = []
    for pid in [app_pid] + descendants(app_pid):
        try:
            name = stat(pid)[0]
            with open(f"/proc/{pid}/smaps_rollup") as f:
                fields = dict(l.split(":", 1) for l in f if ":" in l and not l[0].isdigit())
            rows.append((pid, name, int(fields["Pss"].split()[0]), int(fields["Rss"].split()[0])))
        except (OSError, KeyError, ValueError):
            pass
    return rows


def mappings(pid, top=6):
    """The largest PSS contributors of one process: anonymous memory, the
    heap, and each mapped file, in kB."""
    by = {}
    name = "?"
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                head = line.split(None, 5)
                if len(head) >= 5 and "-" in head[0] and not line[0].isupper():
                    name = head[5].strip() if len(head) > 5 else "[anon]"
                    name = name or "[anon]"
                    if name.startswith("/memfd:") or name.startswith("[anon:"):
                        name = name.split(" ")[0]
                elif line.startswith("Pss:"):
                    by[name] = by.get(name, 0) + int(line.split()[1])
    except OSError:
        return []
    return sorted(by.items(), key=lambda kv: -kv[1])[:top]


def pss_summary(rows):
    by_name = {}
    for _, name, p, _ in rows:
        by_name[name] = by_name.get(name, 0) + p
    return {"total_kb": sum(r[2] for r in rows), "by_process_kb": by_name,
            "processes": [{"pid": r[0], "name": r[1], "pss_kb": r[2], "rss_kb": r[3],
                           "largest_kb": mappings(r[0])} for r in rows]}


# In the page --------------------------------------------------------------

WATCH_LIST = """
const sel = arguments[0];
const w = window.__ternBench = window.__ternBench || {};
w.firstCheck = performance.now();
w.origin = performance.timeOrigin;
if (document.querySelector(sel)) { w.already = true; w.listAt = w.firstCheck; w.listFrame = w.firstCheck; return w; }
const mo = new MutationObserver(() => {
  if (w.listAt === undefined && document.querySelector(sel)) {
    w.listAt = performance.now();
    mo.disconnect();
    requestAnimationFrame((t) => { w.listFrame = t; });
  }
});
mo.observe(document.documentElement, { childList: true, subtree: true });
return w;
"""

PAGE_TIMES = """
const nav = performance.getEntriesByType('navigation')[0];
return {
  origin: performance.timeOrigin,
  paint: performance.getEntriesByType('paint').map((e) => [e.name, e.startTime]),
  domContentLoaded: nav ? nav.domContentLoadedEventEnd : null,
  load: nav ? nav.loadEventEnd : null,
  bench: window.__ternBench || null,
};
"""

IDLE_FRAMES = """
const done = arguments[arguments.length - 1];
const ts = [];
function f(t) { ts.push(t); if (ts.length < 121) requestAnimationFrame(f); else done(ts); }
requestAnimationFrame(f);
"""

# Scrolls the timeline up by `step` px per frame until `target` messages
# (by the #N at the end of each body) have gone past the top of the view.
SCROLL = """
const [sel, step, target, limitMs] = arguments;
const el = document.querySelector(sel);
const numberAt = () => {
  const top = el.getBoundingClientRect().top;
  for (const row of el.querySelectorAll('[data-vi]')) {
    if (row.getBoundingClientRect().bottom <= top) continue;
    const m = row.textContent.match(/#(\\d+)/);
    if (m) return Number(m[1]);
  }
  return null;
};
const s = window.__ternScroll = { intervals: [], start: numberAt(), top: null, frames: 0, done: false,
  stalled: 0, t0: performance.now() };
let last = null, lastTop = -1;
s.slow = [];
const loading = () => !!document.querySelector('[role="status"].older');
let wasLoading = false;
function frame(t) {
  if (last !== null) {
    s.intervals.push(t - last);
    // What a slow frame coincided with: an older page arriving (the
    // loading notice went away), or nothing the page knows of (a garbage
    // collection, the machine).
    if (t - last > 50) s.slow.push({ frame: s.frames, ms: Math.round(t - last), page: wasLoading && !loading(), rows: el.querySelectorAll('[data-vi]').length });
  }
  wasLoading = loading();
  last = t;
  s.frames++;
  if (s.frames % 4 === 0) {
    const n = numberAt();
    if (n !== null) s.top = n;
  }
  if (s.top !== null && s.start - s.top >= target) { s.done = true; s.ms = t - s.t0; return; }
  if (t - s.t0 > limitMs) { s.done = true; s.timedOut = true; s.ms = t - s.t0; return; }
  if (el.scrollTop === 0 && lastTop === 0) s.stalled++;
  lastTop = el.scrollTop;
  el.scrollTop = Math.max(0, el.scrollTop - step);
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);
return s.start;
"""


def pct(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, round((len(sorted_values) - 1) * p))]


# One start --------------------------------------------------------------

class Start:
    def __init__(self, app, data_dir, env):
        self.app = app
        self.data_dir = data_dir
        port, native = free_port(), free_port()
        self.driver_proc = subprocess.Popen(
            ["tauri-driver", "--port", str(port), "--native-port", str(native)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(port, self.driver_proc)
        wait_for_port(native, self.driver_proc)
        options = ArgOptions()
        options.set_capability("browserName", "wry")
        options.set_capability("tauri:options", {"application": app})
        self.requested = time.time()
        self.driver = webdriver.Remote(command_executor=f"http://127.0.0.1:{port}", options=options)
        self.session_at = time.time()
        self.pid = find_app(app, self.driver_proc.pid)
        self.spawned = boot_epoch() + stat(self.pid)[2] / CLK_TCK

    def close(self):
        try:
            self.driver.quit()
        finally:
            self.driver_proc.terminate()
            try:
                self.driver_proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.driver_proc.kill()

    def since_spawn(self, origin_ms, t_ms):
        return origin_ms + t_ms - self.spawned * 1000

    def measure_start(self):
        d = self.driver
        watch = d.execute_script(WATCH_LIST, LIST_ITEM)
        deadline = time.time() + 60
        while time.time() < deadline:
            w = d.execute_script("return window.__ternBench")
            if w.get("listFrame") is not None:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("the conversation list did not show within 60 s")
        times = d.execute_script(PAGE_TIMES)
        origin = times["origin"]
        out = {
            "session_ready_ms": round((self.session_at - self.spawned) * 1000),
            "page_origin_ms": round(origin - self.spawned * 1000),
            "first_script_ms": round(self.since_spawn(origin, watch["firstCheck"])),
            "list_already_there_at_first_script": bool(watch.get("already")),
            "list_dom_ms": round(self.since_spawn(origin, w["listAt"])),
            "list_painted_ms": round(self.since_spawn(origin, w["listFrame"])),
            "dom_content_loaded_ms": round(self.since_spawn(origin, times["domContentLoaded"]))
            if times["domContentLoaded"] else None,
        }
        for name, t in times["paint"]:
            out[name.replace("-", "_") + "_ms"] = round(self.since_spawn(origin, t))
        out["conversations_shown"] = len(d.find_elements(By.CSS_SELECTOR, LIST_ITEM))
        return out


def run(args):
    seed = json.loads(args.seed_json)
    display = free_display()
    xvfb = subprocess.Popen(["Xvfb", f":{display}", "-screen", "0", "1100x800x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if os.path.exists(f"/tmp/.X11-unix/X{display}"):
            break
        time.sleep(0.05)
    results = {"seed": seed, "starts": []}
    work = tempfile.mkdtemp(prefix="tern-bench-app-")
    try:
        for n in range(args.starts):
            data_dir = os.path.join(work, f"data{n}")
            shutil.copytree(args.data_dir, data_dir)
            env = dict(os.environ)
            env.update({"DISPLAY": f":{display}", "TERN_DATA_DIR": data_dir,
                        "RUST_LOG": env.get("RUST_LOG", "warn")})
            env.pop("WAYLAND_DISPLAY", None)
            start = Start(args.app, data_dir, env)
            try:
                r = start.measure_start()
                time.sleep(3)
                r["pss_after_list"] = pss_summary(pss(start.pid))
                print(f"start {n + 1}: " + json.dumps({k: v for k, v in r.items() if k != "pss_after_list"}),
                      flush=True)
                print(f"  PSS after the list: {r['pss_after_list']['total_kb'] / 1024:.1f} MB "
                      f"{r['pss_after_list']['by_process_kb']}", flush=True)
                if n == args.starts - 1:
                    r["scroll"] = scroll(start, seed, args)
                results["starts"].append(r)
            finally:
                start.close()
            shutil.rmtree(data_dir, ignore_errors=True)
    finally:
        xvfb.terminate()
        xvfb.wait()
        shutil.rmtree(work, ignore_errors=True)
    report(results, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def scroll(start, seed, args):
    d = start.driver
    idle = d.execute_async_script(IDLE_FRAMES)
    idle_iv = sorted(b - a for a, b in zip(idle, idle[1:]))
    local = seed["biggest"].split("@")[0]
    # The list names a conversation without a roster name by the address's
    # local part (aria-label "friend00" or "friend00, 3 unread").
    items = d.find_elements(By.CSS_SELECTOR, f'{LIST_ITEM}[aria-label="{local}"], '
                                             f'{LIST_ITEM}[aria-label^="{local},"]')
    if not items:
        raise RuntimeError(f"{seed['biggest']} is not in the conversation list")
    items[0].click()
    newest = seed["biggest_messages"]
    deadline = time.time() + 30
    while time.time() < deadline:
        if d.execute_script(
                "const el = document.querySelector(arguments[0]);"
                "return !!el && el.textContent.includes('#' + arguments[1]);", TIMELINE, newest):
            break
        time.sleep(0.05)
    else:
        raise RuntimeError("the timeline of the biggest conversation did not show")
    time.sleep(1)
    first = d.execute_script(SCROLL, TIMELINE, args.step, args.scroll, args.limit * 1000)
    t0 = time.time()
    while True:
        time.sleep(2)
        s = d.execute_script("const s = window.__ternScroll; return {done: s.done, top: s.top};")
        if s["done"]:
            break
        print(f"  scrolled past {first - (s['top'] or first)} messages "
              f"({time.time() - t0:.0f} s)", flush=True)
    s = d.execute_script("return window.__ternScroll")
    iv = sorted(s["intervals"])
    out = {
        "step_px": args.step,
        "from_message": s["start"],
        "to_message": s["top"],
        "messages_scrolled": s["start"] - s["top"],
        "timed_out": bool(s.get("timedOut")),
        "seconds": round(s["ms"] / 1000, 1),
        "frames": len(iv) + 1,
        "frames_at_top_waiting": s["stalled"],
        "frame_ms": {
            "mean": round(statistics.fmean(iv), 1),
            "p50": round(pct(iv, 0.5), 1),
            "p95": round(pct(iv, 0.95), 1),
            "p99": round(pct(iv, 0.99), 1),
            "max": round(iv[-1], 1),
            "over_50": sum(1 for x in iv if x > 50),
            "over_33": sum(1 for x in iv if x > 33.4),
        },
        "slow_frames": s["slow"],
        "idle_frame_ms": {"p50": round(pct(idle_iv, 0.5), 1), "max": round(idle_iv[-1], 1)},
        "pss_after_scroll": pss_summary(pss(start.pid)),
    }
    time.sleep(3)
    out["pss_after_scroll_settled"] = pss_summary(pss(start.pid))
    print("scroll: " + json.dumps({k: v for k, v in out.items() if not k.startswith("pss")}), flush=True)
    return out


def mb(kb):
    return f"{kb / 1024:.1f} MB"


def report(results, args):
    starts = results["starts"]
    keys = ["first_paint_ms", "first_contentful_paint_ms", "list_painted_ms"]
    print("\n| start | " + " | ".join(keys) + " | PSS after list |")
    print("|---|" + "---|" * (len(keys) + 1))
    for i, r in enumerate(starts):
        print(f"| {i + 1} | " + " | ".join(str(r.get(k, "—")) for k in keys)
              + f" | {mb(r['pss_after_list']['total_kb'])} |")
    last = starts[-1]
    print("\nPSS by process (last start):")
    names = sorted(set(last["pss_after_list"]["by_process_kb"]) |
                   set(last.get("scroll", {}).get("pss_after_scroll", {}).get("by_process_kb", {})))
    for name in names:
        a = last["pss_after_list"]["by_process_kb"].get(name, 0)
        b = last.get("scroll", {}).get("pss_after_scroll", {}).get("by_process_kb", {}).get(name, 0)
        print(f"  {name:24} after list {mb(a):>10}   after scrolling {mb(b):>10}")
    print("\nLargest parts (after the list, last start):")
    for proc in last["pss_after_list"]["processes"]:
        parts = ", ".join(f"{os.path.basename(n) or n} {mb(kb)}" for n, kb in proc["largest_kb"])
        print(f"  {proc['name']} ({mb(proc['pss_kb'])}): {parts}")
    if "scroll" in last:
        s = last["scroll"]
        print(f"  {'total':24} after list {mb(last['pss_after_list']['total_kb']):>10}"
              f"   after scrolling {mb(s['pss_after_scroll']['total_kb']):>10}"
              f" ({mb(s['pss_after_scroll_settled']['total_kb'])} 3 s later)")
        f = s["frame_ms"]
        print(f"\nScrolling {s['messages_scrolled']} messages (#{s['from_message']} to #{s['to_message']}) "
              f"in {s['seconds']} s, {s['frames']} frames, {s['step_px']} px per frame: "
              f"frame interval p50 {f['p50']} ms, p95 {f['p95']} ms, p99 {f['p99']} ms, max {f['max']} ms, "
              f"{f['over_50']} over 50 ms; idle frame interval p50 {s['idle_frame_ms']['p50']} ms")
        slow = s.get("slow_frames", [])
        if slow:
            paged = sum(1 for x in slow if x["page"])
            print(f"Frames over 50 ms: {paged} as an older page arrived, {len(slow) - paged} otherwise: "
                  + ", ".join(f"#{x['frame']} {x['ms']} ms{' (page)' if x['page'] else ''}" for x in slow[:20]))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("app")
    p.add_argument("data_dir")
    p.add_argument("seed_json")
    p.add_argument("--starts", type=int, default=3)
    p.add_argument("--scroll", type=int, default=10_000)
    p.add_argument("--step", type=int, default=120)
    p.add_argument("--limit", type=int, default=900, help="seconds of scrolling at most")
    p.add_argument("--json")
    run(p.parse_args())


if __name__ == "__main__":
    sys.exit(main())
