//! Installing the servers from apt when they are missing.

use std::fs;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use crate::process::{is_root, run_with_timeout};

/// The Debian packages Prosody (with coturn) needs; `prosody-modules`
/// brings `mod_muc_moderation` (XEP-0425).
pub(crate) const PROSODY_PACKAGES: &[&str] = &[
    "prosody",
    "prosody-modules",
    "lua-dbi-sqlite3",
    "lua-unbound",
    "coturn",
];
/// The Debian packages ejabberd needs.
pub(crate) const EJABBERD_PACKAGES: &[&str] = &["ejabberd"];

const LOCK_FILE: &str = "/tmp/tern-testkit-apt.lock";

/// Installs the apt packages the harness needs (prosody prosody-modules
/// lua-dbi-sqlite3 lua-unbound coturn ejabberd) when they are absent.
///
/// Runs `apt-get update` once, then `apt-get install -y -o
/// DPkg::Lock::Timeout=600 ...` with `DEBIAN_FRONTEND=noninteractive`, under a
/// file lock so that parallel test processes do not collide. A no-op when
/// everything is present. Needs root (or password-less sudo) only when
/// something has to be installed.
pub fn ensure_installed() -> Result<()> {
    let mut all = PROSODY_PACKAGES.to_vec();
    all.extend_from_slice(EJABBERD_PACKAGES);
    ensure_packages(&all)
}

/// Installs whichever of `packages` is missing. Results are remembered for
/// the life of the process.
pub(crate) fn ensure_packages(packages: &[&str]) -> Result<()> {
    static DONE: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    let done = DONE.get_or_init(|| Mutex::new(Vec::new()));
    let mut done = done.lock().map_err(|_| anyhow!("install lock poisoned"))?;
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !done.iter().any(|d| d == p) && !package_present(p))
        .collect();
    if !missing.is_empty() {
        install_locked(&missing)?;
    }
    done.extend(packages.iter().map(|p| (*p).to_owned()));
    Ok(())
}

/// Whether a package looks installed: its binaries (or files) are present,
/// and dpkg agrees where dpkg exists.
fn package_present(package: &str) -> bool {
    let files_ok = match package {
        "prosody" => which("prosody").is_some() && which("prosodyctl").is_some(),
        "coturn" => which("turnserver").is_some(),
        "prosody-modules" => {
            Path::new("/usr/lib/prosody/modules/mod_muc_moderation/mod_muc_moderation.lua").exists()
        }
        "ejabberd" => ejabberd_paths().is_some(),
        _ => true,
    };
    files_ok && dpkg_says_installed(package).unwrap_or(true)
}

/// `Some(installed)` from dpkg-query, `None` without dpkg.
fn dpkg_says_installed(package: &str) -> Option<bool> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .ok()?;
    Some(out.status.success() && String::from_utf8_lossy(&out.stdout).ends_with("installed"))
}

fn install_locked(missing: &[&str]) -> Result<()> {
    let lock = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(LOCK_FILE)
        .with_context(|| format!("opening {LOCK_FILE}"))?;
    // SAFETY: flock on a valid, open file descriptor.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error()).context("locking the apt lock file");
    }
    // Another process may have installed them while we waited.
    let still: Vec<&str> = missing
        .iter()
        .copied()
        .filter(|p| !package_present(p))
        .collect();
    if still.is_empty() {
        return Ok(());
    }
    tracing::info!(packages = ?still, "installing missing packages with apt-get");
    apt(&["update"])?;
    let mut args = vec!["install", "-y", "-o", "DPkg::Lock::Timeout=600"];
    args.extend_from_slice(&still);
    apt(&args)?;
    // The Debian packages start system-wide services; the harness does not
    // need them and they would hold the default ports.
    for service in ["prosody", "coturn", "ejabberd"] {
        let _ = privileged(&["systemctl", "stop", service])
            .and_then(|cmd| run_with_timeout(cmd, Duration::from_secs(60)));
    }
    let absent: Vec<&str> = still
        .iter()
        .copied()
        .filter(|p| !package_present(p))
        .collect();
    if !absent.is_empty() {
        bail!("packages still missing after apt-get install: {absent:?}");
    }
    Ok(())
    // The lock is released when `lock` is closed.
}

fn apt(args: &[&str]) -> Result<()> {
    let mut full = vec!["apt-get"];
    full.extend_from_slice(args);
    let mut cmd = privileged(&full)?;
    cmd.env("DEBIAN_FRONTEND", "noninteractive");
    let out = run_with_timeout(cmd, Duration::from_secs(1800))?;
    if !out.status.success() {
        bail!(
            "apt-get {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// A command run as root: directly when we are root, else through
/// non-interactive sudo.
fn privileged(argv: &[&str]) -> Result<Command> {
    let (first, rest) = argv.split_first().ok_or_else(|| anyhow!("empty command"))?;
    if is_root() {
        let mut cmd = Command::new(first);
        cmd.args(rest);
        Ok(cmd)
    } else if which("sudo").is_some() {
        let mut cmd = Command::new("sudo");
        cmd.args(["-n", "--preserve-env=DEBIAN_FRONTEND"])
            .args(argv);
        Ok(cmd)
    } else {
        bail!("installing packages needs root or sudo")
    }
}

/// Finds an executable in PATH, then in the sbin directories.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Where ejabberd's Erlang code lives and which `erl` runs it.
#[derive(Debug, Clone)]
pub(crate) struct EjabberdPaths {
    /// Directory holding `ejabberd-<version>/` (the value for `ERL_LIBS`).
    pub erl_libs: PathBuf,
    /// The `erl` launcher.
    pub erl: PathBuf,
}

/// Reads the paths from the packaged `ejabberdctl` script, which knows them.
pub(crate) fn ejabberd_paths() -> Option<EjabberdPaths> {
    let ctl = which("ejabberdctl")?;
    let script = fs::read_to_string(ctl).ok()?;
    let value = |key: &str| {
        script.lines().find_map(|line| {
            let v = line.trim().strip_prefix(key)?.strip_prefix('=')?;
            Some(v.trim_matches(|c| c == '"' || c == '\'').to_owned())
        })
    };
    let erl_libs = PathBuf::from(value("ERL_LIBS")?);
    let has_ejabberd = fs::read_dir(&erl_libs).ok()?.flatten().any(|e| {
        e.file_name().to_string_lossy().starts_with("ejabberd-")
            && e.path().join("ebin/ejabberd.app").exists()
    });
    if !has_ejabberd {
        return None;
    }
    let erl = value("ERL")
        .map(PathBuf::from)
        .filter(|p| is_executable(p))
        .or_else(|| which("erl"))?;
    Some(EjabberdPaths { erl_libs, erl })
}
