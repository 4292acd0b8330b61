//! XEP-0054: vcard-temp. Asking for someone's vCard and reading the fields
//! Tern shows, bounded, and its photo.

use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::ns;
use xmpp_parsers::vcard::VCardQuery;

use super::{avatar, clean_text};

/// Longest vCard text field kept, in characters.
pub(crate) const MAX_VCARD_FIELD: usize = 2048;
/// Most emails or phone numbers kept.
const MAX_LIST: usize = 16;

/// Asks `to` (`None`: the user's own server, for the user's vCard) for a
/// vCard (the id is filled in when sent).
pub(crate) fn request(to: Option<Jid>) -> Iq {
    let iq = Iq::from_get(String::new(), VCardQuery);
    match to {
        Some(to) => iq.with_to(to),
        None => iq,
    }
}

/// What a vCard says, as Tern shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct VCard {
    pub full_name: Option<String>,
    pub nickname: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub url: Option<String>,
    pub organisation: Option<String>,
    pub title: Option<String>,
    pub birthday: Option<String>,
    pub description: Option<String>,
    /// The photo (BINVAL), if it decodes to at most the allowed size.
    pub photo: Option<Vec<u8>>,
}

/// Reads a `<vCard/>`; fields are trimmed and at most [`MAX_VCARD_FIELD`]
/// characters, the photo at most `max_photo` bytes.
pub(crate) fn read(el: &Element, max_photo: usize) -> VCard {
    let text = |parent: &Element, name: &str| {
        parent
            .get_child(name, ns::VCARD)
            .and_then(|c| clean_text(&c.text(), MAX_VCARD_FIELD))
    };
    let n = el.get_child("N", ns::VCARD);
    let org = el.get_child("ORG", ns::VCARD);
    let list = |name: &str, inner: &str| -> Vec<String> {
        el.children()
            .filter(|c| c.is(name, ns::VCARD))
            .filter_map(|c| text(c, inner))
            .take(MAX_LIST)
            .collect()
    };
    VCard {
        full_name: text(el, "FN"),
        nickname: text(el, "NICKNAME"),
        given_name: n.and_then(|n| text(n, "GIVEN")),
        family_name: n.and_then(|n| text(n, "FAMILY")),
        emails: list("EMAIL", "USERID"),
        phones: list("TEL", "NUMBER"),
        url: text(el, "URL"),
        organisation: org.and_then(|o| text(o, "ORGNAME")),
        title: text(el, "TITLE"),
        birthday: text(el, "BDAY"),
        description: text(el, "DESC"),
        photo: el
            .get_child("PHOTO", ns::VCARD)
            .and_then(|p| p.get_child("BINVAL", ns::VCARD))
            .and_then(|b| avatar::decode_base64(&b.text(), max_photo)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::{el, wire};

    #[test]
    fn asks_as_the_xep_shows() {
        // XEP-0054 §3.1, Example 1: vCard retrieval request.
        let expected = el(
            "<iq xmlns='jabber:client' from='stpeter@jabber.org/roundabout'
    id='v1'
    type='get'>
  <vCard xmlns='vcard-temp'/>
</iq>",
        );
        let Iq::Get { to, payload, .. } = request(None) else {
            panic!("not a get");
        };
        assert_eq!(to, None);
        assert_eq!(
            Some(&wire(payload)),
            expected.get_child("vCard", "vcard-temp")
        );
        // XEP-0153 §3.2, Example 4: a contact's vCard.
        let Iq::Get { to, .. } = request(Some(Jid::new("juliet@capulet.com").unwrap())) else {
            panic!("not a get");
        };
        assert_eq!(
            to.map(|t| t.to_string()).as_deref(),
            Some("juliet@capulet.com")
        );
    }

    #[test]
    fn reads_the_xep_example() {
        // XEP-0054 §3.1, Example 2: server returns vCard.
        let iq = el("<iq xmlns='jabber:client' id='v1'
    to='stpeter@jabber.org/roundabout'
    type='result'>
  <vCard xmlns='vcard-temp'>
    <FN>Peter Saint-Andre</FN>
    <N>
      <FAMILY>Saint-Andre</FAMILY>
      <GIVEN>Peter</GIVEN>
      <MIDDLE/>
    </N>
    <NICKNAME>stpeter</NICKNAME>
    <URL>http://www.xmpp.org/xsf/people/stpeter.shtml</URL>
    <BDAY>1966-08-06</BDAY>
    <ORG>
      <ORGNAME>XMPP Standards Foundation</ORGNAME>
      <ORGUNIT/>
    </ORG>
    <TITLE>Executive Director</TITLE>
    <ROLE>Patron Saint</ROLE>
    <TEL><WORK/><VOICE/><NUMBER>303-308-3282</NUMBER></TEL>
    <TEL><WORK/><FAX/><NUMBER/></TEL>
    <TEL><WORK/><MSG/><NUMBER/></TEL>
    <ADR>
      <WORK/>
      <EXTADD>Suite 600</EXTADD>
      <STREET>1899 Wynkoop Street</STREET>
      <LOCALITY>Denver</LOCALITY>
      <REGION>CO</REGION>
      <PCODE>80202</PCODE>
      <CTRY>USA</CTRY>
    </ADR>
    <TEL><HOME/><VOICE/><NUMBER>303-555-1212</NUMBER></TEL>
    <TEL><HOME/><FAX/><NUMBER/></TEL>
    <TEL><HOME/><MSG/><NUMBER/></TEL>
    <ADR>
      <HOME/>
      <EXTADD/>
      <STREET/>
      <LOCALITY>Denver</LOCALITY>
      <REGION>CO</REGION>
      <PCODE>80209</PCODE>
      <CTRY>USA</CTRY>
    </ADR>
    <EMAIL><INTERNET/><PREF/><USERID>stpeter@jabber.org</USERID></EMAIL>
    <JABBERID>stpeter@jabber.org</JABBERID>
    <DESC>
      More information about me is located on my
      personal website: http://www.saint-andre.com/
    </DESC>
  </vCard>
</iq>");
        let v = read(iq.get_child("vCard", "vcard-temp").unwrap(), 1024);
        assert_eq!(
            v,
            VCard {
                full_name: Some("Peter Saint-Andre".into()),
                nickname: Some("stpeter".into()),
                given_name: Some("Peter".into()),
                family_name: Some("Saint-Andre".into()),
                emails: vec!["stpeter@jabber.org".into()],
                phones: vec!["303-308-3282".into(), "303-555-1212".into()],
                url: Some("http://www.xmpp.org/xsf/people/stpeter.shtml".into()),
                organisation: Some("XMPP Standards Foundation".into()),
                title: Some("Executive Director".into()),
                birthday: Some("1966-08-06".into()),
                // Line breaks are control characters: dropped.
                description: Some(
                    "More information about me is located on my      personal website: http://www.saint-andre.com/"
                        .into()
                ),
                photo: None,
            }
        );
        // XEP-0054 §3.1, Example 4: no vCard (empty element).
        assert_eq!(
            read(&el("<vCard xmlns='vcard-temp'/>"), 1024),
            VCard::default()
        );
    }

    #[test]
    fn reads_the_photo_within_bounds() {
        // As XEP-0153 §3.2, Example 5, with real base64 in the BINVAL.
        let card = el("<vCard xmlns='vcard-temp'>
    <BDAY>1476-06-09</BDAY>
    <NICKNAME/>
    <N><GIVEN>Juliet</GIVEN><FAMILY>Capulet</FAMILY></N>
    <EMAIL><USERID>jcapulet@shakespeare.lit</USERID></EMAIL>
    <PHOTO>
      <TYPE>image/jpeg</TYPE>
      <BINVAL>
        aGVsbG8=
      </BINVAL>
    </PHOTO>
  </vCard>");
        let v = read(&card, 1024);
        assert_eq!(v.photo.as_deref(), Some(&b"hello"[..]));
        assert_eq!(v.nickname, None, "empty fields are absent");
        assert_eq!(v.given_name.as_deref(), Some("Juliet"));
        assert_eq!(read(&card, 4).photo, None, "larger than allowed");
        let bad = el("<vCard xmlns='vcard-temp'><PHOTO><BINVAL>!!!</BINVAL></PHOTO></vCard>");
        assert_eq!(read(&bad, 1024).photo, None);
    }

    #[test]
    fn vcard_fields_are_read_and_bounded() {
        let el = el(&format!(
            "<vCard xmlns='vcard-temp'><FN>Juliet Capulet</FN><NICKNAME>Jule</NICKNAME>\
             <N><FAMILY>Capulet</FAMILY><GIVEN>Juliet</GIVEN></N>\
             <EMAIL><INTERNET/><USERID>juliet@example.org</USERID></EMAIL>\
             <EMAIL><USERID>j@example.com</USERID></EMAIL>\
             <TEL><NUMBER>+1 555</NUMBER></TEL><ORG><ORGNAME>Capulet</ORGNAME></ORG>\
             <DESC>{}</DESC>{}</vCard>",
            "x".repeat(5000),
            "<EMAIL><USERID>many@example.com</USERID></EMAIL>".repeat(100)
        ));
        let v = read(&el, 0);
        assert_eq!(v.full_name.as_deref(), Some("Juliet Capulet"));
        assert_eq!(v.nickname.as_deref(), Some("Jule"));
        assert_eq!(v.given_name.as_deref(), Some("Juliet"));
        assert_eq!(v.family_name.as_deref(), Some("Capulet"));
        assert_eq!(&v.emails[..2], ["juliet@example.org", "j@example.com"]);
        assert_eq!(v.emails.len(), MAX_LIST);
        assert_eq!(v.phones, vec!["+1 555"]);
        assert_eq!(v.organisation.as_deref(), Some("Capulet"));
        assert_eq!(
            v.description.map(|d| d.chars().count()),
            Some(MAX_VCARD_FIELD)
        );
    }
}
