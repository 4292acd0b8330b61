//! Builds with test hooks never reach a package: they carry a marker
//! (`MARKER` in src/test_hooks.rs) that no other build has, and
//! `scripts/no-test-hooks`, which `scripts/appimage` and `scripts/bundle`
//! run, refuses them.
//!
//! Run it for both kinds of build:
//! `cargo test -p tern-app --test packaging` and the same with
//! `--features test-hooks`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The marker, as the scripts read it from the source.
fn marker() -> String {
    let source = fs::read_to_string(repo().join("src-tauri/src/test_hooks.rs")).unwrap();
    let line = source
        .lines()
        .find(|l| l.starts_with("pub const MARKER: &str = \""))
        .expect("src/test_hooks.rs defines MARKER");
    let marker = line
        .trim_start_matches("pub const MARKER: &str = \"")
        .trim_end_matches("\";");
    assert!(marker.len() >= 24, "a marker long enough to be unique");
    marker.to_string()
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("the script runs")
}

/// A stand-in for an app binary, with or without the marker.
fn fake_app(dir: &Path, name: &str, hooks: bool) -> PathBuf {
    let mut bytes = b"\x7fELF stand-in for the app ".repeat(100);
    if hooks {
        bytes.extend_from_slice(marker().as_bytes());
    }
    bytes.extend_from_slice(&[0u8; 1000]);
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A .deb holding `app` as usr/bin/tern.
fn fake_deb(dir: &Path, app: &Path, name: &str) -> PathBuf {
    let root = dir.join(format!("{name}.root"));
    fs::create_dir_all(root.join("DEBIAN")).unwrap();
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    fs::write(
        root.join("DEBIAN/control"),
        "Package: tern\nVersion: 0.1.0\nArchitecture: all\nMaintainer: Tern <tern@example.invalid>\nDescription: test\n",
    )
    .unwrap();
    fs::copy(app, root.join("usr/bin/tern")).unwrap();
    let deb = dir.join(format!("{name}.deb"));
    let built = run(Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group"])
        .arg(&root)
        .arg(&deb));
    assert!(built.status.success(), "{built:?}");
    deb
}

fn check(path: &Path, allow: bool) -> Output {
    let mut cmd = Command::new(repo().join("scripts/no-test-hooks"));
    cmd.arg(path).env_remove("TERN_ALLOW_TEST_HOOKS");
    if allow {
        cmd.env("TERN_ALLOW_TEST_HOOKS", "1");
    }
    run(&mut cmd)
}

#[test]
fn the_marker_is_in_builds_with_test_hooks_only() {
    let app = fs::read(env!("CARGO_BIN_EXE_tern")).unwrap();
    assert_eq!(
        contains(&app, &marker()),
        cfg!(feature = "test-hooks"),
        "the marker must be in a test-hooks build and in no other"
    );
    // The checker agrees about this very binary.
    let verdict = check(Path::new(env!("CARGO_BIN_EXE_tern")), false);
    assert_eq!(
        verdict.status.success(),
        !cfg!(feature = "test-hooks"),
        "{verdict:?}"
    );
}

#[test]
fn packaging_refuses_a_build_with_test_hooks() {
    let tmp = tempfile::tempdir().unwrap();
    let clean = fake_app(tmp.path(), "tern-release", false);
    let hooked = fake_app(tmp.path(), "tern-test-hooks", true);

    assert!(check(&clean, false).status.success());
    let refused = check(&hooked, false);
    assert_eq!(refused.status.code(), Some(1));
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        why.contains("test-hooks") && why.contains("must not be packaged"),
        "{why}"
    );
    // Tern's own e2e test packs its test build on purpose, saying so.
    let allowed = check(&hooked, true);
    assert!(allowed.status.success(), "{allowed:?}");
    assert!(String::from_utf8_lossy(&allowed.stderr).contains("warning"));

    // A .deb is checked inside, and never let through.
    let deb = fake_deb(tmp.path(), &hooked, "hooked");
    assert_eq!(check(&deb, false).status.code(), Some(1));
    assert_eq!(check(&deb, true).status.code(), Some(1));
    let deb = fake_deb(tmp.path(), &clean, "clean");
    assert!(check(&deb, false).status.success());

    // scripts/appimage stops before packing anything.
    let out = tmp.path().join("Tern.AppImage");
    let packed = run(Command::new(repo().join("scripts/appimage"))
        .arg(&hooked)
        .arg(&out)
        .env_remove("TERN_ALLOW_TEST_HOOKS"));
    assert!(!packed.status.success());
    let why = String::from_utf8_lossy(&packed.stderr);
    assert!(why.contains("must not be packaged"), "{why}");
    assert!(!out.exists());

    // scripts/bundle checks every .deb it made.
    let bundle = fs::read_to_string(repo().join("scripts/bundle")).unwrap();
    assert!(
        bundle.contains("scripts/no-test-hooks \"$deb\""),
        "scripts/bundle must check its packages"
    );
}
