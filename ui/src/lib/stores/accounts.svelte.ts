// The accounts as the engine reports them, with when each one's state last
// changed (for "reconnecting in N s") and how far fetching their history
// got while it runs.

import { SvelteMap } from 'svelte/reactivity';
import { api } from '../api';
import type { AccountView, EngineEvent } from '../engine';
import { isDefaultPresence, newlyConnected } from '../profile';
import { settings } from '../settings.svelte';

/** How far a history catch-up got (from `history_sync` events). */
export interface HistoryProgress {
  /** Messages fetched so far in this run. */
  fetched: number;
  /** Time of the oldest message reached so far, ms. */
  oldest_ms: number | null;
}

class Accounts {
  /** In the engine's order. */
  list = $state.raw<AccountView[]>([]);
  /** Enabled accounts' JIDs. */
  readonly enabled = $derived(this.list.filter((a) => a.enabled).map((a) => a.jid));
  /** Accounts whose connection failed and that need the user. */
  readonly failed = $derived(this.list.filter((a) => a.state.state === 'failed').length);
  /** History catch-up progress per account while it runs (in the engine's order of accounts: see `loading`). */
  readonly syncing = new SvelteMap<string, HistoryProgress>();
  /** Accounts whose history is still coming in, in the order of the list, with their progress. */
  readonly loading = $derived(this.list.flatMap((a) => {
    const p = this.syncing.get(a.jid);
    return p ? [{ account: a.jid, ...p }] : [];
  }));
  /** Ticks every second while an account waits to reconnect. */
  now = $state(Date.now());

  #byJid = $derived(new Map(this.list.map((a) => [a.jid, a])));
  /** When each account's state last changed (ms since epoch). */
  #changedAt = new SvelteMap<string, number>();
  #timer: ReturnType<typeof setInterval> | null = null;

  get(jid: string): AccountView | undefined {
    return this.#byJid.get(jid);
  }

  /** Milliseconds since this account's state last changed. */
  elapsed(jid: string): number {
    return Math.max(0, this.now - (this.#changedAt.get(jid) ?? this.now));
  }

  /** The engine's list changed. */
  set(list: AccountView[]): void {
    if (list === this.list) return;
    const before = this.#byJid;
    const t = Date.now();
    for (const a of list) if (before.get(a.jid)?.state !== a.state) this.#changedAt.set(a.jid, t);
    const connected = newlyConnected(this.list, list);
    this.now = t;
    this.list = list;
    this.#tick();
    this.#restorePresence(connected);
  }

  /** Catch-up progress from `history_sync` events; true when an account finished. */
  events(list: readonly EngineEvent[]): boolean {
    let done = false;
    for (const { event: ev } of list) {
      if (ev.type === 'history_sync') {
        if (ev.done) {
          this.syncing.delete(ev.account);
          done = true;
        } else this.syncing.set(ev.account, { fetched: ev.fetched, oldest_ms: ev.oldest_ms ?? null });
      } else if (ev.type === 'account_removed') {
        this.syncing.delete(ev.jid);
        this.#changedAt.delete(ev.jid);
      }
    }
    return done;
  }

  /** Shows the presence the user chose on accounts that just connected. */
  #restorePresence(accounts: string[]): void {
    const p = settings.presence;
    if (isDefaultPresence(p)) return;
    for (const a of accounts) void api.setPresence(a, p.show, p.status || null).catch(() => {});
  }

  #tick(): void {
    const waiting = this.list.some((a) => a.state.state === 'reconnecting');
    if (waiting && !this.#timer) {
      this.#timer = setInterval(() => {
        this.now = Date.now();
        this.#tick();
      }, 1000);
    } else if (!waiting && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }
}

export const accounts = new Accounts();
