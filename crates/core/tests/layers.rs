//! The layer rules of the engine (ARCHITECTURE.md, "Layers"), checked on
//! the source: what each folder of `crates/core/src` may use. A rule broken
//! here is a design decision to take on purpose (and to write down), not
//! by accident.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Rust files under `dir`, with comment lines and `#[cfg(test)]`
/// modules left out (tests may build anything).
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let code = without_tests(&std::fs::read_to_string(&path).unwrap());
                out.push((path, code));
            }
        }
    }
    assert!(!out.is_empty(), "no sources under {}", dir.display());
    out
}

/// The code of a file without comment lines and without the modules and
/// items under `#[cfg(test)]` (found by their braces).
fn without_tests(text: &str) -> String {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("//") {
            continue;
        }
        if t.starts_with("#[cfg(test)]") {
            // Skip the next item: up to its matching closing brace, or to
            // the end of a one-line item.
            let mut depth = 0i32;
            let mut opened = false;
            for l in lines.by_ref() {
                depth += l.matches('{').count() as i32 - l.matches('}').count() as i32;
                opened |= l.contains('{');
                if (opened && depth <= 0) || (!opened && l.trim_end().ends_with(';')) {
                    break;
                }
            }
            continue;
        }
        out.push(line);
    }
    out.join("\n")
}

/// The code with the contents of string literals (plain and raw) left
/// out, so that a name in a string is not taken for a use of it.
fn without_strings(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        // A character literal: '"' or '\"'.
        if c == '\'' && chars.get(i + 1) == Some(&'"') && chars.get(i + 2) == Some(&'\'') {
            out.push_str("'\"'");
            i += 3;
            continue;
        }
        if c == 'r' && matches!(chars.get(i + 1), Some('"') | Some('#')) {
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            if chars.get(i + 1 + hashes) == Some(&'"') {
                let mut j = i + 2 + hashes;
                while j < chars.len() {
                    if chars[j] == '"'
                        && chars[j + 1..]
                            .iter()
                            .take(hashes)
                            .filter(|&&h| h == '#')
                            .count()
                            == hashes
                    {
                        break;
                    }
                    j += 1;
                }
                out.push_str("\"\"");
                i = j + 1 + hashes;
                continue;
            }
        }
        if c == '"' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '"' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            out.push_str("\"\"");
            i = j + 1;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

#[test]
fn strings_are_not_code() {
    let code = r##"log::info!(target: "tokio_xmpp::x", "a \" minidom"); let q = '"'; let r = r#"sqlx "x""#; use xmpp_parsers::A;"##;
    let left = without_strings(code);
    assert!(
        !left.contains("tokio_xmpp") && !left.contains("minidom") && !left.contains("sqlx"),
        "{left}"
    );
    assert!(left.contains("use xmpp_parsers::A;"), "{left}");
}

/// Fails listing every file of `dir` that contains one of `forbidden`.
fn forbid(dir: &str, forbidden: &[&str], except: &[&str], rule: &str) {
    let mut broken = Vec::new();
    for (path, code) in sources(&root().join(dir)) {
        let name = path.strip_prefix(root()).unwrap().display().to_string();
        if except.iter().any(|e| name.ends_with(e)) {
            continue;
        }
        for f in forbidden {
            if code.contains(f) {
                broken.push(format!("{name}: `{f}`"));
            }
        }
    }
    assert!(broken.is_empty(), "{rule}:\n{}", broken.join("\n"));
}

#[test]
fn codecs_touch_neither_the_store_nor_events_nor_the_network() {
    forbid(
        "src/xep",
        &[
            "tern_store",
            "crate::events",
            "crate::services",
            "crate::account",
            "crate::inbound",
            "crate::outbound",
            "crate::api",
            "crate::net",
            "tokio",
            "async fn",
            ".await",
        ],
        &[],
        "xep/ holds pure, synchronous codecs",
    );
}

#[test]
fn services_never_parse_raw_xml() {
    forbid(
        "src/services",
        &[
            ".parse::<Element>",
            "minidom::Element>()",
            "Element::from_reader",
            "format!(\"<",
            "xml::parse",
        ],
        &[],
        "services/ read stanzas through the codecs in xep/",
    );
}

#[test]
fn the_api_only_calls_services() {
    forbid(
        "src/api",
        &[
            "crate::xep",
            "crate::inbound",
            "crate::outbound",
            "Iq::from_",
            "Presence::new",
            "Message::new",
            "minidom",
            "sqlx",
        ],
        &[],
        "api/ checks arguments and calls services; it builds no stanza",
    );
    // The store is read by the services; the API keeps only the account
    // list (the Client's own settings) in it.
    forbid(
        "src/api",
        &[".store()."],
        &["api/client.rs"],
        "api/ reads stored data through the services",
    );
}

#[test]
fn inbound_stages_write_only_through_the_commit_stage() {
    // Stages describe changes; commit.rs writes them in one transaction,
    // emit.rs announces what it changed, known.rs only reads.
    forbid(
        "src/inbound",
        &[".store.", ".hub."],
        &["inbound/commit.rs", "inbound/emit.rs", "inbound/known.rs"],
        "inbound stages return effects; only commit writes and emit emits",
    );
    forbid(
        "src/inbound",
        &[".hub."],
        &["inbound/emit.rs"],
        "only the emit stage sends events",
    );
}

#[test]
fn the_shell_holds_no_protocol_logic() {
    let shell = root().join("../../src-tauri");
    let manifest = std::fs::read_to_string(shell.join("Cargo.toml")).unwrap();
    for dep in ["xmpp-parsers", "tokio-xmpp", "minidom", "sqlx"] {
        assert!(
            !manifest.contains(&format!("\n{dep} ")) && !manifest.contains(&format!("\n{dep}=")),
            "the shell depends on {dep}"
        );
    }
    let mut broken = Vec::new();
    for (path, code) in sources(&shell.join("src")) {
        // Log targets name the crates in strings; only code counts.
        let code = without_strings(&code);
        for f in ["xmpp_parsers", "tokio_xmpp", "minidom", "sqlx"] {
            if code.contains(f) {
                broken.push(format!("{}: `{f}`", path.display()));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "the shell passes commands to the engine and events to the window:\n{}",
        broken.join("\n")
    );
}
