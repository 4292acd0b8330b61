//! History from the user's archive (XEP-0313): newest-first catch-up after
//! connecting, and scroll-back on demand. The account task runs each query
//! ([`Run`]) and its page through the inbound pipeline; this service says
//! which pages to ask for.

use std::sync::atomic::{AtomicBool, Ordering as Atomic};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::message::Message;

use futures::StreamExt;

use crate::account::ctx::Ctx;
use crate::account::AccountHandle;
use crate::events::ClientEvent;
use crate::inbound::Mode;
use crate::xep::mam;
use crate::xep::message::new_id;

/// Messages per archive page.
pub(crate) const PAGE: usize = 250;

/// Archive stamps have whole seconds, so many messages share one. Pages are
/// read newest first; each message with a whole-second stamp is filed one
/// millisecond before the message handed over just before it, at most at the
/// end of its own second, so the timeline keeps the archive's order. A second
/// with more than 1000 messages continues into the second before it, and that
/// second's messages are filed below them.
#[derive(Debug, Default)]
pub(crate) struct Ordering {
    /// The filing time of the message handed over last (the oldest so far).
    last: Option<i64>,
}

/// How far below its own second a message may be filed. Beyond it, stamps
/// going backwards start again at their own second rather than drift.
const SPILL_MS: i64 = 600_000;

impl Ordering {
    /// An ordering for messages older than one already filed at `ms`.
    pub(crate) fn older_than(ms: i64) -> Ordering {
        Ordering { last: Some(ms) }
    }

    /// The time to file an archived message stamped `stamp_ms`, for messages
    /// handed over newest first.
    pub(crate) fn file_time(&mut self, stamp_ms: i64) -> i64 {
        let time = if stamp_ms.rem_euclid(1000) != 0 {
            stamp_ms
        } else {
            let top = stamp_ms + 999;
            match self.last {
                Some(last) if last <= top && last > stamp_ms - SPILL_MS => last - 1,
                _ => top,
            }
        };
        self.last = Some(time);
        time
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
    /// Instead, the page after this archive id (paging forwards).
    pub after: Option<String>,
    /// Results per page.
    pub max: usize,
    /// Run the results through the inbound pipeline (else only count them).
    pub store: bool,
    /// How the pipeline announces and counts them.
    pub mode: Mode,
    /// Filing times of this catch-up or scroll-back so far.
    pub order: Ordering,
    /// Instead of `order`: filing times shared by the pages of one chain.
    pub shared_order: Option<Arc<Mutex<Ordering>>>,
    /// Asks for the page before this one as soon as the server has
    /// answered, before this page is stored (see [`Chain`]).
    pub chain: Option<Chain>,
    /// A group chat's own archive (the query goes to the room's JID);
    /// `None`: the user's archive.
    pub room: Option<String>,
}

/// Pages read one after another, older each time, where the account task
/// sends the query for the next page as soon as the server has answered
/// for the current one, so the server reads the next page while Tern
/// stores the current. Pages are still stored in turn.
#[derive(Clone, Debug)]
pub(crate) struct Chain {
    /// Cleared by the reader to stop asking ahead (near its limit).
    pub go: Arc<AtomicBool>,
    /// Where the next page's answer goes, as soon as it was asked for.
    pub next: mpsc::UnboundedSender<oneshot::Receiver<crate::Result<ArchivePage>>>,
}

impl ArchiveQuery {
    /// The page of the user's archive before `before`, to be stored.
    pub(crate) fn page(with: Option<&str>, before: Option<&str>, max: usize) -> ArchiveQuery {
        ArchiveQuery {
            with: with.map(str::to_string),
            start_ms: None,
            before: before.map(str::to_string),
            after: None,
            max,
            store: true,
            mode: Mode::LIVE,
            order: Ordering::default(),
            shared_order: None,
            chain: None,
            room: None,
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
    /// The RSM `<last/>` id: the next (newer) page is after it.
    pub last: Option<String>,
    /// The time of the oldest message of the page.
    pub oldest_ms: Option<i64>,
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
    started: std::time::Instant,
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
        let mut iq = mam::PageQuery {
            query_id: &query_id,
            with: query.with.as_deref(),
            start_ms: query.start_ms,
            before: query.before.as_deref(),
            after: query.after.as_deref(),
            max: query.max,
        }
        .iq();
        if let Some(room) = &query.room {
            let Ok(to) = xmpp_parsers::jid::Jid::new(room) else {
                let _ = reply.send(Err(crate::Error::Internal("a room archive query")));
                return None;
            };
            if let Iq::Set { to: t, .. } = &mut iq {
                *t = Some(to);
            }
        }
        Some((
            Run {
                query,
                query_id,
                started: std::time::Instant::now(),
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

    /// The query for the next page of a chain, when the server answered
    /// this one, the archive has older pages, and the chain goes on (not
    /// near its limit, the user not busy scrolling or typing).
    pub(crate) fn ahead(&self, ctx: &Ctx, answer: &crate::Result<Iq>) -> Option<(Run, Iq)> {
        let chain = self.query.chain.as_ref()?;
        if !chain.go.load(Atomic::Relaxed) || ctx.activity.active_within(QUIET_MS) {
            return None;
        }
        let Ok(Iq::Result {
            payload: Some(p), ..
        }) = answer
        else {
            return None;
        };
        let end = mam::read_fin(p)?;
        let first = end.first.filter(|_| !end.complete)?;
        let (reply, answer) = oneshot::channel();
        chain.next.send(answer).ok()?;
        Run::start(
            ArchiveQuery {
                with: self.query.with.clone(),
                start_ms: self.query.start_ms,
                before: Some(first),
                after: None,
                max: self.query.max,
                store: self.query.store,
                mode: self.query.mode,
                order: Ordering::default(),
                shared_order: self.query.shared_order.clone(),
                chain: Some(chain.clone()),
                room: self.query.room.clone(),
            },
            reply,
        )
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
            started,
            ..
        } = self;
        let answered = started.elapsed();
        let page = match answer.and_then(fin) {
            Ok(end) => {
                let ids: Vec<String> = results.iter().map(|(id, _)| id.clone()).collect();
                let processing = std::time::Instant::now();
                let (texts, oldest_ms) = if query.store {
                    // Filing times are handed out newest first; the
                    // pipeline then runs oldest first, so a correction
                    // finds the message it corrects.
                    let mut items: Vec<(Message, Option<i64>)> = {
                        let mut shared = query
                            .shared_order
                            .as_ref()
                            .map(|o| o.lock().unwrap_or_else(|e| e.into_inner()));
                        let order = match shared.as_deref_mut() {
                            Some(o) => o,
                            None => &mut query.order,
                        };
                        results
                            .into_iter()
                            .rev()
                            .map(|(_, msg)| {
                                let time = mam::result_stamp_ms(&msg).map(|s| order.file_time(s));
                                (msg, time)
                            })
                            .collect()
                    };
                    items.reverse();
                    let done =
                        crate::inbound::process_from(ctx, items, query.mode, query.room.as_deref())
                            .await;
                    (done.texts, done.oldest_ms)
                } else {
                    (0, None)
                };
                tracing::debug!(
                    results = ids.len(),
                    with = ?query.with,
                    ?answered,
                    processed = ?processing.elapsed(),
                    "archive page"
                );
                Ok(ArchivePage {
                    ids,
                    first: end.first,
                    last: end.last,
                    complete: end.complete,
                    texts,
                    oldest_ms,
                    order: std::mem::take(&mut query.order),
                })
            }
            Err(e) => Err(e),
        };
        let _ = reply.send(page);
    }
}

/// Reads the `<fin/>` answering a query.
fn fin(answer: Iq) -> crate::Result<mam::PageEnd> {
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
    Ok(end)
}

/// Results per conversation asked for on a device's first catch-up.
const CONVERSATION_PAGE: usize = 25;
/// Conversations asked for at once on a device's first catch-up.
const PARALLEL: usize = 4;
/// Most conversations whose newest page is asked for one by one on a
/// device's first catch-up (the rest come with the background history).
const MAX_CONVERSATIONS: usize = 200;
/// Background history waits while the user scrolled or typed this
/// recently (ms).
const QUIET_MS: i64 = 1500;

/// History progress of one run, announced after each page.
struct Progress<'a> {
    ctx: &'a Ctx,
    fetched: u64,
    texts: u64,
    oldest_ms: Option<i64>,
}

impl Progress<'_> {
    fn page(&mut self, page: &ArchivePage) {
        self.fetched += page.ids.len() as u64;
        self.texts += page.texts;
        self.oldest_ms = match (self.oldest_ms, page.oldest_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.emit(false);
    }

    fn emit(&self, done: bool) {
        self.ctx.hub.emit(ClientEvent::HistorySync {
            account: self.ctx.account.clone(),
            fetched: self.fetched,
            oldest_ms: self.oldest_ms,
            done,
        });
    }
}

/// Catches up with the user's archive after a new session. A reconnect
/// fills the gap since the newest message seen. A new device first takes
/// the newest page of the archive and of each conversation (the list is
/// right within about a second); then older history comes in the
/// background, a page at a time, waiting while the user scrolls or types,
/// and resumes after a restart where it stopped. The account task runs
/// each page through the inbound pipeline as one batch, so nothing seen
/// live or by carbon is stored twice. Returns how many results came.
pub(crate) async fn catch_up(handle: &AccountHandle) -> crate::Result<u64> {
    let ctx = handle.ctx().clone();
    let (_, known_newest, _, complete) = ctx.store.account_sync_state(&ctx.account).await?;
    let mut progress = Progress {
        ctx: &ctx,
        fetched: 0,
        texts: 0,
        oldest_ms: None,
    };
    let result = async {
        match (known_newest, complete) {
            (Some(newest), _) => fill_gap(handle, &newest, &mut progress).await?,
            // The archive was empty at the last sync: all of it is new.
            (None, true) => fill_since_empty(handle, &mut progress).await?,
            (None, false) => first_pages(handle, &mut progress).await?,
        }
        // Encrypted messages read before the ones they follow, in order.
        crate::services::omemo::retry::run(&ctx).await;
        let older = background(handle, &mut progress).await;
        crate::services::omemo::retry::run(&ctx).await;
        older
    }
    .await;
    progress.emit(true);
    result.map(|()| progress.fetched)
}

/// A reconnect: what came since `newest`. A small gap comes in one page
/// after it; a larger one newest page first, back to that page.
async fn fill_gap(
    handle: &AccountHandle,
    newest: &str,
    progress: &mut Progress<'_>,
) -> crate::Result<()> {
    let ctx = handle.ctx();
    let first = handle
        .archive_page(ArchiveQuery {
            after: Some(newest.to_string()),
            ..ArchiveQuery::page(None, None, PAGE)
        })
        .await?;
    progress.page(&first);
    let mut newest_seen = first.ids.last().cloned().or_else(|| first.last.clone());
    if !first.complete && !first.ids.is_empty() {
        // More than a page came meanwhile: the newest first, back to the
        // page already fetched.
        let mut order = Ordering::default();
        let mut before: Option<String> = None;
        let mut top = true;
        loop {
            let mut page = handle
                .archive_page(ArchiveQuery {
                    order,
                    ..ArchiveQuery::page(None, before.as_deref(), PAGE)
                })
                .await?;
            order = std::mem::take(&mut page.order);
            progress.page(&page);
            if top {
                newest_seen = page.ids.last().cloned().or(newest_seen);
                top = false;
            }
            let met = page.ids.iter().any(|id| first.ids.contains(id));
            if met || page.complete || page.ids.is_empty() {
                break;
            }
            match page.first {
                Some(f) => before = Some(f),
                None => break,
            }
        }
    }
    if let Some(id) = newest_seen {
        ctx.store
            .set_mam_state(&ctx.account, Some(&id), None, None)
            .await?;
    }
    Ok(())
}

/// A reconnect after a sync that found the archive empty: everything in it
/// came since, newest page first, announced like live messages.
async fn fill_since_empty(
    handle: &AccountHandle,
    progress: &mut Progress<'_>,
) -> crate::Result<()> {
    let ctx = handle.ctx();
    let mut order = Ordering::default();
    let mut before: Option<String> = None;
    let mut newest: Option<String> = None;
    loop {
        let mut page = handle
            .archive_page(ArchiveQuery {
                order,
                ..ArchiveQuery::page(None, before.as_deref(), PAGE)
            })
            .await?;
        order = std::mem::take(&mut page.order);
        progress.page(&page);
        if newest.is_none() {
            newest = page.ids.last().cloned();
        }
        if page.complete || page.ids.is_empty() {
            break;
        }
        match page.first {
            Some(f) => before = Some(f),
            None => break,
        }
    }
    ctx.store
        .set_mam_state(
            &ctx.account,
            newest.as_deref(),
            before.as_deref(),
            Some(true),
        )
        .await?;
    Ok(())
}

/// A new device: the newest page of the archive, then the newest page of
/// each conversation it did not fill, a few at a time.
async fn first_pages(handle: &AccountHandle, progress: &mut Progress<'_>) -> crate::Result<()> {
    let ctx = handle.ctx();
    let limit = ctx.first_sync_limit;
    let page = handle
        .archive_page(ArchiveQuery {
            mode: Mode::FIRST_SYNC,
            ..ArchiveQuery::page(None, None, (limit as usize).clamp(1, PAGE))
        })
        .await?;
    progress.page(&page);
    ctx.store
        .set_mam_state(
            &ctx.account,
            page.ids.last().map(String::as_str),
            page.first.as_deref(),
            Some(page.complete || page.ids.is_empty()),
        )
        .await?;
    if page.complete || page.ids.is_empty() || progress.texts >= limit {
        return Ok(());
    }
    let mut peers: Vec<String> = ctx
        .store
        .roster(&ctx.account)
        .await?
        .into_iter()
        .map(|r| r.jid)
        .collect();
    for c in ctx.store.conversations(Some(&ctx.account)).await? {
        if !peers.contains(&c.peer) {
            peers.push(c.peer);
        }
    }
    let mut wanted = Vec::new();
    for peer in peers {
        if ctx.store.message_count(&ctx.account, &peer).await? < CONVERSATION_PAGE as i64 {
            wanted.push(peer);
        }
        if wanted.len() >= MAX_CONVERSATIONS {
            break;
        }
    }
    let pages = futures::stream::iter(wanted.into_iter().map(|peer| async move {
        handle
            .archive_page(ArchiveQuery {
                mode: Mode::FIRST_SYNC,
                ..ArchiveQuery::page(Some(&peer), None, CONVERSATION_PAGE)
            })
            .await
    }))
    .buffer_unordered(PARALLEL);
    futures::pin_mut!(pages);
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => progress.page(&page),
            Err(e) => {
                tracing::info!(account = %ctx.account, "a conversation's history failed: {e}")
            }
        }
    }
    Ok(())
}

/// Older history, a page at a time, from where the last run stopped, until
/// the archive's beginning (or `first_sync_limit` messages in this run).
/// Waits while the user scrolls or types. The pages form a [`Chain`]: the
/// server reads the next page while Tern stores the current one; the
/// resume point moves past a page once it is stored.
async fn background(handle: &AccountHandle, progress: &mut Progress<'_>) -> crate::Result<()> {
    let ctx = handle.ctx();
    let limit = ctx.first_sync_limit;
    // Older than anything fetched in this run, in the archive's order.
    let order = Arc::new(Mutex::new(
        progress
            .oldest_ms
            .map(Ordering::older_than)
            .unwrap_or_default(),
    ));
    let go = Arc::new(AtomicBool::new(true));
    let (next, mut asked) = mpsc::unbounded_channel();
    let chain = Chain {
        go: go.clone(),
        next,
    };
    let mut ahead: Option<oneshot::Receiver<crate::Result<ArchivePage>>> = None;
    let outcome = loop {
        let (_, _, cursor, complete) = ctx.store.account_sync_state(&ctx.account).await?;
        let Some(cursor) = cursor.filter(|_| !complete) else {
            break Ok(());
        };
        if progress.texts >= limit {
            break Ok(());
        }
        // A page holds at most twice its size (see `Run::push`).
        go.store(progress.texts + 2 * (PAGE as u64) < limit, Atomic::Relaxed);
        let page = match ahead.take() {
            Some(answer) => match answer.await {
                Ok(page) => page,
                Err(_) => Err(crate::Error::Internal("an archive page was lost")),
            },
            None => {
                while ctx.activity.active_within(QUIET_MS) {
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                }
                handle
                    .archive_page(ArchiveQuery {
                        mode: Mode::FIRST_SYNC,
                        shared_order: Some(order.clone()),
                        chain: Some(chain.clone()),
                        ..ArchiveQuery::page(None, Some(&cursor), PAGE)
                    })
                    .await
            }
        };
        let page = match page {
            Ok(page) => page,
            Err(e) => break Err(e),
        };
        // Asked for before this page was stored, if the chain went on.
        ahead = asked.try_recv().ok();
        progress.page(&page);
        let at_start = page.complete || page.ids.is_empty();
        ctx.store
            .set_mam_state(
                &ctx.account,
                None,
                page.first.as_deref(),
                at_start.then_some(true),
            )
            .await?;
        if at_start {
            break Ok(());
        }
    };
    // A page asked for ahead but not wanted any more is stored when it
    // comes (nothing is lost; the resume point stays before it).
    go.store(false, Atomic::Relaxed);
    if let Some(answer) = ahead {
        let _ = answer.await;
    }
    outcome
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
        assert_eq!(o.file_time(4123), 4123, "precise stamps are kept");
        assert_eq!(o.file_time(4000), 4122, "and later ones file below them");
    }

    #[test]
    fn a_second_of_more_than_1000_messages_keeps_archive_order() {
        let mut o = Ordering::default();
        // Newest first: 2500 messages in second 10, then 1500 in second 9,
        // then 10 in second 2.
        let stamps = std::iter::repeat_n(10_000, 2500)
            .chain(std::iter::repeat_n(9_000, 1500))
            .chain(std::iter::repeat_n(2_000, 10));
        let t: Vec<i64> = stamps.map(|s| o.file_time(s)).collect();
        assert!(
            t.windows(2).all(|w| w[0] > w[1]),
            "strictly older each time"
        );
        assert_eq!(t[0], 10_999);
        assert_eq!(
            t[2500],
            10_999 - 2500,
            "second 9 starts below second 10's spill"
        );
        assert_eq!(t[4000], 2_999, "a second far below starts at its own end");
    }

    #[test]
    fn stamps_going_backwards_far_start_again_at_their_second() {
        let mut o = Ordering::older_than(5_000_500);
        assert_eq!(o.file_time(5_000_000), 5_000_499);
        // A later second after an older one: filed in its own second.
        assert_eq!(o.file_time(9_000_000), 9_000_999);
        assert_eq!(o.file_time(9_000_000), 9_000_998);
    }
}
