//! Tauri commands: each takes the [`Shell`] state, calls the engine and
//! returns a type from [`crate::boundary`]. No logic beyond that lives here.

use tauri::State;
use tern_core::{FilePrefs, PhotoQuality};

use crate::boundary::{
    checked_link, picture_upload, AccountRequest, CallView, CallsView, ContactForm, ContactView,
    ConversationView, DeviceTrust, DeviceView, Draft, EncryptionView, Listed, MessageView,
    OccupantView, OwnEncryptionView, ProfileView, QrCode, RoomInfoView, RoomKind, RoomListing,
    RoomMember, RoomNotify, RoomView, SearchHit, ServerSettings, SignUpForm, SignUpValues,
    SnapshotView, UiError, UriVerification, VCardView,
};
use crate::sound::{CallDevicesView, DeviceChoice};
use crate::Shell;

type Reply<T = ()> = Result<T, UiError>;

/// The current state and the number of the last event it includes. (Async,
/// like every command here, so that nothing runs on the window's thread.)
#[tauri::command]
#[specta::specta]
pub async fn snapshot(shell: State<'_, Shell>) -> Reply<SnapshotView> {
    shell.client().await?;
    Ok(shell.snapshot_view())
}

/// Adds an account and connects it; returns its bare JID.
#[tauri::command]
#[specta::specta]
pub async fn add_account(shell: State<'_, Shell>, account: AccountRequest) -> Reply<String> {
    Ok(shell.client().await?.add_account(account.into()).await?)
}

/// Disconnects and forgets an account (it stays on the server).
#[tauri::command]
#[specta::specta]
pub async fn remove_account(shell: State<'_, Shell>, jid: String) -> Reply {
    Ok(shell.client().await?.remove_account(&jid).await?)
}

/// Connects (enabled) or disconnects (disabled) an account.
#[tauri::command]
#[specta::specta]
pub async fn set_enabled(shell: State<'_, Shell>, jid: String, enabled: bool) -> Reply {
    Ok(shell.client().await?.set_enabled(&jid, enabled).await?)
}

/// Stores a new password for an account (after "wrong password") and retries.
#[tauri::command]
#[specta::specta]
pub async fn set_password(shell: State<'_, Shell>, jid: String, password: String) -> Reply {
    Ok(shell.client().await?.set_password(&jid, &password).await?)
}

/// Trusts the certificate with this SHA-256 for the account and retries.
#[tauri::command]
#[specta::specta]
pub async fn pin_certificate(shell: State<'_, Shell>, jid: String, sha256: String) -> Reply {
    Ok(shell.client().await?.pin_certificate(&jid, &sha256).await?)
}

/// Accepts the weaker sign-in Tern refused for the account (the server no
/// longer offers the mechanism or channel binding it offered before) and
/// retries.
#[tauri::command]
#[specta::specta]
pub async fn accept_weaker_sign_in(shell: State<'_, Shell>, jid: String) -> Reply {
    Ok(shell.client().await?.accept_weaker_sign_in(&jid).await?)
}

/// Retries now (skips a backoff wait or retries after a failure).
#[tauri::command]
#[specta::specta]
pub async fn reconnect(shell: State<'_, Shell>, jid: String) -> Reply {
    Ok(shell.client().await?.reconnect(&jid).await?)
}

/// Changes the password on the server, then in the keychain.
#[tauri::command]
#[specta::specta]
pub async fn change_password(shell: State<'_, Shell>, jid: String, new_password: String) -> Reply {
    Ok(shell
        .client()
        .await?
        .change_password(&jid, &new_password)
        .await?)
}

/// Deletes the account on its server, then removes it from Tern.
#[tauri::command]
#[specta::specta]
pub async fn delete_account_on_server(shell: State<'_, Shell>, jid: String) -> Reply {
    Ok(shell.client().await?.delete_account_on_server(&jid).await?)
}

/// Asks `domain` for its sign-up form and keeps the session open for
/// [`registration_submit`].
#[tauri::command]
#[specta::specta]
pub async fn registration_start(
    shell: State<'_, Shell>,
    domain: String,
    server: ServerSettings,
) -> Reply<SignUpForm> {
    let registration = shell
        .client()
        .await?
        .start_registration(&domain, server.into())
        .await?;
    let form = SignUpForm::from(registration.form());
    *shell.registration.lock().await = Some(registration);
    Ok(form)
}

/// Sends the filled-in sign-up form. On success the account exists on the
/// server; the UI then adds it with [`add_account`].
#[tauri::command]
#[specta::specta]
pub async fn registration_submit(shell: State<'_, Shell>, values: SignUpValues) -> Reply {
    let registration = shell.registration.lock().await.take().ok_or_else(|| {
        UiError::new(
            "registration_expired",
            "The sign-up form has expired. Load it again.",
        )
    })?;
    Ok(registration.submit(&values).await?)
}

/// Closes an open sign-up session.
#[tauri::command]
#[specta::specta]
pub async fn registration_cancel(shell: State<'_, Shell>) -> Reply {
    shell.registration.lock().await.take();
    Ok(())
}

/// All conversations, most recent first.
#[tauri::command]
#[specta::specta]
pub async fn conversations(shell: State<'_, Shell>) -> Reply<Listed<ConversationView>> {
    let seq = shell.seq();
    let (items, _) = shell.client().await?.subscribe_conversations().await?;
    Ok(Listed { seq, items })
}

/// The newest `limit` messages of a conversation, oldest first.
#[tauri::command]
#[specta::specta]
pub async fn timeline(
    shell: State<'_, Shell>,
    account: String,
    peer: String,
    limit: i64,
) -> Reply<Listed<MessageView>> {
    let seq = shell.seq();
    let items = shell
        .client()
        .await?
        .timeline(&account, &peer, None, limit)
        .await?;
    Ok(Listed { seq, items })
}

/// Up to `limit` messages before the message `before` (from the archive
/// when the local history runs out), oldest first.
#[tauri::command]
#[specta::specta]
pub async fn load_older(
    shell: State<'_, Shell>,
    account: String,
    peer: String,
    before: Option<i64>,
    limit: i64,
) -> Reply<Vec<MessageView>> {
    Ok(shell
        .client()
        .await?
        .load_older(&account, &peer, before, limit)
        .await?)
}

/// Up to `limit` messages after the message `after`, oldest first.
#[tauri::command]
#[specta::specta]
pub async fn load_newer(
    shell: State<'_, Shell>,
    account: String,
    peer: String,
    after: i64,
    limit: i64,
) -> Reply<Vec<MessageView>> {
    Ok(shell
        .client()
        .await?
        .load_newer(&account, &peer, after, limit)
        .await?)
}

/// Sends a message; it is stored first and sent when connected.
#[tauri::command]
#[specta::specta]
pub async fn send_message(shell: State<'_, Shell>, draft: Draft) -> Reply<MessageView> {
    Ok(shell
        .client()
        .await?
        .send_message(&draft.account, &draft.peer, &draft.body, draft.reply_to)
        .await?)
}

/// Corrects one of the user's messages.
#[tauri::command]
#[specta::specta]
pub async fn correct_message(
    shell: State<'_, Shell>,
    account: String,
    id: i64,
    body: String,
) -> Reply<MessageView> {
    Ok(shell
        .client()
        .await?
        .correct_message(&account, id, &body)
        .await?)
}

/// Retracts one of the user's messages.
#[tauri::command]
#[specta::specta]
pub async fn retract_message(
    shell: State<'_, Shell>,
    account: String,
    id: i64,
) -> Reply<MessageView> {
    Ok(shell.client().await?.retract_message(&account, id).await?)
}

/// Deletes a conversation on this computer.
#[tauri::command]
#[specta::specta]
pub async fn delete_conversation(shell: State<'_, Shell>, account: String, peer: String) -> Reply {
    shell
        .client()
        .await?
        .delete_conversation(&account, &peer)
        .await?;
    Ok(())
}

/// Sends a message that could not be sent again.
#[tauri::command]
#[specta::specta]
pub async fn resend_message(
    shell: State<'_, Shell>,
    account: String,
    id: i64,
) -> Reply<MessageView> {
    Ok(shell.client().await?.resend_message(&account, id).await?)
}

/// A one-to-one conversation's encryption, as its lock shows it.
#[tauri::command]
#[specta::specta]
pub async fn conversation_encryption(
    shell: State<'_, Shell>,
    account: String,
    peer: String,
) -> Reply<EncryptionView> {
    Ok(shell
        .client()
        .await?
        .conversation_encryption(&account, &peer)
        .await?)
}

/// Turns a one-to-one conversation's encryption on or off for the messages
/// sent from now on.
#[tauri::command]
#[specta::specta]
pub async fn set_conversation_encryption(
    shell: State<'_, Shell>,
    account: String,
    peer: String,
    encrypted: bool,
) -> Reply<EncryptionView> {
    Ok(shell
        .client()
        .await?
        .set_conversation_encryption(&account, &peer, encrypted)
        .await?)
}

/// Sends a message that waits because it cannot be encrypted, unencrypted
/// (the user's explicit choice).
#[tauri::command]
#[specta::specta]
pub async fn send_unencrypted(
    shell: State<'_, Shell>,
    account: String,
    id: i64,
) -> Reply<MessageView> {
    Ok(shell.client().await?.send_unencrypted(&account, id).await?)
}

/// Tries again to encrypt the messages waiting in a conversation.
#[tauri::command]
#[specta::specta]
pub async fn retry_held(shell: State<'_, Shell>, account: String, peer: String) -> Reply {
    Ok(shell.client().await?.retry_held(&account, &peer).await?)
}

/// Sets the user's reactions to a message (empty removes them).
#[tauri::command]
#[specta::specta]
pub async fn react(
    shell: State<'_, Shell>,
    account: String,
    id: i64,
    emojis: Vec<String>,
) -> Reply<MessageView> {
    Ok(shell.client().await?.react(&account, id, &emojis).await?)
}

/// Marks a conversation read (and tells the peer).
#[tauri::command]
#[specta::specta]
pub async fn mark_read(shell: State<'_, Shell>, account: String, peer: String) -> Reply {
    Ok(shell.client().await?.mark_read(&account, &peer).await?)
}

/// Tells the peer whether the user is typing (`composing`, `paused`, ...).
#[tauri::command]
#[specta::specta]
pub async fn send_chat_state(
    shell: State<'_, Shell>,
    account: String,
    peer: String,
    state: String,
) -> Reply {
    Ok(shell
        .client()
        .await?
        .send_chat_state(&account, &peer, &state)
        .await?)
}

/// Full-text search over stored messages.
#[tauri::command]
#[specta::specta]
pub async fn search(
    shell: State<'_, Shell>,
    query: String,
    account: Option<String>,
    limit: i64,
) -> Reply<Vec<SearchHit>> {
    let hits = shell
        .client()
        .await?
        .search(&query, account.as_deref(), limit)
        .await?;
    Ok(hits
        .into_iter()
        .map(|(message, snippet)| SearchHit { message, snippet })
        .collect())
}

/// An account's contacts with their presence.
#[tauri::command]
#[specta::specta]
pub async fn roster(shell: State<'_, Shell>, account: String) -> Reply<Listed<ContactView>> {
    let seq = shell.seq();
    let (items, _) = shell.client().await?.subscribe_roster(&account).await?;
    Ok(Listed { seq, items })
}

/// Adds a contact and asks to see their presence.
#[tauri::command]
#[specta::specta]
pub async fn add_contact(shell: State<'_, Shell>, contact: ContactForm) -> Reply {
    Ok(shell
        .client()
        .await?
        .add_contact(
            &contact.account,
            &contact.jid,
            contact.name(),
            &contact.groups(),
        )
        .await?)
}

/// Renames a contact or changes its groups.
#[tauri::command]
#[specta::specta]
pub async fn rename_contact(shell: State<'_, Shell>, contact: ContactForm) -> Reply {
    Ok(shell
        .client()
        .await?
        .rename_contact(
            &contact.account,
            &contact.jid,
            contact.name(),
            &contact.groups(),
        )
        .await?)
}

/// Removes a contact.
#[tauri::command]
#[specta::specta]
pub async fn remove_contact(shell: State<'_, Shell>, account: String, jid: String) -> Reply {
    Ok(shell.client().await?.remove_contact(&account, &jid).await?)
}

/// Lets `jid` see the account's presence.
#[tauri::command]
#[specta::specta]
pub async fn approve_subscription(shell: State<'_, Shell>, account: String, jid: String) -> Reply {
    shell
        .client()
        .await?
        .approve_subscription(&account, &jid)
        .await?;
    Ok(())
}

/// Refuses `jid`'s request to see the account's presence.
#[tauri::command]
#[specta::specta]
pub async fn deny_subscription(shell: State<'_, Shell>, account: String, jid: String) -> Reply {
    shell
        .client()
        .await?
        .deny_subscription(&account, &jid)
        .await?;
    Ok(())
}

/// Stops seeing `jid`'s presence.
#[tauri::command]
#[specta::specta]
pub async fn cancel_subscription(shell: State<'_, Shell>, account: String, jid: String) -> Reply {
    Ok(shell
        .client()
        .await?
        .cancel_subscription(&account, &jid)
        .await?)
}

/// Sets the account's own presence.
#[tauri::command]
#[specta::specta]
pub async fn set_presence(
    shell: State<'_, Shell>,
    account: String,
    show: String,
    status: Option<String>,
) -> Reply {
    Ok(shell
        .client()
        .await?
        .set_presence(&account, &show, status.as_deref())
        .await?)
}

/// Blocks an address.
#[tauri::command]
#[specta::specta]
pub async fn block(shell: State<'_, Shell>, account: String, jid: String) -> Reply {
    shell.client().await?.block(&account, &jid).await?;
    Ok(())
}

/// Unblocks an address.
#[tauri::command]
#[specta::specta]
pub async fn unblock(shell: State<'_, Shell>, account: String, jid: String) -> Reply {
    Ok(shell.client().await?.unblock(&account, &jid).await?)
}

/// Opens a web or xmpp: link from a message in the system's handler.
#[tauri::command]
#[specta::specta]
pub async fn open_link(url: String) -> Reply {
    let url = checked_link(&url)?;
    crate::links::open(url)
        .map_err(|e| UiError::new("open_failed", format!("Tern could not open the link: {e}.")))
}

/// What is stored of someone's avatar and nickname.
#[tauri::command]
#[specta::specta]
pub async fn profile(shell: State<'_, Shell>, account: String, jid: String) -> Reply<ProfileView> {
    Ok(shell.client().await?.profile(&account, &jid).await?)
}

/// Makes the picture sent as the raw request body the account's avatar
/// (the account in the `Tern-Account` header, percent-encoded; the part to
/// use in `Tern-Crop`); returns
/// the new avatar's hash. The bytes never pass through JSON.
#[tauri::command]
#[specta::specta]
pub async fn set_avatar(
    shell: State<'_, Shell>,
    request: crate::boundary::RawRequest<'_>,
) -> Reply<Option<String>> {
    let request = request.0;
    let up = picture_upload(request.body(), request.headers())?;
    Ok(shell
        .client()
        .await?
        .set_avatar(&up.account, Some(up.picture), up.crop)
        .await?)
}

/// Removes the account's avatar.
#[tauri::command]
#[specta::specta]
pub async fn remove_avatar(shell: State<'_, Shell>, account: String) -> Reply {
    shell
        .client()
        .await?
        .set_avatar(&account, None, None)
        .await?;
    Ok(())
}

/// Publishes the account's nickname; blank clears it.
#[tauri::command]
#[specta::specta]
pub async fn set_nickname(
    shell: State<'_, Shell>,
    account: String,
    nickname: Option<String>,
) -> Reply {
    let nickname = nickname.as_deref().map(str::trim).filter(|n| !n.is_empty());
    Ok(shell
        .client()
        .await?
        .set_nickname(&account, nickname)
        .await?)
}

/// Fetches someone's vCard (the account's own when `jid` is the account).
#[tauri::command]
#[specta::specta]
pub async fn vcard(shell: State<'_, Shell>, account: String, jid: String) -> Reply<VCardView> {
    Ok(shell.client().await?.vcard(&account, &jid).await?)
}

/// The conversation the window shows (none: both `None`); no notification
/// is shown for it while the window has the focus.
#[tauri::command]
#[specta::specta]
pub async fn set_open_conversation(
    shell: State<'_, Shell>,
    account: Option<String>,
    peer: Option<String>,
) -> Reply {
    shell.notifier.set_open(account.zip(peer));
    Ok(())
}

/// The desktop settings the user chose.
#[tauri::command]
#[specta::specta]
pub async fn set_desktop_settings(
    window: tauri::WebviewWindow,
    shell: State<'_, Shell>,
    settings: crate::boundary::DesktopSettings,
) -> Reply {
    shell
        .notifier
        .configure(settings.notifications, settings.notification_text);
    shell
        .close_to_tray
        .store(settings.close_to_tray, std::sync::atomic::Ordering::Relaxed);
    crate::spelling::apply(&window, settings.spell_check);
    Ok(())
}

/// The `xmpp:` link Tern was started with (or the newest that came before
/// the window asked), once; later links come as events.
#[tauri::command]
#[specta::specta]
pub async fn take_pending_uri(shell: State<'_, Shell>) -> Reply<Option<crate::uri::XmppUri>> {
    Ok(shell.links.take())
}

/// The user is scrolling or typing: background history waits until they
/// have been quiet for a moment.
#[tauri::command]
#[specta::specta]
pub async fn user_active(shell: State<'_, Shell>) -> Reply {
    if let Some(client) = shell.client_now() {
        client.user_active();
    }
    Ok(())
}

/// Joins a group chat (`room@service` or an `xmpp:…?join` link); resolves
/// once the user is in, rejects saying why not.
#[tauri::command]
#[specta::specta]
pub async fn join_room(
    shell: State<'_, Shell>,
    account: String,
    room: String,
    nick: Option<String>,
    password: Option<String>,
) -> Reply<RoomView> {
    Ok(shell
        .client()
        .await?
        .join_room(&account, &room, nick.as_deref(), password.as_deref())
        .await?)
}

/// Creates a group chat (a private group or a public channel) and joins it.
#[tauri::command]
#[specta::specta]
pub async fn create_room(
    shell: State<'_, Shell>,
    account: String,
    name: String,
    address: Option<String>,
    kind: RoomKind,
) -> Reply<RoomView> {
    Ok(shell
        .client()
        .await?
        .create_room(&account, &name, address.as_deref(), kind)
        .await?)
}

/// An address for a new group chat named `name` on the account's server.
#[tauri::command]
#[specta::specta]
pub async fn suggest_room_address(
    shell: State<'_, Shell>,
    account: String,
    name: String,
) -> Reply<String> {
    Ok(shell
        .client()
        .await?
        .suggest_room_address(&account, &name)
        .await?)
}

/// Leaves a group chat; `forget` also removes its bookmark.
#[tauri::command]
#[specta::specta]
pub async fn leave_room(
    shell: State<'_, Shell>,
    account: String,
    room: String,
    forget: bool,
) -> Reply {
    Ok(shell
        .client()
        .await?
        .leave_room(&account, &room, forget)
        .await?)
}

/// Who is in a group chat.
#[tauri::command]
#[specta::specta]
pub async fn room_occupants(
    shell: State<'_, Shell>,
    account: String,
    room: String,
) -> Reply<Vec<OccupantView>> {
    Ok(shell
        .client()
        .await?
        .room_occupants(&account, &room)
        .await?)
}

/// What a group chat says about itself (before joining).
#[tauri::command]
#[specta::specta]
pub async fn room_info(
    shell: State<'_, Shell>,
    account: String,
    room: String,
) -> Reply<RoomInfoView> {
    Ok(shell.client().await?.room_info(&account, &room).await?)
}

/// The group chats the account's server lists.
#[tauri::command]
#[specta::specta]
pub async fn browse_rooms(shell: State<'_, Shell>, account: String) -> Reply<Vec<RoomListing>> {
    Ok(shell.client().await?.browse_rooms(&account).await?)
}

/// Changes the user's nickname in a group chat.
#[tauri::command]
#[specta::specta]
pub async fn change_room_nick(
    shell: State<'_, Shell>,
    account: String,
    room: String,
    nick: String,
) -> Reply {
    Ok(shell
        .client()
        .await?
        .change_room_nick(&account, &room, &nick)
        .await?)
}

/// Changes a group chat's subject.
#[tauri::command]
#[specta::specta]
pub async fn set_room_subject(
    shell: State<'_, Shell>,
    account: String,
    room: String,
    subject: String,
) -> Reply {
    Ok(shell
        .client()
        .await?
        .set_room_subject(&account, &room, &subject)
        .await?)
}

/// Removes an occupant from a group chat.
#[tauri::command]
#[specta::specta]
pub async fn kick_occupant(
    shell: State<'_, Shell>,
    account: String,
    room: String,
    nick: String,
    reason: Option<String>,
) -> Reply {
    Ok(shell
        .client()
        .await?
        .kick_occupant(&account, &room, &nick, reason.as_deref())
        .await?)
}

/// Bans someone from a group chat.
#[tauri::command]
#[specta::specta]
pub async fn ban_user(
    shell: State<'_, Shell>,
    account: String,
    room: String,
    jid: String,
    reason: Option<String>,
) -> Reply {
    Ok(shell
        .client()
        .await?
        .ban_user(&account, &room, &jid, reason.as_deref())
        .await?)
}

/// Sets an occupant's role (`participant` gives voice, `visitor` takes it).
#[tauri::command]
#[specta::specta]
pub async fn set_occupant_role(
    shell: State<'_, Shell>,
    account: String,
    room: String,
    nick: String,
    role: String,
) -> Reply {
    Ok(shell
        .client()
        .await?
        .set_occupant_role(&account, &room, &nick, &role)
        .await?)
}

/// Sets someone's affiliation with a group chat (owner, admin, member, none).
#[tauri::command]
#[specta::specta]
pub async fn set_affiliation(
    shell: State<'_, Shell>,
    account: String,
    room: String,
    jid: String,
    affiliation: String,
    reason: Option<String>,
) -> Reply {
    Ok(shell
        .client()
        .await?
        .set_affiliation(&account, &room, &jid, &affiliation, reason.as_deref())
        .await?)
}

/// Removes someone's message from a group chat for everyone.
#[tauri::command]
#[specta::specta]
pub async fn moderate_message(
    shell: State<'_, Shell>,
    account: String,
    id: i64,
    reason: Option<String>,
) -> Reply<MessageView> {
    Ok(shell
        .client()
        .await?
        .moderate_message(&account, id, reason.as_deref())
        .await?)
}

/// Destroys a group chat (its owner).
#[tauri::command]
#[specta::specta]
pub async fn destroy_room(
    shell: State<'_, Shell>,
    account: String,
    room: String,
    reason: Option<String>,
) -> Reply {
    Ok(shell
        .client()
        .await?
        .destroy_room(&account, &room, reason.as_deref())
        .await?)
}

/// Invites people to a group chat.
#[tauri::command]
#[specta::specta]
pub async fn invite_to_room(
    shell: State<'_, Shell>,
    account: String,
    room: String,
    jids: Vec<String>,
    reason: Option<String>,
) -> Reply {
    Ok(shell
        .client()
        .await?
        .invite_to_room(&account, &room, &jids, reason.as_deref())
        .await?)
}

/// Accepts an invitation: joins the group chat.
#[tauri::command]
#[specta::specta]
pub async fn accept_invitation(
    shell: State<'_, Shell>,
    account: String,
    room: String,
) -> Reply<RoomView> {
    Ok(shell
        .client()
        .await?
        .accept_invitation(&account, &room)
        .await?)
}

/// Declines an invitation.
#[tauri::command]
#[specta::specta]
pub async fn decline_invitation(shell: State<'_, Shell>, account: String, room: String) -> Reply {
    Ok(shell
        .client()
        .await?
        .decline_invitation(&account, &room)
        .await?)
}

/// Which messages of a group chat notify.
#[tauri::command]
#[specta::specta]
pub async fn set_room_notify(
    shell: State<'_, Shell>,
    account: String,
    room: String,
    notify: RoomNotify,
) -> Reply<RoomView> {
    Ok(shell
        .client()
        .await?
        .set_room_notify(&account, &room, notify)
        .await?)
}

/// Whether a group chat is joined at each sign-in.
#[tauri::command]
#[specta::specta]
pub async fn set_room_autojoin(
    shell: State<'_, Shell>,
    account: String,
    room: String,
    autojoin: bool,
) -> Reply<RoomView> {
    Ok(shell
        .client()
        .await?
        .set_room_autojoin(&account, &room, autojoin)
        .await?)
}

/// Renames a group chat and sets its kind (its owner).
#[tauri::command]
#[specta::specta]
pub async fn configure_room(
    shell: State<'_, Shell>,
    account: String,
    room: String,
    name: String,
    kind: RoomKind,
) -> Reply<RoomView> {
    Ok(shell
        .client()
        .await?
        .configure_room(&account, &room, &name, kind)
        .await?)
}

/// Everyone with an affiliation with a group chat (for its admins).
#[tauri::command]
#[specta::specta]
pub async fn room_members(
    shell: State<'_, Shell>,
    account: String,
    room: String,
) -> Reply<Vec<RoomMember>> {
    Ok(shell.client().await?.room_members(&account, &room).await?)
}

/// Whether the account can send files, and up to what size (asks the
/// server once per session).
#[tauri::command]
#[specta::specta]
pub async fn upload_service(
    shell: State<'_, Shell>,
    account: String,
) -> Reply<tern_core::UploadView> {
    Ok(shell.client().await?.upload_service(&account).await?)
}

/// Sends files the user picked or dropped (see [`pick_files`]), one
/// message each, then `caption` as a text message; `quality` for photos in
/// this send (else the user's choice in Settings).
#[tauri::command]
#[specta::specta]
pub async fn send_files(
    shell: State<'_, Shell>,
    account: String,
    peer: String,
    paths: Vec<String>,
    caption: Option<String>,
    quality: Option<PhotoQuality>,
) -> Reply<Vec<MessageView>> {
    let paths = shell.offered.check(&paths)?;
    send_with_quality(&shell, &account, &peer, &paths, caption.as_deref(), quality).await
}

/// Sends `paths` with photos made as `quality` asks (else as the user
/// chose in Settings).
async fn send_with_quality(
    shell: &Shell,
    account: &str,
    peer: &str,
    paths: &[std::path::PathBuf],
    caption: Option<&str>,
    quality: Option<PhotoQuality>,
) -> Reply<Vec<MessageView>> {
    let client = shell.client().await?;
    Ok(client
        .send_files(account, peer, paths, caption, quality)
        .await?)
}

/// Sends a pasted file: its bytes as the raw request body, the account,
/// conversation and name in the `Tern-Account`, `Tern-Peer` and `Tern-Name`
/// headers (percent-encoded), optionally `Tern-Caption` and `Tern-Quality`.
/// It is written to a private file in the data folder for the engine to
/// read, and removed once sent. The bytes never pass through JSON.
#[tauri::command]
#[specta::specta]
pub async fn send_pasted_file(
    shell: State<'_, Shell>,
    request: crate::boundary::RawRequest<'_>,
) -> Reply<Vec<MessageView>> {
    let request = request.0;
    let pasted = crate::files::pasted(request.body(), request.headers())?;
    let dir = shell.client().await?.data_dir().to_path_buf();
    let file = crate::files::PasteFile::write(&dir, &pasted.name, &pasted.bytes).map_err(|e| {
        UiError::new(
            "unreadable",
            format!("Tern could not keep the pasted file to send it: {e}."),
        )
    })?;
    send_with_quality(
        &shell,
        &pasted.account,
        &pasted.peer,
        std::slice::from_ref(&file.path),
        pasted.caption.as_deref(),
        pasted.quality,
    )
    .await
}

/// Stops a file's upload or download.
#[tauri::command]
#[specta::specta]
pub async fn cancel_transfer(shell: State<'_, Shell>, account: String, message_id: i64) -> Reply {
    Ok(shell
        .client()
        .await?
        .cancel_transfer(&account, message_id)
        .await?)
}

/// Downloads a received file (again).
#[tauri::command]
#[specta::specta]
pub async fn download_file(
    shell: State<'_, Shell>,
    account: String,
    message_id: i64,
) -> Reply<MessageView> {
    Ok(shell
        .client()
        .await?
        .download_file(&account, message_id)
        .await?)
}

/// Opens a file's local copy in the system's app for its type (never a
/// program or script).
#[tauri::command]
#[specta::specta]
pub async fn open_file(shell: State<'_, Shell>, account: String, message_id: i64) -> Reply {
    let path = shell
        .client()
        .await?
        .file_path(&account, message_id)
        .await?;
    crate::files::open(&path)
}

/// Shows a file's local copy in the system's file manager.
#[tauri::command]
#[specta::specta]
pub async fn show_file_in_folder(
    shell: State<'_, Shell>,
    account: String,
    message_id: i64,
) -> Reply {
    let path = shell
        .client()
        .await?
        .file_path(&account, message_id)
        .await?;
    crate::files::show_in_folder(&path).await
}

/// Asks where to save a copy of a file (the system's save dialog, with its
/// name), then copies it there. `false` when the user cancelled.
#[tauri::command]
#[specta::specta]
pub async fn save_file_as(
    window: tauri::WebviewWindow,
    shell: State<'_, Shell>,
    account: String,
    message_id: i64,
) -> Reply<bool> {
    use tauri_plugin_dialog::DialogExt;
    let from = shell
        .client()
        .await?
        .file_path(&account, message_id)
        .await?;
    let name = from
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (tx, rx) = tokio::sync::oneshot::channel();
    window
        .dialog()
        .file()
        .set_parent(&window)
        .set_title("Save a copy")
        .set_file_name(name)
        .save_file(move |to| {
            let _ = tx.send(to);
        });
    let Some(to) = rx.await.ok().flatten() else {
        return Ok(false);
    };
    let to = to
        .into_path()
        .map_err(|e| UiError::new("save_failed", format!("Tern could not save there: {e}.")))?;
    tauri::async_runtime::spawn_blocking(move || crate::files::copy_to(&from, &to))
        .await
        .map_err(|e| {
            UiError::new("save_failed", format!("Tern could not save the file: {e}."))
        })??;
    Ok(true)
}

/// Asks which files to send (the system's open dialog, several at once);
/// none when the user cancelled. Only files chosen here or dropped on the
/// window can be sent.
#[tauri::command]
#[specta::specta]
pub async fn pick_files(
    window: tauri::WebviewWindow,
    shell: State<'_, Shell>,
) -> Reply<Vec<crate::files::PickedFile>> {
    use tauri_plugin_dialog::DialogExt;
    let (tx, rx) = tokio::sync::oneshot::channel();
    window
        .dialog()
        .file()
        .set_parent(&window)
        .set_title("Send files")
        .pick_files(move |paths| {
            let _ = tx.send(paths);
        });
    let paths: Vec<std::path::PathBuf> = rx
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| p.into_path().ok())
        .collect();
    let files = tauri::async_runtime::spawn_blocking(move || {
        paths
            .iter()
            .filter_map(|p| crate::files::describe(p))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    shell
        .offered
        .add(files.iter().map(|f| std::path::PathBuf::from(&f.path)));
    Ok(files)
}

/// The account's files, sent and received, newest first: `limit` before
/// the message `before` (from the newest without).
#[tauri::command]
#[specta::specta]
pub async fn files(
    shell: State<'_, Shell>,
    account: String,
    before: Option<i64>,
    limit: u32,
) -> Reply<Vec<MessageView>> {
    Ok(shell.client().await?.files(&account, before, limit).await?)
}

/// The user's choices about files.
#[tauri::command]
#[specta::specta]
pub async fn file_prefs(shell: State<'_, Shell>) -> Reply<FilePrefs> {
    Ok(shell.client().await?.file_prefs())
}

/// Changes the user's choices about files and keeps them for next time.
#[tauri::command]
#[specta::specta]
pub async fn set_file_prefs(shell: State<'_, Shell>, prefs: FilePrefs) -> Reply {
    let client = shell.client().await?;
    let _held = shell.file_prefs.lock().await;
    client.set_file_prefs(prefs);
    let dir = client.data_dir().to_path_buf();
    tauri::async_runtime::spawn_blocking(move || crate::files::save_prefs(&dir, &prefs))
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
        .map_err(|e| {
            UiError::new(
                "save_failed",
                format!("Tern could not keep this choice for next time: {e}."),
            )
        })
}

/// This device's OMEMO fingerprint and trust URI, and the account's other
/// devices.
#[tauri::command]
#[specta::specta]
pub async fn own_encryption(shell: State<'_, Shell>, account: String) -> Reply<OwnEncryptionView> {
    Ok(shell.client().await?.own_encryption(&account).await?)
}

/// A contact's OMEMO devices (the account's own for the account).
#[tauri::command]
#[specta::specta]
pub async fn encryption_devices(
    shell: State<'_, Shell>,
    account: String,
    jid: String,
) -> Reply<Vec<DeviceView>> {
    Ok(shell
        .client()
        .await?
        .encryption_devices(&account, &jid)
        .await?)
}

/// Trusts, distrusts or un-decides one of a contact's devices.
#[tauri::command]
#[specta::specta]
pub async fn set_device_trust(
    shell: State<'_, Shell>,
    account: String,
    jid: String,
    device_id: u32,
    trust: DeviceTrust,
) -> Reply {
    Ok(shell
        .client()
        .await?
        .set_device_trust(&account, &jid, device_id, trust)
        .await?)
}

/// Verifies the devices an `xmpp:` trust URI (pasted or scanned) names.
#[tauri::command]
#[specta::specta]
pub async fn verify_encryption_uri(
    shell: State<'_, Shell>,
    account: String,
    text: String,
) -> Reply<UriVerification> {
    Ok(shell
        .client()
        .await?
        .verify_encryption_uri(&account, &text)
        .await?)
}

/// Verifies a device whose fingerprint the user compared; false when it
/// does not match.
#[tauri::command]
#[specta::specta]
pub async fn verify_fingerprint(
    shell: State<'_, Shell>,
    account: String,
    jid: String,
    device_id: u32,
    fingerprint: String,
) -> Reply<bool> {
    Ok(shell
        .client()
        .await?
        .verify_fingerprint(&account, &jid, device_id, &fingerprint)
        .await?)
}

/// Removes a stale device of the account from its OMEMO device list.
#[tauri::command]
#[specta::specta]
pub async fn remove_own_device(shell: State<'_, Shell>, account: String, device_id: u32) -> Reply {
    Ok(shell
        .client()
        .await?
        .remove_own_device(&account, device_id)
        .await?)
}

/// `text` (this device's trust URI) as a QR code for the window to draw.
#[tauri::command]
#[specta::specta]
pub async fn qr_code(text: String) -> Reply<QrCode> {
    crate::boundary::qr_code(&text)
}

/// Calls a contact (voice): every device of theirs rings.
#[tauri::command]
#[specta::specta]
pub async fn place_call(shell: State<'_, Shell>, account: String, peer: String) -> Reply<CallView> {
    Ok(shell.client().await?.place_call(&account, &peer).await?)
}

/// Answers the incoming call `id`.
#[tauri::command]
#[specta::specta]
pub async fn accept_call(shell: State<'_, Shell>, id: String) -> Reply<()> {
    Ok(shell.client().await?.accept_call(&id)?)
}

/// Declines the incoming call `id`, withdraws an unanswered outgoing one,
/// or ends the call in progress.
#[tauri::command]
#[specta::specta]
pub async fn hang_up(shell: State<'_, Shell>, id: String) -> Reply<()> {
    Ok(shell.client().await?.hang_up(&id)?)
}

/// Mutes or unmutes the microphone in call `id`.
#[tauri::command]
#[specta::specta]
pub async fn set_call_muted(shell: State<'_, Shell>, id: String, muted: bool) -> Reply<()> {
    Ok(shell.client().await?.set_call_muted(&id, muted)?)
}

/// The running call (first) and the last ended ones; and whether this
/// build can make calls at all.
#[tauri::command]
#[specta::specta]
pub async fn calls(shell: State<'_, Shell>) -> Reply<CallsView> {
    let client = shell.client().await?;
    Ok(CallsView {
        available: client.calls_available(),
        calls: client.calls_now(),
    })
}

/// The microphones and speakers there are, and the ones chosen for calls.
#[tauri::command]
#[specta::specta]
pub async fn call_devices(shell: State<'_, Shell>) -> Reply<CallDevicesView> {
    let sound = shell.sound.clone();
    tauri::async_runtime::spawn_blocking(move || sound.list())
        .await
        .map_err(|e| {
            UiError::new(
                "devices",
                format!("The sound devices could not be listed: {e}."),
            )
        })
}

/// Chooses the microphone and speaker for calls (none: the system
/// default, followed as it changes), kept for later starts; a running call
/// goes on on them at once. A device that is gone, or that cannot be
/// opened, is refused in words to show, and the call keeps what it had.
#[tauri::command]
#[specta::specta]
pub async fn set_call_devices(shell: State<'_, Shell>, choice: DeviceChoice) -> Reply {
    let client = shell.client().await?;
    let sound = shell.sound.clone();
    let before = tauri::async_runtime::spawn_blocking(move || {
        sound.check(&choice)?;
        Ok::<_, UiError>(sound.choose(choice))
    })
    .await
    .map_err(|e| {
        UiError::new(
            "devices",
            format!("The sound devices could not be changed: {e}."),
        )
    })??;
    if let Err(e) = client.reopen_call_devices().await {
        let sound = shell.sound.clone();
        let _ = tauri::async_runtime::spawn_blocking(move || sound.choose(before)).await;
        return Err(e.into());
    }
    Ok(())
}
