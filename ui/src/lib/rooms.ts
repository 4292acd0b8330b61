// Pure rules for group chats (XEP-0045): addresses and names, the words for
// why one could not be joined or was left, the order of occupants, the
// folded line of joins and leaves, mentions and invitations. The stores
// (stores/rooms.svelte.ts) hold the results.

import type { InvitationView, OccupantView, RoomKind, RoomView } from './engine';
import { localPart } from './people';

/** The nick of an occupant's room JID `room@service/nick` (all after the first `/`). */
export function nickOf(roomJid: string): string {
  const i = roomJid.indexOf('/');
  return i < 0 ? '' : roomJid.slice(i + 1);
}

/** The room of an occupant's room JID (`room@service`). */
export function roomOf(roomJid: string): string {
  const i = roomJid.indexOf('/');
  return i < 0 ? roomJid : roomJid.slice(0, i);
}

/** A room's name: the one it has, else its address' local part. */
export function roomName(room: Pick<RoomView, 'jid' | 'name'> | undefined, jid: string): string {
  return room?.name?.trim() || localPart(jid);
}

export const kindLabel: Record<RoomKind, string> = {
  private_group: 'Private group',
  public_channel: 'Public channel',
  other: 'Group chat',
};

/**
 * The room address in what the user typed or pasted: `room@service`, or an
 * `xmpp:room@service?join` link; null when it is not one.
 */
export function parseRoomAddress(input: string): string | null {
  let s = input.trim();
  if (/^xmpp:/i.test(s)) {
    s = s.slice(5).replace(/^\/\//, '');
    const q = s.indexOf('?');
    if (q >= 0) s = s.slice(0, q);
    try {
      s = decodeURIComponent(s);
    } catch {
      return null;
    }
  }
  s = s.toLowerCase();
  return /^[^@\s/?]+@[^@\s/?]+\.?[^@\s/?]*$/.test(s) && !s.endsWith('.') ? s : null;
}

/** Why a room could not be joined, in words (from `RoomView.error` or a `UiError` kind). */
export function joinErrorText(code: string | null, text: string | null = null): string {
  const said = text?.trim() ? ` The server said: “${text.trim()}”` : '';
  switch (code) {
    case 'nick_conflict':
      return 'Someone in this group chat already uses that nickname. Choose another one.';
    case 'nick_reserved':
      return 'That nickname is reserved for someone else in this group chat. Choose another one.';
    case 'password_required':
      return 'This group chat needs a password.';
    case 'banned':
      return 'You are banned from this group chat.';
    case 'members_only':
      return 'This group is for members only. Ask an admin to invite you.';
    case 'full':
      return 'This group chat is full. Try again later.';
    case 'not_found':
      return 'No group chat at this address.';
    case 'creation_restricted':
      return 'There is no group chat at this address, and the server does not let you create one.';
    default:
      return text?.trim() ? `Could not join the group chat: ${text.trim()}` : `Could not join the group chat.${said}`;
  }
}

/** Errors the user fixes by choosing another nickname. */
export const nickErrors = new Set(['nick_conflict', 'nick_reserved']);

/** What the room's banner says when the user is not (or no longer) in it, and whether joining again may work. */
export function roomBanner(room: RoomView): { text: string; reason: string | null; rejoin: boolean } | null {
  if (room.status === 'joined' || room.status === 'joining') return null;
  const reason = room.error_text?.trim() || null;
  const by = room.error_by?.trim() ? ` by ${room.error_by.trim()}` : '';
  switch (room.error) {
    case 'kicked':
      return { text: `You were removed from this group chat${by}.`, reason, rejoin: true };
    case 'banned':
      return {
        text: room.error_by
          ? `You were banned from this group chat${by}.`
          : room.status === 'left'
            ? 'You were banned from this group chat.'
            : 'You are banned from this group chat.',
        reason,
        rejoin: false,
      };
    case 'removed_affiliation':
      return { text: 'You were removed from this group chat: your membership changed.', reason, rejoin: false };
    case 'removed_members_only':
      return { text: 'You were removed: this group chat is now for members only.', reason, rejoin: false };
    case 'destroyed':
      return { text: 'This group chat was closed for good.', reason, rejoin: false };
    case 'shutdown':
      return { text: 'The group-chat service shut down.', reason, rejoin: true };
    case 'lost':
      return { text: 'The connection to this group chat was lost.', reason, rejoin: true };
    case null:
    case undefined:
      return { text: 'You left this group chat.', reason, rejoin: true };
    default:
      return { text: joinErrorText(room.error, null), reason, rejoin: room.error !== 'not_found' && room.error !== 'members_only' };
  }
}

// --- Occupants ---------------------------------------------------------------

const collator = new Intl.Collator(undefined, { sensitivity: 'base' });

/** Moderators first, then participants, visitors, and anyone else. */
export function roleRank(role: string): number {
  switch (role) {
    case 'moderator':
      return 0;
    case 'participant':
      return 1;
    case 'visitor':
      return 2;
    default:
      return 3;
  }
}

export const roleGroup = ['Moderators', 'Participants', 'Visitors', 'Others'];

/** What an occupant's place in the list depends on. */
export interface OccupantPlace {
  nick: string;
  rank: number;
}

/** By role, then nick (as people read them), then nick exactly (a stable order). */
export function compareOccupants(a: OccupantPlace, b: OccupantPlace): number {
  return a.rank - b.rank || collator.compare(a.nick, b.nick) || (a.nick < b.nick ? -1 : a.nick > b.nick ? 1 : 0);
}

/** Index in `order` (sorted nicks) where `p` is or would go; `place` gives each nick's place. */
export function position(order: readonly string[], p: OccupantPlace, place: (nick: string) => OccupantPlace): number {
  let lo = 0;
  let hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareOccupants(place(order[mid]), p) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export const affiliationLabel: Record<string, string> = { owner: 'Owner', admin: 'Admin', member: 'Member', outcast: 'Banned' };

/** What the user may do to an occupant, by the user's own role and affiliation (XEP-0045 §§ 8–10). */
export function occupantActions(
  me: Pick<RoomView, 'role' | 'affiliation' | 'private_messages'>,
  o: Pick<OccupantView, 'role' | 'affiliation' | 'jid' | 'is_self'>,
): { message: boolean; kick: boolean; voice: 'grant' | 'revoke' | null; ban: boolean; affiliations: string[] } {
  const none = { message: false, kick: false, voice: null, ban: false, affiliations: [] };
  if (o.is_self) return none;
  const rank = (a: string) => ({ owner: 3, admin: 2, member: 1 })[a] ?? 0;
  const mine = rank(me.affiliation);
  const theirs = rank(o.affiliation);
  // Moderators act on those who are neither admins nor owners (other
  // moderators only when the user is an admin or owner); admins on members
  // and the unaffiliated, owners on everyone.
  const moderates = me.role === 'moderator' && theirs < 2 && (o.role !== 'moderator' || mine >= 2);
  const administers = o.jid !== null && (mine === 3 || (mine === 2 && theirs < 2));
  return {
    message: me.private_messages,
    kick: moderates,
    voice: moderates && o.role !== 'moderator' ? (o.role === 'visitor' ? 'grant' : 'revoke') : null,
    ban: administers,
    affiliations: administers ? ['owner', 'admin', 'member', 'none'].filter((a) => a !== o.affiliation && (mine === 3 || rank(a) < 2)) : [],
  };
}

// --- Joins and leaves, folded --------------------------------------------------

/** Joins, leaves and nick changes shown as one line in the timeline. */
export interface Fold {
  /** Stable while it grows: the row's key. */
  id: number;
  /** When the first of them happened. */
  at_ms: number;
  joined: string[];
  left: string[];
  renamed: { from: string; to: string }[];
  /** Removed by a moderator (kicked or banned). */
  removed: string[];
}

export interface Activity {
  joined: string[];
  left: string[];
  renamed: { from: string; to: string }[];
  removed?: string[];
  at_ms: number;
}

let folds = 0;

/**
 * Adds activity to a fold (a new one when `fold` is null). Someone who
 * joins and leaves again within it is not shown, nor someone who leaves and
 * comes back; a nick changed twice shows as one change.
 */
export function foldActivity(fold: Fold | null, a: Activity): Fold {
  const joined = [...(fold?.joined ?? [])];
  const left = [...(fold?.left ?? [])];
  let renamed = [...(fold?.renamed ?? [])];
  const removed = [...(fold?.removed ?? [])];
  const drop = <T>(list: T[], i: number) => list.splice(i, 1);
  for (const n of a.joined) {
    const i = left.indexOf(n);
    if (i >= 0) drop(left, i);
    else if (!joined.includes(n)) joined.push(n);
  }
  for (const r of a.renamed) {
    const j = joined.indexOf(r.from);
    const k = renamed.findIndex((x) => x.to === r.from);
    if (j >= 0) joined[j] = r.to;
    else if (k >= 0) renamed[k] = { from: renamed[k].from, to: r.to };
    else renamed.push(r);
    renamed = renamed.filter((x) => x.from !== x.to);
  }
  for (const n of a.left) {
    const j = joined.indexOf(n);
    const k = renamed.findIndex((x) => x.to === n);
    if (j >= 0) drop(joined, j);
    else if (k >= 0) {
      left.push(renamed[k].from);
      drop(renamed, k);
    } else if (!left.includes(n)) left.push(n);
  }
  // A removal is always said, even of someone who just joined.
  for (const n of a.removed ?? []) {
    const j = joined.indexOf(n);
    if (j >= 0) drop(joined, j);
    if (!removed.includes(n)) removed.push(n);
  }
  return { id: fold?.id ?? ++folds, at_ms: fold?.at_ms ?? a.at_ms, joined, left, renamed, removed };
}

/** "Ann", "Ann and Bob", "Ann, Bob and Cy", "Ann, Bob and 12 others". */
export function nameList(names: readonly string[]): string {
  if (names.length <= 1) return names[0] ?? '';
  if (names.length === 2) return `${names[0]} and ${names[1]}`;
  if (names.length === 3) return `${names[0]}, ${names[1]} and ${names[2]}`;
  return `${names[0]}, ${names[1]} and ${names.length - 2} others`;
}

/** The fold as one line: "Ann, Bob and 12 others joined · Cy left · Dee is now Di"; empty when nothing is left to say. */
export function foldText(f: Pick<Fold, 'joined' | 'left' | 'renamed'> & { removed?: string[] }): string {
  const parts: string[] = [];
  if (f.joined.length) parts.push(`${nameList(f.joined)} joined`);
  if (f.left.length) parts.push(`${nameList(f.left)} left`);
  if (f.renamed.length === 1) parts.push(`${f.renamed[0].from} is now ${f.renamed[0].to}`);
  else if (f.renamed.length > 1) parts.push(`${f.renamed.length} people changed their nicknames`);
  const removed = f.removed ?? [];
  if (removed.length) parts.push(`${nameList(removed)} ${removed.length === 1 ? 'was' : 'were'} removed`);
  return parts.join(' · ');
}

// --- Mentions ----------------------------------------------------------------

/** The word at the caret that may be completed to a nick. */
export interface MentionToken {
  start: number;
  end: number;
  query: string;
}

/**
 * The word before the caret, when it asks for a nick: one that starts with
 * `@` (as soon as it is typed), or any word when the user pressed Tab.
 */
export function mentionToken(text: string, caret: number, tab = false): MentionToken | null {
  let start = caret;
  while (start > 0 && !/\s/.test(text[start - 1])) start -= 1;
  const word = text.slice(start, caret);
  if (word.startsWith('@')) return { start, end: caret, query: word.slice(1) };
  if (tab && word.length > 0) return { start, end: caret, query: word };
  return null;
}

/**
 * Nicks that complete `query` (case aside), at most `limit`: those that
 * start with it before those that only contain it (with `contains`); within
 * each, those who spoke recently first (`recent`, newest first), then by
 * name. The user's own nick is never offered.
 */
export function matchNicks(
  nicks: Iterable<string>,
  query: string,
  self: string | null,
  recent: readonly string[] = [],
  limit = 8,
  contains = true,
): string[] {
  const q = query.toLocaleLowerCase();
  const starts: string[] = [];
  const middle: string[] = [];
  for (const n of nicks) {
    if (n === self) continue;
    const l = n.toLocaleLowerCase();
    if (l.startsWith(q)) starts.push(n);
    else if (contains && q && l.includes(q)) middle.push(n);
  }
  const spoke = new Map(recent.map((n, i) => [n, i]));
  const order = (a: string, b: string) => (spoke.get(a) ?? Infinity) - (spoke.get(b) ?? Infinity) || collator.compare(a, b);
  return [...starts.sort(order), ...middle.sort(order)].slice(0, limit);
}

/** The text with `token` replaced by the nick: "nick: " at the start of the message, "nick " elsewhere; and where the caret goes. */
export function insertMention(text: string, token: MentionToken, nick: string): { text: string; caret: number } {
  const atStart = text.slice(0, token.start).trim() === '';
  const insert = atStart ? `${nick}: ` : `${nick} `;
  const rest = text.slice(token.end).replace(/^ /, '');
  return { text: text.slice(0, token.start) + insert + rest, caret: token.start + insert.length };
}

const wordChar = /[\p{L}\p{N}_]/u;

/** Text cut where `nick` appears as a word (case aside), for drawing it bold. */
export function splitMentions(text: string, nick: string | null): { text: string; nick: boolean }[] {
  if (!nick) return [{ text, nick: false }];
  const out: { text: string; nick: boolean }[] = [];
  const lower = text.toLocaleLowerCase();
  const n = nick.toLocaleLowerCase();
  let at = 0;
  let from = 0;
  for (;;) {
    const i = lower.indexOf(n, from);
    if (i < 0) break;
    const before = text[i - 1];
    const after = text[i + n.length];
    if ((before === undefined || !wordChar.test(before)) && (after === undefined || !wordChar.test(after))) {
      if (i > at) out.push({ text: text.slice(at, i), nick: false });
      out.push({ text: text.slice(i, i + n.length), nick: true });
      at = i + n.length;
    }
    from = i + Math.max(1, n.length);
  }
  if (at < text.length || out.length === 0) out.push({ text: text.slice(at), nick: false });
  return out;
}

// --- Invitations -----------------------------------------------------------

/**
 * Invitations from contacts (shown as cards to answer at once) and from
 * strangers (listed as requests to open first: never joined by themselves),
 * newest first.
 */
export function classifyInvitations(list: readonly InvitationView[]): { contacts: InvitationView[]; strangers: InvitationView[] } {
  const sorted = [...list].sort((a, b) => b.received_ms - a.received_ms);
  return { contacts: sorted.filter((i) => i.from_contact), strangers: sorted.filter((i) => !i.from_contact) };
}
