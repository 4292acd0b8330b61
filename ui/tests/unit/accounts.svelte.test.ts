import { describe, expect, it } from 'vitest';
import type { AccountView, ClientEvent, EngineEvent } from '../../src/lib/engine';
import { accounts } from '../../src/lib/stores/accounts.svelte';

const A = 'alice@example.org';
const B = 'bob@example.net';
const account = (jid: string): AccountView => ({ jid, enabled: true, state: { state: 'disabled' } });
let seq = 0;
const events = (...list: ClientEvent[]): EngineEvent[] => list.map((event) => ({ seq: ++seq, event }));
const sync = (account: string, fetched: number, oldest_ms: number | null, done = false): ClientEvent => ({ type: 'history_sync', account, fetched, oldest_ms, done });

describe('history loading per account', () => {
  it('keeps how far each account got until it is done', () => {
    accounts.set([account(A), account(B)]);
    expect(accounts.events(events(sync(B, 0, null), sync(A, 100, 5000)))).toBe(false);
    // In the order of the accounts, with their progress.
    expect(accounts.loading).toEqual([
      { account: A, fetched: 100, oldest_ms: 5000 },
      { account: B, fetched: 0, oldest_ms: null },
    ]);
    accounts.events(events(sync(A, 2300, 3000)));
    expect(accounts.loading[0]).toEqual({ account: A, fetched: 2300, oldest_ms: 3000 });
    // Done (the conversations are then loaded again).
    expect(accounts.events(events(sync(A, 2300, 1000, true)))).toBe(true);
    expect(accounts.loading.map((p) => p.account)).toEqual([B]);
    // A removed account loads nothing any more.
    accounts.events(events({ type: 'account_removed', jid: B }));
    expect(accounts.loading).toEqual([]);
  });

  it('takes events from an engine that does not say how far back', () => {
    accounts.set([account(A)]);
    accounts.events(events({ type: 'history_sync', account: A, fetched: 7, done: false } as unknown as ClientEvent));
    expect(accounts.loading).toEqual([{ account: A, fetched: 7, oldest_ms: null }]);
    accounts.events(events(sync(A, 7, null, true)));
  });
});
