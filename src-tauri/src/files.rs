//! The desktop side of sharing files: which files the window may send (only
//! those the user picked or dropped), pasted pictures written to a private
//! file for the engine, the user's file choices kept on disk, and handing a
//! local copy to the system (open it, show it in its folder).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tern_core::{FilePrefs, PhotoQuality};

use crate::boundary::{percent_decoded, UiError};

/// Event carrying a [`FileDrag`]: files dragged over the window or dropped
/// on it.
pub const EVENT_DRAG: &str = "tern://file-drag";

/// A file the user picked or dropped, as the window sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct PickedFile {
    /// Where it is (the window hands it back to send it).
    pub path: String,
    /// Its name.
    pub name: String,
    /// Its size in bytes, if it could be read.
    #[specta(type = Option<f64>)]
    pub size: Option<u64>,
    /// `image/png`, `image/jpeg`, `image/gif` or `image/webp` when its first
    /// bytes say it is one; else `None`.
    pub media_type: Option<String>,
}

/// Files dragged over the window.
#[derive(Clone, Debug, Serialize, specta::Type)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum FileDrag {
    /// Something is dragged over the window.
    Over,
    /// The drag left the window (or was cancelled).
    Left,
    /// Files were dropped on the window.
    Dropped {
        /// The files (folders are left out).
        files: Vec<PickedFile>,
    },
}

/// What the window may ask the engine to send: paths the user picked in
/// Tern's dialog or dropped on its window, the most recent first. A page
/// that was tricked into naming another file gets a refusal, not the file.
#[derive(Debug, Default)]
pub struct Offered(Mutex<VecDeque<PathBuf>>);

/// Paths remembered at most.
const OFFERED: usize = 512;

impl Offered {
    /// Remembers paths the user chose.
    pub fn add(&self, paths: impl IntoIterator<Item = PathBuf>) {
        let mut list = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for p in paths {
            list.retain(|q| q != &p);
            list.push_front(p);
        }
        list.truncate(OFFERED);
    }

    /// The paths, if the user chose every one of them.
    pub fn check(&self, paths: &[String]) -> Result<Vec<PathBuf>, UiError> {
        let list = self.0.lock().unwrap_or_else(|p| p.into_inner());
        paths
            .iter()
            .map(PathBuf::from)
            .map(|p| {
                if list.contains(&p) {
                    Ok(p)
                } else {
                    Err(UiError::new(
                        "not_offered",
                        "Tern sends only files you choose or drop on its window. Choose the file again.",
                    ))
                }
            })
            .collect()
    }
}

/// Reads what the window shows about a file: name, size, image type.
/// `None` for a folder or anything that is not a file.
pub fn describe(path: &Path) -> Option<PickedFile> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    let mut head = [0u8; 16];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .unwrap_or(0);
    Some(PickedFile {
        path: path.to_string_lossy().into_owned(),
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into()),
        size: Some(meta.len()),
        media_type: crate::media::image_type(&head[..n]).map(str::to_string),
    })
}

/// Header naming the conversation a pasted file goes to (percent-encoded).
pub const PEER_HEADER: &str = "tern-peer";
/// Header with the pasted file's name (percent-encoded).
pub const NAME_HEADER: &str = "tern-name";
/// Header with the caption sent after the file (percent-encoded, optional).
pub const CAPTION_HEADER: &str = "tern-caption";
/// Header with the photo quality for this send (`smaller` or `original`,
/// optional: the user's choice in Settings).
pub const QUALITY_HEADER: &str = "tern-quality";
/// Largest pasted file.
pub const MAX_PASTED_BYTES: usize = 100 * 1024 * 1024;

/// A pasted file: who it goes to, its name and bytes.
#[derive(Debug)]
pub struct Pasted {
    /// Sending account.
    pub account: String,
    /// The conversation.
    pub peer: String,
    /// A safe file name.
    pub name: String,
    /// Text to send after it.
    pub caption: Option<String>,
    /// Photo quality for this send.
    pub quality: Option<PhotoQuality>,
    /// The bytes.
    pub bytes: Vec<u8>,
}

fn header(headers: &tauri::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| percent_decoded(v.as_bytes()))
}

/// Reads a pasted file: the raw request body and its headers.
pub fn pasted(
    body: &tauri::ipc::InvokeBody,
    headers: &tauri::http::HeaderMap,
) -> Result<Pasted, UiError> {
    let bad = |what: &str| UiError::new("bad_request", format!("Tern did not say {what}."));
    let account = header(headers, crate::boundary::ACCOUNT_HEADER)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| bad("which account sends the file"))?;
    let peer = header(headers, PEER_HEADER)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| bad("where the file goes"))?;
    let name = safe_name(&header(headers, NAME_HEADER).unwrap_or_default());
    let caption = header(headers, CAPTION_HEADER).filter(|c| !c.trim().is_empty());
    let quality = match headers.get(QUALITY_HEADER).map(|v| v.as_bytes()) {
        None => None,
        Some(b"smaller") => Some(PhotoQuality::Smaller),
        Some(b"original") => Some(PhotoQuality::Original),
        Some(_) => return Err(bad("how to send the photo")),
    };
    let tauri::ipc::InvokeBody::Raw(bytes) = body else {
        return Err(UiError::new(
            "bad_request",
            "The pasted file did not arrive as bytes. Paste it again.",
        ));
    };
    if bytes.is_empty() {
        return Err(UiError::new("unreadable", "The pasted file is empty."));
    }
    if bytes.len() > MAX_PASTED_BYTES {
        return Err(UiError::new(
            "too_large",
            format!(
                "The pasted file is too large ({:.1} MB). Tern takes pasted files up to {} MB; save it and attach it instead.",
                bytes.len() as f64 / (1024.0 * 1024.0),
                MAX_PASTED_BYTES / (1024 * 1024)
            ),
        ));
    }
    Ok(Pasted {
        account,
        peer,
        name,
        caption,
        quality,
        bytes: bytes.clone(),
    })
}

/// A file name without folders, control characters or a leading dot, at
/// most 120 characters; "pasted-image.png" when nothing is left.
pub fn safe_name(name: &str) -> String {
    let cleaned: String = name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control() && !crate::boundary::is_bidi_control(*c))
        .map(|c| {
            if matches!(c, ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    let cut: String = cleaned
        .chars()
        .rev()
        .take(120)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if cut.is_empty() {
        "pasted-image.png".into()
    } else {
        cut
    }
}

/// A private folder for one pasted file under the data folder's `tmp`,
/// removed (with the file) when dropped.
pub struct PasteFile {
    dir: PathBuf,
    /// The file.
    pub path: PathBuf,
}

impl PasteFile {
    /// Writes `bytes` as `name` in a new folder of its own (the user's
    /// only: Tern runs with umask 077).
    pub fn write(data_dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PasteFile> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let tmp = data_dir.join("tmp");
        std::fs::create_dir_all(&tmp)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = tmp.join(format!(
            "paste-{}-{}-{nanos:08x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        // A new folder: fails rather than reuse one that is there.
        std::fs::create_dir(&dir)?;
        let file = PasteFile {
            path: dir.join(name),
            dir,
        };
        std::fs::write(&file.path, bytes)?;
        Ok(file)
    }
}

impl Drop for PasteFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The file that keeps the user's file choices.
fn prefs_path(data_dir: &Path) -> PathBuf {
    data_dir.join("file-prefs.json")
}

/// The file choices saved last time, if any (a damaged file is ignored).
pub fn load_prefs(data_dir: &Path) -> Option<FilePrefs> {
    let text = std::fs::read(prefs_path(data_dir)).ok()?;
    match serde_json::from_slice(&text) {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::warn!("ignored the saved file choices: {e}");
            None
        }
    }
}

/// Saves the file choices (whole or not at all: written beside, then renamed).
pub fn save_prefs(data_dir: &Path, prefs: &FilePrefs) -> std::io::Result<()> {
    let path = prefs_path(data_dir);
    let tmp = path.with_extension("json.new");
    let json = serde_json::to_vec_pretty(prefs).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, &path)
}

/// Endings of files that run as programs when opened: Tern shows them in
/// their folder instead of opening them.
const PROGRAMS: &[&str] = &[
    "app", "appimage", "apk", "bat", "bin", "cmd", "com", "command", "cpl", "deb", "desktop",
    "dll", "dmg", "exe", "hta", "jar", "js", "jse", "lnk", "msc", "msi", "msp", "pif", "pkg",
    "ps1", "psm1", "py", "reg", "rpm", "run", "scr", "sh", "so", "url", "vb", "vbe", "vbs", "ws",
    "wsf", "wsh",
];

/// Whether opening `path` could run it.
pub fn is_program(path: &Path) -> bool {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    PROGRAMS.contains(&ext.as_str()) || is_executable(path)
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_: &Path) -> bool {
    false
}

/// Opens a local copy in the system's app for its type.
pub fn open(path: &Path) -> Result<(), UiError> {
    if is_program(path) {
        return Err(UiError::new(
            "not_opened",
            "Tern does not open programs and scripts. Use Show in folder if you trust it.",
        ));
    }
    crate::links::open_path(path.as_os_str())
        .map_err(|e| UiError::new("open_failed", format!("Tern could not open the file: {e}.")))
}

/// Shows a local copy selected in the system's file manager (Linux: the
/// `org.freedesktop.FileManager1` service; else its folder).
pub async fn show_in_folder(path: &Path) -> Result<(), UiError> {
    let failed = |e: std::io::Error| {
        UiError::new("open_failed", format!("Tern could not show the file: {e}."))
    };
    #[cfg(target_os = "macos")]
    {
        spawn(std::process::Command::new("open").arg("-R").arg(path)).map_err(failed)
    }
    #[cfg(target_os = "windows")]
    {
        let mut arg = std::ffi::OsString::from("/select,");
        arg.push(path.as_os_str());
        spawn(std::process::Command::new("explorer").arg(arg)).map_err(failed)
    }
    #[cfg(not(any(target_os = "macos", target_os = "windows")))]
    {
        match file_manager_show(path).await {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::info!("no file manager service ({e}); opening the folder");
                let folder = path.parent().unwrap_or(path);
                crate::links::open_path(folder.as_os_str()).map_err(failed)
            }
        }
    }
}

#[cfg(any(target_os = "macos", target_os = "windows"))]
fn spawn(command: &mut std::process::Command) -> std::io::Result<()> {
    use std::process::Stdio;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(|mut child| {
            std::thread::spawn(move || child.wait());
        })
}

#[cfg(not(any(target_os = "macos", target_os = "windows")))]
async fn file_manager_show(path: &Path) -> Result<(), String> {
    let uri = tauri::Url::from_file_path(path).map_err(|()| "not an absolute path".to_string())?;
    let conn = zbus::Connection::session()
        .await
        .map_err(|e| e.to_string())?;
    conn.call_method(
        Some("org.freedesktop.FileManager1"),
        "/org/freedesktop/FileManager1",
        Some("org.freedesktop.FileManager1"),
        "ShowItems",
        &(vec![uri.as_str()], ""),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// Copies a local copy to where the user chose (through a file beside the
/// target, so a failed copy leaves nothing half-written).
pub fn copy_to(from: &Path, to: &Path) -> Result<(), UiError> {
    let failed = |e: std::io::Error| {
        UiError::new("save_failed", format!("Tern could not save the file: {e}."))
    };
    if from == to {
        return Ok(());
    }
    let tmp = to.with_file_name(format!(
        ".{}.tern-partial",
        to.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    std::fs::copy(from, &tmp).map_err(failed)?;
    std::fs::rename(&tmp, to).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        failed(e)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn only_files_the_user_chose_can_be_sent() {
        let offered = Offered::default();
        offered.add([
            PathBuf::from("/home/u/a.png"),
            PathBuf::from("/home/u/b.pdf"),
        ]);
        assert_eq!(
            offered.check(&["/home/u/b.pdf".into()]).unwrap(),
            [PathBuf::from("/home/u/b.pdf")]
        );
        let e = offered
            .check(&["/home/u/a.png".into(), "/home/u/.ssh/id_ed25519".into()])
            .unwrap_err();
        assert_eq!(e.kind, "not_offered");
        for i in 0..OFFERED {
            offered.add([PathBuf::from(format!("/x/{i}"))]);
        }
        assert!(offered.check(&["/home/u/a.png".into()]).is_err(), "bounded");
        assert!(offered.check(&["/x/0".into()]).is_ok());
    }

    #[test]
    fn pasted_names_stay_in_their_folder() {
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("..\\..\\boot.ini"), "boot.ini");
        assert_eq!(safe_name(".bashrc"), "bashrc");
        assert_eq!(safe_name(""), "pasted-image.png");
        assert_eq!(safe_name(".."), "pasted-image.png");
        assert_eq!(safe_name("a\u{202E}gnp.exe"), "agnp.exe");
        assert_eq!(safe_name("a:b?.png"), "a_b_.png");
        assert_eq!(safe_name(&"x".repeat(300)).len(), 120);
        assert_eq!(safe_name("Screenshot 2026.png"), "Screenshot 2026.png");
    }

    fn headers(pairs: &[(&'static str, &str)]) -> tauri::http::HeaderMap {
        let mut h = tauri::http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn pasted_files_come_as_raw_bytes() {
        use tauri::ipc::InvokeBody;
        let h = headers(&[
            ("tern-account", "a%40x"),
            ("tern-peer", "j%C3%BC%40y"),
            ("tern-name", "image%2Fclip.png"),
            ("tern-caption", "look%21"),
            ("tern-quality", "original"),
        ]);
        let p = pasted(&InvokeBody::Raw(vec![1, 2]), &h).unwrap();
        assert_eq!(p.account, "a@x");
        assert_eq!(p.peer, "jü@y");
        assert_eq!(p.name, "clip.png");
        assert_eq!(p.caption.as_deref(), Some("look!"));
        assert_eq!(p.quality, Some(PhotoQuality::Original));
        assert_eq!(p.bytes, [1, 2]);
        let json = InvokeBody::Json(serde_json::json!([1]));
        assert_eq!(pasted(&json, &h).unwrap_err().kind, "bad_request");
        assert_eq!(
            pasted(&InvokeBody::Raw(vec![]), &h).unwrap_err().kind,
            "unreadable"
        );
        let no_peer = headers(&[("tern-account", "a%40x")]);
        assert_eq!(
            pasted(&InvokeBody::Raw(vec![1]), &no_peer)
                .unwrap_err()
                .kind,
            "bad_request"
        );
        let odd = headers(&[
            ("tern-account", "a"),
            ("tern-peer", "b"),
            ("tern-quality", "huge"),
        ]);
        assert!(pasted(&InvokeBody::Raw(vec![1]), &odd).is_err());
    }

    #[test]
    fn a_pasted_file_leaves_nothing_behind() {
        let tmp = tempfile::tempdir().unwrap();
        let f = PasteFile::write(tmp.path(), "clip.png", b"bytes").unwrap();
        assert_eq!(std::fs::read(&f.path).unwrap(), b"bytes");
        let dir = f.path.parent().unwrap().to_path_buf();
        drop(f);
        assert!(!dir.exists());
    }

    #[test]
    fn prefs_survive_a_restart() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(load_prefs(tmp.path()), None);
        let prefs = FilePrefs {
            photo_quality: PhotoQuality::Original,
            auto_download_bytes: 0,
            cache_bytes: 1 << 30,
        };
        save_prefs(tmp.path(), &prefs).unwrap();
        assert_eq!(load_prefs(tmp.path()), Some(prefs));
        std::fs::write(tmp.path().join("file-prefs.json"), b"{broken").unwrap();
        assert_eq!(load_prefs(tmp.path()), None);
    }

    #[test]
    fn programs_are_not_opened() {
        for p in ["a.exe", "b.DESKTOP", "c.sh", "d.Bat", "e.appimage"] {
            assert!(is_program(Path::new(p)), "{p}");
        }
        for p in ["a.png", "b.pdf", "notes.txt", "archive.zip"] {
            assert!(!is_program(Path::new(p)), "{p}");
        }
    }

    #[test]
    fn describes_files_not_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let png = tmp.path().join("p.png");
        std::fs::write(&png, b"\x89PNG\r\n\x1a\nrest").unwrap();
        let d = describe(&png).unwrap();
        assert_eq!(
            (d.name.as_str(), d.size, d.media_type.as_deref()),
            ("p.png", Some(12), Some("image/png"))
        );
        let txt = tmp.path().join("t.svg");
        std::fs::write(&txt, b"<svg/>").unwrap();
        assert_eq!(describe(&txt).unwrap().media_type, None);
        assert!(describe(tmp.path()).is_none());
    }
}
