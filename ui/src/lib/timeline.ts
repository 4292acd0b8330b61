// A conversation's messages in display order, kept current by upserts, and
// the rows the timeline draws from them (date separators, sender groups).

import type { MessageView } from './engine';

const before = (a: MessageView, b: MessageView): boolean =>
  a.timestamp_ms < b.timestamp_ms || (a.timestamp_ms === b.timestamp_ms && a.id < b.id);

/**
 * Messages ordered by time, then id. `upsert` finds a known message by id
 * and places a new one by binary search, so a long history stays cheap to
 * update one event at a time.
 */
export class Timeline {
  items: MessageView[] = [];
  private byId = new Map<number, MessageView>();
  /** True once the start of the conversation was reached. */
  complete = false;
  /** True when newer messages than the last loaded one are stored (only a window of a long history is kept loaded). */
  hasNewer = false;

  constructor(messages: MessageView[] = []) {
    this.replace(messages);
  }

  replace(messages: MessageView[]): void {
    this.items = [...messages].sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
    this.byId = new Map(this.items.map((m) => [m.id, m]));
  }

  get(id: number): MessageView | undefined {
    return this.byId.get(id);
  }

  /** Index where `m` is or would go. */
  private position(m: MessageView): number {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (before(this.items[mid], m)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Adds or replaces a message; returns false when nothing changed. */
  upsert(m: MessageView): boolean {
    const old = this.byId.get(m.id);
    if (old) {
      if (old === m) return false;
      const i = this.position(old);
      if (old.timestamp_ms === m.timestamp_ms) {
        this.items[i] = m;
        this.byId.set(m.id, m);
        return true;
      }
      this.items.splice(i, 1);
    }
    this.items.splice(this.position(m), 0, m);
    this.byId.set(m.id, m);
    return true;
  }

  /** Adds a page of messages (older ones from scroll-back). */
  addAll(ms: MessageView[]): number {
    let n = 0;
    for (const m of ms) if (this.upsert(m)) n += 1;
    return n;
  }

  /** Whether a new or changed message belongs in the loaded window: not one past its newer end while newer ones are not loaded. */
  accepts(m: MessageView): boolean {
    if (!this.hasNewer || this.byId.has(m.id)) return true;
    const last = this.items.at(-1);
    return last !== undefined && before(m, last);
  }

  /** Keeps at most `max` messages, dropping the newest; returns how many went. */
  trimNewest(max: number): number {
    const n = this.items.length - max;
    if (n <= 0) return 0;
    for (const m of this.items.splice(max)) this.byId.delete(m.id);
    this.hasNewer = true;
    return n;
  }

  /** Keeps at most `max` messages, dropping the oldest; returns how many went. */
  trimOldest(max: number): number {
    const n = this.items.length - max;
    if (n <= 0) return 0;
    for (const m of this.items.splice(0, n)) this.byId.delete(m.id);
    this.complete = false;
    return n;
  }

  /** The message a reply points to: by uid, else by local id. */
  replied(ref: string): MessageView | undefined {
    for (let i = this.items.length - 1; i >= 0; i--) if (this.items[i].uid === ref) return this.items[i];
    const id = Number(ref);
    return Number.isInteger(id) ? this.byId.get(id) : undefined;
  }

  /** The oldest incoming message not yet read, after the newest one read
   *  (messages read on another device before it do not count). */
  firstUnread(): MessageView | undefined {
    let found: MessageView | undefined;
    for (let i = this.items.length - 1; i >= 0; i--) {
      const m = this.items[i];
      if (m.outgoing || m.state === 'seen') break;
      if (m.state === 'received') found = m;
    }
    return found;
  }

  /** The user's newest message that can still be edited (one that was not
   *  sent is sent again instead). */
  lastOwn(): MessageView | undefined {
    for (let i = this.items.length - 1; i >= 0; i--) {
      const m = this.items[i];
      if (m.outgoing && !m.retracted && m.state !== 'failed') return m;
    }
    return undefined;
  }
}

export type Row =
  | { kind: 'start'; key: string }
  | { kind: 'day'; key: string; label: string }
  | { kind: 'unread'; key: string }
  | { kind: 'message'; key: string; message: MessageView; first: boolean };

// `toLocale*String` with options builds a new ICU formatter on every call
// in WebKit (about a millisecond, and native memory that only a garbage
// collection frees): formatters are made once per locale and options.
const formats = new Map<string, Intl.DateTimeFormat>();
const FULL: Intl.DateTimeFormatOptions = { year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' };

function format(locale: string | undefined, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = `${locale ?? ''}\u0000${JSON.stringify(options)}`;
  let f = formats.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(locale, options);
    formats.set(key, f);
  }
  return f;
}

const dayStart = (t: number): number => {
  const d = new Date(t);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
};

/** Local calendar day of a timestamp, e.g. `2026-3-9`. */
export function dayKey(t: number): string {
  const d = new Date(t);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

/** "Today", "Yesterday", a weekday within the last week, else a date (with the year when it is not this year's). */
export function dayLabel(t: number, now: number = Date.now(), locale?: string): string {
  const days = Math.round((dayStart(now) - dayStart(t)) / 86_400_000);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  if (days > 1 && days < 7) return format(locale, { weekday: 'long' }).format(t);
  const sameYear = new Date(t).getFullYear() === new Date(now).getFullYear();
  return format(locale, sameYear ? { day: 'numeric', month: 'long' } : { day: 'numeric', month: 'long', year: 'numeric' }).format(t);
}

/** Hours and minutes in the user's locale. */
export function timeLabel(t: number, locale?: string): string {
  return format(locale, { hour: '2-digit', minute: '2-digit' }).format(t);
}

/** Date and time in full, e.g. for a tooltip. */
export function fullTimeLabel(t: number, locale?: string): string {
  return format(locale, FULL).format(t);
}

/** For the conversation list: a time today, else "Yesterday", a weekday or a short date. */
export function shortWhen(t: number, now: number = Date.now(), locale?: string): string {
  const days = Math.round((dayStart(now) - dayStart(t)) / 86_400_000);
  if (days === 0) return timeLabel(t, locale);
  if (days === 1) return 'Yesterday';
  if (days > 1 && days < 7) return format(locale, { weekday: 'short' }).format(t);
  return format(locale, { day: 'numeric', month: 'short', year: '2-digit' }).format(t);
}

/** Messages closer than this, from the same sender, share one header. */
export const GROUP_GAP_MS = 5 * 60_000;

/**
 * Rows to draw: a separator before each new day, and `first` on a message
 * that starts a sender group; `complete` adds the start-of-conversation row;
 * `unreadFrom` (a message id) puts the "New messages" line before it.
 */
const rowCache = new WeakMap<MessageView, Extract<Row, { kind: 'message' }>>();

export function rowsOf(messages: MessageView[], now: number = Date.now(), complete = false, unreadFrom: number | null = null): Row[] {
  const rows: Row[] = complete ? [{ kind: 'start', key: 'start' }] : [];
  // Messages are in time order: a Date only when a new day may start.
  let from = Infinity;
  let until = -Infinity;
  let prev: MessageView | undefined;
  for (const m of messages) {
    const t = m.timestamp_ms;
    if (t < from || t >= until) {
      from = dayStart(t);
      const next = new Date(from);
      next.setDate(next.getDate() + 1);
      until = next.getTime();
      rows.push({ kind: 'day', key: `d${dayKey(t)}`, label: dayLabel(t, now) });
      prev = undefined;
    }
    const unread = m.id === unreadFrom;
    if (unread) rows.push({ kind: 'unread', key: 'unread' });
    const first =
      unread || !prev || prev.outgoing !== m.outgoing || prev.sender !== m.sender || t - prev.timestamp_ms > GROUP_GAP_MS || prev.me || m.me;
    // Reuse the row of an unchanged message, so long histories stay cheap.
    let row = rowCache.get(m);
    if (!row || row.first !== first) {
      row = { kind: 'message', key: `m${m.id}`, message: m, first };
      rowCache.set(m, row);
    }
    rows.push(row);
    prev = m;
  }
  return rows;
}
