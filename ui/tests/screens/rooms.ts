// Group chats for the screen harness (`rooms` scenarios): a private group
// where the user is owner and moderator (mentions, a removed message, joins
// and leaves), a public channel of 5,000 people, a room the user was
// removed from, invitations from a contact and from a stranger, and the
// commands a room needs. Joining an address whose local part names an error
// (`banned@…`, `members_only@…`, `secret@…` without the password) fails as
// the engine would.

import type { ClientEvent, InvitationView, MessageView, OccupantView, RoomListing, RoomView, Show } from '../../src/lib/engine';
import { chatData, encryptionView, msg } from './chats';

const ME = 'alice@example.org';
export const TEA = 'tea@conference.example.org';
export const LOBBY = 'lobby@channels.example.org';
export const OLD = 'old@conference.example.org';
const MIN = 60_000;
const now = Date.now();
const todayAt = (h: number, m = 0) => {
  const d = new Date(now);
  d.setHours(h, m, 0, 0);
  return Math.min(d.getTime(), now - 10 * MIN);
};

export const LARGE_ROOM = 5000;

function room(jid: string, p: Partial<RoomView>): RoomView {
  return {
    account: ME,
    jid,
    name: null,
    kind: 'private_group',
    subject: null,
    nick: 'alice',
    status: 'joined',
    error: null,
    error_text: null,
    error_by: null,
    role: 'participant',
    affiliation: 'member',
    occupants: 0,
    bookmarked: true,
    autojoin: true,
    notify: 'all',
    moderation: true,
    private_messages: true,
    password_protected: false,
    ...p,
  };
}

function occupant(nick: string, p: Partial<OccupantView> = {}): OccupantView {
  return { nick, jid: null, role: 'participant', affiliation: 'none', show: 'available', status: null, avatar: null, is_self: false, ...p };
}

const FIRST = ['Ada', 'Ben', 'Cleo', 'Dan', 'Eve', 'Finn', 'Gia', 'Hugo', 'Ines', 'Jon', 'Kai', 'Lena', 'Milo', 'Nora', 'Otto', 'Pia', 'Quin', 'Rosa', 'Sam', 'Tara'];
const SHOWS: Show[] = ['available', 'away', 'dnd', 'xa', 'chat'];
const bigNick = (i: number) => `${FIRST[i % FIRST.length]}${Math.floor(i / FIRST.length)}`;
function bigOccupant(i: number, p: Partial<OccupantView> = {}): OccupantView {
  return occupant(bigNick(i), { role: i < 12 ? 'moderator' : i % 40 === 0 ? 'visitor' : 'participant', show: SHOWS[i % SHOWS.length], ...p });
}

const teaOccupants = (): OccupantView[] => [
  occupant('alice', { jid: ME, role: 'moderator', affiliation: 'owner', is_self: true }),
  occupant('Ann', { jid: 'ann@example.net', role: 'moderator', affiliation: 'admin', status: 'Brewing' }),
  occupant('Bob', { jid: 'bob@example.net', affiliation: 'member', show: 'away' }),
  occupant('Cy', { jid: 'cy@example.com', affiliation: 'member' }),
  occupant('Dee', { jid: 'dee@example.com', role: 'visitor' }),
  occupant('Eve', { jid: 'eve@example.com', affiliation: 'member', show: 'dnd', status: 'Do not disturb, please' }),
];

function teaTimeline(): MessageView[] {
  const from = (nick: string, p: Partial<MessageView>) => msg(TEA, { sender: `${TEA}/${nick}`, ...p });
  return [
    from('Ann', { body: 'Welcome to the tea room, everyone!', timestamp_ms: todayAt(9, 0) }),
    from('Bob', { body: 'Morning! Who brought the biscuits?', timestamp_ms: todayAt(9, 2) }),
    msg(TEA, { outgoing: true, sender: `${TEA}/alice`, body: 'I did. Ginger ones.', timestamp_ms: todayAt(9, 4) }),
    from('Cy', { id: 7001, body: 'alice: the ginger ones are the best, thank you!', timestamp_ms: todayAt(9, 6), mention: true }),
    from('Mallory', { id: 7002, body: '', retracted: true, moderated_by: 'Ann', moderation_reason: 'Spam links', timestamp_ms: todayAt(9, 8) }),
    from('Bob', { id: 7003, body: 'Has anyone tried the new oolong?', timestamp_ms: todayAt(9, 10), reactions: { [`${TEA}/Ann`]: ['👍'] } }),
    from('Eve', { id: 7004, body: 'Not yet. Is it any good?', timestamp_ms: todayAt(9, 11) }),
  ];
}

function lobbyTimeline(): MessageView[] {
  return Array.from({ length: 40 }, (_, i) =>
    msg(LOBBY, {
      id: 8000 + i,
      sender: `${LOBBY}/${bigNick((i * 37) % LARGE_ROOM)}`,
      body: i === 35 ? 'Is alice around? alice, ping.' : `Lobby chatter number ${i + 1}`,
      mention: i === 35,
      state: i >= 28 ? 'received' : 'seen',
      timestamp_ms: now - (40 - i) * MIN,
    }),
  );
}

class RoomData {
  rooms: RoomView[] = [];
  invitations: InvitationView[] = [];
  occupants = new Map<string, OccupantView[]>();

  setup(scenario: string) {
    this.rooms = [
      room(TEA, {
        name: 'Tea room',
        subject: 'Tea, biscuits and the occasional *release*. Be kind, stay on topic, and remember that the kettle is shared by everyone on this floor, so refill it.',
        role: 'moderator',
        affiliation: 'owner',
        occupants: 6,
      }),
      room(LOBBY, { name: 'Lobby', kind: 'public_channel', subject: 'The public lobby. Everyone welcome.', notify: 'mentions', occupants: LARGE_ROOM, private_messages: false }),
      room(OLD, { name: 'Old club', status: 'left', error: 'kicked', error_text: 'Please keep it civil', error_by: 'Ann', role: 'none', affiliation: 'none', occupants: 0 }),
    ];
    this.occupants.set(TEA, teaOccupants());
    this.occupants.set(LOBBY, [bigOccupant(0, { nick: 'alice', jid: null, is_self: true, role: 'participant' }), ...Array.from({ length: LARGE_ROOM - 1 }, (_, i) => bigOccupant(i + 1))]);
    this.invitations = [
      { account: ME, room: 'party@conference.capulet.example', inviter: 'juliet@capulet.example', reason: 'Come to the party tonight!', password: null, from_contact: true, received_ms: now - 5 * MIN },
      { account: ME, room: 'deals@rooms.evil.example', inviter: 'mallory@evil.example', reason: 'Great deals inside', password: null, from_contact: false, received_ms: now - 2 * MIN },
    ];
    const tea = teaTimeline();
    const lobby = lobbyTimeline();
    const old = [msg(OLD, { sender: `${OLD}/Zed`, body: 'Last message before you were removed', timestamp_ms: todayAt(7, 0) })];
    // The private group is encrypted for its members' devices.
    chatData.encryption.set(TEA, encryptionView(TEA, { mode: 'omemo', group: true, members: 5, next_encrypted: true, contact_devices: 9, own_devices: 1 }));
    chatData.timelines.set(TEA, tea);
    chatData.timelines.set(LOBBY, lobby);
    chatData.timelines.set(OLD, old);
    chatData.conversations.unshift(
      { account: ME, peer: LOBBY, kind: 'groupchat', unread: 12, mentions: 1, updated_ms: lobby.at(-1)!.timestamp_ms, last: lobby.at(-1)! },
      { account: ME, peer: TEA, kind: 'groupchat', unread: 0, mentions: 0, updated_ms: tea.at(-1)!.timestamp_ms, last: tea.at(-1)! },
      { account: ME, peer: OLD, kind: 'groupchat', unread: 0, mentions: 0, updated_ms: old[0].timestamp_ms, last: old[0] },
    );
    chatData.conversations.sort((a, b) => b.updated_ms - a.updated_ms);
    void scenario;
  }
}

export const roomData = new RoomData();
type Send = (ev: ClientEvent) => void;

const listing = (): RoomListing[] =>
  Array.from({ length: 300 }, (_, i) => ({ jid: `room${i}@conference.example.org`, name: i % 7 === 0 ? null : `Room number ${i}`, occupants: i % 5 === 0 ? null : (i * 13) % 400 }));

const reject = (kind: string, message: string) => Promise.reject({ kind, message });
const slow = <T>(v: T, ms = 120): Promise<T> => new Promise((r) => setTimeout(() => r(v), ms));

function upsertRoom(send: Send, r: RoomView): RoomView {
  roomData.rooms = [...roomData.rooms.filter((x) => x.jid !== r.jid), r];
  send({ type: 'room', room: r });
  return r;
}

/** Answers a group-chat command like the shell would; undefined for others. */
export function roomCommand(cmd: string, a: Record<string, unknown>, send: Send): unknown {
  const get = (jid: unknown) => roomData.rooms.find((r) => r.jid === jid);
  switch (cmd) {
    case 'join_room': {
      const jid = a.room as string;
      const code = jid.split('@')[0];
      switch (code) {
        case 'banned':
          return reject('banned', 'You are banned from this group chat (forbidden).');
        case 'members_only':
          return reject('members_only', 'Members only (registration-required).');
        case 'full':
          return reject('full', 'The room is full (service-unavailable).');
        case 'not_found':
          return reject('not_found', 'No such room (item-not-found).');
        case 'conflict':
          if (a.nick === 'alice') return reject('nick_conflict', 'Nickname in use (conflict).');
          break;
        case 'secret':
          if (a.password !== 'open sesame') return reject('password_required', 'Password required (not-authorized).');
          break;
      }
      const r = room(jid, { nick: (a.nick as string) ?? 'alice', occupants: 3, name: get(jid)?.name ?? null });
      roomData.occupants.set(jid, [occupant(r.nick, { is_self: true }), occupant('Host', { role: 'moderator' }), occupant('Guest')]);
      return slow(upsertRoom(send, r));
    }
    case 'create_room': {
      const jid = (a.address as string | null) ?? `${(a.name as string).toLowerCase().replace(/\W+/g, '-')}@conference.example.org`;
      const r = room(jid, { name: a.name as string, kind: a.kind as RoomView['kind'], role: 'moderator', affiliation: 'owner', occupants: 1 });
      roomData.occupants.set(jid, [occupant('alice', { is_self: true, role: 'moderator', affiliation: 'owner', jid: ME })]);
      return slow(upsertRoom(send, r));
    }
    case 'suggest_room_address':
      return `${(a.name as string).toLowerCase().trim().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')}@conference.example.org`;
    case 'browse_rooms':
      return slow(listing(), 80);
    case 'room_occupants':
      return slow(roomData.occupants.get(a.room as string) ?? [], 30);
    case 'room_members':
      return slow(
        [
          { jid: ME, affiliation: 'owner', nick: 'alice' },
          { jid: 'host@example.org', affiliation: 'admin', nick: 'Host' },
          { jid: 'guest@example.org', affiliation: 'member', nick: null },
          { jid: 'troll@evil.example', affiliation: 'outcast', nick: null },
        ],
        30,
      );
    case 'configure_room': {
      const r = get(a.room);
      return r ? upsertRoom(send, { ...r, name: a.name as string, kind: a.kind as RoomView['kind'] }) : null;
    }
    case 'room_info':
      return { jid: a.room, name: get(a.room)?.name ?? null, description: null, kind: 'private_group', occupants: null, password_protected: false, moderated: false, public: false, archived: true };
    case 'kick_occupant':
    case 'ban_user':
    case 'set_occupant_role':
    case 'set_affiliation':
    case 'change_room_nick':
    case 'set_room_subject':
    case 'destroy_room':
    case 'invite_to_room':
      return null;
    case 'moderate_message': {
      for (const list of chatData.timelines.values()) {
        const i = list.findIndex((m) => m.id === a.id);
        if (i >= 0) {
          list[i] = { ...list[i], body: '', retracted: true, moderated_by: 'alice', moderation_reason: (a.reason as string | null) ?? null };
          send({ type: 'message', message: list[i] });
          return list[i];
        }
      }
      return reject('not_found', 'No such message.');
    }
    case 'set_room_notify': {
      const r = get(a.room);
      return r ? upsertRoom(send, { ...r, notify: a.notify as RoomView['notify'] }) : null;
    }
    case 'set_room_autojoin': {
      const r = get(a.room);
      return r ? upsertRoom(send, { ...r, autojoin: a.autojoin as boolean, bookmarked: (a.autojoin as boolean) || r.bookmarked }) : null;
    }
    case 'leave_room': {
      const r = get(a.room);
      if (r) upsertRoom(send, { ...r, status: 'left', error: null, role: 'none' });
      return null;
    }
    case 'accept_invitation': {
      const inv = roomData.invitations.find((i) => i.room === a.room);
      roomData.invitations = roomData.invitations.filter((i) => i !== inv);
      send({ type: 'invitation_removed', account: a.account as string, room: a.room as string });
      return slow(upsertRoom(send, room(a.room as string, { occupants: 2 })));
    }
    case 'decline_invitation':
      roomData.invitations = roomData.invitations.filter((i) => i.room !== a.room);
      send({ type: 'invitation_removed', account: a.account as string, room: a.room as string });
      return null;
    default:
      return undefined;
  }
}

let tick = 0;

/** Events a test sends into the rooms scenario (see run.mjs). */
export const roomEvents = {
  /**
   * A burst in the big room: `events` coalesced `occupants` events, each
   * with joins, leaves, role and presence changes, as one batch.
   */
  burst(events: number, per = 20): ClientEvent[] {
    const out: ClientEvent[] = [];
    for (let e = 0; e < events; e++) {
      tick += 1;
      const upserted: OccupantView[] = [];
      const removed: string[] = [];
      for (let k = 0; k < per; k++) {
        const i = (tick * 997 + k * 131) % LARGE_ROOM;
        if (i === 0) continue;
        if (k % 4 === 0) removed.push(bigNick(i));
        else if (k % 4 === 1) upserted.push(bigOccupant(i, { role: tick % 2 ? 'visitor' : 'participant' }));
        else upserted.push(bigOccupant(i, { show: SHOWS[(tick + k) % SHOWS.length], status: `Status ${tick}` }));
      }
      // Someone new, each time.
      upserted.push(occupant(`Newcomer${tick}`));
      out.push({ type: 'occupants', account: ME, room: LOBBY, count: LARGE_ROOM, reset: false, upserted, removed });
    }
    return out;
  },
  /** Someone in view changes presence (the first moderator). */
  presence(status: string): ClientEvent {
    return { type: 'occupants', account: ME, room: LOBBY, count: LARGE_ROOM, reset: false, upserted: [bigOccupant(1, { status })], removed: [] };
  },
  activity(joined: string[], left: string[], renamed: { from: string; to: string }[] = []): ClientEvent {
    return { type: 'room_activity', account: ME, room: TEA, joined, left, renamed, removed: [], at_ms: Date.now() };
  },
  room(p: Partial<RoomView>): ClientEvent {
    const r = { ...roomData.rooms.find((x) => x.jid === (p.jid ?? TEA))!, ...p };
    roomData.rooms = roomData.rooms.map((x) => (x.jid === r.jid ? r : x));
    return { type: 'room', room: r };
  },
};
