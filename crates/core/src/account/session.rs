//! What happens when a new session starts (not on resumption): roster and
//! carbons, then at once the initial presence (contacts see the user online
//! within a round trip or two of signing in), then OMEMO's device list and
//! bundle, the blocklist, the
//! server's features, the send queue and the archive. Servers deliver
//! stored offline messages when they see the initial presence; the archive
//! brings the same messages again and de-duplication keeps one copy.

use crate::account::AccountHandle;

/// Runs the session start-up steps, in order; failures are logged and the
/// next step still runs.
pub(crate) async fn start(handle: AccountHandle) {
    let ctx = handle.ctx().clone();
    // 1. Roster (versioned).
    let iq = crate::services::roster::roster_request(&ctx).await;
    match handle.request(iq).await {
        Ok(answer) => {
            crate::services::roster::on_roster_result(&ctx, handle.presences(), answer).await
        }
        Err(e) => tracing::warn!(account = %ctx.account, "roster request failed: {e}"),
    }
    // 2. Carbons (XEP-0280).
    if let Err(e) = handle.request(crate::xep::carbons::enable()).await {
        tracing::info!(account = %ctx.account, "carbons unavailable: {e}");
    }
    // 2b. Initial presence, as soon as the session is ready: contacts see
    // the user online at once, whatever the size of the archive. Offline
    // messages the server now delivers are recognised later when the
    // archive brings them again (and the other way round).
    let presence = handle.own_presence();
    if let Err(e) = handle.send(tokio_xmpp::Stanza::Presence(presence)).await {
        tracing::warn!(account = %ctx.account, "initial presence not sent: {e}");
    }
    // 2b'. OMEMO (XEP-0384): this device in the user's device list, its
    // bundle published (both readable by anyone).
    crate::services::omemo::pep::start(&handle).await;
    // 2c. Group chats (XEP-0045): the bookmarks (XEP-0402), then every
    // room to be in is joined at once, each with its own archive after.
    crate::services::muc::bookmarks::fetch(&handle).await;
    crate::services::muc::join::rejoin(&handle).await;
    match crate::services::muc::invites::pending(&ctx).await {
        Ok(list) => ctx.hub.emit_all(
            list.into_iter()
                .map(|invitation| crate::events::ClientEvent::Invitation { invitation })
                .collect(),
        ),
        Err(e) => tracing::warn!(account = %ctx.account, "invitations not read: {e}"),
    }
    // 3. Blocklist (XEP-0191): asking for it also subscribes to changes.
    match handle
        .request(crate::xep::blocking::blocklist_request())
        .await
    {
        Ok(xmpp_parsers::iq::Iq::Result {
            payload: Some(p), ..
        }) => {
            if let Some(blocked) = crate::xep::blocking::read_blocklist(p) {
                ctx.hub.emit(crate::events::ClientEvent::Blocklist {
                    account: ctx.account.clone(),
                    blocked,
                    unblocked: Vec::new(),
                    unblocked_all: true,
                });
            }
        }
        Ok(_) => {}
        Err(e) => tracing::info!(account = %ctx.account, "blocklist unavailable: {e}"),
    }
    // 3b. What the server supports (kept on disk for offline use).
    crate::services::caps::discover_server(&handle).await;
    // 4. Messages stored but never acknowledged by the server go again, in
    // order, before anything newer (peers drop copies by origin-id).
    handle.flush_queue().await;
    // 5. History (XEP-0313): the gap since the last session, or on a new
    // device the newest of every conversation and then, in the background,
    // the rest.
    match crate::services::archive::catch_up(&handle).await {
        Ok(n) => tracing::info!(account = %ctx.account, fetched = n, "history caught up"),
        Err(e) => tracing::warn!(account = %ctx.account, "history catch-up failed: {e}"),
    }
    // 6. For as long as the session lasts: silent rooms are checked
    // (XEP-0410), and what OMEMO changed is published again (the bundle
    // after pre-keys were used, this device back in a rewritten list).
    futures::join!(
        crate::services::muc::self_ping::run(handle.clone()),
        crate::services::omemo::pep::maintain(handle),
    );
}
