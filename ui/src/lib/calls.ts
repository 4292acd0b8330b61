// Voice calls as the window shows them: which call the bar shows, what it
// says while a call runs and after it ended, the lines a conversation shows
// for its calls, and whether a contact can be called. Only one call runs at
// a time (the engine answers "busy" to a second one).

import type { CallDevicesView, CallView, ContactView, DeviceChoice, SoundDevice } from './engine';
import { errorText, isUiError } from './errors';
import { possessive } from './lock';

/** How long the bar says how a call ended (a failure or a missed call stays until dismissed). */
export const ENDED_SHOWN_MS = 5000;

/** How a call ended (`CallView::ended`). */
export type CallEnd =
  | 'hung_up'
  | 'peer_hung_up'
  | 'declined'
  | 'busy'
  | 'missed'
  | 'cancelled'
  | 'answered_elsewhere'
  | 'declined_elsewhere'
  | 'failed';

/**
 * How a call from someone not in the contacts ends (a timeline record's
 * outcome): refused to the caller, never rung here, recorded unread in
 * their conversation.
 */
export const STRANGER = 'stranger';

/** The line a stranger's call leaves in their conversation (the engine's record body says the same). */
export function strangerCallText(peer: string): string {
  return `Call from ${peer} — add them to your contacts to take their calls`;
}

/** "0:07", "2:31", "1:02:03". */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** The call has not ended. */
export const isLive = (c: CallView): boolean => c.state !== 'ended';

/** An incoming call that rings here (the user answers or declines it). */
export const isIncomingRinging = (c: CallView): boolean => !c.outgoing && c.state === 'ringing';

/** How long the two talked (audio flowed): until it ended, or until `now` while it runs. */
export function talkTime(c: CallView, now: number): number | null {
  if (c.connected_ms === null) return null;
  return Math.max(0, (c.ended_ms ?? now) - c.connected_ms);
}

/** The call that runs (at most one). */
export function liveCall(list: readonly CallView[]): CallView | null {
  return list.find(isLive) ?? null;
}

/** The user hears the ringback: their call rings at the other side (not while calling, connecting or after). */
export const hearsRingback = (c: CallView | null): boolean => !!c && c.outgoing && c.state === 'ringing';

/** The incoming call that rings, if one does. */
export function ringingCall(list: readonly CallView[]): CallView | null {
  const c = liveCall(list);
  return c && isIncomingRinging(c) ? c : null;
}

/** A call that ended in a way the user should see until they dismiss it. */
export const staysShown = (c: CallView): boolean => c.ended === 'failed' || (!c.outgoing && (c.ended === 'missed' || c.ended === 'busy'));

/**
 * The call the bar shows: the running one (not an incoming one that rings:
 * its prompt shows it), else the one that ended last, for ENDED_SHOWN_MS,
 * or until dismissed when it failed or was missed (if it ended after
 * `since`: calls from before the window started are not news).
 */
export function barCall(list: readonly CallView[], now: number, since: number, dismissed: ReadonlySet<string>): CallView | null {
  const live = liveCall(list);
  if (live) return isIncomingRinging(live) ? null : live;
  let last: CallView | null = null;
  for (const c of list) if (c.ended_ms !== null && (!last || c.ended_ms > (last.ended_ms ?? 0))) last = c;
  if (!last || last.ended_ms === null || dismissed.has(last.id)) return null;
  if (staysShown(last)) return last.ended_ms >= since ? last : null;
  return now - last.ended_ms < ENDED_SHOWN_MS ? last : null;
}

/** When the bar hides an ended call by itself (null: it does not, or shows none). */
export function hidesAt(c: CallView | null): number | null {
  if (!c || c.ended_ms === null || staysShown(c)) return null;
  return c.ended_ms + ENDED_SHOWN_MS;
}

/** What a running call is doing, under the contact's name: "Calling…", "Ringing…", "Connecting…", or how long it has run. */
export function liveText(c: CallView, now: number): string {
  switch (c.state) {
    case 'calling':
      return 'Calling…';
    case 'ringing':
      return c.outgoing ? 'Ringing…' : 'Incoming call…';
    case 'connecting':
      return 'Connecting…';
    case 'active':
      return duration(talkTime(c, now) ?? 0);
    default:
      return endedText(c, '');
  }
}

/** What a screen reader is told when a call changes (not the seconds ticking). */
export function announceText(c: CallView, name: string): string {
  switch (c.state) {
    case 'calling':
      return `Calling ${name}…`;
    case 'ringing':
      return c.outgoing ? `Ringing ${name}…` : `${name} is calling`;
    case 'connecting':
      return `Connecting to ${name}…`;
    case 'active':
      return `In a call with ${name}${c.quality === 'poor' ? '. Poor connection' : ''}`;
    default:
      return endedText(c, name);
  }
}

/** How a call ended, in plain words ("Call ended · 2:31", "Juliet declined", "No answer"). */
export function endedText(c: CallView, name: string): string {
  const talked = talkTime(c, c.ended_ms ?? 0);
  switch (c.ended as CallEnd | null) {
    case 'failed':
      return c.problem?.trim() ? `Call failed: ${c.problem.trim()}` : 'Call failed';
    case 'declined':
      return c.outgoing ? `${name} declined` : 'Call declined';
    case 'busy':
      return c.outgoing ? `${name} is busy` : `Missed call from ${name}`;
    case 'missed':
      return c.outgoing ? 'No answer' : `Missed call from ${name}`;
    case 'cancelled':
      return 'Call cancelled';
    case 'answered_elsewhere':
      return 'Answered on another device';
    case 'declined_elsewhere':
      return 'Declined on another device';
    default:
      return talked !== null ? `Call ended · ${duration(talked)}` : 'Call ended';
  }
}

/** The call bar's lock: whether the other side's key for this call came encrypted with OMEMO, and by a device the user verified. */
export interface CallLock {
  /** "Verified" or "Encrypted". */
  label: string;
  /** What it means, with the device's fingerprint. */
  title: string;
  verified: boolean;
}

/** The lock a call shows (none when its key came as the servers passed it on). */
export function callLock(c: CallView, name: string): CallLock | null {
  if (c.verification === 'none') return null;
  const device = c.omemo_fingerprint ? ` (${c.omemo_fingerprint})` : '';
  if (c.verification === 'verified')
    return {
      label: 'Verified',
      title: `This call's encryption key came encrypted by ${possessive(name)} verified device${device}: no server can listen in.`,
      verified: true,
    };
  return {
    label: 'Encrypted',
    title: `This call's encryption key came encrypted by a device of ${name} that you have not verified${device}. Verify it in their encryption keys to be sure no server listens in.`,
    verified: false,
  };
}

/** What the bar offers after a call ended: call back a missed call, call again one nobody took. */
export function redialLabel(c: CallView): string | null {
  if (c.state !== 'ended') return null;
  if (!c.outgoing) return c.ended === 'missed' || c.ended === 'busy' ? 'Call back' : null;
  return c.ended === 'missed' || c.ended === 'busy' || c.ended === 'failed' || c.ended === 'declined' ? 'Call again' : null;
}

/** A call as a quiet line in its conversation. */
export interface CallLine {
  id: string;
  /** When it was placed or began to ring. */
  at_ms: number;
  text: string;
  /** An incoming call nobody here took. */
  missed: boolean;
}

/** The line a conversation shows for an ended call: "Outgoing call · 2:31", "Missed call", "Declined call". */
export function callLineText(c: CallView): string {
  const talked = talkTime(c, c.ended_ms ?? 0);
  if (talked !== null) return `${c.outgoing ? 'Outgoing' : 'Incoming'} call · ${duration(talked)}`;
  const end = c.ended as CallEnd | null;
  if (end === 'failed') return 'Call failed';
  if (c.outgoing) {
    switch (end) {
      case 'missed':
        return 'Outgoing call · no answer';
      case 'declined':
        return 'Outgoing call · declined';
      case 'busy':
        return 'Outgoing call · busy';
      case 'cancelled':
        return 'Cancelled call';
      default:
        return 'Outgoing call';
    }
  }
  switch (end) {
    case 'missed':
    case 'busy':
      return 'Missed call';
    case 'declined':
    case 'declined_elsewhere':
      return 'Declined call';
    case 'answered_elsewhere':
      return 'Answered on another device';
    default:
      return 'Incoming call';
  }
}

/** The ended calls with one contact, oldest first, as conversation lines. */
export function callLines(list: readonly CallView[], account: string, peer: string): CallLine[] {
  return list
    .filter((c) => c.state === 'ended' && c.account === account && c.peer === peer)
    .map((c) => ({ id: c.id, at_ms: c.started_ms, text: callLineText(c), missed: !c.outgoing && c.connected_ms === null && (c.ended === 'missed' || c.ended === 'busy') }))
    .sort((a, b) => a.at_ms - b.at_ms);
}

/** The call button of a conversation: whether it calls, and why not. */
export interface CallButton {
  enabled: boolean;
  /** Its tooltip: "Call Juliet", or why it cannot. */
  title: string;
}

/**
 * Whether the contact can be called now: some online device of theirs
 * takes calls, and no other call runs. Null when calls are not available
 * in this build (the button is not shown).
 */
export function callButton(available: boolean, contact: ContactView | undefined, name: string, live: CallView | null): CallButton | null {
  if (!available) return null;
  if (live) {
    const here = contact && live.account === contact.account && live.peer === contact.jid;
    return { enabled: false, title: here ? `You are in a call with ${name}` : 'You are in another call' };
  }
  const online = contact?.presence ?? [];
  if (online.length === 0) return { enabled: false, title: `${name} is offline` };
  if (!online.some((p) => p.calls)) return { enabled: false, title: `${possessive(name)} ${online.length === 1 ? 'app' : 'apps'} can’t take calls` };
  return { enabled: true, title: `Call ${name}` };
}

/** Words for a call command that failed (`placeCall`, `acceptCall`, …); `what` is the action, "call Juliet". */
export function callErrorText(e: unknown, what: string): string {
  if (isUiError(e)) {
    switch (e.kind) {
      // The engine's own words, meant for the user.
      case 'busy':
      case 'unavailable':
      case 'own_account':
      case 'no_call':
        return e.message;
      case 'not_connected':
        return `Could not ${what}: the account is offline. Try again once it is connected.`;
    }
  }
  const why = errorText(e).trim().replace(/\.$/, '');
  return `Could not ${what}${why ? `: ${why}` : ''}.`;
}

/** Which way a sound device goes. */
export type DeviceRole = 'microphone' | 'speaker';

/** One choice in the call bar's device menu. */
export interface DeviceOption {
  /** What to choose (null: the system default). */
  id: string | null;
  label: string;
  /** Said after the label: the device the system default is now. */
  hint: string | null;
  checked: boolean;
  disabled: boolean;
}

/** The microphones or the speakers, as the menu lists them. */
export interface DeviceSection {
  role: DeviceRole;
  heading: string;
  options: DeviceOption[];
}

/**
 * The call bar's device menu: for the microphone and for the speaker,
 * "System default" (naming the device it is now) and every device, the
 * chosen one checked. A chosen device that is not connected stays listed,
 * checked and out of reach (the system default plays meanwhile).
 */
export function deviceSections(v: CallDevicesView): DeviceSection[] {
  const section = (role: DeviceRole, heading: string, list: readonly SoundDevice[], chosen: string | null): DeviceSection => {
    const now = list.find((d) => d.is_default);
    const options: DeviceOption[] = [{ id: null, label: 'System default', hint: now?.name ?? null, checked: chosen === null, disabled: false }];
    for (const d of list) options.push({ id: d.id, label: d.name, hint: null, checked: d.id === chosen, disabled: false });
    if (chosen !== null && !list.some((d) => d.id === chosen))
      options.push({ id: chosen, label: `Your ${role} (not connected)`, hint: 'the system default plays meanwhile', checked: true, disabled: true });
    if (list.length === 0) options.push({ id: null, label: `No ${role} found`, hint: null, checked: false, disabled: true });
    return { role, heading, options };
  };
  return [section('microphone', 'Microphone', v.microphones, v.chosen.microphone), section('speaker', 'Speaker', v.speakers, v.chosen.speaker)];
}

/** The choice with `role` set to `id` (null: the system default). */
export function chooseDevice(c: DeviceChoice, role: DeviceRole, id: string | null): DeviceChoice {
  return role === 'microphone' ? { ...c, microphone: id } : { ...c, speaker: id };
}

/** Words for a device change that failed: the shell's own words when it says what to do. */
export function deviceErrorText(e: unknown): string {
  if (isUiError(e) && (e.kind === 'device_missing' || e.kind === 'devices') && e.message.trim()) return e.message.trim();
  return callErrorText(e, 'change the sound device');
}
