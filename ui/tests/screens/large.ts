// A large roster and conversation list for the screen harness (`large`
// scenario): 5,000 contacts in 24 groups (some in two, some in none) and
// 2,000 conversations, and the events that change them, for measuring how
// the lists keep up (run.mjs, case `large-lists`).

import type { ClientEvent, ContactView, ConversationView, MessageView, Show } from '../../src/lib/engine';

export const LARGE = { contacts: 5000, conversations: 2000 };

const ME = 'alice@example.org';
const FIRST = ['Ada', 'Ben', 'Cleo', 'Dan', 'Eve', 'Finn', 'Gia', 'Hugo', 'Ines', 'Jon', 'Kai', 'Lena', 'Milo', 'Nora', 'Otto', 'Pia', 'Quin', 'Rosa', 'Sam', 'Tara', 'Ugo', 'Vera', 'Wim', 'Xena', 'Yves', 'Zoe'];
const LAST = ['Abbott', 'Baker', 'Carver', 'Dunn', 'Ellis', 'Frost', 'Grey', 'Hale', 'Irwin', 'Joyce', 'Keane', 'Lowe', 'Marsh', 'Nash', 'Orr', 'Price', 'Quill', 'Reed', 'Stone', 'Tate', 'Underwood', 'Vance', 'Webb', 'Young'];
const SHOWS: Show[] = ['available', 'away', 'dnd', 'xa', 'chat'];

/** A fixed sequence of numbers in [0, 1), the same every run. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const jidOf = (i: number) => `user${String(i).padStart(4, '0')}@people.example`;
const nameOf = (i: number) => `${FIRST[i % FIRST.length]} ${LAST[Math.floor(i / FIRST.length) % LAST.length]} ${Math.floor(i / (FIRST.length * LAST.length)) + 1}`;

function presence(i: number, show: Show | null, status: string | null = null): ContactView['presence'] {
  return show ? [{ resource: `r${i}`, show, status, priority: 0, client: null, calls: false }] : [];
}

let roster: ContactView[] | null = null;

export function largeContacts(): ContactView[] {
  if (roster) return roster;
  const r = random(7);
  return (roster = Array.from({ length: LARGE.contacts }, (_, i) => {
    const g = Math.floor(r() * 30);
    const groups = g >= 24 ? [] : r() < 0.1 ? [`Team ${String(g + 1).padStart(2, '0')}`, `Team ${String(((g + 5) % 24) + 1).padStart(2, '0')}`] : [`Team ${String(g + 1).padStart(2, '0')}`];
    const online = r() < 0.35;
    return {
      account: ME,
      jid: jidOf(i),
      name: r() < 0.9 ? nameOf(i) : null,
      subscription: r() < 0.95 ? 'both' : 'to',
      ask: false,
      groups,
      presence: presence(i, online ? SHOWS[Math.floor(r() * SHOWS.length)] : null, online && r() < 0.3 ? `Status of ${i}` : null),
      avatar: null,
      nickname: null,
    };
  }));
}

let nextId = 5_000_000;
function message(peer: string, body: string, at: number, outgoing = false): MessageView {
  const id = nextId++;
  return {
    id,
    account: ME,
    peer,
    outgoing,
    sender: outgoing ? ME : peer,
    uid: `large-${id}`,
    body,
    timestamp_ms: at,
    state: outgoing ? 'read' : 'seen',
    edited: false,
    retracted: false,
    reply_to: null,
    reactions: {},
    me: false,
    file: null,
    failure: null,
    failure_text: null,
    mention: false,
    moderated_by: null,
    moderation_reason: null,
    encrypted: false,
    decrypt_error: null,
    held: null,
    call: null,
  };
}

/** Peer of conversation `i`: contacts, and every fifth one a stranger. */
const peerOf = (i: number) => (i % 5 === 4 ? `stranger${i}@elsewhere.example` : jidOf(i * 2));

export function largeConversations(now: number): ConversationView[] {
  const r = random(11);
  return Array.from({ length: LARGE.conversations }, (_, i) => {
    // Most recent first: conversation i is i × 40 minutes old.
    const at = now - 60_000 - i * 40 * 60_000;
    const last = message(peerOf(i), `Message ${i}: ${r() < 0.5 ? 'see you tomorrow at the usual place' : 'thanks!'}`, at, r() < 0.4);
    return { account: ME, peer: peerOf(i), kind: 'chat', unread: r() < 0.1 ? 1 + Math.floor(r() * 5) : 0, mentions: 0, updated_ms: at, last };
  });
}

let latest = 0;

/** Events a test sends into the large scenario (see run.mjs). */
export const largeEvents = {
  jid: jidOf,
  name: nameOf,
  peer: peerOf,
  /** Contact `i` comes online with a status, or goes offline. */
  presence(i: number, show: Show | null, status: string | null = null): ClientEvent {
    const c = largeContacts()[i];
    return { type: 'contact', contact: { ...c, presence: presence(i, show, status) } };
  },
  /** A new message in conversation `i`: it moves to the top. */
  message(i: number, body: string): ClientEvent[] {
    // Each newer than the last, even within one millisecond.
    latest = Math.max(Date.now(), latest + 1);
    const m = message(peerOf(i), body, latest);
    return [
      { type: 'message', message: m },
      { type: 'conversation', conversation: { account: ME, peer: m.peer, kind: 'chat', unread: 1, mentions: 0, updated_ms: m.timestamp_ms, last: m } },
    ];
  },
};
