"""End to end: the real Tern app (UI embedded) under Xvfb, driven through
tauri-driver + WebKitWebDriver, signing in to a real Prosody on loopback.

Usage (inside scripts/with-keyring, so passwords go to a real Secret Service):
    python sign_in.py APP_BINARY TEST_SERVER_BINARY SCREENSHOT_DIR

APP_BINARY may be an AppImage (scripts/appimage): then Tern and WebKit's
processes must also run from the image it unpacked.

Checks that a wrong password shows the wrong-password message, and that the
right one reaches "Connected". Then an independent client (slixmpp, run by
the test server) sends a message: it must show up in the conversation list,
as a desktop notification (recorded by a notification server on the test's
D-Bus session, notifyd.py) whose click opens the conversation, and in the
timeline; the window's title must read "Tern (1)" and the window ask for
attention (X11 urgency hint) until the message is read; the reply typed
into the composer must reach the peer.
Misspelled words typed into the composer must get WebKit's red marks,
correct ones none, and none with spell checking off in Settings.
Hostile text (tags, handlers, javascript: links, bidi overrides) must stay
text in WebKit. Last, the window must refuse to navigate away from Tern's
pages.
Screenshots: e2e-wrong-password.png, e2e-connected.png, e2e-conversation.png,
e2e-spelling.png.

rooms.py runs its own scenario in the same setup (main) and signs in with
the same steps (welcome, sign_in, wait_connected).
"""

import json
import os
import queue
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
from selenium.webdriver.remote.file_detector import UselessFileDetector
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from harness import free_display, free_port, screenshot, wait_for_port


def main(scenario=None, server_args=("--peer",)):
    """Starts Prosody (with its peers), a notification server, a tray,
    Xvfb, tauri-driver and the app, and runs `scenario(driver, info, shots)`
    (by default this file's own) with what it needs in `info`."""
    scenario = scenario or run
    app, test_server, shots = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(shots, exist_ok=True)
    started = time.time()
    procs = []
    data_dir = tempfile.mkdtemp(prefix="tern-e2e-")
    try:
        server = subprocess.Popen([test_server, *server_args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(server)
        info = json.loads(server.stdout.readline())
        peer_jids = info.get("peer_jids", [])
        print(f"e2e: Prosody on {info['host']}:{info['port']}, user {info['jid']}, peers {', '.join(peer_jids)}",
              flush=True)
        # What each peer sees, in its own queue.
        queues = [queue.Queue() for _ in peer_jids]
        # What the call peer (--call-peer) reports.
        call_events = queue.Queue()

        def read_events():
            for line in server.stdout:
                try:
                    line = json.loads(line)
                    if "call_event" in line:
                        call_events.put(line["call_event"])
                        continue
                    queues[line.get("peer", 0)].put(line["peer_event"])
                except (ValueError, KeyError, IndexError):
                    pass

        threading.Thread(target=read_events, daemon=True).start()

        def peer(cmd, index=0):
            server.stdin.write(json.dumps({**cmd, "peer": index}) + "\n")
            server.stdin.flush()

        def call_peer(cmd):
            server.stdin.write(json.dumps({**cmd, "call_peer": True}) + "\n")
            server.stdin.flush()

        info["peer"] = peer
        info["call_peer"] = call_peer
        info["call_events"] = call_events
        info["peer_events"] = queues[0] if queues else None
        info["peer_queues"] = queues

        notes = os.path.join(data_dir + "-notifications.jsonl")
        notifyd = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "notifyd.py"), notes],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(notifyd)
        assert notifyd.stdout.readline().strip() == "ready", "the notification server did not start"
        info["notifications"] = notes
        info["notifyd"] = notifyd

        # A system tray (StatusNotifierWatcher + host), there before Tern.
        tray = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "trayhost.py")],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(tray)
        tray_lines = queue.Queue()
        assert json.loads(tray.stdout.readline()).get("event") == "ready", "the tray did not start"
        threading.Thread(target=lambda: [tray_lines.put(json.loads(x)) for x in tray.stdout], daemon=True).start()
        info["tray"] = Tray(tray, tray_lines)

        display = free_display()
        info["display"] = display
        xvfb = subprocess.Popen(["Xvfb", f":{display}", "-screen", "0", "1100x800x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(xvfb)
        for _ in range(100):
            if os.path.exists(f"/tmp/.X11-unix/X{display}"):
                break
            time.sleep(0.05)

        info["data_dir"] = data_dir
        env = dict(os.environ)
        if app.endswith(".AppImage"):
            # The AppImage unpacks itself into $XDG_CACHE_HOME/tern-appimage.
            env["XDG_CACHE_HOME"] = info["appimage_cache"] = os.path.join(data_dir + "-cache")
        env.update({
            "DISPLAY": f":{display}",
            "TERN_DATA_DIR": data_dir,
            "TERN_EXTRA_ROOT_PEM": info["ca_pem"],
            "RUST_LOG": env.get("RUST_LOG", "info"),
        })
        env.pop("WAYLAND_DISPLAY", None)
        port, native_port = free_port(), free_port()
        driver_proc = subprocess.Popen(["tauri-driver", "--port", str(port), "--native-port", str(native_port)], env=env)
        procs.append(driver_proc)
        # tauri-driver listens before WebKitWebDriver behind it does.
        wait_for_port(port, driver_proc)
        wait_for_port(native_port, driver_proc)

        options = ArgOptions()
        options.set_capability("browserName", "wry")
        options.set_capability("tauri:options", {"application": app})
        driver = webdriver.Remote(command_executor=f"http://127.0.0.1:{port}", options=options)

        def relaunch(old):
            """Quits the app and starts it again on the same data folder
            (a restart); returns the new session, which the caller quits."""
            old.quit()
            return webdriver.Remote(command_executor=f"http://127.0.0.1:{port}", options=options)

        info["relaunch"] = relaunch
        try:
            scenario(driver, info, shots)
        except Exception:
            screenshot(info["display"], os.path.join(shots, "e2e-failure.png"))
            print("e2e: page text at failure:\n" + driver.find_element(By.TAG_NAME, "body").text, flush=True)
            raise
        finally:
            try:
                driver.quit()
            except Exception:  # noqa: BLE001 (the app may have quit already)
                pass
        print(f"e2e: passed in {time.time() - started:.1f} s", flush=True)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                if p is procs[0]:
                    p.stdin.close()
                else:
                    p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(data_dir + "-cache", ignore_errors=True)


class Tray:
    """Talks to trayhost.py: commands answered in order, events kept."""

    def __init__(self, proc, lines):
        self.proc, self.lines, self.events = proc, lines, []

    def ask(self, cmd, timeout=10):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        deadline = time.time() + timeout
        while True:
            line = self.lines.get(timeout=max(0.01, deadline - time.time()))
            if "event" in line:
                self.events.append(line)
                continue
            assert line.get("reply") != "error", f"tray: {cmd}: {line}"
            return line

    def wait_event(self, kind, timeout=15):
        deadline = time.time() + timeout
        while True:
            for e in self.events:
                if e["event"] == kind:
                    return e
            try:
                self.events.append(self.lines.get(timeout=max(0.01, deadline - time.time())))
            except queue.Empty:
                raise AssertionError(f"tray: no {kind} event") from None

    def label(self):
        return self.ask("props")["props"].get("XAyatanaLabel", "")

    def wait_label(self, want, timeout=15):
        deadline = time.time() + timeout
        while (got := self.label()) != want:
            assert time.time() < deadline, f"tray label {got!r}, not {want!r}"
            time.sleep(0.2)


def x_window(display, title):
    """The top-level X window named `title` (or whose name `title`
    accepts, when it is a function), and the display."""
    from Xlib import display as xdisplay
    d = xdisplay.Display(f":{display}")
    matches = title if callable(title) else (lambda name: name == title)

    def find(w):
        for c in w.query_tree().children:
            name = c.get_wm_name()
            if isinstance(name, str) and matches(name):
                return c
            if (found := find(c)) is not None:
                return found
        return None

    return d, find(d.screen().root)


def window_state(display):
    """Tern's window title, and whether the window asks for attention (the
    urgency hint in its WM_HINTS, which task bars show)."""
    from Xlib import Xutil
    d, win = x_window(display, lambda name: name == "Tern" or name.startswith("Tern ("))
    try:
        assert win is not None, "no X window named Tern"
        hints = win.get_wm_hints()
        return win.get_wm_name(), bool(hints and hints.flags & Xutil.UrgencyHint)
    finally:
        d.close()


def wait_window_state(display, want_title, want_urgent=None, timeout=10):
    deadline = time.time() + timeout
    while True:
        title, urgent = window_state(display)
        if title == want_title and (want_urgent is None or urgent == want_urgent):
            return title, urgent
        assert time.time() < deadline, f"window {title!r} urgent={urgent}, not {want_title!r} urgent={want_urgent}"
        time.sleep(0.2)


def red_pixels(display, rect):
    """How many red pixels (WebKitGTK's dotted spelling marks are drawn
    red and smoothed into pinks like 255,130,130) the display shows inside
    an element's rectangle (the window sits at the display's top left,
    undecorated)."""
    from PIL import ImageGrab

    image = ImageGrab.grab(xdisplay=f":{display}").convert("RGB")
    x, y, w, h = (round(rect[k]) for k in ("x", "y", "width", "height"))
    data = image.crop((x, y, x + w, y + h)).tobytes()
    return sum(1 for i in range(0, len(data), 3)
               if data[i] > 200 and data[i] - data[i + 1] > 60 and data[i] - data[i + 2] > 60)


def check_spelling(driver, info, shots, field):
    """WebKit marks misspelled words in the composer in red, and only
    those (WebKitGTK checks nothing unless Tern gives it the languages)."""
    def clear():
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(Keys.DELETE)
        WebDriverWait(driver, 5).until(lambda d: field.get_attribute("value") == "")

    field.click()
    field.send_keys("Tern checks spelling here ")
    time.sleep(1.0)
    clean = red_pixels(info["display"], field.rect)
    clear()
    field.send_keys("Tern chekcs speling heer ")
    deadline = time.time() + 10
    marked = 0
    while time.time() < deadline and marked < 20:
        time.sleep(0.25)
        marked = red_pixels(info["display"], field.rect)
    screenshot(info["display"], os.path.join(shots, "e2e-spelling.png"))
    assert clean == 0, f"{clean} red pixels under correctly spelled words"
    assert marked >= 20, f"misspelled words were not marked ({marked} red pixels)"
    print(f"e2e: misspelled words are marked ({marked} red pixels), correct ones not", flush=True)
    clear()

    # Turned off in Settings, nothing is marked; back on for the rest.
    def toggle_setting():
        driver.find_element(By.XPATH, "//nav//button[normalize-space()='Settings']").click()
        box = WebDriverWait(driver, 5).until(EC.element_to_be_clickable(
            (By.XPATH, "//label[contains(., 'Check spelling while typing')]/input")))
        box.click()
        driver.find_element(By.XPATH, "//nav//button[starts-with(normalize-space(), 'Conversations')]").click()
        return box

    toggle_setting()
    field = WebDriverWait(driver, 5).until(EC.element_to_be_clickable(
        (By.CSS_SELECTOR, "textarea[aria-label^='Message ']")))
    field.click()
    field.send_keys("Tern chekcs speling heer ")
    time.sleep(1.0)
    off = red_pixels(info["display"], field.rect)
    assert off == 0, f"{off} red pixels with spell checking off"
    clear()
    toggle_setting()
    print("e2e: with spell checking off in Settings, nothing is marked", flush=True)


def check_appimage_processes(cache, data_dir):
    """Started from the AppImage, Tern and WebKit's processes (this test's:
    they carry its TERN_DATA_DIR) must all run from the image unpacked into
    the cache, not from the system."""
    unpacked = os.path.join(cache, "tern-appimage")
    mine = f"TERN_DATA_DIR={data_dir}".encode()
    seen = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read().split(b"\0")
        except OSError:
            continue
        name = os.path.basename(exe)
        if name in ("tern", "WebKitWebProcess", "WebKitNetworkProcess") and mine in environ:
            seen.setdefault(name, []).append(exe)
        if name in ("tern", "WebKitWebProcess"):
            # And WebKitGTK itself is the image's copy.
            with open(f"/proc/{pid}/maps") as f:
                webkit = {line.split()[-1] for line in f if "libwebkit2gtk-4.1.so" in line}
            assert webkit and all(p.startswith(unpacked + "/") for p in webkit), f"{name} loaded {webkit}"
    for name in ("tern", "WebKitWebProcess", "WebKitNetworkProcess"):
        assert seen.get(name), f"no {name} process runs: {seen}"
        assert all(e.startswith(unpacked + "/") for e in seen[name]), f"{name} runs from outside the AppImage: {seen[name]}"
    print(f"e2e: the AppImage runs Tern and WebKit from {unpacked}", flush=True)


def fill(driver, element_id, text):
    el = WebDriverWait(driver, 30).until(EC.element_to_be_clickable((By.ID, element_id)))
    el.clear()
    el.send_keys(text)


def welcome(driver, info):
    """Waits for the first screen, and points its server fields at the
    test's Prosody."""
    WebDriverWait(driver, 30).until(
        EC.visibility_of_element_located((By.XPATH, "//h1[normalize-space()='Welcome to Tern']")))
    driver.find_element(By.XPATH, "//summary[normalize-space()='Advanced']").click()
    fill(driver, "signin-host", info["host"])
    fill(driver, "signin-port", str(info["port"]))


def sign_in(driver, info, password):
    fill(driver, "signin-jid", info["jid"])
    fill(driver, "signin-password", password)
    driver.find_element(By.XPATH, "//button[@type='submit' and normalize-space()='Sign in']").click()
    print("e2e: signing in", flush=True)


def wait_connected(driver, info):
    status = f"//li[@data-jid='{info['jid']}']//*[@data-testid='account-status']"
    WebDriverWait(driver, 30).until(lambda d: d.find_element(By.XPATH, status).text == "Connected")
    print(f"e2e: {info['jid']} is Connected", flush=True)


def run(driver, info, shots):
    wait = WebDriverWait(driver, 30)
    welcome(driver, info)
    if info.get("appimage_cache"):
        check_appimage_processes(info["appimage_cache"], info["data_dir"])

    sign_in(driver, info, "not-the-password")
    error = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "[data-testid='signin-error']")))
    assert "Wrong password" in error.text, error.text
    print(f"e2e: wrong password shows: {error.text!r}", flush=True)
    screenshot(info["display"], os.path.join(shots, "e2e-wrong-password.png"))

    sign_in(driver, info, info["password"])
    wait_connected(driver, info)
    tray = info["tray"]
    print(f"e2e: tray item {tray.wait_event('registered')['item']}", flush=True)
    props = tray.ask("props")["props"]
    assert props["Id"] and props["Status"] == "Active", props
    assert [e["label"] for e in tray.ask("menu")["entries"]] == ["Show Tern", "Quit Tern"], tray.ask("menu")
    assert tray.label() == "", props
    print(f"e2e: in the tray as {props['Id']!r} with the menu Show Tern, Quit Tern", flush=True)
    screenshot(info["display"], os.path.join(shots, "e2e-connected.png"))

    # Messaging with an independent client.
    peer_jid = info["peer_jid"]
    incoming = "Hello from slixmpp, *styled* <b>not html</b>"
    info["peer"]({"cmd": "send", "to": info["jid"], "body": incoming, "id": "e2e-hello",
                  "receipt": True, "markable": True})
    driver.find_element(By.ID, "nav-home").click()
    local = peer_jid.split("@")[0]
    wait.until(EC.element_to_be_clickable(
        (By.XPATH, f"//button[@data-testid='conversation' and contains(., '{local}')]")))
    print("e2e: the peer's message opened a conversation", flush=True)
    tray.wait_label("1")
    print("e2e: the tray shows 1 unread message", flush=True)
    wait_window_state(info["display"], "Tern (1)", want_urgent=True)
    print("e2e: the window is titled 'Tern (1)' and asks for attention", flush=True)
    # The desktop was asked to show it, with the markup made inert.
    note = None
    deadline = time.time() + 15
    while note is None and time.time() < deadline:
        if os.path.exists(info["notifications"]):
            with open(info["notifications"], encoding="utf-8") as f:
                for line in f:
                    n = json.loads(line)
                    if "not html" in n["body"]:
                        note = n
        time.sleep(0.2)
    assert note is not None, "no notification for the message"
    assert note["app_name"] == "Tern" and local in note["summary"], note
    assert note["body"] == "Hello from slixmpp, *styled* &lt;b&gt;not html&lt;/b&gt;", note
    assert "default" in note["actions"], note
    print(f"e2e: notification shown: {note['summary']!r}: {note['body']!r}", flush=True)
    # Clicking it opens the conversation.
    info["notifyd"].stdin.write(f"invoke {note['id']} default\n")
    info["notifyd"].stdin.flush()
    wait.until(EC.visibility_of_element_located(
        (By.XPATH, "//*[@data-testid='message' and contains(., 'not html</b>')]")))
    print("e2e: clicking the notification opened the conversation", flush=True)
    tray.wait_label("")
    wait_window_state(info["display"], "Tern", want_urgent=False)
    print("e2e: read, the window is titled 'Tern' again and no longer asks for attention", flush=True)
    print("e2e: read, the tray count is gone", flush=True)

    reply = "Reply typed in Tern"
    field = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "textarea[aria-label^='Message ']")))
    field.click()
    field.send_keys(reply)
    field.send_keys(Keys.ENTER)
    deadline = time.time() + 30
    while True:
        remaining = deadline - time.time()
        assert remaining > 0, "the peer did not receive the reply"
        try:
            event = info["peer_events"].get(timeout=remaining)
        except queue.Empty:
            continue
        if event.get("event") == "message" and event.get("body") == reply:
            assert event["from"].startswith(info["jid"]), event
            break
    print(f"e2e: the peer received {reply!r}", flush=True)
    wait.until(EC.visibility_of_element_located(
        (By.XPATH, f"//*[@data-testid='message' and contains(., '{reply}')]")))
    screenshot(info["display"], os.path.join(shots, "e2e-conversation.png"))
    check_spelling(driver, info, shots, field)

    # Hostile text from the network stays text in WebKit.
    hostile = ('<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script> '
               '<a href="javascript:window.__pwned=1">link</a> \u202eevil')
    info["peer"]({"cmd": "send", "to": info["jid"], "body": hostile, "id": "e2e-hostile"})
    wait.until(EC.visibility_of_element_located(
        (By.XPATH, "//*[@data-testid='message' and contains(., 'onerror=')]")))
    time.sleep(0.5)
    inert = driver.execute_script(
        "return window.__pwned === undefined"
        " && document.querySelectorAll('img[src=\"x\"], script:not([src]), a[href^=\"javascript\"]').length === 0")
    assert inert, "hostile text became markup"
    print("e2e: hostile text rendered inert in WebKit", flush=True)

    # A new avatar: the cropper shows the picture in WebKit (a blob: image
    # under the CSP), the frame moves with the keys, and the engine
    # publishes exactly the chosen part.
    from PIL import Image
    picture = os.path.join(info["data_dir"], "e2e-picture.png")
    img = Image.new("RGB", (300, 150), (40, 70, 200))
    img.paste((200, 40, 40), (0, 0, 150, 150))
    img.save(picture)
    driver.find_element(By.ID, "nav-accounts").click()
    wait.until(EC.element_to_be_clickable((By.XPATH, "//button[normalize-space()='Edit profile…']"))).click()
    # The driver runs here: it gets the path itself, not an upload.
    driver.file_detector = UselessFileDetector()
    driver.find_element(By.CSS_SELECTOR, "input[aria-label='Picture file']").send_keys(picture)
    frame = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "[data-testid='crop-frame']")))
    wait.until(lambda d: d.execute_script(
        "return document.querySelector('[data-testid=crop-frame] img')?.naturalWidth === 300"))
    frame.click()
    for _ in range(15):
        frame.send_keys(Keys.ARROW_LEFT)
    screenshot(info["display"], os.path.join(shots, "e2e-crop.png"))
    driver.find_element(By.XPATH, "//button[normalize-space()='Use this picture']").click()
    avatar = wait.until(EC.visibility_of_element_located(
        (By.CSS_SELECTOR, "dialog[open] img[src*='tern-media']")))
    digest = avatar.get_attribute("src").rstrip("/").rsplit("/", 1)[-1]
    saved = Image.open(os.path.join(info["data_dir"], "avatars", digest)).convert("RGB")
    colours = {c for _, c in saved.getcolors(maxcolors=1 << 16)}
    assert saved.size == (150, 150) and colours == {(200, 40, 40)}, (saved.size, sorted(colours)[:5])
    print(f"e2e: the avatar is the chosen part of the picture ({saved.size[0]}x{saved.size[1]}, red only)", flush=True)

    # The window never leaves Tern's own pages.
    driver.execute_script("window.location.href = 'file:///etc/hostname'")
    time.sleep(1)
    assert driver.find_elements(By.ID, "nav-home"), "the window left Tern's pages"
    print("e2e: navigation away from Tern was refused", flush=True)

    # Closing the window (as a window manager asks) hides it in the tray;
    # the tray menu brings it back, and quits.
    from Xlib import X, protocol
    d, win = x_window(info["display"], "Tern")
    assert win is not None, "no X window named Tern"
    protocols, delete = d.intern_atom("WM_PROTOCOLS"), d.intern_atom("WM_DELETE_WINDOW")
    win.send_event(protocol.event.ClientMessage(window=win, client_type=protocols,
                                                data=(32, [delete, X.CurrentTime, 0, 0, 0])))
    d.flush()
    deadline = time.time() + 10
    while win.get_attributes().map_state != X.IsUnmapped:
        assert time.time() < deadline, "closing did not hide the window"
        time.sleep(0.1)
    print("e2e: closing the window hid it in the tray", flush=True)
    tray.ask("click Show Tern")
    while win.get_attributes().map_state != X.IsViewable:
        assert time.time() < deadline + 10, "Show Tern did not bring the window back"
        time.sleep(0.1)
    print("e2e: the tray's Show Tern brought it back", flush=True)
    tray.ask("click Quit Tern")
    tray.wait_event("unregistered")
    print("e2e: the tray's Quit Tern quit", flush=True)


if __name__ == "__main__":
    main()
