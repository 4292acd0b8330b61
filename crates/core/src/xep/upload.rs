//! XEP-0363: HTTP File Upload. The server's upload service is found
//! through disco; it hands out a slot for each file (a URL to PUT it to,
//! with the headers to send, and the URL to share), or refuses one.
//!
//! The slot is read by hand rather than through xmpp-parsers'
//! `SlotResult`: that type refuses the whole slot for one header it does
//! not know, where XEP-0363 §5 says such headers are to be ignored.

use xmpp_parsers::disco::DiscoInfoResult;
use xmpp_parsers::http_upload::SlotRequest;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;

use super::oob::has_scheme;
use super::xml_text;

/// The namespace of HTTP File Upload.
pub(crate) const NS_UPLOAD: &str = "urn:xmpp:http:upload:0";
/// Longest URL accepted, in bytes.
pub(crate) const MAX_URL_LEN: usize = 4096;
/// Longest header value kept, in bytes.
const MAX_HEADER_LEN: usize = 4096;
/// Most headers kept from one slot.
const MAX_HEADERS: usize = 8;
/// The headers XEP-0363 §5 lets a slot ask for, as they are sent.
const ALLOWED_HEADERS: [&str; 3] = ["Authorization", "Cookie", "Expires"];

/// The request for a slot for a file `filename` of `size` bytes, to the
/// upload service `service`.
pub(crate) fn slot_request(
    service: &Jid,
    id: &str,
    filename: &str,
    size: u64,
    content_type: Option<&str>,
) -> Iq {
    Iq::from_get(
        xml_text(id),
        SlotRequest {
            filename: xml_text(filename),
            size,
            content_type: content_type.map(xml_text).filter(|c| !c.is_empty()),
        },
    )
    .with_to(service.clone())
}

/// Where to upload a file and where it will be found.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Slot {
    /// The HTTPS URL to PUT the file to.
    pub(crate) put_url: String,
    /// Headers to send with the PUT (only those XEP-0363 allows).
    pub(crate) put_headers: Vec<(String, String)>,
    /// The HTTPS URL the file will be downloaded from.
    pub(crate) get_url: String,
}

impl std::fmt::Debug for Slot {
    /// Shows the URLs and the names of the headers: their values are
    /// credentials and stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.put_headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Slot")
            .field("put_url", &self.put_url)
            .field("put_headers", &names)
            .field("get_url", &self.get_url)
            .finish()
    }
}

/// The slot in a slot request's result `payload`, if both URLs are HTTPS
/// (at most [`MAX_URL_LEN`] bytes). Headers other than `Authorization`,
/// `Cookie` and `Expires` are dropped, as are line breaks in values.
pub(crate) fn parse_slot(payload: &Element) -> Option<Slot> {
    if !payload.is("slot", NS_UPLOAD) {
        return None;
    }
    let put = payload.get_child("put", NS_UPLOAD)?;
    let get = payload.get_child("get", NS_UPLOAD)?;
    let put_url = https_url(put.attr("url")?)?;
    let get_url = https_url(get.attr("url")?)?;
    let put_headers = put
        .children()
        .filter(|h| h.is("header", NS_UPLOAD))
        .filter_map(|h| {
            let name = h.attr("name")?;
            let name = ALLOWED_HEADERS
                .iter()
                .find(|a| a.eq_ignore_ascii_case(name.trim()))?;
            let value: String = h
                .text()
                .chars()
                .filter(|c| !matches!(c, '\r' | '\n') && (!c.is_control() || *c == '\t'))
                .collect();
            let value = value.trim();
            (!value.is_empty() && value.len() <= MAX_HEADER_LEN)
                .then(|| (name.to_string(), value.to_string()))
        })
        .take(MAX_HEADERS)
        .collect();
    Some(Slot {
        put_url,
        put_headers,
        get_url,
    })
}

/// `url` if it is an HTTPS URL fit to use (see [`has_scheme`]).
fn https_url(url: &str) -> Option<String> {
    let url = url.trim();
    (url.len() <= MAX_URL_LEN && has_scheme(url, &["https://"])).then(|| url.to_string())
}

/// An upload service found through disco.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UploadService {
    /// The service's JID.
    pub(crate) jid: String,
    /// The largest file it takes, in bytes, if it says.
    pub(crate) max_size: Option<u64>,
}

/// The upload service `jid` is, by what it says of itself (`info`): it has
/// the `urn:xmpp:http:upload:0` feature; the limit comes from the
/// `max-file-size` field of its form of that type (XEP-0363 §3).
pub(crate) fn service_from_disco(jid: &str, info: &DiscoInfoResult) -> Option<UploadService> {
    if !info.features.contains(NS_UPLOAD) {
        return None;
    }
    let max_size = info
        .extensions
        .iter()
        .filter(|form| form.form_type() == Some(NS_UPLOAD))
        .flat_map(|form| form.fields.iter())
        .find(|f| f.var.as_deref() == Some("max-file-size"))
        .and_then(|f| f.values.first())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&n| n > 0);
    Some(UploadService {
        jid: jid.to_string(),
        max_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::{el, tight, wire};

    const SLOT: &str = "<slot xmlns='urn:xmpp:http:upload:0'>
    <put url='https://upload.montague.tld/4a771ac1-f0b2-4a4a-9700-f2a26fa2bb67/tr%C3%A8s%20cool.jpg'>
      <header name='Authorization'>Basic Base64String==</header>
      <header name='Cookie'>foo=bar; user=romeo</header>
    </put>
    <get url='https://download.montague.tld/4a771ac1-f0b2-4a4a-9700-f2a26fa2bb67/tr%C3%A8s%20cool.jpg' />
  </slot>";

    #[test]
    fn builds_the_xep_request() {
        // XEP-0363 §4, Example 4.
        let iq = slot_request(
            &Jid::new("upload.montague.tld").unwrap(),
            "step_03",
            "très cool.jpg",
            23456,
            Some("image/jpeg"),
        );
        let got = wire(iq);
        let want = tight(
            "<iq xmlns='jabber:client' id='step_03'
    to='upload.montague.tld'
    type='get'>
  <request xmlns='urn:xmpp:http:upload:0'
    filename='très cool.jpg'
    size='23456'
    content-type='image/jpeg' />
</iq>",
        );
        assert_eq!(got, want);
        // No content type: no attribute; characters XML cannot carry are
        // dropped from the name.
        let got = wire(slot_request(
            &Jid::new("up.example").unwrap(),
            "a",
            "x\u{1}.bin",
            0,
            None,
        ));
        let r = got.get_child("request", NS_UPLOAD).unwrap();
        assert_eq!(r.attr("filename"), Some("x.bin"));
        assert_eq!(r.attr("size"), Some("0"));
        assert_eq!(r.attr("content-type"), None);
    }

    #[test]
    fn reads_the_xep_slot() {
        // XEP-0363 §4, Example 5.
        let slot = parse_slot(&el(SLOT)).unwrap();
        assert_eq!(
            slot,
            Slot {
                put_url: "https://upload.montague.tld/4a771ac1-f0b2-4a4a-9700-f2a26fa2bb67/tr%C3%A8s%20cool.jpg".into(),
                put_headers: vec![
                    ("Authorization".into(), "Basic Base64String==".into()),
                    ("Cookie".into(), "foo=bar; user=romeo".into()),
                ],
                get_url: "https://download.montague.tld/4a771ac1-f0b2-4a4a-9700-f2a26fa2bb67/tr%C3%A8s%20cool.jpg".into(),
            }
        );
        let shown = format!("{slot:?}");
        assert!(!shown.contains("Base64String") && !shown.contains("romeo"));
    }

    #[test]
    fn hostile_slots() {
        let slot = |put: &str, headers: &str, get: &str| {
            parse_slot(&el(&format!(
                "<slot xmlns='{NS_UPLOAD}'><put url='{put}'>{headers}</put><get url='{get}'/></slot>"
            )))
        };
        let ok = "https://h.example/f";
        assert!(slot(ok, "", ok).is_some());
        for bad in [
            "http://h.example/f",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "https://",
            "https://h.example/a b",
            "",
        ] {
            assert_eq!(slot(bad, "", ok), None, "put {bad}");
            assert_eq!(slot(ok, "", bad), None, "get {bad}");
        }
        let long = format!("https://h.example/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(slot(&long, "", ok), None);
        assert_eq!(
            parse_slot(&el(&format!(
                "<slot xmlns='{NS_UPLOAD}'><put url='{ok}'/></slot>"
            ))),
            None
        );
        assert_eq!(
            parse_slot(&el(&format!(
                "<slot xmlns='urn:xmpp:http:upload'><put url='{ok}'/><get url='{ok}'/></slot>"
            ))),
            None
        );

        // Unknown headers are dropped (not the slot), names are matched in
        // any case and sent as XEP-0363 spells them, line breaks go.
        let got = slot(
            ok,
            "<header name='Host'>evil.example</header>
             <header name='X-Evil'>1</header>
             <header name='authorization'>Bearer a&#13;&#10;Host: evil.example</header>
             <header name='EXPIRES'> Wed, 21 Oct 2015 07:28:00 GMT </header>
             <header name='Cookie'></header>
             <header>nameless</header>",
            ok,
        )
        .unwrap();
        assert_eq!(
            got.put_headers,
            vec![
                ("Authorization".into(), "Bearer aHost: evil.example".into()),
                ("Expires".into(), "Wed, 21 Oct 2015 07:28:00 GMT".into()),
            ]
        );
        let many = "<header name='Cookie'>a=b</header>".repeat(1000);
        assert_eq!(slot(ok, &many, ok).unwrap().put_headers.len(), MAX_HEADERS);
        let huge = format!(
            "<header name='Cookie'>{}</header>",
            "a".repeat(MAX_HEADER_LEN + 1)
        );
        assert!(slot(ok, &huge, ok).unwrap().put_headers.is_empty());
    }

    fn disco(xml: &str) -> DiscoInfoResult {
        DiscoInfoResult::try_from(el(xml)).unwrap()
    }

    #[test]
    fn finds_the_service_and_its_limit() {
        // XEP-0363 §3, Example 2.
        let info = disco(
            "<query xmlns='http://jabber.org/protocol/disco#info'>
    <identity category='store' type='file' name='HTTP File Upload' />
    <feature var='urn:xmpp:http:upload:0' />
    <x type='result' xmlns='jabber:x:data'>
      <field var='FORM_TYPE' type='hidden'>
        <value>urn:xmpp:http:upload:0</value>
      </field>
      <field var='max-file-size'>
        <value>5242880</value>
      </field>
    </x>
  </query>",
        );
        assert_eq!(
            service_from_disco("upload.montague.tld", &info),
            Some(UploadService {
                jid: "upload.montague.tld".into(),
                max_size: Some(5_242_880),
            })
        );
        // No limit given; the identity is optional.
        let info = disco(
            "<query xmlns='http://jabber.org/protocol/disco#info'>
    <feature var='urn:xmpp:http:upload:0' />
  </query>",
        );
        assert_eq!(
            service_from_disco("up.example", &info).unwrap().max_size,
            None
        );
        // A limit in another form, or not a number, is no limit.
        let info = disco(
            "<query xmlns='http://jabber.org/protocol/disco#info'>
    <feature var='urn:xmpp:http:upload:0' />
    <x type='result' xmlns='jabber:x:data'>
      <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:http:upload</value></field>
      <field var='max-file-size'><value>100</value></field>
    </x>
    <x type='result' xmlns='jabber:x:data'>
      <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:http:upload:0</value></field>
      <field var='max-file-size'><value>99999999999999999999999</value></field>
    </x>
  </query>",
        );
        assert_eq!(
            service_from_disco("up.example", &info).unwrap().max_size,
            None
        );
        // Only the legacy namespace, or none: not a service.
        let info = disco(
            "<query xmlns='http://jabber.org/protocol/disco#info'>
    <identity category='store' type='file' />
    <feature var='urn:xmpp:http:upload' />
  </query>",
        );
        assert_eq!(service_from_disco("up.example", &info), None);
    }
}
