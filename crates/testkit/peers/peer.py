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
    {"cmd": "omemo_send", "to": JID, "body": TEXT, "id": ID, "replace_id": ID}
        (--omemo only; with "replace_id", an encrypted correction)
    {"cmd": "omemo_echo", "enabled": false}                    (--omemo only)
    {"cmd": "muc_omemo_send", "room": ROOM, "to": [JID, ...], "body": TEXT, "id": ID}
        (--omemo only: an encrypted groupchat message to ROOM, for the
        devices of the given members)
    {"cmd": "omemo_flood", "to": JID, "count": N, "prefix": P}  (--omemo only:
        N encrypted messages, ids and bodies "P-0" .. "P-(N-1)" in order;
        then "omemo_flooded" with "count")
    {"cmd": "quit"}

Files (XEP-0363 HTTP upload, XEP-0066 OOB, XEP-0446/0447 metadata). HTTP
runs over HTTPS only, verified against CA_PEM like the XMPP stream:

    {"cmd": "upload_send", "to": JID, "path": P, "content_type": CT, "id": ID,
     "sfs": false, "name": N, "desc": TEXT, "type": "chat", "encrypt": false,
     "iv_len": 12}
        Asks the peer's own server for a slot (the first item of its disco
        items, or the domain itself, with urn:xmpp:http:upload:0), PUTs the
        file and sends a message whose body is the GET URL, with
        <x xmlns='jabber:x:oob'><url/></x>. "name" is the file name offered
        (default: the base name of P). With "sfs", also a XEP-0447
        <file-sharing xmlns='urn:xmpp:sfs:0'> holding the XEP-0446 <file/>
        (name, media-type, size, sha-256 hash, desc; width and height when
        Pillow reads the file as an image) and
        <sources><url-data target=URL/></sources>. "type" may be "groupchat"
        (then "to" is a room). With "encrypt", the file is encrypted
        (AES-256-GCM, random key, "iv_len" 12 or 16 byte IV, tag appended)
        before the PUT, the URL is aesgcm://...#IVKEY (hex) and the message
        carries that URL as its only content: OMEMO-encrypted with --omemo,
        else in the clear (no OOB, no SFS).
        -> "sent", then {"event": "uploaded", "id", "url", "size", "sha256"}
           ("size" and "sha256" (hex) of the file as given), or
           {"event": "upload_failed", "id", "stage", "type", "condition",
            "text", "max_file_size", "status", "message"}: "stage" is
           "discover" (no upload service), "slot" (the server refused the
           slot: IQ "type"/"condition"/"text", and "max_file_size" from
           <file-too-large/> when present) or "put" (HTTP "status", or
           "message" when the connection failed).
    {"cmd": "upload_slot", "filename": N, "size": BYTES, "content_type": CT}
        Only asks for a slot. -> {"event": "upload_slot", "service", "put",
        "get", "headers": {NAME: VALUE}, "max_file_size"} or "upload_failed"
        (stage "discover" or "slot", "id" null).
    {"cmd": "download", "url": URL, "path": P}
        GETs URL (https://, or aesgcm:// which is fetched over https and
        decrypted with the IV (12 or 16 bytes) and key in the fragment; the
        last 16 bytes are the GCM tag), following up to 5 redirects, and
        writes the body to P. -> {"event": "downloaded", "url", "sha256" (hex
        of what was written), "size", "content_type", "status"} or
        {"event": "download_failed", "url", "status", "message"} (non-2xx
        status, connection failure or failed decryption; nothing written).
    {"cmd": "image_meta", "path": P}
        Reads an image with Pillow. -> {"event": "image_meta", "path",
        "format" ("JPEG", "PNG", ...), "width", "height", "exif": {TAG: VALUE}
        (names from PIL.ExifTags, the Exif sub-IFD merged in; rationals as
        numbers, bytes as hex), "gps" (whether a GPS IFD with entries is
        present)} or {"event": "image_meta_failed", "path", "message"}.

Group chat (XEP-0045 and friends); ROOM is a bare room JID:

    {"cmd": "muc_join", "room": ROOM, "nick": N, "password": P, "maxstanzas": 0}
        -> "muc_joined" or "muc_error" ("maxstanzas" absent: server default)
    {"cmd": "muc_create", "room": ROOM, "nick": N, "members_only": false,
     "non_anonymous": false, "persistent": true, "password": P, "name": TEXT}
        (join, then submit the configuration form) -> "muc_created" or
        "muc_error"; an existing room is joined, not reconfigured
    {"cmd": "muc_leave", "room": ROOM, "status": TEXT}
    {"cmd": "muc_nick", "room": ROOM, "nick": N}
    {"cmd": "muc_presence", "room": ROOM, "show": "away", "status": TEXT}
    {"cmd": "muc_send", "room": ROOM, "body": TEXT, "id": ID}   (groupchat)
    {"cmd": "muc_pm", "room": ROOM, "nick": N, "body": TEXT, "id": ID}
    {"cmd": "muc_subject", "room": ROOM, "subject": TEXT}
    {"cmd": "muc_role", "room": ROOM, "nick": N, "role": R, "reason": TEXT}
    {"cmd": "muc_affiliation", "room": ROOM, "jid": JID, "affiliation": A,
     "reason": TEXT}
    {"cmd": "muc_destroy", "room": ROOM, "reason": TEXT}
    {"cmd": "muc_moderate", "room": ROOM, "stanza_id": ID, "reason": TEXT,
     "ns": "0" or "1"}   (XEP-0425; "0" is urn:xmpp:message-moderate:0 as
        Prosody's mod_muc_moderation speaks it, "1" the current version)
    {"cmd": "muc_history", "room": ROOM, "max": N}   (the room's last N
        archived messages, XEP-0313 mam:2) -> "muc_history"
    {"cmd": "bookmark_add", "room": ROOM, "name": TEXT, "nick": N,
     "autojoin": true}   (XEP-0402, urn:xmpp:bookmarks:1)
    {"cmd": "bookmark_remove", "room": ROOM}
    {"cmd": "bookmarks_get"} -> "bookmarks"
    {"cmd": "invite_direct", "to": JID, "room": ROOM, "reason": TEXT,
     "password": P}   (XEP-0249)
    {"cmd": "invite_mediated", "room": ROOM, "to": JID, "reason": TEXT}

The admin commands (muc_role, muc_affiliation, muc_destroy, muc_moderate,
the bookmark commands) are IQs, answered by {"event": "muc_iq", "cmd": NAME,
"room": ROOM, "type": "result" | "error" | "timeout", "condition": C,
"text": T}.

Every stanza-sending command except "raw" is answered by
{"event": "sent", "id": ID, "cmd": NAME}; "iq" by {"event": "iq_result", ...}.
The outgoing stanza id is also its XEP-0359 origin-id.

Events (stdout):

    {"event": "ready", "jid": FULLJID, "omemo_device_id": N or null,
     "omemo_fingerprint": "8 groups of 8 hex" or null}
    {"event": "message", "from", "to", "id", "type", "body", "origin_id",
     "stanza_id", "replace_id", "receipt_request", "markable", "reply_to",
     "reactions", "retract_id", "chatstate", "encrypted", "error",
     "oob_url", "file"}
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
    {"event": "muc_joined", "room", "nick", "role", "affiliation", "codes",
     "occupant_id"}
    {"event": "muc_created", "room", "nick", "new"}
    {"event": "muc_error", "room", "condition", "text"}
    {"event": "muc_presence", "room", "nick", "type", "role", "affiliation",
     "jid", "codes", "show", "status", "new_nick", "occupant_id", "self",
     "reason", "actor", "destroyed", "destroy_reason"}
    {"event": "muc_subject", "room", "subject", "from"}
    {"event": "muc_moderated", "room", "stanza_id", "by", "reason", "ns"}
    {"event": "muc_history", "room", "items": [{"stanza_id", "from", "body",
     "id", "occupant_id"}]}
    {"event": "muc_iq", "cmd", "room", "type", "condition", "text"}
    {"event": "invitation", "room", "from", "reason", "password", "direct"}
    {"event": "bookmarks", "items": [{"room", "name", "nick", "autojoin"}]}
    {"event": "bookmarks_changed", "published": [{"room", ...}],
     "retracted": [ROOM]}

Group chat messages are "message" events with "type": "groupchat", "from"
the occupant's room JID, "stanza_id" the id the room assigned (by= the room)
and "occupant_id" (XEP-0421) when the room adds one. Presences from rooms are
reported as "muc_presence" only (not "presence"); a self-presence carries
status code 110 and "self": true.

In "message" events absent fields are null; "reply_to" is {"id", "to"},
"reactions" is {"id", "emojis": [...]}, "chatstate" the element name
("composing", "active", ...), "encrypted" whether an OMEMO element is present,
"error" the condition of an error message, "oob_url" the <url/> of a
XEP-0066 <x xmlns='jabber:x:oob'/>. "file" is the first XEP-0446
<file xmlns='urn:xmpp:file:metadata:0'/> anywhere in the message (on its own
or inside XEP-0447 <file-sharing/>): {"name", "media_type", "size",
"width", "height", "desc", "sha256" (base64, as sent), "thumbnail": {"uri",
"media_type", "width", "height"} (the first XEP-0264 urn:xmpp:thumbs:1
<thumbnail/>) or null, "sources": [URL...] (the url-data targets of the
enclosing <file-sharing/>), "disposition"}; absent values are null. A
message that carries a receipt, marker, reaction etc. is reported as
"message" as well as by its own event.

Unless --no-auto-receipts is given, every message that requests a XEP-0184
receipt is answered with <received id=.../> (like ordinary clients do).
With --omemo, OMEMO (eu.siacs.conversations.axolotl) is enabled with blind
trust; every decrypted message is reported as "omemo_message" (with the
sender's real JID as "real_jid" and the room as "room" for a group chat
message: the real JID is read from the room's presences; the peer's own
reflected group chat messages are not decrypted; with the
sending device's id; "body" is null for an empty key-transport message) and
echoed back, encrypted, with the body unchanged (unless "omemo_echo" turned
that off, e.g. for a peer that talks to another echoing peer). OMEMO
messages are decrypted and sent one at a time, in the order they arrive.
"""

import argparse
import asyncio
import base64
import copy
import hashlib
import json
import logging
import os
import re
import ssl
import sys
import threading
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

from slixmpp import JID, ClientXMPP
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
NS_MUC = "http://jabber.org/protocol/muc"
NS_MUC_USER = "http://jabber.org/protocol/muc#user"
NS_MUC_ADMIN = "http://jabber.org/protocol/muc#admin"
NS_MUC_OWNER = "http://jabber.org/protocol/muc#owner"
NS_CONFERENCE = "jabber:x:conference"
NS_OCCUPANT_ID = "urn:xmpp:occupant-id:0"
NS_MODERATE_0 = "urn:xmpp:message-moderate:0"
NS_MODERATE_1 = "urn:xmpp:message-moderate:1"
NS_MAM = "urn:xmpp:mam:2"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_FORWARD = "urn:xmpp:forward:0"
NS_DATA = "jabber:x:data"
NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_PUBSUB_EVENT = "http://jabber.org/protocol/pubsub#event"
NS_PUBSUB_OWNER = "http://jabber.org/protocol/pubsub#owner"
NS_BOOKMARKS = "urn:xmpp:bookmarks:1"
NS_OLDMEMO = "eu.siacs.conversations.axolotl"
NS_TWOMEMO = "urn:xmpp:omemo:2"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_UPLOAD = "urn:xmpp:http:upload:0"
NS_OOB = "jabber:x:oob"
NS_FILE_META = "urn:xmpp:file:metadata:0"
NS_SFS = "urn:xmpp:sfs:0"
NS_URL_DATA = "http://jabber.org/protocol/url-data"
NS_HASHES = "urn:xmpp:hashes:2"
NS_THUMBS = "urn:xmpp:thumbs:1"

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


def bare(jid):
    return None if jid is None else jid.split("/", 1)[0]


def resource(jid):
    return None if jid is None or "/" not in jid else jid.split("/", 1)[1]


def stanza_error(xml):
    """(condition, text) of the <error/> child of a stanza, or (None, None)."""
    error_elem = child(xml, NS_CLIENT, "error")
    if error_elem is None:
        return None, None
    condition, text = None, None
    for elem in error_elem:
        if not elem.tag.startswith("{%s}" % NS_STANZAS):
            continue
        name = elem.tag.split("}", 1)[1]
        if name == "text":
            text = elem.text
        elif condition is None:
            condition = name
    return condition, text


def data_form(fields):
    """A submitted jabber:x:data form with FORM_TYPE and the given fields."""
    form = ET.Element(q(NS_DATA, "x"), {"type": "submit"})
    for var, value in fields:
        field = ET.SubElement(form, q(NS_DATA, "field"), {"var": var})
        if var == "FORM_TYPE":
            field.set("type", "hidden")
        ET.SubElement(field, q(NS_DATA, "value")).text = value
    return form


def describe_bookmark(item):
    conference = child(item, NS_BOOKMARKS, "conference")
    if conference is None:
        return None
    nick = child(conference, NS_BOOKMARKS, "nick")
    return {
        "room": item.get("id"),
        "name": conference.get("name"),
        "nick": None if nick is None else nick.text,
        "autojoin": conference.get("autojoin") in ("true", "1"),
    }


def omemo_rids(xml):
    """The device ids an OMEMO 0.3 message has keys for (None if it is not one)."""
    encrypted = child(xml, NS_OLDMEMO, "encrypted")
    if encrypted is None:
        return None
    header = child(encrypted, NS_OLDMEMO, "header")
    if header is None:
        return []
    return sorted(int(k.get("rid")) for k in header.findall(q(NS_OLDMEMO, "key")) if k.get("rid", "").isdigit())


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
    kind = xml.get("type", "normal")
    stanza_id = attr_of(xml, NS_SID, "stanza-id")
    if kind == "groupchat":
        # Only the room may assign the id of a group chat message.
        room = bare(xml.get("from"))
        stanza_id = None
        for sid in xml.findall(q(NS_SID, "stanza-id")):
            if sid.get("by") == room:
                stanza_id = sid.get("id")
    return {
        "from": xml.get("from"),
        "to": xml.get("to"),
        "id": xml.get("id"),
        "type": kind,
        "body": body,
        "omemo_rids": omemo_rids(xml),
        "origin_id": attr_of(xml, NS_SID, "origin-id"),
        "stanza_id": stanza_id,
        "occupant_id": attr_of(xml, NS_OCCUPANT_ID, "occupant-id"),
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
        "oob_url": oob_url(xml),
        "file": describe_file(xml),
    }


def text_of(elem, ns, name):
    found = None if elem is None else child(elem, ns, name)
    return None if found is None else (found.text or "").strip()


def int_or_none(value):
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def oob_url(xml):
    oob = child(xml, NS_OOB, "x")
    return text_of(oob, NS_OOB, "url")


def describe_file(xml):
    """The first XEP-0446 <file/> in a message, with its XEP-0447 context."""
    sharing, meta = None, None
    for candidate in xml.iter(q(NS_SFS, "file-sharing")):
        found = child(candidate, NS_FILE_META, "file")
        if found is not None:
            sharing, meta = candidate, found
            break
    if meta is None:
        meta = next(xml.iter(q(NS_FILE_META, "file")), None)
    if meta is None:
        return None
    sha256 = None
    for digest in meta.findall(q(NS_HASHES, "hash")):
        if digest.get("algo") == "sha-256":
            sha256 = (digest.text or "").strip()
            break
    thumb = child(meta, NS_THUMBS, "thumbnail")
    sources = []
    if sharing is not None:
        found = child(sharing, NS_SFS, "sources")
        for data in [] if found is None else found.findall(q(NS_URL_DATA, "url-data")):
            sources.append(data.get("target"))
    return {
        "name": text_of(meta, NS_FILE_META, "name"),
        "media_type": text_of(meta, NS_FILE_META, "media-type"),
        "size": int_or_none(text_of(meta, NS_FILE_META, "size")),
        "width": int_or_none(text_of(meta, NS_FILE_META, "width")),
        "height": int_or_none(text_of(meta, NS_FILE_META, "height")),
        "desc": text_of(meta, NS_FILE_META, "desc"),
        "sha256": sha256,
        "thumbnail": None
        if thumb is None
        else {
            "uri": thumb.get("uri"),
            "media_type": thumb.get("media-type"),
            "width": int_or_none(thumb.get("width")),
            "height": int_or_none(thumb.get("height")),
        },
        "sources": sources,
        "disposition": None if sharing is None else sharing.get("disposition"),
    }


class HttpError(Exception):
    """An HTTP exchange that did not give a 2xx answer."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


REDIRECTS = (301, 302, 303, 307, 308)
HTTP_TIMEOUT = 60.0


async def http_once(context, method, url, headers, body):
    """One HTTPS request (HTTP/1.1, Connection: close); returns (status,
    headers with lower-case names, body)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("not an https URL: %r" % (url,))
    host = parts.hostname
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    reader, writer = await asyncio.open_connection(
        host, parts.port or 443, ssl=context, server_hostname=host
    )
    try:
        lines = ["%s %s HTTP/1.1" % (method, target), "Host: %s" % (parts.netloc,), "Connection: close"]
        for name, value in (headers or {}).items():
            lines.append("%s: %s" % (name, value))
        if body is not None or method in ("PUT", "POST"):
            lines.append("Content-Length: %d" % (len(body or b""),))
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if body:
            view = memoryview(body)
            for start in range(0, len(view), 65536):
                writer.write(view[start : start + 65536])
                await writer.drain()
        await writer.drain()
        status_line = (await reader.readline()).decode("latin-1").strip()
        fields = status_line.split(" ", 2)
        if len(fields) < 2 or not fields[0].startswith("HTTP/"):
            raise ValueError("bad HTTP status line %r" % (status_line,))
        status = int(fields[1])
        answer = {}
        while True:
            line = (await reader.readline()).decode("latin-1")
            if line in ("\r\n", "\n", ""):
                break
            name, _, value = line.partition(":")
            answer[name.strip().lower()] = value.strip()
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            data = b""
        elif "chunked" in answer.get("transfer-encoding", "").lower():
            chunks = []
            while True:
                size = int((await reader.readline()).split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    break
                chunks.append(await reader.readexactly(size))
                await reader.readline()
            data = b"".join(chunks)
        elif "content-length" in answer:
            data = await reader.readexactly(int(answer["content-length"]))
        else:
            data = await reader.read()
        return status, answer, data
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass


async def http_request(context, method, url, headers=None, body=None, redirects=5):
    """An HTTPS request that follows redirects (GET and HEAD only); returns
    (status, headers, body) of the last answer."""
    for _ in range(redirects + 1):
        status, answer, data = await asyncio.wait_for(
            http_once(context, method, url, headers, body), HTTP_TIMEOUT
        )
        if status in REDIRECTS and method in ("GET", "HEAD") and answer.get("location"):
            url = urllib.parse.urljoin(url, answer["location"])
            continue
        return status, answer, data
    raise HttpError(status, "too many redirects")


def aesgcm_parts(url):
    """(https URL, iv, key) of an aesgcm:// URL."""
    parts = urllib.parse.urlsplit(url)
    secret = bytes.fromhex(parts.fragment)
    if len(secret) not in (44, 48):
        raise ValueError("aesgcm fragment of %d bytes (want 12 or 16 + 32)" % (len(secret),))
    https = urllib.parse.urlunsplit(("https", parts.netloc, parts.path, parts.query, ""))
    return https, secret[:-32], secret[-32:]


def json_value(value):
    """An EXIF value as JSON: numbers, text, lists; bytes as hex."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (tuple, list)):
        return [json_value(v) for v in value]
    if isinstance(value, (int, str, bool)) or value is None:
        return value
    try:
        return float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return str(value)


def image_meta(path):
    """Format, size, EXIF (named) and GPS presence of an image file."""
    from PIL import ExifTags, Image

    with Image.open(path) as img:
        exif = img.getexif()
        tags = {}
        merged = dict(exif)
        merged.update(exif.get_ifd(ExifTags.IFD.Exif))
        for tag, value in merged.items():
            if tag in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo):
                continue
            tags[ExifTags.TAGS.get(tag, str(tag))] = json_value(value)
        gps = len(exif.get_ifd(ExifTags.IFD.GPSInfo)) > 0
        return {
            "format": img.format,
            "width": img.width,
            "height": img.height,
            "exif": tags,
            "gps": gps,
        }


def image_size(path):
    """(width, height) when Pillow reads the file as an image, else None."""
    try:
        from PIL import Image

        with Image.open(path) as img:
            return img.width, img.height
    except Exception:  # noqa: BLE001 - not an image (or no Pillow)
        return None


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
        # Group chats: room -> {"nick", "joined", "create": options or None}.
        self.rooms = {}
        # Running archive queries: queryid -> collected items.
        self.mam_queries = {}

        # Trust exactly the test CA; hostname checking stays on.
        context = ssl.create_default_context(cafile=args.ca)
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
        self.ssl_context = context
        # The same trust for HTTP (uploads and downloads).
        self.http_context = ssl.create_default_context(cafile=args.ca)
        # (service JID, max file size) once discovered.
        self.upload_found = None
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
            fingerprint = None
            if self.args.omemo:
                manager = await self.plugin["xep_0384"].get_session_manager()
                own, _ = await manager.get_own_device_information()
                device_id = own.device_id
                # As python-omemo shows it (Curve25519 form, grouped).
                fingerprint = " ".join(manager.format_identity_key(own.identity_key))
        except Exception as exc:  # noqa: BLE001 - reported, then fatal
            emit("error", message="session start failed: %r" % (exc,))
            self.finish(1)
            return
        emit("ready", jid=str(self.boundjid.full), omemo_device_id=device_id, omemo_fingerprint=fingerprint)
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
        result = child(xml, NS_MAM, "result")
        if result is not None and result.get("queryid") in self.mam_queries:
            self.collect_archived(result)
            return
        emit("message", **describe_message(xml))
        self.on_group_chat_message(xml)
        self.on_pep_event(xml)
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

    async def decrypt_group_message(self, msg):
        """Decrypts an encrypted groupchat message under its sender's real JID."""
        sender = str(msg["from"])
        room, nick = bare(sender), resource(sender)
        state = self.rooms.get(room)
        if state is None or nick == state.get("nick"):
            return  # Not in that room, or the peer's own reflection.
        real = state.get("real", {}).get(nick)
        if real is None:
            emit("error", message="OMEMO: no real JID for %s" % (sender,))
            return
        stanza = copy.copy(msg)
        stanza["type"] = "chat"
        stanza["from"] = real
        async with self.omemo_lock:
            try:
                decrypted, device = await self.plugin["xep_0384"].decrypt_message(stanza)
            except Exception as exc:  # noqa: BLE001 - reported to the test
                emit("error", message="OMEMO group decryption failed: %r" % (exc,))
                return
        body_elem = decrypted.xml.find(q(NS_CLIENT, "body"))
        emit(
            "omemo_message",
            **{
                "from": sender,
                "room": room,
                "real_jid": real,
                "id": msg["id"],
                "body": None if body_elem is None else (body_elem.text or ""),
                "device_id": device.device_id,
            },
        )

    async def echo_encrypted(self, msg):
        if msg["type"] == "groupchat":
            await self.decrypt_group_message(msg)
            return
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

    def collect_archived(self, result):
        forwarded = child(result, NS_FORWARD, "forwarded")
        original = None if forwarded is None else child(forwarded, NS_CLIENT, "message")
        if original is None:
            return
        body = child(original, NS_CLIENT, "body")
        self.mam_queries[result.get("queryid")].append(
            {
                "stanza_id": result.get("id"),
                "from": original.get("from"),
                "id": original.get("id"),
                "body": None if body is None else (body.text or ""),
                "occupant_id": attr_of(original, NS_OCCUPANT_ID, "occupant-id"),
                "omemo_rids": omemo_rids(original),
            }
        )

    def on_group_chat_message(self, xml):
        """Subjects, moderation and invitations (beside the "message" event)."""
        sender = xml.get("from")
        kind = xml.get("type", "normal")
        subject = child(xml, NS_CLIENT, "subject")
        if kind == "groupchat" and subject is not None and child(xml, NS_CLIENT, "body") is None:
            emit("muc_subject", room=bare(sender), subject=subject.text or "", **{"from": sender})
        if kind == "groupchat" and "/" not in (sender or "/"):
            self.on_moderation(xml, sender)
        conference = child(xml, NS_CONFERENCE, "x")
        if conference is not None:
            emit(
                "invitation",
                room=conference.get("jid"),
                reason=conference.get("reason"),
                password=conference.get("password"),
                direct=True,
                **{"from": sender},
            )
        muc_user = child(xml, NS_MUC_USER, "x")
        invite = None if muc_user is None else child(muc_user, NS_MUC_USER, "invite")
        if invite is not None:
            reason = child(invite, NS_MUC_USER, "reason")
            password = child(muc_user, NS_MUC_USER, "password")
            emit(
                "invitation",
                room=bare(sender),
                reason=None if reason is None else reason.text,
                password=None if password is None else password.text,
                direct=False,
                **{"from": invite.get("from")},
            )

    def on_moderation(self, xml, room):
        # XEP-0425 version 0: <apply-to id=ID><moderated by=...><reason/>.
        apply_to = child(xml, NS_FASTEN, "apply-to")
        moderated = None if apply_to is None else child(apply_to, NS_MODERATE_0, "moderated")
        if moderated is not None:
            reason = child(moderated, NS_MODERATE_0, "reason")
            emit(
                "muc_moderated",
                room=room,
                stanza_id=apply_to.get("id"),
                by=moderated.get("by"),
                reason=None if reason is None else reason.text,
                ns="0",
            )
            return
        # Version 1: <retract id=ID xmlns=retract:1><moderated by=...
        # xmlns=moderate:1/><reason/></retract>.
        retract = child(xml, NS_RETRACT, "retract")
        moderated = None if retract is None else child(retract, NS_MODERATE_1, "moderated")
        if moderated is not None:
            reason = child(retract, NS_RETRACT, "reason")
            emit(
                "muc_moderated",
                room=room,
                stanza_id=retract.get("id"),
                by=moderated.get("by"),
                reason=None if reason is None else reason.text,
                ns="1",
            )

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
        room = bare(xml.get("from"))
        if child(xml, NS_MUC_USER, "x") is not None or (
            room in self.rooms and xml.get("type") == "error"
        ):
            await self.on_muc_presence(xml, room)
            return
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

    async def on_muc_presence(self, xml, room):
        state = self.rooms.get(room)
        kind = xml.get("type", "available")
        if kind == "error":
            condition, text = stanza_error(xml)
            if state is not None and not state["joined"]:
                del self.rooms[room]
            emit("muc_error", room=room, condition=condition, text=text)
            return
        x = child(xml, NS_MUC_USER, "x")
        item = child(x, NS_MUC_USER, "item")
        codes = [int(c.get("code")) for c in x.findall(q(NS_MUC_USER, "status")) if c.get("code", "").isdigit()]
        show = child(xml, NS_CLIENT, "show")
        status = child(xml, NS_CLIENT, "status")
        reason = None if item is None else child(item, NS_MUC_USER, "reason")
        actor = None if item is None else child(item, NS_MUC_USER, "actor")
        nick = resource(xml.get("from"))
        # Not every server marks every self-presence with 110 (ejabberd's
        # presence on destruction does not).
        is_self = 110 in codes or (state is not None and state["joined"] and nick == state["nick"])
        destroy = child(x, NS_MUC_USER, "destroy")
        destroy_reason = None if destroy is None else child(destroy, NS_MUC_USER, "reason")
        fields = {
            "room": room,
            "nick": nick,
            "type": kind,
            "role": None if item is None else item.get("role"),
            "affiliation": None if item is None else item.get("affiliation"),
            "jid": None if item is None else item.get("jid"),
            "new_nick": None if item is None else item.get("nick"),
            "codes": codes,
            "show": None if show is None else show.text,
            "status": None if status is None else status.text,
            "occupant_id": attr_of(xml, NS_OCCUPANT_ID, "occupant-id"),
            "self": is_self,
            "reason": None if reason is None else reason.text,
            "actor": None if actor is None else (actor.get("nick") or actor.get("jid")),
            "destroyed": destroy is not None,
            "destroy_reason": None if destroy_reason is None else destroy_reason.text,
        }
        emit("muc_presence", **fields)
        if state is not None and not is_self and nick:
            real = state.setdefault("real", {})
            if kind == "unavailable":
                real.pop(nick, None)
            elif fields["jid"]:
                real[nick] = bare(fields["jid"])
        if state is None or not is_self:
            return
        if kind == "unavailable":
            if 303 not in codes:
                self.rooms.pop(room, None)
            else:
                state["nick"] = fields["new_nick"]
            return
        state["nick"] = nick
        if state["joined"]:
            return
        state["joined"] = True
        if state["create"] is not None:
            options = state["create"]
            state["create"] = None
            asyncio.ensure_future(self.configure_room(room, nick, 201 in codes, options))
        else:
            emit(
                "muc_joined",
                room=room,
                nick=nick,
                role=fields["role"],
                affiliation=fields["affiliation"],
                codes=codes,
                occupant_id=fields["occupant_id"],
            )

    async def configure_room(self, room, nick, new, options):
        if new:
            fields = [
                ("FORM_TYPE", "http://jabber.org/protocol/muc#roomconfig"),
                ("muc#roomconfig_persistentroom", "1" if options.get("persistent", True) else "0"),
                ("muc#roomconfig_membersonly", "1" if options.get("members_only") else "0"),
                ("muc#roomconfig_whois", "anyone" if options.get("non_anonymous") else "moderators"),
            ]
            if options.get("name"):
                fields.append(("muc#roomconfig_roomname", options["name"]))
            if options.get("password"):
                fields.append(("muc#roomconfig_passwordprotectedroom", "1"))
                fields.append(("muc#roomconfig_roomsecret", options["password"]))
            query = ET.Element(q(NS_MUC_OWNER, "query"))
            query.append(data_form(fields))
            kind, condition, text = await self.room_iq(room, "set", query)
            if kind != "result":
                emit("muc_error", room=room, condition=condition or kind, text=text)
                return
        emit("muc_created", room=room, nick=nick, new=new)

    async def room_iq(self, to, kind, payload, timeout=15):
        """Sends an IQ with `payload`; returns (type, condition, text)."""
        iq = self.make_iq(ito=to, itype=kind)
        iq.append(payload)
        try:
            await iq.send(timeout=timeout)
        except IqError as err:
            condition, text = stanza_error(err.iq.xml)
            return "error", condition, text
        except IqTimeout:
            return "timeout", None, None
        return "result", None, None

    async def muc_iq(self, name, room, to, kind, payload):
        """An admin IQ whose outcome is reported as a "muc_iq" event."""
        result, condition, text = await self.room_iq(to, kind, payload)
        emit("muc_iq", cmd=name, room=room, type=result, condition=condition, text=text)

    def muc_join_presence(self, room, nick, password=None, maxstanzas=None):
        pres = self.make_presence(pto="%s/%s" % (room, nick))
        x = ET.SubElement(pres.xml, q(NS_MUC, "x"))
        if maxstanzas is not None:
            ET.SubElement(x, q(NS_MUC, "history"), {"maxstanzas": str(int(maxstanzas))})
        if password:
            ET.SubElement(x, q(NS_MUC, "password")).text = password
        pres.send()

    def room_nick(self, room):
        state = self.rooms.get(room)
        if state is None:
            raise ValueError("not in the room %s" % (room,))
        return state["nick"]

    async def execute_muc(self, name, cmd):
        """Group chat and bookmark commands; False if `name` is not one."""
        if name in ("muc_join", "muc_create"):
            room = cmd["room"]
            create = None
            if name == "muc_create":
                create = {k: cmd.get(k) for k in ("members_only", "non_anonymous", "persistent", "password", "name")}
                if create["persistent"] is None:
                    create["persistent"] = True
            self.rooms[room] = {"nick": cmd["nick"], "joined": False, "create": create}
            self.muc_join_presence(room, cmd["nick"], cmd.get("password"), cmd.get("maxstanzas"))
        elif name == "muc_leave":
            room = cmd["room"]
            self.send_presence(pto="%s/%s" % (room, self.room_nick(room)), ptype="unavailable",
                               pstatus=cmd.get("status"))
        elif name == "muc_nick":
            room = cmd["room"]
            self.room_nick(room)
            self.send_presence(pto="%s/%s" % (room, cmd["nick"]))
        elif name == "muc_presence":
            room = cmd["room"]
            show = cmd.get("show")
            if show in (None, "", "available", "online"):
                show = None
            self.send_presence(pto="%s/%s" % (room, self.room_nick(room)), pshow=show,
                               pstatus=cmd.get("status"))
        elif name == "muc_send":
            msg = self.new_message({"to": cmd["room"], "id": cmd.get("id")}, mtype="groupchat")
            msg["body"] = cmd["body"]
            self.sent(msg, name)
        elif name == "muc_pm":
            msg = self.new_message({"to": "%s/%s" % (cmd["room"], cmd["nick"]), "id": cmd.get("id")})
            msg["body"] = cmd["body"]
            ET.SubElement(msg.xml, q(NS_MUC_USER, "x"))
            self.sent(msg, name)
        elif name == "muc_subject":
            msg = self.make_message(mto=cmd["room"], mtype="groupchat")
            msg["id"] = cmd.get("id") or self.new_id()
            ET.SubElement(msg.xml, q(NS_CLIENT, "subject")).text = cmd["subject"]
            self.sent(msg, name)
        elif name in ("muc_role", "muc_affiliation"):
            query = ET.Element(q(NS_MUC_ADMIN, "query"))
            if name == "muc_role":
                item = ET.SubElement(query, q(NS_MUC_ADMIN, "item"), {"nick": cmd["nick"], "role": cmd["role"]})
            else:
                item = ET.SubElement(
                    query, q(NS_MUC_ADMIN, "item"), {"jid": cmd["jid"], "affiliation": cmd["affiliation"]}
                )
            if cmd.get("reason"):
                ET.SubElement(item, q(NS_MUC_ADMIN, "reason")).text = cmd["reason"]
            await self.muc_iq(name, cmd["room"], cmd["room"], "set", query)
        elif name == "muc_destroy":
            query = ET.Element(q(NS_MUC_OWNER, "query"))
            destroy = ET.SubElement(query, q(NS_MUC_OWNER, "destroy"))
            if cmd.get("reason"):
                ET.SubElement(destroy, q(NS_MUC_OWNER, "reason")).text = cmd["reason"]
            await self.muc_iq(name, cmd["room"], cmd["room"], "set", query)
        elif name == "muc_moderate":
            ns = str(cmd.get("ns", "1"))
            if ns == "0":
                payload = ET.Element(q(NS_FASTEN, "apply-to"), {"id": cmd["stanza_id"]})
                moderate = ET.SubElement(payload, q(NS_MODERATE_0, "moderate"))
                ET.SubElement(moderate, q(NS_RETRACT_0, "retract"))
                if cmd.get("reason"):
                    ET.SubElement(moderate, q(NS_MODERATE_0, "reason")).text = cmd["reason"]
            elif ns == "1":
                payload = ET.Element(q(NS_MODERATE_1, "moderate"), {"id": cmd["stanza_id"]})
                ET.SubElement(payload, q(NS_RETRACT, "retract"))
                if cmd.get("reason"):
                    ET.SubElement(payload, q(NS_MODERATE_1, "reason")).text = cmd["reason"]
            else:
                raise ValueError("unknown moderation version %r" % (ns,))
            await self.muc_iq(name, cmd["room"], cmd["room"], "set", payload)
        elif name == "muc_history":
            await self.muc_history(cmd["room"], int(cmd.get("max", 50)))
        elif name == "bookmark_add":
            # ejabberd 23.01 refuses publish-options it does not know
            # ("Unknown field 'pubsub#max_items'"): drop that one, retry.
            dropped = set()
            while True:
                kind, condition, text = await self.publish_bookmark(cmd, dropped)
                unknown = re.search(r"Unknown field '([^']+)'", text or "")
                if kind != "error" or unknown is None or unknown.group(1) in dropped:
                    break
                log.info("publishing the bookmark again without %s", unknown.group(1))
                dropped.add(unknown.group(1))
            if kind == "result" and "pubsub#max_items" in dropped:
                # ... but then its node keeps one item: configure it.
                kind, condition, text = await self.configure_bookmarks_node()
            emit("muc_iq", cmd=name, room=cmd["room"], type=kind, condition=condition, text=text)
        elif name == "bookmark_remove":
            pubsub = ET.Element(q(NS_PUBSUB, "pubsub"))
            retract = ET.SubElement(pubsub, q(NS_PUBSUB, "retract"), {"node": NS_BOOKMARKS, "notify": "true"})
            ET.SubElement(retract, q(NS_PUBSUB, "item"), {"id": cmd["room"]})
            await self.muc_iq(name, cmd["room"], None, "set", pubsub)
        elif name == "bookmarks_get":
            await self.bookmarks_get()
        elif name == "invite_direct":
            msg = self.make_message(mto=cmd["to"], mtype="normal")
            msg["id"] = cmd.get("id") or self.new_id()
            x = ET.SubElement(msg.xml, q(NS_CONFERENCE, "x"), {"jid": cmd["room"]})
            if cmd.get("reason"):
                x.set("reason", cmd["reason"])
            if cmd.get("password"):
                x.set("password", cmd["password"])
            self.sent(msg, name)
        elif name == "invite_mediated":
            msg = self.make_message(mto=cmd["room"], mtype="normal")
            msg["id"] = cmd.get("id") or self.new_id()
            x = ET.SubElement(msg.xml, q(NS_MUC_USER, "x"))
            invite = ET.SubElement(x, q(NS_MUC_USER, "invite"), {"to": cmd["to"]})
            if cmd.get("reason"):
                ET.SubElement(invite, q(NS_MUC_USER, "reason")).text = cmd["reason"]
            self.sent(msg, name)
        else:
            return False
        return True

    async def publish_bookmark(self, cmd, without):
        """Publishes a XEP-0402 bookmark; returns (type, condition, text)."""
        pubsub = ET.Element(q(NS_PUBSUB, "pubsub"))
        publish = ET.SubElement(pubsub, q(NS_PUBSUB, "publish"), {"node": NS_BOOKMARKS})
        item = ET.SubElement(publish, q(NS_PUBSUB, "item"), {"id": cmd["room"]})
        conference = ET.SubElement(
            item, q(NS_BOOKMARKS, "conference"), {"autojoin": "true" if cmd.get("autojoin", True) else "false"}
        )
        if cmd.get("name"):
            conference.set("name", cmd["name"])
        if cmd.get("nick"):
            ET.SubElement(conference, q(NS_BOOKMARKS, "nick")).text = cmd["nick"]
        fields = [
            ("FORM_TYPE", "http://jabber.org/protocol/pubsub#publish-options"),
            ("pubsub#persist_items", "true"),
            ("pubsub#max_items", "max"),
            ("pubsub#send_last_published_item", "never"),
            ("pubsub#access_model", "whitelist"),
        ]
        fields = [f for f in fields if f[0] not in without]
        ET.SubElement(pubsub, q(NS_PUBSUB, "publish-options")).append(data_form(fields))
        return await self.room_iq(None, "set", pubsub)

    async def configure_bookmarks_node(self):
        """Sets pubsub#max_items of the bookmarks node ("max", else 1000)."""
        for value in ("max", "1000"):
            pubsub = ET.Element(q(NS_PUBSUB_OWNER, "pubsub"))
            configure = ET.SubElement(pubsub, q(NS_PUBSUB_OWNER, "configure"), {"node": NS_BOOKMARKS})
            configure.append(
                data_form(
                    [
                        ("FORM_TYPE", "http://jabber.org/protocol/pubsub#node_config"),
                        ("pubsub#max_items", value),
                    ]
                )
            )
            result = await self.room_iq(None, "set", pubsub)
            if result[0] == "result":
                break
        return result

    async def muc_history(self, room, maximum):
        queryid = self.new_id()
        self.mam_queries[queryid] = []
        query = ET.Element(q(NS_MAM, "query"), {"queryid": queryid})
        rsm = ET.SubElement(query, q(NS_RSM, "set"))
        ET.SubElement(rsm, q(NS_RSM, "max")).text = str(maximum)
        ET.SubElement(rsm, q(NS_RSM, "before"))
        try:
            kind, condition, text = await self.room_iq(room, "set", query, timeout=30)
            # Let result messages that arrived before the answer be handled.
            await asyncio.sleep(0)
        finally:
            items = self.mam_queries.pop(queryid)
        if kind != "result":
            emit("muc_iq", cmd="muc_history", room=room, type=kind, condition=condition, text=text)
            return
        emit("muc_history", room=room, items=items)

    async def bookmarks_get(self):
        iq = self.make_iq(itype="get")
        pubsub = ET.SubElement(iq.xml, q(NS_PUBSUB, "pubsub"))
        ET.SubElement(pubsub, q(NS_PUBSUB, "items"), {"node": NS_BOOKMARKS})
        try:
            result = await iq.send(timeout=15)
        except IqError as err:
            condition, text = stanza_error(err.iq.xml)
            if condition == "item-not-found":
                emit("bookmarks", items=[])
            else:
                emit("muc_iq", cmd="bookmarks_get", room=None, type="error", condition=condition, text=text)
            return
        except IqTimeout:
            emit("muc_iq", cmd="bookmarks_get", room=None, type="timeout", condition=None, text=None)
            return
        items = []
        found = result.xml.find("%s/%s" % (q(NS_PUBSUB, "pubsub"), q(NS_PUBSUB, "items")))
        for item in [] if found is None else found.findall(q(NS_PUBSUB, "item")):
            described = describe_bookmark(item)
            if described is not None:
                items.append(described)
        emit("bookmarks", items=items)

    def on_pep_event(self, xml):
        event = child(xml, NS_PUBSUB_EVENT, "event")
        items = None if event is None else child(event, NS_PUBSUB_EVENT, "items")
        if items is None or items.get("node") != NS_BOOKMARKS:
            return
        published = []
        for item in items.findall(q(NS_PUBSUB_EVENT, "item")):
            conference = child(item, NS_BOOKMARKS, "conference")
            if conference is not None:
                # describe_bookmark reads the same shape in either namespace.
                wrapper = ET.Element("item", {"id": item.get("id")})
                wrapper.append(conference)
                published.append(describe_bookmark(wrapper))
        retracted = [r.get("id") for r in items.findall(q(NS_PUBSUB_EVENT, "retract"))]
        emit("bookmarks_changed", published=published, retracted=retracted)

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
                await self.send_encrypted(cmd["to"], cmd["body"], cmd.get("id"), replace_id=cmd.get("replace_id"))
        elif name == "muc_omemo_send":
            if not self.args.omemo:
                raise ValueError("the peer was started without --omemo")
            msg = self.make_message(mto=cmd["room"], mtype="groupchat")
            msg["id"] = cmd.get("id") or self.new_id()
            msg["body"] = cmd["body"]
            recipients = {JID(j) for j in cmd["to"]}
            async with self.omemo_lock:
                encrypted, errors = await self.plugin["xep_0384"].encrypt_message(msg, recipients)
            for error in errors:
                emit("error", message="OMEMO encryption: %r" % (error,))
            if encrypted is None:
                raise ValueError("nothing to encrypt for %s" % (cmd["to"],))
            encrypted["id"] = msg["id"]
            encrypted["origin_id"]["id"] = msg["id"]
            encrypted["eme"]["namespace"] = NS_OLDMEMO
            encrypted["eme"]["name"] = self.plugin["xep_0380"].mechanisms[NS_OLDMEMO]
            self.sent(encrypted, name)
        elif name == "omemo_echo":
            self.omemo_echo = bool(cmd.get("enabled", True))
        elif name == "omemo_flood":
            if not self.args.omemo:
                raise ValueError("the peer was started without --omemo")
            prefix, count = cmd["prefix"], int(cmd["count"])
            async with self.omemo_lock:
                for i in range(count):
                    text = "%s-%d" % (prefix, i)
                    await self.send_encrypted(cmd["to"], text, text, quiet=True)
            emit("omemo_flooded", count=count)
        elif name == "upload_send":
            await self.upload_send(cmd)
        elif name == "upload_slot":
            await self.upload_slot(cmd)
        elif name == "download":
            await self.download(cmd["url"], cmd["path"])
        elif name == "image_meta":
            try:
                meta = image_meta(cmd["path"])
            except Exception as exc:  # noqa: BLE001 - reported to the test
                emit("image_meta_failed", path=cmd["path"], message=repr(exc))
            else:
                emit("image_meta", path=cmd["path"], **meta)
        elif not await self.execute_muc(name, cmd):
            raise ValueError("unknown command %r" % (name,))

    # Files.

    async def disco(self, to, ns, node=None):
        """The result payload of a disco query, or None on error/timeout."""
        iq = self.make_iq(ito=to, itype="get")
        query = ET.SubElement(iq.xml, q(ns, "query"))
        if node:
            query.set("node", node)
        try:
            result = await iq.send(timeout=15)
        except (IqError, IqTimeout):
            return None
        return child(result.xml, ns, "query")

    async def upload_service(self):
        """(service JID, max file size) of the own server's upload service,
        or None."""
        if self.upload_found is not None:
            return self.upload_found
        domain = self.boundjid.domain
        candidates = []
        items = await self.disco(domain, NS_DISCO_ITEMS)
        for item in [] if items is None else items.findall(q(NS_DISCO_ITEMS, "item")):
            if item.get("jid") and not item.get("node"):
                candidates.append(item.get("jid"))
        candidates.append(domain)
        for jid in candidates:
            info = await self.disco(jid, NS_DISCO_INFO)
            if info is None:
                continue
            features = {f.get("var") for f in info.findall(q(NS_DISCO_INFO, "feature"))}
            if NS_UPLOAD not in features:
                continue
            max_size = None
            for form in info.findall(q(NS_DATA, "x")):
                values = {}
                for field in form.findall(q(NS_DATA, "field")):
                    values[field.get("var")] = text_of(field, NS_DATA, "value")
                if values.get("FORM_TYPE") == NS_UPLOAD:
                    max_size = int_or_none(values.get("max-file-size"))
            self.upload_found = (jid, max_size)
            return self.upload_found
        return None

    async def request_slot(self, stanza_id, filename, size, content_type):
        """The slot {"service", "put", "get", "headers", "max_file_size"},
        or None after reporting "upload_failed"."""

        def failed(stage, **fields):
            base = dict.fromkeys(("type", "condition", "text", "max_file_size", "status", "message"))
            base.update(fields)
            emit("upload_failed", id=stanza_id, stage=stage, **base)

        found = await self.upload_service()
        if found is None:
            failed("discover", message="no upload service at %s" % (self.boundjid.domain,))
            return None
        service, max_size = found
        iq = self.make_iq(ito=service, itype="get")
        ET.SubElement(
            iq.xml,
            q(NS_UPLOAD, "request"),
            {"filename": filename, "size": str(size), "content-type": content_type},
        )
        try:
            result = await iq.send(timeout=15)
        except IqError as err:
            condition, text = stanza_error(err.iq.xml)
            too_large = err.iq.xml.find(".//%s" % (q(NS_UPLOAD, "file-too-large"),))
            limit = None
            if too_large is not None:
                limit = int_or_none(text_of(too_large, NS_UPLOAD, "max-file-size")) or max_size
            failed("slot", type="error", condition=condition, text=text, max_file_size=limit)
            return None
        except IqTimeout:
            failed("slot", type="timeout")
            return None
        slot = child(result.xml, NS_UPLOAD, "slot")
        put = None if slot is None else child(slot, NS_UPLOAD, "put")
        get = None if slot is None else child(slot, NS_UPLOAD, "get")
        if put is None or get is None:
            failed("slot", type="result", message="no slot in the answer: %s" % (result,))
            return None
        headers = {}
        for header in put.findall(q(NS_UPLOAD, "header")):
            # XEP-0363 allows only these three.
            if header.get("name", "").lower() in ("authorization", "cookie", "expires"):
                headers[header.get("name")] = (header.text or "").strip()
        return {
            "service": service,
            "put": put.get("url"),
            "get": get.get("url"),
            "headers": headers,
            "max_file_size": max_size,
        }

    async def upload_slot(self, cmd):
        slot = await self.request_slot(
            None, cmd["filename"], int(cmd["size"]), cmd.get("content_type") or "application/octet-stream"
        )
        if slot is not None:
            emit("upload_slot", **slot)

    async def upload_send(self, cmd):
        path = Path(cmd["path"])
        data = path.read_bytes()
        stanza_id = cmd.get("id") or self.new_id()
        content_type = cmd.get("content_type") or "application/octet-stream"
        name = cmd.get("name") or path.name
        encrypt = bool(cmd.get("encrypt"))
        payload = data
        if encrypt:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            iv_len = int(cmd.get("iv_len", 12))
            if iv_len not in (12, 16):
                raise ValueError("iv_len is 12 or 16")
            key, iv = os.urandom(32), os.urandom(iv_len)
            payload = AESGCM(key).encrypt(iv, data, None)
        slot = await self.request_slot(stanza_id, name, len(payload), content_type)
        if slot is None:
            return
        headers = dict(slot["headers"])
        headers["Content-Type"] = content_type
        try:
            status, _, answer = await http_request(self.http_context, "PUT", slot["put"], headers, payload)
        except Exception as exc:  # noqa: BLE001 - reported to the test
            emit("upload_failed", id=stanza_id, stage="put", type=None, condition=None, text=None,
                 max_file_size=None, status=None, message=repr(exc))
            return
        if not 200 <= status < 300:
            emit("upload_failed", id=stanza_id, stage="put", type=None, condition=None, text=None,
                 max_file_size=None, status=status, message=answer[:500].decode("utf-8", "replace"))
            return
        url = slot["get"]
        mtype = cmd.get("type") or "chat"
        if encrypt:
            parts = urllib.parse.urlsplit(url)
            url = urllib.parse.urlunsplit(("aesgcm", parts.netloc, parts.path, parts.query, (iv + key).hex()))
            if self.args.omemo:
                async with self.omemo_lock:
                    await self.send_encrypted(cmd["to"], url, stanza_id)
            else:
                msg = self.new_message({"to": cmd["to"], "id": stanza_id}, mtype)
                msg["body"] = url
                self.sent(msg, "upload_send")
        else:
            msg = self.new_message({"to": cmd["to"], "id": stanza_id}, mtype)
            msg["body"] = url
            oob = ET.SubElement(msg.xml, q(NS_OOB, "x"))
            ET.SubElement(oob, q(NS_OOB, "url")).text = url
            if cmd.get("sfs"):
                msg.xml.append(self.file_sharing(path, data, name, content_type, url, cmd.get("desc")))
            if mtype != "groupchat":
                msg["request_receipt"] = True
            msg.enable("markable")
            self.sent(msg, "upload_send")
        emit("uploaded", id=stanza_id, url=url, size=len(data), sha256=hashlib.sha256(data).hexdigest())

    @staticmethod
    def file_sharing(path, data, name, content_type, url, desc):
        """A XEP-0447 <file-sharing/> with XEP-0446 metadata and one source."""
        sharing = ET.Element(q(NS_SFS, "file-sharing"), {"disposition": "inline"})
        meta = ET.SubElement(sharing, q(NS_FILE_META, "file"))
        ET.SubElement(meta, q(NS_FILE_META, "media-type")).text = content_type
        ET.SubElement(meta, q(NS_FILE_META, "name")).text = name
        ET.SubElement(meta, q(NS_FILE_META, "size")).text = str(len(data))
        if content_type.startswith("image/"):
            size = image_size(path)
            if size is not None:
                ET.SubElement(meta, q(NS_FILE_META, "width")).text = str(size[0])
                ET.SubElement(meta, q(NS_FILE_META, "height")).text = str(size[1])
        if desc:
            ET.SubElement(meta, q(NS_FILE_META, "desc")).text = desc
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        ET.SubElement(meta, q(NS_HASHES, "hash"), {"algo": "sha-256"}).text = digest
        sources = ET.SubElement(sharing, q(NS_SFS, "sources"))
        ET.SubElement(sources, q(NS_URL_DATA, "url-data"), {"target": url})
        return sharing

    async def download(self, url, path):
        def failed(status, message):
            emit("download_failed", url=url, status=status, message=message)

        fetch, iv, key = url, None, None
        try:
            if url.startswith("aesgcm://"):
                fetch, iv, key = aesgcm_parts(url)
            status, answer, data = await http_request(self.http_context, "GET", fetch)
        except Exception as exc:  # noqa: BLE001 - reported to the test
            failed(None, repr(exc))
            return
        if not 200 <= status < 300:
            failed(status, data[:500].decode("utf-8", "replace"))
            return
        if key is not None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            try:
                data = AESGCM(key).decrypt(iv, data, None)
            except Exception as exc:  # noqa: BLE001 - reported to the test
                failed(status, "decryption failed: %r" % (exc,))
                return
        Path(path).write_bytes(data)
        emit(
            "downloaded",
            url=url,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            content_type=answer.get("content-type"),
            status=status,
        )

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

    async def send_encrypted(self, to, body, stanza_id, quiet=False, replace_id=None):
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
        if replace_id is not None:
            # A correction (XEP-0308): the reference stays in the clear, as
            # Conversations and Dino send it.
            ET.SubElement(encrypted.xml, q(NS_CORRECT, "replace"), {"id": replace_id})
        if quiet:
            encrypted.send()
        else:
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
