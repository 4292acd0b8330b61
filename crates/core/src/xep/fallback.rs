//! XEP-0428: Fallback Indication. Marks body text that only stands in for
//! another XEP (a retraction notice, the quote in a reply) so that clients
//! that support that XEP can leave it out.

use xmpp_parsers::fallback::Fallback;
use xmpp_parsers::minidom::Element;

/// Most fallback ranges applied to one body.
const MAX_RANGES: usize = 16;

/// A fallback marker saying the whole body stands in for `for_ns`.
pub(crate) fn whole_message(for_ns: &str) -> Fallback {
    Fallback::new(for_ns)
}

/// A fallback marker, if `el` is one.
pub(crate) fn read(el: &Element) -> Option<Fallback> {
    Fallback::try_from(el.clone()).ok()
}

/// `body` without the text `fallbacks` mark as standing in for `for_ns`.
/// Positions count characters (XEP-0426); ranges past the end are cut at
/// it, and reversed ones are ignored.
pub(crate) fn strip(body: &str, fallbacks: &[Fallback], for_ns: &str) -> String {
    let chars: Vec<char> = body.chars().collect();
    let mut keep = vec![true; chars.len()];
    let mut ranges = 0;
    for f in fallbacks
        .iter()
        .filter(|f| f.for_.as_deref() == Some(for_ns))
    {
        if f.bodies.is_empty() && f.subjects.is_empty() {
            return String::new();
        }
        for b in &f.bodies {
            ranges += 1;
            if ranges > MAX_RANGES {
                break;
            }
            let start = b.start.unwrap_or(0).min(chars.len());
            let end = b.end.unwrap_or(chars.len()).min(chars.len());
            if start < end {
                keep[start..end].iter_mut().for_each(|k| *k = false);
            }
        }
    }
    chars
        .into_iter()
        .zip(keep)
        .filter_map(|(c, k)| k.then_some(c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::{el, wire};

    const REPLY: &str = "urn:xmpp:reply:0";

    #[test]
    fn strips_the_xep_example() {
        // XEP-0428 §2.2, Example 1 (the body without the example's
        // indentation, which XEP-0461 §3.1 says is not part of it).
        let m = el("<message xmlns='jabber:client' to='anna@example.com' id='message-id2' type='groupchat'>
  <body>&gt; Anna wrote:
&gt; Hi, how are you?
Great</body>
  <reply to='anna@example.com' id='message-id1' xmlns='urn:xmpp:reply:0' />
  <fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'>
    <body start='0' end='33' />
  </fallback>
</message>");
        let body = m.get_child("body", "jabber:client").unwrap().text();
        let f = read(m.get_child("fallback", "urn:xmpp:fallback:0").unwrap()).unwrap();
        assert_eq!(strip(&body, std::slice::from_ref(&f), REPLY), "Great");
        assert_eq!(strip(&body, &[f], "urn:example"), body, "other XEPs' only");
    }

    #[test]
    fn whole_body_fallbacks_leave_nothing() {
        let f = read(&wire(whole_message("urn:xmpp:message-retract:1"))).unwrap();
        assert_eq!(
            strip("/me retracted", &[f], "urn:xmpp:message-retract:1"),
            ""
        );
    }

    #[test]
    fn hostile_ranges_do_not_break_the_body() {
        let f = read(&el(
            "<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'>
            <body start='5' end='2'/><body start='3' end='999999999'/></fallback>",
        ))
        .unwrap();
        // Counted in characters, not bytes: the turtle is one.
        assert_eq!(strip("🐢ab", std::slice::from_ref(&f), REPLY), "🐢ab");
        assert_eq!(strip("🐢abcdef", &[f], REPLY), "🐢ab");
        let many = format!(
            "<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'>{}</fallback>",
            (0..100)
                .map(|i| format!("<body start='{i}' end='{}'/>", i + 1))
                .collect::<String>()
        );
        let f = read(&el(&many)).unwrap();
        assert_eq!(
            strip(&"x".repeat(20), &[f], REPLY),
            "xxxx",
            "at most 16 ranges"
        );
        assert!(read(&el(
            "<fallback xmlns='urn:xmpp:fallback:0'><body start='x'/></fallback>"
        ))
        .is_none());
    }
}
