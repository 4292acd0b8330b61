#!/usr/bin/env python3
"""An independent 1:1 voice call peer (slixmpp + aiortc) for Tern's tests.

It signs in like peer.py and calls, or answers, with XEP-0353 Jingle Message
Initiation and a Jingle (XEP-0166) session of one RTP audio content
(XEP-0167) over ICE-UDP (XEP-0176) with DTLS-SRTP (XEP-0320), rtcp-mux and,
where offered, BUNDLE (XEP-0338). Media runs in aiortc; this program maps
Jingle to SDP and back. It sends a sine tone and records what it receives to
a WAV file (48 kHz, mono, 16 bit) for the test to analyse.

The peer is controlled with one JSON object per line on stdin and reports
one JSON object per line on stdout (ASCII only, flushed after every line).
Logs go to stderr.

Usage:

    callpeer.py JID PASSWORD HOST PORT CA_PEM RECORD_DIR [--direct-tls] [--debug]

TLS is STARTTLS (direct TLS, XEP-0368, with --direct-tls), verified against
CA_PEM only (and the JID's domain). At
sign-in the peer asks its server for STUN/TURN services (XEP-0215,
urn:xmpp:extdisco:2) and uses the first STUN and the first UDP TURN service
(with the credentials the server hands out) for every call.

Media options (every field optional), taken by "call" and "accept_calls":

    "bundle_policy": "balanced" (default) | "max-compat" | "max-bundle"
        aiortc's RTCBundlePolicy.
    "relay_only": false
        RTCIceTransportPolicy.RELAY: only TURN relay candidates are gathered
        and used (the call fails without TURN).
    "host_only": false
        No STUN or TURN server: only host candidates are gathered.
    "tone_hz": 440
        The sine sent (amplitude 0.3 of full scale); 0 or null sends silence.
    "style": "conversations" | "dino"
        How the Jingle stanzas look; default "dino" for "max-compat", else
        "conversations". "conversations": contents named after the SDP mid
        ("0"), a BUNDLE group, no initiator attribute, the offer and answer
        without candidates, every candidate in its own transport-info.
        "dino": contents named after the medium ("audio") with
        senders='both', no BUNDLE group, an initiator attribute, the
        candidates in the session-initiate/accept, plus a made-up
        component-2 twin of each (Dino's RTCP component, which rtcp-mux
        peers ignore).
    "turn_address": "127.0.0.1:PORT"
        Send TURN traffic there instead of to the discovered server (e.g.
        a UdpImpairer in front of coturn); credentials stay the server's.

Commands (stdin):

    {"cmd": "call", "to": BARE_JID, ...media options}
        Proposes a call (a type=chat JMI <propose/> to the bare JID, id
        jm-propose-SID, with a receipt request and <store/>); on <proceed/>
        sends session-initiate to the proceeding full JID (setup='actpass',
        sha-256 fingerprint on every content), then trickles candidates.
        -> state "proposed" {"sid"}
    {"cmd": "accept_calls", ...media options, "ring_ms": 200}
        From now on, answer every proposal: receipt (if asked), <ringing/>
        to the caller, after ring_ms <accept/> to the own bare JID and
        <proceed/> (id jm-proceed-SID) to the caller's full JID, then the
        session-accept (setup='active') for the session-initiate.
    {"cmd": "reject_next"}
        The next proposal (or the one ringing now) is refused with
        <reject/> to the caller's full JID and the own bare JID.
    {"cmd": "ring_only"}
        Proposals ring (receipt, <ringing/>) but are not answered (default).
    {"cmd": "retract"}
        Withdraws the own unanswered proposal (<retract/> to the callee's
        bare JID, store hint).
    {"cmd": "hangup", "reason": "success"}
        Ends the call: session-terminate with that reason once proceeded,
        else retract (caller) or reject (callee).
    {"cmd": "quit"}          (EOF on stdin too)

Events (stdout):

    {"event": "ready", "jid": FULLJID, "ice_servers": [{"type": "stun"|"turn",
     "host", "port", "transport", "username" (null or set)}]}
    {"event": "state", "sid", "role": "caller"|"callee", "peer": JID,
     "state": S, ...}
        S is one of "proposed", "ringing" (the caller saw a receipt or
        <ringing/>; the callee got a proposal), "proceeding" (proceed sent or
        received), "initiated" (session-initiate sent or received),
        "accepted" (session-accept sent or received), "connected" (ICE and
        DTLS up; with "pairs": [{"content", "local": {"type", "ip",
        "port"}, "remote": {...}}], the nominated candidate pairs),
        "ended" (with "reason": a Jingle condition such as "success",
        "decline", "security-error", "connectivity-error", or "rejected",
        "retracted", "accepted-elsewhere" for JMI endings; "text"; "by":
        "local"|"remote"; "recording": WAV path or null;
        "recorded_seconds"; "sent_frames"). The WAV file is complete when
        "ended" is emitted.
    {"event": "jmi", "action", "sid", "from", "id"}
        Every JMI message received (propose, ringing, proceed, accept,
        reject, retract, finish), and receipts for a proposal ("receipt").
    {"event": "jingle", "action", "sid", "from", "summary": {"group": [NAME]
     or null, "initiator", "contents": [{"name", "creator", "senders",
     "media", "payload_types": ["opus/48000/2", ...], "ufrag",
     "fingerprint": {"hash", "setup"} or null, "candidates": [{"component",
     "type", "ip", "port", "protocol"}]}], "reason", "text"}}
        Every Jingle IQ received.
    {"event": "candidate_ignored", "sid", "content", "component", "why"}
        A remote candidate not used (component 2 with rtcp-mux, not UDP).
    {"event": "recording", "sid", "path"}   (the first frame was received)
    {"event": "sent", "cmd"}                (a command was carried out)
    {"event": "disconnected", "reason"}
    {"event": "error", "message"}

Interop rules enforced as Conversations does: a session-initiate whose
contents lack an RTP description, an ICE-UDP transport or a fingerprint with
setup='actpass' is answered with a result, then a session-terminate
(unsupported-applications, unsupported-transports or security-error with a
text); a session-accept needs a fingerprint whose setup is the same on every
content and not 'actpass'. Candidates that arrive before the session is set
up are queued; component-2 and non-UDP candidates are ignored. Jingle IQs for
an unknown session get item-not-found with <unknown-session/>.
"""

import argparse
import array
import asyncio
import base64
import fractions
import json
import logging
import math
import os
import secrets
import ssl
import sys
import threading
import time
import uuid
import wave
import xml.etree.ElementTree as ET
from pathlib import Path

from slixmpp import ClientXMPP
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import CoroutineCallback
from slixmpp.xmlstream.matcher import MatchXPath

import av
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy, RTCIceTransportPolicy
from aiortc.sdp import SessionDescription, candidate_from_sdp

log = logging.getLogger("callpeer")

NS_CLIENT = "jabber:client"
NS_JMI = "urn:xmpp:jingle-message:0"
NS_JINGLE = "urn:xmpp:jingle:1"
NS_JINGLE_ERRORS = "urn:xmpp:jingle:errors:1"
NS_RTP = "urn:xmpp:jingle:apps:rtp:1"
NS_RTP_AUDIO = "urn:xmpp:jingle:apps:rtp:audio"
NS_RTCP_FB = "urn:xmpp:jingle:apps:rtp:rtcp-fb:0"
NS_HDREXT = "urn:xmpp:jingle:apps:rtp:rtp-hdrext:0"
NS_SSMA = "urn:xmpp:jingle:apps:rtp:ssma:0"
NS_ICE = "urn:xmpp:jingle:transports:ice-udp:1"
NS_DTLS = "urn:xmpp:jingle:apps:dtls:0"
NS_GROUPING = "urn:xmpp:jingle:apps:grouping:0"
NS_RECEIPTS = "urn:xmpp:receipts"
NS_HINTS = "urn:xmpp:hints"
NS_EXTDISCO = "urn:xmpp:extdisco:2"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"

RATE = 48000
PTIME = 0.02
AMPLITUDE = 0.3
JMI_ACTIONS = ("propose", "ringing", "proceed", "accept", "reject", "retract", "finish")
REASONS = (
    "alternative-session", "busy", "cancel", "connectivity-error", "decline", "expired",
    "failed-application", "failed-transport", "general-error", "gone", "incompatible-parameters",
    "media-error", "security-error", "success", "timeout", "unsupported-applications",
    "unsupported-transports",
)
BUNDLE_POLICIES = {
    "balanced": RTCBundlePolicy.BALANCED,
    "max-compat": RTCBundlePolicy.MAX_COMPAT,
    "max-bundle": RTCBundlePolicy.MAX_BUNDLE,
}
IQ_TIMEOUT = 15


def emit(event, **fields):
    """Writes one event line to stdout."""
    fields = {"event": event, **fields}
    sys.stdout.write(json.dumps(fields, ensure_ascii=True) + "\n")
    sys.stdout.flush()


def q(ns, name):
    return "{%s}%s" % (ns, name)


def bare(jid):
    return None if jid is None else str(jid).split("/", 1)[0]


def new_sid():
    """Like Conversations: 16 random bytes, unpadded base64."""
    return base64.b64encode(secrets.token_bytes(16)).decode("ascii").rstrip("=")


# Media.


class ToneTrack(MediaStreamTrack):
    """A 48 kHz mono sine (silence for 0 Hz), paced in real time."""

    kind = "audio"

    def __init__(self, hz):
        super().__init__()
        self.hz = float(hz or 0)
        self.samples = int(RATE * PTIME)
        self.start = None
        self.position = 0
        self.frames = 0

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        if self.start is None:
            self.start = time.monotonic()
        else:
            self.position += self.samples
            wait = self.start + self.position / RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        step = 2.0 * math.pi * self.hz / RATE
        scale = AMPLITUDE * 32767.0
        pcm = array.array(
            "h", (int(scale * math.sin(step * n)) for n in range(self.position, self.position + self.samples))
        )
        frame = av.AudioFrame(format="s16", layout="mono", samples=self.samples)
        frame.planes[0].update(pcm.tobytes())
        frame.pts = self.position
        frame.sample_rate = RATE
        frame.time_base = fractions.Fraction(1, RATE)
        self.frames += 1
        return frame


class Recorder:
    """Writes a received audio track to a WAV file (48 kHz mono s16)."""

    def __init__(self, path, sid):
        self.path = path
        self.sid = sid
        self.samples = 0
        self.task = None

    def start(self, track):
        self.task = asyncio.ensure_future(self.run(track))

    async def run(self, track):
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        out = None
        try:
            while True:
                try:
                    frame = await track.recv()
                except MediaStreamError:
                    break
                if out is None:
                    out = wave.open(str(self.path), "wb")
                    out.setnchannels(1)
                    out.setsampwidth(2)
                    out.setframerate(RATE)
                    emit("recording", sid=self.sid, path=str(self.path))
                for f in resampler.resample(frame):
                    out.writeframes(bytes(f.planes[0])[: f.samples * 2])
                    self.samples += f.samples
        finally:
            if out is not None:
                out.close()

    async def stop(self):
        if self.task is None:
            return
        try:
            await asyncio.wait_for(self.task, 5)
        except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - best effort
            self.task.cancel()

    def written(self):
        return self.task is not None and self.samples > 0


# Jingle <-> SDP.


def jingle_summary(jingle):
    group = jingle.find(q(NS_GROUPING, "group"))
    summary = {
        "group": None if group is None else [c.get("name") for c in group.findall(q(NS_GROUPING, "content"))],
        "initiator": jingle.get("initiator"),
        "contents": [],
        "reason": None,
        "text": None,
    }
    for content in jingle.findall(q(NS_JINGLE, "content")):
        desc = content.find(q(NS_RTP, "description"))
        transport = content.find(q(NS_ICE, "transport"))
        fp = None if transport is None else transport.find(q(NS_DTLS, "fingerprint"))
        pts = []
        if desc is not None:
            for pt in desc.findall(q(NS_RTP, "payload-type")):
                name = "%s/%s" % (pt.get("name"), pt.get("clockrate"))
                if pt.get("channels") and pt.get("channels") != "1":
                    name += "/" + pt.get("channels")
                pts.append(name)
        summary["contents"].append(
            {
                "name": content.get("name"),
                "creator": content.get("creator"),
                "senders": content.get("senders"),
                "media": None if desc is None else desc.get("media"),
                "payload_types": pts,
                "ufrag": None if transport is None else transport.get("ufrag"),
                "fingerprint": None if fp is None else {"hash": fp.get("hash"), "setup": fp.get("setup")},
                "candidates": []
                if transport is None
                else [
                    {
                        "component": int_or(c.get("component")),
                        "type": c.get("type"),
                        "ip": c.get("ip"),
                        "port": int_or(c.get("port")),
                        "protocol": c.get("protocol"),
                    }
                    for c in transport.findall(q(NS_ICE, "candidate"))
                ],
            }
        )
    reason, text = read_reason(jingle)
    summary["reason"] = reason
    summary["text"] = text
    return summary


def read_reason(elem):
    reason = elem.find(q(NS_JINGLE, "reason"))
    if reason is None:
        return None, None
    condition = None
    text = None
    for c in reason:
        tag = c.tag.split("}", 1)[-1]
        if tag == "text":
            text = c.text
        elif condition is None:
            condition = tag.replace("_", "-")
    return condition, text


def int_or(value, default=None):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def check_offer(jingle):
    """(condition, text) when the offer is unusable, as Conversations checks."""
    contents = jingle.findall(q(NS_JINGLE, "content"))
    if not contents:
        return "failed-application", "no content"
    for content in contents:
        if content.find(q(NS_RTP, "description")) is None:
            return "unsupported-applications", "content without an RTP description"
        transport = content.find(q(NS_ICE, "transport"))
        if transport is None:
            return "unsupported-transports", "content without an ICE-UDP transport"
        fp = transport.find(q(NS_DTLS, "fingerprint"))
        if fp is None or not fp.get("hash") or not (fp.text or "").strip():
            return "security-error", "Missing DTLS-SRTP fingerprint (XEP-0320)"
        if fp.get("setup") != "actpass":
            return "security-error", "Initiator needs to offer ACTPASS as setup for DTLS-SRTP (XEP-0320)"
        if not transport.get("ufrag") or not transport.get("pwd"):
            return "security-error", "ICE-UDP transport without ufrag or pwd"
    return None


def check_answer(jingle):
    contents = jingle.findall(q(NS_JINGLE, "content"))
    if not contents:
        return "failed-application", "no content"
    setups = set()
    for content in contents:
        transport = content.find(q(NS_ICE, "transport"))
        fp = None if transport is None else transport.find(q(NS_DTLS, "fingerprint"))
        if fp is None or not fp.get("hash") or not (fp.text or "").strip():
            return "security-error", "Missing DTLS-SRTP fingerprint (XEP-0320)"
        setups.add(fp.get("setup"))
    if len(setups) != 1 or setups & {"actpass", None}:
        return "security-error", "Responder must answer with one setup that is not ACTPASS"
    return None


def direction_of(senders, sdp_type):
    """The SDP direction of the side that wrote the description."""
    if senders in (None, "both"):
        return "sendrecv"
    if senders == "none":
        return "inactive"
    writer = "initiator" if sdp_type == "offer" else "responder"
    return "sendonly" if senders == writer else "recvonly"


def jingle_to_sdp(jingle, sdp_type, mid_of):
    """SDP text for a remote session-initiate (offer) or session-accept
    (answer). mid_of maps a content name to the mid to write. Returns (sdp,
    ignored candidates)."""
    lines = [
        "v=0",
        "o=- %d 2 IN IP4 0.0.0.0" % (secrets.randbits(62),),
        "s=-",
        "t=0 0",
    ]
    group = jingle.find(q(NS_GROUPING, "group"))
    if group is not None and group.get("semantics", "BUNDLE") == "BUNDLE":
        names = [c.get("name") for c in group.findall(q(NS_GROUPING, "content"))]
        lines.append("a=group:BUNDLE " + " ".join(mid_of(n) for n in names))
    lines.append("a=msid-semantic:WMS *")
    ignored = []
    for content in jingle.findall(q(NS_JINGLE, "content")):
        name = content.get("name")
        mid = mid_of(name)
        desc = content.find(q(NS_RTP, "description"))
        transport = content.find(q(NS_ICE, "transport"))
        pts = desc.findall(q(NS_RTP, "payload-type"))
        lines.append(
            "m=%s 9 UDP/TLS/RTP/SAVPF %s" % (desc.get("media", "audio"), " ".join(pt.get("id") for pt in pts))
        )
        lines.append("c=IN IP4 0.0.0.0")
        lines.append("a=rtcp:9 IN IP4 0.0.0.0")
        lines.append("a=mid:%s" % (mid,))
        lines.append("a=%s" % (direction_of(content.get("senders"), sdp_type),))
        if desc.find(q(NS_RTP, "rtcp-mux")) is not None:
            lines.append("a=rtcp-mux")
        lines.append("a=ice-ufrag:%s" % (transport.get("ufrag"),))
        lines.append("a=ice-pwd:%s" % (transport.get("pwd"),))
        fp = transport.find(q(NS_DTLS, "fingerprint"))
        lines.append("a=fingerprint:%s %s" % (fp.get("hash"), fp.text.strip().upper()))
        lines.append("a=setup:%s" % (fp.get("setup"),))
        for pt in pts:
            rtpmap = "a=rtpmap:%s %s/%s" % (pt.get("id"), pt.get("name"), pt.get("clockrate", "8000"))
            if pt.get("channels") and pt.get("channels") != "1":
                rtpmap += "/" + pt.get("channels")
            lines.append(rtpmap)
            params = [
                "%s=%s" % (p.get("name"), p.get("value"))
                for p in pt.findall(q(NS_RTP, "parameter"))
                if p.get("name")
            ]
            if params:
                lines.append("a=fmtp:%s %s" % (pt.get("id"), ";".join(params)))
            for fb in pt.findall(q(NS_RTCP_FB, "rtcp-fb")):
                value = fb.get("type")
                if fb.get("subtype"):
                    value += " " + fb.get("subtype")
                lines.append("a=rtcp-fb:%s %s" % (pt.get("id"), value))
        for ext in desc.findall(q(NS_HDREXT, "rtp-hdrext")):
            lines.append("a=extmap:%s %s" % (ext.get("id"), ext.get("uri")))
        for source in desc.findall(q(NS_SSMA, "source")):
            for p in source.findall(q(NS_SSMA, "parameter")):
                value = p.get("name")
                if p.get("value"):
                    value += ":" + p.get("value")
                lines.append("a=ssrc:%s %s" % (source.get("ssrc"), value))
        for cand in transport.findall(q(NS_ICE, "candidate")):
            line, why = candidate_line(cand)
            if line is None:
                ignored.append((name, int_or(cand.get("component")), why))
            else:
                lines.append("a=" + line)
    return "\r\n".join(lines) + "\r\n", ignored


def candidate_line(cand):
    """(SDP candidate attribute, None) or (None, why it is ignored)."""
    component = int_or(cand.get("component"))
    if component != 1:
        return None, "component %s (rtcp-mux)" % (cand.get("component"),)
    protocol = (cand.get("protocol") or "").lower()
    if protocol != "udp":
        return None, "protocol %s" % (protocol,)
    line = "candidate:%s %s %s %s %s %s typ %s" % (
        cand.get("foundation", "1"),
        component,
        protocol,
        cand.get("priority", "1"),
        cand.get("ip"),
        cand.get("port"),
        cand.get("type", "host"),
    )
    if cand.get("rel-addr"):
        line += " raddr %s rport %s" % (cand.get("rel-addr"), cand.get("rel-port", "0"))
    return line, None


def candidate_element(c, component=None, port=None, priority=None):
    attrs = {
        "component": str(component or c.component),
        "foundation": str(c.foundation),
        "generation": "0",
        "id": uuid.uuid4().hex[:8],
        "ip": c.ip,
        "network": "0",
        "port": str(port or c.port),
        "priority": str(priority or c.priority),
        "protocol": c.protocol.lower(),
        "type": c.type,
    }
    if c.relatedAddress:
        attrs["rel-addr"] = c.relatedAddress
        attrs["rel-port"] = str(c.relatedPort or 0)
    return ET.Element(q(NS_ICE, "candidate"), attrs)


def candidates_of(media, style):
    """Jingle candidates of a local media section (Dino style: a made-up
    component-2 twin for each)."""
    out = []
    for c in media.ice_candidates:
        out.append(candidate_element(c))
        if style == "dino":
            out.append(candidate_element(c, component=2, port=c.port + 1, priority=max(c.priority - 1, 1)))
    return out


def sdp_to_contents(sdp, names, setup, style, with_candidates):
    """Jingle <content/> elements for the local description."""
    parsed = SessionDescription.parse(sdp)
    contents = []
    for media, name in zip(parsed.media, names):
        attrs = {"creator": "initiator", "name": name}
        if style == "dino":
            attrs["senders"] = "both"
        content = ET.Element(q(NS_JINGLE, "content"), attrs)
        desc = ET.SubElement(content, q(NS_RTP, "description"), {"media": media.kind})
        for codec in media.rtp.codecs:
            kind, _, name_ = codec.mimeType.partition("/")
            pt_attrs = {"id": str(codec.payloadType), "name": name_, "clockrate": str(codec.clockRate)}
            if codec.channels and codec.channels != 1:
                pt_attrs["channels"] = str(codec.channels)
            pt = ET.SubElement(desc, q(NS_RTP, "payload-type"), pt_attrs)
            for key, value in (codec.parameters or {}).items():
                ET.SubElement(pt, q(NS_RTP, "parameter"), {"name": str(key), "value": str(value)})
            for fb in codec.rtcpFeedback or []:
                fb_attrs = {"type": fb.type}
                if fb.parameter:
                    fb_attrs["subtype"] = fb.parameter
                ET.SubElement(pt, q(NS_RTCP_FB, "rtcp-fb"), fb_attrs)
        for ext in media.rtp.headerExtensions:
            ET.SubElement(desc, q(NS_HDREXT, "rtp-hdrext"), {"id": str(ext.id), "uri": ext.uri})
        for ssrc in media.ssrc:
            source = ET.SubElement(desc, q(NS_SSMA, "source"), {"ssrc": str(ssrc.ssrc)})
            if ssrc.cname:
                ET.SubElement(source, q(NS_SSMA, "parameter"), {"name": "cname", "value": ssrc.cname})
            if style == "dino":
                break
        if media.rtcp_mux:
            ET.SubElement(desc, q(NS_RTP, "rtcp-mux"))
        transport = ET.SubElement(
            content,
            q(NS_ICE, "transport"),
            {"ufrag": media.ice.usernameFragment, "pwd": media.ice.password},
        )
        fps = [f for f in media.dtls.fingerprints if f.algorithm == "sha-256"] or media.dtls.fingerprints
        fp = ET.SubElement(transport, q(NS_DTLS, "fingerprint"), {"hash": fps[0].algorithm, "setup": setup})
        fp.text = fps[0].value.upper()
        if with_candidates:
            for c in candidates_of(media, style):
                transport.append(c)
        contents.append((content, media))
    return contents


def summary_of_pair(pair):
    def side(c):
        return {"type": c.type, "ip": c.host, "port": c.port}

    return {"local": side(pair.local_candidate), "remote": side(pair.remote_candidate)}


# The call.


class Call:
    def __init__(self, peer, sid, role, remote, opts):
        self.peer = peer
        self.sid = sid
        self.role = role  # "caller" or "callee"
        self.remote = remote  # bare JID (caller, before proceed) or full JID
        self.opts = opts
        self.style = opts.get("style") or ("dino" if opts.get("bundle_policy") == "max-compat" else "conversations")
        self.state = None
        self.pc = None
        self.tone = None
        self.recorder = None
        self.remote_set = False
        self.early = []  # (content name, candidate element) before setRemoteDescription
        self.mids = {}  # content name -> mid
        self.names = []  # local content names, in m-line order
        self.session = False  # a session-initiate went or came
        self.ended = False
        self.connected = False

    def set_state(self, state, **fields):
        self.state = state
        emit("state", sid=self.sid, role=self.role, peer=str(self.remote), state=state, **fields)

    def mid_of(self, name):
        return self.mids.get(name, name)

    def configuration(self):
        servers = []
        for s in [] if self.opts.get("host_only") else self.peer.ice_servers:
            if s["type"] == "stun" and s["transport"] == "udp":
                servers.append(RTCIceServer(urls="stun:%s:%d" % (s["host"], s["port"])))
        for s in [] if self.opts.get("host_only") else self.peer.ice_servers:
            if s["type"] == "turn" and s["transport"] == "udp" and s.get("username"):
                host, port = s["host"], s["port"]
                if self.opts.get("turn_address"):
                    host, _, port = self.opts["turn_address"].rpartition(":")
                servers.append(
                    RTCIceServer(
                        urls="turn:%s:%s?transport=udp" % (host, port),
                        username=s["username"],
                        credential=s["password"],
                    )
                )
                break
        policy = BUNDLE_POLICIES[self.opts.get("bundle_policy") or "balanced"]
        transport = RTCIceTransportPolicy.RELAY if self.opts.get("relay_only") else RTCIceTransportPolicy.ALL
        return RTCConfiguration(iceServers=servers, iceTransportPolicy=transport, bundlePolicy=policy)

    def make_pc(self):
        pc = RTCPeerConnection(self.configuration())
        self.pc = pc
        self.tone = ToneTrack(self.opts.get("tone_hz", 440))
        pc.addTrack(self.tone)
        path = self.peer.record_dir / ("%s-%s.wav" % (self.role, uuid.uuid4().hex[:8]))
        self.recorder = Recorder(path, self.sid)

        @pc.on("track")
        def on_track(track):
            if track.kind == "audio" and self.recorder.task is None:
                self.recorder.start(track)

        @pc.on("connectionstatechange")
        async def on_state():
            state = pc.connectionState
            log.info("connection state %s", state)
            if state == "connected" and not self.connected and not self.ended:
                self.connected = True
                self.set_state("connected", pairs=self.pairs())
            elif state == "failed" and not self.ended:
                await self.terminate("connectivity-error", "ICE or DTLS failed")

        return pc

    def pairs(self):
        out = []
        try:
            for t in self.pc.getTransceivers():
                conn = t.receiver.transport.transport._connection
                for _component, pair in sorted(conn._nominated.items()):
                    entry = summary_of_pair(pair)
                    entry["content"] = self.name_of_mid(t.mid)
                    out.append(entry)
        except Exception as exc:  # noqa: BLE001 - diagnostics only
            log.warning("no candidate pairs: %r", exc)
        return out

    def name_of_mid(self, mid):
        for name, m in self.mids.items():
            if m == mid:
                return name
        return mid

    # Building and sending stanzas.

    def jmi(self, to, action, msg_id=None, description=False, reason=None):
        msg = self.peer.make_message(mto=to, mtype="chat")
        msg["id"] = msg_id or self.peer.new_id()
        elem = ET.SubElement(msg.xml, q(NS_JMI, action), {"id": self.sid})
        if description:
            ET.SubElement(elem, q(NS_RTP, "description"), {"media": "audio"})
        if reason:
            r = ET.SubElement(elem, q(NS_JINGLE, "reason"))
            ET.SubElement(r, q(NS_JINGLE, reason))
        ET.SubElement(msg.xml, q(NS_HINTS, "store"))
        return msg

    def jingle_iq(self, action):
        iq = self.peer.make_iq_set(ito=self.remote)
        attrs = {"action": action, "sid": self.sid}
        if action == "session-initiate" and self.style == "dino":
            attrs["initiator"] = str(self.peer.boundjid.full)
        jingle = ET.SubElement(iq.xml, q(NS_JINGLE, "jingle"), attrs)
        return iq, jingle

    async def send_iq(self, iq, what):
        try:
            await iq.send(timeout=IQ_TIMEOUT)
            return True
        except IqError as err:
            emit("error", message="%s refused: %s" % (what, err.iq["error"]["condition"]))
        except IqTimeout:
            emit("error", message="%s: no answer" % (what,))
        return False

    async def send_candidates(self, pairs):
        """One transport-info per candidate (Conversations' trickling)."""
        for (content, media) in pairs:
            for cand in candidates_of(media, self.style):
                if self.ended:
                    return
                iq, jingle = self.jingle_iq("transport-info")
                c = ET.SubElement(jingle, q(NS_JINGLE, "content"), {"creator": "initiator", "name": content.get("name")})
                t = ET.SubElement(
                    c, q(NS_ICE, "transport"), {"ufrag": media.ice.usernameFragment, "pwd": media.ice.password}
                )
                t.append(cand)
                await self.send_iq(iq, "transport-info")

    async def add_remote_candidates(self, items):
        for name, cand in items:
            line, why = candidate_line(cand)
            if line is None:
                emit("candidate_ignored", sid=self.sid, content=name, component=int_or(cand.get("component")), why=why)
                continue
            c = candidate_from_sdp(line.split(":", 1)[1])
            c.sdpMid = self.mid_of(name)
            try:
                await self.pc.addIceCandidate(c)
            except Exception as exc:  # noqa: BLE001 - reported
                emit("error", message="adding a candidate failed: %r" % (exc,))

    # Caller.

    async def propose(self):
        msg = self.jmi(self.remote, "propose", msg_id="jm-propose-" + self.sid, description=True)
        ET.SubElement(msg.xml, q(NS_RECEIPTS, "request"))
        msg.send()
        self.set_state("proposed")

    async def on_proceed(self, sender):
        if self.state not in ("proposed", "ringing"):
            return
        self.remote = sender
        self.set_state("proceeding")
        pc = self.make_pc()
        offer = await pc.createOffer()
        await pc.setLocalDescription(offer)  # gathers every candidate
        if self.ended:
            return
        sdp = pc.localDescription.sdp
        parsed = SessionDescription.parse(sdp)
        for media in parsed.media:
            name = media.rtp.muxId if self.style == "conversations" else media.kind
            self.mids[name] = media.rtp.muxId
            self.names.append(name)
        iq, jingle = self.jingle_iq("session-initiate")
        if self.style == "conversations":
            group = ET.SubElement(jingle, q(NS_GROUPING, "group"), {"semantics": "BUNDLE"})
            for name in self.names:
                ET.SubElement(group, q(NS_GROUPING, "content"), {"name": name})
        inline = self.style == "dino"
        contents = sdp_to_contents(sdp, self.names, "actpass", self.style, inline)
        for content, _media in contents:
            jingle.append(content)
        self.session = True
        ok = await self.send_iq(iq, "session-initiate")
        if not ok:
            await self.finish("failed-application", "session-initiate refused", "local")
            return
        if not self.ended:
            self.set_state("initiated")
        if not inline:
            await self.send_candidates(contents)

    async def on_accept(self, jingle):
        problem = check_answer(jingle)
        if problem:
            await self.terminate(*problem)
            return
        sdp, ignored = jingle_to_sdp(jingle, "answer", self.mid_of)
        for name, component, why in ignored:
            emit("candidate_ignored", sid=self.sid, content=name, component=component, why=why)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except Exception as exc:  # noqa: BLE001 - reported and ended
            emit("error", message="the answer is unusable: %r" % (exc,))
            await self.terminate("failed-application", "unusable answer")
            return
        self.remote_set = True
        self.set_state("accepted")
        early, self.early = self.early, []
        await self.add_remote_candidates(early)

    # Callee.

    async def on_initiate(self, jingle):
        problem = check_offer(jingle)
        if problem:
            await self.terminate(*problem)
            return
        self.session = True
        self.set_state("initiated")
        self.names = [c.get("name") for c in jingle.findall(q(NS_JINGLE, "content"))]
        pc = self.make_pc()
        sdp, ignored = jingle_to_sdp(jingle, "offer", self.mid_of)
        for name, component, why in ignored:
            emit("candidate_ignored", sid=self.sid, content=name, component=component, why=why)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            self.remote_set = True
            early, self.early = self.early, []
            await self.add_remote_candidates(early)
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)
        except Exception as exc:  # noqa: BLE001 - reported and ended
            log.debug("offer failed", exc_info=True)
            emit("error", message="the offer is unusable: %r" % (exc,))
            await self.terminate("failed-application", "unusable offer")
            return
        if self.ended:
            return
        local = pc.localDescription.sdp
        parsed = SessionDescription.parse(local)
        setup = "active" if parsed.media[0].dtls.role == "client" else "passive"
        iq, out = self.jingle_iq("session-accept")
        group = jingle.find(q(NS_GROUPING, "group"))
        if group is not None:
            g = ET.SubElement(out, q(NS_GROUPING, "group"), {"semantics": group.get("semantics", "BUNDLE")})
            for c in group.findall(q(NS_GROUPING, "content")):
                ET.SubElement(g, q(NS_GROUPING, "content"), {"name": c.get("name")})
        inline = self.style == "dino"
        contents = sdp_to_contents(local, self.names, setup, self.style, inline)
        for content, _media in contents:
            out.append(content)
        ok = await self.send_iq(iq, "session-accept")
        if not ok:
            await self.finish("failed-application", "session-accept refused", "local")
            return
        if not self.ended:
            self.set_state("accepted")
        if not inline:
            await self.send_candidates(contents)

    # Either side.

    async def on_transport_info(self, jingle):
        items = []
        for content in jingle.findall(q(NS_JINGLE, "content")):
            transport = content.find(q(NS_ICE, "transport"))
            if transport is None:
                continue
            for cand in transport.findall(q(NS_ICE, "candidate")):
                items.append((content.get("name"), cand))
        if not self.remote_set or self.pc is None:
            self.early.extend(items)
            return
        await self.add_remote_candidates(items)

    async def terminate(self, reason="success", text=None):
        """Ends the session from this side with a session-terminate."""
        if self.ended:
            return
        iq, jingle = self.jingle_iq("session-terminate")
        r = ET.SubElement(jingle, q(NS_JINGLE, "reason"))
        ET.SubElement(r, q(NS_JINGLE, reason if reason in REASONS else "general-error"))
        if text:
            ET.SubElement(r, q(NS_JINGLE, "text")).text = text
        await self.finish(reason, text, "local")
        iq.send()

    async def finish(self, reason, text, by):
        if self.ended:
            return
        self.ended = True
        if self.tone is not None:
            self.tone.stop()
        if self.pc is not None:
            try:
                await asyncio.wait_for(self.pc.close(), 10)
            except Exception as exc:  # noqa: BLE001 - best effort
                log.warning("closing the peer connection: %r", exc)
        recording = None
        seconds = 0.0
        if self.recorder is not None:
            await self.recorder.stop()
            if self.recorder.written():
                recording = str(self.recorder.path)
                seconds = self.recorder.samples / RATE
        self.set_state(
            "ended",
            reason=reason,
            text=text,
            by=by,
            recording=recording,
            recorded_seconds=seconds,
            sent_frames=0 if self.tone is None else self.tone.frames,
        )
        self.peer.call_done(self)


# The client.


class CallPeer(ClientXMPP):
    def __init__(self, args, finished):
        super().__init__(args.jid, args.password)
        self.args = args
        self.finished = finished
        self.quitting = False
        self.commands = asyncio.Queue()
        self.worker = None
        self.record_dir = Path(args.record_dir)
        self.ice_servers = []
        self.calls = {}  # sid -> Call
        self.answer_mode = "ring"  # "ring", "accept"
        self.answer_opts = {}
        self.ring_ms = 200
        self.reject_next = False

        context = ssl.create_default_context(cafile=args.ca)
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
        self.ssl_context = context
        self.ca_certs = Path(args.ca)
        self.enable_direct_tls = args.direct_tls
        self.enable_starttls = not args.direct_tls
        self.enable_plaintext = False
        self.use_message_ids = True
        self.auto_authorize = None
        self.auto_subscribe = False

        self.register_plugin("xep_0030")
        self.register_plugin("xep_0199")
        for feature in (NS_JINGLE, NS_RTP, NS_RTP_AUDIO, NS_ICE, NS_DTLS, NS_GROUPING, NS_JMI, NS_RECEIPTS):
            self.plugin["xep_0030"].add_feature(feature)

        self.add_event_handler("session_start", self.on_session_start)
        self.register_handler(
            CoroutineCallback("Call JMI", MatchXPath(q(NS_CLIENT, "message")), self.on_message)
        )
        self.register_handler(
            CoroutineCallback(
                "Call Jingle", MatchXPath("%s/%s" % (q(NS_CLIENT, "iq"), q(NS_JINGLE, "jingle"))), self.on_jingle
            )
        )
        self.add_event_handler("failed_auth", self.on_failed_auth)
        self.add_event_handler("connection_failed", lambda e: emit("error", message="connection failed: %s" % (e,)))
        self.add_event_handler("ssl_invalid_chain", self.on_invalid_chain)
        self.add_event_handler("disconnected", self.on_disconnected)

    async def on_session_start(self, _event):
        try:
            await self.get_roster()
            self.send_presence()
            self.ice_servers = await self.discover_ice_servers()
        except Exception as exc:  # noqa: BLE001 - reported, then fatal
            emit("error", message="session start failed: %r" % (exc,))
            self.finish(1)
            return
        emit(
            "ready",
            jid=str(self.boundjid.full),
            ice_servers=[{k: v for k, v in s.items() if k != "password"} for s in self.ice_servers],
        )
        if self.worker is None:
            self.worker = asyncio.ensure_future(self.run_commands())

    async def discover_ice_servers(self):
        iq = self.make_iq_get(ito=self.boundjid.domain)
        ET.SubElement(iq.xml, q(NS_EXTDISCO, "services"))
        try:
            result = await iq.send(timeout=IQ_TIMEOUT)
        except (IqError, IqTimeout) as exc:
            log.warning("no XEP-0215 services: %r", exc)
            return []
        servers = []
        services = result.xml.find(q(NS_EXTDISCO, "services"))
        for s in [] if services is None else services.findall(q(NS_EXTDISCO, "service")):
            kind = s.get("type")
            if kind not in ("stun", "turn") or not s.get("host"):
                continue
            servers.append(
                {
                    "type": kind,
                    "host": s.get("host"),
                    "port": int_or(s.get("port"), 3478),
                    "transport": s.get("transport", "udp"),
                    "username": s.get("username"),
                    "password": s.get("password"),
                }
            )
        return servers

    def on_failed_auth(self, _event):
        emit("error", message="authentication failed")
        self.finish(1)

    def on_invalid_chain(self, error):
        emit("error", message="invalid certificate chain: %s" % (error,))
        self.finish(1)

    def on_disconnected(self, reason):
        emit("disconnected", reason=str(reason) if reason else None)
        if self.quitting:
            self.finish(0)

    def finish(self, code):
        self.quitting = True
        if not self.finished.done():
            self.finished.set_result(code)

    def call_done(self, call):
        self.calls.pop(call.sid, None)

    # JMI.

    async def on_message(self, msg):
        xml = msg.xml
        sender = xml.get("from")
        receipt = xml.find(q(NS_RECEIPTS, "received"))
        if receipt is not None and (receipt.get("id") or "").startswith("jm-propose-"):
            sid = receipt.get("id")[len("jm-propose-"):]
            emit("jmi", action="receipt", sid=sid, **{"from": sender, "id": xml.get("id")})
            call = self.calls.get(sid)
            if call is not None and call.role == "caller" and call.state == "proposed":
                call.set_state("ringing")
            return
        if xml.get("type") == "error":
            msg_id = xml.get("id") or ""
            for prefix in ("jm-propose-", "jm-proceed-"):
                if msg_id.startswith(prefix):
                    call = self.calls.get(msg_id[len(prefix):])
                    if call is not None:
                        await call.finish("general-error", "JMI message bounced", "remote")
            return
        for elem in xml:
            if elem.tag.startswith("{%s}" % NS_JMI):
                action = elem.tag.split("}", 1)[1]
                if action in JMI_ACTIONS:
                    await self.on_jmi(action, elem, sender, xml)
                return

    async def on_jmi(self, action, elem, sender, xml):
        sid = elem.get("id")
        emit("jmi", action=action, sid=sid, **{"from": sender, "id": xml.get("id")})
        if not sid:
            return
        call = self.calls.get(sid)
        own = bare(sender) == bare(self.boundjid.full)
        if action == "propose":
            if own or call is not None:
                return
            await self.on_propose(sid, sender, xml)
        elif call is None:
            return
        elif action == "ringing" and call.role == "caller" and call.state == "proposed":
            call.set_state("ringing")
        elif action == "proceed" and call.role == "caller":
            await call.on_proceed(sender)
        elif action == "accept" and call.role == "caller" and not own:
            # Dino reads accept like proceed; Conversations sends it only to
            # its own devices.
            pass
        elif action == "accept" and own and sender != str(self.boundjid.full) and call.state == "ringing":
            await call.finish("accepted-elsewhere", None, "remote")
        elif action == "reject" and not (own and sender == str(self.boundjid.full)):
            if call.role == "caller" or own:
                await call.finish("rejected", None, "remote")
        elif action == "retract" and call.role == "callee":
            await call.finish("retracted", None, "remote")
        elif action == "finish":
            await call.finish("success", None, "remote")

    async def on_propose(self, sid, sender, xml):
        desc = [d.get("media") for d in xml.iter(q(NS_RTP, "description"))]
        if "audio" not in desc:
            return
        if xml.find(q(NS_RECEIPTS, "request")) is not None and xml.get("id"):
            ack = self.make_message(mto=sender, mtype=xml.get("type") or "chat")
            ET.SubElement(ack.xml, q(NS_RECEIPTS, "received"), {"id": xml.get("id")})
            ET.SubElement(ack.xml, q(NS_HINTS, "store"))
            ack.send()
        call = Call(self, sid, "callee", sender, dict(self.answer_opts))
        self.calls[sid] = call
        call.jmi(sender, "ringing").send()
        call.set_state("ringing")
        if self.reject_next:
            self.reject_next = False
            await self.reject(call)
        elif self.answer_mode == "accept":
            await asyncio.sleep(self.ring_ms / 1000.0)
            await self.proceed(call)

    async def reject(self, call):
        call.jmi(call.remote, "reject", description=True).send()
        call.jmi(bare(self.boundjid.full), "reject").send()
        await call.finish("rejected", None, "local")

    async def proceed(self, call):
        if call.ended or call.state != "ringing":
            return
        call.jmi(bare(self.boundjid.full), "accept").send()
        call.jmi(call.remote, "proceed", msg_id="jm-proceed-" + call.sid).send()
        call.set_state("proceeding")

    # Jingle.

    async def on_jingle(self, iq):
        xml = iq.xml
        if xml.get("type") != "set":
            return
        jingle = xml.find(q(NS_JINGLE, "jingle"))
        action = jingle.get("action")
        sid = jingle.get("sid")
        sender = xml.get("from")
        emit("jingle", action=action, sid=sid, summary=jingle_summary(jingle), **{"from": sender})
        call = self.calls.get(sid)
        if call is None and action == "session-initiate" and self.answer_mode == "accept":
            # Without JMI (a plain Jingle call).
            call = Call(self, sid, "callee", sender, dict(self.answer_opts))
            call.state = "proceeding"
            self.calls[sid] = call
        if call is None or (call.role == "callee" and call.state == "ringing" and action == "session-initiate"):
            err = iq.reply()
            err["type"] = "error"
            e = ET.SubElement(err.xml, "error", {"type": "cancel"})
            ET.SubElement(e, q(NS_STANZAS, "item-not-found"))
            ET.SubElement(e, q(NS_JINGLE_ERRORS, "unknown-session"))
            err.send()
            return
        if bare(sender) != bare(str(call.remote)) or (call.state not in ("proposed", "ringing") and "/" in str(call.remote) and sender != str(call.remote)):
            err = iq.reply()
            err["type"] = "error"
            e = ET.SubElement(err.xml, "error", {"type": "cancel"})
            ET.SubElement(e, q(NS_STANZAS, "item-not-found"))
            ET.SubElement(e, q(NS_JINGLE_ERRORS, "unknown-session"))
            err.send()
            return
        iq.reply().send()
        if call.role == "callee" and action == "session-initiate":
            call.remote = sender
            await call.on_initiate(jingle)
        elif call.role == "caller" and action == "session-accept":
            await call.on_accept(jingle)
        elif action == "transport-info":
            await call.on_transport_info(jingle)
        elif action == "session-terminate":
            reason, text = read_reason(jingle)
            await call.finish(reason or "success", text, "remote")
        # session-info and anything else: answered, nothing to do.

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
                await self.quit_calls()
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
                    await self.quit_calls()
                    self.quit()
                    return
                await self.execute(cmd)
            except Exception as exc:  # noqa: BLE001 - reported to the test
                log.debug("command failed", exc_info=True)
                emit("error", message="command %s failed: %r" % (line[:200], exc))

    async def execute(self, cmd):
        name = cmd.get("cmd")
        opts = {
            k: cmd.get(k)
            for k in ("bundle_policy", "relay_only", "host_only", "tone_hz", "style", "turn_address")
            if k in cmd
        }
        if opts.get("bundle_policy") and opts["bundle_policy"] not in BUNDLE_POLICIES:
            raise ValueError("unknown bundle policy %r" % (opts["bundle_policy"],))
        if opts.get("style") not in (None, "conversations", "dino"):
            raise ValueError("unknown style %r" % (opts["style"],))
        if name == "call":
            sid = new_sid()
            call = Call(self, sid, "caller", bare(cmd["to"]), opts)
            self.calls[sid] = call
            await call.propose()
        elif name == "accept_calls":
            self.answer_mode = "accept"
            self.answer_opts = opts
            self.ring_ms = int(cmd.get("ring_ms", 200))
            ringing = [c for c in self.calls.values() if c.role == "callee" and c.state == "ringing"]
            for call in ringing:
                call.opts = dict(opts)
                await self.proceed(call)
        elif name == "ring_only":
            self.answer_mode = "ring"
        elif name == "reject_next":
            ringing = [c for c in self.calls.values() if c.role == "callee" and c.state == "ringing"]
            if ringing:
                await self.reject(ringing[0])
            else:
                self.reject_next = True
        elif name == "retract":
            calls = [c for c in self.calls.values() if c.role == "caller" and c.state in ("proposed", "ringing")]
            if not calls:
                raise ValueError("no unanswered proposal")
            for call in calls:
                call.jmi(call.remote, "retract", description=True).send()
                await call.finish("retracted", None, "local")
        elif name == "hangup":
            await self.hangup(cmd.get("reason") or "success")
        else:
            raise ValueError("unknown command %r" % (name,))
        emit("sent", cmd=name)

    async def hangup(self, reason):
        for call in list(self.calls.values()):
            if call.role == "caller" and call.state in ("proposed", "ringing"):
                call.jmi(call.remote, "retract", description=True).send()
                await call.finish("retracted", None, "local")
            elif call.role == "callee" and call.state == "ringing":
                await self.reject(call)
            else:
                await call.terminate(reason)

    async def quit_calls(self):
        try:
            await asyncio.wait_for(self.hangup("success"), 10)
        except Exception as exc:  # noqa: BLE001 - quitting anyway
            log.warning("hanging up at quit: %r", exc)

    def quit(self):
        if self.quitting:
            return
        self.quitting = True
        if self.is_connected():
            self.disconnect()
            self.loop.call_later(5.0, self.finish, 0)
        else:
            self.finish(0)


def parse_args():
    parser = argparse.ArgumentParser(description="XMPP call peer driven by JSON lines")
    parser.add_argument("jid")
    parser.add_argument("password")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("ca", help="PEM file with the only CA to trust")
    parser.add_argument("record_dir", help="where received audio is written")
    parser.add_argument("--direct-tls", action="store_true", help="TLS from the first byte (XEP-0368)")
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
    peer = CallPeer(args, finished)
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
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(asyncio.run(main(arguments)))
