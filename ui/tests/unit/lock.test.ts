import { describe, expect, it } from 'vitest';
import type { ClientEvent, EncryptionView, MessageView } from '../../src/lib/engine';
import {
  composerHint,
  concernsEncryption,
  encryptsByChoice,
  lockExplanation,
  lockLabel,
  lockName,
  lockShort,
  lockState,
  recipients,
  undecidedNote,
} from '../../src/lib/lock';

const ME = 'me@example.org';
const ROMEO = 'romeo@montague.example';
const view = (p: Partial<EncryptionView> = {}): EncryptionView => ({
  account: ME,
  peer: ROMEO,
  mode: 'omemo',
  group: false,
  members: null,
  next_encrypted: true,
  contact_devices: 2,
  own_devices: 1,
  undecided: 0,
  problem: null,
  ...p,
});

describe('the lock', () => {
  it('says whom the next message is encrypted for', () => {
    expect(lockLabel(view(), 'Romeo')).toBe('Encrypted for Romeo’s 2 devices and your other device');
    expect(lockLabel(view({ contact_devices: 1, own_devices: 0 }), 'Romeo')).toBe('Encrypted for Romeo’s device');
    expect(lockLabel(view({ contact_devices: 1, own_devices: 3 }), 'Romeo')).toBe('Encrypted for Romeo’s device and your 3 other devices');
    expect(recipients(view({ contact_devices: 3, own_devices: 2 }), 'Charles')).toBe('Charles’s 3 devices and your 2 other devices');
  });

  it('is encrypted in auto mode once the contact is known to have keys', () => {
    const v = view({ mode: 'auto' });
    expect(lockState(v)).toBe('encrypted');
    expect(encryptsByChoice(v)).toBe(true);
  });

  it('says plainly when messages are not encrypted', () => {
    const v = view({ mode: 'plain', next_encrypted: false });
    expect(lockState(v)).toBe('plain');
    expect(lockLabel(v, 'Romeo')).toBe('Not encrypted');
    expect(lockExplanation(v, 'Romeo')).toContain('You turned encryption off');
    expect(encryptsByChoice(v)).toBe(false);
  });

  it('waits for the keys when not known yet', () => {
    const v = view({ mode: 'auto', next_encrypted: null, contact_devices: 0 });
    expect(lockState(v)).toBe('undecided');
    expect(lockLabel(v, 'Romeo')).toBe('Encrypted once Romeo’s keys are known');
    expect(lockExplanation(v, 'Romeo')).toContain('if they have no keys, it goes unencrypted');
    expect(encryptsByChoice(v)).toBe(true);
  });

  it('tells when a message would wait, with the engine’s reason', () => {
    const v = view({ contact_devices: 0, undecided: 1, problem: 'Romeo has a device you have not decided to trust yet.' });
    expect(lockState(v)).toBe('waiting');
    expect(lockLabel(v, 'Romeo')).toBe('Can’t encrypt for Romeo yet');
    // Encrypting with no device and no reason given: still waiting.
    expect(lockState(view({ contact_devices: 0 }))).toBe('waiting');
    // The keys could not be read at all: not "not encrypted".
    expect(lockState(view({ next_encrypted: false, contact_devices: 0, problem: 'Tern could not read its encryption keys.' }))).toBe('waiting');
    // Turned off: the problem does not make it wait.
    expect(lockState(view({ mode: 'plain', next_encrypted: false, problem: 'x' }))).toBe('plain');
  });

  it('has short words for narrow headers, within its name', () => {
    expect(lockShort(view())).toBe('Encrypted');
    expect(lockName(view(), 'Romeo')).toBe('Encrypted for Romeo’s 2 devices and your other device');
    expect(lockName(view({ mode: 'plain', next_encrypted: false }), 'Romeo')).toBe('Not encrypted');
    const undecided = view({ mode: 'auto', next_encrypted: null, contact_devices: 0 });
    expect(lockShort(undecided)).toBe('Keys not known yet');
    expect(lockName(undecided, 'Romeo')).toBe('Keys not known yet: Encrypted once Romeo’s keys are known');
    expect(lockName(view({ contact_devices: 0, problem: 'x' }), 'Romeo')).toBe('Can’t encrypt for Romeo yet');
  });

  it('counts devices not decided on', () => {
    expect(undecidedNote(view(), 'Romeo')).toBeNull();
    expect(undecidedNote(view({ undecided: 1 }), 'Romeo')).toBe(
      'Romeo has a device you have not decided to trust yet. Messages are not encrypted for it until you do.',
    );
    expect(undecidedNote(view({ undecided: 2 }), 'Romeo')).toContain('2 devices');
    expect(undecidedNote(view({ mode: 'plain', next_encrypted: false, undecided: 2 }), 'Romeo')).toBeNull();
    // The reason messages wait says it already.
    expect(undecidedNote(view({ contact_devices: 0, undecided: 1, problem: 'Romeo has a device you have not decided to trust yet.' }), 'Romeo')).toBeNull();
  });
});

describe('the composer’s hint', () => {
  it('says nothing while messages go encrypted, or before anything is known', () => {
    expect(composerHint(view(), 'Romeo')).toBeNull();
    expect(composerHint(view({ mode: 'auto', next_encrypted: null, contact_devices: 0 }), 'Romeo')).toBeNull();
    expect(composerHint(null, 'Romeo')).toBeNull();
  });

  it('quietly tells that a conversation turned off is not encrypted', () => {
    expect(composerHint(view({ mode: 'plain', next_encrypted: false }), 'Romeo')).toEqual({
      kind: 'plain',
      text: 'Not encrypted: servers can read what you send to Romeo.',
    });
  });

  it('shows why messages would wait', () => {
    const h = composerHint(view({ contact_devices: 0, problem: 'Romeo has not published any encryption keys.' }), 'Romeo');
    expect(h).toEqual({ kind: 'waiting', text: 'Messages you send now wait to be encrypted. Romeo has not published any encryption keys.' });
  });
});

describe('events that change the lock', () => {
  const message = (p: Partial<MessageView>) => ({ account: ME, peer: ROMEO, outgoing: false, encrypted: false, ...p }) as MessageView;
  const concerns = (ev: unknown) => concernsEncryption(ev as ClientEvent, ME, ROMEO);

  it('are the conversation’s, its outgoing or encrypted messages’, and its account connecting', () => {
    expect(concerns({ type: 'conversation', conversation: { account: ME, peer: ROMEO } })).toBe(true);
    expect(concerns({ type: 'conversation', conversation: { account: ME, peer: 'juliet@capulet.example' } })).toBe(false);
    expect(concerns({ type: 'message', message: message({ outgoing: true }) })).toBe(true);
    expect(concerns({ type: 'message', message: message({ encrypted: true }) })).toBe(true);
    expect(concerns({ type: 'message', message: message({}) })).toBe(false);
    expect(concerns({ type: 'message', message: message({ outgoing: true, account: 'other@example.org' }) })).toBe(false);
    expect(concerns({ type: 'account_state', jid: ME, state: { state: 'connected', bound_jid: `${ME}/x`, resumed: false } })).toBe(true);
    expect(concerns({ type: 'account_state', jid: ME, state: { state: 'connecting', attempt: 1 } })).toBe(false);
    expect(concerns({ type: 'chat_state', account: ME, peer: ROMEO, state: 'composing' })).toBe(false);
  });
});

describe('a private group’s lock', () => {
  const group = (p: Partial<EncryptionView> = {}) => view({ peer: 'tea@conference.example', group: true, members: 3, contact_devices: 5, ...p });

  it('counts the members and their devices', () => {
    expect(lockLabel(group(), 'Tea room')).toBe('Encrypted for 3 members’ 5 devices and your other device');
    expect(lockLabel(group({ members: 1, contact_devices: 1, own_devices: 0 }), 'Tea room')).toBe('Encrypted for 1 member’s device');
  });

  it('says a group is encrypted once everyone can read it', () => {
    const v = group({ mode: 'auto', next_encrypted: false, contact_devices: 2 });
    expect(lockLabel(v, 'Tea room')).toBe('Not encrypted');
    expect(lockExplanation(v, 'Tea room')).toContain('once every member’s app can read encrypted messages');
    expect(lockLabel(group({ mode: 'auto', next_encrypted: null, members: null }), 'Tea room')).toBe('Encrypted once the members’ keys are known');
  });

  it('names no one when a member’s keys are missing: the engine’s reason does', () => {
    const why = 'In this group: bob@example.org has not published any encryption keys.';
    const v = group({ problem: why });
    expect(lockLabel(v, 'Tea room')).toBe('Can’t encrypt for everyone yet');
    expect(composerHint(v, 'Tea room')).toEqual({ kind: 'waiting', text: `Messages you send now wait to be encrypted. ${why}` });
  });

  it('follows every member’s devices', () => {
    const ev = { type: 'encryption_devices', account: ME, jid: 'bob@example.org' } as ClientEvent;
    expect(concernsEncryption(ev, ME, 'tea@conference.example', true)).toBe(true);
    expect(concernsEncryption(ev, ME, ROMEO)).toBe(false);
  });
});
