//! The tray icon: shows the number of unread messages, brings the window
//! back (it hides there when closed, if the user keeps that setting) and
//! quits. While a call rings, its tooltip says who calls and its menu
//! offers to answer or decline.

use std::collections::HashMap;
use std::sync::Mutex;

use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager};
use tern_core::ClientEvent;

/// Unread messages per conversation, and the icon and window title
/// showing their sum.
#[derive(Default)]
pub struct Tray {
    unread: Mutex<HashMap<(String, String), i64>>,
    icon: Mutex<Option<TrayIcon>>,
    app: Mutex<Option<AppHandle>>,
    /// The incoming call that rings: its id and who calls (their name once
    /// known, else their address).
    ringing: Mutex<Option<(String, String)>>,
}

/// What a call's event changes in the tray.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RingChange {
    /// An incoming call began to ring.
    Started,
    /// The call that rang rings no more (answered, declined, over).
    Stopped,
}

/// What the tooltip says for `n` unread messages while `caller` calls.
pub fn tooltip_with_call(n: i64, caller: Option<&str>) -> String {
    match caller {
        Some(who) => format!("Tern: {who} is calling"),
        None => tooltip(n),
    }
}

/// The tray menu's entry that answers the call of `caller`.
pub fn answer_label(caller: &str) -> String {
    format!("Answer call from {caller}")
}

/// The window's title for `n` unread messages, as task bars and window
/// switchers show it.
pub fn window_title(n: i64) -> String {
    if n > 0 {
        format!("Tern ({n})")
    } else {
        "Tern".into()
    }
}

/// What the tooltip says for `n` unread messages.
pub fn tooltip(n: i64) -> String {
    match n {
        0 => "Tern".into(),
        1 => "Tern: 1 unread message".into(),
        n => format!("Tern: {n} unread messages"),
    }
}

impl Tray {
    /// Whether an icon is in the tray (closing the window then hides it).
    pub fn present(&self) -> bool {
        self.icon.lock().map(|i| i.is_some()).unwrap_or(false)
    }

    /// Total unread messages.
    pub fn total(&self) -> i64 {
        self.unread.lock().map(|m| m.values().sum()).unwrap_or(0)
    }

    /// Follows conversation changes; updates the icon when the sum moves.
    pub fn on_event(&self, event: &ClientEvent) {
        let changed = match event {
            ClientEvent::Conversation { conversation: c } => {
                let mut m = self.unread.lock().unwrap_or_else(|p| p.into_inner());
                let key = (c.account.clone(), c.peer.clone());
                let old = m.get(&key).copied().unwrap_or(0);
                if c.unread > 0 {
                    m.insert(key, c.unread);
                } else {
                    m.remove(&key);
                }
                old != c.unread.max(0)
            }
            ClientEvent::ConversationDeleted { account, peer } => {
                let mut m = self.unread.lock().unwrap_or_else(|p| p.into_inner());
                m.remove(&(account.clone(), peer.clone())).is_some()
            }
            ClientEvent::AccountRemoved { jid } => {
                let mut m = self.unread.lock().unwrap_or_else(|p| p.into_inner());
                let before = m.len();
                m.retain(|(a, _), _| a != jid);
                before != m.len()
            }
            _ => false,
        };
        if changed {
            self.refresh();
        }
    }

    /// Follows a call's event: the tray shows a call that rings here
    /// until it stops. Returns what changed.
    pub fn on_call(&self, call: &tern_core::CallView) -> Option<RingChange> {
        let rings = call.state == tern_core::CallState::Ringing && !call.outgoing;
        let changed = {
            let mut r = self.ringing.lock().unwrap_or_else(|p| p.into_inner());
            match (&*r, rings) {
                (Some((id, _)), true) if *id == call.id => None,
                (_, true) => {
                    *r = Some((call.id.clone(), call.peer.clone()));
                    Some(RingChange::Started)
                }
                (Some((id, _)), false) if *id == call.id => {
                    *r = None;
                    Some(RingChange::Stopped)
                }
                _ => None,
            }
        };
        if changed.is_some() {
            self.refresh();
            self.set_menu();
        }
        changed
    }

    /// Names who calls (their contact name, found after the call began to
    /// ring), if call `id` still rings.
    pub fn set_caller(&self, id: &str, caller: String) {
        {
            let mut r = self.ringing.lock().unwrap_or_else(|p| p.into_inner());
            match r.as_mut() {
                Some((rid, who)) if rid == id && *who != caller => *who = caller,
                _ => return,
            }
        }
        self.refresh();
        self.set_menu();
    }

    /// The call that rings and who calls.
    pub fn ringing(&self) -> Option<(String, String)> {
        self.ringing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The menu for now: answer and decline first while a call rings.
    fn set_menu(&self) {
        let app = self.app.lock().ok().and_then(|a| a.clone());
        let (Some(app), Ok(icon)) = (app, self.icon.lock()) else {
            return;
        };
        let Some(icon) = icon.as_ref() else { return };
        match menu(&app, self.ringing().map(|(_, who)| who).as_deref()) {
            Ok(m) => {
                let _ = icon.set_menu(Some(m));
            }
            Err(e) => tracing::info!("tray menu not changed: {e}"),
        }
    }

    /// Sets the counts from a full list (start-up).
    pub fn reset(&self, counts: impl IntoIterator<Item = ((String, String), i64)>) {
        {
            let mut m = self.unread.lock().unwrap_or_else(|p| p.into_inner());
            m.clear();
            m.extend(counts.into_iter().filter(|(_, n)| *n > 0));
        }
        self.refresh();
    }

    fn refresh(&self) {
        let n = self.total();
        if let Ok(app) = self.app.lock() {
            if let Some(w) = app.as_ref().and_then(|a| a.get_webview_window("main")) {
                let _ = w.set_title(&window_title(n));
                // With everything read, nothing asks for attention any more
                // (read on another device, or here without the window
                // having been focused).
                if n == 0 {
                    let _ = w.request_user_attention(None);
                }
            }
        }
        let caller = self.ringing().map(|(_, who)| who);
        if let Ok(icon) = self.icon.lock() {
            if let Some(icon) = icon.as_ref() {
                let _ = icon.set_tooltip(Some(tooltip_with_call(n, caller.as_deref())));
                // Shown next to the icon where the desktop supports it.
                let _ = icon.set_title((n > 0).then(|| n.to_string()));
            }
        }
    }

    /// Puts the icon in the tray. Without a tray service (or its library)
    /// the app goes on without one, and closing the window quits.
    pub fn install(&self, app: &AppHandle) {
        if let Ok(mut slot) = self.app.lock() {
            *slot = Some(app.clone());
        }
        match build(app) {
            Ok(icon) => {
                if let Ok(mut slot) = self.icon.lock() {
                    *slot = Some(icon);
                }
                self.refresh();
            }
            Err(e) => tracing::info!("no tray icon: {e}"),
        }
    }
}

fn build(app: &AppHandle) -> Result<TrayIcon, String> {
    #[cfg(target_os = "linux")]
    {
        // The tray needs libayatana-appindicator (or libappindicator) at
        // run time; without it the indicator crate would abort the app.
        let found = ["libayatana-appindicator3.so.1", "libappindicator3.so.1"]
            .iter()
            .any(|lib| library_present(lib));
        if !found {
            return Err("libayatana-appindicator3 is not installed".into());
        }
    }
    let e = |e: tauri::Error| e.to_string();
    let menu = menu(app, None)?;
    let mut builder = TrayIconBuilder::with_id("tern")
        .tooltip("Tern")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(|app, event| match event.id().as_ref() {
            "show" => show_window(app),
            "quit" => app.exit(0),
            "answer" | "decline" => {
                let call = app.state::<crate::Shell>().tray.ringing();
                if let Some((id, _)) = call {
                    let action = if event.id().as_ref() == "answer" {
                        crate::notifications::CallAction::Answer(id)
                    } else {
                        crate::notifications::CallAction::Decline(id)
                    };
                    crate::on_call_action(app, action);
                }
            }
            _ => {}
        })
        .on_tray_icon_event(|icon, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                toggle_window(icon.app_handle());
            }
        });
    if let Some(image) = app.default_window_icon() {
        builder = builder.icon(image.clone());
    }
    builder.build(app).map_err(e)
}

/// The tray's menu: Show and Quit, with Answer and Decline first while
/// `caller` calls.
fn menu(app: &AppHandle, caller: Option<&str>) -> Result<Menu<tauri::Wry>, String> {
    let e = |e: tauri::Error| e.to_string();
    let show = MenuItem::with_id(app, "show", "Show Tern", true, None::<&str>).map_err(e)?;
    let quit = MenuItem::with_id(app, "quit", "Quit Tern", true, None::<&str>).map_err(e)?;
    let Some(who) = caller else {
        return Menu::with_items(app, &[&show, &quit]).map_err(e);
    };
    let answer =
        MenuItem::with_id(app, "answer", answer_label(who), true, None::<&str>).map_err(e)?;
    let decline = MenuItem::with_id(app, "decline", "Decline", true, None::<&str>).map_err(e)?;
    let line = PredefinedMenuItem::separator(app).map_err(e)?;
    Menu::with_items(app, &[&answer, &decline, &line, &show, &quit]).map_err(e)
}

/// Whether a shared library is in one of the places the loader looks.
#[cfg(target_os = "linux")]
fn library_present(name: &str) -> bool {
    let from_env = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
    let dirs = from_env.split(':').filter(|d| !d.is_empty()).chain([
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/lib/x86_64-linux-gnu",
        "/lib/aarch64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
        "/lib64",
        "/lib",
        "/usr/local/lib",
        "/app/lib",
    ]);
    let found = dirs
        .into_iter()
        .any(|d| std::path::Path::new(d).join(name).exists());
    // The AppImage keeps its libraries in usr/lib beside usr/bin/tern,
    // where the executable's RUNPATH ($ORIGIN/../lib) points the loader.
    let bundled = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("lib").join(name)))
        .is_some_and(|lib| lib.exists());
    found || bundled
}

/// Brings the window up.
pub fn show_window(app: &AppHandle) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
    }
}

fn toggle_window(app: &AppHandle) {
    if let Some(w) = app.get_webview_window("main") {
        if w.is_visible().unwrap_or(false) && w.is_focused().unwrap_or(false) {
            let _ = w.hide();
        } else {
            show_window(app);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(peer: &str, unread: i64) -> ClientEvent {
        ClientEvent::Conversation {
            conversation: tern_core::ConversationView {
                kind: tern_core::ConversationKind::Chat,
                account: "me@a.example".into(),
                peer: peer.into(),
                unread,
                mentions: 0,
                updated_ms: 0,
                last: None,
            },
        }
    }

    #[test]
    fn counts_follow_conversations() {
        let t = Tray::default();
        assert!(!t.present());
        t.on_event(&conv("a@b.example", 2));
        t.on_event(&conv("c@b.example", 3));
        assert_eq!(t.total(), 5);
        t.on_event(&conv("a@b.example", 0));
        assert_eq!(t.total(), 3);
        t.on_event(&conv("d@b.example", 4));
        t.on_event(&ClientEvent::ConversationDeleted {
            account: "me@a.example".into(),
            peer: "d@b.example".into(),
        });
        assert_eq!(t.total(), 3, "a deleted conversation's unread go with it");
        t.on_event(&ClientEvent::AccountRemoved {
            jid: "me@a.example".into(),
        });
        assert_eq!(t.total(), 0);
        assert_eq!(tooltip(0), "Tern");
        assert_eq!(tooltip(1), "Tern: 1 unread message");
        assert_eq!(tooltip(7), "Tern: 7 unread messages");
        assert_eq!(window_title(0), "Tern");
        assert_eq!(window_title(3), "Tern (3)");
    }

    fn call(id: &str, outgoing: bool, state: tern_core::CallState) -> tern_core::CallView {
        tern_core::CallView::starting(
            "me@a.example".into(),
            id.into(),
            "juliet@b.example".into(),
            outgoing,
            state,
        )
    }

    #[test]
    fn a_ringing_call_shows_until_it_stops() {
        use tern_core::CallState::*;
        let t = Tray::default();
        assert_eq!(t.on_call(&call("c1", true, Ringing)), None, "outgoing");
        assert_eq!(
            t.on_call(&call("c2", false, Ringing)),
            Some(RingChange::Started)
        );
        assert_eq!(t.on_call(&call("c2", false, Ringing)), None, "again");
        assert_eq!(
            t.ringing(),
            Some(("c2".to_string(), "juliet@b.example".to_string()))
        );
        t.set_caller("c2", "Juliet".into());
        t.set_caller("other", "Someone".into());
        assert_eq!(t.ringing().map(|(_, who)| who).as_deref(), Some("Juliet"));
        assert_eq!(t.on_call(&call("c1", true, Ended)), None, "another call");
        assert_eq!(
            t.on_call(&call("c2", false, Connecting)),
            Some(RingChange::Stopped)
        );
        assert_eq!(t.ringing(), None);
        assert_eq!(t.on_call(&call("c2", false, Ended)), None);
        assert_eq!(
            tooltip_with_call(2, Some("Juliet")),
            "Tern: Juliet is calling"
        );
        assert_eq!(tooltip_with_call(2, None), "Tern: 2 unread messages");
        assert_eq!(answer_label("Juliet"), "Answer call from Juliet");
    }
}
