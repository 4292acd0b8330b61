// Pure rules for the lists the UI keeps from engine events: keys, the order
// of conversations and contacts, contact groups, and loading a list while
// events keep coming. The stores (stores/*.svelte.ts) hold the results.

import type { ClientEvent, ContactView, EngineEvent, Listed } from './engine';

/** Key of a conversation or contact: account and peer. */
export const keyOf = (account: string, peer: string): string => `${account}\u0000${peer}`;

/** The account and peer of a key. */
export function splitKey(key: string): [account: string, peer: string] {
  const i = key.indexOf('\u0000');
  return [key.slice(0, i), key.slice(i + 1)];
}

// `localeCompare` without arguments compares like a default collator; one
// collator made once is several times faster over thousands of names.
const collator = new Intl.Collator();
const compareText = collator.compare;

type Activity = { account: string; peer: string; updated_ms: number };

/** Most recent activity first; ties by peer, then account, so the order is stable. */
export function sortConversations<T extends Activity>(list: readonly T[]): T[] {
  return [...list].sort((a, b) => b.updated_ms - a.updated_ms || compareText(a.peer, b.peer) || compareText(a.account, b.account));
}

type Named = Pick<ContactView, 'jid' | 'name' | 'nickname'>;

/** Contacts by name (the roster name, else their nickname, else the JID), then JID. */
export function sortContacts<T extends Named>(list: readonly T[]): T[] {
  const named = list.map((c) => ({ c, name: (c.name?.trim() || c.nickname?.trim() || c.jid).toLocaleLowerCase() }));
  named.sort((a, b) => compareText(a.name, b.name) || compareText(a.c.jid, b.c.jid));
  return named.map((x) => x.c);
}

/** Contacts under their groups (a contact in two groups is in both); "" holds those without one. Groups by name, "" last. */
export function groupContacts<T extends Pick<ContactView, 'groups'>>(list: readonly T[]): [string, T[]][] {
  const groups = new Map<string, T[]>();
  for (const c of list) {
    const names = c.groups.length ? new Set(c.groups) : [''];
    for (const g of names) {
      const arr = groups.get(g) ?? [];
      arr.push(c);
      groups.set(g, arr);
    }
  }
  return [...groups.entries()].sort(([a], [b]) => (a === '' ? 1 : b === '' ? -1 : compareText(a, b)));
}

/** How long "typing…" stays without a new `composing` (XEP-0085 suggests 30 s). */
export const TYPING_TTL_MS = 30_000;

/**
 * Loads a list and keeps it current: events that arrive while the list
 * command runs are held, then those newer than the list (`seq` above the
 * answer's) are applied on top. Upserts make replaying one twice harmless.
 * A load started while another runs replaces it; when the load fails, the
 * held events are applied to what is there.
 */
export class Loader<T> {
  private pending: EngineEvent[] | null = null;
  private run = 0;

  constructor(
    /** Applies one held event to the list as it is now. */
    private readonly apply: (ev: ClientEvent) => void,
    /** Replaces the list. */
    private readonly set: (items: T[]) => void,
  ) {}

  get loading(): boolean {
    return this.pending !== null;
  }

  async load(fetch: () => Promise<Listed<T>>): Promise<void> {
    const run = ++this.run;
    this.pending ??= [];
    let answer: Listed<T> | null = null;
    try {
      answer = await fetch();
    } finally {
      if (run === this.run) {
        const held = this.pending ?? [];
        this.pending = null;
        if (answer) this.set(answer.items);
        for (const e of held) if (!answer || e.seq > answer.seq) this.apply(e.event);
      }
    }
  }

  /** Returns true when the event was held for a running load. */
  hold(e: EngineEvent): boolean {
    if (this.pending === null) return false;
    this.pending.push(e);
    return true;
  }
}
