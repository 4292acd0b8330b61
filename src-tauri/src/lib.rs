//! Tern's desktop shell: opens the engine, exposes it to the web UI as
//! commands ([`commands`]), forwards its events to the window, and keeps
//! window chores (single instance, window state, focus). Every type that
//! crosses the IPC lives in [`boundary`].

#![warn(missing_docs)]

pub mod boundary;
pub mod commands;
pub mod files;
mod links;
pub mod logging;
pub mod media;
pub mod notifications;
pub mod rendering;
pub mod sound;
pub mod spelling;
#[cfg(feature = "test-hooks")]
mod test_hooks;
pub mod tray;
pub mod uri;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use tauri::{AppHandle, Emitter, Manager};
use tern_core::{Client, ClientConfig, Keychain, PasswordStore, Registration};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;

use boundary::{ClientEvent, EngineEvents, SnapshotView, UiError, EVENT_ENGINE, EVENT_RESYNC};

/// What the commands share.
pub struct Shell {
    /// Set once the engine has opened (or failed to): it opens beside the
    /// window, so that the page starts loading without waiting for it.
    client: tokio::sync::SetOnce<Result<Client, UiError>>,
    mirror: Mutex<SnapshotView>,
    /// An open sign-up session (one at a time).
    pub registration: tokio::sync::Mutex<Option<Registration>>,
    /// Desktop notifications for new messages: which to show.
    pub notifier: notifications::Notifier,
    /// The desktop's notification service: shows them.
    pub desktop: notifications::Desktop,
    /// The tray icon and its unread count.
    pub tray: tray::Tray,
    /// Closing the window hides it in the tray (when there is one).
    pub close_to_tray: std::sync::atomic::AtomicBool,
    /// An `xmpp:` link Tern was started with, until the window asks for it.
    pub links: uri::Inbox,
    /// The files the user picked or dropped: the only ones the window may send.
    pub offered: files::Offered,
    /// Held while files are sent with a photo quality of their own, and
    /// while the user's choices change, so the two do not mix.
    pub file_prefs: tokio::sync::Mutex<()>,
    /// The microphone and speaker chosen for calls.
    pub sound: sound::Sound,
}

impl Shell {
    /// The engine, or why it could not start (waits while it opens).
    pub async fn client(&self) -> Result<&Client, UiError> {
        self.client.wait().await.as_ref().map_err(Clone::clone)
    }

    /// The engine if it is open, without waiting.
    pub fn client_now(&self) -> Option<&Client> {
        self.client.get().and_then(|c| c.as_ref().ok())
    }

    fn mirror(&self) -> MutexGuard<'_, SnapshotView> {
        self.mirror.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state as of the last event sent to the window.
    pub fn snapshot_view(&self) -> SnapshotView {
        self.mirror().clone()
    }

    /// Number of the last event sent to the window.
    pub fn seq(&self) -> u64 {
        self.mirror().seq
    }
}

/// `TERN_DATA_DIR`, else the platform's data folder.
pub(crate) fn data_dir() -> Result<PathBuf, UiError> {
    match std::env::var_os("TERN_DATA_DIR") {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => tern_store::default_data_dir().map_err(|e| UiError::from(tern_core::Error::from(e))),
    }
}

async fn open_client(sound: sound::Sound) -> Result<Client, UiError> {
    let passwords: Arc<dyn PasswordStore> =
        Arc::new(Keychain::platform().map_err(|e| UiError::from(tern_core::Error::from(e)))?);
    let dir = data_dir()?;
    sound.load(&dir);
    #[allow(unused_mut)]
    let mut config = ClientConfig::new(dir, passwords);
    #[cfg(feature = "test-hooks")]
    {
        config.extra_roots = test_hooks::extra_roots();
    }
    config.calls = Some(call_media(sound));
    let client = Client::open(config).await?;
    if let Some(prefs) = files::load_prefs(client.data_dir()) {
        client.set_file_prefs(prefs);
    }
    #[cfg(feature = "test-hooks")]
    test_hooks::add_demo_account(&client).await;
    Ok(client)
}

/// Calls: the media stack over UDP, the system's sound devices (the
/// microphone and speakers the user chose, else the defaults, followed
/// when the default changes), with echo cancellation, noise suppression
/// and gain control. A device that cannot be opened fails that call with
/// the reason.
fn call_media(sound: sound::Sound) -> tern_core::CallMedia {
    tern_core::CallMedia {
        backend: Arc::new(tern_core::tern_media::UdpBackend::new()),
        devices: Arc::new(move || sound.open().map_err(|e| e.to_string())),
        bind: None,
        relay_only: false,
        lost_after: std::time::Duration::from_secs(20),
        audio_processing: true,
    }
}

/// Most events sent to the window in one batch.
const BATCH: usize = 512;

/// Applies engine events to the mirror and sends them to the window, in
/// order and numbered, so the UI can join at any time through `snapshot`.
/// Events that are waiting together go as one batch (one IPC message, one
/// update of the page).
async fn forward_events(app: AppHandle, client: Client, mut rx: Receiver<ClientEvent>) {
    loop {
        'stream: loop {
            let first = match rx.recv().await {
                Ok(event) => event,
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "fell behind the engine; resending the state");
                    break 'stream;
                }
                Err(RecvError::Closed) => return,
            };
            let mut events = vec![first];
            let mut lagged = false;
            while events.len() < BATCH {
                match rx.try_recv() {
                    Ok(event) => events.push(event),
                    Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "fell behind the engine; resending the state");
                        lagged = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            let shell = app.state::<Shell>();
            for event in &events {
                desktop_side_effects(&app, &shell, &client, event);
            }
            {
                let mut mirror = shell.mirror();
                for event in &events {
                    mirror.snapshot.apply(event);
                }
                mirror.seq += events.len() as u64;
                let batch = EngineEvents {
                    seq: mirror.seq,
                    events,
                };
                // As JSON in a string: the window receives events as a
                // script to run, and JavaScriptCore reads a long string
                // and `JSON.parse` far faster than the same data written
                // as an object literal (about 90 ms against 5 ms for the
                // 5,000 occupants of a big group chat).
                let sent = serde_json::to_string(&batch)
                    .map_err(tauri::Error::from)
                    .and_then(|json| app.emit(EVENT_ENGINE, json));
                if let Err(e) = sent {
                    tracing::warn!("could not send events to the window: {e}");
                }
            }
            if lagged {
                break 'stream;
            }
        }
        let (snapshot, fresh) = client.subscribe();
        rx = fresh;
        let shell = app.state::<Shell>();
        let mut mirror = shell.mirror();
        mirror.seq += 1;
        mirror.snapshot = snapshot;
        if let Err(e) = app.emit(EVENT_RESYNC, &*mirror) {
            tracing::warn!("could not send the state to the window: {e}");
        }
    }
}

/// Tray count and notifications for an engine event.
fn desktop_side_effects(app: &AppHandle, shell: &Shell, client: &Client, event: &ClientEvent) {
    shell.tray.on_event(event);
    if let ClientEvent::Call { call } = event {
        call_attention(app, shell, client, call);
        call_notification(shell, client, call);
        return;
    }
    let ClientEvent::Message { message } = event else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    // In a group chat, the room's setting decides: every message, mentions
    // of the user (the default in channels), or nothing.
    let room = shell
        .mirror()
        .snapshot
        .rooms
        .iter()
        .find(|r| r.account == message.account && r.jid == message.peer)
        .cloned();
    if let Some(r) = &room {
        if !notifications::room_wants(r.notify, message.mention) {
            return;
        }
    }
    if !shell.notifier.should_notify(message, now) {
        return;
    }
    // The task bar marks the window too (the urgency hint on X11); the
    // mark goes when the window gets the focus.
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.request_user_attention(Some(tauri::UserAttentionType::Informational));
    }
    let (desktop, client, message) = (shell.desktop.clone(), client.clone(), message.clone());
    let show_text = shell.notifier.shows_text();
    tauri::async_runtime::spawn(async move {
        let sender = match &room {
            // "nick in Room"
            Some(r) => {
                let nick = message
                    .sender
                    .split_once('/')
                    .map(|(_, n)| n.to_string())
                    .unwrap_or_else(|| message.sender.clone());
                let name = r.name.clone().unwrap_or_else(|| r.jid.clone());
                format!("{nick} in {name}")
            }
            None => {
                let contact = client
                    .contact(&message.account, &message.peer)
                    .await
                    .ok()
                    .flatten();
                contact
                    .and_then(|c| c.name.or(c.nickname))
                    .unwrap_or_else(|| message.peer.clone())
            }
        };
        let (title, body) = notifications::content(&sender, &message, show_text);
        desktop.show(
            title,
            body,
            notifications::OpenConversation {
                account: message.account,
                peer: message.peer,
            },
        );
    });
}

/// While an incoming call rings, the tray says who calls (and offers to
/// answer) and the window asks for attention (the task bar flashes it,
/// the dock bounces); both stop when it rings no more. Whatever the
/// notification setting: a call that rings is never silent here.
fn call_attention(app: &AppHandle, shell: &Shell, client: &Client, call: &tern_core::CallView) {
    let Some(change) = shell.tray.on_call(call) else {
        return;
    };
    let window = app.get_webview_window("main");
    match change {
        tray::RingChange::Started => {
            if let Some(w) = &window {
                let _ = w.request_user_attention(Some(tauri::UserAttentionType::Critical));
            }
            let (app, client, call) = (app.clone(), client.clone(), call.clone());
            tauri::async_runtime::spawn(async move {
                if let Some(name) = caller_name(&client, &call).await {
                    app.state::<Shell>().tray.set_caller(&call.id, name);
                }
            });
        }
        tray::RingChange::Stopped => {
            if let Some(w) = &window {
                let _ = w.request_user_attention(None);
            }
        }
    }
}

/// The contact's name for the caller of `call`, if they have one.
async fn caller_name(client: &Client, call: &tern_core::CallView) -> Option<String> {
    client
        .contact(&call.account, &call.peer)
        .await
        .ok()
        .flatten()
        .and_then(|c| c.name.or(c.nickname))
}

/// Shows or closes the notification of an incoming call.
fn call_notification(shell: &Shell, client: &Client, call: &tern_core::CallView) {
    match shell.notifier.call_changed(call) {
        Some(notifications::CallNotice::Ring) => {
            let (desktop, client, call) = (shell.desktop.clone(), client.clone(), call.clone());
            tauri::async_runtime::spawn(async move {
                let caller = caller_name(&client, &call)
                    .await
                    .unwrap_or_else(|| call.peer.clone());
                let (title, body) = notifications::call_content(&caller);
                desktop.ring(call.id, title, body);
            });
        }
        Some(notifications::CallNotice::Stop) => shell.desktop.stop_ringing(call.id.clone()),
        None => {}
    }
}

/// What the user chose on a call's notification (or the tray's menu).
pub(crate) fn on_call_action(app: &AppHandle, action: notifications::CallAction) {
    use notifications::CallAction;
    let client = app.state::<Shell>().client_now().cloned();
    let result = match (&action, client) {
        (CallAction::Answer(id), Some(c)) => {
            tray::show_window(app);
            c.accept_call(id)
        }
        (CallAction::Decline(id), Some(c)) => c.hang_up(id),
        (CallAction::Open(_), _) => {
            tray::show_window(app);
            Ok(())
        }
        (_, None) => Ok(()),
    };
    if let Err(e) = result {
        tracing::info!("call notification {action:?}: {e}");
    }
}

/// Tells the window about an `xmpp:` link (or keeps it until it asks).
fn open_uri(app: &AppHandle, uri: uri::XmppUri) {
    tray::show_window(app);
    if let Some(uri) = app.state::<Shell>().links.deliver(uri) {
        if let Err(e) = app.emit(uri::EVENT_URI, &uri) {
            tracing::warn!("could not pass a link to the window: {e}");
        }
    }
}

/// Hands the opened engine (or its error) to the commands, with the state
/// the window will ask for first, and starts forwarding its events.
async fn start_engine(app: &AppHandle, client: Result<Client, UiError>) {
    let shell = app.state::<Shell>();
    let events = match &client {
        Ok(c) => {
            let (snapshot, rx) = c.subscribe();
            shell.mirror().snapshot = snapshot;
            if let Ok((list, _)) = c.subscribe_conversations().await {
                shell
                    .tray
                    .reset(list.into_iter().map(|c| ((c.account, c.peer), c.unread)));
            }
            Some(rx)
        }
        Err(e) => {
            tracing::error!("the engine did not start: {e}");
            None
        }
    };
    let opened = client.as_ref().ok().cloned();
    if shell.client.set(client).is_err() {
        tracing::warn!("the engine was opened twice");
    }
    if let (Some(client), Some(rx)) = (opened, events) {
        tauri::async_runtime::spawn(forward_events(app.clone(), client, rx));
    }
}

/// Every command the window can call, and the events and types it sees:
/// the one list the invoke handler and the generated TypeScript
/// (`ui/src/lib/generated/bindings.ts`, see [`typescript`]) both come from.
pub fn bindings() -> tauri_specta::Builder<tauri::Wry> {
    tauri_specta::Builder::<tauri::Wry>::new()
        // Every `#[tauri::command]` of commands.rs (listed by build.rs).
        .commands(include!(concat!(env!("OUT_DIR"), "/commands.rs")))
        .typ::<boundary::EngineEvents>()
        .typ::<notifications::OpenConversation>()
        .typ::<uri::XmppUri>()
        .constant("EVENT_ENGINE", boundary::EVENT_ENGINE)
        .constant("EVENT_RESYNC", boundary::EVENT_RESYNC)
        .constant("EVENT_OPEN_CONVERSATION", notifications::EVENT_OPEN)
        .constant("EVENT_OPEN_URI", uri::EVENT_URI)
        .typ::<files::FileDrag>()
        .constant("EVENT_FILE_DRAG", files::EVENT_DRAG)
        // Commands reject with a `UiError`, as `invoke` does.
        .error_handling(tauri_specta::ErrorHandlingMode::Throw)
        // Ids, times and counts are below 2^53.
        .dangerously_cast_bigints_to_number()
        // One TypeScript type per Rust type (they serialize as they deserialize).
        .disable_serde_phases()
}

/// The TypeScript of [`bindings`], as `ui/src/lib/generated/bindings.ts`
/// holds it (a test keeps that file current).
pub fn typescript() -> Result<String, String> {
    let dir = std::env::temp_dir().join(format!("tern-bindings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join("bindings.ts");
    bindings()
        .export(
            specta_typescript::Typescript::default().header("// Generated from src-tauri (tern_app::bindings); do not edit. Run `TERN_BLESS=1 cargo test -p tern-app --test bindings`.\n"),
            &path,
        )
        .map_err(|e| e.to_string())?;
    let ts = std::fs::read_to_string(&path).map_err(|e| e.to_string());
    let _ = std::fs::remove_dir_all(&dir);
    ts
}

/// The context generated by `build.rs` (config, capabilities, embedded UI).
#[allow(clippy::unwrap_used)] // in the generated code
fn context() -> tauri::Context {
    tauri::tauri_build_context!()
}

/// Makes every file and folder Tern creates from here on its user's only
/// (Unix: umask 077, so files are 0600 and folders 0700): the avatars and
/// caches in the data folder as well as the database (which the store makes
/// private itself, for a folder from before). Other users of the computer
/// cannot read what Tern writes.
#[allow(unsafe_code)] // one libc call, no pointers
pub fn private_files() {
    #[cfg(unix)]
    // SAFETY: umask only changes the process's file mode mask; it cannot
    // fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// Starts the app.
pub fn run() {
    let started = std::time::Instant::now();
    private_files();
    rendering::choose();
    logging::init();
    #[cfg(feature = "test-hooks")]
    test_hooks::announce();
    tracing::info!("web view: {}", rendering::describe());

    let result = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, args, _cwd| {
            // A second start (e.g. an `xmpp:` link clicked) comes here.
            match uri::from_args(args) {
                Some(link) => open_uri(app, link),
                None => tray::show_window(app),
            }
        }))
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .plugin(links::guard())
        // Native open and save dialogs, used by the commands only: the
        // window's capability grants none of the plugin's own commands.
        .plugin(tauri_plugin_dialog::init())
        .register_asynchronous_uri_scheme_protocol(media::SCHEME, |ctx, request, responder| {
            let app = ctx.app_handle().clone();
            tauri::async_runtime::spawn(async move {
                let client = app.state::<Shell>().client_now().cloned();
                responder.respond(media::answer(request, client).await);
            });
        })
        .setup(move |app| {
            tracing::debug!(ms = started.elapsed().as_millis(), "setup");
            app.manage(Shell {
                client: tokio::sync::SetOnce::new(),
                mirror: Mutex::new(SnapshotView::default()),
                registration: tokio::sync::Mutex::new(None),
                notifier: notifications::Notifier::default(),
                desktop: {
                    let (app, app2) = (app.handle().clone(), app.handle().clone());
                    notifications::Desktop::start(
                        move |open| notifications::bring_up(&app, &open),
                        move |action| on_call_action(&app2, action),
                    )
                },
                tray: tray::Tray::default(),
                close_to_tray: std::sync::atomic::AtomicBool::new(true),
                links: uri::Inbox::new(uri::from_args(std::env::args().skip(1))),
                offered: files::Offered::default(),
                file_prefs: tokio::sync::Mutex::new(()),
                sound: sound::Sound::default(),
            });
            app.state::<Shell>().tray.install(app.handle());
            // The engine opens on the runtime while the window and its page
            // start; commands wait for it.
            // (A thread with block_on: the engine's opening future is not
            // `Send` as far as the compiler can prove.)
            let app = app.handle().clone();
            let sound = app.state::<Shell>().sound.clone();
            std::thread::Builder::new()
                .name("engine-open".into())
                .spawn(move || {
                    // Commands wait for the engine: a panic while opening
                    // must still leave them an answer, not a wait forever.
                    let client = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        tauri::async_runtime::block_on(open_client(sound))
                    }))
                    .unwrap_or_else(|_| {
                        Err(UiError::new(
                            "engine_failed",
                            "Tern's engine stopped while opening its data. Restart Tern; if it happens again, report it with the log.",
                        ))
                    });
                    tracing::debug!(ms = started.elapsed().as_millis(), "engine open");
                    tauri::async_runtime::block_on(start_engine(&app, client));
                })?;
            Ok(())
        })
        .on_window_event(|window, event| match event {
            tauri::WindowEvent::Focused(active) => {
                let shell = window.state::<Shell>();
                shell.notifier.set_focused(*active);
                if *active {
                    let _ = window.request_user_attention(None);
                }
                if let Some(client) = shell.client_now() {
                    client.set_client_active(*active);
                }
            }
            // Files dragged onto the window: the page offers to send them
            // to the open conversation.
            tauri::WindowEvent::DragDrop(drag) => {
                let event = match drag {
                    tauri::DragDropEvent::Enter { .. } | tauri::DragDropEvent::Over { .. } => {
                        files::FileDrag::Over
                    }
                    tauri::DragDropEvent::Leave => files::FileDrag::Left,
                    tauri::DragDropEvent::Drop { paths, .. } => {
                        let list: Vec<files::PickedFile> =
                            paths.iter().filter_map(|p| files::describe(p)).collect();
                        window
                            .state::<Shell>()
                            .offered
                            .add(list.iter().map(|f| PathBuf::from(&f.path)));
                        files::FileDrag::Dropped { files: list }
                    }
                    _ => return,
                };
                if let Err(e) = window.emit(files::EVENT_DRAG, &event) {
                    tracing::warn!("could not pass dropped files to the window: {e}");
                }
            }
            tauri::WindowEvent::CloseRequested { api, .. } => {
                let shell = window.state::<Shell>();
                if shell.tray.present()
                    && shell
                        .close_to_tray
                        .load(std::sync::atomic::Ordering::Relaxed)
                {
                    api.prevent_close();
                    let _ = window.hide();
                }
            }
            _ => {}
        })
        .invoke_handler(bindings().invoke_handler())
        .build(context());
    match result {
        Ok(app) => app.run(|app, event| {
            // macOS hands links to the running app (Info.plist registers
            // the `xmpp` scheme) instead of starting it again.
            #[cfg(target_os = "macos")]
            if let tauri::RunEvent::Opened { urls } = &event {
                if let Some(link) = uri::from_args(urls.iter().map(|u| u.to_string())) {
                    open_uri(app, link);
                }
            }
            if let tauri::RunEvent::Exit = event {
                if let Some(client) = app.state::<Shell>().client_now() {
                    tauri::async_runtime::block_on(client.shutdown());
                }
            }
        }),
        Err(e) => {
            tracing::error!("Tern could not start: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &std::path::Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn what_tern_creates_is_for_its_user_only() {
        super::private_files();
        let tmp = tempfile::tempdir().unwrap();
        // As the avatar cache writes its files.
        let avatars = tmp.path().join("avatars").join("ab");
        std::fs::create_dir_all(&avatars).unwrap();
        let file = avatars.join("abcdef");
        std::fs::write(&file, b"picture").unwrap();
        assert_eq!(mode(&file), 0o600, "a file");
        assert_eq!(mode(&avatars), 0o700, "a folder");
        assert_eq!(mode(avatars.parent().unwrap()), 0o700, "its parent");
    }
}
