import { describe, expect, it } from 'vitest';
import type { AccountView } from '../../src/lib/engine';
import {
  cleanStatus,
  clientLabel,
  headerValue,
  isDefaultPresence,
  MAX_PICTURE_BYTES,
  newlyConnected,
  parsePresence,
  pictureProblem,
  vcardRows,
  webLink,
  type VCardView,
} from '../../src/lib/profile';

const account = (jid: string, state: AccountView['state']['state']): AccountView =>
  ({ jid, enabled: true, state: state === 'connected' ? { state, bound_jid: `${jid}/r`, resumed: false } : { state: 'connecting', attempt: 1 } }) as AccountView;

const emptyCard = (): VCardView => ({
  full_name: null,
  nickname: null,
  given_name: null,
  family_name: null,
  emails: [],
  phones: [],
  url: null,
  organisation: null,
  title: null,
  birthday: null,
  description: null,
  photo: null,
});

describe('own presence', () => {
  it('reads a stored choice and refuses anything else', () => {
    expect(parsePresence('{"show":"dnd","status":"In a meeting"}')).toEqual({ show: 'dnd', status: 'In a meeting' });
    expect(parsePresence(null)).toEqual({ show: 'available', status: '' });
    expect(parsePresence('not json')).toEqual({ show: 'available', status: '' });
    expect(parsePresence('{"show":"<script>","status":42}')).toEqual({ show: 'available', status: '' });
    expect(parsePresence('"away"')).toEqual({ show: 'available', status: '' });
  });

  it('keeps status messages on one bounded line', () => {
    expect(cleanStatus('  lunch\n\nback at 2\t ')).toBe('lunch back at 2');
    expect([...cleanStatus('🌙'.repeat(2000))].length).toBe(1024);
  });

  it('knows when there is nothing to restore', () => {
    expect(isDefaultPresence({ show: 'available', status: '' })).toBe(true);
    expect(isDefaultPresence({ show: 'available', status: 'hi' })).toBe(false);
    expect(isDefaultPresence({ show: 'away', status: '' })).toBe(false);
  });

  it('finds accounts that just connected', () => {
    const before = [account('a@x', 'connected'), account('b@x', 'connecting')];
    const after = [account('a@x', 'connected'), account('b@x', 'connected'), account('c@x', 'connecting')];
    expect(newlyConnected(before, after)).toEqual(['b@x']);
    expect(newlyConnected([], after)).toEqual(['a@x', 'b@x']);
    expect(newlyConnected(after, before)).toEqual([]);
  });
});

describe('own avatar', () => {
  it('checks a picture before sending it', () => {
    expect(pictureProblem({ size: 1000, type: 'image/png' })).toBeNull();
    expect(pictureProblem({ size: MAX_PICTURE_BYTES, type: 'image/webp' })).toBeNull();
    expect(pictureProblem({ size: 1000, type: '' })).toBeNull();
    expect(pictureProblem({ size: MAX_PICTURE_BYTES + 1, type: 'image/jpeg' })).toMatch(/too large \(32\.0 MB\).*at most 32 MB/);
    expect(pictureProblem({ size: 0, type: 'image/png' })).toMatch(/can’t be used: the file is empty/);
    expect(pictureProblem({ size: 10, type: 'image/svg+xml' })).toMatch(/PNG, JPEG, GIF and WebP/);
  });

  it('puts any address in a header', () => {
    expect(headerValue('jürgen@example.org')).toBe('j%C3%BCrgen%40example.org');
    expect(/^[\x21-\x7e]*$/.test(headerValue('a b\n@x'))).toBe(true);
  });
});

describe('vCards', () => {
  it('opens only web links', () => {
    expect(webLink('https://example.org/me')).toBe('https://example.org/me');
    expect(webLink(' http://example.org ')).toBe('http://example.org');
    for (const bad of ['javascript:alert(1)', 'JavaScript:alert(1)', 'data:text/html,x', 'file:///etc/passwd', 'xmpp:a@b', 'https://a b', 'http://', 'example.org', '', null, 'https://example.org/\u202Egnp.exe', 'https://\u2067example.org'])
      expect(webLink(bad)).toBeNull();
  });

  it('lists the fields that are there, in order', () => {
    const rows = vcardRows({
      ...emptyCard(),
      full_name: 'Juliet Capulet',
      given_name: 'Juliet',
      family_name: 'Capulet',
      emails: ['juliet@capulet.example', ' '],
      phones: ['+39 045 000'],
      url: 'javascript:alert(1)',
      description: 'Line one\nline two',
    });
    expect(rows.map((r) => r.label)).toEqual(['Full name', 'Email', 'Phone', 'Website', 'About']);
    expect(rows.find((r) => r.label === 'Website')).toEqual({ label: 'Website', value: 'javascript:alert(1)', link: undefined });
    const named = vcardRows({ ...emptyCard(), given_name: 'Romeo', family_name: 'Montague', url: 'https://montague.example' });
    expect(named).toEqual([
      { label: 'Name', value: 'Romeo Montague' },
      { label: 'Website', value: 'https://montague.example', link: 'https://montague.example' },
    ]);
    expect(vcardRows(emptyCard())).toEqual([]);
  });

  it('names the app of a resource', () => {
    expect(clientLabel('Conversations')).toBe('Conversations');
    expect(clientLabel(null)).toBe('Unknown app');
    expect(clientLabel('  ')).toBe('Unknown app');
  });
});
