//! A real AppImage made of the runtime and an image from Debian's
//! `mksquashfs`, started the way a person starts it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const RUNTIME: &str = env!("CARGO_BIN_EXE_tern-appimage-runtime");

/// An application directory whose `AppRun` writes down how it was started,
/// from its own copy of a data file that goes through the image.
fn app_dir(root: &Path, payload: &[u8]) -> PathBuf {
    let dir = root.join("Tern.AppDir");
    fs::create_dir_all(dir.join("usr/share/tern")).unwrap();
    fs::create_dir_all(dir.join("usr/lib/read-only")).unwrap();
    fs::write(dir.join("usr/share/tern/payload.bin"), payload).unwrap();
    fs::write(dir.join("usr/lib/read-only/x"), b"x").unwrap();
    fs::set_permissions(
        dir.join("usr/lib/read-only"),
        fs::Permissions::from_mode(0o555),
    )
    .unwrap();
    symlink("usr/share/tern/payload.bin", dir.join("payload-link")).unwrap();
    let app_run = dir.join("AppRun");
    fs::write(
        &app_run,
        "#!/bin/sh\n\
         here=\"$(dirname \"$(readlink -f \"$0\")\")\"\n\
         {\n\
           echo \"args:$*\"\n\
           echo \"appdir:$APPDIR\"\n\
           echo \"here:$here\"\n\
           echo \"appimage:$APPIMAGE\"\n\
           echo \"owd:$OWD\"\n\
         } > \"$OUT\"\n\
         cmp -s \"$here/payload-link\" \"$here/usr/share/tern/payload.bin\" || exit 3\n\
         cp \"$here/usr/share/tern/payload.bin\" \"$OUT.payload\"\n\
         exit 7\n",
    )
    .unwrap();
    fs::set_permissions(&app_run, fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// runtime + `mksquashfs` image of `dir`, as `scripts/appimage` makes it.
fn appimage(root: &Path, dir: &Path, name: &str) -> PathBuf {
    let image = root.join(format!("{name}.squashfs"));
    let status = Command::new("mksquashfs")
        .arg(dir)
        .arg(&image)
        .args([
            "-root-owned",
            "-noappend",
            "-quiet",
            "-no-progress",
            "-comp",
            "gzip",
        ])
        .status()
        .expect("mksquashfs (Debian package squashfs-tools) must be installed");
    assert!(status.success());
    let out = root.join(name);
    let mut bytes = fs::read(RUNTIME).unwrap();
    bytes.extend(fs::read(&image).unwrap());
    fs::write(&out, bytes).unwrap();
    fs::set_permissions(&out, fs::Permissions::from_mode(0o755)).unwrap();
    out
}

/// Runs `cmd`. A program just written can be "busy" for a moment: another
/// test's thread may fork while the file is still open for writing, and
/// the child holds it until it execs.
fn output(cmd: &mut Command) -> Output {
    for _ in 0..100 {
        match cmd.output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            r => return r.unwrap(),
        }
    }
    panic!("the program stayed busy");
}

fn start(appimage: &Path, cache: &Path, out: &Path, args: &[&str]) -> Output {
    output(
        Command::new(appimage)
            .args(args)
            .env("XDG_CACHE_HOME", cache)
            .env("OUT", out)
            .current_dir(cache.parent().unwrap()),
    )
}

fn cached_builds(cache: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = fs::read_dir(cache.join("tern-appimage"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn it_unpacks_once_and_runs_the_app_with_its_arguments() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // Random-looking bytes that do not compress, over several blocks.
    let payload: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let dir = app_dir(root, &payload);
    let app = appimage(root, &dir, "Tern.AppImage");
    let cache = root.join("cache");
    let out = root.join("out.txt");

    let first = start(
        &app,
        &cache,
        &out,
        &["xmpp:juliet@example.org?message", "two words"],
    );
    assert_eq!(
        first.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let report = fs::read_to_string(&out).unwrap();
    assert!(
        report.contains("args:xmpp:juliet@example.org?message two words"),
        "{report}"
    );
    assert!(
        report.contains(&format!("appimage:{}", app.display())),
        "{report}"
    );
    assert!(
        report.contains(&format!("owd:{}", root.display())),
        "{report}"
    );
    let builds = cached_builds(&cache);
    assert_eq!(builds.len(), 1);
    assert!(
        report.contains(&format!("appdir:{}", builds[0].display())),
        "{report}"
    );
    assert!(
        report.contains(&format!("here:{}", builds[0].display())),
        "{report}"
    );
    assert_eq!(fs::read(root.join("out.txt.payload")).unwrap(), payload);
    // Permissions came through: the AppRun ran, the read-only folder is
    // still read-only for others.
    let mode = fs::metadata(builds[0].join("usr/lib/read-only"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);

    // The second start uses the same directory, without unpacking: a file
    // left in it is still there.
    fs::write(builds[0].join("left-here"), b"").unwrap();
    let second = start(&app, &cache, &out, &[]);
    assert_eq!(second.status.code(), Some(7));
    assert!(builds[0].join("left-here").exists());
    assert_eq!(cached_builds(&cache), builds);

    // A new build gets its own directory.
    fs::write(dir.join("usr/share/tern/payload.bin"), b"version 2").unwrap();
    let app2 = appimage(root, &dir, "Tern-2.AppImage");
    assert_eq!(start(&app2, &cache, &out, &[]).status.code(), Some(7));
    assert_eq!(
        fs::read(root.join("out.txt.payload")).unwrap(),
        b"version 2"
    );
    assert_eq!(cached_builds(&cache).len(), 2);
}

#[test]
fn its_own_options_extract_and_tell_the_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dir = app_dir(root, b"hello");
    let app = appimage(root, &dir, "Tern.AppImage");

    let offset = output(Command::new(&app).arg("--appimage-offset"));
    assert!(offset.status.success());
    let offset: u64 = String::from_utf8(offset.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(offset, fs::metadata(RUNTIME).unwrap().len());

    let work = root.join("work");
    fs::create_dir(&work).unwrap();
    let extract = output(
        Command::new(&app)
            .arg("--appimage-extract")
            .current_dir(&work),
    );
    assert!(
        extract.status.success(),
        "{}",
        String::from_utf8_lossy(&extract.stderr)
    );
    assert_eq!(
        fs::read(work.join("squashfs-root/usr/share/tern/payload.bin")).unwrap(),
        b"hello"
    );
    assert_eq!(
        fs::read_link(work.join("squashfs-root/payload-link")).unwrap(),
        PathBuf::from("usr/share/tern/payload.bin")
    );
    // Twice: it does not write over what is there.
    let again = output(
        Command::new(&app)
            .arg("--appimage-extract")
            .current_dir(&work),
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let unknown = output(Command::new(&app).arg("--appimage-mount"));
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn a_damaged_appimage_says_so_and_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // Text compresses, so its blocks are stored compressed and garbage in
    // them shows. (SquashFS has no checksums: damage in data stored as it
    // is cannot be seen by any runtime.)
    let payload: Vec<u8> = (0..100_000)
        .flat_map(|i| format!("line {i}\n").into_bytes())
        .collect();
    let dir = app_dir(root, &payload);
    let app = appimage(root, &dir, "Tern.AppImage");
    let cache = root.join("cache");
    let out = root.join("out.txt");

    // Cut off in the middle, as by an interrupted download.
    let bytes = fs::read(&app).unwrap();
    let runtime_len = fs::metadata(RUNTIME).unwrap().len() as usize;
    let cut = root.join("Cut.AppImage");
    fs::write(
        &cut,
        &bytes[..runtime_len + (bytes.len() - runtime_len) / 2],
    )
    .unwrap();
    fs::set_permissions(&cut, fs::Permissions::from_mode(0o755)).unwrap();
    let r = start(&cut, &cache, &out, &[]);
    assert_eq!(r.status.code(), Some(127));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("damaged") && err.contains("download it again"),
        "{err}"
    );
    assert!(!out.exists(), "the app ran from a damaged image");
    assert!(
        cached_builds(&cache).is_empty(),
        "{:?}",
        cached_builds(&cache)
    );

    // The program alone, with no image.
    let bare = root.join("Bare.AppImage");
    fs::copy(RUNTIME, &bare).unwrap();
    let r = start(&bare, &cache, &out, &[]);
    assert_eq!(r.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&r.stderr).contains("no application image"));

    // Garbage in the image's data blocks.
    let mut bytes = bytes;
    for b in &mut bytes[runtime_len + 20_000..runtime_len + 22_000] {
        *b ^= 0x5a;
    }
    let garbled = root.join("Garbled.AppImage");
    fs::write(&garbled, &bytes).unwrap();
    fs::set_permissions(&garbled, fs::Permissions::from_mode(0o755)).unwrap();
    let r = start(&garbled, &cache, &out, &[]);
    assert_eq!(
        r.status.code(),
        Some(127),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(String::from_utf8_lossy(&r.stderr).contains("damaged"));
    assert!(!String::from_utf8_lossy(&r.stderr).contains("panicked"));
    assert!(!out.exists());
}
