//! `Tern-*.AppImage`: unpacks the application once into the user's cache
//! and runs it. Options for the AppImage itself start with `--appimage-`;
//! every other argument goes to Tern.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use tern_appimage_runtime::{extract, image_offset, remove_stale, unpacked, Error};

/// Unpacked builds not started for this long are removed.
const STALE_AFTER: Duration = Duration::from_secs(14 * 24 * 3600);

const HELP: &str = "\
Tern AppImage

  Tern-*.AppImage [ARGUMENTS]     start Tern (unpacked once into
                                  $XDG_CACHE_HOME/tern-appimage/)
  --appimage-extract              unpack into ./squashfs-root and stop
  --appimage-offset               print where the image starts
  --appimage-help                 this text
";

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Tern: {e}");
            // Started from a file manager, nobody reads stderr: say it on
            // the desktop too, where notify-send is installed.
            if !std::io::stderr().is_terminal() {
                let _ = Command::new("notify-send")
                    .args(["--app-name=Tern", "Tern could not start"])
                    .arg(e.to_string())
                    .status();
            }
            ExitCode::from(127)
        }
    }
}

fn run() -> Result<ExitCode, Error> {
    let appimage = std::fs::canonicalize("/proc/self/exe")?;
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let args: Vec<OsString> = args.collect();
    match args.first().and_then(|a| a.to_str()) {
        Some("--appimage-help") => {
            print!("{HELP}");
            return Ok(ExitCode::SUCCESS);
        }
        Some("--appimage-offset") => {
            println!("{}", image_offset(&appimage)?);
            return Ok(ExitCode::SUCCESS);
        }
        Some("--appimage-extract") => {
            let offset = image_offset(&appimage)?;
            let dest = Path::new("squashfs-root");
            if dest.exists() {
                return Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "./squashfs-root already exists; remove it or unpack elsewhere",
                )));
            }
            let n = extract(&appimage, offset, dest)?;
            println!("{n} entries unpacked into squashfs-root");
            return Ok(ExitCode::SUCCESS);
        }
        Some(other) if other.starts_with("--appimage-") => {
            eprint!("Tern: unknown option {other}\n\n{HELP}");
            return Ok(ExitCode::from(2));
        }
        _ => {}
    }
    let cache = cache_dir().ok_or_else(|| {
        Error::Io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "neither XDG_CACHE_HOME nor HOME is set, so there is nowhere to unpack Tern",
        ))
    })?;
    let dir = unpacked(&appimage, &cache)?;
    remove_stale(&cache, &dir, STALE_AFTER);
    let owd = std::env::current_dir().unwrap_or_default();
    let err = Command::new(dir.join("AppRun"))
        .args(&args)
        .env("APPIMAGE", &appimage)
        .env("APPDIR", &dir)
        .env("ARGV0", &argv0)
        .env("OWD", owd)
        .exec();
    Err(Error::Io(std::io::Error::new(
        err.kind(),
        format!("cannot start {}: {err}", dir.join("AppRun").display()),
    )))
}

/// `$XDG_CACHE_HOME/tern-appimage`, else `~/.cache/tern-appimage`.
fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| Path::new(d).is_absolute())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("tern-appimage"))
}
