// Names, initials, colours and presence of people, for lists and headers.

import type { ContactView, ConversationKind, MessageView, Show } from './engine';

/** The part of a JID before `@` (or the domain, for a server). */
export function localPart(jid: string): string {
  const at = jid.indexOf('@');
  return at > 0 ? jid.slice(0, at) : jid;
}

/** A JID without its resource (`bob@host/phone` is `bob@host`), lower-cased
 *  as addresses compare. */
export function bareJid(jid: string): string {
  const slash = jid.indexOf('/');
  return (slash < 0 ? jid : jid.slice(0, slash)).toLowerCase();
}

/**
 * Whose message it is, for the name, avatar and colour it shows with (the
 * same as in lists and headers): the account for the user's own, whichever
 * of their devices sent it; else the sender's bare JID. In group chats the
 * occupants are told apart by their full room JID (`room@host/nick`).
 */
export function senderJid(m: Pick<MessageView, 'outgoing' | 'account' | 'sender' | 'peer'>, kind: ConversationKind = 'chat'): string {
  if (m.outgoing) return bareJid(m.account);
  if (kind !== 'chat') return m.sender || m.peer;
  return bareJid(m.sender || m.peer);
}

/** The name to show: the roster name, else the nickname they chose, else the JID's local part. */
export function displayName(jid: string, contact?: Pick<ContactView, 'name' | 'nickname'> | null): string {
  return contact?.name?.trim() || contact?.nickname?.trim() || localPart(jid);
}

/** One or two letters (or digits) for an avatar: the first of the first two
 *  words, punctuation skipped ("Juliet (demo)" is JD, "Bob 1" is B1); a name
 *  without letters keeps its first character. */
export function initials(name: string): string {
  const words = name
    .replace(/[\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '')
    .split(/[\s._-]+/)
    .filter(Boolean);
  const letters = words.flatMap((w) => w.match(/[\p{L}\p{N}]/u)?.[0] ?? []);
  const picked = letters.length ? letters.slice(0, 2) : words.slice(0, 1).map((w) => [...w][0]);
  return picked.join('').toUpperCase() || '?';
}

/** A stable hue for a JID (so a person keeps their colour). */
export function hue(jid: string): number {
  let h = 0;
  for (let i = 0; i < jid.length; i++) h = (h * 31 + jid.charCodeAt(i)) >>> 0;
  return h % 360;
}

export type Availability = Show | 'offline';

/** The best presence of a contact. */
export function availability(c?: ContactView | null): Availability {
  return c?.presence[0]?.show ?? 'offline';
}

export const availabilityLabel: Record<Availability, string> = {
  available: 'Online',
  chat: 'Free to chat',
  away: 'Away',
  xa: 'Away for a while',
  dnd: 'Do not disturb',
  offline: 'Offline',
};

/** The first status message of the online resources. */
export function statusMessage(c?: ContactView | null): string | null {
  return c?.presence.find((p) => p.status?.trim())?.status?.trim() ?? null;
}

/** Whether an avatar hash can be used in a URL: 40 hex digits (SHA-1). */
export function validAvatar(hash: string | null | undefined): hash is string {
  return typeof hash === 'string' && /^[0-9a-f]{40}$/.test(hash);
}

/** Where the shell serves an avatar (`tern-media://`, see src-tauri/src/media.rs). */
export function avatarUrl(hash: string, windows = typeof navigator !== 'undefined' && /Windows/.test(navigator.userAgent)): string {
  return windows ? `http://tern-media.localhost/avatar/${hash}` : `tern-media://localhost/avatar/${hash}`;
}
