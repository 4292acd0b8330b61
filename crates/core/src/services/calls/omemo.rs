//! DTLS fingerprints vouched for by OMEMO (`xep::omemo_dtls`, the draft
//! Conversations and Dino speak): in a conversation encrypted with OMEMO,
//! the callee names its device in the proceed; the caller encrypts its
//! fingerprint for that device with their session; the callee opens it,
//! and answers with its own fingerprint encrypted for the device that
//! encrypted the offer. A fingerprint that cannot be opened, or an answer
//! left plain after an encrypted offer, ends the call: it never falls back
//! to a fingerprint the servers could have replaced.

use serde::Serialize;
use tern_omemo::{BareJid, DeviceAddress, Trust};

use crate::account::ctx::Ctx;
use crate::outbound::intent::Encryption;
use crate::services::omemo::send::encryption_for;
use crate::xep::jingle::JingleIq;
use crate::xep::omemo_dtls::{self, OmemoFingerprint};

/// How the other side's DTLS fingerprint was vouched for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum CallVerification {
    /// As the servers passed it on (the other side did not encrypt it, or
    /// the call has not got that far).
    #[default]
    None,
    /// Encrypted with OMEMO by a device of the contact that the user has
    /// not verified (trusted blindly or undecided).
    Unverified,
    /// Encrypted with OMEMO by a device of the contact that the user
    /// verified: no server can be in the middle of this call.
    Verified,
}

/// The other side's fingerprints, opened.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Opened {
    /// The contact's device that encrypted them.
    pub(super) device: u32,
    /// What the user's trust in that device makes of it.
    pub(super) verification: CallVerification,
    /// That device's key fingerprint, in 8 groups of 8 hex characters.
    pub(super) fingerprint: Option<String>,
}

/// This device's OMEMO id when the conversation with `peer` is encrypted
/// (what the proceed announces, as Conversations does when OMEMO is on in
/// the chat).
pub(super) async fn own_device_for(ctx: &Ctx, peer: &str) -> Option<u32> {
    if encryption_for(ctx, peer).await != Encryption::Omemo {
        return None;
    }
    let engine = ctx.omemo.engine(ctx).await.ok()?;
    Some(engine.own_device_id())
}

/// Replaces every plain fingerprint of `j` by one encrypted for `device`
/// of `peer`. Fails (and leaves `j` as it was) when there is no session
/// with that device.
pub(super) async fn seal(
    ctx: &Ctx,
    peer: &BareJid,
    device: u32,
    j: &mut JingleIq,
) -> Result<(), String> {
    let address = DeviceAddress::new(peer.clone(), device);
    let mut sealed = Vec::new();
    {
        let mut engine = ctx.omemo.engine(ctx).await.map_err(|e| e.to_string())?;
        for c in &j.contents {
            let Some(f) = c.transport.as_ref().and_then(|t| t.fingerprint.as_ref()) else {
                sealed.push(None);
                continue;
            };
            let encrypted = engine
                .encrypt_for_device(&address, &omemo_dtls::plaintext(f))
                .await
                .map_err(|e| crate::services::omemo::reason(&e))?;
            sealed.push(Some(OmemoFingerprint {
                hash: f.hash.clone(),
                setup: f.setup,
                encrypted,
            }));
        }
    }
    for (c, s) in j.contents.iter_mut().zip(sealed) {
        if let (Some(t), Some(s)) = (c.transport.as_mut(), s) {
            t.fingerprint = None;
            t.omemo_fingerprint = Some(s);
        }
    }
    Ok(())
}

/// Whether some content of `j` carries an encrypted fingerprint.
pub(super) fn is_sealed(j: &JingleIq) -> bool {
    j.contents.iter().any(|c| {
        c.transport
            .as_ref()
            .is_some_and(|t| t.omemo_fingerprint.is_some())
    })
}

/// Opens the encrypted fingerprints of `j` from `peer` into its plain
/// ones. `Ok(None)` when none is encrypted. Every one must open, all with
/// the same device (`expected`, when the call already has one), and no
/// plain fingerprint may stand beside them (Conversations'
/// `OmemoVerification.setOrEnsureEqual`, `ensureNoPlaintextFingerprint`).
pub(super) async fn open(
    ctx: &Ctx,
    peer: &BareJid,
    j: &mut JingleIq,
    expected: Option<u32>,
) -> Result<Option<Opened>, String> {
    if !is_sealed(j) {
        return Ok(None);
    }
    let mut device: Option<u32> = expected;
    for c in j.contents.iter_mut() {
        let Some(t) = c.transport.as_mut() else {
            continue;
        };
        let Some(w) = t.omemo_fingerprint.take() else {
            if t.fingerprint.is_some() {
                return Err(format!(
                    "content {:?} carries a fingerprint that is not encrypted",
                    c.name
                ));
            }
            continue;
        };
        if t.fingerprint.is_some() {
            return Err(format!(
                "content {:?} carries a plain fingerprint beside the encrypted one",
                c.name
            ));
        }
        let sender = w.encrypted.header.sid;
        if device.is_some_and(|d| d != sender) {
            return Err(format!(
                "the fingerprint was encrypted by device {sender}, not by the device in this call"
            ));
        }
        let decrypted = ctx
            .omemo
            .decrypt(ctx, peer, &w.encrypted, true)
            .await
            .map_err(|e| crate::services::omemo::reason(&e))?;
        let Some(plaintext) = decrypted.plaintext else {
            return Err("the encrypted fingerprint has no payload".into());
        };
        let f = omemo_dtls::opened(&w, &plaintext)
            .ok_or_else(|| "the encrypted fingerprint is not a fingerprint".to_string())?;
        t.fingerprint = Some(f);
        device = Some(sender);
    }
    let Some(device) = device else {
        return Ok(None);
    };
    let known = {
        let engine = ctx.omemo.engine(ctx).await.map_err(|e| e.to_string())?;
        engine
            .device_trust(&DeviceAddress::new(peer.clone(), device))
            .await
            .map_err(|e| e.to_string())?
    };
    let (fingerprint, trust) = match known {
        Some((f, t)) => (Some(crate::services::omemo::trust::grouped(&f)), Some(t)),
        None => (None, None),
    };
    Ok(Some(Opened {
        device,
        verification: if trust == Some(Trust::Verified) {
            CallVerification::Verified
        } else {
            CallVerification::Unverified
        },
        fingerprint,
    }))
}
