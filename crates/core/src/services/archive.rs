//! History from the user's archive (XEP-0313): newest-first catch-up after
//! connecting, and scroll-back on demand. The account task runs each query
//! ([`Run`]) and its page through the inbound pipeline; this service says
//! which pages to ask for.

use tokio::sync::oneshot;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::message::Message;

use crate::account::ctx::Ctx;
use crate::account::AccountHandle;
use crate::events::ClientEvent;
use crate::xep::mam;
use crate::xep::message::new_id;

/// Messages per archive page.
pub(crate) const PAGE: usize = 250;

/// Archive stamps have whole seconds, so many messages share one. Pages are
/// read newest first; within a second, each older message is filed one
/// millisecond before the previous one, so the timeline keeps the archive's
/// order (up to 1000 messages per second).
#[derive(Debug, Default)]
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

/// An archive query for the account task to run.
#[derive(Debug)]
pub(crate) struct ArchiveQuery {
    /// Only the conversation with this address.
    pub with: Option<String>,
    /// Only what was archived from this time on (ms).
    pub start_ms: Option<i64>,
    /// The page before this archive id (`None`: the newest page).
    pub before: Option<String>,
    /// Results per page.
    pub max: usize,
    /// Run the results through the inbound pipeline (else only count them).
    pub store: bool,
    /// Filing times of this catch-up or scroll-back so far.
    pub order: Ordering,
}

impl ArchiveQuery {
    /// The page of the user's archive before `before`, to be stored.
    pub(crate) fn page(with: Option<&str>, before: Option<&str>, max: usize) -> ArchiveQuery {
        ArchiveQuery {
            with: with.map(str::to_string),
            start_ms: None,
            before: before.map(str::to_string),
            max,
            store: true,
            order: Ordering::default(),
        }
    }
}

/// What one archive page held and did.
#[derive(Debug, Default)]
pub(crate) struct ArchivePage {
    /// The results' archive ids, oldest first.
    pub ids: Vec<String>,
    /// The RSM `<first/>` id: the next (older) page is before it.
    pub first: Option<String>,
    /// The archive has nothing older.
    pub complete: bool,
    /// Chat messages with text among the results (archives also hold
    /// receipts, markers, corrections and reactions).
    pub texts: u64,
    /// The filing times, to hand to the next query of the same run.
    pub order: Ordering,
}

/// A query in progress, owned by the account task: it collects the
/// results the server sends for it and, with the server's `<fin/>`, runs
/// them through the inbound pipeline as one batch.
pub(crate) struct Run {
    query: ArchiveQuery,
    query_id: String,
    results: Vec<(String, Message)>,
    reply: oneshot::Sender<crate::Result<ArchivePage>>,
}

impl Run {
    /// Starts a run: the IQ to send for it.
    pub(crate) fn start(
        query: ArchiveQuery,
        reply: oneshot::Sender<crate::Result<ArchivePage>>,
    ) -> Option<(Run, Iq)> {
        let query_id = new_id();
        let iq = mam::PageQuery {
            query_id: &query_id,
            with: query.with.as_deref(),
            start_ms: query.start_ms,
            before: query.before.as_deref(),
            max: query.max,
        }
        .iq();
        Some((
            Run {
                query,
                query_id,
                results: Vec::new(),
                reply,
            },
            iq,
        ))
    }

    /// The query id results of this run carry.
    pub(crate) fn query_id(&self) -> &str {
        &self.query_id
    }

    /// A result for this run. More than twice the page size is not kept
    /// (a server flooding results).
    pub(crate) fn push(&mut self, msg: Message) {
        if self.results.len() > self.query.max * 2 {
            return;
        }
        if let Some(id) = mam::result_id(&msg) {
            self.results.push((id, msg));
        }
    }

    /// The session ended before the answer came.
    pub(crate) fn abort(self, e: crate::Error) {
        let _ = self.reply.send(Err(e));
    }

    /// The server's answer came: process the page and tell the asker.
    pub(crate) async fn finish(self, ctx: &Ctx, answer: crate::Result<Iq>) {
        let Run {
            mut query,
            results,
            reply,
            ..
        } = self;
        let page = match answer.and_then(fin) {
            Ok((first, complete)) => {
                let ids: Vec<String> = results.iter().map(|(id, _)| id.clone()).collect();
                let texts = if query.store {
                    // Filing times are handed out newest first; the
                    // pipeline then runs oldest first, so a correction
                    // finds the message it corrects.
                    let mut items: Vec<(Message, Option<i64>)> = results
                        .into_iter()
                        .rev()
                        .map(|(_, msg)| {
                            let time = mam::result_stamp_ms(&msg).map(|s| query.order.file_time(s));
                            (msg, time)
                        })
                        .collect();
                    items.reverse();
                    crate::inbound::process(ctx, items).await.texts
                } else {
                    0
                };
                Ok(ArchivePage {
                    ids,
                    first,
                    complete,
                    texts,
                    order: std::mem::take(&mut query.order),
                })
            }
            Err(e) => Err(e),
        };
        let _ = reply.send(page);
    }
}

/// Reads the `<fin/>` answering a query: (RSM first, complete).
fn fin(answer: Iq) -> crate::Result<(Option<String>, bool)> {
    let end = match answer {
        Iq::Result {
            payload: Some(p), ..
        } => mam::read_fin(&p),
        _ => None,
    };
    let end = end.ok_or_else(|| crate::Error::Stanza {
        condition: "bad-request".into(),
        text: Some("the archive answered without <fin/>".into()),
    })?;
    Ok((end.first, end.complete))
}

/// Catches up with the user's archive, newest page first, until it reaches
/// the newest message seen in an earlier sync (on a new device: until
/// `first_sync_limit` text messages). The account task runs each page
/// through the inbound pipeline, so nothing seen live or by carbon is
/// stored twice.
pub(crate) async fn catch_up(handle: &AccountHandle) -> crate::Result<u64> {
    let ctx = handle.ctx().clone();
    let (_, known_newest, known_oldest, _) = ctx.store.account_sync_state(&ctx.account).await?;
    let mut fetched: u64 = 0;
    let mut texts: u64 = 0;
    let mut newest_seen: Option<String> = None;
    let mut oldest_seen: Option<String> = None;
    let mut reached_start = false;
    let mut order = Ordering::default();
    let mut before: Option<String> = None;
    let limit = ctx.first_sync_limit;
    loop {
        let max = if known_newest.is_none() {
            (limit.saturating_sub(texts) as usize).clamp(1, PAGE)
        } else {
            PAGE
        };
        let page = handle
            .archive_page(ArchiveQuery {
                order,
                ..ArchiveQuery::page(None, before.as_deref(), max)
            })
            .await?;
        order = page.order;
        if newest_seen.is_none() {
            newest_seen = page.ids.last().cloned();
        }
        if let Some(id) = page.ids.first() {
            oldest_seen = Some(id.clone());
        }
        let hit_known = page.ids.iter().any(|id| Some(id) == known_newest.as_ref());
        texts += page.texts;
        fetched += page.ids.len() as u64;
        let at_start = page.complete || page.ids.is_empty();
        reached_start |= at_start;
        ctx.hub.emit(ClientEvent::HistorySync {
            account: ctx.account.clone(),
            fetched,
            done: false,
        });
        let enough = known_newest.is_none() && texts >= limit;
        if at_start || hit_known || enough {
            break;
        }
        match page.first {
            Some(f) => before = Some(f),
            None => break,
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

/// Scroll-back beyond what is stored: pages the archive of one
/// conversation, older than what is stored, until `wanted` text messages
/// came or the archive has nothing older.
pub(crate) async fn scroll_back(
    handle: &AccountHandle,
    peer: &str,
    wanted: u64,
) -> crate::Result<()> {
    let ctx = handle.ctx();
    // After the user deleted the conversation, only what came later.
    let cleared = ctx.store.cleared_at(&ctx.account, peer).await?;
    let mut order = match ctx.store.oldest_timestamp(&ctx.account, peer).await? {
        Some(t) => Ordering::older_than(t),
        None => Ordering::default(),
    };
    let mut texts = 0;
    let mut cursor = ctx.store.oldest_archive_id(&ctx.account, peer).await?;
    for _ in 0..20 {
        let page = handle
            .archive_page(ArchiveQuery {
                start_ms: cleared.map(|c| c + 1),
                order,
                ..ArchiveQuery::page(
                    Some(peer),
                    cursor.as_deref(),
                    (wanted as usize).clamp(1, PAGE),
                )
            })
            .await?;
        order = page.order;
        texts += page.texts;
        if page.complete || page.ids.is_empty() || texts >= wanted {
            break;
        }
        match page.first {
            Some(f) => cursor = Some(f),
            None => break,
        }
    }
    Ok(())
}

/// The whole archive, page by page, newest first, parsed but not stored
/// (the rate the server serves it, for benchmarks).
pub(crate) async fn fetch_all_unstored(handle: &AccountHandle) -> crate::Result<u64> {
    let mut n = 0u64;
    let mut cursor: Option<String> = None;
    loop {
        let page = handle
            .archive_page(ArchiveQuery {
                store: false,
                ..ArchiveQuery::page(None, cursor.as_deref(), PAGE)
            })
            .await?;
        n += page.ids.len() as u64;
        if page.complete || page.ids.is_empty() {
            break;
        }
        match page.first {
            Some(f) => cursor = Some(f),
            None => break,
        }
    }
    Ok(n)
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
}
