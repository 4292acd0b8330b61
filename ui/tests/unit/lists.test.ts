import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { emptySnapshot, type ClientEvent, type ContactView, type ConversationView, type EngineEvent } from '../../src/lib/engine';
import { groupContacts, keyOf, Loader, sortContacts, sortConversations, splitKey, TYPING_TTL_MS } from '../../src/lib/lists';
import { Contacts } from '../../src/lib/stores/contacts.svelte';
import { Conversations } from '../../src/lib/stores/conversations.svelte';
import { Typing } from '../../src/lib/stores/typing.svelte';

const conv = (peer: string, updated_ms: number, unread = 0, account = 'me@x'): ConversationView => ({
  account,
  peer,
  kind: 'chat',
  unread,
  mentions: 0,
  updated_ms,
  last: null,
});
const contact = (jid: string, p: Partial<ContactView> = {}): ContactView => ({
  account: 'me@x',
  jid,
  name: null,
  subscription: 'both',
  ask: false,
  groups: [],
  presence: [],
  avatar: null,
  nickname: null,
  ...p,
});

let seq = 0;
/** Events as a batch hands them to the stores. */
const batch = (...events: ClientEvent[]): EngineEvent[] => events.map((event) => ({ seq: ++seq, event }));
const upsertConv = (c: ConversationView): ClientEvent => ({ type: 'conversation', conversation: c });
const upsertContact = (c: ContactView): ClientEvent => ({ type: 'contact', contact: c });

describe('keys', () => {
  it('joins and splits account and peer', () => {
    expect(splitKey(keyOf('me@x', 'a@y/res'))).toEqual(['me@x', 'a@y/res']);
  });
});

describe('conversations', () => {
  it('upserts by account and peer and sorts by activity', () => {
    const s = new Conversations();
    s.events(batch(upsertConv(conv('a@y', 1)), upsertConv(conv('b@y', 2))));
    s.events(batch(upsertConv(conv('a@y', 3, 2))));
    expect(s.list().map((c) => `${c.peer}:${c.unread}`)).toEqual(['a@y:2', 'b@y:0']);
    s.events(batch(upsertConv(conv('a@y', 0, 0, 'other@x'))));
    expect(s.list()).toHaveLength(3);
    expect(s.list()[2].account).toBe('other@x');
    s.events(batch({ type: 'conversation_deleted', account: 'me@x', peer: 'a@y' }));
    expect(s.list().map((c) => `${c.account}/${c.peer}`)).toEqual(['me@x/b@y', 'other@x/a@y']);
    expect(s.get('me@x', 'a@y')).toBeUndefined();
  });

  it('re-sorts only when activity changes, and sums unread messages', () => {
    const s = new Conversations();
    s.events(batch(upsertConv(conv('a@y', 1, 1)), upsertConv(conv('b@y', 2, 2))));
    const keys = s.keys;
    expect(s.unread).toBe(3);
    // Read: the same order, not worked out again.
    s.events(batch(upsertConv(conv('b@y', 2, 0))));
    expect(s.keys).toBe(keys);
    expect(s.unread).toBe(1);
    s.events(batch(upsertConv(conv('a@y', 5, 1))));
    expect(s.keys).toEqual([keyOf('me@x', 'a@y'), keyOf('me@x', 'b@y')]);
  });

  it('drops the conversations of a removed account', () => {
    const s = new Conversations();
    s.events(batch(upsertConv(conv('a@y', 1)), upsertConv(conv('a@y', 2, 0, 'other@x'))));
    s.events(batch({ type: 'account_removed', jid: 'me@x' }));
    expect(s.list().map((c) => c.account)).toEqual(['other@x']);
    expect([...s.accounts]).toEqual(['other@x']);
  });

  it('sorts ties by peer, then account', () => {
    const l = sortConversations([conv('b@y', 1), conv('a@y', 1, 0, 'z@x'), conv('a@y', 1), conv('c@y', 2)]);
    expect(l.map((c) => `${c.account}/${c.peer}`)).toEqual(['me@x/c@y', 'me@x/a@y', 'z@x/a@y', 'me@x/b@y']);
  });
});

describe('contacts', () => {
  it('upserts, removes and sorts by name', () => {
    const s = new Contacts();
    s.events(batch(upsertContact(contact('z@y', { name: 'Anna' })), upsertContact(contact('b@y'))));
    s.events(batch(upsertContact(contact('a@y'))));
    expect(s.sorted.map((c) => c.jid)).toEqual(['a@y', 'z@y', 'b@y']);
    s.events(batch(upsertContact(contact('b@y', { name: 'A' }))));
    expect(s.sorted.map((c) => c.jid)).toEqual(['b@y', 'a@y', 'z@y']);
    s.events(batch({ type: 'contact_removed', account: 'me@x', jid: 'a@y' }));
    expect(s.sorted.map((c) => c.jid)).toEqual(['b@y', 'z@y']);
    expect(sortContacts([contact('z@y', { name: 'Anna' }), contact('b@y'), contact('a@y')]).map((c) => c.jid)).toEqual(['a@y', 'z@y', 'b@y']);
  });

  it('takes avatars and nicknames from profile changes', () => {
    const s = new Contacts();
    s.events(batch(upsertContact(contact('a@y')), upsertContact(contact('b@y', { name: 'Zed' }))));
    s.events(batch({ type: 'profile', account: 'me@x', jid: 'a@y', profile: { avatar: 'f'.repeat(40), nickname: 'Zara' } }));
    expect(s.sorted.map((c) => `${c.jid}:${c.nickname ?? ''}`)).toEqual(['a@y:Zara', 'b@y:']);
    expect(s.get('me@x', 'a@y')?.avatar).toBe('f'.repeat(40));
    s.events(batch({ type: 'profile', account: 'me@x', jid: 'nobody@y', profile: { avatar: null, nickname: null } }));
    expect(s.size).toBe(2);
    expect(s.get('me@x', 'nobody@y')).toBeUndefined();
  });

  it('keeps the order and groups when only presence changes', () => {
    const s = new Contacts();
    s.events(batch(upsertContact(contact('a@y', { groups: ['Work'] })), upsertContact(contact('b@y'))));
    const sorted = s.sorted;
    const grouped = s.grouped;
    s.events(batch(upsertContact(contact('a@y', { groups: ['Work'], presence: [{ resource: 'r', show: 'away', status: 'Out', priority: 0, client: null, calls: false }] }))));
    expect(s.get('me@x', 'a@y')?.presence[0].show).toBe('away');
    expect(s.sorted).toBe(sorted);
    expect(s.grouped).toBe(grouped);
    s.events(batch(upsertContact(contact('a@y', { groups: ['Home'] }))));
    expect(s.groups).toEqual(['Home']);
  });

  it('groups contacts, ungrouped last, a contact in each of its groups', () => {
    const g = groupContacts([contact('a@y', { groups: ['Work', 'Friends'] }), contact('b@y'), contact('c@y', { groups: ['Work', 'Work'] })]);
    expect(g.map(([name, cs]) => `${name || '-'}:${cs.map((c) => c.jid[0]).join('')}`)).toEqual(['Friends:a', 'Work:ac', '-:b']);
  });

  it('takes requests and blocklists from the snapshot; an answered request stays until the engine removes it', () => {
    const s = new Contacts();
    const request = { account: 'me@x', from: 'a@y', nick: null };
    s.setSnapshot({ ...emptySnapshot(), requests: [request], blocked: { 'me@x': ['s@spam'] } });
    expect(s.requests).toEqual([request]);
    expect(s.isBlocked('me@x', 's@spam')).toBe(true);
    expect(s.blocked('other@x')).toEqual([]);
    s.answering.add(keyOf('me@x', 'a@y'));
    s.setSnapshot({ ...emptySnapshot(), requests: [request] });
    expect(s.answering.has(keyOf('me@x', 'a@y'))).toBe(true);
    s.setSnapshot(emptySnapshot());
    expect(s.requests).toEqual([]);
    expect(s.answering.size).toBe(0);
  });
});

describe('chat states', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(1000);
  });
  afterEach(() => vi.useRealTimers());

  it('shows typing until paused or expired', () => {
    const t = new Typing();
    t.set('me@x', 'a@y', 'composing');
    vi.advanceTimersByTime(1);
    expect(t.is('me@x', 'a@y')).toBe(true);
    vi.advanceTimersByTime(TYPING_TTL_MS - 1);
    expect(t.is('me@x', 'a@y')).toBe(false);
    t.set('me@x', 'a@y', 'composing');
    // A new `composing` starts the wait again.
    vi.advanceTimersByTime(TYPING_TTL_MS - 10);
    t.set('me@x', 'a@y', 'composing');
    vi.advanceTimersByTime(20);
    expect(t.is('me@x', 'a@y')).toBe(true);
    t.set('me@x', 'a@y', 'paused');
    expect(t.is('me@x', 'a@y')).toBe(false);
    t.set('me@x', 'a@y', 'active');
    expect(t.is('me@x', 'a@y')).toBe(false);
  });

  it('ends with a message from them', () => {
    const t = new Typing();
    t.events(batch({ type: 'chat_state', account: 'me@x', peer: 'a@y', state: 'composing' }));
    expect(t.is('me@x', 'a@y')).toBe(true);
    const m = { id: 1, account: 'me@x', peer: 'a@y', outgoing: false, sender: 'a@y', uid: 'u', body: 'hi', timestamp_ms: 1, state: 'received', edited: false, retracted: false, reply_to: null, reactions: {}, me: false, failure: null, failure_text: null, mention: false, moderated_by: null, moderation_reason: null, file: null, encrypted: false, decrypt_error: null, held: null, call: null } as const;
    t.events(batch({ type: 'message', message: { ...m, outgoing: true } }));
    expect(t.is('me@x', 'a@y')).toBe(true);
    t.events(batch({ type: 'message', message: m }));
    expect(t.is('me@x', 'a@y')).toBe(false);
  });
});

describe('Loader', () => {
  it('applies events newer than the list that arrived while loading', async () => {
    let items: ConversationView[] = [];
    const l = new Loader<ConversationView>(
      (ev) => {
        if (ev.type === 'conversation') items = sortConversations([...items.filter((c) => c.peer !== ev.conversation.peer), ev.conversation]);
      },
      (list) => (items = list),
    );
    let answer: (v: { seq: number; items: ConversationView[] }) => void = () => {};
    const done = l.load(() => new Promise((r) => (answer = r)));
    const ev = (seq: number, c: ConversationView): EngineEvent => ({ seq, event: { type: 'conversation', conversation: c } });
    expect(l.hold(ev(4, conv('old@y', 1, 9)))).toBe(true); // already in the list
    expect(l.hold(ev(6, conv('a@y', 10, 1)))).toBe(true);
    answer({ seq: 5, items: [conv('a@y', 5), conv('old@y', 1, 0)] });
    await done;
    expect(items.map((c) => `${c.peer}:${c.unread}`)).toEqual(['a@y:1', 'old@y:0']);
    expect(l.hold(ev(7, conv('a@y', 11)))).toBe(false);
  });

  it('lets the last of two loads win, and applies what it held when a load fails', async () => {
    const applied: number[] = [];
    let set: number[][] = [];
    const l = new Loader<number>(
      (ev) => ev.type === 'history_sync' && applied.push(ev.fetched),
      (list) => set.push(list),
    );
    const answers: ((v: { seq: number; items: number[] }) => void)[] = [];
    const first = l.load(() => new Promise((r) => answers.push(r)));
    const second = l.load(() => new Promise((r) => answers.push(r)));
    l.hold({ seq: 3, event: { type: 'history_sync', account: 'me@x', fetched: 3, oldest_ms: null, done: false } });
    answers[1]({ seq: 2, items: [2] });
    await second;
    answers[0]({ seq: 1, items: [1] });
    await first;
    expect(set).toEqual([[2]]);
    expect(applied).toEqual([3]);
    set = [];
    const failed = l.load(() => Promise.reject(new Error('offline')));
    l.hold({ seq: 4, event: { type: 'history_sync', account: 'me@x', fetched: 4, oldest_ms: null, done: false } });
    await expect(failed).rejects.toThrow('offline');
    expect(set).toEqual([]);
    expect(applied).toEqual([3, 4]);
  });
});
