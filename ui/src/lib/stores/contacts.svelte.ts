// The roster: contacts by key (account and JID), their order and groups,
// and what waits on the user: presence subscription requests and the
// blocklists (both part of the engine's snapshot). A presence change
// replaces one contact; the order and the groups are derived from names
// and groups alone, so they are worked out again only when those change.

import { SvelteMap, SvelteSet } from 'svelte/reactivity';
import { api } from '../api';
import type { ClientEvent, ContactView, EngineEvent, Listed, Snapshot, SubscriptionRequest } from '../engine';
import { groupContacts, keyOf, Loader, sortContacts, splitKey } from '../lists';

/** What a contact's place in the list depends on, and how they are named
 *  and pictured elsewhere (all but their presence). */
export interface ContactPlace {
  key: string;
  account: string;
  jid: string;
  name: string | null;
  nickname: string | null;
  avatar: string | null;
  groups: string[];
}

const placeOf = (c: ContactView): ContactPlace => ({
  key: keyOf(c.account, c.jid),
  account: c.account,
  jid: c.jid,
  name: c.name,
  nickname: c.nickname ?? null,
  avatar: c.avatar ?? null,
  groups: c.groups,
});

const samePlace = (a: ContactPlace, b: ContactPlace): boolean =>
  a.name === b.name &&
  a.nickname === b.nickname &&
  a.avatar === b.avatar &&
  a.groups.length === b.groups.length && a.groups.every((g, i) => g === b.groups[i]);

export class Contacts {
  #items = new SvelteMap<string, ContactView>();
  #places = new SvelteMap<string, ContactPlace>();
  #loader = new Loader<ContactView>(
    (ev) => this.#apply(ev),
    (items) => this.#replace(items),
  );

  /** Unanswered subscription requests, oldest first. */
  requests = $state.raw<SubscriptionRequest[]>([]);
  /** Blocked addresses per account. */
  #blocked = $state.raw<Record<string, string[]>>({});
  #blockedSets = $derived(new Map(Object.entries(this.#blocked).map(([account, list]) => [account, new Set(list)])));
  /** Requests answered here that the engine has not taken off the list yet. */
  readonly answering = new SvelteSet<string>();

  /** Everyone, by name. */
  readonly sorted = $derived(sortContacts([...this.#places.values()]));
  /** Under their groups, groups by name, those without one last. */
  readonly grouped = $derived(groupContacts(this.sorted));
  /** Group names in use. */
  readonly groups = $derived(this.grouped.map(([g]) => g).filter(Boolean));

  get size(): number {
    return this.#items.size;
  }

  get(account: string, jid: string): ContactView | undefined {
    return this.#items.get(keyOf(account, jid));
  }

  byKey(key: string): ContactView | undefined {
    return this.#items.get(key);
  }

  /** Name, nickname, avatar and groups of a contact: what does not change with presence. */
  place(account: string, jid: string): ContactPlace | undefined {
    return this.#places.get(keyOf(account, jid));
  }

  /** Addresses blocked by an account, sorted. */
  blocked(account: string): string[] {
    return this.#blocked[account] ?? [];
  }

  isBlocked(account: string, jid: string): boolean {
    return this.#blockedSets.get(account)?.has(jid) ?? false;
  }

  /** Loads the rosters of these accounts (all of them: the list is replaced). */
  load(accounts: readonly string[]): Promise<void> {
    const list = [...accounts];
    return this.#loader
      .load(async (): Promise<Listed<ContactView>> => {
        const lists = await Promise.all(list.map((a) => api.roster(a).catch(() => ({ seq: Infinity, items: [] as ContactView[] }))));
        const seq = Math.min(...lists.map((l) => l.seq), Number.MAX_SAFE_INTEGER);
        return { seq, items: lists.flatMap((l) => l.items) };
      })
      .catch(() => {});
  }

  /** Requests and blocklists from the engine's snapshot. */
  setSnapshot(s: Snapshot): void {
    if (s.requests !== this.requests) {
      this.requests = s.requests;
      const open = new Set(s.requests.map((r) => keyOf(r.account, r.from)));
      for (const k of [...this.answering]) if (!open.has(k)) this.answering.delete(k);
    }
    if (s.blocked !== this.#blocked) this.#blocked = s.blocked;
  }

  /** Applies a batch of events. */
  events(list: readonly EngineEvent[]): void {
    for (const e of list) {
      const ev = e.event;
      if (ev.type === 'account_removed') this.#apply(ev);
      else if (ev.type === 'subscription_request') this.answering.delete(keyOf(ev.account, ev.from));
      else if ((ev.type === 'contact' || ev.type === 'contact_removed' || ev.type === 'profile') && !this.#loader.hold(e)) this.#apply(ev);
    }
  }

  /** Answers a request; it stays listed (as being answered) until the engine removes it. */
  async answer(account: string, from: string, how: 'approve' | 'deny' | 'block'): Promise<void> {
    const k = keyOf(account, from);
    this.answering.add(k);
    try {
      if (how === 'approve') {
        await api.approveSubscription(account, from);
        if (!this.get(account, from)) await api.addContact(account, from, null, []);
      } else if (how === 'deny') await api.denySubscription(account, from);
      else {
        // Refused first, so the engine forgets the request.
        await api.denySubscription(account, from);
        await api.block(account, from);
      }
    } catch (e) {
      this.answering.delete(k);
      throw e;
    }
  }

  #apply(ev: ClientEvent): void {
    switch (ev.type) {
      case 'contact':
        this.#set(ev.contact);
        break;
      case 'contact_removed':
        this.#delete(keyOf(ev.account, ev.jid));
        break;
      case 'profile': {
        const c = this.#items.get(keyOf(ev.account, ev.jid));
        if (c) this.#set({ ...c, avatar: ev.profile.avatar, nickname: ev.profile.nickname });
        break;
      }
      case 'account_removed':
        for (const k of [...this.#items.keys()]) if (splitKey(k)[0] === ev.jid) this.#delete(k);
        break;
    }
  }

  #set(c: ContactView): void {
    const k = keyOf(c.account, c.jid);
    this.#items.set(k, c);
    const place = placeOf(c);
    const old = this.#places.get(k);
    if (!old || !samePlace(old, place)) this.#places.set(k, place);
  }

  #delete(k: string): void {
    this.#items.delete(k);
    this.#places.delete(k);
  }

  #replace(items: ContactView[]): void {
    const keep = new Set<string>();
    for (const c of items) {
      keep.add(keyOf(c.account, c.jid));
      this.#set(c);
    }
    for (const k of [...this.#items.keys()]) if (!keep.has(k)) this.#delete(k);
  }
}

export const contacts = new Contacts();
