// Messaging data and commands for the screen harness: conversations,
// contacts, a timeline with every kind of message, hostile strings, and a
// 100,000-message history. Commands answer like the shell and emit the
// events the engine would.

import type {
  ClientEvent,
  ContactView,
  ConversationView,
  EncryptionView,
  MessageView,
  SubscriptionRequest,
} from '../../src/lib/engine';
import { largeContacts, largeConversations } from './large';

const ME = 'alice@example.org';
const MIN = 60_000;
const now = Date.now();
const today = (h: number, m = 0) => {
  const d = new Date(now);
  d.setHours(h, m, 0, 0);
  return Math.min(d.getTime(), now - MIN);
};
const daysAgo = (n: number, h = 10, m = 0) => {
  const d = new Date(now);
  d.setDate(d.getDate() - n);
  d.setHours(h, m, 0, 0);
  return d.getTime();
};

/** Strings that must show as typed and never run. */
export const HOSTILE = {
  script: '<script>window.__pwned = 1</script>',
  img: '<img src=x onerror="window.__pwned = 2">',
  link: 'javascript:window.__pwned=3',
  anchor: '<a href="javascript:window.__pwned=4">click</a>',
  bidi: 'evil\u202Egnp.exe',
  // A link whose shown text a bidi override reverses, and one an isolate
  // around it could move: text, never links.
  bidiLink: 'https://tern.example/\u202Eexe.gnp',
  bidiAround: '\u2067see https://tern.example/ok\u2069',
  svg: '<svg onload="window.__pwned=5"></svg>',
  html: '{@html "<b>x</b>"} &lt;b&gt;',
};

let nextId = 1000;
export function msg(peer: string, p: Partial<MessageView>): MessageView {
  const id = p.id ?? nextId++;
  const outgoing = p.outgoing ?? false;
  return {
    id,
    account: ME,
    peer,
    outgoing,
    sender: outgoing ? ME : peer,
    uid: `uid-${id}`,
    body: '',
    timestamp_ms: now,
    state: outgoing ? 'read' : 'seen',
    edited: false,
    retracted: false,
    reply_to: null,
    reactions: {},
    me: (p.body ?? '').startsWith('/me '),
    failure: null,
    failure_text: null,
    mention: false,
    moderated_by: null,
    moderation_reason: null,
    file: null,
    encrypted: false,
    decrypt_error: null,
    held: null,
    call: null,
    ...p,
  };
}

/** A conversation's encryption as the engine tells it (not decided, no keys known, by default). */
export function encryptionView(peer: string, p: Partial<EncryptionView> = {}): EncryptionView {
  return { account: ME, peer, mode: 'auto', group: false, members: null, next_encrypted: null, contact_devices: 0, own_devices: 1, undecided: 0, problem: null, ...p };
}

export function contact(jid: string, p: Partial<ContactView> = {}): ContactView {
  return { account: ME, jid, name: null, subscription: 'both', ask: false, groups: [], presence: [], avatar: null, nickname: null, ...p };
}

const JULIET = 'juliet@capulet.example';
const ROMEO = 'romeo@montague.example';
const NURSE = 'nurse@capulet.example';
const TYBALT = 'tybalt@capulet.example';
const HOSTILE_PEER = 'mallory@evil.example';
const BOB = 'bob1@example.net';
const DEMO = 'demo@capulet.example';

/** Bob writes from two devices (full JIDs); the user's own messages came
 *  from the archive (the bare JID) and live (a full JID). */
function bobTimeline(): MessageView[] {
  return [
    msg(BOB, { body: 'Hi, it is Bob, from my phone', sender: `${BOB}/phone.4f2a`, timestamp_ms: daysAgo(1, 9, 0) }),
    msg(BOB, { body: 'Hello Bob (from the archive)', outgoing: true, sender: ME, timestamp_ms: daysAgo(1, 9, 2) }),
    msg(BOB, { body: 'And now from my laptop', sender: `${BOB}/laptop`, timestamp_ms: daysAgo(1, 9, 20) }),
    msg(BOB, { body: 'Sent from this computer', outgoing: true, sender: `${ME}/tern.4f2a1c`, state: 'read', timestamp_ms: today(8, 0) }),
  ];
}

function julietTimeline(): MessageView[] {
  const greet = msg(JULIET, { id: 1, body: 'Good morrow! Did you see the *new* release notes?', timestamp_ms: daysAgo(2, 9, 5) });
  const reply = msg(JULIET, {
    id: 2,
    outgoing: true,
    body: 'I did. The _search_ is so much faster now.',
    timestamp_ms: daysAgo(2, 9, 7),
    reply_to: 'uid-1',
    encrypted: true,
  });
  return [
    greet,
    reply,
    msg(JULIET, { id: 3, body: 'Here is the link: https://tern.example/notes?v=2&x=a_b_c.', timestamp_ms: daysAgo(1, 18, 30) }),
    msg(JULIET, { id: 4, body: '/me waves from the balcony', timestamp_ms: daysAgo(1, 18, 31) }),
    msg(JULIET, {
      id: 5,
      outgoing: true,
      body: 'Code looks like this:\n```\nfn main() {\n    println!("*not bold*");\n}\n```\n> a quoted line\nand ~struck~ text',
      timestamp_ms: today(9, 12),
      edited: true,
      reactions: { [JULIET]: ['👍', '❤️'], 'nurse@capulet.example': ['👍'] },
    }),
    msg(JULIET, { id: 6, body: '', retracted: true, timestamp_ms: today(9, 20) }),
    msg(JULIET, { id: 7, body: 'A message delivered but not read yet', outgoing: true, state: 'delivered', timestamp_ms: today(9, 40), encrypted: true }),
    msg(JULIET, { id: 8, body: 'And one still waiting to be sent', outgoing: true, state: 'queued', timestamp_ms: today(9, 41) }),
    msg(JULIET, {
      id: 10,
      body: 'And one the server sent back',
      outgoing: true,
      state: 'failed',
      failure: 'remote-server-not-found',
      failure_text: '<b>DNS</b> lookup failed for capulet.example',
      timestamp_ms: today(9, 42),
    }),
    msg(JULIET, { id: 9, body: 'Let me reply to the first one', reply_to: 'uid-1', timestamp_ms: today(9, 45), reactions: { [ME]: ['😂'] } }),
  ];
}

/** 200 messages read, then 60 new ones from Romeo: more than fit. */
function manyUnread(): MessageView[] {
  return longTimeline(260).map((m, i) => (i < 200 ? m : { ...m, outgoing: false, sender: ROMEO, state: 'received' }));
}

/** Read up to last night; three new this morning. */
function romeoTimeline(): MessageView[] {
  return [
    msg(ROMEO, { body: 'Good night, good night! Parting is such sweet sorrow.', timestamp_ms: daysAgo(1, 23, 50) }),
    msg(ROMEO, { body: 'Sleep dwell upon thine eyes.', outgoing: true, timestamp_ms: daysAgo(1, 23, 52) }),
    msg(ROMEO, { body: 'Good morrow!', state: 'received', timestamp_ms: today(7, 20) }),
    msg(ROMEO, { body: 'Art thou awake?', state: 'received', timestamp_ms: today(7, 21) }),
    msg(ROMEO, { body: 'Shall I compare thee to a summer’s day?', state: 'received', timestamp_ms: today(7, 30) }),
  ];
}

function hostileTimeline(): MessageView[] {
  return Object.values(HOSTILE).map((body, i) => msg(HOSTILE_PEER, { id: 500 + i, body, timestamp_ms: today(8, i) }));
}

/** 100,000 messages, one a minute, alternating senders. */
function longTimeline(n = 100_000): MessageView[] {
  const start = now - n * MIN;
  return Array.from({ length: n }, (_, i) =>
    msg(ROMEO, { id: i + 1, body: `Message number ${i + 1}${i % 7 === 0 ? ' with a longer text that wraps onto a second line when the window is narrow enough to need it' : ''}`, outgoing: i % 3 === 0, timestamp_ms: start + i * MIN }),
  );
}

class ChatData {
  scenario = '';
  conversations: ConversationView[] = [];
  contacts: ContactView[] = [];
  timelines = new Map<string, MessageView[]>();
  requests: SubscriptionRequest[] = [];
  blocked: Record<string, string[]> = {};
  /** Each one-to-one conversation's encryption (see `encryptionView`). */
  encryption = new Map<string, EncryptionView>();

  setup(scenario: string) {
    this.scenario = scenario;
    if (scenario === 'empty') return;
    if (scenario === 'large') {
      this.contacts = largeContacts();
      this.conversations = largeConversations(now);
      for (const c of this.conversations) if (c.last) this.timelines.set(c.peer, [c.last]);
      return;
    }
    this.contacts = [
      contact(JULIET, { name: 'Juliet Capulet', groups: ['Family', 'Friends'], presence: [
          { resource: 'phone', show: 'available', status: 'On the balcony 🌙', priority: 5, client: 'Conversations', calls: false },
          { resource: 'laptop.7f3a', show: 'away', status: 'At my desk after supper', priority: 0, client: 'Gajim', calls: false },
        ] }),
      contact(ROMEO, { name: 'Romeo', groups: ['Friends'], presence: [{ resource: 'pc', show: 'away', status: null, priority: 0, client: null, calls: false }] }),
      contact(NURSE, { name: 'The Nurse', groups: ['Family'], presence: [{ resource: 'x', show: 'dnd', status: 'Busy with errands', priority: 0, client: null, calls: false }] }),
      contact(TYBALT, { subscription: 'none', ask: true, nickname: 'Prince of Cats' }),
      contact('friar@verona.example', { name: 'Friar Laurence', presence: [] }),
    ];
    this.timelines.set(JULIET, julietTimeline());
    this.timelines.set(ROMEO, scenario === 'long' ? longTimeline() : scenario === 'paged' ? longTimeline(1000) : scenario === 'window' ? longTimeline(3000) : scenario === 'unread' ? manyUnread() : romeoTimeline());
    this.timelines.set(NURSE, [
      msg(NURSE, { body: 'Anon, anon!', timestamp_ms: daysAgo(3), state: 'seen' }),
      msg(NURSE, { body: 'I come, I come!', outgoing: true, state: 'failed', timestamp_ms: daysAgo(3, 10, 5) }),
    ]);
    // Juliet: encrypted for her phone and laptop and the user's other
    // device (not for her new tablet, not decided on yet); Romeo: keys not
    // known yet; the Nurse: turned off.
    this.encryption.set(JULIET, encryptionView(JULIET, { mode: 'omemo', next_encrypted: true, contact_devices: 2, undecided: 1 }));
    this.encryption.set(NURSE, encryptionView(NURSE, { mode: 'plain', next_encrypted: false, contact_devices: 1 }));
    if (scenario === 'chats-held') {
      // Romeo's new device is not trusted yet: two messages wait (the
      // second behind the first).
      const why = `${ROMEO} has a device you have not decided to trust yet. Verify or trust it in their encryption keys to send this message.`;
      this.encryption.set(ROMEO, encryptionView(ROMEO, { mode: 'omemo', next_encrypted: true, contact_devices: 0, undecided: 1, problem: why }));
      const list = this.timelines.get(ROMEO)!;
      list.push(
        msg(ROMEO, { id: 700, body: 'Meet me at the chapel at noon.', outgoing: true, state: 'queued', held: why, timestamp_ms: today(7, 40) }),
        msg(ROMEO, { id: 701, body: 'And bring the ring.', outgoing: true, state: 'queued', timestamp_ms: today(7, 41) }),
      );
    }
    this.requests = [{ account: ME, from: 'benvolio@montague.example', nick: 'Benvolio' }];
    this.blocked = { [ME]: ['spam@junk.example'] };
    if (scenario === 'chats-people') {
      this.contacts.push(contact(BOB, { name: 'Bob 1', presence: [{ resource: 'phone.4f2a', show: 'available', status: null, priority: 0, client: null, calls: false }] }));
      this.contacts.push(contact(DEMO, { name: 'Juliet (demo)' }));
      this.timelines.set(BOB, bobTimeline());
      this.timelines.set(DEMO, [msg(DEMO, { body: 'A demo account', timestamp_ms: daysAgo(4) })]);
    }
    if (scenario === 'hostile') {
      this.contacts.push(
        contact(HOSTILE_PEER, {
          name: `${HOSTILE.script}${HOSTILE.bidi}`,
          presence: [{ resource: HOSTILE.anchor, show: 'chat', status: HOSTILE.img, priority: 0, client: HOSTILE.svg, calls: false }],
          nickname: HOSTILE.html,
        }),
      );
      this.timelines.set(HOSTILE_PEER, hostileTimeline());
      this.requests.push({ account: ME, from: 'x<img src=x onerror=window.__pwned=6>@evil.example', nick: '<b onmouseover=window.__pwned=7>Nick</b>' });
    }
    for (const [peer, list] of this.timelines) {
      const last = list[list.length - 1];
      this.conversations.push({ account: ME, peer, kind: 'chat', unread: peer === ROMEO ? 3 : peer === HOSTILE_PEER ? 1 : 0, mentions: 0, updated_ms: last.timestamp_ms, last });
    }
    this.conversations.sort((a, b) => b.updated_ms - a.updated_ms);
  }
}

export const chatData = new ChatData();
export type Send = (ev: ClientEvent) => void;

export function upsertConv(send: Send, m: MessageView, unread = 0) {
  const kind = chatData.conversations.find((x) => x.peer === m.peer)?.kind ?? (m.peer.includes('/') ? 'groupchat_pm' : 'chat');
  const c: ConversationView = { account: m.account, peer: m.peer, kind, unread, mentions: 0, updated_ms: m.timestamp_ms, last: m };
  chatData.conversations = [c, ...chatData.conversations.filter((x) => x.peer !== m.peer)];
  send({ type: 'conversation', conversation: c });
}

export function update(send: Send, id: number, f: (m: MessageView) => MessageView): MessageView | null {
  for (const [peer, list] of chatData.timelines) {
    const i = list.findIndex((m) => m.id === id);
    if (i >= 0) {
      list[i] = f(list[i]);
      send({ type: 'message', message: list[i] });
      if (i === list.length - 1) upsertConv(send, list[i]);
      void peer;
      return list[i];
    }
  }
  return null;
}

/** Answers a messaging command like the shell would. */
export function messagingCommand(cmd: string, a: Record<string, unknown>, send: Send): unknown {
  const d = chatData;
  switch (cmd) {
    case 'conversations':
      // A slow disk: the list comes a while after the rest.
      if (d.scenario === 'chats-slow') return new Promise((r) => setTimeout(() => r({ seq: 0, items: d.conversations }), 1000));
      return { seq: 0, items: d.conversations };
    case 'roster':
      return { seq: 0, items: d.contacts.filter((c) => c.account === a.account) };
    case 'timeline': {
      const list = d.timelines.get(a.peer as string) ?? [];
      // The long history comes whole, to show the list copes with it.
      return { seq: 0, items: d.scenario === 'long' ? list : list.slice(-(a.limit as number)) };
    }
    case 'take_pending_uri':
      return d.scenario === 'chats-uri' ? { jid: NURSE, action: 'message', body: 'Started from a link', name: null } : null;
    case 'load_older': {
      const list = d.timelines.get(a.peer as string) ?? [];
      const end = a.before === null ? list.length : list.findIndex((m) => m.id === a.before);
      const page = list.slice(Math.max(0, end - (a.limit as number)), Math.max(0, end));
      return new Promise((r) => setTimeout(() => r(page), d.scenario === 'window' ? 10 : 150));
    }
    case 'load_newer': {
      const list = d.timelines.get(a.peer as string) ?? [];
      const from = list.findIndex((m) => m.id === a.after) + 1;
      const page = from === 0 ? [] : list.slice(from, from + (a.limit as number));
      return new Promise((r) => setTimeout(() => r(page), 10));
    }
    case 'search': {
      const q = (a.query as string).toLowerCase();
      const hits = [];
      for (const list of d.timelines.values())
        for (const m of list)
          if (m.body.toLowerCase().includes(q)) {
            const i = m.body.toLowerCase().indexOf(q);
            hits.push({ message: m, snippet: `${m.body.slice(0, i)}[${m.body.slice(i, i + q.length)}]${m.body.slice(i + q.length)}` });
          }
      return hits.slice(0, 100);
    }
    case 'send_message': {
      const draft = a.draft as { account: string; peer: string; body: string; reply_to: number | null };
      const list = d.timelines.get(draft.peer) ?? [];
      const replied = draft.reply_to ? list.find((m) => m.id === draft.reply_to) : undefined;
      const m = msg(draft.peer, { outgoing: true, body: draft.body, state: 'queued', timestamp_ms: Date.now(), reply_to: replied?.uid ?? null });
      if (!draft.peer.includes('/') && (draft.peer.includes('@conference.') || draft.peer.includes('@channels.'))) m.sender = `${draft.peer}/alice`;
      list.push(m);
      d.timelines.set(draft.peer, list);
      send({ type: 'message', message: m });
      upsertConv(send, m);
      setTimeout(() => update(send, m.id, (x) => ({ ...x, state: 'acked' })), 100);
      return m;
    }
    case 'correct_message':
      return update(send, a.id as number, (m) => ({ ...m, body: a.body as string, edited: true }));
    case 'delete_conversation': {
      const peer = a.peer as string;
      d.timelines.delete(peer);
      d.conversations = d.conversations.filter((c) => c.peer !== peer);
      return new Promise((r) =>
        setTimeout(() => {
          send({ type: 'conversation_deleted', account: a.account as string, peer });
          r(null);
        }, 150),
      );
    }
    case 'resend_message': {
      const m = update(send, a.id as number, (x) => ({ ...x, state: 'queued', failure: null, failure_text: null }));
      setTimeout(() => update(send, a.id as number, (x) => ({ ...x, state: 'acked' })), 100);
      return m;
    }
    case 'conversation_encryption':
      return d.encryption.get(a.peer as string) ?? encryptionView(a.peer as string);
    case 'set_conversation_encryption': {
      const peer = a.peer as string;
      const was = d.encryption.get(peer) ?? encryptionView(peer);
      const on = a.encrypted as boolean;
      const v: EncryptionView = on
        ? {
            ...was,
            mode: 'omemo',
            next_encrypted: true,
            problem: was.contact_devices > 0 ? null : `${peer} has not published any encryption keys: their app may not support OMEMO encryption. Send this message unencrypted, or wait until they can receive encrypted messages.`,
          }
        : { ...was, mode: 'plain', next_encrypted: false, problem: null };
      d.encryption.set(peer, v);
      // The engine tells that the conversation changed.
      const c = d.conversations.find((x) => x.peer === peer);
      if (c) send({ type: 'conversation', conversation: c });
      return v;
    }
    case 'send_unencrypted': {
      const m = update(send, a.id as number, (x) => ({ ...x, held: null, encrypted: false }));
      setTimeout(() => {
        update(send, a.id as number, (x) => ({ ...x, state: 'acked' }));
        // The next message of the conversation cannot be encrypted either.
        const next = m && (d.timelines.get(m.peer) ?? []).find((x) => x.outgoing && x.state === 'queued' && x.id !== m.id);
        if (next) update(send, next.id, (x) => ({ ...x, held: d.encryption.get(x.peer)?.problem ?? 'Tern could not encrypt this message.' }));
      }, 100);
      return m;
    }
    case 'retry_held': {
      // Tried again: still waiting for the same reason.
      const list = d.timelines.get(a.peer as string) ?? [];
      const held = list.find((m) => m.held);
      if (held) setTimeout(() => update(send, held.id, (x) => ({ ...x })), 100);
      return null;
    }
    case 'retract_message':
      return update(send, a.id as number, (m) => ({ ...m, body: '', retracted: true }));
    case 'react':
      return update(send, a.id as number, (m) => {
        const reactions = { ...m.reactions };
        const emojis = a.emojis as string[];
        if (emojis.length) reactions[ME] = emojis;
        else delete reactions[ME];
        return { ...m, reactions };
      });
    case 'mark_read': {
      const c = d.conversations.find((x) => x.peer === a.peer);
      if (c) {
        const read = { ...c, unread: 0 };
        d.conversations = d.conversations.map((x) => (x === c ? read : x));
        send({ type: 'conversation', conversation: read });
      }
      const list = d.timelines.get(a.peer as string) ?? [];
      d.timelines.set(a.peer as string, list.map((m) => (m.outgoing || m.state !== 'received' ? m : { ...m, state: 'seen' })));
      return null;
    }
    case 'approve_subscription':
    case 'deny_subscription':
      // Answered: the engine forgets the request.
      send({ type: 'subscription_request_removed', account: a.account as string, from: a.jid as string });
      return null;
    case 'add_contact': {
      const f = a.contact as { account: string; jid: string; name: string | null; groups: string[] };
      const c = contact(f.jid, { account: f.account, name: f.name, groups: f.groups, subscription: 'none', ask: true });
      d.contacts.push(c);
      send({ type: 'contact', contact: c });
      return null;
    }
    case 'block':
      send({ type: 'blocklist', account: a.account as string, blocked: [a.jid as string], unblocked: [], unblocked_all: false });
      return null;
    case 'unblock':
      send({ type: 'blocklist', account: a.account as string, blocked: [], unblocked: [a.jid as string], unblocked_all: false });
      return null;
    default:
      return null;
  }
}

/** For scenarios: the peer starts typing after the page loaded. */
export const PEERS = { ME, JULIET, ROMEO, NURSE, HOSTILE_PEER, BOB, DEMO };
