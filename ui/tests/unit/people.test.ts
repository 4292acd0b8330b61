import { describe, expect, it } from 'vitest';
import { actionError, failureReason } from '../../src/lib/messages';
import { avatarUrl, bareJid, displayName, hue, initials, senderJid, validAvatar } from '../../src/lib/people';

describe('people', () => {
  it('names and initials', () => {
    expect(displayName('juliet@capulet.example')).toBe('juliet');
    expect(displayName('juliet@capulet.example', { name: ' Juliet ' } as never)).toBe('Juliet');
    expect(initials('Juliet Capulet')).toBe('JC');
    expect(initials('romeo.montague')).toBe('RM');
    expect(initials('\u202Eevil')).toBe('E');
    expect(initials('')).toBe('?');
  });

  it('takes initials from letters and digits, skipping punctuation', () => {
    expect(initials('Juliet (demo)')).toBe('JD');
    expect(initials('Bob 1')).toBe('B1');
    expect(initials('bob1')).toBe('B');
    expect(initials('"Quoted" Name')).toBe('QN');
    expect(initials('(Friar) — Laurence')).toBe('FL');
    expect(initials('élodie martin')).toBe('ÉM');
    expect(initials('🌙')).toBe('🌙');
    expect(initials('🌙 Luna')).toBe('L');
    expect(initials('!!')).toBe('!');
  });

  it('names a sender by their bare JID, as lists and headers do', () => {
    const contact = { name: 'Bob 1', nickname: null };
    const m = { outgoing: false, account: 'alice@host', peer: 'bob1@host', sender: 'bob1@host/phone.4f2a' };
    const jid = senderJid(m);
    expect(jid).toBe('bob1@host');
    expect(bareJid('Bob1@Host/Phone')).toBe('bob1@host');
    expect(bareJid('bob1@host')).toBe('bob1@host');
    expect(bareJid('host/res/with/slashes')).toBe('host');
    // The same name, initials and colour as the list shows for the peer.
    expect(displayName(jid, contact)).toBe('Bob 1');
    expect(initials(displayName(jid, contact))).toBe('B1');
    expect(hue(jid)).toBe(hue(m.peer));
    // The user's own messages: archived (bare JID), live (full JID) and from another device look the same.
    const own = ['alice@host', 'alice@host/tern.1', 'alice@host/phone'].map((sender) => senderJid({ ...m, outgoing: true, sender }));
    expect(new Set(own)).toEqual(new Set(['alice@host']));
    expect(new Set(own.map(hue)).size).toBe(1);
    // In a group chat, occupants keep their room JIDs.
    expect(senderJid({ ...m, peer: 'room@muc.host', sender: 'room@muc.host/Bob' }, 'groupchat')).toBe('room@muc.host/Bob');
  });

  it('accepts only SHA-1 avatar hashes in URLs', () => {
    const h = '0123456789abcdef0123456789abcdef01234567';
    expect(validAvatar(h)).toBe(true);
    for (const bad of ['../x', h.toUpperCase(), h.slice(1), `${h}/x`, null, undefined]) expect(validAvatar(bad)).toBe(false);
    expect(avatarUrl(h, false)).toBe(`tern-media://localhost/avatar/${h}`);
    expect(avatarUrl(h, true)).toBe(`http://tern-media.localhost/avatar/${h}`);
  });
});

describe('message action errors', () => {
  it('says what failed and what to do', () => {
    expect(actionError('edit', { kind: 'not_connected', message: 'x' })).toBe(
      'Could not save the change: the account is offline. Try again once it is connected.',
    );
    expect(actionError('send', { kind: 'refused', message: 'The server refused (bad-request).' })).toBe(
      'Could not send the message: The server refused (bad-request).',
    );
    expect(actionError('delete', new Error('boom'))).toBe('Could not delete the message: boom.');
    expect(actionError('search', { kind: 'timeout', message: '' })).toBe('Could not search: the server did not answer in time.');
  });

  it('says why a message was not sent', () => {
    expect(failureReason('service-unavailable')).toMatch(/cannot receive messages/);
    expect(failureReason('remote-server-not-found')).toMatch(/could not be found/);
    expect(failureReason(null)).toMatch(/did not reach your server/);
    expect(failureReason('undefined-condition')).toBe('A server sent it back (undefined-condition).');
    for (const c of ['item-not-found', 'remote-server-timeout', 'forbidden', 'policy-violation', 'resource-constraint', 'jid-malformed'])
      expect(failureReason(c)).not.toMatch(/sent it back/);
  });
});
