import { describe, expect, it, vi } from 'vitest';
import {
  announceText,
  barCall,
  callButton,
  callErrorText,
  callLock,
  callLines,
  callLineText,
  chooseDevice,
  deviceErrorText,
  deviceSections,
  duration,
  endedText,
  ENDED_SHOWN_MS,
  hearsRingback,
  hidesAt,
  liveCall,
  liveText,
  redialLabel,
  ringingCall,
  STRANGER,
  strangerCallText,
  talkTime,
} from '../../src/lib/calls';
import type { CallView, ContactView, ResourcePresence } from '../../src/lib/engine';
import { RING, RINGBACK_HZ, RINGBACK_ON_S, RINGBACK_PERIOD_MS, startRingback, startRingtone, type RingContext } from '../../src/lib/ringtone';
import { rowsOf } from '../../src/lib/timeline';

const ME = 'alice@example.org';
const JULIET = 'juliet@capulet.example';
const T = 1_770_000_000_000;

export function call(p: Partial<CallView> = {}): CallView {
  return {
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
    started_ms: T,
    connected_ms: null,
    ended_ms: null,
    verification: 'none',
    omemo_fingerprint: null,
    ...p,
  };
}
const ended = (p: Partial<CallView>) => call({ state: 'ended', ended_ms: T + 60_000, ...p });
const res = (p: Partial<ResourcePresence> = {}): ResourcePresence => ({
  resource: 'phone',
  show: 'available',
  status: null,
  priority: 0,
  client: null,
  calls: false,
  ...p,
});
const contact = (presence: ResourcePresence[]): ContactView => ({
  account: ME,
  jid: JULIET,
  name: 'Juliet',
  subscription: 'both',
  ask: false,
  groups: [],
  presence,
  avatar: null,
  nickname: null,
});

describe('durations', () => {
  it('reads as m:ss, and h:mm:ss from an hour', () => {
    expect(duration(0)).toBe('0:00');
    expect(duration(7_400)).toBe('0:07');
    expect(duration(151_000)).toBe('2:31');
    expect(duration(3_723_000)).toBe('1:02:03');
    expect(duration(-5)).toBe('0:00');
  });

  it('counts from when audio flowed, until the end or now', () => {
    expect(talkTime(call({ state: 'connecting' }), T + 5000)).toBeNull();
    expect(talkTime(call({ state: 'active', connected_ms: T + 2000 }), T + 12_000)).toBe(10_000);
    expect(talkTime(ended({ connected_ms: T, ended_ms: T + 151_000 }), T + 999_999)).toBe(151_000);
  });
});

describe('which call', () => {
  it('the running one is the one not ended; an incoming one that rings is for the prompt', () => {
    const old = ended({ id: 'old' });
    const ringing = call({ id: 'in', outgoing: false, state: 'ringing' });
    expect(liveCall([old])).toBeNull();
    expect(liveCall([ringing, old])).toBe(ringing);
    expect(ringingCall([old, ringing])).toBe(ringing);
    expect(ringingCall([call({ state: 'ringing' })])).toBeNull();
    expect(barCall([ringing, old], T, 0, new Set())).toBeNull();
    const out = call({ id: 'out', state: 'ringing' });
    expect(barCall([old, out], T, 0, new Set())).toBe(out);
  });

  it('an ended call shows for a few seconds, a failed or missed one until dismissed', () => {
    const end = T + 60_000;
    const done = ended({ ended: 'hung_up', connected_ms: T });
    expect(barCall([done], end + 1000, 0, new Set())).toBe(done);
    expect(barCall([done], end + ENDED_SHOWN_MS, 0, new Set())).toBeNull();
    expect(hidesAt(done)).toBe(end + ENDED_SHOWN_MS);

    const failed = ended({ ended: 'failed', problem: 'No route to Juliet' });
    expect(barCall([failed], end + 3_600_000, 0, new Set())).toBe(failed);
    expect(barCall([failed], end + 3_600_000, 0, new Set(['c1']))).toBeNull();
    expect(hidesAt(failed)).toBeNull();
    // Not news: it failed before the window was there.
    expect(barCall([failed], end + 3_600_000, end + 1, new Set())).toBeNull();

    const missed = ended({ outgoing: false, ended: 'missed' });
    expect(barCall([missed], end + 3_600_000, 0, new Set())).toBe(missed);
  });

  it('the last to end is the one shown', () => {
    const a = ended({ id: 'a', ended: 'failed', ended_ms: T + 1000 });
    const b = ended({ id: 'b', ended: 'hung_up', ended_ms: T + 2000 });
    expect(barCall([b, a], T + 2500, 0, new Set())).toBe(b);
    expect(barCall([b, a], T + 2000 + ENDED_SHOWN_MS, 0, new Set())).toBeNull();
  });
});

describe('words', () => {
  it('for a running call', () => {
    expect(liveText(call(), T)).toBe('Calling…');
    expect(liveText(call({ state: 'ringing' }), T)).toBe('Ringing…');
    expect(liveText(call({ state: 'connecting' }), T)).toBe('Connecting…');
    expect(liveText(call({ state: 'active', connected_ms: T }), T + 151_400)).toBe('2:31');
  });

  it('for a screen reader, as the call changes', () => {
    expect(announceText(call(), 'Juliet')).toBe('Calling Juliet…');
    expect(announceText(call({ state: 'ringing' }), 'Juliet')).toBe('Ringing Juliet…');
    expect(announceText(call({ state: 'ringing', outgoing: false }), 'Juliet')).toBe('Juliet is calling');
    expect(announceText(call({ state: 'connecting' }), 'Juliet')).toBe('Connecting to Juliet…');
    expect(announceText(call({ state: 'active', connected_ms: T }), 'Juliet')).toBe('In a call with Juliet');
    expect(announceText(call({ state: 'active', connected_ms: T, quality: 'poor' }), 'Juliet')).toBe('In a call with Juliet. Poor connection');
    expect(announceText(ended({ ended: 'busy' }), 'Juliet')).toBe('Juliet is busy');
  });

  it('for how a call ended', () => {
    const at = (p: Partial<CallView>) => endedText(ended(p), 'Juliet');
    expect(at({ ended: 'hung_up', connected_ms: T + 60_000 - 151_000 })).toBe('Call ended · 2:31');
    expect(at({ ended: 'peer_hung_up', connected_ms: T })).toBe('Call ended · 1:00');
    expect(at({ ended: 'hung_up' })).toBe('Call ended');
    expect(at({ ended: 'declined' })).toBe('Juliet declined');
    expect(at({ ended: 'declined', outgoing: false })).toBe('Call declined');
    expect(at({ ended: 'missed' })).toBe('No answer');
    expect(at({ ended: 'missed', outgoing: false })).toBe('Missed call from Juliet');
    expect(at({ ended: 'busy' })).toBe('Juliet is busy');
    expect(at({ ended: 'cancelled' })).toBe('Call cancelled');
    expect(at({ ended: 'answered_elsewhere', outgoing: false })).toBe('Answered on another device');
    expect(at({ ended: 'declined_elsewhere', outgoing: false })).toBe('Declined on another device');
    expect(at({ ended: 'failed', problem: 'No audio device could be opened.' })).toBe('Call failed: No audio device could be opened.');
    expect(at({ ended: 'failed' })).toBe('Call failed');
  });

  it('offers to call back a missed call and to call again one nobody took', () => {
    expect(redialLabel(ended({ outgoing: false, ended: 'missed' }))).toBe('Call back');
    expect(redialLabel(ended({ ended: 'missed' }))).toBe('Call again');
    expect(redialLabel(ended({ ended: 'busy' }))).toBe('Call again');
    expect(redialLabel(ended({ ended: 'hung_up', connected_ms: T }))).toBeNull();
    expect(redialLabel(ended({ ended: 'cancelled' }))).toBeNull();
    expect(redialLabel(call({ state: 'active' }))).toBeNull();
  });

  it('a lock when OMEMO vouched for the call’s key', () => {
    const fp = '1f3a9c0e 55d2b7a4 0c8e6f13 9ab2d4e7 73c1085f e4a9b62d 18f0c7e3 5d9a2b64';
    expect(callLock(call({ state: 'active' }), 'Juliet')).toBeNull();
    const verified = callLock(call({ state: 'active', verification: 'verified', omemo_fingerprint: fp }), 'Juliet');
    expect(verified?.label).toBe('Verified');
    expect(verified?.verified).toBe(true);
    expect(verified?.title).toBe(`This call's encryption key came encrypted by Juliet’s verified device (${fp}): no server can listen in.`);
    const unverified = callLock(call({ state: 'active', verification: 'unverified', omemo_fingerprint: fp }), 'Juliet');
    expect(unverified?.label).toBe('Encrypted');
    expect(unverified?.verified).toBe(false);
    expect(unverified?.title).toContain('a device of Juliet that you have not verified (1f3a9c0e');
    expect(callLock(call({ verification: 'unverified' }), 'Juliet')?.title).not.toContain('(');
  });

  it('for a command that failed', () => {
    expect(callErrorText({ kind: 'busy', message: 'Another call is running: end it first.' }, 'call Juliet')).toBe(
      'Another call is running: end it first.',
    );
    expect(callErrorText({ kind: 'not_connected', message: 'x' }, 'call Juliet')).toBe(
      'Could not call Juliet: the account is offline. Try again once it is connected.',
    );
    expect(callErrorText(new Error('boom.'), 'answer the call')).toBe('Could not answer the call: boom.');
  });
});

describe('the call button', () => {
  it('is not there without calls in this build', () => {
    expect(callButton(false, contact([res({ calls: true })]), 'Juliet', null)).toBeNull();
  });

  it('calls when an online device of theirs takes calls; else says why not', () => {
    expect(callButton(true, contact([res(), res({ resource: 'laptop', calls: true })]), 'Juliet', null)).toEqual({
      enabled: true,
      title: 'Call Juliet',
    });
    expect(callButton(true, contact([]), 'Juliet', null)).toEqual({ enabled: false, title: 'Juliet is offline' });
    expect(callButton(true, undefined, 'Juliet', null)).toEqual({ enabled: false, title: 'Juliet is offline' });
    expect(callButton(true, contact([res()]), 'Juliet', null)).toEqual({ enabled: false, title: 'Juliet’s app can’t take calls' });
    expect(callButton(true, contact([res(), res({ resource: 'pc' })]), 'Juliet', null)?.title).toBe('Juliet’s apps can’t take calls');
  });

  it('waits while a call runs', () => {
    const c = contact([res({ calls: true })]);
    expect(callButton(true, c, 'Juliet', call({ state: 'active' }))).toEqual({ enabled: false, title: 'You are in a call with Juliet' });
    expect(callButton(true, c, 'Juliet', call({ peer: 'romeo@montague.example' }))).toEqual({ enabled: false, title: 'You are in another call' });
  });
});

describe('calls in the conversation', () => {
  it('one line per ended call with the contact, oldest first', () => {
    const list = [
      ended({ id: 'b', started_ms: T + 5000, ended: 'missed', outgoing: false }),
      ended({ id: 'a', started_ms: T, connected_ms: T + 1000, ended_ms: T + 152_000, ended: 'hung_up' }),
      ended({ id: 'x', peer: 'romeo@montague.example', ended: 'missed' }),
      ended({ id: 'y', account: 'other@example.org', ended: 'missed' }),
      call({ id: 'live', state: 'active' }),
    ];
    expect(callLines(list, ME, JULIET)).toEqual([
      { id: 'a', at_ms: T, text: 'Outgoing call · 2:31', missed: false },
      { id: 'b', at_ms: T + 5000, text: 'Missed call', missed: true },
    ]);
  });

  it('say what happened in few words', () => {
    expect(callLineText(ended({ outgoing: false, connected_ms: T, ended_ms: T + 61_000 }))).toBe('Incoming call · 1:01');
    expect(callLineText(ended({ outgoing: false, ended: 'declined' }))).toBe('Declined call');
    expect(callLineText(ended({ outgoing: false, ended: 'answered_elsewhere' }))).toBe('Answered on another device');
    expect(callLineText(ended({ ended: 'missed' }))).toBe('Outgoing call · no answer');
    expect(callLineText(ended({ ended: 'declined' }))).toBe('Outgoing call · declined');
    expect(callLineText(ended({ ended: 'cancelled' }))).toBe('Cancelled call');
    expect(callLineText(ended({ ended: 'failed' }))).toBe('Call failed');
  });

  it('go between the messages at their time', () => {
    const m = (id: number, t: number) =>
      ({ id, timestamp_ms: t, outgoing: false, sender: JULIET, me: false }) as unknown as Parameters<typeof rowsOf>[0][number];
    const lines = [
      { id: 'early', at_ms: T - 10_000, text: 'Missed call', missed: true },
      { id: 'mid', at_ms: T + 1000, text: 'Outgoing call · 0:30', missed: false },
      { id: 'late', at_ms: T + 10_000, text: 'Declined call', missed: false },
    ];
    const rows = rowsOf([m(1, T), m(2, T + 2000)], T + 20_000, false, null, [], lines);
    // Not before the oldest loaded message while older ones are not loaded.
    expect(rows.map((r) => r.key)).toEqual([expect.stringMatching(/^d/), 'm1', 'cmid', 'm2', 'clate']);
    const next = rows[3];
    expect(next.kind === 'message' && next.first).toBe(true);
    // The whole history: all of them.
    expect(rowsOf([m(1, T)], T, true, null, [], lines).map((r) => r.key).filter((k) => k.startsWith('c'))).toEqual(['cearly', 'cmid', 'clate']);
    // No messages: the calls alone.
    expect(rowsOf([], T, true, null, [], lines).filter((r) => r.kind === 'call')).toHaveLength(3);
  });

  it('are drawn from the record the engine stored, once', () => {
    const m = (id: number, t: number) =>
      ({ id, timestamp_ms: t, outgoing: false, sender: JULIET, me: false, uid: `u${id}`, call: null }) as unknown as Parameters<typeof rowsOf>[0][number];
    const record = {
      ...m(3, T + 1000),
      uid: 'call-mid',
      body: 'Missed call',
      call: { outcome: 'missed', duration_ms: null },
    } as unknown as Parameters<typeof rowsOf>[0][number];
    const lines = [{ id: 'mid', at_ms: T + 1000, text: 'Missed call', missed: true }];
    const rows = rowsOf([m(1, T), record, m(2, T + 2000)], T + 20_000, false, null, [], lines);
    expect(rows.map((r) => r.key)).toEqual([expect.stringMatching(/^d/), 'm1', 'm3', 'm2']);
    const call = rows[2];
    expect(call.kind === 'call' && call.text === 'Missed call' && call.missed).toBe(true);
    // The message after a call line starts a new sender group.
    const next = rows[3];
    expect(next.kind === 'message' && next.first).toBe(true);
  });

  it('say who called when a stranger did, and how to let their calls through', () => {
    const MALLORY = 'mallory@evil.example';
    const record = {
      id: 9,
      peer: MALLORY,
      timestamp_ms: T,
      outgoing: false,
      sender: MALLORY,
      me: false,
      uid: 'call-s1',
      body: `Call from ${MALLORY} — add them to your contacts to take their calls`,
      call: { outcome: STRANGER, duration_ms: null },
    } as unknown as Parameters<typeof rowsOf>[0][number];
    const [, row] = rowsOf([record], T);
    expect(row).toMatchObject({ kind: 'call', key: 'm9', stranger: true, missed: false, text: strangerCallText(MALLORY) });
    // The same words as the engine's record (search, previews).
    expect(strangerCallText(MALLORY)).toBe(record.body);
    // Other calls are not a stranger's.
    const missed = { ...record, id: 10, call: { outcome: 'missed', duration_ms: null }, body: 'Missed call' } as typeof record;
    expect(rowsOf([missed], T)[1]).not.toHaveProperty('stranger');
  });
});

describe('the ringback', () => {
  it('sounds while the other side rings, not before, after or for an incoming call', () => {
    expect(hearsRingback(call({ state: 'ringing' }))).toBe(true);
    expect(hearsRingback(call({ state: 'calling' }))).toBe(false);
    expect(hearsRingback(call({ state: 'connecting' }))).toBe(false);
    expect(hearsRingback(call({ state: 'active', connected_ms: T }))).toBe(false);
    expect(hearsRingback(call({ state: 'ended', ended: 'cancelled', ended_ms: T }))).toBe(false);
    expect(hearsRingback(call({ outgoing: false, state: 'ringing' }))).toBe(false);
    expect(hearsRingback(null)).toBe(false);
  });

  it('plays 440 and 480 Hz together, 2 s on and 4 s off, until stopped', () => {
    vi.useFakeTimers();
    try {
      const started: { hz: number; at: number; until: number }[] = [];
      const param = () => ({ setValueAtTime: vi.fn(), linearRampToValueAtTime: vi.fn(), exponentialRampToValueAtTime: vi.fn() });
      const ctx = {
        currentTime: 10,
        destination: {},
        createGain: vi.fn(() => ({ connect: vi.fn(), gain: param() })),
        createOscillator: vi.fn(() => {
          const o = { hz: 0, at: 0, until: 0 };
          started.push(o);
          return {
            connect: vi.fn(),
            type: 'sine',
            frequency: { ...param(), setValueAtTime: (hz: number) => (o.hz = hz) },
            start: (t: number) => (o.at = t),
            stop: (t: number) => (o.until = t),
          };
        }),
        close: vi.fn(() => Promise.resolve()),
        resume: vi.fn(() => Promise.resolve()),
      };
      const stop = startRingback(() => ctx as unknown as RingContext);
      expect(started.map((o) => o.hz)).toEqual([...RINGBACK_HZ]);
      expect(RINGBACK_HZ).toEqual([440, 480]);
      for (const o of started) expect(o.until - o.at).toBeCloseTo(RINGBACK_ON_S + 0.05);
      expect(RINGBACK_PERIOD_MS).toBe(6000);
      vi.advanceTimersByTime(5900);
      expect(started).toHaveLength(2);
      vi.advanceTimersByTime(200);
      expect(started).toHaveLength(4);
      stop();
      stop();
      expect(ctx.close).toHaveBeenCalledTimes(1);
      vi.advanceTimersByTime(60_000);
      expect(started).toHaveLength(4);
    } finally {
      vi.useRealTimers();
    }
  });

  it('is silent, and does not throw, without audio', () => {
    expect(() => startRingback(() => null)()).not.toThrow();
    expect(() => startRingback()()).not.toThrow();
  });
});

describe('the ringtone', () => {
  /** An AudioContext that records what is played. */
  function fakeContext() {
    const started: number[] = [];
    const param = () => ({ setValueAtTime: vi.fn(), linearRampToValueAtTime: vi.fn(), exponentialRampToValueAtTime: vi.fn() });
    const node = () => ({ connect: vi.fn() });
    const ctx = {
      currentTime: 10,
      destination: {},
      createGain: vi.fn(() => ({ ...node(), gain: param() })),
      createOscillator: vi.fn(() => ({ ...node(), type: 'sine', frequency: param(), start: (t: number) => started.push(t), stop: vi.fn() })),
      close: vi.fn(() => Promise.resolve()),
      resume: vi.fn(() => Promise.resolve()),
    };
    return { ctx, started };
  }

  it('rings a two-note pattern again and again until stopped', () => {
    vi.useFakeTimers();
    try {
      const { ctx, started } = fakeContext();
      const stop = startRingtone(() => ctx as unknown as RingContext);
      // Each note: a tone and its octave.
      expect(started).toHaveLength(RING.length * 2);
      expect(new Set(RING.map((n) => n.hz)).size).toBe(2);
      vi.advanceTimersByTime(3300);
      expect(started).toHaveLength(RING.length * 4);
      stop();
      stop();
      expect(ctx.close).toHaveBeenCalledTimes(1);
      vi.advanceTimersByTime(10_000);
      expect(started).toHaveLength(RING.length * 4);
    } finally {
      vi.useRealTimers();
    }
  });

  it('is silent, and does not throw, without audio', () => {
    expect(() => startRingtone(() => null)()).not.toThrow();
    expect(() =>
      startRingtone(() => {
        throw new Error('not allowed');
      })(),
    ).not.toThrow();
    // Here (node) there is no AudioContext at all.
    expect(() => startRingtone()()).not.toThrow();
    const { ctx } = fakeContext();
    ctx.createOscillator = vi.fn(() => {
      throw new Error('closed');
    });
    ctx.close = vi.fn(() => Promise.reject(new Error('already closed')));
    expect(() => startRingtone(() => ctx as unknown as RingContext)()).not.toThrow();
  });
});

describe('the device menu', () => {
  const mic = (id: string, name: string, is_default = false) => ({ id, name, is_default });
  const view = {
    microphones: [mic('pa:builtin-in', 'Built-in Microphone', true), mic('pa:usb-in', 'USB Headset Microphone')],
    speakers: [mic('pa:builtin-out', 'Built-in Speakers', true), mic('pa:usb-out', 'USB Headset')],
    chosen: { microphone: null, speaker: 'pa:usb-out' },
  };

  it('offers the system default (naming the device it is now) and every device, the chosen one checked', () => {
    const [m, s] = deviceSections(view);
    expect(m.heading).toBe('Microphone');
    expect(m.options.map((o) => [o.label, o.hint, o.checked])).toEqual([
      ['System default', 'Built-in Microphone', true],
      ['Built-in Microphone', null, false],
      ['USB Headset Microphone', null, false],
    ]);
    expect(s.options.map((o) => [o.id, o.checked])).toEqual([
      [null, false],
      ['pa:builtin-out', false],
      ['pa:usb-out', true],
    ]);
  });

  it('keeps a chosen device that is gone, checked and out of reach', () => {
    const [, s] = deviceSections({ ...view, chosen: { microphone: null, speaker: 'pa:earbuds' } });
    const gone = s.options.at(-1);
    expect(gone).toMatchObject({ id: 'pa:earbuds', label: 'Your speaker (not connected)', checked: true, disabled: true });
    expect(s.options.filter((o) => o.checked)).toHaveLength(1);
  });

  it('says when there is no device at all', () => {
    const [m] = deviceSections({ ...view, microphones: [], chosen: { microphone: null, speaker: null } });
    expect(m.options.map((o) => o.label)).toEqual(['System default', 'No microphone found']);
    expect(m.options[0].hint).toBeNull();
  });

  it('changes one device and keeps the other', () => {
    expect(chooseDevice(view.chosen, 'microphone', 'pa:usb-in')).toEqual({ microphone: 'pa:usb-in', speaker: 'pa:usb-out' });
    expect(chooseDevice(view.chosen, 'speaker', null)).toEqual({ microphone: null, speaker: null });
  });

  it('says what failed in words to act on', () => {
    const gone = { kind: 'device_missing', message: 'That speaker is no longer connected. Plug it in again, or choose another one (or System default).' };
    expect(deviceErrorText(gone)).toBe(gone.message);
    expect(deviceErrorText({ kind: 'devices', message: 'The microphone or speakers could not be opened: The microphone is in use by another app' })).toBe(
      'The microphone or speakers could not be opened: The microphone is in use by another app',
    );
    expect(deviceErrorText({ kind: 'not_connected', message: 'x' })).toMatch(/^Could not change the sound device/);
  });
});
