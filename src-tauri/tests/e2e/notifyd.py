"""A desktop notification server for the end-to-end test.

Owns `org.freedesktop.Notifications` on the session bus (the test runs in
a private D-Bus session) and records every `Notify` call as one JSON line in
the file given as the first argument: what Tern asked the desktop to show
(a notification that replaces another keeps its id, as on desktops), and
every `CloseNotification` as a line `{"closed": id}` in that file with
`.closed` appended.
A line `invoke <id> <action>` on stdin emits `ActionInvoked`, as a click on
the notification would.
"""

import asyncio
import json
import sys

from dbus_next import Variant  # noqa: F401  (hints arrive as Variants)
from dbus_next.aio import MessageBus
from dbus_next.service import ServiceInterface, method, signal


class Notifications(ServiceInterface):
    def __init__(self, out):
        super().__init__("org.freedesktop.Notifications")
        self.out = out
        self.next_id = 0

    @method()
    def Notify(self, app_name: "s", replaces_id: "u", app_icon: "s", summary: "s", body: "s",
               actions: "as", hints: "a{sv}", expire_timeout: "i") -> "u":
        # As desktops do: a notification that replaces another keeps its id.
        if 0 < replaces_id <= self.next_id:
            nid = replaces_id
        else:
            self.next_id += 1
            nid = self.next_id
        record = {"id": nid, "replaces_id": replaces_id, "app_name": app_name, "icon": app_icon,
                  "summary": summary, "body": body, "actions": actions}
        with open(self.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        return nid

    @method()
    def GetCapabilities(self) -> "as":
        return ["body", "actions"]

    @method()
    def GetServerInformation(self) -> "ssss":
        return ["tern-e2e", "tern", "1.0", "1.2"]

    @method()
    def CloseNotification(self, id: "u"):
        with open(self.out + ".closed", "a", encoding="utf-8") as f:
            f.write(json.dumps({"closed": id}) + "\n")

    @signal()
    def ActionInvoked(self, id, action) -> "us":
        return [id, action]

    @signal()
    def NotificationClosed(self, id, reason) -> "uu":
        return [id, reason]


async def main(out):
    bus = await MessageBus().connect()
    service = Notifications(out)
    bus.export("/org/freedesktop/Notifications", service)
    await bus.request_name("org.freedesktop.Notifications")
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            break
        parts = line.decode().split()
        if len(parts) == 3 and parts[0] == "invoke":
            service.ActionInvoked(int(parts[1]), parts[2])
    bus.disconnect()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
