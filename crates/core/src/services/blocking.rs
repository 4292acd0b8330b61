//! XEP-0191 Blocking Command: the server drops everything from blocked
//! addresses; the list is the server's, changes arrive as pushes.

use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;

use crate::account::AccountHandle;
use crate::events::{ClientEvent, Snapshot};
use crate::xep::blocking::{self, read_push, Push};

/// A push from the user's server: returns the event for the UI, if valid.
pub(crate) fn on_push(
    account: &str,
    payload: &xmpp_parsers::minidom::Element,
) -> Option<ClientEvent> {
    let (blocked, unblocked, unblocked_all) = match read_push(payload)? {
        Push::Blocked(jids) => (jids, Vec::new(), false),
        Push::Unblocked(jids) => (Vec::new(), jids, false),
        Push::UnblockedAll => (Vec::new(), Vec::new(), true),
    };
    Some(ClientEvent::Blocklist {
        account: account.to_string(),
        blocked,
        unblocked,
        unblocked_all,
    })
}

/// The addresses the account blocks, as the server says now.
pub(crate) async fn blocked(handle: &AccountHandle) -> crate::Result<Vec<String>> {
    let answer = handle.request(blocking::blocklist_request()).await?;
    Ok(match answer {
        Iq::Result {
            payload: Some(p), ..
        } => blocking::read_blocklist(p).unwrap_or_default(),
        _ => Vec::new(),
    })
}

/// Blocks an address: the server drops its messages, presence and
/// requests; its subscription request, if any, is answered.
pub(crate) async fn block(
    handle: &AccountHandle,
    snapshot: &Snapshot,
    who: Jid,
) -> crate::Result<()> {
    let from = who.to_bare().to_string();
    handle.request(blocking::block(who)).await?;
    crate::services::contacts::request_answered(handle.ctx(), snapshot, &from);
    Ok(())
}

/// Unblocks an address. (An empty `<unblock/>` means "unblock everyone":
/// this never builds one.)
pub(crate) async fn unblock(handle: &AccountHandle, who: Jid) -> crate::Result<()> {
    handle.request(blocking::unblock(who)).await.map(|_| ())
}
