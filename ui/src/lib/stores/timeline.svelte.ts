// A conversation's messages in display order, as Svelte state: `items` is
// replaced when messages arrive, change or are dropped, so whatever reads
// it updates, and only then. A list handed out is never changed; changes
// until the next read go to one new list (copy on write), so a batch of
// changes costs one copy however long the history is.

import type { MessageView } from '../engine';

const before = (a: MessageView, b: MessageView): boolean =>
  a.timestamp_ms < b.timestamp_ms || (a.timestamp_ms === b.timestamp_ms && a.id < b.id);
const order = (a: MessageView, b: MessageView): number => (before(a, b) ? -1 : before(b, a) ? 1 : 0);

/** Index in `items` where `m` is or would go. */
function position(items: readonly MessageView[], m: MessageView): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (before(items[mid], m)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Messages ordered by time, then id. Known messages are found by id and new
 * ones placed by binary search, so a long history stays cheap to update; a
 * batch of changes makes one new list.
 */
export class Timeline {
  #items = $state.raw<MessageView[]>([]);
  /** `#items` was made here and not handed out yet: it may still change in place. */
  #own = false;
  /** True once the start of the conversation was reached. */
  complete = $state(false);
  /** True when newer messages than the last loaded one are stored (only a window of a long history is kept loaded). */
  hasNewer = $state(false);
  #byId = new Map<number, MessageView>();
  #byUid = new Map<string, MessageView>();

  constructor(messages: MessageView[] = []) {
    this.#set([...messages].sort(order));
  }

  /** Messages, oldest first (do not change the list: it is shared). Every
   *  read that other state may depend on goes through here. */
  get items(): MessageView[] {
    this.#own = false;
    return this.#items;
  }

  /** A list that may be changed in place: the current one when not handed out yet, else a copy. */
  #writable(): MessageView[] {
    if (!this.#own) {
      this.#items = [...this.#items];
      this.#own = true;
    }
    return this.#items;
  }

  #set(items: MessageView[]): void {
    this.#items = items;
    this.#own = true;
    this.#byId = new Map(items.map((m) => [m.id, m]));
    this.#byUid = new Map(items.map((m) => [m.uid, m]));
  }

  get(id: number): MessageView | undefined {
    void this.items;
    return this.#byId.get(id);
  }

  /** Adds or replaces a message; returns false when nothing changed. */
  upsert(m: MessageView): boolean {
    return this.addAll([m]) > 0;
  }

  /** Adds or replaces messages (a page from scroll-back, or live ones); returns how many changed. */
  addAll(ms: readonly MessageView[]): number {
    let n = 0;
    for (const m of ms) {
      const old = this.#byId.get(m.id);
      if (old === m) continue;
      const items = this.#writable();
      if (old) {
        const i = position(items, old);
        if (old.timestamp_ms === m.timestamp_ms) items[i] = m;
        else {
          items.splice(i, 1);
          items.splice(position(items, m), 0, m);
        }
        if (this.#byUid.get(old.uid) === old) this.#byUid.delete(old.uid);
      } else items.splice(position(items, m), 0, m);
      this.#byId.set(m.id, m);
      this.#byUid.set(m.uid, m);
      n += 1;
    }
    return n;
  }

  /** Whether a new or changed message belongs in the loaded window: not one past its newer end while newer ones are not loaded. */
  accepts(m: MessageView): boolean {
    if (!this.hasNewer || this.#byId.has(m.id)) return true;
    const last = this.items.at(-1);
    return last !== undefined && before(m, last);
  }

  /** Keeps at most `max` messages, dropping the newest; returns how many went. */
  trimNewest(max: number): number {
    const n = this.#items.length - max;
    if (n <= 0) return 0;
    this.#set(this.#items.slice(0, max));
    this.hasNewer = true;
    return n;
  }

  /** Keeps at most `max` messages, dropping the oldest; returns how many went. */
  trimOldest(max: number): number {
    const n = this.#items.length - max;
    if (n <= 0) return 0;
    this.#set(this.#items.slice(n));
    this.complete = false;
    return n;
  }

  /** The message a reply points to: by uid, else by local id. */
  replied(ref: string): MessageView | undefined {
    void this.items;
    const byUid = this.#byUid.get(ref);
    if (byUid) return byUid;
    const id = Number(ref);
    return Number.isInteger(id) ? this.#byId.get(id) : undefined;
  }

  /** The oldest incoming message not yet read, after the newest one read
   *  (messages read on another device before it do not count). */
  firstUnread(): MessageView | undefined {
    let found: MessageView | undefined;
    const items = this.items;
    for (let i = items.length - 1; i >= 0; i--) {
      const m = items[i];
      if (m.outgoing || m.state === 'seen') break;
      if (m.state === 'received') found = m;
    }
    return found;
  }

  /** The user's newest message that can still be edited (one that was not
   *  sent is sent again instead; a file is not edited). */
  lastOwn(): MessageView | undefined {
    const items = this.items;
    for (let i = items.length - 1; i >= 0; i--) {
      const m = items[i];
      if (m.outgoing && !m.retracted && m.state !== 'failed' && !m.file) return m;
    }
    return undefined;
  }
}
