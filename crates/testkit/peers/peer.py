#!/usr/bin/env python3
"""An independent XMPP client (slixmpp) for Tern's integration tests.

The peer is controlled with one JSON object per line on stdin and reports
one JSON object per line on stdout (ASCII only, flushed after every line).
Logs go to stderr.

Usage:

    peer.py JID PASSWORD HOST PORT CA_PEM [--direct-tls] [--no-auto-receipts]
            [--omemo STORE_JSON] [--debug]

TLS is always required and verified: the server certificate must chain to
CA_PEM (and only to it) and match the JID's domain. Without --direct-tls the
connection uses STARTTLS.

Commands (stdin); "id" is optional where a new stanza is sent:

    {"cmd": "send", "to": JID, "body": TEXT, "id": ID, "receipt": true,
     "markable": true, "reply_to": {"id": ID, "to": JID}}
    {"cmd": "correct", "to": JID, "replace_id": ID, "body": TEXT, "id": NEWID}
    {"cmd": "retract", "to": JID, "id": ID}
    {"cmd": "react", "to": JID, "id": ID, "emojis": ["..."]}
    {"cmd": "chatstate", "to": JID, "state": "composing"}
    {"cmd": "displayed", "to": JID, "id": ID}
    {"cmd": "subscribe", "to": JID}
    {"cmd": "approve", "to": JID}
    {"cmd": "presence", "show": "away", "status": TEXT}
    {"cmd": "raw", "xml": "<message .../>"}
    {"cmd": "quiet_disco"}   (stop answering disco#info requests; then
        "disco_quiet")
    {"cmd": "flood", "to": JID, "count": N}   (N directed presences, each
        with new entity caps and a new vCard avatar hash; then "flooded")
    {"cmd": "iq", "xml": "<iq type='get' ...>...</iq>"}
    {"cmd": "omemo_send", "to": JID, "body": TEXT, "id": ID}   (--omemo only)
    {"cmd": "omemo_echo", "enabled": false}                    (--omemo only)
    {"cmd": "quit"}

Every stanza-sending command except "raw" is answered by
{"event": "sent", "id": ID, "cmd": NAME}; "iq" by {"event": "iq_result", ...}.
The outgoing stanza id is also its XEP-0359 origin-id.

Events (stdout):

    {"event": "ready", "jid": FULLJID, "omemo_device_id": N or null}
    {"event": "message", "from", "to", "id", "type", "body", "origin_id",
     "stanza_id", "replace_id", "receipt_request", "markable", "reply_to",
     "reactions", "retract_id", "chatstate", "encrypted", "error"}
    {"event": "receipt", "from", "id"}
    {"event": "displayed", "from", "id"}
    {"event": "presence", "from", "type", "show", "status"}
    {"event": "subscribe_request", "from"}
    {"event": "iq_result", "id", "type", "xml"}
    {"event": "iq_request", "from", "id", "type", "ns", "node"}
    {"event": "flooded", "count"}
    {"event": "disco_quiet"}
    {"event": "omemo_message", "from", "id", "body", "device_id"}
    {"event": "sent", "id", "cmd"}
    {"event": "disconnected", "reason"}
    {"event": "error", "message"}

In "message" events absent fields are null; "reply_to" is {"id", "to"},
"reactions" is {"id", "emojis": [...]}, "chatstate" the element name
("composing", "active", ...), "encrypted" whether an OMEMO element is present,
"error" the condition of an error message. A message that carries a receipt,
marker, reaction etc. is reported as "message" as well as by its own event.

Unless --no-auto-receipts is given, every message that requests a XEP-0184
receipt is answered with <received id=.../> (like ordinary clients do).
With --omemo, OMEMO (eu.siacs.conversations.axolotl) is enabled with blind
trust; every decrypted message is reported as "omemo_message" (with the
sending device's id; "body" is null for an empty key-transport message) and
echoed back, encrypted, with the body unchanged (unless "omemo_echo" turned
that off, e.g. for a peer that talks to another echoing peer). OMEMO
messages are decrypted and sent one at a time, in the order they arrive.
"""

import argparse
import asyncio
import base64
import hashlib
import json
import logging
import ssl
import sys
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

from slixmpp import ClientXMPP
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.stanza import Iq
from slixmpp.xmlstream.handler import CoroutineCallback
from slixmpp.xmlstream.matcher import MatchXPath

log = logging.getLogger("peer")

NS_CLIENT = "jabber:client"
NS_RECEIPTS = "urn:xmpp:receipts"
NS_MARKERS = "urn:xmpp:chat-markers:0"
NS_SID = "urn:xmpp:sid:0"
NS_CORRECT = "urn:xmpp:message-correct:0"
NS_REPLY = "urn:xmpp:reply:0"
NS_REACTIONS = "urn:xmpp:reactions:0"
NS_RETRACT = "urn:xmpp:message-retract:1"
NS_RETRACT_0 = "urn:xmpp:message-retract:0"
NS_FASTEN = "urn:xmpp:fasten:0"
NS_FALLBACK = "urn:xmpp:fallback:0"
NS_HINTS = "urn:xmpp:hints"
NS_CHATSTATES = "http://jabber.org/protocol/chatstates"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_OLDMEMO = "eu.siacs.conversations.axolotl"
NS_TWOMEMO = "urn:xmpp:omemo:2"

CHAT_STATES = ("active", "composing", "paused", "inactive", "gone")
RETRACT_FALLBACK = (
    "This person attempted to retract a previous message, "
    "but it's unsupported by your client."
)


def emit(event, **fields):
    """Writes one event line to stdout."""
    fields = {"event": event, **fields}
    sys.stdout.write(json.dumps(fields, ensure_ascii=True) + "\n")
    sys.stdout.flush()


def q(ns, name):
    return "{%s}%s" % (ns, name)


def child(elem, ns, name):
    return elem.find(q(ns, name))


def attr_of(elem, ns, name, attr="id"):
    found = child(elem, ns, name)
    return None if found is None else found.get(attr)


def describe_message(xml):
    """The fields of a "message" event, read from the raw stanza."""
    body = None
    for candidate in xml.findall(q(NS_CLIENT, "body")):
        body = candidate.text or ""
        break
    reply = child(xml, NS_REPLY, "reply")
    reactions = child(xml, NS_REACTIONS, "reactions")
    retract_id = attr_of(xml, NS_RETRACT, "retract")
    if retract_id is None:
        fastening = child(xml, NS_FASTEN, "apply-to")
        if fastening is not None and child(fastening, NS_RETRACT_0, "retract") is not None:
            retract_id = fastening.get("id")
    chatstate = None
    for state in CHAT_STATES:
        if child(xml, NS_CHATSTATES, state) is not None:
            chatstate = state
            break
    error = None
    error_elem = child(xml, NS_CLIENT, "error")
    if error_elem is not None:
        for condition in error_elem:
            if condition.tag.startswith("{%s}" % NS_STANZAS) and not condition.tag.endswith("}text"):
                error = condition.tag.split("}", 1)[1]
                break
    return {
        "from": xml.get("from"),
        "to": xml.get("to"),
        "id": xml.get("id"),
        "type": xml.get("type", "normal"),
        "body": body,
        "origin_id": attr_of(xml, NS_SID, "origin-id"),
        "stanza_id": attr_of(xml, NS_SID, "stanza-id"),
        "replace_id": attr_of(xml, NS_CORRECT, "replace"),
        "receipt_request": child(xml, NS_RECEIPTS, "request") is not None,
        "markable": child(xml, NS_MARKERS, "markable") is not None,
        "reply_to": None if reply is None else {"id": reply.get("id"), "to": reply.get("to")},
        "reactions": None
        if reactions is None
        else {
            "id": reactions.get("id"),
            "emojis": [r.text or "" for r in reactions.findall(q(NS_REACTIONS, "reaction"))],
        },
        "retract_id": retract_id,
        "chatstate": chatstate,
        "encrypted": child(xml, NS_OLDMEMO, "encrypted") is not None
        or child(xml, NS_TWOMEMO, "encrypted") is not None,
        "error": error,
    }


class Peer(ClientXMPP):
    def __init__(self, args, finished):
        super().__init__(args.jid, args.password)
        self.args = args
        self.finished = finished
        self.quitting = False
        self.commands = asyncio.Queue()
        self.omemo_echo = True
        # slixmpp runs message handlers concurrently and the OMEMO session
        # manager does not serialise access to a session: one OMEMO
        # operation (decrypt + echo, or send) at a time, in arrival order.
        self.omemo_lock = asyncio.Lock()
        self.worker = None

        # Trust exactly the test CA; hostname checking stays on.
        context = ssl.create_default_context(cafile=args.ca)
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
        self.ssl_context = context
        self.ca_certs = Path(args.ca)
        self.enable_direct_tls = args.direct_tls
        self.enable_starttls = not args.direct_tls
        self.enable_plaintext = False
        self.use_message_ids = True

        # Subscription requests are reported and answered by command only.
        self.auto_authorize = None
        self.auto_subscribe = False

        for plugin in (
            "xep_0030", "xep_0085", "xep_0184", "xep_0199", "xep_0308", "xep_0333",
            "xep_0334", "xep_0359", "xep_0424", "xep_0428", "xep_0444", "xep_0461",
        ):
            self.register_plugin(plugin)
        # Receipts are answered here, mirroring the message type.
        self.plugin["xep_0184"].auto_ack = False
        if args.omemo:
            self.register_plugin("xep_0380")
            self.register_plugin("xep_0384")

        self.add_event_handler("session_start", self.on_session_start)
        # Every <message/>: slixmpp's own "message" event skips those
        # without a body (receipts, markers, chat states, reactions).
        self.register_handler(
            CoroutineCallback("Peer message", MatchXPath(q(NS_CLIENT, "message")), self.on_message)
        )
        # Every IQ request the peer receives is reported (answered or not).
        self.register_handler(
            CoroutineCallback("Peer IQ request", MatchXPath(q(NS_CLIENT, "iq")), self.on_iq_request)
        )
        self.add_event_handler("presence", self.on_presence)
        self.add_event_handler("failed_auth", self.on_failed_auth)
        self.add_event_handler("connection_failed", self.on_connection_failed)
        self.add_event_handler("ssl_invalid_chain", self.on_invalid_chain)
        self.add_event_handler("stream_error", self.on_stream_error)
        self.add_event_handler("disconnected", self.on_disconnected)

    # Connection life cycle.

    async def on_session_start(self, _event):
        try:
            await self.get_roster()
            self.send_presence()
            device_id = None
            if self.args.omemo:
                manager = await self.plugin["xep_0384"].get_session_manager()
                own, _ = await manager.get_own_device_information()
                device_id = own.device_id
        except Exception as exc:  # noqa: BLE001 - reported, then fatal
            emit("error", message="session start failed: %r" % (exc,))
            self.finish(1)
            return
        emit("ready", jid=str(self.boundjid.full), omemo_device_id=device_id)
        if self.worker is None:
            self.worker = asyncio.ensure_future(self.run_commands())

    def on_failed_auth(self, _event):
        emit("error", message="authentication failed")
        self.finish(1)

    def on_connection_failed(self, error):
        emit("error", message="connection failed: %s" % (error,))

    def on_invalid_chain(self, error):
        emit("error", message="invalid certificate chain: %s" % (error,))
        self.finish(1)

    def on_stream_error(self, error):
        emit("error", message="stream error: %s" % (error["condition"],))

    def on_disconnected(self, reason):
        emit("disconnected", reason=str(reason) if reason else None)
        if self.quitting:
            self.finish(0)
        else:
            # Behave like a client: come back (the server may restart).
            self.loop.call_later(1.0, self.connect, self.args.host, self.args.port)

    def finish(self, code):
        self.quitting = True
        if not self.finished.done():
            self.finished.set_result(code)

    # Incoming stanzas.

    async def on_message(self, msg):
        xml = msg.xml
        emit("message", **describe_message(xml))
        sender = xml.get("from")
        receipt_id = attr_of(xml, NS_RECEIPTS, "received")
        if receipt_id is not None:
            emit("receipt", **{"from": sender, "id": receipt_id})
        displayed_id = attr_of(xml, NS_MARKERS, "displayed")
        if displayed_id is not None:
            emit("displayed", **{"from": sender, "id": displayed_id})
        if (
            self.args.auto_receipts
            and child(xml, NS_RECEIPTS, "request") is not None
            and xml.get("id")
            and xml.get("type", "normal") in ("chat", "normal")
        ):
            ack = self.make_message(mto=msg["from"], mtype=xml.get("type", "normal"))
            ack["receipt"] = xml.get("id")
            ack.enable("store")
            ack.send()
        if self.args.omemo and self.plugin["xep_0384"].is_encrypted(msg):
            await self.echo_encrypted(msg)

    async def echo_encrypted(self, msg):
        async with self.omemo_lock:
            try:
                decrypted, device = await self.plugin["xep_0384"].decrypt_message(msg)
            except Exception as exc:  # noqa: BLE001 - reported to the test
                emit("error", message="OMEMO decryption failed: %r" % (exc,))
                return
            # Key exchanges and heartbeats carry no body: reported as null.
            body_elem = decrypted.xml.find(q(NS_CLIENT, "body"))
            body = None if body_elem is None else (body_elem.text or "")
            emit(
                "omemo_message",
                **{
                    "from": str(msg["from"]),
                    "id": msg["id"],
                    "body": body,
                    "device_id": device.device_id,
                },
            )
            if body and self.omemo_echo:
                await self.send_encrypted(msg["from"].bare, body, None)

    async def on_iq_request(self, iq):
        xml = iq.xml
        kind = xml.get("type")
        if kind not in ("get", "set"):
            return
        payload = next(iter(xml), None)
        ns, node = None, None
        if payload is not None and payload.tag.startswith("{"):
            ns = payload.tag[1:].split("}", 1)[0]
            node = payload.get("node")
        emit("iq_request", **{"from": xml.get("from"), "id": xml.get("id"), "type": kind,
                              "ns": ns, "node": node})

    async def on_presence(self, pres):
        xml = pres.xml
        kind = xml.get("type", "available")
        show = xml.find(q(NS_CLIENT, "show"))
        status = xml.find(q(NS_CLIENT, "status"))
        emit(
            "presence",
            **{
                "from": xml.get("from"),
                "type": kind,
                "show": None if show is None else show.text,
                "status": None if status is None else status.text,
            },
        )
        if kind == "subscribe":
            emit("subscribe_request", **{"from": pres["from"].bare})

    # Commands.

    def submit(self, line):
        """Called in the event loop for each stdin line (None at EOF)."""
        self.commands.put_nowait(line)
        if line is None and self.worker is None:
            self.quit()

    async def run_commands(self):
        while True:
            line = await self.commands.get()
            if line is None:
                self.quit()
                return
            line = line.strip()
            if not line:
                continue
            try:
                cmd = json.loads(line)
                if not isinstance(cmd, dict):
                    raise ValueError("a command is a JSON object")
                if cmd.get("cmd") == "quit":
                    self.quit()
                    return
                await self.execute(cmd)
            except Exception as exc:  # noqa: BLE001 - reported to the test
                log.debug("command failed", exc_info=True)
                emit("error", message="command %s failed: %r" % (line[:200], exc))

    def quit(self):
        if self.quitting:
            return
        self.quitting = True
        if self.is_connected():
            self.disconnect()
            # on_disconnected finishes; do not wait forever for the server.
            self.loop.call_later(5.0, self.finish, 0)
        else:
            self.finish(0)

    def new_message(self, cmd, mtype="chat"):
        msg = self.make_message(mto=cmd["to"], mtype=mtype)
        stanza_id = cmd.get("id") or self.new_id()
        msg["id"] = stanza_id
        msg["origin_id"]["id"] = stanza_id
        return msg

    def sent(self, msg, name):
        msg.send()
        emit("sent", id=msg["id"], cmd=name)

    async def execute(self, cmd):
        name = cmd.get("cmd")
        if name == "send":
            msg = self.new_message(cmd)
            msg["body"] = cmd["body"]
            if cmd.get("receipt", True):
                msg["request_receipt"] = True
            if cmd.get("markable", True):
                msg.enable("markable")
            reply = cmd.get("reply_to")
            if reply:
                msg["reply"]["id"] = reply["id"]
                if reply.get("to"):
                    msg["reply"]["to"] = reply["to"]
            self.sent(msg, name)
        elif name == "correct":
            msg = self.new_message(cmd)
            msg["body"] = cmd["body"]
            msg["replace"]["id"] = cmd["replace_id"]
            if cmd.get("receipt", True):
                msg["request_receipt"] = True
            self.sent(msg, name)
        elif name == "retract":
            msg = self.new_message({"to": cmd["to"], "id": cmd.get("new_id")})
            msg["body"] = cmd.get("fallback", RETRACT_FALLBACK)
            msg["retract"]["id"] = cmd["id"]
            fallback = ET.SubElement(msg.xml, q(NS_FALLBACK, "fallback"))
            fallback.set("for", NS_RETRACT)
            ET.SubElement(msg.xml, q(NS_HINTS, "store"))
            self.sent(msg, name)
        elif name == "react":
            msg = self.new_message({"to": cmd["to"], "id": cmd.get("new_id")})
            reactions = ET.SubElement(msg.xml, q(NS_REACTIONS, "reactions"))
            reactions.set("id", cmd["id"])
            for emoji in cmd.get("emojis", []):
                ET.SubElement(reactions, q(NS_REACTIONS, "reaction")).text = emoji
            ET.SubElement(msg.xml, q(NS_HINTS, "store"))
            self.sent(msg, name)
        elif name == "chatstate":
            state = cmd.get("state", "active")
            if state not in CHAT_STATES:
                raise ValueError("unknown chat state %r" % (state,))
            msg = self.new_message(cmd)
            msg["chat_state"] = state
            self.sent(msg, name)
        elif name == "displayed":
            msg = self.new_message({"to": cmd["to"], "id": cmd.get("new_id")})
            msg["displayed"]["id"] = cmd["id"]
            ET.SubElement(msg.xml, q(NS_HINTS, "store"))
            self.sent(msg, name)
        elif name == "subscribe":
            self.send_presence(pto=cmd["to"], ptype="subscribe")
        elif name == "approve":
            self.send_presence(pto=cmd["to"], ptype="subscribed")
        elif name == "presence":
            show = cmd.get("show")
            if show in (None, "", "available", "online"):
                show = None
            self.send_presence(pshow=show, pstatus=cmd.get("status"))
        elif name == "raw":
            self.send_raw(cmd["xml"])
        elif name == "quiet_disco":
            self.remove_handler("Disco Info")
            emit("disco_quiet")
        elif name == "flood":
            await self.flood(cmd["to"], int(cmd["count"]))
        elif name == "iq":
            await self.send_iq(cmd["xml"], float(cmd.get("timeout", 10)))
        elif name == "omemo_send":
            if not self.args.omemo:
                raise ValueError("the peer was started without --omemo")
            async with self.omemo_lock:
                await self.send_encrypted(cmd["to"], cmd["body"], cmd.get("id"))
        elif name == "omemo_echo":
            self.omemo_echo = bool(cmd.get("enabled", True))
        else:
            raise ValueError("unknown command %r" % (name,))

    async def flood(self, to, count):
        """Directed presences to `to`, each announcing capabilities and an
        avatar nobody has seen before (a hostile peer's flood)."""
        for i in range(count):
            digest = hashlib.sha1(b"flood %d" % i).digest()
            ver = base64.b64encode(digest).decode()
            self.send_raw(
                "<presence xmlns='%s' to='%s'>"
                "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1'"
                " node='https://flood.example' ver='%s'/>"
                "<x xmlns='vcard-temp:x:update'><photo>%s</photo></x>"
                "</presence>" % (NS_CLIENT, to, ver, digest.hex())
            )
            if i % 500 == 499:
                # Let the transport write (and keep memory flat).
                await asyncio.sleep(0)
        emit("flooded", count=count)

    async def send_iq(self, text, timeout):
        wrapper = ET.fromstring("<w xmlns='%s'>%s</w>" % (NS_CLIENT, text))
        if len(wrapper) != 1 or wrapper[0].tag != q(NS_CLIENT, "iq"):
            raise ValueError("expected exactly one <iq/>")
        iq = Iq(self, xml=wrapper[0])
        if not iq["id"]:
            iq["id"] = self.new_id()
        try:
            result = await iq.send(timeout=timeout)
        except IqError as err:
            result = err.iq
        except IqTimeout:
            emit("iq_result", id=iq["id"], type="timeout", xml=None)
            return
        emit("iq_result", id=result["id"], type=result["type"], xml=str(result))

    async def send_encrypted(self, to, body, stanza_id):
        msg = self.make_message(mto=to, mtype="chat")
        msg["id"] = stanza_id or self.new_id()
        msg["body"] = body
        encrypted, errors = await self.plugin["xep_0384"].encrypt_message(msg, msg["to"])
        for error in errors:
            emit("error", message="OMEMO encryption: %r" % (error,))
        if encrypted is None:
            raise ValueError("nothing to encrypt for %s" % (to,))
        encrypted["id"] = msg["id"]
        encrypted["origin_id"]["id"] = msg["id"]
        encrypted["eme"]["namespace"] = NS_OLDMEMO
        encrypted["eme"]["name"] = self.plugin["xep_0380"].mechanisms[NS_OLDMEMO]
        self.sent(encrypted, "omemo_send")


def omemo_plugin(store_path):
    """Defines and registers the OMEMO plugin (imports only with --omemo)."""
    from omemo.storage import Just, Nothing, Storage
    from slixmpp.plugins import register_plugin
    from slixmpp_omemo import XEP_0384

    class JsonStorage(Storage):
        def __init__(self, path):
            super().__init__()
            self.path = path
            self.data = {}
            if path.exists():
                self.data = json.loads(path.read_text(encoding="utf-8"))

        def write(self):
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.data), encoding="utf-8")
            tmp.replace(self.path)

        async def _load(self, key):
            return Just(self.data[key]) if key in self.data else Nothing()

        async def _store(self, key, value):
            self.data[key] = value
            self.write()

        async def _delete(self, key):
            self.data.pop(key, None)
            self.write()

    class XEP_0384Impl(XEP_0384):  # noqa: N801 - slixmpp's naming
        """OMEMO with blind trust before verification."""

        def plugin_init(self):
            self._peer_storage = JsonStorage(store_path)
            super().plugin_init()

        @property
        def storage(self):
            return self._peer_storage

        @property
        def _btbv_enabled(self):
            return True

        async def _devices_blindly_trusted(self, blindly_trusted, identifier):
            log.info("blindly trusted: %s", blindly_trusted)

        async def _prompt_manual_trust(self, manually_trusted, identifier):
            # Not reached with blind trust; trust anyway rather than block.
            from slixmpp_omemo import TrustLevel

            manager = await self.get_session_manager()
            for device in manually_trusted:
                await manager.set_trust(device.bare_jid, device.identity_key, TrustLevel.TRUSTED.value)

    register_plugin(XEP_0384Impl)


def parse_args():
    parser = argparse.ArgumentParser(description="XMPP test peer driven by JSON lines")
    parser.add_argument("jid")
    parser.add_argument("password")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("ca", help="PEM file with the only CA to trust")
    parser.add_argument("--direct-tls", action="store_true", help="TLS from the first byte (XEP-0368)")
    parser.add_argument(
        "--no-auto-receipts", dest="auto_receipts", action="store_false",
        help="do not answer XEP-0184 receipt requests",
    )
    parser.add_argument("--omemo", metavar="STORE_JSON", type=Path, help="enable OMEMO, keys in this file")
    parser.add_argument("--debug", action="store_true", help="log the XML stream to stderr")
    return parser.parse_args()


def read_stdin(loop, peer):
    """Feeds stdin lines to the peer; EOF means quit."""
    for raw in sys.stdin.buffer:
        loop.call_soon_threadsafe(peer.submit, raw.decode("utf-8", "replace"))
    loop.call_soon_threadsafe(peer.submit, None)


async def main(args):
    loop = asyncio.get_running_loop()
    finished = loop.create_future()
    if args.omemo:
        omemo_plugin(args.omemo)
    peer = Peer(args, finished)
    threading.Thread(target=read_stdin, args=(loop, peer), daemon=True).start()
    peer.connect(args.host, args.port)
    code = await finished
    if peer.is_connected():
        peer.disconnect()
    return code


if __name__ == "__main__":
    arguments = parse_args()
    logging.basicConfig(
        level=logging.DEBUG if arguments.debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    sys.exit(asyncio.run(main(arguments)))
