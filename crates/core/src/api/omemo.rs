//! The `Client` API for end-to-end encryption keys (OMEMO): this device's
//! fingerprint and code, a contact's devices, the user's trust decisions,
//! verification, and removing the account's stale devices.

use xmpp_parsers::jid::BareJid;

use crate::api::client::Client;
use crate::error::{Error, Result};
use crate::services::omemo::trust::{
    self, DeviceTrust, DeviceView, OwnEncryptionView, UriVerification,
};

fn bare(s: &str) -> Result<BareJid> {
    BareJid::new(s.trim()).map_err(|e| Error::InvalidJid {
        input: s.to_string(),
        detail: e.to_string(),
    })
}

impl Client {
    /// This device's OMEMO id, fingerprint and trust URI (for a QR code),
    /// and the account's other devices. Works offline; on an account's
    /// first use this creates its device.
    pub async fn own_encryption(&self, account: &str) -> Result<OwnEncryptionView> {
        trust::own(&self.ctx(account).await?).await
    }

    /// `jid`'s OMEMO devices as known here (from its device list and the
    /// messages and sessions seen), those in use first.
    /// [`crate::ClientEvent::EncryptionDevices`] tells when they change.
    pub async fn encryption_devices(&self, account: &str, jid: &str) -> Result<Vec<DeviceView>> {
        let ctx = self.ctx(account).await?;
        trust::devices(&ctx, &bare(jid)?).await
    }

    /// The user's decision on one of `jid`'s devices: trusted, distrusted,
    /// or undecided again (verifying takes [`Client::verify_fingerprint`]
    /// or [`Client::verify_encryption_uri`]).
    pub async fn set_device_trust(
        &self,
        account: &str,
        jid: &str,
        device_id: u32,
        trust: DeviceTrust,
    ) -> Result<()> {
        let ctx = self.ctx(account).await?;
        let jid = bare(jid)?;
        trust::set_trust(&ctx, &jid, device_id, trust).await?;
        self.trust_decided(account, &jid).await;
        Ok(())
    }

    /// After a trust decision: messages waiting because nothing of `jid`
    /// could be encrypted for are tried again (all of them for the user's
    /// own devices).
    async fn trust_decided(&self, account: &str, jid: &BareJid) {
        if let Ok(h) = self.handle(account).await {
            let peer = (jid.as_str() != account).then(|| jid.to_string());
            h.release_held(peer).await;
        }
    }

    /// Verifies the devices an `xmpp:` trust URI names (`xmpp:jid?omemo-sid-
    /// <id>=<fingerprint>;…`, pasted or read from a QR code). A device
    /// whose known key differs is reported in `mismatched` and left as it
    /// was.
    pub async fn verify_encryption_uri(
        &self,
        account: &str,
        text: &str,
    ) -> Result<UriVerification> {
        let result = trust::verify_uri(&self.ctx(account).await?, text).await?;
        if let Ok(h) = self.handle(account).await {
            h.release_held(None).await;
        }
        Ok(result)
    }

    /// Compares a fingerprint the user has (read out, pasted; spaces and
    /// case ignored) with the device's key: verified when equal. Returns
    /// whether it matched; a mismatch changes nothing.
    pub async fn verify_fingerprint(
        &self,
        account: &str,
        jid: &str,
        device_id: u32,
        fingerprint: &str,
    ) -> Result<bool> {
        let ctx = self.ctx(account).await?;
        let jid = bare(jid)?;
        let matched = trust::verify_fingerprint(&ctx, &jid, device_id, fingerprint).await?;
        if matched {
            self.trust_decided(account, &jid).await;
        }
        Ok(matched)
    }

    /// Removes another device of the account from its published OMEMO
    /// device list (one no longer used; never this device). The account
    /// must be connected.
    pub async fn remove_own_device(&self, account: &str, device_id: u32) -> Result<()> {
        trust::remove_own_device(&self.handle(account).await?, device_id).await
    }
}
