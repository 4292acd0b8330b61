//! XEP-0313 Message Archive Management: newest-first catch-up after
//! connecting, and scroll-back on demand.

use tokio::sync::mpsc;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::message::Message;
use xmpp_parsers::minidom::Element;

use crate::account::AccountHandle;
use crate::events::ClientEvent;
use crate::xep::message::{new_id, NS_MAM};
use crate::xep::xml::{esc, parse};

/// Messages per archive page.
pub(crate) const PAGE: usize = 250;

/// Archive stamps have whole seconds, so many messages share one. Pages are
/// read newest first; within a second, each older message is filed one
/// millisecond before the previous one, so the timeline keeps the archive's
/// order (up to 1000 messages per second).
#[derive(Default)]
pub(crate) struct Ordering {
    lowest_in_second: std::collections::HashMap<i64, i64>,
}

impl Ordering {
    /// An ordering for messages older than one already filed at `ms`.
    pub(crate) fn older_than(ms: i64) -> Ordering {
        let mut o = Ordering::default();
        let second = ms - ms.rem_euclid(1000);
        o.lowest_in_second.insert(second, ms.rem_euclid(1000));
        o
    }

    /// The time to file an archived message stamped `stamp_ms`, for messages
    /// handed over newest first.
    pub(crate) fn file_time(&mut self, stamp_ms: i64) -> i64 {
        if stamp_ms % 1000 != 0 {
            return stamp_ms;
        }
        let slot = self.lowest_in_second.entry(stamp_ms).or_insert(1000);
        *slot = (*slot - 1).max(0);
        stamp_ms + *slot
    }
}

fn archive_stamp(msg: &Message) -> Option<i64> {
    let result = msg.payloads.iter().find(|p| p.is("result", NS_MAM))?;
    let forwarded = result.get_child("forwarded", crate::xep::message::NS_FORWARD)?;
    let delay = forwarded.get_child("delay", crate::xep::message::NS_DELAY)?;
    let stamp = delay.attr("stamp")?;
    <xmpp_parsers::date::DateTime as std::str::FromStr>::from_str(stamp)
        .ok()
        .map(|d| d.0.timestamp_millis())
}

/// How many results of a page are chat messages with text (archives also
/// hold receipts, markers and reactions).
pub(crate) fn count_texts(ctx: &crate::account::ctx::Ctx, page: &Page) -> u64 {
    page.messages
        .iter()
        .filter_map(|(_, msg)| crate::xep::message::unwrap_forwarded(msg, &ctx.own))
        .map(|u| crate::xep::message::parse_message(&u.message, &ctx.own))
        .filter(|p| {
            p.body.is_some() && p.replace.is_none() && p.retract.is_none() && p.reactions.is_none()
        })
        .count() as u64
}

/// Runs a page through the pipeline, newest first. Returns how many of
/// the results were chat messages with text.
pub(crate) async fn ingest(
    ctx: &crate::account::ctx::Ctx,
    page: &Page,
    order: &mut Ordering,
) -> u64 {
    for (_, msg) in page.messages.iter().rev() {
        let time = archive_stamp(msg).map(|s| order.file_time(s));
        crate::inbound::on_message_at(ctx, msg, time).await;
    }
    count_texts(ctx, page)
}

/// One page of results, oldest first, and the page's RSM bounds.
pub(crate) struct Page {
    pub messages: Vec<(String, Message)>,
    pub first: Option<String>,
    pub complete: bool,
}

/// A time in XEP-0082 form (UTC, milliseconds): `2026-11-29T16:07:00.123Z`.
fn xep0082(ms: i64) -> String {
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

fn query_xml(
    query_id: &str,
    with: Option<&str>,
    start_ms: Option<i64>,
    before: Option<&str>,
    max: usize,
) -> String {
    let mut s = format!("<query xmlns='{NS_MAM}' queryid='{}'>", esc(query_id));
    s += "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>";
    if let Some(w) = with {
        s += &format!("<field var='with'><value>{}</value></field>", esc(w));
    }
    if let Some(t) = start_ms {
        s += &format!("<field var='start'><value>{}</value></field>", xep0082(t));
    }
    s += "</x><set xmlns='http://jabber.org/protocol/rsm'>";
    s += &format!("<max>{max}</max>");
    match before {
        Some(b) => s += &format!("<before>{}</before>", esc(b)),
        None => s += "<before/>",
    }
    s += "</set></query>";
    s
}

/// Fetches the page of the user's archive just before `before` (`None`:
/// the newest page), optionally only the conversation `with` and only
/// messages archived from `start_ms` on.
pub(crate) async fn fetch_page(
    handle: &AccountHandle,
    with: Option<&str>,
    start_ms: Option<i64>,
    before: Option<&str>,
    max: usize,
) -> crate::Result<Page> {
    let query_id = new_id();
    let payload: Element = parse(&query_xml(&query_id, with, start_ms, before, max))
        .ok_or(crate::Error::Internal("an archive query"))?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    handle.mam_sink(&query_id, Some(tx)).await;
    let iq = Iq::Set {
        from: None,
        to: None,
        id: String::new(),
        payload,
    };
    let answer = handle.request(iq).await;
    handle.mam_sink(&query_id, None).await;
    let answer = answer?;
    let mut messages = Vec::new();
    while let Ok(m) = rx.try_recv() {
        let id = m
            .payloads
            .iter()
            .find(|p| p.is("result", NS_MAM))
            .and_then(|p| p.attr("id"))
            .map(str::to_string);
        if let Some(id) = id {
            messages.push((id, m));
        }
        if messages.len() > max * 2 {
            break;
        }
    }
    let fin = match answer {
        Iq::Result {
            payload: Some(p), ..
        } if p.is("fin", NS_MAM) => p,
        _ => {
            return Err(crate::Error::Stanza {
                condition: "bad-request".into(),
                text: Some("the archive answered without <fin/>".into()),
            })
        }
    };
    let complete = fin.attr("complete") == Some("true");
    let first = fin
        .get_child("set", "http://jabber.org/protocol/rsm")
        .and_then(|s| s.get_child("first", "http://jabber.org/protocol/rsm"))
        .map(|f| f.text())
        .filter(|t| !t.is_empty());
    Ok(Page {
        messages,
        first,
        complete,
    })
}

/// Catches up with the user's archive, newest page first, until it reaches
/// the newest message seen in an earlier sync. Pages go through the normal
/// pipeline, so nothing seen live or by carbon is stored twice.
pub(crate) async fn catch_up(handle: &AccountHandle) -> crate::Result<u64> {
    let ctx = handle.ctx().clone();
    let (_, known_newest, known_oldest, _) = ctx.store.account_sync_state(&ctx.account).await?;
    let mut fetched: u64 = 0;
    let mut texts: u64 = 0;
    let mut newest_seen: Option<String> = None;
    let mut oldest_seen: Option<String> = None;
    let mut reached_start = false;
    let mut order = Ordering::default();
    let limit = ctx.first_sync_limit;
    let page_size = |texts: u64| {
        if known_newest.is_none() {
            (limit.saturating_sub(texts) as usize).clamp(1, PAGE)
        } else {
            PAGE
        }
    };
    // The next page is requested while the current one is being stored.
    let prefetch = |before: Option<String>, max: usize| {
        let h = handle.clone();
        tokio::spawn(async move { fetch_page(&h, None, None, before.as_deref(), max).await })
    };
    let mut next = Some(prefetch(None, page_size(0)));
    while let Some(task) = next.take() {
        let page = task.await.map_err(|e| crate::Error::Stanza {
            condition: "internal-server-error".into(),
            text: Some(e.to_string()),
        })??;
        if newest_seen.is_none() {
            newest_seen = page.messages.last().map(|(id, _)| id.clone());
        }
        let hit_known = page
            .messages
            .iter()
            .any(|(id, _)| Some(id) == known_newest.as_ref());
        let page_texts = count_texts(&ctx, &page);
        let at_start = page.complete || page.messages.is_empty();
        let enough = known_newest.is_none() && texts + page_texts >= limit;
        if !at_start && !hit_known && !enough {
            if let Some(f) = page.first.clone() {
                next = Some(prefetch(Some(f), page_size(texts + page_texts)));
            }
        }
        ingest(&ctx, &page, &mut order).await;
        texts += page_texts;
        fetched += page.messages.len() as u64;
        if let Some((id, _)) = page.messages.first() {
            oldest_seen = Some(id.clone());
        }
        ctx.hub.emit(ClientEvent::HistorySync {
            account: ctx.account.clone(),
            fetched,
            done: false,
        });
        if at_start {
            reached_start = true;
        }
    }
    let oldest = if known_oldest.is_none() {
        oldest_seen.as_deref()
    } else {
        None
    };
    ctx.store
        .set_mam_state(
            &ctx.account,
            newest_seen.as_deref(),
            oldest,
            reached_start.then_some(true),
        )
        .await?;
    ctx.hub.emit(ClientEvent::HistorySync {
        account: ctx.account.clone(),
        fetched,
        done: true,
    });
    Ok(fetched)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_second_messages_keep_archive_order() {
        let mut o = Ordering::default();
        // Newest first: three messages in second 5, then one in second 4.
        let t: Vec<i64> = [5000, 5000, 5000, 4000]
            .iter()
            .map(|s| o.file_time(*s))
            .collect();
        assert_eq!(t, vec![5999, 5998, 5997, 4999]);
        assert!(t.windows(2).all(|w| w[0] > w[1]));
        // A second page continuing the same second stays older.
        assert_eq!(o.file_time(5000), 5996);
        assert_eq!(o.file_time(5123), 5123, "precise stamps are kept");
    }

    #[test]
    fn times_are_written_as_xep_0082() {
        assert_eq!(xep0082(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(xep0082(1_031_699_305_000), "2002-09-10T23:08:25.000Z");
        assert_eq!(xep0082(1_709_251_199_999), "2024-02-29T23:59:59.999Z");
        assert_eq!(xep0082(1_795_968_000_001), "2026-11-29T16:00:00.001Z");
        assert_eq!(xep0082(-1), "1969-12-31T23:59:59.999Z");
        let q = parse(&query_xml(
            "q3",
            Some("a@b"),
            Some(1_031_699_305_000),
            None,
            5,
        ))
        .unwrap();
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
    }

    #[test]
    fn query_is_well_formed() {
        let q = parse(&query_xml("q1", Some("romeo@montague.lit"), None, None, 50)).unwrap();
        assert!(q.is("query", NS_MAM));
        assert_eq!(q.attr("queryid"), Some("q1"));
        let set = q
            .get_child("set", "http://jabber.org/protocol/rsm")
            .unwrap();
        assert_eq!(
            set.get_child("max", "http://jabber.org/protocol/rsm")
                .unwrap()
                .text(),
            "50"
        );
        assert!(set
            .get_child("before", "http://jabber.org/protocol/rsm")
            .is_some());
        let q = parse(&query_xml("q2", None, None, Some("x'<y"), 10)).unwrap();
        let set = q
            .get_child("set", "http://jabber.org/protocol/rsm")
            .unwrap();
        assert_eq!(
            set.get_child("before", "http://jabber.org/protocol/rsm")
                .unwrap()
                .text(),
            "x'<y"
        );
    }
}
