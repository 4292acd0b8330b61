//! Generates the Tauri context (config, capabilities, icons, the built UI
//! from `ui/dist`). Every app command is listed here so that it gets an
//! `allow-…` permission and the webview may call only what `capabilities/`
//! grants.
//!
//! The context is generated here rather than by `generate_context!` so that
//! a rebuilt UI rebuilds the app. Without a built UI (a fresh checkout
//! running `cargo build --workspace`) a placeholder page is embedded that
//! says how to build it.

const COMMANDS: &[&str] = &[
    "snapshot",
    "set_open_conversation",
    "set_desktop_settings",
    "take_pending_uri",
    "add_account",
    "remove_account",
    "set_enabled",
    "set_password",
    "pin_certificate",
    "reconnect",
    "change_password",
    "delete_account_on_server",
    "registration_start",
    "registration_submit",
    "registration_cancel",
    "conversations",
    "timeline",
    "load_older",
    "load_newer",
    "send_message",
    "correct_message",
    "retract_message",
    "resend_message",
    "delete_conversation",
    "react",
    "mark_read",
    "send_chat_state",
    "search",
    "roster",
    "add_contact",
    "rename_contact",
    "remove_contact",
    "approve_subscription",
    "deny_subscription",
    "cancel_subscription",
    "set_presence",
    "block",
    "unblock",
    "open_link",
    "profile",
    "set_avatar",
    "remove_avatar",
    "set_nickname",
    "vcard",
];

const PLACEHOLDER: &str = "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Tern</title>\
<body><h1>Tern's interface was not built</h1><p>Build it with <code>scripts/run</code>, or \
<code>npm ci &amp;&amp; npm run build</code> in <code>ui/</code>, then build the app again.</p></body></html>\n";

fn main() {
    let dist = std::path::Path::new("../ui/dist");
    if !dist.join("index.html").exists() {
        if let Err(e) = std::fs::create_dir_all(dist)
            .and_then(|()| std::fs::write(dist.join("index.html"), PLACEHOLDER))
        {
            println!("cargo:warning=could not write a placeholder UI: {e}");
        }
    }
    let attributes = tauri_build::Attributes::new()
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS))
        .codegen(tauri_build::CodegenContext::new());
    if let Err(e) = tauri_build::try_build(attributes) {
        println!("cargo:warning=tauri-build failed: {e:#}");
        std::process::exit(1);
    }
}
