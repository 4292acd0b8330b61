"""What the end-to-end test and the app benchmark share: free ports and X
displays, waiting for a child process to listen, and screenshots."""

import os
import socket
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_display():
    for n in range(90, 200):
        if not os.path.exists(f"/tmp/.X11-unix/X{n}") and not os.path.exists(f"/tmp/.X{n}-lock"):
            return n
    raise RuntimeError("no free X display")


def wait_for_port(port, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def screenshot(display, path):
    """Saves what the X display shows as a PNG. (WebKitWebDriver's own
    screenshot waits for a composited frame, and Tern paints without
    compositing on machines with no GPU, such as this Xvfb.)"""
    from PIL import ImageGrab

    ImageGrab.grab(xdisplay=f":{display}").save(path)
