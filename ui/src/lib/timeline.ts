// The rows a timeline draws from a conversation's messages (date
// separators, sender groups, the "New messages" line), and date labels.
// The messages themselves are kept by `Timeline` (stores/timeline.svelte.ts).

import { STRANGER, strangerCallText, type CallLine } from './calls';
import type { MessageView } from './engine';
import { foldText, type Fold } from './rooms';

export type Row =
  | { kind: 'start'; key: string }
  | { kind: 'day'; key: string; label: string }
  | { kind: 'unread'; key: string }
  /** Joins and leaves in a group chat, folded into one quiet line. */
  | { kind: 'activity'; key: string; text: string }
  /** A call with the contact ("Outgoing call · 2:31", "Missed call"), at the time it began. */
  | { kind: 'call'; key: string; text: string; missed: boolean; at_ms: number; stranger?: boolean }
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

const SHORT_DATE: Intl.DateTimeFormatOptions = { day: 'numeric', month: 'short' };
const SHORT_DATE_YEAR: Intl.DateTimeFormatOptions = { day: 'numeric', month: 'short', year: 'numeric' };

/** A short date: "Nov 22" (or "22 Nov", as the locale writes it) this year, "Nov 22, 2025" in another. */
export function shortDate(t: number, now: number = Date.now(), locale?: string): string {
  const sameYear = new Date(t).getFullYear() === new Date(now).getFullYear();
  return format(locale, sameYear ? SHORT_DATE : SHORT_DATE_YEAR).format(t);
}

/** For the conversation list: a time today, else "Yesterday", a weekday or a short date. */
export function shortWhen(t: number, now: number = Date.now(), locale?: string): string {
  const days = Math.round((dayStart(now) - dayStart(t)) / 86_400_000);
  if (days === 0) return timeLabel(t, locale);
  if (days === 1) return 'Yesterday';
  if (days > 1 && days < 7) return format(locale, { weekday: 'short' }).format(t);
  return shortDate(t, now, locale);
}

const counts = new Map<string, Intl.NumberFormat>();

/** A count with the locale's grouping ("2,300"), formatters made once per locale. */
export function countLabel(n: number, locale?: string): string {
  const key = locale ?? '';
  let f = counts.get(key);
  if (!f) {
    f = new Intl.NumberFormat(locale);
    counts.set(key, f);
  }
  return f.format(n);
}

/** How far a history catch-up got: "2,300 messages, back to 3 Mar" (empty before the first page). */
export function historyProgress(p: { fetched: number; oldest_ms: number | null }, now: number = Date.now(), locale?: string): string {
  if (p.fetched === 0 && p.oldest_ms === null) return '';
  const n = `${countLabel(p.fetched, locale)} ${p.fetched === 1 ? 'message' : 'messages'}`;
  return p.oldest_ms === null ? n : `${n}, back to ${shortDate(p.oldest_ms, now, locale)}`;
}

/** Messages closer than this, from the same sender, share one header. */
export const GROUP_GAP_MS = 5 * 60_000;

/**
 * Rows to draw: a separator before each new day, and `first` on a message
 * that starts a sender group; `complete` adds the start-of-conversation row;
 * `unreadFrom` (a message id) puts the "New messages" line before it;
 * `activity` (a group chat's joins and leaves, oldest first) and `calls`
 * (a conversation's calls, oldest first) go between the messages by time
 * (not before the oldest loaded one while older ones are not loaded).
 */
const rowCache = new WeakMap<MessageView, Extract<Row, { kind: 'message' }>>();

export function rowsOf(
  messages: MessageView[],
  now: number = Date.now(),
  complete = false,
  unreadFrom: number | null = null,
  activity: readonly Fold[] = [],
  calls: readonly CallLine[] = [],
): Row[] {
  const rows: Row[] = complete ? [{ kind: 'start', key: 'start' }] : [];
  // Calls the engine recorded in the timeline are drawn from their record;
  // this run's lines only stand in until the record is there.
  if (calls.length) {
    const recorded = new Set(messages.filter((m) => m.call).map((m) => m.uid));
    calls = calls.filter((c) => !recorded.has(`call-${c.id}`));
  }
  let a = 0;
  let c = 0;
  if (!complete && messages.length) {
    while (a < activity.length && activity[a].at_ms < messages[0].timestamp_ms) a += 1;
    while (c < calls.length && calls[c].at_ms < messages[0].timestamp_ms) c += 1;
  }
  // Rows are in time order: a Date only when a new day may start.
  let from = Infinity;
  let until = -Infinity;
  let prev: MessageView | undefined;
  /** A separator when `t` is on another day than the row before. */
  const day = (t: number) => {
    if (t >= from && t < until) return;
    from = dayStart(t);
    const next = new Date(from);
    next.setDate(next.getDate() + 1);
    until = next.getTime();
    rows.push({ kind: 'day', key: `d${dayKey(t)}`, label: dayLabel(t, now) });
    prev = undefined;
  };
  /** Adds the folds and calls up to time `t`, in time order (they start a new sender group). */
  const folds = (t: number) => {
    for (;;) {
      const fold = a < activity.length && activity[a].at_ms <= t ? activity[a] : null;
      const call = c < calls.length && calls[c].at_ms <= t ? calls[c] : null;
      if (fold && (!call || fold.at_ms <= call.at_ms)) {
        a += 1;
        const text = foldText(fold);
        if (!text) continue;
        day(fold.at_ms);
        rows.push({ kind: 'activity', key: `a${fold.id}`, text });
      } else if (call) {
        c += 1;
        day(call.at_ms);
        rows.push({ kind: 'call', key: `c${call.id}`, text: call.text, missed: call.missed, at_ms: call.at_ms });
      } else return;
      prev = undefined;
    }
  };
  for (const m of messages) {
    const t = m.timestamp_ms;
    folds(t);
    day(t);
    if (m.call) {
      // A recorded call: a quiet line, not a message. A stranger's (refused,
      // never rung) says who called and how to let their calls through.
      const stranger = !m.outgoing && m.call.outcome === STRANGER;
      rows.push({
        kind: 'call',
        key: `m${m.id}`,
        text: stranger ? strangerCallText(m.peer) : m.body,
        missed: !m.outgoing && (m.call.outcome === 'missed' || m.call.outcome === 'busy'),
        at_ms: t,
        ...(stranger ? { stranger } : {}),
      });
      prev = undefined;
      continue;
    }
    const unread = m.id === unreadFrom;
    if (unread) rows.push({ kind: 'unread', key: 'unread' });
    // The user's own messages are theirs from any device (the sender is
    // then the account or one of its full JIDs).
    const first =
      unread ||
      !prev ||
      prev.outgoing !== m.outgoing ||
      (!m.outgoing && prev.sender !== m.sender) ||
      t - prev.timestamp_ms > GROUP_GAP_MS ||
      prev.me ||
      m.me;
    // Reuse the row of an unchanged message, so long histories stay cheap.
    let row = rowCache.get(m);
    if (!row || row.first !== first) {
      row = { kind: 'message', key: `m${m.id}`, message: m, first };
      rowCache.set(m, row);
    }
    rows.push(row);
    prev = m;
  }
  folds(Infinity);
  return rows;
}
