// Voice calls for the screen harness (scenarios `calls…`): Juliet's phone
// takes calls, Romeo's computer does not, the Nurse is offline. The
// commands answer like the shell and emit the `call` events the engine
// would: a placed call rings after a moment, an answered one connects,
// hanging up ends it as the engine says.
//
//   calls              calls available, nothing running
//   calls-incoming     Juliet calls
//   calls-several      Juliet calls one of several accounts
//   calls-active       a call with Juliet running for 2:31, muted, poor
//                      connection, its key vouched for by her verified
//                      OMEMO device; earlier calls with her in the timeline
//   calls-failed       a call placed to Juliet fails once it rings
//   calls-busy         placing a call is refused (another call runs)
//   calls-unavailable  this build cannot make calls
//   calls-devices      a call with Juliet running; two microphones and three
//                      speakers, the earbuds gone by the time they are chosen
//   calls-stranger     Mallory, not a contact, called twice: refused and
//                      recorded (unread) in her conversation, never rung

import type { CallView, ClientEvent } from '../../src/lib/engine';
import { chatData, msg, PEERS } from './chats';

type Send = (ev: ClientEvent) => void;

const ME = PEERS.ME;
const JULIET = PEERS.JULIET;
const MIN = 60_000;
const uiError = (kind: string, message: string) => Promise.reject({ kind, message });

/** Juliet's phone's OMEMO key, which vouched for the running call's. */
export const JULIET_DEVICE = '1f3a9c0e 55d2b7a4 0c8e6f13 9ab2d4e7 73c1085f e4a9b62d 18f0c7e3 5d9a2b64';
/** Calls Tern without being a contact (scenario `calls-stranger`). */
export const MALLORY = 'mallory@elsewhere.example';

export const FAILURE = 'Juliet’s app and Tern found no way to send audio to each other (no common codec).';

function call(p: Partial<CallView>): CallView {
  return {
    account: ME,
    id: 'call-1',
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
  };
}

/** The computer's sound devices (scenario `calls-devices`). */
export const DEVICES = {
  microphones: [
    { id: 'pulseaudio:alsa_input.pci-0000_00_1f.3.analog-stereo', name: 'Built-in Audio Analog Stereo', is_default: true },
    { id: 'pulseaudio:alsa_input.usb-headset-mono', name: 'USB Headset Microphone', is_default: false },
  ],
  speakers: [
    { id: 'pulseaudio:alsa_output.pci-0000_00_1f.3.analog-stereo', name: 'Built-in Audio Analog Stereo', is_default: true },
    { id: 'pulseaudio:alsa_output.usb-headset-stereo', name: 'USB Headset', is_default: false },
    { id: 'pulseaudio:bluez_sink.earbuds', name: 'Earbuds', is_default: false },
  ],
};
/** Went away just before the user chose them. */
export const GONE = 'pulseaudio:bluez_sink.earbuds';

class CallData {
  scenario = '';
  list: CallView[] = [];
  next = 1;
  chosen: { microphone: string | null; speaker: string | null } = { microphone: null, speaker: null };

  setup(scenario: string) {
    this.scenario = scenario;
    const now = Date.now();
    const juliet = chatData.contacts.find((c) => c.jid === JULIET);
    if (juliet) juliet.presence = juliet.presence.map((p) => (p.resource === 'phone' ? { ...p, calls: true } : p));
    const nurse = chatData.contacts.find((c) => c.jid === PEERS.NURSE);
    if (nurse) nurse.presence = [];
    if (scenario === 'calls-stranger') {
      // What the engine records for a stranger's call (it never becomes a call event).
      const record = (id: number, at: number) =>
        msg(MALLORY, {
          id,
          uid: `call-s${id}`,
          body: `Call from ${MALLORY} — add them to your contacts to take their calls`,
          timestamp_ms: at,
          state: 'received',
          call: { outcome: 'stranger', duration_ms: null },
        });
      const list = [record(900, now - 50 * MIN), msg(MALLORY, { id: 901, body: 'Pick up, it is about your car’s extended warranty', timestamp_ms: now - 49 * MIN, state: 'received' }), record(902, now - 3 * MIN)];
      chatData.timelines.set(MALLORY, list);
      const last = list[list.length - 1];
      chatData.conversations.unshift({ account: ME, peer: MALLORY, kind: 'chat', unread: 3, mentions: 0, updated_ms: last.timestamp_ms, last });
    }
    if (scenario === 'calls-incoming' || scenario === 'calls-several')
      this.list = [call({ id: 'in-1', outgoing: false, state: 'ringing', started_ms: now - 2000 })];
    if (scenario === 'calls-devices')
      this.list = [call({ id: 'live-1', state: 'active', started_ms: now - 65_000, connected_ms: now - 61_000 })];
    if (scenario === 'calls-active') {
      const today = (h: number, m: number) => {
        const d = new Date(now);
        d.setHours(h, m, 0, 0);
        return Math.min(d.getTime(), now - 40 * MIN);
      };
      this.list = [
        call({
          id: 'live-1',
          state: 'active',
          muted: true,
          quality: 'poor',
          started_ms: now - 151_000 - 4000,
          connected_ms: now - 151_000,
          verification: 'verified',
          omemo_fingerprint: JULIET_DEVICE,
        }),
        call({ id: 'old-1', outgoing: false, state: 'ended', ended: 'missed', started_ms: today(9, 30), ended_ms: today(9, 30) + 30_000 }),
        call({
          id: 'old-2',
          state: 'ended',
          ended: 'peer_hung_up',
          started_ms: today(9, 45),
          connected_ms: today(9, 45) + 5000,
          ended_ms: today(9, 45) + 5000 + 151_000,
        }),
      ];
    }
  }
}

export const callData = new CallData();

/** Answers a call command like the shell would (undefined: not one). */
export function callCommand(cmd: string, a: Record<string, unknown>, send: Send): unknown {
  const d = callData;
  const upsert = (c: CallView) => {
    d.list = [c, ...d.list.filter((x) => x.id !== c.id)];
    send({ type: 'call', call: c });
    return c;
  };
  const find = (id: unknown) => d.list.find((c) => c.id === id);
  /** Moves a call on after `ms`, if it is still where it was. */
  const later = (ms: number, id: string, from: CallView['state'], p: () => Partial<CallView>) =>
    setTimeout(() => {
      const c = find(id);
      if (c && c.state === from) upsert({ ...c, ...p() });
    }, ms);
  switch (cmd) {
    case 'calls':
      return { available: d.scenario !== 'calls-unavailable', calls: d.list };
    case 'place_call': {
      if (d.scenario === 'calls-busy') return uiError('busy', 'Another call is running: end it first.');
      const c = upsert(call({ id: `out-${d.next++}`, account: a.account as string, peer: a.peer as string }));
      later(400, c.id, 'calling', () => ({ state: 'ringing' }));
      if (d.scenario === 'calls-failed')
        later(900, c.id, 'ringing', () => ({ state: 'ended', ended: 'failed', problem: FAILURE, ended_ms: Date.now() }));
      return c;
    }
    case 'accept_call': {
      const c = find(a.id);
      if (!c || c.state !== 'ringing') return uiError('no_call', 'This call is no longer ringing.');
      upsert({ ...c, state: 'connecting' });
      later(300, c.id, 'connecting', () => ({ state: 'active', connected_ms: Date.now(), verification: 'unverified', omemo_fingerprint: JULIET_DEVICE }));
      return null;
    }
    case 'hang_up': {
      const c = find(a.id);
      if (!c || c.state === 'ended') return uiError('no_call', 'This call is over.');
      const ended = !c.outgoing && c.state === 'ringing' ? 'declined' : c.state === 'calling' || c.state === 'ringing' ? 'cancelled' : 'hung_up';
      upsert({ ...c, state: 'ended', ended, ended_ms: Date.now() });
      return null;
    }
    case 'call_devices':
      return { ...DEVICES, chosen: d.chosen };
    case 'set_call_devices': {
      const c = a.choice as CallData['chosen'];
      if (c.speaker === GONE) return uiError('device_missing', 'That speaker is no longer connected. Plug it in again, or choose another one (or System default).');
      d.chosen = c;
      return null;
    }
    case 'set_call_muted': {
      const c = find(a.id);
      if (!c || c.state === 'ended') return uiError('no_call', 'This call is over.');
      upsert({ ...c, muted: a.muted as boolean });
      return null;
    }
    default:
      return undefined;
  }
}
