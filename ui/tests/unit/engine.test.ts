import { describe, expect, it, vi } from 'vitest';
import { applyEvent, EngineMirror, emptySnapshot, type AccountView, type ClientEvent, type Snapshot } from '../../src/lib/engine';

const alice: AccountView = { jid: 'alice@example.org', enabled: true, state: { state: 'disabled' } };
const bob: AccountView = { jid: 'bob@example.org', enabled: false, state: { state: 'disabled' } };

function applyAll(events: ClientEvent[], s: Snapshot = emptySnapshot()): Snapshot {
  return events.reduce(applyEvent, s);
}

describe('applyEvent (mirror of Snapshot::apply)', () => {
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
    const s = applyAll([{ type: 'account_added', account: alice }]);
    const copy = structuredClone(s);
    applyEvent(s, { type: 'account_removed', jid: alice.jid });
    expect(s).toEqual(copy);
  });
});

describe('EngineMirror', () => {
  const added = (seq: number, account: AccountView) => ({ seq, event: { type: 'account_added' as const, account } });

  it('holds events until the snapshot and applies only newer ones', () => {
    const onChange = vi.fn();
    const m = new EngineMirror(onChange);
    m.event(added(1, alice)); // already in the snapshot below
    m.event(added(2, bob));
    expect(onChange).not.toHaveBeenCalled();
    m.reset({ seq: 1, snapshot: { accounts: [alice] } });
    expect(m.snapshot.accounts.map((a) => a.jid)).toEqual([alice.jid, bob.jid]);
    expect(m.seq).toBe(2);
    expect(onChange).toHaveBeenCalledTimes(1);
  });

  it('drops repeated events and asks for a snapshot on a gap', () => {
    const onGap = vi.fn();
    const m = new EngineMirror(() => {}, onGap);
    m.reset({ seq: 5, snapshot: { accounts: [alice] } });
    m.event(added(5, bob));
    expect(m.snapshot.accounts).toHaveLength(1);
    m.event(added(7, bob));
    expect(onGap).toHaveBeenCalledOnce();
    expect(m.snapshot.accounts).toHaveLength(1);
    m.reset({ seq: 7, snapshot: { accounts: [alice, bob] } });
    expect(m.snapshot.accounts).toHaveLength(2);
  });

  it('ignores a stale snapshot', () => {
    const m = new EngineMirror(() => {});
    m.reset({ seq: 3, snapshot: { accounts: [alice] } });
    m.reset({ seq: 2, snapshot: emptySnapshot() });
    expect(m.snapshot.accounts).toHaveLength(1);
  });
});
