//! Service discovery (XEP-0030) and entity capabilities (XEP-0115).
//!
//! Tern announces what it supports with a caps hash in every available
//! presence and answers disco#info for it. For contacts, a caps hash seen in
//! a presence is looked up in memory, then in the on-disk cache, and only
//! then asked for with one disco#info query; the answer is cached only if it
//! hashes to the announced value, so one peer cannot poison what others with
//! the same hash are believed to support. The user's server is asked once
//! per session and its answer is kept on disk too, so its features are known
//! before connecting.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};

use base64::Engine as _;
use xmpp_parsers::caps::Caps;
use xmpp_parsers::disco::{DiscoInfoResult, Identity};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::Presence;

use crate::account::ctx::{now_ms, Ctx};
use crate::account::AccountHandle;
use crate::xep::{caps, disco};

/// The node Tern's caps name (XEP-0115 §4: a URL identifying the software).
pub(crate) const CAPS_NODE: &str = "https://tern.im";

/// Features Tern announces in disco#info. `+notify` asks the server to push
/// contacts' avatar and nickname changes (XEP-0163).
pub(crate) const FEATURES: &[&str] = &[
    "http://jabber.org/protocol/caps",
    "http://jabber.org/protocol/chatstates",
    "http://jabber.org/protocol/disco#info",
    "http://jabber.org/protocol/nick",
    "http://jabber.org/protocol/muc",
    "http://jabber.org/protocol/nick+notify",
    "jabber:x:conference",
    crate::xep::omemo::DEVICELIST_NOTIFY,
    "jabber:x:oob",
    "urn:xmpp:avatar:metadata+notify",
    "urn:xmpp:bookmarks:1+notify",
    "urn:xmpp:chat-markers:0",
    "urn:xmpp:message-correct:0",
    "urn:xmpp:message-retract:1",
    "urn:xmpp:ping",
    "urn:xmpp:reactions:0",
    "urn:xmpp:receipts",
    "urn:xmpp:reply:0",
    "urn:xmpp:sfs:0",
    "urn:xmpp:sid:0",
];

/// Most features or identities accepted from one disco#info answer.
const MAX_FEATURES: usize = 512;
/// Most caps hashes remembered in memory per account.
const MAX_KNOWN: usize = 4096;
/// Most online full JIDs whose caps are remembered.
const MAX_ONLINE: usize = 8192;
/// Most verified caps answers kept on disk (all accounts); the least
/// recently used go first.
pub(crate) const MAX_CACHED: usize = 2000;
/// Most disco#info lookups in flight at once.
const MAX_ASKING: usize = 16;
/// Most lookups for people outside the roster per [`STRANGER_WINDOW`].
const STRANGER_LOOKUPS: u32 = 10;
const STRANGER_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

/// Tern's own disco#info answer; with `calls`, the voice call features
/// too (when the client has a media stack: `services::calls`).
pub(crate) fn own_info(node: Option<String>, calls: bool) -> DiscoInfoResult {
    let extra = if calls {
        crate::services::calls::CALL_FEATURES
    } else {
        &[]
    };
    let features = FEATURES
        .iter()
        .chain(extra)
        .map(|f| f.to_string())
        .collect();
    DiscoInfoResult {
        node,
        identities: vec![Identity::new("client", "pc", "en", "Tern")],
        features,
        extensions: Vec::new(),
    }
}

/// Tern's own caps element (computed once each, with and without calls).
pub(crate) fn own_caps(calls: bool) -> &'static Caps {
    static CAPS: LazyLock<Caps> = LazyLock::new(|| caps::of(CAPS_NODE, &own_info(None, false)));
    static CALLS: LazyLock<Caps> = LazyLock::new(|| caps::of(CAPS_NODE, &own_info(None, true)));
    if calls {
        &CALLS
    } else {
        &CAPS
    }
}

/// `node#ver` of Tern's own caps, as peers ask for it.
pub(crate) fn own_caps_node(calls: bool) -> String {
    caps::node_ver(own_caps(calls))
}

/// Adds Tern's caps to an available presence (replacing any).
pub(crate) fn with_caps(mut p: Presence, calls: bool) -> Presence {
    if p.type_ != xmpp_parsers::presence::Type::None {
        return p;
    }
    p.payloads.retain(|e| !e.is("c", xmpp_parsers::ns::CAPS));
    p.payloads.push(own_caps(calls).clone().into());
    p
}

/// What a peer's disco#info says, in the form the engine uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// Name of its client identity (e.g. "Conversations").
    pub client: Option<String>,
    /// Features it announces.
    pub features: Vec<String>,
}

impl PeerInfo {
    fn from_disco(info: &DiscoInfoResult) -> PeerInfo {
        let client = info
            .identities
            .iter()
            .find(|i| i.category == "client")
            .or_else(|| info.identities.first())
            .and_then(|i| i.name.clone())
            .map(|n| n.chars().take(64).collect());
        PeerInfo {
            client,
            features: info.features.iter().take(MAX_FEATURES).cloned().collect(),
        }
    }
}

/// Discovery state of one account.
#[derive(Default, Debug)]
pub(crate) struct Discovery {
    inner: Mutex<Inner>,
}

#[derive(Default, Debug)]
struct Inner {
    /// Verified answers, by caps key.
    known: HashMap<String, Arc<PeerInfo>>,
    /// Caps key announced by each online full JID.
    by_jid: HashMap<String, String>,
    /// Caps keys being asked for right now.
    asking: HashSet<String>,
    /// Full JIDs being asked right now (one lookup each at a time).
    asking_jids: HashSet<String>,
    /// Lookups for people outside the roster in the current window.
    stranger_lookups: (Option<std::time::Instant>, u32),
    /// The user's server.
    server: Option<Arc<PeerInfo>>,
}

impl Discovery {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// What the online resource `full_jid` supports, if known.
    pub(crate) fn of(&self, full_jid: &str) -> Option<Arc<PeerInfo>> {
        let g = self.lock();
        g.by_jid.get(full_jid).and_then(|k| g.known.get(k)).cloned()
    }

    /// The resource went offline.
    pub(crate) fn forget(&self, full_jid: &str) {
        self.lock().by_jid.remove(full_jid);
    }

    /// How many online full JIDs have their caps remembered.
    #[cfg(test)]
    pub(crate) fn online(&self) -> usize {
        self.lock().by_jid.len()
    }

    /// Our session ended: nobody is online any more.
    pub(crate) fn clear_presences(&self) {
        self.lock().by_jid.clear();
    }

    /// The user's server, if known this session.
    pub(crate) fn server(&self) -> Option<Arc<PeerInfo>> {
        self.lock().server.clone()
    }

    /// `full` announced the caps `key`: what is known of them in memory.
    fn seen(&self, full: &str, key: &str) -> Option<Arc<PeerInfo>> {
        let mut g = self.lock();
        if g.by_jid.len() < MAX_ONLINE || g.by_jid.contains_key(full) {
            g.by_jid.insert(full.to_string(), key.to_string());
        }
        g.known.get(key).cloned()
    }

    /// Whether a lookup of `key` for `full` may start at `now` (and if so,
    /// it is counted as started).
    fn may_ask(&self, key: &str, full: &str, contact: bool, now: std::time::Instant) -> bool {
        let mut g = self.lock();
        if g.asking.contains(key) || g.asking_jids.contains(full) || g.asking.len() >= MAX_ASKING {
            return false;
        }
        if !contact {
            let (since, n) = &mut g.stranger_lookups;
            if since.is_none_or(|s| now.duration_since(s) >= STRANGER_WINDOW) {
                *since = Some(now);
                *n = 0;
            }
            if *n >= STRANGER_LOOKUPS {
                return false;
            }
            *n += 1;
        }
        g.asking.insert(key.to_string());
        g.asking_jids.insert(full.to_string());
        true
    }

    fn remember(&self, key: &str, info: Arc<PeerInfo>) {
        let mut g = self.lock();
        if g.known.len() >= MAX_KNOWN {
            g.known.clear();
        }
        g.known.insert(key.to_string(), info);
    }
}

/// What the cache keys of caps announcements start with.
const CAPS_PREFIX: &str = "caps:";

/// Cache key of a caps announcement.
fn caps_key(caps: &Caps) -> String {
    format!(
        "{CAPS_PREFIX}{}:{}",
        String::from(caps.hash.clone()),
        base64::engine::general_purpose::STANDARD.encode(&caps.ver)
    )
}

fn server_key(account: &str, server: &str) -> String {
    format!("jid:{account} {server}")
}

fn parse_cached(xml: &str) -> Option<DiscoInfoResult> {
    let el: Element = xml.parse().ok()?;
    DiscoInfoResult::try_from(el).ok()
}

/// A presence from `from` carried `caps`. Returns what is known right away
/// (memory or disk); otherwise asks in the background and calls `done` once
/// the answer is verified.
/// `contact`: `from` is in the roster (or is the user's own account). The
/// answer of a lookup is kept on disk up to [`MAX_CACHED`] entries, least
/// recently used dropped first. Lookups are bounded: one in flight per full
/// JID and [`MAX_ASKING`] in all, and for people outside the roster
/// [`STRANGER_LOOKUPS`] a minute (a stranger's caps then stay unknown).
pub(crate) async fn on_caps(
    handle: &AccountHandle,
    from: &Jid,
    announced: Caps,
    contact: bool,
    done: impl FnOnce() -> futures::future::BoxFuture<'static, ()> + Send + 'static,
) -> Option<Arc<PeerInfo>> {
    let ctx = handle.ctx();
    let disco = &handle.ctx().discovery;
    let key = caps_key(&announced);
    let full = from.to_string();
    if let Some(info) = disco.seen(&full, &key) {
        return Some(info);
    }
    if let Ok(Some(xml)) = ctx.store.use_disco_info(&key, now_ms()).await {
        if let Some(info) = parse_cached(&xml) {
            let info = Arc::new(PeerInfo::from_disco(&info));
            disco.remember(&key, info.clone());
            return Some(info);
        }
    }
    if !disco.may_ask(&key, &full, contact, std::time::Instant::now()) {
        return None;
    }
    let handle = handle.clone();
    let from = from.clone();
    tokio::spawn(async move {
        let iq = disco::info_request(from.clone(), Some(caps::node_ver(&announced)));
        let answer = handle.request(iq).await;
        let disco = &handle.ctx().discovery;
        {
            let mut g = disco.lock();
            g.asking.remove(&key);
            g.asking_jids.remove(&full);
        }
        let info = match answer {
            Ok(Iq::Result {
                payload: Some(p), ..
            }) => DiscoInfoResult::try_from(p).ok(),
            Ok(_) => None,
            Err(e) => {
                tracing::debug!(%from, "disco#info failed: {e}");
                None
            }
        };
        let Some(info) = info else {
            return;
        };
        if !caps::verify(&announced, &info) {
            tracing::warn!(%from, "disco#info does not match its caps hash; not cached");
            return;
        }
        let xml = String::from(&Element::from(DiscoInfoResult {
            node: None,
            ..info.clone()
        }));
        let store = &handle.ctx().store;
        if let Err(e) = store.store_disco_info(&key, &xml, now_ms()).await {
            tracing::warn!("caching disco#info failed: {e}");
        }
        if let Err(e) = store.prune_disco_cache(CAPS_PREFIX, MAX_CACHED).await {
            tracing::warn!("pruning the disco#info cache failed: {e}");
        }
        disco.remember(&key, Arc::new(PeerInfo::from_disco(&info)));
        done().await;
    });
    None
}

/// Asks the user's server what it supports (session start) and caches it.
pub(crate) async fn discover_server(handle: &AccountHandle) {
    let ctx = handle.ctx();
    let domain = ctx.own.domain().to_string();
    let iq = match Jid::new(&domain) {
        Ok(to) => disco::info_request(to, None),
        Err(_) => return,
    };
    match handle.request(iq).await {
        Ok(Iq::Result {
            payload: Some(p), ..
        }) => match DiscoInfoResult::try_from(p) {
            Ok(info) => {
                let xml = String::from(&Element::from(info.clone()));
                let key = server_key(&ctx.account, &domain);
                if let Err(e) = ctx.store.store_disco_info(&key, &xml, now_ms()).await {
                    tracing::warn!("caching the server's disco#info failed: {e}");
                }
                handle.ctx().discovery.lock().server = Some(Arc::new(PeerInfo::from_disco(&info)));
            }
            Err(e) => tracing::info!(account = %ctx.account, "malformed server disco#info: {e}"),
        },
        Ok(_) => {}
        Err(e) => tracing::info!(account = %ctx.account, "server disco#info failed: {e}"),
    }
}

/// The server's features as last seen (this session, else from disk).
pub(crate) async fn server_info(ctx: &Ctx, disco: &Discovery) -> Option<PeerInfo> {
    if let Some(info) = disco.server() {
        return Some((*info).clone());
    }
    let key = server_key(&ctx.account, ctx.own.domain().as_str());
    let xml = ctx.store.disco_info(&key).await.ok()??;
    parse_cached(&xml).map(|i| PeerInfo::from_disco(&i))
}

/// Whether Tern answers `from`'s pings and disco queries: the user's own
/// server and account (any of its clients), people the user knows
/// (`Ctx::knows`), and strangers only if the user chose so
/// ([`crate::Privacy::answer_strangers`]).
pub(crate) async fn tells(ctx: &Ctx, from: Option<&Jid>) -> bool {
    let Some(from) = from else {
        return true;
    };
    let bare = from.to_bare();
    bare == ctx.own
        || crate::xep::is_own_server(from, &ctx.own)
        || ctx.may_tell(bare.as_str(), |p| p.answer_strangers).await
}

/// Answers a disco#info query for Tern itself (`node` empty or our caps
/// node); `None` for a node we do not know.
pub(crate) fn answer_info(query: &Element, calls: bool) -> Option<DiscoInfoResult> {
    let node = disco::requested_node(query)?;
    match &node {
        None => Some(own_info(None, calls)),
        Some(n) if *n == own_caps_node(calls) => Some(own_info(node, calls)),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_caps_costs_bounded_memory_and_few_lookups() {
        let d = Discovery::default();
        let now = std::time::Instant::now();
        let mut asked = 0;
        for i in 0..100_000 {
            let full = format!("stranger{i}@evil.example/r");
            let key = format!("caps:sha-1:{i}");
            assert!(d.seen(&full, &key).is_none());
            asked += usize::from(d.may_ask(&key, &full, false, now));
        }
        assert_eq!(
            asked, STRANGER_LOOKUPS as usize,
            "strangers: a few a minute"
        );
        assert!(d.online() <= MAX_ONLINE);
        // One contact announcing ever new caps: one lookup at a time.
        let d = Discovery::default();
        let asked = (0..100_000)
            .filter(|i| {
                d.may_ask(
                    &format!("caps:sha-1:{i}"),
                    "romeo@montague.lit/orchard",
                    true,
                    now,
                )
            })
            .count();
        assert_eq!(asked, 1);
        // Many contacts: at most MAX_ASKING in flight.
        let asked = (0..100_000)
            .filter(|i| {
                d.may_ask(
                    &format!("caps:x:{i}"),
                    &format!("c{i}@montague.lit/r"),
                    true,
                    now,
                )
            })
            .count();
        assert_eq!(asked + 1, MAX_ASKING);
        // A minute later strangers get a few more.
        let d = Discovery::default();
        for i in 0..100 {
            d.may_ask(&format!("k{i}"), &format!("s{i}@e/r"), false, now);
            d.lock().asking.clear();
            d.lock().asking_jids.clear();
        }
        let later = now + STRANGER_WINDOW;
        assert!(d.may_ask("k-late", "late@e/r", false, later));
    }

    #[tokio::test]
    async fn strangers_learn_nothing_from_disco_unless_the_user_chose() {
        let (_d, ctx) = crate::account::ctx::tests::ctx_with(&[]).await;
        for (jid, subscription, ask) in [
            ("romeo@montague.lit", "both", false),
            ("friar@verona.lit", "none", true),
            ("nurse@capulet.lit", "none", false),
        ] {
            crate::inbound::tests::contact(&ctx, jid, subscription, ask).await;
        }
        let asks = |from: Option<&str>| {
            let ctx = ctx.clone();
            let from = from.map(|f| Jid::new(f).unwrap());
            async move { tells(&ctx, from.as_ref()).await }
        };
        for from in [
            None,
            Some("capulet.lit"),
            Some("juliet@capulet.lit"),
            Some("juliet@capulet.lit/laptop"),
            Some("romeo@montague.lit/orchard"),
            Some("friar@verona.lit/cell"),
            Some("nurse@capulet.lit/kitchen"),
        ] {
            assert!(asks(from).await, "{from:?}");
        }
        let strangers = [
            "mallory@evil.example/x",
            "montague.lit",
            "conference.capulet.lit",
            "coven@chat.shakespeare.lit/witch",
        ];
        for from in strangers {
            assert!(!asks(Some(from)).await, "{from}");
        }
        ctx.privacy.set(crate::Privacy {
            answer_strangers: true,
            ..crate::Privacy::default()
        });
        for from in strangers {
            assert!(asks(Some(from)).await, "{from}");
        }
    }

    #[test]
    fn own_caps_verify_against_own_info() {
        for calls in [false, true] {
            let caps = own_caps(calls).clone();
            assert_eq!(caps.ver.len(), 20);
            assert!(crate::xep::caps::verify(&caps, &own_info(None, calls)));
            assert!(answer_info(
                &format!(
                    "<query xmlns='http://jabber.org/protocol/disco#info' node='{}'/>",
                    own_caps_node(calls)
                )
                .parse()
                .unwrap(),
                calls
            )
            .is_some());
            assert!(answer_info(
                &"<query xmlns='http://jabber.org/protocol/disco#info' node='other#x'/>"
                    .parse()
                    .unwrap(),
                calls
            )
            .is_none());
        }
        // What Conversations looks for before it shows its call button.
        let with = own_info(None, true).features;
        let without = own_info(None, false).features;
        for f in [
            "urn:xmpp:jingle:1",
            "urn:xmpp:jingle:transports:ice-udp:1",
            "urn:xmpp:jingle:apps:rtp:1",
            "urn:xmpp:jingle:apps:dtls:0",
            "urn:xmpp:jingle:apps:rtp:audio",
            "urn:xmpp:jingle-message:0",
        ] {
            assert!(with.contains(f) && !without.contains(f), "{f}");
        }
        assert_ne!(own_caps_node(true), own_caps_node(false));
    }

    #[test]
    fn xep_0115_example_verifies_and_a_forgery_does_not() {
        // XEP-0115 §5.2, the simple example.
        let info: DiscoInfoResult = "<query xmlns='http://jabber.org/protocol/disco#info'>\
               <identity category='client' name='Exodus 0.9.1' type='pc'/>\
               <feature var='http://jabber.org/protocol/caps'/>\
               <feature var='http://jabber.org/protocol/disco#info'/>\
               <feature var='http://jabber.org/protocol/disco#items'/>\
               <feature var='http://jabber.org/protocol/muc'/>\
             </query>"
            .parse::<Element>()
            .unwrap()
            .try_into()
            .unwrap();
        let caps: Caps = "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' \
                node='http://code.google.com/p/exodus' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/>"
            .parse::<Element>()
            .unwrap()
            .try_into()
            .unwrap();
        assert!(crate::xep::caps::verify(&caps, &info));
        assert_eq!(
            PeerInfo::from_disco(&info).client.as_deref(),
            Some("Exodus 0.9.1")
        );
        let mut forged = info.clone();
        forged
            .features
            .insert("urn:xmpp:jingle:apps:rtp:audio".into());
        assert!(!crate::xep::caps::verify(&caps, &forged));
        let mut doubled = info;
        doubled.identities.push(doubled.identities[0].clone());
        assert!(!crate::xep::caps::verify(&caps, &doubled));
    }
}
