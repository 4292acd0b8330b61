//! A conversation's end-to-end encryption (OMEMO): whether it is on, what
//! the next message does, and the user's choices for messages that wait
//! because they cannot be encrypted.

use serde::Serialize;

use crate::api::client::Client;
use crate::error::Result;
use crate::events::MessageView;
use crate::services::omemo::send;

/// A conversation's encryption, as its lock shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct EncryptionView {
    /// Account.
    pub account: String,
    /// The contact.
    pub peer: String,
    /// `omemo`: encrypted (decided by the user, or by the first encrypted
    /// message either way); `plain`: the user turned encryption off;
    /// `auto`: not decided yet (encrypted as soon as the contact is known
    /// to have encryption keys).
    pub mode: String,
    /// The conversation is a private group: a message is encrypted for
    /// every member's devices.
    pub group: bool,
    /// In a private group: how many members it has besides the user, when
    /// known.
    pub members: Option<u32>,
    /// Whether the next message goes encrypted; `None`: decided when it
    /// goes (the contact's keys are not known yet).
    pub next_encrypted: Option<bool>,
    /// The contact's devices a message is encrypted for now (in a group,
    /// all the members' devices).
    pub contact_devices: u32,
    /// The user's own other devices a message is encrypted for now.
    pub own_devices: u32,
    /// The contact's devices whose trust the user has not decided (nothing
    /// is encrypted for them until then).
    pub undecided: u32,
    /// Why the next message could not be encrypted (it would wait), in
    /// words, when that is so.
    pub problem: Option<String>,
}

impl Client {
    /// A conversation's encryption.
    pub async fn conversation_encryption(
        &self,
        account: &str,
        peer: &str,
    ) -> Result<EncryptionView> {
        let ctx = self.ctx(account).await?;
        Ok(send::view(&ctx, peer).await)
    }

    /// Turns a one-to-one conversation's encryption on or off for the
    /// messages sent from now on. Messages already waiting to be encrypted
    /// keep waiting (see [`Client::send_unencrypted`]).
    pub async fn set_conversation_encryption(
        &self,
        account: &str,
        peer: &str,
        encrypted: bool,
    ) -> Result<EncryptionView> {
        let ctx = self.ctx(account).await?;
        send::set_mode(&ctx, peer, encrypted).await?;
        if encrypted {
            if let Ok(h) = self.handle(account).await {
                h.release_held(Some(peer.to_string())).await;
            }
        }
        Ok(send::view(&ctx, peer).await)
    }

    /// Sends a message that waits because it cannot be encrypted, plain:
    /// only ever on this explicit choice.
    pub async fn send_unencrypted(&self, account: &str, message_id: i64) -> Result<MessageView> {
        let ctx = self.ctx(account).await?;
        let handle = self.handle(account).await.ok();
        Ok(send::send_unencrypted(&ctx, handle.as_ref(), message_id)
            .await?
            .into())
    }

    /// Tries again to encrypt the messages waiting in a conversation (its
    /// keys are fetched again).
    pub async fn retry_held(&self, account: &str, peer: &str) -> Result<()> {
        let handle = self.handle(account).await?;
        handle.release_held(Some(peer.to_string())).await;
        Ok(())
    }
}
