//! Trust in OMEMO devices: what the user sees of this device and of a
//! contact's (fingerprints grouped as Conversations and Dino show them, the
//! trust in each), the user's decisions (trust, distrust, undecided),
//! verification by comparing a fingerprint or by an `xmpp:` trust URI (the
//! text of a QR code), and the removal of the user's own stale devices from
//! the published device list.
//!
//! Every decision ends in [`trust_changed`]; a device list or a key learned
//! ends in [`devices_changed`]: both tell the UI to read the devices again.

use serde::Serialize;
use tern_omemo::legacy_omemo::{Device, DeviceList};
use tern_omemo::{BareJid, DeviceAddress, DeviceInfo, Trust, TrustUri};
use xmpp_parsers::iq::Iq;

use crate::account::ctx::Ctx;
use crate::account::AccountHandle;
use crate::error::{Error, Result};
use crate::events::ClientEvent;
use crate::xep::omemo as codec;

/// How far the user trusts a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum DeviceTrust {
    /// Not decided yet: messages are not encrypted for it until the user
    /// decides (a new device of a contact with a verified device).
    Undecided,
    /// Trusted without verification (blind trust before verification).
    Trusted,
    /// The user compared its fingerprint or scanned its code.
    Verified,
    /// The user refused it: never encrypted for.
    Distrusted,
}

impl From<Trust> for DeviceTrust {
    fn from(t: Trust) -> Self {
        match t {
            Trust::Undecided => DeviceTrust::Undecided,
            Trust::Trusted => DeviceTrust::Trusted,
            Trust::Verified => DeviceTrust::Verified,
            Trust::Distrusted => DeviceTrust::Distrusted,
        }
    }
}

/// One OMEMO device of a contact or of the user's account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DeviceView {
    /// The OMEMO device id.
    pub device_id: u32,
    /// Its fingerprint in 8 groups of 8 lowercase hex characters, as
    /// Conversations and Dino show it; `None` while its key is unknown
    /// (no message from it yet, no session built with it).
    pub fingerprint: Option<String>,
    /// The user's trust in it.
    pub trust: DeviceTrust,
    /// Whether it is in the account's published device list (else it was
    /// removed there and is no longer encrypted for).
    pub active: bool,
    /// Whether an encryption session with it exists.
    pub has_session: bool,
}

impl From<DeviceInfo> for DeviceView {
    fn from(d: DeviceInfo) -> Self {
        DeviceView {
            device_id: d.address.device_id,
            fingerprint: d.fingerprint.as_deref().map(grouped),
            trust: d.trust.into(),
            active: d.active,
            has_session: d.has_session,
        }
    }
}

/// This device and the account's other devices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct OwnEncryptionView {
    /// Account.
    pub account: String,
    /// This device's OMEMO id.
    pub device_id: u32,
    /// This device's fingerprint, grouped as in [`DeviceView::fingerprint`].
    pub fingerprint: String,
    /// This device's trust URI (`xmpp:account?omemo-sid-<id>=<hex>`), what
    /// other clients scan from a QR code to verify it.
    pub uri: String,
    /// The account's other devices, as last seen in its device list.
    pub devices: Vec<DeviceView>,
    /// Why this device's keys are not published, in words, when the
    /// server refused them this session (contacts can then read what it
    /// sends encrypted, but cannot start encrypted conversations with it).
    pub problem: Option<String>,
}

/// What verifying with a trust URI did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct UriVerification {
    /// Whose devices the URI names (a contact, or the account itself).
    pub jid: String,
    /// Devices now verified.
    pub verified: Vec<u32>,
    /// Devices whose known key is not the one in the URI: left as they
    /// were. Someone may be impersonating them (or the code is old).
    pub mismatched: Vec<u32>,
}

/// An error of this service for the UI.
fn error(code: &str, message: impl Into<String>) -> Error {
    Error::EncryptionKeys {
        code: code.to_string(),
        message: message.into(),
    }
}

fn unavailable(e: tern_omemo::Error) -> Error {
    tracing::warn!("OMEMO state unavailable: {e}");
    error(
        "unavailable",
        format!("Tern could not read its encryption keys: {e}."),
    )
}

/// A 64-character fingerprint in 8 groups of 8.
pub(crate) fn grouped(hex: &str) -> String {
    hex.as_bytes()
        .chunks(8)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Devices in the order the UI lists them: those in use first, then by id.
fn sorted(devices: Vec<DeviceInfo>) -> Vec<DeviceView> {
    let mut out: Vec<DeviceView> = devices.into_iter().map(DeviceView::from).collect();
    out.sort_by_key(|d| (!d.active, d.device_id));
    out
}

/// This device and the account's other devices.
pub(crate) async fn own(ctx: &Ctx) -> Result<OwnEncryptionView> {
    let engine = ctx.omemo.engine(ctx).await.map_err(unavailable)?;
    let device_id = engine.own_device_id();
    let others = engine
        .devices(&ctx.own)
        .await
        .map_err(unavailable)?
        .into_iter()
        .filter(|d| d.address.device_id != device_id)
        .collect();
    Ok(OwnEncryptionView {
        account: ctx.account.clone(),
        device_id,
        fingerprint: tern_omemo::trust::fingerprint_grouped(&engine.own_identity_key()),
        uri: engine.own_trust_uri(),
        devices: sorted(others),
        problem: ctx.omemo.publish_problem().map(|e| {
            format!(
                "Your server refused to publish this device's encryption keys ({e}). Other \
                 apps cannot read what this device encrypts until it can, so your messages \
                 wait, unless you send one unencrypted. Tern tries again when you reconnect."
            )
        }),
    })
}

/// `jid`'s known devices (the account's other devices for the account).
pub(crate) async fn devices(ctx: &Ctx, jid: &BareJid) -> Result<Vec<DeviceView>> {
    let engine = ctx.omemo.engine(ctx).await.map_err(unavailable)?;
    let own_id = engine.own_device_id();
    let all = engine.devices(jid).await.map_err(unavailable)?;
    Ok(sorted(
        all.into_iter()
            .filter(|d| !(*jid == ctx.own && d.address.device_id == own_id))
            .collect(),
    ))
}

/// The user's decision on a device: trusted, distrusted, or undecided
/// again. Verifying takes a comparison ([`verify_fingerprint`],
/// [`verify_uri`]).
pub(crate) async fn set_trust(
    ctx: &Ctx,
    jid: &BareJid,
    device_id: u32,
    trust: DeviceTrust,
) -> Result<()> {
    let trust = match trust {
        DeviceTrust::Undecided => Trust::Undecided,
        DeviceTrust::Trusted => Trust::Trusted,
        DeviceTrust::Distrusted => Trust::Distrusted,
        DeviceTrust::Verified => {
            return Err(error(
                "verify_by_comparing",
                "A device is verified by comparing its fingerprint or scanning its code.",
            ))
        }
    };
    {
        let mut engine = ctx.omemo.engine(ctx).await.map_err(unavailable)?;
        let address = DeviceAddress::new(jid.clone(), device_id);
        match engine.set_trust(&address, trust).await {
            Ok(()) => {}
            Err(tern_omemo::Error::InvalidFingerprint) => return Err(unknown_key(device_id)),
            Err(e) => return Err(unavailable(e)),
        }
    }
    tracing::info!(account = %ctx.account, %jid, device_id, trust = trust.as_str(), "device trust set");
    trust_changed(ctx, jid).await;
    Ok(())
}

fn unknown_key(device_id: u32) -> Error {
    error(
        "unknown_key",
        format!(
            "Tern does not know the key of device {device_id} yet. It learns it from the \
             device's first encrypted message, or when it encrypts for it."
        ),
    )
}

/// Compares `fingerprint` (as the user typed or pasted it: any case,
/// spaces, with or without the `05` prefix) with the device's key: equal,
/// the device is verified. Returns whether it matched; a mismatch changes
/// nothing.
pub(crate) async fn verify_fingerprint(
    ctx: &Ctx,
    jid: &BareJid,
    device_id: u32,
    fingerprint: &str,
) -> Result<bool> {
    let matched = {
        let mut engine = ctx.omemo.engine(ctx).await.map_err(unavailable)?;
        let address = DeviceAddress::new(jid.clone(), device_id);
        let known = engine
            .devices(jid)
            .await
            .map_err(unavailable)?
            .into_iter()
            .any(|d| d.address.device_id == device_id && d.fingerprint.is_some());
        if !known {
            return Err(unknown_key(device_id));
        }
        match engine.verify_fingerprint(&address, fingerprint).await {
            Ok(m) => m,
            Err(tern_omemo::Error::InvalidFingerprint) => {
                return Err(error(
                    "invalid_fingerprint",
                    "This is not an OMEMO fingerprint: it has 64 hexadecimal characters \
                     (0–9, a–f), usually in 8 groups of 8.",
                ))
            }
            Err(e) => return Err(unavailable(e)),
        }
    };
    if matched {
        tracing::info!(account = %ctx.account, %jid, device_id, "device verified by fingerprint");
        trust_changed(ctx, jid).await;
    } else {
        tracing::warn!(account = %ctx.account, %jid, device_id, "fingerprint does not match");
    }
    Ok(matched)
}

/// Verifies the devices an `xmpp:` trust URI names (pasted, or read from a
/// QR code): each whose known key matches, or whose key is not known yet,
/// becomes verified; one whose known key differs is reported and left as
/// it was.
pub(crate) async fn verify_uri(ctx: &Ctx, text: &str) -> Result<UriVerification> {
    let text = text.trim();
    let uri = TrustUri::parse(text).map_err(|_| not_a_trust_uri())?;
    if uri.devices.is_empty() {
        return Err(not_a_trust_uri());
    }
    let (verified, mismatched) = {
        let mut engine = ctx.omemo.engine(ctx).await.map_err(unavailable)?;
        let own_id = engine.own_device_id();
        if uri.jid == ctx.own && uri.devices.iter().any(|(id, _)| *id == own_id) {
            // This device's own code: nothing to verify (and its key is not
            // a device record).
            if uri.devices.len() == 1 {
                return Err(error(
                    "this_device",
                    "This is the code of this device. Scan or paste the code another device shows.",
                ));
            }
        }
        let only_others = TrustUri {
            jid: uri.jid.clone(),
            devices: uri
                .devices
                .iter()
                .filter(|(id, _)| !(uri.jid == ctx.own && *id == own_id))
                .copied()
                .collect(),
        };
        engine
            .verify_uri(&only_others.to_uri())
            .await
            .map_err(|e| match e {
                tern_omemo::Error::InvalidFingerprint => not_a_trust_uri(),
                e => unavailable(e),
            })?
    };
    let outcome = UriVerification {
        jid: uri.jid.to_string(),
        verified: verified.iter().map(|a| a.device_id).collect(),
        mismatched: mismatched.iter().map(|a| a.device_id).collect(),
    };
    if !outcome.mismatched.is_empty() {
        tracing::warn!(account = %ctx.account, jid = %uri.jid, devices = ?outcome.mismatched, "trust URI does not match the known keys");
    }
    if !outcome.verified.is_empty() {
        tracing::info!(account = %ctx.account, jid = %uri.jid, devices = ?outcome.verified, "devices verified by URI");
        trust_changed(ctx, &uri.jid).await;
    }
    Ok(outcome)
}

fn not_a_trust_uri() -> Error {
    error(
        "not_a_trust_uri",
        "This is not a verification code. It starts with “xmpp:” and holds the device \
         fingerprints, as Tern, Conversations and Dino show it under their QR code.",
    )
}

/// Removes another device of the account from the published device list
/// (one the user no longer uses): the list is read from the server, that
/// device left out, this device kept, and published. Contacts' clients
/// then stop encrypting for it.
pub(crate) async fn remove_own_device(handle: &AccountHandle, device_id: u32) -> Result<()> {
    let ctx = handle.ctx();
    let own_id = ctx
        .omemo
        .engine(ctx)
        .await
        .map_err(unavailable)?
        .own_device_id();
    if device_id == own_id {
        return Err(error(
            "this_device",
            "This is the device Tern runs on; it cannot remove itself.",
        ));
    }
    let current = match handle.request(codec::devicelist_request(None)).await {
        Ok(Iq::Result {
            payload: Some(p), ..
        }) => codec::read_devicelist_answer(p),
        Ok(_) => None,
        Err(Error::Stanza { condition, .. }) if condition == "item-not-found" => None,
        Err(e) => return Err(e),
    };
    let current = current.unwrap_or(DeviceList {
        devices: Vec::new(),
    });
    let list = without_device(&current, device_id, own_id);
    if list != current {
        let open = codec::publish_devicelist(&list, true);
        let plain = codec::publish_devicelist(&list, false);
        super::pep::publish_open(handle, codec::NODE_DEVICELIST, open, plain).await?;
        tracing::info!(account = %ctx.account, device_id, "own device removed from the device list");
    }
    // Applied here at once (the server's notification of it follows).
    if let Err(e) = ctx.omemo.receive_device_list(ctx, &ctx.own, &list).await {
        tracing::warn!(account = %ctx.account, "own device list refused: {e}");
    }
    devices_changed(ctx, &ctx.own);
    Ok(())
}

/// `list` without `device_id`, with `own_id` in it.
fn without_device(list: &DeviceList, device_id: u32, own_id: u32) -> DeviceList {
    let mut devices: Vec<Device> = list
        .devices
        .iter()
        .filter(|d| d.id != device_id)
        .cloned()
        .collect();
    if !devices.iter().any(|d| d.id == own_id) {
        devices.push(Device { id: own_id });
    }
    DeviceList { devices }
}

/// After every trust decision on `jid`'s devices: the UI reads them again.
pub(crate) async fn trust_changed(ctx: &Ctx, jid: &BareJid) {
    devices_changed(ctx, jid);
}

/// `jid`'s devices changed (a device list arrived, a key was learned, a
/// decision was taken): the UI reads them again.
pub(crate) fn devices_changed(ctx: &Ctx, jid: &BareJid) {
    ctx.hub.emit(ClientEvent::EncryptionDevices {
        account: ctx.account.clone(),
        jid: jid.to_string(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::ctx::tests::ctx_with;
    use tern_omemo::keys::KeyPair;
    use tern_omemo::{DeviceRecord, Store};

    fn bob() -> BareJid {
        "bob@example.org".parse().unwrap()
    }

    /// A device of bob's with a key, as after a session was built.
    async fn known_device(ctx: &Ctx, id: u32, trust: Trust) -> tern_omemo::keys::PublicKey {
        let key = KeyPair::generate(&mut rand::rngs::OsRng).public;
        ctx.store
            .omemo(&ctx.own)
            .store_device(&DeviceRecord {
                address: DeviceAddress::new(bob(), id),
                identity_key: Some(key),
                trust,
                active: true,
            })
            .await
            .unwrap();
        key
    }

    fn events_of(rx: &mut tokio::sync::broadcast::Receiver<ClientEvent>) -> Vec<ClientEvent> {
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    #[test]
    fn fingerprints_are_grouped_by_eight() {
        let hex = "015dda9fceabdeef00074b280d3d0e5712834c75c569f6eb4a758da7b2221019";
        assert_eq!(
            grouped(hex),
            "015dda9f ceabdeef 00074b28 0d3d0e57 12834c75 c569f6eb 4a758da7 b2221019"
        );
    }

    #[test]
    fn a_stale_device_leaves_and_this_one_stays() {
        let list = DeviceList {
            devices: vec![Device { id: 1 }, Device { id: 2 }],
        };
        let ids = |l: &DeviceList| l.devices.iter().map(|d| d.id).collect::<Vec<_>>();
        assert_eq!(ids(&without_device(&list, 2, 1)), vec![1]);
        assert_eq!(ids(&without_device(&list, 2, 9)), vec![1, 9]);
        assert_eq!(ids(&without_device(&list, 5, 1)), vec![1, 2]);
    }

    #[tokio::test]
    async fn decisions_are_kept_and_announced() {
        let (_d, ctx) = ctx_with(&[]).await;
        let (_, mut rx) = ctx.hub.subscribe();
        known_device(&ctx, 7, Trust::Trusted).await;
        set_trust(&ctx, &bob(), 7, DeviceTrust::Distrusted)
            .await
            .unwrap();
        let list = devices(&ctx, &bob()).await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].trust, DeviceTrust::Distrusted);
        assert_eq!(list[0].fingerprint.as_ref().map(|f| f.len()), Some(71));
        assert_eq!(
            events_of(&mut rx),
            vec![ClientEvent::EncryptionDevices {
                account: ctx.account.clone(),
                jid: "bob@example.org".into()
            }]
        );
        set_trust(&ctx, &bob(), 7, DeviceTrust::Undecided)
            .await
            .unwrap();
        assert_eq!(
            devices(&ctx, &bob()).await.unwrap()[0].trust,
            DeviceTrust::Undecided
        );
        // Verified only by comparing; a device without a key cannot be
        // decided on.
        let e = set_trust(&ctx, &bob(), 7, DeviceTrust::Verified)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::EncryptionKeys { code, .. } if code == "verify_by_comparing"),
            "{e:?}"
        );
        let e = set_trust(&ctx, &bob(), 8, DeviceTrust::Trusted)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::EncryptionKeys { code, .. } if code == "unknown_key"),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn a_fingerprint_is_compared_without_spaces_or_case() {
        let (_d, ctx) = ctx_with(&[]).await;
        let key = known_device(&ctx, 7, Trust::Trusted).await;
        let other = KeyPair::generate(&mut rand::rngs::OsRng).public;
        let wrong = tern_omemo::trust::fingerprint(&other);
        assert!(!verify_fingerprint(&ctx, &bob(), 7, &wrong).await.unwrap());
        assert_eq!(
            devices(&ctx, &bob()).await.unwrap()[0].trust,
            DeviceTrust::Trusted,
            "a mismatch changes nothing"
        );
        let typed = tern_omemo::trust::fingerprint_grouped(&key).to_uppercase();
        assert!(verify_fingerprint(&ctx, &bob(), 7, &typed).await.unwrap());
        assert_eq!(
            devices(&ctx, &bob()).await.unwrap()[0].trust,
            DeviceTrust::Verified
        );
        let e = verify_fingerprint(&ctx, &bob(), 7, "not hex")
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::EncryptionKeys { code, .. } if code == "invalid_fingerprint"),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn a_uri_verifies_matching_keys_and_reports_others() {
        let (_d, ctx) = ctx_with(&[]).await;
        let key = known_device(&ctx, 7, Trust::Trusted).await;
        let shown = known_device(&ctx, 8, Trust::Trusted).await;
        let other = KeyPair::generate(&mut rand::rngs::OsRng).public;
        let uri = TrustUri {
            jid: bob(),
            devices: vec![(7, key), (8, other), (9, other)],
        }
        .to_uri();
        let (_, mut rx) = ctx.hub.subscribe();
        let outcome = verify_uri(&ctx, &format!("  {uri}\n")).await.unwrap();
        assert_eq!(
            outcome,
            UriVerification {
                jid: "bob@example.org".into(),
                verified: vec![7, 9],
                mismatched: vec![8],
            }
        );
        assert_eq!(events_of(&mut rx).len(), 1);
        let list = devices(&ctx, &bob()).await.unwrap();
        let of = |id: u32| list.iter().find(|d| d.device_id == id).unwrap();
        assert_eq!(of(7).trust, DeviceTrust::Verified);
        assert_eq!(of(8).trust, DeviceTrust::Trusted, "left as it was");
        assert_eq!(
            of(8).fingerprint.as_deref(),
            Some(tern_omemo::trust::fingerprint_grouped(&shown).as_str())
        );
        assert_eq!(of(9).trust, DeviceTrust::Verified);
        assert!(!of(9).active, "not in a device list yet");

        for text in ["hello", "https://example.org", "xmpp:bob@example.org"] {
            let e = verify_uri(&ctx, text).await.unwrap_err();
            assert!(
                matches!(&e, Error::EncryptionKeys { code, .. } if code == "not_a_trust_uri"),
                "{text}: {e:?}"
            );
        }
    }

    #[tokio::test]
    async fn this_device_is_shown_and_not_listed_among_the_others() {
        let (_d, ctx) = ctx_with(&[]).await;
        let view = own(&ctx).await.unwrap();
        assert_eq!(view.fingerprint.len(), 71);
        assert!(view.uri.starts_with(&format!(
            "xmpp:{}?omemo-sid-{}=",
            ctx.account, view.device_id
        )));
        assert_eq!(
            view.uri.rsplit('=').next().unwrap(),
            view.fingerprint.replace(' ', "")
        );
        assert!(view.devices.is_empty());
        let e = verify_uri(&ctx, &view.uri).await.unwrap_err();
        assert!(
            matches!(&e, Error::EncryptionKeys { code, .. } if code == "this_device"),
            "{e:?}"
        );
        ctx.omemo
            .receive_device_list(
                &ctx,
                &ctx.own,
                &DeviceList {
                    devices: vec![Device { id: 5 }, Device { id: 4 }],
                },
            )
            .await
            .unwrap();
        let view = own(&ctx).await.unwrap();
        let ids: Vec<u32> = view.devices.iter().map(|d| d.device_id).collect();
        assert_eq!(ids, vec![4, 5]);
        assert!(view
            .devices
            .iter()
            .all(|d| d.active && d.fingerprint.is_none()));
    }
}
