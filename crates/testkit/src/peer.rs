//! An independent XMPP client for interop tests: slixmpp (Python) in a
//! virtualenv, driven by JSON lines over its stdin and stdout.
//!
//! The protocol is documented at the top of `peers/peer.py`.

use std::collections::VecDeque;
use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::ca::TestCa;
use crate::install::{ensure_packages, which};
use crate::process::run_with_timeout;

/// The peer program, written next to each peer's other files at start.
const PEER_SCRIPT: &str = include_str!("../peers/peer.py");

/// What the virtualenv holds: slixmpp and slixmpp-omemo with every
/// dependency pinned, and Pillow (image metadata), so that all machines run
/// the same peer.
const REQUIREMENTS: &[&str] = &[
    "slixmpp==1.17.0",
    "slixmpp-omemo==2.2.0",
    "OMEMO==2.1.0",
    "Oldmemo==2.1.0",
    "Twomemo==2.1.0",
    "DoubleRatchet==1.3.0",
    "X3DH==1.3.0",
    "XEdDSA==1.2.0",
    "aiodns==4.0.4",
    "annotated-types==0.8.0",
    "cffi==2.1.1",
    "cryptography==50.0.2",
    "elementpath==5.1.4",
    "pillow==12.3.0",
    "protobuf==7.36.2",
    "pyasn1==0.6.5",
    "pyasn1_modules==0.4.2",
    "pycares==5.2.1",
    "pycparser==3.12",
    "pydantic==2.14.3",
    "pydantic_core==2.50.4",
    "typing-inspection==0.4.5",
    "typing_extensions==4.16.0",
    "xmlschema==4.3.2",
];

/// How long [`SlixmppPeer::start`] waits for the `ready` event.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a dropped peer gets to sign off before it is killed.
const QUIT_GRACE: Duration = Duration::from_secs(3);
/// How many stderr lines are kept for error messages.
const STDERR_LINES: usize = 200;
/// How long the group chat helpers wait for the server's answer.
const MUC_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the file methods wait (slot request, then HTTP: up to 60 s).
const FILE_TIMEOUT: Duration = Duration::from_secs(120);

/// How to sign in a [`SlixmppPeer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerOptions {
    /// The bare JID to sign in as (the server picks the resource).
    pub jid: String,
    /// The account's password.
    pub password: String,
    /// The address to connect to, e.g. `127.0.0.1` (the TLS certificate is
    /// checked against the JID's domain, not this).
    pub host: String,
    /// The port to connect to.
    pub port: u16,
    /// TLS from the first byte (XEP-0368) instead of STARTTLS.
    pub direct_tls: bool,
    /// Answer XEP-0184 receipt requests automatically, as clients do.
    pub auto_receipts: bool,
}

impl PeerOptions {
    /// STARTTLS to `host:port`, with automatic receipts.
    pub fn new(
        jid: impl Into<String>,
        password: impl Into<String>,
        host: impl Into<String>,
        port: u16,
    ) -> Self {
        Self {
            jid: jid.into(),
            password: password.into(),
            host: host.into(),
            port,
            direct_tls: false,
            auto_receipts: true,
        }
    }
}

/// How a room made by [`SlixmppPeer::muc_create`] is configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomConfig {
    /// Only members may join (`muc#roomconfig_membersonly`). Default `false`.
    pub members_only: bool,
    /// Everyone sees occupants' real JIDs (`muc#roomconfig_whois` =
    /// `anyone`); otherwise only moderators do. Default `false`.
    pub non_anonymous: bool,
    /// The room outlives its last occupant. Default `true`.
    pub persistent: bool,
    /// A password to enter the room. Default `None`.
    pub password: Option<String>,
}

impl Default for RoomConfig {
    fn default() -> Self {
        Self {
            members_only: false,
            non_anonymous: false,
            persistent: true,
            password: None,
        }
    }
}

/// Which version of XEP-0425 (message moderation) a request speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModerationVersion {
    /// `urn:xmpp:message-moderate:0` (fastening), as Prosody 0.12's
    /// `mod_muc_moderation` speaks it.
    V0,
    /// `urn:xmpp:message-moderate:1` (retraction with a `<moderate/>`), the
    /// current version.
    V1,
}

/// How [`SlixmppPeer::upload_send_with`] shares a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadOptions {
    /// The media type of the PUT and of the metadata.
    pub content_type: String,
    /// Add XEP-0447 `<file-sharing/>` with XEP-0446 metadata (name, media
    /// type, size, SHA-256; width and height of images). Default `false`.
    pub sfs: bool,
    /// The file name offered; `None`: the path's file name.
    pub name: Option<String>,
    /// A description (`<desc/>` in the metadata).
    pub desc: Option<String>,
    /// Send to a room (`type=groupchat`; `to` is the room's bare JID).
    /// Default `false`.
    pub groupchat: bool,
    /// Encrypt the file (AES-256-GCM with an IV of this many bytes, 12 or
    /// 16) and send only the `aesgcm://` URL: OMEMO-encrypted when the peer
    /// was started with [`SlixmppPeer::start_omemo`], else in the clear.
    /// Default `None`.
    pub aesgcm_iv_len: Option<u8>,
}

impl UploadOptions {
    /// A plain upload (OOB only) of a file of media type `content_type`.
    pub fn new(content_type: impl Into<String>) -> Self {
        Self {
            content_type: content_type.into(),
            sfs: false,
            name: None,
            desc: None,
            groupchat: false,
            aesgcm_iv_len: None,
        }
    }
}

/// An XMPP client (slixmpp) running as a child process, for interop tests.
///
/// Commands go to the peer as JSON objects ([`SlixmppPeer::send`] and the
/// convenience methods); everything the peer sees comes back as JSON events
/// ([`SlixmppPeer::next_event`], [`SlixmppPeer::wait_for`]). Events are
/// delivered in the order the peer emitted them; events skipped by
/// [`SlixmppPeer::wait_for`] are kept and returned by later calls.
///
/// Dropping the peer closes its stdin (it signs off) and kills its process
/// group after a short grace period; if the test process dies, the kernel
/// kills it (`PR_SET_PDEATHSIG`).
///
/// Set `TERN_PEER_DEBUG=1` to have the peer log its XML stream to stderr
/// (see [`SlixmppPeer::stderr_tail`]).
#[derive(Debug)]
pub struct SlixmppPeer {
    child: Child,
    stdin: Mutex<Option<ChildStdin>>,
    events: Mutex<Events>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    jid: String,
    omemo_device_id: Option<u32>,
    omemo_fingerprint: Option<String>,
    // Dropped last: holds the script, the CA and the OMEMO store.
    _dir: TempDir,
}

#[derive(Debug)]
struct Events {
    rx: Receiver<Value>,
    /// Received but not yet returned, oldest first.
    backlog: VecDeque<Value>,
}

/// Extra start-up settings that [`PeerOptions`] does not cover.
struct Launch {
    ca_pem: String,
    omemo: bool,
}

impl SlixmppPeer {
    /// Starts a peer that trusts [`TestCa::global`] and waits (up to 30 s)
    /// until it is signed in, has fetched its roster and sent its initial
    /// presence. Creates the virtualenv first if needed
    /// ([`ensure_peer_venv`]).
    pub fn start(opts: PeerOptions) -> Result<SlixmppPeer> {
        Self::launch(
            opts,
            Launch {
                ca_pem: TestCa::global().ca_cert_pem(),
                omemo: false,
            },
        )
    }

    /// Like [`SlixmppPeer::start`], trusting only the CA certificate
    /// `ca_pem` (PEM) instead of the test CA: for tests of certificate
    /// verification.
    pub fn start_trusting(opts: PeerOptions, ca_pem: &str) -> Result<SlixmppPeer> {
        Self::launch(
            opts,
            Launch {
                ca_pem: ca_pem.to_owned(),
                omemo: false,
            },
        )
    }

    /// Like [`SlixmppPeer::start`], with OMEMO (`eu.siacs.conversations.axolotl`,
    /// blind trust) enabled: the peer has published its device list and
    /// bundle when this returns. Every message it decrypts is reported as an
    /// `omemo_message` event and echoed back encrypted; `omemo_send` sends an
    /// encrypted message.
    pub fn start_omemo(opts: PeerOptions) -> Result<SlixmppPeer> {
        Self::launch(
            opts,
            Launch {
                ca_pem: TestCa::global().ca_cert_pem(),
                omemo: true,
            },
        )
    }

    fn launch(opts: PeerOptions, launch: Launch) -> Result<SlixmppPeer> {
        let started = Instant::now();
        let python = ensure_peer_venv()?;
        let dir = tempfile::Builder::new()
            .prefix("tern-peer-")
            .tempdir()
            .context("creating the peer's directory")?;
        let script = dir.path().join("peer.py");
        let ca = dir.path().join("ca.pem");
        fs::write(&script, PEER_SCRIPT)?;
        fs::write(&ca, &launch.ca_pem)?;

        let mut cmd = Command::new(python);
        cmd.arg("-u")
            .arg(&script)
            .arg(&opts.jid)
            .arg(&opts.password)
            .arg(&opts.host)
            .arg(opts.port.to_string())
            .arg(&ca)
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
        if !opts.auto_receipts {
            cmd.arg("--no-auto-receipts");
        }
        if launch.omemo {
            cmd.arg("--omemo").arg(dir.path().join("omemo.json"));
        }
        if std::env::var_os("TERN_PEER_DEBUG").is_some_and(|v| !v.is_empty() && v != "0") {
            cmd.arg("--debug");
        }
        let mut child = spawn_guarded(cmd).context("spawning the slixmpp peer")?;

        let stdout = child.stdout.take().context("peer stdout")?;
        let stderr_pipe = child.stderr.take().context("peer stderr")?;
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel();
        let label = opts.jid.clone();
        thread::Builder::new()
            .name("tern-peer-stdout".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let event = serde_json::from_str::<Value>(&line)
                        .unwrap_or_else(|_| json!({"event": "invalid", "line": line}));
                    tracing::debug!(peer = %label, %event, "peer event");
                    if tx.send(event).is_err() {
                        break;
                    }
                }
            })?;
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let lines = Arc::clone(&stderr);
        let label = opts.jid.clone();
        thread::Builder::new()
            .name("tern-peer-stderr".into())
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

        let mut peer = SlixmppPeer {
            child,
            stdin: Mutex::new(stdin),
            events: Mutex::new(Events {
                rx,
                backlog: VecDeque::new(),
            }),
            stderr,
            jid: String::new(),
            omemo_device_id: None,
            omemo_fingerprint: None,
            _dir: dir,
        };
        let ready = peer
            .wait_for(READY_TIMEOUT, |e| {
                matches!(e["event"].as_str(), Some("ready" | "error"))
            })
            .with_context(|| format!("starting the slixmpp peer {}", opts.jid))?;
        if ready["event"] == "error" {
            bail!(
                "the slixmpp peer {} failed to start: {}{}",
                opts.jid,
                ready["message"].as_str().unwrap_or_default(),
                peer.stderr_section()
            );
        }
        peer.jid = ready["jid"]
            .as_str()
            .ok_or_else(|| anyhow!("ready event without a jid: {ready}"))?
            .to_owned();
        peer.omemo_device_id = ready["omemo_device_id"]
            .as_u64()
            .and_then(|id| u32::try_from(id).ok());
        peer.omemo_fingerprint = ready["omemo_fingerprint"].as_str().map(str::to_owned);
        tracing::info!(jid = %peer.jid, elapsed = ?started.elapsed(), "slixmpp peer ready");
        Ok(peer)
    }

    /// The full JID the peer is bound to (from its `ready` event).
    pub fn jid(&self) -> &str {
        &self.jid
    }

    /// The bare JID the peer is signed in as.
    pub fn bare_jid(&self) -> &str {
        self.jid.split('/').next().unwrap_or(&self.jid)
    }

    /// The peer's OMEMO device id, when started with
    /// [`SlixmppPeer::start_omemo`].
    pub fn omemo_device_id(&self) -> Option<u32> {
        self.omemo_device_id
    }

    /// The peer's OMEMO fingerprint as python-omemo shows it (8 groups of
    /// 8 lowercase hex characters), when started with
    /// [`SlixmppPeer::start_omemo`].
    pub fn omemo_fingerprint(&self) -> Option<&str> {
        self.omemo_fingerprint.as_deref()
    }

    /// The process id of the peer.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends one command (a JSON object with a `cmd` field) to the peer.
    pub fn send(&self, cmd: Value) -> Result<()> {
        let mut line = serde_json::to_string(&cmd)?;
        line.push('\n');
        let mut stdin = self.stdin.lock().unwrap_or_else(|e| e.into_inner());
        let pipe = stdin
            .as_mut()
            .ok_or_else(|| anyhow!("the peer {} was told to quit", self.jid))?;
        pipe.write_all(line.as_bytes())
            .and_then(|()| pipe.flush())
            .with_context(|| format!("writing to the peer {}{}", self.jid, self.stderr_section()))
    }

    /// Sends a chat message with a XEP-0184 receipt request, a XEP-0333
    /// markable element and origin-id `id` (also the stanza id).
    pub fn send_message(&self, to: &str, body: &str, id: &str) -> Result<()> {
        self.send(json!({
            "cmd": "send", "to": to, "body": body, "id": id,
            "receipt": true, "markable": true,
        }))
    }

    /// Sends a XEP-0308 correction of message `replace_id`, with stanza id
    /// (and origin-id) `id`.
    pub fn correct(&self, to: &str, replace_id: &str, body: &str, id: &str) -> Result<()> {
        self.send(json!({
            "cmd": "correct", "to": to, "replace_id": replace_id, "body": body, "id": id,
        }))
    }

    /// Sends a XEP-0424 retraction of message `id` (with a fallback body).
    pub fn retract(&self, to: &str, id: &str) -> Result<()> {
        self.send(json!({"cmd": "retract", "to": to, "id": id}))
    }

    /// Sends XEP-0444 reactions to message `id` (replacing earlier ones;
    /// empty removes them).
    pub fn react(&self, to: &str, id: &str, emojis: &[&str]) -> Result<()> {
        self.send(json!({"cmd": "react", "to": to, "id": id, "emojis": emojis}))
    }

    /// Sends a XEP-0085 chat state (`active`, `composing`, `paused`,
    /// `inactive` or `gone`).
    pub fn chatstate(&self, to: &str, state: &str) -> Result<()> {
        self.send(json!({"cmd": "chatstate", "to": to, "state": state}))
    }

    /// Sends a XEP-0333 displayed marker for message `id`.
    pub fn displayed(&self, to: &str, id: &str) -> Result<()> {
        self.send(json!({"cmd": "displayed", "to": to, "id": id}))
    }

    /// Asks `to` for a presence subscription.
    pub fn subscribe(&self, to: &str) -> Result<()> {
        self.send(json!({"cmd": "subscribe", "to": to}))
    }

    /// Approves the presence subscription request of `to`.
    pub fn approve(&self, to: &str) -> Result<()> {
        self.send(json!({"cmd": "approve", "to": to}))
    }

    /// Broadcasts presence: `show` is `away`, `chat`, `dnd`, `xa` or `None`
    /// for plain available.
    pub fn presence(&self, show: Option<&str>, status: Option<&str>) -> Result<()> {
        self.send(json!({"cmd": "presence", "show": show, "status": status}))
    }

    /// Writes `xml` to the stream as it is (for hostile-input tests).
    pub fn raw(&self, xml: &str) -> Result<()> {
        self.send(json!({"cmd": "raw", "xml": xml}))
    }

    /// Stops answering disco#info requests (they are still reported as
    /// `iq_request` events): for tests where someone else answers them.
    pub fn quiet_disco(&self) -> Result<()> {
        self.send(json!({"cmd": "quiet_disco"}))?;
        // Requests sent after this returns find the handler gone.
        self.wait_for(Duration::from_secs(30), |e| e["event"] == "disco_quiet")?;
        Ok(())
    }

    /// Sends `count` directed presences to `to`, each with entity caps and
    /// a vCard avatar hash never seen before, and waits (up to `within`)
    /// until all are handed to the socket.
    pub fn flood(&self, to: &str, count: usize, within: Duration) -> Result<()> {
        self.send(json!({"cmd": "flood", "to": to, "count": count}))?;
        self.wait_for(within, |e| e["event"] == "flooded")?;
        Ok(())
    }

    /// Sends an `<iq/>` (as XML text, `jabber:client` is implied) and returns
    /// the answer: the `iq_result` event, with `type` (`result`, `error` or
    /// `timeout`) and `xml`.
    pub fn iq(&self, xml: &str, timeout: Duration) -> Result<Value> {
        self.send(json!({"cmd": "iq", "xml": xml, "timeout": timeout.as_secs_f64()}))?;
        self.wait_for(timeout + Duration::from_secs(5), |e| {
            e["event"] == "iq_result"
        })
    }

    /// Sends an OMEMO-encrypted chat message (peers from
    /// [`SlixmppPeer::start_omemo`] only).
    pub fn omemo_send(&self, to: &str, body: &str, id: &str) -> Result<()> {
        self.send(json!({"cmd": "omemo_send", "to": to, "body": body, "id": id}))
    }

    /// Sends an OMEMO-encrypted correction (XEP-0308) of the message
    /// `replace_id`, its new text encrypted, the reference in the clear.
    pub fn omemo_correct(&self, to: &str, replace_id: &str, body: &str, id: &str) -> Result<()> {
        self.send(json!({"cmd": "omemo_send", "to": to, "body": body, "id": id, "replace_id": replace_id}))
    }

    /// Sends `count` OMEMO-encrypted messages to `to`, in order, with ids
    /// and bodies `prefix-0` ..; returns when all went out.
    pub fn omemo_flood(
        &self,
        to: &str,
        count: usize,
        prefix: &str,
        within: Duration,
    ) -> Result<()> {
        self.send(json!({"cmd": "omemo_flood", "to": to, "count": count, "prefix": prefix}))?;
        self.wait_for(within, |e| e["event"] == "omemo_flooded")?;
        Ok(())
    }

    /// Uploads the file at `path` to the peer's own server (XEP-0363, over
    /// HTTPS trusting the test CA) and sends `to` a chat message with id
    /// `id` whose body is the GET URL, with a XEP-0066 OOB element and, with
    /// `sfs`, XEP-0447/0446 metadata. Returns the URL; fails with the
    /// `upload_failed` event (e.g. `file-too-large`) when the server refuses.
    pub fn upload_send(
        &self,
        to: &str,
        path: &Path,
        content_type: &str,
        id: &str,
        sfs: bool,
    ) -> Result<String> {
        let opts = UploadOptions {
            sfs,
            ..UploadOptions::new(content_type)
        };
        self.upload_send_with(to, path, id, &opts)
    }

    /// Like [`SlixmppPeer::upload_send`], with all options.
    pub fn upload_send_with(
        &self,
        to: &str,
        path: &Path,
        id: &str,
        opts: &UploadOptions,
    ) -> Result<String> {
        let event = self.try_upload_send(to, path, id, opts)?;
        if event["event"] != "uploaded" {
            bail!("uploading {} failed: {event}", path.display());
        }
        event["url"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("uploaded event without a url: {event}"))
    }

    /// Like [`SlixmppPeer::upload_send_with`], returning what the peer
    /// reported: the `uploaded` event (`url`, `size`, `sha256` hex) or the
    /// `upload_failed` event (`stage` `discover`, `slot` or `put`;
    /// `condition`, `text` and `max_file_size` of a refused slot; `status`
    /// of a failed PUT). Fails only when the peer reports neither.
    pub fn try_upload_send(
        &self,
        to: &str,
        path: &Path,
        id: &str,
        opts: &UploadOptions,
    ) -> Result<Value> {
        self.send(json!({
            "cmd": "upload_send", "to": to, "path": path.to_string_lossy(), "id": id,
            "content_type": opts.content_type, "sfs": opts.sfs, "name": opts.name,
            "desc": opts.desc, "type": if opts.groupchat { "groupchat" } else { "chat" },
            "encrypt": opts.aesgcm_iv_len.is_some(), "iv_len": opts.aesgcm_iv_len.unwrap_or(12),
        }))?;
        let event = self.wait_for(FILE_TIMEOUT, |e| {
            (matches!(e["event"].as_str(), Some("uploaded" | "upload_failed")) && e["id"] == id)
                || is_command_error(e, "upload_send")
        })?;
        if event["event"] == "error" {
            bail!("upload_send failed: {}", event["message"]);
        }
        Ok(event)
    }

    /// Asks the peer's own server for an upload slot (nothing is uploaded)
    /// and returns the `upload_slot` event (`service`, `put`, `get`,
    /// `headers`, `max_file_size`) or the `upload_failed` event (`stage`
    /// `discover` or `slot`, `condition`, `max_file_size` from
    /// `<file-too-large/>`).
    pub fn upload_slot(&self, filename: &str, size: u64, content_type: &str) -> Result<Value> {
        self.send(json!({
            "cmd": "upload_slot", "filename": filename, "size": size,
            "content_type": content_type,
        }))?;
        let event = self.wait_for(FILE_TIMEOUT, |e| {
            e["event"] == "upload_slot"
                || (e["event"] == "upload_failed" && e["id"].is_null())
                || is_command_error(e, "upload_slot")
        })?;
        if event["event"] == "error" {
            bail!("upload_slot failed: {}", event["message"]);
        }
        Ok(event)
    }

    /// Downloads `url` (https, or aesgcm:// which is decrypted) over HTTPS
    /// trusting the test CA, following redirects, into `path`. Returns the
    /// `downloaded` event (`sha256` hex, `size`, `content_type`, `status`);
    /// fails on a non-2xx status, a connection failure or a failed
    /// decryption.
    pub fn download(&self, url: &str, path: &Path) -> Result<Value> {
        let event = self.try_download(url, path)?;
        if event["event"] != "downloaded" {
            bail!("downloading {url} failed: {event}");
        }
        Ok(event)
    }

    /// Like [`SlixmppPeer::download`], returning the `download_failed`
    /// event (`status`, `message`) instead of failing.
    pub fn try_download(&self, url: &str, path: &Path) -> Result<Value> {
        self.send(json!({"cmd": "download", "url": url, "path": path.to_string_lossy()}))?;
        let event = self.wait_for(FILE_TIMEOUT, |e| {
            (matches!(e["event"].as_str(), Some("downloaded" | "download_failed"))
                && e["url"] == url)
                || is_command_error(e, "download")
        })?;
        if event["event"] == "error" {
            bail!("download failed: {}", event["message"]);
        }
        Ok(event)
    }

    /// Reads the image at `path` with Pillow: the `image_meta` event with
    /// `format` (`JPEG`, `PNG`, ...), `width`, `height`, `exif` (tag names
    /// to values) and `gps` (whether GPS data is present).
    pub fn image_meta(&self, path: &Path) -> Result<Value> {
        let path = path.to_string_lossy();
        self.send(json!({"cmd": "image_meta", "path": path}))?;
        let event = self.wait_for(FILE_TIMEOUT, |e| {
            (matches!(
                e["event"].as_str(),
                Some("image_meta" | "image_meta_failed")
            ) && e["path"] == *path)
                || is_command_error(e, "image_meta")
        })?;
        if event["event"] != "image_meta" {
            bail!("reading the image {path} failed: {event}");
        }
        Ok(event)
    }

    /// Turns the echo of decrypted OMEMO messages on or off (peers from
    /// [`SlixmppPeer::start_omemo`] echo by default; two echoing peers would
    /// answer each other forever).
    pub fn set_omemo_echo(&self, enabled: bool) -> Result<()> {
        self.send(json!({"cmd": "omemo_echo", "enabled": enabled}))
    }

    /// Joins the group chat `room` (a bare room JID) as `nick` and waits for
    /// the room's self-presence: the `muc_joined` event, with `role`,
    /// `affiliation`, `codes` (status codes) and `occupant_id`. Fails with
    /// the error condition if the room refuses (e.g. `forbidden` when
    /// banned, `registration-required` for members only, `item-not-found`
    /// while a new room is locked).
    pub fn muc_join(&self, room: &str, nick: &str) -> Result<Value> {
        self.muc_join_with(room, nick, None, None)
    }

    /// Like [`SlixmppPeer::muc_join`] with a room password and a history
    /// limit (`<history maxstanzas/>`; `None` leaves the server's default).
    pub fn muc_join_with(
        &self,
        room: &str,
        nick: &str,
        password: Option<&str>,
        max_stanzas: Option<u32>,
    ) -> Result<Value> {
        self.send(json!({
            "cmd": "muc_join", "room": room, "nick": nick,
            "password": password, "maxstanzas": max_stanzas,
        }))?;
        self.muc_outcome(room, "muc_joined")
    }

    /// Creates `room` (joining it as `nick`, its owner) and submits the
    /// configuration form, which unlocks it for others. Returns the
    /// `muc_created` event; its `new` is `false` when the room already
    /// existed (it is then joined, not reconfigured).
    pub fn muc_create(&self, room: &str, nick: &str, config: &RoomConfig) -> Result<Value> {
        self.send(json!({
            "cmd": "muc_create", "room": room, "nick": nick,
            "members_only": config.members_only, "non_anonymous": config.non_anonymous,
            "persistent": config.persistent, "password": config.password,
        }))?;
        self.muc_outcome(room, "muc_created")
    }

    fn muc_outcome(&self, room: &str, success: &str) -> Result<Value> {
        let event = self
            .wait_for(MUC_TIMEOUT, |e| {
                e["room"] == room && (e["event"] == success || e["event"] == "muc_error")
            })
            .with_context(|| format!("joining {room}"))?;
        if event["event"] == "muc_error" {
            bail!(
                "the room {room} refused {}: {} {}",
                self.jid,
                event["condition"].as_str().unwrap_or("(no condition)"),
                event["text"].as_str().unwrap_or_default()
            );
        }
        Ok(event)
    }

    /// Leaves `room` (unavailable presence to the occupant JID).
    pub fn muc_leave(&self, room: &str) -> Result<()> {
        self.send(json!({"cmd": "muc_leave", "room": room}))
    }

    /// Changes the peer's nickname in `room`; the room answers with
    /// `muc_presence` events (status 303, then the new self-presence).
    pub fn muc_nick(&self, room: &str, nick: &str) -> Result<()> {
        self.send(json!({"cmd": "muc_nick", "room": room, "nick": nick}))
    }

    /// Sends presence to `room` only (`show` as in
    /// [`SlixmppPeer::presence`]).
    pub fn muc_presence(&self, room: &str, show: Option<&str>, status: Option<&str>) -> Result<()> {
        self.send(json!({"cmd": "muc_presence", "room": room, "show": show, "status": status}))
    }

    /// Sends a `groupchat` message to `room` with stanza id (and origin-id)
    /// `id`; the room reflects it back with its own stanza-id.
    pub fn muc_send(&self, room: &str, body: &str, id: &str) -> Result<()> {
        self.send(json!({"cmd": "muc_send", "room": room, "body": body, "id": id}))
    }

    /// Sends an OMEMO-encrypted `groupchat` message to `room`, encrypted
    /// for the devices of the members `to` (needs `--omemo`). Each member
    /// decrypts it under the sender's real JID.
    pub fn muc_omemo_send(&self, room: &str, to: &[&str], body: &str, id: &str) -> Result<()> {
        self.send(json!({"cmd": "muc_omemo_send", "room": room, "to": to, "body": body, "id": id}))
    }

    /// Sends a private message (`type=chat`, with a muc#user `<x/>`) to the
    /// occupant `nick` of `room`.
    pub fn muc_pm(&self, room: &str, nick: &str, body: &str, id: &str) -> Result<()> {
        self.send(json!({"cmd": "muc_pm", "room": room, "nick": nick, "body": body, "id": id}))
    }

    /// Sets the subject of `room` (the room answers with `muc_subject`
    /// events, or an error message when the peer may not change it).
    pub fn muc_subject(&self, room: &str, subject: &str) -> Result<()> {
        self.send(json!({"cmd": "muc_subject", "room": room, "subject": subject}))
    }

    /// Gives the occupant `nick` the role `role` (`none` kicks, `visitor`,
    /// `participant`, `moderator`) and waits for the room's answer.
    pub fn muc_role(&self, room: &str, nick: &str, role: &str, reason: Option<&str>) -> Result<()> {
        self.send(json!({
            "cmd": "muc_role", "room": room, "nick": nick, "role": role, "reason": reason,
        }))?;
        self.muc_iq_done("muc_role", room)
    }

    /// Gives the bare `jid` the affiliation `affiliation` (`outcast` bans,
    /// `none`, `member`, `admin`, `owner`) and waits for the room's answer.
    pub fn muc_affiliation(
        &self,
        room: &str,
        jid: &str,
        affiliation: &str,
        reason: Option<&str>,
    ) -> Result<()> {
        self.send(json!({
            "cmd": "muc_affiliation", "room": room, "jid": jid,
            "affiliation": affiliation, "reason": reason,
        }))?;
        self.muc_iq_done("muc_affiliation", room)
    }

    /// Destroys `room` (owner only) and waits for the room's answer.
    pub fn muc_destroy(&self, room: &str, reason: Option<&str>) -> Result<()> {
        self.send(json!({"cmd": "muc_destroy", "room": room, "reason": reason}))?;
        self.muc_iq_done("muc_destroy", room)
    }

    /// Asks `room` to retract the message with the room's stanza-id
    /// `stanza_id` (XEP-0425, moderators only) and waits for the answer.
    /// Occupants then get a `muc_moderated` event.
    pub fn muc_moderate(
        &self,
        room: &str,
        stanza_id: &str,
        reason: Option<&str>,
        version: ModerationVersion,
    ) -> Result<()> {
        let ns = match version {
            ModerationVersion::V0 => "0",
            ModerationVersion::V1 => "1",
        };
        self.send(json!({
            "cmd": "muc_moderate", "room": room, "stanza_id": stanza_id,
            "reason": reason, "ns": ns,
        }))?;
        self.muc_iq_done("muc_moderate", room)
    }

    /// The last `max` messages `room` archived (XEP-0313 query to the
    /// room), oldest first: objects with `stanza_id`, `from`, `id`, `body`
    /// and `occupant_id`.
    pub fn muc_history(&self, room: &str, max: usize) -> Result<Vec<Value>> {
        self.send(json!({"cmd": "muc_history", "room": room, "max": max}))?;
        let event = self.wait_for(MUC_TIMEOUT, |e| {
            e["room"] == room
                && (e["event"] == "muc_history"
                    || (e["event"] == "muc_iq" && e["cmd"] == "muc_history"))
        })?;
        if event["event"] == "muc_iq" {
            bail!("the archive of {room} refused the query: {event}");
        }
        Ok(event["items"].as_array().cloned().unwrap_or_default())
    }

    /// Publishes a XEP-0402 bookmark (`urn:xmpp:bookmarks:1`, item id the
    /// room, whitelist access, as many items as the server allows) and waits
    /// for the server's answer.
    pub fn bookmark_add(
        &self,
        room: &str,
        name: Option<&str>,
        nick: Option<&str>,
        autojoin: bool,
    ) -> Result<()> {
        self.send(json!({
            "cmd": "bookmark_add", "room": room, "name": name, "nick": nick,
            "autojoin": autojoin,
        }))?;
        self.muc_iq_done("bookmark_add", room)
    }

    /// Retracts the XEP-0402 bookmark of `room` and waits for the answer.
    pub fn bookmark_remove(&self, room: &str) -> Result<()> {
        self.send(json!({"cmd": "bookmark_remove", "room": room}))?;
        self.muc_iq_done("bookmark_remove", room)
    }

    /// The account's XEP-0402 bookmarks: objects with `room`, `name`, `nick`
    /// and `autojoin` (empty when the node does not exist).
    pub fn bookmarks(&self) -> Result<Vec<Value>> {
        self.send(json!({"cmd": "bookmarks_get"}))?;
        let event = self.wait_for(MUC_TIMEOUT, |e| {
            e["event"] == "bookmarks" || (e["event"] == "muc_iq" && e["cmd"] == "bookmarks_get")
        })?;
        if event["event"] == "muc_iq" {
            bail!("fetching bookmarks failed: {event}");
        }
        Ok(event["items"].as_array().cloned().unwrap_or_default())
    }

    /// Sends a direct invitation (XEP-0249) to `room` to the JID `to`.
    pub fn invite_direct(&self, to: &str, room: &str, reason: Option<&str>) -> Result<()> {
        self.send(json!({"cmd": "invite_direct", "to": to, "room": room, "reason": reason}))
    }

    /// Asks `room` to invite the JID `to` (a mediated invitation,
    /// XEP-0045 7.8.2).
    pub fn invite_mediated(&self, room: &str, to: &str, reason: Option<&str>) -> Result<()> {
        self.send(json!({"cmd": "invite_mediated", "room": room, "to": to, "reason": reason}))
    }

    /// Waits for the `muc_iq` answer to the command `cmd` about `room`.
    fn muc_iq_done(&self, cmd: &str, room: &str) -> Result<()> {
        let event = self.wait_for(MUC_TIMEOUT, |e| {
            e["event"] == "muc_iq" && e["cmd"] == cmd && e["room"] == room
        })?;
        if event["type"] != "result" {
            bail!(
                "{cmd} on {room} failed ({}): {} {}",
                event["type"].as_str().unwrap_or_default(),
                event["condition"].as_str().unwrap_or("(no condition)"),
                event["text"].as_str().unwrap_or_default()
            );
        }
        Ok(())
    }

    /// The next event, waiting up to `timeout`. Events kept by
    /// [`SlixmppPeer::wait_for`] come first.
    pub fn next_event(&self, timeout: Duration) -> Result<Value> {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(event) = events.backlog.pop_front() {
            return Ok(event);
        }
        match events.rx.recv_timeout(timeout) {
            Ok(event) => Ok(event),
            Err(RecvTimeoutError::Timeout) => {
                bail!("no event from the peer {} within {timeout:?}", self.jid)
            }
            Err(RecvTimeoutError::Disconnected) => {
                bail!("the peer {} has exited{}", self.jid, self.stderr_section())
            }
        }
    }

    /// The first event (oldest first) for which `pred` holds, waiting up to
    /// `timeout`. Events that do not match are kept, in order, for later
    /// calls of [`SlixmppPeer::next_event`] and [`SlixmppPeer::wait_for`]
    /// ([`SlixmppPeer::clear_events`] discards them).
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
                        "the expected event did not come from the peer {} within {timeout:?}; \
                         latest events (newest first):\n{}{}",
                        self.jid,
                        seen.join("\n"),
                        self.stderr_section()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => bail!(
                    "the peer {} exited before the expected event{}",
                    self.jid,
                    self.stderr_section()
                ),
            }
        }
    }

    /// Discards all events received so far and returns them.
    pub fn clear_events(&self) -> Vec<Value> {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<Value> = events.backlog.drain(..).collect();
        all.extend(events.rx.try_iter());
        all
    }

    /// The last lines the peer wrote to stderr (its log).
    pub fn stderr_tail(&self) -> String {
        let lines = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        lines.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    fn stderr_section(&self) -> String {
        // Give the reader thread a moment to collect a dying peer's output.
        thread::sleep(Duration::from_millis(100));
        let tail = self.stderr_tail();
        if tail.is_empty() {
            String::new()
        } else {
            format!("\n--- peer stderr ---\n{tail}")
        }
    }

    /// Signs off and waits (up to 10 s) for the peer to exit.
    pub fn quit(mut self) -> Result<()> {
        self.send(json!({"cmd": "quit"}))?;
        self.stdin.lock().unwrap_or_else(|e| e.into_inner()).take();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                if status.success() {
                    return Ok(());
                }
                bail!("the peer exited with {status}{}", self.stderr_section());
            }
            thread::sleep(Duration::from_millis(20));
        }
        bail!("the peer did not exit within 10 s of quit")
    }
}

impl Drop for SlixmppPeer {
    fn drop(&mut self) {
        // EOF on stdin makes the peer sign off and exit.
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

/// Whether `event` reports that the command `cmd` failed before it could
/// report anything itself (e.g. a missing file).
fn is_command_error(event: &Value, cmd: &str) -> bool {
    event["event"] == "error"
        && event["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("\"cmd\":\"{cmd}\"")))
}

type Job = Box<dyn FnOnce() + Send>;

/// Children are forked from one long-lived thread: `PR_SET_PDEATHSIG`
/// fires when the forking *thread* exits, and a peer may outlive the test
/// thread that started it.
fn spawner() -> &'static Mutex<mpsc::Sender<Job>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let spawned = thread::Builder::new()
            .name("tern-peer-spawner".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job();
                }
            });
        if let Err(err) = spawned {
            tracing::error!(%err, "cannot start the peer spawner thread");
        }
        Mutex::new(tx)
    })
}

/// Spawns `cmd` in its own process group with `PR_SET_PDEATHSIG = SIGKILL`.
pub(crate) fn spawn_guarded(mut cmd: Command) -> io::Result<Child> {
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    cmd.process_group(0);
    // SAFETY: the closure runs between fork and exec and only calls
    // async-signal-safe functions (prctl, getppid); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    let (tx, rx) = mpsc::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(cmd.spawn());
    });
    spawner()
        .lock()
        .map_err(|_| io::Error::other("peer spawner lock poisoned"))?
        .send(job)
        .map_err(|_| io::Error::other("peer spawner thread is gone"))?;
    rx.recv()
        .map_err(|_| io::Error::other("peer spawner dropped the request"))?
}

/// Creates (once, under a file lock shared by all processes) a virtualenv at
/// `$HOME/.cache/tern/peer-venv` with slixmpp 1.17, slixmpp-omemo 2.2 and
/// Pillow 12.3 installed from PyPI (all versions pinned) and returns its
/// `python`.
///
/// Installs `python3` and `python3-venv` with apt first if they are missing.
/// A virtualenv whose pinned set differs from this crate's is rebuilt.
pub fn ensure_peer_venv() -> Result<PathBuf> {
    ensure_venv(
        "peer-venv",
        REQUIREMENTS,
        "import slixmpp, slixmpp_omemo, oldmemo, PIL.Image",
    )
}

/// Creates (once, under a file lock shared by all processes) the virtualenv
/// `$HOME/.cache/tern/<name>` holding exactly `requirements` (pinned, from
/// PyPI), checks it with `python -c <import_check>` and returns its
/// `python`. A virtualenv whose recorded requirements differ is rebuilt; one
/// that matches costs a file read.
pub(crate) fn ensure_venv(
    name: &str,
    requirements: &[&str],
    import_check: &str,
) -> Result<PathBuf> {
    static DONE: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, python)) = done.iter().find(|(n, _)| n == name) {
        return Ok(python.clone());
    }
    let cache = cache_dir();
    fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    let venv = cache.join(name);
    let python = venv.join("bin").join("python");
    let marker = venv.join(".tern-requirements");
    let wanted = requirements.join("\n");
    let current = || fs::read_to_string(&marker).is_ok_and(|m| m == wanted) && python.exists();
    if !current() {
        let lock_path = cache.join(format!("{name}.lock"));
        let lock = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&lock_path)
            .with_context(|| format!("opening {}", lock_path.display()))?;
        // SAFETY: flock on a valid, open file descriptor.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io::Error::last_os_error())
                .with_context(|| format!("locking the virtualenv {name}"));
        }
        // Another process may have built it while we waited.
        if !current() {
            build_venv(&venv, &python, requirements, import_check)?;
            fs::write(&marker, &wanted)?;
        }
        // The lock is released when `lock` is closed.
    }
    done.push((name.to_owned(), python.clone()));
    Ok(python)
}

pub(crate) fn cache_dir() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map_or_else(std::env::temp_dir, PathBuf::from)
        .join(".cache")
        .join("tern")
}

fn build_venv(venv: &Path, python: &Path, requirements: &[&str], import_check: &str) -> Result<()> {
    let started = Instant::now();
    ensure_packages(&["python3", "python3-venv"])?;
    let python3 = which("python3").context("python3 not found")?;
    if venv.exists() {
        fs::remove_dir_all(venv).with_context(|| format!("removing {}", venv.display()))?;
    }
    tracing::info!(venv = %venv.display(), "creating a peer virtualenv");
    let mut cmd = Command::new(python3);
    cmd.args(["-m", "venv"]).arg(venv);
    check(
        run_with_timeout(cmd, Duration::from_secs(300))?,
        "python3 -m venv",
    )?;
    let mut cmd = Command::new(python);
    cmd.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
    ])
    .args(requirements);
    check(
        run_with_timeout(cmd, Duration::from_secs(1200))?,
        "pip install",
    )?;
    let mut cmd = Command::new(python);
    cmd.args(["-c", import_check]);
    check(
        run_with_timeout(cmd, Duration::from_secs(60))?,
        "importing the peer's modules",
    )?;
    tracing::info!(venv = %venv.display(), elapsed = ?started.elapsed(), "peer virtualenv ready");
    Ok(())
}

fn check(out: std::process::Output, what: &str) -> Result<()> {
    if out.status.success() {
        return Ok(());
    }
    bail!(
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
