"""End to end, OMEMO trust: the real Tern app under Xvfb, driven through
tauri-driver + WebKitWebDriver, with a real Prosody and an independent
OMEMO client (slixmpp-omemo, python-oldmemo).

Usage (inside scripts/with-keyring, like sign_in.py, whose setup it shares):
    python encryption.py APP_BINARY TEST_SERVER_BINARY SCREENSHOT_DIR

The user adds the peer as a contact; the peer sends an encrypted message,
which arrives decrypted. The conversation's lock says it is encrypted; the
user's answer, typed in the composer, reaches the peer encrypted (the wire
shows only the fallback text) and the peer decrypts it. The contact's "Encryption keys" show the peer's
device with the fingerprint python-omemo shows for itself, trusted blindly.
The code the peer's QR code would carry, pasted into "Verify by code",
verifies it. After a restart of the app the device is still verified.
Screenshots: e2e-encryption-keys.png, e2e-encryption-verified.png,
e2e-encryption-restarted.png.
"""

import os
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

import sign_in
from harness import screenshot
from rooms import next_event

TEXT = "Encrypted hello from slixmpp-omemo"
REPLY = "An encrypted answer from the Tern window"


def send_encrypted(info, to):
    """The peer sends TEXT encrypted to `to`, again while it has not taken
    in Tern's device list (it answers NoEligibleDevices then)."""
    peer, events = info["peer"], info["peer_events"]
    deadline = time.time() + 30
    while True:
        peer({"cmd": "omemo_send", "to": to, "body": TEXT, "id": "e2e-omemo-1"})
        e = next_event(events, lambda e: e.get("event") in ("sent", "error"), "the encrypted message sent")
        if e["event"] == "sent":
            return
        assert time.time() < deadline, f"the peer cannot encrypt: {e}"
        time.sleep(0.5)


def fingerprint_of(driver, device):
    """The fingerprint the keys dialog shows for `device`, as text."""
    el = driver.find_element(
        By.XPATH, f"//dialog//li[@data-device='{device}']//*[@data-testid='fingerprint']")
    return " ".join(driver.execute_script("return arguments[0].textContent", el).split())


def open_keys(driver, local):
    wait = WebDriverWait(driver, 30)
    driver.find_element(By.ID, "nav-home").click()
    wait.until(EC.element_to_be_clickable(
        (By.XPATH, f"//button[@data-testid='conversation' and contains(., '{local}')]"))).click()
    wait.until(EC.element_to_be_clickable((By.XPATH, "//button[@aria-label='Contact details']"))).click()
    wait.until(EC.element_to_be_clickable((By.XPATH, "//dialog//button[normalize-space()='Encryption keys…']"))).click()
    wait.until(EC.visibility_of_element_located((By.XPATH, "//dialog[.//h2[normalize-space()='Encryption keys']]")))


def run(driver, info, shots):
    wait = WebDriverWait(driver, 30)
    peer, events = info["peer"], info["peer_events"]
    peer_jid, user = info["peer_jid"], info["jid"]
    device, fp = info["peer_omemo_device"], info["peer_omemo_fingerprint"]
    local = peer_jid.split("@")[0]

    sign_in.welcome(driver, info)
    sign_in.sign_in(driver, info, info["password"])
    sign_in.wait_connected(driver, info)

    driver.find_element(By.ID, "nav-contacts").click()
    wait.until(EC.element_to_be_clickable((By.XPATH, "//button[normalize-space()='Add contact']"))).click()
    address = wait.until(EC.element_to_be_clickable(
        (By.XPATH, "//dialog//label[span[normalize-space()='Address']]/input")))
    address.send_keys(peer_jid)
    driver.find_element(By.XPATH, "//dialog//button[@type='submit' and normalize-space()='Add']").click()
    wait.until(EC.invisibility_of_element_located((By.XPATH, "//dialog[.//h2[normalize-space()='Add a contact']]")))
    next_event(events, lambda e: e.get("event") == "subscribe_request", "the user's subscription request")
    peer({"cmd": "approve", "to": user})
    print(f"e2e: {peer_jid} is a contact", flush=True)

    send_encrypted(info, user)
    driver.find_element(By.ID, "nav-home").click()
    wait.until(EC.element_to_be_clickable(
        (By.XPATH, f"//button[@data-testid='conversation' and contains(., '{local}')]"))).click()
    wait.until(EC.visibility_of_element_located(
        (By.XPATH, f"//*[@data-testid='message' and contains(., '{TEXT}')]")))
    print("e2e: the encrypted message arrived decrypted", flush=True)

    lock = "//*[@data-testid='lock']"
    wait.until(EC.visibility_of_element_located((By.XPATH, lock)))
    wait.until(lambda d: d.find_element(By.XPATH, lock).get_attribute("data-state") == "encrypted")
    print("e2e: the lock says the conversation is encrypted", flush=True)
    field = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "textarea[aria-label^='Message ']")))
    field.send_keys(REPLY)
    field.send_keys(Keys.ENTER)
    wire = next_event(events, lambda e: e.get("event") == "message" and (e.get("from") or "").startswith(user)
                      and e.get("encrypted"), "the user's answer on the wire")
    assert REPLY not in (wire.get("body") or ""), f"plain text on the wire: {wire}"
    got = next_event(events, lambda e: e.get("event") == "omemo_message" and e.get("body") == REPLY,
                     "the user's answer, decrypted by the peer")
    print(f"e2e: the answer reached the peer encrypted and decrypted ({got['id']})", flush=True)

    open_keys(driver, local)
    row = f"//dialog//li[@data-device='{device}']"
    wait.until(EC.visibility_of_element_located((By.XPATH, f"{row}//*[@data-testid='fingerprint']")))
    shown = fingerprint_of(driver, device)
    assert shown == fp, f"Tern shows {shown!r}, the peer {fp!r}"
    trust = driver.find_element(By.XPATH, row).get_attribute("data-trust")
    assert trust == "trusted", trust
    print(f"e2e: device {device} shows the peer's own fingerprint {fp} (trusted blindly)", flush=True)
    time.sleep(0.3)
    screenshot(info["display"], os.path.join(shots, "e2e-encryption-keys.png"))

    code = f"xmpp:{peer_jid}?omemo-sid-{device}={fp.replace(' ', '')}"
    field = driver.find_element(By.XPATH, "//dialog//form[@data-testid='verify-by-code']//input")
    field.send_keys(code)
    driver.find_element(By.XPATH, "//dialog//form[@data-testid='verify-by-code']//button[@type='submit']").click()
    wait.until(lambda d: d.find_element(By.XPATH, row).get_attribute("data-trust") == "verified")
    print("e2e: the peer's code verified it", flush=True)
    time.sleep(0.3)
    screenshot(info["display"], os.path.join(shots, "e2e-encryption-verified.png"))

    driver = info["relaunch"](driver)
    try:
        WebDriverWait(driver, 30).until(EC.element_to_be_clickable((By.ID, "nav-home")))
        open_keys(driver, local)
        WebDriverWait(driver, 30).until(
            lambda d: d.find_element(By.XPATH, row).get_attribute("data-trust") == "verified")
        assert fingerprint_of(driver, device) == fp
        print("e2e: after a restart the device is still verified", flush=True)
        time.sleep(0.3)
        screenshot(info["display"], os.path.join(shots, "e2e-encryption-restarted.png"))
    finally:
        driver.quit()


if __name__ == "__main__":
    sign_in.main(run, server_args=("--peer", "--omemo"))
