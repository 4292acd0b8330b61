//! `xmpp:` URIs (RFC 5122, actions of XEP-0147) given to Tern on the
//! command line: by the desktop when the user clicks such a link, or by a
//! second start of the app (forwarded by the single-instance plugin).

use serde::Serialize;

/// Event carrying an [`XmppUri`] to the window.
pub const EVENT_URI: &str = "tern://open-uri";

/// Longest URI considered (a link is short; anything else is garbage).
const MAX_URI: usize = 4096;

/// What a link asks Tern to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, specta::Type)]
pub struct XmppUri {
    /// The address (bare JID) the link points at.
    pub jid: String,
    /// `message` (open a chat, the default), `roster` or `subscribe` (add a
    /// contact), `join` (a group chat).
    pub action: String,
    /// Text to put in the composer (`?message;body=...`), never sent by
    /// itself.
    pub body: Option<String>,
    /// A contact name suggested by `?roster;name=...`.
    pub name: Option<String>,
}

fn percent_decode(s: &str) -> Option<String> {
    crate::boundary::percent_decoded(s.as_bytes())
}

/// Reads an `xmpp:` URI; `None` for anything else or anything malformed.
pub fn parse(uri: &str) -> Option<XmppUri> {
    if uri.len() > MAX_URI {
        return None;
    }
    let rest = uri
        .get(..5)
        .filter(|s| s.eq_ignore_ascii_case("xmpp:"))
        .map(|_| &uri[5..])?;
    // An authority (`xmpp://me@host/...`) names the account to use; Tern
    // picks the account itself, so it is skipped.
    let rest = match rest.strip_prefix("//") {
        Some(r) => r.split_once('/').map(|(_, path)| path)?,
        None => rest,
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let path = path.split('#').next().unwrap_or_default();
    let jid = percent_decode(path)?;
    let jid = tern_core::parse_account_jid(&jid).ok()?.to_string();
    let mut out = XmppUri {
        jid,
        action: "message".into(),
        body: None,
        name: None,
    };
    if let Some(query) = query {
        let query = query.split('#').next().unwrap_or_default();
        let mut parts = query.split(';');
        let action = parts.next().unwrap_or_default().to_ascii_lowercase();
        out.action = match action.as_str() {
            "" | "message" => "message",
            "roster" => "roster",
            "subscribe" => "subscribe",
            "join" => "join",
            // Unknown actions (e.g. OMEMO fingerprints, `?omemo-sid-...`)
            // still open the chat.
            _ => "message",
        }
        .into();
        for pair in parts {
            let Some((k, v)) = pair.split_once('=') else {
                continue;
            };
            let v = percent_decode(v)
                .map(|v| {
                    v.chars()
                        .filter(|c| !c.is_control() || *c == '\n')
                        .collect::<String>()
                })
                .filter(|v| !v.is_empty());
            match k {
                "body" => out.body = v,
                "name" => out.name = v,
                _ => {}
            }
        }
    }
    Some(out)
}

/// The first `xmpp:` URI among command-line arguments.
pub fn from_args<I: IntoIterator<Item = String>>(args: I) -> Option<XmppUri> {
    args.into_iter().find_map(|a| parse(&a))
}

/// Links on their way to the window. Until the window first asks for the
/// link Tern was started with, a link waits here (the newest wins): an
/// event sent before the page listens would be lost. After that, links go
/// to the window as events.
#[derive(Default)]
pub struct Inbox {
    state: std::sync::Mutex<(bool, Option<XmppUri>)>,
}

impl Inbox {
    /// An inbox holding the link Tern was started with.
    pub fn new(first: Option<XmppUri>) -> Inbox {
        Inbox {
            state: std::sync::Mutex::new((false, first)),
        }
    }

    /// A link arrived: `Some` when it is for the window now, `None` when it
    /// waits for the window to ask.
    pub fn deliver(&self, link: XmppUri) -> Option<XmppUri> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.0 {
            Some(link)
        } else {
            s.1 = Some(link);
            None
        }
    }

    /// The window asks for the waiting link (once); later links come to it
    /// as events.
    pub fn take(&self) -> Option<XmppUri> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.0 = true;
        s.1.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_wait_until_the_window_asks() {
        let a = parse("xmpp:a@example.org").unwrap();
        let b = parse("xmpp:b@example.org?message;body=hi").unwrap();
        let inbox = Inbox::new(Some(a.clone()));
        assert_eq!(
            inbox.deliver(b.clone()),
            None,
            "the page may not listen yet"
        );
        assert_eq!(inbox.take(), Some(b.clone()), "the newest link waited");
        assert_eq!(inbox.take(), None, "once");
        assert_eq!(
            inbox.deliver(a.clone()),
            Some(a),
            "now straight to the window"
        );
        assert_eq!(inbox.take(), None);
        let empty = Inbox::new(None);
        assert_eq!(empty.take(), None);
        assert_eq!(empty.deliver(b.clone()), Some(b));
    }

    #[test]
    fn rfc_5122_examples() {
        let u = parse("xmpp:romeo@montague.net").unwrap();
        assert_eq!(u.jid, "romeo@montague.net");
        assert_eq!(u.action, "message");
        let u =
            parse("xmpp:romeo@montague.net?message;body=Here%27s%20a%20test%20message").unwrap();
        assert_eq!(u.body.as_deref(), Some("Here's a test message"));
        let u = parse("xmpp://guest@example.com/support@example.com?message").unwrap();
        assert_eq!(u.jid, "support@example.com");
        let u = parse("xmpp:nasty!%23$%25()*+,-.;=%3F%5B%5C%5D%5E_%60%7B%7C%7D~node@example.com");
        assert!(u.is_some());
    }

    #[test]
    fn actions_and_names() {
        let u = parse("XMPP:juliet@example.com?roster;name=Juliet%20C;group=Friends").unwrap();
        assert_eq!(
            (u.action.as_str(), u.name.as_deref()),
            ("roster", Some("Juliet C"))
        );
        assert_eq!(parse("xmpp:room@conf.example?join").unwrap().action, "join");
        assert_eq!(
            parse("xmpp:a@b.example?subscribe").unwrap().action,
            "subscribe"
        );
        // Conversations puts fingerprints in the query.
        let u = parse("xmpp:a@b.example?omemo-sid-123=abcdef").unwrap();
        assert_eq!(u.action, "message");
    }

    #[test]
    fn garbage_is_refused() {
        for bad in [
            "",
            "https://example.com",
            "xmpp:",
            "xmpp:@",
            "xmpp:a@b%ZZ",
            "xmpp://no-path",
            "mailto:a@b",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        assert!(parse(&format!(
            "xmpp:a@b.example?message;body={}",
            "x".repeat(MAX_URI)
        ))
        .is_none());
        // Control characters are dropped from the text.
        let u = parse("xmpp:a@b.example?message;body=hi%07%0Athere").unwrap();
        assert_eq!(u.body.as_deref(), Some("hi\nthere"));
    }

    #[test]
    fn first_uri_among_arguments() {
        let args = ["tern", "--flag", "xmpp:a@b.example"].map(String::from);
        assert_eq!(from_args(args).unwrap().jid, "a@b.example");
        assert!(from_args(["tern".to_string()]).is_none());
    }
}
