// The shell's commands and events (src-tauri/src/commands.rs, boundary.rs).
// Every call rejects with a `UiError { kind, message }`.

import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import type { ContactView, ConversationView, EventBatch, Listed, MessageView, ProfileView, SearchHit, Show, SnapshotView } from './engine';
import { cropHeader, type CropRect } from './crop';
import { headerValue, type VCardView } from './profile';
import type { SignUpForm, Values } from './signup';

export interface ServerSettings {
  host: string | null;
  port: number | null;
  direct_tls: boolean;
}

/** Desktop behaviour chosen in Settings (`DesktopSettings`). */
export interface DesktopSettings {
  notifications: boolean;
  notification_text: boolean;
  close_to_tray: boolean;
  spell_check: boolean;
}

/** An `xmpp:` link given to Tern (`XmppUri`). */
export interface XmppUri {
  jid: string;
  /** `message`, `roster`, `subscribe` or `join`. */
  action: string;
  body: string | null;
  name: string | null;
}

/** Events from the shell besides the engine's. */
export const EVENT_OPEN_CONVERSATION = 'tern://open-conversation';
export const EVENT_OPEN_URI = 'tern://open-uri';

export const noServerSettings = (): ServerSettings => ({ host: null, port: null, direct_tls: false });

/** Numbered engine events, in batches (`EventBatch`). */
export const EVENT_ENGINE = 'engine:events';
/** A fresh `SnapshotView` (the shell fell behind the engine's events). */
export const EVENT_RESYNC = 'engine:resync';

export const api = {
  snapshot: () => invoke<SnapshotView>('snapshot'),
  addAccount: (jid: string, password: string, server: ServerSettings) =>
    invoke<string>('add_account', { account: { jid, password, server } }),
  removeAccount: (jid: string) => invoke<void>('remove_account', { jid }),
  setEnabled: (jid: string, enabled: boolean) => invoke<void>('set_enabled', { jid, enabled }),
  setPassword: (jid: string, password: string) => invoke<void>('set_password', { jid, password }),
  pinCertificate: (jid: string, sha256: string) => invoke<void>('pin_certificate', { jid, sha256 }),
  reconnect: (jid: string) => invoke<void>('reconnect', { jid }),
  changePassword: (jid: string, newPassword: string) =>
    invoke<void>('change_password', { jid, new_password: newPassword }),
  deleteAccountOnServer: (jid: string) => invoke<void>('delete_account_on_server', { jid }),
  registrationStart: (domain: string, server: ServerSettings) =>
    invoke<SignUpForm>('registration_start', { domain, server }),
  registrationSubmit: (values: Values) => invoke<void>('registration_submit', { values }),
  registrationCancel: () => invoke<void>('registration_cancel'),

  conversations: () => invoke<Listed<ConversationView>>('conversations'),
  timeline: (account: string, peer: string, limit: number) =>
    invoke<Listed<MessageView>>('timeline', { account, peer, limit }),
  loadOlder: (account: string, peer: string, before: number | null, limit: number) =>
    invoke<MessageView[]>('load_older', { account, peer, before, limit }),
  loadNewer: (account: string, peer: string, after: number, limit: number) =>
    invoke<MessageView[]>('load_newer', { account, peer, after, limit }),
  sendMessage: (account: string, peer: string, body: string, replyTo: number | null) =>
    invoke<MessageView>('send_message', { draft: { account, peer, body, reply_to: replyTo } }),
  correctMessage: (account: string, id: number, body: string) =>
    invoke<MessageView>('correct_message', { account, id, body }),
  retractMessage: (account: string, id: number) => invoke<MessageView>('retract_message', { account, id }),
  resendMessage: (account: string, id: number) => invoke<MessageView>('resend_message', { account, id }),
  deleteConversation: (account: string, peer: string) => invoke<void>('delete_conversation', { account, peer }),
  react: (account: string, id: number, emojis: string[]) => invoke<MessageView>('react', { account, id, emojis }),
  markRead: (account: string, peer: string) => invoke<void>('mark_read', { account, peer }),
  sendChatState: (account: string, peer: string, state: 'active' | 'composing' | 'paused' | 'inactive' | 'gone') =>
    invoke<void>('send_chat_state', { account, peer, state }),
  search: (query: string, account: string | null, limit: number) =>
    invoke<SearchHit[]>('search', { query, account, limit }),

  roster: (account: string) => invoke<Listed<ContactView>>('roster', { account }),
  addContact: (account: string, jid: string, name: string | null, groups: string[]) =>
    invoke<void>('add_contact', { contact: { account, jid, name, groups } }),
  renameContact: (account: string, jid: string, name: string | null, groups: string[]) =>
    invoke<void>('rename_contact', { contact: { account, jid, name, groups } }),
  removeContact: (account: string, jid: string) => invoke<void>('remove_contact', { account, jid }),
  approveSubscription: (account: string, jid: string) => invoke<void>('approve_subscription', { account, jid }),
  denySubscription: (account: string, jid: string) => invoke<void>('deny_subscription', { account, jid }),
  cancelSubscription: (account: string, jid: string) => invoke<void>('cancel_subscription', { account, jid }),
  setPresence: (account: string, show: Show, status: string | null) =>
    invoke<void>('set_presence', { account, show, status }),
  block: (account: string, jid: string) => invoke<void>('block', { account, jid }),
  unblock: (account: string, jid: string) => invoke<void>('unblock', { account, jid }),
  openLink: (url: string) => invoke<void>('open_link', { url }),
  profile: (account: string, jid: string) => invoke<ProfileView>('profile', { account, jid }),
  /** Sends the picture as the raw request body (not JSON) with the part to
   *  use (else the engine takes the centred square); returns the new avatar's hash. */
  setAvatar: (account: string, picture: Uint8Array, crop: CropRect | null = null) =>
    invoke<string | null>('set_avatar', picture, {
      headers: { 'Tern-Account': headerValue(account), ...(crop ? { 'Tern-Crop': cropHeader(crop) } : {}) },
    }),
  removeAvatar: (account: string) => invoke<void>('remove_avatar', { account }),
  setNickname: (account: string, nickname: string | null) => invoke<void>('set_nickname', { account, nickname }),
  vcard: (account: string, jid: string) => invoke<VCardView>('vcard', { account, jid }),
  setOpenConversation: (account: string | null, peer: string | null) =>
    invoke<void>('set_open_conversation', { account, peer }),
  setDesktopSettings: (settings: DesktopSettings) => invoke<void>('set_desktop_settings', { settings }),
  takePendingUri: () => invoke<XmppUri | null>('take_pending_uri'),
};

/** Listens to batches of numbered engine events and to full resyncs. */
export async function listenEngine(
  onBatch: (b: EventBatch) => void,
  onResync: (v: SnapshotView) => void,
): Promise<UnlistenFn> {
  const a = await listen<EventBatch>(EVENT_ENGINE, (e) => onBatch(e.payload));
  const b = await listen<SnapshotView>(EVENT_RESYNC, (e) => onResync(e.payload));
  return () => {
    a();
    b();
  };
}

/** Listens to the shell's requests to open a conversation or an `xmpp:` link. */
export async function listenShell(
  onConversation: (c: { account: string; peer: string }) => void,
  onUri: (u: XmppUri) => void,
): Promise<UnlistenFn> {
  const a = await listen<{ account: string; peer: string }>(EVENT_OPEN_CONVERSATION, (e) => onConversation(e.payload));
  const b = await listen<XmppUri>(EVENT_OPEN_URI, (e) => onUri(e.payload));
  return () => {
    a();
    b();
  };
}
