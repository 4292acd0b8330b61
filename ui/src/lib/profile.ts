// The user's own presence and profile, and what a contact's vCard says, in
// the shape the screens show them.

import type { AccountView, Show } from './engine';
import { BIDI_CONTROLS } from './styling';

// Own presence ------------------------------------------------------------

/** The presence the user chose: shown to contacts of every account. */
export interface PresenceChoice {
  show: Show;
  /** Status message; empty for none. */
  status: string;
}

const SHOWS: readonly Show[] = ['available', 'chat', 'away', 'xa', 'dnd'];
/** Longest status message kept (the engine sends at most 1024 characters). */
export const MAX_STATUS = 1024;

export const defaultPresence = (): PresenceChoice => ({ show: 'available', status: '' });

/** A stored choice, checked; anything unexpected gives the default. */
export function parsePresence(raw: string | null): PresenceChoice {
  try {
    const v = JSON.parse(raw ?? 'null') as Partial<PresenceChoice> | null;
    if (!v || typeof v !== 'object') return defaultPresence();
    const show = SHOWS.includes(v.show as Show) ? (v.show as Show) : 'available';
    const status = typeof v.status === 'string' ? cleanStatus(v.status) : '';
    return { show, status };
  } catch {
    return defaultPresence();
  }
}

/** A status message as sent: one line, trimmed, bounded. */
export function cleanStatus(s: string): string {
  return [...s.replace(/[\r\n\t]+/g, ' ').trim()].slice(0, MAX_STATUS).join('');
}

/** Whether a choice differs from what a fresh connection shows anyway. */
export function isDefaultPresence(p: PresenceChoice): boolean {
  return p.show === 'available' && p.status === '';
}

/** Accounts connected now that were not connected before. */
export function newlyConnected(before: readonly AccountView[], after: readonly AccountView[]): string[] {
  const was = new Set(before.filter((a) => a.state.state === 'connected').map((a) => a.jid));
  return after.filter((a) => a.state.state === 'connected' && !was.has(a.jid)).map((a) => a.jid);
}

// Own avatar ----------------------------------------------------------------

/** Largest picture the shell accepts (it is scaled down to 256 px). */
export const MAX_PICTURE_BYTES = 32 * 1024 * 1024;
export const PICTURE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];

/** Why a chosen file can't be an avatar, or `null` when it can be sent. */
export function pictureProblem(file: { size: number; type: string }): string | null {
  if (file.size === 0) return 'This picture can’t be used: the file is empty. Choose a PNG, JPEG, GIF or WebP picture.';
  if (file.size > MAX_PICTURE_BYTES)
    return `This picture is too large (${(file.size / (1024 * 1024)).toFixed(1)} MB). Choose one of at most 32 MB.`;
  if (file.type && !PICTURE_TYPES.includes(file.type))
    return 'This picture can’t be used: Tern reads PNG, JPEG, GIF and WebP pictures. Choose one of those.';
  return null;
}

/** A header value for an account address (header values are ASCII). */
export const headerValue = (s: string): string => encodeURIComponent(s);

// vCards --------------------------------------------------------------------

/** What a vCard (XEP-0054) says (`VCardView`). */
export interface VCardView {
  full_name: string | null;
  nickname: string | null;
  given_name: string | null;
  family_name: string | null;
  emails: string[];
  phones: string[];
  url: string | null;
  organisation: string | null;
  title: string | null;
  birthday: string | null;
  description: string | null;
  photo: string | null;
}

/** One line of the details: a label and the text from the vCard. */
export interface VCardRow {
  label: string;
  value: string;
  /** Set when the value may be opened as a web link. */
  link?: string;
}

/** The link a vCard URL may open: http or https only, else `null`. */
export function webLink(url: string | null | undefined): string | null {
  const u = url?.trim();
  if (!u || u.length > 2048 || /[\s\u0000-\u001f\u007f]/.test(u) || BIDI_CONTROLS.test(u)) return null;
  try {
    const parsed = new URL(u);
    return (parsed.protocol === 'http:' || parsed.protocol === 'https:') && parsed.host ? u : null;
  } catch {
    return null;
  }
}

/** The rows of the details, in reading order, without empty fields. */
export function vcardRows(v: VCardView): VCardRow[] {
  const rows: VCardRow[] = [];
  const add = (label: string, value: string | null | undefined) => {
    const t = value?.trim();
    if (t) rows.push({ label, value: t });
  };
  add('Full name', v.full_name);
  const parts = [v.given_name, v.family_name].map((s) => s?.trim()).filter(Boolean).join(' ');
  if (parts && parts !== v.full_name?.trim()) add('Name', parts);
  add('Nickname', v.nickname);
  add('Title', v.title);
  add('Organisation', v.organisation);
  for (const e of v.emails) add('Email', e);
  for (const p of v.phones) add('Phone', p);
  const url = v.url?.trim();
  if (url) rows.push({ label: 'Website', value: url, link: webLink(url) ?? undefined });
  add('Birthday', v.birthday);
  add('About', v.description);
  return rows;
}

/** A client name to show for a resource. */
export function clientLabel(client: string | null | undefined): string {
  return client?.trim() || 'Unknown app';
}
