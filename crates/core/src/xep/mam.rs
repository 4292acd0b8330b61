//! XEP-0313: Message Archive Management, with the parts of XEP-0059
//! (result set paging) and XEP-0004 (the query form) its queries use, and
//! XEP-0082 times. Tern reads its archive newest page first: each query
//! asks for the page before a known archive id (or the last page).

use xmpp_parsers::data_forms::{DataForm, DataFormType, Field};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::mam::{Fin, Query, QueryId, Result_};
use xmpp_parsers::message::Message;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::ns;
use xmpp_parsers::rsm::SetQuery;

use super::{bounded_id, forward, xml_text};

/// One query for a page of the user's archive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PageQuery<'a> {
    /// Matches the results to this query (`queryid`).
    pub query_id: &'a str,
    /// Only the conversation with this bare JID.
    pub with: Option<&'a str>,
    /// Only messages archived at or after this time (ms since 1970).
    pub start_ms: Option<i64>,
    /// The page before this archive id; `None`: the last page.
    pub before: Option<&'a str>,
    /// Instead, the page after this archive id (paging forwards, oldest
    /// first); `before` is then ignored.
    pub after: Option<&'a str>,
    /// At most this many results.
    pub max: usize,
}

impl PageQuery<'_> {
    /// The `<query/>` element.
    pub(crate) fn query(&self) -> Query {
        let mut fields = Vec::new();
        if let Some(w) = self.with {
            fields.push(Field::text_single("with", &xml_text(w)));
        }
        if let Some(t) = self.start_ms {
            fields.push(Field::text_single("start", &xep0082(t)));
        }
        Query {
            queryid: Some(QueryId(xml_text(self.query_id))),
            node: None,
            form: Some(DataForm::new(DataFormType::Submit, ns::MAM, fields)),
            set: Some(match self.after {
                Some(after) => SetQuery {
                    max: Some(self.max),
                    after: Some(xml_text(after)),
                    before: None,
                    index: None,
                },
                None => SetQuery {
                    max: Some(self.max),
                    after: None,
                    // An empty <before/> asks for the last page (XEP-0059 §2.5).
                    before: Some(self.before.map(xml_text).unwrap_or_default()),
                    index: None,
                },
            }),
            flip_page: false,
        }
    }

    /// The IQ carrying the query (the id is filled in when sent).
    pub(crate) fn iq(&self) -> Iq {
        Iq::from_set(String::new(), self.query())
    }
}

/// A time in XEP-0082 form (UTC, milliseconds): `2026-11-29T16:07:00.123Z`.
pub(crate) fn xep0082(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// Whether `el` is an archive result wrapper.
pub(crate) fn is_result(el: &Element) -> bool {
    el.is("result", ns::MAM)
}

/// The result wrapper of a message from the archive, if it is one.
fn result_of(msg: &Message) -> Option<&Element> {
    msg.payloads.iter().find(|p| is_result(p))
}

/// The `queryid` of an archive result, to hand it to the query that asked
/// (read from the wrapper alone: the message is read once, later).
pub(crate) fn result_query_id(msg: &Message) -> Option<&str> {
    result_of(msg)?.attr("queryid")
}

/// The archive id of an archive result (from the wrapper alone).
pub(crate) fn result_id(msg: &Message) -> Option<String> {
    bounded_id(result_of(msg)?.attr("id")?)
}

/// When the archive stored a result, in ms since 1970 (from the wrapper's
/// delay alone).
pub(crate) fn result_stamp_ms(msg: &Message) -> Option<i64> {
    forward::read_stamp_ms(result_of(msg)?.get_child("forwarded", ns::FORWARD)?)
}

/// What an archive result carries.
#[derive(Debug)]
pub(crate) struct Archived {
    /// The archive id (the stanza-id the user's server gave the message).
    pub id: String,
    /// The query it answers.
    pub query_id: Option<String>,
    /// When the archive stored it (ms since 1970).
    pub stamp_ms: Option<i64>,
    /// The archived message.
    pub message: Message,
}

/// Reads an archive result wrapper. Whether it is believed (only from the
/// user's own account) is decided by the caller.
pub(crate) fn read_result(el: &Element) -> Option<Archived> {
    let r = Result_::try_from(el.clone()).ok()?;
    let id = bounded_id(&r.id)?;
    let stamp_ms = r.forwarded.delay.map(|d| d.stamp.0.timestamp_millis());
    Some(Archived {
        id,
        query_id: r.queryid.map(|q| q.0),
        stamp_ms,
        message: r.forwarded.message,
    })
}

/// The end of a page (`<fin/>`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PageEnd {
    /// The archive has nothing before this page (or after it, for a query
    /// paging forwards).
    pub complete: bool,
    /// The archive id of the page's first (oldest) result, to ask for the
    /// page before it.
    pub first: Option<String>,
    /// The archive id of the page's last (newest) result, to ask for the
    /// page after it.
    pub last: Option<String>,
}

/// Reads the `<fin/>` that ends a page; `None` if `el` is none. A `<fin/>`
/// without its result set (which XEP-0313 requires, but an empty archive
/// may leave out) is read as a page with no first id.
pub(crate) fn read_fin(el: &Element) -> Option<PageEnd> {
    if !el.is("fin", ns::MAM) {
        return None;
    }
    match Fin::try_from(el.clone()) {
        Ok(fin) => Some(PageEnd {
            complete: fin.complete,
            first: fin.set.first.and_then(|f| bounded_id(&f.item)),
            last: fin.set.last.as_deref().and_then(bounded_id),
        }),
        Err(_) => Some(PageEnd {
            complete: matches!(el.attr("complete"), Some("true" | "1")),
            first: None,
            last: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::{el, wire};

    const RSM: &str = "http://jabber.org/protocol/rsm";

    fn field<'a>(q: &'a Element, var: &str) -> Option<&'a Element> {
        q.get_child("x", "jabber:x:data")?
            .children()
            .find(|f| f.attr("var") == Some(var))
    }

    #[test]
    fn a_query_can_page_forwards_after_a_known_id() {
        // XEP-0059 §2.2: the page after a known item.
        let q = wire(
            PageQuery {
                query_id: "gap",
                after: Some("09af3-cc343-b409f"),
                before: Some("ignored"),
                max: 10,
                ..PageQuery::default()
            }
            .query(),
        );
        let set = q.get_child("set", RSM).unwrap();
        assert_eq!(
            set.get_child("after", RSM).unwrap().text(),
            "09af3-cc343-b409f"
        );
        assert!(set.get_child("before", RSM).is_none());
        // XEP-0313 §4.3: a <fin/> with the page's bounds.
        let end = read_fin(&el(
            "<fin xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'>
               <first index='0'>28482-98726-73623</first><last>09af3-cc343-b409f</last>
             </set></fin>",
        ))
        .unwrap();
        assert_eq!(end.first.as_deref(), Some("28482-98726-73623"));
        assert_eq!(end.last.as_deref(), Some("09af3-cc343-b409f"));
        assert!(!end.complete);
    }

    #[test]
    fn times_are_written_as_xep_0082() {
        assert_eq!(xep0082(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(xep0082(1_031_699_305_000), "2002-09-10T23:08:25.000Z");
        assert_eq!(xep0082(1_709_251_199_999), "2024-02-29T23:59:59.999Z");
        assert_eq!(xep0082(1_795_968_000_001), "2026-11-29T16:00:00.001Z");
        assert_eq!(xep0082(-1), "1969-12-31T23:59:59.999Z");
        let q = wire(
            PageQuery {
                query_id: "q3",
                with: Some("a@b"),
                start_ms: Some(1_031_699_305_000),
                before: None,
                after: None,
                max: 5,
            }
            .query(),
        );
        let start = q
            .get_child("x", "jabber:x:data")
            .unwrap()
            .children()
            .find(|f| f.attr("var") == Some("start"))
            .unwrap();
        assert_eq!(
            start.children().next().unwrap().text(),
            "2002-09-10T23:08:25.000Z"
        );
        // And read back as the same instant.
        let back: xmpp_parsers::date::DateTime = xep0082(1_709_251_199_999).parse().unwrap();
        assert_eq!(back.0.timestamp_millis(), 1_709_251_199_999);
    }

    #[test]
    fn query_is_well_formed() {
        let q = wire(
            PageQuery {
                query_id: "q1",
                with: Some("romeo@montague.lit"),
                max: 50,
                ..Default::default()
            }
            .query(),
        );
        assert!(q.is("query", ns::MAM));
        assert_eq!(q.attr("queryid"), Some("q1"));
        let set = q.get_child("set", RSM).unwrap();
        assert_eq!(set.get_child("max", RSM).unwrap().text(), "50");
        assert!(set.get_child("before", RSM).is_some());
        let q = wire(
            PageQuery {
                query_id: "q2",
                before: Some("x'<y"),
                after: None,
                max: 10,
                ..Default::default()
            }
            .query(),
        );
        let set = q.get_child("set", RSM).unwrap();
        assert_eq!(set.get_child("before", RSM).unwrap().text(), "x'<y");
    }

    #[test]
    fn builds_the_xep_queries() {
        // XEP-0313 §4.1.1, Example 6: all messages with a JID, paged as in
        // §4.3.3, Example 23 (the last page).
        let q = wire(
            PageQuery {
                query_id: "q1",
                with: Some("juliet@capulet.lit"),
                max: 10,
                ..Default::default()
            }
            .query(),
        );
        let expected = el("<query xmlns='urn:xmpp:mam:2' queryid='q1'>
    <x xmlns='jabber:x:data' type='submit'>
      <field var='FORM_TYPE' type='hidden'>
        <value>urn:xmpp:mam:2</value>
      </field>
      <field var='with'>
        <value>juliet@capulet.lit</value>
      </field>
    </x>
    <set xmlns='http://jabber.org/protocol/rsm'>
      <max>10</max>
      <before/>
    </set>
  </query>");
        assert_eq!(q.attr("queryid"), expected.attr("queryid"));
        for var in ["FORM_TYPE", "with"] {
            let (a, b) = (field(&q, var).unwrap(), field(&expected, var).unwrap());
            assert_eq!(a.attr("type"), b.attr("type"), "{var}");
            assert_eq!(
                a.get_child("value", "jabber:x:data").unwrap().text(),
                b.get_child("value", "jabber:x:data").unwrap().text()
            );
        }
        assert_eq!(
            q.get_child("x", "jabber:x:data").unwrap().attr("type"),
            Some("submit")
        );
        let set = q.get_child("set", RSM).unwrap();
        assert_eq!(set.get_child("max", RSM).unwrap().text(), "10");
        let before = set.get_child("before", RSM).unwrap();
        assert_eq!(
            (before.text(), before.children().count()),
            (String::new(), 0)
        );
        assert!(set.get_child("after", RSM).is_none());

        // XEP-0313 §4.1.2, Example 8: messages after a certain time (here
        // with milliseconds), the page before a known id.
        let q = wire(
            PageQuery {
                query_id: "q3",
                with: None,
                start_ms: Some(1_281_139_200_000),
                before: Some("x'<y"),
                after: None,
                max: 5,
            }
            .query(),
        );
        assert!(field(&q, "with").is_none());
        assert_eq!(
            field(&q, "start")
                .unwrap()
                .get_child("value", "jabber:x:data")
                .unwrap()
                .text(),
            "2010-08-07T00:00:00.000Z"
        );
        let set = q.get_child("set", RSM).unwrap();
        assert_eq!(set.get_child("before", RSM).unwrap().text(), "x'<y");
    }

    #[test]
    fn the_query_round_trips() {
        let page = PageQuery {
            query_id: "f27",
            with: Some("romeo@montague.lit"),
            start_ms: Some(0),
            before: Some("28482-98726-73623"),
            after: None,
            max: 250,
        };
        let Iq::Set { payload, .. } = page.iq() else {
            panic!("not a set");
        };
        let q = Query::try_from(wire(payload)).unwrap();
        assert_eq!(q.queryid.map(|q| q.0).as_deref(), Some("f27"));
        let form = q.form.unwrap();
        assert_eq!(form.form_type(), Some("urn:xmpp:mam:2"));
        let value = |var: &str| {
            form.fields
                .iter()
                .find(|f| f.var.as_deref() == Some(var))
                .map(|f| f.values.clone())
        };
        assert_eq!(value("with"), Some(vec!["romeo@montague.lit".to_string()]));
        assert_eq!(
            value("start"),
            Some(vec!["1970-01-01T00:00:00.000Z".to_string()])
        );
        let set = q.set.unwrap();
        assert_eq!(set.max, Some(250));
        assert_eq!(set.before.as_deref(), Some("28482-98726-73623"));
    }

    /// XEP-0313 §4.2, Example 17: the first of two matching messages.
    const RESULT: &str =
        "<message xmlns='jabber:client' id='aeb213' to='juliet@capulet.lit/chamber'>
  <result xmlns='urn:xmpp:mam:2' queryid='f27' id='28482-98726-73623'>
    <forwarded xmlns='urn:xmpp:forward:0'>
      <delay xmlns='urn:xmpp:delay' stamp='2010-07-10T23:08:25Z'/>
      <message xmlns='jabber:client'
               to='juliet@capulet.lit/balcony'
               from='romeo@montague.lit/orchard'
               type='chat'>
        <body>Call me but love, and I'll be new baptized; Henceforth I never will be Romeo.</body>
      </message>
    </forwarded>
  </result>
</message>";

    #[test]
    fn reads_the_xep_results() {
        let m = Message::try_from(el(RESULT)).unwrap();
        assert_eq!(result_query_id(&m), Some("f27"));
        assert_eq!(result_id(&m).as_deref(), Some("28482-98726-73623"));
        assert_eq!(result_stamp_ms(&m), Some(1_278_803_305_000));
        let a = read_result(result_of(&m).unwrap()).unwrap();
        assert_eq!(a.id, "28482-98726-73623");
        assert_eq!(a.query_id.as_deref(), Some("f27"));
        assert_eq!(a.stamp_ms, Some(1_278_803_305_000));
        assert_eq!(
            a.message.bodies.values().next().map(String::as_str),
            Some("Call me but love, and I'll be new baptized; Henceforth I never will be Romeo.")
        );
    }

    #[test]
    fn hostile_results_are_refused() {
        let long = "x".repeat(crate::xep::MAX_ID_LEN + 1);
        let m = Message::try_from(el(&RESULT.replace("28482-98726-73623", &long))).unwrap();
        assert_eq!(result_id(&m), None);
        assert!(read_result(result_of(&m).unwrap()).is_none());
        for bad in [
            "<result xmlns='urn:xmpp:mam:2' id='a'/>",
            "<result xmlns='urn:xmpp:mam:2' id='a'><forwarded xmlns='urn:xmpp:forward:0'/></result>",
            "<result xmlns='urn:xmpp:mam:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'/></forwarded></result>",
        ] {
            assert!(read_result(&el(bad)).is_none(), "{bad}");
        }
        let plain = Message::try_from(el(
            "<message xmlns='jabber:client'><body>hi</body></message>",
        ))
        .unwrap();
        assert_eq!(
            (
                result_query_id(&plain),
                result_id(&plain),
                result_stamp_ms(&plain)
            ),
            (None, None, None)
        );
    }

    #[test]
    fn reads_the_xep_page_ends() {
        // XEP-0313 §4.3.1, Example 19: limited results.
        let fin = el("<iq xmlns='jabber:client' type='result' id='q29302'>
  <fin xmlns='urn:xmpp:mam:2'>
    <set xmlns='http://jabber.org/protocol/rsm'>
      <first index='0'>28482-98726-73623</first>
      <last>09af3-cc343-b409f</last>
      <count>20</count>
    </set>
  </fin>
</iq>");
        assert_eq!(
            read_fin(fin.get_child("fin", "urn:xmpp:mam:2").unwrap()),
            Some(PageEnd {
                complete: false,
                first: Some("28482-98726-73623".into()),
                last: Some("09af3-cc343-b409f".into()),
            })
        );
        // XEP-0313 §4.3.2, Example 22: the last page.
        let fin = el("<fin xmlns='urn:xmpp:mam:2' complete='true'>
    <set xmlns='http://jabber.org/protocol/rsm'>
      <first index='0'>23452-4534-1</first>
      <last>390-2342-22</last>
      <count>16</count>
    </set>
  </fin>");
        assert_eq!(
            read_fin(&fin),
            Some(PageEnd {
                complete: true,
                first: Some("23452-4534-1".into()),
                last: Some("390-2342-22".into()),
            })
        );
    }

    #[test]
    fn odd_page_ends() {
        // An empty archive: no <set/>, or an empty one.
        assert_eq!(
            read_fin(&el("<fin xmlns='urn:xmpp:mam:2' complete='true'/>")),
            Some(PageEnd {
                complete: true,
                first: None,
                last: None,
            })
        );
        assert_eq!(
            read_fin(&el("<fin xmlns='urn:xmpp:mam:2' complete='true'><set xmlns='http://jabber.org/protocol/rsm'><count>0</count></set></fin>")),
            Some(PageEnd {
                complete: true,
                first: None,
                last: None,
            })
        );
        // Not a <fin/>, and an oversized first id.
        assert_eq!(read_fin(&el("<fin xmlns='urn:xmpp:mam:1'/>")), None);
        assert_eq!(read_fin(&el("<query xmlns='urn:xmpp:mam:2'/>")), None);
        let long = "x".repeat(crate::xep::MAX_ID_LEN + 1);
        assert_eq!(
            read_fin(&el(&format!("<fin xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><first>{long}</first></set></fin>"))),
            Some(PageEnd::default())
        );
    }

    /// How the archive query was written before the codecs: text with
    /// escaped values. Kept to check that the wire did not change.
    fn as_text(q: &PageQuery) -> String {
        fn esc(s: &str) -> String {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('\'', "&apos;")
        }
        let mut s = format!(
            "<query xmlns='urn:xmpp:mam:2' queryid='{}'>",
            esc(q.query_id)
        );
        s += "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>";
        if let Some(w) = q.with {
            s += &format!("<field var='with'><value>{}</value></field>", esc(w));
        }
        if let Some(t) = q.start_ms {
            s += &format!("<field var='start'><value>{}</value></field>", xep0082(t));
        }
        s += "</x><set xmlns='http://jabber.org/protocol/rsm'>";
        s += &format!("<max>{}</max>", q.max);
        match q.before {
            Some(b) => s += &format!("<before>{}</before>", esc(b)),
            None => s += "<before/>",
        }
        s + "</set></query>"
    }

    #[test]
    fn the_wire_is_what_it_was() {
        for q in [
            PageQuery {
                query_id: "q1",
                with: Some("romeo@montague.lit"),
                max: 50,
                ..Default::default()
            },
            PageQuery {
                query_id: "q2",
                before: Some("x'<y"),
                after: None,
                max: 10,
                ..Default::default()
            },
            PageQuery {
                query_id: "q3",
                with: Some("a@b"),
                start_ms: Some(1_031_699_305_000),
                before: Some("28482-98726-73623"),
                after: None,
                max: 250,
            },
        ] {
            let before: Element = as_text(&q).parse().unwrap();
            assert_eq!(wire(q.query()), before, "{q:?}");
        }
    }
}
