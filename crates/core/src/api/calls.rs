//! Voice calls: place, answer, decline, hang up, mute (see
//! `services::calls`). Every change comes as [`crate::ClientEvent::Call`].

use xmpp_parsers::jid::BareJid;

use crate::api::client::Client;
use crate::error::{Error, Result};
use crate::services::calls::CallView;

impl Client {
    /// Calls `peer` (a contact's bare JID) from `account`: every device of
    /// theirs rings until one answers, they decline, or a minute passes.
    pub async fn place_call(&self, account: &str, peer: &str) -> Result<CallView> {
        let handle = self.handle(account).await?;
        let peer = BareJid::new(peer.trim()).map_err(|e| Error::InvalidJid {
            input: peer.to_string(),
            detail: e.to_string(),
        })?;
        let servers = if self.calls().available() {
            crate::services::calls::ice_servers(&handle).await
        } else {
            Vec::new()
        };
        self.calls().place(&handle, &peer, servers)
    }

    /// Answers the incoming call `id`.
    pub fn accept_call(&self, id: &str) -> Result<()> {
        self.calls().accept(id)
    }

    /// Declines the incoming call `id`, withdraws an outgoing one nobody
    /// answered yet, or ends a call in progress.
    pub fn hang_up(&self, id: &str) -> Result<()> {
        self.calls().hang_up(id)
    }

    /// Mutes or unmutes the microphone in call `id`.
    pub fn set_call_muted(&self, id: &str, muted: bool) -> Result<()> {
        self.calls().set_muted(id, muted)
    }

    /// Opens the sound devices again through [`crate::CallMedia::devices`]
    /// (the user chose another microphone or speaker) for the running
    /// call, which goes on on them at once. Without a running call there is
    /// nothing to do: the next one opens the devices chosen then. Fails
    /// (`devices`, with words to show) when they cannot be opened; the call
    /// then keeps the ones it had.
    pub async fn reopen_call_devices(&self) -> Result<()> {
        let calls = self.calls().clone();
        tokio::task::spawn_blocking(move || calls.reopen_devices())
            .await
            .map_err(|_| Error::Internal("opening the sound devices stopped"))?
    }

    /// The running call (first) and the last ended ones.
    pub fn calls_now(&self) -> Vec<CallView> {
        self.calls().views()
    }

    /// Whether this build can make calls.
    pub fn calls_available(&self) -> bool {
        self.calls().available()
    }
}
