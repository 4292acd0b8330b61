// The shell's commands and events (src-tauri/src/commands.rs, boundary.rs).
// Every call rejects with a `UiError { kind, message }`.

import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import type { DeviceChoice, DeviceTrust, EventBatch, FilePrefs, PhotoQuality, PickedFile, RoomKind, RoomNotify, Show, SnapshotView } from './engine';
import { cropHeader, type CropRect } from './crop';
import { headerValue } from './profile';
import type { Values } from './signup';
import {
  commands,
  EVENT_ENGINE,
  EVENT_FILE_DRAG,
  EVENT_OPEN_CONVERSATION,
  EVENT_OPEN_URI,
  EVENT_RESYNC,
  type DesktopSettings,
  type FileDrag,
  type ServerSettings,
  type XmppUri,
} from './generated/bindings';

export type { DesktopSettings, FileDrag, ServerSettings, XmppUri };
export { EVENT_ENGINE, EVENT_FILE_DRAG, EVENT_OPEN_CONVERSATION, EVENT_OPEN_URI, EVENT_RESYNC };

/** A command that answers nothing (`null`), as the UI awaits it. */
const done = (p: Promise<unknown>): Promise<void> => p.then(() => undefined);

export const noServerSettings = (): ServerSettings => ({ host: null, port: null, direct_tls: false });

/** The shell's commands, as the UI calls them. Each is the generated
 *  command (defined once, in Rust) with the arguments in the UI's shape. */
export const api = {
  snapshot: () => commands.snapshot(),
  addAccount: (jid: string, password: string, server: ServerSettings) =>
    commands.addAccount({ jid, password, server }),
  removeAccount: (jid: string) => done(commands.removeAccount(jid)),
  setEnabled: (jid: string, enabled: boolean) => done(commands.setEnabled(jid, enabled)),
  setPassword: (jid: string, password: string) => done(commands.setPassword(jid, password)),
  pinCertificate: (jid: string, sha256: string) => done(commands.pinCertificate(jid, sha256)),
  acceptWeakerSignIn: (jid: string) => done(commands.acceptWeakerSignIn(jid)),
  reconnect: (jid: string) => done(commands.reconnect(jid)),
  changePassword: (jid: string, newPassword: string) => done(commands.changePassword(jid, newPassword)),
  deleteAccountOnServer: (jid: string) => done(commands.deleteAccountOnServer(jid)),
  registrationStart: (domain: string, server: ServerSettings) => commands.registrationStart(domain, server),
  registrationSubmit: (values: Values) => done(commands.registrationSubmit(values)),
  registrationCancel: () => done(commands.registrationCancel()),

  conversations: () => commands.conversations(),
  timeline: (account: string, peer: string, limit: number) => commands.timeline(account, peer, limit),
  loadOlder: (account: string, peer: string, before: number | null, limit: number) =>
    commands.loadOlder(account, peer, before, limit),
  loadNewer: (account: string, peer: string, after: number, limit: number) =>
    commands.loadNewer(account, peer, after, limit),
  sendMessage: (account: string, peer: string, body: string, replyTo: number | null) =>
    commands.sendMessage({ account, peer, body, reply_to: replyTo }),
  correctMessage: (account: string, id: number, body: string) => commands.correctMessage(account, id, body),
  retractMessage: (account: string, id: number) => commands.retractMessage(account, id),
  resendMessage: (account: string, id: number) => commands.resendMessage(account, id),
  // A one-to-one conversation's end-to-end encryption (OMEMO).
  conversationEncryption: (account: string, peer: string) => commands.conversationEncryption(account, peer),
  setConversationEncryption: (account: string, peer: string, encrypted: boolean) =>
    commands.setConversationEncryption(account, peer, encrypted),
  /** Sends a message that waits because it cannot be encrypted, unencrypted (the user chose so). */
  sendUnencrypted: (account: string, id: number) => commands.sendUnencrypted(account, id),
  /** Tries again to encrypt the messages waiting in a conversation. */
  retryHeld: (account: string, peer: string) => done(commands.retryHeld(account, peer)),
  deleteConversation: (account: string, peer: string) => done(commands.deleteConversation(account, peer)),
  react: (account: string, id: number, emojis: string[]) => commands.react(account, id, emojis),
  markRead: (account: string, peer: string) => done(commands.markRead(account, peer)),
  sendChatState: (account: string, peer: string, state: 'active' | 'composing' | 'paused' | 'inactive' | 'gone') =>
    done(commands.sendChatState(account, peer, state)),
  search: (query: string, account: string | null, limit: number) => commands.search(query, account, limit),

  roster: (account: string) => commands.roster(account),
  addContact: (account: string, jid: string, name: string | null, groups: string[]) =>
    done(commands.addContact({ account, jid, name, groups })),
  renameContact: (account: string, jid: string, name: string | null, groups: string[]) =>
    done(commands.renameContact({ account, jid, name, groups })),
  removeContact: (account: string, jid: string) => done(commands.removeContact(account, jid)),
  approveSubscription: (account: string, jid: string) => done(commands.approveSubscription(account, jid)),
  denySubscription: (account: string, jid: string) => done(commands.denySubscription(account, jid)),
  cancelSubscription: (account: string, jid: string) => done(commands.cancelSubscription(account, jid)),
  setPresence: (account: string, show: Show, status: string | null) => done(commands.setPresence(account, show, status)),
  block: (account: string, jid: string) => done(commands.block(account, jid)),
  unblock: (account: string, jid: string) => done(commands.unblock(account, jid)),
  openLink: (url: string) => done(commands.openLink(url)),
  profile: (account: string, jid: string) => commands.profile(account, jid),
  /** Sends the picture as the raw request body (not JSON) with the part to
   *  use (else the engine takes the centred square); returns the new
   *  avatar's hash. (The generated `setAvatar` cannot carry a body.) */
  setAvatar: (account: string, picture: Uint8Array, crop: CropRect | null = null) =>
    invoke<Awaited<ReturnType<typeof commands.setAvatar>>>('set_avatar', picture, {
      headers: { 'Tern-Account': headerValue(account), ...(crop ? { 'Tern-Crop': cropHeader(crop) } : {}) },
    }),
  removeAvatar: (account: string) => done(commands.removeAvatar(account)),
  setNickname: (account: string, nickname: string | null) => done(commands.setNickname(account, nickname)),
  vcard: (account: string, jid: string) => commands.vcard(account, jid),
  setOpenConversation: (account: string | null, peer: string | null) => done(commands.setOpenConversation(account, peer)),
  setDesktopSettings: (settings: DesktopSettings) => done(commands.setDesktopSettings(settings)),
  takePendingUri: () => commands.takePendingUri(),
  /** The user scrolls or types: the engine pauses background history fetching (see activity.ts). */
  userActive: () => done(commands.userActive()),

  // Group chats (XEP-0045).
  joinRoom: (account: string, room: string, nick: string | null, password: string | null) => commands.joinRoom(account, room, nick, password),
  createRoom: (account: string, name: string, address: string | null, kind: RoomKind) => commands.createRoom(account, name, address, kind),
  suggestRoomAddress: (account: string, name: string) => commands.suggestRoomAddress(account, name),
  leaveRoom: (account: string, room: string, forget: boolean) => done(commands.leaveRoom(account, room, forget)),
  roomOccupants: (account: string, room: string) => commands.roomOccupants(account, room),
  roomInfo: (account: string, room: string) => commands.roomInfo(account, room),
  browseRooms: (account: string) => commands.browseRooms(account),
  changeRoomNick: (account: string, room: string, nick: string) => done(commands.changeRoomNick(account, room, nick)),
  setRoomSubject: (account: string, room: string, subject: string) => done(commands.setRoomSubject(account, room, subject)),
  kickOccupant: (account: string, room: string, nick: string, reason: string | null) => done(commands.kickOccupant(account, room, nick, reason)),
  banUser: (account: string, room: string, jid: string, reason: string | null) => done(commands.banUser(account, room, jid, reason)),
  setOccupantRole: (account: string, room: string, nick: string, role: string) => done(commands.setOccupantRole(account, room, nick, role)),
  setAffiliation: (account: string, room: string, jid: string, affiliation: string, reason: string | null) =>
    done(commands.setAffiliation(account, room, jid, affiliation, reason)),
  moderateMessage: (account: string, id: number, reason: string | null) => commands.moderateMessage(account, id, reason),
  destroyRoom: (account: string, room: string, reason: string | null) => done(commands.destroyRoom(account, room, reason)),
  configureRoom: (account: string, room: string, name: string, kind: RoomKind) => commands.configureRoom(account, room, name, kind),
  roomMembers: (account: string, room: string) => commands.roomMembers(account, room),
  inviteToRoom: (account: string, room: string, jids: string[], reason: string | null) => done(commands.inviteToRoom(account, room, jids, reason)),
  acceptInvitation: (account: string, room: string) => commands.acceptInvitation(account, room),
  declineInvitation: (account: string, room: string) => done(commands.declineInvitation(account, room)),
  setRoomNotify: (account: string, room: string, notify: RoomNotify) => commands.setRoomNotify(account, room, notify),
  setRoomAutojoin: (account: string, room: string, autojoin: boolean) => commands.setRoomAutojoin(account, room, autojoin),

  // Files.
  uploadService: (account: string) => commands.uploadService(account),
  /** The system's open dialog; the files chosen (none when cancelled). */
  pickFiles: () => commands.pickFiles(),
  /** Sends files from `pickFiles` or a drop, then the caption as a message. */
  sendFiles: (account: string, peer: string, paths: string[], caption: string | null, quality: PhotoQuality | null) =>
    commands.sendFiles(account, peer, paths, caption, quality),
  /** Sends pasted bytes as the raw request body (not JSON), named `name`.
   *  (The generated `sendPastedFile` cannot carry a body.) */
  sendPastedFile: (account: string, peer: string, name: string, bytes: Uint8Array, caption: string | null, quality: PhotoQuality | null) =>
    invoke<Awaited<ReturnType<typeof commands.sendPastedFile>>>('send_pasted_file', bytes, {
      headers: {
        'Tern-Account': headerValue(account),
        'Tern-Peer': headerValue(peer),
        'Tern-Name': headerValue(name),
        ...(caption?.trim() ? { 'Tern-Caption': headerValue(caption) } : {}),
        ...(quality ? { 'Tern-Quality': quality } : {}),
      },
    }),
  cancelTransfer: (account: string, id: number) => done(commands.cancelTransfer(account, id)),
  downloadFile: (account: string, id: number) => commands.downloadFile(account, id),
  openFile: (account: string, id: number) => done(commands.openFile(account, id)),
  showFileInFolder: (account: string, id: number) => done(commands.showFileInFolder(account, id)),
  /** The system's save dialog, then a copy; false when the user cancelled. */
  saveFileAs: (account: string, id: number) => commands.saveFileAs(account, id),
  files: (account: string, before: number | null, limit: number) => commands.files(account, before, limit),
  filePrefs: () => commands.filePrefs(),

  // End-to-end encryption keys (OMEMO).
  ownEncryption: (account: string) => commands.ownEncryption(account),
  encryptionDevices: (account: string, jid: string) => commands.encryptionDevices(account, jid),
  setDeviceTrust: (account: string, jid: string, deviceId: number, trust: DeviceTrust) =>
    done(commands.setDeviceTrust(account, jid, deviceId, trust)),
  /** Verifies the devices a pasted or scanned `xmpp:` code names. */
  verifyEncryptionUri: (account: string, text: string) => commands.verifyEncryptionUri(account, text),
  /** Verifies a device whose fingerprint the user compared; false when it does not match. */
  verifyFingerprint: (account: string, jid: string, deviceId: number, fingerprint: string) =>
    commands.verifyFingerprint(account, jid, deviceId, fingerprint),
  removeOwnDevice: (account: string, deviceId: number) => done(commands.removeOwnDevice(account, deviceId)),
  /** A QR code of `text`, made by the shell (nothing leaves the computer). */
  qrCode: (text: string) => commands.qrCode(text),
  setFilePrefs: (prefs: FilePrefs) => done(commands.setFilePrefs(prefs)),

  // Voice calls (one at a time).
  /** Calls a contact: every device of theirs that takes calls rings. */
  placeCall: (account: string, peer: string) => commands.placeCall(account, peer),
  acceptCall: (id: string) => done(commands.acceptCall(id)),
  /** Declines a ringing incoming call, withdraws an unanswered outgoing one, or ends a running call. */
  hangUp: (id: string) => done(commands.hangUp(id)),
  setCallMuted: (id: string, muted: boolean) => done(commands.setCallMuted(id, muted)),
  /** Whether calls are available here, the running call and the last ended ones. */
  calls: () => commands.calls(),
  /** The microphones and speakers there are, and the ones chosen for calls. */
  callDevices: () => commands.callDevices(),
  /** Chooses the microphone and speaker (null: the system default), kept for later; a running call switches at once. */
  setCallDevices: (choice: DeviceChoice) => done(commands.setCallDevices(choice)),
};

export type { PickedFile };

/** Listens to files dragged over or dropped on the window (the shell sees them, the page does not). */
export async function listenFileDrag(onDrag: (d: FileDrag) => void): Promise<UnlistenFn> {
  return listen<FileDrag>(EVENT_FILE_DRAG, (e) => onDrag(e.payload));
}

/** Listens to batches of numbered engine events and to full resyncs. */
export async function listenEngine(
  onBatch: (b: EventBatch) => void,
  onResync: (v: SnapshotView) => void,
): Promise<UnlistenFn> {
  // A batch comes as its JSON in a string (read much faster than the same
  // data as the object literal of the script that delivers it).
  const a = await listen<string>(EVENT_ENGINE, (e) => onBatch(JSON.parse(e.payload) as EventBatch));
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
