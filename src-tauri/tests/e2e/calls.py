"""End to end, a voice call: the real Tern app under Xvfb, driven through
tauri-driver + WebKitWebDriver, with a real Prosody, an independent call
peer (slixmpp + aiortc, `test-server --call-peer`) and a PulseAudio server
of its own as the sound system.

Usage (inside scripts/with-keyring, like sign_in.py, whose setup it shares):
    python calls.py APP_BINARY TEST_SERVER_BINARY SCREENSHOT_DIR

PulseAudio runs as this test starts it (its own runtime directory, the app
pointed at it with PULSE_SERVER): the null sink `tern` is the speakers, and
the microphone is the monitor of a second null sink `mic` (remapped as the
source `microphone`) that plays a 440 Hz tone. The user adds the peer as a
contact (Tern does not ring for strangers); the peer calls with an 880 Hz
tone. The desktop notification "Incoming call" offers Answer and Decline;
Answer, invoked on it, answers. The call bar shows the call running, and
the speakers play the peer's tone: what the `tern` sink's monitor records
for 2 s holds 880 Hz well above everything else (20 dB, the median of
200 ms windows). Hung up from the call bar, the call ends at the peer and
in the window, and the notification was closed once the call stopped
ringing.
Screenshots: e2e-call-ringing.png, e2e-call-active.png.
"""

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import wave

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

import sign_in
from harness import screenshot
from rooms import next_event

RATE = 48000
PEER_TONE = 880
MIC_TONE = 440
# What the sink's monitor must show: the peer's tone this far above the
# rest of what plays (dB), in most 200 ms windows.
MIN_SNR_DB = 20


class Pulse:
    """A PulseAudio server of this test's own: `tern` (the default sink),
    and `microphone` (the default source) hearing what the sink `mic`
    plays."""

    def __init__(self):
        self.runtime = tempfile.mkdtemp(prefix="tern-e2e-pulse-")
        os.chmod(self.runtime, 0o700)
        self.env = {**os.environ, "XDG_RUNTIME_DIR": self.runtime, "HOME": self.runtime}
        self.env.pop("PULSE_SERVER", None)
        # Off the session bus: another daemon there (a test's, idling out)
        # would hold org.pulseaudio.Server and this one would not start.
        self.env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        subprocess.run(
            ["pulseaudio", "-n", "--daemonize=yes", "--exit-idle-time=-1", "--use-pid-file=yes",
             "-L", "module-native-protocol-unix auth-anonymous=1",
             "-L", "module-null-sink sink_name=tern sink_properties=device.description=Tern-E2E-Speakers",
             "-L", "module-null-sink sink_name=mic sink_properties=device.description=Tern-E2E-Mic-Feed",
             "-L", "module-remap-source master=mic.monitor source_name=microphone "
                   "source_properties=device.description=Tern-E2E-Microphone"],
            env=self.env, check=True)
        socket = os.path.join(self.runtime, "pulse", "native")
        deadline = time.time() + 10
        while not os.path.exists(socket):
            assert time.time() < deadline, f"no PulseAudio socket at {socket}"
            time.sleep(0.05)
        self.server = f"unix:{socket}"
        self.env["PULSE_SERVER"] = self.server
        self.pactl("set-default-sink", "tern")
        self.pactl("set-default-source", "microphone")
        # The microphone hears a tone (a minute of it, over and over).
        self.feed = os.path.join(self.runtime, "mic-tone.raw")
        with open(self.feed, "wb") as f:
            f.write(tone_pcm(MIC_TONE, 60))
        self.feeder = subprocess.Popen(
            ["sh", "-c", f"while :; do pacat --raw --format=s16le --rate={RATE} --channels=1 -d mic {self.feed}"
                         " || exit; done"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def pactl(self, *args):
        subprocess.run(["pactl", *args], env=self.env, check=True, stdout=subprocess.DEVNULL)

    def record(self, source, seconds):
        """`seconds` of what `source` hears, as 16-bit samples."""
        rec = subprocess.Popen(
            ["parec", "--raw", "--format=s16le", f"--rate={RATE}", "--channels=1", "-d", source],
            env=self.env, stdout=subprocess.PIPE)
        want = int(seconds * RATE) * 2
        data = b""
        try:
            while len(data) < want:
                chunk = rec.stdout.read(want - len(data))
                if not chunk:
                    break
                data += chunk
        finally:
            rec.terminate()
            rec.wait(timeout=5)
        n = len(data) // 2
        return list(memoryview(data[:2 * n]).cast("h"))

    def stop(self):
        self.feeder.terminate()
        self.feeder.wait(timeout=5)
        subprocess.run(["pulseaudio", "--kill"], env=self.env, check=False)
        # It is gone once --check fails; it writes to its directory until then.
        deadline = time.time() + 5
        while subprocess.run(["pulseaudio", "--check"], env=self.env).returncode == 0 and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        shutil.rmtree(self.runtime, ignore_errors=True)


def tone_pcm(hz, seconds, amplitude=0.3):
    samples = (int(amplitude * 32767 * math.sin(2 * math.pi * hz * i / RATE)) for i in range(seconds * RATE))
    return b"".join(int.to_bytes(s & 0xFFFF, 2, "little") for s in samples)


def tone_snr(samples, hz):
    """How far (dB) the sine at `hz` stands above everything else in
    `samples` (Goertzel), and its amplitude (of full scale)."""
    n = len(samples)
    assert n >= RATE // 10, f"only {n} samples recorded"
    coeff = 2 * math.cos(2 * math.pi * hz / RATE)
    s1 = s2 = 0.0
    total = 0.0
    for x in samples:
        x /= 32768
        total += x * x
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    amplitude = 2 * math.sqrt(max(power, 0)) / n
    tone = amplitude * amplitude / 2
    rest = max(total / n - tone, 1e-12)
    return 10 * math.log10(max(tone, 1e-12) / rest), amplitude


def call_event(info, pred, what, timeout=30):
    return next_event(info["call_events"], pred, what, timeout)


def call_state(info, state, timeout=30):
    """The peer's next `state` event (failing if the call ends first)."""
    e = call_event(info, lambda e: e.get("event") == "state" and e.get("state") in (state, "ended"),
                   f"the call {state}", timeout)
    assert e["state"] == state, f"the call ended before it was {state}: {e}"
    return e


def notification(info, pred, what, timeout=30):
    deadline = time.time() + timeout
    while True:
        if os.path.exists(info["notifications"]):
            with open(info["notifications"], encoding="utf-8") as f:
                for line in f:
                    note = json.loads(line)
                    if pred(note):
                        return note
        assert time.time() < deadline, f"no {what}"
        time.sleep(0.1)


def closed(info):
    path = info["notifications"] + ".closed"
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["closed"] for line in f]


def run(driver, info, shots):
    wait = WebDriverWait(driver, 30)
    user, peer_jid = info["jid"], info["call_peer_jid"]
    pulse = info["pulse"]

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
    local = peer_jid.split("@")[0]
    wait.until(EC.visibility_of_element_located((By.XPATH, f"//*[contains(., '{local}')]")))
    print(f"e2e: {peer_jid} is a contact", flush=True)
    time.sleep(0.5)

    started = time.time()
    info["call_peer"]({"cmd": "call", "to": user, "tone_hz": PEER_TONE})
    proposed = call_event(info, lambda e: e.get("event") == "state" and e.get("state") == "proposed",
                          "the proposal")
    sid = proposed["sid"]
    note = notification(info, lambda n: n["summary"] == "Incoming call", "notification of the incoming call")
    assert local in note["body"], note
    actions = dict(zip(note["actions"][::2], note["actions"][1::2]))
    assert actions.get("answer") == "Answer" and actions.get("decline") == "Decline", note["actions"]
    print(f"e2e: notification {note['summary']!r}: {note['body']!r}, actions {note['actions']} "
          f"({time.time() - started:.1f} s after the call)", flush=True)
    wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "[data-testid='incoming-call']")))
    time.sleep(0.3)
    screenshot(info["display"], os.path.join(shots, "e2e-call-ringing.png"))

    info["notifyd"].stdin.write(f"invoke {note['id']} answer\n")
    info["notifyd"].stdin.flush()
    connected = call_state(info, "connected")
    pairs = [(p["local"]["type"], p["remote"]["type"]) for p in connected.get("pairs", [])]
    print(f"e2e: answered from the notification; the peer is connected ({pairs}, "
          f"{time.time() - started:.1f} s after the call)", flush=True)
    bar = "//section[@data-testid='call-bar']"
    wait.until(lambda d: d.find_element(By.XPATH, bar).get_attribute("data-state") == "active")
    wait.until(EC.visibility_of_element_located((By.XPATH, f"{bar}//*[@data-testid='call-duration']")))
    assert not driver.find_elements(By.CSS_SELECTOR, "[data-testid='incoming-call']"), "still ringing"
    deadline = time.time() + 10
    while note["id"] not in closed(info):
        assert time.time() < deadline, "the notification stayed up after the answer"
        time.sleep(0.1)
    print("e2e: the call bar shows the call running; the notification was closed", flush=True)

    # The peer's tone plays on the speakers (after a moment for the jitter
    # buffer to fill), recorded for 2 s (parec's first 200 ms left out: they
    # start with a click). Judged by the median of 200 ms windows: a busy
    # machine may drop a packet or an audio period now and then.
    time.sleep(1.0)
    samples = pulse.record("tern.monitor", 2.2)[RATE // 5:]
    window = RATE // 5
    measures = sorted((*tone_snr(samples[i:i + window], PEER_TONE), i * 1000 // RATE)
                      for i in range(0, len(samples) - window + 1, window))
    snr, amplitude, _ = measures[len(measures) // 2]
    whole_snr, _ = tone_snr(samples, PEER_TONE)
    print(f"e2e: the speakers play {PEER_TONE} Hz at {amplitude:.3f} of full scale, {snr:.1f} dB above "
          f"the rest (median of {len(measures)} windows of 200 ms; worst {measures[0][0]:.1f} dB at {measures[0][2]} ms, "
          f"all 2 s {whole_snr:.1f} dB)", flush=True)
    if not (snr >= MIN_SNR_DB and amplitude > 0.02):
        with wave.open(os.path.join(shots, "e2e-call-speakers.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(b"".join(int.to_bytes(x & 0xFFFF, 2, "little") for x in samples))
        raise AssertionError(f"no clear {PEER_TONE} Hz tone on the speakers (saved as e2e-call-speakers.wav)")
    screenshot(info["display"], os.path.join(shots, "e2e-call-active.png"))

    driver.find_element(By.XPATH, f"{bar}//button[@aria-label='Hang up']").click()
    ended = call_state(info, "ended")
    assert ended.get("sid") == sid and ended.get("by") == "remote", ended
    print(f"e2e: hung up from the call bar; the peer saw the call end ({ended.get('reason')}, "
          f"{ended.get('recorded_seconds', 0):.1f} s recorded)", flush=True)
    # What the microphone heard reached the peer (reported, not required:
    # noise suppression is on, and it takes a steady tone for noise).
    if ended.get("recording"):
        with wave.open(ended["recording"]) as w:
            heard = list(memoryview(w.readframes(w.getnframes())).cast("h"))
        if len(heard) > RATE:
            mic_snr, mic_amplitude = tone_snr(heard[-RATE:], MIC_TONE)
            print(f"e2e: the peer heard the microphone's {MIC_TONE} Hz at {mic_amplitude:.3f} of full scale, "
                  f"{mic_snr:.1f} dB above the rest (last second)", flush=True)
    wait.until(lambda d: d.find_element(By.XPATH, bar).get_attribute("data-state") == "ended")
    status = driver.find_element(By.XPATH, f"{bar}//*[@data-testid='call-status']").text
    print(f"e2e: the call bar says the call ended: {status!r} ({time.time() - started:.1f} s after the call)",
          flush=True)


if __name__ == "__main__":
    pulse = Pulse()
    os.environ["PULSE_SERVER"] = pulse.server
    try:
        def scenario(driver, info, shots):
            info["pulse"] = pulse
            run(driver, info, shots)

        sign_in.main(scenario, server_args=("--call-peer",))
    finally:
        pulse.stop()
