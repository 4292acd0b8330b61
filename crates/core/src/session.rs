//! What happens when a new session starts (not on resumption): roster,
//! carbons, resending the outbox, and catching up with the archive.

use crate::account::AccountHandle;

/// Runs the session start-up steps, in order; failures are logged and the
/// next step still runs.
pub(crate) async fn start(handle: AccountHandle) {
    let ctx = handle.ctx().clone();
    // 1. Roster (versioned).
    let iq = crate::roster::roster_request(&ctx).await;
    match handle.request(iq).await {
        Ok(answer) => crate::roster::on_roster_result(&ctx, handle.presences(), answer).await,
        Err(e) => tracing::warn!(account = %ctx.account, "roster request failed: {e}"),
    }
    // 2. Carbons (XEP-0280).
    if let Some(enable) = crate::xml::parse("<enable xmlns='urn:xmpp:carbons:2'/>") {
        let iq = xmpp_parsers::iq::Iq::Set {
            from: None,
            to: None,
            id: String::new(),
            payload: enable,
        };
        if let Err(e) = handle.request(iq).await {
            tracing::info!(account = %ctx.account, "carbons unavailable: {e}");
        }
    }
    // 3. Messages stored but never acknowledged by the server.
    match ctx.store.outbox(&ctx.account).await {
        Ok(entries) => {
            for entry in entries {
                match crate::chat::stanza_from_xml(&entry.stanza) {
                    Some(msg) => {
                        let _ = handle
                            .send_tracked(entry.message_id, tokio_xmpp::Stanza::Message(msg))
                            .await;
                    }
                    None => {
                        tracing::error!(id = entry.message_id, "unreadable outbox entry dropped");
                        let _ = ctx.store.outbox_done(entry.message_id).await;
                    }
                }
            }
        }
        Err(e) => tracing::error!("outbox read failed: {e}"),
    }
    // 4. History (XEP-0313), newest first.
    match crate::mam::catch_up(&handle).await {
        Ok(n) => tracing::info!(account = %ctx.account, fetched = n, "history caught up"),
        Err(e) => tracing::warn!(account = %ctx.account, "history catch-up failed: {e}"),
    }
}
