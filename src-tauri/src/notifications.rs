//! Desktop notifications for incoming messages, through the platform's
//! notification service (D-Bus `org.freedesktop.Notifications` on Linux).
//! One per message at most, none for the conversation the user is looking
//! at, none for history fetched after a long time offline; a click on one
//! opens its conversation.
//!
//! An incoming call that rings here gets one too ("Incoming call", the
//! caller's name), with the actions Answer and Decline, shown at once
//! (no rate cap) and closed when the call stops ringing: answered here or
//! elsewhere, declined, missed ([`Notifier::call_changed`]).
//!
//! A flood of messages costs nothing that grows with it ([`Desktop`]): one
//! D-Bus connection for the life of the app, one task that shows
//! notifications and one that listens for clicks, one notification per
//! conversation that each new message replaces in place, at most
//! [`RATE_BURST`] shown at once and then one per [`RATE_EVERY`], and at
//! most [`MAX_WAITING`] conversations waiting for their turn (others are
//! left to the tray count and the window's attention mark).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tauri::{AppHandle, Emitter};
use tern_core::{CallState, CallView, MessageView};

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
    /// Incoming calls whose notification is up (call ids).
    ringing: HashSet<String>,
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
                ringing: HashSet::new(),
            }),
        }
    }
}

/// Which conversation a notification belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, specta::Type)]
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
        // A stranger's call was refused and never rang: it waits in their
        // conversation (unread) without a desktop notification, so strangers
        // cannot make the desktop pop up by calling.
        if m.call.as_ref().is_some_and(|c| c.outcome == "stranger") {
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

/// What a call's event asks of its notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallNotice {
    /// An incoming call began to ring here: show its notification.
    Ring,
    /// The call no longer rings: close its notification.
    Stop,
}

impl Notifier {
    /// What call event `call` means for the call's notification, if
    /// anything: one when an incoming call starts ringing (unless
    /// notifications are off), closed once it rings no more.
    pub fn call_changed(&self, call: &CallView) -> Option<CallNotice> {
        let mut s = self.lock();
        let rings = call.state == CallState::Ringing && !call.outgoing;
        if rings {
            if !s.enabled || s.ringing.contains(&call.id) {
                return None;
            }
            s.ringing.insert(call.id.clone());
            Some(CallNotice::Ring)
        } else if s.ringing.remove(&call.id) {
            Some(CallNotice::Stop)
        } else {
            None
        }
    }
}

/// Title and text of an incoming call's notification.
pub fn call_content(caller: &str) -> (String, String) {
    ("Incoming call".to_string(), inert(caller))
}

/// What the user chose on a call's notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallAction {
    /// Answer the call (and show the window).
    Answer(String),
    /// Decline it.
    Decline(String),
    /// The notification itself was clicked: show the window.
    Open(String),
}

impl CallAction {
    /// The action `action` of the notification of call `id`.
    fn from_action(id: String, action: &str) -> Option<CallAction> {
        match action {
            "answer" => Some(CallAction::Answer(id)),
            "decline" => Some(CallAction::Decline(id)),
            "default" => Some(CallAction::Open(id)),
            _ => None,
        }
    }
}

/// The actions of a message's notification (key, label pairs).
const MESSAGE_ACTIONS: &[&str] = &["default", "Open"];
/// The actions of an incoming call's notification.
const CALL_ACTIONS: &[&str] = &["default", "Open", "answer", "Answer", "decline", "Decline"];

/// Whether a group chat's message notifies, by the room's setting.
pub fn room_wants(notify: tern_core::RoomNotify, mention: bool) -> bool {
    match notify {
        tern_core::RoomNotify::All => true,
        tern_core::RoomNotify::Mentions => mention,
        tern_core::RoomNotify::None => false,
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

/// Notifications shown at once before the rate cap applies.
pub const RATE_BURST: u32 = 5;
/// After a burst, one notification per this long at most.
pub const RATE_EVERY: Duration = Duration::from_secs(1);
/// Conversations whose notification may wait for the rate cap; a new
/// conversation beyond these gets none.
pub const MAX_WAITING: usize = 32;
/// Notification ids remembered (to replace them, and to know what a click
/// was on): the conversations notified last.
pub const REMEMBERED_IDS: usize = 256;

/// Calls remembered as no longer ringing.
const REMEMBERED_CALLS: usize = 64;

/// A notification to show.
#[derive(Clone, Debug)]
struct Pending {
    title: String,
    body: String,
    open: OpenConversation,
}

/// A call notification to show or close.
#[derive(Clone, Debug, PartialEq, Eq)]
enum CallJob {
    Ring {
        call: String,
        title: String,
        body: String,
    },
    Stop {
        call: String,
    },
}

/// What [`Desktop`]'s task and its callers share.
#[derive(Debug, Default)]
struct Queue {
    /// Call notifications to show or close, before any message's and
    /// without the rate cap.
    calls: VecDeque<CallJob>,
    /// The notification id of each ringing call's notification.
    call_ids: HashMap<String, u32>,
    /// Calls that stopped ringing lately (their notification may still be
    /// on its way: it is not shown then).
    stopped: VecDeque<String>,
    /// At most one per conversation, oldest first.
    waiting: VecDeque<Pending>,
    /// Notification id of each conversation notified lately, and the
    /// order they were notified in (oldest first).
    ids: HashMap<OpenConversation, u32>,
    order: VecDeque<OpenConversation>,
    /// Notifications shown (sent to the service), and dropped because too
    /// many conversations were waiting.
    shown: u64,
    dropped: u64,
}

impl Queue {
    /// Puts a notification in line: a conversation already waiting gets
    /// the newer text in its place in line.
    fn push(&mut self, p: Pending) -> bool {
        if let Some(w) = self.waiting.iter_mut().find(|w| w.open == p.open) {
            *w = p;
            return true;
        }
        if self.waiting.len() >= MAX_WAITING {
            self.dropped += 1;
            return false;
        }
        self.waiting.push_back(p);
        true
    }

    /// Remembers the id the service gave a conversation's notification.
    fn remember(&mut self, open: OpenConversation, id: u32) {
        if self.ids.insert(open.clone(), id).is_none() {
            self.order.push_back(open);
        } else if let Some(at) = self.order.iter().position(|o| *o == open) {
            if let Some(o) = self.order.remove(at) {
                self.order.push_back(o);
            }
        }
        while self.order.len() > REMEMBERED_IDS {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
    }

    /// The conversation of notification `id`.
    fn conversation(&self, id: u32) -> Option<OpenConversation> {
        self.ids
            .iter()
            .find_map(|(o, i)| (*i == id).then(|| o.clone()))
    }

    /// The call whose notification is `id`.
    fn call(&self, id: u32) -> Option<String> {
        self.call_ids
            .iter()
            .find_map(|(c, i)| (*i == id).then(|| c.clone()))
    }

    /// The user closed notification `id`: the next message starts a new one.
    fn closed(&mut self, id: u32) {
        if let Some(call) = self.call(id) {
            self.call_ids.remove(&call);
        }
        if let Some(open) = self.conversation(id) {
            self.ids.remove(&open);
            self.order.retain(|o| *o != open);
        }
    }
}

/// Shared between [`Desktop`] and its tasks.
#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    wake: tokio::sync::Notify,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Counts for tests and the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DesktopStats {
    /// Notifications sent to the service.
    pub shown: u64,
    /// Notifications not shown because [`MAX_WAITING`] conversations were
    /// waiting already.
    pub dropped: u64,
    /// Conversations waiting for the rate cap now.
    pub waiting: usize,
}

/// The desktop's notification service: one connection for the life of the
/// app, a task that shows what [`Desktop::show`] puts in line, and one
/// that tells `on_open` which conversation a clicked notification was for.
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct Desktop {
    shared: Arc<Shared>,
}

impl Desktop {
    /// Starts the tasks (on Tauri's runtime). The connection opens with the
    /// first notification; when there is no service, notifications are
    /// dropped (logged) and it is tried again a minute later.
    /// `on_call` gets what the user chose on a call's notification.
    pub fn start(
        on_open: impl Fn(OpenConversation) + Send + Sync + 'static,
        on_call: impl Fn(CallAction) + Send + Sync + 'static,
    ) -> Desktop {
        let shared = Arc::new(Shared::default());
        let task = shared.clone();
        let handlers = Handlers {
            on_open: Arc::new(on_open),
            on_call: Arc::new(on_call),
        };
        tauri::async_runtime::spawn(async move { run(task, handlers).await });
        Desktop { shared }
    }

    /// Puts a message's notification in line: it replaces the one shown for
    /// the same conversation, and waits for the rate cap.
    pub fn show(&self, title: String, body: String, open: OpenConversation) {
        let queued = self.shared.lock().push(Pending { title, body, open });
        if queued {
            self.shared.wake.notify_one();
        } else {
            tracing::debug!("notification dropped: {MAX_WAITING} conversations are waiting");
        }
    }

    /// Shows the notification of incoming call `call` at once, unless it
    /// stopped ringing already.
    pub fn ring(&self, call: String, title: String, body: String) {
        let mut q = self.shared.lock();
        if q.stopped.contains(&call) {
            return;
        }
        q.calls.push_back(CallJob::Ring { call, title, body });
        drop(q);
        self.shared.wake.notify_one();
    }

    /// Closes the notification of call `call` (it rings no more).
    pub fn stop_ringing(&self, call: String) {
        let mut q = self.shared.lock();
        if !q.stopped.contains(&call) {
            q.stopped.push_back(call.clone());
            if q.stopped.len() > REMEMBERED_CALLS {
                q.stopped.pop_front();
            }
        }
        q.calls.push_back(CallJob::Stop { call });
        drop(q);
        self.shared.wake.notify_one();
    }

    /// What has been shown and dropped so far.
    pub fn stats(&self) -> DesktopStats {
        let q = self.shared.lock();
        DesktopStats {
            shown: q.shown,
            dropped: q.dropped,
            waiting: q.waiting.len(),
        }
    }
}

/// A token bucket: [`RATE_BURST`] at once, then one per [`RATE_EVERY`].
struct Rate {
    tokens: u32,
    last: tokio::time::Instant,
}

impl Rate {
    fn new() -> Rate {
        Rate {
            tokens: RATE_BURST,
            last: tokio::time::Instant::now(),
        }
    }

    /// Waits for a token and takes it.
    async fn take(&mut self) {
        loop {
            let now = tokio::time::Instant::now();
            let earned =
                (now.duration_since(self.last).as_millis() / RATE_EVERY.as_millis().max(1)) as u32;
            if earned > 0 {
                self.tokens = (self.tokens + earned).min(RATE_BURST);
                self.last += RATE_EVERY * earned;
            }
            if self.tokens > 0 {
                self.tokens -= 1;
                return;
            }
            tokio::time::sleep_until(self.last + RATE_EVERY).await;
        }
    }
}

type OnOpen = Arc<dyn Fn(OpenConversation) + Send + Sync>;
type OnCall = Arc<dyn Fn(CallAction) + Send + Sync>;

/// What the service's click listener calls.
#[derive(Clone)]
struct Handlers {
    on_open: OnOpen,
    on_call: OnCall,
}

impl Handlers {
    /// Action `action` was invoked on notification `id`.
    fn invoked(&self, shared: &Shared, id: u32, action: &str) {
        let (open, call) = {
            let q = shared.lock();
            (q.conversation(id), q.call(id))
        };
        if let Some(call) = call {
            if let Some(a) = CallAction::from_action(call, action) {
                (self.on_call)(a);
            }
        } else if let (Some(open), "default") = (open, action) {
            (self.on_open)(open);
        }
    }
}

/// The task behind [`Desktop`]: shows notifications one at a time, calls'
/// first, messages' at the rate cap, on one connection.
async fn run(shared: Arc<Shared>, handlers: Handlers) {
    let mut rate = Rate::new();
    let mut service: Option<service::Service> = None;
    let mut retry_at: Option<tokio::time::Instant> = None;
    loop {
        let (call, next) = {
            let mut q = shared.lock();
            match q.calls.pop_front() {
                Some(c) => (Some(c), None),
                None => (None, q.waiting.pop_front()),
            }
        };
        if call.is_none() && next.is_none() {
            shared.wake.notified().await;
            continue;
        }
        if let Some(CallJob::Stop { call }) = &call {
            // Nothing to close without a connection.
            let id = shared.lock().call_ids.remove(call);
            if let (Some(id), Some(s)) = (id, service.as_ref()) {
                if let Err(e) = s.close(id).await {
                    tracing::info!("call notification not closed: {e}");
                }
            }
            continue;
        }
        if service.is_none() && retry_at.is_none_or(|t| tokio::time::Instant::now() >= t) {
            match service::Service::connect(shared.clone(), handlers.clone()).await {
                Ok(s) => service = Some(s),
                Err(e) => {
                    tracing::info!("no notification service: {e}");
                    retry_at = Some(tokio::time::Instant::now() + Duration::from_secs(60));
                }
            }
        }
        let Some(s) = service.as_ref() else {
            continue;
        };
        let shown = if let Some(CallJob::Ring { call, title, body }) = call {
            let replaces = shared.lock().call_ids.get(&call).copied().unwrap_or(0);
            s.notify(replaces, &title, &body, Kind::Call)
                .await
                .map(|id| {
                    let mut q = shared.lock();
                    q.shown += 1;
                    q.call_ids.insert(call, id);
                })
        } else if let Some(p) = next {
            rate.take().await;
            let replaces = shared.lock().ids.get(&p.open).copied().unwrap_or(0);
            s.notify(replaces, &p.title, &p.body, Kind::Message)
                .await
                .map(|id| {
                    let mut q = shared.lock();
                    q.shown += 1;
                    q.remember(p.open, id);
                })
        } else {
            Ok(())
        };
        if let Err(e) = shown {
            tracing::info!("notification not shown: {e}");
            // The connection may be gone: open a new one next time.
            service = None;
        }
    }
}

/// Which sort of notification, for its actions and urgency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Message,
    Call,
}

#[cfg(all(unix, not(target_os = "macos")))]
mod service {
    //! `org.freedesktop.Notifications` over D-Bus.

    use std::collections::HashMap;
    use std::future::poll_fn;
    use std::pin::Pin;
    use std::sync::Arc;

    use zbus::export::futures_core::Stream;
    use zbus::Variant;

    use super::{Handlers, Kind, Shared, CALL_ACTIONS, MESSAGE_ACTIONS};

    const NAME: &str = "org.freedesktop.Notifications";
    const PATH: &str = "/org/freedesktop/Notifications";

    /// The session bus connection, and the click listener on it.
    pub(super) struct Service {
        conn: zbus::Connection,
        listener: tauri::async_runtime::JoinHandle<()>,
    }

    impl Drop for Service {
        fn drop(&mut self) {
            self.listener.abort();
        }
    }

    impl Service {
        pub(super) async fn connect(
            shared: Arc<Shared>,
            handlers: Handlers,
        ) -> zbus::Result<Service> {
            let conn = zbus::Connection::session().await?;
            let rule = zbus::MatchRule::builder()
                .msg_type(zbus::message::Type::Signal)
                .interface(NAME)
                .path(PATH)
                .build()?;
            let mut signals = zbus::MessageStream::for_match_rule(rule, &conn, None).await?;
            let listener = tauri::async_runtime::spawn(async move {
                while let Some(Ok(msg)) = poll_fn(|cx| Pin::new(&mut signals).poll_next(cx)).await {
                    let header = msg.header();
                    match header.member().map(|m| m.as_str()) {
                        Some("ActionInvoked") => {
                            let Ok((id, action)) = msg.body().deserialize::<(u32, String)>() else {
                                continue;
                            };
                            handlers.invoked(&shared, id, &action);
                        }
                        Some("NotificationClosed") => {
                            if let Ok((id, _reason)) = msg.body().deserialize::<(u32, u32)>() {
                                shared.lock().closed(id);
                            }
                        }
                        _ => {}
                    }
                }
            });
            Ok(Service { conn, listener })
        }

        /// Shows (or, with `replaces` not 0, replaces) a notification; its id.
        pub(super) async fn notify(
            &self,
            replaces: u32,
            title: &str,
            body: &str,
            kind: Kind,
        ) -> zbus::Result<u32> {
            let mut hints: HashMap<&str, Variant<'_>> = HashMap::new();
            let (actions, timeout) = match kind {
                Kind::Message => (MESSAGE_ACTIONS, -1i32),
                Kind::Call => {
                    // Critical: stays up until the call stops ringing.
                    hints.insert("urgency", Variant::from(2u8));
                    hints.insert("category", Variant::from("call.incoming"));
                    (CALL_ACTIONS, 0)
                }
            };
            let reply = self
                .conn
                .call_method(
                    Some(NAME),
                    PATH,
                    Some(NAME),
                    "Notify",
                    &(
                        "Tern", replaces, "tern", title, body, actions, hints, timeout,
                    ),
                )
                .await?;
            reply.body().deserialize::<u32>()
        }

        /// Closes notification `id`.
        pub(super) async fn close(&self, id: u32) -> zbus::Result<()> {
            self.conn
                .call_method(Some(NAME), PATH, Some(NAME), "CloseNotification", &(id,))
                .await?;
            Ok(())
        }
    }
}

#[cfg(not(all(unix, not(target_os = "macos"))))]
mod service {
    //! The platform's notifications through notify-rust (no clicks).

    use std::sync::Arc;

    use super::{Handlers, Kind, Shared};

    pub(super) struct Service;

    impl Service {
        pub(super) async fn connect(_: Arc<Shared>, _: Handlers) -> Result<Service, String> {
            Ok(Service)
        }

        pub(super) async fn close(&self, _id: u32) -> Result<(), String> {
            Ok(())
        }

        pub(super) async fn notify(
            &self,
            _replaces: u32,
            title: &str,
            body: &str,
            _kind: Kind,
        ) -> Result<u32, String> {
            notify_rust::Notification::new()
                .appname("Tern")
                .summary(title)
                .body(body)
                .show()
                .map(|_| 0)
                .map_err(|e| e.to_string())
        }
    }
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
            mention: false,
            moderated_by: None,
            moderation_reason: None,
            file: None,
            encrypted: false,
            decrypt_error: None,
            held: None,
            call: None,
        }
    }

    #[test]
    fn rooms_notify_by_their_setting() {
        use tern_core::RoomNotify;
        assert!(room_wants(RoomNotify::All, false));
        assert!(room_wants(RoomNotify::Mentions, true));
        assert!(!room_wants(RoomNotify::Mentions, false));
        assert!(!room_wants(RoomNotify::None, true));
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
        let call = |id: i64, outcome: &str| MessageView {
            body: "Call".into(),
            call: Some(tern_core::CallRecord {
                outcome: outcome.into(),
                duration_ms: None,
            }),
            ..msg(id, now)
        };
        assert!(n.should_notify(&call(7, "missed"), now), "a missed call");
        assert!(
            !n.should_notify(&call(8, "stranger"), now),
            "a stranger's call, never rung"
        );
        n.configure(false, true);
        assert!(!n.should_notify(&msg(6, now), now), "turned off");
    }

    fn pending(i: usize, body: &str) -> Pending {
        Pending {
            title: format!("Sender {i}"),
            body: body.into(),
            open: OpenConversation {
                account: "me@a.example".into(),
                peer: format!("sender{i}@b.example"),
            },
        }
    }

    #[test]
    fn the_queue_holds_one_per_conversation_and_is_bounded() {
        let mut q = Queue::default();
        for round in 0..3 {
            for i in 0..1000 {
                q.push(pending(i, &format!("message {round}")));
            }
        }
        assert_eq!(q.waiting.len(), MAX_WAITING);
        assert_eq!(q.dropped, 3 * (1000 - MAX_WAITING as u64));
        // The first conversations hold their place, with their newest text.
        assert_eq!(q.waiting[0].open, pending(0, "").open);
        assert!(q.waiting.iter().all(|p| p.body == "message 2"));

        for i in 0..1000 {
            q.remember(pending(i, "").open, i as u32 + 1);
        }
        assert_eq!(q.ids.len(), REMEMBERED_IDS);
        assert_eq!(q.order.len(), REMEMBERED_IDS);
        assert_eq!(q.conversation(1000), Some(pending(999, "").open));
        assert_eq!(q.conversation(1), None, "forgotten: the oldest");
        q.closed(1000);
        assert_eq!(q.conversation(1000), None);
        assert_eq!(q.ids.len(), REMEMBERED_IDS - 1);
    }

    fn call(id: &str, state: CallState, outgoing: bool) -> CallView {
        tern_core::CallView::starting(
            "me@a.example".into(),
            id.into(),
            "juliet@b.example".into(),
            outgoing,
            state,
        )
    }

    #[test]
    fn an_incoming_call_notifies_while_it_rings() {
        let n = Notifier::default();
        assert_eq!(
            n.call_changed(&call("c1", CallState::Ringing, false)),
            Some(CallNotice::Ring)
        );
        assert_eq!(
            n.call_changed(&call("c1", CallState::Ringing, false)),
            None,
            "once"
        );
        assert_eq!(
            n.call_changed(&call("c1", CallState::Connecting, false)),
            Some(CallNotice::Stop),
            "answered"
        );
        assert_eq!(n.call_changed(&call("c1", CallState::Active, false)), None);
        assert_eq!(n.call_changed(&call("c1", CallState::Ended, false)), None);
        // Missed, declined or answered elsewhere: it ends while ringing.
        n.call_changed(&call("c2", CallState::Ringing, false));
        assert_eq!(
            n.call_changed(&call("c2", CallState::Ended, false)),
            Some(CallNotice::Stop)
        );
        // The user's own calls ring at the contact's, not here.
        assert_eq!(n.call_changed(&call("c3", CallState::Calling, true)), None);
        assert_eq!(n.call_changed(&call("c3", CallState::Ringing, true)), None);
        assert_eq!(n.call_changed(&call("c3", CallState::Ended, true)), None);
        n.configure(false, true);
        assert_eq!(
            n.call_changed(&call("c4", CallState::Ringing, false)),
            None,
            "turned off"
        );
        assert_eq!(call_content("<Juliet>").0, "Incoming call");
        assert_eq!(call_content("<Juliet>").1, "&lt;Juliet&gt;");
    }

    #[test]
    fn call_actions_reach_their_call() {
        let opened = Arc::new(Mutex::new(Vec::new()));
        let acted = Arc::new(Mutex::new(Vec::new()));
        let (o, a) = (opened.clone(), acted.clone());
        let handlers = Handlers {
            on_open: Arc::new(move |open| o.lock().unwrap().push(open)),
            on_call: Arc::new(move |action| a.lock().unwrap().push(action)),
        };
        let shared = Shared::default();
        shared.lock().remember(pending(1, "").open, 7);
        shared.lock().call_ids.insert("c1".into(), 8);
        handlers.invoked(&shared, 8, "answer");
        handlers.invoked(&shared, 8, "decline");
        handlers.invoked(&shared, 8, "default");
        handlers.invoked(&shared, 8, "something");
        handlers.invoked(&shared, 7, "default");
        handlers.invoked(&shared, 7, "answer");
        handlers.invoked(&shared, 9, "answer");
        assert_eq!(
            *acted.lock().unwrap(),
            vec![
                CallAction::Answer("c1".into()),
                CallAction::Decline("c1".into()),
                CallAction::Open("c1".into()),
            ]
        );
        assert_eq!(*opened.lock().unwrap(), vec![pending(1, "").open]);
        shared.lock().closed(8);
        assert_eq!(shared.lock().call(8), None);
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
