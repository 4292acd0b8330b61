"""End to end, group chats (XEP-0045): the real Tern app under Xvfb, driven
through tauri-driver + WebKitWebDriver, with a real Prosody and its
conference component, and two independent clients (slixmpp).

Usage (inside scripts/with-keyring, like sign_in.py, whose setup it shares):
    python rooms.py APP_BINARY TEST_SERVER_BINARY SCREENSHOT_DIR

A peer creates a room and stays in it as its owner. The user joins it from
the group chat menu's join dialog and sees its conversation; the peer's
message shows in the timeline under the peer's nick (and, the room being a
channel, shows no desktop notification); the user's message typed into the
composer reaches the peer as a groupchat message; the peer's message that
mentions the user's nick is a desktop notification titled "nick in room",
whose click opens the room. The occupant panel lists the peer as owner.
The peer makes the user an admin (so a moderator); a second peer joins, and
the user removes it from the occupant panel's context menu, confirmed with
a reason: the second peer is kicked (status 307) with that reason, and
leaves the panel.
Screenshots: e2e-room-join.png, e2e-room.png, e2e-room-people.png,
e2e-room-menu.png, e2e-room-kick.png, e2e-room-kicked.png.
"""

import json
import os
import queue
import time

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

import sign_in
from harness import screenshot

NICK = "ternuser"
OWNER = "alice"
GUEST = "bob"
ROOM_NAME = "Tern e2e room"


def next_event(events, pred, what, timeout=30):
    """The first event from a peer's queue that `pred` accepts (the others
    are dropped)."""
    deadline = time.time() + timeout
    while True:
        remaining = deadline - time.time()
        assert remaining > 0, f"the peer saw no {what}"
        try:
            event = events.get(timeout=remaining)
        except queue.Empty:
            continue
        if pred(event):
            return event


def notifications(info):
    if not os.path.exists(info["notifications"]):
        return []
    with open(info["notifications"], encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def run(driver, info, shots):
    wait = WebDriverWait(driver, 30)
    peer, owner_events, guest_events = info["peer"], info["peer_queues"][0], info["peer_queues"][1]
    room = f"e2e-room@conference.{info['domain']}"

    # The owner's room, before the user signs in.
    peer({"cmd": "muc_create", "room": room, "nick": OWNER, "name": ROOM_NAME})
    created = next_event(owner_events, lambda e: e.get("event") in ("muc_created", "muc_error"), "its room")
    assert created["event"] == "muc_created" and created["new"], created
    print(f"e2e: the peer created {room} as {OWNER}", flush=True)

    sign_in.welcome(driver, info)
    sign_in.sign_in(driver, info, info["password"])
    sign_in.wait_connected(driver, info)

    # Joined through the "+" menu's join dialog.
    driver.find_element(By.ID, "nav-home").click()
    wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "button[aria-label='New group chat']"))).click()
    wait.until(EC.element_to_be_clickable(
        (By.XPATH, "//*[@role='menu']//button[normalize-space()='Join a group chat…']"))).click()
    address = wait.until(EC.element_to_be_clickable((By.ID, "join-address")))
    address.send_keys(room)
    nick = driver.find_element(By.XPATH, "//label[span[normalize-space()='Nickname']]/input")
    nick.send_keys(Keys.CONTROL, "a")
    nick.send_keys(NICK)
    screenshot(info["display"], os.path.join(shots, "e2e-room-join.png"))
    driver.find_element(By.XPATH, "//form//button[@type='submit' and normalize-space()='Join']").click()
    wait.until(EC.visibility_of_element_located(
        (By.XPATH, f"//header[contains(@class, 'room-head')]//h2[contains(., '{ROOM_NAME}')]")))
    field = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "textarea[aria-label^='Message ']")))
    joined = next_event(owner_events, lambda e: e.get("event") == "muc_presence" and e.get("nick") == NICK
                        and e.get("type") == "available", "the user join")
    print(f"e2e: joined {room} from the join dialog; the owner sees {NICK} as {joined['role']}", flush=True)

    # The peer's message, under its nick; a channel does not notify it.
    hello = "Hello room, from slixmpp"
    peer({"cmd": "muc_send", "room": room, "body": hello, "id": "e2e-room-hello"})
    row = wait.until(EC.visibility_of_element_located(
        (By.XPATH, f"//*[@data-testid='message' and contains(., '{hello}')]")))
    name = row.find_element(By.CSS_SELECTOR, ".name").text
    assert name == OWNER, f"the message shows under {name!r}"
    print(f"e2e: the peer's message shows in the timeline under {OWNER!r}", flush=True)

    # The user's message reaches the room.
    typed = "Hello from Tern's composer"
    field.click()
    field.send_keys(typed)
    field.send_keys(Keys.ENTER)
    got = next_event(owner_events, lambda e: e.get("event") == "message" and e.get("body") == typed,
                     "the user's message")
    assert got["type"] == "groupchat" and got["from"] == f"{room}/{NICK}", got
    wait.until(EC.visibility_of_element_located(
        (By.XPATH, f"//*[@data-testid='message' and contains(., \"{typed}\")]")))
    print(f"e2e: the peer received {typed!r} as groupchat from {got['from']}", flush=True)
    screenshot(info["display"], os.path.join(shots, "e2e-room.png"))
    assert not [n for n in notifications(info) if hello in n["body"]], "a channel notified a plain message"

    # Away from the room (in Settings), a mention is a notification.
    driver.find_element(By.XPATH, "//nav//button[normalize-space()='Settings']").click()
    mention = f"{NICK}: are you there?"
    peer({"cmd": "muc_send", "room": room, "body": mention, "id": "e2e-room-mention"})
    note = None
    deadline = time.time() + 15
    while note is None and time.time() < deadline:
        note = next((n for n in notifications(info) if "are you there" in n["body"]), None)
        time.sleep(0.2)
    assert note is not None, f"no notification for the mention: {notifications(info)}"
    assert note["summary"] == f"{OWNER} in {ROOM_NAME}", note
    assert note["body"] == mention, note
    print(f"e2e: the mention is a notification: {note['summary']!r}: {note['body']!r}", flush=True)
    assert not [n for n in notifications(info) if hello in n["body"]], "a channel notified a plain message"
    info["notifyd"].stdin.write(f"invoke {note['id']} default\n")
    info["notifyd"].stdin.flush()
    field = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "textarea[aria-label^='Message ']")))
    wait.until(EC.visibility_of_element_located(
        (By.XPATH, "//*[@data-testid='message' and contains(., 'are you there')]")))
    print("e2e: clicking the notification opened the room", flush=True)

    # The occupant panel lists the owner.
    def occupant(nick):
        return f"//*[@data-testid='occupant-panel']//button[starts-with(@aria-label, '{nick}')]"

    people = driver.find_element(By.CSS_SELECTOR, "button[aria-label^='People, ']")
    if people.get_attribute("aria-pressed") != "true":
        people.click()
    owner_row = wait.until(EC.visibility_of_element_located((By.XPATH, occupant(OWNER))))
    wait.until(EC.visibility_of_element_located((By.XPATH, occupant(NICK))))
    assert "Owner" in owner_row.get_attribute("aria-label"), owner_row.get_attribute("aria-label")
    print(f"e2e: the occupant panel lists {owner_row.get_attribute('aria-label')!r}", flush=True)
    screenshot(info["display"], os.path.join(shots, "e2e-room-people.png"))

    # Made an admin by the owner, the user removes a second occupant.
    peer({"cmd": "muc_affiliation", "room": room, "jid": info["jid"], "affiliation": "admin"})
    done = next_event(owner_events, lambda e: e.get("event") == "muc_iq" and e.get("cmd") == "muc_affiliation",
                      "an answer to the affiliation change")
    assert done["type"] == "result", done
    wait.until(lambda d: "Admin" in d.find_element(By.XPATH, occupant(NICK)).get_attribute("aria-label"))
    peer({"cmd": "muc_join", "room": room, "nick": GUEST}, 1)
    next_event(guest_events, lambda e: e.get("event") == "muc_joined", "its join", timeout=30)
    guest = wait.until(EC.visibility_of_element_located((By.XPATH, occupant(GUEST))))
    print(f"e2e: the user is an admin; {GUEST} joined", flush=True)
    ActionChains(driver).context_click(guest).perform()
    remove = wait.until(EC.element_to_be_clickable(
        (By.XPATH, f"//*[@role='menu' and @aria-label='Actions for {GUEST}']"
                   "//button[normalize-space()='Remove from the group chat…']")))
    screenshot(info["display"], os.path.join(shots, "e2e-room-menu.png"))
    remove.click()
    reason = wait.until(EC.element_to_be_clickable(
        (By.XPATH, "//dialog//label[span[normalize-space()='Reason (optional)']]/input")))
    reason.send_keys("e2e says bye")
    WebDriverWait(driver, 5).until(lambda d: reason.get_attribute("value") == "e2e says bye")
    screenshot(info["display"], os.path.join(shots, "e2e-room-kick.png"))
    driver.find_element(By.XPATH, "//dialog//button[@type='submit' and normalize-space()='Remove']").click()
    kicked = next_event(guest_events, lambda e: e.get("event") == "muc_presence" and e.get("self")
                        and e.get("type") == "unavailable", "its kick")
    assert 307 in kicked["codes"] and kicked["reason"] == "e2e says bye", kicked
    wait.until(EC.invisibility_of_element_located((By.XPATH, occupant(GUEST))))
    print(f"e2e: {GUEST} was kicked (codes {kicked['codes']}, reason {kicked['reason']!r}, "
          f"by {kicked['actor']!r}) and left the panel", flush=True)
    time.sleep(0.5)
    screenshot(info["display"], os.path.join(shots, "e2e-room-kicked.png"))


if __name__ == "__main__":
    sign_in.main(run, ("--peers=2",))
