//! Prosody (with coturn) as a child process.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use tempfile::TempDir;

use crate::ca::{Leaf, TestCa};
use crate::coturn::Coturn;
use crate::federation::{wait_for_listener, S2sSetup};
use crate::install::{ensure_packages, which, PROSODY_PACKAGES};
use crate::process::{
    is_root, pid_is_alive, random_secret, reserve_ports, run_with_input, run_with_timeout,
    server_dir, unique_name, wait_until_listening, ManagedChild, STOP_GRACE,
};

const START_TIMEOUT: Duration = Duration::from_secs(20);
const START_ATTEMPTS: usize = 3;
const PORT_CONFLICT: &str = "Failed to open server port";
/// What `prosodyctl shell` prints before each answer.
const SHELL_PROMPT: &str = "prosody> ";

/// Options for [`Prosody::start_with`].
#[derive(Clone, Debug)]
pub struct ProsodyOptions {
    /// The XMPP domain of the virtual host. Default `"localhost"`.
    pub domain: String,
    /// Whether XEP-0077 in-band registration is allowed. Default `true`.
    pub allow_registration: bool,
    /// Load `mod_admin_shell`, so that [`Prosody::shell`] can run Lua inside
    /// the server. Default `false`.
    pub admin_shell: bool,
    /// Define an external component (XEP-0114) `bots.<domain>` with a
    /// secret, listening on a free `component_ports` port on 127.0.0.1
    /// ([`Prosody::bots_component`]). Default `false`.
    pub bots_component: bool,
    /// Define the XEP-0363 upload component `upload.<domain>`
    /// (`http_file_share`). Without it the domain's disco items and infos
    /// list no upload service. Default `true`.
    pub upload: bool,
    /// The largest file the upload component hands out a slot for
    /// (`http_file_share_size_limit`, bytes); larger requests are refused
    /// with `<file-too-large/>`. `None`: Prosody's default, 10 MiB.
    pub upload_size_limit: Option<u64>,
    /// The port of the upload URLs the component hands out
    /// (`https://localhost:PORT/...`), e.g. that of a [`crate::TcpProxy`]
    /// started before Prosody ([`crate::TcpProxy::start_without_target`])
    /// and then pointed at [`Prosody::https_port`]. `None`: the HTTPS port
    /// itself.
    pub upload_external_port: Option<u16>,
    /// The only media types the upload component takes
    /// (`http_file_share_allowed_file_types`); others are refused with
    /// `not-acceptable`. Empty: all. Default empty.
    pub upload_allowed_types: Vec<String>,
    /// coturn checks TURN credentials against another secret than the one
    /// Prosody signs them with (`turn_external_secret`): the credentials
    /// Prosody hands out by XEP-0215 are well formed and every allocation
    /// with them is refused (401). Default `false`.
    pub turn_refuses: bool,
}

impl Default for ProsodyOptions {
    fn default() -> Self {
        Self {
            domain: "localhost".into(),
            allow_registration: true,
            admin_shell: false,
            bots_component: false,
            upload: true,
            upload_size_limit: None,
            upload_external_port: None,
            upload_allowed_types: Vec::new(),
            turn_refuses: false,
        }
    }
}

impl ProsodyOptions {
    /// The defaults plus what [`crate::BigRoom`] needs: the admin shell and
    /// the `bots.<domain>` component.
    pub fn big_rooms() -> Self {
        Self {
            admin_shell: true,
            bots_component: true,
            ..Self::default()
        }
    }
}

/// Where an external component (XEP-0114) connects: see
/// [`Prosody::bots_component`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentAccess {
    /// The component's domain, `bots.<domain>`.
    pub domain: String,
    /// The port on 127.0.0.1 (plain TCP, `jabber:component:accept`).
    pub port: u16,
    /// The handshake secret (`component_secret`).
    pub secret: String,
}

/// The ports a Prosody instance listens on (all on 127.0.0.1 except s2s,
/// which may listen on another loopback address for federation).
#[derive(Clone, Copy, Debug)]
struct Ports {
    c2s: u16,
    direct_tls: u16,
    s2s: SocketAddr,
    http: u16,
    https: u16,
    turn: u16,
    /// The external component port, when the bots component is defined.
    component: Option<u16>,
}

/// A Prosody 0.12 server running as a child process on 127.0.0.1, with its
/// own data directory, a certificate from [`TestCa::global`] and a coturn
/// server for XEP-0215.
///
/// Dropping it stops Prosody and coturn and deletes the data directory.
#[derive(Debug)]
pub struct Prosody {
    opts: ProsodyOptions,
    ports: Ports,
    leaf: Leaf,
    turn_secret: String,
    component_secret: String,
    config: PathBuf,
    child: Option<ManagedChild>,
    turn: Option<Coturn>,
    // Dropped last: the processes above must be gone before the directory.
    dir: TempDir,
}

impl Prosody {
    /// Starts Prosody with default options (domain `localhost`, in-band
    /// registration allowed).
    pub fn start() -> Result<Prosody> {
        Self::start_with(ProsodyOptions::default())
    }

    /// Starts Prosody with the given options. Installs the packages first if
    /// they are missing (see [`crate::ensure_installed`]).
    pub fn start_with(opts: ProsodyOptions) -> Result<Prosody> {
        Self::start_s2s(opts, S2sSetup::default())
    }

    /// Starts Prosody with the given options and s2s setup (see
    /// [`crate::Federation`]).
    pub(crate) fn start_s2s(opts: ProsodyOptions, s2s: S2sSetup) -> Result<Prosody> {
        ensure_packages(PROSODY_PACKAGES)?;
        let mut last_err = anyhow!("Prosody was not started");
        for attempt in 1..=START_ATTEMPTS {
            match Self::try_start(opts.clone(), s2s.clone()) {
                Ok(p) => return Ok(p),
                Err(err) if format!("{err:#}").contains(PORT_CONFLICT) => {
                    tracing::warn!(attempt, "port conflict while starting Prosody, retrying");
                    last_err = err;
                }
                Err(err) => return Err(err),
            }
        }
        Err(last_err)
    }

    fn try_start(opts: ProsodyOptions, s2s: S2sSetup) -> Result<Prosody> {
        let started = Instant::now();
        let dir = server_dir("tern-prosody-")?;
        fs::create_dir_all(dir.path().join("data"))?;
        fs::create_dir_all(dir.path().join("certs"))?;
        let domain = opts.domain.clone();
        let leaf = issue_for(&domain)?;
        write_leaf(dir.path(), &domain, &leaf)?;

        // The TURN port comes last: it is released first, for coturn.
        let mut reserved = reserve_ports(7)?;
        let ports = Ports {
            c2s: reserved[0].0,
            direct_tls: reserved[1].0,
            s2s: s2s.listen_addr(reserved[2].0),
            http: reserved[3].0,
            https: reserved[4].0,
            component: opts.bots_component.then_some(reserved[5].0),
            turn: reserved[6].0,
        };
        let turn_secret = random_secret(24);
        let component_secret = random_secret(24);
        s2s.write_files(dir.path())?;
        let config = dir.path().join("prosody.cfg.lua");
        fs::write(
            &config,
            render_config(
                dir.path(),
                &opts,
                &s2s,
                &ports,
                &Secrets {
                    turn: &turn_secret,
                    component: &component_secret,
                },
            ),
        )?;

        // Release the TURN port and start coturn; a failure is not fatal.
        drop(reserved.pop());
        let coturn_secret = if opts.turn_refuses {
            random_secret(24)
        } else {
            turn_secret.clone()
        };
        let turn = match Coturn::start(dir.path(), ports.turn, &coturn_secret) {
            Ok(t) => Some(t),
            Err(err) => {
                tracing::warn!("coturn did not start, TURN is unavailable: {err:#}");
                None
            }
        };

        drop(reserved);
        let mut prosody = Prosody {
            opts,
            ports,
            leaf,
            turn_secret,
            component_secret,
            config,
            child: None,
            turn,
            dir,
        };
        prosody.spawn_and_wait()?;
        tracing::info!(
            elapsed = ?started.elapsed(),
            c2s = ports.c2s,
            "Prosody started"
        );
        Ok(prosody)
    }

    fn spawn_and_wait(&mut self) -> Result<()> {
        let bin = which("prosody").context("prosody not found")?;
        let mut cmd = Command::new(bin);
        cmd.arg("--config")
            .arg(&self.config)
            .arg("-F")
            .current_dir(self.dir.path());
        let out = self.dir.path().join("prosody.out");
        let mut child = ManagedChild::spawn(cmd, "prosody", &out)?;
        let mut ports = vec![
            self.ports.c2s,
            self.ports.direct_tls,
            self.ports.http,
            self.ports.https,
        ];
        // An s2s listener on another loopback address is waited for below.
        let s2s = self.ports.s2s;
        let s2s_elsewhere = s2s.ip() != IpAddr::from(Ipv4Addr::LOCALHOST);
        if !s2s_elsewhere {
            ports.push(s2s.port());
        }
        ports.extend(self.ports.component);
        let logs = [self.dir.path().join("prosody.log"), out];
        let fatal = |log: &str| {
            log.lines()
                .find(|l| l.contains(PORT_CONFLICT))
                .map(str::to_owned)
        };
        wait_until_listening(&mut child, &ports, START_TIMEOUT, &logs, &fatal)?;
        if s2s_elsewhere {
            wait_for_listener("prosody", &mut child, s2s, START_TIMEOUT)?;
        }
        self.child = Some(child);
        Ok(())
    }

    /// The XMPP domain.
    pub fn domain(&self) -> &str {
        &self.opts.domain
    }

    /// The client-to-server port (STARTTLS, RFC 6120).
    pub fn c2s_port(&self) -> u16 {
        self.ports.c2s
    }

    /// The client-to-server port with direct TLS (XEP-0368).
    pub fn direct_tls_port(&self) -> u16 {
        self.ports.direct_tls
    }

    /// The server-to-server port (5269 when federating, see
    /// [`crate::Federation`]).
    pub fn s2s_port(&self) -> u16 {
        self.ports.s2s.port()
    }

    /// The address the server-to-server listener binds: 127.0.0.1, or the
    /// server's own loopback address when federating.
    pub fn s2s_addr(&self) -> SocketAddr {
        self.ports.s2s
    }

    /// The plain HTTP port.
    pub fn http_port(&self) -> u16 {
        self.ports.http
    }

    /// The HTTPS port (HTTP file upload is served here, as `localhost`).
    pub fn https_port(&self) -> u16 {
        self.ports.https
    }

    /// The MUC component's domain, `conference.<domain>`.
    pub fn muc_domain(&self) -> String {
        format!("conference.{}", self.opts.domain)
    }

    /// The HTTP file upload component's domain, `upload.<domain>` (even
    /// when started without [`ProsodyOptions::upload`]).
    pub fn upload_domain(&self) -> String {
        format!("upload.{}", self.opts.domain)
    }

    /// Whether the upload component is defined ([`ProsodyOptions::upload`]).
    pub fn has_upload(&self) -> bool {
        self.opts.upload
    }

    /// The port the upload URLs point at: [`ProsodyOptions::upload_external_port`]
    /// or the HTTPS port.
    pub fn upload_url_port(&self) -> u16 {
        self.opts.upload_external_port.unwrap_or(self.ports.https)
    }

    /// How to connect the external component `bots.<domain>`, when started
    /// with [`ProsodyOptions::bots_component`].
    pub fn bots_component(&self) -> Option<ComponentAccess> {
        self.ports.component.map(|port| ComponentAccess {
            domain: format!("bots.{}", self.opts.domain),
            port,
            secret: self.component_secret.clone(),
        })
    }

    /// Runs Lua inside the running server through `prosodyctl shell` (needs
    /// [`ProsodyOptions::admin_shell`]) and returns what the shell printed.
    ///
    /// Each line of `lua` is one shell command; a line is run as Lua when
    /// it starts with `>` (e.g. `> return prosody.version`). Returns the
    /// answers, one per line (`| Result: ...` for Lua, `OK: ...` for shell
    /// commands); fails when the shell reports an error for any line.
    pub fn shell(&self, lua: &str) -> Result<String> {
        if !self.opts.admin_shell {
            bail!("Prosody was started without ProsodyOptions::admin_shell");
        }
        let bin = which("prosodyctl").context("prosodyctl not found")?;
        let mut cmd = Command::new(bin);
        cmd.arg("--config")
            .arg(&self.config)
            .arg("shell")
            .current_dir(self.dir.path());
        let out = run_with_input(cmd, lua.as_bytes(), Duration::from_secs(120))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        // Keep what follows the first prompt (not the banner), unprompted.
        let answers: Vec<&str> = stdout
            .split_once(SHELL_PROMPT)
            .map_or("", |(_, rest)| rest)
            .split('\n')
            .map(|l| l.strip_prefix(SHELL_PROMPT).unwrap_or(l))
            .filter(|l| !l.trim().is_empty())
            .collect();
        if !out.status.success() || answers.iter().any(|l| l.starts_with('!')) {
            bail!(
                "prosodyctl shell failed ({}): {}{}",
                out.status,
                answers.join("\n"),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(answers.join("\n"))
    }

    /// The certificate Prosody currently serves.
    pub fn leaf(&self) -> &Leaf {
        &self.leaf
    }

    /// The process id of the running Prosody, if any.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(ManagedChild::pid)
    }

    /// The process id of coturn, if it runs.
    pub fn turn_pid(&self) -> Option<u32> {
        self.turn.as_ref().map(Coturn::pid)
    }

    /// The directory holding configuration, data and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Deletes what the server keeps for offline delivery, so an account's
    /// history is in its archive only (as on an account whose other device
    /// received everything). Returns how many stanzas went.
    pub fn purge_offline(&self) -> Result<u64> {
        let db = self.dir.path().join("data/prosody.sqlite");
        let out = Command::new("python3")
            .arg("-c")
            .arg(
                "import sqlite3, sys\n\
                 c = sqlite3.connect(sys.argv[1], timeout=30)\n\
                 n = c.execute(\"DELETE FROM prosodyarchive WHERE store = 'offline'\").rowcount\n\
                 c.commit()\n\
                 print(n)",
            )
            .arg(&db)
            .output()?;
        if !out.status.success() {
            bail!(
                "purging offline messages failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0))
    }

    /// Prosody's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("prosody.log")).unwrap_or_default()
    }

    /// The shared secret Prosody and coturn use for TURN credentials
    /// (`turn_external_secret`).
    pub fn turn_secret(&self) -> &str {
        &self.turn_secret
    }

    /// The TURN/STUN port of coturn (UDP and TCP, no TLS).
    pub fn turn_port(&self) -> u16 {
        self.ports.turn
    }

    /// Whether coturn is running (TURN is optional: sign-in works without it).
    pub fn turn_running(&self) -> bool {
        self.turn.as_ref().is_some_and(|t| pid_is_alive(t.pid()))
    }

    /// Registers a fresh, unique user offline (`prosodyctl register`) and
    /// returns `(localpart, password)`.
    pub fn create_user(&self) -> Result<(String, String)> {
        let user = unique_name("u");
        let password = random_secret(16);
        self.create_user_named(&user, &password)?;
        Ok((user, password))
    }

    /// Registers `name` with `password` offline (`prosodyctl register`).
    ///
    /// The account goes to a file of its own (the `accounts` store is
    /// `internal` in the generated configuration): `prosodyctl` never opens
    /// the SQLite database the running server uses, so calls may come at any
    /// time, from several threads at once.
    pub fn create_user_named(&self, name: &str, password: &str) -> Result<()> {
        let out = self.prosodyctl(&["register", name, &self.opts.domain, password])?;
        if !out.status.success() {
            bail!(
                "prosodyctl register {name} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Runs `prosodyctl --config <this config> ARGS`.
    pub fn prosodyctl(&self, args: &[&str]) -> Result<std::process::Output> {
        let bin = which("prosodyctl").context("prosodyctl not found")?;
        let mut cmd = Command::new(bin);
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .current_dir(self.dir.path());
        run_with_timeout(cmd, Duration::from_secs(30))
    }

    /// Stops Prosody (SIGTERM; SIGKILL after 5 s) and starts it again on the
    /// same ports with the same data, waiting until the ports accept
    /// connections. coturn keeps running.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.spawn_and_wait()
    }

    /// Issues a new leaf certificate (new key) from the same CA and restarts
    /// Prosody so that it presents it.
    pub fn restart_with_new_certificate(&mut self) -> Result<()> {
        let leaf = issue_for(&self.opts.domain)?;
        self.stop();
        write_leaf(self.dir.path(), &self.opts.domain, &leaf)?;
        self.leaf = leaf;
        self.spawn_and_wait()
    }

    /// Stops Prosody (not coturn). [`Prosody::restart`] starts it again.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.stop(STOP_GRACE);
        }
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        self.stop();
        // coturn is stopped by its own Drop; the directory is removed after.
        self.turn = None;
    }
}

/// The names the leaf must cover: the host, its components, and `localhost`
/// (the HTTP host of the upload service).
pub(crate) fn leaf_names(domain: &str) -> Vec<String> {
    let mut names = vec![
        domain.to_owned(),
        format!("conference.{domain}"),
        format!("upload.{domain}"),
        format!("pubsub.{domain}"),
        "localhost".to_owned(),
    ];
    names.dedup();
    names
}

/// Issues a leaf for `domain` from the global CA.
pub(crate) fn issue_for(domain: &str) -> Result<Leaf> {
    let names = leaf_names(domain);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    Ok(TestCa::global().try_issue_leaf(&names)?)
}

fn write_leaf(dir: &Path, domain: &str, leaf: &Leaf) -> Result<()> {
    let certs = dir.join("certs");
    // Prosody serves any certificate it finds in this folder by SNI: keep
    // only the current one.
    for entry in fs::read_dir(&certs)?.flatten() {
        fs::remove_file(entry.path())?;
    }
    let ca = TestCa::global().ca_cert_pem();
    fs::write(
        certs.join(format!("{domain}.crt")),
        format!("{}{}", leaf.cert_pem, ca),
    )?;
    fs::write(certs.join(format!("{domain}.key")), &leaf.key_pem)?;
    Ok(())
}

/// A Lua string literal.
fn lua(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The secrets written into the configuration.
struct Secrets<'a> {
    turn: &'a str,
    component: &'a str,
}

/// Directories where Debian's `prosody-modules` (and a local install) may
/// put community modules such as `mod_muc_moderation`. Prosody's own
/// directory is searched by default; any other that holds the module is
/// added to `plugin_paths`.
const COMMUNITY_MODULE_DIRS: &[&str] = &[
    "/usr/lib/prosody/modules",
    "/usr/share/prosody-modules",
    "/usr/local/lib/prosody/modules",
];

fn plugin_paths() -> String {
    let extra: Vec<String> = COMMUNITY_MODULE_DIRS
        .iter()
        .skip(1)
        .filter(|d| {
            let d = Path::new(d);
            d.join("mod_muc_moderation/mod_muc_moderation.lua").exists()
                || d.join("mod_muc_moderation.lua").exists()
        })
        .map(|d| lua(d))
        .collect();
    if extra.is_empty() {
        String::new()
    } else {
        format!("plugin_paths = {{ {} }}\n", extra.join(", "))
    }
}

fn render_config(
    dir: &Path,
    opts: &ProsodyOptions,
    s2s: &S2sSetup,
    p: &Ports,
    secrets: &Secrets<'_>,
) -> String {
    let path = |name: &str| lua(&dir.join(name).to_string_lossy());
    let domain = &opts.domain;
    let cert = path(&format!("certs/{domain}.crt"));
    let key = path(&format!("certs/{domain}.key"));
    let run_as_root = if is_root() {
        "run_as_root = true\n"
    } else {
        ""
    };
    // Peers' domains resolve through libunbound's hosts table.
    let resolver = if s2s.hosts.is_empty() {
        String::new()
    } else {
        format!("unbound = {{ hoststxt = {} }}\n", path("hosts"))
    };
    // s2s peers must present a certificate that verifies against the CA.
    let cafile = if s2s.secure {
        format!(", cafile = {}", path("ca.pem"))
    } else {
        String::new()
    };
    let admin_shell = if opts.admin_shell {
        r#" "admin_shell";"#
    } else {
        ""
    };
    let (component_ports, bots) = match p.component {
        Some(port) => (
            port.to_string(),
            format!(
                "\nComponent {}\n    component_secret = {}\n",
                lua(&format!("bots.{domain}")),
                lua(secrets.component)
            ),
        ),
        None => (String::new(), String::new()),
    };
    format!(
        r#"-- Generated by tern-testkit.
{run_as_root}{resolver}{plugin_paths}pidfile = {pidfile}
data_path = {data}
log = {{ [os.getenv("TERN_PROSODY_LOG_LEVEL") or "info"] = {log} }}
interfaces = {{ "127.0.0.1" }}
local_interfaces = {{ "127.0.0.1" }}
http_interfaces = {{ "127.0.0.1" }}
https_interfaces = {{ "127.0.0.1" }}
s2s_interfaces = {{ {s2s_ip} }}
c2s_ports = {{ {c2s} }}
c2s_direct_tls_ports = {{ {direct_tls} }}
s2s_ports = {{ {s2s} }}
http_ports = {{ {http} }}
https_ports = {{ {https} }}
component_ports = {{ {component_ports} }}
component_interfaces = {{ "127.0.0.1" }}

modules_enabled = {{
    "roster"; "saslauth"; "tls"; "disco"; "carbons"; "mam"; "pep";
    "vcard4"; "vcard_legacy"; "blocklist"; "smacks"; "csi_simple"; "ping";
    "register"; "private"; "bookmarks"; "version"; "posix"; "http";
    "turn_external"; "uptime"; "time";{admin_shell}
}}

c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = {secure}
allow_registration = {allow_registration}
registration_whitelist = {{ "127.0.0.1" }}
authentication = "internal_hashed"
-- Accounts are files, one per user; everything else (archives, offline
-- messages, PEP, rooms) is in SQLite. The harness registers users with
-- prosodyctl, a second process, and Prosody's SQLite connection has no busy
-- timeout: while prosodyctl held the database, the server failed its own
-- reads and writes (a PEP publish, a MAM query, a sign-in).
default_storage = "sql"
storage = {{ accounts = "internal" }}
sql = {{ driver = "SQLite3", database = {sqlite} }}
archive_expires_after = "never"

certificates = {certs}
ssl = {{ certificate = {cert}, key = {key}{cafile} }}
https_ssl = {{ certificate = {cert}, key = {key} }}

smacks_hibernation_time = 300

turn_external_secret = {secret}
turn_external_host = "127.0.0.1"
turn_external_port = {turn}

VirtualHost {domain_lua}

-- MUC: archive (XEP-0313), moderation (XEP-0425, urn:xmpp:message-moderate:0,
-- from prosody-modules), occupant ids (XEP-0421, built into 0.12). Prosody
-- 0.12 has no limit on the number of occupants. New rooms stay locked until
-- their owner configures them (XEP-0045 10.1.2).
Component {muc} "muc"
    modules_enabled = {{ "muc_mam"; "muc_moderation" }}
    muc_occupant_id = true

{upload}{bots}"#,
        plugin_paths = plugin_paths(),
        pidfile = path("prosody.pid"),
        data = path("data"),
        log = path("prosody.log"),
        c2s = p.c2s,
        direct_tls = p.direct_tls,
        s2s = p.s2s.port(),
        s2s_ip = lua(&p.s2s.ip().to_string()),
        secure = s2s.secure,
        http = p.http,
        https = p.https,
        allow_registration = opts.allow_registration,
        sqlite = path("data/prosody.sqlite"),
        certs = path("certs"),
        secret = lua(secrets.turn),
        turn = p.turn,
        domain_lua = lua(domain),
        muc = lua(&format!("conference.{domain}")),
        upload = render_upload(opts, p),
    )
}

/// The `http_file_share` component, or nothing without
/// [`ProsodyOptions::upload`].
fn render_upload(opts: &ProsodyOptions, p: &Ports) -> String {
    if !opts.upload {
        return String::new();
    }
    let port = opts.upload_external_port.unwrap_or(p.https);
    // The daily quota defaults to ten times the size limit: tests upload
    // more than that.
    let mut limit = match opts.upload_size_limit {
        Some(limit) => format!("    http_file_share_size_limit = {limit}\n"),
        None => String::new(),
    };
    if !opts.upload_allowed_types.is_empty() {
        let types: Vec<String> = opts.upload_allowed_types.iter().map(|t| lua(t)).collect();
        limit.push_str(&format!(
            "    http_file_share_allowed_file_types = {{ {} }}\n",
            types.join(", ")
        ));
    }
    format!(
        r#"
Component {name} "http_file_share"
    http_host = "localhost"
    http_external_url = {url}
{limit}    http_file_share_daily_quota = 1073741824
"#,
        name = lua(&format!("upload.{}", opts.domain)),
        url = lua(&format!("https://localhost:{port}/")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lua_escapes_quotes() {
        assert_eq!(lua(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
