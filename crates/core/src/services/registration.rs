//! The account on its server (XEP-0077, in-band): changing its password
//! and deleting it.

use xmpp_parsers::ibr::RemoveQuery;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, Jid};

use crate::account::AccountHandle;
use crate::error::{Error, Result};
use crate::net::register::{change_password_query, RegistrationError};

/// Changes the account's password on its server.
pub(crate) async fn change_password(
    handle: &AccountHandle,
    account: &BareJid,
    new_password: &str,
) -> Result<()> {
    let username = account.node().map(|n| n.to_string()).unwrap_or_default();
    let iq = Iq::from_set("chpw", change_password_query(&username, new_password))
        .with_to(Jid::from(account.domain().to_owned()));
    match handle.request(iq).await {
        Ok(_) => Ok(()),
        Err(Error::Stanza { condition, text }) => {
            Err(Error::Registration(RegistrationError::Refused {
                condition,
                text: text.unwrap_or_default(),
            }))
        }
        Err(e) => Err(e),
    }
}

/// Deletes the account on its server (`<remove/>`).
pub(crate) async fn remove(handle: &AccountHandle, account: &BareJid) -> Result<()> {
    let iq = Iq::from_set("unreg", RemoveQuery { remove: true })
        .with_to(Jid::from(account.domain().to_owned()));
    match handle.request(iq).await {
        // The server may close the stream before or right after answering.
        Ok(_) | Err(Error::NotConnected(_)) => Ok(()),
        Err(e) => Err(e),
    }
}
