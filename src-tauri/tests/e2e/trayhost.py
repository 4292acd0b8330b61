"""A system tray for the end-to-end test: the StatusNotifierWatcher from
status-notifier-item-utils (the one gtk-sni-tray and taffybar use) and a
StatusNotifierHost registered with it, as a desktop panel would be.

Prints one JSON line per happening on stdout ("ready", items registered and
unregistered). Answers commands on stdin, one per line, with one JSON line:
  props          the first item's org.kde.StatusNotifierItem properties
  menu           the labels and ids of its menu (com.canonical.dbusmenu)
  click LABEL    a click on the menu entry LABEL, as the panel sends it
"""

import asyncio
import json
import os
import subprocess
import sys

from dbus_next import Message, MessageType, Variant
from dbus_next.aio import MessageBus

WATCHER = "org.kde.StatusNotifierWatcher"
WATCHER_PATH = "/StatusNotifierWatcher"
ITEM = "org.kde.StatusNotifierItem"


def say(**what):
    print(json.dumps(what), flush=True)


def plain(v):
    """Variants and structs as JSON-able values."""
    if isinstance(v, Variant):
        return plain(v.value)
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, bytes):
        return len(v)
    return v


async def call(bus, dest, path, iface, member, sig="", body=()):
    reply = await bus.call(Message(destination=dest, path=path, interface=iface, member=member,
                                   signature=sig, body=list(body)))
    if reply.message_type == MessageType.ERROR:
        raise RuntimeError(f"{member}: {reply.error_name} {reply.body}")
    return reply.body


async def main():
    watcher = subprocess.Popen(["status-notifier-watcher"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    bus = await MessageBus().connect()
    for _ in range(100):
        owner = await call(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                           "NameHasOwner", "s", [WATCHER])
        if owner[0]:
            break
        await asyncio.sleep(0.05)
    else:
        raise SystemExit("the StatusNotifierWatcher did not start")
    host = f"org.kde.StatusNotifierHost-{os.getpid()}"
    await bus.request_name(host)
    # The watcher may own its name a moment before it serves its object.
    for attempt in range(100):
        try:
            await call(bus, WATCHER, WATCHER_PATH, WATCHER, "RegisterStatusNotifierHost", "s", [host])
            break
        except RuntimeError as e:
            if "UnknownObject" not in str(e) or attempt == 99:
                raise
            await asyncio.sleep(0.05)

    def on_message(msg):
        if msg.message_type != MessageType.SIGNAL or msg.interface != WATCHER:
            return
        if msg.member == "StatusNotifierItemRegistered":
            say(event="registered", item=msg.body[0])
        elif msg.member == "StatusNotifierItemUnregistered":
            say(event="unregistered", item=msg.body[0])

    bus.add_message_handler(on_message)
    await call(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s",
               [f"type='signal',interface='{WATCHER}'"])
    say(event="ready")

    async def registered():
        # This watcher names an item by its bus name only in the standard
        # property and signals; its RegisteredSNIEntries has the object
        # path too (what gtk-sni-tray reads).
        found = await call(bus, WATCHER, WATCHER_PATH, "org.freedesktop.DBus.Properties", "Get", "ss",
                           [WATCHER, "RegisteredSNIEntries"])
        entries = [(name, path) for name, path in found[0].value]
        if not entries:
            raise RuntimeError("no item registered")
        return entries[-1]

    async def menu_items():
        name, path = await registered()
        menu = (await call(bus, name, path, "org.freedesktop.DBus.Properties", "Get", "ss", [ITEM, "Menu"]))[0].value
        _, layout = await call(bus, name, menu, "com.canonical.dbusmenu", "GetLayout", "iias", [0, -1, []])
        entries = []

        def walk(node):
            ident, props, children = node
            label = props.get("label")
            if label is not None:
                entries.append({"id": ident, "label": label.value.replace("_", "")})
            for c in children:
                walk(c.value)

        walk(layout)
        return name, menu, entries

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := (await reader.readline()).decode():
            cmd, _, arg = line.strip().partition(" ")
            try:
                if cmd == "props":
                    name, path = await registered()
                    props = await call(bus, name, path, "org.freedesktop.DBus.Properties", "GetAll", "s", [ITEM])
                    say(reply="props", props=plain(props[0]))
                elif cmd == "menu":
                    _, _, entries = await menu_items()
                    say(reply="menu", entries=entries)
                elif cmd == "click":
                    name, menu, entries = await menu_items()
                    ident = next(e["id"] for e in entries if e["label"] == arg)
                    await call(bus, name, menu, "com.canonical.dbusmenu", "Event", "isvu",
                               [ident, "clicked", Variant("s", ""), 0])
                    say(reply="clicked", label=arg)
                else:
                    say(reply="error", error=f"unknown command {cmd!r}")
            except Exception as e:  # noqa: BLE001 (reported to the test)
                say(reply="error", error=str(e))
    finally:
        watcher.terminate()


if __name__ == "__main__":
    asyncio.run(main())
