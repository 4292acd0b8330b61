//! This device on the user's PEP service (XEP-0163): the device list and
//! the bundle, published at each session start, again whenever they change
//! (pre-keys used, another client dropped this device from the list), and
//! the device lists the server pushes.
//!
//! Both are published readable by anyone (`pubsub#access_model` open, as
//! OMEMO asks: contacts fetch bundles without a subscription). A server
//! that refuses publish-options gets a plain publish and then the node's
//! configuration changed to the open model.

use tern_omemo::legacy_omemo::DeviceList;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;

use crate::account::AccountHandle;
use crate::error::Error;
use crate::xep::omemo as codec;

/// At each new session: this device's identity loaded (created on first
/// use), the signed pre-key rotated when due, the device list read and
/// published with this device in it when it lacks it, and the bundle
/// published.
pub(crate) async fn start(handle: &AccountHandle) {
    let ctx = handle.ctx();
    let device_id = {
        let mut engine = match ctx.omemo.engine(ctx).await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(account = %ctx.account, "OMEMO unavailable: {e}");
                return;
            }
        };
        match engine
            .rotate_signed_pre_key_if_due(crate::account::ctx::now_ms() as u64 / 1000)
            .await
        {
            Ok(events) => ctx.omemo.note(&events),
            Err(e) => tracing::warn!(account = %ctx.account, "signed pre-key rotation failed: {e}"),
        }
        engine.own_device_id()
    };
    // The current list: others' devices are kept, this one added.
    let current = match handle.request(codec::devicelist_request(None)).await {
        Ok(Iq::Result {
            payload: Some(p), ..
        }) => Some(codec::read_devicelist_answer(p)),
        Ok(_) => Some(None),
        // No list yet.
        Err(Error::Stanza { condition, .. }) if condition == "item-not-found" => Some(None),
        Err(e) => {
            // Publishing now could drop the user's other devices.
            tracing::warn!(account = %ctx.account, "own device list not read: {e}");
            None
        }
    };
    if let Some(current) = current {
        let list = match &current {
            Some(list) => {
                if let Err(e) = ctx.omemo.receive_device_list(ctx, &ctx.own, list).await {
                    tracing::warn!(account = %ctx.account, "own device list refused: {e}");
                }
                list.devices
                    .iter()
                    .all(|d| d.id != device_id)
                    .then(|| with_device(list, device_id))
            }
            None => Some(with_device(
                &DeviceList {
                    devices: Vec::new(),
                },
                device_id,
            )),
        };
        // `receive_device_list` asked for the same list: published here
        // (and the bundle below).
        for jid in &ctx.omemo.take_pending().devices_changed {
            super::trust::devices_changed(ctx, jid);
        }
        if let Some(list) = list {
            publish_device_list(handle, &list).await;
        }
    }
    publish_bundle(handle).await;
}

/// `list` with `device_id` added.
fn with_device(list: &DeviceList, device_id: u32) -> DeviceList {
    let mut list = list.clone();
    if !list.devices.iter().any(|d| d.id == device_id) {
        list.devices
            .push(tern_omemo::legacy_omemo::Device { id: device_id });
    }
    list
}

/// For as long as the session lasts: publishes what changed (see
/// `OmemoState::note`).
pub(crate) async fn maintain(handle: AccountHandle) {
    let ctx = handle.ctx();
    loop {
        ctx.omemo.wake.notified().await;
        let pending = ctx.omemo.take_pending();
        if let Some(list) = pending.device_list {
            publish_device_list(&handle, &list).await;
        }
        if pending.bundle {
            publish_bundle(&handle).await;
        }
        for jid in &pending.devices_changed {
            super::trust::devices_changed(ctx, jid);
        }
        for device in &pending.repair {
            super::send::repair(&handle, device).await;
        }
    }
}

/// A device list the server pushed (XEP-0163 notification): the user's own
/// (from the bare account JID) or a contact's; strangers' are not kept.
pub(crate) async fn on_device_list(handle: &AccountHandle, from: &Jid, list: DeviceList) {
    let ctx = handle.ctx();
    if from.resource().is_some() {
        tracing::debug!(%from, "device list from a full address ignored");
        return;
    }
    let jid = from.to_bare();
    if jid != ctx.own && !ctx.knows(jid.as_str()).await {
        tracing::debug!(%from, "device list from outside the roster ignored");
        return;
    }
    if let Err(e) = ctx.omemo.receive_device_list(ctx, &jid, &list).await {
        tracing::info!(%from, "device list refused: {e}");
        return;
    }
    // Messages waiting for this contact's keys (all of them, when the
    // user's own devices changed) may go now. The router runs in the
    // account task, which takes the command: sent from beside it.
    let peer = (jid != ctx.own).then(|| jid.to_string());
    let h = handle.clone();
    tokio::spawn(async move { h.release_held(peer).await });
}

async fn publish_device_list(handle: &AccountHandle, list: &DeviceList) {
    let ctx = handle.ctx();
    let open = codec::publish_devicelist(list, true);
    let plain = codec::publish_devicelist(list, false);
    let outcome = publish_open(handle, codec::NODE_DEVICELIST, open, plain).await;
    match &outcome {
        Ok(()) => {
            tracing::info!(account = %ctx.account, devices = list.devices.len(), "OMEMO device list published")
        }
        Err(e) => tracing::warn!(account = %ctx.account, "OMEMO device list not published: {e}"),
    }
    note_published(handle, codec::NODE_DEVICELIST, outcome);
}

/// Tells the user (through the account's own encryption view) when the
/// server refuses this device's keys, and when that is over; then the
/// messages that waited for it go (see `send::seal`).
fn note_published(handle: &AccountHandle, node: &str, outcome: Result<(), Error>) {
    let ctx = handle.ctx();
    if ctx
        .omemo
        .published(node, outcome.map_err(|e| e.to_string()))
    {
        ctx.hub.emit(crate::events::ClientEvent::EncryptionDevices {
            account: ctx.account.clone(),
            jid: ctx.own.to_string(),
        });
        if ctx.omemo.publish_problem().is_none() {
            let h = handle.clone();
            tokio::spawn(async move { h.release_held(None).await });
        }
    }
}

async fn publish_bundle(handle: &AccountHandle) {
    let ctx = handle.ctx();
    let (device_id, bundle) = {
        let engine = match ctx.omemo.engine(ctx).await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(account = %ctx.account, "OMEMO unavailable: {e}");
                return;
            }
        };
        let bundle = engine.own_bundle().await;
        (engine.own_device_id(), bundle)
    };
    let bundle = match bundle {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(account = %ctx.account, "OMEMO bundle not made: {e}");
            return;
        }
    };
    let open = codec::publish_bundle(device_id, &bundle, true);
    let plain = codec::publish_bundle(device_id, &bundle, false);
    let node = codec::bundle_node(device_id);
    let outcome = publish_open(handle, &node, open, plain).await;
    match &outcome {
        Ok(()) => {
            tracing::info!(account = %ctx.account, device = device_id, "OMEMO bundle published")
        }
        Err(e) => tracing::warn!(account = %ctx.account, "OMEMO bundle not published: {e}"),
    }
    note_published(handle, "bundle", outcome);
}

/// Publishes with the open access model; a server that refuses the
/// publish-options (or whose node has another model: `conflict`, with
/// `precondition-not-met`) gets a plain publish, then the node configured
/// open.
pub(crate) async fn publish_open(
    handle: &AccountHandle,
    node: &str,
    open: Iq,
    plain: Iq,
) -> Result<(), Error> {
    match handle.request(open).await {
        Ok(_) => Ok(()),
        Err(Error::Stanza { condition, .. })
            if matches!(
                condition.as_str(),
                "conflict" | "not-acceptable" | "bad-request" | "feature-not-implemented"
            ) =>
        {
            tracing::info!(
                node,
                "publish-options refused ({condition}); publishing plainly"
            );
            handle.request(plain).await?;
            if let Err(e) = handle.request(codec::configure_open(node)).await {
                tracing::warn!(node, "access model not set to open: {e}");
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}
