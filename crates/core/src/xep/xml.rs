//! Escaping and parsing for code that still writes stanzas as XML text.
//! The codecs in `xep/` build xmpp-parsers types instead; once the archive
//! query and the carbons request use them (`mam::PageQuery`,
//! `carbons::enable`), this file can go.

use xmpp_parsers::minidom::Element;

/// Escapes text for XML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry are dropped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// Parses an XML fragment built with [`esc`]-escaped values.
pub(crate) fn parse(xml: &str) -> Option<Element> {
    xml.parse().ok()
}

/// Serializes an element.
#[cfg(test)]
pub(crate) fn to_string(el: &Element) -> String {
    String::from(el)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_survives_a_round_trip() {
        let nasty = "<script>alert('x')</script> & \"q\" \u{1}";
        let el = parse(&format!(
            "<body xmlns='jabber:client'>{}</body>",
            esc(nasty)
        ))
        .unwrap();
        assert_eq!(el.text(), "<script>alert('x')</script> & \"q\" ");
        let el = parse(&format!("<x xmlns='a' v='{}'/>", esc(nasty))).unwrap();
        assert_eq!(el.attr("v"), Some("<script>alert('x')</script> & \"q\" "));
        assert!(to_string(&el).contains("&lt;script"));
    }
}
