//! ejabberd as a child process.
//!
//! The Erlang VM is started directly (the same command line `ejabberdctl
//! foreground` builds) rather than through Debian's `ejabberdctl`, which
//! switches to the `ejabberd` user with `su`. Going through `su` would put the
//! VM in another session and drop `PR_SET_PDEATHSIG`, so a crashed test could
//! leave the VM behind. Erlang distribution uses a fixed port per instance
//! (`-erl_epmd_port`) instead of epmd, so instances share nothing.

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
use crate::install::{ejabberd_paths, ensure_packages, EjabberdPaths, EJABBERD_PACKAGES};
use crate::process::{
    random_secret, reserve_ports, run_with_timeout, server_dir, unique_name, wait_until_listening,
    ManagedChild, STOP_GRACE,
};
use crate::prosody::issue_for;

const START_TIMEOUT: Duration = Duration::from_secs(60);
const START_ATTEMPTS: usize = 3;
const CTL_TIMEOUT: Duration = Duration::from_secs(60);

/// Options for [`Ejabberd::start_with`].
#[derive(Clone, Debug)]
pub struct EjabberdOptions {
    /// The XMPP domain of the virtual host. Default `"localhost"`.
    pub domain: String,
    /// Whether XEP-0077 in-band registration is allowed. Default `true`.
    pub allow_registration: bool,
    /// Load `mod_http_upload` (XEP-0363, service `upload.<domain>`, files
    /// under `/upload` on [`Ejabberd::https_port`]). Without it (as in
    /// Debian's default configuration) the domain lists no upload service.
    /// Default `true`.
    pub upload: bool,
    /// The largest file `mod_http_upload` hands out a slot for (`max_size`,
    /// bytes); larger requests are refused with `<file-too-large/>`.
    /// `None`: ejabberd's default, 100 MiB.
    pub upload_size_limit: Option<u64>,
    /// Start coturn next to ejabberd and announce it with `mod_stun_disco`
    /// (XEP-0215): a STUN service and a TURN service over UDP on
    /// 127.0.0.1 with ephemeral credentials from a shared secret (the
    /// TURN REST scheme coturn's `use-auth-secret` checks). Without it,
    /// ejabberd announces no STUN/TURN service. Default `false`.
    pub turn: bool,
    /// With `turn`: coturn checks TURN credentials against another secret
    /// than the one ejabberd signs them with: the credentials ejabberd
    /// hands out by XEP-0215 are well formed and every allocation with them
    /// is refused (401). Default `false`.
    pub turn_refuses: bool,
}

impl Default for EjabberdOptions {
    fn default() -> Self {
        Self {
            domain: "localhost".into(),
            allow_registration: true,
            upload: true,
            upload_size_limit: None,
            turn: false,
            turn_refuses: false,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Ports {
    c2s: u16,
    direct_tls: u16,
    s2s: SocketAddr,
    https: u16,
    dist: u16,
    turn: Option<u16>,
}

/// An ejabberd server running as a child process on 127.0.0.1, with its own
/// Mnesia spool, a certificate from [`TestCa::global`], and a unique Erlang
/// node name.
///
/// Dropping it stops the VM and deletes the spool directory.
#[derive(Debug)]
pub struct Ejabberd {
    opts: EjabberdOptions,
    /// Whether the VM runs in its own mount namespace with its own
    /// `/etc/hosts` (federation peers resolve through it).
    private_hosts: bool,
    ports: Ports,
    leaf: Leaf,
    node: String,
    cookie: String,
    paths: EjabberdPaths,
    child: Option<ManagedChild>,
    turn_secret: String,
    turn: Option<Coturn>,
    // Dropped last: the VM must be gone before its directory.
    dir: TempDir,
}

impl Ejabberd {
    /// Starts ejabberd with default options (domain `localhost`, in-band
    /// registration allowed).
    pub fn start() -> Result<Ejabberd> {
        Self::start_with(EjabberdOptions::default())
    }

    /// Starts ejabberd with the given options. Installs the package first if
    /// it is missing (see [`crate::ensure_installed`]).
    pub fn start_with(opts: EjabberdOptions) -> Result<Ejabberd> {
        Self::start_s2s(opts, S2sSetup::default())
    }

    /// Starts ejabberd with the given options and s2s setup (see
    /// [`crate::Federation`]).
    pub(crate) fn start_s2s(opts: EjabberdOptions, s2s: S2sSetup) -> Result<Ejabberd> {
        ensure_packages(EJABBERD_PACKAGES)?;
        if opts.turn {
            ensure_packages(&["coturn"])?;
        }
        let mut last_err = anyhow!("ejabberd was not started");
        for attempt in 1..=START_ATTEMPTS {
            match Self::try_start(opts.clone(), s2s.clone()) {
                Ok(e) => return Ok(e),
                Err(err) if is_port_conflict(&format!("{err:#}")) => {
                    tracing::warn!(attempt, "port conflict while starting ejabberd, retrying");
                    last_err = err;
                }
                Err(err) => return Err(err),
            }
        }
        Err(last_err)
    }

    fn try_start(opts: EjabberdOptions, s2s: S2sSetup) -> Result<Ejabberd> {
        let started = Instant::now();
        let paths = ejabberd_paths().context("ejabberd is not installed")?;
        let dir = server_dir("tern-ejabberd-")?;
        for sub in ["logs", "spool", "certs", "upload"] {
            fs::create_dir_all(dir.path().join(sub))?;
        }
        let leaf = issue_for(&opts.domain)?;
        write_leaf(dir.path(), &leaf)?;
        // The TURN port comes last: it is released first, for coturn.
        let mut reserved = reserve_ports(if opts.turn { 6 } else { 5 })?;
        let ports = Ports {
            c2s: reserved[0].0,
            direct_tls: reserved[1].0,
            s2s: s2s.listen_addr(reserved[2].0),
            https: reserved[3].0,
            dist: reserved[4].0,
            turn: reserved.get(5).map(|r| r.0),
        };
        let turn_secret = random_secret(24);
        s2s.write_files(dir.path())?;
        let private_hosts = !s2s.hosts.is_empty();
        if private_hosts {
            fs::write(dir.path().join("etc-hosts"), render_etc_hosts(&s2s)?)?;
        }
        fs::write(
            dir.path().join("ejabberd.yml"),
            render_config(dir.path(), &opts, &s2s, &ports, &turn_secret),
        )?;
        let turn = match ports.turn {
            Some(port) => {
                drop(reserved.pop());
                let coturn_secret = if opts.turn_refuses {
                    random_secret(24)
                } else {
                    turn_secret.clone()
                };
                Some(Coturn::start(dir.path(), port, &coturn_secret).context("starting coturn")?)
            }
            None => None,
        };
        drop(reserved);
        let mut ejabberd = Ejabberd {
            opts,
            private_hosts,
            ports,
            leaf,
            node: format!("{}@localhost", unique_name("tern")),
            cookie: random_secret(32),
            paths,
            child: None,
            turn_secret,
            turn,
            dir,
        };
        ejabberd.spawn_and_wait()?;
        tracing::info!(elapsed = ?started.elapsed(), c2s = ports.c2s, "ejabberd started");
        Ok(ejabberd)
    }

    fn erl_command(&self) -> Command {
        let dir = self.dir.path();
        let mut cmd = Command::new(&self.paths.erl);
        cmd.current_dir(dir)
            .env("HOME", dir)
            .env("ERL_LIBS", &self.paths.erl_libs)
            .env("EJABBERD_CONFIG_PATH", dir.join("ejabberd.yml"))
            .env("EJABBERD_LOG_PATH", dir.join("logs/ejabberd.log"))
            .env("EJABBERD_PID_PATH", dir.join("ejabberd.pid"))
            .env("CONTRIB_MODULES_PATH", dir.join("contrib"))
            .env("ERL_CRASH_DUMP", dir.join("logs/erl_crash.dump"))
            .env_remove("ERL_FLAGS")
            .env_remove("ERL_AFLAGS")
            .env_remove("ERL_ZFLAGS")
            .arg("-setcookie")
            .arg(&self.cookie)
            .arg("-erl_epmd_port")
            .arg(self.ports.dist.to_string())
            .arg("-start_epmd")
            .arg("false")
            .args(["-kernel", "inet_dist_use_interface", "{127,0,0,1}"]);
        cmd
    }

    fn spawn_and_wait(&mut self) -> Result<()> {
        let spool = self.dir.path().join("spool");
        let mut cmd = self.erl_command();
        cmd.arg("-sname")
            .arg(&self.node)
            .args(["+K", "true", "+P", "250000"])
            .args(["-env", "ERL_CRASH_DUMP_BYTES", "0"])
            .arg("-mnesia")
            .arg("dir")
            .arg(format!("\"{}\"", spool.display()))
            .args(["-s", "ejabberd", "-noinput"]);
        if self.private_hosts {
            cmd = with_private_hosts(cmd, &self.dir.path().join("etc-hosts"));
        }
        let out = self.dir.path().join("logs/erl.out");
        let mut child = ManagedChild::spawn(cmd, "ejabberd", &out)?;
        let mut ports = vec![
            self.ports.c2s,
            self.ports.direct_tls,
            self.ports.https,
            self.ports.dist,
        ];
        // An s2s listener on another loopback address is waited for below.
        let s2s = self.ports.s2s;
        let s2s_elsewhere = s2s.ip() != IpAddr::from(Ipv4Addr::LOCALHOST);
        if !s2s_elsewhere {
            ports.push(s2s.port());
        }
        let logs = [self.dir.path().join("logs/ejabberd.log"), out];
        let fatal = |log: &str| {
            log.lines()
                .find(|l| l.contains("[critical]") || l.contains("[emergency]"))
                .map(str::to_owned)
        };
        wait_until_listening(&mut child, &ports, START_TIMEOUT, &logs, &fatal)?;
        if s2s_elsewhere {
            wait_for_listener("ejabberd", &mut child, s2s, START_TIMEOUT)?;
        }
        self.child = Some(child);
        Ok(())
    }

    /// Runs an `ejabberdctl` command (e.g. `["registered_users", "localhost"]`)
    /// against this node.
    pub fn ctl(&self, args: &[&str]) -> Result<std::process::Output> {
        let mut cmd = self.erl_command();
        cmd.arg("-sname")
            .arg(format!("{}@localhost", unique_name("ternctl")))
            .args(["-dist_listen", "false", "-hidden", "-noinput"])
            .args(["-s", "ejabberd_ctl", "-extra"])
            .arg(&self.node)
            .args(args);
        run_with_timeout(cmd, CTL_TIMEOUT)
    }

    /// The XMPP domain.
    pub fn domain(&self) -> &str {
        &self.opts.domain
    }

    /// The client-to-server port (STARTTLS required).
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

    /// The HTTPS port (HTTP file upload under `/upload`).
    pub fn https_port(&self) -> u16 {
        self.ports.https
    }

    /// Whether `mod_http_upload` is loaded ([`EjabberdOptions::upload`]).
    pub fn has_upload(&self) -> bool {
        self.opts.upload
    }

    /// The MUC service's domain, `conference.<domain>`.
    pub fn muc_domain(&self) -> String {
        format!("conference.{}", self.opts.domain)
    }

    /// The HTTP file upload service's domain, `upload.<domain>`.
    pub fn upload_domain(&self) -> String {
        format!("upload.{}", self.opts.domain)
    }

    /// The TURN/STUN port of coturn (UDP and TCP, no TLS), with
    /// [`EjabberdOptions::turn`].
    pub fn turn_port(&self) -> Option<u16> {
        self.ports.turn
    }

    /// The secret ejabberd and coturn share for TURN credentials, with
    /// [`EjabberdOptions::turn`].
    pub fn turn_secret(&self) -> Option<&str> {
        self.turn.as_ref().map(|_| self.turn_secret.as_str())
    }

    /// Whether coturn is running (with [`EjabberdOptions::turn`]).
    pub fn turn_running(&self) -> bool {
        self.turn
            .as_ref()
            .is_some_and(|t| crate::process::pid_is_alive(t.pid()))
    }

    /// The certificate ejabberd currently serves.
    pub fn leaf(&self) -> &Leaf {
        &self.leaf
    }

    /// The Erlang node name (`name@localhost`).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The process id of the Erlang VM, if it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(ManagedChild::pid)
    }

    /// The directory holding configuration, spool and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// ejabberd's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("logs/ejabberd.log")).unwrap_or_default()
    }

    /// Registers a fresh, unique user and returns `(localpart, password)`.
    pub fn create_user(&self) -> Result<(String, String)> {
        let user = unique_name("u");
        let password = random_secret(16);
        self.create_user_named(&user, &password)?;
        Ok((user, password))
    }

    /// Registers `name` with `password` (`ejabberdctl register`) on the
    /// running node.
    pub fn create_user_named(&self, name: &str, password: &str) -> Result<()> {
        // Right after start the ports are open before Mnesia's tables are
        // loaded ("no_exists"); wait for them rather than fail.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let out = loop {
            let out = self.ctl(&["register", name, &self.opts.domain, password])?;
            let text = String::from_utf8_lossy(&out.stdout);
            if !out.status.success()
                && text.contains("no_exists")
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(250));
                continue;
            }
            break out;
        };
        if !out.status.success() {
            bail!(
                "ejabberdctl register {name} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Stops the VM (SIGTERM; SIGKILL after 5 s) and starts it again on the
    /// same ports with the same spool, waiting until the ports accept
    /// connections.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.spawn_and_wait()
    }

    /// Issues a new leaf certificate (new key) from the same CA and restarts
    /// ejabberd so that it presents it.
    pub fn restart_with_new_certificate(&mut self) -> Result<()> {
        let leaf = issue_for(&self.opts.domain)?;
        self.stop();
        write_leaf(self.dir.path(), &leaf)?;
        self.leaf = leaf;
        self.spawn_and_wait()
    }

    /// Stops the VM. [`Ejabberd::restart`] starts it again.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.stop(STOP_GRACE);
        }
    }
}

impl Drop for Ejabberd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn is_port_conflict(text: &str) -> bool {
    text.contains("eaddrinuse") || text.contains("address already in use")
}

fn write_leaf(dir: &Path, leaf: &Leaf) -> Result<()> {
    let pem = format!(
        "{}{}{}",
        leaf.cert_pem,
        TestCa::global().ca_cert_pem(),
        leaf.key_pem
    );
    fs::write(cert_path(dir), pem)?;
    Ok(())
}

fn cert_path(dir: &Path) -> PathBuf {
    dir.join("certs/server.pem")
}

/// A YAML double-quoted string.
fn yaml(s: &str) -> String {
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

/// The system's `/etc/hosts` plus the federation peers.
fn render_etc_hosts(s2s: &S2sSetup) -> Result<String> {
    let mut out = fs::read_to_string("/etc/hosts").context("reading /etc/hosts")?;
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("# Federation peers, added by tern-testkit.\n");
    for (name, ip) in &s2s.hosts {
        out.push_str(&format!("{ip} {name}\n"));
    }
    Ok(out)
}

/// Runs `cmd` in a private mount namespace in which `hosts` is bind-mounted
/// over `/etc/hosts`.
///
/// ejabberd resolves s2s peers with `getaddrinfo` (glibc: `/etc/hosts`, then
/// DNS); Erlang's own inetrc host table is not consulted. `unshare` and the
/// shell `exec` into the VM, so the VM keeps the child's pid, process group
/// and parent-death signal, and the system's `/etc/hosts` is never touched.
fn with_private_hosts(cmd: Command, hosts: &Path) -> Command {
    let mut wrapped = Command::new("unshare");
    wrapped
        .args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
        .arg(r#"mount --bind "$0" /etc/hosts && exec "$@""#)
        .arg(hosts)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
}

fn render_config(
    dir: &Path,
    opts: &EjabberdOptions,
    s2s: &S2sSetup,
    p: &Ports,
    turn_secret: &str,
) -> String {
    let register_access = if opts.allow_registration {
        "all"
    } else {
        "none"
    };
    // Secure s2s: TLS required, peers authenticate with a certificate that
    // verifies against the CA (SASL EXTERNAL; no mod_s2s_dialback).
    let s2s_tls = if s2s.secure {
        format!(
            "s2s_use_starttls: required\nca_file: {}\n",
            yaml(&dir.join("ca.pem").to_string_lossy())
        )
    } else {
        "s2s_use_starttls: optional\n".to_owned()
    };
    let families = if s2s.hosts.is_empty() {
        ""
    } else {
        "outgoing_s2s_families:\n  - ipv4\n"
    };
    format!(
        r#"# Generated by tern-testkit.
loglevel: info
log_rotate_count: 0
hosts:
  - {domain}
certfiles:
  - {cert}
auth_method: internal
auth_password_format: scram
registration_timeout: infinity
{s2s_tls}{families}listen:
  -
    port: {c2s}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    max_stanza_size: 1048576
    starttls_required: true
  -
    port: {direct_tls}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    max_stanza_size: 1048576
    tls: true
  -
    port: {s2s}
    ip: {s2s_ip}
    module: ejabberd_s2s_in
  -
    port: {https}
    ip: "127.0.0.1"
    module: ejabberd_http
    tls: true
{handlers}acl:
  local:
    user_regexp: ""
  loopback:
    ip:
      - 127.0.0.0/8
access_rules:
  local:
    allow: local
  c2s:
    allow: all
  register:
    allow: {register_access}
  muc_create:
    allow: local
  pubsub_createnode:
    allow: local
  trusted_network:
    allow: loopback
api_permissions:
  "console commands":
    from:
      - ejabberd_ctl
    who: all
    what: "*"
shaper_rules:
  max_user_sessions: 100
modules:
  mod_adhoc: {{}}
  mod_blocking: {{}}
  mod_caps: {{}}
  mod_carboncopy: {{}}
  mod_client_state: {{}}
  mod_disco: {{}}
{upload}  mod_last: {{}}
  mod_mam:
    assume_mam_usage: true
    default: always
  mod_muc:
    access_create: muc_create
    history_size: 20
    max_users: 10000
    max_users_presence: 10000
    max_user_conferences: 1000
    default_room_options:
      mam: true
      max_users: 10000
  mod_muc_admin: {{}}
  mod_offline: {{}}
  mod_ping: {{}}
  mod_privacy: {{}}
  mod_private: {{}}
  mod_pubsub:
    access_createnode: pubsub_createnode
    plugins:
      - flat
      - pep
  mod_register:
    access: register
    ip_access: all
  mod_roster:
    versioning: true
  mod_stream_mgmt:
    resend_on_timeout: if_offline
    resume_timeout: 300
{stun_disco}  mod_time: {{}}
  mod_vcard: {{}}
  mod_version:
    show_os: false
"#,
        domain = yaml(&opts.domain),
        cert = yaml(&cert_path(dir).to_string_lossy()),
        c2s = p.c2s,
        direct_tls = p.direct_tls,
        s2s = p.s2s.port(),
        s2s_ip = yaml(&p.s2s.ip().to_string()),
        https = p.https,
        handlers = if opts.upload {
            "    request_handlers:\n      /upload: mod_http_upload\n"
        } else {
            ""
        },
        upload = render_upload(dir, opts, p),
        stun_disco = render_stun_disco(p, turn_secret),
    )
}

/// `mod_stun_disco` announcing coturn, or nothing without
/// [`EjabberdOptions::turn`]. ejabberd's own STUN/TURN listener is not
/// started.
fn render_stun_disco(p: &Ports, secret: &str) -> String {
    let Some(port) = p.turn else {
        return String::new();
    };
    format!(
        r#"  mod_stun_disco:
    secret: {secret}
    offer_local_services: false
    services:
      -
        host: 127.0.0.1
        port: {port}
        type: stun
        transport: udp
        restricted: false
      -
        host: 127.0.0.1
        port: {port}
        type: turn
        transport: udp
        restricted: true
"#,
        secret = yaml(secret),
    )
}

/// The `mod_http_upload` section, or nothing without
/// [`EjabberdOptions::upload`].
fn render_upload(dir: &Path, opts: &EjabberdOptions, p: &Ports) -> String {
    if !opts.upload {
        return String::new();
    }
    let max_size = match opts.upload_size_limit {
        Some(limit) => format!("    max_size: {limit}\n"),
        None => String::new(),
    };
    format!(
        "  mod_http_upload:\n    put_url: {put_url}\n    docroot: {docroot}\n{max_size}",
        put_url = yaml(&format!("https://localhost:{}/upload", p.https)),
        docroot = yaml(&dir.join("upload").to_string_lossy()),
    )
}
