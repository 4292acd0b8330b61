// Group chats: the rooms and invitations of the engine's snapshot, who is
// in the rooms the user looks at (kept current from `occupants` events), and
// the folded lines of joins and leaves (kept in memory only).
//
// Occupants are kept by nick in a reactive map, so a change to one redraws
// only what shows that one; their order (role, then nick) is a list of nicks
// changed in place by binary search, once per batch of events, and sorted
// whole only when much of it changed.

import { SvelteMap } from 'svelte/reactivity';
import { api } from '../api';
import type { EngineEvent, InvitationView, OccupantView, RoomView, Snapshot } from '../engine';
import { keyOf, splitKey } from '../lists';
import { compareOccupants, foldActivity, position, roleRank, type Activity, type Fold, type OccupantPlace } from '../rooms';

/** Occupant changes of one `occupants` event. */
export interface OccupantChange {
  reset: boolean;
  count: number;
  upserted: readonly OccupantView[];
  removed: readonly string[];
}

/** Beyond this share of the list changed at once, it is sorted whole. */
const RESORT = 1 / 8;

/** Who is in one room, by nick, and in order. */
export class OccupantList {
  #items = new SvelteMap<string, OccupantView>();
  #places = new Map<string, OccupantPlace>();
  /** Nicks by role, then nick. */
  order = $state.raw<readonly string[]>([]);
  /** How many the room has (the engine's count: may run ahead of what is loaded). */
  count = $state(0);
  loaded = $state(false);
  /** Changes that came while the list was being loaded. */
  #held: OccupantChange[] | null = null;

  get(nick: string): OccupantView | undefined {
    return this.#items.get(nick);
  }

  get size(): number {
    return this.#places.size;
  }

  /** Where a nick is in the order of roles (not reactive: `order` changes when it does). */
  rank(nick: string): number {
    return this.#places.get(nick)?.rank ?? 3;
  }

  /** Nicks, for completion (not reactive: read `order` for that). */
  nicks(): IterableIterator<string> {
    return this.#places.keys();
  }

  /** Loads the list; changes meanwhile are applied on top. */
  async load(fetch: () => Promise<OccupantView[]>): Promise<void> {
    this.#held ??= [];
    try {
      const list = await fetch();
      const held = this.#held ?? [];
      this.#held = null;
      this.apply([{ reset: true, count: Math.max(this.count, list.length), upserted: list, removed: [] }, ...held]);
      this.loaded = true;
    } catch (e) {
      const held = this.#held ?? [];
      this.#held = null;
      this.apply(held);
      throw e;
    }
  }

  /** Applies the changes of one batch of events, in order; the order list changes once. */
  apply(changes: readonly OccupantChange[]): void {
    if (this.#held) {
      this.#held.push(...changes);
      if (changes.length) this.count = changes[changes.length - 1].count;
      return;
    }
    if (changes.length === 0) return;
    // Only what follows the last reset matters.
    let first = 0;
    for (let i = changes.length - 1; i >= 0; i--)
      if (changes[i].reset) {
        first = i;
        break;
      }
    const reset = changes[first].reset;
    let moves = 0;
    for (let i = first; i < changes.length; i++) moves += changes[i].upserted.length + changes[i].removed.length;
    const whole = reset || moves > Math.max(16, this.#places.size * RESORT);
    const order = whole ? null : [...this.order];
    const place = (n: string) => this.#places.get(n)!;
    let moved = whole;
    const remove = (nick: string) => {
      const p = this.#places.get(nick);
      if (!p) return;
      moved = true;
      if (order) {
        const i = position(order, p, place);
        if (order[i] === nick) order.splice(i, 1);
      }
      this.#places.delete(nick);
    };
    if (reset) {
      this.#items.clear();
      this.#places.clear();
    }
    for (let i = first; i < changes.length; i++) {
      const c = changes[i];
      for (const nick of c.removed) {
        remove(nick);
        this.#items.delete(nick);
      }
      for (const o of c.upserted) {
        const old = this.#places.get(o.nick);
        const rank = roleRank(o.role);
        if (!old || old.rank !== rank) {
          remove(o.nick);
          const p = { nick: o.nick, rank };
          this.#places.set(o.nick, p);
          moved = true;
          if (order) order.splice(position(order, p, place), 0, o.nick);
        }
        this.#items.set(o.nick, o);
      }
    }
    this.count = changes[changes.length - 1].count;
    if (moved) this.order = order ?? [...this.#places.values()].sort(compareOccupants).map((p) => p.nick);
  }
}

/** Rooms whose occupants are kept current (the most recently looked at). */
const KEPT_LISTS = 4;
/** Folds kept per room (the newest). */
const MAX_FOLDS = 100;

class Rooms {
  /** In the engine's order. */
  list = $state.raw<RoomView[]>([]);
  /** Unanswered invitations, oldest first. */
  invitations = $state.raw<InvitationView[]>([]);
  readonly #byKey = $derived(new Map(this.list.map((r) => [keyOf(r.account, r.jid), r])));
  #occupants = new Map<string, OccupantList>();
  /** Joins and leaves per room, oldest first. */
  #activity = new SvelteMap<string, readonly Fold[]>();
  /** A message came after the room's last fold: the next activity starts a new one. */
  #sealed = new Set<string>();

  get(account: string, jid: string): RoomView | undefined {
    return this.#byKey.get(keyOf(account, jid));
  }

  setSnapshot(s: Snapshot): void {
    const list = s.rooms ?? [];
    const invitations = s.invitations ?? [];
    if (list !== this.list) {
      this.list = list;
      // Rooms that are gone take what was kept of them along.
      const keep = new Set(list.map((r) => keyOf(r.account, r.jid)));
      for (const k of [...this.#occupants.keys()]) if (!keep.has(k)) this.#occupants.delete(k);
      for (const k of [...this.#activity.keys()]) if (!keep.has(k)) this.#forgetActivity(k);
    }
    if (invitations !== this.invitations) this.invitations = invitations;
  }

  /** Who is in a room (loaded the first time it is asked for). */
  occupants(account: string, room: string): OccupantList {
    const k = keyOf(account, room);
    let o = this.#occupants.get(k);
    if (o) {
      // The most recently used last: the others go first when there are too many.
      this.#occupants.delete(k);
      this.#occupants.set(k, o);
    } else {
      for (const old of [...this.#occupants.keys()].slice(0, Math.max(0, this.#occupants.size - KEPT_LISTS + 1))) this.#occupants.delete(old);
      o = new OccupantList();
      o.count = this.get(account, room)?.occupants ?? 0;
      this.#occupants.set(k, o);
      const list = o;
      void list.load(() => api.roomOccupants(account, room)).catch(() => {});
    }
    return o;
  }

  /** Joins and leaves shown in a room's timeline, oldest first. */
  activity(account: string, room: string): readonly Fold[] {
    return this.#activity.get(keyOf(account, room)) ?? [];
  }

  events(list: readonly EngineEvent[]): void {
    /** Occupant changes by room, in order, applied once per room. */
    const changes = new Map<string, OccupantChange[]>();
    for (const { event: ev } of list) {
      switch (ev.type) {
        case 'occupants': {
          const k = keyOf(ev.account, ev.room);
          if (!this.#occupants.has(k)) break;
          const l = changes.get(k) ?? [];
          l.push(ev);
          changes.set(k, l);
          break;
        }
        case 'room_activity':
          this.#addActivity(keyOf(ev.account, ev.room), ev);
          break;
        case 'message':
          this.#sealed.add(keyOf(ev.message.account, ev.message.peer));
          break;
        case 'room_removed': {
          const k = keyOf(ev.account, ev.jid);
          changes.delete(k);
          this.#occupants.delete(k);
          this.#forgetActivity(k);
          break;
        }
        case 'account_removed':
          for (const k of [...this.#occupants.keys()]) if (splitKey(k)[0] === ev.jid) this.#occupants.delete(k);
          for (const k of [...this.#activity.keys()]) if (splitKey(k)[0] === ev.jid) this.#forgetActivity(k);
          break;
      }
    }
    for (const [k, c] of changes) this.#occupants.get(k)?.apply(c);
  }

  #addActivity(k: string, a: Activity): void {
    const list = this.#activity.get(k) ?? [];
    const last = list.at(-1);
    if (last && !this.#sealed.has(k)) this.#activity.set(k, [...list.slice(0, -1), foldActivity(last, a)]);
    else this.#activity.set(k, [...list.slice(-(MAX_FOLDS - 1)), foldActivity(null, a)]);
    this.#sealed.delete(k);
  }

  #forgetActivity(k: string): void {
    this.#activity.delete(k);
    this.#sealed.delete(k);
  }
}

export const rooms = new Rooms();
