//! Child process management: spawning with cleanup guarantees, readiness
//! polling, port helpers and log tails.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// How long a stopped server gets between SIGTERM and SIGKILL.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(5);

type Job = Box<dyn FnOnce() + Send>;

/// Children are spawned from one thread that lives as long as the process:
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, so
/// spawning from a short-lived test thread would kill a server that another
/// test still uses.
fn spawner() -> &'static Mutex<mpsc::Sender<Job>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let spawned = thread::Builder::new()
            .name("tern-testkit-spawner".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job();
                }
            });
        if let Err(err) = spawned {
            tracing::error!(%err, "cannot start the spawner thread");
        }
        Mutex::new(tx)
    })
}

/// Spawns `cmd` in its own process group, with `PR_SET_PDEATHSIG = SIGKILL`,
/// from the long-lived spawner thread.
fn spawn_guarded(mut cmd: Command) -> io::Result<Child> {
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
            // The parent may have died before prctl took effect. (An OS
            // error code, because nothing may allocate here.)
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
    {
        let sender = spawner()
            .lock()
            .map_err(|_| io::Error::other("spawner lock poisoned"))?;
        sender
            .send(job)
            .map_err(|_| io::Error::other("spawner thread is gone"))?;
    }
    rx.recv()
        .map_err(|_| io::Error::other("spawner thread dropped the request"))?
}

/// A server process that is stopped (with its whole process group and any
/// descendants) when dropped.
#[derive(Debug)]
pub(crate) struct ManagedChild {
    child: Child,
    name: String,
    reaped: Option<ExitStatus>,
}

impl ManagedChild {
    /// Spawns `cmd` with stdout and stderr appended to `output_log`.
    pub(crate) fn spawn(mut cmd: Command, name: &str, output_log: &Path) -> Result<Self> {
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(output_log)
            .with_context(|| format!("opening {}", output_log.display()))?;
        let err = out.try_clone()?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = spawn_guarded(cmd).with_context(|| format!("spawning {name}"))?;
        tracing::debug!(pid = child.id(), name, "spawned");
        Ok(Self {
            child,
            name: name.to_owned(),
            reaped: None,
        })
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Returns the exit status if the process has exited.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        if self.reaped.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.reaped = Some(status);
            }
        }
        self.reaped
    }

    /// Stops the process: SIGTERM to its group, wait up to `grace`, then
    /// SIGKILL. Descendants that left the group are killed as well.
    pub(crate) fn stop(&mut self, grace: Duration) {
        if self.exited().is_some() {
            return;
        }
        let pid = self.pid();
        let descendants = descendants_of(pid);
        signal_group(pid, libc::SIGTERM);
        let deadline = Instant::now() + grace;
        while self.exited().is_none() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        if self.exited().is_none() {
            tracing::warn!(pid, name = %self.name, "did not stop after SIGTERM, sending SIGKILL");
            signal_group(pid, libc::SIGKILL);
            match self.child.wait() {
                Ok(status) => self.reaped = Some(status),
                Err(err) => tracing::warn!(pid, %err, "wait failed"),
            }
        }
        kill_leftovers(&descendants);
    }
}

impl Drop for ManagedChild {
    fn drop(&mut self) {
        self.stop(STOP_GRACE);
    }
}

fn signal_group(pgid: u32, sig: libc::c_int) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    // SAFETY: kill has no memory-safety preconditions. The group leader is
    // our unreaped child, so the group id cannot have been recycled.
    unsafe {
        libc::kill(-pgid, sig);
    }
}

/// (pid, start time) of every descendant of `root`.
fn descendants_of(root: u32) -> Vec<(u32, u64)> {
    let mut parent_of: HashMap<u32, (u32, u64)> = HashMap::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some((ppid, start)) = stat_ppid_start(pid) {
                parent_of.insert(pid, (ppid, start));
            }
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![root];
    let mut seen = HashSet::new();
    while let Some(p) = frontier.pop() {
        for (&pid, &(ppid, start)) in &parent_of {
            if ppid == p && seen.insert(pid) {
                found.push((pid, start));
                frontier.push(pid);
            }
        }
    }
    found
}

/// Parent pid and start time (clock ticks since boot) from /proc/PID/stat.
fn stat_ppid_start(pid: u32) -> Option<(u32, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: skip past the last ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); ppid is field 4, starttime field 22.
    let ppid = fields.get(1)?.parse().ok()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((ppid, start))
}

fn kill_leftovers(processes: &[(u32, u64)]) {
    for &(pid, start) in processes {
        // Only kill if it is still the same process (pid not recycled).
        if stat_ppid_start(pid).map(|(_, s)| s) == Some(start) {
            if let Ok(pid) = libc::pid_t::try_from(pid) {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}

/// Whether a process with this pid exists (zombies count as gone).
pub fn pid_is_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => match stat.rfind(')') {
            Some(i) => !stat[i + 1..].trim_start().starts_with(['Z', 'X']),
            None => true,
        },
        Err(_) => false,
    }
}

/// Reserves `n` distinct free TCP ports on 127.0.0.1. The listeners are
/// returned so that the caller can keep them until just before the server
/// binds, which narrows the window for another process to take them.
pub(crate) fn reserve_ports(n: usize) -> Result<Vec<(u16, TcpListener)>> {
    (0..n)
        .map(|_| {
            let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding 127.0.0.1:0")?;
            Ok((l.local_addr()?.port(), l))
        })
        .collect()
}

/// A free TCP port on 127.0.0.1 that is currently closed (nothing listens),
/// for "connection refused" tests.
pub fn closed_port() -> u16 {
    match TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        // Port 1 is privileged and practically never open on loopback.
        Err(_) => 1,
    }
}

/// Socket inodes of TCP listeners on 127.0.0.1 / 0.0.0.0 / :: by port.
fn listening_inodes() -> HashMap<u16, Vec<u64>> {
    let mut map: HashMap<u16, Vec<u64>> = HashMap::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || f[3] != "0A" {
                continue;
            }
            let Some(port) = f[1]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok())
            else {
                continue;
            };
            if let Ok(inode) = f[9].parse() {
                map.entry(port).or_default().push(inode);
            }
        }
    }
    map
}

fn socket_inodes_of(pid: u32) -> HashSet<u64> {
    let mut set = HashSet::new();
    if let Ok(entries) = fs::read_dir(format!("/proc/{pid}/fd")) {
        for entry in entries.flatten() {
            if let Ok(target) = fs::read_link(entry.path()) {
                let t = target.to_string_lossy();
                if let Some(inode) = t
                    .strip_prefix("socket:[")
                    .and_then(|s| s.strip_suffix(']'))
                    .and_then(|s| s.parse().ok())
                {
                    set.insert(inode);
                }
            }
        }
    }
    set
}

/// Which of `ports` are listened on by `pid` or one of its descendants.
pub(crate) fn ports_owned_by(pid: u32, ports: &[u16]) -> Vec<u16> {
    let listening = listening_inodes();
    let mut mine = socket_inodes_of(pid);
    for (p, _) in descendants_of(pid) {
        mine.extend(socket_inodes_of(p));
    }
    ports
        .iter()
        .copied()
        .filter(|port| {
            listening
                .get(port)
                .is_some_and(|inodes| inodes.iter().any(|i| mine.contains(i)))
        })
        .collect()
}

/// Waits until `child` listens on all `ports` and they accept connections.
/// `fatal` inspects the logs and returns a message when the server reported
/// an error that makes waiting pointless.
pub(crate) fn wait_until_listening(
    child: &mut ManagedChild,
    ports: &[u16],
    timeout: Duration,
    logs: &[PathBuf],
    fatal: &dyn Fn(&str) -> Option<String>,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    // Only what this start wrote counts (logs accumulate across restarts).
    let offsets: Vec<u64> = logs
        .iter()
        .map(|l| fs::metadata(l).map(|m| m.len()).unwrap_or(0))
        .collect();
    loop {
        if let Some(status) = child.exited() {
            bail!(
                "{} exited during start-up ({status}){}",
                child.name,
                log_tails(logs)
            );
        }
        let owned = ports_owned_by(child.pid(), ports);
        if owned.len() == ports.len()
            && ports.iter().all(|p| {
                TcpStream::connect_timeout(
                    &SocketAddr::from((Ipv4Addr::LOCALHOST, *p)),
                    Duration::from_millis(500),
                )
                .is_ok()
            })
        {
            return Ok(());
        }
        let text: String = logs
            .iter()
            .zip(&offsets)
            .map(|(l, off)| read_from(l, *off))
            .collect();
        if let Some(msg) = fatal(&text) {
            bail!("{} failed to start: {msg}{}", child.name, log_tails(logs));
        }
        if Instant::now() >= deadline {
            let missing: Vec<u16> = ports
                .iter()
                .filter(|p| !owned.contains(p))
                .copied()
                .collect();
            bail!(
                "{} did not listen on ports {missing:?} within {timeout:?}{}",
                child.name,
                log_tails(logs)
            );
        }
        thread::sleep(Duration::from_millis(25));
    }
}

/// A file's content from `offset` on (lossy UTF-8), empty if unreadable.
fn read_from(path: &Path, offset: u64) -> String {
    let Ok(mut f) = fs::File::open(path) else {
        return String::new();
    };
    if f.seek(SeekFrom::Start(offset)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The last `max` bytes of a file (lossy UTF-8), empty if unreadable.
pub(crate) fn read_tail(path: &Path, max: u64) -> String {
    let Ok(mut f) = fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > max && f.seek(SeekFrom::Start(len - max)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The last lines of each log, formatted for an error message.
pub(crate) fn log_tails(logs: &[PathBuf]) -> String {
    let mut out = String::new();
    for log in logs {
        let text = read_tail(log, 16 * 1024);
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(40);
        out.push_str(&format!("\n--- tail of {} ---\n", log.display()));
        out.push_str(&lines[start..].join("\n"));
    }
    out
}

/// Runs a short-lived command with a timeout, capturing its output.
pub(crate) fn run_with_timeout(cmd: Command, timeout: Duration) -> Result<Output> {
    run_with_input(cmd, &[], timeout)
}

/// Like [`run_with_timeout`], writing `input` to the command's stdin (then
/// closing it); with empty `input` stdin is `/dev/null`.
pub(crate) fn run_with_input(mut cmd: Command, input: &[u8], timeout: Duration) -> Result<Output> {
    let program = format!("{:?}", cmd.get_program());
    let mut child = cmd
        .stdin(if input.is_empty() {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .with_context(|| format!("spawning {program}"))?;
    // Feed and drain the pipes on helper threads so nothing can block.
    if let Some(mut stdin) = child.stdin.take() {
        let input = input.to_vec();
        thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out_thread = thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let err_thread = thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            signal_group(child.id(), libc::SIGKILL);
            let _ = child.wait();
            return Err(anyhow!("{program} timed out after {timeout:?}"));
        }
        thread::sleep(Duration::from_millis(10));
    };
    let stdout = out_thread.join().unwrap_or_default();
    let stderr = err_thread.join().unwrap_or_default();
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// A name unique across parallel test processes: pid, a process-wide
/// counter and random characters.
pub(crate) fn unique_name(prefix: &str) -> String {
    use rand::Rng;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let suffix: String = rand::thread_rng()
        .sample_iter(rand::distributions::Alphanumeric)
        .take(6)
        .map(|c| char::from(c).to_ascii_lowercase())
        .collect();
    format!("{prefix}{}x{n}x{suffix}", std::process::id())
}

/// A random alphanumeric secret.
pub(crate) fn random_secret(len: usize) -> String {
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(rand::distributions::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Whether the effective user is root.
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

const OWNER_FILE: &str = "owner";
const DIR_PREFIXES: [&str; 2] = ["tern-prosody-", "tern-ejabberd-"];

/// Creates a server's temporary directory and records the owning process,
/// so that directories left behind by a killed test process can be removed
/// by a later one.
pub(crate) fn server_dir(prefix: &str) -> Result<tempfile::TempDir> {
    debug_assert!(DIR_PREFIXES.contains(&prefix));
    static SWEEP: std::sync::Once = std::sync::Once::new();
    SWEEP.call_once(sweep_stale_dirs);
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .context("creating a temporary directory")?;
    let me = std::process::id();
    let start = stat_ppid_start(me).map_or(0, |(_, s)| s);
    fs::write(dir.path().join(OWNER_FILE), format!("{me} {start}"))?;
    Ok(dir)
}

/// Removes server directories whose owning process is gone (its servers
/// died with it through `PR_SET_PDEATHSIG`).
fn sweep_stale_dirs() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !DIR_PREFIXES.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        // No owner file: being created right now, or not ours.
        let Ok(owner) = fs::read_to_string(entry.path().join(OWNER_FILE)) else {
            continue;
        };
        let mut parts = owner.split_whitespace().map(str::parse::<u64>);
        let (Some(Ok(pid)), Some(Ok(start))) = (parts.next(), parts.next()) else {
            continue;
        };
        let alive = u32::try_from(pid)
            .ok()
            .and_then(stat_ppid_start)
            .is_some_and(|(_, s)| s == start);
        if !alive {
            tracing::debug!(dir = %entry.path().display(), "removing stale server directory");
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}
