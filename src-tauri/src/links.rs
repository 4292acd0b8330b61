//! Opens a checked link ([`crate::boundary::checked_link`]) in the system's
//! browser or XMPP handler, and a local file in the app for its type,
//! without a shell in between; and keeps the window on Tern's own pages.

use std::process::{Command, Stdio};

use tauri::{Runtime, Url};

/// Whether the window may show `url`: Tern's own pages only (and the Vite
/// dev server in development builds).
pub fn stays_in_app(url: &Url) -> bool {
    let host = url.host_str();
    match url.scheme() {
        "tauri" => host == Some("localhost"),
        "http" | "https" if host == Some("tauri.localhost") => true,
        "http" if cfg!(not(feature = "custom-protocol")) => host == Some("localhost"),
        "about" => url.path() == "blank",
        _ => false,
    }
}

/// A plugin that cancels every navigation away from Tern's pages. A link
/// that gets there anyway (a middle click, a drag) opens in the system's
/// browser when [`crate::boundary::checked_link`] allows it.
pub fn guard<R: Runtime>() -> tauri::plugin::TauriPlugin<R> {
    tauri::plugin::Builder::new("navigation-guard")
        .on_navigation(|_, url| {
            if stays_in_app(url) {
                return true;
            }
            tracing::info!(scheme = url.scheme(), "kept the window on Tern's pages");
            if let Ok(link) = crate::boundary::checked_link(url.as_str()) {
                if let Err(e) = open(link) {
                    tracing::warn!("could not open a link: {e}");
                }
            }
            false
        })
        .build()
}

/// Hands `url` to the platform's opener and returns once it started.
pub fn open(url: &str) -> std::io::Result<()> {
    launch(std::ffi::OsStr::new(url))
}

/// Hands a local file or folder to the platform's opener (the app for its
/// type) and returns once it started.
pub fn open_path(path: &std::ffi::OsStr) -> std::io::Result<()> {
    launch(path)
}

fn launch(target: &std::ffi::OsStr) -> std::io::Result<()> {
    #[cfg(target_os = "windows")]
    let mut command = {
        let mut c = Command::new("rundll32");
        c.arg("url.dll,FileProtocolHandler").arg(target);
        c
    };
    #[cfg(target_os = "macos")]
    let mut command = {
        let mut c = Command::new("open");
        c.arg(target);
        c
    };
    #[cfg(not(any(target_os = "windows", target_os = "macos")))]
    let mut command = {
        let mut c = Command::new("xdg-open");
        c.arg(target);
        c
    };
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(|mut child| {
            // Reap it when it exits.
            std::thread::spawn(move || child.wait());
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_stays_on_terns_pages() {
        for ok in [
            "tauri://localhost/index.html",
            "http://tauri.localhost/",
            "https://tauri.localhost/assets/x.js",
            "about:blank",
        ] {
            assert!(stays_in_app(&Url::parse(ok).unwrap()), "{ok}");
        }
        for away in [
            "https://example.org/",
            "http://tauri.localhost.evil.example/",
            "javascript:alert(1)",
            "file:///etc/passwd",
            "xmpp:juliet@example.org",
            "data:text/html,x",
            "tauri://elsewhere/",
        ] {
            assert!(!stays_in_app(&Url::parse(away).unwrap()), "{away}");
        }
    }
}
