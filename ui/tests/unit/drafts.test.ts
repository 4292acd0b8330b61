import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DRAFTS_KEY, Drafts, MAX_DRAFT_CHARS, MAX_DRAFTS, loadDrafts } from '../../src/lib/drafts';
import { keyOf } from '../../src/lib/lists';

function memory() {
  const m = new Map<string, string>();
  return {
    m,
    writes: 0,
    getItem(k: string) {
      return m.get(k) ?? null;
    },
    setItem(k: string, v: string) {
      this.writes += 1;
      m.set(k, v);
    },
    removeItem(k: string) {
      m.delete(k);
    },
  };
}

describe('drafts', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('survive a restart, written once per pause in typing', () => {
    const store = memory();
    const d = new Drafts(store);
    const k = keyOf('me@a.example', 'juliet@b.example');
    for (const t of ['H', 'He', 'Hel', 'Hello']) d.set(k, t);
    expect(store.writes).toBe(0);
    vi.advanceTimersByTime(1000);
    expect(store.writes).toBe(1);
    expect(new Drafts(store).get(k)).toBe('Hello');
    // Sent (emptied): gone after a restart too.
    d.set(k, '');
    vi.advanceTimersByTime(1000);
    expect(new Drafts(store).get(k)).toBeUndefined();
    expect(store.m.has(DRAFTS_KEY)).toBe(false);
  });

  it('are bounded in number and length, the oldest going first', () => {
    const store = memory();
    const d = new Drafts(store);
    for (let i = 0; i < MAX_DRAFTS + 5; i++) d.set(keyOf('me@a.example', `p${i}@b.example`), `text ${i}`);
    d.set(keyOf('me@a.example', 'long@b.example'), 'x'.repeat(MAX_DRAFT_CHARS + 10));
    d.flush();
    const back = new Drafts(store);
    expect(back.get(keyOf('me@a.example', 'p0@b.example'))).toBeUndefined();
    expect(back.get(keyOf('me@a.example', `p${MAX_DRAFTS + 4}@b.example`))).toBe(`text ${MAX_DRAFTS + 4}`);
    expect(back.get(keyOf('me@a.example', 'long@b.example'))?.length).toBe(MAX_DRAFT_CHARS);
  });

  it('of a removed account are forgotten', () => {
    const store = memory();
    const d = new Drafts(store);
    d.set(keyOf('me@a.example', 'x@b.example'), 'one');
    d.set(keyOf('other@a.example', 'x@b.example'), 'two');
    d.deleteAccount('me@a.example');
    d.flush();
    const back = new Drafts(store);
    expect(back.get(keyOf('me@a.example', 'x@b.example'))).toBeUndefined();
    expect(back.get(keyOf('other@a.example', 'x@b.example'))).toBe('two');
  });

  it('read from damaged storage skip what is malformed', () => {
    const store = memory();
    for (const bad of ['garbage', '{"a": 1}', 'null', '42']) {
      store.m.set(DRAFTS_KEY, bad);
      expect(loadDrafts(store).size).toBe(0);
    }
    const k = keyOf('me@a.example', 'x@b.example');
    store.m.set(DRAFTS_KEY, JSON.stringify([[k, 'kept'], ['no-separator', 'x'], [k], [3, 'x'], [keyOf('a', 'b'), 7], [keyOf('a', 'c'), '']]));
    expect([...loadDrafts(store)]).toEqual([[k, 'kept']]);
    const throwing = { getItem: () => { throw new Error('denied'); } };
    expect(loadDrafts(throwing).size).toBe(0);
  });

  it('stay for the session when storage refuses to write', () => {
    const d = new Drafts({ getItem: () => null, setItem: () => { throw new Error('full'); }, removeItem: () => {} });
    const k = keyOf('me@a.example', 'x@b.example');
    d.set(k, 'still here');
    expect(() => d.flush()).not.toThrow();
    expect(d.get(k)).toBe('still here');
  });
});
