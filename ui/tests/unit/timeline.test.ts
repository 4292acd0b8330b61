import { describe, expect, it, vi } from 'vitest';
import type { MessageView } from '../../src/lib/engine';
import { Chat } from '../../src/lib/stores/chat.svelte';
import { Timeline } from '../../src/lib/stores/timeline.svelte';
import { countLabel, dayLabel, fullTimeLabel, historyProgress, rowsOf, shortDate, shortWhen, timeLabel } from '../../src/lib/timeline';

const at = (y: number, mo: number, d: number, h = 12, mi = 0) => new Date(y, mo - 1, d, h, mi).getTime();
let next = 1;
export function msg(p: Partial<MessageView> = {}): MessageView {
  const id = p.id ?? next++;
  return {
    id,
    account: 'me@example.org',
    peer: 'juliet@example.net',
    outgoing: false,
    sender: 'juliet@example.net',
    uid: `u${id}`,
    body: 'hi',
    timestamp_ms: at(2026, 3, 9),
    state: 'received',
    edited: false,
    retracted: false,
    reply_to: null,
    reactions: {},
    me: false,
    file: null,
    failure: null,
    failure_text: null,
    mention: false,
    moderated_by: null,
    moderation_reason: null,
    encrypted: false,
    decrypt_error: null,
    held: null,
    call: null,
    ...p,
  };
}

describe('Timeline', () => {
  it('keeps messages in time order, ties by id, and upserts by id', () => {
    const t = new Timeline([msg({ id: 3, timestamp_ms: 30 }), msg({ id: 1, timestamp_ms: 10 })]);
    t.upsert(msg({ id: 2, timestamp_ms: 30 }));
    expect(t.items.map((m) => m.id)).toEqual([1, 2, 3]);
    t.upsert(msg({ id: 2, timestamp_ms: 30, body: 'edited', edited: true }));
    expect(t.items.map((m) => m.body)).toEqual(['hi', 'edited', 'hi']);
    expect(t.items).toHaveLength(3);
    // A changed timestamp moves the message.
    t.upsert(msg({ id: 1, timestamp_ms: 40 }));
    expect(t.items.map((m) => m.id)).toEqual([2, 3, 1]);
  });

  it('adds a page of older messages in front, without duplicates', () => {
    const t = new Timeline([msg({ id: 10, timestamp_ms: 100 })]);
    expect(t.addAll([msg({ id: 8, timestamp_ms: 80 }), msg({ id: 9, timestamp_ms: 90 }), msg({ id: 10, timestamp_ms: 100 })])).toBe(3);
    expect(t.items.map((m) => m.id)).toEqual([8, 9, 10]);
  });

  it('keeps a window of a long history: trims either end and refuses messages past a trimmed newer end', () => {
    const t = new Timeline(Array.from({ length: 10 }, (_, i) => msg({ id: i + 1, timestamp_ms: (i + 1) * 10 })));
    t.complete = true;
    expect(t.trimNewest(12)).toBe(0);
    expect(t.hasNewer).toBe(false);
    expect(t.trimNewest(6)).toBe(4);
    expect(t.items.map((m) => m.id)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(t.hasNewer).toBe(true);
    expect(t.get(7)).toBeUndefined();
    // A live message newer than the window waits for the way down; an edit
    // of a loaded one, or one inside the window, is taken.
    expect(t.accepts(msg({ id: 99, timestamp_ms: 1000 }))).toBe(false);
    expect(t.accepts(msg({ id: 3, timestamp_ms: 30, body: 'edited' }))).toBe(true);
    expect(t.accepts(msg({ id: 98, timestamp_ms: 35 }))).toBe(true);
    expect(t.trimOldest(4)).toBe(2);
    expect(t.items.map((m) => m.id)).toEqual([3, 4, 5, 6]);
    expect(t.complete).toBe(false);
    expect(t.get(1)).toBeUndefined();
    t.hasNewer = false;
    expect(t.accepts(msg({ id: 99, timestamp_ms: 1000 }))).toBe(true);
  });

  it('finds replied messages by uid or id and the last own message', () => {
    const a = msg({ id: 5, uid: 'abc', outgoing: true });
    const b = msg({ id: 6, outgoing: true, retracted: true, timestamp_ms: a.timestamp_ms + 1 });
    const c = msg({ id: 7, outgoing: true, state: 'failed', timestamp_ms: a.timestamp_ms + 2 });
    const t = new Timeline([a, b, c]);
    expect(t.replied('abc')).toBe(a);
    expect(t.replied('5')).toBe(a);
    expect(t.replied('nope')).toBeUndefined();
    expect(t.lastOwn()).toBe(a);
  });

  it('never changes a list it handed out: changes make a new one', () => {
    const t = new Timeline([msg({ id: 1, timestamp_ms: 10 })]);
    const before = t.items;
    expect(t.upsert(before[0])).toBe(false);
    expect(t.items).toBe(before);
    t.upsert(msg({ id: 2, timestamp_ms: 20 }));
    t.upsert(msg({ id: 3, timestamp_ms: 30 }));
    const after = t.items;
    expect(after).not.toBe(before);
    expect(before.map((m) => m.id)).toEqual([1]);
    expect(after.map((m) => m.id)).toEqual([1, 2, 3]);
    t.trimOldest(2);
    expect(after.map((m) => m.id)).toEqual([1, 2, 3]);
    expect(t.items.map((m) => m.id)).toEqual([2, 3]);
  });

  it('stays fast at 100,000 messages', () => {
    const many = Array.from({ length: 100_000 }, (_, i) => msg({ id: i + 1, timestamp_ms: i * 1000 }));
    const t = new Timeline(many);
    const start = performance.now();
    for (let i = 0; i < 1000; i++) t.upsert(msg({ id: 200_000 + i, timestamp_ms: 100_000_000 + i }));
    expect(performance.now() - start).toBeLessThan(2000);
    expect(t.items.length).toBe(101_000);
  });
});

describe('the open conversation', () => {
  it('takes a batch of its messages in one change, and no one else’s', () => {
    const chat = new Chat();
    chat.open = { account: 'me@example.org', peer: 'juliet@example.net' };
    chat.timeline = new Timeline([msg({ id: 1, timestamp_ms: 10 })]);
    const before = chat.timeline.items;
    const ev = (m: MessageView) => ({ type: 'message' as const, message: m });
    chat.events([
      { seq: 1, event: ev(msg({ id: 3, timestamp_ms: 30 })) },
      { seq: 2, event: ev(msg({ id: 9, timestamp_ms: 20, peer: 'romeo@example.net' })) },
      { seq: 3, event: ev(msg({ id: 2, timestamp_ms: 20 })) },
      { seq: 4, event: ev(msg({ id: 1, timestamp_ms: 10, body: 'edited', edited: true })) },
    ]);
    expect(before.map((m) => m.id)).toEqual([1]);
    expect(chat.timeline.items.map((m) => `${m.id}${m.edited ? '*' : ''}`)).toEqual(['1*', '2', '3']);
    // Deleted while open: it closes.
    chat.events([{ seq: 5, event: { type: 'conversation_deleted', account: 'me@example.org', peer: 'juliet@example.net' } }]);
    expect(chat.open).toBeNull();
  });
});

describe('history that comes as a batch', () => {
  it('reads the newest page again when the list entry shows newer messages than the window', async () => {
    const chat = new Chat();
    chat.open = { account: 'me@example.org', peer: 'juliet@example.net' };
    chat.timeline = new Timeline([msg({ id: 1, timestamp_ms: 10 })]);
    const page = [msg({ id: 1, timestamp_ms: 10 }), msg({ id: 7, timestamp_ms: 70 }), msg({ id: 8, timestamp_ms: 80 })];
    const api = (await import('../../src/lib/api')).api;
    const timeline = vi.spyOn(api, 'timeline').mockResolvedValue({ seq: 10, items: page });
    const conversation = (last: MessageView) => ({
      seq: 11,
      event: {
        type: 'conversation' as const,
        conversation: { account: 'me@example.org', peer: 'juliet@example.net', kind: 'chat' as const, unread: 0, mentions: 0, updated_ms: 80, last },
      },
    });
    // An older page (the list entry's newest is loaded): nothing to do.
    chat.events([conversation(msg({ id: 1, timestamp_ms: 10 }))]);
    expect(timeline).not.toHaveBeenCalled();
    // The newest page of a first catch-up: the window reads it.
    chat.events([conversation(page[2])]);
    expect(timeline).toHaveBeenCalledTimes(1);
    await vi.waitFor(() => expect(chat.timeline.items.map((m) => m.id)).toEqual([1, 7, 8]));
    timeline.mockRestore();
  });
});

describe('dates and groups', () => {
  const now = at(2026, 3, 9, 15);
  it('labels days like a person would', () => {
    expect(dayLabel(at(2026, 3, 9, 1), now)).toBe('Today');
    expect(dayLabel(at(2026, 3, 8, 23), now)).toBe('Yesterday');
    expect(dayLabel(at(2026, 3, 5), now, 'en-GB')).toBe('Thursday');
    expect(dayLabel(at(2026, 1, 20), now, 'en-GB')).toBe('20 January');
    expect(dayLabel(at(2025, 12, 31), now, 'en-GB')).toBe('31 December 2025');
    expect(shortWhen(at(2026, 3, 8), now)).toBe('Yesterday');
  });

  it('leaves the year out of dates in the current year', () => {
    expect(shortWhen(at(2026, 3, 5), now, 'en-US')).toBe('Thu');
    expect(shortWhen(at(2026, 1, 22), now, 'en-US')).toBe('Jan 22');
    expect(shortWhen(at(2026, 1, 22), now, 'en-GB')).toBe('22 Jan');
    expect(shortWhen(at(2025, 11, 22), now, 'en-US')).toBe('Nov 22, 2025');
    expect(shortWhen(at(2025, 11, 22), now, 'en-GB')).toBe('22 Nov 2025');
    // A date later this year (a clock set wrong) is still this year's.
    expect(shortDate(at(2026, 11, 22), now, 'en-US')).toBe('Nov 22');
    expect(shortDate(at(2027, 1, 2), now, 'en-US')).toBe('Jan 2, 2027');
  });

  it('says how far history loading got', () => {
    expect(historyProgress({ fetched: 0, oldest_ms: null }, now, 'en-GB')).toBe('');
    expect(historyProgress({ fetched: 1, oldest_ms: null }, now, 'en-GB')).toBe('1 message');
    expect(historyProgress({ fetched: 2300, oldest_ms: at(2026, 3, 3) }, now, 'en-GB')).toBe('2,300 messages, back to 3 Mar');
    expect(historyProgress({ fetched: 51_234, oldest_ms: at(2019, 6, 1) }, now, 'en-US')).toBe('51,234 messages, back to Jun 1, 2019');
    expect(countLabel(1234567, 'de-DE')).toBe('1.234.567');
  });

  it('formats short dates and counts with formatters made once', () => {
    shortWhen(at(2026, 1, 20), now, 'en-GB');
    shortWhen(at(2025, 1, 20), now, 'en-GB');
    countLabel(1, 'en-GB');
    const dates = vi.spyOn(Intl, 'DateTimeFormat');
    const numbers = vi.spyOn(Intl, 'NumberFormat');
    for (let i = 0; i < 200; i++) {
      shortWhen(at(2026 - (i % 2), 1, 1 + (i % 28)), now, 'en-GB');
      historyProgress({ fetched: i * 100, oldest_ms: at(2026 - (i % 2), 1, 1 + (i % 28)) }, now, 'en-GB');
    }
    expect(dates).not.toHaveBeenCalled();
    expect(numbers).not.toHaveBeenCalled();
    dates.mockRestore();
    numbers.mockRestore();
  });

  it('formats times with formatters made once, not one per row', () => {
    // WebKit builds an ICU formatter for every toLocale*String call with
    // options; a timeline draws thousands of times while scrolling.
    const made = vi.spyOn(Intl, 'DateTimeFormat');
    const perCall = (['toLocaleString', 'toLocaleDateString', 'toLocaleTimeString'] as const).map((f) => vi.spyOn(Date.prototype, f));
    const first = [timeLabel(at(2026, 3, 9, 8, 5), 'en-GB'), fullTimeLabel(at(2026, 3, 9, 8, 5), 'en-GB'), dayLabel(at(2026, 1, 20), now, 'en-GB')];
    const before = made.mock.calls.length;
    for (let i = 0; i < 500; i++) {
      timeLabel(at(2026, 3, 9, 8, i % 60), 'en-GB');
      fullTimeLabel(at(2026, 3, 9, 8, i % 60), 'en-GB');
      dayLabel(at(2026, 1, 1 + (i % 28)), now, 'en-GB');
    }
    expect(made.mock.calls.length).toBe(before);
    for (const f of perCall) expect(f).not.toHaveBeenCalled();
    made.mockRestore();
    for (const f of perCall) f.mockRestore();
    expect(first[0]).toBe('08:05');
    expect(first[1]).toBe(new Date(at(2026, 3, 9, 8, 5)).toLocaleString('en-GB'));
    expect(first[2]).toBe('20 January');
  });

  it('puts a separator before each day and groups a sender’s messages', () => {
    const rows = rowsOf(
      [
        msg({ id: 1, timestamp_ms: at(2026, 3, 8, 10, 0) }),
        msg({ id: 2, timestamp_ms: at(2026, 3, 8, 10, 1) }),
        msg({ id: 3, timestamp_ms: at(2026, 3, 8, 10, 2), outgoing: true, sender: 'me@example.org' }),
        msg({ id: 4, timestamp_ms: at(2026, 3, 8, 10, 30), outgoing: true, sender: 'me@example.org' }),
        msg({ id: 5, timestamp_ms: at(2026, 3, 9, 9, 0) }),
      ],
      now,
    );
    expect(rows.map((r) => (r.kind === 'day' ? r.label : r.kind === 'message' ? `${r.message.id}${r.first ? '*' : ''}` : r.kind))).toEqual([
      'Yesterday',
      '1*',
      '2',
      '3*',
      '4*',
      'Today',
      '5*',
    ]);
    expect(rowsOf([], now, true)).toEqual([{ kind: 'start', key: 'start' }]);
  });

  it('puts a group chat’s joins and leaves between the messages, by time', () => {
    const fold = (id: number, t: number, joined: string[]) => ({ id, at_ms: t, joined, left: [], renamed: [], removed: [] });
    const list = [
      msg({ id: 1, timestamp_ms: at(2026, 3, 9, 10, 0) }),
      msg({ id: 2, timestamp_ms: at(2026, 3, 9, 10, 5) }),
      msg({ id: 3, timestamp_ms: at(2026, 3, 9, 10, 6) }),
    ];
    const folds = [fold(1, at(2026, 3, 9, 9, 0), ['Early']), fold(2, at(2026, 3, 9, 10, 2), ['Ann']), fold(3, at(2026, 3, 9, 10, 3), []), fold(4, at(2026, 3, 9, 11, 0), ['Bob'])];
    const shown = (complete: boolean) =>
      rowsOf(list, now, complete, null, folds).map((r) => (r.kind === 'activity' ? r.text : r.kind === 'message' ? `${r.message.id}${r.first ? '*' : ''}` : r.kind));
    // Before the oldest loaded message only once the start is loaded; a fold with nothing left to say is not shown.
    expect(shown(false)).toEqual(['day', '1*', 'Ann joined', '2*', '3', 'Bob joined']);
    expect(shown(true)).toEqual(['start', 'day', 'Early joined', '1*', 'Ann joined', '2*', '3', 'Bob joined']);
  });

  it('keeps the user’s own messages from several devices in one group', () => {
    const rows = rowsOf(
      [
        msg({ id: 1, timestamp_ms: at(2026, 3, 9, 10, 0), outgoing: true, sender: 'me@example.org' }),
        msg({ id: 2, timestamp_ms: at(2026, 3, 9, 10, 1), outgoing: true, sender: 'me@example.org/phone' }),
        msg({ id: 3, timestamp_ms: at(2026, 3, 9, 10, 2), outgoing: true, sender: 'me@example.org/tern.1' }),
      ],
      now,
    );
    expect(rows.flatMap((r) => (r.kind === 'message' ? [`${r.message.id}${r.first ? '*' : ''}`] : []))).toEqual(['1*', '2', '3']);
  });

  it('marks where the unread messages start', () => {
    const t = (min: number) => at(2026, 3, 9, 10, min);
    const items = [
      msg({ id: 1, timestamp_ms: t(0), state: 'seen' }),
      msg({ id: 2, timestamp_ms: t(1), state: 'received' }),
      msg({ id: 3, timestamp_ms: t(2), outgoing: true, sender: 'me@example.org', state: 'acked' }),
      msg({ id: 4, timestamp_ms: t(3), state: 'received' }),
      msg({ id: 5, timestamp_ms: t(4), state: 'received' }),
    ];
    // Unread after the user's own last message only (they saw what came before).
    expect(new Timeline(items).firstUnread()?.id).toBe(4);
    expect(new Timeline(items.slice(0, 2)).firstUnread()?.id).toBe(2);
    expect(new Timeline(items.slice(0, 1)).firstUnread()).toBeUndefined();
    const rows = rowsOf(items, now, false, 4);
    const shown = rows.map((r) => (r.kind === 'message' ? `${r.message.id}${r.first ? '*' : ''}` : r.kind));
    expect(shown).toEqual(['day', '1*', '2', '3*', 'unread', '4*', '5']);
    expect(rowsOf(items, now, false, 99).some((r) => r.kind === 'unread')).toBe(false);
  });

  it('reuses the rows of unchanged messages', () => {
    const a = msg({ id: 1, timestamp_ms: at(2026, 3, 9, 10) });
    const b = msg({ id: 2, timestamp_ms: at(2026, 3, 9, 10, 1) });
    const one = rowsOf([a, b]);
    const two = rowsOf([a, b, msg({ id: 3, timestamp_ms: at(2026, 3, 9, 10, 2) })]);
    expect(two[1]).toBe(one[1]);
    expect(two[2]).toBe(one[2]);
  });
});
