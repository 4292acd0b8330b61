import { describe, expect, it } from 'vitest';
import type { ContactView, ConversationView, EngineEvent } from '../../src/lib/engine';
import {
  applyChatState,
  applyInbox,
  applyProfile,
  expireTyping,
  groupContacts,
  isTyping,
  Loader,
  removeContact,
  TYPING_TTL_MS,
  upsertContact,
  upsertConversation,
  removeConversation,
  type Inbox,
} from '../../src/lib/lists';

const conv = (peer: string, updated_ms: number, unread = 0, account = 'me@x'): ConversationView => ({
  account,
  peer,
  kind: 'chat',
  unread,
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
  ...p,
});

describe('conversations', () => {
  it('upserts by account and peer and sorts by activity', () => {
    let l = [conv('a@y', 1), conv('b@y', 2)];
    l = upsertConversation(l, conv('a@y', 3, 2));
    expect(l.map((c) => `${c.peer}:${c.unread}`)).toEqual(['a@y:2', 'b@y:0']);
    l = upsertConversation(l, conv('a@y', 0, 0, 'other@x'));
    expect(l).toHaveLength(3);
    expect(l[2].account).toBe('other@x');
    l = removeConversation(l, 'me@x', 'a@y');
    expect(l.map((c) => `${c.account}/${c.peer}`)).toEqual(['me@x/b@y', 'other@x/a@y']);
  });
});

describe('contacts', () => {
  it('upserts, removes and sorts by name', () => {
    let l = [contact('z@y', { name: 'Anna' }), contact('b@y')];
    l = upsertContact(l, contact('a@y'));
    expect(l.map((c) => c.jid)).toEqual(['a@y', 'z@y', 'b@y']);
    l = upsertContact(l, contact('b@y', { name: 'A' }));
    expect(l.map((c) => c.jid)).toEqual(['b@y', 'a@y', 'z@y']);
    expect(removeContact(l, 'me@x', 'a@y').map((c) => c.jid)).toEqual(['b@y', 'z@y']);
  });

  it('takes avatars and nicknames from profile changes', () => {
    const l = applyProfile([contact('a@y'), contact('b@y', { name: 'Zed' })], 'me@x', 'a@y', { avatar: 'f'.repeat(40), nickname: 'Zara' });
    expect(l.map((c) => `${c.jid}:${c.nickname ?? ''}`)).toEqual(['a@y:Zara', 'b@y:']);
    expect(applyProfile(l, 'me@x', 'nobody@y', { avatar: null, nickname: null })).toBe(l);
  });

  it('groups contacts, ungrouped last, a contact in each of its groups', () => {
    const g = groupContacts([contact('a@y', { groups: ['Work', 'Friends'] }), contact('b@y'), contact('c@y', { groups: ['Work', 'Work'] })]);
    expect(g.map(([name, cs]) => `${name || '-'}:${cs.map((c) => c.jid[0]).join('')}`)).toEqual(['Friends:a', 'Work:ac', '-:b']);
  });
});

describe('chat states', () => {
  it('shows typing until paused or expired', () => {
    let t = applyChatState({}, 'me@x', 'a@y', 'composing', 1000);
    expect(isTyping(t, 'me@x', 'a@y', 1001)).toBe(true);
    expect(isTyping(t, 'me@x', 'a@y', 1000 + TYPING_TTL_MS)).toBe(false);
    expect(expireTyping(t, 5000)).toBe(t);
    expect(expireTyping(t, 1000 + TYPING_TTL_MS)).toEqual({});
    t = applyChatState(t, 'me@x', 'a@y', 'paused', 2000);
    expect(isTyping(t, 'me@x', 'a@y', 2001)).toBe(false);
    expect(applyChatState(t, 'me@x', 'a@y', 'active', 3000)).toBe(t);
  });
});

describe('inbox', () => {
  const empty: Inbox = { requests: [], blocked: {} };
  it('keeps requests until the contact is subscribed', () => {
    let i = applyInbox(empty, { type: 'subscription_request', account: 'me@x', from: 'a@y' });
    i = applyInbox(i, { type: 'subscription_request', account: 'me@x', from: 'a@y' });
    expect(i.requests).toEqual([{ account: 'me@x', from: 'a@y', nick: null }]);
    i = applyInbox(i, { type: 'contact', contact: contact('a@y', { subscription: 'to' }) });
    expect(i.requests).toHaveLength(1);
    i = applyInbox(i, { type: 'contact', contact: contact('a@y', { subscription: 'both' }) });
    expect(i.requests).toEqual([]);
  });

  it('applies blocklist pushes in the documented order', () => {
    let i = applyInbox(empty, { type: 'blocklist', account: 'me@x', blocked: ['s@spam', 't@spam'], unblocked: [], unblocked_all: true });
    i = applyInbox(i, { type: 'blocklist', account: 'me@x', blocked: ['u@spam'], unblocked: ['s@spam'], unblocked_all: false });
    expect(i.blocked['me@x']).toEqual(['t@spam', 'u@spam']);
    i = applyInbox(i, { type: 'account_removed', jid: 'me@x' });
    expect(i.blocked).toEqual({});
  });
});

describe('Loader', () => {
  it('applies events newer than the list that arrived while loading', async () => {
    let items: ConversationView[] = [];
    const l = new Loader<ConversationView>(
      (list, ev) => (ev.type === 'conversation' ? upsertConversation(list, ev.conversation) : list),
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
});
