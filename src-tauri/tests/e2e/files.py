"""End to end, sharing files (XEP-0363 upload, XEP-0066 OOB, XEP-0447 with
XEP-0446 metadata): the real Tern app under Xvfb, driven through
tauri-driver + WebKitWebDriver, with a real Prosody and its upload
component, and an independent client (slixmpp).

Usage (inside scripts/with-keyring, like sign_in.py, whose setup it shares):
    python files.py APP_BINARY TEST_SERVER_BINARY SCREENSHOT_DIR

The user adds the peer as a contact (a contact's pictures are fetched
without a click). The peer uploads a photo and shares it: the timeline
shows it as a picture served by tern-media:// that WebKit decoded, the
photo viewer opens on it with the image itself and closes with Escape.
A JPEG carrying GPS coordinates, pasted into the composer, opens the send
preview; sent in original quality with a caption, it reaches the peer as a
message whose body is the OOB link and whose file metadata has the name,
size and SHA-256 of what the peer downloads from that link: the same
pixels, no GPS left. The caption comes as a message of its own, after the
file (it waits for the file's upload); the timeline shows both. A PDF from the peer is a card with its name, size and
Download; downloaded (the file on disk is the one sent), it offers Open
and Show in folder. The Files view lists all three.
Screenshots: e2e-files-photo.png, e2e-files-viewer.png,
e2e-files-send.png, e2e-files-sent.png, e2e-files-card.png,
e2e-files-downloaded.png, e2e-files-list.png.
"""

import base64
import hashlib
import io
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
from rooms import next_event

PHOTO = "e2e-harbour.jpg"
PASTED = "e2e-where-i-was.jpg"
PDF = "e2e-minutes.pdf"
CAPTION = "Where I was this morning"

# The pictures in the timeline and in the viewer, as WebKit holds them.
IMAGES_JS = """
return [...document.querySelectorAll(arguments[0])].map((i) => ({
  src: i.src, alt: i.alt, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight,
}));
"""

# A paste of `arguments[0]` (base64) as a file named `arguments[1]` of type
# `arguments[2]` into the composer, as WebKit delivers a clipboard holding
# a file.
PASTE_JS = """
const [b64, name, type] = arguments;
const bin = atob(b64);
const bytes = new Uint8Array(bin.length);
for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
const data = new DataTransfer();
data.items.add(new File([bytes], name, { type }));
const field = document.querySelector("textarea[aria-label^='Message ']");
field.focus();
let e = null;
try {
  e = new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true });
} catch (_) {}
if (!e || !e.clipboardData || e.clipboardData.files.length !== 1) {
  e = new Event('paste', { bubbles: true, cancelable: true });
  Object.defineProperty(e, 'clipboardData', { value: data });
}
field.dispatchEvent(e);
return e.defaultPrevented;
"""


def photo_bytes(size, colours, gps=False):
    """A JPEG of four coloured quarters (so a scaled copy still shows
    them), with GPS coordinates in its EXIF when asked."""
    from PIL import Image

    w, h = size
    img = Image.new("RGB", size, colours[0])
    img.paste(colours[1], (w // 2, 0, w, h // 2))
    img.paste(colours[2], (0, h // 2, w // 2, h))
    img.paste(colours[3], (w // 2, h // 2, w, h))
    exif = Image.Exif()
    exif[0x010F] = "Tern e2e camera"  # Make
    if gps:
        exif.get_ifd(0x8825).update({1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)})
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def both(events, first, second, what, timeout=60):
    """The first events from a peer's queue that `first` and `second`
    accept, in whichever order they come (each with its place, `_at`)."""
    deadline = time.time() + timeout
    found = [None, None]
    n = 0
    while None in found:
        remaining = deadline - time.time()
        assert remaining > 0, f"the peer saw no {what}: {found}"
        try:
            event = events.get(timeout=remaining)
        except queue.Empty:
            continue
        n += 1
        for i, pred in enumerate((first, second)):
            if found[i] is None and pred(event):
                found[i] = {**event, "_at": n}
                break
    return found


def content(driver, element):
    """An element's text as the page has it (WebKitWebDriver's element
    text leaves out what is inside <bdi>)."""
    return " ".join(driver.execute_script("return arguments[0].textContent", element).split())


def images(driver, selector):
    return driver.execute_script(IMAGES_JS, selector)


def wait_loaded(driver, selector, pred, what, timeout=30):
    """The first picture under `selector` that WebKit decoded (complete,
    natural width above 0) and `pred` accepts."""
    deadline = time.time() + timeout
    seen = []
    while time.time() < deadline:
        seen = images(driver, selector)
        for i in seen:
            if i["complete"] and i["width"] > 0 and pred(i):
                return i
        time.sleep(0.2)
    raise AssertionError(f"{what} did not load in WebKit: {seen}")


def media_id(src, part=None):
    """The message id in a tern-media file URL (checking its form)."""
    prefix = "tern-media://localhost/file/"
    assert src.startswith(prefix), src
    mid, got = src[len(prefix):].split("/")
    assert mid.isdigit() and got in ("preview", "full") and (part is None or got == part), src
    return int(mid)


def file_on_disk(data_dir, name):
    """The one file named `name` under Tern's files folder."""
    found = [os.path.join(d, name) for d, _, files in os.walk(os.path.join(data_dir, "files")) if name in files]
    assert len(found) == 1, f"{name} in the files folder: {found}"
    return found[0]


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def run(driver, info, shots):
    wait = WebDriverWait(driver, 30)
    peer, events = info["peer"], info["peer_events"]
    peer_jid, user = info["peer_jid"], info["jid"]
    local = peer_jid.split("@")[0]
    work = os.path.join(info["data_dir"], "e2e-peer")
    os.makedirs(work, exist_ok=True)

    sign_in.welcome(driver, info)
    sign_in.sign_in(driver, info, info["password"])
    sign_in.wait_connected(driver, info)

    # The peer becomes a contact: its pictures are then fetched without a click.
    driver.find_element(By.ID, "nav-contacts").click()
    wait.until(EC.element_to_be_clickable((By.XPATH, "//button[normalize-space()='Add contact']"))).click()
    address = wait.until(EC.element_to_be_clickable(
        (By.XPATH, "//dialog//label[span[normalize-space()='Address']]/input")))
    address.send_keys(peer_jid)
    driver.find_element(By.XPATH, "//dialog//button[@type='submit' and normalize-space()='Add']").click()
    wait.until(EC.invisibility_of_element_located((By.XPATH, "//dialog[.//h2[normalize-space()='Add a contact']]")))
    next_event(events, lambda e: e.get("event") == "subscribe_request", "the user's subscription request")
    peer({"cmd": "approve", "to": user})
    wait.until(EC.visibility_of_element_located((By.XPATH, f"//*[@role='list']//*[contains(., '{local}')]")))
    print(f"e2e: {peer_jid} is a contact", flush=True)

    # 1. A photo from the peer, fetched by itself and shown in the timeline.
    photo = os.path.join(work, PHOTO)
    with open(photo, "wb") as f:
        f.write(photo_bytes((640, 480), [(30, 90, 200), (230, 180, 40), (40, 160, 90), (200, 60, 60)]))
    peer({"cmd": "upload_send", "to": user, "path": photo, "content_type": "image/jpeg", "id": "e2e-photo",
          "sfs": True})
    up = next_event(events, lambda e: e.get("event") in ("uploaded", "upload_failed"), "its photo upload")
    assert up["event"] == "uploaded", up
    print(f"e2e: the peer shared {PHOTO} ({up['size']} bytes) as {up['url']}", flush=True)
    driver.find_element(By.ID, "nav-home").click()
    wait.until(EC.element_to_be_clickable(
        (By.XPATH, f"//button[@data-testid='conversation' and contains(., '{local}')]"))).click()
    shown = wait_loaded(driver, "[data-testid=file-photo] img", lambda i: i["alt"] == PHOTO, "the peer's photo")
    photo_id = media_id(shown["src"])
    assert shown["width"] > 0 and shown["height"] > 0, shown
    print(f"e2e: the timeline shows the photo from {shown['src']} ({shown['width']}x{shown['height']} in WebKit)",
          flush=True)
    row = driver.find_element(By.CSS_SELECTOR, f"[data-testid=message][data-id='{photo_id}']")
    assert not row.find_elements(By.XPATH, ".//button[starts-with(normalize-space(), 'Download')]"), \
        "a contact's photo still asks to be downloaded"
    assert sha256_file(file_on_disk(info["data_dir"], PHOTO)) == up["sha256"], "the photo on disk is not the one sent"
    time.sleep(0.3)
    screenshot(info["display"], os.path.join(shots, "e2e-files-photo.png"))

    # The viewer shows the image itself, and Escape closes it.
    row.find_element(By.CSS_SELECTOR, f"button[aria-label='Photo {PHOTO}, open']").click()
    viewer = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "dialog[data-testid=photo-viewer]")))
    full = wait_loaded(driver, "dialog[data-testid=photo-viewer] img", lambda i: True, "the viewer's photo")
    assert media_id(full["src"], "full") == photo_id, full
    assert (full["width"], full["height"]) == (640, 480), full
    title = driver.execute_script("return arguments[0].querySelector('header .name').textContent", viewer)
    assert title == PHOTO, title
    print(f"e2e: the viewer shows the image itself ({full['width']}x{full['height']})", flush=True)
    time.sleep(0.3)
    screenshot(info["display"], os.path.join(shots, "e2e-files-viewer.png"))
    ActionChains(driver).send_keys(Keys.ESCAPE).perform()
    wait.until(EC.invisibility_of_element_located((By.CSS_SELECTOR, "dialog[data-testid=photo-viewer]")))
    print("e2e: Escape closed the viewer", flush=True)

    # 2. A JPEG with GPS coordinates, pasted into the composer and sent.
    pasted = photo_bytes((800, 600), [(240, 240, 240), (20, 20, 20), (90, 40, 160), (250, 140, 0)], gps=True)
    original = os.path.join(work, "original-" + PASTED)
    with open(original, "wb") as f:
        f.write(pasted)
    peer({"cmd": "image_meta", "path": original})
    meta = next_event(events, lambda e: e.get("event") in ("image_meta", "image_meta_failed"), "the original's EXIF")
    assert meta.get("gps") is True, f"the test picture has no GPS to remove: {meta}"
    field = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "textarea[aria-label^='Message ']")))
    field.click()
    taken = driver.execute_script(PASTE_JS, base64.b64encode(pasted).decode(), PASTED, "image/jpeg")
    assert taken, "the composer did not take the pasted picture"
    form = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "form[data-testid=send-files]")))
    item = form.find_element(By.CSS_SELECTOR, "[data-testid=outgoing-file]")
    assert PASTED in content(driver, item), content(driver, item)
    wait_loaded(driver, "[data-testid=outgoing-file] img", lambda i: i["src"].startswith("blob:"), "the paste's thumbnail")
    print(f"e2e: the pasted picture opened the send preview: {content(driver, item)!r}", flush=True)
    # In original quality (the file as it is, but its metadata), with a caption.
    form.find_element(By.XPATH, ".//label[contains(., 'Original quality')]/input").click()
    caption = form.find_element(By.XPATH, ".//label[span[normalize-space()='Caption (optional)']]/input")
    caption.send_keys(CAPTION)
    WebDriverWait(driver, 5).until(lambda d: caption.get_attribute("value") == CAPTION)
    screenshot(info["display"], os.path.join(shots, "e2e-files-send.png"))
    form.find_element(By.XPATH, ".//button[@type='submit' and normalize-space()='Send']").click()
    wait.until(EC.invisibility_of_element_located((By.CSS_SELECTOR, "form[data-testid=send-files]")))
    # The file, then the caption as a message of its own (it waits in the
    # send queue behind the file's upload).
    msg, said = both(events, lambda e: e.get("event") == "message" and e.get("oob_url"),
                     lambda e: e.get("event") == "message" and e.get("body") == CAPTION,
                     "the pasted picture and its caption")
    assert said["_at"] > msg["_at"], "the caption overtook its file"
    order = "after"
    f = msg["file"]
    assert msg["body"] == msg["oob_url"] and msg["oob_url"].startswith("https://"), msg
    assert f and f["name"] == PASTED and f["size"] and f["sha256"], msg
    assert f["media_type"] == "image/jpeg" and (f["width"], f["height"]) == (800, 600), f
    assert f["sources"] == [msg["oob_url"]], f
    thumb = f["thumbnail"]
    assert thumb is None or thumb["uri"].startswith("data:image/"), thumb
    received = os.path.join(work, "received-" + PASTED)
    peer({"cmd": "download", "url": msg["oob_url"], "path": received})
    down = next_event(events, lambda e: e.get("event") in ("downloaded", "download_failed"), "its download")
    assert down["event"] == "downloaded", down
    assert down["size"] == f["size"], (down, f)
    assert down["sha256"] == base64.b64decode(f["sha256"]).hex(), (down, f)
    peer({"cmd": "image_meta", "path": received})
    meta = next_event(events, lambda e: e.get("event") in ("image_meta", "image_meta_failed"), "the sent EXIF")
    assert meta["event"] == "image_meta" and meta["format"] == "JPEG", meta
    assert meta["gps"] is False, f"the sent picture still has GPS: {meta}"
    assert (meta["width"], meta["height"]) == (f["width"], f["height"]), (meta, f)
    from PIL import Image
    with Image.open(received) as a, Image.open(io.BytesIO(pasted)) as b:
        assert a.tobytes() == b.tobytes(), "original quality changed the picture itself"
    print(f"e2e: the peer got {f['name']} ({f['size']} bytes, {meta['width']}x{meta['height']}, "
          f"{'a' if thumb else 'no'} thumbnail), the caption {order} it; the SHA-256 matches, no GPS "
          f"(EXIF left: {sorted(meta['exif'])})", flush=True)
    sent = wait_loaded(driver, "[data-testid=message] [data-testid=file-photo] img",
                       lambda i: i["alt"] == PASTED, "the sent photo")
    sent_id = media_id(sent["src"])
    sent_row = driver.find_element(By.CSS_SELECTOR, f"[data-testid=message][data-id='{sent_id}']")
    assert "out" in sent_row.get_attribute("class"), sent_row.get_attribute("class")
    assert not sent_row.find_elements(By.CSS_SELECTOR, "[data-testid=file-failure]"), sent_row.text
    wait.until(EC.visibility_of_element_located(
        (By.XPATH, f"//*[@data-testid='message' and contains(@class, 'out') and contains(., '{CAPTION}')]")))
    print(f"e2e: the timeline shows the sent photo from {sent['src']}, and the caption", flush=True)
    time.sleep(0.3)
    screenshot(info["display"], os.path.join(shots, "e2e-files-sent.png"))

    # 3. A PDF from the peer: a card, downloaded on request.
    pdf = os.path.join(work, PDF)
    with open(pdf, "wb") as out:
        out.write(b"%PDF-1.4\n% Tern e2e\n" + b"0123456789abcdef\n" * 200 + b"%%EOF\n")
    pdf_size = os.path.getsize(pdf)
    peer({"cmd": "upload_send", "to": user, "path": pdf, "content_type": "application/pdf", "id": "e2e-pdf",
          "sfs": True})
    up = next_event(events, lambda e: e.get("event") in ("uploaded", "upload_failed"), "its PDF upload")
    assert up["event"] == "uploaded", up
    card = wait.until(EC.visibility_of_element_located(
        (By.XPATH, f"//*[@data-testid='message']//*[@data-testid='file-card' and .//*[normalize-space()='{PDF}']]")))
    assert card.get_attribute("data-kind") == "pdf", card.get_attribute("data-kind")
    meta_text = card.find_element(By.CSS_SELECTOR, ".meta").text
    assert meta_text == "3 KB · PDF document", meta_text
    download = card.find_element(By.XPATH, ".//button[starts-with(normalize-space(), 'Download')]")
    assert download.text == "Download (3 KB)", download.text
    assert not card.find_elements(By.XPATH, ".//button[normalize-space()='Open']"), card.text
    print(f"e2e: the PDF is a card: {PDF}, {meta_text!r}, {download.text!r} ({pdf_size} bytes)", flush=True)
    time.sleep(0.3)
    screenshot(info["display"], os.path.join(shots, "e2e-files-card.png"))
    download.click()
    WebDriverWait(driver, 30).until(lambda d: card.find_elements(By.XPATH, ".//button[normalize-space()='Open']"))
    buttons = [b.text for b in card.find_elements(By.CSS_SELECTOR, ".actions button")]
    assert buttons == ["Open", "Show in folder", "Save as…"], buttons
    assert not card.find_elements(By.CSS_SELECTOR, "[data-testid=file-failure]"), card.text
    on_disk = file_on_disk(info["data_dir"], PDF)
    assert sha256_file(on_disk) == up["sha256"], "the downloaded PDF is not the one sent"
    print(f"e2e: Download fetched the PDF ({os.path.relpath(on_disk, info['data_dir'])}, SHA-256 matches); "
          f"the card offers {', '.join(buttons)}", flush=True)
    time.sleep(0.3)
    screenshot(info["display"], os.path.join(shots, "e2e-files-downloaded.png"))

    # The Files view lists the three.
    driver.find_element(By.ID, "nav-files").click()
    for name in (PHOTO, PASTED, PDF):
        wait.until(EC.visibility_of_element_located((By.XPATH, f"//main//*[normalize-space()='{name}']")))
    print("e2e: the Files view lists the photo, the pasted picture and the PDF", flush=True)
    time.sleep(0.3)
    screenshot(info["display"], os.path.join(shots, "e2e-files-list.png"))


if __name__ == "__main__":
    sign_in.main(run)
