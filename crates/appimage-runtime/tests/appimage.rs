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

/// What changes when a file is written again: its inode and change time.
fn identity(path: &Path) -> (u64, i64, i64) {
    use std::os::unix::fs::MetadataExt;
    let m = fs::symlink_metadata(path).unwrap();
    (m.ino(), m.ctime(), m.ctime_nsec())
}

/// Every entry below `dir` (symbolic links not followed).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        out.push(path.clone());
        if fs::symlink_metadata(&path).unwrap().is_dir() {
            walk(&path, out);
        }
    }
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

    // The second start uses the same directory, without unpacking: the
    // files are the same ones (same inode, same change time).
    let payload_file = builds[0].join("usr/share/tern/payload.bin");
    let before = identity(&payload_file);
    let second = start(&app, &cache, &out, &[]);
    assert_eq!(second.status.code(), Some(7));
    assert_eq!(identity(&payload_file), before, "unpacked again");
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

#[test]
fn no_one_else_may_write_to_the_unpacked_build() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dir = app_dir(root, b"hello");
    // Modes an image may carry that would let other users change Tern.
    fs::create_dir_all(dir.join("usr/share/open")).unwrap();
    fs::write(dir.join("usr/share/open/file"), b"x").unwrap();
    fs::write(dir.join("usr/share/tern/writable-by-all"), b"x").unwrap();
    fs::write(dir.join("usr/share/tern/group-script"), b"#!/bin/sh\n").unwrap();
    for (path, mode) in [
        ("usr/share/open", 0o777),
        ("usr/share/open/file", 0o666),
        ("usr/share/tern/writable-by-all", 0o666),
        ("usr/share/tern/group-script", 0o775),
        ("usr", 0o775),
        ("AppRun", 0o777),
    ] {
        fs::set_permissions(dir.join(path), fs::Permissions::from_mode(mode)).unwrap();
    }
    let app = appimage(root, &dir, "Tern.AppImage");
    let cache = root.join("cache");
    let out = root.join("out.txt");
    let r = start(&app, &cache, &out, &[]);
    assert_eq!(
        r.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );

    let builds = cached_builds(&cache);
    let mut entries = vec![cache.join("tern-appimage"), builds[0].clone()];
    walk(&builds[0], &mut entries);
    for path in &entries {
        let m = fs::symlink_metadata(path).unwrap();
        if m.file_type().is_symlink() {
            continue;
        }
        assert_eq!(
            m.permissions().mode() & 0o022,
            0,
            "{} is writable by others ({:o})",
            path.display(),
            m.permissions().mode() & 0o777
        );
    }
    // The rest of the modes came through.
    let mode = |p: &str| {
        fs::metadata(builds[0].join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("usr/share/open"), 0o755);
    assert_eq!(mode("usr/share/open/file"), 0o644);
    assert_eq!(mode("usr/share/tern/group-script"), 0o755);
    assert_eq!(mode("AppRun"), 0o755);

    // --appimage-extract strips them too.
    let work = root.join("work");
    fs::create_dir(&work).unwrap();
    let extract = output(
        Command::new(&app)
            .arg("--appimage-extract")
            .current_dir(&work),
    );
    assert!(extract.status.success());
    let mut entries = Vec::new();
    walk(&work.join("squashfs-root"), &mut entries);
    for path in &entries {
        let m = fs::symlink_metadata(path).unwrap();
        if !m.file_type().is_symlink() {
            assert_eq!(m.permissions().mode() & 0o022, 0, "{}", path.display());
        }
    }
}

#[test]
fn a_changed_unpacked_build_is_unpacked_again_before_it_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let dir = app_dir(root, &payload);
    let app = appimage(root, &dir, "Tern.AppImage");
    let cache = root.join("cache");
    let out = root.join("out.txt");
    assert_eq!(start(&app, &cache, &out, &[]).status.code(), Some(7));
    let build = cached_builds(&cache)[0].clone();
    let pristine = {
        let mut v = Vec::new();
        walk(&build, &mut v);
        v.sort();
        v
    };

    type Change = fn(&Path);
    let changes: [(&str, Change); 8] = [
        ("a file's bytes, same size", |b| {
            let p = b.join("usr/share/tern/payload.bin");
            let mut bytes = fs::read(&p).unwrap();
            bytes[1000] ^= 0xff;
            fs::write(&p, bytes).unwrap();
        }),
        ("a file cut short", |b| {
            let p = b.join("usr/share/tern/payload.bin");
            let bytes = fs::read(&p).unwrap();
            fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        }),
        ("AppRun replaced", |b| {
            let p = b.join("AppRun");
            fs::remove_file(&p).unwrap();
            fs::write(&p, "#!/bin/sh\necho tampered > \"$OUT\"\nexit 9\n").unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        }),
        ("a library dropped in", |b| {
            fs::write(b.join("usr/lib/libextra.so.1"), b"\x7fELF").unwrap();
        }),
        ("a file removed", |b| {
            fs::remove_file(b.join("usr/lib/read-only/x")).unwrap();
        }),
        ("a folder made writable by all", |b| {
            fs::set_permissions(b.join("usr/share/tern"), fs::Permissions::from_mode(0o777))
                .unwrap();
        }),
        ("a link pointed elsewhere", |b| {
            let p = b.join("payload-link");
            fs::remove_file(&p).unwrap();
            symlink("/etc/hostname", &p).unwrap();
        }),
        ("the record of what was unpacked removed", |b| {
            fs::remove_file(b.join(".tern-complete")).unwrap();
        }),
    ];
    for (what, change) in changes {
        let _ = fs::remove_file(&out);
        change(&build);
        let r = start(&app, &cache, &out, &[]);
        assert_eq!(
            r.status.code(),
            Some(7),
            "after {what}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        assert!(
            fs::read(root.join("out.txt.payload")).unwrap() == payload,
            "after {what}: the app ran with other data"
        );
        let mut now = Vec::new();
        walk(&build, &mut now);
        now.sort();
        assert_eq!(now, pristine, "after {what}");
        assert_eq!(cached_builds(&cache), vec![build.clone()], "after {what}");
        // And it is reused again as it is.
        let id = identity(&build.join("usr/share/tern/payload.bin"));
        assert_eq!(start(&app, &cache, &out, &[]).status.code(), Some(7));
        assert_eq!(
            identity(&build.join("usr/share/tern/payload.bin")),
            id,
            "after {what}"
        );
    }
}

#[test]
fn a_cache_folder_others_may_write_to_is_made_private() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dir = app_dir(root, b"hello");
    let app = appimage(root, &dir, "Tern.AppImage");
    let cache = root.join("cache");
    fs::create_dir_all(cache.join("tern-appimage")).unwrap();
    fs::set_permissions(
        cache.join("tern-appimage"),
        fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    let out = root.join("out.txt");
    assert_eq!(start(&app, &cache, &out, &[]).status.code(), Some(7));
    let mode = fs::metadata(cache.join("tern-appimage"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "{:o}", mode & 0o777);
}
