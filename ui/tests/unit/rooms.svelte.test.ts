import { describe, expect, it, vi } from 'vitest';
import type { InvitationView, OccupantView } from '../../src/lib/engine';
import {
  classifyInvitations,
  foldActivity,
  foldText,
  insertMention,
  joinErrorText,
  matchNicks,
  mentionToken,
  nickOf,
  occupantActions,
  parseRoomAddress,
  roomBanner,
  splitMentions,
  type Fold,
} from '../../src/lib/rooms';

vi.mock('../../src/lib/api', () => ({ api: {} }));
const { OccupantList, rooms } = await import('../../src/lib/stores/rooms.svelte');

const occ = (nick: string, role = 'participant', p: Partial<OccupantView> = {}): OccupantView => ({
  nick,
  jid: null,
  role,
  affiliation: 'none',
  show: 'available',
  status: null,
  avatar: null,
  is_self: false,
  ...p,
});
const change = (upserted: OccupantView[], removed: string[] = [], reset = false, count = 0) => ({ reset, count, upserted, removed });

describe('occupants', () => {
  it('orders by role, then nick, and applies changes in place', () => {
    const l = new OccupantList();
    l.apply([change([occ('zed'), occ('Ann'), occ('mod', 'moderator'), occ('vic', 'visitor'), occ('bob')], [], true, 5)]);
    expect(l.order).toEqual(['mod', 'Ann', 'bob', 'zed', 'vic']);
    expect(l.count).toBe(5);
    // One joins, one leaves, one gets voice, one changes only presence.
    const before = l.order;
    l.apply([change([occ('carl')], ['zed'], false, 5), change([occ('vic', 'participant'), occ('Ann', 'participant', { show: 'away' })], [], false, 5)]);
    expect(l.order).toEqual(['mod', 'Ann', 'bob', 'carl', 'vic']);
    expect(l.order).not.toBe(before);
    expect(l.get('Ann')?.show).toBe('away');
    expect(l.get('zed')).toBeUndefined();
    // A presence change alone keeps the same order list.
    const same = l.order;
    l.apply([change([occ('bob', 'participant', { status: 'busy' })])]);
    expect(l.order).toBe(same);
  });

  it('drops what it had on a reset, and only what follows the last reset counts', () => {
    const l = new OccupantList();
    l.apply([change([occ('a'), occ('b')], [], true, 2)]);
    l.apply([change([occ('x')], [], false, 3), change([occ('c'), occ('d')], [], true, 2), change([], ['d'], false, 1)]);
    expect(l.order).toEqual(['c']);
    expect(l.size).toBe(1);
    expect(l.count).toBe(1);
  });

  it('gives the same order applied in steps as sorted whole', () => {
    const l = new OccupantList();
    const roles = ['moderator', 'participant', 'visitor'];
    const all = Array.from({ length: 400 }, (_, i) => occ(`n${(i * 7919) % 1000}`, roles[i % 3]));
    l.apply([change(all.slice(0, 200), [], true)]);
    for (let i = 200; i < 400; i += 5) l.apply([change(all.slice(i, i + 5), [`n${((i - 200) * 7919) % 1000}`])]);
    const whole = new OccupantList();
    whole.apply([change([...l.order].map((n) => l.get(n)!), [], true)]);
    expect(l.order).toEqual(whole.order);
    expect(new Set(l.order).size).toBe(l.size);
  });

  it('applies changes that come while loading on top of the list', async () => {
    const l = new OccupantList();
    let answer: (v: OccupantView[]) => void = () => {};
    const loading = l.load(() => new Promise((r) => (answer = r)));
    l.apply([change([occ('late')], ['gone'], false, 2)]);
    expect(l.order).toEqual([]);
    answer([occ('gone'), occ('early')]);
    await loading;
    expect(l.order).toEqual(['early', 'late']);
    expect(l.loaded).toBe(true);
  });
});

describe('joins and leaves, folded', () => {
  const at = (f: Partial<Parameters<typeof foldActivity>[1]>) => ({ joined: [], left: [], renamed: [], at_ms: 1, ...f });

  it('puts many into one line', () => {
    let f: Fold | null = null;
    f = foldActivity(f, at({ joined: ['Ann', 'Bob'] }));
    f = foldActivity(f, at({ joined: Array.from({ length: 12 }, (_, i) => `p${i}`), left: ['Cy'], at_ms: 5 }));
    expect(foldText(f)).toBe('Ann, Bob and 12 others joined · Cy left');
    expect(f.at_ms).toBe(1);
  });

  it('leaves out who came and went, who went and came back, and chains nick changes', () => {
    let f = foldActivity(null, at({ joined: ['Ann'], left: ['Bob'] }));
    f = foldActivity(f, at({ left: ['Ann'], joined: ['Bob'] }));
    expect(foldText(f)).toBe('');
    f = foldActivity(f, at({ renamed: [{ from: 'Dee', to: 'Di' }] }));
    f = foldActivity(f, at({ renamed: [{ from: 'Di', to: 'Diana' }] }));
    expect(foldText(f)).toBe('Dee is now Diana');
    f = foldActivity(f, at({ joined: ['Eve'] }));
    f = foldActivity(f, at({ renamed: [{ from: 'Eve', to: 'Eva' }] }));
    expect(foldText(f)).toBe('Eva joined · Dee is now Diana');
    f = foldActivity(f, at({ left: ['Diana'] }));
    expect(foldText(f)).toBe('Eva joined · Dee left');
  });

  it('says who a moderator removed, even someone who just came', () => {
    let f = foldActivity(null, at({ joined: ['bob', 'cy'] }));
    f = foldActivity(f, at({ removed: ['bob'] }));
    expect(foldText(f)).toBe('cy joined · bob was removed');
    f = foldActivity(f, at({ removed: ['cy', 'dee'] }));
    expect(foldText(f)).toBe('bob, cy and dee were removed');
  });

  it('names two and three in full', () => {
    expect(foldText({ joined: ['A', 'B'], left: ['C', 'D', 'E'], renamed: [] })).toBe('A and B joined · C, D and E left');
  });
});

describe('the rooms store', () => {
  it('folds activity until a message comes, per room', () => {
    const act = (joined: string[], at_ms: number, room = 'r@muc') => ({
      seq: 0,
      event: { type: 'room_activity' as const, account: 'me@x', room, joined, left: [], renamed: [], removed: [], at_ms },
    });
    const message = { seq: 0, event: { type: 'message' as const, message: { account: 'me@x', peer: 'r@muc' } as never } };
    rooms.events([act(['A'], 1), act(['B'], 2), act(['Z'], 2, 'other@muc')]);
    rooms.events([act(['C'], 3)]);
    expect(rooms.activity('me@x', 'r@muc').map(foldText)).toEqual(['A, B and C joined']);
    rooms.events([message, act(['D'], 5)]);
    expect(rooms.activity('me@x', 'r@muc').map(foldText)).toEqual(['A, B and C joined', 'D joined']);
    expect(rooms.activity('me@x', 'other@muc').map(foldText)).toEqual(['Z joined']);
    rooms.events([{ seq: 0, event: { type: 'account_removed', jid: 'me@x' } }]);
    expect(rooms.activity('me@x', 'r@muc')).toEqual([]);
  });
});

describe('mentions', () => {
  it('finds the word to complete', () => {
    expect(mentionToken('hi @an', 6)).toEqual({ start: 3, end: 6, query: 'an' });
    expect(mentionToken('@', 1)).toEqual({ start: 0, end: 1, query: '' });
    expect(mentionToken('hi an', 5)).toBeNull();
    expect(mentionToken('hi an', 5, true)).toEqual({ start: 3, end: 5, query: 'an' });
    expect(mentionToken('hi ', 3, true)).toBeNull();
  });

  it('matches nicks: prefix first, recent speakers first, never oneself', () => {
    const nicks = ['Anna', 'anton', 'Joanne', 'Bob', 'me', 'Annabel'];
    expect(matchNicks(nicks, 'an', 'me')).toEqual(['Anna', 'Annabel', 'anton', 'Joanne']);
    expect(matchNicks(nicks, 'an', 'me', ['anton'])).toEqual(['anton', 'Anna', 'Annabel', 'Joanne']);
    expect(matchNicks(nicks, '', 'me', [], 3)).toEqual(['Anna', 'Annabel', 'anton']);
    expect(matchNicks(nicks, 'zz', 'me')).toEqual([]);
  });

  it('inserts "nick: " at the start and "nick " inline', () => {
    expect(insertMention('@an', { start: 0, end: 3, query: 'an' }, 'Anna')).toEqual({ text: 'Anna: ', caret: 6 });
    expect(insertMention('hi an how', { start: 3, end: 5, query: 'an' }, 'Anna')).toEqual({ text: 'hi Anna how', caret: 8 });
  });

  it('cuts the nick out of text as a whole word', () => {
    expect(splitMentions('Hey alice, and Alice!', 'alice')).toEqual([
      { text: 'Hey ', nick: false },
      { text: 'alice', nick: true },
      { text: ', and ', nick: false },
      { text: 'Alice', nick: true },
      { text: '!', nick: false },
    ]);
    expect(splitMentions('malice', 'alice')).toEqual([{ text: 'malice', nick: false }]);
  });
});

describe('invitations', () => {
  const inv = (room: string, from_contact: boolean, received_ms: number): InvitationView => ({
    account: 'me@x',
    room,
    inviter: 'someone@x',
    reason: null,
    password: null,
    from_contact,
    received_ms,
  });

  it('splits contacts’ invitations from strangers’, newest first', () => {
    const { contacts, strangers } = classifyInvitations([inv('a@muc', true, 1), inv('b@muc', false, 2), inv('c@muc', true, 3)]);
    expect(contacts.map((i) => i.room)).toEqual(['c@muc', 'a@muc']);
    expect(strangers.map((i) => i.room)).toEqual(['b@muc']);
  });
});

describe('rooms', () => {
  it('reads addresses and links', () => {
    expect(parseRoomAddress(' Tea@Conference.Example.org ')).toBe('tea@conference.example.org');
    expect(parseRoomAddress('xmpp:tea@conference.example.org?join')).toBe('tea@conference.example.org');
    expect(parseRoomAddress('xmpp:caf%C3%A9@muc.example?join;password=x')).toBe('café@muc.example');
    expect(parseRoomAddress('tea')).toBeNull();
    expect(parseRoomAddress('tea@muc.example/nick')).toBeNull();
    expect(nickOf('tea@muc.example/Ann/B')).toBe('Ann/B');
  });

  it('says why a room could not be joined', () => {
    expect(joinErrorText('banned')).toBe('You are banned from this group chat.');
    expect(joinErrorText('members_only')).toBe('This group is for members only. Ask an admin to invite you.');
    expect(joinErrorText('not_found')).toBe('No group chat at this address.');
    expect(joinErrorText('other', 'Too many rooms')).toBe('Could not join the group chat: Too many rooms');
  });

  it('offers rejoining after a lost connection, not after a ban', () => {
    const room = { status: 'failed', error: 'lost', error_text: null } as const;
    expect(roomBanner(room as never)?.rejoin).toBe(true);
    expect(roomBanner({ ...room, status: 'left', error: 'banned' } as never)?.rejoin).toBe(false);
    expect(roomBanner({ ...room, status: 'joined', error: null } as never)).toBeNull();
  });

  it('names who removed the user, when the room says', () => {
    const kicked = { status: 'failed', error: 'kicked', error_text: 'spam', error_by: 'Ann' } as const;
    expect(roomBanner(kicked as never)).toEqual({ text: 'You were removed from this group chat by Ann.', reason: 'spam', rejoin: true });
    expect(roomBanner({ ...kicked, error_by: null } as never)?.text).toBe('You were removed from this group chat.');
  });

  it('lets moderators, admins and owners do what the XEP lets them', () => {
    const me = { role: 'moderator', affiliation: 'none', private_messages: true } as const;
    const them = { role: 'participant', affiliation: 'none', jid: 'x@y', is_self: false };
    expect(occupantActions(me, them)).toEqual({ message: true, kick: true, voice: 'revoke', ban: false, affiliations: [] });
    expect(occupantActions(me, { ...them, affiliation: 'admin' }).kick).toBe(false);
    expect(occupantActions({ ...me, affiliation: 'admin' }, them).affiliations).toEqual(['member']);
    expect(occupantActions({ ...me, affiliation: 'owner' }, { ...them, affiliation: 'member' }).affiliations).toEqual(['owner', 'admin', 'none']);
    expect(occupantActions({ ...me, affiliation: 'owner' }, { ...them, jid: null }).ban).toBe(false);
    expect(occupantActions({ role: 'participant', affiliation: 'member', private_messages: false }, them)).toEqual({
      message: false,
      kick: false,
      voice: null,
      ban: false,
      affiliations: [],
    });
    expect(occupantActions(me, { ...them, is_self: true }).kick).toBe(false);
  });
});
