//! XEP-0191 Blocking Command: the server drops everything from blocked
//! addresses; the list is the server's, changes arrive as pushes.

use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, Jid};

use crate::account::AccountHandle;
use crate::events::{ClientEvent, Snapshot};
use crate::xep::blocking::{self, read_push, Push};

/// A push (from `from`) to `own`: returns the event for the UI, if it is
/// valid and comes from the user's server (no `from` or the bare account
/// JID; not another of the user's clients, not a stranger).
pub(crate) fn on_push(
    own: &BareJid,
    from: Option<&Jid>,
    payload: &xmpp_parsers::minidom::Element,
) -> Option<ClientEvent> {
    if !crate::xep::from_own_account(from, own) {
        tracing::warn!(?from, "blocklist push not from the user's server ignored");
        return None;
    }
    let account = own.as_str();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocklist_pushes_come_from_the_bare_account_or_nobody() {
        let own = BareJid::new("juliet@capulet.lit").unwrap();
        let push: xmpp_parsers::minidom::Element =
            "<block xmlns='urn:xmpp:blocking'><item jid='romeo@montague.lit'/></block>"
                .parse()
                .unwrap();
        for from in [
            "juliet@capulet.lit/laptop",
            "mallory@evil.example",
            "capulet.lit",
        ] {
            let from = Jid::new(from).unwrap();
            assert!(on_push(&own, Some(&from), &push).is_none(), "{from}");
        }
        let bare = Jid::new("juliet@capulet.lit").unwrap();
        for from in [None, Some(&bare)] {
            assert!(matches!(
                on_push(&own, from, &push),
                Some(ClientEvent::Blocklist { blocked, .. }) if blocked == ["romeo@montague.lit"]
            ));
        }
    }
}
