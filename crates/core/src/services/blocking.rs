//! XEP-0191 Blocking Command: the server drops everything from blocked
//! addresses; the list is the server's, changes arrive as pushes.

use crate::events::ClientEvent;
use crate::xep::blocking::{read_push, Push};

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
