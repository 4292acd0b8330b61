// Names, initials, colours and presence of people, for lists and headers.

import type { ContactView, Show } from './engine';

/** The part of a JID before `@` (or the domain, for a server). */
export function localPart(jid: string): string {
  const at = jid.indexOf('@');
  return at > 0 ? jid.slice(0, at) : jid;
}

/** The name to show: the roster name, else the nickname they chose, else the JID's local part. */
export function displayName(jid: string, contact?: Pick<ContactView, 'name' | 'nickname'> | null): string {
  return contact?.name?.trim() || contact?.nickname?.trim() || localPart(jid);
}

/** One or two letters for an avatar. */
export function initials(name: string): string {
  const words = name
    .replace(/[\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '')
    .split(/[\s._-]+/)
    .filter(Boolean);
  const letters = words.slice(0, 2).map((w) => [...w][0] ?? '');
  return letters.join('').toUpperCase() || '?';
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
