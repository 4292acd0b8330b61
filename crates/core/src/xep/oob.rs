//! XEP-0066: Out of Band Data, the `<x xmlns='jabber:x:oob'/>` element
//! that marks a message's body as the link to a shared file. Clients show
//! a message as a file when its body is the same URL as the element's.

use xmpp_parsers::minidom::Element;
use xmpp_parsers::oob::Oob as OobElement;

use super::{clean_text, xml_text};

/// The namespace of out of band data in messages.
pub(crate) const NS_OOB: &str = "jabber:x:oob";
/// Longest URL accepted, in bytes.
pub(crate) const MAX_URL_LEN: usize = 4096;
/// Longest description shown, in characters.
const MAX_DESC: usize = 1000;

/// A link to a file out of band.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Oob {
    /// The URL: `http`, `https` or `aesgcm`.
    pub(crate) url: String,
    /// What the file is, as the sender put it.
    pub(crate) desc: Option<String>,
}

/// The element for a link to `url`, described by `desc`.
pub(crate) fn element(url: &str, desc: Option<&str>) -> Element {
    OobElement {
        url: xml_text(url),
        desc: desc.map(xml_text).filter(|d| !d.is_empty()),
    }
    .into()
}

/// The first out of band element among `payloads` with a URL Tern can
/// fetch (`http`, `https` or `aesgcm`, at most [`MAX_URL_LEN`] bytes).
pub(crate) fn read(payloads: &[Element]) -> Option<Oob> {
    payloads.iter().filter(|p| p.is("x", NS_OOB)).find_map(|x| {
        let url = x.get_child("url", NS_OOB)?.text();
        let url = fetchable_url(url.trim())?;
        let desc = x
            .get_child("desc", NS_OOB)
            .and_then(|d| clean_text(&d.text(), MAX_DESC));
        Some(Oob { url, desc })
    })
}

/// `url` if it is an `http`, `https` or `aesgcm` URL with something after
/// the scheme, no whitespace or control characters and at most
/// [`MAX_URL_LEN`] bytes.
pub(crate) fn fetchable_url(url: &str) -> Option<String> {
    has_scheme(url, &["http://", "https://", "aesgcm://"]).then(|| url.to_string())
}

/// Whether `url` starts with one of `schemes` (in any case), has a host
/// after it, and has no whitespace or control characters, in at most
/// [`MAX_URL_LEN`] bytes.
pub(crate) fn has_scheme(url: &str, schemes: &[&str]) -> bool {
    if url.len() > MAX_URL_LEN || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    schemes.iter().any(|s| {
        url.get(..s.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(s))
            && url[s.len()..]
                .split(['/', '?', '#'])
                .next()
                .is_some_and(|host| !host.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::{el, tight, wire};

    #[test]
    fn reads_the_xep_example() {
        // XEP-0066 §4, Example 5 (with the https URL of a current upload).
        let m = el("<message xmlns='jabber:client' from='stpeter@jabber.org/work' to='MaineBoy@jabber.org/home'>
  <body>Yeah, but do you have a license to Jabber?</body>
  <x xmlns='jabber:x:oob'>
    <url>https://www.jabber.org/images/psa-license.jpg</url>
    <desc>A license to Jabber!</desc>
  </x>
</message>");
        let payloads: Vec<Element> = m.children().cloned().collect();
        assert_eq!(
            read(&payloads),
            Some(Oob {
                url: "https://www.jabber.org/images/psa-license.jpg".into(),
                desc: Some("A license to Jabber!".into()),
            })
        );
    }

    #[test]
    fn builds_what_dino_and_conversations_read() {
        let x = wire(element("https://up.example/a/photo.jpg", None));
        assert_eq!(
            x,
            tight("<x xmlns='jabber:x:oob'><url>https://up.example/a/photo.jpg</url></x>")
        );
        let x = wire(element("https://up.example/a.jpg", Some("Summit \u{1}")));
        assert_eq!(
            read(&[x]),
            Some(Oob {
                url: "https://up.example/a.jpg".into(),
                desc: Some("Summit".into()),
            })
        );
    }

    #[test]
    fn hostile_links_are_skipped() {
        let x = |url: &str| el(&format!("<x xmlns='jabber:x:oob'><url>{url}</url></x>"));
        for bad in [
            "javascript:alert(1)",
            "file:///etc/passwd",
            "ftp://h.example/f",
            "data:text/html;base64,PHNjcmlwdD4=",
            "https://",
            "https:///x",
            "https://h.example/a b",
            "",
        ] {
            assert_eq!(read(&[x(bad)]), None, "{bad}");
        }
        let long = format!("https://h.example/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(read(&[x(&long)]), None);
        assert_eq!(read(&[el("<x xmlns='jabber:x:oob'/>")]), None);
        assert_eq!(
            read(&[el("<x xmlns='jabber:x:data'><url>https://h/</url></x>")]),
            None
        );
        // The first usable one counts; surrounding whitespace is dropped.
        let got = read(&[
            x("javascript:x"),
            x(" HTTP://h.example/f "),
            x("https://h.example/g"),
        ]);
        assert_eq!(got.map(|o| o.url).as_deref(), Some("HTTP://h.example/f"));
        let aes = format!("aesgcm://h.example/f#{}", "0".repeat(88));
        assert_eq!(read(&[x(&aes)]).map(|o| o.url), Some(aes));
    }
}
