"""The memory floor of WebKitGTK itself on this machine: PSS of WebKitGTK's
MiniBrowser (from libwebkit2gtk-4.1-0) and its WebKit processes showing a
one-line page, under Xvfb, with CPU painting and with OpenGL compositing.
Compare with the app's "PSS after the list" (app.py).

Usage: python webkit_floor.py [--runs N]   (needs Xvfb and dbus-run-session)
"""

import argparse
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from app import descendants, pss, processes  # noqa: E402
from harness import free_display  # noqa: E402

MINIBROWSER = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"
PAGE = "data:text/html,<p>Hello</p>"


def measure(display, compositing):
    env = dict(os.environ, DISPLAY=f":{display}", WEBKIT_DISABLE_COMPOSITING_MODE="0" if compositing else "1")
    env.pop("WAYLAND_DISPLAY", None)
    session = subprocess.Popen(["dbus-run-session", "--", MINIBROWSER, PAGE], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        time.sleep(6)
        procs = processes()
        browser = [p for p in descendants(session.pid, procs) if procs[p][0] == "MiniBrowser"]
        if not browser:
            raise RuntimeError("MiniBrowser did not start")
        return pss(browser[0])
    finally:
        os.killpg(session.pid, signal.SIGTERM)
        session.wait(timeout=10)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=2)
    args = p.parse_args()
    if not os.path.exists(MINIBROWSER):
        sys.exit(f"{MINIBROWSER} is missing (package libwebkit2gtk-4.1-0)")
    display = free_display()
    xvfb = subprocess.Popen(["Xvfb", f":{display}", "-screen", "0", "1100x800x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)
        for compositing in (False, True):
            for _ in range(args.runs):
                rows = measure(display, compositing)
                parts = ", ".join(f"{name} {kb / 1024:.1f}" for _, name, kb, _ in rows)
                print(f"{'OpenGL compositing' if compositing else 'CPU painting'}: "
                      f"{sum(r[2] for r in rows) / 1024:.1f} MB ({parts})", flush=True)
    finally:
        xvfb.terminate()
        xvfb.wait()


if __name__ == "__main__":
    main()
