//! Generates the Tauri context (config, capabilities, icons, the built UI
//! from `ui/dist`).
//!
//! A command is defined once: a `#[tauri::command]` function in
//! `src/commands.rs`. From that file this script derives the command list
//! (each command gets an `allow-…` permission), the capability that grants
//! the window exactly those commands and event listening, and the list
//! `lib.rs` registers (and generates the TypeScript bindings from).
//!
//! The context is generated here rather than by `generate_context!` so that
//! a rebuilt UI rebuilds the app. Without a built UI (a fresh checkout
//! running `cargo build --workspace`) a placeholder page is embedded that
//! says how to build it.

const PLACEHOLDER: &str = "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Tern</title>\
<body><h1>Tern's interface was not built</h1><p>Build it with <code>scripts/run</code>, or \
<code>npm ci &amp;&amp; npm run build</code> in <code>ui/</code>, then build the app again.</p></body></html>\n";

/// The name of every `#[tauri::command]` function in `src/commands.rs`.
fn commands() -> Vec<String> {
    let src = match std::fs::read_to_string("src/commands.rs") {
        Ok(s) => s,
        Err(e) => {
            println!("cargo:warning=could not read src/commands.rs: {e}");
            std::process::exit(1);
        }
    };
    let mut names = Vec::new();
    let mut command = false;
    for line in src.lines().map(str::trim) {
        if line.starts_with("#[tauri::command") {
            command = true;
        } else if command {
            let rest = line
                .strip_prefix("pub async fn ")
                .or_else(|| line.strip_prefix("pub fn "));
            if let Some(rest) = rest {
                names.push(
                    rest.chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect(),
                );
                command = false;
            }
        }
    }
    names
}

/// Writes `path` unless it already holds `text` (so nothing rebuilds for
/// nothing).
fn write(path: &std::path::Path, text: &str) {
    if std::fs::read_to_string(path).ok().as_deref() == Some(text) {
        return;
    }
    if let Err(e) = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(path, text))
    {
        println!("cargo:warning=could not write {}: {e}", path.display());
        std::process::exit(1);
    }
}

fn main() {
    println!("cargo:rerun-if-changed=src/commands.rs");
    let names = commands();
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    // The list lib.rs registers with the invoke handler and the bindings.
    write(
        &out.join("commands.rs"),
        &format!(
            "tauri_specta::collect_commands![\n{}]\n",
            names
                .iter()
                .map(|n| format!("    commands::{n},\n"))
                .collect::<String>()
        ),
    );
    // What the window may call: these commands and event listening, no more.
    let mut permissions = vec![
        "core:event:allow-listen".to_string(),
        "core:event:allow-unlisten".to_string(),
    ];
    permissions.extend(
        names
            .iter()
            .map(|n| format!("allow-{}", n.replace('_', "-"))),
    );
    let capability = format!(
        "{{\n  \"identifier\": \"default\",\n  \"description\": \"What Tern's window may call: the engine commands and event listening.\",\n  \"windows\": [\"main\"],\n  \"permissions\": [\n{}\n  ]\n}}\n",
        permissions
            .iter()
            .map(|p| format!("    \"{p}\""))
            .collect::<Vec<_>>()
            .join(",\n")
    );
    write(&out.join("capabilities/default.json"), &capability);
    let pattern: &'static str =
        Box::leak(format!("{}/capabilities/*.json", out.display()).into_boxed_str());
    let commands: &'static [&'static str] = Box::leak(
        names
            .into_iter()
            .map(|n| &*Box::leak(n.into_boxed_str()))
            .collect::<Vec<&'static str>>()
            .into_boxed_slice(),
    );
    let dist = std::path::Path::new("../ui/dist");
    if !dist.join("index.html").exists() {
        if let Err(e) = std::fs::create_dir_all(dist)
            .and_then(|()| std::fs::write(dist.join("index.html"), PLACEHOLDER))
        {
            println!("cargo:warning=could not write a placeholder UI: {e}");
        }
    }
    let attributes = tauri_build::Attributes::new()
        .app_manifest(tauri_build::AppManifest::new().commands(commands))
        .capabilities_path_pattern(pattern)
        .codegen(tauri_build::CodegenContext::new());
    if let Err(e) = tauri_build::try_build(attributes) {
        println!("cargo:warning=tauri-build failed: {e:#}");
        std::process::exit(1);
    }
}
