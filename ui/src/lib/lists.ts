// Pure rules for the lists the UI keeps from engine events: conversations,
// contacts, typing notifications, subscription requests and blocklists.
// The Svelte store (messaging.svelte.ts) holds the results.

import type { ChatState, ClientEvent, ContactView, ConversationView, EngineEvent, Listed, ProfileView, SubscriptionRequest } from './engine';

/** Key of a conversation or contact: account and peer. */
export const keyOf = (account: string, peer: string): string => `${account}\u0000${peer}`;

/** Most recent activity first; ties by peer, so the order is stable. */
export function sortConversations(list: ConversationView[]): ConversationView[] {
  return [...list].sort((a, b) => b.updated_ms - a.updated_ms || a.peer.localeCompare(b.peer) || a.account.localeCompare(b.account));
}

/** Adds or replaces a conversation (by account + peer) and keeps the order. */
export function upsertConversation(list: ConversationView[], c: ConversationView): ConversationView[] {
  return sortConversations([...list.filter((x) => x.account !== c.account || x.peer !== c.peer), c]);
}

/** The list without one conversation (the user deleted it). */
export const removeConversation = (list: ConversationView[], account: string, peer: string): ConversationView[] =>
  list.filter((x) => x.account !== account || x.peer !== peer);

/** Contacts by name, then JID. */
export function sortContacts(list: ContactView[]): ContactView[] {
  const name = (c: ContactView) => (c.name?.trim() || c.nickname?.trim() || c.jid).toLocaleLowerCase();
  return [...list].sort((a, b) => name(a).localeCompare(name(b)) || a.jid.localeCompare(b.jid));
}

export function upsertContact(list: ContactView[], c: ContactView): ContactView[] {
  return sortContacts([...list.filter((x) => x.account !== c.account || x.jid !== c.jid), c]);
}

/** Applies a profile change to the matching contact, if any. */
export function applyProfile(list: ContactView[], account: string, jid: string, p: ProfileView): ContactView[] {
  const i = list.findIndex((c) => c.account === account && c.jid === jid);
  if (i < 0) return list;
  const next = [...list];
  next[i] = { ...list[i], avatar: p.avatar, nickname: p.nickname };
  return sortContacts(next);
}

export function removeContact(list: ContactView[], account: string, jid: string): ContactView[] {
  return list.filter((x) => x.account !== account || x.jid !== jid);
}

/** Contacts under their groups (a contact in two groups is in both); "" holds those without one. Groups by name, "" last. */
export function groupContacts(list: ContactView[]): [string, ContactView[]][] {
  const groups = new Map<string, ContactView[]>();
  for (const c of list) {
    const names = c.groups.length ? new Set(c.groups) : [''];
    for (const g of names) {
      const arr = groups.get(g) ?? [];
      arr.push(c);
      groups.set(g, arr);
    }
  }
  return [...groups.entries()].sort(([a], [b]) => (a === '' ? 1 : b === '' ? -1 : a.localeCompare(b)));
}

/** How long "typing…" stays without a new `composing` (XEP-0085 suggests 30 s). */
export const TYPING_TTL_MS = 30_000;

/** Who is typing: key -> when the notice expires. */
export type Typing = Record<string, number>;

export function applyChatState(t: Typing, account: string, peer: string, state: ChatState, now: number): Typing {
  const k = keyOf(account, peer);
  if (state === 'composing') return { ...t, [k]: now + TYPING_TTL_MS };
  if (!(k in t)) return t;
  const next = { ...t };
  delete next[k];
  return next;
}

/** Whether the peer is typing now. */
export const isTyping = (t: Typing, account: string, peer: string, now: number): boolean => (t[keyOf(account, peer)] ?? 0) > now;

/** Drops expired notices; returns the same object when none expired. */
export function expireTyping(t: Typing, now: number): Typing {
  const live = Object.entries(t).filter(([, until]) => until > now);
  return live.length === Object.keys(t).length ? t : Object.fromEntries(live);
}

/** Requests and blocklists, as the shell keeps them (`SnapshotView::apply`). */
export interface Inbox {
  requests: SubscriptionRequest[];
  blocked: Record<string, string[]>;
}

export function applyInbox(inbox: Inbox, ev: ClientEvent): Inbox {
  const without = (account: string, from: string) => inbox.requests.filter((r) => r.account !== account || r.from !== from);
  switch (ev.type) {
    case 'subscription_request':
      return { ...inbox, requests: [...without(ev.account, ev.from), { account: ev.account, from: ev.from, nick: ev.nick ?? null }] };
    case 'contact':
      if (ev.contact.subscription === 'from' || ev.contact.subscription === 'both')
        return { ...inbox, requests: without(ev.contact.account, ev.contact.jid) };
      return inbox;
    case 'blocklist': {
      let list = ev.unblocked_all ? [] : [...(inbox.blocked[ev.account] ?? [])];
      list = list.filter((j) => !ev.unblocked.includes(j));
      for (const j of ev.blocked) if (!list.includes(j)) list.push(j);
      return { ...inbox, blocked: { ...inbox.blocked, [ev.account]: list.sort() } };
    }
    case 'account_removed': {
      const blocked = { ...inbox.blocked };
      delete blocked[ev.jid];
      return { requests: inbox.requests.filter((r) => r.account !== ev.jid), blocked };
    }
    default:
      return inbox;
  }
}

/**
 * Loads a list and keeps it current: events that arrive while the list
 * command runs are held, then those newer than the list (`seq` above the
 * answer's) are applied on top. Upserts make replaying one twice harmless.
 */
export class Loader<T> {
  private pending: EngineEvent[] | null = null;

  constructor(
    private readonly apply: (items: T[], ev: ClientEvent) => T[],
    private readonly set: (items: T[]) => void,
  ) {}

  get loading(): boolean {
    return this.pending !== null;
  }

  async load(fetch: () => Promise<Listed<T>>): Promise<void> {
    this.pending = [];
    try {
      const { seq, items } = await fetch();
      let list = items;
      for (const e of this.pending) if (e.seq > seq) list = this.apply(list, e.event);
      this.set(list);
    } finally {
      this.pending = null;
    }
  }

  /** Returns true when the event was held for a running load. */
  hold(e: EngineEvent): boolean {
    if (this.pending === null) return false;
    this.pending.push(e);
    return true;
  }
}
