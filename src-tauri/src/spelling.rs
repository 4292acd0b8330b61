//! Spell checking in the composer.
//!
//! The page marks which fields are checked (`spellcheck`); whether the web
//! view checks at all is the engine's choice. WebView2 (Windows) and
//! WKWebView (macOS) check marked fields with the system's own spell
//! checker. WebKitGTK checks nothing until its web context is given the
//! languages to check (through Enchant and the installed Hunspell
//! dictionaries, e.g. Debian's `hunspell-en-us`): that is done here, with
//! the languages of the user's locale. The page asks for it only once a
//! spell-checked field has had the focus, since the dictionaries take
//! memory (6 MB for English).

/// Spell-checking languages from the locale environment variables, in the
/// order the C library reads them (`LANGUAGE` lists several; then
/// `LC_ALL`, `LC_MESSAGES`, `LANG`), as `ll_CC` or `ll` without encoding
/// or modifier. `C` and `POSIX` name no language. Falls back to `en_US`.
pub fn languages(var: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |locale: &str| {
        // "de_DE.UTF-8@euro" → "de_DE"
        let base = locale.split(['.', '@']).next().unwrap_or("").trim();
        let valid = !base.is_empty()
            && base != "C"
            && base != "POSIX"
            && base.len() <= 16
            && base
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if valid && !out.iter().any(|l| l == base) {
            out.push(base.replace('-', "_"));
        }
    };
    if let Some(list) = var("LANGUAGE") {
        list.split(':').for_each(&mut add);
    }
    for name in ["LC_ALL", "LC_MESSAGES", "LANG"] {
        if let Some(v) = var(name).filter(|v| !v.is_empty()) {
            add(&v);
            break;
        }
    }
    if out.is_empty() {
        out.push("en_US".into());
    }
    out
}

/// Turns spell checking in the window's web view on or off.
pub fn apply(window: &tauri::WebviewWindow, enabled: bool) {
    #[cfg(target_os = "linux")]
    {
        let langs = languages(|name| std::env::var(name).ok());
        let result = window.with_webview(move |view| {
            use webkit2gtk::{WebContextExt, WebViewExt};
            if let Some(context) = view.inner().context() {
                // Languages load their dictionaries at once (an empty
                // list means the default language's), so they are set
                // only to turn checking on.
                if enabled {
                    let langs: Vec<&str> = langs.iter().map(String::as_str).collect();
                    context.set_spell_checking_languages(&langs);
                }
                context.set_spell_checking_enabled(enabled);
            }
        });
        match result {
            Ok(()) => tracing::debug!(enabled, "spell checking"),
            Err(e) => tracing::warn!("could not set spell checking: {e}"),
        }
    }
    // Elsewhere the page's `spellcheck` attribute, which follows the same
    // setting, is all there is to it.
    #[cfg(not(target_os = "linux"))]
    let _ = (window, enabled);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_locale_names_the_languages() {
        assert_eq!(languages(env(&[("LANG", "de_DE.UTF-8")])), ["de_DE"]);
        assert_eq!(
            languages(env(&[("LANGUAGE", "pt_BR:pt:en"), ("LANG", "pt_BR.UTF-8")])),
            ["pt_BR", "pt", "en"]
        );
        // LC_ALL wins over LANG; modifiers go.
        assert_eq!(
            languages(env(&[
                ("LC_ALL", "sv_FI.UTF-8@euro"),
                ("LANG", "en_GB.UTF-8")
            ])),
            ["sv_FI"]
        );
    }

    #[test]
    fn no_locale_or_hostile_values_fall_back_to_english() {
        assert_eq!(languages(env(&[])), ["en_US"]);
        assert_eq!(languages(env(&[("LANG", "C.UTF-8")])), ["en_US"]);
        assert_eq!(languages(env(&[("LANG", "POSIX")])), ["en_US"]);
        assert_eq!(
            languages(env(&[("LANGUAGE", "../../etc:x y:"), ("LANG", "")])),
            ["en_US"]
        );
        let long = "a".repeat(5000);
        assert_eq!(languages(env(&[("LANG", &long)])), ["en_US"]);
    }
}
