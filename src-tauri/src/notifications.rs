//! Desktop notifications for incoming messages, through the platform's
//! notification service (notify-rust: D-Bus `org.freedesktop.Notifications`
//! on Linux). One per message at most, none for the conversation the user
//! is looking at, none for history fetched after a long time offline; a
//! click on one opens its conversation.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use serde::Serialize;
use tauri::{AppHandle, Emitter};
use tern_core::MessageView;

/// Event telling the window to open a conversation (a notification was
/// clicked, or an `xmpp:` link asked for it).
pub const EVENT_OPEN: &str = "tern://open-conversation";

/// Messages older than this when they arrive are history, not news.
const FRESH_MS: i64 = 10 * 60 * 1000;
/// Message ids remembered as already notified.
const REMEMBERED: usize = 4096;
/// Longest text shown in a notification.
const MAX_TEXT: usize = 240;

/// What the user chose in Settings, and what the window shows.
#[derive(Debug)]
struct State {
    enabled: bool,
    show_text: bool,
    window_focused: bool,
    open: Option<(String, String)>,
    seen: HashSet<i64>,
    order: VecDeque<i64>,
}

/// Decides about and shows notifications.
#[derive(Debug)]
pub struct Notifier {
    state: Mutex<State>,
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier {
            state: Mutex::new(State {
                enabled: true,
                show_text: true,
                window_focused: false,
                open: None,
                seen: HashSet::new(),
                order: VecDeque::new(),
            }),
        }
    }
}

/// Which conversation a notification belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, specta::Type)]
pub struct OpenConversation {
    /// Account.
    pub account: String,
    /// Peer.
    pub peer: String,
}

impl Notifier {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The window gained or lost focus.
    pub fn set_focused(&self, focused: bool) {
        self.lock().window_focused = focused;
    }

    /// The conversation shown in the window (`None`: none).
    pub fn set_open(&self, open: Option<(String, String)>) {
        self.lock().open = open;
    }

    /// The user's settings.
    pub fn configure(&self, enabled: bool, show_text: bool) {
        let mut s = self.lock();
        s.enabled = enabled;
        s.show_text = show_text;
    }

    /// Whether the text of messages goes into notifications.
    pub fn shows_text(&self) -> bool {
        self.lock().show_text
    }

    /// Whether `m` (an engine message event) deserves a notification now;
    /// remembers it so that later updates of the same message do not.
    pub fn should_notify(&self, m: &MessageView, now_ms: i64) -> bool {
        if m.outgoing || m.retracted || m.body.trim().is_empty() || m.state == "seen" {
            return false;
        }
        if now_ms - m.timestamp_ms > FRESH_MS {
            return false;
        }
        let mut s = self.lock();
        if !s.enabled || s.seen.contains(&m.id) {
            return false;
        }
        s.seen.insert(m.id);
        s.order.push_back(m.id);
        if s.order.len() > REMEMBERED {
            if let Some(old) = s.order.pop_front() {
                s.seen.remove(&old);
            }
        }
        let looking = s.window_focused
            && s.open
                .as_ref()
                .is_some_and(|(a, p)| *a == m.account && *p == m.peer);
        !looking
    }
}

/// Notification servers may read a subset of HTML in the body: make the
/// text inert, and short.
pub fn inert(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX_TEXT {
            out.push('…');
            break;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // Bidi overrides could make the sender's text look like ours.
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => {}
            c if c.is_control() && c != '\n' => {}
            c => out.push(c),
        }
    }
    out
}

/// Title and text of a message's notification.
pub fn content(sender: &str, m: &MessageView, show_text: bool) -> (String, String) {
    let title = inert(sender);
    let body = if !show_text {
        "New message".to_string()
    } else if m.me {
        let action = m.body.strip_prefix("/me ").unwrap_or(&m.body);
        inert(&format!("* {sender} {action}"))
    } else {
        inert(&m.body)
    };
    (title, body)
}

/// Shows a notification; a click brings the window up on the conversation.
pub fn show(app: AppHandle, title: String, body: String, open: OpenConversation) {
    std::thread::spawn(move || {
        let shown = notify_rust::Notification::new()
            .appname("Tern")
            .summary(&title)
            .body(&body)
            .icon("tern")
            .action("default", "Open")
            .show();
        match shown {
            #[cfg(all(unix, not(target_os = "macos")))]
            Ok(handle) => handle.wait_for_action(|action| {
                if action == "default" {
                    bring_up(&app, &open);
                }
            }),
            #[cfg(not(all(unix, not(target_os = "macos"))))]
            Ok(_) => {
                let _ = (&app, &open);
            }
            Err(e) => tracing::info!("notification not shown: {e}"),
        }
    });
}

/// Shows the window and tells it to open a conversation.
pub fn bring_up(app: &AppHandle, open: &OpenConversation) {
    crate::tray::show_window(app);
    if let Err(e) = app.emit(EVENT_OPEN, open) {
        tracing::warn!("could not ask the window to open a conversation: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: i64, now: i64) -> MessageView {
        MessageView {
            id,
            account: "me@a.example".into(),
            peer: "juliet@b.example".into(),
            outgoing: false,
            sender: "juliet@b.example".into(),
            uid: format!("u{id}"),
            body: "hello".into(),
            timestamp_ms: now - 1000,
            state: tern_core::MessageState::Received,
            edited: false,
            retracted: false,
            reply_to: None,
            reactions: Default::default(),
            me: false,
            failure: None,
            failure_text: None,
        }
    }

    #[test]
    fn once_per_message_and_not_for_the_open_conversation() {
        let n = Notifier::default();
        let now = 1_800_000_000_000;
        assert!(n.should_notify(&msg(1, now), now));
        assert!(
            !n.should_notify(&msg(1, now), now),
            "an update of the same message"
        );
        n.set_open(Some(("me@a.example".into(), "juliet@b.example".into())));
        n.set_focused(true);
        assert!(
            !n.should_notify(&msg(2, now), now),
            "the user is looking at it"
        );
        n.set_focused(false);
        assert!(
            n.should_notify(&msg(3, now), now),
            "window in the background"
        );
        let mut old = msg(4, now);
        old.timestamp_ms = now - FRESH_MS - 1;
        assert!(!n.should_notify(&old, now), "history");
        let mut own = msg(5, now);
        own.outgoing = true;
        assert!(!n.should_notify(&own, now));
        n.configure(false, true);
        assert!(!n.should_notify(&msg(6, now), now), "turned off");
    }

    #[test]
    fn text_is_inert_and_short() {
        assert_eq!(inert("<b>x</b> & y"), "&lt;b&gt;x&lt;/b&gt; &amp; y");
        assert_eq!(inert("abc\u{202E}def\u{7}"), "abcdef");
        assert_eq!(inert(&"x".repeat(1000)).chars().count(), MAX_TEXT + 1);
        let m = MessageView {
            me: true,
            body: "/me waves".into(),
            ..msg(1, 0)
        };
        assert_eq!(content("Juliet", &m, true).1, "* Juliet waves");
        assert_eq!(content("Juliet", &m, false).1, "New message");
    }
}
