#!/usr/bin/env python3
"""An external component (XEP-0114) that stands in for the occupants of a
big group chat in Tern's tests and benchmarks.

The occupants themselves are injected into the room inside Prosody (see
src/bigroom.rs); their real JIDs (botN@DOMAIN/x) belong to this component,
which accepts every stanza sent to them and never bounces one (a bounce
would make the room drop the occupant). IQ requests are answered: XEP-0199
pings and disco#info with a result, anything else with
service-unavailable.

The component does not build stanza objects: a room of N occupants sends it
N copies of every presence change, so it only tracks element depth with
expat and looks closer at IQs.

Usage:

    bots.py DOMAIN SECRET HOST PORT

Commands (stdin, one JSON object per line):

    {"cmd": "flood", "room": ROOM, "bots": N, "rate": R, "seconds": S}
        presence changes (show and status) from bot1..botN in turn, sent
        to ROOM/botI at R per second for S seconds; then "flooded"
    {"cmd": "stats"}  -> "stats"
    {"cmd": "quit"}

Events (stdout):

    {"event": "ready"}
    {"event": "flooded", "count": N, "elapsed": SECONDS}
    {"event": "stats", "received": N, "iqs": N}
    {"event": "error", "message": TEXT}
"""

import asyncio
import hashlib
import json
import sys
import threading
import time
from xml.parsers import expat
from xml.sax.saxutils import quoteattr

NS_COMPONENT = "jabber:component:accept"
NS_STREAM = "http://etherx.jabber.org/streams"
NS_PING = "urn:xmpp:ping"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"


def emit(event, **fields):
    sys.stdout.write(json.dumps({"event": event, **fields}, ensure_ascii=True) + "\n")
    sys.stdout.flush()


class Component:
    def __init__(self, domain, secret, host, port, finished):
        self.domain = domain
        self.secret = secret
        self.host = host
        self.port = port
        self.finished = finished
        self.writer = None
        self.depth = 0
        self.stanza = None  # (local name, attrs) of the current stanza
        self.payload = None  # the first child of the current IQ
        self.ready = False
        self.received = 0
        self.iqs = 0

    async def run(self):
        try:
            await self.serve()
        except Exception as exc:  # noqa: BLE001 - reported, then fatal
            emit("error", message="component connection failed: %r" % (exc,))
            if not self.finished.done():
                self.finished.set_result(1)

    async def serve(self):
        reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(
            (
                "<?xml version='1.0'?><stream:stream xmlns='%s' xmlns:stream='%s' to=%s>"
                % (NS_COMPONENT, NS_STREAM, quoteattr(self.domain))
            ).encode()
        )
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        while True:
            data = await reader.read(65536)
            if not data:
                break
            parser.Parse(data, False)
        if not self.finished.done():
            emit("error", message="the server closed the component stream")
            self.finished.set_result(1)

    def start(self, name, attrs):
        self.depth += 1
        if self.depth == 1:
            digest = hashlib.sha1((attrs.get("id", "") + self.secret).encode()).hexdigest()
            self.writer.write(("<handshake>%s</handshake>" % digest).encode())
        elif self.depth == 2:
            self.stanza = (name.rsplit(" ", 1)[-1], attrs)
            self.payload = None
        elif self.depth == 3 and self.payload is None:
            self.payload = name

    def end(self, name):
        self.depth -= 1
        if self.depth != 1 or self.stanza is None:
            return
        local, attrs = self.stanza
        self.stanza = None
        if local == "handshake" and not self.ready:
            self.ready = True
            emit("ready")
        elif local == "error":
            emit("error", message="stream error: %s" % (self.payload,))
        elif local == "iq" and attrs.get("type") in ("get", "set"):
            self.iqs += 1
            self.answer_iq(attrs, self.payload)
        else:
            self.received += 1

    def answer_iq(self, attrs, payload):
        def head(kind):
            return "<iq type='%s' id=%s from=%s to=%s" % (
                kind,
                quoteattr(attrs.get("id", "")),
                quoteattr(attrs.get("to", "")),
                quoteattr(attrs.get("from", "")),
            )

        if payload == "%s ping" % NS_PING:
            self.writer.write((head("result") + "/>").encode())
        elif payload == "%s query" % NS_DISCO_INFO and attrs.get("type") == "get":
            self.writer.write(
                (
                    head("result")
                    + "><query xmlns='%s'><identity category='client' type='bot'/>"
                    "<feature var='%s'/></query></iq>" % (NS_DISCO_INFO, NS_DISCO_INFO)
                ).encode()
            )
        else:
            self.writer.write(
                (
                    head("error")
                    + "><error type='cancel'><service-unavailable"
                    " xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
                ).encode()
            )

    async def flood(self, room, bots, rate, seconds):
        total = int(rate * seconds)
        started = time.monotonic()
        sent = 0
        while sent < total:
            due = min(total, int((time.monotonic() - started) * rate) + 1)
            while sent < due:
                i = sent % bots + 1
                show = ("away", "xa", "dnd", "chat")[(sent // bots) % 4]
                self.writer.write(
                    (
                        "<presence from='bot%d@%s/x' to=%s><show>%s</show><status>flood %d</status></presence>"
                        % (i, self.domain, quoteattr("%s/bot%d" % (room, i)), show, sent)
                    ).encode()
                )
                sent += 1
            await self.writer.drain()
            await asyncio.sleep(0.01)
        emit("flooded", count=sent, elapsed=time.monotonic() - started)

    async def execute(self, cmd):
        name = cmd.get("cmd")
        if name == "flood":
            await self.flood(cmd["room"], int(cmd["bots"]), float(cmd["rate"]), float(cmd["seconds"]))
        elif name == "stats":
            emit("stats", received=self.received, iqs=self.iqs)
        else:
            raise ValueError("unknown command %r" % (name,))


async def main(domain, secret, host, port):
    loop = asyncio.get_running_loop()
    finished = loop.create_future()
    component = Component(domain, secret, host, port, finished)
    commands = asyncio.Queue()

    def read_stdin():
        for raw in sys.stdin.buffer:
            loop.call_soon_threadsafe(commands.put_nowait, raw.decode("utf-8", "replace"))
        loop.call_soon_threadsafe(commands.put_nowait, None)

    async def run_commands():
        while True:
            line = await commands.get()
            if line is None:
                break
            line = line.strip()
            if not line:
                continue
            try:
                cmd = json.loads(line)
                if cmd.get("cmd") == "quit":
                    break
                await component.execute(cmd)
            except Exception as exc:  # noqa: BLE001 - reported to the test
                emit("error", message="command %s failed: %r" % (line[:200], exc))
        if not finished.done():
            finished.set_result(0)

    threading.Thread(target=read_stdin, daemon=True).start()
    connection = asyncio.ensure_future(component.run())
    worker = asyncio.ensure_future(run_commands())
    code = await finished
    for task in (connection, worker):
        task.cancel()
    return code


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit("usage: bots.py DOMAIN SECRET HOST PORT")
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))))
