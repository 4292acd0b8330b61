import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CallView, ClientEvent } from '../../src/lib/engine';

const api = {
  calls: vi.fn(),
  placeCall: vi.fn(),
  acceptCall: vi.fn(),
  hangUp: vi.fn(),
  setCallMuted: vi.fn(),
};
vi.mock('../../src/lib/api', () => ({ api }));
const { Calls } = await import('../../src/lib/stores/calls.svelte');

const ME = 'alice@example.org';
const JULIET = 'juliet@capulet.example';
const call = (p: Partial<CallView> = {}): CallView => ({
  account: ME,
  id: 'c1',
  peer: JULIET,
  outgoing: true,
  state: 'calling',
  ended: null,
  problem: null,
  muted: false,
  relayed: false,
  quality: null,
  started_ms: Date.now(),
  connected_ms: null,
  ended_ms: null,
  verification: 'none',
  omemo_fingerprint: null,
  ...p,
});
let seq = 0;
const events = (...list: ClientEvent[]) => list.map((event) => ({ seq: ++seq, event }));
const ev = (c: CallView): ClientEvent => ({ type: 'call', call: c });

beforeEach(() => {
  vi.useFakeTimers();
  for (const f of Object.values(api)) f.mockReset();
});
afterEach(() => vi.useRealTimers());

describe('calls', () => {
  it('loads whether calls are available and what the engine knows; not available when the command fails', async () => {
    const s = new Calls();
    api.calls.mockResolvedValue({ available: true, calls: [call({ state: 'active', connected_ms: Date.now() })] });
    await s.load();
    expect(s.available).toBe(true);
    expect(s.live?.id).toBe('c1');
    api.calls.mockRejectedValue(new Error('no such command'));
    await s.load();
    expect(s.available).toBe(false);
    api.calls.mockResolvedValue(null);
    await s.load();
    expect(s.available).toBe(false);
  });

  it('keeps a call an event changed while loading (the event is newer)', async () => {
    const s = new Calls();
    let answer: (v: unknown) => void = () => {};
    api.calls.mockReturnValue(new Promise((r) => (answer = r)));
    const loading = s.load();
    s.events(events(ev(call({ state: 'ringing' }))));
    answer({ available: true, calls: [call({ state: 'calling' }), call({ id: 'old', state: 'ended', ended: 'missed', ended_ms: 1 })] });
    await loading;
    expect(s.list.map((c) => [c.id, c.state])).toEqual([
      ['c1', 'ringing'],
      ['old', 'ended'],
    ]);
  });

  it('upserts calls from events; the prompt rings for an incoming one, the bar shows the others', () => {
    const s = new Calls();
    s.events(events(ev(call({ outgoing: false, state: 'ringing' }))));
    expect(s.ringing?.id).toBe('c1');
    expect(s.bar).toBeNull();
    s.events(events(ev(call({ outgoing: false, state: 'connecting' }))));
    expect(s.ringing).toBeNull();
    expect(s.bar?.state).toBe('connecting');
    expect(s.list).toHaveLength(1);
  });

  it('ticks while a call runs, and hides how it ended after a few seconds', () => {
    const s = new Calls();
    const t0 = Date.now();
    s.events(events(ev(call({ state: 'active', connected_ms: t0 }))));
    vi.advanceTimersByTime(3000);
    expect(s.now - t0).toBeGreaterThanOrEqual(3000);
    s.events(events(ev(call({ state: 'ended', ended: 'hung_up', connected_ms: t0, ended_ms: Date.now() }))));
    expect(s.bar?.ended).toBe('hung_up');
    vi.advanceTimersByTime(6000);
    expect(s.bar).toBeNull();
    const now = s.now;
    vi.advanceTimersByTime(5000);
    // Nothing runs: no more ticks.
    expect(s.now).toBe(now);
  });

  it('keeps a failure until dismissed', () => {
    const s = new Calls();
    s.events(events(ev(call({ state: 'ended', ended: 'failed', problem: 'No microphone', ended_ms: Date.now() }))));
    vi.advanceTimersByTime(60_000);
    s.now = Date.now();
    expect(s.bar?.ended).toBe('failed');
    s.dismiss('c1');
    expect(s.bar).toBeNull();
  });

  it('mutes at once and goes back when the engine refuses', async () => {
    const s = new Calls();
    s.events(events(ev(call({ state: 'active', connected_ms: Date.now() }))));
    api.setCallMuted.mockResolvedValue(undefined);
    await s.setMuted('c1', true);
    expect(api.setCallMuted).toHaveBeenCalledWith('c1', true);
    expect(s.live?.muted).toBe(true);
    api.setCallMuted.mockRejectedValue({ kind: 'no_call', message: 'This call is over.' });
    await expect(s.setMuted('c1', false)).rejects.toMatchObject({ kind: 'no_call' });
    expect(s.live?.muted).toBe(true);
  });

  it('a placed call is there before its event; an account removed takes its calls', async () => {
    const s = new Calls();
    api.placeCall.mockResolvedValue(call());
    await s.place(ME, JULIET);
    expect(api.placeCall).toHaveBeenCalledWith(ME, JULIET);
    expect(s.bar?.state).toBe('calling');
    s.events(events(ev(call({ state: 'ringing' }))));
    expect(s.list).toHaveLength(1);
    s.events(events({ type: 'account_removed', jid: ME }));
    expect(s.list).toEqual([]);
  });

  it('lists a conversation’s ended calls', () => {
    const s = new Calls();
    s.events(events(ev(call({ state: 'ended', ended: 'missed', outgoing: false, ended_ms: Date.now() })), ev(call({ id: 'c2', state: 'active' }))));
    expect(s.lines(ME, JULIET).map((l) => l.text)).toEqual(['Missed call']);
  });
});
