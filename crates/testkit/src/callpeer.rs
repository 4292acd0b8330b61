//! An independent voice call peer for call interop tests: slixmpp for
//! XMPP and aiortc for media (ICE, DTLS-SRTP, Opus), in a virtualenv of
//! their own, driven by JSON lines over stdin and stdout.
//!
//! The peer speaks XEP-0353 (Jingle Message Initiation) and Jingle RTP
//! audio over ICE-UDP with DTLS-SRTP, the way Conversations or Dino do
//! ([`JingleStyle`]); it sends a sine tone and records what it receives to
//! a WAV file that [`crate::tone`] analyses. The protocol is documented at
//! the top of `peers/callpeer.py`.

use std::collections::VecDeque;
use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::ca::TestCa;
use crate::peer::{ensure_venv, spawn_guarded, PeerOptions};

/// The call peer program, written next to each peer's other files at start.
const CALL_PEER_SCRIPT: &str = include_str!("../peers/callpeer.py");

/// What the call peer's virtualenv holds: aiortc 1.16 and slixmpp 1.17
/// with every dependency pinned (all have wheels for CPython 3.11 on
/// x86-64 Linux; `av` brings its own FFmpeg with libopus).
const CALL_REQUIREMENTS: &[&str] = &[
    "aiortc==1.16.0",
    "aioice==0.13.0",
    "av==18.1.0",
    "cffi==2.1.1",
    "cryptography==50.0.2",
    "dnspython==2.9.2",
    "google-crc32c==1.9.0",
    "ifaddr==0.2.0",
    "pyee==13.0.1",
    "pylibsrtp==1.0.0",
    "pyOpenSSL==26.4.0",
    "slixmpp==1.17.0",
    "aiodns==4.0.4",
    "pyasn1==0.6.5",
    "pyasn1_modules==0.4.2",
    "pycares==5.2.1",
    "pycparser==3.12",
    "typing_extensions==4.16.0",
];

/// How long [`CallPeer::start`] waits for the `ready` event (aiortc's
/// imports take about a second).
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a command waits for the peer's `sent`.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a dropped peer gets to hang up and sign off before it is
/// killed.
const QUIT_GRACE: Duration = Duration::from_secs(3);
/// How many stderr lines are kept for error messages.
const STDERR_LINES: usize = 200;

/// Creates (once, shared by all processes) the virtualenv
/// `$HOME/.cache/tern/call-venv` with aiortc 1.16.0 and slixmpp 1.17.0 and
/// their dependencies, pinned, and returns its `python`. Fast when it
/// exists with the same pins.
pub fn ensure_call_venv() -> Result<PathBuf> {
    ensure_venv(
        "call-venv",
        CALL_REQUIREMENTS,
        "import aiortc, av, slixmpp; av.codec.Codec('libopus', 'w')",
    )
}

/// aiortc's `RTCBundlePolicy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BundlePolicy {
    /// One transport per kind of media.
    #[default]
    Balanced,
    /// One transport per content, as Dino does (no BUNDLE).
    MaxCompat,
    /// Everything on one transport.
    MaxBundle,
}

impl BundlePolicy {
    fn as_str(self) -> &'static str {
        match self {
            BundlePolicy::Balanced => "balanced",
            BundlePolicy::MaxCompat => "max-compat",
            BundlePolicy::MaxBundle => "max-bundle",
        }
    }
}

/// Which client's Jingle stanzas the peer imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JingleStyle {
    /// Contents named after the SDP mid (`0`) in a BUNDLE group, no
    /// `initiator`, offer and answer without candidates, then one
    /// transport-info per candidate.
    Conversations,
    /// Contents named `audio` with `senders='both'`, no BUNDLE group, an
    /// `initiator`, candidates inside the session-initiate/accept, each
    /// with a made-up component-2 twin (Dino's RTCP component).
    Dino,
}

impl JingleStyle {
    fn as_str(self) -> &'static str {
        match self {
            JingleStyle::Conversations => "conversations",
            JingleStyle::Dino => "dino",
        }
    }
}

/// How the peer makes or answers a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallOptions {
    /// aiortc's bundle policy. Default [`BundlePolicy::Balanced`].
    pub bundle_policy: BundlePolicy,
    /// Gather and use only TURN relay candidates
    /// (`RTCIceTransportPolicy.RELAY`). Default `false`.
    pub relay_only: bool,
    /// Use no STUN or TURN server: only host candidates are gathered.
    /// Default `false`.
    pub host_only: bool,
    /// The frequency of the sine sent, in Hz; 0 sends silence. Default 440.
    pub tone_hz: u32,
    /// The stanzas' style; `None`: [`JingleStyle::Dino`] for
    /// [`BundlePolicy::MaxCompat`], else [`JingleStyle::Conversations`].
    pub style: Option<JingleStyle>,
    /// Send TURN traffic to this address (e.g. a [`crate::UdpImpairer`]
    /// in front of coturn) instead of the server's TURN service, with the
    /// credentials the server handed out. Default `None`.
    pub turn_address: Option<SocketAddr>,
}

impl Default for CallOptions {
    fn default() -> Self {
        Self {
            bundle_policy: BundlePolicy::Balanced,
            relay_only: false,
            host_only: false,
            tone_hz: 440,
            style: None,
            turn_address: None,
        }
    }
}

impl CallOptions {
    /// Default options sending a tone of `tone_hz`.
    pub fn tone(tone_hz: u32) -> Self {
        Self {
            tone_hz,
            ..Self::default()
        }
    }

    fn fields(&self) -> serde_json::Map<String, Value> {
        let mut map = serde_json::Map::new();
        map.insert("bundle_policy".into(), self.bundle_policy.as_str().into());
        map.insert("relay_only".into(), self.relay_only.into());
        map.insert("host_only".into(), self.host_only.into());
        map.insert("tone_hz".into(), self.tone_hz.into());
        if let Some(style) = self.style {
            map.insert("style".into(), style.as_str().into());
        }
        if let Some(addr) = self.turn_address {
            map.insert("turn_address".into(), addr.to_string().into());
        }
        map
    }
}

/// A STUN or TURN service the peer's server announced (XEP-0215).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IceServer {
    /// `stun` or `turn`.
    pub kind: String,
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// `udp` or `tcp`.
    pub transport: String,
    /// The username handed out (TURN), if any.
    pub username: Option<String>,
}

/// One side of a nominated candidate pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairEnd {
    /// `host`, `srflx`, `prflx` or `relay`.
    pub kind: String,
    /// The candidate's address.
    pub ip: String,
    /// The candidate's port.
    pub port: u16,
}

/// A candidate pair ICE nominated, as a `connected` state reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NominatedPair {
    /// The Jingle content it carries.
    pub content: String,
    /// The peer's own candidate.
    pub local: PairEnd,
    /// The other side's candidate.
    pub remote: PairEnd,
}

/// How a call ended (the `ended` state).
#[derive(Clone, Debug, PartialEq)]
pub struct CallEnded {
    /// The session id.
    pub sid: String,
    /// A Jingle reason condition (`success`, `decline`, `security-error`,
    /// …) or `rejected`, `retracted`, `accepted-elsewhere` for JMI endings.
    pub reason: String,
    /// The reason's text, if any.
    pub text: Option<String>,
    /// Whether this peer (`true`) or the other side ended it.
    pub by_local: bool,
    /// The WAV file (48 kHz, mono, 16 bit) of what was received, complete;
    /// `None` when nothing was. It lives as long as the [`CallPeer`].
    pub recording: Option<PathBuf>,
    /// How many seconds were recorded.
    pub recorded_seconds: f64,
    /// How many 20 ms frames of tone were handed to the encoder.
    pub sent_frames: u64,
}

/// An independent call peer (slixmpp + aiortc) running as a child process.
///
/// Start it with [`CallPeer::start`], make it call ([`CallPeer::call`]) or
/// answer ([`CallPeer::accept_calls`], [`CallPeer::reject_next`]), then
/// follow the call with [`CallPeer::wait_state`], [`CallPeer::wait_connected`]
/// and [`CallPeer::wait_ended`], or any event with [`CallPeer::wait_for`].
/// Events not taken by a wait are kept for later calls, in order.
///
/// Dropping the peer closes its stdin (it hangs up and signs off) and kills
/// its process group after a short grace period; if the test process dies,
/// the kernel kills it (`PR_SET_PDEATHSIG`). Set `TERN_PEER_DEBUG=1` to
/// have it log its XML stream and aiortc to stderr
/// ([`CallPeer::stderr_tail`]).
pub struct CallPeer {
    child: Child,
    stdin: Mutex<Option<ChildStdin>>,
    events: Mutex<Events>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    jid: String,
    ice_servers: Vec<IceServer>,
    // Dropped last: holds the script, the CA and the recordings.
    dir: TempDir,
}

impl fmt::Debug for CallPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallPeer")
            .field("jid", &self.jid)
            .field("pid", &self.child.id())
            .finish_non_exhaustive()
    }
}

struct Events {
    rx: Receiver<Value>,
    /// Received but not yet returned, oldest first.
    backlog: VecDeque<Value>,
}

impl CallPeer {
    /// Starts a call peer that trusts [`TestCa::global`], signs in over
    /// STARTTLS (or direct TLS with [`PeerOptions::direct_tls`]) and asks
    /// its server for STUN/TURN services; returns once it is ready (up to
    /// 30 s). Creates the virtualenv first if needed ([`ensure_call_venv`]).
    /// [`PeerOptions::auto_receipts`] is not used: the peer answers only the
    /// receipt requests of call proposals.
    pub fn start(opts: PeerOptions) -> Result<CallPeer> {
        let started = Instant::now();
        let python = ensure_call_venv()?;
        let dir = tempfile::Builder::new()
            .prefix("tern-callpeer-")
            .tempdir()
            .context("creating the call peer's directory")?;
        let script = dir.path().join("callpeer.py");
        let ca = dir.path().join("ca.pem");
        let records = dir.path().join("recordings");
        fs::write(&script, CALL_PEER_SCRIPT)?;
        fs::write(&ca, TestCa::global().ca_cert_pem())?;
        fs::create_dir_all(&records)?;

        let mut cmd = Command::new(python);
        cmd.arg("-u")
            .arg(&script)
            .arg(&opts.jid)
            .arg(&opts.password)
            .arg(&opts.host)
            .arg(opts.port.to_string())
            .arg(&ca)
            .arg(&records)
            .current_dir(dir.path())
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONIOENCODING", "utf-8")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if opts.direct_tls {
            cmd.arg("--direct-tls");
        }
        if std::env::var_os("TERN_PEER_DEBUG").is_some_and(|v| !v.is_empty() && v != "0") {
            cmd.arg("--debug");
        }
        let mut child = spawn_guarded(cmd).context("spawning the call peer")?;

        let stdout = child.stdout.take().context("call peer stdout")?;
        let stderr_pipe = child.stderr.take().context("call peer stderr")?;
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel();
        let label = opts.jid.clone();
        thread::Builder::new()
            .name("tern-callpeer-out".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let event = serde_json::from_str::<Value>(&line)
                        .unwrap_or_else(|_| json!({"event": "invalid", "line": line}));
                    tracing::debug!(peer = %label, %event, "call peer event");
                    if tx.send(event).is_err() {
                        break;
                    }
                }
            })?;
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let lines = Arc::clone(&stderr);
        let label = opts.jid.clone();
        thread::Builder::new()
            .name("tern-callpeer-err".into())
            .spawn(move || {
                for line in BufReader::new(stderr_pipe).lines() {
                    let Ok(line) = line else { break };
                    tracing::trace!(peer = %label, "{line}");
                    let mut lines = lines.lock().unwrap_or_else(|e| e.into_inner());
                    if lines.len() == STDERR_LINES {
                        lines.pop_front();
                    }
                    lines.push_back(line);
                }
            })?;

        let mut peer = CallPeer {
            child,
            stdin: Mutex::new(stdin),
            events: Mutex::new(Events {
                rx,
                backlog: VecDeque::new(),
            }),
            stderr,
            jid: opts.jid.clone(),
            ice_servers: Vec::new(),
            dir,
        };
        let ready = peer
            .wait_for(READY_TIMEOUT, |e| {
                matches!(e["event"].as_str(), Some("ready" | "error"))
            })
            .with_context(|| format!("starting the call peer {}", opts.jid))?;
        if ready["event"] == "error" {
            bail!(
                "the call peer {} failed to start: {}{}",
                opts.jid,
                ready["message"].as_str().unwrap_or_default(),
                peer.stderr_section()
            );
        }
        peer.jid = ready["jid"]
            .as_str()
            .ok_or_else(|| anyhow!("ready event without a jid: {ready}"))?
            .to_owned();
        peer.ice_servers = ready["ice_servers"]
            .as_array()
            .map(|servers| {
                servers
                    .iter()
                    .map(|s| IceServer {
                        kind: s["type"].as_str().unwrap_or_default().to_owned(),
                        host: s["host"].as_str().unwrap_or_default().to_owned(),
                        port: s["port"]
                            .as_u64()
                            .and_then(|p| u16::try_from(p).ok())
                            .unwrap_or(0),
                        transport: s["transport"].as_str().unwrap_or_default().to_owned(),
                        username: s["username"].as_str().map(str::to_owned),
                    })
                    .collect()
            })
            .unwrap_or_default();
        tracing::info!(jid = %peer.jid, elapsed = ?started.elapsed(), "call peer ready");
        Ok(peer)
    }

    /// The full JID the peer is bound to.
    pub fn jid(&self) -> &str {
        &self.jid
    }

    /// The bare JID the peer is signed in as.
    pub fn bare_jid(&self) -> &str {
        self.jid.split('/').next().unwrap_or(&self.jid)
    }

    /// The STUN/TURN services the server announced at sign-in.
    pub fn ice_servers(&self) -> &[IceServer] {
        &self.ice_servers
    }

    /// The process id of the peer.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The directory the peer writes its recordings to.
    pub fn recordings_dir(&self) -> PathBuf {
        self.dir.path().join("recordings")
    }

    /// Sends one command (a JSON object with a `cmd` field) without waiting.
    pub fn send(&self, cmd: Value) -> Result<()> {
        let mut line = serde_json::to_string(&cmd)?;
        line.push('\n');
        let mut stdin = self.stdin.lock().unwrap_or_else(|e| e.into_inner());
        let pipe = stdin
            .as_mut()
            .ok_or_else(|| anyhow!("the call peer {} was told to quit", self.jid))?;
        pipe.write_all(line.as_bytes())
            .and_then(|()| pipe.flush())
            .with_context(|| {
                format!(
                    "writing to the call peer {}{}",
                    self.jid,
                    self.stderr_section()
                )
            })
    }

    /// Sends a command and waits for the peer to carry it out (`sent`), or
    /// fails with the error it reports.
    fn command(&self, cmd: Value) -> Result<()> {
        let name = cmd["cmd"].as_str().unwrap_or_default().to_owned();
        self.send(cmd)?;
        let marker = format!("\"cmd\":\"{name}\"");
        let answer = self.wait_for(COMMAND_TIMEOUT, |e| {
            (e["event"] == "sent" && e["cmd"] == name.as_str())
                || (e["event"] == "error"
                    && e["message"].as_str().is_some_and(|m| {
                        m.contains(&marker) || m.contains(&format!("\"cmd\": \"{name}\""))
                    }))
        })?;
        if answer["event"] == "error" {
            bail!("the call peer refused {name}: {}", answer["message"]);
        }
        Ok(())
    }

    /// Proposes a call to `to` (a bare JID) and returns the session id. The
    /// call goes on by itself when the callee proceeds.
    pub fn call(&self, to: &str, opts: &CallOptions) -> Result<String> {
        let mut cmd = opts.fields();
        cmd.insert("cmd".into(), "call".into());
        cmd.insert("to".into(), to.into());
        self.command(Value::Object(cmd))?;
        let proposed = self.wait_for(COMMAND_TIMEOUT, |e| {
            e["event"] == "state" && e["state"] == "proposed"
        })?;
        proposed["sid"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("a proposed state without sid: {proposed}"))
    }

    /// Answers every later proposal (and one ringing now): ringing, then
    /// after `ring` accept and proceed, then session-accept.
    pub fn accept_calls(&self, opts: &CallOptions, ring: Duration) -> Result<()> {
        let mut cmd = opts.fields();
        cmd.insert("cmd".into(), "accept_calls".into());
        cmd.insert(
            "ring_ms".into(),
            u64::try_from(ring.as_millis()).unwrap_or(u64::MAX).into(),
        );
        self.command(Value::Object(cmd))
    }

    /// Refuses the call ringing now, or else the next proposal.
    pub fn reject_next(&self) -> Result<()> {
        self.command(json!({"cmd": "reject_next"}))
    }

    /// Lets later proposals ring without answering them (the default).
    pub fn ring_only(&self) -> Result<()> {
        self.command(json!({"cmd": "ring_only"}))
    }

    /// Withdraws the peer's own unanswered proposal.
    pub fn retract(&self) -> Result<()> {
        self.command(json!({"cmd": "retract"}))
    }

    /// Ends every call: session-terminate with reason `success` after
    /// proceed, else retract or reject.
    pub fn hangup(&self) -> Result<()> {
        self.command(json!({"cmd": "hangup", "reason": "success"}))
    }

    /// Waits for the call state `state` (see the protocol) of any call and
    /// returns its event. Fails early if a call ends first (unless `state`
    /// is `ended`).
    pub fn wait_state(&self, state: &str, timeout: Duration) -> Result<Value> {
        self.wait_call_state(None, state, timeout)
    }

    /// Like [`CallPeer::wait_state`], for the call with session id `sid`
    /// only (states of other calls are kept).
    pub fn wait_sid_state(&self, sid: &str, state: &str, timeout: Duration) -> Result<Value> {
        self.wait_call_state(Some(sid), state, timeout)
    }

    fn wait_call_state(&self, sid: Option<&str>, state: &str, timeout: Duration) -> Result<Value> {
        let event = self.wait_for(timeout, |e| {
            e["event"] == "state"
                && sid.is_none_or(|sid| e["sid"] == sid)
                && (e["state"] == state || e["state"] == "ended")
        })?;
        if event["state"] != state {
            bail!(
                "the call of {} ended while waiting for {state}: {event}{}",
                self.jid,
                self.stderr_section()
            );
        }
        Ok(event)
    }

    /// Waits until ICE and DTLS are up and returns the nominated pairs.
    pub fn wait_connected(&self, timeout: Duration) -> Result<Vec<NominatedPair>> {
        let event = self.wait_state("connected", timeout)?;
        let end = |v: &Value| PairEnd {
            kind: v["type"].as_str().unwrap_or_default().to_owned(),
            ip: v["ip"].as_str().unwrap_or_default().to_owned(),
            port: v["port"]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(0),
        };
        Ok(event["pairs"]
            .as_array()
            .map(|pairs| {
                pairs
                    .iter()
                    .map(|p| NominatedPair {
                        content: p["content"].as_str().unwrap_or_default().to_owned(),
                        local: end(&p["local"]),
                        remote: end(&p["remote"]),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Waits for a call to end.
    pub fn wait_ended(&self, timeout: Duration) -> Result<CallEnded> {
        let e = self.wait_state("ended", timeout)?;
        Ok(Self::ended_from(&e))
    }

    /// Waits for the call with session id `sid` to end.
    pub fn wait_sid_ended(&self, sid: &str, timeout: Duration) -> Result<CallEnded> {
        let e = self.wait_sid_state(sid, "ended", timeout)?;
        Ok(Self::ended_from(&e))
    }

    fn ended_from(e: &Value) -> CallEnded {
        CallEnded {
            sid: e["sid"].as_str().unwrap_or_default().to_owned(),
            reason: e["reason"].as_str().unwrap_or_default().to_owned(),
            text: e["text"].as_str().map(str::to_owned),
            by_local: e["by"] == "local",
            recording: e["recording"].as_str().map(PathBuf::from),
            recorded_seconds: e["recorded_seconds"].as_f64().unwrap_or(0.0),
            sent_frames: e["sent_frames"].as_u64().unwrap_or(0),
        }
    }

    /// The next event, waiting up to `timeout`; kept events come first.
    pub fn next_event(&self, timeout: Duration) -> Result<Value> {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(event) = events.backlog.pop_front() {
            return Ok(event);
        }
        match events.rx.recv_timeout(timeout) {
            Ok(event) => Ok(event),
            Err(RecvTimeoutError::Timeout) => {
                bail!(
                    "no event from the call peer {} within {timeout:?}",
                    self.jid
                )
            }
            Err(RecvTimeoutError::Disconnected) => {
                bail!(
                    "the call peer {} has exited{}",
                    self.jid,
                    self.stderr_section()
                )
            }
        }
    }

    /// The first event (oldest first) for which `pred` holds, waiting up to
    /// `timeout`. Events that do not match are kept, in order.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = events.backlog.iter().position(&pred) {
            return Ok(events.backlog.remove(i).unwrap_or_default());
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match events.rx.recv_timeout(left) {
                Ok(event) if pred(&event) => return Ok(event),
                Ok(event) => events.backlog.push_back(event),
                Err(RecvTimeoutError::Timeout) => {
                    let seen: Vec<String> = events
                        .backlog
                        .iter()
                        .rev()
                        .take(20)
                        .map(Value::to_string)
                        .collect();
                    bail!(
                        "the expected event did not come from the call peer {} within \
                         {timeout:?}; latest events (newest first):\n{}{}",
                        self.jid,
                        seen.join("\n"),
                        self.stderr_section()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => bail!(
                    "the call peer {} exited before the expected event{}",
                    self.jid,
                    self.stderr_section()
                ),
            }
        }
    }

    /// Every event received so far and not yet taken, oldest first; they
    /// stay available to later waits.
    pub fn events_so_far(&self) -> Vec<Value> {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let fresh: Vec<Value> = events.rx.try_iter().collect();
        events.backlog.extend(fresh);
        events.backlog.iter().cloned().collect()
    }

    /// The last lines the peer wrote to stderr (its log).
    pub fn stderr_tail(&self) -> String {
        let lines = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        lines.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    fn stderr_section(&self) -> String {
        thread::sleep(Duration::from_millis(100));
        let tail = self.stderr_tail();
        if tail.is_empty() {
            String::new()
        } else {
            format!("\n--- call peer stderr ---\n{tail}")
        }
    }
}

impl Drop for CallPeer {
    fn drop(&mut self) {
        // EOF on stdin makes the peer hang up, sign off and exit.
        self.stdin.lock().unwrap_or_else(|e| e.into_inner()).take();
        let deadline = Instant::now() + QUIT_GRACE;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        if let Ok(pgid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill has no memory-safety preconditions; the group
            // leader is our unreaped (or just reaped) child, so the group id
            // has not been recycled.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
        let _ = self.child.wait();
    }
}
