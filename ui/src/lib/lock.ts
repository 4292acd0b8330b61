// A conversation's encryption in words (a one-to-one conversation, or a
// private group, whose messages are encrypted for every member's devices):
// what the lock in the header says, what its popover explains, and the
// composer's hint, all from the engine's `EncryptionView`.

import type { ClientEvent, EncryptionView } from './engine';

/**
 * What the next message does:
 * - `encrypted`: it goes encrypted, for the devices the view counts;
 * - `plain`: it goes unencrypted;
 * - `undecided`: decided when it goes (the contact's keys are not known
 *   yet): encrypted if they have keys;
 * - `waiting`: it should go encrypted but cannot be now, so it would wait.
 */
export type LockState = 'encrypted' | 'plain' | 'undecided' | 'waiting';

export function lockState(v: EncryptionView): LockState {
  if (v.next_encrypted === null) return 'undecided';
  if (v.mode !== 'plain' && (v.problem || (v.next_encrypted && v.contact_devices === 0))) return 'waiting';
  return v.next_encrypted ? 'encrypted' : 'plain';
}

/** "Romeo’s" (a name ending in s gets ’s too: "Charles’s"). */
export const possessive = (name: string): string => `${name}’s`;

/** "Romeo’s device", "Romeo’s 2 devices". */
function theirDevices(n: number, name: string): string {
  return n === 1 ? `${possessive(name)} device` : `${possessive(name)} ${n} devices`;
}

/** "your other device", "your 3 other devices". */
function ownDevices(n: number): string {
  return n === 1 ? 'your other device' : `your ${n} other devices`;
}

/** In a group: "2 members’ 5 devices", "1 member’s device". */
function membersDevices(v: EncryptionView): string {
  const members = v.members ?? 0;
  const who = members === 1 ? '1 member’s' : `${members} members’`;
  return v.contact_devices === 1 ? `${who} device` : `${who} ${v.contact_devices} devices`;
}

/** Whom the next message is encrypted for: "Romeo’s 2 devices and your other device". */
export function recipients(v: EncryptionView, name: string): string {
  const parts = [v.group ? membersDevices(v) : theirDevices(v.contact_devices, name)];
  if (v.own_devices > 0) parts.push(ownDevices(v.own_devices));
  return parts.join(' and ');
}

/** What the lock says, in one line. */
export function lockLabel(v: EncryptionView, name: string): string {
  switch (lockState(v)) {
    case 'encrypted':
      return `Encrypted for ${recipients(v, name)}`;
    case 'plain':
      return 'Not encrypted';
    case 'undecided':
      return v.group ? 'Encrypted once the members’ keys are known' : `Encrypted once ${possessive(name)} keys are known`;
    case 'waiting':
      return v.group ? 'Can’t encrypt for everyone yet' : `Can’t encrypt for ${name} yet`;
  }
}

/** What the lock says where there is little room. */
export function lockShort(v: EncryptionView): string {
  switch (lockState(v)) {
    case 'encrypted':
      return 'Encrypted';
    case 'plain':
      return 'Not encrypted';
    case 'undecided':
      return 'Keys not known yet';
    case 'waiting':
      return 'Can’t encrypt';
  }
}

/** The lock's name for assistive technology: its whole line, after the short words shown when those are not its start. */
export function lockName(v: EncryptionView, name: string): string {
  const full = lockLabel(v, name);
  const short = lockShort(v);
  return full.startsWith(short) ? full : `${short}: ${full}`;
}

/** What the popover explains under the lock's line. */
export function lockExplanation(v: EncryptionView, name: string): string {
  switch (lockState(v)) {
    case 'encrypted':
      return 'Messages are end-to-end encrypted (OMEMO): only these devices can read them, not the servers that carry them.';
    case 'plain':
      if (v.group)
        return v.mode === 'plain'
          ? 'You turned encryption off for this group. Messages can be read by the servers that carry them.'
          : 'A group is encrypted once every member’s app can read encrypted messages (OMEMO); until then, messages can be read by the group’s server. Turn encryption on to encrypt anyway: messages then wait until everyone has keys.';
      return v.mode === 'plain'
        ? `You turned encryption off for this conversation. Messages can be read by the servers that carry them, yours and ${possessive(name)}.`
        : 'Messages can be read by the servers that carry them.';
    case 'undecided':
      if (v.group)
        return 'Tern looks for the members’ encryption keys when you send. If everyone’s app supports encryption (OMEMO), the message is encrypted for all their devices.';
      return `Tern looks for ${possessive(name)} encryption keys when you send. If their app supports encryption (OMEMO), the message is encrypted; if they have no keys, it goes unencrypted.`;
    case 'waiting':
      return 'Messages you send wait until they can be encrypted; none goes unencrypted unless you choose so.';
  }
}

/**
 * Devices of the contact no message is encrypted for until the user
 * decides to trust them, in words; null when none, or when the engine's
 * reason why messages would wait already says so.
 */
export function undecidedNote(v: EncryptionView, name: string): string | null {
  if (v.undecided === 0 || v.mode === 'plain' || v.problem) return null;
  if (v.group)
    return v.undecided === 1
      ? 'A member has a device you have not decided to trust yet. Messages are not encrypted for it until you do.'
      : `Members have ${v.undecided} devices you have not decided to trust yet. Messages are not encrypted for them until you do.`;
  return v.undecided === 1
    ? `${name} has a device you have not decided to trust yet. Messages are not encrypted for it until you do.`
    : `${name} has ${v.undecided} devices you have not decided to trust yet. Messages are not encrypted for them until you do.`;
}

/** The "Encrypt messages" switch: on unless the user turned encryption off. */
export const encryptsByChoice = (v: EncryptionView): boolean => v.mode !== 'plain';

/** The composer's hint about the next message, if it needs one. */
export type ComposerHint = { kind: 'plain' | 'waiting'; text: string };

export function composerHint(v: EncryptionView | null, name: string): ComposerHint | null {
  if (!v) return null;
  const state = lockState(v);
  if (state === 'waiting')
    return {
      kind: 'waiting',
      text: v.problem
        ? `Messages you send now wait to be encrypted. ${v.problem}`
        : `Messages you send now wait until ${v.group ? 'the members’' : possessive(name)} keys are known.`,
    };
  // Turned off in a conversation that was encrypted: say so, quietly.
  if (state === 'plain' && v.mode === 'plain')
    return { kind: 'plain', text: v.group ? 'Not encrypted: servers can read what you send to this group.' : `Not encrypted: servers can read what you send to ${name}.` };
  return null;
}

/**
 * Whether an event may change what a conversation's lock says (`group`:
 * the conversation is a private group): the
 * conversation itself (its mode, a new message), one of its outgoing or
 * encrypted messages (sent, held, released), or its account connecting
 * (keys are fetched again).
 */
export function concernsEncryption(ev: ClientEvent, account: string, peer: string, group = false): boolean {
  switch (ev.type) {
    case 'conversation':
      return ev.conversation.account === account && ev.conversation.peer === peer;
    case 'message':
      return ev.message.account === account && ev.message.peer === peer && (ev.message.outgoing || ev.message.encrypted);
    case 'account_state':
      return ev.jid === account && ev.state.state === 'connected';
    case 'encryption_devices':
      // The contact's devices, or the user's own, or a trust decision; in
      // a group, any member's (or the members themselves, as the room).
      return ev.account === account && (ev.jid === peer || ev.jid === account || group);
    default:
      return false;
  }
}
