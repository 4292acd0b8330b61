//! Group chats with thousands of occupants, filled inside Prosody.
//!
//! Joining N real clients costs about N²/2 presence broadcasts, so a big
//! room is filled server-side instead: through Prosody's admin shell, each
//! occupant is created with `room:new_occupant`, given a session
//! (`occupant:set_session`) and stored (`room:save_occupant`), without any
//! broadcast. The occupants' real JIDs (`botN@bots.<domain>/x`) belong to an
//! external component (`peers/bots.py`) that accepts whatever the room sends
//! them and never bounces it (a bounce would make the room drop the
//! occupant); it can also make the occupants change presence, so that the
//! room broadcasts to everyone.

use std::collections::VecDeque;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::peer::{ensure_peer_venv, spawn_guarded};
use crate::prosody::{ComponentAccess, Prosody};

/// The component program, written to a temporary directory at start.
const BOTS_SCRIPT: &str = include_str!("../peers/bots.py");
/// How long the component gets to connect and complete its handshake.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How many occupants one shell command creates.
const FILL_BATCH: usize = 5_000;

/// A group chat on Prosody filled with injected occupants `bot1` ..
/// `botN`, whose sessions belong to the `bots.<domain>` component.
///
/// Needs a Prosody started with [`crate::ProsodyOptions::big_rooms`] (the
/// admin shell and the component). Only one `BigRoom` can be connected to a
/// given Prosody at a time (the component accepts one connection). Clients
/// that join the room after [`BigRoom::fill`] receive a presence for every
/// occupant; occupants present before the fill are not told about the bots.
///
/// Dropping it disconnects the component; the room keeps the occupants
/// until the server next sends them something and finds the component gone.
///
/// ```no_run
/// use tern_testkit::{BigRoom, Prosody, ProsodyOptions};
/// # fn main() -> tern_testkit::Result<()> {
/// let server = Prosody::start_with(ProsodyOptions::big_rooms())?;
/// let room = format!("big@{}", server.muc_domain());
/// let big = BigRoom::fill(&server, &room, 5_000)?;
/// println!("filled in {:?} of server CPU", big.fill_cpu());
/// // ... a client joins `room` and receives 5,001 presences ...
/// big.flood(200, 5.0)?; // 1,000 presence changes in 5 s
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct BigRoom {
    room: String,
    muc_host: String,
    bots_domain: String,
    bots: usize,
    fill_cpu: Duration,
    fill_elapsed: Duration,
    component: BotsComponent,
}

impl BigRoom {
    /// Connects the bots component to `prosody` and adds `n` occupants
    /// (nicks `bot1` .. `botN`, role participant) to `room` (a bare room
    /// JID on [`Prosody::muc_domain`]), creating the room (persistent,
    /// unlocked, default configuration) if it does not exist.
    pub fn fill(prosody: &Prosody, room: &str, n: usize) -> Result<BigRoom> {
        let access = prosody
            .bots_component()
            .ok_or_else(|| anyhow!("Prosody was started without ProsodyOptions::bots_component"))?;
        let (node, host) = room
            .split_once('@')
            .filter(|(node, host)| !node.is_empty() && *host == prosody.muc_domain())
            .ok_or_else(|| anyhow!("{room} is not a room JID on {}", prosody.muc_domain()))?;
        if node.contains(['"', '\\', '/', '\n']) {
            bail!("unusual room name {node:?}");
        }
        let component = BotsComponent::connect(&access)?;

        let pid = prosody.pid().context("Prosody is not running")?;
        let cpu_before = process_cpu(pid)?;
        let started = Instant::now();
        let mut count = 0;
        let mut first = 1;
        while first <= n {
            let last = (first + FILL_BATCH - 1).min(n);
            let answer = prosody.shell(&fill_lua(host, room, &access.domain, first, last))?;
            count = answer
                .lines()
                .find_map(|l| l.trim().strip_prefix("| Result: "))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| anyhow!("unexpected answer from the admin shell: {answer}"))?;
            first = last + 1;
        }
        let fill_elapsed = started.elapsed();
        let fill_cpu = process_cpu(pid)?.saturating_sub(cpu_before);
        if count < n {
            bail!("the room {room} has {count} occupants after adding {n}");
        }
        tracing::info!(room, n, ?fill_cpu, ?fill_elapsed, "big room filled");
        Ok(BigRoom {
            room: room.to_owned(),
            muc_host: host.to_owned(),
            bots_domain: access.domain.clone(),
            bots: n,
            fill_cpu,
            fill_elapsed,
            component,
        })
    }

    /// The room's bare JID.
    pub fn room(&self) -> &str {
        &self.room
    }

    /// How many occupants were injected.
    pub fn bots(&self) -> usize {
        self.bots
    }

    /// The nickname of occupant `i` (1-based): `bot<i>`.
    pub fn bot_nick(i: usize) -> String {
        format!("bot{i}")
    }

    /// Prosody's CPU time (user + system) spent while filling the room.
    pub fn fill_cpu(&self) -> Duration {
        self.fill_cpu
    }

    /// Wall time the fill took (including `prosodyctl` start-up).
    pub fn fill_elapsed(&self) -> Duration {
        self.fill_elapsed
    }

    /// Makes the occupants change presence (`show` cycles through away, xa,
    /// dnd, chat; `status` is a counter), `rate_per_sec` changes a second
    /// for `seconds`, one occupant after another, so that the room
    /// broadcasts each change to every occupant. Waits until all are sent
    /// and returns how many that was.
    pub fn flood(&self, rate_per_sec: u32, seconds: f64) -> Result<u64> {
        if self.bots == 0 || rate_per_sec == 0 || seconds <= 0.0 {
            return Ok(0);
        }
        self.component.send(json!({
            "cmd": "flood", "room": self.room, "bots": self.bots,
            "rate": rate_per_sec, "seconds": seconds,
        }))?;
        let within = Duration::from_secs_f64(seconds * 2.0 + 30.0);
        let done = self.component.wait_for(within, "flooded")?;
        Ok(done["count"].as_u64().unwrap_or(0))
    }

    /// The presence changes of a flood as the clients in the room receive
    /// them, generated inside the server: `rate_per_sec` changes a second
    /// for `seconds` (bot1, bot2, … in turn; `show` cycling through away,
    /// xa, dnd, chat; `status` `flood I`; the bot's occupant id), each sent
    /// from the room to every occupant present now that is not a bot, as
    /// the room's broadcast would. The room's own state of the bots does
    /// not change, and the bots receive nothing. [`BigRoom::flood`] goes
    /// through the room, whose handling of a change costs Prosody about
    /// 1 ms of CPU (measured with 500 and 5,000 occupants alike), so it
    /// cannot reach 1,000 a second; this costs one delivery per client.
    /// Returns at once with how many changes were scheduled and to how many
    /// occupants; `prosody` is the server of the room.
    pub fn flood_in_server(
        &self,
        prosody: &Prosody,
        rate_per_sec: u32,
        seconds: f64,
    ) -> Result<(u64, usize)> {
        let total = (f64::from(rate_per_sec) * seconds) as u64;
        let answer = prosody.shell(&flood_lua(
            &self.muc_host,
            &self.room,
            &self.bots_domain,
            self.bots,
            rate_per_sec,
            total,
        ))?;
        let recipients = answer
            .lines()
            .find_map(|l| l.trim().strip_prefix("| Result: "))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .ok_or_else(|| anyhow!("unexpected answer from the admin shell: {answer}"))?;
        Ok((total, recipients))
    }

    /// How many messages and presences the component has received so far
    /// (everything the room sent to its occupants), and how many IQ
    /// requests it answered.
    pub fn component_received(&self) -> Result<(u64, u64)> {
        self.component.send(json!({"cmd": "stats"}))?;
        let stats = self.component.wait_for(Duration::from_secs(30), "stats")?;
        Ok((
            stats["received"].as_u64().unwrap_or(0),
            stats["iqs"].as_u64().unwrap_or(0),
        ))
    }
}

/// The shell command that adds occupants `first..=last`; it answers with
/// the room's occupant count.
fn fill_lua(host: &str, room: &str, bots: &str, first: usize, last: usize) -> String {
    format!(
        r#"> local st = require "util.stanza"; local muc = prosody.hosts["{host}"].modules.muc; local room = muc.get_room_from_jid("{room}"); if not room then room = muc.create_room("{room}"); room:set_persistent(true); room:save(true) end; for i = {first}, {last} do local real = "bot" .. i .. "@{bots}/x"; local occupant = room:new_occupant("bot" .. i .. "@{bots}", room.jid .. "/bot" .. i); occupant:set_session(real, st.presence({{ from = real }}):tag("x", {{ xmlns = "http://jabber.org/protocol/muc" }}):up(), true); room:save_occupant(occupant) end; local n = 0; for _ in room:each_occupant() do n = n + 1 end; return n
"#
    )
}

/// The shell command of [`BigRoom::flood_in_server`]: a timer sending the
/// changes every 10 ms; it answers with how many occupants receive them.
fn flood_lua(host: &str, room: &str, bots: &str, n: usize, rate: u32, total: u64) -> String {
    format!(
        r#"> local st = require "util.stanza"; local timer = require "util.timer"; local now = require "util.time".now; local hmac = require "util.hashes".hmac_sha256; local b64 = require "util.encodings".base64.encode; local room = prosody.hosts["{host}"].modules.muc.get_room_from_jid("{room}"); local salt = room._data.occupant_id_salt or ""; local to = {{}}; for _, occ in pairs(room._occupants) do if not occ.bare_jid:find("@{bots}", 1, true) then for real in occ:each_session() do to[#to + 1] = real end end end; local shows = {{ "away", "xa", "dnd", "chat" }}; local sent = 0; local started = now(); local function tick() local due = math.min({total}, math.floor((now() - started) * {rate}) + 1); while sent < due do local i = sent % {n} + 1; local id = b64(hmac("bot" .. i .. "@{bots}", salt)); for _, real in ipairs(to) do room:route_stanza(st.presence({{ from = room.jid .. "/bot" .. i, to = real }}):text_tag("show", shows[(sent // {n}) % 4 + 1]):text_tag("status", "flood " .. sent):tag("x", {{ xmlns = "http://jabber.org/protocol/muc#user" }}):tag("item", {{ affiliation = "none", role = "participant" }}):up():up():tag("occupant-id", {{ xmlns = "urn:xmpp:occupant-id:0", id = id }}):up()) end; sent = sent + 1 end; if sent < {total} then return 0.01 end end; timer.add_task(0, tick); return #to
"#
    )
}

/// User + system CPU time of this process (all its threads), from
/// `getrusage`.
pub fn self_cpu() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF is always valid.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// User + system CPU time of a process, from `/proc/PID/stat`.
pub fn process_cpu(pid: u32) -> Result<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name (which may contain spaces).
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("unexpected /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 here.
    let ticks: u64 = fields
        .get(11..13)
        .ok_or_else(|| anyhow!("short /proc/{pid}/stat"))?
        .iter()
        .map(|f| f.parse::<u64>().unwrap_or(0))
        .sum();
    // SAFETY: sysconf has no preconditions.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .ok()
        .filter(|&hz| hz > 0)
        .unwrap_or(100);
    Ok(Duration::from_millis(ticks * 1000 / hz))
}

/// The `bots.py` component process, driven by JSON lines.
#[derive(Debug)]
struct BotsComponent {
    child: Child,
    stdin: Mutex<Option<ChildStdin>>,
    events: Mutex<(Receiver<Value>, VecDeque<Value>)>,
    _dir: TempDir,
}

impl BotsComponent {
    fn connect(access: &ComponentAccess) -> Result<BotsComponent> {
        let python = ensure_peer_venv()?;
        let dir = tempfile::Builder::new()
            .prefix("tern-bots-")
            .tempdir()
            .context("creating the component's directory")?;
        let script = dir.path().join("bots.py");
        fs::write(&script, BOTS_SCRIPT)?;
        let mut cmd = Command::new(python);
        cmd.arg("-u")
            .arg(&script)
            .arg(&access.domain)
            .arg(&access.secret)
            .arg("127.0.0.1")
            .arg(access.port.to_string())
            .current_dir(dir.path())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = spawn_guarded(cmd).context("spawning the bots component")?;
        let stdout = child.stdout.take().context("component stdout")?;
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel();
        thread::Builder::new()
            .name("tern-bots-stdout".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let event = serde_json::from_str::<Value>(&line)
                        .unwrap_or_else(|_| json!({"event": "invalid", "line": line}));
                    if tx.send(event).is_err() {
                        break;
                    }
                }
            })?;
        let component = BotsComponent {
            child,
            stdin: Mutex::new(stdin),
            events: Mutex::new((rx, VecDeque::new())),
            _dir: dir,
        };
        component
            .wait_for(READY_TIMEOUT, "ready")
            .with_context(|| format!("connecting the component {}", access.domain))?;
        Ok(component)
    }

    fn send(&self, cmd: Value) -> Result<()> {
        let mut line = serde_json::to_string(&cmd)?;
        line.push('\n');
        let mut stdin = self.stdin.lock().unwrap_or_else(|e| e.into_inner());
        let pipe = stdin
            .as_mut()
            .ok_or_else(|| anyhow!("the bots component has quit"))?;
        pipe.write_all(line.as_bytes())
            .and_then(|()| pipe.flush())
            .context("writing to the bots component")
    }

    /// The first event named `name`; an `error` event fails.
    fn wait_for(&self, timeout: Duration, name: &str) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let (rx, backlog) = &mut *events;
        if let Some(i) = backlog.iter().position(|e| e["event"] == name) {
            return Ok(backlog.remove(i).unwrap_or_default());
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(event) if event["event"] == name => return Ok(event),
                Ok(event) if event["event"] == "error" => {
                    bail!("the bots component failed: {}", event["message"])
                }
                Ok(event) => backlog.push_back(event),
                Err(RecvTimeoutError::Timeout) => {
                    bail!("no {name} event from the bots component within {timeout:?}")
                }
                Err(RecvTimeoutError::Disconnected) => {
                    bail!("the bots component exited before {name}")
                }
            }
        }
    }
}

impl Drop for BotsComponent {
    fn drop(&mut self) {
        self.stdin.lock().unwrap_or_else(|e| e.into_inner()).take();
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
