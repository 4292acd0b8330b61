// Avatars and nicknames people show (their profiles), by key, for anyone:
// contacts, strangers who wrote, and the accounts themselves. `person`
// puts them together with what the roster says.

import { SvelteMap } from 'svelte/reactivity';
import { api } from '../api';
import type { EngineEvent, ProfileView } from '../engine';
import { keyOf, splitKey } from '../lists';
import { contacts } from './contacts.svelte';

export interface Person {
  name: string | null;
  nickname: string | null;
  avatar: string | null;
}

const none = (): ProfileView => ({ avatar: null, nickname: null });

class Profiles {
  #items = new SvelteMap<string, ProfileView>();
  /** Profiles asked for (so each is loaded once). */
  #asked = new Set<string>();

  get(account: string, jid: string): ProfileView | undefined {
    return this.#items.get(keyOf(account, jid));
  }

  /** Keeps a profile the UI changed before the engine's event arrives. */
  set(account: string, jid: string, p: ProfileView): void {
    this.#items.set(keyOf(account, jid), p);
  }

  /** The account's own avatar and nickname, as last known. */
  own(account: string): ProfileView {
    return this.get(account, account) ?? none();
  }

  /** Loads what is stored of someone's avatar and nickname, once. */
  load(account: string, jid: string): void {
    const key = keyOf(account, jid);
    if (this.#asked.has(key) || this.#items.has(key)) return;
    this.#asked.add(key);
    void api
      .profile(account, jid)
      .then((p) => {
        if (p && !this.#items.has(key)) this.#items.set(key, p);
      })
      .catch(() => this.#asked.delete(key));
  }

  /** Name and avatar of anyone: the contact, else what their profile says
   *  (their presence is not read: a presence change does not change this). */
  person(account: string, jid: string): Person {
    const c = contacts.place(account, jid);
    const p = this.#items.get(keyOf(account, jid));
    return { name: c?.name ?? null, nickname: c?.nickname ?? p?.nickname ?? null, avatar: c?.avatar ?? p?.avatar ?? null };
  }

  events(list: readonly EngineEvent[]): void {
    for (const { event: ev } of list) {
      if (ev.type === 'profile') this.#items.set(keyOf(ev.account, ev.jid), ev.profile);
      else if (ev.type === 'account_removed')
        for (const k of [...this.#items.keys()])
          if (splitKey(k)[0] === ev.jid) {
            this.#items.delete(k);
            this.#asked.delete(k);
          }
    }
  }
}

export const profiles = new Profiles();
