import { describe, expect, it, vi } from 'vitest';
import {
  applyEvent,
  EngineMirror,
  emptySnapshot,
  numbered,
  type AccountView,
  type ClientEvent,
  type ContactView,
  type EngineEvent,
  type EventBatch,
  type Snapshot,
} from '../../src/lib/engine';

const alice: AccountView = { jid: 'alice@example.org', enabled: true, state: { state: 'disabled' } };
const bob: AccountView = { jid: 'bob@example.org', enabled: false, state: { state: 'disabled' } };
const withAccounts = (...accounts: AccountView[]): Snapshot => ({ ...emptySnapshot(), accounts });

function applyAll(events: ClientEvent[], s: Snapshot = emptySnapshot()): Snapshot {
  return events.reduce(applyEvent, s);
}

const contact = (account: string, jid: string, subscription: ContactView['subscription']): ClientEvent => ({
  type: 'contact',
  contact: { account, jid, name: null, subscription, ask: false, groups: [], presence: [], avatar: null, nickname: null },
});

describe('applyEvent (mirror of Snapshot::apply)', () => {
  it('keeps rooms by account and address, and invitations once per room', () => {
    const room = (jid: string, name: string | null = null, account = alice.jid) =>
      ({
        account,
        jid,
        name,
        kind: 'private_group',
        subject: null,
        nick: 'alice',
        status: 'joined',
        error: null,
        error_text: null,
        error_by: null,
        role: 'participant',
        affiliation: 'member',
        occupants: 2,
        bookmarked: false,
        autojoin: false,
        notify: 'all',
        moderation: false,
        private_messages: true,
        password_protected: false,
      }) as const;
    const invitation = (room: string, reason: string, account = alice.jid) => ({
      account,
      room,
      inviter: 'bob@example.org',
      reason,
      password: null,
      from_contact: true,
      received_ms: 1,
    });
    let s = applyAll([
      { type: 'account_added', account: alice },
      { type: 'room', room: room('a@muc') },
      { type: 'room', room: room('b@muc') },
      { type: 'room', room: room('a@muc', 'A') },
      { type: 'room', room: room('c@muc', null, bob.jid) },
      { type: 'invitation', invitation: invitation('x@muc', 'first') },
      { type: 'invitation', invitation: invitation('y@muc', 'other') },
      { type: 'invitation', invitation: invitation('x@muc', 'again') },
    ]);
    expect(s.rooms.map((r) => `${r.jid}:${r.name}`)).toEqual(['a@muc:A', 'b@muc:null', 'c@muc:null']);
    expect(s.invitations.map((i) => i.reason)).toEqual(['other', 'again']);
    const same = s;
    expect(applyEvent(s, { type: 'room_removed', account: alice.jid, jid: 'nowhere@muc' })).toBe(same);
    s = applyAll(
      [
        { type: 'room_removed', account: alice.jid, jid: 'b@muc' },
        { type: 'invitation_removed', account: alice.jid, room: 'y@muc' },
      ],
      s,
    );
    expect(s.rooms.map((r) => r.jid)).toEqual(['a@muc', 'c@muc']);
    expect(s.invitations.map((i) => i.room)).toEqual(['x@muc']);
    s = applyEvent(s, { type: 'account_removed', jid: alice.jid });
    expect(s.rooms.map((r) => r.jid)).toEqual(['c@muc']);
    expect(s.invitations).toEqual([]);
  });

  it('adds accounts in order and replaces a re-added one at the end', () => {
    const s = applyAll([
      { type: 'account_added', account: alice },
      { type: 'account_added', account: bob },
      { type: 'account_added', account: { ...alice, enabled: false } },
    ]);
    expect(s.accounts.map((a) => a.jid)).toEqual(['bob@example.org', 'alice@example.org']);
    expect(s.accounts[1].enabled).toBe(false);
  });

  it('removes, enables and changes state by JID', () => {
    const s = applyAll([
      { type: 'account_added', account: alice },
      { type: 'account_added', account: bob },
      { type: 'account_enabled', jid: 'bob@example.org', enabled: true },
      { type: 'account_state', jid: 'alice@example.org', state: { state: 'connected', bound_jid: 'alice@example.org/tern', resumed: false } },
      { type: 'account_removed', jid: 'bob@example.org' },
    ]);
    expect(s.accounts).toEqual([
      { ...alice, state: { state: 'connected', bound_jid: 'alice@example.org/tern', resumed: false } },
    ]);
  });

  it('ignores events for unknown accounts and unknown event types', () => {
    const s = applyAll([{ type: 'account_added', account: alice }]);
    expect(applyEvent(s, { type: 'account_enabled', jid: 'nobody@x', enabled: false })).toEqual(s);
    expect(applyEvent(s, { type: 'contact_added', jid: 'x' } as unknown as ClientEvent)).toBe(s);
  });

  it('does not change its input', () => {
    const s = applyAll([
      { type: 'account_added', account: alice },
      { type: 'subscription_request', account: alice.jid, from: 'a@y', nick: null },
      { type: 'blocklist', account: alice.jid, blocked: ['s@spam'], unblocked: [], unblocked_all: false },
    ]);
    const copy = structuredClone(s);
    applyEvent(s, { type: 'account_removed', jid: alice.jid });
    applyEvent(s, { type: 'subscription_request_removed', account: alice.jid, from: 'a@y' });
    applyEvent(s, { type: 'blocklist', account: alice.jid, blocked: ['t@spam'], unblocked: ['s@spam'], unblocked_all: false });
    expect(s).toEqual(copy);
  });

  it('keeps one request per account and address, the newest last', () => {
    const s = applyAll([
      { type: 'subscription_request', account: 'me@x', from: 'a@y', nick: 'Old' },
      { type: 'subscription_request', account: 'me@x', from: 'b@y', nick: null },
      { type: 'subscription_request', account: 'other@x', from: 'a@y', nick: null },
      { type: 'subscription_request', account: 'me@x', from: 'a@y', nick: 'Ann' },
    ]);
    expect(s.requests).toEqual([
      { account: 'me@x', from: 'b@y', nick: null },
      { account: 'other@x', from: 'a@y', nick: null },
      { account: 'me@x', from: 'a@y', nick: 'Ann' },
    ]);
  });

  it('drops a request when the engine says it was answered, or the contact is subscribed', () => {
    let s = applyAll([
      { type: 'subscription_request', account: 'me@x', from: 'a@y', nick: null },
      { type: 'subscription_request', account: 'me@x', from: 'b@y', nick: null },
      { type: 'subscription_request', account: 'me@x', from: 'c@y', nick: null },
    ]);
    s = applyEvent(s, { type: 'subscription_request_removed', account: 'me@x', from: 'a@y' });
    expect(s.requests.map((r) => r.from)).toEqual(['b@y', 'c@y']);
    // Only for that account.
    expect(applyEvent(s, { type: 'subscription_request_removed', account: 'other@x', from: 'b@y' })).toBe(s);
    // `to` and `none` leave it; `from` and `both` answer it.
    expect(applyEvent(s, contact('me@x', 'b@y', 'to'))).toBe(s);
    expect(applyEvent(s, contact('me@x', 'b@y', 'none'))).toBe(s);
    s = applyEvent(s, contact('me@x', 'b@y', 'from'));
    s = applyEvent(s, contact('me@x', 'c@y', 'both'));
    expect(s.requests).toEqual([]);
  });

  it('applies blocklist pushes in the documented order, sorted', () => {
    let s = applyAll([
      { type: 'blocklist', account: 'me@x', blocked: ['t@spam', 's@spam'], unblocked: [], unblocked_all: true },
      { type: 'blocklist', account: 'me@x', blocked: ['u@spam'], unblocked: ['s@spam'], unblocked_all: false },
    ]);
    expect(s.blocked['me@x']).toEqual(['t@spam', 'u@spam']);
    // Everyone unblocked first, then the unblocked, then the blocked.
    s = applyEvent(s, { type: 'blocklist', account: 'me@x', blocked: ['v@spam', 'w@spam'], unblocked: ['w@spam'], unblocked_all: true });
    expect(s.blocked['me@x']).toEqual(['v@spam', 'w@spam']);
  });

  it('forgets the requests and blocklist of a removed account', () => {
    const s = applyAll([
      { type: 'account_added', account: alice },
      { type: 'account_added', account: bob },
      { type: 'subscription_request', account: alice.jid, from: 'a@y', nick: null },
      { type: 'subscription_request', account: bob.jid, from: 'b@y', nick: null },
      { type: 'blocklist', account: alice.jid, blocked: ['s@spam'], unblocked: [], unblocked_all: false },
      { type: 'blocklist', account: bob.jid, blocked: ['t@spam'], unblocked: [], unblocked_all: false },
      { type: 'account_removed', jid: alice.jid },
    ]);
    expect(s.requests).toEqual([{ account: bob.jid, from: 'b@y', nick: null }]);
    expect(s.blocked).toEqual({ [bob.jid]: ['t@spam'] });
  });
});

describe('batches', () => {
  const added = (account: AccountView): ClientEvent => ({ type: 'account_added', account });
  const batch = (seq: number, ...events: ClientEvent[]): EventBatch => ({ seq, events });

  it('numbers the events of a batch up to its seq', () => {
    const b = batch(7, added(alice), added(bob), { type: 'account_removed', jid: alice.jid });
    expect(numbered(b).map((e) => e.seq)).toEqual([5, 6, 7]);
    expect(numbered(batch(3))).toEqual([]);
  });

  it('holds batches until the snapshot and applies only the newer events', () => {
    const onChange = vi.fn();
    const m = new EngineMirror(onChange);
    m.batch(batch(1, added(alice))); // already in the snapshot below
    m.batch(batch(3, { type: 'account_enabled', jid: alice.jid, enabled: false }, added(bob)));
    expect(onChange).not.toHaveBeenCalled();
    m.reset({ seq: 2, snapshot: withAccounts(alice) });
    expect(m.snapshot.accounts.map((a) => a.jid)).toEqual([alice.jid, bob.jid]);
    expect(m.snapshot.accounts[0].enabled).toBe(true);
    expect(m.seq).toBe(3);
    expect(onChange).toHaveBeenCalledTimes(1);
  });

  it('applies a batch whole and tells once', () => {
    const onChange = vi.fn();
    const seen: EngineEvent[][] = [];
    const m = new EngineMirror(onChange, () => {}, { reset: () => {}, events: (l) => seen.push(l) });
    m.reset({ seq: 10, snapshot: emptySnapshot() });
    onChange.mockClear();
    m.batch(batch(13, added(alice), added(bob), { type: 'account_removed', jid: alice.jid }));
    expect(onChange).toHaveBeenCalledTimes(1);
    expect(onChange.mock.calls[0][0].accounts.map((a: AccountView) => a.jid)).toEqual([bob.jid]);
    expect(seen.map((l) => l.map((e) => e.seq))).toEqual([[11, 12, 13]]);
    expect(m.seq).toBe(13);
  });

  it('applies only the part of a batch above its seq', () => {
    const seen: number[] = [];
    const m = new EngineMirror(() => {}, () => {}, { reset: () => {}, events: (l) => seen.push(...l.map((e) => e.seq)) });
    m.reset({ seq: 5, snapshot: withAccounts(alice) });
    // 4 and 5 are in the snapshot already.
    m.batch(batch(6, added(alice), { type: 'account_enabled', jid: alice.jid, enabled: false }, added(bob)));
    expect(seen).toEqual([6]);
    expect(m.snapshot.accounts.map((a) => a.jid)).toEqual([alice.jid, bob.jid]);
    expect(m.snapshot.accounts[0].enabled).toBe(true);
    // A batch seen before changes nothing.
    m.batch(batch(6, added(alice), added(alice), added(bob)));
    expect(seen).toEqual([6]);
  });

  it('asks for a snapshot once on a gap, then applies what came after it', () => {
    const onGap = vi.fn();
    const m = new EngineMirror(() => {}, onGap);
    m.reset({ seq: 5, snapshot: withAccounts(alice) });
    m.batch(batch(5, added(bob)));
    expect(m.snapshot.accounts).toHaveLength(1);
    // 6 is missing.
    m.batch(batch(8, { type: 'account_enabled', jid: alice.jid, enabled: false }, added(bob)));
    expect(onGap).toHaveBeenCalledOnce();
    expect(m.snapshot.accounts).toHaveLength(1);
    expect(m.seq).toBe(5);
    m.batch(batch(9, { type: 'account_state', jid: bob.jid, state: { state: 'connecting', attempt: 1 } }));
    expect(onGap).toHaveBeenCalledOnce();
    // The fresh snapshot holds up to 7; 8 and 9 come from the held batches.
    m.reset({ seq: 7, snapshot: withAccounts({ ...alice, enabled: false }) });
    expect(m.snapshot.accounts.map((a) => `${a.jid}:${a.state.state}`)).toEqual([`${alice.jid}:disabled`, `${bob.jid}:connecting`]);
    expect(m.seq).toBe(9);
  });

  it('ignores a stale snapshot', () => {
    const m = new EngineMirror(() => {});
    m.reset({ seq: 3, snapshot: withAccounts(alice) });
    m.reset({ seq: 2, snapshot: emptySnapshot() });
    expect(m.snapshot.accounts).toHaveLength(1);
  });
});
