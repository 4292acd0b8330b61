// The conversation list: conversations by key (account and peer), the keys
// in order of activity, and unread counts. Events change one entry each;
// the order is derived from activity times alone, so a change that does
// not move a conversation (read, a message edited) does not re-sort.

import { SvelteMap } from 'svelte/reactivity';
import { api } from '../api';
import type { ClientEvent, ConversationView, EngineEvent } from '../engine';
import { keyOf, Loader, sortConversations, splitKey } from '../lists';
import { drafts } from './drafts';
import { rooms } from './rooms.svelte';

export class Conversations {
  #items = new SvelteMap<string, ConversationView>();
  /** Last activity per key: all the order depends on. */
  #activity = new SvelteMap<string, number>();
  #loader = new Loader<ConversationView>(
    (ev) => this.#apply(ev),
    (items) => this.#replace(items),
  );

  /** Keys, most recent activity first. */
  readonly keys = $derived.by(() => {
    const list = [...this.#activity].map(([key, updated_ms]) => {
      const [account, peer] = splitKey(key);
      return { key, account, peer, updated_ms };
    });
    return sortConversations(list).map((c) => c.key);
  });

  /** Accounts that have conversations. */
  readonly accounts = $derived(new Set([...this.#activity.keys()].map((k) => splitKey(k)[0])));

  /** Unread messages over all conversations; in group chats that notify of mentions only (or of nothing), the unread mentions. */
  readonly unread = $derived.by(() => {
    let n = 0;
    for (const c of this.#items.values()) {
      const notify = c.kind === 'groupchat' ? (rooms.get(c.account, c.peer)?.notify ?? 'all') : 'all';
      n += notify === 'all' ? c.unread : notify === 'mentions' ? (c.mentions ?? 0) : 0;
    }
    return n;
  });

  get size(): number {
    return this.#items.size;
  }

  byKey(key: string): ConversationView | undefined {
    return this.#items.get(key);
  }

  get(account: string, peer: string): ConversationView | undefined {
    return this.#items.get(keyOf(account, peer));
  }

  /** All of them, most recent first. */
  list(): ConversationView[] {
    return this.keys.flatMap((k) => this.#items.get(k) ?? []);
  }

  /** The list was loaded once (or could not be): until then, "no conversations" is not known. */
  loaded = $state(false);

  load(): Promise<void> {
    return this.#loader
      .load(() => api.conversations())
      .catch(() => {})
      .finally(() => (this.loaded = true));
  }

  /** Applies a batch of events. */
  events(list: readonly EngineEvent[]): void {
    for (const e of list) {
      const ev = e.event;
      if (ev.type === 'conversation_deleted') drafts.delete(keyOf(ev.account, ev.peer));
      else if (ev.type === 'account_removed') drafts.deleteAccount(ev.jid);
      if (ev.type === 'account_removed') this.#apply(ev);
      else if ((ev.type === 'conversation' || ev.type === 'conversation_deleted') && !this.#loader.hold(e)) this.#apply(ev);
    }
  }

  #apply(ev: ClientEvent): void {
    switch (ev.type) {
      case 'conversation': {
        const c = ev.conversation;
        const k = keyOf(c.account, c.peer);
        this.#items.set(k, c);
        this.#activity.set(k, c.updated_ms);
        break;
      }
      case 'conversation_deleted':
        this.#delete(keyOf(ev.account, ev.peer));
        break;
      case 'account_removed':
        for (const k of [...this.#items.keys()]) if (splitKey(k)[0] === ev.jid) this.#delete(k);
        break;
    }
  }

  #delete(k: string): void {
    this.#items.delete(k);
    this.#activity.delete(k);
  }

  /** A fresh list: entries that did not change stay as they are. */
  #replace(items: ConversationView[]): void {
    const keep = new Set<string>();
    for (const c of items) {
      const k = keyOf(c.account, c.peer);
      keep.add(k);
      this.#items.set(k, c);
      this.#activity.set(k, c.updated_ms);
    }
    for (const k of [...this.#items.keys()]) if (!keep.has(k)) this.#delete(k);
  }
}

export const conversations = new Conversations();
